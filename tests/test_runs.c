/* test_runs.c - the set of runs: summaries kept beside each run, --where queries, sorting, comparison. */
#include "testutil.h"

#include "runs/runs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef tu_fixture fixture;
#define setup tu_setup
#define teardown tu_teardown

static pt_recorder *rec_open(pt_store *st, const char *run, const char *stream)
{
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, st, run, stream, NULL));
	return r;
}

static void param_d(pt_recorder *r, const char *name, double v)
{
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_PARAM, name));
	TU_OK(pt_event_double(ev, "value", v));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
}

static void param_s(pt_recorder *r, const char *name, const char *v)
{
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_PARAM, name));
	TU_OK(pt_event_str(ev, "value", v));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
}

static void simple(pt_recorder *r, const char *kind, const char *name, const char *key, const char *v)
{
	pt_event *ev;
	TU_OK(pt_event_new(&ev, kind, name));
	if (key)
		TU_OK(pt_event_str(ev, key, v));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
}

static void end_run(pt_recorder *r, const char *status, const char *type, const char *msg)
{
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "run_end", NULL));
	TU_OK(pt_event_str(ev, "status", status));
	if (type)
		TU_OK(pt_event_str(ev, "error_type", type));
	if (msg)
		TU_OK(pt_event_str(ev, "error", msg));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
}

/* A run with lr, a val_loss curve going down from `start` by `step` for n steps, finished. */
static void make_run(pt_store *st, const char *run, double lr, double start, double step, int n)
{
	pt_recorder *r = rec_open(st, run, NULL);
	param_d(r, "lr", lr);
	param_s(r, "optimizer", "adam");
	for (int i = 0; i < n; i++)
		TU_OK(pt_recorder_metric(r, "val_loss", start - step * i, i));
	end_run(r, "finished", NULL, NULL);
	TU_OK(pt_recorder_close(r));
}

static char *query(pt_store *st, const char *where, const char *sort, size_t limit)
{
	char *j = NULL;
	TU_OK(pt_runs_query_json(st, where, sort, limit, &j));
	return j;
}

/* The run names of a query answer, in order, joined by spaces. */
static char *names_of(const char *json)
{
	static char buf[4096];
	buf[0] = 0;
	const char *p = json;
	while ((p = strstr(p, "{\"run\":\""))) {
		p += 8;
		const char *e = strchr(p, '"');
		if (buf[0])
			strcat(buf, " ");
		strncat(buf, p, (size_t)(e - p));
		p = e;
	}
	return buf;
}

static void expect_names(pt_store *st, const char *where, const char *sort, size_t limit, const char *want)
{
	char *j = query(st, where, sort, limit);
	if (strcmp(names_of(j), want))
		fail_msg("where %s sort %s: got [%s], want [%s]\n%s", where ? where : "-", sort ? sort : "-", names_of(j),
			 want, j);
	pt_free(j);
}

static void expect_parse_error(const char *where, const char *part)
{
	int rc = pt_runs_where_check(where);
	if (rc != PT_EINVAL)
		fail_msg("'%.60s' parsed (%d)", where, rc);
	if (!strstr(pt_error_last(), part))
		fail_msg("'%.60s': message \"%s\" lacks \"%s\"", where, pt_error_last(), part);
}

static void three_runs(pt_store *st)
{
	make_run(st, "a", 0.1, 1.0, 0.1, 10);   /* min 0.1 (0.1 at step 9, up to rounding) */
	make_run(st, "b", 0.01, 0.5, 0.05, 10); /* min 0.05 */
	make_run(st, "c", 0.001, 0.3, 0.01, 5); /* min 0.26 */
}

