/*
 * fuzz_config.c - the store configuration file (STORE/config) as read by
 * pt_store_open(): each input becomes the config of a private store, which
 * is then opened; an accepted store is listed.  A config must be accepted
 * or refused with a clear error, nothing else.
 */
#include "fuzz_common.h"

static char *store_dir, *cfg_path;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store_dir) {
		store_dir = pt__sprintf("%s/store", fz_dir());
		cfg_path = pt__sprintf("%s/store/config", fz_dir());
		if (!store_dir || !cfg_path || pt_store_init(NULL, store_dir))
			abort();
	}
	fz_write(cfg_path, data, size);
	pt_store *st = NULL;
	int rc = pt_store_open(&st, store_dir);
	fz_check_error(rc);
	if (rc == 0) {
		char **runs = NULL;
		size_t n = 0;
		fz_check_error(pt_store_runs(st, &runs, &n));
		pt_strv_free(runs, n);
		pt_store_free(st);
	} else if (rc != PT_ECORRUPT && rc != PT_EVERSION && rc != PT_ELIMIT && rc != PT_ENOMEM) {
		fprintf(stderr, "fuzz_config: unexpected %s: %s\n", pt_error_name(rc), pt_error_last());
		abort();
	}
	return 0;
}
