/* fileio.c - durable file helpers. */
#include "base/base_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int pt__write_all(int fd, const void *p, size_t n, const char *what)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return pt__err_errno(errno, "cannot write %s", what);
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int pt__pread_all(int fd, void *p, size_t n, uint64_t off, const char *what)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = pread(fd, b, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return pt__err_errno(errno, "cannot read %s at offset %llu", what,
					     (unsigned long long)off);
		}
		if (r == 0)
			return pt__err(PT_ECORRUPT, "%s: unexpected end of file at offset %llu", what,
				       (unsigned long long)off);
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int pt__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open directory %s", dir);
	int rc = 0;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = pt__err_errno(errno, "cannot fsync directory %s", dir);
	close(fd);
	return rc;
}

int pt__mkdir_p(const char *path, unsigned mode)
{
	char *p = pt__strdup(path);
	if (!p)
		return PT_ENOMEM;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = pt__err_errno(errno, "cannot create directory %s", p);
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	if (!rc && !pt__is_dir(path))
		rc = pt__err(PT_EIO, "%s exists and is not a directory", path);
	pt__free(p);
	return rc;
}

int pt__atomic_write(const char *path, const void *data, size_t len)
{
	/* confined to the file's own directory: a random temporary name, and a
	 * link named `path` is replaced rather than written through */
	char *dir = pt__strdup(path);
	if (!dir)
		return PT_ENOMEM;
	char *slash = strrchr(dir, '/');
	int rc;
	if (!slash) {
		pt__free(dir);
		char *abs = pt__sprintf("./%s", path);
		rc = abs ? pt__atomic_write_in(".", abs, data, len, 0644) : PT_ENOMEM;
		pt__free(abs);
		return rc;
	}
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	rc = pt__atomic_write_in(dir, path, data, len, 0644);
	pt__free(dir);
	return rc;
}

static int read_fd(int fd, const char *path, size_t max, uint8_t **out, size_t *out_len);

int pt__read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	int rc = read_fd(fd, path, max, out, out_len);
	close(fd);
	return rc;
}

bool pt__exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

bool pt__is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dirp(DIR *d, const char *suffix, char ***out, size_t *count)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	size_t sl = suffix ? strlen(suffix) : 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t l = strlen(de->d_name);
		if (suffix && (l < sl || strcmp(de->d_name + l - sl, suffix)))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = pt__realloc(v, nc * sizeof *nv);
			if (!nv) {
				rc = PT_ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		if (!(v[n] = pt__strdup(de->d_name))) {
			rc = PT_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc) {
		pt_strv_free(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_str);
	*out = v;
	*count = n;
	return 0;
}

int pt__list_dir(const char *dir, const char *suffix, char ***out, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return pt__err_errno(errno, "cannot open directory %s", dir);
	return list_dirp(d, suffix, out, count);
}

/*
 * ---- confined access below a root directory ----------------------------------
 *
 * A store may live in a directory other local users can write (a team's
 * shared store).  Such a user can plant symbolic links anywhere below the
 * store's directory; if we followed one, our writes (lock file, recovery,
 * temporaries, restore) would land on, truncate or disclose a file of their
 * choice outside the store.  So every file the library opens inside a store is
 * reached from a directory fd of the store's root without following any
 * symbolic link below it: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) for
 * the directories, and O_NOFOLLOW / AT_SYMLINK_NOFOLLOW / renameat / unlinkat
 * on the last component from that directory fd.  The root itself may be
 * reached through links the user chose (/tmp -> /private/tmp).
 *
 * Where openat2 is missing (ENOSYS: kernels before 5.6, some sandboxes), the
 * same rule is kept by a walk: one openat(O_DIRECTORY | O_NOFOLLOW) per
 * component.  A component that is a symbolic link fails with ELOOP (whose
 * message error.c words as "symbolic link ... not followed"), a path that is
 * not below the root with EXDEV.
 */
#include <limits.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/syscall.h>

#ifndef RESOLVE_BENEATH
struct pt__open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#else
#define pt__open_how open_how
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static atomic_int walk_only; /* 1: openat2 is missing (or a test asked for the walk) */

void pt__fileio_force_walk(bool on) { atomic_store(&walk_only, on ? 1 : 0); }

/* The part of `path` below `root` ("" for root itself); NULL (EXDEV) if `path` is not below it. */
static const char *below(const char *root, const char *path)
{
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	bool slash_root = rl == 1 && root[0] == '/';
	if (slash_root ? path[0] != '/' : strncmp(path, root, rl) || (path[rl] != '/' && path[rl] != 0)) {
		errno = EXDEV;
		return NULL;
	}
	const char *rel = path + (slash_root ? 0 : rl);
	while (*rel == '/')
		rel++;
	return rel;
}

/* openat(dfd, name) of a directory, refusing a symbolic link (ELOOP). */
static int open_dir_nofollow(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
		int e = errno;
		struct stat sb;
		errno = fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode) ? ELOOP : e;
	}
	return fd;
}

