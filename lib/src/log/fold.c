/*
 * fold.c - the fold of a stream's events into its state.
 *
 * The state is bounded by what the run names (params, metrics, kinds) plus
 * the last PT_FOLD_DECISIONS_KEPT decisions: it does not grow with the
 * number of events, so snapshots of it stay small however long the run.
 * Every parameter keeps the seq of the decision that last set it, so "why
 * is lr 5e-4" is answered for any parameter however old the decision.
 *
 * Serialization is canonical (map keys sorted, smallest encodings): equal
 * states give equal bytes, which is how verify checks a snapshot.
 */
#include "log/fold_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"

/* ---- a small string-keyed map ---- */
static uint64_t hash_key(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	return h;
}

static void map_free(pt__fold_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		pt__free(m->v[i].key);
		pt__free(m->v[i].val);
	}
	pt__free(m->v);
	pt__free(m->slots);
	memset(m, 0, sizeof *m);
}

static int map_rehash(pt__fold_map *m, size_t nslots)
{
	uint32_t *s = pt__calloc(nslots, sizeof *s);
	if (!s)
		return PT_ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = hash_key(m->v[i].key, m->v[i].klen) & (nslots - 1);
		while (s[j])
			j = (j + 1) & (nslots - 1);
		s[j] = (uint32_t)i + 1;
	}
	pt__free(m->slots);
	m->slots = s;
	m->nslots = nslots;
	return 0;
}

const pt__fold_entry *pt__fold_map_get(const pt__fold_map *m, const char *key, size_t klen)
{
	if (!m->nslots)
		return NULL;
	size_t j = hash_key(key, klen) & (m->nslots - 1);
	while (m->slots[j]) {
		pt__fold_entry *e = &m->v[m->slots[j] - 1];
		if (e->klen == klen && !memcmp(e->key, key, klen))
			return e;
		j = (j + 1) & (m->nslots - 1);
	}
	return NULL;
}

/* Find or insert `key`; *out points at the entry (valid until the next insert). */
static int map_upsert(pt__fold_map *m, const char *key, size_t klen, pt__fold_entry **out, bool *created)
{
	pt__fold_entry *e = (pt__fold_entry *)pt__fold_map_get(m, key, klen);
	*created = false;
	if (e) {
		*out = e;
		return 0;
	}
	if ((m->n + 1) * 2 > m->nslots) {
		int rc = map_rehash(m, m->nslots ? m->nslots * 2 : 16);
		if (rc)
			return rc;
	}
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 16;
		pt__fold_entry *v = pt__realloc(m->v, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		m->v = v;
		m->cap = nc;
	}
	e = &m->v[m->n];
	memset(e, 0, sizeof *e);
	e->step = PT_NO_STEP;
	if (!(e->key = pt__strndup(key, klen)))
		return PT_ENOMEM;
	e->klen = klen;
	size_t j = hash_key(key, klen) & (m->nslots - 1);
	while (m->slots[j])
		j = (j + 1) & (m->nslots - 1);
	m->slots[j] = (uint32_t)m->n + 1;
	m->n++;
	*out = e;
	*created = true;
	return 0;
}

static int entry_set_val(pt__fold_entry *e, const uint8_t *val, size_t len)
{
	if (len > e->val_cap || !e->val) {
		uint8_t *c = pt__malloc(len);
		if (!c)
			return PT_ENOMEM;
		pt__free(e->val);
		e->val = c;
		e->val_cap = len;
	}
	memcpy(e->val, val, len);
	e->val_len = len;
	return 0;
}

static int map_copy(pt__fold_map *dst, const pt__fold_map *src)
{
	memset(dst, 0, sizeof *dst);
	for (size_t i = 0; i < src->n; i++) {
		pt__fold_entry *e;
		bool created;
		const pt__fold_entry *s = &src->v[i];
		int rc = map_upsert(dst, s->key, s->klen, &e, &created);
		if (!rc && s->val)
			rc = entry_set_val(e, s->val, s->val_len);
		if (rc)
			return rc;
		e->seq = s->seq;
		e->step = s->step;
		e->aux = s->aux;
	}
	return 0;
}

/* ---- state life cycle ---- */
void pt__fold_init(pt__fold *f)
{
	memset(f, 0, sizeof *f);
	f->step = PT_NO_STEP;
}

void pt__fold_free(pt__fold *f)
{
	map_free(&f->params);
	map_free(&f->metrics);
	map_free(&f->last);
	map_free(&f->kinds);
	for (size_t i = 0; i < PT_FOLD_DECISIONS_KEPT; i++)
		pt__buf_free(&f->decisions[i]);
	pt__buf_free(&f->checkpoint);
	pt__buf_free(&f->code);
	pt__buf_free(&f->env);
	pt__buf_free(&f->changes);
	pt__free(f->lineages);
	pt__fold_init(f);
}

static int buf_copy(pt__buf *dst, const pt__buf *src)
{
	dst->len = 0;
	return src->len ? pt__buf_append(dst, src->data, src->len) : 0;
}

int pt__fold_copy(pt__fold *dst, const pt__fold *src)
{
	pt__fold_init(dst);
	dst->seq = src->seq;
	dst->time = src->time;
	dst->max_time = src->max_time;
	dst->step = src->step;
	dst->lineage = src->lineage;
	dst->events = src->events;
	dst->dec_head = src->dec_head;
	dst->decisions_total = src->decisions_total;
	dst->track_changes = src->track_changes;
	int rc = map_copy(&dst->params, &src->params);
	if (!rc)
		rc = map_copy(&dst->metrics, &src->metrics);
	if (!rc)
		rc = map_copy(&dst->last, &src->last);
	if (!rc)
		rc = map_copy(&dst->kinds, &src->kinds);
	for (size_t i = 0; !rc && i < PT_FOLD_DECISIONS_KEPT; i++)
		rc = buf_copy(&dst->decisions[i], &src->decisions[i]);
	if (!rc)
		rc = buf_copy(&dst->checkpoint, &src->checkpoint);
	if (!rc)
		rc = buf_copy(&dst->code, &src->code);
	if (!rc)
		rc = buf_copy(&dst->env, &src->env);
	if (!rc && src->nlineages) {
		dst->lineages = pt__malloc(src->nlineages * sizeof *dst->lineages);
		if (!dst->lineages)
			rc = PT_ENOMEM;
		else {
			memcpy(dst->lineages, src->lineages, src->nlineages * sizeof *dst->lineages);
			dst->nlineages = dst->cap_lineages = src->nlineages;
		}
	}
	if (rc)
		pt__fold_free(dst);
	return rc;
}

