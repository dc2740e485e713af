/*
 * format/bucket_int.h - the layout of a store in an S3-compatible bucket
 * (docs/REMOTE.md, "Bucket layout"): key names, the marker object, chain
 * records.  This file owns that layout; push, clone and the read-in-place
 * backend call it.  Private to the library.
 *
 *	PREFIX/provtrace-remote                          marker ("provtrace-remote 1")
 *	PREFIX/objects/<hh>/<62 hex>                     an object file, byte for byte
 *	PREFIX/runs/<run>/<stream>/segments/<id>.ptseg   a sealed segment, byte for byte
 *	PREFIX/runs/<run>/<stream>/chain/<n, 10 digits>  chain record n (create-only)
 *	PREFIX/runs/<run>/<stream>/cut/<name>            a torn tail cut by recovery
 *	PREFIX/runs/<run>/<stream>/snapshots             the snapshot index (a cache)
 *
 * Every key but `snapshots` is written only with If-None-Match: * and never
 * changes: objects and segments are named by their SHA-256, and chain
 * record n can be created once, so two writers (or a zombie) cannot give a
 * stream two different segment n in the bucket.
 */
#ifndef PT_BUCKET_INT_H
#define PT_BUCKET_INT_H

#include "base/s3_int.h"
#include "format/segment_int.h"

#define PT_BUCKET_MARKER_KEY "provtrace-remote"
#define PT_BUCKET_MAX_KEYS ((size_t)50 << 20) /* keys one listing may return */

/* A run/stream name as docs/FORMAT.md allows them (pt_name_check's rule; a
 * copy here because store.c calls this folder's remote store code). */
bool pt__bucket_name_ok(const char *s);

/* Key names (allocated; NULL on ENOMEM). */
char *pt__bkey_segment(const char *run, const char *stream, const uint8_t id[32]);
char *pt__bkey_chainrec(const char *run, const char *stream, uint64_t n);
char *pt__bkey_stream(const char *run, const char *stream, const char *file); /* runs/R/S/<file> */
char *pt__bkey_object(const uint8_t id[32]);

/* Chain record body: "provtrace-chain-record 1\n<chain line>\n". */
int pt__bucket_chainrec_encode(pt__buf *b, const pt__chain_entry *e);
/* PT_ECORRUPT naming `key` when malformed or when its n is not `n`. */
int pt__bucket_chainrec_decode(const uint8_t *p, size_t len, uint64_t n, const char *key, pt__chain_entry *e);

/*
 * The marker: `create` makes it (create-only) when absent; either way its
 * content is checked.  PT_ENOTFOUND (not a provtrace remote, !create),
 * PT_EVERSION (a newer layout), PT_ECORRUPT (another object there).
 */
int pt__bucket_marker(pt__s3 *s, bool create);

/*
 * Check that the endpoint refuses a second create-only PUT of one key
 * (some S3 clones ignore If-None-Match): PUT probe/<random> twice, then
 * delete it.  PT_EIO when the second PUT succeeded.
 */
int pt__bucket_probe(pt__s3 *s);

/*
 * A stream's chain from its records in the bucket (one LIST, one GET per
 * record).  Records must be dense from 0.  An empty chain when the stream
 * has none.
 */
int pt__bucket_chain_load(pt__s3 *s, const char *run, const char *stream, pt__chain *out);

/* Run and stream names present in the bucket (streams with at least chain record 0). */
typedef struct {
	char *run, *stream;
} pt__bucket_stream;
int pt__bucket_streams(pt__s3 *s, const char *only_run, pt__bucket_stream **out, size_t *count);
void pt__bucket_streams_free(pt__bucket_stream *v, size_t n);

#endif
