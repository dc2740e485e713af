/*
 * archive_job.c - plans and the archive job (`archive run`).
 *
 * Crash safety comes from the order of durable steps, each of which a later
 * job can recognise and finish (`recover`):
 *   1. the tar is written under a temporary name (".pt-tmp-*") in the vault,
 *      fsync'd, re-read and verified against its manifest;
 *   2. it is renamed to <sha256>.tar and the vault directory fsync'd:
 *      from here the archive exists (a job killed now leaves a complete,
 *      verified archive that the next job adopts into the catalog);
 *   3. catalog entry (state CATALOGUED) -> `archive` event (RECORDED) ->
 *      location records of its segments, then the hot segment files are
 *      removed (DONE).
 * A source is only ever removed in step 3, after its location record is
 * durable, so a reader always finds each segment in one of the two places.
 * Temporary files are removed by the next job (it holds the lock, so any
 * temporary file is a dead job's).
 */
#include "format/rstore_int.h"
#include "archive/archive_int.h"
#include "checkpoint/checkpoint_int.h"
#include "format/objects_int.h"
#include "archive/cron_int.h"
#include "format/segment_int.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS 1000000000LL
#define TMP_PREFIX ".pt-tmp-"
#define MAX_WINDOWS 1000000

typedef struct {
	pt_store *st;
	const pt_archive_run_options *o;
	int64_t now;
	pt__plans plans;
	pt__catalog cat;
} job;

#define say(j, ...) pt__archive_say((j)->o->report, (j)->o->report_payload, __VA_ARGS__)

static const char *iso(int64_t ns, char *buf)
{
	/* seconds are enough for windows: "2026-11-26T02:00:00Z" */
	pt_time_format(ns, buf, 48);
	char *dot = strchr(buf, '.');
	if (dot && !strcmp(dot, ".000000000Z"))
		strcpy(dot, "Z");
	return buf;
}

/* ---- plans ------------------------------------------------------------------------------ */

static bool plan_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

int pt_archive_schedule_next(int64_t *out, size_t count, const char *schedule, const char *tz, int64_t after)
{
	if (!out || !schedule)
		return pt__err(PT_EINVAL, "pt_archive_schedule_next: NULL argument");
	pt__cron c;
	int rc = pt__cron_parse(&c, schedule);
	if (rc)
		return rc;
	/* the first fire time strictly after `after`: floor to whole seconds */
	int64_t t = after >= 0 ? after / NS : -((-after + NS - 1) / NS);
	for (size_t i = 0; i < count; i++) {
		if ((rc = pt__cron_next(&t, &c, tz, t)))
			return rc;
		out[i] = t * NS;
	}
	return 0;
}

/* Where `vault` would be: realpath of its longest existing ancestor + the rest, lexically. */
static int vault_resolve(const char *vault, char out[PATH_MAX])
{
	char *abs = vault[0] == '/' ? pt__strdup(vault) : NULL;
	if (vault[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return pt__err_errno(errno, "cannot resolve %s", vault);
		abs = pt__sprintf("%s/%s", cwd, vault);
	}
	if (!abs)
		return PT_ENOMEM;
	int rc = 0;
	size_t n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = 0;
	/* the longest existing prefix */
	char *cut = abs + n;
	for (;;) {
		char save = *cut;
		*cut = 0;
		char tmp[PATH_MAX];
		bool ok = realpath(*abs ? abs : "/", tmp) != NULL;
		*cut = save;
		if (ok) {
			snprintf(out, PATH_MAX, "%s", tmp);
			break;
		}
		if (errno != ENOENT && errno != ENOTDIR) {
			rc = pt__err_errno(errno, "cannot resolve %s", vault);
			goto done;
		}
		char *s = cut - 1;
		while (s > abs && *s != '/')
			s--;
		cut = s;
	}
	/* the components that do not exist yet, applied lexically */
	for (char *p = cut; *p;) {
		while (*p == '/')
			p++;
		char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		size_t ol = strlen(out);
		if (!len) {
			break;
		} else if (len == 1 && p[0] == '.') {
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out, '/');
			if (slash && slash != out)
				*slash = 0;
			else
				strcpy(out, "/");
		} else if (ol + len + 2 > PATH_MAX) {
			rc = pt__err(PT_EINVAL, "vault path %s is too long", vault);
			goto done;
		} else {
			snprintf(out + ol, PATH_MAX - ol, "%s%.*s", ol > 1 ? "/" : "", (int)len, p);
		}
		p += len;
	}
done:
	pt__free(abs);
	return rc;
}

static int vault_outside(const pt_store *st, const char *rp)
{
	size_t sl = strlen(st->path);
	if (!strncmp(rp, st->path, sl) && (rp[sl] == '/' || rp[sl] == 0))
		return pt__err(PT_EINVAL, "the vault must not be inside the store (%s)", st->path);
	return 0;
}

