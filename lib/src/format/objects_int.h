/*
 * format/objects_int.h - the store's content-addressed object store (STORE/objects/).
 *
 * An object is a byte string named by the SHA-256 of its plain bytes.  It is
 * stored once, in STORE/objects/<hex[0:2]>/<hex[2:64]>, as a 28-byte header
 * (a zstd skippable frame) followed by either one zstd frame (checksum on) or
 * the plain bytes when compression does not shrink them.  Objects are
 * immutable; writing an object that exists is a no-op.  The layout is
 * documented in docs/FORMAT.md ("Checkpoints and objects").
 *
 * Thread rules: all functions may be called from several threads and
 * processes at once (writes go through a unique temporary file and rename).
 */
#ifndef PT_OBJECTS_H
#define PT_OBJECTS_H

#include "base/base_int.h"

/* The largest object (plain bytes) the store writes or reads: bounds memory. */
#define PT_OBJECT_MAX ((size_t)1 << 30)

#define PT_OBJECT_HEADER_LEN 28
#define PT_OBJECT_MAGIC 0x184D2A53u
#define PT_OBJECT_CODEC_RAW 0
#define PT_OBJECT_CODEC_ZSTD 1

/*
 * Store `data`: id = SHA-256 of the plain bytes; compressed (zstd level 3,
 * checksum on; stored raw if that does not shrink it); durable (fdatasync
 * of the file and fsync of its directory) before returning.  A no-op if the
 * object exists.  `out_id` may be NULL.
 */
int pt__object_put(const pt_store *st, const void *data, size_t len, uint8_t out_id[32]);

/*
 * Where an object's bytes are: [base, base + size) of fd - a file of the
 * hot store (base 0) or a member of an archive in the vault.  The seam
 * (log/history.c, pt__history_open_object) finds it; the codec below only
 * reads what it is given.  `name` is for messages (pt__objsrc_close frees it).
 */
typedef struct {
	int fd;
	uint64_t base, size;
	char *name;
} pt__objsrc;
#define PT_OBJSRC_INIT {-1, 0, 0, NULL}
void pt__objsrc_close(pt__objsrc *s);

/*
 * Read the object on `src` into a new buffer (`*out`, pt__free; one extra
 * NUL byte is added after the data for callers that want a string).  The
 * plain bytes are checked against `id`.  PT_ECORRUPT (naming src->name) if
 * it fails any check.  Memory is bounded by the header's plain length,
 * which is checked against PT_OBJECT_MAX and the file size first.
 */
int pt__object_get_src(const pt__objsrc *src, const uint8_t id[32], uint8_t **out, size_t *out_len);

/* 1 if the object exists, 0 if not, <0 on error. */
int pt__object_exists(const pt_store *st, const uint8_t id[32]);

/* ---- lower-level interface used by checkpoints ------------------------------- */

/* Scratch buffers reused across calls by one thread (zero-initialise; free with
 * pt__object_scratch_free). */
typedef struct {
	uint8_t *a, *b;
	size_t acap, bcap;
} pt__object_scratch;
void pt__object_scratch_free(pt__object_scratch *s);

typedef struct {
	int level;      /* zstd level */
	size_t shuffle; /* element size for the byte shuffle (0, 2, 4, 8) */
	int try_plain;  /* with a shuffle: also consider plain zstd and keep the smaller */
	int no_dirsync; /* 1: the caller fsyncs the object's directory itself later */
	/*
	 * 1: write the temporary file but neither sync nor rename it: `*out_tmp`
	 * gets its path and the caller finishes it with pt__object_finish() (or
	 * its two halves). Many chunks then reach the disk in parallel instead
	 * of one fdatasync after the other.
	 */
	int defer;
	/* 1: the caller found the existing object absent or damaged: skip the check, write over it */
	int replace;
	/* 1: store the plain bytes without trying to compress them (the caller's sample showed
	 * compression would not pay); the object is the same valid codec-0 file as when zstd fails to shrink */
	int store_raw;
} pt__object_wopts;

/*
 * Write the object whose id the caller already computed (the SHA-256 of
 * `data`).  `*out_stored` gets the bytes written (0 if it already existed).
 */
int pt__object_write(const pt_store *st, const uint8_t id[32], const void *data, size_t len,
		     const pt__object_wopts *o, pt__object_scratch *s, uint64_t *out_stored,
		     char **out_tmp);

/*
 * Whether the object `id` of `len` plain bytes exists AND can be trusted
 * (the dedup check of pt__object_write and of checkpoints):
 *   1  exists and is good: its header and size fit `len` (checked every
 *      time: one open and a 28-byte read), and the file decoded to `id`
 *      once in this process (or this process wrote it) and has not changed
 *      since (same inode, size, mtime, ctime); `*out_disk` = its file size;
 *      with `freshen` its mtime is renewed when older than a minute;
 *   0  absent or damaged: the caller must write the good bytes, which
 *      replace the damaged file atomically (temporary file + rename);
 *  <0  an error other than absence (e.g. EACCES).
 * The full check costs one read + decompression + SHA-256 of the object,
 * at most once per object file per process (a 2^16-entry cache).
 */
int pt__object_check_existing(const pt_store *st, const uint8_t id[32], size_t len, int freshen,
			      uint64_t *out_disk, pt__object_scratch *s);
/* Forget what pt__object_check_existing verified (tests). */
void pt__object_vcache_reset(void);

/* Check that the object file at `path` (e.g. a restored archive member) decodes to `id`. */
int pt__object_verify_file(const char *path, const uint8_t id[32], pt__object_scratch *s);

/* Make a deferred write durable and visible: fdatasync `tmp`, rename it to the
 * object's name (the directory is not fsync'd: the caller does it once).
 * On failure the temporary file is removed. The two halves separately: */
int pt__object_finish(const pt_store *st, const uint8_t id[32], const char *tmp);
int pt__object_sync_tmp(const char *tmp);
int pt__object_publish(const pt_store *st, const uint8_t id[32], const char *tmp);

/* Read the object on `src` into `dst` (exactly `len` bytes expected), verified.
 * `s` provides scratch space (may be NULL). */
int pt__object_read_src(const pt__objsrc *src, const uint8_t id[32], void *dst, size_t len,
			pt__object_scratch *s);

/* Plain size (header, checked) and stored size of the object on `src`, without reading it all. */
int pt__object_stat_src(const pt__objsrc *src, uint64_t *plain, uint64_t *stored);

/* Path of an object file / of its fan-out directory (allocated). */
char *pt__object_path(const pt_store *st, const uint8_t id[32]);
char *pt__object_dir(const pt_store *st, const uint8_t id[32]);

/* Remove an object (gc).  Missing is not an error. */
int pt__object_remove(const pt_store *st, const uint8_t id[32]);

/*
 * Call `cb` for every object file in the store (in directory order) and, with
 * `tmp_cb`, for every leftover temporary file (a crashed writer's).  A
 * non-zero return of a callback stops the walk and is returned.
 */
typedef int (*pt__object_cb)(const uint8_t id[32], const char *path, void *payload);
typedef int (*pt__object_tmp_cb)(const char *path, void *payload);
int pt__object_walk(const pt_store *st, pt__object_cb cb, pt__object_tmp_cb tmp_cb, void *payload);

#endif
