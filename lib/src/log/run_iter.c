/* log/run_iter.c - the streams of a run merged by time (provtrace/run.h). */
#include "provtrace/run.h"

#include "base/base_int.h"

#include <string.h>

typedef struct {
	char *name;
	pt_lineage_iter *it;
	const pt_event_view *head; /* NULL: to be read */
	int64_t lineage;
} sub_t;

struct pt_run_iter {
	sub_t *s;
	size_t n, cap;
	size_t last; /* the sub whose head was returned last (n: none) */
	/* every stream, audit view: streams created later join at PT_ITEROVER */
	bool adopt;
	const pt_store *st;
	char *run;
	pt_iter_options o;
};

void pt_run_iter_free(pt_run_iter *it)
{
	if (!it)
		return;
	for (size_t i = 0; i < it->n; i++) {
		pt_lineage_iter_free(it->s[i].it);
		pt__free(it->s[i].name);
	}
	pt__free(it->s);
	pt__free(it->run);
	pt__free(it);
}

int pt_run_iter_open(pt_run_iter **out, const pt_store *st, const char *run, const char *const *streams,
		     size_t nstreams, const pt_iter_options *opts, int live)
{
	if (!out || !st || !run)
		return pt__err(PT_EINVAL, "pt_run_iter_open: NULL argument");
	*out = NULL;
	if (streams && !nstreams)
		return pt__err(PT_EINVAL, "pt_run_iter_open: no stream named (NULL streams: all of them)");
	char **names = NULL;
	size_t n = nstreams;
	int rc;
	if (!streams) {
		if ((rc = pt_store_streams(st, run, &names, &n)))
			return rc;
		if (!n) {
			pt_strv_free(names, n);
			return pt__err(PT_ENOTFOUND, "run %s has no streams", run);
		}
	}
	pt_run_iter *it = pt__calloc(1, sizeof *it);
	if (!it || !(it->s = pt__calloc(n, sizeof *it->s))) {
		pt__free(it);
		pt_strv_free(names, names ? n : 0);
		return PT_ENOMEM;
	}
	it->last = n;
	it->cap = n;
	it->st = st;
	it->adopt = !streams && !live;
	if (opts)
		it->o = *opts;
	else
		pt_iter_options_init(&it->o, PT_ITER_OPTIONS_VERSION);
	/* a stream that appears later is read from its first event */
	it->o.start_at_end = 0;
	it->o.seq_min = 0;
	if (it->adopt && !(it->run = pt__strdup(run))) {
		pt__free(it->s);
		pt__free(it);
		pt_strv_free(names, n);
		return PT_ENOMEM;
	}
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *name = names ? names[i] : streams[i];
		if (!name) {
			rc = pt__err(PT_EINVAL, "pt_run_iter_open: stream %zu is NULL", i);
			break;
		}
		for (size_t j = 0; j < it->n && !rc; j++)
			if (!strcmp(it->s[j].name, name))
				rc = pt__err(PT_EINVAL, "pt_run_iter_open: stream %s is named twice", name);
		if (rc)
			break;
		if (!(it->s[i].name = pt__strdup(name))) {
			rc = PT_ENOMEM;
			break;
		}
		it->n = i + 1;
		rc = pt_lineage_iter_open(&it->s[i].it, st, run, name, opts, live);
	}
	pt_strv_free(names, names ? n : 0);
	if (rc) {
		pt_run_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* a before b in the merge? */
static bool before(const sub_t *a, const sub_t *b)
{
	int64_t ta = pt_ev_time(a->head), tb = pt_ev_time(b->head);
	if (ta != tb)
		return ta < tb;
	int c = strcmp(a->name, b->name);
	if (c)
		return c < 0;
	return pt_ev_seq(a->head) < pt_ev_seq(b->head);
}

/*
 * Streams created since the last look (the audit view of every stream): each
 * joins the merge from its first event.  A stream that cannot be opened yet
 * (its directory made, its first segment not) is tried again next time.
 * Returns how many joined, or an error.
 */
static int adopt_new(pt_run_iter *it, size_t *added)
{
	*added = 0;
	char **names = NULL;
	size_t n = 0;
	int rc = pt_store_streams(it->st, it->run, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		bool known = false;
		for (size_t j = 0; j < it->n && !known; j++)
			known = !strcmp(it->s[j].name, names[i]);
		if (known)
			continue;
		pt_lineage_iter *li = NULL;
		int r = pt_lineage_iter_open(&li, it->st, it->run, names[i], &it->o, 0);
		if (r == PT_ENOTFOUND) {
			pt__err_clear();
			continue;
		}
		if (r) {
			rc = r;
			break;
		}
		if (it->n == it->cap) {
			size_t nc = it->cap ? it->cap * 2 : 4;
			sub_t *ns = pt__realloc(it->s, nc * sizeof *ns);
			if (!ns) {
				pt_lineage_iter_free(li);
				rc = PT_ENOMEM;
				break;
			}
			it->s = ns;
			it->cap = nc;
		}
		sub_t *s = &it->s[it->n];
		memset(s, 0, sizeof *s);
		s->it = li;
		if (!(s->name = pt__strdup(names[i]))) {
			pt_lineage_iter_free(li);
			rc = PT_ENOMEM;
			break;
		}
		/* `last` means "none" when it equals n: keep it so as n grows */
		if (it->last == it->n)
			it->last = it->n + 1;
		it->n++;
		(*added)++;
	}
	pt_strv_free(names, n);
	return rc;
}

int pt_run_iter_next(pt_run_iter *it, const pt_event_view **ev, int64_t *lineage)
{
	if (!it || !ev)
		return pt__err(PT_EINVAL, "pt_run_iter_next: NULL argument");
	*ev = NULL;
	if (lineage)
		*lineage = 0;
	if (it->last < it->n) {
		it->s[it->last].head = NULL; /* consumed: its view is about to be replaced */
		it->last = it->n;
	}
	size_t best = it->n;
	for (size_t i = 0; i < it->n; i++) {
		sub_t *s = &it->s[i];
		if (!s->head) {
			int rc = pt_lineage_iter_next(s->it, &s->head, &s->lineage);
			if (rc == PT_ITEROVER) {
				s->head = NULL;
				continue;
			}
			if (rc) {
				s->head = NULL;
				return rc;
			}
		}
		if (best == it->n || before(s, &it->s[best]))
			best = i;
	}
	if (best == it->n && it->adopt) {
		size_t added = 0;
		int rc = adopt_new(it, &added);
		if (rc)
			return rc;
		if (added)
			return pt_run_iter_next(it, ev, lineage); /* once more, with the newcomers */
	}
	if (best == it->n)
		return PT_ITEROVER;
	it->last = best;
	*ev = it->s[best].head;
	if (lineage)
		*lineage = it->s[best].lineage;
	return 0;
}

size_t pt_run_iter_streams(const pt_run_iter *it)
{
	return it ? it->n : 0;
}

size_t pt_run_iter_lineages(const pt_run_iter *it)
{
	size_t m = 1;
	for (size_t i = 0; it && i < it->n; i++) {
		size_t l = pt_lineage_iter_lineages(it->s[i].it);
		if (l > m)
			m = l;
	}
	return m;
}
