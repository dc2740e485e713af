/*
 * bench_reopen.c - `provtrace-bench reopen`: reopening a stream after a crash
 * costs about what a clean reopen costs.
 *
 * For each size, a child process records N small metric events flushing every
 * --flush-every events with PT_DURABILITY_WRITE (a Python loop that calls
 * flush() every 50 events writes exactly this: N/50 small batches in the open
 * segment), then kills itself with SIGKILL.  The parent times
 * pt_recorder_open() on that stream (the recovery path: scan the open segment,
 * re-hash it, rebuild the writer's state), closes it cleanly, and times
 * pt_recorder_open() again (the clean path).  Each open is timed --repeat
 * times after the first (crash recovery only happens once, so the crash time
 * is measured on fresh copies of the crashed stream).  Target (issue 11 item
 * 12): crash / clean <= 2 at every open-segment size up to the seal size.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provtrace.h"

#define TARGET_RATIO 2.0
#define MAX_SIZES 8

static void usage(FILE *f)
{
	fprintf(f, "usage: provtrace-bench reopen [--events N[,N...]] [--flush-every K] [--repeat R] [--dir DIR] [--quick]\n"
		   "  --events      open-segment sizes in events (default 10k,100k,1M,3M)\n"
		   "  --flush-every events per flushed batch (default 50)\n"
		   "  --repeat      timed opens per case, median reported (default 5)\n"
		   "  --dir         where to make the scratch store (default $TMPDIR or /tmp)\n"
		   "  --quick       10k and 100k events, 3 repeats\n");
}

/* The child: record n events, flushing every k, then die without closing. */
static void record_and_die(const char *store, uint64_t n, uint64_t k)
{
	pt_store *st;
	pt_recorder *r;
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.durability = PT_DURABILITY_WRITE;
	if (pt_store_open(&st, store) || pt_recorder_open(&r, st, "bench", "main", &o)) {
		fprintf(stderr, "provtrace-bench: %s\n", pt_error_last());
		_exit(1);
	}
	pt_event *e;
	if (pt_event_new(&e, "metric", "loss"))
		_exit(1);
	for (uint64_t i = 0; i < n; i++) {
		if (pt_event_reset(e, "metric", "loss") || pt_event_set_step(e, (int64_t)i) ||
		    pt_event_double(e, "value", 1.0 / (double)(i + 1)) || pt_recorder_append(r, e, NULL) ||
		    ((i + 1) % k == 0 && pt_recorder_flush(r))) {
			fprintf(stderr, "provtrace-bench: %s\n", pt_error_last());
			_exit(1);
		}
	}
	if (pt_recorder_flush(r))
		_exit(1);
	kill(getpid(), SIGKILL);
	_exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One timed open + close of run "bench" in `store`; the open's ns in *ns. */
static int time_open(const char *store, uint64_t *ns, uint64_t *recovered)
{
	pt_store *st;
	pt_recorder *r;
	if (pt_store_open(&st, store)) {
		bench_err("%s", pt_error_last());
		return -1;
	}
	uint64_t t0 = bench_mono_ns();
	int rc = pt_recorder_open(&r, st, "bench", "main", NULL);
	uint64_t t1 = bench_mono_ns();
	if (rc) {
		bench_err("reopen: %s", pt_error_last());
		pt_store_free(st);
		return -1;
	}
	if (recovered)
		*recovered = pt_recorder_recovered_bytes(r);
	*ns = t1 - t0;
	rc = pt_recorder_close(r);
	pt_store_free(st);
	if (rc) {
		bench_err("close: %s", pt_error_last());
		return -1;
	}
	return 0;
}

static int copy_tree(const char *src, const char *dst)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", dst, src, dst);
	return system(cmd) == 0 ? 0 : -1;
}

