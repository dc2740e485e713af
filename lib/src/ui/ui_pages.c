/* ui/ui_pages.c - what the local UI answers: the run list, reports, and the JSON/text behind them. */
#include "ui/ui_int.h"

#include "provtrace/report.h"
#include "provtrace/runs.h"

#include "format/json_int.h"
#include "report/report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *arg(const pt__ui_req *r, const char *key)
{
	for (size_t i = 0; i < r->nargs; i++)
		if (!strcmp(r->keys[i], key))
			return r->vals[i];
	return NULL;
}

static size_t args(const pt__ui_req *r, const char *key, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nargs; i++)
		if (!strcmp(r->keys[i], key) && n < max + 1) {
			if (n < max)
				out[n] = r->vals[i];
			n++;
		}
	return n; /* max + 1: too many */
}

static int put(pt__ui_resp *o, const char *s)
{
	return pt__buf_append(&o->body, s, strlen(s)) ? PT_ENOMEM : 0;
}

/* A short page for an error: the message is text (escaped), never markup. */
static int error_page(pt__ui_resp *o, int status, const char *msg)
{
	o->status = status;
	o->type = "text/html; charset=utf-8";
	o->body.len = 0;
	char head[64];
	snprintf(head, sizeof head, "%d", status);
	if (put(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>provtrace ui: ") ||
	    put(o, head) ||
	    put(o, "</title></head><body><h1>") || put(o, head) || put(o, "</h1><p>") ||
	    pt__html_text(&o->body, msg, strlen(msg)) || put(o, "</p><p><a href=\"./\">the runs</a></p></body></html>\n"))
		return PT_ENOMEM;
	return 0;
}

static int json_error(pt__ui_resp *o, int status, const char *msg)
{
	o->status = status;
	o->type = "application/json";
	o->body.len = 0;
	if (put(o, "{\"error\":") || pt__json_string(&o->body, msg, strlen(msg)) || put(o, "}\n"))
		return PT_ENOMEM;
	return 0;
}

static int lib_status(int rc)
{
	return rc == PT_ENOTFOUND ? 404 : rc == PT_EINVAL ? 400 : 500;
}

/* ---- / : the runs --------------------------------------------------------------------------------- */

static const char INDEX[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width\"><title>provtrace ui</title>\n<style>"
	"body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#222}"
	"h1{font-size:1.4em}form{margin:.5em 0}input[type=text]{font:13px monospace;padding:3px}"
	"#where{width:50%}#sort{width:14em}table{border-collapse:collapse;font-size:13px;margin-top:.5em}"
	"td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f5f5f5;"
	"cursor:pointer}td.n{text-align:right}.err{color:#c00;white-space:pre-wrap;font-family:monospace}"
	".note{color:#777;font-size:12px}.st-running{color:#0550ae}.st-failed,.st-crashed{color:#c00}"
	".st-finished{color:#1a7f37}code{font-size:12px}"
	"</style></head>\n<body>\n<h1>provtrace runs</h1>\n"
	"<form id=\"q\"><label>where <input type=\"text\" id=\"where\" name=\"where\" "
	"placeholder=\"min.loss &lt; 0.1 and params.lr &gt;= 1e-4\" spellcheck=\"false\"></label> "
	"<label>sort <input type=\"text\" id=\"sort\" name=\"sort\" placeholder=\"-started\" spellcheck=\"false\"></label> "
	"<button type=\"submit\">query</button> <button type=\"button\" id=\"cmp\">compare ticked</button></form>\n"
	"<div id=\"err\" class=\"err\"></div><div id=\"count\" class=\"note\"></div>\n"
	"<table id=\"runs\"><thead><tr><th></th><th data-k=\"run\">run</th><th data-k=\"status\">status</th>"
	"<th data-k=\"started\">started</th><th data-k=\"duration\">duration</th><th data-k=\"events\">events</th>"
	"<th>streams</th><th>params</th><th>metrics (last)</th></tr></thead><tbody></tbody></table>\n"
	"<p class=\"note\">Read-only.  The query grammar is that of <code>provtrace runs --where</code>: "
	"<code>params.NAME</code>, <code>last.M</code>, <code>min.M</code>, <code>max.M</code>, <code>tags.K</code>, "
	"<code>status</code>, <code>code.commit</code>, <code>started</code> with == != &lt; &lt;= &gt; &gt;= and, or, "
	"not, ( ).</p>\n"
	"<script>(function(){'use strict';"
	"var q=new URLSearchParams(location.search),W=document.getElementById('where'),S=document.getElementById('sort');"
	"W.value=q.get('where')||'';S.value=q.get('sort')||'';"
	"function td(tr,t,c){var e=document.createElement('td');e.textContent=t==null?'':String(t);if(c)e.className=c;"
	"tr.appendChild(e);return e;}"
	"function kv(o,n){var a=[];for(var k in o){if(a.length>=n){a.push('…');break;}var v=o[k];"
	"if(v&&typeof v==='object'&&'last' in v)v=v.last;a.push(k+'='+(typeof v==='string'?v:JSON.stringify(v)));}"
	"return a.join('  ');}"
	"function rows(d){if(Array.isArray(d))return d.map(function(r){var st=r.streams||[],w=st.some(function(s){"
	"return s.writer_active;}),t0=null,t1=null;st.forEach(function(s){if(s.time_first&&(!t0||s.time_first<t0))"
	"t0=s.time_first;if(s.time_last&&(!t1||s.time_last>t1))t1=s.time_last;});return{run:r.run,status:w?'running':'',"
	"started:t0,duration:t0&&t1?(Date.parse(t1)-Date.parse(t0))/1e3:null,events:r.events,"
	"streams:st.map(function(s){return s.stream;}),params:{},metrics:{}};});"
	"return d.runs.map(function(r){return{run:r.run,status:r.status,started:r.started,duration:r.duration_s,"
	"events:r.events,streams:r.streams||[],params:r.params||{},metrics:r.metrics||{}};});}"
	"function load(){var p=new URLSearchParams();if(W.value)p.set('where',W.value);if(S.value)p.set('sort',S.value);"
	"history.replaceState(null,'','?'+p.toString());"
	"fetch('api/runs?'+p.toString(),{cache:'no-store'}).then(function(r){return r.json().then(function(j){"
	"return{ok:r.ok,j:j};});}).then(function(x){var E=document.getElementById('err'),"
	"B=document.querySelector('#runs tbody');if(!x.ok){E.textContent=x.j.error||'error';return;}E.textContent='';"
	"var rs=rows(x.j);document.getElementById('count').textContent=rs.length+' runs'+"
	"(x.j.total!=null?' of '+x.j.total:'')+(x.j.errors&&x.j.errors.length?', '+x.j.errors.length+' unreadable':'');"
	"var keep={};B.querySelectorAll('input:checked').forEach(function(c){keep[c.value]=1;});"
	"B.textContent='';rs.forEach(function(r){var tr=document.createElement('tr'),c=document.createElement('input');"
	"c.type='checkbox';c.value=r.run;c.checked=!!keep[r.run];td(tr,'').appendChild(c);"
	"var a=document.createElement('a');a.href='report?run='+encodeURIComponent(r.run);a.textContent=r.run;"
	"td(tr,'').appendChild(a);td(tr,r.status,'st-'+r.status);td(tr,r.started);"
	"td(tr,r.duration==null?'':(+r.duration).toFixed(1)+' s','n');td(tr,r.events,'n');"
	"td(tr,r.streams.join(' '));td(tr,kv(r.params,6));td(tr,kv(r.metrics,4));B.appendChild(tr);});})"
	".catch(function(e){document.getElementById('err').textContent=String(e);});}"
	"document.getElementById('q').addEventListener('submit',function(e){e.preventDefault();load();});"
	"document.querySelectorAll('th[data-k]').forEach(function(h){h.addEventListener('click',function(){"
	"var k=h.dataset.k;S.value=S.value===k?'-'+k:k;load();});});"
	"document.getElementById('cmp').addEventListener('click',function(){var p=new URLSearchParams();"
	"document.querySelectorAll('#runs tbody input:checked').forEach(function(c){p.append('run',c.value);});"
	"if(p.toString())location.href='report?'+p.toString();});"
	"load();setInterval(function(){if(!document.hidden)load();},5000);"
	"})();</script>\n</body></html>\n";

static int page_index(pt__ui_resp *o)
{
	o->status = 200;
	o->type = "text/html; charset=utf-8";
	return put(o, INDEX);
}

/* ---- /api/runs ------------------------------------------------------------------------------------- */

static int api_runs(const pt_store *st, const pt__ui_req *req, pt__ui_resp *o)
{
	const char *where = arg(req, "where"), *sort = arg(req, "sort"), *limit_s = arg(req, "limit");
	if (where && !*where)
		where = NULL;
	if (sort && !*sort)
		sort = NULL;
	size_t limit = 0;
	if (limit_s && *limit_s) {
		char *end = NULL;
		unsigned long long v = strtoull(limit_s, &end, 10);
		if (*end || limit_s[0] == '-' || v > 1000000)
			return json_error(o, 400, "limit: a number of runs (0 for all) is expected");
		limit = (size_t)v;
	}
	char *json = NULL;
	size_t len = 0;
	int rc;
	/* the plain listing reads only the streams' headers; a query answers from the run summaries */
	if (!where && !sort && !limit)
		rc = pt_store_runs_json(st, &json, &len, NULL);
	else if (!(rc = pt_runs_query_json(st, where, sort, limit, &json)))
		len = strlen(json);
	if (rc == PT_ENOMEM)
		return rc;
	if (rc)
		return json_error(o, lib_status(rc), pt_error_last());
	o->status = 200;
	o->type = "application/json";
	rc = pt__buf_append(&o->body, json, len) ? PT_ENOMEM : 0;
	pt_free(json);
	return rc;
}

/* ---- /report and /api/version ------------------------------------------------------------------------- */

static int version_text(const pt_store *st, const char *const *runs, size_t n, pt__buf *out);

/* The runs of a request: 1..PT_REPORT_MAX_RUNS valid names.  0 or the error response written. */
static int req_runs(const pt__ui_req *req, const char **runs, size_t *n, pt__ui_resp *o, bool json, int *done)
{
	*done = 1;
	*n = args(req, "run", runs, PT_REPORT_MAX_RUNS);
	if (!*n)
		return json ? json_error(o, 400, "say which run: ?run=NAME") : error_page(o, 400, "Say which run: ?run=NAME.");
	if (*n > PT_REPORT_MAX_RUNS) {
		char m[96];
		snprintf(m, sizeof m, "At most %d runs can be shown at once.", PT_REPORT_MAX_RUNS);
		return json ? json_error(o, 400, m) : error_page(o, 400, m);
	}
	for (size_t i = 0; i < *n; i++)
		if (pt_name_check("run", runs[i]))
			return json ? json_error(o, 400, pt_error_last()) : error_page(o, 400, pt_error_last());
	*done = 0;
	return 0;
}

static int page_report(const pt_store *st, const pt__ui_req *req, pt__ui_resp *o)
{
	const char *runs[PT_REPORT_MAX_RUNS];
	size_t n = 0;
	int done, rc = req_runs(req, runs, &n, o, false, &done);
	if (rc || done)
		return rc;
	const char *metrics[64];
	size_t nm = args(req, "metric", metrics, 64);
	if (nm > 64)
		return error_page(o, 400, "At most 64 metric= arguments.");
	const char *x = arg(req, "x"), *lg = arg(req, "log"), *part = arg(req, "part"), *ver = arg(req, "verify");
	if ((x && strcmp(x, "step") && strcmp(x, "time")) || (lg && strcmp(lg, "0") && strcmp(lg, "1")) ||
	    (part && strcmp(part, "charts")) || (ver && strcmp(ver, "0") && strcmp(ver, "1")))
		return error_page(o, 400, "x= is step or time; log= and verify= are 0 or 1; part= is charts.");
	/* the poll URL names the same runs (their names are [A-Za-z0-9._-]: nothing to encode) */
	pt__buf poll = {0};
	if (pt__buf_append(&poll, "api/version?", 12))
		return PT_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (pt__buf_printf(&poll, "%srun=%s", i ? "&" : "", runs[i])) {
			pt__buf_free(&poll);
			return PT_ENOMEM;
		}
	/* the version first: a change made while the page is made shows on its first poll */
	pt__buf version = {0};
	rc = version_text(st, runs, n, &version);
	if (rc) {
		pt__buf_free(&poll);
		pt__buf_free(&version);
		return rc == PT_ENOMEM ? rc : error_page(o, lib_status(rc), pt_error_last());
	}
	pt_report_options ro = PT_REPORT_OPTIONS_INIT;
	ro.poll_version = (const char *)version.data;
	ro.x_time = x && !strcmp(x, "time");
	ro.log_scale = lg && !strcmp(lg, "1");
	ro.charts_only = part != NULL;
	ro.verify = !ro.charts_only && !(ver && !strcmp(ver, "0"));
	ro.metrics = nm ? metrics : NULL;
	ro.nmetrics = nm;
	ro.ui = 1;
	ro.poll_url = (const char *)poll.data;
	char *html = NULL;
	size_t len = 0;
	rc = pt_report_html(st, runs, n, &ro, &html, &len);
	pt__buf_free(&poll);
	pt__buf_free(&version);
	if (rc == PT_ENOMEM)
		return rc;
	if (rc)
		return error_page(o, lib_status(rc), pt_error_last());
	o->status = 200;
	o->type = "text/html; charset=utf-8";
	rc = pt__buf_append(&o->body, html, len) ? PT_ENOMEM : 0;
	pt_free(html);
	return rc;
}

/* One line per stream: what a change in the runs changes.  Cheap: the streams' chains and headers.
 * Returns 0, PT_ENOMEM, or the error of a missing run (message set). */
static int version_text(const pt_store *st, const char *const *runs, size_t n, pt__buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[i], &streams, &ns)))
			return rc;
		for (size_t k = 0; k < ns && !rc; k++) {
			pt_stream_info si;
			memset(&si, 0, sizeof si);
			if (pt_stream_stat(st, runs[i], streams[k], &si))
				rc = pt__buf_printf(out, "%s %s unreadable\n", runs[i], streams[k]) ? PT_ENOMEM : 0;
			else
				rc = pt__buf_printf(out, "%s %s %llu %lld %u\n", runs[i], streams[k],
						    (unsigned long long)si.seq_last, (long long)si.time_max,
						    si.writer_active)
					     ? PT_ENOMEM
					     : 0;
		}
		pt_strv_free(streams, ns);
	}
	if (!rc && pt__buf_reserve(out, 1))
		rc = PT_ENOMEM;
	if (!rc)
		out->data[out->len] = 0;
	return rc;
}

