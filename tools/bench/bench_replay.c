/*
 * bench_replay.c - `provtrace-bench replay`: the state of a long run at random steps.
 *
 * Two runs of the same training loop are recorded through the C API with the
 * recorder's default options (state snapshots on): a large one (10,000,000
 * appended events by default) and one a tenth of its size.  Per training step
 * one `loss` metric; every DECISION_EVERY steps a `decision` that sets lr
 * with a reason and an actor; every CHECKPOINT_EVERY steps a checkpoint of
 * one tiny tensor through pt_checkpointer_write (the same bytes each time, so
 * after the first one only the event is new: `checkpoint` is a kind only the
 * checkpointer writes - replay only carries the reference).
 *
 * Then, for each run:
 *  - replay at P random steps: pt_replay_open(step=N) + pt_replay_state_json
 *    + pt_replay_free, timed together (and the open alone); every state must
 *    be at step N exactly (each step has a loss event);
 *  - the naive baseline, folding from the first event: the same C calls with
 *    use_snapshots = 0 (the fold without any JSON parsing: a lower bound for
 *    what a user's own fold would cost) at a few of the same steps, whose
 *    state must equal the snapshot replay's byte for byte;
 *  - the baseline as a user would actually start it: `provtrace log --json
 *    --to step=N` piped into this process, which only counts the lines (the
 *    cheapest possible consumer), at a handful of the same steps;
 *  - the storage the snapshots add: their objects (STORE/objects) and the
 *    stream's `snapshots` index, against the stream's segment bytes.
 *
 * Building the runs takes a while, so with --dir they are kept there
 * (DIR/replay-<events>/) and reused by later invocations once complete.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provtrace.h"

#define DEFAULT_EVENTS 10000000u
#define QUICK_EVENTS 200000u
#define SMALL_DIVISOR 10 /* the small run has a tenth of the large one's events */
#define DEFAULT_POINTS 1000u
#define QUICK_POINTS 100u
#define DEFAULT_NAIVE_POINTS 10u
#define QUICK_NAIVE_POINTS 5u
#define DEFAULT_CLI_POINTS 3u
#define QUICK_CLI_POINTS 2u
#define DECISION_EVERY 1000
#define CHECKPOINT_EVERY 5000

#define RUN_NAME "bench"
#define STREAM_NAME "main"
/* First line of DIR/replay-<events>/COMPLETE; change it when the workload changes. */
#define CACHE_TAG "provtrace-bench replay run v1"
#define POINT_SEED 0x2545F4914F6CDD1Dull

/* Targets of issue 4 ("Benchmark"). */
#define TARGET_MEDIAN_NS 5000000.0
#define TARGET_P99_NS 20000000.0
#define TARGET_SCALING 2.0
#define TARGET_SNAPSHOT_SHARE 0.05

typedef struct {
	uint64_t events; /* appended by the workload (snapshot events come on top) */
	uint32_t snapshot_every; /* 0: the recorder's default */
	char *dir;       /* DIR/replay-<events> */
	char *store_dir;
	pt_store *st;
	int cached;
	double build_s;
	pt_stream_info info;
	/* storage */
	uint64_t nsnap;
	int64_t snap_obj_bytes, snap_index_bytes;
	/* replay at the random points */
	uint64_t *steps;
	size_t npoints;
	uint64_t *lat, *lat_open, *lat_cpu; /* wall; wall of the open alone; CPU of the thread */
	uint64_t folded_sum, folded_max, from_snapshot;
	/* baselines */
	uint64_t *naive;
	size_t nnaive;
	uint64_t naive_folded_sum, naive_ns_sum;
	uint64_t *cli;
	size_t ncli;
	uint64_t cli_lines, cli_bytes, cli_ns_sum;
} replay_run;

typedef struct {
	uint64_t n_large;
	uint32_t snapshot_every; /* --snapshot-every; 0: the recorder's default */
	size_t points, naive_points, cli_points;
	const char *parent; /* --dir: where runs are cached */
	const char *provtrace;
	char *provtrace_found;
	int keep;
} replay_ctx;

