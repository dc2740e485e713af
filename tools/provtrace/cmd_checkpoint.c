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
	"        dedup ratio (logical / added); then the totals, logical vs stored.\n"
	"        --json: one JSON array of {\"run\", \"stream\", \"seq\", \"step\", \"time\",\n"
	"        \"manifest\", \"tensors\", \"blobs\", \"chunks\", \"new_chunks\",\n"
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
	uint64_t logical = 0, added = 0;
	for (size_t i = 0; i < n; i++) {
		logical += v[i].logical_bytes;
		added += v[i].new_bytes;
	}
	char t[48];
	if (json) {
		fputs("[", stdout);
		for (size_t i = 0; i < n; i++) {
			const pt_checkpoint_info *c = &v[i];
			fputs(i ? ",\n{\"run\":" : "\n{\"run\":", stdout);
			cli_json_str(stdout, c->run);
			fputs(",\"stream\":", stdout);
			cli_json_str(stdout, c->stream);
			printf(",\"seq\":%" PRIu64 ",\"step\":", c->seq);
			cli_json_step(stdout, c->step);
			printf(",\"time\":\"%s\",\"manifest\":\"%s\"", pt_time_format(c->time, t, sizeof t),
			       c->manifest);
			printf(",\"tensors\":%" PRIu64 ",\"blobs\":%" PRIu64 ",\"chunks\":%" PRIu64
			       ",\"new_chunks\":%" PRIu64 ",\"logical_bytes\":%" PRIu64
			       ",\"stored_bytes\":%" PRIu64 ",\"new_bytes\":%" PRIu64 ",\"dedup_ratio\":%.3f}",
			       c->tensors, c->blobs, c->chunks, c->new_chunks, c->logical_bytes,
			       c->stored_bytes, c->new_bytes, ratio(c->logical_bytes, c->new_bytes));
		}
		fputs(n ? "\n]\n" : "]\n", stdout);
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
	char a[32], b[32];
	printf("%zu checkpoint%s: %s logical, %s stored (%.1fx)\n", n, n == 1 ? "" : "s",
	       cli_size(logical, a, sizeof a), cli_size(added, b, sizeof b), ratio(logical, added));
done:
	pt_free(v);
	pt_store_free(st);
	return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

static const char *npy_descr(pt_dtype d)
{
	switch (d) {
	case PT_DTYPE_BOOL: return "|b1";
	case PT_DTYPE_U8: return "|u1";
	case PT_DTYPE_I8: return "|i1";
	case PT_DTYPE_U16: return "<u2";
	case PT_DTYPE_I16: return "<i2";
	case PT_DTYPE_U32: return "<u4";
	case PT_DTYPE_I32: return "<i4";
	case PT_DTYPE_U64: return "<u8";
	case PT_DTYPE_I64: return "<i8";
	case PT_DTYPE_F16: return "<f2";
	case PT_DTYPE_BF16: return "<f4"; /* widened */
	case PT_DTYPE_F32: return "<f4";
	case PT_DTYPE_F64: return "<f8";
	}
	return NULL;
}

/* NPY format 1.0: magic, version, u16 header length, a dict padded with spaces to 64 bytes. */
static int npy_header(char *out, size_t cap, size_t *len, const pt_checkpoint_entry *e)
{
	char shape[32 * 24 + 8];
	size_t sl = 0;
	shape[sl++] = '(';
	for (unsigned i = 0; i < e->ndim; i++)
		sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%" PRIu64 "%s", e->shape[i],
				       e->ndim == 1 ? "," : i + 1 < e->ndim ? ", " : "");
	shape[sl++] = ')';
	shape[sl] = 0;
	char dict[sizeof shape + 128];
	int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			  npy_descr(e->dtype), shape);
	size_t total = 10 + (size_t)dl + 1;
	total = (total + 63) / 64 * 64;
	if (total > cap || total - 10 > 65535)
		return -1;
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)((total - 10) & 0xff);
	out[9] = (char)((total - 10) >> 8);
	memcpy(out + 10, dict, (size_t)dl);
	memset(out + 10 + dl, ' ', total - 10 - (size_t)dl - 1);
	out[total - 1] = '\n';
	*len = total;
	return 0;
}

