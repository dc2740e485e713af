/*
 * provtrace/common.h - versions, error codes, memory ownership.
 *
 * Every function of the library returns an int: 0 (PT_OK) on success or a
 * negative code from pt_error_code.  The codes never change meaning.  On
 * failure a human-readable message for the calling thread is available from
 * pt_error_last() until the next failing call on the same thread.
 *
 * Memory: an object handed back through `**out` belongs to the caller and has
 * a `_free` function that accepts NULL.  Strings and buffers the library
 * allocates for the caller are released with pt_free().  A pointer returned
 * directly (not through `**out`) is borrowed; its documentation says until
 * when it stays valid.
 */
#ifndef PROVTRACE_COMMON_H
#define PROVTRACE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define PT_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#define PT_EXTERN __attribute__((visibility("default")))
#else
#define PT_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PT_VERSION_MAJOR 0
#define PT_VERSION_MINOR 1
#define PT_VERSION_PATCH 0
#define PT_VERSION_STRING "0.1.0"

/*
 * ABI version: bumped whenever a public struct layout or a function
 * signature changes incompatibly.  Bindings check it at load time.
 */
#define PT_ABI_VERSION 1

/* "No training step": the value of the step of an event recorded without one. */
#define PT_NO_STEP INT64_MIN

/** Error codes.  0 is success; every error is negative. */
typedef enum {
	PT_OK = 0,
	PT_ERROR = -1,     /**< generic failure (message says what) */
	PT_EINVAL = -2,    /**< invalid argument or API misuse */
	PT_ENOTFOUND = -3, /**< store, run, stream, object not found */
	PT_EEXISTS = -4,   /**< already exists */
	PT_ELOCKED = -5,   /**< stream held by another writer */
	PT_ECORRUPT = -6,  /**< stored bytes fail a checksum/hash/structure check */
	PT_EVERSION = -7,  /**< format version newer than this library */
	PT_EIO = -8,       /**< operating-system I/O failure */
	PT_ENOMEM = -9,    /**< allocation failed */
	PT_ITEROVER = -10, /**< iteration finished (not an error) */
	PT_ENOSPC = -11,   /**< no space left on device */
	PT_ELIMIT = -12,   /**< a size or count limit was exceeded */
	PT_ETYPE = -13,    /**< a value of the wrong type */
	PT_ECLOSED = -14   /**< the object was closed or failed earlier */
} pt_error_code;

/** The library's version string, e.g. "0.1.0". */
PT_EXTERN const char *pt_version(void);

/** The library's ABI version (PT_ABI_VERSION it was built with). */
PT_EXTERN int pt_abi_version(void);

/**
 * sizeof() of the public struct `name` (e.g. "pt_recorder_options") as this
 * library was built, 0 if unknown: bindings that mirror the structs (ctypes)
 * check their layouts against it at load time.
 */
PT_EXTERN size_t pt_abi_struct_size(const char *name);

/**
 * The message of the last error raised on the calling thread.  Never NULL
 * (an empty string when there is none).  Valid until the next library call
 * on this thread that fails.
 */
PT_EXTERN const char *pt_error_last(void);

/** The code of the last error raised on the calling thread (0 if none). */
PT_EXTERN int pt_error_last_code(void);

/** A static name for an error code, e.g. "PT_ECORRUPT". */
PT_EXTERN const char *pt_error_name(int code);

/** Release memory the library allocated for the caller.  NULL is a no-op. */
PT_EXTERN void pt_free(void *ptr);

/** Release an array of `count` strings and the array.  NULL is a no-op. */
PT_EXTERN void pt_strv_free(char **strv, size_t count);

/** Current wall-clock time in nanoseconds since the Unix epoch (UTC). */
PT_EXTERN int64_t pt_time_now_ns(void);

/**
 * Format `ns` (Unix epoch, UTC) as ISO-8601 with nanoseconds and a `Z`
 * suffix into `buf` (at least 40 bytes).  Returns `buf`.
 */
PT_EXTERN char *pt_time_format(int64_t ns, char *buf, size_t bufsize);

/**
 * Parse an ISO-8601 time with a time zone (`Z` or `+hh:mm`), optional
 * fractional seconds up to nanoseconds, e.g. "2026-11-26T08:00:00.5+01:00".
 * Returns PT_EINVAL (with the position of the error in the message) on a
 * malformed string.
 */
PT_EXTERN int pt_time_parse(int64_t *out_ns, const char *text);

#ifdef __cplusplus
}
#endif
#endif
