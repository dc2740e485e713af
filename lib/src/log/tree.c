/*
 * tree.c - a stream's Merkle tree from its history (see tree_int.h).
 *
 * Cost: the writer never re-reads history (it keeps the compact range and
 * the newest sealed footer holds it); rebuilding reads only the segments
 * after the newest footer with a tree.  A proof is one pass over the
 * stream's events (decompress + one SHA-256 per event in a proof range).
 */
#include "log/tree_int.h"
#include "base/mpk_int.h"
#include "format/event_int.h"

#include <errno.h>

void pt__tree_feeder_free(pt__tree_feeder *f)
{
	pt__zd_free(f->zd);
	f->zd = NULL;
	pt__buf_free(&f->payload);
	pt__buf_free(&f->raw);
	pt__buf_free(&f->captured);
}

int pt__tree_feed(pt__tree_feeder *f, pt__merkle *t, int fd, uint64_t base, uint64_t from, uint64_t end,
		  const char *path)
{
	int rc;
	if (!f->zd && (rc = pt__zd_new(&f->zd)))
		return rc;
	uint64_t off = from;
	while (off < end) {
		pt__batch_header h;
		uint64_t at = off;
		int r = pt__scan_batch_at(fd, base, end, &off, &h, &f->payload);
		if (r < 0)
			return r;
		if (r != PT_SCAN_BATCH)
			return pt__err(PT_ECORRUPT, "%s @%llu: invalid batch (the tree cannot be computed past it)", path,
				       (unsigned long long)at);
		uint64_t have = f->ranges ? f->ranges->next : t->size;
		if (h.first_seq != have + 1)
			return pt__err(PT_ECORRUPT, "%s @%llu: batch starts at seq %llu, expected %llu", path,
				       (unsigned long long)at, (unsigned long long)h.first_seq, (unsigned long long)(have + 1));
		if (f->limit && have >= f->limit)
			return 0; /* past the tree being proved or checked */
		if (f->ranges && f->ranges->k >= f->ranges->nr && f->have_capture)
			return 0; /* every range and the leaf are done: nothing after them is read */
		if (f->ranges && !pt__merkle_ranges_wants(f->ranges) &&
		    !(f->capture >= have && f->capture < have + h.count)) {
			/* a proof: a batch wholly outside every range is not even decompressed */
			const pt__merkle_ranges *m = f->ranges;
			uint64_t next_lo = m->k < m->nr ? m->r[m->order[m->k]].lo : UINT64_MAX;
			if (next_lo >= have + h.count) {
				for (uint32_t i = 0; i < h.count; i++)
					pt__merkle_ranges_skip(f->ranges);
				continue;
			}
		}
		if ((rc = pt__zd_decompress(f->zd, &f->raw, f->payload.data, f->payload.len, h.raw_len, path)))
			return rc;
		const uint8_t *p = f->raw.data, *e = p + f->raw.len;
		for (uint32_t i = 0; i < h.count; i++) {
			const uint8_t *s = p;
			if (mpk_skip(&p, e, PT_EVENT_MAX_DEPTH + 2))
				return pt__err(PT_ECORRUPT, "%s @%llu: event %u of the batch is malformed", path,
					       (unsigned long long)at, i);
			uint8_t lh[PT_SHA256_LEN];
			if (f->ranges) {
				uint64_t li = have + i;
				if (f->limit && li >= f->limit)
					return 0;
				if (li == f->capture) {
					f->captured.len = 0;
					if ((rc = pt__buf_append(&f->captured, s, (size_t)(p - s))))
						return rc;
					f->have_capture = true;
				}
				if (pt__merkle_ranges_wants(f->ranges)) {
					pt__merkle_leaf_hash(s, (size_t)(p - s), lh);
					pt__merkle_ranges_push(f->ranges, lh);
				} else {
					pt__merkle_ranges_skip(f->ranges);
				}
			} else {
				pt__merkle_leaf_hash(s, (size_t)(p - s), lh);
				pt__merkle_push(t, lh);
				if (f->on_leaf)
					f->on_leaf(f->hook, t);
			}
		}
		if (p != e)
			return pt__err(PT_ECORRUPT, "%s @%llu: bytes after the batch's %u events", path, (unsigned long long)at,
				       h.count);
		if (!f->ranges && f->check_roots && h.has_root) {
			uint8_t root[PT_SHA256_LEN];
			pt__merkle_root(t, root);
			if (memcmp(root, h.root, PT_SHA256_LEN))
				return pt__err(PT_ECORRUPT,
					       "%s @%llu: the batch's Merkle root (tree of %llu events) does not match its events and the history before them",
					       path, (unsigned long long)at, (unsigned long long)t->size);
		}
	}
	return 0;
}

