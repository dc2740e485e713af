/*
 * test_dataset.c - datasets: hashed manifests of files or in-memory contents
 * (pt_dataset_*), stored contents kept by gc and checked by verify, files on
 * disk re-checked by pt_dataset_verify, and every way a file can change
 * under the hasher failing the call with nothing recorded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "testutil.h"
#include "base/base_int.h"
#include "checkpoint/checkpoint_int.h"
#include "checkpoint/dataset_int.h"
#include "format/objects_int.h"

typedef tu_fixture fixture;

static void write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char *p = tu_path(dir, rel);
	char *sl = strrchr(p, '/');
	*sl = 0;
	char cmd[4300];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
	assert_int_equal(system(cmd), 0);
	*sl = '/';
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	free(p);
}

static void hexof(const void *p, size_t n, char out[65])
{
	uint8_t d[32];
	pt__sha256(p, n, d);
	pt__hex(d, 32, out);
}

/* The listing as FORMAT.md defines it, built independently. */
static void expect_id(const char *const *rel, const char *const *content, size_t n, char out[65])
{
	pt__buf b = {0};
	for (size_t i = 0; i < n; i++) {
		char h[65];
		hexof(content[i], strlen(content[i]), h);
		assert_int_equal(pt__buf_printf(&b, "%s %zu %s\n", h, strlen(content[i]), rel[i]), 0);
	}
	hexof(b.data, b.len, out);
	pt__buf_free(&b);
}

static void a_directory_is_listed_sorted_with_one_content_id(void **state)
{
	fixture *f = *state;
	char *d = tu_path(f->dir, "data");
	/* sorted bytewise: "B.txt" < "a/x.bin" < "a/y.bin" < "c.txt" */
	const char *rel[] = {"B.txt", "a/x.bin", "a/y.bin", "c.txt"};
	const char *content[] = {"bee", "x content", "", "see"};
	for (int i = 3; i >= 0; i--)
		write_file(d, rel[i], content[i], strlen(content[i]));
	char want[65];
	expect_id(rel, content, 4, want);

	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, d));
	pt_dataset_info info;
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.threads = 3;
	TU_OK(pt_dataset_hash(ds, &o, &info));
	assert_string_equal(info.id, want);
	assert_int_equal(info.files, 4);
	assert_int_equal(info.size, 3 + 9 + 0 + 3);
	assert_int_equal(pt_dataset_count(ds), 4);
	for (size_t i = 0; i < 4; i++) {
		pt_dataset_entry e;
		TU_OK(pt_dataset_entry_get(ds, i, &e));
		assert_string_equal(e.path, rel[i]);
		char h[65];
		hexof(content[i], strlen(content[i]), h);
		assert_string_equal(e.sha256, h);
	}
	char *real = realpath(d, NULL);
	assert_string_equal(pt_dataset_root(ds), real);
	free(real);
	pt_dataset_entry e;
	assert_int_equal(pt_dataset_entry_get(ds, 4, &e), PT_EINVAL);

	/* recorded: one event, listing stored under the content id; checkpoint in effect unchanged */
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, NULL));
	pt_dataset_info ri;
	TU_OK(pt_dataset_record(r, "mnist", NULL, ds, 4, NULL, &ri));
	assert_string_equal(ri.id, want);
	assert_true(ri.seq > 0);
	assert_string_equal(ri.content, "");
	TU_OK(pt_recorder_close(r));
	pt_dataset_free(ds);
	assert_int_equal(tu_count(f->st, "r", NULL, "dataset"), 1);
	uint8_t id[32], *lst;
	size_t ll;
	assert_int_equal(pt__unhex(want, id, 32), 0);
	TU_OK(pt__object_get(f->st, id, &lst, &ll));
	assert_true(ll > 0 && !memcmp(lst + 65, "3 B.txt\n", 8));
	pt__free(lst);
	pt_checkpoint_info ci;
	assert_int_equal(pt_checkpoint_find(&ci, f->st, "r", NULL, INT64_MAX), PT_ENOTFOUND);

	/* the same files elsewhere, added as two paths: the same relative paths and id */
	char *d2 = tu_path(f->dir, "copy");
	assert_int_equal(tu_copy_tree(d, d2), 0);
	char *pa = tu_path(d2, "a"), *pb = tu_path(d2, "B.txt"), *pc = tu_path(d2, "c.txt");
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, pa));
	TU_OK(pt_dataset_add_path(ds, pb));
	TU_OK(pt_dataset_add_path(ds, pc));
	TU_OK(pt_dataset_hash(ds, NULL, &info));
	assert_string_equal(info.id, want);
	pt_dataset_free(ds);
	/* one file alone: its directory is the root, its name the path */
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, pc));
	TU_OK(pt_dataset_hash(ds, NULL, &info));
	TU_OK(pt_dataset_entry_get(ds, 0, &e));
	assert_string_equal(e.path, "c.txt");
	pt_dataset_free(ds);
	free(pa);
	free(pb);
	free(pc);
	free(d2);
	free(d);
}

