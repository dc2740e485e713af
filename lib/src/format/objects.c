/*
 * objects.c - the content-addressed object store (see objects.h).
 *
 * Durability: an object file is written under a unique temporary name in
 * its fan-out directory, fdatasync'd, then renamed into place and the
 * directory fsync'd.  A crash leaves either no file, a complete object, or a
 * temporary file that gc removes; never a partial object under its name.
 */
#include "format/objects_int.h"


#include "base/shuffle_int.h"
#include "base/zstdx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"

char *pt__object_dir(const pt_store *st, const uint8_t id[32])
{
	static const char digits[] = "0123456789abcdef";
	return pt__sprintf("%s/objects/%c%c", st->path, digits[id[0] >> 4], digits[id[0] & 15]);
}

char *pt__object_path(const pt_store *st, const uint8_t id[32])
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, 32, hex);
	return pt__sprintf("%s/objects/%.2s/%s", st->path, hex, hex + 2);
}

void pt__object_scratch_free(pt__object_scratch *s)
{
	if (!s)
		return;
	pt__free(s->a);
	pt__free(s->b);
	s->a = s->b = NULL;
	s->acap = s->bcap = 0;
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
	if (*cap >= need && *p)
		return 0;
	uint8_t *n = pt__malloc(need);
	if (!n)
		return PT_ENOMEM;
	pt__free(*p);
	*p = n;
	*cap = need;
	return 0;
}

static void header_build(uint8_t h[PT_OBJECT_HEADER_LEN], int codec, size_t shuffle, uint64_t plain)
{
	pt__put_u32(h, PT_OBJECT_MAGIC);
	pt__put_u32(h + 4, PT_OBJECT_HEADER_LEN - 8);
	memcpy(h + 8, "PTOB", 4);
	h[12] = 1; /* version */
	h[13] = (uint8_t)codec;
	h[14] = (uint8_t)shuffle;
	h[15] = 0;
	pt__put_u64(h + 16, plain);
	pt__put_u32(h + 24, pt__crc32c(0, h + 8, 16));
}

typedef struct {
	int codec;
	unsigned shuffle;
	uint64_t plain;
} obj_header;

static int header_parse(obj_header *out, const uint8_t h[PT_OBJECT_HEADER_LEN], const char *path)
{
	if (pt__get_u32(h) != PT_OBJECT_MAGIC || pt__get_u32(h + 4) != PT_OBJECT_HEADER_LEN - 8 ||
	    memcmp(h + 8, "PTOB", 4))
		return pt__err(PT_ECORRUPT, "%s: not a provtrace object (bad header magic)", path);
	if (pt__get_u32(h + 24) != pt__crc32c(0, h + 8, 16))
		return pt__err(PT_ECORRUPT, "%s: object header checksum mismatch", path);
	if (h[12] > 1)
		return pt__err(PT_EVERSION, "%s: object format version %u is newer than this provtrace reads",
			       path, h[12]);
	if (h[12] != 1 || h[13] > PT_OBJECT_CODEC_ZSTD ||
	    (h[14] != 0 && h[14] != 2 && h[14] != 4 && h[14] != 8) || h[15] != 0)
		return pt__err(PT_ECORRUPT, "%s: object header has invalid fields", path);
	out->codec = h[13];
	out->shuffle = h[14];
	out->plain = pt__get_u64(h + 16);
	if (out->plain > PT_OBJECT_MAX)
		return pt__err(PT_ECORRUPT, "%s: object claims %llu bytes, more than the %zu limit", path,
			       (unsigned long long)out->plain, PT_OBJECT_MAX);
	return 0;
}

int pt__object_exists(const pt_store *st, const uint8_t id[32])
{
	if (!st || !id)
		return pt__err(PT_EINVAL, "pt__object_exists: NULL argument");
	char *p = pt__object_path(st, id);
	if (!p)
		return PT_ENOMEM;
	struct stat sb;
	int rc;
	if (pt__stat_in(st->path, p, &sb) == 0)
		rc = 1;
	else if (errno == ENOENT || errno == ENOTDIR)
		rc = 0;
	else
		rc = pt__err_errno(errno, "cannot stat %s", p);
	pt__free(p);
	return rc;
}

