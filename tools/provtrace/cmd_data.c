/* cmd_data.c - `provtrace data`: the artifacts a run stored beside its checkpoints. */
#include "cli.h"

#include <provtrace/artifact.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace data [--run RUN] [--stream S] [--json]\n"
	"\n"
	"The artifacts of a stream (Python: Recorder.artifact; C: pt_artifact_file),\n"
	"oldest first: seq, step, name, size and SHA-256 of the content.  Their\n"
	"stored parts are kept by gc and re-hashed by verify.\n"
	"\n"
	"  --run RUN     the run (default: the store's only run)\n"
	"  --stream S    the stream (default: main, or the run's only stream)\n"
	"  --json        one JSON event per line, as `provtrace log --json` prints it\n"
	"  --store DIR   the store\n";

/* The value of a top-level key our own writer put in the event JSON (a hex string or an integer). */
static void field(const char *json, size_t len, const char *key, char *out, size_t cap)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	out[0] = 0;
	const char *p = memmem(json, len, pat, strlen(pat));
	if (!p)
		return;
	p += strlen(pat);
	if (*p == '"')
		p++;
	size_t n = 0;
	while (p + n < json + len && p[n] != '"' && p[n] != ',' && p[n] != '}' && n + 1 < cap)
		n++;
	memcpy(out, p, n);
	out[n] = 0;
}

int cmd_data(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS,
					     {"run", required_argument, NULL, 'r'},
					     {"stream", required_argument, NULL, 's'},
					     {"json", no_argument, NULL, 'j'},
					     {0}};
	const char *run_opt = NULL, *stream_opt = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(help, stdout); return CLI_OK;
		case 'r': run_opt = optarg; break;
		case 's': stream_opt = optarg; break;
		case 'j': json = true; break;
		default: {
			int rc = cli_common_option(ctx, "data", c, argv);
			if (rc >= 0)
				return rc;
		}
		}
	}
	if (optind < argc)
		return cli_usage("data", "unexpected argument '%s'", argv[optind]);
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	const char *run = NULL, *stream = NULL;
	char *run_owned = NULL, *stream_owned = NULL;
	pt_iter *it = NULL;
	rc = cli_pick_run(st, "data", run_opt, &run, &run_owned);
	if (!rc)
		rc = cli_pick_stream(st, "data", run, stream_opt, &stream, &stream_owned);
	if (!rc) {
		pt_iter_options io = PT_ITER_OPTIONS_INIT;
		io.kind = PT_KIND_ARTIFACT;
		if (pt_iter_open(&it, st, run, stream, &io))
			rc = cli_lib_error();
	}
	if (!rc && !json)
		printf("%-8s  %-8s  %-24s  %12s  %s\n", "seq", "step", "artifact", "size", "sha256");
	while (!rc) {
		const pt_event_view *ev = NULL;
		int r = pt_iter_next(it, &ev);
		if (r == PT_ITEROVER)
			break;
		const char *j = NULL;
		size_t jl = 0;
		if (r || pt_ev_json(ev, &j, &jl)) {
			rc = cli_lib_error();
			break;
		}
		if (json) {
			fwrite(j, 1, jl, stdout);
			putchar('\n');
			continue;
		}
		char sha[80], size[32], step[32];
		field(j, jl, "sha256", sha, sizeof sha);
		field(j, jl, "size", size, sizeof size);
		if (pt_ev_step(ev) == PT_NO_STEP)
			snprintf(step, sizeof step, "-");
		else
			snprintf(step, sizeof step, "%" PRId64, pt_ev_step(ev));
		const char *name = pt_ev_name(ev);
		printf("%-8" PRIu64 "  %-8s  %-24s  %12s  %s\n", pt_ev_seq(ev), step, name ? name : "-", size, sha);
	}
	pt_iter_free(it);
	free(run_owned);
	free(stream_owned);
	pt_store_free(st);
	return rc;
}