static void in_memory_contents_are_hashed_by_their_bytes(void **state)
{
	fixture *f = *state;
	float x[100];
	for (int i = 0; i < 100; i++)
		x[i] = (float)i * 0.5f;
	uint8_t y[7] = {1, 2, 3, 4, 5, 6, 7};
	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_bytes(ds, "y", y, sizeof y));
	TU_OK(pt_dataset_add_bytes(ds, "x", x, sizeof x));
	assert_int_equal(pt_dataset_add_path(ds, f->dir), PT_EINVAL); /* not mixed */
	assert_int_equal(pt_dataset_add_bytes(ds, "a\nb", y, 1), PT_EINVAL);
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "m", NULL, NULL));
	pt_dataset_info info;
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.store = 1;
	TU_OK(pt_dataset_record(r, "arrays", "eval", ds, PT_NO_STEP, &o, &info));
	assert_int_equal(info.files, 2);
	assert_int_equal(info.size, sizeof x + sizeof y);
	assert_int_equal(strlen(info.content), 64);
	pt_dataset_entry e;
	TU_OK(pt_dataset_entry_get(ds, 0, &e));
	assert_string_equal(e.path, "x");
	char h[65];
	hexof(x, sizeof x, h);
	assert_string_equal(e.sha256, h);
	pt_dataset_free(ds);
	/* a name given twice */
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_bytes(ds, "x", x, 4));
	TU_OK(pt_dataset_add_bytes(ds, "x", y, 4));
	assert_int_equal(pt_dataset_record(r, "dup", NULL, ds, PT_NO_STEP, NULL, NULL), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "twice"));
	pt_dataset_free(ds);
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "m", NULL, "dataset"), 1);
	/* stored: the content manifest reads back the bytes */
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, f->st, info.content));
	assert_int_equal(pt_checkpoint_reader_count(rd), 2);
	float back[100];
	size_t xi = 0;
	pt_checkpoint_entry ce;
	TU_OK(pt_checkpoint_reader_entry(rd, 0, &ce));
	if (strcmp(ce.name, "x"))
		xi = 1;
	TU_OK(pt_checkpoint_reader_read(rd, xi, back, sizeof back));
	assert_memory_equal(back, x, sizeof x);
	pt_checkpoint_reader_free(rd);
	/* nothing on disk to verify */
	pt_dataset_verify_stats vs;
	TU_OK(pt_dataset_verify(f->st, "m", NULL, NULL, NULL, NULL, NULL, &vs));
	assert_int_equal(vs.skipped, 1);
	assert_int_equal(vs.datasets, 0);
}

typedef struct {
	char paths[8][512];
	int status[8];
	int n;
} seen;

static int seen_cb(const pt_dataset_check *c, void *payload)
{
	seen *s = payload;
	if (s->n < 8) {
		snprintf(s->paths[s->n], sizeof s->paths[0], "%s", c->path);
		s->status[s->n] = c->status;
		s->n++;
	}
	return 0;
}

