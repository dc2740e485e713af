/*
 * json.c - the JSON form of events (docs/FORMAT.md, "JSON form").
 *
 * Two directions with different needs:
 *  - JSON -> builder (pt_event_from_json, `provtrace emit`): correctness and
 *    clear errors matter more than speed, so parsing is jansson's.  This is
 *    the only file that includes <jansson.h>.
 *  - stored msgpack -> JSON (pt__json_event, `log --json`, pt_ev_json): on
 *    the read path of whole streams, so it is a hand-written msgpack decoder
 *    feeding a hand-written JSON writer with no allocation per value.
 */
#include "base/base_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>

/* ---- base64 (RFC 4648, standard alphabet, padded) ------------------------------ */

/* Encoding is base/b64.c's; decoding stays here because `emit`'s messages name the
 * position of a bad character. */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode `s` (padding optional, no whitespace) into `out` (at least
 * len/4*3+3 bytes).  Returns the decoded length, or -1 with *bad set to the
 * position of the first offending character.
 */
static ssize_t b64_decode(const char *s, size_t len, uint8_t *out, size_t *bad)
{
	size_t pad = 0;
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	size_t n = len - pad;
	if ((pad && len % 4) || n % 4 == 1) {
		*bad = len;
		return -1;
	}
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			*bad = i;
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Non-zero leftover bits mean a non-canonical encoding (e.g. "QR=="). */
	if (bits && (acc & ((1u << bits) - 1))) {
		*bad = n - 1;
		return -1;
	}
	return (ssize_t)o;
}

/* ---- msgpack reading ------------------------------------------------------------- */

enum { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_F32, MP_F64, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT };

typedef struct {
	const uint8_t *base, *p, *end;
	bool in_key; /* rendering a non-string map key (see put_key) */
} mp_rd;

typedef struct {
	int type;
	uint32_t len; /* bytes of str/bin/ext, elements of array, pairs of map */
	const uint8_t *data; /* str/bin/ext bytes */
	int8_t ext;
	union {
		uint64_t u;
		int64_t i;
		double d;
		int b;
	} v;
} mp_obj;

static int mp_corrupt(const mp_rd *r, const char *what)
{
	return pt__err(PT_ECORRUPT, "malformed event: %s at byte %zu", what, (size_t)(r->p - r->base));
}

/* Report a problem located at `pos` (the start of the offending value). */
static int corrupt_at(mp_rd *r, const uint8_t *pos, const char *what)
{
	r->p = pos;
	return mp_corrupt(r, what);
}

/*
 * Read the header of the next object (and, for str/bin/ext, its bytes;
 * containers' elements follow) with the library's bounds-checked decoder
 * (mpk.h): every length is checked against the bytes left before it is
 * used, and an element count can never exceed the bytes that could hold
 * the elements.
 */
static int mp_next(mp_rd *r, mp_obj *o)
{
	if (r->p >= r->end)
		return mp_corrupt(r, "truncated value");
	const uint8_t *p = r->p;
	mpk_obj m = {0};
	if (mpk_read(&p, r->end, &m))
		return mp_corrupt(r, *r->p == 0xc1 ? "invalid type byte 0xc1"
						   : "truncated header, or a length or element count beyond the end of the event");
	static const int types[] = {[MPK_NIL] = MP_NIL, [MPK_BOOL] = MP_BOOL, [MPK_UINT] = MP_UINT,
				    [MPK_INT] = MP_INT, [MPK_FLOAT32] = MP_F32, [MPK_FLOAT64] = MP_F64,
				    [MPK_STR] = MP_STR, [MPK_BIN] = MP_BIN, [MPK_ARRAY] = MP_ARRAY,
				    [MPK_MAP] = MP_MAP, [MPK_EXT] = MP_EXT};
	o->type = types[m.type];
	o->len = m.len;
	o->data = m.ptr;
	o->ext = m.ext_type;
	switch (m.type) {
	case MPK_BOOL: o->v.b = m.b; break;
	case MPK_UINT: o->v.u = m.u; break;
	case MPK_INT: o->v.i = m.i; break;
	case MPK_FLOAT32:
	case MPK_FLOAT64: o->v.d = m.d; break;
	default: break;
	}
	r->p = p;
	return 0;
}

/* ---- JSON writing ------------------------------------------------------------------ */

/*
 * `depth` below counts the containers that enclose a value inside the body
 * (the body map itself not counted); like the builder, at most
 * PT_EVENT_MAX_DEPTH containers may be nested in the body.  This also bounds
 * the recursion on hostile input.
 */
#define MAX_DEPTH PT_EVENT_MAX_DEPTH

static inline int put(pt__buf *b, const void *p, size_t n) { return pt__buf_append(b, p, n); }

static inline int put_c(pt__buf *b, char c)
{
	if (b->len == b->cap && pt__buf_reserve(b, 1))
		return PT_ENOMEM;
	b->data[b->len++] = (uint8_t)c;
	return 0;
}

#define PUT_LIT(b, s) put((b), (s), sizeof(s) - 1)

