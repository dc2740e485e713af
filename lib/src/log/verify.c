/*
 * verify.c - re-reading everything a stream stores and reporting each
 * problem with the object and offset.  Verification never modifies the
 * store and goes on after a problem, so one run lists all of them.
 */
#include "log/fold_int.h"
#include "log/history_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"
#include "log/state_int.h"
#include "log/tree_int.h"
#include "format/note_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	const pt_store *st;
	pt_problem_cb cb;
	void *payload;
	pt_verify_stats *stats;
	bool stop;
	int first_code;
	char first_msg[512];
	pt__zd *zd;
	pt__buf payload_buf, raw;
	/* the stream's Merkle tree, recomputed from its events; tree_ok false
	 * once a batch could not be read (the rest is not compared) */
	pt__merkle tree;
	bool tree_ok;
	/* the stream's signed checkpoint (STREAM/checkpoint.note): its root is
	 * compared when the recomputed tree reaches its size */
	bool have_note, note_checked;
	uint64_t note_size;
	uint8_t note_root[PT_SHA256_LEN];
	char note_path[PT_ORIGIN_MAX + 64];
	/* trusted verifier keys from the store's config */
	pt__vkey *keys;
	size_t nkeys;
	bool keys_loaded;
} vctx;

static void report(vctx *v, pt_severity sev, int code, const char *abs_path, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void report(vctx *v, pt_severity sev, int code, const char *abs_path, uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t sl = strlen(v->st->path);
	const char *rel = !strncmp(abs_path, v->st->path, sl) && abs_path[sl] == '/' ? abs_path + sl + 1 : abs_path;
	if (sev == PT_SEVERITY_ERROR) {
		v->stats->errors++;
		if (!v->first_code) {
			v->first_code = code;
			snprintf(v->first_msg, sizeof v->first_msg, "%s @%llu: %s", rel, (unsigned long long)off, msg);
		}
	} else {
		v->stats->warnings++;
	}
	pt_problem p = {sev, code, rel, off, msg};
	if (v->cb && v->cb(&p, v->payload))
		v->stop = true;
}

/* Check the events of one decompressed batch: count, dense seqs, structure. */
static int check_events(vctx *v, const char *path, uint64_t off, const pt__batch_header *h)
{
	const uint8_t *p = v->raw.data, *end = p + v->raw.len;
	for (uint32_t i = 0; i < h->count; i++) {
		mpk_obj o;
		const uint8_t *start = p;
		if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
			return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off, "event %u of the batch is not a map", i), -1;
		bool seq_ok = false, kind_ok = false, time_ok = false, body_ok = false;
		for (uint32_t k = 0; k < o.len; k++) {
			mpk_obj key, val;
			if (mpk_read(&p, end, &key) || key.type != MPK_STR)
				return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off, "event %u: malformed key", i), -1;
			const uint8_t *vs = p;
			if (mpk_read(&p, end, &val))
				return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off, "event %u: malformed value", i), -1;
			p = vs;
			if (mpk_validate(&p, end, PT_EVENT_MAX_DEPTH + 1))
				return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off, "event %u: malformed value", i), -1;
			if (key.len == 3 && !memcmp(key.ptr, "seq", 3)) {
				if (val.type != MPK_UINT || val.u != h->first_seq + i)
					return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off,
						      "event %u has the wrong sequence number (expected %llu)", i,
						      (unsigned long long)(h->first_seq + i)),
					       -1;
				seq_ok = true;
			} else if (key.len == 4 && !memcmp(key.ptr, "kind", 4)) {
				kind_ok = val.type == MPK_STR && val.len >= 1 && val.len <= PT_KIND_MAX;
			} else if (key.len == 4 && !memcmp(key.ptr, "time", 4)) {
				time_ok = val.type == MPK_UINT || val.type == MPK_INT;
			} else if (key.len == 4 && !memcmp(key.ptr, "body", 4)) {
				body_ok = val.type == MPK_MAP;
			}
		}
		if (v->tree_ok) {
			uint8_t lh[PT_SHA256_LEN];
			pt__merkle_leaf_hash(start, (size_t)(p - start), lh);
			pt__merkle_push(&v->tree, lh);
			if (v->have_note && !v->note_checked && v->tree.size == v->note_size) {
				uint8_t root[PT_SHA256_LEN];
				pt__merkle_root(&v->tree, root);
				v->note_checked = true;
				if (memcmp(root, v->note_root, PT_SHA256_LEN))
					report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->note_path, 0,
					       "the signed checkpoint's root (tree of %llu events) is not the root of the stream's "
					       "first %llu events: history was changed after it was signed",
					       (unsigned long long)v->note_size, (unsigned long long)v->note_size);
			}
		}
		if (!seq_ok || !kind_ok || !time_ok || !body_ok)
			return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off,
				      "event %u lacks a valid seq, time, kind or body", i),
			       -1;
	}
	if (p != end)
		return report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, off, "batch holds bytes after its %u events", h->count), -1;
	return 0;
}

