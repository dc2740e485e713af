/*
 * runs/summary.c - per-run summaries kept beside the run (RUN/.summary), the
 * owner of that file's format (docs/FORMAT.md, "Run summaries").
 *
 * Why a file per run: a query over 10,000 runs must not read 10,000 runs'
 * events.  With the file, a query costs per run one small read and, per
 * stream, two stats and a lock test (pt__history_fingerprint); only a
 * stream whose fingerprint changed is read again, and only from the last
 * event summarised (its seq and time are checked first, so a run deleted
 * and recorded again under the same name is rebuilt, not appended to).
 * A `lineage` event among the new ones (a resume) changes the live path
 * backwards, so that stream is rebuilt from its live path.  The file is a
 * cache: damaged, missing, of another version or unwritable, the summary
 * is rebuilt from the log and the answer is the same.
 */
#include "runs/runs_int.h"

#include "base/mpk_int.h"
#include "code/code_int.h"
#include "format/json_int.h"
#include "log/history_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUMMARY_FILE ".summary"
#define SUMMARY_MAGIC "PTRS"
#define SUMMARY_VERSION 1
#define SUMMARY_MAX (256u << 20)
#define DEPTH 64

/* ---- names ----------------------------------------------------------------------------- */
static uint64_t hash_key(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	return h;
}

long pt__rs_names_find(const pt__rs_names *m, const char *key, size_t klen)
{
	if (!m->nslots)
		return -1;
	for (size_t i = hash_key(key, klen) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		uint32_t s = m->slots[i];
		if (!s)
			return -1;
		const char *k = m->keys[s - 1];
		if (!strncmp(k, key, klen) && k[klen] == 0)
			return (long)s - 1;
	}
}

int pt__rs_names_add(pt__rs_names *m, const char *key, size_t klen, size_t *idx, bool *created)
{
	long f = pt__rs_names_find(m, key, klen);
	*created = f < 0;
	if (f >= 0) {
		*idx = (size_t)f;
		return 0;
	}
	if (memchr(key, 0, klen))
		return pt__err(PT_EINVAL, "a name holds a NUL byte");
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 8;
		char **nk = pt__realloc(m->keys, nc * sizeof *nk);
		if (!nk)
			return PT_ENOMEM;
		m->keys = nk;
		m->cap = nc;
	}
	if ((m->n + 1) * 2 > m->nslots) {
		size_t ns = m->nslots ? m->nslots * 2 : 16;
		while ((m->n + 1) * 2 > ns)
			ns *= 2;
		uint32_t *sl = pt__calloc(ns, sizeof *sl);
		if (!sl)
			return PT_ENOMEM;
		for (size_t j = 0; j < m->n; j++) {
			size_t i = hash_key(m->keys[j], strlen(m->keys[j])) & (ns - 1);
			while (sl[i])
				i = (i + 1) & (ns - 1);
			sl[i] = (uint32_t)j + 1;
		}
		pt__free(m->slots);
		m->slots = sl;
		m->nslots = ns;
	}
	char *k = pt__strndup(key, klen);
	if (!k)
		return PT_ENOMEM;
	size_t i = hash_key(key, klen) & (m->nslots - 1);
	while (m->slots[i])
		i = (i + 1) & (m->nslots - 1);
	m->keys[m->n] = k;
	m->slots[i] = (uint32_t)m->n + 1;
	*idx = m->n++;
	return 0;
}

void pt__rs_names_free(pt__rs_names *m)
{
	for (size_t i = 0; i < m->n; i++)
		pt__free(m->keys[i]);
	pt__free(m->keys);
	pt__free(m->slots);
	memset(m, 0, sizeof *m);
}

/* ---- one stream's summary -------------------------------------------------------------- */
static void stream_clear(pt__rs_stream *s)
{
	for (size_t i = 0; i < s->pnames.n; i++)
		pt__free(s->params[i].val);
	for (size_t i = 0; i < s->tnames.n; i++)
		pt__free(s->tags[i].val);
	pt__free(s->params);
	pt__free(s->metrics);
	pt__free(s->tags);
	pt__rs_names_free(&s->pnames);
	pt__rs_names_free(&s->mnames);
	pt__rs_names_free(&s->tnames);
	pt__free(s->note);
	pt__free(s->commit);
	pt__free(s->err_type);
	pt__free(s->err_msg);
	pt__buf_free(&s->dec);
	char *name = s->name;
	memset(s, 0, sizeof *s);
	s->name = name;
	s->step_max = PT_NO_STEP;
	s->lineages = 1;
	s->dirty = -1;
}