static int seen_status(const seen *s, const char *path)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->paths[i], path))
			return s->status[i];
	return -1;
}

static void progress_cb(uint64_t fd, uint64_t ft, uint64_t bd, uint64_t bt, void *payload)
{
	uint64_t *last = payload;
	assert_true(fd <= ft);
	assert_true(bd <= bt);
	last[0] = fd;
	last[1] = bd;
	last[2]++;
}

static int count_object(const uint8_t id[32], const char *path, void *payload)
{
	(void)id;
	(void)path;
	(*(size_t *)payload)++;
	return 0;
}

static void ten_thousand_small_files_then_verify_names_what_changed(void **state)
{
	fixture *f = *state;
	char *d = tu_path(f->dir, "many");
	assert_int_equal(mkdir(d, 0755), 0);
	char name[64], body[64];
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof name, "d%02d/f%05d", i % 50, i);
		snprintf(body, sizeof body, "file %d\n", i);
		if (i % 50 == i)
			write_file(d, name, body, strlen(body));
		else {
			char *p = tu_path(d, name);
			FILE *fp = fopen(p, "wb");
			assert_non_null(fp);
			fputs(body, fp);
			fclose(fp);
			free(p);
		}
	}
	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, d));
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "big", NULL, NULL));
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.threads = 2;
	uint64_t last[3] = {0, 0, 0};
	o.progress = progress_cb;
	o.progress_payload = last;
	pt_dataset_info info;
	TU_OK(pt_dataset_record(r, "many", "train", ds, 0, &o, &info));
	assert_int_equal(info.files, 10000);
	assert_int_equal(last[0], 10000); /* the final call */
	assert_int_equal(last[1], info.size);
	/* stored: small files are packed into shared chunks, not one object each */
	o.store = 1;
	o.progress = NULL;
	pt_dataset_info si;
	pt_recorder *r2;
	TU_OK(pt_recorder_open(&r2, f->st, "big-stored", NULL, NULL));
	TU_OK(pt_dataset_record(r2, "many", "train", ds, 0, &o, &si));
	TU_OK(pt_recorder_close(r2));
	assert_string_equal(si.id, info.id);
	size_t nobj = 0;
	TU_OK(pt__object_walk(f->st, count_object, NULL, &nobj));
	assert_true(nobj < 20);
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, f->st, si.content));
	assert_int_equal(pt_checkpoint_reader_count(rd), 10000);
	size_t idx;
	TU_OK(pt_checkpoint_reader_find(rd, "d42/f09992", &idx));
	char back[64] = {0};
	TU_OK(pt_checkpoint_reader_read(rd, idx, back, sizeof back));
	assert_string_equal(back, "file 9992\n");
	pt_checkpoint_reader_free(rd);
	TU_OK(pt_recorder_close(r));
	pt_dataset_free(ds);

	seen s;
	memset(&s, 0, sizeof s);
	pt_dataset_verify_stats vs;
	TU_OK(pt_dataset_verify(f->st, "big", NULL, NULL, &o, seen_cb, &s, &vs));
	assert_int_equal(vs.files, 10000);
	assert_int_equal(vs.ok, 10000);
	assert_int_equal(s.n, 0);
	/* one changed (same size), one truncated, one deleted */
	char *p1 = tu_path(d, "d07/f00007"), *p2 = tu_path(d, "d08/f09958"), *p3 = tu_path(d, "d10/f00010");
	FILE *fp = fopen(p1, "r+b");
	fputs("FILE", fp);
	fclose(fp);
	tu_truncate(p2, 2);
	assert_int_equal(unlink(p3), 0);
	TU_OK(pt_dataset_verify(f->st, "big", NULL, NULL, NULL, seen_cb, &s, &vs));
	assert_int_equal(vs.changed, 2);
	assert_int_equal(vs.missing, 1);
	assert_int_equal(vs.ok, 9997);
	assert_int_equal(s.n, 3);
	assert_int_equal(seen_status(&s, "d07/f00007"), PT_DATASET_FILE_CHANGED);
	assert_int_equal(seen_status(&s, "d08/f09958"), PT_DATASET_FILE_CHANGED);
	assert_int_equal(seen_status(&s, "d10/f00010"), PT_DATASET_FILE_MISSING);
	/* --root: the copy elsewhere is checked instead (everything missing there) */
	memset(&s, 0, sizeof s);
	char *elsewhere = tu_path(f->dir, "nowhere");
	TU_OK(pt_dataset_verify(f->st, "big", NULL, elsewhere, NULL, seen_cb, &s, &vs));
	assert_int_equal(vs.missing, 10000);
	/* no such run */
	assert_int_equal(pt_dataset_verify(f->st, "nosuch", NULL, NULL, NULL, NULL, NULL, &vs), PT_ENOTFOUND);
	free(elsewhere);
	free(p1);
	free(p2);
	free(p3);
	free(d);
}

