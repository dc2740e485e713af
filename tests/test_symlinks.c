/*
 * test_symlinks.c - a store in a shared directory must not become a weapon.
 *
 * Another local user who can write the store's directories plants symbolic
 * links where the library opens, creates, truncates, copies or renames files.
 * Each case checks that the library refuses with a clear error naming the path
 * and "symbolic link", that the link's target keeps its bytes, and that
 * nothing is created outside the store.  Every case runs twice: with openat2
 * and with the O_NOFOLLOW walk that replaces it where the kernel lacks it.
 * The last cases plant the links as a second user (root creates one) while
 * root records, recovers and restores.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "base/base_int.h"
#include "format/objects_int.h"

#define VICTIM_TEXT "precious bytes that belong to someone else\n"
#define MALLORY "ptmallory"

typedef struct {
	char *dir, *outside, *victim;
	pt_store *st;
	bool walk;
} fx;

static int setup_common(void **state, bool walk)
{
	fx *f = calloc(1, sizeof *f);
	f->dir = tu_tmpdir();
	f->st = tu_store(f->dir);
	f->outside = tu_path(f->dir, "outside");
	mkdir(f->outside, 0755);
	f->victim = tu_path(f->outside, "victim");
	FILE *v = fopen(f->victim, "w");
	fputs(VICTIM_TEXT, v);
	fclose(v);
	f->walk = walk;
	pt__fileio_force_walk(walk);
	*state = f;
	return 0;
}
static int setup_openat2(void **state) { return setup_common(state, false); }
static int setup_walk(void **state) { return setup_common(state, true); }

static int teardown(void **state)
{
	fx *f = *state;
	pt__fileio_force_walk(false);
	pt_store_free(f->st);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->outside);
	free(f->victim);
	free(f);
	return 0;
}

static char *spath(fx *f, const char *rel) { return tu_path(pt_store_path(f->st), rel); }

/* The victim still holds exactly its bytes, and `outside` holds nothing else. */
static void assert_untouched(fx *f)
{
	FILE *v = fopen(f->victim, "r");
	assert_non_null(v);
	char buf[256] = "";
	size_t n = fread(buf, 1, sizeof buf - 1, v);
	fclose(v);
	buf[n] = 0;
	assert_string_equal(buf, VICTIM_TEXT);
	char **names;
	size_t k;
	TU_OK(pt__list_dir(f->outside, NULL, &names, &k));
	if (k != 1)
		fail_msg("%zu entries in %s, expected only the victim (first: %s)", k, f->outside, k ? names[0] : "-");
	pt_strv_free(names, k);
}

static void assert_refused(int rc, const char *path_part)
{
	if (rc == 0)
		fail_msg("the library followed a planted symbolic link (%s)", path_part);
	if (rc != PT_EIO && rc != PT_ECORRUPT)
		fail_msg("code %s, expected PT_EIO or PT_ECORRUPT: %s", pt_error_name(rc), pt_error_last());
	if (!strstr(pt_error_last(), "symbolic link") || !strstr(pt_error_last(), path_part))
		fail_msg("error does not name %s and 'symbolic link': %s", path_part, pt_error_last());
}

/* A stream with `n` events in its open segment; closed cleanly. */
static void record(fx *f, const char *run, int n)
{
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, run, NULL, NULL));
	pt_event *e;
	TU_OK(pt_event_new(&e, "metric", "loss"));
	for (int i = 0; i < n; i++) {
		TU_OK(pt_event_set_step(e, i));
		TU_OK(pt_event_double(e, "value", i * 0.5));
		TU_OK(pt_recorder_append(r, e, NULL));
	}
	pt_event_free(e);
	TU_OK(pt_recorder_close(r));
}

static int open_rec(fx *f, const char *run)
{
	pt_recorder *r = NULL;
	int rc = pt_recorder_open(&r, f->st, run, NULL, NULL);
	if (!rc)
		pt_recorder_close(r);
	return rc;
}

static void plant(const char *target, const char *link)
{
	if (symlink(target, link) < 0)
		fail_msg("symlink %s -> %s: %s", link, target, strerror(errno));
}

static void replace_with_link(const char *target, const char *link)
{
	tu_rmrf(link);
	plant(target, link);
}

/* The number of sealed segments of run/stream (tu_sealed's list freed). */
static void sealed_count(pt_store *st, const char *run, const char *stream, size_t *n)
{
	char **v = tu_sealed(st, run, stream, n);
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
}

