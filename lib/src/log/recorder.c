/*
 * recorder.c - the single writer of a stream: lock, crash recovery, group
 * commit on a background thread, sealing into the hash chain.
 *
 * Threads: callers append under `mu` into `cur` (the batch being filled);
 * full batches move to a bounded queue; the writer thread compresses and
 * writes them, outside the mutex, and seals segments.  All segment-file
 * state (fd, running SHA-256, index) is touched only by the writer thread,
 * or by the opening thread before the writer starts.
 *
 * Cost bound of an append: one mutex, one clock read, encoding the envelope
 * and a memcpy of the body.  Memory bound: (queue_max_batches + 2) batches.
 */
#include "format/rstore_int.h"
#include "log/vault_int.h"
#include "log/history_int.h"
#include "format/event_int.h"
#include "log/fold_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"
#include "log/state_int.h"
#include "format/segment_int.h"
#include "log/tree_int.h"
#include "format/note_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* States waiting to be stored: a few KiB each; past this the oldest is dropped. */
#define PT_SNAPSHOT_QUEUE 64
/* At close, a tail of at least this many events since the last snapshot gets
 * one more, so that replays of a finished run never fold a long tail (and
 * never scan it for lineage events); shorter runs stay free of snapshots. */
#define PT_FINAL_SNAPSHOT_MIN 4096

typedef struct pt__batch {
	pt__buf raw;
	uint32_t *ev_end; /* end offset in `raw` of each event: the Merkle leaves */
	uint32_t ev_cap;
	uint64_t first_seq;
	uint32_t count;
	int64_t step_min, step_max, time_min, time_max;
	int64_t opened_mono;
	struct pt__batch *next;
} pt__batch;

struct pt_recorder {
	pt_store *st;
	char *run, *stream, *dir, *segdir, *open_path;
	pt_recorder_options o;
	int lock_fd;

	pthread_mutex_t mu;
	pthread_cond_t cv_work;  /* writer waits for work */
	pthread_cond_t cv_done;  /* flushers wait for progress */
	pthread_cond_t cv_space; /* appenders wait for queue space */
	pt__batch *cur;
	pt__batch *qhead, *qtail;
	uint32_t queued;
	pt__batch *free_list;
	uint64_t next_seq;
	uint64_t written_seq; /* every seq <= this is written to the file */
	uint64_t synced_seq;  /* ... and fdatasync'd */
	uint64_t seal_req, seal_done;
	int err;              /* sticky error of the writer */
	char errmsg[512];
	/* A write failed for lack of space (PT_ENOSPC): nothing was left half
	 * written, the batches stay queued and the writer retries them (every
	 * RETRY_MS, or when flush asks); flush reports the error, appends fail
	 * instead of waiting when the queue is full.  Cleared by a successful
	 * round.  Only failed write()s qualify: a failed fdatasync is sticky,
	 * since after one the kernel may have dropped the dirty pages. */
	int nospc;
	char nospc_msg[512];
	uint64_t rounds;      /* writer rounds completed (flush waits for one after a retry request) */
	bool retryable;       /* writer-owned: the last failure may be retried */
	bool stop;
	bool thread_started;
	pthread_t thread;

	/* writer-owned segment state */
	int seg_fd;
	uint64_t seg_size;
	uint64_t segno;
	uint8_t prev[PT_SHA256_LEN];
	pt__sha256_ctx *sha;
	pt__index_entry *idx;
	uint64_t idx_n, idx_cap;
	uint64_t seg_events, seg_raw, seg_first_seq;
	int64_t seg_step_min, seg_step_max, seg_time_min, seg_time_max;
	int64_t seg_opened_mono;
	pt__chain chain;
	pt__zc *zc;
	pt__buf cbuf;
	/* the stream's Merkle tree over every event written (writer-owned;
	 * tree_mu guards its updates against readers on other threads) */
	pt__merkle tree;
	pthread_mutex_t tree_mu;
	/* signed checkpoints (pt_recorder_set_signing_key): note_mu orders
	 * the writer's and on-demand signings; a smaller tree never replaces
	 * a larger one */
	pt__skey *skey;
	char origin[PT_ORIGIN_MAX + 1];
	char *note_path;
	pthread_mutex_t note_mu;
	uint64_t note_size;
	bool note_written;

	uint64_t recovered_bytes;

	/* snapshots: the writer thread folds each batch it wrote (fold_ok) and
	 * every snapshot_every events hands the serialized state to the
	 * snapshot thread, which stores it and appends a `snapshot` event */
	pt__fold fold;
	bool fold_ok;
	uint64_t last_snap;   /* seq of the last state handed over */
	struct snap_item {
		pt__buf state;
		uint64_t at;
		int64_t lineage;
		int64_t time; /* the running max time of the state */
	} snapq[PT_SNAPSHOT_QUEUE]; /* states waiting for the snapshot thread (under mu) */
	size_t snapq_head, snapq_n;
	pthread_t snap_thread;
	bool snap_started;
	bool snap_finish;
	bool final_snap_req; /* close: the writer snapshots a long unsnapshotted tail */
	pthread_cond_t cv_snap;
	uint64_t snap_count;
};

