/* cmd_init.c - `provtrace init [DIR]`: create a store. */
#include "cli.h"

#include <string.h>

static const char help[] =
	"usage: provtrace init [DIR] [--json]\n"
	"\n"
	"Create a store.  DIR is the store directory itself (created with its\n"
	"parents); without DIR, --store DIR, else ./" PT_STORE_DIRNAME " (found later from\n"
	"this directory and its subdirectories).  An existing store is left as it\n"
	"is (exit 0).\n"
	"\n"
	"  --json        print {\"path\": ..., \"created\": true|false}\n"
	"  --store DIR   the store to create (same as DIR)\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"init", help, opts, 0, 1};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	const char *dir = nargs ? args[0] : NULL;
	if (dir && ctx->store && strcmp(dir, ctx->store))
		return cli_usage("init", "both DIR (%s) and --store (%s) given", dir, ctx->store);
	const char *path = dir ? dir : ctx->store ? ctx->store : PT_STORE_DIRNAME;
	if (!*path)
		return cli_usage("init", "empty store path");

	pt_store *st = NULL;
	int rc = pt_store_init(&st, path);
	bool created = rc == 0;
	if (rc && !(rc == PT_EEXISTS && st)) {
		pt_store_free(st);
		return cli_lib_error();
	}
	if (json) {
		fputs("{\"path\":", stdout);
		cli_json_str(stdout, pt_store_path(st));
		printf(",\"created\":%s}\n", created ? "true" : "false");
	} else if (created) {
		printf("Initialized empty provtrace store in %s\n", pt_store_path(st));
	} else {
		printf("provtrace store already exists in %s\n", pt_store_path(st));
	}
	pt_store_free(st);
	return CLI_OK;
}
