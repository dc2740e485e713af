/*
 * test_http.c - the HTTP client (base/http.c), AWS configuration discovery
 * (base/awsconf.c) and the XML parser (base/xml.c).
 *
 * The request tests run against tests/remote/fake_s3.py (started by
 * harness.py --fake, which exports PT_TEST_FAKE_ENDPOINT): it recomputes
 * every request's signature with botocore's signer and answers 403 when ours
 * differs, so "200 ok" here means botocore signs the same request the same way.
 */
#include "testutil.h"

#include "base/http_int.h"
#include "base/xml_int.h"

#include <fcntl.h>
#include <unistd.h>

static const char *fake(void)
{
	const char *e = getenv("PT_TEST_FAKE_ENDPOINT");
	if (!e)
		fail_msg("PT_TEST_FAKE_ENDPOINT is not set: run under tests/remote/harness.py --fake");
	return e;
}

static void clear_aws_env(void)
{
	static const char *vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
				     "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
				     "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KINESIS", "AWS_SHARED_CREDENTIALS_FILE",
				     "AWS_CONFIG_FILE"};
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
		unsetenv(vars[i]);
}

static pt__http *client(const char *service, const char *ak, const char *sk, const char *token,
			const pt__http_opts *o)
{
	clear_aws_env();
	setenv("AWS_ACCESS_KEY_ID", ak, 1);
	setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
	if (token)
		setenv("AWS_SESSION_TOKEN", token, 1);
	pt__aws_env env = PT_AWS_ENV_INIT;
	TU_OK(pt__aws_env_load(&env, service, fake(), "eu-west-3"));
	pt__http *c = NULL;
	TU_OK(pt__http_new(&c, &env, service, o));
	pt__aws_env_clear(&env);
	pt__http_test_no_sleep(true);
	return c;
}

static void expect_ok(pt__http *c, pt__http_req *rq, const char *want_suffix)
{
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	TU_OK(pt__http_do(c, rq, &rs));
	TU_OK(pt__buf_append(&rs.body, "", 1));
	if (rs.status != 200)
		fail_msg("%s %s?%s: status %ld: %s", rq->method ? rq->method : "GET", rq->path,
			 rq->query ? rq->query : "", rs.status, (char *)rs.body.data);
	if (strncmp((char *)rs.body.data, "ok ", 3) != 0 && !(rq->method && strcmp(rq->method, "HEAD") == 0))
		fail_msg("unexpected body %s", (char *)rs.body.data);
	if (want_suffix && !strstr((char *)rs.body.data, want_suffix))
		fail_msg("body %s lacks %s", (char *)rs.body.data, want_suffix);
	pt__http_resp_clear(&rs);
}

static int fake_connections(void)
{
	pt__http *c = client("s3", "testing", "testing", NULL, NULL);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = "/stats";
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	TU_OK(pt__http_do(c, &rq, &rs));
	TU_OK(pt__buf_append(&rs.body, "", 1));
	int n = atoi((char *)rs.body.data);
	pt__http_resp_clear(&rs);
	pt__http_free(c);
	return n;
}

