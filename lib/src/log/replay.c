/*
 * replay.c - the state of a stream at a point: resolve the point to a
 * position on a lineage's path, start from the nearest snapshot on that
 * path, fold the events in between.
 *
 * A path is a list of seq ranges: the ancestors' ranges cut at each fork
 * point, then the lineage's own range.  Every lookup here works on the
 * stream's batch table (chain + footers + open segment headers), so finding
 * a position costs a walk over batch summaries, never over events; the
 * events folded are bounded by the snapshot interval.
 */
#include "checkpoint/checkpoint_int.h"
#include "log/fold_int.h"
#include "log/history_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"
#include "log/replay_int.h"

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

/* ---- the batch table ---- */
static int btab_add(pt__btab *t, uint64_t first, uint32_t count, int64_t smin, int64_t smax, int64_t tmin, int64_t tmax)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		pt__bref *v = pt__realloc(t->v, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		t->v = v;
		t->cap = nc;
	}
	pt__bref *b = &t->v[t->n++];
	*b = (pt__bref){first, count, smin, smax, tmin, tmax, 0};
	int64_t prev = t->n > 1 ? t->v[t->n - 2].cum_time_max : INT64_MIN;
	b->cum_time_max = tmax > prev ? tmax : prev;
	return 0;
}

void pt__btab_free(pt__btab *t)
{
	pt__free(t->v);
	memset(t, 0, sizeof *t);
}

int pt__btab_load(pt__btab *t, const pt__history *h)
{
	memset(t, 0, sizeof *t);
	int rc = 0;
	for (size_t i = 0; i < h->chain.n && !rc; i++) {
		pt__segsrc sg;
		pt__footer f;
		if ((rc = pt__history_open_sealed(h, i, &sg, NULL)))
			break;
		if (!(rc = pt__footer_read_at(sg.fd, sg.base, sg.size, sg.name, &f))) {
			if (f.first_seq != h->chain.v[i].first_seq || f.last_seq != h->chain.v[i].last_seq)
				rc = pt__err(PT_ECORRUPT, "%s: footer holds seq %llu..%llu, the chain says %llu..%llu", sg.name,
					     (unsigned long long)f.first_seq, (unsigned long long)f.last_seq,
					     (unsigned long long)h->chain.v[i].first_seq, (unsigned long long)h->chain.v[i].last_seq);
			for (uint64_t k = 0; k < f.batches && !rc; k++) {
				pt__index_entry *e = &f.entries[k];
				rc = btab_add(t, e->first_seq, e->count, e->step_min, e->step_max, e->time_min, e->time_max);
			}
			pt__footer_free(&f);
		}
		pt__segsrc_close(&sg);
	}
	pt__segsrc tail;
	int tr = rc ? rc : pt__history_open_tail(h, &tail);
	if (!tr) {
		pt__seg_header sh;
		if (!pt__seg_header_read(tail.fd, tail.size, tail.name, &sh)) {
			rc = pt__history_check_identity(h, &sh, tail.name);
			uint64_t off = sh.frame_len;
			pt__batch_header bh;
			while (!rc && pt__scan_batch(tail.fd, tail.size, &off, &bh, NULL) == PT_SCAN_BATCH) {
				if (t->n && bh.first_seq != t->v[t->n - 1].first_seq + t->v[t->n - 1].count)
					break; /* not yet consistent (a seal in progress): stop here */
				rc = btab_add(t, bh.first_seq, bh.count, bh.step_min, bh.step_max, bh.time_min, bh.time_max);
			}
		}
		pt__segsrc_close(&tail);
	} else if (tr != PT_ENOTFOUND) {
		rc = tr;
	}
	t->last_seq = t->n ? t->v[t->n - 1].first_seq + t->v[t->n - 1].count - 1 : 0;
	if (rc)
		pt__btab_free(t);
	return rc;
}

/* Index of the batch holding `seq` (t->n if none). */
static size_t btab_find(const pt__btab *t, uint64_t seq)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->v[mid].first_seq + t->v[mid].count <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- reading events of a seq range ---- */
/*
 * The fold's view of an event, from what the iterator already decoded:
 * decoding the envelope a second time (pt__fold_event_decode) cost about a
 * sixth of a replay.  Names never hold a NUL (pt_event_reset takes C
 * strings), so strlen gives their length.
 */
static void view_event(pt__fold_event *e, const pt_event_view *v)
{
	const void *body;
	size_t blen;
	pt_ev_body_msgpack(v, &body, &blen);
	e->seq = pt_ev_seq(v);
	e->time = pt_ev_time(v);
	e->step = pt_ev_step(v);
	e->kind = pt_ev_kind(v);
	e->kind_len = strlen(e->kind);
	e->name = pt_ev_name(v);
	e->name_len = e->name ? strlen(e->name) : 0;
	e->body = body;
	e->body_len = blen;
}

typedef int (*ev_cb)(void *ctx, const pt_event_view *v, const pt__fold_event *e);

static int for_range(const pt_store *st, const char *run, const char *stream, uint64_t lo, uint64_t hi, ev_cb cb,
		     void *ctx)
{
	if (lo > hi)
		return 0;
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.seq_min = lo;
	o.seq_max = hi;
	pt_iter *it;
	int rc = pt_iter_open(&it, st, run, stream, &o);
	if (rc)
		return rc;
	const pt_event_view *v;
	while ((rc = pt_iter_next(it, &v)) == 0) {
		pt__fold_event e;
		view_event(&e, v);
		if ((rc = cb(ctx, v, &e)))
			break;
	}
	pt_iter_free(it);
	return rc == PT_ITEROVER ? 0 : rc;
}

