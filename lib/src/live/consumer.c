/*
 * consumer.c - a durable consumer: reading the followed streams as they
 * grow, cutting batches, committing positions, and the handler loop with
 * retries, bisection and the failure destination (provtrace/consumer.h).
 *
 * Each followed stream is a source with its own pt_iter and at most one
 * event read ahead ("peek"); a batch takes the source whose peeked event is
 * oldest, so streams are merged by time while each keeps its seq order.
 * A source at its end is not read again until the watcher says its
 * directory changed (or, without inotify, every poll_ms): following many
 * idle streams costs nothing per wake-up but the ones that changed.
 *
 * The position is the last seq handled per stream.  A sub-range of a batch
 * (bisection) holds a prefix of each stream's events in it, so committing
 * ranges in order never moves a stream past an event not handled.
 */
#include "live/live_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define RESCAN_TAG (-3)
#define FAILURES_RUN "consumer-failures"

typedef struct {
	char *run, *stream;
	pt_iter *it;
	bool filtered;        /* `it` applies the start's step/time filter (not resolved yet) */
	uint64_t next;        /* next seq to hand out */
	const pt_event_view *peek;
	bool at_end;
	bool active;          /* listed in c->active */
} src;

/* Streams followed at once before idle ones give their descriptors back. */
#define KEEP_OPEN 64

struct pt_consumer_batch {
	pt_consumer *c;
	size_t first, n;
	uint64_t gen;
	char *error;
};

struct pt_consumer {
	pt_store *st;
	char *name;
	pt_consumer_options o;
	char *o_run, *o_stream;
	pt__start start;
	pt__cstate state;
	int lock_fd;
	char *fail_run, *fail_stream;
	pt_recorder *fail_rec;

	src *srcs;
	size_t nsrc, capsrc;
	size_t *active;       /* sources that may have events: the only ones a batch looks at */
	size_t nactive;
	pt__watch *w;
	bool rescan, all_dirty;
	int64_t last_look;    /* mono ns of the last full look (safety net) */

	/* the current batch */
	pt_consumer_event *evs;
	size_t *offs;         /* arena offsets: kind, name (or SIZE_MAX), msgpack - 3 per event */
	size_t nev, capev;
	pt__buf arena;
	pt__buf jsonl;
	pt_consumer_batch batch;
	uint64_t gen;

	volatile sig_atomic_t stop;
	pt_consumer_counts counts;
};

int pt_consumer_options_init(pt_consumer_options *opts, unsigned int version)
{
	if (!opts || version != PT_CONSUMER_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_consumer_options_init: unsupported version %u", version);
	pt_consumer_options d = PT_CONSUMER_OPTIONS_INIT;
	*opts = d;
	return 0;
}

static int split_dest(const char *dest, char **run, char **stream)
{
	const char *slash = strchr(dest, '/');
	*run = slash ? pt__strndup(dest, (size_t)(slash - dest)) : pt__strdup(dest);
	*stream = pt__strdup(slash ? slash + 1 : PT_DEFAULT_STREAM);
	if (!*run || !*stream)
		return PT_ENOMEM;
	if (pt_name_check("run", *run) || pt_name_check("stream", *stream))
		return pt__err(PT_EINVAL, "failure destination '%s': expected RUN/STREAM (%s)", dest, pt_error_last());
	return 0;
}

void pt_consumer_close(pt_consumer *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsrc; i++) {
		pt_iter_free(c->srcs[i].it);
		pt__free(c->srcs[i].run);
		pt__free(c->srcs[i].stream);
	}
	pt__free(c->srcs);
	pt__free(c->active);
	pt_recorder_close(c->fail_rec);
	pt__watch_free(c->w);
	pt__cstate_free(&c->state);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	pt__free(c->evs);
	pt__free(c->offs);
	pt__buf_free(&c->arena);
	pt__buf_free(&c->jsonl);
	pt__free(c->batch.error);
	pt__free(c->name);
	pt__free(c->o_run);
	pt__free(c->o_stream);
	pt__free(c->fail_run);
	pt__free(c->fail_stream);
	pt__free(c);
}

