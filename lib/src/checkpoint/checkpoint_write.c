/*
 * checkpoint_write.c - storing checkpoints: chunking, parallel hashing and
 * compression, write ordering, and the asynchronous two-phase mode.
 *
 * One checkpoint = one "session". The thread that runs it (the caller for
 * pt_checkpointer_write, the background thread for snapshots) plans the
 * chunks and hands them to a pool of worker threads, which hash each chunk,
 * skip it if the store has it, and otherwise compress and write it. Chunks
 * of tensors and in-memory blobs point straight into the caller's (or the
 * snapshot's) memory; only grouped small entries and file blobs need
 * buffers of their own, and those count against the memory budget: the
 * planner waits while the bytes held by queued jobs exceed it.
 *
 * Durability order: every new chunk is fdatasync'd and then renamed to its
 * name, by the I/O threads as soon as it is written; once all chunks are
 * in, the manifest is written (fdatasync + rename); then every fan-out
 * directory that received a chunk or the manifest is fsync'd - once each,
 * in parallel on the I/O threads (a file system commits concurrent fsyncs
 * together: with ~150 directories for a first checkpoint of 600 MiB, one
 * after the other cost more than writing the data); only then is the event
 * appended and the recorder flushed.  A chunk renamed before the session
 * fails or the process dies is a complete, synced object nothing refers
 * to (gc removes it after its grace period).  The store's gc lock is held
 * shared throughout.
 */
#include "checkpoint/checkpoint_int.h"

#include "base/fasthash_int.h"
#include "format/objects_int.h"
#include "base/shuffle_int.h"
#include "base/zstdx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_LEN (128u << 10)
#define IO_THREADS 4
#define MANIFEST_LEVEL 3

typedef struct session session;

typedef struct job {
	session *s;
	size_t idx;
	const uint8_t *data;
	size_t len;
	uint8_t *owned; /* buffer to free when done (NULL: borrowed) */
	size_t elem;    /* shuffle element size hint */
	struct job *next;
} job;

/* Work for an I/O thread: a written chunk to fdatasync and rename (dir < 0),
 * or a fan-out directory to fsync (dir = its index, 0..255). */
typedef struct flush_item {
	session *s;
	size_t idx;
	int dir;
	struct flush_item *next;
} flush_item;

typedef struct {
	uint8_t id[32];
	uint32_t len;
	uint64_t disk; /* bytes of the object file */
	int is_new;
	char *tmp; /* written, not yet renamed (durable once its flush item is done) */
	uint8_t fh[16]; /* XXH3-128 of the plain bytes */
} chunk_res;

/* A chunk of the previous checkpoint, by its fast hash (see run_job). */
typedef struct {
	uint8_t fh[16];
	uint32_t len;
	uint8_t id[32];
} fast_entry;

typedef struct {
	uint32_t entry, ext;
	size_t job;
} ext_ref;

struct session {
	pt_checkpointer *cw;
	chunk_res *res;
	size_t nres, capres;
	size_t pending;
	size_t flush_pending; /* chunks written, not yet fdatasync'd */
	uint64_t held_bytes; /* owned buffers of queued jobs */
	int rc;
	char msg[1024];
	uint8_t dirs[32]; /* fan-out directories that received a new chunk */
};

typedef struct task {
	pt_checkpoint *ck; /* entries point into arena */
	uint8_t *arena;
	size_t arena_len;
	int64_t step;
	uint64_t ticket;
	struct task *next;
} task;

struct pt_checkpointer {
	pt_store *st;
	pt_recorder *rec;
	pt_checkpoint_options o;
	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_done, cv_task;
	pthread_t *workers;
	uint32_t nworkers;
	job *qhead, *qtail;
	int stop;
	/*
	 * I/O threads: the fdatasync of each written chunk runs there, so that a
	 * worker never waits for the disk while there is hashing and compression
	 * to do, and several fdatasyncs are in flight at once (the file system
	 * commits them together).
	 */
	pthread_t *flushers;
	uint32_t nflushers;
	flush_item *fhead, *ftail;
	pthread_cond_t cv_flush;
	/* one session at a time */
	pthread_mutex_t session_mu;
	/* async */
	pthread_t bg;
	int bg_started;
	task *thead, *ttail;
	uint32_t inflight;
	uint64_t submitted, completed, failed;
	int err_code;
	char err_msg[1024];
	pt_checkpoint_info last;
	/* a finished snapshot's arena kept for the next one (its pages are
	 * already mapped: copying into it avoids a page fault per 4 KiB) */
	uint8_t *cache;
	size_t cache_len;
	int reserving; /* the background thread is preparing `cache` (snapshot_reserve) */
	/* the chunks of the last checkpoint, sorted by fast hash; replaced only
	 * between sessions, read by the workers during one */
	fast_entry *fast;
	size_t nfast;
};

/* ---- arenas ------------------------------------------------------------------------ */

static uint8_t *arena_alloc(size_t len)
{
	if (!len)
		len = 1;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pt__err_errno(errno, "cannot allocate %zu bytes for a checkpoint snapshot", len);
		return NULL;
	}
#ifdef MADV_HUGEPAGE
	/*
	 * The first snapshot copies into fresh pages: with 4 KiB pages that is one
	 * page fault per 4 KiB (75,000 for 300 MiB, 1.6-2.3 s of stall measured on
	 * a virtual machine where faults are dear); huge pages, where the kernel
	 * allows them on request, cut that 512-fold.  Advice only: ignored if not.
	 */
	if (len >= ((size_t)2 << 20))
		(void)madvise(p, len, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	/* and fault them in with one call rather than one trap per page (Linux 5.14+; advice again) */
	(void)madvise(p, len, MADV_POPULATE_WRITE);
#endif
	return p;
}

static void arena_free(uint8_t *p, size_t len)
{
	if (p)
		munmap(p, len ? len : 1);
}

/* ---- workers ------------------------------------------------------------------------ */

static void session_fail(session *s, int rc)
{
	if (!s->rc) {
		s->rc = rc;
		snprintf(s->msg, sizeof s->msg, "%s", pt_error_last());
	}
}