/* ---- the recorded run ---------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int append_decision(pt_recorder *rec, pt_event *ev, int64_t step, double lr,
			   double best)
{
	char reason[128];

	snprintf(reason, sizeof(reason),
		 "val_loss did not improve for 3 evaluations (best %.4f); lr halved", best);
	if (pt_event_reset(ev, PT_KIND_DECISION, "lr") || pt_event_set_step(ev, step) ||
	    pt_event_begin_map(ev, "set") || pt_event_double(ev, "lr", lr) || pt_event_end(ev) ||
	    pt_event_str(ev, "reason", reason) ||
	    pt_event_str(ev, "actor", "scheduler:ReduceLROnPlateau"))
		return pt_error_last_code() ? pt_error_last_code() : PT_ERROR;
	return pt_recorder_append(rec, ev, NULL);
}

static int append_checkpoint(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step)
{
	return pt_checkpointer_write(cw, ck, step, NULL);
}

/* Record `r->events` events of the training loop into a fresh store at r->store_dir. */
static int build_run(replay_run *r)
{
	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	pt_event *ev = NULL;
	pt_checkpointer *cw = NULL;
	pt_checkpoint *ck = NULL;
	static const float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
	const uint64_t shape[1] = {4};
	pt_recorder_options o;
	uint64_t done = 0, rng = 42, t0;
	int64_t step;
	double loss = 2.5, lr = 3e-4, best = 1e9;
	int rc, ret = -1;

	if ((rc = pt_store_init(&st, r->store_dir)) != 0) {
		bench_err("pt_store_init %s: %s", r->store_dir, pt_error_last());
		goto done;
	}
	pt_recorder_options_init(&o, PT_RECORDER_OPTIONS_VERSION);
	if (r->snapshot_every)
		o.snapshot_every = r->snapshot_every;
	if ((rc = pt_recorder_open(&rec, st, RUN_NAME, STREAM_NAME, &o)) != 0) {
		bench_err("pt_recorder_open: %s", pt_error_last());
		goto done;
	}
	if ((rc = pt_event_new(&ev, PT_KIND_NOTE, NULL)) != 0) {
		bench_err("pt_event_new: %s", pt_error_last());
		goto done;
	}
	if ((rc = pt_checkpointer_open(&cw, st, rec, NULL)) != 0 || (rc = pt_checkpoint_new(&ck)) != 0 ||
	    (rc = pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w)) != 0) {
		bench_err("checkpointer: %s", pt_error_last());
		goto done;
	}
	t0 = bench_mono_ns();
	for (step = 1; done < r->events && rc == 0; step++) {
		double v;

		loss = loss * 0.99999 + 0.00001;
		v = loss * (0.95 + 0.1 * (double)(splitmix64(&rng) >> 11) * 0x1.0p-53);
		if (v < best)
			best = v;
		rc = pt_recorder_metric(rec, "loss", v, step);
		done++;
		if (rc == 0 && step % DECISION_EVERY == 0 && done < r->events) {
			lr = lr > 1e-6 ? lr * 0.5 : 3e-4;
			rc = append_decision(rec, ev, step, lr, best);
			done++;
		}
		if (rc == 0 && step % CHECKPOINT_EVERY == 0 && done < r->events) {
			rc = append_checkpoint(cw, ck, step);
			done++;
		}
		if (done % 1000000 == 0 && done)
			fprintf(stderr, ".");
	}
	if (rc) {
		bench_err("append of event %" PRIu64 " failed: %s", done, pt_error_last());
		goto done;
	}
	rc = pt_checkpointer_close(cw);
	cw = NULL;
	if (rc) {
		bench_err("pt_checkpointer_close: %s", pt_error_last());
		goto done;
	}
	rc = pt_recorder_close(rec);
	rec = NULL;
	if (rc) {
		bench_err("pt_recorder_close: %s", pt_error_last());
		goto done;
	}
	r->build_s = (double)(bench_mono_ns() - t0) / 1e9;
	ret = 0;
done:
	pt_event_free(ev);
	if (cw)
		pt_checkpointer_close(cw);
	pt_checkpoint_free(ck);
	pt_recorder_free(rec);
	pt_store_free(st);
	return ret;
}

static char *complete_path(const replay_run *r)
{
	return bench_path_join(r->dir, "COMPLETE");
}

static int cache_is_complete(const replay_run *r)
{
	char *p = complete_path(r), want[128], got[128] = "";
	FILE *f;
	size_t n = 0;

	if (!p)
		return 0;
	f = fopen(p, "r");
	free(p);
	if (!f)
		return 0;
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = 0;
	snprintf(want, sizeof(want), "%s\nevents=%" PRIu64 "\nsnapshot_every=%" PRIu32 "\n",
		 CACHE_TAG, r->events, r->snapshot_every);
	return strcmp(got, want) == 0;
}

static int mark_complete(const replay_run *r)
{
	char *p = complete_path(r);
	FILE *f;
	int ret = -1;

	if (!p) {
		bench_err("out of memory");
		return -1;
	}
	f = fopen(p, "w");
	if (!f ||
	    fprintf(f, "%s\nevents=%" PRIu64 "\nsnapshot_every=%" PRIu32 "\n", CACHE_TAG,
		    r->events, r->snapshot_every) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0)
		bench_err_errno("cannot write %s", p);
	else
		ret = 0;
	if (f && fclose(f) != 0 && ret == 0) {
		bench_err_errno("cannot write %s", p);
		ret = -1;
	}
	free(p);
	return ret;
}