static void stream_free(pt__rs_stream *s)
{
	stream_clear(s);
	pt__free(s->name);
	s->name = NULL;
}

void pt__rs_run_free(pt__rs_run *r)
{
	for (size_t i = 0; r && i < r->n; i++)
		stream_free(&r->s[i]);
	if (r) {
		pt__free(r->s);
		pt__free(r->run);
		memset(r, 0, sizeof *r);
	}
}

/* Grow the value array of a names map after an insertion. */
static int grow_vals(void **arr, size_t cap, size_t elem, size_t *have)
{
	if (*have >= cap)
		return 0;
	void *n = pt__realloc(*arr, cap * elem);
	if (!n)
		return PT_ENOMEM;
	memset((char *)n + *have * elem, 0, (cap - *have) * elem);
	*arr = n;
	*have = cap;
	return 0;
}

typedef struct {
	size_t pcap, mcap, tcap; /* allocated slots of params/metrics/tags (not stored) */
} caps;

static int set_val(pt__rs_val *v, const uint8_t *val, size_t len, int64_t time)
{
	uint8_t *c = pt__malloc(len ? len : 1);
	if (!c)
		return PT_ENOMEM;
	memcpy(c, val, len);
	pt__free(v->val);
	v->val = c;
	v->len = len;
	v->time = time;
	return 0;
}

static int put_param(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl, int64_t time)
{
	size_t idx;
	bool created;
	int rc = pt__rs_names_add(&s->pnames, k, kl, &idx, &created);
	if (!rc)
		rc = grow_vals((void **)&s->params, s->pnames.cap, sizeof *s->params, &c->pcap);
	return rc ? rc : set_val(&s->params[idx], v, vl, time);
}

static int put_tag(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl, int64_t time)
{
	size_t idx;
	bool created;
	int rc = pt__rs_names_add(&s->tnames, k, kl, &idx, &created);
	if (!rc)
		rc = grow_vals((void **)&s->tags, s->tnames.cap, sizeof *s->tags, &c->tcap);
	return rc ? rc : set_val(&s->tags[idx], v, vl, time);
}

static int put_metric(pt__rs_stream *s, caps *c, const char *k, size_t kl, double d, int64_t step, int64_t time)
{
	size_t idx;
	bool created;
	int rc = pt__rs_names_add(&s->mnames, k, kl, &idx, &created);
	if (!rc)
		rc = grow_vals((void **)&s->metrics, s->mnames.cap, sizeof *s->metrics, &c->mcap);
	if (rc)
		return rc;
	pt__rs_metric *m = &s->metrics[idx];
	m->last = d;
	m->last_step = step;
	m->last_time = time;
	m->n++;
	if (!isnan(d)) {
		if (!m->has_range || d < m->min)
			m->min = d;
		if (!m->has_range || d > m->max)
			m->max = d;
		m->has_range = true;
	}
	return 0;
}

/* Raw value of `key` in body map [p, end); false if absent or malformed. */
static bool body_get(const uint8_t *p, const uint8_t *end, const char *key, const uint8_t **v, size_t *vl)
{
	mpk_obj o;
	size_t kl = strlen(key);
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return false;
	for (uint32_t i = 0, n = o.len; i < n; i++) {
		mpk_obj k;
		if (mpk_read(&p, end, &k))
			return false;
		const uint8_t *vs = p;
		if (mpk_skip(&p, end, DEPTH))
			return false;
		if (k.type == MPK_STR && k.len == kl && !memcmp(k.ptr, key, kl)) {
			*v = vs;
			*vl = (size_t)(p - vs);
			return true;
		}
	}
	return false;
}

static bool num_of(const uint8_t *v, size_t vl, double *d)
{
	mpk_obj o;
	const uint8_t *p = v;
	if (mpk_read(&p, v + vl, &o))
		return false;
	switch (o.type) {
	case MPK_UINT: *d = (double)o.u; return true;
	case MPK_INT: *d = (double)o.i; return true;
	case MPK_FLOAT32:
	case MPK_FLOAT64: *d = o.d; return true;
	default: return false;
	}
}

static char *str_of(const uint8_t *v, size_t vl)
{
	mpk_obj o;
	const uint8_t *p = v;
	if (mpk_read(&p, v + vl, &o) || o.type != MPK_STR || memchr(o.ptr, 0, o.len))
		return NULL;
	return pt__strndup((const char *)o.ptr, o.len);
}

typedef int (*kv_fn)(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl,
		     const pt_event_view *ev);