int pt_recorder_options_init(pt_recorder_options *opts, unsigned int version)
{
	if (!opts || version != PT_RECORDER_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_recorder_options_init: unsupported version %u", version);
	pt_recorder_options d = PT_RECORDER_OPTIONS_INIT;
	*opts = d;
	return 0;
}

/* ---- errors raised on the writer thread are kept for the callers ---- */
static void set_sticky(pt_recorder *r, int code)
{
	pthread_mutex_lock(&r->mu);
	if (!r->err) {
		r->err = code;
		snprintf(r->errmsg, sizeof r->errmsg, "%s", pt_error_last());
	}
	pthread_cond_broadcast(&r->cv_done);
	pthread_cond_broadcast(&r->cv_space);
	pthread_mutex_unlock(&r->mu);
}

static int sticky_locked(pt_recorder *r)
{
	return pt__err(r->err, "recorder for %s/%s failed earlier: %s", r->run, r->stream, r->errmsg);
}

/* ---- batches ---- */
static pt__batch *batch_get_locked(pt_recorder *r)
{
	pt__batch *b = r->free_list;
	if (b) {
		r->free_list = b->next;
	} else {
		b = pt__calloc(1, sizeof *b);
		if (!b)
			return NULL;
		if (pt__buf_reserve(&b->raw, r->o.batch_max_bytes + 4096)) {
			pt__free(b);
			return NULL;
		}
	}
	b->raw.len = 0;
	b->count = 0;
	b->next = NULL;
	b->step_min = b->step_max = PT_NO_STEP;
	return b;
}

static void batch_free(pt__batch *b)
{
	if (!b)
		return;
	pt__free(b->ev_end);
	pt__buf_free(&b->raw);
	pt__free(b);
}

/* Move `cur` to the queue and start a new one. */
static int enqueue_cur_locked(pt_recorder *r)
{
	if (r->cur->count == 0)
		return 0; /* an empty batch is never written */
	pt__batch *nb = batch_get_locked(r);
	if (!nb)
		return PT_ENOMEM;
	pt__batch *b = r->cur;
	if (r->qtail)
		r->qtail->next = b;
	else
		r->qhead = b;
	r->qtail = b;
	r->queued++;
	r->cur = nb;
	pthread_cond_signal(&r->cv_work);
	return 0;
}

static const uint8_t K_SEQ[] = {0xa3, 's', 'e', 'q'};
static const uint8_t K_TIME[] = {0xa4, 't', 'i', 'm', 'e'};
static const uint8_t K_STEP[] = {0xa4, 's', 't', 'e', 'p'};
static const uint8_t K_KIND[] = {0xa4, 'k', 'i', 'n', 'd'};
static const uint8_t K_NAME[] = {0xa4, 'n', 'a', 'm', 'e'};
static const uint8_t K_BODY[] = {0xa4, 'b', 'o', 'd', 'y'};
#define PUT(p, k) (memcpy(p, k, sizeof k), p + sizeof k)

typedef struct {
	const char *kind;
	size_t kind_len;
	const char *name;
	size_t name_len;
	bool has_name;
	int64_t step;
	int64_t time; /* 0: now */
	const pt_event *ev; /* body from a builder, or: */
	const uint8_t *body;
	size_t body_len;
} envelope;

/*
 * Encode one event into `cur`.  Caller holds `mu`.  The time is read under
 * the mutex so that times follow sequence order within a stream.
 */
static int append_locked(pt_recorder *r, const envelope *e, uint64_t *out_seq)
{
	if (r->err)
		return sticky_locked(r);
	if (r->stop)
		return pt__err(PT_ECLOSED, "recorder is closing");
	size_t body_len = e->ev ? pt__event_body_size(e->ev) : e->body_len;
	size_t need = 1 + sizeof K_SEQ + 9 + sizeof K_TIME + 9 + sizeof K_STEP + 9 + sizeof K_KIND + 2 + e->kind_len +
		      sizeof K_NAME + 3 + e->name_len + sizeof K_BODY + body_len;
	if (need > PT_EVENT_MAX_BYTES + 2048)
		return pt__err(PT_ELIMIT, "event of %zu bytes is larger than the %u allowed", need, PT_EVENT_MAX_BYTES);
	pt__batch *b = r->cur;
	/* While waiting for queue space the mutex is released and another thread
	 * (an appender, the writer's time bound, a flush) may move `cur` on:
	 * re-check the current batch after every wait. */
	while (b->count && (b->count >= r->o.batch_max_events || b->raw.len + need > r->o.batch_max_bytes)) {
		if (r->queued >= r->o.queue_max_batches) {
			/* out of space (see nospc): fail rather than wait for a disk to empty */
			if (r->nospc)
				return pt__err(r->nospc, "%s (the event was not appended; free space and retry)",
					       r->nospc_msg);
			pthread_cond_wait(&r->cv_space, &r->mu);
			if (r->err)
				return sticky_locked(r);
			b = r->cur;
			continue;
		}
		int rc = enqueue_cur_locked(r);
		if (rc)
			return rc;
		b = r->cur;
	}
	int rc = pt__buf_reserve(&b->raw, need);
	if (rc)
		return rc;
	if (b->count == b->ev_cap) {
		uint32_t nc = b->ev_cap ? b->ev_cap * 2 : 256;
		uint32_t *v = pt__realloc(b->ev_end, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		b->ev_end = v;
		b->ev_cap = nc;
	}
	int64_t t = e->time ? e->time : pt_time_now_ns();
	uint64_t seq = r->next_seq;
	uint8_t *p = b->raw.data + b->raw.len;
	bool has_step = e->step != PT_NO_STEP;
	p = mpk_map_hdr(p, 4 + (has_step ? 1 : 0) + (e->has_name ? 1 : 0));
	p = PUT(p, K_SEQ);
	p = mpk_uint(p, seq);
	p = PUT(p, K_TIME);
	p = mpk_int(p, t);
	if (has_step) {
		p = PUT(p, K_STEP);
		p = mpk_int(p, e->step);
	}
	p = PUT(p, K_KIND);
	p = mpk_str_hdr(p, (uint32_t)e->kind_len);
	memcpy(p, e->kind, e->kind_len);
	p += e->kind_len;
	if (e->has_name) {
		p = PUT(p, K_NAME);
		p = mpk_str_hdr(p, (uint32_t)e->name_len);
		memcpy(p, e->name, e->name_len);
		p += e->name_len;
	}
	p = PUT(p, K_BODY);
	if (e->ev) {
		p = pt__event_body_write(e->ev, p);
	} else {
		memcpy(p, e->body, e->body_len);
		p += e->body_len;
	}
	b->raw.len = (size_t)(p - b->raw.data);
	b->ev_end[b->count] = (uint32_t)b->raw.len;
	if (b->count == 0) {
		b->first_seq = seq;
		b->time_min = b->time_max = t;
		b->opened_mono = pt__mono_ns();
		if (r->queued == 0)
			pthread_cond_signal(&r->cv_work); /* start the max-delay clock */
	} else {
		if (t < b->time_min)
			b->time_min = t;
		if (t > b->time_max)
			b->time_max = t;
	}
	if (has_step) {
		if (b->step_min == PT_NO_STEP || e->step < b->step_min)
			b->step_min = e->step;
		if (b->step_max == PT_NO_STEP || e->step > b->step_max)
			b->step_max = e->step;
	}
	b->count++;
	r->next_seq = seq + 1;
	if (out_seq)
		*out_seq = seq;
	return 0;
}

static int append_event(pt_recorder *r, const pt_event *ev, uint64_t *out_seq);

int pt_recorder_append(pt_recorder *r, const pt_event *ev, uint64_t *out_seq)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_append: NULL recorder");
	int rc = pt__event_ready(ev);
	if (!rc)
		rc = pt__kind_reserved(ev->kind, ev->kind_len);
	return rc ? rc : append_event(r, ev, out_seq);
}

int pt__recorder_append_own(pt_recorder *r, const pt_event *ev, uint64_t *out_seq)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_append: NULL recorder");
	int rc = pt__event_ready(ev);
	return rc ? rc : append_event(r, ev, out_seq);
}

