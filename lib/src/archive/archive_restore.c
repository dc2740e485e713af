/*
 * archive_restore.c - `provtrace restore`: an archive back into a store.
 *
 * The archive is untrusted input.  Members are streamed (libarchive) into
 * a staging directory inside the store and checked one by one against the
 * manifest; only when every member has passed are they renamed into place,
 * so a rejected archive leaves nothing behind.  What can be written is
 * bounded by construction: a member's destination is never derived from
 * its tar name but rebuilt from the manifest's validated fields (run and
 * stream names, hex ids), and the tar name must equal it exactly, so
 * absolute paths, "..", symlinks, hard links, devices, duplicates, sizes
 * other than declared and hashes other than declared are all refused.
 */
#include "archive/archive_int.h"
#include "format/objects_int.h"
#include "format/segment_int.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define IOBUF (1u << 20)

#define say(o, ...) pt__archive_say((o)->report, (o)->report_payload, __VA_ARGS__)

static const char *hostile_kind(int kind)
{
	switch (kind) {
	case PT_TAR_DIR: return "a directory";
	case PT_TAR_SYMLINK: return "a symbolic link";
	case PT_TAR_HARDLINK: return "a hard link";
	case PT_TAR_DEVICE: return "a device node";
	default: return "not a regular file";
	}
}

/* Reject names that could not come from provtrace before comparing anything. */
static int name_check(const char *tar, const char *name)
{
	if (!*name)
		return pt__err(PT_ECORRUPT, "%s: a member has an empty name", tar);
	if (name[0] == '/')
		return pt__err(PT_ECORRUPT, "%s: member \"%s\" has an absolute path", tar, name);
	for (const char *p = name; *p;) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);
		if ((n == 2 && !strncmp(p, "..", 2)) || (n == 1 && *p == '.') || n == 0)
			return pt__err(PT_ECORRUPT, "%s: member \"%s\" has a '..', '.' or empty path component", tar, name);
		p += n + (s ? 1 : 0);
		if (!s)
			break;
	}
	return 0;
}

static int rm_rf(const char *root, const char *path)
{
	struct stat sb;
	if (pt__stat_in(root, path, &sb) < 0)
		return 0;
	if (S_ISDIR(sb.st_mode)) {
		char **names = NULL;
		size_t n = 0;
		if (!pt__list_dir_in(root, path, NULL, &names, &n)) {
			for (size_t i = 0; i < n; i++) {
				char *p = pt__sprintf("%s/%s", path, names[i]);
				if (p)
					rm_rf(root, p);
				pt__free(p);
			}
			pt_strv_free(names, n);
		}
		return pt__rmdir_in(root, path);
	}
	return pt__unlink_in(root, path);
}

static int mkparent(const char *root, const char *path)
{
	char *d = pt__strdup(path);
	if (!d)
		return PT_ENOMEM;
	char *s = strrchr(d, '/');
	int rc = 0;
	if (s) {
		*s = 0;
		rc = pt__mkdir_in(root, d, 0755);
	}
	pt__free(d);
	return rc;
}

/* Link restored segments into the stream's chain when they continue it. */
static int relink_stream(const pt_store *st, const char *run, const char *stream, int *relinked)
{
	char *dir = pt__stream_dir(st, run, stream);
	char *segdir = dir ? pt__sprintf("%s/segments", dir) : NULL;
	pt__chain c = {0};
	char **names = NULL;
	size_t n = 0;
	int rc = segdir ? pt__chain_load(dir, &c) : PT_ENOMEM;
	bool changed = false;
	if (rc || (rc = pt__list_dir_in(st->path, segdir, PT_SEG_SUFFIX, &names, &n)))
		goto done;
	for (bool progress = true; progress;) {
		progress = false;
		for (size_t i = 0; i < n; i++) {
			uint8_t id[32];
			char hex[65];
			if (strlen(names[i]) != 64 + strlen(PT_SEG_SUFFIX))
				continue;
			memcpy(hex, names[i], 64);
			hex[64] = 0;
			if (pt__unhex(hex, id, 32))
				continue;
			bool listed = false;
			for (size_t k = 0; k < c.n && !listed; k++)
				listed = !memcmp(c.v[k].id, id, 32);
			if (listed)
				continue;
			char *p = pt__sprintf("%s/%s", segdir, names[i]);
			int fd = p ? pt__open_in(st->path, p, O_RDONLY, 0) : -1;
			struct stat sb;
			pt__seg_header h;
			pt__footer f = {0};
			bool ok = fd >= 0 && fstat(fd, &sb) == 0 &&
				  !pt__seg_header_read(fd, (uint64_t)sb.st_size, p, &h) &&
				  !pt__footer_read(fd, (uint64_t)sb.st_size, p, &f) && h.segno == c.n &&
				  !memcmp(h.prev, c.n ? c.v[c.n - 1].id : (const uint8_t[32]){0}, 32) &&
				  h.first_seq == (c.n ? c.v[c.n - 1].last_seq + 1 : 1) && !strcmp(h.run, run) &&
				  !strcmp(h.stream, stream);
			if (ok) {
				pt__chain_entry e = {h.segno, {0}, f.first_seq, f.last_seq, f.events, f.step_min, f.step_max,
						    f.time_min, f.time_max, (uint64_t)sb.st_size, f.raw_bytes};
				memcpy(e.id, id, 32);
				rc = pt__chain_append(&c, &e);
				changed = progress = true;
			}
			pt__footer_free(&f);
			if (fd >= 0)
				close(fd);
			pt__free(p);
			if (rc)
				goto done;
		}
	}
	if (changed) {
		rc = pt__chain_store(dir, &c);
		*relinked = 1;
	}
done:
	pt_strv_free(names, n);
	pt__chain_free(&c);
	pt__free(segdir);
	pt__free(dir);
	return rc;
}

