/*
 * test_json.c - the JSON form of events (json.c).
 *
 * pt__json_event is fed msgpack written by msgpack-c's packer (an
 * implementation independent of ours) and hostile bytes; pt_event_from_json
 * is checked through the recorder and reader (JSON -> event -> stored ->
 * JSON) and on its error paths.
 */
#include "testutil.h"

#include "format/json_int.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------- */

typedef struct {
	msgpack_sbuffer sb;
	msgpack_packer pk;
} packer;

static void pk_init(packer *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void pk_str(packer *p, const char *s)
{
	msgpack_pack_str(&p->pk, strlen(s));
	msgpack_pack_str_body(&p->pk, s, strlen(s));
}

/* Envelope {seq, time, [step], kind, [name], body: <map of nbody pairs follows>}. */
static void pk_envelope(packer *p, uint64_t seq, int64_t time, int64_t step, const char *kind,
			const char *name, size_t nbody)
{
	msgpack_pack_map(&p->pk, 4 + (step != PT_NO_STEP) + (name != NULL));
	pk_str(p, "seq");
	msgpack_pack_uint64(&p->pk, seq);
	pk_str(p, "time");
	msgpack_pack_int64(&p->pk, time);
	if (step != PT_NO_STEP) {
		pk_str(p, "step");
		msgpack_pack_int64(&p->pk, step);
	}
	pk_str(p, "kind");
	pk_str(p, kind);
	if (name) {
		pk_str(p, "name");
		pk_str(p, name);
	}
	pk_str(p, "body");
	msgpack_pack_map(&p->pk, nbody);
}

/* Render and return the JSON (static buffer reused), failing the test on error. */
static pt__buf out_buf;

static const char *render(const void *mp, size_t len)
{
	out_buf.len = 0;
	TU_OK(pt__json_event(&out_buf, "run-1", "main", (const uint8_t *)mp, len));
	return (const char *)out_buf.data;
}

static int render_rc(const void *mp, size_t len)
{
	out_buf.len = 0;
	return pt__json_event(&out_buf, "r", "s", (const uint8_t *)mp, len);
}

static int teardown_buf(void **state)
{
	(void)state;
	pt__buf_free(&out_buf);
	return 0;
}

/* ---- rendering stored events ------------------------------------------------------ */

static void render_envelope_and_body_in_order(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 7, 1000000005, 1200, "metric", "loss", 1);
	pk_str(&p, "value");
	msgpack_pack_double(&p.pk, 0.25);
	assert_string_equal(render(p.sb.data, p.sb.size),
			    "{\"run\":\"run-1\",\"stream\":\"main\",\"seq\":7,"
			    "\"time\":\"1970-01-01T00:00:01.000000005Z\",\"step\":1200,"
			    "\"kind\":\"metric\",\"name\":\"loss\",\"value\":0.25}");
	msgpack_sbuffer_destroy(&p.sb);
}

static void render_omits_absent_step_name_run_and_stream(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 1, -1, PT_NO_STEP, "note", NULL, 0);
	out_buf.len = 0;
	TU_OK(pt__json_event(&out_buf, NULL, NULL, (const uint8_t *)p.sb.data, p.sb.size));
	assert_string_equal((char *)out_buf.data,
			    "{\"seq\":1,\"time\":\"1969-12-31T23:59:59.999999999Z\",\"kind\":\"note\"}");
	msgpack_sbuffer_destroy(&p.sb);
}

