/*
 * rstore.c - a store read in place from a bucket (format/rstore_int.h).
 */
#include "base/base_int.h"
#include "base/s3_int.h"
#include "format/bucket_int.h"
#include "format/objects_int.h"
#include "format/rstore_int.h"
#include "format/segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

struct pt__rstore {
	pt__s3 *s3;
	pthread_mutex_t mu; /* one connection, shared by the store's readers */
	char *url;
};

void pt__rstore_free(struct pt__rstore *r)
{
	if (!r)
		return;
	pt__s3_free(r->s3);
	pthread_mutex_destroy(&r->mu);
	pt__free(r->url);
	pt__free(r);
}

int pt__rstore_refuse_write(const pt_store *st, const char *what)
{
	if (st && st->remote)
		return pt__err(PT_EINVAL, "%s: the store %s is read in place from a bucket and is read-only (record "
					  "into a local store and `provtrace push`)",
			       what, st->remote->url);
	return 0;
}

/* Paths in the cache (not store.c's helpers: store.c calls this file, so this file calls nothing there). */
static char *sdir_of(const pt_store *st, const char *run, const char *stream)
{
	return pt__sprintf("%s/runs/%s/%s", st->path, run, stream);
}

static char *cache_root(void)
{
	const char *v = getenv("PROVTRACE_CACHE_DIR");
	if (v && *v)
		return pt__strdup(v);
	v = getenv("XDG_CACHE_HOME");
	if (v && *v)
		return pt__sprintf("%s/provtrace", v);
	v = getenv("HOME");
	if (v && *v)
		return pt__sprintf("%s/.cache/provtrace", v);
	return pt__sprintf("/tmp/provtrace-cache-%u", (unsigned)getuid());
}

/* GET `key` into `path` (below the cache) through a temporary file; `check` validates the file. */
typedef int (*check_fn)(int fd, uint64_t len, const void *arg, const char *key);

static int fetch_file(const pt_store *st, const char *key, const char *path, uint64_t max, check_fn check,
		      const void *arg)
{
	struct pt__rstore *r = st->remote;
	char *dir = pt__strdup(path), *tmp = NULL;
	if (!dir)
		return PT_ENOMEM;
	*strrchr(dir, '/') = 0;
	int rc = pt__mkdir_in(st->path, dir, 0755);
	int fd = rc ? -1 : pt__tmp_in(st->path, dir, ".fetch-", 0644, &tmp);
	if (!rc && fd < 0)
		rc = fd;
	uint64_t len = 0;
	if (!rc) {
		pthread_mutex_lock(&r->mu);
		rc = pt__s3_get_fd(r->s3, key, fd, max, &len);
		pthread_mutex_unlock(&r->mu);
	}
	if (!rc && check)
		rc = check(fd, len, arg, key);
	if (fd >= 0)
		close(fd);
	if (!rc && pt__rename_in(st->path, tmp, path) != 0)
		rc = pt__err_errno(errno, "cache: rename into %s", path);
	if (rc && tmp)
		pt__unlink_in(st->path, tmp);
	pt__free(tmp);
	pt__free(dir);
	return rc;
}

static int check_segment(int fd, uint64_t len, const void *arg, const char *key)
{
	uint8_t h[32];
	int rc = pt__sha256_range(fd, 0, len, h);
	if (!rc && memcmp(h, arg, 32) != 0)
		rc = pt__err(PT_ECORRUPT, "s3 key %s: the bytes do not hash to the segment's name", key);
	return rc;
}

static int check_object(int fd, uint64_t len, const void *arg, const char *key)
{
	pt__objsrc src = {fd, 0, len, (char *)key};
	uint8_t *data = NULL;
	size_t dlen = 0;
	int rc = pt__object_get_src(&src, arg, &data, &dlen);
	pt__free(data);
	if (rc)
		rc = pt__err_wrap(rc, "s3 key %s", key);
	return rc;
}

int pt__rstore_fetch_segment(const pt_store *st, const char *run, const char *stream, const uint8_t id[32])
{
	if (!st->remote)
		return PT_ENOTFOUND;
	char *key = pt__bkey_segment(run, stream, id);
	char *sdir = sdir_of(st, run, stream);
	char *path = sdir ? pt__segment_path(sdir, id) : NULL;
	int rc = key && path ? fetch_file(st, key, path, (uint64_t)4 << 30, check_segment, id) : PT_ENOMEM;
	pt__free(key);
	pt__free(sdir);
	pt__free(path);
	return rc;
}

int pt__rstore_fetch_object(const pt_store *st, const uint8_t id[32])
{
	if (!st->remote)
		return PT_ENOTFOUND;
	char *key = pt__bkey_object(id);
	char *path = pt__object_path(st, id);
	int rc = key && path ? fetch_file(st, key, path, (uint64_t)2 << 30, check_object, id) : PT_ENOMEM;
	pt__free(key);
	pt__free(path);
	return rc;
}