/* ---- msgpack writing into a pt__buf ---- */
static int w_hdr(pt__buf *b, uint8_t *(*enc)(uint8_t *, uint32_t), uint32_t n)
{
	int rc = pt__buf_reserve(b, 5);
	if (rc)
		return rc;
	b->len = (size_t)(enc(b->data + b->len, n) - b->data);
	return 0;
}
static int w_map(pt__buf *b, uint32_t n) { return w_hdr(b, mpk_map_hdr, n); }
static int w_arr(pt__buf *b, uint32_t n) { return w_hdr(b, mpk_arr_hdr, n); }
static int w_str(pt__buf *b, const char *s, size_t n)
{
	int rc = w_hdr(b, mpk_str_hdr, (uint32_t)n);
	return rc ? rc : pt__buf_append(b, s, n);
}
static int w_cstr(pt__buf *b, const char *s) { return w_str(b, s, strlen(s)); }
static int w_uint(pt__buf *b, uint64_t v)
{
	int rc = pt__buf_reserve(b, 9);
	if (!rc)
		b->len = (size_t)(mpk_uint(b->data + b->len, v) - b->data);
	return rc;
}
static int w_int(pt__buf *b, int64_t v)
{
	int rc = pt__buf_reserve(b, 9);
	if (!rc)
		b->len = (size_t)(mpk_int(b->data + b->len, v) - b->data);
	return rc;
}
static int w_nil(pt__buf *b) { return pt__buf_append(b, "\xc0", 1); }
static int w_step(pt__buf *b, int64_t s) { return s == PT_NO_STEP ? w_nil(b) : w_int(b, s); }

/* ---- decoding events ---- */
static inline uint32_t word4(const uint8_t *p)
{
	uint32_t w;
	memcpy(&w, p, 4);
	return w;
}

static inline bool get_int(const mpk_obj *v, int64_t *out)
{
	if (v->type == MPK_UINT && v->u <= INT64_MAX)
		*out = (int64_t)v->u;
	else if (v->type == MPK_INT)
		*out = v->i;
	else
		return false;
	return true;
}

/*
 * Envelope keys are short fixstr: compare them as a length byte and a word
 * rather than through the generic reader (this runs for every event the
 * recorder folds, on the writer thread).
 */
int pt__fold_event_decode_next(pt__fold_event *e, const uint8_t **pp, const uint8_t *end)
{
	static uint32_t w_time, w_step, w_kind, w_name, w_body;
	if (!w_time) {
		w_step = word4((const uint8_t *)"step");
		w_kind = word4((const uint8_t *)"kind");
		w_name = word4((const uint8_t *)"name");
		w_body = word4((const uint8_t *)"body");
		w_time = word4((const uint8_t *)"time");
	}
	const uint8_t *p = *pp;
	memset(e, 0, sizeof *e);
	e->step = PT_NO_STEP;
	mpk_obj o;
	bool have_seq = false;
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return pt__err(PT_ECORRUPT, "event is not a map");
	for (uint32_t i = 0; i < o.len; i++) {
		mpk_obj v;
		int which = 0; /* 1 seq 2 time 3 step 4 kind 5 name 6 body */
		if (p < end && (*p & 0xe0) == 0xa0) {
			size_t kl = *p & 0x1f;
			if ((size_t)(end - p) < 1 + kl)
				return pt__err(PT_ECORRUPT, "event has a malformed key");
			if (kl == 3 && !memcmp(p + 1, "seq", 3))
				which = 1;
			else if (kl == 4) {
				uint32_t w = word4(p + 1);
				which = w == w_time ? 2 : w == w_step ? 3 : w == w_kind ? 4 : w == w_name ? 5 : w == w_body ? 6 : 0;
			}
			p += 1 + kl;
		} else {
			mpk_obj k;
			if (mpk_read(&p, end, &k) || k.type != MPK_STR)
				return pt__err(PT_ECORRUPT, "event has a malformed key");
		}
		const uint8_t *vs = p;
		if (mpk_read(&p, end, &v))
			return pt__err(PT_ECORRUPT, "event has a malformed value");
		switch (which) {
		case 1:
			if (v.type != MPK_UINT)
				return pt__err(PT_ECORRUPT, "event seq is not an unsigned integer");
			e->seq = v.u;
			have_seq = true;
			continue;
		case 2:
			if (!get_int(&v, &e->time))
				return pt__err(PT_ECORRUPT, "event time is not an integer");
			continue;
		case 3:
			if (!get_int(&v, &e->step))
				return pt__err(PT_ECORRUPT, "event step is not an integer");
			continue;
		case 4:
			if (v.type != MPK_STR)
				return pt__err(PT_ECORRUPT, "event kind is not a string");
			e->kind = (const char *)v.ptr;
			e->kind_len = v.len;
			continue;
		case 5:
			if (v.type == MPK_STR) {
				e->name = (const char *)v.ptr;
				e->name_len = v.len;
				continue;
			}
			break;
		default:
			break;
		}
		if (v.type == MPK_MAP || v.type == MPK_ARRAY) {
			p = vs;
			if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH + 1))
				return pt__err(PT_ECORRUPT, "event has a malformed value");
		}
		if (which == 6) {
			e->body = vs;
			e->body_len = (size_t)(p - vs);
		}
	}
	if (!have_seq || !e->kind || !e->body)
		return pt__err(PT_ECORRUPT, "event lacks seq, kind or body");
	*pp = p;
	return 0;
}

int pt__fold_event_decode(pt__fold_event *e, const uint8_t *mp, size_t len)
{
	const uint8_t *p = mp;
	int rc = pt__fold_event_decode_next(e, &p, mp + len);
	if (!rc && p != mp + len)
		rc = pt__err(PT_ECORRUPT, "event has trailing bytes");
	return rc;
}

