/*
 * replay.c - the public reading API over the state engine (log/state.c):
 * opening a replay at a point is state.c's; here are the accessors, walking
 * forward and backward, custom folds, lineages, and the diff of two states.
 */
#include "log/fold_int.h"
#include "log/history_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"
#include "log/state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int pt_point_parse(pt_point *out, const char *text)
{
	if (!out || !text)
		return pt__err(PT_EINVAL, "pt_point_parse: NULL argument");
	if (!strcmp(text, "latest")) {
		*out = (pt_point){PT_AT_LATEST, 0};
		return 0;
	}
	const char *eq = strchr(text, '=');
	if (!eq)
		return pt__err(PT_EINVAL, "invalid point \"%s\": expected latest, seq=N, step=N or time=ISO-8601", text);
	size_t kl = (size_t)(eq - text);
	const char *v = eq + 1;
	if (kl == 4 && !strncmp(text, "time", 4)) {
		int rc = pt_time_parse(&out->value, v);
		if (rc)
			return rc;
		out->kind = PT_AT_TIME;
		return 0;
	}
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno)
		return pt__err(PT_EINVAL, "invalid point \"%s\": \"%s\" is not an integer", text, v);
	if (kl == 3 && !strncmp(text, "seq", 3)) {
		if (n < 0)
			return pt__err(PT_EINVAL, "invalid point \"%s\": seq is never negative", text);
		*out = (pt_point){PT_AT_SEQ, n};
	} else if (kl == 4 && !strncmp(text, "step", 4)) {
		*out = (pt_point){PT_AT_STEP, n};
	} else {
		return pt__err(PT_EINVAL, "invalid point \"%s\": expected latest, seq=N, step=N or time=ISO-8601", text);
	}
	return 0;
}

int pt_replay_options_init(pt_replay_options *opts, unsigned int version)
{
	if (!opts || version != PT_REPLAY_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_replay_options_init: unsupported version %u", version);
	pt_replay_options d = PT_REPLAY_OPTIONS_INIT;
	*opts = d;
	return 0;
}

uint64_t pt_replay_seq(const pt_replay *rp) { return rp ? rp->f.seq : 0; }
int64_t pt_replay_step(const pt_replay *rp) { return rp ? rp->f.step : PT_NO_STEP; }
int64_t pt_replay_lineage(const pt_replay *rp) { return rp ? rp->path_lineage : 0; }
uint64_t pt_replay_snapshot_seq(const pt_replay *rp) { return rp ? rp->snapshot_seq : 0; }
uint64_t pt_replay_events_folded(const pt_replay *rp) { return rp ? rp->folded : 0; }

int pt_replay_state_json(pt_replay *rp, const char **json, size_t *len)
{
	if (!rp || !json)
		return pt__err(PT_EINVAL, "pt_replay_state_json: NULL argument");
	rp->json.len = 0;
	int rc = pt__fold_json(&rp->f, rp->run, rp->stream, &rp->json);
	if (rc)
		return rc;
	*json = (const char *)rp->json.data;
	if (len)
		*len = rp->json.len;
	return 0;
}

static int entry_out(const pt__fold_map *m, const char *what, const char *name, const void **mp, size_t *len,
		     uint64_t *seq, int64_t *step)
{
	if (!name)
		return pt__err(PT_EINVAL, "%s name is NULL", what);
	const pt__fold_entry *e = pt__fold_map_get(m, name, strlen(name));
	if (!e)
		return pt__err(PT_ENOTFOUND, "no %s \"%s\" in effect", what, name);
	if (mp)
		*mp = e->val;
	if (len)
		*len = e->val_len;
	if (seq)
		*seq = e->seq;
	if (step)
		*step = e->step;
	return 0;
}

int pt_replay_param(const pt_replay *rp, const char *name, const void **mp, size_t *len, uint64_t *seq, int64_t *step)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_param: NULL replay");
	return entry_out(&rp->f.params, "param", name, mp, len, seq, step);
}

int pt_replay_metric(const pt_replay *rp, const char *name, const void **mp, size_t *len, uint64_t *seq, int64_t *step)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_metric: NULL replay");
	return entry_out(&rp->f.metrics, "metric", name, mp, len, seq, step);
}

