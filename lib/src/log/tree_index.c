/*
 * tree_index.c - the subtree-hash index of a stream (STREAM/merkle.idx,
 * docs/FORMAT.md "The subtree-hash index"): the hash of every complete,
 * aligned 2^10-leaf subtree of the stream's tree, so that a proof reads one
 * block of events (the leaf's), the events after the last complete block,
 * and index entries - not the whole stream.
 *
 * Derived data, trusted for nothing: entries carry a CRC (an accident is
 * caught and the index rebuilt from that entry), and the caller re-verifies
 * every proof built from the index against the signed root before it is
 * returned, falling back to recomputation from the events (proof.c).  A
 * hostile index can therefore cost time, never produce a wrong proof.
 */
#include "log/tree_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDX_MAGIC "ptmidx01"
#define IDX_HDR 16
#define IDX_ENT (PT_SHA256_LEN + 4)
#define IDX_MAX_ENTRIES (64ull << 20) /* 2^36 events: 2.25 GiB of index; larger streams prove without it */

static char *idx_path(const pt__history *h)
{
	return pt__sprintf("%s/" PT_TREE_INDEX_FILE, h->dir);
}

static uint32_t ent_crc(uint64_t i, const uint8_t *hash)
{
	uint8_t b[8];
	pt__put_u64(b, i);
	return pt__crc32c(pt__crc32c(0, b, 8), hash, PT_SHA256_LEN);
}

/* The valid prefix of the index (at most `max` entries): *n entries into *out
 * (allocated for *cap >= max(*n, 1) hashes: no more than the file holds, so
 * that a checkpoint claiming a huge tree allocates nothing up front).  A
 * missing, foreign or damaged file is an index of 0 entries (or of its
 * entries before the first damaged one). */
static int idx_load(const pt__history *h, uint64_t max, uint8_t (**out)[PT_SHA256_LEN], uint64_t *n, uint64_t *cap)
{
	*out = NULL;
	*n = *cap = 0;
	char *path = idx_path(h);
	if (!path)
		return PT_ENOMEM;
	if (max > IDX_MAX_ENTRIES)
		max = IDX_MAX_ENTRIES;
	int fd = pt__open_in(h->st->path, path, O_RDONLY, 0);
	pt__free(path);
	struct stat sb;
	if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > IDX_HDR) {
		uint64_t in_file = ((uint64_t)sb.st_size - IDX_HDR) / IDX_ENT;
		if (max > in_file)
			max = in_file;
	} else {
		max = 0;
	}
	uint8_t(*e)[PT_SHA256_LEN] = pt__malloc((size_t)(max ? max : 1) * PT_SHA256_LEN);
	if (!e) {
		if (fd >= 0)
			close(fd);
		return PT_ENOMEM;
	}
	*cap = max ? max : 1;
	uint64_t have = 0;
	if (fd >= 0) {
		uint8_t hdr[IDX_HDR];
		if (max && pread(fd, hdr, IDX_HDR, 0) == IDX_HDR && !memcmp(hdr, IDX_MAGIC, 8) &&
		    pt__get_u32(hdr + 8) == PT_TREE_INDEX_K && pt__get_u32(hdr + 12) == 0) {
			enum { CHUNK = 1024 };
			uint8_t *buf = pt__malloc((size_t)CHUNK * IDX_ENT);
			while (buf && have < max) {
				uint64_t want = max - have < CHUNK ? max - have : CHUNK;
				ssize_t r = pread(fd, buf, (size_t)want * IDX_ENT, (off_t)(IDX_HDR + have * IDX_ENT));
				if (r <= 0)
					break;
				uint64_t got = (uint64_t)r / IDX_ENT, k = 0;
				for (; k < got; k++) {
					const uint8_t *x = buf + k * IDX_ENT;
					if (ent_crc(have, x) != pt__get_u32(x + PT_SHA256_LEN))
						break;
					memcpy(e[have++], x, PT_SHA256_LEN);
				}
				if (k < got || got < want)
					break;
			}
			pt__free(buf);
		}
		close(fd);
	}
	*out = e;
	*n = have;
	return 0;
}

/* Best effort: a read-only store just proves without a cached index. */
static void idx_store(const pt__history *h, const uint8_t (*e)[PT_SHA256_LEN], uint64_t n)
{
	char *path = idx_path(h);
	uint8_t *b = pt__malloc(IDX_HDR + (size_t)n * IDX_ENT);
	if (path && b) {
		memcpy(b, IDX_MAGIC, 8);
		pt__put_u32(b + 8, PT_TREE_INDEX_K);
		pt__put_u32(b + 12, 0);
		for (uint64_t i = 0; i < n; i++) {
			uint8_t *x = b + IDX_HDR + i * IDX_ENT;
			memcpy(x, e[i], PT_SHA256_LEN);
			pt__put_u32(x + PT_SHA256_LEN, ent_crc(i, e[i]));
		}
		if (pt__atomic_write_in(h->st->path, path, b, IDX_HDR + (size_t)n * IDX_ENT, 0644))
			pt__err_clear();
	}
	pt__free(b);
	pt__free(path);
}

void pt__tree_index_drop(const pt__history *h)
{
	char *path = idx_path(h);
	if (path && pt__unlink_in(h->st->path, path) < 0)
		pt__err_clear();
	pt__free(path);
}