/* ---- lineages and paths ---- */
typedef struct {
	uint64_t lo, hi;
	int64_t from_step; /* fork step of the lineage owning the range (PT_NO_STEP: the first lineage) */
} seqr;

typedef struct {
	seqr *r;
	size_t n, cap;
} path_t;

static int path_push(path_t *p, uint64_t lo, uint64_t hi, int64_t from_step)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 8;
		seqr *v = pt__realloc(p->r, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		p->r = v;
		p->cap = nc;
	}
	p->r[p->n++] = (seqr){lo, hi, from_step};
	return 0;
}

struct pt_replay {
	const pt_store *st;
	char *run, *stream, *dir;
	pt_replay_options o;
	pt__btab bt;
	pt__snapidx si;    /* the snapshot index, loaded once per replay */
	pt__fold lin;      /* fold at the end of the stream: the lineage table */
	pt__fold f;        /* the state */
	path_t path;      /* ranges of the path */
	int64_t path_lineage;
	uint64_t snapshot_seq, folded;
	pt__buf json, lineage_json;
	/* forward walking */
	pt_iter *walk;
	size_t walk_range;
	/* custom folds */
	struct {
		char *kind;
		pt_fold_fn fn;
		void *ctx;
	} *folds;
	size_t nfolds;
};

static const pt__lineage *lineage_get(const pt__fold *f, int64_t id)
{
	for (size_t i = 0; i < f->nlineages; i++)
		if (f->lineages[i].id == id)
			return &f->lineages[i];
	return NULL;
}

/* Where lineage `id`'s own range ends: before the next lineage to start, or at the end. */
static uint64_t lineage_end(const pt__fold *lin, int64_t id, uint64_t start, uint64_t last_seq)
{
	uint64_t end = last_seq;
	for (size_t i = 0; i < lin->nlineages; i++)
		if (lin->lineages[i].id != id && lin->lineages[i].start_seq > start && lin->lineages[i].start_seq - 1 < end)
			end = lin->lineages[i].start_seq - 1;
	return end;
}

static int resolve_step_in_path(pt_replay *rp, const path_t *p, int64_t step, uint64_t *out, int64_t *max_out);
static int ckpt_fields(const pt__buf *rec, char *hex, uint64_t *seq, int64_t *step);

/* The ranges of lineage `id`'s path, up to `limit`. */
static int build_path(pt_replay *rp, int64_t id, uint64_t limit, path_t *out, int depth)
{
	if (depth > 64)
		return pt__err(PT_ECORRUPT, "lineage %lld: ancestry deeper than 64 (a cycle?)", (long long)id);
	if (id == 0) {
		uint64_t end = lineage_end(&rp->lin, 0, 0, rp->bt.last_seq);
		if (end > limit)
			end = limit;
		return end >= 1 ? path_push(out, 1, end, PT_NO_STEP) : 0;
	}
	const pt__lineage *l = lineage_get(&rp->lin, id);
	if (!l)
		return pt__err(PT_ENOTFOUND, "lineage %lld not found in %s/%s", (long long)id, rp->run, rp->stream);
	/* the parent's path up to the fork: the state at from_step on the parent, before this lineage began */
	path_t parent = {0};
	int rc = build_path(rp, l->parent, l->start_seq - 1, &parent, depth + 1);
	uint64_t fork = l->start_seq - 1;
	if (!rc && l->from_step != PT_NO_STEP)
		rc = resolve_step_in_path(rp, &parent, l->from_step, &fork, NULL);
	for (size_t i = 0; !rc && i < parent.n; i++) {
		if (parent.r[i].lo > fork)
			break;
		rc = path_push(out, parent.r[i].lo, parent.r[i].hi < fork ? parent.r[i].hi : fork, parent.r[i].from_step);
	}
	pt__free(parent.r);
	uint64_t end = lineage_end(&rp->lin, id, l->start_seq, rp->bt.last_seq);
	if (end > limit)
		end = limit;
	if (!rc && l->start_seq <= end)
		rc = path_push(out, l->start_seq, end, l->from_step);
	return rc;
}

typedef struct {
	int64_t step;
	int64_t run_max;   /* running maximum of the steps seen in the range so far */
	uint64_t cross;    /* first seq whose running maximum exceeds the step (0: none) */
	uint64_t first_stepped;
} step_ctx;

static int step_scan(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	step_ctx *s = ctx;
	if (e->step == PT_NO_STEP)
		return 0;
	if (!s->first_stepped)
		s->first_stepped = e->seq;
	if (e->step > s->step) {
		s->cross = e->seq;
		return 1; /* stop (run_max stays the largest step before the crossing) */
	}
	if (e->step > s->run_max)
		s->run_max = e->step;
	return 0;
}

/*
 * The position of step=N in one seq range: just before the running maximum
 * of the steps first exceeds N (like time= points).  An event logged late
 * with an old step belongs where it was logged, not back at its step (the
 * one exception, an asynchronous checkpoint, is late_checkpoint's); step-less events
 * between N and the next step belong to N.  Returns 0 when the range
 * already starts past N (the state is then on an earlier range of the path).
 * Cost: a walk over the range's batch summaries and one decoded batch.
 */
