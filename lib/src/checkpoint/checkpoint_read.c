/*
 * checkpoint_read.c - reading checkpoints back, and finding them through
 * the `checkpoint` events of the log.
 */
#include "checkpoint/checkpoint_int.h"

#include "format/objects_int.h"

#include <sys/stat.h>

struct pt_checkpoint_reader {
	const pt_store *st;
	pt__manifest m;
	pt__object_scratch scr;
	/* the last shared chunk read (small entries grouped together come
	 * one after the other: read their chunk once) */
	uint8_t *chunk;
	size_t chunk_cap;
	uint8_t chunk_id[32];
	int chunk_valid;
};

int pt_checkpoint_reader_open(pt_checkpoint_reader **out, const pt_store *st, const char *manifest_hex)
{
	if (!out || !st || !manifest_hex)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_open: NULL argument");
	*out = NULL;
	uint8_t id[32];
	if (strlen(manifest_hex) != 64 || pt__unhex(manifest_hex, id, 32))
		return pt__err(PT_EINVAL, "\"%s\" is not a manifest id (64 hex digits)", manifest_hex);
	pt_checkpoint_reader *rd = pt__calloc(1, sizeof *rd);
	if (!rd)
		return PT_ENOMEM;
	rd->st = st;
	int rc = pt__manifest_load(&rd->m, st, id);
	if (rc) {
		pt__free(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

size_t pt_checkpoint_reader_count(const pt_checkpoint_reader *rd) { return rd ? rd->m.count : 0; }

int pt_checkpoint_reader_structure(const pt_checkpoint_reader *rd, const void **data, size_t *len)
{
	if (data)
		*data = NULL;
	if (len)
		*len = 0;
	if (!rd || !data || !len)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_structure: NULL argument");
	*data = rd->m.tree;
	*len = rd->m.tree_len;
	return 0;
}

int pt_checkpoint_reader_entry(const pt_checkpoint_reader *rd, size_t index, pt_checkpoint_entry *out)
{
	if (!rd || !out)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_entry: NULL argument");
	if (index >= rd->m.count)
		return pt__err(PT_EINVAL, "checkpoint entry %zu out of range (%u entries)", index, rd->m.count);
	const pt__mentry *e = &rd->m.e[index];
	out->name = e->name;
	out->type = (pt_entry_type)e->type;
	out->dtype = (pt_dtype)e->dtype;
	out->ndim = e->ndim;
	out->shape = e->shape;
	out->size = e->size;
	out->chunks = e->next;
	return 0;
}

int pt_checkpoint_reader_find(const pt_checkpoint_reader *rd, const char *name, size_t *out_index)
{
	if (!rd || !name || !out_index)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_find: NULL argument");
	for (uint32_t i = 0; i < rd->m.count; i++)
		if (!strcmp(rd->m.e[i].name, name)) {
			*out_index = i;
			return 0;
		}
	return pt__err(PT_ENOTFOUND, "the checkpoint has no entry named \"%s\"", name);
}

/* Bytes of extent k of entry e, verified; *out points into the reader or `direct`. */
static int extent_bytes(pt_checkpoint_reader *rd, const pt__mentry *e, uint32_t k, uint8_t *direct,
			const uint8_t **out)
{
	const pt__extent *x = &e->ext[k];
	int rc = 0;
	if (direct && x->off == 0 && x->len == x->chunk_len) {
		rc = pt__object_read(rd->st, x->id, direct, x->len, &rd->scr);
		*out = direct;
	} else {
		if (!rd->chunk_valid || memcmp(rd->chunk_id, x->id, 32)) {
			rd->chunk_valid = 0;
			if (rd->chunk_cap < x->chunk_len) {
				uint8_t *n = pt__malloc(x->chunk_len);
				if (!n)
					return PT_ENOMEM;
				pt__free(rd->chunk);
				rd->chunk = n;
				rd->chunk_cap = x->chunk_len;
			}
			rc = pt__object_read(rd->st, x->id, rd->chunk, x->chunk_len, &rd->scr);
			if (!rc) {
				memcpy(rd->chunk_id, x->id, 32);
				rd->chunk_valid = 1;
			}
		}
		*out = rd->chunk + x->off;
	}
	if (rc) {
		char hex[PT_SHA256_HEX];
		pt__hex(x->id, 32, hex);
		rc = pt__err_wrap(rc, "%s \"%s\", chunk %u of %u (%s)",
				  e->type == PT_ENTRY_TENSOR ? "tensor" : "blob", e->name, k + 1, e->next, hex);
	}
	return rc;
}

int pt_checkpoint_reader_read(pt_checkpoint_reader *rd, size_t index, void *buf, size_t cap)
{
	if (!rd || (!buf && cap))
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_read: NULL argument");
	if (index >= rd->m.count)
		return pt__err(PT_EINVAL, "checkpoint entry %zu out of range (%u entries)", index, rd->m.count);
	const pt__mentry *e = &rd->m.e[index];
	if (cap < e->size)
		return pt__err(PT_ELIMIT, "entry \"%s\" is %llu bytes, the buffer %zu", e->name,
			       (unsigned long long)e->size, cap);
	uint8_t *dst = buf;
	for (uint32_t k = 0; k < e->next; k++) {
		const uint8_t *src;
		int rc = extent_bytes(rd, e, k, dst, &src);
		if (rc)
			return rc;
		if (src != dst)
			memcpy(dst, src, e->ext[k].len);
		dst += e->ext[k].len;
	}
	return 0;
}

int pt_checkpoint_reader_read_fd(pt_checkpoint_reader *rd, size_t index, int fd)
{
	if (!rd)
		return pt__err(PT_EINVAL, "pt_checkpoint_reader_read_fd: NULL reader");
	if (index >= rd->m.count)
		return pt__err(PT_EINVAL, "checkpoint entry %zu out of range (%u entries)", index, rd->m.count);
	const pt__mentry *e = &rd->m.e[index];
	for (uint32_t k = 0; k < e->next; k++) {
		const uint8_t *src;
		int rc = extent_bytes(rd, e, k, NULL, &src);
		if (!rc)
			rc = pt__write_all(fd, src, e->ext[k].len, e->name);
		if (rc)
			return rc;
	}
	return 0;
}

void pt_checkpoint_reader_free(pt_checkpoint_reader *rd)
{
	if (!rd)
		return;
	pt__manifest_clear(&rd->m);
	pt__object_scratch_free(&rd->scr);
	pt__free(rd->chunk);
	pt__free(rd);
}

/* ---- finding checkpoints in the log ------------------------------------------------------ */

typedef int (*ck_cb)(const pt_checkpoint_info *info, void *payload);

static int scan_stream(const pt_store *st, const char *run, const char *stream, int64_t step_max,
		       ck_cb cb, void *payload)
{
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = PT_KIND_CHECKPOINT;
	if (step_max != INT64_MAX)
		o.step_max = step_max;
	pt_iter *it = NULL;
	int rc = pt_iter_open(&it, st, run, stream, &o);
	if (rc)
		return rc;
	const pt_event_view *ev;
	while ((rc = pt_iter_next(it, &ev)) == 0) {
		const void *body;
		size_t blen;
		if ((rc = pt_ev_body_msgpack(ev, &body, &blen)))
			break;
		pt__ev_refs r;
		if ((rc = pt__ev_refs_parse(&r, pt_ev_kind(ev), body, blen))) {
			rc = pt__err_wrap(rc, "run %s stream %s seq %llu", run, stream,
					  (unsigned long long)pt_ev_seq(ev));
			break;
		}
		pt__ev_refs_free(&r);
		if (!r.has_manifest)
			continue;
		r.info.seq = pt_ev_seq(ev);
		r.info.step = pt_ev_step(ev);
		r.info.time = pt_ev_time(ev);
		snprintf(r.info.run, sizeof r.info.run, "%s", run);
		snprintf(r.info.stream, sizeof r.info.stream, "%s", stream);
		if ((rc = cb(&r.info, payload)))
			break;
	}
	if (rc == PT_ITEROVER)
		rc = 0;
	pt_iter_free(it);
	return rc;
}

static int keep_last(const pt_checkpoint_info *info, void *payload)
{
	*(pt_checkpoint_info *)payload = *info;
	return 0;
}

int pt_checkpoint_find(pt_checkpoint_info *out, const pt_store *st, const char *run,
		       const char *stream, int64_t step)
{
	if (!out || !st || !run)
		return pt__err(PT_EINVAL, "pt_checkpoint_find: NULL argument");
	const char *sn = stream ? stream : PT_DEFAULT_STREAM;
	pt_checkpoint_info found;
	memset(&found, 0, sizeof found);
	int rc = scan_stream(st, run, sn, step, keep_last, &found);
	if (rc)
		return rc;
	if (!found.manifest[0]) {
		if (step == INT64_MAX)
			return pt__err(PT_ENOTFOUND, "run %s stream %s has no checkpoint", run, sn);
		return pt__err(PT_ENOTFOUND, "run %s stream %s has no checkpoint at or before step %lld", run,
			       sn, (long long)step);
	}
	*out = found;
	return 0;
}

typedef struct {
	pt_checkpoint_info *v;
	size_t n, cap;
} info_vec;

static int collect(const pt_checkpoint_info *info, void *payload)
{
	info_vec *iv = payload;
	if (iv->n == iv->cap) {
		size_t nc = iv->cap ? iv->cap * 2 : 16;
		pt_checkpoint_info *nv = pt__realloc(iv->v, nc * sizeof *nv);
		if (!nv)
			return PT_ENOMEM;
		iv->v = nv;
		iv->cap = nc;
	}
	iv->v[iv->n++] = *info;
	return 0;
}

int pt_checkpoint_list(pt_checkpoint_info **out, size_t *count, const pt_store *st, const char *run)
{
	if (!out || !count || !st)
		return pt__err(PT_EINVAL, "pt_checkpoint_list: NULL argument");
	*out = NULL;
	*count = 0;
	char **runs = NULL;
	size_t nruns = 0;
	int rc;
	if (run) {
		if ((rc = pt_name_check("run", run)))
			return rc;
		runs = pt__calloc(1, sizeof *runs);
		if (!runs || !(runs[0] = pt__strdup(run))) {
			pt__free(runs);
			return PT_ENOMEM;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		return rc;
	}
	info_vec iv = {0};
	for (size_t i = 0; i < nruns && !rc; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[i], &streams, &ns)))
			break;
		for (size_t k = 0; k < ns && !rc; k++)
			rc = scan_stream(st, runs[i], streams[k], INT64_MAX, collect, &iv);
		pt_strv_free(streams, ns);
	}
	pt_strv_free(runs, nruns);
	if (rc) {
		pt__free(iv.v);
		return rc;
	}
	*out = iv.v;
	*count = iv.n;
	return 0;
}

static int count_object(const uint8_t id[32], const char *path, void *payload)
{
	(void)id;
	pt_checkpoint_store_stats *s = payload;
	struct stat sb;
	if (lstat(path, &sb) == 0) {
		s->objects++;
		s->object_bytes += (uint64_t)sb.st_size;
	}
	return 0;
}

int pt_checkpoint_stats(pt_checkpoint_store_stats *out, const pt_store *st, const char *run)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_checkpoint_stats: NULL argument");
	memset(out, 0, sizeof *out);
	pt_checkpoint_info *v = NULL;
	size_t n = 0;
	int rc = pt_checkpoint_list(&v, &n, st, run);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		out->checkpoints++;
		out->logical_bytes += v[i].logical_bytes;
		out->added_bytes += v[i].new_bytes;
	}
	pt__free(v);
	return pt__object_walk(st, count_object, NULL, out);
}