int pt_archive_restore(const char *tar_path, const char *store_dir, const pt_restore_options *opts,
		       pt_restore_stats *stats)
{
	pt_restore_options dflt = PT_RESTORE_OPTIONS_INIT;
	const pt_restore_options *o = opts ? opts : &dflt;
	if (!tar_path || !store_dir)
		return pt__err(PT_EINVAL, "pt_archive_restore: NULL argument");
	if (o->version != PT_RESTORE_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_archive_restore: options version %u is not supported", o->version);
	pt_restore_stats sdummy;
	pt_restore_stats *s = stats ? stats : &sdummy;
	memset(s, 0, sizeof *s);
	pt_store *st = NULL;
	pt__tar_reader *r = NULL;
	pt__acat a;
	memset(&a, 0, sizeof a);
	uint8_t *buf = NULL, *man = NULL;
	char *stage = NULL;
	char **dest = NULL;
	bool *staged = NULL;
	pt__sha256_ctx *h = NULL;
	int rc, fd = -1, out = -1;
	rc = pt_store_open(&st, store_dir);
	if (rc == PT_ENOTFOUND)
		rc = pt_store_init(&st, store_dir);
	if (rc)
		return rc;
	fd = open(tar_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open %s", tar_path);
		goto done;
	}
	struct stat tsb;
	if (fstat(fd, &tsb) < 0 || !S_ISREG(tsb.st_mode)) {
		rc = pt__err(PT_EINVAL, "%s is not a regular file", tar_path);
		goto done;
	}
	if ((rc = pt__tar_reader_open(&r, fd, tar_path)))
		goto done;
	pt__tar_entry e;
	if ((rc = pt__tar_next(r, &e))) {
		if (rc == PT_ITEROVER)
			rc = pt__err(PT_ECORRUPT, "%s: empty archive", tar_path);
		goto done;
	}
	if (strcmp(e.name, PT_MANIFEST_NAME) || e.kind != PT_TAR_FILE) {
		rc = pt__err(PT_ECORRUPT, "%s: the first member must be a regular %s, found \"%s\" (%s)", tar_path,
			     PT_MANIFEST_NAME, e.name, e.kind == PT_TAR_FILE ? "a file" : hostile_kind(e.kind));
		goto done;
	}
	if (e.size > PT_MANIFEST_MAX) {
		rc = pt__err(PT_ECORRUPT, "%s: manifest of %llu bytes exceeds the limit", tar_path,
			     (unsigned long long)e.size);
		goto done;
	}
	size_t mlen = (size_t)e.size;
	if (!(man = pt__malloc(mlen + 1)) || !(buf = pt__malloc(IOBUF))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t got = 0; got < mlen;) {
		ssize_t k = pt__tar_read(r, man + got, mlen - got);
		if (k <= 0) {
			rc = k < 0 ? (int)k : pt__err(PT_ECORRUPT, "%s: manifest is truncated", tar_path);
			goto done;
		}
		got += (size_t)k;
	}
	if ((rc = pt__manifest_parse(&a, man, mlen, tar_path)))
		goto done;
	for (size_t i = 1; i < a.nm; i++)
		if (strcmp(a.m[i - 1].name, a.m[i].name) >= 0) {
			rc = pt__err(PT_ECORRUPT, "%s: manifest lists \"%s\" twice or out of order", tar_path, a.m[i].name);
			goto done;
		}
	stage = pt__sprintf("%s/%s/restore-%d", st->path, PT_ARCHIVE_DIR, (int)getpid());
	dest = pt__calloc(a.nm + 1, sizeof *dest);
	staged = pt__calloc(a.nm + 1, sizeof *staged);
	if (!stage || !dest || !staged) {
		rc = PT_ENOMEM;
		goto done;
	}
	rm_rf(st->path, stage);
	if ((rc = pt__mkdir_in(st->path, stage, 0700)))
		goto done;
	pt__progress prog = {o->progress, o->progress_payload, "restore", 0, (uint64_t)tsb.st_size, 0};
	for (size_t i = 0;; i++) {
		rc = pt__tar_next(r, &e);
		if (rc == PT_ITEROVER) {
			rc = 0;
			if (i < a.nm) {
				rc = pt__err(PT_ECORRUPT, "%s: member %s of the manifest is missing", tar_path, a.m[i].name);
				goto done;
			}
			break;
		}
		if (rc)
			goto done;
		if ((rc = name_check(tar_path, e.name)))
			goto done;
		if (e.kind != PT_TAR_FILE) {
			rc = pt__err(PT_ECORRUPT, "%s: member \"%s\" is %s; provtrace archives hold regular files only",
				     tar_path, e.name, hostile_kind(e.kind));
			goto done;
		}
		if (!strcmp(e.name, PT_MANIFEST_NAME)) {
			rc = pt__err(PT_ECORRUPT, "%s: duplicate member \"%s\"", tar_path, e.name);
			goto done;
		}
		if (i >= a.nm || strcmp(e.name, a.m[i].name)) {
			bool dup = false;
			for (size_t k = 0; k < i && k < a.nm && !dup; k++)
				dup = !strcmp(a.m[k].name, e.name);
			rc = pt__err(PT_ECORRUPT, dup ? "%s: duplicate member \"%s\"" : "%s: member \"%s\" is not in the manifest (or out of its order)",
				     tar_path, e.name);
			goto done;
		}
		const pt__amember *m = &a.m[i];
		if (e.size != m->size) {
			rc = pt__err(PT_ECORRUPT, "%s: member %s is %llu bytes, the manifest declares %llu", tar_path, m->name,
				     (unsigned long long)e.size, (unsigned long long)m->size);
			goto done;
		}
		if (!(dest[i] = pt__sprintf("%s/%s", st->path, m->name))) {
			rc = PT_ENOMEM;
			goto done;
		}
		/* already there with the same bytes: restoring twice is harmless */
		struct stat sb;
		if (pt__stat_in(st->path, dest[i], &sb) < 0 && errno != ENOENT) {
			/* a link below the store (ELOOP): never written through */
			rc = pt__err_errno(errno, "cannot restore %s", dest[i]);
			goto done;
		}
		if (pt__stat_in(st->path, dest[i], &sb) == 0) {
			uint8_t have[32];
			uint64_t hsz;
			if (!S_ISREG(sb.st_mode)) {
				rc = pt__err(PT_EEXISTS, "%s exists and is not a regular file; not touched", dest[i]);
				goto done;
			}
			if ((rc = pt__sha256_file_in(st->path, dest[i], have, &hsz)))
				goto done;
			/* an object is the same object if it decodes to its id, whatever its compression */
			if (m->type == PT_MEMBER_OBJECT && memcmp(have, m->sha, 32) &&
			    pt__object_verify_file(dest[i], m->id, NULL) == 0) {
				s->already_present++;
				pt__progress_add(&prog, m->size);
				continue;
			}
			if (memcmp(have, m->sha, 32)) {
				rc = pt__err(PT_EEXISTS, "%s exists with different content; not overwritten (run `provtrace "
							 "verify`)", dest[i]);
				goto done;
			}
			if (m->type == PT_MEMBER_OBJECT && pt__object_verify_file(dest[i], m->id, NULL)) {
				rc = pt__err(PT_ECORRUPT, "%s: object %s does not decode to its id (%s); nothing was restored",
					     tar_path, m->name, pt_error_last());
				goto done;
			}
			s->already_present++;
			pt__progress_add(&prog, m->size);
			continue; /* libarchive skips the data */
		}
		char *tmp = pt__sprintf("%s/%zu", stage, i);
		if (!tmp) {
			rc = PT_ENOMEM;
			goto done;
		}
		out = pt__open_in(st->path, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
		pt__free(tmp);
		if (out < 0) {
			rc = pt__err_errno(errno, "cannot create a staging file in %s", stage);
			goto done;
		}
		pt__sha256_free(h);
		h = NULL;
		if ((rc = pt__sha256_new(&h)))
			goto done;
		uint64_t got = 0;
		for (;;) {
			ssize_t k = pt__tar_read(r, buf, IOBUF);
			if (k < 0) {
				rc = (int)k;
				goto done;
			}
			if (k == 0)
				break;
			got += (uint64_t)k;
			if (got > m->size) {
				rc = pt__err(PT_ECORRUPT, "%s: member %s holds more than its declared %llu bytes", tar_path,
					     m->name, (unsigned long long)m->size);
				goto done;
			}
			pt__sha256_update(h, buf, (size_t)k);
			if ((rc = pt__write_all(out, buf, (size_t)k, dest[i])))
				goto done;
			pt__progress_add(&prog, (uint64_t)k);
		}
		uint8_t sha[32];
		pt__sha256_final(h, sha);
		if (got != m->size) {
			rc = pt__err(PT_ECORRUPT, "%s: member %s is truncated (%llu of %llu bytes)", tar_path, m->name,
				     (unsigned long long)got, (unsigned long long)m->size);
			goto done;
		}
		if (memcmp(sha, m->sha, 32)) {
			rc = pt__err(PT_ECORRUPT, "%s: member %s does not match the SHA-256 in the manifest", tar_path, m->name);
			goto done;
		}
		if (m->type == PT_MEMBER_SEGMENT && memcmp(sha, m->id, 32)) {
			rc = pt__err(PT_ECORRUPT, "%s: segment %s does not hash to its name", tar_path, m->name);
			goto done;
		}
		if (m->type == PT_MEMBER_OBJECT) {
			/* like a segment's name, an object's id is checked: it must decode to it */
			char *sp = pt__sprintf("%s/%zu", stage, i);
			int vr = sp ? pt__object_verify_file(sp, m->id, NULL) : PT_ENOMEM;
			pt__free(sp);
			if (vr == PT_ENOMEM) {
				rc = vr;
				goto done;
			}
			if (vr) {
				rc = pt__err(PT_ECORRUPT, "%s: object %s does not decode to its id (%s); nothing was restored",
					     tar_path, m->name, pt_error_last());
				goto done;
			}
		}
		if (fdatasync(out) < 0) {
			rc = pt__err_errno(errno, "cannot fsync a staging file in %s", stage);
			goto done;
		}
		close(out);
		out = -1;
		staged[i] = true;
		s->bytes += m->size;
	}
	/* every member passed: move them into place */
	for (size_t i = 0; i < a.nm; i++) {
		s->members++;
		if (!staged[i])
			continue;
		char *tmp = pt__sprintf("%s/%zu", stage, i);
		if (!tmp || (rc = mkparent(st->path, dest[i]))) {
			pt__free(tmp);
			rc = rc ? rc : PT_ENOMEM;
			goto done;
		}
		if (pt__rename_in(st->path, tmp, dest[i]) < 0) {
			rc = pt__err_errno(errno, "cannot move %s into place", dest[i]);
			pt__free(tmp);
			goto done;
		}
		pt__free(tmp);
		char *d = pt__strdup(dest[i]);
		if (d) {
			*strrchr(d, '/') = 0;
			pt__fsync_dir_in(st->path, d);
		}
		pt__free(d);
		s->written++;
		/* restored into the store it came from: the object is hot again, and stays */
		if (a.m[i].type == PT_MEMBER_OBJECT && (rc = pt__olocation_remove(st, a.m[i].id)))
			goto done;
	}
	for (size_t i = 0; i < a.nm; i++) {
		const pt__amember *m = &a.m[i];
		if (m->type != PT_MEMBER_SEGMENT)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = a.m[k].type == PT_MEMBER_SEGMENT && !strcmp(a.m[k].run, m->run) &&
			       !strcmp(a.m[k].stream, m->stream);
		if (seen)
			continue;
		int rel = 0;
		if ((rc = relink_stream(st, m->run, m->stream, &rel)))
			goto done;
		if (rel) {
			s->streams_relinked++;
			say(o, "rebuilt the chain of %s/%s from restored segments", m->run, m->stream);
		}
	}
	pt__progress_end(&prog);
done:
	if (out >= 0)
		close(out);
	if (stage)
		rm_rf(st->path, stage);
	if (dest)
		for (size_t i = 0; i <= a.nm; i++)
			pt__free(dest[i]);
	pt__free(dest);
	pt__free(staged);
	pt__free(stage);
	pt__sha256_free(h);
	pt__tar_reader_free(r);
	if (fd >= 0)
		close(fd);
	pt__free(buf);
	pt__free(man);
	pt__acat_clear(&a);
	pt_store_free(st);
	return rc;
}
