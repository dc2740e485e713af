/* cmd_data.c - `provtrace data`: a run's datasets and artifacts; `data verify`: are the files still the same? */
#include "cli.h"

#include <provtrace/artifact.h>
#include <provtrace/dataset.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace data [--run RUN] [--stream S] [--json]\n"
	"       provtrace data verify [--run RUN] [--stream S] [--root DIR] [--threads N] [--json]\n"
	"       provtrace data hash [--threads N] [--json] PATH...\n"
	"\n"
	"data     the datasets (Python: Recorder.dataset; C: pt_dataset_record) and\n"
	"         artifacts (Recorder.artifact; pt_artifact_file) of a stream, oldest\n"
	"         first: seq, step, kind, name, size, files, role and the id (a\n"
	"         dataset's content id, an artifact's SHA-256).  Their stored objects\n"
	"         are kept by gc and re-hashed by verify.\n"
	"verify   re-hash on disk the files of the datasets in effect at the end of\n"
	"         the stream (the last of each name) and name each file that changed\n"
	"         or is missing; exit 1 if any did.  Files are looked for under DIR\n"
	"         (--root) or where each dataset was recorded.  A progress line is\n"
	"         shown on a terminal.\n"
	"hash     hash files or directories as Recorder.dataset would (no store\n"
	"         needed, nothing recorded): the listing - `<sha256> <size> <path>`\n"
	"         per file, paths relative to the deepest directory holding them all -\n"
	"         then the content id to compare with a recorded one.\n"
	"\n"
	"  --run RUN     the run (default: the store's only run)\n"
	"  --stream S    the stream (default: main, or the run's only stream)\n"
	"  --root DIR    verify: look for the files under DIR\n"
	"  --threads N   verify, hash: hashing threads (default: one per CPU)\n"
	"  --json        data: one JSON event per line, as `provtrace log --json` prints\n"
	"                it; verify: one JSON object per changed or missing file, then\n"
	"                one with the totals; hash: {\"id\", \"files\", \"size\", \"root\",\n"
	"                \"entries\": [{\"path\", \"size\", \"sha256\"}, ...]}\n"
	"  --store DIR   the store\n";

/* The value of a top-level key our own writer put in the event JSON (a string or an integer). */
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

static int do_list(const cli_target *t, bool json)
{
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	int rc = 0;
	if (pt_iter_open(&it, t->st, t->run, t->stream, &io))
		return cli_lib_error();
	if (!json)
		printf("%-8s  %-8s  %-8s  %-24s  %12s  %8s  %-8s  %s\n", "seq", "step", "kind", "name", "size", "files",
		       "role", "id / sha256");
	while (!rc) {
		const pt_event_view *ev = NULL;
		int r = pt_iter_next(it, &ev);
		if (r == PT_ITEROVER)
			break;
		if (r) {
			rc = cli_lib_error();
			break;
		}
		const char *kind = pt_ev_kind(ev);
		int is_ds = !strcmp(kind, PT_KIND_DATASET);
		if (!is_ds && strcmp(kind, PT_KIND_ARTIFACT))
			continue;
		const char *j = NULL;
		size_t jl = 0;
		if (pt_ev_json(ev, &j, &jl)) {
			rc = cli_lib_error();
			break;
		}
		if (json) {
			fwrite(j, 1, jl, stdout);
			putchar('\n');
			continue;
		}
		char id[80], size[32], step[32], files[32], role[64];
		field(j, jl, is_ds ? "id" : "sha256", id, sizeof id);
		field(j, jl, "size", size, sizeof size);
		if (is_ds) {
			field(j, jl, "files", files, sizeof files);
			field(j, jl, "role", role, sizeof role);
		} else {
			snprintf(files, sizeof files, "1");
			snprintf(role, sizeof role, "-");
		}
		if (pt_ev_step(ev) == PT_NO_STEP)
			snprintf(step, sizeof step, "-");
		else
			snprintf(step, sizeof step, "%" PRId64, pt_ev_step(ev));
		const char *name = pt_ev_name(ev);
		printf("%-8" PRIu64 "  %-8s  %-8s  %-24s  %12s  %8s  %-8s  %s\n", pt_ev_seq(ev), step, kind,
		       name ? name : "-", size, files, role, id);
	}
	pt_iter_free(it);
	return rc;
}

static void progress(uint64_t files_done, uint64_t files_total, uint64_t bytes_done, uint64_t bytes_total,
		     void *payload)
{
	(void)payload;
	char a[32], b[32];
	int pct = bytes_total ? (int)(bytes_done * 100 / bytes_total) : 100;
	fprintf(stderr, "\rhashing  %3d%%  %s / %s  %" PRIu64 " / %" PRIu64 " files   ", pct,
		cli_size(bytes_done, a, sizeof a), cli_size(bytes_total, b, sizeof b), files_done, files_total);
	if (files_done >= files_total)
		fputs("\n", stderr);
	fflush(stderr);
}