/*
 * Which existing object files this process has seen decode to their id.
 *
 * Dedup used to take an existing file as proof that the object is good, so a
 * planted or damaged file made every later checkpoint of the same bytes
 * "succeed" unreadably.  Now an existing object is only trusted after it was
 * decoded and hashed once by this process (or written by it), and the proof
 * is tied to the file itself: the key covers the id, device, inode, size,
 * mtime and ctime, so a file replaced or modified since (a rename, a write,
 * a utime) is verified again.  Every dedup still opens the file and checks
 * its header against the expected length and the file size.
 *
 * Bounded memory: a direct-mapped table of 2^16 keys (2 MiB, static, no
 * allocation); a key evicted by another is verified again the next time.
 */
#define VCACHE_BITS 16
static uint8_t vcache[1u << VCACHE_BITS][32];
static pthread_mutex_t vcache_mu = PTHREAD_MUTEX_INITIALIZER;

static void vcache_key(uint8_t key[32], const uint8_t id[32], const struct stat *sb)
{
	struct {
		uint8_t id[32];
		uint64_t dev, ino, size;
		int64_t ms, mns, cs, cns;
	} k;
	memset(&k, 0, sizeof k);
	memcpy(k.id, id, 32);
	k.dev = (uint64_t)sb->st_dev;
	k.ino = (uint64_t)sb->st_ino;
	k.size = (uint64_t)sb->st_size;
	k.ms = (int64_t)sb->st_mtim.tv_sec;
	k.mns = (int64_t)sb->st_mtim.tv_nsec;
	k.cs = (int64_t)sb->st_ctim.tv_sec;
	k.cns = (int64_t)sb->st_ctim.tv_nsec;
	pt__sha256(&k, sizeof k, key);
	key[0] |= 1; /* never all zero (an empty slot) */
}

static bool vcache_has(const uint8_t key[32])
{
	size_t slot = ((size_t)key[1] << 8 | key[2]) & ((1u << VCACHE_BITS) - 1);
	pthread_mutex_lock(&vcache_mu);
	bool hit = !memcmp(vcache[slot], key, 32);
	pthread_mutex_unlock(&vcache_mu);
	return hit;
}

static void vcache_put(const uint8_t key[32])
{
	size_t slot = ((size_t)key[1] << 8 | key[2]) & ((1u << VCACHE_BITS) - 1);
	pthread_mutex_lock(&vcache_mu);
	memcpy(vcache[slot], key, 32);
	pthread_mutex_unlock(&vcache_mu);
}

/* Remember that the file now at the object's path was written by us (it is good). */
static void vcache_note_written(const char *path, const uint8_t id[32])
{
	struct stat sb;
	uint8_t key[32];
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		vcache_key(key, id, &sb);
		vcache_put(key);
	}
}

void pt__object_vcache_reset(void)
{
	pthread_mutex_lock(&vcache_mu);
	memset(vcache, 0, sizeof vcache);
	pthread_mutex_unlock(&vcache_mu);
}

static int header_parse(obj_header *out, const uint8_t h[PT_OBJECT_HEADER_LEN], const char *path);
static int decode_fd(int fd, const char *path, const obj_header *h, uint64_t base, uint64_t fsize,
		     const uint8_t id[32], void *dst, size_t len, pt__object_scratch *s);
static int sizes_plausible(const char *path, const obj_header *h, uint64_t fsize);

int pt__object_check_existing(const pt_store *st, const uint8_t id[32], size_t len, int freshen,
			      uint64_t *out_disk, pt__object_scratch *s)
{
	if (out_disk)
		*out_disk = 0;
	char *path = pt__object_path(st, id);
	if (!path)
		return PT_ENOMEM;
	pt__object_scratch local = {0};
	if (!s)
		s = &local;
	uint8_t *buf = NULL;
	int rc = 0;
	int fd = pt__open_in(st->path, path, O_RDONLY, 0);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			rc = pt__err_errno(errno, "cannot open object %s", path);
		goto done; /* absent (or a symlink: not ours; it is replaced) */
	}
	struct stat sb;
	uint8_t hb[PT_OBJECT_HEADER_LEN], key[32];
	obj_header h;
	if (fstat(fd, &sb) < 0) {
		rc = pt__err_errno(errno, "cannot stat %s", path);
		goto done;
	}
	/* the cheap check, every time: a regular file whose header and size fit `len` */
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < PT_OBJECT_HEADER_LEN ||
	    pt__pread_all(fd, hb, sizeof hb, 0, path) || header_parse(&h, hb, path) || h.plain != len ||
	    sizes_plausible(path, &h, (uint64_t)sb.st_size))
		goto damaged;
	vcache_key(key, id, &sb);
	if (!vcache_has(key)) {
		/* the full check, once per file per process */
		if (!(buf = pt__malloc(len ? len : 1))) {
			rc = PT_ENOMEM;
			goto done;
		}
		int dr = decode_fd(fd, path, &h, 0, (uint64_t)sb.st_size, id, buf, len, s);
		if (dr == PT_ENOMEM) {
			rc = dr;
			goto done;
		}
		if (dr)
			goto damaged;
		vcache_put(key);
	}
	/*
	 * A reused object gets a new mtime (git's "freshen"): gc keeps unreferenced
	 * objects younger than its grace period, so one that was garbage but is
	 * referenced again survives until the new reference reaches the log.
	 */
	if (freshen && (int64_t)sb.st_mtime < (int64_t)time(NULL) - 60 && futimens(fd, NULL) == 0 &&
	    fstat(fd, &sb) == 0) {
		vcache_key(key, id, &sb);
		vcache_put(key);
	}
	if (out_disk)
		*out_disk = (uint64_t)sb.st_size;
	rc = 1;
	goto done;
