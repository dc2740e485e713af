/*
 * provtrace/ui.h - a local, read-only web UI over a store.
 *
 * Basic outline:
 *   pt_ui_options o = PT_UI_OPTIONS_INIT;         // 127.0.0.1, a free port
 *   pt_ui *ui;
 *   if (pt_ui_start(&ui, "/data/.provtrace", &o) == 0) {
 *       printf("%s\n", pt_ui_url(ui));            // http://127.0.0.1:PORT/
 *       ... wait for a signal ...
 *       pt_ui_stop(ui);
 *   }
 *
 * Pages (docs/CLI.md, "ui"):
 *   /                the runs, with a `--where` query box and a sort box
 *                    (pt_runs_query_json; with both empty, the plain listing
 *                    pt_store_runs_json), links to each run's report and a
 *                    comparison of the runs ticked;
 *   /report?run=R[&run=R2...][&x=time][&log=1][&metric=M...][&verify=0]
 *                    the page pt_report_html makes, whose charts reload when
 *                    the runs change (it polls /api/version every second,
 *                    as `log -f` follows a stream, and fetches the charts
 *                    again - `&part=charts` - when the answer changes);
 *   /api/runs?where=&sort=&limit=   the listing as JSON;
 *   /api/version?run=R...           one text line per stream: what changed.
 *
 * Served with libmicrohttpd on its own threads.  The UI never writes the
 * store: not its history, and not the run summaries' cache (`RUN/.summary`)
 * that `provtrace runs --where` refreshes — a query from the UI computes the
 * summaries it lacks and does not save them.
 * Every request is validated: only GET and HEAD, only the paths above (no
 * file is served, so no path can reach one), run names checked with
 * pt_name_check, at most PT_REPORT_MAX_RUNS runs, the Host header must name
 * the address the UI listens on (a page on another site cannot reach a
 * loopback UI through DNS rebinding), and every text from a request or the
 * store is escaped.  Responses carry a Content-Security-Policy that allows
 * requests to the UI's own origin only.
 */
#ifndef PROVTRACE_UI_H
#define PROVTRACE_UI_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	unsigned int version; /**< PT_UI_OPTIONS_VERSION */
	const char *bind;     /**< numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
	unsigned int port;    /**< 0 (default): a free port chosen by the system */
	/** 1: a non-loopback `bind` is accepted (anyone who can connect can read
	 *  every run of the store: there is no authentication).  0 (default):
	 *  such an address is PT_EINVAL. */
	int allow_remote;
	unsigned int threads; /**< threads answering requests (default 4; 1..64) */
} pt_ui_options;

#define PT_UI_OPTIONS_VERSION 1
#define PT_UI_OPTIONS_INIT { PT_UI_OPTIONS_VERSION, NULL, 0, 0, 4 }

/** Initialise `opts` to the defaults.  PT_EINVAL on an unknown version. */
PT_EXTERN int pt_ui_options_init(pt_ui_options *opts, unsigned int version);

typedef struct pt_ui pt_ui;

/**
 * Open the store at `store_path` and start serving it (on threads of the
 * server; this returns once the socket listens).  `opts` NULL: defaults.
 * Returns 0; PT_EINVAL (bad options, an address that is not numeric, a
 * non-loopback address without `allow_remote`, port > 65535); PT_ENOTFOUND
 * (no store there); PT_EIO (the address or port cannot be bound: the
 * message says why).  `*out`: pt_ui_stop.
 */
PT_EXTERN int pt_ui_start(pt_ui **out, const char *store_path, const pt_ui_options *opts);

/** The port it listens on (the one chosen when 0 was asked). */
PT_EXTERN unsigned int pt_ui_port(const pt_ui *ui);

/** Its address as a URL, "http://127.0.0.1:PORT/" (borrowed, valid until pt_ui_stop). */
PT_EXTERN const char *pt_ui_url(const pt_ui *ui);

/** 1 if it listens on an address other hosts can reach (not loopback). */
PT_EXTERN int pt_ui_is_remote(const pt_ui *ui);

/** Stop serving (waits for the requests being answered) and free.  NULL is a no-op. */
PT_EXTERN void pt_ui_stop(pt_ui *ui);

#ifdef __cplusplus
}
#endif
#endif
