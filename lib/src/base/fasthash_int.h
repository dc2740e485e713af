/*
 * base/fasthash_int.h - a fast non-cryptographic 128-bit hash (XXH3-128, from
 * libxxhash; fasthash.c is the only file that includes <xxhash.h>).
 *
 * Used only to notice that a chunk is byte-for-byte the chunk of the same
 * length the previous checkpoint stored, so that its SHA-256 need not be
 * computed again (see checkpoint_write.c). Never used as an object name.
 */
#ifndef PT_FASTHASH_H
#define PT_FASTHASH_H

#include <stddef.h>
#include <stdint.h>

void pt__fasthash128(const void *data, size_t len, uint8_t out[16]);

#endif
