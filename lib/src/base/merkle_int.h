/*
 * base/merkle_int.h - RFC 6962 / RFC 9162 Merkle trees over SHA-256: the
 * compact range (frontier) a writer keeps, proof shapes, and the verifiers
 * of inclusion and consistency proofs.  Pure computation; no I/O.
 *
 * Leaves are numbered from 0 (a stream's event seq N is leaf N-1).  The
 * tree of n leaves is the one of RFC 6962 section 2.1: MTH({}) = SHA-256(),
 * MTH({d}) = SHA-256(0x00 || d), MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) ||
 * MTH(D[k:n])) with k the largest power of two smaller than n.
 */
#ifndef PT_MERKLE_H
#define PT_MERKLE_H

#include "base/base_int.h"

#define PT_MERKLE_MAX_NODES 64  /* frontier nodes: popcount(size) <= 64 */
#define PT_MERKLE_MAX_PROOF 128 /* hashes in any inclusion or consistency proof of a 2^64 tree */

/*
 * The compact range [0, size): the roots of the perfect subtrees the binary
 * digits of `size` cut the leaves into, left (largest) to right.  A writer
 * appends in O(1) amortized node hashes and gets the root in popcount(size)-1.
 */
typedef struct {
	uint64_t size;
	uint32_t n; /* = popcount(size) */
	uint8_t node[PT_MERKLE_MAX_NODES][PT_SHA256_LEN];
} pt__merkle;

void pt__merkle_init(pt__merkle *t);
/* Append a leaf by its leaf hash. */
void pt__merkle_push(pt__merkle *t, const uint8_t leaf_hash[PT_SHA256_LEN]);
/* Append a leaf by its bytes. */
void pt__merkle_append(pt__merkle *t, const void *data, size_t len);
/* MTH of the leaves so far (SHA-256 of nothing for an empty tree). */
void pt__merkle_root(const pt__merkle *t, uint8_t out[PT_SHA256_LEN]);
/* Restore a frontier: `n` nodes must equal popcount(size); -1 if not. */
int pt__merkle_set(pt__merkle *t, uint64_t size, const uint8_t (*nodes)[PT_SHA256_LEN], uint32_t n);

/*
 * The shape of a proof: the leaf ranges [lo, hi) whose MTH are the proof's
 * hashes, in proof order (RFC 6962 PATH and PROOF).  Return the number of
 * ranges (<= PT_MERKLE_MAX_PROOF), or -1 for arguments that have no proof
 * (index >= size; old > new, old == 0).
 */
typedef struct {
	uint64_t lo, hi;
} pt__merkle_range;
int pt__merkle_inclusion_shape(uint64_t index, uint64_t size, pt__merkle_range *out);
int pt__merkle_consistency_shape(uint64_t old_size, uint64_t new_size, pt__merkle_range *out);

/*
 * Verifiers (RFC 9162 sections 2.1.3.2 and 2.1.4.2).  Every element is
 * checked: the proof length must be exactly what the sizes imply, every
 * hash 32 bytes.  0 when the proof holds; otherwise -1 with `why` (if not
 * NULL) saying what is wrong, in words for a user.
 */
int pt__merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[PT_SHA256_LEN],
				const uint8_t (*proof)[PT_SHA256_LEN], size_t proof_len,
				const uint8_t root[PT_SHA256_LEN], char *why, size_t why_len);
int pt__merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t old_root[PT_SHA256_LEN],
				  const uint8_t new_root[PT_SHA256_LEN], const uint8_t (*proof)[PT_SHA256_LEN],
				  size_t proof_len, char *why, size_t why_len);

/*
 * Computing the hashes of a proof in one pass over the leaves: feed every
 * leaf hash of [0, size) in order; `out[i]` receives the MTH of range i of
 * the shape.  Ranges must be disjoint (every shape above is).
 */
typedef struct {
	const pt__merkle_range *r;
	int nr;
	uint8_t (*out)[PT_SHA256_LEN];
	uint64_t next;        /* next leaf index */
	int cur;              /* range being built, or -1 */
	pt__merkle acc;       /* its compact range */
	int order[PT_MERKLE_MAX_PROOF]; /* ranges sorted by lo */
	int k;                /* position in order */
} pt__merkle_ranges;
void pt__merkle_ranges_init(pt__merkle_ranges *m, const pt__merkle_range *r, int nr,
			    uint8_t (*out)[PT_SHA256_LEN]);
/* Is leaf `index` (the next one) inside a range?  Callers may skip hashing leaves that are not. */
bool pt__merkle_ranges_wants(const pt__merkle_ranges *m);
void pt__merkle_ranges_push(pt__merkle_ranges *m, const uint8_t leaf_hash[PT_SHA256_LEN]);
/* Skip a leaf no range holds (pt__merkle_ranges_wants was false). */
void pt__merkle_ranges_skip(pt__merkle_ranges *m);

#endif
