/*
 * provtrace/lineage.h - reading a stream with the lineage of every event,
 * either everything (the audit view) or only the live path.
 *
 * Basic outline:
 *   pt_lineage_iter *it;
 *   pt_lineage_iter_open(&it, st, "run-42", "main", NULL, 1);  // live path
 *   const pt_event_view *ev;
 *   int64_t lineage;
 *   while ((rc = pt_lineage_iter_next(it, &ev, &lineage)) == 0) ...
 *   if (rc != PT_ITEROVER) ... error ...
 *   pt_lineage_iter_free(it);
 *
 * Lineages (pt_recorder_resume, docs/REPLAY.md): the first lineage is 0; a
 * `lineage` event starts lineage N at its own seq, and the event belongs to
 * it.  The lineage of an event is the one whose own range of the stream
 * holds its seq.
 *
 * The live path (live = 1) is the path replay's step=N follows: the lineage
 * live at the end of the stream, preceded by its ancestors cut at each fork
 * point (the position replay's step=from_step gives on the parent).  Events
 * of an abandoned tail (written after the fork, before the resume) are not
 * on it, so a metric has one value per step.  The audit view (live = 0)
 * returns every event, in seq order.
 *
 * The lineage table and the path are taken when the iterator is opened (the
 * cost of a replay at `latest`: the newest snapshot and the events after
 * it).  The live view ends at the stream's end at open.  The audit view
 * keeps returning events appended later (like pt_iter_next after
 * PT_ITEROVER); they carry the lineage live at open, or the one a `lineage`
 * event the iterator itself returned started.
 *
 * An iterator is not thread-safe; use one per thread.
 */
#ifndef PROVTRACE_LINEAGE_H
#define PROVTRACE_LINEAGE_H

#include "common.h"
#include "reader.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_lineage_iter pt_lineage_iter;

/**
 * Open an iterator over `run`/`stream` (NULL stream: "main").  `opts` (may be
 * NULL) filters like pt_iter_open; `live` 1: only the live path, 0: every
 * event.  Returns 0, PT_EINVAL (bad name, options), PT_ENOTFOUND (no such
 * stream), PT_ECORRUPT or an I/O error.  `*out` is owned by the caller
 * (pt_lineage_iter_free).  The store must outlive the iterator.
 */
PT_EXTERN int pt_lineage_iter_open(pt_lineage_iter **out, const pt_store *st, const char *run,
				   const char *stream, const pt_iter_options *opts, int live);

/**
 * The next event and its lineage.  `*ev` is borrowed until the next call on
 * `it`; `lineage` may be NULL.  Returns 0, PT_ITEROVER at the end, or an
 * error (the iterator may be called again after PT_ITEROVER: see above).
 */
PT_EXTERN int pt_lineage_iter_next(pt_lineage_iter *it, const pt_event_view **ev, int64_t *lineage);

/** How many lineages the stream had at open (1: never resumed; NULL `it`: 1). */
PT_EXTERN size_t pt_lineage_iter_lineages(const pt_lineage_iter *it);

PT_EXTERN void pt_lineage_iter_free(pt_lineage_iter *it);

#ifdef __cplusplus
}
#endif
#endif