static int append_event(pt_recorder *r, const pt_event *ev, uint64_t *out_seq)
{
	int rc;
	envelope e = {ev->kind, ev->kind_len, (const char *)ev->name.data, ev->name.len, ev->has_name,
		      ev->step, ev->has_time ? ev->time : 0, ev, NULL, 0};
	if (ev->has_time && e.time == 0)
		e.time = 1; /* 0 means "now" internally; the epoch itself is kept as 1 ns */
	pthread_mutex_lock(&r->mu);
	rc = append_locked(r, &e, out_seq);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int pt_recorder_append_msgpack(pt_recorder *r, const char *kind, const char *name, int64_t step, const void *body,
			       size_t len, uint64_t *out_seq)
{
	if (!r || !kind || (!body && len))
		return pt__err(PT_EINVAL, "pt_recorder_append_msgpack: NULL argument");
	size_t kl = strlen(kind), nl = name ? strlen(name) : 0;
	int rc = pt__kind_check(kind, kl);
	if (!rc)
		rc = pt__kind_reserved(kind, kl);
	if (rc)
		return rc;
	if (name && (nl > PT_NAME_MAX || !pt__utf8_valid((const uint8_t *)name, nl)))
		return pt__err(PT_EINVAL, "event name is longer than %d bytes or not valid UTF-8", PT_NAME_MAX);
	if (len > PT_EVENT_MAX_BYTES)
		return pt__err(PT_ELIMIT, "event body of %zu bytes is larger than the %u allowed", len, PT_EVENT_MAX_BYTES);
	const uint8_t *p = body, *end = p + len;
	mpk_obj m;
	if (mpk_read(&p, end, &m) || m.type != MPK_MAP)
		return pt__err(PT_EINVAL, "event body is not a msgpack map");
	static const char *const reserved[] = {"run", "stream", "seq", "time", "step", "kind", "name"};
	for (uint32_t i = 0; i < m.len; i++) {
		mpk_obj k;
		if (mpk_read(&p, end, &k) || k.type != MPK_STR)
			return pt__err(PT_EINVAL, "event body: key %u is not a string", i);
		if (!pt__utf8_valid(k.ptr, k.len))
			return pt__err(PT_EINVAL, "event body: key %u is not valid UTF-8", i);
		for (size_t j = 0; j < sizeof reserved / sizeof *reserved; j++)
			if (k.len == strlen(reserved[j]) && !memcmp(k.ptr, reserved[j], k.len))
				return pt__err(PT_EINVAL, "key \"%s\" is reserved for the event envelope", reserved[j]);
		if (mpk_validate_strkeys(&p, end, PT_EVENT_MAX_DEPTH - 1))
			return pt__err(PT_EINVAL, "event body: the value of \"%.*s\" is not well-formed (structure, depth, "
					     "UTF-8, or a map key that is not a string)", (int)(k.len > 64 ? 64 : k.len),
				       (const char *)k.ptr);
	}
	if (p != end)
		return pt__err(PT_EINVAL, "event body: bytes after the map");
	envelope e = {kind, kl, name, nl, name != NULL, step, 0, NULL, body, len};
	pthread_mutex_lock(&r->mu);
	rc = append_locked(r, &e, out_seq);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int metric_name_check(const char *name, size_t *len)
{
	*len = 0;
	if (!name)
		return pt__err(PT_EINVAL, "metric name is NULL");
	size_t n = strlen(name);
	if (n > PT_NAME_MAX)
		return pt__err(PT_EINVAL, "metric name is %zu bytes, more than %d", n, PT_NAME_MAX);
	if (!pt__utf8_valid((const uint8_t *)name, n))
		return pt__err(PT_EINVAL, "metric name is not valid UTF-8");
	*len = n;
	return 0;
}

int pt_recorder_metric(pt_recorder *r, const char *name, double value, int64_t step)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_metric: NULL recorder");
	size_t nl;
	int rc = metric_name_check(name, &nl);
	if (rc)
		return rc;
	uint8_t body[16], *p = body;
	*p++ = 0x81;
	*p++ = 0xa5;
	memcpy(p, "value", 5);
	p = mpk_double(p + 5, value);
	envelope e = {PT_KIND_METRIC, 6, name, nl, true, step, 0, NULL, body, (size_t)(p - body)};
	pthread_mutex_lock(&r->mu);
	rc = append_locked(r, &e, NULL);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int pt_recorder_metrics(pt_recorder *r, const char *const *names, const double *values, size_t n, int64_t step)
{
	if (!r || (n && (!names || !values)))
		return pt__err(PT_EINVAL, "pt_recorder_metrics: NULL argument");
	for (size_t i = 0; i < n; i++) {
		size_t nl;
		int rc = metric_name_check(names[i], &nl);
		if (rc)
			return pt__err_wrap(rc, "metric %zu", i);
	}
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t body[16], *p = body;
		*p++ = 0x81;
		*p++ = 0xa5;
		memcpy(p, "value", 5);
		p = mpk_double(p + 5, values[i]);
		envelope e = {PT_KIND_METRIC, 6, names[i], strlen(names[i]), true, step, 0, NULL, body, (size_t)(p - body)};
		rc = append_locked(r, &e, NULL);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

uint64_t pt_recorder_next_seq(const pt_recorder *r)
{
	pt_recorder *m = (pt_recorder *)r;
	pthread_mutex_lock(&m->mu);
	uint64_t s = m->next_seq;
	pthread_mutex_unlock(&m->mu);
	return s;
}

const char *pt_recorder_run(const pt_recorder *r) { return r ? r->run : NULL; }
const char *pt_recorder_stream(const pt_recorder *r) { return r ? r->stream : NULL; }
uint64_t pt_recorder_recovered_bytes(const pt_recorder *r) { return r ? r->recovered_bytes : 0; }

/* ---- the writer thread's segment work ---- */
static void seg_reset(pt_recorder *r)
{
	r->seg_fd = -1;
	r->seg_size = 0;
	r->idx_n = 0;
	r->seg_events = r->seg_raw = 0;
	r->seg_step_min = r->seg_step_max = PT_NO_STEP;
	r->seg_time_min = r->seg_time_max = 0;
}

static int seg_create(pt_recorder *r, uint64_t first_seq)
{
	int fd = pt__open_in(r->st->path, r->open_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return pt__err_errno(errno, "cannot create %s", r->open_path);
	pt__seg_header h;
	memset(&h, 0, sizeof h);
	h.segno = r->segno;
	h.first_seq = first_seq;
	memcpy(h.prev, r->prev, PT_SHA256_LEN);
	snprintf(h.run, sizeof h.run, "%s", r->run);
	snprintf(h.stream, sizeof h.stream, "%s", r->stream);
	pt__buf b = {0};
	int rc = pt__seg_header_encode(&b, &h);
	if (!rc)
		rc = pt__write_all(fd, b.data, b.len, r->open_path);
	/* The new file's directory entry must be durable before any batch in it is. */
	if (!rc)
		rc = pt__fsync_dir_in(r->st->path, r->dir);
	if (rc) {
		close(fd);
		pt__unlink_in(r->st->path, r->open_path);
		pt__buf_free(&b);
		return rc;
	}
	r->seg_fd = fd;
	r->seg_size = b.len;
	r->seg_first_seq = first_seq;
	r->seg_opened_mono = pt__mono_ns();
	pt__sha256_update(r->sha, b.data, b.len);
	pt__buf_free(&b);
	return 0;
}

static int idx_add(pt_recorder *r, uint64_t off, const pt__batch_header *h)
{
	if (r->idx_n == r->idx_cap) {
		uint64_t nc = r->idx_cap ? r->idx_cap * 2 : 64;
		pt__index_entry *v = pt__realloc(r->idx, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		r->idx = v;
		r->idx_cap = nc;
	}
	r->idx[r->idx_n++] = (pt__index_entry){off, h->first_seq, h->count, h->step_min, h->step_max, h->time_min, h->time_max};
	r->seg_events += h->count;
	r->seg_raw += h->raw_len;
	if (h->step_min != PT_NO_STEP) {
		if (r->seg_step_min == PT_NO_STEP || h->step_min < r->seg_step_min)
			r->seg_step_min = h->step_min;
		if (r->seg_step_max == PT_NO_STEP || h->step_max > r->seg_step_max)
			r->seg_step_max = h->step_max;
	}
	if (r->idx_n == 1 || h->time_min < r->seg_time_min)
		r->seg_time_min = h->time_min;
	if (r->idx_n == 1 || h->time_max > r->seg_time_max)
		r->seg_time_max = h->time_max;
	return 0;
}

static int write_batch(pt_recorder *r, pt__batch *b)
{
	int rc;
	r->retryable = false;
	if (r->seg_fd < 0 && (rc = seg_create(r, b->first_seq))) {
		r->retryable = rc == PT_ENOSPC; /* seg_create removed the file */
		return rc;
	}
	r->cbuf.len = 0;
	if ((rc = pt__buf_reserve(&r->cbuf, PT_BATCH_FRAME_LEN)))
		return rc;
	r->cbuf.len = PT_BATCH_FRAME_LEN;
	if ((rc = pt__zc_compress(r->zc, &r->cbuf, b->raw.data, b->raw.len)))
		return rc;
	pt__batch_header h = {b->first_seq, b->count, (uint32_t)(r->cbuf.len - PT_BATCH_FRAME_LEN), (uint32_t)b->raw.len,
			     0, b->step_min, b->step_max, b->time_min, b->time_max, true, {0}, PT_BATCH_FRAME_LEN};
	h.payload_crc = pt__crc32c(0, r->cbuf.data + PT_BATCH_FRAME_LEN, h.payload_len);
	/* the tree after this batch: committed only once the batch is written
	 * (a batch retried after a lack of space is hashed again, not twice) */
	pt__merkle t = r->tree;
	if (t.size + 1 != b->first_seq)
		return pt__err(PT_ERROR, "internal: the Merkle tree has %llu leaves before seq %llu",
			       (unsigned long long)t.size, (unsigned long long)b->first_seq);
	for (uint32_t i = 0, start = 0; i < b->count; start = b->ev_end[i++]) {
		uint8_t lh[PT_SHA256_LEN];
		pt__merkle_leaf_hash(b->raw.data + start, b->ev_end[i] - start, lh);
		pt__merkle_push(&t, lh);
	}
	pt__merkle_root(&t, h.root);
	pt__batch_header_encode(r->cbuf.data, &h);
	rc = pt__write_all(r->seg_fd, r->cbuf.data, r->cbuf.len, r->open_path);
	if (rc) {
		/* Leave no partial batch behind: cut back to the last whole one. */
		if (ftruncate(r->seg_fd, (off_t)r->seg_size) == 0 &&
		    lseek(r->seg_fd, (off_t)r->seg_size, SEEK_SET) == (off_t)r->seg_size)
			r->retryable = rc == PT_ENOSPC;
		return rc;
	}
	pt__sha256_update(r->sha, r->cbuf.data, r->cbuf.len);
	pthread_mutex_lock(&r->tree_mu);
	r->tree = t;
	pthread_mutex_unlock(&r->tree_mu);
	rc = idx_add(r, r->seg_size, &h);
	r->seg_size += r->cbuf.len;
	return rc;
}

/* Footer, fdatasync, rename to the content address, chain update. */
static int seal_segment(pt_recorder *r)
{
	if (r->seg_fd < 0)
		return 0;
	pt__footer f = {r->idx_n, r->seg_events, r->seg_first_seq, r->seg_first_seq + r->seg_events - 1,
		       r->seg_step_min, r->seg_step_max, r->seg_time_min, r->seg_time_max, r->seg_raw, {0}, r->idx, 0,
		       false, 0, {0}, 0, {{0}}};
	memcpy(f.prev, r->prev, PT_SHA256_LEN);
	f.has_tree = true;
	f.tree_size = r->tree.size;
	pt__merkle_root(&r->tree, f.root);
	f.tree_n = r->tree.n;
	memcpy(f.tree_node, r->tree.node, (size_t)r->tree.n * PT_SHA256_LEN);
	pt__buf b = {0};
	char *dst = NULL;
	if (f.tree_size != f.last_seq)
		return pt__err(PT_ERROR, "internal: the Merkle tree has %llu leaves at the end of a segment ending at seq %llu",
			       (unsigned long long)f.tree_size, (unsigned long long)f.last_seq);
	bool write_failed = false;
	r->retryable = false;
	int rc = pt__footer_encode(&b, &f);
	if (!rc)
		write_failed = (rc = pt__write_all(r->seg_fd, b.data, b.len, r->open_path)) != 0;
	if (!rc && fdatasync(r->seg_fd) < 0)
		rc = pt__err_errno(errno, "cannot fdatasync %s", r->open_path);
	if (rc) {
		if (ftruncate(r->seg_fd, (off_t)r->seg_size) == 0 &&
		    lseek(r->seg_fd, (off_t)r->seg_size, SEEK_SET) == (off_t)r->seg_size)
			r->retryable = write_failed && rc == PT_ENOSPC; /* footer cut: seal again later */
		goto done;
	}
	pt__sha256_update(r->sha, b.data, b.len);
	uint8_t id[PT_SHA256_LEN];
	pt__sha256_final(r->sha, id);
	dst = pt__segment_path(r->dir, id);
	if (!dst) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (pt__rename_in(r->st->path, r->open_path, dst) < 0) {
		rc = pt__err_errno(errno, "cannot rename %s to %s", r->open_path, dst);
		goto done;
	}
	close(r->seg_fd);
	r->seg_fd = -1;
	if ((rc = pt__fsync_dir_in(r->st->path, r->segdir)) || (rc = pt__fsync_dir_in(r->st->path, r->dir)))
		goto done;
	pt__chain_entry ce = {r->segno, {0}, f.first_seq, f.last_seq, f.events, f.step_min, f.step_max,
			     f.time_min, f.time_max, r->seg_size + b.len, f.raw_bytes};
	memcpy(ce.id, id, PT_SHA256_LEN);
	if ((rc = pt__chain_append(&r->chain, &ce)) || (rc = pt__chain_store(r->dir, &r->chain)))
		goto done;
	memcpy(r->prev, id, PT_SHA256_LEN);
	r->segno++;
	seg_reset(r);
done:
	pt__buf_free(&b);
	pt__free(dst);
	return rc;
}

/* Sign tree `t` and store the note (STREAM/checkpoint.note), unless a tree
 * at least as large is already there.  `out` (may be NULL) gets the text.
 * `only_first`: nothing if a note was written already (a close that sealed
 * nothing new).  No key: nothing (the key is read under note_mu). */
static int sign_tree(pt_recorder *r, const pt__merkle *t, char **out, bool only_first)
{
	pt__checkpoint c;
	memset(&c, 0, sizeof c);
	snprintf(c.origin, sizeof c.origin, "%s", r->origin);
	c.size = t->size;
	pt__merkle_root(t, c.root);
	pt__buf b = {0};
	pthread_mutex_lock(&r->note_mu);
	if (!r->skey || (only_first && r->note_written)) {
		bool none = !r->skey;
		pthread_mutex_unlock(&r->note_mu);
		return none && out ? pt__err(PT_EINVAL, "no signing key") : 0;
	}
	int rc = pt__note_sign(&b, &c, r->skey);
	if (!rc && (!r->note_written || t->size > r->note_size)) {
		rc = pt__atomic_write_in(r->st->path, r->note_path, b.data, b.len, 0644);
		if (!rc) {
			r->note_size = t->size;
			r->note_written = true;
		}
	}
	pthread_mutex_unlock(&r->note_mu);
	if (!rc && out) {
		*out = (char *)b.data; /* NUL-terminated by pt__buf_printf */
		b.data = NULL;
	}
	pt__buf_free(&b);
	return rc;
}

/* Writer thread: a seal, then (with a key) the signed checkpoint of the tree it sealed. */
static int seal_and_sign(pt_recorder *r)
{
	bool had = r->seg_fd >= 0;
	int rc = seal_segment(r);
	if (!rc)
		rc = sign_tree(r, &r->tree, NULL, !had);
	return rc;
}

#define RETRY_MS 100

static void fold_batch(pt_recorder *r, const pt__batch *b);
static void snapshot_now(pt_recorder *r);

static void cond_deadline(struct timespec *ts, int64_t mono_ns)
{
	ts->tv_sec = mono_ns / 1000000000;
	ts->tv_nsec = mono_ns % 1000000000;
}

static void *writer_main(void *arg)
{
	pt_recorder *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (r->nospc && !r->stop && !r->err) {
			/* out of space: retry after RETRY_MS, or sooner when flush asks */
			struct timespec ts;
			cond_deadline(&ts, pt__mono_ns() + RETRY_MS * 1000000);
			pthread_cond_timedwait(&r->cv_work, &r->mu, &ts);
		}
		while (!r->qhead && !r->stop && r->seal_req == r->seal_done && !r->err && !r->nospc &&
		       !r->final_snap_req) {
			int64_t now = pt__mono_ns(), deadline = INT64_MAX;
			if (r->cur->count)
				deadline = r->cur->opened_mono + (int64_t)r->o.max_delay_ms * 1000000;
			if (r->seg_fd >= 0 && r->o.segment_max_age_s) {
				int64_t age_dl = r->seg_opened_mono + (int64_t)r->o.segment_max_age_s * 1000000000;
				if (age_dl <= now) {
					r->seal_req++;
					break;
				}
				if (age_dl < deadline)
					deadline = age_dl;
			}
			if (r->cur->count && now >= r->cur->opened_mono + (int64_t)r->o.max_delay_ms * 1000000) {
				if (enqueue_cur_locked(r))
					break;
				continue;
			}
			if (deadline == INT64_MAX) {
				pthread_cond_wait(&r->cv_work, &r->mu);
			} else {
				struct timespec ts;
				cond_deadline(&ts, deadline);
				pthread_cond_timedwait(&r->cv_work, &r->mu, &ts);
			}
		}
		if (r->err)
			break;
		if ((r->stop || r->seal_req != r->seal_done) && r->cur->count && enqueue_cur_locked(r)) {
			pthread_mutex_unlock(&r->mu);
			set_sticky(r, PT_ENOMEM);
			pthread_mutex_lock(&r->mu);
			break;
		}
		pt__batch *list = r->qhead;
		r->qhead = r->qtail = NULL;
		r->queued = 0;
		uint64_t seal_target = r->seal_req;
		bool stopping = r->stop;
		bool final_snap = r->final_snap_req;
		pthread_cond_broadcast(&r->cv_space);
		pthread_mutex_unlock(&r->mu);

		int rc = 0;
		uint64_t last = 0;
		pt__batch *b = list, *failed = NULL;
		for (; b; b = b->next) {
			if ((rc = write_batch(r, b))) {
				failed = b;
				break;
			}
			if (r->fold_ok)
				fold_batch(r, b);
			last = b->first_seq + b->count - 1;
			if (r->seg_size >= r->o.segment_max_bytes && (rc = seal_and_sign(r))) {
				failed = b->next;
				break;
			}
		}
		if (final_snap && r->fold_ok && r->fold.seq >= r->last_snap + PT_FINAL_SNAPSHOT_MIN)
			snapshot_now(r);
		bool synced = false;
		/* a lack of space that left nothing half written is retried (see
		 * nospc); what was written before it is still synced now */
		bool retry = rc && r->retryable && !stopping;
		if ((!rc || retry) && r->seg_fd >= 0 && (r->o.durability == PT_DURABILITY_FSYNC || stopping) && last) {
			if (fdatasync(r->seg_fd) < 0) {
				rc = pt__err_errno(errno, "cannot fdatasync %s", r->open_path);
				retry = false;
			} else {
				synced = true;
			}
		}
		if (!rc && (stopping || seal_target != r->seal_done)) {
			rc = seal_and_sign(r);
			synced = !rc;
			retry = rc && r->retryable && !stopping;
		}
		if (rc && !retry)
			set_sticky(r, rc);

		pthread_mutex_lock(&r->mu);
		r->rounds++;
		if (retry && !r->nospc) {
			r->nospc = rc;
			snprintf(r->nospc_msg, sizeof r->nospc_msg, "%s", pt_error_last());
		} else if (!rc) {
			r->nospc = 0;
		}
		if (last) {
			r->written_seq = last;
			if (synced || (r->seg_fd < 0 && !rc))
				r->synced_seq = last;
		}
		if (!rc && seal_target != r->seal_done)
			r->seal_done = seal_target;
		if (final_snap)
			r->final_snap_req = false;
		/* Batches not written stay queued (nothing acknowledged is dropped). */
		pt__batch *keep = failed;
		for (b = list; b && b != keep;) {
			pt__batch *n = b->next;
			b->next = r->free_list;
			r->free_list = b;
			b = n;
		}
		if (keep) {
			pt__batch *t = keep;
			r->queued++;
			while (t->next) {
				t = t->next;
				r->queued++;
			}
			t->next = r->qhead;
			r->qhead = keep;
			if (!r->qtail)
				r->qtail = t;
		}
		pthread_cond_broadcast(&r->cv_done);
		pthread_cond_broadcast(&r->cv_space);
		if ((rc && !retry) || (stopping && !r->qhead && !r->cur->count))
			break;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}


/* ---- state snapshots ----------------------------------------------------------
 *
 * The writer thread folds the raw bytes of every batch it has just written
 * (no re-read, no decompression: about 100 ns an event), and every
 * `snapshot_every` events serializes the state for the snapshot thread,
 * which stores it as an object (an fsync: kept off the writer thread) and
 * appends a `snapshot` event naming it; STREAM/snapshots indexes them for
 * replay.  If the snapshot thread is still busy with the previous state, the
 * newer one replaces it: snapshots are a cache, and a skipped one only
 * lengthens some replays.  A failure to fold or store turns snapshots off for
 * this recorder; it is never a recording error.
 */
static int write_snapshot(pt_recorder *r, const pt__buf *state, uint64_t at, int64_t lineage, int64_t time)
{
	uint8_t id[PT_SHA256_LEN];
	int rc = pt__object_put(r->st, state->data, state->len, id);
	if (rc)
		return rc;
	uint8_t body[PT_SNAPSHOT_BODY_MAX];
	size_t blen = pt__snapshot_body_encode(body, at, lineage, id);
	/* Stamped with the time of the state it captures, not of the moment it
	 * was stored: a snapshot never moves the stream's running max time
	 * (time= points) nor makes old history look recent (archive min-age). */
	envelope e = {"snapshot", 8, NULL, 0, false, PT_NO_STEP, time > 0 ? time : 0, NULL, body, blen};
	uint64_t evseq = 0;
	pthread_mutex_lock(&r->mu);
	rc = append_locked(r, &e, &evseq);
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return rc;
	rc = pt__snapidx_append(r->st, r->dir, at, lineage, id, evseq);
	if (!rc)
		r->snap_count++;
	return rc;
}

/* The state at `seq` on the lineage live there (when a lineage begins). */
static int state_at_seq(pt_recorder *r, uint64_t seq, pt__fold *out)
{
	return pt__state_fold_at(r->st, r->run, r->stream, seq, 1, out);
}

/* Writer thread: serialize the fold and queue it for the snapshot thread. */
static void snapshot_now(pt_recorder *r)
{
	pt__buf s = {0};
	if (pt__fold_serialize(&r->fold, &s)) {
		pt__buf_free(&s);
		r->fold_ok = false;
		return;
	}
	r->last_snap = r->fold.seq;
	pthread_mutex_lock(&r->mu);
	if (r->snapq_n == PT_SNAPSHOT_QUEUE) {
		/* the store thread is far behind: drop the oldest (a cache) */
		pt__buf_free(&r->snapq[r->snapq_head].state);
		r->snapq_head = (r->snapq_head + 1) % PT_SNAPSHOT_QUEUE;
		r->snapq_n--;
	}
	struct snap_item *it = &r->snapq[(r->snapq_head + r->snapq_n) % PT_SNAPSHOT_QUEUE];
	it->state = s;
	it->at = r->fold.seq;
	it->lineage = r->fold.lineage;
	it->time = r->fold.max_time;
	r->snapq_n++;
	pthread_cond_signal(&r->cv_snap);
	pthread_mutex_unlock(&r->mu);
}

/* Writer thread: fold a batch just written; hand a snapshot over when due. */
static void fold_batch(pt_recorder *r, const pt__batch *b)
{
	const uint8_t *p = b->raw.data, *end = p + b->raw.len;
	for (uint32_t i = 0; i < b->count && r->fold_ok; i++) {
		pt__fold_event e;
		int rc = pt__fold_event_decode_next(&e, &p, end);
		if (!rc)
			rc = e.kind_len == 7 && !memcmp(e.kind, "lineage", 7)
				     ? state_at_seq(r, e.seq, &r->fold) /* the parent at the fork, then this event */
				     : pt__fold_apply(&r->fold, &e);
		if (rc) {
			r->fold_ok = false;
			break;
		}
		if (r->fold.seq >= r->last_snap + r->o.snapshot_every)
			snapshot_now(r);
	}
}

static void *snap_main(void *arg)
{
	pt_recorder *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (!r->snap_finish && !r->snapq_n)
			pthread_cond_wait(&r->cv_snap, &r->mu);
		if (!r->snapq_n) {
			pthread_mutex_unlock(&r->mu);
			break; /* finishing and nothing left */
		}
		struct snap_item it = r->snapq[r->snapq_head];
		r->snapq[r->snapq_head].state = (pt__buf){0};
		r->snapq_head = (r->snapq_head + 1) % PT_SNAPSHOT_QUEUE;
		r->snapq_n--;
		pthread_mutex_unlock(&r->mu);
		int rc = write_snapshot(r, &it.state, it.at, it.lineage, it.time);
		pt__buf_free(&it.state);
		if (rc)
			break;
	}
	return NULL;
}

static void snap_stop(pt_recorder *r)
{
	if (!r->snap_started)
		return;
	pt_recorder_flush(r); /* the writer folds everything appended */
	pthread_mutex_lock(&r->mu);
	r->final_snap_req = true;
	pthread_cond_signal(&r->cv_work);
	while (r->final_snap_req && !r->err)
		pthread_cond_wait(&r->cv_done, &r->mu);
	r->snap_finish = true;
	pthread_cond_signal(&r->cv_snap);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->snap_thread, NULL);
	r->snap_started = false;
}

uint64_t pt_recorder_snapshots(const pt_recorder *r) { return r ? r->snap_count : 0; }

int pt_recorder_resume(pt_recorder *r, int64_t from_step, int64_t parent, const char *manifest_hex, int64_t *out_lineage)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_resume: NULL recorder");
	if (manifest_hex && (strlen(manifest_hex) != 64 || pt__unhex(manifest_hex, (uint8_t[32]){0}, 32)))
		return pt__err(PT_EINVAL, "pt_recorder_resume: manifest must be 64 hex digits");
	int rc = pt_recorder_flush(r);
	if (rc)
		return rc;
	pt__fold f;
	pt__fold_init(&f);
	if ((rc = pt__state_fold_at(r->st, r->run, r->stream, 0, 1, &f)))
		return rc;
	int64_t live = f.lineage, max_id = 0;
	bool parent_ok = parent == PT_LINEAGE_LIVE || parent == 0;
	for (size_t i = 0; i < f.nlineages; i++) {
		if (f.lineages[i].id > max_id)
			max_id = f.lineages[i].id;
		if (f.lineages[i].id == parent)
			parent_ok = true;
	}
	pt__fold_free(&f);
	if (!parent_ok)
		return pt__err(PT_ENOTFOUND, "lineage %lld not found in %s/%s", (long long)parent, r->run, r->stream);
	int64_t id = max_id + 1, par = parent == PT_LINEAGE_LIVE ? live : parent;
	pt_event *ev;
	if ((rc = pt_event_new(&ev, "lineage", NULL)))
		return rc;
	if (!(rc = pt_event_uint(ev, "lineage", (uint64_t)id)) && !(rc = pt_event_uint(ev, "parent", (uint64_t)par))) {
		rc = from_step == PT_NO_STEP ? pt_event_nil(ev, "from_step") : pt_event_int(ev, "from_step", from_step);
		if (!rc && manifest_hex)
			rc = pt_event_str(ev, "manifest", manifest_hex);
	}
	if (!rc)
		rc = pt__recorder_append_own(r, ev, NULL);
	pt_event_free(ev);
	if (!rc)
		rc = pt_recorder_flush(r);
	if (!rc && out_lineage)
		*out_lineage = id;
	return rc;
}

/* ---- opening: lock, chain, recovery ---- */
static int take_lock(pt_recorder *r)
{
	char *path = pt__sprintf("%s/lock", r->dir);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	int fd = pt__open_in(r->st->path, path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open lock file %s", path);
		goto done;
	}
	if ((rc = pt__check_private_file(fd, path))) {
		close(fd);
		goto done;
	}
	/* An OFD lock: per open file description (so a second recorder in the
	 * same process conflicts too), released by the kernel when the process
	 * dies, and testable without taking it (F_OFD_GETLK, see stat). */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EACCES) {
			char holder[256] = "";
			ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
			holder[n > 0 ? n : 0] = 0;
			char *nl = strchr(holder, '\n');
			if (nl)
				*nl = 0;
			rc = pt__err(PT_ELOCKED, "stream %s/%s is being written by another recorder (%s); one writer per stream",
				     r->run, r->stream, holder[0] ? holder : "holder unknown");
		} else {
			rc = pt__err_errno(e, "cannot lock %s", path);
		}
		close(fd);
		goto done;
	}
	char host[128] = "?", tbuf[48], line[300];
	gethostname(host, sizeof host - 1);
	int n = snprintf(line, sizeof line, "pid=%d host=%s since=%s\n", (int)getpid(), host,
			 pt_time_format(pt_time_now_ns(), tbuf, sizeof tbuf));
	if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) < 0) {
		/* informational only */
	}
	r->lock_fd = fd;