static void render_every_value_type(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 1, 0, -5, "x", NULL, 13);
	pk_str(&p, "nil");
	msgpack_pack_nil(&p.pk);
	pk_str(&p, "bools");
	msgpack_pack_array(&p.pk, 2);
	msgpack_pack_true(&p.pk);
	msgpack_pack_false(&p.pk);
	pk_str(&p, "ints");
	msgpack_pack_array(&p.pk, 8);
	msgpack_pack_int64(&p.pk, 0);
	msgpack_pack_int64(&p.pk, -1);
	msgpack_pack_int64(&p.pk, -32);
	msgpack_pack_int64(&p.pk, -33);
	msgpack_pack_int64(&p.pk, INT64_MIN);
	msgpack_pack_uint64(&p.pk, UINT64_MAX);
	msgpack_pack_int8(&p.pk, 5); /* a positive value in a signed format */
	msgpack_pack_uint16(&p.pk, 65535);
	pk_str(&p, "floats");
	msgpack_pack_array(&p.pk, 10);
	msgpack_pack_double(&p.pk, 0.1);
	msgpack_pack_double(&p.pk, 1.0);
	msgpack_pack_double(&p.pk, -0.0);
	msgpack_pack_double(&p.pk, 1e300);
	msgpack_pack_double(&p.pk, 0.1 + 0.2);
	msgpack_pack_double(&p.pk, 5e-324);
	msgpack_pack_float(&p.pk, 0.5f);
	msgpack_pack_double(&p.pk, NAN);
	msgpack_pack_double(&p.pk, INFINITY);
	msgpack_pack_double(&p.pk, -INFINITY);
	pk_str(&p, "str");
	pk_str(&p, "q\"b\\n\nt\tc\x01\x1f\x7f \xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 \b\f\r");
	pk_str(&p, "bin");
	msgpack_pack_array(&p.pk, 5);
	for (int n = 0; n < 5; n++) {
		msgpack_pack_bin(&p.pk, (size_t)n);
		msgpack_pack_bin_body(&p.pk, "\x00\x01\xfe\xff", (size_t)n);
	}
	pk_str(&p, "nested");
	msgpack_pack_map(&p.pk, 1);
	pk_str(&p, "a");
	msgpack_pack_array(&p.pk, 2);
	msgpack_pack_map(&p.pk, 0);
	msgpack_pack_array(&p.pk, 0);
	pk_str(&p, "keys");
	msgpack_pack_map(&p.pk, 4);
	msgpack_pack_int64(&p.pk, 1);
	msgpack_pack_int64(&p.pk, 10);
	msgpack_pack_nil(&p.pk);
	msgpack_pack_int64(&p.pk, 11);
	msgpack_pack_array(&p.pk, 1);
	pk_str(&p, "k");
	msgpack_pack_int64(&p.pk, 12);
	msgpack_pack_double(&p.pk, 1.5);
	msgpack_pack_int64(&p.pk, 13);
	pk_str(&p, "ext");
	msgpack_pack_ext(&p.pk, 2, 3);
	msgpack_pack_ext_body(&p.pk, "\x01\x02", 2);
	pk_str(&p, "");
	pk_str(&p, "empty key");
	pk_str(&p, "big_str");
	{
		char *big = malloc(70000);
		memset(big, 'z', 69999);
		big[69999] = 0;
		pk_str(&p, big);
		free(big);
	}
	pk_str(&p, "u32");
	msgpack_pack_uint32(&p.pk, 4000000000u);
	pk_str(&p, "i16");
	msgpack_pack_int16(&p.pk, -300);
	const char *j = render(p.sb.data, p.sb.size);
	const char *want_head =
		"{\"run\":\"run-1\",\"stream\":\"main\",\"seq\":1,\"time\":\"1970-01-01T00:00:00.000000000Z\","
		"\"step\":-5,\"kind\":\"x\",\"nil\":null,\"bools\":[true,false],"
		"\"ints\":[0,-1,-32,-33,-9223372036854775808,18446744073709551615,5,65535],"
		"\"floats\":[0.1,1.0,-0.0,1e+300,0.30000000000000004,4.94065645841247e-324,0.5,"
		"{\"$float\":\"NaN\"},{\"$float\":\"Infinity\"},{\"$float\":\"-Infinity\"}],"
		"\"str\":\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f\x7f \xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 \\b\\f\\r\","
		"\"bin\":[{\"$bytes\":\"\"},{\"$bytes\":\"AA==\"},{\"$bytes\":\"AAE=\"},{\"$bytes\":\"AAH+\"},"
		"{\"$bytes\":\"AAH+/w==\"}],"
		"\"nested\":{\"a\":[{},[]]},"
		"\"keys\":{\"1\":10,\"null\":11,\"[\\\"k\\\"]\":12,\"1.5\":13},"
		"\"ext\":{\"$ext\":3,\"data\":{\"$bytes\":\"AQI=\"}},"
		"\"\":\"empty key\",\"big_str\":\"zzz";
	if (strncmp(j, want_head, strlen(want_head)))
		fail_msg("got\n%.1500s\nwant\n%s", j, want_head);
	const char *tail = "zzz\",\"u32\":4000000000,\"i16\":-300}";
	assert_string_equal(j + strlen(j) - strlen(tail), tail);
	assert_int_equal(strlen(j), out_buf.len);
	msgpack_sbuffer_destroy(&p.sb);
}

