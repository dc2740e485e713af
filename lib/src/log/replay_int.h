/* log/replay_int.h - the stream's batch table and snapshot index, shared by replay, the recorder and verify. */
#ifndef PT_REPLAY_INT_H
#define PT_REPLAY_INT_H

#include "base/base_int.h"

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

struct pt_replay;
/* Move the replay's state out into `out` (a pt__fold, see fold.h); the replay keeps an empty state. */
int pt__replay_take_fold(struct pt_replay *rp, void *out_fold);

/* For log/lineage_iter.c (defined in replay.c): the path of an open replay as
 * seq ranges, the lineage live at a seq, the stream's last seq at open. */
struct pt_replay;
size_t pt__replay_path_n(const struct pt_replay *rp);
void pt__replay_path_range(const struct pt_replay *rp, size_t i, uint64_t *lo, uint64_t *hi);
int64_t pt__replay_lineage_at(const struct pt_replay *rp, uint64_t seq);
uint64_t pt__replay_last_seq(const struct pt_replay *rp);
/* For log/run_state.c: the state of an open replay (a pt__fold, log/fold_int.h). */
const void *pt__replay_fold(const struct pt_replay *rp);
size_t pt__replay_lineage_count(const struct pt_replay *rp); /* lineages started by `lineage` events */

#endif
