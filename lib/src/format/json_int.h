/*
 * format/json_int.h - the JSON form of events (json.c): rendering stored events.
 *
 * Parsing JSON into a builder is public: pt_event_from_json() in event.h.
 */
#ifndef PT_JSON_SRC_H
#define PT_JSON_SRC_H

#include "base/base_int.h"

/*
 * Render one stored event (`mp`, `len`: one msgpack map as in docs/FORMAT.md:
 * seq, time, [step], kind, [name], body) as one JSON object in the
 * `log --json` shape, appended to `out` without a newline.  On success
 * out->data is NUL-terminated (the NUL is not counted in out->len).
 *
 * `run` and `stream` (either may be NULL to omit the key) become the first
 * keys.  Non-finite floats are rendered {"$float": "NaN"|"Infinity"|
 * "-Infinity"}, bytes {"$bytes": "<base64>"}, non-string map keys as the
 * string of their JSON text, floats as the shortest decimal that reads back
 * to the same double (always with a '.' or an exponent, so that they stay
 * floats when parsed again).
 *
 * Returns PT_ECORRUPT (message says what and at which byte) if the bytes are
 * not one well-formed event: truncated or trailing data, an unknown or
 * missing envelope key, a wrong type, invalid UTF-8, nesting deeper than
 * PT_EVENT_MAX_DEPTH; PT_ENOMEM.  On error `out` is left as it was.
 */
int pt__json_event(pt__buf *out, const char *run, const char *stream, const uint8_t *mp, size_t len);

/* One msgpack value (exactly `len` bytes) as JSON appended to `out` (NUL-terminated). */
int pt__json_value(pt__buf *out, const uint8_t *mp, size_t len);
/* A JSON string literal for `n` bytes of UTF-8, appended (NUL-terminated). */
int pt__json_string(pt__buf *out, const char *s, size_t n);

/*
 * A small JSON object read field by field (proof bundles): every key must
 * be one of `f` (unknown keys and duplicates are refused), of its type;
 * required ones present.  Strings without NUL bytes; arrays of at most
 * `max_arr` strings.  0 ok; -1 with `why` for bad input; PT_ENOMEM.
 * Free the strings with pt__jfields_free (also on error: nothing is left).
 */
typedef enum { PT_JF_STR, PT_JF_UINT, PT_JF_STRARR } pt__jf_type;
typedef struct {
	const char *key;
	pt__jf_type type;
	bool required;
	bool present;
	char *s;
	size_t slen;
	uint64_t u;
	char **arr;
	size_t n;
} pt__jfield;
int pt__json_fields(const char *text, size_t len, pt__jfield *f, size_t n, size_t max_arr, char *why, size_t wl);
void pt__jfields_free(pt__jfield *f, size_t n);

#endif
