/* testutil.h - helpers shared by the cmocka tests: temp dirs, files, stores. */
#ifndef PT_TESTUTIL_H
#define PT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "provtrace.h"

/* A fresh temporary directory (free with tu_rmrf + free). */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);
char *tu_path(const char *dir, const char *name); /* dir/name, malloc'd */
pt_store *tu_store(const char *dir);              /* init a store at dir/store */
long tu_file_size(const char *path);
void tu_flip_byte(const char *path, long off);
void tu_truncate(const char *path, long size);
int tu_copy_file(const char *src, const char *dst);
int tu_copy_tree(const char *src, const char *dst);
/* Sorted names of sealed segments of run/stream (count in *n); free with pt_strv_free. */
char **tu_sealed(pt_store *st, const char *run, const char *stream, size_t *n);
/* Events of run/stream, optionally of one kind. */
uint64_t tu_count(pt_store *st, const char *run, const char *stream, const char *kind);
int tu_verify_errors(pt_store *st, char *first_object, size_t cap);
int tu_run(const char *cmd); /* system() returning the exit status */

/* The usual cmocka fixture: a fresh temporary directory with a store in it. */
typedef struct {
	char *dir;
	pt_store *st;
} tu_fixture;
int tu_setup(void **state);
int tu_teardown(void **state);

#define TU_OK(expr)                                                                         \
	do {                                                                                \
		int tu_rc_ = (expr);                                                        \
		if (tu_rc_ != 0)                                                            \
			fail_msg("%s returned %d (%s): %s", #expr, tu_rc_, pt_error_name(tu_rc_), \
				 pt_error_last());                                          \
	} while (0)

#endif