/* Reuse r->dir if a previous invocation completed it, else (re)build it there. */
static int prepare_run(replay_ctx *cx, const char *top, replay_run *r)
{
	char name[64];
	struct stat sb;
	int rc;

	if (r->snapshot_every)
		snprintf(name, sizeof(name), "replay-%" PRIu64 "-s%" PRIu32, r->events,
			 r->snapshot_every);
	else
		snprintf(name, sizeof(name), "replay-%" PRIu64, r->events);
	r->dir = bench_path_join(top, name);
	r->store_dir = r->dir ? bench_path_join(r->dir, "store") : NULL;
	if (!r->store_dir) {
		bench_err("out of memory");
		return -1;
	}
	if (cx->parent && cache_is_complete(r)) {
		r->cached = 1;
	} else {
		if (stat(r->dir, &sb) == 0) {
			fprintf(stderr,
				"  %s is incomplete or from another version of this benchmark: "
				"rebuilding\n",
				r->dir);
			if (bench_rm_rf(r->dir))
				return -1;
		}
		if (mkdir(r->dir, 0755) != 0) {
			bench_err_errno("cannot create %s", r->dir);
			return -1;
		}
		fprintf(stderr, "  recording %" PRIu64 " events in %s ", r->events, r->dir);
		if (build_run(r)) {
			fprintf(stderr, " failed\n");
			return -1;
		}
		fprintf(stderr, " %.1f s\n", r->build_s);
		if (bench_settle(r->dir) || mark_complete(r))
			return -1;
	}
	if ((rc = pt_store_open(&r->st, r->store_dir)) != 0) {
		bench_err("pt_store_open %s: %s", r->store_dir, pt_error_last());
		return -1;
	}
	if ((rc = pt_stream_stat(r->st, RUN_NAME, STREAM_NAME, &r->info)) != 0) {
		bench_err("pt_stream_stat: %s", pt_error_last());
		return -1;
	}
	if (r->info.events < r->events || r->info.step_max == PT_NO_STEP) {
		bench_err("%s holds %" PRIu64 " events, %" PRIu64 " were recorded", r->store_dir,
			  r->info.events, r->events);
		return -1;
	}
	return 0;
}

/* ---- storage ------------------------------------------------------------- */

/*
 * The snapshot objects are listed in the stream's `snapshots` index, one
 * "<at> <lineage> <object id> <event seq>" line each; an object lives in
 * STORE/objects/<id[0:2]>/<id[2:]> (docs/FORMAT.md).
 */
static int measure_storage(replay_run *r)
{
	char *idx = bench_path_join(r->store_dir, "runs/" RUN_NAME "/" STREAM_NAME "/snapshots");
	char line[256], obj[PATH_MAX];
	FILE *f;
	struct stat sb;
	int ret = -1;

	if (!idx) {
		bench_err("out of memory");
		return -1;
	}
	r->nsnap = 0;
	r->snap_obj_bytes = r->snap_index_bytes = 0;
	f = fopen(idx, "r");
	if (!f) {
		if (errno == ENOENT) /* no snapshot written (a short run) */
			ret = 0;
		else
			bench_err_errno("cannot open %s", idx);
		goto done;
	}
	if (fstat(fileno(f), &sb) == 0)
		r->snap_index_bytes = (int64_t)sb.st_size;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long at, evseq;
		long long lineage;
		char hex[80];

		if (sscanf(line, "%llu %lld %70s %llu", &at, &lineage, hex, &evseq) != 4 ||
		    strlen(hex) != 64) {
			bench_err("%s: unexpected line '%s'", idx, line);
			goto done_f;
		}
		snprintf(obj, sizeof(obj), "%s/objects/%.2s/%s", r->store_dir, hex, hex + 2);
		if (stat(obj, &sb) != 0) {
			bench_err_errno("snapshot object %s", obj);
			goto done_f;
		}
		r->snap_obj_bytes += (int64_t)sb.st_size;
		r->nsnap++;
	}
	ret = 0;
done_f:
	fclose(f);
done:
	free(idx);
	return ret;
}

/* ---- replay -------------------------------------------------------------- */

static void make_points(replay_run *r, size_t n)
{
	uint64_t s = POINT_SEED;
	size_t i;

	for (i = 0; i < n; i++)
		r->steps[i] = 1 + splitmix64(&s) % (uint64_t)r->info.step_max;
	r->npoints = n;
}

/*
 * One replay at step `step`; `*json` (malloc'd) gets the state if asked.
 * Returns 0, or -1 with a message (a wrong state is an error: the numbers
 * would be meaningless).
 */
static int replay_once(replay_run *r, uint64_t step, int use_snapshots, uint64_t *total_ns,
		       uint64_t *open_ns, uint64_t *cpu_ns, uint64_t *folded, uint64_t *snap_seq,
		       char **json_out)
{
	pt_replay_options o;
	pt_point at = { PT_AT_STEP, (int64_t)step };
	pt_replay *rp = NULL;
	const char *json;
	size_t len;
	uint64_t t0, t1;
	bench_cpu c0, c1;
	int rc;

	pt_replay_options_init(&o, PT_REPLAY_OPTIONS_VERSION);
	o.use_snapshots = use_snapshots;
	bench_cpu_now(&c0);
	t0 = bench_mono_ns();
	rc = pt_replay_open(&rp, r->st, RUN_NAME, &at, &o);
	t1 = bench_mono_ns();
	if (rc == 0)
		rc = pt_replay_state_json(rp, &json, &len);
	if (rc) {
		bench_err("replay at step=%" PRIu64 ": %s", step, pt_error_last());
		pt_replay_free(rp);
		return -1;
	}
	if (pt_replay_step(rp) != (int64_t)step) {
		bench_err("replay at step=%" PRIu64 " returned the state at step %" PRId64, step,
			  pt_replay_step(rp));
		pt_replay_free(rp);
		return -1;
	}
	*folded = pt_replay_events_folded(rp);
	*snap_seq = pt_replay_snapshot_seq(rp);
	if (json_out && !(*json_out = strndup(json, len))) {
		bench_err("out of memory");
		pt_replay_free(rp);
		return -1;
	}
	pt_replay_free(rp);
	*total_ns = bench_mono_ns() - t0;
	bench_cpu_now(&c1);
	if (cpu_ns)
		*cpu_ns = c1.thread_ns - c0.thread_ns;
	if (open_ns)
		*open_ns = t1 - t0;
	return 0;
}