static int each_kv(pt__rs_stream *s, caps *c, const uint8_t *p, const uint8_t *end, kv_fn fn, const pt_event_view *ev)
{
	mpk_obj o;
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return 0;
	for (uint32_t i = 0, n = o.len; i < n; i++) {
		mpk_obj k;
		if (mpk_read(&p, end, &k))
			return 0;
		const uint8_t *vs = p;
		if (mpk_skip(&p, end, DEPTH))
			return 0;
		if (k.type != MPK_STR || !k.len || memchr(k.ptr, 0, k.len))
			continue;
		int rc = fn(s, c, (const char *)k.ptr, k.len, vs, (size_t)(p - vs), ev);
		if (rc)
			return rc;
	}
	return 0;
}

static int kv_param(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl,
		    const pt_event_view *ev)
{
	return put_param(s, c, k, kl, v, vl, pt_ev_time(ev));
}

static int kv_metric(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl,
		     const pt_event_view *ev)
{
	double d;
	return num_of(v, vl, &d) ? put_metric(s, c, k, kl, d, pt_ev_step(ev), pt_ev_time(ev)) : 0;
}

static int kv_tag(pt__rs_stream *s, caps *c, const char *k, size_t kl, const uint8_t *v, size_t vl,
		  const pt_event_view *ev)
{
	return put_tag(s, c, k, kl, v, vl, pt_ev_time(ev));
}

static void put_raw_str(pt__buf *b, int *rc, const char *s)
{
	uint8_t h[MPK_MAX_HDR];
	size_t n = strlen(s);
	if (!*rc)
		*rc = pt__buf_append(b, h, (size_t)(mpk_str_hdr(h, (uint32_t)n) - h));
	if (!*rc)
		*rc = pt__buf_append(b, s, n);
}

static void put_raw_int(pt__buf *b, int *rc, int64_t v)
{
	uint8_t h[MPK_MAX_HDR];
	if (!*rc)
		*rc = pt__buf_append(b, h, (size_t)(mpk_int(h, v) - h));
}

static void put_raw(pt__buf *b, int *rc, const uint8_t *v, size_t vl)
{
	static const uint8_t nil = 0xc0;
	if (!*rc)
		*rc = v ? pt__buf_append(b, v, vl) : pt__buf_append(b, &nil, 1);
}

/* Keep the decision as {seq, time, step, stream, name, set, reason, actor}; the oldest goes past 100. */
static int keep_decision(pt__rs_stream *s, const pt_event_view *ev, const uint8_t *body, const uint8_t *end)
{
	const uint8_t *set = NULL, *reason = NULL, *actor = NULL;
	size_t setl = 0, reasonl = 0, actorl = 0;
	body_get(body, end, "set", &set, &setl);
	body_get(body, end, "reason", &reason, &reasonl);
	body_get(body, end, "actor", &actor, &actorl);
	if (s->ndec >= PT_RS_DECISIONS_KEPT) {
		const uint8_t *p = s->dec.data;
		if (mpk_skip(&p, s->dec.data + s->dec.len, DEPTH + 2))
			return pt__err(PT_ECORRUPT, "run summary: a kept decision does not decode");
		size_t cut = (size_t)(p - s->dec.data);
		memmove(s->dec.data, p, s->dec.len - cut);
		s->dec.len -= cut;
		s->ndec--;
	}
	uint8_t h[MPK_MAX_HDR];
	int rc = pt__buf_append(&s->dec, h, (size_t)(mpk_map_hdr(h, 8) - h));
	put_raw_str(&s->dec, &rc, "seq");
	put_raw_int(&s->dec, &rc, (int64_t)pt_ev_seq(ev));
	put_raw_str(&s->dec, &rc, "time");
	put_raw_int(&s->dec, &rc, pt_ev_time(ev));
	put_raw_str(&s->dec, &rc, "step");
	if (pt_ev_step(ev) == PT_NO_STEP)
		put_raw(&s->dec, &rc, NULL, 0);
	else
		put_raw_int(&s->dec, &rc, pt_ev_step(ev));
	put_raw_str(&s->dec, &rc, "stream");
	put_raw_str(&s->dec, &rc, s->name);
	put_raw_str(&s->dec, &rc, "name");
	if (pt_ev_name(ev))
		put_raw_str(&s->dec, &rc, pt_ev_name(ev));
	else
		put_raw(&s->dec, &rc, NULL, 0);
	put_raw_str(&s->dec, &rc, "set");
	put_raw(&s->dec, &rc, set, setl);
	put_raw_str(&s->dec, &rc, "reason");
	put_raw(&s->dec, &rc, reason, reasonl);
	put_raw_str(&s->dec, &rc, "actor");
	put_raw(&s->dec, &rc, actor, actorl);
	if (!rc)
		s->ndec++;
	return rc;
}

