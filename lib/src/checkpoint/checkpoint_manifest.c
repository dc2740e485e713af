/*
 * checkpoint_manifest.c - the binary manifest of a checkpoint (FORMAT.md,
 * "Checkpoint manifest"). Decoding trusts nothing: every count and length is
 * checked against the bytes left before it is used, so a hostile manifest
 * costs at most memory proportional to its own size.
 */
#include "checkpoint/checkpoint_int.h"

#include "format/objects_int.h"

#define HDR_LEN 24
#define EXT_LEN 44

int pt__manifest_encode(const pt__manifest *m, pt__buf *out)
{
	uint8_t h[HDR_LEN];
	memcpy(h, "PTCM", 4);
	/* version 1 when there is no structure: the bytes (and so the id) of
	 * such a manifest are what every earlier provtrace wrote */
	pt__put_u16(h + 4, m->tree_len ? 2 : 1);
	pt__put_u16(h + 6, 0);
	pt__put_u32(h + 8, m->count);
	pt__put_u32(h + 12, m->tree_len);
	pt__put_u64(h + 16, m->logical);
	int rc = pt__buf_append(out, h, sizeof h);
	for (uint32_t i = 0; i < m->count && !rc; i++) {
		const pt__mentry *e = &m->e[i];
		size_t nl = strlen(e->name);
		uint8_t eh[6 + 8];
		eh[0] = e->type;
		eh[1] = e->dtype;
		eh[2] = e->ndim;
		eh[3] = 0;
		pt__put_u16(eh + 4, (uint16_t)nl);
		if ((rc = pt__buf_append(out, eh, 6)) || (rc = pt__buf_append(out, e->name, nl)))
			break;
		pt__put_u64(eh, e->size);
		if ((rc = pt__buf_append(out, eh, 8)))
			break;
		for (unsigned d = 0; d < e->ndim && !rc; d++) {
			pt__put_u64(eh, e->shape[d]);
			rc = pt__buf_append(out, eh, 8);
		}
		pt__put_u32(eh, e->next);
		if (rc || (rc = pt__buf_append(out, eh, 4)))
			break;
		for (uint32_t k = 0; k < e->next && !rc; k++) {
			uint8_t x[EXT_LEN];
			memcpy(x, e->ext[k].id, 32);
			pt__put_u32(x + 32, e->ext[k].chunk_len);
			pt__put_u32(x + 36, e->ext[k].off);
			pt__put_u32(x + 40, e->ext[k].len);
			rc = pt__buf_append(out, x, sizeof x);
		}
	}
	if (!rc && m->tree_len)
		rc = pt__buf_append(out, m->tree, m->tree_len);
	return rc;
}

void pt__manifest_clear(pt__manifest *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->count; i++) {
		pt__free(m->e[i].name);
		pt__free(m->e[i].ext);
	}
	pt__free(m->e);
	pt__free(m->tree);
	memset(m, 0, sizeof *m);
}

