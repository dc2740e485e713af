/*
 * provtrace/recorder.h - the single writer of one stream of one run.
 *
 * Basic outline:
 *   pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
 *   o.durability = PT_DURABILITY_FSYNC;            // optional
 *   pt_recorder *rec;
 *   pt_recorder_open(&rec, st, "run-42", NULL, &o);  // NULL stream: "main"
 *   pt_recorder_metric(rec, "loss", 0.25, step);     // hot path
 *   pt_recorder_append(rec, ev, &seq);               // any event
 *   pt_recorder_flush(rec);                          // durable as opened
 *   pt_recorder_close(rec);                          // seal + release
 *
 * Appending only encodes and copies into the current batch under a mutex; a
 * background thread compresses and writes batches (group commit).  The
 * memory held by queued batches is bounded: when the queue is full an append
 * waits for the writer (back-pressure) rather than growing without limit.
 *
 * One writer per stream: opening takes an exclusive lock on the stream that
 * also excludes other processes; a second opener gets PT_ELOCKED with a
 * message naming the holder (pid, host, since when).
 *
 * Thread rules: all functions may be called from several threads at once,
 * except close/free, which must be the last call.
 *
 * Errors of the background writer are sticky: the next append, flush or
 * close returns them.  Everything flushed before the error stays durable.
 * One exception, a full disk (PT_ENOSPC): nothing is left half written, the
 * unwritten batches stay queued and the writer retries them (every 100 ms,
 * and whenever flush is called); flush returns PT_ENOSPC (naming the last
 * durable seq) until a retry succeeds, append returns PT_ENOSPC instead of
 * waiting once the bounded queue is full, and recording resumes by itself
 * when space is freed.  A full disk while sealing after the rename, or while
 * closing, stays sticky (close returns PT_ENOSPC; the next writer recovers).
 */
#ifndef PROVTRACE_RECORDER_H
#define PROVTRACE_RECORDER_H

#include "common.h"
#include "event.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_recorder pt_recorder;

typedef enum {
	/** flush() hands the events to the writer thread and returns. */
	PT_DURABILITY_NONE = 0,
	/** flush() returns once the events are written to the file (survive a
	 *  process crash; a power loss may lose them). fdatasync at seal/close. */
	PT_DURABILITY_WRITE = 1,
	/** every batch is fdatasync'd; flush() returns once they are. */
	PT_DURABILITY_FSYNC = 2
} pt_durability;

typedef struct {
	unsigned int version;           /**< PT_RECORDER_OPTIONS_VERSION */
	pt_durability durability;       /**< default PT_DURABILITY_WRITE */
	uint32_t max_delay_ms;          /**< a batch never waits longer (default 1000) */
	uint32_t batch_max_events;      /**< events per batch (default 4096) */
	uint32_t batch_max_bytes;       /**< raw bytes per batch (default 1 MiB) */
	uint64_t segment_max_bytes;     /**< seal at this size (default 64 MiB) */
	uint32_t segment_max_age_s;     /**< seal at this age, 0 = never (default 3600) */
	uint32_t queue_max_batches;     /**< batches queued for the writer (default 8) */
	int zstd_level;                 /**< default -1 (zstd fast mode: about 15% less CPU than 1 for ~2% more bytes) */
	uint32_t snapshot_every;        /**< write a state snapshot every N events
					     (default 32768; 0: none) - see replay.h */
	/*
	 * Reserved, must be 0 / NULL (pt_recorder_open refuses anything else
	 * with PT_EINVAL).  These slots were `int capture_code` and
	 * `const void *code_options`: the recorder no longer captures code
	 * provenance itself; call pt_code_capture(rec, &code_opts) right after
	 * pt_recorder_open (code.h), as the Python Recorder does.  The slots
	 * stay so that the struct's size and layout do not change.
	 */
	int reserved1;                  /**< must be 0 (was capture_code) */
	const void *reserved2;          /**< must be NULL (was code_options) */
} pt_recorder_options;

#define PT_RECORDER_OPTIONS_VERSION 1
#define PT_RECORDER_OPTIONS_INIT                                                  \
	{ PT_RECORDER_OPTIONS_VERSION, PT_DURABILITY_WRITE, 1000, 4096, 1u << 20, \
	  64u << 20, 3600, 8, -1, 32768, 0, NULL }

/** Initialise `opts` to the defaults of `version`. */
PT_EXTERN int pt_recorder_options_init(pt_recorder_options *opts, unsigned int version);

