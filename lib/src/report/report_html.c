/* report/report_html.c - the report page: inline SVG, CSS and a little script, everything escaped. */
#include "report/report_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PLOT_H 240 /* viewBox height of a plot */

int pt__html_text(pt__buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		const unsigned char *q = p;
		/* a run of bytes that need nothing */
		while (q < end && *q >= 0x20 && *q < 0x7F && *q != '&' && *q != '<' && *q != '>' && *q != '"' &&
		       *q != '\'')
			q++;
		if (q > p && pt__buf_append(out, p, (size_t)(q - p)))
			return PT_ENOMEM;
		p = q;
		if (p >= end)
			break;
		unsigned char c = *p;
		const char *rep = NULL;
		char tmp[8];
		size_t len = 1;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\t': rep = "\t"; break;
		case '\n': rep = "\n"; break;
		default:
			if (c < 0x20 || c == 0x7F) {
				/* the control picture U+2400 + c (DEL: U+2421) */
				unsigned cp = c == 0x7F ? 0x2421 : 0x2400 + c;
				tmp[0] = (char)(0xE0 | (cp >> 12));
				tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
				tmp[2] = (char)(0x80 | (cp & 0x3F));
				tmp[3] = 0;
				rep = tmp;
			} else {
				/* a UTF-8 sequence: copied when well-formed (and not a C1 control), else U+FFFD */
				size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
				unsigned cp = need == 4 ? c & 7u : need == 3 ? c & 15u : c & 31u;
				bool ok = need && (size_t)(end - p) >= need;
				for (size_t i = 1; ok && i < need; i++) {
					ok = (p[i] & 0xC0) == 0x80;
					cp = (cp << 6) | (p[i] & 0x3Fu);
				}
				if (ok)
					ok = !(need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
					     !(need == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
					     !(need == 2 && cp >= 0x80 && cp <= 0x9F);
				if (ok) {
					memcpy(tmp, p, need);
					tmp[need] = 0;
					rep = tmp;
					len = need;
				} else {
					rep = "\xEF\xBF\xBD";
					/* skip the lead byte and its continuation bytes */
					len = 1;
					if (need)
						while (len < need && p + len < end && (p[len] & 0xC0) == 0x80)
							len++;
				}
			}
		}
		if (pt__buf_append(out, rep, strlen(rep)))
			return PT_ENOMEM;
		p += len;
	}
	return pt__buf_reserve(out, 1) ? PT_ENOMEM : (out->data[out->len] = 0, 0);
}

/* Shorthands over one buffer: the first error sticks and every later write is a no-op. */
typedef struct {
	pt__buf *b;
	int rc;
} W;

static void raw(W *w, const char *s)
{
	if (!w->rc && pt__buf_append(w->b, s, strlen(s)))
		w->rc = PT_ENOMEM;
}

