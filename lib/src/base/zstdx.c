/*
 * zstdx.c - zstd for objects and checkpoint chunks: per-thread cached
 * contexts, checksummed frames, strict and bounded decompression.
 */
#include "base/zstdx_int.h"

#include <pthread.h>
/* ZSTD_customMem: contexts are allocated through the library's allocator
 * (alloc.h); see segment.c for the same. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#define PT_ZSTDX_WINDOW_LOG_MAX 27

static void *zmem_alloc(void *opaque, size_t n) { (void)opaque; return pt__malloc(n); }
static void zmem_free(void *opaque, void *p) { (void)opaque; pt__free(p); }
static const ZSTD_customMem zmem = {zmem_alloc, zmem_free, NULL};

typedef struct {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
} zctx;

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zctx_free(void *p)
{
	zctx *z = p;
	if (!z)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	pt__free(z);
}

static void zkey_make(void) { (void)pthread_key_create(&zkey, zctx_free); }

static zctx *zctx_get(void)
{
	pthread_once(&zonce, zkey_make);
	zctx *z = pthread_getspecific(zkey);
	if (!z) {
		/* freed by the thread-exit destructor (alloc.h: the allocator must
		 * stay usable until the process exits) */
		z = pt__calloc(1, sizeof *z);
		if (!z || pthread_setspecific(zkey, z)) {
			pt__free(z);
			pt__err(PT_ENOMEM, "cannot allocate a zstd context");
			return NULL;
		}
	}
	return z;
}

size_t pt__zstdx_bound(size_t len) { return ZSTD_compressBound(len); }

int pt__zstdx_compress(void *dst, size_t cap, const void *src, size_t len, int level, int profile,
		       size_t *out_len)
{
	zctx *z = zctx_get();
	if (!z)
		return PT_ENOMEM;
	if (!z->c && !(z->c = ZSTD_createCCtx_advanced(zmem)))
		return pt__err(PT_ENOMEM, "cannot create a zstd compression context");
	ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
	size_t r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r) && profile == PT_ZSTDX_SHUFFLED && level <= 1) {
		r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_strategy, ZSTD_fast);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_hashLog, 6);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(z->c, ZSTD_c_minMatch, 7);
	}
	if (ZSTD_isError(r))
		return pt__err(PT_EINVAL, "zstd: cannot set level %d: %s", level, ZSTD_getErrorName(r));
	r = ZSTD_compress2(z->c, dst, cap, src, len);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return PT_ELIMIT;
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return pt__err(PT_ENOMEM, "zstd compression: out of memory");
		return pt__err(PT_ERROR, "zstd compression failed: %s", ZSTD_getErrorName(r));
	}
	*out_len = r;
	return 0;
}

int pt__zstdx_decompress(void *dst, size_t plain_len, const void *src, size_t len,
			 const char *what)
{
	zctx *z = zctx_get();
	if (!z)
		return PT_ENOMEM;
	if (!z->d && !(z->d = ZSTD_createDCtx_advanced(zmem)))
		return pt__err(PT_ENOMEM, "cannot create a zstd decompression context");
	unsigned long long cs = ZSTD_getFrameContentSize(src, len);
	if (cs == ZSTD_CONTENTSIZE_ERROR || cs == ZSTD_CONTENTSIZE_UNKNOWN)
		return pt__err(PT_ECORRUPT, "%s: not a zstd frame with a declared content size", what);
	if (cs != plain_len)
		return pt__err(PT_ECORRUPT, "%s: zstd frame holds %llu bytes, header says %zu", what,
			       cs, plain_len);
	size_t fl = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(fl) || fl != len)
		return pt__err(PT_ECORRUPT, "%s: zstd frame is truncated or followed by extra bytes",
			       what);
	ZSTD_DCtx_reset(z->d, ZSTD_reset_session_and_parameters);
	ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax, PT_ZSTDX_WINDOW_LOG_MAX);
	size_t r = ZSTD_decompressDCtx(z->d, dst, plain_len, src, len);
	if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return pt__err(PT_ENOMEM, "%s: zstd: out of memory", what);
	if (ZSTD_isError(r))
		return pt__err(PT_ECORRUPT, "%s: zstd: %s", what, ZSTD_getErrorName(r));
	if (r != plain_len)
		return pt__err(PT_ECORRUPT, "%s: decompressed to %zu bytes, expected %zu", what, r,
			       plain_len);
	return 0;
}

/* ---- contexts owned by a caller (the segment writer and readers) ----------------
 * The batches of a segment are compressed and decompressed with one context per
 * writer or reader, set once; errors name what was being read. */

/* A zstd error as a provtrace code: running out of memory is not damage. */
static int zstd_err(size_t r, int code, const char *what)
{
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return pt__err(PT_ENOMEM, "%s: zstd: out of memory", what);
	return pt__err(code, "%s: zstd: %s", what, ZSTD_getErrorName(r));
}

struct pt__zc {
	ZSTD_CCtx *cctx;
};

int pt__zc_new(pt__zc **out, int level)
{
	pt__zc *z = pt__calloc(1, sizeof *z);
	if (!z)
		return PT_ENOMEM;
	z->cctx = ZSTD_createCCtx_advanced(zmem);
	if (!z->cctx) {
		pt__free(z);
		return pt__err(PT_ENOMEM, "cannot create a zstd compression context");
	}
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
	*out = z;
	return 0;
}

void pt__zc_free(pt__zc *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	pt__free(z);
}

int pt__zc_compress(pt__zc *z, pt__buf *out, const void *src, size_t len)
{
	size_t bound = ZSTD_compressBound(len);
	int rc = pt__buf_reserve(out, bound);
	if (rc)
		return rc;
	size_t n = ZSTD_compress2(z->cctx, out->data + out->len, bound, src, len);
	if (ZSTD_isError(n))
		return zstd_err(n, PT_ERROR, "batch compression");
	out->len += n;
	return 0;
}

struct pt__zd {
	ZSTD_DCtx *dctx;
};

int pt__zd_new(pt__zd **out)
{
	pt__zd *z = pt__calloc(1, sizeof *z);
	if (!z)
		return PT_ENOMEM;
	z->dctx = ZSTD_createDCtx_advanced(zmem);
	if (!z->dctx) {
		pt__free(z);
		return pt__err(PT_ENOMEM, "cannot create a zstd decompression context");
	}
	ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax, PT_ZSTDX_WINDOW_LOG_MAX);
	*out = z;
	return 0;
}

void pt__zd_free(pt__zd *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	pt__free(z);
}

int pt__zd_decompress(pt__zd *z, pt__buf *out, const void *src, size_t len, size_t raw_len, const char *what)
{
	unsigned long long cs = ZSTD_getFrameContentSize(src, len);
	if (cs != raw_len)
		return pt__err(PT_ECORRUPT, "%s: zstd frame declares %llu bytes, header says %zu", what, cs, raw_len);
	if (ZSTD_findFrameCompressedSize(src, len) != len)
		return pt__err(PT_ECORRUPT, "%s: payload is not exactly one zstd frame", what);
	out->len = 0;
	int rc = pt__buf_reserve(out, raw_len + 1);
	if (rc)
		return rc;
	size_t n = ZSTD_decompressDCtx(z->dctx, out->data, raw_len + 1, src, len);
	if (ZSTD_isError(n))
		return zstd_err(n, PT_ECORRUPT, what);
	if (n != raw_len)
		return pt__err(PT_ECORRUPT, "%s: decompressed to %zu bytes, expected %zu", what, n, raw_len);
	out->len = n;
	return 0;
}
