/*
 * runs/fields.c - the values of a run that queries compare and sort on
 * (provtrace/runs.h lists them): one place that says what "params.lr" or
 * "min.val_loss" of a run with several streams is.
 */
#include "runs/runs_int.h"

#include "base/mpk_int.h"

#include <math.h>

/* ---- values of a run ---------------------------------------------------------------------- */
const char *pt__rs_status(const pt__rs_run *r)
{
	bool any_events = false, failed = false, crashed = false;
	for (size_t i = 0; i < r->n; i++) {
		const pt__rs_stream *s = &r->s[i];
		if (s->writer)
			return "running";
		if (!s->events)
			continue;
		any_events = true;
		if (s->end == PT_RS_END_FAILED)
			failed = true;
		else if (s->end == PT_RS_END_NONE)
			crashed = true;
	}
	return !any_events ? "empty" : failed ? "failed" : crashed ? "crashed" : "finished";
}

static void rv_of_msgpack(const uint8_t *v, size_t vl, pt__rv *out)
{
	mpk_obj o;
	const uint8_t *p = v;
	memset(out, 0, sizeof *out);
	if (mpk_read(&p, v + vl, &o)) {
		out->t = PT_RV_OTHER;
		return;
	}
	switch (o.type) {
	case MPK_UINT: out->t = PT_RV_NUM; out->num = (double)o.u; break;
	case MPK_INT: out->t = PT_RV_NUM; out->num = (double)o.i; break;
	case MPK_FLOAT32:
	case MPK_FLOAT64: out->t = PT_RV_NUM; out->num = o.d; break;
	case MPK_STR: out->t = PT_RV_STR; out->str = (const char *)o.ptr; out->len = o.len; break;
	case MPK_BOOL: out->t = PT_RV_BOOL; out->b = o.b; break;
	case MPK_NIL: out->t = PT_RV_NULL; break;
	default: out->t = PT_RV_OTHER; break;
	}
}

/* The stream whose metric `name` was written last (ties: the first stream), and the metric. */
const pt__rs_metric *pt__rs_last_metric(const pt__rs_run *r, const char *name)
{
	const pt__rs_metric *best = NULL;
	for (size_t i = 0; i < r->n; i++) {
		long k = pt__rs_names_find(&r->s[i].mnames, name, strlen(name));
		if (k >= 0 && (!best || r->s[i].metrics[k].last_time > best->last_time))
			best = &r->s[i].metrics[k];
	}
	return best;
}

/* min (want_max false) or max of a metric over the streams; false if no stream has a number */
bool pt__rs_metric_range(const pt__rs_run *r, const char *name, bool want_max, double *out)
{
	bool any = false;
	for (size_t i = 0; i < r->n; i++) {
		long k = pt__rs_names_find(&r->s[i].mnames, name, strlen(name));
		if (k < 0 || !r->s[i].metrics[k].has_range)
			continue;
		double d = want_max ? r->s[i].metrics[k].max : r->s[i].metrics[k].min;
		if (!any || (want_max ? d > *out : d < *out))
			*out = d;
		any = true;
	}
	return any;
}

const pt__rs_val *pt__rs_param_of(const pt__rs_run *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++) {
		long k = pt__rs_names_find(&r->s[i].pnames, name, strlen(name));
		if (k >= 0)
			return &r->s[i].params[k];
	}
	return NULL;
}

const pt__rs_val *pt__rs_tag_of(const pt__rs_run *r, const char *name)
{
	const pt__rs_val *best = NULL;
	for (size_t i = 0; i < r->n; i++) {
		long k = pt__rs_names_find(&r->s[i].tnames, name, strlen(name));
		if (k >= 0 && (!best || r->s[i].tags[k].time > best->time))
			best = &r->s[i].tags[k];
	}
	return best;
}