static int put_u64(pt__buf *b, uint64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof tmp, *s = e;
	do {
		*--s = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put(b, s, (size_t)(e - s));
}

static int put_i64(pt__buf *b, int64_t v)
{
	if (v >= 0)
		return put_u64(b, (uint64_t)v);
	if (put_c(b, '-'))
		return PT_ENOMEM;
	return put_u64(b, (uint64_t)0 - (uint64_t)v);
}

/*
 * The time as pt_time_format() writes it ("YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"),
 * without gmtime_r and printf: on the `log --json` path this is per event.
 * Years outside 0..9999 go through pt_time_format().
 */
static int put_time(pt__buf *b, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		sec -= 1;
	}
	int64_t days = sec / 86400, rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	/* civil_from_days (Howard Hinnant) */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	char t[48];
	if (y < 0 || y > 9999) {
		pt_time_format(ns, t, sizeof t);
		return put(b, t, strlen(t));
	}
	int64_t hh = rem / 3600, mm = rem / 60 % 60, ss = rem % 60;
	char *p = t;
#define D2(v) (*p++ = (char)('0' + (v) / 10), *p++ = (char)('0' + (v) % 10))
	D2(y / 100);
	D2(y % 100);
	*p++ = '-';
	D2(m);
	*p++ = '-';
	D2(d);
	*p++ = 'T';
	D2(hh);
	*p++ = ':';
	D2(mm);
	*p++ = ':';
	D2(ss);
	*p++ = '.';
#undef D2
	for (int i = 8; i >= 0; i--) {
		p[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	p += 9;
	*p++ = 'Z';
	return put(b, t, (size_t)(p - t));
}

/*
 * Floats are written as the first of %.15g, %.16g, %.17g that reads back to
 * the same double (%.17g always does), with ".0" added when the text would
 * read back as an integer.  Done naively that is three printf and two strtod
 * calls for a typical metric (a float32 value widened to double needs 17
 * digits) and dominates `log --json`.  So: one "%.16e" gives the 17 correctly
 * rounded digits; the 15- and 16-digit candidates are rounded from them
 * (exact unless the dropped digits are "50" / "5", where the true tail may
 * be on either side: then printf decides); a candidate is checked with
 * Clinger's exact fast path (digits <= 2^53, |power of ten| <= 22) before
 * falling back to strtod.  The output is identical to the naive loop
 * (tests/test_json.c compares them).
 */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Does g[0].g[1..k) x 10^x (negated if neg) read back as d? */
static bool reads_back(const char *g, int k, int x, bool neg, double d)
{
	int e = x - (k - 1);
	uint64_t m = 0;
	for (int i = 0; i < k; i++)
		m = m * 10 + (uint64_t)(g[i] - '0');
	if (m <= (1ull << 53) && e >= -22 && e <= 22) {
		double v = e < 0 ? (double)m / pow10_exact[-e] : (double)m * pow10_exact[e];
		return (neg ? -v : v) == d;
	}
	char s[48];
	snprintf(s, sizeof s, "%s%.*se%d", neg ? "-" : "", k, g, e);
	return strtod(s, NULL) == d;
}

/* The %.{P}g layout of digits g[0..k) (k >= 1, no trailing zero) with decimal exponent x. */
static int layout_g(char *out, bool neg, const char *g, int k, int x, int P)
{
	char *p = out;
	if (neg)
		*p++ = '-';
	if (x < -4 || x >= P) {
		*p++ = g[0];
		if (k > 1) {
			*p++ = '.';
			memcpy(p, g + 1, (size_t)k - 1);
			p += k - 1;
		}
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		int ax = x < 0 ? -x : x;
		if (ax >= 100)
			*p++ = (char)('0' + ax / 100);
		*p++ = (char)('0' + ax / 10 % 10);
		*p++ = (char)('0' + ax % 10);
	} else if (x >= 0) {
		for (int i = 0; i <= x; i++)
			*p++ = i < k ? g[i] : '0';
		if (k > x + 1) {
			*p++ = '.';
			memcpy(p, g + x + 1, (size_t)(k - x - 1));
			p += k - x - 1;
		}
	} else {
		*p++ = '0';
		*p++ = '.';
		for (int i = 0; i < -x - 1; i++)
			*p++ = '0';
		memcpy(p, g, (size_t)k);
		p += k;
	}
	return (int)(p - out);
}

/* The text of a finite non-zero `d` into tmp[48]; its length, or -1 (error set). */
static inline int fmt_finite(double d, char *tmp)
{
	char e17[40], g[24];
	int n = snprintf(e17, sizeof e17, "%.16e", d);
	bool neg = e17[0] == '-';
	const char *s = e17 + neg;
	/* s = "D.DDDDDDDDDDDDDDDDe+XX" */
	if (n < 22 + neg || s[1] != '.' || s[18] != 'e') {
		pt__err(PT_ERROR, "unexpected float formatting \"%s\"", e17);
		return -1;
	}
	char dig[17];
	dig[0] = s[0];
	memcpy(dig + 1, s + 2, 16);
	int x = atoi(s + 19);
	n = -1;
	for (int P = 15; P <= 16 && n < 0; P++) {
		bool ambiguous = P == 15 ? dig[15] == '5' && dig[16] == '0' : dig[16] == '5';
		if (ambiguous) {
			int m = snprintf(tmp, 46, "%.*g", P, d);
			if (strtod(tmp, NULL) == d)
				n = m;
			continue;
		}
		int xx = x;
		memcpy(g, dig, (size_t)P);
		if (dig[P] >= '5') {
			int i = P - 1;
			while (i >= 0 && g[i] == '9')
				g[i--] = '0';
			if (i < 0) {
				g[0] = '1';
				xx++;
			} else {
				g[i]++;
			}
		}
		int k = P;
		while (k > 1 && g[k - 1] == '0')
			k--;
		if (reads_back(g, k, xx, neg, d))
			n = layout_g(tmp, neg, g, k, xx, P);
	}
	if (n < 0) {
		int k = 17;
		while (k > 1 && dig[k - 1] == '0')
			k--;
		n = layout_g(tmp, neg, dig, k, x, 17);
	}
	if (!memchr(tmp, '.', (size_t)n) && !memchr(tmp, 'e', (size_t)n)) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	return n;
}

static int put_double(pt__buf *b, double d)
{
	if (isnan(d))
		return PUT_LIT(b, "{\"$float\":\"NaN\"}");
	if (isinf(d))
		return d > 0 ? PUT_LIT(b, "{\"$float\":\"Infinity\"}")
			     : PUT_LIT(b, "{\"$float\":\"-Infinity\"}");
	if (d == 0)
		return signbit(d) ? PUT_LIT(b, "-0.0") : PUT_LIT(b, "0.0");
	char tmp[48];
	int n = fmt_finite(d, tmp);
	return n < 0 ? PT_ERROR : put(b, tmp, (size_t)n);
}

int pt_format_double(double d, char *buf, size_t cap)
{
	if (!buf || cap < PT_DOUBLE_TEXT_MAX)
		return pt__err(PT_EINVAL, "pt_format_double: the buffer must hold PT_DOUBLE_TEXT_MAX bytes");
	const char *lit = isnan(d) ? "NaN" : isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
			: d == 0 ? (signbit(d) ? "-0.0" : "0.0") : NULL;
	if (lit) {
		size_t n = strlen(lit);
		memcpy(buf, lit, n + 1);
		return (int)n;
	}
	char tmp[48];
	int n = fmt_finite(d, tmp);
	if (n < 0 || n >= PT_DOUBLE_TEXT_MAX)
		return n < 0 ? PT_ERROR : pt__err(PT_ERROR, "pt_format_double: %d characters", n);
	memcpy(buf, tmp, (size_t)n);
	buf[n] = 0;
	return n;
}

/* 1: must be escaped (controls, '"', '\\'); 2: start of a multi-byte UTF-8 sequence. */
static const uint8_t esc_class[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 2,
};

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f)) /* overlong, surrogate */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)) /* overlong, > U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

/* A JSON string; the bytes must be valid UTF-8 (else PT_ECORRUPT). */
static int put_str(pt__buf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* worst case: every byte becomes \u00XX */
	if (n > SIZE_MAX / 2 || pt__buf_reserve(b, n + 2))
		return PT_ENOMEM;
	b->data[b->len++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && !esc_class[s[run]])
			run++;
		if (run > i) {
			if (put(b, s + i, run - i))
				return PT_ENOMEM;
			i = run;
			if (i == n)
				break;
		}
		uint8_t c = s[i];
		if (esc_class[c] == 2) {
			size_t k = utf8_seq(s + i, n - i);
			if (!k)
				return pt__err(PT_ECORRUPT, "malformed event: invalid UTF-8 in a string");
			if (put(b, s + i, k))
				return PT_ENOMEM;
			i += k;
			continue;
		}
		char e[6] = {'\\', 0};
		size_t el = 2;
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			el = 6;
		}
		if (put(b, e, el))
			return PT_ENOMEM;
		i++;
	}
	return put_c(b, '"');
}

