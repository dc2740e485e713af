/*
 * bench_events.c - `provtrace-bench events`: appending a training event mix.
 *
 * One run appends the same logical events through provtrace (default
 * durability, and fdatasync per batch of 1000) and through baselines written
 * the way their users write them: SQLite (WAL, synchronous=NORMAL, prepared
 * INSERT, 1000 rows per transaction), JSON lines through stdio, msgpack +
 * zstd level 1 + write() in the calling thread, and a raw write() of the
 * uncompressed msgpack bytes (the limit: encoding plus copying to the kernel).
 *
 * Every method is timed from its first append to the moment its data is
 * written and synced as its close path does (provtrace: flush + close, which
 * seals with fdatasync; the others: fsync/close), so the numbers compare
 * "events per second that end up on disk".  Setup (creating the store, the
 * table, opening the file) is outside the timing.  Before each method the file
 * system is synced so that the previous method's writeback does not run
 * during the next one.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sqlite3.h>
#include <zstd.h>

#include "provtrace.h"

#define DEFAULT_EVENTS 5000000u
#define QUICK_EVENTS 200000u
#define DECISION_EVERY 1000   /* steps between two decisions */
#define LATENCY_SAMPLE_MASK 63 /* time one append call in 64 */
#define TXN_ROWS 1000         /* SQLite rows per transaction */
#define WRITE_CHUNK (1u << 20)
#define ZSTD_BATCH_EVENTS 4096 /* like the recorder's default batch */

#define RUN_NAME "bench"
#define STREAM_NAME "main"

/* Targets of issue 2 ("Benchmark"). */
#define TARGET_DEFAULT_EPS 4000000.0
#define TARGET_FSYNC_EPS 2000000.0
#define TARGET_SQLITE_RATIO 10.0
#define TARGET_BYTES_PER_EVENT 35.0
#define TARGET_P99_NS 2000.0

/* ---- the workload -------------------------------------------------------- */

/*
 * A training loop: per step the metrics loss, lr and grad_norm; every
 * DECISION_EVERY steps a scheduler decision that changes lr, with a reason.
 * Values come from a xorshift generator so that they have the full-entropy
 * mantissas real losses have (what makes them hard to compress), at a cost of a
 * few ns per event that every method pays alike.
 */
enum { EV_METRIC, EV_DECISION };

typedef struct {
	int type;
	const char *name;
	int64_t step;
	double value;       /* metric value, or the decision's new lr */
	const char *reason; /* decisions only */
	const char *actor;
} wl_event;

typedef struct {
	uint64_t rng;
	int64_t step;
	int slot; /* next event of the current step: 0 loss, 1 lr, 2 grad_norm, 3 decision */
	double loss, lr, best;
	int64_t best_step;
	char reason[160];
} workload;

static const char *const metric_names[3] = { "loss", "lr", "grad_norm" };

static void wl_init(workload *w)
{
	memset(w, 0, sizeof(*w));
	w->rng = 0x9E3779B97F4A7C15ull;
	w->step = 1;
	w->loss = 2.5;
	w->lr = 3e-4;
	w->best = 1e9;
}

