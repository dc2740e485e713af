/*
 * bucket.c - the layout of a store in a bucket (format/bucket_int.h, docs/REMOTE.md).
 */
#include "format/bucket_int.h"

#include <errno.h>
#include <sys/random.h>

#define MARKER "provtrace-remote 1\n"
#define CHAINREC_MAGIC "provtrace-chain-record 1\n"

bool pt__bucket_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

char *pt__bkey_segment(const char *run, const char *stream, const uint8_t id[32])
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, 32, hex);
	return pt__sprintf("runs/%s/%s/segments/%s.ptseg", run, stream, hex);
}

char *pt__bkey_chainrec(const char *run, const char *stream, uint64_t n)
{
	return pt__sprintf("runs/%s/%s/chain/%010llu", run, stream, (unsigned long long)n);
}

char *pt__bkey_stream(const char *run, const char *stream, const char *file)
{
	return pt__sprintf("runs/%s/%s/%s", run, stream, file);
}

char *pt__bkey_object(const uint8_t id[32])
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, 32, hex);
	return pt__sprintf("objects/%.2s/%s", hex, hex + 2);
}

int pt__bucket_chainrec_encode(pt__buf *b, const pt__chain_entry *e)
{
	if (pt__buf_append(b, CHAINREC_MAGIC, strlen(CHAINREC_MAGIC)))
		return PT_ENOMEM;
	return pt__chain_line(b, e);
}

int pt__bucket_chainrec_decode(const uint8_t *p, size_t len, uint64_t n, const char *key, pt__chain_entry *e)
{
	size_t ml = strlen(CHAINREC_MAGIC);
	char line[512];
	if (len < ml + 2 || len - ml >= sizeof line || memcmp(p, CHAINREC_MAGIC, ml) != 0 || p[len - 1] != '\n')
		return pt__err(PT_ECORRUPT, "bucket chain record %s: not a chain record", key);
	memcpy(line, p + ml, len - ml - 1);
	line[len - ml - 1] = 0;
	if (strchr(line, '\n') || pt__chain_line_parse(line, e))
		return pt__err(PT_ECORRUPT, "bucket chain record %s: malformed line", key);
	if (e->segno != n)
		return pt__err(PT_ECORRUPT, "bucket chain record %s: names segment %llu", key,
			       (unsigned long long)e->segno);
	return 0;
}

int pt__bucket_marker(pt__s3 *s, bool create)
{
	int rc = 0;
	if (create) {
		rc = pt__s3_put(s, PT_BUCKET_MARKER_KEY, MARKER, -1, 0, strlen(MARKER), PT_S3_CREATE_ONLY, NULL, NULL);
		if (rc == 0)
			return 0;
		if (rc != PT_EEXISTS)
			return rc;
		pt__err_clear();
	}
	uint8_t *body = NULL;
	size_t len = 0;
	rc = pt__s3_get(s, PT_BUCKET_MARKER_KEY, 0, 0, 4096, &body, &len, NULL);
	if (rc == PT_ENOTFOUND)
		return pt__err(PT_ENOTFOUND, "s3://%s/%s is not a provtrace remote (no %s object; `provtrace push` makes one)",
			       pt__s3_bucket(s), pt__s3_prefix(s), PT_BUCKET_MARKER_KEY);
	if (rc == PT_ELIMIT)
		return pt__err(PT_ECORRUPT, "s3://%s/%s%s: not a provtrace marker", pt__s3_bucket(s), pt__s3_prefix(s),
			       PT_BUCKET_MARKER_KEY);
	if (rc)
		return rc;
	unsigned v = 0;
	char tail = 0;
	if (len >= 17 && memcmp(body, "provtrace-remote ", 17) == 0 && len < 64) {
		char tmp[64];
		memcpy(tmp, body, len);
		tmp[len] = 0;
		if (sscanf(tmp + 17, "%u%c", &v, &tail) < 1)
			v = 0;
	}
	pt__free(body);
	if (v == 0)
		return pt__err(PT_ECORRUPT, "s3://%s/%s%s: not a provtrace marker", pt__s3_bucket(s), pt__s3_prefix(s),
			       PT_BUCKET_MARKER_KEY);
	if (v > 1)
		return pt__err(PT_EVERSION, "s3://%s/%s: bucket layout version %u is newer than this library's (1)",
			       pt__s3_bucket(s), pt__s3_prefix(s), v);
	return 0;
}

