/*
 * provtrace/alloc.h - replacing the library's memory allocator.
 *
 * Every allocation libprovtrace makes - its own, zstd's compression and
 * decompression contexts and jansson's JSON trees - goes through one
 * allocator, which an application may replace (a tracking allocator, an
 * arena, or a failing one to test out-of-memory handling, as
 * tests/test_alloc_fail.c does).  A failed allocation is never fatal: the
 * call that needed it returns PT_ENOMEM (or an error wrapping it) and leaves
 * every object and file as valid as before.
 *
 * Basic outline:
 *   pt_allocator a = { PT_ALLOCATOR_VERSION, my_malloc, my_realloc, my_free, my_ctx };
 *   pt_set_allocator(&a);          // first call of the process into provtrace
 *   ... use the library ...
 *
 * Thread rules: pt_set_allocator() is not synchronised with the rest of the
 * library.  Call it before any other provtrace function (and before any
 * thread may call one); memory is then allocated and freed by the same
 * allocator.  The three functions are called from any thread, including the
 * library's background threads (the recorder's writer, checkpoint workers)
 * and thread-exit destructors of per-thread caches, so they must be
 * thread-safe and stay usable until the process exits.
 *
 * jansson's allocator is global to the process: pt_set_allocator() also
 * replaces it for any other code of the process that uses jansson, so call
 * it before that code allocates a JSON value too.
 */
#ifndef PROVTRACE_ALLOC_H
#define PROVTRACE_ALLOC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_ALLOCATOR_VERSION 1

typedef struct {
	unsigned int version; /**< PT_ALLOCATOR_VERSION */
	/** Like malloc(3); `size` is never 0.  NULL on failure. */
	void *(*malloc)(size_t size, void *ctx);
	/** Like realloc(3); `ptr` may be NULL, `size` is never 0.  On failure
	 *  return NULL and leave `ptr` allocated. */
	void *(*realloc)(void *ptr, size_t size, void *ctx);
	/** Like free(3); never called with NULL. */
	void (*free)(void *ptr, void *ctx);
	/** Passed to every call. */
	void *ctx;
} pt_allocator;

/**
 * Use `a` (copied) for every allocation from now on; NULL restores the
 * default (the C library's malloc, realloc and free).
 *
 * Returns PT_EINVAL if `a` has another version or a NULL function.
 * See the thread rules above: call it before any other library call.
 */
PT_EXTERN int pt_set_allocator(const pt_allocator *a);

#ifdef __cplusplus
}
#endif
#endif
