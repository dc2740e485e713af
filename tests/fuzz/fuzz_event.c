/*
 * fuzz_event.c - the stored-event decoder: one msgpack event map rendered as
 * JSON (pt__json_event, what `log --json` and pt_ev_json run on every stored
 * event), plus the generic msgpack validator and skipper it relies on.
 */
#include "fuzz_common.h"

#include "format/json_int.h"
#include "base/mpk_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt__buf out = {0};
	int rc = pt__json_event(&out, "run", "main", data, size);
	fz_check_error(rc);
	if (rc == 0 && (!out.data || strlen((const char *)out.data) != out.len))
		abort(); /* rendered JSON must be NUL-terminated with no NUL inside */
	/* bounded memory: rendering may expand (escapes, base64, "$ext" objects)
	 * but only by a constant factor (an exponential blow-up was found once) */
	if (rc == 0 && out.len > 64 * size + 1024) {
		fprintf(stderr, "fuzz_event: %zu input bytes rendered to %zu\n", size, out.len);
		abort();
	}
	if (rc != 0 && out.len)
		abort(); /* on error the buffer is left as it was (empty) */
	pt__buf_free(&out);

	const uint8_t *p = data;
	int v = mpk_validate(&p, data + size, PT_EVENT_MAX_DEPTH);
	if (v == 0 && (p < data || p > data + size))
		abort();
	p = data;
	int s = mpk_skip(&p, data + size, PT_EVENT_MAX_DEPTH);
	if (s == 0 && (p < data || p > data + size))
		abort();
	/* anything valid can also be skipped, to the same place */
	if (v == 0 && s != 0)
		abort();
	return 0;
}
