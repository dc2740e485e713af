/*
 * reader.c - iterating a stream's events across its sealed segments and
 * its open segment, and summarising a stream.
 *
 * The iterator's position is just `next_seq`, the sequence number it wants
 * next.  Whenever it runs out of a source it re-derives where that number
 * lives (a sealed segment via the chain, else the open segment), which
 * makes it robust to the writer sealing and renaming the open segment
 * underneath it: a reader holding the old descriptor still reads the same
 * bytes, and the next lookup finds them in the chain.
 */
#include "log/history_int.h"
#include "base/mpk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int pt__json_event(pt__buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len);

struct pt_event_view {
	uint64_t seq;
	int64_t time, step;
	const char *kind, *name;
	const uint8_t *mp, *body;
	size_t mp_len, body_len;
	pt_iter *it;
};

enum { SRC_NONE, SRC_SEALED, SRC_OPEN };

struct pt_iter {
	const pt_store *st;
	pt_iter_options o;
	char *kind;
	bool step_filter, time_filter;
	pt__history h;      /* the segments, in order (history.c) */

	int src;
	size_t seg_i;
	pt__segsrc seg;     /* the bytes being read */
	pt__footer footer;
	uint64_t batch_i;
	uint64_t off;      /* open segment: next batch offset */

	pt__buf payload, raw;
	const uint8_t *rp, *rend;
	uint64_t cur_seq;  /* seq of the next event in raw */
	uint32_t remaining;
	uint64_t next_seq;
	bool done;         /* past seq_max */

	pt__zd *zd;
	pt_event_view view;
	char kindbuf[PT_KIND_MAX + 1];
	pt__buf namebuf;
	pt__buf json;
};

int pt_iter_options_init(pt_iter_options *opts, unsigned int version)
{
	if (!opts || version != PT_ITER_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_iter_options_init: unsupported version %u", version);
	pt_iter_options d = PT_ITER_OPTIONS_INIT;
	*opts = d;
	return 0;
}

static void close_source(pt_iter *it)
{
	pt__segsrc_close(&it->seg);
	pt__footer_free(&it->footer);
	it->src = SRC_NONE;
	it->remaining = 0;
}

void pt_iter_free(pt_iter *it)
{
	if (!it)
		return;
	close_source(it);
	pt__history_free(&it->h);
	pt__zd_free(it->zd);
	pt__buf_free(&it->payload);
	pt__buf_free(&it->raw);
	pt__buf_free(&it->namebuf);
	pt__buf_free(&it->json);
	pt__free(it->kind);
	pt__free(it);
}

static bool range_skips(const pt_iter *it, int64_t smin, int64_t smax, int64_t tmin, int64_t tmax)
{
	if (it->step_filter) {
		if (smin == PT_NO_STEP || smax < it->o.step_min || smin > it->o.step_max)
			return true;
	}
	if (it->time_filter && (tmax < it->o.time_min || tmin > it->o.time_max))
		return true;
	return false;
}

int pt_iter_open(pt_iter **out, const pt_store *st, const char *run, const char *stream, const pt_iter_options *opts)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_iter_open: NULL argument");
	*out = NULL;
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	if (stream && (rc = pt_name_check("stream", stream)))
		return rc;
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_ITER_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_iter_open: options version %u is not supported", opts->version);
		o = *opts;
	}
	pt_iter *it = pt__calloc(1, sizeof *it);
	if (!it)
		return PT_ENOMEM;
	it->seg = (pt__segsrc)PT_SEGSRC_INIT;
	it->st = st;
	it->o = o;
	it->step_filter = o.step_min != INT64_MIN || o.step_max != INT64_MAX;
	it->time_filter = o.time_min != INT64_MIN || o.time_max != INT64_MAX;
	if (o.kind && !(it->kind = pt__strdup(o.kind))) {
		rc = PT_ENOMEM;
		goto fail;
	}
	it->o.kind = it->kind;
	if ((rc = pt__history_load(&it->h, st, run, stream, false)) || (rc = pt__zd_new(&it->zd)))
		goto fail;
	it->next_seq = o.seq_min ? o.seq_min : 1;
	if (o.start_at_end) {
		pt_stream_info si;
		if ((rc = pt_stream_stat(st, run, it->h.stream, &si)))
			goto fail;
		if (si.seq_last + 1 > it->next_seq)
			it->next_seq = si.seq_last + 1;
	}
	it->view.it = it;
	*out = it;
	return 0;
