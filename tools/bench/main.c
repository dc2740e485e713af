/*
 * main.c - provtrace-bench: `provtrace-bench <mode> [options]`.
 */
#include "bench.h"

#include <string.h>

/* One line per mode. */
static const bench_mode modes[] = {
	{ "events", "append a training event mix via provtrace and baselines", bench_events_run },
	{ "code", "code provenance capture vs git status + git diff", bench_code_run },
	{ "archive", "archive and restore segments + chunks vs GNU tar + sha256sum", bench_archive_run },
	{ "replay", "replay a long run at random steps vs folding from the start", bench_replay_run },
	{ "checkpoint", "store a 1 GiB float32 state dict twice via provtrace and peers", bench_checkpoint_run },
	{ "reopen", "reopen a stream after kill -9 vs after a clean close", bench_reopen_run },
	{ "runs", "query 1,000 runs (--where/--sort) and export a 10M-event metric vs Python loops", bench_runs_run },
	{ "report", "the HTML report of a 1M- and a 10M-event run vs reading its series", bench_report_run },
	{ "live", "consumer latency and throughput, streaming vs all-or-nothing emit", bench_live_run },
	{ "proof", "signed checkpoints: writer with/without signing, prove and check-proof latency, bundle size", bench_proof_run },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: provtrace-bench <mode> [options]\n"
		   "       provtrace-bench <mode> --help\n\nmodes:\n");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-12s %s\n", modes[i].name, modes[i].help);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			return modes[i].run(argc - 1, argv + 1);
	bench_err("unknown mode '%s'", argv[1]);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
