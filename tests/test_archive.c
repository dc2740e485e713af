/* test_archive.c - archive plans, the job, reading archived history, retention, restore. */
#include "testutil.h"

#include "archive/archive_int.h"
#include "checkpoint/checkpoint_int.h"
#include "provtrace/archive.h"
#include "provtrace/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS 1000000000LL
#define DAY (86400 * NS)

typedef struct {
	char *dir, *vault;
	pt_store *st;
	int64_t t0; /* a midnight, UTC, a while ago */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	f->dir = tu_tmpdir();
	f->st = tu_store(f->dir);
	f->vault = tu_path(f->dir, "vault");
	f->t0 = (pt_time_now_ns() / DAY - 30) * DAY;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	pt_store_free(f->st);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->vault);
	free(f);
	return 0;
}

/* `segs` sealed segments of `per` events each; event times start at `t` and step 1 s. */
static void record(fixture *f, const char *run, int segs, int per, int64_t t, int with_checkpoint)
{
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, run, NULL, NULL));
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "metric", "loss"));
	for (int s = 0; s < segs; s++) {
		for (int i = 0; i < per; i++) {
			TU_OK(pt_event_reset(ev, "metric", "loss"));
			TU_OK(pt_event_set_step(ev, s * per + i));
			TU_OK(pt_event_set_time(ev, t + (int64_t)(s * per + i) * NS));
			TU_OK(pt_event_double(ev, "value", 1.0 / (1 + s * per + i)));
			TU_OK(pt_recorder_append(rec, ev, NULL));
		}
		if (with_checkpoint && s == 0) {
			pt_checkpointer *cw;
			pt_checkpoint *ck;
			float w[5000];
			for (int k = 0; k < 5000; k++)
				w[k] = (float)k * 0.5f;
			uint64_t shape[1] = {5000};
			TU_OK(pt_checkpointer_open(&cw, f->st, rec, NULL));
			TU_OK(pt_checkpoint_new(&ck));
			TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
			TU_OK(pt_checkpointer_write(cw, ck, per, NULL));
			TU_OK(pt_checkpointer_close(cw));
			pt_checkpoint_free(ck);
		}
		TU_OK(pt_recorder_seal(rec));
	}
	pt_event_free(ev);
	TU_OK(pt_recorder_close(rec));
}

/* Every stored byte of every event of run/main, concatenated. */
static char *dump(pt_store *st, const char *run, size_t *len)
{
	pt_iter *it;
	char *buf = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&buf, &n);
	TU_OK(pt_iter_open(&it, st, run, NULL, NULL));
	const pt_event_view *ev;
	int rc;
	while ((rc = pt_iter_next(it, &ev)) == 0) {
		const void *p;
		size_t l;
		TU_OK(pt_ev_msgpack(ev, &p, &l));
		fwrite(p, 1, l, m);
	}
	assert_int_equal(rc, PT_ITEROVER);
	pt_iter_free(it);
	fclose(m);
	*len = n;
	return buf;
}

static void add_plan(fixture *f, const char *name, const char *sched, int64_t delete_after, uint32_t keep_last)
{
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = name;
	p.schedule = sched;
	p.vault = f->vault;
	p.delete_after = delete_after;
	p.keep_last = keep_last;
	const char *tags[] = {"team=ml", "env=test"};
	p.tags = tags;
	p.ntags = 2;
	TU_OK(pt_archive_plan_add(f->st, &p));
}

static void print_report(const char *line, void *payload)
{
	(void)payload;
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "  job: %s\n", line);
}

static int run_at(fixture *f, const char *plan, int64_t now, int force)
{
	pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
	o.report = print_report;
	o.now = now;
	o.plan = plan;
	o.force = force;
	return pt_archive_run(f->st, &o);
}

static size_t catalog_size(fixture *f, size_t *deleted)
{
	pt_archive_info *v;
	size_t n, d = 0;
	TU_OK(pt_archive_list(&v, &n, f->st));
	for (size_t i = 0; i < n; i++)
		d += v[i].deleted != 0;
	pt_archive_list_free(v, n);
	if (deleted)
		*deleted = d;
	return n;
}

