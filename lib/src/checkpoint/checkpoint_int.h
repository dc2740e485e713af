/*
 * checkpoint/checkpoint_int.h - internals shared by the checkpoint sources:
 *   checkpoint.c          builder (pt_checkpoint), dtypes, options
 *   checkpoint_manifest.c manifest encoding/decoding
 *   checkpoint_write.c    chunking, parallel hashing/compression, async mode
 *   checkpoint_read.c     reader, find/list via the event log
 *   checkpoint_event.c    checkpoint event bodies (msgpack) both ways
 *   checkpoint_gc.c       store verification of chunks, gc and the gc lock
 *   cdc.c                 content-defined chunking for blobs
 */
#ifndef PT_CHECKPOINT_INT_H
#define PT_CHECKPOINT_INT_H

#include "base/base_int.h"
#include "log/history_int.h" /* objects: pt__object_get/read/stat */
#include "provtrace/checkpoint.h"

/* ---- builder ---------------------------------------------------------------------- */
typedef struct {
	char *name;
	uint8_t type;  /* pt_entry_type */
	uint8_t dtype; /* pt_dtype or 0 */
	uint8_t ndim;
	uint64_t shape[PT_CHECKPOINT_MAX_NDIM];
	const uint8_t *data; /* borrowed (or owned by a snapshot) */
	uint64_t len;
	char *path; /* file blobs */
} pt__ck_entry;

struct pt_checkpoint {
	pt__ck_entry *e;
	size_t count, cap;
	/* a snapshot's private copy of every buffer (see checkpoint_write.c) */
	uint8_t *arena;
	size_t arena_len;
	/* the structure (pt_checkpoint_set_structure), validated, owned */
	uint8_t *tree;
	size_t tree_len;
};

int pt__checkpoint_push(pt_checkpoint *ck, const pt__ck_entry *e);
int pt__dtype_is_float(pt_dtype d);

/* ---- manifest --------------------------------------------------------------------- */
/* written: 1 without a structure (byte-identical to before), 2 with one */
#define PT_MANIFEST_VERSION 2
#define PT_CHUNK_MAX ((uint32_t)64 << 20)

typedef struct {
	uint8_t id[32];
	uint32_t chunk_len; /* plain bytes of the whole chunk */
	uint32_t off;       /* where this extent starts inside the chunk */
	uint32_t len;
} pt__extent;

typedef struct {
	char *name;
	uint8_t type, dtype, ndim;
	uint64_t shape[PT_CHECKPOINT_MAX_NDIM];
	uint64_t size;
	uint32_t next;
	pt__extent *ext;
} pt__mentry;

typedef struct {
	uint32_t count;
	pt__mentry *e;
	uint64_t logical;
	uint8_t *tree; /* the structure (owned; NULL: none) */
	uint32_t tree_len;
} pt__manifest;

/* Validate a structure against `nentries` entries; PT_ECORRUPT/PT_ELIMIT naming the problem. */
int pt__tree_check(const uint8_t *p, size_t len, uint64_t nentries);

int pt__manifest_encode(const pt__manifest *m, pt__buf *out);
/* Decode and validate; errors are PT_ECORRUPT naming `what`. */
int pt__manifest_decode(pt__manifest *m, const uint8_t *p, size_t len, const char *what);
void pt__manifest_clear(pt__manifest *m);
/* Read the manifest object `id` (verified) and decode it. */
int pt__manifest_load(pt__manifest *m, const pt_store *st, const uint8_t id[32]);

/* ---- content-defined chunking (cdc.c) ---------------------------------------------- */
typedef struct {
	size_t min, avg, max;
	uint64_t mask_s, mask_l;
} pt__cdc;
void pt__cdc_init(pt__cdc *c, size_t avg);
/* Length of the next chunk of p[0..len): a cut point, or len if len <= max and
 * `final` (no more data follows), or 0 if more data is needed to decide. */
size_t pt__cdc_next(const pt__cdc *c, const uint8_t *p, size_t len, int final);

/* ---- checkpoint events (checkpoint_event.c) ------------------------------------------ */
typedef struct {
	int has_manifest; /* a checkpoint event written by pt_checkpointer_write names this manifest */
	int foreign;      /* a checkpoint event that does not have that shape (forged through emit) */
	uint8_t manifest[32];
	pt_checkpoint_info info;
	/* a `dataset` event's stored contents: a checkpoint manifest whose chunks are referenced too */
	int has_content;
	uint8_t content[32];
	char content_hex[65];
	/* ids of an `objects` array (allocated, 32 bytes each) */
	uint8_t *objects;
	size_t nobjects;
} pt__ev_refs;

/*
 * The object references of an event of `kind`: only the kinds the library
 * writes itself carry them (checkpoint: `manifest`; snapshot, code and
 * artifact: `objects`; dataset: `objects` and the `content` manifest); any
 * other kind has none, whatever its body says.  A checkpoint
 * event must also have the shape pt_checkpointer_write gives it (manifest and
 * the seven counts, as every version wrote): one that does not was forged
 * through `emit` before reserved kinds were refused, and is `foreign` with no
 * reference.  Unknown keys are ignored; a malformed body is PT_ECORRUPT.
 */
int pt__ev_refs_parse(pt__ev_refs *r, const char *kind, const uint8_t *body, size_t len);
void pt__ev_refs_free(pt__ev_refs *r);

/* ---- gc lock (checkpoint_gc.c) ---------------------------------------------------------- */
/* Take STORE/objects/gc.lock shared (writers) or exclusive (gc). Returns the fd. */
int pt__gc_lock(const pt_store *st, int exclusive, int wait, int *out_fd);
void pt__gc_unlock(int fd);

/* ---- id set (hash set of 32-byte ids) ----------------------------------------------------- */
typedef struct {
	uint8_t *ids, *used;
	size_t n, cap;
} pt__idset;
/* 1 if added, 0 if it was there, <0 on error. */
int pt__idset_add(pt__idset *s, const uint8_t id[32]);
int pt__idset_has(const pt__idset *s, const uint8_t id[32]);
void pt__idset_free(pt__idset *s);

/*
 * Every object the runs reference (gc's mark: checkpoint manifests and
 * their chunks, snapshot/code/artifact objects), of one run or of all, into
 * a new set (checkpoint_gc.c).  PT_ECORRUPT/PT_ENOTFOUND when a manifest
 * cannot be read.
 */
int pt__objects_live(const pt_store *st, const char *only_run, pt__idset *out);
/* The same for the events of one stream from `seq_min` on, added to `set`. */
int pt__objects_live_stream(const pt_store *st, const char *run, const char *stream, uint64_t seq_min,
			    pt__idset *set);

#endif
