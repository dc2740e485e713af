/*
 * kinesis.c - the Kinesis mirror (provtrace/mirror.h): a consumer handler
 * that puts each batch with PutRecords.  The owner of the Kinesis JSON
 * requests and answers (jansson parses the answers); HTTP and SigV4 are the
 * library's one client (base/http.c).
 *
 * Limits of the API (PutRecords): 500 records and 5 MiB of data + partition
 * keys per call, 1 MiB per record.  A record that a partial failure names
 * is sent again, alone with the others that failed; the batch succeeds -
 * and the consumer commits - only when every record was accepted.
 */
#include "live/live_int.h"
#include "base/http_int.h"
#include "format/json_int.h"

#include <jansson.h>
#include <time.h>

#define PUT_MAX_RECORDS 500
#define PUT_MAX_BYTES (5u << 20)
#define KEY_MAX 256

typedef struct {
	size_t off, len;  /* data in m->data */
	char key[KEY_MAX + 1];
	size_t klen;
} record;

typedef struct {
	pt_mirror_options o;
	char *kstream;
	pt__http *http;
	pt_mirror_stats st;
	pt__buf data, body;
	record *recs;
	size_t cap;
	size_t *pending, *next;
} mirror;

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int put_b64(pt__buf *b, const uint8_t *p, size_t n)
{
	if (pt__buf_reserve(b, (n + 2) / 3 * 4 + 1))
		return PT_ENOMEM;
	char *o = (char *)b->data + b->len;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63], *o++ = b64[(v >> 6) & 63], *o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18], *o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	b->len = (size_t)(o - (char *)b->data);
	return 0;
}

/* msgpack pieces for the msgpack record form */
static int mp_str(pt__buf *b, const char *s)
{
	size_t n = strlen(s);
	uint8_t h[2];
	size_t hl;
	if (n < 32)
		h[0] = (uint8_t)(0xa0 | n), hl = 1;
	else
		h[0] = 0xd9, h[1] = (uint8_t)n, hl = 2; /* names and keys here are < 256 bytes */
	return pt__buf_append(b, h, hl) || pt__buf_append(b, s, n) ? PT_ENOMEM : 0;
}

static int mp_uint(pt__buf *b, uint64_t v)
{
	uint8_t h[9] = {0xcf};
	for (int i = 0; i < 8; i++)
		h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
	return pt__buf_append(b, h, 9) ? PT_ENOMEM : 0;
}

/* The record of event `e` appended to m->data. */
static int encode(mirror *m, const pt_consumer_event *e, record *r)
{
	r->klen = (size_t)snprintf(r->key, sizeof r->key, "%s/%s", e->run, e->stream);
	if (r->klen > KEY_MAX)
		r->klen = KEY_MAX; /* Kinesis keys are at most 256 characters: both names at 128 lose one */
	r->off = m->data.len;
	int rc;
	if (m->o.format == PT_MIRROR_MSGPACK) {
		uint8_t h = 0x83;
		rc = pt__buf_append(&m->data, &h, 1) ? PT_ENOMEM : 0;
		if (!rc && !(rc = mp_str(&m->data, "run")) && !(rc = mp_str(&m->data, e->run)) &&
		    !(rc = mp_str(&m->data, "stream")) && !(rc = mp_str(&m->data, e->stream)) &&
		    !(rc = mp_str(&m->data, "event")))
			rc = pt__buf_append(&m->data, e->msgpack, e->msgpack_len) ? PT_ENOMEM : 0;
	} else {
		rc = pt__json_event(&m->data, e->run, e->stream, e->msgpack, e->msgpack_len);
	}
	if (rc)
		return rc;
	r->len = m->data.len - r->off;
	if (r->len + r->klen <= m->o.max_record_bytes)
		return 0;
	/* too large for a record: a reference to it in the store, never a drop */
	size_t full = r->len;
	m->data.len = r->off;
	if (m->o.format == PT_MIRROR_MSGPACK) {
		char ref[400];
		snprintf(ref, sizeof ref, "provtrace://%s/%s/%llu", e->run, e->stream, (unsigned long long)e->seq);
		uint8_t h = 0x86;
		rc = pt__buf_append(&m->data, &h, 1) ? PT_ENOMEM : 0;
		if (!rc && !(rc = mp_str(&m->data, "run")) && !(rc = mp_str(&m->data, e->run)) &&
		    !(rc = mp_str(&m->data, "stream")) && !(rc = mp_str(&m->data, e->stream)) &&
		    !(rc = mp_str(&m->data, "seq")) && !(rc = mp_uint(&m->data, e->seq)) &&
		    !(rc = mp_str(&m->data, "kind")) && !(rc = mp_str(&m->data, e->kind)) &&
		    !(rc = mp_str(&m->data, "ref")) && !(rc = mp_str(&m->data, ref)) && !(rc = mp_str(&m->data, "bytes")))
			rc = mp_uint(&m->data, full);
	} else {
		char tb[48];
		rc = pt__buf_printf(&m->data,
				    "{\"run\":\"%s\",\"stream\":\"%s\",\"seq\":%llu,\"time\":\"%s\",\"kind\":", e->run,
				    e->stream, (unsigned long long)e->seq, pt_time_format(e->time, tb, sizeof tb));
		if (!rc)
			rc = pt__json_string(&m->data, e->kind, strlen(e->kind));
		if (!rc)
			rc = pt__buf_printf(&m->data, ",\"ref\":\"provtrace://%s/%s/%llu\",\"bytes\":%zu}", e->run,
					    e->stream, (unsigned long long)e->seq, full);
	}
	if (rc)
		return rc;
	r->len = m->data.len - r->off;
	m->st.referenced++;
	return 0;
}

