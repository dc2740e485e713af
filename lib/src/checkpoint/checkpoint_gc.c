/*
 * checkpoint_gc.c - the gc lock, verification of stored checkpoints, and gc.
 *
 * Both verify and gc start from the roots in the event log: the `manifest`
 * of every `checkpoint` event and every id in an `objects` array of any
 * event body, in every stream of every run.
 *
 * gc never races a checkpoint being written: writers hold
 * STORE/objects/gc.lock shared (flock) from their first chunk until their
 * event is flushed; gc holds it exclusively from the first event read to
 * the last unlink. If any root cannot be resolved (an unreadable stream or
 * manifest) gc deletes nothing: damage is reported, never "tidied away".
 */
#include "format/rstore_int.h"
#include "checkpoint/checkpoint_int.h"

#include "log/history_int.h"
#include "format/objects_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int pt__gc_lock(const pt_store *st, int exclusive, int wait, int *out_fd)
{
	*out_fd = -1;
	char *dir = pt__sprintf("%s/objects", st->path);
	char *path = pt__sprintf("%s/objects/gc.lock", st->path);
	int rc = 0, fd = -1;
	if (!dir || !path) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__mkdir_in(st->path, dir, 0755)))
		goto done;
	fd = pt__open_in(st->path, path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open %s", path);
		goto done;
	}
	int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			rc = pt__err(PT_ELOCKED, exclusive
					 ? "a checkpoint is being written to this store (%s is held); try again later"
					 : "gc is running on this store (%s is held)", path);
		else
			rc = pt__err_errno(errno, "cannot lock %s", path);
		close(fd);
		fd = -1;
		goto done;
	}
	*out_fd = fd;
done:
	pt__free(dir);
	pt__free(path);
	return rc;
}

void pt__gc_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ---- walking the roots ------------------------------------------------------------------ */

typedef struct {
	const char *run, *stream;
	uint64_t seq;
	int64_t step;
	int is_checkpoint;
} ev_ctx;

typedef int (*refs_cb)(const ev_ctx *ctx, const pt__ev_refs *r, void *payload);

static int walk_refs(const pt_store *st, const char *only_run, refs_cb cb, void *payload)
{
	char **runs = NULL;
	size_t nruns = 0;
	int rc;
	if (only_run) {
		if ((rc = pt_name_check("run", only_run)))
			return rc;
		if (!(runs = pt__calloc(1, sizeof *runs)) || !(runs[0] = pt__strdup(only_run))) {
			pt__free(runs);
			return PT_ENOMEM;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		return rc;
	}
	for (size_t i = 0; i < nruns && !rc; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[i], &streams, &ns)))
			break;
		for (size_t k = 0; k < ns && !rc; k++) {
			pt_iter *it = NULL;
			pt_iter_options io = PT_ITER_OPTIONS_INIT;
			if ((rc = pt_iter_open(&it, st, runs[i], streams[k], &io)))
				break;
			const pt_event_view *ev;
			while ((rc = pt_iter_next(it, &ev)) == 0) {
				const void *body;
				size_t blen;
				if ((rc = pt_ev_body_msgpack(ev, &body, &blen)))
					break;
				pt__ev_refs r;
				ev_ctx c = {runs[i], streams[k], pt_ev_seq(ev), pt_ev_step(ev),
					    !strcmp(pt_ev_kind(ev), PT_KIND_CHECKPOINT)};
				if ((rc = pt__ev_refs_parse(&r, pt_ev_kind(ev), body, blen))) {
					rc = pt__err_wrap(rc, "run %s stream %s seq %llu", c.run, c.stream,
							  (unsigned long long)c.seq);
					break;
				}
				rc = cb(&c, &r, payload);
				pt__ev_refs_free(&r);
				if (rc)
					break;
			}
			if (rc == PT_ITEROVER)
				rc = 0;
			pt_iter_free(it);
		}
		pt_strv_free(streams, ns);
	}
	pt_strv_free(runs, nruns);
	return rc;
}

static void where(char *buf, size_t n, const ev_ctx *c)
{
	if (c->step != PT_NO_STEP)
		snprintf(buf, n, "run %s stream %s seq %llu step %lld", c->run, c->stream,
			 (unsigned long long)c->seq, (long long)c->step);
	else
		snprintf(buf, n, "run %s stream %s seq %llu", c->run, c->stream, (unsigned long long)c->seq);
}

/* ---- verify ------------------------------------------------------------------------------ */