static void __attribute__((format(printf, 2, 3))) fmt(W *w, const char *f, ...)
{
	if (w->rc)
		return;
	char tmp[512];
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(tmp, sizeof tmp, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		w->rc = PT_EINVAL;
	else if (pt__buf_append(w->b, tmp, (size_t)n))
		w->rc = PT_ENOMEM;
}

static void esc(W *w, const char *s)
{
	if (!w->rc && s)
		w->rc = pt__html_text(w->b, s, strlen(s));
}

static const char *PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
				"#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

static size_t color_index(const pt__report *r, size_t run, size_t stream)
{
	size_t k = 0;
	for (size_t i = 0; i < run; i++)
		k += r->runs[i].nstreams;
	return (k + stream) % (sizeof PALETTE / sizeof *PALETTE);
}

static void time_text(int64_t ns, char *buf, size_t cap)
{
	if (!ns) {
		snprintf(buf, cap, "-");
		return;
	}
	pt_time_format(ns, buf, cap);
}

static void num_text(double v, char *buf, size_t cap)
{
	if (!isfinite(v))
		snprintf(buf, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
	else
		snprintf(buf, cap, "%.4g", v);
}

/* A key (step, or ns of wall time) as axis text. */
static void key_text(const pt__report *r, int64_t k, char *buf, size_t cap)
{
	if (!r->o.x_time) {
		snprintf(buf, cap, "%lld", (long long)k);
		return;
	}
	time_t t = (time_t)(k / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%H:%M:%S", &tm);
}

static void step_cell(W *w, int64_t step)
{
	if (step == PT_NO_STEP)
		raw(w, "<td>-</td>");
	else
		fmt(w, "<td class=\"n\">%lld</td>", (long long)step);
}

/* ---- charts -------------------------------------------------------------------------------------- */

typedef struct {
	double x0, x1, y0, y1; /* data range of the plot (y in log10 on a log scale) */
	bool log;
	unsigned W;
} frame;

static double px(const frame *f, int64_t k)
{
	return ((double)k - f->x0) / (f->x1 - f->x0) * (f->W - 1);
}

static double py(const frame *f, double v)
{
	double y = f->log ? log10(v) : v;
	return PLOT_H - (y - f->y0) / (f->y1 - f->y0) * PLOT_H;
}

/* Draw one series: the bucket extremes reduced to a minimum and a maximum per pixel column. */
static void polyline(W *w, const pt__report *r, const pt__rseries *s, const frame *f)
{
	const pt__rrun *R = &r->runs[s->run];
	fmt(w, "<polyline class=\"s%s\" data-run=\"", s->part >= 0 ? " ab" : "");
	esc(w, R->name);
	raw(w, "\" data-stream=\"");
	esc(w, R->streams[s->stream].name);
	fmt(w, "\" data-lineage=\"%lld\" stroke=\"%s\" points=\"", (long long)s->part,
	    PALETTE[color_index(r, s->run, s->stream)]);
	long col = -1;
	double cmin = 0, cmax = 0;
	int64_t kmin = 0, kmax = 0;
	size_t emitted = 0;
#define FLUSH()                                                                                  \
	do {                                                                                     \
		if (col >= 0) {                                                                  \
			double pa = kmin <= kmax ? cmin : cmax, pb = kmin <= kmax ? cmax : cmin; \
			fmt(w, "%ld,%.1f ", col, py(f, pa));                                    \
			if (pa != pb)                                                            \
				fmt(w, "%ld,%.1f ", col, py(f, pb));                             \
			emitted++;                                                               \
		}                                                                                \
	} while (0)
	for (size_t i = 0; s->b && i < PT__RB && !w->rc; i++) {
		const pt__rbucket *b = &s->b[i];
		if (!b->n)
			continue;
		int64_t ks[2] = {b->kmin <= b->kmax ? b->kmin : b->kmax, b->kmin <= b->kmax ? b->kmax : b->kmin};
		double vs[2] = {b->kmin <= b->kmax ? b->vmin : b->vmax, b->kmin <= b->kmax ? b->vmax : b->vmin};
		for (int j = 0; j < 2; j++) {
			long c = lround(px(f, ks[j]));
			if (c != col) {
				FLUSH();
				col = c;
				cmin = cmax = vs[j];
				kmin = kmax = ks[j];
			} else {
				if (vs[j] < cmin)
					cmin = vs[j], kmin = ks[j];
				if (vs[j] > cmax)
					cmax = vs[j], kmax = ks[j];
			}
		}
	}
	FLUSH();
#undef FLUSH
	raw(w, "\"><title>");
	esc(w, R->name);
	raw(w, " / ");
	esc(w, R->streams[s->stream].name);
	if (s->part >= 0)
		fmt(w, " (abandoned attempt, lineage %lld)", (long long)s->part);
	raw(w, "</title></polyline>\n");
	(void)emitted;
}

/* The hover text of a decision: plain text (escaped where it is written). */
static void decision_tip(W *w, const pt__report *r, const pt__rrun *R, const pt__rdecision *d)
{
	char t[40];
	time_text(d->time, t, sizeof t);
	if (d->step != PT_NO_STEP)
		fmt(w, "step %lld · ", (long long)d->step);
	esc(w, R->name);
	raw(w, " / ");
	esc(w, R->streams[d->stream].name);
	raw(w, " · decision");
	if (d->name) {
		raw(w, " ");
		esc(w, d->name);
	}
	if (d->set) {
		raw(w, " · set ");
		esc(w, d->set);
	}
	if (d->reason) {
		raw(w, " · reason: ");
		esc(w, d->reason);
	}
	if (d->actor) {
		raw(w, " · actor: ");
		esc(w, d->actor);
	}
	if (!d->live)
		raw(w, " · (abandoned attempt)");
	(void)r;
}

static int64_t dec_key(const pt__report *r, const pt__rdecision *d) { return r->o.x_time ? d->time : d->step; }
static int64_t ck_key(const pt__report *r, const pt__rckpt *c) { return r->o.x_time ? c->time : c->step; }
static int64_t fork_key(const pt__report *r, const pt__rfork *f) { return r->o.x_time ? f->time : f->from_step; }

static void chart(W *w, const pt__report *r, size_t m)
{
	/* which runs have a series here, and the data range */
	bool in_run[PT_REPORT_MAX_RUNS] = {0};
	frame f = {0, 0, 0, 0, r->o.log_scale != 0, r->o.width};
	bool have = false, havey = false;
	uint64_t skipped = 0;
	for (size_t i = 0; i < r->nseries; i++) {
		const pt__rseries *s = &r->series[i];
		if (s->metric != m)
			continue;
		in_run[s->run] = true;
		skipped += s->skipped;
		if (!s->n)
			continue;
		double lo = f.log ? log10(s->vmin) : s->vmin, hi = f.log ? log10(s->vmax) : s->vmax;
		if (!have) {
			f.x0 = (double)s->kmin, f.x1 = (double)s->kmax;
		} else {
			f.x0 = fmin(f.x0, (double)s->kmin), f.x1 = fmax(f.x1, (double)s->kmax);
		}
		if (!havey)
			f.y0 = lo, f.y1 = hi;
		else
			f.y0 = fmin(f.y0, lo), f.y1 = fmax(f.y1, hi);
		have = havey = true;
	}
	/* markers widen the x range: a decision before the first point is still drawn */
	for (size_t ri = 0; ri < r->nruns; ri++) {
		if (!in_run[ri])
			continue;
		const pt__rrun *R = &r->runs[ri];
		for (size_t i = 0; i < R->dec.n; i++) {
			int64_t k = dec_key(r, &R->dec.v[i]);
			if (k == PT_NO_STEP)
				continue;
			f.x0 = have ? fmin(f.x0, (double)k) : (double)k;
			f.x1 = have ? fmax(f.x1, (double)k) : (double)k;
			have = true;
		}
		for (size_t i = 0; i < R->ck.n; i++) {
			int64_t k = ck_key(r, &R->ck.v[i]);
			if (k == PT_NO_STEP)
				continue;
			f.x0 = have ? fmin(f.x0, (double)k) : (double)k;
			f.x1 = have ? fmax(f.x1, (double)k) : (double)k;
			have = true;
		}
	}
	if (f.x1 <= f.x0)
		f.x0 -= 1, f.x1 += 1;
	if (!havey)
		f.y0 = 0, f.y1 = 1;
	double pad = (f.y1 - f.y0) * 0.05;
	if (pad <= 0)
		pad = fabs(f.y0) > 0 ? fabs(f.y0) * 0.05 : 0.5;
	f.y0 -= pad, f.y1 += pad;

	fmt(w, "<figure class=\"chart\" id=\"chart-%zu\" data-metric=\"", m);
	esc(w, r->metrics[m]);
	raw(w, "\"><figcaption>");
	esc(w, r->metrics[m]);
	if (f.log)
		raw(w, " <small>(log scale)</small>");
	raw(w, "</figcaption>\n<div class=\"plot\">");
	fmt(w, "<svg class=\"ps\" viewBox=\"0 0 %u %d\" preserveAspectRatio=\"none\" data-x0=\"%.17g\" "
	       "data-x1=\"%.17g\" data-y0=\"%.17g\" data-y1=\"%.17g\" data-log=\"%d\" data-xt=\"%d\" data-w=\"%u\">\n",
	    f.W, PLOT_H, f.x0, f.x1, f.y0, f.y1, f.log ? 1 : 0, r->o.x_time ? 1 : 0, f.W);
	raw(w, "<g class=\"grid\">");
	for (int i = 1; i < 5; i++)
		fmt(w, "<line x1=\"0\" x2=\"%u\" y1=\"%d\" y2=\"%d\"/>", f.W, PLOT_H * i / 5, PLOT_H * i / 5);
	raw(w, "</g>\n<g class=\"lines\">\n");
	for (size_t i = 0; i < r->nseries && !w->rc; i++)
		if (r->series[i].metric == m && r->series[i].n)
			polyline(w, r, &r->series[i], &f);
	raw(w, "</g>\n<g class=\"marks\">\n");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		if (!in_run[ri])
			continue;
		const pt__rrun *R = &r->runs[ri];
		for (size_t i = 0; i < R->ck.n; i++) {
			const pt__rckpt *c = &R->ck.v[i];
			int64_t k = ck_key(r, c);
			if (k == PT_NO_STEP)
				continue;
			double x = px(&f, k);
			fmt(w, "<line class=\"ck\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"><title>checkpoint", x, x,
			    PLOT_H - 10, PLOT_H);
			if (c->step != PT_NO_STEP)
				fmt(w, " step %lld", (long long)c->step);
			raw(w, " · ");
			esc(w, R->name);
			raw(w, " / ");
			esc(w, R->streams[c->stream].name);
			if (c->manifest) {
				raw(w, " · ");
				esc(w, c->manifest);
			}
			raw(w, "</title></line>\n");
		}
		for (size_t i = 0; i < R->fork.n; i++) {
			const pt__rfork *fk = &R->fork.v[i];
			int64_t k = fork_key(r, fk);
			if (k == PT_NO_STEP)
				continue;
			double x = px(&f, k);
			fmt(w, "<line class=\"fork\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\"><title>resume: lineage %lld "
			       "from lineage %lld",
			    x, x, PLOT_H, (long long)fk->lineage, (long long)fk->parent);
			if (fk->from_step != PT_NO_STEP)
				fmt(w, " at step %lld", (long long)fk->from_step);
			raw(w, " · ");
			esc(w, R->name);
			raw(w, " / ");
			esc(w, R->streams[fk->stream].name);
			raw(w, "</title></line>\n");
		}
		for (size_t i = 0; i < R->dec.n; i++) {
			const pt__rdecision *d = &R->dec.v[i];
			int64_t k = dec_key(r, d);
			if (k == PT_NO_STEP)
				continue;
			double x = px(&f, k);
			fmt(w, "<g class=\"dec%s\" data-i=\"%zu\" data-run=\"%zu\" data-tip=\"", d->live ? "" : " ab", i,
			    ri);
			decision_tip(w, r, R, d);
			fmt(w, "\"><line class=\"dh\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\"/>"
			       "<line class=\"dl\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\"/><title>",
			    x, x, PLOT_H, x, x, PLOT_H);
			decision_tip(w, r, R, d);
			raw(w, "</title></g>\n");
		}
	}
	raw(w, "</g>\n</svg>\n<div class=\"yl\">");
	for (int i = 0; i <= 4; i++) {
		double y = f.y1 - (f.y1 - f.y0) * i / 4;
		char t[40];
		num_text(f.log ? pow(10, y) : y, t, sizeof t);
		fmt(w, "<span style=\"top:%d%%\">%s</span>", i * 25, t);
	}
	raw(w, "</div><div class=\"xl\">");
	for (int i = 0; i <= 4; i++) {
		char t[40];
		key_text(r, (int64_t)llround(f.x0 + (f.x1 - f.x0) * i / 4), t, sizeof t);
		fmt(w, "<span style=\"left:%d%%\">%s</span>", i * 25, t);
	}
	raw(w, "</div></div>\n<div class=\"legend\">");
	for (size_t i = 0; i < r->nseries; i++) {
		const pt__rseries *s = &r->series[i];
		if (s->metric != m || !s->n)
			continue;
		const pt__rrun *R = &r->runs[s->run];
		fmt(w, "<span class=\"lg%s\"><i style=\"background:%s\"></i>", s->part >= 0 ? " ab" : "",
		    PALETTE[color_index(r, s->run, s->stream)]);
		if (r->nruns > 1) {
			esc(w, R->name);
			raw(w, " / ");
		}
		esc(w, R->streams[s->stream].name);
		if (s->part >= 0)
			fmt(w, " (abandoned, lineage %lld)", (long long)s->part);
		fmt(w, " <small>%llu pts</small></span>", (unsigned long long)s->n);
	}
	raw(w, "</div>");
	if (skipped)
		fmt(w, "<p class=\"note\">%llu points not drawn (NaN, infinite%s).</p>", (unsigned long long)skipped,
		    f.log ? ", or not positive on the log scale" : "");
	raw(w, "</figure>\n");
}

static void charts(W *w, const pt__report *r)
{
	raw(w, "<section id=\"charts\"><h2>Metrics</h2>\n");
	if (!r->nmetrics)
		raw(w, "<p class=\"note\">No metric events with a step.</p>\n");
	for (size_t m = 0; m < r->nmetrics && !w->rc; m++)
		chart(w, r, m);
	if (r->metrics_dropped || r->series_dropped)
		fmt(w, "<p class=\"note\">Left out: %llu metric points of names over the limit of %d charts, %llu of "
		       "series over the limit of %d series.</p>\n",
		    (unsigned long long)r->metrics_dropped, PT_REPORT_MAX_METRICS, (unsigned long long)r->series_dropped,
		    PT_REPORT_MAX_SERIES);
	raw(w, "</section>\n");
}

/* ---- tables -------------------------------------------------------------------------------------- */

static void more_rows(W *w, size_t shown, size_t total)
{
	if (total > shown)
		fmt(w, "<p class=\"note\">%zu more not shown (the first %zu are).</p>\n", total - shown, shown);
}

static void summary(W *w, const pt__report *r)
{
	raw(w, "<section id=\"summary\"><h2>Runs</h2><table><thead><tr><th>run</th><th>status</th><th>streams</th>"
	       "<th>events</th><th>lineages</th><th>first event</th><th>last event</th><th>duration</th>"
	       "<th>verified</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < r->nruns; i++) {
		const pt__rrun *R = &r->runs[i];
		char a[40], b[40];
		time_text(R->tmin, a, sizeof a);
		time_text(R->tmax, b, sizeof b);
		size_t lin = 1;
		for (size_t k = 0; k < R->nstreams; k++)
			if (R->streams[k].lineages > lin)
				lin = R->streams[k].lineages;
		raw(w, "<tr><td class=\"run\">");
		esc(w, R->name);
		fmt(w, "</td><td class=\"st-%s\">%s</td><td class=\"n\">%zu</td><td class=\"n\">%llu</td>"
		       "<td class=\"n\">%zu</td><td>%s</td><td>%s</td><td class=\"n\">%.1f s</td>",
		    R->status, R->status, R->nstreams, (unsigned long long)R->events, lin, a, b,
		    R->tmax > R->tmin ? (double)(R->tmax - R->tmin) / 1e9 : 0.0);
		if (!R->verified)
			raw(w, "<td>not checked</td>");
		else if (R->verify_rc)
			raw(w, "<td class=\"bad\">could not run</td>");
		else if (R->vstats.errors)
			fmt(w, "<td class=\"bad\">FAILED: %llu errors</td>", (unsigned long long)R->vstats.errors);
		else
			fmt(w, "<td class=\"ok\">ok%s</td>", R->vstats.warnings ? " (warnings)" : "");
		raw(w, "</tr>\n");
	}
	raw(w, "</tbody></table></section>\n");
}

static void decisions(W *w, const pt__report *r)
{
	raw(w, "<section id=\"decisions\"><h2>Decisions</h2>\n<table class=\"timeline\"><thead><tr><th>run</th>"
	       "<th>stream</th><th>seq</th><th>step</th><th>time</th><th>name</th><th>change</th><th>reason</th>"
	       "<th>actor</th></tr></thead><tbody>\n");
	size_t total = 0;
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		total += R->dec.total;
		for (size_t i = 0; i < R->dec.n; i++) {
			const pt__rdecision *d = &R->dec.v[i];
			char t[40];
			time_text(d->time, t, sizeof t);
			fmt(w, "<tr class=\"dec-row%s\"><td>", d->live ? "" : " ab");
			esc(w, R->name);
			raw(w, "</td><td>");
			esc(w, R->streams[d->stream].name);
			fmt(w, "</td><td class=\"n\">%llu</td>", (unsigned long long)d->seq);
			step_cell(w, d->step);
			fmt(w, "<td>%s</td><td>", t);
			esc(w, d->name);
			raw(w, "</td><td><code>");
			esc(w, d->set);
			raw(w, "</code></td><td class=\"reason\">");
			esc(w, d->reason);
			raw(w, "</td><td>");
			esc(w, d->actor);
			raw(w, d->live ? "</td></tr>\n" : " <small>(abandoned attempt)</small></td></tr>\n");
		}
		more_rows(w, R->dec.n, R->dec.total);
	}
	raw(w, "</tbody></table>\n");
	if (!total)
		raw(w, "<p class=\"note\">No decisions recorded.</p>\n");
	raw(w, "</section>\n");
}

static void checkpoints(W *w, const pt__report *r)
{
	raw(w, "<section id=\"checkpoints\"><h2>Checkpoints and resumes</h2>\n<table><thead><tr><th>run</th>"
	       "<th>stream</th><th>step</th><th>time</th><th>name</th><th>manifest</th><th>bytes</th></tr></thead>"
	       "<tbody>\n");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		for (size_t i = 0; i < R->ck.n; i++) {
			const pt__rckpt *c = &R->ck.v[i];
			char t[40];
			time_text(c->time, t, sizeof t);
			raw(w, "<tr><td>");
			esc(w, R->name);
			raw(w, "</td><td>");
			esc(w, R->streams[c->stream].name);
			raw(w, "</td>");
			step_cell(w, c->step);
			fmt(w, "<td>%s</td><td>", t);
			esc(w, c->name);
			raw(w, "</td><td><code>");
			esc(w, c->manifest);
			fmt(w, "</code></td><td class=\"n\">%llu</td></tr>\n", (unsigned long long)c->logical_bytes);
		}
		more_rows(w, R->ck.n, R->ck.total);
	}
	raw(w, "</tbody></table>\n<ul class=\"forks\">\n");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		for (size_t i = 0; i < R->fork.n; i++) {
			const pt__rfork *f = &R->fork.v[i];
			raw(w, "<li>");
			esc(w, R->name);
			raw(w, " / ");
			esc(w, R->streams[f->stream].name);
			fmt(w, ": resumed as lineage %lld from lineage %lld", (long long)f->lineage, (long long)f->parent);
			if (f->from_step != PT_NO_STEP)
				fmt(w, " at step %lld (what lineage %lld wrote after it is the abandoned attempt, drawn "
				       "faded)",
				    (long long)f->from_step, (long long)f->parent);
			raw(w, "</li>\n");
		}
	}
	raw(w, "</ul></section>\n");
}

