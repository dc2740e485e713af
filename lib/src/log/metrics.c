/* log/metrics.c - metric series of a run, on the live path, downsampled (provtrace/run.h). */
#include "provtrace/run.h"

#include "base/base_int.h"
#include "base/mpk_int.h"

#include <string.h>

/* The numeric "value" of a metric body; false if none or not a number. */
static bool metric_value(const pt_event_view *ev, double *out)
{
	const void *body;
	size_t len;
	if (pt_ev_body_msgpack(ev, &body, &len))
		return false;
	const uint8_t *p = body, *end = p + len;
	/* the body every metric writer produces, {"value": float64}, without a general walk */
	if (len == 16 && p[0] == 0x81 && p[1] == 0xa5 && !memcmp(p + 2, "value", 5) && p[7] == 0xcb) {
		uint64_t u = mpk_rbe64(p + 8);
		memcpy(out, &u, 8);
		return true;
	}
	mpk_obj o;
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return false;
	for (uint32_t i = 0, n = o.len; i < n; i++) {
		mpk_obj k, v;
		if (mpk_read(&p, end, &k) || k.type != MPK_STR)
			return false;
		if (k.len == 5 && !memcmp(k.ptr, "value", 5)) {
			if (mpk_read(&p, end, &v))
				return false;
			switch (v.type) {
			case MPK_UINT: *out = (double)v.u; return true;
			case MPK_INT: *out = (double)v.i; return true;
			case MPK_FLOAT32:
			case MPK_FLOAT64: *out = v.d; return true;
			default: return false;
			}
		}
		if (mpk_skip(&p, end, 64))
			return false;
	}
	return false;
}

/* a before b for a minimum: a number beats NaN, NaN beats nothing (so the extremes survive NaNs) */
static bool lower(double a, double b) { return a < b || (b != b && a == a); }
static bool greater(double a, double b) { return a > b || (b != b && a == a); }

void pt_metrics_free(pt_metric_series *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		pt__free(s[i].stream);
		pt__free(s[i].name);
		pt__free(s[i].steps);
		pt__free(s[i].values);
	}
	pt__free(s);
}

static int push(pt_metric_series *s, size_t *cap, int64_t step, double v)
{
	if (s->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		int64_t *ns = pt__realloc(s->steps, nc * sizeof *ns);
		if (!ns)
			return PT_ENOMEM;
		s->steps = ns;
		double *nv = pt__realloc(s->values, nc * sizeof *nv);
		if (!nv)
			return PT_ENOMEM;
		s->values = nv;
		*cap = nc;
	}
	s->steps[s->n] = step;
	s->values[s->n] = v;
	s->n++;
	return 0;
}

/*
 * Downsampling while reading (points >= 4), so that memory is O(points) per
 * series whatever its length: once a series has more than `points` points,
 * they go into buckets of `width` consecutive points, each keeping its first
 * minimum and first maximum (NaN never wins a comparison, as below); when
 * `maxb` buckets are complete and another point comes, neighbours are merged
 * in pairs and the width doubles.  At the end every bucket gives its minimum
 * and maximum in their order: at most 2 * maxb <= points points, every
 * bucket of one width (the last one partial), the series' extremes kept.
 */
typedef struct {
	int64_t smin, smax;
	double vmin, vmax;
	uint64_t imin, imax;
} bucket;

typedef struct {
	size_t cap;      /* points allocated in the series' arrays */
	bool streaming;
	uint64_t width, fill, seen;
	size_t nb, maxb;
	bucket *b;       /* maxb of them */
} sstate;

static void feed(sstate *t, int64_t step, double v)
{
	if (t->fill == 0) {
		if (t->nb == t->maxb) {
			for (size_t i = 0; i < t->nb / 2; i++) {
				bucket a = t->b[2 * i], c = t->b[2 * i + 1];
				if (lower(c.vmin, a.vmin))
					a.vmin = c.vmin, a.smin = c.smin, a.imin = c.imin;
				if (greater(c.vmax, a.vmax))
					a.vmax = c.vmax, a.smax = c.smax, a.imax = c.imax;
				t->b[i] = a;
			}
			t->nb /= 2;
			t->width *= 2;
		}
		bucket *k = &t->b[t->nb];
		k->smin = k->smax = step;
		k->vmin = k->vmax = v;
		k->imin = k->imax = t->seen;
	} else {
		bucket *k = &t->b[t->nb];
		if (lower(v, k->vmin))
			k->vmin = v, k->smin = step, k->imin = t->seen;
		if (greater(v, k->vmax))
			k->vmax = v, k->smax = step, k->imax = t->seen;
	}
	t->seen++;
	if (++t->fill == t->width) {
		t->nb++;
		t->fill = 0;
	}
}

/* The series has just passed `points`: its raw points go into buckets. */
static int start_streaming(pt_metric_series *s, sstate *t, size_t points)
{
	t->maxb = points / 2;
	t->maxb -= t->maxb % 2;
	if (!(t->b = pt__calloc(t->maxb + 1, sizeof *t->b)))
		return PT_ENOMEM;
	t->streaming = true;
	t->width = 1;
	for (size_t i = 0; i < s->n; i++)
		feed(t, s->steps[i], s->values[i]);
	s->n = 0;
	return 0;
}

