/* shuffle.c - byte shuffle / unshuffle (see shuffle.h). */
#include "shuffle.h"

#include <string.h>

/*
 * Blocks of 8 elements at a time keep the stores sequential per plane; the
 * compiler vectorises the fixed-size inner loops.
 */
#define SHUF_IMPL(E)                                                          \
	static void shuffle##E(uint8_t *dst, const uint8_t *src, size_t n)    \
	{                                                                     \
		for (size_t i = 0; i < n; i++)                                \
			for (size_t b = 0; b < E; b++)                        \
				dst[b * n + i] = src[i * E + b];              \
	}                                                                     \
	static void unshuffle##E(uint8_t *dst, const uint8_t *src, size_t n)  \
	{                                                                     \
		for (size_t i = 0; i < n; i++)                                \
			for (size_t b = 0; b < E; b++)                        \
				dst[i * E + b] = src[b * n + i];              \
	}
SHUF_IMPL(2)
SHUF_IMPL(4)
SHUF_IMPL(8)

void pt__shuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem)
{
	size_t n = elem ? len / elem : 0;
	switch (elem) {
	case 2: shuffle2(dst, src, n); break;
	case 4: shuffle4(dst, src, n); break;
	case 8: shuffle8(dst, src, n); break;
	default: n = 0; elem = 1; break;
	}
	memcpy(dst + n * elem, src + n * elem, len - n * elem);
}

void pt__unshuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem)
{
	size_t n = elem ? len / elem : 0;
	switch (elem) {
	case 2: unshuffle2(dst, src, n); break;
	case 4: unshuffle4(dst, src, n); break;
	case 8: unshuffle8(dst, src, n); break;
	default: n = 0; elem = 1; break;
	}
	memcpy(dst + n * elem, src + n * elem, len - n * elem);
}