static void where_filters_and_sorts(void **state)
{
	fixture *f = *state;
	three_runs(f->st);
	expect_names(f->st, NULL, NULL, 0, "a b c");
	expect_names(f->st, "min.val_loss < 0.09", NULL, 0, "b");
	expect_names(f->st, "min.val_loss < 0.3", "min.val_loss", 0, "b a c");
	expect_names(f->st, "min.val_loss < 0.3", "-min.val_loss", 0, "c a b");
	expect_names(f->st, NULL, "min.val_loss", 2, "b a");
	expect_names(f->st, "params.lr >= 0.01 and not (params.lr == 0.1)", NULL, 0, "b");
	expect_names(f->st, "params.lr == 0.1 or params.lr == 0.001", NULL, 0, "a c");
	expect_names(f->st, "params.optimizer == 'adam' and last.val_loss > 0.25", NULL, 0, "c");
	expect_names(f->st, "max.val_loss >= 1", NULL, 0, "a");
	expect_names(f->st, "status == \"finished\" and events == 13", NULL, 0, "a b");
	expect_names(f->st, "run != 'b'", "-run", 0, "c a");
	expect_names(f->st, "started > '2000-01-01' and started < '2200-01-01T00:00:00Z'", NULL, 0, "a b c");
	expect_names(f->st, "duration >= 0 and streams == 1 and lineages == 1", NULL, 0, "a b c");
	char *j = query(f->st, "min.val_loss < 0.3", "min.val_loss", 1);
	assert_non_null(strstr(j, "\"matched\":3,\"total\":3"));
	assert_non_null(strstr(j, "\"params\":{\"lr\":0.01,\"optimizer\":\"adam\"}"));
	assert_non_null(strstr(j, "\"val_loss\":{\"last\":"));
	pt_free(j);
}

static void unknown_names_do_not_match(void **state)
{
	fixture *f = *state;
	three_runs(f->st);
	expect_names(f->st, "params.nope == 1", NULL, 0, "");
	expect_names(f->st, "params.nope != 1", NULL, 0, "");
	expect_names(f->st, "min.nope < 1 or tags.x == 'y'", NULL, 0, "");
	expect_names(f->st, "not params.nope == 1", NULL, 0, "a b c");
	/* another type: no comparison holds */
	expect_names(f->st, "params.optimizer > 1", NULL, 0, "");
	expect_names(f->st, "params.lr == 'x'", NULL, 0, "");
	/* runs without the sort key come last, either direction */
	pt_recorder *r = rec_open(f->st, "d", NULL);
	end_run(r, "finished", NULL, NULL);
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, NULL, "min.val_loss", 0, "b a c d");
	expect_names(f->st, NULL, "-min.val_loss", 0, "c a b d");
}

static void parse_errors_say_where(void **state)
{
	(void)state;
	expect_parse_error("params.lr =< 1", "position 11: expected an operator");
	expect_parse_error("params.lr = 1", "position 11");
	expect_parse_error("params.lr === 1", "position 11");
	expect_parse_error("params.lr <> 1", "position 11");
	expect_parse_error("params.lr == 1 && x == 2", "\"and\" (not &&)");
	expect_parse_error("(params.lr == 1", "\")\" closing the \"(\" at position 1");
	expect_parse_error("params.lr == 1)", "closes nothing");
	expect_parse_error("params.lr ==", "position 13: expected a value");
	expect_parse_error("params.lr", "expected an operator");
	expect_parse_error("", "expected an expression");
	expect_parse_error("paramz.lr == 1", "unknown field \"paramz.lr\"");
	expect_parse_error("params == 1", "needs a name");
	expect_parse_error("started > 'yesterday'", "expected a time");
	expect_parse_error("params.lr == 'open", "closing quote");
	expect_parse_error("params.lr == 1e999", "expected a number");
	expect_parse_error("params.lr == 1 and", "position 19");
	assert_int_equal(pt_runs_where_check("last.'train loss' <= -1.5e-3 or tags.\"team\" == 'x\\'y'"), 0);
	assert_int_equal(pt_runs_where_check("not not (status == 'failed')"), 0);
	/* a sort key is checked the same way */
	char *j = NULL;
	assert_int_equal(pt_runs_query_json(((fixture *)*state)->st, NULL, "min.val_loss,-nope", 0, &j), PT_EINVAL);
	assert_null(j);
	assert_non_null(strstr(pt_error_last(), "unknown field \"nope\""));
}