/* A Kinesis error answer as a message. */
static void answer_error(const pt__http_resp *rs, char *msg, size_t cap)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)rs->body.data, rs->body.len, 0, &je);
	const char *type = j ? json_string_value(json_object_get(j, "__type")) : NULL;
	const char *text = j ? json_string_value(json_object_get(j, "message")) : NULL;
	if (!text && j)
		text = json_string_value(json_object_get(j, "Message"));
	snprintf(msg, cap, "Kinesis PutRecords: HTTP %ld%s%s%s%s", rs->status, type ? " " : "", type ? type : "",
		 text ? ": " : "", text ? text : "");
	json_decref(j);
}

/* One PutRecords call for records idx[0..n); the ones that failed go to failed[] (*nfailed). */
static int put(mirror *m, const size_t *idx, size_t n, size_t *failed, size_t *nfailed, char *err, size_t errcap)
{
	*nfailed = 0;
	pt__buf *b = &m->body;
	b->len = 0;
	int rc = pt__buf_printf(b, "{\"StreamName\":\"%s\",\"Records\":[", m->kstream);
	for (size_t i = 0; !rc && i < n; i++) {
		const record *r = &m->recs[idx[i]];
		rc = pt__buf_printf(b, "%s{\"Data\":\"", i ? "," : "");
		if (!rc)
			rc = put_b64(b, m->data.data + r->off, r->len);
		if (!rc)
			rc = pt__buf_printf(b, "\",\"PartitionKey\":\"%.*s\"}", (int)r->klen, r->key);
	}
	if (!rc)
		rc = pt__buf_printf(b, "]}");
	if (rc)
		return rc;
	static const char *const headers[] = {"Content-Type: application/x-amz-json-1.1",
					      "X-Amz-Target: Kinesis_20131202.PutRecords", NULL};
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.method = "POST";
	rq.path = "/";
	rq.headers = headers;
	rq.body = b->data;
	rq.body_len = b->len;
	rq.max_response = (size_t)4 << 20;
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	m->st.requests++;
	rc = pt__http_do(m->http, &rq, &rs);
	if (rc) {
		snprintf(err, errcap, "%s", pt_error_last());
		goto done;
	}
	if (rs.status != 200) {
		answer_error(&rs, err, errcap);
		rc = PT_EIO;
		goto done;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)rs.body.data, rs.body.len, 0, &je);
	json_t *recs = j ? json_object_get(j, "Records") : NULL;
	if (!json_is_array(recs) || json_array_size(recs) != n) {
		snprintf(err, errcap, "Kinesis PutRecords: the answer does not list the %zu records sent", n);
		json_decref(j);
		rc = PT_ECORRUPT;
		goto done;
	}
	const char *first_code = NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(recs, i);
		const char *code = json_string_value(json_object_get(r, "ErrorCode"));
		if (code || !json_is_string(json_object_get(r, "SequenceNumber"))) {
			failed[(*nfailed)++] = idx[i];
			if (!first_code)
				first_code = code ? code : "no SequenceNumber";
		} else {
			m->st.records++;
			m->st.bytes += m->recs[idx[i]].len;
		}
	}
	if (*nfailed)
		snprintf(err, errcap, "Kinesis PutRecords: %zu of %zu records failed (%s)", *nfailed, n, first_code);
	json_decref(j);
