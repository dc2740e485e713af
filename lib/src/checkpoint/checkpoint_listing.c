/*
 * checkpoint_listing.c - the one rendering of a checkpoint listing (JSON,
 * used by `provtrace checkpoint ls --json` and Python's Run.checkpoints())
 * and its totals.  "Stored" in the totals means distinct bytes on disk: the
 * objects (manifests and chunks) the listed checkpoints reference, each
 * counted once - not the sum of what each write believed it added, which
 * counts twice the chunks two writers stored at the same time.
 */
#include "checkpoint/checkpoint_int.h"
#include "format/json_int.h"
#include "format/objects_int.h"

#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

static double ratio(uint64_t logical, uint64_t stored)
{
	return stored ? (double)logical / (double)stored : 0.0;
}

static int put_str(pt__buf *b, const char *s)
{
	return pt__json_string(b, s, strlen(s));
}

int pt_checkpoint_list_json(const pt_store *st, const char *run, char **out, size_t *out_len)
{
	if (out)
		*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!st || !out)
		return pt__err(PT_EINVAL, "pt_checkpoint_list_json: NULL argument");
	pt_checkpoint_info *v = NULL;
	size_t n = 0;
	int rc = pt_checkpoint_list(&v, &n, st, run);
	if (rc)
		return rc;
	pt__buf b = {0};
	rc = pt__buf_append(&b, "[", 1);
	for (size_t i = 0; i < n && !rc; i++) {
		const pt_checkpoint_info *c = &v[i];
		char t[48];
		rc = pt__buf_append(&b, i ? ",\n{\"run\":" : "\n{\"run\":", i ? 9 : 8);
		if (!rc)
			rc = put_str(&b, c->run);
		if (!rc)
			rc = pt__buf_append(&b, ",\"stream\":", 10);
		if (!rc)
			rc = put_str(&b, c->stream);
		if (!rc)
			rc = pt__buf_printf(&b, ",\"seq\":%" PRIu64, c->seq);
		if (!rc)
			rc = c->step == PT_NO_STEP ? pt__buf_printf(&b, ",\"step\":null")
						   : pt__buf_printf(&b, ",\"step\":%" PRId64, c->step);
		if (!rc)
			rc = pt__buf_printf(&b,
					    ",\"time\":\"%s\",\"time_ns\":%" PRId64 ",\"manifest\":\"%s\""
					    ",\"tensors\":%" PRIu64 ",\"blobs\":%" PRIu64 ",\"chunks\":%" PRIu64
					    ",\"new_chunks\":%" PRIu64 ",\"logical_bytes\":%" PRIu64
					    ",\"stored_bytes\":%" PRIu64 ",\"new_bytes\":%" PRIu64
					    ",\"dedup_ratio\":%.3f}",
					    pt_time_format(c->time, t, sizeof t), c->time, c->manifest, c->tensors,
					    c->blobs, c->chunks, c->new_chunks, c->logical_bytes, c->stored_bytes,
					    c->new_bytes, ratio(c->logical_bytes, c->new_bytes));
	}
	if (!rc)
		rc = n ? pt__buf_append(&b, "\n]", 3) : pt__buf_append(&b, "]", 2); /* with the NUL */
	pt__free(v);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	if (out_len)
		*out_len = b.len - 1;
	return 0;
}

/* Count object `id` once: its file's bytes, or as missing. */
static int count_once(pt__idset *seen, const pt_store *st, const uint8_t id[32], pt_checkpoint_totals *t)
{
	int added = pt__idset_add(seen, id);
	if (added <= 0)
		return added;
	char *path = pt__object_path(st, id);
	if (!path)
		return PT_ENOMEM;
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		t->objects++;
		t->stored_bytes += (uint64_t)sb.st_size;
	} else {
		t->missing_objects++;
	}
	pt__free(path);
	return 0;
}

int pt_checkpoint_totals_of(pt_checkpoint_totals *out, const pt_store *st, const char *run)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_checkpoint_totals_of: NULL argument");
	memset(out, 0, sizeof *out);
	pt_checkpoint_info *v = NULL;
	size_t n = 0;
	int rc = pt_checkpoint_list(&v, &n, st, run);
	if (rc)
		return rc;
	pt__idset seen = {0};
	pt_checkpoint_totals t;
	memset(&t, 0, sizeof t);
	for (size_t i = 0; i < n && !rc; i++) {
		t.checkpoints++;
		t.logical_bytes += v[i].logical_bytes;
		t.added_bytes += v[i].new_bytes;
		uint8_t mid[32];
		if (pt__unhex(v[i].manifest, mid, 32)) {
			t.missing_objects++;
			continue;
		}
		if (pt__idset_has(&seen, mid))
			continue; /* the same manifest listed twice: its chunks are counted */
		rc = count_once(&seen, st, mid, &t);
		if (rc)
			break;
		pt__manifest m;
		memset(&m, 0, sizeof m);
		int lr = pt__manifest_load(&m, st, mid);
		if (lr == PT_ENOMEM) {
			rc = lr;
			break;
		}
		if (lr) /* missing or damaged: verify reports it; the listing counts what it can */
			continue;
		for (uint32_t e = 0; e < m.count && !rc; e++)
			for (uint32_t k = 0; k < m.e[e].next && !rc; k++)
				rc = count_once(&seen, st, m.e[e].ext[k].id, &t);
		pt__manifest_clear(&m);
	}
	pt__idset_free(&seen);
	pt__free(v);
	if (rc)
		return rc;
	t.dedup_ratio = ratio(t.logical_bytes, t.stored_bytes);
	*out = t;
	return 0;
}
