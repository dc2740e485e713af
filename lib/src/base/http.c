/*
 * http.c - SigV4-signed HTTP requests over libcurl (base/http_int.h).  The
 * only file that includes <curl/curl.h>; it translates curl's errors into
 * PT_* codes with a message.
 */
#include "base/http_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct pt__http {
	CURL *curl;
	pt__aws_env env;
	char *service;
	char *sigv4; /* "aws:amz:<region>:<service>" */
	pt__http_opts opts;
	pt__http_stats stats;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static bool test_no_sleep;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void pt__http_test_no_sleep(bool on) { test_no_sleep = on; }

static char *dup_or_null(const char *s) { return s ? pt__strdup(s) : NULL; }

int pt__http_new(pt__http **out, const pt__aws_env *env, const char *service, const pt__http_opts *opts)
{
	*out = NULL;
	if (!env || !env->endpoint || !env->region || !service)
		return pt__err(PT_EINVAL, "http client: endpoint, region and service are required");
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return pt__err(PT_ERROR, "libcurl: initialisation failed: %s", curl_easy_strerror(curl_init_rc));
	pt__http *c = pt__calloc(1, sizeof *c);
	if (!c)
		return PT_ENOMEM;
	pt__http_opts def = PT_HTTP_OPTS_INIT;
	c->opts = opts ? *opts : def;
	c->env.access_key = dup_or_null(env->access_key);
	c->env.secret_key = dup_or_null(env->secret_key);
	c->env.session_token = dup_or_null(env->session_token);
	c->env.region = pt__strdup(env->region);
	c->env.endpoint = pt__strdup(env->endpoint);
	c->env.profile = dup_or_null(env->profile);
	c->service = pt__strdup(service);
	c->sigv4 = pt__sprintf("aws:amz:%s:%s", env->region, service);
	c->curl = curl_easy_init();
	if (!c->env.region || !c->env.endpoint || !c->service || !c->sigv4 ||
	    (env->access_key && !c->env.access_key) || (env->secret_key && !c->env.secret_key) ||
	    (env->session_token && !c->env.session_token) || !c->curl) {
		pt__http_free(c);
		return pt__err(PT_ENOMEM, "http client: out of memory");
	}
	*out = c;
	return 0;
}

void pt__http_free(pt__http *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	pt__aws_env_clear(&c->env);
	pt__free(c->service);
	pt__free(c->sigv4);
	pt__free(c);
}

const pt__http_stats *pt__http_stats_of(const pt__http *c) { return &c->stats; }
const char *pt__http_endpoint(const pt__http *c) { return c->env.endpoint; }
const char *pt__http_region(const pt__http *c) { return c->env.region; }

void pt__http_resp_clear(pt__http_resp *r)
{
	pt__buf_free(&r->body);
	pt__free(r->etag);
	pt__free(r->request_id);
	pt__http_resp z = PT_HTTP_RESP_INIT;
	*r = z;
}

int pt__uri_encode(pt__buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
			if (pt__buf_append(b, &ch, 1))
				return PT_ENOMEM;
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			if (pt__buf_append(b, e, 3))
				return PT_ENOMEM;
		}
	}
	return 0;
}

