/*
 * cron.c - parsing cron expressions and computing fire times in a time zone.
 *
 * Time zones come from the system tz database through TZ/tzset/localtime_r.
 * TZ is process-global, so every use switches it under one mutex and puts
 * the previous value back; a plan's zone is only ever needed here.  Local
 * wall times are turned into instants with our own search over the zone's
 * offsets (not mktime), so that the DST rule documented in cron.h is
 * exactly what is implemented.
 */
#include "archive/cron_int.h"

#include <ctype.h>
#include <pthread.h>
#include <time.h>

typedef struct {
	const char *expr;
	size_t col; /* 0-based start of the current token */
} cparse;

static int perr(const char *expr, size_t col, const char *fmt, const char *arg)
{
	char what[200];
	snprintf(what, sizeof what, fmt, arg);
	return pt__err(PT_EINVAL, "invalid schedule \"%s\": column %zu: %s", expr, col + 1, what);
}

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct {
	const char *name;
	int lo, hi;
	const char *const *names; /* 3-letter names, value = index + names_base */
	int nnames, names_base;
	bool question;            /* '?' allowed */
} fieldspec;

/* Parse one value (number or name) at expr[*i]; *i advanced. */
static int parse_value(const char *expr, size_t *i, size_t end, const fieldspec *fs, int *out)
{
	size_t s = *i;
	if (s < end && isdigit((unsigned char)expr[s])) {
		long v = 0;
		while (*i < end && isdigit((unsigned char)expr[*i])) {
			v = v * 10 + (expr[*i] - '0');
			if (v > 100000)
				return perr(expr, s, "number too large", NULL);
			(*i)++;
		}
		if (v < fs->lo || v > fs->hi) {
			char msg[120];
			snprintf(msg, sizeof msg, "%ld is out of range for the %s field (%d-%d)", v, fs->name, fs->lo,
				 fs->hi);
			return perr(expr, s, "%s", msg);
		}
		*out = (int)v;
		return 0;
	}
	if (s < end && isalpha((unsigned char)expr[s])) {
		size_t e = s;
		while (e < end && isalpha((unsigned char)expr[e]))
			e++;
		if (fs->names && e - s == 3) {
			for (int k = 0; k < fs->nnames; k++)
				if (!strncasecmp(expr + s, fs->names[k], 3)) {
					*i = e;
					*out = k + fs->names_base;
					return 0;
				}
		}
		char tok[40];
		snprintf(tok, sizeof tok, "%.*s", (int)(e - s > 30 ? 30 : e - s), expr + s);
		if (fs->question && (!strcasecmp(tok, "L") || !strcasecmp(tok, "W") || !strcasecmp(tok, "LW")))
			return perr(expr, s, "'%s' (last/weekday) is not supported", tok);
		char msg[120];
		snprintf(msg, sizeof msg, "unknown name '%s' in the %s field", tok, fs->name);
		return perr(expr, s, "%s", msg);
	}
	if (s >= end)
		return perr(expr, s, "a value is missing in the %s field", fs->name);
	char msg[120];
	snprintf(msg, sizeof msg, "unexpected character '%c' in the %s field", expr[s], fs->name);
	return perr(expr, s, "%s", msg);
}

/*
 * Parse a field expr[start, end) into bits over [fs->lo, fs->hi] (bit v set
 * for value v).  *star: the field starts with '*' or is '?'.
 */
