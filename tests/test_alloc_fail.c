/*
 * test_alloc_fail.c - out-of-memory torture (curl's torture mode, SQLite's
 * OOM tests): each API scenario runs with its 1st, 2nd, ... Nth allocation
 * failing, until it runs to the end without reaching N.  Each failure must
 * be a clean error (a negative code with a message; PT_ENOMEM or an error
 * saying it ran out of memory - never PT_ECORRUPT, which would blame the
 * store), nothing may leak (live allocations counted by the allocator come
 * back to where they were; ASan checks the rest with detect_leaks=1), and
 * the store must still verify afterwards.
 *
 * The failing allocator is installed with pt_set_allocator() (alloc.h), so
 * this is also the test of the replaceable allocator.  PT_ALLOC_VERBOSE=1
 * prints every injected failure and its error; PT_ALLOC_ONLY=<scenario>
 * runs one scenario.
 */
#include "testutil.h"

#include "provtrace/alloc.h"
#include "provtrace/checkpoint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long n_calls;   /* allocations so far in this attempt */
static atomic_long fail_at;   /* 0: never fail */
static atomic_long n_failed;  /* failures injected in this attempt */
static atomic_long live;      /* blocks allocated and not freed */
static int verbose;

static void *t_malloc(size_t n, void *ctx)
{
	(void)ctx;
	long k = atomic_fetch_add(&n_calls, 1) + 1;
	if (k == atomic_load(&fail_at)) {
		atomic_fetch_add(&n_failed, 1);
		return NULL;
	}
	void *p = malloc(n);
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

static void *t_realloc(void *p, size_t n, void *ctx)
{
	(void)ctx;
	long k = atomic_fetch_add(&n_calls, 1) + 1;
	if (k == atomic_load(&fail_at)) {
		atomic_fetch_add(&n_failed, 1);
		return NULL;
	}
	void *q = realloc(p, n);
	if (q && !p)
		atomic_fetch_add(&live, 1);
	return q;
}

static void t_free(void *p, void *ctx)
{
	(void)ctx;
	atomic_fetch_sub(&live, 1);
	free(p);
}

typedef struct {
	char *dir;
	pt_store *st;
	int attempt;       /* distinct names per attempt where a scenario needs them */
	char *base_copy;   /* a store with a sealed and an open segment (see setup) */
	char *scratch;     /* a fresh copy of base_copy for each attempt of a writing scenario */
} world;

typedef int (*scenario_fn)(world *w);

/* ---- scenarios: each returns 0 or the first error, and frees everything ---- */

static int sc_store_open(world *w)
{
	pt_store *st = NULL;
	int rc = pt_store_open(&st, pt_store_path(w->st));
	pt_store_free(st);
	return rc;
}

static int sc_store_init(world *w)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/new-%d", w->dir, w->attempt);
	pt_store *st = NULL;
	int rc = pt_store_init(&st, p);
	pt_store_free(st);
	if (rc == 0) {
		/* a store that claims success must open */
		pt_store *again = NULL;
		atomic_store(&fail_at, 0);
		assert_int_equal(pt_store_open(&again, p), 0);
		pt_store_free(again);
	}
	return rc;
}

static int record_some(pt_recorder *rec)
{
	pt_event *ev = NULL;
	int rc = pt_event_new(&ev, "decision", "lr");
	if (!rc)
		rc = pt_event_set_step(ev, 7);
	if (!rc)
		rc = pt_event_begin_map(ev, "set");
	if (!rc)
		rc = pt_event_double(ev, "lr", 1e-4);
	if (!rc)
		rc = pt_event_end(ev);
	if (!rc)
		rc = pt_event_str(ev, "reason", "plateau");
	for (int i = 0; !rc && i < 5; i++)
		rc = pt_recorder_append(rec, ev, NULL);
	for (int i = 0; !rc && i < 20; i++)
		rc = pt_recorder_metric(rec, "loss", 1.0 / (i + 1), i);
	pt_event_free(ev);
	return rc;
}

/* Writing scenarios work on a fresh copy of a store whose stream "rec" has a
 * sealed segment and an open one (as a crashed or running writer leaves it):
 * every attempt takes the reopen path and costs the same. */
static void prepare_scratch(world *w)
{
	if (tu_copy_tree(w->base_copy, w->scratch))
		fail_msg("cannot copy %s", w->base_copy);
}