/*
 * Check the batch at *off fully (header and payload checksums, zstd frame,
 * events).  Returns PT_SCAN_BATCH, or PT_SCAN_BAD after reporting the
 * problem itself, or <0 for an I/O error.
 */
static int check_batch(vctx *v, int fd, uint64_t base, const char *path, uint64_t file_end, uint64_t *off,
		       pt__batch_header *h)
{
	uint64_t at = *off;
	int r = pt__scan_batch_at(fd, base, file_end, off, h, &v->payload_buf);
	if (r < 0)
		return r;
	if (r != PT_SCAN_BATCH) {
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, at,
		       r == PT_SCAN_TORN ? "batch extends past the end of its region (truncated)"
					 : "invalid batch: header or payload checksum mismatch, or bad structure");
		return PT_SCAN_BAD;
	}
	int zr = pt__zd_decompress(v->zd, &v->raw, v->payload_buf.data, v->payload_buf.len, h->raw_len, "batch");
	if (zr == PT_ENOMEM)
		return zr; /* verification failed; the batch is not damaged */
	if (zr) {
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, at, "%s", pt_error_last());
		return PT_SCAN_BAD;
	}
	if (v->tree_ok && v->tree.size + 1 != h->first_seq)
		v->tree_ok = false; /* a gap, reported by the callers */
	if (check_events(v, path, at, h)) {
		v->tree_ok = false;
		return PT_SCAN_BAD;
	}
	if (v->tree_ok && h->has_root) {
		uint8_t root[PT_SHA256_LEN];
		pt__merkle_root(&v->tree, root);
		if (memcmp(root, h->root, PT_SHA256_LEN)) {
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, at,
			       "the batch's Merkle root (tree of %llu events) does not match the stream's events up to seq %llu: "
			       "history before it was changed, or this header was",
			       (unsigned long long)v->tree.size, (unsigned long long)v->tree.size);
			return PT_SCAN_BAD;
		}
	}
	v->stats->batches++;
	v->stats->events += h->count;
	return PT_SCAN_BATCH;
}

