/*
 * decision.c - the one owner of the `decision` event body (docs/FORMAT.md):
 *   {"set": {key: new value, ...}, "reason": str, "actor": str, ...extra}
 * every key optional; when present `set` is a map (with string keys, as
 * every map of a body), `reason` and `actor` are strings.  The fold reads
 * decisions this way (log/fold.c); everything that writes one - C callers,
 * the Python binding, `provtrace emit` - goes through here.
 */
#include "base/mpk_int.h"
#include "format/event_int.h"
#include "provtrace/decision.h"

#include <string.h>

static bool key_is(const mpk_obj *k, const char *s)
{
	size_t n = strlen(s);
	return k->len == n && !memcmp(k->ptr, s, n);
}

int pt_decision_body_check(const void *body, size_t len)
{
	if (!body && len)
		return pt__err(PT_EINVAL, "decision: NULL body");
	const uint8_t *p = body, *end = p + len;
	mpk_obj m;
	if (mpk_read(&p, end, &m) || m.type != MPK_MAP)
		return pt__err(PT_EINVAL, "decision: the body is not a map");
	for (uint32_t i = 0; i < m.len; i++) {
		mpk_obj k, v;
		if (mpk_read(&p, end, &k))
			return pt__err(PT_EINVAL, "decision: body truncated at key %u", i);
		const uint8_t *vp = p;
		if (mpk_read(&vp, end, &v))
			return pt__err(PT_EINVAL, "decision: body truncated at value %u", i);
		if (k.type == MPK_STR) {
			if (key_is(&k, "set") && v.type != MPK_MAP)
				return pt__err(PT_EINVAL, "decision: \"set\" must be a map of new values, not %s",
					       v.type == MPK_ARRAY ? "an array" : v.type == MPK_STR ? "a string" : "a scalar");
			if ((key_is(&k, "reason") || key_is(&k, "actor")) && v.type != MPK_STR)
				return pt__err(PT_EINVAL, "decision: \"%.*s\" must be a string", (int)k.len,
					       (const char *)k.ptr);
		}
		if (mpk_skip(&p, end, PT_EVENT_MAX_DEPTH))
			return pt__err(PT_EINVAL, "decision: body value %u is not well-formed", i);
	}
	if (p != end)
		return pt__err(PT_EINVAL, "decision: bytes after the body map");
	return 0;
}

int pt_decision_check_event(const pt_event *ev)
{
	if (!ev)
		return pt__err(PT_EINVAL, "pt_decision_check_event: NULL event");
	if (ev->kind_len != 8 || memcmp(ev->kind, "decision", 8))
		return 0;
	int rc = pt__event_ready(ev);
	if (rc)
		return rc;
	size_t n = pt__event_body_size(ev);
	uint8_t small[512];
	uint8_t *b = n <= sizeof small ? small : pt__malloc(n);
	if (!b)
		return PT_ENOMEM;
	pt__event_body_write(ev, b);
	rc = pt_decision_body_check(b, n);
	if (b != small)
		pt__free(b);
	return rc;
}

