/*
 * base/http_int.h - the library's HTTP client: SigV4-signed requests to an
 * AWS-style endpoint (S3, Kinesis), over libcurl.  Private to the library.
 *
 * base/http.c is the only file that includes <curl/curl.h>.  It signs every
 * request with curl's built-in AWS Signature Version 4 (CURLOPT_AWS_SIGV4),
 * always sending x-amz-content-sha256 (the SHA-256 of the body, which
 * curl 7.88 then signs as the payload hash instead of computing its own),
 * keeps its connection alive between requests, applies timeouts, retries a
 * transport failure, a 5xx, a 429 or a throttling error with exponential
 * backoff and full jitter, and bounds what it receives: a response larger
 * than the limit - announced by Content-Length or actually sent - is
 * PT_ELIMIT, and memory never grows past the limit.
 *
 * Credentials and the endpoint come from base/awsconf.c (the way AWS tools
 * find them); they are kept in the client and never written or printed (a
 * message names the endpoint and the key id's first 4 characters at most).
 *
 * Basic outline:
 *
 *	pt__aws_env env;            // pt__aws_env_load(&env, "s3", NULL, NULL)
 *	pt__http *c;
 *	pt__http_new(&c, &env, "s3");
 *	pt__http_req rq = PT_HTTP_REQ_INIT;
 *	rq.method = "GET"; rq.path = "/bucket/key";
 *	pt__http_resp rs = PT_HTTP_RESP_INIT;
 *	if (pt__http_do(c, &rq, &rs) == 0 && rs.status == 200) ... rs.body ...
 *	pt__http_resp_clear(&rs);
 *	pt__http_free(c);
 *
 * Thread rules: a client is used by one thread at a time (it holds one curl
 * handle and its connection); make one per worker thread.  Clients are
 * independent of each other.
 */
#ifndef PT_HTTP_INT_H
#define PT_HTTP_INT_H

#include "base/base_int.h"

/* ---- credentials, region, endpoint (awsconf.c) ----------------------------------------- */
typedef struct {
	char *access_key, *secret_key, *session_token; /* secret: never printed */
	char *region;                                  /* "us-east-1" when nothing says otherwise */
	char *endpoint;                                /* scheme://host[:port], no trailing slash */
	char *profile;                                 /* the profile used (for messages) */
} pt__aws_env;

#define PT_AWS_ENV_INIT {NULL, NULL, NULL, NULL, NULL, NULL}
/*
 * Find credentials, region and endpoint for `service` ("s3", "kinesis") the
 * way the AWS CLI and SDKs do:
 *   credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 *     else the profile (AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default") in
 *     the credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)
 *     and then the config file (AWS_CONFIG_FILE, else ~/.aws/config; section
 *     "[profile NAME]", or "[default]");
 *   region: `region` when not NULL, else AWS_REGION, AWS_DEFAULT_REGION, the
 *     profile's `region` in the config file, else "us-east-1";
 *   endpoint: `endpoint` when not NULL, else AWS_ENDPOINT_URL_<SERVICE>,
 *     AWS_ENDPOINT_URL, the profile's `endpoint_url`, else the AWS one
 *     (https://<service>.<region>.amazonaws.com).
 * PT_ENOTFOUND when no credentials are found (the message says where it
 * looked), PT_EINVAL for a malformed endpoint, PT_ECORRUPT for an unreadable
 * profile file line.  Clear with pt__aws_env_clear (which wipes the secret).
 */
int pt__aws_env_load(pt__aws_env *out, const char *service, const char *endpoint, const char *region);
void pt__aws_env_clear(pt__aws_env *e);
/* Check an endpoint URL: http:// or https://, a host, an optional port, no path/query/userinfo. */
int pt__endpoint_check(const char *url);

/* ---- the client ------------------------------------------------------------------------ */
typedef struct pt__http pt__http;

