/*
 * checkpoint_show.c - a checkpoint as the list of its leaves by path (the one
 * rendering behind `provtrace checkpoint show` and Python's Checkpoint.paths()).
 *
 * The structure (docs/FORMAT.md "Checkpoint manifest") is walked depth first;
 * each leaf gets the path of keys and indices that leads to it, joined by '.'
 * as the Python binding names entries (`optimizer.state.0.exp_avg`).
 */
#include "checkpoint/checkpoint_int.h"
#include "base/mpk_int.h"
#include "format/json_int.h"

#include <inttypes.h>
#include <string.h>

typedef struct {
	const pt_checkpoint_reader *rd;
	pt__buf out;
	pt__buf path;
	size_t leaves;
} walker;

static int leaf_head(walker *w)
{
	const char *h = w->leaves ? ",\n{\"path\":" : "\n{\"path\":";
	w->leaves++;
	int rc = pt__buf_append(&w->out, h, strlen(h));
	if (!rc)
		rc = pt__json_string(&w->out, (const char *)w->path.data, w->path.len);
	return rc;
}

static int put_entry(walker *w, uint32_t index)
{
	pt_checkpoint_entry e;
	int rc = pt_checkpoint_reader_entry(w->rd, index, &e);
	if (!rc)
		rc = leaf_head(w);
	if (!rc)
		rc = pt__buf_printf(&w->out, ",\"entry\":%" PRIu32 ",\"name\":", index);
	if (!rc)
		rc = pt__json_string(&w->out, e.name, strlen(e.name));
	if (!rc && e.type == PT_ENTRY_TENSOR) {
		const char *dn = pt_dtype_name(e.dtype);
		rc = pt__buf_printf(&w->out, ",\"type\":\"tensor\",\"dtype\":\"%s\",\"shape\":[", dn ? dn : "?");
		for (unsigned i = 0; !rc && i < e.ndim; i++)
			rc = pt__buf_printf(&w->out, "%s%" PRIu64, i ? "," : "", e.shape[i]);
		if (!rc)
			rc = pt__buf_append(&w->out, "]", 1);
	} else if (!rc) {
		rc = pt__buf_append(&w->out, ",\"type\":\"blob\"", 14);
	}
	if (!rc)
		rc = pt__buf_printf(&w->out, ",\"size\":%" PRIu64 "}", e.size);
	return rc;
}

/* Append ".<key>" (or "<key>" at the top) for a map key or an index. */
static int push_key(walker *w, const uint8_t *kp, const uint8_t *kend, const char *index)
{
	int rc = w->path.len ? pt__buf_append(&w->path, ".", 1) : 0;
	if (rc || index)
		return rc ? rc : pt__buf_append(&w->path, index, strlen(index));
	const uint8_t *q = kp;
	mpk_obj k;
	if (mpk_read(&q, kend, &k))
		return pt__err(PT_ECORRUPT, "checkpoint structure: malformed key");
	char t[64];
	switch (k.type) {
	case MPK_STR: return pt__buf_append(&w->path, k.ptr, k.len);
	case MPK_UINT: snprintf(t, sizeof t, "%" PRIu64, k.u); break;
	case MPK_INT: snprintf(t, sizeof t, "%" PRId64, k.i); break;
	case MPK_NIL: snprintf(t, sizeof t, "None"); break;
	case MPK_BOOL: snprintf(t, sizeof t, "%s", k.b ? "True" : "False"); break;
	case MPK_FLOAT32:
	case MPK_FLOAT64: pt_format_double(k.d, t, sizeof t); break;
	default: return pt__err(PT_ECORRUPT, "checkpoint structure: a container as a key");
	}
	return pt__buf_append(&w->path, t, strlen(t));
}