static int parse_field(const char *expr, size_t start, size_t end, const fieldspec *fs, uint64_t bits[4],
		       bool *star)
{
	memset(bits, 0, 4 * sizeof *bits);
	*star = expr[start] == '*' || expr[start] == '?';
	if (expr[start] == '?') {
		if (!fs->question)
			return perr(expr, start, "'?' is only allowed in the day-of-month and day-of-week fields",
				    NULL);
		if (end - start != 1)
			return perr(expr, start + 1, "'?' stands alone in its field", NULL);
		for (int v = fs->lo; v <= fs->hi; v++)
			bits[(v - fs->lo) / 64] |= 1ull << ((v - fs->lo) % 64);
		return 0;
	}
	size_t i = start;
	for (;;) {
		int a, b, step = 1;
		size_t el = i;
		if (i < end && expr[i] == '*') {
			a = fs->lo;
			b = fs->hi;
			i++;
		} else {
			int rc = parse_value(expr, &i, end, fs, &a);
			if (rc)
				return rc;
			b = a;
			if (i < end && expr[i] == '-') {
				i++;
				if ((rc = parse_value(expr, &i, end, fs, &b)))
					return rc;
				if (b < a)
					return perr(expr, el, "range start is after its end", NULL);
			}
		}
		if (i < end && expr[i] == '/') {
			size_t sp = ++i;
			long v = 0;
			if (i >= end || !isdigit((unsigned char)expr[i]))
				return perr(expr, sp, "a step needs a number", NULL);
			while (i < end && isdigit((unsigned char)expr[i])) {
				v = v * 10 + (expr[i] - '0');
				if (v > 100000)
					return perr(expr, sp, "step too large", NULL);
				i++;
			}
			if (v == 0)
				return perr(expr, sp, "a step must be at least 1", NULL);
			step = (int)v;
			if (a == b && expr[el] != '*')
				b = fs->hi; /* "a/n": from a to the end */
		}
		for (int v = a; v <= b; v += step)
			bits[(v - fs->lo) / 64] |= 1ull << ((v - fs->lo) % 64);
		if (i == end)
			break;
		if (expr[i] != ',') {
			char msg[120];
			snprintf(msg, sizeof msg, "unexpected character '%c' in the %s field", expr[i], fs->name);
			return perr(expr, i, "%s", msg);
		}
		i++;
		if (i == end)
			return perr(expr, i, "a value is missing after ','", NULL);
	}
	return 0;
}

int pt__cron_parse(pt__cron *out, const char *expr)
{
	if (!out || !expr)
		return pt__err(PT_EINVAL, "pt__cron_parse: NULL argument");
	memset(out, 0, sizeof *out);
	size_t len = strlen(expr);
	if (len > 512)
		return pt__err(PT_EINVAL, "invalid schedule: longer than 512 characters");
	size_t b = 0, e = len;
	while (b < e && isspace((unsigned char)expr[b]))
		b++;
	while (e > b && isspace((unsigned char)expr[e - 1]))
		e--;
	if (b == e)
		return pt__err(PT_EINVAL, "invalid schedule: empty expression");
	bool aws = false;
	if (e - b >= 5 && !strncasecmp(expr + b, "cron(", 5)) {
		aws = true;
		if (expr[e - 1] != ')')
			return perr(expr, e - 1, "the cron( form must end with ')'", NULL);
		b += 5;
		e--;
	}
	size_t fs_[7], fe_[7];
	int n = 0;
	size_t i = b;
	while (i < e) {
		while (i < e && isspace((unsigned char)expr[i]))
			i++;
		if (i >= e)
			break;
		if (n == (aws ? 6 : 5))
			return perr(expr, i, aws ? "too many fields (the cron( form has 6)" :
						   "too many fields (standard cron has 5)", NULL);
		fs_[n] = i;
		while (i < e && !isspace((unsigned char)expr[i]))
			i++;
		fe_[n++] = i;
	}
	if (n != (aws ? 6 : 5))
		return perr(expr, e, aws ? "expected 6 fields: minute hour day-of-month month day-of-week year" :
					 "expected 5 fields: minute hour day-of-month month day-of-week", NULL);
	static const fieldspec f_min = {"minute", 0, 59, NULL, 0, 0, false};
	static const fieldspec f_hour = {"hour", 0, 23, NULL, 0, 0, false};
	static const fieldspec f_dom = {"day-of-month", 1, 31, NULL, 0, 0, true};
	static const fieldspec f_mon = {"month", 1, 12, month_names, 12, 1, false};
	static const fieldspec f_dow = {"day-of-week", 0, 7, dow_names, 7, 0, true};
	static const fieldspec f_dow_aws = {"day-of-week", 1, 7, dow_names, 7, 1, true};
	static const fieldspec f_year = {"year", PT_CRON_YEAR_MIN, PT_CRON_YEAR_MAX, NULL, 0, 0, false};
	uint64_t bits[4];
	bool star;
	int rc;
	for (int k = 0; k < n; k++) {
		for (size_t c = fs_[k]; c < fe_[k]; c++)
			if (expr[c] == '#' || ((expr[c] == 'L' || expr[c] == 'W') && k == 2))
				return perr(expr, c, "'%c' (nth/last/weekday) is not supported",
					    expr[c] == '#' ? "#" : expr[c] == 'L' ? "L" : "W");
	}
	if ((rc = parse_field(expr, fs_[0], fe_[0], &f_min, bits, &star)))
		return rc;
	out->minute = bits[0];
	if ((rc = parse_field(expr, fs_[1], fe_[1], &f_hour, bits, &star)))
		return rc;
	out->hour = (uint32_t)bits[0];
	if ((rc = parse_field(expr, fs_[2], fe_[2], &f_dom, bits, &out->dom_star)))
		return rc;
	out->dom = (uint32_t)(bits[0] << 1);
	if ((rc = parse_field(expr, fs_[3], fe_[3], &f_mon, bits, &star)))
		return rc;
	out->month = (uint16_t)(bits[0] << 1);
	if ((rc = parse_field(expr, fs_[4], fe_[4], aws ? &f_dow_aws : &f_dow, bits, &out->dow_star)))
		return rc;
	if (aws) {
		out->dow = (uint8_t)(bits[0] & 0x7f); /* 1..7 -> bits 0..6 (1 = Sunday) */
		bool dq = expr[fs_[2]] == '?', wq = expr[fs_[4]] == '?';
		if (dq == wq)
			return perr(expr, fs_[dq ? 4 : 2],
				    "in the cron( form exactly one of day-of-month and day-of-week must be '?'",
				    NULL);
		if ((rc = parse_field(expr, fs_[5], fe_[5], &f_year, out->year, &star)))
			return rc;
	} else {
		out->dow = (uint8_t)((bits[0] & 0x7f) | ((bits[0] >> 7) & 1)); /* 7 is Sunday */
		memset(out->year, 0xff, sizeof out->year);
	}
	out->aws = aws;
	return 0;
}