static inline double wl_uniform(workload *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static inline void wl_next(workload *w, wl_event *e)
{
	e->step = w->step;
	switch (w->slot) {
	case 0:
		w->loss = w->loss * 0.99995 + 0.0001;
		e->type = EV_METRIC;
		e->name = metric_names[0];
		e->value = w->loss * (0.95 + 0.1 * wl_uniform(w));
		if (e->value < w->best) {
			w->best = e->value;
			w->best_step = w->step;
		}
		w->slot = 1;
		return;
	case 1:
		e->type = EV_METRIC;
		e->name = metric_names[1];
		e->value = w->lr;
		w->slot = 2;
		return;
	case 2:
		e->type = EV_METRIC;
		e->name = metric_names[2];
		e->value = 0.5 + 4.0 * wl_uniform(w);
		if (w->step % DECISION_EVERY == 0) {
			w->slot = 3;
		} else {
			w->slot = 0;
			w->step++;
		}
		return;
	default:
		w->lr = w->lr > 1e-6 ? w->lr * 0.5 : 3e-4;
		snprintf(w->reason, sizeof(w->reason),
			 "val_loss did not improve for 3 evaluations (best %.4f at step %" PRId64
			 "); lr halved",
			 w->best, w->best_step);
		e->type = EV_DECISION;
		e->name = "lr";
		e->value = w->lr;
		e->reason = w->reason;
		e->actor = "scheduler:ReduceLROnPlateau";
		w->slot = 0;
		w->step++;
		return;
	}
}

/* ---- results ------------------------------------------------------------- */

typedef struct {
	const char *key;   /* --only name */
	const char *label; /* table row */
	int selected;
	int done;
	uint64_t events;
	double seconds;        /* first append .. data on disk */
	double sync_seconds;   /* of which the final flush / fsync / close */
	int64_t bytes;         /* on disk after close */
	bench_cpu cpu0, cpu1;  /* CPU clocks at the start and the end of the timing */
} method_result;

typedef struct {
	uint64_t n;
	const char *parent; /* --dir */
	int keep;
	int zstd_level;     /* --zstd-level for the recorder; 0: its default */
	int has_zstd_level;
	unsigned repeat;    /* --repeat: runs per method, the best is reported */
	uint64_t *lat;      /* sampled append latencies (provtrace default) */
	size_t nlat;
	double timer_ns;
} events_ctx;

typedef int (*method_fn)(events_ctx *cx, const char *dir, method_result *r);

/* ---- a/b) provtrace ------------------------------------------------------ */

static inline int pt_append_one(pt_recorder *rec, pt_event *ev, const wl_event *e)
{
	if (e->type == EV_METRIC)
		return pt_recorder_metric(rec, e->name, e->value, e->step);
	if (pt_event_reset(ev, PT_KIND_DECISION, e->name) || pt_event_set_step(ev, e->step) ||
	    pt_event_begin_map(ev, "set") || pt_event_double(ev, "lr", e->value) ||
	    pt_event_end(ev) || pt_event_str(ev, "reason", e->reason) ||
	    pt_event_str(ev, "actor", e->actor))
		return pt_error_last_code() ? pt_error_last_code() : PT_ERROR;
	return pt_recorder_append(rec, ev, NULL);
}

static int run_provtrace(events_ctx *cx, const char *dir, method_result *r, int fsync_mode)
{
	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	pt_event *ev = NULL;
	pt_recorder_options o;
	pt_stream_info info;
	workload w;
	wl_event e;
	char *store_dir = bench_path_join(dir, "store"), *stream_dir = NULL;
	uint64_t i, t0, t1, t2, ts;
	size_t k = 0;
	int rc, ret = -1;

	if (!store_dir)
		goto oom;
	if ((rc = pt_store_init(&st, store_dir)) != 0) {
		bench_err("pt_store_init %s: %s", store_dir, pt_error_last());
		goto done;
	}
	pt_recorder_options_init(&o, PT_RECORDER_OPTIONS_VERSION);
	if (cx->has_zstd_level)
		o.zstd_level = cx->zstd_level;
	if (fsync_mode) {
		o.durability = PT_DURABILITY_FSYNC;
		o.batch_max_events = 1000;
	}
	if ((rc = pt_recorder_open(&rec, st, RUN_NAME, STREAM_NAME, &o)) != 0) {
		bench_err("pt_recorder_open: %s", pt_error_last());
		goto done;
	}
	if ((rc = pt_event_new(&ev, PT_KIND_DECISION, NULL)) != 0) {
		bench_err("pt_event_new: %s", pt_error_last());
		goto done;
	}
	wl_init(&w);
	bench_cpu_now(&r->cpu0);
	t0 = bench_mono_ns();
	if (!fsync_mode && cx->lat) {
		for (i = 0; i < cx->n; i++) {
			wl_next(&w, &e);
			if ((i & LATENCY_SAMPLE_MASK) == 0) {
				ts = bench_mono_ns();
				rc = pt_append_one(rec, ev, &e);
				cx->lat[cx->nlat + k++] = bench_mono_ns() - ts;
			} else {
				rc = pt_append_one(rec, ev, &e);
			}
			if (rc)
				break;
		}
		cx->nlat += k;
	} else {
		for (i = 0; i < cx->n; i++) {
			wl_next(&w, &e);
			if ((rc = pt_append_one(rec, ev, &e)) != 0)
				break;
		}
	}
	if (rc) {
		bench_err("append of event %" PRIu64 " failed: %s", i + 1, pt_error_last());
		goto done;
	}
	t1 = bench_mono_ns();
	if ((rc = pt_recorder_flush(rec)) != 0) {
		bench_err("pt_recorder_flush: %s", pt_error_last());
		goto done;
	}
	rc = pt_recorder_close(rec);
	rec = NULL;
	if (rc) {
		bench_err("pt_recorder_close: %s", pt_error_last());
		goto done;
	}

	t2 = bench_mono_ns();
	bench_cpu_now(&r->cpu1);
	r->events = cx->n;
	r->seconds = (double)(t2 - t0) / 1e9;
	r->sync_seconds = (double)(t2 - t1) / 1e9;
	/* Outside the timing: every appended event must be stored (no silent loss). */
	if ((rc = pt_stream_stat(st, RUN_NAME, STREAM_NAME, &info)) != 0) {
		bench_err("pt_stream_stat: %s", pt_error_last());
		goto done;
	}
	/* the recorder's own state snapshots (every snapshot_every events) are
	 * part of what a user's run stores: counted apart from the appends */
	uint64_t snaps = 0;
	{
		pt_iter_options io = PT_ITER_OPTIONS_INIT;
		io.kind = "snapshot";
		pt_iter *it;
		const pt_event_view *v;
		if ((rc = pt_iter_open(&it, st, RUN_NAME, STREAM_NAME, &io)) != 0) {
			bench_err("pt_iter_open: %s", pt_error_last());
			goto done;
		}
		while (pt_iter_next(it, &v) == 0)
			snaps++;
		pt_iter_free(it);
	}
	if (info.events != cx->n + snaps || info.seq_last != cx->n + snaps) {
		bench_err("provtrace stored %" PRIu64 " events (last seq %" PRIu64 "), %" PRIu64
			  " were appended",
			  info.events, info.seq_last, cx->n);
		goto done;
	}
	stream_dir = bench_path_join(store_dir, "runs/" RUN_NAME "/" STREAM_NAME);
	if (!stream_dir)
		goto oom;
	if ((r->bytes = bench_du(stream_dir)) < 0)
		goto done;
	ret = 0;
	goto done;
oom:
	bench_err("out of memory");
done:
	pt_event_free(ev);
	pt_recorder_free(rec);
	pt_store_free(st);
	free(store_dir);
	free(stream_dir);
	return ret;
}

static int run_pt_default(events_ctx *cx, const char *dir, method_result *r)
{
	return run_provtrace(cx, dir, r, 0);
}

static int run_pt_fsync(events_ctx *cx, const char *dir, method_result *r)
{
	return run_provtrace(cx, dir, r, 1);
}

/* ---- JSON text shared by SQLite and JSON lines --------------------------- */

/* Append `s` as a JSON string (quoted, escaped) at `p`; returns the new end. */
static char *json_str(char *p, const char *end, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (p < end)
		*p++ = '"';
	for (; *s && p + 6 < end; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 15];
			p += 6;
		} else {
			*p++ = (char)c;
		}
	}
	if (p < end)
		*p++ = '"';
	return p;
}