/* A sealed segment: hash, header, batches, footer. Returns 0 if it is fine. */
static int verify_sealed(vctx *v, const pt__history *hist, const pt__chain_entry *e, const uint8_t *prev,
			 uint64_t *next_seq)
{
	char *path = pt__segment_path(hist->dir, e->id); /* the name problems are reported under */
	if (!path)
		return PT_ENOMEM;
	int bad = 0, fd = -1;
	pt__footer f = {0};
	pt__segsrc sg = PT_SEGSRC_INIT;
	uint8_t actual[PT_SHA256_LEN];
	uint64_t size = 0, base = 0;
	int state = pt__history_segment_state(hist, e->id);
	if (state < 0) {
		bad = state;
		goto done;
	}
	if (state == PT_HIST_EXPIRED) {
		v->tree_ok = false;
		pt__history_open_id(hist, e->id, &sg);
		report(v, PT_SEVERITY_WARNING, PT_ENOTFOUND, path, 0, "seq %llu..%llu: %s", (unsigned long long)e->first_seq,
		       (unsigned long long)e->last_seq, pt_error_last());
		goto done;
	}
	if (state == PT_HIST_MISSING) {
		report(v, PT_SEVERITY_ERROR, PT_ENOTFOUND, path, 0, "sealed segment %llu (seq %llu..%llu) is missing",
		       (unsigned long long)e->segno, (unsigned long long)e->first_seq, (unsigned long long)e->last_seq);
		bad = 1;
		goto done;
	}
	int orc = pt__history_open_id(hist, e->id, &sg);
	if (orc == PT_ENOMEM) {
		bad = orc;
		goto done;
	}
	if (orc) {
		report(v, PT_SEVERITY_ERROR, pt_error_last_code(), path, 0, "%ssegment %llu: %s",
		       state == PT_HIST_ARCHIVED ? "archived " : "", (unsigned long long)e->segno, pt_error_last());
		bad = 1;
		goto done;
	}
	fd = sg.fd;
	base = sg.base;
	size = sg.size;
	v->stats->segments++;
	int hr = pt__sha256_range(fd, base, size, actual);
	if (hr == PT_ENOMEM) {
		bad = hr; /* out of memory is a failure of verify, not a problem of the store */
		goto done;
	}
	if (hr) {
		report(v, PT_SEVERITY_ERROR, PT_EIO, path, 0, "%s", pt_error_last());
		bad = 1;
		goto done;
	}
	v->stats->bytes += size;
	if (memcmp(actual, e->id, PT_SHA256_LEN)) {
		char hex[PT_SHA256_HEX];
		pt__hex(actual, PT_SHA256_LEN, hex);
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, 0,
		       "content hash %s does not match the segment's name: the file was modified or swapped", hex);
		bad = 1;
	}
	pt__seg_header h;
	if (pt__seg_header_read_at(fd, base, size, path, &h)) {
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, 0, "%s", pt_error_last());
		bad = 1;
		goto done;
	}
	if (pt__history_check_identity(hist, &h, path))
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, 8, "%s", pt_error_last()), bad = 1;
	if (memcmp(h.prev, prev, PT_SHA256_LEN))
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, 24,
		       "header names a different previous segment: the chain is broken or reordered"), bad = 1;
	if (h.segno != e->segno || h.first_seq != e->first_seq || h.first_seq != *next_seq)
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, 8,
		       "segment %llu starts at seq %llu; expected segment %llu starting at seq %llu", (unsigned long long)h.segno,
		       (unsigned long long)h.first_seq, (unsigned long long)e->segno, (unsigned long long)*next_seq),
			bad = 1;
	int fr = pt__footer_read_at(fd, base, size, path, &f);
	if (fr == PT_ENOMEM) {
		bad = fr;
		goto done;
	}
	if (fr) {
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, size >= 8 ? size - 8 : 0, "%s", pt_error_last());
		bad = 1;
		goto done;
	}
	uint64_t off = h.frame_len, seq = h.first_seq, i = 0;
	while (off < f.offset && !v->stop) {
		pt__batch_header bh;
		uint64_t at = off;
		int r = check_batch(v, fd, base, path, f.offset, &off, &bh);
		if (r < 0) {
			pt__footer_free(&f);
			pt__segsrc_close(&sg);
			pt__free(path);
			return r;
		}
		if (r != PT_SCAN_BATCH) {
			bad = 1;
			break;
		}
		if (bh.first_seq != seq)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, at, "batch starts at seq %llu, expected %llu",
			       (unsigned long long)bh.first_seq, (unsigned long long)seq), bad = 1;
		if (i >= f.batches || f.entries[i].offset != at || f.entries[i].first_seq != bh.first_seq ||
		    f.entries[i].count != bh.count)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, f.offset, "index entry %llu disagrees with the batch at %llu",
			       (unsigned long long)i, (unsigned long long)at), bad = 1;
		seq = bh.first_seq + bh.count;
		i++;
	}
	if (!bad && (i != f.batches || seq - 1 != f.last_seq || f.last_seq != e->last_seq || f.events != e->events))
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, f.offset, "footer totals disagree with the batches or the chain"),
			bad = 1;
	if (!bad && f.has_tree) {
		uint8_t root[PT_SHA256_LEN];
		pt__merkle_root(&v->tree, root);
		if (f.tree_size != f.last_seq)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, f.offset, "the footer's Merkle tree has %llu events, the segment ends at seq %llu",
			       (unsigned long long)f.tree_size, (unsigned long long)f.last_seq), bad = 1;
		else if (v->tree_ok && (v->tree.size != f.tree_size || memcmp(root, f.root, PT_SHA256_LEN) ||
					v->tree.n != f.tree_n || memcmp(v->tree.node, f.tree_node, (size_t)f.tree_n * PT_SHA256_LEN)))
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, path, f.offset,
			       "the footer's Merkle tree does not match the stream's events up to seq %llu", (unsigned long long)f.last_seq),
				bad = 1;
		else if (!v->tree_ok && !pt__merkle_set(&v->tree, f.tree_size, (const uint8_t(*)[PT_SHA256_LEN])f.tree_node, f.tree_n))
			v->tree_ok = true; /* history before it could not be read: compare what follows against it */
	}
	if (bad)
		v->tree_ok = false;
	*next_seq = e->last_seq + 1;
