/*
 * log/tree_int.h - a stream's Merkle tree (docs/FORMAT.md, "The Merkle tree
 * of a stream"): one leaf per event (its stored msgpack bytes), leaf index =
 * seq - 1.  The writer keeps the compact range (recorder.c); this file
 * rebuilds it from history, and computes proofs by one pass over the leaves.
 */
#ifndef PT_TREE_H
#define PT_TREE_H

#include "base/merkle_int.h"
#include "log/history_int.h"

/*
 * Feed the events of the batches in [from, end) of a segment's bytes into
 * `t` (or, with `ranges`, into a proof being computed).  Every batch is
 * checked (header and payload CRCs, the zstd frame, event boundaries) and
 * must continue at seq t->size + 1.  `check_roots`: a version-2 batch's root
 * must equal the tree's after it (PT_ECORRUPT names the offset).
 */
typedef struct {
	pt__zd *zd;
	pt__buf payload, raw;
	pt__merkle_ranges *ranges; /* NULL: append to the tree */
	bool check_roots;
	/* with `ranges`: leaves at or past `limit` are ignored (0: none are),
	 * and the bytes of leaf `capture` are copied into `captured` */
	uint64_t limit;
	uint64_t capture;
	pt__buf captured;
	bool have_capture;
	/* without `ranges`: called after every leaf appended (may be NULL) */
	void (*on_leaf)(void *hook, const pt__merkle *t);
	void *hook;
} pt__tree_feeder;
void pt__tree_feeder_free(pt__tree_feeder *f);
int pt__tree_feed(pt__tree_feeder *f, pt__merkle *t, int fd, uint64_t base, uint64_t from, uint64_t end,
		  const char *path);

/*
 * The tree over the sealed segments of `h` (all of h->chain): from the
 * newest footer that holds one (one read), re-reading only the segments
 * after it (streams written before the tree existed: all of them, once).
 */
int pt__tree_of_sealed(const pt__history *h, pt__merkle *out);

/*
 * One pass over the stream's leaves [0, size): out[i] = MTH of shape[i]
 * (nr ranges), and the bytes of leaf `want` (< size) into `leaf`.
 * PT_ENOTFOUND if the stream has fewer than `size` events.
 */
int pt__tree_prove(const pt__history *h, uint64_t size, const pt__merkle_range *shape, int nr,
		   uint8_t (*out)[PT_SHA256_LEN], uint64_t want, pt__buf *leaf);

/*
 * The roots of the stream's tree at each of `sizes` (n, ascending): one pass
 * over history (sealed segments and the open one) up to the largest.
 * `have[i]` false when the stream has fewer than sizes[i] events; `*total`
 * the events read (= the stream's size when it has fewer than the largest).
 * `any_name`: read segments whose header names another run or stream (to
 * recognise a stream moved under another name); otherwise they are refused.
 */
int pt__tree_roots_at(const pt__history *h, const uint64_t *sizes, size_t n, uint8_t (*roots)[PT_SHA256_LEN],
		      bool *have, uint64_t *total, bool any_name);

/*
 * The subtree-hash index (tree_index.c; docs/FORMAT.md "The subtree-hash
 * index"): STREAM/merkle.idx holds the hash of every complete aligned
 * 2^PT_TREE_INDEX_K-leaf subtree.  pt__tree_prove_indexed computes what
 * pt__tree_prove does from the index (extending and caching it first when it
 * covers fewer blocks than `size` has), reading only the events of the
 * blocks that hold `want` and the end of the tree.  Its result is NOT
 * trusted: the caller verifies the proof against a signed root and, if that
 * fails, drops the index (pt__tree_index_drop) and calls pt__tree_prove.
 */
#define PT_TREE_INDEX_FILE "merkle.idx"
#define PT_TREE_INDEX_K 10
typedef struct {
	uint64_t loaded, built; /* index entries read from the file, computed now */
} pt__tree_index_stats;
int pt__tree_prove_indexed(const pt__history *h, uint64_t size, const pt__merkle_range *shape, int nr,
			   uint8_t (*out)[PT_SHA256_LEN], uint64_t want, pt__buf *leaf, pt__tree_index_stats *stats);
void pt__tree_index_drop(const pt__history *h);

/* Hash the events of the open segment of `h` into `t` (up to its last whole batch). */
int pt__tree_feed_tail(const pt__history *h, pt__merkle *t);

#endif
