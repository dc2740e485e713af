/*
 * archive/archive_int.h - internals of the archive module:
 *   archive_tar.c      writing and reading tar files (the only file including <archive.h>)
 *   archive_meta.c     plans, catalog, manifests (jansson); location records: log/vault.c
 *   archive_job.c      the job: windows, selection, creation, commit, source release
 *   archive_ops.c      ls, verify, prune, hold
 *   archive_restore.c  restore
 *   cron.c             schedules
 * docs/FORMAT.md ("Archives") documents every file named here.
 */
#ifndef PT_ARCHIVE_INT_H
#define PT_ARCHIVE_INT_H

#include "base/base_int.h"
#include "log/history_int.h" /* objects: pt__object_get/read/stat */
#include "log/vault_int.h" /* location records, their framing, archived bytes */
#include "provtrace/archive.h"

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

#endif
