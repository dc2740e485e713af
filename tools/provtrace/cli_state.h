/* cli_state.h - human-readable rendering of replay states and diffs (cli_state.c). */
#ifndef PT_CLI_STATE_H
#define PT_CLI_STATE_H

#include <stdint.h>
#include <stdio.h>

/* The state JSON of pt_replay_state_json() for people. 0 ok, 1 error (printed). */
int cli_print_state(FILE *f, const char *json, uint64_t snapshot_seq, uint64_t folded);
/* The diff JSON of pt_replay_diff_json() for people. */
int cli_print_diff(FILE *f, const char *json);
/* The lineage tree of pt_replay_lineages_json() for people: one line a lineage. */
int cli_print_lineages(FILE *f, const char *json);

#endif