/* Source i may have new events: look at it in the next batch. */
static void wake(pt_consumer *c, size_t i)
{
	src *s = &c->srcs[i];
	s->at_end = false;
	if (!s->active) {
		s->active = true;
		c->active[c->nactive++] = i;
	}
}

static bool same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int add_run_watch(void *ud, const char *run)
{
	pt_consumer *c = ud;
	char *p = pt__sprintf("%s/runs/%s", c->st->path, run);
	if (!p)
		return PT_ENOMEM;
	int rc = pt__watch_add(c->w, p, RESCAN_TAG);
	pt__free(p);
	return rc;
}

static int srccmp(const void *a, const void *b)
{
	const src *x = *(src *const *)a, *y = *(src *const *)b;
	int r = strcmp(x->run, y->run);
	return r ? r : strcmp(x->stream, y->stream);
}

/* Start of a source that has no committed position. */
static void src_start(pt_consumer *c, src *s)
{
	pt__cpos *p = pt__cstate_find(&c->state, s->run, s->stream);
	s->filtered = false;
	if (p)
		s->next = p->seq + 1;
	else if (c->start.kind == PT__START_SEQ)
		s->next = c->start.seq;
	else if (c->start.kind == PT__START_STEP || c->start.kind == PT__START_TIME)
		s->filtered = true, s->next = 1;
	else /* oldest; latest recorded every stream's end when it was set, so a stream without one is new */
		s->next = 1;
}

static int rescan(pt_consumer *c)
{
	char **runs = NULL, **streams = NULL;
	size_t n = 0;
	const char *skip[2] = {c->fail_run, FAILURES_RUN};
	int rc = pt__match_streams_cb(c->st, c->o_run, c->o_stream, skip, 2, add_run_watch, c, &runs, &streams, &n);
	if (rc)
		return rc;
	src **sorted = c->nsrc ? pt__malloc(c->nsrc * sizeof *sorted) : NULL;
	if (c->nsrc && !sorted) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < c->nsrc; i++)
		sorted[i] = &c->srcs[i];
	if (c->nsrc)
		qsort(sorted, c->nsrc, sizeof *sorted, srccmp);
	size_t nold = c->nsrc;
	for (size_t i = 0; i < n; i++) {
		src key = {.run = runs[i], .stream = streams[i]}, *kp = &key;
		if (nold && bsearch(&kp, sorted, nold, sizeof *sorted, srccmp))
			continue;
		if (c->nsrc == c->capsrc) {
			size_t nc = c->capsrc ? c->capsrc * 2 : 8;
			src *nv = pt__realloc(c->srcs, nc * sizeof *nv);
			size_t *na = nv ? pt__realloc(c->active, nc * sizeof *na) : NULL;
			if (na)
				c->active = na;
			if (!nv || !na) {
				if (nv)
					c->srcs = nv;
				rc = PT_ENOMEM;
				goto done;
			}
			/* `sorted` points into the old array: rebase it */
			for (size_t k = 0; k < nold; k++)
				sorted[k] = nv + (sorted[k] - c->srcs);
			c->srcs = nv;
			c->capsrc = nc;
		}
		src *s = &c->srcs[c->nsrc];
		memset(s, 0, sizeof *s);
		s->run = runs[i];
		s->stream = streams[i];
		runs[i] = streams[i] = NULL;
		src_start(c, s);
		int tag = (int)c->nsrc;
		c->nsrc++;
		wake(c, (size_t)tag);
		char *d = pt__sprintf("%s/runs/%s/%s", c->st->path, s->run, s->stream);
		char *sd = d ? pt__sprintf("%s/segments", d) : NULL;
		if (!sd || (rc = pt__watch_add(c->w, d, tag)) || (rc = pt__watch_add(c->w, sd, tag))) {
			pt__free(d);
			pt__free(sd);
			rc = rc ? rc : PT_ENOMEM;
			goto done;
		}
		pt__free(d);
		pt__free(sd);
	}
done:
	pt__free(sorted);
	pt_strv_free(runs, n);
	pt_strv_free(streams, n);
	return rc;
}

