/*
 * fold.h - the state of a stream as the fold of its events (docs/REPLAY.md).
 *
 * One implementation of the fold, used by replay, by the recorder's
 * snapshot thread and by verify; the CLI and Python only render its JSON.
 */
#ifndef PT_FOLD_H
#define PT_FOLD_H

#include "internal.h"

#define PT_FOLD_DECISIONS_KEPT 100
#define PT_SNAPSHOT_VERSION 1

typedef struct {
	char *key;       /* param/metric name, or "kind/name" for "last" */
	size_t klen;
	uint8_t *val;    /* msgpack value (or body map for "last") */
	size_t val_len;
	size_t val_cap;  /* allocated bytes of val (reused: no allocation per event) */
	uint64_t seq;
	int64_t step;    /* PT_NO_STEP if none */
	uint64_t aux;    /* params: seq of the decision that set it (0: a param event); kinds: count */
} pt_fold_entry;

typedef struct {
	pt_fold_entry *v;
	size_t n, cap;
	uint32_t *slots; /* open addressing over v indices + 1 */
	size_t nslots;
} pt_fold_map;

typedef struct {
	int64_t id, parent, from_step;
	uint64_t start_seq;
	uint8_t manifest[PT_SHA256_HEX]; /* checkpoint resumed from (hex) or "" */
} pt_lineage;

typedef struct {
	uint64_t seq;        /* last event folded (0: nothing) */
	int64_t time;        /* its time */
	int64_t max_time;    /* running max of event times */
	int64_t step;        /* step of the last event that had one */
	int64_t lineage;     /* lineage in effect */
	uint64_t events;     /* events folded (snapshot events excluded) */
	pt_fold_map params, metrics, last, kinds;
	pt_buf decisions[PT_FOLD_DECISIONS_KEPT]; /* ring of encoded decision records */
	size_t dec_head;     /* index of the oldest */
	uint64_t decisions_total;
	pt_buf checkpoint;   /* encoded {seq, step, name, body} or empty */
	pt_buf code, env;    /* encoded {seq, body} or empty */
	pt_lineage *lineages;
	size_t nlineages, cap_lineages;
	pt_buf changes;      /* JSON array of the changes made by the last apply */
	bool track_changes;
	size_t kind_cache;   /* index+1 in kinds of the last kind seen (hot path) */
} pt_fold;

void pt__fold_init(pt_fold *f);
void pt__fold_free(pt_fold *f);
int pt__fold_copy(pt_fold *dst, const pt_fold *src);

/* A decoded envelope of a stored event. */
typedef struct {
	uint64_t seq;
	int64_t time, step;
	const char *kind;
	size_t kind_len;
	const char *name; /* NULL if none */
	size_t name_len;
	const uint8_t *body;
	size_t body_len;
} pt_fold_event;

/* Decode the envelope of one stored event (msgpack map, exactly `len` bytes). */
int pt__fold_event_decode(pt_fold_event *e, const uint8_t *mp, size_t len);
/* Decode the event at *p (a batch's raw bytes) and advance *p past it. */
int pt__fold_event_decode_next(pt_fold_event *e, const uint8_t **p, const uint8_t *end);

/* Apply one event.  Snapshot events are ignored (they change no state). */
int pt__fold_apply(pt_fold *f, const pt_fold_event *e);

/* Make checkpoint event `e` the checkpoint in effect (replay's step points, docs/REPLAY.md). */
int pt__fold_set_checkpoint(pt_fold *f, const pt_fold_event *e);

/* Canonical msgpack of the state (the snapshot object's bytes). */
int pt__fold_serialize(const pt_fold *f, pt_buf *out);
int pt__fold_deserialize(pt_fold *f, const uint8_t *mp, size_t len);

/* The state as JSON (docs/REPLAY.md). run/stream may be NULL. */
int pt__fold_json(const pt_fold *f, const char *run, const char *stream, pt_buf *out);

/* One lineage as a JSON object (end_seq 0: omitted), after a comma if `comma`. */
int pt__lineage_json(pt_buf *b, const pt_lineage *l, bool comma, uint64_t end_seq);

const pt_fold_entry *pt__fold_map_get(const pt_fold_map *m, const char *key, size_t klen);

#endif
