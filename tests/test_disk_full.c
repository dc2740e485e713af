/*
 * test_disk_full.c - recording onto a full disk (a small tmpfs).
 *
 * Needs root (mount); without it each test is skipped with a message saying
 * so.  A recorder writes until the disk is full: the error is PT_ENOSPC with
 * a clear message, everything flushed before stays durable and readable,
 * and once space is freed the same recorder resumes (its unwritten batches
 * were kept queued and are retried).  Closing while the disk is still full
 * fails cleanly, and a later writer recovers the stream.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char *dir, *mnt, *filler;
	pt_store *st;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	f->dir = tu_tmpdir();
	f->mnt = tu_path(f->dir, "mnt");
	mkdir(f->mnt, 0755);
	if (geteuid() != 0 || mount("tmpfs", f->mnt, "tmpfs", 0, "size=384k") != 0) {
		printf("SKIPPED: cannot mount a tmpfs (%s): run as root to test a full disk\n",
		       geteuid() ? "not root" : strerror(errno));
		fflush(stdout);
		tu_rmrf(f->dir);
		free(f->mnt);
		free(f->dir);
		free(f);
		*state = NULL;
		return 0;
	}
	char *sp = tu_path(f->mnt, "store");
	TU_OK(pt_store_init(&f->st, sp));
	free(sp);
	/* 96 KB of filler: deleting it is "freeing space" */
	f->filler = tu_path(f->mnt, "filler");
	int fd = open(f->filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static char junk[96 << 10];
	memset(junk, 0x33, sizeof junk);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (!f)
		return 0;
	pt_store_free(f->st);
	umount2(f->mnt, MNT_DETACH);
	tu_rmrf(f->dir);
	free(f->filler);
	free(f->mnt);
	free(f->dir);
	free(f);
	return 0;
}

/* An event that does not compress: the disk fills after a few hundred. */
static int append_one(pt_recorder *rec, uint64_t i)
{
	uint8_t noise[300];
	uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
	for (size_t k = 0; k < sizeof noise; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		noise[k] = (uint8_t)x;
	}
	pt_event *ev;
	int rc = pt_event_new(&ev, "note", "fill");
	if (!rc)
		rc = pt_event_uint(ev, "i", i);
	if (!rc)
		rc = pt_event_bytes(ev, "noise", noise, sizeof noise);
	if (!rc)
		rc = pt_recorder_append(rec, ev, NULL);
	pt_event_free(ev);
	return rc;
}

/* The stream holds events 1..n with dense sequence numbers; returns n. */
static uint64_t check_stream(pt_store *st)
{
	pt_iter *it;
	TU_OK(pt_iter_open(&it, st, "full", NULL, NULL));
	const pt_event_view *ev;
	uint64_t n = 0;
	int rc;
	while ((rc = pt_iter_next(it, &ev)) == 0) {
		n++;
		assert_int_equal(pt_ev_seq(ev), n);
	}
	assert_int_equal(rc, PT_ITEROVER);
	pt_iter_free(it);
	return n;
}

/* Fill the disk; returns the last seq a flush acknowledged, sets *appended. */
static uint64_t fill(pt_recorder *rec, uint64_t *appended, int *err)
{
	uint64_t durable = 0;
	*err = 0;
	for (uint64_t i = 0; i < 100000 && !*err; i++) {
		int rc = append_one(rec, *appended);
		if (rc) {
			*err = rc;
			break;
		}
		(*appended)++;
		if (*appended % 10 == 0) {
			rc = pt_recorder_flush(rec);
			if (rc)
				*err = rc;
			else
				durable = *appended;
		}
	}
	return durable;
}

static void test_full_disk_reports_enospc_keeps_data_and_resumes(void **state)
{
	fixture *f = *state;
	if (!f)
		skip();
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.durability = PT_DURABILITY_FSYNC;
	o.batch_max_events = 10;
	o.queue_max_batches = 4;
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, "full", NULL, &o));
	uint64_t appended = 0;
	int err;
	uint64_t durable = fill(rec, &appended, &err);
	assert_int_equal(err, PT_ENOSPC);
	assert_non_null(strstr(pt_error_last(), "No space left"));
	printf("disk full after %llu events (%llu durable): %s\n", (unsigned long long)appended,
	       (unsigned long long)durable, pt_error_last());
	assert_true(durable >= 100);
	/* readers see everything acknowledged, while the disk is still full */
	assert_true(check_stream(f->st) >= durable);
	/* still full: flush keeps failing the same way, nothing is lost meanwhile */
	assert_int_equal(pt_recorder_flush(rec), PT_ENOSPC);
	/* free space: the same recorder resumes */
	assert_int_equal(unlink(f->filler), 0);
	TU_OK(pt_recorder_flush(rec));
	uint64_t before = appended;
	for (int i = 0; i < 20; i++) {
		TU_OK(append_one(rec, appended));
		appended++;
	}
	TU_OK(pt_recorder_flush(rec));
	assert_int_equal(check_stream(f->st), appended);
	TU_OK(pt_recorder_close(rec));
	assert_int_equal(check_stream(f->st), appended);
	pt_verify_stats vs;
	TU_OK(pt_verify(f->st, NULL, NULL, NULL, NULL, &vs));
	printf("after freeing space: resumed, %llu more events, %llu in all, verify clean\n",
	       (unsigned long long)(appended - before), (unsigned long long)appended);
}

static void test_close_on_a_full_disk_fails_cleanly_and_the_next_writer_recovers(void **state)
{
	fixture *f = *state;
	if (!f)
		skip();
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.durability = PT_DURABILITY_FSYNC;
	o.batch_max_events = 10;
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, f->st, "full", NULL, &o));
	uint64_t appended = 0;
	int err;
	uint64_t durable = fill(rec, &appended, &err);
	assert_int_equal(err, PT_ENOSPC);
	/* close cannot seal (no room for the footer): a clean error, lock released */
	int rc = pt_recorder_close(rec);
	assert_int_equal(rc, PT_ENOSPC);
	assert_true(check_stream(f->st) >= durable);
	/* a writer on the still-full disk can open (no allocation of space needed to read) */
	assert_int_equal(unlink(f->filler), 0);
	TU_OK(pt_recorder_open(&rec, f->st, "full", NULL, &o));
	uint64_t have = pt_recorder_next_seq(rec) - 1;
	assert_true(have >= durable);
	TU_OK(append_one(rec, 0));
	TU_OK(pt_recorder_close(rec));
	pt_verify_stats vs;
	TU_OK(pt_verify(f->st, NULL, NULL, NULL, NULL, &vs));
	printf("close on a full disk: %s; reopened at seq %llu (>= %llu durable), verify clean\n",
	       pt_error_name(rc), (unsigned long long)have + 1, (unsigned long long)durable);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_disk_reports_enospc_keeps_data_and_resumes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_on_a_full_disk_fails_cleanly_and_the_next_writer_recovers,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
