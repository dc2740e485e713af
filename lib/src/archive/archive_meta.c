/*
 * archive_meta.c - the archive module's metadata: plans, the catalog, archive
 * manifests (location records: log/vault.c).  The only archive file that
 * includes <jansson.h>.
 *
 * Plans and catalog share one framing, like the chain file: a first line
 * naming the file and its version, one JSON object per line, then
 * "end <count> <crc32c>" over every byte before it.  They are replaced
 * atomically (pt__atomic_write); a torn or edited file fails its CRC and is
 * refused with a clear error rather than half read.
 */
#include "archive/archive_int.h"

#include <jansson.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#define PLANS_FILE "plans"
#define CATALOG_FILE "catalog"
#define PLANS_MAGIC "provtrace-archive-plans 1"
#define CATALOG_MAGIC "provtrace-archive-catalog 1"

char *pt__archive_dir(const pt_store *st)
{
	return pt__sprintf("%s/%s", st->path, PT_ARCHIVE_DIR);
}

void pt__archive_say(pt_archive_report_cb report, void *payload, const char *fmt, ...)
{
	if (!report)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	report(line, payload);
}

int pt__tags_json(char **out, const char *const *tags, size_t n)
{
	json_t *o = json_object();
	if (!o)
		return PT_ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *eq = tags[i] ? strchr(tags[i], '=') : NULL;
		if (!eq || eq == tags[i]) {
			rc = pt__err(PT_EINVAL, "tag \"%s\" is not KEY=VALUE", tags[i] ? tags[i] : "");
			break;
		}
		char *k = pt__strndup(tags[i], (size_t)(eq - tags[i]));
		if (!k) {
			rc = PT_ENOMEM;
			break;
		}
		json_t *v = json_string(eq + 1);
		if (!v || strlen(k) > 128 || json_object_set_new(o, k, v))
			rc = pt__err(PT_EINVAL, "tag \"%s\": invalid key or value (UTF-8, key up to 128 bytes)", tags[i]);
		pt__free(k);
	}
	if (!rc) {
		char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (!t || !(*out = pt__strdup(t)))
			rc = PT_ENOMEM;
		pt__free(t); /* jansson allocates through pt__malloc (alloc.h) */
	}
	json_decref(o);
	return rc;
}

static int get_u64(json_t *o, const char *k, uint64_t *out, const char *what)
{
	int64_t v = 0;
	int rc = pt__jget_int(o, k, &v, true, what);
	if (!rc && v < 0)
		rc = pt__err(PT_ECORRUPT, "%s: \"%s\" is negative", what, k);
	*out = (uint64_t)v;
	return rc;
}

static int get_hex(json_t *o, const char *k, uint8_t out[32], const char *what)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v) || strlen(json_string_value(v)) != 64 || pt__unhex(json_string_value(v), out, 32))
		return pt__err(PT_ECORRUPT, "%s: \"%s\" is not a 64-digit hex SHA-256", what, k);
	return 0;
}

static int get_pair(json_t *o, const char *k, int64_t *a, int64_t *b, int64_t none, const char *what)
{
	json_t *v = json_object_get(o, k);
	if (!v || json_is_null(v)) {
		*a = *b = none;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
	    !json_is_integer(json_array_get(v, 1)))
		return pt__err(PT_ECORRUPT, "%s: \"%s\" is not a pair of integers", what, k);
	*a = json_integer_value(json_array_get(v, 0));
	*b = json_integer_value(json_array_get(v, 1));
	return 0;
}

/* ---- plans ------------------------------------------------------------------------------- */

void pt__plan_clear(pt__plan *p)
{
	pt__free(p->name);
	pt__free(p->schedule);
	pt__free(p->tz);
	pt__free(p->vault);
	pt__free(p->tags_json);
	pt__free(p->last_result);
	memset(p, 0, sizeof *p);
}

void pt__plans_free(pt__plans *p)
{
	for (size_t i = 0; i < p->n; i++)
		pt__plan_clear(&p->v[i]);
	pt__free(p->v);
	p->v = NULL;
	p->n = 0;
}

pt__plan *pt__plans_find(const pt__plans *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].name, name))
			return &p->v[i];
	return NULL;
}