int pt_archive_plan_add(const pt_store *st, const pt_archive_plan_options *p)
{
	if (!st || !p)
		return pt__err(PT_EINVAL, "pt_archive_plan_add: NULL argument");
	if (st->remote)
		return pt__rstore_refuse_write(st, "archive plan add");
	if (p->version != PT_ARCHIVE_PLAN_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_archive_plan_add: options version %u is not supported", p->version);
	if (!plan_name_ok(p->name))
		return pt__err(PT_EINVAL, "invalid plan name \"%s\": 1-64 characters from [A-Za-z0-9._-], not starting "
					  "with '.' or '-'", p->name ? p->name : "");
	if (!p->schedule)
		return pt__err(PT_EINVAL, "a plan needs a schedule");
	if (!p->vault || !*p->vault)
		return pt__err(PT_EINVAL, "a plan needs a vault directory");
	if (p->min_age < 0 || p->delete_after < 0 || p->start_window <= 0)
		return pt__err(PT_EINVAL, "min-age and delete-after must be >= 0 and the start window > 0");
	const char *tz = p->timezone ? p->timezone : "UTC";
	int64_t now, first;
	int rc = pt__archive_now(&now, 0);
	if (rc || (rc = pt__tz_check(tz)) || (rc = pt_archive_schedule_next(&first, 1, p->schedule, tz, now)))
		return rc;
	pt__plan np;
	memset(&np, 0, sizeof np);
	if ((rc = pt__tags_json(&np.tags_json, p->tags, p->ntags)))
		return rc;
	/*
	 * The vault: not inside the store, checked BEFORE anything is created (a
	 * refused vault under STORE/runs/ would otherwise leave a phantom run),
	 * then created and checked again on its real path (a symlink on the way).
	 */
	char rpbuf[PATH_MAX]; /* realpath(NULL) would bypass alloc.h */
	if ((rc = vault_resolve(p->vault, rpbuf)) || (rc = vault_outside(st, rpbuf))) {
		pt__plan_clear(&np);
		return rc;
	}
	if ((rc = pt__mkdir_p(p->vault, 0755))) {
		pt__plan_clear(&np);
		return rc;
	}
	char *rp = realpath(p->vault, rpbuf);
	if (!rp) {
		pt__plan_clear(&np);
		return pt__err_errno(errno, "cannot resolve %s", p->vault);
	}
	if ((rc = vault_outside(st, rp))) {
		pt__plan_clear(&np);
		return rc;
	}
	np.vault = pt__strdup(rp);
	np.name = pt__strdup(p->name);
	np.schedule = pt__strdup(p->schedule);
	np.tz = pt__strdup(tz);
	np.min_age = p->min_age;
	np.delete_after = p->delete_after;
	np.keep_last = p->keep_last;
	np.start_window = p->start_window;
	np.keep_sources = p->keep_sources != 0;
	np.created = now;
	np.last_window = now;
	if (!np.vault || !np.name || !np.schedule || !np.tz) {
		pt__plan_clear(&np);
		return PT_ENOMEM;
	}
	int lock = -1;
	pt__plans ps;
	memset(&ps, 0, sizeof ps);
	if ((rc = pt__archive_lock(st, 1, &lock)) || (rc = pt__plans_load(st, &ps)))
		goto done;
	if (pt__plans_find(&ps, p->name)) {
		rc = pt__err(PT_EEXISTS, "plan \"%s\" already exists", p->name);
		goto done;
	}
	pt__plan *v = pt__realloc(ps.v, (ps.n + 1) * sizeof *v);
	if (!v) {
		rc = PT_ENOMEM;
		goto done;
	}
	ps.v = v;
	ps.v[ps.n++] = np;
	memset(&np, 0, sizeof np);
	rc = pt__plans_store(st, &ps);
done:
	pt__plans_free(&ps);
	pt__plan_clear(&np);
	pt__archive_unlock(lock);
	return rc;
}

int pt_archive_plan_remove(const pt_store *st, const char *name)
{
	if (!st || !name)
		return pt__err(PT_EINVAL, "pt_archive_plan_remove: NULL argument");
	int lock = -1;
	pt__plans ps;
	memset(&ps, 0, sizeof ps);
	int rc = pt__archive_lock(st, 1, &lock);
	if (rc || (rc = pt__plans_load(st, &ps)))
		goto done;
	pt__plan *p = pt__plans_find(&ps, name);
	if (!p) {
		rc = pt__err(PT_ENOTFOUND, "no plan \"%s\"", name);
		goto done;
	}
	size_t i = (size_t)(p - ps.v);
	pt__plan_clear(p);
	memmove(ps.v + i, ps.v + i + 1, (ps.n - i - 1) * sizeof *ps.v);
	ps.n--;
	rc = pt__plans_store(st, &ps);
done:
	pt__plans_free(&ps);
	pt__archive_unlock(lock);
	return rc;
}

int pt_archive_plans_json(char **out, const pt_store *st)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_archive_plans_json: NULL argument");
	pt__plans ps;
	int rc = pt__plans_load(st, &ps);
	if (rc)
		return rc;
	pt__buf b = {0};
	rc = pt__buf_printf(&b, "[");
	for (size_t i = 0; i < ps.n && !rc; i++) {
		const pt__plan *x = &ps.v[i];
		char t1[48], t2[48];
		if ((rc = pt__buf_printf(&b, "%s{\"name\":", i ? "," : "")) || (rc = pt__json_quote(&b, x->name)) ||
		    (rc = pt__buf_printf(&b, ",\"schedule\":")) || (rc = pt__json_quote(&b, x->schedule)) ||
		    (rc = pt__buf_printf(&b, ",\"timezone\":")) || (rc = pt__json_quote(&b, x->tz)) ||
		    (rc = pt__buf_printf(&b, ",\"vault\":")) || (rc = pt__json_quote(&b, x->vault)) ||
		    (rc = pt__buf_printf(&b,
					 ",\"min_age\":%lld,\"delete_after\":%lld,\"keep_last\":%u,\"start_window\":%lld,"
					 "\"keep_sources\":%s,\"tags\":%s,\"created\":\"%s\",\"last_window\":\"%s\","
					 "\"last_result\":",
					 (long long)x->min_age, (long long)x->delete_after, x->keep_last,
					 (long long)x->start_window, x->keep_sources ? "true" : "false", x->tags_json,
					 iso(x->created, t1), iso(x->last_window, t2))) ||
		    (rc = x->last_result ? pt__json_quote(&b, x->last_result) : pt__buf_printf(&b, "null")) ||
		    (rc = pt__buf_printf(&b, "}")))
			break;
	}
	if (!rc)
		rc = pt__buf_printf(&b, "]");
	pt__plans_free(&ps);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

void pt_archive_plan_list_free(pt_archive_plan_info *list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++) {
		pt__free((char *)list[i].name);
		pt__free((char *)list[i].schedule);
		pt__free((char *)list[i].timezone);
		pt__free((char *)list[i].vault);
		pt__free((char *)list[i].tags_json);
		pt__free((char *)list[i].last_result);
	}
	pt__free(list);
}

int pt_archive_plan_list(pt_archive_plan_info **out, size_t *count, const pt_store *st)
{
	if (!out || !count || !st)
		return pt__err(PT_EINVAL, "pt_archive_plan_list: NULL argument");
	*out = NULL;
	*count = 0;
	pt__plans ps;
	int rc = pt__plans_load(st, &ps);
	if (rc)
		return rc;
	pt_archive_plan_info *v = pt__calloc(ps.n ? ps.n : 1, sizeof *v);
	if (!v) {
		pt__plans_free(&ps);
		return PT_ENOMEM;
	}
	/* move the strings over */
	for (size_t i = 0; i < ps.n; i++) {
		pt__plan *p = &ps.v[i];
		pt_archive_plan_info *x = &v[i];
		x->name = p->name;
		x->schedule = p->schedule;
		x->timezone = p->tz;
		x->vault = p->vault;
		x->tags_json = p->tags_json;
		x->last_result = p->last_result;
		x->min_age = p->min_age;
		x->delete_after = p->delete_after;
		x->start_window = p->start_window;
		x->keep_last = p->keep_last;
		x->keep_sources = p->keep_sources;
		x->created = p->created;
		x->last_window = p->last_window;
		memset(p, 0, sizeof *p);
	}
	*count = ps.n;
	*out = v;
	pt__plans_free(&ps);
	return 0;
}