int pt_replay_checkpoint(const pt_replay *rp, char *manifest_hex, uint64_t *seq, int64_t *step)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_checkpoint: NULL replay");
	return pt__state_ckpt_fields(&rp->f.checkpoint, manifest_hex, seq, step);
}

/* ---- walking ---- */
int pt_replay_forward(pt_replay *rp, const pt_event_view **applied)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_forward: NULL replay");
	if (applied)
		*applied = NULL;
	/* the full path of the lineage (not cut at the current position) */
	if (!rp->walk) {
		pt__path full = {0};
		int rc = pt__state_build_path(rp, rp->path_lineage, rp->bt.last_seq, &full, 0);
		if (rc) {
			pt__free(full.r);
			return rc;
		}
		pt__free(rp->path.r);
		rp->path = full;
		rp->walk_range = 0;
	}
	for (;;) {
		if (!rp->walk) {
			size_t i = rp->walk_range;
			while (i < rp->path.n && rp->path.r[i].hi <= rp->f.seq)
				i++;
			if (i >= rp->path.n)
				return PT_ITEROVER;
			rp->walk_range = i;
			pt_iter_options o = PT_ITER_OPTIONS_INIT;
			o.seq_min = rp->path.r[i].lo > rp->f.seq + 1 ? rp->path.r[i].lo : rp->f.seq + 1;
			o.seq_max = rp->path.r[i].hi;
			int rc = pt_iter_open(&rp->walk, rp->st, rp->run, rp->stream, &o);
			if (rc)
				return rc;
		}
		const pt_event_view *v;
		int rc = pt_iter_next(rp->walk, &v);
		if (rc == PT_ITEROVER) {
			pt_iter_free(rp->walk);
			rp->walk = NULL;
			rp->walk_range++;
			if (rp->walk_range >= rp->path.n)
				return PT_ITEROVER;
			continue;
		}
		if (rc)
			return rc;
		pt__fold_event e;
		pt__state_view_event(&e, v);
		pt__fold_ctx c = {rp, 0, NULL};
		if ((rc = pt__state_fold_cb(&c, v, &e)))
			return rc;
		if (applied)
			*applied = v;
		return 0;
	}
}

int pt_replay_backward(pt_replay *rp)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_backward: NULL replay");
	if (rp->nfolds)
		return pt__err(PT_EINVAL, "cannot step backward with a custom fold registered (folds only move forward)");
	/* the previous position on the path */
	uint64_t cur = rp->f.seq, prev = 0;
	for (size_t i = 0; i < rp->path.n; i++) {
		if (rp->path.r[i].lo < cur)
			prev = rp->path.r[i].hi < cur - 1 ? rp->path.r[i].hi : cur - 1;
	}
	if (cur == 0)
		return PT_ITEROVER;
	pt_iter_free(rp->walk);
	rp->walk = NULL;
	int64_t lineage = rp->path_lineage;
	pt__path full = rp->path;
	rp->path = (pt__path){0};
	int rc = pt__state_build_path(rp, lineage, prev, &rp->path, 0);
	pt__free(full.r);
	if (!rc)
		rc = pt__state_compute(rp, prev);
	return rc;
}

int pt_replay_changes_json(const pt_replay *rp, const char **json)
{
	if (!rp || !json)
		return pt__err(PT_EINVAL, "pt_replay_changes_json: NULL argument");
	if (!rp->o.track_changes)
		return pt__err(PT_EINVAL, "changes are tracked only with options.track_changes = 1");
	*json = rp->f.changes.len ? (const char *)rp->f.changes.data : "[]";
	return 0;
}

