/*
 * bench_runs.c - `provtrace-bench runs`: queries over many runs and the
 * downsampled metric export of one long run (issue 13), against what a user
 * writes without them: a Python loop over Run.events().
 *
 *   store: N runs x E events (a `train_loss` every step, a `val_loss` every
 *   10th, a few params, a run_end), plus one run of B metric events.
 *
 *   query cold   pt_runs_query_json("min.val_loss < 0.1", sort min.val_loss,
 *                limit 5) with no summaries yet: every run's events are read
 *                once and the summaries written
 *   query warm   the same again (median of 5): summaries up to date, no event read
 *                (target < 200 ms at 1,000 runs)
 *   query +1     after appending 1,000 events to one run (that run's new events only)
 *   metrics      pt_metrics_read(points = 2000) of the B-event run (target < 1 s at 10M)
 *   baselines    the Python loop over events() for the same answers, run on
 *                a part (K runs; the first P events of the long run) and
 *                scaled linearly to the whole, since the whole takes minutes
 *                (the part's own time is printed too)
 *
 * The answers are checked: the query's runs are the ones the generator made
 * with a minimum under 0.1, in order; the metric series keeps its minimum.
 */
#include "bench.h"

#include <provtrace.h>

#include <getopt.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef PT_SOURCE_DIR
#define PT_SOURCE_DIR "."
#endif
#ifndef PT_LIB_PATH
#define PT_LIB_PATH ""
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: provtrace-bench runs [--runs N] [--events N] [--big N] [--baseline-runs K]\n"
		"                            [--baseline-events P] [--dir DIR] [--keep] [--no-baseline] [--quick]\n"
		"\n"
		"  --runs N             runs in the store (default 1000; --quick 30)\n"
		"  --events N           events per run (default 100k; --quick 2000)\n"
		"  --big N              events of the long run for the metrics export (default 10M; --quick 100k)\n"
		"  --baseline-runs K    runs the Python baseline reads (default 10; --quick all)\n"
		"  --baseline-events P  events of the long run the Python baseline reads (default 1M; --quick all)\n"
		"  --dir DIR            where the store is made (default $TMPDIR or /tmp)\n"
		"  --keep               keep the store\n"
		"  --no-baseline        skip the Python baselines\n");
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* val_loss of run i: a curve whose minimum is run-dependent (about 1 run in 7 ends below 0.1). */
static double run_min(uint64_t i) { return 0.02 + (double)((i * 7919) % 97) / 100.0; }

static int record_run(pt_store *st, const char *name, uint64_t idx, uint64_t events)
{
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.durability = PT_DURABILITY_NONE;
	pt_recorder *r = NULL;
	pt_event *ev = NULL;
	int rc = pt_recorder_open(&r, st, name, NULL, &o);
	if (!rc)
		rc = pt_event_new(&ev, "param", "lr");
	if (!rc)
		rc = pt_event_double(ev, "value", 1e-3 * (double)(1 + idx % 10));
	if (!rc)
		rc = pt_recorder_append(r, ev, NULL);
	if (!rc)
		rc = pt_recorder_tag(r, "bench", "runs");
	double lo = run_min(idx);
	uint64_t steps = events > 4 ? events - 3 : 1;
	for (uint64_t s = 0; s < steps && !rc; s++) {
		if (s % 10 == 9) {
			/* val_loss falls to its minimum at 80% of the run, then rises a little */
			double x = (double)s / (double)steps;
			double v = x < 0.8 ? lo + (1.0 - lo) * (1.0 - x / 0.8) : lo + (x - 0.8) * 0.5;
			rc = pt_recorder_metric(r, "val_loss", v, (int64_t)s);
		} else {
			rc = pt_recorder_metric(r, "train_loss", 1.0 / (double)(s + 1), (int64_t)s);
		}
	}
	if (!rc)
		rc = pt_recorder_end(r, "finished", NULL, NULL);
	pt_event_free(ev);
	int crc = r ? pt_recorder_close(r) : 0;
	return rc ? rc : crc;
}

static int record_big(pt_store *st, uint64_t events)
{
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.durability = PT_DURABILITY_NONE;
	pt_recorder *r = NULL;
	int rc = pt_recorder_open(&r, st, "big", NULL, &o);
	for (uint64_t s = 0; s < events && !rc; s++)
		rc = pt_recorder_metric(r, "loss", 1.0 / (double)(s + 1) + 0.01 * (double)(s % 2000) / 2000.0, (int64_t)s);
	int crc = r ? pt_recorder_close(r) : 0;
	return rc ? rc : crc;
}

