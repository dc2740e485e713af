/*
 * provtrace/runs.h - the set of runs: summaries, queries and comparison.
 *
 * Basic outline:
 *   char *json;
 *   pt_runs_query_json(st, "min.val_loss < 0.1 and params.lr >= 1e-4",
 *                      "min.val_loss", 5, &json);          // best five
 *   ... parse json ...
 *   pt_free(json);
 *   pt_runs_compare_json(st, (const char *[]){"a", "b"}, 2, &json);
 *
 * Every function here answers from per-run summaries kept beside each run
 * (`STORE/runs/RUN/.summary`, docs/FORMAT.md "Run summaries"), brought up
 * to date on each call: a run nothing was appended to since costs one small
 * file read and, per stream, two stats and a lock test - no event is read;
 * a run that grew costs the events appended since; a resumed stream is
 * summarised again from its live path.  The summary file is a cache
 * (checked by a CRC, rebuilt when damaged, missing or unwritable: a
 * read-only store is answered all the same, only slower).
 *
 * What a run's values are (docs/CLI.md, "Queries", has the grammar):
 *   run, status        "running" (a writer holds a stream's lock), "failed"
 *                      (a stream's last session ended with a run_end
 *                      {"status": "failed"}), "crashed" (a stream's last
 *                      session has no run_end), "finished", "empty"
 *   started, ended     the first and last event time (any stream)
 *   duration           ended - started, in seconds
 *   events, streams, lineages, decisions   counts (events on the live path)
 *   params.NAME        the value in effect at the end of the live path
 *                      (param events and decisions' `set`), of the first
 *                      stream (by name) that has it
 *   last.M / min.M / max.M   metric M on the live path: the value written
 *                      last (any stream), the minimum and maximum over all
 *                      streams (NaN ignored)
 *   tags.KEY           the latest `tag` event named KEY
 *   note               the latest `note` event's "text"
 *   code.commit, code.dirty  of the first stream with a `code` event
 *
 * Thread rules: every function may be called from several threads; two
 * processes updating one summary file replace it atomically (last wins).
 */
#ifndef PROVTRACE_RUNS_H
#define PROVTRACE_RUNS_H

#include "common.h"
#include "replay.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The runs of `st` matching `where`, sorted by `sort`, at most `limit`, as
 * one JSON object allocated into `*out` (pt_free):
 *   {"runs": [RUN, ...], "matched": N (before the limit), "total": runs in
 *    the store, "errors": [{"run", "error"}]  (runs that could not be read:
 *    left out of the answer, not fatal to it)}
 * where RUN is the object pt_run_summary_json gives, without
 * "decisions_taken".
 *
 * `where`: NULL for every run, else an expression (docs/CLI.md "Queries"):
 * comparisons `FIELD OP VALUE` with OP one of == != < <= > >=, joined by
 * `and`, `or`, `not` and parentheses.  A run without the field (an unknown
 * param or metric name), or whose value has another type, does not match
 * (and `not` of that matches).  `sort`: NULL (by run name) or keys
 * separated by commas, each a field, "-FIELD" for descending; runs without
 * the value come last either way; ties are broken by run name.  `limit`:
 * 0 for all.
 *
 * Returns 0; PT_EINVAL with a message naming the position and what was
 * expected for a bad expression or sort key (an unknown top-level field, a
 * misspelt operator, more than 64 levels of `not`/parentheses, more than
 * 64 KiB of text); PT_ENOMEM, PT_EIO.
 */
PT_EXTERN int pt_runs_query_json(const pt_store *st, const char *where, const char *sort, size_t limit, char **out);

/**
 * Check a `where` expression without running it: 0 or PT_EINVAL with the
 * message pt_runs_query_json would give.
 */
PT_EXTERN int pt_runs_where_check(const char *where);

/**
 * The summary of one run as a JSON object allocated into `*out` (pt_free):
 *   {"run", "status", "started", "ended" (ISO-8601 or null),
 *    "duration_s", "events", "lineages", "decisions", "writers",
 *    "streams": [names], "params": {P: value},
 *    "params_by_stream": {P: {stream: value}}  (only when streams differ),
 *    "metrics": {M: {"last", "min", "max", "step" (of last), "n"}},
 *    "tags": {K: value}, "note": str | null,
 *    "code": {"commit", "dirty"} | null,
 *    "error": {"stream", "type", "message"} | null  (a failed run),
 *    "decisions_taken": [{"seq", "time", "step", "stream", "name", "set",
 *                         "reason", "actor"}]  (the last 100 per stream)}
 * Returns 0, PT_EINVAL (bad name), PT_ENOTFOUND (no such run),
 * PT_ECORRUPT or an I/O error.
 */
PT_EXTERN int pt_run_summary_json(const pt_store *st, const char *run, char **out);

/**
 * Compare `n` (2..256) runs of one store, as a JSON object allocated into
 * `*out` (pt_free):
 *   {"runs": [names],
 *    "params_differ": {P: {RUN: value | null (not set)}},
 *    "params_same": {P: value},
 *    "metrics": {M: {RUN: {"last", "min", "max"} | null}},
 *    "summaries": [pt_run_summary_json of each, in order]}
 * (the summaries carry status, duration, code commit and dirty flag, and
 * the decisions taken).  Returns 0, PT_EINVAL (fewer than 2 or more than
 * 256 runs, a bad name), PT_ENOTFOUND (a run missing: the message names
 * it), PT_ECORRUPT or an I/O error.
 */
PT_EXTERN int pt_runs_compare_json(const pt_store *st, const char *const *runs, size_t n, char **out);

/**
 * What changed between `from` and `to` in every stream of `run` (each as
 * pt_replay_diff_json: params, decisions in between, metric deltas, the
 * checkpoint's tensors), as one JSON object allocated into `*out`:
 *   {"run": R, "streams": {NAME: diff | {"error": message}}}
 * (`error`: a point that stream does not reach, e.g. step=N past its end).
 * `opts` (may be NULL) as for pt_replay_open; `opts->stream` narrows to one
 * stream; a lineage other than PT_LINEAGE_LIVE needs one stream (lineage
 * numbers are per stream).  Returns 0, PT_EINVAL, PT_ENOTFOUND (run or
 * stream), PT_ECORRUPT or an I/O error.
 */
PT_EXTERN int pt_run_diff_json(const pt_store *st, const char *run, const pt_point *from, const pt_point *to,
			       const pt_replay_options *opts, char **out);

#ifdef __cplusplus
}
#endif
#endif
