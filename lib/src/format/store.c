/* store.c - creating, finding and opening a store; listing runs and streams. */
#include "base/base_int.h"
#include "format/rstore_int.h"

#include <errno.h>
#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAGIC "provtrace-store"
#define CONFIG_MAX 65536

int pt_name_check(const char *what, const char *name)
{
	if (!name || !*name)
		return pt__err(PT_EINVAL, "%s name is empty", what);
	size_t n = strlen(name);
	if (n > 128)
		return pt__err(PT_EINVAL, "%s name \"%.40s...\" is longer than 128 characters", what, name);
	if (name[0] == '.' || name[0] == '-')
		return pt__err(PT_EINVAL, "%s name \"%s\" must not start with '%c'", what, name, name[0]);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return pt__err(PT_EINVAL,
				       "%s name \"%s\" has the character '%c' at position %zu (allowed: letters, digits, '.', '_', '-')",
				       what, name, c, i + 1);
	}
	return 0;
}

static char *abs_path(const char *path)
{
	/* into a buffer: realpath(path, NULL) would allocate outside our allocator */
	char r[PATH_MAX];
	if (realpath(path, r))
		return pt__strdup(r);
	pt__err_errno(errno, "cannot resolve %s", path);
	return NULL;
}

static int read_config(const char *dir, uint32_t *format)
{
	char *cfg = pt__sprintf("%s/config", dir);
	if (!cfg)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;
	rc = pt__read_file_in(dir, cfg, CONFIG_MAX, &data, &len);
	if (rc == PT_ENOTFOUND) {
		rc = pt__err(PT_ENOTFOUND, "%s is not a provtrace store (no config file; create one with `provtrace init`)", dir);
		goto done;
	}
	if (rc)
		goto done;
	if (len < strlen(CONFIG_MAGIC) || memcmp(data, CONFIG_MAGIC, strlen(CONFIG_MAGIC)) ||
	    (data[strlen(CONFIG_MAGIC)] != '\n')) {
		rc = pt__err(PT_ECORRUPT, "%s: not a provtrace store configuration (bad first line)", cfg);
		goto done;
	}
	{
		const char *f = strstr((const char *)data, "\nformat = ");
		char *end = NULL;
		unsigned long v = f ? strtoul(f + 10, &end, 10) : 0;
		if (!f || end == f + 10 || (*end != '\n' && *end != 0) || v == 0 || v > UINT32_MAX) {
			rc = pt__err(PT_ECORRUPT, "%s: missing or malformed \"format = N\" line", cfg);
			goto done;
		}
		if (v > PT_STORE_FORMAT_VERSION) {
			rc = pt__err(PT_EVERSION,
				     "%s uses store format %lu, newer than the %d this provtrace %s reads; upgrade provtrace",
				     dir, v, PT_STORE_FORMAT_VERSION, PT_VERSION_STRING);
			goto done;
		}
		*format = (uint32_t)v;
	}
done:
	pt__free(data);
	pt__free(cfg);
	return rc;
}

/* A bucket read in place: a read-only store over a local cache (format/rstore.c). */
static int open_remote(pt_store **out, const char *url)
{
	struct pt__rstore *r = NULL;
	char *dir = NULL;
	int rc = pt__rstore_connect(url, &r, &dir);
	if (rc)
		return rc;
	pt_store *st = NULL;
	rc = pt_store_init(&st, dir);
	if (rc == PT_EEXISTS && st) {
		pt__err_clear();
		rc = 0;
	}
	pt__free(dir);
	if (rc) {
		pt__rstore_free(r);
		pt_store_free(st);
		return rc;
	}
	st->remote = r;
	if ((rc = pt__rstore_sync(st))) {
		pt_store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int pt_store_open(pt_store **out, const char *path)
{
	if (!out || !path)
		return pt__err(PT_EINVAL, "pt_store_open: NULL argument");
	*out = NULL;
	if (strncmp(path, "s3://", 5) == 0)
		return open_remote(out, path);
	if (!pt__is_dir(path))
		return pt__err(PT_ENOTFOUND, "%s is not a provtrace store (no such directory)", path);
	char *ap = abs_path(path);
	if (!ap)
		return pt_error_last_code();
	uint32_t format = 0;
	int rc = read_config(ap, &format);
	if (rc) {
		pt__free(ap);
		return rc;
	}
	pt_store *st = pt__calloc(1, sizeof *st);
	if (!st) {
		pt__free(ap);
		return PT_ENOMEM;
	}
	st->path = ap;
	st->format = format;
	*out = st;
	return 0;
}

int pt_store_init(pt_store **out, const char *path)
{
	if (out)
		*out = NULL;
	if (!path || !*path)
		return pt__err(PT_EINVAL, "pt_store_init: no path");
	if (strncmp(path, "s3://", 5) == 0)
		return pt__err(PT_EINVAL, "%s: a bucket is read in place and is read-only; a store in a bucket is made "
					  "by `provtrace push` from a local store",
			       path);
	char *cfg = NULL, *runs = NULL, *body = NULL;
	int rc = 0;
	if (pt__exists(path) && !pt__is_dir(path))
		return pt__err(PT_EEXISTS, "%s exists and is not a directory", path);
	cfg = pt__sprintf("%s/config", path);
	if (!cfg)
		return PT_ENOMEM;
	if (pt__exists(cfg)) {
		uint32_t f;
		rc = read_config(path, &f);
		if (!rc) {
			if (out)
				pt_store_open(out, path);
			rc = pt__err(PT_EEXISTS, "%s is already a provtrace store", path);
		}
		goto done;
	}
	/* Directories are created 0755 (no group/world write). */
	if ((rc = pt__mkdir_p(path, 0755)))
		goto done;
	runs = pt__sprintf("%s/runs", path);
	if (!runs) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__mkdir_in(path, runs, 0755)))
		goto done;
	{
		char tbuf[48], idhex[33];
		uint8_t id[16] = {0};
		if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
			rc = pt__err_errno(errno, "cannot read random bytes for the store id");
			goto done;
		}
		pt__hex(id, sizeof id, idhex);
		body = pt__sprintf("%s\nformat = %d\ncreated = %s\ncreated_by = provtrace %s\nid = %s\n", CONFIG_MAGIC,
				   PT_STORE_FORMAT_VERSION, pt_time_format(pt_time_now_ns(), tbuf, sizeof tbuf),
				   PT_VERSION_STRING, idhex);
	}
	if (!body) {
		rc = PT_ENOMEM;
		goto done;
	}
	/* The config file is written last: a store exists once it is there. */
	if ((rc = pt__atomic_write_in(path, cfg, body, strlen(body), 0644)))
		goto done;
	if (out)
		rc = pt_store_open(out, path);
