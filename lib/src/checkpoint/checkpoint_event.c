/*
 * checkpoint_event.c - reading the references out of event bodies.
 *
 * Bodies are msgpack maps (FORMAT.md, "Events"). Only a few keys matter
 * here: `manifest` and the summary counters of `checkpoint` events, and the
 * `objects` array any module may use to keep objects alive. This small
 * bounds-checked scanner reads them without building the whole value; a
 * malformed body is PT_ECORRUPT, never a read past the end.
 */
#include "checkpoint/checkpoint_int.h"

typedef struct {
	const uint8_t *p;
	size_t len, off;
} cur;

#define MAX_DEPTH 64

static int need(cur *c, size_t n) { return c->len - c->off >= n ? 0 : PT_ECORRUPT; }

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Read a header: kind 's' str/bin (n = byte length), 'a' array, 'm' map, 'i' int, 'o' other. */
static int head(cur *c, char *kind, uint64_t *n, int64_t *ival)
{
	if (need(c, 1))
		return PT_ECORRUPT;
	uint8_t b = c->p[c->off++];
	int ext = 0;
	*ival = 0;
	*n = 0;
	if (b <= 0x7f) { *kind = 'i'; *ival = b; return 0; }
	if (b >= 0xe0) { *kind = 'i'; *ival = (int8_t)b; return 0; }
	if ((b & 0xe0) == 0xa0) { *kind = 's'; *n = b & 31; return 0; }
	if ((b & 0xf0) == 0x90) { *kind = 'a'; *n = b & 15; return 0; }
	if ((b & 0xf0) == 0x80) { *kind = 'm'; *n = b & 15; return 0; }
	int sz;
	switch (b) {
	case 0xc0: case 0xc2: case 0xc3: *kind = 'o'; return 0;
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		sz = 1 << (b - 0xcc);
		if (need(c, (size_t)sz)) return PT_ECORRUPT;
		*kind = 'i';
		*ival = (int64_t)be(c->p + c->off, sz);
		if (sz == 8 && *ival < 0) *kind = 'o'; /* > INT64_MAX: not a count we use */
		c->off += (size_t)sz;
		return 0;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3:
		sz = 1 << (b - 0xd0);
		if (need(c, (size_t)sz)) return PT_ECORRUPT;
		*kind = 'i';
		{
			uint64_t v = be(c->p + c->off, sz);
			if (sz < 8 && (v >> (sz * 8 - 1)))
				v |= ~0ull << (sz * 8);
			*ival = (int64_t)v;
		}
		c->off += (size_t)sz;
		return 0;
	case 0xca: *kind = 'o'; *n = 4; break;
	case 0xcb: *kind = 'o'; *n = 8; break;
	case 0xd4: *kind = 'o'; *n = 2; break;
	case 0xd5: *kind = 'o'; *n = 3; break;
	case 0xd6: *kind = 'o'; *n = 5; break;
	case 0xd7: *kind = 'o'; *n = 9; break;
	case 0xd8: *kind = 'o'; *n = 17; break;
	case 0xd9: case 0xc4: *kind = 's'; sz = 1; goto len;
	case 0xda: case 0xc5: *kind = 's'; sz = 2; goto len;
	case 0xdb: case 0xc6: *kind = 's'; sz = 4; goto len;
	case 0xc7: *kind = 'o'; sz = 1; ext = 1; goto len;
	case 0xc8: *kind = 'o'; sz = 2; ext = 1; goto len;
	case 0xc9: *kind = 'o'; sz = 4; ext = 1; goto len;
	case 0xdc: *kind = 'a'; sz = 2; goto len;
	case 0xdd: *kind = 'a'; sz = 4; goto len;
	case 0xde: *kind = 'm'; sz = 2; goto len;
	case 0xdf: *kind = 'm'; sz = 4; goto len;
	default: return PT_ECORRUPT; /* 0xc1 never used */
	}
	/* fixed-size "other" payloads */
	if (need(c, *n)) return PT_ECORRUPT;
	c->off += *n;
	*n = 0;
	return 0;
len:
	if (need(c, (size_t)sz)) return PT_ECORRUPT;
	*n = be(c->p + c->off, sz);
	c->off += (size_t)sz;
	if (ext) {
		if (need(c, 1 + *n)) return PT_ECORRUPT;
		c->off += 1 + *n;
		*n = 0;
	}
	return 0;
}

static int skip(cur *c, int depth)
{
	char k;
	uint64_t n;
	int64_t iv;
	if (depth > MAX_DEPTH || head(c, &k, &n, &iv))
		return PT_ECORRUPT;
	if (k == 's') {
		if (need(c, n)) return PT_ECORRUPT;
		c->off += n;
	} else if (k == 'a' || k == 'm') {
		uint64_t items = k == 'm' ? 2 * n : n;
		if (items > c->len - c->off) return PT_ECORRUPT; /* each item is >= 1 byte */
		for (uint64_t i = 0; i < items; i++)
			if (skip(c, depth + 1)) return PT_ECORRUPT;
	}
	return 0;
}

static int key_is(const cur *c, uint64_t n, const char *key)
{
	return strlen(key) == n && !memcmp(c->p + c->off, key, n);
}

