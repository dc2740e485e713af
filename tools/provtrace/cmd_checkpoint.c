/*
 * cmd_checkpoint.c - `provtrace checkpoint ls`, `show` and `export`.
 */
#include "cli.h"

#include <jansson.h>

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
	"       provtrace checkpoint show [--run RUN] [--stream STREAM] [--step N] [--json] [MANIFEST]\n"
	"       provtrace checkpoint export --run RUN --step N [--stream STREAM] DIR\n"
	"\n"
	"ls      list the checkpoints of every run (or of RUN): step, tensors and\n"
	"        blobs, logical size, bytes the checkpoint added to the store, and the\n"
	"        dedup ratio (logical / added); then the totals, logical vs stored\n"
	"        (distinct bytes on disk of the objects they reference, each once).\n"
	"        --json: one JSON array of {\"run\", \"stream\", \"seq\", \"step\", \"time\",\n"
	"        \"time_ns\", \"manifest\", \"tensors\", \"blobs\", \"chunks\", \"new_chunks\",\n"
	"        \"logical_bytes\", \"stored_bytes\", \"new_bytes\", \"dedup_ratio\"}.\n"
	"show    what a checkpoint holds, by path: each tensor and blob under the\n"
	"        path of keys and indices of the state it was saved from\n"
	"        (`optimizer.state.0.exp_avg  tensor f32 [1024]  4.0 KiB`) and each plain\n"
	"        value (`optimizer.param_groups.0.lr = 0.001`).  The checkpoint in effect\n"
	"        at --step N (default: the latest), or the one whose manifest id is\n"
	"        MANIFEST.  --json: the library's rendering, an array of {\"path\",\n"
	"        \"entry\", \"name\", \"type\", \"dtype\", \"shape\", \"size\"} or\n"
	"        {\"path\", \"value\"}.\n"
	"export  write the checkpoint in effect at step N (the latest at or before N)\n"
	"        into DIR (created if needed): each tensor as <name>.npy (NPY 1.0,\n"
	"        numpy.load reads it; bf16 is widened to float32, exactly), each blob\n"
	"        as its original bytes, and index.json mapping entry names to files.\n"
	"        Every chunk is checked against its hash while reading.\n"
	"\n"
	"  --run RUN        the run (export: required unless the store has one run)\n"
	"  --stream STREAM  the stream (default: main)\n"
	"  --step N         export, show: the step\n"
	"  --json           ls, show: JSON output\n"
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

/* ---- show ------------------------------------------------------------------------------- */

static void put_json_short(json_t *v)
{
	if (json_is_real(v)) { /* the shortest text that reads back to the same double */
		char d[PT_DOUBLE_TEXT_MAX];
		if (pt_format_double(json_real_value(v), d, sizeof d) >= 0) {
			fputs(d, stdout);
			return;
		}
	}
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!t) {
		fputs("?", stdout);
		return;
	}
	size_t n = strlen(t);
	if (n > 80)
		printf("%.77s...", t);
	else
		fputs(t, stdout);
	free(t);
}