/* Open the directory `rel` (relative, n bytes; "" is the root) below root fd `rfd`. */
static int open_rel_dir(int rfd, const char *rel, size_t n)
{
	if (n == 0)
		return fcntl(rfd, F_DUPFD_CLOEXEC, 0);
	/* on the stack: an allocation failure must not look like a missing file */
	char r[PATH_MAX];
	if (n >= sizeof r) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(r, rel, n);
	r[n] = 0;
	int fd = -1;
	if (!atomic_load(&walk_only)) {
		struct pt__open_how how;
		memset(&how, 0, sizeof how);
		how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
		fd = (int)syscall(SYS_openat2, rfd, r, &how, sizeof how);
		if (fd >= 0 || errno != ENOSYS) {
			goto done;
		}
		atomic_store(&walk_only, 1);
	}
	/* the walk: one component at a time, none of them a link, no ".." */
	{
		int dfd = fcntl(rfd, F_DUPFD_CLOEXEC, 0);
		char *save = NULL;
		for (char *c = strtok_r(r, "/", &save); c && dfd >= 0; c = strtok_r(NULL, "/", &save)) {
			if (!strcmp(c, "."))
				continue;
			int nfd = -1;
			if (!strcmp(c, ".."))
				errno = EXDEV;
			else
				nfd = open_dir_nofollow(dfd, c);
			int e = errno;
			close(dfd);
			errno = e;
			dfd = nfd;
		}
		fd = dfd;
	}
done:
	return fd;
}

/*
 * The directory holding `path` (below `root`), opened without following links,
 * and the last component's name in *base.  -1 with errno on failure.
 */
static int open_parent(const char *root, const char *path, const char **base)
{
	const char *rel = below(root, path);
	if (!rel)
		return -1;
	const char *slash = strrchr(rel, '/');
	*base = slash ? slash + 1 : rel;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, "..")) {
		errno = EXDEV; /* the root itself or a path ending in . or .. is nothing we open by name */
		return -1;
	}
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -1;
	int fd = open_rel_dir(rfd, rel, slash ? (size_t)(slash - rel) : 0);
	int e = errno;
	close(rfd);
	errno = e;
	return fd;
}

