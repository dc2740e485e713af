/* test_cron.c - cron schedules: syntax errors with their column, next fire times checked
 * against Debian's python3-croniter, the cron( form, and the DST rule of cron.h. */
#include "testutil.h"

#include "archive/cron_int.h"
#include "provtrace/archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t utc(const char *iso)
{
	int64_t ns;
	if (pt_time_parse(&ns, iso))
		fail_msg("bad time %s", iso);
	return ns / 1000000000;
}

static void next_n(const char *expr, const char *tz, int64_t from, int64_t *out, int n)
{
	pt__cron c;
	TU_OK(pt__cron_parse(&c, expr));
	int64_t t = from;
	for (int i = 0; i < n; i++) {
		TU_OK(pt__cron_next(&t, &c, tz, t));
		out[i] = t;
	}
}

static void expect_error(const char *expr, const char *col)
{
	pt__cron c;
	int rc = pt__cron_parse(&c, expr);
	if (rc != PT_EINVAL)
		fail_msg("\"%s\" was accepted (rc %d)", expr, rc);
	if (col && !strstr(pt_error_last(), col))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", expr, pt_error_last(), col);
}

static void syntax_errors_name_the_column(void **state)
{
	(void)state;
	expect_error("", NULL);
	expect_error("60 * * * *", "column 1:");
	expect_error("* 24 * * *", "column 3:");
	expect_error("* * 0 * *", "column 5:");
	expect_error("* * * 13 *", "column 7:");
	expect_error("* * * * 8", "column 9:");
	expect_error("*/0 * * * *", "column 3:");
	expect_error("5-1 * * * *", "column 1:");
	expect_error("1,,2 * * * *", "column 3:");
	expect_error("1, * * * *", "column 3:");
	expect_error("* * * foo *", "column 7:");
	expect_error("* * * * * *", "column 11:");
	expect_error("* * * *", "column 8:");
	expect_error("? * * * *", "column 1:");
	expect_error("0 0 L * *", "column 5:");
	expect_error("0 0 * * 1#2", "column 10:");
	expect_error("cron(0 12 * * * *)", "column 11:"); /* neither day field is '?' */
	expect_error("cron(0 12 ? * ? *)", NULL);
	expect_error("cron(0 12 * * ? 1969)", "column 17:");
	expect_error("cron(0 12 * * ?", NULL);
	expect_error("cron(0 12 * * ? * *)", NULL);
	expect_error("1x * * * *", "column 2:");
	pt__cron c;
	TU_OK(pt__cron_parse(&c, "  0   12 * * *  "));
	TU_OK(pt__cron_parse(&c, "0 12 ? * MON-fri"));
	TU_OK(pt__cron_parse(&c, "cron(0 12 * * ? *)"));
	TU_OK(pt__cron_parse(&c, "0-59/7 */5 1-31/3 jan-dec/2 0-7"));
}

static void a_schedule_that_never_fires_is_reported(void **state)
{
	(void)state;
	pt__cron c;
	int64_t t;
	TU_OK(pt__cron_parse(&c, "0 0 30 2 *"));
	assert_int_equal(pt__cron_next(&t, &c, "UTC", utc("2026-01-01T00:00:00Z")), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "never fires"));
	TU_OK(pt__cron_parse(&c, "cron(0 0 1 1 ? 2030)"));
	TU_OK(pt__cron_next(&t, &c, "UTC", utc("2026-05-01T00:00:00Z")));
	assert_int_equal(t, utc("2030-01-01T00:00:00Z"));
	assert_int_equal(pt__cron_next(&t, &c, "UTC", t), PT_ENOTFOUND);
	assert_int_equal(pt__tz_check("Mars/Olympus_Mons"), PT_EINVAL);
	assert_int_equal(pt__tz_check("../../etc/passwd"), PT_EINVAL);
	TU_OK(pt__tz_check("Europe/Berlin"));
}

/* The independent implementation: croniter (Debian's python3-croniter). */
typedef struct {
	const char *expr, *tz, *start;
} ccase;