static int put_cstr(pt__buf *b, const char *s) { return put_str(b, (const uint8_t *)s, strlen(s)); }

static int put_bytes(pt__buf *b, const uint8_t *p, size_t n)
{
	size_t el = pt__b64_len(n);
	if (pt__buf_reserve(b, el + 16)) /* the prefix, the digits, the NUL pt__b64_encode adds */
		return PT_ENOMEM;
	memcpy(b->data + b->len, "{\"$bytes\":\"", 11);
	b->len += 11;
	pt__b64_encode(p, n, (char *)b->data + b->len);
	b->len += el;
	return PUT_LIT(b, "\"}");
}

static int put_value(pt__buf *b, mp_rd *r, int depth);

/*
 * A map key.  JSON keys are strings: a string key is written as is, any
 * other key as the string of its JSON rendering (1 -> "1", nil -> "null").
 */
static int put_key(pt__buf *b, mp_rd *r, int depth)
{
	const uint8_t *save = r->p;
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_STR)
		return put_str(b, o.data, o.len);
	/* A non-string key inside a non-string key would be escaped once per
	 * level: 2^depth bytes of backslashes from a few input bytes (found by
	 * fuzz_event: 2.7 KB rendered to 47 MB).  The builder only writes string
	 * keys, so such nesting is refused as damage; one level stays readable. */
	if (r->in_key)
		return mp_corrupt(r, "a map key nested inside a non-string map key");
	r->p = save;
	pt__buf tmp = {0};
	r->in_key = true;
	rc = put_value(&tmp, r, depth);
	r->in_key = false;
	if (!rc)
		rc = put_str(b, tmp.data, tmp.len);
	pt__buf_free(&tmp);
	return rc;
}