int pt__open_in(const char *root, const char *path, int flags, unsigned mode)
{
	const char *base;
	int dfd = open_parent(root, path, &base);
	if (dfd < 0)
		return -1;
	int fd = openat(dfd, base, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	int e = errno;
	if (fd < 0 && (e == ELOOP || e == ENOTDIR || e == EEXIST || e == ENXIO)) {
		struct stat sb;
		if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
			e = ELOOP;
	}
	close(dfd);
	errno = e;
	return fd;
}

int pt__dir_open_in(const char *root, const char *path)
{
	const char *rel = below(root, path);
	if (!rel)
		return -1;
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -1;
	size_t n = strlen(rel);
	while (n && rel[n - 1] == '/')
		n--;
	int fd = open_rel_dir(rfd, rel, n);
	int e = errno;
	close(rfd);
	errno = e;
	return fd;
}

int pt__stat_in(const char *root, const char *path, struct stat *sb)
{
	const char *rel = below(root, path);
	if (rel && !*rel)
		return stat(root, sb);
	const char *base;
	int dfd = open_parent(root, path, &base);
	if (dfd < 0)
		return -1;
	int rc = fstatat(dfd, base, sb, AT_SYMLINK_NOFOLLOW);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

bool pt__is_dir_in(const char *root, const char *path)
{
	struct stat sb;
	return pt__stat_in(root, path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int pt__unlink_in(const char *root, const char *path)
{
	const char *base;
	int dfd = open_parent(root, path, &base);
	if (dfd < 0)
		return -1;
	int rc = unlinkat(dfd, base, 0);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int pt__rmdir_in(const char *root, const char *path)
{
	const char *base;
	int dfd = open_parent(root, path, &base);
	if (dfd < 0)
		return -1;
	int rc = unlinkat(dfd, base, AT_REMOVEDIR);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int pt__rename_in(const char *root, const char *from, const char *to)
{
	const char *fb, *tb;
	int ffd = open_parent(root, from, &fb);
	if (ffd < 0)
		return -1;
	int tfd = open_parent(root, to, &tb);
	if (tfd < 0) {
		int e = errno;
		close(ffd);
		errno = e;
		return -1;
	}
	/* renameat never follows a link in either last component: a link named
	 * `to` is replaced, not written through */
	int rc = renameat(ffd, fb, tfd, tb);
	int e = errno;
	close(ffd);
	close(tfd);
	errno = e;
	return rc;
}

int pt__fsync_dir_in(const char *root, const char *dir)
{
	int fd = pt__dir_open_in(root, dir);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open directory %s", dir);
	int rc = 0;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = pt__err_errno(errno, "cannot fsync directory %s", dir);
	close(fd);
	return rc;
}

int pt__mkdir_in(const char *root, const char *path, unsigned mode)
{
	const char *rel = below(root, path);
	if (!rel)
		return pt__err_errno(errno, "cannot create directory %s (not below %s)", path, root);
	char *r = pt__strdup(rel);
	if (!r)
		return PT_ENOMEM;
	int rc = 0;
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		rc = pt__err_errno(errno, "cannot open directory %s", root);
	char *save = NULL;
	for (char *c = rc ? NULL : strtok_r(r, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			rc = pt__err_errno(EXDEV, "cannot create directory %s", path);
			break;
		}
		if (mkdirat(dfd, c, (mode_t)mode) < 0 && errno != EEXIST) {
			rc = pt__err_errno(errno, "cannot create directory %s (at \"%s\")", path, c);
			break;
		}
		int nfd = open_dir_nofollow(dfd, c);
		if (nfd < 0) {
			rc = errno == ENOTDIR ? pt__err(PT_EIO, "%s: \"%s\" exists and is not a directory", path, c)
					      : pt__err_errno(errno, "cannot open directory %s (at \"%s\")", path, c);
			break;
		}
		close(dfd);
		dfd = nfd;
	}
	if (dfd >= 0)
		close(dfd);
	pt__free(r);
	return rc;
}

int pt__tmp_in(const char *root, const char *dir, const char *prefix, unsigned mode, char **tmp_out)
{
	*tmp_out = NULL;
	for (int attempt = 0; attempt < 16; attempt++) {
		uint8_t rnd[12];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
			uint64_t t = (uint64_t)pt__mono_ns() ^ ((uint64_t)getpid() << 32);
			memcpy(rnd, &t, 8);
			memcpy(rnd + 8, &attempt, 4);
		}
		char hex[2 * sizeof rnd + 1];
		pt__hex(rnd, sizeof rnd, hex);
		char *tmp = pt__sprintf("%s/%s%s", dir, prefix, hex);
		if (!tmp)
			return PT_ENOMEM;
		int fd = pt__open_in(root, tmp, O_RDWR | O_CREAT | O_EXCL, mode);
		if (fd >= 0) {
			*tmp_out = tmp;
			return fd;
		}
		int e = errno;
		int rc = e == EEXIST ? 0 : pt__err_errno(e, "cannot create %s", tmp);
		pt__free(tmp);
		if (rc)
			return rc;
	}
	return pt__err(PT_EIO, "cannot create a temporary file in %s: 16 random names taken", dir);
}

int pt__atomic_write_in(const char *root, const char *path, const void *data, size_t len, unsigned mode)
{
	char *dir = pt__strdup(path);
	if (!dir)
		return PT_ENOMEM;
	char *slash = strrchr(dir, '/');
	if (!slash) {
		pt__free(dir);
		return pt__err(PT_EINVAL, "%s: not an absolute path", path);
	}
	*slash = 0;
	char *tmp = NULL;
	int rc = 0;
	int fd = pt__tmp_in(root, dir, ".tmp-", mode, &tmp);
	if (fd < 0) {
		rc = fd;
		goto done;
	}
	rc = pt__write_all(fd, data, len, tmp);
	if (!rc && fdatasync(fd) < 0)
		rc = pt__err_errno(errno, "cannot fsync %s", tmp);
	if (close(fd) < 0 && !rc)
		rc = pt__err_errno(errno, "cannot close %s", tmp);
	if (!rc && pt__rename_in(root, tmp, path) < 0)
		rc = pt__err_errno(errno, "cannot rename %s to %s", tmp, path);
	if (rc) {
		pt__unlink_in(root, tmp);
		goto done;
	}
	rc = pt__fsync_dir_in(root, dir);
done:
	pt__free(tmp);
	pt__free(dir);
	return rc;
}

static int read_fd(int fd, const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat sb;
	int rc = 0;
	uint8_t *buf = NULL;
	if (fstat(fd, &sb) < 0) {
		rc = pt__err_errno(errno, "cannot stat %s", path);
		goto done;
	}
	if ((uint64_t)sb.st_size > max) {
		rc = pt__err(PT_ELIMIT, "%s is %lld bytes, more than the %zu allowed", path,
			     (long long)sb.st_size, max);
		goto done;
	}
	buf = pt__malloc((size_t)sb.st_size + 1);
	if (!buf) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__pread_all(fd, buf, (size_t)sb.st_size, 0, path);
	if (rc)
		goto done;
	buf[sb.st_size] = 0;
	*out = buf;
	*out_len = (size_t)sb.st_size;
	buf = NULL;
done:
	pt__free(buf);
	return rc;
}

int pt__read_file_in(const char *root, const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd = pt__open_in(root, path, O_RDONLY, 0);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	int rc = read_fd(fd, path, max, out, out_len);
	close(fd);
	return rc;
}

int pt__list_dir_in(const char *root, const char *dir, const char *suffix, char ***out, size_t *count)
{
	int fd = pt__dir_open_in(root, dir);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open directory %s", dir);
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return pt__err_errno(e, "cannot open directory %s", dir);
	}
	return list_dirp(d, suffix, out, count);
}

/*
 * SHA-256 of `fd` from `off`: `len` bytes (a short file is PT_ECORRUPT), or
 * to the end of the file when `len` is UINT64_MAX; *total_out (may be NULL)
 * gets the count.  pread 1 MiB at a time: bounded memory at any size.
 */
static int sha256_fd(int fd, uint64_t off, uint64_t len, const char *what, uint8_t out[PT_SHA256_LEN],
		     uint64_t *total_out)
{
	enum { BUF = 1 << 20 };
	pt__sha256_ctx *c = NULL;
	int rc = pt__sha256_new(&c);
	uint8_t *buf = rc ? NULL : pt__malloc(BUF);
	uint64_t total = 0;
	bool to_eof = len == UINT64_MAX;
	if (!rc && !buf)
		rc = PT_ENOMEM;
	while (!rc && (to_eof || total < len)) {
		size_t want = to_eof || len - total > BUF ? BUF : (size_t)(len - total);
		ssize_t n = pread(fd, buf, want, (off_t)(off + total));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = pt__err_errno(errno, "cannot read %s", what);
		} else if (n == 0) {
			if (!to_eof)
				rc = pt__err(PT_ECORRUPT, "%s: unexpected end of file at offset %llu", what,
					     (unsigned long long)(off + total));
			break;
		} else {
			pt__sha256_update(c, buf, (size_t)n);
			total += (uint64_t)n;
		}
	}
	if (!rc) {
		pt__sha256_final(c, out);
		if (total_out)
			*total_out = total;
	}
	pt__free(buf);
	pt__sha256_free(c);
	return rc;
}

int pt__sha256_file_in(const char *root, const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out)
{
	int fd = pt__open_in(root, path, O_RDONLY, 0);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	int rc = sha256_fd(fd, 0, UINT64_MAX, path, out, size_out);
	close(fd);
	return rc;
}

int pt__sha256_file(const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	int rc = sha256_fd(fd, 0, UINT64_MAX, path, out, size_out);
	close(fd);
	return rc;
}

static size_t root_len(const char *path, const char *top, int depth)
{
	/* strip `depth` trailing components; if the one left last is `top`
	 * (runs, objects), the store's directory is what precedes it */
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t cut = n;
	for (int k = 0; k < depth && cut > 0; k++) {
		while (cut > 0 && path[cut - 1] != '/')
			cut--;
		while (cut > 1 && path[cut - 1] == '/')
			cut--;
	}
	/* path[..cut) is the directory holding `top`'s child chain; its last component must be `top` */
	size_t tl = strlen(top), s0 = cut;
	while (s0 > 0 && path[s0 - 1] != '/')
		s0--;
	if (cut - s0 == tl && !strncmp(path + s0, top, tl) && s0 > 1)
		return s0 - 1;
	return n;
}

char *pt__root_of(const char *path, const char *top, int depth)
{
	return pt__strndup(path, root_len(path, top, depth));
}

char *pt__stream_root(const char *stream_dir) { return pt__root_of(stream_dir, "runs", 2); }

int pt__check_private_file(int fd, const char *path)
{
	/* a file we truncate or overwrite in place: a regular file with one name
	 * (a hard link planted to someone else's file would make us write to it) */
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return pt__err_errno(errno, "cannot stat %s", path);
	if (!S_ISREG(sb.st_mode))
		return pt__err(PT_EIO, "%s is not a regular file; refusing to write to it", path);
	if (sb.st_nlink != 1)
		return pt__err(PT_EIO, "%s has %llu hard links; refusing to write to a file that has other names", path,
			       (unsigned long long)sb.st_nlink);
	return 0;
}

int pt__open_stream_file(const char *stream_dir, const char *path, int flags)
{
	char root[PATH_MAX];
	size_t n = root_len(stream_dir, "runs", 2);
	if (n >= sizeof root) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(root, stream_dir, n);
	root[n] = 0;
	return below(root, path) ? pt__open_in(root, path, flags, 0) : open(path, flags | O_CLOEXEC);
}

/* The store directory of `stream_dir` on the stack (no allocation: a failure
 * to allocate must not read as a missing file). */
static int stream_root_buf(const char *stream_dir, char root[PATH_MAX])
{
	size_t n = root_len(stream_dir, "runs", 2);
	if (n >= PATH_MAX)
		return pt__err(PT_ELIMIT, "%s: path too long", stream_dir);
	memcpy(root, stream_dir, n);
	root[n] = 0;
	return 0;
}

int pt__read_stream_file(const char *stream_dir, const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	char root[PATH_MAX];
	int rc = stream_root_buf(stream_dir, root);
	return rc ? rc : pt__read_file_in(root, path, max, out, out_len);
}

int pt__list_stream_dir(const char *stream_dir, const char *dir, const char *suffix, char ***out, size_t *count)
{
	char root[PATH_MAX];
	int rc = stream_root_buf(stream_dir, root);
	return rc ? rc : pt__list_dir_in(root, dir, suffix, out, count);
}

int pt__open_store_member(const char *path, int flags)
{
	/* <root>/runs/<run>/<stream>/segments/<file> or <root>/objects/<hh>/<file>:
	 * confined below <root>; anything else (a vault's tar) opened without
	 * following a link in its last component */
	char root[PATH_MAX];
	size_t n = root_len(path, "runs", 4), len = strlen(path);
	if (n == len)
		n = root_len(path, "objects", 2);
	if (n == len || n >= sizeof root)
		return open(path, flags | O_NOFOLLOW | O_CLOEXEC);
	memcpy(root, path, n);
	root[n] = 0;
	return pt__open_in(root, path, flags, 0);
}

int pt__sha256_stream_file(const char *stream_dir, const char *path, uint8_t out[PT_SHA256_LEN], uint64_t *size_out)
{
	char root[PATH_MAX];
	int rc = stream_root_buf(stream_dir, root);
	return rc ? rc : pt__sha256_file_in(root, path, out, size_out);
}

int pt__sha256_range(int fd, uint64_t off, uint64_t len, uint8_t out[32])
{
	return sha256_fd(fd, off, len, "file range", out, NULL);
}
