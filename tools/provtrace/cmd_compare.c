/* cmd_compare.c - `provtrace compare RUN RUN...`: runs side by side (pt_runs_compare_json). */
#include "cli.h"
#include "cli_runs.h"

#include <string.h>

static const char help[] =
	"usage: provtrace compare RUN RUN... [--json]\n"
	"\n"
	"Compare two or more runs of the store (up to 256): status, duration, code\n"
	"commit and dirty flag, the params that differ (and how many are the same),\n"
	"each metric's last / min / max on the live path, and the decisions taken.\n"
	"\n"
	"  --json        {\"runs\", \"params_differ\": {P: {RUN: value}}, \"params_same\",\n"
	"                \"metrics\": {M: {RUN: {\"last\", \"min\", \"max\"} | null}},\n"
	"                \"summaries\": [one run summary each, with \"decisions_taken\"]}\n"
	"  --store DIR   the store (every run is one of its runs)\n";

int cmd_compare(cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"compare", help, opts, 2, 256, "two RUNs"};
	char **args = NULL;
	int nargs = 0;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	for (int i = 0; i < nargs; i++) {
		if (strchr(args[i], '/') || strchr(args[i], ':'))
			return cli_usage("compare",
					 "'%s' is not a run name: compare takes runs of one store (--store); "
					 "runs of different stores cannot be compared",
					 args[i]);
		if (pt_name_check("run", args[i]))
			return cli_usage("compare", "%s", pt_error_last());
	}
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	char *out = NULL;
	if (pt_runs_compare_json(st, (const char *const *)args, (size_t)nargs, &out))
		rc = cli_lib_error();
	else if (json)
		puts(out);
	else
		rc = cli_print_compare(stdout, out) ? CLI_ERROR : CLI_OK;
	pt_free(out);
	pt_store_free(st);
	return rc;
}