/* The id of the first sealed segment of run/main. */
static void first_segment(fixture *f, const char *run, uint8_t id[32])
{
	size_t n;
	char **segs = tu_sealed(f->st, run, "main", &n);
	assert_true(n > 0);
	char hex[65];
	memcpy(hex, strrchr(segs[0], '/') + 1, 64);
	hex[64] = 0;
	assert_int_equal(pt__unhex(hex, id, 32), 0);
	pt_strv_free(segs, n);
}

static void archived_history_reads_like_before(void **state)
{
	fixture *f = *state;
	record(f, "r1", 4, 300, f->t0, 1);
	size_t l1, l2;
	char *before = dump(f->st, "r1", &l1);
	size_t n0;
	char **segs0 = tu_sealed(f->st, "r1", "main", &n0);
	assert_int_equal(n0, 4);
	pt_strv_free(segs0, n0);

	add_plan(f, "nightly", "0 2 * * *", 0, 0);
	int64_t now = pt_time_now_ns() + 3 * DAY;
	TU_OK(run_at(f, "nightly", now, 1));
	assert_int_equal(catalog_size(f, NULL), 1);
	char **segs = tu_sealed(f->st, "r1", "main", &n0);
	assert_int_equal(n0, 0); /* the sources left the hot store */
	pt_strv_free(segs, n0);

	char *after = dump(f->st, "r1", &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(before, after, l1);
	free(after);
	/* time travel into the middle of the archived history */
	pt_iter *it;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.step_min = io.step_max = 777;
	TU_OK(pt_iter_open(&it, f->st, "r1", NULL, &io));
	const pt_event_view *ev;
	TU_OK(pt_iter_next(it, &ev));
	assert_int_equal(pt_ev_step(ev), 777);
	pt_iter_free(it);
	/* verify reads the members inside the tar */
	char obj[300];
	assert_int_equal(tu_verify_errors(f->st, obj, sizeof obj), 0);
	TU_OK(pt_archive_verify(f->st, NULL, NULL, NULL, NULL, NULL));
	/* the checkpoint still loads (its chunks stay hot; copies are in the archive) */
	pt_checkpoint_info ci;
	TU_OK(pt_checkpoint_find(&ci, f->st, "r1", NULL, INT64_MAX));
	/* the stream stays writable: the recorder accepts archived segments */
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, "r1", NULL, NULL));
	pt_event *e;
	TU_OK(pt_event_new(&e, "note", "after"));
	uint64_t seq;
	TU_OK(pt_recorder_append(rec, e, &seq));
	assert_int_equal(seq, 4 * 300 + 2); /* 1200 metrics + 1 checkpoint event */
	pt_event_free(e);
	TU_OK(pt_recorder_close(rec));

	/* restore into a new store: same events, same checkpoint */
	pt_archive_info *v;
	size_t n;
	TU_OK(pt_archive_list(&v, &n, f->st));
	assert_int_equal(v[0].segments, 4);
	assert_true(v[0].objects >= 2); /* manifest + chunk(s) */
	char *other = tu_path(f->dir, "other");
	pt_restore_stats rs;
	TU_OK(pt_archive_restore(v[0].path, other, NULL, &rs));
	assert_int_equal(rs.streams_relinked, 1);
	assert_int_equal(rs.written, rs.members);
	pt_store *st2;
	TU_OK(pt_store_open(&st2, other));
	char *restored = dump(st2, "r1", &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(before, restored, l1);
	free(restored);
	pt_checkpoint_info c2;
	TU_OK(pt_checkpoint_find(&c2, st2, "r1", NULL, INT64_MAX));
	assert_string_equal(ci.manifest, c2.manifest);
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, st2, c2.manifest));
	float w[5000];
	TU_OK(pt_checkpoint_reader_read(rd, 0, w, sizeof w));
	assert_true(w[4999] == 4999 * 0.5f);
	pt_checkpoint_reader_free(rd);
	/* restoring twice is harmless */
	TU_OK(pt_archive_restore(v[0].path, other, NULL, &rs));
	assert_int_equal(rs.written, 0);
	assert_int_equal(rs.already_present, rs.members);
	assert_int_equal(tu_verify_errors(st2, obj, sizeof obj), 0);
	pt_store_free(st2);
	pt_archive_list_free(v, n);
	free(other);
	free(before);
}