bool pt__rs_times_of(const pt__rs_run *r, int64_t *t0, int64_t *t1)
{
	bool any = false;
	for (size_t i = 0; i < r->n; i++) {
		const pt__rs_stream *s = &r->s[i];
		if (!s->events)
			continue;
		if (!any || s->t0 < *t0)
			*t0 = s->t0;
		if (!any || s->t1 > *t1)
			*t1 = s->t1;
		any = true;
	}
	return any;
}

const pt__rs_stream *pt__rs_code_stream(const pt__rs_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->s[i].has_code)
			return &r->s[i];
	return NULL;
}

const pt__rs_stream *pt__rs_note_stream(const pt__rs_run *r)
{
	const pt__rs_stream *best = NULL;
	for (size_t i = 0; i < r->n; i++)
		if (r->s[i].note && (!best || r->s[i].note_time > best->note_time))
			best = &r->s[i];
	return best;
}

void pt__rs_field(const pt__rs_run *r, const pt__field *f, pt__rv *out)
{
	memset(out, 0, sizeof *out);
	int64_t t0 = 0, t1 = 0;
	uint64_t sum = 0;
	switch (f->k) {
	case PT_F_RUN: out->t = PT_RV_STR; out->str = r->run; out->len = strlen(r->run); return;
	case PT_F_STATUS: out->t = PT_RV_STR; out->str = pt__rs_status(r); out->len = strlen(out->str); return;
	case PT_F_STARTED:
	case PT_F_ENDED:
	case PT_F_DURATION:
		if (!pt__rs_times_of(r, &t0, &t1))
			return;
		if (f->k == PT_F_DURATION)
			out->t = PT_RV_NUM, out->num = (double)(t1 - t0) / 1e9;
		else
			out->t = PT_RV_TIME, out->time = f->k == PT_F_STARTED ? t0 : t1;
		return;
	case PT_F_EVENTS:
	case PT_F_DECISIONS:
		for (size_t i = 0; i < r->n; i++)
			sum += f->k == PT_F_EVENTS ? r->s[i].events : r->s[i].decisions_total;
		out->t = PT_RV_NUM;
		out->num = (double)sum;
		return;
	case PT_F_STREAMS: out->t = PT_RV_NUM; out->num = (double)r->n; return;
	case PT_F_LINEAGES:
		for (size_t i = 0; i < r->n; i++)
			sum = r->s[i].lineages > sum ? r->s[i].lineages : sum;
		out->t = PT_RV_NUM;
		out->num = (double)sum;
		return;
	case PT_F_NOTE: {
		const pt__rs_stream *s = pt__rs_note_stream(r);
		if (s)
			out->t = PT_RV_STR, out->str = s->note, out->len = strlen(s->note);
		return;
	}
	case PT_F_COMMIT: {
		const pt__rs_stream *s = pt__rs_code_stream(r);
		if (s && s->commit)
			out->t = PT_RV_STR, out->str = s->commit, out->len = strlen(s->commit);
		else if (s)
			out->t = PT_RV_NULL;
		return;
	}
	case PT_F_DIRTY: {
		const pt__rs_stream *s = pt__rs_code_stream(r);
		if (s && s->dirty >= 0)
			out->t = PT_RV_BOOL, out->b = s->dirty == 1;
		else if (s)
			out->t = PT_RV_NULL;
		return;
	}
	case PT_F_PARAM: {
		const pt__rs_val *v = pt__rs_param_of(r, f->name);
		if (v)
			rv_of_msgpack(v->val, v->len, out);
		return;
	}
	case PT_F_TAG: {
		const pt__rs_val *v = pt__rs_tag_of(r, f->name);
		if (v)
			rv_of_msgpack(v->val, v->len, out);
		return;
	}
	case PT_F_LAST: {
		const pt__rs_metric *m = pt__rs_last_metric(r, f->name);
		if (m)
			out->t = PT_RV_NUM, out->num = m->last;
		return;
	}
	case PT_F_MIN:
	case PT_F_MAX:
		if (pt__rs_metric_range(r, f->name, f->k == PT_F_MAX, &out->num))
			out->t = PT_RV_NUM;
		return;
	}
}

