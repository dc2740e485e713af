/*
 * history.c - the list of a stream's segments and their bytes (history.h).
 *
 * Readers, replay and verify used to answer "where is this segment" each on
 * their own (and replay forgot the archive and the interrupted seal): the
 * answer lives here only.
 */
#include "log/history_int.h"

#include "format/rstore_int.h"
#include "log/vault_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void pt__segsrc_close(pt__segsrc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	pt__free(s->name);
	*s = (pt__segsrc)PT_SEGSRC_INIT;
}

void pt__history_free(pt__history *h)
{
	pt__chain_free(&h->chain);
	pt__free(h->run);
	pt__free(h->stream);
	pt__free(h->dir);
	memset(h, 0, sizeof *h);
}

static char *tail_path(const pt__history *h) { return pt__sprintf("%s/%s", h->dir, PT_OPEN_SEGMENT); }

/*
 * A writer that stops between renaming a sealed segment into segments/ and
 * rewriting the chain (a crash, a full disk) leaves a sealed segment the
 * chain does not list yet; the next writer adopts it (recorder.c,
 * roll_forward).  Until then readers adopt it in memory, so that events
 * acknowledged as durable never disappear from view (found by test_kill).
 * Only a segment that continues the chain exactly is taken (number,
 * previous id, first seq, valid header naming this run and stream, valid
 * footer), and only when there is no open segment, as roll_forward
 * requires; its batches are checked as they are read, like any segment's.
 */
static int adopt_pending(pt__history *h)
{
	char *open_path = tail_path(h);
	char *segdir = pt__sprintf("%s/segments", h->dir);
	char **names = NULL;
	size_t n = 0;
	int rc = open_path && segdir ? 0 : PT_ENOMEM;
	if (rc || pt__exists(open_path))
		goto done;
	if (pt__is_dir(segdir) && (rc = pt__list_stream_dir(h->dir, segdir, PT_SEG_SUFFIX, &names, &n)))
		goto done;
	pt__chain *c = &h->chain;
	static const uint8_t zero[PT_SHA256_LEN];
	const uint8_t *prev = c->n ? c->v[c->n - 1].id : zero;
	uint64_t first = c->n ? c->v[c->n - 1].last_seq + 1 : 1;
	bool adopted = false; /* one at most: roll_forward takes one */
	for (size_t i = 0; !rc && !adopted && i < n; i++) {
		uint8_t id[PT_SHA256_LEN];
		char hex[65];
		if (strlen(names[i]) != 64 + strlen(PT_SEG_SUFFIX))
			continue;
		memcpy(hex, names[i], 64);
		hex[64] = 0;
		if (pt__unhex(hex, id, PT_SHA256_LEN))
			continue;
		bool listed = false;
		for (size_t k = 0; k < c->n && !listed; k++)
			listed = !memcmp(c->v[k].id, id, PT_SHA256_LEN);
		if (listed)
			continue;
		char *path = pt__sprintf("%s/%s", segdir, names[i]);
		if (!path) {
			rc = PT_ENOMEM;
			break;
		}
		int fd = pt__open_stream_file(h->dir, path, O_RDONLY);
		struct stat sb;
		pt__seg_header hd;
		pt__footer f = {0};
		if (fd >= 0 && fstat(fd, &sb) == 0 && !pt__seg_header_read(fd, (uint64_t)sb.st_size, path, &hd) &&
		    hd.segno == c->n && !memcmp(hd.prev, prev, PT_SHA256_LEN) && hd.first_seq == first &&
		    !strcmp(hd.run, h->run) && !strcmp(hd.stream, h->stream) &&
		    !pt__footer_read(fd, (uint64_t)sb.st_size, path, &f) && f.first_seq == first && f.last_seq >= first) {
			pt__chain_entry e = {hd.segno, {0}, f.first_seq, f.last_seq, f.events, f.step_min, f.step_max,
					    f.time_min, f.time_max, (uint64_t)sb.st_size, f.raw_bytes};
			memcpy(e.id, id, PT_SHA256_LEN);
			rc = pt__chain_append(c, &e);
			adopted = true;
		}
		pt__err_clear();
		pt__footer_free(&f);
		if (fd >= 0)
			close(fd);
		pt__free(path);
	}
done:
	pt_strv_free(names, n);
	pt__free(open_path);
	pt__free(segdir);
	return rc;
}

