/*
 * runs/query.c - a run's summary as values and JSON, and queries over the
 * runs of a store (provtrace/runs.h).
 *
 * A query costs, per run, what pt__rs_load costs when nothing changed: one
 * directory listing, one small file read, and per stream two stats and a
 * lock test - no event is read.  So 10,000 unchanged runs are 10,000 small
 * reads (tens to a few hundred ms on a local disk); the matching runs are
 * then sorted (n log n) and only the first `limit` rendered.  A run that
 * changed since the last query costs the events appended since.
 */
#include "runs/runs_int.h"

#include "base/mpk_int.h"
#include "format/json_int.h"

#include <math.h>

/* ---- JSON ------------------------------------------------------------------------------------ */
int pt__rs_json_double(pt__buf *b, double d)
{
	uint8_t m[9];
	mpk_double(m, d);
	return pt__json_value(b, m, sizeof m);
}

static int json_str(pt__buf *b, const char *s) { return s ? pt__json_string(b, s, strlen(s)) : pt__buf_printf(b, "null"); }

static int json_time(pt__buf *b, int64_t ns)
{
	char t[48];
	return pt__buf_printf(b, "\"%s\"", pt_time_format(ns, t, sizeof t));
}

static bool val_eq(const pt__rs_val *a, const pt__rs_val *b) { return a->len == b->len && !memcmp(a->val, b->val, a->len); }

static int json_params(pt__buf *b, const pt__rs_run *r)
{
	/* params: the value of the first stream that sets it; params_by_stream: those that differ */
	int rc = pt__buf_printf(b, ",\"params\":{");
	pt__rs_names seen = {0};
	bool first = true, any_diff = false;
	for (size_t i = 0; !rc && i < r->n; i++) {
		const pt__rs_stream *s = &r->s[i];
		for (size_t k = 0; !rc && k < s->pnames.n; k++) {
			size_t idx;
			bool created;
			if ((rc = pt__rs_names_add(&seen, s->pnames.keys[k], strlen(s->pnames.keys[k]), &idx, &created)) || !created)
				continue;
			if ((rc = pt__buf_printf(b, first ? "" : ",")) || (rc = json_str(b, s->pnames.keys[k])) ||
			    (rc = pt__buf_printf(b, ":")) || (rc = pt__json_value(b, s->params[k].val, s->params[k].len)))
				break;
			first = false;
			for (size_t j = i + 1; j < r->n; j++) {
				long o = pt__rs_names_find(&r->s[j].pnames, s->pnames.keys[k], strlen(s->pnames.keys[k]));
				if (o < 0 || !val_eq(&r->s[j].params[o], &s->params[k]))
					any_diff = true;
			}
		}
	}
	if (!rc)
		rc = pt__buf_printf(b, "}");
	if (!rc && any_diff) {
		rc = pt__buf_printf(b, ",\"params_by_stream\":{");
		first = true;
		for (size_t k = 0; !rc && k < seen.n; k++) {
			const char *name = seen.keys[k];
			const pt__rs_val *v0 = NULL;
			bool diff = false;
			for (size_t i = 0; i < r->n; i++) {
				long o = pt__rs_names_find(&r->s[i].pnames, name, strlen(name));
				if (o < 0)
					diff = true;
				else if (!v0)
					v0 = &r->s[i].params[o];
				else if (!val_eq(v0, &r->s[i].params[o]))
					diff = true;
			}
			if (!diff)
				continue;
			if ((rc = pt__buf_printf(b, first ? "" : ",")) || (rc = json_str(b, name)) || (rc = pt__buf_printf(b, ":{")))
				break;
			first = false;
			bool f2 = true;
			for (size_t i = 0; !rc && i < r->n; i++) {
				long o = pt__rs_names_find(&r->s[i].pnames, name, strlen(name));
				if (o < 0)
					continue;
				if (!(rc = pt__buf_printf(b, f2 ? "" : ",")) && !(rc = json_str(b, r->s[i].name)) &&
				    !(rc = pt__buf_printf(b, ":")))
					rc = pt__json_value(b, r->s[i].params[o].val, r->s[i].params[o].len);
				f2 = false;
			}
			if (!rc)
				rc = pt__buf_printf(b, "}");
		}
		if (!rc)
			rc = pt__buf_printf(b, "}");
	}
	pt__rs_names_free(&seen);
	return rc;
}