static void deep_expressions_are_refused_not_overflowed(void **state)
{
	(void)state;
	size_t n = 10000;
	char *s = malloc(n * 4 + 64);
	/* 10,000 parentheses */
	memset(s, '(', n);
	strcpy(s + n, "status == 'x'");
	expect_parse_error(s, "nested deeper than");
	/* 10,000 nots */
	for (size_t i = 0; i < n; i++)
		memcpy(s + 4 * i, "not ", 4);
	strcpy(s + 4 * n, "status == 'x'");
	expect_parse_error(s, "nested deeper than");
	free(s);
	/* a long flat chain is fine: n-ary, no depth */
	size_t cap = 3000 * 24 + 16;
	char *c = malloc(cap);
	c[0] = 0;
	size_t len = 0;
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(c + len, cap - len, "%sparams.lr == %d", i ? " or " : "", i);
	assert_int_equal(pt_runs_where_check(c), 0);
	free(c);
	/* over 64 KiB of text */
	char *big = malloc(70000);
	memset(big, ' ', 69999);
	big[69999] = 0;
	expect_parse_error(big, "over the limit");
	free(big);
	/* exactly the depth limit parses */
	char d[2 * PT_EXPR_MAX_DEPTH + 32];
	memset(d, '(', PT_EXPR_MAX_DEPTH);
	d[PT_EXPR_MAX_DEPTH] = 0;
	strcat(d, "run == 'a'");
	for (int i = 0; i < PT_EXPR_MAX_DEPTH; i++)
		strcat(d, ")");
	assert_int_equal(pt_runs_where_check(d), 0);
}

static char *summary_path(fixture *f, const char *run)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/runs/%s/.summary", pt_store_path(f->st), run);
	return p;
}

static void summaries_are_kept_and_updated(void **state)
{
	fixture *f = *state;
	three_runs(f->st);
	expect_names(f->st, "min.val_loss < 0.01", NULL, 0, "");
	struct stat sb;
	assert_int_equal(stat(summary_path(f, "a"), &sb), 0);
	/* the run grows: the next query sees the new minimum (appended, not rebuilt) */
	pt_recorder *r = rec_open(f->st, "a", NULL);
	TU_OK(pt_recorder_metric(r, "val_loss", 0.001, 10));
	end_run(r, "finished", NULL, NULL);
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, "min.val_loss < 0.01", NULL, 0, "a");
	/* a damaged summary is rebuilt: same answer, file rewritten */
	tu_flip_byte(summary_path(f, "a"), 30);
	expect_names(f->st, "min.val_loss < 0.01", NULL, 0, "a");
	expect_names(f->st, "min.val_loss < 0.06 and min.val_loss > 0.01", NULL, 0, "b");
	char *j = NULL;
	TU_OK(pt_run_summary_json(f->st, "a", &j));
	assert_non_null(strstr(j, "\"events\":15"));
	pt_free(j);
	/* garbage and an empty file are rebuilt too */
	FILE *fp = fopen(summary_path(f, "b"), "w");
	fputs("PTRS garbage", fp);
	fclose(fp);
	expect_names(f->st, "min.val_loss < 0.06 and min.val_loss > 0.01", NULL, 0, "b");
	fp = fopen(summary_path(f, "b"), "w");
	fclose(fp);
	expect_names(f->st, "min.val_loss < 0.06 and min.val_loss > 0.01", NULL, 0, "b");
	/* a run deleted and recorded again under its name is not appended to the old summary */
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/runs/c/main'", pt_store_path(f->st));
	assert_int_equal(tu_run(cmd), 0);
	make_run(f->st, "c", 0.5, 9.0, 0.0, 2);
	expect_names(f->st, "min.val_loss == 9", NULL, 0, "c");
	TU_OK(pt_run_summary_json(f->st, "c", &j));
	assert_non_null(strstr(j, "\"events\":5"));
	assert_non_null(strstr(j, "\"lr\":0.5"));
	pt_free(j);
	/* a read-only store is answered all the same */
	snprintf(cmd, sizeof cmd, "rm -f '%s'; chmod a-w '%s/runs/b'", summary_path(f, "b"), pt_store_path(f->st));
	assert_int_equal(tu_run(cmd), 0);
	expect_names(f->st, "min.val_loss < 0.06 and min.val_loss > 0.01", NULL, 0, "b");
	snprintf(cmd, sizeof cmd, "chmod u+w '%s/runs/b'", pt_store_path(f->st));
	assert_int_equal(tu_run(cmd), 0);
}

