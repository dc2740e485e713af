/* test_replay.c - time travel: the fold, snapshots, lineages, time points, walking, diff. */
#include "testutil.h"

#include "log/fold_int.h"
#include "log/state_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef tu_fixture fixture;
#define setup tu_setup
#define teardown tu_teardown

static pt_recorder *open_rec(pt_store *st, const char *run, uint32_t snap_every)
{
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.snapshot_every = snap_every;
	o.segment_max_bytes = 32768; /* many segments */
	o.batch_max_events = 300;
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, st, run, NULL, &o));
	return r;
}

/* A random but reproducible training run. */
static void record_run(pt_recorder *r, int steps, unsigned seed, int64_t step0, int64_t time0)
{
	srand(seed);
	pt_checkpointer *cw;
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	co.threads = 1;
	TU_OK(pt_checkpointer_open(&cw, pt__recorder_store(r), r, &co));
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_PARAM, "lr"));
	TU_OK(pt_event_double(ev, "value", 0.1));
	TU_OK(pt_recorder_append(r, ev, NULL));
	for (int i = 0; i < steps; i++) {
		int64_t s = step0 + i;
		TU_OK(pt_event_reset(ev, PT_KIND_METRIC, "loss"));
		TU_OK(pt_event_set_step(ev, s));
		if (time0)
			TU_OK(pt_event_set_time(ev, time0 + s * 1000));
		TU_OK(pt_event_double(ev, "value", 1.0 / (s + 1)));
		TU_OK(pt_recorder_append(r, ev, NULL));
		int dice = rand() % 100;
		if (dice < 3) {
			TU_OK(pt_event_reset(ev, PT_KIND_DECISION, "lr"));
			TU_OK(pt_event_set_step(ev, s));
			TU_OK(pt_event_begin_map(ev, "set"));
			TU_OK(pt_event_double(ev, "lr", (rand() % 1000) / 1e4));
			if (dice == 0)
				TU_OK(pt_event_int(ev, "batch", 32 << (rand() % 3)));
			TU_OK(pt_event_end(ev));
			TU_OK(pt_event_str(ev, "reason", dice == 1 ? "plateau" : "schedule"));
			TU_OK(pt_event_str(ev, "actor", "scheduler"));
			TU_OK(pt_recorder_append(r, ev, NULL));
		} else if (dice < 5) {
			/* a real (tiny) checkpoint: verify checks what its event references */
			pt_checkpoint *ck;
			float w[4] = {(float)s, 1, 2, 3};
			uint64_t shape[1] = {4};
			TU_OK(pt_checkpoint_new(&ck));
			TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
			TU_OK(pt_checkpointer_write(cw, ck, s, NULL));
			pt_checkpoint_free(ck);
		} else if (dice < 7) {
			TU_OK(pt_event_reset(ev, "note", dice == 5 ? "eval" : NULL));
			TU_OK(pt_event_int(ev, "i", i));
			TU_OK(pt_recorder_append(r, ev, NULL));
		} else if (dice < 9) {
			TU_OK(pt_event_reset(ev, PT_KIND_PARAM, NULL));
			TU_OK(pt_event_int(ev, "p", rand() % 10));
			TU_OK(pt_event_str(ev, "q", "x"));
			TU_OK(pt_recorder_append(r, ev, NULL));
		}
		if (i % 50 == 0)
			TU_OK(pt_recorder_metric(r, "acc", i / 100.0, s));
	}
	pt_event_free(ev);
	TU_OK(pt_checkpointer_close(cw));
}

/* The state at seq `t` by folding every event from the first one. */
static char *brute_force(pt_store *st, const char *run, uint64_t t)
{
	pt__fold f;
	pt__fold_init(&f);
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.seq_max = t;
	pt_iter *it;
	TU_OK(pt_iter_open(&it, st, run, NULL, &o));
	const pt_event_view *v;
	while (pt_iter_next(it, &v) == 0) {
		const void *mp;
		size_t len;
		pt__fold_event e;
		pt_ev_msgpack(v, &mp, &len);
		TU_OK(pt__fold_event_decode(&e, mp, len));
		TU_OK(pt__fold_apply(&f, &e));
	}
	pt_iter_free(it);
	pt__buf b = {0};
	TU_OK(pt__fold_json(&f, run, "main", &b));
	pt__fold_free(&f);
	return (char *)b.data;
}

static char *replay_json(pt_store *st, const char *run, const char *point, int snapshots, uint64_t *seq, uint64_t *folded)
{
	pt_point at;
	TU_OK(pt_point_parse(&at, point));
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.use_snapshots = snapshots;
	pt_replay *rp;
	TU_OK(pt_replay_open(&rp, st, run, &at, &o));
	const char *j;
	TU_OK(pt_replay_state_json(rp, &j, NULL));
	char *out = strdup(j);
	if (seq)
		*seq = pt_replay_seq(rp);
	if (folded)
		*folded = pt_replay_events_folded(rp);
	pt_replay_free(rp);
	return out;
}

