/*
 * checkpoint_diff.c - the checkpoint part of replay's diff, and the public
 * pt_replay_diff_json that composes it with the state diff (log/replay.c).
 *
 * Replay (log/) knows the state at two points and diffs params, metrics and
 * decisions; which tensors changed between the two checkpoints in effect
 * needs manifests and chunk reading (this layer).  The composition lives
 * here, above both: the public function hands log/'s diff the checkpoint
 * part as a function (pt__replay_diff_json), so log/ never calls up.
 */
#include "checkpoint/checkpoint_int.h"
#include "log/state_int.h"
#include "format/json_int.h"

static bool same_entry(const pt__mentry *a, const pt__mentry *b)
{
	if (a->type != b->type || a->dtype != b->dtype || a->ndim != b->ndim || a->size != b->size || a->next != b->next)
		return false;
	if (memcmp(a->shape, b->shape, sizeof a->shape))
		return false;
	for (uint32_t k = 0; k < a->next; k++)
		if (memcmp(&a->ext[k], &b->ext[k], sizeof a->ext[k]))
			return false;
	return true;
}

/*
 * Small tensors are packed together into shared chunks, so different
 * extents do not mean different bytes: compare the bytes of entries up to
 * 16 MiB (larger ones have chunks of their own, where extents are exact).
 * 1 same, 0 different, <0 error.
 */
static int same_bytes(const pt_store *st, const char *ha, const char *hb, const char *name, uint64_t size)
{
	if (size > (16u << 20))
		return 0;
	pt_checkpoint_reader *a = NULL, *b = NULL;
	uint8_t *x = pt__malloc(size ? size : 1), *y = pt__malloc(size ? size : 1);
	size_t ia, ib;
	int rc = !x || !y ? PT_ENOMEM : 0;
	if (!rc && !(rc = pt_checkpoint_reader_open(&a, st, ha)) && !(rc = pt_checkpoint_reader_open(&b, st, hb)) &&
	    !(rc = pt_checkpoint_reader_find(a, name, &ia)) && !(rc = pt_checkpoint_reader_find(b, name, &ib)) &&
	    !(rc = pt_checkpoint_reader_read(a, ia, x, size)) && !(rc = pt_checkpoint_reader_read(b, ib, y, size)))
		rc = !memcmp(x, y, size);
	pt_checkpoint_reader_free(a);
	pt_checkpoint_reader_free(b);
	pt__free(x);
	pt__free(y);
	return rc;
}

static int diff_checkpoint(pt__buf *b, const pt_replay *ra, const pt_replay *rb)
{
	char ha[65] = "", hb[65] = "";
	uint64_t sa = 0, sb = 0;
	int64_t pa = PT_NO_STEP, pb = PT_NO_STEP;
	bool has_a = !pt__state_ckpt_fields(&ra->f.checkpoint, ha, &sa, &pa), has_b = !pt__state_ckpt_fields(&rb->f.checkpoint, hb, &sb, &pb);
	pt__err_clear();
	if (!has_a && !has_b)
		return pt__buf_append(b, "null", 4);
	int rc = pt__buf_printf(b, "{\"old\":%s%s%s,\"new\":%s%s%s", has_a ? "\"" : "", has_a ? ha : "null", has_a ? "\"" : "",
				has_b ? "\"" : "", has_b ? hb : "null", has_b ? "\"" : "");
	if (rc || !has_a || !has_b || !strcmp(ha, hb))
		return rc ? rc : pt__buf_append(b, ",\"changed\":[]}", 14);
	uint8_t ia[32], ib[32];
	pt__manifest ma = {0}, mb = {0};
	if (pt__unhex(ha, ia, 32) || pt__unhex(hb, ib, 32))
		return pt__err(PT_ECORRUPT, "malformed manifest id");
	if ((rc = pt__manifest_load(&ma, ra->st, ia)) || (rc = pt__manifest_load(&mb, rb->st, ib))) {
		/* the state diff stands without the tensor list: say why it is missing */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", pt_error_last());
		pt__manifest_clear(&ma);
		pt__manifest_clear(&mb);
		if (rc == PT_ENOMEM)
			return rc;
		rc = pt__buf_append(b, ",\"changed\":null,\"error\":", 21);
		if (!rc)
			rc = pt__json_string(b, msg, strlen(msg));
		return rc ? rc : pt__buf_append(b, "}", 1);
	}
	rc = pt__buf_append(b, ",\"changed\":[", 12);
	bool first = true;
	for (uint32_t i = 0; !rc && i < mb.count; i++) {
		const pt__mentry *eb = &mb.e[i];
		const pt__mentry *ea = NULL;
		for (uint32_t j = 0; j < ma.count && !ea; j++)
			if (!strcmp(ma.e[j].name, eb->name))
				ea = &ma.e[j];
		if (ea && same_entry(ea, eb))
			continue;
		if (ea && ea->size == eb->size && ea->type == eb->type && ea->dtype == eb->dtype && ea->ndim == eb->ndim &&
		    !memcmp(ea->shape, eb->shape, sizeof ea->shape)) {
			int same = same_bytes(ra->st, ha, hb, ea->name, ea->size);
			if (same < 0) {
				rc = same;
				break;
			}
			if (same)
				continue; /* packed with other tensors in a changed chunk, its own bytes equal */
		}
		if (!first)
			rc = pt__buf_append(b, ",", 1);
		first = false;
		if (!rc)
			rc = pt__json_string(b, eb->name, strlen(eb->name));
	}
	if (!rc)
		rc = pt__buf_append(b, "],\"removed\":[", 13);
	first = true;
	for (uint32_t j = 0; !rc && j < ma.count; j++) {
		bool found = false;
		for (uint32_t i = 0; i < mb.count && !found; i++)
			found = !strcmp(ma.e[j].name, mb.e[i].name);
		if (found)
			continue;
		if (!first)
			rc = pt__buf_append(b, ",", 1);
		first = false;
		if (!rc)
			rc = pt__json_string(b, ma.e[j].name, strlen(ma.e[j].name));
	}
	if (!rc)
		rc = pt__buf_append(b, "]}", 2);
	pt__manifest_clear(&ma);
	pt__manifest_clear(&mb);
	return rc;
}

int pt_replay_diff_json(const pt_replay *a, const pt_replay *b, char **out)
{
	return pt__replay_diff_json(a, b, out, diff_checkpoint);
}