static const ccase table[] = {
	{"0 12 * * *", "UTC", "2026-11-26T08:00:00Z"},
	{"*/15 9-17 * * mon-fri", "UTC", "2026-11-27T16:20:00Z"},
	{"0 0 31 * *", "UTC", "2026-01-15T00:00:00Z"},           /* month ends: only 31-day months */
	{"0 0 30 * *", "UTC", "2027-01-31T00:00:00Z"},           /* skips February */
	{"0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z"},           /* leap days */
	{"0 0 1,15 * 1", "UTC", "2026-06-01T00:00:00Z"},         /* dom OR dow */
	{"30 6 1-7 * 5", "UTC", "2026-02-20T00:00:00Z"},
	{"0 0 * * 0", "UTC", "2026-12-30T00:00:00Z"},
	{"5 4 * * sun", "UTC", "2026-11-26T08:00:00Z"},
	{"0 */6 * * *", "UTC", "2026-12-31T20:00:00Z"},          /* year boundary */
	{"0 0 1 jan,jul *", "UTC", "2026-02-01T00:00:00Z"},
	{"15 10 * feb *", "UTC", "2028-02-27T11:00:00Z"},        /* Feb 29 of a leap year */
	{"0 12 * * *", "Europe/Berlin", "2026-03-27T00:00:00Z"}, /* across spring forward */
	{"0 12 * * *", "Europe/Berlin", "2026-10-23T00:00:00Z"}, /* across fall back */
	{"0 3 * * *", "America/New_York", "2026-03-06T00:00:00Z"},
	{"45 23 * * 6", "America/New_York", "2026-10-30T00:00:00Z"},
	{"0 9 1 * *", "Asia/Kolkata", "2026-11-26T00:00:00Z"},
	{"30 1 * * 1-5", "Australia/Sydney", "2026-04-02T00:00:00Z"},
};
#define NEXT 6

/*
 * croniter is given pytz zones (with zoneinfo zones its 1.3.5 drifts by an
 * hour across DST changes), and each of our fire times is checked as
 * croniter's single next time after our previous one.
 */