typedef struct {
	const pt_store *st;
	pt_problem_cb cb;
	void *payload;
	pt_checkpoint_verify_stats stats;
	pt__idset good, bad;
	pt__object_scratch scr;
	uint8_t *buf;
	size_t cap;
	int stop;
	int first_rc;
	char first_msg[1024];
} vctx;

static int problem(vctx *v, int code, const uint8_t id[32], const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int problem(vctx *v, int code, const uint8_t id[32], const char *fmt, ...)
{
	char msg[2048], obj[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char hex[PT_SHA256_HEX];
	pt__hex(id, 32, hex);
	snprintf(obj, sizeof obj, "objects/%.2s/%s", hex, hex + 2);
	v->stats.errors++;
	if (!v->first_rc) {
		v->first_rc = code;
		snprintf(v->first_msg, sizeof v->first_msg, "%s", msg);
	}
	if (v->cb) {
		pt_problem p = {PT_SEVERITY_ERROR, code, obj, 0, msg};
		if (v->cb(&p, v->payload))
			v->stop = 1;
	}
	return 0;
}

/* Verify one object of `len` plain bytes (0: from its header). 0 ok, else the error code. */
static int check_object(vctx *v, const uint8_t id[32], size_t len)
{
	if (pt__idset_has(&v->good, id))
		return 0;
	int rc = 0;
	if (!len) {
		uint64_t plain = 0;
		if ((rc = pt__object_stat(v->st, id, &plain, NULL)))
			goto out;
		len = (size_t)plain;
	}
	if (v->cap < len) {
		uint8_t *n = pt__malloc(len);
		if (!n)
			return PT_ENOMEM;
		pt__free(v->buf);
		v->buf = n;
		v->cap = len;
	}
	rc = pt__object_read(v->st, id, v->buf, len, &v->scr);
	if (!rc) {
		v->stats.bytes += len;
		if ((rc = pt__idset_add(&v->good, id)) < 0)
			return rc;
		return 0;
	}
out:
	if (rc == PT_ENOMEM)
		return rc;
	if (pt__idset_add(&v->bad, id) < 0)
		return PT_ENOMEM;
	return rc;
}

/* Verify manifest `id` and every chunk it lists. */
static int verify_manifest(vctx *v, const uint8_t id[32], const char *hex, const char *at, const char *what)
{
	pt__manifest m;
	int rc = pt__manifest_load(&m, v->st, id);
	if (rc == PT_ENOMEM)
		return rc;
	if (rc) {
		problem(v, rc == PT_ENOTFOUND ? PT_ENOTFOUND : PT_ECORRUPT, id,
			"%s: %s manifest %s: %s", at, what, hex, pt_error_last());
		return 0;
	}
	v->stats.manifests++;
	for (uint32_t i = 0; i < m.count && !v->stop; i++) {
		const pt__mentry *e = &m.e[i];
		for (uint32_t k = 0; k < e->next && !v->stop; k++) {
			const pt__extent *x = &e->ext[k];
			int was_bad = pt__idset_has(&v->bad, x->id);
			int known = pt__idset_has(&v->good, x->id);
			char msg[1024] = "";
			if (!was_bad) {
				rc = check_object(v, x->id, x->chunk_len);
				if (rc == PT_ENOMEM) {
					pt__manifest_clear(&m);
					return rc;
				}
				if (!rc && !known)
					v->stats.chunks++;
				if (rc)
					snprintf(msg, sizeof msg, "%s", pt_error_last());
			} else {
				rc = PT_ECORRUPT;
				snprintf(msg, sizeof msg, "damaged or missing (reported above)");
			}
			if (rc) {
				char chex[PT_SHA256_HEX];
				pt__hex(x->id, 32, chex);
				problem(v, rc == PT_ENOTFOUND ? PT_ENOTFOUND : PT_ECORRUPT, x->id,
					"%s: %s %.12s: %s \"%s\", chunk %u of %u (%s): %s", at,
					what, hex, e->type == PT_ENTRY_TENSOR ? "tensor" : "blob",
					e->name, k + 1, e->next, chex, msg);
			}
		}
	}
	pt__manifest_clear(&m);
	return 0;
}

static int verify_refs(const ev_ctx *c, const pt__ev_refs *r, void *payload)
{
	vctx *v = payload;
	char at[512];
	where(at, sizeof at, c);
	for (size_t i = 0; i < r->nobjects && !v->stop; i++) {
		const uint8_t *id = r->objects + 32 * i;
		int known = pt__idset_has(&v->good, id);
		int rc = check_object(v, id, 0);
		if (rc == PT_ENOMEM)
			return rc;
		if (!known && !rc)
			v->stats.objects++;
		if (rc) {
			char hex[PT_SHA256_HEX];
			pt__hex(id, 32, hex);
			problem(v, rc == PT_ENOTFOUND ? PT_ENOTFOUND : PT_ECORRUPT, id, "%s: object %s: %s",
				at, hex, pt_error_last());
		}
	}
	if (r->foreign && v->cb && !v->stop) {
		/* forged through emit before reserved kinds were refused: not a
		 * checkpoint and no reference (docs/RELIABILITY.md), but said */
		char msg[1024];
		snprintf(msg, sizeof msg, "%s: a \"checkpoint\" event not written by pt_checkpointer_write (no manifest "
			 "and counts); it names no checkpoint and holds no object", at);
		char obj[300];
		snprintf(obj, sizeof obj, "runs/%s/%s", c->run, c->stream);
		pt_problem p = {PT_SEVERITY_WARNING, PT_EINVAL, obj, 0, msg};
		if (v->cb(&p, v->payload))
			v->stop = 1;
	}
	int rc = 0;
	if (r->has_content && !v->stop)
		rc = verify_manifest(v, r->content, r->content_hex, at, "dataset content");
	if (rc || !c->is_checkpoint || !r->has_manifest || v->stop)
		return rc;
	return verify_manifest(v, r->manifest, r->info.manifest, at, "checkpoint");
}

int pt_checkpoint_verify_store(const pt_store *st, const char *run, pt_problem_cb cb, void *payload,
			       pt_checkpoint_verify_stats *stats)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_checkpoint_verify_store: NULL store");
	vctx v;
	memset(&v, 0, sizeof v);
	v.st = st;
	v.cb = cb;
	v.payload = payload;
	int rc = walk_refs(st, run, verify_refs, &v);
	if (stats)
		*stats = v.stats;
	pt__idset_free(&v.good);
	pt__idset_free(&v.bad);
	pt__object_scratch_free(&v.scr);
	pt__free(v.buf);
	if (rc)
		return rc;
	if (v.first_rc)
		return pt__err(PT_ECORRUPT, "%llu checkpoint problem(s), the first: %s",
			       (unsigned long long)v.stats.errors, v.first_msg);
	return 0;
}

/* ---- gc ---------------------------------------------------------------------------------- */

typedef struct {
	const pt_store *st;
	pt__idset live;
	pt_gc_stats stats;
	const pt_gc_options *o;
	int64_t now;
} gctx;

/* Mark manifest `id` and its chunks live (once per manifest). */
static int mark_manifest(gctx *g, const uint8_t id[32], const char *hex, const ev_ctx *c, const char *what)
{
	int rc = pt__idset_add(&g->live, id);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0; /* manifest seen before: its chunks are marked */
	pt__manifest m;
	if ((rc = pt__manifest_load(&m, g->st, id))) {
		char at[512];
		where(at, sizeof at, c);
		return pt__err_wrap(rc, "gc: %s manifest %s of %s cannot be read; nothing was deleted "
					"(run `provtrace verify`)", what, hex, at);
	}
	for (uint32_t i = 0; i < m.count && !rc; i++)
		for (uint32_t k = 0; k < m.e[i].next && !rc; k++)
			if (pt__idset_add(&g->live, m.e[i].ext[k].id) < 0)
				rc = PT_ENOMEM;
	pt__manifest_clear(&m);
	return rc;
}

static int mark(const ev_ctx *c, const pt__ev_refs *r, void *payload)
{
	gctx *g = payload;
	for (size_t i = 0; i < r->nobjects; i++)
		if (pt__idset_add(&g->live, r->objects + 32 * i) < 0)
			return PT_ENOMEM;
	int rc = 0;
	if (r->has_content)
		rc = mark_manifest(g, r->content, r->content_hex, c, "dataset content");
	if (rc || !c->is_checkpoint || !r->has_manifest)
		return rc;
	return mark_manifest(g, r->manifest, r->info.manifest, c, "checkpoint");
}

static int is_young(const gctx *g, const struct stat *sb)
{
	return g->o->grace_s > 0 && (int64_t)sb->st_mtime > g->now - g->o->grace_s;
}

static int sweep(const uint8_t id[32], const char *path, void *payload)
{
	gctx *g = payload;
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return 0;
	if (pt__idset_has(&g->live, id)) {
		g->stats.live_objects++;
		g->stats.live_bytes += (uint64_t)sb.st_size;
		return 0;
	}
	if (is_young(g, &sb)) {
		g->stats.young_objects++;
		return 0;
	}
	g->stats.garbage_objects++;
	g->stats.garbage_bytes += (uint64_t)sb.st_size;
	if (!g->o->dry_run && pt__unlink_in(g->st->path, path) < 0 && errno != ENOENT)
		return pt__err_errno(errno, "gc: cannot remove %s", path);
	return 0;
}

static int sweep_tmp(const char *path, void *payload)
{
	gctx *g = payload;
	struct stat sb;
	if (lstat(path, &sb) < 0 || is_young(g, &sb))
		return 0;
	g->stats.temp_files++;
	g->stats.garbage_bytes += (uint64_t)sb.st_size;
	if (!g->o->dry_run && pt__unlink_in(g->st->path, path) < 0 && errno != ENOENT)
		return pt__err_errno(errno, "gc: cannot remove %s", path);
	return 0;
}

int pt_gc(const pt_store *st, const pt_gc_options *opts, pt_gc_stats *stats)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_gc: NULL store");
	int ro = pt__rstore_refuse_write(st, "gc");
	if (ro)
		return ro;
	pt_gc_options o = PT_GC_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_GC_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "gc options version %u is not supported", opts->version);
		o = *opts;
	}
	gctx g;
	memset(&g, 0, sizeof g);
	g.st = st;
	g.o = &o;
	g.now = (int64_t)time(NULL);
	int fd = -1;
	int rc = pt__gc_lock(st, 1, o.wait, &fd);
	if (rc)
		return rc;
	if ((rc = walk_refs(st, NULL, mark, &g)))
		goto done;
	/* referenced ids that are absent: counted for the report */
	rc = pt__object_walk(st, sweep, sweep_tmp, &g);
	/* referenced but not hot: in an archive (objects that left with their history), or missing */
	for (size_t i = 0; !rc && g.live.n > g.stats.live_objects && i < g.live.cap; i++) {
		if (!g.live.used[i])
			continue;
		const uint8_t *id = g.live.ids + 32 * i;
		int where = pt__history_object_state(st, id);
		if (where < 0) {
			rc = where;
			break;
		}
		if (where == PT_HIST_HOT)
			continue;
		if (where == PT_HIST_ARCHIVED)
			g.stats.archived++;
		else
			g.stats.missing++;
	}
	/* make the removals durable: a gc that "un-happens" after a crash is harmless, but
	 * reporting bytes freed that come back would not be honest */
	if (!rc && !o.dry_run && g.stats.garbage_objects + g.stats.temp_files) {
		for (int i = 0; i < 256 && !rc; i++) {
			char *d = pt__sprintf("%s/objects/%02x", st->path, i);
			if (!d) {
				rc = PT_ENOMEM;
				break;
			}
			if (pt__is_dir(d))
				rc = pt__fsync_dir(d);
			pt__free(d);
		}
	}
	if (stats)
		*stats = g.stats;
