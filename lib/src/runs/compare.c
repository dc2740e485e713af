/* runs/compare.c - several runs side by side (provtrace/runs.h, pt_runs_compare_json). */
#include "runs/runs_int.h"

#include "format/json_int.h"

#define COMPARE_MAX 256

static int key(pt__buf *b, bool *first, const char *k)
{
	int rc = pt__buf_printf(b, *first ? "" : ",");
	*first = false;
	if (!rc)
		rc = pt__json_string(b, k, strlen(k));
	return rc ? rc : pt__buf_printf(b, ":");
}

static int params_json(pt__buf *b, const pt__rs_run *r, size_t n)
{
	pt__rs_names all = {0};
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t s = 0; !rc && s < r[i].n; s++)
			for (size_t k = 0; !rc && k < r[i].s[s].pnames.n; k++) {
				size_t idx;
				bool created;
				const char *name = r[i].s[s].pnames.keys[k];
				rc = pt__rs_names_add(&all, name, strlen(name), &idx, &created);
			}
	for (int pass = 0; !rc && pass < 2; pass++) {
		/* pass 0: params that differ (or are missing somewhere); pass 1: the same everywhere */
		bool first = true;
		if ((rc = pt__buf_printf(b, pass ? ",\"params_same\":{" : ",\"params_differ\":{")))
			break;
		for (size_t k = 0; !rc && k < all.n; k++) {
			const pt__rs_val *v0 = pt__rs_param_of(&r[0], all.keys[k]);
			bool differ = !v0;
			for (size_t i = 1; i < n && !differ; i++) {
				const pt__rs_val *v = pt__rs_param_of(&r[i], all.keys[k]);
				differ = !v || v->len != v0->len || memcmp(v->val, v0->val, v->len);
			}
			if (differ != (pass == 0))
				continue;
			if ((rc = key(b, &first, all.keys[k])))
				break;
			if (pass) {
				rc = pt__json_value(b, v0->val, v0->len);
				continue;
			}
			bool f2 = true;
			if ((rc = pt__buf_printf(b, "{")))
				break;
			for (size_t i = 0; !rc && i < n; i++) {
				const pt__rs_val *v = pt__rs_param_of(&r[i], all.keys[k]);
				if (!(rc = key(b, &f2, r[i].run)))
					rc = v ? pt__json_value(b, v->val, v->len) : pt__buf_printf(b, "null");
			}
			if (!rc)
				rc = pt__buf_printf(b, "}");
		}
		if (!rc)
			rc = pt__buf_printf(b, "}");
	}
	pt__rs_names_free(&all);
	return rc;
}

static int metrics_json(pt__buf *b, const pt__rs_run *r, size_t n)
{
	pt__rs_names all = {0};
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t s = 0; !rc && s < r[i].n; s++)
			for (size_t k = 0; !rc && k < r[i].s[s].mnames.n; k++) {
				size_t idx;
				bool created;
				const char *name = r[i].s[s].mnames.keys[k];
				rc = pt__rs_names_add(&all, name, strlen(name), &idx, &created);
			}
	bool first = true;
	if (!rc)
		rc = pt__buf_printf(b, ",\"metrics\":{");
	for (size_t k = 0; !rc && k < all.n; k++) {
		if ((rc = key(b, &first, all.keys[k])) || (rc = pt__buf_printf(b, "{")))
			break;
		bool f2 = true;
		for (size_t i = 0; !rc && i < n; i++) {
			if ((rc = key(b, &f2, r[i].run)))
				break;
			pt__field f = {PT_F_LAST, all.keys[k]};
			pt__rv last, mn, mx;
			pt__rs_field(&r[i], &f, &last);
			f.k = PT_F_MIN;
			pt__rs_field(&r[i], &f, &mn);
			f.k = PT_F_MAX;
			pt__rs_field(&r[i], &f, &mx);
			if (last.t == PT_RV_NONE) {
				rc = pt__buf_printf(b, "null");
				continue;
			}
			if ((rc = pt__buf_printf(b, "{\"last\":")) || (rc = pt__rs_json_double(b, last.num)) ||
			    (rc = pt__buf_printf(b, ",\"min\":")) ||
			    (rc = mn.t == PT_RV_NUM ? pt__rs_json_double(b, mn.num) : pt__buf_printf(b, "null")) ||
			    (rc = pt__buf_printf(b, ",\"max\":")) ||
			    (rc = mx.t == PT_RV_NUM ? pt__rs_json_double(b, mx.num) : pt__buf_printf(b, "null")))
				break;
			rc = pt__buf_printf(b, "}");
		}
		if (!rc)
			rc = pt__buf_printf(b, "}");
	}
	if (!rc)
		rc = pt__buf_printf(b, "}");
	pt__rs_names_free(&all);
	return rc;
}

int pt_runs_compare_json(const pt_store *st, const char *const *runs, size_t n, char **out)
{
	if (!st || !runs || !out)
		return pt__err(PT_EINVAL, "pt_runs_compare_json: NULL argument");
	*out = NULL;
	if (n < 2)
		return pt__err(PT_EINVAL, "compare needs at least two runs (got %zu)", n);
	if (n > COMPARE_MAX)
		return pt__err(PT_EINVAL, "compare takes at most %d runs (got %zu)", COMPARE_MAX, n);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = runs[i] ? pt_name_check("run", runs[i]) : pt__err(PT_EINVAL, "pt_runs_compare_json: run %zu is NULL", i);
	if (rc)
		return rc;
	pt__rs_run *r = pt__calloc(n, sizeof *r);
	if (!r)
		return PT_ENOMEM;
	pt__buf b = {0};
	size_t loaded = 0;
	for (; loaded < n; loaded++)
		if ((rc = pt__rs_load(st, runs[loaded], true, &r[loaded])))
			goto done;
	if ((rc = pt__buf_printf(&b, "{\"runs\":[")))
		goto done;
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = pt__buf_printf(&b, i ? "," : "")))
			rc = pt__json_string(&b, runs[i], strlen(runs[i]));
	if (!rc)
		rc = pt__buf_printf(&b, "]");
	if (!rc)
		rc = params_json(&b, r, n);
	if (!rc)
		rc = metrics_json(&b, r, n);
	if (!rc)
		rc = pt__buf_printf(&b, ",\"summaries\":[");
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = pt__buf_printf(&b, i ? ",\n" : "\n")))
			rc = pt__rs_json(&b, &r[i], true);
	if (!rc)
		rc = pt__buf_printf(&b, "]}");
	if (!rc) {
		*out = (char *)b.data;
		b.data = NULL;
	}
done:
	for (size_t i = 0; i < loaded; i++)
		pt__rs_run_free(&r[i]);
	pt__free(r);
	pt__buf_free(&b);
	return rc;
}