static void next_times_match_croniter(void **state)
{
	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	size_t nc = sizeof table / sizeof *table;
	int64_t got[sizeof table / sizeof *table][NEXT];
	char path[] = "/tmp/pt_cron_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	for (size_t i = 0; i < nc; i++) {
		next_n(table[i].expr, table[i].tz, utc(table[i].start), got[i], NEXT);
		for (int k = 0; k < NEXT; k++)
			fprintf(f, "%s|%s|%lld\n", table[i].expr, table[i].tz,
				(long long)(k ? got[i][k - 1] : utc(table[i].start)));
	}
	fclose(f);
	char cmd[600];
	snprintf(cmd, sizeof cmd,
		 "/usr/bin/python3 -c '\n"
		 "import sys, datetime, croniter, pytz\n"
		 "for line in open(sys.argv[1]):\n"
		 "    e, tz, t = line.rstrip(\"\\n\").split(\"|\")\n"
		 "    it = croniter.croniter(e, datetime.datetime.fromtimestamp(int(t), pytz.timezone(tz)))\n"
		 "    print(int(it.get_next(datetime.datetime).timestamp()))\n"
		 "' %s",
		 path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[100];
	size_t checked = 0;
	for (size_t i = 0; i < nc; i++) {
		for (int k = 0; k < NEXT; k++) {
			if (!fgets(line, sizeof line, p))
				fail_msg("croniter gave no answer for \"%s\"", table[i].expr);
			int64_t want = strtoll(line, NULL, 10);
			if (want != got[i][k]) {
				char a[48], b[48];
				fail_msg("\"%s\" in %s from %s, #%d: croniter %s, provtrace %s", table[i].expr, table[i].tz,
					 table[i].start, k + 1, pt_time_format(want * 1000000000, a, sizeof a),
					 pt_time_format(got[i][k] * 1000000000, b, sizeof b));
			}
			checked++;
		}
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(checked, nc * NEXT);
	unlink(path);
}

static void cloud_form_equals_standard_form(void **state)
{
	(void)state;
	static const char *pairs[][2] = {
		{"cron(0 12 * * ? *)", "0 12 * * *"},
		{"cron(0 8 ? * 2-6 *)", "0 8 * * 1-5"},   /* 1 = Sunday in the cron( form */
		{"cron(15 3 ? * 1 *)", "15 3 * * 0"},
		{"cron(0 0 1 * ? *)", "0 0 1 * *"},
		{"cron(0/30 9-17 ? * MON-FRI *)", "*/30 9-17 * * 1-5"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		int64_t a[8], b[8];
		next_n(pairs[i][0], "UTC", utc("2026-11-26T08:00:00Z"), a, 8);
		next_n(pairs[i][1], "UTC", utc("2026-11-26T08:00:00Z"), b, 8);
		for (int k = 0; k < 8; k++)
			if (a[k] != b[k])
				fail_msg("%s and %s differ at #%d", pairs[i][0], pairs[i][1], k + 1);
	}
}

/* The documented rule (croniter disagrees here: it fires skipped times in the wrong hour). */
static void dst_gap_fires_once_after_it_and_overlap_fires_once(void **state)
{
	(void)state;
	int64_t t[4];
	/* Europe/Berlin 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist */
	next_n("30 2 * * *", "Europe/Berlin", utc("2026-03-27T12:00:00Z"), t, 3);
	assert_int_equal(t[0], utc("2026-03-28T01:30:00Z")); /* 02:30 CET */
	assert_int_equal(t[1], utc("2026-03-29T01:00:00Z")); /* 03:00 CEST, the end of the gap */
	assert_int_equal(t[2], utc("2026-03-30T00:30:00Z")); /* 02:30 CEST */
	/* several skipped times collapse into one firing */
	next_n("*/15 2 * * *", "Europe/Berlin", utc("2026-03-29T00:50:00Z"), t, 2);
	assert_int_equal(t[0], utc("2026-03-29T01:00:00Z"));
	assert_int_equal(t[1], utc("2026-03-30T00:00:00Z"));
	/* 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice: only the first fires */
	next_n("30 2 * * *", "Europe/Berlin", utc("2026-10-24T12:00:00Z"), t, 2);
	assert_int_equal(t[0], utc("2026-10-25T00:30:00Z"));
	assert_int_equal(t[1], utc("2026-10-26T01:30:00Z"));
	next_n("*/30 2 * * *", "Europe/Berlin", utc("2026-10-25T00:00:00Z"), t, 3);
	assert_int_equal(t[0], utc("2026-10-25T00:30:00Z"));
	assert_int_equal(t[1], utc("2026-10-26T01:00:00Z"));
	assert_int_equal(t[2], utc("2026-10-26T01:30:00Z"));
	/* New York 2026-03-08 02:00 EST -> 03:00 EDT */
	next_n("30 2 * * *", "America/New_York", utc("2026-03-07T12:00:00Z"), t, 2);
	assert_int_equal(t[0], utc("2026-03-08T07:00:00Z"));
	assert_int_equal(t[1], utc("2026-03-09T06:30:00Z"));
	/* the caller's TZ is left alone */
	setenv("TZ", "Asia/Tokyo", 1);
	next_n("0 0 * * *", "UTC", 0, t, 1);
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
}

static void public_schedule_next(void **state)
{
	(void)state;
	int64_t t[3];
	TU_OK(pt_archive_schedule_next(t, 3, "0 2 * * *", "UTC", utc("2026-11-26T02:00:00Z") * 1000000000));
	assert_int_equal(t[0] / 1000000000, utc("2026-11-27T02:00:00Z"));
	assert_int_equal(t[2] / 1000000000, utc("2026-11-29T02:00:00Z"));
	assert_int_equal(pt_archive_schedule_next(t, 1, "0 2 * *", "UTC", 0), PT_EINVAL);
	assert_int_equal(pt_archive_schedule_next(t, 1, "0 2 * * *", "Nowhere/Atlantis", 0), PT_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(syntax_errors_name_the_column),
		cmocka_unit_test(a_schedule_that_never_fires_is_reported),
		cmocka_unit_test(next_times_match_croniter),
		cmocka_unit_test(cloud_form_equals_standard_form),
		cmocka_unit_test(dst_gap_fires_once_after_it_and_overlap_fires_once),
		cmocka_unit_test(public_schedule_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
