/* report/report_model.c - what a report shows, read from the store in one pass per stream. */
#include "report/report_int.h"

#include "provtrace/lineage.h"
#include "provtrace/replay.h"

#include "base/mpk_int.h"
#include "format/json_int.h"
#include "log/history_int.h"
#include "log/state_int.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* Room for one more element of a PT__VEC; false when the table is full (counted, not an error). */
static int vec_room(void **v, size_t *n, size_t *cap, size_t *total, size_t size, bool *room)
{
	(*total)++;
	*room = false;
	if (*n >= PT_REPORT_MAX_ROWS)
		return 0;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *nv = pt__realloc(*v, nc * size);
		if (!nv)
			return PT_ENOMEM;
		*v = nv;
		*cap = nc;
	}
	memset((char *)*v + *n * size, 0, size);
	(*n)++;
	*room = true;
	return 0;
}
#define VEC_ROOM(vec, room) vec_room((void **)&(vec).v, &(vec).n, &(vec).cap, &(vec).total, sizeof *(vec).v, (room))
#define VEC_LAST(vec) (&(vec).v[(vec).n - 1])

/* A copy of at most PT__RTEXT_MAX bytes of `s` (cut on a UTF-8 boundary, "…" appended). */
static char *text_dup(const char *s, size_t n)
{
	if (n <= PT__RTEXT_MAX)
		return pt__strndup(s, n);
	size_t k = PT__RTEXT_MAX;
	while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	char *r = pt__malloc(k + 4);
	if (r) {
		memcpy(r, s, k);
		memcpy(r + k, "\xE2\x80\xA6", 4);
	}
	return r;
}

/* One msgpack value as JSON text (cut like text_dup). */
static int json_dup(const uint8_t *mp, size_t len, char **out)
{
	pt__buf b = {0};
	int rc = pt__json_value(&b, mp, len);
	if (rc) {
		pt__buf_free(&b);
		return rc == PT_ENOMEM ? rc : 0; /* a value the JSON form refuses: shown as absent */
	}
	*out = text_dup((const char *)b.data, b.len);
	pt__buf_free(&b);
	return *out ? 0 : PT_ENOMEM;
}

/* ---- series: buckets that keep minima and maxima ----------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static void bucket_merge(pt__rbucket *d, const pt__rbucket *s)
{
	if (!s->n)
		return;
	if (!d->n) {
		*d = *s;
		return;
	}
	if (s->vmin < d->vmin)
		d->vmin = s->vmin, d->kmin = s->kmin;
	if (s->vmax > d->vmax)
		d->vmax = s->vmax, d->kmax = s->kmax;
	d->n += s->n;
}

/* Double the width until keys lo..hi (bucket indexes at the current width) fit in PT__RB buckets. */
static void series_widen(pt__rseries *s, int64_t *lo, int64_t *hi)
{
	pt__rbucket tmp[PT__RB];
	while (*hi - *lo + 1 > PT__RB) {
		int64_t nb0 = floordiv(s->b0, 2);
		memset(tmp, 0, sizeof tmp);
		for (int64_t i = 0; i < PT__RB; i++)
			if (s->b[i].n)
				bucket_merge(&tmp[floordiv(s->b0 + i, 2) - nb0], &s->b[i]);
		memcpy(s->b, tmp, sizeof tmp);
		s->b0 = nb0;
		s->width = s->width > INT64_MAX / 2 ? INT64_MAX : s->width * 2;
		*lo = floordiv(*lo, 2);
		*hi = floordiv(*hi, 2);
	}
}

static int series_add(pt__rseries *s, int64_t key, double v)
{
	if (!s->b) {
		if (!(s->b = pt__calloc(PT__RB, sizeof *s->b)))
			return PT_ENOMEM;
		s->width = 1;
		s->b0 = key;
		s->kmin = s->kmax = key;
		s->vmin = s->vmax = v;
	}
	int64_t j = floordiv(key, s->width);
	if (j < s->b0 || j >= s->b0 + PT__RB) {
		int64_t lo = j < s->b0 ? j : s->b0, hi = j > s->b0 + PT__RB - 1 ? j : s->b0 + PT__RB - 1;
		/* only occupied buckets count: the window may slide over empty ones */
		int64_t olo = s->b0, ohi = s->b0;
		for (int64_t i = 0; i < PT__RB; i++)
			if (s->b[i].n) {
				olo = s->b0 + i;
				break;
			}
		for (int64_t i = PT__RB - 1; i >= 0; i--)
			if (s->b[i].n) {
				ohi = s->b0 + i;
				break;
			}
		lo = j < olo ? j : olo;
		hi = j > ohi ? j : ohi;
		series_widen(s, &lo, &hi);
		j = floordiv(key, s->width);
		/* slide the window so that [lo, hi] is inside it */
		int64_t nb0 = s->b0;
		if (lo < nb0)
			nb0 = lo;
		if (hi >= nb0 + PT__RB)
			nb0 = hi - PT__RB + 1;
		if (nb0 != s->b0) {
			pt__rbucket tmp[PT__RB];
			memset(tmp, 0, sizeof tmp);
			for (int64_t i = 0; i < PT__RB; i++)
				if (s->b[i].n)
					tmp[s->b0 + i - nb0] = s->b[i];
			memcpy(s->b, tmp, sizeof tmp);
			s->b0 = nb0;
		}
	}
	pt__rbucket *b = &s->b[j - s->b0];
	pt__rbucket one = {v, v, key, key, 1};
	bucket_merge(b, &one);
	s->n++;
	if (key < s->kmin)
		s->kmin = key;
	if (key > s->kmax)
		s->kmax = key;
	if (v < s->vmin)
		s->vmin = v;
	if (v > s->vmax)
		s->vmax = v;
	return 0;
}

