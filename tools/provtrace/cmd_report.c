/* cmd_report.c - `provtrace report`: one self-contained HTML page of one or more runs (pt_report_html). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace report [RUN ...] -o FILE.html [--x step|time] [--log] [--metric N ...]\n"
	"                        [--no-verify] [--width PX] [--title TEXT]\n"
	"\n"
	"Write one HTML file that shows the runs: a chart per metric (one line per\n"
	"stream and per run; the abandoned attempt of a resumed stream faded),\n"
	"decisions as markers (change, reason and actor on hover) and in a timeline,\n"
	"checkpoints as ticks, resumes at their fork step, the params (differences\n"
	"across runs highlighted), code provenance, datasets and artifacts, the run\n"
	"status and the verification result with each stream's chain head.  The file\n"
	"loads nothing from anywhere: it opens offline and can be attached to an audit.\n"
	"\n"
	"  RUN              the runs to show (up to 16; default: the store's only run)\n"
	"  -o, --output F   the file to write (\"-\": standard output)\n"
	"  --x step|time    the x axis: the training step (default) or wall time\n"
	"  --log            log scale on the y axis\n"
	"  --metric N       only this metric (repeatable; default: all)\n"
	"  --no-verify      do not verify the runs (faster on large runs)\n"
	"  --width PX       plot width in pixel columns (default 960)\n"
	"  --title TEXT     the page title\n"
	"  --store DIR      the store\n";

/* Write all of `data` to `path` through a temporary file renamed into place. */
static int write_file(const char *path, const char *data, size_t len)
{
	if (!strcmp(path, "-")) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout)) {
			cli_msg("cannot write the report to standard output: %s", strerror(errno));
			return CLI_ERROR;
		}
		return CLI_OK;
	}
	/* something that is not a regular file (/dev/stdout, a FIFO, a device): written in place, never
	 * replaced by a rename */
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		if (S_ISDIR(sb.st_mode)) {
			cli_msg("cannot write %s: it is a directory", path);
			return CLI_ERROR;
		}
		FILE *f = fopen(path, "w");
		if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
			cli_msg("cannot write %s: %s", path, strerror(errno));
			return CLI_ERROR;
		}
		return CLI_OK;
	}
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp) {
		cli_msg("out of memory");
		return CLI_ERROR;
	}
	snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		cli_msg("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return CLI_ERROR;
	}
	size_t off = 0;
	int err = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = errno ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!err && fchmod(fd, 0644))
		err = errno;
	if (close(fd) && !err)
		err = errno;
	if (!err && rename(tmp, path))
		err = errno;
	if (err) {
		unlink(tmp);
		cli_msg("cannot write %s: %s", path, strerror(err));
		free(tmp);
		return CLI_ERROR;
	}
	free(tmp);
	return CLI_OK;
}

int cmd_report(cli_ctx *ctx, int argc, char **argv)
{
	const char *output = NULL, *title = NULL;
	int xaxis = 0;
	bool log_scale = false, no_verify = false;
	uint64_t width = 960;
	cli_list metrics = {0};
	const cli_opt opts[] = {{"output", 'o', CLI_STR, &output},
				{"x", 0, CLI_CHOICE, &xaxis, "step|time"},
				{"log", 0, CLI_FLAG, &log_scale},
				{"metric", 0, CLI_LIST, &metrics},
				{"no-verify", 0, CLI_FLAG, &no_verify},
				{"width", 0, CLI_U64, &width, "a width in pixels (100 to 4000)", 100, 4000},
				{"title", 0, CLI_STR, &title},
				{0}};
	const cli_spec spec = {"report", help, opts, 0, PT_REPORT_MAX_RUNS};
	char **args = NULL;
	int nargs = 0;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (!output)
		return cli_usage("report", "say where to write the page: -o FILE.html (\"-o -\": standard output)");
	cli_target t;
	int rc = cli_open(ctx, "report", nargs ? args[0] : NULL, NULL, CLI_ONE_RUN, &t);
	if (rc)
		return rc;
	const char *one[1] = {t.run};
	const char *const *runs = nargs ? (const char *const *)args : one;
	size_t nruns = nargs ? (size_t)nargs : 1;
	pt_report_options o = PT_REPORT_OPTIONS_INIT;
	o.x_time = xaxis == 1;
	o.log_scale = log_scale;
	o.verify = !no_verify;
	o.width = (unsigned)width;
	o.metrics = metrics.v;
	o.nmetrics = metrics.n;
	o.title = title;
	char *html = NULL;
	size_t len = 0;
	if (pt_report_html(t.st, runs, nruns, &o, &html, &len))
		rc = cli_lib_error();
	else
		rc = write_file(output, html, len);
	if (rc == CLI_OK && strcmp(output, "-"))
		cli_msg("wrote %s (%zu bytes, %zu run%s)", output, len, nruns, nruns == 1 ? "" : "s");
	pt_free(html);
	cli_close(&t);
	return rc;
}