/* Iterate a map value: calls cb(key, klen, val, vlen) for each string-keyed pair. */
typedef int (*kv_cb)(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl);
static int each_kv(const uint8_t *map, size_t len, kv_cb cb, void *ctx)
{
	const uint8_t *p = map, *end = map + len;
	mpk_obj o;
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return pt__err(PT_ECORRUPT, "expected a map");
	for (uint32_t i = 0; i < o.len; i++) {
		mpk_obj k;
		if (mpk_read(&p, end, &k))
			return pt__err(PT_ECORRUPT, "malformed map key");
		const uint8_t *vs = p;
		if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH + 1))
			return pt__err(PT_ECORRUPT, "malformed map value");
		if (k.type != MPK_STR)
			continue; /* non-string keys name nothing in the state */
		int rc = cb(ctx, (const char *)k.ptr, k.len, vs, (size_t)(p - vs));
		if (rc)
			return rc;
	}
	return 0;
}

typedef struct {
	const uint8_t *v;
	size_t vl;
	const char *key;
} find_ctx;

static int find_cb(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl)
{
	find_ctx *f = ctx;
	if (strlen(f->key) == kl && !memcmp(k, f->key, kl)) {
		f->v = v;
		f->vl = vl;
	}
	return 0;
}

static bool body_get(const pt__fold_event *e, const char *key, const uint8_t **v, size_t *vl)
{
	find_ctx f = {NULL, 0, key};
	if (each_kv(e->body, e->body_len, find_cb, &f) || !f.v)
		return false;
	*v = f.v;
	*vl = f.vl;
	return true;
}

/* ---- change tracking (for replay --events) ---- */
static int change_begin(pt__fold *f, const char *what, const char *key, size_t kl)
{
	pt__buf *c = &f->changes;
	int rc = pt__buf_append(c, c->len > 1 ? "," : "", c->len > 1 ? 1 : 0);
	if (!rc)
		rc = pt__buf_printf(c, "{\"%s\":", what);
	if (!rc)
		rc = pt__json_string(c, key, kl);
	return rc;
}

static int change_val(pt__fold *f, const char *label, const uint8_t *v, size_t vl)
{
	int rc = pt__buf_printf(&f->changes, ",\"%s\":", label);
	if (!rc)
		rc = v ? pt__json_value(&f->changes, v, vl) : pt__buf_append(&f->changes, "null", 4);
	return rc;
}

/* ---- apply ---- */
typedef struct {
	pt__fold *f;
	const pt__fold_event *e;
	uint64_t decision_seq;
	pt__buf *set_rec; /* decision: encoded {k: {old, new}} pairs */
	uint32_t nset;
	pt__fold_map *map;
	const char *change;
} set_ctx;

static int set_one(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl)
{
	set_ctx *s = ctx;
	pt__fold_entry *ent;
	bool created;
	int rc = map_upsert(s->map, k, kl, &ent, &created);
	if (rc)
		return rc;
	const uint8_t *oldv = created ? NULL : ent->val;
	size_t oldl = created ? 0 : ent->val_len;
	if (s->set_rec) {
		/* the old value is known from the fold: record it next to the new one */
		if ((rc = w_str(s->set_rec, k, kl)) || (rc = w_map(s->set_rec, 2)) || (rc = w_cstr(s->set_rec, "old")))
			return rc;
		rc = oldv ? pt__buf_append(s->set_rec, oldv, oldl) : w_nil(s->set_rec);
		if (rc || (rc = w_cstr(s->set_rec, "new")) || (rc = pt__buf_append(s->set_rec, v, vl)))
			return rc;
		s->nset++;
	}
	if (s->f->track_changes) {
		if ((rc = change_begin(s->f, s->change, k, kl)))
			return rc;
		if (s->map != &s->f->metrics && (rc = change_val(s->f, "old", oldv, oldl)))
			return rc;
		if ((rc = change_val(s->f, s->map == &s->f->metrics ? "value" : "new", v, vl)) ||
		    (rc = pt__buf_append(&s->f->changes, "}", 1)))
			return rc;
	}
	if ((rc = entry_set_val(ent, v, vl)))
		return rc;
	ent->seq = s->e->seq;
	ent->step = s->e->step;
	ent->aux = s->decision_seq;
	return 0;
}

/* param/metric event: with a name, body.value (or the body) is the value; without, every body key is one. */
static int apply_named(pt__fold *f, const pt__fold_event *e, pt__fold_map *map, const char *change)
{
	set_ctx s = {f, e, 0, NULL, 0, map, change};
	if (e->name) {
		const uint8_t *v;
		size_t vl;
		/* the common body {"value": x} (metrics, params) without a general walk */
		const uint8_t *b = e->body, *end = e->body + e->body_len;
		/* (the body was walked by the decoder: its one value ends where it ends) */
		(void)end;
		if (e->body_len > 7 && b[0] == 0x81 && b[1] == 0xa5 && !memcmp(b + 2, "value", 5))
			return set_one(&s, e->name, e->name_len, b + 7, e->body_len - 7);
		if (!body_get(e, "value", &v, &vl)) {
			v = e->body;
			vl = e->body_len;
		}
		return set_one(&s, e->name, e->name_len, v, vl);
	}
	return each_kv(e->body, e->body_len, set_one, &s);
}

typedef struct {
	pt__buf *out;
	uint32_t n;
} other_ctx;

static int other_field(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl)
{
	other_ctx *o = ctx;
	if ((kl == 3 && !memcmp(k, "set", 3)) || (kl == 6 && !memcmp(k, "reason", 6)) || (kl == 5 && !memcmp(k, "actor", 5)))
		return 0;
	int rc = w_str(o->out, k, kl);
	if (!rc)
		rc = pt__buf_append(o->out, v, vl);
	o->n++;
	return rc;
}

static int count_other(void *ctx, const char *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)v;
	(void)vl;
	uint32_t *n = ctx;
	if (!((kl == 3 && !memcmp(k, "set", 3)) || (kl == 6 && !memcmp(k, "reason", 6)) || (kl == 5 && !memcmp(k, "actor", 5))))
		(*n)++;
	return 0;
}

