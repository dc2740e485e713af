/*
 * base/shuffle_int.h - the byte-shuffle filter applied to float chunks before zstd.
 *
 * Shuffling groups byte k of every element together (all exponents, then
 * all high mantissa bytes, ...), which zstd compresses better and faster.
 * Only the first len - len % elem bytes are transposed; the tail is copied.
 */
#ifndef PT_SHUFFLE_H
#define PT_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

void pt__shuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem);
void pt__unshuffle(uint8_t *dst, const uint8_t *src, size_t len, size_t elem);

#endif