static uint64_t archive_events(fixture *f, const char *kind)
{
	return tu_count(f->st, PT_ARCHIVE_RUN, PT_ARCHIVE_STREAM, kind);
}

static void missed_windows_catch_up_once_and_expire(void **state)
{
	fixture *f = *state;
	record(f, "r1", 2, 100, f->t0, 0);
	/* the plan is created "now" = t0 + 1 day, 00:30 */
	char iso[48];
	setenv("PROVTRACE_NOW", pt_time_format(f->t0 + DAY + 30 * 60 * NS, iso, sizeof iso), 1);
	add_plan(f, "daily", "0 2 * * *", 0, 0);
	unsetenv("PROVTRACE_NOW");
	/* the machine was off for three windows; the job runs at 05:00 of the third:
	 * inside the 8 h start window of the latest one */
	int64_t now = f->t0 + 3 * DAY + 5 * 3600 * NS;
	TU_OK(run_at(f, NULL, now, 0));
	assert_int_equal(catalog_size(f, NULL), 1);
	assert_int_equal(archive_events(f, "archive"), 1);
	assert_int_equal(archive_events(f, "archive_expired"), 1); /* the two older windows, one record */
	/* again, later in the same window: nothing (idempotent) */
	TU_OK(run_at(f, NULL, now + 3600 * NS, 0));
	assert_int_equal(catalog_size(f, NULL), 1);
	assert_int_equal(archive_events(f, "archive"), 1);
	/* new history; the next window is missed entirely (job runs 11 h after it) */
	record(f, "r2", 1, 50, f->t0 + 3 * DAY + 6 * 3600 * NS, 0);
	TU_OK(run_at(f, NULL, f->t0 + 4 * DAY + 13 * 3600 * NS, 0));
	assert_int_equal(catalog_size(f, NULL), 1);
	assert_int_equal(archive_events(f, "archive_expired"), 2);
	/* the one after that runs on time and takes r2 */
	TU_OK(run_at(f, NULL, f->t0 + 5 * DAY + 2 * 3600 * NS + 60 * NS, 0));
	assert_int_equal(catalog_size(f, NULL), 2);
	assert_int_equal(archive_events(f, "archive"), 2);
	char *plans;
	TU_OK(pt_archive_plans_json(&plans, f->st));
	assert_non_null(strstr(plans, "\"last_result\":\"archived "));
	pt_free(plans);
}

static void a_second_job_is_refused_while_one_runs(void **state)
{
	fixture *f = *state;
	add_plan(f, "p", "0 2 * * *", 0, 0);
	int fd;
	TU_OK(pt__archive_lock(f->st, 0, &fd));
	assert_int_equal(run_at(f, NULL, 0, 0), PT_ELOCKED);
	assert_non_null(strstr(pt_error_last(), "another archive job is running (pid="));
	assert_int_equal(pt_archive_prune(f->st, 0, 0, NULL, NULL), PT_ELOCKED);
	pt__archive_unlock(fd);
	TU_OK(run_at(f, NULL, 0, 0));
}

static void dry_run_changes_nothing(void **state)
{
	fixture *f = *state;
	record(f, "r1", 2, 10, f->t0, 0);
	add_plan(f, "p", "0 2 * * *", 0, 0);
	pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
	o.force = 1;
	o.plan = "p";
	o.dry_run = 1;
	TU_OK(pt_archive_run(f->st, &o));
	assert_int_equal(catalog_size(f, NULL), 0);
	size_t n;
	char **s = tu_sealed(f->st, "r1", "main", &n);
	assert_int_equal(n, 2);
	pt_strv_free(s, n);
	assert_false(pt__exists(f->vault) && tu_file_size(f->vault) > 4096);
}

