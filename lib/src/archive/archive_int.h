/*
 * archive/archive_int.h - internals of the archive module:
 *   archive_tar.c      writing and reading tar files (the only file including <archive.h>)
 *   archive_meta.c     plans, catalog, manifests, location records (jansson)
 *   archive_job.c      the job: windows, selection, creation, commit, source release
 *   archive_ops.c      ls, verify, prune, hold, and the reader hook
 *   archive_restore.c  restore
 *   cron.c             schedules
 * docs/FORMAT.md ("Archives") documents every file named here.
 */
#ifndef PT_ARCHIVE_INT_H
#define PT_ARCHIVE_INT_H

#include "base/base_int.h"
#include "provtrace/archive.h"

#define PT_ARCHIVE_DIR "archive"
#define PT_MANIFEST_NAME "MANIFEST.json"
#define PT_MANIFEST_MAX ((size_t)256 << 20)
#define PT_ARCHIVE_FORMAT_VERSION 1
/* Width the manifest reserves for each member offset, so that its length does
 * not depend on the offsets (they are filled in after the members are written). */
#define PT_OFFSET_WIDTH 20

/* ---- progress --------------------------------------------------------------------- */
typedef struct {
	pt_archive_progress_cb cb;
	void *payload;
	const char *what;
	uint64_t done, total;
	int64_t last_ns;
} pt__progress;
void pt__progress_add(pt__progress *p, uint64_t n);
void pt__progress_end(pt__progress *p);

/* One line of a job's report (archive_meta.c): printf into a bounded line and
 * hand it to `report` (no-op when NULL).  The one implementation of the
 * archive files' `say()`. */