/* ---- the lock file: opened O_RDWR|O_CREAT and truncated ---- */
static void lock_file_link_is_refused(void **state)
{
	fx *f = *state;
	record(f, "r", 3);
	char *lock = spath(f, "runs/r/main/lock");
	replace_with_link(f->victim, lock);
	assert_refused(open_rec(f, "r"), "lock");
	assert_untouched(f);
	/* a dangling link (O_CREAT would create its target) is refused too */
	char *gone = tu_path(f->outside, "created");
	replace_with_link(gone, lock);
	assert_refused(open_rec(f, "r"), "lock");
	assert_untouched(f);
	free(gone);
	free(lock);
}

/* ---- recovery: open.ptseg was opened, copied into cut/ and truncated ---- */
static void open_segment_link_is_refused(void **state)
{
	fx *f = *state;
	record(f, "r", 3);
	char *op = spath(f, "runs/r/main/open.ptseg");
	replace_with_link(f->victim, op);
	assert_refused(open_rec(f, "r"), "open.ptseg");
	assert_untouched(f);
	char *cut = spath(f, "runs/r/main/cut");
	struct stat sb;
	assert_int_equal(lstat(cut, &sb), -1); /* nothing of the victim copied into the store */
	free(cut);
	free(op);
}

/* ---- recovery writes the torn tail into cut/ ---- */
static void cut_dir_link_is_refused(void **state)
{
	fx *f = *state;
	record(f, "r", 3);
	char *op = spath(f, "runs/r/main/open.ptseg");
	FILE *o = fopen(op, "a");
	fputs("torn tail!", o);
	fclose(o);
	long size = tu_file_size(op);
	char *cut = spath(f, "runs/r/main/cut");
	plant(f->outside, cut);
	assert_refused(open_rec(f, "r"), "cut");
	assert_untouched(f);
	assert_int_equal(tu_file_size(op), size); /* nothing cut either */
	/* without the link, recovery works, and the cut copy is private */
	unlink(cut);
	TU_OK(open_rec(f, "r"));
	char **names;
	size_t n;
	TU_OK(pt__list_dir(cut, NULL, &names, &n));
	assert_int_equal(n, 1);
	char *copy = tu_path(cut, names[0]);
	struct stat sb;
	assert_int_equal(stat(copy, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	assert_int_equal(stat(cut, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	free(copy);
	pt_strv_free(names, n);
	free(cut);
	free(op);
}

/* ---- segments/, the chain, the stream and run directories ---- */
static void segments_dir_link_is_refused(void **state)
{
	fx *f = *state;
	char *run = spath(f, "runs/r");
	mkdir(run, 0755);
	char *main = spath(f, "runs/r/main");
	mkdir(main, 0755);
	char *seg = spath(f, "runs/r/main/segments");
	plant(f->outside, seg);
	assert_refused(open_rec(f, "r"), "segments");
	assert_untouched(f);
	/* the stream directory itself */
	tu_rmrf(main);
	plant(f->outside, main);
	assert_refused(open_rec(f, "r"), "main");
	assert_untouched(f);
	/* the run directory; and listing runs does not show a link as a run */
	unlink(main);
	tu_rmrf(run);
	plant(f->outside, run);
	assert_refused(open_rec(f, "r"), "runs/r");
	assert_untouched(f);
	char **names;
	size_t n;
	TU_OK(pt_store_runs(f->st, &names, &n));
	assert_int_equal(n, 0);
	pt_strv_free(names, n);
	free(seg);
	free(main);
	free(run);
}

static void chain_link_is_refused(void **state)
{
	fx *f = *state;
	record(f, "r", 3);
	char *chain = spath(f, "runs/r/main/chain");
	replace_with_link(f->victim, chain);
	assert_refused(open_rec(f, "r"), "chain");
	assert_untouched(f);
	/* readers refuse it the same way */
	pt_iter *it;
	assert_refused(pt_iter_open(&it, f->st, "r", NULL, NULL), "chain");
	free(chain);
}

/* The old temporary names were "<file>.tmp.<pid>" and "<id>-<pid>-<n>", opened
 * O_TRUNC: plant links at every name this process would have used, seal. */
static void temp_names_are_unpredictable(void **state)
{
	fx *f = *state;
	record(f, "r", 3);
	char name[256];
	snprintf(name, sizeof name, "runs/r/main/chain.tmp.%d", (int)getpid());
	char *old = spath(f, name);
	plant(f->victim, old);
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, NULL));
	pt_event *e;
	TU_OK(pt_event_new(&e, "note", "one more"));
	TU_OK(pt_recorder_append(r, e, NULL));
	pt_event_free(e);
	size_t before = 0, after = 0;
	sealed_count(f->st, "r", NULL, &before);
	TU_OK(pt_recorder_seal(r)); /* writes the chain through a temporary */
	TU_OK(pt_recorder_close(r));
	sealed_count(f->st, "r", NULL, &after);
	assert_int_equal(after, before + 1); /* the chain was written */
	assert_untouched(f);
	/* two temporaries never share a name, and the name is not derived from the pid */
	char *dir = spath(f, "runs/r/main");
	char *t1, *t2;
	int a = pt__tmp_in(pt_store_path(f->st), dir, ".t-", 0600, &t1);
	int b = pt__tmp_in(pt_store_path(f->st), dir, ".t-", 0600, &t2);
	assert_true(a >= 0 && b >= 0);
	assert_string_not_equal(t1, t2);
	assert_int_equal(strlen(strrchr(t1, '/') + 1), 3 + 24);
	close(a);
	close(b);
	unlink(t1);
	unlink(t2);
	free(t1);
	free(t2);
	free(dir);
	free(old);
}

/* ---- readers: a sealed segment swapped for a link to a (valid) copy outside ---- */
static void readers_do_not_follow_links(void **state)
{
	fx *f = *state;
	record(f, "r", 20);
	char **segs;
	size_t n = 0;
	segs = tu_sealed(f->st, "r", NULL, &n);
	assert_int_equal(n, 1);
	char *copy = tu_path(f->outside, "copy.ptseg");
	assert_int_equal(tu_copy_file(segs[0], copy), 0);
	replace_with_link(copy, segs[0]);
	pt_iter *it;
	const pt_event_view *v;
	int rc = pt_iter_open(&it, f->st, "r", NULL, NULL);
	if (!rc) {
		rc = pt_iter_next(it, &v);
		pt_iter_free(it);
	}
	assert_refused(rc, ".ptseg");
	pt_verify_stats vs;
	assert_int_equal(pt_verify(f->st, NULL, NULL, NULL, NULL, &vs), PT_ECORRUPT);
	/* the writer names it as a link too */
	assert_refused(open_rec(f, "r"), ".ptseg");
	unlink(segs[0]);
	assert_int_equal(tu_copy_file(copy, segs[0]), 0);
	TU_OK(open_rec(f, "r"));
	unlink(copy); /* the test's own file; `outside` holds only the victim again */
	/* and the snapshot index is not read through a link either */
	char *snaps = spath(f, "runs/r/main/snapshots");
	replace_with_link(f->victim, snaps);
	pt_recorder *r;
	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.snapshot_every = 4; /* snapshots are appended to the index while recording */
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, &o)); /* a cache: a link there is no index */
	for (int i = 0; i < 40; i++)
		TU_OK(pt_recorder_metric(r, "loss", i, 100 + i));
	int rc2 = pt_recorder_close(r);
	if (rc2)
		assert_refused(rc2, "snapshots");
	assert_untouched(f);
	for (size_t i = 0; i < n; i++)
		free(segs[i]);
	free(segs);
	free(snaps);
	free(copy);
}