/*
 * The body as JSON ("%.17g": the shortest printf format that round-trips a
 * double, what a C user must write to lose nothing).  Returns its length.
 */
static size_t json_body(char *buf, size_t size, const wl_event *e, int top_level)
{
	char *p = buf, *end = buf + size;
	int n;

	if (e->type == EV_METRIC) {
		n = snprintf(p, size, top_level ? "\"value\":%.17g" : "{\"value\":%.17g}",
			     e->value);
		return (size_t)n < size ? (size_t)n : size - 1;
	}
	n = snprintf(p, size, "%s\"set\":{\"lr\":%.17g},\"reason\":", top_level ? "" : "{",
		     e->value);
	p += n;
	p = json_str(p, end, e->reason);
	p += snprintf(p, (size_t)(end - p), ",\"actor\":");
	p = json_str(p, end, e->actor);
	if (!top_level && p < end - 1)
		*p++ = '}';
	*p = '\0';
	return (size_t)(p - buf);
}

/* ---- c) SQLite ----------------------------------------------------------- */

static int sql_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		bench_err("sqlite: %s: %s", sql, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int run_sqlite(events_ctx *cx, const char *dir, method_result *r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	char *path = bench_path_join(dir, "events.db");
	char body[512];
	workload w;
	wl_event e;
	uint64_t i, t0, t1, ts;
	size_t blen;
	int rc, ret = -1;

	if (!path) {
		bench_err("out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		bench_err("sqlite: cannot open %s: %s", path,
			  db ? sqlite3_errmsg(db) : "no memory");
		goto done;
	}
	if (sql_exec(db, "PRAGMA journal_mode=WAL") || sql_exec(db, "PRAGMA synchronous=NORMAL") ||
	    sql_exec(db, "CREATE TABLE events(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
			 "step INTEGER, kind TEXT NOT NULL, name TEXT, body TEXT NOT NULL)"))
		goto done;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO events(seq, time, step, kind, name, body) "
			       "VALUES (?, ?, ?, ?, ?, ?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		bench_err("sqlite: prepare: %s", sqlite3_errmsg(db));
		goto done;
	}
	wl_init(&w);
	bench_cpu_now(&r->cpu0);
	t0 = bench_mono_ns();
	if (sql_exec(db, "BEGIN"))
		goto done;
	for (i = 0; i < cx->n; i++) {
		wl_next(&w, &e);
		blen = json_body(body, sizeof(body), &e, 0);
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)(i + 1));
		sqlite3_bind_int64(ins, 2, bench_wall_ns());
		sqlite3_bind_int64(ins, 3, e.step);
		sqlite3_bind_text(ins, 4, e.type == EV_METRIC ? "metric" : "decision", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, e.name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 6, body, (int)blen, SQLITE_STATIC);
		rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE) {
			bench_err("sqlite: insert of event %" PRIu64 ": %s", i + 1,
				  sqlite3_errmsg(db));
			goto done;
		}
		if ((i + 1) % TXN_ROWS == 0 && (sql_exec(db, "COMMIT") || sql_exec(db, "BEGIN")))
			goto done;
	}
	if (sql_exec(db, "COMMIT"))
		goto done;
	sqlite3_finalize(ins);
	ins = NULL;
	ts = bench_mono_ns();
	/* The last connection's close checkpoints the WAL into the database (synced). */
	rc = sqlite3_close(db);
	db = NULL;
	if (rc != SQLITE_OK) {
		bench_err("sqlite: close failed (%d)", rc);
		goto done;
	}
	t1 = bench_mono_ns();
	bench_cpu_now(&r->cpu1);
	r->events = cx->n;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->sync_seconds = (double)(t1 - ts) / 1e9;
	if ((r->bytes = bench_du(dir)) < 0)
		goto done;
	ret = 0;
done:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(path);
	return ret;
}

/* ---- d) JSON lines with stdio -------------------------------------------- */

static size_t iso_time(char *buf, size_t size, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	return (size_t)snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
				tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				tm.tm_sec, (int)(ns % 1000000000));
}

static int run_jsonl(events_ctx *cx, const char *dir, method_result *r)
{
	char *path = bench_path_join(dir, "events.jsonl");
	char body[512], when[48];
	FILE *f = NULL;
	workload w;
	wl_event e;
	uint64_t i, t0, t1, ts;
	int ret = -1;

	if (!path) {
		bench_err("out of memory");
		return -1;
	}
	if (!(f = fopen(path, "w"))) {
		bench_err_errno("cannot create %s", path);
		goto done;
	}
	wl_init(&w);
	bench_cpu_now(&r->cpu0);
	t0 = bench_mono_ns();
	/* The `provtrace log --json` shape: envelope keys, then the body's keys. */
	for (i = 0; i < cx->n; i++) {
		wl_next(&w, &e);
		iso_time(when, sizeof(when), bench_wall_ns());
		json_body(body, sizeof(body), &e, 1);
		if (fprintf(f,
			    "{\"run\":\"" RUN_NAME "\",\"stream\":\"" STREAM_NAME
			    "\",\"seq\":%" PRIu64 ",\"time\":\"%s\",\"step\":%" PRId64
			    ",\"kind\":\"%s\",\"name\":\"%s\",%s}\n",
			    i + 1, when, e.step, e.type == EV_METRIC ? "metric" : "decision",
			    e.name, body) < 0) {
			bench_err_errno("write %s", path);
			goto done;
		}
	}
	ts = bench_mono_ns();
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		bench_err_errno("flush %s", path);
		goto done;
	}
	if (fclose(f) != 0) {
		f = NULL;
		bench_err_errno("close %s", path);
		goto done;
	}
	f = NULL;
	t1 = bench_mono_ns();
	bench_cpu_now(&r->cpu1);
	r->events = cx->n;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->sync_seconds = (double)(t1 - ts) / 1e9;
	if ((r->bytes = bench_du(dir)) < 0)
		goto done;
	ret = 0;
done:
	if (f)
		fclose(f);
	free(path);
	return ret;
}

/* ---- e/f) msgpack, raw and zstd-compressed ------------------------------- */

static inline void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str_with_body(pk, s, n);
}

/* The event exactly as docs/FORMAT.md lays it out (seq, time, step, kind, name, body). */
static inline void pack_event(msgpack_packer *pk, uint64_t seq, int64_t time_ns, const wl_event *e)
{
	msgpack_pack_map(pk, 6);
	msgpack_pack_str_with_body(pk, "seq", 3);
	msgpack_pack_uint64(pk, seq);
	msgpack_pack_str_with_body(pk, "time", 4);
	msgpack_pack_int64(pk, time_ns);
	msgpack_pack_str_with_body(pk, "step", 4);
	msgpack_pack_int64(pk, e->step);
	msgpack_pack_str_with_body(pk, "kind", 4);
	if (e->type == EV_METRIC)
		msgpack_pack_str_with_body(pk, "metric", 6);
	else
		msgpack_pack_str_with_body(pk, "decision", 8);
	msgpack_pack_str_with_body(pk, "name", 4);
	pack_str(pk, e->name);
	msgpack_pack_str_with_body(pk, "body", 4);
	if (e->type == EV_METRIC) {
		msgpack_pack_map(pk, 1);
		msgpack_pack_str_with_body(pk, "value", 5);
		msgpack_pack_double(pk, e->value);
	} else {
		msgpack_pack_map(pk, 3);
		msgpack_pack_str_with_body(pk, "set", 3);
		msgpack_pack_map(pk, 1);
		msgpack_pack_str_with_body(pk, "lr", 2);
		msgpack_pack_double(pk, e->value);
		msgpack_pack_str_with_body(pk, "reason", 6);
		pack_str(pk, e->reason);
		msgpack_pack_str_with_body(pk, "actor", 5);
		pack_str(pk, e->actor);
	}
}