/* The params of every run: one row per name, one column per run; a row whose values differ is marked. */
static void params(W *w, const pt__report *r)
{
	raw(w, "<section id=\"params\"><h2>Params</h2>\n<table><thead><tr><th>param</th>");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		raw(w, "<th>");
		esc(w, r->runs[ri].name);
		raw(w, "</th>");
	}
	raw(w, "</tr></thead><tbody>\n");
	size_t rows = 0;
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		for (size_t i = 0; i < R->par.n && !w->rc; i++) {
			const char *name = R->par.v[i].name;
			/* a name is written once: at its first appearance */
			bool seen = false;
			for (size_t rj = 0; rj <= ri && !seen; rj++)
				for (size_t j = 0; j < (rj == ri ? i : r->runs[rj].par.n) && !seen; j++)
					seen = !strcmp(r->runs[rj].par.v[j].name, name);
			if (seen)
				continue;
			/* the cell of each run: one value, or "stream=value" lines when its streams differ */
			bool differ = false;
			const char *first = NULL;
			bool first_set = false;
			for (size_t rj = 0; rj < r->nruns; rj++) {
				const char *v = NULL;
				bool any = false;
				for (size_t j = 0; j < r->runs[rj].par.n; j++) {
					const pt__rparam *p = &r->runs[rj].par.v[j];
					if (strcmp(p->name, name))
						continue;
					if (any && strcmp(v ? v : "", p->value ? p->value : ""))
						differ = true; /* across streams */
					v = p->value;
					any = true;
				}
				if (!first_set)
					first = any ? (v ? v : "") : NULL, first_set = true;
				else if ((first == NULL) != !any || (any && first && strcmp(first, v ? v : "")))
					differ = true;
			}
			fmt(w, "<tr%s><td>", differ && r->nruns > 1 ? " class=\"diff\"" : "");
			esc(w, name);
			raw(w, "</td>");
			for (size_t rj = 0; rj < r->nruns; rj++) {
				raw(w, "<td><code>");
				/* one value when the run's streams agree; else "stream=value" per stream */
				size_t hits = 0;
				bool agree = true;
				const char *v0 = NULL;
				for (size_t j = 0; j < r->runs[rj].par.n; j++) {
					const pt__rparam *p = &r->runs[rj].par.v[j];
					if (strcmp(p->name, name))
						continue;
					if (hits++ && strcmp(v0 ? v0 : "", p->value ? p->value : ""))
						agree = false;
					v0 = p->value;
				}
				if (agree && hits > 1) {
					esc(w, v0 ? v0 : "?");
					hits = 0;
					raw(w, "</code></td>");
					continue;
				}
				for (size_t j = 0; j < r->runs[rj].par.n; j++) {
					const pt__rparam *p = &r->runs[rj].par.v[j];
					if (strcmp(p->name, name))
						continue;
					if (hits > 1) {
						esc(w, r->runs[rj].streams[p->stream].name);
						raw(w, "=");
					}
					esc(w, p->value ? p->value : "?");
					if (hits > 1)
						raw(w, "<br>");
				}
				if (!hits)
					raw(w, "<span class=\"none\">-</span>");
				raw(w, "</code></td>");
			}
			raw(w, "</tr>\n");
			rows++;
		}
	}
	raw(w, "</tbody></table>\n");
	if (!rows)
		raw(w, "<p class=\"note\">No params recorded.</p>\n");
	for (size_t ri = 0; ri < r->nruns; ri++)
		more_rows(w, r->runs[ri].par.n, r->runs[ri].par.total);
	raw(w, "</section>\n");
}

