/* cmd_verify.c - `provtrace verify`: check every checksum, hash and chain of the store. */
#include "cli.h"

#include <provtrace/remote.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace verify [--run RUN] [--stream STREAM] [--json] [--anchors GIT_URL [--anchor-branch B]]\n"
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
	"  --anchors GIT_URL  also check that the store extends every signed checkpoint\n"
	"                   anchored there (`provtrace anchor push`): names each stream\n"
	"                   rolled back, truncated, replaced, deleted or renamed\n"
	"                   (with --json: a second line {\"anchors\": {...}})\n"
	"  --anchor-branch B  the anchor branch (default: provtrace/<store id>)\n"
	"  --store DIR      the store\n";

typedef struct {
	bool json;
	int n;
} anchor_out;

static int on_anchor_problem(const pt_problem *p, void *payload)
{
	anchor_out *o = payload;
	if (!o->json) {
		printf("%s %s: %s\n", p->severity == PT_SEVERITY_WARNING ? "WARNING" : "ERROR", p->object, p->message);
	} else {
		printf("%s{\"severity\":\"%s\",\"object\":", o->n ? "," : "",
		       p->severity == PT_SEVERITY_WARNING ? "warning" : "error");
		cli_json_str(stdout, p->object);
		printf(",\"message\":");
		cli_json_str(stdout, p->message);
		printf("}");
	}
	o->n++;
	return 0;
}

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
	const char *run = NULL, *stream = NULL, *anchors = NULL, *anchor_branch = NULL;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"anchors", 0, CLI_STR, &anchors},
				{"anchor-branch", 0, CLI_STR, &anchor_branch},
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
	/* a store read from a bucket: how much verify read from it (on stderr with --json) */
	pt_push_stats rs;
	if (pt_store_remote_stats(st, &rs) == 0) {
		char sz[32];
		fprintf(json ? stderr : stdout, "read %s from the bucket in %" PRIu64 " request%s\n",
			cli_size(rs.bytes, sz, sizeof sz), rs.requests, rs.requests == 1 ? "" : "s");
	}
	rc = errors ? CLI_ERROR : CLI_OK;
	if (anchors) {
		anchor_out ao = {json, 0};
		uint64_t checked = 0;
		if (json)
			printf("{\"anchors\":{\"url\":");
		if (json) {
			cli_json_str(stdout, anchors);
			printf(",\"problems\":[");
		}
		int ar = pt_anchor_verify(st, anchors, anchor_branch, on_anchor_problem, &ao, &checked);
		if (ar && ar != PT_ECORRUPT) {
			if (json)
				printf("]}}\n");
			rc = cli_lib_error();
			goto done;
		}
		if (json)
			printf("],\"checked\":%" PRIu64 ",\"ok\":%s}}\n", checked, ar ? "false" : "true");
		else
			printf("anchors: %" PRIu64 " anchored %s checked against %s: %s\n", checked,
			       plural(checked, "checkpoint", "checkpoints"), anchors, ar ? "the store does NOT extend them" : "OK");
		if (ar)
			rc = CLI_ERROR;
	}
done:
	pt_free(out);
	pt_store_free(st);
	return rc;
}