/* ---- one attempt's state ----------------------------------------------------------------- */
typedef struct {
	pt__http *c;
	const pt__http_req *rq;
	pt__http_resp *rs;
	uint64_t limit;   /* body bytes allowed */
	bool over_limit;  /* the body (or its announced length) passed the limit */
	int sink_errno;
	uint64_t sent;    /* body bytes handed to curl */
	int read_errno;
} attempt;

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	attempt *a = ud;
	size_t len = size * n;
	/* a status line starts a new header block (a 100 Continue, a redirect): forget the old one */
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		pt__free(a->rs->etag);
		a->rs->etag = NULL;
		a->rs->content_length = -1;
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t nlen = (size_t)(colon - buf);
	const char *v = colon + 1;
	const char *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	if (vlen > 1024) /* no header we keep is that long: a hostile one is ignored */
		return len;
	if (nlen == 4 && strncasecmp(buf, "etag", 4) == 0) {
		pt__free(a->rs->etag);
		a->rs->etag = pt__strndup(v, vlen);
	} else if ((nlen == 16 && strncasecmp(buf, "x-amz-request-id", 16) == 0) ||
		   (nlen == 16 && strncasecmp(buf, "x-amzn-requestid", 16) == 0)) {
		pt__free(a->rs->request_id);
		a->rs->request_id = pt__strndup(v, vlen);
	} else if (nlen == 14 && strncasecmp(buf, "content-length", 14) == 0) {
		uint64_t cl = 0;
		bool ok = vlen > 0 && vlen <= 19;
		for (size_t i = 0; ok && i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				ok = false;
			else
				cl = cl * 10 + (uint64_t)(v[i] - '0');
		}
		a->rs->content_length = ok ? (int64_t)cl : -1;
		/* a HEAD's Content-Length describes the object, not a body to come */
		if (ok && cl > a->limit && !(a->rq->method && strcmp(a->rq->method, "HEAD") == 0)) {
			a->over_limit = true;
			return 0; /* abort now: do not wait for a body we would refuse */
		}
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	attempt *a = ud;
	size_t len = size * n;
	uint64_t have = a->rq->sink_fd >= 0 ? a->rs->sunk : a->rs->body.len;
	if (len > a->limit - have || have > a->limit) {
		a->over_limit = true;
		return 0;
	}
	if (a->rq->sink_fd >= 0) {
		if (pt__write_all(a->rq->sink_fd, buf, len, "download") != 0) {
			a->sink_errno = errno ? errno : EIO;
			return 0;
		}
		a->rs->sunk += len;
	} else if (pt__buf_append(&a->rs->body, buf, len) != 0) {
		return 0;
	}
	a->c->stats.bytes_in += len;
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	attempt *a = ud;
	const pt__http_req *rq = a->rq;
	size_t want = size * n;
	uint64_t left = rq->body_len - a->sent;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (rq->body) {
		memcpy(buf, (const uint8_t *)rq->body + a->sent, want);
	} else {
		ssize_t got;
		do
			got = pread(rq->body_fd, buf, want, (off_t)(rq->body_off + a->sent));
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			a->read_errno = got < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)got;
	}
	a->sent += want;
	a->c->stats.bytes_out += want;
	return want;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
	attempt *a = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > a->rq->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	a->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* SHA-256 (hex) of the request body, for x-amz-content-sha256. */
static int body_sha(const pt__http_req *rq, char hex[PT_SHA256_HEX])
{
	uint8_t d[PT_SHA256_LEN];
	if (rq->body_len == 0 || rq->body) {
		pt__sha256(rq->body_len ? rq->body : "", rq->body_len, d);
	} else {
		int rc = pt__sha256_range(rq->body_fd, rq->body_off, rq->body_len, d);
		if (rc)
			return rc;
	}
	pt__hex(d, sizeof d, hex);
	return 0;
}

static bool throttled_body(const pt__buf *b)
{
	static const char *codes[] = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
				      "ProvisionedThroughputExceededException", "RequestThrottled",
				      "TooManyRequestsException", "LimitExceededException"};
	if (!b->len || b->len > 64 * 1024)
		return false;
	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
		if (memmem(b->data, b->len, codes[i], strlen(codes[i])))
			return true;
	return false;
}

static bool retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