static void code(W *w, const pt__report *r)
{
	raw(w, "<section id=\"code\"><h2>Code</h2>\n");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		const pt_code_provenance *p = R->code;
		raw(w, "<div class=\"code\"><h3>");
		esc(w, R->name);
		raw(w, "</h3>");
		if (!p) {
			raw(w, "<p class=\"note\">No code provenance recorded.</p></div>\n");
			continue;
		}
		raw(w, "<table><tbody><tr><th>state</th><td>");
		esc(w, p->state);
		if (p->message) {
			raw(w, ": ");
			esc(w, p->message);
		}
		raw(w, "</td></tr><tr><th>commit</th><td><code>");
		esc(w, p->commit ? p->commit : "-");
		raw(w, "</code></td></tr><tr><th>branch</th><td>");
		esc(w, p->branch ? p->branch : p->detached ? "(detached)" : "-");
		raw(w, "</td></tr><tr><th>dirty</th><td>");
		raw(w, p->dirty == 1 ? "<span class=\"bad\">yes</span>" : p->dirty == 0 ? "no" : "unknown");
		raw(w, "</td></tr><tr><th>workdir</th><td>");
		esc(w, p->workdir ? p->workdir : "-");
		raw(w, "</td></tr>");
		for (size_t i = 0; i < p->n_remotes && i < 20; i++) {
			raw(w, "<tr><th>remote ");
			esc(w, p->remotes[i].name);
			raw(w, "</th><td>");
			esc(w, p->remotes[i].url);
			raw(w, "</td></tr>");
		}
		raw(w, "</tbody></table>");
		if (p->n_changes) {
			raw(w, "<p>Uncommitted changes:</p><ul class=\"files\">");
			for (size_t i = 0; i < p->n_changes && i < 200; i++) {
				fmt(w, "<li><code>%c</code> ", p->changes[i].status >= 'A' && p->changes[i].status <= 'Z'
									 ? p->changes[i].status
									 : '?');
				esc(w, p->changes[i].path);
				raw(w, "</li>");
			}
			raw(w, "</ul>");
			more_rows(w, p->n_changes < 200 ? p->n_changes : 200, p->n_changes);
		}
		if (p->n_untracked)
			fmt(w, "<p>%zu untracked files.</p>", p->n_untracked);
		raw(w, "</div>\n");
	}
	raw(w, "</section>\n");
}