/* One large file with a spare thread: a second thread reads ahead while this one hashes. */
static void a_large_file_is_hashed_with_a_reader_thread(void **state)
{
	fixture *f = *state;
	size_t n = (40u << 20) + 17;
	uint8_t *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 11);
	char *d = tu_path(f->dir, "large");
	write_file(d, "big.bin", big, n);
	char want[65];
	hexof(big, n, want);
	for (uint32_t threads = 1; threads <= 3; threads++) {
		pt_dataset *ds;
		TU_OK(pt_dataset_new(&ds));
		TU_OK(pt_dataset_add_path(ds, d));
		pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
		o.threads = threads;
		pt_dataset_info info;
		TU_OK(pt_dataset_hash(ds, &o, &info));
		pt_dataset_entry e;
		TU_OK(pt_dataset_entry_get(ds, 0, &e));
		assert_string_equal(e.sha256, want);
		assert_int_equal(e.size, n);
		if (threads == 2) {
			pt_recorder *r;
			TU_OK(pt_recorder_open(&r, f->st, "large", NULL, NULL));
			TU_OK(pt_dataset_record(r, "large", NULL, ds, PT_NO_STEP, &o, NULL));
			TU_OK(pt_recorder_close(r));
		}
		pt_dataset_free(ds);
	}
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.threads = 2;
	pt_dataset_verify_stats vs;
	TU_OK(pt_dataset_verify(f->st, "large", NULL, NULL, &o, NULL, NULL, &vs));
	assert_int_equal(vs.ok, 1);
	assert_int_equal(vs.bytes, n);
	char *p = tu_path(d, "big.bin");
	tu_flip_byte(p, (long)(n - 5)); /* the last block, read by the reader thread */
	TU_OK(pt_dataset_verify(f->st, "large", NULL, NULL, &o, NULL, NULL, &vs));
	assert_int_equal(vs.changed, 1);
	free(p);
	free(d);
	free(big);
}

/* ---- files changing under the hasher ------------------------------------------------- */

typedef struct {
	int stage;
	char *path;
	int what; /* 0 rewrite same size, 1 delete, 2 append */
} hook_arg;

static void hook(int stage, void *arg)
{
	hook_arg *h = arg;
	if (stage != h->stage)
		return;
	if (h->what == 1) {
		assert_int_equal(unlink(h->path), 0);
		return;
	}
	struct timespec ts = {0, 20 * 1000000L};
	nanosleep(&ts, NULL); /* a later mtime even on coarse clocks */
	FILE *fp = fopen(h->path, h->what == 2 ? "ab" : "r+b");
	assert_non_null(fp);
	fputs("Z", fp);
	fclose(fp);
}

