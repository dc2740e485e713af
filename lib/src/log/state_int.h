/*
 * log/state_int.h - the state of a stream below the recorder and replay:
 * the batch table, the snapshot index (STREAM/snapshots), the `snapshot`
 * event body, and the fold engine that computes the state at a position
 * (paths over lineages, the nearest snapshot, folding).  Private to the
 * library.
 *
 * log/state.c owns all of it; the recorder (rebuilding its state at open,
 * on lineage events and on resume), replay (the public pt_replay_* reading
 * API) and verify (checking snapshots) call it.
 */
#ifndef PT_STATE_INT_H
#define PT_STATE_INT_H

#include "base/base_int.h"
#include "log/fold_int.h"

/* One batch's summary, in seq order over the whole stream. */
typedef struct {
	uint64_t first_seq;
	uint32_t count;
	int64_t step_min, step_max, time_min, time_max;
	int64_t cum_time_max; /* running max of time_max up to this batch: monotone */
} pt__bref;

typedef struct {
	pt__bref *v;
	size_t n, cap;
	uint64_t last_seq;
} pt__btab;

struct pt__history_s;
/* Build from the stream's history (history.h): the sealed segments' footers
 * (hot or archived, including a pending seal) and the open segment's batch headers. */
int pt__btab_load(pt__btab *t, const struct pt__history_s *h);
void pt__btab_free(pt__btab *t);

/* The snapshot index (STREAM/snapshots): a cache, one line per snapshot. */
typedef struct {
	uint64_t at;        /* the state is after this seq */
	int64_t lineage;
	uint8_t id[32];     /* object id of the serialized state */
	uint64_t event_seq; /* the `snapshot` event that references it */
} pt__snapref;

typedef struct {
	pt__snapref *v;
	size_t n, cap;
} pt__snapidx;

int pt__snapidx_load(pt__snapidx *s, const char *stream_dir);
void pt__snapidx_free(pt__snapidx *s);

/* Append one line to the snapshot index of the stream in `stream_dir`. */
int pt__snapidx_append(const pt_store *st, const char *stream_dir, uint64_t at, int64_t lineage,
		       const uint8_t id[32], uint64_t event_seq);

/* ---- the `snapshot` event body: {at, lineage, object, objects} ------------------------ */
#define PT_SNAPSHOT_BODY_MAX 256
/* Encode into `body` (PT_SNAPSHOT_BODY_MAX bytes); returns its length. */
size_t pt__snapshot_body_encode(uint8_t *body, uint64_t at, int64_t lineage, const uint8_t id[32]);
/* `at` and `object` of a snapshot event body; false if it is not one this library understands. */
bool pt__snapshot_body_decode(const uint8_t *body, size_t len, uint64_t *at, uint8_t id[32]);

/*
 * The state (a pt__fold, moved into `out`, which is freed first) of the
 * stream at seq `seq` on the lineage live there, or at the end of the
 * stream with seq 0; `use_snapshots` 0 computes it from the events alone
 * (verify).  Errors as pt_replay_open.
 */
int pt__state_fold_at(const pt_store *st, const char *run, const char *stream, uint64_t seq, int use_snapshots,
		      pt__fold *out);

/* ---- the engine, for replay.c's public front ----------------------------------------- */
typedef struct {
	uint64_t lo, hi;
	int64_t from_step; /* fork step of the lineage owning the range (PT_NO_STEP: the first lineage) */
} pt__seqr;
typedef struct {
	pt__seqr *r;
	size_t n, cap;
} pt__path;
struct pt_replay {
	const pt_store *st;
	char *run, *stream, *dir;
	pt_replay_options o;
	pt__btab bt;
	pt__snapidx si;    /* the snapshot index, loaded once per replay */
	pt__fold lin;      /* fold at the end of the stream: the lineage table */
	pt__fold f;        /* the state */
	pt__path path;      /* ranges of the path */
	int64_t path_lineage;
	uint64_t snapshot_seq, folded;
	pt__buf json, lineage_json;
	/* forward walking */
	pt_iter *walk;
	size_t walk_range;
	/* custom folds */
	struct {
		char *kind;
		pt_fold_fn fn;
		void *ctx;
	} *folds;
	size_t nfolds;
};
typedef struct {
	pt_replay *rp;
	uint64_t to;     /* the position */
	struct late_ctx_s *late;  /* step points: events after the position are looked at for late checkpoints */
} pt__fold_ctx;

void pt__state_view_event(pt__fold_event *e, const pt_event_view *v);
uint64_t pt__state_lineage_end(const pt__fold *lin, int64_t id, uint64_t start, uint64_t last_seq);
int pt__state_build_path(pt_replay *rp, int64_t id, uint64_t limit, pt__path *out, int depth);
int pt__state_fold_cb(void *ctx, const pt_event_view *v, const pt__fold_event *e);
int pt__state_compute(pt_replay *rp, uint64_t target);
/* The manifest id, seq and step of an encoded checkpoint record. */
int pt__state_ckpt_fields(const pt__buf *rec, char *hex, uint64_t *seq, int64_t *step);

/*
 * pt_replay_diff_json (defined above log/, in checkpoint/checkpoint_diff.c)
 * without the checkpoint part: `ckpt_diff` appends the JSON of the
 * "checkpoint" key (NULL: null).  Defined in log/replay.c.
 */
typedef int (*pt__ckpt_diff_fn)(pt__buf *b, const pt_replay *a, const pt_replay *b2);
int pt__replay_diff_json(const pt_replay *a, const pt_replay *b, char **out, pt__ckpt_diff_fn ckpt_diff);

/*
 * pt_verify (defined above log/, in checkpoint/checkpoint_verify.c) with the
 * checkpoint part given: `extra`, if not NULL, is called once after the
 * streams were checked, with pt_verify's run filter, and reports its
 * problems through `cb`/`payload` (counted like the log's).  Its return:
 * PT_ENOMEM stops; PT_ECORRUPT was reported by it; anything else is
 * reported as a warning (history it could not read).  Defined in log/verify.c.
 */
typedef int (*pt__verify_extra_fn)(const pt_store *st, const char *run, pt_problem_cb cb, void *payload);
int pt__verify_with(const pt_store *st, const char *run, const char *stream, pt_problem_cb cb, void *payload,
		    pt_verify_stats *stats, pt__verify_extra_fn extra);

/* For log/lineage_iter.c and log/run_state.c (defined in log/replay.c): the
 * path of an open replay as seq ranges, the lineage live at a seq, the
 * stream's last seq at open, the lineage count, the state (a pt__fold). */
size_t pt__replay_path_n(const pt_replay *rp);
void pt__replay_path_range(const pt_replay *rp, size_t i, uint64_t *lo, uint64_t *hi);
int64_t pt__replay_lineage_at(const pt_replay *rp, uint64_t seq);
uint64_t pt__replay_last_seq(const pt_replay *rp);
const void *pt__replay_fold(const pt_replay *rp);
size_t pt__replay_lineage_count(const pt_replay *rp); /* lineages started by `lineage` events */

#endif
