/*
 * remote/remote_int.h - push and clone: the parallel transfer pool they share.
 * Private to the library.  remote/ is a layer-4 folder (beside archive/): it
 * composes the log (the seam, the bucket layout) and checkpoints (the live
 * objects), and nothing below includes it.
 */
#ifndef PT_REMOTE_INT_H
#define PT_REMOTE_INT_H

#include "base/s3_int.h"

/* Where a remote is: URL, endpoint, region (borrowed strings). */
typedef struct {
	const char *url, *endpoint, *region;
} pt__remote_where;

/* Resolve a push/clone target: a configured remote's name or an s3:// URL; options override. */
int pt__remote_resolve(const pt_store *st, const char *remote, const pt_push_options *o, pt_remote *keep,
		       pt__remote_where *out);

/*
 * Run fn(s3, i, payload) for i in [0, n) on `jobs` threads, each with its own
 * S3 client (connection).  The first error stops the others from taking new
 * items and is returned (its message re-set on the calling thread).
 * Progress is reported after each item; `bytes` is read from *bytes_ctr.
 * Request counts of every client are added to st->requests/retries.
 */
typedef int (*pt__remote_fn)(pt__s3 *s3, size_t i, void *payload);
int pt__remote_pool(const pt__remote_where *w, unsigned jobs, size_t n, pt__remote_fn fn, void *payload,
		    const pt_push_options *o, uint64_t *done_ctr, uint64_t total, const uint64_t *bytes_ctr,
		    pt_push_stats *st);

#endif
