/*
 * fuzz_object.c - a stored object file (checkpoint chunks and manifests live
 * in STORE/objects/): header, codec, zstd frame, length and hash checks.
 * Each input is written as the file of one fixed object id and read back
 * through pt__object_get, pt__object_stat and pt__object_read; since the
 * input cannot hash to that id the read must fail cleanly (PT_ECORRUPT),
 * unless the input is the real object for it (the seed), which must succeed.
 */
#include "fuzz_common.h"

#include "format/objects_int.h"
#include "log/history_int.h" /* pt__object_get/read/stat: the seam finds the object */

static pt_store *st;
static uint8_t id[32];
static char *path;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!st) {
		char *d = pt__sprintf("%s/store", fz_dir());
		if (!d || pt_store_init(&st, d))
			abort();
		pt__free(d);
		/* the id of a small known object: seeds may hold its real file */
		static const char known[] = "provtrace fuzz object";
		pt__sha256(known, sizeof known - 1, id);
		path = pt__object_path(st, id);
		char *dir = pt__object_dir(st, id);
		if (!path || !dir)
			abort();
		fz_mkdir(dir);
		pt__free(dir);
	}
	if (size > 1u << 20)
		return 0;
	fz_write(path, data, size);
	uint8_t *out = NULL;
	size_t len = 0;
	int rc = pt__object_get(st, id, &out, &len);
	fz_check_error(rc);
	if (rc == 0 && len != 21)
		abort();
	pt__free(out);
	uint64_t plain = 0, stored = 0;
	rc = pt__object_stat(st, id, &plain, &stored);
	fz_check_error(rc);
	if (rc == 0 && plain <= 4096) {
		uint8_t buf[4096];
		fz_check_error(pt__object_read(st, id, buf, (size_t)plain, NULL));
	}
	return 0;
}
