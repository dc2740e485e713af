/*
 * bench.h - shared pieces of provtrace-bench.
 *
 * provtrace-bench is a benchmark, not a test: each mode measures, prints a
 * table with the targets next to the values, and exits 0 unless the
 * benchmark itself could not run (bad option: 2, setup or I/O failure: 1).
 *
 * Adding a mode: write bench_<mode>.c with an `int bench_<mode>_run(int argc,
 * char **argv)` (argv[0] is the mode name), declare it below and add one line
 * to the table in main.c.
 */
#ifndef PT_BENCH_H
#define PT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
	const char *name;
	const char *help;
	int (*run)(int argc, char **argv);
} bench_mode;

/* ---- modes --------------------------------------------------------------- */
int bench_events_run(int argc, char **argv);
int bench_code_run(int argc, char **argv);
int bench_archive_run(int argc, char **argv);
int bench_replay_run(int argc, char **argv);
int bench_checkpoint_run(int argc, char **argv);
int bench_reopen_run(int argc, char **argv);
int bench_runs_run(int argc, char **argv);
int bench_report_run(int argc, char **argv);
int bench_live_run(int argc, char **argv);
int bench_proof_run(int argc, char **argv);

/* ---- exit codes ---------------------------------------------------------- */
#define BENCH_EXIT_OK 0
#define BENCH_EXIT_ERROR 1
#define BENCH_EXIT_USAGE 2

/* ---- messages ------------------------------------------------------------ */
/* "provtrace-bench: <message>" on stderr. */
void bench_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A mode's usage errors: the message, then `usage` on stderr; both return
 * BENCH_EXIT_USAGE.  bench_bad_option() is for getopt's '?' and ':' results. */
int bench_bad_option(const char *mode, char **argv, void (*usage)(FILE *));
int bench_extra_argument(const char *mode, const char *arg, void (*usage)(FILE *));
/* Like bench_err with ": <strerror(errno)>" appended. */
void bench_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- timing -------------------------------------------------------------- */
/* CLOCK_MONOTONIC in ns. */
uint64_t bench_mono_ns(void);
/* CLOCK_REALTIME in ns since the epoch (what every method stamps its events with). */
int64_t bench_wall_ns(void);
/* CPU time used so far by the calling thread and by the whole process (all threads, live or
 * exited), in ns.  Their differences over a measurement separate the calling thread's work
 * from a library's background threads, independent of what else runs on the machine. */
typedef struct {
	uint64_t thread_ns;
	uint64_t process_ns;
} bench_cpu;
void bench_cpu_now(bench_cpu *out);

/*
 * Median cost in ns of one bench_mono_ns() pair taken back to back (the part
 * of any measured latency that is the timer itself).
 */
double bench_timer_overhead_ns(void);

/*
 * One line describing the machine: online CPUs, CPU model (/proc/cpuinfo) and
 * the 1-minute load average (other work on the machine skews every number).
 */
void bench_print_machine(FILE *f);

/* ---- statistics ---------------------------------------------------------- */
/* Sort `v` in place (ascending). */
void bench_sort_u64(uint64_t *v, size_t n);
/* Nearest-rank percentile (p in [0,100]) of an ascending array; 0 if n == 0. */
uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p);

/* ---- options ------------------------------------------------------------- */
/*
 * Parse a count such as "5000000", "5M", "200k" (k = 1e3, M = 1e6, G = 1e9)
 * into `*out`.  Returns 0, or -1 (with a message naming `opt`) if it is not a
 * positive number that fits.
 */
int bench_parse_count(uint64_t *out, const char *opt, const char *text);

/* ---- files --------------------------------------------------------------- */
/*
 * Create a fresh directory "<parent>/<prefix>XXXXXX".  `parent` NULL: $TMPDIR
 * or /tmp.  `*out` is malloc'd.  Returns 0 or -1 with a message.
 */
int bench_mkdtemp(char **out, const char *parent, const char *prefix);
/* "<a>/<b>", malloc'd (NULL on allocation failure). */
char *bench_path_join(const char *a, const char *b);
/* Total st_size of the regular files under `path` (recursively).  -1 on error. */
int64_t bench_du(const char *path);
/*
 * Write back everything dirty on the file system holding `path` (syncfs) so
 * that the previous method's page cache writeback does not run during the
 * next measurement.  Returns 0 or -1 with a message.
 */
int bench_settle(const char *path);
/*
 * Remove `path` and everything under it.  The files are expected to be synced
 * already (bench_settle), so the unlinks free clean pages only.  Returns 0 or
 * -1 with a message.
 */
int bench_rm_rf(const char *path);

/* ---- table printing ------------------------------------------------------ */
#define BENCH_TABLE_MAX_COLS 8
#define BENCH_TABLE_MAX_ROWS 32

/*
 * A text table: cells are copied in; columns are sized to their widest cell.
 * The first column is left-aligned, the others right-aligned (numbers).
 */
typedef struct {
	size_t ncols, nrows;
	char *head[BENCH_TABLE_MAX_COLS];
	char *cell[BENCH_TABLE_MAX_ROWS][BENCH_TABLE_MAX_COLS];
} bench_table;

void bench_table_init(bench_table *t, size_t ncols, const char *const *head);
/* Add a row of t->ncols printf-formatted cells; returns 0 or -1 if full. */
int bench_table_row(bench_table *t, const char *const *cells);
/* Print as a Markdown table (readable as text too). */
void bench_table_print(const bench_table *t, FILE *f);
void bench_table_free(bench_table *t);

/* Format `v` with thousands separators ("4,123,456") into buf; returns buf. */
char *bench_fmt_count(char *buf, size_t size, double v);

#endif
