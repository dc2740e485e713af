/*
 * cli_runs.c - run summaries, query answers and comparisons for people.
 *
 * The library selects, sorts and renders runs as JSON (pt_runs_query_json,
 * pt_runs_compare_json); --json prints that as is.  This file only lays it
 * out in columns.
 */
#include "cli_runs.h"
#include "cli.h"
#include "cli_state.h"

#include <provtrace.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A value as short text into buf: numbers with the library's double text, strings bare. */
static const char *text_of(json_t *v, char *buf, size_t n)
{
	if (!v || json_is_null(v))
		snprintf(buf, n, "-");
	else if (json_is_real(v)) {
		char b[PT_DOUBLE_TEXT_MAX];
		snprintf(buf, n, "%s", pt_format_double(json_real_value(v), b, sizeof b) > 0 ? b : "?");
	} else if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(buf, n, "%s", s ? s : "?");
		free(s);
	}
	return buf;
}

static const char *duration_of(json_t *v, char *buf, size_t n)
{
	if (!json_is_number(v)) {
		snprintf(buf, n, "-");
		return buf;
	}
	double s = json_number_value(v);
	if (s < 60)
		snprintf(buf, n, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
	return buf;
}

static json_t *parse(const char *json)
{
	json_error_t e;
	json_t *root = json_loads(json, JSON_DECODE_ANY, &e);
	if (!root)
		cli_msg("cannot read the library's answer: %s", e.text);
	return root;
}

int cli_print_runs(FILE *f, const char *json, const char *metric)
{
	json_t *root = parse(json);
	if (!root)
		return 1;
	json_t *runs = json_object_get(root, "runs");
	size_t i;
	json_t *r;
	int wr = 3;
	json_array_foreach(runs, i, r) {
		int l = (int)strlen(json_string_value(json_object_get(r, "run")));
		wr = l > wr ? l : wr;
	}
	char mh[80];
	snprintf(mh, sizeof mh, "%s", metric ? metric : "");
	fprintf(f, "%-*s  %-8s  %-24s  %9s  %10s  %7s", wr, "RUN", "STATUS", "STARTED", "DURATION", "EVENTS", "STREAMS");
	if (metric)
		fprintf(f, "  %12s", mh);
	fputs("  TAGS\n", f);
	json_array_foreach(runs, i, r) {
		char t[48] = "-", d[32], m[64] = "-";
		json_t *started = json_object_get(r, "started");
		if (json_is_string(started)) {
			int64_t ns;
			if (!pt_time_parse(&ns, json_string_value(started)))
				cli_time_ms(ns, t, sizeof t);
		}
		if (metric) {
			json_t *mv = json_object_get(json_object_get(json_object_get(r, "metrics"), metric), "last");
			text_of(mv, m, sizeof m);
		}
		fprintf(f, "%-*s  %-8s  %-24s  %9s  %10lld  %7zu", wr, json_string_value(json_object_get(r, "run")),
			json_string_value(json_object_get(r, "status")), t, duration_of(json_object_get(r, "duration_s"), d, sizeof d),
			(long long)json_integer_value(json_object_get(r, "events")), json_array_size(json_object_get(r, "streams")));
		if (metric)
			fprintf(f, "  %12s", m);
		const char *k;
		json_t *v;
		bool first = true;
		fputs("  ", f);
		json_object_foreach(json_object_get(r, "tags"), k, v) {
			char b[256];
			fprintf(f, "%s%s=%s", first ? "" : ",", k, text_of(v, b, sizeof b));
			first = false;
		}
		fputs(first ? "-\n" : "\n", f);
	}
	json_t *errs = json_object_get(root, "errors");
	json_array_foreach(errs, i, r)
		cli_msg("run %s could not be read: %s", json_string_value(json_object_get(r, "run")),
			json_string_value(json_object_get(r, "error")));
	fprintf(f, "(%lld of %lld runs match)\n", (long long)json_integer_value(json_object_get(root, "matched")),
		(long long)json_integer_value(json_object_get(root, "total")));
	json_decref(root);
	return 0;
}

/* One row: a label and a cell per run. */
static void row(FILE *f, int wl, int wc, const char *label, const char *const *cells, size_t n)
{
	fprintf(f, "%-*s", wl, label);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-*s", wc, cells[i]);
	fputc('\n', f);
}

int cli_print_compare(FILE *f, const char *json)
{
	json_t *root = parse(json);
	if (!root)
		return 1;
	json_t *names = json_object_get(root, "runs"), *sums = json_object_get(root, "summaries");
	size_t n = json_array_size(names);
	char (*cell)[128] = calloc(n ? n : 1, sizeof *cell);
	const char **cp = calloc(n ? n : 1, sizeof *cp);
	if (!cell || !cp) {
		free(cell);
		free(cp);
		json_decref(root);
		cli_msg("out of memory");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		cp[i] = cell[i];
	int wl = 10, wc = 10;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(root, "params_differ"), k, v) wl = (int)strlen(k) + 2 > wl ? (int)strlen(k) + 2 : wl;
	json_object_foreach(json_object_get(root, "metrics"), k, v) wl = (int)strlen(k) + 2 > wl ? (int)strlen(k) + 2 : wl;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(json_string_value(json_array_get(names, i)));
		wc = l > wc ? l : wc;
	}
	wc = wc < 26 ? 26 : wc;
	for (size_t i = 0; i < n; i++)
		snprintf(cell[i], sizeof cell[i], "%s", json_string_value(json_array_get(names, i)));
	row(f, wl, wc, "RUN", cp, n);
	for (size_t i = 0; i < n; i++)
		snprintf(cell[i], sizeof cell[i], "%s", json_string_value(json_object_get(json_array_get(sums, i), "status")));
	row(f, wl, wc, "status", cp, n);
	for (size_t i = 0; i < n; i++)
		duration_of(json_object_get(json_array_get(sums, i), "duration_s"), cell[i], sizeof cell[i]);
	row(f, wl, wc, "duration", cp, n);
	for (size_t i = 0; i < n; i++) {
		json_t *code = json_object_get(json_array_get(sums, i), "code");
		const char *c = json_string_value(json_object_get(code, "commit"));
		json_t *dirty = json_object_get(code, "dirty");
		snprintf(cell[i], sizeof cell[i], "%.12s%s", c ? c : "-", json_is_true(dirty) ? " (dirty)" : "");
	}
	row(f, wl, wc, "commit", cp, n);
	for (size_t i = 0; i < n; i++)
		snprintf(cell[i], sizeof cell[i], "%lld", (long long)json_integer_value(json_object_get(json_array_get(sums, i), "decisions")));
	row(f, wl, wc, "decisions", cp, n);
	fputs("params that differ:\n", f);
	json_object_foreach(json_object_get(root, "params_differ"), k, v) {
		for (size_t i = 0; i < n; i++)
			text_of(json_object_get(v, json_string_value(json_array_get(names, i))), cell[i], sizeof cell[i]);
		char label[300];
		snprintf(label, sizeof label, "  %s", k);
		row(f, wl, wc, label, cp, n);
	}
	fprintf(f, "params the same: %zu\n", json_object_size(json_object_get(root, "params_same")));
	fputs("metrics (last / min / max):\n", f);
	json_object_foreach(json_object_get(root, "metrics"), k, v) {
		for (size_t i = 0; i < n; i++) {
			json_t *m = json_object_get(v, json_string_value(json_array_get(names, i)));
			char a[40], b[40], c[40];
			if (json_is_null(m) || !m)
				snprintf(cell[i], sizeof cell[i], "-");
			else
				snprintf(cell[i], sizeof cell[i], "%s / %s / %s", text_of(json_object_get(m, "last"), a, sizeof a),
					 text_of(json_object_get(m, "min"), b, sizeof b), text_of(json_object_get(m, "max"), c, sizeof c));
		}
		char label[300];
		snprintf(label, sizeof label, "  %s", k);
		row(f, wl, wc, label, cp, n);
	}
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_object_get(json_array_get(sums, i), "decisions_taken"), *x;
		size_t j;
		json_array_foreach(d, j, x) {
			if (!any)
				fputs("decisions taken:\n", f);
			any = true;
			char s[40], set[256];
			json_t *st = json_object_get(x, "step");
			char *sj = json_dumps(json_object_get(x, "set"), JSON_ENCODE_ANY | JSON_COMPACT);
			snprintf(set, sizeof set, "%s", sj ? sj : "-");
			free(sj);
			const char *reason = json_string_value(json_object_get(x, "reason"));
			fprintf(f, "  %s  step %s  %s%s%s\n", json_string_value(json_array_get(names, i)),
				json_is_integer(st) ? (snprintf(s, sizeof s, "%lld", (long long)json_integer_value(st)), s) : "-",
				set, reason ? "  reason: " : "", reason ? reason : "");
		}
	}
	free(cell);
	free(cp);
	json_decref(root);
	return 0;
}

int cli_print_run_diff(FILE *f, const char *json)
{
	json_t *root = parse(json);
	if (!root)
		return 1;
	const char *name;
	json_t *d;
	int rc = 0;
	bool first = true;
	json_object_foreach(json_object_get(root, "streams"), name, d) {
		fprintf(f, "%s== stream %s ==\n", first ? "" : "\n", name);
		first = false;
		json_t *err = json_object_get(d, "error");
		if (json_is_string(err) && json_object_size(d) == 1) {
			fprintf(f, "  (%s)\n", json_string_value(err));
			continue;
		}
		char *one = json_dumps(d, JSON_COMPACT);
		if (!one || cli_print_diff(f, one))
			rc = 1;
		free(one);
	}
	json_decref(root);
	return rc;
}
