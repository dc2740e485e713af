/*
 * format/rstore_int.h - a store read in place from a bucket (`--store
 * s3://BUCKET/PREFIX`, pt_store_open("s3://...")).  Private to the library.
 *
 * A remote store is a read-only pt_store whose directory is a local cache
 * (PROVTRACE_CACHE_DIR, else $XDG_CACHE_HOME/provtrace, else
 * ~/.cache/provtrace; one directory per endpoint + URL).  Opening it brings
 * the metadata up to date - the run and stream directories, each stream's
 * chain file rebuilt from the bucket's chain records (immutable, so only new
 * ones are fetched) and its snapshot index - and nothing else.  The seam
 * (log/history.c) asks here for a segment or object whose cached file is
 * missing: it is downloaded once, checked against its content address
 * (a segment's SHA-256 is its name, an object's plain bytes hash to its id)
 * and renamed into the cache, so every later read is local.  Nothing but
 * the seam and pt_store_open call this file.
 */
#ifndef PT_RSTORE_INT_H
#define PT_RSTORE_INT_H

#include "base/http_int.h"

struct pt__rstore;

/*
 * pt_store_open("s3://...") (store.c): connect to the bucket at `url`
 * (endpoint, region, credentials from the environment), check its marker,
 * and name the cache directory (allocated); store.c makes or opens the store
 * there, sets st->remote, and calls pt__rstore_sync to bring the metadata
 * up to date.
 */
int pt__rstore_connect(const char *url, struct pt__rstore **out, char **cache_dir);
int pt__rstore_sync(pt_store *st);
void pt__rstore_free(struct pt__rstore *r);
/* Bring segment `id` of run/stream into the cache: 0, PT_ENOTFOUND (not in the bucket), PT_ECORRUPT... */
int pt__rstore_fetch_segment(const pt_store *st, const char *run, const char *stream, const uint8_t id[32]);
/* Bring object `id` into the cache. */
int pt__rstore_fetch_object(const pt_store *st, const uint8_t id[32]);
/* PT_EINVAL naming `what` when `st` is a remote store (read-only). */
int pt__rstore_refuse_write(const pt_store *st, const char *what);

#endif
