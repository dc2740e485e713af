/*
 * log/vault.c - the vault backend of the seam (log/vault_int.h): location
 * records of archived segments and objects, the framing of STORE/archive/
 * metadata files, and the byte range of an archived member inside its tar.
 *
 * Moved here from the archive module so that the log (history.c) and
 * checkpoint reading find archived bytes without depending on the archive
 * job: the job writes records through this file, readers come through the
 * seam.  Includes <jansson.h> for the records (one JSON line each), like
 * archive/archive_meta.c does for plans, the catalog and manifests.
 */
#include "log/vault_int.h"

#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCATION_MAGIC "provtrace-archived-segment 1"
#define OLOCATION_MAGIC "provtrace-archived-object 1"
#define META_MAX ((size_t)1 << 30)

int pt__json_quote(pt__buf *b, const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (!j)
		return pt__err(PT_EINVAL, "string is not valid UTF-8: %.60s", s ? s : "");
	char *t = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(j);
	if (!t)
		return PT_ENOMEM;
	int rc = pt__buf_append(b, t, strlen(t));
	pt__free(t); /* jansson allocates through pt__malloc (alloc.h) */
	return rc;
}

/* ---- framing ------------------------------------------------------------------------- */

int pt__frame_store(const pt_store *st, const char *file, const char *magic, pt__buf *body, size_t count)
{
	char *dir = pt__sprintf("%s/%s", st->path, PT_ARCHIVE_DIR);
	char *path = dir ? pt__sprintf("%s/%s", dir, file) : NULL;
	pt__buf out = {0};
	int rc = !path ? PT_ENOMEM : pt__mkdir_in(st->path, dir, 0755);
	if (!rc)
		rc = pt__buf_printf(&out, "%s\n", magic);
	if (!rc && body->len)
		rc = pt__buf_append(&out, body->data, body->len);
	if (!rc)
		rc = pt__buf_printf(&out, "end %zu %08x\n", count, pt__crc32c(0, out.data, out.len));
	if (!rc)
		rc = pt__atomic_write_in(st->path, path, out.data, out.len, 0644);
	pt__buf_free(&out);
	pt__free(path);
	pt__free(dir);
	return rc;
}

/* Split a framed file into its JSON lines (parsed).  Missing file: empty array. */
int pt__frame_load(const pt_store *st, const char *file, const char *magic, json_t **out)
{
	char *dir = pt__sprintf("%s/%s", st->path, PT_ARCHIVE_DIR);
	char *path = dir ? pt__sprintf("%s/%s", dir, file) : NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;
	*out = NULL;
	json_t *arr = json_array();
	if (!path || !arr) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (!pt__exists(path)) {
		*out = arr;
		arr = NULL;
		goto done;
	}
	if ((rc = pt__read_file_in(st->path, path, META_MAX, &data, &len)))
		goto done;
	size_t ml = strlen(magic);
	if (len < ml + 1 || memcmp(data, magic, ml) || data[ml] != '\n') {
		rc = pt__err(PT_ECORRUPT, "%s: not a %s file (first line)", path, magic);
		goto done;
	}
	/* the end line: the last line of the file */
	if (data[len - 1] != '\n') {
		rc = pt__err(PT_ECORRUPT, "%s: truncated (no end line)", path);
		goto done;
	}
	size_t e = len - 1;
	while (e > 0 && data[e - 1] != '\n')
		e--;
	unsigned long long count;
	unsigned crc;
	char tail[64];
	if (len - e >= sizeof tail) {
		rc = pt__err(PT_ECORRUPT, "%s: bad end line", path);
		goto done;
	}
	memcpy(tail, data + e, len - e);
	tail[len - e] = 0;
	if (sscanf(tail, "end %llu %8x\n", &count, &crc) != 2) {
		rc = pt__err(PT_ECORRUPT, "%s: bad or missing end line", path);
		goto done;
	}
	if (pt__crc32c(0, data, e) != crc) {
		rc = pt__err(PT_ECORRUPT, "%s: checksum mismatch (damaged or edited by hand)", path);
		goto done;
	}
	size_t p = ml + 1, n = 0;
	while (p < e) {
		size_t q = p;
		while (q < e && data[q] != '\n')
			q++;
		json_error_t jerr;
		json_t *o = json_loadb((const char *)data + p, q - p, 0, &jerr);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			rc = pt__err(PT_ECORRUPT, "%s: line %zu is not a JSON object: %s", path, n + 2, jerr.text);
			goto done;
		}
		json_array_append_new(arr, o);
		n++;
		p = q + 1;
	}
	if (n != count) {
		rc = pt__err(PT_ECORRUPT, "%s: %zu entries, the end line says %llu", path, n, count);
		goto done;
	}
	*out = arr;
	arr = NULL;