static int put_value(pt__buf *b, mp_rd *r, int depth)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	switch (o.type) {
	case MP_NIL: return PUT_LIT(b, "null");
	case MP_BOOL: return o.v.b ? PUT_LIT(b, "true") : PUT_LIT(b, "false");
	case MP_UINT: return put_u64(b, o.v.u);
	case MP_INT: return put_i64(b, o.v.i);
	case MP_F32:
	case MP_F64: return put_double(b, o.v.d);
	case MP_STR: return put_str(b, o.data, o.len);
	case MP_BIN: return put_bytes(b, o.data, o.len);
	case MP_EXT:
		/* Never produced by the builder; shown rather than refused. */
		if (PUT_LIT(b, "{\"$ext\":") || put_i64(b, o.ext) || PUT_LIT(b, ",\"data\":") ||
		    put_bytes(b, o.data, o.len) || put_c(b, '}'))
			return pt_error_last_code();
		return 0;
	case MP_ARRAY:
	case MP_MAP:
		if (depth + 1 > MAX_DEPTH)
			return mp_corrupt(r, "nesting deeper than the limit");
		if (put_c(b, o.type == MP_MAP ? '{' : '['))
			return PT_ENOMEM;
		for (uint32_t i = 0; i < o.len; i++) {
			if (i && put_c(b, ','))
				return PT_ENOMEM;
			if (o.type == MP_MAP) {
				if ((rc = put_key(b, r, depth + 1)) || (rc = put_c(b, ':')))
					return rc;
			}
			if ((rc = put_value(b, r, depth + 1)))
				return rc;
		}
		return put_c(b, o.type == MP_MAP ? '}' : ']');
	}
	return mp_corrupt(r, "unknown value");
}

/* Skip one value, checking its structure (used to find the body before rendering it). */
static int mp_skip(mp_rd *r, int depth)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type != MP_ARRAY && o.type != MP_MAP)
		return 0;
	if (depth + 1 > MAX_DEPTH)
		return mp_corrupt(r, "nesting deeper than the limit");
	uint64_t n = o.type == MP_MAP ? (uint64_t)o.len * 2 : o.len;
	for (uint64_t i = 0; i < n; i++)
		if ((rc = mp_skip(r, depth + 1)))
			return rc;
	return 0;
}

static bool mp_int64(const mp_obj *o, int64_t *out)
{
	if (o->type == MP_INT) {
		*out = o->v.i;
		return true;
	}
	if (o->type == MP_UINT && o->v.u <= INT64_MAX) {
		*out = (int64_t)o->v.u;
		return true;
	}
	return false;
}

static bool key_is(const mp_obj *k, const char *s)
{
	size_t n = strlen(s);
	return k->len == n && !memcmp(k->data, s, n);
}

static const char *const envelope_keys[] = {"run", "stream", "seq", "time", "step", "kind", "name"};

static bool is_envelope_key(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < sizeof envelope_keys / sizeof *envelope_keys; i++)
		if (strlen(envelope_keys[i]) == n && !memcmp(envelope_keys[i], p, n))
			return true;
	return false;
}

static int render_event(pt__buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len)
{
	mp_rd r = {mp, mp, mp + len, false};
	mp_obj o, k;
	int rc = mp_next(&r, &o);
	if (rc)
		return rc;
	if (o.type != MP_MAP)
		return mp_corrupt(&r, "an event is not a map");
	uint64_t seq = 0;
	int64_t time = 0, step = 0;
	bool has_seq = false, has_time = false, has_step = false;
	mp_obj kind = {0}, name = {0};
	bool has_kind = false, has_name = false;
	mp_rd body = {0};
	bool has_body = false;
	for (uint32_t i = 0; i < o.len; i++) {
		if ((rc = mp_next(&r, &k)))
			return rc;
		if (k.type != MP_STR)
			return mp_corrupt(&r, "an envelope key is not a string");
		const uint8_t *vpos = r.p;
		mp_obj v;
		bool *seen;
		if (key_is(&k, "body")) {
			seen = &has_body;
			body = r;
			if ((rc = mp_skip(&r, -1)))
				return rc;
			mp_rd tmp = body;
			if (mp_next(&tmp, &v) || v.type != MP_MAP)
				return corrupt_at(&r, vpos, "the body is not a map");
		} else {
			if ((rc = mp_next(&r, &v)))
				return rc;
			if (key_is(&k, "seq")) {
				seen = &has_seq;
				if (v.type != MP_UINT || v.v.u == 0)
					return corrupt_at(&r, vpos, "seq is not a positive integer");
				seq = v.v.u;
			} else if (key_is(&k, "time")) {
				seen = &has_time;
				if (!mp_int64(&v, &time))
					return corrupt_at(&r, vpos, "time is not a 64-bit integer");
			} else if (key_is(&k, "step")) {
				seen = &has_step;
				if (!mp_int64(&v, &step) || step == PT_NO_STEP)
					return corrupt_at(&r, vpos, "step is not a 64-bit integer");
			} else if (key_is(&k, "kind")) {
				seen = &has_kind;
				if (v.type != MP_STR || v.len == 0 || v.len > PT_KIND_MAX)
					return corrupt_at(&r, vpos, "kind is not a string of 1-64 bytes");
				kind = v;
			} else if (key_is(&k, "name")) {
				seen = &has_name;
				if (v.type != MP_STR || v.len > PT_NAME_MAX)
					return corrupt_at(&r, vpos, "name is not a string of at most 1024 bytes");
				name = v;
			} else {
				return corrupt_at(&r, vpos, "unknown envelope key");
			}
		}
		if (*seen)
			return corrupt_at(&r, vpos, "duplicate envelope key");
		*seen = true;
	}
	if (r.p != r.end)
		return mp_corrupt(&r, "trailing bytes after the event");
	if (!has_seq || !has_time || !has_kind || !has_body)
		return pt__err(PT_ECORRUPT, "malformed event: missing %s", !has_seq ? "seq"
									 : !has_time ? "time"
									 : !has_kind ? "kind"
										     : "body");

	if (put_c(out, '{'))
		return PT_ENOMEM;
	if (run && (PUT_LIT(out, "\"run\":") || put_cstr(out, run) || put_c(out, ',')))
		return pt_error_last_code();
	if (stream && (PUT_LIT(out, "\"stream\":") || put_cstr(out, stream) || put_c(out, ',')))
		return pt_error_last_code();
	if (PUT_LIT(out, "\"seq\":") || put_u64(out, seq) || PUT_LIT(out, ",\"time\":\"") ||
	    put_time(out, time) || put_c(out, '"'))
		return pt_error_last_code();
	if (has_step && (PUT_LIT(out, ",\"step\":") || put_i64(out, step)))
		return pt_error_last_code();
	if (PUT_LIT(out, ",\"kind\":") || (rc = put_str(out, kind.data, kind.len)))
		return rc ? rc : pt_error_last_code();
	if (has_name && (PUT_LIT(out, ",\"name\":") || (rc = put_str(out, name.data, name.len))))
		return rc ? rc : pt_error_last_code();

	mp_obj bm;
	if ((rc = mp_next(&body, &bm)))
		return rc;
	for (uint32_t i = 0; i < bm.len; i++) {
		const uint8_t *kpos = body.p;
		mp_rd peek = body;
		if ((rc = mp_next(&peek, &k)))
			return rc;
		if (k.type == MP_STR && is_envelope_key(k.data, k.len))
			return corrupt_at(&body, kpos, "reserved key in the body");
		if ((rc = put_c(out, ',')) || (rc = put_key(out, &body, 0)) || (rc = put_c(out, ':')) ||
		    (rc = put_value(out, &body, 0)))
			return rc;
	}
	if ((rc = put_c(out, '}')) || (rc = pt__buf_reserve(out, 1)))
		return rc;
	out->data[out->len] = 0;
	return 0;
}