fail:
	pt_iter_free(it);
	return rc;
}

/* Decompress the batch whose checked payload is in it->payload. */
static int load_raw(pt_iter *it, const pt__batch_header *h, uint64_t off)
{
	char what[600];
	snprintf(what, sizeof what, "%s @%llu", it->seg.name, (unsigned long long)off);
	int rc = pt__zd_decompress(it->zd, &it->raw, it->payload.data, it->payload.len, h->raw_len, what);
	if (rc)
		return rc;
	it->rp = it->raw.data;
	it->rend = it->raw.data + it->raw.len;
	it->cur_seq = h->first_seq;
	it->remaining = h->count;
	return 0;
}

static int position(pt_iter *it, bool reload)
{
	int rc;
	if (reload && (rc = pt__history_reload(&it->h)))
		return rc;
	const pt__chain *c = &it->h.chain;
	size_t i = pt__chain_find_seq(c, it->next_seq);
	/* whole sealed segments that cannot match are skipped via the chain */
	while (i < c->n && range_skips(it, c->v[i].step_min, c->v[i].step_max, c->v[i].time_min, c->v[i].time_max)) {
		it->next_seq = c->v[i].last_seq + 1;
		i++;
	}
	if (i < c->n) {
		if ((rc = pt__history_open_sealed(&it->h, i, &it->seg, NULL)) ||
		    (rc = pt__footer_read_at(it->seg.fd, it->seg.base, it->seg.size, it->seg.name, &it->footer))) {
			close_source(it);
			return rc;
		}
		it->src = SRC_SEALED;
		it->seg_i = i;
		/* binary search the index for the batch holding next_seq */
		uint64_t lo = 0, hi = it->footer.batches;
		while (lo < hi) {
			uint64_t mid = (lo + hi) / 2;
			const pt__index_entry *e = &it->footer.entries[mid];
			if (e->first_seq + e->count <= it->next_seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		it->batch_i = lo;
		return 0;
	}
	pt__seg_header h;
	if ((rc = pt__history_open_tail(&it->h, &it->seg))) {
		close_source(it);
		if (rc != PT_ENOTFOUND)
			return rc;
		/* sealed away meanwhile: the reloaded list has it */
		return reload ? PT_ITEROVER : position(it, true);
	}
	rc = pt__seg_header_read(it->seg.fd, it->seg.size, it->seg.name, &h);
	if (rc) {
		uint64_t size = it->seg.size;
		close_source(it);
		/* a header being written right now is not there yet */
		return size < 8 + 64 + 4 ? PT_ITEROVER : rc;
	}
	if ((rc = pt__history_check_identity(&it->h, &h, it->seg.name))) {
		close_source(it);
		return rc;
	}
	if (h.first_seq > it->next_seq) {
		close_source(it);
		if (!reload)
			return position(it, true);
		return pt__err(PT_ECORRUPT, "%s: open segment starts at seq %llu but seq %llu is in no sealed segment",
			       it->seg.name ? it->seg.name : PT_OPEN_SEGMENT, (unsigned long long)h.first_seq,
			       (unsigned long long)it->next_seq);
	}
	it->src = SRC_OPEN;
	it->off = h.frame_len;
	return 0;
}

static int next_batch(pt_iter *it)
{
	int rc;
	for (int guard = 0; guard < 1000000; guard++) {
		if (it->src == SRC_NONE) {
			rc = position(it, it->h.chain.n == 0 || pt__chain_find_seq(&it->h.chain, it->next_seq) >= it->h.chain.n);
			if (rc)
				return rc;
		}
		if (it->src == SRC_SEALED) {
			if (it->batch_i >= it->footer.batches) {
				it->next_seq = it->h.chain.v[it->seg_i].last_seq + 1;
				close_source(it);
				continue;
			}
			const pt__index_entry *e = &it->footer.entries[it->batch_i++];
			if (e->first_seq + e->count <= it->next_seq)
				continue;
			if (range_skips(it, e->step_min, e->step_max, e->time_min, e->time_max)) {
				it->next_seq = e->first_seq + e->count;
				continue;
			}
			uint64_t off = e->offset;
			pt__batch_header h;
			rc = pt__scan_batch_at(it->seg.fd, it->seg.base, it->footer.offset, &off, &h, &it->payload);
			if (rc < 0)
				return rc;
			if (rc != PT_SCAN_BATCH || h.first_seq != e->first_seq || h.count != e->count)
				return pt__err(PT_ECORRUPT, "%s @%llu: batch fails its checksum or disagrees with the index",
					       it->seg.name, (unsigned long long)e->offset);
			return load_raw(it, &h, e->offset);
		}
		/* open segment */
		struct stat sb;
		if (fstat(it->seg.fd, &sb) < 0)
			return pt__err_errno(errno, "cannot stat %s", it->seg.name);
		uint64_t at = it->off;
		pt__batch_header h;
		rc = pt__scan_batch(it->seg.fd, (uint64_t)sb.st_size, &it->off, &h, &it->payload);
		if (rc < 0)
			return rc;
		if (rc == PT_SCAN_BATCH) {
			if (h.first_seq + h.count <= it->next_seq)
				continue;
			if (h.first_seq > it->next_seq)
				return pt__err(PT_ECORRUPT, "%s @%llu: batch starts at seq %llu, expected %llu", it->seg.name,
					       (unsigned long long)at, (unsigned long long)h.first_seq,
					       (unsigned long long)it->next_seq);
			if (range_skips(it, h.step_min, h.step_max, h.time_min, h.time_max)) {
				it->next_seq = h.first_seq + h.count;
				continue;
			}
			return load_raw(it, &h, at);
		}
		if (rc == PT_SCAN_BAD) {
			uint64_t nx;
			int f = pt__find_batch_after(it->seg.fd, (uint64_t)sb.st_size, at, &nx);
			if (f < 0)
				return f;
			if (f == 1)
				return pt__err(PT_ECORRUPT, "%s @%llu: invalid batch followed by a valid one at %llu",
					       it->seg.name, (unsigned long long)at, (unsigned long long)nx);
		}
		/* end of what is written: was the segment sealed (renamed) meanwhile? */
		it->off = at;
		ino_t cur;
		if (pt__history_tail_ino(&it->h, &cur) == 0 && cur == it->seg.ino && rc != PT_SCAN_FOOTER)
			return PT_ITEROVER;
		close_source(it);
		rc = position(it, true);
		if (rc)
			return rc;
		if (it->src == SRC_OPEN && it->seg.ino == sb.st_ino)
			return PT_ITEROVER; /* the same file: nothing new */
	}
	return pt__err(PT_ERROR, "iterator made no progress");
}

static int decode_event(pt_iter *it)
{
	const uint8_t *start = it->rp;
	mpk_obj o;
	pt_event_view *v = &it->view;
	v->seq = 0;
	v->time = 0;
	v->step = PT_NO_STEP;
	v->kind = NULL;
	v->name = NULL;
	v->body = NULL;
	bool have_seq = false, have_time = false;
	if (mpk_read(&it->rp, it->rend, &o) || o.type != MPK_MAP)
		goto bad;
	for (uint32_t k = 0; k < o.len; k++) {
		mpk_obj key, val;
		if (mpk_read(&it->rp, it->rend, &key) || key.type != MPK_STR)
			goto bad;
		const uint8_t *vs = it->rp;
		if (mpk_read(&it->rp, it->rend, &val))
			goto bad;
#define KEY(s) (key.len == sizeof(s) - 1 && !memcmp(key.ptr, s, sizeof(s) - 1))
		if (KEY("seq") && val.type == MPK_UINT) {
			v->seq = val.u;
			have_seq = true;
		} else if (KEY("time") && (val.type == MPK_UINT || val.type == MPK_INT)) {
			v->time = val.type == MPK_UINT ? (int64_t)val.u : val.i;
			have_time = true;
		} else if (KEY("step") && (val.type == MPK_UINT || val.type == MPK_INT)) {
			v->step = val.type == MPK_UINT ? (int64_t)val.u : val.i;
		} else if ((KEY("kind") || KEY("name")) && val.type == MPK_STR && memchr(val.ptr, 0, val.len)) {
			/* the accessors hand out C strings: a NUL inside would cut them short */
			goto bad;
		} else if (KEY("kind") && val.type == MPK_STR && val.len <= PT_KIND_MAX) {
			memcpy(it->kindbuf, val.ptr, val.len);
			it->kindbuf[val.len] = 0;
			v->kind = it->kindbuf;
		} else if (KEY("name") && val.type == MPK_STR) {
			it->namebuf.len = 0;
			if (pt__buf_append(&it->namebuf, val.ptr, val.len) || pt__buf_append(&it->namebuf, "", 1))
				return PT_ENOMEM;
			v->name = (const char *)it->namebuf.data;
		} else if (KEY("body") && val.type == MPK_MAP) {
			it->rp = vs;
			if (mpk_skip(&it->rp, it->rend, PT_EVENT_MAX_DEPTH + 1))
				goto bad;
			v->body = vs;
			v->body_len = (size_t)(it->rp - vs);
		} else {
			it->rp = vs;
			if (mpk_skip(&it->rp, it->rend, PT_EVENT_MAX_DEPTH + 1))
				goto bad;
		}
#undef KEY
	}
	if (!have_seq || !have_time || !v->kind || !v->body)
		goto bad;
	if (v->seq != it->cur_seq)
		return pt__err(PT_ECORRUPT, "%s: event has seq %llu where %llu was expected", it->seg.name,
			       (unsigned long long)v->seq, (unsigned long long)it->cur_seq);
	v->mp = start;
	v->mp_len = (size_t)(it->rp - start);
	it->cur_seq++;
	it->remaining--;
	if (it->remaining == 0 && it->rp != it->rend)
		return pt__err(PT_ECORRUPT, "%s: batch holds more bytes than its events", it->seg.name);
	return 0;
bad:
	return pt__err(PT_ECORRUPT, "%s: malformed event (expected seq %llu)", it->seg.name, (unsigned long long)it->cur_seq);
}

int pt_iter_next(pt_iter *it, const pt_event_view **out)
{
	if (!it || !out)
		return pt__err(PT_EINVAL, "pt_iter_next: NULL argument");
	*out = NULL;
	for (;;) {
		if (it->done || it->next_seq > it->o.seq_max)
			return PT_ITEROVER;
		if (it->remaining == 0) {
			int rc = next_batch(it);
			if (rc)
				return rc;
			/* skip to next_seq inside the batch */
		}
		int rc = decode_event(it);
		if (rc)
			return rc;
		const pt_event_view *v = &it->view;
		if (v->seq < it->next_seq)
			continue;
		it->next_seq = v->seq + 1;
		if (v->seq > it->o.seq_max) {
			it->done = true;
			return PT_ITEROVER;
		}
		if (it->kind && strcmp(v->kind, it->kind))
			continue;
		if (it->step_filter && (v->step == PT_NO_STEP || v->step < it->o.step_min || v->step > it->o.step_max))
			continue;
		if (it->time_filter && (v->time < it->o.time_min || v->time > it->o.time_max))
			continue;
		*out = v;
		return 0;
	}
}

uint64_t pt_ev_seq(const pt_event_view *ev) { return ev ? ev->seq : 0; }
int64_t pt_ev_time(const pt_event_view *ev) { return ev ? ev->time : 0; }
int64_t pt_ev_step(const pt_event_view *ev) { return ev ? ev->step : PT_NO_STEP; }
const char *pt_ev_kind(const pt_event_view *ev) { return ev ? ev->kind : NULL; }
const char *pt_ev_name(const pt_event_view *ev) { return ev ? ev->name : NULL; }
const char *pt_ev_run(const pt_event_view *ev) { return ev ? ev->it->h.run : NULL; }
const char *pt_ev_stream(const pt_event_view *ev) { return ev ? ev->it->h.stream : NULL; }

int pt_ev_msgpack(const pt_event_view *ev, const void **data, size_t *len)
{
	if (!ev || !data || !len)
		return pt__err(PT_EINVAL, "pt_ev_msgpack: NULL argument");
	*data = ev->mp;
	*len = ev->mp_len;
	return 0;
}

int pt_ev_body_msgpack(const pt_event_view *ev, const void **data, size_t *len)
{
	if (!ev || !data || !len)
		return pt__err(PT_EINVAL, "pt_ev_body_msgpack: NULL argument");
	*data = ev->body;
	*len = ev->body_len;
	return 0;
}

int pt_ev_json(const pt_event_view *ev, const char **json, size_t *len)
{
	if (!ev || !json)
		return pt__err(PT_EINVAL, "pt_ev_json: NULL argument");
	pt__buf *b = &ev->it->json;
	b->len = 0;
	int rc = pt__json_event(b, ev->it->h.run, ev->it->h.stream, ev->mp, ev->mp_len);
	if (rc)
		return rc;
	*json = (const char *)b->data;
	if (len)
		*len = b->len;
	return 0;
}

/* ---- stream summary ---- */
int pt_stream_stat(const pt_store *st, const char *run, const char *stream, pt_stream_info *out)
{
	if (!st || !out)
		return pt__err(PT_EINVAL, "pt_stream_stat: NULL argument");
	memset(out, 0, sizeof *out);
	out->step_min = out->step_max = PT_NO_STEP;
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	if (stream && (rc = pt_name_check("stream", stream)))
		return rc;
	pt__history hist;
	if ((rc = pt__history_load(&hist, st, run, stream, true)))
		return rc == PT_ENOTFOUND ? pt__err(PT_ENOTFOUND, "stream %s/%s not found", run,
						    stream ? stream : PT_DEFAULT_STREAM)
					  : rc;
	const pt__chain *cp = &hist.chain;
	bool any_time = false;
	for (size_t i = 0; i < cp->n; i++) {
		const pt__chain_entry *e = &cp->v[i];
		if (i == 0)
			out->seq_first = e->first_seq;
		out->seq_last = e->last_seq;
		out->events += e->events;
		out->bytes += e->bytes;
		out->raw_bytes += e->raw_bytes;
		if (e->step_min != PT_NO_STEP) {
			if (out->step_min == PT_NO_STEP || e->step_min < out->step_min)
				out->step_min = e->step_min;
			if (out->step_max == PT_NO_STEP || e->step_max > out->step_max)
				out->step_max = e->step_max;
		}
		if (!any_time || e->time_min < out->time_min)
			out->time_min = e->time_min;
		if (!any_time || e->time_max > out->time_max)
			out->time_max = e->time_max;
		any_time = true;
		out->sealed_segments++;
	}
	{
		/* batches of sealed segments are counted from their footers' sizes
		 * lazily elsewhere; here only the open segment is scanned (headers only) */
		pt__segsrc tail;
		if (!pt__history_open_tail(&hist, &tail)) {
			int fd = tail.fd;
			pt__seg_header h;
			if (!pt__seg_header_read(fd, tail.size, tail.name, &h)) {
				uint64_t off = h.frame_len, size = tail.size;
				out->bytes += size;
				for (;;) {
					pt__batch_header bh;
					uint64_t at = off;
					int r = pt__scan_batch(fd, size, &off, &bh, NULL);
					if (r != PT_SCAN_BATCH) {
						if (r == PT_SCAN_TORN || r == PT_SCAN_BAD)
							out->torn_bytes = size - at;
						break;
					}
					if (!out->seq_first)
						out->seq_first = bh.first_seq;
					out->seq_last = bh.first_seq + bh.count - 1;
					out->events += bh.count;
					out->raw_bytes += bh.raw_len;
					out->batches++;
					if (bh.step_min != PT_NO_STEP) {
						if (out->step_min == PT_NO_STEP || bh.step_min < out->step_min)
							out->step_min = bh.step_min;
						if (out->step_max == PT_NO_STEP || bh.step_max > out->step_max)
							out->step_max = bh.step_max;
					}
					if (!any_time || bh.time_min < out->time_min)
						out->time_min = bh.time_min;
					if (!any_time || bh.time_max > out->time_max)
						out->time_max = bh.time_max;
					any_time = true;
				}
			}
			pt__segsrc_close(&tail);
		}
	}
	/* sealed batches: from the footers (cheap: one read each, wherever the segment is) */
	for (size_t i = 0; i < cp->n; i++) {
		pt__segsrc sg;
		if (pt__history_open_id(&hist, cp->v[i].id, &sg))
			continue;
		uint8_t ft[8];
		if (sg.size >= 8 && !pt__pread_all(sg.fd, ft, 8, sg.base + sg.size - 8, sg.name) && !memcmp(ft + 4, "PTFE", 4)) {
			uint64_t dlen = pt__get_u32(ft);
			if (dlen >= PT_FOOTER_FIXED + 12)
				out->batches += (dlen - PT_FOOTER_FIXED - 12) / PT_INDEX_ENTRY_LEN;
		}
		pt__segsrc_close(&sg);
	}
	pt__err_clear();
	out->writer_active = (uint32_t)pt__history_writer_active(hist.dir);
	pt__history_free(&hist);
	return rc;
}
