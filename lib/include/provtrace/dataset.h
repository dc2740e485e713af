/*
 * provtrace/dataset.h - the data a run trained on, as hashed manifests.
 *
 * Basic outline:
 *   pt_dataset *ds;
 *   pt_dataset_new(&ds);
 *   pt_dataset_add_path(ds, "data/mnist");          // a directory (walked) or a file
 *   pt_dataset_info info;
 *   pt_dataset_record(rec, "mnist", "train", ds, PT_NO_STEP, NULL, &info);
 *   pt_dataset_free(ds);
 *   ...
 *   pt_dataset_verify(st, "run-1", NULL, NULL, NULL, cb, ud, &stats);  // files on disk still the same?
 *
 * A dataset is a set of entries, each a relative path, a size and the
 * SHA-256 of its content: files (found under a root directory) or
 * in-memory contents (an array's bytes, named by the caller).  Its
 * *manifest* is the text listing `<sha256 hex> <size> <path>\n` of every
 * entry sorted by path (bytewise); the SHA-256 of the listing is the
 * dataset's content id, and the listing is stored as an object of that id.
 * Recording appends one `dataset` event (a reserved kind: gc keeps its
 * objects, verify re-hashes them) and does not change the checkpoint in
 * effect.  With `store`, the contents themselves go into the object store as
 * a checkpoint manifest of blobs (deduplicated like checkpoints).  Files are
 * hashed in parallel (one file per worker, largest first; a large file
 * when a thread is spare: a second thread reads ahead while the first
 * hashes; at most 1 MiB per thread, 4 MiB per read-ahead, in memory) and
 * each is stat'ed before and after: a file that
 * vanishes or changes while it is hashed (or stored) fails the call naming
 * it, and nothing is recorded.  docs/FORMAT.md "Datasets".
 */
#ifndef PROVTRACE_DATASET_H
#define PROVTRACE_DATASET_H

#include "provtrace/common.h"
#include "provtrace/recorder.h"
#include "provtrace/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_KIND_DATASET "dataset"

/** A dataset being described (a builder). Not thread-safe. */
typedef struct pt_dataset pt_dataset;

/** Returns 0 or PT_ENOMEM; free with pt_dataset_free (NULL is fine). */
PT_EXTERN int pt_dataset_new(pt_dataset **out);
PT_EXTERN void pt_dataset_free(pt_dataset *ds);

/**
 * Add a file, or a directory and every regular file below it (symbolic
 * links are followed; a directory met twice on one path - a loop - is an
 * error).  The entries' relative paths are taken from the dataset's root:
 * the deepest directory holding every path added (a directory added alone
 * is its own root; a file alone: its directory).  The path is copied and
 * walked when the dataset is hashed.  Returns 0, PT_EINVAL (NULL/empty, or
 * the dataset already has in-memory entries), PT_ENOMEM.
 */
PT_EXTERN int pt_dataset_add_path(pt_dataset *ds, const char *path);

/**
 * Add in-memory content (e.g. an array's bytes, C order) as the entry
 * `name` (1..4096 bytes, no newline, unique).  `data` is borrowed until
 * pt_dataset_hash/pt_dataset_record returns.  A dataset holds files or
 * in-memory entries, not both (PT_EINVAL).
 */
PT_EXTERN int pt_dataset_add_bytes(pt_dataset *ds, const char *name, const void *data, size_t len);

/** Progress: called from the calling thread about every 100 ms while hashing, and once at the end. */
typedef void (*pt_dataset_progress_fn)(uint64_t files_done, uint64_t files_total, uint64_t bytes_done,
				       uint64_t bytes_total, void *payload);

typedef struct {
	unsigned int version;            /**< PT_DATASET_OPTIONS_VERSION */
	uint32_t threads;                /**< hashing threads (0: one per online CPU, at most 16) */
	int store;                       /**< pt_dataset_record: 1 = store the contents too */
	pt_dataset_progress_fn progress; /**< may be NULL */
	void *progress_payload;
} pt_dataset_options;

#define PT_DATASET_OPTIONS_VERSION 1
#define PT_DATASET_OPTIONS_INIT { PT_DATASET_OPTIONS_VERSION, 0, 0, NULL, NULL }

