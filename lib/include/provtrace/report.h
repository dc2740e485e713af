/*
 * provtrace/report.h - pictures of runs: one self-contained HTML report.
 *
 * Basic outline:
 *   pt_report_options o = PT_REPORT_OPTIONS_INIT;
 *   o.log_scale = 1;
 *   const char *runs[] = {"run-41", "run-42"};
 *   char *html; size_t len;
 *   if (pt_report_html(st, runs, 2, &o, &html, &len) == 0) {
 *       fwrite(html, 1, len, f);
 *       pt_free(html);
 *   }
 *
 * What the page shows (docs/CLI.md, "report"): a chart per metric (x = step,
 * or wall time with `x_time`; one line per stream and per run, the live path
 * solid and each abandoned attempt of a resumed stream faded, starting at its
 * fork; log scale with `log_scale`), the decisions as markers on every chart
 * (change, reason and actor on hover) and in a timeline table, checkpoints as
 * ticks, resumes as a vertical line at the fork step; the params table
 * (values that differ across the given runs highlighted), code provenance,
 * datasets and artifacts, the run status, and the verification result with
 * the chain heads of each stream.
 *
 * The page is one file: inline SVG and CSS, a little inline JavaScript for
 * hover and zoom, a Content-Security-Policy that forbids every request (so
 * it opens offline and loads nothing), and every string from the store
 * (run, stream and metric names, params, reasons, actors) HTML-escaped,
 * with control characters shown as their Unicode control pictures.  Data is
 * never placed inside the script.
 *
 * Cost: one pass over each stream's events (the audit view, so abandoned
 * attempts can be drawn), plus pt_verify_report when `verify` is set.
 * Series are reduced while reading to 1024 buckets per series keeping the
 * minimum and the maximum (and where they were), and drawn with a minimum
 * and a maximum per pixel column, so a spike is never lost and memory does
 * not grow with the run: about 32 KiB per series.  Caps keep a hostile
 * store's page bounded (PT_REPORT_MAX_*): what is left out is counted on
 * the page.
 */
#ifndef PROVTRACE_REPORT_H
#define PROVTRACE_REPORT_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_REPORT_MAX_RUNS 16        /**< runs in one report */
#define PT_REPORT_MAX_METRICS 200    /**< charts (metric names) */
#define PT_REPORT_MAX_SERIES 1024    /**< series over all charts */
#define PT_REPORT_MAX_ROWS 2000      /**< rows of each table (decisions, checkpoints...) per run */

typedef struct {
	unsigned int version;  /**< PT_REPORT_OPTIONS_VERSION */
	int x_time;            /**< 1: x = wall time of the events; 0 (default): x = step */
	int log_scale;         /**< 1: log10 y axis (values <= 0 are left out and counted) */
	int verify;            /**< 1 (default): verify each run (pt_verify_report) and show it */
	unsigned int width;    /**< plot width in pixel columns (default 960; 100..4000) */
	const char *const *metrics; /**< only these metric names (NULL: all) */
	size_t nmetrics;
	const char *title;     /**< page title (NULL: the run names) */
	/** 0 (default): a standalone page.  1: a page for the local UI: the
	 *  policy also allows requests to its own origin (`connect-src 'self'`)
	 *  and the page polls `poll_url` (escaped; relative to the page) every
	 *  second and reloads its charts when the returned text changes. */
	int ui;
	const char *poll_url;
	/** 1: only the charts section (a fragment, no <html>): what the UI swaps in. */
	int charts_only;
	/** With `ui`: the answer `poll_url` gave just before the page was made,
	 *  so that a change between making the page and its first poll is not
	 *  missed (NULL: the first answer is taken as the page's). */
	const char *poll_version;
} pt_report_options;

#define PT_REPORT_OPTIONS_VERSION 1
#define PT_REPORT_OPTIONS_INIT { PT_REPORT_OPTIONS_VERSION, 0, 0, 1, 960, NULL, 0, NULL, 0, NULL, 0, NULL }

/** Initialise `opts` to the defaults.  PT_EINVAL on an unknown version. */
PT_EXTERN int pt_report_options_init(pt_report_options *opts, unsigned int version);

/**
 * Render `nruns` runs (1..PT_REPORT_MAX_RUNS; names as pt_name_check; no
 * repeats) of `st` as one HTML page (UTF-8), described above.  `opts` may be
 * NULL (defaults).
 *
 * `*out` is allocated (pt_free), NUL-terminated, `*out_len` bytes without
 * the NUL (`out_len` may be NULL).  A run that fails verification is still
 * rendered (the page says so); only a failure to read it is an error.
 *
 * Returns 0; PT_EINVAL (NULL arguments, a bad or repeated run name, too many
 * runs, bad options); PT_ENOTFOUND (no such run); PT_ENOMEM; PT_ECORRUPT or
 * an I/O error from reading the log (the message names the run).
 * Thread rules: reads only; any number of calls may run at once on one
 * store handle.
 */
PT_EXTERN int pt_report_html(const pt_store *st, const char *const *runs, size_t nruns,
			     const pt_report_options *opts, char **out, size_t *out_len);

/**
 * The HTML-escaped form of `n` bytes of UTF-8 text `s`, as a new string (`&`, `<`, `>`, `"`, `'` as character references, C0
 * control characters other than tab and newline, and DEL, as their Unicode
 * control pictures U+2400..U+2421, bytes that are not UTF-8 as U+FFFD).
 * The escaping every page of the report and the UI uses.  `*out` allocated
 * (pt_free).  Returns 0, PT_EINVAL, PT_ENOMEM.
 */
PT_EXTERN int pt_html_escape(const char *s, size_t n, char **out);

#ifdef __cplusplus
}
#endif
#endif