int pt__tree_of_sealed(const pt__history *h, pt__merkle *out)
{
	pt__merkle_init(out);
	size_t start = 0;
	int rc = 0;
	/* the newest footer holding the tree */
	for (size_t i = h->chain.n; i-- > 0;) {
		pt__segsrc s = PT_SEGSRC_INIT;
		pt__footer f = {0};
		if ((rc = pt__history_open_sealed(h, i, &s, NULL)))
			return rc;
		rc = pt__footer_read_at(s.fd, s.base, s.size, s.name, &f);
		bool have = !rc && f.has_tree;
		if (have && (f.tree_size != h->chain.v[i].last_seq ||
			     pt__merkle_set(out, f.tree_size, (const uint8_t(*)[PT_SHA256_LEN])f.tree_node, f.tree_n)))
			rc = pt__err(PT_ECORRUPT, "%s: the footer's tree does not end at the segment's last event", s.name);
		pt__footer_free(&f);
		pt__segsrc_close(&s);
		if (rc)
			return rc;
		if (have) {
			start = i + 1;
			break;
		}
	}
	pt__tree_feeder fd = {0};
	for (size_t i = start; i < h->chain.n && !rc; i++) {
		pt__segsrc s = PT_SEGSRC_INIT;
		pt__seg_header hdr;
		pt__footer f = {0};
		if (!(rc = pt__history_open_sealed(h, i, &s, &hdr)) &&
		    !(rc = pt__footer_read_at(s.fd, s.base, s.size, s.name, &f)))
			rc = pt__tree_feed(&fd, out, s.fd, s.base, hdr.frame_len, f.offset, s.name);
		if (!rc && out->size != h->chain.v[i].last_seq)
			rc = pt__err(PT_ECORRUPT, "%s: segment ends at seq %llu, its events at %llu", s.name,
				     (unsigned long long)h->chain.v[i].last_seq, (unsigned long long)out->size);
		pt__footer_free(&f);
		pt__segsrc_close(&s);
	}
	pt__tree_feeder_free(&fd);
	return rc;
}

int pt__tree_prove(const pt__history *h, uint64_t size, const pt__merkle_range *shape, int nr,
		   uint8_t (*out)[PT_SHA256_LEN], uint64_t want, pt__buf *leaf)
{
	pt__merkle_ranges m;
	pt__merkle_ranges_init(&m, shape, nr, out);
	pt__tree_feeder fd = {0};
	fd.ranges = &m;
	fd.limit = size;
	fd.capture = want;
	int rc = 0;
#define PROVE_DONE (m.k >= m.nr && fd.have_capture)
	for (size_t i = 0; i < h->chain.n && !rc && m.next < size && !PROVE_DONE; i++) {
		pt__segsrc s = PT_SEGSRC_INIT;
		pt__seg_header hdr;
		pt__footer f = {0};
		/* the first leaf needed: of the next range, or the leaf to capture */
		uint64_t next_lo = m.k < m.nr ? m.r[m.order[m.k]].lo : UINT64_MAX;
		uint64_t need = !fd.have_capture && want < next_lo ? want : next_lo;
		if (need >= h->chain.v[i].last_seq) {
			/* wholly before every range and the leaf: skip the segment unread */
			if (m.next < h->chain.v[i].last_seq)
				m.next = h->chain.v[i].last_seq;
			continue;
		}
		if (!(rc = pt__history_open_sealed(h, i, &s, &hdr)) &&
		    !(rc = pt__footer_read_at(s.fd, s.base, s.size, s.name, &f))) {
			/* the footer's batch index: only the batches holding a leaf of a
			 * range or the leaf to capture are read (each still checked: CRCs,
			 * and it must continue the seqs where the previous one read ended) */
			bool usable = f.batches > 0 && f.entries[0].offset == hdr.frame_len &&
				      f.entries[0].first_seq == h->chain.v[i].first_seq;
			for (uint64_t b = 1; usable && b < f.batches; b++)
				usable = f.entries[b].offset > f.entries[b - 1].offset && f.entries[b].offset < f.offset;
			if (!usable) {
				rc = pt__tree_feed(&fd, NULL, s.fd, s.base, hdr.frame_len, f.offset, s.name);
			} else {
				for (uint64_t b = 0; b < f.batches && !rc && !PROVE_DONE; b++) {
					const pt__index_entry *e = &f.entries[b];
					uint64_t first = e->first_seq - 1, stop = first + e->count;
					uint64_t nl = m.k < m.nr ? m.r[m.order[m.k]].lo : UINT64_MAX;
					uint64_t nd = !fd.have_capture && want < nl ? want : nl;
					if (first != m.next)
						break; /* not the seqs the footer's entries promise: read as is below */
					if (nd >= stop) {
						m.next = stop;
						continue;
					}
					rc = pt__tree_feed(&fd, NULL, s.fd, s.base, e->offset,
							   b + 1 < f.batches ? f.entries[b + 1].offset : f.offset, s.name);
				}
				if (!rc && !PROVE_DONE && m.next < h->chain.v[i].last_seq)
					rc = pt__err(PT_ECORRUPT, "%s: the footer's batch index does not match the segment's batches",
						     s.name);
			}
		}
		pt__footer_free(&f);
		pt__segsrc_close(&s);
	}
	if (!rc && m.next < size && !PROVE_DONE) {
		pt__segsrc s = PT_SEGSRC_INIT;
		rc = pt__history_open_tail(h, &s);
		if (!rc) {
			pt__openseg_result os;
			rc = pt__openseg_scan(s.fd, s.name, &os);
			if (!rc && os.hdr_ok && os.n)
				rc = pt__tree_feed(&fd, NULL, s.fd, 0, os.hdr.frame_len, os.valid_end, s.name);
			pt__openseg_scan_free(&os);
		}
		pt__segsrc_close(&s);
		if (rc == PT_ENOTFOUND)
			rc = 0;
	}
	if (!rc && !PROVE_DONE)
		rc = pt__err(PT_ENOTFOUND, "the stream has %llu events, fewer than the %llu of the tree",
			     (unsigned long long)m.next, (unsigned long long)size);
	if (!rc) {
		leaf->len = 0;
		rc = pt__buf_append(leaf, fd.captured.data, fd.captured.len);
	}
	pt__tree_feeder_free(&fd);
	return rc;
#undef PROVE_DONE
}

