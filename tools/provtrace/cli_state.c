/*
 * cli_state.c - human-readable rendering of replay states and diffs.
 *
 * The library computes states and diffs and hands them over as JSON
 * (pt_replay_state_json, pt_replay_diff_json); --json prints that as is.
 * This file only formats it for people.
 */
#include "cli_state.h"

#include <provtrace.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A value in compact JSON (strings quoted), truncated to `max` characters. */
static void put_value(FILE *f, json_t *v, int max)
{
	if (json_is_real(v)) {
		/* the library's text for a double, as in --json (0.1, not 0.10000000000000001) */
		char b[PT_DOUBLE_TEXT_MAX];
		fputs(pt_format_double(json_real_value(v), b, sizeof b) > 0 ? b : "?", f);
		return;
	}
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s) {
		fputs("?", f);
		return;
	}
	int n = (int)strlen(s);
	if (n > max)
		fprintf(f, "%.*s...", max - 3, s);
	else
		fputs(s, f);
	free(s);
}

static json_int_t geti(json_t *o, const char *k, json_int_t dflt)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *gets_(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void print_decision(FILE *f, json_t *d)
{
	fprintf(f, "  #%-6" JSON_INTEGER_FORMAT, geti(d, "seq", 0));
	json_t *step = json_object_get(d, "step");
	if (json_is_integer(step))
		fprintf(f, " step %-7" JSON_INTEGER_FORMAT, json_integer_value(step));
	const char *name = gets_(d, "name");
	if (name)
		fprintf(f, " [%s]", name);
	const char *k;
	json_t *ch;
	json_object_foreach(json_object_get(d, "set"), k, ch)
	{
		fprintf(f, " set %s ", k);
		put_value(f, json_object_get(ch, "old"), 24);
		fputs(" -> ", f);
		put_value(f, json_object_get(ch, "new"), 24);
	}
	json_t *reason = json_object_get(d, "reason");
	if (reason && !json_is_null(reason)) {
		fputs("  because ", f);
		put_value(f, reason, 80);
	}
	json_t *actor = json_object_get(d, "actor");
	if (actor && !json_is_null(actor)) {
		fputs(" (by ", f);
		put_value(f, actor, 40);
		fputs(")", f);
	}
	fputc('\n', f);
}

static int key_width(json_t *obj)
{
	int w = 4;
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		int l = (int)strlen(k);
		if (l > w)
			w = l;
	}
	return w > 32 ? 32 : w;
}