done:
	if (bad)
		v->tree_ok = false;
	pt__footer_free(&f);
	pt__segsrc_close(&sg);
	pt__free(path);
	return bad;
}


/* ---- snapshots: each must equal the fold it claims to be ---------------------------- */
typedef struct {
	uint64_t at, evseq;
	uint8_t id[PT_SHA256_LEN];
} snapev;

typedef struct {
	snapev *v;
	size_t n, cap;
} snaplist;

static int cmp_snapev(const void *a, const void *b)
{
	const snapev *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* at/object of a snapshot event body (state.c's codec); false if it is not one we understand */
static bool parse_snapshot_body(const pt__fold_event *e, snapev *out)
{
	out->evseq = e->seq;
	return pt__snapshot_body_decode(e->body, e->body_len, &out->at, out->id);
}

static int iter_all(const pt_store *st, const char *run, const char *stream, const char *kind, pt_iter **out)
{
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = kind;
	return pt_iter_open(out, st, run, stream, &o);
}

static int verify_snapshots(vctx *v, const char *run, const char *stream, const char *dir)
{
	snaplist sl = {0};
	pt_iter *it = NULL;
	pt__fold f;
	pt__fold_init(&f);
	char *snapdesc = pt__sprintf("%s/snapshots", dir);
	int rc = snapdesc ? iter_all(v->st, run, stream, "snapshot", &it) : PT_ENOMEM;
	const pt_event_view *ev;
	/* pass 1: the snapshots the log records */
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		const void *mp;
		size_t len;
		pt__fold_event e;
		snapev s;
		pt_ev_msgpack(ev, &mp, &len);
		if (pt__fold_event_decode(&e, mp, len) || !parse_snapshot_body(&e, &s)) {
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, dir, 0, "snapshot event at seq %llu has a malformed body",
			       (unsigned long long)pt_ev_seq(ev));
			continue;
		}
		if (sl.n == sl.cap) {
			size_t nc = sl.cap ? sl.cap * 2 : 32;
			snapev *nv = pt__realloc(sl.v, nc * sizeof *nv);
			if (!nv) {
				rc = PT_ENOMEM;
				break;
			}
			sl.v = nv;
			sl.cap = nc;
		}
		sl.v[sl.n++] = s;
	}
	pt_iter_free(it);
	it = NULL;
	if (rc == PT_ITEROVER)
		rc = 0;
	if (rc || !sl.n)
		goto done;
	qsort(sl.v, sl.n, sizeof *sl.v, cmp_snapev);
	/* pass 2: fold along the stream (a lineage event restarts from its parent's
	 * state at the fork, computed without snapshots) and compare at each point */
	size_t k = 0;
	if ((rc = iter_all(v->st, run, stream, NULL, &it)))
		goto done;
	while (k < sl.n && (rc = pt_iter_next(it, &ev)) == 0) {
		const void *mp;
		size_t len;
		pt__fold_event e;
		pt_ev_msgpack(ev, &mp, &len);
		if ((rc = pt__fold_event_decode(&e, mp, len)))
			break;
		if (e.kind_len == 7 && !memcmp(e.kind, "lineage", 7)) {
			if ((rc = pt__state_fold_at(v->st, run, stream, e.seq, 0, &f)))
				break;
		} else if ((rc = pt__fold_apply(&f, &e))) {
			break;
		}
		while (k < sl.n && sl.v[k].at <= f.seq) {
			snapev *s = &sl.v[k++];
			if (s->at != f.seq) {
				report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, dir, 0,
				       "snapshot event at seq %llu claims the state after seq %llu, which is not an event it can follow",
				       (unsigned long long)s->evseq, (unsigned long long)s->at);
				continue;
			}
			pt__buf b = {0};
			uint8_t h[PT_SHA256_LEN];
			if ((rc = pt__fold_serialize(&f, &b))) {
				pt__buf_free(&b);
				break;
			}
			pt__sha256(b.data, b.len, h);
			pt__buf_free(&b);
			if (!memcmp(h, s->id, PT_SHA256_LEN)) {
				/* the log names the right state; is the stored object intact? */
				uint8_t *data = NULL;
				size_t dl = 0;
				int g = pt__object_get(v->st, s->id, &data, &dl);
				pt__free(data);
				if (g == PT_ENOTFOUND)
					report(v, PT_SEVERITY_WARNING, PT_ENOTFOUND, dir, 0,
					       "the snapshot object of seq %llu is gone (a cache: replay folds from an earlier point)",
					       (unsigned long long)s->at);
				else if (g)
					report(v, PT_SEVERITY_ERROR, g, dir, 0, "snapshot of seq %llu: %s", (unsigned long long)s->at,
					       pt_error_last());
				continue;
			}
			char hex[PT_SHA256_HEX];
			pt__hex(s->id, PT_SHA256_LEN, hex);
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, dir, 0,
			       "snapshot %s (event seq %llu) does not equal the fold of the stream up to seq %llu", hex,
			       (unsigned long long)s->evseq, (unsigned long long)s->at);
		}
	}
	if (rc == PT_ITEROVER)
		rc = 0;
	for (; !rc && k < sl.n; k++)
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, dir, 0, "snapshot event at seq %llu claims seq %llu, past the end",
		       (unsigned long long)sl.v[k].evseq, (unsigned long long)sl.v[k].at);
