/*
 * test_reserved.c - kinds the library interprets are written only through
 * their own APIs, and object references are read only from those kinds.
 *
 * Before: `emit` and pt_recorder_append took {"kind":"checkpoint",
 * "manifest":"<64 hex>"} (gc then refused forever, verify failed forever) and
 * an innocent {"kind":"dataset","objects":[...]} pinned objects.  Stores
 * written before the fix may hold such events: gc and verify must not be
 * stuck by them, while a genuine checkpoint whose manifest is gone stays
 * damage.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "testutil.h"
#include "base/base_int.h"
#include "checkpoint/checkpoint_int.h"
#include "format/objects_int.h"
#include "provtrace/artifact.h"

typedef tu_fixture fixture;

static const char *const reserved[] = {"checkpoint", "snapshot", "lineage", "recovery", "code", "artifact",
				       "dataset"};
static const char *const allowed[] = {"param", "metric", "decision", "env", "note", "run_start", "run_end",
				      "datasets", "artifacts", "checkpoints", "codex"};

static void appending_a_reserved_kind_is_refused(void **state)
{
	fixture *f = *state;
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, NULL));
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "note", NULL));
	const uint8_t body[] = {0x81, 0xa1, 'x', 0x01}; /* {"x": 1} */
	for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
		TU_OK(pt_event_reset(ev, reserved[i], NULL));
		TU_OK(pt_event_int(ev, "x", 1));
		assert_int_equal(pt_event_check_appendable(ev), PT_EINVAL);
		assert_int_equal(pt_recorder_append(r, ev, NULL), PT_EINVAL);
		assert_non_null(strstr(pt_error_last(), reserved[i]));
		assert_non_null(strstr(pt_error_last(), "reserved"));
		assert_int_equal(pt_recorder_append_msgpack(r, reserved[i], NULL, PT_NO_STEP, body, sizeof body, NULL),
				 PT_EINVAL);
		assert_non_null(strstr(pt_error_last(), reserved[i]));
	}
	/* the message says which API writes it */
	TU_OK(pt_event_reset(ev, "checkpoint", NULL));
	assert_int_equal(pt_recorder_append(r, ev, NULL), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "pt_checkpointer_write"));
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
		TU_OK(pt_event_reset(ev, allowed[i], NULL));
		TU_OK(pt_event_int(ev, "x", 1));
		TU_OK(pt_event_check_appendable(ev));
		TU_OK(pt_recorder_append(r, ev, NULL));
		TU_OK(pt_recorder_append_msgpack(r, allowed[i], NULL, PT_NO_STEP, body, sizeof body, NULL));
	}
	pt_event_free(ev);
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "r", NULL, NULL), 2 * (sizeof allowed / sizeof *allowed));
	/* the library's own writers still write them: a checkpoint and a lineage */
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, NULL));
	pt_checkpointer *cw;
	pt_checkpoint *ck;
	float w[64] = {1.0f};
	uint64_t shape[1] = {64};
	TU_OK(pt_checkpointer_open(&cw, f->st, r, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
	TU_OK(pt_checkpointer_write(cw, ck, 7, NULL));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	TU_OK(pt_recorder_resume(r, 3, PT_LINEAGE_LIVE, NULL, NULL));
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "r", NULL, "checkpoint"), 1);
	assert_int_equal(tu_count(f->st, "r", NULL, "lineage"), 1);
}

/* An event appended as an old store would hold it (the library's internal path). */
static void append_raw(pt_store *st, const char *run, const char *kind, const char *key, const char *hex, bool array)
{
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, st, run, NULL, NULL));
	pt_event *ev;
	TU_OK(pt_event_new(&ev, kind, NULL));
	if (array) {
		TU_OK(pt_event_begin_array(ev, key));
		TU_OK(pt_event_str(ev, NULL, hex));
		TU_OK(pt_event_end(ev));
	} else {
		TU_OK(pt_event_str(ev, key, hex));
	}
	TU_OK(pt__recorder_append_own(r, ev, NULL));
	pt_event_free(ev);
	TU_OK(pt_recorder_close(r));
}

static int count_cb(const pt_problem *p, void *payload)
{
	int *n = payload;
	n[p->severity == PT_SEVERITY_ERROR ? 0 : 1]++;
	return 0;
}

