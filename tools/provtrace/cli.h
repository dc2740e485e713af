/*
 * cli.h - what the commands of the `provtrace` CLI share.
 *
 * The CLI is a thin client of the public API (<provtrace.h>): anything it
 * does, a program using the library can do.  Conventions:
 *  - data goes to stdout, messages to stderr as "provtrace: <message>";
 *  - exit codes: 0 ok, 1 error, 2 usage (CLI_OK, CLI_ERROR, CLI_USAGE);
 *  - every command takes --help/-h and --store DIR (also accepted before the
 *    command name), every listing --json.
 */
#ifndef PT_CLI_H
#define PT_CLI_H

#include <provtrace.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

typedef struct {
	const char *store; /* --store DIR, NULL if not given */
} cli_ctx;

typedef int (*cli_fn)(cli_ctx *ctx, int argc, char **argv);

typedef struct {
	const char *name;
	cli_fn fn;
	const char *summary;
} cli_command;

/* The commands (one file each). argv[0] is the command name. */
int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_runs(cli_ctx *ctx, int argc, char **argv);
int cmd_emit(cli_ctx *ctx, int argc, char **argv);
int cmd_log(cli_ctx *ctx, int argc, char **argv);
int cmd_metrics(cli_ctx *ctx, int argc, char **argv);
int cmd_compare(cli_ctx *ctx, int argc, char **argv);
int cmd_tag(cli_ctx *ctx, int argc, char **argv);
int cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cmd_code(cli_ctx *ctx, int argc, char **argv);
int cmd_archive(cli_ctx *ctx, int argc, char **argv);
int cmd_restore(cli_ctx *ctx, int argc, char **argv);
int cmd_replay(cli_ctx *ctx, int argc, char **argv);
int cmd_diff(cli_ctx *ctx, int argc, char **argv);
int cmd_checkpoint(cli_ctx *ctx, int argc, char **argv);
int cmd_gc(cli_ctx *ctx, int argc, char **argv);
int cmd_data(cli_ctx *ctx, int argc, char **argv);
int cmd_seal(cli_ctx *ctx, int argc, char **argv);
int cmd_remote(cli_ctx *ctx, int argc, char **argv);
int cmd_push(cli_ctx *ctx, int argc, char **argv);
int cmd_clone(cli_ctx *ctx, int argc, char **argv);
int cmd_report(cli_ctx *ctx, int argc, char **argv);
int cmd_ui(cli_ctx *ctx, int argc, char **argv);
int cmd_consume(cli_ctx *ctx, int argc, char **argv);
int cmd_consumers(cli_ctx *ctx, int argc, char **argv);
int cmd_mirror(cli_ctx *ctx, int argc, char **argv);

/* For the commands that run a consumer until it is caught up or stopped (consume,
 * mirror; cmd_consume.c): open the store and consumer NAME, and make SIGINT/SIGTERM
 * stop it cleanly.  CLI_OK, or the exit code after a message (nothing left open). */
int cli_consumer_start(cli_ctx *ctx, const char *cmd, const char *name, const pt_consumer_options *o,
		       pt_store **st, pt_consumer **c);
void cli_consumer_finish(pt_store *st, pt_consumer *c);
int cmd_key(cli_ctx *ctx, int argc, char **argv);
int cmd_prove(cli_ctx *ctx, int argc, char **argv);
int cmd_check_proof(cli_ctx *ctx, int argc, char **argv);
int cmd_anchor(cli_ctx *ctx, int argc, char **argv);

/* ---- messages ---------------------------------------------------------------- */

/* "provtrace: <message>\n" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the library's last error ("provtrace: <message>") and return CLI_ERROR. */
int cli_lib_error(void);
/* A usage error of `cmd`: message plus a pointer to --help; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options ----------------------------------------------------------------------
 * Every command describes its options in one table and calls cli_parse(), which
 * handles --help, --store, unknown options, missing or malformed values and the
 * number of positional arguments the same way for all:
 *
 *     const char *run = NULL; bool json = false; uint64_t points = 0;
 *     const cli_opt opts[] = {
 *         {"run", 0, CLI_STR, &run},
 *         {"json", 0, CLI_FLAG, &json},
 *         {"points", 0, CLI_U64, &points, "a number of points", 1, 1 << 20},
 *         {0}};
 *     const cli_spec spec = {"metrics", help, opts};
 *     char **args; int nargs;
 *     int rc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
 *     if (rc >= 0) return rc;           // --help printed, or a usage error
 */