static void test_fold_matches_brute_force_at_random_points(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "prop", 500);
	record_run(r, 6000, 7, 0, 0);
	assert_true(pt_recorder_snapshots(r) > 0 || 1);
	TU_OK(pt_recorder_close(r));
	pt_stream_info si;
	TU_OK(pt_stream_stat(f->st, "prop", NULL, &si));
	srand(99);
	uint64_t max_folded = 0;
	for (int k = 0; k < 60; k++) {
		uint64_t t = (uint64_t)(rand() % (int)si.seq_last) + 1;
		if (k == 0)
			t = si.seq_last;
		char pt[64];
		snprintf(pt, sizeof pt, "seq=%llu", (unsigned long long)t);
		uint64_t seq_s, seq_n, folded;
		char *with = replay_json(f->st, "prop", pt, 1, &seq_s, &folded);
		char *without = replay_json(f->st, "prop", pt, 0, &seq_n, NULL);
		assert_string_equal(with, without);
		if (folded > max_folded)
			max_folded = folded;
		/* the brute-force fold is at the last non-snapshot event <= t */
		char *brute = brute_force(f->st, "prop", seq_s);
		assert_string_equal(with, brute);
		free(with);
		free(without);
		free(brute);
	}
	/* with snapshots every 500 events, a replay folds about that many, not thousands */
	assert_true(max_folded < 1100);
	/* step points too */
	for (int k = 0; k < 20; k++) {
		char pt[64];
		snprintf(pt, sizeof pt, "step=%d", rand() % 6000);
		char *with = replay_json(f->st, "prop", pt, 1, NULL, NULL);
		char *without = replay_json(f->st, "prop", pt, 0, NULL, NULL);
		assert_string_equal(with, without);
		free(with);
		free(without);
	}
	/* deleting the snapshot index changes no result */
	char *idx = tu_path(pt_store_path(f->st), "runs/prop/main/snapshots");
	assert_true(tu_file_size(idx) > 0);
	char *before = replay_json(f->st, "prop", "step=4321", 1, NULL, NULL);
	unlink(idx);
	char *after = replay_json(f->st, "prop", "step=4321", 1, NULL, NULL);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(idx);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

static void test_tampered_snapshots_are_never_trusted(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "forge", 200);
	record_run(r, 2000, 5, 0, 0);
	TU_OK(pt_recorder_close(r));
	char *truth = replay_json(f->st, "forge", "step=1500", 0, NULL, NULL);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
	/* 1. forge the index: point the last snapshot line at another valid object */
	char *idx = tu_path(pt_store_path(f->st), "runs/forge/main/snapshots");
	char *bak = tu_path(f->dir, "snapshots.bak");
	tu_copy_file(idx, bak);
	char cmd[8400];
	/* swap the object ids of the first and the last lines */
	snprintf(cmd, sizeof cmd,
		 "python3 -c \"import sys; p=sys.argv[1]; L=open(p).read().split('\\n')[:-1]; a=L[0].split(); b=L[-1].split(); "
		 "a[2],b[2]=b[2],a[2]; L[0]=' '.join(a); L[-1]=' '.join(b); open(p,'w').write('\\n'.join(L)+'\\n')\" '%s'",
		 idx);
	assert_int_equal(tu_run(cmd), 0);
	char *forged = replay_json(f->st, "forge", "step=1500", 1, NULL, NULL);
	assert_string_equal(forged, truth); /* the log does not name those objects there: ignored */
	free(forged);
	tu_copy_file(bak, idx);
	/* 2. damage a snapshot object: replay skips it, verify names it */
	pt__snapidx si;
	char *sdir = tu_path(pt_store_path(f->st), "runs/forge/main");
	TU_OK(pt__snapidx_load(&si, sdir));
	assert_true(si.n >= 5);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", si.v[si.n - 1].id[i]);
	char *obj = malloc(strlen(pt_store_path(f->st)) + 100);
	sprintf(obj, "%s/objects/%.2s/%s", pt_store_path(f->st), hex, hex + 2);
	tu_flip_byte(obj, tu_file_size(obj) - 1);
	forged = replay_json(f->st, "forge", "step=1500", 1, NULL, NULL);
	assert_string_equal(forged, truth);
	free(forged);
	assert_true(tu_verify_errors(f->st, NULL, 0) > 0);
	pt__snapidx_free(&si);
	free(obj);
	free(sdir);
	free(idx);
	free(bak);
	free(truth);
}

