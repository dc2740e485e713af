/*
 * event.c - the event builder.
 *
 * The body is encoded straight to msgpack as setters are called, so an
 * append only has to copy bytes.  msgpack needs the element count of a map
 * before its elements, which a streaming builder does not know: each
 * container gets a 5-byte placeholder and, when it is closed, its smallest
 * header is written and its content moved down over the unused bytes.  The
 * move touches only that container's bytes, and events are small.
 */
#include "format/event_int.h"
#include "base/mpk_int.h"

static const char *const reserved_keys[] = {"run", "stream", "seq", "time", "step", "kind", "name"};

/*
 * Kinds the library interprets, and the only API that writes each.  gc,
 * verify, archive and replay take object references, manifests, lineages and
 * snapshots from these events; accepting them from pt_recorder_append would
 * let any body (`{"kind":"checkpoint","manifest":"<64 hex>"}`) make gc refuse
 * forever or pin objects.  Other built-in kinds (param, metric, decision, env,
 * note, run_start, run_end) are plain data and stay appendable.
 */
static const struct {
	const char *kind, *api;
} reserved_kinds[] = {
	{PT_KIND_CHECKPOINT, "pt_checkpointer_write (Python: Recorder.checkpoint)"},
	{"snapshot", "the recorder itself (pt_recorder_options.snapshot_every)"},
	{"lineage", "pt_recorder_resume (Python: Recorder(resume=...))"},
	{PT_KIND_RECOVERY, "the recorder itself, when it cuts a torn tail on reopen"},
	{PT_KIND_CODE, "pt_code_capture (Python: Recorder(capture_code=True))"},
	{"artifact", "pt_artifact_file / pt_artifact_bytes (Python: Recorder.artifact)"},
	{"dataset", "pt_dataset_record (Python: Recorder.dataset)"},
};

int pt__kind_reserved(const char *kind, size_t len)
{
	if (len != 4 && len != 7 && len != 8 && len != 10)
		return 0; /* the append path's common case, without a string compare */
	for (size_t i = 0; i < sizeof reserved_kinds / sizeof *reserved_kinds; i++)
		if (strlen(reserved_kinds[i].kind) == len && !memcmp(kind, reserved_kinds[i].kind, len))
			return pt__err(PT_EINVAL,
				       "event kind \"%s\" is reserved: the library interprets it and writes it only through %s",
				       reserved_kinds[i].kind, reserved_kinds[i].api);
	return 0;
}

int pt_event_check_appendable(const pt_event *ev)
{
	if (!ev)
		return pt__err(PT_EINVAL, "pt_event_check_appendable: NULL event");
	int rc = pt__event_ready(ev);
	return rc ? rc : pt__kind_reserved(ev->kind, ev->kind_len);
}

int pt__kind_check(const char *kind, size_t len)
{
	if (!kind || !len)
		return pt__err(PT_EINVAL, "event kind is empty");
	if (len > PT_KIND_MAX)
		return pt__err(PT_EINVAL, "event kind \"%.64s...\" is longer than %d characters", kind, PT_KIND_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = kind[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == ':' || c == '-'))
			return pt__err(PT_EINVAL, "event kind \"%.*s\" has the character '%c' (allowed: letters, digits, '_', '.', ':', '-')",
				       (int)len, kind, c);
	}
	return 0;
}

static int fail(pt_event *ev, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pt_event *ev, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!ev->err) {
		ev->err = code;
		snprintf(ev->errmsg, sizeof ev->errmsg, "%s", msg);
	}
	return pt__err(code, "%s", msg);
}

int pt_event_reset(pt_event *ev, const char *kind, const char *name)
{
	if (!ev)
		return pt__err(PT_EINVAL, "pt_event_reset: NULL event");
	size_t kl = kind ? strlen(kind) : 0;
	int rc = pt__kind_check(kind, kl);
	if (rc)
		return rc;
	size_t nl = name ? strlen(name) : 0;
	if (name && nl > PT_NAME_MAX)
		return pt__err(PT_EINVAL, "event name is %zu bytes, more than %d", nl, PT_NAME_MAX);
	if (name && !pt__utf8_valid((const uint8_t *)name, nl))
		return pt__err(PT_EINVAL, "event name is not valid UTF-8");
	memcpy(ev->kind, kind, kl);
	ev->kind[kl] = 0;
	ev->kind_len = (uint8_t)kl;
	ev->name.len = 0;
	ev->has_name = name != NULL;
	if (name && (rc = pt__buf_append(&ev->name, name, nl)))
		return rc;
	ev->step = PT_NO_STEP;
	ev->time = 0;
	ev->has_time = false;
	ev->err = 0;
	ev->errmsg[0] = 0;
	ev->body.len = 0;
	if ((rc = pt__buf_reserve(&ev->body, 256)))
		return rc;
	memset(ev->body.data, 0, PT_EV_HDR_RESERVE);
	ev->body.len = PT_EV_HDR_RESERVE;
	ev->depth = 0;
	ev->stack[0].hdr_off = 0;
	ev->stack[0].count = 0;
	ev->stack[0].is_map = true;
	return 0;
}

