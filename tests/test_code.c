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

#include "codeprov.h"

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

/* A repository with a first commit: text files, a nested file, a binary, a
 * symlink, an executable and a .gitignore. */
static char *make_repo(void)
{
	char *d = mktmp();
	sh("cd %s && git init -q -b main && "
	   "printf 'alpha\\nbeta\\ngamma\\n' > a.txt && printf 'one\\ntwo\\n' > b.txt && "
	   "printf 'to be deleted\\n' > gone.txt && printf 'moving\\ncontent\\nhere\\n' > old.txt && "
	   "mkdir -p src/lib && printf 'int main(void){return 0;}\\n' > src/lib/main.c && "
	   "printf '\\000\\001\\002\\377binary\\000' > blob.bin && ln -s a.txt link && "
	   "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh && "
	   "printf '*.log\\nbuild/\\n' > .gitignore && "
	   "git add -A && git commit -qm first",
	   d);
	return d;
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

static pt_code_provenance *capture(const char *repo, pt__code_objects *objs)
{
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	pt_code_provenance *p = NULL;
	int rc = pt__code_git_capture(&p, &o, objs);
	if (rc)
		print_error("capture: %s\n", pt_error_last());
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
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

/* Restore `p` with the in-memory objects; `expect_problems` as counted. */
static char *restore_mem(const pt_code_provenance *p, mem_store *m, pt__code_objects *objs,
			 size_t expect_problems)
{
	char *base = mktmp();
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	const mem_obj *patch = mem_find(m, p->patch_object);
	if (p->patch_object)
		assert_non_null(patch);
	int rc = pt__code_git_build(p, NULL, out, patch ? (const char *)patch->data : NULL,
				    patch ? patch->len : 0);
	if (rc)
		print_error("build: %s\n", pt_error_last());
	assert_int_equal(rc, 0);
	int seen = 0;
	size_t problems = 99;
	assert_int_equal(pt__code_finish_restore(p, out, objs, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, expect_problems);
	assert_int_equal(seen, (int)expect_problems);
	return base;
}

/* The stored patch must also apply with `git apply` on a clone at the commit. */
static void git_apply_check(const char *repo, const pt_code_provenance *p, mem_store *m,
			    const char *const *skip)
{
	char *base = mktmp();
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(patch);
	char pf[PATH_MAX];
	snprintf(pf, sizeof(pf), "%s/patch.diff", base);
	assert_int_equal(pt__atomic_write(pf, patch->data, patch->len), 0);
	sh("git clone -q %s %s/clone && cd %s/clone && git checkout -q %s && git apply %s", repo,
	   base, base, p->commit, pf);
	char clone[PATH_MAX];
	snprintf(clone, sizeof(clone), "%s/clone", base);
	assert_int_equal(compare_dir(repo, clone, "", skip), 0);
	rmrf(base);
}

static void check_restore_identical(const char *repo, const pt_code_provenance *p, mem_store *m,
				    pt__code_objects *objs, const char *const *skip)
{
	char *base = restore_mem(p, m, objs, 0);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	assert_int_equal(compare_dir(repo, out, "", skip), 0);
	rmrf(base);
}

static const char *const no_skip[] = { NULL };

/* ---- capture ------------------------------------------------------------------------ */

static void clean_tree_is_clean(void **state)
{
	char *repo = make_repo();
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	assert_string_equal(p->state, "ok");
	assert_null(p->message);
	assert_string_equal(p->commit, head);
	assert_string_equal(p->branch, "main");
	assert_false(p->detached);
	assert_null(p->upstream);
	assert_int_equal(p->ahead, -1);
	assert_int_equal(p->dirty, 0);
	assert_false(p->truncated);
	assert_null(p->patch_object);
	assert_int_equal(p->n_changes, 0);
	assert_int_equal(p->n_untracked, 0);
	assert_int_equal(m->n, 0);
	char wd[PATH_MAX];
	snprintf(wd, sizeof(wd), "%s/", repo);
	assert_string_equal(p->workdir, wd);
	check_restore_identical(repo, p, m, &objs, no_skip);
	free(head);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void modified_tracked_file_is_in_patch(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'changed\\n' >> a.txt && sed -i 's/int main/int  main/' src/lib/main.c",
	   repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->dirty, 1);
	assert_int_equal(p->n_changes, 2);
	const pt_code_change *c = find_change(p, "a.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'M');
	assert_int_equal(c->mode, 0100644);
	char hex[PT_SHA256_HEX];
	file_sha(repo, "a.txt", hex);
	assert_string_equal(c->sha256, hex);
	assert_non_null(find_change(p, "src/lib/main.c"));
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(patch);
	assert_int_equal(p->patch_bytes, patch->len);
	assert_non_null(strstr((char *)patch->data, "+changed\n"));
	assert_non_null(strstr((char *)patch->data, "diff --git a/src/lib/main.c b/src/lib/main.c"));
	git_apply_check(repo, p, m, no_skip);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void staged_and_unstaged_changes_to_one_file(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'staged line\\n' >> b.txt && git add b.txt && "
	   "printf 'unstaged line\\n' >> b.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_changes, 1);
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(patch);
	assert_non_null(strstr((char *)patch->data, "+staged line\n+unstaged line\n"));
	git_apply_check(repo, p, m, no_skip);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void untracked_files_are_listed_and_stored(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'new file\\n' > new.txt && mkdir -p data/deep && "
	   "printf 'x' > data/deep/x.txt && printf '#!/bin/sh\\n' > tool.sh && chmod +x tool.sh && "
	   "ln -s new.txt newlink", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->dirty, 1);
	assert_int_equal(p->n_changes, 0);
	assert_null(p->patch_object);
	assert_int_equal(p->n_untracked, 4);
	const pt_code_untracked *u = find_untracked(p, "new.txt");
	assert_non_null(u);
	assert_int_equal(u->size, 9);
	assert_int_equal(u->mode, 0100644);
	char hex[PT_SHA256_HEX];
	file_sha(repo, "new.txt", hex);
	assert_string_equal(u->sha256, hex);
	const mem_obj *o = mem_find(m, u->object);
	assert_non_null(o);
	assert_memory_equal(o->data, "new file\n", 9);
	assert_non_null(find_untracked(p, "data/deep/x.txt"));
	assert_int_equal(find_untracked(p, "tool.sh")->mode, 0100755);
	assert_int_equal(find_untracked(p, "newlink")->mode, 0120000);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void ignored_files_are_not_recorded(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'log\\n' > train.log && mkdir build && printf 'o' > build/x.o", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->dirty, 0);
	assert_int_equal(p->n_untracked, 0);
	assert_int_equal(p->n_changes, 0);
	assert_int_equal(m->n, 0);
	static const char *const skip[] = { "train.log", "build", NULL };
	check_restore_identical(repo, p, m, &objs, skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void deleted_file_is_recorded(void **state)
{
	char *repo = make_repo();
	sh("cd %s && rm gone.txt && git rm -q --cached b.txt && rm b.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	const pt_code_change *c = find_change(p, "gone.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'D');
	assert_null(c->sha256);
	assert_int_equal(find_change(p, "b.txt")->status, 'D');
	git_apply_check(repo, p, m, no_skip);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void binary_change_applies_with_git_apply(void **state)
{
	char *repo = make_repo();
	/* a larger binary so that git emits a delta, plus a new binary staged */
	sh("cd %s && head -c 20000 /dev/urandom > big.bin && git add big.bin && git commit -qm big && "
	   "printf '\\377\\376\\000changed' > blob.bin && "
	   "dd if=/dev/urandom of=big.bin bs=1 count=16 seek=5000 conv=notrunc status=none && "
	   "head -c 3000 /dev/urandom > added.bin && git add added.bin", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_changes, 3);
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(patch);
	assert_non_null(strstr((char *)patch->data, "GIT binary patch"));
	char hex[PT_SHA256_HEX];
	file_sha(repo, "big.bin", hex);
	assert_string_equal(find_change(p, "big.bin")->sha256, hex);
	git_apply_check(repo, p, m, no_skip);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void renamed_file_is_recorded(void **state)
{
	char *repo = make_repo();
	sh("cd %s && git mv old.txt new-name.txt && chmod +x a.txt && ln -sfn b.txt link", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	const pt_code_change *c = find_change(p, "new-name.txt");
	assert_non_null(c);
	assert_int_equal(c->status, 'R');
	assert_string_equal(c->old_path, "old.txt");
	assert_int_equal(find_change(p, "a.txt")->mode, 0100755);
	assert_int_equal(find_change(p, "link")->mode, 0120000);
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(strstr((char *)patch->data, "rename from old.txt\nrename to new-name.txt"));
	git_apply_check(repo, p, m, no_skip);
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void all_kinds_of_changes_at_once(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'x\\n' >> a.txt && printf 's\\n' >> b.txt && git add b.txt && "
	   "printf 'u\\n' >> b.txt && rm gone.txt && git mv old.txt moved.txt && "
	   "printf '\\001\\002' > blob.bin && printf 'n\\n' > untracked.txt && printf 'i' > x.log",
	   repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_changes, 5);
	assert_int_equal(p->n_untracked, 1);
	static const char *const skip[] = { "x.log", NULL };
	static const char *const skip_apply[] = { "x.log", "untracked.txt", NULL };
	git_apply_check(repo, p, m, skip_apply);
	check_restore_identical(repo, p, m, &objs, skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void detached_head_has_no_branch(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'c2\\n' >> a.txt && git commit -qam second && git checkout -q HEAD~1",
	   repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	assert_string_equal(p->state, "ok");
	assert_true(p->detached);
	assert_null(p->branch);
	assert_string_equal(p->commit, head);
	assert_int_equal(p->dirty, 0);
	check_restore_identical(repo, p, m, &objs, no_skip);
	free(head);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void unborn_branch_records_against_empty_tree(void **state)
{
	char *repo = mktmp();
	sh("cd %s && git init -q -b trunk && printf 'staged\\n' > s.txt && git add s.txt && "
	   "printf 'more\\n' >> s.txt && printf 'u\\n' > u.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_string_equal(p->state, "unborn");
	assert_non_null(p->message);
	assert_null(p->commit);
	assert_string_equal(p->branch, "trunk");
	assert_int_equal(p->dirty, 1);
	assert_int_equal(find_change(p, "s.txt")->status, 'A');
	assert_non_null(find_untracked(p, "u.txt"));
	check_restore_identical(repo, p, m, &objs, no_skip);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void no_repository_says_so(void **state)
{
	char *dir = mktmp();
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(dir, &objs);
	assert_string_equal(p->state, "no_repository");
	assert_non_null(strstr(p->message, "no git repository"));
	assert_null(p->commit);
	assert_null(p->workdir);
	assert_int_equal(p->dirty, -1);
	/* restore refuses clearly */
	assert_int_equal(pt__code_git_build(p, NULL, "/nonexistent", NULL, 0), PT_EINVAL);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(dir);
}

static void bare_repository_says_so(void **state)
{
	char *repo = make_repo();
	char *base = mktmp();
	sh("git clone -q --bare %s %s/bare.git", repo, base);
	char bare[PATH_MAX];
	snprintf(bare, sizeof(bare), "%s/bare.git", base);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(bare, &objs);
	assert_string_equal(p->state, "bare");
	assert_non_null(p->commit);
	assert_null(p->workdir);
	assert_int_equal(p->dirty, -1);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(base);
	rmrf(repo);
}

static void discovery_from_a_subdirectory(void **state)
{
	char *repo = make_repo();
	char sub[PATH_MAX];
	snprintf(sub, sizeof(sub), "%s/src/lib", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(sub, &objs);
	assert_string_equal(p->state, "ok");
	char wd[PATH_MAX];
	snprintf(wd, sizeof(wd), "%s/", repo);
	assert_string_equal(p->workdir, wd);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void credentials_in_remote_urls_are_not_recorded(void **state)
{
	char *repo = make_repo();
	sh("cd %s && git remote add origin 'https://alice:s3cr3tpw@example.com/org/repo.git' && "
	   "git remote add tok 'https://ghp_TOKEN123456@github.com/org/repo.git' && "
	   "git remote add q 'https://example.com/r.git?access_token=QTOKEN789#frag' && "
	   "git remote add ssh 'ssh://git:sshpw@host.example:2222/r.git' && "
	   "git remote add scp 'git@github.com:org/repo.git'", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
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
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
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
	char *repo = make_repo();
	char *base = mktmp();
	sh("git clone -q %s %s/clone && cd %s/clone && printf 'l\\n' >> b.txt && git commit -qam l1 && "
	   "printf 'l\\n' >> b.txt && git commit -qam l2 && cd %s && printf 'u\\n' >> a.txt && "
	   "git commit -qam up", repo, base, base, repo);
	char clone[PATH_MAX];
	snprintf(clone, sizeof(clone), "%s/clone", base);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(clone, &objs);
	assert_string_equal(p->upstream, "origin/main");
	assert_int_equal(p->ahead, 2);
	assert_int_equal(p->behind, 0); /* upstream moved, but not fetched yet */
	assert_int_equal(p->n_remotes, 1);
	assert_string_equal(p->remotes[0].url, repo);
	pt_code_provenance_free(p);
	sh("cd %s && git fetch -q", clone);
	p = capture(clone, &objs);
	assert_int_equal(p->behind, 1);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(base);
	rmrf(repo);
}

static void submodule_commits_are_recorded(void **state)
{
	char *sub = make_repo();
	char *repo = make_repo();
	sh("cd %s && git -c protocol.file.allow=always submodule add -q %s deps/sub >/dev/null 2>&1 && "
	   "git commit -qm sub", repo, sub);
	char *subhead = sh_out("git -C %s rev-parse HEAD", sub);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_submodules, 1);
	assert_string_equal(p->submodules[0].path, "deps/sub");
	assert_string_equal(p->submodules[0].commit, subhead);
	assert_string_equal(p->submodules[0].workdir_commit, subhead);
	assert_int_equal(p->dirty, 0);
	pt_code_provenance_free(p);
	/* moving the submodule makes the tree dirty and names it */
	sh("cd %s/deps/sub && printf 'm\\n' >> a.txt && git commit -qam moved", repo);
	p = capture(repo, &objs);
	assert_int_equal(p->dirty, 1);
	const pt_code_change *c = find_change(p, "deps/sub");
	assert_non_null(c);
	assert_int_equal(c->mode, 0160000);
	assert_string_not_equal(p->submodules[0].workdir_commit, subhead);
	char *msg = pt__code_dirty_message(p);
	assert_non_null(strstr(msg, "deps/sub"));
	pt__free(msg);
	pt_code_provenance_free(p);
	free(subhead);
	mem_free(m);
	rmrf(repo);
	rmrf(sub);
}

static void untracked_over_the_limit_is_not_stored(void **state)
{
	char *repo = make_repo();
	sh("cd %s && head -c 5000 /dev/urandom > big.dat && printf 'small' > small.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.untracked_max_bytes = 1000;
	pt_code_provenance *p = NULL;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	const pt_code_untracked *u = find_untracked(p, "big.dat");
	assert_int_equal(u->size, 5000);
	assert_non_null(u->sha256); /* hashed even when not stored */
	assert_null(u->object);
	assert_non_null(find_untracked(p, "small.txt")->object);
	/* restore reports the one file it cannot write */
	char *base = restore_mem(p, m, &objs, 1);
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void large_changed_binary_is_left_out_of_the_patch(void **state)
{
	char *repo = make_repo();
	sh("cd %s && head -c 30000 /dev/urandom > model.bin && git add model.bin && "
	   "git commit -qm model && head -c 30000 /dev/urandom > model.bin && "
	   "printf 'x\\n' >> a.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.patch_max_bytes = 10000;
	pt_code_provenance *p = NULL;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_true(p->truncated);
	assert_non_null(strstr(p->truncated_reason, "model.bin"));
	assert_non_null(find_change(p, "model.bin")->sha256);
	const mem_obj *patch = mem_find(m, p->patch_object);
	assert_non_null(patch);
	assert_true(patch->len <= 10000);
	assert_null(strstr((char *)patch->data, "model.bin"));
	assert_non_null(strstr((char *)patch->data, "a/a.txt"));
	/* restore: the truncation and the unreproduced file are both reported */
	char *base = restore_mem(p, m, &objs, 2);
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void too_many_untracked_files_truncates(void **state)
{
	char *repo = make_repo();
	sh("cd %s && mkdir many && for i in $(seq 1 30); do echo $i > many/$i; done", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.untracked_max_files = 10;
	pt_code_provenance *p = NULL;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_int_equal(p->n_untracked, 10);
	assert_true(p->truncated);
	assert_non_null(strstr(p->truncated_reason, "untracked"));
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void huge_index_is_not_scanned(void **state)
{
	char *repo = make_repo();
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.max_index_entries = 3;
	pt_code_provenance *p = NULL;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_string_equal(p->state, "too_large");
	assert_true(p->truncated);
	assert_int_equal(p->dirty, -1);
	assert_non_null(p->commit);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void time_budget_cuts_the_capture(void **state)
{
	char *repo = make_repo();
	sh("cd %s && mkdir -p many && for d in $(seq 1 40); do mkdir many/$d; "
	   "for f in $(seq 1 100); do echo $f > many/$d/$f; done; done && git add -A && "
	   "git commit -qm many && for d in $(seq 1 40); do echo x >> many/$d/1; done", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.time_budget_ms = 1;
	pt_code_provenance *p = NULL;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_string_equal(p->state, "ok");
	assert_true(p->truncated);
	assert_non_null(strstr(p->truncated_reason, "time budget"));
	assert_non_null(p->commit);
	pt_code_provenance_free(p);
	/* and with the default budget the same tree is captured whole */
	o.time_budget_ms = 60000;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_false(p->truncated);
	assert_int_equal(p->n_changes, 40);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void failing_object_store_fails_the_capture(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'x\\n' >> a.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	m->fail_put = 1;
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	pt_code_provenance *p = (void *)1;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), PT_ENOSPC);
	assert_null(p);
	assert_non_null(strstr(pt_error_last(), "test: no space"));
	/* with many untracked files the puts run in parallel: same clean failure */
	sh("cd %s && for i in $(seq 1 30); do echo $i > u$i.txt; done", repo);
	p = (void *)1;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), PT_ENOSPC);
	assert_null(p);
	assert_non_null(strstr(pt_error_last(), "test: no space"));
	m->fail_put = 0;
	assert_int_equal(pt__code_git_capture(&p, &o, &objs), 0);
	assert_int_equal(p->n_untracked, 30);
	for (size_t i = 0; i < p->n_untracked; i++) {
		const mem_obj *obj = mem_find(m, p->untracked[i].object);
		assert_non_null(obj);
		char want[16];
		snprintf(want, sizeof(want), "%s", p->untracked[i].path + 1);
		*strchr(want, '.') = 0;
		assert_int_equal(atoi((char *)obj->data), atoi(want));
	}
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

/* ---- restore failures ---------------------------------------------------------------- */

static void restore_without_the_commit_is_enotfound(void **state)
{
	char *repo = make_repo();
	char *other = make_repo(); /* a different history: lacks the commit */
	sh("cd %s && printf 'x\\n' >> a.txt && git commit -qam extra", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	char *base = mktmp();
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	assert_int_equal(pt__code_git_build(p, other, out, NULL, 0), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), p->commit));
	assert_int_equal(pt__code_git_build(p, "/nonexistent/repo", out, NULL, 0), PT_ENOTFOUND);
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(other);
	rmrf(repo);
}

static void restore_with_a_patch_that_does_not_apply(void **state)
{
	char *repo = make_repo();
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	char *base = mktmp();
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/tree", base);
	static const char bad[] = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n"
				  "@@ -1,1 +1,1 @@\n-not there\n+x\n";
	assert_int_equal(pt__code_git_build(p, NULL, out, bad, sizeof(bad) - 1), PT_ECORRUPT);
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void restore_detects_a_wrong_hash(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'x\\n' >> a.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	/* pretend the capture saw other bytes */
	pt__code_setstr(&p->changes[0].sha256,
			"0000000000000000000000000000000000000000000000000000000000000000");
	char *base = restore_mem(p, m, &objs, 1);
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void restore_refuses_unsafe_untracked_paths(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'u' > u.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_untracked, 1);
	pt__code_setstr(&p->untracked[0].path, "../escape.txt");
	char *base = restore_mem(p, m, &objs, 1);
	char esc[PATH_MAX];
	snprintf(esc, sizeof(esc), "%s/escape.txt", base);
	assert_false(pt__exists(esc));
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
}

static void restore_does_not_write_through_a_recorded_symlink(void **state)
{
	char *repo = make_repo();
	char *outside = mktmp();
	sh("cd %s && ln -s %s evil && mkdir sub && printf 'x' > sub/file.txt", repo, outside);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	assert_int_equal(p->n_untracked, 2);
	/* a hostile store: "sub/file.txt" renamed to go through the symlink */
	pt_code_untracked *u = (pt_code_untracked *)find_untracked(p, "sub/file.txt");
	assert_non_null(u);
	assert_int_equal(find_untracked(p, "evil")->mode, 0120000);
	pt__code_setstr(&u->path, "evil/file.txt");
	char *base = restore_mem(p, m, &objs, 1);
	char esc[PATH_MAX];
	snprintf(esc, sizeof(esc), "%s/file.txt", outside);
	assert_false(pt__exists(esc));
	rmrf(base);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(outside);
	rmrf(repo);
}

static void dirty_message_lists_files(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'x\\n' >> a.txt && printf 'n' > fresh.txt", repo);
	pt__code_objects objs;
	mem_store *m = mem_new(&objs);
	pt_code_provenance *p = capture(repo, &objs);
	char *msg = pt__code_dirty_message(p);
	assert_non_null(strstr(msg, "M a.txt"));
	assert_non_null(strstr(msg, "? fresh.txt"));
	pt__free(msg);
	pt_code_provenance_free(p);
	mem_free(m);
	rmrf(repo);
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

typedef struct {
	char *base;
	pt_store *st;
} store_fx;

static void store_open(store_fx *f)
{
	f->base = mktmp();
	char sp[PATH_MAX];
	snprintf(sp, sizeof(sp), "%s/store", f->base);
	assert_int_equal(pt_store_init(&f->st, sp), 0);
}

static void store_close(store_fx *f)
{
	pt_store_free(f->st);
	rmrf(f->base);
}

static int record(store_fx *f, const char *run, const pt_code_options *o)
{
	pt_recorder *rec = NULL;
	assert_int_equal(pt_recorder_open(&rec, f->st, run, NULL, NULL), 0);
	int rc = pt_code_capture(rec, o);
	assert_int_equal(pt_recorder_close(rec), 0);
	return rc;
}

/* The JSON of the first event of `kind` in `run` (strdup'ed), or NULL. */
static char *event_json(store_fx *f, const char *run, const char *kind)
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
	char *repo = make_repo();
	sh("cd %s && git remote add origin 'https://bob:hunter2@example.com/r.git' && "
	   "printf 'x\\n' >> a.txt && printf 's\\n' >> b.txt && git add b.txt && "
	   "printf 'u\\n' >> b.txt && rm gone.txt && git mv old.txt moved.txt && "
	   "printf '\\001\\002' > blob.bin && printf 'n\\n' > untracked.txt && printf 'i' > x.log",
	   repo);
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "r1", &o), 0);

	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "r1", NULL), 0);
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	assert_string_equal(p->state, "ok");
	assert_string_equal(p->commit, head);
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
	char *json = event_json(&f, "r1", "code");
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
	assert_int_equal(pt_code_patch(&patch, &plen, f.st, p), 0);
	assert_int_equal(plen, p->patch_bytes);
	assert_non_null(strstr(patch, "rename from old.txt"));
	pt_free(patch);

	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f.base);
	int seen = 0;
	size_t problems = 99;
	/* restore only reads the repository: no new objects, same index */
	char *objects_before = sh_out("git -C %s count-objects -v | tr '\\n' ' '", repo);
	char *index_before = sh_out("sha256sum %s/.git/index", repo);
	assert_int_equal(pt_code_restore(f.st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 0);
	static const char *const skip[] = { "x.log", NULL };
	assert_int_equal(compare_dir(repo, out, "", skip), 0);
	char *objects_after = sh_out("git -C %s count-objects -v | tr '\\n' ' '", repo);
	char *index_after = sh_out("sha256sum %s/.git/index", repo);
	assert_string_equal(objects_before, objects_after);
	assert_string_equal(index_before, index_after);
	free(objects_before);
	free(objects_after);
	free(index_before);
	free(index_after);
	/* a second restore into the same (now full) directory is refused */
	assert_int_equal(pt_code_restore(f.st, p, out, NULL, NULL, NULL, NULL), PT_EEXISTS);
	pt_code_provenance_free(p);
	free(head);
	store_close(&f);
	rmrf(repo);
}

static void the_store_inside_the_tree_is_not_recorded(void **state)
{
	char *repo = make_repo();
	store_fx f = { 0 };
	char sp[PATH_MAX];
	snprintf(sp, sizeof(sp), "%s/.provtrace", repo);
	assert_int_equal(pt_store_init(&f.st, sp), 0);
	sh("cd %s && printf 'n' > mine.txt", repo);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	for (int i = 0; i < 3; i++) { /* later captures see the earlier ones' objects */
		char run[16];
		snprintf(run, sizeof(run), "r%d", i);
		assert_int_equal(record(&f, run, &o), 0);
		pt_code_provenance *p = NULL;
		assert_int_equal(pt_code_read(&p, f.st, run, NULL), 0);
		assert_int_equal(p->n_untracked, 1);
		assert_string_equal(p->untracked[0].path, "mine.txt");
		pt_code_provenance_free(p);
	}
	pt_store_free(f.st);
	rmrf(repo);
}

static void odd_file_names_round_trip(void **state)
{
	char *repo = make_repo();
	/* a space, a quote, non-ASCII UTF-8 and a name that is not UTF-8 at all */
	sh("cd %s && printf 'one\\n' > 'sp ace.txt' && printf 'q\\n' > 'qu\"ote.txt' && "
	   "printf 'u\\n' > \"$(printf 'caf\\303\\251.txt')\" && git add -A && git commit -qm names && "
	   "printf 'two\\n' >> 'sp ace.txt' && printf 'r\\n' >> 'qu\"ote.txt' && "
	   "printf 'v\\n' >> \"$(printf 'caf\\303\\251.txt')\" && "
	   "printf 'latin1\\n' > \"$(printf 'l\\351gacy.txt')\"", repo);
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "names", &o), 0);
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "names", NULL), 0);
	assert_int_equal(p->n_changes, 3);
	assert_non_null(find_change(p, "sp ace.txt"));
	assert_non_null(find_change(p, "caf\303\251.txt"));
	assert_int_equal(p->n_untracked, 1);
	assert_string_equal(p->untracked[0].path, "l\351gacy.txt");
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f.base);
	size_t problems = 99;
	int seen = 0;
	assert_int_equal(pt_code_restore(f.st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(compare_dir(repo, out, "", no_skip), 0);
	/* and git apply takes the quoted names */
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	sh("git clone -q %s %s/clone && git -C %s/clone checkout -q %s && "
	   "%s --store %s/store code --run names --diff | git -C %s/clone apply && "
	   "cmp '%s/clone/sp ace.txt' '%s/sp ace.txt'", repo, f.base, f.base, head,
	   PT_BINARY_DIR "/provtrace", f.base, f.base, f.base, repo);
	free(head);
	pt_code_provenance_free(p);
	store_close(&f);
	rmrf(repo);
}

static void clean_run_has_no_patch_in_the_store(void **state)
{
	char *repo = make_repo();
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "clean", &o), 0);
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "clean", NULL), 0);
	assert_int_equal(p->dirty, 0);
	assert_null(p->patch_object);
	char *patch = NULL;
	size_t plen = 1;
	assert_int_equal(pt_code_patch(&patch, &plen, f.st, p), 0);
	assert_string_equal(patch, "");
	assert_int_equal(plen, 0);
	pt_free(patch);
	char *json = event_json(&f, "clean", "code");
	assert_non_null(strstr(json, "\"objects\":[]"));
	free(json);
	pt_code_provenance_free(p);
	store_close(&f);
	rmrf(repo);
}

static void no_repository_is_an_event_not_an_error(void **state)
{
	char *dir = mktmp();
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = dir;
	assert_int_equal(record(&f, "norepo", &o), 0);
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "norepo", NULL), 0);
	assert_string_equal(p->state, "no_repository");
	assert_int_equal(p->dirty, -1);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f.base);
	assert_int_equal(pt_code_restore(f.st, p, out, NULL, NULL, NULL, NULL), PT_EINVAL);
	pt_code_provenance_free(p);
	/* require_clean cannot be satisfied without a repository */
	o.require_clean = 1;
	assert_int_equal(record(&f, "norepo2", &o), PT_EINVAL);
	store_close(&f);
	rmrf(dir);
}

static void require_clean_refuses_a_dirty_tree(void **state)
{
	char *repo = make_repo();
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.require_clean = 1;
	assert_int_equal(record(&f, "ok", &o), 0); /* clean: fine */
	sh("cd %s && printf 'x\\n' >> a.txt && printf 'n' > newfile.txt", repo);
	assert_int_equal(record(&f, "dirty", &o), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "M a.txt"));
	assert_non_null(strstr(pt_error_last(), "? newfile.txt"));
	/* nothing was appended for the refused capture */
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "dirty", NULL), PT_ENOTFOUND);
	assert_null(p);
	store_close(&f);
	rmrf(repo);
}

/* The recorder option: provenance at open, and require_clean refusing the open itself. */
static void recorder_option_captures_at_open(void **state)
{
	char *repo = make_repo();
	store_fx f;
	store_open(&f);
	pt_code_options co = PT_CODE_OPTIONS_INIT;
	co.repo_path = repo;
	co.require_clean = 1;
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	ro.capture_code = 1;
	ro.code_options = &co;
	pt_recorder *rec = NULL;
	assert_int_equal(pt_recorder_open(&rec, f.st, "opt", NULL, &ro), 0);
	assert_int_equal(pt_recorder_next_seq(rec), 3); /* code + env */
	assert_int_equal(pt_recorder_close(rec), 0);
	char *code = event_json(&f, "opt", "code");
	assert_non_null(code);
	free(code);
	sh("cd %s && printf 'x\\n' >> a.txt", repo);
	assert_int_equal(pt_recorder_open(&rec, f.st, "opt", NULL, &ro), PT_EINVAL);
	assert_null(rec);
	assert_non_null(strstr(pt_error_last(), "a.txt"));
	/* the refusal released the stream: a recorder without the requirement opens */
	co.require_clean = 0;
	assert_int_equal(pt_recorder_open(&rec, f.st, "opt", NULL, &ro), 0);
	assert_int_equal(pt_recorder_close(rec), 0);
	store_close(&f);
	rmrf(repo);
}

static void env_event_redacts_secrets(void **state)
{
	char *repo = make_repo();
	store_fx f;
	store_open(&f);
	setenv("PROVTRACE_TEST_VISIBLE", "shown-value", 1);
	setenv("PROVTRACE_TEST_API_KEY", "hidden-value-1", 1);
	setenv("SLURM_JOB_ID", "4242", 1);
	setenv("NOT_ON_THE_LIST", "never-recorded", 1);
	setenv("MY_DB_PASSWORD", "hidden-value-2", 1);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "env", &o), 0);
	char *json = event_json(&f, "env", "env");
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
	assert_int_equal(record(&f, "env2", &o), 0);
	json = event_json(&f, "env2", "env");
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
	assert_int_equal(pt_recorder_open(&rec, f.st, "env4", NULL, NULL), 0);
	assert_int_equal(pt_recorder_append(rec, ev, NULL), 0);
	assert_int_equal(pt_recorder_close(rec), 0);
	pt_event_free(ev);
	json = event_json(&f, "env4", "env");
	assert_non_null(strstr(json, "\"python\":\"3.11.2\""));
	assert_non_null(strstr(json, "\"PROVTRACE_TEST_VISIBLE\":\"shown-value\""));
	free(json);
	assert_int_equal(pt_code_env_fill(NULL, NULL), PT_EINVAL);

	/* skip_env: no env event */
	o.skip_env = 1;
	assert_int_equal(record(&f, "env3", &o), 0);
	assert_null(event_json(&f, "env3", "env"));
	unsetenv("PROVTRACE_TEST_VISIBLE");
	unsetenv("PROVTRACE_TEST_API_KEY");
	unsetenv("SLURM_JOB_ID");
	unsetenv("NOT_ON_THE_LIST");
	unsetenv("MY_DB_PASSWORD");
	store_close(&f);
	rmrf(repo);
}

static void restore_with_a_missing_object(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'untracked\\n' > u.txt", repo);
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "r", &o), 0);
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "r", NULL), 0);
	char obj[PATH_MAX];
	snprintf(obj, sizeof(obj), "%s/store/objects/%.2s/%s", f.base, p->untracked[0].object,
		 p->untracked[0].object + 2);
	assert_int_equal(unlink(obj), 0);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f.base);
	int seen = 0;
	size_t problems = 0;
	assert_int_equal(pt_code_restore(f.st, p, out, NULL, problem_cb, &seen, &problems), 0);
	assert_int_equal(problems, 1);
	pt_code_provenance_free(p);
	store_close(&f);
	rmrf(repo);
}

