/*
 * runs/runs_int.h - the set of runs: per-run summaries (summary.c), the
 * `--where` expression language (expr.c), queries and comparison over the
 * summaries (query.c, compare.c).  Private to the library.
 *
 * A run summary is what a query needs of a run without reading its events
 * again: per stream, the params in effect, each metric's last/min/max on
 * the live path, tags, the note, the code commit, how it ended, the
 * decisions taken.  summary.c keeps one file per run (`RUN/.summary`,
 * docs/FORMAT.md) and brings it up to date from the events appended since.
 */
#ifndef PT_RUNS_INT_H
#define PT_RUNS_INT_H

#include "base/base_int.h"
#include "provtrace/runs.h"

/* An open-addressing index of names over an array (a map keeps its order of insertion). */
typedef struct {
	char **keys;      /* keys[i]: NUL-terminated, owned */
	size_t n, cap;
	uint32_t *slots;  /* index + 1; 0 empty */
	size_t nslots;
} pt__rs_names;

typedef struct {
	uint8_t *val;     /* msgpack value (params) or string (tags) */
	size_t len;
	int64_t time;     /* time of the event that set it */
} pt__rs_val;

typedef struct {
	double last, min, max; /* min/max over non-NaN values (has_range: any) */
	int64_t last_step, last_time;
	uint64_t n;
	bool has_range;
} pt__rs_metric;

enum { PT_RS_END_NONE = 0, PT_RS_END_FINISHED = 1, PT_RS_END_FAILED = 2 };

#define PT_RS_DECISIONS_KEPT 100
#define PT_RS_FP_MAX 192

typedef struct {
	char *name;
	char fp[PT_RS_FP_MAX];   /* pt__history_fingerprint when summarised */
	int writer;              /* a writer holds the lock now (not stored) */
	uint64_t seq;            /* last event summarised (0: none) */
	int64_t seq_time;        /* its time: checked before appending to the summary */
	uint64_t events;         /* events on the live path (snapshots aside) */
	int64_t t0, t1;          /* min and max event time (0 if no events) */
	int64_t step_max;        /* PT_NO_STEP if none */
	uint64_t lineages;       /* 1 + lineage events */
	uint64_t decisions_total;
	pt__rs_names pnames, mnames, tnames;
	pt__rs_val *params;      /* by pnames index */
	pt__rs_metric *metrics;  /* by mnames index */
	pt__rs_val *tags;        /* by tnames index */
	char *note;
	int64_t note_time;
	int has_code;
	char *commit;            /* NULL: none recorded */
	int dirty;               /* 1, 0, -1 unknown */
	int end;                 /* PT_RS_END_* of the last session */
	char *err_type, *err_msg;
	int64_t end_time;
	pt__buf dec;             /* up to PT_RS_DECISIONS_KEPT encoded decision maps, concatenated */
	uint32_t ndec;
} pt__rs_stream;

typedef struct {
	char *run;
	pt__rs_stream *s;
	size_t n;
} pt__rs_run;

/* Names */
int pt__rs_names_add(pt__rs_names *m, const char *key, size_t klen, size_t *idx, bool *created);
long pt__rs_names_find(const pt__rs_names *m, const char *key, size_t klen);
void pt__rs_names_free(pt__rs_names *m);

/*
 * The summary of `run` brought up to date: read from RUN/.summary when its
 * fingerprints match, extended with the events appended since, or rebuilt
 * (a stream resumed, a file missing, damaged or of another version); the
 * file is rewritten when anything changed and `write_back` (a failure to
 * write is not an error: a read-only store is queried the slow way).
 * PT_ENOTFOUND if the run does not exist.  Free with pt__rs_run_free.
 */
int pt__rs_load(const pt_store *st, const char *run, bool write_back, pt__rs_run *out);
void pt__rs_run_free(pt__rs_run *r);
/* Decode a summary file's bytes (for `run`): 0, or PT_ECORRUPT (out empty) for anything unexpected. */
int pt__rs_decode(const uint8_t *data, size_t len, const char *run, pt__rs_run *out);
/* Encode `r` as a summary file's bytes into `b` (empty). */
int pt__rs_encode(pt__buf *b, const pt__rs_run *r);