done:
	/* an error reading the stream was already reported by the segment checks */
	if (rc && rc != PT_ENOMEM)
		rc = 0;
	pt_iter_free(it);
	pt__fold_free(&f);
	pt__free(sl.v);
	pt__free(snapdesc);
	return rc;
}

/*
 * STREAM/checkpoint.note, if there is one: well formed, of this store, run
 * and stream (a stream copied under another name carries the other's
 * origin), signed by a trusted key when the config lists any.  Its root is
 * compared while the tree is recomputed (check_events).
 */
static int load_note(vctx *v, const char *run, const char *stream, const char *dir)
{
	v->have_note = v->note_checked = false;
	snprintf(v->note_path, sizeof v->note_path, "%s/checkpoint.note", dir);
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__read_file_in(v->st->path, v->note_path, PT_NOTE_MAX, &data, &len);
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		return 0;
	}
	if (rc == PT_ENOMEM)
		return rc;
	if (rc) {
		report(v, PT_SEVERITY_ERROR, rc, v->note_path, 0, "%s", pt_error_last());
		return 0;
	}
	if (!v->keys_loaded) {
		char **lines = NULL;
		size_t n = 0;
		if ((rc = pt__store_config_values(v->st, "trusted_key", &lines, &n))) {
			pt__free(data);
			return rc;
		}
		v->keys = n ? pt__calloc(n, sizeof *v->keys) : NULL;
		for (size_t i = 0; i < n && (v->keys || !n); i++) {
			char why[200];
			if (!pt__vkey_parse(lines[i], strlen(lines[i]), &v->keys[v->nkeys], why, sizeof why))
				v->nkeys++;
			else
				report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->st->path, 0, "config: trusted_key %zu is not a key: %s",
				       i + 1, why);
		}
		pt_strv_free(lines, n);
		if (n && !v->keys) {
			pt__free(data);
			return PT_ENOMEM;
		}
		v->keys_loaded = true;
	}
	pt__checkpoint c;
	char why[300] = "";
	if (pt__note_open((const char *)data, len, NULL, &c, why, sizeof why)) {
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->note_path, 0, "the signed checkpoint is malformed: %s", why);
		pt__free(data);
		return 0;
	}
	char id[33], want[PT_ORIGIN_MAX + 1];
	if ((rc = pt__store_id(v->st, id))) {
		pt__free(data);
		return rc;
	}
	snprintf(want, sizeof want, "provtrace/%s/%s/%s", id, run, stream);
	if (strcmp(c.origin, want))
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->note_path, 0,
		       "the signed checkpoint is of log \"%s\", not of this stream (\"%s\"): a stream copied or renamed",
		       c.origin, want);
	if (v->nkeys) {
		bool ok = false;
		char last[300] = "";
		for (size_t i = 0; i < v->nkeys && !ok; i++)
			ok = !pt__note_open((const char *)data, len, &v->keys[i], &c, last, sizeof last);
		if (!ok)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->note_path, 0,
			       "the signed checkpoint is not signed by a trusted key (%s)", last);
	}
	pt__free(data);
	v->have_note = true;
	v->note_size = c.size;
	memcpy(v->note_root, c.root, PT_SHA256_LEN);
	if (c.size == 0)
		v->note_checked = true;
	return 0;
}