damaged:
	rc = 0; /* the caller writes the good bytes over it (atomically: temporary file + rename) */
done:
	if (fd >= 0)
		close(fd);
	pt__free(buf);
	pt__free(path);
	pt__object_scratch_free(&local);
	return rc;
}

static int write_file(const char *dir, const char *path, const uint8_t *id, const uint8_t *hdr,
		      const void *payload, size_t plen, int no_dirsync, char **out_tmp)
{
	const char *base = strrchr(path, '/') + 1;
	/* a random name, created O_EXCL below the store's directory (fileio.c) */
	char *tmp = NULL, *root = pt__root_of(dir, "objects", 1), *pfx = pt__sprintf(TMP_PREFIX "%s-", base);
	int rc = 0, fd = !root || !pfx ? PT_ENOMEM : pt__tmp_in(root, dir, pfx, 0644, &tmp);
	if (fd == PT_ENOTFOUND) {
		if ((rc = pt__mkdir_in(root, dir, 0755)))
			goto done;
		fd = pt__tmp_in(root, dir, pfx, 0644, &tmp);
	}
	if (fd < 0) {
		rc = fd;
		goto done;
	}
	rc = pt__write_all(fd, hdr, PT_OBJECT_HEADER_LEN, tmp);
	if (!rc)
		rc = pt__write_all(fd, payload, plen, tmp);
	if (!rc && out_tmp) {
		if (close(fd) < 0)
			rc = pt__err_errno(errno, "cannot close %s", tmp);
		if (rc) {
			pt__unlink_in(root, tmp);
			goto done;
		}
		*out_tmp = tmp;
		tmp = NULL;
		goto done;
	}
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
	if (id)
		vcache_note_written(path, id);
	if (!no_dirsync)
		rc = pt__fsync_dir_in(root, dir);
done:
	pt__free(root);
	pt__free(pfx);
	pt__free(tmp);
	return rc;
}

/* Compress into s->b; returns the payload to store and its codec/shuffle. */
static int encode(const void *data, size_t len, const pt__object_wopts *o, pt__object_scratch *s,
		  const uint8_t **payload, size_t *plen, int *codec, size_t *shuffle)
{
	int rc;
	size_t bound = pt__zstdx_bound(len);
	size_t sh = o->shuffle;
	*payload = data;
	*plen = len;
	*codec = PT_OBJECT_CODEC_RAW;
	*shuffle = 0;
	if (len < 64 || o->store_raw)
		return 0; /* a frame header alone would not pay off, or the caller knows it does not */
	if ((rc = grow(&s->b, &s->bcap, bound)))
		return rc;
	const uint8_t *src = data;
	if (sh == 2 || sh == 4 || sh == 8) {
		if ((rc = grow(&s->a, &s->acap, len)))
			return rc;
		pt__shuffle(s->a, data, len, sh);
		src = s->a;
	} else {
		sh = 0;
	}
	size_t clen = 0;
	/* A frame no smaller than the input is useless: cap the output at len - 1. */
	rc = pt__zstdx_compress(s->b, len - 1, src, len, o->level, sh ? PT_ZSTDX_SHUFFLED : PT_ZSTDX_DEFAULT,
				&clen);
	if (rc == PT_ELIMIT && sh && o->try_plain) {
		sh = 0;
		rc = pt__zstdx_compress(s->b, len - 1, data, len, o->level, PT_ZSTDX_DEFAULT, &clen);
	}
	if (rc == PT_ELIMIT)
		return 0; /* stored raw */
	if (rc)
		return rc;
	*payload = s->b;
	*plen = clen;
	*codec = PT_OBJECT_CODEC_ZSTD;
	*shuffle = sh;
	return 0;
}