static void files_that_change_or_vanish_fail_naming_them_and_record_nothing(void **state)
{
	fixture *f = *state;
	char *d = tu_path(f->dir, "ds");
	write_file(d, "a.txt", "aaaa", 4);
	write_file(d, "sub/b.txt", "bbbb", 4);
	char *b = tu_path(d, "sub/b.txt");
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "x", NULL, NULL));
	const int stages[] = {1, 1, 1, 2, 2};
	const int whats[] = {0, 1, 2, 0, 1};
	const char *words[] = {"changed", "vanished", "changed", "changed", "vanished"};
	for (int i = 0; i < 5; i++) {
		write_file(d, "sub/b.txt", "bbbb", 4);
		hook_arg h = {stages[i], b, whats[i]};
		pt__dataset_hook = hook;
		pt__dataset_hook_arg = &h;
		pt_dataset *ds;
		TU_OK(pt_dataset_new(&ds));
		TU_OK(pt_dataset_add_path(ds, d));
		pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
		o.store = stages[i] == 2;
		int rc = pt_dataset_record(r, "d", NULL, ds, PT_NO_STEP, &o, NULL);
		pt__dataset_hook = NULL;
		assert_int_equal(rc, PT_ERROR);
		assert_non_null(strstr(pt_error_last(), "sub/b.txt"));
		assert_non_null(strstr(pt_error_last(), words[i]));
		assert_non_null(strstr(pt_error_last(), "nothing recorded"));
		pt_dataset_free(ds);
	}
	/* paths that do not exist, are empty, or cannot be listed */
	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	char *gone = tu_path(f->dir, "gone");
	TU_OK(pt_dataset_add_path(ds, gone));
	assert_int_equal(pt_dataset_record(r, "d", NULL, ds, PT_NO_STEP, NULL, NULL), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "gone"));
	pt_dataset_free(ds);
	char *empty = tu_path(f->dir, "empty");
	assert_int_equal(mkdir(empty, 0755), 0);
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, empty));
	assert_int_equal(pt_dataset_record(r, "d", NULL, ds, PT_NO_STEP, NULL, NULL), PT_EINVAL);
	pt_dataset_free(ds);
	TU_OK(pt_dataset_new(&ds));
	assert_int_equal(pt_dataset_record(r, "d", NULL, ds, PT_NO_STEP, NULL, NULL), PT_EINVAL);
	assert_int_equal(pt_dataset_record(r, "", NULL, ds, PT_NO_STEP, NULL, NULL), PT_EINVAL);
	pt_dataset_free(ds);
	/* a newline in a file name, a dangling link, a fifo, a loop */
	const char *bad[] = {"nl", "dangling", "fifo", "loop"};
	for (int i = 0; i < 4; i++) {
		char *bd = tu_path(f->dir, bad[i]);
		write_file(bd, "ok.txt", "ok", 2);
		char *p = NULL;
		if (i == 0) {
			p = tu_path(bd, "a\nb");
			write_file(bd, "a\nb", "x", 1);
		} else if (i == 1) {
			p = tu_path(bd, "link");
			assert_int_equal(symlink("/nonexistent/provtrace", p), 0);
		} else if (i == 2) {
			p = tu_path(bd, "pipe");
			assert_int_equal(mkfifo(p, 0600), 0);
		} else {
			p = tu_path(bd, "up");
			assert_int_equal(symlink("..", p), 0);
		}
		TU_OK(pt_dataset_new(&ds));
		TU_OK(pt_dataset_add_path(ds, bd));
		int rc = pt_dataset_record(r, "d", NULL, ds, PT_NO_STEP, NULL, NULL);
		assert_true(rc == PT_EINVAL || rc == PT_ERROR);
		assert_non_null(strstr(pt_error_last(), bad[i]));
		pt_dataset_free(ds);
		free(p);
		free(bd);
	}
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_count(f->st, "x", NULL, "dataset"), 0);
	free(empty);
	free(gone);
	free(b);
	free(d);
}

/* ---- stored contents: gc keeps them, verify checks them --------------------------------- */

static int count_cb(const pt_problem *p, void *payload)
{
	int *n = payload;
	n[p->severity == PT_SEVERITY_ERROR ? 0 : 1]++;
	return 0;
}

