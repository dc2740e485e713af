/*
 * bench_report.c - `provtrace-bench report`: the HTML report of a large run (issue 14).
 *
 * Records a run of N events (three metrics per step, a decision every N/10 events, a resume
 * at 60% that leaves an abandoned tail), then times pt_report_html without and with
 * verification, against the baseline of reading the same run once: pt_metrics_read of every
 * series without downsampling (what any plot of the run has to read first).  Target (issue
 * 14): a 10M-event run gives a report of at most 2 MB in at most 2 s.
 */
#include "bench.h"

#include <provtrace.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: provtrace-bench report [--events N[,N...]] [--repeat R] [--dir DIR] [--quick]\n"
		   "\n"
		   "Record runs of N events (default 1M,10M; --quick: 100k) and time the HTML report\n"
		   "(pt_report_html) without and with verification, against reading every metric\n"
		   "series once (pt_metrics_read).  Best of R (default 3; --quick: 1).\n");
}

#define MAX_SIZES 4

static int record(pt_store *st, uint64_t n)
{
	pt_recorder *rec = NULL;
	if (pt_recorder_open(&rec, st, "big", NULL, NULL))
		return -1;
	static const char *const names[] = {"loss", "lr", "grad_norm"};
	static const unsigned char set[] = {0x81, 0xa2, 'l', 'r', 0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a};
	uint64_t steps = n / 3, every = steps / 10 ? steps / 10 : 1;
	int64_t resume_at = (int64_t)(steps * 6 / 10);
	int rc = 0;
	for (uint64_t s = 0; s < steps && !rc; s++) {
		double v[3] = {1.0 / (1.0 + (double)s * 1e-4) + (s == steps / 3 ? 50.0 : 0.0), 0.1,
			       (double)(s % 97) / 97.0};
		rc = pt_recorder_metrics(rec, names, v, 3, (int64_t)s);
		if (!rc && s % every == every / 2)
			rc = pt_recorder_decision(rec, "lr", (int64_t)s, set, sizeof set, "schedule", "cosine", NULL, 0,
						  NULL);
	}
	/* a resume at 60%: the last 40% become an abandoned attempt, drawn faded */
	if (!rc)
		rc = pt_recorder_resume(rec, resume_at, -1, NULL, NULL);
	for (uint64_t s = (uint64_t)resume_at + 1; s < (uint64_t)resume_at + 1 + steps / 20 && !rc; s++) {
		double v[3] = {0.5, 0.01, 0.5};
		rc = pt_recorder_metrics(rec, names, v, 3, (int64_t)s);
	}
	if (rc) {
		bench_err("recording: %s", pt_error_last());
		pt_recorder_close(rec);
		return -1;
	}
	if (pt_recorder_close(rec)) {
		bench_err("close: %s", pt_error_last());
		return -1;
	}
	return 0;
}

/* Best wall time in s of `repeat` reports (and the CPU time of the process, all threads, in that
 * best one: what the report costs on free cores, whatever else the machine runs); size in *bytes. */
static int time_report(pt_store *st, int verify, uint64_t repeat, double *best, double *cpu, size_t *bytes)
{
	const char *runs[] = {"big"};
	pt_report_options o = PT_REPORT_OPTIONS_INIT;
	o.verify = verify;
	*best = 1e30;
	for (uint64_t r = 0; r < repeat; r++) {
		char *html = NULL;
		bench_cpu c0, c1;
		bench_cpu_now(&c0);
		uint64_t t0 = bench_mono_ns();
		if (pt_report_html(st, runs, 1, &o, &html, bytes)) {
			bench_err("report: %s", pt_error_last());
			return -1;
		}
		double t = (double)(bench_mono_ns() - t0) / 1e9;
		bench_cpu_now(&c1);
		pt_free(html);
		if (t < *best) {
			*best = t;
			*cpu = (double)(c1.process_ns - c0.process_ns) / 1e9;
		}
	}
	return 0;
}

static int time_read(pt_store *st, uint64_t repeat, double *best, uint64_t *points)
{
	*best = 1e30;
	for (uint64_t r = 0; r < repeat; r++) {
		pt_metric_series *s = NULL;
		size_t n = 0;
		uint64_t t0 = bench_mono_ns();
		if (pt_metrics_read(st, "big", NULL, NULL, 0, 0, 0, &s, &n)) {
			bench_err("metrics: %s", pt_error_last());
			return -1;
		}
		double t = (double)(bench_mono_ns() - t0) / 1e9;
		*points = 0;
		for (size_t i = 0; i < n; i++)
			*points += s[i].n;
		pt_metrics_free(s, n);
		if (t < *best)
			*best = t;
	}
	return 0;
}