done:
	pt__http_resp_clear(&rs);
	return rc;
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int mirror_handler(void *ud, pt_consumer_batch *b)
{
	mirror *m = ud;
	size_t n;
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	char err[512] = "";
	if (n > m->cap) {
		record *nr = pt__realloc(m->recs, n * sizeof *nr);
		size_t *np = nr ? pt__realloc(m->pending, n * sizeof *np) : NULL;
		if (nr)
			m->recs = nr;
		if (np)
			m->pending = np;
		size_t *nx = np ? pt__realloc(m->next, n * sizeof *nx) : NULL;
		if (!nx) {
			pt_consumer_batch_set_error(b, "out of memory");
			return 1;
		}
		m->next = nx;
		m->cap = n;
	}
	m->data.len = 0;
	for (size_t i = 0; i < n; i++)
		if (encode(m, &ev[i], &m->recs[i])) {
			pt_consumer_batch_set_error(b, pt_error_last());
			return 1;
		}
	/* calls within the limits, in order */
	size_t start = 0;
	while (start < n) {
		size_t end = start, bytes = 0;
		while (end < n && end - start < PUT_MAX_RECORDS &&
		       bytes + m->recs[end].len + m->recs[end].klen <= PUT_MAX_BYTES) {
			bytes += m->recs[end].len + m->recs[end].klen;
			end++;
		}
		size_t np = end - start;
		for (size_t i = 0; i < np; i++)
			m->pending[i] = start + i;
		long backoff = 100;
		for (uint32_t attempt = 1;; attempt++) {
			size_t nf = 0;
			int rc = put(m, m->pending, np, m->next, &nf, err, sizeof err);
			if (rc) {
				pt_consumer_batch_set_error(b, err);
				return 1;
			}
			if (!nf)
				break;
			if (attempt >= m->o.max_attempts) {
				pt_consumer_batch_set_error(b, err);
				return 1;
			}
			/* only the records the answer names are sent again */
			m->st.retried += nf;
			memcpy(m->pending, m->next, nf * sizeof *m->pending);
			np = nf;
			nap_ms(backoff);
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
		}
		start = end;
	}
	return 0;
}

static bool kinesis_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

int pt_mirror_kinesis(pt_consumer *c, const pt_mirror_options *opts, pt_mirror_stats *stats)
{
	if (stats)
		memset(stats, 0, sizeof *stats);
	if (!c || !opts)
		return pt__err(PT_EINVAL, "pt_mirror_kinesis: NULL argument");
	if (opts->version != PT_MIRROR_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_mirror_kinesis: options version %u is not supported", opts->version);
	if (!kinesis_name_ok(opts->stream))
		return pt__err(PT_EINVAL, "Kinesis stream name '%s': 1-128 characters from [a-zA-Z0-9_.-]",
			       opts->stream ? opts->stream : "");
	if (opts->format != PT_MIRROR_JSON && opts->format != PT_MIRROR_MSGPACK)
		return pt__err(PT_EINVAL, "mirror format %d: json (0) or msgpack (1)", opts->format);
	if (opts->max_record_bytes < 1024 || opts->max_record_bytes > (1u << 20))
		return pt__err(PT_EINVAL, "max_record_bytes %u: 1 KiB..1 MiB (the API's limit)", opts->max_record_bytes);
	if (opts->max_attempts < 1 || opts->max_attempts > 100)
		return pt__err(PT_EINVAL, "max_attempts %u: 1..100", opts->max_attempts);
	if (opts->endpoint) {
		int rc = pt__endpoint_check(opts->endpoint);
		if (rc)
			return rc;
	}
	mirror m;
	memset(&m, 0, sizeof m);
	m.o = *opts;
	pt__aws_env env = PT_AWS_ENV_INIT;
	int rc = pt__aws_env_load(&env, "kinesis", opts->endpoint, opts->region);
	if (!rc)
		rc = pt__http_new(&m.http, &env, "kinesis", NULL);
	pt__aws_env_clear(&env);
	if (!rc && !(m.kstream = pt__strdup(opts->stream)))
		rc = PT_ENOMEM;
	if (!rc)
		rc = pt_consumer_run(c, mirror_handler, &m);
	if (stats)
		*stats = m.st;
	pt__http_free(m.http);
	pt__free(m.kstream);
	pt__free(m.recs);
	pt__free(m.pending);
	pt__free(m.next);
	pt__buf_free(&m.data);
	pt__buf_free(&m.body);
	return rc;
}
