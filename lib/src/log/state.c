/*
 * state.c - the state of a stream at a point: resolve the point to a
 * position on a lineage's path, start from the nearest snapshot on that
 * path, fold the events in between.
 *
 * A path is a list of seq ranges: the ancestors' ranges cut at each fork
 * point, then the lineage's own range.  Every lookup here works on the
 * stream's batch table (chain + footers + open segment headers), so finding
 * a position costs a walk over batch summaries, never over events; the
 * events folded are bounded by the snapshot interval.
 */
#include "log/state_int.h"
#include "log/history_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
void pt__state_view_event(pt__fold_event *e, const pt_event_view *v)
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
		pt__state_view_event(&e, v);
		if ((rc = cb(ctx, v, &e)))
			break;
	}
	pt_iter_free(it);
	return rc == PT_ITEROVER ? 0 : rc;
}

/* ---- lineages and paths ---- */


static int path_push(pt__path *p, uint64_t lo, uint64_t hi, int64_t from_step)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 8;
		pt__seqr *v = pt__realloc(p->r, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		p->r = v;
		p->cap = nc;
	}
	p->r[p->n++] = (pt__seqr){lo, hi, from_step};
	return 0;
}


static const pt__lineage *lineage_get(const pt__fold *f, int64_t id)
{
	for (size_t i = 0; i < f->nlineages; i++)
		if (f->lineages[i].id == id)
			return &f->lineages[i];
	return NULL;
}

/* Where lineage `id`'s own range ends: before the next lineage to start, or at the end. */
uint64_t pt__state_lineage_end(const pt__fold *lin, int64_t id, uint64_t start, uint64_t last_seq)
{
	uint64_t end = last_seq;
	for (size_t i = 0; i < lin->nlineages; i++)
		if (lin->lineages[i].id != id && lin->lineages[i].start_seq > start && lin->lineages[i].start_seq - 1 < end)
			end = lin->lineages[i].start_seq - 1;
	return end;
}

static int resolve_step_in_path(pt_replay *rp, const pt__path *p, int64_t step, uint64_t *out, int64_t *max_out);

