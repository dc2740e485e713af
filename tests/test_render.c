/* test_render.c - one renderer / one writer per thing (issue 12 item 5): the
 * decision writer and its schema check, the rendered verify result. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tu_fixture fixture;
#define setup tu_setup
#define teardown tu_teardown

static pt_recorder *open_rec(pt_store *st, const char *run)
{
	pt_recorder *r = NULL;
	TU_OK(pt_recorder_open(&r, st, run, NULL, NULL));
	return r;
}

/* The JSON of event number `n` (0-based) of run/main, copied (free). */
static char *event_json(pt_store *st, const char *run, int n)
{
	pt_iter *it;
	TU_OK(pt_iter_open(&it, st, run, NULL, NULL));
	const pt_event_view *v;
	for (int i = 0; i <= n; i++)
		TU_OK(pt_iter_next(it, &v));
	const char *j;
	TU_OK(pt_ev_json(v, &j, NULL));
	char *out = strdup(j);
	pt_iter_free(it);
	return out;
}

#define MP(s) (s), (sizeof(s) - 1)

static void test_decision_writer_owns_the_schema(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "d");
	uint64_t seq = 99;
	/* set {"lr": 0.5}, extra {"considered": [1, 2]} */
	TU_OK(pt_recorder_decision(r, "lr", 7, MP("\x81\xa2lr\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00"), "plateau",
				   "sched", MP("\x81\xaa" "considered\x92\x01\x02"), &seq));
	assert_int_equal(seq, 1);
	/* nothing but a name */
	TU_OK(pt_recorder_decision(r, "stop", PT_NO_STEP, NULL, 0, NULL, NULL, NULL, 0, &seq));
	assert_int_equal(seq, 2);

	/* refused, nothing appended, seq cleared */
	seq = 5;
	assert_int_equal(pt_recorder_decision(r, "lr", 1, MP("\x92\x01\x02"), NULL, NULL, NULL, 0, &seq), PT_EINVAL);
	assert_int_equal(seq, 0);
	assert_non_null(strstr(pt_error_last(), "\"set\" must be a map"));
	assert_int_equal(pt_recorder_decision(r, "lr", 1, MP("\xa1x"), NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	/* a map followed by junk, a truncated map, a map with an int key */
	assert_int_equal(pt_recorder_decision(r, "lr", 1, MP("\x80\x01"), NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, MP("\x81\xa2lr"), NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, MP("\x81\x01\x02"), NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, "\x80", 0, NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	/* reason / actor must be UTF-8 strings */
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, "\xff\xfe", NULL, NULL, 0, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, "\xc3", NULL, 0, NULL), PT_EINVAL);
	/* extra: a map of string keys, not repeating the schema's keys nor the envelope's */
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, NULL, MP("\x91\x01"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, "a", NULL, MP("\x81\xa6reason\x01"), NULL),
			 PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "repeats an argument"));
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, NULL, MP("\x81\xa3set\x01"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, NULL, MP("\x81\xa4step\x01"), NULL),
			 PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, NULL, MP("\x81\x05\x01"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 0, NULL, NULL, MP("\x82\xa1x\x01"), NULL), PT_EINVAL);
	/* absurd sizes are refused before anything is allocated */
	assert_int_equal(pt_recorder_decision(r, "lr", 1, "\x80", (size_t)-1, NULL, NULL, NULL, 0, NULL), PT_ELIMIT);
	assert_int_equal(pt_recorder_decision(NULL, "lr", 1, NULL, 0, NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision(r, "lr", 1, NULL, 3, NULL, NULL, NULL, 0, NULL), PT_EINVAL);
	/* a body encoded whole (the Python path): the same schema */
	TU_OK(pt_recorder_decision_body(r, "wd", 9, MP("\x82\xa3set\x81\xa2wd\x01\xa5" "actor\xa2me"), &seq));
	assert_int_equal(seq, 3);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, MP("\x81\xa3set\x91\x01"), &seq), PT_EINVAL);
	assert_int_equal(seq, 0);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, MP("\x81\xa6reason\x05"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, MP("\x81\xa4time\x05"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, MP("\x81\xa3set"), NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, NULL, 4, NULL), PT_EINVAL);
	assert_int_equal(pt_recorder_decision_body(r, "wd", 9, "\x80", (size_t)1 << 40, NULL), PT_ELIMIT);
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "d", NULL, NULL), 3);

	char *j = event_json(f->st, "d", 0);
	assert_non_null(strstr(j, "\"step\":7,\"kind\":\"decision\",\"name\":\"lr\",\"set\":{\"lr\":0.5},"
				  "\"reason\":\"plateau\",\"actor\":\"sched\",\"considered\":[1,2]}"));
	free(j);
	j = event_json(f->st, "d", 1);
	assert_non_null(strstr(j, "\"kind\":\"decision\",\"name\":\"stop\"}"));
	free(j);

	/* the fold reads it as a decision: the parameter and its decision seq */
	pt_point at;
	TU_OK(pt_point_parse(&at, "latest"));
	pt_replay *rp = NULL;
	TU_OK(pt_replay_open(&rp, f->st, "d", &at, NULL));
	const char *sj = NULL;
	TU_OK(pt_replay_state_json(rp, &sj, NULL));
	assert_non_null(strstr(sj, "\"lr\":{\"value\":0.5"));
	assert_non_null(strstr(sj, "\"reason\":\"plateau\""));
	pt_replay_free(rp);
}

