/*
 * fuzz_json.c - the JSON lines of `provtrace emit` (pt_event_from_json): each
 * input is one line.  An accepted line must yield an event whose body is one
 * well-formed msgpack map, and an event that renders back to JSON that
 * parses again to the same bytes (the round trip `log --json | emit` relies
 * on).
 */
#include "fuzz_common.h"

#include "format/event_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"

static pt_event *ev, *ev2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ev && (pt_event_new(&ev, "note", NULL) || pt_event_new(&ev2, "note", NULL)))
		abort();
	pt_event_reset(ev, "note", NULL);
	int rc = pt_event_from_json(ev, (const char *)data, size);
	fz_check_error(rc);
	if (rc)
		return 0;
	if (pt__event_ready(ev))
		abort(); /* accepted but not appendable */
	size_t n = pt__event_body_size(ev);
	uint8_t *body = pt__malloc(n ? n : 1);
	if (!body)
		return 0;
	uint8_t *end = pt__event_body_write(ev, body);
	if ((size_t)(end - body) != n)
		abort();
	const uint8_t *p = body;
	if (mpk_validate(&p, body + n, PT_EVENT_MAX_DEPTH + 1) || p != body + n)
		abort();

	/* Round trip through the stored form: envelope + body, as the recorder
	 * writes it, rendered by the log renderer and parsed again. */
	pt__buf mp = {0}, js = {0};
	uint8_t hdr[64], *h = hdr;
	int fields = 4 + (ev->step != PT_NO_STEP) + ev->has_name;
	h = mpk_map_hdr(h, (uint32_t)fields);
	h = mpk_str_hdr(h, 3), memcpy(h, "seq", 3), h += 3;
	h = mpk_uint(h, 1);
	h = mpk_str_hdr(h, 4), memcpy(h, "time", 4), h += 4;
	h = mpk_int(h, ev->has_time ? ev->time : 1);
	if (ev->step != PT_NO_STEP) {
		h = mpk_str_hdr(h, 4), memcpy(h, "step", 4), h += 4;
		h = mpk_int(h, ev->step);
	}
	h = mpk_str_hdr(h, 4), memcpy(h, "kind", 4), h += 4;
	h = mpk_str_hdr(h, ev->kind_len);
	int ok = !pt__buf_append(&mp, hdr, (size_t)(h - hdr)) && !pt__buf_append(&mp, ev->kind, ev->kind_len);
	if (ok && ev->has_name) {
		h = hdr;
		h = mpk_str_hdr(h, 4), memcpy(h, "name", 4), h += 4;
		h = mpk_str_hdr(h, (uint32_t)ev->name.len);
		ok = !pt__buf_append(&mp, hdr, (size_t)(h - hdr)) && !pt__buf_append(&mp, ev->name.data, ev->name.len);
	}
	if (ok) {
		h = hdr;
		h = mpk_str_hdr(h, 4), memcpy(h, "body", 4), h += 4;
		ok = !pt__buf_append(&mp, hdr, (size_t)(h - hdr)) && !pt__buf_append(&mp, body, n);
	}
	if (ok) {
		rc = pt__json_event(&js, NULL, NULL, mp.data, mp.len);
		if (rc && rc != PT_ENOMEM) {
			fprintf(stderr, "fuzz_json: accepted event does not render: %s\n", pt_error_last());
			abort();
		}
		if (!rc) {
			pt_event_reset(ev2, "note", NULL);
			rc = pt_event_from_json(ev2, (const char *)js.data, js.len);
			if (rc) {
				fprintf(stderr, "fuzz_json: rendered event does not parse: %s\n%s\n", pt_error_last(),
					(const char *)js.data);
				abort();
			}
			size_t n2 = pt__event_body_size(ev2);
			uint8_t *b2 = pt__malloc(n2 ? n2 : 1);
			if (b2) {
				pt__event_body_write(ev2, b2);
				if (n2 != n || memcmp(b2, body, n)) {
					fprintf(stderr, "fuzz_json: round trip changed the body\n%s\n", (const char *)js.data);
					abort();
				}
			}
			pt__free(b2);
		}
	}
	pt__buf_free(&mp);
	pt__buf_free(&js);
	pt__free(body);
	return 0;
}