static void options_are_checked(void **state)
{
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(record(&f, "badopt", &o), PT_EINVAL);
	assert_int_equal(pt_code_options_init(&o, 99), PT_EINVAL);
	assert_int_equal(pt_code_options_init(&o, PT_CODE_OPTIONS_VERSION), 0);
	assert_int_equal(o.untracked_max_bytes, 1u << 20);
	assert_int_equal(pt_code_capture(NULL, NULL), PT_EINVAL);
	pt_code_provenance *p = NULL;
	assert_int_equal(pt_code_read(&p, f.st, "nosuchrun", NULL), PT_ENOTFOUND);
	store_close(&f);
}


/* ---- the CLI: provtrace code ------------------------------------------------------------ */

static void cli_code_show_json_diff_restore(void **state)
{
	char *repo = make_repo();
	sh("cd %s && printf 'x\\n' >> a.txt && git rm -q gone.txt && "
	   "printf '\\377\\000\\001' > blob.bin && printf 'n\\n' > fresh.txt", repo);
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	assert_int_equal(record(&f, "cli-run", &o), 0);
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	const char *cli = PT_BINARY_DIR "/provtrace";

	/* human: names the commit, the branch and the changes */
	char *line = sh_out("%s --store %s/store code --run cli-run | grep '^commit:'", cli, f.base);
	assert_non_null(strstr(line, head));
	free(line);
	sh("%s --store %s/store code --run cli-run | grep -q '^  D gone.txt$'", cli, f.base);
	sh("%s --store %s/store code --run cli-run | grep -q '^  fresh.txt  2 B  stored$'", cli, f.base);
	/* json: the event as stored */
	sh("%s --store %s/store code --run cli-run --json | grep -q '\"commit\":\"%s\"'", cli,
	   f.base, head);
	/* diff: applies with git apply */
	sh("git clone -q %s %s/clone && git -C %s/clone checkout -q %s && "
	   "%s --store %s/store code --run cli-run --diff > %s/p.diff && "
	   "git -C %s/clone apply %s/p.diff && cmp %s/clone/a.txt %s/a.txt && "
	   "cmp %s/clone/blob.bin %s/blob.bin && test ! -e %s/clone/gone.txt",
	   repo, f.base, f.base, head, cli, f.base, f.base, f.base, f.base, f.base, repo, f.base,
	   repo, f.base);
	/* restore: identical tree, exit 0 */
	sh("%s --store %s/store code --run cli-run --restore %s/restored 2>/dev/null", cli, f.base,
	   f.base);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s/restored", f.base);
	assert_int_equal(compare_dir(repo, out, "", no_skip), 0);
	/* into a non-empty directory: error 1; bad usage: 2 */
	int rc;
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run cli-run --restore %s/restored "
		 "2>/dev/null", cli, f.base, f.base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run cli-run --diff --json 2>/dev/null",
		 cli, f.base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 2);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run nosuch 2>/dev/null", cli, f.base);
	rc = system(cmd);
	assert_true(WEXITSTATUS(rc) == 1 || WEXITSTATUS(rc) == 2);
	free(head);
	store_close(&f);
	rmrf(repo);
}

