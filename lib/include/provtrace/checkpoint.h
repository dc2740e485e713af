/*
 * provtrace/checkpoint.h - content-addressed, deduplicated model checkpoints.
 *
 * Basic outline (write):
 *   pt_checkpoint *ck;
 *   pt_checkpoint_new(&ck);
 *   uint64_t shape[2] = {4096, 1024};
 *   pt_checkpoint_add_tensor(ck, "layer0.weight", PT_DTYPE_F32, 2, shape, ptr, nbytes);
 *   pt_checkpoint_add_file(ck, "optimizer.pt", "/tmp/opt.pt");
 *
 *   pt_checkpointer *cw;
 *   pt_checkpointer_open(&cw, st, rec, NULL);
 *   pt_checkpointer_write(cw, ck, step, &info);       // synchronous, or:
 *   pt_checkpointer_snapshot(cw, ck, step, NULL);     // copy buffers, persist in background
 *   ...                                               // caller may reuse its buffers now
 *   pt_checkpointer_wait(cw);                         // all persisted (or the first error)
 *   pt_checkpointer_close(cw);
 *   pt_checkpoint_free(ck);
 *
 * Basic outline (read):
 *   pt_checkpoint_info info;
 *   pt_checkpoint_find(&info, st, "run-42", NULL, 1200);   // latest at step <= 1200
 *   pt_checkpoint_reader *rd;
 *   pt_checkpoint_reader_open(&rd, st, info.manifest);
 *   for (size_t i = 0; i < pt_checkpoint_reader_count(rd); i++) {
 *       pt_checkpoint_entry e;
 *       pt_checkpoint_reader_entry(rd, i, &e);
 *       pt_checkpoint_reader_read(rd, i, buf, e.size);     // every chunk hash-checked
 *   }
 *   pt_checkpoint_reader_free(rd);
 *
 * Storage: every tensor is cut at its own boundaries and then into fixed
 * pieces (options.chunk_size, default 4 MiB); tensors smaller than a quarter
 * of that are grouped with their neighbours into shared chunks so that a model
 * with thousands of small tensors does not make thousands of files. Blobs
 * (bytes or a file) are cut by content-defined chunking (Gear/FastCDC), so a
 * change in the middle of a file leaves the chunks around it unchanged.
 * Chunks are objects of the store's object store (STORE/objects/, named by
 * SHA-256 of their plain bytes, zstd with checksum, byte-shuffled first for
 * float dtypes when that helps, raw when compression does not shrink them);
 * a chunk already present is not written again. A checkpoint is a manifest
 * object listing its entries and their chunks, referenced by a `checkpoint`
 * event of the stream: {"manifest": "<hex>", "tensors": n, "blobs": n,
 * "logical_bytes": n, "stored_bytes": n, "new_bytes": n, "chunks": n,
 * "new_chunks": n}.
 *
 * Write order: each new chunk fdatasync'd and renamed to its name, then the
 * manifest (fdatasync'd and renamed), then every object directory that
 * received one of them fsync'd (in parallel), then the event (appended and
 * flushed). When the write returns, the chunks, the manifest, their
 * directory entries and the event are durable. A crash in between leaves
 * only unreferenced objects, which pt_gc() removes. While writing, a
 * checkpointer holds the store's gc lock (STORE/objects/gc.lock) shared, so
 * gc (which holds it exclusively) never deletes the chunks of a checkpoint in
 * progress, in this process or another.
 *
 * Formats: docs/FORMAT.md, "Checkpoints and objects".
 */
#ifndef PROVTRACE_CHECKPOINT_H
#define PROVTRACE_CHECKPOINT_H

