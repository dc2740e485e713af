/* fasthash.c - XXH3-128 (header-only use of libxxhash). */
#include "base/fasthash_int.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <string.h>

void pt__fasthash128(const void *data, size_t len, uint8_t out[16])
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, 16);
}
