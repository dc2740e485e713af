/* cmd_stats.c - `provtrace stats`: storage statistics per stream and in total. */
#include "cli.h"

#include <provtrace/checkpoint.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace stats [--run RUN] [--json]\n"
	"\n"
	"Storage statistics of every stream (of RUN, or of all runs) and in total:\n"
	"events, batches, sealed segments, bytes on disk, raw (uncompressed msgpack)\n"
	"bytes, compression ratio (raw / on disk) and bytes on disk per event.\n"
	"If the store holds checkpoints, a last line (JSON: \"checkpoints\": {\"count\",\n"
	"\"logical_bytes\", \"added_bytes\", \"objects\", \"object_bytes\", \"ratio\"}) compares\n"
	"their logical size with the bytes they added and the object store's size.\n"
	"\n"
	"  --run RUN     only this run\n"
	"  --json        one JSON object: {\"streams\": [{\"run\", \"stream\", \"events\",\n"
	"                \"batches\", \"sealed_segments\", \"bytes\", \"raw_bytes\", \"ratio\",\n"
	"                \"bytes_per_event\"}], \"total\": {...same without run/stream}}\n"
	"  --store DIR   the store\n";

typedef struct {
	uint64_t events, batches, segments, bytes, raw;
} totals;

static double ratio(uint64_t raw, uint64_t bytes) { return bytes ? (double)raw / (double)bytes : 0; }
static double per_event(uint64_t bytes, uint64_t events) { return events ? (double)bytes / (double)events : 0; }

static void json_numbers(const totals *t)
{
	printf("\"events\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"sealed_segments\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"raw_bytes\":%" PRIu64 ",\"ratio\":%.3f,\"bytes_per_event\":%.2f",
	       t->events, t->batches, t->segments, t->bytes, t->raw, ratio(t->raw, t->bytes),
	       per_event(t->bytes, t->events));
}

static void table_row(int wr, const char *run, int ws, const char *stream, const totals *t)
{
	char b1[32], b2[32];
	printf("%-*s  %-*s  %12" PRIu64 "  %9" PRIu64 "  %8" PRIu64 "  %10s  %10s  %6.2f  %9.2f\n", wr,
	       run, ws, stream, t->events, t->batches, t->segments, cli_size(t->bytes, b1, sizeof b1),
	       cli_size(t->raw, b2, sizeof b2), ratio(t->raw, t->bytes), per_event(t->bytes, t->events));
}

int cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"stats", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (run_opt && pt_name_check("run", run_opt))
		return cli_usage("stats", "%s", pt_error_last());

	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	char **runs = NULL;
	size_t nruns = 0;
	if (run_opt) {
		char **tmp = NULL;
		size_t nt = 0;
		if (pt_store_streams(st, run_opt, &tmp, &nt)) { /* does the run exist? */
			rc = cli_lib_error();
			goto done;
		}
		pt_strv_free(tmp, nt);
		runs = calloc(1, sizeof *runs);
		if (!runs || !(runs[0] = strdup(run_opt))) {
			cli_msg("out of memory");
			rc = CLI_ERROR;
			goto done;
		}
		nruns = 1;
	} else if (pt_store_runs(st, &runs, &nruns)) {
		rc = cli_lib_error();
		goto done;
	}

	int wr = 5, ws = 6;
	totals all = {0};
	size_t shown = 0;
	if (json)
		fputs("{\"streams\":[", stdout);
	for (int pass = json ? 1 : 0; pass < 2; pass++) {
		if (pass == 1 && !json)
			printf("%-*s  %-*s  %12s  %9s  %8s  %10s  %10s  %6s  %9s\n", wr, "RUN", ws,
			       "STREAM", "EVENTS", "BATCHES", "SEALED", "ON DISK", "RAW", "RATIO",
			       "B/EVENT");
		for (size_t i = 0; i < nruns; i++) {
			char **streams = NULL;
			size_t ns = 0;
			if (pt_store_streams(st, runs[i], &streams, &ns)) {
				rc = cli_lib_error();
				goto done;
			}
			for (size_t j = 0; j < ns; j++) {
				if (pass == 0) { /* column widths */
					int l = (int)strlen(runs[i]);
					wr = l > wr ? l : wr;
					l = (int)strlen(streams[j]);
					ws = l > ws ? l : ws;
					continue;
				}
				pt_stream_info si;
				if (pt_stream_stat(st, runs[i], streams[j], &si)) {
					cli_msg("%s/%s: %s", runs[i], streams[j], pt_error_last());
					rc = CLI_ERROR;
					continue;
				}
				totals t = {si.events, si.batches, si.sealed_segments, si.bytes, si.raw_bytes};
				all.events += t.events;
				all.batches += t.batches;
				all.segments += t.segments;
				all.bytes += t.bytes;
				all.raw += t.raw;
				if (json) {
					fputs(shown ? ",\n{\"run\":" : "\n{\"run\":", stdout);
					cli_json_str(stdout, runs[i]);
					fputs(",\"stream\":", stdout);
					cli_json_str(stdout, streams[j]);
					fputs(",", stdout);
					json_numbers(&t);
					fputs("}", stdout);
				} else {
					table_row(wr, runs[i], ws, streams[j], &t);
				}
				shown++;
			}
			pt_strv_free(streams, ns);
		}
	}
	pt_checkpoint_store_stats cs;
	if (pt_checkpoint_stats(&cs, st, run_opt)) {
		rc = cli_lib_error();
		memset(&cs, 0, sizeof cs);
	}
	if (json) {
		fputs(shown ? "\n],\"total\":{" : "],\"total\":{", stdout);
		json_numbers(&all);
		fputs("}", stdout);
		if (cs.checkpoints)
			printf(",\"checkpoints\":{\"count\":%" PRIu64 ",\"logical_bytes\":%" PRIu64
			       ",\"added_bytes\":%" PRIu64 ",\"objects\":%" PRIu64 ",\"object_bytes\":%" PRIu64
			       ",\"ratio\":%.3f}",
			       cs.checkpoints, cs.logical_bytes, cs.added_bytes, cs.objects, cs.object_bytes,
			       ratio(cs.logical_bytes, cs.added_bytes));
		fputs("}\n", stdout);
	} else {
		table_row(wr, "TOTAL", ws, "", &all);
		if (cs.checkpoints) {
			char b1[32], b2[32], b3[32];
			printf("checkpoints: %" PRIu64 ", %s logical, %s stored (%.2fx); object store %s in %" PRIu64
			       " objects\n",
			       cs.checkpoints, cli_size(cs.logical_bytes, b1, sizeof b1),
			       cli_size(cs.added_bytes, b2, sizeof b2), ratio(cs.logical_bytes, cs.added_bytes),
			       cli_size(cs.object_bytes, b3, sizeof b3), cs.objects);
		}
	}
done:
	pt_strv_free(runs, nruns);
	pt_store_free(st);
	return rc;
}