#include "common.h"
#include "recorder.h"
#include "store.h"
#include "verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element types. The numeric values are stored in manifests: never change them. */
typedef enum {
	PT_DTYPE_BOOL = 1,
	PT_DTYPE_U8 = 2,
	PT_DTYPE_I8 = 3,
	PT_DTYPE_U16 = 4,
	PT_DTYPE_I16 = 5,
	PT_DTYPE_U32 = 6,
	PT_DTYPE_I32 = 7,
	PT_DTYPE_U64 = 8,
	PT_DTYPE_I64 = 9,
	PT_DTYPE_F16 = 10,
	PT_DTYPE_BF16 = 11,
	PT_DTYPE_F32 = 12,
	PT_DTYPE_F64 = 13,
	/* since manifest version 2 (a version-1 manifest holds only the above) */
	PT_DTYPE_C64 = 14,           /**< complex64: two f32 (real, imaginary) */
	PT_DTYPE_C128 = 15,          /**< complex128: two f64 */
	PT_DTYPE_C32 = 16,           /**< torch.complex32 (chalf): two f16 */
	PT_DTYPE_F8_E4M3FN = 17,     /**< torch.float8_e4m3fn (raw bits) */
	PT_DTYPE_F8_E5M2 = 18,       /**< torch.float8_e5m2 */
	PT_DTYPE_F8_E4M3FNUZ = 19,   /**< torch.float8_e4m3fnuz */
	PT_DTYPE_F8_E5M2FNUZ = 20    /**< torch.float8_e5m2fnuz */
} pt_dtype;

/** Size in bytes of one element (0 for an unknown dtype). */
PT_EXTERN size_t pt_dtype_size(pt_dtype dtype);
/** Short name: "bool", "u8", "i8", ..., "f16", "bf16", "f32", "f64", "c64", "c128", "c32",
 *  "f8e4m3fn", "f8e5m2", "f8e4m3fnuz", "f8e5m2fnuz"; NULL if unknown. */
PT_EXTERN const char *pt_dtype_name(pt_dtype dtype);
/** Parse a short name (also accepts numpy/torch spellings "float32", "int64", ...). */
PT_EXTERN int pt_dtype_from_name(pt_dtype *out, const char *name);

#define PT_CHECKPOINT_MAX_NDIM 32
#define PT_CHECKPOINT_MAX_ENTRIES 1000000

/* ---- describing a checkpoint ------------------------------------------------------ */

/** The list of tensors and blobs of one checkpoint (a builder). Not thread-safe. */
typedef struct pt_checkpoint pt_checkpoint;

PT_EXTERN int pt_checkpoint_new(pt_checkpoint **out);
/** Remove every entry (keeps the builder for the next checkpoint). */
PT_EXTERN void pt_checkpoint_clear(pt_checkpoint *ck);
PT_EXTERN void pt_checkpoint_free(pt_checkpoint *ck);

/**
 * Add a tensor. `name`: 1-1024 bytes of UTF-8, unique in the checkpoint.
 * `shape` has `ndim` (0..32) dimensions; `len` must equal the product of the
 * shape times pt_dtype_size(dtype) (PT_EINVAL otherwise). `data` is borrowed:
 * it must stay valid and unchanged until pt_checkpointer_write() or
 * pt_checkpointer_snapshot() returns (not longer: a snapshot copies it).
 */
PT_EXTERN int pt_checkpoint_add_tensor(pt_checkpoint *ck, const char *name, pt_dtype dtype,
				       unsigned int ndim, const uint64_t *shape, const void *data,
				       size_t len);

/** Add an opaque blob from memory (borrowed like a tensor's data). */
PT_EXTERN int pt_checkpoint_add_bytes(pt_checkpoint *ck, const char *name, const void *data,
				      size_t len);

/**
 * Add an opaque blob from a file (e.g. a `torch.save` output). The file is
 * read when the checkpoint is written (snapshot: read into memory before
 * pt_checkpointer_snapshot() returns). The path is copied.
 */
PT_EXTERN int pt_checkpoint_add_file(pt_checkpoint *ck, const char *name, const char *path);

/** Number of entries added so far. */
PT_EXTERN size_t pt_checkpoint_count(const pt_checkpoint *ck);

/*
 * Structure (nested state). A checkpoint may carry a *structure*: one
 * MessagePack value describing how its entries nest (dicts, lists, tuples)
 * and holding the plain values beside them (nil, bool, int, float, str,
 * bin). A leaf that is an entry is the ext value of type
 * PT_STRUCT_EXT_ENTRY with a 4-byte big-endian entry index; a tuple is the
 * ext value of type PT_STRUCT_EXT_TUPLE whose payload is exactly one
 * MessagePack array. Map keys are scalars (nil, bool, int, float, str).
 * Strings are UTF-8; nesting is at most PT_STRUCT_MAX_DEPTH deep; the value
 * is at most PT_STRUCT_MAX_BYTES. Every entry index must name an entry
 * already added. Entries keep their own names (unique, used by diff and
 * export); the structure says where each one goes. Stored in the manifest
 * (version 2; docs/FORMAT.md "Checkpoint manifest").
 */