int pt_archive_plan_next(int64_t *out, size_t count, const pt_store *st, const char *name, int64_t after)
{
	if (!out || !st || !name)
		return pt__err(PT_EINVAL, "pt_archive_plan_next: NULL argument");
	pt__plans ps;
	int rc = pt__plans_load(st, &ps);
	if (rc)
		return rc;
	pt__plan *p = pt__plans_find(&ps, name);
	if (!p)
		rc = pt__err(PT_ENOTFOUND, "no plan \"%s\"", name);
	else
		rc = pt_archive_schedule_next(out, count, p->schedule, p->tz, after);
	pt__plans_free(&ps);
	return rc;
}

/* ---- creating one archive ------------------------------------------------------------------- */

static bool in_vault(const pt__acat *a, const char *vault)
{
	size_t n = strlen(vault);
	return !strncmp(a->path, vault, n) && a->path[n] == '/' && !strchr(a->path + n + 1, '/');
}

typedef struct {
	pt__amember *m;
	char **src; /* source path of each member */
	uint64_t *src_off;
	size_t n, cap;
} selection;

static void selection_free(selection *s)
{
	for (size_t i = 0; i < s->n; i++) {
		pt__free(s->m[i].name);
		pt__free(s->m[i].run);
		pt__free(s->m[i].stream);
		pt__free(s->src[i]);
	}
	pt__free(s->m);
	pt__free(s->src);
	pt__free(s->src_off);
	memset(s, 0, sizeof *s);
}

static int selection_push(selection *s, pt__amember *m, char *src, uint64_t off)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		pt__amember *a = pt__realloc(s->m, nc * sizeof *a);
		if (a)
			s->m = a;
		char **b = pt__realloc(s->src, nc * sizeof *b);
		if (b)
			s->src = b;
		uint64_t *c = pt__realloc(s->src_off, nc * sizeof *c);
		if (c)
			s->src_off = c;
		if (!a || !b || !c)
			return PT_ENOMEM;
		s->cap = nc;
	}
	s->m[s->n] = *m;
	s->src[s->n] = src;
	s->src_off[s->n] = off;
	s->n++;
	return 0;
}

/* Objects referenced by the events of one segment (the checkpoint manifest and its chunks, blobs). */
static int collect_refs(const job *j, const char *run, const char *stream, const pt__chain_entry *e, pt__idset *ids)
{
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.seq_min = e->first_seq;
	io.seq_max = e->last_seq;
	int rc = pt_iter_open(&it, j->st, run, stream, &io);
	const pt_event_view *ev;
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		if (pt_ev_seq(ev) > e->last_seq)
			break;
		const void *body;
		size_t blen;
		if ((rc = pt_ev_body_msgpack(ev, &body, &blen)))
			break;
		pt__ev_refs r;
		if (pt__ev_refs_parse(&r, pt_ev_kind(ev), body, blen))
			continue; /* not an event with references */
		for (size_t i = 0; i < r.nobjects && rc >= 0; i++)
			rc = pt__idset_add(ids, r.objects + 32 * i);
		/* a checkpoint's manifest, a stored dataset's contents: the manifest and its chunks */
		const uint8_t *mid = r.has_manifest && !strcmp(pt_ev_kind(ev), PT_KIND_CHECKPOINT) ? r.manifest
				     : r.has_content ? r.content : NULL;
		if (rc >= 0 && mid) {
			rc = pt__idset_add(ids, mid);
			pt__manifest m;
			memset(&m, 0, sizeof m);
			if (rc >= 0 && pt__manifest_load(&m, j->st, mid) == 0) {
				for (uint32_t k = 0; k < m.count && rc >= 0; k++)
					for (uint32_t x = 0; x < m.e[k].next && rc >= 0; x++)
						rc = pt__idset_add(ids, m.e[k].ext[x].id);
				pt__manifest_clear(&m);
			}
		}
		pt__ev_refs_free(&r);
		if (rc > 0)
			rc = 0;
		if (rc < 0)
			break;
	}
	if (rc == PT_ITEROVER)
		rc = 0;
	pt_iter_free(it);
	return rc;
}

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const pt__amember *)a)->name, ((const pt__amember *)b)->name);
}