static void retention_keeps_last_and_held_and_records_deletions(void **state)
{
	fixture *f = *state;
	add_plan(f, "p", "0 2 * * *", 10 * 86400, 1);
	int64_t now = pt_time_now_ns();
	for (int i = 0; i < 3; i++) {
		record(f, i == 0 ? "a" : i == 1 ? "b" : "c", 1, 20, f->t0 + i * NS, 0);
		TU_OK(run_at(f, "p", now + (int64_t)i * DAY, 1));
	}
	assert_int_equal(catalog_size(f, NULL), 3);
	pt_archive_info *v;
	size_t n;
	TU_OK(pt_archive_list(&v, &n, f->st));
	TU_OK(pt_archive_hold(f->st, v[1].sha256, 1));
	/* 20 days later: the oldest is deleted; the middle one is held; the newest is kept-last */
	TU_OK(pt_archive_prune(f->st, now + 20 * DAY, 0, NULL, NULL));
	size_t deleted;
	assert_int_equal(catalog_size(f, &deleted), 3);
	assert_int_equal(deleted, 1);
	assert_false(pt__exists(v[0].path));
	assert_true(pt__exists(v[1].path));
	assert_int_equal(archive_events(f, "archive_delete"), 1);
	assert_int_equal(archive_events(f, "archive_hold"), 1);
	/* run a's history is gone: a clear error, and verify warns instead of failing */
	pt_iter *it;
	const pt_event_view *ev;
	TU_OK(pt_iter_open(&it, f->st, "a", NULL, NULL));
	assert_int_equal(pt_iter_next(it, &ev), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "retention deleted"));
	pt_iter_free(it);
	char obj[300];
	assert_int_equal(tu_verify_errors(f->st, obj, sizeof obj), 0);
	/* released, the held one goes at the next prune */
	TU_OK(pt_archive_hold(f->st, v[1].sha256, 0));
	TU_OK(pt_archive_prune(f->st, now + 20 * DAY, 0, NULL, NULL));
	assert_int_equal(catalog_size(f, &deleted), 3);
	assert_int_equal(deleted, 2);
	assert_true(pt__exists(v[2].path));
	pt_archive_list_free(v, n);
}

static void tampering_with_an_archive_is_detected(void **state)
{
	fixture *f = *state;
	record(f, "r1", 2, 200, f->t0, 0);
	uint8_t id[32];
	first_segment(f, "r1", id);
	add_plan(f, "p", "0 2 * * *", 0, 0);
	TU_OK(run_at(f, "p", 0, 1));
	pt_archive_info *v;
	size_t n;
	TU_OK(pt_archive_list(&v, &n, f->st));
	TU_OK(pt_archive_verify(f->st, v[0].sha256, NULL, NULL, NULL, NULL));
	int fd;
	uint64_t off, size;
	TU_OK(pt__vault_open_segment(f->st, "r1", "main", id, &fd, &off, &size));
	close(fd);
	tu_flip_byte(v[0].path, (long)(off + size / 2)); /* inside a segment member */
	assert_int_equal(pt_archive_verify(f->st, v[0].sha256, NULL, NULL, NULL, NULL), PT_ECORRUPT);
	char obj[300];
	assert_true(tu_verify_errors(f->st, obj, sizeof obj) > 0);
	/* reading that history fails with a checksum error instead of returning bad events */
	pt_iter *it;
	const pt_event_view *ev;
	int rc;
	TU_OK(pt_iter_open(&it, f->st, "r1", NULL, NULL));
	while ((rc = pt_iter_next(it, &ev)) == 0)
		;
	assert_int_equal(rc, PT_ECORRUPT);
	pt_iter_free(it);
	/* a vault moved away: a clear error naming where the archive was expected */
	char *moved = tu_path(f->dir, "moved.tar");
	assert_int_equal(rename(v[0].path, moved), 0);
	TU_OK(pt_iter_open(&it, f->st, "r1", NULL, NULL));
	assert_int_equal(pt_iter_next(it, &ev), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "which is missing (vault moved or deleted?)"));
	pt_iter_free(it);
	assert_true(tu_verify_errors(f->st, obj, sizeof obj) > 0);
	assert_int_equal(pt_archive_verify(f->st, NULL, NULL, NULL, NULL, NULL), PT_ECORRUPT);
	free(moved);
	pt_archive_list_free(v, n);
}