static size_t pick_shuffle_small(const uint8_t *data, size_t len, size_t elem, int level, uint8_t *tmp,
			   uint8_t *out, size_t outcap)
{
	if (!elem || len < 4 * elem)
		return 0;
	size_t n = len < SAMPLE_LEN ? len : SAMPLE_LEN;
	n -= n % elem;
	size_t a = 0, b = 0;
	pt__shuffle(tmp, data, n, elem);
	if (pt__zstdx_compress(out, outcap, tmp, n, level, PT_ZSTDX_SHUFFLED, &a))
		a = n;
	if (pt__zstdx_compress(out, outcap, data, n, level, PT_ZSTDX_DEFAULT, &b))
		b = n;
	/* float chunks shuffle unless plain zstd is clearly better on the sample (a small
	 * sample understates the shuffled profile: its Huffman tables cost relatively more) */
	return a <= b + b / 16 ? elem : 0;
}

/*
 * Decide on a sample how to store a chunk, so that the whole chunk is
 * compressed at most once: with the byte shuffle (float data where it helps),
 * plain zstd, or not at all (*raw) when the sample shows compression would
 * save less than 1/32 of the bytes - then zstd would run over every byte of
 * the chunk only for the writer to store it raw (random or already
 * compressed data).  Chunks under two samples are just compressed.
 */
static size_t pick_codec(const uint8_t *data, size_t len, size_t elem, int level, uint8_t *tmp, uint8_t *out,
			 size_t outcap, int *raw)
{
	*raw = 0;
	if (len < 2 * SAMPLE_LEN)
		return elem && len >= 4 * elem ? pick_shuffle_small(data, len, elem, level, tmp, out, outcap) : 0;
	size_t n = SAMPLE_LEN;
	if (elem)
		n -= n % elem;
	size_t a = n, b = 0;
	if (elem) {
		pt__shuffle(tmp, data, n, elem);
		if (pt__zstdx_compress(out, outcap, tmp, n, level, PT_ZSTDX_SHUFFLED, &a))
			a = n;
	}
	if (pt__zstdx_compress(out, outcap, data, n, level, PT_ZSTDX_DEFAULT, &b))
		b = n;
	size_t best = a < b ? a : b;
	if (best >= n - n / 32) {
		*raw = 1;
		return 0;
	}
	/* float chunks shuffle unless plain zstd is clearly better on the sample (a small
	 * sample understates the shuffled profile: its Huffman tables cost relatively more) */
	return elem && a <= b + b / 16 ? elem : 0;
}

