/* time.c - wall and monotonic clocks, ISO-8601 formatting and parsing. */
#include "base/base_int.h"

#include <time.h>

int64_t pt_time_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pt__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *pt_time_format(int64_t ns, char *buf, size_t bufsize)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		sec -= 1;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, bufsize, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
	return buf;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
int64_t pt__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t *pos, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = s[*pos];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
		(*pos)++;
	}
	*out = v;
	return 0;
}

int pt_time_parse(int64_t *out_ns, const char *s)
{
	size_t p = 0;
	int Y, M, D, h = 0, m = 0, sec = 0;
	int64_t frac = 0;
	if (!s)
		return pt__err(PT_EINVAL, "time: no value");
#define EXPECT(c)                                                                                     \
	do {                                                                                          \
		if (s[p] != (c))                                                                      \
			return pt__err(PT_EINVAL, "invalid time \"%s\": expected '%c' at position %zu", \
				       s, (c), p + 1);                                                \
		p++;                                                                                  \
	} while (0)
#define DIGITS(n, out)                                                                                \
	do {                                                                                          \
		if (digits(s, &p, n, out))                                                            \
			return pt__err(PT_EINVAL, "invalid time \"%s\": expected a digit at position %zu", \
				       s, p + 1);                                                     \
	} while (0)
	DIGITS(4, &Y);
	EXPECT('-');
	DIGITS(2, &M);
	EXPECT('-');
	DIGITS(2, &D);
	if (s[p] != 'T' && s[p] != 't' && s[p] != ' ')
		return pt__err(PT_EINVAL, "invalid time \"%s\": expected 'T' at position %zu (a time and a time zone are required)", s, p + 1);
	p++;
	DIGITS(2, &h);
	EXPECT(':');
	DIGITS(2, &m);
	EXPECT(':');
	DIGITS(2, &sec);
	if (s[p] == '.' || s[p] == ',') {
		p++;
		int nd = 0;
		if (s[p] < '0' || s[p] > '9')
			return pt__err(PT_EINVAL, "invalid time \"%s\": expected a digit at position %zu", s, p + 1);
		while (s[p] >= '0' && s[p] <= '9') {
			if (nd < 9) {
				frac = frac * 10 + (s[p] - '0');
				nd++;
			}
			p++;
		}
		while (nd < 9) {
			frac *= 10;
			nd++;
		}
	}
	int64_t off = 0;
	if (s[p] == 'Z' || s[p] == 'z') {
		p++;
	} else if (s[p] == '+' || s[p] == '-') {
		int sign = s[p] == '-' ? -1 : 1, oh, om = 0;
		p++;
		DIGITS(2, &oh);
		if (s[p] == ':')
			p++;
		DIGITS(2, &om);
		if (oh > 23 || om > 59)
			return pt__err(PT_EINVAL, "invalid time \"%s\": bad time-zone offset", s);
		off = sign * (oh * 3600 + om * 60);
	} else {
		return pt__err(PT_EINVAL, "invalid time \"%s\": expected a time zone ('Z' or +hh:mm) at position %zu", s, p + 1);
	}
	if (s[p])
		return pt__err(PT_EINVAL, "invalid time \"%s\": unexpected '%c' at position %zu", s, s[p], p + 1);
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
		return pt__err(PT_EINVAL, "invalid time \"%s\": a field is out of range", s);
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M == 2 && D == 29 && !leap)
		return pt__err(PT_EINVAL, "invalid time \"%s\": %d is not a leap year", s, Y);
	if (sec == 60)
		sec = 59; /* a leap second folds onto the last second */
	int64_t days = pt__days_from_civil(Y, (unsigned)M, (unsigned)D);
	int64_t t = days * 86400 + h * 3600 + m * 60 + sec - off;
	if (t > INT64_MAX / 1000000000 - 1 || t < INT64_MIN / 1000000000 + 1)
		return pt__err(PT_EINVAL, "invalid time \"%s\": out of range", s);
	*out_ns = t * 1000000000 + frac;
	return 0;
#undef EXPECT
#undef DIGITS
}