/* ---- the values of a run (fields.c) ---------------------------------------------------------- */
/* Status of the run: "running", "failed", "crashed", "finished" or "empty". */
const char *pt__rs_status(const pt__rs_run *r);
/* Metric `name` of the stream that wrote it last (ties: the first stream); NULL if none has it. */
const pt__rs_metric *pt__rs_last_metric(const pt__rs_run *r, const char *name);
/* min (want_max false) or max over the streams; false if no stream has a number. */
bool pt__rs_metric_range(const pt__rs_run *r, const char *name, bool want_max, double *out);
/* Param `name` of the first stream that has it; the latest tag `name` of any stream. */
const pt__rs_val *pt__rs_param_of(const pt__rs_run *r, const char *name);
const pt__rs_val *pt__rs_tag_of(const pt__rs_run *r, const char *name);
/* First and last event time over the streams; false if no events. */
bool pt__rs_times_of(const pt__rs_run *r, int64_t *t0, int64_t *t1);
/* The first stream with a code event; the stream with the latest note (NULL: none). */
const pt__rs_stream *pt__rs_code_stream(const pt__rs_run *r);
const pt__rs_stream *pt__rs_note_stream(const pt__rs_run *r);

/* ---- the run as one JSON object (query.c) ------------------------------------------------ */
int pt__rs_json(pt__buf *b, const pt__rs_run *r, bool decisions);
/* A double as JSON (shortest round trip; non-finite as {"$float": ...}). */
int pt__rs_json_double(pt__buf *b, double d);

/* ---- expressions (expr.c) -------------------------------------------------------------- */
typedef enum { PT_RV_NONE = 0, PT_RV_NUM, PT_RV_STR, PT_RV_BOOL, PT_RV_NULL, PT_RV_TIME, PT_RV_OTHER } pt__rv_type;

typedef struct {
	pt__rv_type t;
	double num;
	int64_t time;      /* PT_RV_TIME: ns */
	bool b;
	const char *str;   /* PT_RV_STR: borrowed */
	size_t len;
} pt__rv;

/* A field reference: `prefix` (params, last, min, max, tags, code, or a plain field) and `name`. */
typedef enum {
	PT_F_RUN, PT_F_STATUS, PT_F_STARTED, PT_F_ENDED, PT_F_DURATION, PT_F_EVENTS, PT_F_STREAMS,
	PT_F_LINEAGES, PT_F_DECISIONS, PT_F_NOTE, PT_F_COMMIT, PT_F_DIRTY, PT_F_PARAM, PT_F_LAST, PT_F_MIN,
	PT_F_MAX, PT_F_TAG
} pt__field_kind;

typedef struct {
	pt__field_kind k;
	char *name;        /* PT_F_PARAM..PT_F_TAG */
} pt__field;

/* The value of field `f` of run `r` (strings borrowed from `r`; fields.c). */
void pt__rs_field(const pt__rs_run *r, const pt__field *f, pt__rv *out);

typedef struct pt__expr pt__expr;

/* The maximum nesting of parentheses and `not` (deeper is refused, not recursed into). */
#define PT_EXPR_MAX_DEPTH 64
/* The longest expression accepted, in bytes. */
#define PT_EXPR_MAX_LEN 65536

/* Parse `text`: PT_EINVAL with "where: at position N (…): expected X, found Y". */
int pt__expr_parse(const char *text, pt__expr **out);
bool pt__expr_eval(const pt__expr *e, const pt__rs_run *r);
void pt__expr_free(pt__expr *e);

/* Parse one field name ("params.lr", "min.val_loss", "status"); PT_EINVAL naming it. */
int pt__field_parse(const char *text, size_t len, pt__field *out);
/* Compare two values of a sort: missing sorts after everything; <0, 0, >0. */
int pt__rv_cmp(const pt__rv *a, const pt__rv *b, bool *comparable);

#endif