static void run_job(job *j, pt__object_scratch *scr, uint8_t *tmp, uint8_t *out, size_t outcap)
{
	session *s = j->s;
	pt_checkpointer *cw = s->cw;
	chunk_res r = {0};
	int rc = 0;
	r.len = (uint32_t)j->len;
	/*
	 * Unchanged chunks are the common case (frozen layers, optimizer state
	 * that did not move): a chunk whose XXH3-128 and length match a chunk of
	 * the previous checkpoint is taken to be that chunk, and its SHA-256 is
	 * reused instead of recomputed (about 20x less CPU). Only if its object
	 * is still there; an accidental XXH3-128 collision is a 2^-128 event.
	 */
	pt__fasthash128(j->data, j->len, r.fh);
	const fast_entry *hit = NULL;
	if (!cw->o.always_hash && cw->nfast) {
		size_t lo = 0, hi = cw->nfast;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = memcmp(cw->fast[mid].fh, r.fh, 16);
			if (!c) {
				hit = &cw->fast[mid];
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (hit && hit->len != r.len)
			hit = NULL;
	}
	/*
	 * Dedup: an existing object is reused only if pt__object_check_existing
	 * trusts it (header + size every time, decoded and hashed once per file
	 * per process); one that is absent or damaged is written (over it).
	 */
	if (hit)
		memcpy(r.id, hit->id, 32);
	else
		pt__sha256(j->data, j->len, r.id);
	int ex = pt__object_check_existing(cw->st, r.id, j->len, 1, &r.disk, scr);
	if (ex < 0) {
		rc = ex;
	} else if (ex == 0) {
		if (hit) /* gone or damaged: hash it for real */
			pt__sha256(j->data, j->len, r.id);
		pt__object_wopts o = {.level = cw->o.zstd_level, .try_plain = 1, .no_dirsync = 1, .defer = 1,
				      .replace = !hit /* just checked: absent or damaged */};
		o.shuffle = pick_codec(j->data, j->len, j->elem, o.level, tmp, out, outcap, &o.store_raw);
		rc = pt__object_write(cw->st, r.id, j->data, j->len, &o, scr, &r.disk, &r.tmp);
		r.is_new = r.disk > 0;
	}
	flush_item *fi = NULL;
	if (!rc && r.tmp && !(fi = pt__calloc(1, sizeof *fi)))
		rc = PT_ENOMEM;
	pthread_mutex_lock(&cw->mu);
	if (rc)
		session_fail(s, rc);
	s->res[j->idx] = r;
	if (fi) {
		fi->s = s;
		fi->idx = j->idx;
		fi->dir = -1;
		if (cw->ftail)
			cw->ftail->next = fi;
		else
			cw->fhead = fi;
		cw->ftail = fi;
		s->flush_pending++;
		pthread_cond_signal(&cw->cv_flush);
	}
	if (r.is_new)
		s->dirs[r.id[0] >> 3] |= (uint8_t)(1u << (r.id[0] & 7));
	if (j->owned)
		s->held_bytes -= j->len;
	s->pending--;
	pthread_cond_broadcast(&cw->cv_done);
	pthread_mutex_unlock(&cw->mu);
	pt__free(j->owned);
	pt__free(j);
}

static void *flusher_main(void *arg)
{
	pt_checkpointer *cw = arg;
	for (;;) {
		pthread_mutex_lock(&cw->mu);
		while (!cw->fhead && !cw->stop)
			pthread_cond_wait(&cw->cv_flush, &cw->mu);
		flush_item *fi = cw->fhead;
		if (!fi) {
			pthread_mutex_unlock(&cw->mu);
			break;
		}
		cw->fhead = fi->next;
		if (!cw->fhead)
			cw->ftail = NULL;
		session *s = fi->s;
		int failed = s->rc != 0, rc = 0, published = 0;
		if (fi->dir >= 0) {
			pthread_mutex_unlock(&cw->mu);
			char *d = failed ? NULL : pt__sprintf("%s/objects/%02x", cw->st->path, fi->dir);
			rc = failed ? 0 : d ? pt__fsync_dir(d) : PT_ENOMEM;
			pt__free(d);
		} else {
			/* copied under the lock: the planner may still reallocate res */
			char *path = pt__strdup(s->res[fi->idx].tmp);
			uint8_t id[32];
			memcpy(id, s->res[fi->idx].id, 32);
			pthread_mutex_unlock(&cw->mu);
			if (!path)
				rc = PT_ENOMEM;
			else if (!failed && !(rc = pt__object_sync_tmp(path)))
				rc = pt__object_publish(cw->st, id, path), published = !rc;
			pt__free(path);
		}
		pthread_mutex_lock(&cw->mu);
		if (published) {
			/* renamed: nothing left for the cleanup to remove */
			pt__free(s->res[fi->idx].tmp);
			s->res[fi->idx].tmp = NULL;
		}
		if (rc)
			session_fail(s, rc);
		s->flush_pending--;
		pthread_cond_broadcast(&cw->cv_done);
		pthread_mutex_unlock(&cw->mu);
		pt__free(fi);
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	pt_checkpointer *cw = arg;
	pt__object_scratch scr = {0};
	size_t outcap = pt__zstdx_bound(SAMPLE_LEN);
	uint8_t *tmp = pt__malloc(SAMPLE_LEN), *out = pt__malloc(outcap);
	for (;;) {
		pthread_mutex_lock(&cw->mu);
		while (!cw->qhead && !cw->stop)
			pthread_cond_wait(&cw->cv_job, &cw->mu);
		job *j = cw->qhead;
		if (!j) {
			pthread_mutex_unlock(&cw->mu);
			break;
		}
		cw->qhead = j->next;
		if (!cw->qhead)
			cw->qtail = NULL;
		int failed = j->s->rc != 0;
		pthread_mutex_unlock(&cw->mu);
		if (failed || !tmp || !out) {
			/* the session already failed: drop the job */
			pthread_mutex_lock(&cw->mu);
			if (!tmp || !out)
				session_fail(j->s, pt__err(PT_ENOMEM, "out of memory in a checkpoint worker"));
			if (j->owned)
				j->s->held_bytes -= j->len;
			j->s->pending--;
			pthread_cond_broadcast(&cw->cv_done);
			pthread_mutex_unlock(&cw->mu);
			pt__free(j->owned);
			pt__free(j);
			continue;
		}
		run_job(j, &scr, tmp, out, outcap);
	}
	pt__object_scratch_free(&scr);
	pt__free(tmp);
	pt__free(out);
	return NULL;
}

/* Queue a chunk; waits while owned buffers exceed the budget. Takes `owned`. */
static int submit(session *s, size_t idx, const uint8_t *data, size_t len, uint8_t *owned, size_t elem)
{
	pt_checkpointer *cw = s->cw;
	job *j = pt__calloc(1, sizeof *j);
	if (!j) {
		pt__free(owned);
		return PT_ENOMEM;
	}
	j->s = s;
	j->idx = idx;
	j->data = data;
	j->len = len;
	j->owned = owned;
	j->elem = elem;
	pthread_mutex_lock(&cw->mu);
	while (owned && s->held_bytes && s->held_bytes + len > cw->o.memory_budget && !s->rc)
		pthread_cond_wait(&cw->cv_done, &cw->mu);
	if (owned)
		s->held_bytes += len;
	s->pending++;
	if (cw->qtail)
		cw->qtail->next = j;
	else
		cw->qhead = j;
	cw->qtail = j;
	pthread_cond_signal(&cw->cv_job);
	pthread_mutex_unlock(&cw->mu);
	return 0;
}

/* Reserve the result slot of the next chunk. */
static int new_chunk(session *s, size_t *idx)
{
	pthread_mutex_lock(&s->cw->mu);
	int rc = 0;
	if (s->nres == s->capres) {
		size_t nc = s->capres ? s->capres * 2 : 256;
		chunk_res *nr = pt__realloc(s->res, nc * sizeof *nr);
		if (!nr)
			rc = PT_ENOMEM;
		else {
			s->res = nr;
			s->capres = nc;
		}
	}
	if (!rc) {
		*idx = s->nres++;
		/* zeroed: a job that fails before filling its slot must not leave a
		 * garbage `tmp` for the cleanup at the end of session_run */
		memset(&s->res[*idx], 0, sizeof *s->res);
	}
	pthread_mutex_unlock(&s->cw->mu);
	return rc;
}

/* ---- planning ------------------------------------------------------------------------- */

typedef struct {
	session *s;
	pt__manifest *m;
	ext_ref *refs;
	size_t nrefs, caprefs;
	/* the open group of small entries */
	uint8_t *gbuf;
	size_t glen, gidx;
	size_t gfirst; /* first ref that may belong to the group (pieces of big entries interleave) */
	long gelem; /* -1: empty group */
	size_t chunk_size;
} planner;

static int add_ext(planner *p, uint32_t entry, size_t jobidx, uint32_t chunk_len, uint32_t off,
		   uint32_t len)
{
	pt__mentry *e = &p->m->e[entry];
	pt__extent *ne = pt__realloc(e->ext, (e->next + 1) * sizeof *ne);
	if (!ne)
		return PT_ENOMEM;
	e->ext = ne;
	memset(&ne[e->next], 0, sizeof *ne);
	ne[e->next].chunk_len = chunk_len;
	ne[e->next].off = off;
	ne[e->next].len = len;
	if (p->nrefs == p->caprefs) {
		size_t nc = p->caprefs ? p->caprefs * 2 : 256;
		ext_ref *nr = pt__realloc(p->refs, nc * sizeof *nr);
		if (!nr)
			return PT_ENOMEM;
		p->refs = nr;
		p->caprefs = nc;
	}
	p->refs[p->nrefs++] = (ext_ref){entry, e->next, jobidx};
	e->next++;
	return 0;
}

static int group_flush(planner *p)
{
	if (p->gelem < 0)
		return 0;
	/* the chunk length of the group's extents is known only now */
	for (size_t i = p->gfirst; i < p->nrefs; i++)
		if (p->refs[i].job == p->gidx)
			p->m->e[p->refs[i].entry].ext[p->refs[i].ext].chunk_len = (uint32_t)p->glen;
	int rc = submit(p->s, p->gidx, p->gbuf, p->glen, p->gbuf, (size_t)p->gelem);
	p->gbuf = NULL;
	p->glen = 0;
	p->gelem = -1;
	return rc;
}

static int group_add(planner *p, uint32_t entry, const uint8_t *data, size_t len, size_t elem)
{
	int rc;
	if (p->gelem >= 0 && p->glen + len > p->chunk_size && (rc = group_flush(p)))
		return rc;
	if (p->gelem < 0) {
		if ((rc = new_chunk(p->s, &p->gidx)))
			return rc;
		if (!(p->gbuf = pt__malloc(p->chunk_size)))
			return PT_ENOMEM;
		p->gelem = (long)elem;
		p->gfirst = p->nrefs;
	} else if ((size_t)p->gelem != elem) {
		p->gelem = 0; /* mixed element sizes: no shuffle */
	}
	memcpy(p->gbuf + p->glen, data, len);
	rc = add_ext(p, entry, p->gidx, 0, (uint32_t)p->glen, (uint32_t)len);
	p->glen += len;
	return rc;
}

static int plan_piece(planner *p, uint32_t entry, const uint8_t *data, size_t len, uint8_t *owned,
		      size_t elem)
{
	size_t idx;
	int rc = new_chunk(p->s, &idx);
	if (!rc)
		rc = add_ext(p, entry, idx, (uint32_t)len, 0, (uint32_t)len);
	if (rc) {
		pt__free(owned);
		return rc;
	}
	return submit(p->s, idx, data, len, owned, elem);
}

static int plan_memory_blob(planner *p, uint32_t entry, const uint8_t *data, size_t len)
{
	pt__cdc cdc;
	pt__cdc_init(&cdc, p->s->cw->o.cdc_avg);
	size_t off = 0;
	while (off < len) {
		size_t n = pt__cdc_next(&cdc, data + off, len - off, 1);
		int rc = plan_piece(p, entry, data + off, n, NULL, 0);
		if (rc)
			return rc;
		off += n;
	}
	return 0;
}

static int plan_file_blob(planner *p, uint32_t entry, const char *path)
{
	pt__cdc cdc;
	pt__cdc_init(&cdc, p->s->cw->o.cdc_avg);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open checkpoint blob file %s", path);
	size_t cap = cdc.max * 2, have = 0;
	uint8_t *buf = pt__malloc(cap);
	int rc = buf ? 0 : PT_ENOMEM, eof = 0;
	uint64_t total = 0;
	while (!rc) {
		while (!eof && have < cap) {
			ssize_t r = read(fd, buf + have, cap - have);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = pt__err_errno(errno, "cannot read %s", path);
				break;
			}
			if (r == 0)
				eof = 1;
			have += (size_t)r;
		}
		if (rc || (!have && eof))
			break;
		size_t n = pt__cdc_next(&cdc, buf, have, eof);
		if (!n)
			n = have; /* cannot happen with a full buffer; defensive */
		uint8_t *piece = pt__malloc(n);
		if (!piece) {
			rc = PT_ENOMEM;
			break;
		}
		memcpy(piece, buf, n);
		memmove(buf, buf + n, have - n);
		have -= n;
		total += n;
		rc = plan_piece(p, entry, piece, n, piece, 0);
	}
	if (!rc)
		p->m->e[entry].size = total;
	pt__free(buf);
	close(fd);
	return rc;
}

/* ---- one checkpoint ---------------------------------------------------------------------- */

/* fsync every fan-out directory marked in s->dirs, in parallel on the I/O
 * threads; waits for them.  The session's error (if any) is returned. */
static int fsync_dirs(session *s)
{
	pt_checkpointer *cw = s->cw;
	int rc = 0;
	pthread_mutex_lock(&cw->mu);
	for (int i = 0; i < 256 && !rc; i++) {
		if (!(s->dirs[i >> 3] & (1u << (i & 7))))
			continue;
		flush_item *fi = pt__calloc(1, sizeof *fi);
		if (!fi) {
			rc = PT_ENOMEM;
			session_fail(s, rc);
			break;
		}
		fi->s = s;
		fi->dir = i;
		if (cw->ftail)
			cw->ftail->next = fi;
		else
			cw->fhead = fi;
		cw->ftail = fi;
		s->flush_pending++;
		pthread_cond_signal(&cw->cv_flush);
	}
	while (s->flush_pending)
		pthread_cond_wait(&cw->cv_done, &cw->mu);
	if (s->rc)
		rc = pt__err(s->rc, "%s", s->msg);
	pthread_mutex_unlock(&cw->mu);
	return rc;
}

static int append_event(pt_checkpointer *cw, int64_t step, pt_checkpoint_info *info)
{
	pt_event *ev = NULL;
	int rc = pt_event_new(&ev, PT_KIND_CHECKPOINT, NULL);
	if (!rc && step != PT_NO_STEP)
		rc = pt_event_set_step(ev, step);
	if (!rc) rc = pt_event_str(ev, "manifest", info->manifest);
	if (!rc) rc = pt_event_uint(ev, "tensors", info->tensors);
	if (!rc) rc = pt_event_uint(ev, "blobs", info->blobs);
	if (!rc) rc = pt_event_uint(ev, "chunks", info->chunks);
	if (!rc) rc = pt_event_uint(ev, "new_chunks", info->new_chunks);
	if (!rc) rc = pt_event_uint(ev, "logical_bytes", info->logical_bytes);
	if (!rc) rc = pt_event_uint(ev, "stored_bytes", info->stored_bytes);
	if (!rc) rc = pt_event_uint(ev, "new_bytes", info->new_bytes);
	if (!rc) rc = pt__recorder_append_own(cw->rec, ev, &info->seq);
	/* the event must be readable before the gc lock is released */
	if (!rc) rc = pt_recorder_flush(cw->rec);
	pt_event_free(ev);
	return rc;
}

static int cmp_fast(const void *a, const void *b)
{
	return memcmp(((const fast_entry *)a)->fh, ((const fast_entry *)b)->fh, 16);
}

static int cmp_res(const void *a, const void *b)
{
	return memcmp((*(chunk_res *const *)a)->id, (*(chunk_res *const *)b)->id, 32);
}

static int session_run(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step,
		       pt_checkpoint_info *out)
{
	session s = {0};
	pt__manifest m = {0};
	planner p = {0};
	pt__buf mb = {0};
	chunk_res **order = NULL;
	int lockfd = -1, rc;
	pt_checkpoint_info info;
	memset(&info, 0, sizeof info);
	info.step = step;
	s.cw = cw;
	p.s = &s;
	p.m = &m;
	p.gelem = -1;
	p.chunk_size = cw->o.chunk_size;

	if ((rc = pt__gc_lock(cw->st, 0, 1, &lockfd)))
		goto done;
	if (!(m.e = pt__calloc(ck->count ? ck->count : 1, sizeof *m.e))) {
		rc = PT_ENOMEM;
		goto done;
	}
	/* only now: pt__manifest_clear walks m.e[0..count) */
	m.count = (uint32_t)ck->count;
	for (size_t i = 0; i < ck->count; i++) {
		const pt__ck_entry *ce = &ck->e[i];
		pt__mentry *e = &m.e[i];
		if (!(e->name = pt__strdup(ce->name))) {
			rc = PT_ENOMEM;
			goto drain;
		}
		e->type = ce->type;
		e->dtype = ce->dtype;
		e->ndim = ce->ndim;
		memcpy(e->shape, ce->shape, sizeof e->shape);
		e->size = ce->len;
		size_t elem = ce->type == PT_ENTRY_TENSOR && pt__dtype_is_float((pt_dtype)ce->dtype)
				      ? pt_dtype_size((pt_dtype)ce->dtype)
				      : 0;
		if (ce->type == PT_ENTRY_TENSOR)
			info.tensors++;
		else
			info.blobs++;
		if (ce->path) {
			rc = plan_file_blob(&p, (uint32_t)i, ce->path);
		} else if (ce->len == 0) {
			rc = 0;
		} else if (ce->len < p.chunk_size / 4) {
			rc = group_add(&p, (uint32_t)i, ce->data, ce->len, elem);
		} else if (ce->type == PT_ENTRY_BLOB) {
			rc = plan_memory_blob(&p, (uint32_t)i, ce->data, ce->len);
		} else {
			for (uint64_t off = 0; off < ce->len && !rc; off += p.chunk_size) {
				size_t n = ce->len - off < p.chunk_size ? ce->len - off : p.chunk_size;
				rc = plan_piece(&p, (uint32_t)i, ce->data + off, n, NULL, elem);
			}
		}
		if (rc)
			goto drain;
	}
	rc = group_flush(&p);
drain:
	if (p.gbuf)
		pt__free(p.gbuf);
	pthread_mutex_lock(&cw->mu);
	if (rc)
		session_fail(&s, rc);
	while (s.pending || s.flush_pending)
		pthread_cond_wait(&cw->cv_done, &cw->mu);
	pthread_mutex_unlock(&cw->mu);
	if (s.rc) {
		rc = pt__err(s.rc, "%s", s.msg);
		goto done;
	}
	/* every new chunk is written, fdatasync'd and renamed (the I/O threads) */
	/* fill in the chunk ids and total up */
	for (size_t i = 0; i < p.nrefs; i++)
		memcpy(m.e[p.refs[i].entry].ext[p.refs[i].ext].id, s.res[p.refs[i].job].id, 32);
	for (uint32_t i = 0; i < m.count; i++)
		m.logical += m.e[i].size;
	info.logical_bytes = m.logical;
	if (ck->tree_len) {
		if (ck->tree_len > UINT32_MAX || !(m.tree = pt__malloc(ck->tree_len))) {
			rc = PT_ENOMEM;
			goto done;
		}
		memcpy(m.tree, ck->tree, ck->tree_len);
		m.tree_len = (uint32_t)ck->tree_len;
	}
	/* distinct chunks: the same bytes may occur twice in one checkpoint */
	if (s.nres && !(order = pt__malloc(s.nres * sizeof *order))) {
		rc = PT_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < s.nres; i++)
		order[i] = &s.res[i];
	if (s.nres)
		qsort(order, s.nres, sizeof *order, cmp_res);
	for (size_t i = 0; i < s.nres; i++) {
		int is_new = order[i]->is_new;
		uint64_t disk = order[i]->disk;
		while (i + 1 < s.nres && !memcmp(order[i + 1]->id, order[i]->id, 32)) {
			i++;
			is_new |= order[i]->is_new;
			if (order[i]->disk > disk)
				disk = order[i]->disk;
		}
		info.chunks++;
		info.stored_bytes += disk;
		if (is_new) {
			info.new_chunks++;
			info.new_bytes += disk;
		}
	}
	if ((rc = pt__manifest_encode(&m, &mb)))
		goto done;
	{
		uint8_t mid[32];
		uint64_t stored = 0;
		pt__sha256(mb.data, mb.len, mid);
		/* fdatasync + rename; its directory joins the chunks' below */
		pt__object_wopts o = {.level = MANIFEST_LEVEL, .no_dirsync = 1};
		if ((rc = pt__object_write(cw->st, mid, mb.data, mb.len, &o, NULL, &stored, NULL)))
			goto done;
		uint64_t disk = stored;
		if (!stored)
			pt__object_stat(cw->st, mid, NULL, &disk);
		else
			s.dirs[mid[0] >> 3] |= (uint8_t)(1u << (mid[0] & 7));
		info.stored_bytes += disk;
		info.new_bytes += stored;
		pt__hex(mid, 32, info.manifest);
	}
	/* every directory entry durable before the event names the checkpoint */
	if ((rc = fsync_dirs(&s)))
		goto done;
	if (!cw->o.no_event && (rc = append_event(cw, step, &info)))
		goto done;
	if (out)
		*out = info;
	/* remember this checkpoint's chunks for the next one */
	{
		fast_entry *nf = pt__malloc((s.nres ? s.nres : 1) * sizeof *nf);
		if (nf) {
			size_t k = 0;
			for (size_t i = 0; i < s.nres; i++) {
				memcpy(nf[k].fh, s.res[i].fh, 16);
				nf[k].len = s.res[i].len;
				memcpy(nf[k].id, s.res[i].id, 32);
				k++;
			}
			qsort(nf, k, sizeof *nf, cmp_fast);
			pt__free(cw->fast);
			cw->fast = nf;
			cw->nfast = k;
		}
	}
done:
	/* a failed session leaves no temporary files behind */
	for (size_t i = 0; i < s.nres; i++)
		if (s.res[i].tmp) {
			pt__unlink_in(cw->st->path, s.res[i].tmp);
			pt__free(s.res[i].tmp);
		}
	pt__gc_unlock(lockfd);
	pt__free(order);
	pt__buf_free(&mb);
	pt__free(p.refs);
	pt__free(s.res);
	pt__manifest_clear(&m);
	return rc;
}

/* ---- the checkpointer ------------------------------------------------------------------- */

static void *bg_main(void *arg);

int pt_checkpointer_open(pt_checkpointer **out, pt_store *st, pt_recorder *rec,
			 const pt_checkpoint_options *opts)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_checkpointer_open: NULL argument");
	*out = NULL;
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_CHECKPOINT_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "checkpoint options version %u is not supported", opts->version);
		o = *opts;
	}
	if (!rec && !o.no_event)
		return pt__err(PT_EINVAL, "pt_checkpointer_open: a recorder is needed (or no_event)");
	if (o.chunk_size < (64u << 10) || o.chunk_size > PT_CHUNK_MAX)
		return pt__err(PT_EINVAL, "checkpoint chunk_size %u outside 64 KiB..64 MiB", o.chunk_size);
	if (o.cdc_avg < (4u << 10) || o.cdc_avg > (PT_CHUNK_MAX / 4))
		return pt__err(PT_EINVAL, "checkpoint cdc_avg %u outside 4 KiB..16 MiB", o.cdc_avg);
	if (o.zstd_level < -7 || o.zstd_level > 19)
		return pt__err(PT_EINVAL, "checkpoint zstd_level %d outside -7..19", o.zstd_level);
	if (!o.threads) {
		/* two per core: a worker blocked in write() or fdatasync() leaves its core to the other */
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = n < 1 ? 2 : n > 4 ? 8 : 2 * (uint32_t)n;
	}
	if (o.threads > 64)
		o.threads = 64;
	if (o.memory_budget < 2ull * o.chunk_size)
		o.memory_budget = 2ull * o.chunk_size;
	if (!o.max_inflight)
		o.max_inflight = 1;
	pt_checkpointer *cw = pt__calloc(1, sizeof *cw);
	if (!cw)
		return PT_ENOMEM;
	cw->st = st;
	cw->rec = rec;
	cw->o = o;
	pthread_mutex_init(&cw->mu, NULL);
	pthread_mutex_init(&cw->session_mu, NULL);
	pthread_cond_init(&cw->cv_job, NULL);
	pthread_cond_init(&cw->cv_done, NULL);
	pthread_cond_init(&cw->cv_task, NULL);
	pthread_cond_init(&cw->cv_flush, NULL);
	cw->workers = pt__calloc(o.threads, sizeof *cw->workers);
	cw->flushers = pt__calloc(IO_THREADS, sizeof *cw->flushers);
	if (!cw->workers || !cw->flushers) {
		pt_checkpointer_close(cw);
		return PT_ENOMEM;
	}
	for (uint32_t i = 0; i < o.threads; i++) {
		int e = pthread_create(&cw->workers[i], NULL, worker_main, cw);
		if (e) {
			pt_checkpointer_close(cw);
			return pt__err_errno(e, "cannot start a checkpoint worker thread");
		}
		cw->nworkers++;
	}
	for (uint32_t i = 0; i < IO_THREADS; i++) {
		int e = pthread_create(&cw->flushers[i], NULL, flusher_main, cw);
		if (e) {
			pt_checkpointer_close(cw);
			return pt__err_errno(e, "cannot start a checkpoint I/O thread");
		}
		cw->nflushers++;
	}
	if (o.snapshot_reserve) {
		cw->reserving = 1;
		int e = pthread_create(&cw->bg, NULL, bg_main, cw);
		if (e) {
			cw->reserving = 0;
			pt_checkpointer_close(cw);
			return pt__err_errno(e, "cannot start the background checkpoint thread");
		}
		cw->bg_started = 1;
	}
	*out = cw;
	return 0;
}