static void bad_plans_are_rejected(void **state)
{
	fixture *f = *state;
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = "x";
	p.vault = f->vault;
	p.schedule = "0 25 * * *";
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "column 3"));
	p.schedule = "0 2 * * *";
	p.timezone = "Nowhere/Atlantis";
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	p.timezone = NULL;
	p.name = "../evil";
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	p.name = "x";
	char *inside = tu_path(pt_store_path(f->st), "vault");
	p.vault = inside;
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	free(inside);
	p.vault = f->vault;
	const char *bad[] = {"novalue"};
	p.tags = bad;
	p.ntags = 1;
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	p.ntags = 0;
	TU_OK(pt_archive_plan_add(f->st, &p));
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EEXISTS);
	TU_OK(pt_archive_plan_remove(f->st, "x"));
	assert_int_equal(pt_archive_plan_remove(f->st, "x"), PT_ENOTFOUND);
	/* a damaged plans file is refused, not half read */
	char *plans = tu_path(pt_store_path(f->st), "archive/plans");
	TU_OK(pt_archive_plan_add(f->st, &p));
	tu_flip_byte(plans, 40);
	char *json;
	assert_int_equal(pt_archive_plans_json(&json, f->st), PT_ECORRUPT);
	free(plans);
}

static void reader_hook_gives_the_member_range(void **state)
{
	fixture *f = *state;
	record(f, "r1", 1, 50, f->t0, 0);
	uint8_t id[32];
	first_segment(f, "r1", id);
	int fd;
	uint64_t off, size;
	assert_int_equal(pt__vault_open_segment(f->st, "r1", "main", id, &fd, &off, &size), PT_ENOTFOUND);
	add_plan(f, "p", "0 2 * * *", 0, 0);
	TU_OK(run_at(f, "p", 0, 1));
	TU_OK(pt__vault_open_segment(f->st, "r1", "main", id, &fd, &off, &size));
	uint8_t got[32];
	TU_OK(pt__sha256_range(fd, off, size, got));
	assert_memory_equal(got, id, 32);
	close(fd);
	assert_int_equal(pt__vault_open_segment(f->st, "r1", "other", id, &fd, &off, &size), PT_ECORRUPT);
}

/* issue 11 item 11: a refused vault inside the store leaves nothing behind (no phantom run) */
static void a_vault_inside_the_store_is_refused_before_anything_is_created(void **state)
{
	fixture *f = *state;
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = "x";
	p.schedule = "0 2 * * *";
	char *runs_vault = tu_path(pt_store_path(f->st), "runs/phantom/deeper");
	char *runs_dir = tu_path(pt_store_path(f->st), "runs/phantom");
	p.vault = runs_vault;
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "inside the store"));
	struct stat sb;
	assert_int_not_equal(stat(runs_dir, &sb), 0);
	char **runs;
	size_t n;
	TU_OK(pt_store_runs(f->st, &runs, &n));
	assert_int_equal(n, 0);
	pt_strv_free(runs, n);
	/* through a relative path with ".." and a symlink to the store */
	char *link = tu_path(f->dir, "link");
	assert_int_equal(symlink(pt_store_path(f->st), link), 0);
	char *via = tu_path(f->dir, "link/runs/nothere/../phantom2");
	char *p2 = tu_path(pt_store_path(f->st), "runs/phantom2");
	p.vault = via;
	assert_int_equal(pt_archive_plan_add(f->st, &p), PT_EINVAL);
	assert_int_not_equal(stat(p2, &sb), 0);
	/* a vault outside is created */
	p.vault = f->vault;
	TU_OK(pt_archive_plan_add(f->st, &p));
	assert_int_equal(stat(f->vault, &sb), 0);
	free(runs_vault);
	free(runs_dir);
	free(link);
	free(via);
	free(p2);
}