static void artifacts(W *w, const pt__report *r)
{
	raw(w, "<section id=\"artifacts\"><h2>Datasets and artifacts</h2>\n<table><thead><tr><th>run</th>"
	       "<th>stream</th><th>kind</th><th>name</th><th>step</th><th>details</th></tr></thead><tbody>\n");
	size_t total = 0;
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		total += R->art.total;
		for (size_t i = 0; i < R->art.n; i++) {
			const pt__rartifact *a = &R->art.v[i];
			raw(w, "<tr><td>");
			esc(w, R->name);
			raw(w, "</td><td>");
			esc(w, R->streams[a->stream].name);
			raw(w, "</td><td>");
			esc(w, a->kind);
			raw(w, "</td><td>");
			esc(w, a->name);
			raw(w, "</td>");
			step_cell(w, a->step);
			raw(w, "<td><code>");
			esc(w, a->detail);
			raw(w, "</code></td></tr>\n");
		}
		more_rows(w, R->art.n, R->art.total);
	}
	raw(w, "</tbody></table>\n");
	if (!total)
		raw(w, "<p class=\"note\">No datasets or artifacts recorded.</p>\n");
	raw(w, "</section>\n");
}

static void verification(W *w, const pt__report *r)
{
	raw(w, "<section id=\"verify\"><h2>Verification</h2>\n");
	for (size_t ri = 0; ri < r->nruns; ri++) {
		const pt__rrun *R = &r->runs[ri];
		raw(w, "<div class=\"verify\"><h3>");
		esc(w, R->name);
		raw(w, "</h3>");
		if (!R->verified)
			raw(w, "<p class=\"note\">Not verified (report made without verification).</p>");
		else if (R->verify_rc) {
			raw(w, "<p class=\"bad\">Verification could not run: ");
			esc(w, R->verify_error);
			raw(w, "</p>");
		} else {
			fmt(w, "<p class=\"%s\">%s: %llu errors, %llu warnings; checked %llu streams, %llu segments, %llu "
			       "batches, %llu events, %llu bytes.</p>",
			    R->vstats.errors ? "bad" : "ok", R->vstats.errors ? "FAILED" : "OK",
			    (unsigned long long)R->vstats.errors, (unsigned long long)R->vstats.warnings,
			    (unsigned long long)R->vstats.streams, (unsigned long long)R->vstats.segments,
			    (unsigned long long)R->vstats.batches, (unsigned long long)R->vstats.events,
			    (unsigned long long)R->vstats.bytes);
			if (R->nproblems) {
				raw(w, "<ul class=\"problems\">");
				for (size_t i = 0; i < R->nproblems; i++) {
					raw(w, "<li>");
					esc(w, R->problems[i]);
					raw(w, "</li>");
				}
				raw(w, "</ul>");
			}
		}
		raw(w, "<table><thead><tr><th>stream</th><th>events</th><th>last seq</th><th>chain head (newest sealed "
		       "segment)</th><th>sealed through seq</th><th>writer</th></tr></thead><tbody>");
		for (size_t k = 0; k < R->nstreams; k++) {
			const pt__rstream *S = &R->streams[k];
			raw(w, "<tr><td>");
			esc(w, S->name);
			fmt(w, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td><code>%s</code></td>"
			       "<td class=\"n\">%llu</td><td>%s</td></tr>",
			    (unsigned long long)S->info.events, (unsigned long long)S->info.seq_last,
			    S->head[0] ? S->head : "(none sealed)", (unsigned long long)S->head_last_seq,
			    S->info.writer_active ? "active" : S->open_tail ? "gone (unsealed tail)" : "-");
		}
		raw(w, "</tbody></table></div>\n");
	}
	raw(w, "</section>\n");
}