static void forged_events_do_not_stick_gc_or_verify(void **state)
{
	fixture *f = *state;
	/* a forged checkpoint naming a manifest that does not exist */
	char missing[65];
	memset(missing, 'a', 64);
	missing[64] = 0;
	append_raw(f->st, "old", "checkpoint", "manifest", missing, false);
	/* an innocent user event with an `objects` array naming a stored object */
	uint8_t id[32];
	const char data[] = "an object nothing the library wrote refers to";
	TU_OK(pt__object_put(f->st, data, sizeof data, id));
	char hex[65];
	pt__hex(id, 32, hex);
	append_raw(f->st, "old", "dataset", "objects", hex, true);
	/* age the object past gc's grace period */
	char *p = pt__object_path(f->st, id);
	struct utimbuf ut = {time(NULL) - 86400, time(NULL) - 86400};
	assert_int_equal(utime(p, &ut), 0);

	/* verify: no error; the forged checkpoint event is a warning naming it */
	int n[2] = {0, 0};
	pt_checkpoint_verify_stats vs;
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, count_cb, n, &vs));
	assert_int_equal(n[0], 0);
	assert_int_equal(n[1], 1);
	pt_verify_stats s;
	int m[2] = {0, 0};
	TU_OK(pt_verify(f->st, NULL, NULL, count_cb, m, &s));
	assert_int_equal(m[0], 0);
	/* gc: not refused, and the dataset's object is not a reference */
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	pt_gc_stats gs;
	TU_OK(pt_gc(f->st, &go, &gs));
	assert_int_equal(gs.garbage_objects, 1);
	assert_int_equal(tu_file_size(p), -1);
	/* the checkpoint reader does not offer the forged event as a checkpoint */
	pt_checkpoint_info ci;
	assert_int_equal(pt_checkpoint_find(&ci, f->st, "old", NULL, INT64_MAX), PT_ENOTFOUND);
	free(p);
}

/* pt_artifact_*: the library writes the reserved kind; gc keeps its parts, verify checks them. */
static void artifacts_are_kept_by_gc_and_checked_by_verify(void **state)
{
	fixture *f = *state;
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "a", NULL, NULL));
	size_t n = PT_ARTIFACT_PART + 1000;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 24);
	char *path = tu_path(f->dir, "art.bin");
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
	pt_artifact_info ai, bi;
	TU_OK(pt_artifact_file(r, "a1", path, 5, &ai));
	assert_int_equal(ai.size, n);
	assert_int_equal(ai.parts, 2);
	uint8_t want[32];
	char hex[65];
	pt__sha256(buf, n, want);
	pt__hex(want, 32, hex);
	assert_string_equal(ai.sha256, hex);
	TU_OK(pt_artifact_bytes(r, "a2", buf, n, PT_NO_STEP, &bi));
	assert_string_equal(bi.sha256, hex);
	assert_int_equal(bi.seq, ai.seq + 1);
	/* failures: nothing appended */
	char *gone = tu_path(f->dir, "gone.bin");
	assert_int_equal(pt_artifact_file(r, "x", gone, PT_NO_STEP, NULL), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "gone.bin"));
	assert_int_equal(pt_artifact_file(r, "", path, PT_NO_STEP, NULL), PT_EINVAL);
	assert_int_equal(pt_artifact_bytes(r, "x", NULL, 3, PT_NO_STEP, NULL), PT_EINVAL);
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "a", NULL, "artifact"), 2);
	/* age every object past the grace period: gc keeps the parts */
	uint8_t id[32];
	pt__sha256(buf, PT_ARTIFACT_PART, id);
	char *p = pt__object_path(f->st, id);
	struct utimbuf ut = {time(NULL) - 86400, time(NULL) - 86400};
	assert_int_equal(utime(p, &ut), 0);
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	pt_gc_stats gs;
	TU_OK(pt_gc(f->st, &go, &gs));
	assert_int_equal(gs.garbage_objects, 0);
	assert_true(tu_file_size(p) > 0);
	int cnt[2] = {0, 0};
	pt_checkpoint_verify_stats vs;
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, count_cb, cnt, &vs));
	assert_int_equal(cnt[0], 0);
	/* a lost part is an error of verify */
	assert_int_equal(unlink(p), 0);
	cnt[0] = cnt[1] = 0;
	assert_true(pt_checkpoint_verify_store(f->st, NULL, count_cb, cnt, &vs) != 0 || cnt[0] > 0);
	assert_true(cnt[0] > 0);
	free(p);
	free(gone);
	free(path);
	free(buf);
}

static void genuine_checkpoint_without_manifest_is_still_damage(void **state)
{
	fixture *f = *state;
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "g", NULL, NULL));
	pt_checkpointer *cw;
	pt_checkpoint *ck;
	float w[64] = {2.0f};
	uint64_t shape[1] = {64};
	pt_checkpoint_info info;
	TU_OK(pt_checkpointer_open(&cw, f->st, r, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
	TU_OK(pt_checkpointer_write(cw, ck, 1, &info));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	TU_OK(pt_recorder_close(r));
	uint8_t mid[32];
	assert_int_equal(pt__unhex(info.manifest, mid, 32), 0);
	TU_OK(pt__object_remove(f->st, mid));
	int n[2] = {0, 0};
	pt_checkpoint_verify_stats vs;
	assert_int_equal(pt_checkpoint_verify_store(f->st, NULL, count_cb, n, &vs), PT_ECORRUPT);
	assert_true(n[0] >= 1);
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	pt_gc_stats gs;
	assert_int_not_equal(pt_gc(f->st, &go, &gs), 0); /* gc refuses: a live checkpoint lost its manifest */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(appending_a_reserved_kind_is_refused, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(forged_events_do_not_stick_gc_or_verify, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(artifacts_are_kept_by_gc_and_checked_by_verify, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(genuine_checkpoint_without_manifest_is_still_damage, tu_setup,
						tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
