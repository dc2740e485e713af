/*
 * provtrace/remote.h - remotes: a store's history in an S3-compatible bucket.
 *
 * Basic outline:
 *   pt_remote_add(st, "origin", "s3://bucket/team/provtrace", NULL, NULL);
 *   pt_push_options po = PT_PUSH_OPTIONS_INIT;
 *   pt_push_stats ps;
 *   pt_push(st, "origin", &po, &ps);          // uploads what the bucket lacks
 *   ...
 *   pt_clone("s3://bucket/team/provtrace", "/data/copy", NULL, &ps); // elsewhere
 *
 * A remote is a name for an s3://BUCKET[/PREFIX] URL, with an optional
 * endpoint (any S3-compatible service: MinIO, Ceph RGW, GCS's XML API...)
 * and region, kept in STORE/remotes.  Credentials are never stored: they are
 * found at each use the way AWS tools find them (AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN], or AWS_PROFILE with
 * ~/.aws/credentials and ~/.aws/config); the region from AWS_REGION /
 * AWS_DEFAULT_REGION / the profile, the endpoint from AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL / the profile unless the remote names one.  The bucket's
 * layout and protocol: docs/REMOTE.md.
 *
 * Errors: PT_EINVAL (a malformed URL, endpoint or name), PT_ENOTFOUND (no
 * such remote; no credentials; a bucket that is not a provtrace remote),
 * PT_EIO (the endpoint failed or refused: the message names the request,
 * HTTP status and S3's error code), PT_EEXISTS (the bucket already holds
 * different history for a stream: a second writer), PT_ECORRUPT (a
 * downloaded byte fails its hash, a malformed listing), PT_ELIMIT (an
 * answer larger than allowed).  Never a credential in a message.
 */
#ifndef PROVTRACE_REMOTE_H
#define PROVTRACE_REMOTE_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One configured remote; `endpoint` and `region` are NULL when not set. */
typedef struct {
	char *name;
	char *url;
	char *endpoint;
	char *region;
} pt_remote;

/**
 * Add remote `name` (a run-name-like name: 1-128 of [A-Za-z0-9._-]) for
 * `url` (s3://BUCKET[/PREFIX]); `endpoint` (http[s]://host[:port]) and
 * `region` may be NULL.  Nothing is contacted.  PT_EEXISTS if the name is
 * taken, PT_EINVAL for a malformed argument.  Not safe against a concurrent
 * pt_remote_add/remove on the same store (the last writer wins; the file
 * is replaced atomically, never torn).
 */
PT_EXTERN int pt_remote_add(pt_store *st, const char *name, const char *url, const char *endpoint,
			    const char *region);
/** Remove remote `name`; PT_ENOTFOUND if there is none. */
PT_EXTERN int pt_remote_remove(pt_store *st, const char *name);
/**
 * The configured remotes, sorted by name, in a new array (*out NULL when
 * none); free with pt_remote_list_free.
 */
PT_EXTERN int pt_remote_list(const pt_store *st, pt_remote **out, size_t *out_count);
PT_EXTERN void pt_remote_list_free(pt_remote *v, size_t count);
/** Remote `name` in *out (its strings allocated: pt_remote_clear); PT_ENOTFOUND naming the remotes there are. */
PT_EXTERN int pt_remote_get(const pt_store *st, const char *name, pt_remote *out);
PT_EXTERN void pt_remote_clear(pt_remote *r);

/**
 * Progress of a push or clone: `done` of `total` items, `bytes` moved so
 * far.  Called from the worker threads, one call at a time (serialised),
 * at most every few milliseconds per item; it must not call the library.
 */
typedef void (*pt_progress_cb)(void *payload, uint64_t done, uint64_t total, uint64_t bytes);

typedef struct {
	unsigned version;          /**< PT_PUSH_OPTIONS_VERSION */
	const char *run;           /**< push only this run (NULL: every run) */
	unsigned jobs;             /**< parallel uploads (0: 8; at most 64) */
	pt_progress_cb progress;   /**< NULL: none */
	void *progress_payload;
	const char *endpoint;      /**< override the remote's endpoint (NULL: the remote's, else AWS_ENDPOINT_URL...) */
	const char *region;        /**< override the remote's region */
	/**
	 * push: consider every object the runs reference (the events of all
	 * history are read), not only those of the segments the bucket does
	 * not list yet - to repair a bucket that lost objects.  0 by default.
	 */
	int full;
} pt_push_options;

#define PT_PUSH_OPTIONS_VERSION 1
#define PT_PUSH_OPTIONS_INIT {PT_PUSH_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL, NULL, 0}

typedef struct {
	uint64_t streams;   /**< streams pushed or cloned */
	uint64_t items;     /**< objects, segments, chain records and files considered */
	uint64_t transferred; /**< of those, uploaded (push) or downloaded (clone) */
	uint64_t present;   /**< already in the bucket (push) */
	uint64_t bytes;     /**< bytes uploaded or downloaded (bodies) */
	uint64_t requests;  /**< HTTP requests sent, retries included */
	uint64_t retries;
} pt_push_stats;

/**
 * Upload to `remote` (a configured name, or an s3:// URL) what it lacks of
 * the store's history: every sealed segment (hot or archived) with its
 * chain record, the snapshot index and recovery cuts of each stream, and
 * every object the runs reference (checkpoint manifests and chunks,
 * snapshots, code trees, artifacts).  Open segments are not pushed (seal
 * them, or record with a remote).  Content-addressed keys and chain records
 * are created only if absent (If-None-Match: *), so a push is idempotent,
 * can run from many hosts at once and resumes after a kill: a chain record
 * is written only after its segment and every object are in the bucket,
 * and in order, so the bucket never lists history it does not hold.
 * PT_EEXISTS when the bucket's chain for a stream differs from the local
 * one (another writer's history under the same run/stream).  `opts` may be
 * NULL; `stats` may be NULL.  On first use the bucket is checked to refuse
 * a second create-only PUT (docs/REMOTE.md): an endpoint that ignores the
 * condition is refused (PT_EIO).
 */
PT_EXTERN int pt_push(const pt_store *st, const char *remote, const pt_push_options *opts, pt_push_stats *stats);

/**
 * Make a new local store at `dir` (which must not exist, or be an empty
 * directory) holding everything in the bucket at `url` (s3://...), every
 * byte checked against its content address, then verify it (pt_verify):
 * PT_ECORRUPT naming what fails.  On failure the partial store is left for
 * inspection.  `opts` (run, jobs, progress, endpoint, region) may be NULL.
 */
PT_EXTERN int pt_clone(const char *url, const char *dir, const pt_push_options *opts, pt_push_stats *stats);

/**
 * What a store opened from a bucket (pt_store_open("s3://BUCKET/PREFIX"),
 * `--store s3://...`) has read so far: `requests` (retries included),
 * `retries`, `bytes` (response bodies); the other fields are 0.  Such a
 * store is read-only (log, replay, diff, runs, verify, checkpoint export
 * work; a recorder or gc is refused with PT_EINVAL); its history comes from
 * the bucket through a local cache (PROVTRACE_CACHE_DIR, else
 * $XDG_CACHE_HOME/provtrace, else ~/.cache/provtrace): metadata at open,
 * each segment and object when first read, checked against its content
 * address.  PT_EINVAL if `st` is a local store.
 */
PT_EXTERN int pt_store_remote_stats(const pt_store *st, pt_push_stats *out);

#ifdef __cplusplus
}
#endif

#endif