static bool kind_is(const char *k, const char *what) { return !strcmp(k, what); }

/* Fold one event into the stream's summary (the semantics of docs/CLI.md "runs --where"). */
static int apply(pt__rs_stream *s, caps *c, const pt_event_view *ev)
{
	const char *kind = pt_ev_kind(ev), *name = pt_ev_name(ev);
	if (kind_is(kind, "snapshot"))
		return 0;
	const void *bp;
	size_t bl;
	if (pt_ev_body_msgpack(ev, &bp, &bl))
		return pt__err(PT_ECORRUPT, "run summary: event %llu has no body", (unsigned long long)pt_ev_seq(ev));
	const uint8_t *body = bp, *end = body + bl;
	int64_t t = pt_ev_time(ev), step = pt_ev_step(ev);
	s->seq = pt_ev_seq(ev);
	s->seq_time = t;
	/* a tag or note added after the end annotates the run: it does not make it longer */
	bool annotation = s->end != PT_RS_END_NONE && (kind_is(kind, "tag") || kind_is(kind, "note"));
	if (!s->events || t < s->t0)
		s->t0 = t;
	if (!s->events || (t > s->t1 && !annotation))
		s->t1 = t;
	s->events++;
	if (step != PT_NO_STEP && (s->step_max == PT_NO_STEP || step > s->step_max))
		s->step_max = step;
	if (s->end != PT_RS_END_NONE && !kind_is(kind, "run_end") && !kind_is(kind, "tag") && !kind_is(kind, "note")) {
		/* a later session: the end recorded before is not the run's end */
		s->end = PT_RS_END_NONE;
		pt__free(s->err_type);
		pt__free(s->err_msg);
		s->err_type = s->err_msg = NULL;
	}
	const uint8_t *v;
	size_t vl;
	int rc = 0;
	if (kind_is(kind, "param") || kind_is(kind, "metric") || kind_is(kind, "tag")) {
		bool metric = kind[0] == 'm', tag = kind[0] == 't';
		if (name) {
			if (!body_get(body, end, "value", &v, &vl))
				v = body, vl = bl;
			double d;
			if (metric)
				rc = num_of(v, vl, &d) ? put_metric(s, c, name, strlen(name), d, step, t) : 0;
			else
				rc = tag ? put_tag(s, c, name, strlen(name), v, vl, t) : put_param(s, c, name, strlen(name), v, vl, t);
		} else {
			rc = each_kv(s, c, body, end, metric ? kv_metric : tag ? kv_tag : kv_param, ev);
		}
	} else if (kind_is(kind, "decision")) {
		s->decisions_total++;
		if (body_get(body, end, "set", &v, &vl))
			rc = each_kv(s, c, v, v + vl, kv_param, ev);
		if (!rc)
			rc = keep_decision(s, ev, body, end);
	} else if (kind_is(kind, "lineage")) {
		s->lineages++;
	} else if (kind_is(kind, "note")) {
		char *text = NULL;
		if (body_get(body, end, "text", &v, &vl) && (text = str_of(v, vl))) {
			pt__free(s->note);
			s->note = text;
			s->note_time = t;
		}
	} else if (kind_is(kind, "code")) {
		pt_code_provenance *p = NULL;
		if (!pt__code_from_body(&p, body, bl)) {
			char *cm = p->commit ? pt__strdup(p->commit) : NULL;
			if (p->commit && !cm)
				rc = PT_ENOMEM;
			else {
				pt__free(s->commit);
				s->commit = cm;
				s->dirty = p->dirty;
				s->has_code = 1;
			}
			pt_code_provenance_free(p);
		}
		pt__err_clear();
	} else if (kind_is(kind, "run_end")) {
		char *st = body_get(body, end, "status", &v, &vl) ? str_of(v, vl) : NULL;
		s->end = st && !strcmp(st, "failed") ? PT_RS_END_FAILED : PT_RS_END_FINISHED;
		pt__free(st);
		pt__free(s->err_type);
		pt__free(s->err_msg);
		s->err_type = body_get(body, end, "error_type", &v, &vl) ? str_of(v, vl) : NULL;
		s->err_msg = body_get(body, end, "error", &v, &vl) ? str_of(v, vl) : NULL;
		s->end_time = t;
	}
	return rc;
}

