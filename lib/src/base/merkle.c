/*
 * merkle.c - RFC 6962 Merkle trees: compact ranges, proof shapes, and the
 * RFC 9162 verifiers.  The hashes themselves are base/hash.c's.
 */
#include "base/merkle_int.h"

#include <stdarg.h>
#include <stdio.h>

void pt__merkle_init(pt__merkle *t)
{
	t->size = 0;
	t->n = 0;
}

void pt__merkle_push(pt__merkle *t, const uint8_t leaf_hash[PT_SHA256_LEN])
{
	uint8_t h[PT_SHA256_LEN];
	memcpy(h, leaf_hash, PT_SHA256_LEN);
	/* each trailing 1 bit of size is a perfect subtree the new leaf completes */
	for (uint64_t s = t->size; s & 1; s >>= 1) {
		t->n--;
		pt__merkle_node_hash(t->node[t->n], h, h);
	}
	memcpy(t->node[t->n++], h, PT_SHA256_LEN);
	t->size++;
}

void pt__merkle_append(pt__merkle *t, const void *data, size_t len)
{
	uint8_t h[PT_SHA256_LEN];
	pt__merkle_leaf_hash(data, len, h);
	pt__merkle_push(t, h);
}

void pt__merkle_root(const pt__merkle *t, uint8_t out[PT_SHA256_LEN])
{
	if (!t->n) {
		pt__sha256("", 0, out);
		return;
	}
	uint8_t r[PT_SHA256_LEN];
	memcpy(r, t->node[t->n - 1], PT_SHA256_LEN);
	for (uint32_t i = t->n - 1; i-- > 0;)
		pt__merkle_node_hash(t->node[i], r, r);
	memcpy(out, r, PT_SHA256_LEN);
}

int pt__merkle_set(pt__merkle *t, uint64_t size, const uint8_t (*nodes)[PT_SHA256_LEN], uint32_t n)
{
	if (n != (uint32_t)__builtin_popcountll(size))
		return -1;
	t->size = size;
	t->n = n;
	if (n)
		memcpy(t->node, nodes, (size_t)n * PT_SHA256_LEN);
	return 0;
}