static int write_all(int fd, const void *p, size_t n, const char *path)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			bench_err_errno("write %s", path);
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int run_msgpack_common(events_ctx *cx, const char *dir, method_result *r, int compress)
{
	char *path = bench_path_join(dir, compress ? "events.msgpack.zst" : "events.msgpack");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	ZSTD_CCtx *cctx = NULL;
	void *zbuf = NULL;
	size_t zcap = 0, zn;
	workload w;
	wl_event e;
	uint64_t i, t0, t1, ts, in_batch = 0;
	int fd = -1, ret = -1;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (!path) {
		bench_err("out of memory");
		goto done;
	}
	if (compress) {
		/* zstd level 1, content checksums, one frame per batch: as the recorder does */
		cctx = ZSTD_createCCtx();
		zcap = ZSTD_compressBound(2 * WRITE_CHUNK);
		zbuf = malloc(zcap);
		if (!cctx || !zbuf ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1))) {
			bench_err("zstd: cannot set up a compression context");
			goto done;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		bench_err_errno("cannot create %s", path);
		goto done;
	}
	wl_init(&w);
	bench_cpu_now(&r->cpu0);
	t0 = bench_mono_ns();
	for (i = 0; i < cx->n; i++) {
		wl_next(&w, &e);
		pack_event(&pk, i + 1, bench_wall_ns(), &e);
		if (!compress) {
			if (sb.size >= WRITE_CHUNK) {
				if (write_all(fd, sb.data, sb.size, path))
					goto done;
				msgpack_sbuffer_clear(&sb);
			}
		} else if (++in_batch == ZSTD_BATCH_EVENTS || sb.size >= WRITE_CHUNK) {
			zn = ZSTD_compress2(cctx, zbuf, zcap, sb.data, sb.size);
			if (ZSTD_isError(zn)) {
				bench_err("zstd: %s", ZSTD_getErrorName(zn));
				goto done;
			}
			if (write_all(fd, zbuf, zn, path))
				goto done;
			msgpack_sbuffer_clear(&sb);
			in_batch = 0;
		}
	}
	if (sb.size) {
		if (compress) {
			zn = ZSTD_compress2(cctx, zbuf, zcap, sb.data, sb.size);
			if (ZSTD_isError(zn)) {
				bench_err("zstd: %s", ZSTD_getErrorName(zn));
				goto done;
			}
			if (write_all(fd, zbuf, zn, path))
				goto done;
		} else if (write_all(fd, sb.data, sb.size, path)) {
			goto done;
		}
	}
	ts = bench_mono_ns();
	if (fsync(fd) != 0) {
		bench_err_errno("fsync %s", path);
		goto done;
	}
	if (close(fd) != 0) {
		fd = -1;
		bench_err_errno("close %s", path);
		goto done;
	}
	fd = -1;
	t1 = bench_mono_ns();
	bench_cpu_now(&r->cpu1);
	r->events = cx->n;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->sync_seconds = (double)(t1 - ts) / 1e9;
	if ((r->bytes = bench_du(dir)) < 0)
		goto done;
	ret = 0;
done:
	if (fd >= 0)
		close(fd);
	msgpack_sbuffer_destroy(&sb);
	ZSTD_freeCCtx(cctx);
	free(zbuf);
	free(path);
	return ret;
}

static int run_msgpack_raw(events_ctx *cx, const char *dir, method_result *r)
{
	return run_msgpack_common(cx, dir, r, 0);
}

static int run_msgpack_zstd(events_ctx *cx, const char *dir, method_result *r)
{
	return run_msgpack_common(cx, dir, r, 1);
}

/* ---- the mode ------------------------------------------------------------ */

enum { M_PT, M_PT_FSYNC, M_SQLITE, M_JSONL, M_MSGPACK_ZSTD, M_MSGPACK, M_COUNT };

static const struct {
	const char *key;
	const char *label;
	method_fn fn;
} methods[M_COUNT] = {
	[M_PT] = { "provtrace", "provtrace (default: WRITE)", run_pt_default },
	[M_PT_FSYNC] = { "provtrace-fsync", "provtrace (FSYNC, batch 1000)", run_pt_fsync },
	[M_SQLITE] = { "sqlite", "SQLite (WAL, sync=NORMAL, 1000/txn)", run_sqlite },
	[M_JSONL] = { "jsonl", "JSON lines (stdio)", run_jsonl },
	[M_MSGPACK_ZSTD] = { "msgpack-zstd", "msgpack + zstd -1 + write (1 thread)",
			     run_msgpack_zstd },
	[M_MSGPACK] = { "msgpack", "raw write of msgpack (limit)", run_msgpack_raw },
};