static int apply_decision(pt__fold *f, const pt__fold_event *e)
{
	pt__buf *rec = &f->decisions[(f->dec_head + (f->decisions_total < PT_FOLD_DECISIONS_KEPT ? f->decisions_total : 0)) %
				    PT_FOLD_DECISIONS_KEPT];
	pt__buf set = {0};
	int rc = 0;
	const uint8_t *sv;
	size_t svl;
	set_ctx s = {f, e, e->seq, &set, 0, &f->params, "param"};
	if (body_get(e, "set", &sv, &svl)) {
		mpk_obj o;
		const uint8_t *p = sv;
		if (!mpk_read(&p, sv + svl, &o) && o.type == MPK_MAP)
			rc = each_kv(sv, svl, set_one, &s);
	}
	if (rc)
		goto done;
	rec->len = 0;
	uint32_t nother = 0;
	each_kv(e->body, e->body_len, count_other, &nother);
	const uint8_t *rv = NULL, *av = NULL;
	size_t rvl = 0, avl = 0;
	body_get(e, "reason", &rv, &rvl);
	body_get(e, "actor", &av, &avl);
	if ((rc = w_map(rec, 8)) || (rc = w_cstr(rec, "seq")) || (rc = w_uint(rec, e->seq)) || (rc = w_cstr(rec, "time")) ||
	    (rc = w_int(rec, e->time)) || (rc = w_cstr(rec, "step")) || (rc = w_step(rec, e->step)) ||
	    (rc = w_cstr(rec, "name")))
		goto done;
	rc = e->name ? w_str(rec, e->name, e->name_len) : w_nil(rec);
	if (rc || (rc = w_cstr(rec, "set")) || (rc = w_map(rec, s.nset)) || (rc = pt__buf_append(rec, set.data, set.len)) ||
	    (rc = w_cstr(rec, "reason")) || (rc = rv ? pt__buf_append(rec, rv, rvl) : w_nil(rec)) ||
	    (rc = w_cstr(rec, "actor")) || (rc = av ? pt__buf_append(rec, av, avl) : w_nil(rec)) ||
	    (rc = w_cstr(rec, "fields")) || (rc = w_map(rec, nother)))
		goto done;
	other_ctx oc = {rec, 0};
	if ((rc = each_kv(e->body, e->body_len, other_field, &oc)))
		goto done;
	if (f->decisions_total >= PT_FOLD_DECISIONS_KEPT)
		f->dec_head = (f->dec_head + 1) % PT_FOLD_DECISIONS_KEPT;
	f->decisions_total++;
	if (f->track_changes) {
		if ((rc = change_begin(f, "decision", e->name ? e->name : "", e->name ? e->name_len : 0)) ||
		    (rc = change_val(f, "reason", rv, rvl)) || (rc = change_val(f, "actor", av, avl)) ||
		    (rc = pt__buf_append(&f->changes, "}", 1)))
			goto done;
	}
done:
	pt__buf_free(&set);
	return rc;
}

/* Encode {seq, time, step, name, body} (checkpoint) or {seq, time, body} (code/env). */
static int encode_event_rec(pt__buf *out, const pt__fold_event *e, bool with_step_name)
{
	out->len = 0;
	int rc = w_map(out, with_step_name ? 5 : 3);
	if (!rc)
		rc = w_cstr(out, "seq");
	if (!rc)
		rc = w_uint(out, e->seq);
	if (!rc)
		rc = w_cstr(out, "time");
	if (!rc)
		rc = w_int(out, e->time);
	if (!rc && with_step_name) {
		if (!(rc = w_cstr(out, "step")) && !(rc = w_step(out, e->step)) && !(rc = w_cstr(out, "name")))
			rc = e->name ? w_str(out, e->name, e->name_len) : w_nil(out);
	}
	if (!rc)
		rc = w_cstr(out, "body");
	if (!rc)
		rc = pt__buf_append(out, e->body, e->body_len);
	return rc;
}

int pt__fold_set_checkpoint(pt__fold *f, const pt__fold_event *e) { return encode_event_rec(&f->checkpoint, e, true); }

static bool kind_is(const pt__fold_event *e, const char *k) { return e->kind_len == strlen(k) && !memcmp(e->kind, k, e->kind_len); }

static int apply_lineage(pt__fold *f, const pt__fold_event *e)
{
	const uint8_t *v;
	size_t vl;
	pt__lineage l = {0, 0, PT_NO_STEP, e->seq, ""};
	mpk_obj o;
	const uint8_t *p;
	if (!body_get(e, "lineage", &v, &vl) || (p = v, mpk_read(&p, v + vl, &o)) || (o.type != MPK_UINT))
		return 0; /* not a lineage record we understand: carried as "last" only */
	l.id = (int64_t)o.u;
	if (body_get(e, "parent", &v, &vl) && (p = v, !mpk_read(&p, v + vl, &o)) && o.type == MPK_UINT)
		l.parent = (int64_t)o.u;
	if (body_get(e, "from_step", &v, &vl) && (p = v, !mpk_read(&p, v + vl, &o)))
		l.from_step = o.type == MPK_UINT ? (int64_t)o.u : o.type == MPK_INT ? o.i : PT_NO_STEP;
	if (body_get(e, "manifest", &v, &vl) && (p = v, !mpk_read(&p, v + vl, &o)) && o.type == MPK_STR && o.len == 64) {
		memcpy(l.manifest, o.ptr, 64);
		l.manifest[64] = 0;
	}
	for (size_t i = 0; i < f->nlineages; i++)
		if (f->lineages[i].id == l.id) {
			f->lineage = l.id;
			return 0;
		}
	if (f->nlineages == f->cap_lineages) {
		size_t nc = f->cap_lineages ? f->cap_lineages * 2 : 4;
		pt__lineage *nv = pt__realloc(f->lineages, nc * sizeof *nv);
		if (!nv)
			return PT_ENOMEM;
		f->lineages = nv;
		f->cap_lineages = nc;
	}
	f->lineages[f->nlineages++] = l;
	f->lineage = l.id;
	if (f->track_changes) {
		int rc = pt__buf_printf(&f->changes, "%s{\"lineage\":%lld,\"parent\":%lld}", f->changes.len > 1 ? "," : "",
					(long long)l.id, (long long)l.parent);
		if (rc)
			return rc;
	}
	return 0;
}