/* largest power of two strictly smaller than n (n >= 2) */
static uint64_t split(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static int path(uint64_t m, uint64_t lo, uint64_t hi, pt__merkle_range *out, int k)
{
	if (hi - lo <= 1)
		return k;
	uint64_t s = split(hi - lo);
	if (m < lo + s) {
		k = path(m, lo, lo + s, out, k);
		out[k++] = (pt__merkle_range){lo + s, hi};
	} else {
		k = path(m, lo + s, hi, out, k);
		out[k++] = (pt__merkle_range){lo, lo + s};
	}
	return k;
}

int pt__merkle_inclusion_shape(uint64_t index, uint64_t size, pt__merkle_range *out)
{
	if (index >= size)
		return -1;
	return path(index, 0, size, out, 0);
}

static int subproof(uint64_t m, uint64_t lo, uint64_t hi, bool b, pt__merkle_range *out, int k)
{
	uint64_t n = hi - lo;
	if (m == n) {
		if (!b)
			out[k++] = (pt__merkle_range){lo, hi};
		return k;
	}
	uint64_t s = split(n);
	if (m <= s) {
		k = subproof(m, lo, lo + s, b, out, k);
		out[k++] = (pt__merkle_range){lo + s, hi};
	} else {
		k = subproof(m - s, lo + s, hi, false, out, k);
		out[k++] = (pt__merkle_range){lo, lo + s};
	}
	return k;
}

int pt__merkle_consistency_shape(uint64_t old_size, uint64_t new_size, pt__merkle_range *out)
{
	if (old_size == 0 || old_size > new_size)
		return -1;
	if (old_size == new_size)
		return 0;
	return subproof(old_size, 0, new_size, true, out, 0);
}

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t n, const char *fmt, ...)
{
	if (why && n) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int pt__merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[PT_SHA256_LEN],
				const uint8_t (*proof)[PT_SHA256_LEN], size_t proof_len,
				const uint8_t root[PT_SHA256_LEN], char *why, size_t why_len)
{
	if (index >= size)
		return fail(why, why_len, "leaf index %llu is not inside a tree of %llu leaves", (unsigned long long)index,
			    (unsigned long long)size);
	pt__merkle_range shape[PT_MERKLE_MAX_PROOF];
	int want = pt__merkle_inclusion_shape(index, size, shape);
	if (want < 0 || proof_len != (size_t)want)
		return fail(why, why_len, "the inclusion proof has %zu hashes; leaf %llu of a tree of %llu leaves needs exactly %d",
			    proof_len, (unsigned long long)index, (unsigned long long)size, want);
	uint64_t fn = index, sn = size - 1;
	uint8_t r[PT_SHA256_LEN];
	memcpy(r, leaf_hash, PT_SHA256_LEN);
	for (size_t i = 0; i < proof_len; i++) {
		if (sn == 0)
			return fail(why, why_len, "the inclusion proof is longer than the tree is deep");
		if ((fn & 1) || fn == sn) {
			pt__merkle_node_hash(proof[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			pt__merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return fail(why, why_len, "the inclusion proof is shorter than the tree is deep");
	if (memcmp(r, root, PT_SHA256_LEN))
		return fail(why, why_len, "the inclusion proof does not lead to the tree's root: the leaf, the proof or the root was changed");
	return 0;
}

int pt__merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t old_root[PT_SHA256_LEN],
				  const uint8_t new_root[PT_SHA256_LEN], const uint8_t (*proof)[PT_SHA256_LEN],
				  size_t proof_len, char *why, size_t why_len)
{
	if (old_size > new_size)
		return fail(why, why_len, "the old tree (%llu leaves) is larger than the new one (%llu)",
			    (unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == 0)
		return fail(why, why_len, "an empty tree has no consistency proof (it is a prefix of every tree)");
	if (old_size == new_size) {
		if (proof_len)
			return fail(why, why_len, "trees of equal size need an empty consistency proof, not %zu hashes", proof_len);
		if (memcmp(old_root, new_root, PT_SHA256_LEN))
			return fail(why, why_len, "two trees of %llu leaves with different roots: the log was rewritten",
				    (unsigned long long)old_size);
		return 0;
	}
	pt__merkle_range shape[PT_MERKLE_MAX_PROOF];
	int want = pt__merkle_consistency_shape(old_size, new_size, shape);
	if (want < 0 || proof_len != (size_t)want)
		return fail(why, why_len, "the consistency proof has %zu hashes; %llu -> %llu leaves needs exactly %d", proof_len,
			    (unsigned long long)old_size, (unsigned long long)new_size, want);
	/* RFC 9162 2.1.4.2; when old_size is a power of two its root is the proof's implicit first hash */
	const uint8_t *first;
	size_t i = 0;
	bool pow2 = (old_size & (old_size - 1)) == 0;
	if (pow2) {
		first = old_root;
	} else {
		first = proof[0];
		i = 1;
	}
	uint64_t fn = old_size - 1, sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[PT_SHA256_LEN], sr[PT_SHA256_LEN];
	memcpy(fr, first, PT_SHA256_LEN);
	memcpy(sr, first, PT_SHA256_LEN);
	for (; i < proof_len; i++) {
		if (sn == 0)
			return fail(why, why_len, "the consistency proof is longer than the tree is deep");
		if ((fn & 1) || fn == sn) {
			pt__merkle_node_hash(proof[i], fr, fr);
			pt__merkle_node_hash(proof[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			pt__merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return fail(why, why_len, "the consistency proof is shorter than the tree is deep");
	if (memcmp(fr, old_root, PT_SHA256_LEN))
		return fail(why, why_len, "the consistency proof does not lead to the old root: the old tree is not a prefix of the new one");
	if (memcmp(sr, new_root, PT_SHA256_LEN))
		return fail(why, why_len, "the consistency proof does not lead to the new root: the new tree does not extend the old one");
	return 0;
}

void pt__merkle_ranges_init(pt__merkle_ranges *m, const pt__merkle_range *r, int nr, uint8_t (*out)[PT_SHA256_LEN])
{
	m->r = r;
	m->nr = nr;
	m->out = out;
	m->next = 0;
	m->cur = -1;
	m->k = 0;
	pt__merkle_init(&m->acc);
	for (int i = 0; i < nr; i++)
		m->order[i] = i;
	/* insertion sort by lo: at most PT_MERKLE_MAX_PROOF ranges */
	for (int i = 1; i < nr; i++)
		for (int j = i; j > 0 && r[m->order[j]].lo < r[m->order[j - 1]].lo; j--) {
			int t = m->order[j];
			m->order[j] = m->order[j - 1];
			m->order[j - 1] = t;
		}
}

bool pt__merkle_ranges_wants(const pt__merkle_ranges *m)
{
	return m->k < m->nr && m->r[m->order[m->k]].lo <= m->next;
}

void pt__merkle_ranges_push(pt__merkle_ranges *m, const uint8_t leaf_hash[PT_SHA256_LEN])
{
	if (!pt__merkle_ranges_wants(m)) {
		m->next++;
		return;
	}
	pt__merkle_push(&m->acc, leaf_hash);
	m->next++;
	const pt__merkle_range *r = &m->r[m->order[m->k]];
	if (m->next == r->hi) {
		pt__merkle_root(&m->acc, m->out[m->order[m->k]]);
		pt__merkle_init(&m->acc);
		m->k++;
	}
}

void pt__merkle_ranges_skip(pt__merkle_ranges *m)
{
	m->next++;
}