static int json_metrics(pt__buf *b, const pt__rs_run *r)
{
	int rc = pt__buf_printf(b, ",\"metrics\":{");
	pt__rs_names seen = {0};
	bool first = true;
	for (size_t i = 0; !rc && i < r->n; i++) {
		for (size_t k = 0; !rc && k < r->s[i].mnames.n; k++) {
			const char *name = r->s[i].mnames.keys[k];
			size_t idx;
			bool created;
			if ((rc = pt__rs_names_add(&seen, name, strlen(name), &idx, &created)) || !created)
				continue;
			const pt__rs_metric *m = pt__rs_last_metric(r, name);
			uint64_t n = 0;
			for (size_t j = 0; j < r->n; j++) {
				long o = pt__rs_names_find(&r->s[j].mnames, name, strlen(name));
				if (o >= 0)
					n += r->s[j].metrics[o].n;
			}
			double mn = 0, mx = 0;
			bool has = pt__rs_metric_range(r, name, false, &mn);
			pt__rs_metric_range(r, name, true, &mx);
			if ((rc = pt__buf_printf(b, first ? "" : ",")) || (rc = json_str(b, name)) ||
			    (rc = pt__buf_printf(b, ":{\"last\":")) || (rc = pt__rs_json_double(b, m->last)) ||
			    (rc = pt__buf_printf(b, ",\"min\":")) || (rc = has ? pt__rs_json_double(b, mn) : pt__buf_printf(b, "null")) ||
			    (rc = pt__buf_printf(b, ",\"max\":")) || (rc = has ? pt__rs_json_double(b, mx) : pt__buf_printf(b, "null")))
				break;
			if (m->last_step == PT_NO_STEP)
				rc = pt__buf_printf(b, ",\"step\":null,\"n\":%llu}", (unsigned long long)n);
			else
				rc = pt__buf_printf(b, ",\"step\":%lld,\"n\":%llu}", (long long)m->last_step, (unsigned long long)n);
			first = false;
		}
	}
	pt__rs_names_free(&seen);
	return rc ? rc : pt__buf_printf(b, "}");
}

static int json_tags(pt__buf *b, const pt__rs_run *r)
{
	int rc = pt__buf_printf(b, ",\"tags\":{");
	pt__rs_names seen = {0};
	bool first = true;
	for (size_t i = 0; !rc && i < r->n; i++) {
		for (size_t k = 0; !rc && k < r->s[i].tnames.n; k++) {
			const char *name = r->s[i].tnames.keys[k];
			size_t idx;
			bool created;
			if ((rc = pt__rs_names_add(&seen, name, strlen(name), &idx, &created)) || !created)
				continue;
			const pt__rs_val *v = pt__rs_tag_of(r, name);
			if (!(rc = pt__buf_printf(b, first ? "" : ",")) && !(rc = json_str(b, name)) && !(rc = pt__buf_printf(b, ":")))
				rc = pt__json_value(b, v->val, v->len);
			first = false;
		}
	}
	pt__rs_names_free(&seen);
	return rc ? rc : pt__buf_printf(b, "}");
}