typedef struct {
	long connect_timeout_ms; /* default 5000 */
	long stall_timeout_ms;   /* no byte moved for this long: a timeout (default 30000) */
	long total_timeout_ms;   /* 0: none (default) */
	int max_retries;         /* extra attempts after the first (default 4) */
	long backoff_base_ms;    /* first backoff's cap (default 100), doubled per attempt */
	long backoff_max_ms;     /* default 5000 */
	size_t max_response;     /* bytes of response body kept in memory (default 16 MiB) */
} pt__http_opts;

#define PT_HTTP_OPTS_INIT {5000, 30000, 0, 4, 100, 5000, (size_t)16 << 20}

/* Counters since the client was made (for "verify read N bytes in M requests"). */
typedef struct {
	uint64_t requests;  /* attempts sent, retries included */
	uint64_t retries;
	uint64_t bytes_in;  /* response bodies received */
	uint64_t bytes_out; /* request bodies sent */
} pt__http_stats;

/* A client for `service` with `env`'s credentials (copied); `opts` may be NULL. */
int pt__http_new(pt__http **out, const pt__aws_env *env, const char *service, const pt__http_opts *opts);
void pt__http_free(pt__http *c);
const pt__http_stats *pt__http_stats_of(const pt__http *c);
/* The client's endpoint and region (borrowed). */
const char *pt__http_endpoint(const pt__http *c);
const char *pt__http_region(const pt__http *c);

typedef struct {
	const char *method; /* "GET" (default when NULL), "HEAD", "PUT", "POST", "DELETE" */
	const char *path;   /* URI-encoded, starting with '/', as it is to be signed */
	/* The canonical query string: pairs sorted by name, names and values
	 * URI-encoded (SigV4: unreserved characters kept, everything else %XX);
	 * curl 7.88 signs it as given.  NULL or "" for none. */
	const char *query;
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	/* The body: `body`/`body_len`, or `body_len` bytes of `body_fd` from `body_off`. */
	const void *body;
	size_t body_len;
	int body_fd;
	uint64_t body_off;
	/* A Range GET of [range_off, range_off + range_len) when range_len > 0. */
	uint64_t range_off, range_len;
	/* Response body: into memory (max_response caps it; 0: the client's
	 * default), or, when sink_fd >= 0, written to sink_fd (sink_max caps it). */
	size_t max_response;
	int sink_fd;
	uint64_t sink_max;
	/* Do not retry this request (a caller that must see the first answer). */
	bool no_retry;
} pt__http_req;

#define PT_HTTP_REQ_INIT {NULL, NULL, NULL, NULL, NULL, 0, -1, 0, 0, 0, 0, -1, 0, false}

typedef struct {
	long status;     /* HTTP status of the last attempt */
	pt__buf body;    /* the body (memory mode) */
	uint64_t sunk;   /* bytes written to sink_fd */
	char *etag;      /* ETag header, quotes kept, or NULL */
	char *request_id;/* x-amz-request-id / x-amzn-RequestId, or NULL */
	int64_t content_length; /* -1 when absent */
	int attempts;
} pt__http_resp;

#define PT_HTTP_RESP_INIT {0, {NULL, 0, 0}, 0, NULL, NULL, -1, 0}
void pt__http_resp_clear(pt__http_resp *r);

/*
 * Send the request, retrying as the header says; on return *out holds the
 * last attempt's answer.  0 when an HTTP answer came back (any status: the
 * caller interprets it; a 5xx/429/throttling answer is returned only after
 * the retries are used up).  PT_EIO: no answer (connection refused, reset,
 * timed out - the message names the endpoint and curl's reason, after the
 * retries); PT_ELIMIT: the body was larger than allowed (never retried);
 * PT_EINVAL: a malformed request; PT_ENOMEM.
 */
int pt__http_do(pt__http *c, const pt__http_req *rq, pt__http_resp *out);

/* Append `s` URI-encoded for SigV4 (unreserved kept; '/' kept when keep_slash). */
int pt__uri_encode(pt__buf *b, const char *s, bool keep_slash);

/* Tests: no sleeping between retries. */
void pt__http_test_no_sleep(bool on);

#endif
