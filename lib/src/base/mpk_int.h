/*
 * base/mpk_int.h - minimal msgpack encoding (inline, for the append hot path) and a
 * bounds-checked decoder.  Encoding always picks the smallest form, so the
 * same event always encodes to the same bytes (content addressing needs it).
 */
#ifndef PT_MPK_H
#define PT_MPK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#define MPK_MAX_HDR 9

static inline uint8_t *mpk_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return p + 2; }
static inline uint8_t *mpk_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
	return p + 4;
}
static inline uint8_t *mpk_be64(uint8_t *p, uint64_t v) { mpk_be32(p, (uint32_t)(v >> 32)); return mpk_be32(p + 4, (uint32_t)v); }

static inline uint8_t *mpk_uint(uint8_t *p, uint64_t v)
{
	if (v < 128) { *p = (uint8_t)v; return p + 1; }
	if (v <= 0xff) { p[0] = 0xcc; p[1] = (uint8_t)v; return p + 2; }
	if (v <= 0xffff) { p[0] = 0xcd; return mpk_be16(p + 1, (uint16_t)v); }
	if (v <= 0xffffffffu) { p[0] = 0xce; return mpk_be32(p + 1, (uint32_t)v); }
	p[0] = 0xcf;
	return mpk_be64(p + 1, v);
}

static inline uint8_t *mpk_int(uint8_t *p, int64_t v)
{
	if (v >= 0) return mpk_uint(p, (uint64_t)v);
	if (v >= -32) { *p = (uint8_t)(int8_t)v; return p + 1; }
	if (v >= INT8_MIN) { p[0] = 0xd0; p[1] = (uint8_t)(int8_t)v; return p + 2; }
	if (v >= INT16_MIN) { p[0] = 0xd1; return mpk_be16(p + 1, (uint16_t)(int16_t)v); }
	if (v >= INT32_MIN) { p[0] = 0xd2; return mpk_be32(p + 1, (uint32_t)(int32_t)v); }
	p[0] = 0xd3;
	return mpk_be64(p + 1, (uint64_t)v);
}

static inline uint8_t *mpk_double(uint8_t *p, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	p[0] = 0xcb;
	return mpk_be64(p + 1, u);
}

static inline uint8_t *mpk_float(uint8_t *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	p[0] = 0xca;
	return mpk_be32(p + 1, u);
}

static inline uint8_t *mpk_str_hdr(uint8_t *p, uint32_t n)
{
	if (n < 32) { *p = (uint8_t)(0xa0 | n); return p + 1; }
	if (n <= 0xff) { p[0] = 0xd9; p[1] = (uint8_t)n; return p + 2; }
	if (n <= 0xffff) { p[0] = 0xda; return mpk_be16(p + 1, (uint16_t)n); }
	p[0] = 0xdb;
	return mpk_be32(p + 1, n);
}

static inline uint8_t *mpk_bin_hdr(uint8_t *p, uint32_t n)
{
	if (n <= 0xff) { p[0] = 0xc4; p[1] = (uint8_t)n; return p + 2; }
	if (n <= 0xffff) { p[0] = 0xc5; return mpk_be16(p + 1, (uint16_t)n); }
	p[0] = 0xc6;
	return mpk_be32(p + 1, n);
}

static inline uint8_t *mpk_map_hdr(uint8_t *p, uint32_t n)
{
	if (n < 16) { *p = (uint8_t)(0x80 | n); return p + 1; }
	if (n <= 0xffff) { p[0] = 0xde; return mpk_be16(p + 1, (uint16_t)n); }
	p[0] = 0xdf;
	return mpk_be32(p + 1, n);
}

static inline uint8_t *mpk_arr_hdr(uint8_t *p, uint32_t n)
{
	if (n < 16) { *p = (uint8_t)(0x90 | n); return p + 1; }
	if (n <= 0xffff) { p[0] = 0xdc; return mpk_be16(p + 1, (uint16_t)n); }
	p[0] = 0xdd;
	return mpk_be32(p + 1, n);
}