static void cli_restore_reports_what_is_missing(void **state)
{
	char *repo = make_repo();
	/* a commit of its own, so that another repository made alike lacks it */
	sh("cd %s && printf 'own\\n' >> a.txt && git commit -qam own && "
	   "head -c 3000 /dev/urandom > big.dat", repo);
	store_fx f;
	store_open(&f);
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.untracked_max_bytes = 100;
	assert_int_equal(record(&f, "r", &o), 0);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run r --restore %s/out 2>%s/err",
		 PT_BINARY_DIR "/provtrace", f.base, f.base, f.base);
	int rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	sh("grep -q 'not restored: big.dat: untracked file of 3000 bytes' %s/err", f.base);
	sh("grep -q '1 problem' %s/err", f.base);
	/* a repository without the commit: exit 1 naming the commit */
	char *other = make_repo();
	char *head = sh_out("git -C %s rev-parse HEAD", repo);
	snprintf(cmd, sizeof(cmd), "%s --store %s/store code --run r --restore %s/out2 --repo %s "
		 "2>%s/err2", PT_BINARY_DIR "/provtrace", f.base, f.base, other, f.base);
	rc = system(cmd);
	assert_int_equal(WEXITSTATUS(rc), 1);
	sh("grep -q 'commit %s is not in the repository' %s/err2", head, f.base);
	free(head);
	rmrf(other);
	store_close(&f);
	rmrf(repo);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clean_tree_is_clean),
		cmocka_unit_test(modified_tracked_file_is_in_patch),
		cmocka_unit_test(staged_and_unstaged_changes_to_one_file),
		cmocka_unit_test(untracked_files_are_listed_and_stored),
		cmocka_unit_test(ignored_files_are_not_recorded),
		cmocka_unit_test(deleted_file_is_recorded),
		cmocka_unit_test(binary_change_applies_with_git_apply),
		cmocka_unit_test(renamed_file_is_recorded),
		cmocka_unit_test(all_kinds_of_changes_at_once),
		cmocka_unit_test(detached_head_has_no_branch),
		cmocka_unit_test(unborn_branch_records_against_empty_tree),
		cmocka_unit_test(no_repository_says_so),
		cmocka_unit_test(bare_repository_says_so),
		cmocka_unit_test(discovery_from_a_subdirectory),
		cmocka_unit_test(credentials_in_remote_urls_are_not_recorded),
		cmocka_unit_test(strip_url_cases),
		cmocka_unit_test(secret_env_names),
		cmocka_unit_test(upstream_ahead_and_behind),
		cmocka_unit_test(submodule_commits_are_recorded),
		cmocka_unit_test(untracked_over_the_limit_is_not_stored),
		cmocka_unit_test(large_changed_binary_is_left_out_of_the_patch),
		cmocka_unit_test(too_many_untracked_files_truncates),
		cmocka_unit_test(huge_index_is_not_scanned),
		cmocka_unit_test(time_budget_cuts_the_capture),
		cmocka_unit_test(failing_object_store_fails_the_capture),
		cmocka_unit_test(restore_without_the_commit_is_enotfound),
		cmocka_unit_test(restore_with_a_patch_that_does_not_apply),
		cmocka_unit_test(restore_detects_a_wrong_hash),
		cmocka_unit_test(restore_refuses_unsafe_untracked_paths),
		cmocka_unit_test(restore_does_not_write_through_a_recorded_symlink),
		cmocka_unit_test(dirty_message_lists_files),
		cmocka_unit_test(corrupt_bodies_are_rejected),
		cmocka_unit_test(capture_read_restore_through_the_store),
		cmocka_unit_test(clean_run_has_no_patch_in_the_store),
		cmocka_unit_test(odd_file_names_round_trip),
		cmocka_unit_test(the_store_inside_the_tree_is_not_recorded),
		cmocka_unit_test(no_repository_is_an_event_not_an_error),
		cmocka_unit_test(require_clean_refuses_a_dirty_tree),
		cmocka_unit_test(recorder_option_captures_at_open),
		cmocka_unit_test(env_event_redacts_secrets),
		cmocka_unit_test(restore_with_a_missing_object),
		cmocka_unit_test(options_are_checked),
		cmocka_unit_test(cli_code_show_json_diff_restore),
		cmocka_unit_test(cli_restore_reports_what_is_missing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
