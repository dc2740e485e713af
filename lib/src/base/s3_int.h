/*
 * base/s3_int.h - the S3 protocol over base/http.c: put, get (ranged), head,
 * list, delete, with S3's conditional writes.  Private to the library.
 *
 * A pt__s3 is one bucket + key prefix (from s3://BUCKET/PREFIX) and one
 * HTTP client; keys given here are relative to the prefix.  Requests use
 * path-style addressing (ENDPOINT/BUCKET/KEY), which AWS, MinIO, Ceph RGW,
 * GCS's XML API and moto all accept.  S3 error answers (XML <Error>) become
 * PT_* codes with a message naming the operation, the key, the status, S3's
 * code and message: 404 PT_ENOTFOUND, 412 (a failed If-None-Match/If-Match)
 * PT_EEXISTS, 403 PT_EIO ("access denied"), others PT_EIO.
 *
 * Thread rules: like its HTTP client, one thread at a time per pt__s3.
 */
#ifndef PT_S3_INT_H
#define PT_S3_INT_H

#include "base/http_int.h"

typedef struct pt__s3 pt__s3;

/* Split s3://BUCKET[/PREFIX]: bucket and prefix ("" or ending in '/'), allocated.
 * PT_EINVAL naming what is wrong (bucket naming rules, "..", empty segments). */
int pt__s3_url_parse(const char *url, char **bucket, char **prefix);

/* A client for `url` (s3://...) with `endpoint`/`region` (NULL: found like AWS tools). */
int pt__s3_open(pt__s3 **out, const char *url, const char *endpoint, const char *region,
		const pt__http_opts *opts);
void pt__s3_free(pt__s3 *s);
const pt__http_stats *pt__s3_stats(const pt__s3 *s);
const char *pt__s3_bucket(const pt__s3 *s);
const char *pt__s3_prefix(const pt__s3 *s);
/* The endpoint its client talks to (borrowed). */
const char *pt__http_endpoint_of_s3(const pt__s3 *s);

enum {
	PT_S3_CREATE_ONLY = 1, /* If-None-Match: * - PT_EEXISTS when the key exists */
};

/*
 * PUT `key` with the body (memory, or `len` bytes of `fd` from `off` when
 * data is NULL).  `if_match` (an ETag, quotes included) makes it a
 * compare-and-swap (PT_EEXISTS when the object changed).  *etag_out (may be
 * NULL) gets the new ETag.  The request is not retried when it is
 * conditional and an earlier attempt may have landed: a 412 after a retry
 * is reported as PT_EEXISTS all the same - the caller checks the content
 * when it must know whose write won.
 */
int pt__s3_put(pt__s3 *s, const char *key, const void *data, int fd, uint64_t off, uint64_t len, int flags,
	       const char *if_match, char **etag_out);
/*
 * A body from a file of at least `min` bytes is sent as a multipart upload
 * in parts of `part` bytes (at least 5 MiB, S3's minimum): each part is
 * retried alone, and a failed upload is aborted.  Defaults: 256 MiB, 64 MiB.
 * A create-only multipart PUT checks with HEAD first and completes with
 * If-None-Match: *.
 */
void pt__s3_set_multipart(pt__s3 *s, uint64_t min, uint64_t part);

/*
 * GET `key` (the whole object when range_len is 0, else that range) into a
 * new buffer of at most `max` bytes (PT_ELIMIT beyond).  *etag_out may be NULL.
 */
int pt__s3_get(pt__s3 *s, const char *key, uint64_t range_off, uint64_t range_len, size_t max, uint8_t **out,
	       size_t *out_len, char **etag_out);
/* GET `key` into `fd` (written from its current offset), at most `max` bytes; *out_len the size. */
int pt__s3_get_fd(pt__s3 *s, const char *key, int fd, uint64_t max, uint64_t *out_len);
/* HEAD: size and ETag (may be NULL); PT_ENOTFOUND when absent. */
int pt__s3_head(pt__s3 *s, const char *key, uint64_t *size, char **etag_out);
int pt__s3_delete(pt__s3 *s, const char *key);

typedef struct {
	char *key; /* relative to the prefix */
	uint64_t size;
	char etag[80];
} pt__s3_obj;

/*
 * List keys below `sub` (relative to the prefix), all pages, sorted as S3
 * sorts (bytewise).  At most `max` keys (PT_ELIMIT beyond: a hostile or
 * unexpected listing cannot exhaust memory).  A listing whose keys are not
 * below the prefix asked for, not in order, or that repeats a continuation
 * token is PT_ECORRUPT.  Free with pt__s3_list_free.
 */
int pt__s3_list(pt__s3 *s, const char *sub, size_t max, pt__s3_obj **out, size_t *count);
void pt__s3_list_free(pt__s3_obj *v, size_t n);

#endif