/* The reference: the first of %.15g/%.16g/%.17g that reads back, ".0" added if integral. */
static void reference_double(double d, char *out, size_t n)
{
	if (isnan(d)) {
		snprintf(out, n, "{\"$float\":\"NaN\"}");
		return;
	}
	if (isinf(d)) {
		snprintf(out, n, "{\"$float\":\"%sInfinity\"}", d < 0 ? "-" : "");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (!strchr(out, '.') && !strchr(out, 'e'))
		strcat(out, ".0");
}

static double p10(int e)
{
	double v = 1;
	for (; e > 0; e--)
		v *= 10;
	for (; e < 0; e++)
		v /= 10;
	return v;
}

static double test_double(int i, uint64_t x)
{
	double d;
	uint64_t bits;
	switch (i % 8) {
	case 0: /* any bit pattern */
		memcpy(&d, &x, 8);
		return d;
	case 1: /* exponents near 1 */
		bits = (x & 0x800fffffffffffffull) | (uint64_t)(1023 + (int)(x >> 52) % 64 - 32) << 52;
		memcpy(&d, &bits, 8);
		return d;
	case 2: /* float32 values widened (typical metrics) */
		return (double)((float)(x % 1000000) / 997.0f);
	case 3: /* short decimals */
		return (double)(int64_t)(x % 2000001 - 1000000) / p10((int)(x % 12));
	case 4: /* around the fixed/exponent switch of %g */
		return p10((int)(x % 40) - 20) * (1 + (double)(x % 7) / 10) * ((x >> 20) % 2 ? -1 : 1);
	case 5: /* integers near 2^53 and beyond */
		return (double)(int64_t)((1ull << 53) + x % 10000 - 5000) * (double)(1 + x % 3);
	case 6: /* ties and near-ties at 15/16 digits */
		return (double)(x % 100000000000000000ull) / 1e17 + 5e-16;
	default: /* tiny, huge and subnormal */
		bits = (x & 0x000fffffffffffffull) | (uint64_t)((x >> 52) % 2047 < 100 ? 0 : (x >> 52) % 2047) << 52;
		memcpy(&d, &bits, 8);
		return d;
	}
}

/* Every double renders like the reference, reads back to the same bits, and stays a float. */
static void render_doubles_round_trip(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static const double fixed[] = {0.1, 0.5, 1.0, -1.0, 0.3, 1e15, 1e16, 1e17, 123456789012345678.0,
				       1e-4, 1e-5, 0.0001234, 9.9999999999999995e-5, 5e-324, 2.2250738585072014e-308,
				       1.7976931348623157e308, 999999999999999.9, 9999999999999998.0,
				       0.30000000000000004, 1.0 / 3, 2.0 / 3, 100.0, 1e21, 1e22, 1e23};
	size_t nfixed = sizeof fixed / sizeof *fixed;
	for (size_t i = 0; i < 200000 + nfixed; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d = i < nfixed ? fixed[i] : test_double((int)i, x);
		if (i % 3 == 1)
			d = -d;
		packer p;
		pk_init(&p);
		pk_envelope(&p, 1, 0, PT_NO_STEP, "m", NULL, 1);
		pk_str(&p, "v");
		msgpack_pack_double(&p.pk, d);
		const char *j = render(p.sb.data, p.sb.size);
		const char *v = strstr(j, "\"v\":");
		assert_non_null(v);
		v += 4;
		char want[64];
		reference_double(d, want, sizeof want);
		size_t vl = strlen(v) - 1;
		if (vl != strlen(want) || memcmp(v, want, vl))
			fail_msg("%a: rendered %.*s, reference %s", d, (int)vl, v, want);
		if (isfinite(d)) {
			char *end;
			double back = strtod(v, &end);
			assert_string_equal(end, "}");
			assert_memory_equal(&back, &d, 8);
		}
		/* the public formatter (the CLI's) writes the same text */
		char pub[PT_DOUBLE_TEXT_MAX];
		int pn = pt_format_double(d, pub, sizeof pub);
		if (isfinite(d)) {
			if (pn != (int)vl || memcmp(pub, v, vl))
				fail_msg("%a: pt_format_double %s, rendered %.*s", d, pub, (int)vl, v);
		} else {
			assert_string_equal(pub, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
		}
		msgpack_sbuffer_destroy(&p.sb);
	}
}

static void format_double_checks_its_buffer(void **state)
{
	(void)state;
	char b[PT_DOUBLE_TEXT_MAX];
	assert_int_equal(pt_format_double(0.1, b, sizeof b - 1), PT_EINVAL);
	assert_int_equal(pt_format_double(0.1, NULL, 64), PT_EINVAL);
	assert_int_equal(pt_format_double(-0.0, b, sizeof b), 4);
	assert_string_equal(b, "-0.0");
	assert_int_equal(pt_format_double(1.0, b, sizeof b), 3);
	assert_string_equal(b, "1.0");
	pt_format_double(-2.2250738585072014e-308, b, sizeof b);
	assert_string_equal(b, "-2.2250738585072014e-308");
}

/* The renderer's own time formatting agrees with pt_time_format() everywhere. */
static void render_times_like_pt_time_format(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1dull;
	int64_t fixed[] = {0, -1, 1, 951782400000000000LL /* 2000-02-29 */, 4102444799999999999LL,
			   -62167219200000000LL /* 0000-01-01 */, -62167219200000000LL - 1,
			   INT64_MAX - 1, INT64_MIN + 1, INT64_MAX};
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t t = i < 10 ? fixed[i] : i % 2 ? (int64_t)x : (int64_t)(x % 8000000000000000000ull);
		packer p;
		pk_init(&p);
		pk_envelope(&p, 1, t, PT_NO_STEP, "k", NULL, 0);
		out_buf.len = 0;
		TU_OK(pt__json_event(&out_buf, NULL, NULL, (const uint8_t *)p.sb.data, p.sb.size));
		char want[128], tb[48];
		snprintf(want, sizeof want, "{\"seq\":1,\"time\":\"%s\",\"kind\":\"k\"}",
			 pt_time_format(t, tb, sizeof tb));
		assert_string_equal((char *)out_buf.data, want);
		msgpack_sbuffer_destroy(&p.sb);
	}
}

static void render_appends_and_keeps_the_buffer_on_error(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 3, 0, PT_NO_STEP, "k", NULL, 1);
	pk_str(&p, "a");
	msgpack_pack_int64(&p.pk, 1);
	pt__buf b = {0};
	TU_OK(pt__buf_append(&b, "prefix|", 7));
	TU_OK(pt__json_event(&b, NULL, NULL, (const uint8_t *)p.sb.data, p.sb.size));
	size_t one = b.len;
	assert_int_equal(pt__json_event(&b, NULL, NULL, (const uint8_t *)p.sb.data, p.sb.size - 1), PT_ECORRUPT);
	assert_int_equal(b.len, one);
	assert_int_equal(b.data[b.len], 0);
	assert_string_equal((char *)b.data,
			    "prefix|{\"seq\":3,\"time\":\"1970-01-01T00:00:00.000000000Z\",\"kind\":\"k\",\"a\":1}");
	pt__buf_free(&b);
	msgpack_sbuffer_destroy(&p.sb);
}