static int resolve_step_in_range(pt_replay *rp, uint64_t lo, uint64_t hi, int64_t from_step, int64_t step,
				 uint64_t *out, int64_t *max_out)
{
	*out = 0;
	*max_out = PT_NO_STEP;
	/* a resumed lineage holds nothing before the step it resumed from */
	if (from_step != PT_NO_STEP && step < from_step)
		return 0;
	step_ctx s = {step, INT64_MIN, 0, 0};
	for (size_t bi = btab_find(&rp->bt, lo); bi < rp->bt.n; bi++) {
		const pt__bref *b = &rp->bt.v[bi];
		uint64_t blo = b->first_seq, bhi = b->first_seq + b->count - 1;
		if (blo > hi)
			break;
		bool inside = blo >= lo && bhi <= hi;
		if (inside && b->step_max == PT_NO_STEP)
			continue; /* no step in it: cannot cross */
		if (inside && b->step_max <= step && s.run_max <= step) {
			if (s.run_max < b->step_max)
				s.run_max = b->step_max;
			if (!s.first_stepped)
				s.first_stepped = blo; /* only "is there one" matters below */
			continue;
		}
		int rc = for_range(rp->st, rp->run, rp->stream, blo > lo ? blo : lo, bhi < hi ? bhi : hi, step_scan, &s);
		if (rc < 0)
			return rc;
		if (s.cross)
			break;
	}
	if (s.run_max != INT64_MIN)
		*max_out = s.run_max;
	if (!s.cross) {
		*out = hi;
		return 0;
	}
	/* the range's first stepped event is already past N: nothing of it is at N */
	*out = s.cross == s.first_stepped || s.cross <= lo ? 0 : s.cross - 1;
	return 0;
}

/* step=N on a path: the latest range that has any event at or before N. */
/* step=N on a path: the latest range that has any event at or before N.
 * *max_out (may be NULL): the largest step in that range up to the position. */
static int resolve_step_in_path(pt_replay *rp, const path_t *p, int64_t step, uint64_t *out, int64_t *max_out)
{
	*out = 0;
	if (max_out)
		*max_out = PT_NO_STEP;
	for (size_t ri = p->n; ri-- > 0;) {
		uint64_t t;
		int64_t m;
		int rc = resolve_step_in_range(rp, p->r[ri].lo, p->r[ri].hi, p->r[ri].from_step, step, &t, &m);
		if (rc)
			return rc;
		if (t) {
			*out = t;
			if (max_out)
				*max_out = m;
			return 0;
		}
	}
	return 0;
}

typedef struct {
	int64_t t;
	int64_t run_max;
	uint64_t found;
} time_ctx;

static int time_scan(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	time_ctx *c = ctx;
	if (e->time > c->run_max)
		c->run_max = e->time;
	if (c->run_max > c->t)
		return 1;
	c->found = e->seq;
	return 0;
}

/* Position of time=T: the last event whose running maximum time is <= T (monotone in seq). */
static int resolve_time(pt_replay *rp, int64_t t, uint64_t *out)
{
	*out = 0;
	const pt__btab *b = &rp->bt;
	/* first batch whose cumulative max exceeds t */
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->v[mid].cum_time_max <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == b->n) {
		*out = b->last_seq;
		return 0;
	}
	time_ctx c = {t, lo ? b->v[lo - 1].cum_time_max : INT64_MIN, lo ? b->v[lo].first_seq - 1 : 0};
	int rc = for_range(rp->st, rp->run, rp->stream, b->v[lo].first_seq, b->v[lo].first_seq + b->v[lo].count - 1,
			   time_scan, &c);
	if (rc < 0)
		return rc;
	*out = c.found;
	return 0;
}

typedef struct {
	int64_t max;
} smax_ctx;

static int smax_scan(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	smax_ctx *c = ctx;
	if (e->step != PT_NO_STEP && (c->max == PT_NO_STEP || e->step > c->max))
		c->max = e->step;
	return 0;
}

/* The largest step on a path up to seq `limit` (PT_NO_STEP: none): batch
 * summaries, and the events of the at most two batches each range cuts through. */
static int path_step_max(pt_replay *rp, const path_t *p, uint64_t limit, int64_t *out)
{
	smax_ctx c = {PT_NO_STEP};
	for (size_t ri = 0; ri < p->n && p->r[ri].lo <= limit; ri++) {
		uint64_t lo = p->r[ri].lo, hi = p->r[ri].hi < limit ? p->r[ri].hi : limit;
		for (size_t bi = btab_find(&rp->bt, lo); bi < rp->bt.n; bi++) {
			const pt__bref *b = &rp->bt.v[bi];
			uint64_t blo = b->first_seq, bhi = b->first_seq + b->count - 1;
			if (blo > hi)
				break;
			if (b->step_max == PT_NO_STEP || (c.max != PT_NO_STEP && b->step_max <= c.max))
				continue;
			if (blo >= lo && bhi <= hi) {
				c.max = b->step_max;
				continue;
			}
			int rc = for_range(rp->st, rp->run, rp->stream, blo > lo ? blo : lo, bhi < hi ? bhi : hi, smax_scan, &c);
			if (rc)
				return rc;
		}
	}
	*out = c.max;
	return 0;
}