static int measure_replay(replay_ctx *cx, replay_run *r)
{
	uint64_t folded, snap, dummy;
	size_t i;

	(void)cx;
	/* one untimed replay first: the stream's files are opened and read once */
	if (replay_once(r, r->steps[0], 1, &dummy, NULL, NULL, &folded, &snap, NULL))
		return -1;
	for (i = 0; i < r->npoints; i++) {
		if (replay_once(r, r->steps[i], 1, &r->lat[i], &r->lat_open[i], &r->lat_cpu[i],
				&folded, &snap, NULL))
			return -1;
		r->folded_sum += folded;
		if (folded > r->folded_max)
			r->folded_max = folded;
		if (snap)
			r->from_snapshot++;
	}
	bench_sort_u64(r->lat, r->npoints);
	bench_sort_u64(r->lat_open, r->npoints);
	bench_sort_u64(r->lat_cpu, r->npoints);
	return 0;
}

/* The fold from the first event, through the C API; its state must equal the snapshot replay's. */
static int measure_naive(replay_ctx *cx, replay_run *r)
{
	uint64_t folded, folded2, snap, t, dummy;
	size_t i;
	char *a = NULL, *b = NULL;
	int ret = -1;

	for (i = 0; i < cx->naive_points && i < r->npoints; i++) {
		if (replay_once(r, r->steps[i], 0, &t, NULL, NULL, &folded, &snap, &a) ||
		    replay_once(r, r->steps[i], 1, &dummy, NULL, NULL, &folded2, &snap, &b))
			goto done;
		if (strcmp(a, b) != 0) {
			bench_err("step=%" PRIu64 ": the state with snapshots differs from "
				  "the fold from the first event",
				  r->steps[i]);
			goto done;
		}
		free(a);
		free(b);
		a = b = NULL;
		r->naive[r->nnaive++] = t;
		r->naive_folded_sum += folded;
		r->naive_ns_sum += t;
	}
	bench_sort_u64(r->naive, r->nnaive);
	ret = 0;
done:
	free(a);
	free(b);
	return ret;
}

