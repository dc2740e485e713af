/*
 * provtrace/decision.h - writing `decision` events: the schema's one owner.
 *
 * A decision records what changed, why, and who decided:
 *
 *   body {"set": {key: new value, ...}, "reason": str, "actor": str, ...extra}
 *
 * Every key is optional; when present, "set" is a map with string keys (the
 * fold turns each entry into a parameter change: replay's "params" and
 * "decisions"), "reason" and "actor" are strings.  Extra keys are kept as
 * they are (`considered`, `metric`, ...).  docs/FORMAT.md ("decision").
 *
 * pt_recorder_decision() writes one from its parts (`set` and the extra
 * fields as encoded msgpack maps); pt_recorder_decision_body() takes a body
 * encoded whole (Python does that).  pt_decision_check_event() checks an event built
 * with the builder (or parsed from JSON, as `provtrace emit` does) against the
 * same rules before it is appended.
 */
#ifndef PROVTRACE_DECISION_H
#define PROVTRACE_DECISION_H

#include "common.h"
#include "event.h"
#include "recorder.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Append a `decision` event named `name` (may be NULL; e.g. "lr",
 * "early_stop") at `step` (PT_NO_STEP: none).
 *
 * `set_mp`/`set_len`: one msgpack map of key -> new value (NULL, 0: no
 * "set"); `reason`, `actor`: NUL-terminated UTF-8 (NULL: omitted);
 * `extra_mp`/`extra_len`: one msgpack map of further fields, string keys,
 * none of them "set", "reason" or "actor" (NULL, 0: none).  All bytes are
 * copied; the caller keeps ownership.  The body is checked against the
 * decision schema and the rules of every body (string keys at every level,
 * UTF-8, depth, no envelope key such as "step" - see
 * pt_recorder_append_msgpack()); `*out_seq` (may be NULL) receives the
 * event's sequence number (0 on error).
 *
 * Returns 0; PT_EINVAL naming the problem ("set" not a map, an extra key
 * that is not a string or repeats an argument, malformed msgpack...) with
 * nothing appended; PT_ELIMIT if the body would exceed PT_EVENT_MAX_BYTES;
 * any error of pt_recorder_append_msgpack().
 * Thread rules: as pt_recorder_append() (any thread).
 */
PT_EXTERN int pt_recorder_decision(pt_recorder *rec, const char *name, int64_t step,
				   const void *set_mp, size_t set_len, const char *reason,
				   const char *actor, const void *extra_mp, size_t extra_len,
				   uint64_t *out_seq);

/**
 * Append a `decision` event whose whole body is given encoded (one msgpack
 * map, `len` bytes): checked against the schema (pt_decision_body_check) and
 * the rules of every body (pt_recorder_append_msgpack), nothing appended on
 * PT_EINVAL.  For bindings that encode the body in one call (Python's
 * Recorder.decision()); same return codes and thread rules as
 * pt_recorder_decision().
 */
PT_EXTERN int pt_recorder_decision_body(pt_recorder *rec, const char *name, int64_t step,
					const void *body, size_t len, uint64_t *out_seq);

/**
 * Check one encoded decision body (a msgpack map, `len` bytes) against the
 * schema: "set", if present, a map; "reason" and "actor", if present,
 * strings.  Returns 0 or PT_EINVAL naming the key.  Only the schema: the
 * generic body rules are checked when the event is appended.
 */
PT_EXTERN int pt_decision_body_check(const void *body, size_t len);

/**
 * If `ev` is a `decision` event, check its body as pt_decision_body_check()
 * does (PT_EINVAL also if a container is still open); other kinds: 0.
 * `ev` is not modified.
 */
PT_EXTERN int pt_decision_check_event(const pt_event *ev);

#ifdef __cplusplus
}
#endif
#endif
