/*
 * provtrace/replay.h - time travel: the state of a run at any point.
 *
 * Basic outline:
 *   pt_point at;
 *   pt_point_parse(&at, "step=41200");
 *   pt_replay *rp;
 *   pt_replay_open(&rp, st, "run-42", &at, NULL);
 *   const char *json;
 *   pt_replay_state_json(rp, &json, NULL);      // params, metrics, decisions, ...
 *   const pt_event_view *ev;
 *   while (pt_replay_forward(rp, &ev) == 0) ... // a debugger-like walk
 *   pt_replay_free(rp);
 *
 * The state is the fold of the stream's events up to the point, defined in
 * docs/REPLAY.md: params in effect (each with the seq/step of the event that
 * set it and the decision that did, if any), the last PT_FOLD_DECISIONS_KEPT
 * (100) decisions with old and new values, reason and actor, the latest value
 * of every metric, the checkpoint in effect, code and environment
 * provenance, the last event of every other kind/name, the current step,
 * lineage and counts.
 *
 * Points: `latest`, `seq=N` (after event N), `time=ISO-8601` (after the last
 * event whose running maximum time is <= T; times must carry a zone),
 * `step=N` (after the last event of step <= N on the lineage, plus the
 * step-less events that follow it before the next stepped event).
 *
 * Lineage: training resumed from an older checkpoint starts a new lineage
 * (pt_recorder_resume); `step=N` follows the lineage live at the end of the
 * stream unless options.lineage names another, through its ancestors up to
 * each fork point.  seq=, time= and latest are positions in the stream: the
 * state there is on the lineage that was live at that position, or, when
 * options.lineage names one, after the last event of that lineage's path at
 * or before the position.
 *
 * Cost: the recorder writes state snapshots every
 * pt_recorder_options.snapshot_every events; a replay loads the nearest
 * snapshot on its path and folds at most that many events, whatever the
 * length of the history.  Snapshots are a cache: with use_snapshots = 0, or
 * with the snapshot files deleted, every result is the same, only slower.
 *
 * A replay handle is not thread-safe; use one per thread.
 */
#ifndef PROVTRACE_REPLAY_H
#define PROVTRACE_REPLAY_H

#include "common.h"
#include "reader.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PT_AT_LATEST = 0, PT_AT_SEQ = 1, PT_AT_STEP = 2, PT_AT_TIME = 3 } pt_point_kind;

typedef struct {
	pt_point_kind kind;
	int64_t value; /* seq, step or time in ns */
} pt_point;

/** Parse "latest", "seq=N", "step=N" or "time=ISO-8601".  PT_EINVAL with the reason. */
PT_EXTERN int pt_point_parse(pt_point *out, const char *text);

/** The lineage live at the end of the stream. */
#define PT_LINEAGE_LIVE (-1)

typedef struct {
	unsigned int version;  /**< PT_REPLAY_OPTIONS_VERSION */
	const char *stream;    /**< NULL: "main" */
	int64_t lineage;       /**< for step= points; PT_LINEAGE_LIVE by default */
	int use_snapshots;     /**< 1 (default): start from the nearest snapshot */
	int track_changes;     /**< 1: pt_replay_changes_json() describes each forward step */
} pt_replay_options;

#define PT_REPLAY_OPTIONS_VERSION 1
#define PT_REPLAY_OPTIONS_INIT { PT_REPLAY_OPTIONS_VERSION, NULL, PT_LINEAGE_LIVE, 1, 0 }

PT_EXTERN int pt_replay_options_init(pt_replay_options *opts, unsigned int version);

typedef struct pt_replay pt_replay;

/**
 * Compute the state of `run` at `at` (NULL: latest).
 * PT_ENOTFOUND if the run/stream or the named lineage does not exist.
 */
PT_EXTERN int pt_replay_open(pt_replay **out, const pt_store *st, const char *run, const pt_point *at,
			     const pt_replay_options *opts);

PT_EXTERN void pt_replay_free(pt_replay *rp);

/** Position: the last event folded (0: before the first event). */
PT_EXTERN uint64_t pt_replay_seq(const pt_replay *rp);
/** Step of the state (PT_NO_STEP if no event had one). */
PT_EXTERN int64_t pt_replay_step(const pt_replay *rp);
/** Lineage in effect at the position. */
PT_EXTERN int64_t pt_replay_lineage(const pt_replay *rp);
/** The seq of the snapshot this replay started from (0: folded from the start). */
PT_EXTERN uint64_t pt_replay_snapshot_seq(const pt_replay *rp);
/** How many events were folded to reach the position (a measure of cost). */
PT_EXTERN uint64_t pt_replay_events_folded(const pt_replay *rp);

/** The state as one JSON object (docs/REPLAY.md).  Borrowed until the next call on `rp`. */
PT_EXTERN int pt_replay_state_json(pt_replay *rp, const char **json, size_t *len);

/**
 * A parameter / metric in effect: its msgpack value (borrowed), and the seq
 * and step of the event that set it.  PT_ENOTFOUND if there is none.
 */
PT_EXTERN int pt_replay_param(const pt_replay *rp, const char *name, const void **mp, size_t *len, uint64_t *seq,
			      int64_t *step);
PT_EXTERN int pt_replay_metric(const pt_replay *rp, const char *name, const void **mp, size_t *len, uint64_t *seq,
			       int64_t *step);

/**
 * The checkpoint in effect: `manifest_hex` (65 bytes) gets its manifest id,
 * `seq`/`step` its event.  PT_ENOTFOUND if no checkpoint was recorded yet.
 */
PT_EXTERN int pt_replay_checkpoint(const pt_replay *rp, char *manifest_hex, uint64_t *seq, int64_t *step);

/**
 * Apply the next event on the lineage's path; `*applied` (may be NULL) is
 * the event (borrowed until the next call).  PT_ITEROVER at the end.
 */
PT_EXTERN int pt_replay_forward(pt_replay *rp, const pt_event_view **applied);
/** Go back one event on the path.  PT_ITEROVER at the start. */
PT_EXTERN int pt_replay_backward(pt_replay *rp);

/**
 * JSON array of what the last pt_replay_forward() changed
 * (requires options.track_changes), e.g.
 * [{"param":"lr","old":0.01,"new":0.001},{"decision":"lr","reason":"plateau","actor":"..."}].
 */
PT_EXTERN int pt_replay_changes_json(const pt_replay *rp, const char **json);

/**
 * What changed from `a` to `b` (two replays of the same run): params added,
 * removed or changed (old -> new), decisions taken in between, metric deltas,
 * and the checkpoint (with the tensors whose contents differ).  `*out` is
 * allocated (pt_free).
 */
PT_EXTERN int pt_replay_diff_json(const pt_replay *a, const pt_replay *b, char **out);

/** The lineage tree of the stream as JSON.  Borrowed until the next call on `rp`. */
PT_EXTERN int pt_replay_lineages_json(pt_replay *rp, const char **json);

/**
 * A user fold for `kind`: `fn` is called with every event of that kind on
 * the path from the first event up to the current position, now and on
 * later forward steps (a custom fold keeps its own state in `ctx`; it is not
 * in snapshots, so its cost is the number of events of that kind).
 * Returning non-zero from `fn` stops and is returned.
 */
typedef int (*pt_fold_fn)(void *ctx, const pt_event_view *ev);
PT_EXTERN int pt_replay_fold_kind(pt_replay *rp, const char *kind, pt_fold_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