static void test_decision_check_event(void **state)
{
	(void)state;
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "decision", "lr"));
	TU_OK(pt_event_begin_map(ev, "set"));
	TU_OK(pt_event_double(ev, "lr", 0.1));
	/* still open */
	assert_int_equal(pt_decision_check_event(ev), PT_EINVAL);
	TU_OK(pt_event_end(ev));
	TU_OK(pt_event_str(ev, "reason", "plateau"));
	TU_OK(pt_decision_check_event(ev));

	TU_OK(pt_event_reset(ev, "decision", "lr"));
	TU_OK(pt_event_begin_array(ev, "set"));
	TU_OK(pt_event_end(ev));
	assert_int_equal(pt_decision_check_event(ev), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "\"set\" must be a map"));

	TU_OK(pt_event_reset(ev, "decision", "lr"));
	TU_OK(pt_event_int(ev, "reason", 3));
	assert_int_equal(pt_decision_check_event(ev), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "\"reason\" must be a string"));

	TU_OK(pt_event_reset(ev, "decision", "lr"));
	TU_OK(pt_event_nil(ev, "actor"));
	assert_int_equal(pt_decision_check_event(ev), PT_EINVAL);

	/* a big body (beyond the stack buffer) is checked too */
	TU_OK(pt_event_reset(ev, "decision", "lr"));
	TU_OK(pt_event_begin_map(ev, "set"));
	char key[32];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "p%d", i);
		TU_OK(pt_event_int(ev, key, i));
	}
	TU_OK(pt_event_end(ev));
	TU_OK(pt_event_bool(ev, "actor", 1));
	assert_int_equal(pt_decision_check_event(ev), PT_EINVAL);

	/* other kinds are not decisions */
	TU_OK(pt_event_reset(ev, "note", NULL));
	TU_OK(pt_event_int(ev, "set", 3));
	TU_OK(pt_decision_check_event(ev));
	assert_int_equal(pt_decision_check_event(NULL), PT_EINVAL);
	pt_event_free(ev);

	TU_OK(pt_decision_body_check(MP("\x82\xa3set\x80\xa5" "actor\xa1x")));
	assert_int_equal(pt_decision_body_check(MP("\x81\xa3set\x01")), PT_EINVAL);
	assert_int_equal(pt_decision_body_check(MP("\x81\xa3set")), PT_EINVAL);
	assert_int_equal(pt_decision_body_check(MP("\x90")), PT_EINVAL);
	assert_int_equal(pt_decision_body_check(MP("\x80\x80")), PT_EINVAL);
}

static int count_cb(const pt_problem *p, void *payload)
{
	(void)p;
	(*(int *)payload)++;
	return 0;
}

static void test_verify_report_renders_one_document(void **state)
{
	fixture *f = *state;
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.segment_max_bytes = 4096;
	o.batch_max_events = 64;
	pt_recorder *r = NULL;
	TU_OK(pt_recorder_open(&r, f->st, "v", NULL, &o));
	for (int i = 0; i < 3000; i++)
		TU_OK(pt_recorder_metric(r, "loss", 1.0 / (i + 1), i));
	TU_OK(pt_recorder_close(r));

	char *json = NULL;
	size_t len = 0;
	pt_verify_stats vs;
	TU_OK(pt_verify_report(f->st, NULL, NULL, NULL, NULL, &vs, &json, &len));
	assert_int_equal(len, strlen(json));
	assert_int_equal(vs.errors, 0);
	assert_non_null(strstr(json, "{\"ok\":true,\"errors\":0,\"warnings\":0,\"problems\":[],\"stats\":{\"runs\":1,"));
	if (!strstr(json, ",\"events\":3000,"))
		fail_msg("%s", json);
	pt_free(json);

	size_t n = 0;
	char **segs = tu_sealed(f->st, "v", NULL, &n);
	assert_true(n >= 2);
	tu_flip_byte(segs[0], 200);
	for (size_t i = 0; i < n; i++)
		free(segs[i]);
	free(segs);
	int calls = 0;
	TU_OK(pt_verify_report(f->st, "v", NULL, count_cb, &calls, &vs, &json, NULL));
	assert_true(calls >= 1);
	assert_int_equal(vs.errors + vs.warnings, (uint64_t)calls);
	assert_non_null(strstr(json, "{\"ok\":false,"));
	assert_non_null(strstr(json, "{\"severity\":\"error\",\"code\":\"PT_ECORRUPT\",\"rc\":-6,\"object\":\"runs/v/"));
	pt_free(json);

	/* verification that cannot run: an error, no document */
	json = (char *)1;
	assert_int_equal(pt_verify_report(f->st, "nope", NULL, NULL, NULL, NULL, &json, &len), PT_ENOTFOUND);
	assert_null(json);
	assert_int_equal(len, 0);
	assert_int_equal(pt_verify_report(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), PT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_decision_writer_owns_the_schema, setup, teardown),
		cmocka_unit_test(test_decision_check_event),
		cmocka_unit_test_setup_teardown(test_verify_report_renders_one_document, setup, teardown),
	};
	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
