/*
 * live/live_int.h - what the files of live/ share: a consumer's record in
 * the store (consumer_state.c), start points, and the directory watcher
 * (watch.c).  Private to the library.
 */
#ifndef PT_LIVE_INT_H
#define PT_LIVE_INT_H

#include "base/base_int.h"

/* ---- the consumer record (consumer_state.c; docs/FORMAT.md "Consumers") ---- */

typedef struct {
	char *run, *stream;
	uint64_t seq; /* last sequence number handled */
	bool changed; /* since the file was last written (pt__cstate_commit) */
} pt__cpos;

typedef struct {
	char *name;
	char *run, *stream;  /* globs; NULL: all */
	char *start;         /* start point as given (normalised) */
	char *failures;      /* RUN/STREAM */
	int64_t created, committed;
	pt__cpos *pos;       /* sorted by (run, stream) */
	size_t npos, cap;
	int fd;              /* appending commits (-1: not open) */
	uint64_t base_bytes, appended;
} pt__cstate;

/* STORE/consumers/NAME/position.  PT_ENOTFOUND if the consumer does not exist. */
int pt__cstate_read(const pt_store *st, const char *name, pt__cstate *out);
/* Replace it atomically (temporary file + rename; fsync if asked). */
int pt__cstate_write(const pt_store *st, pt__cstate *s, bool fsync);
/* Record the positions changed since the last write or commit: one block
 * appended (or, once the blocks outgrow the base, the file rewritten). */
int pt__cstate_commit(const pt_store *st, pt__cstate *s, bool fsync);
void pt__cstate_free(pt__cstate *s);
/* The position of run/stream, or NULL. */
pt__cpos *pt__cstate_find(pt__cstate *s, const char *run, const char *stream);
int pt__cstate_set(pt__cstate *s, const char *run, const char *stream, uint64_t seq);
void pt__cstate_clear(pt__cstate *s);
/* Create the consumer's directory and take its lock: the fd (>= 0), or
 * PT_ELOCKED naming the holder, or another error. */
int pt__cstate_lock(const pt_store *st, const char *name);
/* Who holds the lock: 1 and *holder (allocated) if held, 0 if free. */
int pt__cstate_holder(const pt_store *st, const char *name, char **holder);
/* The consumers' names (sorted). */
int pt__cstate_names(const pt_store *st, char ***out, size_t *n);
int pt__cstate_remove(const pt_store *st, const char *name);
/* A glob of run or stream names: name characters and * ? [ ] ! only. */
int pt__glob_check(const char *what, const char *glob);
bool pt__glob_is_pattern(const char *glob);

/* ---- start points ---- */
enum { PT__START_OLDEST, PT__START_LATEST, PT__START_SEQ, PT__START_STEP, PT__START_TIME };
typedef struct {
	int kind;
	uint64_t seq;
	int64_t step, time;
} pt__start;
/* Parse "oldest", "latest", "seq=N", "step=N", "time=T". */
int pt__start_parse(const char *text, pt__start *out);
/* The first seq of run/stream at or after `s` (OLDEST: 1; LATEST: past the
 * end now): *out, or 0 when no event reaches the point yet. */
int pt__start_first_seq(const pt_store *st, const char *run, const char *stream, const pt__start *s,
			uint64_t *out);
/* Streams of the store matching run/stream globs (skipping `skip_run`
 * unless the run glob names it exactly): parallel arrays, sorted. */
int pt__match_streams(const pt_store *st, const char *run_glob, const char *stream_glob, const char *const *skip_runs,
		      size_t nskip, char ***runs, char ***streams, size_t *n);
/* The same, calling on_run(ud, run) for each matching run before its
 * streams are listed (a watcher is set on it first, so no stream created
 * meanwhile is missed). */
int pt__match_streams_cb(const pt_store *st, const char *run_glob, const char *stream_glob, const char *const *skip_runs,
			 size_t nskip, int (*on_run)(void *ud, const char *run), void *ud, char ***runs, char ***streams,
			 size_t *n);

/* ---- the watcher (watch.c): inotify, or polling where it is missing ---- */
typedef struct pt__watch pt__watch;
int pt__watch_new(pt__watch **out);
void pt__watch_free(pt__watch *w);
/* Watch directory `path` for changes; `tag` comes back from pt__watch_wait.
 * Returns 0 even when the directory cannot be watched: the watcher is then
 * "polling" (pt__watch_polling) and callers look at everything periodically. */
int pt__watch_add(pt__watch *w, const char *path, int tag);
bool pt__watch_polling(const pt__watch *w);
/* Wait up to timeout_ms (-1: forever) for changes or a wake-up.  For each
 * changed watched directory `cb(tag, ud)` is called; an overflow calls it
 * with tag -2 (everything may have changed).  Returns 1 if something
 * happened, 0 on timeout, negative on error. */
int pt__watch_wait(pt__watch *w, int timeout_ms, void (*cb)(int tag, void *ud), void *ud);
/* Wake a pt__watch_wait (async-signal-safe). */
void pt__watch_wake(pt__watch *w);

#endif
