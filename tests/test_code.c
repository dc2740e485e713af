/*
 * test_code.c - code provenance against real git repositories made with the
 * git command line in temporary directories.
 *
 * The git capture and the restore are exercised through an in-memory object
 * sink (so that failures can be injected) and, end to end, through a store:
 * capture -> `code` event -> read back -> restore, with the restored tree
 * compared file by file to the original working tree and the stored patch
 * also applied with `git apply`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "code/code_int.h"

/* ---- helpers ------------------------------------------------------------------- */

static char g_home[PATH_MAX];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0) {
		print_error("command failed (%d): %s\n", rc, cmd);
		fail();
	}
}

static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	assert_int_equal(pclose(f), 0);
	buf[strcspn(buf, "\n")] = 0;
	return strdup(buf);
}

static char *mktmp(void)
{
	char tmpl[] = "/tmp/pt-code-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rmrf(char *dir)
{
	if (dir)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Give the directory `d` a repository with a first commit: text files, a
 * nested file, a binary, a symlink, an executable and a .gitignore.  Returns
 * 0, or -1 after printing the failed command (no assertion: fixture setups
 * call this and report a failure by their return value). */
static int fill_repo(const char *d)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && git init -q -b main && "
		 "printf 'alpha\\nbeta\\ngamma\\n' > a.txt && printf 'one\\ntwo\\n' > b.txt && "
		 "printf 'to be deleted\\n' > gone.txt && printf 'moving\\ncontent\\nhere\\n' > old.txt && "
		 "mkdir -p src/lib && printf 'int main(void){return 0;}\\n' > src/lib/main.c && "
		 "printf '\\000\\001\\002\\377binary\\000' > blob.bin && ln -s a.txt link && "
		 "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh && "
		 "printf '*.log\\nbuild/\\n' > .gitignore && "
		 "git add -A && git commit -qm first",
		 d);
	int rc = system(cmd);
	if (rc != 0) {
		print_error("command failed (%d): %s\n", rc, cmd);
		return -1;
	}
	return 0;
}

typedef struct {
	char id[PT_SHA256_HEX];
	uint8_t *data;
	size_t len;
} mem_obj;

typedef struct {
	mem_obj objs[256];
	size_t n;
	int fail_put; /* 1: every put fails with PT_ENOSPC */
} mem_store;

/* puts come from several threads (pt__code_put_many) */
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;

static int mem_put(void *payload, const void *data, size_t len, char id[PT_SHA256_HEX])
{
	mem_store *m = payload;
	uint8_t h[PT_SHA256_LEN];
	if (m->fail_put)
		return pt__err(PT_ENOSPC, "test: no space");
	pt__sha256(data, len, h);
	pt__hex(h, PT_SHA256_LEN, id);
	pthread_mutex_lock(&mem_mu);
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->objs[i].id, id)) {
			pthread_mutex_unlock(&mem_mu);
			return 0;
		}
	if (m->n >= 256) {
		pthread_mutex_unlock(&mem_mu);
		return pt__err(PT_ELIMIT, "test: memory store full");
	}
	mem_obj *o = &m->objs[m->n++];
	memcpy(o->id, id, PT_SHA256_HEX);
	o->data = malloc(len + 1);
	memcpy(o->data, data, len);
	o->data[len] = 0;
	o->len = len;
	pthread_mutex_unlock(&mem_mu);
	return 0;
}

static int mem_get(void *payload, const char *id, uint8_t **data, size_t *len)
{
	mem_store *m = payload;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->objs[i].id, id)) {
			*data = pt__malloc(m->objs[i].len + 1);
			memcpy(*data, m->objs[i].data, m->objs[i].len + 1);
			*len = m->objs[i].len;
			return 0;
		}
	return pt__err(PT_ENOTFOUND, "test: no object %s", id);
}

static mem_store *mem_new(pt__code_objects *o)
{
	mem_store *m = calloc(1, sizeof(*m));
	o->put = mem_put;
	o->get = mem_get;
	o->payload = m;
	o->store_dir = NULL;
	return m;
}

static void mem_free(mem_store *m)
{
	for (size_t i = 0; m && i < m->n; i++)
		free(m->objs[i].data);
	free(m);
}

static const mem_obj *mem_find(mem_store *m, const char *id)
{
	for (size_t i = 0; id && i < m->n; i++)
		if (!strcmp(m->objs[i].id, id))
			return &m->objs[i];
	return NULL;
}

static const pt_code_change *find_change(const pt_code_provenance *p, const char *path)
{
	for (size_t i = 0; i < p->n_changes; i++)
		if (!strcmp(p->changes[i].path, path))
			return &p->changes[i];
	return NULL;
}

static const pt_code_untracked *find_untracked(const pt_code_provenance *p, const char *path)
{
	for (size_t i = 0; i < p->n_untracked; i++)
		if (!strcmp(p->untracked[i].path, path))
			return &p->untracked[i];
	return NULL;
}

static void file_sha(const char *dir, const char *rel, char hex[PT_SHA256_HEX])
{
	char path[PATH_MAX];
	uint8_t d[PT_SHA256_LEN];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(pt__sha256_file(path, d, NULL), 0);
	pt__hex(d, PT_SHA256_LEN, hex);
}

/*
 * Compare two trees file by file: same set of paths (minus .git and the
 * `skip` names), same type, same executable bit, same bytes or link target.
 */
static int compare_dir(const char *a, const char *b, const char *rel, const char *const *skip)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	snprintf(pa, sizeof(pa), "%s/%s", a, rel);
	snprintf(pb, sizeof(pb), "%s/%s", b, rel);
	char **ea = NULL, **eb = NULL;
	size_t na = 0, nb = 0;
	int diffs = 0;
	assert_int_equal(pt__list_dir(pa, NULL, &ea, &na), 0);
	assert_int_equal(pt__list_dir(pb, NULL, &eb, &nb), 0);
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		bool skip_a = false, skip_b = false;
		for (size_t k = 0; skip[k]; k++) {
			if (i < na && !strcmp(ea[i], skip[k]))
				skip_a = true;
			if (j < nb && !strcmp(eb[j], skip[k]))
				skip_b = true;
		}
		if (skip_a || (i < na && !strcmp(ea[i], ".git"))) {
			i++;
			continue;
		}
		if (skip_b || (j < nb && !strcmp(eb[j], ".git"))) {
			j++;
			continue;
		}
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(ea[i], eb[j]);
		if (c) {
			print_error("only in %s: %s/%s\n", c < 0 ? a : b, rel, c < 0 ? ea[i] : eb[j]);
			diffs++;
			if (c < 0)
				i++;
			else
				j++;
			continue;
		}
		char r2[PATH_MAX], fa[2 * PATH_MAX + 2], fb[2 * PATH_MAX + 2];
		snprintf(r2, sizeof(r2), "%s%s%s", rel, rel[0] ? "/" : "", ea[i]);
		snprintf(fa, sizeof(fa), "%s/%s", a, r2);
		snprintf(fb, sizeof(fb), "%s/%s", b, r2);
		struct stat sa, sb;
		assert_int_equal(lstat(fa, &sa), 0);
		assert_int_equal(lstat(fb, &sb), 0);
		if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
			print_error("type differs: %s\n", r2);
			diffs++;
		} else if (S_ISDIR(sa.st_mode)) {
			diffs += compare_dir(a, b, r2, skip);
		} else if (S_ISLNK(sa.st_mode)) {
			char la[PATH_MAX] = "", lb[PATH_MAX] = "";
			assert_true(readlink(fa, la, sizeof(la) - 1) >= 0);
			assert_true(readlink(fb, lb, sizeof(lb) - 1) >= 0);
			if (strcmp(la, lb)) {
				print_error("link target differs: %s\n", r2);
				diffs++;
			}
		} else {
			uint8_t *da = NULL, *db = NULL;
			size_t la = 0, lb = 0;
			assert_int_equal(pt__read_file(fa, 1 << 26, &da, &la), 0);
			assert_int_equal(pt__read_file(fb, 1 << 26, &db, &lb), 0);
			if (la != lb || memcmp(da, db, la)) {
				print_error("content differs: %s\n", r2);
				diffs++;
			}
			if ((sa.st_mode & 0100) != (sb.st_mode & 0100)) {
				print_error("executable bit differs: %s\n", r2);
				diffs++;
			}
			pt__free(da);
			pt__free(db);
		}
		i++;
		j++;
	}
	pt_strv_free(ea, na);
	pt_strv_free(eb, nb);
	return diffs;
}

