/* cmd_restore.c - `provtrace restore ARCHIVE [--store DIR]`: an archive back into a store. */
#include "cli.h"

#include <provtrace/archive.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace restore ARCHIVE [--store DIR]\n"
	"\n"
	"Extract an archive (a .tar path, or an archive id of the store's catalog)\n"
	"into the store DIR (created if it is not a store yet; default: the usual\n"
	"store discovery).  Every member is checked against the manifest (type,\n"
	"name, size, SHA-256) before anything is moved into place; a hostile or\n"
	"damaged archive is rejected as a whole and nothing is written outside the\n"
	"store.  Members already present are skipped, so restoring twice is harmless.\n"
	"Streams whose chain lacks the restored segments get it rebuilt when the\n"
	"segments link up from the first one.\n";

static void report_line(const char *line, void *payload)
{
	(void)payload;
	printf("%s\n", line);
}

static void progress_bar(const char *what, uint64_t done, uint64_t total, void *payload)
{
	(void)payload;
	char a[32], b[32];
	int pct = total ? (int)(done * 100 / total) : 100;
	fprintf(stderr, "\r%-8s %3d%% %s / %s", what, pct, cli_size(done, a, sizeof a), cli_size(total, b, sizeof b));
	if (done >= total)
		fputs("\n", stderr);
	fflush(stderr);
}

int cmd_restore(cli_ctx *ctx, int argc, char **argv)
{
	const cli_spec spec = {"restore", help, NULL, 1, 1, "an ARCHIVE"};
	char **args;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, NULL);
	if (prc >= 0)
		return prc;
	const char *archive = args[0];
	char *store_path = NULL;
	if (ctx->store) {
		store_path = strdup(ctx->store);
	} else if (pt_store_discover(&store_path, NULL, NULL)) {
		cli_msg("no store to restore into: give --store DIR (%s)", pt_error_last());
		return CLI_ERROR;
	}
	if (!store_path)
		return CLI_ERROR;
	/* an archive id is looked up in the target store's catalog */
	pt_store *st = NULL;
	pt_store_open(&st, store_path);
	char *tar = NULL;
	int rc = CLI_OK;
	if (pt_archive_resolve(&tar, st, archive)) {
		rc = cli_lib_error();
		goto done;
	}
	pt_restore_options o = PT_RESTORE_OPTIONS_INIT;
	o.report = report_line;
	o.progress = isatty(2) ? progress_bar : NULL;
	pt_restore_stats s;
	if (pt_archive_restore(tar, store_path, &o, &s)) {
		rc = cli_lib_error();
		goto done;
	}
	char sz[32];
	printf("restored %s into %s: %" PRIu64 " members, %" PRIu64 " written (%s), %" PRIu64
	       " already present\n",
	       tar, store_path, s.members, s.written, cli_size(s.bytes, sz, sizeof sz), s.already_present);
done:
	pt_free(tar);
	pt_store_free(st);
	free(store_path);
	return rc;
}
