/*
 * log/fold_int.h - the state of a stream as the fold of its events (docs/REPLAY.md).
 *
 * One implementation of the fold, used by replay, by the recorder's
 * snapshot thread and by verify; the CLI and Python only render its JSON.
 */
#ifndef PT_FOLD_H
#define PT_FOLD_H

#include "base/base_int.h"

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
} pt__fold_entry;

typedef struct {
	pt__fold_entry *v;
	size_t n, cap;
	uint32_t *slots; /* open addressing over v indices + 1 */
	size_t nslots;
} pt__fold_map;

typedef struct {
	int64_t id, parent, from_step;
	uint64_t start_seq;
	uint8_t manifest[PT_SHA256_HEX]; /* checkpoint resumed from (hex) or "" */
} pt__lineage;

typedef struct {
	uint64_t seq;        /* last event folded (0: nothing) */
	int64_t time;        /* its time */
	int64_t max_time;    /* running max of event times */
	int64_t step;        /* step of the last event that had one */
	int64_t lineage;     /* lineage in effect */
	uint64_t events;     /* events folded (snapshot events excluded) */
	pt__fold_map params, metrics, last, kinds;
	pt__buf decisions[PT_FOLD_DECISIONS_KEPT]; /* ring of encoded decision records */
	size_t dec_head;     /* index of the oldest */
	uint64_t decisions_total;
	pt__buf checkpoint;   /* encoded {seq, step, name, body} or empty */
	pt__buf code, env;    /* encoded {seq, body} or empty */
	pt__lineage *lineages;
	size_t nlineages, cap_lineages;
	pt__buf changes;      /* JSON array of the changes made by the last apply */
	bool track_changes;
	size_t kind_cache;   /* index+1 in kinds of the last kind seen (hot path) */
} pt__fold;

void pt__fold_init(pt__fold *f);
void pt__fold_free(pt__fold *f);
int pt__fold_copy(pt__fold *dst, const pt__fold *src);

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
} pt__fold_event;

/* Decode the envelope of one stored event (msgpack map, exactly `len` bytes). */
int pt__fold_event_decode(pt__fold_event *e, const uint8_t *mp, size_t len);
/* Decode the event at *p (a batch's raw bytes) and advance *p past it. */
int pt__fold_event_decode_next(pt__fold_event *e, const uint8_t **p, const uint8_t *end);

/* Apply one event.  Snapshot events are ignored (they change no state). */
int pt__fold_apply(pt__fold *f, const pt__fold_event *e);

/* Make checkpoint event `e` the checkpoint in effect (replay's step points, docs/REPLAY.md). */
int pt__fold_set_checkpoint(pt__fold *f, const pt__fold_event *e);

/* Canonical msgpack of the state (the snapshot object's bytes). */
int pt__fold_serialize(const pt__fold *f, pt__buf *out);
int pt__fold_deserialize(pt__fold *f, const uint8_t *mp, size_t len);

/* The state as JSON (docs/REPLAY.md). run/stream may be NULL. */
int pt__fold_json(const pt__fold *f, const char *run, const char *stream, pt__buf *out);

/* One lineage as a JSON object (end_seq 0: omitted), after a comma if `comma`. */
int pt__lineage_json(pt__buf *b, const pt__lineage *l, bool comma, uint64_t end_seq);

const pt__fold_entry *pt__fold_map_get(const pt__fold_map *m, const char *key, size_t klen);

#endif