int cli_print_state(FILE *f, const char *json, uint64_t snapshot_seq, uint64_t folded)
{
	json_error_t err;
	json_t *s = json_loads(json, JSON_DECODE_ANY, &err);
	if (!s) {
		fprintf(stderr, "provtrace: cannot read the state: %s\n", err.text);
		return 1;
	}
	fprintf(f, "run %s/%s at seq %" JSON_INTEGER_FORMAT, gets_(s, "run") ? gets_(s, "run") : "?",
		gets_(s, "stream") ? gets_(s, "stream") : "?", geti(s, "seq", 0));
	json_t *step = json_object_get(s, "step");
	if (json_is_integer(step))
		fprintf(f, ", step %" JSON_INTEGER_FORMAT, json_integer_value(step));
	fprintf(f, ", lineage %" JSON_INTEGER_FORMAT, geti(s, "lineage", 0));
	if (gets_(s, "time"))
		fprintf(f, " (%s)", gets_(s, "time"));
	fputc('\n', f);
	fprintf(f, "  the fold of %" JSON_INTEGER_FORMAT " events, computed ", geti(s, "events", 0));
	if (snapshot_seq)
		fprintf(f, "from the snapshot at seq %" PRIu64 " + %" PRIu64 " events\n", snapshot_seq, folded);
	else
		fprintf(f, "from the first event (%" PRIu64 " events, no snapshot on the way)\n", folded);

	json_t *params = json_object_get(s, "params");
	int w = key_width(params);
	fprintf(f, "\nparams (%zu)\n", json_object_size(params));
	const char *k;
	json_t *v;
	json_object_foreach(params, k, v)
	{
		fprintf(f, "  %-*s  ", w, k);
		put_value(f, json_object_get(v, "value"), 40);
		json_t *pstep = json_object_get(v, "step");
		fprintf(f, "    set at seq %" JSON_INTEGER_FORMAT, geti(v, "seq", 0));
		if (json_is_integer(pstep))
			fprintf(f, " (step %" JSON_INTEGER_FORMAT ")", json_integer_value(pstep));
		json_t *by = json_object_get(v, "set_by_decision");
		if (json_is_integer(by))
			fprintf(f, " by decision #%" JSON_INTEGER_FORMAT, json_integer_value(by));
		fputc('\n', f);
	}
	json_t *metrics = json_object_get(s, "metrics");
	w = key_width(metrics);
	fprintf(f, "\nmetrics (%zu)\n", json_object_size(metrics));
	json_object_foreach(metrics, k, v)
	{
		fprintf(f, "  %-*s  ", w, k);
		put_value(f, json_object_get(v, "value"), 40);
		json_t *mstep = json_object_get(v, "step");
		if (json_is_integer(mstep))
			fprintf(f, "    at step %" JSON_INTEGER_FORMAT, json_integer_value(mstep));
		fputc('\n', f);
	}
	json_t *decisions = json_object_get(s, "decisions");
	fprintf(f, "\ndecisions (%" JSON_INTEGER_FORMAT " taken", geti(s, "decisions_total", 0));
	if ((json_int_t)json_array_size(decisions) < geti(s, "decisions_total", 0))
		fprintf(f, ", the last %zu shown; `provtrace log --kind decision` lists all", json_array_size(decisions));
	fputs(")\n", f);
	size_t i;
	json_array_foreach(decisions, i, v)
	print_decision(f, v);

	json_t *ck = json_object_get(s, "checkpoint");
	fputs("\ncheckpoint  ", f);
	if (json_is_object(ck)) {
		json_t *body = json_object_get(ck, "body");
		const char *m = gets_(body, "manifest");
		fprintf(f, "%s at seq %" JSON_INTEGER_FORMAT, m ? m : "(no manifest)", geti(ck, "seq", 0));
		json_t *cstep = json_object_get(ck, "step");
		if (json_is_integer(cstep))
			fprintf(f, ", step %" JSON_INTEGER_FORMAT, json_integer_value(cstep));
		/* entries = tensors + blobs (a blob-only checkpoint has 0 tensors) */
		json_t *n = json_object_get(body, "tensors"), *nb = json_object_get(body, "blobs");
		if (json_is_integer(n) || json_is_integer(nb)) {
			json_int_t ne = geti(body, "tensors", 0) + geti(body, "blobs", 0);
			fprintf(f, ", %" JSON_INTEGER_FORMAT " entr%s", ne, ne == 1 ? "y" : "ies");
		}
		fputc('\n', f);
	} else {
		fputs("none yet\n", f);
	}
	json_t *code = json_object_get(s, "code");
	fputs("code        ", f);
	if (json_is_object(code)) {
		json_t *body = json_object_get(code, "body");
		const char *commit = gets_(body, "commit"), *branch = gets_(body, "branch"), *state = gets_(body, "state");
		json_t *dirty = json_object_get(body, "dirty");
		fprintf(f, "%s%s%s%s%s  (provtrace code --run ... shows it all)\n", commit ? commit : (state ? state : "?"),
			branch ? " on " : "", branch ? branch : "", json_is_true(dirty) ? ", with uncommitted changes recorded" : "",
			json_is_false(dirty) ? ", clean" : "");
	} else {
		fputs("not recorded\n", f);
	}
	json_t *lineages = json_object_get(s, "lineages");
	if (json_array_size(lineages)) {
		fputs("lineages    ", f);
		json_array_foreach(lineages, i, v)
		{
			fprintf(f, "%s%" JSON_INTEGER_FORMAT " (from %" JSON_INTEGER_FORMAT, i ? ", " : "", geti(v, "lineage", 0),
				geti(v, "parent", 0));
			json_t *fs = json_object_get(v, "from_step");
			if (json_is_integer(fs))
				fprintf(f, " at step %" JSON_INTEGER_FORMAT, json_integer_value(fs));
			fputs(")", f);
		}
		fputc('\n', f);
	}
	json_t *last = json_object_get(s, "last");
	/* datasets in effect: the last `dataset` event of each name */
	size_t nds = 0, nother = 0;
	json_object_foreach(last, k, v)
	{
		if (!strncmp(k, "dataset/", 8))
			nds++;
		else
			nother++;
	}
	if (nds) {
		fprintf(f, "datasets    ");
		size_t nth = 0;
		json_object_foreach(last, k, v)
		{
			if (strncmp(k, "dataset/", 8))
				continue;
			json_t *body = json_object_get(v, "body");
			const char *id = gets_(body, "id"), *role = gets_(body, "role");
			fprintf(f, "%s%s (%s, %" JSON_INTEGER_FORMAT " files, id %.12s, seq %" JSON_INTEGER_FORMAT ")",
				nth++ ? "\n            " : "", k + 8, role ? role : "?", geti(body, "files", 0), id ? id : "?",
				geti(v, "seq", 0));
		}
		fputc('\n', f);
	}
	if (nother) {
		fprintf(f, "\nother events (the last of each kind/name)\n");
		w = key_width(last);
		json_object_foreach(last, k, v)
		{
			if (!strncmp(k, "dataset/", 8))
				continue;
			fprintf(f, "  %-*s  seq %-8" JSON_INTEGER_FORMAT " ", w, k, geti(v, "seq", 0));
			put_value(f, json_object_get(v, "body"), 60);
			fputc('\n', f);
		}
	}
	json_decref(s);
	return 0;
}