static void test_step_point_semantics(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "steps", 0);
	for (int s = 0; s < 10; s++)
		TU_OK(pt_recorder_metric(r, "loss", s, s));
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "note", "after-9"));
	TU_OK(pt_recorder_append(r, ev, NULL)); /* step-less, belongs to step 9 */
	pt_event_free(ev);
	TU_OK(pt_recorder_metric(r, "loss", 10, 10));
	TU_OK(pt_recorder_close(r));
	uint64_t seq;
	char *j = replay_json(f->st, "steps", "step=9", 1, &seq, NULL);
	assert_int_equal(seq, 11); /* metric 9 is seq 10, the note seq 11 */
	assert_non_null(strstr(j, "\"note/after-9\""));
	free(j);
	j = replay_json(f->st, "steps", "step=-5", 1, &seq, NULL);
	assert_int_equal(seq, 0); /* before anything */
	free(j);
	j = replay_json(f->st, "steps", "step=10", 1, &seq, NULL);
	assert_int_equal(seq, 12); /* the last step is the end */
	free(j);
	/* past the end is an error that says where the run ends; "latest" is the end */
	pt_point p;
	pt_replay *rp = NULL;
	const char *beyond[] = {"step=11", "step=1000", "seq=13", "seq=99999"};
	for (size_t i = 0; i < sizeof beyond / sizeof *beyond; i++) {
		TU_OK(pt_point_parse(&p, beyond[i]));
		assert_int_equal(pt_replay_open(&rp, f->st, "steps", &p, NULL), PT_ENOTFOUND);
		assert_null(rp);
		assert_non_null(strstr(pt_error_last(), "past the end"));
		assert_non_null(strstr(pt_error_last(), i < 2 ? "ends at step 10 (seq 12" : "ends at seq 12"));
	}
	j = replay_json(f->st, "steps", "seq=12", 1, &seq, NULL);
	assert_int_equal(seq, 12);
	free(j);
	j = replay_json(f->st, "steps", "latest", 1, &seq, NULL);
	assert_int_equal(seq, 12);
	free(j);
	/* a stream without any step: every step is past its end */
	r = open_rec(f->st, "nosteps", 0);
	TU_OK(pt_event_new(&ev, "note", "n"));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
	TU_OK(pt_recorder_close(r));
	TU_OK(pt_point_parse(&p, "step=0"));
	assert_int_equal(pt_replay_open(&rp, f->st, "nosteps", &p, NULL), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "records no step"));
	assert_int_equal(pt_point_parse(&p, "step=abc"), PT_EINVAL);
	assert_int_equal(pt_point_parse(&p, "epoch=3"), PT_EINVAL);
	assert_int_equal(pt_point_parse(&p, "time=2026-01-01T00:00:00"), PT_EINVAL);
	TU_OK(pt_point_parse(&p, "latest"));
}

static void test_resumed_training_follows_the_new_lineage(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "lin", 200);
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_PARAM, "lr"));
	TU_OK(pt_event_double(ev, "value", 0.1));
	TU_OK(pt_recorder_append(r, ev, NULL));
	for (int s = 0; s <= 800; s++) {
		TU_OK(pt_recorder_metric(r, "loss", 1000 + s, s)); /* old lineage: 1000+s */
		if (s == 650) {
			TU_OK(pt_event_reset(ev, PT_KIND_DECISION, "lr"));
			TU_OK(pt_event_set_step(ev, s));
			TU_OK(pt_event_begin_map(ev, "set"));
			TU_OK(pt_event_double(ev, "lr", 0.01));
			TU_OK(pt_event_end(ev));
			TU_OK(pt_event_str(ev, "reason", "diverging"));
			TU_OK(pt_recorder_append(r, ev, NULL));
		}
	}
	pt_event_free(ev);
	int64_t lineage;
	TU_OK(pt_recorder_resume(r, 500, PT_LINEAGE_LIVE, NULL, &lineage));
	assert_int_equal(lineage, 1);
	for (int s = 501; s <= 700; s++)
		TU_OK(pt_recorder_metric(r, "loss", 2000 + s, s)); /* new lineage: 2000+s */
	TU_OK(pt_recorder_close(r));

	for (int snapshots = 0; snapshots <= 1; snapshots++) {
		pt_point at;
		TU_OK(pt_point_parse(&at, "step=600"));
		pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
		o.use_snapshots = snapshots;
		pt_replay *rp;
		TU_OK(pt_replay_open(&rp, f->st, "lin", &at, &o));
		assert_int_equal(pt_replay_lineage(rp), 1);
		const void *mp;
		size_t len;
		uint64_t seq;
		int64_t step;
		TU_OK(pt_replay_metric(rp, "loss", &mp, &len, &seq, &step));
		assert_int_equal(step, 600);
		assert_memory_equal(mp, "\xcb\x40\xa4\x50\x00\x00\x00\x00\x00", 9); /* 2600.0 */
		/* the abandoned branch's decision at 650 is not in effect on the new lineage */
		TU_OK(pt_replay_param(rp, "lr", &mp, &len, NULL, NULL));
		assert_memory_equal(mp, "\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", 9); /* 0.1 */
		const char *lj;
		TU_OK(pt_replay_lineages_json(rp, &lj));
		assert_non_null(strstr(lj, "\"from_step\":500"));
		pt_replay_free(rp);

		/* the old lineage when asked */
		o.lineage = 0;
		TU_OK(pt_replay_open(&rp, f->st, "lin", &at, &o));
		TU_OK(pt_replay_metric(rp, "loss", &mp, &len, &seq, &step));
		assert_memory_equal(mp, "\xcb\x40\x99\x00\x00\x00\x00\x00\x00", 9); /* 1600.0 */
		pt_replay_free(rp);
		TU_OK(pt_point_parse(&at, "step=700"));
		o.lineage = 0;
		TU_OK(pt_replay_open(&rp, f->st, "lin", &at, &o));
		TU_OK(pt_replay_param(rp, "lr", &mp, &len, NULL, NULL));
		assert_memory_equal(mp, "\xcb\x3f\x84\x7a\xe1\x47\xae\x14\x7b", 9); /* 0.01 on the old branch */
		pt_replay_free(rp);
		/* before the fork, both lineages agree */
		char *a = replay_json(f->st, "lin", "step=400", snapshots, NULL, NULL);
		o.lineage = 0;
		TU_OK(pt_point_parse(&at, "step=400"));
		TU_OK(pt_replay_open(&rp, f->st, "lin", &at, &o));
		const char *b;
		TU_OK(pt_replay_state_json(rp, &b, NULL));
		assert_string_equal(a, b);
		free(a);
		pt_replay_free(rp);
		o.lineage = 7;
		assert_int_equal(pt_replay_open(&rp, f->st, "lin", &at, &o), PT_ENOTFOUND);
	}
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

