/*
 * cmd_checkpoint.c - `provtrace checkpoint ls` and `provtrace checkpoint export`.
 */
#include "cli.h"

#include <provtrace/checkpoint.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace checkpoint ls [--run RUN] [--json]\n"
	"       provtrace checkpoint export --run RUN --step N [--stream STREAM] DIR\n"
	"\n"
	"ls      list the checkpoints of every run (or of RUN): step, tensors and\n"
	"        blobs, logical size, bytes the checkpoint added to the store, and the\n"
	"        dedup ratio (logical / added); then the totals, logical vs stored\n"
	"        (distinct bytes on disk of the objects they reference, each once).\n"
	"        --json: one JSON array of {\"run\", \"stream\", \"seq\", \"step\", \"time\",\n"
	"        \"time_ns\", \"manifest\", \"tensors\", \"blobs\", \"chunks\", \"new_chunks\",\n"
	"        \"logical_bytes\", \"stored_bytes\", \"new_bytes\", \"dedup_ratio\"}.\n"
	"export  write the checkpoint in effect at step N (the latest at or before N)\n"
	"        into DIR (created if needed): each tensor as <name>.npy (NPY 1.0,\n"
	"        numpy.load reads it; bf16 is widened to float32, exactly), each blob\n"
	"        as its original bytes, and index.json mapping entry names to files.\n"
	"        Every chunk is checked against its hash while reading.\n"
	"\n"
	"  --run RUN        the run (export: required unless the store has one run)\n"
	"  --stream STREAM  the stream (default: main)\n"
	"  --step N         export: the step\n"
	"  --json           ls: JSON output\n"
	"  --store DIR      the store\n";

static double ratio(uint64_t logical, uint64_t added)
{
	return added ? (double)logical / (double)added : 0.0;
}

static int do_ls(cli_ctx *ctx, const char *run, bool json)
{
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_checkpoint_info *v = NULL;
	size_t n = 0;
	if (pt_checkpoint_list(&v, &n, st, run)) {
		rc = cli_lib_error();
		goto done;
	}
	if (json) {
		/* the library's rendering, shared with Python */
		char *out = NULL;
		if (pt_checkpoint_list_json(st, run, &out, NULL)) {
			rc = cli_lib_error();
			goto done;
		}
		puts(out);
		pt_free(out);
		goto done;
	}
	if (!n) {
		printf("no checkpoints%s%s\n", run ? " in run " : "", run ? run : "");
		goto done;
	}
	int wr = 3, ws = 6;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(v[i].run);
		wr = l > wr ? l : wr;
		l = (int)strlen(v[i].stream);
		ws = l > ws ? l : ws;
	}
	printf("%-*s  %-*s  %12s  %8s  %6s  %10s  %10s  %8s  %s\n", wr, "RUN", ws, "STREAM", "STEP",
	       "TENSORS", "BLOBS", "LOGICAL", "ADDED", "DEDUP", "MANIFEST");
	for (size_t i = 0; i < n; i++) {
		const pt_checkpoint_info *c = &v[i];
		char step[32], a[32], b[32];
		if (c->step == PT_NO_STEP)
			snprintf(step, sizeof step, "-");
		else
			snprintf(step, sizeof step, "%" PRId64, c->step);
		printf("%-*s  %-*s  %12s  %8" PRIu64 "  %6" PRIu64 "  %10s  %10s  %7.1fx  %.12s\n", wr, c->run,
		       ws, c->stream, step, c->tensors, c->blobs, cli_size(c->logical_bytes, a, sizeof a),
		       cli_size(c->new_bytes, b, sizeof b), ratio(c->logical_bytes, c->new_bytes),
		       c->manifest);
	}
	/* stored: distinct bytes on disk (two writers storing the same chunks count once) */
	pt_checkpoint_totals tot;
	if (pt_checkpoint_totals_of(&tot, st, run)) {
		rc = cli_lib_error();
		goto done;
	}
	char a[32], b[32];
	printf("%zu checkpoint%s: %s logical, %s stored (%.1fx)", n, n == 1 ? "" : "s",
	       cli_size(tot.logical_bytes, a, sizeof a), cli_size(tot.stored_bytes, b, sizeof b),
	       tot.dedup_ratio);
	if (tot.missing_objects)
		printf(", %" PRIu64 " referenced object%s missing", tot.missing_objects,
		       tot.missing_objects == 1 ? "" : "s");
	putchar('\n');
done:
	pt_free(v);
	pt_store_free(st);
	return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

static int do_export(cli_ctx *ctx, const char *run_opt, const char *stream_opt, int64_t step,
		     const char *dir)
{
	cli_target t;
	int rc = cli_open(ctx, "checkpoint", run_opt, stream_opt, CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	pt_store *st = t.st;
	const char *run = t.run, *stream = t.stream;
	pt_checkpoint_info info;
	pt_checkpoint_export_stats es;
	if (pt_checkpoint_find(&info, st, run, stream, step) || pt_checkpoint_export(st, info.manifest, dir, &es)) {
		rc = cli_lib_error();
		goto done;
	}
	char sz[32];
	fprintf(stderr, "provtrace: exported %" PRIu64 " entries of run %s stream %s step %s%" PRId64 " (%s) to %s\n",
		es.entries, run, stream, info.step == PT_NO_STEP ? "(none) " : "", info.step == PT_NO_STEP ? 0 : info.step,
		cli_size(info.logical_bytes, sz, sizeof sz), dir);
done:
	cli_close(&t);
	return rc;
}

int cmd_checkpoint(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL;
	int64_t step = 0;
	bool json = false;
	int have_step = 0;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"step", 0, CLI_I64, &step, "an integer step", .seen = &have_step},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"checkpoint", help, opts, 1, -1, "a subcommand (ls or export)"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	const char *sub = args[0];
	if (!strcmp(sub, "ls")) {
		if (nargs > 1)
			return cli_usage("checkpoint", "unexpected argument '%s'", args[1]);
		if (have_step || stream)
			return cli_usage("checkpoint", "ls takes only --run and --json");
		if (run && pt_name_check("run", run))
			return cli_usage("checkpoint", "%s", pt_error_last());
		return do_ls(ctx, run, json);
	}
	if (!strcmp(sub, "export")) {
		if (nargs < 2)
			return cli_usage("checkpoint", "export needs a destination directory");
		if (nargs > 2)
			return cli_usage("checkpoint", "unexpected argument '%s'", args[2]);
		if (!have_step)
			return cli_usage("checkpoint", "export needs --step N");
		if (json)
			return cli_usage("checkpoint", "export does not take --json");
		return do_export(ctx, run, stream, step, args[1]);
	}
	return cli_usage("checkpoint", "unknown subcommand '%s' (ls or export)", sub);
}