typedef enum {
	CLI_FLAG,     /* bool *: set to true */
	CLI_STR,      /* const char **: the value (a later occurrence wins) */
	CLI_U64,      /* uint64_t *: decimal, within [min, max] (max 0: no limit) */
	CLI_I64,      /* int64_t *: decimal, within [min, max] (min == max == 0: any) */
	CLI_CHOICE,   /* int *: index of the value in `what`, "csv|tsv|json" */
	CLI_LIST,     /* cli_list *: every occurrence, in order */
	CLI_DURATION, /* int64_t *: seconds, "30s", "15m", "8h", "1d", "2w" or plain seconds */
} cli_opt_kind;

/* Values of a repeatable option: pointers into argv, `v` owned by the parser. */
typedef struct {
	const char **v;
	size_t n;
} cli_list;

typedef struct {
	const char *name; /* long name, without "--" */
	char short_name;  /* one-letter alias ('f' for -f), or 0 */
	cli_opt_kind kind;
	void *out;        /* see the kinds; written only when the option is given */
	const char *what; /* what a value must be, for the error message; CLI_CHOICE: the choices */
	int64_t min, max;
	int *seen;        /* if set, incremented on every occurrence */
} cli_opt;

typedef struct {
	const char *cmd;      /* the command as the user typed it: "diff", "archive plan add" */
	const char *help;     /* printed by --help / -h */
	const cli_opt *opts;  /* terminated by {0}; --store and --help are added */
	int min_args;         /* positional arguments accepted: [min_args, max_args] */
	int max_args;         /* -1: any number */
	const char *args_name;/* what is missing when there are too few: "the plan NAME" */
	const char *args_hint;/* appended when an argument is unexpected: "(events are read from stdin)" */
} cli_spec;

/*
 * Parse argv[1..] against `spec` (argv[0] is the command name).  Returns -1 when
 * the command goes on, with the positional arguments in (*args, *nargs); else
 * the exit code: CLI_OK after printing the help, CLI_USAGE after a message.
 * args/nargs may be NULL for a command that takes no positional arguments.
 * The lists' storage lives until cli_parse_release() (called by main).
 */
int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, char ***args, int *nargs);
void cli_parse_release(void);

/* Parse a non-negative / signed integer option value; false if malformed. */
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_i64(const char *s, int64_t *out);
/* "90d" -> seconds (s, m, h, d, w suffixes; plain numbers are seconds). */
bool cli_parse_duration(const char *s, int64_t *out);

/* ---- store, runs, streams --------------------------------------------------------
 * One opener for what most commands work on: the store, a run in it and maybe one
 * of its streams.  The run is `run` if given (checked), else the store's only run
 * (no runs: CLI_ERROR; several: CLI_USAGE listing them).  The stream, with
 * CLI_ONE_STREAM, is `stream` if given, else "main" if it exists or the run's only
 * stream; with CLI_ALL_STREAMS it is `stream` (checked) or NULL for "every stream".
 */
enum {
	CLI_STORE_ONLY = 0,  /* open the store; run and stream stay NULL */
	CLI_ONE_RUN = 1,     /* and pick the run */
	CLI_ONE_STREAM = 3,  /* and pick one stream of it */
	CLI_ALL_STREAMS = 5, /* and take --stream if given, else NULL */
};

typedef struct {
	pt_store *st;
	const char *run;
	const char *stream;
	char *owned_run, *owned_stream;
} cli_target;

/* Returns CLI_OK with `t` filled, or the exit code after a message (t is then closed). */
int cli_open(cli_ctx *ctx, const char *cmd, const char *run, const char *stream, int what, cli_target *t);
/* After CLI_ALL_STREAMS, when the command decides it needs one stream after all:
 * pick it as CLI_ONE_STREAM would (t->stream if given).  CLI_OK or the exit code. */
int cli_pick_one_stream(cli_target *t, const char *cmd);
void cli_close(cli_target *t);

/* Open the store alone (--store, $PROVTRACE_STORE, nearest .provtrace/). */
int cli_open_store(cli_ctx *ctx, pt_store **out);

/* ---- output ------------------------------------------------------------------------ */

/* A JSON string (escaped) on `f`. NULL prints null. */
void cli_json_str(FILE *f, const char *s);
/* A step as JSON: null for PT_NO_STEP. */
void cli_json_step(FILE *f, int64_t step);
/* Human size: "512 B", "3.1 KiB", "12.0 MiB". */
const char *cli_size(uint64_t bytes, char *buf, size_t n);
/* Time as "2026-11-26T08:00:00.123Z" (milliseconds) into buf (>= 40 bytes). */
const char *cli_time_ms(int64_t ns, char *buf, size_t n);

/*
 * Walk the members of a flat JSON object as written by pt_ev_json (no
 * whitespace): for each member, `cb` gets the key (with quotes) and the raw
 * value text.  Returns false if the text is not such an object.
 */
typedef void (*cli_member_cb)(const char *key, size_t klen, const char *val, size_t vlen,
			      void *payload);
bool cli_json_members(const char *json, size_t len, cli_member_cb cb, void *payload);

#endif
