/* cmd_diff.c - `provtrace diff`: what changed between two points of a run. */
#include "cli.h"
#include "cli_runs.h"
#include "cli_state.h"

#include <stdlib.h>

static const char help[] =
	"usage: provtrace diff [--run RUN] [--stream S] --from POINT --to POINT [--lineage L] [--json]\n"
	"\n"
	"What changed between two points of a run: params (old -> new, and the\n"
	"decision that set them), the decisions taken in between, metric values and\n"
	"their deltas, and the checkpoint (which tensors differ).  A run with several\n"
	"streams is diffed stream by stream unless --stream names one.\n"
	"\n"
	"  --from POINT, --to POINT   latest | seq=N | step=N | time=ISO-8601\n"
	"  --lineage L   follow lineage L for step points (default: the live one)\n"
	"  --json        one JSON object\n"
	"  --store DIR   the store\n";

int cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL, *stream_opt = NULL, *from_opt = NULL, *to_opt = NULL;
	int64_t lineage = PT_LINEAGE_LIVE;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"from", 0, CLI_STR, &from_opt},
				{"to", 0, CLI_STR, &to_opt},
				{"lineage", 0, CLI_I64, &lineage, "a lineage number (0, 1, ...)", 0, INT64_MAX},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"diff", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (!from_opt || !to_opt)
		return cli_usage("diff", "--from and --to are required");
	pt_point a, b;
	if (pt_point_parse(&a, from_opt))
		return cli_usage("diff", "--from: %s", pt_error_last());
	if (pt_point_parse(&b, to_opt))
		return cli_usage("diff", "--to: %s", pt_error_last());
	cli_target t;
	int rc = cli_open(ctx, "diff", run_opt, stream_opt, CLI_ALL_STREAMS, &t);
	if (rc)
		return rc;
	if (!t.stream) {
		/* a run with several streams: every stream's diff (pt_run_diff_json) */
		char **names = NULL;
		size_t n = 0;
		if (pt_store_streams(t.st, t.run, &names, &n)) {
			rc = cli_lib_error();
			cli_close(&t);
			return rc;
		}
		pt_strv_free(names, n);
		if (n > 1) {
			char *d = NULL;
			pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
			o.lineage = lineage;
			if (pt_run_diff_json(t.st, t.run, &a, &b, &o, &d))
				rc = pt_error_last_code() == PT_EINVAL ? cli_usage("diff", "%s", pt_error_last()) : cli_lib_error();
			else if (json)
				printf("%s\n", d);
			else
				rc = cli_print_run_diff(stdout, d) ? CLI_ERROR : CLI_OK;
			pt_free(d);
			cli_close(&t);
			return rc;
		}
		if ((rc = cli_pick_one_stream(&t, "diff"))) {
			cli_close(&t);
			return rc;
		}
	}
	pt_store *st = t.st;
	const char *run = t.run, *stream = t.stream;
	char *d = NULL;
	pt_replay *ra = NULL, *rb = NULL;
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.stream = stream;
	o.lineage = lineage;
	if (pt_replay_open(&ra, st, run, &a, &o) || pt_replay_open(&rb, st, run, &b, &o) || pt_replay_diff_json(ra, rb, &d)) {
		rc = cli_lib_error();
		goto done;
	}
	if (json)
		printf("%s\n", d);
	else
		rc = cli_print_diff(stdout, d) ? CLI_ERROR : CLI_OK;
done:
	pt_free(d);
	pt_replay_free(ra);
	pt_replay_free(rb);
	cli_close(&t);
	return rc;
}
