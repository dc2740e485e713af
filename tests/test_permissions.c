/*
 * test_permissions.c - a store never gives group or world write access,
 * whatever the umask: every directory and file the library creates (config,
 * runs, streams, lock, segments, chain, cut tails, objects, gc lock) is
 * checked after a session that exercises each of them under umask 000.
 * (That restore and archive never follow symlinks out of the store is
 * tested with those modules.)
 */
#include "testutil.h"

#include "provtrace/checkpoint.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int bad, seen_files, seen_dirs;

static int check(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (S_ISDIR(sb->st_mode))
		seen_dirs++;
	else
		seen_files++;
	if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
		printf("group/world writable: %s (mode %04o)\n", path, (unsigned)(sb->st_mode & 07777));
		bad++;
	}
	return 0;
}

static void test_store_is_not_group_or_world_writable(void **state)
{
	(void)state;
	mode_t old = umask(0);
	char *dir = tu_tmpdir();
	pt_store *st = tu_store(dir);
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.segment_max_bytes = 4096;
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, st, "perm", NULL, &o));
	for (int i = 0; i < 300; i++)
		TU_OK(pt_recorder_metric(rec, "loss", i, i));
	TU_OK(pt_recorder_flush(rec));
	/* a checkpoint: objects/, fan-out directories, gc lock */
	static float w[1000];
	uint64_t shape[1] = {1000};
	pt_checkpointer *cw;
	pt_checkpoint *ck;
	TU_OK(pt_checkpointer_open(&cw, st, rec, NULL));
	TU_OK(pt_checkpoint_new(&ck));
	TU_OK(pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 1, shape, w, sizeof w));
	TU_OK(pt_checkpointer_write(cw, ck, 1, NULL));
	TU_OK(pt_checkpointer_close(cw));
	pt_checkpoint_free(ck);
	TU_OK(pt_recorder_close(rec));
	/* a writer that dies leaving a torn tail, so that recovery creates cut/ */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (pt_recorder_open(&rec, st, "perm", NULL, &o) || pt_recorder_metric(rec, "x", 1, 1) ||
		    pt_recorder_flush(rec))
			_exit(1);
		_exit(0); /* no close: the open segment stays */
	}
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char *open_path = tu_path(pt_store_path(st), "runs/perm/main/open.ptseg");
	int fd = open(open_path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x51\x2a\x4d\x18garbage", 11), 11);
	close(fd);
	TU_OK(pt_recorder_open(&rec, st, "perm", NULL, &o));
	assert_true(pt_recorder_recovered_bytes(rec) > 0);
	TU_OK(pt_recorder_close(rec));
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	pt_gc_stats gs;
	TU_OK(pt_gc(st, &go, &gs));
	umask(old);

	assert_int_equal(nftw(pt_store_path(st), check, 16, FTW_PHYS), 0);
	printf("%d directories and %d files checked, %d group/world writable\n", seen_dirs, seen_files, bad);
	assert_true(seen_files >= 8);
	assert_int_equal(bad, 0);
	free(open_path);
	pt_store_free(st);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_is_not_group_or_world_writable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
