/* test_report.c - pt_report_html: the page, its escaping, spikes kept by the downsampling, bad input. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static pt_recorder *open_rec(pt_store *st, const char *run, const char *stream)
{
	pt_recorder *rec = NULL;
	TU_OK(pt_recorder_open(&rec, st, run, stream, NULL));
	return rec;
}

static void decision(pt_recorder *rec, const char *name, int64_t step, const char *reason, const char *actor)
{
	/* "set": {"lr": 0.5} */
	static const unsigned char set[] = {0x81, 0xa2, 'l', 'r', 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0};
	TU_OK(pt_recorder_decision(rec, name, step, set, sizeof set, reason, actor, NULL, 0, NULL));
}

static char *report(pt_store *st, const char *const *runs, size_t n, const pt_report_options *o)
{
	char *html = NULL;
	size_t len = 0;
	TU_OK(pt_report_html(st, runs, n, o, &html, &len));
	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	return html;
}

/* Everything outside the page's own markup is text: no stray tag, no control byte. */
static void assert_clean(const char *html)
{
	assert_int_equal(count(html, "<script"), 1);
	assert_int_equal(count(html, "</script"), 1);
	assert_int_equal(count(html, "<b>"), 0);
	assert_int_equal(count(html, "<img"), 0);
	for (const unsigned char *p = (const unsigned char *)html; *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\t')
			fail_msg("control byte 0x%02x at offset %zu", *p, (size_t)((const char *)p - html));
	/* no request of any kind: no URL the browser would load */
	assert_null(strstr(html, "http://"));
	assert_null(strstr(html, "https://"));
	assert_null(strstr(html, " src="));
	assert_null(strstr(html, " href="));
	assert_non_null(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'"));
}

static void test_html_escape_hostile_text(void **state)
{
	(void)state;
	char *out = NULL;
	const char in[] = "a</script><b x=\"1\" y='2'>&\x01\x1b\x7f\t\n\xc3\xa9\xff\xc2\x85z";
	TU_OK(pt_html_escape(in, sizeof in - 1, &out));
	assert_string_equal(out, "a&lt;/script&gt;&lt;b x=&quot;1&quot; y=&#39;2&#39;&gt;&amp;"
				 "\xe2\x90\x81\xe2\x90\x9b\xe2\x90\xa1\t\n\xc3\xa9\xef\xbf\xbd\xef\xbf\xbdz");
	pt_free(out);
	/* a truncated sequence at the end, an overlong form, a surrogate */
	const char bad[] = "\xe2\x82\xc0\x80\xed\xa0\x80\xe2\x82";
	TU_OK(pt_html_escape(bad, sizeof bad - 1, &out));
	assert_null(strchr(out, '\x80') == NULL ? NULL : strstr(out, "\xc0"));
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		assert_true(*p != 0xc0 && *p != 0xed);
	pt_free(out);
	TU_OK(pt_html_escape("", 0, &out));
	assert_string_equal(out, "");
	pt_free(out);
	assert_int_equal(pt_html_escape(NULL, 3, &out), PT_EINVAL);
	assert_int_equal(pt_html_escape("x", 1, NULL), PT_EINVAL);
}

static void test_report_shows_metrics_decisions_checkpoints_resume(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "r1", NULL);
	pt_event *ev = NULL;
	TU_OK(pt_event_new(&ev, "param", "opt"));
	TU_OK(pt_event_str(ev, "value", "adam"));
	TU_OK(pt_recorder_append(rec, ev, NULL));
	for (int64_t s = 0; s < 100; s++) {
		TU_OK(pt_recorder_metric(rec, "loss", 1.0 / (double)(s + 1), s));
		TU_OK(pt_recorder_metric(rec, "acc", (double)s / 100, s));
		if (s == 40)
			decision(rec, "lr", s, "plateau", "scheduler");
	}
	pt_checkpointer *cw = NULL;
	pt_checkpoint *ck = NULL;
	TU_OK(pt_checkpointer_open(&cw, f->st, rec, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_bytes(ck, "w", "abcd", 4));
	TU_OK(pt_checkpointer_write(cw, ck, 50, NULL));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	TU_OK(pt_recorder_resume(rec, 60, PT_LINEAGE_LIVE, NULL, NULL));
	for (int64_t s = 61; s < 80; s++)
		TU_OK(pt_recorder_metric(rec, "loss", 0.5, s));
	decision(rec, "stop", 79, "early stop", "rule");
	TU_OK(pt_event_reset(ev, "run_end", NULL));
	TU_OK(pt_recorder_append(rec, ev, NULL));
	TU_OK(pt_recorder_close(rec));
	pt_event_free(ev);

	const char *runs[] = {"r1"};
	char *html = report(f->st, runs, 1, NULL);
	assert_clean(html);
	/* two charts; loss: the live path and lineage 0's abandoned tail (steps 61..99) */
	assert_int_equal(count(html, "<figure class=\"chart\""), 2);
	assert_int_equal(count(html, "<polyline class=\"s\""), 2);
	assert_int_equal(count(html, "<polyline class=\"s ab\""), 2); /* loss and acc were written past 60 */
	assert_int_equal(count(html, "data-lineage=\"0\""), 2);
	/* two decisions, on each of the two charts, and two rows of the timeline */
	assert_int_equal(count(html, "<g class=\"dec"), 4);
	assert_int_equal(count(html, "<tr class=\"dec-row"), 2);
	assert_non_null(strstr(html, "reason: plateau · actor: scheduler"));
	assert_int_equal(count(html, "<line class=\"ck\""), 2);
	assert_int_equal(count(html, "<line class=\"fork\""), 2);
	assert_non_null(strstr(html, "resumed as lineage 1 from lineage 0 at step 60"));
	assert_non_null(strstr(html, "<td><code>&quot;adam&quot;</code></td>"));
	assert_non_null(strstr(html, "class=\"st-finished\">finished"));
	assert_non_null(strstr(html, "class=\"ok\">OK: 0 errors"));
	pt_free(html);

	/* log scale, time axis, one metric, no verification */
	pt_report_options o;
	TU_OK(pt_report_options_init(&o, PT_REPORT_OPTIONS_VERSION));
	const char *names[] = {"acc"};
	o.metrics = names;
	o.nmetrics = 1;
	o.log_scale = 1;
	o.x_time = 1;
	o.verify = 0;
	html = report(f->st, runs, 1, &o);
	assert_int_equal(count(html, "<figure class=\"chart\""), 1);
	assert_non_null(strstr(html, "data-metric=\"acc\""));
	assert_non_null(strstr(html, "data-log=\"1\""));
	assert_non_null(strstr(html, "data-xt=\"1\""));
	assert_non_null(strstr(html, "1 points not drawn")); /* acc = 0 at step 0 on a log scale */
	assert_non_null(strstr(html, "Not verified"));
	pt_free(html);

	/* the charts alone (what the UI swaps in) */
	TU_OK(pt_report_options_init(&o, PT_REPORT_OPTIONS_VERSION));
	o.charts_only = 1;
	html = report(f->st, runs, 1, &o);
	assert_true(!strncmp(html, "<section id=\"charts\">", 21));
	assert_null(strstr(html, "<script"));
	pt_free(html);
}

static void test_report_escapes_hostile_names_params_and_reasons(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "evil", "s-1");
	const char *hostile = "</script><script>alert(1)</script>\"'<b>&amp;\x01\x1b[31m";
	pt_event *ev = NULL;
	TU_OK(pt_event_new(&ev, "param", hostile));
	TU_OK(pt_event_str(ev, "value", hostile));
	TU_OK(pt_recorder_append(rec, ev, NULL));
	TU_OK(pt_recorder_metric(rec, hostile, 1.0, 1));
	TU_OK(pt_recorder_metric(rec, hostile, 2.0, 2));
	decision(rec, hostile, 1, hostile, hostile);
	TU_OK(pt_artifact_bytes(rec, hostile, "xyz", 3, 2, NULL));
	TU_OK(pt_event_reset(ev, "dataset", hostile));
	TU_OK(pt_event_str(ev, "uri", hostile));
	TU_OK(pt_recorder_append(rec, ev, NULL));
	TU_OK(pt_event_reset(ev, "run_end", NULL));
	TU_OK(pt_event_str(ev, "status", "failed"));
	TU_OK(pt_recorder_append(rec, ev, NULL));
	TU_OK(pt_recorder_close(rec));
	pt_event_free(ev);

	const char *runs[] = {"evil"};
	pt_report_options o = PT_REPORT_OPTIONS_INIT;
	o.title = hostile;
	char *html = report(f->st, runs, 1, &o);
	assert_clean(html);
	assert_non_null(strstr(html, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&lt;b&gt;&amp;amp;"
				     "\xe2\x90\x81\xe2\x90\x9b[31m"));
	assert_non_null(strstr(html, "class=\"st-failed\">failed"));
	assert_int_equal(count(html, "<g class=\"dec"), 1);
	pt_free(html);

	/* the UI's page: the poll URL is an attribute, escaped too */
	o.ui = 1;
	o.poll_url = "/api/x\"><script>alert(2)</script>";
	html = report(f->st, runs, 1, &o);
	assert_int_equal(count(html, "<script"), 1);
	assert_non_null(strstr(html, "data-poll=\"/api/x&quot;&gt;&lt;script&gt;"));
	assert_non_null(strstr(html, "connect-src 'self'"));
	pt_free(html);
}

/* A million points, one spike: the page keeps it, and stays small. */
static void test_report_keeps_spikes_when_downsampling(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "big", NULL);
	const int64_t n = 1000000, spike = 777777;
	for (int64_t s = 0; s < n; s++)
		TU_OK(pt_recorder_metric(rec, "loss", s == spike ? 1000.0 : s == 333333 ? -1000.0 : sin((double)s) + 2,
					 s));
	TU_OK(pt_recorder_close(rec));
	const char *runs[] = {"big"};
	pt_report_options o = PT_REPORT_OPTIONS_INIT;
	o.verify = 0;
	char *html = report(f->st, runs, 1, &o);
	assert_true(strlen(html) < 200 * 1024);
	/* the y range is [-1000, 1000] padded by 5%: the spike's column reaches y = 240 * 0.05 / 1.1 */
	const char *pts = strstr(html, "points=\"");
	assert_non_null(pts);
	const char *end = strchr(pts + 8, '"');
	double ymin = 1e9, ymax = -1e9;
	long at_min = -1, at_max = -1, cols = 0;
	for (const char *p = pts + 8; p < end;) {
		long x;
		double y;
		int used = 0;
		if (sscanf(p, "%ld,%lf %n", &x, &y, &used) != 2 || !used)
			break;
		if (y < ymin)
			ymin = y, at_min = x;
		if (y > ymax)
			ymax = y, at_max = x;
		cols++;
		p += used;
	}
	assert_true(cols > 900 && cols <= 2 * 960);
	assert_true(fabs(ymin - 240 * 0.05 / 1.1) < 0.2); /* the +1000 spike: near the top */
	assert_true(fabs(ymax - 240 * 1.05 / 1.1) < 0.2); /* the -1000 dip: near the bottom */
	assert_int_equal(at_min, lround(777777.0 / 999999 * 959));
	assert_int_equal(at_max, lround(333333.0 / 999999 * 959));
	pt_free(html);

	/* a stream this long is read in two halves on two threads: damage in the second half (three
	 * quarters into the segment, batches being in seq order) is the report's error, the run named */
	size_t nseg = 0;
	char **segs = tu_sealed(f->st, "big", "main", &nseg);
	assert_int_equal(nseg, 1);
	tu_flip_byte(segs[0], tu_file_size(segs[0]) * 3 / 4);
	pt_strv_free(segs, nseg);
	html = (char *)1;
	assert_int_equal(pt_report_html(f->st, runs, 1, &o, &html, NULL), PT_ECORRUPT);
	assert_null(html);
	assert_non_null(strstr(pt_error_last(), "report: run big"));
}