static inline size_t mpk_hdr_len(uint32_t n, bool small16)
{
	return n < 16 && small16 ? 1 : n <= 0xffff ? 3 : 5;
}

/* ---- decoding ---- */
typedef enum {
	MPK_NIL, MPK_BOOL, MPK_UINT, MPK_INT, MPK_FLOAT32, MPK_FLOAT64, MPK_STR, MPK_BIN,
	MPK_ARRAY, MPK_MAP, MPK_EXT
} mpk_type;

typedef struct {
	mpk_type type;
	bool b;
	uint64_t u;     /* MPK_UINT */
	int64_t i;      /* MPK_INT (negative or any signed) */
	double d;       /* floats */
	const uint8_t *ptr; /* str/bin/ext data */
	uint32_t len;   /* str/bin/ext length, array/map count */
	int8_t ext_type;
} mpk_obj;

/* Read one value header at *p (containers are not descended); 0 ok, -1 malformed/truncated. */
static inline uint16_t mpk_rbe16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t mpk_rbe32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t mpk_rbe64(const uint8_t *p) { return (uint64_t)mpk_rbe32(p) << 32 | mpk_rbe32(p + 4); }

#define MPK_NEED(n)                                  \
	do {                                     \
		if ((size_t)(end - q) < (size_t)(n)) \
			return -1;               \
	} while (0)