int pt__rs_json(pt__buf *b, const pt__rs_run *r, bool decisions)
{
	int64_t t0 = 0, t1 = 0;
	bool times = pt__rs_times_of(r, &t0, &t1);
	uint64_t events = 0, dec = 0, lin = 0;
	int writers = 0;
	for (size_t i = 0; i < r->n; i++) {
		events += r->s[i].events;
		dec += r->s[i].decisions_total;
		lin = r->s[i].lineages > lin ? r->s[i].lineages : lin;
		writers += r->s[i].writer;
	}
	int rc = pt__buf_printf(b, "{\"run\":");
	if (!rc)
		rc = json_str(b, r->run);
	if (!rc)
		rc = pt__buf_printf(b, ",\"status\":\"%s\",\"started\":", pt__rs_status(r));
	if (!rc)
		rc = times ? json_time(b, t0) : pt__buf_printf(b, "null");
	if (!rc)
		rc = pt__buf_printf(b, ",\"ended\":");
	if (!rc)
		rc = times ? json_time(b, t1) : pt__buf_printf(b, "null");
	if (!rc)
		rc = pt__buf_printf(b, ",\"duration_s\":");
	if (!rc)
		rc = times ? pt__rs_json_double(b, (double)(t1 - t0) / 1e9) : pt__buf_printf(b, "null");
	if (!rc)
		rc = pt__buf_printf(b, ",\"events\":%llu,\"lineages\":%llu,\"decisions\":%llu,\"writers\":%d,\"streams\":[",
				    (unsigned long long)events, (unsigned long long)lin, (unsigned long long)dec, writers);
	for (size_t i = 0; !rc && i < r->n; i++)
		if (!(rc = pt__buf_printf(b, i ? "," : "")))
			rc = json_str(b, r->s[i].name);
	if (!rc)
		rc = pt__buf_printf(b, "]");
	if (!rc)
		rc = json_params(b, r);
	if (!rc)
		rc = json_metrics(b, r);
	if (!rc)
		rc = json_tags(b, r);
	const pt__rs_stream *ns = pt__rs_note_stream(r), *cs = pt__rs_code_stream(r);
	if (!rc)
		rc = pt__buf_printf(b, ",\"note\":");
	if (!rc)
		rc = json_str(b, ns ? ns->note : NULL);
	if (!rc)
		rc = pt__buf_printf(b, ",\"code\":");
	if (!rc && cs) {
		if (!(rc = pt__buf_printf(b, "{\"commit\":")) && !(rc = json_str(b, cs->commit)))
			rc = pt__buf_printf(b, ",\"dirty\":%s}", cs->dirty < 0 ? "null" : cs->dirty ? "true" : "false");
	} else if (!rc) {
		rc = pt__buf_printf(b, "null");
	}
	/* the error of a failed run: the first failed stream's */
	const pt__rs_stream *fs = NULL;
	for (size_t i = 0; i < r->n && !fs; i++)
		if (r->s[i].end == PT_RS_END_FAILED)
			fs = &r->s[i];
	if (!rc)
		rc = pt__buf_printf(b, ",\"error\":");
	if (!rc && fs) {
		if (!(rc = pt__buf_printf(b, "{\"stream\":")) && !(rc = json_str(b, fs->name)) &&
		    !(rc = pt__buf_printf(b, ",\"type\":")) && !(rc = json_str(b, fs->err_type)) &&
		    !(rc = pt__buf_printf(b, ",\"message\":")) && !(rc = json_str(b, fs->err_msg)))
			rc = pt__buf_printf(b, "}");
	} else if (!rc) {
		rc = pt__buf_printf(b, "null");
	}
	if (!rc && decisions) {
		rc = pt__buf_printf(b, ",\"decisions_taken\":[");
		bool first = true;
		for (size_t i = 0; !rc && i < r->n; i++) {
			const uint8_t *p = r->s[i].dec.data, *end = p + r->s[i].dec.len;
			for (uint32_t k = 0; !rc && k < r->s[i].ndec; k++) {
				const uint8_t *st = p;
				if (mpk_skip(&p, end, 70))
					return pt__err(PT_ECORRUPT, "run summary: a kept decision does not decode");
				if (!(rc = pt__buf_printf(b, first ? "" : ",")))
					rc = pt__json_value(b, st, (size_t)(p - st));
				first = false;
			}
		}
		if (!rc)
			rc = pt__buf_printf(b, "]");
	}
	return rc ? rc : pt__buf_printf(b, "}");
}

/* ---- the public API ------------------------------------------------------------------------ */
int pt_run_summary_json(const pt_store *st, const char *run, char **out)
{
	if (!st || !run || !out)
		return pt__err(PT_EINVAL, "pt_run_summary_json: NULL argument");
	*out = NULL;
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	pt__rs_run r;
	if ((rc = pt__rs_load(st, run, true, &r)))
		return rc;
	pt__buf b = {0};
	rc = pt__rs_json(&b, &r, true);
	pt__rs_run_free(&r);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

int pt_runs_where_check(const char *where)
{
	pt__expr *e = NULL;
	int rc = pt__expr_parse(where, &e);
	pt__expr_free(e);
	return rc;
}

typedef struct {
	pt__field f;
	bool desc;
} sort_key;

static void sort_keys_free(sort_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pt__free(k[i].f.name);
	pt__free(k);
}

/* "KEY[,KEY...]", each "-KEY" for descending. */
static int parse_sort(const char *sort, sort_key **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (!sort)
		return 0;
	size_t cap = 1;
	for (const char *p = sort; *p; p++)
		cap += *p == ',';
	if (cap > 64)
		return pt__err(PT_EINVAL, "sort: at most 64 keys");
	sort_key *k = pt__calloc(cap, sizeof *k);
	if (!k)
		return PT_ENOMEM;
	size_t n = 0;
	const char *p = sort;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && *p == ' ')
			p++, len--;
		while (len && p[len - 1] == ' ')
			len--;
		bool desc = len && *p == '-';
		if (desc)
			p++, len--;
		int rc = len ? pt__field_parse(p, len, &k[n].f) : pt__err(PT_EINVAL, "an empty key");
		if (rc) {
			sort_keys_free(k, n);
			return pt__err_wrap(rc, "sort \"%s\"", sort);
		}
		k[n++].desc = desc;
		if (!e)
			break;
		p = e + 1;
	}
	*out = k;
	*nout = n;
	return 0;
}