/* Keys out of order, negative, far apart: the buckets widen and slide without losing an extreme. */
static void test_report_buckets_take_keys_in_any_order(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "odd", NULL);
	int64_t steps[] = {5, -3, 100000000, 7, 2, -50000, 3};
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
		TU_OK(pt_recorder_metric(rec, "m", (double)i, steps[i]));
	TU_OK(pt_recorder_metric(rec, "m", NAN, 9));
	TU_OK(pt_recorder_metric(rec, "m", INFINITY, 10));
	TU_OK(pt_recorder_metric(rec, "m", 5.0, INT64_MAX - 1)); /* beyond the keys drawn: counted */
	TU_OK(pt_recorder_metric(rec, "m", 5.0, INT64_MIN + 1));
	TU_OK(pt_recorder_close(rec));
	const char *runs[] = {"odd"};
	char *html = report(f->st, runs, 1, NULL);
	assert_non_null(strstr(html, "data-x0=\"-50000\" data-x1=\"100000000\""));
	assert_non_null(strstr(html, "7 pts"));
	assert_non_null(strstr(html, "4 points not drawn"));
	pt_free(html);
}

static void test_report_compares_runs_and_marks_different_params(void **state)
{
	tu_fixture *f = *state;
	const char *vals[] = {"0.1", "0.2"};
	for (int r = 0; r < 2; r++) {
		char name[8];
		snprintf(name, sizeof name, "c%d", r);
		pt_recorder *rec = open_rec(f->st, name, NULL);
		pt_event *ev = NULL;
		TU_OK(pt_event_new(&ev, "param", "lr"));
		TU_OK(pt_event_str(ev, "value", vals[r]));
		TU_OK(pt_recorder_append(rec, ev, NULL));
		TU_OK(pt_event_reset(ev, "param", "batch"));
		TU_OK(pt_event_int(ev, "value", 64));
		TU_OK(pt_recorder_append(rec, ev, NULL));
		pt_event_free(ev);
		for (int s = 0; s < 10; s++)
			TU_OK(pt_recorder_metric(rec, "loss", s * (r + 1), s));
		TU_OK(pt_recorder_close(rec));
	}
	const char *runs[] = {"c0", "c1"};
	char *html = report(f->st, runs, 2, NULL);
	assert_int_equal(count(html, "<figure class=\"chart\""), 1);
	assert_int_equal(count(html, "<polyline class=\"s\""), 2);
	assert_non_null(strstr(html, "<tr class=\"diff\"><td>lr</td>"));
	assert_non_null(strstr(html, "<tr><td>batch</td>"));
	assert_non_null(strstr(html, "<title>provtrace report: c0, c1</title>"));
	assert_non_null(strstr(html, "<h1>c0 vs c1</h1>"));
	/* no run_end after the last session: the status the run summaries give, crashed */
	assert_int_equal(count(html, "class=\"st-crashed\">crashed"), 2);
	pt_free(html);
}