static int api_version(const pt_store *st, const pt__ui_req *req, pt__ui_resp *o)
{
	const char *runs[PT_REPORT_MAX_RUNS];
	size_t n = 0;
	int done, rc = req_runs(req, runs, &n, o, true, &done);
	if (rc || done)
		return rc;
	o->status = 200;
	o->type = "text/plain; charset=utf-8";
	rc = version_text(st, runs, n, &o->body);
	if (rc && rc != PT_ENOMEM)
		return json_error(o, lib_status(rc), pt_error_last());
	return rc;
}

int pt__ui_route(const pt_store *st, const pt__ui_req *req, pt__ui_resp *o)
{
	o->status = 500;
	o->type = "text/plain; charset=utf-8";
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return error_page(o, 405, "This UI is read-only: only GET and HEAD are answered.");
	if (req->too_many)
		return error_page(o, 400, "Too many query arguments.");
	const char *p = req->path;
	if (!strcmp(p, "/"))
		return page_index(o);
	if (!strcmp(p, "/report"))
		return page_report(st, req, o);
	if (!strcmp(p, "/api/runs"))
		return api_runs(st, req, o);
	if (!strcmp(p, "/api/version"))
		return api_version(st, req, o);
	/* the path is not repeated back: nothing a link could make the page say */
	return error_page(o, 404, "No such page.");
}
