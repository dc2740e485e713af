/*
 * provtrace/store.h - the store: a directory holding runs and their streams.
 *
 * Basic outline:
 *   pt_store *st;
 *   pt_store_open_default(&st, NULL);      // --store / $PROVTRACE_STORE / .provtrace/
 *   ... record (recorder.h), read (reader.h), verify (verify.h) ...
 *   pt_store_free(st);
 *
 * A store handle is immutable after opening and may be shared between
 * threads.  Run and stream names are 1-128 characters from [A-Za-z0-9._-]
 * and do not start with '.' or '-'.
 */
#ifndef PROVTRACE_STORE_H
#define PROVTRACE_STORE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_store pt_store;

/** The on-disk format version this library writes (and the newest it reads). */
#define PT_STORE_FORMAT_VERSION 1

/** The directory name that store discovery looks for. */
#define PT_STORE_DIRNAME ".provtrace"

/**
 * Create a store at `path` (the store directory itself; parents are created)
 * and open it.  `out` may be NULL to only create.
 *
 * Returns PT_EEXISTS if `path` already is a store (nothing is changed; `*out`
 * is then still set to the opened store when `out` is not NULL), PT_EIO if
 * the directory cannot be created.
 */
PT_EXTERN int pt_store_init(pt_store **out, const char *path);

/**
 * Open the store at exactly `path`.
 * Returns PT_ENOTFOUND if `path` is not a store, PT_EVERSION if it has a
 * newer format version, PT_ECORRUPT if its configuration is unreadable.
 */
PT_EXTERN int pt_store_open(pt_store **out, const char *path);

/**
 * Find the store to use: `explicit_path` if not NULL (the `--store` option),
 * else $PROVTRACE_STORE if set and non-empty, else the nearest
 * `.provtrace/` directory in `start_dir` (NULL: the current directory) or one
 * of its parents.  `*out_path` is allocated (pt_free).
 * Returns PT_ENOTFOUND with a message saying where it looked.
 */
PT_EXTERN int pt_store_discover(char **out_path, const char *explicit_path,
				const char *start_dir);

/** pt_store_discover() followed by pt_store_open(). */
PT_EXTERN int pt_store_open_default(pt_store **out, const char *explicit_path);

/** The store's absolute directory path (borrowed, valid until free). */
PT_EXTERN const char *pt_store_path(const pt_store *st);

/** Close the store handle.  NULL is a no-op. */
PT_EXTERN void pt_store_free(pt_store *st);

/** Check a run or stream name; PT_EINVAL with a message if unusable. */
PT_EXTERN int pt_name_check(const char *what, const char *name);

/**
 * List the runs of the store, sorted by name.  `*out_names` (free with
 * pt_strv_free) holds `*out_count` strings.
 */
PT_EXTERN int pt_store_runs(const pt_store *st, char ***out_names, size_t *out_count);

/** List the streams of `run`, sorted.  PT_ENOTFOUND if the run does not exist. */
PT_EXTERN int pt_store_streams(const pt_store *st, const char *run,
			       char ***out_names, size_t *out_count);

/** Summary of one stream, from its chain and a scan of batch headers. */
typedef struct {
	uint64_t events;          /**< events stored (sealed + open segment) */
	uint64_t seq_first;       /**< first sequence number (0 if empty) */
	uint64_t seq_last;        /**< last sequence number (0 if empty) */
	int64_t step_min;         /**< PT_NO_STEP if no event has a step */
	int64_t step_max;         /**< PT_NO_STEP if no event has a step */
	int64_t time_min;         /**< ns; 0 if empty */
	int64_t time_max;         /**< ns; 0 if empty */
	uint64_t bytes;           /**< bytes on disk (all segment files) */
	uint64_t raw_bytes;       /**< uncompressed msgpack bytes of the events */
	uint64_t batches;         /**< batches stored */
	uint32_t sealed_segments; /**< sealed segments in the chain */
	uint32_t writer_active;   /**< 1 if a writer holds the stream's lock now */
	uint64_t torn_bytes;      /**< bytes of an incomplete tail (cut by the next writer) */
} pt_stream_info;