static void caps_of(const pt__rs_stream *s, caps *c)
{
	c->pcap = s->params ? s->pnames.cap : 0;
	c->mcap = s->metrics ? s->mnames.cap : 0;
	c->tcap = s->tags ? s->tnames.cap : 0;
}

/* The stream's summary from its live path. */
static int rebuild(const pt_store *st, const char *run, pt__rs_stream *s)
{
	stream_clear(s);
	caps c = {0, 0, 0};
	pt_lineage_iter *it = NULL;
	int rc = pt_lineage_iter_open(&it, st, run, s->name, NULL, 1);
	const pt_event_view *ev;
	while (!rc && (rc = pt_lineage_iter_next(it, &ev, NULL)) == 0)
		rc = apply(s, &c, ev);
	pt_lineage_iter_free(it);
	return rc == PT_ITEROVER ? 0 : rc;
}

/* Extend `s` with the events after s->seq; 1 (nothing changed) when it must be rebuilt instead. */
static int extend(const pt_store *st, const char *run, pt__rs_stream *s)
{
	if (!s->seq)
		return 1;
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.seq_min = s->seq;
	pt_iter *it = NULL;
	int rc = pt_iter_open(&it, st, run, s->name, &o);
	if (rc)
		return rc;
	const pt_event_view *ev;
	/* the last event summarised must still be there, unchanged */
	rc = pt_iter_next(it, &ev);
	if (rc == PT_ITEROVER || (!rc && (pt_ev_seq(ev) != s->seq || pt_ev_time(ev) != s->seq_time))) {
		pt_iter_free(it);
		return 1;
	}
	/* the new events are checked for a resume first: applying them to a copy is not needed
	 * because a lineage event sends the stream to rebuild(), which starts from scratch */
	caps c;
	caps_of(s, &c);
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		if (kind_is(pt_ev_kind(ev), "lineage")) {
			rc = 1;
			break;
		}
		rc = apply(s, &c, ev);
	}
	pt_iter_free(it);
	return rc == PT_ITEROVER ? 0 : rc;
}

/* ---- the file ------------------------------------------------------------------------------ */
static int w_hdr(pt__buf *b, uint8_t *(*f)(uint8_t *, uint32_t), uint32_t n)
{
	uint8_t h[MPK_MAX_HDR];
	return pt__buf_append(b, h, (size_t)(f(h, n) - h));
}
static int w_str(pt__buf *b, const char *s)
{
	size_t n = strlen(s);
	int rc = w_hdr(b, mpk_str_hdr, (uint32_t)n);
	return rc ? rc : pt__buf_append(b, s, n);
}
static int w_ostr(pt__buf *b, const char *s)
{
	static const uint8_t nil = 0xc0;
	return s ? w_str(b, s) : pt__buf_append(b, &nil, 1);
}
static int w_int(pt__buf *b, int64_t v)
{
	uint8_t h[MPK_MAX_HDR];
	return pt__buf_append(b, h, (size_t)(mpk_int(h, v) - h));
}
static int w_uint(pt__buf *b, uint64_t v)
{
	uint8_t h[MPK_MAX_HDR];
	return pt__buf_append(b, h, (size_t)(mpk_uint(h, v) - h));
}
static int w_dbl(pt__buf *b, double d)
{
	uint8_t h[MPK_MAX_HDR];
	return pt__buf_append(b, h, (size_t)(mpk_double(h, d) - h));
}

static int encode_vals(pt__buf *b, const pt__rs_names *m, const pt__rs_val *v)
{
	int rc = w_hdr(b, mpk_map_hdr, (uint32_t)m->n);
	for (size_t i = 0; !rc && i < m->n; i++) {
		if (!(rc = w_str(b, m->keys[i])) && !(rc = w_hdr(b, mpk_arr_hdr, 2)) && !(rc = pt__buf_append(b, v[i].val, v[i].len)))
			rc = w_int(b, v[i].time);
	}
	return rc;
}

