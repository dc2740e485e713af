/*
 * clone.c - pt_clone: a full local store from a bucket, every byte checked
 * (provtrace/remote.h, docs/REMOTE.md).  Each file is downloaded into a
 * temporary file beside its place, checked against its content address
 * (a segment's SHA-256 is its name; an object's plain bytes hash to its
 * id), then renamed into place; chain files are written last, from the
 * bucket's chain records; then pt_verify checks the whole store.
 */
#include "base/base_int.h"
#include "format/objects_int.h"
#include "format/bucket_int.h"
#include "remote/remote_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CL_OBJECT, CL_SEGMENT, CL_FILE };

typedef struct {
	int kind;
	char *key;  /* bucket key (relative to the prefix) */
	char *path; /* local path (absolute) */
	char *dir;  /* its directory */
	uint8_t id[32];
	uint64_t size;
} citem;

typedef struct {
	char *run, *stream;
	pt__chain chain;
} cstream;

typedef struct {
	pt_store *st;
	cstream *s;
	size_t ns;
	citem *it;
	size_t nit, cap;
	uint64_t bytes, done, got;
} cctx;

static int add(cctx *c, int kind, char *key, char *path, const uint8_t *id, uint64_t size)
{
	if (!key || !path) {
		pt__free(key);
		pt__free(path);
		return PT_ENOMEM;
	}
	if (c->nit == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		citem *v = pt__realloc(c->it, nc * sizeof *v);
		if (!v) {
			pt__free(key);
			pt__free(path);
			return PT_ENOMEM;
		}
		c->it = v;
		c->cap = nc;
	}
	citem *t = &c->it[c->nit++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->key = key;
	t->path = path;
	char *slash = strrchr(path, '/');
	t->dir = pt__strndup(path, (size_t)(slash - path));
	if (id)
		memcpy(t->id, id, 32);
	t->size = size;
	return t->dir ? 0 : PT_ENOMEM;
}

static int fetch(pt__s3 *s3, size_t i, void *payload)
{
	cctx *c = payload;
	citem *t = &c->it[i];
	const char *root = c->st->path;
	char *tmp = NULL;
	int rc = pt__mkdir_in(root, t->dir, 0755);
	if (rc)
		return rc;
	int fd = pt__tmp_in(root, t->dir, ".clone-", 0644, &tmp);
	if (fd < 0)
		return fd;
	uint64_t len = 0;
	/* the listing gave the size: a larger answer is refused while it arrives */
	rc = pt__s3_get_fd(s3, t->key, fd, t->size, &len);
	if (!rc && len != t->size)
		rc = pt__err(PT_ECORRUPT, "clone: s3 key %s: %llu bytes, the listing said %llu", t->key,
			     (unsigned long long)len, (unsigned long long)t->size);
	if (!rc && t->kind == CL_SEGMENT) {
		uint8_t h[32];
		if (!(rc = pt__sha256_range(fd, 0, len, h)) && memcmp(h, t->id, 32) != 0)
			rc = pt__err(PT_ECORRUPT, "clone: s3 key %s: the bytes do not hash to the segment's name",
				     t->key);
	} else if (!rc && t->kind == CL_OBJECT) {
		pt__objsrc src = {fd, 0, len, t->key};
		uint8_t *data = NULL;
		size_t dlen = 0;
		rc = pt__object_get_src(&src, t->id, &data, &dlen);
		pt__free(data);
		if (rc)
			rc = pt__err_wrap(rc, "clone: s3 key %s", t->key);
	}
	if (!rc && fdatasync(fd) != 0)
		rc = pt__err_errno(errno, "clone: fdatasync %s", t->path);
	close(fd);
	if (!rc && pt__rename_in(root, tmp, t->path) != 0)
		rc = pt__err_errno(errno, "clone: rename into %s", t->path);
	if (rc)
		pt__unlink_in(root, tmp);
	pt__free(tmp);
	if (!rc) {
		__atomic_fetch_add(&c->bytes, len, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->got, 1, __ATOMIC_RELAXED);
	}
	return rc;
}

static int load_chain(pt__s3 *s3, size_t i, void *payload)
{
	cctx *c = payload;
	return pt__bucket_chain_load(s3, c->s[i].run, c->s[i].stream, &c->s[i].chain);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int pt_clone(const char *url, const char *dir, const pt_push_options *opts, pt_push_stats *stats)
{
	pt_push_stats ps;
	memset(&ps, 0, sizeof ps);
	if (stats)
		*stats = ps;
	if (!url || !dir)
		return pt__err(PT_EINVAL, "pt_clone: NULL URL or directory");
	if (opts && opts->version != PT_PUSH_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "clone options version %u is not supported", opts->version);
	const char *only_run = opts ? opts->run : NULL;
	if (only_run && pt_name_check("run", only_run))
		return PT_EINVAL;
	pt__remote_where w;
	pt_remote keep;
	int rc = pt__remote_resolve(NULL, url, opts, &keep, &w);
	if (rc)
		return rc;
	cctx c;
	memset(&c, 0, sizeof c);
	pt__s3 *s3 = NULL;
	pt__bucket_stream *bs = NULL;
	size_t nbs = 0;
	pt__s3_obj *objs = NULL, *files = NULL;
	size_t nobjs = 0, nfiles = 0;
	unsigned jobs = opts ? opts->jobs : 0;

	if ((rc = pt__s3_open(&s3, w.url, w.endpoint, w.region, NULL)) || (rc = pt__bucket_marker(s3, false)))
		goto done;
	if (pt__exists(dir)) {
		char **ents = NULL;
		size_t ne = 0;
		if (!pt__is_dir(dir)) {
			rc = pt__err(PT_EEXISTS, "clone: %s exists and is not a directory", dir);
			goto done;
		}
		if ((rc = pt__list_dir(dir, NULL, &ents, &ne)))
			goto done;
		pt_strv_free(ents, ne);
		if (ne) {
			rc = pt__err(PT_EEXISTS, "clone: %s is not empty", dir);
			goto done;
		}
	}
	if ((rc = pt_store_init(&c.st, dir)))
		goto done;

	/* streams and their chains */
	if ((rc = pt__bucket_streams(s3, only_run, &bs, &nbs)))
		goto done;
	if (!(c.s = pt__calloc(nbs + 1, sizeof *c.s))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < nbs; i++) {
		c.s[i].run = bs[i].run;
		c.s[i].stream = bs[i].stream;
		bs[i].run = bs[i].stream = NULL;
	}
	c.ns = nbs;
	uint64_t zero = 0;
	if ((rc = pt__remote_pool(&w, jobs, c.ns, load_chain, &c, NULL, &zero, 0, NULL, &ps)))
		goto done;

	/* what to download: the chains' segments, cuts and snapshot indexes, the objects */
	char *runs = only_run ? pt__sprintf("runs/%s/", only_run) : pt__strdup("runs/");
	if (!runs) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__s3_list(s3, runs, PT_BUCKET_MAX_KEYS, &files, &nfiles);
	pt__free(runs);
	if (rc || (rc = pt__s3_list(s3, "objects/", PT_BUCKET_MAX_KEYS, &objs, &nobjs)))
		goto done;
	for (size_t i = 0; i < c.ns && !rc; i++) {
		cstream *p = &c.s[i];
		char *sdir = pt__stream_dir(c.st, p->run, p->stream);
		if (!sdir) {
			rc = PT_ENOMEM;
			break;
		}
		for (size_t n = 0; n < p->chain.n && !rc; n++) {
			char *key = pt__bkey_segment(p->run, p->stream, p->chain.v[n].id);
			uint64_t size = 0;
			bool found = false;
			for (size_t k = 0; key && k < nfiles; k++)
				if (!strcmp(files[k].key, key)) {
					size = files[k].size, found = true;
					break;
				}
			if (key && !found) {
				rc = pt__err(PT_ENOTFOUND, "clone: the bucket's chain of %s/%s names segment %llu (%s), "
							   "which is not in the bucket",
					     p->run, p->stream, (unsigned long long)n, key);
				pt__free(key);
				break;
			}
			char hex[PT_SHA256_HEX];
			pt__hex(p->chain.v[n].id, 32, hex);
			rc = add(&c, CL_SEGMENT, key, pt__sprintf("%s/segments/%s.ptseg", sdir, hex), p->chain.v[n].id,
				 size);
		}
		/* runs/R/S/cut/<name> and runs/R/S/snapshots */
		char *pre = pt__sprintf("runs/%s/%s/", p->run, p->stream);
		size_t pl = pre ? strlen(pre) : 0;
		for (size_t k = 0; pre && k < nfiles && !rc; k++) {
			if (strncmp(files[k].key, pre, pl) != 0)
				continue;
			const char *rest = files[k].key + pl;
			bool cut = !strncmp(rest, "cut/", 4) && rest[4] && !strchr(rest + 4, '/') &&
				   !pt_name_check("cut file", rest + 4);
			if (!cut && strcmp(rest, "snapshots") != 0)
				continue;
			if (files[k].size > (256u << 20)) {
				rc = pt__err(PT_ELIMIT, "clone: %s is %llu bytes", files[k].key,
					     (unsigned long long)files[k].size);
				break;
			}
			rc = add(&c, CL_FILE, pt__strdup(files[k].key), pt__sprintf("%s/%s", sdir, rest), NULL,
				 files[k].size);
		}
		if (!pre && !rc)
			rc = PT_ENOMEM;
		pt__free(pre);
		pt__free(sdir);
	}
	for (size_t k = 0; k < nobjs && !rc; k++) {
		/* objects/hh/<62 hex> */
		const char *kk = objs[k].key + 8;
		uint8_t id[32];
		char hex[65];
		if (strlen(kk) != 65 || kk[2] != '/' || !is_hex(kk, 2) || !is_hex(kk + 3, 62))
			continue; /* not an object key: ignored, as verify would report it */
		memcpy(hex, kk, 2);
		memcpy(hex + 2, kk + 3, 63);
		if (pt__unhex(hex, id, 32))
			continue;
		rc = add(&c, CL_OBJECT, pt__strdup(objs[k].key), pt__object_path(c.st, id), id, objs[k].size);
	}
	if (rc)
		goto done;
	if ((rc = pt__remote_pool(&w, jobs, c.nit, fetch, &c, opts, &c.done, c.nit, &c.bytes, &ps)))
		goto done;
	for (size_t i = 0; i < c.ns && !rc; i++) {
		char *sdir = pt__stream_dir(c.st, c.s[i].run, c.s[i].stream);
		rc = sdir ? pt__chain_store(sdir, &c.s[i].chain) : PT_ENOMEM;
		pt__free(sdir);
	}
	if (rc)
		goto done;
	pt_verify_stats vs;
	rc = pt_verify(c.st, only_run, NULL, NULL, NULL, &vs);
	if (rc)
		rc = pt__err_wrap(rc, "clone: the new store at %s does not verify", dir);
done:
	if (stats) {
		const pt__http_stats *hs = s3 ? pt__s3_stats(s3) : NULL;
		stats->streams = c.ns;
		stats->items = c.nit;
		stats->transferred = c.got;
		stats->bytes = c.bytes;
		stats->requests = ps.requests + (hs ? hs->requests : 0);
		stats->retries = ps.retries + (hs ? hs->retries : 0);
	}
	for (size_t i = 0; i < c.ns; i++) {
		pt__free(c.s[i].run);
		pt__free(c.s[i].stream);
		pt__chain_free(&c.s[i].chain);
	}
	pt__free(c.s);
	for (size_t i = 0; i < c.nit; i++) {
		pt__free(c.it[i].key);
		pt__free(c.it[i].path);
		pt__free(c.it[i].dir);
	}
	pt__free(c.it);
	pt__bucket_streams_free(bs, nbs);
	pt__s3_list_free(objs, nobjs);
	pt__s3_list_free(files, nfiles);
	pt__s3_free(s3);
	pt_store_free(c.st);
	pt_remote_clear(&keep);
	return rc;
}
