/*
 * provtrace/verify.h - checking every stored byte.
 *
 * pt_verify() re-reads a store (or one run / stream): every batch header and
 * payload checksum, every zstd frame, the dense sequence numbers, every
 * sealed segment's SHA-256 against its name and the chain, segment footers
 * against their batches, files that the chain does not account for, every
 * state snapshot against the fold it claims, and every checkpoint manifest,
 * chunk and listed object the events reference (pt_checkpoint_verify_store).
 * Each problem is reported through the callback with the object (a path
 * relative to the store) and the byte offset; verification goes on after a
 * problem so that one run lists them all.
 */
#ifndef PROVTRACE_VERIFY_H
#define PROVTRACE_VERIFY_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	PT_SEVERITY_ERROR = 0,  /**< damage: verify fails */
	PT_SEVERITY_WARNING = 1 /**< e.g. a torn tail a writer will cut on reopen */
} pt_severity;

typedef struct {
	pt_severity severity;
	int code;            /**< PT_ECORRUPT, PT_ENOTFOUND, ... */
	const char *object;  /**< path relative to the store */
	uint64_t offset;     /**< byte offset in the object (0 if not applicable) */
	const char *message;
} pt_problem;

/** Called for each problem; return non-zero to stop verification. */
typedef int (*pt_problem_cb)(const pt_problem *problem, void *payload);

typedef struct {
	uint64_t runs, streams, segments, batches, events, bytes;
	uint64_t errors, warnings;
} pt_verify_stats;

/**
 * Verify `run` (NULL: all runs) / `stream` (NULL: all streams of the run).
 * Returns 0 if no error was found, PT_ECORRUPT if any was (the message
 * summarises the first), or another code if verification itself failed.
 * `cb` and `stats` may be NULL.
 */
PT_EXTERN int pt_verify(const pt_store *st, const char *run, const char *stream,
			pt_problem_cb cb, void *payload, pt_verify_stats *stats);

/**
 * Verify as pt_verify() does and report the result the one way every front
 * end shows it (`provtrace verify`, Python's provtrace.verify()).
 *
 * Differences from pt_verify(): a failure that no problem described (the
 * library found damage it did not list one by one) becomes one more problem
 * (severity error, code PT_ECORRUPT, object NULL / "" in JSON, offset 0, the
 * error message), passed to `cb` last; stats->errors and ->warnings count the
 * problems passed to `cb` (so a failed verification never reports 0 errors).
 *
 * `out_json` (may be NULL): receives one JSON object, NUL-terminated,
 * allocated (pt_free), length in `*out_len` (may be NULL), shaped as
 * documented in docs/CLI.md ("verify --json"):
 *   {"ok": bool, "errors": n, "warnings": n,
 *    "problems": [{"severity": "error"|"warning", "code": "PT_ECORRUPT",
 *                  "rc": -6, "object": "...", "offset": n, "message": "..."}],
 *    "stats": {"runs", "streams", "segments", "batches", "events", "bytes"}}
 * with one problem per line.  "ok" is true when no error-severity problem
 * was found.
 *
 * Returns 0 when verification ran, whatever it found (see stats->errors or
 * "ok"); otherwise the code of why it could not run (PT_ENOTFOUND: no such
 * run, PT_EIO, PT_ENOMEM...), with nothing in *out_json.  If `cb` returns
 * non-zero verification stops and the result covers what was seen.
 * Thread rules: as pt_verify(); `cb` runs on the calling thread.
 */
PT_EXTERN int pt_verify_report(const pt_store *st, const char *run, const char *stream,
			       pt_problem_cb cb, void *payload, pt_verify_stats *stats,
			       char **out_json, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
