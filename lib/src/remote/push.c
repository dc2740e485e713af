/*
 * push.c - pt_push: upload what a bucket lacks (provtrace/remote.h,
 * docs/REMOTE.md).  Order makes a killed push safe to resume: objects,
 * segments and cuts first (any order, in parallel, create-only), then each
 * stream's chain records in order (create-only), then its snapshot index.
 * A chain record therefore never names a segment, and a segment never
 * references an object, that the bucket does not hold.
 */
#include "base/base_int.h"
#include "checkpoint/checkpoint_int.h"
#include "format/bucket_int.h"
#include "log/history_int.h"
#include "remote/remote_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { IT_OBJECT, IT_SEGMENT, IT_CUT };

typedef struct {
	int kind;
	size_t stream;
	uint8_t id[32];
	char *key;
	char *name; /* IT_CUT: the file's name */
} item;

typedef struct {
	char *run, *stream, *dir;
	pt__history h;
	bool loaded;
	size_t remote_records; /* chain records the listing showed */
	bool remote_snapshots;
	uint64_t remote_snapshots_size;
} pstream;

typedef struct {
	const pt_store *st;
	pstream *s;
	size_t ns;
	item *it;
	size_t nit, capit;
	pt__s3_obj *remote;
	size_t nremote;
	uint64_t bytes, uploaded, present, done;
} pctx;

