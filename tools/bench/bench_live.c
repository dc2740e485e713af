/*
 * bench_live.c - `provtrace-bench live`: the live paths of issue 17.
 *
 *  1. latency from a writer's flush to a consumer's handler (p50, p99), the
 *     consumer waiting on inotify; baseline: a `log -f`-style reader that
 *     polls the stream every 100 ms (pt_iter_next + sleep);
 *  2. consumer throughput over a recorded stream in batches of 1000: a
 *     no-op C handler (pt_consumer_run, committing every batch), and
 *     `provtrace consume --exec 'cat >/dev/null'` (JSON lines through a
 *     pipe to a process per batch); baseline: reading the same stream with
 *     pt_iter_next (the floor any consumer is built on);
 *  3. `provtrace emit` streaming (the default) against `--all-or-nothing`
 *     on the same JSON lines file.
 *
 * Targets (issue 17): p50 < 20 ms, p99 < 100 ms; >= 2M events/s with the C
 * handler; streaming emit within 1.2x of all-or-nothing.
 */
#include "bench.h"

#include "provtrace.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: provtrace-bench live [--events N] [--latency N] [--emit N] [--dir DIR]\n"
		   "                            [--provtrace PATH] [--quick]\n\n"
		   "  --events N    events of the throughput stream (default 5M)\n"
		   "  --latency N   events written one flush apart for the latency (default 2000)\n"
		   "  --emit N      JSON lines for streaming vs all-or-nothing emit (default 1M)\n"
		   "  --dir DIR     where the temporary store goes (default $TMPDIR or /tmp)\n"
		   "  --provtrace PATH  the CLI (default: `provtrace` next to this program)\n"
		   "  --quick       200k events, 200 latency samples, 100k emit lines\n");
}

static char *find_provtrace(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	char *p = bench_path_join(self, "provtrace");
	if (p && access(p, X_OK) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* ---- 1. latency ---- */
typedef struct {
	pt_store *st;
	const char *run;
	size_t n;
	uint64_t *t_flush; /* mono ns just before each flush, by step */
	volatile int failed;
} lat_writer;

static void *writer_main(void *arg)
{
	lat_writer *w = arg;
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	ro.max_delay_ms = 1;
	pt_recorder *rec;
	if (pt_recorder_open(&rec, w->st, w->run, NULL, &ro)) {
		w->failed = 1;
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++) {
		sleep_us(2000);
		if (pt_recorder_metric(rec, "loss", 1.0, (int64_t)i)) {
			w->failed = 1;
			break;
		}
		__atomic_store_n(&w->t_flush[i], bench_mono_ns(), __ATOMIC_RELEASE);
		if (pt_recorder_flush(rec)) {
			w->failed = 1;
			break;
		}
	}
	pt_recorder_close(rec);
	return NULL;
}

typedef struct {
	lat_writer *w;
	uint64_t *lat;
	size_t got;
	pt_consumer *c;
} lat_handler_ctx;

static void note_latency(lat_handler_ctx *h, int64_t step, uint64_t now)
{
	if (step < 0 || (size_t)step >= h->w->n)
		return;
	uint64_t t = __atomic_load_n(&h->w->t_flush[step], __ATOMIC_ACQUIRE);
	if (t && now > t && h->got < h->w->n)
		h->lat[h->got++] = now - t;
}

static int lat_handler(void *ud, pt_consumer_batch *b)
{
	lat_handler_ctx *h = ud;
	uint64_t now = bench_mono_ns();
	size_t n;
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ev[i].kind, "metric")) {
			note_latency(h, ev[i].step, now);
			if (ev[i].step == (int64_t)h->w->n - 1)
				pt_consumer_stop(h->c);
		}
	return 0;
}

static int measure_latency(pt_store *st, const char *run, size_t n, bool consumer, uint64_t *p50, uint64_t *p99)
{
	lat_writer w = {st, run, n, calloc(n, sizeof(uint64_t)), 0};
	lat_handler_ctx h = {&w, calloc(n, sizeof(uint64_t)), 0, NULL};
	int rc = -1;
	pt_consumer *c = NULL;
	pt_iter *it = NULL;
	pthread_t t;
	if (!w.t_flush || !h.lat)
		goto done;
	/* the run exists before the writer starts, so the reader can open it */
	{
		pt_recorder *rec;
		if (pt_recorder_open(&rec, st, run, NULL, NULL) || pt_recorder_close(rec)) {
			bench_err("%s", pt_error_last());
			goto done;
		}
	}
	if (consumer) {
		pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
		o.run = run;
		o.batch_max = 1000;
		if (pt_consumer_open(&c, st, run, &o)) {
			bench_err("consumer: %s", pt_error_last());
			goto done;
		}
		h.c = c;
	} else {
		pt_iter_options io = PT_ITER_OPTIONS_INIT;
		if (pt_iter_open(&it, st, run, NULL, &io)) {
			bench_err("iter: %s", pt_error_last());
			goto done;
		}
	}
	if (pthread_create(&t, NULL, writer_main, &w))
		goto done;
	if (consumer) {
		if (pt_consumer_run(c, lat_handler, &h))
			bench_err("consumer: %s", pt_error_last());
	} else {
		bool last = false;
		while (!last && !w.failed) {
			const pt_event_view *ev;
			int r;
			while ((r = pt_iter_next(it, &ev)) == 0) {
				if (!strcmp(pt_ev_kind(ev), "metric")) {
					note_latency(&h, pt_ev_step(ev), bench_mono_ns());
					if (pt_ev_step(ev) == (int64_t)n - 1)
						last = true;
				}
			}
			if (r != PT_ITEROVER) {
				bench_err("iter: %s", pt_error_last());
				break;
			}
			if (!last)
				sleep_us(100000);
		}
	}
	pthread_join(t, NULL);
	if (w.failed || h.got == 0) {
		bench_err("latency run failed");
		goto done;
	}
	bench_sort_u64(h.lat, h.got);
	*p50 = bench_percentile(h.lat, h.got, 50);
	*p99 = bench_percentile(h.lat, h.got, 99);
	rc = 0;
done:
	pt_consumer_close(c);
	pt_iter_free(it);
	free(w.t_flush);
	free(h.lat);
	return rc;
}

