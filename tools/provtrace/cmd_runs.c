/* cmd_runs.c - `provtrace runs`: runs, their streams, counts, step ranges and sizes; queries over runs. */
#include "cli.h"
#include "cli_runs.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace runs [--json]\n"
	"       provtrace runs [--where EXPR] [--sort KEYS] [--limit N] [--metric NAME] [--summary] [--json]\n"
	"\n"
	"List the runs of the store with their streams: events, sequence numbers,\n"
	"step range, time of the first and last event, bytes on disk, and whether a\n"
	"writer has the stream open.\n"
	"\n"
	"With --where, --sort, --limit, --metric or --summary: one line a run, from the\n"
	"run summaries kept beside each run (a query does not read the events again):\n"
	"status (running, finished, failed, crashed, empty), start, duration, events,\n"
	"streams, tags, and the last value of --metric.\n"
	"\n"
	"  --where EXPR  only the runs where EXPR holds, e.g.\n"
	"                'min.val_loss < 0.1 and params.lr >= 1e-4 and status == \"finished\"'\n"
	"                fields: run status started ended duration events streams lineages\n"
	"                decisions note code.commit code.dirty params.NAME last.NAME min.NAME\n"
	"                max.NAME tags.NAME; operators == != < <= > >=, and or not, ( );\n"
	"                values: numbers, 'strings', true false null; started/ended take a\n"
	"                time: '2026-12-01' or '2026-12-01T08:00:00Z'.  A run without the\n"
	"                field does not match.  (docs/CLI.md, \"Queries\")\n"
	"  --sort KEYS   fields separated by commas, '-FIELD' for descending (default: run);\n"
	"                runs without the value come last\n"
	"  --limit N     at most N runs\n"
	"  --metric M    a column with the last value of metric M\n"
	"  --summary     the run view without a filter\n"
	"  --json        with the options above: {\"runs\": [...], \"matched\", \"total\", \"errors\"}\n"
	"                (pt_runs_query_json); without them the listing below\n"
	"  --json        one JSON array of runs: [{\"run\", \"events\", \"bytes\",\n"
	"                \"streams\": [{\"stream\", \"events\", \"seq_first\", \"seq_last\",\n"
	"                \"step_min\", \"step_max\", \"time_first\", \"time_last\", \"bytes\",\n"
	"                \"raw_bytes\", \"batches\", \"sealed_segments\", \"writer_active\"}]}]\n"
	"  --store DIR   the store\n";

typedef struct {
	char *run, *stream;
	pt_stream_info info;
	char *error; /* pt_stream_stat failed */
} row;

static void print_table(row *rows, size_t n)
{
	int wr = 3, ws = 6;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(rows[i].run);
		wr = l > wr ? l : wr;
		l = rows[i].stream ? (int)strlen(rows[i].stream) : 1;
		ws = l > ws ? l : ws;
	}
	printf("%-*s  %-*s  %10s  %-17s  %-24s  %-24s  %10s\n", wr, "RUN", ws, "STREAM", "EVENTS",
	       "STEPS", "FIRST", "LAST", "SIZE");
	for (size_t i = 0; i < n; i++) {
		const pt_stream_info *s = &rows[i].info;
		if (!rows[i].stream) {
			printf("%-*s  %-*s  %10s\n", wr, rows[i].run, ws, "-", "0");
			continue;
		}
		if (rows[i].error) {
			printf("%-*s  %-*s  error: %s\n", wr, rows[i].run, ws, rows[i].stream,
			       rows[i].error);
			continue;
		}
		char steps[48], t1[48], t2[48], sz[32];
		if (s->step_min == PT_NO_STEP)
			snprintf(steps, sizeof steps, "-");
		else
			snprintf(steps, sizeof steps, "%" PRId64 "..%" PRId64, s->step_min, s->step_max);
		if (s->events) {
			cli_time_ms(s->time_min, t1, sizeof t1);
			cli_time_ms(s->time_max, t2, sizeof t2);
		} else {
			snprintf(t1, sizeof t1, "-");
			snprintf(t2, sizeof t2, "-");
		}
		printf("%-*s  %-*s  %10" PRIu64 "  %-17s  %-24s  %-24s  %10s%s\n", wr, rows[i].run, ws,
		       rows[i].stream, s->events, steps, t1, t2, cli_size(s->bytes, sz, sizeof sz),
		       s->writer_active ? "  (writing)" : "");
	}
}