done:
	json_decref(arr);
	pt__free(data);
	pt__free(path);
	pt__free(dir);
	return rc;
}

/* ---- field helpers ----------------------------------------------------------------------- */

int pt__jget_str(json_t *o, const char *k, char **out, bool required, const char *what)
{
	json_t *v = json_object_get(o, k);
	if (!v || json_is_null(v)) {
		*out = NULL;
		return required ? pt__err(PT_ECORRUPT, "%s: \"%s\" is missing", what, k) : 0;
	}
	if (!json_is_string(v))
		return pt__err(PT_ECORRUPT, "%s: \"%s\" is not a string", what, k);
	*out = pt__strdup(json_string_value(v));
	return *out ? 0 : PT_ENOMEM;
}

int pt__jget_int(json_t *o, const char *k, int64_t *out, bool required, const char *what)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		*out = 0;
		return required ? pt__err(PT_ECORRUPT, "%s: \"%s\" is missing", what, k) : 0;
	}
	if (!json_is_integer(v))
		return pt__err(PT_ECORRUPT, "%s: \"%s\" is not an integer", what, k);
	*out = json_integer_value(v);
	return 0;
}

/* ---- location records ---------------------------------------------------------------------------- */

/* Segments: STORE/archive/segments/<id>; objects: STORE/archive/objects/<id> (same record). */
static const char *loc_kind(int object) { return object ? "objects" : "segments"; }

static char *location_path(const pt_store *st, const uint8_t id[32], int object)
{
	char hex[65];
	pt__hex(id, 32, hex);
	return pt__sprintf("%s/%s/%s/%s", st->path, PT_ARCHIVE_DIR, loc_kind(object), hex);
}

void pt__location_clear(pt__location *l)
{
	pt__free(l->path);
	pt__free(l->run);
	pt__free(l->stream);
	pt__free(l->reason);
	memset(l, 0, sizeof *l);
}

static int location_store(const pt_store *st, const uint8_t id[32], const pt__location *l, int object)
{
	char *path = location_path(st, id, object);
	if (!path)
		return PT_ENOMEM;
	pt__buf b = {0};
	int rc = pt__buf_printf(&b, "{\"archive\":\"%s\",\"path\":", l->sha);
	if (!rc)
		rc = pt__json_quote(&b, l->path);
	if (!rc)
		rc = pt__buf_printf(&b, ",\"offset\":%llu,\"size\":%llu,\"run\":", (unsigned long long)l->offset,
				    (unsigned long long)l->size);
	if (!rc)
		rc = pt__json_quote(&b, l->run);
	if (!rc)
		rc = pt__buf_printf(&b, ",\"stream\":");
	if (!rc)
		rc = pt__json_quote(&b, l->stream);
	if (!rc)
		rc = pt__buf_printf(&b, ",\"deleted\":%d,\"deleted_at\":%lld,\"reason\":", l->deleted,
				    (long long)l->deleted_at);
	if (!rc)
		rc = l->reason ? pt__json_quote(&b, l->reason) : pt__buf_printf(&b, "null");
	if (!rc)
		rc = pt__buf_printf(&b, "}\n");
	pt__buf out = {0};
	if (!rc)
		rc = pt__buf_printf(&out, "%s\n", object ? OLOCATION_MAGIC : LOCATION_MAGIC);
	if (!rc)
		rc = pt__buf_append(&out, b.data, b.len);
	if (!rc)
		rc = pt__buf_printf(&out, "end 1 %08x\n", pt__crc32c(0, out.data, out.len));
	char *dir = pt__sprintf("%s/%s/%s", st->path, PT_ARCHIVE_DIR, loc_kind(object));
	if (!rc && !dir)
		rc = PT_ENOMEM;
	if (!rc)
		rc = pt__mkdir_in(st->path, dir, 0755);
	if (!rc)
		rc = pt__atomic_write_in(st->path, path, out.data, out.len, 0644);
	pt__free(dir);
	pt__buf_free(&b);
	pt__buf_free(&out);
	pt__free(path);
	return rc;
}