int pt__json_event(pt__buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len)
{
	if (!out || (!mp && len))
		return pt__err(PT_EINVAL, "pt__json_event: NULL argument");
	size_t start = out->len;
	int rc = render_event(out, run, stream, mp, len);
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	return rc;
}

/* One msgpack value (exactly `len` bytes) as JSON, appended to `out`. */
int pt__json_value(pt__buf *out, const uint8_t *mp, size_t len)
{
	mp_rd r = {mp, mp, mp + len, false};
	size_t start = out->len;
	int rc = put_value(out, &r, 0);
	if (!rc && r.p != r.end)
		rc = mp_corrupt(&r, "trailing bytes after the value");
	if (!rc)
		rc = pt__buf_reserve(out, 1);
	if (rc) {
		out->len = start;
		return rc;
	}
	out->data[out->len] = 0;
	return 0;
}

/* A JSON string literal for `n` bytes of UTF-8. */
int pt__json_string(pt__buf *out, const char *s, size_t n)
{
	int rc = put_str(out, (const uint8_t *)s, n);
	if (!rc && !(rc = pt__buf_reserve(out, 1)))
		out->data[out->len] = 0;
	return rc;
}

/* ---- JSON -> builder --------------------------------------------------------------- */

/*
 * jansson holds integers as int64 and refuses larger ones, but a uint64
 * body value above INT64_MAX is stored as msgpack uint and shown by
 * `log --json` as its decimal.  So that such output can be fed back, a
 * pre-scan finds integer literals outside int64 and rewrites each as a real
 * ("<digits>.0"), remembering the position of that real among all reals of
 * the document.  jansson keeps object members in document order, so walking
 * the parsed tree in order meets the reals in the same order.
 */
typedef struct {
	size_t ordinal; /* index among the real-number tokens of the document */
	size_t end;     /* offset just after the token in the original text */
	bool in_range;  /* fits uint64 */
	uint64_t value;
} big_int;

typedef struct {
	pt_event *ev;
	big_int *big;
	size_t nbig, next_big;
	size_t real_ordinal;
	char path[256];
	size_t pathlen;
} fj_ctx;

static int scan_big_ints(const char *s, size_t len, big_int **out, size_t *count)
{
	big_int *v = NULL;
	size_t n = 0, cap = 0, ordinal = 0;
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (c != '-' && (c < '0' || c > '9')) {
			i++;
			continue;
		}
		size_t j = i + (c == '-');
		size_t dstart = j;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
		if (j < len && (s[j] == '.' || s[j] == 'e' || s[j] == 'E')) {
			while (j < len && strchr("0123456789+-.eE", s[j]))
				j++;
			ordinal++;
			i = j;
			continue;
		}
		/* An integer token: does it fit int64? */
		uint64_t u = 0;
		bool overflow = false;
		for (size_t k = dstart; k < j; k++) {
			unsigned d = (unsigned)(s[k] - '0');
			if (u > (UINT64_MAX - d) / 10)
				overflow = true;
			else
				u = u * 10 + d;
		}
		bool neg = c == '-';
		bool fits = !overflow && (neg ? u <= (uint64_t)INT64_MAX + 1 : u <= (uint64_t)INT64_MAX);
		if (!fits && j > dstart) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				big_int *nv = pt__realloc(v, cap * sizeof *v);
				if (!nv) {
					pt__free(v);
					return PT_ENOMEM;
				}
				v = nv;
			}
			v[n++] = (big_int){ordinal, j, !overflow && !neg, u};
			ordinal++;
		}
		i = j;
	}
	*out = v;
	*count = n;
	return 0;
}