int pt__object_write(const pt_store *st, const uint8_t id[32], const void *data, size_t len,
		     const pt__object_wopts *o, pt__object_scratch *s, uint64_t *out_stored,
		     char **out_tmp)
{
	if (out_stored)
		*out_stored = 0;
	if (out_tmp)
		*out_tmp = NULL;
	if (len > PT_OBJECT_MAX)
		return pt__err(PT_ELIMIT, "object of %zu bytes is larger than the %zu limit", len,
			       PT_OBJECT_MAX);
	int rc = 0;
	if (!o->replace) {
		/* an existing object is reused only if it checks out (see vcache above) */
		if ((rc = pt__object_check_existing(st, id, len, 0, NULL, s)) < 0)
			return rc;
		if (rc == 1)
			return 0;
	}
	char *path = pt__object_path(st, id), *dir = pt__object_dir(st, id);
	pt__object_scratch local = {0};
	if (!s)
		s = &local;
	if (!path || !dir) {
		rc = PT_ENOMEM;
		goto done;
	}
	const uint8_t *payload;
	size_t plen, shuffle;
	int codec;
	if ((rc = encode(data, len, o, s, &payload, &plen, &codec, &shuffle)))
		goto done;
	uint8_t hdr[PT_OBJECT_HEADER_LEN];
	header_build(hdr, codec, shuffle, len);
	if ((rc = write_file(dir, path, id, hdr, payload, plen, o->no_dirsync, o->defer ? out_tmp : NULL)))
		goto done;
	if (out_stored)
		*out_stored = PT_OBJECT_HEADER_LEN + plen;
done:
	pt__object_scratch_free(&local);
	pt__free(path);
	pt__free(dir);
	return rc;
}

int pt__object_put(const pt_store *st, const void *data, size_t len, uint8_t out_id[32])
{
	if (!st || (!data && len))
		return pt__err(PT_EINVAL, "pt__object_put: NULL argument");
	uint8_t id[32];
	pt__sha256(data ? data : "", len, id);
	pt__object_wopts o = {.level = 3};
	int rc = pt__object_write(st, id, data ? data : "", len, &o, NULL, NULL, NULL);
	if (!rc && out_id)
		memcpy(out_id, id, 32);
	return rc;
}

int pt__object_sync_tmp(const char *tmp)
{
	char *root = pt__root_of(tmp, "objects", 2);
	if (!root)
		return PT_ENOMEM;
	int fd = pt__open_in(root, tmp, O_RDWR, 0);
	pt__free(root);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", tmp);
	int rc = 0;
	if (fdatasync(fd) < 0)
		rc = pt__err_errno(errno, "cannot fsync %s", tmp);
	close(fd);
	return rc;
}

int pt__object_publish(const pt_store *st, const uint8_t id[32], const char *tmp)
{
	char *path = pt__object_path(st, id);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	if (pt__rename_in(st->path, tmp, path) < 0)
		rc = pt__err_errno(errno, "cannot rename %s to %s", tmp, path);
	else
		vcache_note_written(path, id);
	pt__free(path);
	return rc;
}

int pt__object_finish(const pt_store *st, const uint8_t id[32], const char *tmp)
{
	int rc = pt__object_sync_tmp(tmp);
	if (!rc)
		rc = pt__object_publish(st, id, tmp);
	if (rc)
		pt__unlink_in(st->path, tmp);
	return rc;
}

void pt__objsrc_close(pt__objsrc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	pt__free(s->name);
	*s = (pt__objsrc)PT_OBJSRC_INIT;
}

/*
 * Parse the header of the object whose file's bytes are [base, base + size)
 * of src->fd: a hot file (base 0) or a tar member in the vault - the seam
 * (log/history.c) found it; the bytes are checked against the id as always.
 */