static int verify_stream(vctx *v, const char *run, const char *stream)
{
	char *dir = pt__stream_dir(v->st, run, stream);
	char *segdir = dir ? pt__sprintf("%s/segments", dir) : NULL;
	char *open_path = dir ? pt__sprintf("%s/%s", dir, PT_OPEN_SEGMENT) : NULL;
	char *chain_path = dir ? pt__sprintf("%s/chain", dir) : NULL;
	char **files = NULL;
	size_t nfiles = 0;
	pt__history hist = {0};
	int rc = 0;
	if (!dir || !segdir || !open_path || !chain_path) {
		rc = PT_ENOMEM;
		goto done;
	}
	v->stats->streams++;
	pt__merkle_init(&v->tree);
	v->tree_ok = true;
	if ((rc = load_note(v, run, stream, dir)))
		goto done;
	if ((rc = pt__history_load(&hist, v->st, run, stream, true)) == PT_ENOMEM)
		goto done;
	if (rc) {
		rc = 0;
		report(v, PT_SEVERITY_ERROR, pt_error_last_code(), chain_path, 0, "%s", pt_error_last());
		goto done;
	}
	/* the chain's own segments: one the chain does not list yet (an interrupted
	 * seal, adopted by readers) is reported below like any unlisted file */
	pt__chain c = hist.chain;
	c.n = hist.chained;
	uint8_t prev[PT_SHA256_LEN] = {0};
	uint64_t next_seq = 1;
	for (size_t i = 0; i < c.n && !v->stop; i++) {
		if (c.v[i].segno != i)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, chain_path, 0, "chain line %zu has segment number %llu", i + 1,
			       (unsigned long long)c.v[i].segno);
		if (c.v[i].first_seq != next_seq)
			report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, chain_path, 0,
			       "chain line %zu starts at seq %llu, expected %llu (segments removed or reordered)", i + 1,
			       (unsigned long long)c.v[i].first_seq, (unsigned long long)next_seq);
		int r = verify_sealed(v, &hist, &c.v[i], prev, &next_seq);
		if (r < 0) {
			rc = r;
			goto done;
		}
		memcpy(prev, c.v[i].id, PT_SHA256_LEN);
		next_seq = c.v[i].last_seq + 1;
	}
	/* every sealed file must be in the chain */
	if (pt__is_dir(segdir) && (rc = pt__list_stream_dir(dir, segdir, NULL, &files, &nfiles)))
		goto done; /* cannot list: verification itself fails (never skip the check) */
	if (files) {
		for (size_t k = 0; k < nfiles; k++) {
			bool listed = false;
			uint8_t id[PT_SHA256_LEN];
			size_t l = strlen(files[k]);
			if (l == 64 + strlen(PT_SEG_SUFFIX) && !strcmp(files[k] + 64, PT_SEG_SUFFIX)) {
				char hex[65];
				memcpy(hex, files[k], 64);
				hex[64] = 0;
				if (!pt__unhex(hex, id, PT_SHA256_LEN))
					for (size_t i = 0; i < c.n && !listed; i++)
						listed = !memcmp(c.v[i].id, id, PT_SHA256_LEN);
			}
			if (!listed) {
				char *p = pt__sprintf("%s/%s", segdir, files[k]);
				if (!p) {
					rc = PT_ENOMEM;
					goto done;
				}
				report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, p, 0,
				       "file is not part of the stream's chain (a stale chain head, a seal interrupted after the rename that the next writer adopts, or a foreign file)");
				pt__free(p);
			}
		}
	}
	/* the open segment */
	int fd = pt__open_stream_file(dir, open_path, O_RDONLY);
	if (fd >= 0) {
		pt__openseg_result s;
		int sr = pt__openseg_scan(fd, open_path, &s);
		if (sr == PT_ENOMEM) {
			rc = sr;
		} else if (sr) {
			report(v, PT_SEVERITY_ERROR, PT_EIO, open_path, 0, "%s", pt_error_last());
		} else {
			v->stats->bytes += s.file_size;
			if (!s.hdr_ok) {
				report(v, s.tail == PT_SCAN_TORN ? PT_SEVERITY_WARNING : PT_SEVERITY_ERROR, PT_ECORRUPT, open_path,
				       0, "%s", s.why);
			} else {
				if (pt__history_check_identity(&hist, &s.hdr, open_path))
					report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, open_path, 8, "%s", pt_error_last());
				if (memcmp(s.hdr.prev, prev, PT_SHA256_LEN) || s.hdr.first_seq != next_seq)
					report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, open_path, 0,
					       "open segment does not continue the chain (starts at seq %llu, expected %llu)",
					       (unsigned long long)s.hdr.first_seq, (unsigned long long)next_seq);
				/* full check of each batch: decompress and events */
				uint64_t off = s.hdr.frame_len;
				for (uint64_t i = 0; i < s.n && !v->stop; i++) {
					pt__batch_header bh;
					int br = check_batch(v, fd, 0, open_path, s.valid_end, &off, &bh);
					if (br < 0)
						rc = br;
					if (br != PT_SCAN_BATCH)
						break;
				}
				if (s.tail == PT_SCAN_TORN)
					report(v, PT_SEVERITY_WARNING, PT_ECORRUPT, open_path, s.valid_end,
					       "%s: a torn tail of %llu bytes (crash while writing); the next writer cuts it and records the cut",
					       s.why, (unsigned long long)(s.file_size - s.valid_end));
				else if (s.tail == PT_SCAN_BAD)
					report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, open_path, s.valid_end, "%s, followed by a valid batch at %llu",
					       s.why, (unsigned long long)s.bad_next);
				else if (s.tail == PT_SCAN_FOOTER)
					report(v, PT_SEVERITY_WARNING, PT_ECORRUPT, open_path, s.valid_end,
					       "segment was being sealed when its writer stopped; the next writer completes the seal");
			}
		}
		pt__openseg_scan_free(&s);
		close(fd);
	} else if (errno != ENOENT) {
		report(v, PT_SEVERITY_ERROR, PT_EIO, open_path, 0, "cannot open: %s", strerror(errno));
	}
	if (v->have_note && !v->note_checked && v->tree_ok && v->tree.size < v->note_size)
		report(v, PT_SEVERITY_ERROR, PT_ECORRUPT, v->note_path, 0,
		       "the stream has %llu events but its signed checkpoint covers %llu: events were removed (the open "
		       "segment truncated, deleted or replaced by an older copy, or the stream rolled back)",
		       (unsigned long long)v->tree.size, (unsigned long long)v->note_size);
	if (!rc && !v->stop && !v->stats->errors)
		rc = verify_snapshots(v, run, stream, dir);