/* Report (and clear) a background error. Caller holds cw->mu. */
static int take_error(pt_checkpointer *cw)
{
	if (!cw->err_code)
		return 0;
	int rc = pt__err(cw->err_code, "%s", cw->err_msg);
	cw->err_code = 0;
	return rc;
}

int pt_checkpointer_wait(pt_checkpointer *cw)
{
	if (!cw)
		return pt__err(PT_EINVAL, "pt_checkpointer_wait: NULL checkpointer");
	pthread_mutex_lock(&cw->mu);
	while (cw->inflight)
		pthread_cond_wait(&cw->cv_task, &cw->mu);
	int rc = take_error(cw);
	pthread_mutex_unlock(&cw->mu);
	return rc;
}

int pt_checkpointer_write(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step,
			  pt_checkpoint_info *out)
{
	if (!cw || !ck)
		return pt__err(PT_EINVAL, "pt_checkpointer_write: NULL argument");
	/* earlier snapshots first, so that events keep the order of the calls */
	int rc = pt_checkpointer_wait(cw);
	if (rc)
		return rc;
	pthread_mutex_lock(&cw->session_mu);
	rc = session_run(cw, ck, step, out);
	pthread_mutex_unlock(&cw->session_mu);
	if (!rc) {
		pthread_mutex_lock(&cw->mu);
		cw->completed++;
		if (out)
			cw->last = *out;
		pthread_mutex_unlock(&cw->mu);
	}
	return rc;
}