void pt__archive_say(pt_archive_report_cb report, void *payload, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- tar (archive_tar.c) ---------------------------------------------------------------- */
typedef struct {
	const char *name;
	const uint8_t *data;  /* in memory, or */
	const char *src_path; /* read from this file at [src_off, src_off + size) */
	uint64_t src_off;
	uint64_t size;
	/* filled by pt__tar_write */
	uint64_t offset; /* of the member's data in the tar file */
	uint8_t sha[PT_SHA256_LEN];
} pt__tar_member;

/*
 * Write a deterministic pax tar of `m` (in this order) to `fd` from offset 0:
 * regular files, mode 0644, uid/gid 0, owner "provtrace", mtime `mtime_s`,
 * no compression, unblocked (no padding beyond the two end blocks).
 */
int pt__tar_write(int fd, const char *path, int64_t mtime_s, pt__tar_member *m, size_t n,
		  pt__progress *prog, uint64_t *out_size);

enum { PT_TAR_FILE, PT_TAR_DIR, PT_TAR_SYMLINK, PT_TAR_HARDLINK, PT_TAR_DEVICE, PT_TAR_OTHER };
typedef struct {
	const char *name; /* borrowed until the next call */
	int kind;
	uint64_t size;
	int64_t mtime;
	int64_t header_offset;
} pt__tar_entry;

typedef struct pt__tar_reader pt__tar_reader;
/* Read the tar on `fd` (not owned) sequentially. */
int pt__tar_reader_open(pt__tar_reader **out, int fd, const char *path);
/* 0 and *e, PT_ITEROVER at the end, PT_ECORRUPT (message names the archive) */
int pt__tar_next(pt__tar_reader *r, pt__tar_entry *e);
/* Read data of the current entry: bytes read, 0 at its end, <0 error. */
ssize_t pt__tar_read(pt__tar_reader *r, void *buf, size_t n);
void pt__tar_reader_free(pt__tar_reader *r);

/* ---- metadata (archive_meta.c) -------------------------------------------------------- */
typedef struct {
	char *name, *schedule, *tz, *vault, *tags_json;
	int64_t min_age, delete_after, start_window; /* seconds */
	uint32_t keep_last;
	int keep_sources;
	int64_t created, last_window; /* ns */
	char *last_result;
} pt__plan;

typedef struct {
	pt__plan *v;
	size_t n;
} pt__plans;

int pt__plans_load(const pt_store *st, pt__plans *out);
int pt__plans_store(const pt_store *st, const pt__plans *p);
void pt__plans_free(pt__plans *p);
pt__plan *pt__plans_find(const pt__plans *p, const char *name);
void pt__plan_clear(pt__plan *p);

enum { PT_MEMBER_SEGMENT = 1, PT_MEMBER_OBJECT = 2 };
typedef struct {
	int type;
	char *name;
	uint64_t size, offset;
	uint8_t sha[PT_SHA256_LEN];
	/* segment */
	char *run, *stream;
	uint64_t segno, first_seq, last_seq;
	int64_t step_min, step_max, time_min, time_max;
	uint8_t id[PT_SHA256_LEN]; /* segment id or object id */
} pt__amember;

enum { PT_ACAT_CATALOGUED = 0, PT_ACAT_RECORDED = 1, PT_ACAT_DONE = 2 };
typedef struct {
	/* from the manifest */
	char *plan, *tags_json;
	int64_t created, window;
	pt__amember *m;
	size_t nm;
	uint32_t manifest_len;
	/* catalog only */
	char sha[65];
	char *path;
	uint64_t size;
	int held, deleted, state, keep_sources;
	int64_t deleted_at;
	char *deleted_reason;
} pt__acat;

typedef struct {
	pt__acat *v;
	size_t n, cap;
} pt__catalog;

int pt__catalog_load(const pt_store *st, pt__catalog *out);
int pt__catalog_store(const pt_store *st, const pt__catalog *c);
void pt__catalog_free(pt__catalog *c);
void pt__acat_clear(pt__acat *a);
/* Append (moving `a` in: it is zeroed). */
int pt__catalog_push(pt__catalog *c, pt__acat *a);
pt__acat *pt__catalog_find(const pt__catalog *c, const char *sha);

/* Manifest text of `a` (members with their offsets/hashes as they are now). */
int pt__manifest_json(pt__buf *out, const pt__acat *a);
/* Parse a manifest; PT_ECORRUPT naming `what` for anything not as specified. */
int pt__manifest_parse(pt__acat *out, const uint8_t *p, size_t len, const char *what);

/* Canonical JSON object text from "KEY=VALUE" tags (allocated). */
int pt__tags_json(char **out, const char *const *tags, size_t n);
/* Append a JSON string literal. */
int pt__json_quote(pt__buf *b, const char *s);

/* Location records: STORE/archive/segments/<id>. */
typedef struct {
	char sha[65];
	char *path, *run, *stream;
	uint64_t offset, size;
	int deleted;
	int64_t deleted_at;
	char *reason;
} pt__location;
int pt__location_load(const pt_store *st, const uint8_t id[32], pt__location *out); /* PT_ENOTFOUND */
int pt__location_store(const pt_store *st, const uint8_t id[32], const pt__location *l);
void pt__location_clear(pt__location *l);
/* Object location records: STORE/archive/objects/<id> (run and stream are ""):
 * the object left the hot store and is read from that archive member. */
int pt__olocation_load(const pt_store *st, const uint8_t id[32], pt__location *out); /* PT_ENOTFOUND */
int pt__olocation_store(const pt_store *st, const uint8_t id[32], const pt__location *l);
int pt__olocation_remove(const pt_store *st, const uint8_t id[32]);

/* ---- shared helpers ---------------------------------------------------------------------- */
char *pt__archive_dir(const pt_store *st);
/* The job lock (STORE/archive/lock): PT_ELOCKED naming the holder, or *fd. */
int pt__archive_lock(const pt_store *st, int wait, int *out_fd);
void pt__archive_unlock(int fd);
int pt__archive_now(int64_t *out, int64_t given);
/* Record an event in run "provtrace" stream "archive"; `json` is the body. */
int pt__archive_event(pt_store *st, const char *kind, const char *name, int64_t time_ns,
		      const char *body_json);
int pt__archive_event_once(pt_store *st, const char *kind, const char *name, int64_t time_ns,
			   const char *body_json, const char *unique);
/* Verify a tar file against its manifest; fills `a` if not NULL. */
typedef int (*pt__vproblem)(void *payload, const char *msg);
int pt__archive_check(const char *path, pt__acat *a, const char *want_sha, pt__progress *prog,
		      char *why, size_t whylen);
/* Member name of a segment / object. */
char *pt__member_segment_name(const char *run, const char *stream, const uint8_t id[32]);
char *pt__member_object_name(const uint8_t id[32]);

/*
 * The reader hook (archive_ops.c), for reader.c, verify.c and recorder.c.
 *
 * A sealed segment whose file is gone from the hot store was archived:
 * STORE/archive/segments/<id> records which tar holds it and where.
 * pt__archive_open_segment() opens that tar read-only and returns the byte
 * range of the member: the segment is read with pread at offset + x (the
 * _at functions of segment.h).  `run`/`stream`, when not NULL, must match
 * the record.  PT_ENOTFOUND (message says why: never archived, or archive
 * deleted by retention on a date) / PT_ECORRUPT / PT_EIO.
 */
int pt__archive_open_segment(const pt_store *st, const char *run, const char *stream,
			     const uint8_t id[32], int *out_fd, uint64_t *out_offset, uint64_t *out_size);
/*
 * The object hook (archive_ops.c), for objects.c: an object absent from the
 * hot store whose location record names a live archive: the tar opened
 * read-only and the member's byte range (the object file's bytes).
 * PT_ENOTFOUND (no record: the message names `hot_path`; or the archive was
 * deleted or is missing), PT_ECORRUPT, PT_EIO.
 */
int pt__archive_open_object(const pt_store *st, const uint8_t id[32], const char *hot_path, int *out_fd,
			    uint64_t *out_offset, uint64_t *out_size);
enum { PT_SEGMENT_HOT = 0, PT_SEGMENT_ARCHIVED = 1, PT_SEGMENT_EXPIRED = 2 };
/* Whether a location record exists for `id` and whether its archive still exists. */
int pt__archive_segment_state(const pt_store *st, const uint8_t id[32]);

#endif
