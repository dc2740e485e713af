/*
 * base/base_int.h - declarations shared by the library's source files.
 *
 * Internal names carry a double underscore (pt__) and are never exported:
 * the library is built with hidden visibility and only PT_EXTERN functions
 * of the public headers are visible.
 */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include "provtrace.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- errors (error.c) ---------------------------------------------------- */

/* Set the thread's last error and return `code`. */
int pt__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the last error from errno: "<what>: <strerror>"; ENOSPC -> PT_ENOSPC. */
int pt__err_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context: "<ctx>: <old message>". */
int pt__err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt__err_clear(void);

/* ---- memory (alloc.c): every allocation of the library goes through here so
 * that a replaceable allocator and failure injection can see it. ----------- */
void *pt__malloc(size_t n);
void *pt__calloc(size_t n, size_t size);
void *pt__realloc(void *p, size_t n);
void pt__free(void *p);
char *pt__strdup(const char *s);
char *pt__strndup(const char *s, size_t n);
char *pt__sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable byte buffer. */
typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
} pt__buf;

int pt__buf_reserve(pt__buf *b, size_t extra);
int pt__buf_append(pt__buf *b, const void *p, size_t n);
int pt__buf_printf(pt__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt__buf_free(pt__buf *b);

/* ---- checksums and hashes (hash.c) ----------------------------------------- */
uint32_t pt__crc32c(uint32_t crc, const void *data, size_t len);

#define PT_SHA256_LEN 32
#define PT_SHA256_HEX 65 /* with NUL */
typedef struct pt__sha256_ctx pt__sha256_ctx;
int pt__sha256_new(pt__sha256_ctx **out);
void pt__sha256_update(pt__sha256_ctx *c, const void *data, size_t len);
void pt__sha256_final(pt__sha256_ctx *c, uint8_t out[PT_SHA256_LEN]);
void pt__sha256_free(pt__sha256_ctx *c);
void pt__sha256(const void *data, size_t len, uint8_t out[PT_SHA256_LEN]);
/* RFC 6962 hashing (hash.c): SHA-256(0x00 || data) and SHA-256(0x01 || left || right). */
void pt__merkle_leaf_hash(const void *data, size_t len, uint8_t out[PT_SHA256_LEN]);
void pt__merkle_node_hash(const uint8_t left[PT_SHA256_LEN], const uint8_t right[PT_SHA256_LEN],
			  uint8_t out[PT_SHA256_LEN]);
/* Ed25519 (hash.c, OpenSSL EVP): a key is its 32-byte seed; 0 or PT_E*. */
#define PT_ED25519_LEN 32
#define PT_ED25519_SIG 64
int pt__ed25519_generate(uint8_t seed[PT_ED25519_LEN], uint8_t pub[PT_ED25519_LEN]);
int pt__ed25519_public(const uint8_t seed[PT_ED25519_LEN], uint8_t pub[PT_ED25519_LEN]);
int pt__ed25519_sign(const uint8_t seed[PT_ED25519_LEN], const void *msg, size_t len, uint8_t sig[PT_ED25519_SIG]);
/* 0: the signature is valid; 1: it is not; <0: an error (PT_ENOMEM...). */
int pt__ed25519_verify(const uint8_t pub[PT_ED25519_LEN], const void *msg, size_t len,
		       const uint8_t sig[PT_ED25519_SIG]);
/* base64, RFC 4648 standard alphabet, padded (b64.c).  encode writes
 * pt__b64_len(n) characters and a NUL; decode accepts only the canonical
 * form (-1 otherwise, or if more than `cap` bytes). */
size_t pt__b64_len(size_t n);
void pt__b64_encode(const uint8_t *in, size_t n, char *out);
int pt__b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);
void pt__hex(const uint8_t *bin, size_t n, char *out); /* out: 2n+1 */
int pt__unhex(const char *hex, uint8_t *out, size_t n);  /* 0 ok, -1 bad (NUL-terminated, exactly 2n digits) */
int pt__unhex_n(const char *hex, uint8_t *out, size_t n); /* 2n digits, no terminator needed */