int pt__history_reload(pt__history *h)
{
	pt__chain c;
	int rc = pt__chain_load(h->dir, &c);
	if (rc)
		return rc;
	pt__chain_free(&h->chain);
	h->chain = c;
	h->chained = c.n;
	return adopt_pending(h);
}

int pt__history_load(pt__history *h, const pt_store *st, const char *run, const char *stream, bool pending)
{
	memset(h, 0, sizeof *h);
	h->st = st;
	h->run = pt__strdup(run);
	h->stream = pt__strdup(stream ? stream : PT_DEFAULT_STREAM);
	h->dir = h->run && h->stream ? pt__stream_dir(st, run, h->stream) : NULL;
	int rc = 0;
	if (!h->run || !h->stream || !h->dir) {
		rc = PT_ENOMEM;
		goto fail;
	}
	if (!pt__is_dir(h->dir)) {
		char *rd = pt__run_dir(st, run);
		bool run_exists = rd && pt__is_dir(rd);
		pt__free(rd);
		rc = run_exists ? pt__err(PT_ENOTFOUND, "stream \"%s\" not found in run \"%s\"", h->stream, run)
				: pt__err(PT_ENOTFOUND, "run \"%s\" not found in store %s", run, st->path);
		goto fail;
	}
	if (pending)
		rc = pt__history_reload(h);
	else if (!(rc = pt__chain_load(h->dir, &h->chain)))
		h->chained = h->chain.n;
	if (rc)
		goto fail;
	return 0;
fail:
	pt__history_free(h);
	return rc;
}

int pt__history_segment_state(const pt__history *h, const uint8_t id[PT_SHA256_LEN])
{
	char *path = pt__segment_path(h->dir, id);
	if (!path)
		return PT_ENOMEM;
	bool hot = pt__exists(path);
	pt__free(path);
	if (hot)
		return PT_HIST_HOT;
	if (h->st->remote) {
		/* in the bucket but damaged counts as there: opening it says what is wrong */
		int rc = pt__rstore_fetch_segment(h->st, h->run, h->stream, id);
		if (rc == PT_ENOMEM)
			return rc;
		pt__err_clear();
		return rc == 0 || rc == PT_ECORRUPT ? PT_HIST_HOT : PT_HIST_MISSING;
	}
	int s = pt__vault_segment_state(h->st, id);
	return s == PT_SEGMENT_ARCHIVED ? PT_HIST_ARCHIVED : s == PT_SEGMENT_EXPIRED ? PT_HIST_EXPIRED : PT_HIST_MISSING;
}

int pt__history_open_id(const pt__history *h, const uint8_t id[PT_SHA256_LEN], pt__segsrc *out)
{
	*out = (pt__segsrc)PT_SEGSRC_INIT;
	char *path = pt__segment_path(h->dir, id);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	int fd = pt__open_stream_file(h->dir, path, O_RDONLY);
	if (fd < 0 && errno == ENOENT && h->st->remote) {
		/* a store read from a bucket: bring the segment into its cache, then read it there */
		if ((rc = pt__rstore_fetch_segment(h->st, h->run, h->stream, id))) {
			pt__free(path);
			return rc;
		}
		fd = pt__open_stream_file(h->dir, path, O_RDONLY);
	}
	if (fd < 0 && errno == ENOENT) {
		/* archived (archive_job.c): the member inside its tar */
		rc = pt__vault_open_segment(h->st, h->run, h->stream, id, &out->fd, &out->base, &out->size);
		if (!rc && !(out->name = pt__sprintf("%s (archived)", path)))
			rc = PT_ENOMEM;
	} else if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open %s", path);
	} else {
		struct stat sb;
		out->fd = fd;
		if (fstat(fd, &sb) < 0)
			rc = pt__err_errno(errno, "cannot stat %s", path);
		out->size = (uint64_t)sb.st_size;
		out->ino = sb.st_ino;
		out->name = path;
		path = NULL;
	}
	if (rc)
		pt__segsrc_close(out);
	pt__free(path);
	return rc;
}

