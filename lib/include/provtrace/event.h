/*
 * provtrace/event.h - building events without touching msgpack.
 *
 * Basic outline:
 *   pt_event *ev;
 *   pt_event_new(&ev, "decision", "lr");
 *   pt_event_set_step(ev, 1200);
 *   pt_event_begin_map(ev, "set");
 *     pt_event_double(ev, "lr", 0.0005);
 *   pt_event_end(ev);
 *   pt_event_str(ev, "reason", "plateau");
 *   pt_recorder_append(rec, ev, &seq);
 *   pt_event_reset(ev, "metric", "loss");   // reuse the builder
 *   ...
 *   pt_event_free(ev);
 *
 * The body of an event is a map.  Inside a map every value needs a key (a
 * UTF-8 string); inside an array the key must be NULL.  Keys that name the
 * envelope (run, stream, seq, time, step, kind, name) are reserved at the top
 * level of the body.  Nesting is limited to PT_EVENT_MAX_DEPTH levels and an
 * encoded event to PT_EVENT_MAX_BYTES.  Misuse (a key in an array, end()
 * with nothing open, appending with a container still open) is PT_EINVAL.
 *
 * A builder is not thread-safe; use one per thread.
 */
#ifndef PROVTRACE_EVENT_H
#define PROVTRACE_EVENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_EVENT_MAX_DEPTH 32
#define PT_EVENT_MAX_BYTES (64u * 1024u * 1024u)
#define PT_KIND_MAX 64
#define PT_NAME_MAX 1024

/*
 * Built-in kinds.  Any other kind matching [A-Za-z0-9_.:-]{1,64} is a
 * user-defined kind.
 */
#define PT_KIND_RUN_START "run_start"
#define PT_KIND_RUN_END "run_end"
#define PT_KIND_PARAM "param"
#define PT_KIND_DECISION "decision"
#define PT_KIND_METRIC "metric"
#define PT_KIND_CHECKPOINT "checkpoint"
#define PT_KIND_CODE "code"
#define PT_KIND_ENV "env"
#define PT_KIND_NOTE "note"
#define PT_KIND_RECOVERY "recovery"

typedef struct pt_event pt_event;

/** Create a builder for an event of `kind` with optional `name` (NULL). */
PT_EXTERN int pt_event_new(pt_event **out, const char *kind, const char *name);

/** Clear the builder and start a new event (keeps its memory). */
PT_EXTERN int pt_event_reset(pt_event *ev, const char *kind, const char *name);

/** Free a builder.  NULL is a no-op. */
PT_EXTERN void pt_event_free(pt_event *ev);

/** Set the training step (PT_NO_STEP clears it). */
PT_EXTERN int pt_event_set_step(pt_event *ev, int64_t step);

/**
 * Set the wall time in ns since the epoch.  Without it the recorder stamps
 * the time of the append.  (Used to re-emit exported events.)
 */
PT_EXTERN int pt_event_set_time(pt_event *ev, int64_t unix_ns);

/* Typed setters.  `key` is the map key, or NULL inside an array. */
PT_EXTERN int pt_event_int(pt_event *ev, const char *key, int64_t v);
PT_EXTERN int pt_event_uint(pt_event *ev, const char *key, uint64_t v);
PT_EXTERN int pt_event_double(pt_event *ev, const char *key, double v);
PT_EXTERN int pt_event_float(pt_event *ev, const char *key, float v);
PT_EXTERN int pt_event_bool(pt_event *ev, const char *key, int v);
PT_EXTERN int pt_event_nil(pt_event *ev, const char *key);
/** A NUL-terminated UTF-8 string (PT_EINVAL if not valid UTF-8). */
PT_EXTERN int pt_event_str(pt_event *ev, const char *key, const char *s);
/** A UTF-8 string of `len` bytes. */
PT_EXTERN int pt_event_strn(pt_event *ev, const char *key, const char *s, size_t len);
/** Raw bytes (msgpack bin). */
PT_EXTERN int pt_event_bytes(pt_event *ev, const char *key, const void *p, size_t len);
/** Open a nested map / array; close it with pt_event_end(). */
PT_EXTERN int pt_event_begin_map(pt_event *ev, const char *key);
PT_EXTERN int pt_event_begin_array(pt_event *ev, const char *key);
PT_EXTERN int pt_event_end(pt_event *ev);

/**
 * Insert an already-encoded msgpack value (one complete object) under `key`.
 * The bytes are validated (structure, depth, UTF-8 of strings); PT_EINVAL if
 * they are not exactly one well-formed value.
 */
PT_EXTERN int pt_event_msgpack(pt_event *ev, const char *key, const void *p, size_t len);

/**
 * Fill the builder from one JSON object in the `log --json` shape:
 * `kind` (required), `name`, `step`, `time` (ISO-8601 or integer ns) and
 * the body's keys at the top level; `run`, `stream` and `seq` are accepted
 * and ignored (the recorder assigns them).  `{"$bytes": "<base64>"}` is a
 * bytes value, `{"$float": "NaN"|"Infinity"|"-Infinity"}` a non-finite
 * double.  On error returns PT_EINVAL with a message naming the field.
 */
PT_EXTERN int pt_event_from_json(pt_event *ev, const char *json, size_t len);

/**
 * 0 if `ev` may be appended with pt_recorder_append; PT_EINVAL, with a message
 * naming the API that writes it, if its kind is one the library interprets
 * (checkpoint, snapshot, lineage, recovery, code: see docs/FORMAT.md).  Lets a
 * caller check a batch before appending any of it (`provtrace emit`).
 */
PT_EXTERN int pt_event_check_appendable(const pt_event *ev);

/** Room pt_format_double() needs, the NUL included. */
#define PT_DOUBLE_TEXT_MAX 32

/**
 * The text the library writes for a double in JSON (`log --json`, replay
 * states and diffs): the shortest decimal that reads back to the same
 * double, always with a '.' or an exponent ("0.1", "1.0", "1e+300",
 * "-0.0"); non-finite values as "NaN", "Infinity", "-Infinity" (in JSON they
 * become {"$float": ...}).  For front ends that show values to people.
 * `buf` receives the NUL-terminated text; `cap` >= PT_DOUBLE_TEXT_MAX.
 * Returns its length (> 0), or PT_EINVAL (buf NULL or too small).
 * Thread-safe; allocates nothing.
 */
PT_EXTERN int pt_format_double(double d, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