/*
 * Record steps 0..299 with a checkpoint at step 50 (synchronous) and one at
 * step 100: synchronous (`slow` false), or taken asynchronously with a
 * tensor large enough that its persistence - and so its event - completes
 * only many steps later; then 50 more steps (*nsteps: steps in all, given
 * for the synchronous run).  Returns the number of steps logged between
 * taking the step-100 checkpoint and its completion.
 */
static int record_with_checkpoints(pt_store *st, const char *run, bool slow, int *nsteps)
{
	pt_recorder *r = open_rec(st, run, 64);
	pt_checkpointer *cw;
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	co.threads = 1;
	co.zstd_level = 6; /* slow on purpose */
	TU_OK(pt_checkpointer_open(&cw, st, r, &co));
	const size_t nw = (48u << 20) / sizeof(float);
	float *w = malloc(nw * sizeof *w);
	assert_non_null(w);
	uint32_t x = 12345;
	for (size_t i = 0; i < nw; i++) {
		x = x * 1103515245u + 12345u;
		w[i] = (float)(x >> 8) / 65536.0f;
	}
	float small[4] = {1, 2, 3, 4};
	int during = 0;
	bool pending = false;
	int end = slow ? 150 : *nsteps;
	for (int s = 0; s < end || pending; s++) {
		TU_OK(pt_recorder_metric(r, "loss", 1000.0 - s, s));
		if (s == 50 || s == 100) {
			pt_checkpoint *ck;
			TU_OK(pt_checkpoint_new(&ck));
			uint64_t shape1[] = {4}, shape2[] = {nw};
			if (s == 50)
				TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape1, small, sizeof small));
			else
				TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape2, w, nw * sizeof *w));
			if (slow && s == 100) {
				TU_OK(pt_checkpointer_snapshot(cw, ck, s, NULL));
				pending = true;
			} else {
				TU_OK(pt_checkpointer_write(cw, ck, s, NULL));
			}
			pt_checkpoint_free(ck);
		} else if (pending) {
			pt_checkpoint_status cs;
			TU_OK(pt_checkpointer_status(cw, &cs));
			if (cs.completed == 2) {
				pending = false;
				end = s + 50;
			} else {
				during++;
			}
			usleep(2000); /* a training step takes time */
		}
	}
	TU_OK(pt_checkpointer_close(cw));
	TU_OK(pt_recorder_close(r));
	free(w);
	if (slow)
		*nsteps = end;
	return during;
}

/*
 * Replay must not depend on timing: the checkpoint in effect at step N is
 * the newest taken at a step <= N that was committed, wherever its event
 * landed in the log (an async checkpoint's event is appended when its
 * persistence completes).  Under load, step=114 gave step 50's checkpoint.
 */