static int encode_stream(pt__buf *b, const pt__rs_stream *s)
{
	int rc = w_hdr(b, mpk_arr_hdr, 22);
	if (rc || (rc = w_str(b, s->name)) || (rc = w_str(b, s->fp)) || (rc = w_uint(b, s->seq)) ||
	    (rc = w_int(b, s->seq_time)) || (rc = w_uint(b, s->events)) || (rc = w_int(b, s->t0)) ||
	    (rc = w_int(b, s->t1)) || (rc = w_int(b, s->step_max)) || (rc = w_uint(b, s->lineages)) ||
	    (rc = w_uint(b, s->decisions_total)) || (rc = encode_vals(b, &s->pnames, s->params)))
		return rc;
	if ((rc = w_hdr(b, mpk_map_hdr, (uint32_t)s->mnames.n)))
		return rc;
	for (size_t i = 0; i < s->mnames.n; i++) {
		const pt__rs_metric *m = &s->metrics[i];
		if ((rc = w_str(b, s->mnames.keys[i])) || (rc = w_hdr(b, mpk_arr_hdr, 7)) || (rc = w_dbl(b, m->last)) ||
		    (rc = w_dbl(b, m->min)) || (rc = w_dbl(b, m->max)) || (rc = w_int(b, m->last_step)) ||
		    (rc = w_int(b, m->last_time)) || (rc = w_uint(b, m->n)) || (rc = w_uint(b, m->has_range)))
			return rc;
	}
	if ((rc = encode_vals(b, &s->tnames, s->tags)) || (rc = w_ostr(b, s->note)) || (rc = w_int(b, s->note_time)) ||
	    (rc = w_uint(b, (uint64_t)s->has_code)) || (rc = w_ostr(b, s->commit)) || (rc = w_int(b, s->dirty)) ||
	    (rc = w_uint(b, (uint64_t)s->end)) || (rc = w_ostr(b, s->err_type)) || (rc = w_ostr(b, s->err_msg)) ||
	    (rc = w_int(b, s->end_time)) || (rc = w_hdr(b, mpk_arr_hdr, s->ndec)))
		return rc;
	return pt__buf_append(b, s->dec.data, s->dec.len);
}

int pt__rs_encode(pt__buf *b, const pt__rs_run *r)
{
	uint8_t head[16] = SUMMARY_MAGIC;
	int rc = pt__buf_append(b, head, sizeof head);
	if (rc || (rc = w_hdr(b, mpk_arr_hdr, 2)) || (rc = w_str(b, r->run)) || (rc = w_hdr(b, mpk_arr_hdr, (uint32_t)r->n)))
		return rc;
	for (size_t i = 0; !rc && i < r->n; i++)
		rc = encode_stream(b, &r->s[i]);
	if (rc)
		return rc;
	size_t plen = b->len - sizeof head;
	if (plen > SUMMARY_MAX)
		return pt__err(PT_ELIMIT, "run summary of %s is over %u bytes", r->run, SUMMARY_MAX);
	pt__put_u32(b->data + 4, SUMMARY_VERSION);
	pt__put_u32(b->data + 8, (uint32_t)plen);
	pt__put_u32(b->data + 12, pt__crc32c(0, b->data + sizeof head, plen));
	return 0;
}

/* A strict reader: any surprise is "no usable summary" (-1), never a crash. */
typedef struct {
	const uint8_t *p, *end;
} rd;

static int r_obj(rd *r, mpk_obj *o) { return mpk_read(&r->p, r->end, o); }
static int r_u64(rd *r, uint64_t *v)
{
	mpk_obj o;
	if (r_obj(r, &o) || o.type != MPK_UINT)
		return -1;
	*v = o.u;
	return 0;
}
static int r_i64(rd *r, int64_t *v)
{
	mpk_obj o;
	if (r_obj(r, &o))
		return -1;
	if (o.type == MPK_INT)
		*v = o.i;
	else if (o.type == MPK_UINT && o.u <= INT64_MAX)
		*v = (int64_t)o.u;
	else
		return -1;
	return 0;
}
static int r_dbl(rd *r, double *v)
{
	mpk_obj o;
	if (r_obj(r, &o) || o.type != MPK_FLOAT64)
		return -1;
	*v = o.d;
	return 0;
}
/* A string (copied, NUL-free) or nil (NULL) when `nil_ok`. */
static int r_str(rd *r, char **out, bool nil_ok)
{
	mpk_obj o;
	*out = NULL;
	if (r_obj(r, &o))
		return -1;
	if (o.type == MPK_NIL && nil_ok)
		return 0;
	if (o.type != MPK_STR || memchr(o.ptr, 0, o.len) || !pt__utf8_valid(o.ptr, o.len))
		return -1;
	return (*out = pt__strndup((const char *)o.ptr, o.len)) ? 0 : -1;
}
static int r_hdr(rd *r, mpk_type t, uint32_t *n)
{
	mpk_obj o;
	if (r_obj(r, &o) || o.type != t)
		return -1;
	*n = o.len;
	return 0;
}