/* A writer that dies: `n` events flushed at times from `t`, then (torn) junk appended, no close. */
static void crash_writer(fixture *f, const char *run, int n, int64_t t, int torn)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pt_recorder *rec;
		pt_event *ev;
		if (pt_recorder_open(&rec, f->st, run, NULL, NULL) || pt_event_new(&ev, "metric", "loss"))
			_exit(3);
		for (int i = 0; i < n; i++)
			if (pt_event_reset(ev, "metric", "loss") || pt_event_set_step(ev, i) ||
			    pt_event_set_time(ev, t + (int64_t)i * NS) || pt_event_double(ev, "value", i) ||
			    pt_recorder_append(rec, ev, NULL))
				_exit(4);
		if (pt_recorder_flush(rec))
			_exit(5);
		if (torn) {
			char path[1200];
			snprintf(path, sizeof path, "%s/runs/%s/main/open.ptseg", pt_store_path(f->st), run);
			int fd = open(path, O_WRONLY | O_APPEND);
			if (fd < 0 || write(fd, "PTBAtorn-batch-header-junk", 26) != 26)
				_exit(6);
			close(fd);
		}
		_exit(0); /* no close: the writer "crashed"; the kernel drops its lock */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* issue 11 item 3: crashed streams are sealed (recovered as the writer would) and archived */
static void crashed_streams_are_sealed_and_archived(void **state)
{
	fixture *f = *state;
	crash_writer(f, "crashed", 40, f->t0, 1);
	crash_writer(f, "clean-crash", 10, f->t0, 0);
	char *open_path = tu_path(pt_store_path(f->st), "runs/crashed/main/open.ptseg");
	struct stat sb;
	assert_int_equal(stat(open_path, &sb), 0);
	/* a live writer's stream is skipped, and that is not an error */
	pt_recorder *live;
	TU_OK(pt_recorder_open(&live, f->st, "live", NULL, NULL));
	TU_OK(pt_recorder_metric(live, "loss", 1.0, 1));
	TU_OK(pt_recorder_flush(live));
	pt_seal_report *rep;
	TU_OK(pt_store_seal(f->st, "live", NULL, &rep));
	assert_int_equal(rep->n, 1);
	assert_int_equal(rep->v[0].result, PT_SEAL_LOCKED);
	assert_non_null(strstr(rep->v[0].message, "being written"));
	pt_seal_report_free(rep);
	/* the crashed ones: sealed by the archive job, the recovery recorded, then archived */
	add_plan(f, "p", "0 2 * * *", 0, 0);
	/* (the recovery event is new history, written now: a window after it archives it) */
	TU_OK(run_at(f, "p", pt_time_now_ns() + 2 * DAY, 1)); /* min-age 1d */
	assert_int_not_equal(stat(open_path, &sb), 0);
	size_t n;
	char **segs = tu_sealed(f->st, "crashed", "main", &n);
	assert_int_equal(n, 0); /* archived: it left the hot store */
	pt_strv_free(segs, n);
	assert_int_equal(tu_count(f->st, "crashed", "main", "metric"), 40);
	assert_int_equal(tu_count(f->st, "crashed", "main", "recovery"), 1);
	assert_int_equal(tu_count(f->st, "clean-crash", "main", "metric"), 10);
	assert_int_equal(tu_count(f->st, "clean-crash", "main", "recovery"), 0);
	pt_stream_info si;
	TU_OK(pt_stream_stat(f->st, "crashed", "main", &si));
	/* recovery seals the crashed writer's segment as its close would have; the
	 * recovery event goes into the next one, which the seal closes */
	assert_int_equal(si.sealed_segments, 2);
	assert_int_equal(si.torn_bytes, 0);
	/* the live stream kept its writer and its open segment */
	TU_OK(pt_recorder_metric(live, "loss", 2.0, 2));
	TU_OK(pt_recorder_close(live));
	/* sealing again: nothing to do; a stream that does not exist is an error */
	TU_OK(pt_store_seal(f->st, NULL, NULL, &rep));
	for (size_t i = 0; i < rep->n; i++)
		assert_int_not_equal(rep->v[i].result, PT_SEAL_SEALED);
	pt_seal_report_free(rep);
	assert_int_equal(pt_store_seal(f->st, "crashed", "nope", NULL), PT_ENOTFOUND);
	assert_int_equal(pt_store_seal(f->st, NULL, "main", NULL), PT_EINVAL);
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
	free(open_path);
}