int pt_event_new(pt_event **out, const char *kind, const char *name)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_event_new: NULL out");
	*out = NULL;
	pt_event *ev = pt__calloc(1, sizeof *ev);
	if (!ev)
		return PT_ENOMEM;
	int rc = pt_event_reset(ev, kind, name);
	if (rc) {
		pt_event_free(ev);
		return rc;
	}
	*out = ev;
	return 0;
}

void pt_event_free(pt_event *ev)
{
	if (!ev)
		return;
	pt__buf_free(&ev->name);
	pt__buf_free(&ev->body);
	pt__free(ev);
}

int pt_event_set_step(pt_event *ev, int64_t step)
{
	if (!ev)
		return pt__err(PT_EINVAL, "pt_event_set_step: NULL event");
	ev->step = step;
	return 0;
}

int pt_event_set_time(pt_event *ev, int64_t unix_ns)
{
	if (!ev)
		return pt__err(PT_EINVAL, "pt_event_set_time: NULL event");
	ev->time = unix_ns;
	ev->has_time = true;
	return 0;
}

/* Write the key (in a map) and reserve room for a value of up to `need` bytes. */
static int begin_value(pt_event *ev, const char *key, size_t need, uint8_t **out)
{
	*out = NULL;
	if (!ev)
		return pt__err(PT_EINVAL, "event builder is NULL");
	if (ev->err)
		return pt__err(ev->err, "event builder has an earlier error: %s", ev->errmsg);
	pt__ev_frame *f = &ev->stack[ev->depth];
	size_t kl = 0;
	if (f->is_map) {
		if (!key)
			return fail(ev, PT_EINVAL, "a value inside a map needs a key");
		kl = strlen(key);
		if (!pt__utf8_valid((const uint8_t *)key, kl))
			return fail(ev, PT_EINVAL, "key is not valid UTF-8");
		if (ev->depth == 0) {
			for (size_t i = 0; i < sizeof reserved_keys / sizeof *reserved_keys; i++)
				if (!strcmp(key, reserved_keys[i]))
					return fail(ev, PT_EINVAL, "key \"%s\" is reserved for the event envelope", key);
			/* "lineage" is the read-back envelope's (log --json); only the `lineage` kind has it in its body */
			if (!strcmp(key, "lineage") && !(ev->kind_len == 7 && !memcmp(ev->kind, "lineage", 7)))
				return fail(ev, PT_EINVAL,
					    "key \"lineage\" is reserved: events read back carry their lineage under it");
		}
	} else if (key) {
		return fail(ev, PT_EINVAL, "a value inside an array takes no key (got \"%s\")", key);
	}
	if (f->count == UINT32_MAX)
		return fail(ev, PT_ELIMIT, "too many elements in one container");
	size_t total = (f->is_map ? kl + 5 : 0) + need;
	if (ev->body.len + total > PT_EVENT_MAX_BYTES)
		return fail(ev, PT_ELIMIT, "event larger than %u bytes", PT_EVENT_MAX_BYTES);
	int rc = pt__buf_reserve(&ev->body, total);
	if (rc)
		return fail(ev, rc, "out of memory building an event");
	uint8_t *p = ev->body.data + ev->body.len;
	if (f->is_map) {
		p = mpk_str_hdr(p, (uint32_t)kl);
		memcpy(p, key, kl);
		p += kl;
	}
	f->count++;
	*out = p;
	return 0;
}

#define SIMPLE_SETTER(fname, ctype, maxlen, enc)                                  \
	int fname(pt_event *ev, const char *key, ctype v)                        \
	{                                                                         \
		uint8_t *p;                                                       \
		int rc = begin_value(ev, key, maxlen, &p);                        \
		if (rc)                                                           \
			return rc;                                                \
		p = enc;                                                          \
		ev->body.len = (size_t)(p - ev->body.data);                      \
		return 0;                                                         \
	}

SIMPLE_SETTER(pt_event_int, int64_t, 9, mpk_int(p, v))
SIMPLE_SETTER(pt_event_uint, uint64_t, 9, mpk_uint(p, v))
SIMPLE_SETTER(pt_event_double, double, 9, mpk_double(p, v))
SIMPLE_SETTER(pt_event_float, float, 5, mpk_float(p, v))

int pt_event_bool(pt_event *ev, const char *key, int v)
{
	uint8_t *p;
	int rc = begin_value(ev, key, 1, &p);
	if (rc)
		return rc;
	*p++ = v ? 0xc3 : 0xc2;
	ev->body.len = (size_t)(p - ev->body.data);
	return 0;
}

int pt_event_nil(pt_event *ev, const char *key)
{
	uint8_t *p;
	int rc = begin_value(ev, key, 1, &p);
	if (rc)
		return rc;
	*p++ = 0xc0;
	ev->body.len = (size_t)(p - ev->body.data);
	return 0;
}