static void problem_cb(const char *path, const char *msg, void *payload)
{
	int *n = payload;
	(*n)++;
	print_message("restore problem: %s: %s\n", path, msg);
}

/* ---- the fixture ----------------------------------------------------------------------- */

/*
 * What a case works on, made by one of the setups below and released by
 * fixture_teardown.  cmocka runs the teardown also when an assertion fails
 * half way through a case (it longjmps out of the case body), so everything a
 * case allocates that outlives a line or two is kept here, not in locals.
 */
typedef struct {
	char *repo;		  /* make_repo-style repository, or an empty directory */
	pt__code_objects objs;	  /* the in-memory object sink (setup_repo, setup_dir) */
	mem_store *m;
	char *base;		  /* the store's directory, <base>/store (setup_store*) */
	pt_store *st;
	pt_code_provenance *p;	  /* the provenance under test */
	char *head;		  /* a commit id from sh_out */
	char *msg;		  /* pt__code_dirty_message (pt__free) */
	char *tmp[4];		  /* more temporary directories: fx_tmp, fx_repo */
} code_fx;

enum { FX_REPO = 1, FX_DIR = 2, FX_MEM = 4, FX_STORE = 8 };

static int fixture_teardown(void **state)
{
	code_fx *f = *state;
	if (!f)
		return 0;
	pt_code_provenance_free(f->p);
	free(f->head);
	pt__free(f->msg);
	mem_free(f->m);
	pt_store_free(f->st);
	rmrf(f->base);
	for (size_t i = 0; i < sizeof(f->tmp) / sizeof(f->tmp[0]); i++)
		rmrf(f->tmp[i]);
	rmrf(f->repo);
	free(f);
	*state = NULL;
	return 0;
}