/* Choose what the window archives: segments (+ the objects they reference) the vault lacks. */
static int select_members(const job *j, const pt__plan *p, int64_t window, selection *sel)
{
	int64_t cutoff = window - p->min_age * NS;
	pt__idset have_seg = {0}, have_obj = {0}, want_obj = {0};
	char **runs = NULL;
	size_t nruns = 0;
	int rc = 0;
	for (size_t i = 0; i < j->cat.n && rc >= 0; i++) {
		const pt__acat *a = &j->cat.v[i];
		if (a->deleted || !in_vault(a, p->vault))
			continue;
		for (size_t k = 0; k < a->nm && rc >= 0; k++)
			rc = pt__idset_add(a->m[k].type == PT_MEMBER_SEGMENT ? &have_seg : &have_obj, a->m[k].id);
	}
	if (rc < 0 || (rc = pt_store_runs(j->st, &runs, &nruns)))
		goto done;
	for (size_t r = 0; r < nruns && !rc; r++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(j->st, runs[r], &streams, &ns)))
			break;
		for (size_t s = 0; s < ns && !rc; s++) {
			if (!strcmp(runs[r], PT_ARCHIVE_RUN) && !strcmp(streams[s], PT_ARCHIVE_STREAM))
				continue; /* the archive's own audit trail stays hot */
			char *dir = pt__stream_dir(j->st, runs[r], streams[s]);
			pt__chain c = {0};
			if (!dir) {
				rc = PT_ENOMEM;
				break;
			}
			rc = pt__chain_load(dir, &c);
			for (size_t k = 0; k < c.n && !rc; k++) {
				const pt__chain_entry *e = &c.v[k];
				if (e->time_max >= cutoff || pt__idset_has(&have_seg, e->id))
					continue;
				char *path = pt__segment_path(dir, e->id);
				uint64_t off = 0, size = e->bytes;
				if (!path) {
					rc = PT_ENOMEM;
					break;
				}
				if (!pt__exists(path)) {
					/* archived elsewhere (another vault): copy it from there */
					int fd;
					pt__free(path);
					path = NULL;
					pt__location l;
					if ((rc = pt__location_load(j->st, e->id, &l)))
						break;
					path = l.deleted ? NULL : pt__strdup(l.path);
					off = l.offset;
					size = l.size;
					pt__location_clear(&l);
					if (!path)
						continue; /* expired by retention: nothing left to archive */
					if ((rc = pt__vault_open_segment(j->st, runs[r], streams[s], e->id, &fd, &off,
									   &size))) {
						pt__free(path);
						break;
					}
					close(fd);
				}
				pt__amember m;
				memset(&m, 0, sizeof m);
				m.type = PT_MEMBER_SEGMENT;
				m.name = pt__member_segment_name(runs[r], streams[s], e->id);
				m.run = pt__strdup(runs[r]);
				m.stream = pt__strdup(streams[s]);
				m.size = size;
				m.segno = e->segno;
				m.first_seq = e->first_seq;
				m.last_seq = e->last_seq;
				m.step_min = e->step_min;
				m.step_max = e->step_max;
				m.time_min = e->time_min;
				m.time_max = e->time_max;
				memcpy(m.id, e->id, 32);
				if (!m.name || !m.run || !m.stream || (rc = selection_push(sel, &m, path, off))) {
					pt__free(m.name);
					pt__free(m.run);
					pt__free(m.stream);
					pt__free(path);
					rc = rc ? rc : PT_ENOMEM;
					break;
				}
				if ((rc = collect_refs(j, runs[r], streams[s], e, &want_obj)))
					break;
			}
			pt__chain_free(&c);
			pt__free(dir);
		}
		pt_strv_free(streams, ns);
	}
	if (rc)
		goto done;
	for (size_t i = 0; i < want_obj.cap && !rc; i++) {
		if (!want_obj.used[i])
			continue;
		const uint8_t *id = want_obj.ids + 32 * i;
		if (pt__idset_has(&have_obj, id))
			continue;
		char *path = pt__object_path(j->st, id);
		struct stat sb;
		uint64_t off = 0, size = 0;
		if (!path) {
			rc = PT_ENOMEM;
			break;
		}
		if (pt__stat_in(j->st->path, path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			size = (uint64_t)sb.st_size;
		} else {
			/* it left the hot store with an archive of another vault: copy it from there */
			int fd;
			pt__location l;
			int lr = pt__olocation_load(j->st, id, &l);
			char *tar = lr == 0 && !l.deleted ? pt__strdup(l.path) : NULL;
			if (lr == 0)
				pt__location_clear(&l);
			if (!tar || pt__vault_open_object(j->st, id, path, &fd, &off, &size)) {
				char hex[65];
				pt__hex(id, 32, hex);
				say(j, "warning: object %s is referenced but not in the store; not archived", hex);
				pt__free(path);
				pt__free(tar);
				continue;
			}
			close(fd);
			pt__free(path);
			path = tar;
		}
		pt__amember m;
		memset(&m, 0, sizeof m);
		m.type = PT_MEMBER_OBJECT;
		m.name = pt__member_object_name(id);
		m.size = size;
		m.step_min = m.step_max = PT_NO_STEP;
		memcpy(m.id, id, 32);
		if (!m.name || (rc = selection_push(sel, &m, path, off))) {
			pt__free(m.name);
			pt__free(path);
			rc = rc ? rc : PT_ENOMEM;
		}
	}
	/* sorted names (the sources are permuted along) */
	if (!rc && sel->n > 1) {
		size_t *idx = pt__malloc(sel->n * sizeof *idx);
		pt__amember *m2 = pt__malloc(sel->n * sizeof *m2);
		char **s2 = pt__malloc(sel->n * sizeof *s2);
		uint64_t *o2 = pt__malloc(sel->n * sizeof *o2);
		if (!idx || !m2 || !s2 || !o2) {
			rc = PT_ENOMEM;
		} else {
			/* sort a copy carrying the original index in `offset` */
			for (size_t i = 0; i < sel->n; i++) {
				m2[i] = sel->m[i];
				m2[i].offset = i;
			}
			qsort(m2, sel->n, sizeof *m2, cmp_member);
			for (size_t i = 0; i < sel->n; i++) {
				s2[i] = sel->src[m2[i].offset];
				o2[i] = sel->src_off[m2[i].offset];
				m2[i].offset = 0;
			}
			pt__free(sel->m);
			pt__free(sel->src);
			pt__free(sel->src_off);
			sel->m = m2;
			sel->src = s2;
			sel->src_off = o2;
			sel->cap = sel->n;
			m2 = NULL;
			s2 = NULL;
			o2 = NULL;
		}
		pt__free(idx);
		pt__free(m2);
		pt__free(s2);
		pt__free(o2);
	}
done:
	pt_strv_free(runs, nruns);
	pt__idset_free(&have_seg);
	pt__idset_free(&have_obj);
	pt__idset_free(&want_obj);
	return rc < 0 ? rc : 0;
}

