/*
 * mpk.h - minimal msgpack encoding (inline, for the append hot path) and a
 * bounds-checked decoder.  Encoding always picks the smallest form, so the
 * same event always encodes to the same bytes (content addressing needs it).
 */
#ifndef PT_MPK_H
#define PT_MPK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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
int mpk_read(const uint8_t **p, const uint8_t *end, mpk_obj *o);
/* Skip one complete value; -1 if malformed, truncated or nested deeper than max_depth. */
int mpk_skip(const uint8_t **p, const uint8_t *end, int max_depth);
/* Validate one complete value including UTF-8 of strings; -1 if not. */
int mpk_validate(const uint8_t **p, const uint8_t *end, int max_depth);
bool pt__utf8_valid(const uint8_t *s, size_t n);

#endif