/* ---- the page -------------------------------------------------------------------------------------- */

static const char CSS[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ddd;margin-top:1.6em}"
	"table{border-collapse:collapse;margin:.4em 0;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px;"
	"text-align:left;vertical-align:top}th{background:#f5f5f5}td.n{text-align:right}"
	"code{font-size:12px;word-break:break-all}.note{color:#777;font-size:12px}.ok{color:#1a7f37}"
	".bad{color:#c00;font-weight:bold}tr.diff td{background:#fff3c4}tr.ab td{color:#999}"
	".st-running{color:#0550ae}.st-failed,.st-crashed{color:#c00}.st-finished{color:#1a7f37}.st-empty{color:#777}"
	"figure.chart{margin:1em 0}figcaption{font-weight:bold}"
	".plot{position:relative;margin:10px 0 18px 60px;height:240px;border-left:1px solid #999;"
	"border-bottom:1px solid #999}svg.ps{width:100%;height:240px;display:block;cursor:crosshair}"
	"svg.ps *{vector-effect:non-scaling-stroke}.grid line{stroke:#eee}"
	"polyline.s{fill:none;stroke-width:1.3}polyline.ab{opacity:.35;stroke-dasharray:4 3}"
	"line.ck{stroke:#555;stroke-width:2}line.fork{stroke:#9467bd;stroke-dasharray:6 3;stroke-width:1.5}"
	"g.dec line.dl{stroke:#e36209;stroke-width:1.5}g.dec line.dh{stroke:transparent;stroke-width:9}"
	"g.dec.ab line.dl{opacity:.4}g.dec:hover line.dl{stroke-width:3}"
	".yl span{position:absolute;left:-58px;width:54px;text-align:right;font-size:11px;transform:translateY(-50%)}"
	".xl span{position:absolute;top:100%;font-size:11px;transform:translateX(-50%)}.yl,.xl{position:absolute;"
	"inset:0;pointer-events:none}.legend{font-size:12px}.legend span{margin-right:1em;white-space:nowrap}"
	".legend i{display:inline-block;width:14px;height:3px;margin-right:4px;vertical-align:middle}"
	".legend .ab{opacity:.5}#tip{position:fixed;max-width:480px;background:#222;color:#fff;padding:4px 8px;"
	"font-size:12px;border-radius:3px;pointer-events:none;white-space:pre-wrap;z-index:9}"
	"#zoomhint{font-size:12px;color:#777}";

