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

/* ---- messages ---------------------------------------------------------------- */

/* "provtrace: <message>\n" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the library's last error ("provtrace: <message>") and return CLI_ERROR. */
int cli_lib_error(void);
/* A usage error of `cmd`: message plus a pointer to --help; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options --------------------------------------------------------------------
 * Commands parse their options with getopt_long; these are the long options
 * every command has, and the handling of the cases common to all. */
enum { CLI_OPT_STORE = 1000, CLI_OPT_HELP = 'h' };
#define CLI_COMMON_OPTIONS {"store", required_argument, NULL, CLI_OPT_STORE}, \
			   {"help", no_argument, NULL, CLI_OPT_HELP}

/* Reset getopt for a new command (GNU: optind = 0 re-initialises). */
void cli_getopt_reset(void);
/*
 * Handle an option result `c` that is not command-specific: --store, an
 * unknown option or a missing argument.  Returns -1 if `c` was handled and
 * parsing goes on, else the exit code to return (CLI_USAGE).
 */
int cli_common_option(cli_ctx *ctx, const char *cmd, int c, char **argv);

/* Parse a non-negative / signed integer option value; false if malformed. */
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_i64(const char *s, int64_t *out);

/* ---- store, runs, streams -------------------------------------------------------- */

/* Open the store (--store, $PROVTRACE_STORE, nearest .provtrace/). CLI code. */
int cli_open_store(cli_ctx *ctx, pt_store **out);

/*
 * The run to use: `run` if given (checked), else the store's only run.
 * No runs: CLI_ERROR; several: CLI_USAGE listing them.  `*out` is borrowed
 * from `run` or allocated into `*owned` (free()).
 */
int cli_pick_run(const pt_store *st, const char *cmd, const char *run, const char **out,
		 char **owned);
/* The stream to use: `stream` if given, else "main" if it exists or the run's only stream. */
int cli_pick_stream(const pt_store *st, const char *cmd, const char *run, const char *stream,
		    const char **out, char **owned);

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