int pt__fold_apply(pt__fold *f, const pt__fold_event *e)
{
	if (f->track_changes) {
		f->changes.len = 0;
		int rc = pt__buf_append(&f->changes, "[", 1);
		if (rc)
			return rc;
	}
	int rc = 0;
	if (kind_is(e, "snapshot"))
		goto done;
	f->seq = e->seq;
	f->time = e->time;
	if (f->events == 0 || e->time > f->max_time)
		f->max_time = e->time;
	if (e->step != PT_NO_STEP)
		f->step = e->step;
	f->events++;
	pt__fold_entry *ke = f->kind_cache ? &f->kinds.v[f->kind_cache - 1] : NULL;
	bool created;
	if (!ke || ke->klen != e->kind_len || memcmp(ke->key, e->kind, e->kind_len)) {
		if ((rc = map_upsert(&f->kinds, e->kind, e->kind_len, &ke, &created)))
			goto done;
		f->kind_cache = (size_t)(ke - f->kinds.v) + 1;
	}
	ke->aux++;
	ke->seq = e->seq;
	if (kind_is(e, PT_KIND_PARAM)) {
		rc = apply_named(f, e, &f->params, "param");
	} else if (kind_is(e, PT_KIND_METRIC)) {
		rc = apply_named(f, e, &f->metrics, "metric");
	} else if (kind_is(e, PT_KIND_DECISION)) {
		rc = apply_decision(f, e);
	} else if (kind_is(e, PT_KIND_CHECKPOINT)) {
		rc = encode_event_rec(&f->checkpoint, e, true);
		if (!rc && f->track_changes)
			rc = pt__buf_printf(&f->changes, "%s{\"checkpoint\":%llu}", f->changes.len > 1 ? "," : "",
					    (unsigned long long)e->seq);
	} else if (kind_is(e, PT_KIND_CODE)) {
		rc = encode_event_rec(&f->code, e, false);
	} else if (kind_is(e, PT_KIND_ENV)) {
		rc = encode_event_rec(&f->env, e, false);
	} else {
		if (kind_is(e, "lineage") && (rc = apply_lineage(f, e)))
			goto done;
		/* any other kind: the last event of this kind/name */
		char key[PT_KIND_MAX + PT_NAME_MAX + 2];
		size_t kl = e->kind_len < PT_KIND_MAX ? e->kind_len : PT_KIND_MAX;
		size_t nl = e->name ? (e->name_len < PT_NAME_MAX ? e->name_len : PT_NAME_MAX) : 0;
		memcpy(key, e->kind, kl);
		key[kl] = '/';
		if (nl)
			memcpy(key + kl + 1, e->name, nl);
		pt__fold_entry *le;
		if ((rc = map_upsert(&f->last, key, kl + 1 + nl, &le, &created)) || (rc = entry_set_val(le, e->body, e->body_len)))
			goto done;
		le->seq = e->seq;
		le->step = e->step;
		if (f->track_changes)
			rc = pt__buf_printf(&f->changes, "%s{\"last\":\"%.*s\"}", f->changes.len > 1 ? "," : "", (int)kl, key);
	}
done:
	if (!rc && f->track_changes)
		rc = pt__buf_append(&f->changes, "]", 1);
	if (!rc && f->track_changes && !(rc = pt__buf_reserve(&f->changes, 1)))
		f->changes.data[f->changes.len] = 0; /* NUL-terminated for callers */
	return rc;
}

