/* cmd_verify.c - `provtrace verify`: check every checksum, hash and chain of the store. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace verify [--run RUN] [--stream STREAM] [--json]\n"
	"\n"
	"Re-read the store (or one run, or one stream) and check every batch\n"
	"checksum, every zstd frame, the dense sequence numbers, every sealed\n"
	"segment's SHA-256 against its name, the hash chain and the files the chain\n"
	"does not account for.  Each problem is printed as\n"
	"  ERROR <object> @<offset>: <message>      (WARNING for e.g. a torn tail)\n"
	"with <object> a path relative to the store, then a summary line.\n"
	"Exit 1 if any error was found.\n"
	"\n"
	"  --run RUN        only this run\n"
	"  --stream STREAM  only this stream of the run (needs --run)\n"
	"  --json           one JSON object: {\"ok\", \"errors\", \"warnings\", \"problems\":\n"
	"                   [{\"severity\", \"code\", \"rc\", \"object\", \"offset\",\n"
	"                   \"message\"}],\n"
	"                   \"stats\": {\"runs\", \"streams\", \"segments\", \"batches\",\n"
	"                   \"events\", \"bytes\"}}\n"
	"  --store DIR      the store\n";

static int on_problem(const pt_problem *p, void *payload)
{
	(void)payload;
	printf("%s %s @%" PRIu64 ": %s\n", p->severity == PT_SEVERITY_WARNING ? "WARNING" : "ERROR",
	       p->object ? p->object : "-", p->offset, p->message ? p->message : "");
	fflush(stdout);
	return 0;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"verify", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (stream && !run)
		return cli_usage("verify", "--stream needs --run");
	if ((run && pt_name_check("run", run)) || (stream && pt_name_check("stream", stream)))
		return cli_usage("verify", "%s", pt_error_last());

	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	/* The library renders the result (and turns an unlisted failure into a problem). */
	pt_verify_stats vs;
	char *out = NULL;
	if (pt_verify_report(st, run, stream, json ? NULL : on_problem, NULL, &vs, json ? &out : NULL,
			     NULL)) {
		rc = cli_lib_error();
		goto done;
	}
	uint64_t errors = vs.errors;
	if (json) {
		puts(out);
	} else {
		char sz[32];
		printf("verified %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64
		       " %s (%s): ",
		       vs.runs, plural(vs.runs, "run", "runs"), vs.streams,
		       plural(vs.streams, "stream", "streams"), vs.segments,
		       plural(vs.segments, "segment", "segments"), vs.batches,
		       plural(vs.batches, "batch", "batches"), vs.events,
		       plural(vs.events, "event", "events"), cli_size(vs.bytes, sz, sizeof sz));
		if (!errors && !vs.warnings)
			printf("OK\n");
		else
			printf("%" PRIu64 " %s, %" PRIu64 " %s\n", errors, plural(errors, "error", "errors"),
			       vs.warnings, plural(vs.warnings, "warning", "warnings"));
	}
	rc = errors ? CLI_ERROR : CLI_OK;
done:
	pt_free(out);
	pt_store_free(st);
	return rc;
}