typedef struct {
	pt__fold *f;
	int64_t step;       /* the limit: N, or the fork step on a parent's tail */
	bool init;          /* best/best_seq read from the fold's checkpoint */
	int64_t best;       /* step of the checkpoint in effect (PT_NO_STEP: none or step-less) */
	uint64_t best_seq;  /* its event's seq */
	uint64_t ext;       /* compute() already looked at (target, ext] of the position's range */
} late_ctx;

static int late_scan(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	late_ctx *c = ctx;
	if (!c->init) {
		c->init = true;
		c->best = PT_NO_STEP;
		c->best_seq = 0;
		if (c->f->checkpoint.len) {
			ckpt_fields(&c->f->checkpoint, NULL, &c->best_seq, &c->best);
			pt__err_clear();
		}
	}
	if (e->kind_len != strlen(PT_KIND_CHECKPOINT) || memcmp(e->kind, PT_KIND_CHECKPOINT, e->kind_len) ||
	    e->step == PT_NO_STEP || e->step > c->step ||
	    (c->best != PT_NO_STEP && (e->step < c->best || (e->step == c->best && e->seq < c->best_seq))))
		return 0;
	c->best = e->step;
	c->best_seq = e->seq;
	return pt__fold_set_checkpoint(c->f, e);
}

static int64_t lineage_at(const pt__fold *lin, uint64_t seq);

/*
 * The checkpoint in effect at step=N is the newest checkpoint *taken* at a
 * step <= N on the path that was committed at all, wherever its event was
 * logged (docs/REPLAY.md): an asynchronous checkpoint's event is appended
 * when its persistence completes, which may be many steps later, and the
 * answer must not depend on the disk's speed.  So after folding to the
 * position, each range of the path up to the position is followed past
 * its cut to the end of its lineage's own range: checkpoint events there
 * taken at a step <= N (and, before a fork, <= the step the next lineage
 * resumed from: taken on the shared past) count.  Cost: only batches whose
 * smallest step is within the limit can hold one, so the walk is over batch
 * summaries and decompresses just the batches with late events (usually
 * the one holding the position).
 */
/* The end of the own range of the lineage whose range of the path holds `seq`. */
static uint64_t owner_end(pt_replay *rp, uint64_t seq)
{
	int64_t owner = lineage_at(&rp->lin, seq);
	const pt__lineage *l = owner ? lineage_get(&rp->lin, owner) : NULL;
	return lineage_end(&rp->lin, owner, l ? l->start_seq : 0, rp->bt.last_seq);
}

static int late_checkpoint(pt_replay *rp, late_ctx *lc, int64_t step, uint64_t target)
{
	const path_t *p = &rp->path;
	late_ctx c = *lc;
	c.f = &rp->f;
	for (size_t ri = 0; ri < p->n; ri++) {
		bool last = ri + 1 == p->n || p->r[ri + 1].lo > target || p->r[ri].hi >= target;
		uint64_t cut = last ? (c.ext > target ? c.ext : target) : p->r[ri].hi;
		c.step = step;
		if (!last && p->r[ri + 1].from_step != PT_NO_STEP && p->r[ri + 1].from_step < step)
			c.step = p->r[ri + 1].from_step;
		uint64_t hi = owner_end(rp, p->r[ri].lo);
		for (size_t bi = btab_find(&rp->bt, cut + 1); bi < rp->bt.n; bi++) {
			const pt__bref *b = &rp->bt.v[bi];
			uint64_t blo = b->first_seq, bhi = b->first_seq + b->count - 1;
			if (blo > hi)
				break;
			if (b->step_min == PT_NO_STEP || b->step_min > c.step)
				continue;
			int rc = for_range(rp->st, rp->run, rp->stream, blo > cut + 1 ? blo : cut + 1, bhi < hi ? bhi : hi,
					   late_scan, &c);
			if (rc)
				return rc;
		}
		if (last)
			break;
	}
	return 0;
}

/* The lineage live at `seq`: the one whose own range holds it. */
static int64_t lineage_at(const pt__fold *lin, uint64_t seq)
{
	int64_t id = 0;
	uint64_t best = 0;
	for (size_t i = 0; i < lin->nlineages; i++)
		if (lin->lineages[i].start_seq <= seq && lin->lineages[i].start_seq >= best) {
			best = lin->lineages[i].start_seq;
			id = lin->lineages[i].id;
		}
	return id;
}

/* ---- snapshots ---- */
void pt__snapidx_free(pt__snapidx *s)
{
	pt__free(s->v);
	memset(s, 0, sizeof *s);
}

static bool parse_u64(char **p, uint64_t *out)
{
	char *q = *p;
	uint64_t v = 0;
	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		uint64_t d = (uint64_t)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	*p = q;
	return true;
}

/*
 * One index line, "<at> <lineage> <object id> <event seq>" as the recorder
 * writes it.  Parsed by hand, not with sscanf: every replay reads the whole
 * index (twice), a cost that grows with the history (at 10M events with
 * snapshot_every=8192, 1,220 lines, sscanf was ~0.6 ms of a 4.9 ms replay).
 */