/* mktmp without assertions: setups report failure by returning -1 */
static char *tmpdir_or_null(void)
{
	char tmpl[] = "/tmp/pt-code-XXXXXX";
	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

static int fixture_setup(void **state, int what)
{
	code_fx *f = calloc(1, sizeof(*f));
	*state = f;
	if (!f)
		return -1;
	if (what & (FX_REPO | FX_DIR)) {
		f->repo = tmpdir_or_null();
		if (!f->repo || ((what & FX_REPO) && fill_repo(f->repo)))
			goto fail;
	}
	if (what & FX_MEM)
		f->m = mem_new(&f->objs);
	if (what & FX_STORE) {
		char sp[PATH_MAX];
		f->base = tmpdir_or_null();
		if (!f->base)
			goto fail;
		snprintf(sp, sizeof(sp), "%s/store", f->base);
		if (pt_store_init(&f->st, sp)) {
			print_error("store init: %s\n", pt_error_last());
			goto fail;
		}
	}
	return 0;
fail:
	fixture_teardown(state);
	return -1;
}

/* a repository (make_repo's) and the in-memory object sink */
static int setup_repo(void **state)
{
	return fixture_setup(state, FX_REPO | FX_MEM);
}

/* an empty directory as f->repo and the in-memory object sink */
static int setup_dir(void **state)
{
	return fixture_setup(state, FX_DIR | FX_MEM);
}

/* a repository and a store in its own temporary directory */
static int setup_store(void **state)
{
	return fixture_setup(state, FX_REPO | FX_STORE);
}

/* an empty directory as f->repo and a store */
static int setup_dir_store(void **state)
{
	return fixture_setup(state, FX_DIR | FX_STORE);
}

/* a store only */
static int setup_store_only(void **state)
{
	return fixture_setup(state, FX_STORE);
}

/* a repository only (the case makes its own store) */
static int setup_repo_only(void **state)
{
	return fixture_setup(state, FX_REPO);
}

/* A new temporary directory, removed at teardown (or earlier by fx_rm). */
static char *fx_tmp(code_fx *f)
{
	for (size_t i = 0; i < sizeof(f->tmp) / sizeof(f->tmp[0]); i++)
		if (!f->tmp[i])
			return f->tmp[i] = mktmp();
	fail_msg("test: more than %zu temporary directories", sizeof(f->tmp) / sizeof(f->tmp[0]));
	return NULL;
}

/* Remove the temporary directory `dir` from fx_tmp now. */
static void fx_rm(code_fx *f, const char *dir)
{
	for (size_t i = 0; i < sizeof(f->tmp) / sizeof(f->tmp[0]); i++)
		if (f->tmp[i] == dir) {
			rmrf(f->tmp[i]);
			f->tmp[i] = NULL;
			return;
		}
	fail_msg("test: %s is not a fixture directory", dir);
}

/* Another repository like f->repo (its own first commit), removed at teardown. */
static char *fx_repo(code_fx *f)
{
	char *d = fx_tmp(f);
	if (fill_repo(d))
		fail();
	return d;
}

/* Capture `path` into f->p (replacing it) with default options; must succeed. */
static pt_code_provenance *capture(code_fx *f, const char *path)
{
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = path;
	pt_code_provenance_free(f->p);
	f->p = NULL;
	int rc = pt__code_git_capture(&f->p, &o, &f->objs);
	if (rc)
		print_error("capture: %s\n", pt_error_last());
	assert_int_equal(rc, 0);
	assert_non_null(f->p);
	return f->p;
}

/* Capture with the options `o` into f->p (replacing it); the capture's return code. */
static int capture_with(code_fx *f, const pt_code_options *o)
{
	pt_code_provenance_free(f->p);
	f->p = NULL;
	return pt__code_git_capture(&f->p, o, &f->objs);
}

/* A capture that must fail with `want` and leave its output NULL; the output
 * starts as a non-NULL poison so that the NULL is the capture's doing.  Any
 * provenance that comes back is handed to the fixture. */
static void capture_fails(code_fx *f, const pt_code_options *o, int want)
{
	pt_code_provenance *p = (void *)1;
	int rc = pt__code_git_capture(&p, o, &f->objs);
	if (p != (void *)1) {
		pt_code_provenance_free(f->p);
		f->p = p;
	}
	assert_int_equal(rc, want);
	assert_null(p);
}

/* Restore f->p with the in-memory objects into <new fx_tmp>/tree;
 * `expect_problems` as counted.  Returns that temporary directory. */
static char *restore_mem(code_fx *f, size_t expect_problems)
{
	const pt_code_provenance *p = f->p;
	char *base = fx_tmp(f);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	if (p->patch_object)
		assert_non_null(patch);
	int rc = pt__code_git_build(p, NULL, out, patch ? (const char *)patch->data : NULL,
				    patch ? patch->len : 0);
	if (rc)
		print_error("build: %s\n", pt_error_last());
	assert_int_equal(rc, 0);
	int seen = 0;
	size_t problems = 99;
	assert_int_equal(pt__code_finish_restore(p, out, &f->objs, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, expect_problems);
	assert_int_equal(seen, (int)expect_problems);
	return base;
}

/* The stored patch must also apply with `git apply` on a clone at the commit. */
static void git_apply_check(code_fx *f, const char *const *skip)
{
	char *base = fx_tmp(f);
	const mem_obj *patch = mem_find(f->m, f->p->patch_object);
	assert_non_null(patch);
	char pf[PATH_MAX];
	snprintf(pf, sizeof(pf), "%s/patch.diff", base);
	assert_int_equal(pt__atomic_write(pf, patch->data, patch->len), 0);
	sh("git clone -q %s %s/clone && cd %s/clone && git checkout -q %s && git apply %s", f->repo,
	   base, base, f->p->commit, pf);
	char clone[PATH_MAX];
	snprintf(clone, sizeof(clone), "%s/clone", base);
	assert_int_equal(compare_dir(f->repo, clone, "", skip), 0);
	fx_rm(f, base);
}

static void check_restore_identical(code_fx *f, const char *const *skip)
{
	char *base = restore_mem(f, 0);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	assert_int_equal(compare_dir(f->repo, out, "", skip), 0);
	fx_rm(f, base);
}

static const char *const no_skip[] = { NULL };

/* ---- capture ------------------------------------------------------------------------ */

static void clean_tree_is_clean(void **state)
{
	code_fx *f = *state;
	pt_code_provenance *p = capture(f, f->repo);
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	assert_string_equal(p->state, "ok");
	assert_null(p->message);
	assert_string_equal(p->commit, f->head);
	assert_string_equal(p->branch, "main");
	assert_false(p->detached);
	assert_null(p->upstream);
	assert_int_equal(p->ahead, -1);
	assert_int_equal(p->dirty, 0);
	assert_false(p->truncated);
	assert_null(p->patch_object);
	assert_int_equal(p->n_changes, 0);
	assert_int_equal(p->n_untracked, 0);
	assert_int_equal(f->m->n, 0);
	char wd[PATH_MAX];
	snprintf(wd, sizeof(wd), "%s/", f->repo);
	assert_string_equal(p->workdir, wd);
	check_restore_identical(f, no_skip);
}

static void modified_tracked_file_is_in_patch(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'changed\\n' >> a.txt && sed -i 's/int main/int  main/' src/lib/main.c",
	   f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->dirty, 1);
	assert_int_equal(p->n_changes, 2);
	const pt_code_change *c = find_change(p, "a.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'M');
	assert_int_equal(c->mode, 0100644);
	char hex[PT_SHA256_HEX];
	file_sha(f->repo, "a.txt", hex);
	assert_string_equal(c->sha256, hex);
	assert_non_null(find_change(p, "src/lib/main.c"));
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	assert_non_null(patch);
	assert_int_equal(p->patch_bytes, patch->len);
	assert_non_null(strstr((char *)patch->data, "+changed\n"));
	assert_non_null(strstr((char *)patch->data, "diff --git a/src/lib/main.c b/src/lib/main.c"));
	git_apply_check(f, no_skip);
	check_restore_identical(f, no_skip);
}

static void staged_and_unstaged_changes_to_one_file(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'staged line\\n' >> b.txt && git add b.txt && "
	   "printf 'unstaged line\\n' >> b.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_changes, 1);
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	assert_non_null(patch);
	assert_non_null(strstr((char *)patch->data, "+staged line\n+unstaged line\n"));
	git_apply_check(f, no_skip);
	check_restore_identical(f, no_skip);
}

static void untracked_files_are_listed_and_stored(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'new file\\n' > new.txt && mkdir -p data/deep && "
	   "printf 'x' > data/deep/x.txt && printf '#!/bin/sh\\n' > tool.sh && chmod +x tool.sh && "
	   "ln -s new.txt newlink", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->dirty, 1);
	assert_int_equal(p->n_changes, 0);
	assert_null(p->patch_object);
	assert_int_equal(p->n_untracked, 4);
	const pt_code_untracked *u = find_untracked(p, "new.txt");
	assert_non_null(u);
	assert_int_equal(u->size, 9);
	assert_int_equal(u->mode, 0100644);
	char hex[PT_SHA256_HEX];
	file_sha(f->repo, "new.txt", hex);
	assert_string_equal(u->sha256, hex);
	const mem_obj *o = mem_find(f->m, u->object);
	assert_non_null(o);
	assert_memory_equal(o->data, "new file\n", 9);
	assert_non_null(find_untracked(p, "data/deep/x.txt"));
	assert_int_equal(find_untracked(p, "tool.sh")->mode, 0100755);
	assert_int_equal(find_untracked(p, "newlink")->mode, 0120000);
	check_restore_identical(f, no_skip);
}

static void ignored_files_are_not_recorded(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'log\\n' > train.log && mkdir build && printf 'o' > build/x.o", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->dirty, 0);
	assert_int_equal(p->n_untracked, 0);
	assert_int_equal(p->n_changes, 0);
	assert_int_equal(f->m->n, 0);
	static const char *const skip[] = { "train.log", "build", NULL };
	check_restore_identical(f, skip);
}

static void deleted_file_is_recorded(void **state)
{
	code_fx *f = *state;
	sh("cd %s && rm gone.txt && git rm -q --cached b.txt && rm b.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	const pt_code_change *c = find_change(p, "gone.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'D');
	assert_null(c->sha256);
	assert_int_equal(find_change(p, "b.txt")->status, 'D');
	git_apply_check(f, no_skip);
	check_restore_identical(f, no_skip);
}

static void binary_change_applies_with_git_apply(void **state)
{
	code_fx *f = *state;
	/* a larger binary so that git emits a delta, plus a new binary staged */
	sh("cd %s && head -c 20000 /dev/urandom > big.bin && git add big.bin && git commit -qm big && "
	   "printf '\\377\\376\\000changed' > blob.bin && "
	   "dd if=/dev/urandom of=big.bin bs=1 count=16 seek=5000 conv=notrunc status=none && "
	   "head -c 3000 /dev/urandom > added.bin && git add added.bin", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_changes, 3);
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	assert_non_null(patch);
	assert_non_null(strstr((char *)patch->data, "GIT binary patch"));
	char hex[PT_SHA256_HEX];
	file_sha(f->repo, "big.bin", hex);
	assert_string_equal(find_change(p, "big.bin")->sha256, hex);
	git_apply_check(f, no_skip);
	check_restore_identical(f, no_skip);
}

static void renamed_file_is_recorded(void **state)
{
	code_fx *f = *state;
	sh("cd %s && git mv old.txt new-name.txt && chmod +x a.txt && ln -sfn b.txt link", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	const pt_code_change *c = find_change(p, "new-name.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'R');
	assert_string_equal(c->old_path, "old.txt");
	assert_int_equal(find_change(p, "a.txt")->mode, 0100755);
	assert_int_equal(find_change(p, "link")->mode, 0120000);
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	assert_non_null(strstr((char *)patch->data, "rename from old.txt\nrename to new-name.txt"));
	git_apply_check(f, no_skip);
	check_restore_identical(f, no_skip);
}

static void all_kinds_of_changes_at_once(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'x\\n' >> a.txt && printf 's\\n' >> b.txt && git add b.txt && "
	   "printf 'u\\n' >> b.txt && rm gone.txt && git mv old.txt moved.txt && "
	   "printf '\\001\\002' > blob.bin && printf 'n\\n' > untracked.txt && printf 'i' > x.log",
	   f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_changes, 5);
	assert_int_equal(p->n_untracked, 1);
	static const char *const skip[] = { "x.log", NULL };
	static const char *const skip_apply[] = { "x.log", "untracked.txt", NULL };
	git_apply_check(f, skip_apply);
	check_restore_identical(f, skip);
}

static void detached_head_has_no_branch(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'c2\\n' >> a.txt && git commit -qam second && git checkout -q HEAD~1",
	   f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	assert_string_equal(p->state, "ok");
	assert_true(p->detached);
	assert_null(p->branch);
	assert_string_equal(p->commit, f->head);
	assert_int_equal(p->dirty, 0);
	check_restore_identical(f, no_skip);
}

/* setup_dir: f->repo starts empty */
static void unborn_branch_records_against_empty_tree(void **state)
{
	code_fx *f = *state;
	sh("cd %s && git init -q -b trunk && printf 'staged\\n' > s.txt && git add s.txt && "
	   "printf 'more\\n' >> s.txt && printf 'u\\n' > u.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_string_equal(p->state, "unborn");
	assert_non_null(p->message);
	assert_null(p->commit);
	assert_string_equal(p->branch, "trunk");
	assert_int_equal(p->dirty, 1);
	assert_int_equal(find_change(p, "s.txt")->status, 'A');
	assert_non_null(find_untracked(p, "u.txt"));
	check_restore_identical(f, no_skip);
}

/* setup_dir: f->repo is an empty directory, not a repository */
static void no_repository_says_so(void **state)
{
	code_fx *f = *state;
	pt_code_provenance *p = capture(f, f->repo);
	assert_string_equal(p->state, "no_repository");
	assert_non_null(strstr(p->message, "no git repository"));
	assert_null(p->commit);
	assert_null(p->workdir);
	assert_int_equal(p->dirty, -1);
	/* restore refuses clearly */
	assert_int_equal(pt__code_git_build(p, NULL, "/nonexistent", NULL, 0), PT_EINVAL);
}

static void bare_repository_says_so(void **state)
{
	code_fx *f = *state;
	char *base = fx_tmp(f);
	sh("git clone -q --bare %s %s/bare.git", f->repo, base);
	char bare[PATH_MAX];
	snprintf(bare, sizeof(bare), "%s/bare.git", base);
	pt_code_provenance *p = capture(f, bare);
	assert_string_equal(p->state, "bare");
	assert_non_null(p->commit);
	assert_null(p->workdir);
	assert_int_equal(p->dirty, -1);
}

static void discovery_from_a_subdirectory(void **state)
{
	code_fx *f = *state;
	char sub[PATH_MAX];
	snprintf(sub, sizeof(sub), "%s/src/lib", f->repo);
	pt_code_provenance *p = capture(f, sub);
	assert_string_equal(p->state, "ok");
	char wd[PATH_MAX];
	snprintf(wd, sizeof(wd), "%s/", f->repo);
	assert_string_equal(p->workdir, wd);
}

static void credentials_in_remote_urls_are_not_recorded(void **state)
{
	code_fx *f = *state;
	sh("cd %s && git remote add origin 'https://alice:s3cr3tpw@example.com/org/repo.git' && "
	   "git remote add tok 'https://ghp_TOKEN123456@github.com/org/repo.git' && "
	   "git remote add q 'https://example.com/r.git?access_token=QTOKEN789#frag' && "
	   "git remote add ssh 'ssh://git:sshpw@host.example:2222/r.git' && "
	   "git remote add scp 'git@github.com:org/repo.git'", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_remotes, 5);
	for (size_t i = 0; i < p->n_remotes; i++) {
		const char *u = p->remotes[i].url;
		assert_null(strstr(u, "s3cr3tpw"));
		assert_null(strstr(u, "alice"));
		assert_null(strstr(u, "TOKEN"));
		assert_null(strstr(u, "sshpw"));
		assert_null(strstr(u, "?"));
		if (!strcmp(p->remotes[i].name, "origin"))
			assert_string_equal(u, "https://example.com/org/repo.git");
		if (!strcmp(p->remotes[i].name, "ssh"))
			assert_string_equal(u, "ssh://git@host.example:2222/r.git");
		if (!strcmp(p->remotes[i].name, "scp"))
			assert_string_equal(u, "git@github.com:org/repo.git");
	}
}

static void strip_url_cases(void **state)
{
	static const char *const cases[][2] = {
		{ "https://user:pass@h.com/x", "https://h.com/x" },
		{ "HTTPS://tok@h.com", "HTTPS://h.com" },
		{ "http://h.com:8080/p?x=1", "http://h.com:8080/p" },
		{ "https://a@b@h.com/p", "https://h.com/p" },
		{ "ssh://git@h.com/p", "ssh://git@h.com/p" },
		{ "ssh://git:pw@h.com/p", "ssh://git@h.com/p" },
		{ "git://h.com/p#frag", "git://h.com/p" },
		{ "/local/path/repo", "/local/path/repo" },
		{ "git@h.com:org/r.git", "git@h.com:org/r.git" },
		{ "file:///srv/repo.git", "file:///srv/repo.git" },
		{ "https://h.com?access_token=x", "https://h.com" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		assert_int_equal(pt_code_strip_url(&out, cases[i][0]), 0);
		assert_string_equal(out, cases[i][1]);
		pt_free(out);
	}
	char *out = NULL;
	assert_int_equal(pt_code_strip_url(&out, NULL), PT_EINVAL);
}

static void secret_env_names(void **state)
{
	assert_true(pt_code_env_name_is_secret("AWS_SECRET_ACCESS_KEY"));
	assert_true(pt_code_env_name_is_secret("HF_TOKEN"));
	assert_true(pt_code_env_name_is_secret("db_password"));
	assert_true(pt_code_env_name_is_secret("Git_Credential_Helper"));
	assert_true(pt_code_env_name_is_secret("MYSQL_PASSWD"));
	assert_true(pt_code_env_name_is_secret("WANDB_API_KEY"));
	assert_false(pt_code_env_name_is_secret("PATH"));
	assert_false(pt_code_env_name_is_secret("CUDA_VISIBLE_DEVICES"));
	assert_false(pt_code_env_name_is_secret(NULL));
	const char *const *l = pt_code_default_env_allowlist();
	bool has_slurm = false;
	for (size_t i = 0; l[i]; i++)
		has_slurm |= !strcmp(l[i], "SLURM_*");
	assert_true(has_slurm);
}

static void upstream_ahead_and_behind(void **state)
{
	code_fx *f = *state;
	char *base = fx_tmp(f);
	sh("git clone -q %s %s/clone && cd %s/clone && printf 'l\\n' >> b.txt && git commit -qam l1 && "
	   "printf 'l\\n' >> b.txt && git commit -qam l2 && cd %s && printf 'u\\n' >> a.txt && "
	   "git commit -qam up", f->repo, base, base, f->repo);
	char clone[PATH_MAX];
	snprintf(clone, sizeof(clone), "%s/clone", base);
	pt_code_provenance *p = capture(f, clone);
	assert_string_equal(p->upstream, "origin/main");
	assert_int_equal(p->ahead, 2);
	assert_int_equal(p->behind, 0); /* upstream moved, but not fetched yet */
	assert_int_equal(p->n_remotes, 1);
	assert_string_equal(p->remotes[0].url, f->repo);
	sh("cd %s && git fetch -q", clone);
	p = capture(f, clone);
	assert_int_equal(p->behind, 1);
}

static void submodule_commits_are_recorded(void **state)
{
	code_fx *f = *state;
	char *sub = fx_repo(f);
	sh("cd %s && git -c protocol.file.allow=always submodule add -q %s deps/sub >/dev/null 2>&1 && "
	   "git commit -qm sub", f->repo, sub);
	const char *subhead = f->head = sh_out("git -C %s rev-parse HEAD", sub);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_submodules, 1);
	assert_string_equal(p->submodules[0].path, "deps/sub");
	assert_string_equal(p->submodules[0].commit, subhead);
	assert_string_equal(p->submodules[0].workdir_commit, subhead);
	assert_int_equal(p->dirty, 0);
	/* moving the submodule makes the tree dirty and names it */
	sh("cd %s/deps/sub && printf 'm\\n' >> a.txt && git commit -qam moved", f->repo);
	p = capture(f, f->repo);
	assert_int_equal(p->dirty, 1);
	const pt_code_change *c = find_change(p, "deps/sub");
	assert_non_null(c);
	assert_int_equal(c->mode, 0160000);
	assert_string_not_equal(p->submodules[0].workdir_commit, subhead);
	f->msg = pt__code_dirty_message(p);
	assert_non_null(strstr(f->msg, "deps/sub"));
}

static void untracked_over_the_limit_is_not_stored(void **state)
{
	code_fx *f = *state;
	sh("cd %s && head -c 5000 /dev/urandom > big.dat && printf 'small' > small.txt", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.untracked_max_bytes = 1000;
	assert_int_equal(capture_with(f, &o), 0);
	pt_code_provenance *p = f->p;
	const pt_code_untracked *u = find_untracked(p, "big.dat");
	assert_int_equal(u->size, 5000);
	assert_non_null(u->sha256); /* hashed even when not stored */
	assert_null(u->object);
	assert_non_null(find_untracked(p, "small.txt")->object);
	/* restore reports the one file it cannot write */
	restore_mem(f, 1);
}

static void large_changed_binary_is_left_out_of_the_patch(void **state)
{
	code_fx *f = *state;
	sh("cd %s && head -c 30000 /dev/urandom > model.bin && git add model.bin && "
	   "git commit -qm model && head -c 30000 /dev/urandom > model.bin && "
	   "printf 'x\\n' >> a.txt", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.patch_max_bytes = 10000;
	assert_int_equal(capture_with(f, &o), 0);
	pt_code_provenance *p = f->p;
	assert_true(p->truncated);
	assert_non_null(strstr(p->truncated_reason, "model.bin"));
	assert_non_null(find_change(p, "model.bin")->sha256);
	const mem_obj *patch = mem_find(f->m, p->patch_object);
	assert_non_null(patch);
	assert_true(patch->len <= 10000);
	assert_null(strstr((char *)patch->data, "model.bin"));
	assert_non_null(strstr((char *)patch->data, "a/a.txt"));
	/* restore: the truncation and the unreproduced file are both reported */
	restore_mem(f, 2);
}

static void too_many_untracked_files_truncates(void **state)
{
	code_fx *f = *state;
	sh("cd %s && mkdir many && for i in $(seq 1 30); do echo $i > many/$i; done", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.untracked_max_files = 10;
	assert_int_equal(capture_with(f, &o), 0);
	assert_int_equal(f->p->n_untracked, 10);
	assert_true(f->p->truncated);
	assert_non_null(strstr(f->p->truncated_reason, "untracked"));
}

static void huge_index_is_not_scanned(void **state)
{
	code_fx *f = *state;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.max_index_entries = 3;
	assert_int_equal(capture_with(f, &o), 0);
	assert_string_equal(f->p->state, "too_large");
	assert_true(f->p->truncated);
	assert_int_equal(f->p->dirty, -1);
	assert_non_null(f->p->commit);
}

static void time_budget_cuts_the_capture(void **state)
{
	code_fx *f = *state;
	sh("cd %s && mkdir -p many && for d in $(seq 1 40); do mkdir many/$d; "
	   "for f in $(seq 1 100); do echo $f > many/$d/$f; done; done && git add -A && "
	   "git commit -qm many && for d in $(seq 1 40); do echo x >> many/$d/1; done", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.time_budget_ms = 1;
	assert_int_equal(capture_with(f, &o), 0);
	assert_string_equal(f->p->state, "ok");
	assert_true(f->p->truncated);
	assert_non_null(strstr(f->p->truncated_reason, "time budget"));
	assert_non_null(f->p->commit);
	/* and with the default budget the same tree is captured whole */
	o.time_budget_ms = 60000;
	assert_int_equal(capture_with(f, &o), 0);
	assert_false(f->p->truncated);
	assert_int_equal(f->p->n_changes, 40);
}

static void failing_object_store_fails_the_capture(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'x\\n' >> a.txt", f->repo);
	f->m->fail_put = 1;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	capture_fails(f, &o, PT_ENOSPC);
	assert_non_null(strstr(pt_error_last(), "test: no space"));
	/* with many untracked files the puts run in parallel: same clean failure */
	sh("cd %s && for i in $(seq 1 30); do echo $i > u$i.txt; done", f->repo);
	capture_fails(f, &o, PT_ENOSPC);
	assert_non_null(strstr(pt_error_last(), "test: no space"));
	f->m->fail_put = 0;
	assert_int_equal(capture_with(f, &o), 0);
	pt_code_provenance *p = f->p;
	assert_int_equal(p->n_untracked, 30);
	for (size_t i = 0; i < p->n_untracked; i++) {
		const mem_obj *obj = mem_find(f->m, p->untracked[i].object);
		assert_non_null(obj);
		char want[16];
		snprintf(want, sizeof(want), "%s", p->untracked[i].path + 1);
		*strchr(want, '.') = 0;
		assert_int_equal(atoi((char *)obj->data), atoi(want));
	}
}

/* ---- restore failures ---------------------------------------------------------------- */

static void restore_without_the_commit_is_enotfound(void **state)
{
	code_fx *f = *state;
	char *other = fx_repo(f); /* a different history: lacks the commit */
	sh("cd %s && printf 'x\\n' >> a.txt && git commit -qam extra", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	char *base = fx_tmp(f);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	assert_int_equal(pt__code_git_build(p, other, out, NULL, 0), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), p->commit));
	assert_int_equal(pt__code_git_build(p, "/nonexistent/repo", out, NULL, 0), PT_ENOTFOUND);
}

static void restore_with_a_patch_that_does_not_apply(void **state)
{
	code_fx *f = *state;
	pt_code_provenance *p = capture(f, f->repo);
	char *base = fx_tmp(f);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	static const char bad[] = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n"
				  "@@ -1,1 +1,1 @@\n-not there\n+x\n";
	assert_int_equal(pt__code_git_build(p, NULL, out, bad, sizeof(bad) - 1), PT_ECORRUPT);
}

static void restore_detects_a_wrong_hash(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'x\\n' >> a.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	/* pretend the capture saw other bytes */
	pt__code_setstr(&p->changes[0].sha256,
			"0000000000000000000000000000000000000000000000000000000000000000");
	restore_mem(f, 1);
}

static void restore_refuses_unsafe_untracked_paths(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'u' > u.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_untracked, 1);
	pt__code_setstr(&p->untracked[0].path, "../escape.txt");
	char *base = restore_mem(f, 1);
	char esc[PATH_MAX];
	snprintf(esc, sizeof(esc), "%s/escape.txt", base);
	assert_false(pt__exists(esc));
}

static void restore_does_not_write_through_a_recorded_symlink(void **state)
{
	code_fx *f = *state;
	char *outside = fx_tmp(f);
	sh("cd %s && ln -s %s evil && mkdir sub && printf 'x' > sub/file.txt", f->repo, outside);
	pt_code_provenance *p = capture(f, f->repo);
	assert_int_equal(p->n_untracked, 2);
	/* a hostile store: "sub/file.txt" renamed to go through the symlink */
	pt_code_untracked *u = (pt_code_untracked *)find_untracked(p, "sub/file.txt");
	assert_non_null(u);
	assert_int_equal(find_untracked(p, "evil")->mode, 0120000);
	pt__code_setstr(&u->path, "evil/file.txt");
	restore_mem(f, 1);
	char esc[PATH_MAX];
	snprintf(esc, sizeof(esc), "%s/file.txt", outside);
	assert_false(pt__exists(esc));
}

static void dirty_message_lists_files(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'x\\n' >> a.txt && printf 'n' > fresh.txt", f->repo);
	pt_code_provenance *p = capture(f, f->repo);
	f->msg = pt__code_dirty_message(p);
	assert_non_null(strstr(f->msg, "M a.txt"));
	assert_non_null(strstr(f->msg, "? fresh.txt"));
}

/* ---- the `code` body ------------------------------------------------------------------ */

static void corrupt_bodies_are_rejected(void **state)
{
	pt_code_provenance *p = NULL;
	/* {"state": "ok"} */
	static const uint8_t ok[] = { 0x81, 0xa5, 's', 't', 'a', 't', 'e', 0xa2, 'o', 'k' };
	assert_int_equal(pt__code_from_body(&p, ok, sizeof(ok)), 0);
	assert_string_equal(p->state, "ok");
	assert_int_equal(p->dirty, -1);
	pt_code_provenance_free(p);
	for (size_t cut = 0; cut < sizeof(ok); cut++) {
		p = NULL;
		assert_int_equal(pt__code_from_body(&p, ok, cut), PT_ECORRUPT);
		assert_null(p);
	}
	/* a huge array count in a tiny body */
	static const uint8_t huge[] = { 0x81, 0xa7, 'c', 'h', 'a', 'n', 'g', 'e', 's',
					0xdd, 0x7f, 0xff, 0xff, 0xff };
	assert_int_equal(pt__code_from_body(&p, huge, sizeof(huge)), PT_ECORRUPT);
	/* "state" of the wrong type */
	static const uint8_t wrong[] = { 0x81, 0xa5, 's', 't', 'a', 't', 'e', 0x05 };
	assert_int_equal(pt__code_from_body(&p, wrong, sizeof(wrong)), PT_ECORRUPT);
	/* no state */
	static const uint8_t empty[] = { 0x80 };
	assert_int_equal(pt__code_from_body(&p, empty, sizeof(empty)), PT_ECORRUPT);
	/* trailing bytes */
	static const uint8_t trail[] = { 0x81, 0xa5, 's', 't', 'a', 't', 'e', 0xa2, 'o', 'k', 0xc0 };
	assert_int_equal(pt__code_from_body(&p, trail, sizeof(trail)), PT_ECORRUPT);
}


/* ---- end to end through a store ---------------------------------------------------------- */

static int record(code_fx *f, const char *run, const pt_code_options *o)
{
	pt_recorder *rec = NULL;
	assert_int_equal(pt_recorder_open(&rec, f->st, run, NULL, NULL), 0);
	int rc = pt_code_capture(rec, o);
	assert_int_equal(pt_recorder_close(rec), 0);
	return rc;
}

/* pt_code_read of `run` into f->p (replacing it, NULL before the call). */
static int read_code(code_fx *f, const char *run)
{
	pt_code_provenance_free(f->p);
	f->p = NULL;
	return pt_code_read(&f->p, f->st, run, NULL);
}

/* The JSON of the first event of `kind` in `run` (strdup'ed), or NULL. */
static char *event_json(code_fx *f, const char *run, const char *kind)
{
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.kind = kind;
	pt_iter *it = NULL;
	const pt_event_view *ev;
	const char *json;
	size_t len;
	char *out = NULL;
	assert_int_equal(pt_iter_open(&it, f->st, run, NULL, &io), 0);
	if (pt_iter_next(it, &ev) == 0) {
		assert_int_equal(pt_ev_json(ev, &json, &len), 0);
		out = strndup(json, len);
	}
	pt_iter_free(it);
	return out;
}

static void capture_read_restore_through_the_store(void **state)
{
	code_fx *f = *state;
	sh("cd %s && git remote add origin 'https://bob:hunter2@example.com/r.git' && "
	   "printf 'x\\n' >> a.txt && printf 's\\n' >> b.txt && git add b.txt && "
	   "printf 'u\\n' >> b.txt && rm gone.txt && git mv old.txt moved.txt && "
	   "printf '\\001\\002' > blob.bin && printf 'n\\n' > untracked.txt && printf 'i' > x.log",
	   f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "r1", &o), 0);

	assert_int_equal(read_code(f, "r1"), 0);
	pt_code_provenance *p = f->p;
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	assert_string_equal(p->state, "ok");
	assert_string_equal(p->commit, f->head);
	assert_string_equal(p->branch, "main");
	assert_int_equal(p->dirty, 1);
	assert_int_equal(p->n_changes, 5);
	assert_int_equal(p->n_untracked, 1);
	assert_int_equal(p->n_remotes, 1);
	assert_string_equal(p->remotes[0].url, "https://example.com/r.git");
	assert_int_equal(find_change(p, "moved.txt")->status, 'R');
	assert_string_equal(find_change(p, "moved.txt")->old_path, "old.txt");
	assert_non_null(p->patch_object);

	/* the password is nowhere in the event */
	char *json = event_json(f, "r1", "code");
	assert_non_null(json);
	assert_null(strstr(json, "hunter2"));
	assert_null(strstr(json, "bob"));
	/* gc sees every object: the patch and the untracked file */
	char want[128];
	snprintf(want, sizeof(want), "\"objects\":[\"%s\",\"%s\"]", p->patch_object,
		 p->untracked[0].object);
	assert_non_null(strstr(json, want));
	free(json);

	char *patch = NULL;
	size_t plen = 0;
	assert_int_equal(pt_code_patch(&patch, &plen, f->st, p), 0);
	assert_int_equal(plen, p->patch_bytes);
	assert_non_null(strstr(patch, "rename from old.txt"));
	pt_free(patch);

	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f->base);
	int seen = 0;
	size_t problems = 99;
	/* restore only reads the repository: no new objects, same index */
	char *objects_before = sh_out("git -C %s count-objects -v | tr '\\n' ' '", f->repo);
	char *index_before = sh_out("sha256sum %s/.git/index", f->repo);
	assert_int_equal(pt_code_restore(f->st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 0);
	static const char *const skip[] = { "x.log", NULL };
	assert_int_equal(compare_dir(f->repo, out, "", skip), 0);
	char *objects_after = sh_out("git -C %s count-objects -v | tr '\\n' ' '", f->repo);
	char *index_after = sh_out("sha256sum %s/.git/index", f->repo);
	assert_string_equal(objects_before, objects_after);
	assert_string_equal(index_before, index_after);
	free(objects_before);
	free(objects_after);
	free(index_before);
	free(index_after);
	/* a second restore into the same (now full) directory is refused */
	assert_int_equal(pt_code_restore(f->st, p, out, NULL, NULL, NULL, NULL), PT_EEXISTS);
}

/* setup_repo_only: the store is made inside the repository */
static void the_store_inside_the_tree_is_not_recorded(void **state)
{
	code_fx *f = *state;
	char sp[PATH_MAX];
	snprintf(sp, sizeof(sp), "%s/.provtrace", f->repo);
	assert_int_equal(pt_store_init(&f->st, sp), 0);
	sh("cd %s && printf 'n' > mine.txt", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	for (int i = 0; i < 3; i++) { /* later captures see the earlier ones' objects */
		char run[16];
		snprintf(run, sizeof(run), "r%d", i);
		assert_int_equal(record(f, run, &o), 0);
		assert_int_equal(read_code(f, run), 0);
		assert_int_equal(f->p->n_untracked, 1);
		assert_string_equal(f->p->untracked[0].path, "mine.txt");
	}
}

static void odd_file_names_round_trip(void **state)
{
	code_fx *f = *state;
	/* a space, a quote, non-ASCII UTF-8 and a name that is not UTF-8 at all */
	sh("cd %s && printf 'one\\n' > 'sp ace.txt' && printf 'q\\n' > 'qu\"ote.txt' && "
	   "printf 'u\\n' > \"$(printf 'caf\\303\\251.txt')\" && git add -A && git commit -qm names && "
	   "printf 'two\\n' >> 'sp ace.txt' && printf 'r\\n' >> 'qu\"ote.txt' && "
	   "printf 'v\\n' >> \"$(printf 'caf\\303\\251.txt')\" && "
	   "printf 'latin1\\n' > \"$(printf 'l\\351gacy.txt')\"", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "names", &o), 0);
	assert_int_equal(read_code(f, "names"), 0);
	pt_code_provenance *p = f->p;
	assert_int_equal(p->n_changes, 3);
	assert_non_null(find_change(p, "sp ace.txt"));
	assert_non_null(find_change(p, "caf\303\251.txt"));
	assert_int_equal(p->n_untracked, 1);
	assert_string_equal(p->untracked[0].path, "l\351gacy.txt");
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f->base);
	size_t problems = 99;
	int seen = 0;
	assert_int_equal(pt_code_restore(f->st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(compare_dir(f->repo, out, "", no_skip), 0);
	/* and git apply takes the quoted names */
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	sh("git clone -q %s %s/clone && git -C %s/clone checkout -q %s && "
	   "%s --store %s/store code --run names --diff | git -C %s/clone apply && "
	   "cmp '%s/clone/sp ace.txt' '%s/sp ace.txt'", f->repo, f->base, f->base, f->head,
	   PT_BINARY_DIR "/provtrace", f->base, f->base, f->base, f->repo);
}

static void clean_run_has_no_patch_in_the_store(void **state)
{
	code_fx *f = *state;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "clean", &o), 0);
	assert_int_equal(read_code(f, "clean"), 0);
	pt_code_provenance *p = f->p;
	assert_int_equal(p->dirty, 0);
	assert_null(p->patch_object);
	char *patch = NULL;
	size_t plen = 1;
	assert_int_equal(pt_code_patch(&patch, &plen, f->st, p), 0);
	assert_string_equal(patch, "");
	assert_int_equal(plen, 0);
	pt_free(patch);
	char *json = event_json(f, "clean", "code");
	assert_non_null(strstr(json, "\"objects\":[]"));
	free(json);
}

/* setup_dir_store: f->repo is an empty directory, not a repository */
static void no_repository_is_an_event_not_an_error(void **state)
{
	code_fx *f = *state;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "norepo", &o), 0);
	assert_int_equal(read_code(f, "norepo"), 0);
	pt_code_provenance *p = f->p;
	assert_string_equal(p->state, "no_repository");
	assert_int_equal(p->dirty, -1);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f->base);
	assert_int_equal(pt_code_restore(f->st, p, out, NULL, NULL, NULL, NULL), PT_EINVAL);
	/* require_clean cannot be satisfied without a repository */
	o.require_clean = 1;
	assert_int_equal(record(f, "norepo2", &o), PT_EINVAL);
}

