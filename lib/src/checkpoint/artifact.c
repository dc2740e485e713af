/*
 * artifact.c - files stored content-addressed beside a run (the `artifact` event).
 *
 * The content is cut into PT_ARTIFACT_PART-byte parts, each stored as one
 * object (so a file never sits in memory whole, and equal parts are stored
 * once); the event lists the part ids under `objects`, the key gc and verify
 * read references from (checkpoint_event.c).  The shared gc lock is held
 * from the first object written until the event is readable, as for a
 * checkpoint.
 */
#include "checkpoint/checkpoint_int.h"
#include "format/objects_int.h"
#include "provtrace/artifact.h"
#include "provtrace/event.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	pt_recorder *rec;
	pt__sha256_ctx *sha;
	uint8_t *ids; /* 32 * nparts */
	size_t nparts, cap;
	uint64_t size;
} art;

static int part(art *a, const void *p, size_t n)
{
	if (a->nparts == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		uint8_t *g = pt__realloc(a->ids, 32 * cap);
		if (!g)
			return PT_ENOMEM;
		a->ids = g;
		a->cap = cap;
	}
	int rc = pt__object_put(pt__recorder_store(a->rec), p, n, a->ids + 32 * a->nparts);
	if (rc)
		return rc;
	a->nparts++;
	pt__sha256_update(a->sha, p, n);
	a->size += n;
	return 0;
}

static int finish(art *a, const char *name, int64_t step, pt_artifact_info *out)
{
	uint8_t dig[32];
	char hex[65];
	pt_event *ev = NULL;
	pt__sha256_final(a->sha, dig);
	pt__hex(dig, 32, hex);
	pt_artifact_info info;
	memset(&info, 0, sizeof info);
	memcpy(info.sha256, hex, 65);
	info.size = a->size;
	info.parts = a->nparts;
	int rc = pt_event_new(&ev, PT_KIND_ARTIFACT, name);
	if (!rc && step != PT_NO_STEP)
		rc = pt_event_set_step(ev, step);
	if (!rc) rc = pt_event_str(ev, "sha256", hex);
	if (!rc) rc = pt_event_uint(ev, "size", a->size);
	if (!rc) rc = pt_event_uint(ev, "parts", a->nparts);
	if (!rc) rc = pt_event_begin_array(ev, "objects");
	for (size_t i = 0; !rc && i < a->nparts; i++) {
		char h[65];
		pt__hex(a->ids + 32 * i, 32, h);
		rc = pt_event_str(ev, NULL, h);
	}
	if (!rc) rc = pt_event_end(ev);
	if (!rc) rc = pt__recorder_append_own(a->rec, ev, &info.seq);
	if (!rc) rc = pt_recorder_flush(a->rec); /* readable before the gc lock goes */
	pt_event_free(ev);
	if (!rc && out)
		*out = info;
	return rc;
}

static int start(art *a, pt_recorder *rec, const char *name, int *lockfd)
{
	memset(a, 0, sizeof *a);
	a->rec = rec;
	if (!rec || !name || !*name)
		return pt__err(PT_EINVAL, "artifact: NULL recorder or empty name");
	int rc = pt__sha256_new(&a->sha);
	if (!rc)
		rc = pt__gc_lock(pt__recorder_store(rec), 0, 1, lockfd);
	return rc;
}

static void stop(art *a, int lockfd)
{
	if (lockfd >= 0)
		pt__gc_unlock(lockfd);
	pt__sha256_free(a->sha);
	pt__free(a->ids);
}

int pt_artifact_bytes(pt_recorder *rec, const char *name, const void *data, size_t len, int64_t step,
		      pt_artifact_info *out)
{
	art a;
	int lockfd = -1;
	if (out)
		memset(out, 0, sizeof *out);
	if (!data && len)
		return pt__err(PT_EINVAL, "pt_artifact_bytes: NULL data");
	int rc = start(&a, rec, name, &lockfd);
	for (size_t off = 0; !rc && off < len; off += PT_ARTIFACT_PART) {
		size_t n = len - off < PT_ARTIFACT_PART ? len - off : PT_ARTIFACT_PART;
		rc = part(&a, (const uint8_t *)data + off, n);
	}
	if (!rc)
		rc = finish(&a, name, step, out);
	stop(&a, lockfd);
	return rc;
}

static int same(const struct stat *x, const struct stat *y)
{
	return x->st_size == y->st_size && x->st_mtim.tv_sec == y->st_mtim.tv_sec &&
	       x->st_mtim.tv_nsec == y->st_mtim.tv_nsec && x->st_ino == y->st_ino;
}

int pt_artifact_file(pt_recorder *rec, const char *name, const char *path, int64_t step, pt_artifact_info *out)
{
	art a;
	int lockfd = -1, fd = -1;
	uint8_t *buf = NULL;
	struct stat before, after, now;
	if (out)
		memset(out, 0, sizeof *out);
	if (!path || !*path)
		return pt__err(PT_EINVAL, "pt_artifact_file: NULL or empty path");
	int rc = start(&a, rec, name, &lockfd);
	if (!rc && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = errno == ENOENT ? pt__err(PT_ENOTFOUND, "artifact %s: no such file", path)
				     : pt__err_errno(errno, "artifact %s: open", path);
	if (!rc && fstat(fd, &before))
		rc = pt__err_errno(errno, "artifact %s: stat", path);
	if (!rc && !S_ISREG(before.st_mode))
		rc = pt__err(PT_EINVAL, "artifact %s: not a regular file", path);
	if (!rc && !(buf = pt__malloc(PT_ARTIFACT_PART)))
		rc = PT_ENOMEM;
	while (!rc) {
		size_t got = 0;
		while (got < PT_ARTIFACT_PART) {
			ssize_t r = read(fd, buf + got, PT_ARTIFACT_PART - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = pt__err_errno(errno, "artifact %s: read", path);
				break;
			}
			if (r == 0)
				break;
			got += (size_t)r;
		}
		if (rc || !got)
			break;
		rc = part(&a, buf, got);
		if (got < PT_ARTIFACT_PART)
			break;
	}
	if (!rc && fstat(fd, &after))
		rc = pt__err_errno(errno, "artifact %s: stat", path);
	if (!rc && (!same(&before, &after) || (uint64_t)before.st_size != a.size))
		rc = pt__err(PT_ERROR, "artifact %s: the file changed while it was read (nothing recorded)", path);
	if (!rc && stat(path, &now))
		rc = pt__err(PT_ERROR, "artifact %s: the file vanished while it was read (nothing recorded)", path);
	if (!rc && !same(&before, &now))
		rc = pt__err(PT_ERROR, "artifact %s: the file was replaced while it was read (nothing recorded)", path);
	if (!rc)
		rc = finish(&a, name, step, out);
	if (fd >= 0)
		close(fd);
	pt__free(buf);
	stop(&a, lockfd);
	return rc;
}