/* Run a Python script that prints one number (seconds); -1 on failure. */
static double python_secs(const char *script, const char *store, uint64_t arg)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd,
		 "PYTHONPATH='%s/bindings/python' PROVTRACE_LIB='%s' PYTHONDONTWRITEBYTECODE=1 "
		 "/usr/bin/python3 - '%s' %llu <<'EOF'\n%s\nEOF",
		 PT_SOURCE_DIR, PT_LIB_PATH, store, (unsigned long long)arg, script);
	FILE *fp = popen(cmd, "r");
	double v = -1;
	if (!fp || fscanf(fp, "%lf", &v) != 1)
		v = -1;
	if (fp && pclose(fp) != 0)
		v = -1;
	return v;
}

/* What a user writes today: every run's events, the minimum of val_loss, the best five. */
static const char query_script[] =
	"import sys, time, provtrace\n"
	"store, k = sys.argv[1], int(sys.argv[2])\n"
	"t0 = time.monotonic()\n"
	"best = []\n"
	"for name in [r for r in provtrace.runs(store) if r != 'big'][:k]:\n"
	"    m = None\n"
	"    for e in provtrace.open_run(name, store=store).events(kind='metric'):\n"
	"        if e.get('name') == 'val_loss' and (m is None or e['value'] < m):\n"
	"            m = e['value']\n"
	"    if m is not None and m < 0.1:\n"
	"        best.append((m, name))\n"
	"best = sorted(best)[:5]\n"
	"print(time.monotonic() - t0)\n";

/* ... and the long run's loss curve, collected for a plot. */
static const char metrics_script[] =
	"import sys, time, provtrace, numpy as np\n"
	"store, p = sys.argv[1], int(sys.argv[2])\n"
	"t0 = time.monotonic()\n"
	"steps, vals = [], []\n"
	"for e in provtrace.open_run('big', store=store).events(kind='metric', seq_max=p):\n"
	"    if e.get('name') == 'loss' and 'step' in e:\n"
	"        steps.append(e['step']); vals.append(e['value'])\n"
	"s, v = np.array(steps), np.array(vals)\n"
	"print(time.monotonic() - t0)\n";

