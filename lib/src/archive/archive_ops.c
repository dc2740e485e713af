/*
 * archive_ops.c - what the archive commands share (lock, clock, events,
 * member names, the check of a tar against its manifest) and the catalog
 * operations: ls, resolve, verify, hold.
 */
#include "archive/archive_int.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_BUF (4u << 20)

int pt__archive_now(int64_t *out, int64_t given)
{
	if (given) {
		*out = given;
		return 0;
	}
	const char *e = getenv("PROVTRACE_NOW");
	if (e && *e) {
		int rc = pt_time_parse(out, e);
		return rc ? pt__err_wrap(rc, "$PROVTRACE_NOW") : 0;
	}
	*out = pt_time_now_ns();
	return 0;
}

int pt_archive_now(int64_t *out)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_archive_now: NULL argument");
	return pt__archive_now(out, 0);
}

int pt__archive_lock(const pt_store *st, int wait, int *out_fd)
{
	char *dir = pt__archive_dir(st);
	char *path = dir ? pt__sprintf("%s/lock", dir) : NULL;
	int rc = path ? pt__mkdir_in(st->path, dir, 0755) : PT_ENOMEM, fd = -1;
	if (rc)
		goto done;
	fd = pt__open_in(st->path, path, O_RDWR | O_CREAT, 0644);
	if (fd >= 0 && (rc = pt__check_private_file(fd, path)))
		goto done;
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open %s", path);
		goto done;
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			char who[200] = "";
			ssize_t n = pread(fd, who, sizeof who - 1, 0);
			if (n > 0) {
				who[n] = 0;
				who[strcspn(who, "\n")] = 0;
			}
			rc = pt__err(PT_ELOCKED, "another archive job is running (%s)", *who ? who : "holder unknown");
		} else {
			rc = pt__err_errno(errno, "cannot lock %s", path);
		}
		goto done;
	}
	char line[160], tb[48];
	int len = snprintf(line, sizeof line, "pid=%d since=%s\n", (int)getpid(),
			   pt_time_format(pt_time_now_ns(), tb, sizeof tb));
	if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) < 0) {
		/* informational only */
	}
	*out_fd = fd;
	fd = -1;
done:
	if (fd >= 0)
		close(fd);
	pt__free(path);
	pt__free(dir);
	return rc;
}

void pt__archive_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Whether an event of `kind` whose JSON contains `key` is in the stream. */
static int event_present(pt_store *st, const char *kind, const char *key, bool *out)
{
	*out = false;
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.kind = kind;
	int rc = pt_iter_open(&it, st, PT_ARCHIVE_RUN, PT_ARCHIVE_STREAM, &io);
	const pt_event_view *ev;
	while (!rc && (rc = pt_iter_next(it, &ev)) == 0) {
		const char *js;
		size_t len;
		if ((rc = pt_ev_json(ev, &js, &len)))
			break;
		if (memmem(js, len, key, strlen(key))) {
			*out = true;
			break;
		}
	}
	if (rc == PT_ITEROVER)
		rc = 0;
	pt_iter_free(it);
	return rc;
}

int pt__archive_event(pt_store *st, const char *kind, const char *name, int64_t time_ns, const char *body_json)
{
	return pt__archive_event_once(st, kind, name, time_ns, body_json, NULL);
}

/*
 * With `unique`, nothing is appended if the stream already has such an event
 * (a job killed after recording it).  The check runs after the recorder is
 * open: opening adopts a segment a killed writer sealed but did not list.
 */
int pt__archive_event_once(pt_store *st, const char *kind, const char *name, int64_t time_ns, const char *body_json,
			   const char *unique)
{
	pt_recorder *rec = NULL;
	pt_event *ev = NULL;
	pt__buf j = {0};
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	ro.durability = PT_DURABILITY_FSYNC;
	int rc = pt__buf_printf(&j, "{\"kind\":\"%s\",\"time\":%lld,\"name\":", kind, (long long)time_ns);
	if (!rc)
		rc = pt__json_quote(&j, name);
	if (!rc && body_json && strlen(body_json) > 2)
		rc = pt__buf_printf(&j, ",%s", body_json + 1); /* body_json is an object: merge its members */
	else if (!rc)
		rc = pt__buf_printf(&j, "}");
	if (!rc)
		rc = pt_event_new(&ev, kind, NULL);
	if (!rc)
		rc = pt_event_from_json(ev, (const char *)j.data, j.len);
	if (!rc)
		rc = pt_recorder_open(&rec, st, PT_ARCHIVE_RUN, PT_ARCHIVE_STREAM, &ro);
	bool present = false;
	if (!rc && unique)
		rc = event_present(st, kind, unique, &present);
	if (!rc && !present)
		rc = pt_recorder_append(rec, ev, NULL);
	if (!rc)
		rc = pt_recorder_close(rec);
	else
		pt_recorder_free(rec);
	if (rc)
		rc = pt__err_wrap(rc, "recording the %s event", kind);
	pt_event_free(ev);
	pt__buf_free(&j);
	return rc;
}