#define PT_STRUCT_EXT_ENTRY 1
#define PT_STRUCT_EXT_TUPLE 2
#define PT_STRUCT_MAX_DEPTH 64
#define PT_STRUCT_MAX_BYTES ((size_t)64 << 20)

/**
 * Set the structure of `ck` (copied; replaces any earlier one; len 0
 * removes it). Validated here: PT_EINVAL naming the problem (malformed
 * MessagePack, an entry index >= pt_checkpoint_count, an unknown ext type,
 * a container key, bad UTF-8, too deep), PT_ELIMIT if larger than
 * PT_STRUCT_MAX_BYTES. pt_checkpoint_clear() removes it too.
 */
PT_EXTERN int pt_checkpoint_set_structure(pt_checkpoint *ck, const void *msgpack, size_t len);

/* ---- writing ------------------------------------------------------------------------- */

typedef struct {
	unsigned int version;   /**< PT_CHECKPOINT_OPTIONS_VERSION */
	uint32_t chunk_size;    /**< fixed tensor pieces, bytes (default 4 MiB; 64 KiB..64 MiB) */
	uint32_t cdc_avg;       /**< blob chunk target size (default 1 MiB; min avg/4, max avg*4) */
	int zstd_level;         /**< default 1 */
	uint32_t threads;       /**< hashing/compression workers (default: 2 per online CPU, max 8) */
	uint64_t memory_budget; /**< bytes of chunk buffers in flight (default 256 MiB) */
	uint32_t max_inflight;  /**< async checkpoints queued or running (default 2); each
				     holds a full copy of its checkpoint in memory */
	int no_event;           /**< 1: store chunks + manifest only, append no event (tests,
				     tools); info.manifest still names the manifest */
	uint64_t snapshot_reserve; /**< bytes of snapshot memory to allocate and touch in the
				     background at open, so that the first snapshot copies into
				     mapped pages (default 0: allocated by the first snapshot) */
	int always_hash;        /**< 1: compute the SHA-256 of every chunk. 0 (default): a
				     chunk whose XXH3-128 and length equal those of a chunk
				     of the previous checkpoint of this checkpointer reuses
				     that chunk's SHA-256 (if the object is still stored) */
} pt_checkpoint_options;

#define PT_CHECKPOINT_OPTIONS_VERSION 1
#define PT_CHECKPOINT_OPTIONS_INIT \
	{ PT_CHECKPOINT_OPTIONS_VERSION, 4u << 20, 1u << 20, 1, 0, 256u << 20, 2, 0, 0, 0 }

PT_EXTERN int pt_checkpoint_options_init(pt_checkpoint_options *opts, unsigned int version);

/** What a stored checkpoint holds (from its event, or filled by a write). */
typedef struct {
	char manifest[65];      /**< hex SHA-256 of the manifest object */
	char run[129];          /**< filled by find/list; empty after a write */
	char stream[129];
	uint64_t seq;           /**< sequence number of the checkpoint event (0 if none) */
	int64_t step;           /**< PT_NO_STEP if none */
	int64_t time;           /**< ns since epoch of the event (0 if none) */
	uint64_t tensors;       /**< tensor entries */
	uint64_t blobs;         /**< blob entries */
	uint64_t chunks;        /**< distinct chunks referenced */
	uint64_t new_chunks;    /**< chunks this checkpoint wrote (not already stored) */
	uint64_t logical_bytes; /**< bytes of all entries */
	uint64_t stored_bytes;  /**< bytes on disk of all referenced chunks + manifest */
	uint64_t new_bytes;     /**< bytes this checkpoint added to the store */
} pt_checkpoint_info;

/**
 * A checkpoint writer bound to a recorder (`rec` receives the `checkpoint`
 * events; it must stay open until the checkpointer is closed). `rec` may be
 * NULL only with opts.no_event. `opts` NULL: defaults.
 */
typedef struct pt_checkpointer pt_checkpointer;

PT_EXTERN int pt_checkpointer_open(pt_checkpointer **out, pt_store *st, pt_recorder *rec,
				   const pt_checkpoint_options *opts);