/* `provtrace --store S log --run bench --json --to step=N`, its output counted here. */
static int cli_once(replay_ctx *cx, replay_run *r, uint64_t step, uint64_t *ns)
{
	char to[48];
	char *argv[] = { (char *)cx->provtrace, "--store", r->store_dir, "log", "--run",
			 RUN_NAME, "--json", "--to", to, NULL };
	static char buf[1 << 16];
	int fds[2], status;
	pid_t pid;
	ssize_t n;
	uint64_t t0, lines = 0, bytes = 0;

	snprintf(to, sizeof(to), "step=%" PRIu64, step);
	if (pipe(fds) != 0) {
		bench_err_errno("pipe");
		return -1;
	}
	t0 = bench_mono_ns();
	pid = fork();
	if (pid < 0) {
		bench_err_errno("fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(cx->provtrace, argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		bytes += (uint64_t)n;
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
			lines++;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*ns = bench_mono_ns() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_err("%s log --to %s failed (status %d)", cx->provtrace, to, status);
		return -1;
	}
	/* every step up to N has a loss event, plus decisions and checkpoints */
	if (lines < step) {
		bench_err("%s log --to %s printed %" PRIu64 " lines, expected at least %" PRIu64,
			  cx->provtrace, to, lines, step);
		return -1;
	}
	r->cli_lines += lines;
	r->cli_ns_sum += *ns;
	r->cli_bytes += bytes;
	return 0;
}

static int measure_cli(replay_ctx *cx, replay_run *r)
{
	size_t i;

	for (i = 0; i < cx->cli_points && i < r->npoints; i++) {
		if (cli_once(cx, r, r->steps[i], &r->cli[r->ncli]))
			return -1;
		r->ncli++;
	}
	bench_sort_u64(r->cli, r->ncli);
	return 0;
}

/* ---- report -------------------------------------------------------------- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void target_row(bench_table *t, const char *what, const char *value, const char *goal,
		       int pass)
{
	const char *cells[4] = { what, value, goal, pass ? "PASS" : "MISS" };

	bench_table_row(t, cells);
}

static void run_label(char *buf, size_t size, const replay_run *r)
{
	char n[32];

	bench_fmt_count(n, sizeof(n), (double)r->events);
	snprintf(buf, size, "%s events", n);
}

static void print_results(replay_run *runs, size_t nruns)
{
	static const char *const h1[8] = { "run",
					   "points",
					   "median ms",
					   "p99 ms",
					   "max ms",
					   "CPU median / p99 ms",
					   "open only, median ms",
					   "events folded: mean / max" };
	static const char *const h2[6] = { "run", "baseline (fold from seq 1)", "points",
					   "median ms", "max ms", "median / replay median" };
	static const char *const h3[7] = { "run",
					   "segment bytes",
					   "snapshots",
					   "snapshot objects, bytes",
					   "index, bytes",
					   "bytes / snapshot",
					   "overhead" };
	static const char *const ht[4] = { "target", "measured", "goal", "" };
	bench_table t;
	char c[8][64], v[96], g[64];
	size_t i;
	const replay_run *L = &runs[0], *S = nruns > 1 ? &runs[1] : NULL;
	double l_med, l_p99, share;

	bench_table_init(&t, 8, h1);
	for (i = 0; i < nruns; i++) {
		const replay_run *r = &runs[i];
		const char *cells[8] = { c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7] };

		run_label(c[0], sizeof(c[0]), r);
		snprintf(c[1], sizeof(c[1]), "%zu", r->npoints);
		snprintf(c[2], sizeof(c[2]), "%.2f", ms(bench_percentile(r->lat, r->npoints, 50)));
		snprintf(c[3], sizeof(c[3]), "%.2f", ms(bench_percentile(r->lat, r->npoints, 99)));
		snprintf(c[4], sizeof(c[4]), "%.2f", ms(r->lat[r->npoints - 1]));
		snprintf(c[5], sizeof(c[5]), "%.2f / %.2f",
			 ms(bench_percentile(r->lat_cpu, r->npoints, 50)),
			 ms(bench_percentile(r->lat_cpu, r->npoints, 99)));
		snprintf(c[6], sizeof(c[6]), "%.2f",
			 ms(bench_percentile(r->lat_open, r->npoints, 50)));
		snprintf(c[7], sizeof(c[7]), "%.0f / %" PRIu64,
			 (double)r->folded_sum / (double)r->npoints, r->folded_max);
		bench_table_row(&t, cells);
	}
	printf("\nReplay at random steps (pt_replay_open step=N + pt_replay_state_json + "
	       "pt_replay_free, timed\ntogether per point; \"CPU\": the calling thread's CPU "
	       "time for the same calls, which does\nnot count waiting for a core on a busy "
	       "machine; \"open only\": pt_replay_open alone):\n\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	for (i = 0; i < nruns; i++) {
		run_label(c[0], sizeof(c[0]), &runs[i]);
		printf("%s: steps 1..%" PRId64 "; %" PRIu64 " of %zu replays started from a "
		       "snapshot; %" PRIu64 " events stored\n  (%" PRIu64
		       " snapshot events on top of the workload's)\n",
		       c[0], runs[i].info.step_max, runs[i].from_snapshot, runs[i].npoints,
		       runs[i].info.events, runs[i].info.events - runs[i].events);
	}

	bench_table_init(&t, 6, h2);
	for (i = 0; i < nruns; i++) {
		const replay_run *r = &runs[i];
		const char *cells[6] = { c[0], c[1], c[2], c[3], c[4], c[5] };
		double med = ms(bench_percentile(r->lat, r->npoints, 50));

		run_label(c[0], sizeof(c[0]), r);
		if (r->nnaive) {
			double m = ms(bench_percentile(r->naive, r->nnaive, 50));

			snprintf(c[1], sizeof(c[1]), "C API, use_snapshots=0");
			snprintf(c[2], sizeof(c[2]), "%zu", r->nnaive);
			snprintf(c[3], sizeof(c[3]), "%.1f", m);
			snprintf(c[4], sizeof(c[4]), "%.1f", ms(r->naive[r->nnaive - 1]));
			snprintf(c[5], sizeof(c[5]), "%.0fx", m / med);
			bench_table_row(&t, cells);
		}
		if (r->ncli) {
			double m = ms(bench_percentile(r->cli, r->ncli, 50));

			snprintf(c[1], sizeof(c[1]), "provtrace log --json | count lines");
			snprintf(c[2], sizeof(c[2]), "%zu", r->ncli);
			snprintf(c[3], sizeof(c[3]), "%.1f", m);
			snprintf(c[4], sizeof(c[4]), "%.1f", ms(r->cli[r->ncli - 1]));
			snprintf(c[5], sizeof(c[5]), "%.0fx", m / med);
			bench_table_row(&t, cells);
		}
	}
	if (t.nrows) {
		printf("\nNaive baseline, at the first points of the same list.  C API: the "
		       "same fold without\nsnapshots (no JSON; its state is checked equal to the "
		       "snapshot replay's).  CLI:\n`provtrace log --json --to step=N` read through "
		       "a pipe by a consumer that only\ncounts lines (a consumer that parses the "
		       "JSON and folds is slower still):\n\n");
		bench_table_print(&t, stdout);
		for (i = 0; i < nruns; i++) {
			const replay_run *r = &runs[i];

			run_label(c[0], sizeof(c[0]), r);
			/*
			 * without snapshots, replay also reads the whole stream once for
			 * its lineage table: count those events too
			 */
			if (r->nnaive && r->naive_folded_sum)
				printf("%s: C %.0f ns per event read (%.0f read per point: the "
				       "fold to N + the stream for its lineages)",
				       c[0],
				       (double)r->naive_ns_sum /
					       (double)(r->naive_folded_sum +
							r->nnaive * r->info.events),
				       (double)r->naive_folded_sum / (double)r->nnaive +
					       (double)r->info.events);
			if (r->ncli && r->cli_lines)
				printf("%sCLI %.0f ns per JSON line (%.0f bytes/line)",
				       r->nnaive ? "; " : "",
				       (double)r->cli_ns_sum / (double)r->cli_lines,
				       (double)r->cli_bytes / (double)r->cli_lines);
			printf("\n");
		}
	}
	bench_table_free(&t);

	bench_table_init(&t, 7, h3);
	for (i = 0; i < nruns; i++) {
		const replay_run *r = &runs[i];
		const char *cells[7] = { c[0], c[1], c[2], c[3], c[4], c[5], c[6] };

		run_label(c[0], sizeof(c[0]), r);
		bench_fmt_count(c[1], sizeof(c[1]), (double)r->info.bytes);
		snprintf(c[2], sizeof(c[2]), "%" PRIu64, r->nsnap);
		bench_fmt_count(c[3], sizeof(c[3]), (double)r->snap_obj_bytes);
		bench_fmt_count(c[4], sizeof(c[4]), (double)r->snap_index_bytes);
		bench_fmt_count(c[5], sizeof(c[5]),
				r->nsnap ? (double)r->snap_obj_bytes / (double)r->nsnap : 0);
		snprintf(c[6], sizeof(c[6]), "%.2f%%",
			 100.0 * (double)(r->snap_obj_bytes + r->snap_index_bytes) /
				 (double)r->info.bytes);
		bench_table_row(&t, cells);
	}
	printf("\nSnapshot storage (objects listed in the stream's `snapshots` index + the index "
	       "file) against\nthe stream's segment bytes (pt_stream_info.bytes, which include "
	       "the small `snapshot` events):\n\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);

	l_med = ms(bench_percentile(L->lat, L->npoints, 50));
	l_p99 = ms(bench_percentile(L->lat, L->npoints, 99));
	share = (double)(L->snap_obj_bytes + L->snap_index_bytes) / (double)L->info.bytes;
	run_label(c[0], sizeof(c[0]), L);
	bench_table_init(&t, 4, ht);
	snprintf(g, sizeof(g), "median, %s", c[0]);
	snprintf(v, sizeof(v), "%.2f ms", l_med);
	target_row(&t, g, v, "< 5 ms", l_med * 1e6 < TARGET_MEDIAN_NS);
	snprintf(g, sizeof(g), "p99, %s", c[0]);
	snprintf(v, sizeof(v), "%.2f ms", l_p99);
	target_row(&t, g, v, "< 20 ms", l_p99 * 1e6 < TARGET_P99_NS);
	if (S) {
		double s_med = ms(bench_percentile(S->lat, S->npoints, 50));

		run_label(c[1], sizeof(c[1]), S);
		snprintf(g, sizeof(g), "median %s / median %s", c[0], c[1]);
		snprintf(v, sizeof(v), "%.2fx", l_med / s_med);
		target_row(&t, g, v, "<= 2x", l_med / s_med <= TARGET_SCALING);
	}
	/*
	 * The same targets on the calling thread's CPU time: what a replay costs
	 * with a core to itself (the page cache is warm, so it hardly waits for
	 * I/O); on a shared machine the wall time adds the wait for a core.
	 */
	l_med = ms(bench_percentile(L->lat_cpu, L->npoints, 50));
	l_p99 = ms(bench_percentile(L->lat_cpu, L->npoints, 99));
	snprintf(g, sizeof(g), "CPU median, %s", c[0]);
	snprintf(v, sizeof(v), "%.2f ms", l_med);
	target_row(&t, g, v, "< 5 ms", l_med * 1e6 < TARGET_MEDIAN_NS);
	snprintf(g, sizeof(g), "CPU p99, %s", c[0]);
	snprintf(v, sizeof(v), "%.2f ms", l_p99);
	target_row(&t, g, v, "< 20 ms", l_p99 * 1e6 < TARGET_P99_NS);
	if (S) {
		double s_med = ms(bench_percentile(S->lat_cpu, S->npoints, 50));

		snprintf(g, sizeof(g), "CPU median %s / CPU median %s", c[0], c[1]);
		snprintf(v, sizeof(v), "%.2fx", l_med / s_med);
		target_row(&t, g, v, "<= 2x", l_med / s_med <= TARGET_SCALING);
	}
	snprintf(g, sizeof(g), "snapshots / segment bytes, %s", c[0]);
	snprintf(v, sizeof(v), "%.2f%%", 100.0 * share);
	target_row(&t, g, v, "< 5%", share < TARGET_SNAPSHOT_SHARE);
	printf("\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);
}

/* ---- the mode ------------------------------------------------------------ */

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: provtrace-bench replay [--events N] [--quick] [--points P] [--dir DIR]\n"
		"       [--naive P] [--cli P] [--provtrace PATH] [--snapshot-every K] [--keep]\n\n"
		"Record a training run (per step a loss metric; every %d steps an lr decision;\n"
		"every %d steps a checkpoint reference) of N events and one of N/%d events\n"
		"through the C API with default options, then time replay at P random steps\n"
		"against the fold from the first event, and report the snapshots' storage.\n\n"
		"  --events N   events of the large run (default %u; k/M suffixes accepted);\n"
		"               the small run has N/%d\n"
		"  --quick      %u events and %u points (a smoke run)\n"
		"  --points P   random steps replayed per run (default %u)\n"
		"  --naive P    points for the C fold from the first event (default %u; each\n"
		"               costs the whole history up to its step)\n"
		"  --cli P      points for `provtrace log --json --to step=N` (default %u;\n"
		"               0: none)\n"
		"  --provtrace PATH  the CLI (default: `provtrace` next to this program)\n"
		"  --dir DIR    keep the recorded runs in DIR/replay-<N>/ and reuse them in\n"
		"               later invocations (default: a temporary directory under\n"
		"               $TMPDIR or /tmp, removed afterwards)\n"
		"  --keep       keep the temporary directory (without --dir)\n"
		"  --snapshot-every K  record with pt_recorder_options.snapshot_every = K\n"
		"               instead of the default (to weigh replay time against storage)\n"
		"  --help       this text\n\n"
		"Exit status: 0 whether or not the targets are met; 1 if recording or a\n"
		"replay failed (or gave a wrong state); 2 on a usage error.\n",
		DECISION_EVERY, CHECKPOINT_EVERY, SMALL_DIVISOR, DEFAULT_EVENTS, SMALL_DIVISOR,
		QUICK_EVENTS, QUICK_POINTS, DEFAULT_POINTS, DEFAULT_NAIVE_POINTS,
		DEFAULT_CLI_POINTS);
}