static inline int mpk_read(const uint8_t **p, const uint8_t *end, mpk_obj *o)
{
	/* inline: the event decoders call it in their inner loops */
	const uint8_t *q = *p;
	/* every field a caller may read is set on every path, the error paths
	 * included (gcc -O3 cannot see that callers stop at an error) */
	o->type = MPK_NIL;
	o->u = 0;
	o->i = 0;
	o->ptr = NULL;
	o->len = 0;
	MPK_NEED(1);
	uint8_t c = *q++;
	if (c <= 0x7f) {
		o->type = MPK_UINT;
		o->u = c;
	} else if (c >= 0xe0) {
		o->type = MPK_INT;
		o->i = (int8_t)c;
	} else if ((c & 0xf0) == 0x80) {
		o->type = MPK_MAP;
		o->len = c & 0x0f;
	} else if ((c & 0xf0) == 0x90) {
		o->type = MPK_ARRAY;
		o->len = c & 0x0f;
	} else if ((c & 0xe0) == 0xa0) {
		o->type = MPK_STR;
		o->len = c & 0x1f;
	} else {
		switch (c) {
		case 0xc0: o->type = MPK_NIL; break;
		case 0xc2: o->type = MPK_BOOL; o->b = false; break;
		case 0xc3: o->type = MPK_BOOL; o->b = true; break;
		case 0xc4: MPK_NEED(1); o->type = MPK_BIN; o->len = q[0]; q += 1; break;
		case 0xc5: MPK_NEED(2); o->type = MPK_BIN; o->len = mpk_rbe16(q); q += 2; break;
		case 0xc6: MPK_NEED(4); o->type = MPK_BIN; o->len = mpk_rbe32(q); q += 4; break;
		case 0xc7: MPK_NEED(2); o->type = MPK_EXT; o->len = q[0]; o->ext_type = (int8_t)q[1]; q += 2; break;
		case 0xc8: MPK_NEED(3); o->type = MPK_EXT; o->len = mpk_rbe16(q); o->ext_type = (int8_t)q[2]; q += 3; break;
		case 0xc9: MPK_NEED(5); o->type = MPK_EXT; o->len = mpk_rbe32(q); o->ext_type = (int8_t)q[4]; q += 5; break;
		case 0xca: {
			MPK_NEED(4);
			uint32_t u = mpk_rbe32(q);
			float f;
			memcpy(&f, &u, 4);
			o->type = MPK_FLOAT32;
			o->d = f;
			q += 4;
			break;
		}
		case 0xcb: {
			MPK_NEED(8);
			uint64_t u = mpk_rbe64(q);
			memcpy(&o->d, &u, 8);
			o->type = MPK_FLOAT64;
			q += 8;
			break;
		}
		case 0xcc: MPK_NEED(1); o->type = MPK_UINT; o->u = q[0]; q += 1; break;
		case 0xcd: MPK_NEED(2); o->type = MPK_UINT; o->u = mpk_rbe16(q); q += 2; break;
		case 0xce: MPK_NEED(4); o->type = MPK_UINT; o->u = mpk_rbe32(q); q += 4; break;
		case 0xcf: MPK_NEED(8); o->type = MPK_UINT; o->u = mpk_rbe64(q); q += 8; break;
		case 0xd0: MPK_NEED(1); o->type = MPK_INT; o->i = (int8_t)q[0]; q += 1; break;
		case 0xd1: MPK_NEED(2); o->type = MPK_INT; o->i = (int16_t)mpk_rbe16(q); q += 2; break;
		case 0xd2: MPK_NEED(4); o->type = MPK_INT; o->i = (int32_t)mpk_rbe32(q); q += 4; break;
		case 0xd3: MPK_NEED(8); o->type = MPK_INT; o->i = (int64_t)mpk_rbe64(q); q += 8; break;
		case 0xd4: MPK_NEED(1); o->type = MPK_EXT; o->len = 1; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd5: MPK_NEED(1); o->type = MPK_EXT; o->len = 2; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd6: MPK_NEED(1); o->type = MPK_EXT; o->len = 4; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd7: MPK_NEED(1); o->type = MPK_EXT; o->len = 8; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd8: MPK_NEED(1); o->type = MPK_EXT; o->len = 16; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd9: MPK_NEED(1); o->type = MPK_STR; o->len = q[0]; q += 1; break;
		case 0xda: MPK_NEED(2); o->type = MPK_STR; o->len = mpk_rbe16(q); q += 2; break;
		case 0xdb: MPK_NEED(4); o->type = MPK_STR; o->len = mpk_rbe32(q); q += 4; break;
		case 0xdc: MPK_NEED(2); o->type = MPK_ARRAY; o->len = mpk_rbe16(q); q += 2; break;
		case 0xdd: MPK_NEED(4); o->type = MPK_ARRAY; o->len = mpk_rbe32(q); q += 4; break;
		case 0xde: MPK_NEED(2); o->type = MPK_MAP; o->len = mpk_rbe16(q); q += 2; break;
		case 0xdf: MPK_NEED(4); o->type = MPK_MAP; o->len = mpk_rbe32(q); q += 4; break;
		default: return -1; /* 0xc1 is never used */
		}
	}
	if (o->type == MPK_STR || o->type == MPK_BIN || o->type == MPK_EXT) {
		MPK_NEED(o->len);
		o->ptr = q;
		q += o->len;
	}
	/* A container cannot have more elements than bytes left: bounds the work. */
	if ((o->type == MPK_ARRAY && o->len > (size_t)(end - q)) ||
	    (o->type == MPK_MAP && (uint64_t)o->len * 2 > (uint64_t)(end - q)))
		return -1;
	*p = q;
	return 0;
}


#undef MPK_NEED

/* Skip one complete value; -1 if malformed, truncated or nested deeper than max_depth. */
int mpk_skip(const uint8_t **p, const uint8_t *end, int max_depth);
/* Validate one complete value including UTF-8 of strings; -1 if not. */
int mpk_validate(const uint8_t **p, const uint8_t *end, int max_depth);
/* ... and every map key, at every level, a string (what the event builder produces). */
int mpk_validate_strkeys(const uint8_t **p, const uint8_t *end, int max_depth);
bool pt__utf8_valid(const uint8_t *s, size_t n);

#endif
