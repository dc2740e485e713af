/* cmd_diff.c - `provtrace diff`: what changed between two points of a run. */
#include "cli.h"
#include "cli_state.h"

#include <stdlib.h>

static const char help[] =
	"usage: provtrace diff [--run RUN] [--stream S] --from POINT --to POINT [--lineage L] [--json]\n"
	"\n"
	"What changed between two points of a run: params (old -> new, and the\n"
	"decision that set them), the decisions taken in between, metric values and\n"
	"their deltas, and the checkpoint (which tensors differ).\n"
	"\n"
	"  --from POINT, --to POINT   latest | seq=N | step=N | time=ISO-8601\n"
	"  --lineage L   follow lineage L for step points (default: the live one)\n"
	"  --json        one JSON object\n"
	"  --store DIR   the store\n";

int cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS,
					     {"run", required_argument, NULL, 'r'},
					     {"stream", required_argument, NULL, 's'},
					     {"from", required_argument, NULL, 'f'},
					     {"to", required_argument, NULL, 't'},
					     {"lineage", required_argument, NULL, 'L'},
					     {"json", no_argument, NULL, 'j'},
					     {0}};
	const char *run_opt = NULL, *stream_opt = NULL, *from_opt = NULL, *to_opt = NULL;
	int64_t lineage = PT_LINEAGE_LIVE;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(help, stdout); return CLI_OK;
		case 'r': run_opt = optarg; break;
		case 's': stream_opt = optarg; break;
		case 'f': from_opt = optarg; break;
		case 't': to_opt = optarg; break;
		case 'L':
			if (!cli_parse_i64(optarg, &lineage) || lineage < 0)
				return cli_usage("diff", "--lineage takes a lineage number (0, 1, ...), not '%s'", optarg);
			break;
		case 'j': json = true; break;
		default: {
			int rc = cli_common_option(ctx, "diff", c, argv);
			if (rc >= 0)
				return rc;
		}
		}
	}
	if (optind < argc)
		return cli_usage("diff", "unexpected argument '%s'", argv[optind]);
	if (!from_opt || !to_opt)
		return cli_usage("diff", "--from and --to are required");
	pt_point a, b;
	if (pt_point_parse(&a, from_opt))
		return cli_usage("diff", "--from: %s", pt_error_last());
	if (pt_point_parse(&b, to_opt))
		return cli_usage("diff", "--to: %s", pt_error_last());
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	const char *run, *stream;
	char *run_owned = NULL, *stream_owned = NULL, *d = NULL;
	pt_replay *ra = NULL, *rb = NULL;
	if ((rc = cli_pick_run(st, "diff", run_opt, &run, &run_owned)) ||
	    (rc = cli_pick_stream(st, "diff", run, stream_opt, &stream, &stream_owned)))
		goto done;
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
	free(run_owned);
	free(stream_owned);
	pt_store_free(st);
	return rc;
}