/* `provtrace` in the directory of this program, if it is there. */
static char *find_provtrace(void)
{
	char self[PATH_MAX], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	p = bench_path_join(self, "provtrace");
	if (p && access(p, X_OK) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

static int alloc_run(replay_run *r, const replay_ctx *cx)
{
	r->steps = calloc(cx->points, sizeof(*r->steps));
	r->lat = calloc(cx->points, sizeof(*r->lat));
	r->lat_open = calloc(cx->points, sizeof(*r->lat_open));
	r->lat_cpu = calloc(cx->points, sizeof(*r->lat_cpu));
	r->naive = calloc(cx->naive_points + 1, sizeof(*r->naive));
	r->cli = calloc(cx->cli_points + 1, sizeof(*r->cli));
	if (!r->steps || !r->lat || !r->lat_open || !r->lat_cpu || !r->naive || !r->cli) {
		bench_err("out of memory");
		return -1;
	}
	return 0;
}

static void free_run(replay_run *r)
{
	pt_store_free(r->st);
	free(r->dir);
	free(r->store_dir);
	free(r->steps);
	free(r->lat);
	free(r->lat_open);
	free(r->lat_cpu);
	free(r->naive);
	free(r->cli);
}

int bench_replay_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' },
		{ "points", required_argument, NULL, 'p' },
		{ "naive", required_argument, NULL, 'N' },
		{ "cli", required_argument, NULL, 'C' },
		{ "provtrace", required_argument, NULL, 'P' },
		{ "dir", required_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },
		{ "snapshot-every", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	replay_ctx cx;
	replay_run runs[2];
	char *top = NULL;
	uint64_t n_opt = 0, p_opt = 0, naive_opt = UINT64_MAX, cli_opt = UINT64_MAX;
	int quick = 0, c, ret = BENCH_EXIT_ERROR;
	size_t i, nruns = 2;
	struct stat sb;

	memset(&cx, 0, sizeof(cx));
	memset(runs, 0, sizeof(runs));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:qp:N:C:P:d:ks:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(&n_opt, "--events", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'q':
			quick = 1;
			break;
		case 'p':
			if (bench_parse_count(&p_opt, "--points", optarg))
				return BENCH_EXIT_USAGE;
			if (p_opt > 1000000) {
				bench_err("--points: at most 1000000");
				return BENCH_EXIT_USAGE;
			}
			break;
		case 'N':
		case 'C': {
			uint64_t *dst = c == 'N' ? &naive_opt : &cli_opt;

			/* 0 turns the baseline off */
			if (strcmp(optarg, "0") == 0)
				*dst = 0;
			else if (bench_parse_count(dst, c == 'N' ? "--naive" : "--cli", optarg))
				return BENCH_EXIT_USAGE;
			if (*dst > 10000) {
				bench_err("%s: at most 10000", c == 'N' ? "--naive" : "--cli");
				return BENCH_EXIT_USAGE;
			}
			break;
		}
		case 'P':
			cx.provtrace = optarg;
			break;
		case 'd':
			cx.parent = optarg;
			break;
		case 'k':
			cx.keep = 1;
			break;
		case 's': {
			uint64_t k;

			if (bench_parse_count(&k, "--snapshot-every", optarg))
				return BENCH_EXIT_USAGE;
			if (k > UINT32_MAX) {
				bench_err("--snapshot-every: at most %" PRIu32, UINT32_MAX);
				return BENCH_EXIT_USAGE;
			}
			cx.snapshot_every = (uint32_t)k;
			break;
		}
		case 'h':
			replay_usage(stdout);
			return BENCH_EXIT_OK;
		default:
			return bench_bad_option("replay", argv, replay_usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("replay", argv[optind], replay_usage);
	cx.n_large = n_opt ? n_opt : quick ? QUICK_EVENTS : DEFAULT_EVENTS;
	cx.points = p_opt ? p_opt : quick ? QUICK_POINTS : DEFAULT_POINTS;
	cx.naive_points = naive_opt != UINT64_MAX ? naive_opt
			  : quick		    ? QUICK_NAIVE_POINTS
						    : DEFAULT_NAIVE_POINTS;
	cx.cli_points = cli_opt != UINT64_MAX ? cli_opt
			: quick		      ? QUICK_CLI_POINTS
					      : DEFAULT_CLI_POINTS;
	if (cx.n_large < 100) {
		bench_err("--events: at least 100 (the small run has a tenth)");
		return BENCH_EXIT_USAGE;
	}
	if (cx.parent && (stat(cx.parent, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		bench_err("--dir %s: not an existing directory", cx.parent);
		return BENCH_EXIT_USAGE;
	}
	if (cx.provtrace && access(cx.provtrace, X_OK) != 0) {
		bench_err("--provtrace %s: not an executable file", cx.provtrace);
		return BENCH_EXIT_USAGE;
	}
	if (!cx.provtrace && cx.cli_points) {
		cx.provtrace_found = find_provtrace();
		cx.provtrace = cx.provtrace_found;
		if (!cx.provtrace) {
			fprintf(stderr, "provtrace-bench: no `provtrace` next to this program: the "
					"CLI baseline is skipped (--provtrace PATH)\n");
			cx.cli_points = 0;
		}
	}
	runs[0].events = cx.n_large;
	runs[1].events = cx.n_large / SMALL_DIVISOR;
	runs[0].snapshot_every = runs[1].snapshot_every = cx.snapshot_every;
	for (i = 0; i < nruns; i++)
		if (alloc_run(&runs[i], &cx))
			goto done;
	if (cx.parent) {
		top = strdup(cx.parent);
		if (!top) {
			bench_err("out of memory");
			goto done;
		}
	} else if (bench_mkdtemp(&top, NULL, "provtrace-bench-replay-")) {
		goto done;
	}

	printf("provtrace-bench replay: runs of %" PRIu64 " and %" PRIu64 " events, %zu random "
	       "steps each, in %s\n",
	       runs[0].events, runs[1].events, cx.points, top);
	{
		pt_recorder_options d;

		pt_recorder_options_init(&d, PT_RECORDER_OPTIONS_VERSION);
		if (cx.snapshot_every)
			printf("provtrace %s; recorder defaults except snapshot_every = %" PRIu32
			       " (--snapshot-every; default %" PRIu32 ")\n",
			       pt_version(), cx.snapshot_every, d.snapshot_every);
		else
			printf("provtrace %s; recorder defaults (snapshot_every = %" PRIu32 ")\n",
			       pt_version(), d.snapshot_every);
	}
	bench_print_machine(stdout);
	fflush(stdout);

	for (i = 0; i < nruns; i++) {
		replay_run *r = &runs[i];
		char label[48];

		if (prepare_run(&cx, top, r) || measure_storage(r))
			goto done;
		run_label(label, sizeof(label), r);
		if (r->cached)
			printf("%s: reused from %s\n", label, r->dir);
		else
			printf("%s: recorded in %.1f s (%.0f events/s, snapshots included)\n",
			       label, r->build_s, (double)r->events / r->build_s);
		fflush(stdout);
	}
	for (i = 0; i < nruns; i++) {
		replay_run *r = &runs[i];
		char label[48];

		run_label(label, sizeof(label), r);
		make_points(r, cx.points);
		fprintf(stderr, "  %s: replay at %zu steps ...", label, cx.points);
		if (measure_replay(&cx, r))
			goto fail_line;
		fprintf(stderr, " naive C fold at %zu ...", cx.naive_points);
		if (measure_naive(&cx, r))
			goto fail_line;
		if (cx.cli_points) {
			fprintf(stderr, " provtrace log --json at %zu ...", cx.cli_points);
			if (measure_cli(&cx, r))
				goto fail_line;
		}
		fprintf(stderr, " done\n");
	}
	print_results(runs, nruns);
	printf("\nat the end: ");
	bench_print_machine(stdout);
	ret = BENCH_EXIT_OK;
	goto done;
fail_line:
	fprintf(stderr, " failed\n");
done:
	for (i = 0; i < nruns; i++)
		free_run(&runs[i]);
	if (top && !cx.parent) {
		if (cx.keep)
			printf("files kept in %s\n", top);
		else if (bench_rm_rf(top) && ret == BENCH_EXIT_OK)
			ret = BENCH_EXIT_ERROR;
	} else if (top) {
		printf("runs kept in %s for the next invocation\n", top);
	}
	fflush(stdout);
	free(top);
	free(cx.provtrace_found);
	return ret;
}