static void test_report_bad_input(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "ok", NULL);
	TU_OK(pt_recorder_metric(rec, "m", 1, 1));
	TU_OK(pt_recorder_close(rec));
	char *html = (char *)1;
	const char *missing[] = {"ok", "nope"};
	assert_int_equal(pt_report_html(f->st, missing, 2, NULL, &html, NULL), PT_ENOTFOUND);
	assert_null(html);
	assert_non_null(strstr(pt_error_last(), "nope"));
	const char *bad[] = {"../x"};
	assert_int_equal(pt_report_html(f->st, bad, 1, NULL, &html, NULL), PT_EINVAL);
	const char *twice[] = {"ok", "ok"};
	assert_int_equal(pt_report_html(f->st, twice, 2, NULL, &html, NULL), PT_EINVAL);
	const char *many[PT_REPORT_MAX_RUNS + 1];
	for (size_t i = 0; i <= PT_REPORT_MAX_RUNS; i++)
		many[i] = "ok";
	assert_int_equal(pt_report_html(f->st, many, PT_REPORT_MAX_RUNS + 1, NULL, &html, NULL), PT_EINVAL);
	assert_int_equal(pt_report_html(f->st, many, 0, NULL, &html, NULL), PT_EINVAL);
	pt_report_options o = PT_REPORT_OPTIONS_INIT;
	o.width = 5;
	assert_int_equal(pt_report_html(f->st, many, 1, &o, &html, NULL), PT_EINVAL);
	o = (pt_report_options)PT_REPORT_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(pt_report_html(f->st, many, 1, &o, &html, NULL), PT_EINVAL);
	o = (pt_report_options)PT_REPORT_OPTIONS_INIT;
	o.nmetrics = 2;
	assert_int_equal(pt_report_html(f->st, many, 1, &o, &html, NULL), PT_EINVAL);
	assert_int_equal(pt_report_html(NULL, many, 1, NULL, &html, NULL), PT_EINVAL);
	assert_int_equal(pt_report_options_init(&o, 7), PT_EINVAL);
}