static int location_load(const pt_store *st, const uint8_t id[32], pt__location *l, int object)
{
	memset(l, 0, sizeof *l);
	char hex[65];
	pt__hex(id, 32, hex);
	char *file = pt__sprintf("%s/%s", loc_kind(object), hex);
	char *path = location_path(st, id, object);
	if (!file || !path) {
		pt__free(file);
		pt__free(path);
		return PT_ENOMEM;
	}
	int rc = 0;
	json_t *arr = NULL;
	if (!pt__exists(path))
		rc = PT_ENOTFOUND;
	else
		rc = pt__frame_load(st, file, object ? OLOCATION_MAGIC : LOCATION_MAGIC, &arr);
	if (!rc && json_array_size(arr) != 1)
		rc = pt__err(PT_ECORRUPT, "%s: expected one record", path);
	if (!rc) {
		json_t *o = json_array_get(arr, 0);
		char *sha = NULL;
		int64_t off = 0, size = 0, del = 0;
		const char *w = path;
		if (!(rc = pt__jget_str(o, "archive", &sha, true, w)) && !(rc = pt__jget_str(o, "path", &l->path, true, w)) &&
		    !(rc = pt__jget_int(o, "offset", &off, true, w)) && !(rc = pt__jget_int(o, "size", &size, true, w)) &&
		    !(rc = pt__jget_str(o, "run", &l->run, true, w)) && !(rc = pt__jget_str(o, "stream", &l->stream, true, w)) &&
		    !(rc = pt__jget_int(o, "deleted", &del, false, w)) && !(rc = pt__jget_int(o, "deleted_at", &l->deleted_at, false, w)))
			rc = pt__jget_str(o, "reason", &l->reason, false, w);
		if (!rc && (strlen(sha) != 64 || off < 0 || size < 0))
			rc = pt__err(PT_ECORRUPT, "%s: bad record", path);
		if (!rc) {
			memcpy(l->sha, sha, 65);
			l->offset = (uint64_t)off;
			l->size = (uint64_t)size;
			l->deleted = del != 0;
		}
		pt__free(sha);
	}
	json_decref(arr);
	pt__free(file);
	pt__free(path);
	if (rc)
		pt__location_clear(l);
	return rc;
}

int pt__location_load(const pt_store *st, const uint8_t id[32], pt__location *l)
{
	return location_load(st, id, l, 0);
}

int pt__location_store(const pt_store *st, const uint8_t id[32], const pt__location *l)
{
	return location_store(st, id, l, 0);
}

int pt__olocation_load(const pt_store *st, const uint8_t id[32], pt__location *l)
{
	return location_load(st, id, l, 1);
}

int pt__olocation_store(const pt_store *st, const uint8_t id[32], const pt__location *l)
{
	return location_store(st, id, l, 1);
}

int pt__olocation_remove(const pt_store *st, const uint8_t id[32])
{
	char *path = location_path(st, id, 1);
	if (!path)
		return PT_ENOMEM;
	int rc = 0;
	if (unlink(path) < 0 && errno != ENOENT)
		rc = pt__err_errno(errno, "cannot remove %s", path);
	pt__free(path);
	return rc;
}

/* ---- the backend: bytes of an archived id ---------------------------------------------------------------------- */