int pt_recorder_decision(pt_recorder *rec, const char *name, int64_t step, const void *set_mp,
			 size_t set_len, const char *reason, const char *actor, const void *extra_mp,
			 size_t extra_len, uint64_t *out_seq)
{
	if (out_seq)
		*out_seq = 0;
	if (!rec || (!set_mp && set_len) || (!extra_mp && extra_len))
		return pt__err(PT_EINVAL, "pt_recorder_decision: NULL argument");
	if (set_mp && !set_len)
		return pt__err(PT_EINVAL, "decision: \"set\" is empty (0 bytes); pass NULL for none");
	size_t rl = reason ? strlen(reason) : 0, al = actor ? strlen(actor) : 0;
	/* Bounded before anything is allocated: each part is at most the event limit. */
	if (set_len > PT_EVENT_MAX_BYTES || extra_len > PT_EVENT_MAX_BYTES || rl > PT_EVENT_MAX_BYTES ||
	    al > PT_EVENT_MAX_BYTES || set_len + extra_len + rl + al > PT_EVENT_MAX_BYTES)
		return pt__err(PT_ELIMIT, "decision body is larger than the %u bytes allowed", PT_EVENT_MAX_BYTES);
	if (set_mp) {
		const uint8_t *q = set_mp, *send = q + set_len;
		mpk_obj m;
		const uint8_t *h = q;
		if (mpk_read(&h, send, &m) || m.type != MPK_MAP)
			return pt__err(PT_EINVAL, "decision: \"set\" must be a map of new values");
		if (mpk_skip(&q, send, PT_EVENT_MAX_DEPTH - 1) || q != send)
			return pt__err(PT_EINVAL, "decision: \"set\" is not one well-formed msgpack map");
	}
	uint32_t n = 0;
	const uint8_t *ep = extra_mp, *eend = ep + extra_len;
	if (extra_mp) {
		mpk_obj m;
		if (mpk_read(&ep, eend, &m) || m.type != MPK_MAP)
			return pt__err(PT_EINVAL, "decision: extra fields are not a msgpack map");
		/* The extra keys may not repeat the schema's own. */
		const uint8_t *q = ep;
		for (uint32_t i = 0; i < m.len; i++) {
			mpk_obj k;
			if (mpk_read(&q, eend, &k) || k.type != MPK_STR)
				return pt__err(PT_EINVAL, "decision: extra field %u: the key is not a string", i);
			if (key_is(&k, "set") || key_is(&k, "reason") || key_is(&k, "actor"))
				return pt__err(PT_EINVAL, "decision: extra field \"%.*s\" repeats an argument",
					       (int)k.len, (const char *)k.ptr);
			if (mpk_skip(&q, eend, PT_EVENT_MAX_DEPTH - 1))
				return pt__err(PT_EINVAL, "decision: extra field \"%.*s\" is not well-formed",
					       (int)(k.len > 64 ? 64 : k.len), (const char *)k.ptr);
		}
		if (q != eend)
			return pt__err(PT_EINVAL, "decision: bytes after the extra fields map");
		n = m.len;
	}
	n += (set_mp != NULL) + (reason != NULL) + (actor != NULL);
	size_t cap = 5 + 4 + set_len + 7 + 5 + rl + 6 + 5 + al + (size_t)(eend - ep);
	uint8_t small[1024];
	uint8_t *buf = cap <= sizeof small ? small : pt__malloc(cap);
	if (!buf)
		return PT_ENOMEM;
	uint8_t *w = mpk_map_hdr(buf, n);
	if (set_mp) {
		w = mpk_str_hdr(w, 3);
		memcpy(w, "set", 3);
		w += 3;
		memcpy(w, set_mp, set_len);
		w += set_len;
	}
	if (reason) {
		w = mpk_str_hdr(w, 6);
		memcpy(w, "reason", 6);
		w = mpk_str_hdr(w + 6, (uint32_t)rl);
		memcpy(w, reason, rl);
		w += rl;
	}
	if (actor) {
		w = mpk_str_hdr(w, 5);
		memcpy(w, "actor", 5);
		w = mpk_str_hdr(w + 5, (uint32_t)al);
		memcpy(w, actor, al);
		w += al;
	}
	if (eend > ep) {
		memcpy(w, ep, (size_t)(eend - ep));
		w += eend - ep;
	}
	size_t len = (size_t)(w - buf);
	int rc = pt_decision_body_check(buf, len);
	/* The generic body rules (string keys, UTF-8, depth, reserved keys) are the recorder's. */
	if (!rc)
		rc = pt_recorder_append_msgpack(rec, "decision", name, step, buf, len, out_seq);
	if (buf != small)
		pt__free(buf);
	return rc;
}

int pt_recorder_decision_body(pt_recorder *rec, const char *name, int64_t step, const void *body, size_t len,
			      uint64_t *out_seq)
{
	if (out_seq)
		*out_seq = 0;
	if (!rec || (!body && len))
		return pt__err(PT_EINVAL, "pt_recorder_decision_body: NULL argument");
	if (len > PT_EVENT_MAX_BYTES)
		return pt__err(PT_ELIMIT, "decision body of %zu bytes is larger than the %u allowed", len,
			       PT_EVENT_MAX_BYTES);
	int rc = pt_decision_body_check(body, len);
	return rc ? rc : pt_recorder_append_msgpack(rec, "decision", name, step, body, len, out_seq);
}