/**
 * Store `ck` as the checkpoint at `step` (PT_NO_STEP: none) and wait until it
 * is durable and its event appended. `out` (may be NULL) receives the summary.
 * If earlier asynchronous checkpoints failed, their error is returned first
 * (and `ck` is not written).
 */
PT_EXTERN int pt_checkpointer_write(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step,
				    pt_checkpoint_info *out);

/**
 * Asynchronous first phase: copy every buffer and file of `ck` and return; the
 * checkpoint is persisted in the background (as by write). The caller may
 * change or free its buffers and `ck` as soon as this returns. Waits first if
 * max_inflight checkpoints are already queued. `*out_ticket` (may be NULL)
 * numbers the checkpoint (1, 2, ...) for pt_checkpointer_status().
 * An error of an earlier background checkpoint is returned here (once).
 */
PT_EXTERN int pt_checkpointer_snapshot(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step,
				       uint64_t *out_ticket);

/** Wait until every snapshot so far is persisted; returns the first unreported error. */
PT_EXTERN int pt_checkpointer_wait(pt_checkpointer *cw);

typedef struct {
	uint64_t submitted;   /**< snapshots taken */
	uint64_t completed;   /**< persisted successfully */
	uint64_t failed;      /**< failed */
	uint32_t inflight;    /**< queued or running now */
	int first_error;      /**< code of the first error not yet reported, 0 if none */
	pt_checkpoint_info last; /**< summary of the last completed checkpoint */
} pt_checkpoint_status;

/** Progress of the background checkpoints (does not wait, does not clear errors). */
PT_EXTERN int pt_checkpointer_status(pt_checkpointer *cw, pt_checkpoint_status *out);

/**
 * Wait for all snapshots, stop the workers and free the checkpointer. Returns
 * the first error not reported before. NULL is a no-op returning 0.
 */
PT_EXTERN int pt_checkpointer_close(pt_checkpointer *cw);

/* ---- finding checkpoints ------------------------------------------------------------ */

/**
 * The latest checkpoint of `run`/`stream` (NULL: "main") whose step is <=
 * `step` (INT64_MAX: the latest of all), found by scanning `checkpoint`
 * events. PT_ENOTFOUND if there is none.
 */
PT_EXTERN int pt_checkpoint_find(pt_checkpoint_info *out, const pt_store *st, const char *run,
				 const char *stream, int64_t step);

/**
 * Every checkpoint of `run` (NULL: all runs), all streams, in run, stream,
 * sequence order. `*out` (pt_free) has `*count` entries.
 */
PT_EXTERN int pt_checkpoint_list(pt_checkpoint_info **out, size_t *count, const pt_store *st,
				 const char *run);

/** Storage of checkpoints: logical bytes against bytes stored. */
typedef struct {
	uint64_t checkpoints;   /**< checkpoint events */
	uint64_t logical_bytes; /**< sum of their logical sizes */
	uint64_t added_bytes;   /**< sum of the bytes each added when written */
	uint64_t objects;       /**< object files in STORE/objects (all runs, also unreferenced) */
	uint64_t object_bytes;  /**< their bytes on disk */
} pt_checkpoint_store_stats;

/**
 * Sum the checkpoints of `run` (NULL: all runs) and measure the object store
 * (always the whole store: objects are shared between runs).
 */
PT_EXTERN int pt_checkpoint_stats(pt_checkpoint_store_stats *out, const pt_store *st, const char *run);

/**
 * Every checkpoint of `run` (NULL: all runs), as pt_checkpoint_list() finds
 * them, rendered once for every front end (`provtrace checkpoint ls --json`,
 * Python's Run.checkpoints()): one JSON array, one object per line,
 *   {"run", "stream", "seq", "step" (null if none), "time" (ISO-8601 UTC),
 *    "time_ns" (ns since epoch), "manifest", "tensors", "blobs", "chunks",
 *    "new_chunks", "logical_bytes", "stored_bytes", "new_bytes",
 *    "dedup_ratio" (logical / new bytes, 3 decimals; 0 if nothing new)}
 * `*out` (pt_free) is NUL-terminated, its length in `*out_len` (may be
 * NULL).  Returns 0, PT_EINVAL, PT_ENOTFOUND (no such run), PT_ENOMEM or an
 * error reading the log.
 */
PT_EXTERN int pt_checkpoint_list_json(const pt_store *st, const char *run, char **out, size_t *out_len);

