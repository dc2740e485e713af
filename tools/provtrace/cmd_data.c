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
	const char *run_opt = NULL, *stream_opt = NULL;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"data", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	cli_target t;
	int rc = cli_open(ctx, "data", run_opt, stream_opt, CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.kind = PT_KIND_ARTIFACT;
	if (pt_iter_open(&it, t.st, t.run, t.stream, &io))
		rc = cli_lib_error();
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
	cli_close(&t);
	return rc;
}
