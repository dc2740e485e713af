/*
 * s3.c - the S3 protocol over base/http.c (base/s3_int.h).
 */
#include "base/s3_int.h"
#include "base/xml_int.h"

#include <ctype.h>
#include <errno.h>

struct pt__s3 {
	pt__http *http;
	char *bucket, *prefix;
	uint64_t multipart_min, part_size; /* bodies from a file of at least multipart_min go in parts */
};

static bool bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

int pt__s3_url_parse(const char *url, char **bucket, char **prefix)
{
	*bucket = *prefix = NULL;
	if (!url || strncmp(url, "s3://", 5) != 0)
		return pt__err(PT_EINVAL, "remote URL %s: must be s3://BUCKET[/PREFIX]", url ? url : "(null)");
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t bl = slash ? (size_t)(slash - b) : strlen(b);
	if (!bucket_ok(b, bl))
		return pt__err(PT_EINVAL,
			       "remote URL %s: bucket name must be 3-63 characters of a-z, 0-9, '.', '-' "
			       "(starting and ending with a letter or digit)",
			       url);
	pt__buf p = {0};
	const char *s = slash ? slash + 1 : "";
	int rc = 0;
	while (*s && !rc) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0) {
			if (!e || !e[1])
				break; /* a trailing slash */
			rc = pt__err(PT_EINVAL, "remote URL %s: empty path component", url);
			break;
		}
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			rc = pt__err(PT_EINVAL, "remote URL %s: '.' and '..' are not allowed in the prefix", url);
		for (size_t i = 0; i < n && !rc; i++)
			if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
				rc = pt__err(PT_EINVAL, "remote URL %s: prefix components are A-Z a-z 0-9 . _ - only",
					     url);
		if (!rc && (pt__buf_append(&p, s, n) || pt__buf_append(&p, "/", 1)))
			rc = PT_ENOMEM;
		if (p.len > 512 && !rc)
			rc = pt__err(PT_EINVAL, "remote URL %s: prefix longer than 512 characters", url);
		s = e ? e + 1 : s + n;
	}
	if (!rc && pt__buf_append(&p, "", 1))
		rc = PT_ENOMEM;
	if (rc) {
		pt__buf_free(&p);
		return rc;
	}
	*bucket = pt__strndup(b, bl);
	*prefix = (char *)p.data;
	if (!*bucket) {
		pt__free(*prefix);
		*prefix = NULL;
		return PT_ENOMEM;
	}
	return 0;
}