int bench_reopen_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'n'}, {"flush-every", required_argument, NULL, 'k'},
		{"repeat", required_argument, NULL, 'r'}, {"dir", required_argument, NULL, 'd'},
		{"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	uint64_t sizes[MAX_SIZES] = {10000, 100000, 1000000, 3000000};
	size_t nsizes = 4;
	uint64_t every = 50, repeat = 5;
	const char *parent = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "n:k:r:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			nsizes = 0;
			char *s = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES) {
					free(s);
					bench_err("--events: at most %d sizes", MAX_SIZES);
					return BENCH_EXIT_USAGE;
				}
				if (bench_parse_count(&sizes[nsizes], "--events", t)) {
					free(s);
					return BENCH_EXIT_USAGE;
				}
				nsizes++;
			}
			free(s);
			break;
		}
		case 'k':
			if (bench_parse_count(&every, "--flush-every", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'r':
			if (bench_parse_count(&repeat, "--repeat", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'd': parent = optarg; break;
		case 'q':
			sizes[0] = 10000, sizes[1] = 100000, nsizes = 2, repeat = 3;
			break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: return bench_bad_option("reopen", argv, usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("reopen", argv[optind], usage);
	if (repeat > 64)
		repeat = 64;

	char *dir;
	if (bench_mkdtemp(&dir, parent, "pt-bench-reopen-"))
		return BENCH_EXIT_ERROR;
	printf("provtrace-bench reopen: open-segment sizes after kill -9, %llu events per flushed batch "
	       "(PT_DURABILITY_WRITE), median of %llu opens\n",
	       (unsigned long long)every, (unsigned long long)repeat);
	bench_print_machine(stdout);
	static const char *const head[] = {"events in open segment", "batches", "open segment", "reopen after crash",
					   "clean reopen", "ratio", "target"};
	bench_table t;
	bench_table_init(&t, 7, head);
	int status = BENCH_EXIT_OK;
	bool all_met = true;
	for (size_t i = 0; i < nsizes && status == BENCH_EXIT_OK; i++) {
		char *store = bench_path_join(dir, "store"), *crashed = bench_path_join(dir, "crashed");
		char cmd[8192];
		snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", store, crashed);
		if (system(cmd) != 0) {
			status = BENCH_EXIT_ERROR;
			goto next;
		}
		pt_store *st;
		if (pt_store_init(&st, store)) {
			bench_err("%s", pt_error_last());
			status = BENCH_EXIT_ERROR;
			goto next;
		}
		pt_store_free(st);
		pid_t pid = fork();
		if (pid == 0)
			record_and_die(store, sizes[i], every);
		int ws = 0;
		waitpid(pid, &ws, 0);
		if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGKILL) {
			bench_err("the recording child did not die by SIGKILL (status %d)", ws);
			status = BENCH_EXIT_ERROR;
			goto next;
		}
		char *segpath = bench_path_join(store, "runs/bench/main/open.ptseg");
		struct stat sb;
		int64_t segsize = stat(segpath, &sb) == 0 ? (int64_t)sb.st_size : -1;
		free(segpath);
		if (bench_settle(store) || copy_tree(store, crashed)) {
			status = BENCH_EXIT_ERROR;
			goto next;
		}
		/* crash reopens: each on a fresh copy of the crashed store (recovery happens once) */
		uint64_t crash[64], clean[64];
		for (uint64_t k = 0; k < repeat && status == BENCH_EXIT_OK; k++) {
			if ((k && copy_tree(crashed, store)) || bench_settle(store) || time_open(store, &crash[k], NULL))
				status = BENCH_EXIT_ERROR;
		}
		/* the store is now cleanly closed: clean reopens */
		for (uint64_t k = 0; k < repeat && status == BENCH_EXIT_OK; k++)
			if (time_open(store, &clean[k], NULL))
				status = BENCH_EXIT_ERROR;
		if (status)
			goto next;
		qsort(crash, repeat, sizeof *crash, cmp_u64);
		qsort(clean, repeat, sizeof *clean, cmp_u64);
		double cr = (double)crash[repeat / 2] / 1e6, cl = (double)clean[repeat / 2] / 1e6, ratio = cr / cl;
		all_met = all_met && ratio <= TARGET_RATIO;
		char c0[32], c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
		bench_fmt_count(c0, sizeof c0, (double)sizes[i]);
		bench_fmt_count(c1, sizeof c1, (double)((sizes[i] + every - 1) / every));
		snprintf(c2, sizeof c2, "%.1f MiB", (double)segsize / (1 << 20));
		snprintf(c3, sizeof c3, "%.1f ms", cr);
		snprintf(c4, sizeof c4, "%.1f ms", cl);
		snprintf(c5, sizeof c5, "%.2f", ratio);
		snprintf(c6, sizeof c6, "<= %.0f %s", TARGET_RATIO, ratio <= TARGET_RATIO ? "met" : "MISSED");
		const char *const row[] = {c0, c1, c2, c3, c4, c5, c6};
		bench_table_row(&t, row);
	next:
		free(store);
		free(crashed);
	}
	if (status == BENCH_EXIT_OK) {
		bench_table_print(&t, stdout);
		printf("target: reopen after a crash within %.0fx of a clean reopen at every size: %s\n", TARGET_RATIO,
		       all_met ? "met" : "MISSED");
	}
	bench_table_free(&t);
	bench_rm_rf(dir);
	free(dir);
	return status;
}
