/*
 * b64.c - base64 (RFC 4648 section 4: standard alphabet, padded), strict:
 * the decoder accepts only the canonical encoding (no whitespace, padding
 * exactly as needed, unused bits zero), so one value has one spelling.
 */
#include "base/base_int.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pt__b64_len(size_t n) { return (n + 2) / 3 * 4; }

void pt__b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = 0;
}

static int val(unsigned char c)
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

int pt__b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	if (n % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int a = val((unsigned char)in[i]), b = val((unsigned char)in[i + 1]);
		int c = in[i + 2] == '=' ? -2 : val((unsigned char)in[i + 2]);
		int d = in[i + 3] == '=' ? -2 : val((unsigned char)in[i + 3]);
		if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
			return -1;
		if ((c == -2 || d == -2) && i + 4 != n)
			return -1; /* padding only at the end */
		size_t k = c == -2 ? 1 : d == -2 ? 2 : 3;
		if (o + k > cap)
			return -1;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);
		if ((k == 1 && (v & 0xffff)) || (k == 2 && (v & 0xff)))
			return -1; /* non-canonical: unused bits set */
		out[o++] = (uint8_t)(v >> 16);
		if (k > 1)
			out[o++] = (uint8_t)(v >> 8);
		if (k > 2)
			out[o++] = (uint8_t)v;
	}
	*out_len = o;
	return 0;
}