/* Hover (decision text, the value under the pointer), drag to zoom the x axis, double-click to reset;
 * with data-poll on <body> (the UI) the charts are reloaded when the run changes.  No data in here:
 * everything is read from the DOM's attributes. */
static const char JS[] =
	"(function(){'use strict';var tip=document.getElementById('tip');"
	"function show(e,t){tip.textContent=t;tip.hidden=false;tip.style.left=(e.clientX+12)+'px';"
	"tip.style.top=(e.clientY+12)+'px';}"
	"function hide(){tip.hidden=true;}"
	"function fx(s,k){return s.dataset.xt==='1'?new Date(k/1e6).toISOString().slice(11,19):String(Math.round(k));}"
	"function fy(v){return Math.abs(v)>=1e4||(v!==0&&Math.abs(v)<1e-3)?v.toExponential(3):(+v.toPrecision(4)).toString();}"
	"function view(s){var b=s.viewBox.baseVal;return[b.x,b.width];}"
	"function labels(s){var v=view(s),x0=+s.dataset.x0,x1=+s.dataset.x1,w=+s.dataset.w-1;"
	"var sp=s.parentNode.querySelectorAll('.xl span');for(var i=0;i<sp.length;i++){"
	"var px=v[0]+v[1]*i/(sp.length-1);sp[i].textContent=fx(s,x0+(x1-x0)*px/w);}}"
	"function bind(s){var d=null;"
	"s.addEventListener('mousemove',function(e){var g=e.target.closest&&e.target.closest('g.dec');"
	"if(g){show(e,g.dataset.tip);return;}var r=s.getBoundingClientRect(),v=view(s);"
	"var px=v[0]+(e.clientX-r.left)/r.width*v[1],py=(e.clientY-r.top)/r.height;"
	"var x0=+s.dataset.x0,x1=+s.dataset.x1,y0=+s.dataset.y0,y1=+s.dataset.y1,w=+s.dataset.w-1;"
	"var y=y1-(y1-y0)*py;if(s.dataset.log==='1')y=Math.pow(10,y);"
	"var t=(s.dataset.xt==='1'?'time ':'step ')+fx(s,x0+(x1-x0)*px/w)+'  value '+fy(y);"
	"if(e.target.tagName==='polyline'){var tt=e.target.querySelector('title');if(tt)t=tt.textContent+'\\n'+t;}"
	"show(e,t);});"
	"s.addEventListener('mouseleave',hide);"
	"s.addEventListener('mousedown',function(e){d=e.clientX;e.preventDefault();});"
	"s.addEventListener('mouseup',function(e){if(d===null)return;var a=Math.min(d,e.clientX),b=Math.max(d,e.clientX);d=null;"
	"if(b-a<5)return;var r=s.getBoundingClientRect(),v=view(s),h=s.viewBox.baseVal.height;"
	"var na=v[0]+(a-r.left)/r.width*v[1],nb=v[0]+(b-r.left)/r.width*v[1];"
	"s.setAttribute('viewBox',na+' 0 '+Math.max(nb-na,1)+' '+h);labels(s);});"
	"s.addEventListener('dblclick',function(){s.setAttribute('viewBox','0 0 '+s.dataset.w+' '+s.viewBox.baseVal.height);labels(s);});}"
	"function bindAll(){var ss=document.querySelectorAll('svg.ps');for(var i=0;i<ss.length;i++)bind(ss[i]);}"
	"bindAll();"
	"var poll=document.body.dataset.poll;if(poll){var last=document.body.dataset.version;if(last===undefined)last=null;var busy=false;"
	"setInterval(function(){if(busy)return;busy=true;fetch(poll,{cache:'no-store'}).then(function(r){return r.text();})"
	".then(function(t){if(last!==null&&t!==last){var u=new URL(location.href);u.searchParams.set('part','charts');"
	"return fetch(u,{cache:'no-store'}).then(function(r){return r.text();}).then(function(h){"
	"var c=document.getElementById('charts'),n=document.createElement('div');n.innerHTML=h;"
	"var nc=n.querySelector('#charts');if(c&&nc){c.replaceWith(nc);bindAll();}last=t;});}last=t;})"
	".catch(function(){}).then(function(){busy=false;});},1000);}"
	"})();";