static int cleanup_tmp(const job *j, const char *vault)
{
	char **names = NULL;
	size_t n = 0;
	if (!pt__is_dir(vault))
		return 0;
	int rc = pt__list_dir(vault, NULL, &names, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		if (strncmp(names[i], TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		char *p = pt__sprintf("%s/%s", vault, names[i]);
		if (!p) {
			rc = PT_ENOMEM;
			break;
		}
		if (unlink(p) == 0)
			say(j, "removed %s left by an interrupted job", p);
		pt__free(p);
	}
	pt_strv_free(names, n);
	return rc;
}

/* Step 3 of the commit protocol for catalog entry `i` (see the top of the file). */
static int finish_entry(job *j, size_t i)
{
	pt__acat *a = &j->cat.v[i];
	int rc = 0;
	char tb[48];
	if (a->state == PT_ACAT_CATALOGUED) {
		pt__buf b = {0};
		size_t segs = 0, objs = 0;
		for (size_t k = 0; k < a->nm; k++)
			a->m[k].type == PT_MEMBER_SEGMENT ? segs++ : objs++;
		rc = pt__buf_printf(&b, "{\"archive\":\"%s\",\"path\":", a->sha);
		if (!rc)
			rc = pt__json_quote(&b, a->path);
		if (!rc)
			rc = pt__buf_printf(&b, ",\"plan\":");
		if (!rc)
			rc = pt__json_quote(&b, a->plan);
		if (!rc)
			rc = pt__buf_printf(&b, ",\"window\":\"%s\",\"size\":%llu,\"segments\":%zu,\"objects\":%zu,\"tags\":%s}",
					    iso(a->window, tb), (unsigned long long)a->size, segs, objs,
					    a->tags_json ? a->tags_json : "{}");
		if (!rc)
			rc = pt__archive_event_once(j->st, "archive", a->plan, j->now, (const char *)b.data, a->sha);
		pt__buf_free(&b);
		if (rc)
			return rc;
	}
	if (a->state == PT_ACAT_CATALOGUED) {
		a->state = PT_ACAT_RECORDED;
		if ((rc = pt__catalog_store(j->st, &j->cat)))
			return rc;
	}
	if (a->state == PT_ACAT_RECORDED) {
		size_t removed = 0;
		for (size_t k = 0; k < a->nm && !rc; k++) {
			const pt__amember *m = &a->m[k];
			if (m->type != PT_MEMBER_SEGMENT)
				continue;
			pt__location l;
			int lr = pt__location_load(j->st, m->id, &l);
			if (lr == 0 && !l.deleted) {
				pt__location_clear(&l); /* already held by an earlier archive: keep that */
			} else {
				if (lr == 0)
					pt__location_clear(&l);
				else if (lr != PT_ENOTFOUND)
					return lr;
				pt__location nl;
				memset(&nl, 0, sizeof nl);
				memcpy(nl.sha, a->sha, 65);
				nl.path = a->path;
				nl.run = m->run;
				nl.stream = m->stream;
				nl.offset = m->offset;
				nl.size = m->size;
				if ((rc = pt__location_store(j->st, m->id, &nl)))
					return rc;
			}
			if (a->keep_sources)
				continue;
			char *dir = pt__stream_dir(j->st, m->run, m->stream);
			char *p = dir ? pt__segment_path(dir, m->id) : NULL;
			if (!p) {
				pt__free(dir);
				return PT_ENOMEM;
			}
			if (unlink(p) == 0) {
				removed++;
				char *sd = pt__sprintf("%s/segments", dir);
				if (sd)
					pt__fsync_dir(sd);
				pt__free(sd);
			} else if (errno != ENOENT) {
				rc = pt__err_errno(errno, "cannot remove archived source %s", p);
			}
			pt__free(p);
			pt__free(dir);
		}
		if (rc)
			return rc;
		/* object location records (see release_objects): after the segments' */
		for (size_t k = 0; k < a->nm && !rc && !a->keep_sources; k++) {
			const pt__amember *m = &a->m[k];
			if (m->type != PT_MEMBER_OBJECT)
				continue;
			pt__location l;
			int lr = pt__olocation_load(j->st, m->id, &l);
			if (lr == 0 && !l.deleted && pt__exists(l.path)) {
				pt__location_clear(&l); /* held by an earlier archive: keep that */
				continue;
			}
			if (lr == 0)
				pt__location_clear(&l);
			else if (lr != PT_ENOTFOUND)
				return lr;
			pt__location nl;
			memset(&nl, 0, sizeof nl);
			memcpy(nl.sha, a->sha, 65);
			nl.path = a->path;
			nl.run = (char *)"";
			nl.stream = (char *)"";
			nl.offset = m->offset;
			nl.size = m->size;
			rc = pt__olocation_store(j->st, m->id, &nl);
		}
		if (rc)
			return rc;
		if (removed)
			say(j, "archive %.12s: %zu archived segment%s left the hot store", a->sha, removed,
			    removed == 1 ? "" : "s");
		a->state = PT_ACAT_DONE;
		rc = pt__catalog_store(j->st, &j->cat);
	}
	return rc;
}

/* Create, verify and commit the archive of `window`; *out_sha is "" if nothing was due. */
static int create_archive(job *j, pt__plan *p, int64_t window, char out_sha[65])
{
	selection sel = {0};
	pt__acat a;
	memset(&a, 0, sizeof a);
	pt__tar_member *tm = NULL;
	pt__buf man = {0}, man2 = {0};
	char *tmp = NULL, *final = NULL;
	int fd = -1, rc;
	char tb[48];
	out_sha[0] = 0;
	if ((rc = select_members(j, p, window, &sel)))
		goto done;
	if (!sel.n) {
		say(j, "plan %s: window %s: nothing to archive", p->name, iso(window, tb));
		goto done;
	}
	uint64_t total = 0;
	size_t nseg = 0;
	for (size_t i = 0; i < sel.n; i++) {
		total += sel.m[i].size;
		nseg += sel.m[i].type == PT_MEMBER_SEGMENT;
	}
	if (j->o->dry_run) {
		say(j, "plan %s: window %s: would archive %zu segment%s and %zu object%s (%llu bytes) into %s", p->name,
		    iso(window, tb), nseg, nseg == 1 ? "" : "s", sel.n - nseg, sel.n - nseg == 1 ? "" : "s",
		    (unsigned long long)total, p->vault);
		goto done;
	}
	if ((rc = pt__mkdir_p(p->vault, 0755)))
		goto done;
	a.plan = pt__strdup(p->name);
	a.tags_json = pt__strdup(p->tags_json ? p->tags_json : "{}");
	a.created = j->now;
	a.window = window;
	a.m = sel.m;
	a.nm = sel.n;
	if (!a.plan || !a.tags_json) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__manifest_json(&man, &a)))
		goto done;
	tm = pt__calloc(sel.n + 1, sizeof *tm);
	tmp = pt__sprintf("%s/%s%d-%lld.tar", p->vault, TMP_PREFIX, (int)getpid(), (long long)(window / NS));
	if (!tm || !tmp) {
		rc = PT_ENOMEM;
		goto done;
	}
	tm[0].name = PT_MANIFEST_NAME;
	tm[0].data = man.data;
	tm[0].size = man.len;
	for (size_t i = 0; i < sel.n; i++) {
		tm[i + 1].name = sel.m[i].name;
		tm[i + 1].src_path = sel.src[i];
		tm[i + 1].src_off = sel.src_off[i];
		tm[i + 1].size = sel.m[i].size;
	}
	pt__free(tmp);
	tmp = NULL;
	fd = pt__tmp_in(p->vault, p->vault, TMP_PREFIX, 0644, &tmp); /* random name, O_EXCL */
	if (fd < 0) {
		rc = fd;
		goto done;
	}
	pt__progress prog = {j->o->progress, j->o->progress_payload, "archive", 0, total, 0};
	uint64_t size = 0;
	if ((rc = pt__tar_write(fd, tmp, window / NS, tm, sel.n + 1, &prog, &size)))
		goto done;
	/* the real index and hashes go into the reserved manifest bytes */
	for (size_t i = 0; i < sel.n; i++) {
		a.m[i].offset = tm[i + 1].offset;
		memcpy(a.m[i].sha, tm[i + 1].sha, 32);
		if (a.m[i].type == PT_MEMBER_SEGMENT && memcmp(a.m[i].sha, a.m[i].id, 32)) {
			rc = pt__err(PT_ECORRUPT, "source segment %s does not hash to its name: run `provtrace verify`; "
						  "nothing was archived", sel.src[i]);
			goto done;
		}
	}
	if ((rc = pt__manifest_json(&man2, &a)))
		goto done;
	if (man2.len != man.len) {
		rc = pt__err(PT_ERROR, "internal error: manifest length changed (%zu -> %zu)", man.len, man2.len);
		goto done;
	}
	{
		uint64_t at = tm[0].offset;
		const uint8_t *q = man2.data;
		size_t left = man2.len;
		while (left) {
			ssize_t w = pwrite(fd, q, left, (off_t)at);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = pt__err_errno(errno, "cannot write the manifest of %s", tmp);
				goto done;
			}
			q += w;
			at += (uint64_t)w;
			left -= (size_t)w;
		}
	}
	if (fdatasync(fd) < 0) {
		rc = pt__err_errno(errno, "cannot fsync %s", tmp);
		goto done;
	}
	close(fd);
	fd = -1;
	/* re-read and verify every member against the manifest */
	pt__acat chk;
	memset(&chk, 0, sizeof chk);
	pt__progress vprog = {j->o->progress, j->o->progress_payload, "verify", 0, size, 0};
	char why[600];
	if ((rc = pt__archive_check(tmp, &chk, NULL, &vprog, why, sizeof why))) {
		rc = pt__err(rc, "the new archive failed its verification: %s", why);
		goto done;
	}
	memcpy(a.sha, chk.sha, 65);
	a.manifest_len = chk.manifest_len;
	pt__acat_clear(&chk);
	final = pt__sprintf("%s/%s.tar", p->vault, a.sha);
	if (!final) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (pt__rename_in(p->vault, tmp, final) < 0) {
		rc = pt__err_errno(errno, "cannot rename %s to %s", tmp, final);
		goto done;
	}
	if ((rc = pt__fsync_dir(p->vault)))
		goto done;
	/* catalogued: from here recover() can finish it */
	a.path = final;
	final = NULL;
	a.size = size;
	a.keep_sources = p->keep_sources;
	a.state = PT_ACAT_CATALOGUED;
	sel.m = NULL; /* now owned by a */
	size_t nsel = sel.n;
	for (size_t i = 0; i < nsel; i++)
		pt__free(sel.src[i]);
	sel.n = 0;
	memcpy(out_sha, a.sha, 65);
	say(j, "plan %s: window %s: archived %zu segment%s and %zu object%s (%llu bytes) as %s", p->name,
	    iso(window, tb), nseg, nseg == 1 ? "" : "s", nsel - nseg, nsel - nseg == 1 ? "" : "s",
	    (unsigned long long)size, a.path);
	if ((rc = pt__catalog_push(&j->cat, &a)) || (rc = pt__catalog_store(j->st, &j->cat)))
		goto done;
	rc = finish_entry(j, j->cat.n - 1);