done:
	pt__free(path);
	return rc;
}

/* Keep the cut bytes in cut/ (forensics), then truncate. */
static int cut_tail(pt_recorder *r, int fd, uint64_t from, uint64_t size, const char *why, envelope *rec_ev,
		    pt__buf *body)
{
	uint64_t n = size - from;
	uint8_t *buf = pt__malloc(n ? (size_t)n : 1);
	if (!buf)
		return PT_ENOMEM;
	int rc = pt__pread_all(fd, buf, (size_t)n, from, r->open_path);
	uint8_t h[PT_SHA256_LEN];
	char hex[PT_SHA256_HEX];
	char *cutdir = NULL, *cutpath = NULL;
	if (rc)
		goto done;
	pt__sha256(buf, (size_t)n, h);
	pt__hex(h, PT_SHA256_LEN, hex);
	cutdir = pt__sprintf("%s/cut", r->dir);
	cutpath = cutdir ? pt__sprintf("%s/%llu-%s.bin", cutdir, (unsigned long long)from, hex) : NULL;
	if (!cutpath) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__mkdir_in(r->st->path, cutdir, 0700)) ||
	    (rc = pt__atomic_write_in(r->st->path, cutpath, buf, (size_t)n, 0600)))
		goto done;
	if (ftruncate(fd, (off_t)from) < 0 || fdatasync(fd) < 0) {
		rc = pt__err_errno(errno, "cannot truncate %s", r->open_path);
		goto done;
	}
	r->recovered_bytes += n;
	/* body of the recovery event */
	uint8_t tmp[600], *p = tmp;
	const char *rel = strrchr(cutpath, '/') + 1;
	p = mpk_map_hdr(p, 6);
	p = mpk_str_hdr(p, 7); memcpy(p, "segment", 7); p += 7;
	p = mpk_str_hdr(p, (uint32_t)strlen(PT_OPEN_SEGMENT)); memcpy(p, PT_OPEN_SEGMENT, strlen(PT_OPEN_SEGMENT)); p += strlen(PT_OPEN_SEGMENT);
	p = mpk_str_hdr(p, 6); memcpy(p, "offset", 6); p += 6;
	p = mpk_uint(p, from);
	p = mpk_str_hdr(p, 5); memcpy(p, "bytes", 5); p += 5;
	p = mpk_uint(p, n);
	p = mpk_str_hdr(p, 6); memcpy(p, "sha256", 6); p += 6;
	p = mpk_str_hdr(p, 64); memcpy(p, hex, 64); p += 64;
	p = mpk_str_hdr(p, 8); memcpy(p, "saved_as", 8); p += 8;
	size_t rl = strlen(rel) + 4;
	p = mpk_str_hdr(p, (uint32_t)rl); memcpy(p, "cut/", 4); memcpy(p + 4, rel, rl - 4); p += rl;
	p = mpk_str_hdr(p, 6); memcpy(p, "reason", 6); p += 6;
	size_t wl = strnlen(why, 200);
	p = mpk_str_hdr(p, (uint32_t)wl); memcpy(p, why, wl); p += wl;
	body->len = 0;
	if ((rc = pt__buf_append(body, tmp, (size_t)(p - tmp))))
		goto done;
	*rec_ev = (envelope){PT_KIND_RECOVERY, strlen(PT_KIND_RECOVERY), "torn_tail", 9, true, PT_NO_STEP, 0,
			     NULL, body->data, body->len};