/** Summarise `run`/`stream` into `*out`. */
PT_EXTERN int pt_stream_stat(const pt_store *st, const char *run, const char *stream,
			     pt_stream_info *out);

/**
 * Every run of the store with its streams and their pt_stream_stat()
 * figures, rendered once for every front end (`provtrace runs --json`,
 * Python's provtrace.runs_info()): one JSON array, one run per line,
 *   [{"run", "events", "bytes", "streams": [{"stream", "events", "seq_first",
 *     "seq_last", "step_min", "step_max" (null if none), "time_first",
 *     "time_last" (ISO-8601, null if no event), "bytes", "raw_bytes",
 *     "batches", "sealed_segments", "writer_active"}]}]
 * A stream that cannot be read is {"stream", "error": message} and counted
 * in `*out_unreadable` (may be NULL).  `*out` (pt_free) is NUL-terminated,
 * its length in `*out_len` (may be NULL).  Returns 0, PT_EINVAL, PT_ENOMEM
 * or an error listing the store.
 */
PT_EXTERN int pt_store_runs_json(const pt_store *st, char **out, size_t *out_len, uint64_t *out_unreadable);

/* ---- sealing crashed streams --------------------------------------------------------- */

/** What pt_store_seal() did with one stream. */
typedef enum {
	PT_SEAL_SEALED = 0,  /**< its open segment was recovered (if torn) and sealed */
	PT_SEAL_NOTHING = 1, /**< no open segment with events: nothing to do */
	PT_SEAL_LOCKED = 2,  /**< a writer holds its lock: skipped (not an error) */
	PT_SEAL_FAILED = 3   /**< an error (see `code` and `message`): nothing changed */
} pt_seal_result;

typedef struct {
	char *run, *stream;   /**< the stream */
	pt_seal_result result;
	int code;             /**< PT_OK, or the error of PT_SEAL_FAILED / PT_ELOCKED */
	uint64_t events;      /**< events in the open segment before (PT_SEAL_SEALED) */
	uint64_t torn_bytes;  /**< bytes of a torn tail that were cut (recorded as a
				   `recovery` event, kept in the stream's cut/) */
	char *message;        /**< one line for a person (who holds the lock, the error) */
} pt_seal_entry;

typedef struct {
	pt_seal_entry *v;
	size_t n;
} pt_seal_report;

/**
 * Seal every stream of the store (or of `run`, or only `run`/`stream`;
 * NULL: all) whose writer is gone: a stream whose lock is free and whose
 * open segment holds events (a writer that crashed and was never reopened)
 * is opened as a writer with default options - which takes the lock
 * without waiting, cuts a torn tail and appends its `recovery` event
 * exactly as reopening the stream would - and closed, which seals the
 * segment.  A stream whose lock is held (a live writer) is skipped and
 * reported as PT_SEAL_LOCKED.  The archive job calls this before it
 * selects segments, so crashed streams get archived.
 *
 * `*out` (may be NULL) receives one entry per stream looked at (free with
 * pt_seal_report_free).  Returns 0 if every stream was sealed, had nothing
 * to seal or was locked; otherwise the first error (the other streams are
 * still handled, and the report says which failed); PT_ENOTFOUND for a
 * `run`/`stream` that does not exist; PT_EINVAL for a bad name or a
 * `stream` without `run`.
 */
PT_EXTERN int pt_store_seal(pt_store *st, const char *run, const char *stream, pt_seal_report **out);

/** Free a report of pt_store_seal().  NULL is a no-op. */
PT_EXTERN void pt_seal_report_free(pt_seal_report *r);

#ifdef __cplusplus
}
#endif
#endif