static void render_rejects_every_truncation(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 300, 1795680000000000000LL, 70000, "decision", "lr", 3);
	pk_str(&p, "set");
	msgpack_pack_map(&p.pk, 1);
	pk_str(&p, "lr");
	msgpack_pack_double(&p.pk, 0.001);
	pk_str(&p, "reason");
	pk_str(&p, "plateau for a long time, more than thirty-one bytes");
	pk_str(&p, "blob");
	msgpack_pack_bin(&p.pk, 300);
	char blob[300] = {0};
	msgpack_pack_bin_body(&p.pk, blob, 300);
	render(p.sb.data, p.sb.size);
	for (size_t n = 0; n < p.sb.size; n++) {
		/* a copy of exactly n bytes, so that a read past the end is an ASan error */
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, p.sb.data, n);
		int rc = render_rc(cut, n);
		if (rc != PT_ECORRUPT)
			fail_msg("truncated at %zu of %zu: rc %d", n, p.sb.size, rc);
		assert_non_null(strstr(pt_error_last(), "malformed event"));
		free(cut);
	}
	msgpack_sbuffer_destroy(&p.sb);
}

typedef struct {
	const char *what;
	const char *bytes;
	size_t len;
} bad_case;

#define BAD(w, b) {w, b, sizeof(b) - 1}
/* \x81: map of 1; "\xa3seq" etc. are fixstr keys. */
#define SEQ "\xa3seq\x01"
#define TIME "\xa4time\x00"
#define KIND "\xa4kind\xa1k"
#define BODY "\xa4" "body\x80"