done:
	pt__free(buf);
	pt__free(cutdir);
	pt__free(cutpath);
	return rc;
}

/*
 * A crash between renaming a sealed segment and rewriting the chain leaves
 * a sealed file the chain does not list yet: adopt it if it continues the
 * chain and checks out completely.
 */
static int roll_forward(pt_recorder *r)
{
	for (;;) {
		char **names = NULL;
		size_t n = 0;
		int rc = pt__list_dir_in(r->st->path, r->segdir, PT_SEG_SUFFIX, &names, &n);
		if (rc)
			return rc;
		bool adopted = false;
		for (size_t i = 0; i < n && !adopted; i++) {
			uint8_t id[PT_SHA256_LEN];
			if (strlen(names[i]) != 64 + strlen(PT_SEG_SUFFIX))
				continue;
			char hex[65];
			memcpy(hex, names[i], 64);
			hex[64] = 0;
			if (pt__unhex(hex, id, PT_SHA256_LEN))
				continue;
			bool listed = false;
			for (size_t k = 0; k < r->chain.n && !listed; k++)
				listed = !memcmp(r->chain.v[k].id, id, PT_SHA256_LEN);
			if (listed)
				continue;
			char *path = pt__sprintf("%s/%s", r->segdir, names[i]);
			if (!path) {
				pt_strv_free(names, n);
				return PT_ENOMEM;
			}
			int fd = pt__open_in(r->st->path, path, O_RDONLY, 0);
			struct stat sb;
			pt__seg_header h;
			pt__footer f = {0};
			uint8_t actual[PT_SHA256_LEN];
			uint64_t size = 0;
			bool ok = fd >= 0 && fstat(fd, &sb) == 0 && !pt__seg_header_read(fd, (uint64_t)sb.st_size, path, &h) &&
				  !memcmp(h.prev, r->prev, PT_SHA256_LEN) && h.segno == r->segno &&
				  h.first_seq == r->next_seq && !pt__footer_read(fd, (uint64_t)sb.st_size, path, &f) &&
				  !pt__sha256_file_in(r->st->path, path, actual, &size) && !memcmp(actual, id, PT_SHA256_LEN);
			if (fd >= 0)
				close(fd);
			if (ok) {
				pt__chain_entry ce = {h.segno, {0}, f.first_seq, f.last_seq, f.events, f.step_min, f.step_max,
						     f.time_min, f.time_max, size, f.raw_bytes};
				memcpy(ce.id, id, PT_SHA256_LEN);
				rc = pt__chain_append(&r->chain, &ce);
				if (!rc)
					rc = pt__chain_store(r->dir, &r->chain);
				memcpy(r->prev, id, PT_SHA256_LEN);
				r->segno++;
				r->next_seq = f.last_seq + 1;
				adopted = true;
			}
			pt__footer_free(&f);
			pt__free(path);
			if (rc) {
				pt_strv_free(names, n);
				return rc;
			}
		}
		pt_strv_free(names, n);
		if (!adopted)
			return 0;
	}
}