int cli_print_diff(FILE *f, const char *json)
{
	json_error_t err;
	json_t *d = json_loads(json, 0, &err);
	if (!d) {
		fprintf(stderr, "provtrace: cannot read the diff: %s\n", err.text);
		return 1;
	}
	json_t *from = json_object_get(d, "from"), *to = json_object_get(d, "to");
	fprintf(f, "run %s: seq %" JSON_INTEGER_FORMAT " (step %" JSON_INTEGER_FORMAT ", lineage %" JSON_INTEGER_FORMAT
		   ") -> seq %" JSON_INTEGER_FORMAT " (step %" JSON_INTEGER_FORMAT ", lineage %" JSON_INTEGER_FORMAT ")\n",
		gets_(d, "run") ? gets_(d, "run") : "?", geti(from, "seq", 0), geti(from, "step", -1), geti(from, "lineage", 0),
		geti(to, "seq", 0), geti(to, "step", -1), geti(to, "lineage", 0));
	const char *k;
	json_t *v;
	json_t *params = json_object_get(d, "params");
	fprintf(f, "\nparams changed (%zu)\n", json_object_size(params));
	int w = key_width(params);
	json_object_foreach(params, k, v)
	{
		fprintf(f, "  %-*s  ", w, k);
		put_value(f, json_object_get(v, "old"), 30);
		fputs(" -> ", f);
		put_value(f, json_object_get(v, "new"), 30);
		json_t *by = json_object_get(v, "set_by_decision");
		if (json_is_integer(by))
			fprintf(f, "   (decision #%" JSON_INTEGER_FORMAT ")", json_integer_value(by));
		fputc('\n', f);
	}
	json_t *decisions = json_object_get(d, "decisions");
	fprintf(f, "\ndecisions taken in between (%" JSON_INTEGER_FORMAT ")\n", geti(d, "decisions_between", 0));
	size_t i;
	json_array_foreach(decisions, i, v)
	print_decision(f, v);
	json_t *metrics = json_object_get(d, "metrics");
	fprintf(f, "\nmetrics (%zu changed)\n", json_object_size(metrics));
	w = key_width(metrics);
	json_object_foreach(metrics, k, v)
	{
		fprintf(f, "  %-*s  ", w, k);
		put_value(f, json_object_get(v, "old"), 24);
		fputs(" -> ", f);
		put_value(f, json_object_get(v, "new"), 24);
		json_t *delta = json_object_get(v, "delta");
		if (json_is_number(delta))
			fprintf(f, "   (%+.6g)", json_number_value(delta));
		fputc('\n', f);
	}
	json_t *ck = json_object_get(d, "checkpoint");
	fputs("\ncheckpoint  ", f);
	if (!json_is_object(ck)) {
		fputs("none at either point\n", f);
	} else {
		const char *o = gets_(ck, "old"), *n = gets_(ck, "new");
		if (o && n && !strcmp(o, n))
			fprintf(f, "unchanged (%s)\n", o);
		else {
			fprintf(f, "%s -> %s\n", o ? o : "none", n ? n : "none");
			json_t *changed = json_object_get(ck, "changed");
			if (json_is_array(changed)) {
				fprintf(f, "  tensors changed (%zu):", json_array_size(changed));
				json_array_foreach(changed, i, v) fprintf(f, " %s", json_string_value(v));
				fputc('\n', f);
				json_t *removed = json_object_get(ck, "removed");
				if (json_array_size(removed)) {
					fprintf(f, "  removed (%zu):", json_array_size(removed));
					json_array_foreach(removed, i, v) fprintf(f, " %s", json_string_value(v));
					fputc('\n', f);
				}
			} else if (gets_(ck, "error")) {
				fprintf(f, "  (tensors not compared: %s)\n", gets_(ck, "error"));
			}
		}
	}
	json_decref(d);
	return 0;
}