static void require_clean_refuses_a_dirty_tree(void **state)
{
	code_fx *f = *state;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.require_clean = 1;
	assert_int_equal(record(f, "ok", &o), 0); /* clean: fine */
	sh("cd %s && printf 'x\\n' >> a.txt && printf 'n' > newfile.txt", f->repo);
	assert_int_equal(record(f, "dirty", &o), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "M a.txt"));
	assert_non_null(strstr(pt_error_last(), "? newfile.txt"));
	/* nothing was appended for the refused capture */
	assert_int_equal(read_code(f, "dirty"), PT_ENOTFOUND);
	assert_null(f->p);
}

/*
 * Provenance is captured after opening (pt_code_capture), not by the recorder:
 * the old option slots are reserved and refused, and require_clean refuses a
 * dirty tree before anything is appended.
 */
static void capture_after_open_and_reserved_options(void **state)
{
	code_fx *f = *state;
	pt_code_options co = PT_CODE_OPTIONS_INIT;
	co.repo_path = f->repo;
	co.require_clean = 1;
	pt_recorder *rec = NULL;
	/* the reserved slots (were capture_code, code_options): refused, naming pt_code_capture */
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	ro.reserved1 = 1;
	assert_int_equal(pt_recorder_open(&rec, f->st, "opt", NULL, &ro), PT_EINVAL);
	assert_null(rec);
	assert_non_null(strstr(pt_error_last(), "pt_code_capture"));
	ro = (pt_recorder_options)PT_RECORDER_OPTIONS_INIT;
	ro.reserved2 = &co;
	assert_int_equal(pt_recorder_open(&rec, f->st, "opt", NULL, &ro), PT_EINVAL);
	assert_null(rec);
	assert_non_null(strstr(pt_error_last(), "pt_code_capture"));
	assert_int_equal(read_code(f, "opt"), PT_ENOTFOUND); /* nothing was created or appended */
	/* the new way: open, then capture */
	ro = (pt_recorder_options)PT_RECORDER_OPTIONS_INIT;
	assert_int_equal(pt_recorder_open(&rec, f->st, "opt", NULL, &ro), 0);
	assert_int_equal(pt_recorder_next_seq(rec), 1); /* the open captured nothing */
	assert_int_equal(pt_code_capture(rec, &co), 0);
	assert_int_equal(pt_recorder_next_seq(rec), 3); /* code + env */
	assert_int_equal(pt_recorder_close(rec), 0);
	char *code = event_json(f, "opt", "code");
	assert_non_null(code);
	free(code);
	/* require_clean on a dirty tree: refused before anything is appended */
	sh("cd %s && printf 'x\\n' >> a.txt", f->repo);
	assert_int_equal(pt_recorder_open(&rec, f->st, "opt", NULL, &ro), 0);
	uint64_t before = pt_recorder_next_seq(rec);
	assert_int_equal(pt_code_capture(rec, &co), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "a.txt"));
	assert_int_equal(pt_recorder_next_seq(rec), before);
	assert_int_equal(pt_recorder_close(rec), 0);
	/* without the requirement the same tree is recorded */
	co.require_clean = 0;
	assert_int_equal(pt_recorder_open(&rec, f->st, "opt", NULL, &ro), 0);
	assert_int_equal(pt_code_capture(rec, &co), 0);
	assert_int_equal(pt_recorder_next_seq(rec), before + 2);
	assert_int_equal(pt_recorder_close(rec), 0);
}