/*
 * The snapshot copy is the only part of an asynchronous checkpoint the
 * training loop waits for: it is split in two halves by bytes, one copied by
 * a helper thread, so that two cores fault pages and move memory.
 */
typedef struct {
	uint8_t *dst;
	const uint8_t *src;
	size_t len;
} copy_seg;

typedef struct {
	copy_seg *seg;
	size_t n, cap, total;
} copy_plan;

#define PARALLEL_COPY_MIN ((size_t)32 << 20)

static void plan_add(copy_plan *p, uint8_t *dst, const uint8_t *src, size_t len)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 64;
		copy_seg *ns = pt__realloc(p->seg, nc * sizeof *ns);
		if (!ns) {
			/* cannot record it: copy it now */
			memcpy(dst, src, len);
			return;
		}
		p->seg = ns;
		p->cap = nc;
	}
	p->seg[p->n++] = (copy_seg){dst, src, len};
	p->total += len;
}

static void copy_range(const copy_plan *p, size_t from, size_t to)
{
	/* copy bytes [from, to) of the concatenated segments */
	size_t pos = 0;
	for (size_t i = 0; i < p->n && pos < to; i++) {
		size_t a = pos, b = pos + p->seg[i].len;
		pos = b;
		if (b <= from)
			continue;
		size_t lo = a < from ? from - a : 0, hi = (b > to ? to : b) - a;
		memcpy(p->seg[i].dst + lo, p->seg[i].src + lo, hi - lo);
	}
}