done:
	pt_strv_free(files, nfiles);
	pt__history_free(&hist);
	pt__free(dir);
	pt__free(segdir);
	pt__free(open_path);
	pt__free(chain_path);
	return rc;
}

/* Problems of the checkpoint verification, counted and forwarded like ours. */
static int verify_forward_problem(const pt_problem *p, void *payload)
{
	vctx *v = payload;
	if (p->severity == PT_SEVERITY_ERROR) {
		v->stats->errors++;
		if (!v->first_code) {
			v->first_code = p->code;
			snprintf(v->first_msg, sizeof v->first_msg, "%s @%llu: %s", p->object, (unsigned long long)p->offset,
				 p->message);
		}
	} else {
		v->stats->warnings++;
	}
	if (v->cb && v->cb(p, v->payload))
		v->stop = true;
	return v->stop;
}

int pt__verify_with(const pt_store *st, const char *run, const char *stream, pt_problem_cb cb, void *payload,
		    pt_verify_stats *stats, pt__verify_extra_fn extra)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_verify: NULL store");
	pt_verify_stats local;
	vctx v = {.st = st, .cb = cb, .payload = payload, .stats = stats ? stats : &local};
	memset(v.stats, 0, sizeof *v.stats);
	int rc = pt__zd_new(&v.zd);
	if (rc)
		return rc;
	char **runs = NULL;
	size_t nruns = 0;
	if (run) {
		if ((rc = pt_name_check("run", run)))
			goto done;
		char *rd = pt__run_dir(st, run);
		bool ok = rd && pt__is_dir(rd);
		pt__free(rd);
		if (!ok) {
			rc = pt__err(PT_ENOTFOUND, "run \"%s\" not found in store %s", run, st->path);
			goto done;
		}
		runs = pt__calloc(1, sizeof *runs);
		if (!runs || !(runs[0] = pt__strdup(run))) {
			rc = PT_ENOMEM;
			goto done;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		goto done;
	}
	for (size_t i = 0; i < nruns && !v.stop; i++) {
		char **streams = NULL;
		size_t ns = 0;
		v.stats->runs++;
		if (stream) {
			char *sd = pt__stream_dir(st, runs[i], stream);
			bool ok = sd && pt__is_dir(sd);
			pt__free(sd);
			if (!ok) {
				rc = pt__err(PT_ENOTFOUND, "stream \"%s\" not found in run \"%s\"", stream, runs[i]);
				goto done;
			}
			rc = verify_stream(&v, runs[i], stream);
		} else if (!(rc = pt_store_streams(st, runs[i], &streams, &ns))) {
			for (size_t k = 0; k < ns && !rc && !v.stop; k++)
				rc = verify_stream(&v, runs[i], streams[k]);
		}
		pt_strv_free(streams, ns);
		if (rc)
			goto done;
	}
	if (!v.stop && extra) {
		/* checkpoint manifests, chunks and listed objects referenced by these runs */
		vctx *vp = &v;
		int crc = extra(st, run, verify_forward_problem, vp);
		if (crc == PT_ENOMEM) {
			rc = crc;
			goto done;
		}
		/* history it cannot read is either damage, reported above as an
		 * error, or history retention deleted on purpose: a warning here */
		if (crc && crc != PT_ECORRUPT)
			report(&v, PT_SEVERITY_WARNING, crc, st->path, 0,
			       "checkpoint references in history that cannot be read were not checked: %s", pt_error_last());
	}
	if (v.stats->errors)
		rc = pt__err(PT_ECORRUPT, "verify found %llu problem(s); first: %s", (unsigned long long)v.stats->errors,
			     v.first_msg);
done:
	pt_strv_free(runs, nruns);
	pt__zd_free(v.zd);
	pt__buf_free(&v.payload_buf);
	pt__buf_free(&v.raw);
	pt__free(v.keys);
	return rc;
}
