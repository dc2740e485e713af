/*
 * zstdx.h - the checkpoint and object code's view of zstd (zstdx.c is the
 * only file of these modules that includes <zstd.h>).
 *
 * Contexts are cached per thread so that compressing thousands of chunks
 * does not allocate a context for each.
 */
#ifndef PT_ZSTDX_H
#define PT_ZSTDX_H

#include "internal.h"

/* Worst-case compressed size of `len` bytes. */
size_t pt__zstdx_bound(size_t len);

/*
 * Compress `src` into one zstd frame with the content size and the content
 * checksum set.  Returns the frame length in `*out_len`; PT_ELIMIT if it
 * does not fit `cap` (the caller then stores the bytes raw).
 */
int pt__zstdx_compress(void *dst, size_t cap, const void *src, size_t len, int level,
		       size_t *out_len);

/*
 * Decompress exactly one frame `src`/`len` (nothing may follow it) into
 * `dst`, which must be exactly `plain_len` bytes.  The frame must declare
 * that content size; its checksum is verified; the window is capped at
 * 2^27 so a hostile frame cannot make us allocate more.  Errors are
 * PT_ECORRUPT with `what` in the message.
 */
int pt__zstdx_decompress(void *dst, size_t plain_len, const void *src, size_t len,
			 const char *what);

#endif