/* ---- time zones ------------------------------------------------------------------ */

static pthread_mutex_t tz_mu = PTHREAD_MUTEX_INITIALIZER;

int pt__tz_check(const char *tz)
{
	if (!tz || !*tz)
		return pt__err(PT_EINVAL, "empty time zone name");
	if (!strcmp(tz, "UTC"))
		return 0;
	if (strlen(tz) > 64 || tz[0] == '/' || strstr(tz, ".."))
		return pt__err(PT_EINVAL, "invalid time zone name \"%s\"", tz);
	for (const char *p = tz; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
			return pt__err(PT_EINVAL, "invalid time zone name \"%s\"", tz);
	const char *dir = getenv("TZDIR");
	char *path = pt__sprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
	if (!path)
		return PT_ENOMEM;
	bool ok = pt__exists(path) && !pt__is_dir(path);
	pt__free(path);
	if (!ok)
		return pt__err(PT_EINVAL, "unknown time zone \"%s\" (not in the system tz database)", tz);
	return 0;
}

typedef struct {
	char *saved;
	bool had;
} tz_switch;

static int tz_enter(tz_switch *s, const char *tz)
{
	pthread_mutex_lock(&tz_mu);
	const char *old = getenv("TZ");
	s->had = old != NULL;
	s->saved = old ? pt__strdup(old) : NULL;
	if (old && !s->saved) {
		pthread_mutex_unlock(&tz_mu);
		return PT_ENOMEM;
	}
	char *v = pt__sprintf(":%s", tz && *tz ? tz : "UTC");
	if (!v || setenv("TZ", v, 1) < 0) {
		pt__free(v);
		pt__free(s->saved);
		pthread_mutex_unlock(&tz_mu);
		return PT_ENOMEM;
	}
	pt__free(v);
	tzset();
	return 0;
}

static void tz_leave(tz_switch *s)
{
	if (s->had)
		setenv("TZ", s->saved, 1);
	else
		unsetenv("TZ");
	tzset();
	pt__free(s->saved);
	pthread_mutex_unlock(&tz_mu);
}

/* Set while computing in UTC: no zone lookups (and no TZ switch) at all. */
static __thread bool tl_utc;

static int offset_at(int64_t t)
{
	if (tl_utc)
		return 0;
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return 0;
	return (int)tm.tm_gmtoff;
}

int pt__tz_offset(int *out, const char *tz, int64_t t)
{
	int rc = tz && strcmp(tz, "UTC") ? pt__tz_check(tz) : 0;
	tz_switch s;
	if (rc || (rc = tz_enter(&s, tz)))
		return rc;
	*out = offset_at(t);
	tz_leave(&s);
	return 0;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

/*
 * The instant at which local wall time `w` (seconds, as if UTC) happens,
 * under the DST rule of cron.h: the first occurrence, or for a skipped time
 * the instant the gap ends.
 */
static int64_t local_to_utc(int64_t w)
{
	int oa = offset_at(w - 86400), ob = offset_at(w + 86400);
	int64_t ca = w - oa, cb = w - ob;
	bool va = offset_at(ca) == oa, vb = offset_at(cb) == ob;
	if (va && vb)
		return ca < cb ? ca : cb;
	if (va)
		return ca;
	if (vb)
		return cb;
	/* In a gap: the change happens somewhere in [min, max] of the candidates;
	 * find the first instant whose offset is the later one. */
	int64_t lo = ca < cb ? ca : cb, hi = ca < cb ? cb : ca;
	int later = offset_at(hi);
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (offset_at(mid) == later)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static bool day_matches(const pt__cron *c, int y, int m, int d, int wd)
{
	if (!(c->month >> m & 1))
		return false;
	int yi = y - PT_CRON_YEAR_MIN;
	if (yi < 0 || yi > PT_CRON_YEAR_MAX - PT_CRON_YEAR_MIN || !(c->year[yi / 64] >> (yi % 64) & 1))
		return false;
	bool dm = c->dom >> d & 1, wm = c->dow >> wd & 1;
	if (!c->dom_star && !c->dow_star)
		return dm || wm;
	return dm && wm;
}

/* 
 * Horizon: 8 years of days covers every 5-field expression that fires at all
 * (Feb 29 on a given weekday recurs within 28 years only with AND semantics,
 * which never applies to a restricted dom + dow pair); the year field of the
 * cron( form jumps straight to the next year it allows.
 */
#define HORIZON_DAYS (366 * 8)

int pt__cron_next(int64_t *out, const pt__cron *c, const char *tz, int64_t after)
{
	if (!out || !c)
		return pt__err(PT_EINVAL, "pt__cron_next: NULL argument");
	bool utc = !tz || !strcmp(tz, "UTC");
	int rc = utc ? 0 : pt__tz_check(tz);
	tz_switch s;
	if (rc || (!utc && (rc = tz_enter(&s, tz))))
		return rc;
	tl_utc = utc;
	rc = PT_ENOTFOUND;
	/* start at the local date of `after` (one day earlier: a fall-back change
	 * can put the first occurrence of a later local time before `after`) */
	int64_t local = after + offset_at(after);
	int64_t day0 = (local >= 0 ? local / 86400 : (local - 86399) / 86400) - 1;
	int searched = 0;
	for (int64_t day = day0; searched < HORIZON_DAYS; day++, searched++) {
		int y, m, d;
		civil_from_days(day, &y, &m, &d);
		if (y > PT_CRON_YEAR_MAX)
			break;
		int yi = y - PT_CRON_YEAR_MIN;
		if (yi >= 0 && !(c->year[yi / 64] >> (yi % 64) & 1)) {
			/* jump to January 1st of the next allowed year */
			int ny = y + 1;
			while (ny <= PT_CRON_YEAR_MAX &&
			       !(c->year[(ny - PT_CRON_YEAR_MIN) / 64] >> ((ny - PT_CRON_YEAR_MIN) % 64) & 1))
				ny++;
			if (ny > PT_CRON_YEAR_MAX)
				break;
			day = pt__days_from_civil(ny, 1, 1) - 1;
			searched = 0;
			continue;
		}
		int wd = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
		if (!day_matches(c, y, m, d, wd))
			continue;
		for (int h = 0; h < 24; h++) {
			if (!(c->hour >> h & 1))
				continue;
			for (int mi = 0; mi < 60; mi++) {
				if (!(c->minute >> mi & 1))
					continue;
				int64_t w = day * 86400 + h * 3600 + mi * 60;
				if (w + 26 * 3600 <= after)
					continue; /* no zone is more than 26 h from UTC */
				int64_t t = local_to_utc(w);
				if (t > after) {
					*out = t;
					rc = 0;
					goto done;
				}
			}
		}
	}
done:
	tl_utc = false;
	if (!utc)
		tz_leave(&s);
	if (rc == PT_ENOTFOUND) {
		char buf[48];
		pt__err(PT_ENOTFOUND, "the schedule never fires after %s", pt_time_format(after * 1000000000, buf, sizeof buf));
	}
	return rc;
}
