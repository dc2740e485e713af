/* cmd_seal.c - `provtrace seal`: recover and seal streams whose writer is gone. */
#include "cli.h"

#include <provtrace/store.h>

#include <inttypes.h>
#include <string.h>

static const char help[] =
	"usage: provtrace seal [--run RUN [--stream STREAM]] [--json]\n"
	"\n"
	"Seal the open segment of every stream whose writer is gone (a training\n"
	"script that crashed and was never restarted): the stream is reopened as its\n"
	"writer would reopen it - a torn tail is cut, kept in the stream's cut/ and\n"
	"recorded as a `recovery` event - and closed, which seals the segment so the\n"
	"archive job can take it. A stream whose writer is alive (its lock is held)\n"
	"is skipped and reported; that is not an error. `archive run` does the same\n"
	"before it selects segments.\n"
	"\n"
	"  --run RUN        only this run\n"
	"  --stream STREAM  only this stream of RUN\n"
	"  --json           one JSON object per stream: {\"run\", \"stream\", \"result\"\n"
	"                   (sealed|nothing|locked|failed), \"events\", \"torn_bytes\",\n"
	"                   \"message\"}\n"
	"  --store DIR      the store\n"
	"\n"
	"Exit status: 0 if every stream was sealed, had nothing to seal or was\n"
	"locked; 1 if any failed (the others are still sealed).\n";

static const char *result_name(pt_seal_result r)
{
	switch (r) {
	case PT_SEAL_SEALED: return "sealed";
	case PT_SEAL_NOTHING: return "nothing";
	case PT_SEAL_LOCKED: return "locked";
	default: return "failed";
	}
}

int cmd_seal(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"seal", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (stream && !run)
		return cli_usage("seal", "--stream needs --run");
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_seal_report *rep = NULL;
	int r = pt_store_seal(st, run, stream, &rep);
	if (!rep) {
		rc = cli_lib_error();
		pt_store_free(st);
		return rc;
	}
	size_t sealed = 0, locked = 0, failed = 0;
	for (size_t i = 0; i < rep->n; i++) {
		const pt_seal_entry *e = &rep->v[i];
		sealed += e->result == PT_SEAL_SEALED;
		locked += e->result == PT_SEAL_LOCKED;
		failed += e->result == PT_SEAL_FAILED;
		if (json) {
			printf("{\"run\":");
			cli_json_str(stdout, e->run);
			printf(",\"stream\":");
			cli_json_str(stdout, e->stream);
			printf(",\"result\":\"%s\",\"events\":%" PRIu64 ",\"torn_bytes\":%" PRIu64 ",\"message\":",
			       result_name(e->result), e->events, e->torn_bytes);
			cli_json_str(stdout, e->message);
			printf("}\n");
		} else if (e->result != PT_SEAL_NOTHING) {
			printf("%s/%s: %s\n", e->run, e->stream, e->message);
		}
	}
	if (!json)
		printf("%zu stream%s sealed, %zu skipped (a writer holds the lock), %zu failed\n", sealed,
		       sealed == 1 ? "" : "s", locked, failed);
	if (r)
		rc = cli_lib_error();
	pt_seal_report_free(rep);
	pt_store_free(st);
	return rc;
}