static bool snap_line(char *line, pt__snapref *r)
{
	char *p = line;
	uint64_t at, lin, evseq;
	bool neg = false;
	if (!parse_u64(&p, &at) || *p++ != ' ')
		return false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (!parse_u64(&p, &lin) || lin > INT64_MAX || *p++ != ' ')
		return false;
	char *hex = p;
	if (strnlen(hex, 65) != 65 || hex[64] != ' ')
		return false;
	hex[64] = 0;
	int bad = pt__unhex(hex, r->id, 32);
	p = hex + 65;
	if (bad || !parse_u64(&p, &evseq))
		return false;
	r->at = at;
	r->lineage = neg ? -(int64_t)lin : (int64_t)lin;
	r->event_seq = evseq;
	return true;
}

int pt__snapidx_load(pt__snapidx *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	char *path = pt__sprintf("%s/snapshots", dir);
	if (!path)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;
	if (!pt__exists(path) || pt__read_stream_file(dir, path, 64u << 20, &data, &len))
		goto done; /* a cache: absent or unreadable means no snapshots */
	for (char *line = (char *)data; line < (char *)data + len;) {
		char *nl = memchr(line, '\n', (size_t)((char *)data + len - line));
		if (!nl)
			break; /* a torn last line is ignored */
		*nl = 0;
		pt__snapref r;
		if (snap_line(line, &r)) {
			if (s->n == s->cap) {
				size_t nc = s->cap ? s->cap * 2 : 64;
				pt__snapref *v = pt__realloc(s->v, nc * sizeof *v);
				if (!v) {
					rc = PT_ENOMEM;
					break;
				}
				s->v = v;
				s->cap = nc;
			}
			s->v[s->n++] = r;
		}
		line = nl + 1;
	}
done:
	pt__free(data);
	pt__free(path);
	return rc;
}

static bool on_path(const path_t *p, uint64_t seq)
{
	for (size_t i = 0; i < p->n; i++)
		if (seq >= p->r[i].lo && seq <= p->r[i].hi)
			return true;
	return false;
}

/*
 * The snapshot index is an unprotected cache: a snapshot is used only if the
 * hash-chained log has, at the seq the index names, a `snapshot` event for
 * the same object and position.  (The object itself is checked against its
 * id when read.)
 */
typedef struct {
	const pt__snapref *ref;
	bool ok;
} snapcheck_ctx;

static int snapcheck_cb(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	snapcheck_ctx *c = ctx;
	if (e->kind_len != 8 || memcmp(e->kind, "snapshot", 8))
		return 0;
	const uint8_t *p = e->body, *end = e->body + e->body_len;
	mpk_obj m, k, val;
	bool at_ok = false, id_ok = false;
	if (mpk_read(&p, end, &m) || m.type != MPK_MAP)
		return 0;
	for (uint32_t i = 0; i < m.len; i++) {
		if (mpk_read(&p, end, &k))
			return 0;
		const uint8_t *vs = p;
		if (mpk_read(&p, end, &val))
			return 0;
		if (k.type == MPK_STR && k.len == 2 && !memcmp(k.ptr, "at", 2))
			at_ok = val.type == MPK_UINT && val.u == c->ref->at;
		else if (k.type == MPK_STR && k.len == 6 && !memcmp(k.ptr, "object", 6) && val.type == MPK_STR && val.len == 64) {
			uint8_t id[32];
			id_ok = !pt__unhex_n((const char *)val.ptr, id, 32) && !memcmp(id, c->ref->id, 32);
		}
		p = vs;
		if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH))
			return 0;
	}
	c->ok = at_ok && id_ok;
	return 0;
}

static bool snapshot_in_log(pt_replay *rp, const pt__snapref *r)
{
	snapcheck_ctx c = {r, false};
	if (for_range(rp->st, rp->run, rp->stream, r->event_seq, r->event_seq, snapcheck_cb, &c))
		pt__err_clear();
	return c.ok;
}

/*
 * The newest snapshot at or before `max_at` (and on the path, if asked)
 * that the log names and that decodes, into `out`: 1 found, 0 none.
 * Anything wrong with a candidate just skips it: snapshots are a cache.
 */
static int newest_snapshot(pt_replay *rp, uint64_t max_at, bool on_path_only, pt__fold *out)
{
	for (size_t i = rp->si.n; i-- > 0;) {
		const pt__snapref *r = &rp->si.v[i];
		if (r->at > max_at || r->at == 0 || (on_path_only && !on_path(&rp->path, r->at)) || !snapshot_in_log(rp, r))
			continue;
		uint8_t *data = NULL;
		size_t len = 0;
		int ok = !pt__object_get(rp->st, r->id, &data, &len) && !pt__fold_deserialize(out, data, len);
		pt__free(data);
		if (ok && out->seq == r->at)
			return 1;
		if (ok)
			pt__fold_free(out);
	}
	pt__err_clear();
	return 0;
}

/* Load the newest usable snapshot at or before `target` on the path into rp->f. */
static int load_snapshot(pt_replay *rp, uint64_t target)
{
	pt__fold f;
	if (newest_snapshot(rp, target, true, &f)) {
		pt__fold_free(&rp->f);
		rp->f = f;
		rp->snapshot_seq = f.seq;
	}
	return 0;
}

/* ---- folding along the path ---- */
typedef struct {
	pt_replay *rp;
	uint64_t to;     /* the position */
	late_ctx *late;  /* step points: events after the position are looked at for late checkpoints */
} fold_ctx;

