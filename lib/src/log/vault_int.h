/*
 * log/vault_int.h - the vault backend of the seam (log/history.c): where an
 * archived segment or object lives, and its bytes.  Private to the library.
 *
 * The archive job (archive/) copies sealed segments and checkpoint objects
 * into tar files in a vault and then releases the hot copies.  What it
 * leaves behind in the store is one location record per id:
 *
 *	STORE/archive/segments/<id>   "provtrace-archived-segment 1"
 *	STORE/archive/objects/<id>    "provtrace-archived-object 1"
 *
 * each naming the archive (its SHA-256 and path), the member's byte range
 * inside the tar, and (segments) the run and stream.  This file owns that
 * record format (docs/FORMAT.md, "Archives") and the framing it shares with
 * the archive catalog and plans (a magic line, JSON lines, "end N crc32c").
 * The archive job writes records through here; readers never read them:
 * they ask the seam (pt__history_open_id, pt__history_open_object), which
 * asks here when the hot store does not have the bytes.
 *
 * The interface is ids in, byte ranges out ([base, base + size) of a file
 * descriptor): a remote bucket is one more implementation of the three
 * calls below (the records become object keys listed by prefix, the range a
 * ranged GET), not a change to any caller.
 */
#ifndef PT_VAULT_INT_H
#define PT_VAULT_INT_H

#include "base/base_int.h"

#define PT_ARCHIVE_DIR "archive"

/* ---- location records ---------------------------------------------------------------- */
typedef struct {
	char sha[65];
	char *path, *run, *stream;
	uint64_t offset, size;
	int deleted;
	int64_t deleted_at;
	char *reason;
} pt__location;
/* Segment location records: STORE/archive/segments/<id>. */
int pt__location_load(const pt_store *st, const uint8_t id[32], pt__location *out); /* PT_ENOTFOUND */
int pt__location_store(const pt_store *st, const uint8_t id[32], const pt__location *l);
void pt__location_clear(pt__location *l);
/* Object location records: STORE/archive/objects/<id> (run and stream are ""):
 * the object left the hot store and is read from that archive member. */
int pt__olocation_load(const pt_store *st, const uint8_t id[32], pt__location *out); /* PT_ENOTFOUND */
int pt__olocation_store(const pt_store *st, const uint8_t id[32], const pt__location *l);
int pt__olocation_remove(const pt_store *st, const uint8_t id[32]);

/* ---- the framing of STORE/archive/ metadata files ----------------------------------------- */
struct json_t;
/* Write STORE/archive/<file> atomically: `magic`, the JSON lines of `body`, the end line. */
int pt__frame_store(const pt_store *st, const char *file, const char *magic, pt__buf *body, size_t count);
/* Its JSON lines, parsed (a new jansson array); a missing file gives an empty array. */
int pt__frame_load(const pt_store *st, const char *file, const char *magic, struct json_t **out);
/* Field helpers for those lines: PT_ECORRUPT naming `what` and the key. */
int pt__jget_str(struct json_t *o, const char *k, char **out, bool required, const char *what);
int pt__jget_int(struct json_t *o, const char *k, int64_t *out, bool required, const char *what);
/* Append a JSON string literal. */
int pt__json_quote(pt__buf *b, const char *s);

/* ---- the backend: bytes of an archived id -------------------------------------------------- */
enum { PT_SEGMENT_HOT = 0, PT_SEGMENT_ARCHIVED = 1, PT_SEGMENT_EXPIRED = 2 };
/* Whether a location record exists for segment `id` and whether its archive still exists. */
int pt__vault_segment_state(const pt_store *st, const uint8_t id[32]);
/* Object `id`: PT_SEGMENT_HOT (no record), PT_SEGMENT_ARCHIVED (its archive is
 * there), PT_SEGMENT_EXPIRED (deleted by retention, or the tar is gone); <0 error. */
int pt__vault_object_state(const pt_store *st, const uint8_t id[32]);
/*
 * A sealed segment whose file is gone from the hot store was archived:
 * its location record names the tar and the member's byte range.  The tar
 * is opened read-only; the segment is read with pread at *out_offset + x.
 * `run`/`stream`, when not NULL, must match the record.  PT_ENOTFOUND
 * (message says why: never archived, or archive deleted by retention on a
 * date, or missing) / PT_ECORRUPT / PT_EIO.
 */
int pt__vault_open_segment(const pt_store *st, const char *run, const char *stream, const uint8_t id[32],
			   int *out_fd, uint64_t *out_offset, uint64_t *out_size);
/*
 * An object absent from the hot store whose location record names a live
 * archive: the tar opened read-only and the member's byte range (the object
 * file's bytes).  PT_ENOTFOUND (no record: the message names `hot_path`; or
 * the archive was deleted or is missing), PT_ECORRUPT, PT_EIO.
 */
int pt__vault_open_object(const pt_store *st, const uint8_t id[32], const char *hot_path, int *out_fd,
			  uint64_t *out_offset, uint64_t *out_size);

#endif
