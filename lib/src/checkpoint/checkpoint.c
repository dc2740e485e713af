/* checkpoint.c - the checkpoint builder, dtypes, options and id sets. */
#include "checkpoint/checkpoint_int.h"

#include "base/mpk_int.h"

static const struct {
	pt_dtype d;
	const char *name;
	size_t size;
	const char *alias1, *alias2;
} dtypes[] = {
	{PT_DTYPE_BOOL, "bool", 1, "bool_", NULL},
	{PT_DTYPE_U8, "u8", 1, "uint8", NULL},
	{PT_DTYPE_I8, "i8", 1, "int8", NULL},
	{PT_DTYPE_U16, "u16", 2, "uint16", NULL},
	{PT_DTYPE_I16, "i16", 2, "int16", "short"},
	{PT_DTYPE_U32, "u32", 4, "uint32", NULL},
	{PT_DTYPE_I32, "i32", 4, "int32", "int"},
	{PT_DTYPE_U64, "u64", 8, "uint64", NULL},
	{PT_DTYPE_I64, "i64", 8, "int64", "long"},
	{PT_DTYPE_F16, "f16", 2, "float16", "half"},
	{PT_DTYPE_BF16, "bf16", 2, "bfloat16", NULL},
	{PT_DTYPE_F32, "f32", 4, "float32", "float"},
	{PT_DTYPE_F64, "f64", 8, "float64", "double"},
	{PT_DTYPE_C64, "c64", 8, "complex64", "cfloat"},
	{PT_DTYPE_C128, "c128", 16, "complex128", "cdouble"},
	{PT_DTYPE_C32, "c32", 4, "complex32", "chalf"},
	{PT_DTYPE_F8_E4M3FN, "f8e4m3fn", 1, "float8_e4m3fn", NULL},
	{PT_DTYPE_F8_E5M2, "f8e5m2", 1, "float8_e5m2", NULL},
	{PT_DTYPE_F8_E4M3FNUZ, "f8e4m3fnuz", 1, "float8_e4m3fnuz", NULL},
	{PT_DTYPE_F8_E5M2FNUZ, "f8e5m2fnuz", 1, "float8_e5m2fnuz", NULL},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

size_t pt_dtype_size(pt_dtype d)
{
	for (size_t i = 0; i < NDTYPES; i++)
		if (dtypes[i].d == d)
			return dtypes[i].size;
	return 0;
}

const char *pt_dtype_name(pt_dtype d)
{
	for (size_t i = 0; i < NDTYPES; i++)
		if (dtypes[i].d == d)
			return dtypes[i].name;
	return NULL;
}

int pt_dtype_from_name(pt_dtype *out, const char *name)
{
	if (!out || !name)
		return pt__err(PT_EINVAL, "pt_dtype_from_name: NULL argument");
	const char *n = strncmp(name, "torch.", 6) ? name : name + 6;
	for (size_t i = 0; i < NDTYPES; i++)
		if (!strcmp(n, dtypes[i].name) || (dtypes[i].alias1 && !strcmp(n, dtypes[i].alias1)) ||
		    (dtypes[i].alias2 && !strcmp(n, dtypes[i].alias2))) {
			*out = dtypes[i].d;
			return 0;
		}
	return pt__err(PT_EINVAL, "unknown dtype \"%s\" (expected bool, u8..u64, i8..i64, f16, bf16, f32, f64, c32, c64, c128, "
		       "f8e4m3fn, f8e5m2, f8e4m3fnuz, f8e5m2fnuz)",
		       name);
}

int pt__dtype_is_float(pt_dtype d)
{
	return d == PT_DTYPE_F16 || d == PT_DTYPE_BF16 || d == PT_DTYPE_F32 || d == PT_DTYPE_F64 ||
	       d == PT_DTYPE_C64 || d == PT_DTYPE_C128 || d == PT_DTYPE_C32;
}

int pt_checkpoint_options_init(pt_checkpoint_options *opts, unsigned int version)
{
	if (!opts || version != PT_CHECKPOINT_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_checkpoint_options_init: unsupported version %u", version);
	pt_checkpoint_options d = PT_CHECKPOINT_OPTIONS_INIT;
	*opts = d;
	return 0;
}

int pt_checkpoint_new(pt_checkpoint **out)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_checkpoint_new: NULL out");
	*out = pt__calloc(1, sizeof **out);
	return *out ? 0 : PT_ENOMEM;
}

void pt_checkpoint_clear(pt_checkpoint *ck)
{
	if (!ck)
		return;
	for (size_t i = 0; i < ck->count; i++) {
		pt__free(ck->e[i].name);
		pt__free(ck->e[i].path);
	}
	ck->count = 0;
	pt__free(ck->tree);
	ck->tree = NULL;
	ck->tree_len = 0;
}

void pt_checkpoint_free(pt_checkpoint *ck)
{
	if (!ck)
		return;
	pt_checkpoint_clear(ck);
	pt__free(ck->e);
	pt__free(ck);
}

size_t pt_checkpoint_count(const pt_checkpoint *ck) { return ck ? ck->count : 0; }

static int valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
		if (k == 9 || i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

static int check_name(const pt_checkpoint *ck, const char *name)
{
	if (!name || !*name)
		return pt__err(PT_EINVAL, "checkpoint entry name is empty");
	size_t n = strlen(name);
	if (n > PT_NAME_MAX)
		return pt__err(PT_EINVAL, "checkpoint entry name \"%.40s...\" is longer than %d bytes", name,
			       PT_NAME_MAX);
	if (!valid_utf8((const unsigned char *)name, n))
		return pt__err(PT_EINVAL, "checkpoint entry name \"%.40s\" is not valid UTF-8", name);
	for (size_t i = 0; i < ck->count; i++)
		if (!strcmp(ck->e[i].name, name))
			return pt__err(PT_EEXISTS, "checkpoint already has an entry named \"%s\"", name);
	if (ck->count >= PT_CHECKPOINT_MAX_ENTRIES)
		return pt__err(PT_ELIMIT, "a checkpoint holds at most %d entries", PT_CHECKPOINT_MAX_ENTRIES);
	return 0;
}

int pt__checkpoint_push(pt_checkpoint *ck, const pt__ck_entry *e)
{
	if (ck->count == ck->cap) {
		size_t nc = ck->cap ? ck->cap * 2 : 16;
		pt__ck_entry *ne = pt__realloc(ck->e, nc * sizeof *ne);
		if (!ne)
			return PT_ENOMEM;
		ck->e = ne;
		ck->cap = nc;
	}
	ck->e[ck->count++] = *e;
	return 0;
}

int pt_checkpoint_add_tensor(pt_checkpoint *ck, const char *name, pt_dtype dtype, unsigned int ndim,
			     const uint64_t *shape, const void *data, size_t len)
{
	if (!ck)
		return pt__err(PT_EINVAL, "pt_checkpoint_add_tensor: NULL checkpoint");
	int rc = check_name(ck, name);
	if (rc)
		return rc;
	size_t es = pt_dtype_size(dtype);
	if (!es)
		return pt__err(PT_EINVAL, "tensor \"%s\": unknown dtype %d", name, (int)dtype);
	if (ndim > PT_CHECKPOINT_MAX_NDIM)
		return pt__err(PT_EINVAL, "tensor \"%s\": %u dimensions, at most %d", name, ndim,
			       PT_CHECKPOINT_MAX_NDIM);
	if (ndim && !shape)
		return pt__err(PT_EINVAL, "tensor \"%s\": NULL shape", name);
	if (len && !data)
		return pt__err(PT_EINVAL, "tensor \"%s\": NULL data", name);
	unsigned __int128 n = es;
	for (unsigned i = 0; i < ndim; i++) {
		n *= shape[i];
		if (n > ((unsigned __int128)1 << 62))
			return pt__err(PT_EINVAL, "tensor \"%s\": shape too large", name);
	}
	if (n != len)
		return pt__err(PT_EINVAL, "tensor \"%s\": %zu bytes given, the shape and dtype %s need %llu",
			       name, len, pt_dtype_name(dtype), (unsigned long long)n);
	pt__ck_entry e = {0};
	e.name = pt__strdup(name);
	if (!e.name)
		return PT_ENOMEM;
	e.type = PT_ENTRY_TENSOR;
	e.dtype = (uint8_t)dtype;
	e.ndim = (uint8_t)ndim;
	for (unsigned i = 0; i < ndim; i++)
		e.shape[i] = shape[i];
	e.data = data;
	e.len = len;
	if ((rc = pt__checkpoint_push(ck, &e)))
		pt__free(e.name);
	return rc;
}

int pt_checkpoint_add_bytes(pt_checkpoint *ck, const char *name, const void *data, size_t len)
{
	if (!ck)
		return pt__err(PT_EINVAL, "pt_checkpoint_add_bytes: NULL checkpoint");
	int rc = check_name(ck, name);
	if (rc)
		return rc;
	if (len && !data)
		return pt__err(PT_EINVAL, "blob \"%s\": NULL data", name);
	pt__ck_entry e = {0};
	e.name = pt__strdup(name);
	if (!e.name)
		return PT_ENOMEM;
	e.type = PT_ENTRY_BLOB;
	e.data = data;
	e.len = len;
	if ((rc = pt__checkpoint_push(ck, &e)))
		pt__free(e.name);
	return rc;
}

int pt_checkpoint_add_file(pt_checkpoint *ck, const char *name, const char *path)
{
	if (!ck || !path)
		return pt__err(PT_EINVAL, "pt_checkpoint_add_file: NULL argument");
	int rc = check_name(ck, name);
	if (rc)
		return rc;
	if (!pt__exists(path) || pt__is_dir(path))
		return pt__err(PT_ENOTFOUND, "blob \"%s\": %s is not a readable file", name, path);
	pt__ck_entry e = {0};
	e.name = pt__strdup(name);
	e.path = pt__strdup(path);
	if (!e.name || !e.path) {
		pt__free(e.name);
		pt__free(e.path);
		return PT_ENOMEM;
	}
	e.type = PT_ENTRY_BLOB;
	if ((rc = pt__checkpoint_push(ck, &e))) {
		pt__free(e.name);
		pt__free(e.path);
	}
	return rc;
}

/* ---- id sets: open addressing on the id's first 8 bytes (ids are uniform) ----------- */

static size_t slot_of(const uint8_t id[32], size_t mask)
{
	uint64_t h;
	memcpy(&h, id, 8);
	return (size_t)h & mask;
}

static int idset_grow(pt__idset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 1024;
	uint8_t *ids = pt__malloc(nc * 32), *used = pt__calloc(nc, 1);
	if (!ids || !used) {
		pt__free(ids);
		pt__free(used);
		return PT_ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->used[i])
			continue;
		size_t k = slot_of(s->ids + 32 * i, nc - 1);
		while (used[k])
			k = (k + 1) & (nc - 1);
		used[k] = 1;
		memcpy(ids + 32 * k, s->ids + 32 * i, 32);
	}
	pt__free(s->ids);
	pt__free(s->used);
	s->ids = ids;
	s->used = used;
	s->cap = nc;
	return 0;
}

int pt__idset_add(pt__idset *s, const uint8_t id[32])
{
	if ((s->n + 1) * 2 > s->cap) {
		int rc = idset_grow(s);
		if (rc)
			return rc;
	}
	size_t k = slot_of(id, s->cap - 1);
	while (s->used[k]) {
		if (!memcmp(s->ids + 32 * k, id, 32))
			return 0;
		k = (k + 1) & (s->cap - 1);
	}
	s->used[k] = 1;
	memcpy(s->ids + 32 * k, id, 32);
	s->n++;
	return 1;
}

int pt__idset_has(const pt__idset *s, const uint8_t id[32])
{
	if (!s->cap)
		return 0;
	size_t k = slot_of(id, s->cap - 1);
	while (s->used[k]) {
		if (!memcmp(s->ids + 32 * k, id, 32))
			return 1;
		k = (k + 1) & (s->cap - 1);
	}
	return 0;
}

void pt__idset_free(pt__idset *s)
{
	pt__free(s->ids);
	pt__free(s->used);
	memset(s, 0, sizeof *s);
}

/* ---- structure ------------------------------------------------------------------------ */

static int tree_walk(const uint8_t **p, const uint8_t *end, int depth, uint64_t nentries,
		     int is_key)
{
	if (depth > PT_STRUCT_MAX_DEPTH)
		return pt__err(PT_ECORRUPT, "structure nested deeper than %d", PT_STRUCT_MAX_DEPTH);
	mpk_obj o = {0};
	if (mpk_read(p, end, &o))
		return pt__err(PT_ECORRUPT, "structure: malformed or truncated MessagePack");
	if (is_key && (o.type == MPK_ARRAY || o.type == MPK_MAP || o.type == MPK_EXT || o.type == MPK_BIN))
		return pt__err(PT_ECORRUPT, "structure: a map key must be nil, bool, int, float or str");
	switch (o.type) {
	case MPK_STR:
		if (!pt__utf8_valid(o.ptr, o.len))
			return pt__err(PT_ECORRUPT, "structure: a string is not valid UTF-8");
		return 0;
	case MPK_ARRAY:
		for (uint32_t i = 0; i < o.len; i++) {
			int rc = tree_walk(p, end, depth + 1, nentries, 0);
			if (rc)
				return rc;
		}
		return 0;
	case MPK_MAP:
		for (uint32_t i = 0; i < o.len; i++) {
			int rc = tree_walk(p, end, depth + 1, nentries, 1);
			if (!rc)
				rc = tree_walk(p, end, depth + 1, nentries, 0);
			if (rc)
				return rc;
		}
		return 0;
	case MPK_EXT:
		if (o.ext_type == PT_STRUCT_EXT_ENTRY) {
			if (o.len != 4)
				return pt__err(PT_ECORRUPT, "structure: an entry reference is not 4 bytes");
			uint32_t idx = mpk_rbe32(o.ptr);
			if (idx >= nentries)
				return pt__err(PT_ECORRUPT,
					       "structure: entry reference %u but the checkpoint has %llu entries",
					       idx, (unsigned long long)nentries);
			return 0;
		}
		if (o.ext_type == PT_STRUCT_EXT_TUPLE) {
			const uint8_t *q = o.ptr, *qend = o.ptr + o.len;
			mpk_obj a = {0};
			const uint8_t *peek = q;
			if (mpk_read(&peek, qend, &a) || a.type != MPK_ARRAY)
				return pt__err(PT_ECORRUPT, "structure: a tuple does not hold an array");
			int rc = tree_walk(&q, qend, depth + 1, nentries, 0);
			if (rc)
				return rc;
			if (q != qend)
				return pt__err(PT_ECORRUPT, "structure: bytes after a tuple's array");
			return 0;
		}
		return pt__err(PT_ECORRUPT, "structure: unknown ext type %d", (int)o.ext_type);
	default:
		return 0;
	}
}

int pt__tree_check(const uint8_t *p, size_t len, uint64_t nentries)
{
	if (len > PT_STRUCT_MAX_BYTES)
		return pt__err(PT_ELIMIT, "structure of %zu bytes (at most %zu)", len, PT_STRUCT_MAX_BYTES);
	const uint8_t *q = p, *end = p + len;
	int rc = tree_walk(&q, end, 0, nentries, 0);
	if (!rc && q != end)
		rc = pt__err(PT_ECORRUPT, "structure: %zu bytes after its value", (size_t)(end - q));
	return rc;
}

int pt_checkpoint_set_structure(pt_checkpoint *ck, const void *msgpack, size_t len)
{
	if (!ck || (!msgpack && len))
		return pt__err(PT_EINVAL, "pt_checkpoint_set_structure: NULL argument");
	uint8_t *copy = NULL;
	if (len) {
		int rc = pt__tree_check(msgpack, len, ck->count);
		if (rc == PT_ECORRUPT) {
			char msg[256];
			snprintf(msg, sizeof msg, "%s", pt_error_last());
			return pt__err(PT_EINVAL, "checkpoint %s", msg);
		}
		if (rc)
			return rc;
		if (!(copy = pt__malloc(len)))
			return PT_ENOMEM;
		memcpy(copy, msgpack, len);
	}
	pt__free(ck->tree);
	ck->tree = copy;
	ck->tree_len = len;
	return 0;
}