/* ---- little-endian helpers ---------------------------------------------------- */
static inline void pt__put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pt__put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void pt__put_u64(uint8_t *p, uint64_t v) { pt__put_u32(p, (uint32_t)v); pt__put_u32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t pt__get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t pt__get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t pt__get_u64(const uint8_t *p) { return (uint64_t)pt__get_u32(p) | ((uint64_t)pt__get_u32(p + 4) << 32); }

/* ---- files (fileio.c) ------------------------------------------------------------ */
int pt__write_all(int fd, const void *p, size_t n, const char *what);
int pt__pread_all(int fd, void *p, size_t n, uint64_t off, const char *what); /* short read: PT_ECORRUPT */
/* SHA-256 of `len` bytes of `fd` from `off` (pread, 4 MiB at a time). */
int pt__sha256_range(int fd, uint64_t off, uint64_t len, uint8_t out[PT_SHA256_LEN]);
/* SHA-256 of a whole file (streamed; the file is opened as the path says). */
int pt__sha256_file(const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out);
int pt__fsync_dir(const char *dir);
int pt__mkdir_p(const char *path, unsigned mode);
/* Write `data` to `path` atomically: tmp file (random name, O_EXCL), fsync,
 * rename, fsync dir; nothing is followed below the file's directory. */
int pt__atomic_write(const char *path, const void *data, size_t len);
/* Read a whole (small) file; PT_ELIMIT if larger than `max`. */
int pt__read_file(const char *path, size_t max, uint8_t **out, size_t *out_len);
bool pt__exists(const char *path);
bool pt__is_dir(const char *path);
/* Sorted list of directory entries (no . and ..), filtered by suffix if not NULL. */
int pt__list_dir(const char *dir, const char *suffix, char ***out, size_t *count);

/* ---- confined files (fileio.c): everything the library opens inside a store.
 * `root` is the store's directory (or a vault's); it may itself be reached
 * through symbolic links.  `path` is `root` + "/..." and no component below
 * `root` is ever followed when it is a symbolic link (openat2 with
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk where openat2 is
 * missing).  The fd/int-returning ones behave like their syscall: -1 with
 * errno set; a symbolic link is ELOOP ("symbolic link ... not followed" once
 * through pt__err_errno), a path not below `root` EXDEV.  The others return a
 * PT code with the message set. */
struct stat;
int pt__open_in(const char *root, const char *path, int flags, unsigned mode); /* adds O_NOFOLLOW|O_CLOEXEC */
int pt__dir_open_in(const char *root, const char *dir);                        /* O_RDONLY|O_DIRECTORY */
int pt__stat_in(const char *root, const char *path, struct stat *sb);          /* lstat semantics */
bool pt__is_dir_in(const char *root, const char *path);                        /* a real directory, not a link */
int pt__unlink_in(const char *root, const char *path);
int pt__rmdir_in(const char *root, const char *path);
int pt__rename_in(const char *root, const char *from, const char *to);
int pt__fsync_dir_in(const char *root, const char *dir);
/* mkdir -p of `path` below `root` (root must exist). */
int pt__mkdir_in(const char *root, const char *path, unsigned mode);
/* Create `dir`/`prefix`<24 random hex digits> with O_EXCL, mode `mode`: the fd
 * (>= 0) and the allocated name in *tmp_out, or a negative PT code. */
int pt__tmp_in(const char *root, const char *dir, const char *prefix, unsigned mode, char **tmp_out);
/* pt__atomic_write below `root`, the file created with `mode`. */
int pt__atomic_write_in(const char *root, const char *path, const void *data, size_t len, unsigned mode);
int pt__read_file_in(const char *root, const char *path, size_t max, uint8_t **out, size_t *out_len);
int pt__list_dir_in(const char *root, const char *dir, const char *suffix, char ***out, size_t *count);
int pt__sha256_file_in(const char *root, const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out);
/* The store directory of a stream directory (<root>/runs/<run>/<stream>), allocated;
 * a directory of another shape is its own root. */
char *pt__stream_root(const char *stream_dir);
/* The store directory above `path` = <root>/<top>/c1/../c<depth> (e.g. "objects", 2
 * for an object file), allocated; `path` itself when it has another shape. */
char *pt__root_of(const char *path, const char *top, int depth);
/* PT_EIO unless `fd` is a regular file with exactly one link (before truncating it in place). */
int pt__check_private_file(int fd, const char *path);
/* Open (no O_CREAT) a file of the stream in `stream_dir` (<root>/runs/R/S): confined
 * below the store's directory when `path` is there, else (a vault) a plain open. */
int pt__open_stream_file(const char *stream_dir, const char *path, int flags);
/* pt__read_file_in / pt__list_dir_in below the store of `stream_dir`. */
int pt__read_stream_file(const char *stream_dir, const char *path, size_t max, uint8_t **out, size_t *out_len);
int pt__list_stream_dir(const char *stream_dir, const char *dir, const char *suffix, char ***out, size_t *count);
/* Open a store file named by its path alone (a segment <root>/runs/R/S/segments/F or
 * an object <root>/objects/hh/F): confined below <root>; another path: O_NOFOLLOW. */
int pt__open_store_member(const char *path, int flags);
int pt__sha256_stream_file(const char *stream_dir, const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out);
/* Tests: use the O_NOFOLLOW walk even where openat2 exists. */
void pt__fileio_force_walk(bool on);

/* ---- the store (store.c) ---------------------------------------------------------- */
struct pt__rstore;
struct pt_store {
	char *path;      /* absolute path of the store directory (a remote store: its local cache) */
	uint32_t format; /* format version read from config */
	struct pt__rstore *remote; /* read in place from a bucket (format/rstore.c), else NULL */
	bool read_only;  /* opened by a reader that must never write it (the UI): derived caches
			  * such as run summaries are computed but not saved */
};

/* Config lines `key = value` (store.c): every value of `key`, in order (pt_strv_free);
 * append one line (atomic rewrite); the store's id (32 hex digits: the `id`
 * line, or for a store made before ids, derived from its `created` line). */
int pt__store_config_values(const pt_store *st, const char *key, char ***out, size_t *n);
int pt__store_config_add(const pt_store *st, const char *key, const char *value);
int pt__store_id(const pt_store *st, char out[33]);
/* Path helpers: allocated strings (pt__free). */
char *pt__run_dir(const pt_store *st, const char *run);
char *pt__stream_dir(const pt_store *st, const char *run, const char *stream);

/* pt_recorder_append for the library's own writers: also the kinds the library
 * interprets (checkpoint, lineage, code...), which pt_recorder_append refuses (recorder.c). */
int pt__recorder_append_own(pt_recorder *r, const pt_event *ev, uint64_t *out_seq);

/* The store a recorder writes to (recorder.c). */
pt_store *pt__recorder_store(const pt_recorder *r);

/* ---- time (time.c) ----------------------------------------------------------------- */
int64_t pt__mono_ns(void);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t pt__days_from_civil(int64_t y, unsigned m, unsigned d);

#define PT_DEFAULT_STREAM "main"

#endif