/* ---- 2. throughput ---- */
static int noop_handler(void *ud, pt_consumer_batch *b)
{
	size_t n;
	pt_consumer_batch_events(b, &n);
	*(uint64_t *)ud += n;
	return 0;
}

static int run_cmd(char *const argv[], const char *in_path)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (in_path) {
			int fd = open(in_path, O_RDONLY);
			if (fd < 0 || dup2(fd, 0) < 0)
				_exit(126);
		}
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0)
			dup2(nul, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int bench_live_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'n'}, {"latency", required_argument, NULL, 'l'},
		{"emit", required_argument, NULL, 'e'},   {"dir", required_argument, NULL, 'd'},
		{"provtrace", required_argument, NULL, 'p'}, {"quick", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	uint64_t nev = 5000000, nlat = 2000, nemit = 1000000;
	const char *parent = NULL;
	char *cli = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "n:l:e:d:p:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(&nev, "--events", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'l':
			if (bench_parse_count(&nlat, "--latency", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'e':
			if (bench_parse_count(&nemit, "--emit", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'd': parent = optarg; break;
		case 'p':
			free(cli);
			cli = strdup(optarg);
			break;
		case 'q': nev = 200000, nlat = 200, nemit = 100000; break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: return bench_bad_option("live", argv, usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("live", argv[optind], usage);
	if (!cli)
		cli = find_provtrace();
	if (!cli || access(cli, X_OK)) {
		bench_err("the provtrace CLI was not found (--provtrace PATH)");
		free(cli);
		return BENCH_EXIT_USAGE;
	}
	char *dir = NULL, *store_dir = NULL, *jsonl = NULL;
	pt_store *st = NULL;
	int ret = BENCH_EXIT_ERROR;
	if (bench_mkdtemp(&dir, parent, "pt-bench-live-"))
		goto out;
	store_dir = bench_path_join(dir, "store");
	jsonl = bench_path_join(dir, "events.jsonl");
	if (!store_dir || !jsonl || pt_store_init(&st, store_dir)) {
		bench_err("store: %s", pt_error_last());
		goto out;
	}
	bench_print_machine(stdout);
	printf("\n");

	/* 1. latency */
	uint64_t c50 = 0, c99 = 0, p50 = 0, p99 = 0;
	if (measure_latency(st, "lat-consumer", (size_t)nlat, true, &c50, &c99) ||
	    measure_latency(st, "lat-poll", (size_t)(nlat < 300 ? nlat : 300), false, &p50, &p99))
		goto out;

	/* 2. throughput: record, then read */
	{
		pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
		ro.durability = PT_DURABILITY_NONE;
		pt_recorder *rec;
		if (pt_recorder_open(&rec, st, "thr", NULL, &ro)) {
			bench_err("%s", pt_error_last());
			goto out;
		}
		for (uint64_t i = 0; i < nev; i++)
			if (pt_recorder_metric(rec, "loss", (double)i, (int64_t)i)) {
				bench_err("%s", pt_error_last());
				pt_recorder_close(rec);
				goto out;
			}
		if (pt_recorder_close(rec)) {
			bench_err("%s", pt_error_last());
			goto out;
		}
	}
	uint64_t n_iter = 0, n_c = 0;
	uint64_t t0 = bench_mono_ns();
	{
		pt_iter *it;
		const pt_event_view *ev;
		if (pt_iter_open(&it, st, "thr", NULL, NULL)) {
			bench_err("%s", pt_error_last());
			goto out;
		}
		while (pt_iter_next(it, &ev) == 0)
			n_iter++;
		pt_iter_free(it);
	}
	uint64_t t_iter = bench_mono_ns() - t0;
	t0 = bench_mono_ns();
	{
		pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
		o.run = "thr";
		o.batch_max = 1000;
		o.follow = 0;
		pt_consumer *cc;
		if (pt_consumer_open(&cc, st, "noop", &o) || pt_consumer_run(cc, noop_handler, &n_c)) {
			bench_err("consumer: %s", pt_error_last());
			goto out;
		}
		pt_consumer_close(cc);
	}
	uint64_t t_c = bench_mono_ns() - t0;
	t0 = bench_mono_ns();
	{
		char *args[] = {cli, "--store", store_dir, "consume", "exec", "--run", "thr", "--batch", "1000",
				"--no-follow", "--exec", "cat >/dev/null", NULL};
		if (run_cmd(args, NULL)) {
			bench_err("provtrace consume --exec failed");
			goto out;
		}
	}
	uint64_t t_exec = bench_mono_ns() - t0;

	/* 3. emit */
	{
		FILE *f = fopen(jsonl, "w");
		if (!f) {
			bench_err_errno("%s", jsonl);
			goto out;
		}
		for (uint64_t i = 0; i < nemit; i++)
			fprintf(f, "{\"kind\":\"metric\",\"name\":\"loss\",\"step\":%llu,\"value\":%.6f}\n",
				(unsigned long long)i, 1.0 / (double)(i + 1));
		fclose(f);
	}
	bench_settle(dir);
	t0 = bench_mono_ns();
	{
		char *args[] = {cli, "--store", store_dir, "emit", "--run", "emit-all", "--all-or-nothing", "-q", NULL};
		if (run_cmd(args, jsonl)) {
			bench_err("emit --all-or-nothing failed");
			goto out;
		}
	}
	uint64_t t_all = bench_mono_ns() - t0;
	bench_settle(dir);
	t0 = bench_mono_ns();
	{
		char *args[] = {cli, "--store", store_dir, "emit", "--run", "emit-stream", "-q", NULL};
		if (run_cmd(args, jsonl)) {
			bench_err("emit (streaming) failed");
			goto out;
		}
	}
	uint64_t t_stream = bench_mono_ns() - t0;

	char a[64], b[64], d[64], e[64];
	bench_table t;
	const char *head[] = {"latency, writer flush -> handler", "p50 ms", "p99 ms", "target"};
	bench_table_init(&t, 4, head);
	snprintf(a, sizeof a, "%.2f", c50 / 1e6);
	snprintf(b, sizeof b, "%.2f", c99 / 1e6);
	bench_table_row(&t, (const char *const[]){"consumer (inotify), batch <= 1000", a, b, "p50 < 20, p99 < 100"});
	snprintf(a, sizeof a, "%.2f", p50 / 1e6);
	snprintf(b, sizeof b, "%.2f", p99 / 1e6);
	bench_table_row(&t, (const char *const[]){"baseline: pt_iter + 100 ms poll (log -f)", a, b, "-"});
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	printf("\n%llu flushes 2 ms apart (baseline: %llu).\n\n", (unsigned long long)nlat,
	       (unsigned long long)(nlat < 300 ? nlat : 300));

	const char *head2[] = {"throughput, batches of 1000", "events", "seconds", "events/s", "vs pt_iter"};
	bench_table_init(&t, 5, head2);
	struct {
		const char *name;
		uint64_t n, ns;
	} rows[] = {{"baseline: pt_iter_next over the stream", n_iter, t_iter},
		    {"consumer, no-op C handler (target >= 2M/s)", n_c, t_c},
		    {"provtrace consume --exec 'cat >/dev/null'", n_c, t_exec}};
	for (size_t i = 0; i < 3; i++) {
		bench_fmt_count(a, sizeof a, (double)rows[i].n);
		snprintf(b, sizeof b, "%.3f", rows[i].ns / 1e9);
		bench_fmt_count(d, sizeof d, rows[i].n / (rows[i].ns / 1e9));
		snprintf(e, sizeof e, "%.2fx", (double)t_iter / (double)rows[i].ns);
		bench_table_row(&t, (const char *const[]){rows[i].name, a, b, d, e});
	}
	printf("\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);

	const char *head3[] = {"provtrace emit of JSON lines", "lines", "seconds", "lines/s", "vs all-or-nothing"};
	bench_table_init(&t, 5, head3);
	bench_fmt_count(a, sizeof a, (double)nemit);
	snprintf(b, sizeof b, "%.3f", t_all / 1e9);
	bench_fmt_count(d, sizeof d, nemit / (t_all / 1e9));
	bench_table_row(&t, (const char *const[]){"--all-or-nothing", a, b, d, "1.00x"});
	snprintf(b, sizeof b, "%.3f", t_stream / 1e9);
	bench_fmt_count(d, sizeof d, nemit / (t_stream / 1e9));
	snprintf(e, sizeof e, "%.2fx (target <= 1.2x)", (double)t_stream / (double)t_all);
	bench_table_row(&t, (const char *const[]){"streaming (default)", a, b, d, e});
	printf("\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	ret = BENCH_EXIT_OK;
out:
	pt_store_free(st);
	if (dir) {
		bench_settle(dir);
		bench_rm_rf(dir);
	}
	free(dir);
	free(store_dir);
	free(jsonl);
	free(cli);
	return ret;
}
