/*
 * main.c - the `provtrace` command line: global options and the command table.
 *
 *   provtrace [--store DIR] <command> [options]
 *
 * --store is accepted before the command name here, and after it by every
 * command (cli_parse adds it to every command's option table).
 */
#include "cli.h"

#include <string.h>

static const cli_command commands[] = {
	{"init", cmd_init, "create a store"},
	{"runs", cmd_runs, "list runs and their streams"},
	{"emit", cmd_emit, "append events given as JSON lines on stdin"},
	{"log", cmd_log, "show the events of a stream (filters, --json, -f)"},
	{"verify", cmd_verify, "check every checksum, hash and the chains"},
	{"replay", cmd_replay, "the state of a run at any point (--at step=N|seq=N|time=T), and why"},
	{"diff", cmd_diff, "what changed between two points of a run"},
	{"stats", cmd_stats, "storage statistics per stream"},
	{"code", cmd_code, "code provenance of a run (--diff, --restore DIR)"},
	{"archive", cmd_archive, "scheduled tar archives: plans, run, ls, verify, prune, hold"},
	{"restore", cmd_restore, "extract an archive into a store"},
	{"checkpoint", cmd_checkpoint, "list checkpoints (ls), show one by path (show) or export one as .npy files (export)"},
	{"gc", cmd_gc, "remove stored objects no event references"},
	{"seal", cmd_seal, "recover and seal the open segment of streams whose writer is gone"},
	{"metrics", cmd_metrics, "metric series of a run on its live path (csv, tsv, json; --points)"},
	{"data", cmd_data, "datasets and artifacts of a run; `data verify`: are the dataset files unchanged"},
	{"remote", cmd_remote, "S3-compatible buckets holding a copy of the history (add, ls, rm)"},
	{"push", cmd_push, "upload what a remote lacks (segments, chain records, objects)"},
	{"clone", cmd_clone, "a full local store from a remote, verified"},
	{"tag", cmd_tag, "add tags KEY=VALUE and a note to a run"},
	{"compare", cmd_compare, "runs side by side: params that differ, metrics, decisions, code, duration"},
	{"report", cmd_report, "one self-contained HTML page of runs: charts, decisions, checkpoints, params, code"},
	{"ui", cmd_ui, "a local read-only web UI: runs, queries, reports, live charts (--port, --bind)"},
	{"consume", cmd_consume, "a durable consumer: hand new events in batches to a command (--exec), with retries"},
	{"consumers", cmd_consumers, "list consumers with position and lag (ls), move one (reset), forget one (rm)"},
	{"mirror", cmd_mirror, "a built-in consumer publishing events to a Kinesis stream (PutRecords)"},
	{"key", cmd_key, "Ed25519 keys for signed checkpoints: generate, trust"},
	{"prove", cmd_prove, "a proof bundle for one event (or between two checkpoints) anyone can check"},
	{"check-proof", cmd_check_proof, "check a proof bundle offline with the signer's public key"},
	{"anchor", cmd_anchor, "push the signed checkpoints of every stream to a git remote (verify --anchors checks them)"},
};

static void usage(FILE *f)
{
	fputs("usage: provtrace [--store DIR] <command> [options]\n"
	      "       provtrace --version | --help\n"
	      "\n"
	      "Records machine-learning training as a tamper-evident, compressed event log.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "The store is --store DIR, else $PROVTRACE_STORE, else the nearest .provtrace/\n"
	      "directory in the current directory or a parent.\n"
	      "Run 'provtrace <command> --help' for the options of a command.\n"
	      "Exit codes: 0 ok, 1 error, 2 usage.\n",
	      f);
}

int main(int argc, char **argv)
{
	cli_ctx ctx = {0};
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--store")) {
			if (i + 1 >= argc)
				return cli_usage(NULL, "option '--store' needs a value");
			ctx.store = argv[++i];
		} else if (!strncmp(a, "--store=", 8)) {
			ctx.store = a + 8;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(a, "--version")) {
			printf("provtrace %s (library %s, ABI %d)\n", PT_VERSION_STRING, pt_version(),
			       pt_abi_version());
			return CLI_OK;
		} else if (a[0] == '-') {
			return cli_usage(NULL, "unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (ctx.store && !*ctx.store)
		return cli_usage(NULL, "option '--store' needs a non-empty value");
	if (i >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		/* `provtrace help CMD` == `provtrace CMD --help` */
		if (i + 1 < argc) {
			for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
				if (!strcmp(commands[c].name, argv[i + 1])) {
					char *hargv[] = {argv[i + 1], (char *)"--help", NULL};
					int rc = commands[c].fn(&ctx, 2, hargv);
					cli_parse_release();
					return rc;
				}
			return cli_usage(NULL, "unknown command '%s'", argv[i + 1]);
		}
		usage(stdout);
		return CLI_OK;
	}
	for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
		if (!strcmp(commands[c].name, argv[i])) {
			int rc = commands[c].fn(&ctx, argc - i, argv + i);
			cli_parse_release();
			if (fflush(stdout) != 0 || ferror(stdout)) {
				cli_msg("error writing the output");
				return CLI_ERROR;
			}
			return rc;
		}
	}
	return cli_usage(NULL, "unknown command '%s'", argv[i]);
}
