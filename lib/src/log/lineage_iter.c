/* log/lineage_iter.c - events with their lineage: the audit view or the live path (provtrace/lineage.h). */
#include "provtrace/lineage.h"
#include "provtrace/replay.h"

#include "base/base_int.h"
#include "base/mpk_int.h"
#include "log/state_int.h"

#include <string.h>

struct pt_lineage_iter {
	const pt_store *st;
	char *run, *stream;
	pt_iter_options o;
	int live;
	pt_replay *rp;    /* the lineage table and the live path at open (NULL: the stream had no events) */
	uint64_t last_seq; /* the stream's end at open */
	pt_iter *it;
	size_t range;      /* live: the path range `it` reads */
	int64_t after;     /* audit: lineage of events past last_seq */
};

void pt_lineage_iter_free(pt_lineage_iter *it)
{
	if (!it)
		return;
	pt_iter_free(it->it);
	pt_replay_free(it->rp);
	pt__free(it->run);
	pt__free(it->stream);
	pt__free(it);
}

/* Open `it->it` over path range `i` clipped to the filters; 1 if the range is empty after clipping. */
static int open_range(pt_lineage_iter *it, size_t i, int *empty)
{
	uint64_t lo, hi;
	pt__replay_path_range(it->rp, i, &lo, &hi);
	pt_iter_options o = it->o;
	if (lo > o.seq_min)
		o.seq_min = lo;
	if (hi < o.seq_max)
		o.seq_max = hi;
	*empty = o.seq_min > o.seq_max;
	if (*empty)
		return 0;
	pt_iter_free(it->it);
	it->it = NULL;
	return pt_iter_open(&it->it, it->st, it->run, it->stream, &o);
}

int pt_lineage_iter_open(pt_lineage_iter **out, const pt_store *st, const char *run, const char *stream,
			 const pt_iter_options *opts, int live)
{
	if (!out || !st || !run)
		return pt__err(PT_EINVAL, "pt_lineage_iter_open: NULL argument");
	*out = NULL;
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_ITER_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_lineage_iter_open: options version %u is not supported",
				       opts->version);
		o = *opts;
	}
	if (live && o.start_at_end)
		return pt__err(PT_EINVAL, "pt_lineage_iter_open: the live path ends at open; start_at_end reads "
					  "only later events (use the audit view, live = 0)");
	pt_lineage_iter *it = pt__calloc(1, sizeof *it);
	if (!it)
		return PT_ENOMEM;
	it->st = st;
	it->o = o;
	it->live = live ? 1 : 0;
	it->run = pt__strdup(run);
	it->stream = pt__strdup(stream ? stream : PT_DEFAULT_STREAM);
	if (!it->run || !it->stream) {
		pt_lineage_iter_free(it);
		return PT_ENOMEM;
	}
	/* the plain iterator first: it names a missing stream and checks the names and filters */
	int rc = pt_iter_open(&it->it, st, run, it->stream, &o);
	if (rc) {
		pt_lineage_iter_free(it);
		return rc;
	}
	pt_stream_info si;
	if ((rc = pt_stream_stat(st, run, it->stream, &si))) {
		pt_lineage_iter_free(it);
		return rc;
	}
	if (si.events) {
		pt_replay_options ro = PT_REPLAY_OPTIONS_INIT;
		ro.stream = it->stream;
		if ((rc = pt_replay_open(&it->rp, st, run, NULL, &ro))) {
			pt_lineage_iter_free(it);
			return rc;
		}
		it->last_seq = pt__replay_last_seq(it->rp);
		it->after = pt__replay_lineage_at(it->rp, it->last_seq);
	}
	if (it->live && it->rp) {
		int empty = 1;
		for (it->range = 0; it->range < pt__replay_path_n(it->rp); it->range++)
			if ((rc = open_range(it, it->range, &empty)) || !empty)
				break;
		if (rc) {
			pt_lineage_iter_free(it);
			return rc;
		}
	}
	*out = it;
	return 0;
}

/* The lineage a `lineage` event starts (its body's "lineage"), or -1. */
static int64_t started_lineage(const pt_event_view *ev)
{
	const void *body;
	size_t len;
	if (strcmp(pt_ev_kind(ev), "lineage") || pt_ev_body_msgpack(ev, &body, &len))
		return -1;
	const uint8_t *p = body, *end = p + len;
	mpk_obj o;
	if (mpk_read(&p, end, &o) || o.type != MPK_MAP)
		return -1;
	for (uint32_t i = 0, n = o.len; i < n; i++) {
		mpk_obj k, v;
		if (mpk_read(&p, end, &k) || k.type != MPK_STR)
			return -1;
		bool want = k.len == 7 && !memcmp(k.ptr, "lineage", 7);
		if (want)
			return mpk_read(&p, end, &v) || v.type != MPK_UINT || v.u > INT64_MAX ? -1 : (int64_t)v.u;
		if (mpk_skip(&p, end, 64))
			return -1;
	}
	return -1;
}

int pt_lineage_iter_next(pt_lineage_iter *it, const pt_event_view **ev, int64_t *lineage)
{
	if (!it || !ev)
		return pt__err(PT_EINVAL, "pt_lineage_iter_next: NULL argument");
	*ev = NULL;
	if (lineage)
		*lineage = 0;
	if (!it->live || !it->rp) {
		if (it->live && !it->rp)
			return PT_ITEROVER; /* an empty stream at open: an empty path */
		int rc = pt_iter_next(it->it, ev);
		if (rc)
			return rc;
		uint64_t seq = pt_ev_seq(*ev);
		int64_t l = it->after;
		if (it->rp && seq <= it->last_seq) {
			l = pt__replay_lineage_at(it->rp, seq);
		} else {
			int64_t s = started_lineage(*ev);
			if (s >= 0)
				l = it->after = s;
		}
		if (lineage)
			*lineage = l;
		return 0;
	}
	for (;;) {
		if (it->range >= pt__replay_path_n(it->rp))
			return PT_ITEROVER;
		int rc = pt_iter_next(it->it, ev);
		if (rc == 0) {
			if (lineage)
				*lineage = pt__replay_lineage_at(it->rp, pt_ev_seq(*ev));
			return 0;
		}
		if (rc != PT_ITEROVER)
			return rc;
		int empty = 1;
		for (it->range++; it->range < pt__replay_path_n(it->rp); it->range++)
			if ((rc = open_range(it, it->range, &empty)) || !empty)
				break;
		if (rc)
			return rc;
	}
}

size_t pt_lineage_iter_lineages(const pt_lineage_iter *it)
{
	return it && it->rp ? 1 + pt__replay_lineage_count(it->rp) : 1;
}