static int fold_cb(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	fold_ctx *fc = ctx;
	pt_replay *rp = fc->rp;
	if (fc->late && e->seq > fc->to)
		return late_scan(fc->late, v, e);
	int rc = pt__fold_apply(&rp->f, e);
	if (rc)
		return rc;
	rp->folded++;
	for (size_t i = 0; i < rp->nfolds; i++)
		if (e->kind_len == strlen(rp->folds[i].kind) && !memcmp(e->kind, rp->folds[i].kind, e->kind_len) &&
		    (rc = rp->folds[i].fn(rp->folds[i].ctx, v)))
			return rc;
	return 0;
}

/*
 * Fold the path's events in (from, to].  With `late`, the rest of the batch
 * holding `to` (within its lineage's own range) is read in the same pass and
 * handed to late_scan: the batch is decompressed once, not twice.
 */
static int fold_path(pt_replay *rp, uint64_t from, uint64_t to, late_ctx *late)
{
	fold_ctx c = {rp, to, NULL};
	for (size_t i = 0; i < rp->path.n; i++) {
		seqr r = rp->path.r[i];
		uint64_t lo = r.lo > from + 1 ? r.lo : from + 1, hi = r.hi < to ? r.hi : to;
		if (late && late->ext > to && r.lo <= to && (i + 1 == rp->path.n || rp->path.r[i + 1].lo > to || r.hi >= to)) {
			hi = late->ext;
			c.late = late;
		}
		if (lo > hi)
			continue;
		int rc = for_range(rp->st, rp->run, rp->stream, lo, hi, fold_cb, &c);
		if (rc)
			return rc;
	}
	return 0;
}

/* The state at `target` on the current path: snapshot + fold (`late`: see fold_path). */
static int compute_late(pt_replay *rp, uint64_t target, late_ctx *late)
{
	pt__fold_free(&rp->f);
	pt__fold_init(&rp->f);
	rp->f.track_changes = rp->o.track_changes != 0;
	rp->snapshot_seq = 0;
	rp->folded = 0;
	int rc = 0;
	if (rp->o.use_snapshots && !rp->nfolds && (rc = load_snapshot(rp, target)))
		return rc;
	rp->f.track_changes = rp->o.track_changes != 0;
	rc = fold_path(rp, rp->f.seq, target, late);
	if (!rc) {
		/* the lineage table always comes from the whole stream */
		pt__free(rp->f.lineages);
		rp->f.lineages = NULL;
		rp->f.nlineages = rp->f.cap_lineages = 0;
		if (rp->lin.nlineages) {
			rp->f.lineages = pt__malloc(rp->lin.nlineages * sizeof *rp->f.lineages);
			if (!rp->f.lineages)
				return PT_ENOMEM;
			memcpy(rp->f.lineages, rp->lin.lineages, rp->lin.nlineages * sizeof *rp->f.lineages);
			rp->f.nlineages = rp->f.cap_lineages = rp->lin.nlineages;
		}
	}
	return rc;
}

static int compute(pt_replay *rp, uint64_t target) { return compute_late(rp, target, NULL); }

/* The end-of-stream lineage table: the latest snapshot plus the lineage events after it. */
typedef struct {
	pt__fold *f;
} lin_ctx;

static int lin_cb(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	(void)v;
	lin_ctx *c = ctx;
	if (e->kind_len == 7 && !memcmp(e->kind, "lineage", 7))
		return pt__fold_apply(c->f, e);
	return 0;
}

static int load_lineages(pt_replay *rp)
{
	pt__fold_init(&rp->lin);
	uint64_t from = 0;
	pt__fold f;
	if (rp->o.use_snapshots && newest_snapshot(rp, rp->bt.last_seq, false, &f)) {
		pt__fold_free(&rp->lin);
		rp->lin = f;
		from = f.seq;
	}
	/* lineage events after the snapshot: a kind-filtered read of the tail */
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = "lineage";
	o.seq_min = from + 1;
	pt_iter *it;
	int rc = pt_iter_open(&it, rp->st, rp->run, rp->stream, &o);
	if (rc)
		return rc;
	const pt_event_view *v;
	lin_ctx c = {&rp->lin};
	while ((rc = pt_iter_next(it, &v)) == 0) {
		pt__fold_event e;
		view_event(&e, v);
		if ((rc = lin_cb(&c, v, &e)))
			break;
	}
	pt_iter_free(it);
	return rc == PT_ITEROVER ? 0 : rc;
}

void pt_replay_free(pt_replay *rp)
{
	if (!rp)
		return;
	pt_iter_free(rp->walk);
	pt__btab_free(&rp->bt);
	pt__snapidx_free(&rp->si);
	pt__fold_free(&rp->lin);
	pt__fold_free(&rp->f);
	pt__free(rp->path.r);
	pt__buf_free(&rp->json);
	pt__buf_free(&rp->lineage_json);
	for (size_t i = 0; i < rp->nfolds; i++)
		pt__free(rp->folds[i].kind);
	pt__free(rp->folds);
	pt__free(rp->run);
	pt__free(rp->stream);
	pt__free(rp->dir);
	pt__free(rp);
}

static int set_path(pt_replay *rp, int64_t lineage, uint64_t limit)
{
	rp->path.n = 0;
	rp->path_lineage = lineage;
	return build_path(rp, lineage, limit, &rp->path, 0);
}

