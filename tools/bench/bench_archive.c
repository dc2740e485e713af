/*
 * bench_archive.c - `provtrace-bench archive`: creating and restoring an
 * archive of sealed segments and checkpoint chunks, against what a careful
 * operator would script with GNU tar: `tar cf` of the same files plus
 * `sha256sum` of them, and `tar xf` plus `sha256sum` of what came out.
 *
 * provtrace's create includes everything its commit protocol does: reading
 * the sources, writing the tar, fsync, re-reading it to verify every member
 * and hashing the whole file, the rename and the catalog.  Its restore
 * verifies every member against the manifest before moving it into place.
 * The page cache is warm for both (the sources were just written); before
 * each measurement the file system is synced so that earlier writeback does
 * not run during it.  Also measured: reading one event from a segment that
 * lives only inside an archive (open an iterator at a random sequence number,
 * read the event, close), target < 10 ms.
 */
#include "bench.h"

#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provtrace.h"
#include "provtrace/archive.h"
#include "provtrace/checkpoint.h"

#define DEFAULT_BYTES (1ull << 30)
#define QUICK_BYTES (64ull << 20)
#define EVENT_BLOB 1024
#define TARGET_RATIO 1.5
#define TARGET_READ_MS 10.0
#define READS 200

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(void *p, size_t n)
{
	uint64_t *q = p;
	for (size_t i = 0; i < n / 8; i++)
		q[i] = next_rand();
}

static int lib_fail(const char *what)
{
	bench_err("%s: %s", what, pt_error_last());
	return -1;
}

/* Sealed segments (events carrying 1 KiB of random bytes) and checkpoint chunks. */
static int populate(pt_store *st, uint64_t bytes, uint64_t *out_events)
{
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	ro.segment_max_bytes = 16u << 20;
	pt_recorder *rec;
	pt_event *ev;
	if (pt_recorder_open(&rec, st, "bench", NULL, &ro) || pt_event_new(&ev, "metric", "loss"))
		return lib_fail("recorder");
	uint8_t blob[EVENT_BLOB];
	uint64_t seg_bytes = bytes / 4, n = seg_bytes / (EVENT_BLOB + 40);
	int64_t t0 = pt_time_now_ns() - 10LL * 86400 * 1000000000;
	for (uint64_t i = 0; i < n; i++) {
		fill_random(blob, sizeof blob);
		if (pt_event_reset(ev, "metric", "loss") || pt_event_set_step(ev, (int64_t)i) ||
		    pt_event_set_time(ev, t0 + (int64_t)i * 1000000) || pt_event_double(ev, "value", (double)i) ||
		    pt_event_bytes(ev, "blob", blob, sizeof blob) || pt_recorder_append(rec, ev, NULL))
			return lib_fail("append");
	}
	/* checkpoints: 3/4 of the bytes as float tensors of random bits (incompressible chunks) */
	size_t tensor = 32u << 20;
	float *w = malloc(tensor);
	pt_checkpointer *cw;
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	if (!w || pt_checkpointer_open(&cw, st, rec, &co))
		return lib_fail("checkpointer");
	for (uint64_t done = 0, k = 0; done < bytes - seg_bytes; done += tensor, k++) {
		pt_checkpoint *ck;
		uint64_t shape[1] = {tensor / 4};
		fill_random(w, tensor);
		if (pt_checkpoint_new(&ck) || pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, tensor) ||
		    pt_checkpointer_write(cw, ck, (int64_t)k, NULL))
			return lib_fail("checkpoint");
		pt_checkpoint_free(ck);
	}
	free(w);
	if (pt_checkpointer_close(cw) || pt_recorder_close(rec))
		return lib_fail("close");
	pt_event_free(ev);
	*out_events = n;
	return 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		bench_err("command failed (%d): %s", rc, cmd);
	return rc ? -1 : 0;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void row(bench_table *t, const char *what, double s, double base, uint64_t bytes, const char *target)
{
	char a[64], b[64], c[64], d[64];
	snprintf(a, sizeof a, "%.2f s", s);
	snprintf(b, sizeof b, "%.0f MiB/s", (double)bytes / (1 << 20) / s);
	if (base > 0)
		snprintf(c, sizeof c, "%.2fx", s / base);
	else
		snprintf(c, sizeof c, "-");
	snprintf(d, sizeof d, "%s", target);
	const char *cells[] = {what, a, b, c, d};
	bench_table_row(t, cells);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: provtrace-bench archive [--size BYTES] [--dir DIR] [--quick] [--keep]\n"
		   "\n"
		   "Archive and restore sealed segments + checkpoint chunks with provtrace and with\n"
		   "GNU tar + sha256sum; then read single events from an archived segment.\n"
		   "  --size BYTES  data to archive (default 1G; k, M, G suffixes)\n"
		   "  --quick       64 MiB (a smoke run)\n"
		   "  --dir DIR     where to work (default $TMPDIR or /tmp)\n"
		   "  --keep        keep the working directory\n");
}