/** Totals of a checkpoint listing (pt_checkpoint_totals_of). */
typedef struct {
	uint64_t checkpoints;     /**< checkpoints listed */
	uint64_t logical_bytes;   /**< sum of their logical sizes */
	uint64_t added_bytes;     /**< sum of what each write reported adding (counts twice
				       what two writers stored at the same time) */
	uint64_t objects;         /**< distinct objects referenced (manifests and chunks) */
	uint64_t stored_bytes;    /**< their bytes on disk, each object counted once */
	uint64_t missing_objects; /**< referenced but not found (pt_verify reports them) */
	double dedup_ratio;       /**< logical_bytes / stored_bytes (0 if nothing stored) */
} pt_checkpoint_totals;

/**
 * Totals of the checkpoints of `run` (NULL: all runs): what they hold
 * against the distinct bytes they occupy on disk, read from their manifests
 * (so "stored" is true even when two writers stored the same chunks at
 * once).  A missing or damaged manifest is counted in missing_objects, not
 * an error.  Returns 0, PT_EINVAL, PT_ENOTFOUND (no such run), PT_ENOMEM.
 */
PT_EXTERN int pt_checkpoint_totals_of(pt_checkpoint_totals *out, const pt_store *st, const char *run);

/* ---- reading -------------------------------------------------------------------------- */

typedef enum { PT_ENTRY_TENSOR = 1, PT_ENTRY_BLOB = 2 } pt_entry_type;

typedef struct {
	const char *name;       /**< borrowed: valid until the reader is freed */
	pt_entry_type type;
	pt_dtype dtype;         /**< tensors only (0 for blobs) */
	unsigned int ndim;
	const uint64_t *shape;  /**< borrowed like name */
	uint64_t size;          /**< bytes */
	uint32_t chunks;        /**< chunk extents */
} pt_checkpoint_entry;

typedef struct pt_checkpoint_reader pt_checkpoint_reader;

/**
 * Open the checkpoint whose manifest is `manifest_hex`. The manifest is read
 * and verified against its id. PT_ENOTFOUND if absent, PT_ECORRUPT if damaged.
 */
PT_EXTERN int pt_checkpoint_reader_open(pt_checkpoint_reader **out, const pt_store *st,
					const char *manifest_hex);
PT_EXTERN size_t pt_checkpoint_reader_count(const pt_checkpoint_reader *rd);
/**
 * The structure of the checkpoint (see pt_checkpoint_set_structure), already
 * validated against the entries: *data borrowed until the reader is freed.
 * A checkpoint without one (every version-1 manifest) gives *data NULL,
 * *len 0 and returns 0.
 */
PT_EXTERN int pt_checkpoint_reader_structure(const pt_checkpoint_reader *rd, const void **data,
					     size_t *len);
PT_EXTERN int pt_checkpoint_reader_entry(const pt_checkpoint_reader *rd, size_t index,
					 pt_checkpoint_entry *out);
/**
 * The checkpoint's leaves by path, as a JSON array (allocated, NUL-terminated,
 * release with pt_free; `out_len` may be NULL): depth first through the
 * structure, each leaf `{"path": "optimizer.state.0.exp_avg", "entry": i,
 * "name", "type": "tensor"|"blob", "dtype", "shape": [...], "size"}` for an
 * entry or `{"path", "value": <JSON>}` for a plain value (an empty dict or
 * list included); keys and indices joined by '.'.  Without a structure,
 * one leaf per entry, its path its name.  Returns 0, PT_EINVAL,
 * PT_ECORRUPT, PT_ENOMEM.  Rendered by `provtrace checkpoint show`.
 */
PT_EXTERN int pt_checkpoint_reader_paths_json(const pt_checkpoint_reader *rd, char **out, size_t *out_len);
/** Index of the entry named `name`; PT_ENOTFOUND if none. */
PT_EXTERN int pt_checkpoint_reader_find(const pt_checkpoint_reader *rd, const char *name,
					size_t *out_index);
/**
 * Read entry `index` into `buf` (`cap` >= its size, else PT_ELIMIT), checking
 * every chunk against its hash. A damaged or missing chunk is PT_ECORRUPT /
 * PT_ENOTFOUND with a message naming the entry, the chunk number and id.
 * Memory: one chunk of scratch.
 */
