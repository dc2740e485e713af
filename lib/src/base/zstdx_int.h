/*
 * base/zstdx_int.h - the library's view of zstd (zstdx.c is the only file that
 * includes <zstd.h>).
 *
 * Contexts are cached per thread so that compressing thousands of chunks
 * does not allocate a context for each.
 */
#ifndef PT_ZSTDX_H
#define PT_ZSTDX_H

#include "base/base_int.h"

/* Worst-case compressed size of `len` bytes. */
size_t pt__zstdx_bound(size_t len);

/* Compression profiles (the frames are ordinary zstd frames either way). */
enum {
	PT_ZSTDX_DEFAULT = 0,
	/*
	 * Byte-shuffled floats: the planes of mantissa bytes are noise and only
	 * the exponent planes compress, by entropy coding rather than matches.
	 * The fast strategy with a tiny hash table and long minimum match finds
	 * almost no matches and leaves the bytes to the Huffman literal coder:
	 * measured on float32 weights, 1.9 GB/s at ratio 1.198 against 0.75-1.0
	 * GB/s at 1.188 for level 1.
	 */
	PT_ZSTDX_SHUFFLED = 1
};

/*
 * Compress `src` into one zstd frame with the content size and the content
 * checksum set.  Returns the frame length in `*out_len`; PT_ELIMIT if it
 * does not fit `cap` (the caller then stores the bytes raw).
 */
int pt__zstdx_compress(void *dst, size_t cap, const void *src, size_t len, int level, int profile,
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

/*
 * Contexts owned by the caller, for the batches of segments: compress to one
 * frame (content size + checksum) appended to `out`; decompress one frame that
 * must hold exactly `raw_len` bytes into `out` (replaced), window capped as above.
 */
typedef struct pt__zc pt__zc;
int pt__zc_new(pt__zc **out, int level);
void pt__zc_free(pt__zc *z);
/* Compress `src` to one zstd frame (content size + checksum) appended to `out`. */
int pt__zc_compress(pt__zc *z, pt__buf *out, const void *src, size_t len);
typedef struct pt__zd pt__zd;
int pt__zd_new(pt__zd **out);
void pt__zd_free(pt__zd *z);
/* Decompress one frame that must hold exactly `raw_len` bytes into `out` (replaced). */
int pt__zd_decompress(pt__zd *z, pt__buf *out, const void *src, size_t len, size_t raw_len, const char *what);

#endif
