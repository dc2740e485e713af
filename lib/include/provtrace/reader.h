/*
 * provtrace/reader.h - iterating the events of a stream.
 *
 * Basic outline:
 *   pt_iter_options o = PT_ITER_OPTIONS_INIT;
 *   o.kind = "metric";  o.step_min = 1000;
 *   pt_iter *it;
 *   pt_iter_open(&it, st, "run-42", "main", &o);
 *   const pt_event_view *ev;
 *   while ((rc = pt_iter_next(it, &ev)) == 0) {
 *       printf("%llu %s\n", pt_ev_seq(ev), pt_ev_kind(ev));
 *   }
 *   if (rc != PT_ITEROVER) ... error ...
 *   pt_iter_free(it);
 *
 * Readers take no lock and may run while a writer appends.  After
 * PT_ITEROVER, calling pt_iter_next() again looks for events appended since
 * (this is how `log -f` follows a live stream).  A batch still being written
 * at the end of the open segment is treated as not there yet.
 *
 * Every batch read is checked (header and payload checksums, the zstd
 * content checksum) before any event of it is returned; damage is
 * PT_ECORRUPT naming the file and offset.  Memory is bounded: lengths are
 * checked against limits before allocation and the zstd window is capped.
 *
 * The filters select events; the segment indexes and batch headers are used
 * to skip whole batches that cannot match.
 */
#ifndef PROVTRACE_READER_H
#define PROVTRACE_READER_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_iter pt_iter;
typedef struct pt_event_view pt_event_view;

typedef struct {
	unsigned int version; /**< PT_ITER_OPTIONS_VERSION */
	const char *kind;     /**< only this kind (NULL: all) */
	uint64_t seq_min;     /**< first sequence number (default 0: from the oldest) */
	uint64_t seq_max;     /**< last (default UINT64_MAX) */
	int64_t step_min;     /**< with a step bound, events without a step are skipped */
	int64_t step_max;
	int64_t time_min;     /**< ns since epoch */
	int64_t time_max;
	int start_at_end;     /**< 1: only events appended after open ("latest") */
} pt_iter_options;

#define PT_ITER_OPTIONS_VERSION 1
#define PT_ITER_OPTIONS_INIT                                                            \
	{ PT_ITER_OPTIONS_VERSION, NULL, 0, UINT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, \
	  INT64_MAX, 0 }

PT_EXTERN int pt_iter_options_init(pt_iter_options *opts, unsigned int version);

/** Open an iterator over `run`/`stream` (NULL stream: "main"). */
PT_EXTERN int pt_iter_open(pt_iter **out, const pt_store *st, const char *run,
			   const char *stream, const pt_iter_options *opts);

/**
 * The next matching event.  `*out` is borrowed: valid until the next call on
 * `it` or its free.  Returns 0, PT_ITEROVER at the (current) end, or an error.
 */
PT_EXTERN int pt_iter_next(pt_iter *it, const pt_event_view **out);

PT_EXTERN void pt_iter_free(pt_iter *it);

/* Accessors of an event view. Strings are borrowed like the view. */
PT_EXTERN uint64_t pt_ev_seq(const pt_event_view *ev);
PT_EXTERN int64_t pt_ev_time(const pt_event_view *ev);  /**< ns since epoch */
PT_EXTERN int64_t pt_ev_step(const pt_event_view *ev);  /**< PT_NO_STEP if none */
PT_EXTERN const char *pt_ev_kind(const pt_event_view *ev);
PT_EXTERN const char *pt_ev_name(const pt_event_view *ev); /**< NULL if none */
PT_EXTERN const char *pt_ev_run(const pt_event_view *ev);
PT_EXTERN const char *pt_ev_stream(const pt_event_view *ev);

/** The whole event as stored: one msgpack map (borrowed). */
PT_EXTERN int pt_ev_msgpack(const pt_event_view *ev, const void **data, size_t *len);

/** The body map alone as msgpack (borrowed). */
PT_EXTERN int pt_ev_body_msgpack(const pt_event_view *ev, const void **data, size_t *len);

/**
 * The event as one JSON object in the `log --json` shape (see
 * pt_event_from_json), NUL-terminated, without a newline.  Borrowed: valid
 * until the next call on the iterator.
 */
PT_EXTERN int pt_ev_json(const pt_event_view *ev, const char **json, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