static void events_usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: provtrace-bench events [--events N] [--dir DIR] [--quick] [--only LIST] "
		"[--keep]\n\n"
		"Append a training event mix (per step: loss, lr, grad_norm metrics; every %d\n"
		"steps an lr decision with a reason) through provtrace and baselines, and print\n"
		"events/s, bytes per event on disk and provtrace's ratio to each.\n\n"
		"  --events N   events per method (default %u; k/M suffixes accepted)\n"
		"  --quick      %u events per method (a smoke run)\n"
		"  --dir DIR    where to write (default $TMPDIR or /tmp); a fresh\n"
		"               directory is made inside and removed afterwards\n"
		"  --only LIST  comma-separated methods:",
		DECISION_EVERY, DEFAULT_EVENTS, QUICK_EVENTS);
	for (i = 0; i < M_COUNT; i++)
		fprintf(f, "%s%s", i ? "," : " ", methods[i].key);
	fprintf(f, "\n"
		   "  --keep       keep the written files (the directory is printed)\n"
		   "  --repeat R   run each method R times (round robin) and report the best\n"
		   "               run (default 1); latency percentiles pool all runs\n"
		   "  --zstd-level L  zstd level of the provtrace rows (default: the library's;\n"
		   "               negative levels are zstd's --fast=N)\n"
		   "  --help       this text\n\n"
		   "Exit status: 0 whether or not the targets are met; 1 if a method failed;\n"
		   "2 on a usage error.\n");
}

static int parse_only(method_result *res, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	size_t i;
	int ret = 0;

	if (!copy) {
		bench_err("out of memory");
		return -1;
	}
	for (i = 0; i < M_COUNT; i++)
		res[i].selected = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < M_COUNT; i++)
			if (!strcmp(tok, methods[i].key))
				break;
		if (i == M_COUNT) {
			bench_err("--only: unknown method '%s'", tok);
			ret = -1;
			break;
		}
		res[i].selected = 1;
	}
	free(copy);
	for (i = 0; ret == 0 && i < M_COUNT && !res[i].selected; i++)
		;
	if (ret == 0 && i == M_COUNT) {
		bench_err("--only: no method given");
		ret = -1;
	}
	return ret;
}

/* Cost of the workload generator alone, so that readers can discount it. */
static double generator_ns_per_event(uint64_t n)
{
	workload w;
	wl_event e;
	volatile double sink = 0;
	uint64_t i, t0;

	if (n > 1000000)
		n = 1000000;
	wl_init(&w);
	t0 = bench_mono_ns();
	for (i = 0; i < n; i++) {
		wl_next(&w, &e);
		sink += e.value;
	}
	(void)sink;
	return (double)(bench_mono_ns() - t0) / (double)n;
}

static void target_row(bench_table *t, const char *what, const char *value, const char *goal,
		       int pass)
{
	const char *cells[4] = { what, value, goal, pass ? "PASS" : "MISS" };

	bench_table_row(t, cells);
}

/*
 * CPU per event does not depend on what else the machine runs (within cache
 * effects), so it says what a dedicated machine would do: a pipeline of a
 * calling thread and a background thread on two free cores goes as fast as the
 * slower of the two.  Writeback by the kernel's threads and disk time are not
 * in it.
 */
static void print_cpu_table(const method_result *res)
{
	static const char *const head[4] = { "method", "CPU ns/event, calling thread",
					     "CPU ns/event, other threads",
					     "CPU-only bound, events/s" };
	bench_table t;
	char c1[32], c2[32], c3[32];
	size_t i;

	bench_table_init(&t, 4, head);
	for (i = 0; i < M_COUNT; i++) {
		const method_result *r = &res[i];
		const char *cells[4] = { r->label, c1, c2, c3 };
		double th, ot, worst;

		if (!r->done)
			continue;
		th = (double)(r->cpu1.thread_ns - r->cpu0.thread_ns) / (double)r->events;
		ot = (double)(r->cpu1.process_ns - r->cpu0.process_ns) / (double)r->events - th;
		if (ot < 0)
			ot = 0;
		worst = th > ot ? th : ot;
		snprintf(c1, sizeof(c1), "%.0f", th);
		snprintf(c2, sizeof(c2), "%.0f", ot);
		bench_fmt_count(c3, sizeof(c3), worst > 0 ? 1e9 / worst : 0);
		bench_table_row(&t, cells);
	}
	printf("\n");
	bench_table_print(&t, stdout);
	printf("\nCPU-only bound: 1e9 / the larger of the two CPU costs, i.e. the rate with a "
	       "free core per\nthread and no wait for the disk (an upper bound, not a "
	       "measurement of throughput).\n");
	bench_table_free(&t);
}

