/*
 * bench_proof.c - `provtrace-bench proof`: what signed checkpoints and proofs
 * cost (issue 18).
 *
 *  1. Writer: N metric events recorded without and with a signing key
 *     (rounds alternate, the best round of each is reported): events/s and
 *     CPU per event of the whole process.  Both include the Merkle tree
 *     (it is part of the format); the difference is the signing.
 *  2. prove: P random events of the signed stream: latency of pt_prove and
 *     the bundle's size; check-proof: latency of pt_check_proof on each.
 *     prove reads the stream once (O(N)): its time per event is reported
 *     and extrapolated to 10M events.
 */
#include "bench.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "provtrace.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: provtrace-bench proof [--events N] [--rounds R] [--points P] [--dir DIR] [--quick]\n"
		   "  --events  events per stream (default 1M)\n"
		   "  --rounds  alternating writer rounds without/with signing, best reported (default 3)\n"
		   "  --points  random events proven and checked (default 20)\n"
		   "  --dir     where to make the scratch store (default $TMPDIR or /tmp)\n"
		   "  --quick   100k events, 2 rounds, 5 points\n");
}

static int record(pt_store *st, const char *stream, uint64_t n, const char *key, double *secs, double *cpu_ns)
{
	pt_recorder *r;
	pt_event *e;
	bench_cpu c0, c1;
	bench_cpu_now(&c0);
	uint64_t t0 = bench_mono_ns();
	if (pt_recorder_open(&r, st, "bench", stream, NULL))
		return -1;
	if ((key && pt_recorder_set_signing_key(r, key)) || pt_event_new(&e, "metric", "loss")) {
		pt_recorder_close(r);
		return -1;
	}
	int rc = 0;
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = pt_event_reset(e, "metric", "loss") || pt_event_set_step(e, (int64_t)i) ||
		     pt_event_double(e, "value", 1.0 / (double)(i + 1)) || pt_recorder_append(r, e, NULL);
	pt_event_free(e);
	if (pt_recorder_close(r) || rc)
		return -1;
	uint64_t t1 = bench_mono_ns();
	bench_cpu_now(&c1);
	*secs = (double)(t1 - t0) / 1e9;
	*cpu_ns = (double)(c1.process_ns - c0.process_ns) / (double)n;
	return 0;
}

/* bytes this process read through read(2)/pread(2) so far (rchar; 0 where /proc is missing) */
static uint64_t read_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