typedef struct {
	const copy_plan *p;
	size_t from, to;
} copy_job;

static void *copy_main(void *arg)
{
	copy_job *j = arg;
	copy_range(j->p, j->from, j->to);
	return NULL;
}

static void plan_run(copy_plan *p)
{
	pthread_t th;
	size_t half = p->total / 2;
	copy_job j = {p, half, p->total};
	if (p->total >= PARALLEL_COPY_MIN && pthread_create(&th, NULL, copy_main, &j) == 0) {
		copy_range(p, 0, half);
		pthread_join(th, NULL);
	} else {
		copy_range(p, 0, p->total);
	}
	pt__free(p->seg);
	p->seg = NULL;
	p->n = p->cap = p->total = 0;
}

static int read_file_into(const char *path, uint8_t *dst, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt__err_errno(errno, "cannot open checkpoint blob file %s", path);
	int rc = pt__pread_all(fd, dst, len, 0, path);
	close(fd);
	return rc;
}

static void task_free(task *t)
{
	if (!t)
		return;
	pt_checkpoint_free(t->ck);
	arena_free(t->arena, t->arena_len);
	pt__free(t);
}

int pt_checkpointer_snapshot(pt_checkpointer *cw, const pt_checkpoint *ck, int64_t step,
			     uint64_t *out_ticket)
{
	if (!cw || !ck)
		return pt__err(PT_EINVAL, "pt_checkpointer_snapshot: NULL argument");
	int rc;
	pthread_mutex_lock(&cw->mu);
	rc = take_error(cw);
	while (!rc && (cw->inflight >= cw->o.max_inflight || cw->reserving))
		pthread_cond_wait(&cw->cv_task, &cw->mu);
	if (!rc)
		rc = take_error(cw);
	uint8_t *cache = NULL;
	size_t cache_len = 0;
	/* total size: memory entries + current file sizes */
	size_t total = 0;
	for (size_t i = 0; i < ck->count && !rc; i++) {
		if (ck->e[i].path) {
			struct stat sb;
			if (stat(ck->e[i].path, &sb) < 0)
				rc = pt__err_errno(errno, "cannot stat checkpoint blob file %s", ck->e[i].path);
			else
				total += (size_t)sb.st_size;
		} else {
			total += ck->e[i].len;
		}
	}
	if (!rc && cw->cache && cw->cache_len >= total) {
		cache = cw->cache;
		cache_len = cw->cache_len;
		cw->cache = NULL;
		cw->cache_len = 0;
	}
	if (!rc)
		cw->inflight++; /* reserve the slot while copying outside the lock */
	pthread_mutex_unlock(&cw->mu);
	if (rc)
		return rc;

	task *t = pt__calloc(1, sizeof *t);
	if (!t) {
		rc = PT_ENOMEM;
		goto fail;
	}
	t->step = step;
	if (cache) {
		t->arena = cache;
		t->arena_len = cache_len;
		cache = NULL;
	} else if (!(t->arena = arena_alloc(total))) {
		rc = pt_error_last_code();
		goto fail;
	} else {
		t->arena_len = total ? total : 1;
	}
	if ((rc = pt_checkpoint_new(&t->ck)))
		goto fail;
	copy_plan plan = {0};
	size_t off = 0;
	for (size_t i = 0; i < ck->count; i++) {
		pt__ck_entry e = ck->e[i];
		e.name = pt__strdup(e.name);
		e.path = NULL;
		if (!e.name) {
			rc = PT_ENOMEM;
			goto fail;
		}
		if (ck->e[i].path) {
			struct stat sb;
			if (stat(ck->e[i].path, &sb) < 0 || (size_t)sb.st_size > total - off) {
				pt__free(e.name);
				rc = pt__err(PT_EIO, "checkpoint blob file %s changed size while being copied",
					     ck->e[i].path);
				goto fail;
			}
			e.len = (uint64_t)sb.st_size;
			if ((rc = read_file_into(ck->e[i].path, t->arena + off, e.len))) {
				pt__free(e.name);
				goto fail;
			}
		} else if (e.len) {
			plan_add(&plan, t->arena + off, e.data, e.len);
		}
		e.data = t->arena + off;
		off += e.len;
		if ((rc = pt__checkpoint_push(t->ck, &e))) {
			pt__free(e.name);
			goto fail;
		}
	}
	plan_run(&plan);
	if (ck->tree_len && (rc = pt_checkpoint_set_structure(t->ck, ck->tree, ck->tree_len)))
		goto fail;
	pthread_mutex_lock(&cw->mu);
	if (!cw->bg_started) {
		int e = pthread_create(&cw->bg, NULL, bg_main, cw);
		if (e) {
			cw->inflight--;
			pthread_mutex_unlock(&cw->mu);
			task_free(t);
			return pt__err_errno(e, "cannot start the background checkpoint thread");
		}
		cw->bg_started = 1;
	}
	t->ticket = ++cw->submitted;
	uint64_t ticket = t->ticket; /* `t` belongs to the background thread once queued */
	if (cw->ttail)
		cw->ttail->next = t;
	else
		cw->thead = t;
	cw->ttail = t;
	pthread_cond_broadcast(&cw->cv_task);
	pthread_mutex_unlock(&cw->mu);
	if (out_ticket)
		*out_ticket = ticket;
	return 0;
fail:
	pt__free(plan.seg);
	task_free(t);
	arena_free(cache, cache_len);
	pthread_mutex_lock(&cw->mu);
	cw->inflight--;
	pthread_cond_broadcast(&cw->cv_task);
	pthread_mutex_unlock(&cw->mu);
	return rc;
}