static int walk(walker *w, const uint8_t **p, const uint8_t *end, int depth)
{
	if (depth > PT_STRUCT_MAX_DEPTH)
		return pt__err(PT_ECORRUPT, "checkpoint structure: nested deeper than %d", PT_STRUCT_MAX_DEPTH);
	const uint8_t *start = *p;
	mpk_obj o;
	if (mpk_read(p, end, &o))
		return pt__err(PT_ECORRUPT, "checkpoint structure: malformed value");
	size_t mark = w->path.len;
	int rc = 0;
	if (o.type == MPK_EXT && o.ext_type == PT_STRUCT_EXT_ENTRY && o.len == 4) {
		return put_entry(w, mpk_rbe32(o.ptr));
	} else if (o.type == MPK_EXT && o.ext_type == PT_STRUCT_EXT_TUPLE) {
		const uint8_t *q = o.ptr;
		return walk(w, &q, o.ptr + o.len, depth + 1);
	} else if ((o.type == MPK_ARRAY || o.type == MPK_MAP) && o.len) {
		for (uint32_t i = 0; i < o.len && !rc; i++) {
			char idx[24];
			if (o.type == MPK_MAP) {
				const uint8_t *kp = *p;
				if (mpk_skip(p, end, 2))
					return pt__err(PT_ECORRUPT, "checkpoint structure: malformed key");
				rc = push_key(w, kp, *p, NULL);
			} else {
				snprintf(idx, sizeof idx, "%" PRIu32, i);
				rc = push_key(w, NULL, NULL, idx);
			}
			if (!rc)
				rc = walk(w, p, end, depth + 1);
			w->path.len = mark;
		}
		return rc;
	}
	/* a plain value (or an empty container): its JSON form */
	if (o.type == MPK_ARRAY || o.type == MPK_MAP) {
		/* empty: mpk_read consumed the header only */
	} else if (o.type == MPK_EXT) {
		return pt__err(PT_ECORRUPT, "checkpoint structure: unknown ext type %d", o.ext_type);
	}
	rc = leaf_head(w);
	if (!rc)
		rc = pt__buf_append(&w->out, ",\"value\":", 9);
	if (!rc)
		rc = pt__json_value(&w->out, start, (size_t)(*p - start));
	if (!rc)
		rc = pt__buf_append(&w->out, "}", 1);
	return rc;
}

int pt_checkpoint_reader_paths_json(const pt_checkpoint_reader *rd, char **out, size_t *out_len)
{
	if (out)
		*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!rd || !out)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_paths_json: NULL argument");
	walker w;
	memset(&w, 0, sizeof w);
	w.rd = rd;
	const void *tree = NULL;
	size_t tlen = 0;
	int rc = pt_checkpoint_reader_structure(rd, &tree, &tlen);
	if (!rc)
		rc = pt__buf_append(&w.out, "[", 1);
	if (!rc && tree) {
		const uint8_t *p = tree, *end = p + tlen;
		rc = walk(&w, &p, end, 0);
		if (!rc && p != end)
			rc = pt__err(PT_ECORRUPT, "checkpoint structure: bytes after the value");
	} else if (!rc) {
		/* no structure: every entry is a leaf named by itself */
		for (size_t i = 0; i < pt_checkpoint_reader_count(rd) && !rc; i++) {
			pt_checkpoint_entry e;
			w.path.len = 0;
			rc = pt_checkpoint_reader_entry(rd, i, &e);
			if (!rc)
				rc = pt__buf_append(&w.path, e.name, strlen(e.name));
			if (!rc)
				rc = put_entry(&w, (uint32_t)i);
		}
	}
	if (!rc)
		rc = pt__buf_append(&w.out, w.leaves ? "\n]" : "]", w.leaves ? 2 : 1);
	if (!rc)
		rc = pt__buf_append(&w.out, "", 1); /* NUL */
	pt__buf_free(&w.path);
	if (rc) {
		pt__buf_free(&w.out);
		return rc;
	}
	*out = (char *)w.out.data;
	if (out_len)
		*out_len = w.out.len - 1;
	return 0;
}