int pt_replay_open(pt_replay **out, const pt_store *st, const char *run, const pt_point *at,
		   const pt_replay_options *opts)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_replay_open: NULL argument");
	*out = NULL;
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_REPLAY_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_replay_open: options version %u is not supported", opts->version);
		o = *opts;
	}
	pt_point p = at ? *at : (pt_point){PT_AT_LATEST, 0};
	int rc = pt_name_check("run", run);
	if (rc || (o.stream && (rc = pt_name_check("stream", o.stream))))
		return rc;
	pt_replay *rp = pt__calloc(1, sizeof *rp);
	if (!rp)
		return PT_ENOMEM;
	rp->st = st;
	rp->o = o;
	pt__fold_init(&rp->f);
	pt__fold_init(&rp->lin);
	rp->run = pt__strdup(run);
	rp->stream = pt__strdup(o.stream ? o.stream : PT_DEFAULT_STREAM);
	rp->dir = pt__stream_dir(st, run, rp->stream);
	rp->o.stream = rp->stream;
	if (!rp->run || !rp->stream || !rp->dir) {
		rc = PT_ENOMEM;
		goto fail;
	}
	pt__history hist;
	if ((rc = pt__history_load(&hist, st, run, rp->stream, true))) {
		if (rc == PT_ENOTFOUND)
			rc = pt__err(PT_ENOTFOUND, "stream %s/%s not found in store %s", run, rp->stream, st->path);
		goto fail;
	}
	rc = pt__btab_load(&rp->bt, &hist);
	pt__history_free(&hist);
	if (rc || (o.use_snapshots && (rc = pt__snapidx_load(&rp->si, rp->dir))) || (rc = load_lineages(rp)))
		goto fail;
	uint64_t target = rp->bt.last_seq;
	int64_t at_max = PT_NO_STEP; /* step points: the largest step at the position */
	int64_t lineage = o.lineage == PT_LINEAGE_LIVE ? rp->lin.lineage : o.lineage;
	if (o.lineage != PT_LINEAGE_LIVE && o.lineage != 0 && !lineage_get(&rp->lin, o.lineage)) {
		rc = pt__err(PT_ENOTFOUND, "lineage %lld not found in %s/%s", (long long)o.lineage, run, rp->stream);
		goto fail;
	}
	switch (p.kind) {
	/* positions (latest, seq, time) are on the lineage live there, unless one is named */
	case PT_AT_LATEST:
		target = rp->bt.last_seq;
		if (o.lineage == PT_LINEAGE_LIVE)
			lineage = lineage_at(&rp->lin, target);
		break;
	case PT_AT_SEQ:
		if ((uint64_t)p.value > rp->bt.last_seq) {
			rc = pt__err(PT_ENOTFOUND, "seq=%lld is past the end of run %s stream %s, which ends at seq %llu "
						   "(\"latest\" is the end)",
				     (long long)p.value, run, rp->stream, (unsigned long long)rp->bt.last_seq);
			goto fail;
		}
		target = (uint64_t)p.value;
		if (o.lineage == PT_LINEAGE_LIVE)
			lineage = lineage_at(&rp->lin, target);
		break;
	case PT_AT_TIME:
		if ((rc = resolve_time(rp, p.value, &target)))
			goto fail;
		if (o.lineage == PT_LINEAGE_LIVE)
			lineage = lineage_at(&rp->lin, target);
		break;
	case PT_AT_STEP: {
		int64_t smax;
		at_max = PT_NO_STEP;
		if ((rc = set_path(rp, lineage, rp->bt.last_seq)) || (rc = path_step_max(rp, &rp->path, rp->bt.last_seq, &smax)))
			goto fail;
		if (smax == PT_NO_STEP || p.value > smax) {
			char lin[48] = "";
			if (lineage)
				snprintf(lin, sizeof lin, " lineage %lld", (long long)lineage);
			if (smax == PT_NO_STEP)
				rc = pt__err(PT_ENOTFOUND, "step=%lld: run %s stream %s%s records no step (it ends at seq %llu)",
					     (long long)p.value, run, rp->stream, lin, (unsigned long long)rp->bt.last_seq);
			else
				rc = pt__err(PT_ENOTFOUND,
					     "step=%lld is past the end of run %s stream %s%s, which ends at step %lld (seq %llu; "
					     "\"latest\" is the end)",
					     (long long)p.value, run, rp->stream, lin, (long long)smax,
					     (unsigned long long)rp->bt.last_seq);
			goto fail;
		}
		if ((rc = resolve_step_in_path(rp, &rp->path, p.value, &target, &at_max)))
			goto fail;
		break;
	}
	}
	late_ctx lc = {&rp->f, p.value, false, PT_NO_STEP, 0, 0};
	if ((rc = set_path(rp, lineage, target)))
		goto fail;
	if (p.kind == PT_AT_STEP && target) {
		/* the batch holding the position, up to its lineage's end */
		size_t bi = btab_find(&rp->bt, target);
		uint64_t end = owner_end(rp, target);
		if (bi < rp->bt.n)
			lc.ext = rp->bt.v[bi].first_seq + rp->bt.v[bi].count - 1;
		if (lc.ext > end)
			lc.ext = end;
	}
	if ((rc = compute_late(rp, target, p.kind == PT_AT_STEP ? &lc : NULL)))
		goto fail;
	if (p.kind == PT_AT_STEP) {
		/* the state's step is the largest at the position, not the step of an
		 * event logged late (an async checkpoint's): the same at any disk speed */
		if ((rc = late_checkpoint(rp, &lc, p.value, target)))
			goto fail;
		if (at_max != PT_NO_STEP)
			rp->f.step = at_max;
	}
	*out = rp;
	return 0;