int pt_consumer_open(pt_consumer **out, pt_store *st, const char *name, const pt_consumer_options *opts)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_consumer_open: NULL argument");
	*out = NULL;
	int rc = pt_name_check("consumer", name);
	if (rc)
		return rc;
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_CONSUMER_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_consumer_open: options version %u is not supported", opts->version);
		o = *opts;
	}
	if ((o.run && (rc = pt__glob_check("run", o.run))) || (o.stream && (rc = pt__glob_check("stream", o.stream))))
		return rc;
	if (o.batch_max < 1 || o.batch_max > 1000000)
		return pt__err(PT_EINVAL, "batch size %u: must be 1..1000000", o.batch_max);
	if (o.poll_ms < 1 || o.poll_ms > 3600000)
		return pt__err(PT_EINVAL, "poll period %u ms: must be 1..3600000", o.poll_ms);
	if (o.window_ms > 3600000 || o.backoff_max_ms > 3600000 || o.backoff_ms > o.backoff_max_ms)
		return pt__err(PT_EINVAL, "window and backoff must be at most an hour (backoff_ms <= backoff_max_ms)");
	pt__start sp;
	if ((rc = pt__start_parse(o.start, &sp)))
		return rc;

	pt_consumer *c = pt__calloc(1, sizeof *c);
	if (!c)
		return PT_ENOMEM;
	c->lock_fd = -1;
	c->st = st;
	c->o = o;
	if (!(c->name = pt__strdup(name))) {
		rc = PT_ENOMEM;
		goto fail;
	}
	if ((rc = pt__cstate_lock(st, name)) < 0)
		goto fail;
	c->lock_fd = rc;
	rc = pt__cstate_read(st, name, &c->state);
	bool created = false;
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		pt__cstate *s = &c->state;
		memset(s, 0, sizeof *s);
		s->name = pt__strdup(name);
		s->run = o.run ? pt__strdup(o.run) : NULL;
		s->stream = o.stream ? pt__strdup(o.stream) : NULL;
		s->start = pt__strdup(o.start ? o.start : "oldest");
		s->failures = o.failures ? pt__strdup(o.failures) : pt__sprintf(FAILURES_RUN "/%s", name);
		s->created = pt_time_now_ns();
		if (!s->name || (o.run && !s->run) || (o.stream && !s->stream) || !s->start || !s->failures) {
			rc = PT_ENOMEM;
			goto fail;
		}
		created = true;
	} else if (rc) {
		goto fail;
	} else {
		if ((o.run && !same(o.run, c->state.run)) || (o.stream && !same(o.stream, c->state.stream))) {
			rc = pt__err(PT_EINVAL,
				     "consumer %s follows run '%s' stream '%s'; it cannot be reopened over another source "
				     "(remove it or use another name)",
				     name, c->state.run ? c->state.run : "*", c->state.stream ? c->state.stream : "*");
			goto fail;
		}
		if (o.failures && strcmp(o.failures, c->state.failures)) {
			char *f = pt__strdup(o.failures);
			if (!f) {
				rc = PT_ENOMEM;
				goto fail;
			}
			pt__free(c->state.failures);
			c->state.failures = f;
			created = true; /* write it */
		}
	}
	if ((rc = pt__start_parse(c->state.start, &c->start)) ||
	    (rc = split_dest(c->state.failures, &c->fail_run, &c->fail_stream)))
		goto fail;
	if ((c->state.run && !(c->o_run = pt__strdup(c->state.run))) ||
	    (c->state.stream && !(c->o_stream = pt__strdup(c->state.stream)))) {
		rc = PT_ENOMEM;
		goto fail;
	}
	if (created && c->start.kind == PT__START_LATEST && c->state.npos == 0) {
		/* "latest": what exists now is behind the consumer */
		char **runs = NULL, **streams = NULL;
		size_t n = 0;
		const char *skip[2] = {c->fail_run, FAILURES_RUN};
		if ((rc = pt__match_streams(st, c->o_run, c->o_stream, skip, 2, &runs, &streams, &n)))
			goto fail;
		for (size_t i = 0; i < n && !rc; i++) {
			uint64_t first;
			if (!(rc = pt__start_first_seq(st, runs[i], streams[i], &c->start, &first)))
				rc = pt__cstate_set(&c->state, runs[i], streams[i], first - 1);
		}
		pt_strv_free(runs, n);
		pt_strv_free(streams, n);
		if (rc)
			goto fail;
	}
	if (created && (rc = pt__cstate_write(st, &c->state, o.fsync)))
		goto fail;
	if ((rc = pt__watch_new(&c->w)))
		goto fail;
	{
		char *rd = pt__sprintf("%s/runs", st->path);
		if (!rd || (rc = pt__watch_add(c->w, rd, RESCAN_TAG))) {
			pt__free(rd);
			rc = rc ? rc : PT_ENOMEM;
			goto fail;
		}
		pt__free(rd);
	}
	if ((rc = rescan(c)))
		goto fail;
	c->last_look = pt__mono_ns();
	c->batch.c = c;
	*out = c;
	return 0;