static void live_path_after_a_resume(void **state)
{
	fixture *f = *state;
	pt_recorder *r = rec_open(f->st, "res", NULL);
	for (int i = 0; i < 10; i++)
		TU_OK(pt_recorder_metric(r, "loss", 10.0 - i, i));
	/* the abandoned tail: steps 6..9 hold the lowest values */
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, "min.loss == 1", NULL, 0, "res");
	r = rec_open(f->st, "res", NULL);
	int64_t lin = 0;
	TU_OK(pt_recorder_resume(r, 5, -1, NULL, &lin));
	for (int i = 6; i < 8; i++)
		TU_OK(pt_recorder_metric(r, "loss", 20.0 + i, i));
	TU_OK(pt_recorder_close(r));
	/* live path: 10..5 then 26, 27 - the abandoned 4..1 are gone */
	expect_names(f->st, "min.loss == 5 and max.loss == 27 and last.loss == 27 and lineages == 2", NULL, 0, "res");
	char *j = NULL;
	TU_OK(pt_run_summary_json(f->st, "res", &j));
	assert_non_null(strstr(j, "\"loss\":{\"last\":27.0,\"min\":5.0,\"max\":27.0,\"step\":7,\"n\":8}"));
	pt_free(j);
}

static void status_tags_note_and_decisions(void **state)
{
	fixture *f = *state;
	pt_recorder *r = rec_open(f->st, "ok", NULL);
	simple(r, "tag", "team", "value", "vision");
	simple(r, "note", NULL, "text", "baseline");
	end_run(r, "finished", NULL, NULL);
	TU_OK(pt_recorder_close(r));
	r = rec_open(f->st, "bad", NULL);
	simple(r, "tag", "team", "value", "nlp");
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_DECISION, "lr"));
	TU_OK(pt_event_set_step(ev, 3));
	TU_OK(pt_event_begin_map(ev, "set"));
	TU_OK(pt_event_double(ev, "lr", 0.5));
	TU_OK(pt_event_end(ev));
	TU_OK(pt_event_str(ev, "reason", "plateau"));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
	end_run(r, "failed", "ValueError", "boom");
	TU_OK(pt_recorder_close(r));
	r = rec_open(f->st, "gone", NULL);
	TU_OK(pt_recorder_metric(r, "x", 1, 1));
	TU_OK(pt_recorder_close(r)); /* no run_end: crashed */
	pt_recorder *live = rec_open(f->st, "live", NULL);
	TU_OK(pt_recorder_metric(live, "x", 1, 1));
	TU_OK(pt_recorder_flush(live));
	/* the first query builds the summary of a running stream: still running */
	expect_names(f->st, "status == 'running'", NULL, 0, "live");
	expect_names(f->st, "status == 'finished'", NULL, 0, "ok");
	expect_names(f->st, "status == 'failed'", NULL, 0, "bad");
	expect_names(f->st, "status == 'crashed'", NULL, 0, "gone");
	expect_names(f->st, "status == 'running'", NULL, 0, "live");
	expect_names(f->st, "tags.team == 'nlp' or note == 'baseline'", NULL, 0, "bad ok");
	expect_names(f->st, "params.lr == 0.5 and decisions == 1", NULL, 0, "bad");
	char *j = NULL;
	TU_OK(pt_run_summary_json(f->st, "bad", &j));
	assert_non_null(strstr(j, "\"error\":{\"stream\":\"main\",\"type\":\"ValueError\",\"message\":\"boom\"}"));
	assert_non_null(strstr(j, "\"reason\":\"plateau\""));
	assert_non_null(strstr(j, "\"tags\":{\"team\":\"nlp\"}"));
	pt_free(j);
	TU_OK(pt_recorder_close(live));
	expect_names(f->st, "status == 'running'", NULL, 0, "");
	/* a session after a run_end reopens the run */
	r = rec_open(f->st, "ok", NULL);
	TU_OK(pt_recorder_metric(r, "x", 1, 1));
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, "status == 'crashed'", NULL, 0, "gone live ok");
}