/* Write the buckets' extremes back into the series (cap >= points >= 2 * buckets). */
static void finish_streaming(pt_metric_series *s, sstate *t)
{
	size_t w = 0, nb = t->nb + (t->fill ? 1 : 0);
	for (size_t i = 0; i < nb; i++) {
		const bucket *k = &t->b[i];
		bool min_first = k->imin <= k->imax;
		s->steps[w] = min_first ? k->smin : k->smax;
		s->values[w++] = min_first ? k->vmin : k->vmax;
		if (k->imin != k->imax) {
			s->steps[w] = min_first ? k->smax : k->smin;
			s->values[w++] = min_first ? k->vmax : k->vmin;
		}
	}
	s->n = w;
}

/* Keep at most `points`: the series cut into points/2 buckets, each keeping its minimum and maximum (in order). */
static void downsample(pt_metric_series *s, size_t points)
{
	if (!points || s->n <= points)
		return;
	size_t buckets = points / 2 ? points / 2 : 1, w = 0, n = s->n;
	for (size_t b = 0; b < buckets; b++) {
		size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
		if (lo >= hi)
			continue;
		size_t imin = lo, imax = lo;
		for (size_t i = lo + 1; i < hi; i++) {
			/* a number beats NaN: a bucket of NaNs keeps its first */
			if (lower(s->values[i], s->values[imin]))
				imin = i;
			if (greater(s->values[i], s->values[imax]))
				imax = i;
		}
		size_t a = imin < imax ? imin : imax, c = imin < imax ? imax : imin;
		if (points == 1)
			a = c = imin;
		s->steps[w] = s->steps[a], s->values[w] = s->values[a], w++;
		if (c != a)
			s->steps[w] = s->steps[c], s->values[w] = s->values[c], w++;
	}
	s->n = w;
}

int pt_metrics_read(const pt_store *st, const char *run, const char *stream, const char *const *names, size_t nnames,
		    int live, size_t points, pt_metric_series **out, size_t *nout)
{
	if (!st || !run || !out || !nout || (nnames && !names))
		return pt__err(PT_EINVAL, "pt_metrics_read: NULL argument");
	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < nnames; i++)
		if (!names[i])
			return pt__err(PT_EINVAL, "pt_metrics_read: name %zu is NULL", i);
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = "metric";
	pt_run_iter *it = NULL;
	int rc = stream ? pt_run_iter_open(&it, st, run, &stream, 1, &o, live)
			: pt_run_iter_open(&it, st, run, NULL, 0, &o, live);
	if (rc)
		return rc;
	pt_metric_series *s = NULL;
	sstate *caps = NULL;
	size_t n = 0, cap = 0, last = SIZE_MAX;
	const pt_event_view *ev;
	while ((rc = pt_run_iter_next(it, &ev, NULL)) == 0) {
		const char *name = pt_ev_name(ev), *sname = pt_ev_stream(ev);
		int64_t step = pt_ev_step(ev);
		double v = 0;
		if (!name || step == PT_NO_STEP || !metric_value(ev, &v))
			continue;
		bool want = !nnames;
		for (size_t i = 0; !want && i < nnames; i++)
			want = !strcmp(names[i], name);
		if (!want)
			continue;
		/* consecutive events are mostly of one series: try the last one first */
		size_t k = 0;
		if (last < n && !strcmp(s[last].name, name) && !strcmp(s[last].stream, sname))
			k = last;
		else
			while (k < n && (strcmp(s[k].name, name) || strcmp(s[k].stream, sname)))
				k++;
		last = k;
		if (k == n) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				pt_metric_series *ns = pt__realloc(s, nc * sizeof *ns);
				if (!ns) {
					rc = PT_ENOMEM;
					break;
				}
				s = ns;
				sstate *ncaps = pt__realloc(caps, nc * sizeof *ncaps);
				if (!ncaps) {
					rc = PT_ENOMEM;
					break;
				}
				caps = ncaps;
				cap = nc;
			}
			memset(&s[n], 0, sizeof s[n]);
			memset(&caps[n], 0, sizeof caps[n]);
			n++;
			if (!(s[k].name = pt__strdup(name)) || !(s[k].stream = pt__strdup(sname))) {
				rc = PT_ENOMEM;
				break;
			}
		}
		if (caps[k].streaming) {
			feed(&caps[k], step, v);
			continue;
		}
		if ((rc = push(&s[k], &caps[k].cap, step, v)))
			break;
		if (points >= 4 && s[k].n > points && (rc = start_streaming(&s[k], &caps[k], points)))
			break;
	}
	pt_run_iter_free(it);
	if (rc == PT_ITEROVER) {
		for (size_t k = 0; k < n; k++) {
			if (caps[k].streaming)
				finish_streaming(&s[k], &caps[k]);
			else
				downsample(&s[k], points);
		}
	}
	for (size_t k = 0; caps && k < n; k++)
		pt__free(caps[k].b);
	pt__free(caps);
	if (rc != PT_ITEROVER) {
		pt_metrics_free(s, n);
		return rc;
	}
	*out = s;
	*nout = n;
	return 0;
}
