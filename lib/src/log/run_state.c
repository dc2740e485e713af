/* log/run_state.c - the state of a run: every stream's state and a summary across them (provtrace/run.h). */
#include "provtrace/replay.h"
#include "provtrace/run.h"

#include "base/base_int.h"
#include "base/mpk_int.h"
#include "format/json_int.h"
#include "log/fold_int.h"
#include "log/state_int.h"

#include <string.h>

static const pt__fold_entry *find(const pt__fold_map *m, const char *key, size_t klen)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].klen == klen && !memcmp(m->v[i].key, key, klen))
			return &m->v[i];
	return NULL;
}

static bool number(const uint8_t *v, size_t len, double *out)
{
	const uint8_t *p = v;
	mpk_obj o;
	if (mpk_read(&p, v + len, &o))
		return false;
	switch (o.type) {
	case MPK_UINT: *out = (double)o.u; return true;
	case MPK_INT: *out = (double)o.i; return true;
	case MPK_FLOAT32:
	case MPK_FLOAT64: *out = o.d; return true;
	default: return false;
	}
}

/* Has an earlier map of `f[0..i)` the key (so it was summarised already)? */
static bool seen_before(const pt__fold *const *f, size_t i, bool params, const pt__fold_entry *e)
{
	for (size_t j = 0; j < i; j++)
		if (find(params ? &f[j]->params : &f[j]->metrics, e->key, e->klen))
			return true;
	return false;
}

static int summary(pt__buf *b, char **names, const pt__fold *const *f, size_t n)
{
	int rc = pt__buf_append(b, "\"summary\":{\"streams\":", 21);
	if (!rc)
		rc = pt__buf_printf(b, "%zu,\"params\":{", n);
	/* params set to the same value in every stream: once */
	bool comma = false;
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t k = 0; !rc && k < f[i]->params.n; k++) {
			const pt__fold_entry *e = &f[i]->params.v[k];
			if (seen_before(f, i, true, e))
				continue;
			bool same = true;
			for (size_t j = 0; same && j < n; j++) {
				const pt__fold_entry *o = find(&f[j]->params, e->key, e->klen);
				same = o && o->val_len == e->val_len && !memcmp(o->val, e->val, e->val_len);
			}
			if (!same)
				continue;
			if ((rc = pt__buf_append(b, comma ? "," : "", comma)) || (rc = pt__json_string(b, e->key, e->klen)) ||
			    (rc = pt__buf_append(b, ":", 1)) || (rc = pt__json_value(b, e->val, e->val_len)))
				break;
			comma = true;
		}
	/* the others: per stream (a stream without it is left out) */
	if (!rc)
		rc = pt__buf_append(b, "},\"params_by_stream\":{", 22);
	comma = false;
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t k = 0; !rc && k < f[i]->params.n; k++) {
			const pt__fold_entry *e = &f[i]->params.v[k];
			if (seen_before(f, i, true, e))
				continue;
			bool same = true;
			for (size_t j = 0; same && j < n; j++) {
				const pt__fold_entry *o = find(&f[j]->params, e->key, e->klen);
				same = o && o->val_len == e->val_len && !memcmp(o->val, e->val, e->val_len);
			}
			if (same)
				continue;
			if ((rc = pt__buf_append(b, comma ? "," : "", comma)) || (rc = pt__json_string(b, e->key, e->klen)) ||
			    (rc = pt__buf_append(b, ":{", 2)))
				break;
			comma = true;
			bool c2 = false;
			for (size_t j = 0; !rc && j < n; j++) {
				const pt__fold_entry *o = find(&f[j]->params, e->key, e->klen);
				if (!o)
					continue;
				if (!(rc = pt__buf_append(b, c2 ? "," : "", c2)) &&
				    !(rc = pt__json_string(b, names[j], strlen(names[j]))) && !(rc = pt__buf_append(b, ":", 1)))
					rc = pt__json_value(b, o->val, o->val_len);
				c2 = true;
			}
			if (!rc)
				rc = pt__buf_append(b, "}", 1);
		}
	/* metrics: the latest value per stream, min/mean/max across the streams where it is a number */
	if (!rc)
		rc = pt__buf_append(b, "},\"metrics\":{", 13);
	comma = false;
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t k = 0; !rc && k < f[i]->metrics.n; k++) {
			const pt__fold_entry *e = &f[i]->metrics.v[k];
			if (seen_before(f, i, false, e))
				continue;
			if ((rc = pt__buf_append(b, comma ? "," : "", comma)) || (rc = pt__json_string(b, e->key, e->klen)) ||
			    (rc = pt__buf_append(b, ":{\"streams\":{", 13)))
				break;
			comma = true;
			bool c2 = false;
			double mn = 0, mx = 0, sum = 0;
			size_t cnt = 0;
			for (size_t j = 0; !rc && j < n; j++) {
				const pt__fold_entry *o = find(&f[j]->metrics, e->key, e->klen);
				if (!o)
					continue;
				if (!(rc = pt__buf_append(b, c2 ? "," : "", c2)) &&
				    !(rc = pt__json_string(b, names[j], strlen(names[j]))) && !(rc = pt__buf_append(b, ":", 1)))
					rc = pt__json_value(b, o->val, o->val_len);
				c2 = true;
				double d = 0;
				if (number(o->val, o->val_len, &d) && d - d == 0) { /* finite */
					mn = cnt && mn < d ? mn : d;
					mx = cnt && mx > d ? mx : d;
					sum += d;
					cnt++;
				}
			}
			if (!rc && cnt)
				rc = pt__buf_printf(b, "},\"n\":%zu,\"min\":%.17g,\"mean\":%.17g,\"max\":%.17g}", cnt, mn,
						    sum / (double)cnt, mx);
			else if (!rc)
				rc = pt__buf_append(b, "},\"n\":0,\"min\":null,\"mean\":null,\"max\":null}", 42);
		}
	if (!rc)
		rc = pt__buf_append(b, "}}", 2);
	return rc;
}