int pt__bucket_chain_load(pt__s3 *s, const char *run, const char *stream, pt__chain *out)
{
	memset(out, 0, sizeof *out);
	char *sub = pt__sprintf("runs/%s/%s/chain/", run, stream);
	if (!sub)
		return PT_ENOMEM;
	pt__s3_obj *v = NULL;
	size_t n = 0;
	int rc = pt__s3_list(s, sub, PT_BUCKET_MAX_KEYS, &v, &n);
	size_t sl = strlen(sub);
	for (size_t i = 0; i < n && !rc; i++) {
		const char *num = v[i].key + sl;
		char want[16];
		snprintf(want, sizeof want, "%010zu", i);
		if (strcmp(num, want) != 0) {
			rc = pt__err(PT_ECORRUPT,
				     "bucket stream %s/%s: chain record %s where %s was expected (records must be "
				     "dense from 0)",
				     run, stream, v[i].key, want);
			break;
		}
		if (v[i].size > 4096) {
			rc = pt__err(PT_ECORRUPT, "bucket chain record %s: %llu bytes, not a chain record", v[i].key,
				     (unsigned long long)v[i].size);
			break;
		}
		uint8_t *body = NULL;
		size_t len = 0;
		if ((rc = pt__s3_get(s, v[i].key, 0, 0, 4096, &body, &len, NULL)))
			break;
		pt__chain_entry e;
		rc = pt__bucket_chainrec_decode(body, len, i, v[i].key, &e);
		pt__free(body);
		if (!rc)
			rc = pt__chain_append(out, &e);
	}
	pt__s3_list_free(v, n);
	pt__free(sub);
	if (rc)
		pt__chain_free(out);
	return rc;
}

void pt__bucket_streams_free(pt__bucket_stream *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		pt__free(v[i].run);
		pt__free(v[i].stream);
	}
	pt__free(v);
}

int pt__bucket_streams(pt__s3 *s, const char *only_run, pt__bucket_stream **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	char *sub = only_run ? pt__sprintf("runs/%s/", only_run) : pt__strdup("runs/");
	if (!sub)
		return PT_ENOMEM;
	pt__s3_obj *v = NULL;
	size_t n = 0, m = 0, cap = 0;
	pt__bucket_stream *r = NULL;
	int rc = pt__s3_list(s, sub, PT_BUCKET_MAX_KEYS, &v, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		/* runs/<run>/<stream>/chain/0000000000 marks a stream */
		const char *k = v[i].key + 5;
		const char *a = strchr(k, '/'), *b = a ? strchr(a + 1, '/') : NULL;
		if (!a || !b || strcmp(b, "/chain/0000000000") != 0)
			continue;
		char *run = pt__strndup(k, (size_t)(a - k)), *stream = pt__strndup(a + 1, (size_t)(b - a - 1));
		if (!run || !stream) {
			pt__free(run);
			pt__free(stream);
			rc = PT_ENOMEM;
			break;
		}
		if (!pt__bucket_name_ok(run) || !pt__bucket_name_ok(stream)) {
			rc = pt__err(PT_ECORRUPT, "bucket key %s: not a valid run/stream name", v[i].key);
			pt__free(run);
			pt__free(stream);
			break;
		}
		if (m == cap) {
			size_t nc = cap ? cap * 2 : 16;
			pt__bucket_stream *nr = pt__realloc(r, nc * sizeof *nr);
			if (!nr) {
				pt__free(run);
				pt__free(stream);
				rc = PT_ENOMEM;
				break;
			}
			r = nr;
			cap = nc;
		}
		r[m].run = run;
		r[m].stream = stream;
		m++;
	}
	pt__s3_list_free(v, n);
	pt__free(sub);
	if (rc) {
		pt__bucket_streams_free(r, m);
		return rc;
	}
	*out = r;
	*count = m;
	return 0;
}

int pt__bucket_probe(pt__s3 *s)
{
	uint8_t r[12];
	char hex[25], key[64];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return pt__err_errno(errno, "bucket probe: getrandom");
	pt__hex(r, sizeof r, hex);
	snprintf(key, sizeof key, "probe/%s", hex);
	int rc = pt__s3_put(s, key, "1", -1, 0, 1, PT_S3_CREATE_ONLY, NULL, NULL);
	if (rc)
		return pt__err_wrap(rc, "bucket probe: a create-only PUT failed");
	int rc2 = pt__s3_put(s, key, "2", -1, 0, 1, PT_S3_CREATE_ONLY, NULL, NULL);
	int del = pt__s3_delete(s, key);
	if (rc2 == 0)
		return pt__err(PT_EIO,
			       "the endpoint accepted a second create-only PUT (If-None-Match: *) of s3://%s/%s%s: it "
			       "ignores conditional writes, so it cannot keep two writers from forking a stream; refused",
			       pt__s3_bucket(s), pt__s3_prefix(s), key);
	if (rc2 != PT_EEXISTS)
		return pt__err_wrap(rc2, "bucket probe");
	pt__err_clear();
	(void)del;
	return 0;
}
