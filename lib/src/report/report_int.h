/*
 * report/report_int.h - what a report shows, read from the store
 * (report_model.c), and the HTML writer over it (report_html.c).
 * Private to the library.
 *
 * The model is bounded whatever the run's length: a metric series is kept
 * as PT__RB buckets of consecutive keys (step or time), each holding its
 * minimum and maximum and where they were; when a key falls outside the
 * buckets' window, the bucket width doubles and neighbours merge (a merge
 * of minima and maxima is exact), so the extremes of every stretch of the
 * series survive to the pixel columns the writer draws.
 */
#ifndef PT_REPORT_INT_H
#define PT_REPORT_INT_H

#include "provtrace/checkpoint.h"
#include "provtrace/code.h"
#include "provtrace/report.h"
#include "provtrace/verify.h"

#include "base/base_int.h"

#include <string.h>

#define PT__RB 1024           /* buckets per series */
#define PT__RTEXT_MAX 2000    /* bytes of one text shown (a reason, a value): longer ones are cut */
#define PT__RPROBLEMS 20      /* verification problems listed per run */
#define PT__RSPLIT_MIN 1000000 /* a stream this long is read in two halves on two threads */
#define PT__RKEY_MAX ((int64_t)1 << 62) /* metric keys (step or ns) drawn: within +-this */

typedef struct {
	double vmin, vmax;
	int64_t kmin, kmax;
	uint32_t n;
} pt__rbucket;

typedef struct {
	size_t run;           /* index in pt__report.runs */
	size_t stream;        /* index in that run's streams */
	size_t metric;        /* index in pt__report.metrics */
	int64_t part;         /* -1: the live path; else the lineage of an abandoned attempt */
	int64_t b0, width;    /* bucket i holds keys [(b0 + i) * width, (b0 + i + 1) * width) */
	pt__rbucket *b;       /* PT__RB buckets */
	uint64_t n, skipped;  /* points kept; points left out (NaN, infinite, <= 0 on a log scale) */
	int64_t kmin, kmax;
	double vmin, vmax;
} pt__rseries;

typedef struct {
	size_t stream;
	uint64_t seq;
	int64_t step, time;
	bool live;
	char *name, *set, *reason, *actor; /* NULL when absent; set: JSON text */
} pt__rdecision;

typedef struct {
	size_t stream;
	int64_t step, time;
	bool live;
	char *name, *manifest;
	uint64_t logical_bytes;
} pt__rckpt;

typedef struct {
	size_t stream;
	int64_t step, time; /* of the `lineage` event */
	int64_t lineage, parent, from_step;
} pt__rfork;

typedef struct {
	size_t stream;
	char *name, *value; /* value: JSON text (the last `param` event of that name) */
} pt__rparam;

typedef struct {
	size_t stream;
	int64_t step, time;
	char *kind, *name, *detail;
} pt__rartifact;

typedef struct {
	char *name;
	pt_stream_info info;
	char head[PT_SHA256_HEX]; /* newest sealed segment ("" if none) */
	uint64_t head_last_seq;
	size_t lineages;
	bool open_tail;           /* events after the chain's last seal, without a writer */
	int end;                  /* the last session: 0 no `run_end` (yet), 1 finished, 2 failed */
} pt__rstream;

#define PT__VEC(T) struct { T *v; size_t n, cap, total; }

typedef struct {
	char *name;
	pt__rstream *streams;
	size_t nstreams;
	PT__VEC(pt__rdecision) dec;
	PT__VEC(pt__rckpt) ck;
	PT__VEC(pt__rfork) fork;
	PT__VEC(pt__rparam) par;
	PT__VEC(pt__rartifact) art;
	const char *status;      /* running, finished, failed, crashed, empty (static) */
	bool has_code;
	size_t code_stream;
	pt_code_provenance *code;
	uint64_t events;
	int64_t tmin, tmax;
	/* verification */
	bool verified;
	int verify_rc;           /* pt_verify_report's return */
	char *verify_error;      /* its message when it could not run */
	pt_verify_stats vstats;
	char *problems[PT__RPROBLEMS];
	size_t nproblems;
} pt__rrun;

typedef struct {
	pt_report_options o;
	pt__rrun *runs;
	size_t nruns;
	pt__rseries *series;
	size_t nseries, scap;
	uint64_t series_dropped; /* metric points of series over PT_REPORT_MAX_SERIES */
	char **metrics;
	size_t nmetrics;
	uint64_t metrics_dropped;
} pt__report;

/* Read `runs` into `r` (zeroed by the caller, options set).  Errors name the run. */
int pt__report_collect(pt__report *r, const pt_store *st, const char *const *runs, size_t nruns);
void pt__report_free(pt__report *r);

/* The page (or the charts fragment) for a collected report, appended to `out`. */
int pt__report_write(const pt__report *r, pt__buf *out);

/* HTML-escaped text appended to `out` (see pt_html_escape). */
int pt__html_text(pt__buf *out, const char *s, size_t n);
static inline int pt__html_str(pt__buf *out, const char *s) { return pt__html_text(out, s ? s : "", s ? strlen(s) : 0); }

#endif