static int fj_err(fj_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fj_err(fj_ctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return pt__err(PT_EINVAL, "field \"%s\": %s", c->path, msg);
}

/* Wrap the builder's message (already set) with the field path. */
static int fj_wrap(fj_ctx *c, int rc) { return pt__err_wrap(rc, "field \"%s\"", c->path); }

static size_t path_push_key(fj_ctx *c, const char *key)
{
	size_t old = c->pathlen;
	int n = snprintf(c->path + old, sizeof c->path - old, "%s%s", old ? "." : "", key);
	c->pathlen = n < 0 ? old : old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
	return old;
}

static size_t path_push_index(fj_ctx *c, size_t idx)
{
	size_t old = c->pathlen;
	int n = snprintf(c->path + old, sizeof c->path - old, "[%zu]", idx);
	c->pathlen = n < 0 ? old : old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
	return old;
}

static void path_pop(fj_ctx *c, size_t old)
{
	c->pathlen = old;
	c->path[old] = 0;
}

/* Advance the real counter over a subtree that is not built (envelope fields). */
static void count_reals(fj_ctx *c, json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_REAL:
		if (c->next_big < c->nbig && c->big[c->next_big].ordinal == c->real_ordinal)
			c->next_big++;
		c->real_ordinal++;
		break;
	case JSON_OBJECT:
		json_object_foreach(v, k, x) count_reals(c, x);
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, x) count_reals(c, x);
		break;
	default:
		break;
	}
}

/* A real in document order: was it an integer literal outside int64? */
static const big_int *take_real(fj_ctx *c)
{
	const big_int *b = NULL;
	if (c->next_big < c->nbig && c->big[c->next_big].ordinal == c->real_ordinal)
		b = &c->big[c->next_big++];
	c->real_ordinal++;
	return b;
}

static int build_value(fj_ctx *c, const char *key, json_t *v, int depth);

/* {"$bytes": "..."} or {"$float": "..."}: 1 if handled, 0 if an ordinary map, <0 error. */
static int build_special(fj_ctx *c, const char *key, json_t *v)
{
	if (json_object_size(v) != 1)
		return 0;
	json_t *x;
	if ((x = json_object_get(v, "$bytes"))) {
		if (!json_is_string(x))
			return fj_err(c, "\"$bytes\" must be a base64 string");
		const char *s = json_string_value(x);
		size_t n = json_string_length(x), bad = 0;
		uint8_t *buf = pt__malloc(n / 4 * 3 + 3);
		if (!buf)
			return PT_ENOMEM;
		ssize_t m = b64_decode(s, n, buf, &bad);
		int rc;
		if (m < 0)
			rc = fj_err(c, "\"$bytes\" is not valid base64 (at character %zu)", bad + 1);
		else if ((rc = pt_event_bytes(c->ev, key, buf, (size_t)m)))
			rc = fj_wrap(c, rc);
		pt__free(buf);
		return rc ? rc : 1;
	}
	if ((x = json_object_get(v, "$float"))) {
		const char *s = json_is_string(x) ? json_string_value(x) : NULL;
		double d;
		if (s && !strcmp(s, "NaN"))
			d = NAN;
		else if (s && (!strcmp(s, "Infinity") || !strcmp(s, "+Infinity")))
			d = INFINITY;
		else if (s && !strcmp(s, "-Infinity"))
			d = -INFINITY;
		else
			return fj_err(c, "\"$float\" must be \"NaN\", \"Infinity\" or \"-Infinity\"");
		int rc = pt_event_double(c->ev, key, d);
		return rc ? fj_wrap(c, rc) : 1;
	}
	return 0;
}

static int build_value(fj_ctx *c, const char *key, json_t *v, int depth)
{
	int rc = 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		if ((rc = build_special(c, key, v)))
			return rc < 0 ? rc : 0;
		if (depth >= PT_EVENT_MAX_DEPTH)
			return fj_err(c, "nested deeper than %d levels", PT_EVENT_MAX_DEPTH);
		if ((rc = pt_event_begin_map(c->ev, key)))
			return fj_wrap(c, rc);
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			size_t old = path_push_key(c, k);
			rc = build_value(c, k, x, depth + 1);
			path_pop(c, old);
			if (rc)
				return rc;
		}
		if ((rc = pt_event_end(c->ev)))
			return fj_wrap(c, rc);
		return 0;
	}
	case JSON_ARRAY: {
		if (depth >= PT_EVENT_MAX_DEPTH)
			return fj_err(c, "nested deeper than %d levels", PT_EVENT_MAX_DEPTH);
		if ((rc = pt_event_begin_array(c->ev, key)))
			return fj_wrap(c, rc);
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			size_t old = path_push_index(c, i);
			rc = build_value(c, NULL, x, depth + 1);
			path_pop(c, old);
			if (rc)
				return rc;
		}
		if ((rc = pt_event_end(c->ev)))
			return fj_wrap(c, rc);
		return 0;
	}
	case JSON_STRING:
		rc = pt_event_strn(c->ev, key, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		rc = pt_event_int(c->ev, key, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL: {
		const big_int *b = take_real(c);
		if (b && !b->in_range)
			return fj_err(c, "integer out of range (-2^63 .. 2^64-1)");
		rc = b ? pt_event_uint(c->ev, key, b->value) : pt_event_double(c->ev, key, json_real_value(v));
		break;
	}
	case JSON_TRUE:
	case JSON_FALSE:
		rc = pt_event_bool(c->ev, key, json_is_true(v));
		break;
	case JSON_NULL:
		rc = pt_event_nil(c->ev, key);
		break;
	}
	return rc ? fj_wrap(c, rc) : 0;
}