/* A file name from an entry name: [A-Za-z0-9._-] kept, anything else '_'; unique in DIR. */
static char *file_name(const char *name, const char *ext, char **used, size_t nused)
{
	size_t n = strlen(name);
	if (n > 200)
		n = 200;
	char *base = malloc(n + 2);
	if (!base)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		base[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
					  ch == '.' || ch == '_' || ch == '-'
				  ? ch
				  : '_';
	}
	base[n] = 0;
	if (base[0] == '.')
		base[0] = '_';
	for (int k = 0;; k++) {
		char *cand = malloc(n + 32);
		if (!cand) {
			free(base);
			return NULL;
		}
		if (k)
			snprintf(cand, n + 32, "%s~%d%s", base, k, ext);
		else
			snprintf(cand, n + 32, "%s%s", base, ext);
		bool clash = !strcmp(cand, "index.json");
		for (size_t i = 0; i < nused && !clash; i++)
			clash = !strcmp(used[i], cand);
		if (!clash) {
			free(base);
			return cand;
		}
		free(cand);
	}
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int export_entry(pt_checkpoint_reader *rd, size_t i, const pt_checkpoint_entry *e, const char *path)
{
	char *tmp = malloc(strlen(path) + 8);
	if (!tmp)
		return -1;
	sprintf(tmp, "%s.part", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0) {
		cli_msg("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return CLI_ERROR;
	}
	if (e->type == PT_ENTRY_TENSOR) {
		char hdr[4096];
		size_t hl;
		if (npy_header(hdr, sizeof hdr, &hl, e) || write_all(fd, hdr, hl)) {
			cli_msg("cannot write the header of %s", tmp);
			rc = CLI_ERROR;
		}
	}
	if (!rc && e->type == PT_ENTRY_TENSOR && e->dtype == PT_DTYPE_BF16) {
		/* bfloat16 is the top half of a float32: widen exactly */
		uint16_t *in = malloc(e->size ? e->size : 1);
		size_t n = e->size / 2;
		uint32_t *wide = malloc(n ? n * 4 : 1);
		if (!in || !wide) {
			cli_msg("out of memory for %s", e->name);
			rc = CLI_ERROR;
		} else if (pt_checkpoint_reader_read(rd, i, in, e->size)) {
			rc = cli_lib_error();
		} else {
			for (size_t k = 0; k < n; k++) {
				const uint8_t *b = (const uint8_t *)(in + k);
				uint32_t v = ((uint32_t)b[0] | (uint32_t)b[1] << 8) << 16;
				uint8_t *o = (uint8_t *)(wide + k);
				o[0] = (uint8_t)v; o[1] = (uint8_t)(v >> 8); o[2] = (uint8_t)(v >> 16); o[3] = (uint8_t)(v >> 24);
			}
			if (write_all(fd, wide, n * 4)) {
				cli_msg("cannot write %s: %s", tmp, strerror(errno));
				rc = CLI_ERROR;
			}
		}
		free(in);
		free(wide);
	} else if (!rc && pt_checkpoint_reader_read_fd(rd, i, fd)) {
		rc = cli_lib_error();
	}
	if (!rc && fsync(fd) != 0) {
		cli_msg("cannot fsync %s: %s", tmp, strerror(errno));
		rc = CLI_ERROR;
	}
	close(fd);
	if (!rc && rename(tmp, path) != 0) {
		cli_msg("cannot rename %s: %s", tmp, strerror(errno));
		rc = CLI_ERROR;
	}
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int do_export(cli_ctx *ctx, const char *run_opt, const char *stream_opt, int64_t step,
		     const char *dir)
{
	pt_store *st = NULL;
	pt_checkpoint_reader *rd = NULL;
	char *run_owned = NULL, *stream_owned = NULL, **used = NULL;
	size_t nused = 0;
	FILE *idx = NULL;
	const char *run, *stream;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if ((rc = cli_pick_run(st, "checkpoint", run_opt, &run, &run_owned)))
		goto done;
	if ((rc = cli_pick_stream(st, "checkpoint", run, stream_opt, &stream, &stream_owned)))
		goto done;
	pt_checkpoint_info info;
	if (pt_checkpoint_find(&info, st, run, stream, step) ||
	    pt_checkpoint_reader_open(&rd, st, info.manifest)) {
		rc = cli_lib_error();
		goto done;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		cli_msg("cannot create %s: %s", dir, strerror(errno));
		rc = CLI_ERROR;
		goto done;
	}
	size_t n = pt_checkpoint_reader_count(rd);
	used = calloc(n ? n : 1, sizeof *used);
	char *idx_path = malloc(strlen(dir) + 16);
	if (!used || !idx_path) {
		free(idx_path);
		cli_msg("out of memory");
		rc = CLI_ERROR;
		goto done;
	}
	sprintf(idx_path, "%s/index.json", dir);
	idx = fopen(idx_path, "w");
	free(idx_path);
	if (!idx) {
		cli_msg("cannot create %s/index.json: %s", dir, strerror(errno));
		rc = CLI_ERROR;
		goto done;
	}
	fprintf(idx, "{\"run\":");
	cli_json_str(idx, run);
	fprintf(idx, ",\"stream\":");
	cli_json_str(idx, stream);
	fprintf(idx, ",\"step\":");
	cli_json_step(idx, info.step);
	fprintf(idx, ",\"manifest\":\"%s\",\"entries\":[", info.manifest);
	for (size_t i = 0; i < n; i++) {
		pt_checkpoint_entry e;
		if (pt_checkpoint_reader_entry(rd, i, &e)) {
			rc = cli_lib_error();
			goto done;
		}
		char *fname = file_name(e.name, e.type == PT_ENTRY_TENSOR ? ".npy" : "", used, nused);
		char *path = fname ? malloc(strlen(dir) + strlen(fname) + 2) : NULL;
		if (!path) {
			free(fname);
			cli_msg("out of memory");
			rc = CLI_ERROR;
			goto done;
		}
		used[nused++] = fname;
		sprintf(path, "%s/%s", dir, fname);
		rc = export_entry(rd, i, &e, path);
		free(path);
		if (rc)
			goto done;
		fputs(i ? ",\n{\"name\":" : "\n{\"name\":", idx);
		cli_json_str(idx, e.name);
		fputs(",\"file\":", idx);
		cli_json_str(idx, fname);
		fprintf(idx, ",\"type\":\"%s\",\"bytes\":%" PRIu64, e.type == PT_ENTRY_TENSOR ? "tensor" : "blob",
			e.size);
		if (e.type == PT_ENTRY_TENSOR) {
			fprintf(idx, ",\"dtype\":\"%s\",\"shape\":[", pt_dtype_name(e.dtype));
			for (unsigned k = 0; k < e.ndim; k++)
				fprintf(idx, "%s%" PRIu64, k ? "," : "", e.shape[k]);
			fputs("]", idx);
		}
		fputs("}", idx);
	}
	fputs("\n]}\n", idx);
	char sz[32];
	fprintf(stderr, "provtrace: exported %zu entries of run %s stream %s step %s%" PRId64 " (%s) to %s\n",
		n, run, stream, info.step == PT_NO_STEP ? "(none) " : "", info.step == PT_NO_STEP ? 0 : info.step,
		cli_size(info.logical_bytes, sz, sizeof sz), dir);
done:
	if (idx && fclose(idx) != 0 && !rc) {
		cli_msg("cannot write %s/index.json", dir);
		rc = CLI_ERROR;
	}
	for (size_t i = 0; i < nused; i++)
		free(used[i]);
	free(used);
	pt_checkpoint_reader_free(rd);
	free(run_owned);
	free(stream_owned);
	pt_store_free(st);
	return rc;
}

int cmd_checkpoint(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS,
					     {"run", required_argument, NULL, 'r'},
					     {"stream", required_argument, NULL, 's'},
					     {"step", required_argument, NULL, 'n'},
					     {"json", no_argument, NULL, 'j'},
					     {0}};
	const char *run = NULL, *stream = NULL;
	int64_t step = 0;
	bool json = false, have_step = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(help, stdout); return CLI_OK;
		case 'r': run = optarg; break;
		case 's': stream = optarg; break;
		case 'j': json = true; break;
		case 'n':
			if (!cli_parse_i64(optarg, &step))
				return cli_usage("checkpoint", "--step: not an integer: '%s'", optarg);
			have_step = true;
			break;
		default: {
			int rc = cli_common_option(ctx, "checkpoint", c, argv);
			if (rc >= 0)
				return rc;
		}
		}
	}
	if (optind >= argc)
		return cli_usage("checkpoint", "missing subcommand (ls or export)");
	const char *sub = argv[optind++];
	if (!strcmp(sub, "ls")) {
		if (optind < argc)
			return cli_usage("checkpoint", "unexpected argument '%s'", argv[optind]);
		if (have_step || stream)
			return cli_usage("checkpoint", "ls takes only --run and --json");
		if (run && pt_name_check("run", run))
			return cli_usage("checkpoint", "%s", pt_error_last());
		return do_ls(ctx, run, json);
	}
	if (!strcmp(sub, "export")) {
		if (optind >= argc)
			return cli_usage("checkpoint", "export needs a destination directory");
		if (optind + 1 < argc)
			return cli_usage("checkpoint", "unexpected argument '%s'", argv[optind + 1]);
		if (!have_step)
			return cli_usage("checkpoint", "export needs --step N");
		if (json)
			return cli_usage("checkpoint", "export does not take --json");
		return do_export(ctx, run, stream, step, argv[optind]);
	}
	return cli_usage("checkpoint", "unknown subcommand '%s' (ls or export)", sub);
}