int cli_print_lineages(FILE *f, const char *json)
{
	json_error_t err;
	json_t *root = json_loads(json, 0, &err);
	json_t *list = json_object_get(root, "lineages");
	if (!json_is_array(list)) {
		fprintf(stderr, "provtrace: cannot read the lineage tree: %s\n", root ? "no \"lineages\"" : err.text);
		json_decref(root);
		return 1;
	}
	json_int_t live = geti(root, "live", 0);
	fprintf(f, "%-8s %-7s %-10s %-22s %s\n", "lineage", "parent", "from step", "events (seq)", "resumed from checkpoint");
	size_t i;
	json_t *l;
	json_array_foreach(list, i, l)
	{
		char parent[24] = "-", from[24] = "-", seqs[48];
		json_t *p = json_object_get(l, "parent"), *fs = json_object_get(l, "from_step");
		if (json_is_integer(p))
			snprintf(parent, sizeof parent, "%" JSON_INTEGER_FORMAT, json_integer_value(p));
		if (json_is_integer(fs))
			snprintf(from, sizeof from, "%" JSON_INTEGER_FORMAT, json_integer_value(fs));
		json_int_t start = geti(l, "start_seq", 0), end = geti(l, "end_seq", 0);
		if (end >= start && end)
			snprintf(seqs, sizeof seqs, "%" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT, start, end);
		else
			snprintf(seqs, sizeof seqs, "from %" JSON_INTEGER_FORMAT, start);
		const char *m = gets_(l, "manifest");
		json_int_t id = geti(l, "lineage", 0);
		fprintf(f, "%-8" JSON_INTEGER_FORMAT " %-7s %-10s %-22s %.16s%s%s\n", id, parent, from, seqs, m ? m : "-",
			m && strlen(m) > 16 ? "..." : "", id == live ? "   (live)" : "");
	}
	json_decref(root);
	return 0;
}