static void test_async_checkpoints_replay_like_synchronous_ones(void **state)
{
	fixture *f = *state;
	int nsteps = 0;
	int during = record_with_checkpoints(f->st, "slow", true, &nsteps);
	record_with_checkpoints(f->st, "fast", false, &nsteps);
	print_message("async checkpoint of step 100 committed after %d more steps\n", during);
	/* the event really was logged late: after the metric of step 100 + during */
	uint64_t ckseq = 0;
	{
		pt_iter *it;
		pt_iter_options o = PT_ITER_OPTIONS_INIT;
		o.kind = PT_KIND_CHECKPOINT;
		TU_OK(pt_iter_open(&it, f->st, "slow", NULL, &o));
		const pt_event_view *v;
		while (pt_iter_next(it, &v) == 0)
			if (pt_ev_step(v) == 100)
				ckseq = pt_ev_seq(v);
		pt_iter_free(it);
	}
	assert_true(during >= 5);
	assert_true(ckseq > 101 + 5 + 1); /* 101 metrics + the step-50 checkpoint + later steps */
	int64_t steps[] = {49, 50, 99, 100, 101, 100 + during / 2, 100 + during, 100 + during + 1, nsteps - 1};
	for (int snap = 0; snap <= 1; snap++) {
		for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
			char pt[32], ma[65] = "", mb[65] = "";
			snprintf(pt, sizeof pt, "step=%lld", (long long)steps[i]);
			pt_point at;
			TU_OK(pt_point_parse(&at, pt));
			pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
			o.use_snapshots = snap;
			pt_replay *ra, *rb;
			TU_OK(pt_replay_open(&ra, f->st, "slow", &at, &o));
			TU_OK(pt_replay_open(&rb, f->st, "fast", &at, &o));
			int64_t sa = PT_NO_STEP, sb = PT_NO_STEP;
			int ca = pt_replay_checkpoint(ra, ma, NULL, &sa), cb = pt_replay_checkpoint(rb, mb, NULL, &sb);
			if (ca != cb || sa != sb || strcmp(ma, mb))
				fail_msg("%s (snapshots %d): checkpoint of step %lld (%s) with slow persistence, step %lld (%s) with instant",
					 pt, snap, (long long)sa, ma, (long long)sb, mb);
			assert_int_equal(sa, steps[i] < 50 ? PT_NO_STEP : steps[i] < 100 ? 50 : 100);
			/* the position itself is where step N's events end, as before */
			assert_int_equal(pt_replay_step(ra), steps[i]);
			assert_int_equal(pt_replay_step(rb), steps[i]);
			const void *mp;
			size_t len;
			int64_t ms;
			TU_OK(pt_replay_metric(ra, "loss", &mp, &len, NULL, &ms));
			assert_int_equal(ms, steps[i]);
			pt_replay_free(ra);
			pt_replay_free(rb);
		}
	}
	/* seq points are positions in the log: before its event, the checkpoint was not committed yet */
	pt_point at = {PT_AT_SEQ, (int64_t)ckseq - 1};
	pt_replay *rp;
	TU_OK(pt_replay_open(&rp, f->st, "slow", &at, NULL));
	int64_t cs;
	TU_OK(pt_replay_checkpoint(rp, NULL, NULL, &cs));
	assert_int_equal(cs, 50);
	pt_replay_free(rp);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

/*
 * An async checkpoint taken at step 100 whose persistence completes after
 * step 110, and training then resumes from step 110 (a new lineage): the
 * checkpoint was taken on the shared past, so it is in effect on the new
 * lineage too, although its event sits in the abandoned tail of lineage 0.
 */