static void streams_of_one_run(void **state)
{
	fixture *f = *state;
	pt_recorder *r0 = rec_open(f->st, "ddp", "rank0"), *r1 = rec_open(f->st, "ddp", "rank1");
	param_d(r0, "lr", 0.1);
	param_d(r1, "lr", 0.1);
	param_d(r0, "seed", 0);
	param_d(r1, "seed", 1);
	TU_OK(pt_recorder_metric(r0, "loss", 0.5, 1));
	TU_OK(pt_recorder_metric(r1, "loss", 0.2, 1));
	end_run(r0, "finished", NULL, NULL);
	end_run(r1, "finished", NULL, NULL);
	TU_OK(pt_recorder_close(r0));
	TU_OK(pt_recorder_close(r1));
	expect_names(f->st, "min.loss == 0.2 and max.loss == 0.5 and streams == 2 and status == 'finished'", NULL, 0, "ddp");
	char *j = NULL;
	TU_OK(pt_run_summary_json(f->st, "ddp", &j));
	assert_non_null(strstr(j, "\"params_by_stream\":{\"seed\":{\"rank0\":0.0,\"rank1\":1.0}}"));
	pt_free(j);
}

static void compare_two_runs(void **state)
{
	fixture *f = *state;
	three_runs(f->st);
	char *j = NULL;
	const char *two[] = {"a", "b"};
	TU_OK(pt_runs_compare_json(f->st, two, 2, &j));
	assert_non_null(strstr(j, "\"params_differ\":{\"lr\":{\"a\":0.1,\"b\":0.01}}"));
	assert_non_null(strstr(j, "\"params_same\":{\"optimizer\":\"adam\"}"));
	assert_non_null(strstr(j, "\"metrics\":{\"val_loss\":{\"a\":{\"last\":"));
	assert_non_null(strstr(j, "\"summaries\":["));
	pt_free(j);
	const char *missing[] = {"a", "zz"};
	assert_int_equal(pt_runs_compare_json(f->st, missing, 2, &j), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "zz"));
	assert_int_equal(pt_runs_compare_json(f->st, two, 1, &j), PT_EINVAL);
	const char *bad[] = {"a", "../x"};
	assert_int_equal(pt_runs_compare_json(f->st, bad, 2, &j), PT_EINVAL);
	assert_null(j);
}