int pt__manifest_decode(pt__manifest *m, const uint8_t *p, size_t len, const char *what)
{
	memset(m, 0, sizeof *m);
	if (len < HDR_LEN || memcmp(p, "PTCM", 4))
		return pt__err(PT_ECORRUPT, "%s: not a checkpoint manifest", what);
	uint16_t ver = pt__get_u16(p + 4);
	if (ver > PT_MANIFEST_VERSION)
		return pt__err(PT_EVERSION, "%s: manifest version %u is newer than this provtrace reads",
			       what, ver);
	/* version 1: the u32 at 12 is zero; version 2: the structure's length */
	uint32_t tree_len = pt__get_u32(p + 12);
	if (ver < 1 || pt__get_u16(p + 6) || (ver == 1 && tree_len) || (ver == 2 && !tree_len) ||
	    tree_len > len - HDR_LEN || tree_len > PT_STRUCT_MAX_BYTES)
		return pt__err(PT_ECORRUPT, "%s: bad manifest header", what);
	len -= tree_len; /* the entries end where the structure starts */
	uint32_t count = pt__get_u32(p + 8);
	/* every entry takes at least 22 bytes: bounds the allocation by the input */
	if (count > PT_CHECKPOINT_MAX_ENTRIES || count > (len - HDR_LEN) / 22)
		return pt__err(PT_ECORRUPT, "%s: manifest claims %u entries in %zu bytes", what, count, len);
	uint64_t logical = pt__get_u64(p + 16), total = 0;
	m->e = pt__calloc(count ? count : 1, sizeof *m->e);
	if (!m->e)
		return PT_ENOMEM;
	size_t off = HDR_LEN;
	int rc = 0;
#define NEED(n)                                                                                   \
	do {                                                                                      \
		if (len - off < (size_t)(n)) {                                                    \
			rc = pt__err(PT_ECORRUPT, "%s: manifest truncated in entry %u", what, i); \
			goto fail;                                                                \
		}                                                                                 \
	} while (0)
	uint32_t i;
	for (i = 0; i < count; i++) {
		pt__mentry *e = &m->e[i];
		m->count = i + 1;
		NEED(6);
		e->type = p[off];
		e->dtype = p[off + 1];
		e->ndim = p[off + 2];
		uint16_t nl = pt__get_u16(p + off + 4);
		if (p[off + 3] || nl == 0 || nl > PT_NAME_MAX || e->ndim > PT_CHECKPOINT_MAX_NDIM ||
		    (e->type != PT_ENTRY_TENSOR && e->type != PT_ENTRY_BLOB) ||
		    (e->type == PT_ENTRY_TENSOR && !pt_dtype_size((pt_dtype)e->dtype)) ||
		    (e->type == PT_ENTRY_BLOB && (e->dtype || e->ndim))) {
			rc = pt__err(PT_ECORRUPT, "%s: entry %u has an invalid type, dtype, rank or name length",
				     what, i);
			goto fail;
		}
		off += 6;
		NEED(nl);
		if (memchr(p + off, 0, nl)) {
			rc = pt__err(PT_ECORRUPT, "%s: entry %u name contains a NUL byte", what, i);
			goto fail;
		}
		if (!(e->name = pt__strndup((const char *)p + off, nl))) {
			rc = PT_ENOMEM;
			goto fail;
		}
		off += nl;
		NEED(8 + 8 * (size_t)e->ndim + 4);
		e->size = pt__get_u64(p + off);
		off += 8;
		unsigned __int128 prod = e->type == PT_ENTRY_TENSOR ? pt_dtype_size((pt_dtype)e->dtype) : 0;
		for (unsigned d = 0; d < e->ndim; d++, off += 8) {
			e->shape[d] = pt__get_u64(p + off);
			prod *= e->shape[d];
			if (prod > ((unsigned __int128)1 << 64))
				prod = (unsigned __int128)1 << 64;
		}
		if (e->type == PT_ENTRY_TENSOR && prod != e->size) {
			rc = pt__err(PT_ECORRUPT, "%s: entry \"%s\": size does not match its shape", what,
				     e->name);
			goto fail;
		}
		e->next = pt__get_u32(p + off);
		off += 4;
		if (e->next > (len - off) / EXT_LEN) {
			rc = pt__err(PT_ECORRUPT, "%s: entry \"%s\": %u chunks do not fit the manifest", what,
				     e->name, e->next);
			goto fail;
		}
		if (!(e->ext = pt__malloc((e->next ? e->next : 1) * sizeof *e->ext))) {
			rc = PT_ENOMEM;
			goto fail;
		}
		uint64_t sum = 0;
		for (uint32_t k = 0; k < e->next; k++, off += EXT_LEN) {
			pt__extent *x = &e->ext[k];
			memcpy(x->id, p + off, 32);
			x->chunk_len = pt__get_u32(p + off + 32);
			x->off = pt__get_u32(p + off + 36);
			x->len = pt__get_u32(p + off + 40);
			if (x->chunk_len > PT_CHUNK_MAX || x->len == 0 ||
			    (uint64_t)x->off + x->len > x->chunk_len) {
				rc = pt__err(PT_ECORRUPT, "%s: entry \"%s\" chunk %u: extent outside its chunk",
					     what, e->name, k);
				goto fail;
			}
			sum += x->len;
		}
		if (sum != e->size) {
			rc = pt__err(PT_ECORRUPT, "%s: entry \"%s\": chunks hold %llu bytes, entry %llu", what,
				     e->name, (unsigned long long)sum, (unsigned long long)e->size);
			goto fail;
		}
		total += e->size;
	}
#undef NEED
	if (off != len) {
		rc = pt__err(PT_ECORRUPT, "%s: %zu unexpected bytes after the last manifest entry", what,
			     len - off);
		goto fail;
	}
	if (total != logical) {
		rc = pt__err(PT_ECORRUPT, "%s: manifest total %llu does not match its entries (%llu)", what,
			     (unsigned long long)logical, (unsigned long long)total);
		goto fail;
	}
	m->logical = logical;
	if (tree_len) {
		const uint8_t *t = p + len;
		if ((rc = pt__tree_check(t, tree_len, count))) {
			char msg[256];
			snprintf(msg, sizeof msg, "%s", pt_error_last());
			rc = pt__err(PT_ECORRUPT, "%s: %s", what, msg);
			goto fail;
		}
		if (!(m->tree = pt__malloc(tree_len))) {
			rc = PT_ENOMEM;
			goto fail;
		}
		memcpy(m->tree, t, tree_len);
		m->tree_len = tree_len;
	}
	return 0;
fail:
	pt__manifest_clear(m);
	return rc;
}

int pt__manifest_load(pt__manifest *m, const pt_store *st, const uint8_t id[32])
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__object_get(st, id, &data, &len);
	if (rc)
		return rc;
	char hex[PT_SHA256_HEX], what[96];
	pt__hex(id, 32, hex);
	snprintf(what, sizeof what, "manifest %s", hex);
	rc = pt__manifest_decode(m, data, len, what);
	pt__free(data);
	return rc;
}