/* ---- reading one stream --------------------------------------------------------------------------- */

/* The body map's entries, one at a time: key and the raw bytes of its value. */
typedef struct {
	const uint8_t *p, *end;
	uint32_t left;
} body_it;

static bool body_open(body_it *b, const pt_event_view *ev)
{
	const void *body;
	size_t len;
	mpk_obj o;
	if (pt_ev_body_msgpack(ev, &body, &len))
		return false;
	b->p = body;
	b->end = b->p + len;
	if (mpk_read(&b->p, b->end, &o) || o.type != MPK_MAP)
		return false;
	b->left = o.len;
	return true;
}

/* Next entry: key (k, klen) and value bytes [*v, *v + *vlen); false at the end or on bad bytes. */
static bool body_next(body_it *b, const char **k, size_t *klen, const uint8_t **v, size_t *vlen)
{
	mpk_obj o;
	if (!b->left)
		return false;
	b->left--;
	if (mpk_read(&b->p, b->end, &o) || o.type != MPK_STR)
		return false;
	*k = (const char *)o.ptr;
	*klen = o.len;
	*v = b->p;
	if (mpk_skip(&b->p, b->end, 64))
		return false;
	*vlen = (size_t)(b->p - *v);
	return true;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && !memcmp(k, want, klen);
}

static bool val_num(const uint8_t *v, size_t vlen, double *out)
{
	mpk_obj o;
	const uint8_t *p = v;
	if (mpk_read(&p, v + vlen, &o))
		return false;
	switch (o.type) {
	case MPK_UINT: *out = (double)o.u; return true;
	case MPK_INT: *out = (double)o.i; return true;
	case MPK_FLOAT32:
	case MPK_FLOAT64: *out = o.d; return true;
	default: return false;
	}
}

static bool val_int(const uint8_t *v, size_t vlen, int64_t *out)
{
	mpk_obj o;
	const uint8_t *p = v;
	if (mpk_read(&p, v + vlen, &o))
		return false;
	if (o.type == MPK_UINT && o.u <= INT64_MAX)
		return *out = (int64_t)o.u, true;
	if (o.type == MPK_INT)
		return *out = o.i, true;
	return false;
}

/* A string value copied (cut), or its JSON text when it is not a string. */
static int val_text(const uint8_t *v, size_t vlen, char **out)
{
	mpk_obj o;
	const uint8_t *p = v;
	pt__free(*out);
	*out = NULL;
	if (!mpk_read(&p, v + vlen, &o) && o.type == MPK_STR) {
		*out = text_dup((const char *)o.ptr, o.len);
		return *out ? 0 : PT_ENOMEM;
	}
	return json_dup(v, vlen, out);
}

typedef struct {
	pt__report *r;
	size_t ri, si;
	/* (metric, part) -> series index, for this stream: open addressing */
	int32_t slot[4096];
} stream_ctx;