fail:
	pt_consumer_close(c);
	return rc;
}

void pt_consumer_stop(pt_consumer *c)
{
	if (c) {
		c->stop = 1;
		pt__watch_wake(c->w);
	}
}

void pt_consumer_get_counts(const pt_consumer *c, pt_consumer_counts *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (c)
		*out = c->counts;
}

/* ---- reading ---- */

static int src_open(pt_consumer *c, src *s)
{
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	if (s->filtered) {
		if (c->start.kind == PT__START_STEP)
			io.step_min = c->start.step;
		else
			io.time_min = c->start.time;
	} else {
		io.seq_min = s->next;
	}
	int rc = pt_iter_open(&s->it, c->st, s->run, s->stream, &io);
	if (rc == PT_ENOTFOUND) {
		/* not created completely yet, or removed: looked at again when it changes */
		pt__err_clear();
		s->at_end = true;
		return PT_ITEROVER;
	}
	return rc;
}

static int src_peek(pt_consumer *c, src *s)
{
	if (s->peek)
		return 0;
	if (s->at_end)
		return PT_ITEROVER;
	for (int pass = 0; pass < 2; pass++) {
		int rc;
		if (!s->it && (rc = src_open(c, s)))
			return rc;
		const pt_event_view *ev;
		rc = pt_iter_next(s->it, &ev);
		if (rc == PT_ITEROVER) {
			s->at_end = true;
			if (c->nsrc > KEEP_OPEN && !s->filtered) {
				/* many streams followed: an idle one keeps no descriptor (reopened at `next`) */
				pt_iter_free(s->it);
				s->it = NULL;
			}
			return rc;
		}
		if (rc)
			return rc;
		if (s->filtered) {
			/* the start point is found: read everything from here on */
			s->filtered = false;
			s->next = pt_ev_seq(ev);
			pt_iter_free(s->it);
			s->it = NULL;
			continue;
		}
		if (pt_ev_seq(ev) < s->next)
			return pt__err(PT_ECORRUPT, "%s/%s: seq %" PRIu64 " read where %" PRIu64 " was expected", s->run,
				       s->stream, pt_ev_seq(ev), s->next);
		s->peek = ev;
		return 0;
	}
	return PT_ITEROVER;
}

static int take(pt_consumer *c, src *s)
{
	const pt_event_view *ev = s->peek;
	if (c->nev == c->capev) {
		size_t nc = c->capev ? c->capev * 2 : 64;
		pt_consumer_event *ne = pt__realloc(c->evs, nc * sizeof *ne);
		if (!ne)
			return PT_ENOMEM;
		c->evs = ne;
		size_t *no = pt__realloc(c->offs, nc * 3 * sizeof *no);
		if (!no)
			return PT_ENOMEM;
		c->offs = no;
		c->capev = nc;
	}
	const void *mp;
	size_t mlen;
	pt_ev_msgpack(ev, &mp, &mlen);
	const char *kind = pt_ev_kind(ev), *name = pt_ev_name(ev);
	size_t *o = &c->offs[3 * c->nev];
	o[0] = c->arena.len;
	if (pt__buf_append(&c->arena, kind, strlen(kind) + 1))
		return PT_ENOMEM;
	o[1] = SIZE_MAX;
	if (name) {
		o[1] = c->arena.len;
		if (pt__buf_append(&c->arena, name, strlen(name) + 1))
			return PT_ENOMEM;
	}
	o[2] = c->arena.len;
	if (pt__buf_append(&c->arena, mp, mlen))
		return PT_ENOMEM;
	c->evs[c->nev] = (pt_consumer_event){s->run, s->stream, pt_ev_seq(ev), pt_ev_time(ev), pt_ev_step(ev),
					     NULL, NULL, NULL, mlen};
	c->nev++;
	s->next = pt_ev_seq(ev) + 1;
	s->peek = NULL;
	return 0;
}

