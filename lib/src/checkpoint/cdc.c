/*
 * cdc.c - content-defined chunking for blobs (FastCDC with a Gear rolling
 * hash and normalised chunking).
 *
 * A cut is placed where the top bits of the rolling hash are zero, so it
 * depends only on the last 64 bytes: an insertion or a changed region moves
 * the cuts near it and leaves the others (and their chunks) unchanged.
 * Before the target size a stricter mask (2 more bits) is used, after it a
 * looser one, which narrows the size distribution around the average.
 *
 * The Gear table is part of the format in effect (it decides where chunks
 * start, hence which chunks dedup against earlier checkpoints): it is
 * generated from a fixed seed and must never change.
 */
#include "checkpoint/checkpoint_int.h"

#include <pthread.h>

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_init(void)
{
	uint64_t x = 0x70726f7674726163ull; /* "provtrac" */
	for (int i = 0; i < 256; i++) {
		/* splitmix64 */
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		gear[i] = z ^ (z >> 31);
	}
}

void pt__cdc_init(pt__cdc *c, size_t avg)
{
	pthread_once(&gear_once, gear_init);
	unsigned bits = 0;
	while (((size_t)1 << (bits + 1)) <= avg)
		bits++;
	if (bits < 8)
		bits = 8;
	c->avg = (size_t)1 << bits;
	c->min = c->avg / 4;
	c->max = c->avg * 4;
	c->mask_s = ~0ull << (64 - (bits + 2));
	c->mask_l = ~0ull << (64 - (bits - 2));
}

size_t pt__cdc_next(const pt__cdc *c, const uint8_t *p, size_t len, int final)
{
	if (len <= c->min)
		return final ? len : 0;
	size_t end = len < c->max ? len : c->max;
	size_t mid = end < c->avg ? end : c->avg;
	uint64_t h = 0;
	size_t i = c->min;
	for (; i < mid; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & c->mask_s))
			return i + 1;
	}
	for (; i < end; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & c->mask_l))
			return i + 1;
	}
	if (end == c->max)
		return c->max;
	return final ? len : 0;
}