static uint32_t hash_name(const char *s, int64_t part)
{
	uint32_t h = 2166136261u ^ (uint32_t)part;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The series of `name`/`part` in this stream, created on first use; NULL when over a cap. */
static int series_of(stream_ctx *c, const char *name, int64_t part, pt__rseries **out)
{
	pt__report *r = c->r;
	*out = NULL;
	uint32_t h = hash_name(name, part) & 4095;
	for (;; h = (h + 1) & 4095) {
		int32_t i = c->slot[h];
		if (i < 0)
			break;
		pt__rseries *s = &r->series[i];
		if (s->part == part && !strcmp(r->metrics[s->metric], name)) {
			*out = s;
			return 0;
		}
	}
	size_t m = 0;
	while (m < r->nmetrics && strcmp(r->metrics[m], name))
		m++;
	if (m == r->nmetrics) {
		if (r->o.nmetrics) {
			bool want = false;
			for (size_t i = 0; !want && i < r->o.nmetrics; i++)
				want = r->o.metrics[i] && !strcmp(r->o.metrics[i], name);
			if (!want)
				return 0;
		}
		if (r->nmetrics >= PT_REPORT_MAX_METRICS) {
			r->metrics_dropped++;
			return 0;
		}
		char **nm = pt__realloc(r->metrics, (r->nmetrics + 1) * sizeof *nm);
		if (!nm)
			return PT_ENOMEM;
		r->metrics = nm;
		if (!(nm[r->nmetrics] = pt__strdup(name)))
			return PT_ENOMEM;
		r->nmetrics++;
	}
	if (r->nseries >= PT_REPORT_MAX_SERIES) {
		r->series_dropped++;
		return 0;
	}
	if (r->nseries == r->scap) {
		size_t nc = r->scap ? r->scap * 2 : 16;
		pt__rseries *ns = pt__realloc(r->series, nc * sizeof *ns);
		if (!ns)
			return PT_ENOMEM;
		r->series = ns;
		r->scap = nc;
	}
	pt__rseries *s = &r->series[r->nseries];
	memset(s, 0, sizeof *s);
	s->run = c->ri;
	s->stream = c->si;
	s->metric = m;
	s->part = part;
	c->slot[h] = (int32_t)r->nseries++;
	*out = s;
	return 0;
}

static int on_metric(stream_ctx *c, const pt_event_view *ev, int64_t key, bool live, int64_t lineage)
{
	const char *name = pt_ev_name(ev);
	if (!name || key == PT_NO_STEP)
		return 0;
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	double x = 0;
	bool found = false;
	if (!body_open(&b, ev))
		return 0;
	while (!found && body_next(&b, &k, &kl, &v, &vl))
		if (key_is(k, kl, "value"))
			found = val_num(v, vl, &x);
	if (!found)
		return 0;
	pt__rseries *s;
	int rc = series_of(c, name, live ? -1 : lineage, &s);
	if (rc || !s)
		return rc;
	/* keys beyond +-2^62 (absurd steps; wall times after 2116) are left out: the bucket window's
	 * arithmetic (b0 + PT__RB) then never overflows */
	if (!isfinite(x) || (c->r->o.log_scale && x <= 0) || key > PT__RKEY_MAX || key < -PT__RKEY_MAX) {
		s->skipped++;
		return 0;
	}
	return series_add(s, key, x);
}

static int on_decision(stream_ctx *c, pt__rrun *R, const pt_event_view *ev, bool live)
{
	bool room;
	int rc = VEC_ROOM(R->dec, &room);
	if (rc || !room)
		return rc;
	pt__rdecision *d = VEC_LAST(R->dec);
	d->stream = c->si;
	d->seq = pt_ev_seq(ev);
	d->step = pt_ev_step(ev);
	d->time = pt_ev_time(ev);
	d->live = live;
	const char *name = pt_ev_name(ev);
	if (name && !(d->name = text_dup(name, strlen(name))))
		return PT_ENOMEM;
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	if (!body_open(&b, ev))
		return 0;
	while (!rc && body_next(&b, &k, &kl, &v, &vl)) {
		if (key_is(k, kl, "set")) {
			pt__free(d->set);
			d->set = NULL;
			rc = json_dup(v, vl, &d->set);
		} else if (key_is(k, kl, "reason"))
			rc = val_text(v, vl, &d->reason);
		else if (key_is(k, kl, "actor"))
			rc = val_text(v, vl, &d->actor);
	}
	return rc;
}

static int on_checkpoint(stream_ctx *c, pt__rrun *R, const pt_event_view *ev, bool live)
{
	bool room;
	int rc = VEC_ROOM(R->ck, &room);
	if (rc || !room)
		return rc;
	pt__rckpt *k0 = VEC_LAST(R->ck);
	k0->stream = c->si;
	k0->step = pt_ev_step(ev);
	k0->time = pt_ev_time(ev);
	k0->live = live;
	const char *name = pt_ev_name(ev);
	if (name && !(k0->name = text_dup(name, strlen(name))))
		return PT_ENOMEM;
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	if (!body_open(&b, ev))
		return 0;
	while (!rc && body_next(&b, &k, &kl, &v, &vl)) {
		int64_t x;
		if (key_is(k, kl, "manifest"))
			rc = val_text(v, vl, &k0->manifest);
		else if (key_is(k, kl, "logical_bytes") && val_int(v, vl, &x))
			k0->logical_bytes = (uint64_t)x;
	}
	return rc;
}

static int on_lineage(stream_ctx *c, pt__rrun *R, const pt_event_view *ev)
{
	bool room;
	int rc = VEC_ROOM(R->fork, &room);
	if (rc || !room)
		return rc;
	pt__rfork *f = VEC_LAST(R->fork);
	f->stream = c->si;
	f->step = pt_ev_step(ev);
	f->time = pt_ev_time(ev);
	f->lineage = f->parent = -1;
	f->from_step = PT_NO_STEP;
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	if (!body_open(&b, ev))
		return 0;
	while (body_next(&b, &k, &kl, &v, &vl)) {
		int64_t x;
		if (!val_int(v, vl, &x))
			continue;
		if (key_is(k, kl, "lineage"))
			f->lineage = x;
		else if (key_is(k, kl, "parent"))
			f->parent = x;
		else if (key_is(k, kl, "from_step"))
			f->from_step = x;
	}
	return 0;
}

static int on_param(stream_ctx *c, pt__rrun *R, const pt_event_view *ev)
{
	const char *name = pt_ev_name(ev);
	if (!name)
		return 0;
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	if (!body_open(&b, ev))
		return 0;
	while (body_next(&b, &k, &kl, &v, &vl)) {
		if (!key_is(k, kl, "value"))
			continue;
		pt__rparam *p = NULL;
		for (size_t i = 0; i < R->par.n; i++)
			if (R->par.v[i].stream == c->si && !strcmp(R->par.v[i].name, name))
				p = &R->par.v[i];
		if (!p) {
			bool room;
			int rc = VEC_ROOM(R->par, &room);
			if (rc || !room)
				return rc;
			p = VEC_LAST(R->par);
			p->stream = c->si;
			if (!(p->name = text_dup(name, strlen(name))))
				return PT_ENOMEM;
		}
		pt__free(p->value);
		p->value = NULL;
		return json_dup(v, vl, &p->value);
	}
	return 0;
}

/* `artifact` (sha256, size) and `dataset` (its body as JSON) events. */
static int on_artifact(stream_ctx *c, pt__rrun *R, const pt_event_view *ev, const char *kind)
{
	bool room;
	int rc = VEC_ROOM(R->art, &room);
	if (rc || !room)
		return rc;
	pt__rartifact *a = VEC_LAST(R->art);
	a->stream = c->si;
	a->step = pt_ev_step(ev);
	a->time = pt_ev_time(ev);
	const char *name = pt_ev_name(ev);
	if (!(a->kind = pt__strdup(kind)) || (name && !(a->name = text_dup(name, strlen(name)))))
		return PT_ENOMEM;
	const void *body;
	size_t len;
	if (strcmp(kind, "artifact")) {
		if (pt_ev_body_msgpack(ev, &body, &len))
			return 0;
		return json_dup(body, len, &a->detail);
	}
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	char *sha = NULL;
	int64_t size = -1;
	if (body_open(&b, ev))
		while (!rc && body_next(&b, &k, &kl, &v, &vl)) {
			if (key_is(k, kl, "sha256"))
				rc = val_text(v, vl, &sha);
			else if (key_is(k, kl, "size"))
				val_int(v, vl, &size);
		}
	if (!rc && !(a->detail = pt__sprintf("sha256 %s, %lld bytes", sha ? sha : "?", (long long)size)))
		rc = PT_ENOMEM;
	pt__free(sha);
	return rc;
}

/* A `run_end` ends the stream's session: "failed" when its body says so, else finished. */
static int run_end_of(const pt_event_view *ev)
{
	body_it b;
	const char *k;
	size_t kl, vl;
	const uint8_t *v;
	mpk_obj o;
	int end = 1;
	if (body_open(&b, ev))
		while (body_next(&b, &k, &kl, &v, &vl)) {
			const uint8_t *p = v;
			if (key_is(k, kl, "status") && !mpk_read(&p, v + vl, &o) && o.type == MPK_STR && o.len == 6 &&
			    !memcmp(o.ptr, "failed", 6))
				end = 2;
		}
	return end;
}

/* The live path's seq ranges of a stream (lo, hi pairs), and the last seq at the time. */
typedef struct {
	uint64_t *r;
	size_t n;
	uint64_t last;
} live_ranges;

static int live_ranges_load(const pt_store *st, const char *run, const char *stream, live_ranges *out)
{
	pt_replay *rp = NULL;
	pt_replay_options ro = PT_REPLAY_OPTIONS_INIT;
	ro.stream = stream;
	int rc = pt_replay_open(&rp, st, run, NULL, &ro);
	if (rc)
		return rc;
	size_t n = pt__replay_path_n(rp);
	out->r = pt__calloc(n ? 2 * n : 1, sizeof *out->r);
	if (!out->r) {
		pt_replay_free(rp);
		return PT_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pt__replay_path_range(rp, i, &out->r[2 * i], &out->r[2 * i + 1]);
	out->n = n;
	out->last = pt__replay_last_seq(rp);
	pt_replay_free(rp);
	return 0;
}

static bool is_live(const live_ranges *lr, uint64_t seq, size_t *cursor)
{
	if (seq > lr->last)
		return true; /* appended after we looked: the lineage live now */
	if (*cursor < lr->n && seq >= lr->r[2 * *cursor] && seq <= lr->r[2 * *cursor + 1])
		return true;
	for (size_t i = 0; i < lr->n; i++)
		if (seq >= lr->r[2 * i] && seq <= lr->r[2 * i + 1]) {
			*cursor = i;
			return true;
		}
	return false;
}

/* Read seqs lo..hi of stream `si` of run `ri` into `r`: the one pass over the events.  `*end`: the
 * last session's end seen in the range (-1: no event), `*lineages` the stream's lineage count. */
static int read_range(pt__report *r, size_t ri, size_t si, const pt_store *st, const live_ranges *lr, uint64_t lo,
		      uint64_t hi, int *end, size_t *lineages)
{
	pt__rrun *R = &r->runs[ri];
	const pt__rstream *S = &R->streams[si];
	stream_ctx *c = pt__malloc(sizeof *c);
	pt_lineage_iter *it = NULL;
	if (!c)
		return PT_ENOMEM;
	c->r = r;
	c->ri = ri;
	c->si = si;
	memset(c->slot, 0xff, sizeof c->slot);
	size_t cursor = 0;
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.seq_min = lo;
	o.seq_max = hi;
	int rc = pt_lineage_iter_open(&it, st, R->name, S->name, &o, 0);
	if (rc)
		goto done;
	*lineages = pt_lineage_iter_lineages(it);
	const pt_event_view *ev;
	int64_t lineage;
	while ((rc = pt_lineage_iter_next(it, &ev, &lineage)) == 0) {
		uint64_t seq = pt_ev_seq(ev);
		if (seq > hi)
			break; /* stop at the end we looked at: a live writer may go on forever */
		bool live = is_live(lr, seq, &cursor);
		const char *kind = pt_ev_kind(ev);
		if (strcmp(kind, "run_end"))
			*end = 0; /* a later session: an end recorded before is not the stream's end */
		switch (kind[0]) {
		case 'm':
			if (!strcmp(kind, "metric"))
				rc = on_metric(c, ev, r->o.x_time ? pt_ev_time(ev) : pt_ev_step(ev), live, lineage);
			break;
		case 'd':
			if (!strcmp(kind, "decision"))
				rc = on_decision(c, R, ev, live);
			else if (!strcmp(kind, "dataset"))
				rc = on_artifact(c, R, ev, kind);
			break;
		case 'c':
			if (!strcmp(kind, "checkpoint"))
				rc = on_checkpoint(c, R, ev, live);
			else if (!strcmp(kind, "code") && !R->has_code) {
				R->has_code = true;
				R->code_stream = si;
			}
			break;
		case 'l':
			if (!strcmp(kind, "lineage"))
				rc = on_lineage(c, R, ev);
			break;
		case 'p':
			if (!strcmp(kind, "param") && live)
				rc = on_param(c, R, ev);
			break;
		case 'a':
			if (!strcmp(kind, "artifact"))
				rc = on_artifact(c, R, ev, kind);
			break;
		case 'r':
			if (!strcmp(kind, "run_end"))
				*end = run_end_of(ev);
			break;
		default:
			break;
		}
		if (rc)
			break;
	}
	if (rc == PT_ITEROVER)
		rc = 0;
done:
	pt_lineage_iter_free(it);
	pt__free(c);
	return rc;
}

/* One half of a long stream, read on its own thread into a model of its own (one run that
 * borrows the real run's name and streams). */
typedef struct {
	pt__report P; /* P.runs: one run */
	const pt_store *st;
	const live_ranges *lr;
	size_t si, lineages;
	uint64_t lo, hi;
	int end, rc;
	char msg[256]; /* the error message (thread-local where it was set) */
} part;

static void *part_main(void *arg)
{
	part *pa = arg;
	pa->rc = read_range(&pa->P, 0, pa->si, pa->st, pa->lr, pa->lo, pa->hi, &pa->end, &pa->lineages);
	if (pa->rc)
		snprintf(pa->msg, sizeof pa->msg, "%s", pt_error_last());
	return NULL;
}

static void part_free(part *pa)
{
	/* the borrowed name and streams are not the part's to free */
	if (pa->P.runs) {
		pa->P.runs[0].name = NULL;
		pa->P.runs[0].streams = NULL;
		pa->P.runs[0].nstreams = 0;
	}
	pt__report_free(&pa->P);
}

/* Move the rows of `from` after those of `to` (capped like the reading: the total counts all). */
#define MERGE_ROWS(to, from)                                                                            \
	do {                                                                                            \
		for (size_t i_ = 0; i_ < (from).n; i_++) {                                              \
			bool room_;                                                                     \
			size_t total_ = (to).total;                                                     \
			if ((rc = VEC_ROOM(to, &room_)))                                                \
				return rc;                                                              \
			(to).total = total_;                                                            \
			if (room_) {                                                                    \
				*VEC_LAST(to) = (from).v[i_];                                           \
				memset(&(from).v[i_], 0, sizeof (from).v[i_]);                         \
			}                                                                               \
		}                                                                                       \
		(to).total += (from).total;                                                             \
	} while (0)

/* Merge a part into run `ri` of `r`, after what is there (the parts are merged in seq order). */
static int merge_part(pt__report *r, size_t ri, size_t si, part *pa)
{
	pt__rrun *R = &r->runs[ri], *F = &pa->P.runs[0];
	int rc = 0;
	MERGE_ROWS(R->dec, F->dec);
	MERGE_ROWS(R->ck, F->ck);
	MERGE_ROWS(R->fork, F->fork);
	MERGE_ROWS(R->art, F->art);
	/* params: a later value of the same name replaces the earlier one */
	for (size_t i = 0; i < F->par.n; i++) {
		pt__rparam *p = &F->par.v[i], *q = NULL;
		for (size_t j = 0; j < R->par.n && !q; j++)
			if (R->par.v[j].stream == p->stream && !strcmp(R->par.v[j].name, p->name))
				q = &R->par.v[j];
		if (q) {
			pt__free(q->value);
			q->value = p->value;
			p->value = NULL;
			continue;
		}
		bool room;
		size_t total = R->par.total;
		if ((rc = VEC_ROOM(R->par, &room)))
			return rc;
		R->par.total = total + 1;
		if (room) {
			*VEC_LAST(R->par) = *p;
			memset(p, 0, sizeof *p);
		}
	}
	if (F->has_code && !R->has_code) {
		R->has_code = true;
		R->code_stream = F->code_stream;
	}
	/* series: each bucket's two extremes go into the run's series of the same metric and part, so
	 * every minimum and maximum survives the merge exactly */
	pt__report *P = &pa->P;
	for (size_t i = 0; i < P->nseries; i++) {
		const pt__rseries *b = &P->series[i];
		stream_ctx c;
		c.r = r;
		c.ri = ri;
		c.si = si;
		memset(c.slot, 0xff, sizeof c.slot);
		pt__rseries *s = NULL;
		/* the run's series of this stream, metric and part, if any (a linear search: few series) */
		for (size_t k = 0; k < r->nseries && !s; k++) {
			pt__rseries *t = &r->series[k];
			if (t->run == ri && t->stream == si && t->part == b->part &&
			    !strcmp(r->metrics[t->metric], P->metrics[b->metric]))
				s = t;
		}
		if (!s && (rc = series_of(&c, P->metrics[b->metric], b->part, &s)))
			return rc;
		if (!s)
			continue; /* over a cap (counted by series_of) */
		s->skipped += b->skipped;
		for (size_t k = 0; b->b && k < PT__RB; k++) {
			const pt__rbucket *x = &b->b[k];
			if (!x->n)
				continue;
			uint64_t n0 = s->n;
			if ((rc = series_add(s, x->kmin, x->vmin)))
				return rc;
			if ((x->kmax != x->kmin || x->vmax != x->vmin) && (rc = series_add(s, x->kmax, x->vmax)))
				return rc;
			s->n = n0 + x->n;
		}
		/* the keys' range is the part's, not only its extremes' */
		if (b->n && b->kmin < s->kmin)
			s->kmin = b->kmin;
		if (b->n && b->kmax > s->kmax)
			s->kmax = b->kmax;
	}
	r->series_dropped += P->series_dropped;
	r->metrics_dropped += P->metrics_dropped;
	return 0;
}

static int read_stream(pt__report *r, const pt_store *st, size_t ri, size_t si)
{
	pt__rrun *R = &r->runs[ri];
	pt__rstream *S = &R->streams[si];
	int rc = pt_stream_stat(st, R->name, S->name, &S->info);
	if (rc)
		return rc;
	/* the chain's head: the newest sealed segment */
	pt__history h;
	if ((rc = pt__history_load(&h, st, R->name, S->name, true)))
		return rc;
	if (h.chain.n) {
		pt__hex(h.chain.v[h.chain.n - 1].id, PT_SHA256_LEN, S->head);
		S->head_last_seq = h.chain.v[h.chain.n - 1].last_seq;
	}
	pt__history_free(&h);
	S->open_tail = !S->info.writer_active && S->info.seq_last > S->head_last_seq;
	if (!S->info.events)
		return 0;
	R->events += S->info.events;
	if (!R->tmin || S->info.time_min < R->tmin)
		R->tmin = S->info.time_min;
	if (S->info.time_max > R->tmax)
		R->tmax = S->info.time_max;

	live_ranges lr = {0};
	if ((rc = live_ranges_load(st, R->name, S->name, &lr)))
		return rc;
	uint64_t first = S->info.seq_first, last = S->info.seq_last;
	int end = -1;
	if (last - first + 1 < PT__RSPLIT_MIN) {
		rc = read_range(r, ri, si, st, &lr, first, last, &end, &S->lineages);
	} else {
		/* two halves of the stream on two threads, each into a model of its own, merged in order */
		part parts[2];
		memset(parts, 0, sizeof parts);
		uint64_t mid = first + (last - first) / 2;
		for (int k = 0; k < 2; k++) {
			part *pa = &parts[k];
			pa->P.o = r->o;
			if (!(pa->P.runs = pt__calloc(1, sizeof *pa->P.runs))) {
				part_free(&parts[0]);
				part_free(&parts[1]);
				pt__free(lr.r);
				return PT_ENOMEM;
			}
			pa->P.runs[0].name = R->name;
			pa->P.runs[0].streams = R->streams;
			pa->P.runs[0].nstreams = R->nstreams;
			pa->P.nruns = 1;
			pa->st = st;
			pa->lr = &lr;
			pa->si = si;
			pa->lo = k ? mid + 1 : first;
			pa->hi = k ? last : mid;
			pa->end = -1;
		}
		pthread_t th;
		bool started = !pthread_create(&th, NULL, part_main, &parts[1]);
		part_main(&parts[0]);
		if (started)
			pthread_join(th, NULL);
		else
			part_main(&parts[1]);
		rc = parts[0].rc ? parts[0].rc : parts[1].rc;
		if (rc && rc != PT_ENOMEM)
			rc = pt__err(rc, "%s", parts[0].rc ? parts[0].msg : parts[1].msg);
		for (int k = 0; k < 2; k++) {
			if (!rc)
				rc = merge_part(r, ri, si, &parts[k]);
			if (parts[k].end >= 0)
				end = parts[k].end;
			if (parts[k].lineages > S->lineages)
				S->lineages = parts[k].lineages;
			part_free(&parts[k]);
		}
	}
	S->end = end < 0 ? 0 : end;
	pt__free(lr.r);
	return rc;
}

typedef struct {
	pt__rrun *R;
} verify_ctx;

static int on_problem(const pt_problem *p, void *payload)
{
	verify_ctx *v = payload;
	if (v->R->nproblems < PT__RPROBLEMS) {
		char *s = pt__sprintf("%s %s%s%s @%llu: %s", p->severity == PT_SEVERITY_ERROR ? "error" : "warning",
				      pt_error_name(p->code), p->object ? " " : "", p->object ? p->object : "",
				      (unsigned long long)p->offset, p->message ? p->message : "");
		if (s)
			v->R->problems[v->R->nproblems++] = s;
	}
	return 0;
}

static int read_run(pt__report *r, const pt_store *st, size_t ri)
{
	pt__rrun *R = &r->runs[ri];
	char **names = NULL;
	size_t n = 0;
	int rc = pt_store_streams(st, R->name, &names, &n);
	if (rc)
		return rc;
	if (!(R->streams = pt__calloc(n ? n : 1, sizeof *R->streams))) {
		pt_strv_free(names, n);
		return PT_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		R->streams[i].name = names[i];
		names[i] = NULL;
	}
	R->nstreams = n;
	pt_strv_free(names, n);
	bool running = false, any = false, failed = false, crashed = false;
	for (size_t i = 0; i < R->nstreams && !rc; i++) {
		const pt__rstream *S = &R->streams[i];
		rc = read_stream(r, st, ri, i);
		running |= S->info.writer_active != 0;
		if (!S->info.events)
			continue;
		any = true;
		failed |= S->end == 2;
		crashed |= S->end == 0;
	}
	if (rc)
		return rc;
	/* the rule of the run summaries (runs/fields.c, pt__rs_status), so `runs` and the page agree */
	R->status = running ? "running" : !any ? "empty" : failed ? "failed" : crashed ? "crashed" : "finished";
	if (R->has_code) {
		int crc = pt_code_read(&R->code, st, R->name, R->streams[R->code_stream].name);
		if (crc == PT_ENOMEM)
			return crc;
		if (crc)
			R->code = NULL; /* a body that is not a `code` body: shown as absent */
	}
	return 0;
}

/* Verification of every run, on its own thread while the events are read (the two take about as
 * long; on a machine with a free core the report costs the longer of them, not their sum). */
typedef struct {
	pt__report *r;
	const pt_store *st;
	pthread_t th;
	bool started;
	int rc;
} verifier;

static void *verify_main(void *arg)
{
	verifier *vf = arg;
	pt_store *own = NULL;
	/* a handle of its own: nothing of the caller's handle is shared between the threads */
	int rc = pt_store_open(&own, pt_store_path(vf->st));
	for (size_t i = 0; !rc && i < vf->r->nruns; i++) {
		pt__rrun *R = &vf->r->runs[i];
		verify_ctx v = {R};
		R->verified = true;
		R->verify_rc = pt_verify_report(own, R->name, NULL, on_problem, &v, &R->vstats, NULL, NULL);
		if (R->verify_rc == PT_ENOMEM)
			rc = PT_ENOMEM;
		else if (R->verify_rc && !(R->verify_error = pt__strdup(pt_error_last())))
			rc = PT_ENOMEM;
	}
	pt_store_free(own);
	vf->rc = rc;
	return NULL;
}

int pt__report_collect(pt__report *r, const pt_store *st, const char *const *runs, size_t nruns)
{
	if (!(r->runs = pt__calloc(nruns, sizeof *r->runs)))
		return PT_ENOMEM;
	r->nruns = nruns;
	for (size_t i = 0; i < nruns; i++)
		if (!(r->runs[i].name = pt__strdup(runs[i])))
			return PT_ENOMEM;
	/* every run must exist before the verifier is let loose on the store */
	for (size_t i = 0; i < nruns; i++) {
		char **names = NULL;
		size_t n = 0;
		int rc = pt_store_streams(st, runs[i], &names, &n);
		pt_strv_free(names, n);
		if (rc)
			return rc == PT_ENOMEM ? rc : pt__err_wrap(rc, "report: run %s", runs[i]);
	}
	verifier vf = {r, st, 0, false, 0};
	if (r->o.verify) {
		if (pthread_create(&vf.th, NULL, verify_main, &vf))
			verify_main(&vf); /* no thread: verify here, after all */
		else
			vf.started = true;
	}
	int rc = 0;
	for (size_t i = 0; i < nruns && !rc; i++) {
		rc = read_run(r, st, i);
		if (rc && rc != PT_ENOMEM)
			rc = pt__err_wrap(rc, "report: run %s", runs[i]);
	}
	if (vf.started)
		pthread_join(vf.th, NULL);
	if (!rc && vf.rc)
		rc = pt__err(vf.rc, "report: verification: %s", pt_error_name(vf.rc));
	return rc;
}

void pt__report_free(pt__report *r)
{
	for (size_t i = 0; i < r->nseries; i++)
		pt__free(r->series[i].b);
	pt__free(r->series);
	for (size_t i = 0; i < r->nmetrics; i++)
		pt__free(r->metrics[i]);
	pt__free(r->metrics);
	for (size_t i = 0; i < r->nruns; i++) {
		pt__rrun *R = &r->runs[i];
		pt__free(R->name);
		for (size_t k = 0; k < R->nstreams; k++)
			pt__free(R->streams[k].name);
		pt__free(R->streams);
		for (size_t k = 0; k < R->dec.n; k++) {
			pt__free(R->dec.v[k].name);
			pt__free(R->dec.v[k].set);
			pt__free(R->dec.v[k].reason);
			pt__free(R->dec.v[k].actor);
		}
		pt__free(R->dec.v);
		for (size_t k = 0; k < R->ck.n; k++) {
			pt__free(R->ck.v[k].name);
			pt__free(R->ck.v[k].manifest);
		}
		pt__free(R->ck.v);
		pt__free(R->fork.v);
		for (size_t k = 0; k < R->par.n; k++) {
			pt__free(R->par.v[k].name);
			pt__free(R->par.v[k].value);
		}
		pt__free(R->par.v);
		for (size_t k = 0; k < R->art.n; k++) {
			pt__free(R->art.v[k].kind);
			pt__free(R->art.v[k].name);
			pt__free(R->art.v[k].detail);
		}
		pt__free(R->art.v);
		pt_code_provenance_free(R->code);
		pt__free(R->verify_error);
		for (size_t k = 0; k < R->nproblems; k++)
			pt__free(R->problems[k]);
	}
	pt__free(r->runs);
	memset(r, 0, sizeof *r);
}