int pt__plans_load(const pt_store *st, pt__plans *out)
{
	memset(out, 0, sizeof *out);
	json_t *arr;
	int rc = pt__frame_load(st, PLANS_FILE, PLANS_MAGIC, &arr);
	if (rc)
		return rc;
	size_t n = json_array_size(arr);
	out->v = pt__calloc(n ? n : 1, sizeof *out->v);
	if (!out->v) {
		json_decref(arr);
		return PT_ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *o = json_array_get(arr, i);
		pt__plan *p = &out->v[i];
		out->n++;
		const char *w = "archive plans";
		int64_t kl = 0, ks = 0;
		json_t *tags = json_object_get(o, "tags");
		if ((rc = pt__jget_str(o, "name", &p->name, true, w)) || (rc = pt__jget_str(o, "schedule", &p->schedule, true, w)) ||
		    (rc = pt__jget_str(o, "timezone", &p->tz, true, w)) || (rc = pt__jget_str(o, "vault", &p->vault, true, w)) ||
		    (rc = pt__jget_int(o, "min_age", &p->min_age, true, w)) ||
		    (rc = pt__jget_int(o, "delete_after", &p->delete_after, true, w)) ||
		    (rc = pt__jget_int(o, "keep_last", &kl, true, w)) ||
		    (rc = pt__jget_int(o, "start_window", &p->start_window, true, w)) ||
		    (rc = pt__jget_int(o, "keep_sources", &ks, false, w)) ||
		    (rc = pt__jget_int(o, "created", &p->created, true, w)) ||
		    (rc = pt__jget_int(o, "last_window", &p->last_window, true, w)) ||
		    (rc = pt__jget_str(o, "last_result", &p->last_result, false, w)))
			break;
		p->keep_last = (uint32_t)kl;
		p->keep_sources = ks != 0;
		char *t = tags ? json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		p->tags_json = pt__strdup(t ? t : "{}");
		pt__free(t); /* jansson allocates through pt__malloc (alloc.h) */
		if (!p->tags_json)
			rc = PT_ENOMEM;
	}
	json_decref(arr);
	if (rc)
		pt__plans_free(out);
	return rc;
}

int pt__plans_store(const pt_store *st, const pt__plans *p)
{
	pt__buf b = {0};
	int rc = 0;
	for (size_t i = 0; i < p->n && !rc; i++) {
		const pt__plan *x = &p->v[i];
		if ((rc = pt__buf_printf(&b, "{\"name\":")) || (rc = pt__json_quote(&b, x->name)) ||
		    (rc = pt__buf_printf(&b, ",\"schedule\":")) || (rc = pt__json_quote(&b, x->schedule)) ||
		    (rc = pt__buf_printf(&b, ",\"timezone\":")) || (rc = pt__json_quote(&b, x->tz)) ||
		    (rc = pt__buf_printf(&b, ",\"vault\":")) || (rc = pt__json_quote(&b, x->vault)) ||
		    (rc = pt__buf_printf(&b,
					 ",\"min_age\":%lld,\"delete_after\":%lld,\"keep_last\":%u,\"start_window\":%lld,"
					 "\"keep_sources\":%d,\"created\":%lld,\"last_window\":%lld,\"tags\":%s,"
					 "\"last_result\":",
					 (long long)x->min_age, (long long)x->delete_after, x->keep_last,
					 (long long)x->start_window, x->keep_sources, (long long)x->created,
					 (long long)x->last_window, x->tags_json ? x->tags_json : "{}")) ||
		    (rc = x->last_result ? pt__json_quote(&b, x->last_result) : pt__buf_printf(&b, "null")) ||
		    (rc = pt__buf_printf(&b, "}\n")))
			break;
	}
	if (!rc)
		rc = pt__frame_store(st, PLANS_FILE, PLANS_MAGIC, &b, p->n);
	pt__buf_free(&b);
	return rc;
}

/* ---- manifests ----------------------------------------------------------------------------- */

void pt__acat_clear(pt__acat *a)
{
	for (size_t i = 0; i < a->nm; i++) {
		pt__free(a->m[i].name);
		pt__free(a->m[i].run);
		pt__free(a->m[i].stream);
	}
	pt__free(a->m);
	pt__free(a->plan);
	pt__free(a->tags_json);
	pt__free(a->path);
	pt__free(a->deleted_reason);
	memset(a, 0, sizeof *a);
}

static int step_pair(pt__buf *b, int64_t lo, int64_t hi)
{
	if (lo == PT_NO_STEP)
		return pt__buf_printf(b, "null");
	return pt__buf_printf(b, "[%lld,%lld]", (long long)lo, (long long)hi);
}