/* A string envelope field without NUL bytes; NULL (no error) when absent or null. */
static int get_plain_string(fj_ctx *c, json_t *root, const char *field, bool required,
			    const char **out)
{
	json_t *v = json_object_get(root, field);
	*out = NULL;
	size_t old = path_push_key(c, field);
	int rc = 0;
	if (!v || json_is_null(v)) {
		if (required)
			rc = fj_err(c, "required (a string)");
	} else if (!json_is_string(v)) {
		rc = fj_err(c, "must be a string");
	} else if (strlen(json_string_value(v)) != json_string_length(v)) {
		rc = fj_err(c, "contains a NUL character");
	} else {
		*out = json_string_value(v);
	}
	if (rc)
		return rc;
	path_pop(c, old);
	return 0;
}

static int build_event(fj_ctx *c, json_t *root)
{
	const char *kind, *name, *time_s;
	int rc;
	if ((rc = get_plain_string(c, root, "kind", true, &kind)) ||
	    (rc = get_plain_string(c, root, "name", false, &name)))
		return rc;
	/* Reset twice so that an error is blamed on the right field. */
	path_push_key(c, "kind");
	if ((rc = pt_event_reset(c->ev, kind, NULL)))
		return fj_wrap(c, rc);
	path_pop(c, 0);
	if (name) {
		path_push_key(c, "name");
		if ((rc = pt_event_reset(c->ev, kind, name)))
			return fj_wrap(c, rc);
		path_pop(c, 0);
	}

	json_t *v = json_object_get(root, "step");
	if (v && !json_is_null(v)) {
		path_push_key(c, "step");
		if (!json_is_integer(v))
			return fj_err(c, "must be an integer");
		if (json_integer_value(v) == PT_NO_STEP)
			return fj_err(c, "out of range");
		if ((rc = pt_event_set_step(c->ev, (int64_t)json_integer_value(v))))
			return fj_wrap(c, rc);
		path_pop(c, 0);
	}
	v = json_object_get(root, "time");
	if (v && !json_is_null(v)) {
		int64_t ns;
		if (json_is_integer(v)) {
			ns = (int64_t)json_integer_value(v);
		} else {
			path_push_key(c, "time");
			if (!json_is_string(v))
				return fj_err(c, "must be an ISO-8601 string or integer nanoseconds");
			path_pop(c, 0);
			if ((rc = get_plain_string(c, root, "time", false, &time_s)))
				return rc;
			path_push_key(c, "time");
			if ((rc = pt_time_parse(&ns, time_s)))
				return fj_wrap(c, rc);
			path_pop(c, 0);
		}
		path_push_key(c, "time");
		if ((rc = pt_event_set_time(c->ev, ns)))
			return fj_wrap(c, rc);
		path_pop(c, 0);
	}

	const char *k;
	json_object_foreach(root, k, v) {
		bool envelope = false;
		for (size_t i = 0; i < sizeof envelope_keys / sizeof *envelope_keys; i++)
			envelope = envelope || !strcmp(k, envelope_keys[i]);
		envelope = envelope || !strcmp(k, "lineage"); /* read back by `log --json`; the recorder assigns it */
		if (envelope) {
			count_reals(c, v);
			continue;
		}
		path_push_key(c, k);
		if ((rc = build_value(c, k, v, 0)))
			return rc;
		path_pop(c, 0);
	}
	return 0;
}

/*
 * Called by pt_set_allocator() (alloc.c): jansson's trees are allocated
 * through the library's allocator too, so failure injection reaches them.
 * jansson's allocator is process-wide; alloc.h documents that.
 */
/* jansson reports a failed allocation in its lexer as a syntax error; this
 * flag tells pt_event_from_json that the "invalid JSON" was really ENOMEM. */
static _Thread_local bool json_alloc_failed;
static void *json_alloc(size_t n)
{
	void *p = pt__malloc(n);
	if (!p)
		json_alloc_failed = true;
	return p;
}
/*
 * jansson allocates through pt__malloc/pt__free, so that a replaceable
 * allocator (alloc.h) and failure injection see its memory too.  Installed
 * once, before this file's first jansson call: the wrappers read the
 * allocator in effect at each call, so a later pt_set_allocator needs no
 * re-install, and the ground layer (alloc.c) need not know about jansson.
 */
static pthread_once_t json_alloc_once = PTHREAD_ONCE_INIT;
static void json_use_allocator(void) { json_set_alloc_funcs(json_alloc, pt__free); }