static int obj_header_src(const pt__objsrc *src, obj_header *h)
{
	uint8_t hb[PT_OBJECT_HEADER_LEN];
	if (src->size < PT_OBJECT_HEADER_LEN)
		return pt__err(PT_ECORRUPT, "%s: object file is truncated (%llu bytes)", src->name,
			       (unsigned long long)src->size);
	int rc = pt__pread_all(src->fd, hb, sizeof hb, src->base, src->name);
	if (!rc)
		rc = header_parse(h, hb, src->name);
	return rc;
}

int pt__object_stat_src(const pt__objsrc *src, uint64_t *plain, uint64_t *stored)
{
	obj_header h;
	int rc = obj_header_src(src, &h);
	if (rc)
		return rc;
	if (plain)
		*plain = h.plain;
	if (stored)
		*stored = src->size;
	return 0;
}

/* Decode the object on `fd` (header `h` parsed, file of `fsize` bytes) into `dst` and check it hashes to `id`. */
static int decode_fd(int fd, const char *path, const obj_header *h, uint64_t base, uint64_t fsize,
		     const uint8_t id[32], void *dst, size_t len, pt__object_scratch *s)
{
	int rc = 0;
	if (h->plain != len)
		return pt__err(PT_ECORRUPT, "%s: object holds %llu bytes where %zu were expected", path,
			       (unsigned long long)h->plain, len);
	uint64_t plen = fsize - PT_OBJECT_HEADER_LEN;
	if (h->codec == PT_OBJECT_CODEC_RAW) {
		if (plen != h->plain)
			return pt__err(PT_ECORRUPT, "%s: raw object is %llu bytes, header says %llu", path,
				       (unsigned long long)plen, (unsigned long long)h->plain);
		if ((rc = pt__pread_all(fd, dst, len, base + PT_OBJECT_HEADER_LEN, path)))
			return rc;
		if (h->shuffle)
			return pt__err(PT_ECORRUPT, "%s: raw object with a shuffle filter", path);
	} else {
		if (plen > pt__zstdx_bound(h->plain) || plen == 0)
			return pt__err(PT_ECORRUPT, "%s: compressed payload of %llu bytes is impossible for %llu plain bytes",
				       path, (unsigned long long)plen, (unsigned long long)h->plain);
		if ((rc = grow(&s->b, &s->bcap, (size_t)plen)))
			return rc;
		if ((rc = pt__pread_all(fd, s->b, (size_t)plen, base + PT_OBJECT_HEADER_LEN, path)))
			return rc;
		uint8_t *target = dst;
		if (h->shuffle) {
			if ((rc = grow(&s->a, &s->acap, len)))
				return rc;
			target = s->a;
		}
		if ((rc = pt__zstdx_decompress(target, len, s->b, (size_t)plen, path)))
			return rc;
		if (h->shuffle)
			pt__unshuffle(dst, s->a, len, h->shuffle);
	}
	uint8_t got[32];
	pt__sha256(dst, len, got);
	if (memcmp(got, id, 32)) {
		char hex[PT_SHA256_HEX];
		pt__hex(got, 32, hex);
		return pt__err(PT_ECORRUPT, "%s: content hash mismatch (the bytes hash to %s)", path, hex);
	}
	return 0;
}

/* The header's sizes agree with the file's (cheap: no payload read). */
static int sizes_plausible(const char *path, const obj_header *h, uint64_t fsize)
{
	uint64_t plen = fsize - PT_OBJECT_HEADER_LEN;
	if (h->codec == PT_OBJECT_CODEC_RAW ? plen != h->plain || h->shuffle
					    : plen == 0 || plen > pt__zstdx_bound(h->plain))
		return pt__err(PT_ECORRUPT, "%s: object size %llu does not fit its header (%llu plain bytes)", path,
			       (unsigned long long)fsize, (unsigned long long)h->plain);
	return 0;
}

int pt__object_read_src(const pt__objsrc *src, const uint8_t id[32], void *dst, size_t len,
			pt__object_scratch *s)
{
	if (!src || !id || (!dst && len))
		return pt__err(PT_EINVAL, "pt__object_read: NULL argument");
	pt__object_scratch local = {0};
	if (!s)
		s = &local;
	obj_header h;
	int rc = obj_header_src(src, &h);
	if (!rc)
		rc = decode_fd(src->fd, src->name, &h, src->base, src->size, id, dst, len, s);
	pt__object_scratch_free(&local);
	return rc;
}