static void env_event_redacts_secrets(void **state)
{
	code_fx *f = *state;
	setenv("PROVTRACE_TEST_VISIBLE", "shown-value", 1);
	setenv("PROVTRACE_TEST_API_KEY", "hidden-value-1", 1);
	setenv("SLURM_JOB_ID", "4242", 1);
	setenv("NOT_ON_THE_LIST", "never-recorded", 1);
	setenv("MY_DB_PASSWORD", "hidden-value-2", 1);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "env", &o), 0);
	char *json = event_json(f, "env", "env");
	assert_non_null(json);
	assert_non_null(strstr(json, "\"PROVTRACE_TEST_VISIBLE\":\"shown-value\""));
	assert_non_null(strstr(json, "\"PROVTRACE_TEST_API_KEY\":\"<redacted>\""));
	assert_non_null(strstr(json, "\"SLURM_JOB_ID\":\"4242\""));
	assert_null(strstr(json, "hidden-value"));
	assert_null(strstr(json, "never-recorded"));
	assert_null(strstr(json, "MY_DB_PASSWORD")); /* not on the default list */
	assert_non_null(strstr(json, "\"host\":"));
	assert_non_null(strstr(json, "\"cpu\":{"));
	assert_non_null(strstr(json, "\"provtrace_version\":\"" PT_VERSION_STRING "\""));
	assert_non_null(strstr(json, "\"cmdline\":[\""));
	assert_non_null(strstr(json, "test_code\""));
	free(json);

	/* a custom allowlist: a secret-looking name on it is still redacted */
	static const char *const list[] = { "MY_DB_PASSWORD", "NOT_ON_THE_LIST", NULL };
	o.env_allowlist = list;
	assert_int_equal(record(f, "env2", &o), 0);
	json = event_json(f, "env2", "env");
	assert_non_null(strstr(json, "\"MY_DB_PASSWORD\":\"<redacted>\""));
	assert_non_null(strstr(json, "\"NOT_ON_THE_LIST\":\"never-recorded\""));
	assert_null(strstr(json, "PROVTRACE_TEST_VISIBLE"));
	free(json);

	/* a binding fills the body, adds its own keys and appends */
	pt_event *ev = NULL;
	assert_int_equal(pt_event_new(&ev, "note", NULL), 0);
	assert_int_equal(pt_code_env_fill(ev, NULL), 0);
	assert_int_equal(pt_event_str(ev, "python", "3.11.2"), 0);
	pt_recorder *rec = NULL;
	assert_int_equal(pt_recorder_open(&rec, f->st, "env4", NULL, NULL), 0);
	assert_int_equal(pt_recorder_append(rec, ev, NULL), 0);
	assert_int_equal(pt_recorder_close(rec), 0);
	pt_event_free(ev);
	json = event_json(f, "env4", "env");
	assert_non_null(strstr(json, "\"python\":\"3.11.2\""));
	assert_non_null(strstr(json, "\"PROVTRACE_TEST_VISIBLE\":\"shown-value\""));
	free(json);
	assert_int_equal(pt_code_env_fill(NULL, NULL), PT_EINVAL);

	/* skip_env: no env event */
	o.skip_env = 1;
	assert_int_equal(record(f, "env3", &o), 0);
	assert_null(event_json(f, "env3", "env"));
	unsetenv("PROVTRACE_TEST_VISIBLE");
	unsetenv("PROVTRACE_TEST_API_KEY");
	unsetenv("SLURM_JOB_ID");
	unsetenv("NOT_ON_THE_LIST");
	unsetenv("MY_DB_PASSWORD");
}

