/*
 * provtrace/run.h - a run is all its streams: reading them merged.
 *
 * Basic outline:
 *   pt_run_iter *it;
 *   pt_run_iter_open(&it, st, "ddp1", NULL, 0, NULL, 1);   // every stream, live paths
 *   const pt_event_view *ev;
 *   int64_t lineage;
 *   while ((rc = pt_run_iter_next(it, &ev, &lineage)) == 0)
 *       printf("%s %llu\n", pt_ev_stream(ev), pt_ev_seq(ev));
 *   pt_run_iter_free(it);
 *
 * Order: each stream is read in its own order (seq; with live = 1 the live
 * path of pt_lineage_iter); the streams are merged by the time of their
 * next event: the smallest time first, ties broken by the stream name
 * (byte order), then by seq.  Within one stream the order is never changed,
 * so a stream whose clock went backwards keeps its seq order (the merge is
 * of sequences, not a global sort).  One stream: exactly pt_lineage_iter.
 *
 * Memory: one pt_lineage_iter (one batch) per stream.  After PT_ITEROVER the
 * iterator may be called again for events appended since (audit view only),
 * merged among themselves the same way; an iterator over every stream
 * (`streams` NULL) in the audit view also looks for streams created since
 * (at each PT_ITEROVER: one listing of the run's directory) and reads each
 * from its first event, with the same filters (start_at_end and seq_min
 * aside: sequence numbers are per stream) - what
 * `log -f` on a run needs when a rank starts late.  The live view and a
 * named list of streams read the streams of open only.
 */
#ifndef PROVTRACE_RUN_H
#define PROVTRACE_RUN_H

#include "common.h"
#include "lineage.h"
#include "recorder.h"
#include "reader.h"
#include "replay.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_run_iter pt_run_iter;

/**
 * Open a merged iterator over `streams` (`nstreams` names) of `run`, or
 * over every stream of the run when `streams` is NULL.  `opts` (may be NULL)
 * and `live` as in pt_lineage_iter_open, applied to each stream.
 * Returns 0, PT_EINVAL (bad names, options, nstreams 0 with a non-NULL
 * `streams`), PT_ENOTFOUND (no such run, a run without streams, or a named
 * stream missing), PT_ECORRUPT or an I/O error.  `*out`: pt_run_iter_free.
 */
PT_EXTERN int pt_run_iter_open(pt_run_iter **out, const pt_store *st, const char *run,
			       const char *const *streams, size_t nstreams, const pt_iter_options *opts, int live);

/**
 * The next event of the merge and its lineage (`lineage` may be NULL).
 * `*ev` is borrowed until the next call on `it`.  Returns 0, PT_ITEROVER or
 * an error.
 */
PT_EXTERN int pt_run_iter_next(pt_run_iter *it, const pt_event_view **ev, int64_t *lineage);

/** How many streams the iterator merges. */
PT_EXTERN size_t pt_run_iter_streams(const pt_run_iter *it);

/** The largest lineage count of its streams (pt_lineage_iter_lineages). */
PT_EXTERN size_t pt_run_iter_lineages(const pt_run_iter *it);

PT_EXTERN void pt_run_iter_free(pt_run_iter *it);

/**
 * The state of a run at `at` (NULL: latest): every stream's replay
 * (pt_replay_state_json, same point and options) and a summary across them,
 * as one JSON object (docs/REPLAY.md, "A run's state"):
 *   {"run": R, "streams": {NAME: state, ...},
 *    "summary": {"streams": N,
 *                "params": {P: value}             set to the same value in every stream,
 *                "params_by_stream": {P: {NAME: value}}   the others (absent: not set there),
 *                "metrics": {M: {"streams": {NAME: latest}, "n": K,
 *                                "min": x, "mean": x, "max": x}}}}
 * min/mean/max are over the K streams whose latest value is a number (not
 * NaN); null when K is 0.  `opts->stream` names one stream (the summary is
 * then of that one); NULL: every stream of the run.  A point a stream does
 * not reach (step=N past its end) is that stream's PT_ENOTFOUND.
 * `*out` is allocated (pt_free).  Returns 0, PT_EINVAL, PT_ENOTFOUND (run,
 * stream, lineage, point), PT_ECORRUPT or an I/O error.
 */
PT_EXTERN int pt_run_state_json(const pt_store *st, const char *run, const pt_point *at,
				const pt_replay_options *opts, char **out);

/** One metric series (pt_metrics_read). */
typedef struct {
	char *stream;    /**< the stream it was read from */
	char *name;      /**< the metric's name */
	int64_t *steps;  /**< `n` steps, in the order read */
	double *values;  /**< `n` values (int/uint converted to double) */
	size_t n;
} pt_metric_series;

/**
 * The `metric` events of `run` as series, one per (stream, name) in the
 * order first seen: events with a step and a numeric `value` (others are
 * skipped).  `stream` NULL: every stream (merged as pt_run_iter);
 * `names`/`nnames`: only these metrics (nnames 0: all); `live` 1: the live
 * path (one value per step after a resume), 0: every event.  `points` > 0:
 * downsample each series to at most `points` points: buckets of
 * consecutive points, each keeping its minimum and its maximum in their
 * order (so every local extreme of a bucket, and the series' minimum and
 * maximum, survive; a number wins over NaN).  points 1-3: points/2 buckets (1: the minimum only) cut
 * after reading.  points >= 4: while reading, buckets of one width (a power
 * of two, the last partial), at most points/2 of them.  Memory: 16 bytes per
 * point read for points 0-3, O(points) per series for points >= 4.
 * `*out` (`*n` series) is freed with pt_metrics_free.
 * Returns 0, PT_EINVAL, PT_ENOTFOUND (run or stream), PT_ENOMEM,
 * PT_ECORRUPT or an I/O error.
 */
PT_EXTERN int pt_metrics_read(const pt_store *st, const char *run, const char *stream, const char *const *names,
			      size_t nnames, int live, size_t points, pt_metric_series **out, size_t *n);

PT_EXTERN void pt_metrics_free(pt_metric_series *s, size_t n);

/* ---- what a run says about itself: tags, notes, its end (log/run_meta.c) ------------- */

/**
 * Append a `tag` event named `key` with body {"value": value} (a later tag
 * of the same key replaces it: queries see `tags.KEY`).  `key`: 1-128
 * characters from [A-Za-z0-9_.:/-]; `value`: UTF-8, at most 4096 bytes.
 * Returns 0, PT_EINVAL, or the append's error.  Thread rules of the recorder.
 */
PT_EXTERN int pt_recorder_tag(pt_recorder *rec, const char *key, const char *value);

/** Check a tag key (as pt_recorder_tag does): 0 or PT_EINVAL with a message. */
PT_EXTERN int pt_tag_key_check(const char *key);

/** Append a `note` event {"text": text} (UTF-8, at most 64 KiB): the run's free-text note. */
PT_EXTERN int pt_recorder_note(pt_recorder *rec, const char *text);

/**
 * Record how this session ends: a `run_end` event {"status": status,
 * "error_type": ..., "error": ...}.  `status`: "finished" or "failed";
 * `error_type`/`error` (may be NULL; only with "failed"): the exception's
 * type and message.  A run's status (runs.h) is derived from it: a stream
 * whose last session has no run_end is "crashed" once its writer is gone.
 * Events appended after it (other than tags and notes) start a new session.
 * Returns 0, PT_EINVAL or the append's error.
 */
PT_EXTERN int pt_recorder_end(pt_recorder *rec, const char *status, const char *error_type, const char *error);

#ifdef __cplusplus
}
#endif
#endif