PT_EXTERN int pt_checkpoint_reader_read(pt_checkpoint_reader *rd, size_t index, void *buf,
					size_t cap);
/** Write entry `index` to the open file descriptor `fd` (streamed, verified). */
PT_EXTERN int pt_checkpoint_reader_read_fd(pt_checkpoint_reader *rd, size_t index, int fd);
PT_EXTERN void pt_checkpoint_reader_free(pt_checkpoint_reader *rd);

/* ---- verify and gc ---------------------------------------------------------------------- */

typedef struct {
	uint64_t manifests;   /**< manifests checked */
	uint64_t chunks;      /**< distinct chunks checked */
	uint64_t objects;     /**< other objects (`objects` arrays) checked */
	uint64_t bytes;       /**< plain bytes re-hashed */
	uint64_t errors;
} pt_checkpoint_verify_stats;

/**
 * Re-hash every manifest and chunk referenced by a `checkpoint` event, and
 * every object listed in an `objects` array of a `snapshot` or `code` event
 * (no other kind holds references), of `run` (NULL:
 * all runs). Problems (missing or damaged objects, naming the run, step,
 * entry and chunk) go to `cb` like pt_verify's. Returns 0 if clean,
 * PT_ECORRUPT if a problem was found. Objects nothing references are not
 * problems (a crash between chunks and event leaves them; gc removes them).
 */
PT_EXTERN int pt_checkpoint_verify_store(const pt_store *st, const char *run, pt_problem_cb cb,
					 void *payload, pt_checkpoint_verify_stats *stats);

typedef struct {
	unsigned int version;  /**< PT_GC_OPTIONS_VERSION */
	int dry_run;           /**< 1: report, delete nothing */
	int wait;              /**< 1: wait for writers holding the gc lock; 0: PT_ELOCKED */
	int64_t grace_s;       /**< keep unreferenced objects younger than this (default 900 s):
				    modules other than checkpoints store an object, then append
				    the event naming it, without holding the gc lock */
} pt_gc_options;

#define PT_GC_OPTIONS_VERSION 1
#define PT_GC_OPTIONS_INIT { PT_GC_OPTIONS_VERSION, 0, 1, 900 }

typedef struct {
	uint64_t live_objects;    /**< objects reachable from an event */
	uint64_t live_bytes;      /**< their bytes on disk */
	uint64_t garbage_objects; /**< unreferenced objects (removed unless dry run) */
	uint64_t garbage_bytes;
	uint64_t temp_files;      /**< leftover temporary files of crashed writers (removed) */
	uint64_t missing;         /**< referenced but absent (reported, not an error of gc) */
	uint64_t young_objects;   /**< unreferenced but kept: younger than grace_s */
	uint64_t archived;        /**< referenced, not in the hot store, held by an archive
				       in a vault (read from there; not counted as missing) */
} pt_gc_stats;

/**
 * Remove objects no event references. Roots: the `manifest` of every
 * `checkpoint` event (and the chunks it lists) and every hex id in an
 * `objects` array of any event body, in every stream of every run. Holds the
 * store's gc lock exclusively, so it never races a checkpoint being written
 * (PT_ELOCKED with opts.wait = 0 while one is). If any stream cannot be read,
 * nothing is deleted and the error is returned.
 */
PT_EXTERN int pt_gc(const pt_store *st, const pt_gc_options *opts, pt_gc_stats *stats);

/* ---- export ------------------------------------------------------------------------------- */

typedef struct {
	uint64_t entries; /**< files written */
	uint64_t bytes;   /**< plain bytes of the entries */
} pt_checkpoint_export_stats;

/**
 * Write the checkpoint `manifest_hex` into `dir` (created if needed): every
 * tensor as `<name>.npy` (NPY 1.0, loadable by numpy.load; bf16 is widened
 * to float32, which numpy lacks), every blob as its original bytes, and an
 * `index.json` mapping entry names to files, dtypes and shapes.  Names are
 * made file-safe ([A-Za-z0-9._-], others '_', made unique).  Every chunk is
 * verified as it is read; each file is written to `<file>.part` and renamed
 * when complete, so a failure never leaves a truncated file under its
 * final name.  `stats` may be NULL.
 */
PT_EXTERN int pt_checkpoint_export(const pt_store *st, const char *manifest_hex, const char *dir,
				   pt_checkpoint_export_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