/* The manifest object; `lines`: one member per line (the MANIFEST.json member). */
static int manifest_object(pt__buf *b, const pt__acat *a, bool lines)
{
	char wbuf[48], cbuf[48];
	int rc;
	if ((rc = pt__buf_printf(b, "{\"format\":\"provtrace-archive\",\"version\":%d,\"plan\":",
				 PT_ARCHIVE_FORMAT_VERSION)) ||
	    (rc = pt__json_quote(b, a->plan)) ||
	    (rc = pt__buf_printf(b, ",\"window\":\"%s\",\"window_ns\":%lld,\"created\":\"%s\",\"created_ns\":%lld,"
				    "\"tags\":%s,\"members\":[",
				 pt_time_format(a->window, wbuf, sizeof wbuf), (long long)a->window,
				 pt_time_format(a->created, cbuf, sizeof cbuf), (long long)a->created,
				 a->tags_json ? a->tags_json : "{}")))
		return rc;
	for (size_t i = 0; i < a->nm; i++) {
		const pt__amember *m = &a->m[i];
		char sha[65], id[65], off[32];
		pt__hex(m->sha, 32, sha);
		pt__hex(m->id, 32, id);
		/* fixed width: the offsets are written after the members */
		snprintf(off, sizeof off, "%-*llu", PT_OFFSET_WIDTH, (unsigned long long)m->offset);
		if ((rc = pt__buf_printf(b, "%s{\"name\":", i ? (lines ? ",\n" : ",") : (lines ? "\n" : ""))) ||
		    (rc = pt__json_quote(b, m->name)) ||
		    (rc = pt__buf_printf(b, ",\"type\":\"%s\",\"size\":%llu,\"sha256\":\"%s\",\"offset\":%s,\"id\":\"%s\"",
					 m->type == PT_MEMBER_SEGMENT ? "segment" : "object",
					 (unsigned long long)m->size, sha, off, id)))
			return rc;
		if (m->type == PT_MEMBER_SEGMENT) {
			if ((rc = pt__buf_printf(b, ",\"run\":")) || (rc = pt__json_quote(b, m->run)) ||
			    (rc = pt__buf_printf(b, ",\"stream\":")) || (rc = pt__json_quote(b, m->stream)) ||
			    (rc = pt__buf_printf(b, ",\"segno\":%llu,\"seq\":[%llu,%llu],\"step\":",
						 (unsigned long long)m->segno, (unsigned long long)m->first_seq,
						 (unsigned long long)m->last_seq)) ||
			    (rc = step_pair(b, m->step_min, m->step_max)) ||
			    (rc = pt__buf_printf(b, ",\"time\":[%lld,%lld]", (long long)m->time_min,
						 (long long)m->time_max)))
				return rc;
		}
		if ((rc = pt__buf_printf(b, "}")))
			return rc;
	}
	return pt__buf_printf(b, "%s]}", lines && a->nm ? "\n" : "");
}

int pt__manifest_json(pt__buf *out, const pt__acat *a)
{
	int rc = manifest_object(out, a, true);
	return rc ? rc : pt__buf_printf(out, "\n");
}

static bool name_ok(const char *s)
{
	return pt_name_check("name", s) == 0;
}