static int sc_record(world *w)
{
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.batch_max_events = 8; /* several batches */
	o.durability = PT_DURABILITY_FSYNC;
	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	int rc = pt_store_open(&st, w->scratch);
	if (!rc)
		rc = pt_recorder_open(&rec, st, "rec", NULL, &o);
	if (!rc)
		rc = record_some(rec);
	if (!rc)
		rc = pt_recorder_flush(rec);
	int crc = pt_recorder_close(rec);
	pt_store_free(st);
	return rc ? rc : crc;
}

static int sc_iterate(world *w)
{
	pt_iter *it = NULL;
	int rc = pt_iter_open(&it, w->st, "base", NULL, NULL);
	const pt_event_view *ev;
	uint64_t n = 0;
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		const char *js;
		size_t jl;
		rc = pt_ev_json(ev, &js, &jl);
		n++;
	}
	pt_iter_free(it);
	if (rc == PT_ITEROVER) {
		assert_int_equal(n, 25);
		rc = 0;
	}
	return rc;
}

static int sc_stat(world *w)
{
	pt_stream_info si;
	int rc = pt_stream_stat(w->st, "base", NULL, &si);
	if (!rc)
		assert_int_equal(si.events, 25);
	return rc;
}

static int sc_verify(world *w)
{
	pt_verify_stats vs;
	return pt_verify(w->st, NULL, NULL, NULL, NULL, &vs);
}

static int sc_emit_json(world *w)
{
	(void)w;
	static const char line[] =
		"{\"kind\":\"decision\",\"name\":\"lr\",\"step\":12,\"time\":\"2026-11-26T08:00:00.5Z\","
		"\"set\":{\"lr\":0.0005,\"tags\":[\"a\",\"b\",{\"deep\":[1,2,3]}]},\"reason\":\"plateau\","
		"\"blob\":{\"$bytes\":\"AAECAw==\"},\"nan\":{\"$float\":\"NaN\"}}";
	pt_event *ev = NULL;
	int rc = pt_event_new(&ev, "note", NULL);
	if (!rc)
		rc = pt_event_from_json(ev, line, sizeof line - 1);
	pt_event_free(ev);
	return rc;
}

static int sc_checkpoint(world *w)
{
	static float t[4096];
	for (size_t i = 0; i < 4096; i++)
		t[i] = (float)i * 0.5f;
	uint64_t shape[2] = {64, 64};
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	co.threads = 1; /* one worker: a more repeatable allocation order */
	co.chunk_size = 64u << 10;
	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	pt_checkpointer *cw = NULL;
	pt_checkpoint *ck = NULL;
	pt_checkpoint_reader *rd = NULL;
	pt_checkpoint_info info;
	int rc = pt_store_open(&st, w->scratch);
	if (!rc)
		rc = pt_recorder_open(&rec, st, "rec", NULL, NULL);
	if (!rc)
		rc = pt_checkpointer_open(&cw, st, rec, &co);
	if (!rc)
		rc = pt_checkpoint_new(&ck);
	if (!rc)
		rc = pt_checkpoint_add_tensor(ck, "layer.w", PT_DTYPE_F32, 2, shape, t, sizeof t);
	if (!rc)
		rc = pt_checkpoint_add_bytes(ck, "opt", "optimizer state", 15);
	if (!rc)
		rc = pt_checkpointer_write(cw, ck, w->attempt, &info);
	int crc = pt_checkpointer_close(cw);
	if (!rc)
		rc = crc;
	crc = pt_recorder_close(rec);
	if (!rc)
		rc = crc;
	if (!rc)
		rc = pt_checkpoint_reader_open(&rd, st, info.manifest);
	static float back[4096];
	if (!rc)
		rc = pt_checkpoint_reader_read(rd, 0, back, sizeof back);
	if (!rc)
		assert_memory_equal(back, t, sizeof t);
	pt_checkpoint_reader_free(rd);
	pt_checkpoint_free(ck);
	pt_store_free(st);
	return rc;
}

/* ---- the torture loop ------------------------------------------------------------ */

static int store_errors(const pt_problem *p, void *payload)
{
	if (p->severity == PT_SEVERITY_ERROR) {
		fprintf(stderr, "  verify: %s @%llu: %s\n", p->object, (unsigned long long)p->offset, p->message);
		(*(int *)payload)++;
	}
	return 0;
}