int pt__history_check_identity(const pt__history *h, const pt__seg_header *hdr, const char *name)
{
	if (strcmp(hdr->run, h->run) || strcmp(hdr->stream, h->stream))
		return pt__err(PT_ECORRUPT,
			       "%s: the segment belongs to run \"%s\" stream \"%s\" but is stored as run \"%s\" stream \"%s\" "
			       "(a copied or moved stream directory?)",
			       name, hdr->run, hdr->stream, h->run, h->stream);
	return 0;
}

int pt__history_open_sealed(const pt__history *h, size_t i, pt__segsrc *out, pt__seg_header *hdr)
{
	pt__seg_header local;
	if (!hdr)
		hdr = &local;
	const pt__chain_entry *e = &h->chain.v[i];
	int rc = pt__history_open_id(h, e->id, out);
	if (rc)
		return rc;
	rc = pt__seg_header_read_at(out->fd, out->base, out->size, out->name, hdr);
	if (!rc)
		rc = pt__history_check_identity(h, hdr, out->name);
	if (!rc && (hdr->first_seq != e->first_seq || hdr->segno != e->segno))
		rc = pt__err(PT_ECORRUPT, "%s: segment %llu starts at seq %llu, the chain says segment %llu at seq %llu",
			     out->name, (unsigned long long)hdr->segno, (unsigned long long)hdr->first_seq,
			     (unsigned long long)e->segno, (unsigned long long)e->first_seq);
	if (rc)
		pt__segsrc_close(out);
	return rc;
}

int pt__history_open_tail(const pt__history *h, pt__segsrc *out)
{
	*out = (pt__segsrc)PT_SEGSRC_INIT;
	char *path = tail_path(h);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	out->fd = pt__open_stream_file(h->dir, path, O_RDONLY);
	struct stat sb;
	if (out->fd < 0)
		rc = errno == ENOENT ? PT_ENOTFOUND : pt__err_errno(errno, "cannot open %s", path);
	else if (fstat(out->fd, &sb) < 0)
		rc = pt__err_errno(errno, "cannot stat %s", path);
	if (rc) {
		pt__free(path);
		pt__segsrc_close(out);
		return rc;
	}
	out->size = (uint64_t)sb.st_size;
	out->ino = sb.st_ino;
	out->name = path;
	return 0;
}

int pt__history_tail_ino(const pt__history *h, ino_t *out)
{
	char *path = tail_path(h);
	if (!path)
		return PT_ENOMEM;
	struct stat sb;
	/* lstat: a link planted here has another inode, and the reopen refuses it */
	int rc = lstat(path, &sb) == 0 ? 0 : PT_ENOTFOUND;
	if (!rc)
		*out = sb.st_ino;
	pt__free(path);
	return rc;
}

int pt__history_writer_active(const char *stream_dir)
{
	char *lock_path = pt__sprintf("%s/lock", stream_dir);
	if (!lock_path)
		return 0;
	int active = 0, fd = pt__open_stream_file(stream_dir, lock_path, O_RDONLY);
	if (fd >= 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
		if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			active = 1;
		close(fd);
	}
	pt__free(lock_path);
	return active;
}

/* "<size>.<mtime ns>.<inode>" of one file of the stream, "-" when absent (sb NULL). */
static void fp_part(const struct stat *sb, char *out, size_t cap)
{
	if (!sb)
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%llu.%lld.%09ld.%llu", (unsigned long long)sb->st_size, (long long)sb->st_mtim.tv_sec,
			 (long)sb->st_mtim.tv_nsec, (unsigned long long)sb->st_ino);
}

static int stat_part(const char *root, const char *path, char *out, size_t cap)
{
	struct stat sb;
	if (!path)
		return PT_ENOMEM;
	if (pt__stat_in(root, path, &sb) < 0) {
		if (errno != ENOENT)
			return pt__err_errno(errno, "cannot stat %s", path);
		fp_part(NULL, out, cap);
		return 0;
	}
	fp_part(&sb, out, cap);
	return 0;
}

