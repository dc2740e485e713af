/*
 * verify_report.c - the one rendering of a verification result: problems and
 * counts as one JSON document (docs/CLI.md, "verify --json"), used by
 * `provtrace verify` and the Python binding alike.  It also owns the rule
 * "verification failed but no problem was listed": that failure becomes one
 * problem, so that every front end shows it the same way.
 */
#include "format/json_int.h"
#include "provtrace/verify.h"

#include <inttypes.h>
#include <string.h>

typedef struct {
	pt_problem_cb cb;
	void *payload;
	pt__buf *json; /* NULL: no JSON wanted */
	uint64_t n, errors, warnings;
	int rc; /* first rendering error */
	bool stopped;
} rctx;

static int put_problem(rctx *r, const pt_problem *p)
{
	pt__buf *b = r->json;
	const char *name = pt_error_name(p->code);
	const char *obj = p->object ? p->object : "";
	const char *msg = p->message ? p->message : "";
	int rc = pt__buf_printf(b, "%s{\"severity\":\"%s\",\"code\":", r->n ? ",\n" : "\n",
				p->severity == PT_SEVERITY_WARNING ? "warning" : "error");
	if (!rc)
		rc = pt__json_string(b, name, strlen(name));
	if (!rc)
		rc = pt__buf_printf(b, ",\"rc\":%d,\"object\":", p->code);
	if (!rc)
		rc = pt__json_string(b, obj, strlen(obj));
	if (!rc)
		rc = pt__buf_printf(b, ",\"offset\":%" PRIu64 ",\"message\":", p->offset);
	if (!rc)
		rc = pt__json_string(b, msg, strlen(msg));
	if (!rc)
		rc = pt__buf_append(b, "}", 1);
	return rc;
}

static int on_problem(const pt_problem *p, void *payload)
{
	rctx *r = payload;
	if (p->severity == PT_SEVERITY_WARNING)
		r->warnings++;
	else
		r->errors++;
	if (r->json && !r->rc)
		r->rc = put_problem(r, p);
	r->n++;
	if (r->rc)
		return 1;
	if (r->cb && r->cb(p, r->payload)) {
		r->stopped = true;
		return 1;
	}
	return 0;
}

int pt_verify_report(const pt_store *st, const char *run, const char *stream, pt_problem_cb cb,
		     void *payload, pt_verify_stats *stats, char **out_json, size_t *out_len)
{
	pt_verify_stats vs;
	memset(&vs, 0, sizeof vs);
	if (stats)
		*stats = vs;
	if (out_json)
		*out_json = NULL;
	if (out_len)
		*out_len = 0;
	if (!st)
		return pt__err(PT_EINVAL, "verify: no store");
	pt__buf json = {0};
	rctx r = {cb, payload, out_json ? &json : NULL, 0, 0, 0, 0, false};
	int vr = pt_verify(st, run, stream, on_problem, &r, &vs);
	if (r.rc) {
		pt__buf_free(&json);
		return r.rc;
	}
	if (vr && vr != PT_ECORRUPT) {
		pt__buf_free(&json);
		return vr;
	}
	if (vr == PT_ECORRUPT && !r.errors && !r.stopped) {
		/* Damage the library found but did not list: one problem, so that it is seen. */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", pt_error_last());
		pt_problem p = {PT_SEVERITY_ERROR, PT_ECORRUPT, NULL, 0, msg};
		on_problem(&p, &r);
		if (r.rc) {
			pt__buf_free(&json);
			return r.rc;
		}
	}
	vs.errors = r.errors;
	vs.warnings = r.warnings;
	if (out_json) {
		int rc = pt__buf_printf(&json,
					"%s],\"stats\":{\"runs\":%" PRIu64 ",\"streams\":%" PRIu64
					",\"segments\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"events\":%" PRIu64
					",\"bytes\":%" PRIu64 "}}",
					r.n ? "\n" : "", vs.runs, vs.streams, vs.segments, vs.batches, vs.events,
					vs.bytes);
		pt__buf head = {0};
		if (!rc)
			rc = pt__buf_printf(&head,
					    "{\"ok\":%s,\"errors\":%" PRIu64 ",\"warnings\":%" PRIu64
					    ",\"problems\":[",
					    r.errors ? "false" : "true", r.errors, r.warnings);
		if (!rc)
			rc = pt__buf_append(&head, json.data, json.len);
		if (!rc)
			rc = pt__buf_append(&head, "", 1); /* NUL */
		pt__buf_free(&json);
		if (rc) {
			pt__buf_free(&head);
			return rc;
		}
		*out_json = (char *)head.data;
		if (out_len)
			*out_len = head.len - 1;
	}
	if (stats)
		*stats = vs;
	return 0;
}