int pt_run_state_json(const pt_store *st, const char *run, const pt_point *at, const pt_replay_options *opts,
		      char **out)
{
	if (!st || !run || !out)
		return pt__err(PT_EINVAL, "pt_run_state_json: NULL argument");
	*out = NULL;
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_REPLAY_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_run_state_json: options version %u is not supported", opts->version);
		o = *opts;
	}
	char **names = NULL;
	size_t n = 0;
	int rc;
	if (o.stream) {
		if ((rc = pt_name_check("stream", o.stream)))
			return rc;
		if (!(names = pt__calloc(1, sizeof *names)) || !(names[0] = pt__strdup(o.stream))) {
			pt__free(names);
			return PT_ENOMEM;
		}
		n = 1;
	} else if ((rc = pt_store_streams(st, run, &names, &n))) {
		return rc;
	} else if (!n) {
		pt_strv_free(names, n);
		return pt__err(PT_ENOTFOUND, "run %s has no streams", run);
	}
	pt_replay **rp = pt__calloc(n, sizeof *rp);
	const pt__fold **f = pt__calloc(n, sizeof *f);
	pt__buf b = {0};
	rc = rp && f ? 0 : PT_ENOMEM;
	if (!rc)
		rc = pt__buf_append(&b, "{\"run\":", 7);
	if (!rc)
		rc = pt__json_string(&b, run, strlen(run));
	if (!rc)
		rc = pt__buf_append(&b, ",\"streams\":{", 12);
	for (size_t i = 0; !rc && i < n; i++) {
		o.stream = names[i];
		const char *js;
		size_t jl;
		if ((rc = pt_replay_open(&rp[i], st, run, at, &o)) || (rc = pt_replay_state_json(rp[i], &js, &jl)))
			break;
		f[i] = pt__replay_fold(rp[i]);
		if ((rc = pt__buf_append(&b, i ? "," : "", i ? 1 : 0)) || (rc = pt__json_string(&b, names[i], strlen(names[i]))) ||
		    (rc = pt__buf_append(&b, ":", 1)))
			break;
		rc = pt__buf_append(&b, js, jl);
	}
	if (!rc)
		rc = pt__buf_append(&b, "},", 2);
	if (!rc)
		rc = summary(&b, names, f, n);
	if (!rc)
		rc = pt__buf_append(&b, "}", 2);
	for (size_t i = 0; rp && i < n; i++)
		pt_replay_free(rp[i]);
	pt__free(rp);
	pt__free((void *)f);
	pt_strv_free(names, n);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}