static int decode_vals(rd *r, pt__rs_stream *s, bool tags, caps *c)
{
	uint32_t n;
	if (r_hdr(r, MPK_MAP, &n))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		mpk_obj k;
		uint32_t two;
		if (r_obj(r, &k) || k.type != MPK_STR || !k.len || r_hdr(r, MPK_ARRAY, &two) || two != 2)
			return -1;
		const uint8_t *v = r->p;
		if (mpk_validate(&r->p, r->end, DEPTH))
			return -1;
		size_t vl = (size_t)(r->p - v);
		int64_t t;
		if (r_i64(r, &t))
			return -1;
		int rc = tags ? put_tag(s, c, (const char *)k.ptr, k.len, v, vl, t)
			      : put_param(s, c, (const char *)k.ptr, k.len, v, vl, t);
		if (rc)
			return -1;
	}
	return 0;
}

static int decode_stream(rd *r, pt__rs_stream *s)
{
	uint32_t n;
	caps c = {0, 0, 0};
	char *fp = NULL;
	uint64_t u;
	if (r_hdr(r, MPK_ARRAY, &n) || n != 22 || r_str(r, &s->name, false) || r_str(r, &fp, false))
		goto bad;
	if (strlen(fp) >= sizeof s->fp)
		goto bad;
	strcpy(s->fp, fp);
	pt__free(fp);
	fp = NULL;
	if (r_u64(r, &s->seq) || r_i64(r, &s->seq_time) || r_u64(r, &s->events) || r_i64(r, &s->t0) ||
	    r_i64(r, &s->t1) || r_i64(r, &s->step_max) || r_u64(r, &s->lineages) || r_u64(r, &s->decisions_total) ||
	    decode_vals(r, s, false, &c) || r_hdr(r, MPK_MAP, &n))
		goto bad;
	for (uint32_t i = 0; i < n; i++) {
		mpk_obj k;
		uint32_t seven;
		pt__rs_metric m;
		uint64_t hr;
		if (r_obj(r, &k) || k.type != MPK_STR || !k.len || r_hdr(r, MPK_ARRAY, &seven) || seven != 7 ||
		    r_dbl(r, &m.last) || r_dbl(r, &m.min) || r_dbl(r, &m.max) || r_i64(r, &m.last_step) ||
		    r_i64(r, &m.last_time) || r_u64(r, &m.n) || r_u64(r, &hr) || hr > 1)
			goto bad;
		size_t idx;
		bool created;
		if (pt__rs_names_add(&s->mnames, (const char *)k.ptr, k.len, &idx, &created) || !created ||
		    grow_vals((void **)&s->metrics, s->mnames.cap, sizeof *s->metrics, &c.mcap))
			goto bad;
		m.has_range = hr == 1;
		s->metrics[idx] = m;
	}
	int64_t dirty;
	if (decode_vals(r, s, true, &c) || r_str(r, &s->note, true) || r_i64(r, &s->note_time) || r_u64(r, &u) || u > 1)
		goto bad;
	s->has_code = (int)u;
	if (r_str(r, &s->commit, true) || r_i64(r, &dirty) || dirty < -1 || dirty > 1 || r_u64(r, &u) || u > 2)
		goto bad;
	s->dirty = (int)dirty;
	s->end = (int)u;
	if (r_str(r, &s->err_type, true) || r_str(r, &s->err_msg, true) || r_i64(r, &s->end_time) ||
	    r_hdr(r, MPK_ARRAY, &n) || n > PT_RS_DECISIONS_KEPT)
		goto bad;
	const uint8_t *d = r->p;
	for (uint32_t i = 0; i < n; i++)
		if (mpk_validate(&r->p, r->end, DEPTH + 2))
			goto bad;
	if (pt__buf_append(&s->dec, d, (size_t)(r->p - d)))
		goto bad;
	s->ndec = n;
	return 0;
bad:
	pt__free(fp);
	return -1;
}

int pt__rs_decode(const uint8_t *data, size_t len, const char *run, pt__rs_run *out)
{
	memset(out, 0, sizeof *out);
	if (len < 16 || memcmp(data, SUMMARY_MAGIC, 4) || pt__get_u32(data + 4) != SUMMARY_VERSION ||
	    pt__get_u32(data + 8) != len - 16 || pt__get_u32(data + 12) != pt__crc32c(0, data + 16, len - 16))
		goto fail;
	rd r = {data + 16, data + len};
	uint32_t n;
	char *name = NULL;
	if (r_hdr(&r, MPK_ARRAY, &n) || n != 2 || r_str(&r, &name, false))
		goto fail;
	bool same = !strcmp(name, run);
	pt__free(name);
	if (!same || r_hdr(&r, MPK_ARRAY, &n))
		goto fail;
	if (!(out->run = pt__strdup(run)) || !(out->s = pt__calloc(n ? n : 1, sizeof *out->s)))
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		out->n = i + 1;
		stream_clear(&out->s[i]);
		if (decode_stream(&r, &out->s[i]))
			goto fail;
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(out->s[j].name, out->s[i].name))
				goto fail; /* a stream twice */
	}
	if (r.p != r.end)
		goto fail;
	pt__err_clear();
	return 0;