int bench_archive_run(int argc, char **argv)
{
	static const struct option longopts[] = {{"size", required_argument, NULL, 's'},
						 {"dir", required_argument, NULL, 'd'},
						 {"quick", no_argument, NULL, 'q'},
						 {"keep", no_argument, NULL, 'k'},
						 {"help", no_argument, NULL, 'h'},
						 {0, 0, 0, 0}};
	uint64_t size = DEFAULT_BYTES;
	const char *parent = NULL;
	int keep = 0, c, ret = BENCH_EXIT_ERROR;
	optind = 0;
	while ((c = getopt_long(argc, argv, "s:d:qkh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *end;
			double v = strtod(optarg, &end);
			double mul = *end == 'k' ? 1024 : *end == 'M' ? 1 << 20 : *end == 'G' ? 1 << 30 : 1;
			if (v <= 0 || (*end && (!strchr("kMG", *end) || end[1]))) {
				bench_err("--size: invalid size '%s'", optarg);
				return BENCH_EXIT_USAGE;
			}
			size = (uint64_t)(v * mul);
			if (size < (16u << 20)) {
				bench_err("--size: at least 16M");
				return BENCH_EXIT_USAGE;
			}
			break;
		}
		case 'd': parent = optarg; break;
		case 'q': size = QUICK_BYTES; break;
		case 'k': keep = 1; break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: usage(stderr); return BENCH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		bench_err("unexpected argument '%s'", argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	struct stat sb;
	if (parent && (stat(parent, &sb) < 0 || !S_ISDIR(sb.st_mode))) {
		bench_err("--dir %s: not an existing directory", parent);
		return BENCH_EXIT_USAGE;
	}
	char *dir = NULL, *store = NULL, *vault = NULL, *cold = NULL, *tarball = NULL, *rst = NULL, *xdir = NULL;
	pt_store *st = NULL;
	uint64_t *lat = NULL;
	if (bench_mkdtemp(&dir, parent, "pt-bench-archive-"))
		return BENCH_EXIT_ERROR;
	store = bench_path_join(dir, "store");
	vault = bench_path_join(dir, "vault");
	cold = bench_path_join(dir, "vault-cold");
	tarball = bench_path_join(dir, "gnu.tar");
	rst = bench_path_join(dir, "restored");
	xdir = bench_path_join(dir, "gnu-x");
	lat = calloc(READS, sizeof *lat);
	if (!store || !vault || !cold || !tarball || !rst || !xdir || !lat)
		goto done;
	if (pt_store_init(&st, store)) {
		lib_fail("init");
		goto done;
	}
	uint64_t nev;
	uint64_t g0 = bench_mono_ns();
	if (populate(st, size, &nev))
		goto done;
	int64_t data = bench_du(store);
	fprintf(stderr, "provtrace-bench: %.0f MiB of segments and chunks written in %.1f s\n",
		(double)data / (1 << 20), secs(bench_mono_ns() - g0));

	/* provtrace create: keep the sources so that the baseline reads the same files */
	pt_archive_plan_options po = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	po.name = "bench";
	po.schedule = "0 2 * * *";
	po.vault = vault;
	po.min_age = 0;
	po.keep_sources = 1;
	if (pt_archive_plan_add(st, &po)) {
		lib_fail("plan add");
		goto done;
	}
	pt_archive_run_options ro = PT_ARCHIVE_RUN_OPTIONS_INIT;
	ro.plan = "bench";
	ro.force = 1;
	ro.now = pt_time_now_ns() + 1000000000;
	if (bench_settle(dir))
		goto done;
	uint64_t t = bench_mono_ns();
	if (pt_archive_run(st, &ro)) {
		lib_fail("archive run");
		goto done;
	}
	double pt_create = secs(bench_mono_ns() - t);
	pt_archive_info *v;
	size_t nv;
	if (pt_archive_list(&v, &nv, st) || nv != 1) {
		lib_fail("archive list");
		goto done;
	}
	char *archive = strdup(v[0].path);
	uint64_t asize = v[0].size;
	pt_archive_list_free(v, nv);

	/* GNU tar cf + sha256sum of the same files */
	if (bench_settle(dir))
		goto done;
	t = bench_mono_ns();
	if (sh("tar cf '%s' -C '%s' runs/bench objects && cd '%s' && find runs/bench objects -type f -print0 | "
	       "xargs -0 sha256sum > /dev/null",
	       tarball, store, store))
		goto done;
	double gnu_create = secs(bench_mono_ns() - t);
	if (bench_settle(dir))
		goto done;
	t = bench_mono_ns();
	if (sh("tar cf '%s.2' -C '%s' runs/bench objects && sync -f '%s.2' && cd '%s' && find runs/bench objects "
	       "-type f -print0 | xargs -0 sha256sum > /dev/null",
	       tarball, store, tarball, store))
		goto done;
	double gnu_create_sync = secs(bench_mono_ns() - t);
	{
		char *t2 = bench_path_join(dir, "gnu.tar.2");
		if (t2)
			unlink(t2);
		free(t2);
	}

	/* restore vs tar xf + sha256sum */
	if (bench_settle(dir))
		goto done;
	t = bench_mono_ns();
	pt_restore_stats rs;
	if (pt_archive_restore(archive, rst, NULL, &rs)) {
		lib_fail("restore");
		goto done;
	}
	double pt_restore = secs(bench_mono_ns() - t);
	if (bench_settle(dir) || sh("mkdir -p '%s'", xdir))
		goto done;
	t = bench_mono_ns();
	if (sh("tar xf '%s' -C '%s' && cd '%s' && find . -type f -print0 | xargs -0 sha256sum > /dev/null", tarball,
	       xdir, xdir))
		goto done;
	double gnu_restore = secs(bench_mono_ns() - t);

	/* one event from a segment that lives only in an archive */
	po.name = "cold";
	po.vault = cold;
	po.keep_sources = 0;
	ro.plan = "cold";
	if (pt_archive_plan_add(st, &po) || pt_archive_run(st, &ro)) {
		lib_fail("cold archive");
		goto done;
	}
	for (int i = 0; i < READS; i++) {
		pt_iter_options io = PT_ITER_OPTIONS_INIT;
		io.seq_min = 1 + next_rand() % nev;
		pt_iter *it;
		const pt_event_view *e;
		uint64_t t1 = bench_mono_ns();
		if (pt_iter_open(&it, st, "bench", NULL, &io) || pt_iter_next(it, &e) || pt_ev_seq(e) != io.seq_min) {
			lib_fail("read archived event");
			goto done;
		}
		pt_iter_free(it);
		lat[i] = bench_mono_ns() - t1;
	}
	bench_sort_u64(lat, READS);

	char sz[64];
	printf("## provtrace-bench archive: %s bytes of segments + chunks (%zu-byte tar)\n\n",
	       bench_fmt_count(sz, sizeof sz, (double)data), (size_t)asize);
	bench_print_machine(stdout);
	printf("\n");
	const char *head[] = {"method", "time", "throughput", "vs baseline", "target"};
	bench_table tb;
	bench_table_init(&tb, 5, head);
	row(&tb, "GNU tar cf + sha256sum", gnu_create, 0, (uint64_t)data, "baseline");
	row(&tb, "GNU tar cf + sync + sha256sum", gnu_create_sync, gnu_create, (uint64_t)data, "-");
	row(&tb, "provtrace archive (write, fsync, verify, commit)", pt_create, gnu_create, (uint64_t)data,
	    pt_create <= TARGET_RATIO * gnu_create ? "<= 1.5x: met" : "<= 1.5x: MISSED");
	row(&tb, "GNU tar xf + sha256sum", gnu_restore, 0, (uint64_t)data, "baseline");
	row(&tb, "provtrace restore (verify, fsync, place)", pt_restore, gnu_restore, (uint64_t)data,
	    pt_restore <= TARGET_RATIO * gnu_restore ? "<= 1.5x: met" : "<= 1.5x: MISSED");
	bench_table_print(&tb, stdout);
	bench_table_free(&tb);
	double p50 = (double)bench_percentile(lat, READS, 50) / 1e6, p99 = (double)bench_percentile(lat, READS, 99) / 1e6;
	printf("\nOne event from an archived segment (open iterator at a random seq, read, close; %d reads, "
	       "warm cache): p50 %.3f ms, p99 %.3f ms, max %.3f ms (target < %.0f ms: %s)\n",
	       READS, p50, p99, (double)lat[READS - 1] / 1e6, TARGET_READ_MS, p99 < TARGET_READ_MS ? "met" : "MISSED");
	free(archive);
	ret = BENCH_EXIT_OK;
done:
	pt_store_free(st);
	if (!keep && dir) {
		bench_settle(dir);
		bench_rm_rf(dir);
	} else if (dir) {
		fprintf(stderr, "provtrace-bench: kept %s\n", dir);
	}
	free(dir);
	free(store);
	free(vault);
	free(cold);
	free(tarball);
	free(rst);
	free(xdir);
	free(lat);
	return ret;
}