static int parse_manifest_obj(pt__acat *a, json_t *o, const char *what)
{
	int rc;
	json_t *fmt = json_object_get(o, "format"), *ver = json_object_get(o, "version");
	if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "provtrace-archive"))
		return pt__err(PT_ECORRUPT, "%s: not a provtrace archive manifest", what);
	if (!json_is_integer(ver) || json_integer_value(ver) < 1)
		return pt__err(PT_ECORRUPT, "%s: bad manifest version", what);
	if (json_integer_value(ver) > PT_ARCHIVE_FORMAT_VERSION)
		return pt__err(PT_EVERSION, "%s: manifest version %lld is newer than this library's (%d)", what,
			       (long long)json_integer_value(ver), PT_ARCHIVE_FORMAT_VERSION);
	json_t *tags = json_object_get(o, "tags"), *mem = json_object_get(o, "members");
	if ((rc = pt__jget_str(o, "plan", &a->plan, true, what)) || (rc = pt__jget_int(o, "window_ns", &a->window, true, what)) ||
	    (rc = pt__jget_int(o, "created_ns", &a->created, true, what)))
		return rc;
	if (!json_is_object(tags) || !json_is_array(mem))
		return pt__err(PT_ECORRUPT, "%s: \"tags\" must be an object and \"members\" an array", what);
	json_t *tv;
	const char *tk;
	json_object_foreach(tags, tk, tv) if (!json_is_string(tv)) return pt__err(
		PT_ECORRUPT, "%s: tag \"%s\" is not a string", what, tk);
	char *t = json_dumps(tags, JSON_COMPACT | JSON_SORT_KEYS);
	a->tags_json = t ? pt__strdup(t) : NULL;
	pt__free(t); /* jansson allocates through pt__malloc (alloc.h) */
	if (!a->tags_json)
		return PT_ENOMEM;
	size_t n = json_array_size(mem);
	if (n > (1u << 24))
		return pt__err(PT_ECORRUPT, "%s: too many members (%zu)", what, n);
	a->m = pt__calloc(n ? n : 1, sizeof *a->m);
	if (!a->m)
		return PT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(mem, i);
		pt__amember *m = &a->m[i];
		a->nm++;
		char *type = NULL;
		if (!json_is_object(x))
			return pt__err(PT_ECORRUPT, "%s: member %zu is not an object", what, i);
		if ((rc = pt__jget_str(x, "name", &m->name, true, what)) || (rc = pt__jget_str(x, "type", &type, true, what)) ||
		    (rc = get_u64(x, "size", &m->size, what)) || (rc = get_u64(x, "offset", &m->offset, what)) ||
		    (rc = get_hex(x, "sha256", m->sha, what)) || (rc = get_hex(x, "id", m->id, what))) {
			pt__free(type);
			return rc;
		}
		bool seg = !strcmp(type, "segment"), obj = !strcmp(type, "object");
		pt__free(type);
		if (!seg && !obj)
			return pt__err(PT_ECORRUPT, "%s: member %s has an unknown type", what, m->name);
		m->type = seg ? PT_MEMBER_SEGMENT : PT_MEMBER_OBJECT;
		if (seg) {
			int64_t a1, b1;
			if ((rc = pt__jget_str(x, "run", &m->run, true, what)) || (rc = pt__jget_str(x, "stream", &m->stream, true, what)) ||
			    (rc = get_u64(x, "segno", &m->segno, what)) ||
			    (rc = get_pair(x, "seq", &a1, &b1, 0, what)) ||
			    (rc = get_pair(x, "step", &m->step_min, &m->step_max, PT_NO_STEP, what)) ||
			    (rc = get_pair(x, "time", &m->time_min, &m->time_max, 0, what)))
				return rc;
			m->first_seq = (uint64_t)a1;
			m->last_seq = (uint64_t)b1;
			if (!name_ok(m->run) || !name_ok(m->stream))
				return pt__err(PT_ECORRUPT, "%s: member %s has an invalid run or stream name", what, m->name);
		}
		/* the name must be exactly the one this id and type produce */
		char *want = seg ? pt__member_segment_name(m->run, m->stream, m->id) : pt__member_object_name(m->id);
		if (!want)
			return PT_ENOMEM;
		bool same = !strcmp(want, m->name);
		pt__free(want);
		if (!same)
			return pt__err(PT_ECORRUPT, "%s: member name \"%s\" does not match its type and id", what, m->name);
	}
	return 0;
}

int pt__manifest_parse(pt__acat *out, const uint8_t *p, size_t len, const char *what)
{
	memset(out, 0, sizeof *out);
	json_error_t jerr;
	json_t *o = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return pt__err(PT_ECORRUPT, "%s: manifest is not a JSON object: %s (line %d)", what, jerr.text, jerr.line);
	}
	int rc = parse_manifest_obj(out, o, what);
	json_decref(o);
	if (rc)
		pt__acat_clear(out);
	return rc;
}

/* ---- catalog ------------------------------------------------------------------------------- */

void pt__catalog_free(pt__catalog *c)
{
	for (size_t i = 0; i < c->n; i++)
		pt__acat_clear(&c->v[i]);
	pt__free(c->v);
	memset(c, 0, sizeof *c);
}

int pt__catalog_push(pt__catalog *c, pt__acat *a)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 8;
		pt__acat *v = pt__realloc(c->v, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		c->v = v;
		c->cap = nc;
	}
	c->v[c->n++] = *a;
	memset(a, 0, sizeof *a);
	return 0;
}

pt__acat *pt__catalog_find(const pt__catalog *c, const char *sha)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].sha, sha))
			return &c->v[i];
	return NULL;
}