fail:
	pt_replay_free(rp);
	return rc;
}

int pt__replay_take_fold(pt_replay *rp, void *out_fold)
{
	pt__fold *out = out_fold;
	*out = rp->f;
	pt__fold_init(&rp->f);
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

/* The manifest id, seq and step of an encoded checkpoint record. */
static int ckpt_fields(const pt__buf *rec, char *hex, uint64_t *seq, int64_t *step)
{
	const uint8_t *p = rec->data, *end = p + rec->len;
	mpk_obj o, k, v;
	if (!rec->len || mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return pt__err(PT_ENOTFOUND, "no checkpoint in effect");
	bool have = false;
	for (uint32_t i = 0; i < o.len; i++) {
		if (mpk_read(&p, end, &k))
			return pt__err(PT_ECORRUPT, "malformed checkpoint record");
		const uint8_t *vs = p;
		if (mpk_read(&p, end, &v))
			return pt__err(PT_ECORRUPT, "malformed checkpoint record");
		if (k.len == 3 && !memcmp(k.ptr, "seq", 3) && v.type == MPK_UINT && seq)
			*seq = v.u;
		else if (k.len == 4 && !memcmp(k.ptr, "step", 4) && step)
			*step = v.type == MPK_UINT ? (int64_t)v.u : v.type == MPK_INT ? v.i : PT_NO_STEP;
		else if (k.len == 4 && !memcmp(k.ptr, "body", 4) && v.type == MPK_MAP) {
			for (uint32_t j = 0; j < v.len; j++) {
				mpk_obj bk, bv;
				if (mpk_read(&p, end, &bk))
					return pt__err(PT_ECORRUPT, "malformed checkpoint record");
				const uint8_t *bvs = p;
				if (mpk_read(&p, end, &bv))
					return pt__err(PT_ECORRUPT, "malformed checkpoint record");
				if (bk.type == MPK_STR && bk.len == 8 && !memcmp(bk.ptr, "manifest", 8) && bv.type == MPK_STR &&
				    bv.len == 64) {
					if (hex) {
						memcpy(hex, bv.ptr, 64);
						hex[64] = 0;
					}
					have = true;
				}
				p = bvs;
				if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH + 2))
					return pt__err(PT_ECORRUPT, "malformed checkpoint record");
			}
			continue;
		}
		p = vs;
		if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH + 2))
			return pt__err(PT_ECORRUPT, "malformed checkpoint record");
	}
	return have ? 0 : pt__err(PT_ENOTFOUND, "the checkpoint event names no manifest");
}

int pt_replay_checkpoint(const pt_replay *rp, char *manifest_hex, uint64_t *seq, int64_t *step)
{
	if (!rp)
		return pt__err(PT_EINVAL, "pt_replay_checkpoint: NULL replay");
	return ckpt_fields(&rp->f.checkpoint, manifest_hex, seq, step);
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
		path_t full = {0};
		int rc = build_path(rp, rp->path_lineage, rp->bt.last_seq, &full, 0);
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
		view_event(&e, v);
		fold_ctx c = {rp, 0, NULL};
		if ((rc = fold_cb(&c, v, &e)))
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
	path_t full = rp->path;
	rp->path = (path_t){0};
	int rc = build_path(rp, lineage, prev, &rp->path, 0);
	pt__free(full.r);
	if (!rc)
		rc = compute(rp, prev);
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
				(long long)rp->lin.lineage, (unsigned long long)lineage_end(&rp->lin, 0, 0, rp->bt.last_seq));
	for (size_t i = 0; !rc && i < rp->lin.nlineages; i++) {
		const pt__lineage *l = &rp->lin.lineages[i];
		uint64_t end = lineage_end(&rp->lin, l->id, l->start_seq, rp->bt.last_seq);
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
	bool has_a = !ckpt_fields(&ra->f.checkpoint, ha, &sa, &pa), has_b = !ckpt_fields(&rb->f.checkpoint, hb, &sb, &pb);
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
		rc = diff_checkpoint(&o, a, b);
	if (!rc)
		rc = pt__buf_append(&o, "}", 2);
	if (rc) {
		pt__buf_free(&o);
		return rc;
	}
	*out = (char *)o.data;
	return 0;
}

/* ---- for log/lineage_iter.c: the path's seq ranges and the lineage table (read-only) ---- */
size_t pt__replay_path_n(const pt_replay *rp)
{
	return rp->path.n;
}

void pt__replay_path_range(const pt_replay *rp, size_t i, uint64_t *lo, uint64_t *hi)
{
	*lo = rp->path.r[i].lo;
	*hi = rp->path.r[i].hi;
}

int64_t pt__replay_lineage_at(const pt_replay *rp, uint64_t seq)
{
	return lineage_at(&rp->lin, seq);
}

uint64_t pt__replay_last_seq(const pt_replay *rp)
{
	return rp->bt.last_seq;
}

size_t pt__replay_lineage_count(const pt_replay *rp)
{
	return rp->lin.nlineages;
}

const void *pt__replay_fold(const pt_replay *rp)
{
	return &rp->f;
}