int bench_proof_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'n'}, {"rounds", required_argument, NULL, 'r'},
		{"points", required_argument, NULL, 'p'}, {"dir", required_argument, NULL, 'd'},
		{"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	uint64_t n = 1000000, rounds = 3, points = 20;
	const char *parent = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "n:r:p:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(&n, "--events", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'r':
			if (bench_parse_count(&rounds, "--rounds", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'p':
			if (bench_parse_count(&points, "--points", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'd':
			parent = optarg;
			break;
		case 'q':
			n = 100000;
			rounds = 2;
			points = 5;
			break;
		case 'h':
			usage(stdout);
			return BENCH_EXIT_OK;
		default:
			return bench_bad_option("proof", argv, usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("proof", argv[optind], usage);
	char *dir = NULL;
	if (bench_mkdtemp(&dir, parent, "proof"))
		return BENCH_EXIT_ERROR;
	int ret = BENCH_EXIT_ERROR;
	char store[4200], key[4200], pub[4300];
	snprintf(store, sizeof store, "%s/store", dir);
	snprintf(key, sizeof key, "%s/bench.key", dir);
	snprintf(pub, sizeof pub, "%s/bench.key.pub", dir);
	pt_store *st = NULL;
	if (pt_store_init(&st, store) || pt_key_generate(key, "bench", NULL)) {
		bench_err("%s", pt_error_last());
		goto done;
	}
	bench_print_machine(stdout);
	double best_plain = 1e30, best_signed = 1e30, cpu_plain = 0, cpu_signed = 0;
	for (uint64_t k = 0; k < rounds; k++) {
		for (int signed_ = 0; signed_ < 2; signed_++) {
			char stream[32];
			snprintf(stream, sizeof stream, "%s%llu", signed_ ? "signed" : "plain", (unsigned long long)k);
			double s, cpu;
			if (record(st, stream, n, signed_ ? key : NULL, &s, &cpu)) {
				bench_err("recording: %s", pt_error_last());
				goto done;
			}
			if (signed_ && s < best_signed)
				best_signed = s, cpu_signed = cpu;
			if (!signed_ && s < best_plain)
				best_plain = s, cpu_plain = cpu;
		}
	}
	printf("\n| writer (%llu events, default options, best of %llu) | events/s | CPU ns/event (all threads) |\n"
	       "|:--|--:|--:|\n| without signing | %.0f | %.0f |\n| with a signing key | %.0f | %.0f |\n",
	       (unsigned long long)n, (unsigned long long)rounds, (double)n / best_plain, cpu_plain,
	       (double)n / best_signed, cpu_signed);
	double slower = best_signed / best_plain - 1.0;
	printf("signing: %+.1f%% time, %+.1f%% CPU per event (target: at most +10%%)\n\n", slower * 100,
	       (cpu_signed / cpu_plain - 1.0) * 100);

	/* prove and check-proof on the signed stream of the last round */
	char stream[32];
	snprintf(stream, sizeof stream, "signed%llu", (unsigned long long)(rounds - 1));
	uint64_t *tp = calloc(points, sizeof *tp), *tc = calloc(points, sizeof *tc), *sz = calloc(points, sizeof *sz),
		 *rd = calloc(points, sizeof *rd), *tu = calloc(points, sizeof *tu);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	/* the first proof of a stream builds its subtree-hash index (STREAM/merkle.idx):
	 * one pass over the stream, like every proof before the index */
	uint64_t first_ns = 0, first_read = 0;
	{
		char *bundle = NULL;
		uint64_t r0 = read_bytes(), t0 = bench_mono_ns();
		if (pt_prove(&bundle, st, "bench", stream, 1 + n / 2)) {
			bench_err("prove seq %llu: %s", (unsigned long long)(1 + n / 2), pt_error_last());
			goto done;
		}
		first_ns = bench_mono_ns() - t0;
		first_read = read_bytes() - r0;
		pt_free(bundle);
	}
	for (uint64_t i = 0; i < points; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t seq = 1 + x % n;
		char *bundle = NULL, *report = NULL;
		bench_cpu c0, c1;
		bench_cpu_now(&c0);
		uint64_t r0 = read_bytes(), t0 = bench_mono_ns();
		if (pt_prove(&bundle, st, "bench", stream, seq)) {
			bench_err("prove seq %llu: %s", (unsigned long long)seq, pt_error_last());
			goto done;
		}
		uint64_t t1 = bench_mono_ns();
		bench_cpu_now(&c1);
		tu[i] = c1.process_ns - c0.process_ns;
		rd[i] = read_bytes() - r0;
		if (pt_check_proof(&report, bundle, strlen(bundle), pub)) {
			bench_err("check-proof seq %llu: %s", (unsigned long long)seq, pt_error_last());
			pt_free(bundle);
			goto done;
		}
		uint64_t t2 = bench_mono_ns();
		tp[i] = t1 - t0;
		tc[i] = t2 - t1;
		sz[i] = strlen(bundle);
		pt_free(bundle);
		pt_free(report);
	}
	bench_sort_u64(tp, points);
	bench_sort_u64(tc, points);
	bench_sort_u64(sz, points);
	bench_sort_u64(rd, points);
	bench_sort_u64(tu, points);
	printf("| %llu random events of %llu | p50 | p99 | max |\n|:--|--:|--:|--:|\n"
	       "| prove latency (ms), index cached | %.2f | %.2f | %.2f |\n"
	       "| prove CPU time (ms), index cached | %.2f | %.2f | %.2f |\n"
	       "| prove bytes read (KiB), index cached | %.0f | %.0f | %.0f |\n"
	       "| bundle size (bytes) | %llu | %llu | %llu |\n"
	       "| check-proof latency (ms) | %.3f | %.3f | %.3f |\n",
	       (unsigned long long)points, (unsigned long long)n, bench_percentile(tp, points, 50) / 1e6,
	       bench_percentile(tp, points, 99) / 1e6, bench_percentile(tp, points, 100) / 1e6,
	       bench_percentile(tu, points, 50) / 1e6, bench_percentile(tu, points, 99) / 1e6,
	       bench_percentile(tu, points, 100) / 1e6,
	       bench_percentile(rd, points, 50) / 1024.0, bench_percentile(rd, points, 99) / 1024.0,
	       bench_percentile(rd, points, 100) / 1024.0, (unsigned long long)bench_percentile(sz, points, 50),
	       (unsigned long long)bench_percentile(sz, points, 99), (unsigned long long)bench_percentile(sz, points, 100),
	       bench_percentile(tc, points, 50) / 1e6, bench_percentile(tc, points, 99) / 1e6,
	       bench_percentile(tc, points, 100) / 1e6);
	printf("first prove of the stream (builds the subtree-hash index, one pass): %.1f ms, %.1f MiB read\n",
	       first_ns / 1e6, first_read / 1048576.0);
	free(tp);
	free(tc);
	free(sz);
	free(rd);
	free(tu);
	ret = BENCH_EXIT_OK;
done:
	pt_store_free(st);
	if (dir) {
		char cmd[4400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd)) {
		}
		free(dir);
	}
	return ret;
}