int pt_replay_fold_kind(pt_replay *rp, const char *kind, pt_fold_fn fn, void *ctx)
{
	if (!rp || !kind || !fn)
		return pt__err(PT_EINVAL, "pt_replay_fold_kind: NULL argument");
	void *nv = pt__realloc(rp->folds, (rp->nfolds + 1) * sizeof *rp->folds);
	if (!nv)
		return PT_ENOMEM;
	rp->folds = nv;
	char *k = pt__strdup(kind);
	if (!k)
		return PT_ENOMEM;
	rp->folds[rp->nfolds].kind = k;
	rp->folds[rp->nfolds].fn = fn;
	rp->folds[rp->nfolds].ctx = ctx;
	/* run the new fold over the path so far: only this fold, from the start */
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = kind;
	int rc = 0;
	for (size_t i = 0; i < rp->path.n && !rc; i++) {
		o.seq_min = rp->path.r[i].lo;
		o.seq_max = rp->path.r[i].hi < rp->f.seq ? rp->path.r[i].hi : rp->f.seq;
		if (o.seq_min > o.seq_max)
			continue;
		pt_iter *it;
		if ((rc = pt_iter_open(&it, rp->st, rp->run, rp->stream, &o)))
			break;
		const pt_event_view *v;
		while ((rc = pt_iter_next(it, &v)) == 0)
			if ((rc = fn(ctx, v)))
				break;
		pt_iter_free(it);
		if (rc == PT_ITEROVER)
			rc = 0;
	}
	if (rc) {
		pt__free(k);
		return rc;
	}
	rp->nfolds++;
	return 0;
}

int pt_replay_lineages_json(pt_replay *rp, const char **json)
{
	if (!rp || !json)
		return pt__err(PT_EINVAL, "pt_replay_lineages_json: NULL argument");
	pt__buf *b = &rp->lineage_json;
	b->len = 0;
	int rc = pt__buf_printf(b, "{\"live\":%lld,\"lineages\":[{\"lineage\":0,\"parent\":null,\"start_seq\":1,\"end_seq\":%llu}",
				(long long)rp->lin.lineage, (unsigned long long)pt__state_lineage_end(&rp->lin, 0, 0, rp->bt.last_seq));
	for (size_t i = 0; !rc && i < rp->lin.nlineages; i++) {
		const pt__lineage *l = &rp->lin.lineages[i];
		uint64_t end = pt__state_lineage_end(&rp->lin, l->id, l->start_seq, rp->bt.last_seq);
		rc = pt__lineage_json(b, l, true, end ? end : l->start_seq);
	}
	if (!rc)
		rc = pt__buf_append(b, "]}", 3);
	if (rc)
		return rc;
	b->len--;
	*json = (const char *)b->data;
	return 0;
}

/* ---- diff ---- */
static int num_of(const uint8_t *v, size_t vl, double *out)
{
	const uint8_t *p = v;
	mpk_obj o;
	if (!v || mpk_read(&p, v + vl, &o))
		return -1;
	switch (o.type) {
	case MPK_UINT: *out = (double)o.u; return 0;
	case MPK_INT: *out = (double)o.i; return 0;
	case MPK_FLOAT32:
	case MPK_FLOAT64: *out = o.d; return 0;
	default: return -1;
	}
}

static bool same_val(const pt__fold_entry *a, const pt__fold_entry *b)
{
	return a->val_len == b->val_len && !memcmp(a->val, b->val, a->val_len);
}

static int diff_map(pt__buf *b, const pt__fold_map *ma, const pt__fold_map *mb, bool metrics)
{
	int rc = pt__buf_append(b, "{", 1);
	bool first = true;
	/* changed and added */
	for (size_t i = 0; !rc && i < mb->n; i++) {
		const pt__fold_entry *eb = &mb->v[i];
		const pt__fold_entry *ea = pt__fold_map_get(ma, eb->key, eb->klen);
		if (ea && same_val(ea, eb))
			continue;
		if ((rc = pt__buf_append(b, first ? "" : ",", first ? 0 : 1)) || (rc = pt__json_string(b, eb->key, eb->klen)) ||
		    (rc = pt__buf_append(b, ":{\"old\":", 8)))
			break;
		first = false;
		rc = ea ? pt__json_value(b, ea->val, ea->val_len) : pt__buf_append(b, "null", 4);
		if (!rc)
			rc = pt__buf_append(b, ",\"new\":", 7);
		if (!rc)
			rc = pt__json_value(b, eb->val, eb->val_len);
		double x, y;
		if (!rc && metrics && ea && !num_of(ea->val, ea->val_len, &x) && !num_of(eb->val, eb->val_len, &y))
			rc = pt__buf_printf(b, ",\"delta\":%.17g", y - x);
		if (!rc && !metrics && eb->aux)
			rc = pt__buf_printf(b, ",\"set_by_decision\":%llu", (unsigned long long)eb->aux);
		if (!rc)
			rc = pt__buf_append(b, "}", 1);
	}
	/* removed (params cannot be unset today, but a lineage switch can drop them) */
	for (size_t i = 0; !rc && i < ma->n; i++) {
		const pt__fold_entry *ea = &ma->v[i];
		if (pt__fold_map_get(mb, ea->key, ea->klen))
			continue;
		if ((rc = pt__buf_append(b, first ? "" : ",", first ? 0 : 1)) || (rc = pt__json_string(b, ea->key, ea->klen)) ||
		    (rc = pt__buf_append(b, ":{\"old\":", 8)) || (rc = pt__json_value(b, ea->val, ea->val_len)) ||
		    (rc = pt__buf_append(b, ",\"new\":null}", 12)))
			break;
		first = false;
	}
	return rc ? rc : pt__buf_append(b, "}", 1);
}

