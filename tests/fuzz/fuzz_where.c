/*
 * fuzz_where.c - the `--where` expression parser (runs/expr.c) and its
 * evaluation on a run summary, plus the sort-key field parser: any input is
 * parsed (an error must carry a message and name a position), parsing twice
 * gives the same verdict, and a parsed expression evaluates without a crash
 * on a run with params, metrics (NaN included), tags, a note and two streams.
 */
#include "fuzz_common.h"

#include "base/mpk_int.h"
#include "runs/runs_int.h"

#include <math.h>

static pt__rs_run g_run;
static bool g_ready;

static void put_val(pt__rs_names *m, pt__rs_val **vals, const char *k, const uint8_t *v, size_t vl)
{
	size_t idx;
	bool created;
	if (pt__rs_names_add(m, k, strlen(k), &idx, &created))
		abort();
	*vals = realloc(*vals, m->cap * sizeof **vals);
	(*vals)[idx].val = malloc(vl);
	memcpy((*vals)[idx].val, v, vl);
	(*vals)[idx].len = vl;
	(*vals)[idx].time = 1000 + (int64_t)idx;
}

static void put_metric(pt__rs_stream *s, const char *k, double last, double mn, double mx)
{
	size_t idx;
	bool created;
	if (pt__rs_names_add(&s->mnames, k, strlen(k), &idx, &created))
		abort();
	s->metrics = realloc(s->metrics, s->mnames.cap * sizeof *s->metrics);
	s->metrics[idx] = (pt__rs_metric){last, mn, mx, 7, 2000, 3, !isnan(mn)};
}

static void setup_run(void)
{
	g_run.run = strdup("fuzz-run");
	g_run.n = 2;
	g_run.s = calloc(2, sizeof *g_run.s);
	for (size_t i = 0; i < 2; i++) {
		pt__rs_stream *s = &g_run.s[i];
		s->name = strdup(i ? "rank1" : "rank0");
		s->events = 10 + i;
		s->t0 = 1700000000000000000 + (int64_t)i;
		s->t1 = s->t0 + 5000000000;
		s->lineages = 1 + i;
		s->step_max = 9;
		s->dirty = (int)i;
		s->has_code = 1;
		s->commit = strdup("0123456789abcdef0123456789abcdef01234567");
		s->note = strdup("a note");
		s->end = (int)i + 1;
		uint8_t b[16], *p;
		p = mpk_double(b, 0.1 * (double)(i + 1));
		put_val(&s->pnames, &s->params, "lr", b, (size_t)(p - b));
		p = mpk_str_hdr(b, 4);
		memcpy(p, "adam", 4);
		put_val(&s->pnames, &s->params, "opt", b, (size_t)(p + 4 - b));
		b[0] = 0xc3;
		put_val(&s->pnames, &s->params, "flag", b, 1);
		b[0] = 0xc0;
		put_val(&s->pnames, &s->params, "none", b, 1);
		b[0] = 0x91, b[1] = 0x01;
		put_val(&s->pnames, &s->params, "list", b, 2);
		p = mpk_str_hdr(b, 3);
		memcpy(p, "nlp", 3);
		put_val(&s->tnames, &s->tags, "team", b, (size_t)(p + 3 - b));
		put_metric(s, "loss", 0.5 - 0.1 * (double)i, 0.05, 2.0);
		put_metric(s, "nan", NAN, NAN, NAN);
		put_metric(s, "inf", INFINITY, -INFINITY, INFINITY);
	}
	g_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PT_EXPR_MAX_LEN + 16)
		return 0;
	if (!g_ready)
		setup_run();
	char *text = pt__strndup((const char *)data, size);
	if (!text)
		return 0;
	pt__expr *e = NULL, *e2 = NULL;
	int rc = pt__expr_parse(text, &e);
	fz_check_error(rc);
	if (rc && rc != PT_ENOMEM && !strstr(pt_error_last(), "where:"))
		abort(); /* every parse error says it is about the expression */
	int rc2 = pt__expr_parse(text, &e2);
	if ((rc == 0) != (rc2 == 0))
		abort(); /* deterministic */
	if (rc == 0) {
		bool a = pt__expr_eval(e, &g_run), b = pt__expr_eval(e2, &g_run);
		if (a != b)
			abort();
	}
	pt__expr_free(e);
	pt__expr_free(e2);
	/* the same bytes as a field name (a --sort key) */
	pt__field f;
	rc = pt__field_parse(text, strlen(text), &f);
	fz_check_error(rc);
	if (rc == 0) {
		pt__rv v;
		pt__rs_field(&g_run, &f, &v);
		bool ok;
		pt__rv_cmp(&v, &v, &ok);
		pt__free(f.name);
	}
	pt__free(text);
	return 0;
}