done:
	pt__gc_unlock(fd);
	pt__idset_free(&g.live);
	return rc;
}

/* ---- the live set, for push ------------------------------------------------------------------ */

int pt__objects_live_stream(const pt_store *st, const char *run, const char *stream, uint64_t seq_min,
			    pt__idset *set)
{
	gctx g;
	memset(&g, 0, sizeof g);
	g.st = st;
	g.live = *set;
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.seq_min = seq_min;
	int rc = pt_iter_open(&it, st, run, stream, &io);
	const pt_event_view *ev;
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		const void *body;
		size_t blen;
		if ((rc = pt_ev_body_msgpack(ev, &body, &blen)))
			break;
		pt__ev_refs r;
		ev_ctx c = {run, stream, pt_ev_seq(ev), pt_ev_step(ev), !strcmp(pt_ev_kind(ev), PT_KIND_CHECKPOINT)};
		if ((rc = pt__ev_refs_parse(&r, pt_ev_kind(ev), body, blen))) {
			rc = pt__err_wrap(rc, "run %s stream %s seq %llu", run, stream, (unsigned long long)c.seq);
			break;
		}
		rc = mark(&c, &r, &g);
		pt__ev_refs_free(&r);
	}
	if (rc == PT_ITEROVER)
		rc = 0;
	pt_iter_free(it);
	*set = g.live;
	return rc;
}

int pt__objects_live(const pt_store *st, const char *only_run, pt__idset *out)
{
	gctx g;
	memset(&g, 0, sizeof g);
	g.st = st;
	int rc = walk_refs(st, only_run, mark, &g);
	if (rc) {
		pt__idset_free(&g.live);
		return rc;
	}
	*out = g.live;
	return 0;
}