int pt__vault_segment_state(const pt_store *st, const uint8_t id[32])
{
	pt__location l;
	int rc = pt__location_load(st, id, &l);
	if (rc)
		return PT_SEGMENT_HOT;
	int s = l.deleted ? PT_SEGMENT_EXPIRED : PT_SEGMENT_ARCHIVED;
	pt__location_clear(&l);
	return s;
}

/*
 * The byte range a location record names inside its archive: the archive
 * opened, and the range checked against the file's size.  `what` names the
 * kind for messages ("segment", "object").  Consumes nothing: `l` stays the
 * caller's.
 */
static int open_member(const pt__location *l, const char *what, const char *hex, int *out_fd,
		       uint64_t *out_offset, uint64_t *out_size)
{
	if (l->deleted) {
		char tb[48];
		return pt__err(PT_ENOTFOUND, "%s %.12s was archived in %.12s, which retention deleted on %s (%s)", what,
			       hex, l->sha, pt_time_format(l->deleted_at, tb, sizeof tb),
			       l->reason ? l->reason : "no reason recorded");
	}
	int fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return pt__err(PT_ENOTFOUND, "%s %.12s is archived in %s, which is missing (vault moved or deleted?)",
				       what, hex, l->path);
		return pt__err_errno(errno, "%s %.12s is archived in %s, which cannot be opened", what, hex, l->path);
	}
	struct stat sb;
	int rc = 0;
	if (fstat(fd, &sb) < 0)
		rc = pt__err_errno(errno, "cannot stat %s", l->path);
	else if (l->offset > (uint64_t)sb.st_size || l->size > (uint64_t)sb.st_size - l->offset)
		rc = pt__err(PT_ECORRUPT, "%s: too short to hold %s %.12s at offset %llu", l->path, what, hex,
			     (unsigned long long)l->offset);
	if (rc) {
		close(fd);
		return rc;
	}
	*out_fd = fd;
	*out_offset = l->offset;
	*out_size = l->size;
	return 0;
}

int pt__vault_open_segment(const pt_store *st, const char *run, const char *stream, const uint8_t id[32],
			     int *out_fd, uint64_t *out_offset, uint64_t *out_size)
{
	char hex[65];
	pt__hex(id, 32, hex);
	pt__location l;
	int rc = pt__location_load(st, id, &l);
	if (rc == PT_ENOTFOUND)
		return pt__err(PT_ENOTFOUND, "sealed segment %s is missing from the hot store and no archive holds it", hex);
	if (rc)
		return rc;
	if (!l.deleted && ((run && strcmp(run, l.run)) || (stream && strcmp(stream, l.stream))))
		rc = pt__err(PT_ECORRUPT, "archive location of segment %.12s names run %s stream %s, not %s/%s", hex, l.run,
			     l.stream, run ? run : "?", stream ? stream : "?");
	else
		rc = open_member(&l, "segment", hex, out_fd, out_offset, out_size);
	pt__location_clear(&l);
	return rc;
}

int pt__vault_open_object(const pt_store *st, const uint8_t id[32], const char *hot_path, int *out_fd,
			    uint64_t *out_offset, uint64_t *out_size)
{
	char hex[65];
	pt__hex(id, 32, hex);
	pt__location l;
	int rc = pt__olocation_load(st, id, &l);
	if (rc == PT_ENOTFOUND)
		return pt__err(PT_ENOTFOUND, "object %s not found (no file %s, and no archive holds it)", hex,
			       hot_path ? hot_path : "in the hot store");
	if (rc)
		return rc;
	rc = open_member(&l, "object", hex, out_fd, out_offset, out_size);
	pt__location_clear(&l);
	return rc;
}

int pt__vault_object_state(const pt_store *st, const uint8_t id[32])
{
	pt__location l;
	int rc = pt__olocation_load(st, id, &l);
	if (rc == PT_ENOTFOUND)
		return PT_SEGMENT_HOT;
	if (rc)
		return rc;
	int s = !l.deleted && pt__exists(l.path) ? PT_SEGMENT_ARCHIVED : PT_SEGMENT_EXPIRED;
	pt__location_clear(&l);
	return s;
}