static int unlisted_only(const pt_problem *p, void *payload)
{
	int *c = payload; /* [0] errors, [1] unlisted sealed segments */
	if (p->severity == PT_SEVERITY_ERROR) {
		c[0]++;
		c[1] += strstr(p->message, "not part of the stream's chain") != NULL;
	}
	return 0;
}

static long repaired_seals;

static void verify_store_at(const char *path, const char *name, long n)
{
	pt_store *st = NULL;
	TU_OK(pt_store_open(&st, path));
	int errs = 0;
	pt_verify_stats vs;
	/* A failure between renaming a sealed segment and rewriting the chain
	 * leaves what a crash there leaves (verify: an unlisted segment, the
	 * same bytes as a stale chain head); the next writer adopts it.  That,
	 * and only that, is repaired by reopening before verifying again. */
	int c[2] = {0, 0};
	if (pt_verify(st, NULL, NULL, unlisted_only, c, &vs) && c[0] && c[0] == c[1]) {
		pt_recorder *rec = NULL;
		TU_OK(pt_recorder_open(&rec, st, "rec", NULL, NULL));
		pt_recorder_free(rec);
		repaired_seals++;
	}
	int vrc = pt_verify(st, NULL, NULL, store_errors, &errs, &vs);
	if (vrc || errs)
		fail_msg("%s: after allocation %ld failed the store does not verify: %s", name, n, pt_error_last());
	pt_checkpoint_verify_stats cs;
	vrc = pt_checkpoint_verify_store(st, NULL, store_errors, &errs, &cs);
	if (vrc || errs)
		fail_msg("%s: after allocation %ld failed the checkpoints do not verify: %s", name, n,
			 pt_error_last());
	pt_store_free(st);
}

static void torture(world *w, const char *name, void (*prepare)(world *), scenario_fn fn)
{
	const char *only = getenv("PT_ALLOC_ONLY");
	if (only && *only && strcmp(only, name))
		skip();
	/* one clean run first: warms per-thread caches (zstd contexts) so that
	 * the live-block count is comparable between attempts */
	w->attempt = 0;
	atomic_store(&fail_at, 0);
	if (prepare)
		prepare(w);
	int rc = fn(w);
	if (rc)
		fail_msg("%s: fails without injected failures: %s", name, pt_error_last());
	long failures = 0, enomem = 0, other = 0;
	repaired_seals = 0;
	long n;
	for (n = 1; n < 200000; n++) {
		if (prepare)
			prepare(w);
		long base = atomic_load(&live);
		w->attempt = (int)n;
		atomic_store(&n_calls, 0);
		atomic_store(&n_failed, 0);
		atomic_store(&fail_at, n);
		pt_free(NULL);
		rc = fn(w);
		long calls = atomic_load(&n_calls), injected = atomic_load(&n_failed);
		atomic_store(&fail_at, 0);
		if (injected == 0) {
			/* the scenario ran to its end below N allocations: done */
			if (rc)
				fail_msg("%s: fails with no injected failure (attempt %ld): %s", name, n,
					 pt_error_last());
			break;
		}
		if (rc) {
			failures++;
			const char *msg = pt_error_last();
			if (verbose)
				printf("  %s: allocation %ld/%ld failed -> %s: %s\n", name, n, calls,
				       pt_error_name(rc), msg);
			if (!msg[0])
				fail_msg("%s: allocation %ld: error %s without a message", name, n, pt_error_name(rc));
			if (rc == PT_ECORRUPT)
				fail_msg("%s: allocation %ld: out of memory reported as damage: %s", name, n, msg);
			if (rc == PT_ENOMEM || strstr(msg, "memory"))
				enomem++;
			else
				other++, printf("  %s: allocation %ld -> %s: %s\n", name, n, pt_error_name(rc), msg);
		}
		long now = atomic_load(&live);
		if (now != base)
			fail_msg("%s: allocation %ld failed: %ld block(s) leaked (%s)", name, n, now - base,
				 rc ? pt_error_last() : "call succeeded");
		/* the store is still valid */
		verify_store_at(prepare ? w->scratch : pt_store_path(w->st), name, n);
	}
	printf("%-12s %6ld allocations, %6ld injected failures -> %ld errors (%ld out-of-memory, %ld other), "
	       "0 leaks, store verifies (%ld after a writer adopted an interrupted seal)\n", name, n - 1, n - 1,
	       failures, enomem, other, repaired_seals);
	assert_int_equal(other, 0);
}

