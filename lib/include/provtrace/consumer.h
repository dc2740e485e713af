/*
 * provtrace/consumer.h - durable consumers: named positions over a store's
 * events that hand batches to a handler as the events are written.
 *
 * Basic outline:
 *   pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
 *   o.run = "exp-*";  o.start = "oldest";  o.batch_max = 1000;
 *   pt_consumer *c;
 *   pt_consumer_open(&c, st, "alerts", &o);       // created, or resumed where it was
 *   pt_consumer_run(c, handler, userdata);        // until pt_consumer_stop()
 *   pt_consumer_close(c);
 *
 *   int handler(void *ud, pt_consumer_batch *b) {
 *       size_t n;
 *       const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
 *       ... ev[i].run, ev[i].stream, ev[i].seq ...
 *       return 0;                                // anything else: failed (retried)
 *   }
 *
 * A consumer follows one run, the runs matching a glob (fnmatch; runs
 * created later are picked up), or every run of the store; optionally only
 * the streams matching a second glob.  Its position - the last sequence
 * number handled in each stream - is kept in the store
 * (STORE/consumers/NAME, docs/FORMAT.md) and replaced atomically after each
 * batch the handler accepted.  Delivery is at least once: a consumer killed
 * between a handler's success and the commit hands that batch again on
 * resume.  Every event carries run, stream and seq, so handlers can dedupe.
 *
 * Order: within a stream, seq order, always.  Across streams, a batch
 * merges the streams by event time (ties: run, stream), as far as the
 * events are there when the batch is cut; no global order is promised.
 *
 * Failures (pt_consumer_run): a batch the handler fails is retried after
 * backoff_ms, doubled each time up to backoff_max_ms, max_retries times;
 * then it is split in two halves handled in order (each with its own
 * retries), down to single events.  A single event that still fails is
 * recorded in the failure destination (a stream of the store, default
 * `consumer-failures/NAME`) as a `consumer_failure` event named after the
 * consumer, body {consumer, event_run, event_stream, seq_first, seq_last,
 * event_kind, error, attempts}, and the consumer moves on.
 * Consumers that follow several runs never read the failure destinations'
 * run (`consumer-failures` by default).
 *
 * Waiting for events uses inotify on the followed directories; where it is
 * unavailable (or the watch limit is reached) the store is polled every
 * poll_ms.  There is no busy loop.  A batch looks only at the streams that
 * changed; with more than 64 streams followed, an idle stream holds no
 * file descriptor.
 *
 * One process per consumer name: opening takes a lock (released by the
 * kernel when the process dies); a second opener gets PT_ELOCKED naming the
 * holder (pid, host, since when).
 *
 * Thread rules: a pt_consumer is used by one thread at a time, except
 * pt_consumer_stop, which any thread or a signal handler may call.
 */
#ifndef PROVTRACE_CONSUMER_H
#define PROVTRACE_CONSUMER_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_consumer pt_consumer;
typedef struct pt_consumer_batch pt_consumer_batch;

typedef struct {
	unsigned int version;     /**< PT_CONSUMER_OPTIONS_VERSION */
	/** Runs followed: a name or an fnmatch glob; NULL: every run of the store.
	 *  When the consumer exists already: NULL means as recorded, anything
	 *  else must equal what was recorded (PT_EINVAL). */
	const char *run;
	/** Streams followed in each run: a name or a glob; NULL: all (same rule). */
	const char *stream;
	/** Where a new consumer starts: "oldest" (default), "latest" (events
	 *  written after it was created; streams that appear later are read
	 *  from their first event), "seq=N", "step=N", "time=T" (ISO-8601 or
	 *  ns; each stream from its first event at or after the point).
	 *  Ignored when the consumer exists (see pt_consumer_reset). */
	const char *start;
	uint32_t batch_max;       /**< events per batch, 1..1000000 (default 100) */
	uint32_t window_ms;       /**< wait up to this long for a batch to fill (default 0) */
	uint32_t max_retries;     /**< retries of a failing batch before it is split (default 3) */
	uint32_t backoff_ms;      /**< first retry delay, doubled per retry (default 100) */
	uint32_t backoff_max_ms;  /**< largest retry delay (default 10000) */
	/** "RUN/STREAM" for failed events; NULL: "consumer-failures/NAME". */
	const char *failures;
	int follow;               /**< 1 (default): wait for new events; 0: return when caught up */
	uint32_t poll_ms;         /**< poll period without inotify (default 1000; with inotify a
				       safety-net look every max(poll_ms, 10 s)) */
	int fsync;                /**< 1: fsync each commit (survives power loss); default 0 */
} pt_consumer_options;

#define PT_CONSUMER_OPTIONS_VERSION 1
#define PT_CONSUMER_OPTIONS_INIT \
	{ PT_CONSUMER_OPTIONS_VERSION, NULL, NULL, NULL, 100, 0, 3, 100, 10000, NULL, 1, 1000, 0 }

PT_EXTERN int pt_consumer_options_init(pt_consumer_options *opts, unsigned int version);

/** One event of a batch.  Every pointer is borrowed from the batch. */
typedef struct {
	const char *run, *stream;
	uint64_t seq;
	int64_t time;             /**< ns since epoch */
	int64_t step;             /**< PT_NO_STEP if none */
	const char *kind;
	const char *name;         /**< NULL if none */
	const void *msgpack;      /**< the whole event as stored (docs/FORMAT.md) */
	size_t msgpack_len;
} pt_consumer_event;