int pt__replay_diff_json(const pt_replay *a, const pt_replay *b, char **out, pt__ckpt_diff_fn ckpt_diff)
{
	if (!a || !b || !out)
		return pt__err(PT_EINVAL, "pt_replay_diff_json: NULL argument");
	*out = NULL;
	if (strcmp(a->run, b->run) || strcmp(a->stream, b->stream))
		return pt__err(PT_EINVAL, "diff compares two points of the same run and stream");
	pt__buf o = {0};
	char ta[48], tb[48];
	int rc = pt__buf_printf(&o, "{\"run\":");
	if (!rc)
		rc = pt__json_string(&o, a->run, strlen(a->run));
	if (!rc)
		rc = pt__buf_printf(&o, ",\"from\":{\"seq\":%llu,\"step\":%lld,\"lineage\":%lld,\"time\":\"%s\"}", (unsigned long long)a->f.seq,
				    (long long)(a->f.step == PT_NO_STEP ? -1 : a->f.step), (long long)a->path_lineage,
				    pt_time_format(a->f.time, ta, sizeof ta));
	if (!rc)
		rc = pt__buf_printf(&o, ",\"to\":{\"seq\":%llu,\"step\":%lld,\"lineage\":%lld,\"time\":\"%s\"}", (unsigned long long)b->f.seq,
				    (long long)(b->f.step == PT_NO_STEP ? -1 : b->f.step), (long long)b->path_lineage,
				    pt_time_format(b->f.time, tb, sizeof tb));
	if (!rc)
		rc = pt__buf_append(&o, ",\"params\":", 10);
	if (!rc)
		rc = diff_map(&o, &a->f.params, &b->f.params, false);
	if (!rc)
		rc = pt__buf_append(&o, ",\"metrics\":", 11);
	if (!rc)
		rc = diff_map(&o, &a->f.metrics, &b->f.metrics, true);
	/* decisions recorded in b after a's position */
	if (!rc)
		rc = pt__buf_printf(&o, ",\"decisions_between\":%llu,\"decisions\":[",
				    (unsigned long long)(b->f.decisions_total > a->f.decisions_total
								 ? b->f.decisions_total - a->f.decisions_total
								 : 0));
	size_t nd = b->f.decisions_total < PT_FOLD_DECISIONS_KEPT ? (size_t)b->f.decisions_total : PT_FOLD_DECISIONS_KEPT;
	bool first = true;
	for (size_t i = 0; !rc && i < nd; i++) {
		const pt__buf *d = &b->f.decisions[(b->f.dec_head + i) % PT_FOLD_DECISIONS_KEPT];
		const uint8_t *p = d->data, *end = d->data + d->len;
		mpk_obj m, k, v;
		uint64_t seq = 0;
		if (!mpk_read(&p, end, &m) && m.type == MPK_MAP && !mpk_read(&p, end, &k) && !mpk_read(&p, end, &v) &&
		    v.type == MPK_UINT)
			seq = v.u;
		if (seq <= a->f.seq)
			continue;
		if (!first)
			rc = pt__buf_append(&o, ",", 1);
		first = false;
		if (!rc)
			rc = pt__json_value(&o, d->data, d->len);
	}
	if (!rc)
		rc = pt__buf_append(&o, "],\"checkpoint\":", 15);
	if (!rc)
		rc = ckpt_diff ? ckpt_diff(&o, a, b) : pt__buf_append(&o, "null", 4);
	if (!rc)
		rc = pt__buf_append(&o, "}", 2);
	if (rc) {
		pt__buf_free(&o);
		return rc;
	}
	*out = (char *)o.data;
	return 0;
}