int pt__catalog_load(const pt_store *st, pt__catalog *out)
{
	memset(out, 0, sizeof *out);
	json_t *arr;
	int rc = pt__frame_load(st, CATALOG_FILE, CATALOG_MAGIC, &arr);
	if (rc)
		return rc;
	const char *w = "archive catalog";
	for (size_t i = 0; i < json_array_size(arr) && !rc; i++) {
		json_t *o = json_array_get(arr, i);
		pt__acat a;
		memset(&a, 0, sizeof a);
		char *sha = NULL;
		int64_t held = 0, del = 0, state = 0, size = 0, ks = 0, ml = 0;
		json_t *man = json_object_get(o, "manifest");
		if (!json_is_object(man))
			rc = pt__err(PT_ECORRUPT, "%s: entry %zu has no manifest", w, i);
		if (!rc)
			rc = parse_manifest_obj(&a, man, w);
		if (!rc && !(rc = pt__jget_str(o, "sha256", &sha, true, w)) && !(rc = pt__jget_str(o, "path", &a.path, true, w)) &&
		    !(rc = pt__jget_int(o, "size", &size, true, w)) && !(rc = pt__jget_int(o, "held", &held, false, w)) &&
		    !(rc = pt__jget_int(o, "deleted", &del, false, w)) && !(rc = pt__jget_int(o, "state", &state, false, w)) &&
		    !(rc = pt__jget_int(o, "keep_sources", &ks, false, w)) &&
		    !(rc = pt__jget_int(o, "manifest_len", &ml, false, w)) &&
		    !(rc = pt__jget_int(o, "deleted_at", &a.deleted_at, false, w)))
			rc = pt__jget_str(o, "deleted_reason", &a.deleted_reason, false, w);
		if (!rc && (strlen(sha) != 64))
			rc = pt__err(PT_ECORRUPT, "%s: bad archive id", w);
		if (!rc) {
			memcpy(a.sha, sha, 65);
			a.size = (uint64_t)size;
			a.held = held != 0;
			a.deleted = del != 0;
			a.state = (int)state;
			a.keep_sources = ks != 0;
			a.manifest_len = (uint32_t)ml;
			rc = pt__catalog_push(out, &a);
		}
		pt__free(sha);
		pt__acat_clear(&a);
	}
	json_decref(arr);
	if (rc)
		pt__catalog_free(out);
	return rc;
}

int pt__catalog_store(const pt_store *st, const pt__catalog *c)
{
	pt__buf b = {0};
	int rc = 0;
	for (size_t i = 0; i < c->n && !rc; i++) {
		const pt__acat *a = &c->v[i];
		if ((rc = pt__buf_printf(&b, "{\"sha256\":\"%s\",\"path\":", a->sha)) ||
		    (rc = pt__json_quote(&b, a->path)) ||
		    (rc = pt__buf_printf(&b,
					 ",\"size\":%llu,\"held\":%d,\"deleted\":%d,\"deleted_at\":%lld,\"state\":%d,"
					 "\"keep_sources\":%d,\"manifest_len\":%u,\"deleted_reason\":",
					 (unsigned long long)a->size, a->held, a->deleted, (long long)a->deleted_at,
					 a->state, a->keep_sources, a->manifest_len)) ||
		    (rc = a->deleted_reason ? pt__json_quote(&b, a->deleted_reason) : pt__buf_printf(&b, "null")) ||
		    (rc = pt__buf_printf(&b, ",\"manifest\":")) || (rc = manifest_object(&b, a, false)) ||
		    (rc = pt__buf_printf(&b, "}\n")))
			break;
	}
	if (!rc)
		rc = pt__frame_store(st, CATALOG_FILE, CATALOG_MAGIC, &b, c->n);
	pt__buf_free(&b);
	return rc;
}

/* ---- member names inside an archive (docs/FORMAT.md, "Archives") ---- */

char *pt__member_segment_name(const char *run, const char *stream, const uint8_t id[32])
{
	char hex[65];
	pt__hex(id, 32, hex);
	return pt__sprintf("runs/%s/%s/segments/%s.ptseg", run ? run : "", stream ? stream : "", hex);
}

char *pt__member_object_name(const uint8_t id[32])
{
	char hex[65];
	pt__hex(id, 32, hex);
	return pt__sprintf("objects/%.2s/%s", hex, hex + 2);
}
