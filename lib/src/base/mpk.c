/* mpk.c - bounds-checked msgpack decoding. */
#include "base/mpk_int.h"
#include "base/base_int.h"

static int walk(const uint8_t **p, const uint8_t *end, int depth, bool utf8, bool strkeys)
{
	mpk_obj o;
	if (depth < 0 || mpk_read(p, end, &o))
		return -1;
	if (utf8 && o.type == MPK_STR && !pt__utf8_valid(o.ptr, o.len))
		return -1;
	if (o.type == MPK_ARRAY) {
		for (uint32_t k = 0; k < o.len; k++)
			if (walk(p, end, depth - 1, utf8, strkeys))
				return -1;
	} else if (o.type == MPK_MAP) {
		for (uint32_t k = 0; k < o.len; k++) {
			if (strkeys && (*p >= end || !((**p & 0xe0) == 0xa0 || **p == 0xd9 || **p == 0xda || **p == 0xdb)))
				return -1;
			if (walk(p, end, depth - 1, utf8, strkeys) || walk(p, end, depth - 1, utf8, strkeys))
				return -1;
		}
	}
	return 0;
}

int mpk_skip(const uint8_t **p, const uint8_t *end, int max_depth) { return walk(p, end, max_depth, false, false); }
int mpk_validate(const uint8_t **p, const uint8_t *end, int max_depth) { return walk(p, end, max_depth, true, false); }
int mpk_validate_strkeys(const uint8_t **p, const uint8_t *end, int max_depth)
{
	return walk(p, end, max_depth, true, true);
}

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