int pt__history_fingerprint(const pt_store *st, const char *run, const char *stream, char *out, size_t cap,
			    int *writer)
{
	if (writer)
		*writer = 0;
	if (cap)
		out[0] = 0;
	char *dir = pt__stream_dir(st, run, stream);
	char *chain = dir ? pt__sprintf("%s/chain", dir) : NULL;
	char *tail = dir ? pt__sprintf("%s/%s", dir, PT_OPEN_SEGMENT) : NULL;
	char a[80], b[80];
	int rc = dir ? 0 : PT_ENOMEM;
	if (!rc && !pt__is_dir_in(st->path, dir))
		rc = pt__err(PT_ENOTFOUND, "stream %s/%s not found", run, stream ? stream : PT_DEFAULT_STREAM);
	if (!rc)
		rc = stat_part(st->path, chain, a, sizeof a);
	if (!rc)
		rc = stat_part(st->path, tail, b, sizeof b);
	if (!rc && (size_t)snprintf(out, cap, "c%s o%s", a, b) >= cap)
		rc = pt__err(PT_EINVAL, "pt__history_fingerprint: buffer too small");
	if (!rc && writer)
		*writer = pt__history_writer_active(dir);
	pt__free(dir);
	pt__free(chain);
	pt__free(tail);
	return rc;
}

void pt__stream_fps_free(pt__stream_fp *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pt__free(v[i].name);
	pt__free(v);
}

static int cmp_fp(const void *a, const void *b)
{
	return strcmp(((const pt__stream_fp *)a)->name, ((const pt__stream_fp *)b)->name);
}