done:
	if (fd >= 0)
		close(fd);
	if (tmp && pt__exists(tmp))
		unlink(tmp);
	if (a.m == sel.m)
		a.m = NULL, a.nm = 0;
	pt__acat_clear(&a);
	selection_free(&sel);
	pt__free(tm);
	pt__free(tmp);
	pt__free(final);
	pt__buf_free(&man);
	pt__buf_free(&man2);
	return rc;
}

/* ---- recovery ------------------------------------------------------------------------------------ */

/* A verified archive in a vault that the catalog lacks (a job killed after the rename): adopt it. */
static int adopt(job *j, const pt__plan *p)
{
	char **names = NULL;
	size_t n = 0;
	if (!pt__is_dir(p->vault))
		return 0;
	int rc = pt__list_dir(p->vault, ".tar", &names, &n);
	bool changed = false;
	for (size_t i = 0; i < n && !rc; i++) {
		char sha[65];
		if (strlen(names[i]) != 68)
			continue;
		memcpy(sha, names[i], 64);
		sha[64] = 0;
		uint8_t bin[32];
		if (pt__unhex(sha, bin, 32) || pt__catalog_find(&j->cat, sha))
			continue;
		char *path = pt__sprintf("%s/%s", p->vault, names[i]);
		if (!path) {
			rc = PT_ENOMEM;
			break;
		}
		pt__acat a;
		memset(&a, 0, sizeof a);
		char why[600];
		int r = pt__archive_check(path, &a, sha, NULL, why, sizeof why);
		if (r == PT_ENOMEM) {
			rc = r;
		} else if (r) {
			say(j, "warning: %s is not in the catalog and fails verification; left alone: %s", path, why);
		} else if (strcmp(a.plan, p->name)) {
			/* another plan's archive in a shared vault: that plan adopts it */
		} else {
			a.path = path;
			path = NULL;
			a.keep_sources = p->keep_sources;
			a.state = PT_ACAT_CATALOGUED;
			say(j, "adopted %s (window of plan %s) left uncatalogued by an interrupted job", a.path, a.plan);
			if (a.window > 0) {
				pt__plan *pp = pt__plans_find(&j->plans, a.plan);
				if (pp && a.window > pp->last_window && a.window != a.created) {
					pp->last_window = a.window;
					pt__free(pp->last_result);
					pp->last_result = pt__sprintf("archived %s", a.sha);
				}
			}
			rc = pt__catalog_push(&j->cat, &a);
			changed = true;
		}
		pt__acat_clear(&a);
		pt__free(path);
	}
	pt_strv_free(names, n);
	if (!rc && changed)
		rc = pt__catalog_store(j->st, &j->cat);
	if (!rc && changed)
		rc = pt__plans_store(j->st, &j->plans);
	return rc;
}

static int recover(job *j)
{
	int rc = 0;
	for (size_t i = 0; i < j->plans.n && !rc; i++) {
		if ((rc = cleanup_tmp(j, j->plans.v[i].vault)))
			break;
		rc = adopt(j, &j->plans.v[i]);
	}
	for (size_t i = 0; i < j->cat.n && !rc; i++)
		if (!j->cat.v[i].deleted && j->cat.v[i].state != PT_ACAT_DONE)
			rc = finish_entry(j, i);
	return rc;
}

/* ---- releasing archived objects -------------------------------------------------------------- */

/* Objects referenced by the events of run/stream in seq [lo, hi] (a checkpoint's manifest and its chunks). */
static int refs_range(pt_store *st, const char *run, const char *stream, uint64_t lo, uint64_t hi, pt__idset *ids)
{
	pt__chain_entry e;
	memset(&e, 0, sizeof e);
	e.first_seq = lo;
	e.last_seq = hi;
	job tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.st = st;
	return collect_refs(&tmp, run, stream, &e, ids);
}