/* Take events until the batch is full or every source is at its end. */
static int fill(pt_consumer *c)
{
	while (c->nev < c->o.batch_max) {
		src *best = NULL;
		for (size_t k = 0; k < c->nactive;) {
			src *s = &c->srcs[c->active[k]];
			int rc = src_peek(c, s);
			if (rc == PT_ITEROVER) {
				/* at its end: out of the list until its directory changes */
				s->active = false;
				c->active[k] = c->active[--c->nactive];
				continue;
			}
			if (rc)
				return rc;
			if (!best || pt_ev_time(s->peek) < pt_ev_time(best->peek) ||
			    (pt_ev_time(s->peek) == pt_ev_time(best->peek) && s < best))
				best = s; /* ties: the source discovered first */
			k++;
		}
		if (!best)
			return 0;
		int rc = take(c, best);
		if (rc)
			return rc;
		/* one source alone: no merge, take its batch in a row */
		while (c->nactive == 1 && c->nev < c->o.batch_max) {
			rc = src_peek(c, best);
			if (rc == PT_ITEROVER)
				return 0;
			if (rc || (rc = take(c, best)))
				return rc;
		}
	}
	return 0;
}

static void on_change(int tag, void *ud)
{
	pt_consumer *c = ud;
	if (tag == RESCAN_TAG) {
		c->rescan = true;
	} else if (tag == -2) {
		c->rescan = c->all_dirty = true;
	} else if (tag >= 0 && (size_t)tag < c->nsrc) {
		wake(c, (size_t)tag);
	}
}

/* Wait up to `ms` for a change (or a wake-up), then apply what changed. */
static int wait_changes(pt_consumer *c, int64_t ms)
{
	/* without inotify: look at everything every poll_ms; with it, the look is
	 * only a safety net (watches are set before listing, so nothing is missed) */
	int64_t poll_ns = (int64_t)c->o.poll_ms * 1000000;
	if (!pt__watch_polling(c->w) && poll_ns < 10000000000LL)
		poll_ns = 10000000000LL;
	int64_t now = pt__mono_ns();
	int64_t until_look = c->last_look + poll_ns - now;
	if (until_look < 0)
		until_look = 0;
	int64_t t = until_look / 1000000 + 1;
	if (ms >= 0 && ms < t)
		t = ms;
	int rc = c->stop ? 0 : pt__watch_wait(c->w, (int)t, on_change, c);
	if (rc < 0)
		return rc;
	if (pt__mono_ns() - c->last_look >= poll_ns) {
		/* the safety net (and the only way without inotify): look at everything */
		c->rescan = c->all_dirty = true;
		c->last_look = pt__mono_ns();
	}
	if (c->all_dirty) {
		for (size_t i = 0; i < c->nsrc; i++)
			wake(c, i);
		c->all_dirty = false;
	}
	if (c->rescan) {
		c->rescan = false;
		if ((rc = rescan(c)))
			return rc;
	}
	return 0;
}

static void finish_batch(pt_consumer *c)
{
	for (size_t i = 0; i < c->nev; i++) {
		const size_t *o = &c->offs[3 * i];
		c->evs[i].kind = (const char *)c->arena.data + o[0];
		c->evs[i].name = o[1] == SIZE_MAX ? NULL : (const char *)c->arena.data + o[1];
		c->evs[i].msgpack = c->arena.data + o[2];
	}
}