/* A checkpoint of tensors "w" (k * 0.5, shared) and "v" (seeded) in run/main at step 1; its manifest. */
static void checkpoint_run(fixture *f, const char *run, float seed, pt_recorder **keep, char manifest[65])
{
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, run, NULL, NULL));
	TU_OK(pt_recorder_metric(rec, "loss", 1.0, 1));
	pt_checkpointer *cw;
	pt_checkpoint *ck;
	/* over 1 MiB each: chunks of their own (smaller entries are packed together) */
	static float w[300000], v[300000];
	for (int k = 0; k < 300000; k++)
		w[k] = (float)(k % 5000) * 0.5f;
	for (int k = 0; k < 300000; k++)
		v[k] = seed + (float)(k % 977) * 0.25f;
	uint64_t sw[1] = {300000}, sv[1] = {300000};
	TU_OK(pt_checkpointer_open(&cw, f->st, rec, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, sw, w, sizeof w));
	TU_OK(pt_checkpoint_add_tensor(ck, "v", PT_DTYPE_F32, 1, sv, v, sizeof v));
	pt_checkpoint_info ci;
	TU_OK(pt_checkpointer_write(cw, ck, 1, &ci));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	memcpy(manifest, ci.manifest, 65);
	if (keep) {
		TU_OK(pt_recorder_flush(rec));
		*keep = rec; /* a live writer: its open segment is hot history */
	} else {
		TU_OK(pt_recorder_close(rec));
	}
}

/* A finished run holding one dataset whose contents are stored (pt_dataset_record, store=1). */
static void dataset_run(fixture *f, const char *run, char content[65])
{
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, run, NULL, NULL));
	static uint8_t x[2000000];
	for (size_t k = 0; k < sizeof x; k++)
		x[k] = (uint8_t)(k * 2654435761u >> 24);
	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_bytes(ds, "x", x, sizeof x));
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.store = 1;
	pt_dataset_info info;
	TU_OK(pt_dataset_record(rec, "train", NULL, ds, 0, &o, &info));
	pt_dataset_free(ds);
	TU_OK(pt_recorder_close(rec));
	memcpy(content, info.content, 65);
}

static int hot_object(fixture *f, const char *hex)
{
	char rel[100];
	snprintf(rel, sizeof rel, "objects/%.2s/%s", hex, hex + 2);
	char *p = tu_path(pt_store_path(f->st), rel);
	struct stat sb;
	int r = stat(p, &sb) == 0;
	free(p);
	return r;
}

static void read_v(pt_store *st, const char *manifest, float want0)
{
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, st, manifest));
	size_t idx;
	TU_OK(pt_checkpoint_reader_find(rd, "v", &idx));
	static float v[300000];
	TU_OK(pt_checkpoint_reader_read(rd, idx, v, sizeof v));
	assert_true(v[0] == want0 && v[976] == want0 + 976 * 0.25f);
	pt_checkpoint_reader_free(rd);
}

/*
 * issue 11 item 4: objects referenced only by archived history leave the hot store with
 * it; objects hot history still references stay; readers, verify and gc find the
 * archived ones in the vault; retention brings them back before deleting the archive.
 */