static void test_async_checkpoint_before_a_fork_is_on_the_new_lineage(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "fork", 0);
	pt_checkpointer *cw;
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	co.threads = 1;
	co.zstd_level = 6;
	TU_OK(pt_checkpointer_open(&cw, f->st, r, &co));
	const size_t nw = (32u << 20) / sizeof(float);
	float *w = malloc(nw * sizeof *w);
	assert_non_null(w);
	uint32_t x = 777;
	for (size_t i = 0; i < nw; i++) {
		x = x * 1103515245u + 12345u;
		w[i] = (float)(x >> 8) / 65536.0f;
	}
	float small[4] = {1, 2, 3, 4};
	uint64_t shape1[] = {4}, shape2[] = {nw};
	pt_checkpoint *ck;
	TU_OK(pt_checkpoint_new(&ck));
	int s = 0, done_at = 0;
	for (;; s++) {
		TU_OK(pt_recorder_metric(r, "loss", 1000 + s, s));
		if (s == 50) {
			TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape1, small, sizeof small));
			TU_OK(pt_checkpointer_write(cw, ck, s, NULL));
			pt_checkpoint_clear(ck);
		} else if (s == 100) {
			TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape2, w, nw * sizeof *w));
			TU_OK(pt_checkpointer_snapshot(cw, ck, s, NULL));
			pt_checkpoint_clear(ck);
		} else if (s > 100 && !done_at) {
			pt_checkpoint_status cs;
			TU_OK(pt_checkpointer_status(cw, &cs));
			if (cs.completed == 2)
				done_at = s;
			usleep(2000);
		}
		if (done_at && s >= 120 && s >= done_at)
			break;
	}
	print_message("checkpoint of step 100 committed during step %d\n", done_at);
	assert_true(done_at > 111); /* logged after the fork point */
	int64_t lin;
	TU_OK(pt_recorder_resume(r, 110, 0, NULL, &lin));
	assert_int_equal(lin, 1);
	for (int t = 111; t <= 130; t++)
		TU_OK(pt_recorder_metric(r, "loss", 2000 + t, t));
	pt_checkpoint_free(ck);
	TU_OK(pt_checkpointer_close(cw));
	TU_OK(pt_recorder_close(r));
	free(w);
	struct {
		int64_t step, lineage, ck;
	} cases[] = {
		{49, PT_LINEAGE_LIVE, PT_NO_STEP}, {99, PT_LINEAGE_LIVE, 50}, {100, PT_LINEAGE_LIVE, 100},
		{105, PT_LINEAGE_LIVE, 100}, {110, PT_LINEAGE_LIVE, 100}, {111, PT_LINEAGE_LIVE, 100},
		{130, PT_LINEAGE_LIVE, 100}, {105, 0, 100}, {115, 0, 100},
	};
	for (int snap = 0; snap <= 1; snap++)
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
			pt_point at = {PT_AT_STEP, cases[i].step};
			pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
			o.use_snapshots = snap;
			o.lineage = cases[i].lineage;
			pt_replay *rp;
			TU_OK(pt_replay_open(&rp, f->st, "fork", &at, &o));
			int64_t cs = PT_NO_STEP, ms;
			const void *mp;
			size_t len;
			pt_replay_checkpoint(rp, NULL, NULL, &cs);
			TU_OK(pt_replay_metric(rp, "loss", &mp, &len, NULL, &ms));
			if (cs != cases[i].ck || ms != cases[i].step)
				fail_msg("step=%lld lineage %lld: checkpoint of step %lld (expected %lld), loss of step %lld",
					 (long long)cases[i].step, (long long)cases[i].lineage, (long long)cs,
					 (long long)cases[i].ck, (long long)ms);
			pt_replay_free(rp);
		}
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

/* A stream directory copied by hand (here while its writer is live, so the
 * open segment is copied too) is refused by readers, replay and verify. */
static void test_a_copied_stream_is_refused(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "z", 0);
	for (int s = 0; s < 30000; s++)
		TU_OK(pt_recorder_metric(r, "loss", s % 7, s));
	TU_OK(pt_recorder_flush(r));
	/* one more batch, so that an open segment exists whatever the last seal did */
	TU_OK(pt_recorder_metric(r, "loss", 0, 30000));
	TU_OK(pt_recorder_flush(r));
	size_t nsealed;
	char **sealed = tu_sealed(f->st, "z", NULL, &nsealed);
	assert_true(nsealed >= 1);
	for (size_t i = 0; i < nsealed; i++)
		free(sealed[i]);
	free(sealed);
	char *src = tu_path(pt_store_path(f->st), "runs/z"), *dst = tu_path(pt_store_path(f->st), "runs/zz");
	assert_int_equal(tu_copy_tree(src, dst), 0);
	/* the copy's open segment alone (as if nothing had been sealed yet) */
	char *dst2 = tu_path(pt_store_path(f->st), "runs/zo");
	assert_int_equal(tu_copy_tree(dst, dst2), 0);
	char cmd[9000];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/main/segments' '%s/main/chain'", dst2, dst2);
	assert_int_equal(tu_run(cmd), 0);
	const char *copies[] = {"zz", "zo"};
	for (size_t k = 0; k < 2; k++) {
		pt_iter *it;
		const pt_event_view *v;
		TU_OK(pt_iter_open(&it, f->st, copies[k], NULL, NULL));
		int rc = pt_iter_next(it, &v);
		if (rc != PT_ECORRUPT)
			fail_msg("%s: %d %s", copies[k], rc, pt_error_last());
		assert_non_null(strstr(pt_error_last(), "belongs to run \"z\" stream \"main\" but is stored as run"));
		pt_iter_free(it);
		pt_replay *rp = NULL;
		assert_int_equal(pt_replay_open(&rp, f->st, copies[k], NULL, NULL), PT_ECORRUPT);
		assert_null(rp);
		/* nor is it appended to as if it were that stream */
		pt_recorder *w = NULL;
		int wr = pt_recorder_open(&w, f->st, copies[k], NULL, NULL);
		if (wr != PT_ECORRUPT)
			fail_msg("recorder on %s: %d %s", copies[k], wr, pt_error_last());
		assert_non_null(strstr(pt_error_last(), "belongs to run \"z\" stream \"main\" but is stored as run"));
		assert_null(w);
	}
	char first[512];
	assert_true(tu_verify_errors(f->st, first, sizeof first) >= 2);
	assert_non_null(strstr(first, "runs/z"));
	TU_OK(pt_recorder_close(r));
	TU_OK(pt_verify(f->st, "z", NULL, NULL, NULL, NULL));
	free(src);
	free(dst);
	free(dst2);
}