int cmd_runs(cli_ctx *ctx, int argc, char **argv)
{
	bool json = false, summary = false;
	const char *where = NULL, *sort = NULL, *metric = NULL;
	uint64_t limit = 0;
	int limit_seen = 0;
	const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json},
				{"where", 0, CLI_STR, &where},
				{"sort", 0, CLI_STR, &sort},
				{"limit", 0, CLI_U64, &limit, "a number of runs (1 or more)", 1, 0, &limit_seen},
				{"metric", 0, CLI_STR, &metric},
				{"summary", 0, CLI_FLAG, &summary},
				{0}};
	const cli_spec spec = {"runs", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	/* a bad expression is a usage error, found before the store is opened */
	if (where && pt_runs_where_check(where))
		return cli_usage("runs", "%s", pt_error_last());

	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (where || sort || limit_seen || metric || summary) {
		char *out = NULL;
		if (pt_runs_query_json(st, where, sort, (size_t)limit, &out)) {
			rc = pt_error_last_code() == PT_EINVAL ? cli_usage("runs", "%s", pt_error_last()) : cli_lib_error();
		} else if (json) {
			puts(out);
		} else {
			rc = cli_print_runs(stdout, out, metric) ? CLI_ERROR : CLI_OK;
		}
		pt_free(out);
		pt_store_free(st);
		return rc;
	}
	if (json) {
		/* the library's rendering, shared with Python's runs_info() */
		char *out = NULL;
		uint64_t unreadable = 0;
		if (pt_store_runs_json(st, &out, NULL, &unreadable)) {
			rc = cli_lib_error();
		} else {
			puts(out);
			if (unreadable) {
				cli_msg("some streams could not be read (see above); run `provtrace verify`");
				rc = CLI_ERROR;
			}
		}
		pt_free(out);
		pt_store_free(st);
		return rc;
	}
	char **runs = NULL;
	size_t nruns = 0;
	row *rows = NULL;
	size_t nrows = 0, cap = 0;
	bool failed = false;
	if (pt_store_runs(st, &runs, &nruns)) {
		rc = cli_lib_error();
		goto done;
	}
	for (size_t i = 0; i < nruns; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if (pt_store_streams(st, runs[i], &streams, &ns)) {
			rc = cli_lib_error();
			goto done;
		}
		for (size_t j = 0; j < (ns ? ns : 1); j++) {
			if (nrows == cap) {
				cap = cap ? cap * 2 : 16;
				row *nr = realloc(rows, cap * sizeof *rows);
				if (!nr) {
					pt_strv_free(streams, ns);
					cli_msg("out of memory");
					rc = CLI_ERROR;
					goto done;
				}
				rows = nr;
			}
			row *r = &rows[nrows++];
			memset(r, 0, sizeof *r);
			r->run = runs[i];
			if (!ns)
				break;
			r->stream = strdup(streams[j]);
			if (r->stream && pt_stream_stat(st, runs[i], streams[j], &r->info)) {
				r->error = strdup(pt_error_last());
				failed = true;
			}
		}
		pt_strv_free(streams, ns);
	}
	if (nrows)
		print_table(rows, nrows);
	else
		cli_msg("no runs in %s", pt_store_path(st));
	if (failed) {
		cli_msg("some streams could not be read (see above); run `provtrace verify`");
		rc = CLI_ERROR;
	}
done:
	for (size_t i = 0; i < nrows; i++) {
		free(rows[i].stream);
		free(rows[i].error);
	}
	free(rows);
	pt_strv_free(runs, nruns);
	pt_store_free(st);
	return rc;
}
