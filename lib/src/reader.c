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
#include "archive_int.h"
#include "mpk.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int pt__json_event(pt_buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len);

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
	char *run, *stream, *dir, *open_path;
	pt_iter_options o;
	char *kind;
	bool step_filter, time_filter;
	pt_chain chain;

	int src;
	size_t seg_i;
	int fd;
	char *fd_path;
	pt_footer footer;
	uint64_t batch_i;
	uint64_t off;      /* open segment: next batch offset */
	uint64_t base;     /* sealed segment read from an archive: its offset in the tar */
	ino_t open_ino;

	pt_buf payload, raw;
	const uint8_t *rp, *rend;
	uint64_t cur_seq;  /* seq of the next event in raw */
	uint32_t remaining;
	uint64_t next_seq;
	bool done;         /* past seq_max */

	pt_zd *zd;
	pt_event_view view;
	char kindbuf[PT_KIND_MAX + 1];
	pt_buf namebuf;
	pt_buf json;
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
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	it->base = 0;
	pt__free(it->fd_path);
	it->fd_path = NULL;
	pt__footer_free(&it->footer);
	it->src = SRC_NONE;
	it->remaining = 0;
}

void pt_iter_free(pt_iter *it)
{
	if (!it)
		return;
	close_source(it);
	pt__chain_free(&it->chain);
	pt__zd_free(it->zd);
	pt__buf_free(&it->payload);
	pt__buf_free(&it->raw);
	pt__buf_free(&it->namebuf);
	pt__buf_free(&it->json);
	pt__free(it->run);
	pt__free(it->stream);
	pt__free(it->dir);
	pt__free(it->open_path);
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
	it->fd = -1;
	it->st = st;
	it->o = o;
	it->step_filter = o.step_min != INT64_MIN || o.step_max != INT64_MAX;
	it->time_filter = o.time_min != INT64_MIN || o.time_max != INT64_MAX;
	it->run = pt__strdup(run);
	it->stream = pt__strdup(stream ? stream : PT_DEFAULT_STREAM);
	it->dir = pt__stream_dir(st, run, it->stream);
	it->open_path = it->dir ? pt__sprintf("%s/%s", it->dir, PT_OPEN_SEGMENT) : NULL;
	if (!it->run || !it->stream || !it->dir || !it->open_path || (o.kind && !(it->kind = pt__strdup(o.kind)))) {
		rc = PT_ENOMEM;
		goto fail;
	}
	it->o.kind = it->kind;
	if (!pt__is_dir(it->dir)) {
		char *rd = pt__run_dir(st, run);
		bool run_exists = rd && pt__is_dir(rd);
		pt__free(rd);
		rc = run_exists ? pt__err(PT_ENOTFOUND, "stream \"%s\" not found in run \"%s\"", it->stream, run)
				: pt__err(PT_ENOTFOUND, "run \"%s\" not found in store %s", run, st->path);
		goto fail;
	}
	if ((rc = pt__zd_new(&it->zd)) || (rc = pt__chain_load(it->dir, &it->chain)))
		goto fail;
	it->next_seq = o.seq_min ? o.seq_min : 1;
	if (o.start_at_end) {
		pt_stream_info si;
		if ((rc = pt_stream_stat(st, run, it->stream, &si)))
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

static int open_fd(pt_iter *it, const char *path, uint64_t *size)
{
	it->fd = pt__open_stream_file(it->dir, path, O_RDONLY);
	if (it->fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	struct stat sb;
	if (fstat(it->fd, &sb) < 0)
		return pt__err_errno(errno, "cannot stat %s", path);
	*size = (uint64_t)sb.st_size;
	it->open_ino = sb.st_ino;
	it->fd_path = pt__strdup(path);
	return it->fd_path ? 0 : PT_ENOMEM;
}

/* A sealed segment no longer in the hot store: read it inside its archive. */
static int open_archived(pt_iter *it, const char *path, const uint8_t id[PT_SHA256_LEN], uint64_t *size)
{
	int rc = pt__archive_open_segment(it->st, it->run, it->stream, id, &it->fd, &it->base, size);
	if (rc)
		return rc;
	it->fd_path = pt__sprintf("%s (archived)", path);
	return it->fd_path ? 0 : PT_ENOMEM;
}

/* Decompress the batch whose checked payload is in it->payload. */
static int load_raw(pt_iter *it, const pt_batch_header *h, uint64_t off)
{
	char what[600];
	snprintf(what, sizeof what, "%s @%llu", it->fd_path, (unsigned long long)off);
	int rc = pt__zd_decompress(it->zd, &it->raw, it->payload.data, it->payload.len, h->raw_len, what);
	if (rc)
		return rc;
	it->rp = it->raw.data;
	it->rend = it->raw.data + it->raw.len;
	it->cur_seq = h->first_seq;
	it->remaining = h->count;
	return 0;
}

/*
 * A writer that stops between renaming a sealed segment into segments/ and
 * rewriting the chain (a crash, a full disk) leaves a sealed segment the
 * chain does not list yet; the next writer adopts it (recorder.c,
 * roll_forward).  Until then readers adopt it in memory, so that events
 * acknowledged as durable never disappear from view (found by test_kill).
 * Only a segment that continues the chain exactly is taken (number,
 * previous id, first seq, valid header and footer), and only when there is
 * no open segment, as roll_forward requires; its batches are checked as
 * they are read, like any segment's.  1: an entry was appended to `c`.
 */
static int adopt_pending(const char *dir, const char *open_path, pt_chain *c)
{
	if (pt__exists(open_path))
		return 0;
	char *segdir = pt__sprintf("%s/segments", dir);
	char **names = NULL;
	size_t n = 0;
	int rc = segdir ? 0 : PT_ENOMEM;
	if (!rc && pt__is_dir(segdir))
		rc = pt__list_stream_dir(dir, segdir, PT_SEG_SUFFIX, &names, &n);
	static const uint8_t zero[PT_SHA256_LEN];
	const uint8_t *prev = c->n ? c->v[c->n - 1].id : zero;
	uint64_t first = c->n ? c->v[c->n - 1].last_seq + 1 : 1;
	for (size_t i = 0; !rc && i < n; i++) {
		uint8_t id[PT_SHA256_LEN];
		char hex[65];
		if (strlen(names[i]) != 64 + strlen(PT_SEG_SUFFIX))
			continue;
		memcpy(hex, names[i], 64);
		hex[64] = 0;
		if (pt__unhex(hex, id, PT_SHA256_LEN))
			continue;
		bool listed = false;
		for (size_t k = 0; k < c->n && !listed; k++)
			listed = !memcmp(c->v[k].id, id, PT_SHA256_LEN);
		if (listed)
			continue;
		char *path = pt__sprintf("%s/%s", segdir, names[i]);
		if (!path) {
			rc = PT_ENOMEM;
			break;
		}
		int fd = pt__open_stream_file(dir, path, O_RDONLY);
		struct stat sb;
		pt_seg_header h;
		pt_footer f = {0};
		if (fd >= 0 && fstat(fd, &sb) == 0 && !pt__seg_header_read(fd, (uint64_t)sb.st_size, path, &h) &&
		    h.segno == c->n && !memcmp(h.prev, prev, PT_SHA256_LEN) && h.first_seq == first &&
		    !pt__footer_read(fd, (uint64_t)sb.st_size, path, &f) && f.first_seq == first &&
		    f.last_seq >= first) {
			pt_chain_entry e = {h.segno, {0}, f.first_seq, f.last_seq, f.events, f.step_min, f.step_max,
					    f.time_min, f.time_max, (uint64_t)sb.st_size, f.raw_bytes};
			memcpy(e.id, id, PT_SHA256_LEN);
			rc = pt__chain_append(c, &e);
			if (!rc)
				rc = 1;
		}
		pt__footer_free(&f);
		if (fd >= 0)
			close(fd);
		pt__free(path);
		if (rc)
			break;
	}
	pt_strv_free(names, n);
	pt__free(segdir);
	return rc;
}

static int position(pt_iter *it, bool reload)
{
	int rc;
	if (reload) {
		pt_chain c;
		if ((rc = pt__chain_load(it->dir, &c)))
			return rc;
		pt__chain_free(&it->chain);
		it->chain = c;
	}
	size_t i = pt__chain_find_seq(&it->chain, it->next_seq);
	/* whole sealed segments that cannot match are skipped via the chain */
	while (i < it->chain.n && range_skips(it, it->chain.v[i].step_min, it->chain.v[i].step_max,
					       it->chain.v[i].time_min, it->chain.v[i].time_max)) {
		it->next_seq = it->chain.v[i].last_seq + 1;
		i++;
	}
	if (i < it->chain.n) {
		char *path = pt__segment_path(it->dir, it->chain.v[i].id);
		if (!path)
			return PT_ENOMEM;
		uint64_t size = 0;
		pt_seg_header h;
		if (access(path, F_OK) < 0 && errno == ENOENT)
			rc = open_archived(it, path, it->chain.v[i].id, &size);
		else
			rc = open_fd(it, path, &size);
		pt__free(path);
		if (!rc)
			rc = pt__seg_header_read_at(it->fd, it->base, size, it->fd_path, &h);
		if (!rc && h.first_seq != it->chain.v[i].first_seq)
			rc = pt__err(PT_ECORRUPT, "%s: segment starts at seq %llu, the chain says %llu", it->fd_path,
				     (unsigned long long)h.first_seq, (unsigned long long)it->chain.v[i].first_seq);
		if (!rc)
			rc = pt__footer_read_at(it->fd, it->base, size, it->fd_path, &it->footer);
		if (rc) {
			close_source(it);
			return rc;
		}
		it->src = SRC_SEALED;
		it->seg_i = i;
		/* binary search the index for the batch holding next_seq */
		uint64_t lo = 0, hi = it->footer.batches;
		while (lo < hi) {
			uint64_t mid = (lo + hi) / 2;
			const pt_index_entry *e = &it->footer.entries[mid];
			if (e->first_seq + e->count <= it->next_seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		it->batch_i = lo;
		return 0;
	}
	if (!pt__exists(it->open_path)) {
		rc = adopt_pending(it->dir, it->open_path, &it->chain);
		if (rc < 0)
			return rc;
		return rc ? position(it, false) : PT_ITEROVER;
	}
	uint64_t size = 0;
	pt_seg_header h;
	if ((rc = open_fd(it, it->open_path, &size))) {
		close_source(it);
		return rc == PT_ENOTFOUND ? PT_ITEROVER : rc; /* sealed away meanwhile */
	}
	rc = pt__seg_header_read(it->fd, size, it->fd_path, &h);
	if (rc) {
		close_source(it);
		/* a header being written right now is not there yet */
		return size < 8 + 64 + 4 ? PT_ITEROVER : rc;
	}
	if (h.first_seq > it->next_seq) {
		close_source(it);
		if (!reload)
			return position(it, true);
		return pt__err(PT_ECORRUPT, "%s: open segment starts at seq %llu but seq %llu is in no sealed segment",
			       it->open_path, (unsigned long long)h.first_seq, (unsigned long long)it->next_seq);
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
			rc = position(it, it->chain.n == 0 || pt__chain_find_seq(&it->chain, it->next_seq) >= it->chain.n);
			if (rc)
				return rc;
		}
		if (it->src == SRC_SEALED) {
			if (it->batch_i >= it->footer.batches) {
				it->next_seq = it->chain.v[it->seg_i].last_seq + 1;
				close_source(it);
				continue;
			}
			const pt_index_entry *e = &it->footer.entries[it->batch_i++];
			if (e->first_seq + e->count <= it->next_seq)
				continue;
			if (range_skips(it, e->step_min, e->step_max, e->time_min, e->time_max)) {
				it->next_seq = e->first_seq + e->count;
				continue;
			}
			uint64_t off = e->offset;
			pt_batch_header h;
			rc = pt__scan_batch_at(it->fd, it->base, it->footer.offset, &off, &h, &it->payload);
			if (rc < 0)
				return rc;
			if (rc != PT_SCAN_BATCH || h.first_seq != e->first_seq || h.count != e->count)
				return pt__err(PT_ECORRUPT, "%s @%llu: batch fails its checksum or disagrees with the index",
					       it->fd_path, (unsigned long long)e->offset);
			return load_raw(it, &h, e->offset);
		}
		/* open segment */
		struct stat sb;
		if (fstat(it->fd, &sb) < 0)
			return pt__err_errno(errno, "cannot stat %s", it->fd_path);
		uint64_t at = it->off;
		pt_batch_header h;
		rc = pt__scan_batch(it->fd, (uint64_t)sb.st_size, &it->off, &h, &it->payload);
		if (rc < 0)
			return rc;
		if (rc == PT_SCAN_BATCH) {
			if (h.first_seq + h.count <= it->next_seq)
				continue;
			if (h.first_seq > it->next_seq)
				return pt__err(PT_ECORRUPT, "%s @%llu: batch starts at seq %llu, expected %llu", it->fd_path,
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
			int f = pt__find_batch_after(it->fd, (uint64_t)sb.st_size, at, &nx);
			if (f < 0)
				return f;
			if (f == 1)
				return pt__err(PT_ECORRUPT, "%s @%llu: invalid batch followed by a valid one at %llu",
					       it->fd_path, (unsigned long long)at, (unsigned long long)nx);
		}
		/* end of what is written: was the segment sealed (renamed) meanwhile? */
		it->off = at;
		struct stat cur;
		if (stat(it->open_path, &cur) == 0 && cur.st_ino == it->open_ino && rc != PT_SCAN_FOOTER)
			return PT_ITEROVER;
		close_source(it);
		rc = position(it, true);
		if (rc)
			return rc;
		if (it->src == SRC_OPEN && it->open_ino == sb.st_ino)
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
		return pt__err(PT_ECORRUPT, "%s: event has seq %llu where %llu was expected", it->fd_path,
			       (unsigned long long)v->seq, (unsigned long long)it->cur_seq);
	v->mp = start;
	v->mp_len = (size_t)(it->rp - start);
	it->cur_seq++;
	it->remaining--;
	if (it->remaining == 0 && it->rp != it->rend)
		return pt__err(PT_ECORRUPT, "%s: batch holds more bytes than its events", it->fd_path);
	return 0;
bad:
	return pt__err(PT_ECORRUPT, "%s: malformed event (expected seq %llu)", it->fd_path, (unsigned long long)it->cur_seq);
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
const char *pt_ev_run(const pt_event_view *ev) { return ev ? ev->it->run : NULL; }
const char *pt_ev_stream(const pt_event_view *ev) { return ev ? ev->it->stream : NULL; }

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
	pt_buf *b = &ev->it->json;
	b->len = 0;
	int rc = pt__json_event(b, ev->it->run, ev->it->stream, ev->mp, ev->mp_len);
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
	char *dir = pt__stream_dir(st, run, stream);
	char *open_path = dir ? pt__sprintf("%s/%s", dir, PT_OPEN_SEGMENT) : NULL;
	char *lock_path = dir ? pt__sprintf("%s/lock", dir) : NULL;
	pt_chain c = {0};
	if (!open_path || !lock_path) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (!pt__is_dir(dir)) {
		rc = pt__err(PT_ENOTFOUND, "stream %s/%s not found", run, stream ? stream : PT_DEFAULT_STREAM);
		goto done;
	}
	if ((rc = pt__chain_load(dir, &c)))
		goto done;
	if ((rc = adopt_pending(dir, open_path, &c)) < 0)
		goto done;
	rc = 0;
	bool any_time = false;
	for (size_t i = 0; i < c.n; i++) {
		pt_chain_entry *e = &c.v[i];
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
		int fd = pt__open_stream_file(dir, open_path, O_RDONLY);
		if (fd >= 0) {
			struct stat sb;
			pt_seg_header h;
			if (fstat(fd, &sb) == 0 && !pt__seg_header_read(fd, (uint64_t)sb.st_size, open_path, &h)) {
				uint64_t off = h.frame_len, size = (uint64_t)sb.st_size;
				out->bytes += size;
				for (;;) {
					pt_batch_header bh;
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
			close(fd);
		}
	}
	/* sealed batches: from the footers (cheap: one read each) */
	for (size_t i = 0; i < c.n; i++) {
		char *p = pt__segment_path(dir, c.v[i].id);
		int fd = p ? pt__open_stream_file(dir, p, O_RDONLY) : -1;
		struct stat sb;
		if (fd >= 0 && fstat(fd, &sb) == 0) {
			uint8_t tail[8];
			if (sb.st_size >= 8 && !pt__pread_all(fd, tail, 8, (uint64_t)sb.st_size - 8, p) &&
			    !memcmp(tail + 4, "PTFE", 4)) {
				uint64_t dlen = pt__get_u32(tail);
				if (dlen >= PT_FOOTER_FIXED + 12)
					out->batches += (dlen - PT_FOOTER_FIXED - 12) / PT_INDEX_ENTRY_LEN;
			}
		}
		if (fd >= 0)
			close(fd);
		pt__free(p);
	}
	{
		int fd = pt__open_stream_file(dir, lock_path, O_RDONLY);
		if (fd >= 0) {
			struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
			if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
				out->writer_active = 1;
			close(fd);
		}
	}
done:
	pt__chain_free(&c);
	pt__free(dir);
	pt__free(open_path);
	pt__free(lock_path);
	return rc;
}