int bench_runs_run(int argc, char **argv)
{
	uint64_t nruns = 1000, events = 100000, big = 10000000, base_runs = 10, base_events = 1000000;
	int quick = 0, keep = 0, no_base = 0, set_runs = 0, set_events = 0, set_big = 0, set_br = 0, set_be = 0;
	const char *dir = NULL;
	static const struct option lo[] = {{"runs", required_argument, NULL, 'r'},
					   {"events", required_argument, NULL, 'e'},
					   {"big", required_argument, NULL, 'b'},
					   {"baseline-runs", required_argument, NULL, 'k'},
					   {"baseline-events", required_argument, NULL, 'p'},
					   {"dir", required_argument, NULL, 'd'},
					   {"keep", no_argument, NULL, 'K'},
					   {"no-baseline", no_argument, NULL, 'n'},
					   {"quick", no_argument, NULL, 'q'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 'r': if (bench_parse_count(&nruns, "--runs", optarg)) return BENCH_EXIT_USAGE; set_runs = 1; break;
		case 'e': if (bench_parse_count(&events, "--events", optarg)) return BENCH_EXIT_USAGE; set_events = 1; break;
		case 'b': if (bench_parse_count(&big, "--big", optarg)) return BENCH_EXIT_USAGE; set_big = 1; break;
		case 'k': if (bench_parse_count(&base_runs, "--baseline-runs", optarg)) return BENCH_EXIT_USAGE; set_br = 1; break;
		case 'p': if (bench_parse_count(&base_events, "--baseline-events", optarg)) return BENCH_EXIT_USAGE; set_be = 1; break;
		case 'd': dir = optarg; break;
		case 'K': keep = 1; break;
		case 'n': no_base = 1; break;
		case 'q': quick = 1; break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: return bench_bad_option("runs", argv, usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("runs", argv[optind], usage);
	if (quick) {
		nruns = set_runs ? nruns : 30;
		events = set_events ? events : 2000;
		big = set_big ? big : 100000;
	}
	if (quick && !set_br)
		base_runs = nruns;
	if (quick && !set_be)
		base_events = big;
	if (base_runs > nruns)
		base_runs = nruns;
	if (base_events > big)
		base_events = big;
	if (nruns > 1000000 || events < 10) {
		bench_err("--runs at most 1M, --events at least 10");
		return BENCH_EXIT_USAGE;
	}

	char *root = NULL;
	if (bench_mkdtemp(&root, dir, "pt-bench-runs-"))
		return BENCH_EXIT_ERROR;
	char *spath = bench_path_join(root, "store");
	pt_store *st = NULL;
	int ret = BENCH_EXIT_ERROR;
	char *json = NULL;
	bench_table t;
	const char *head[] = {"measure", "provtrace", "baseline (Python loop)", "ratio", "target"};
	bench_table_init(&t, 5, head);
	if (!spath || pt_store_init(&st, spath)) {
		bench_err("cannot make a store: %s", pt_error_last());
		goto done;
	}
	bench_print_machine(stdout);
	printf("store: %llu runs x %llu events + one run of %llu metric events\n", (unsigned long long)nruns,
	       (unsigned long long)events, (unsigned long long)big);
	fflush(stdout);
	uint64_t t0 = bench_mono_ns();
	for (uint64_t i = 0; i < nruns; i++) {
		char name[32];
		snprintf(name, sizeof name, "run-%06llu", (unsigned long long)i);
		if (record_run(st, name, i, events)) {
			bench_err("recording %s: %s", name, pt_error_last());
			goto done;
		}
	}
	if (record_big(st, big)) {
		bench_err("recording big: %s", pt_error_last());
		goto done;
	}
	printf("recorded in %.1f s (%.1f M events/s)\n", secs(bench_mono_ns() - t0),
	       (double)(nruns * events + big) / 1e6 / secs(bench_mono_ns() - t0));
	if (bench_settle(spath))
		goto done;

	/* the expected answer: runs with a minimum under 0.1, best first */
	const char *where = "min.val_loss < 0.1", *sort = "min.val_loss";
	uint64_t t_cold0 = bench_mono_ns();
	if (pt_runs_query_json(st, where, sort, 5, &json)) {
		bench_err("query: %s", pt_error_last());
		goto done;
	}
	uint64_t t_cold = bench_mono_ns() - t_cold0;
	{
		/* check: the five names are those with the smallest run_min() under 0.1 */
		uint64_t want[5];
		size_t nw = 0;
		for (size_t k = 0; k < 5; k++) {
			uint64_t best = UINT64_MAX;
			for (uint64_t i = 0; i < nruns; i++) {
				double m = run_min(i);
				bool taken = false;
				for (size_t j = 0; j < nw; j++)
					taken |= want[j] == i;
				if (m < 0.1 && !taken && (best == UINT64_MAX || m < run_min(best)))
					best = i;
			}
			if (best == UINT64_MAX)
				break;
			want[nw++] = best;
		}
		const char *p = json;
		for (size_t k = 0; k < nw; k++) {
			char needle[48];
			snprintf(needle, sizeof needle, "{\"run\":\"run-%06llu\"", (unsigned long long)want[k]);
			const char *q = strstr(p, needle);
			if (!q) {
				bench_err("the query's answer is not the expected one (missing run-%06llu):\n%.2000s",
					  (unsigned long long)want[k], json);
				goto done;
			}
			p = q + 1;
		}
	}
	pt_free(json);
	json = NULL;
	uint64_t warm[5];
	bench_cpu cpu0, cpu1;
	bench_cpu_now(&cpu0);
	for (int k = 0; k < 5; k++) {
		uint64_t a = bench_mono_ns();
		if (pt_runs_query_json(st, where, sort, 5, &json)) {
			bench_err("query: %s", pt_error_last());
			goto done;
		}
		warm[k] = bench_mono_ns() - a;
		pt_free(json);
		json = NULL;
	}
	bench_cpu_now(&cpu1);
	double warm_cpu_ms = (double)(cpu1.process_ns - cpu0.process_ns) / 5 / 1e6;
	bench_sort_u64(warm, 5);
	/* one run grows: only its new events are read */
	{
		pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
		pt_recorder *r = NULL;
		if (pt_recorder_open(&r, st, "run-000000", NULL, &o)) {
			bench_err("append: %s", pt_error_last());
			goto done;
		}
		for (int s = 0; s < 1000; s++)
			pt_recorder_metric(r, "val_loss", 0.5, (int64_t)(events + (uint64_t)s));
		pt_recorder_close(r);
	}
	uint64_t a1 = bench_mono_ns();
	if (pt_runs_query_json(st, where, sort, 5, &json)) {
		bench_err("query: %s", pt_error_last());
		goto done;
	}
	uint64_t t_inc = bench_mono_ns() - a1;
	pt_free(json);
	json = NULL;

	/* metrics --points 2000 of the long run */
	uint64_t mt[3];
	for (int k = 0; k < 3; k++) {
		pt_metric_series *s = NULL;
		size_t ns = 0;
		uint64_t a = bench_mono_ns();
		if (pt_metrics_read(st, "big", NULL, NULL, 0, 1, 2000, &s, &ns)) {
			bench_err("metrics: %s", pt_error_last());
			goto done;
		}
		mt[k] = bench_mono_ns() - a;
		double mn = INFINITY;
		for (size_t i = 0; ns && i < s[0].n; i++)
			mn = s[0].values[i] < mn ? s[0].values[i] : mn;
		bool ok = ns == 1 && s[0].n <= 2000 && s[0].n > 0;
		pt_metrics_free(s, ns);
		if (!ok || !(mn < 1.0)) {
			bench_err("metrics: unexpected series");
			goto done;
		}
	}
	bench_sort_u64(mt, 3);

	double bq = -1, bm = -1, bq_scaled = -1, bm_scaled = -1;
	if (!no_base) {
		bq = python_secs(query_script, spath, base_runs);
		bm = python_secs(metrics_script, spath, base_events);
		if (bq < 0 || bm < 0)
			printf("(a Python baseline could not run: /usr/bin/python3 with the binding at %s/bindings/python)\n",
			       PT_SOURCE_DIR);
		if (bq >= 0)
			bq_scaled = bq * (double)nruns / (double)base_runs;
		if (bm >= 0)
			bm_scaled = bm * (double)big / (double)base_events;
	}
	char c1[64], c2[96], c3[32], c4[32];
	const char *row[5];
#define ROW(label, ours, theirs, ratio, target)               \
	do {                                                    \
		row[0] = label, row[1] = ours, row[2] = theirs; \
		row[3] = ratio, row[4] = target;                \
		bench_table_row(&t, row);                       \
	} while (0)
	char lab[160];
	snprintf(lab, sizeof lab, "query warm: runs --where '%s' --sort %s --limit 5 (%llu runs)", where, sort,
		 (unsigned long long)nruns);
	snprintf(c1, sizeof c1, "%.1f ms (CPU %.1f ms)", (double)warm[2] / 1e6, warm_cpu_ms);
	if (bq_scaled >= 0)
		snprintf(c2, sizeof c2, "%.1f s (%.2f s for %llu runs)", bq_scaled, bq, (unsigned long long)base_runs);
	else
		snprintf(c2, sizeof c2, "-");
	snprintf(c3, sizeof c3, bq_scaled >= 0 ? "%.0fx" : "-", bq_scaled / ((double)warm[2] / 1e9));
	ROW(lab, c1, c2, c3, "< 200 ms");
	snprintf(c1, sizeof c1, "%.2f s", secs(t_cold));
	snprintf(c3, sizeof c3, bq_scaled >= 0 ? "%.1fx" : "-", bq_scaled / secs(t_cold));
	ROW("query cold (no summaries yet: every event read once)", c1, c2, c3, "-");
	snprintf(c1, sizeof c1, "%.1f ms", (double)t_inc / 1e6);
	ROW("query after 1,000 events appended to one run", c1, "-", "-", "-");
	snprintf(lab, sizeof lab, "metrics --points 2000 of a %s-event run (pt_metrics_read)",
		 bench_fmt_count(c4, sizeof c4, (double)big));
	snprintf(c1, sizeof c1, "%.3f s", secs(mt[1]));
	if (bm_scaled >= 0)
		snprintf(c2, sizeof c2, "%.1f s (%.2f s for %llu events)", bm_scaled, bm, (unsigned long long)base_events);
	else
		snprintf(c2, sizeof c2, "-");
	snprintf(c3, sizeof c3, bm_scaled >= 0 ? "%.0fx" : "-", bm_scaled / secs(mt[1]));
	ROW(lab, c1, c2, c3, "< 1 s");
	bench_table_print(&t, stdout);
	printf("baselines: a Python loop over Run.events() (the first %llu runs; the first %llu events of the long "
	       "run), scaled linearly to the whole\n",
	       (unsigned long long)base_runs, (unsigned long long)base_events);
	ret = BENCH_EXIT_OK;
done:
	bench_table_free(&t);
	pt_free(json);
	pt_store_free(st);
	if (!keep && root)
		bench_rm_rf(root);
	else if (root)
		printf("store kept in %s\n", spath);
	free(spath);
	free(root);
	return ret;
}