static void print_results(events_ctx *cx, method_result *res, double gen_ns)
{
	static const char *const head[6] = { "method", "events/s", "bytes/event", "ratio",
					     "events/s before final sync", "seconds (final sync)" };
	static const char *const thead[4] = { "target", "measured", "goal", "" };
	bench_table t, tt;
	char eps[32], bpe[32], ratio[32], pre[32], secs[48], v[64];
	const method_result *pt = &res[M_PT];
	double pt_eps = pt->done ? (double)pt->events / pt->seconds : 0;
	size_t i;

	bench_table_init(&t, 6, head);
	for (i = 0; i < M_COUNT; i++) {
		const method_result *r = &res[i];
		const char *cells[6] = { r->label, eps, bpe, ratio, pre, secs };
		double m_eps;

		if (!r->done)
			continue;
		m_eps = (double)r->events / r->seconds;
		bench_fmt_count(eps, sizeof(eps), m_eps);
		snprintf(bpe, sizeof(bpe), "%.1f", (double)r->bytes / (double)r->events);
		if (pt->done)
			snprintf(ratio, sizeof(ratio), "%.2f", pt_eps / m_eps);
		else
			snprintf(ratio, sizeof(ratio), "-");
		bench_fmt_count(pre, sizeof(pre),
				(double)r->events / (r->seconds - r->sync_seconds));
		snprintf(secs, sizeof(secs), "%.2f (%.2f)", r->seconds, r->sync_seconds);
		bench_table_row(&t, cells);
	}
	printf("\n");
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	printf("\nevents/s: from the first append until the data is on disk (final flush, fsync "
	       "and close\nincluded).  ratio: provtrace (default) events/s / the method's.  "
	       "\"before final sync\": until\nthe last append/write returned (provtrace: the "
	       "calling thread's rate; the final sync is\nflush + close, which seals).  Workload "
	       "generator alone: %.1f ns/event (in every row).\n",
	       gen_ns);

	print_cpu_table(res);

	bench_table_init(&tt, 4, thead);
	if (pt->done) {
		bench_fmt_count(eps, sizeof(eps), pt_eps);
		target_row(&tt, "provtrace default events/s", eps, ">= 4,000,000",
			   pt_eps >= TARGET_DEFAULT_EPS);
	}
	if (res[M_PT_FSYNC].done) {
		double f = (double)res[M_PT_FSYNC].events / res[M_PT_FSYNC].seconds;

		bench_fmt_count(eps, sizeof(eps), f);
		target_row(&tt, "provtrace FSYNC per 1000 events/s", eps, ">= 2,000,000",
			   f >= TARGET_FSYNC_EPS);
	}
	if (pt->done && res[M_SQLITE].done) {
		double s = (double)res[M_SQLITE].events / res[M_SQLITE].seconds;

		snprintf(v, sizeof(v), "%.1fx", pt_eps / s);
		target_row(&tt, "provtrace / SQLite", v, ">= 10x",
			   pt_eps / s >= TARGET_SQLITE_RATIO);
	}
	if (pt->done) {
		double b = (double)pt->bytes / (double)pt->events;

		snprintf(v, sizeof(v), "%.1f", b);
		target_row(&tt, "provtrace bytes/event on disk", v, "<= 35",
			   b <= TARGET_BYTES_PER_EVENT);
	}
	if (pt->done && cx->nlat) {
		double p50, p99, p999;

		bench_sort_u64(cx->lat, cx->nlat);
		p50 = (double)bench_percentile(cx->lat, cx->nlat, 50);
		p99 = (double)bench_percentile(cx->lat, cx->nlat, 99);
		p999 = (double)bench_percentile(cx->lat, cx->nlat, 99.9);
		snprintf(v, sizeof(v), "%.0f ns", p99);
		target_row(&tt, "append p99 latency (default)", v, "< 2000 ns",
			   p99 < TARGET_P99_NS);
		printf("append latency, provtrace default, calling thread (%zu samples, 1 call in "
		       "%d, all runs; timer included):\n  p50 %.0f ns  p99 %.0f ns  p99.9 %.0f ns"
		       "  max %.0f ns  (timer overhead %.0f ns)\n",
		       cx->nlat, LATENCY_SAMPLE_MASK + 1, p50, p99, p999,
		       (double)cx->lat[cx->nlat - 1], cx->timer_ns);
	}
	if (tt.nrows) {
		printf("\n");
		bench_table_print(&tt, stdout);
	}
	bench_table_free(&tt);
}