done:
	pt__free(cfg);
	pt__free(runs);
	pt__free(body);
	return rc;
}

/* ---- config lines: the store id, trusted keys -------------------------------------- */

int pt__store_config_values(const pt_store *st, const char *key, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char *cfg = pt__sprintf("%s/config", st->path);
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cfg ? pt__read_file_in(st->path, cfg, CONFIG_MAX, &data, &len) : PT_ENOMEM;
	size_t kl = strlen(key);
	for (size_t i = 0; !rc && i < len;) {
		const uint8_t *nl = memchr(data + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - data) : len;
		if (e - i > kl + 3 && !memcmp(data + i, key, kl) && !memcmp(data + i + kl, " = ", 3)) {
			char **v = pt__realloc(*out, (*n + 1) * sizeof *v);
			if (!v) {
				rc = PT_ENOMEM;
				break;
			}
			*out = v;
			if (!(v[*n] = pt__strndup((const char *)data + i + kl + 3, e - i - kl - 3))) {
				rc = PT_ENOMEM;
				break;
			}
			(*n)++;
		}
		i = e + 1;
	}
	if (rc) {
		pt_strv_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	pt__free(data);
	pt__free(cfg);
	return rc;
}

int pt__store_config_add(const pt_store *st, const char *key, const char *value)
{
	if (strchr(value, '\n') || strchr(key, '\n'))
		return pt__err(PT_EINVAL, "a config value is one line");
	char *cfg = pt__sprintf("%s/config", st->path);
	uint8_t *data = NULL;
	size_t len = 0;
	pt__buf b = {0};
	int rc = cfg ? pt__read_file_in(st->path, cfg, CONFIG_MAX, &data, &len) : PT_ENOMEM;
	if (!rc)
		rc = pt__buf_append(&b, data, len);
	if (!rc && len && data[len - 1] != '\n')
		rc = pt__buf_append(&b, "\n", 1);
	if (!rc)
		rc = pt__buf_printf(&b, "%s = %s\n", key, value);
	if (!rc && b.len > CONFIG_MAX)
		rc = pt__err(PT_ELIMIT, "%s would grow past %d bytes", cfg, (int)CONFIG_MAX);
	if (!rc)
		rc = pt__atomic_write_in(st->path, cfg, b.data, b.len, 0644);
	pt__buf_free(&b);
	pt__free(data);
	pt__free(cfg);
	return rc;
}

int pt__store_id(const pt_store *st, char out[33])
{
	char **v = NULL;
	size_t n = 0;
	int rc = pt__store_config_values(st, "id", &v, &n);
	if (rc)
		return rc;
	if (n && strlen(v[0]) == 32 && !pt__unhex(v[0], (uint8_t[16]){0}, 16)) {
		memcpy(out, v[0], 33);
	} else {
		/* a store made before stores had ids: a name derived from its creation time */
		char **c = NULL;
		size_t cn = 0;
		if (!(rc = pt__store_config_values(st, "created", &c, &cn))) {
			uint8_t h[PT_SHA256_LEN];
			char *s = pt__sprintf("provtrace-store created %s", cn ? c[0] : "");
			if (!s) {
				rc = PT_ENOMEM;
			} else {
				pt__sha256(s, strlen(s), h);
				pt__hex(h, 16, out);
			}
			pt__free(s);
		}
		pt_strv_free(c, cn);
	}
	pt_strv_free(v, n);
	return rc;
}

int pt_store_discover(char **out_path, const char *explicit_path, const char *start_dir)
{
	if (!out_path)
		return pt__err(PT_EINVAL, "pt_store_discover: NULL out_path");
	*out_path = NULL;
	if (explicit_path && *explicit_path) {
		*out_path = pt__strdup(explicit_path);
		return *out_path ? 0 : PT_ENOMEM;
	}
	const char *env = getenv("PROVTRACE_STORE");
	if (env && *env) {
		*out_path = pt__strdup(env);
		return *out_path ? 0 : PT_ENOMEM;
	}
	char *dir = start_dir ? abs_path(start_dir) : NULL;
	if (!dir) {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return pt__err_errno(errno, "cannot get the current directory");
		dir = pt__strdup(cwd);
		if (!dir)
			return PT_ENOMEM;
	}
	char *start = pt__strdup(dir);
	if (!start) {
		pt__free(dir);
		return PT_ENOMEM;
	}
	for (;;) {
		char *cand = pt__sprintf("%s/%s", strcmp(dir, "/") ? dir : "", PT_STORE_DIRNAME);
		if (!cand)
			break;
		if (pt__is_dir(cand)) {
			pt__free(dir);
			pt__free(start);
			*out_path = cand;
			return 0;
		}
		pt__free(cand);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			if (!strcmp(dir, "/"))
				break;
			dir[1] = 0;
			continue;
		}
		*slash = 0;
	}
	int rc = pt__err(PT_ENOTFOUND,
			 "no provtrace store found: no --store option, $PROVTRACE_STORE is not set, and no %s directory in %s or any parent (create one with `provtrace init`)",
			 PT_STORE_DIRNAME, start);
	pt__free(dir);
	pt__free(start);
	return rc;
}