int pt_consumer_poll(pt_consumer *c, pt_consumer_batch **out, int wait_ms)
{
	if (!c || !out)
		return pt__err(PT_EINVAL, "pt_consumer_poll: NULL argument");
	*out = NULL;
	c->nev = 0;
	c->arena.len = 0;
	c->gen++;
	pt__free(c->batch.error);
	c->batch.error = NULL;
	int64_t start = pt__mono_ns(), first_at = 0;
	int rc;
	for (;;) {
		if ((rc = fill(c)))
			return rc;
		int64_t now = pt__mono_ns();
		if (c->nev >= c->o.batch_max)
			break;
		if (c->nev) {
			if (!first_at)
				first_at = now;
			int64_t left = first_at + (int64_t)c->o.window_ms * 1000000 - now;
			if (left <= 0 || c->stop)
				break;
			if ((rc = wait_changes(c, left / 1000000 + 1)))
				return rc;
			continue;
		}
		if (c->stop)
			return PT_ITEROVER;
		int64_t left = wait_ms < 0 ? -1 : start + (int64_t)wait_ms * 1000000 - now;
		if (wait_ms >= 0 && left <= 0)
			return PT_ITEROVER;
		if ((rc = wait_changes(c, left < 0 ? -1 : left / 1000000 + 1)))
			return rc;
	}
	finish_batch(c);
	c->batch = (pt_consumer_batch){c, 0, c->nev, c->gen, NULL};
	*out = &c->batch;
	return 0;
}

/* ---- committing ---- */

static int commit_range(pt_consumer *c, size_t first, size_t n)
{
	const char *lr = NULL, *ls = NULL;
	pt__cpos *p = NULL;
	for (size_t i = first; i < first + n; i++) {
		const pt_consumer_event *e = &c->evs[i];
		if (e->run != lr || e->stream != ls) {
			int rc = pt__cstate_set(&c->state, e->run, e->stream, e->seq);
			if (rc)
				return rc;
			p = pt__cstate_find(&c->state, e->run, e->stream);
			lr = e->run;
			ls = e->stream;
		}
		if (e->seq > p->seq)
			p->seq = e->seq;
	}
	c->state.committed = pt_time_now_ns();
	int rc = pt__cstate_commit(c->st, &c->state, c->o.fsync);
	if (!rc) {
		c->counts.events += n;
		c->counts.batches++;
	}
	return rc;
}

int pt_consumer_commit(pt_consumer *c, pt_consumer_batch *b)
{
	if (!c || !b)
		return pt__err(PT_EINVAL, "pt_consumer_commit: NULL argument");
	if (b->c != c || b->gen != c->gen || b->first + b->n > c->nev)
		return pt__err(PT_EINVAL, "pt_consumer_commit: not the current batch of consumer %s", c->name);
	return b->n ? commit_range(c, b->first, b->n) : 0;
}

/* ---- batches ---- */

const pt_consumer_event *pt_consumer_batch_events(const pt_consumer_batch *b, size_t *n)
{
	if (n)
		*n = b ? b->n : 0;
	return b && b->n ? &b->c->evs[b->first] : NULL;
}

int pt__json_event(pt__buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len);

int pt_consumer_batch_jsonl(pt_consumer_batch *b, const char **text, size_t *len)
{
	if (!b || !text || !len)
		return pt__err(PT_EINVAL, "pt_consumer_batch_jsonl: NULL argument");
	pt__buf *j = &b->c->jsonl;
	j->len = 0;
	for (size_t i = b->first; i < b->first + b->n; i++) {
		const pt_consumer_event *e = &b->c->evs[i];
		int rc = pt__json_event(j, e->run, e->stream, e->msgpack, e->msgpack_len);
		if (rc || (rc = pt__buf_append(j, "\n", 1)))
			return rc;
	}
	if (pt__buf_append(j, "", 1))
		return PT_ENOMEM;
	j->len--;
	*text = (const char *)j->data;
	*len = j->len;
	return 0;
}

void pt_consumer_batch_set_error(pt_consumer_batch *b, const char *message)
{
	if (!b)
		return;
	pt__free(b->error);
	b->error = NULL;
	if (message) {
		size_t n = strlen(message);
		b->error = pt__strndup(message, n > 4096 ? 4096 : n);
	}
}

