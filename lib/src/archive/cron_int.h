/*
 * archive/cron_int.h - cron schedules for archive plans (cron.c).
 *
 * Two syntaxes:
 *  - standard 5-field cron: "minute hour day-of-month month day-of-week"
 *    with '*', ranges "a-b", lists "a,b", steps "*\/n", "a-b/n", "a/n",
 *    month names jan-dec, day names sun-sat, day-of-week 0-7 (0 and 7 are
 *    Sunday), '?' accepted as '*' in the day fields;
 *  - the 6-field form of cloud backup plans: "cron(min hour dom month dow year)"
 *    where day-of-week is 1-7 with 1 = Sunday, exactly one of the day fields
 *    is '?', and year is '*' or 1970-2199 (L, W and # are rejected).
 * Day-of-month and day-of-week: when both are restricted (neither field
 * starts with '*' or is '?') a day matches if EITHER matches (Vixie cron);
 * otherwise both must match.
 *
 * Fire times are computed in a named time zone (IANA name from the system
 * tz database, default "UTC").  Daylight saving time rule (as cronie):
 *  - a local time that does not exist (skipped by a spring-forward change)
 *    fires once, at the first instant after the gap (the moment of the
 *    change); several skipped times collapse into that one firing;
 *  - a local time that occurs twice (fall-back) fires once, at its first
 *    occurrence.
 */
#ifndef PT_CRON_H
#define PT_CRON_H

#include "base/base_int.h"

#define PT_CRON_YEAR_MIN 1970
#define PT_CRON_YEAR_MAX 2199

typedef struct {
	uint64_t minute; /* bits 0..59 */
	uint32_t hour;   /* bits 0..23 */
	uint32_t dom;    /* bits 1..31 */
	uint16_t month;  /* bits 1..12 */
	uint8_t dow;     /* bits 0..6, 0 = Sunday */
	bool dom_star, dow_star;
	bool aws;        /* the cron(...) form */
	uint64_t year[4]; /* bits (year - 1970); all set when '*' */
} pt__cron;

/* Parse `expr`.  PT_EINVAL with "column N: ..." (1-based) in the message. */
int pt__cron_parse(pt__cron *out, const char *expr);

/* PT_EINVAL unless `tz` names a zone of the system tz database (or is "UTC"). */
int pt__tz_check(const char *tz);

/*
 * The first fire time strictly after `after` (seconds since the epoch, UTC),
 * in zone `tz` (NULL: UTC).  PT_ENOTFOUND if there is none within the search
 * horizon (e.g. "0 0 30 2 *" or a past year).
 */
int pt__cron_next(int64_t *out, const pt__cron *c, const char *tz, int64_t after);

/* Local wall-clock offset (seconds east of UTC) of zone `tz` at `t`. */
int pt__tz_offset(int *out, const char *tz, int64_t t);

#endif