static world *W;

static int setup(void **state)
{
	(void)state;
	W = calloc(1, sizeof *W);
	W->dir = tu_tmpdir();
	W->st = tu_store(W->dir);
	/* a stream to read: 25 events */
	pt_recorder *rec = NULL;
	TU_OK(pt_recorder_open(&rec, W->st, "base", NULL, NULL));
	TU_OK(record_some(rec));
	TU_OK(pt_recorder_close(rec));
	/* the base of the writing scenarios: a sealed segment, then an open
	 * segment copied while its writer is still running */
	W->base_copy = tu_path(W->dir, "base-copy");
	W->scratch = tu_path(W->dir, "scratch");
	pt_store *st = NULL;
	char *p = tu_path(W->dir, "base-store");
	TU_OK(pt_store_init(&st, p));
	TU_OK(pt_recorder_open(&rec, st, "rec", NULL, NULL));
	TU_OK(record_some(rec));
	TU_OK(pt_recorder_close(rec));
	TU_OK(pt_recorder_open(&rec, st, "rec", NULL, NULL));
	TU_OK(record_some(rec));
	TU_OK(pt_recorder_flush(rec));
	if (tu_copy_tree(p, W->base_copy))
		fail_msg("cannot copy the base store");
	TU_OK(pt_recorder_close(rec));
	pt_store_free(st);
	free(p);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&fail_at, 0);
	pt_store_free(W->st);
	tu_rmrf(W->dir);
	free(W->dir);
	free(W->base_copy);
	free(W->scratch);
	free(W);
	return 0;
}

static void test_allocator_rejects_bad_tables(void **state)
{
	(void)state;
	pt_allocator a = {PT_ALLOCATOR_VERSION + 1, t_malloc, t_realloc, t_free, NULL};
	assert_int_equal(pt_set_allocator(&a), PT_EINVAL);
	a.version = PT_ALLOCATOR_VERSION;
	a.free = NULL;
	assert_int_equal(pt_set_allocator(&a), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "required"));
}

static void test_allocator_sees_every_allocation(void **state)
{
	(void)state;
	/* something the library allocates for the caller comes from our allocator */
	long before = atomic_load(&live);
	char **runs = NULL;
	size_t n = 0;
	TU_OK(pt_store_runs(W->st, &runs, &n));
	assert_true(n >= 1);
	assert_true(atomic_load(&live) > before);
	pt_strv_free(runs, n);
	assert_int_equal(atomic_load(&live), before);
}

static void test_oom_store_open(void **s) { (void)s; torture(W, "store_open", NULL, sc_store_open); }
static void test_oom_store_init(void **s) { (void)s; torture(W, "store_init", NULL, sc_store_init); }
static void test_oom_record(void **s) { (void)s; torture(W, "record", prepare_scratch, sc_record); }
static void test_oom_iterate(void **s) { (void)s; torture(W, "iterate", NULL, sc_iterate); }
static void test_oom_stat(void **s) { (void)s; torture(W, "stat", NULL, sc_stat); }
static void test_oom_verify(void **s) { (void)s; torture(W, "verify", NULL, sc_verify); }
static void test_oom_emit_json(void **s) { (void)s; torture(W, "emit_json", NULL, sc_emit_json); }
static void test_oom_checkpoint(void **s) { (void)s; torture(W, "checkpoint", prepare_scratch, sc_checkpoint); }

int main(void)
{
	verbose = getenv("PT_ALLOC_VERBOSE") && atoi(getenv("PT_ALLOC_VERBOSE"));
	pt_allocator a = {PT_ALLOCATOR_VERSION, t_malloc, t_realloc, t_free, NULL};
	/* before any other library call, as alloc.h requires */
	if (pt_set_allocator(&a)) {
		fprintf(stderr, "pt_set_allocator: %s\n", pt_error_last());
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocator_rejects_bad_tables),
		cmocka_unit_test(test_allocator_sees_every_allocation),
		cmocka_unit_test(test_oom_store_open),
		cmocka_unit_test(test_oom_store_init),
		cmocka_unit_test(test_oom_emit_json),
		cmocka_unit_test(test_oom_iterate),
		cmocka_unit_test(test_oom_stat),
		cmocka_unit_test(test_oom_verify),
		cmocka_unit_test(test_oom_record),
		cmocka_unit_test(test_oom_checkpoint),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