int pt__object_verify_file(const char *path, const uint8_t id[32], pt__object_scratch *s)
{
	pt__object_scratch local = {0};
	if (!s)
		s = &local;
	uint8_t *buf = NULL;
	obj_header h;
	int rc = 0;
	int fd = pt__open_store_member(path, O_RDONLY);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open %s", path);
	struct stat sb;
	uint8_t hb[PT_OBJECT_HEADER_LEN];
	if (fstat(fd, &sb) < 0) {
		rc = pt__err_errno(errno, "cannot stat %s", path);
	} else if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < PT_OBJECT_HEADER_LEN) {
		rc = pt__err(PT_ECORRUPT, "%s: not an object file (%lld bytes)", path, (long long)sb.st_size);
	} else if (!(rc = pt__pread_all(fd, hb, sizeof hb, 0, path)) && !(rc = header_parse(&h, hb, path)) &&
		   !(rc = sizes_plausible(path, &h, (uint64_t)sb.st_size))) {
		if (!(buf = pt__malloc(h.plain ? (size_t)h.plain : 1)))
			rc = PT_ENOMEM;
		else
			rc = decode_fd(fd, path, &h, 0, (uint64_t)sb.st_size, id, buf, (size_t)h.plain, s);
	}
	close(fd);
	pt__free(buf);
	pt__object_scratch_free(&local);
	return rc;
}

int pt__object_get_src(const pt__objsrc *src, const uint8_t id[32], uint8_t **out, size_t *out_len)
{
	if (!src || !id || !out || !out_len)
		return pt__err(PT_EINVAL, "pt__object_get: NULL argument");
	*out = NULL;
	*out_len = 0;
	uint64_t plain = 0;
	int rc = pt__object_stat_src(src, &plain, NULL);
	if (rc)
		return rc;
	uint8_t *buf = pt__malloc((size_t)plain + 1);
	if (!buf)
		return PT_ENOMEM;
	rc = pt__object_read_src(src, id, buf, (size_t)plain, NULL);
	if (rc) {
		pt__free(buf);
		return rc;
	}
	buf[plain] = 0;
	*out = buf;
	*out_len = (size_t)plain;
	return 0;
}

int pt__object_remove(const pt_store *st, const uint8_t id[32])
{
	char *p = pt__object_path(st, id);
	if (!p)
		return PT_ENOMEM;
	int rc = 0;
	if (pt__unlink_in(st->path, p) < 0 && errno != ENOENT)
		rc = pt__err_errno(errno, "cannot remove %s", p);
	pt__free(p);
	return rc;
}

static int hexdigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

int pt__object_walk(const pt_store *st, pt__object_cb cb, pt__object_tmp_cb tmp_cb, void *payload)
{
	char *root = pt__sprintf("%s/objects", st->path);
	if (!root)
		return PT_ENOMEM;
	char **dirs = NULL;
	size_t nd = 0;
	int rc = 0;
	if (!pt__is_dir_in(st->path, root))
		goto done;
	if ((rc = pt__list_dir_in(st->path, root, NULL, &dirs, &nd)))
		goto done;
	for (size_t i = 0; i < nd && !rc; i++) {
		if (strlen(dirs[i]) != 2 || !hexdigit(dirs[i][0]) || !hexdigit(dirs[i][1]))
			continue;
		char *d = pt__sprintf("%s/%s", root, dirs[i]);
		char **files = NULL;
		size_t nf = 0;
		if (!d) {
			rc = PT_ENOMEM;
			break;
		}
		if (!pt__is_dir_in(st->path, d) || (rc = pt__list_dir_in(st->path, d, NULL, &files, &nf))) {
			pt__free(d);
			continue;
		}
		for (size_t k = 0; k < nf && !rc; k++) {
			char *p = pt__sprintf("%s/%s", d, files[k]);
			if (!p) {
				rc = PT_ENOMEM;
				break;
			}
			if (!strncmp(files[k], TMP_PREFIX, strlen(TMP_PREFIX))) {
				if (tmp_cb)
					rc = tmp_cb(p, payload);
			} else {
				char hex[PT_SHA256_HEX];
				uint8_t id[32];
				snprintf(hex, sizeof hex, "%s%s", dirs[i], files[k]);
				if (strlen(files[k]) == 62 && !pt__unhex(hex, id, 32) && cb)
					rc = cb(id, p, payload);
			}
			pt__free(p);
		}
		pt_strv_free(files, nf);
		pt__free(d);
	}
done:
	pt_strv_free(dirs, nd);
	pt__free(root);
	return rc;
}