static void restore_with_a_missing_object(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'untracked\\n' > u.txt", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "r", &o), 0);
	assert_int_equal(read_code(f, "r"), 0);
	pt_code_provenance *p = f->p;
	char obj[PATH_MAX];
	snprintf(obj, sizeof(obj), "%s/store/objects/%.2s/%s", f->base, p->untracked[0].object,
		 p->untracked[0].object + 2);
	assert_int_equal(unlink(obj), 0);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f->base);
	int seen = 0;
	size_t problems = 0;
	assert_int_equal(pt_code_restore(f->st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 1);
}

/* setup_store_only */
static void options_are_checked(void **state)
{
	code_fx *f = *state;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(record(f, "badopt", &o), PT_EINVAL);
	assert_int_equal(pt_code_options_init(&o, 99), PT_EINVAL);
	assert_int_equal(pt_code_options_init(&o, PT_CODE_OPTIONS_VERSION), 0);
	assert_int_equal(o.untracked_max_bytes, 1u << 20);
	assert_int_equal(pt_code_capture(NULL, NULL), PT_EINVAL);
	assert_int_equal(read_code(f, "nosuchrun"), PT_ENOTFOUND);
}


/* ---- the CLI: provtrace code ------------------------------------------------------------ */

static void cli_code_show_json_diff_restore(void **state)
{
	code_fx *f = *state;
	sh("cd %s && printf 'x\\n' >> a.txt && git rm -q gone.txt && "
	   "printf '\\377\\000\\001' > blob.bin && printf 'n\\n' > fresh.txt", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	assert_int_equal(record(f, "cli-run", &o), 0);
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	const char *cli = PT_BINARY_DIR "/provtrace";
	const char *repo = f->repo, *base = f->base, *head = f->head;

	/* human: names the commit, the branch and the changes */
	char *line = sh_out("%s --store %s/store code --run cli-run | grep '^commit:'", cli, base);
	assert_non_null(strstr(line, head));
	free(line);
	sh("%s --store %s/store code --run cli-run | grep -q '^  D gone.txt$'", cli, base);
	sh("%s --store %s/store code --run cli-run | grep -q '^  fresh.txt  2 B  stored$'", cli, base);
	/* json: the event as stored */
	sh("%s --store %s/store code --run cli-run --json | grep -q '\"commit\":\"%s\"'", cli,
	   base, head);
	/* diff: applies with git apply */
	sh("git clone -q %s %s/clone && git -C %s/clone checkout -q %s && "
	   "%s --store %s/store code --run cli-run --diff > %s/p.diff && "
	   "git -C %s/clone apply %s/p.diff && cmp %s/clone/a.txt %s/a.txt && "
	   "cmp %s/clone/blob.bin %s/blob.bin && test ! -e %s/clone/gone.txt",
	   repo, base, base, head, cli, base, base, base, base, base, repo, base,
	   repo, base);
	/* restore: identical tree, exit 0 */
	sh("%s --store %s/store code --run cli-run --restore %s/restored 2>/dev/null", cli, base,
	   base);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", base);
	assert_int_equal(compare_dir(repo, out, "", no_skip), 0);
	/* into a non-empty directory: error 1; bad usage: 2 */
	int rc;
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run cli-run --restore %s/restored "
		 "2>/dev/null", cli, base, base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run cli-run --diff --json 2>/dev/null",
		 cli, base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 2);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run nosuch 2>/dev/null", cli, base);
	rc = system(cmd);
	assert_true(WEXITSTATUS(rc) == 1 || WEXITSTATUS(rc) == 2);
}