/* ---- serialization ---- */
static const pt__fold_map *sort_map;
/* Bytewise over the whole key (keys may hold NUL bytes: strcmp would tie them). */
static int cmp_idx(const void *a, const void *b)
{
	const pt__fold_entry *x = &sort_map->v[*(const size_t *)a], *y = &sort_map->v[*(const size_t *)b];
	int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Sorted order of a map's entries (not thread-safe via the static; guarded by a lock). */
#include <pthread.h>
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t *sorted(const pt__fold_map *m)
{
	size_t *idx = pt__malloc((m->n ? m->n : 1) * sizeof *idx);
	if (!idx)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		idx[i] = i;
	pthread_mutex_lock(&sort_mu);
	sort_map = m;
	qsort(idx, m->n, sizeof *idx, cmp_idx);
	pthread_mutex_unlock(&sort_mu);
	return idx;
}

/* which: 0 params [val, seq, step, aux], 1 metrics [val, seq, step], 2 last [body, seq, step], 3 kinds count */
static int ser_map(pt__buf *b, const pt__fold_map *m, int which)
{
	size_t *idx = sorted(m);
	if (!idx)
		return PT_ENOMEM;
	int rc = w_map(b, (uint32_t)m->n);
	for (size_t i = 0; !rc && i < m->n; i++) {
		const pt__fold_entry *e = &m->v[idx[i]];
		if ((rc = w_str(b, e->key, e->klen)))
			break;
		if (which == 3) {
			rc = w_uint(b, e->aux);
			continue;
		}
		if ((rc = w_arr(b, which == 0 ? 4 : 3)) || (rc = pt__buf_append(b, e->val, e->val_len)) ||
		    (rc = w_uint(b, e->seq)) || (rc = w_step(b, e->step)))
			break;
		if (which == 0)
			rc = w_uint(b, e->aux);
	}
	pt__free(idx);
	return rc;
}

static int w_opt(pt__buf *b, const pt__buf *rec) { return rec->len ? pt__buf_append(b, rec->data, rec->len) : w_nil(b); }

int pt__fold_serialize(const pt__fold *f, pt__buf *b)
{
	size_t nd = f->decisions_total < PT_FOLD_DECISIONS_KEPT ? (size_t)f->decisions_total : PT_FOLD_DECISIONS_KEPT;
	int rc;
	if ((rc = w_map(b, 17)) || (rc = w_cstr(b, "v")) || (rc = w_uint(b, PT_SNAPSHOT_VERSION)) || (rc = w_cstr(b, "seq")) ||
	    (rc = w_uint(b, f->seq)) || (rc = w_cstr(b, "time")) || (rc = w_int(b, f->time)) ||
	    (rc = w_cstr(b, "max_time")) || (rc = w_int(b, f->max_time)) || (rc = w_cstr(b, "step")) ||
	    (rc = w_step(b, f->step)) || (rc = w_cstr(b, "lineage")) || (rc = w_int(b, f->lineage)) ||
	    (rc = w_cstr(b, "events")) || (rc = w_uint(b, f->events)) || (rc = w_cstr(b, "decisions_total")) ||
	    (rc = w_uint(b, f->decisions_total)) || (rc = w_cstr(b, "params")) || (rc = ser_map(b, &f->params, 0)) ||
	    (rc = w_cstr(b, "metrics")) || (rc = ser_map(b, &f->metrics, 1)) || (rc = w_cstr(b, "last")) ||
	    (rc = ser_map(b, &f->last, 2)) || (rc = w_cstr(b, "kinds")) || (rc = ser_map(b, &f->kinds, 3)) ||
	    (rc = w_cstr(b, "decisions")) || (rc = w_arr(b, (uint32_t)nd)))
		return rc;
	for (size_t i = 0; i < nd; i++) {
		const pt__buf *d = &f->decisions[(f->dec_head + i) % PT_FOLD_DECISIONS_KEPT];
		if ((rc = pt__buf_append(b, d->data, d->len)))
			return rc;
	}
	if ((rc = w_cstr(b, "checkpoint")) || (rc = w_opt(b, &f->checkpoint)) || (rc = w_cstr(b, "code")) ||
	    (rc = w_opt(b, &f->code)) || (rc = w_cstr(b, "env")) || (rc = w_opt(b, &f->env)) ||
	    (rc = w_cstr(b, "lineages")) || (rc = w_arr(b, (uint32_t)f->nlineages)))
		return rc;
	for (size_t i = 0; i < f->nlineages; i++) {
		const pt__lineage *l = &f->lineages[i];
		if ((rc = w_arr(b, 5)) || (rc = w_int(b, l->id)) || (rc = w_int(b, l->parent)) || (rc = w_step(b, l->from_step)) ||
		    (rc = w_uint(b, l->start_seq)) || (rc = w_cstr(b, (const char *)l->manifest)))
			return rc;
	}
	return 0;
}

/* ---- deserialization ---- */
static int rd(const uint8_t **p, const uint8_t *end, mpk_obj *o)
{
	return mpk_read(p, end, o) ? pt__err(PT_ECORRUPT, "snapshot: malformed msgpack") : 0;
}

static int rd_int(const uint8_t **p, const uint8_t *end, int64_t *out, bool nil_ok)
{
	*out = 0;
	mpk_obj o;
	int rc = rd(p, end, &o);
	if (rc)
		return rc;
	if (o.type == MPK_UINT && o.u <= INT64_MAX)
		*out = (int64_t)o.u;
	else if (o.type == MPK_INT)
		*out = o.i;
	else if (o.type == MPK_NIL && nil_ok)
		*out = PT_NO_STEP;
	else
		return pt__err(PT_ECORRUPT, "snapshot: expected an integer");
	return 0;
}

/* An unsigned field: a msgpack uint only (a negative int is not a count or a seq). */
static int rd_uint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	*out = 0;
	mpk_obj o;
	int rc = rd(p, end, &o);
	if (rc)
		return rc;
	if (o.type != MPK_UINT)
		return pt__err(PT_ECORRUPT, "snapshot: expected an unsigned integer");
	*out = o.u;
	return 0;
}

static int rd_span(const uint8_t **p, const uint8_t *end, const uint8_t **v, size_t *vl)
{
	*v = *p;
	*vl = 0;
	if (mpk_skip(p, end, PT_EVENT_MAX_DEPTH + 4))
		return pt__err(PT_ECORRUPT, "snapshot: malformed value");
	*vl = (size_t)(*p - *v);
	return 0;
}

static int de_map(const uint8_t **p, const uint8_t *end, pt__fold_map *m, int which)
{
	mpk_obj o;
	int rc = rd(p, end, &o);
	if (rc)
		return rc;
	if (o.type != MPK_MAP)
		return pt__err(PT_ECORRUPT, "snapshot: expected a map");
	for (uint32_t i = 0; i < o.len; i++) {
		mpk_obj k, a;
		pt__fold_entry *e;
		bool created;
		if ((rc = rd(p, end, &k)))
			return rc;
		if (k.type != MPK_STR)
			return pt__err(PT_ECORRUPT, "snapshot: expected a string key");
		if ((rc = map_upsert(m, (const char *)k.ptr, k.len, &e, &created)))
			return rc;
		if (which == 3) {
			if ((rc = rd_uint(p, end, &e->aux)))
				return rc;
			continue;
		}
		if ((rc = rd(p, end, &a)))
			return rc;
		if (a.type != MPK_ARRAY || a.len != (which == 0 ? 4u : 3u))
			return pt__err(PT_ECORRUPT, "snapshot: malformed entry");
		const uint8_t *v;
		size_t vl;
		int64_t step;
		uint64_t seq, aux = 0;
		if ((rc = rd_span(p, end, &v, &vl)) || (rc = entry_set_val(e, v, vl)) || (rc = rd_uint(p, end, &seq)) ||
		    (rc = rd_int(p, end, &step, true)) || (which == 0 && (rc = rd_uint(p, end, &aux))))
			return rc;
		e->seq = seq;
		e->step = step;
		e->aux = aux;
	}
	return 0;
}

static int de_opt(const uint8_t **p, const uint8_t *end, pt__buf *out)
{
	const uint8_t *v;
	size_t vl;
	int rc = rd_span(p, end, &v, &vl);
	out->len = 0;
	if (rc || (vl == 1 && v[0] == 0xc0))
		return rc;
	return pt__buf_append(out, v, vl);
}

