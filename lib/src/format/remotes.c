/*
 * remotes.c - STORE/remotes, the configured remotes (docs/FORMAT.md,
 * "remotes").  This file owns that file; it never holds a credential.
 *
 *	provtrace-remotes 1
 *	<name> <url> <endpoint or -> <region or ->
 */
#include "base/base_int.h"
#include "base/s3_int.h"
#include "format/rstore_int.h"

#include <ctype.h>

#define MAGIC "provtrace-remotes 1\n"
#define REMOTES_MAX (1u << 20)

void pt_remote_clear(pt_remote *r)
{
	if (!r)
		return;
	pt__free(r->name);
	pt__free(r->url);
	pt__free(r->endpoint);
	pt__free(r->region);
	memset(r, 0, sizeof *r);
}

void pt_remote_list_free(pt_remote *v, size_t count)
{
	for (size_t i = 0; v && i < count; i++)
		pt_remote_clear(&v[i]);
	pt__free(v);
}

static int check_region(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n > 64)
		return pt__err(PT_EINVAL, "region: 1-64 characters");
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)r[i]) || r[i] == '-'))
			return pt__err(PT_EINVAL, "region \"%s\": letters, digits and '-' only", r);
	return 0;
}

static int load(const pt_store *st, pt_remote **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	char *path = pt__sprintf("%s/remotes", st->path);
	if (!path)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__read_file_in(st->path, path, REMOTES_MAX, &data, &len);
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		pt__free(path);
		return 0;
	}
	pt_remote *v = NULL;
	size_t n = 0;
	if (rc)
		goto done;
	size_t ml = strlen(MAGIC);
	if (len < ml || memcmp(data, MAGIC, ml) != 0 || data[len - 1] != '\n') {
		rc = pt__err(PT_ECORRUPT, "%s: not a remotes file", path);
		goto done;
	}
	char *text = pt__malloc(len + 1);
	if (!text) {
		rc = PT_ENOMEM;
		goto done;
	}
	memcpy(text, data, len);
	text[len] = 0;
	size_t lineno = 1;
	char *save = NULL;
	for (char *line = strtok_r(text + ml, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char f[4][600];
		char extra;
		if (strlen(line) > 2000 || sscanf(line, "%599s %599s %599s %599s %c", f[0], f[1], f[2], f[3], &extra) != 4) {
			rc = pt__err(PT_ECORRUPT, "%s line %zu: malformed", path, lineno);
			break;
		}
		pt_remote *nv = pt__realloc(v, (n + 1) * sizeof *nv);
		if (!nv) {
			rc = PT_ENOMEM;
			break;
		}
		v = nv;
		memset(&v[n], 0, sizeof v[n]);
		v[n].name = pt__strdup(f[0]);
		v[n].url = pt__strdup(f[1]);
		v[n].endpoint = strcmp(f[2], "-") ? pt__strdup(f[2]) : NULL;
		v[n].region = strcmp(f[3], "-") ? pt__strdup(f[3]) : NULL;
		n++;
		if (!v[n - 1].name || !v[n - 1].url || (strcmp(f[2], "-") && !v[n - 1].endpoint) ||
		    (strcmp(f[3], "-") && !v[n - 1].region))
			rc = PT_ENOMEM;
	}
	pt__free(text);
done:
	pt__free(data);
	pt__free(path);
	if (rc) {
		pt_remote_list_free(v, n);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}

static int cmp_remote(const void *a, const void *b)
{
	return strcmp(((const pt_remote *)a)->name, ((const pt_remote *)b)->name);
}

static int save(pt_store *st, pt_remote *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_remote);
	pt__buf b = {0};
	int rc = pt__buf_append(&b, MAGIC, strlen(MAGIC)) ? PT_ENOMEM : 0;
	for (size_t i = 0; i < n && !rc; i++)
		if (pt__buf_printf(&b, "%s %s %s %s\n", v[i].name, v[i].url, v[i].endpoint ? v[i].endpoint : "-",
				   v[i].region ? v[i].region : "-"))
			rc = PT_ENOMEM;
	char *path = rc ? NULL : pt__sprintf("%s/remotes", st->path);
	if (!rc && !path)
		rc = PT_ENOMEM;
	if (!rc)
		rc = pt__atomic_write_in(st->path, path, b.data, b.len, 0644);
	pt__free(path);
	pt__buf_free(&b);
	return rc;
}