int bench_report_run(int argc, char **argv)
{
	static const struct option longopts[] = {{"events", required_argument, NULL, 'n'},
						 {"repeat", required_argument, NULL, 'r'},
						 {"dir", required_argument, NULL, 'd'},
						 {"quick", no_argument, NULL, 'q'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	uint64_t sizes[MAX_SIZES] = {1000000, 10000000};
	size_t nsizes = 2;
	uint64_t repeat = 3;
	const char *parent = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:r:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			nsizes = 0;
			char *s = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || bench_parse_count(&sizes[nsizes], "--events", t)) {
					if (nsizes == MAX_SIZES)
						bench_err("--events: at most %d sizes", MAX_SIZES);
					free(s);
					return BENCH_EXIT_USAGE;
				}
				nsizes++;
			}
			free(s);
			if (!nsizes) {
				bench_err("--events: no size given");
				return BENCH_EXIT_USAGE;
			}
			break;
		}
		case 'r':
			if (bench_parse_count(&repeat, "--repeat", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'd': parent = optarg; break;
		case 'q':
			sizes[0] = 100000, nsizes = 1, repeat = 1;
			break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: return bench_bad_option("report", argv, usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("report", argv[optind], usage);
	if (repeat > 20)
		repeat = 20;
	char *dir;
	if (bench_mkdtemp(&dir, parent, "pt-bench-report-"))
		return BENCH_EXIT_ERROR;
	printf("provtrace-bench report: a run of N events (3 metrics per step, 10 decisions, a resume at 60%%), "
	       "best of %llu\n",
	       (unsigned long long)repeat);
	bench_print_machine(stdout);
	static const char *const head[] = {"events", "baseline: read all series", "report, no verify (CPU)", "ratio",
					   "report with verify (CPU)", "size", "target (10M)"};
	bench_table t;
	bench_table_init(&t, 7, head);
	int status = BENCH_EXIT_OK;
	for (size_t i = 0; i < nsizes && status == BENCH_EXIT_OK; i++) {
		char *store = bench_path_join(dir, "store");
		pt_store *st = NULL;
		if (!store || pt_store_init(&st, store) || record(st, sizes[i])) {
			if (!st)
				bench_err("%s", pt_error_last());
			status = BENCH_EXIT_ERROR;
		}
		double read_s = 0, rep_s = 0, ver_s = 0, rep_cpu = 0, ver_cpu = 0;
		size_t bytes = 0, bytes2 = 0;
		uint64_t points = 0;
		if (status == BENCH_EXIT_OK &&
		    (time_read(st, repeat, &read_s, &points) || time_report(st, 0, repeat, &rep_s, &rep_cpu, &bytes) ||
		     time_report(st, 1, repeat, &ver_s, &ver_cpu, &bytes2)))
			status = BENCH_EXIT_ERROR;
		if (status == BENCH_EXIT_OK) {
			char c0[32], c1[32], c2[48], c3[32], c4[48], c5[40], c6[64];
			bench_fmt_count(c0, sizeof c0, (double)sizes[i]);
			snprintf(c1, sizeof c1, "%.3f s", read_s);
			snprintf(c2, sizeof c2, "%.3f s (%.3f s)", rep_s, rep_cpu);
			snprintf(c3, sizeof c3, "%.2f", read_s > 0 ? rep_s / read_s : 0);
			snprintf(c4, sizeof c4, "%.3f s (%.3f s)", ver_s, ver_cpu);
			snprintf(c5, sizeof c5, "%.1f KiB", (double)bytes / 1024);
			snprintf(c6, sizeof c6, "%s",
				 sizes[i] < 10000000 ? "-"
				 : rep_s <= 2.0 && bytes <= 2u << 20 ? "<= 2 s, 2 MB: MET"
				 : rep_cpu <= 2.0 && bytes <= 2u << 20 ? "MISSED (wall); CPU MET"
								       : "<= 2 s, 2 MB: MISSED");
			const char *row[] = {c0, c1, c2, c3, c4, c5, c6};
			bench_table_row(&t, row);
		}
		pt_store_free(st);
		if (store)
			bench_rm_rf(store);
		free(store);
	}
	bench_table_print(&t, stdout);
	printf("baseline: pt_metrics_read of every series, every event, no downsampling (the read any plot "
	       "needs); ratio: report without verification / baseline.  'with verify' adds pt_verify_report "
	       "on a second thread while the events are read.  (CPU): CPU time of the process, all threads.\n");
	bench_table_free(&t);
	bench_rm_rf(dir);
	free(dir);
	return status;
}