/* The ranges of lineage `id`'s path, up to `limit`. */
int pt__state_build_path(pt_replay *rp, int64_t id, uint64_t limit, pt__path *out, int depth)
{
	if (depth > 64)
		return pt__err(PT_ECORRUPT, "lineage %lld: ancestry deeper than 64 (a cycle?)", (long long)id);
	if (id == 0) {
		uint64_t end = pt__state_lineage_end(&rp->lin, 0, 0, rp->bt.last_seq);
		if (end > limit)
			end = limit;
		return end >= 1 ? path_push(out, 1, end, PT_NO_STEP) : 0;
	}
	const pt__lineage *l = lineage_get(&rp->lin, id);
	if (!l)
		return pt__err(PT_ENOTFOUND, "lineage %lld not found in %s/%s", (long long)id, rp->run, rp->stream);
	/* the parent's path up to the fork: the state at from_step on the parent, before this lineage began */
	pt__path parent = {0};
	int rc = pt__state_build_path(rp, l->parent, l->start_seq - 1, &parent, depth + 1);
	uint64_t fork = l->start_seq - 1;
	if (!rc && l->from_step != PT_NO_STEP)
		rc = resolve_step_in_path(rp, &parent, l->from_step, &fork, NULL);
	for (size_t i = 0; !rc && i < parent.n; i++) {
		if (parent.r[i].lo > fork)
			break;
		rc = path_push(out, parent.r[i].lo, parent.r[i].hi < fork ? parent.r[i].hi : fork, parent.r[i].from_step);
	}
	pt__free(parent.r);
	uint64_t end = pt__state_lineage_end(&rp->lin, id, l->start_seq, rp->bt.last_seq);
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
static int resolve_step_in_path(pt_replay *rp, const pt__path *p, int64_t step, uint64_t *out, int64_t *max_out)
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
static int path_step_max(pt_replay *rp, const pt__path *p, uint64_t limit, int64_t *out)
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

typedef struct late_ctx_s {
	pt__fold *f;
	int64_t step;       /* the limit: N, or the fork step on a parent's tail */
	bool init;          /* best/best_seq read from the fold's checkpoint */
	int64_t best;       /* step of the checkpoint in effect (PT_NO_STEP: none or step-less) */
	uint64_t best_seq;  /* its event's seq */
	uint64_t ext;       /* pt__state_compute() already looked at (target, ext] of the position's range */
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
			pt__state_ckpt_fields(&c->f->checkpoint, NULL, &c->best_seq, &c->best);
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
	return pt__state_lineage_end(&rp->lin, owner, l ? l->start_seq : 0, rp->bt.last_seq);
}

static int late_checkpoint(pt_replay *rp, late_ctx *lc, int64_t step, uint64_t target)
{
	const pt__path *p = &rp->path;
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

static bool on_path(const pt__path *p, uint64_t seq)
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
	uint64_t at = 0;
	uint8_t id[32];
	c->ok = pt__snapshot_body_decode(e->body, e->body_len, &at, id) && at == c->ref->at &&
		!memcmp(id, c->ref->id, 32);
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

int pt__state_fold_cb(void *ctx, const pt_event_view *v, const pt__fold_event *e)
{
	pt__fold_ctx *fc = ctx;
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
	pt__fold_ctx c = {rp, to, NULL};
	for (size_t i = 0; i < rp->path.n; i++) {
		pt__seqr r = rp->path.r[i];
		uint64_t lo = r.lo > from + 1 ? r.lo : from + 1, hi = r.hi < to ? r.hi : to;
		if (late && late->ext > to && r.lo <= to && (i + 1 == rp->path.n || rp->path.r[i + 1].lo > to || r.hi >= to)) {
			hi = late->ext;
			c.late = late;
		}
		if (lo > hi)
			continue;
		int rc = for_range(rp->st, rp->run, rp->stream, lo, hi, pt__state_fold_cb, &c);
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

int pt__state_compute(pt_replay *rp, uint64_t target) { return compute_late(rp, target, NULL); }

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
		pt__state_view_event(&e, v);
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
	return pt__state_build_path(rp, lineage, limit, &rp->path, 0);
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

static void take_fold(pt_replay *rp, pt__fold *out)
{
	*out = rp->f;
	pt__fold_init(&rp->f);
}

/* The manifest id, seq and step of an encoded checkpoint record. */
int pt__state_ckpt_fields(const pt__buf *rec, char *hex, uint64_t *seq, int64_t *step)
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

/* ---- the snapshot event body and the index line (written by the recorder) ---- */

size_t pt__snapshot_body_encode(uint8_t *body, uint64_t at, int64_t lineage, const uint8_t id[32])
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, PT_SHA256_LEN, hex);
	uint8_t *p = body;
	p = mpk_map_hdr(p, 4);
	p = mpk_str_hdr(p, 2), memcpy(p, "at", 2), p += 2;
	p = mpk_uint(p, at);
	p = mpk_str_hdr(p, 7), memcpy(p, "lineage", 7), p += 7;
	p = mpk_int(p, lineage);
	p = mpk_str_hdr(p, 6), memcpy(p, "object", 6), p += 6;
	p = mpk_str_hdr(p, 64), memcpy(p, hex, 64), p += 64;
	p = mpk_str_hdr(p, 7), memcpy(p, "objects", 7), p += 7;
	p = mpk_arr_hdr(p, 1);
	p = mpk_str_hdr(p, 64), memcpy(p, hex, 64), p += 64;
	return (size_t)(p - body);
}

bool pt__snapshot_body_decode(const uint8_t *body, size_t len, uint64_t *at, uint8_t id[32])
{
	const uint8_t *p = body, *end = body + len;
	mpk_obj m, k, val;
	bool at_ok = false, id_ok = false;
	if (mpk_read(&p, end, &m) || m.type != MPK_MAP)
		return false;
	for (uint32_t i = 0; i < m.len; i++) {
		if (mpk_read(&p, end, &k))
			return false;
		const uint8_t *vs = p;
		if (mpk_read(&p, end, &val))
			return false;
		if (k.type == MPK_STR && k.len == 2 && !memcmp(k.ptr, "at", 2)) {
			at_ok = val.type == MPK_UINT;
			if (at_ok)
				*at = val.u;
		} else if (k.type == MPK_STR && k.len == 6 && !memcmp(k.ptr, "object", 6) && val.type == MPK_STR &&
			   val.len == 64) {
			id_ok = !pt__unhex_n((const char *)val.ptr, id, 32);
		}
		p = vs;
		if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH))
			return false;
	}
	return at_ok && id_ok;
}

int pt__snapidx_append(const pt_store *st, const char *stream_dir, uint64_t at, int64_t lineage,
		       const uint8_t id[32], uint64_t event_seq)
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, PT_SHA256_LEN, hex);
	char line[160];
	int n = snprintf(line, sizeof line, "%llu %lld %s %llu\n", (unsigned long long)at, (long long)lineage, hex,
			 (unsigned long long)event_seq);
	char *path = pt__sprintf("%s/snapshots", stream_dir);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	int fd = pt__open_in(st->path, path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		rc = pt__err_errno(errno, "cannot open %s", path);
	else {
		rc = pt__write_all(fd, line, (size_t)n, path);
		close(fd);
	}
	pt__free(path);
	return rc;
}

/* ---- the state at a position, for the recorder and verify ---- */

int pt__state_fold_at(const pt_store *st, const char *run, const char *stream, uint64_t seq, int use_snapshots,
		      pt__fold *out)
{
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.stream = stream;
	o.use_snapshots = use_snapshots;
	pt_point at = {PT_AT_SEQ, (int64_t)seq};
	pt_replay *rp;
	int rc = pt_replay_open(&rp, st, run, seq ? &at : NULL, &o);
	if (rc)
		return rc;
	pt__fold_free(out);
	take_fold(rp, out);
	pt_replay_free(rp);
	return 0;
}

/* ---- for log/lineage_iter.c and log/run_state.c: the path's seq ranges, the lineage table, the state (read-only) ---- */
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