static void archived_objects_leave_the_hot_store_and_stay_readable(void **state)
{
	fixture *f = *state;
	char old_m[65], new_m[65];
	pt_recorder *live;
	checkpoint_run(f, "old", 1.0f, NULL, old_m);
	checkpoint_run(f, "new", 2.0f, &live, new_m);
	assert_string_not_equal(old_m, new_m);
	char ds_content[65];
	dataset_run(f, "ds", ds_content); /* a stored dataset's contents travel with its run */
	/* both checkpoints share the chunk(s) of "w"; "v" and the manifests differ */
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = "p";
	p.schedule = "0 2 * * *";
	p.vault = f->vault;
	p.min_age = 0;
	p.delete_after = 10 * 86400;
	TU_OK(pt_archive_plan_add(f->st, &p));
	/* run "new" is still being written: its open segment stays hot */
	TU_OK(run_at(f, "p", 0, 1));
	assert_false(hot_object(f, old_m)); /* only archived history references it: it left */
	assert_false(hot_object(f, ds_content));
	assert_true(hot_object(f, new_m));
	/* the shared chunk stays: the hot run references it */
	uint8_t mid[32];
	TU_OK(pt__unhex(new_m, mid, 32));
	pt__manifest m;
	TU_OK(pt__manifest_load(&m, f->st, mid));
	int shared = 0;
	for (uint32_t i = 0; i < m.count; i++)
		if (!strcmp(m.e[i].name, "w")) {
			char hex[65];
			pt__hex(m.e[i].ext[0].id, 32, hex);
			assert_true(hot_object(f, hex));
			shared++;
		}
	assert_int_equal(shared, 1);
	pt__manifest_clear(&m);
	/* readers find it in the vault */
	read_v(f->st, old_m, 1.0f);
	read_v(f->st, new_m, 2.0f);
	pt_checkpoint_verify_stats cs;
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, &cs));
	assert_int_equal(tu_verify_errors(f->st, NULL, 0), 0);
	/* gc: archived objects are neither garbage nor missing */
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	go.dry_run = 1;
	go.grace_s = 0;
	pt_gc_stats gs;
	TU_OK(pt_gc(f->st, &go, &gs));
	assert_int_equal(gs.garbage_objects, 0);
	assert_int_equal(gs.missing, 0);
	assert_true(gs.archived >= 2);
	go.dry_run = 0;
	TU_OK(pt_gc(f->st, &go, &gs));
	read_v(f->st, old_m, 1.0f);
	/* run "new" ends; the next job archives it too: nothing hot references either checkpoint */
	TU_OK(pt_recorder_close(live));
	TU_OK(run_at(f, "p", 0, 1));
	assert_false(hot_object(f, new_m));
	read_v(f->st, new_m, 2.0f);
	/* restore into a new store: the objects come with the archive */
	pt_archive_info *v;
	size_t n;
	TU_OK(pt_archive_list(&v, &n, f->st));
	char *other = tu_path(f->dir, "other");
	TU_OK(pt_archive_restore(v[0].path, other, NULL, NULL));
	pt_store *st2;
	TU_OK(pt_store_open(&st2, other));
	read_v(st2, old_m, 1.0f);
	{
		char rel[100];
		snprintf(rel, sizeof rel, "objects/%.2s/%s", ds_content, ds_content + 2);
		char *p2 = tu_path(other, rel);
		assert_true(tu_file_size(p2) > 0); /* the dataset's contents came with the archive */
		free(p2);
	}
	assert_int_equal(tu_verify_errors(st2, NULL, 0), 0);
	pt_store_free(st2);
	/* restore into the same store brings them back into the hot store, and they stay */
	TU_OK(pt_archive_restore(v[0].path, pt_store_path(f->st), NULL, NULL));
	assert_true(hot_object(f, old_m));
	TU_OK(run_at(f, "p", 0, 1));
	assert_true(hot_object(f, old_m));
	read_v(f->st, old_m, 1.0f);
	pt_archive_list_free(v, n);
	/* retention deletes the archive: what it alone held comes back first */
	TU_OK(pt_archive_prune(f->st, pt_time_now_ns() + 30 * DAY, 0, NULL, NULL));
	size_t deleted;
	catalog_size(f, &deleted);
	assert_int_equal(deleted, 2);
	assert_true(hot_object(f, old_m));
	assert_true(hot_object(f, new_m));
	read_v(f->st, old_m, 1.0f);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(archived_history_reads_like_before, setup, teardown),
		cmocka_unit_test_setup_teardown(missed_windows_catch_up_once_and_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(a_second_job_is_refused_while_one_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(dry_run_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(retention_keeps_last_and_held_and_records_deletions, setup, teardown),
		cmocka_unit_test_setup_teardown(tampering_with_an_archive_is_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_plans_are_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(reader_hook_gives_the_member_range, setup, teardown),
		cmocka_unit_test_setup_teardown(a_vault_inside_the_store_is_refused_before_anything_is_created, setup, teardown),
		cmocka_unit_test_setup_teardown(crashed_streams_are_sealed_and_archived, setup, teardown),
		cmocka_unit_test_setup_teardown(archived_objects_leave_the_hot_store_and_stay_readable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
