/* cli_runs.h - human-readable rendering of run summaries, queries and comparisons (cli_runs.c). */
#ifndef PT_CLI_RUNS_H
#define PT_CLI_RUNS_H

#include <stdio.h>

/* The answer of pt_runs_query_json() as a table, one run a line; `metric` (may be NULL):
 * a column with that metric's last value.  0 ok, 1 error (printed). */
int cli_print_runs(FILE *f, const char *json, const char *metric);
/* The answer of pt_runs_compare_json() side by side. 0 ok, 1 error (printed). */
int cli_print_compare(FILE *f, const char *json);

/* The answer of pt_run_diff_json(): each stream's diff (cli_print_diff) under its name. */
int cli_print_run_diff(FILE *f, const char *json);

#endif