/**
 * Open consumer `name` (a run-name-like identifier) over `st`: created with
 * `opts` (NULL: defaults) if it does not exist, else resumed at its
 * committed position.  Takes the consumer's lock.  Returns 0, PT_EINVAL (a
 * bad name, glob, start or option; a source other than the recorded one),
 * PT_ELOCKED (another process runs it: the message names the holder),
 * PT_ECORRUPT (its position file is damaged), PT_ENOMEM or an I/O error.
 * `*out`: pt_consumer_close.  `st` must outlive the consumer.
 */
PT_EXTERN int pt_consumer_open(pt_consumer **out, pt_store *st, const char *name,
			       const pt_consumer_options *opts);

/**
 * The next batch: up to batch_max events after those already handed out
 * (not necessarily committed), waiting up to `wait_ms` (-1: until an event
 * comes or pt_consumer_stop) for the first and up to window_ms for more.
 * `*out` is borrowed until the next poll, commit or close.  Returns 0,
 * PT_ITEROVER (no event within wait_ms, or stopped), or an error (the
 * consumer may be polled again: nothing is skipped).
 */
PT_EXTERN int pt_consumer_poll(pt_consumer *c, pt_consumer_batch **out, int wait_ms);

/**
 * Commit the position past every event of `b` (from pt_consumer_poll): the
 * position file is replaced atomically.  Returns 0, PT_EINVAL (not this
 * consumer's current batch) or an I/O error (the position is unchanged).
 */
PT_EXTERN int pt_consumer_commit(pt_consumer *c, pt_consumer_batch *b);

/**
 * The handler of pt_consumer_run: 0 = the batch is done; anything else =
 * failed (pt_consumer_batch_set_error may say why).  Called on the thread
 * that called pt_consumer_run.
 */
typedef int (*pt_consumer_handler)(void *userdata, pt_consumer_batch *batch);

/**
 * Poll, hand each batch to `handler`, commit - with retries, bisection and
 * the failure destination (see the top of this file) - until
 * pt_consumer_stop, or, with follow = 0, until caught up.  Returns 0, or
 * the first error reading events, recording a failure or committing.
 */
PT_EXTERN int pt_consumer_run(pt_consumer *c, pt_consumer_handler handler, void *userdata);

/** Ask pt_consumer_poll/run to return soon (async-signal-safe, any thread). */
PT_EXTERN void pt_consumer_stop(pt_consumer *c);

/** Counters of this handle: events delivered and committed, failed events recorded. */
typedef struct {
	uint64_t events;      /**< events committed */
	uint64_t batches;     /**< batches committed */
	uint64_t attempts;    /**< handler calls */
	uint64_t failed;      /**< events written to the failure destination */
} pt_consumer_counts;

PT_EXTERN void pt_consumer_get_counts(const pt_consumer *c, pt_consumer_counts *out);

/** Release the lock and free.  NULL is a no-op. */
PT_EXTERN void pt_consumer_close(pt_consumer *c);

/* ---- batches ---- */

/** The events of `b` (`*n` of them), borrowed like the batch. */
PT_EXTERN const pt_consumer_event *pt_consumer_batch_events(const pt_consumer_batch *b, size_t *n);

/**
 * The batch as JSON lines: each event in the `log --json` shape (with
 * "run" and "stream") followed by '\n'.  Borrowed until the next call on the
 * batch or its consumer.  Returns 0, PT_ECORRUPT, PT_ENOMEM.
 */
PT_EXTERN int pt_consumer_batch_jsonl(pt_consumer_batch *b, const char **text, size_t *len);

/** Record why the handler failed (copied; shown in the failure destination). */
PT_EXTERN void pt_consumer_batch_set_error(pt_consumer_batch *b, const char *message);

/* ---- managing consumers ---- */

typedef struct {
	char *run, *stream;
	uint64_t seq;           /**< last sequence number handled (0: none) */
	uint64_t last;          /**< the stream's last sequence number now */
} pt_consumer_position;

typedef struct {
	char *name;
	char *run, *stream;     /**< the globs followed (NULL: all) */
	char *start;            /**< the start point recorded */
	char *failures;         /**< RUN/STREAM of failed events */
	int64_t created;        /**< ns */
	int64_t committed;      /**< ns of the last commit (0: never) */
	uint64_t events_behind; /**< events written but not handled yet */
	int64_t lag_ns;         /**< age of the oldest event not handled (0: none) */
	int active;             /**< 1 if a process holds the consumer now */
	char *holder;           /**< who (pid, host, since), NULL if none */
	pt_consumer_position *positions;
	size_t npositions;
} pt_consumer_info;

/**
 * Every consumer of the store (sorted by name; only `name` if not NULL:
 * PT_ENOTFOUND if it does not exist), with position and lag.
 * `*out` (`*n` entries): pt_consumer_info_free.
 */
PT_EXTERN int pt_consumers_list(const pt_store *st, const char *name, pt_consumer_info **out, size_t *n);

PT_EXTERN void pt_consumer_info_free(pt_consumer_info *v, size_t n);

/**
 * Move consumer `name` to `position`: "oldest", "latest" (every stream's
 * current end), "seq=N", "step=N" or "time=T" (each stream from its first
 * event at or after the point).  Takes the consumer's lock: PT_ELOCKED while
 * it runs.  Returns 0, PT_ENOTFOUND, PT_EINVAL, PT_ELOCKED or an I/O error.
 */
PT_EXTERN int pt_consumer_reset(pt_store *st, const char *name, const char *position);

/** Remove consumer `name` (its position; the failure stream stays). */
PT_EXTERN int pt_consumer_remove(pt_store *st, const char *name);

#ifdef __cplusplus
}
#endif
#endif
