/*
 * fuzz_cron.c - cron expressions of archive plans (pt__cron_parse, both the
 * 5-field and the cron(...) form) and the next-fire-time search over a
 * parsed schedule, in UTC and in a zone with daylight saving time.
 */
#include "fuzz_common.h"

#include "archive/cron_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *expr = pt__strndup((const char *)data, size);
	if (!expr)
		return 0;
	pt__cron c;
	int rc = pt__cron_parse(&c, expr);
	fz_check_error(rc);
	if (rc == 0) {
		int64_t next = 0;
		static const int64_t afters[] = {0, 1795680000, 4102444800};
		for (size_t i = 0; i < sizeof afters / sizeof *afters; i++) {
			rc = pt__cron_next(&next, &c, NULL, afters[i]);
			fz_check_error(rc);
			if (rc == 0 && next <= afters[i])
				abort(); /* the next fire time is strictly after */
			rc = pt__cron_next(&next, &c, "Europe/Berlin", afters[i]);
			fz_check_error(rc);
			if (rc == 0 && next <= afters[i])
				abort();
		}
	}
	pt__free(expr);
	return 0;
}
