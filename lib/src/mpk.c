/* mpk.c - bounds-checked msgpack decoding. */
#include "mpk.h"
#include "internal.h"

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

#define NEED(n)                                  \
	do {                                     \
		if ((size_t)(end - q) < (size_t)(n)) \
			return -1;               \
	} while (0)

int mpk_read(const uint8_t **p, const uint8_t *end, mpk_obj *o)
{
	const uint8_t *q = *p;
	NEED(1);
	uint8_t c = *q++;
	o->ptr = NULL;
	o->len = 0;
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
		case 0xc4: NEED(1); o->type = MPK_BIN; o->len = q[0]; q += 1; break;
		case 0xc5: NEED(2); o->type = MPK_BIN; o->len = be16(q); q += 2; break;
		case 0xc6: NEED(4); o->type = MPK_BIN; o->len = be32(q); q += 4; break;
		case 0xc7: NEED(2); o->type = MPK_EXT; o->len = q[0]; o->ext_type = (int8_t)q[1]; q += 2; break;
		case 0xc8: NEED(3); o->type = MPK_EXT; o->len = be16(q); o->ext_type = (int8_t)q[2]; q += 3; break;
		case 0xc9: NEED(5); o->type = MPK_EXT; o->len = be32(q); o->ext_type = (int8_t)q[4]; q += 5; break;
		case 0xca: {
			NEED(4);
			uint32_t u = be32(q);
			float f;
			memcpy(&f, &u, 4);
			o->type = MPK_FLOAT32;
			o->d = f;
			q += 4;
			break;
		}
		case 0xcb: {
			NEED(8);
			uint64_t u = be64(q);
			memcpy(&o->d, &u, 8);
			o->type = MPK_FLOAT64;
			q += 8;
			break;
		}
		case 0xcc: NEED(1); o->type = MPK_UINT; o->u = q[0]; q += 1; break;
		case 0xcd: NEED(2); o->type = MPK_UINT; o->u = be16(q); q += 2; break;
		case 0xce: NEED(4); o->type = MPK_UINT; o->u = be32(q); q += 4; break;
		case 0xcf: NEED(8); o->type = MPK_UINT; o->u = be64(q); q += 8; break;
		case 0xd0: NEED(1); o->type = MPK_INT; o->i = (int8_t)q[0]; q += 1; break;
		case 0xd1: NEED(2); o->type = MPK_INT; o->i = (int16_t)be16(q); q += 2; break;
		case 0xd2: NEED(4); o->type = MPK_INT; o->i = (int32_t)be32(q); q += 4; break;
		case 0xd3: NEED(8); o->type = MPK_INT; o->i = (int64_t)be64(q); q += 8; break;
		case 0xd4: NEED(1); o->type = MPK_EXT; o->len = 1; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd5: NEED(1); o->type = MPK_EXT; o->len = 2; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd6: NEED(1); o->type = MPK_EXT; o->len = 4; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd7: NEED(1); o->type = MPK_EXT; o->len = 8; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd8: NEED(1); o->type = MPK_EXT; o->len = 16; o->ext_type = (int8_t)q[0]; q += 1; break;
		case 0xd9: NEED(1); o->type = MPK_STR; o->len = q[0]; q += 1; break;
		case 0xda: NEED(2); o->type = MPK_STR; o->len = be16(q); q += 2; break;
		case 0xdb: NEED(4); o->type = MPK_STR; o->len = be32(q); q += 4; break;
		case 0xdc: NEED(2); o->type = MPK_ARRAY; o->len = be16(q); q += 2; break;
		case 0xdd: NEED(4); o->type = MPK_ARRAY; o->len = be32(q); q += 4; break;
		case 0xde: NEED(2); o->type = MPK_MAP; o->len = be16(q); q += 2; break;
		case 0xdf: NEED(4); o->type = MPK_MAP; o->len = be32(q); q += 4; break;
		default: return -1; /* 0xc1 is never used */
		}
	}
	if (o->type == MPK_STR || o->type == MPK_BIN || o->type == MPK_EXT) {
		NEED(o->len);
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

static int walk(const uint8_t **p, const uint8_t *end, int depth, bool utf8)
{
	mpk_obj o;
	if (depth < 0 || mpk_read(p, end, &o))
		return -1;
	if (utf8 && o.type == MPK_STR && !pt__utf8_valid(o.ptr, o.len))
		return -1;
	if (o.type == MPK_ARRAY || o.type == MPK_MAP) {
		uint64_t n = o.type == MPK_MAP ? (uint64_t)o.len * 2 : o.len;
		for (uint64_t k = 0; k < n; k++)
			if (walk(p, end, depth - 1, utf8))
				return -1;
	}
	return 0;
}

int mpk_skip(const uint8_t **p, const uint8_t *end, int max_depth) { return walk(p, end, max_depth, false); }
int mpk_validate(const uint8_t **p, const uint8_t *end, int max_depth) { return walk(p, end, max_depth, true); }

bool pt__utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* fast path for ASCII runs */
		while (i + 8 <= n) {
			uint64_t v;
			memcpy(&v, s + i, 8);
			if (v & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}