/* ---- the archive job reads hot segments without following a link ---- */
static void archive_does_not_read_through_links(void **state)
{
	fx *f = *state;
	record(f, "r", 20);
	char **segs;
	size_t n = 0;
	segs = tu_sealed(f->st, "r", NULL, &n);
	assert_int_equal(n, 1);
	/* a link to a byte-identical copy: the hash checks cannot tell, only the open can */
	char *copy = tu_path(f->outside, "victim");
	unlink(copy);
	assert_int_equal(tu_copy_file(segs[0], copy), 0);
	replace_with_link(copy, segs[0]);
	char *vault = tu_path(f->dir, "vault");
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = "p";
	p.schedule = "* * * * *";
	p.vault = vault;
	p.min_age = 0;
	TU_OK(pt_archive_plan_add(f->st, &p));
	pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
	o.plan = "p";
	o.force = 1;
	assert_refused(pt_archive_run(f->st, &o), ".ptseg");
	pt_archive_info *v;
	size_t na;
	TU_OK(pt_archive_list(&v, &na, f->st));
	assert_int_equal(na, 0);
	pt_archive_list_free(v, na);
	for (size_t i = 0; i < n; i++)
		free(segs[i]);
	free(segs);
	free(copy);
	free(vault);
}

/* ---- objects/<xx>/ ---- */
static void objects_subdir_link_is_refused(void **state)
{
	fx *f = *state;
	const char data[] = "an object that goes to objects/xx";
	uint8_t id[32];
	pt__sha256(data, sizeof data, id);
	char hex[65], rel[80];
	pt__hex(id, 32, hex);
	char *objs = spath(f, "objects");
	mkdir(objs, 0755);
	snprintf(rel, sizeof rel, "objects/%.2s", hex);
	char *sub = spath(f, rel);
	plant(f->outside, sub);
	assert_refused(pt__object_put(f->st, data, sizeof data, NULL), rel);
	assert_untouched(f);
	/* the objects directory itself */
	unlink(sub);
	tu_rmrf(objs);
	plant(f->outside, objs);
	assert_refused(pt__object_put(f->st, data, sizeof data, NULL), "objects");
	assert_untouched(f);
	free(sub);
	free(objs);
}