/* A damaged store: a missing checkpoint chunk fails verification and the page says so; a damaged
 * segment fails the read itself (the message names the run). */
static void test_report_shows_failed_verification(void **state)
{
	tu_fixture *f = *state;
	pt_recorder *rec = open_rec(f->st, "dmg", NULL);
	for (int s = 0; s < 1000; s++)
		TU_OK(pt_recorder_metric(rec, "m", s, s));
	pt_checkpointer *cw = NULL;
	pt_checkpoint *ck = NULL;
	TU_OK(pt_checkpointer_open(&cw, f->st, rec, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_bytes(ck, "w", "abcdefgh", 8));
	TU_OK(pt_checkpointer_write(cw, ck, 999, NULL));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	TU_OK(pt_recorder_close(rec));
	const char *runs[] = {"dmg"};
	char *html = report(f->st, runs, 1, NULL);
	assert_non_null(strstr(html, "class=\"ok\">OK: 0 errors"));
	pt_free(html);

	char cmd[4400];
	snprintf(cmd, sizeof cmd, "find '%s/store/objects' -type f -name '[0-9a-f]*' | head -n 1 | xargs rm -f", f->dir);
	assert_int_equal(tu_run(cmd), 0);
	html = report(f->st, runs, 1, NULL);
	assert_non_null(strstr(html, "class=\"bad\">FAILED: "));
	assert_non_null(strstr(html, "<ul class=\"problems\"><li>error PT_E"));
	assert_non_null(strstr(html, "<td class=\"bad\">FAILED"));
	pt_free(html);

	size_t n = 0;
	char **segs = tu_sealed(f->st, "dmg", "main", &n);
	assert_true(n >= 1);
	tu_flip_byte(segs[0], tu_file_size(segs[0]) / 2);
	html = (char *)1;
	assert_int_equal(pt_report_html(f->st, runs, 1, NULL, &html, NULL), PT_ECORRUPT);
	assert_null(html);
	assert_non_null(strstr(pt_error_last(), "report: run dmg"));
	pt_strv_free(segs, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escape_hostile_text),
		cmocka_unit_test_setup_teardown(test_report_shows_metrics_decisions_checkpoints_resume, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_escapes_hostile_names_params_and_reasons, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_keeps_spikes_when_downsampling, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_buckets_take_keys_in_any_order, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_compares_runs_and_marks_different_params, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_bad_input, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_report_shows_failed_verification, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