int pt__s3_open(pt__s3 **out, const char *url, const char *endpoint, const char *region,
		const pt__http_opts *opts)
{
	*out = NULL;
	pt__s3 *s = pt__calloc(1, sizeof *s);
	if (!s)
		return PT_ENOMEM;
	pt__aws_env env = PT_AWS_ENV_INIT;
	int rc = pt__s3_url_parse(url, &s->bucket, &s->prefix);
	if (!rc)
		rc = pt__aws_env_load(&env, "s3", endpoint, region);
	if (!rc)
		rc = pt__http_new(&s->http, &env, "s3", opts);
	pt__aws_env_clear(&env);
	s->multipart_min = (uint64_t)256 << 20;
	s->part_size = (uint64_t)64 << 20;
	if (rc) {
		pt__s3_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void pt__s3_free(pt__s3 *s)
{
	if (!s)
		return;
	pt__http_free(s->http);
	pt__free(s->bucket);
	pt__free(s->prefix);
	pt__free(s);
}

const pt__http_stats *pt__s3_stats(const pt__s3 *s) { return pt__http_stats_of(s->http); }
const char *pt__s3_bucket(const pt__s3 *s) { return s->bucket; }
const char *pt__s3_prefix(const pt__s3 *s) { return s->prefix; }
const char *pt__http_endpoint_of_s3(const pt__s3 *s) { return pt__http_endpoint(s->http); }

/* "/bucket/prefix+key", URI-encoded. */
static int key_path(const pt__s3 *s, const char *key, pt__buf *b)
{
	b->len = 0;
	if (pt__buf_printf(b, "/%s/", s->bucket) || pt__uri_encode(b, s->prefix, true) ||
	    pt__uri_encode(b, key, true) || pt__buf_append(b, "", 1))
		return PT_ENOMEM;
	return 0;
}

/* The error an S3 answer describes (status + <Error><Code>/<Message>). */
static int s3_error(const pt__s3 *s, const char *op, const char *key, const pt__http_resp *rs)
{
	char code[96] = "", msg[256] = "";
	pt__xml_node *doc = NULL;
	if (rs->body.len && rs->body.len < 65536 && pt__xml_parse(rs->body.data, rs->body.len, &doc) == 0 &&
	    strcmp(doc->name, "Error") == 0) {
		const char *c = pt__xml_text(doc, "Code"), *m = pt__xml_text(doc, "Message");
		snprintf(code, sizeof code, " %s", c ? c : "");
		snprintf(msg, sizeof msg, "%s%s", m ? ": " : "", m ? m : "");
	}
	pt__xml_free(doc);
	/* nothing from a server goes into a message unfiltered: printable ASCII only */
	for (char *p = code; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	for (char *p = msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	int pc = rs->status == 404 ? PT_ENOTFOUND : rs->status == 412 ? PT_EEXISTS : PT_EIO;
	const char *hint = rs->status == 403 ? " (access denied: check the credentials and the bucket's policy)" : "";
	return pt__err(pc, "S3 %s s3://%s/%s%s: HTTP %ld%s%s%s", op, s->bucket, s->prefix, key, rs->status, code, msg,
		       hint);
}

void pt__s3_set_multipart(pt__s3 *s, uint64_t min, uint64_t part)
{
	s->multipart_min = min;
	s->part_size = part < ((uint64_t)5 << 20) ? (uint64_t)5 << 20 : part;
}

static int multipart_put(pt__s3 *s, const char *key, int fd, uint64_t off, uint64_t len, int flags,
			 char **etag_out);

int pt__s3_put(pt__s3 *s, const char *key, const void *data, int fd, uint64_t off, uint64_t len, int flags,
	       const char *if_match, char **etag_out)
{
	if (!data && !if_match && len >= s->multipart_min && len > s->part_size)
		return multipart_put(s, key, fd, off, len, flags, etag_out);
	if (etag_out)
		*etag_out = NULL;
	pt__buf path = {0};
	char *im = NULL;
	int rc = key_path(s, key, &path);
	if (rc)
		return rc;
	const char *hdr[4] = {"Content-Type: application/octet-stream", NULL, NULL, NULL};
	size_t nh = 1;
	if (flags & PT_S3_CREATE_ONLY)
		hdr[nh++] = "If-None-Match: *";
	if (if_match) {
		if (!(im = pt__sprintf("If-Match: %s", if_match))) {
			pt__buf_free(&path);
			return PT_ENOMEM;
		}
		hdr[nh++] = im;
	}
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.method = "PUT";
	rq.path = (const char *)path.data;
	rq.headers = hdr;
	rq.body = data;
	rq.body_fd = data ? -1 : fd;
	rq.body_off = off;
	rq.body_len = (size_t)len;
	rq.max_response = 1 << 16;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	rc = pt__http_do(s->http, &rq, &rs);
	if (!rc) {
		if (rs.status == 200) {
			if (etag_out && rs.etag && !(*etag_out = pt__strdup(rs.etag)))
				rc = PT_ENOMEM;
		} else {
			rc = s3_error(s, "PUT", key, &rs);
		}
	}
	pt__http_resp_clear(&rs);
	pt__buf_free(&path);
	pt__free(im);
	return rc;
}

static int do_get(pt__s3 *s, const char *key, uint64_t range_off, uint64_t range_len, size_t max, int fd,
		  uint64_t fd_max, pt__http_resp *rs)
{
	pt__buf path = {0};
	int rc = key_path(s, key, &path);
	if (rc)
		return rc;
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = (const char *)path.data;
	rq.range_off = range_off;
	rq.range_len = range_len;
	rq.max_response = max;
	rq.sink_fd = fd;
	rq.sink_max = fd_max;
	rc = pt__http_do(s->http, &rq, rs);
	if (!rc && rs->status != 200 && rs->status != 206)
		rc = s3_error(s, "GET", key, rs);
	if (!rc && range_len && rs->status == 206) {
		uint64_t got = fd >= 0 ? rs->sunk : rs->body.len;
		if (got != range_len && range_len != UINT64_MAX)
			rc = pt__err(PT_ECORRUPT, "S3 GET s3://%s/%s%s: asked for %llu bytes at %llu, got %llu", s->bucket,
				     s->prefix, key, (unsigned long long)range_len, (unsigned long long)range_off,
				     (unsigned long long)got);
	}
	pt__buf_free(&path);
	return rc;
}

int pt__s3_get(pt__s3 *s, const char *key, uint64_t range_off, uint64_t range_len, size_t max, uint8_t **out,
	       size_t *out_len, char **etag_out)
{
	*out = NULL;
	*out_len = 0;
	if (etag_out)
		*etag_out = NULL;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	int rc = do_get(s, key, range_off, range_len, max ? max : 1, -1, 0, &rs);
	if (!rc && range_len && rs.status == 200 && rs.body.len > range_len)
		rc = pt__err(PT_ECORRUPT, "S3 GET s3://%s/%s%s: the server ignored the Range header", s->bucket,
			     s->prefix, key);
	if (!rc && etag_out && rs.etag && !(*etag_out = pt__strdup(rs.etag)))
		rc = PT_ENOMEM;
	if (!rc) {
		*out_len = rs.body.len;
		*out = rs.body.data ? rs.body.data : pt__malloc(1);
		if (!*out)
			rc = PT_ENOMEM;
		rs.body.data = NULL;
	}
	pt__http_resp_clear(&rs);
	return rc;
}

int pt__s3_get_fd(pt__s3 *s, const char *key, int fd, uint64_t max, uint64_t *out_len)
{
	*out_len = 0;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	int rc = do_get(s, key, 0, 0, 0, fd, max, &rs);
	if (!rc)
		*out_len = rs.sunk;
	pt__http_resp_clear(&rs);
	return rc;
}

int pt__s3_head(pt__s3 *s, const char *key, uint64_t *size, char **etag_out)
{
	if (size)
		*size = 0;
	if (etag_out)
		*etag_out = NULL;
	pt__buf path = {0};
	int rc = key_path(s, key, &path);
	if (rc)
		return rc;
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.method = "HEAD";
	rq.path = (const char *)path.data;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	rc = pt__http_do(s->http, &rq, &rs);
	if (!rc && rs.status != 200)
		rc = s3_error(s, "HEAD", key, &rs);
	if (!rc && size)
		*size = rs.content_length >= 0 ? (uint64_t)rs.content_length : 0;
	if (!rc && etag_out && rs.etag && !(*etag_out = pt__strdup(rs.etag)))
		rc = PT_ENOMEM;
	pt__http_resp_clear(&rs);
	pt__buf_free(&path);
	return rc;
}

int pt__s3_delete(pt__s3 *s, const char *key)
{
	pt__buf path = {0};
	int rc = key_path(s, key, &path);
	if (rc)
		return rc;
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.method = "DELETE";
	rq.path = (const char *)path.data;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	rc = pt__http_do(s->http, &rq, &rs);
	if (!rc && rs.status != 204 && rs.status != 200)
		rc = s3_error(s, "DELETE", key, &rs);
	pt__http_resp_clear(&rs);
	pt__buf_free(&path);
	return rc;
}

void pt__s3_list_free(pt__s3_obj *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pt__free(v[i].key);
	pt__free(v);
}

int pt__s3_list(pt__s3 *s, const char *sub, size_t max, pt__s3_obj **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	pt__s3_obj *v = NULL;
	size_t n = 0, cap = 0;
	char *token = NULL, *full = pt__sprintf("%s%s", s->prefix, sub);
	size_t plen = strlen(s->prefix), flen = full ? strlen(full) : 0;
	pt__buf path = {0}, q = {0};
	int rc = full ? 0 : PT_ENOMEM;
	if (!rc && (pt__buf_printf(&path, "/%s", s->bucket) || pt__buf_append(&path, "", 1)))
		rc = PT_ENOMEM;
	int pages = 0;
	while (!rc) {
		q.len = 0;
		if (token && (pt__buf_printf(&q, "continuation-token=") || pt__uri_encode(&q, token, false) ||
			      pt__buf_printf(&q, "&"))) {
			rc = PT_ENOMEM;
			break;
		}
		if (pt__buf_printf(&q, "list-type=2&max-keys=1000&prefix=") || pt__uri_encode(&q, full, false) ||
		    pt__buf_append(&q, "", 1)) {
			rc = PT_ENOMEM;
			break;
		}
		pt__http_req rq = PT_HTTP_REQ_INIT;
		rq.path = (const char *)path.data;
		rq.query = (const char *)q.data;
		rq.max_response = 4 << 20;
		pt__http_resp rs = PT_HTTP_RESP_INIT;
		rc = pt__http_do(s->http, &rq, &rs);
		if (!rc && rs.status != 200)
			rc = s3_error(s, "LIST", sub, &rs);
		pt__xml_node *doc = NULL;
		if (!rc && (rc = pt__xml_parse(rs.body.data, rs.body.len, &doc)) != 0)
			rc = pt__err_wrap(rc, "S3 LIST s3://%s/%s", s->bucket, full);
		pt__http_resp_clear(&rs);
		if (rc)
			break;
		if (strcmp(doc->name, "ListBucketResult") != 0) {
			rc = pt__err(PT_ECORRUPT, "S3 LIST s3://%s/%s: the answer is not a ListBucketResult", s->bucket,
				     full);
			pt__xml_free(doc);
			break;
		}
		size_t page_keys = 0;
		for (const pt__xml_node *c = doc->child; c && !rc; c = c->next) {
			if (strcmp(c->name, "Contents") != 0)
				continue;
			const char *k = pt__xml_text(c, "Key"), *sz = pt__xml_text(c, "Size"),
				   *et = pt__xml_text(c, "ETag");
			char *end = NULL;
			errno = 0;
			unsigned long long size = sz ? strtoull(sz, &end, 10) : 0;
			if (!k || !sz || !*sz || *end || errno || strncmp(k, full, flen) != 0 || sz[0] == '-') {
				rc = pt__err(PT_ECORRUPT,
					     "S3 LIST s3://%s/%s: a malformed entry (no key or size, or a key outside "
					     "the prefix asked for)",
					     s->bucket, full);
				break;
			}
			if (n > 0 && strcmp(v[n - 1].key, k + plen) >= 0) {
				rc = pt__err(PT_ECORRUPT, "S3 LIST s3://%s/%s: keys out of order or repeated", s->bucket,
					     full);
				break;
			}
			if (n >= max) {
				rc = pt__err(PT_ELIMIT, "S3 LIST s3://%s/%s: more than %zu keys", s->bucket, full, max);
				break;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				pt__s3_obj *nv = pt__realloc(v, nc * sizeof *nv);
				if (!nv) {
					rc = PT_ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			if (!(v[n].key = pt__strdup(k + plen))) {
				rc = PT_ENOMEM;
				break;
			}
			v[n].size = size;
			snprintf(v[n].etag, sizeof v[n].etag, "%s", et ? et : "");
			n++;
			page_keys++;
		}
		const char *trunc = pt__xml_text(doc, "IsTruncated");
		const char *next = pt__xml_text(doc, "NextContinuationToken");
		bool more = !rc && trunc && strcmp(trunc, "true") == 0;
		if (more) {
			if (!next || !*next || (token && strcmp(token, next) == 0) || page_keys == 0 || ++pages > 100000)
				rc = pt__err(PT_ECORRUPT,
					     "S3 LIST s3://%s/%s: a truncated page without a new continuation token",
					     s->bucket, full);
			else {
				pt__free(token);
				if (!(token = pt__strdup(next)))
					rc = PT_ENOMEM;
			}
		}
		pt__xml_free(doc);
		if (!more)
			break;
	}
	pt__free(token);
	pt__free(full);
	pt__buf_free(&path);
	pt__buf_free(&q);
	if (rc) {
		pt__s3_list_free(v, n);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}

/* ---- multipart upload: a body from a file too large for one PUT's retries to be cheap ---------- */

/* One request on `key` with a query; *rs holds the answer (2xx checked by the caller). */
static int key_request(pt__s3 *s, const char *method, const char *key, const char *query, const char *const *hdr,
		       const void *body, int fd, uint64_t off, uint64_t len, pt__http_resp *rs)
{
	pt__buf path = {0};
	int rc = key_path(s, key, &path);
	if (rc)
		return rc;
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.method = method;
	rq.path = (const char *)path.data;
	rq.query = query;
	rq.headers = hdr;
	rq.body = body;
	rq.body_fd = body ? -1 : fd;
	rq.body_off = off;
	rq.body_len = (size_t)len;
	rq.max_response = 1 << 20;
	rc = pt__http_do(s->http, &rq, rs);
	pt__buf_free(&path);
	return rc;
}

/* An XML answer's root element is <Error> even with HTTP 200 (CompleteMultipartUpload can do that). */
static bool body_is_error(const pt__http_resp *rs)
{
	pt__xml_node *doc = NULL;
	bool err = rs->body.len && pt__xml_parse(rs->body.data, rs->body.len, &doc) == 0 && !strcmp(doc->name, "Error");
	pt__xml_free(doc);
	return err;
}

static int multipart_put(pt__s3 *s, const char *key, int fd, uint64_t off, uint64_t len, int flags,
			 char **etag_out)
{
	if (etag_out)
		*etag_out = NULL;
	int rc = 0;
	/* create-only: refuse early when the key exists (the completion is conditional too) */
	if (flags & PT_S3_CREATE_ONLY) {
		rc = pt__s3_head(s, key, NULL, NULL);
		if (rc == 0)
			return pt__err(PT_EEXISTS, "S3 PUT s3://%s/%s%s: exists", s->bucket, s->prefix, key);
		if (rc != PT_ENOTFOUND)
			return rc;
		pt__err_clear();
	}
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	char *upload = NULL;
	pt__buf q = {0}, done = {0};
	pt__xml_node *doc = NULL;
	static const char *ct[] = {"Content-Type: application/octet-stream", NULL};
	rc = key_request(s, "POST", key, "uploads=", ct, "", -1, 0, 0, &rs);
	if (!rc && rs.status != 200)
		rc = s3_error(s, "POST ?uploads", key, &rs);
	if (!rc && (rc = pt__xml_parse(rs.body.data, rs.body.len, &doc)) == 0) {
		const char *id = pt__xml_text(doc, "UploadId");
		if (!id || !*id || strlen(id) > 1024)
			rc = pt__err(PT_ECORRUPT, "S3 POST ?uploads s3://%s/%s%s: no UploadId", s->bucket, s->prefix, key);
		else if (!(upload = pt__strdup(id)))
			rc = PT_ENOMEM;
	}
	pt__xml_free(doc);
	doc = NULL;
	if (!rc && pt__buf_printf(&done, "<CompleteMultipartUpload>"))
		rc = PT_ENOMEM;
	uint64_t nparts = (len + s->part_size - 1) / s->part_size;
	for (uint64_t i = 0; i < nparts && !rc; i++) {
		uint64_t po = i * s->part_size, pl = len - po < s->part_size ? len - po : s->part_size;
		q.len = 0;
		if (pt__buf_printf(&q, "partNumber=%llu&uploadId=", (unsigned long long)(i + 1)) ||
		    pt__uri_encode(&q, upload, false) || pt__buf_append(&q, "", 1)) {
			rc = PT_ENOMEM;
			break;
		}
		rc = key_request(s, "PUT", key, (const char *)q.data, ct, NULL, fd, off + po, pl, &rs);
		if (!rc && rs.status != 200)
			rc = s3_error(s, "PUT part", key, &rs);
		if (!rc && (!rs.etag || strlen(rs.etag) > 200 || strpbrk(rs.etag, "<>&")))
			rc = pt__err(PT_ECORRUPT, "S3 PUT part s3://%s/%s%s: no usable ETag", s->bucket, s->prefix, key);
		if (!rc && pt__buf_printf(&done, "<Part><PartNumber>%llu</PartNumber><ETag>%s</ETag></Part>",
					  (unsigned long long)(i + 1), rs.etag))
			rc = PT_ENOMEM;
	}
	if (!rc && pt__buf_printf(&done, "</CompleteMultipartUpload>"))
		rc = PT_ENOMEM;
	if (!rc) {
		q.len = 0;
		if (pt__buf_printf(&q, "uploadId=") || pt__uri_encode(&q, upload, false) || pt__buf_append(&q, "", 1))
			rc = PT_ENOMEM;
	}
	if (!rc) {
		const char *hdr[] = {"Content-Type: application/xml",
				     flags & PT_S3_CREATE_ONLY ? "If-None-Match: *" : NULL, NULL};
		rc = key_request(s, "POST", key, (const char *)q.data, hdr, done.data, -1, 0, done.len, &rs);
		if (!rc && (rs.status != 200 || body_is_error(&rs)))
			rc = s3_error(s, "POST complete", key, &rs);
		if (!rc && etag_out && rs.etag && !(*etag_out = pt__strdup(rs.etag)))
			rc = PT_ENOMEM;
	}
	if (rc && upload) {
		/* abort: the parts are not left behind (best effort; the error is the first one) */
		char keep[1024];
		int code = pt_error_last_code();
		snprintf(keep, sizeof keep, "%s", pt_error_last());
		q.len = 0;
		if (!pt__buf_printf(&q, "uploadId=") && !pt__uri_encode(&q, upload, false) && !pt__buf_append(&q, "", 1)) {
			pt__http_resp ar = PT_HTTP_RESP_INIT;
			key_request(s, "DELETE", key, (const char *)q.data, NULL, NULL, -1, 0, 0, &ar);
			pt__http_resp_clear(&ar);
		}
		pt__err(code ? code : rc, "%s", keep);
	}
	pt__http_resp_clear(&rs);
	pt__free(upload);
	pt__buf_free(&q);
	pt__buf_free(&done);
	return rc;
}