typedef struct {
	char id[65];      /**< content id: hex SHA-256 of the listing */
	char content[65]; /**< stored contents: hex id of their checkpoint manifest ("" if not stored) */
	uint64_t files;   /**< entries */
	uint64_t size;    /**< bytes of all entries */
	uint64_t seq;     /**< seq of the `dataset` event (0 from pt_dataset_hash) */
} pt_dataset_info;

/**
 * Walk and hash every entry (parallel; see the file comment).  After it,
 * pt_dataset_count/pt_dataset_entry/pt_dataset_listing describe the set.
 * Returns 0, PT_ENOTFOUND (a path added does not exist), PT_EINVAL (an
 * empty dataset, a path with a newline, a loop, a name given twice),
 * PT_ERROR (a file vanished or changed while hashed: the message names it),
 * PT_EIO, PT_ENOMEM.  `opts` and `out` may be NULL.
 */
PT_EXTERN int pt_dataset_hash(pt_dataset *ds, const pt_dataset_options *opts, pt_dataset_info *out);

/** Entries after pt_dataset_hash (0 before). */
PT_EXTERN size_t pt_dataset_count(const pt_dataset *ds);

typedef struct {
	const char *path;  /**< relative path (or name); borrowed until the dataset is freed */
	uint64_t size;
	char sha256[65];
} pt_dataset_entry;

/** Entry `i` in listing order. PT_EINVAL if out of range. */
PT_EXTERN int pt_dataset_entry_get(const pt_dataset *ds, size_t i, pt_dataset_entry *out);

/** The root directory (absolute; "" for in-memory entries); borrowed. NULL before hashing. */
PT_EXTERN const char *pt_dataset_root(const pt_dataset *ds);

/**
 * Hash `ds` (if pt_dataset_hash has not) and record it: the listing object,
 * with opts->store the contents, then one `dataset` event named `name`
 * (1..1024 bytes) with role `role` (NULL: "train") at `step` (PT_NO_STEP:
 * none), appended and flushed.  On any error nothing is appended (objects
 * already written are unreferenced: gc removes them).  Returns the codes of
 * pt_dataset_hash, or the recorder's.  Thread rules: as pt_recorder_append.
 */
PT_EXTERN int pt_dataset_record(pt_recorder *rec, const char *name, const char *role, pt_dataset *ds, int64_t step,
				const pt_dataset_options *opts, pt_dataset_info *out);

/* ---- checking files on disk against what was recorded ------------------------------ */

typedef enum {
	PT_DATASET_FILE_OK = 0,
	PT_DATASET_FILE_CHANGED = 1, /**< size or SHA-256 differ */
	PT_DATASET_FILE_MISSING = 2, /**< absent or not readable */
} pt_dataset_file_status;

typedef struct {
	const char *dataset;  /**< the event's name */
	const char *id;       /**< its content id */
	const char *path;     /**< relative path */
	const char *file;     /**< where it was looked for (root + path) */
	int status;           /**< pt_dataset_file_status */
	uint64_t size, found_size;   /**< recorded, found (0 when missing) */
	char sha256[65], found_sha256[65]; /**< found: "" when missing */
	const char *message;  /**< why it is missing (strerror), or NULL */
} pt_dataset_check;

/** Called for each file that is not OK (CHANGED or MISSING); non-zero stops. */
typedef int (*pt_dataset_check_cb)(const pt_dataset_check *c, void *payload);

typedef struct {
	uint64_t datasets;  /**< datasets checked */
	uint64_t skipped;   /**< datasets of in-memory entries (nothing on disk to check) */
	uint64_t files, ok, changed, missing;
	uint64_t bytes;     /**< bytes hashed */
} pt_dataset_verify_stats;

/**
 * Re-hash on disk the files of the datasets in effect at the end of
 * `stream` (NULL: the run's default stream) of `run`: the last `dataset`
 * event of each name.  Files are looked for under `root` if not NULL, else
 * under the root each dataset recorded.  Reports each changed or missing
 * file to `cb` (may be NULL) and counts them in `stats` (may be NULL).
 * Returns 0 when the check ran (whatever it found: look at stats->changed
 * and stats->missing), PT_ENOTFOUND (no such run/stream), PT_ECORRUPT (a
 * listing object is damaged), PT_ENOMEM, PT_EIO.  opts: threads and
 * progress (store is ignored).
 */
PT_EXTERN int pt_dataset_verify(const pt_store *st, const char *run, const char *stream, const char *root,
				const pt_dataset_options *opts, pt_dataset_check_cb cb, void *payload,
				pt_dataset_verify_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