int pt__fold_deserialize(pt__fold *f, const uint8_t *mp, size_t len)
{
	pt__fold_init(f);
	const uint8_t *p = mp, *end = mp + len;
	mpk_obj o;
	int rc = rd(&p, end, &o);
	if (rc)
		goto fail;
	if (o.type != MPK_MAP) {
		rc = pt__err(PT_ECORRUPT, "snapshot: not a map");
		goto fail;
	}
	const uint8_t *seen[32];
	uint32_t seen_len[32];
	for (uint32_t i = 0; i < o.len && !rc; i++) {
		mpk_obj k;
		if ((rc = rd(&p, end, &k)))
			break;
		if (k.type != MPK_STR) {
			rc = pt__err(PT_ECORRUPT, "snapshot: non-string key");
			break;
		}
#define K(s) (k.len == sizeof(s) - 1 && !memcmp(k.ptr, s, sizeof(s) - 1))
		/* a canonical state names each key once; a repeated key is not one */
		for (uint32_t j = 0; j < i; j++) {
			if (seen_len[j] == k.len && !memcmp(seen[j], k.ptr, k.len)) {
				rc = pt__err(PT_ECORRUPT, "snapshot: key \"%.*s\" appears twice", (int)(k.len > 32 ? 32 : k.len),
					     (const char *)k.ptr);
				break;
			}
		}
		if (rc)
			break;
		if (i < 32) {
			seen[i] = k.ptr;
			seen_len[i] = k.len;
		} else {
			rc = pt__err(PT_ECORRUPT, "snapshot: more keys than a snapshot has");
			break;
		}
		int64_t x;
		if (K("v")) {
			if (!(rc = rd_int(&p, end, &x, false)) && x > PT_SNAPSHOT_VERSION)
				rc = pt__err(PT_EVERSION, "snapshot version %lld is newer than this provtrace reads", (long long)x);
		} else if (K("seq")) {
			rc = rd_uint(&p, end, &f->seq);
		} else if (K("time")) {
			rc = rd_int(&p, end, &f->time, false);
		} else if (K("max_time")) {
			rc = rd_int(&p, end, &f->max_time, false);
		} else if (K("step")) {
			rc = rd_int(&p, end, &f->step, true);
		} else if (K("lineage")) {
			rc = rd_int(&p, end, &f->lineage, false);
		} else if (K("events")) {
			rc = rd_uint(&p, end, &f->events);
		} else if (K("decisions_total")) {
			rc = rd_uint(&p, end, &f->decisions_total);
		} else if (K("params")) {
			rc = de_map(&p, end, &f->params, 0);
		} else if (K("metrics")) {
			rc = de_map(&p, end, &f->metrics, 1);
		} else if (K("last")) {
			rc = de_map(&p, end, &f->last, 2);
		} else if (K("kinds")) {
			rc = de_map(&p, end, &f->kinds, 3);
		} else if (K("decisions")) {
			mpk_obj a;
			if ((rc = rd(&p, end, &a)))
				break;
			if (a.type != MPK_ARRAY || a.len > PT_FOLD_DECISIONS_KEPT) {
				rc = pt__err(PT_ECORRUPT, "snapshot: malformed decisions");
				break;
			}
			for (uint32_t d = 0; d < a.len && !rc; d++) {
				const uint8_t *v;
				size_t vl;
				if (!(rc = rd_span(&p, end, &v, &vl)))
					rc = pt__buf_append(&f->decisions[d], v, vl);
			}
			f->dec_head = 0;
		} else if (K("checkpoint")) {
			rc = de_opt(&p, end, &f->checkpoint);
		} else if (K("code")) {
			rc = de_opt(&p, end, &f->code);
		} else if (K("env")) {
			rc = de_opt(&p, end, &f->env);
		} else if (K("lineages")) {
			mpk_obj a;
			if ((rc = rd(&p, end, &a)))
				break;
			if (a.type != MPK_ARRAY) {
				rc = pt__err(PT_ECORRUPT, "snapshot: malformed lineages");
				break;
			}
			f->lineages = pt__calloc(a.len ? a.len : 1, sizeof *f->lineages);
			if (!f->lineages) {
				rc = PT_ENOMEM;
				break;
			}
			f->cap_lineages = a.len;
			for (uint32_t l = 0; l < a.len && !rc; l++) {
				mpk_obj t, m;
				pt__lineage *ln = &f->lineages[l];
				uint64_t ss;
				if ((rc = rd(&p, end, &t)))
					break;
				if (t.type != MPK_ARRAY || t.len != 5) {
					rc = pt__err(PT_ECORRUPT, "snapshot: malformed lineage");
					break;
				}
				if ((rc = rd_int(&p, end, &ln->id, false)) || (rc = rd_int(&p, end, &ln->parent, false)) ||
				    (rc = rd_int(&p, end, &ln->from_step, true)) || (rc = rd_uint(&p, end, &ss)) ||
				    (rc = rd(&p, end, &m)))
					break;
				ln->start_seq = ss;
				if (m.type != MPK_STR || (m.len != 0 && m.len != 64)) {
					rc = pt__err(PT_ECORRUPT, "snapshot: malformed lineage manifest");
					break;
				}
				memcpy(ln->manifest, m.ptr, m.len);
				ln->manifest[m.len] = 0;
				f->nlineages++;
			}
		} else {
			const uint8_t *v;
			size_t vl;
			rc = rd_span(&p, end, &v, &vl); /* unknown keys of newer minor versions */
		}
#undef K
	}
	if (!rc && p != end)
		rc = pt__err(PT_ECORRUPT, "snapshot: trailing bytes");
	/* the ring must hold exactly the decisions the count says it keeps */
	if (!rc) {
		size_t want = f->decisions_total < PT_FOLD_DECISIONS_KEPT ? (size_t)f->decisions_total : PT_FOLD_DECISIONS_KEPT;
		for (size_t d = 0; d < PT_FOLD_DECISIONS_KEPT && !rc; d++)
			if ((d < want) != (f->decisions[d].len > 0))
				rc = pt__err(PT_ECORRUPT, "snapshot: %zu decision records for a total of %llu", want,
					     (unsigned long long)f->decisions_total);
	}
	if (!rc && f->decisions_total < PT_FOLD_DECISIONS_KEPT)
		f->dec_head = 0;
	if (!rc)
		return 0;
fail:
	pt__fold_free(f);
	return rc;
}