fail:
	pt__rs_run_free(out);
	pt__err_clear();
	return PT_ECORRUPT;
}

/* The cached summary of `run` (the file in the run's directory `runfd`), or an empty one (r->n 0). */
static void read_cached(int runfd, const char *run, pt__rs_run *out)
{
	memset(out, 0, sizeof *out);
	int fd = openat(runfd, SUMMARY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat sb;
	uint8_t *data = NULL;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 16 && (uint64_t)sb.st_size <= SUMMARY_MAX + 16 &&
	    (data = pt__malloc((size_t)sb.st_size)) && !pt__pread_all(fd, data, (size_t)sb.st_size, 0, SUMMARY_FILE))
		pt__rs_decode(data, (size_t)sb.st_size, run, out);
	pt__free(data);
	close(fd);
	pt__err_clear();
}

/* Write the file without fsync: a cache, checked by its CRC when read; a failure is ignored. */
static void write_cached(const pt_store *st, const char *dir, const char *path, const pt__rs_run *r)
{
	pt__buf b = {0};
	char *tmp = NULL;
	int fd = -1;
	if (st->read_only)
		return; /* the UI: computed, not saved */
	if (pt__rs_encode(&b, r))
		goto done;
	fd = pt__tmp_in(st->path, dir, ".summary.tmp.", 0644, &tmp);
	if (fd < 0)
		goto done;
	if (pt__write_all(fd, b.data, b.len, tmp) || close(fd) < 0) {
		fd = -1;
		pt__unlink_in(st->path, tmp);
		goto done;
	}
	fd = -1;
	if (pt__rename_in(st->path, tmp, path) < 0)
		pt__unlink_in(st->path, tmp);
done:
	if (fd >= 0) {
		close(fd);
		pt__unlink_in(st->path, tmp);
	}
	pt__free(tmp);
	pt__buf_free(&b);
	pt__err_clear();
}

int pt__rs_load(const pt_store *st, const char *run, bool write_back, pt__rs_run *out)
{
	memset(out, 0, sizeof *out);
	pt__stream_fp *fps = NULL;
	size_t n = 0;
	int runfd = -1;
	int rc = pt__history_run_fingerprints(st, run, &fps, &n, &runfd);
	if (rc)
		return rc;
	char *dir = pt__run_dir(st, run);
	char *path = dir ? pt__sprintf("%s/%s", dir, SUMMARY_FILE) : NULL;
	pt__rs_run cached;
	memset(&cached, 0, sizeof cached);
	bool changed = false;
	if (!path) {
		rc = PT_ENOMEM;
		goto done;
	}
	read_cached(runfd, run, &cached);
	changed = cached.n != n;
	if (!(out->run = pt__strdup(run)) || !(out->s = pt__calloc(n ? n : 1, sizeof *out->s))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		pt__rs_stream *s = &out->s[i];
		out->n = i + 1;
		const char *fp = fps[i].fp;
		/* take the cached one over (moved, not copied) */
		size_t j = 0;
		while (j < cached.n && (!cached.s[j].name || strcmp(cached.s[j].name, fps[i].name)))
			j++;
		if (j < cached.n) {
			*s = cached.s[j];
			memset(&cached.s[j], 0, sizeof cached.s[j]);
		} else {
			stream_clear(s);
			if (!(s->name = pt__strdup(fps[i].name))) {
				rc = PT_ENOMEM;
				goto done;
			}
		}
		s->writer = fps[i].writer;
		if (j < cached.n && !strcmp(s->fp, fp))
			continue;
		changed = true;
		rc = j < cached.n ? extend(st, run, s) : 1;
		if (rc == 1)
			rc = rebuild(st, run, s);
		if (rc)
			goto done;
		snprintf(s->fp, sizeof s->fp, "%s", fp);
		s->writer = fps[i].writer; /* rebuild() starts from a cleared summary */
	}
	if (changed && write_back)
		write_cached(st, dir, path, out);
done:
	if (rc)
		pt__rs_run_free(out);
	pt__rs_run_free(&cached);
	pt__stream_fps_free(fps, n);
	if (runfd >= 0)
		close(runfd);
	pt__free(dir);
	pt__free(path);
	return rc;
}