static void backoff(const pt__http *c, int attempt_no)
{
	if (test_no_sleep)
		return;
	long cap = c->opts.backoff_base_ms;
	for (int i = 0; i < attempt_no && cap < c->opts.backoff_max_ms; i++)
		cap *= 2;
	if (cap > c->opts.backoff_max_ms)
		cap = c->opts.backoff_max_ms;
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint32_t)pt__mono_ns();
	long ms = cap > 0 ? (long)(r % (uint32_t)cap) + 1 : 0; /* full jitter: uniform in (0, cap] */
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int one_attempt(pt__http *c, const pt__http_req *rq, pt__http_resp *rs, const char *sha_hex,
		       CURLcode *cc_out, char *errbuf)
{
	CURL *h = c->curl;
	const char *method = rq->method ? rq->method : "GET";
	int rc = 0;
	struct curl_slist *hl = NULL, *tmp;
	pt__buf url = {0};
	char *sha_h = NULL, *tok_h = NULL, *range_h = NULL;

	/* reset keeps the connection cache: the next request reuses the socket */
	curl_easy_reset(h);
	attempt a = {c, rq, rs, 0, false, 0, 0, 0};
	if (rq->sink_fd >= 0)
		a.limit = rq->sink_max ? rq->sink_max : UINT64_MAX;
	else
		a.limit = rq->max_response ? rq->max_response : c->opts.max_response;
	if (pt__buf_printf(&url, "%s%s%s%s", c->env.endpoint, rq->path, rq->query && *rq->query ? "?" : "",
			   rq->query && *rq->query ? rq->query : "") != 0) {
		rc = PT_ENOMEM;
		goto done;
	}
	sha_h = pt__sprintf("x-amz-content-sha256: %s", sha_hex);
	if (!sha_h || !(tmp = curl_slist_append(hl, sha_h))) {
		rc = PT_ENOMEM;
		goto done;
	}
	hl = tmp;
	if (c->env.session_token) {
		tok_h = pt__sprintf("x-amz-security-token: %s", c->env.session_token);
		if (!tok_h || !(tmp = curl_slist_append(hl, tok_h))) {
			rc = PT_ENOMEM;
			goto done;
		}
		hl = tmp;
	}
	if (rq->range_len) {
		range_h = pt__sprintf("Range: bytes=%llu-%llu", (unsigned long long)rq->range_off,
				      (unsigned long long)(rq->range_off + rq->range_len - 1));
		if (!range_h || !(tmp = curl_slist_append(hl, range_h))) {
			rc = PT_ENOMEM;
			goto done;
		}
		hl = tmp;
	}
	/* No "Name:" lines to remove curl's own headers (Accept, Expect): curl
	 * 7.88 signs such a line as an empty header it then does not send. */
	for (const char *const *p = rq->headers; p && *p; p++) {
		if (!(tmp = curl_slist_append(hl, *p))) {
			rc = PT_ENOMEM;
			goto done;
		}
		hl = tmp;
	}

	curl_easy_setopt(h, CURLOPT_URL, (char *)url.data);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->env.access_key ? c->env.access_key : "");
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->env.secret_key ? c->env.secret_key : "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	if (c->opts.total_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.total_timeout_ms);
	if (c->opts.stall_timeout_ms > 0) {
		/* under 1 byte/s for the stall time is a timeout (curl counts whole seconds) */
		long s = (c->opts.stall_timeout_ms + 999) / 1000;
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s);
	}
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* curl sends "Expect: 100-continue" before a large body: do not wait long for the 100 */
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	if (rq->sink_fd < 0)
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)a.limit);

	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		/* the body through the read callback (memory or fd range), so that a
		 * retry rewinds it and a large body is never copied */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &a);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &a);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		if (strcmp(method, "POST") == 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
	} else if (strcmp(method, "DELETE") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		rc = pt__err(PT_EINVAL, "http: method %s not supported", method);
		goto done;
	}

	c->stats.requests++;
	*cc_out = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	rs->status = status;
	if (a.over_limit) {
		rc = pt__err(PT_ELIMIT, "%s %s%s: response larger than the limit of %llu bytes%s", method,
			     c->env.endpoint, rq->path, (unsigned long long)a.limit,
			     rs->content_length >= 0 ? " (announced by Content-Length)" : "");
		goto done;
	}
	if (a.sink_errno) {
		rc = pt__err_errno(a.sink_errno, "%s %s%s: writing the download", method, c->env.endpoint, rq->path);
		goto done;
	}
	if (a.read_errno) {
		rc = pt__err_errno(a.read_errno, "%s %s%s: reading the body to send", method, c->env.endpoint,
				   rq->path);
		goto done;
	}
done:
	curl_slist_free_all(hl);
	pt__buf_free(&url);
	pt__free(sha_h);
	if (tok_h) {
		memset(tok_h, 0, strlen(tok_h));
		pt__free(tok_h);
	}
	pt__free(range_h);
	return rc;
}

int pt__http_do(pt__http *c, const pt__http_req *rq, pt__http_resp *out)
{
	pt__http_resp_clear(out);
	if (!rq->path || rq->path[0] != '/')
		return pt__err(PT_EINVAL, "http: a request path starts with '/'");
	if (rq->body_len && !rq->body && rq->body_fd < 0)
		return pt__err(PT_EINVAL, "http: a body length without a body");
	const char *method = rq->method ? rq->method : "GET";
	char sha_hex[PT_SHA256_HEX];
	int rc = body_sha(rq, sha_hex);
	if (rc)
		return rc;
	int max_attempts = rq->no_retry ? 1 : c->opts.max_retries + 1;
	for (int i = 0; i < max_attempts; i++) {
		char errbuf[CURL_ERROR_SIZE] = "";
		CURLcode cc = CURLE_OK;
		if (i > 0) {
			c->stats.retries++;
			backoff(c, i - 1);
			if (rq->sink_fd >= 0) {
				/* start the download again from nothing */
				if (ftruncate(rq->sink_fd, 0) != 0 || lseek(rq->sink_fd, 0, SEEK_SET) != 0)
					return pt__err_errno(errno, "%s %s%s: rewinding the download", method,
							     c->env.endpoint, rq->path);
			}
			pt__http_resp_clear(out);
		}
		out->attempts = i + 1;
		rc = one_attempt(c, rq, out, sha_hex, &cc, errbuf);
		if (rc)
			return rc;
		bool last = i + 1 == max_attempts;
		if (cc != CURLE_OK) {
			if (retryable_curl(cc) && !last)
				continue;
			return pt__err(PT_EIO, "%s %s%s: %s%s%s (after %d attempt%s)", method, c->env.endpoint, rq->path,
				       curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf, i + 1, i ? "s" : "");
		}
		long st = out->status;
		bool retry = st >= 500 || st == 429 || (st == 400 && throttled_body(&out->body));
		if (retry && !last)
			continue;
		return 0;
	}
	return 0;
}