/* ---- signatures: botocore agrees -------------------------------------------------------- */
static void signatures_match_botocore_for_s3_requests(void **state)
{
	(void)state;
	pt__http *c = client("s3", "testing", "testing", NULL, NULL);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = "/sig/bucket/a/key-1.ptseg";
	expect_ok(c, &rq, NULL);

	/* a listing's query, canonical (sorted, encoded) */
	pt__http_req q = PT_HTTP_REQ_INIT;
	q.path = "/sig/bucket";
	q.query = "continuation-token=abc%2Bdef%3D&list-type=2&prefix=runs%2Fr1%2F";
	expect_ok(c, &q, NULL);

	/* a create-only PUT of bytes from memory */
	static const char *hdr[] = {"If-None-Match: *", "Content-Type: application/octet-stream", NULL};
	pt__http_req p = PT_HTTP_REQ_INIT;
	p.method = "PUT";
	p.path = "/sig/bucket/objects/ab/cdef";
	p.headers = hdr;
	p.body = "hello world";
	p.body_len = 11;
	/* sha256("hello world") */
	expect_ok(c, &p, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");

	/* a PUT whose body is a range of a file */
	char *dir = tu_tmpdir();
	char *path = tu_path(dir, "body");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "xxhello worldyy", 15), 15);
	pt__http_req f = PT_HTTP_REQ_INIT;
	f.method = "PUT";
	f.path = "/sig/bucket/segments/s1";
	f.body_fd = fd;
	f.body_off = 2;
	f.body_len = 11;
	expect_ok(c, &f, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
	close(fd);

	/* a Range GET, a HEAD, a DELETE, a conditional PUT on an ETag */
	pt__http_req r = PT_HTTP_REQ_INIT;
	r.path = "/sig/bucket/segments/s1";
	r.range_off = 100;
	r.range_len = 50;
	expect_ok(c, &r, "bytes=100-149");
	pt__http_req h = PT_HTTP_REQ_INIT;
	h.method = "HEAD";
	h.path = "/sig/bucket/lease";
	expect_ok(c, &h, NULL);
	pt__http_req d = PT_HTTP_REQ_INIT;
	d.method = "DELETE";
	d.path = "/sig/bucket/lease";
	expect_ok(c, &d, NULL);
	static const char *ifm[] = {"If-Match: \"0123456789abcdef\"", NULL};
	pt__http_req m = PT_HTTP_REQ_INIT;
	m.method = "PUT";
	m.path = "/sig/bucket/lease";
	m.headers = ifm;
	m.body = "{}";
	m.body_len = 2;
	expect_ok(c, &m, NULL);
	pt__http_free(c);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

static void signatures_match_botocore_with_a_session_token_and_kinesis(void **state)
{
	(void)state;
	pt__http *c = client("kinesis", "AKIDTOKEN", "sekrit/with+chars", "tok=en/1", NULL);
	static const char *hdr[] = {"X-Amz-Target: Kinesis_20131202.PutRecords",
				    "Content-Type: application/x-amz-json-1.1", NULL};
	pt__http_req p = PT_HTTP_REQ_INIT;
	p.method = "POST";
	p.path = "/sig/";
	p.headers = hdr;
	const char *json = "{\"StreamName\":\"s\",\"Records\":[]}";
	p.body = json;
	p.body_len = strlen(json);
	expect_ok(c, &p, "Kinesis_20131202.PutRecords");
	pt__http_free(c);

	/* a wrong secret is refused by the checker: the test can fail */
	c = client("s3", "testing", "not-the-secret", NULL, NULL);
	pt__http_req g = PT_HTTP_REQ_INIT;
	g.path = "/sig/bucket/key";
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	TU_OK(pt__http_do(c, &g, &rs));
	assert_int_equal(rs.status, 403);
	pt__http_resp_clear(&rs);
	pt__http_free(c);
}

static void one_connection_is_kept_alive_across_requests(void **state)
{
	(void)state;
	int before = fake_connections();
	pt__http *c = client("s3", "testing", "testing", NULL, NULL);
	for (int i = 0; i < 20; i++) {
		pt__http_req rq = PT_HTTP_REQ_INIT;
		rq.path = "/sig/bucket/k";
		expect_ok(c, &rq, NULL);
	}
	pt__http_free(c);
	int after = fake_connections();
	/* 20 requests on one connection, plus the one fake_connections() made */
	assert_int_equal(after - before, 2);
}

/* ---- retries ---------------------------------------------------------------------------- */
static void a_5xx_is_retried_until_it_passes(void **state)
{
	(void)state;
	pt__http *c = client("s3", "testing", "testing", NULL, NULL);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = "/flaky/2/bucket/k";
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	TU_OK(pt__http_do(c, &rq, &rs));
	assert_int_equal(rs.status, 200);
	assert_int_equal(rs.attempts, 3);
	assert_int_equal(pt__http_stats_of(c)->retries, 2);
	pt__http_resp_clear(&rs);

	/* more failures than retries: the last answer comes back */
	pt__http_opts o = PT_HTTP_OPTS_INIT;
	o.max_retries = 1;
	pt__http *c2 = client("s3", "testing", "testing", NULL, &o);
	rq.path = "/flaky/5/bucket/k";
	TU_OK(pt__http_do(c2, &rq, &rs));
	assert_int_equal(rs.status, 503);
	assert_int_equal(rs.attempts, 2);
	pt__http_resp_clear(&rs);

	/* a throttling 400 is retried; no_retry sends once */
	rq.path = "/throttle/x";
	TU_OK(pt__http_do(c2, &rq, &rs));
	assert_int_equal(rs.status, 400);
	assert_int_equal(rs.attempts, 2);
	rq.no_retry = true;
	TU_OK(pt__http_do(c2, &rq, &rs));
	assert_int_equal(rs.attempts, 1);
	pt__http_resp_clear(&rs);
	pt__http_free(c);
	pt__http_free(c2);
}

static void a_refused_connection_is_an_io_error_naming_the_endpoint(void **state)
{
	(void)state;
	clear_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "testing", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value", 1);
	pt__aws_env env = PT_AWS_ENV_INIT;
	TU_OK(pt__aws_env_load(&env, "s3", "http://127.0.0.1:1", NULL));
	pt__http_opts o = PT_HTTP_OPTS_INIT;
	o.max_retries = 2;
	pt__http *c = NULL;
	TU_OK(pt__http_new(&c, &env, "s3", &o));
	pt__aws_env_clear(&env);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = "/b/k";
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	assert_int_equal(pt__http_do(c, &rq, &rs), PT_EIO);
	assert_non_null(strstr(pt_error_last(), "127.0.0.1:1"));
	assert_non_null(strstr(pt_error_last(), "3 attempts"));
	assert_null(strstr(pt_error_last(), "very-secret-value"));
	pt__http_resp_clear(&rs);
	pt__http_free(c);
}

/* ---- bounded responses -------------------------------------------------------------------- */
static void huge_or_lying_responses_are_clear_errors(void **state)
{
	(void)state;
	pt__http_opts o = PT_HTTP_OPTS_INIT;
	o.max_retries = 1;
	o.max_response = 1 << 20;
	pt__http *c = client("s3", "testing", "testing", NULL, &o);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	pt__http_resp rs = PT_HTTP_RESP_INIT;

	rq.path = "/announce-huge";
	assert_int_equal(pt__http_do(c, &rq, &rs), PT_ELIMIT);
	assert_non_null(strstr(pt_error_last(), "Content-Length"));
	assert_true(rs.body.cap <= (1u << 20) + 65536);

	rq.path = "/endless";
	assert_int_equal(pt__http_do(c, &rq, &rs), PT_ELIMIT);
	assert_true(rs.body.len <= (1u << 20));
	assert_true(rs.body.cap <= 2 * (1u << 20) + 65536);

	/* shorter than announced: a transport error after the retries, never a short "success" */
	rq.path = "/lying-short";
	assert_int_equal(pt__http_do(c, &rq, &rs), PT_EIO);

	/* a download into a file has its own cap */
	char *dir = tu_tmpdir();
	char *path = tu_path(dir, "dl");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	pt__http_req d = PT_HTTP_REQ_INIT;
	d.path = "/endless";
	d.sink_fd = fd;
	d.sink_max = 3 << 20;
	assert_int_equal(pt__http_do(c, &d, &rs), PT_ELIMIT);
	assert_true(rs.sunk <= (3u << 20));
	close(fd);
	pt__http_resp_clear(&rs);
	pt__http_free(c);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

static void a_stalled_answer_times_out(void **state)
{
	(void)state;
	pt__http_opts o = PT_HTTP_OPTS_INIT;
	o.max_retries = 0;
	o.stall_timeout_ms = 1000;
	pt__http *c = client("s3", "testing", "testing", NULL, &o);
	pt__http_req rq = PT_HTTP_REQ_INIT;
	rq.path = "/slow";
	pt__http_resp rs = PT_HTTP_RESP_INIT;
	int64_t t0 = pt_time_now_ns();
	assert_int_equal(pt__http_do(c, &rq, &rs), PT_EIO);
	assert_true(pt_time_now_ns() - t0 < 4500000000LL);
	assert_non_null(strstr(pt_error_last(), "/slow"));
	pt__http_resp_clear(&rs);
	pt__http_free(c);
}

/* ---- configuration discovery ---------------------------------------------------------------- */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void credentials_are_found_like_aws_tools_find_them(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	char *cred = tu_path(dir, "credentials"), *conf = tu_path(dir, "config");
	write_file(cred, "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SKDEF\n"
			 "[work]\naws_access_key_id=AKWORK\naws_secret_access_key=SKWORK\naws_session_token = TKW\n");
	write_file(conf, "[default]\nregion = eu-north-1\n[profile work]\nregion = ap-south-2\n"
			 "endpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n"
			 "[profile onlyconf]\naws_access_key_id = AKCONF\naws_secret_access_key = SKCONF\n");
	pt__aws_env e = PT_AWS_ENV_INIT;

	clear_aws_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	TU_OK(pt__aws_env_load(&e, "s3", NULL, NULL));
	assert_string_equal(e.access_key, "AKDEF");
	assert_string_equal(e.secret_key, "SKDEF");
	assert_null(e.session_token);
	assert_string_equal(e.region, "eu-north-1");
	assert_string_equal(e.endpoint, "https://s3.eu-north-1.amazonaws.com");
	pt__aws_env_clear(&e);

	setenv("AWS_PROFILE", "work", 1);
	TU_OK(pt__aws_env_load(&e, "s3", NULL, NULL));
	assert_string_equal(e.access_key, "AKWORK");
	assert_string_equal(e.session_token, "TKW");
	assert_string_equal(e.region, "ap-south-2");
	assert_string_equal(e.endpoint, "http://127.0.0.1:9000");
	pt__aws_env_clear(&e);

	/* the environment beats the files; the service's endpoint beats the general one */
	setenv("AWS_REGION", "us-west-2", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111/", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2222", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	TU_OK(pt__aws_env_load(&e, "s3", NULL, NULL));
	assert_string_equal(e.access_key, "AKENV");
	assert_string_equal(e.region, "us-west-2");
	assert_string_equal(e.endpoint, "http://127.0.0.1:2222");
	pt__aws_env_clear(&e);
	TU_OK(pt__aws_env_load(&e, "kinesis", NULL, NULL));
	assert_string_equal(e.endpoint, "http://127.0.0.1:1111");
	pt__aws_env_clear(&e);
	/* explicit arguments (a remote's --endpoint/--region) beat everything */
	TU_OK(pt__aws_env_load(&e, "s3", "http://127.0.0.1:3333", "eu-central-1"));
	assert_string_equal(e.endpoint, "http://127.0.0.1:3333");
	assert_string_equal(e.region, "eu-central-1");
	pt__aws_env_clear(&e);

	/* keys only in the config file's profile section */
	clear_aws_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_PROFILE", "onlyconf", 1);
	TU_OK(pt__aws_env_load(&e, "s3", NULL, NULL));
	assert_string_equal(e.access_key, "AKCONF");
	assert_string_equal(e.region, "us-east-1");
	pt__aws_env_clear(&e);

	/* nothing anywhere: a clear error that names where it looked, and no secret */
	setenv("AWS_PROFILE", "nosuch", 1);
	assert_int_equal(pt__aws_env_load(&e, "s3", NULL, NULL), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "nosuch"));
	assert_non_null(strstr(pt_error_last(), cred));
	assert_null(strstr(pt_error_last(), "SKDEF"));

	/* a malformed endpoint */
	setenv("AWS_PROFILE", "work", 1);
	assert_int_equal(pt__aws_env_load(&e, "s3", "ftp://x", NULL), PT_EINVAL);
	assert_int_equal(pt__aws_env_load(&e, "s3", "http://user:pw@127.0.0.1", NULL), PT_EINVAL);
	assert_int_equal(pt__aws_env_load(&e, "s3", "http://127.0.0.1/path", NULL), PT_EINVAL);
	clear_aws_env();
	tu_rmrf(dir);
	free(dir);
	free(cred);
	free(conf);
}

/* ---- XML -------------------------------------------------------------------------------------- */
static void an_s3_listing_parses(void **state)
{
	(void)state;
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<Name>b</Name><IsTruncated>true</IsTruncated>"
			"<Contents><Key>a&amp;b</Key><Size>12</Size></Contents>"
			"<Contents><Key>c</Key><Size>3</Size></Contents>"
			"<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>";
	pt__xml_node *doc = NULL;
	TU_OK(pt__xml_parse(x, strlen(x), &doc));
	assert_string_equal(doc->name, "ListBucketResult");
	assert_string_equal(pt__xml_text(doc, "IsTruncated"), "true");
	int n = 0;
	for (const pt__xml_node *c = doc->child; c; c = c->next)
		if (strcmp(c->name, "Contents") == 0)
			n++;
	assert_int_equal(n, 2);
	assert_string_equal(pt__xml_text(pt__xml_child(doc, "Contents"), "Key"), "a&b");
	assert_null(pt__xml_text(doc, "Nope"));
	pt__xml_free(doc);
}

static void hostile_xml_is_refused_with_bounded_memory(void **state)
{
	(void)state;
	pt__xml_node *doc = NULL;
	const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
			     "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
			     "<l>&c;&c;&c;&c;</l>";
	assert_int_equal(pt__xml_parse(laughs, strlen(laughs), &doc), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "DOCTYPE"));
	const char *ext = "<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><x/>";
	assert_int_equal(pt__xml_parse(ext, strlen(ext), &doc), PT_ECORRUPT);

	pt__buf b = {0};
	for (int i = 0; i < 100; i++)
		TU_OK(pt__buf_printf(&b, "<a>"));
	assert_int_equal(pt__xml_parse(b.data, b.len, &doc), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "deeper"));
	b.len = 0;
	TU_OK(pt__buf_printf(&b, "<r>"));
	for (int i = 0; i < PT_XML_MAX_NODES + 10; i++)
		TU_OK(pt__buf_printf(&b, "<c/>"));
	TU_OK(pt__buf_printf(&b, "</r>"));
	assert_int_equal(pt__xml_parse(b.data, b.len, &doc), PT_ELIMIT);
	b.len = 0;
	TU_OK(pt__buf_printf(&b, "<r>"));
	for (int i = 0; i < PT_XML_MAX_TEXT; i++)
		TU_OK(pt__buf_printf(&b, "x"));
	TU_OK(pt__buf_printf(&b, "y</r>"));
	assert_int_equal(pt__xml_parse(b.data, b.len, &doc), PT_ELIMIT);
	pt__buf_free(&b);

	const char *bad[] = {"", "<a>", "<a></b>", "<a/><b/>", "not xml", "<a>\xff\xfe</a>"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = pt__xml_parse(bad[i], strlen(bad[i]), &doc);
		assert_true(rc == PT_ECORRUPT);
		assert_null(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_s3_listing_parses),
		cmocka_unit_test(hostile_xml_is_refused_with_bounded_memory),
		cmocka_unit_test(credentials_are_found_like_aws_tools_find_them),
		cmocka_unit_test(signatures_match_botocore_for_s3_requests),
		cmocka_unit_test(signatures_match_botocore_with_a_session_token_and_kinesis),
		cmocka_unit_test(one_connection_is_kept_alive_across_requests),
		cmocka_unit_test(a_5xx_is_retried_until_it_passes),
		cmocka_unit_test(a_refused_connection_is_an_io_error_naming_the_endpoint),
		cmocka_unit_test(huge_or_lying_responses_are_clear_errors),
		cmocka_unit_test(a_stalled_answer_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