static void render_rejects_malformed_events(void **state)
{
	(void)state;
	static const bad_case cases[] = {
		BAD("not a map", "\x91\x01"),
		BAD("empty input", ""),
		BAD("trailing byte", "\x84" SEQ TIME KIND BODY "\xc0"),
		BAD("type byte 0xc1", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xc1"),
		BAD("missing kind", "\x83" SEQ TIME BODY),
		BAD("missing body", "\x83" SEQ TIME KIND),
		BAD("missing seq", "\x83" TIME KIND BODY),
		BAD("missing time", "\x83" SEQ KIND BODY),
		BAD("body not a map", "\x84" SEQ TIME KIND "\xa4" "body\x90"),
		BAD("unknown envelope key", "\x85" SEQ TIME KIND BODY "\xa3xyz\x01"),
		BAD("duplicate key", "\x85" SEQ TIME KIND BODY "\xa3seq\x02"),
		BAD("seq zero", "\x84\xa3seq\x00" TIME KIND BODY),
		BAD("seq negative", "\x84\xa3seq\xff" TIME KIND BODY),
		BAD("time a string", "\x84" SEQ "\xa4time\xa1x" KIND BODY),
		BAD("time beyond int64", "\x84" SEQ "\xa4time\xcf\xff\xff\xff\xff\xff\xff\xff\xff" KIND BODY),
		BAD("step a float", "\x85" SEQ TIME "\xa4step\xcb\x00\x00\x00\x00\x00\x00\x00\x00" KIND BODY),
		BAD("kind empty", "\x84" SEQ TIME "\xa4kind\xa0" BODY),
		BAD("kind not a string", "\x84" SEQ TIME "\xa4kind\x01" BODY),
		BAD("name not a string", "\x85" SEQ TIME KIND "\xa4name\xc0" BODY),
		BAD("envelope key not a string", "\x84\x01\x01" TIME KIND BODY),
		BAD("reserved key in the body", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa4step\x01"),
		BAD("str32 length beyond the end", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xdb\xff\xff\xff\xff"),
		BAD("bin32 length beyond the end", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xc6\x7f\xff\xff\xff"),
		BAD("map32 count beyond the end", "\x84" SEQ TIME KIND "\xa4" "body\xdf\xff\xff\xff\xff"),
		BAD("array32 count beyond the end", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xdd\x00\x10\x00\x00"),
		BAD("overlong UTF-8", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xa2\xc0\x80"),
		BAD("UTF-8 surrogate", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xa3\xed\xa0\x80"),
		BAD("truncated UTF-8", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xa2\xe6\xbc"),
		BAD("UTF-8 beyond U+10FFFF", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xa4\xf4\x90\x80\x80"),
		BAD("lone continuation byte", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x\xa1\x80"),
		BAD("invalid UTF-8 in a key", "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1\xff\x01"),
		BAD("invalid UTF-8 in the kind", "\x84" SEQ TIME "\xa4kind\xa1\xfe" BODY),
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint8_t *copy = malloc(cases[i].len ? cases[i].len : 1);
		memcpy(copy, cases[i].bytes, cases[i].len);
		int rc = render_rc(copy, cases[i].len);
		if (rc != PT_ECORRUPT)
			fail_msg("%s: rc %d (%s)", cases[i].what, rc, rc ? pt_error_last() : (char *)out_buf.data);
		free(copy);
	}
	/* and a valid minimal one, to show the cases differ from it only in their flaw */
	assert_string_equal(render("\x84" SEQ TIME KIND BODY, sizeof("\x84" SEQ TIME KIND BODY) - 1),
			    "{\"run\":\"run-1\",\"stream\":\"main\",\"seq\":1,"
			    "\"time\":\"1970-01-01T00:00:00.000000000Z\",\"kind\":\"k\"}");
}

static void render_bounds_nesting_depth(void **state)
{
	(void)state;
	for (int depth = PT_EVENT_MAX_DEPTH - 1; depth <= PT_EVENT_MAX_DEPTH + 3; depth++) {
		packer p;
		pk_init(&p);
		pk_envelope(&p, 1, 0, PT_NO_STEP, "k", NULL, 1);
		pk_str(&p, "a");
		for (int i = 0; i < depth; i++)
			msgpack_pack_array(&p.pk, 1);
		msgpack_pack_nil(&p.pk);
		int rc = render_rc(p.sb.data, p.sb.size);
		/* the builder allows PT_EVENT_MAX_DEPTH containers inside the body */
		if (depth <= PT_EVENT_MAX_DEPTH)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, PT_ECORRUPT);
		msgpack_sbuffer_destroy(&p.sb);
	}
	/* a deep hostile document must not recurse without bound */
	size_t n = 100000;
	uint8_t *deep = malloc(n + 64);
	size_t k = 0;
	static const char hdr[] = "\x84" SEQ TIME KIND "\xa4" "body\x81\xa1x";
	memcpy(deep, hdr, sizeof hdr - 1);
	k = sizeof hdr - 1;
	for (size_t i = 0; i < n; i++)
		deep[k++] = 0x91;
	deep[k++] = 0xc0;
	assert_int_equal(render_rc(deep, k), PT_ECORRUPT);
	free(deep);
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Mutations of valid events (bit flips, byte changes, cuts, insertions):
 * never a crash or an out-of-bounds read (exact-size copies, run under ASan),
 * PT_ECORRUPT or success, and on success the output is JSON that parses.
 */
static void render_survives_mutated_events(void **state)
{
	(void)state;
	packer p;
	pk_init(&p);
	pk_envelope(&p, 77, 1795680000000000000LL, 12, "decision", "lr", 5);
	pk_str(&p, "set");
	msgpack_pack_map(&p.pk, 2);
	pk_str(&p, "lr");
	msgpack_pack_double(&p.pk, 0.001);
	msgpack_pack_int64(&p.pk, 7);
	msgpack_pack_array(&p.pk, 3);
	msgpack_pack_nil(&p.pk);
	msgpack_pack_float(&p.pk, 1.5f);
	msgpack_pack_bin(&p.pk, 3);
	msgpack_pack_bin_body(&p.pk, "abc", 3);
	pk_str(&p, "reason");
	pk_str(&p, "plateau \xc3\xa9");
	pk_str(&p, "n");
	msgpack_pack_uint64(&p.pk, 1ull << 40);
	pk_str(&p, "neg");
	msgpack_pack_int64(&p.pk, -100000);
	pk_str(&p, "deep");
	for (int i = 0; i < 5; i++)
		msgpack_pack_map(&p.pk, 1), msgpack_pack_int64(&p.pk, i);
	msgpack_pack_str(&p.pk, 0);
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "note", NULL));
	uint64_t x = 88172645463325252ull;
	size_t ok = 0;
	for (int iter = 0; iter < 30000; iter++) {
		size_t n = p.sb.size;
		uint8_t *m = malloc(n + 8);
		memcpy(m, p.sb.data, n);
		int nmut = 1 + (int)(rng_next(&x) % 4);
		for (int k = 0; k < nmut; k++) {
			uint64_t r = rng_next(&x);
			size_t pos = (size_t)(r >> 8) % n;
			switch (r % 4) {
			case 0: m[pos] ^= (uint8_t)(1u << ((r >> 4) % 8)); break;
			case 1: m[pos] = (uint8_t)(r >> 40); break;
			case 2: n = pos; break;
			default:
				if (n < p.sb.size + 8) {
					memmove(m + pos + 1, m + pos, n - pos);
					m[pos] = (uint8_t)(r >> 32);
					n++;
				}
			}
			if (n == 0)
				break;
		}
		uint8_t *exact = malloc(n ? n : 1);
		memcpy(exact, m, n);
		free(m);
		int rc = render_rc(exact, n);
		if (rc == 0) {
			ok++;
			const char *j = (const char *)out_buf.data;
			assert_int_equal(strlen(j), out_buf.len);
			/*
			 * A key with U+0000 and duplicate keys (1 and "1" both render as
			 * "1") are valid JSON (RFC 8259) that emit refuses on purpose.
			 */
			if (pt_event_from_json(ev, j, out_buf.len) &&
			    strstr(pt_error_last(), "invalid JSON") &&
			    !strstr(pt_error_last(), "NUL byte in object key") &&
			    !strstr(pt_error_last(), "duplicate object key"))
				fail_msg("rendered text is not JSON: %s: %s", pt_error_last(), j);
		} else if (rc != PT_ECORRUPT) {
			fail_msg("mutation %d: rc %d (%s)", iter, rc, pt_error_last());
		}
		free(exact);
	}
	assert_true(ok > 0);
	pt_event_free(ev);
	msgpack_sbuffer_destroy(&p.sb);
}

/* Mutated JSON text: PT_EINVAL with a message, or an event; never a crash. */
static void from_json_survives_mutated_text(void **state)
{
	(void)state;
	static const char base[] =
		"{\"kind\":\"decision\",\"name\":\"lr\",\"step\":12,\"time\":\"2026-11-26T08:00:00Z\","
		"\"set\":{\"lr\":0.001,\"b\":{\"$bytes\":\"AAE=\"}},\"f\":{\"$float\":\"NaN\"},"
		"\"a\":[1,-2,3.5e10,18446744073709551615,true,null,\"\\u00e9\\n\"]}";
	static const char alphabet[] = "{}[]\":,0123456789.eE+-$\\ntu ";
	pt_event *ev;
	TU_OK(pt_event_new(&ev, "note", NULL));
	TU_OK(pt_event_from_json(ev, base, sizeof base - 1));
	uint64_t x = 0x1234567887654321ull;
	size_t ok = 0;
	for (int iter = 0; iter < 30000; iter++) {
		char m[sizeof base + 8];
		size_t n = sizeof base - 1;
		memcpy(m, base, n);
		int nmut = 1 + (int)(rng_next(&x) % 3);
		for (int k = 0; k < nmut && n; k++) {
			uint64_t r = rng_next(&x);
			size_t pos = (size_t)(r >> 8) % n;
			char c = alphabet[(r >> 32) % (sizeof alphabet - 1)];
			switch (r % 3) {
			case 0: m[pos] = c; break;
			case 1: memmove(m + pos, m + pos + 1, n - pos - 1); n--; break;
			default:
				if (n < sizeof m - 1) {
					memmove(m + pos + 1, m + pos, n - pos);
					m[pos] = c;
					n++;
				}
			}
		}
		char *exact = malloc(n ? n : 1);
		memcpy(exact, m, n);
		int rc = pt_event_from_json(ev, exact, n);
		if (rc == 0)
			ok++;
		else if (rc != PT_EINVAL || !*pt_error_last())
			fail_msg("%.*s: rc %d", (int)n, exact, rc);
		free(exact);
	}
	assert_true(ok > 0);
	pt_event_free(ev);
}

/* ---- JSON -> event ----------------------------------------------------------------- */

typedef struct {
	char *dir;
	pt_store *st;
	pt_recorder *rec;
	pt_event *ev;
	int n;
} rt_fixture;

static int rt_setup(void **state)
{
	rt_fixture *f = calloc(1, sizeof *f);
	f->dir = tu_tmpdir();
	f->st = tu_store(f->dir);
	TU_OK(pt_event_new(&f->ev, "note", NULL));
	*state = f;
	return 0;
}

static int rt_teardown(void **state)
{
	rt_fixture *f = *state;
	pt_recorder_free(f->rec);
	pt_event_free(f->ev);
	pt_store_free(f->st);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* JSON in, stored, read back as JSON: the read-back text (run/stream/seq removed). */
static char *through_the_store(rt_fixture *f, const char *json)
{
	char run[32];
	snprintf(run, sizeof run, "rt%d", f->n++);
	TU_OK(pt_event_from_json(f->ev, json, strlen(json)));
	TU_OK(pt_recorder_open(&f->rec, f->st, run, NULL, NULL));
	TU_OK(pt_recorder_append(f->rec, f->ev, NULL));
	TU_OK(pt_recorder_close(f->rec));
	f->rec = NULL;
	pt_iter *it;
	TU_OK(pt_iter_open(&it, f->st, run, NULL, NULL));
	const pt_event_view *v;
	TU_OK(pt_iter_next(it, &v));
	const char *j;
	size_t jl;
	TU_OK(pt_ev_json(v, &j, &jl));
	assert_int_equal(strlen(j), jl);
	/* drop {"run":"rtN","stream":"main","seq":1, */
	const char *rest = strstr(j, "\"time\"");
	assert_non_null(rest);
	char *out = malloc(strlen(rest) + 2);
	out[0] = '{';
	strcpy(out + 1, rest);
	assert_int_equal(pt_iter_next(it, &v), PT_ITEROVER);
	pt_iter_free(it);
	return out;
}

static void expect_round_trip(rt_fixture *f, const char *in, const char *want)
{
	char *got = through_the_store(f, in);
	if (strcmp(got, want))
		fail_msg("JSON %s\n  read back %s\n  expected  %s", in, got, want);
	free(got);
	/* and the read-back form is a fixed point */
	got = through_the_store(f, want);
	if (strcmp(got, want))
		fail_msg("JSON %s\n  read back %s", want, got);
	free(got);
}

static void from_json_round_trips_through_the_store(void **state)
{
	rt_fixture *f = *state;
	expect_round_trip(f, "{\"kind\":\"metric\",\"name\":\"loss\",\"step\":3,\"time\":\"2026-11-26T08:00:00.5+01:00\",\"value\":0.25}",
			  "{\"time\":\"2026-11-26T07:00:00.500000000Z\",\"step\":3,\"kind\":\"metric\",\"name\":\"loss\",\"value\":0.25}");
	expect_round_trip(f, "{ \"value\" : 1 , \"kind\" : \"k\" , \"time\" : 5 }",
			  "{\"time\":\"1970-01-01T00:00:00.000000005Z\",\"kind\":\"k\",\"value\":1}");
	expect_round_trip(f,
			  "{\"time\":1000,\"kind\":\"k\",\"a\":[null,true,false,-9223372036854775808,9223372036854775807,"
			  "9223372036854775808,18446744073709551615,1.0,-0.0,1e-7,{\"$float\":\"NaN\"},"
			  "{\"$float\":\"-Infinity\"},{\"$bytes\":\"AAH+/w==\"},{\"$bytes\":\"AAE\"},\"\\u0000\\u00e9\\ud83d\\ude00\"],"
			  "\"m\":{\"x\":{\"y\":{}},\"z\":[]},\"$bytes\":\"not special at the top\"}",
			  "{\"time\":\"1970-01-01T00:00:00.000001000Z\",\"kind\":\"k\",\"a\":[null,true,false,"
			  "-9223372036854775808,9223372036854775807,9223372036854775808,18446744073709551615,1.0,-0.0,"
			  "1e-07,{\"$float\":\"NaN\"},{\"$float\":\"-Infinity\"},{\"$bytes\":\"AAH+/w==\"},"
			  "{\"$bytes\":\"AAE=\"},\"\\u0000\xc3\xa9\xf0\x9f\x98\x80\"],\"m\":{\"x\":{\"y\":{}},\"z\":[]},"
			  "\"$bytes\":\"not special at the top\"}");
	/* big integers among reals, also in ignored envelope fields: each real keeps its value */
	expect_round_trip(f,
			  "{\"seq\":[18446744073709551615,0.5],\"time\":1000,\"kind\":\"k\",\"a\":[1.5,18446744073709551615,2.5],"
			  "\"run\":1e3,\"b\":9300000000000000000,\"c\":3.25}",
			  "{\"time\":\"1970-01-01T00:00:00.000001000Z\",\"kind\":\"k\",\"a\":[1.5,18446744073709551615,2.5],"
			  "\"b\":9300000000000000000,\"c\":3.25}");
	/* "$bytes"-looking maps that are not exactly {"$bytes": string} stay maps */
	expect_round_trip(f, "{\"time\":1000,\"kind\":\"k\",\"m\":{\"$bytes\":\"AA==\",\"x\":1}}",
			  "{\"time\":\"1970-01-01T00:00:00.000001000Z\",\"kind\":\"k\",\"m\":{\"$bytes\":\"AA==\",\"x\":1}}");
}

static void from_json_nesting_up_to_the_limit(void **state)
{
	rt_fixture *f = *state;
	char json[512], want[512];
	int d = PT_EVENT_MAX_DEPTH;
	int n = snprintf(json, sizeof json, "{\"time\":1000,\"kind\":\"k\",\"a\":");
	int w = snprintf(want, sizeof want, "{\"time\":\"1970-01-01T00:00:00.000001000Z\",\"kind\":\"k\",\"a\":");
	for (int i = 0; i < d; i++) {
		json[n++] = '[';
		want[w++] = '[';
	}
	for (int i = 0; i < d; i++) {
		json[n++] = ']';
		want[w++] = ']';
	}
	strcpy(json + n, "}");
	strcpy(want + w, "}");
	expect_round_trip(f, json, want);
	/* one more level is refused */
	n = snprintf(json, sizeof json, "{\"kind\":\"k\",\"a\":");
	for (int i = 0; i <= d; i++)
		json[n++] = '[';
	for (int i = 0; i <= d; i++)
		json[n++] = ']';
	strcpy(json + n, "}");
	assert_int_equal(pt_event_from_json(f->ev, json, strlen(json)), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "field \"a"));
}

typedef struct {
	const char *json;
	const char *message; /* a part of the error message */
} err_case;

static void from_json_errors_name_the_field(void **state)
{
	rt_fixture *f = *state;
	static const err_case cases[] = {
		{"", "invalid JSON"},
		{"{", "invalid JSON at column"},
		{"{\"kind\":\"k\"} {}", "invalid JSON"},
		{"[1]", "must be a JSON object, not an array"},
		{"\"kind\"", "invalid JSON"},
		{"{}", "field \"kind\": required"},
		{"{\"kind\":null}", "field \"kind\": required"},
		{"{\"kind\":3}", "field \"kind\": must be a string"},
		{"{\"kind\":\"a b\"}", "field \"kind\""},
		{"{\"kind\":\"\"}", "field \"kind\""},
		{"{\"kind\":\"k\\u0000\"}", "field \"kind\": contains a NUL"},
		{"{\"kind\":\"k\",\"name\":[]}", "field \"name\": must be a string"},
		{"{\"kind\":\"k\",\"step\":1.5}", "field \"step\": must be an integer"},
		{"{\"kind\":\"k\",\"step\":\"3\"}", "field \"step\": must be an integer"},
		{"{\"kind\":\"k\",\"step\":18446744073709551615}", "field \"step\": must be an integer"},
		{"{\"kind\":\"k\",\"time\":\"2026-13-01T00:00:00Z\"}", "field \"time\": invalid time"},
		{"{\"kind\":\"k\",\"time\":\"2026-11-26\"}", "field \"time\""},
		{"{\"kind\":\"k\",\"time\":1.5}", "field \"time\": must be an ISO-8601 string or integer"},
		{"{\"kind\":\"k\",\"time\":true}", "field \"time\""},
		{"{\"kind\":\"k\",\"b\":{\"$bytes\":\"A\"}}", "field \"b\": \"$bytes\" is not valid base64"},
		{"{\"kind\":\"k\",\"b\":{\"$bytes\":\"A?==\"}}", "field \"b\": \"$bytes\" is not valid base64 (at character 2)"},
		{"{\"kind\":\"k\",\"b\":{\"$bytes\":\"QR==\"}}", "not valid base64"},
		{"{\"kind\":\"k\",\"b\":{\"$bytes\":7}}", "field \"b\": \"$bytes\" must be a base64 string"},
		{"{\"kind\":\"k\",\"f\":{\"$float\":\"nan\"}}", "field \"f\": \"$float\" must be"},
		{"{\"kind\":\"k\",\"set\":{\"lr\":{\"$float\":1}}}", "field \"set.lr\": \"$float\" must be"},
		{"{\"kind\":\"k\",\"a\":[0,[1,{\"$bytes\":\"*\"}]]}", "field \"a[1][1]\""},
		{"{\"kind\":\"k\",\"big\":18446744073709551616}", "field \"big\": integer out of range"},
		{"{\"kind\":\"k\",\"big\":-9223372036854775809}", "field \"big\": integer out of range"},
		{"{\"kind\":\"k\",\"a\":1,\"a\":2}", "duplicate object key"},
		{"{\"kind\":\"k\",\"s\":\"\xff\"}", "invalid JSON"},
		{"{\"kind\":\"k\",\"s\":\"\\ud800\"}", "invalid JSON"},
		{"{\"kind\":\"k\",\"k\\u0000\":1}", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = pt_event_from_json(f->ev, cases[i].json, strlen(cases[i].json));
		if (rc != PT_EINVAL || !strstr(pt_error_last(), cases[i].message))
			fail_msg("%s: rc %d, message \"%s\", expected \"%s\"", cases[i].json, rc,
				 pt_error_last(), cases[i].message);
	}
	/* an embedded NUL ends nothing: the length is what counts */
	assert_int_equal(pt_event_from_json(f->ev, "{\"kind\":\"k\"}\0garbage", 20), PT_EINVAL);
	TU_OK(pt_event_from_json(f->ev, "{\"kind\":\"k\"}\0garbage", 12));
	assert_int_equal(pt_event_from_json(NULL, "{}", 2), PT_EINVAL);
	/* the builder stays usable after errors */
	char *got = through_the_store(f, "{\"kind\":\"k\",\"time\":1000}");
	assert_string_equal(got, "{\"time\":\"1970-01-01T00:00:00.000001000Z\",\"kind\":\"k\"}");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(render_envelope_and_body_in_order, teardown_buf),
		cmocka_unit_test_teardown(render_omits_absent_step_name_run_and_stream, teardown_buf),
		cmocka_unit_test_teardown(render_every_value_type, teardown_buf),
		cmocka_unit_test_teardown(render_doubles_round_trip, teardown_buf),
		cmocka_unit_test(format_double_checks_its_buffer),
		cmocka_unit_test_teardown(render_times_like_pt_time_format, teardown_buf),
		cmocka_unit_test_teardown(render_appends_and_keeps_the_buffer_on_error, teardown_buf),
		cmocka_unit_test_teardown(render_rejects_every_truncation, teardown_buf),
		cmocka_unit_test_teardown(render_rejects_malformed_events, teardown_buf),
		cmocka_unit_test_teardown(render_bounds_nesting_depth, teardown_buf),
		cmocka_unit_test_teardown(render_survives_mutated_events, teardown_buf),
		cmocka_unit_test(from_json_survives_mutated_text),
		cmocka_unit_test_setup_teardown(from_json_round_trips_through_the_store, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(from_json_nesting_up_to_the_limit, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(from_json_errors_name_the_field, rt_setup, rt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