int pt_store_open_default(pt_store **out, const char *explicit_path)
{
	char *p = NULL;
	int rc = pt_store_discover(&p, explicit_path, NULL);
	if (rc)
		return rc;
	rc = pt_store_open(out, p);
	pt__free(p);
	return rc;
}

const char *pt_store_path(const pt_store *st) { return st ? st->path : NULL; }

void pt_store_free(pt_store *st)
{
	if (!st)
		return;
	pt__rstore_free(st->remote);
	pt__free(st->path);
	pt__free(st);
}

char *pt__run_dir(const pt_store *st, const char *run) { return pt__sprintf("%s/runs/%s", st->path, run); }

char *pt__stream_dir(const pt_store *st, const char *run, const char *stream)
{
	return pt__sprintf("%s/runs/%s/%s", st->path, run, stream ? stream : PT_DEFAULT_STREAM);
}

static int list_names(const pt_store *st, const char *dir, const char *what, char ***out, size_t *count)
{
	char **v = NULL;
	size_t n = 0;
	int rc = pt__list_dir_in(st->path, dir, NULL, &v, &n);
	if (rc)
		return rc;
	/* keep only valid names that are directories */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char *p = pt__sprintf("%s/%s", dir, v[i]);
		bool ok = p && pt__is_dir_in(st->path, p) && v[i][0] != '.' && v[i][0] != '-'; /* links are not runs */
		pt__free(p);
		if (ok)
			v[k++] = v[i];
		else
			pt__free(v[i]);
	}
	(void)what;
	*out = v;
	*count = k;
	return 0;
}

int pt_store_runs(const pt_store *st, char ***out_names, size_t *out_count)
{
	if (!st || !out_names || !out_count)
		return pt__err(PT_EINVAL, "pt_store_runs: NULL argument");
	char *d = pt__sprintf("%s/runs", st->path);
	if (!d)
		return PT_ENOMEM;
	int rc = 0;
	if (!pt__is_dir_in(st->path, d)) {
		*out_names = NULL;
		*out_count = 0;
	} else {
		rc = list_names(st, d, "run", out_names, out_count);
	}
	pt__free(d);
	return rc;
}

int pt_store_streams(const pt_store *st, const char *run, char ***out_names, size_t *out_count)
{
	if (!st || !out_names || !out_count)
		return pt__err(PT_EINVAL, "pt_store_streams: NULL argument");
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	char *d = pt__run_dir(st, run);
	if (!d)
		return PT_ENOMEM;
	if (!pt__is_dir_in(st->path, d))
		rc = pt__err(PT_ENOTFOUND, "run \"%s\" not found in store %s", run, st->path);
	else
		rc = list_names(st, d, "stream", out_names, out_count);
	pt__free(d);
	return rc;
}