/**
 * Open (creating if needed) `stream` of `run` for writing.
 * `run` NULL: a new name "YYYYmmdd-HHMMSS-xxxxxx" is generated (see
 * pt_recorder_run()).  `stream` NULL: "main".  `opts` NULL: defaults.
 *
 * If the stream's open segment ends with a torn batch (a crash while
 * writing), the torn bytes are cut, kept in the stream's `cut/` directory
 * and a `recovery` event recording the cut is appended.  Damage that is not
 * a torn tail (an invalid batch followed by valid ones, a sealed segment that
 * fails its hash, a broken chain) is PT_ECORRUPT: nothing is changed and
 * appending is refused until it is resolved.
 *
 * Code provenance and the environment are not captured here: call
 * pt_code_capture (code.h) right after opening.  With require_clean it
 * refuses a dirty tree (PT_EINVAL listing the changed files) before it
 * appends anything; the caller then closes the recorder.
 * options.reserved1/reserved2 not 0: PT_EINVAL naming pt_code_capture.
 *
 * Returns PT_ELOCKED if another writer holds the stream.
 */
PT_EXTERN int pt_recorder_open(pt_recorder **out, pt_store *st, const char *run,
			       const char *stream, const pt_recorder_options *opts);

/** The run name (borrowed, valid until close). */
PT_EXTERN const char *pt_recorder_run(const pt_recorder *rec);
/** The stream name (borrowed, valid until close). */
PT_EXTERN const char *pt_recorder_stream(const pt_recorder *rec);

/** Sequence number the next append will get (sequence numbers start at 1). */
PT_EXTERN uint64_t pt_recorder_next_seq(const pt_recorder *rec);

/**
 * Append the event built in `ev`; `*out_seq` (may be NULL) receives its
 * sequence number.  `ev` is not modified and may be reset and reused.
 */
PT_EXTERN int pt_recorder_append(pt_recorder *rec, const pt_event *ev, uint64_t *out_seq);

/**
 * Append a `metric` event {value: v} named `name` at `step` (PT_NO_STEP for
 * none) without a builder: the fast path for per-step metrics.
 */
PT_EXTERN int pt_recorder_metric(pt_recorder *rec, const char *name, double value, int64_t step);

/**
 * Append an event whose body is given already encoded: `body` must be one
 * msgpack map (`len` bytes) with string keys at every level, none of the
 * top-level ones reserved (see event.h), at most PT_EVENT_MAX_DEPTH deep,
 * every string valid UTF-8 (what the builder would produce) -
 * checked, PT_EINVAL naming the problem otherwise, nothing appended.
 * `name` may be NULL, `step` PT_NO_STEP.  For bindings that encode a whole
 * body in one call (Python with msgpack); C code uses the builder.
 */
PT_EXTERN int pt_recorder_append_msgpack(pt_recorder *rec, const char *kind, const char *name, int64_t step,
					 const void *body, size_t len, uint64_t *out_seq);

/** Append several metrics (names[i] = values[i]) at one step; one call, n events. */
PT_EXTERN int pt_recorder_metrics(pt_recorder *rec, const char *const *names,
				  const double *values, size_t n, int64_t step);

/**
 * Wait until everything appended so far is written with the recorder's
 * durability (PT_DURABILITY_NONE: only handed to the writer thread).
 */
PT_EXTERN int pt_recorder_flush(pt_recorder *rec);

/** Force the open segment to be sealed now (after flushing). No-op if empty. */
PT_EXTERN int pt_recorder_seal(pt_recorder *rec);

/**
 * Record that training resumes from an older point: a new lineage begins,
 * whose parent is `parent` (PT_LINEAGE_LIVE = -1: the lineage live now) as
 * it was at step `from_step` (PT_NO_STEP: at its current end).
 * `manifest_hex` (may be NULL) names the checkpoint resumed from.  Appends a
 * `lineage` event {lineage, parent, from_step, manifest} and flushes it;
 * `*out_lineage` (may be NULL) gets the new lineage id (1, 2, ...).
 * From then on, replay's step=N follows the new lineage (see replay.h).
 * PT_ENOTFOUND if `parent` does not exist.
 */
PT_EXTERN int pt_recorder_resume(pt_recorder *rec, int64_t from_step, int64_t parent, const char *manifest_hex,
				 int64_t *out_lineage);

/** Snapshots written by this recorder so far (see snapshot_every). */
PT_EXTERN uint64_t pt_recorder_snapshots(const pt_recorder *rec);

/** Recovery done at open: bytes cut from a torn tail (0 if none). */
PT_EXTERN uint64_t pt_recorder_recovered_bytes(const pt_recorder *rec);

/**
 * Flush, fdatasync, seal the open segment, release the lock and free the
 * recorder.  Returns the first error met (the recorder is freed anyway).
 * NULL is a no-op returning 0.
 */
PT_EXTERN int pt_recorder_close(pt_recorder *rec);

/** pt_recorder_close() ignoring its result. */
PT_EXTERN void pt_recorder_free(pt_recorder *rec);

#ifdef __cplusplus
}
#endif
#endif