/* Objects referenced by hot history: sealed segments still in the hot store and the open segments. */
static int hot_refs(pt_store *st, pt__idset *ids)
{
	char **runs = NULL;
	size_t nruns = 0;
	int rc = pt_store_runs(st, &runs, &nruns);
	for (size_t r = 0; r < nruns && !rc; r++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[r], &streams, &ns)))
			break;
		for (size_t s = 0; s < ns && !rc; s++) {
			char *dir = pt__stream_dir(st, runs[r], streams[s]);
			pt__chain c = {0};
			if (!dir) {
				rc = PT_ENOMEM;
				break;
			}
			rc = pt__chain_load(dir, &c);
			uint64_t last = 0;
			for (size_t k = 0; k < c.n && !rc; k++) {
				char *path = pt__segment_path(dir, c.v[k].id);
				if (!path) {
					rc = PT_ENOMEM;
					break;
				}
				if (pt__exists(path))
					rc = refs_range(st, runs[r], streams[s], c.v[k].first_seq, c.v[k].last_seq, ids);
				pt__free(path);
				last = c.v[k].last_seq;
			}
			/* the open segment (and a sealed one the chain does not list yet) */
			if (!rc)
				rc = refs_range(st, runs[r], streams[s], last + 1, UINT64_MAX, ids);
			pt__chain_free(&c);
			pt__free(dir);
		}
		pt_strv_free(streams, ns);
	}
	pt_strv_free(runs, nruns);
	return rc;
}

typedef struct {
	job *j;
	const pt__idset *hot;
	uint64_t objects, bytes;
	uint8_t dirs[32];
	int rc;
} release_ctx;

static int release_one(const uint8_t id[32], const char *path, void *payload)
{
	release_ctx *x = payload;
	if (pt__idset_has(x->hot, id))
		return 0;
	pt__location l;
	int rc = pt__olocation_load(x->j->st, id, &l);
	if (rc == PT_ENOTFOUND)
		return 0; /* never archived (or brought back): stays */
	if (rc)
		return rc;
	bool held = !l.deleted && pt__exists(l.path);
	pt__location_clear(&l);
	if (!held)
		return 0;
	struct stat sb;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		return pt__err_errno(errno, "cannot remove archived object %s", path);
	}
	x->objects++;
	x->bytes += (uint64_t)sb.st_size;
	x->dirs[id[0] >> 3] |= (uint8_t)(1u << (id[0] & 7));
	return 0;
}

/*
 * Objects referenced only by archived history leave the hot store.
 *
 * (1) finish_entry gave every object member of a new archive (sources not
 * kept) a location record, STORE/archive/objects/<id>, naming its byte
 * range in the tar - the archive was verified before it was catalogued, and
 * the record is durable before any hot file goes.  (2) The objects that hot
 * history references (sealed segments still hot, open segments) stay.
 * (3) Every other hot object with a record goes; readers then find it in
 * the vault (the seam, log/history.c, asks pt__vault_open_object).  Writers of
 * checkpoints are excluded by the gc lock, taken without waiting: if a
 * checkpoint is being written, nothing is released this time.  Even a
 * reference that appears after (2) only makes a reader go to the vault; and
 * retention brings an object back into the hot store before it deletes the
 * last archive holding it (archive_prune.c).  Idempotent: a killed job's
 * work is redone by the next.
 */
static int has_record(const uint8_t id[32], const char *path, void *payload)
{
	(void)path;
	release_ctx *x = payload;
	pt__location l;
	int rc = pt__olocation_load(x->j->st, id, &l);
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	bool held = !l.deleted && pt__exists(l.path);
	pt__location_clear(&l);
	return held ? 1 : 0; /* stops the walk: there is work */
}

static int release_objects(job *j)
{
	int lockfd = -1, rc = 0;
	pt__idset hot = {0};
	release_ctx x;
	memset(&x, 0, sizeof x);
	x.j = j;
	x.hot = &hot;
	/* the hot history is only read if some hot object has a record (something to release) */
	if ((rc = pt__object_walk(j->st, has_record, NULL, &x)) <= 0)
		return rc;
	rc = pt__gc_lock(j->st, 1, 0, &lockfd);
	if (rc == PT_ELOCKED) {
		say(j, "archived objects stay in the hot store until the next job: a checkpoint is being written");
		return 0;
	}
	if (rc)
		return rc;
	if ((rc = hot_refs(j->st, &hot)))
		goto done;
	if ((rc = pt__object_walk(j->st, release_one, NULL, &x)))
		goto done;
	for (int d = 0; d < 256 && !rc; d++) {
		if (!(x.dirs[d >> 3] & (1u << (d & 7))))
			continue;
		char *dir = pt__sprintf("%s/objects/%02x", j->st->path, d);
		if (!dir) {
			rc = PT_ENOMEM;
			break;
		}
		rc = pt__fsync_dir(dir);
		pt__free(dir);
	}
	if (x.objects)
		say(j, "%llu archived object%s (%llu bytes) left the hot store (referenced only by archived history)",
		    (unsigned long long)x.objects, x.objects == 1 ? "" : "s", (unsigned long long)x.bytes);
done:
	pt__gc_unlock(lockfd);
	pt__idset_free(&hot);
	return rc;
}

/* ---- the job ----------------------------------------------------------------------------------------- */

static int set_result(pt__plan *p, const char *fmt, const char *arg)
{
	pt__free(p->last_result);
	p->last_result = pt__sprintf(fmt, arg);
	return p->last_result ? 0 : PT_ENOMEM;
}

static int expire(job *j, pt__plan *p, uint64_t count, int64_t first, int64_t last, const char *reason)
{
	char t1[48], t2[48];
	say(j, "plan %s: %llu window%s from %s to %s expired: %s", p->name, (unsigned long long)count,
	    count == 1 ? "" : "s", iso(first, t1), iso(last, t2), reason);
	if (j->o->dry_run)
		return 0;
	pt__buf b = {0};
	int rc = pt__buf_printf(&b, "{\"plan\":");
	if (!rc)
		rc = pt__json_quote(&b, p->name);
	if (!rc)
		rc = pt__buf_printf(&b, ",\"windows\":%llu,\"first\":\"%s\",\"last\":\"%s\",\"reason\":",
				    (unsigned long long)count, iso(first, t1), iso(last, t2));
	if (!rc)
		rc = pt__json_quote(&b, reason);
	if (!rc)
		rc = pt__buf_printf(&b, "}");
	if (!rc)
		rc = pt__archive_event(j->st, "archive_expired", p->name, j->now, (const char *)b.data);
	pt__buf_free(&b);
	return rc;
}

