/*
 * fuzz_common.h - helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * A target is one file defining LLVMFuzzerTestOneInput().  It is built twice
 * by tests/fuzz.cmake: with the standalone driver (driver.c) under the normal
 * compiler, where ctest replays tests/fuzz/corpus/<target>/ as an ordinary
 * test, and with libFuzzer when PT_FUZZ=ON (clang).  Adding a target is adding
 * one file fuzz_<name>.c (plus, optionally, a seed corpus directory).
 *
 * Targets that need files (a store, a stream directory) work in one private
 * temporary directory made on the first call and removed at exit, so an
 * execution costs a few small writes rather than a directory tree.
 */
#ifndef PT_FUZZ_COMMON_H
#define PT_FUZZ_COMMON_H

#include "base/base_int.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_root[4096];

static inline int fz_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static inline void fz_cleanup(void)
{
	if (fz_root[0])
		nftw(fz_root, fz_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The private temporary directory (created once; aborts if impossible, since
 * a target that cannot run must not look like one that passed). */
static inline const char *fz_dir(void)
{
	if (!fz_root[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fz_root, sizeof fz_root, "%s/ptfuzz.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(fz_root)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(fz_cleanup);
	}
	return fz_root;
}

/* Write `len` bytes to `path` (truncating); aborts on failure (see fz_dir). */
static inline void fz_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		abort();
	}
	close(fd);
}

static inline void fz_mkdir(const char *path)
{
	if (pt__mkdir_p(path, 0755)) {
		fprintf(stderr, "fuzz: %s\n", pt_error_last());
		abort();
	}
}

/* A library call that fails must leave a message: an empty one is a bug. */
static inline void fz_check_error(int rc)
{
	if (rc < 0 && rc != PT_ITEROVER && !pt_error_last()[0]) {
		fprintf(stderr, "fuzz: error %s without a message\n", pt_error_name(rc));
		abort();
	}
}

#endif