/* ---- checking a tar against its manifest ------------------------------------------------- */

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Two passes.  (1) libarchive reads the structure: MANIFEST.json first, then
 * exactly the manifest's members in its order, each a regular file of the
 * declared size whose first bytes are the bytes at the manifest's offset.
 * (2) One sequential read of the whole file hashes it (the archive's name)
 * and each member's byte range (its SHA-256 in the manifest).
 */
int pt__archive_check(const char *path, pt__acat *out, const char *want_sha, pt__progress *prog, char *why,
		      size_t whylen)
{
	pt__acat a;
	memset(&a, 0, sizeof a);
	pt__tar_reader *r = NULL;
	uint8_t *buf = NULL, *man = NULL, *peek = NULL;
	pt__sha256_ctx *fh = NULL, *mh = NULL;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open %s", path);
		goto done;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		rc = pt__err_errno(errno, "cannot stat %s", path);
		goto done;
	}
	uint64_t fsize = (uint64_t)sb.st_size;
	if ((rc = pt__tar_reader_open(&r, fd, path)))
		goto done;
	pt__tar_entry e;
	if ((rc = pt__tar_next(r, &e))) {
		if (rc == PT_ITEROVER)
			rc = pt__err(PT_ECORRUPT, "%s: empty tar", path);
		goto done;
	}
	if (strcmp(e.name, PT_MANIFEST_NAME) || e.kind != PT_TAR_FILE || e.size > PT_MANIFEST_MAX) {
		rc = pt__err(PT_ECORRUPT, "%s: the first member must be a regular %s (found \"%s\")", path, PT_MANIFEST_NAME,
			     e.name);
		goto done;
	}
	uint64_t mlen = e.size;
	if (!(man = pt__malloc(mlen ? mlen : 1))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (uint64_t got = 0; got < mlen;) {
		ssize_t k = pt__tar_read(r, man + got, mlen - got);
		if (k < 0) {
			rc = (int)k;
			goto done;
		}
		if (k == 0) {
			rc = pt__err(PT_ECORRUPT, "%s: manifest shorter than its header says", path);
			goto done;
		}
		got += (uint64_t)k;
	}
	if ((rc = pt__manifest_parse(&a, man, mlen, path)))
		goto done;
	a.manifest_len = (uint32_t)mlen;
	if (!(peek = pt__malloc(2 * 4096))) {
		rc = PT_ENOMEM;
		goto done;
	}
	uint64_t prev_end = 512 + mlen;
	for (size_t i = 0; i <= a.nm; i++) {
		rc = pt__tar_next(r, &e);
		if (i == a.nm) {
			if (rc == 0)
				rc = pt__err(PT_ECORRUPT, "%s: member \"%s\" is not in the manifest", path, e.name);
			else if (rc == PT_ITEROVER)
				rc = 0;
			break;
		}
		const pt__amember *m = &a.m[i];
		if (rc == PT_ITEROVER)
			rc = pt__err(PT_ECORRUPT, "%s: member %s of the manifest is missing", path, m->name);
		if (rc)
			goto done;
		if (strcmp(e.name, m->name)) {
			rc = pt__err(PT_ECORRUPT, "%s: member %zu is \"%s\", the manifest says \"%s\"", path, i + 1, e.name,
				     m->name);
			goto done;
		}
		if (e.kind != PT_TAR_FILE || e.size != m->size) {
			rc = pt__err(PT_ECORRUPT, "%s: member %s is not a regular file of %llu bytes", path, m->name,
				     (unsigned long long)m->size);
			goto done;
		}
		if (i && strcmp(a.m[i - 1].name, m->name) >= 0) {
			rc = pt__err(PT_ECORRUPT, "%s: members are not sorted by name at %s", path, m->name);
			goto done;
		}
		if (m->offset < prev_end || m->offset > fsize || m->size > fsize - m->offset) {
			rc = pt__err(PT_ECORRUPT, "%s: member %s: offset %llu is outside the file or overlaps", path, m->name,
				     (unsigned long long)m->offset);
			goto done;
		}
		prev_end = m->offset + m->size;
		size_t k = m->size < 4096 ? (size_t)m->size : 4096;
		if (k) {
			ssize_t got = 0;
			while ((size_t)got < k) {
				ssize_t x = pt__tar_read(r, peek + got, k - (size_t)got);
				if (x <= 0) {
					rc = x < 0 ? (int)x : pt__err(PT_ECORRUPT, "%s: member %s is truncated", path, m->name);
					goto done;
				}
				got += x;
			}
			if ((rc = pt__pread_all(fd, peek + 4096, k, m->offset, path)))
				goto done;
			if (memcmp(peek, peek + 4096, k)) {
				rc = pt__err(PT_ECORRUPT, "%s: the index offset of member %s is wrong", path, m->name);
				goto done;
			}
		}
	}
	/* pass 2: hash the file and every member range in one sequential read */
	if (!(buf = pt__malloc(CHECK_BUF)) || (rc = pt__sha256_new(&fh))) {
		rc = rc ? rc : PT_ENOMEM;
		goto done;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t mi = 0;
	uint64_t pos = 0;
	while (pos < fsize) {
		size_t k = fsize - pos < CHECK_BUF ? (size_t)(fsize - pos) : CHECK_BUF;
		if ((rc = pt__pread_all(fd, buf, k, pos, path)))
			goto done;
		pt__sha256_update(fh, buf, k);
		uint64_t end = pos + k;
		while (mi < a.nm) {
			pt__amember *m = &a.m[mi];
			uint64_t ms = m->offset, me = m->offset + m->size;
			if (ms >= end)
				break;
			uint64_t s = ms > pos ? ms : pos, t = me < end ? me : end;
			if (!mh && (rc = pt__sha256_new(&mh)))
				goto done;
			if (t > s)
				pt__sha256_update(mh, buf + (s - pos), (size_t)(t - s));
			if (me > end)
				break;
			uint8_t got[32];
			pt__sha256_final(mh, got);
			pt__sha256_free(mh);
			mh = NULL;
			if (memcmp(got, m->sha, 32)) {
				char hx[65];
				pt__hex(got, 32, hx);
				rc = pt__err(PT_ECORRUPT, "%s: member %s hashes to %s, the manifest says otherwise", path,
					     m->name, hx);
				goto done;
			}
			if (m->type == PT_MEMBER_SEGMENT && memcmp(got, m->id, 32)) {
				rc = pt__err(PT_ECORRUPT, "%s: segment member %s does not hash to its name", path, m->name);
				goto done;
			}
			mi++;
		}
		pos = end;
		pt__progress_add(prog, k);
	}
	if (mi != a.nm) {
		rc = pt__err(PT_ECORRUPT, "%s: member ranges run past the end of the file", path);
		goto done;
	}
	uint8_t fsha[32];
	pt__sha256_final(fh, fsha);
	pt__hex(fsha, 32, a.sha);
	if (want_sha && strcmp(want_sha, a.sha)) {
		rc = pt__err(PT_ECORRUPT, "%s: the file hashes to %s, expected %s (modified or swapped)", path, a.sha, want_sha);
		goto done;
	}
	a.size = fsize;
	if (out) {
		*out = a;
		memset(&a, 0, sizeof a);
	}
done:
	if (rc && why)
		snprintf(why, whylen, "%s", pt_error_last());
	pt__tar_reader_free(r);
	if (fd >= 0)
		close(fd);
	pt__sha256_free(fh);
	pt__sha256_free(mh);
	pt__free(buf);
	pt__free(man);
	pt__free(peek);
	pt__acat_clear(&a);
	return rc;
}

/* ---- catalog operations --------------------------------------------------------------------- */

void pt_archive_list_free(pt_archive_info *list, size_t count)
{
	if (!list)
		return;
	for (size_t i = 0; i < count; i++) {
		pt__free((char *)list[i].plan);
		pt__free((char *)list[i].path);
		pt__free((char *)list[i].tags_json);
		pt__free((char *)list[i].deleted_reason);
	}
	pt__free(list);
}

int pt_archive_list(pt_archive_info **out, size_t *count, const pt_store *st)
{
	if (!out || !count || !st)
		return pt__err(PT_EINVAL, "pt_archive_list: NULL argument");
	*out = NULL;
	*count = 0;
	pt__catalog c;
	int rc = pt__catalog_load(st, &c);
	if (rc)
		return rc;
	pt_archive_info *v = pt__calloc(c.n ? c.n : 1, sizeof *v);
	if (!v) {
		pt__catalog_free(&c);
		return PT_ENOMEM;
	}
	for (size_t i = 0; i < c.n; i++) {
		pt__acat *a = &c.v[i];
		pt_archive_info *x = &v[i];
		memcpy(x->sha256, a->sha, 65);
		x->plan = pt__strdup(a->plan);
		x->path = pt__strdup(a->path);
		x->tags_json = pt__strdup(a->tags_json ? a->tags_json : "{}");
		x->deleted_reason = a->deleted_reason ? pt__strdup(a->deleted_reason) : NULL;
		if (!x->plan || !x->path || !x->tags_json || (a->deleted_reason && !x->deleted_reason))
			rc = PT_ENOMEM;
		x->created = a->created;
		x->window = a->window;
		x->size = a->size;
		x->held = a->held;
		x->deleted = a->deleted;
		x->deleted_at = a->deleted_at;
		bool any = false;
		for (size_t k = 0; k < a->nm; k++) {
			const pt__amember *m = &a->m[k];
			if (m->type == PT_MEMBER_OBJECT) {
				x->objects++;
				continue;
			}
			x->segments++;
			if (!any || m->time_min < x->time_min)
				x->time_min = m->time_min;
			if (!any || m->time_max > x->time_max)
				x->time_max = m->time_max;
			any = true;
		}
	}
	size_t n = c.n;
	pt__catalog_free(&c);
	if (rc) {
		pt_archive_list_free(v, n);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}

/* Index of the catalog entry `archive` names (id or unique prefix). */
static int catalog_lookup(const pt__catalog *c, const char *archive, size_t *out)
{
	size_t n = strlen(archive), found = SIZE_MAX;
	if (n < 6 || n > 64)
		return pt__err(PT_EINVAL, "\"%s\": give an archive id (at least 6 hex digits) or a .tar path", archive);
	for (size_t i = 0; i < c->n; i++) {
		if (strncmp(c->v[i].sha, archive, n))
			continue;
		if (found != SIZE_MAX)
			return pt__err(PT_EINVAL, "archive id prefix \"%s\" is ambiguous", archive);
		found = i;
	}
	if (found == SIZE_MAX)
		return pt__err(PT_ENOTFOUND, "no archive \"%s\" in the catalog", archive);
	*out = found;
	return 0;
}

int pt_archive_resolve(char **out_path, const pt_store *st, const char *archive)
{
	if (!out_path || !archive)
		return pt__err(PT_EINVAL, "pt_archive_resolve: NULL argument");
	*out_path = NULL;
	size_t n = strlen(archive);
	if (strchr(archive, '/') || (n > 4 && !strcmp(archive + n - 4, ".tar")) || (!is_hex64(archive, n) && pt__exists(archive))) {
		if (!pt__exists(archive))
			return pt__err(PT_ENOTFOUND, "%s: no such file", archive);
		char rpbuf[PATH_MAX]; /* realpath(NULL) would bypass alloc.h */
		char *rp = realpath(archive, rpbuf);
		if (!rp)
			return pt__err_errno(errno, "cannot resolve %s", archive);
		*out_path = pt__strdup(rp);
		return *out_path ? 0 : PT_ENOMEM;
	}
	if (!st)
		return pt__err(PT_ENOTFOUND, "%s: no such file (and no store to look it up in)", archive);
	pt__catalog c;
	int rc = pt__catalog_load(st, &c);
	size_t i;
	if (!rc && !(rc = catalog_lookup(&c, archive, &i))) {
		if (c.v[i].deleted)
			rc = pt__err(PT_ENOTFOUND, "archive %.12s was deleted by retention (%s)", c.v[i].sha,
				     c.v[i].deleted_reason ? c.v[i].deleted_reason : "?");
		else if (!(*out_path = pt__strdup(c.v[i].path)))
			rc = PT_ENOMEM;
	}
	pt__catalog_free(&c);
	return rc;
}

int pt_archive_verify(const pt_store *st, const char *archive, pt_problem_cb cb, void *payload,
		      pt_archive_progress_cb progress, void *progress_payload)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_archive_verify: NULL store");
	pt__catalog c;
	int rc = pt__catalog_load(st, &c);
	if (rc)
		return rc;
	size_t only = SIZE_MAX;
	char *path_only = NULL;
	if (archive) {
		size_t n = strlen(archive);
		if (strchr(archive, '/') || (n > 4 && !strcmp(archive + n - 4, ".tar"))) {
			if ((rc = pt_archive_resolve(&path_only, st, archive)))
				goto done;
		} else if ((rc = catalog_lookup(&c, archive, &only))) {
			goto done;
		}
	}
	uint64_t problems = 0;
	size_t total = path_only ? 1 : c.n;
	for (size_t i = 0; i < total; i++) {
		if (!path_only && only != SIZE_MAX && i != only)
			continue;
		const pt__acat *a = path_only ? NULL : &c.v[i];
		if (a && a->deleted)
			continue;
		const char *path = path_only ? path_only : a->path;
		struct stat sb;
		pt__progress pr = {progress, progress_payload, path, 0, 0, 0};
		if (stat(path, &sb) == 0)
			pr.total = (uint64_t)sb.st_size;
		char why[600] = "";
		pt__acat got;
		memset(&got, 0, sizeof got);
		int r = pt__archive_check(path, &got, a ? a->sha : NULL, &pr, why, sizeof why);
		if (!r && a) {
			/* the catalog's copy of the manifest must agree with the file's */
			bool same = got.nm == a->nm && got.window == a->window && !strcmp(got.plan, a->plan);
			for (size_t k = 0; same && k < got.nm; k++)
				same = !strcmp(got.m[k].name, a->m[k].name) && !memcmp(got.m[k].sha, a->m[k].sha, 32) &&
				       got.m[k].offset == a->m[k].offset;
			if (!same) {
				r = PT_ECORRUPT;
				snprintf(why, sizeof why, "%s: manifest differs from the catalog's record", path);
			}
		}
		if (!r && path_only && !strstr(path, got.sha)) {
			r = PT_ECORRUPT;
			snprintf(why, sizeof why, "%s: the file hashes to %s, which is not its name", path, got.sha);
		}
		pt__acat_clear(&got);
		if (r == PT_ENOMEM) {
			rc = r;
			goto done;
		}
		if (r) {
			problems++;
			if (cb) {
				pt_problem p = {PT_SEVERITY_ERROR, r, path, 0, why};
				if (cb(&p, payload))
					break;
			}
		}
		if (progress)
			pt__progress_end(&pr);
	}
	if (problems)
		rc = pt__err(PT_ECORRUPT, "%llu archive%s failed verification", (unsigned long long)problems,
			     problems == 1 ? "" : "s");
done:
	pt__free(path_only);
	pt__catalog_free(&c);
	return rc;
}

int pt_archive_hold(pt_store *st, const char *archive, int hold)
{
	if (!st || !archive)
		return pt__err(PT_EINVAL, "pt_archive_hold: NULL argument");
	int lock = -1;
	int rc = pt__archive_lock(st, 1, &lock);
	if (rc)
		return rc;
	pt__catalog c;
	memset(&c, 0, sizeof c);
	size_t i;
	if ((rc = pt__catalog_load(st, &c)) || (rc = catalog_lookup(&c, archive, &i)))
		goto done;
	if (c.v[i].deleted) {
		rc = pt__err(PT_EINVAL, "archive %.12s was already deleted", c.v[i].sha);
		goto done;
	}
	if (c.v[i].held == (hold != 0))
		goto done; /* already so: nothing to record */
	c.v[i].held = hold != 0;
	if ((rc = pt__catalog_store(st, &c)))
		goto done;
	{
		char body[200];
		int64_t now;
		pt__archive_now(&now, 0);
		snprintf(body, sizeof body, "{\"archive\":\"%s\"}", c.v[i].sha);
		rc = pt__archive_event(st, hold ? "archive_hold" : "archive_release", c.v[i].plan, now, body);
	}
done:
	pt__catalog_free(&c);
	pt__archive_unlock(lock);
	return rc;
}