static void *bg_main(void *arg)
{
	pt_checkpointer *cw = arg;
	if (cw->reserving) {
		/* fault the pages in now, off the training loop's path */
		size_t len = (size_t)cw->o.snapshot_reserve;
		uint8_t *p = arena_alloc(len);
		if (p)
			for (size_t i = 0; i < len; i += 4096)
				p[i] = 0;
		pthread_mutex_lock(&cw->mu);
		if (p) {
			cw->cache = p;
			cw->cache_len = len;
		}
		cw->reserving = 0;
		pthread_cond_broadcast(&cw->cv_task);
		pthread_mutex_unlock(&cw->mu);
	}
	for (;;) {
		pthread_mutex_lock(&cw->mu);
		while (!cw->thead && !cw->stop)
			pthread_cond_wait(&cw->cv_task, &cw->mu);
		task *t = cw->thead;
		if (!t) {
			pthread_mutex_unlock(&cw->mu);
			break;
		}
		cw->thead = t->next;
		if (!cw->thead)
			cw->ttail = NULL;
		pthread_mutex_unlock(&cw->mu);

		pt_checkpoint_info info;
		pthread_mutex_lock(&cw->session_mu);
		int rc = session_run(cw, t->ck, t->step, &info);
		pthread_mutex_unlock(&cw->session_mu);

		pthread_mutex_lock(&cw->mu);
		if (rc) {
			cw->failed++;
			if (!cw->err_code) {
				char step[32] = "no step";
				if (t->step != PT_NO_STEP)
					snprintf(step, sizeof step, "step %lld", (long long)t->step);
				cw->err_code = rc;
				snprintf(cw->err_msg, sizeof cw->err_msg, "background checkpoint #%llu (%s) failed: %s",
					 (unsigned long long)t->ticket, step, pt_error_last());
			}
		} else {
			cw->completed++;
			cw->last = info;
		}
		/* keep the arena for the next snapshot (its pages are mapped already) */
		if (!cw->cache || cw->cache_len < t->arena_len) {
			arena_free(cw->cache, cw->cache_len);
			cw->cache = t->arena;
			cw->cache_len = t->arena_len;
			t->arena = NULL;
		}
		cw->inflight--;
		pthread_cond_broadcast(&cw->cv_task);
		pthread_mutex_unlock(&cw->mu);
		task_free(t);
	}
	return NULL;
}