int bench_events_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "zstd-level", required_argument, NULL, 'z' },
		{ "repeat", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	method_result res[M_COUNT];
	events_ctx cx;
	char *top = NULL, *sub = NULL;
	uint64_t n_opt = 0, rep_opt = 1, rep;
	int quick = 0, c, ret = BENCH_EXIT_ERROR;
	size_t i;
	struct stat sb;

	memset(&cx, 0, sizeof(cx));
	memset(res, 0, sizeof(res));
	for (i = 0; i < M_COUNT; i++) {
		res[i].key = methods[i].key;
		res[i].label = methods[i].label;
		res[i].selected = 1;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:d:qo:khz:r:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (bench_parse_count(&n_opt, "--events", optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'r':
			if (bench_parse_count(&rep_opt, "--repeat", optarg))
				return BENCH_EXIT_USAGE;
			if (rep_opt > 100) {
				bench_err("--repeat: at most 100");
				return BENCH_EXIT_USAGE;
			}
			break;
		case 'd':
			cx.parent = optarg;
			break;
		case 'q':
			quick = 1;
			break;
		case 'o':
			if (parse_only(res, optarg))
				return BENCH_EXIT_USAGE;
			break;
		case 'k':
			cx.keep = 1;
			break;
		case 'z': {
			char *end;
			long l;

			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || l < -100 || l > 22) {
				bench_err("--zstd-level: expected an integer from -100 to 22, "
					  "got '%s'",
					  optarg);
				return BENCH_EXIT_USAGE;
			}
			cx.zstd_level = (int)l;
			cx.has_zstd_level = 1;
			break;
		}
		case 'h':
			events_usage(stdout);
			return BENCH_EXIT_OK;
		default:
			return bench_bad_option("events", argv, events_usage);
		}
	}
	if (optind < argc)
		return bench_extra_argument("events", argv[optind], events_usage);
	cx.n = n_opt ? n_opt : quick ? QUICK_EVENTS : DEFAULT_EVENTS;
	cx.repeat = (unsigned)rep_opt;
	if (cx.parent && (stat(cx.parent, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		bench_err("--dir %s: not an existing directory", cx.parent);
		return BENCH_EXIT_USAGE;
	}
	if (res[M_PT].selected) {
		cx.lat = malloc((size_t)(cx.n / (LATENCY_SAMPLE_MASK + 1) + 1) * cx.repeat *
				sizeof(*cx.lat));
		if (!cx.lat) {
			bench_err("out of memory");
			return BENCH_EXIT_ERROR;
		}
	}
	if (bench_mkdtemp(&top, cx.parent, "provtrace-bench-"))
		goto done;

	cx.timer_ns = bench_timer_overhead_ns();
	printf("provtrace-bench events: %" PRIu64 " events per method, %u run(s) each (best "
	       "reported), in %s\n",
	       cx.n, cx.repeat, top);
	printf("provtrace %s; SQLite %s; zstd %s; msgpack-c %s\n", pt_version(),
	       sqlite3_libversion(), ZSTD_versionString(), msgpack_version());
	bench_print_machine(stdout);
	if (cx.has_zstd_level)
		printf("provtrace rows recorded with zstd level %d (--zstd-level)\n",
		       cx.zstd_level);
	fflush(stdout);

	/*
	 * Repetitions go round all methods in turn, so that a busy period of the
	 * machine hits every method rather than all the runs of one.
	 */
	for (rep = 0; rep < cx.repeat; rep++) {
		for (i = 0; i < M_COUNT; i++) {
			method_result one;

			if (!res[i].selected)
				continue;
			free(sub);
			sub = bench_path_join(top, methods[i].key);
			if (!sub || mkdir(sub, 0755) != 0) {
				bench_err_errno("cannot create %s", sub ? sub : top);
				goto done;
			}
			if (bench_settle(top))
				goto done;
			fprintf(stderr, "  %-38s ...", methods[i].label);
			one = res[i];
			if (methods[i].fn(&cx, sub, &one) != 0) {
				fprintf(stderr, " failed\n");
				bench_err("events: method '%s' failed", methods[i].key);
				goto done;
			}
			fprintf(stderr, " %.2f s\n", one.seconds);
			if (!res[i].done || one.seconds < res[i].seconds) {
				res[i] = one;
				res[i].done = 1;
			}
			/* Written back before the next method starts; then freed unless --keep. */
			if (bench_settle(top))
				goto done;
			if (!cx.keep && bench_rm_rf(sub))
				goto done;
			if (cx.keep && rep + 1 < cx.repeat) {
				/* keep the last repetition's files only */
				if (bench_rm_rf(sub))
					goto done;
			}
		}
	}
	print_results(&cx, res, generator_ns_per_event(cx.n));
	ret = BENCH_EXIT_OK;
done:
	if (top) {
		if (cx.keep)
			printf("files kept in %s\n", top);
		else if (bench_rm_rf(top) && ret == BENCH_EXIT_OK)
			ret = BENCH_EXIT_ERROR;
	}
	fflush(stdout);
	free(sub);
	free(top);
	free(cx.lat);
	return ret;
}