static void tag_note_end_are_checked(void **state)
{
	fixture *f = *state;
	pt_recorder *r = rec_open(f->st, "t", NULL);
	assert_int_equal(pt_recorder_tag(r, "", "x"), PT_EINVAL);
	assert_int_equal(pt_recorder_tag(r, "a b", "x"), PT_EINVAL);
	assert_int_equal(pt_recorder_tag(r, NULL, "x"), PT_EINVAL);
	assert_int_equal(pt_recorder_tag(r, "k", NULL), PT_EINVAL);
	char big[5000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(pt_recorder_tag(r, "k", big), PT_EINVAL);
	assert_int_equal(pt_recorder_end(r, "done", NULL, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_end(r, "finished", "E", "why"), PT_EINVAL);
	assert_int_equal(pt_recorder_note(r, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_next_seq(r), 1); /* nothing written by the refusals */
	TU_OK(pt_recorder_tag(r, "team/sub-group:x.y", "a"));
	TU_OK(pt_recorder_note(r, "n"));
	TU_OK(pt_recorder_end(r, "failed", "RuntimeError", NULL));
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, "tags.'team/sub-group:x.y' == 'a' and note == 'n' and status == 'failed'", NULL, 0, "t");
	/* a tag or note after the end annotates: still failed, not longer */
	r = rec_open(f->st, "t", NULL);
	TU_OK(pt_recorder_tag(r, "k", "v"));
	TU_OK(pt_recorder_close(r));
	expect_names(f->st, "status == 'failed' and tags.k == 'v' and duration < 1", NULL, 0, "t");
}


static void run_iter_adopts_streams_created_later(void **state)
{
	fixture *f = *state;
	pt_recorder *r0 = rec_open(f->st, "late", "rank0");
	TU_OK(pt_recorder_metric(r0, "x", 1, 1));
	TU_OK(pt_recorder_flush(r0));
	pt_run_iter *it;
	TU_OK(pt_run_iter_open(&it, f->st, "late", NULL, 0, NULL, 0));
	const pt_event_view *ev;
	TU_OK(pt_run_iter_next(it, &ev, NULL));
	assert_int_equal(pt_run_iter_next(it, &ev, NULL), PT_ITEROVER);
	pt_recorder *r1 = rec_open(f->st, "late", "rank1");
	TU_OK(pt_recorder_metric(r1, "x", 2, 1));
	TU_OK(pt_recorder_metric(r1, "x", 3, 2));
	TU_OK(pt_recorder_flush(r1));
	TU_OK(pt_run_iter_next(it, &ev, NULL));
	assert_string_equal(pt_ev_stream(ev), "rank1");
	assert_int_equal(pt_ev_seq(ev), 1);
	assert_int_equal(pt_run_iter_streams(it), 2);
	TU_OK(pt_run_iter_next(it, &ev, NULL));
	assert_int_equal(pt_ev_seq(ev), 2);
	assert_int_equal(pt_run_iter_next(it, &ev, NULL), PT_ITEROVER);
	TU_OK(pt_recorder_metric(r0, "x", 4, 2));
	TU_OK(pt_recorder_flush(r0));
	TU_OK(pt_run_iter_next(it, &ev, NULL));
	assert_string_equal(pt_ev_stream(ev), "rank0");
	pt_run_iter_free(it);
	/* a named list of streams keeps to them */
	const char *one = "rank0";
	TU_OK(pt_run_iter_open(&it, f->st, "late", &one, 1, NULL, 0));
	size_t n = 0;
	while (pt_run_iter_next(it, &ev, NULL) == 0)
		n++;
	assert_int_equal(n, 2);
	pt_recorder *r2 = rec_open(f->st, "late", "rank2");
	TU_OK(pt_recorder_metric(r2, "x", 5, 1));
	TU_OK(pt_recorder_flush(r2));
	assert_int_equal(pt_run_iter_next(it, &ev, NULL), PT_ITEROVER);
	pt_run_iter_free(it);
	TU_OK(pt_recorder_close(r0));
	TU_OK(pt_recorder_close(r1));
	TU_OK(pt_recorder_close(r2));
}

static void diff_of_a_whole_run(void **state)
{
	fixture *f = *state;
	pt_recorder *r0 = rec_open(f->st, "w", "rank0"), *r1 = rec_open(f->st, "w", "rank1");
	param_d(r0, "lr", 0.1);
	param_d(r1, "lr", 0.1);
	TU_OK(pt_recorder_metric(r0, "loss", 1, 1));
	TU_OK(pt_recorder_metric(r1, "loss", 2, 1));
	param_d(r0, "lr", 0.05);
	TU_OK(pt_recorder_metric(r0, "loss", 0.5, 2));
	TU_OK(pt_recorder_metric(r1, "loss", 1.5, 2));
	TU_OK(pt_recorder_metric(r1, "loss", 1.2, 3));
	TU_OK(pt_recorder_close(r0));
	TU_OK(pt_recorder_close(r1));
	pt_point a, b;
	TU_OK(pt_point_parse(&a, "step=1"));
	TU_OK(pt_point_parse(&b, "step=3"));
	char *j = NULL;
	TU_OK(pt_run_diff_json(f->st, "w", &a, &b, NULL, &j));
	assert_non_null(strstr(j, "{\"run\":\"w\",\"streams\":{\"rank0\":{\"error\":\"step=3 is past the end"));
	assert_non_null(strstr(j, "\"rank1\":{\"run\":\"w\""));
	pt_free(j);
	TU_OK(pt_point_parse(&b, "step=2"));
	TU_OK(pt_run_diff_json(f->st, "w", &a, &b, NULL, &j));
	assert_non_null(strstr(j, "\"rank0\":{\"run\":\"w\",\"from\":{\"seq\":3,\"step\":1"));
	assert_non_null(strstr(j, "\"loss\":{\"old\":2.0,\"new\":1.5,\"delta\":-0.5}"));
	pt_free(j);
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.lineage = 0;
	assert_int_equal(pt_run_diff_json(f->st, "w", &a, &b, &o, &j), PT_EINVAL);
	o.stream = "rank1";
	TU_OK(pt_run_diff_json(f->st, "w", &a, &b, &o, &j));
	assert_null(strstr(j, "rank0"));
	pt_free(j);
	o.stream = "nope";
	assert_int_equal(pt_run_diff_json(f->st, "w", &a, &b, &o, &j), PT_ENOTFOUND);
	assert_int_equal(pt_run_diff_json(f->st, "nope", &a, &b, NULL, &j), PT_ENOTFOUND);
}


static void metrics_downsampled_while_read_keep_extremes(void **state)
{
	fixture *f = *state;
	pt_recorder *r = rec_open(f->st, "long", NULL);
	const int N = 100003;
	for (int i = 0; i < N; i++) {
		double v = (double)((i * 7919) % 1000) / 10.0;
		if (i == 777)
			v = -5;
		if (i == 99000)
			v = 500;
		if (i % 1000 == 3 || i == 0 || i == 776)
			v = 0.0 / 0.0; /* NaN loses to any number, even first in a bucket */
		TU_OK(pt_recorder_metric(r, "x", v, i));
	}
	TU_OK(pt_recorder_close(r));
	static const size_t pts[] = {4, 5, 10, 64, 2001, 100002, 100003, 200000};
	for (size_t k = 0; k < sizeof pts / sizeof *pts; k++) {
		pt_metric_series *s = NULL;
		size_t n = 0;
		TU_OK(pt_metrics_read(f->st, "long", NULL, NULL, 0, 1, pts[k], &s, &n));
		assert_int_equal(n, 1);
		assert_true(s[0].n <= pts[k]);
		assert_true(s[0].n >= (pts[k] < (size_t)N ? pts[k] / 4 : (size_t)N));
		bool lo = false, hi = false;
		for (size_t i = 0; i < s[0].n; i++) {
			lo |= s[0].values[i] == -5 && s[0].steps[i] == 777;
			hi |= s[0].values[i] == 500 && s[0].steps[i] == 99000;
			if (i)
				assert_true(s[0].steps[i] > s[0].steps[i - 1]);
		}
		if (!lo || !hi)
			fail_msg("points %zu: the extremes are lost (%zu points)", pts[k], s[0].n);
		pt_metrics_free(s, n);
	}
}

static void fields_parse(void **state)
{
	(void)state;
	pt__field fl;
	TU_OK(pt__field_parse("params.lr", 9, &fl));
	assert_int_equal(fl.k, PT_F_PARAM);
	assert_string_equal(fl.name, "lr");
	free(fl.name);
	TU_OK(pt__field_parse("code.commit", 11, &fl));
	assert_int_equal(fl.k, PT_F_COMMIT);
	assert_int_equal(pt__field_parse("code.nope", 9, &fl), PT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(where_filters_and_sorts, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_names_do_not_match, setup, teardown),
		cmocka_unit_test_setup_teardown(parse_errors_say_where, setup, teardown),
		cmocka_unit_test(deep_expressions_are_refused_not_overflowed),
		cmocka_unit_test_setup_teardown(summaries_are_kept_and_updated, setup, teardown),
		cmocka_unit_test_setup_teardown(live_path_after_a_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(status_tags_note_and_decisions, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_of_one_run, setup, teardown),
		cmocka_unit_test_setup_teardown(compare_two_runs, setup, teardown),
		cmocka_unit_test(fields_parse),
		cmocka_unit_test_setup_teardown(metrics_downsampled_while_read_keep_extremes, setup, teardown),
		cmocka_unit_test_setup_teardown(run_iter_adopts_streams_created_later, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_of_a_whole_run, setup, teardown),
		cmocka_unit_test_setup_teardown(tag_note_end_are_checked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