/* ---- the handler loop ---- */

static int record_failure(pt_consumer *c, size_t i, const char *error, uint32_t attempts)
{
	const pt_consumer_event *e = &c->evs[i];
	int rc = 0;
	if (!c->fail_rec && (rc = pt_recorder_open(&c->fail_rec, c->st, c->fail_run, c->fail_stream, NULL)))
		return pt__err_wrap(rc, "consumer %s: cannot open its failure destination %s/%s", c->name, c->fail_run,
				    c->fail_stream);
	pt_event *ev = NULL;
	if ((rc = pt_event_new(&ev, "consumer_failure", c->name)) || (rc = pt_event_str(ev, "consumer", c->name)) ||
	    (rc = pt_event_str(ev, "event_run", e->run)) || (rc = pt_event_str(ev, "event_stream", e->stream)) ||
	    (rc = pt_event_uint(ev, "seq_first", e->seq)) || (rc = pt_event_uint(ev, "seq_last", e->seq)) ||
	    (rc = pt_event_str(ev, "event_kind", e->kind)) || (rc = pt_event_str(ev, "error", error)) ||
	    (rc = pt_event_uint(ev, "attempts", attempts)) || (rc = pt_recorder_append(c->fail_rec, ev, NULL)) ||
	    (rc = pt_recorder_flush(c->fail_rec)))
		goto done;
	c->counts.failed++;
done:
	pt_event_free(ev);
	return rc;
}

/* Sleep `ms`, waking early for stop; changes seen meanwhile are applied. */
static int backoff(pt_consumer *c, uint32_t ms)
{
	int64_t until = pt__mono_ns() + (int64_t)ms * 1000000;
	while (!c->stop) {
		int64_t left = until - pt__mono_ns();
		if (left <= 0)
			return 0;
		int rc = pt__watch_wait(c->w, (int)(left / 1000000 + 1), on_change, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

enum { STOPPED = 1 };

static int deliver(pt_consumer *c, pt_consumer_handler h, void *ud, size_t first, size_t n)
{
	pt_consumer_batch b = {c, first, n, c->gen, NULL};
	uint32_t delay = c->o.backoff_ms, attempts = 0;
	int rc = 0;
	char msg[64];
	for (;;) {
		attempts++;
		c->counts.attempts++;
		int r = h(ud, &b);
		if (r == 0) {
			rc = commit_range(c, first, n);
			goto done;
		}
		if (!b.error) {
			snprintf(msg, sizeof msg, "handler returned %d", r);
			pt_consumer_batch_set_error(&b, msg);
		}
		if (c->stop) {
			rc = STOPPED; /* not committed: handed again on resume */
			goto done;
		}
		if (attempts > c->o.max_retries)
			break;
		if ((rc = backoff(c, delay)))
			goto done;
		delay = delay > c->o.backoff_max_ms / 2 ? c->o.backoff_max_ms : delay * 2;
	}
	if (n > 1) {
		size_t half = n / 2;
		if (!(rc = deliver(c, h, ud, first, half)))
			rc = deliver(c, h, ud, first + half, n - half);
		goto done;
	}
	/* one event that keeps failing: into the failure destination, and on */
	if (!(rc = record_failure(c, first, b.error ? b.error : "handler failed", attempts)))
		rc = commit_range(c, first, 1);
done:
	pt__free(b.error);
	return rc;
}

int pt_consumer_run(pt_consumer *c, pt_consumer_handler handler, void *userdata)
{
	if (!c || !handler)
		return pt__err(PT_EINVAL, "pt_consumer_run: NULL argument");
	for (;;) {
		if (c->stop)
			return 0;
		pt_consumer_batch *b;
		int rc = pt_consumer_poll(c, &b, c->o.follow ? -1 : 0);
		if (rc == PT_ITEROVER) {
			if (c->stop || !c->o.follow)
				return 0;
			continue;
		}
		if (rc)
			return rc;
		rc = deliver(c, handler, userdata, 0, b->n);
		if (rc == STOPPED)
			return 0;
		if (rc)
			return rc;
	}
}