typedef struct {
	pt__rs_run r;
} match;

static const sort_key *g_keys;
static size_t g_nkeys;

static int cmp_match(const void *a, const void *b)
{
	const match *x = a, *y = b;
	for (size_t i = 0; i < g_nkeys; i++) {
		pt__rv u, v;
		pt__rs_field(&x->r, &g_keys[i].f, &u);
		pt__rs_field(&y->r, &g_keys[i].f, &v);
		/* a run without the value (or with NaN) sorts after those with one, either direction */
		bool um = u.t == PT_RV_NONE || u.t == PT_RV_NULL || u.t == PT_RV_OTHER || (u.t == PT_RV_NUM && isnan(u.num));
		bool vm = v.t == PT_RV_NONE || v.t == PT_RV_NULL || v.t == PT_RV_OTHER || (v.t == PT_RV_NUM && isnan(v.num));
		if (um || vm) {
			if (um != vm)
				return um ? 1 : -1;
			continue;
		}
		bool ok;
		int c = pt__rv_cmp(&u, &v, &ok);
		if (!ok) /* mixed types: order by type so the sort stays consistent */
			c = (u.t > v.t) - (u.t < v.t);
		if (c)
			return g_keys[i].desc ? -c : c;
	}
	return strcmp(x->r.run, y->r.run);
}

#include <pthread.h>
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

int pt_runs_query_json(const pt_store *st, const char *where, const char *sort, size_t limit, char **out)
{
	if (!st || !out)
		return pt__err(PT_EINVAL, "pt_runs_query_json: NULL argument");
	*out = NULL;
	pt__expr *e = NULL;
	sort_key *keys = NULL;
	size_t nkeys = 0, nruns = 0, nm = 0, nerr = 0;
	char **runs = NULL;
	match *m = NULL;
	pt__buf errs = {0}, b = {0};
	int rc = where ? pt__expr_parse(where, &e) : 0;
	if (rc || (rc = parse_sort(sort, &keys, &nkeys)) || (rc = pt_store_runs(st, &runs, &nruns)))
		goto done;
	if (!(m = pt__calloc(nruns ? nruns : 1, sizeof *m))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < nruns; i++) {
		pt__rs_run r;
		int lrc = pt__rs_load(st, runs[i], true, &r);
		if (lrc == PT_ENOMEM) {
			rc = lrc;
			goto done;
		}
		if (lrc) {
			/* a run that cannot be summarised is reported beside the answer, not fatal to it */
			if ((rc = pt__buf_printf(&errs, "%s{\"run\":", nerr ? "," : "")) || (rc = json_str(&errs, runs[i])) ||
			    (rc = pt__buf_printf(&errs, ",\"error\":")) || (rc = json_str(&errs, pt_error_last())) ||
			    (rc = pt__buf_printf(&errs, "}")))
				goto done;
			nerr++;
			continue;
		}
		if (e && !pt__expr_eval(e, &r)) {
			pt__rs_run_free(&r);
			continue;
		}
		m[nm++].r = r;
	}
	pthread_mutex_lock(&sort_mu);
	g_keys = keys;
	g_nkeys = nkeys;
	qsort(m, nm, sizeof *m, cmp_match);
	pthread_mutex_unlock(&sort_mu);
	size_t shown = limit && limit < nm ? limit : nm;
	if ((rc = pt__buf_printf(&b, "{\"runs\":[")))
		goto done;
	for (size_t i = 0; !rc && i < shown; i++)
		if (!(rc = pt__buf_printf(&b, i ? ",\n" : "\n")))
			rc = pt__rs_json(&b, &m[i].r, false);
	if (!rc)
		rc = pt__buf_printf(&b, "%s],\"matched\":%zu,\"total\":%zu,\"errors\":[%.*s]}", shown ? "\n" : "", nm, nruns,
				    (int)errs.len, errs.data ? (const char *)errs.data : "");
	if (!rc) {
		*out = (char *)b.data;
		b.data = NULL;
	}
done:
	for (size_t i = 0; m && i < nm; i++)
		pt__rs_run_free(&m[i].r);
	pt__free(m);
	pt_strv_free(runs, nruns);
	sort_keys_free(keys, nkeys);
	pt__expr_free(e);
	pt__buf_free(&errs);
	pt__buf_free(&b);
	return rc;
}