/* The metadata: streams, chains (new records only), snapshot indexes. */
static int sync_meta(pt_store *st)
{
	struct pt__rstore *r = st->remote;
	pt__s3_obj *v = NULL;
	size_t n = 0;
	int rc = pt__s3_list(r->s3, "runs/", PT_BUCKET_MAX_KEYS, &v, &n);
	for (size_t i = 0; i < n && !rc;) {
		/* runs/<run>/<stream>/... : the keys of one stream are adjacent */
		const char *k = v[i].key + 5;
		const char *a = strchr(k, '/'), *b = a ? strchr(a + 1, '/') : NULL;
		if (!a || !b) {
			i++;
			continue;
		}
		size_t plen = (size_t)(b - v[i].key) + 1;
		char *run = pt__strndup(k, (size_t)(a - k)), *stream = pt__strndup(a + 1, (size_t)(b - a - 1));
		size_t j = i, records = 0;
		int64_t snap_size = -1;
		while (j < n && !strncmp(v[j].key, v[i].key, plen)) {
			const char *rest = v[j].key + plen;
			if (!strncmp(rest, "chain/", 6))
				records++;
			else if (!strcmp(rest, "snapshots"))
				snap_size = (int64_t)v[j].size;
			j++;
		}
		if (!run || !stream) {
			rc = PT_ENOMEM;
		} else if (!pt__bucket_name_ok(run) || !pt__bucket_name_ok(stream)) {
			rc = pt__err(PT_ECORRUPT, "bucket key %s: not a valid run/stream name", v[i].key);
		} else if (records) {
			char *sdir = sdir_of(st, run, stream);
			char *segs = sdir ? pt__sprintf("%s/segments", sdir) : NULL;
			pt__chain ch;
			memset(&ch, 0, sizeof ch);
			if (!segs)
				rc = PT_ENOMEM;
			if (!rc)
				rc = pt__mkdir_in(st->path, segs, 0755);
			if (!rc)
				rc = pt__chain_load(sdir, &ch);
			if (!rc && ch.n > records)
				rc = pt__err(PT_ECORRUPT,
					     "bucket stream %s/%s has %zu chain records, fewer than the %zu already read "
					     "from it (records were deleted)",
					     run, stream, records, ch.n);
			size_t had = ch.n;
			pt__buf body = {0};
			for (size_t m = ch.n; m < records && !rc; m++) {
				char *key = pt__bkey_chainrec(run, stream, m);
				uint8_t *data = NULL;
				size_t len = 0;
				pt__chain_entry e;
				rc = key ? pt__s3_get(r->s3, key, 0, 0, 4096, &data, &len, NULL) : PT_ENOMEM;
				if (rc == PT_ENOTFOUND)
					rc = pt__err(PT_ECORRUPT, "bucket stream %s/%s: chain record %zu is missing", run,
						     stream, m);
				if (!rc)
					rc = pt__bucket_chainrec_decode(data, len, m, key, &e);
				if (!rc)
					rc = pt__chain_append(&ch, &e);
				pt__free(data);
				pt__free(key);
			}
			pt__buf_free(&body);
			if (!rc && ch.n != had)
				rc = pt__chain_store(sdir, &ch);
			pt__chain_free(&ch);
			if (!rc && snap_size >= 0) {
				char *sp = pt__sprintf("%s/snapshots", sdir);
				struct stat sb;
				if (!sp)
					rc = PT_ENOMEM;
				else if (pt__stat_in(st->path, sp, &sb) != 0 || sb.st_size != snap_size) {
					char *key = pt__bkey_stream(run, stream, "snapshots");
					rc = key ? fetch_file(st, key, sp, 64u << 20, NULL, NULL) : PT_ENOMEM;
					pt__free(key);
				}
				pt__free(sp);
			}
			pt__free(segs);
			pt__free(sdir);
		}
		pt__free(run);
		pt__free(stream);
		i = j;
	}
	pt__s3_list_free(v, n);
	return rc;
}

int pt__rstore_connect(const char *url, struct pt__rstore **out, char **cache_dir)
{
	*out = NULL;
	*cache_dir = NULL;
	struct pt__rstore *r = pt__calloc(1, sizeof *r);
	if (!r)
		return PT_ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	char *root = NULL, *dir = NULL;
	int rc = 0;
	if (!(r->url = pt__strdup(url))) {
		rc = PT_ENOMEM;
		goto done;
	}
	{
		size_t l = strlen(r->url);
		while (l > 5 && r->url[l - 1] == '/')
			r->url[--l] = 0;
	}
	if ((rc = pt__s3_open(&r->s3, r->url, NULL, NULL, NULL)) || (rc = pt__bucket_marker(r->s3, false)))
		goto done;
	/* one cache directory per endpoint and URL */
	pt__buf id = {0};
	uint8_t h[32];
	char hex[PT_SHA256_HEX];
	if (pt__buf_printf(&id, "%s\n%s", pt__http_endpoint_of_s3(r->s3), r->url)) {
		pt__buf_free(&id);
		rc = PT_ENOMEM;
		goto done;
	}
	pt__sha256(id.data, id.len, h);
	pt__buf_free(&id);
	pt__hex(h, 16, hex);
	if (!(root = cache_root()) || !(dir = pt__sprintf("%s/remote-%s", root, hex))) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__mkdir_p(root, 0700);
done:
	pt__free(root);
	if (rc) {
		pt__rstore_free(r);
		pt__free(dir);
		return rc;
	}
	*out = r;
	*cache_dir = dir;
	return 0;
}

int pt__rstore_sync(pt_store *st)
{
	int rc = sync_meta(st);
	if (rc)
		rc = pt__err_wrap(rc, "reading %s", st->remote->url);
	return rc;
}

int pt_store_remote_stats(const pt_store *st, pt_push_stats *out)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_store_remote_stats: NULL out");
	memset(out, 0, sizeof *out);
	if (!st || !st->remote)
		return pt__err(PT_EINVAL, "not a store read from a bucket");
	pthread_mutex_lock(&st->remote->mu);
	const pt__http_stats *hs = pt__s3_stats(st->remote->s3);
	out->requests = hs->requests;
	out->retries = hs->retries;
	out->bytes = hs->bytes_in;
	pthread_mutex_unlock(&st->remote->mu);
	return 0;
}
