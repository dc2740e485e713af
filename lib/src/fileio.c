/* fileio.c - durable file helpers. */
#include "internal.h"

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
	char *tmp = pt__sprintf("%s.tmp.%d", path, (int)getpid());
	if (!tmp)
		return PT_ENOMEM;
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot create %s", tmp);
		goto done;
	}
	rc = pt__write_all(fd, data, len, tmp);
	if (!rc && fdatasync(fd) < 0)
		rc = pt__err_errno(errno, "cannot fsync %s", tmp);
	if (close(fd) < 0 && !rc)
		rc = pt__err_errno(errno, "cannot close %s", tmp);
	if (!rc && rename(tmp, path) < 0)
		rc = pt__err_errno(errno, "cannot rename %s to %s", tmp, path);
	if (rc) {
		unlink(tmp);
		goto done;
	}
	{
		char *dir = pt__strdup(path);
		if (!dir) {
			rc = PT_ENOMEM;
			goto done;
		}
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		rc = pt__fsync_dir(slash ? dir : ".");
		pt__free(dir);
	}
done:
	pt__free(tmp);
	return rc;
}

int pt__read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
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

int pt__list_dir(const char *dir, const char *suffix, char ***out, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return pt__err_errno(errno, "cannot open directory %s", dir);
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