/*
 * The stream's newest sealed segment names the run and stream it was written
 * for (its header): a stream directory copied or moved under another name
 * must not be appended to as if it were this stream (issue 11 item 9).  One
 * header read, hot or archived, through the seam.
 */
static int check_identity(pt_recorder *r)
{
	if (!r->chain.n)
		return 0;
	pt__history h;
	int rc = pt__history_load(&h, r->st, r->run, r->stream, false);
	if (rc)
		return rc;
	pt__segsrc src = PT_SEGSRC_INIT;
	if (h.chain.n)
		rc = pt__history_open_sealed(&h, h.chain.n - 1, &src, NULL);
	pt__segsrc_close(&src);
	pt__history_free(&h);
	return rc;
}

static int check_chain_files(pt_recorder *r)
{
	for (size_t i = 0; i < r->chain.n; i++) {
		char *p = pt__segment_path(r->dir, r->chain.v[i].id);
		if (!p)
			return PT_ENOMEM;
		struct stat sb;
		int rc = 0;
		if (pt__stat_in(r->st->path, p, &sb) < 0) {
			/* archived segments leave the hot store (archive_job.c) */
			if (errno == ENOENT && pt__vault_segment_state(r->st, r->chain.v[i].id) != PT_SEGMENT_HOT)
				goto next;
			rc = pt__err(PT_ECORRUPT, "%s: sealed segment %llu listed in the chain is missing; run `provtrace verify`",
				     p, (unsigned long long)r->chain.v[i].segno);
		}
		else if (S_ISLNK(sb.st_mode))
			rc = pt__err(PT_EIO, "%s: sealed segment %llu is a symbolic link inside the store (not followed)", p,
				     (unsigned long long)r->chain.v[i].segno);
		else if ((uint64_t)sb.st_size != r->chain.v[i].bytes)
			rc = pt__err(PT_ECORRUPT, "%s: sealed segment is %lld bytes, the chain says %llu; run `provtrace verify`",
				     p, (long long)sb.st_size, (unsigned long long)r->chain.v[i].bytes);
	next:
		pt__free(p);
		if (rc)
			return rc;
	}
	return 0;
}