static int on_check(const pt_dataset_check *c, void *payload)
{
	bool json = *(const bool *)payload;
	const char *status = c->status == PT_DATASET_FILE_MISSING ? "missing" : "changed";
	if (json) {
		printf("{\"dataset\":");
		cli_json_str(stdout, c->dataset);
		printf(",\"id\":\"%s\",\"path\":", c->id);
		cli_json_str(stdout, c->path);
		printf(",\"file\":");
		cli_json_str(stdout, c->file);
		printf(",\"status\":\"%s\",\"size\":%" PRIu64 ",\"sha256\":\"%s\"", status, c->size, c->sha256);
		if (c->status == PT_DATASET_FILE_MISSING) {
			printf(",\"message\":");
			cli_json_str(stdout, c->message);
		} else {
			printf(",\"found_size\":%" PRIu64 ",\"found_sha256\":\"%s\"", c->found_size, c->found_sha256);
		}
		printf("}\n");
		return 0;
	}
	if (c->status == PT_DATASET_FILE_MISSING)
		printf("%-8s %s: %s (%s)\n", status, c->dataset, c->path, c->message ? c->message : "?");
	else if (c->found_size != c->size)
		printf("%-8s %s: %s (size %" PRIu64 " -> %" PRIu64 ")\n", status, c->dataset, c->path, c->size,
		       c->found_size);
	else
		printf("%-8s %s: %s (sha256 %.12s -> %.12s)\n", status, c->dataset, c->path, c->sha256, c->found_sha256);
	return 0;
}

static int do_verify(const cli_target *t, const char *root, uint64_t threads, bool json)
{
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.threads = (uint32_t)threads;
	if (isatty(2))
		o.progress = progress;
	pt_dataset_verify_stats vs;
	if (pt_dataset_verify(t->st, t->run, t->stream, root, &o, on_check, &json, &vs))
		return cli_lib_error();
	if (json) {
		printf("{\"datasets\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"files\":%" PRIu64 ",\"ok\":%" PRIu64
		       ",\"changed\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n",
		       vs.datasets, vs.skipped, vs.files, vs.ok, vs.changed, vs.missing, vs.bytes);
	} else {
		char b[32];
		printf("%" PRIu64 " dataset%s, %" PRIu64 " files (%s): %" PRIu64 " ok, %" PRIu64 " changed, %" PRIu64
		       " missing",
		       vs.datasets, vs.datasets == 1 ? "" : "s", vs.files, cli_size(vs.bytes, b, sizeof b), vs.ok,
		       vs.changed, vs.missing);
		if (vs.skipped)
			printf("; %" PRIu64 " of in-memory contents not checked", vs.skipped);
		putchar('\n');
	}
	return vs.changed || vs.missing ? CLI_ERROR : CLI_OK;
}

static int do_hash(char **paths, int n, uint64_t threads, bool json)
{
	pt_dataset *ds = NULL;
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.threads = (uint32_t)threads;
	if (isatty(2))
		o.progress = progress;
	pt_dataset_info info;
	int rc = pt_dataset_new(&ds);
	for (int i = 0; i < n && !rc; i++)
		rc = pt_dataset_add_path(ds, paths[i]);
	if (!rc)
		rc = pt_dataset_hash(ds, &o, &info);
	if (rc) {
		rc = cli_lib_error();
		pt_dataset_free(ds);
		return rc;
	}
	if (json) {
		printf("{\"id\":\"%s\",\"files\":%" PRIu64 ",\"size\":%" PRIu64 ",\"root\":", info.id, info.files, info.size);
		cli_json_str(stdout, pt_dataset_root(ds));
		printf(",\"entries\":[");
	}
	for (size_t i = 0; i < pt_dataset_count(ds); i++) {
		pt_dataset_entry e;
		if (pt_dataset_entry_get(ds, i, &e)) {
			rc = cli_lib_error();
			break;
		}
		if (json) {
			printf("%s{\"path\":", i ? "," : "");
			cli_json_str(stdout, e.path);
			printf(",\"size\":%" PRIu64 ",\"sha256\":\"%s\"}", e.size, e.sha256);
		} else {
			printf("%s %" PRIu64 " %s\n", e.sha256, e.size, e.path);
		}
	}
	if (!rc) {
		char b[32];
		if (json)
			printf("]}\n");
		else
			printf("id %s  (%" PRIu64 " files, %s, under %s)\n", info.id, info.files,
			       cli_size(info.size, b, sizeof b), pt_dataset_root(ds));
	}
	pt_dataset_free(ds);
	return rc;
}

int cmd_data(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL, *stream_opt = NULL, *root = NULL;
	uint64_t threads = 0;
	int root_seen = 0, threads_seen = 0;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"root", 0, CLI_STR, &root, NULL, 0, 0, &root_seen},
				{"threads", 0, CLI_U64, &threads, "a number of threads", 1, 64, &threads_seen},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"data", help, opts, 0, -1, NULL, NULL};
	char **args = NULL;
	int nargs = 0;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	bool verify = false;
	if (nargs >= 1 && !strcmp(args[0], "hash")) {
		if (nargs < 2)
			return cli_usage("data", "hash needs at least one PATH");
		if (run_opt || stream_opt || root_seen)
			return cli_usage("data", "hash takes paths, --threads and --json only");
		return do_hash(args + 1, nargs - 1, threads, json);
	}
	if (nargs >= 1) {
		if (strcmp(args[0], "verify"))
			return cli_usage("data", "unknown subcommand '%s' (verify or hash)", args[0]);
		if (nargs > 1)
			return cli_usage("data", "unexpected argument '%s'", args[1]);
		verify = true;
	}
	if (!verify && (root_seen || threads_seen))
		return cli_usage("data", "--root and --threads go with `data verify` (--threads also with `data hash`)");
	cli_target t;
	int rc = cli_open(ctx, "data", run_opt, stream_opt, CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	rc = verify ? do_verify(&t, root, threads, json) : do_list(&t, json);
	cli_close(&t);
	return rc;
}