/* ---- the config file ---- */
static void config_link_is_refused(void **state)
{
	fx *f = *state;
	char *cfg = spath(f, "config");
	FILE *v = fopen(f->victim, "w");
	fputs("provtrace-store\nformat = 1\n", v); /* a config-looking file outside */
	fclose(v);
	replace_with_link(f->victim, cfg);
	pt_store *st2 = NULL;
	assert_refused(pt_store_open(&st2, pt_store_path(f->st)), "config");
	assert_null(st2);
	v = fopen(f->victim, "w");
	fputs(VICTIM_TEXT, v);
	fclose(v);
	free(cfg);
}

/* ---- restore follows no link already in the target store ---- */
static void restore_into_linked_dirs_is_refused(void **state)
{
	fx *f = *state;
	record(f, "r", 50);
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, f->st, "r", NULL, NULL));
	TU_OK(pt_recorder_seal(r));
	TU_OK(pt_recorder_close(r));
	char *vault = tu_path(f->dir, "vault");
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	p.name = "p";
	p.schedule = "* * * * *";
	p.vault = vault;
	p.min_age = 0;
	TU_OK(pt_archive_plan_add(f->st, &p));
	pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
	o.plan = "p";
	o.force = 1;
	TU_OK(pt_archive_run(f->st, &o));
	pt_archive_info *v;
	size_t n;
	TU_OK(pt_archive_list(&v, &n, f->st));
	assert_int_equal(n, 1);

	const char *targets[] = {"runs", "runs/r", "runs/r/main", "runs/r/main/segments", "archive"};
	for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
		char *other = tu_path(f->dir, "other");
		tu_rmrf(other);
		pt_store *st2;
		TU_OK(pt_store_init(&st2, other));
		/* make the parents of the planted link, then the link */
		char *link = tu_path(pt_store_path(st2), targets[t]);
		char *parent = strdup(link);
		*strrchr(parent, '/') = 0;
		char cmd[1024];
		snprintf(cmd, sizeof cmd, "mkdir -p '%s'", parent);
		assert_int_equal(tu_run(cmd), 0);
		replace_with_link(f->outside, link);
		pt_restore_stats rs;
		int rc = pt_archive_restore(v[0].path, other, NULL, &rs);
		assert_refused(rc, targets[t]);
		assert_untouched(f);
		pt_store_free(st2);
		free(parent);
		free(link);
		free(other);
	}
	pt_archive_list_free(v, n);
	free(vault);
}

/* ---- two users: another uid plants links in a group-writable store ---- */
static bool have_mallory(uid_t *uid, gid_t *gid)
{
	if (geteuid() != 0)
		return false;
	struct passwd *pw = getpwnam(MALLORY);
	if (!pw) {
		if (tu_run("useradd --system --no-create-home --shell /usr/sbin/nologin " MALLORY " 2>/dev/null") != 0)
			return false;
		pw = getpwnam(MALLORY);
	}
	if (!pw)
		return false;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return true;
}