static int recover_open_segment(pt_recorder *r, envelope *rec_ev, pt__buf *rec_body, bool *have_rec)
{
	int fd = pt__open_in(r->st->path, r->open_path, O_RDWR, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return pt__err_errno(errno, "cannot open %s", r->open_path);
	}
	pt__openseg_result s;
	int rc = pt__check_private_file(fd, r->open_path);
	if (rc) {
		close(fd);
		return rc;
	}
	/* one pass over the file, in large blocks: scan and hash (segment.c) */
	rc = pt__openseg_scan_hash(fd, r->open_path, r->sha, &s);
	if (rc)
		goto done;
	if (s.tail == PT_SCAN_BAD) {
		rc = pt__err(PT_ECORRUPT,
			     "%s: %s, followed by a valid batch at offset %llu: this is damage, not a torn write; refusing to append (run `provtrace verify`)",
			     r->open_path, s.why, (unsigned long long)s.bad_next);
		goto done;
	}
	if (!s.hdr_ok) {
		/* The header itself never made it to disk: cut the whole file. */
		rc = cut_tail(r, fd, 0, s.file_size, s.why, rec_ev, rec_body);
		if (!rc) {
			close(fd);
			fd = -1;
			if (pt__unlink_in(r->st->path, r->open_path) < 0)
				rc = pt__err_errno(errno, "cannot remove %s", r->open_path);
			*have_rec = true;
		}
		goto done;
	}
	if (strcmp(s.hdr.run, r->run) || strcmp(s.hdr.stream, r->stream)) {
		rc = pt__err(PT_ECORRUPT,
			     "%s: the segment belongs to run \"%s\" stream \"%s\" but is stored as run \"%s\" stream \"%s\" "
			     "(a copied or moved stream directory?)",
			     r->open_path, s.hdr.run, s.hdr.stream, r->run, r->stream);
		goto done;
	}
	if (memcmp(s.hdr.prev, r->prev, PT_SHA256_LEN) || s.hdr.first_seq != r->next_seq || s.hdr.segno != r->segno) {
		rc = pt__err(PT_ECORRUPT,
			     "%s: open segment does not continue the chain (segment %llu from seq %llu, expected segment %llu from seq %llu); run `provtrace verify`",
			     r->open_path, (unsigned long long)s.hdr.segno, (unsigned long long)s.hdr.first_seq,
			     (unsigned long long)r->segno, (unsigned long long)r->next_seq);
		goto done;
	}
	if (s.tail == PT_SCAN_FOOTER) {
		pt__footer f;
		if (pt__footer_read(fd, s.file_size, r->open_path, &f) == 0 && f.offset == s.valid_end &&
		    f.batches == s.n && f.events == s.events) {
			pt__footer_free(&f);
			s.tail = PT_SCAN_END; /* complete the interrupted seal below */
		} else {
			s.tail = PT_SCAN_TORN;
			snprintf(s.why, sizeof s.why, "incomplete footer at offset %llu", (unsigned long long)s.valid_end);
		}
		if (s.tail == PT_SCAN_END) {
			/* re-hash the file and seal it exactly as the crashed writer would have */
			r->seg_fd = fd;
			fd = -1;
			if (ftruncate(r->seg_fd, (off_t)s.valid_end) < 0 || lseek(r->seg_fd, 0, SEEK_END) < 0) {
				rc = pt__err_errno(errno, "cannot truncate %s", r->open_path);
				goto done;
			}
			goto adopt;
		}
	}
	if (s.tail == PT_SCAN_TORN) {
		if ((rc = cut_tail(r, fd, s.valid_end, s.file_size, s.why, rec_ev, rec_body)))
			goto done;
		*have_rec = true;
	}
	if (s.n == 0) {
		/* only a header: drop the file, a new one is made on the first batch
		 * (and hashed from its own header: forget the one hashed by the scan) */
		close(fd);
		fd = -1;
		if (pt__unlink_in(r->st->path, r->open_path) < 0)
			rc = pt__err_errno(errno, "cannot remove %s", r->open_path);
		pt__sha256_free(r->sha);
		r->sha = NULL;
		if (!rc)
			rc = pt__sha256_new(&r->sha);
		goto done;
	}
	if (lseek(fd, (off_t)s.valid_end, SEEK_SET) < 0) {
		rc = pt__err_errno(errno, "cannot seek %s", r->open_path);
		goto done;
	}
	r->seg_fd = fd;
	fd = -1;
adopt:
	r->seg_size = s.valid_end;
	r->seg_first_seq = s.hdr.first_seq;
	r->seg_opened_mono = pt__mono_ns();
	/* the scan's index becomes the writer's (the same entries idx_add would
	 * have built one by one), with its totals */
	pt__free(r->idx);
	r->idx = s.entries;
	r->idx_n = s.n;
	r->idx_cap = s.cap;
	s.entries = NULL;
	r->seg_events = s.events;
	r->seg_step_min = s.step_min;
	r->seg_step_max = s.step_max;
	r->seg_time_min = s.time_min;
	r->seg_time_max = s.time_max;
	r->seg_raw = s.raw_bytes;
	r->next_seq = s.next_seq;
	/*
	 * Seal what was recovered, as the crashed writer's close would have: a
	 * sealed segment has an index, so the replay that rebuilds the writer's
	 * state below (and every later reader) finds its batches by the footer
	 * instead of scanning an open segment batch by batch.  Also completes an
	 * interrupted seal (a footer already written).
	 */
	if (!rc && r->seg_fd >= 0) {
		pt__tree_feeder tf = {0};
		tf.check_roots = true;
		rc = pt__tree_feed(&tf, &r->tree, r->seg_fd, 0, s.hdr.frame_len, s.valid_end, r->open_path);
		pt__tree_feeder_free(&tf);
		if (!rc)
			rc = seal_segment(r);
	}
done:
	pt__openseg_scan_free(&s);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The tree over the sealed history (the newest footer holds it). */
static int load_tree(pt_recorder *r)
{
	pt__merkle_init(&r->tree);
	if (!r->chain.n)
		return 0;
	pt__history h;
	int rc = pt__history_load(&h, r->st, r->run, r->stream, false);
	if (!rc)
		rc = pt__tree_of_sealed(&h, &r->tree);
	pt__history_free(&h);
	if (!rc && r->tree.size != r->next_seq - 1)
		rc = pt__err(PT_ECORRUPT, "%s/%s: the Merkle tree of the sealed history has %llu events, the chain %llu",
			     r->run, r->stream, (unsigned long long)r->tree.size, (unsigned long long)(r->next_seq - 1));
	if (rc)
		return pt__err_wrap(rc, "cannot compute the Merkle tree of %s/%s", r->run, r->stream);
	return 0;
}

static char *generate_run_name(void)
{
	uint8_t rnd[3] = {0};
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
		uint64_t t = (uint64_t)pt__mono_ns();
		memcpy(rnd, &t, 3);
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	return pt__sprintf("%04d%02d%02d-%02d%02d%02d-%02x%02x%02x", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			   tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

static void recorder_destroy(pt_recorder *r)
{
	if (!r)
		return;
	if (r->seg_fd >= 0)
		close(r->seg_fd);
	if (r->lock_fd >= 0)
		close(r->lock_fd); /* releases the flock */
	batch_free(r->cur);
	for (pt__batch *b = r->qhead; b;) {
		pt__batch *n = b->next;
		batch_free(b);
		b = n;
	}
	for (pt__batch *b = r->free_list; b;) {
		pt__batch *n = b->next;
		batch_free(b);
		b = n;
	}
	pt__sha256_free(r->sha);
	pt__zc_free(r->zc);
	pt__buf_free(&r->cbuf);
	pt__chain_free(&r->chain);
	pt__free(r->idx);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv_work);
	pthread_cond_destroy(&r->cv_done);
	pthread_cond_destroy(&r->cv_space);
	pthread_cond_destroy(&r->cv_snap);
	pthread_mutex_destroy(&r->tree_mu);
	pthread_mutex_destroy(&r->note_mu);
	if (r->skey)
		memset(r->skey, 0, sizeof *r->skey);
	pt__free(r->skey);
	pt__free(r->note_path);
	pt__fold_free(&r->fold);
	for (size_t i = 0; i < PT_SNAPSHOT_QUEUE; i++)
		pt__buf_free(&r->snapq[i].state);
	pt__free(r->run);
	pt__free(r->stream);
	pt__free(r->dir);
	pt__free(r->segdir);
	pt__free(r->open_path);
	pt__free(r);
}

int pt_recorder_open(pt_recorder **out, pt_store *st, const char *run, const char *stream,
		     const pt_recorder_options *opts)
{
	if (!out || !st)
		return pt__err(PT_EINVAL, "pt_recorder_open: NULL argument");
	*out = NULL;
	int ro = pt__rstore_refuse_write(st, "pt_recorder_open");
	if (ro)
		return ro;
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_RECORDER_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_recorder_open: options version %u is not supported", opts->version);
		o = *opts;
	}
	if (o.reserved1 || o.reserved2)
		return pt__err(PT_EINVAL, "pt_recorder_open: options reserved1/reserved2 must be 0 (they were capture_code and "
				      "code_options: call pt_code_capture after opening to record code provenance)");
	if (o.durability > PT_DURABILITY_FSYNC)
		return pt__err(PT_EINVAL, "invalid durability %d", (int)o.durability);
	if (o.batch_max_events == 0 || o.batch_max_events > PT_MAX_BATCH_EVENTS)
		o.batch_max_events = o.batch_max_events ? PT_MAX_BATCH_EVENTS : 4096;
	if (o.batch_max_bytes < 4096)
		o.batch_max_bytes = 4096;
	if (o.batch_max_bytes > (64u << 20))
		o.batch_max_bytes = 64u << 20;
	if (o.queue_max_batches < 1)
		o.queue_max_batches = 1;
	if (o.segment_max_bytes < 4096)
		o.segment_max_bytes = 4096;
	if (o.max_delay_ms == 0)
		o.max_delay_ms = 1;

	pt_recorder *r = pt__calloc(1, sizeof *r);
	if (!r)
		return PT_ENOMEM;
	r->lock_fd = -1;
	seg_reset(r);
	r->o = o;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv_work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&r->cv_done, NULL);
	pthread_cond_init(&r->cv_space, NULL);
	pthread_cond_init(&r->cv_snap, NULL);
	pthread_mutex_init(&r->tree_mu, NULL);
	pthread_mutex_init(&r->note_mu, NULL);
	r->st = st;
	int rc = 0;
	envelope rec_ev;
	pt__buf rec_body = {0};
	bool have_rec = false;

	r->run = run ? pt__strdup(run) : generate_run_name();
	r->stream = pt__strdup(stream ? stream : PT_DEFAULT_STREAM);
	if (!r->run || !r->stream) {
		rc = PT_ENOMEM;
		goto fail;
	}
	if ((rc = pt_name_check("run", r->run)) || (rc = pt_name_check("stream", r->stream)))
		goto fail;
	r->dir = pt__stream_dir(st, r->run, r->stream);
	r->segdir = r->dir ? pt__sprintf("%s/segments", r->dir) : NULL;
	r->open_path = r->dir ? pt__sprintf("%s/%s", r->dir, PT_OPEN_SEGMENT) : NULL;
	if (!r->segdir || !r->open_path) {
		rc = PT_ENOMEM;
		goto fail;
	}
	if ((rc = pt__mkdir_in(st->path, r->segdir, 0755)) || (rc = take_lock(r)))
		goto fail;
	if ((rc = pt__sha256_new(&r->sha)) || (rc = pt__zc_new(&r->zc, o.zstd_level)))
		goto fail;
	if ((rc = pt__chain_load(r->dir, &r->chain)))
		goto fail;
	r->next_seq = 1;
	if (r->chain.n) {
		pt__chain_entry *last = &r->chain.v[r->chain.n - 1];
		memcpy(r->prev, last->id, PT_SHA256_LEN);
		r->segno = last->segno + 1;
		r->next_seq = last->last_seq + 1;
	}
	if ((rc = check_chain_files(r)) || (rc = check_identity(r)) || (rc = roll_forward(r)) || (rc = load_tree(r)) ||
	    (rc = recover_open_segment(r, &rec_ev, &rec_body, &have_rec)))
		goto fail;
	if (!(r->cur = batch_get_locked(r))) {
		rc = PT_ENOMEM;
		goto fail;
	}
	/* everything recovered is on disk: a flush has nothing to wait for */
	r->written_seq = r->synced_seq = r->next_seq - 1;
	/* the state of what the stream holds, for the writer's fold (bounded: from a snapshot) */
	pt__fold_init(&r->fold);
	if (o.snapshot_every) {
		r->fold_ok = r->next_seq == 1 || state_at_seq(r, r->next_seq - 1, &r->fold) == 0;
		r->last_snap = r->fold.seq;
		pt__err_clear();
	}
	if (pthread_create(&r->thread, NULL, writer_main, r)) {
		rc = pt__err(PT_ERROR, "cannot start the writer thread");
		goto fail;
	}
	r->thread_started = true;
	if (have_rec) {
		pthread_mutex_lock(&r->mu);
		rc = append_locked(r, &rec_ev, NULL);
		pthread_mutex_unlock(&r->mu);
		if (!rc)
			rc = pt_recorder_flush(r);
		if (rc)
			goto fail;
	}
	pt__buf_free(&rec_body);
	if (r->fold_ok && pthread_create(&r->snap_thread, NULL, snap_main, r) == 0)
		r->snap_started = true; /* without it, replay is slower, never wrong */
	*out = r;
	return 0;
fail:
	pt__buf_free(&rec_body);
	if (r->thread_started) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		pthread_cond_signal(&r->cv_work);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	{
		/* keep the message of the failure, not of the clean-up */
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", pt_error_last());
		recorder_destroy(r);
		pt__err(rc, "%s", msg);
	}
	return rc;
}