static int run_plan(job *j, pt__plan *p)
{
	char tb[48], sha[65];
	int rc;
	if (j->o->force) {
		rc = create_archive(j, p, j->now, sha);
		return rc;
	}
	pt__cron c;
	if ((rc = pt__cron_parse(&c, p->schedule)))
		return pt__err_wrap(rc, "plan %s", p->name);
	int64_t t = p->last_window / NS, first = 0, last = 0, before_last = 0;
	uint64_t count = 0;
	for (;;) {
		int64_t nx;
		rc = pt__cron_next(&nx, &c, p->tz, t);
		if (rc == PT_ENOTFOUND) {
			rc = 0;
			break;
		}
		if (rc)
			return rc;
		if (nx * NS > j->now)
			break;
		if (!count)
			first = nx;
		before_last = last;
		last = nx;
		count++;
		t = nx;
		if (count >= MAX_WINDOWS) {
			/* a tiny interval missed for very long: jump close to now */
			int64_t jump = j->now / NS - p->start_window - 2 * 86400;
			if (jump > t)
				t = jump;
		}
	}
	if (!count) {
		int64_t nx;
		if (pt__cron_next(&nx, &c, p->tz, j->now / NS) == 0)
			say(j, "plan %s: nothing due (next window %s)", p->name, iso(nx * NS, tb));
		else
			say(j, "plan %s: nothing due (the schedule fires no more)", p->name);
		return 0;
	}
	int64_t latest = last * NS;
	bool inside = j->now < latest + p->start_window * NS;
	if (!inside) {
		char why[160];
		snprintf(why, sizeof why, "missed; the start window (%llds) of the latest one ended",
			 (long long)p->start_window);
		if ((rc = expire(j, p, count, first * NS, latest, why)))
			return rc;
		if (j->o->dry_run)
			return 0;
		p->last_window = latest;
		if ((rc = set_result(p, "expired at %s", iso(latest + p->start_window * NS, tb))))
			return rc;
		return pt__plans_store(j->st, &j->plans);
	}
	if (count > 1) {
		/* only the latest window is caught up, once */
		if ((rc = expire(j, p, count - 1, first * NS, before_last * NS, "missed; superseded by a later window")))
			return rc;
	}
	if (count > 1 || j->now - latest > 5 * 60 * NS)
		say(j, "plan %s: catching up window %s", p->name, iso(latest, tb));
	if ((rc = create_archive(j, p, latest, sha)))
		return rc;
	if (j->o->dry_run)
		return 0;
	p->last_window = latest;
	if ((rc = sha[0] ? set_result(p, "archived %s", sha) : set_result(p, "%s", "nothing to archive")))
		return rc;
	return pt__plans_store(j->st, &j->plans);
}

/*
 * A stream whose writer died and was never reopened keeps its open segment
 * forever, and only sealed segments are archived: seal those first (the
 * recorder recovers them exactly as a reopening writer would).  A stream
 * with a live writer is skipped; a stream that fails is reported and left
 * as it is - neither stops the job.
 */
static int seal_crashed(job *j)
{
	pt_seal_report *rep = NULL;
	int rc = pt_store_seal(j->st, NULL, NULL, &rep);
	if (rc == PT_ENOMEM)
		return rc;
	if (!rep) {
		say(j, "warning: cannot seal crashed streams: %s", pt_error_last());
		return 0;
	}
	for (size_t i = 0; i < rep->n; i++) {
		const pt_seal_entry *e = &rep->v[i];
		if (e->result == PT_SEAL_SEALED)
			say(j, "%s/%s: writer gone: %s", e->run, e->stream, e->message);
		else if (e->result == PT_SEAL_LOCKED && strcmp(e->run, PT_ARCHIVE_RUN))
			say(j, "%s/%s: open segment not sealed, a writer holds the stream: %s", e->run, e->stream,
			    e->message);
		else if (e->result == PT_SEAL_FAILED)
			say(j, "warning: %s/%s: cannot seal its open segment: %s", e->run, e->stream, e->message);
	}
	pt_seal_report_free(rep);
	return 0;
}

int pt__archive_prune_locked(pt_store *st, pt__catalog *cat, const pt__plans *plans, int64_t now, int dry_run,
			     pt_archive_report_cb report, void *payload);

int pt_archive_run(pt_store *st, const pt_archive_run_options *opts)
{
	pt_archive_run_options d = PT_ARCHIVE_RUN_OPTIONS_INIT;
	if (!st)
		return pt__err(PT_EINVAL, "pt_archive_run: NULL store");
	if (st->remote)
		return pt__rstore_refuse_write(st, "archive run");
	if (opts && opts->version != PT_ARCHIVE_RUN_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_archive_run: options version %u is not supported", opts->version);
	job j;
	memset(&j, 0, sizeof j);
	j.st = st;
	j.o = opts ? opts : &d;
	int lock = -1, rc;
	if ((rc = pt__archive_now(&j.now, j.o->now)))
		return rc;
	if ((rc = pt__archive_lock(st, 0, &lock)))
		return rc;
	if ((rc = pt__plans_load(st, &j.plans)) || (rc = pt__catalog_load(st, &j.cat)))
		goto done;
	if (j.o->plan && !pt__plans_find(&j.plans, j.o->plan)) {
		rc = pt__err(PT_ENOTFOUND, "no plan \"%s\"", j.o->plan);
		goto done;
	}
	if (!j.plans.n)
		say(&j, "no archive plans (add one with `provtrace archive plan add`)");
	if (!j.o->dry_run && (rc = recover(&j)))
		goto done;
	if (!j.o->dry_run && (rc = seal_crashed(&j)))
		goto done;
	int first_err = 0;
	char first_msg[600] = "";
	for (size_t i = 0; i < j.plans.n; i++) {
		pt__plan *p = &j.plans.v[i];
		if (j.o->plan && strcmp(j.o->plan, p->name))
			continue;
		int r = run_plan(&j, p);
		if (r) {
			say(&j, "plan %s: error: %s", p->name, pt_error_last());
			if (!first_err) {
				first_err = r;
				snprintf(first_msg, sizeof first_msg, "plan %s: %s", p->name, pt_error_last());
			}
		}
	}
	rc = pt__archive_prune_locked(st, &j.cat, &j.plans, j.now, j.o->dry_run, j.o->report, j.o->report_payload);
	if (!rc && !j.o->dry_run)
		rc = release_objects(&j);
	if (first_err)
		rc = pt__err(first_err, "%s", first_msg);
done:
	pt__plans_free(&j.plans);
	pt__catalog_free(&j.cat);
	pt__archive_unlock(lock);
	return rc;
}