static void test_time_points_use_the_running_maximum(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "clock", 0);
	pt_event *ev;
	TU_OK(pt_event_new(&ev, PT_KIND_METRIC, "m"));
	/* times: 10, 20, 30, then the clock steps back to 15, 25, 35 */
	int64_t times[] = {10, 20, 30, 15, 25, 35};
	for (int i = 0; i < 6; i++) {
		TU_OK(pt_event_reset(ev, PT_KIND_METRIC, "m"));
		TU_OK(pt_event_set_time(ev, times[i] * 1000000000LL));
		TU_OK(pt_event_set_step(ev, i));
		TU_OK(pt_event_double(ev, "value", i));
		TU_OK(pt_recorder_append(r, ev, NULL));
	}
	pt_event_free(ev);
	TU_OK(pt_recorder_close(r));
	struct {
		const char *at;
		uint64_t seq;
	} cases[] = {
		{"time=1970-01-01T00:00:05Z", 0}, {"time=1970-01-01T00:00:10Z", 1}, {"time=1970-01-01T00:00:29Z", 2},
		/* 15 and 25 come after 30: the running max is 30 until 35 */
		{"time=1970-01-01T00:00:30Z", 5}, {"time=1970-01-01T00:00:34Z", 5}, {"time=1970-01-01T00:00:35Z", 6},
		{"time=1970-01-01T01:00:00+01:00", 0}, {"time=2100-01-01T00:00:00Z", 6},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t seq;
		char *j = replay_json(f->st, "clock", cases[i].at, 1, &seq, NULL);
		if (seq != cases[i].seq)
			fail_msg("%s: seq %llu, expected %llu", cases[i].at, (unsigned long long)seq, (unsigned long long)cases[i].seq);
		free(j);
	}
}

static void test_walk_forward_and_backward(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "walk", 100);
	record_run(r, 400, 3, 0, 0);
	TU_OK(pt_recorder_close(r));
	pt_point at;
	TU_OK(pt_point_parse(&at, "seq=100"));
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.track_changes = 1;
	pt_replay *rp;
	TU_OK(pt_replay_open(&rp, f->st, "walk", &at, &o));
	for (int k = 0; k < 50; k++) {
		const pt_event_view *v;
		TU_OK(pt_replay_forward(rp, &v));
		assert_int_equal(pt_replay_seq(rp) >= pt_ev_seq(v) - 1, 1);
		const char *ch;
		TU_OK(pt_replay_changes_json(rp, &ch));
		assert_true(ch[0] == '[');
		if (!strcmp(pt_ev_kind(v), "metric"))
			assert_non_null(strstr(ch, "\"metric\""));
	}
	uint64_t here = pt_replay_seq(rp);
	const char *j;
	TU_OK(pt_replay_state_json(rp, &j, NULL));
	char *walked = strdup(j);
	char pt[64];
	snprintf(pt, sizeof pt, "seq=%llu", (unsigned long long)here);
	char *direct = replay_json(f->st, "walk", pt, 1, NULL, NULL);
	assert_string_equal(walked, direct);
	free(direct);
	/* back 10, then forward 10: the same state again */
	for (int k = 0; k < 10; k++)
		TU_OK(pt_replay_backward(rp));
	for (int k = 0; k < 10; k++)
		TU_OK(pt_replay_forward(rp, NULL));
	TU_OK(pt_replay_state_json(rp, &j, NULL));
	assert_string_equal(walked, j);
	free(walked);
	while (pt_replay_forward(rp, NULL) == 0)
		;
	pt_stream_info si;
	TU_OK(pt_stream_stat(f->st, "walk", NULL, &si));
	assert_true(pt_replay_seq(rp) + 5 >= si.seq_last); /* only snapshot events may follow */
	pt_replay_free(rp);
	TU_OK(pt_point_parse(&at, "seq=0"));
	TU_OK(pt_replay_open(&rp, f->st, "walk", &at, NULL));
	assert_int_equal(pt_replay_backward(rp), PT_ITEROVER);
	pt_replay_free(rp);
}