static bool remote_has(const pctx *c, const char *key, uint64_t *size)
{
	size_t lo = 0, hi = c->nremote;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(c->remote[mid].key, key);
		if (d == 0) {
			if (size)
				*size = c->remote[mid].size;
			return true;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static size_t remote_count_prefix(const pctx *c, const char *prefix)
{
	size_t pl = strlen(prefix), n = 0;
	size_t lo = 0, hi = c->nremote;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(c->remote[mid].key, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < c->nremote && !strncmp(c->remote[i].key, prefix, pl); i++)
		n++;
	return n;
}

static int add_item(pctx *c, int kind, size_t stream, const uint8_t *id, char *key, char *name)
{
	if (!key)
		return PT_ENOMEM;
	if (remote_has(c, key, NULL)) {
		c->present++;
		pt__free(key);
		pt__free(name);
		return 0;
	}
	if (c->nit == c->capit) {
		size_t nc = c->capit ? c->capit * 2 : 256;
		item *v = pt__realloc(c->it, nc * sizeof *v);
		if (!v) {
			pt__free(key);
			pt__free(name);
			return PT_ENOMEM;
		}
		c->it = v;
		c->capit = nc;
	}
	item *t = &c->it[c->nit++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->stream = stream;
	if (id)
		memcpy(t->id, id, 32);
	t->key = key;
	t->name = name;
	return 0;
}

static int upload_item(pt__s3 *s3, size_t i, void *payload)
{
	pctx *c = payload;
	item *t = &c->it[i];
	int rc = 0, fd = -1;
	uint64_t base = 0, size = 0;
	pt__objsrc os = PT_OBJSRC_INIT;
	pt__segsrc ss = PT_SEGSRC_INIT;
	char *path = NULL;
	if (t->kind == IT_OBJECT) {
		if ((rc = pt__history_open_object(c->st, t->id, &os)))
			goto done;
		fd = os.fd, base = os.base, size = os.size;
	} else if (t->kind == IT_SEGMENT) {
		if ((rc = pt__history_open_id(&c->s[t->stream].h, t->id, &ss)))
			goto done;
		fd = ss.fd, base = ss.base, size = ss.size;
	} else {
		if (!(path = pt__sprintf("%s/cut/%s", c->s[t->stream].dir, t->name))) {
			rc = PT_ENOMEM;
			goto done;
		}
		fd = pt__open_in(c->st->path, path, O_RDONLY, 0);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) != 0) {
			rc = pt__err_errno(errno, "push: cannot open %s", path);
			goto done;
		}
		size = (uint64_t)sb.st_size;
	}
	rc = pt__s3_put(s3, t->key, NULL, fd, base, size, PT_S3_CREATE_ONLY, NULL, NULL);
	if (rc == PT_EEXISTS) {
		/* another pusher created it meanwhile: content-addressed, so the same bytes */
		pt__err_clear();
		rc = 0;
		__atomic_fetch_add(&c->present, 1, __ATOMIC_RELAXED);
	} else if (!rc) {
		__atomic_fetch_add(&c->uploaded, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->bytes, size, __ATOMIC_RELAXED);
	}
done:
	pt__objsrc_close(&os);
	pt__segsrc_close(&ss);
	if (t->kind == IT_CUT && fd >= 0)
		close(fd);
	pt__free(path);
	return rc;
}

/* Record n of the bucket against the local entry; PT_EEXISTS when they differ. */
static int same_record(pt__s3 *s3, const pstream *p, uint64_t n, const pt__chain_entry *local)
{
	char *key = pt__bkey_chainrec(p->run, p->stream, n);
	if (!key)
		return PT_ENOMEM;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = pt__s3_get(s3, key, 0, 0, 4096, &body, &len, NULL);
	pt__chain_entry e;
	if (!rc)
		rc = pt__bucket_chainrec_decode(body, len, n, key, &e);
	if (!rc && memcmp(e.id, local->id, 32) != 0) {
		char a[PT_SHA256_HEX], b[PT_SHA256_HEX];
		pt__hex(e.id, 32, a);
		pt__hex(local->id, 32, b);
		rc = pt__err(PT_EEXISTS,
			     "push: the bucket's stream %s/%s has a different segment %llu (%.16s..., here %.16s...): "
			     "another writer's history under the same run and stream; nothing of this stream was "
			     "overwritten",
			     p->run, p->stream, (unsigned long long)n, a, b);
	}
	pt__free(body);
	pt__free(key);
	return rc;
}

static int push_stream_meta(pt__s3 *s3, size_t i, void *payload)
{
	pctx *c = payload;
	pstream *p = &c->s[i];
	const pt__chain *ch = &p->h.chain;
	size_t local = p->h.chained;
	size_t r = p->remote_records;
	int rc = 0;
	/* the bucket's last record we build on (or our last, when it is ahead) must be ours */
	if (r > 0 && local > 0) {
		size_t k = (r < local ? r : local) - 1;
		if ((rc = same_record(s3, p, k, &ch->v[k])))
			return rc;
	}
	pt__buf b = {0};
	for (size_t n = r; n < local && !rc; n++) {
		b.len = 0;
		char *key = pt__bkey_chainrec(p->run, p->stream, n);
		if (!key || pt__bucket_chainrec_encode(&b, &ch->v[n])) {
			pt__free(key);
			rc = PT_ENOMEM;
			break;
		}
		rc = pt__s3_put(s3, key, b.data, -1, 0, b.len, PT_S3_CREATE_ONLY, NULL, NULL);
		pt__free(key);
		if (rc == PT_EEXISTS) {
			pt__err_clear();
			rc = same_record(s3, p, n, &ch->v[n]);
			if (!rc)
				__atomic_fetch_add(&c->present, 1, __ATOMIC_RELAXED);
		} else if (!rc) {
			__atomic_fetch_add(&c->uploaded, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&c->bytes, b.len, __ATOMIC_RELAXED);
		}
	}
	pt__buf_free(&b);
	if (rc)
		return rc;
	/* the snapshot index: a cache, replaced when it grew */
	char *path = pt__sprintf("%s/snapshots", p->dir);
	if (!path)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	rc = pt__read_file_in(c->st->path, path, 64u << 20, &data, &len);
	pt__free(path);
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (!p->remote_snapshots || p->remote_snapshots_size != len) {
		char *key = pt__bkey_stream(p->run, p->stream, "snapshots");
		rc = key ? pt__s3_put(s3, key, data, -1, 0, len, 0, NULL, NULL) : PT_ENOMEM;
		pt__free(key);
		if (!rc) {
			__atomic_fetch_add(&c->uploaded, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&c->bytes, len, __ATOMIC_RELAXED);
		}
	}
	pt__free(data);
	return rc;
}

static int list_remote(pt__s3 *s3, const char *only_run, pctx *c)
{
	pt__s3_obj *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	char *runs = only_run ? pt__sprintf("runs/%s/", only_run) : pt__strdup("runs/");
	if (!runs)
		return PT_ENOMEM;
	int rc = pt__s3_list(s3, "objects/", PT_BUCKET_MAX_KEYS, &a, &na);
	if (!rc)
		rc = pt__s3_list(s3, runs, PT_BUCKET_MAX_KEYS, &b, &nb);
	pt__free(runs);
	if (rc) {
		pt__s3_list_free(a, na);
		pt__s3_list_free(b, nb);
		return rc;
	}
	/* "objects/..." < "runs/...": the concatenation is sorted */
	pt__s3_obj *v = pt__realloc(a, (na + nb + 1) * sizeof *v);
	if (!v) {
		pt__s3_list_free(a, na);
		pt__s3_list_free(b, nb);
		return PT_ENOMEM;
	}
	if (nb)
		memcpy(v + na, b, nb * sizeof *b);
	pt__free(b);
	c->remote = v;
	c->nremote = na + nb;
	return 0;
}

int pt_push(const pt_store *st, const char *remote, const pt_push_options *opts, pt_push_stats *stats)
{
	pt_push_stats zs;
	memset(&zs, 0, sizeof zs);
	if (stats)
		*stats = zs;
	if (!st || !remote)
		return pt__err(PT_EINVAL, "pt_push: NULL store or remote");
	if (opts && opts->version != PT_PUSH_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "push options version %u is not supported", opts->version);
	const char *only_run = opts ? opts->run : NULL;
	if (only_run && pt_name_check("run", only_run))
		return PT_EINVAL;
	pt_remote keep;
	pt__remote_where w;
	int rc = pt__remote_resolve(st, remote, opts, &keep, &w);
	if (rc)
		return rc;
	pctx c;
	memset(&c, 0, sizeof c);
	c.st = st;
	pt__s3 *s3 = NULL;
	pt__idset live;
	memset(&live, 0, sizeof live);
	char **runs = NULL;
	size_t nruns = 0;
	unsigned jobs = opts ? opts->jobs : 0;

	if ((rc = pt__s3_open(&s3, w.url, w.endpoint, w.region, NULL)))
		goto done;
	if ((rc = pt__bucket_marker(s3, true)) || (rc = pt__bucket_probe(s3)))
		goto done;

	/* what is here */
	if (only_run) {
		if (!(runs = pt__calloc(1, sizeof *runs)) || !(runs[0] = pt__strdup(only_run))) {
			rc = PT_ENOMEM;
			goto done;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		goto done;
	}
	for (size_t i = 0; i < nruns && !rc; i++) {
		char **ss = NULL;
		size_t n = 0;
		if ((rc = pt_store_streams(st, runs[i], &ss, &n)))
			break;
		pstream *v = pt__realloc(c.s, (c.ns + n + 1) * sizeof *v);
		if (!v) {
			pt_strv_free(ss, n);
			rc = PT_ENOMEM;
			break;
		}
		c.s = v;
		for (size_t k = 0; k < n && !rc; k++) {
			pstream *p = &c.s[c.ns];
			memset(p, 0, sizeof *p);
			p->run = pt__strdup(runs[i]);
			p->stream = pt__strdup(ss[k]);
			p->dir = pt__stream_dir(st, runs[i], ss[k]);
			c.ns++;
			if (!p->run || !p->stream || !p->dir)
				rc = PT_ENOMEM;
			else if (!(rc = pt__history_load(&p->h, st, runs[i], ss[k], false)))
				p->loaded = true;
		}
		pt_strv_free(ss, n);
	}
	if (rc)
		goto done;

	/* what is there */
	if ((rc = list_remote(s3, only_run, &c)))
		goto done;
	for (size_t i = 0; i < c.ns && !rc; i++) {
		pstream *p = &c.s[i];
		char *pre = pt__sprintf("runs/%s/%s/chain/", p->run, p->stream);
		if (!pre) {
			rc = PT_ENOMEM;
			break;
		}
		p->remote_records = remote_count_prefix(&c, pre);
		pt__free(pre);
	}
	/*
	 * The objects to consider.  A push uploads every object a segment's
	 * events reference before that segment's chain record, so the objects
	 * of history the bucket already lists are there: only the events after
	 * the bucket's last record are walked, unless `full` asks to check all.
	 */
	if (opts && opts->full) {
		rc = pt__objects_live(st, only_run, &live);
	} else {
		for (size_t i = 0; i < c.ns && !rc; i++) {
			pstream *p = &c.s[i];
			size_t r = p->remote_records < p->h.chained ? p->remote_records : p->h.chained;
			uint64_t from = r ? p->h.chain.v[r - 1].last_seq + 1 : 0;
			rc = pt__objects_live_stream(st, p->run, p->stream, from, &live);
		}
	}
	if (rc)
		goto done;

	/* what to upload */
	for (size_t k = 0; k < live.cap && !rc; k++)
		if (live.used[k])
			rc = add_item(&c, IT_OBJECT, 0, live.ids + 32 * k, pt__bkey_object(live.ids + 32 * k), NULL);
	for (size_t i = 0; i < c.ns && !rc; i++) {
		pstream *p = &c.s[i];
		for (size_t n = 0; n < p->h.chained && !rc; n++)
			rc = add_item(&c, IT_SEGMENT, i, p->h.chain.v[n].id,
				      pt__bkey_segment(p->run, p->stream, p->h.chain.v[n].id), NULL);
		char *cutdir = rc ? NULL : pt__sprintf("%s/cut", p->dir);
		char **cuts = NULL;
		size_t ncut = 0;
		if (!rc && !cutdir)
			rc = PT_ENOMEM;
		if (!rc && pt__is_dir_in(st->path, cutdir))
			rc = pt__list_dir_in(st->path, cutdir, NULL, &cuts, &ncut);
		for (size_t k = 0; k < ncut && !rc; k++) {
			char *f = pt__sprintf("cut/%s", cuts[k]);
			rc = add_item(&c, IT_CUT, i, NULL, f ? pt__bkey_stream(p->run, p->stream, f) : NULL,
				      pt__strdup(cuts[k]));
			pt__free(f);
		}
		pt_strv_free(cuts, ncut);
		pt__free(cutdir);
		if (rc)
			break;
		char *snap = pt__bkey_stream(p->run, p->stream, "snapshots");
		if (!snap)
			rc = PT_ENOMEM;
		else
			p->remote_snapshots = remote_has(&c, snap, &p->remote_snapshots_size);
		pt__free(snap);
	}
	if (rc)
		goto done;

	pt_push_stats ps;
	memset(&ps, 0, sizeof ps);
	uint64_t total = c.nit;
	for (size_t i = 0; i < c.ns; i++)
		if (c.s[i].h.chained > c.s[i].remote_records)
			total += c.s[i].h.chained - c.s[i].remote_records;
	uint64_t records_before = 0;
	for (size_t i = 0; i < c.ns; i++)
		records_before += c.s[i].remote_records < c.s[i].h.chained ? c.s[i].remote_records : c.s[i].h.chained;
	c.present += records_before;
	if ((rc = pt__remote_pool(&w, jobs, c.nit, upload_item, &c, opts, &c.done, total, &c.bytes, &ps)))
		goto done;
	rc = pt__remote_pool(&w, jobs, c.ns, push_stream_meta, &c, opts, &c.done, total, &c.bytes, &ps);
	if (stats) {
		const pt__http_stats *hs = pt__s3_stats(s3);
		stats->streams = c.ns;
		stats->transferred = c.uploaded;
		stats->present = c.present;
		stats->items = c.uploaded + c.present;
		stats->bytes = c.bytes;
		stats->requests = ps.requests + hs->requests;
		stats->retries = ps.retries + hs->retries;
	}
done:
	for (size_t i = 0; i < c.ns; i++) {
		if (c.s[i].loaded)
			pt__history_free(&c.s[i].h);
		pt__free(c.s[i].run);
		pt__free(c.s[i].stream);
		pt__free(c.s[i].dir);
	}
	pt__free(c.s);
	for (size_t i = 0; i < c.nit; i++) {
		pt__free(c.it[i].key);
		pt__free(c.it[i].name);
	}
	pt__free(c.it);
	pt__s3_list_free(c.remote, c.nremote);
	pt__idset_free(&live);
	pt_strv_free(runs, nruns);
	pt__s3_free(s3);
	pt_remote_clear(&keep);
	return rc;
}