static int blob(pt_event *ev, const char *key, const void *s, size_t len, bool is_str)
{
	if (len > PT_EVENT_MAX_BYTES)
		return ev ? fail(ev, PT_ELIMIT, "value of %zu bytes is larger than an event may be", len)
			  : pt__err(PT_EINVAL, "event builder is NULL");
	if (len && !s)
		return ev ? fail(ev, PT_EINVAL, "NULL data with a non-zero length") : pt__err(PT_EINVAL, "NULL");
	if (is_str && !pt__utf8_valid(s, len))
		return ev ? fail(ev, PT_EINVAL, "string%s%s is not valid UTF-8", key ? " for key " : "", key ? key : "")
			  : pt__err(PT_EINVAL, "event builder is NULL");
	uint8_t *p;
	int rc = begin_value(ev, key, len + 5, &p);
	if (rc)
		return rc;
	p = is_str ? mpk_str_hdr(p, (uint32_t)len) : mpk_bin_hdr(p, (uint32_t)len);
	if (len)
		memcpy(p, s, len);
	ev->body.len = (size_t)(p + len - ev->body.data);
	return 0;
}

int pt_event_str(pt_event *ev, const char *key, const char *s)
{
	if (!s)
		return pt_event_nil(ev, key);
	return blob(ev, key, s, strlen(s), true);
}

int pt_event_strn(pt_event *ev, const char *key, const char *s, size_t len) { return blob(ev, key, s, len, true); }
int pt_event_bytes(pt_event *ev, const char *key, const void *p, size_t len) { return blob(ev, key, p, len, false); }

static int begin_container(pt_event *ev, const char *key, bool is_map)
{
	if (ev && ev->depth >= PT_EVENT_MAX_DEPTH)
		return fail(ev, PT_ELIMIT, "values nested deeper than %d levels", PT_EVENT_MAX_DEPTH);
	uint8_t *p;
	int rc = begin_value(ev, key, PT_EV_HDR_RESERVE, &p);
	if (rc)
		return rc;
	memset(p, 0, PT_EV_HDR_RESERVE);
	ev->depth++;
	ev->stack[ev->depth].hdr_off = (size_t)(p - ev->body.data);
	ev->stack[ev->depth].count = 0;
	ev->stack[ev->depth].is_map = is_map;
	ev->body.len = (size_t)(p - ev->body.data) + PT_EV_HDR_RESERVE;
	return 0;
}

int pt_event_begin_map(pt_event *ev, const char *key) { return begin_container(ev, key, true); }
int pt_event_begin_array(pt_event *ev, const char *key) { return begin_container(ev, key, false); }

int pt_event_end(pt_event *ev)
{
	if (!ev)
		return pt__err(PT_EINVAL, "event builder is NULL");
	if (ev->err)
		return pt__err(ev->err, "event builder has an earlier error: %s", ev->errmsg);
	if (ev->depth == 0)
		return fail(ev, PT_EINVAL, "pt_event_end: no map or array is open");
	pt__ev_frame *f = &ev->stack[ev->depth];
	uint8_t hdr[5];
	uint8_t *e = f->is_map ? mpk_map_hdr(hdr, f->count) : mpk_arr_hdr(hdr, f->count);
	size_t hl = (size_t)(e - hdr);
	uint8_t *base = ev->body.data + f->hdr_off;
	size_t content = ev->body.len - f->hdr_off - PT_EV_HDR_RESERVE;
	memcpy(base, hdr, hl);
	if (hl != PT_EV_HDR_RESERVE)
		memmove(base + hl, base + PT_EV_HDR_RESERVE, content);
	ev->body.len -= PT_EV_HDR_RESERVE - hl;
	ev->depth--;
	return 0;
}

int pt_event_msgpack(pt_event *ev, const char *key, const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + len;
	if (!data || mpk_validate(&p, end, PT_EVENT_MAX_DEPTH - (ev ? ev->depth : 0)) || p != end)
		return ev ? fail(ev, PT_EINVAL, "pt_event_msgpack: not exactly one well-formed msgpack value")
			  : pt__err(PT_EINVAL, "event builder is NULL");
	uint8_t *q;
	int rc = begin_value(ev, key, len, &q);
	if (rc)
		return rc;
	memcpy(q, data, len);
	ev->body.len = (size_t)(q + len - ev->body.data);
	return 0;
}

int pt__event_ready(const pt_event *ev)
{
	if (!ev)
		return pt__err(PT_EINVAL, "event is NULL");
	if (ev->err)
		return pt__err(ev->err, "event not appended: the builder had an error: %s", ev->errmsg);
	if (ev->depth != 0)
		return pt__err(PT_EINVAL, "event not appended: %d map/array still open (call pt_event_end)", ev->depth);
	return 0;
}

size_t pt__event_body_size(const pt_event *ev)
{
	return mpk_hdr_len(ev->stack[0].count, true) + ev->body.len - PT_EV_HDR_RESERVE;
}

uint8_t *pt__event_body_write(const pt_event *ev, uint8_t *dst)
{
	dst = mpk_map_hdr(dst, ev->stack[0].count);
	size_t n = ev->body.len - PT_EV_HDR_RESERVE;
	memcpy(dst, ev->body.data + PT_EV_HDR_RESERVE, n);
	return dst + n;
}