/* ---- JSON ---- */
static int json_map(pt__buf *b, const pt__fold_map *m, int which)
{
	size_t *idx = sorted(m);
	if (!idx)
		return PT_ENOMEM;
	int rc = pt__buf_append(b, "{", 1);
	for (size_t i = 0; !rc && i < m->n; i++) {
		const pt__fold_entry *e = &m->v[idx[i]];
		if ((i && (rc = pt__buf_append(b, ",", 1))) || (rc = pt__json_string(b, e->key, e->klen)) ||
		    (rc = pt__buf_append(b, ":", 1)))
			break;
		if (which == 3) {
			rc = pt__buf_printf(b, "%llu", (unsigned long long)e->aux);
			continue;
		}
		if ((rc = pt__buf_append(b, which == 2 ? "{\"body\":" : "{\"value\":", which == 2 ? 8 : 9)) ||
		    (rc = pt__json_value(b, e->val, e->val_len)) || (rc = pt__buf_printf(b, ",\"seq\":%llu", (unsigned long long)e->seq)))
			break;
		if (e->step != PT_NO_STEP)
			rc = pt__buf_printf(b, ",\"step\":%lld", (long long)e->step);
		if (!rc && which == 0)
			rc = e->aux ? pt__buf_printf(b, ",\"set_by_decision\":%llu", (unsigned long long)e->aux)
				    : pt__buf_append(b, ",\"set_by_decision\":null", 23);
		if (!rc)
			rc = pt__buf_append(b, "}", 1);
	}
	if (!rc)
		rc = pt__buf_append(b, "}", 1);
	pt__free(idx);
	return rc;
}

static int json_opt(pt__buf *b, const char *key, const pt__buf *rec)
{
	int rc = pt__buf_printf(b, ",\"%s\":", key);
	if (!rc)
		rc = rec->len ? pt__json_value(b, rec->data, rec->len) : pt__buf_append(b, "null", 4);
	return rc;
}

int pt__lineage_json(pt__buf *b, const pt__lineage *l, bool comma, uint64_t end_seq)
{
	int rc = pt__buf_printf(b, "%s{\"lineage\":%lld,\"parent\":%lld,\"start_seq\":%llu", comma ? "," : "",
				(long long)l->id, (long long)l->parent, (unsigned long long)l->start_seq);
	if (!rc && end_seq)
		rc = pt__buf_printf(b, ",\"end_seq\":%llu", (unsigned long long)end_seq);
	if (!rc && l->from_step != PT_NO_STEP)
		rc = pt__buf_printf(b, ",\"from_step\":%lld", (long long)l->from_step);
	if (!rc && l->manifest[0])
		rc = pt__buf_printf(b, ",\"manifest\":\"%s\"", l->manifest);
	return rc ? rc : pt__buf_append(b, "}", 1);
}

int pt__fold_json(const pt__fold *f, const char *run, const char *stream, pt__buf *b)
{
	char tbuf[48];
	int rc = pt__buf_append(b, "{", 1);
	if (!rc && run) {
		if ((rc = pt__buf_append(b, "\"run\":", 6)) || (rc = pt__json_string(b, run, strlen(run))) ||
		    (rc = pt__buf_append(b, ",", 1)))
			return rc;
	}
	if (!rc && stream) {
		if ((rc = pt__buf_append(b, "\"stream\":", 9)) || (rc = pt__json_string(b, stream, strlen(stream))) ||
		    (rc = pt__buf_append(b, ",", 1)))
			return rc;
	}
	if (rc)
		return rc;
	rc = pt__buf_printf(b, "\"seq\":%llu", (unsigned long long)f->seq);
	if (!rc && f->step != PT_NO_STEP)
		rc = pt__buf_printf(b, ",\"step\":%lld", (long long)f->step);
	if (!rc && f->events)
		rc = pt__buf_printf(b, ",\"time\":\"%s\"", pt_time_format(f->time, tbuf, sizeof tbuf));
	if (!rc)
		rc = pt__buf_printf(b, ",\"lineage\":%lld,\"events\":%llu,\"params\":", (long long)f->lineage,
				    (unsigned long long)f->events);
	if (!rc)
		rc = json_map(b, &f->params, 0);
	if (!rc)
		rc = pt__buf_append(b, ",\"metrics\":", 11);
	if (!rc)
		rc = json_map(b, &f->metrics, 1);
	if (!rc)
		rc = pt__buf_printf(b, ",\"decisions_total\":%llu,\"decisions\":[", (unsigned long long)f->decisions_total);
	size_t nd = f->decisions_total < PT_FOLD_DECISIONS_KEPT ? (size_t)f->decisions_total : PT_FOLD_DECISIONS_KEPT;
	for (size_t i = 0; !rc && i < nd; i++) {
		const pt__buf *d = &f->decisions[(f->dec_head + i) % PT_FOLD_DECISIONS_KEPT];
		if (i)
			rc = pt__buf_append(b, ",", 1);
		if (!rc)
			rc = pt__json_value(b, d->data, d->len);
	}
	if (!rc)
		rc = pt__buf_append(b, "]", 1);
	if (!rc)
		rc = json_opt(b, "checkpoint", &f->checkpoint);
	if (!rc)
		rc = json_opt(b, "code", &f->code);
	if (!rc)
		rc = json_opt(b, "env", &f->env);
	if (!rc)
		rc = pt__buf_append(b, ",\"last\":", 8);
	if (!rc)
		rc = json_map(b, &f->last, 2);
	if (!rc)
		rc = pt__buf_append(b, ",\"kinds\":", 9);
	if (!rc)
		rc = json_map(b, &f->kinds, 3);
	if (!rc)
		rc = pt__buf_append(b, ",\"lineages\":[", 13);
	for (size_t i = 0; !rc && i < f->nlineages; i++)
		rc = pt__lineage_json(b, &f->lineages[i], i > 0, 0);
	if (!rc)
		rc = pt__buf_append(b, "]}", 2);
	if (!rc && !(rc = pt__buf_reserve(b, 1)))
		b->data[b->len] = 0;
	return rc;
}