int pt_event_from_json(pt_event *ev, const char *json, size_t len)
{
	if (!ev || (!json && len))
		return pt__err(PT_EINVAL, "pt_event_from_json: NULL argument");
	pthread_once(&json_alloc_once, json_use_allocator);
	big_int *big = NULL;
	size_t nbig = 0;
	char *copy = NULL;
	json_t *root = NULL;
	int rc = scan_big_ints(json ? json : "", len, &big, &nbig);
	if (rc)
		return rc;
	const char *text = json ? json : "";
	size_t tlen = len;
	if (nbig) {
		/* insert ".0" after each out-of-range integer literal */
		copy = pt__malloc(len + 2 * nbig);
		if (!copy) {
			rc = PT_ENOMEM;
			goto done;
		}
		size_t from = 0, to = 0;
		for (size_t i = 0; i < nbig; i++) {
			memcpy(copy + to, json + from, big[i].end - from);
			to += big[i].end - from;
			from = big[i].end;
			copy[to++] = '.';
			copy[to++] = '0';
		}
		memcpy(copy + to, json + from, len - from);
		to += len - from;
		text = copy;
		tlen = to;
	}
	json_error_t jerr;
	json_alloc_failed = false;
	root = json_loadb(text, tlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root && (json_alloc_failed || json_error_code(&jerr) == json_error_out_of_memory)) {
		rc = pt__err(PT_ENOMEM, "out of memory parsing JSON");
		goto done;
	}
	if (root && json_alloc_failed) {
		/* jansson drops the byte it could not append to a string and goes
		 * on: a value may be silently cut, so nothing parsed is trusted */
		rc = pt__err(PT_ENOMEM, "out of memory parsing JSON");
		goto done;
	}
	if (!root) {
		/* columns are counted in the rewritten text; close enough for big-int lines */
		if (jerr.line > 1)
			rc = pt__err(PT_EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
				     jerr.column, jerr.text);
		else
			rc = pt__err(PT_EINVAL, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		goto done;
	}
	if (!json_is_object(root)) {
		rc = pt__err(PT_EINVAL, "an event must be a JSON object, not %s",
			     json_is_array(root) ? "an array" : "a scalar");
		goto done;
	}
	fj_ctx c = {.ev = ev, .big = big, .nbig = nbig};
	rc = build_event(&c, root);
done:
	json_decref(root);
	pt__free(copy);
	pt__free(big);
	return rc;
}

/* ---- small JSON records read field by field (proof bundles) ---------------------------- */

int pt__json_fields(const char *text, size_t len, pt__jfield *f, size_t n, size_t max_arr, char *why, size_t wl)
{
	pthread_once(&json_alloc_once, json_use_allocator);
	for (size_t i = 0; i < n; i++) {
		f[i].present = false;
		f[i].s = NULL;
		f[i].arr = NULL;
		f[i].n = 0;
		f[i].u = 0;
	}
	json_error_t jerr;
	json_alloc_failed = false;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc = 0;
	if (json_alloc_failed || (!root && json_error_code(&jerr) == json_error_out_of_memory)) {
		rc = pt__err(PT_ENOMEM, "out of memory parsing JSON");
		goto done;
	}
	if (!root) {
		snprintf(why, wl, "not JSON (line %d, column %d: %s)", jerr.line, jerr.column, jerr.text);
		rc = -1;
		goto done;
	}
	if (!json_is_object(root)) {
		snprintf(why, wl, "not a JSON object");
		rc = -1;
		goto done;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		size_t i = 0;
		while (i < n && strcmp(f[i].key, key))
			i++;
		if (i == n) {
			snprintf(why, wl, "unknown field \"%.60s\"", key);
			rc = -1;
			goto done;
		}
		f[i].present = true;
		if (f[i].type == PT_JF_UINT) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				snprintf(why, wl, "field \"%s\" must be a non-negative integer", key);
				rc = -1;
				goto done;
			}
			f[i].u = (uint64_t)json_integer_value(v);
		} else if (f[i].type == PT_JF_STR) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
				snprintf(why, wl, "field \"%s\" must be a string", key);
				rc = -1;
				goto done;
			}
			f[i].slen = json_string_length(v);
			if (!(f[i].s = pt__strdup(json_string_value(v)))) {
				rc = PT_ENOMEM;
				goto done;
			}
		} else {
			if (!json_is_array(v) || json_array_size(v) > max_arr) {
				snprintf(why, wl, "field \"%s\" must be an array of at most %zu strings", key, max_arr);
				rc = -1;
				goto done;
			}
			f[i].n = json_array_size(v);
			if (!(f[i].arr = pt__calloc(f[i].n ? f[i].n : 1, sizeof *f[i].arr))) {
				rc = PT_ENOMEM;
				goto done;
			}
			for (size_t k = 0; k < f[i].n; k++) {
				json_t *e = json_array_get(v, k);
				if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
					snprintf(why, wl, "element %zu of \"%s\" must be a string", k, key);
					rc = -1;
					goto done;
				}
				if (!(f[i].arr[k] = pt__strdup(json_string_value(e)))) {
					rc = PT_ENOMEM;
					goto done;
				}
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].required && !f[i].present) {
			snprintf(why, wl, "field \"%s\" is missing", f[i].key);
			rc = -1;
			goto done;
		}
done:
	json_decref(root);
	if (rc)
		pt__jfields_free(f, n);
	return rc;
}

void pt__jfields_free(pt__jfield *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pt__free(f[i].s);
		f[i].s = NULL;
		for (size_t k = 0; k < f[i].n && f[i].arr; k++)
			pt__free(f[i].arr[k]);
		pt__free(f[i].arr);
		f[i].arr = NULL;
		f[i].n = 0;
	}
}