/* Run `cmd` (a shell line) as the second user. */
static int as_mallory(uid_t uid, gid_t gid, const char *cmd)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(97);
		if (getuid() == 0)
			_exit(98);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(99);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void second_user_cannot_redirect_root(void **state)
{
	fx *f = *state;
	uid_t uid = 0;
	gid_t gid = 0;
	if (!have_mallory(&uid, &gid)) {
		if (geteuid() != 0) {
			print_message("SKIPPED: the two-user case needs root (to create user " MALLORY "); not root\n");
			skip();
		}
		fail_msg("running as root but cannot create user " MALLORY);
	}
	/* the victim: a root-only file; the store: writable by everyone (a careless shared setup) */
	chmod(f->victim, 0600);
	record(f, "r", 3);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "chmod -R a+rwX '%s' && chmod a+rx '%s' '%s'", pt_store_path(f->st), f->dir,
		 f->outside);
	assert_int_equal(tu_run(cmd), 0);
	const char *store = pt_store_path(f->st);

	/* 1. lock and open segment replaced by links to root's file */
	snprintf(cmd, sizeof cmd, "cd '%s/runs/r/main' && rm -f lock open.ptseg && ln -s '%s' lock && ln -s '%s' open.ptseg",
		 store, f->victim, f->victim);
	assert_int_equal(as_mallory(uid, gid, cmd), 0);
	assert_refused(open_rec(f, "r"), "lock");
	assert_untouched(f);
	snprintf(cmd, sizeof cmd, "rm -f '%s/runs/r/main/lock'", store);
	assert_int_equal(tu_run(cmd), 0);
	assert_refused(open_rec(f, "r"), "open.ptseg");
	assert_untouched(f);

	/* 2. a torn tail to recover, and cut/ pointing at a directory of root's */
	snprintf(cmd, sizeof cmd, "rm -f '%s/runs/r/main/open.ptseg'", store);
	assert_int_equal(tu_run(cmd), 0);
	record(f, "s", 3);
	snprintf(cmd, sizeof cmd, "chmod -R a+rwX '%s/runs/s' && chmod 0700 '%s'", store, f->outside);
	assert_int_equal(tu_run(cmd), 0);
	snprintf(cmd, sizeof cmd, "cd '%s/runs/s/main' && printf torn >> open.ptseg && ln -s '%s' cut", store, f->outside);
	assert_int_equal(as_mallory(uid, gid, cmd), 0);
	assert_refused(open_rec(f, "s"), "cut");
	assert_untouched(f);

	/* 3. a new run's directory planted before root records into it */
	snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/runs/t'", f->outside, store);
	assert_int_equal(as_mallory(uid, gid, cmd), 0);
	assert_refused(open_rec(f, "t"), "runs/t");
	assert_untouched(f);

	/* 4. an object directory planted before a checkpoint writes into it */
	const char data[] = "root's object";
	uint8_t id[32];
	char hex[65];
	pt__sha256(data, sizeof data, id);
	pt__hex(id, 32, hex);
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/objects' && chmod a+rwx '%s/objects'", store, store);
	assert_int_equal(tu_run(cmd), 0);
	snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/objects/%.2s'", f->outside, store, hex);
	assert_int_equal(as_mallory(uid, gid, cmd), 0);
	assert_refused(pt__object_put(f->st, data, sizeof data, NULL), "objects");
	assert_untouched(f);
	chmod(f->outside, 0755);
}

/* A store named by a relative path (the root of every confined open) works. */
static void relative_store_path_works(void **state)
{
	fx *f = *state;
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(f->dir), 0);
	pt_store *st;
	int rc = pt_store_init(&st, "rel");
	if (!rc) {
		pt_recorder *r;
		rc = pt_recorder_open(&r, st, "x", NULL, NULL);
		if (!rc)
			rc = pt_recorder_close(r);
		pt_store_free(st);
	}
	assert_int_equal(chdir(cwd), 0);
	TU_OK(rc);
}

#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, setup_openat2, teardown), \
		 cmocka_unit_test_setup_teardown(fn, setup_walk, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(lock_file_link_is_refused),
		BOTH(open_segment_link_is_refused),
		BOTH(cut_dir_link_is_refused),
		BOTH(segments_dir_link_is_refused),
		BOTH(chain_link_is_refused),
		BOTH(temp_names_are_unpredictable),
		BOTH(readers_do_not_follow_links),
		BOTH(archive_does_not_read_through_links),
		BOTH(objects_subdir_link_is_refused),
		BOTH(config_link_is_refused),
		BOTH(restore_into_linked_dirs_is_refused),
		BOTH(second_user_cannot_redirect_root),
		BOTH(relative_store_path_works),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