/* The fingerprint of the stream directory `sfd` (fstatat/openat below it, no link followed). */
static int fp_of_dir(int sfd, const char *what, char *out, size_t cap, int *writer)
{
	struct stat sb;
	char a[80], b[80];
	if (fstatat(sfd, "chain", &sb, AT_SYMLINK_NOFOLLOW) == 0)
		fp_part(&sb, a, sizeof a);
	else if (errno == ENOENT)
		fp_part(NULL, a, sizeof a);
	else
		return pt__err_errno(errno, "cannot stat %s/chain", what);
	if (fstatat(sfd, PT_OPEN_SEGMENT, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		fp_part(&sb, b, sizeof b);
	else if (errno == ENOENT)
		fp_part(NULL, b, sizeof b);
	else
		return pt__err_errno(errno, "cannot stat %s/%s", what, PT_OPEN_SEGMENT);
	snprintf(out, cap, "c%s o%s", a, b);
	*writer = 0;
	int fd = openat(sfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
		if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			*writer = 1;
		close(fd);
	}
	return 0;
}

int pt__history_run_fingerprints(const pt_store *st, const char *run, pt__stream_fp **out, size_t *nout, int *runfd)
{
	*out = NULL;
	*nout = 0;
	if (runfd)
		*runfd = -1;
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	char *dir = pt__run_dir(st, run);
	if (!dir)
		return PT_ENOMEM;
	int dfd = pt__dir_open_in(st->path, dir);
	if (dfd < 0) {
		rc = errno == ENOENT || errno == ENOTDIR || errno == ELOOP
			     ? pt__err(PT_ENOTFOUND, "run \"%s\" not found in store %s", run, st->path)
			     : pt__err_errno(errno, "cannot open %s", dir);
		pt__free(dir);
		return rc;
	}
	int lfd = dup(dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		rc = pt__err_errno(errno, "cannot list %s", dir);
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		pt__free(dir);
		return rc;
	}
	pt__stream_fp *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		const char *name = e->d_name;
		if (name[0] == '.' || name[0] == '-' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
			continue;
		/* a stream is a real directory: O_NOFOLLOW refuses a link (as pt_store_streams does) */
		int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			pt__stream_fp *nv = pt__realloc(v, nc * sizeof *nv);
			if (!nv) {
				close(sfd);
				rc = PT_ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		memset(&v[n], 0, sizeof v[n]);
		if (!(v[n].name = pt__strdup(name))) {
			close(sfd);
			rc = PT_ENOMEM;
			break;
		}
		n++;
		rc = fp_of_dir(sfd, name, v[n - 1].fp, sizeof v[n - 1].fp, &v[n - 1].writer);
		close(sfd);
	}
	closedir(d);
	pt__free(dir);
	if (rc) {
		close(dfd);
		pt__stream_fps_free(v, n);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_fp);
	if (runfd)
		*runfd = dfd;
	else
		close(dfd);
	*out = v;
	*nout = n;
	return 0;
}

/* ---- objects ------------------------------------------------------------------------------ */

int pt__history_open_object(const pt_store *st, const uint8_t id[32], pt__objsrc *out)
{
	*out = (pt__objsrc)PT_OBJSRC_INIT;
	if (!st || !id)
		return pt__err(PT_EINVAL, "pt__history_open_object: NULL argument");
	char *path = pt__object_path(st, id);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	int fd = pt__open_in(st->path, path, O_RDONLY, 0);
	if (fd < 0 && errno == ENOENT && st->remote) {
		if ((rc = pt__rstore_fetch_object(st, id))) {
			pt__free(path);
			return rc;
		}
		fd = pt__open_in(st->path, path, O_RDONLY, 0);
	}
	if (fd < 0 && errno == ENOENT) {
		/* left the hot store with its history (archive_job.c): the member inside its tar */
		rc = pt__vault_open_object(st, id, path, &out->fd, &out->base, &out->size);
		if (!rc && !(out->name = pt__sprintf("%s (archived)", path)))
			rc = PT_ENOMEM;
	} else if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open object %s", path);
	} else {
		struct stat sb;
		out->fd = fd;
		if (fstat(fd, &sb) < 0)
			rc = pt__err_errno(errno, "cannot stat %s", path);
		out->size = (uint64_t)sb.st_size;
		out->name = path;
		path = NULL;
	}
	if (rc)
		pt__objsrc_close(out);
	pt__free(path);
	return rc;
}

int pt__history_object_state(const pt_store *st, const uint8_t id[32])
{
	int ex = pt__object_exists(st, id);
	if (ex)
		return ex < 0 ? ex : PT_HIST_HOT;
	if (st->remote) {
		int rc = pt__rstore_fetch_object(st, id);
		if (rc == PT_ENOMEM)
			return rc;
		pt__err_clear();
		return rc == 0 || rc == PT_ECORRUPT ? PT_HIST_HOT : PT_HIST_MISSING;
	}
	int s = pt__vault_object_state(st, id);
	if (s < 0)
		return s;
	return s == PT_SEGMENT_ARCHIVED ? PT_HIST_ARCHIVED : s == PT_SEGMENT_EXPIRED ? PT_HIST_EXPIRED : PT_HIST_MISSING;
}

int pt__object_stat(const pt_store *st, const uint8_t id[32], uint64_t *plain, uint64_t *stored)
{
	pt__objsrc src;
	int rc = pt__history_open_object(st, id, &src);
	if (!rc)
		rc = pt__object_stat_src(&src, plain, stored);
	pt__objsrc_close(&src);
	return rc;
}

int pt__object_read(const pt_store *st, const uint8_t id[32], void *dst, size_t len, pt__object_scratch *s)
{
	if (!st || !id || (!dst && len))
		return pt__err(PT_EINVAL, "pt__object_read: NULL argument");
	pt__objsrc src;
	int rc = pt__history_open_object(st, id, &src);
	if (!rc)
		rc = pt__object_read_src(&src, id, dst, len, s);
	pt__objsrc_close(&src);
	return rc;
}

int pt__object_get(const pt_store *st, const uint8_t id[32], uint8_t **out, size_t *out_len)
{
	if (!st || !id || !out || !out_len)
		return pt__err(PT_EINVAL, "pt__object_get: NULL argument");
	*out = NULL;
	*out_len = 0;
	pt__objsrc src;
	int rc = pt__history_open_object(st, id, &src);
	if (!rc)
		rc = pt__object_get_src(&src, id, out, out_len);
	pt__objsrc_close(&src);
	return rc;
}