int pt_remote_list(const pt_store *st, pt_remote **out, size_t *out_count)
{
	if (!out || !out_count)
		return pt__err(PT_EINVAL, "pt_remote_list: NULL out");
	*out = NULL;
	*out_count = 0;
	if (!st)
		return pt__err(PT_EINVAL, "pt_remote_list: NULL store");
	int rc = load(st, out, out_count);
	if (!rc && *out_count)
		qsort(*out, *out_count, sizeof **out, cmp_remote);
	return rc;
}

int pt_remote_get(const pt_store *st, const char *name, pt_remote *out)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_remote_get: NULL out");
	memset(out, 0, sizeof *out);
	if (!st || !name)
		return pt__err(PT_EINVAL, "pt_remote_get: NULL store or name");
	pt_remote *v = NULL;
	size_t n = 0;
	int rc = load(st, &v, &n);
	if (rc)
		return rc;
	rc = PT_ENOTFOUND;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			*out = v[i];
			memset(&v[i], 0, sizeof v[i]);
			rc = 0;
			break;
		}
	if (rc) {
		pt__buf names = {0};
		for (size_t i = 0; i < n; i++)
			pt__buf_printf(&names, "%s%s", i ? ", " : "", v[i].name);
		pt__buf_append(&names, "", 1);
		rc = pt__err(PT_ENOTFOUND, "no remote named \"%s\" (%s%s)", name, n ? "remotes: " : "none configured",
			     n && names.data ? (char *)names.data : "");
		pt__buf_free(&names);
	}
	pt_remote_list_free(v, n);
	return rc;
}

int pt_remote_add(pt_store *st, const char *name, const char *url, const char *endpoint, const char *region)
{
	if (!st || !name || !url)
		return pt__err(PT_EINVAL, "pt_remote_add: NULL store, name or URL");
	if (st->remote)
		return pt__rstore_refuse_write(st, "remote add");
	int rc = pt_name_check("remote", name);
	if (rc)
		return rc;
	char *bucket = NULL, *prefix = NULL;
	if ((rc = pt__s3_url_parse(url, &bucket, &prefix)))
		return rc;
	pt__free(bucket);
	pt__free(prefix);
	if (endpoint && *endpoint && (rc = pt__endpoint_check(endpoint)))
		return rc;
	if (region && *region && (rc = check_region(region)))
		return rc;
	pt_remote *v = NULL;
	size_t n = 0;
	if ((rc = load(st, &v, &n)))
		return rc;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			rc = pt__err(PT_EEXISTS, "remote \"%s\" exists (%s); remove it first", name, v[i].url);
			pt_remote_list_free(v, n);
			return rc;
		}
	pt_remote *nv = pt__realloc(v, (n + 1) * sizeof *nv);
	if (!nv) {
		pt_remote_list_free(v, n);
		return PT_ENOMEM;
	}
	v = nv;
	memset(&v[n], 0, sizeof v[n]);
	v[n].name = pt__strdup(name);
	v[n].url = pt__strdup(url);
	/* the URL is kept as given but without a trailing slash */
	if (v[n].url) {
		size_t l = strlen(v[n].url);
		while (l > 5 && v[n].url[l - 1] == '/')
			v[n].url[--l] = 0;
	}
	v[n].endpoint = endpoint && *endpoint ? pt__strdup(endpoint) : NULL;
	v[n].region = region && *region ? pt__strdup(region) : NULL;
	n++;
	if (!v[n - 1].name || !v[n - 1].url || (endpoint && *endpoint && !v[n - 1].endpoint) ||
	    (region && *region && !v[n - 1].region))
		rc = PT_ENOMEM;
	if (!rc)
		rc = save(st, v, n);
	pt_remote_list_free(v, n);
	return rc;
}

int pt_remote_remove(pt_store *st, const char *name)
{
	if (!st || !name)
		return pt__err(PT_EINVAL, "pt_remote_remove: NULL store or name");
	if (st->remote)
		return pt__rstore_refuse_write(st, "remote rm");
	pt_remote *v = NULL;
	size_t n = 0;
	int rc = load(st, &v, &n);
	if (rc)
		return rc;
	size_t k = n;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			k = i;
	if (k == n) {
		pt_remote_list_free(v, n);
		return pt__err(PT_ENOTFOUND, "no remote named \"%s\"", name);
	}
	pt_remote_clear(&v[k]);
	memmove(&v[k], &v[k + 1], (n - k - 1) * sizeof *v);
	n--;
	rc = save(st, v, n);
	pt_remote_list_free(v, n);
	return rc;
}
