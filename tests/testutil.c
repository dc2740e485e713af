#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/pt-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

void tu_rmrf(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
}

char *tu_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

pt_store *tu_store(const char *dir)
{
	char *p = tu_path(dir, "store");
	pt_store *st = NULL;
	int rc = pt_store_init(&st, p);
	if (rc)
		fail_msg("pt_store_init(%s): %s", p, pt_error_last());
	free(p);
	return st;
}

long tu_file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

void tu_flip_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

void tu_truncate(const char *path, long size) { assert_int_equal(truncate(path, size), 0); }

int tu_copy_file(const char *src, const char *dst)
{
	FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
	if (!a || !b) {
		if (a)
			fclose(a);
		if (b)
			fclose(b);
		return -1;
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, a)) > 0)
		fwrite(buf, 1, n, b);
	fclose(a);
	fclose(b);
	return 0;
}

int tu_copy_tree(const char *src, const char *dst)
{
	char cmd[8400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", dst, src, dst);
	return system(cmd);
}

char **tu_sealed(pt_store *st, const char *run, const char *stream, size_t *n)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/runs/%s/%s/segments", pt_store_path(st), run, stream ? stream : "main");
	DIR *d = opendir(dir);
	char **v = calloc(4096, sizeof *v);
	*n = 0;
	if (!d)
		return v;
	struct dirent *de;
	while ((de = readdir(d)) && *n < 4096) {
		if (strstr(de->d_name, ".ptseg"))
			v[(*n)++] = tu_path(dir, de->d_name);
	}
	closedir(d);
	return v;
}

uint64_t tu_count(pt_store *st, const char *run, const char *stream, const char *kind)
{
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.kind = kind;
	pt_iter *it;
	TU_OK(pt_iter_open(&it, st, run, stream, &o));
	const pt_event_view *v;
	uint64_t n = 0;
	int rc;
	while ((rc = pt_iter_next(it, &v)) == 0)
		n++;
	if (rc != PT_ITEROVER)
		fail_msg("iteration failed: %s", pt_error_last());
	pt_iter_free(it);
	return n;
}

typedef struct {
	int errors;
	char *first;
	size_t cap;
} verr;

static int on_problem(const pt_problem *p, void *payload)
{
	verr *e = payload;
	if (p->severity == PT_SEVERITY_ERROR) {
		if (!e->errors && e->first)
			snprintf(e->first, e->cap, "%s", p->object);
		e->errors++;
	}
	return 0;
}

int tu_verify_errors(pt_store *st, char *first_object, size_t cap)
{
	verr e = {0, first_object, cap};
	if (first_object && cap)
		first_object[0] = 0;
	int rc = pt_verify(st, NULL, NULL, on_problem, &e, NULL);
	if (rc && rc != PT_ECORRUPT)
		fail_msg("pt_verify failed: %s", pt_error_last());
	return e.errors;
}

int tu_run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_setup(void **state)
{
	tu_fixture *f = calloc(1, sizeof *f);
	f->dir = tu_tmpdir();
	f->st = tu_store(f->dir);
	*state = f;
	return 0;
}

int tu_teardown(void **state)
{
	tu_fixture *f = *state;
	pt_store_free(f->st);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}