int pt__report_write(const pt__report *r, pt__buf *out)
{
	W w = {out, 0};
	if (r->o.charts_only) {
		charts(&w, r);
		return w.rc;
	}
	raw(&w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
		"script-src 'unsafe-inline'; img-src data:; ");
	raw(&w, r->o.ui ? "connect-src 'self'; base-uri 'none'; form-action 'self'\">\n"
			: "base-uri 'none'; form-action 'none'\">\n");
	raw(&w, "<meta name=\"viewport\" content=\"width=device-width\"><meta name=\"generator\" content=\"provtrace ");
	esc(&w, pt_version());
	raw(&w, "\"><title>");
	if (r->o.title)
		esc(&w, r->o.title);
	else {
		raw(&w, "provtrace report: ");
		for (size_t i = 0; i < r->nruns; i++) {
			if (i)
				raw(&w, ", ");
			esc(&w, r->runs[i].name);
		}
	}
	raw(&w, "</title>\n<style>");
	raw(&w, CSS);
	raw(&w, "</style></head>\n<body");
	if (r->o.ui && r->o.poll_url) {
		raw(&w, " data-poll=\"");
		esc(&w, r->o.poll_url);
		raw(&w, "\"");
		if (r->o.poll_version) {
			raw(&w, " data-version=\"");
			esc(&w, r->o.poll_version);
			raw(&w, "\"");
		}
	}
	raw(&w, ">\n<header><h1>");
	if (r->o.title)
		esc(&w, r->o.title);
	else {
		for (size_t i = 0; i < r->nruns; i++) {
			if (i)
				raw(&w, " vs ");
			esc(&w, r->runs[i].name);
		}
	}
	char now[40];
	time_text(pt_time_now_ns(), now, sizeof now);
	fmt(&w, "</h1><p class=\"note\">provtrace %s report, made %s; x = %s%s. <span id=\"zoomhint\">Drag across a "
		"chart to zoom, double-click to reset; hover a marker for the decision.</span></p></header>\n",
	    pt_version(), now, r->o.x_time ? "wall time (UTC)" : "step", r->o.log_scale ? ", log scale" : "");
	summary(&w, r);
	charts(&w, r);
	decisions(&w, r);
	checkpoints(&w, r);
	params(&w, r);
	code(&w, r);
	artifacts(&w, r);
	verification(&w, r);
	raw(&w, "<div id=\"tip\" hidden></div>\n<script>");
	raw(&w, JS);
	raw(&w, "</script>\n</body></html>\n");
	return w.rc;
}

int pt_html_escape(const char *s, size_t n, char **out)
{
	if (!out || (!s && n))
		return pt__err(PT_EINVAL, "pt_html_escape: NULL argument");
	*out = NULL;
	pt__buf b = {0};
	if (pt__html_text(&b, s ? s : "", n)) {
		pt__buf_free(&b);
		return PT_ENOMEM;
	}
	*out = (char *)b.data;
	return 0;
}

int pt_report_options_init(pt_report_options *opts, unsigned int version)
{
	if (!opts || version != PT_REPORT_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_report_options_init: unknown version %u", version);
	pt_report_options d = PT_REPORT_OPTIONS_INIT;
	*opts = d;
	return 0;
}

int pt_report_html(const pt_store *st, const char *const *runs, size_t nruns, const pt_report_options *opts,
		   char **out, size_t *out_len)
{
	if (!st || !runs || !out)
		return pt__err(PT_EINVAL, "pt_report_html: NULL argument");
	*out = NULL;
	if (out_len)
		*out_len = 0;
	pt__report r;
	memset(&r, 0, sizeof r);
	pt_report_options d = PT_REPORT_OPTIONS_INIT;
	r.o = opts ? *opts : d;
	if (r.o.version != PT_REPORT_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_report_html: options version %u is not supported", r.o.version);
	if (r.o.width < 100 || r.o.width > 4000)
		return pt__err(PT_EINVAL, "pt_report_html: width %u is outside 100..4000", r.o.width);
	if (r.o.nmetrics && !r.o.metrics)
		return pt__err(PT_EINVAL, "pt_report_html: %zu metrics named but the list is NULL", r.o.nmetrics);
	if (!nruns || nruns > PT_REPORT_MAX_RUNS)
		return pt__err(PT_EINVAL, "pt_report_html: %zu runs (1 to %d can be shown in one report)", nruns,
			       PT_REPORT_MAX_RUNS);
	for (size_t i = 0; i < nruns; i++) {
		int rc = pt_name_check("run", runs[i]);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(runs[i], runs[j]))
				return pt__err(PT_EINVAL, "pt_report_html: run %s is given twice", runs[i]);
	}
	int rc = pt__report_collect(&r, st, runs, nruns);
	pt__buf b = {0};
	if (!rc)
		rc = pt__report_write(&r, &b);
	pt__report_free(&r);
	if (!rc && pt__buf_reserve(&b, 1))
		rc = PT_ENOMEM;
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	b.data[b.len] = 0;
	*out = (char *)b.data;
	if (out_len)
		*out_len = b.len;
	return 0;
}