int pt_checkpointer_status(pt_checkpointer *cw, pt_checkpoint_status *out)
{
	if (!cw || !out)
		return pt__err(PT_EINVAL, "pt_checkpointer_status: NULL argument");
	pthread_mutex_lock(&cw->mu);
	memset(out, 0, sizeof *out);
	out->submitted = cw->submitted;
	out->completed = cw->completed;
	out->failed = cw->failed;
	out->inflight = cw->inflight;
	out->first_error = cw->err_code;
	out->last = cw->last;
	pthread_mutex_unlock(&cw->mu);
	return 0;
}

int pt_checkpointer_close(pt_checkpointer *cw)
{
	if (!cw)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&cw->mu);
	while (cw->inflight)
		pthread_cond_wait(&cw->cv_task, &cw->mu);
	rc = take_error(cw);
	cw->stop = 1;
	pthread_cond_broadcast(&cw->cv_job);
	pthread_cond_broadcast(&cw->cv_task);
	pthread_cond_broadcast(&cw->cv_flush);
	pthread_mutex_unlock(&cw->mu);
	if (cw->bg_started)
		pthread_join(cw->bg, NULL);
	for (uint32_t i = 0; i < cw->nworkers; i++)
		pthread_join(cw->workers[i], NULL);
	for (uint32_t i = 0; i < cw->nflushers; i++)
		pthread_join(cw->flushers[i], NULL);
	pt__free(cw->workers);
	pt__free(cw->flushers);
	pt__free(cw->fast);
	arena_free(cw->cache, cw->cache_len);
	pthread_mutex_destroy(&cw->mu);
	pthread_mutex_destroy(&cw->session_mu);
	pthread_cond_destroy(&cw->cv_job);
	pthread_cond_destroy(&cw->cv_done);
	pthread_cond_destroy(&cw->cv_task);
	pthread_cond_destroy(&cw->cv_flush);
	pt__free(cw);
	return rc;
}