static int do_show(cli_ctx *ctx, const char *run_opt, const char *stream_opt, int have_step, int64_t step,
		   const char *manifest, bool json)
{
	cli_target t;
	int rc = cli_open(ctx, "checkpoint", manifest ? NULL : run_opt, manifest ? NULL : stream_opt,
			  manifest ? CLI_STORE_ONLY : CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	pt_checkpoint_info info;
	memset(&info, 0, sizeof info);
	pt_checkpoint_reader *rd = NULL;
	char *out = NULL;
	json_t *arr = NULL;
	if (manifest)
		snprintf(info.manifest, sizeof info.manifest, "%s", manifest);
	else if (pt_checkpoint_find(&info, t.st, t.run, t.stream, have_step ? step : INT64_MAX)) {
		rc = cli_lib_error();
		goto done;
	}
	if (pt_checkpoint_reader_open(&rd, t.st, info.manifest) || pt_checkpoint_reader_paths_json(rd, &out, NULL)) {
		rc = cli_lib_error();
		goto done;
	}
	if (json) {
		puts(out);
		goto done;
	}
	json_error_t err;
	if (!(arr = json_loads(out, 0, &err))) {
		cli_msg("cannot read the library's rendering: %s", err.text);
		rc = CLI_ERROR;
		goto done;
	}
	char sz[32];
	uint64_t logical = 0;
	for (size_t i = 0; i < pt_checkpoint_reader_count(rd); i++) {
		pt_checkpoint_entry e;
		if (!pt_checkpoint_reader_entry(rd, i, &e))
			logical += e.size;
	}
	if (manifest)
		printf("checkpoint %s: %zu entries, %s\n", info.manifest, pt_checkpoint_reader_count(rd),
		       cli_size(logical, sz, sizeof sz));
	else if (info.step == PT_NO_STEP)
		printf("checkpoint %s (run %s, stream %s, seq %" PRIu64 ", no step): %zu entries, %s\n", info.manifest,
		       t.run, t.stream, info.seq, pt_checkpoint_reader_count(rd), cli_size(logical, sz, sizeof sz));
	else
		printf("checkpoint %s (run %s, stream %s, seq %" PRIu64 ", step %" PRId64 "): %zu entries, %s\n",
		       info.manifest, t.run, t.stream, info.seq, info.step, pt_checkpoint_reader_count(rd),
		       cli_size(logical, sz, sizeof sz));
	int w = 4;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		int l = (int)strlen(json_string_value(json_object_get(v, "path")) ? json_string_value(json_object_get(v, "path")) : "");
		w = l > w ? (l > 60 ? 60 : l) : w;
	}
	json_array_foreach(arr, i, v)
	{
		const char *path = json_string_value(json_object_get(v, "path"));
		json_t *val = json_object_get(v, "value");
		printf("  %-*s  ", w, path && *path ? path : "(top)");
		if (val) {
			fputs("= ", stdout);
			put_json_short(val);
		} else {
			const char *type = json_string_value(json_object_get(v, "type"));
			if (type && !strcmp(type, "tensor")) {
				printf("tensor %-5s [", json_string_value(json_object_get(v, "dtype")));
				size_t k;
				json_t *d;
				json_array_foreach(json_object_get(v, "shape"), k, d)
				printf("%s%" JSON_INTEGER_FORMAT, k ? ", " : "", json_integer_value(d));
				printf("]");
			} else {
				printf("blob");
			}
			printf("  %s", cli_size((uint64_t)json_integer_value(json_object_get(v, "size")), sz, sizeof sz));
			const char *name = json_string_value(json_object_get(v, "name"));
			if (name && path && strcmp(name, path))
				printf("  (entry \"%s\")", name);
		}
		putchar('\n');
	}
done:
	json_decref(arr);
	pt_free(out);
	pt_checkpoint_reader_free(rd);
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
	const cli_spec spec = {"checkpoint", help, opts, 1, -1, "a subcommand (ls, show or export)"};
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
	if (!strcmp(sub, "show")) {
		if (nargs > 2)
			return cli_usage("checkpoint", "unexpected argument '%s'", args[2]);
		const char *manifest = nargs == 2 ? args[1] : NULL;
		if (manifest && (strlen(manifest) != 64 || strspn(manifest, "0123456789abcdef") != 64))
			return cli_usage("checkpoint", "show: '%s' is not a manifest id (64 lowercase hex digits)", manifest);
		if (manifest && (have_step || stream || run))
			return cli_usage("checkpoint", "show: a MANIFEST or --run/--stream/--step, not both");
		return do_show(ctx, run, stream, have_step, step, manifest, json);
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
	return cli_usage("checkpoint", "unknown subcommand '%s' (ls, show or export)", sub);
}