/* MTH of the 2^j blocks e[a .. a + 2^j) */
static void blocks_mth(const uint8_t (*e)[PT_SHA256_LEN], uint64_t a, uint64_t n, uint8_t out[PT_SHA256_LEN])
{
	if (n == 1) {
		memcpy(out, e[a], PT_SHA256_LEN);
		return;
	}
	uint8_t l[PT_SHA256_LEN], r[PT_SHA256_LEN];
	blocks_mth(e, a, n / 2, l);
	blocks_mth(e, a + n / 2, n / 2, r);
	pt__merkle_node_hash(l, r, out);
}

/* [lo, hi) as perfect aligned subtrees, largest first (a subtree of an RFC
 * 6962 tree: lo is a multiple of the first part's size) */
static int parts_of(uint64_t lo, uint64_t hi, pt__merkle_range *p)
{
	int k = 0;
	for (uint64_t x = lo; x < hi && k < 64;) {
		uint64_t s = (uint64_t)1 << (63 - __builtin_clzll(hi - x));
		while (x & (s - 1))
			s >>= 1;
		p[k++] = (pt__merkle_range){x, x + s};
		x += s;
	}
	return k;
}

#define BLOCK ((uint64_t)1 << PT_TREE_INDEX_K)

/* Extend the index to `need` entries, PROVE_BATCH blocks per pass over the
 * batches that hold them (the footer's batch index skips the rest). */
static int idx_extend(const pt__history *h, uint8_t (**ep)[PT_SHA256_LEN], uint64_t *cap, uint64_t have,
		      uint64_t need)
{
	pt__merkle_range r[PT_MERKLE_MAX_PROOF];
	pt__buf leaf = {0};
	int rc = 0;
	while (have < need && !rc) {
		int k = 0;
		for (; k < PT_MERKLE_MAX_PROOF && have + (uint64_t)k < need; k++)
			r[k] = (pt__merkle_range){(have + (uint64_t)k) * BLOCK, (have + (uint64_t)k + 1) * BLOCK};
		if (have + (uint64_t)k > *cap) {
			/* grown as blocks are found in the stream, not as the checkpoint claims */
			uint64_t nc = *cap * 2 > have + (uint64_t)k ? *cap * 2 : have + (uint64_t)k;
			if (nc > need)
				nc = need;
			uint8_t(*x)[PT_SHA256_LEN] = pt__realloc(*ep, (size_t)nc * PT_SHA256_LEN);
			if (!x) {
				rc = PT_ENOMEM;
				break;
			}
			*ep = x;
			*cap = nc;
		}
		rc = pt__tree_prove(h, r[k - 1].hi, r, k, *ep + have, r[0].lo, &leaf);
		have += (uint64_t)k;
	}
	pt__buf_free(&leaf);
	return rc;
}

int pt__tree_prove_indexed(const pt__history *h, uint64_t size, const pt__merkle_range *shape, int nr,
			   uint8_t (*out)[PT_SHA256_LEN], uint64_t want, pt__buf *leaf, pt__tree_index_stats *stats)
{
	uint64_t need = size / BLOCK, have = 0;
	if (stats)
		memset(stats, 0, sizeof *stats);
	if (need > IDX_MAX_ENTRIES)
		return pt__err(PT_ELIMIT, "the tree is too large for the subtree-hash index");
	uint8_t(*e)[PT_SHA256_LEN] = NULL;
	uint64_t cap = 0;
	int rc = idx_load(h, need, &e, &have, &cap);
	if (rc)
		return rc;
	if (stats)
		stats->loaded = have;
	if (have < need) {
		if ((rc = idx_extend(h, &e, &cap, have, need)))
			goto done;
		idx_store(h, (const uint8_t(*)[PT_SHA256_LEN])e, need);
		if (stats)
			stats->built = need - have;
	}
	/* the small parts (under one block): computed from the events in one pass */
	pt__merkle_range small[PT_MERKLE_MAX_PROOF];
	uint8_t smallh[PT_MERKLE_MAX_PROOF][PT_SHA256_LEN];
	int ns = 0;
	for (int i = 0; i < nr; i++) {
		pt__merkle_range p[64];
		int np = parts_of(shape[i].lo, shape[i].hi, p);
		for (int j = 0; j < np; j++)
			if (p[j].hi - p[j].lo < BLOCK) {
				if (ns == PT_MERKLE_MAX_PROOF) {
					rc = pt__err(PT_ELIMIT, "too many small subtrees for the subtree-hash index");
					goto done;
				}
				small[ns++] = p[j];
			}
	}
	uint64_t end = want + 1;
	for (int i = 0; i < ns; i++)
		if (small[i].hi > end)
			end = small[i].hi;
	if ((rc = pt__tree_prove(h, end, small, ns, smallh, want, leaf)))
		goto done;
	int si = 0;
	for (int i = 0; i < nr; i++) {
		pt__merkle_range p[64];
		uint8_t ph[64][PT_SHA256_LEN];
		int np = parts_of(shape[i].lo, shape[i].hi, p);
		if (np == 0) {
			rc = pt__err(PT_EINVAL, "an empty proof range");
			goto done;
		}
		for (int j = 0; j < np; j++) {
			uint64_t w = p[j].hi - p[j].lo;
			if (w < BLOCK)
				memcpy(ph[j], smallh[si++], PT_SHA256_LEN);
			else
				blocks_mth((const uint8_t(*)[PT_SHA256_LEN])e, p[j].lo / BLOCK, w / BLOCK, ph[j]);
		}
		for (int j = np - 1; j-- > 0;)
			pt__merkle_node_hash(ph[j], ph[np - 1], ph[np - 1]);
		memcpy(out[i], ph[np - 1], PT_SHA256_LEN);
	}
done:
	pt__free(e);
	return rc;
}
