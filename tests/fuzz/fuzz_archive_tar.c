/*
 * fuzz_archive_tar.c - a whole archive file (pax tar read through libarchive,
 * its MANIFEST.json first, then every member), as `provtrace restore` and
 * `archive verify` read an archive someone hands them.  Restore must either
 * succeed or refuse cleanly, and never write outside the store it restores
 * into: after every input the fuzzing directory holds only the tar and the
 * store.
 */
#include "fuzz_common.h"

#include <dirent.h>

static int only_expected(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int ok = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "in.tar") &&
		    strcmp(e->d_name, "store"))
			ok = 0;
	closedir(d);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (4u << 20))
		return 0;
	const char *root = fz_dir();
	char tar[4200], store[4200], cmd[8500];
	snprintf(tar, sizeof tar, "%s/in.tar", root);
	snprintf(store, sizeof store, "%s/store", root);
	fz_write(tar, data, size);
	pt_restore_stats rs;
	int rc = pt_archive_restore(tar, store, NULL, &rs);
	fz_check_error(rc);
	if (!only_expected(root)) {
		fprintf(stderr, "fuzz_archive_tar: restore wrote outside the store\n");
		abort();
	}
	/* a fresh store for the next input */
	snprintf(cmd, sizeof cmd, "%s", store);
	nftw(cmd, fz_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
