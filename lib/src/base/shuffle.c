/*
 * shuffle.c - byte shuffle / unshuffle (see shuffle.h).
 *
 * The shuffle runs on every float chunk before compression, so it must not
 * be the bottleneck: with SSSE3 (checked at run time), element sizes 2 and 4
 * use pshufb to gather the bytes of one plane inside a vector, then a
 * transpose of 32/64-bit lanes across vectors; 16 elements per step. Other
 * sizes and the tail use the portable loops.
 */
#include "base/shuffle_int.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PT_HAVE_X86 1
#endif

static void shuffle_generic(uint8_t *dst, const uint8_t *src, size_t n, size_t e, size_t from)
{
	for (size_t b = 0; b < e; b++) {
		uint8_t *d = dst + b * n;
		for (size_t i = from; i < n; i++)
			d[i] = src[i * e + b];
	}
}

static void unshuffle_generic(uint8_t *dst, const uint8_t *src, size_t n, size_t e, size_t from)
{
	for (size_t b = 0; b < e; b++) {
		const uint8_t *s = src + b * n;
		for (size_t i = from; i < n; i++)
			dst[i * e + b] = s[i];
	}
}

#ifdef PT_HAVE_X86
__attribute__((target("ssse3"))) static size_t shuffle4_ssse3(uint8_t *dst, const uint8_t *src, size_t n)
{
	const __m128i m = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		const uint8_t *s = src + 4 * i;
		__m128i v0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)s), m);
		__m128i v1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 16)), m);
		__m128i v2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 32)), m);
		__m128i v3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 48)), m);
		__m128i lo01 = _mm_unpacklo_epi32(v0, v1), lo23 = _mm_unpacklo_epi32(v2, v3);
		__m128i hi01 = _mm_unpackhi_epi32(v0, v1), hi23 = _mm_unpackhi_epi32(v2, v3);
		_mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi64(lo01, lo23));
		_mm_storeu_si128((__m128i *)(dst + n + i), _mm_unpackhi_epi64(lo01, lo23));
		_mm_storeu_si128((__m128i *)(dst + 2 * n + i), _mm_unpacklo_epi64(hi01, hi23));
		_mm_storeu_si128((__m128i *)(dst + 3 * n + i), _mm_unpackhi_epi64(hi01, hi23));
	}
	return i;
}

__attribute__((target("ssse3"))) static size_t unshuffle4_ssse3(uint8_t *dst, const uint8_t *src, size_t n)
{
	const __m128i m = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i p0 = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i p1 = _mm_loadu_si128((const __m128i *)(src + n + i));
		__m128i p2 = _mm_loadu_si128((const __m128i *)(src + 2 * n + i));
		__m128i p3 = _mm_loadu_si128((const __m128i *)(src + 3 * n + i));
		/* [P0_0 P0_1 P1_0 P1_1] -> [P0_0 P1_0 P0_1 P1_1] */
		__m128i lo01 = _mm_shuffle_epi32(_mm_unpacklo_epi64(p0, p1), 0xD8);
		__m128i lo23 = _mm_shuffle_epi32(_mm_unpackhi_epi64(p0, p1), 0xD8);
		__m128i hi01 = _mm_shuffle_epi32(_mm_unpacklo_epi64(p2, p3), 0xD8);
		__m128i hi23 = _mm_shuffle_epi32(_mm_unpackhi_epi64(p2, p3), 0xD8);
		uint8_t *d = dst + 4 * i;
		_mm_storeu_si128((__m128i *)d, _mm_shuffle_epi8(_mm_unpacklo_epi64(lo01, hi01), m));
		_mm_storeu_si128((__m128i *)(d + 16), _mm_shuffle_epi8(_mm_unpackhi_epi64(lo01, hi01), m));
		_mm_storeu_si128((__m128i *)(d + 32), _mm_shuffle_epi8(_mm_unpacklo_epi64(lo23, hi23), m));
		_mm_storeu_si128((__m128i *)(d + 48), _mm_shuffle_epi8(_mm_unpackhi_epi64(lo23, hi23), m));
	}
	return i;
}

__attribute__((target("ssse3"))) static size_t shuffle2_ssse3(uint8_t *dst, const uint8_t *src, size_t n)
{
	const __m128i m = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		const uint8_t *s = src + 2 * i;
		__m128i v0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)s), m);
		__m128i v1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 16)), m);
		_mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi64(v0, v1));
		_mm_storeu_si128((__m128i *)(dst + n + i), _mm_unpackhi_epi64(v0, v1));
	}
	return i;
}

__attribute__((target("ssse3"))) static size_t unshuffle2_ssse3(uint8_t *dst, const uint8_t *src, size_t n)
{
	const __m128i m = _mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i p0 = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i p1 = _mm_loadu_si128((const __m128i *)(src + n + i));
		uint8_t *d = dst + 2 * i;
		_mm_storeu_si128((__m128i *)d, _mm_shuffle_epi8(_mm_unpacklo_epi64(p0, p1), m));
		_mm_storeu_si128((__m128i *)(d + 16), _mm_shuffle_epi8(_mm_unpackhi_epi64(p0, p1), m));
	}
	return i;
}

static int have_ssse3;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_detect(void)
{
	__builtin_cpu_init();
	have_ssse3 = __builtin_cpu_supports("ssse3");
}
#endif

void pt__shuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem)
{
	size_t n = 0, done = 0;
	if (elem == 2 || elem == 4 || elem == 8) {
		n = len / elem;
#ifdef PT_HAVE_X86
		pthread_once(&cpu_once, cpu_detect);
		if (have_ssse3 && elem == 4)
			done = shuffle4_ssse3(dst, src, n);
		else if (have_ssse3 && elem == 2)
			done = shuffle2_ssse3(dst, src, n);
#endif
		shuffle_generic(dst, src, n, elem, done);
	} else {
		elem = 1;
	}
	memcpy(dst + n * elem, src + n * elem, len - n * elem);
}

void pt__unshuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem)
{
	size_t n = 0, done = 0;
	if (elem == 2 || elem == 4 || elem == 8) {
		n = len / elem;
#ifdef PT_HAVE_X86
		pthread_once(&cpu_once, cpu_detect);
		if (have_ssse3 && elem == 4)
			done = unshuffle4_ssse3(dst, src, n);
		else if (have_ssse3 && elem == 2)
			done = unshuffle2_ssse3(dst, src, n);
#endif
		unshuffle_generic(dst, src, n, elem, done);
	} else {
		elem = 1;
	}
	memcpy(dst + n * elem, src + n * elem, len - n * elem);
}