int pt_recorder_flush(pt_recorder *r)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_flush: NULL recorder");
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	if (r->err) {
		rc = sticky_locked(r);
		goto done;
	}
	uint64_t target = r->next_seq - 1;
	if (r->cur->count && (rc = enqueue_cur_locked(r)))
		goto done;
	/* after a lack of space: ask for a retry now and report its outcome */
	uint64_t round0 = r->rounds;
	if (r->nospc)
		pthread_cond_signal(&r->cv_work);
	if (r->o.durability == PT_DURABILITY_NONE)
		goto done;
	for (;;) {
		uint64_t have = r->o.durability == PT_DURABILITY_FSYNC ? r->synced_seq : r->written_seq;
		if (have >= target)
			break;
		if (r->err) {
			rc = sticky_locked(r);
			break;
		}
		if (r->nospc && r->rounds != round0) {
			rc = pt__err(r->nospc, "%s (events up to seq %llu are durable; the rest stay queued and are "
				     "retried: free space and flush again)", r->nospc_msg,
				     (unsigned long long)r->synced_seq);
			break;
		}
		pthread_cond_wait(&r->cv_done, &r->mu);
	}
done:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int pt_recorder_seal(pt_recorder *r)
{
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_seal: NULL recorder");
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	if (r->cur->count && (rc = enqueue_cur_locked(r))) {
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	uint64_t want = ++r->seal_req;
	pthread_cond_signal(&r->cv_work);
	while (r->seal_done < want && !r->err)
		pthread_cond_wait(&r->cv_done, &r->mu);
	if (r->err)
		rc = sticky_locked(r);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int pt_recorder_close(pt_recorder *r)
{
	if (!r)
		return 0;
	snap_stop(r);
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv_work);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	int rc = 0;
	if (r->err)
		rc = sticky_locked(r);
	recorder_destroy(r);
	return rc;
}

void pt_recorder_free(pt_recorder *r) { (void)pt_recorder_close(r); }

/* The store a recorder writes to (borrowed): code provenance puts its objects there.
 * (Declared in codeprov.h.) */
pt_store *pt__recorder_store(const pt_recorder *r) { return r->st; }

/* ---- signed checkpoints (proof.h) ---- */

int pt_recorder_set_signing_key(pt_recorder *r, const char *key_path)
{
	if (!r || !key_path)
		return pt__err(PT_EINVAL, "pt_recorder_set_signing_key: NULL argument");
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__read_file(key_path, 4096, &data, &len);
	if (rc)
		return pt__err_wrap(rc, "cannot read signing key");
	pt__skey *k = pt__calloc(1, sizeof *k);
	char why[200] = "";
	char idhex[33];
	if (!k) {
		rc = PT_ENOMEM;
	} else if ((rc = pt__skey_parse((const char *)data, len, k, why, sizeof why))) {
		rc = rc < 0 && rc != -1 ? rc : pt__err(PT_EINVAL, "%s: not a signing key: %s", key_path, why);
	} else if (!(rc = pt__store_id(r->st, idhex))) {
		pthread_mutex_lock(&r->note_mu);
		snprintf(r->origin, sizeof r->origin, "provtrace/%s/%s/%s", idhex, r->run, r->stream);
		if (!r->note_path && !(r->note_path = pt__sprintf("%s/checkpoint.note", r->dir)))
			rc = PT_ENOMEM;
		if (!rc) {
			if (r->skey)
				memset(r->skey, 0, sizeof *r->skey);
			pt__free(r->skey);
			r->skey = k;
			k = NULL;
		}
		pthread_mutex_unlock(&r->note_mu);
	}
	if (data)
		memset(data, 0, len);
	pt__free(data);
	if (k)
		memset(k, 0, sizeof *k);
	pt__free(k);
	return rc;
}

int pt_recorder_sign_checkpoint(pt_recorder *r, char **out_note)
{
	if (out_note)
		*out_note = NULL;
	if (!r)
		return pt__err(PT_EINVAL, "pt_recorder_sign_checkpoint: NULL recorder");
	pthread_mutex_lock(&r->note_mu);
	bool keyed = r->skey != NULL;
	pthread_mutex_unlock(&r->note_mu);
	if (!keyed)
		return pt__err(PT_EINVAL, "recorder for %s/%s has no signing key (pt_recorder_set_signing_key)", r->run,
			       r->stream);
	/* everything appended so far written (whatever the durability) */
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	uint64_t target = r->next_seq - 1;
	if (r->cur->count && (rc = enqueue_cur_locked(r))) {
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	pthread_cond_signal(&r->cv_work);
	while (r->written_seq < target && !r->err && !r->nospc)
		pthread_cond_wait(&r->cv_done, &r->mu);
	if (r->err)
		rc = sticky_locked(r);
	else if (r->written_seq < target)
		rc = pt__err(r->nospc, "%s", r->nospc_msg);
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return rc;
	pt__merkle t;
	pthread_mutex_lock(&r->tree_mu);
	t = r->tree;
	pthread_mutex_unlock(&r->tree_mu);
	return sign_tree(r, &t, out_note, false);
}