static void test_diff_names_only_tensors_whose_bytes_changed(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "ck", 0);
	pt_checkpointer *cw;
	TU_OK(pt_checkpointer_open(&cw, f->st, r, NULL));
	float w[256], same[256];
	for (int i = 0; i < 256; i++)
		w[i] = same[i] = (float)i / 7;
	uint64_t shape[1] = {256};
	for (int round = 0; round < 2; round++) {
		if (round)
			w[3] += 1; /* only w changes; the small tensors share a packed chunk */
		pt_checkpoint *ck;
		TU_OK(pt_checkpoint_new(&ck));
		TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
		TU_OK(pt_checkpoint_add_tensor(ck, "same", PT_DTYPE_F32, 1, shape, same, sizeof same));
		TU_OK(pt_checkpoint_add_bytes(ck, "blob", "unchanged bytes", 15));
		TU_OK(pt_recorder_metric(r, "loss", round, round * 10));
		TU_OK(pt_checkpointer_write(cw, ck, round * 10, NULL));
		pt_checkpoint_free(ck);
	}
	TU_OK(pt_checkpointer_close(cw));
	TU_OK(pt_recorder_close(r));
	pt_point a, b;
	TU_OK(pt_point_parse(&a, "step=0"));
	TU_OK(pt_point_parse(&b, "step=10"));
	pt_replay *ra, *rb;
	TU_OK(pt_replay_open(&ra, f->st, "ck", &a, NULL));
	TU_OK(pt_replay_open(&rb, f->st, "ck", &b, NULL));
	char *d;
	TU_OK(pt_replay_diff_json(ra, rb, &d));
	assert_non_null(strstr(d, "\"changed\":[\"w\"],\"removed\":[]"));
	pt_free(d);
	pt_replay_free(ra);
	pt_replay_free(rb);
}

static int count_notes(void *ctx, const pt_event_view *v)
{
	(void)v;
	(*(int *)ctx)++;
	return 0;
}

static void test_custom_fold_and_diff(void **state)
{
	fixture *f = *state;
	pt_recorder *r = open_rec(f->st, "diff", 100);
	record_run(r, 1000, 11, 0, 0);
	TU_OK(pt_recorder_close(r));
	pt_point a, b;
	TU_OK(pt_point_parse(&a, "step=100"));
	TU_OK(pt_point_parse(&b, "step=900"));
	pt_replay *ra, *rb;
	TU_OK(pt_replay_open(&ra, f->st, "diff", &a, NULL));
	TU_OK(pt_replay_open(&rb, f->st, "diff", &b, NULL));
	char *d;
	TU_OK(pt_replay_diff_json(ra, rb, &d));
	assert_non_null(strstr(d, "\"metrics\":{"));
	assert_non_null(strstr(d, "\"loss\":{\"old\":"));
	assert_non_null(strstr(d, "\"delta\":"));
	assert_non_null(strstr(d, "\"decisions\":["));
	pt_free(d);
	int notes = 0;
	TU_OK(pt_replay_fold_kind(rb, "note", count_notes, &notes));
	assert_true(notes > 0);
	int before = notes;
	while (pt_replay_forward(rb, NULL) == 0)
		;
	assert_true(notes >= before);
	assert_int_equal(pt_replay_backward(rb), PT_EINVAL);
	pt_replay_free(ra);
	pt_replay_free(rb);
}

static void test_close_snapshots_a_long_tail_only(void **state)
{
	fixture *f = *state;
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT; /* snapshot_every 32768 */
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "long", NULL, &o));
	for (int s = 0; s < 10000; s++)
		TU_OK(pt_recorder_metric(r, "loss", s, s));
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "long", NULL, "snapshot"), 1);
	uint64_t folded;
	char *j = replay_json(f->st, "long", "latest", 1, NULL, &folded);
	assert_true(folded <= 1);
	free(j);
	TU_OK(pt_recorder_open(&r, f->st, "short", NULL, &o));
	for (int s = 0; s < 100; s++)
		TU_OK(pt_recorder_metric(r, "loss", s, s));
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "short", NULL, "snapshot"), 0);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

static void test_recorder_restart_continues_snapshots(void **state)
{
	fixture *f = *state;
	for (int round = 0; round < 3; round++) {
		pt_recorder *r = open_rec(f->st, "restart", 300);
		record_run(r, 500, 20 + round, round * 500, 0);
		TU_OK(pt_recorder_close(r));
	}
	char *with = replay_json(f->st, "restart", "latest", 1, NULL, NULL);
	char *without = replay_json(f->st, "restart", "latest", 0, NULL, NULL);
	assert_string_equal(with, without);
	free(with);
	free(without);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fold_matches_brute_force_at_random_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_snapshots_are_never_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_point_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resumed_training_follows_the_new_lineage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_checkpoints_replay_like_synchronous_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_checkpoint_before_a_fork_is_on_the_new_lineage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_copied_stream_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_points_use_the_running_maximum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_forward_and_backward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_fold_and_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_names_only_tensors_whose_bytes_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_snapshots_a_long_tail_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recorder_restart_continues_snapshots, setup, teardown),
	};
	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
