/* ui/ui_http.c - the UI's HTTP server: libmicrohttpd (the one file that includes <microhttpd.h>). */
#include "ui/ui_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct pt_ui {
	struct MHD_Daemon *d;
	pt_store *st;
	unsigned int port;
	int remote;
	char url[96];
	char hosts[3][80]; /* Host header values accepted ("" unused); all when remote */
};

/* Content-Security-Policy of every answer: the UI's own origin only, nothing from anywhere else. */
static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
			  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'self'; "
			  "frame-ancestors 'none'";

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	pt__ui_req *r = cls;
	if (r->nargs == PT__UI_MAX_ARGS) {
		r->too_many = true;
		return MHD_NO;
	}
	r->keys[r->nargs] = key ? key : "";
	r->vals[r->nargs] = value ? value : "";
	r->nargs++;
	return MHD_YES;
}

static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *type, const void *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result r = MHD_queue_response(c, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)version;
	(void)upload_data;
	pt_ui *ui = cls;
	if (!*con_cls) {
		/* the first call has the headers only: a request with a body is refused right away */
		*con_cls = (void *)1;
		if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			static const char m[] = "This UI is read-only: only GET and HEAD are answered.\n";
			return respond(c, 405, "text/plain; charset=utf-8", m, sizeof m - 1);
		}
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: the body is ignored */
		return MHD_YES;
	}
	if (!ui->remote) {
		/* a page elsewhere that makes a name resolve to 127.0.0.1 (DNS rebinding) sends its own name */
		const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
		bool ok = false;
		for (int i = 0; host && i < 3 && !ok; i++)
			ok = ui->hosts[i][0] && !strcasecmp(host, ui->hosts[i]);
		if (!ok) {
			static const char m[] = "Host not accepted: use the address the UI printed.\n";
			return respond(c, 421, "text/plain; charset=utf-8", m, sizeof m - 1);
		}
	}
	pt__ui_req req;
	memset(&req, 0, sizeof req);
	req.method = method;
	req.path = url;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, &req);
	pt__ui_resp out;
	memset(&out, 0, sizeof out);
	int rc = pt__ui_route(ui->st, &req, &out);
	enum MHD_Result r;
	if (rc) {
		static const char m[] = "Out of memory.\n";
		r = respond(c, 503, "text/plain; charset=utf-8", m, sizeof m - 1);
	} else {
		r = respond(c, out.status, out.type, out.body.data ? (const void *)out.body.data : "", out.body.len);
	}
	pt__buf_free(&out.body);
	return r;
}

int pt_ui_options_init(pt_ui_options *opts, unsigned int version)
{
	if (!opts || version != PT_UI_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_ui_options_init: unknown version %u", version);
	pt_ui_options d = PT_UI_OPTIONS_INIT;
	*opts = d;
	return 0;
}

int pt_ui_start(pt_ui **out, const char *store_path, const pt_ui_options *opts)
{
	if (!out || !store_path)
		return pt__err(PT_EINVAL, "pt_ui_start: NULL argument");
	*out = NULL;
	pt_ui_options o = PT_UI_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_UI_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_ui_start: options version %u is not supported", opts->version);
		o = *opts;
	}
	if (o.port > 65535)
		return pt__err(PT_EINVAL, "pt_ui_start: port %u is not a TCP port (0..65535)", o.port);
	if (o.threads < 1 || o.threads > 64)
		return pt__err(PT_EINVAL, "pt_ui_start: %u threads (1..64)", o.threads);
	const char *bind = o.bind && *o.bind ? o.bind : "127.0.0.1";
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	bool v6 = false, loopback;
	if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)o.port);
		loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
		v6 = true;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)o.port);
		loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	} else {
		return pt__err(PT_EINVAL, "pt_ui_start: bind address \"%.64s\" is not a numeric IPv4 or IPv6 address",
			       bind);
	}
	if (!loopback && !o.allow_remote)
		return pt__err(PT_EINVAL, "pt_ui_start: %s is not a loopback address: other hosts could read every run "
					  "of the store (there is no authentication); allow it explicitly (allow_remote, "
					  "--allow-remote)",
			       bind);
	pt_ui *ui = pt__calloc(1, sizeof *ui);
	if (!ui)
		return PT_ENOMEM;
	int rc = pt_store_open(&ui->st, store_path);
	if (rc) {
		pt__free(ui);
		return rc;
	}
	ui->st->read_only = true; /* the UI never writes the store, not even a summary cache */
	ui->remote = !loopback;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0);
	ui->d = MHD_start_daemon(flags, (uint16_t)o.port, NULL, NULL, on_request, ui, MHD_OPTION_SOCK_ADDR,
				 (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o.threads,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT,
				 (unsigned int)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
	if (!ui->d) {
		pt_store_free(ui->st);
		pt__free(ui);
		return pt__err(PT_EIO, "cannot listen on %s port %u (in use, or not an address of this host)", bind,
			       o.port);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(ui->d, MHD_DAEMON_INFO_BIND_PORT);
	ui->port = info ? info->port : o.port;
	snprintf(ui->url, sizeof ui->url, v6 ? "http://[%s]:%u/" : "http://%s:%u/", bind, ui->port);
	snprintf(ui->hosts[0], sizeof ui->hosts[0], v6 ? "[%s]:%u" : "%s:%u", bind, ui->port);
	if (loopback) {
		snprintf(ui->hosts[1], sizeof ui->hosts[1], "localhost:%u", ui->port);
		snprintf(ui->hosts[2], sizeof ui->hosts[2], v6 ? "127.0.0.1:%u" : "[::1]:%u", ui->port);
	}
	*out = ui;
	return 0;
}

unsigned int pt_ui_port(const pt_ui *ui)
{
	return ui ? ui->port : 0;
}

const char *pt_ui_url(const pt_ui *ui)
{
	return ui ? ui->url : "";
}

int pt_ui_is_remote(const pt_ui *ui)
{
	return ui ? ui->remote : 0;
}

void pt_ui_stop(pt_ui *ui)
{
	if (!ui)
		return;
	if (ui->d)
		MHD_stop_daemon(ui->d);
	pt_store_free(ui->st);
	pt__free(ui);
}