static int age_object(const uint8_t id[32], const char *path, void *payload)
{
	(void)id;
	(void)payload;
	struct utimbuf ut = {time(NULL) - 86400, time(NULL) - 86400};
	return utime(path, &ut);
}

static void stored_contents_are_kept_by_gc_and_checked_by_verify(void **state)
{
	fixture *f = *state;
	char *d = tu_path(f->dir, "s");
	size_t n = 3u << 20;
	uint8_t *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	write_file(d, "big.bin", big, n);
	write_file(d, "small.txt", "small", 5);
	write_file(d, "same.txt", "small", 5); /* equal content: stored once */
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "s", NULL, NULL));
	pt_dataset *ds;
	TU_OK(pt_dataset_new(&ds));
	TU_OK(pt_dataset_add_path(ds, d));
	pt_dataset_options o = PT_DATASET_OPTIONS_INIT;
	o.store = 1;
	pt_dataset_info info;
	TU_OK(pt_dataset_record(r, "s", "train", ds, PT_NO_STEP, &o, &info));
	pt_dataset_free(ds);
	TU_OK(pt_recorder_close(r));
	/* the stored big file reads back */
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, f->st, info.content));
	pt_checkpoint_entry ce;
	TU_OK(pt_checkpoint_reader_entry(rd, 0, &ce));
	assert_string_equal(ce.name, "big.bin");
	uint8_t *back = malloc(n);
	TU_OK(pt_checkpoint_reader_read(rd, 0, back, n));
	assert_memory_equal(back, big, n);
	pt_checkpoint_reader_free(rd);
	/* every object old enough to be collected: gc keeps them all */
	TU_OK(pt__object_walk(f->st, age_object, NULL, NULL));
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	pt_gc_stats gs;
	TU_OK(pt_gc(f->st, &go, &gs));
	assert_int_equal(gs.garbage_objects, 0);
	int cnt[2] = {0, 0};
	pt_checkpoint_verify_stats vs;
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, count_cb, cnt, &vs));
	assert_int_equal(cnt[0], 0);
	assert_true(vs.manifests >= 1);
	/* a damaged chunk of the contents is an error of verify */
	pt__manifest m;
	uint8_t mid[32];
	assert_int_equal(pt__unhex(info.content, mid, 32), 0);
	TU_OK(pt__manifest_load(&m, f->st, mid));
	char *cp = pt__object_path(f->st, m.e[0].ext[0].id);
	pt__manifest_clear(&m);
	tu_flip_byte(cp, tu_file_size(cp) - 3);
	cnt[0] = cnt[1] = 0;
	assert_int_not_equal(pt_checkpoint_verify_store(f->st, NULL, count_cb, cnt, &vs), 0);
	assert_true(cnt[0] > 0);
	/* and so is a lost listing */
	uint8_t lid[32];
	assert_int_equal(pt__unhex(info.id, lid, 32), 0);
	char *lp = pt__object_path(f->st, lid);
	assert_int_equal(unlink(lp), 0);
	cnt[0] = cnt[1] = 0;
	assert_int_not_equal(pt_checkpoint_verify_store(f->st, NULL, count_cb, cnt, &vs), 0);
	assert_true(cnt[0] >= 2);
	pt_dataset_verify_stats dv;
	assert_int_equal(pt_dataset_verify(f->st, "s", NULL, NULL, NULL, NULL, NULL, &dv), PT_ECORRUPT);
	free(lp);
	free(cp);
	free(back);
	free(big);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_directory_is_listed_sorted_with_one_content_id, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(in_memory_contents_are_hashed_by_their_bytes, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(ten_thousand_small_files_then_verify_names_what_changed, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(a_large_file_is_hashed_with_a_reader_thread, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(files_that_change_or_vanish_fail_naming_them_and_record_nothing, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(stored_contents_are_kept_by_gc_and_checked_by_verify, tu_setup,
						tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