int pt__ev_refs_parse(pt__ev_refs *r, const char *kind, const uint8_t *body, size_t len)
{
	memset(r, 0, sizeof *r);
	r->info.step = PT_NO_STEP;
	bool is_ck = !strcmp(kind, PT_KIND_CHECKPOINT);
	bool is_ds = !strcmp(kind, "dataset");
	if (!is_ck && !is_ds && strcmp(kind, "snapshot") && strcmp(kind, PT_KIND_CODE) && strcmp(kind, "artifact"))
		return 0; /* no references: `objects` in a user's event is just data */
	unsigned counts = 0; /* which of the seven counts a genuine checkpoint event has */
	unsigned ds_shape = 0; /* a genuine dataset event has `source` (1) and a 64-character `id` (2) */
	cur c = {body, len, 0};
	char k;
	uint64_t n;
	int64_t iv;
	int rc = 0;
	if (head(&c, &k, &n, &iv) || k != 'm')
		return pt__err(PT_ECORRUPT, "event body is not a msgpack map");
	for (uint64_t i = 0; i < n; i++) {
		char kk;
		uint64_t kn;
		if (head(&c, &kk, &kn, &iv) || kk != 's' || need(&c, kn))
			goto bad;
		size_t koff = c.off;
		c.off += kn;
		cur key = {body, len, koff};
#define IS(s) key_is(&key, kn, s)
		if (is_ds && IS("content")) {
			/* a stored dataset's contents: a checkpoint manifest of blobs */
			size_t save = c.off;
			char vk;
			uint64_t vn;
			if (head(&c, &vk, &vn, &iv))
				goto bad;
			if (vk == 's' && vn == 64 && !need(&c, 64)) {
				char hex[65];
				memcpy(hex, c.p + c.off, 64);
				hex[64] = 0;
				if (!pt__unhex(hex, r->content, 32)) {
					memcpy(r->content_hex, hex, 65);
					r->has_content = 1;
				}
				c.off += 64;
			} else {
				c.off = save;
				if (skip(&c, 1))
					goto bad;
			}
		} else if (is_ds && (IS("id") || IS("source"))) {
			/* the shape pt_dataset_record writes (see the end) */
			size_t save = c.off;
			char vk;
			uint64_t vn;
			if (head(&c, &vk, &vn, &iv))
				goto bad;
			if (vk == 's' && !need(&c, vn)) {
				if (IS("source"))
					ds_shape |= 1;
				else if (vn == 64)
					ds_shape |= 2;
				c.off += vn;
			} else {
				c.off = save;
				if (skip(&c, 1))
					goto bad;
			}
		} else if (IS("manifest") || IS("objects")) {
			/*
			 * Only the expected shapes are references: a 64-hex string, an
			 * array of them. Other modules may use these keys for other
			 * values (the archive event's `objects` is a count): those are
			 * skipped, not errors. Only broken msgpack is.
			 */
			int is_manifest = IS("manifest");
			size_t save = c.off;
			char vk;
			uint64_t vn;
			if (head(&c, &vk, &vn, &iv))
				goto bad;
			if (is_manifest && vk == 's' && vn == 64 && !need(&c, 64)) {
				char hex[65];
				memcpy(hex, c.p + c.off, 64);
				hex[64] = 0;
				if (!pt__unhex(hex, r->manifest, 32)) {
					memcpy(r->info.manifest, hex, 65);
					r->has_manifest = 1;
				}
				c.off += 64;
			} else if (!is_manifest && vk == 'a') {
				if (vn > len - c.off)
					goto bad;
				uint8_t *grown = vn ? pt__realloc(r->objects, 32 * (r->nobjects + vn)) : r->objects;
				if (vn && !grown) {
					rc = PT_ENOMEM;
					goto fail;
				}
				r->objects = grown;
				for (uint64_t j = 0; j < vn; j++) {
					size_t esave = c.off;
					char ek;
					uint64_t en;
					if (head(&c, &ek, &en, &iv))
						goto bad;
					if (ek == 's' && en == 64 && !need(&c, 64)) {
						char hex[65];
						memcpy(hex, c.p + c.off, 64);
						hex[64] = 0;
						if (!pt__unhex(hex, r->objects + 32 * r->nobjects, 32))
							r->nobjects++;
						c.off += 64;
					} else {
						c.off = esave;
						if (skip(&c, 2))
							goto bad;
					}
				}
			} else {
				c.off = save;
				if (skip(&c, 1))
					goto bad;
			}
		} else {
			uint64_t *slot = IS("tensors") ? &r->info.tensors
				       : IS("blobs") ? &r->info.blobs
				       : IS("chunks") ? &r->info.chunks
				       : IS("new_chunks") ? &r->info.new_chunks
				       : IS("logical_bytes") ? &r->info.logical_bytes
				       : IS("stored_bytes") ? &r->info.stored_bytes
				       : IS("new_bytes") ? &r->info.new_bytes
							 : NULL;
			size_t save = c.off;
			char vk;
			uint64_t vn;
			if (slot && !head(&c, &vk, &vn, &iv) && vk == 'i' && iv >= 0) {
				*slot = (uint64_t)iv;
				counts |= 1u << (slot - &r->info.tensors);
			} else {
				c.off = save;
				if (skip(&c, 1))
					goto bad;
			}
		}
#undef IS
	}
	if (is_ds && ds_shape != 3) {
		/* a user's `dataset` event from before the kind was reserved: plain data */
		pt__ev_refs_free(r);
		r->has_content = 0;
	}
	if (!is_ck)
		r->has_manifest = 0; /* a manifest is named by checkpoint events only */
	else if (!r->has_manifest || counts != 0x7fu) {
		r->foreign = 1;
		r->has_manifest = 0;
	}
	return 0;
bad:
	rc = pt__err(PT_ECORRUPT, "malformed event body (msgpack) at byte %zu", c.off);
fail:
	pt__ev_refs_free(r);
	return rc;
}

void pt__ev_refs_free(pt__ev_refs *r)
{
	if (!r)
		return;
	pt__free(r->objects);
	r->objects = NULL;
	r->nobjects = 0;
}
