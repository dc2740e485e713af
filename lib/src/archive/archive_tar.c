/*
 * archive_tar.c - tar files through libarchive.  The only file of the
 * library that includes <archive.h>; libarchive's errors become PT_ codes
 * here.
 *
 * Writing is unblocked (bytes_per_block 0): every byte libarchive produces
 * goes straight to our callback, so the byte count after a header is the
 * offset of that member's data; those offsets are the manifest's index.
 */
#include "archive/archive_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define IOBUF (1u << 20)

void pt__progress_add(pt__progress *p, uint64_t n)
{
	if (!p || !p->cb)
		return;
	p->done += n;
	int64_t now = pt__mono_ns();
	if (now - p->last_ns >= 100000000 || p->done >= p->total) {
		p->last_ns = now;
		p->cb(p->what, p->done, p->total, p->payload);
	}
}

void pt__progress_end(pt__progress *p)
{
	if (p && p->cb)
		p->cb(p->what, p->total, p->total, p->payload);
}

typedef struct {
	int fd;
	const char *path;
	uint64_t pos;
	int err; /* PT_ code of a failed write (message already set) */
	pt__sha256_ctx *member; /* hashing the current member's data, or NULL */
} wctx;

static la_ssize_t w_write(struct archive *a, void *cd, const void *buf, size_t n)
{
	wctx *w = cd;
	int rc = pt__write_all(w->fd, buf, n, w->path);
	if (rc) {
		w->err = rc;
		archive_set_error(a, EIO, "%s", pt_error_last());
		return -1;
	}
	w->pos += n;
	return (la_ssize_t)n;
}

static int la_err(struct archive *a, const wctx *w, const char *what)
{
	if (w && w->err)
		return w->err;
	const char *m = archive_error_string(a);
	return pt__err(PT_EIO, "%s: %s", what, m ? m : "libarchive error");
}

int pt__tar_write(int fd, const char *path, int64_t mtime_s, pt__tar_member *m, size_t n, pt__progress *prog,
		  uint64_t *out_size)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	uint8_t *buf = pt__malloc(IOBUF);
	pt__sha256_ctx *h = NULL;
	wctx w = {fd, path, 0, 0, NULL};
	int rc = 0;
	if (!a || !e || !buf || (rc = pt__sha256_new(&h))) {
		rc = rc ? rc : pt__err(PT_ENOMEM, "out of memory creating a tar writer");
		goto done;
	}
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK || archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open(a, &w, NULL, w_write, NULL) != ARCHIVE_OK) {
		rc = la_err(a, &w, path);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)m[i].size);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_uname(e, "provtrace");
		archive_entry_set_gname(e, "provtrace");
		archive_entry_set_mtime(e, (time_t)mtime_s, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			rc = la_err(a, &w, path);
			goto done;
		}
		m[i].offset = w.pos;
		pt__sha256_ctx *hc = h;
		/* re-initialise the hash context */
		pt__sha256_free(hc);
		h = NULL;
		if ((rc = pt__sha256_new(&h)))
			goto done;
		uint64_t left = m[i].size, off = m[i].src_off;
		int sfd = -1;
		if (!m[i].data) {
			sfd = pt__open_store_member(m[i].src_path, O_RDONLY);
			if (sfd < 0) {
				rc = pt__err_errno(errno, "cannot open %s", m[i].src_path);
				goto done;
			}
			posix_fadvise(sfd, (off_t)off, (off_t)left, POSIX_FADV_SEQUENTIAL);
		}
		while (left) {
			size_t k = left < IOBUF ? (size_t)left : IOBUF;
			const uint8_t *p;
			if (m[i].data) {
				p = m[i].data + (m[i].size - left);
			} else {
				if ((rc = pt__pread_all(sfd, buf, k, off, m[i].src_path))) {
					close(sfd);
					goto done;
				}
				p = buf;
			}
			pt__sha256_update(h, p, k);
			la_ssize_t wr = archive_write_data(a, p, k);
			if (wr < 0 || (size_t)wr != k) {
				rc = la_err(a, &w, path);
				if (sfd >= 0)
					close(sfd);
				goto done;
			}
			left -= k;
			off += k;
			pt__progress_add(prog, k);
		}
		if (sfd >= 0)
			close(sfd);
		pt__sha256_final(h, m[i].sha);
		if (archive_write_finish_entry(a) != ARCHIVE_OK) {
			rc = la_err(a, &w, path);
			goto done;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = la_err(a, &w, path);
		goto done;
	}
	*out_size = w.pos;
done:
	if (a)
		archive_write_free(a);
	if (e)
		archive_entry_free(e);
	pt__sha256_free(h);
	pt__free(buf);
	return rc;
}

/* ---- reading ------------------------------------------------------------------------ */

struct pt__tar_reader {
	struct archive *a;
	char *path;
	int fd;
};

int pt__tar_reader_open(pt__tar_reader **out, int fd, const char *path)
{
	pt__tar_reader *r = pt__calloc(1, sizeof *r);
	if (!r || !(r->path = pt__strdup(path))) {
		pt__free(r);
		return PT_ENOMEM;
	}
	r->fd = fd;
	r->a = archive_read_new();
	if (!r->a) {
		pt__tar_reader_free(r);
		return pt__err(PT_ENOMEM, "out of memory creating a tar reader");
	}
	/* tar only (pax, ustar, gnu): no decompression, no other formats */
	if (archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
	    archive_read_open_fd(r->a, fd, IOBUF) != ARCHIVE_OK) {
		int rc = pt__err(PT_ECORRUPT, "%s: not a readable tar file: %s", path,
				 archive_error_string(r->a) ? archive_error_string(r->a) : "?");
		pt__tar_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int pt__tar_next(pt__tar_reader *r, pt__tar_entry *out)
{
	struct archive_entry *e;
	int x = archive_read_next_header(r->a, &e);
	if (x == ARCHIVE_EOF)
		return PT_ITEROVER;
	if (x != ARCHIVE_OK) /* warnings too: a tar we wrote never produces one */
		return pt__err(PT_ECORRUPT, "%s: bad tar header: %s", r->path,
			       archive_error_string(r->a) ? archive_error_string(r->a) : "?");
	memset(out, 0, sizeof *out);
	out->name = archive_entry_pathname(e);
	if (!out->name)
		return pt__err(PT_ECORRUPT, "%s: a member has no name", r->path);
	if (archive_entry_hardlink(e))
		out->kind = PT_TAR_HARDLINK;
	else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG: out->kind = PT_TAR_FILE; break;
		case AE_IFDIR: out->kind = PT_TAR_DIR; break;
		case AE_IFLNK: out->kind = PT_TAR_SYMLINK; break;
		case AE_IFCHR:
		case AE_IFBLK: out->kind = PT_TAR_DEVICE; break;
		default: out->kind = PT_TAR_OTHER; break;
		}
	}
	la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (sz < 0)
		return pt__err(PT_ECORRUPT, "%s: member %s has a negative size", r->path, out->name);
	out->size = (uint64_t)sz;
	out->mtime = archive_entry_mtime(e);
	out->header_offset = archive_read_header_position(r->a);
	return 0;
}

ssize_t pt__tar_read(pt__tar_reader *r, void *buf, size_t n)
{
	la_ssize_t k = archive_read_data(r->a, buf, n);
	if (k < 0)
		return pt__err(PT_ECORRUPT, "%s: cannot read member data: %s", r->path,
			       archive_error_string(r->a) ? archive_error_string(r->a) : "?");
	return (ssize_t)k;
}

void pt__tar_reader_free(pt__tar_reader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	pt__free(r->path);
	pt__free(r);
}