static void cli_restore_reports_what_is_missing(void **state)
{
	code_fx *f = *state;
	/* a commit of its own, so that another repository made alike lacks it */
	sh("cd %s && printf 'own\\n' >> a.txt && git commit -qam own && "
	   "head -c 3000 /dev/urandom > big.dat", f->repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = f->repo;
	o.untracked_max_bytes = 100;
	assert_int_equal(record(f, "r", &o), 0);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run r --restore %s/out 2>%s/err",
		 PT_BINARY_DIR "/provtrace", f->base, f->base, f->base);
	int rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	sh("grep -q 'not restored: big.dat: untracked file of 3000 bytes' %s/err", f->base);
	sh("grep -q '1 problem' %s/err", f->base);
	/* a repository without the commit: exit 1 naming the commit */
	char *other = fx_repo(f);
	f->head = sh_out("git -C %s rev-parse HEAD", f->repo);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run r --restore %s/out2 --repo %s "
		 "2>%s/err2", PT_BINARY_DIR "/provtrace", f->base, f->base, other, f->base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	sh("grep -q 'commit %s is not in the repository' %s/err2", f->head, f->base);
}

static int group_setup(void **state)
{
	/* isolate from the user's git configuration */
	char tmpl[] = "/tmp/pt-code-home-XXXXXX";
	char *h = mkdtemp(tmpl);
	if (!h)
		return -1;
	snprintf(g_home, sizeof(g_home), "%s", h);
	setenv("HOME", g_home, 1);
	setenv("XDG_CONFIG_HOME", g_home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	return 0;
}

static int group_teardown(void **state)
{
	rmrf(strdup(g_home));
	return 0;
}

#define REPO_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_repo, fixture_teardown)
#define DIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, fixture_teardown)
#define STORE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_store, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		REPO_TEST(clean_tree_is_clean),
		REPO_TEST(modified_tracked_file_is_in_patch),
		REPO_TEST(staged_and_unstaged_changes_to_one_file),
		REPO_TEST(untracked_files_are_listed_and_stored),
		REPO_TEST(ignored_files_are_not_recorded),
		REPO_TEST(deleted_file_is_recorded),
		REPO_TEST(binary_change_applies_with_git_apply),
		REPO_TEST(renamed_file_is_recorded),
		REPO_TEST(all_kinds_of_changes_at_once),
		REPO_TEST(detached_head_has_no_branch),
		DIR_TEST(unborn_branch_records_against_empty_tree),
		DIR_TEST(no_repository_says_so),
		REPO_TEST(bare_repository_says_so),
		REPO_TEST(discovery_from_a_subdirectory),
		REPO_TEST(credentials_in_remote_urls_are_not_recorded),
		cmocka_unit_test(strip_url_cases),
		cmocka_unit_test(secret_env_names),
		REPO_TEST(upstream_ahead_and_behind),
		REPO_TEST(submodule_commits_are_recorded),
		REPO_TEST(untracked_over_the_limit_is_not_stored),
		REPO_TEST(large_changed_binary_is_left_out_of_the_patch),
		REPO_TEST(too_many_untracked_files_truncates),
		REPO_TEST(huge_index_is_not_scanned),
		REPO_TEST(time_budget_cuts_the_capture),
		REPO_TEST(failing_object_store_fails_the_capture),
		REPO_TEST(restore_without_the_commit_is_enotfound),
		REPO_TEST(restore_with_a_patch_that_does_not_apply),
		REPO_TEST(restore_detects_a_wrong_hash),
		REPO_TEST(restore_refuses_unsafe_untracked_paths),
		REPO_TEST(restore_does_not_write_through_a_recorded_symlink),
		REPO_TEST(dirty_message_lists_files),
		cmocka_unit_test(corrupt_bodies_are_rejected),
		STORE_TEST(capture_read_restore_through_the_store),
		STORE_TEST(clean_run_has_no_patch_in_the_store),
		STORE_TEST(odd_file_names_round_trip),
		cmocka_unit_test_setup_teardown(the_store_inside_the_tree_is_not_recorded,
						setup_repo_only, fixture_teardown),
		cmocka_unit_test_setup_teardown(no_repository_is_an_event_not_an_error,
						setup_dir_store, fixture_teardown),
		STORE_TEST(require_clean_refuses_a_dirty_tree),
		STORE_TEST(capture_after_open_and_reserved_options),
		STORE_TEST(env_event_redacts_secrets),
		STORE_TEST(restore_with_a_missing_object),
		cmocka_unit_test_setup_teardown(options_are_checked, setup_store_only,
						fixture_teardown),
		STORE_TEST(cli_code_show_json_diff_restore),
		STORE_TEST(cli_restore_reports_what_is_missing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