int pt__tree_feed_tail(const pt__history *h, pt__merkle *t)
{
	pt__segsrc s = PT_SEGSRC_INIT;
	int rc = pt__history_open_tail(h, &s);
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	pt__openseg_result os;
	rc = pt__openseg_scan(s.fd, s.name, &os);
	if (!rc && os.hdr_ok && os.n) {
		pt__tree_feeder fd = {0};
		rc = pt__tree_feed(&fd, t, s.fd, 0, os.hdr.frame_len, os.valid_end, s.name);
		pt__tree_feeder_free(&fd);
	}
	pt__openseg_scan_free(&os);
	pt__segsrc_close(&s);
	return rc;
}

typedef struct {
	const uint64_t *sizes;
	size_t n, k;
	uint8_t (*roots)[PT_SHA256_LEN];
	bool *have;
} roots_hook;

static void roots_leaf(void *p, const pt__merkle *t)
{
	roots_hook *r = p;
	while (r->k < r->n && r->sizes[r->k] == t->size) {
		pt__merkle_root(t, r->roots[r->k]);
		r->have[r->k++] = true;
	}
}

int pt__tree_roots_at(const pt__history *h, const uint64_t *sizes, size_t n, uint8_t (*roots)[PT_SHA256_LEN],
		      bool *have, uint64_t *total, bool any_name)
{
	pt__merkle t;
	pt__merkle_init(&t);
	roots_hook rh = {sizes, n, 0, roots, have};
	for (size_t i = 0; i < n; i++)
		have[i] = false;
	while (rh.k < n && sizes[rh.k] == 0) {
		pt__merkle_root(&t, roots[rh.k]);
		have[rh.k++] = true;
	}
	pt__tree_feeder fd = {0};
	fd.on_leaf = roots_leaf;
	fd.hook = &rh;
	fd.limit = n ? sizes[n - 1] : 0;
	int rc = 0;
	for (size_t i = 0; i < h->chain.n && !rc && rh.k < n; i++) {
		pt__segsrc s = PT_SEGSRC_INIT;
		pt__seg_header hdr;
		pt__footer f = {0};
		if (any_name) {
			/* a stream found under another name: its segments are read as they are */
			rc = pt__history_open_id(h, h->chain.v[i].id, &s);
			if (!rc)
				rc = pt__seg_header_read_at(s.fd, s.base, s.size, s.name ? s.name : "segment", &hdr);
		} else {
			rc = pt__history_open_sealed(h, i, &s, &hdr);
		}
		if (!rc &&
		    !(rc = pt__footer_read_at(s.fd, s.base, s.size, s.name, &f)))
			rc = pt__tree_feed(&fd, &t, s.fd, s.base, hdr.frame_len, f.offset, s.name);
		pt__footer_free(&f);
		pt__segsrc_close(&s);
	}
	if (!rc && rh.k < n) {
		pt__segsrc s = PT_SEGSRC_INIT;
		rc = pt__history_open_tail(h, &s);
		if (!rc) {
			pt__openseg_result os;
			rc = pt__openseg_scan(s.fd, s.name, &os);
			if (!rc && os.hdr_ok && os.n)
				rc = pt__tree_feed(&fd, &t, s.fd, 0, os.hdr.frame_len, os.valid_end, s.name);
			pt__openseg_scan_free(&os);
		}
		pt__segsrc_close(&s);
		if (rc == PT_ENOTFOUND)
			rc = 0;
	}
	*total = t.size;
	pt__tree_feeder_free(&fd);
	return rc;
}
