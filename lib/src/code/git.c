/*
 * git.c - code provenance from git repositories.  The only file of the
 * library that includes <git2.h>; libgit2 errors are translated here.
 */
#include "code/code_int.h"

#include <errno.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <limits.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();
	return pt__err(code, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

/*
 * libgit2 is initialised once per process and never shut down: its global
 * init loads the TLS certificate store (~10 ms here) and shutdown costs
 * ~5 ms, which would double the cost of a capture.  Its state is reachable
 * from globals until exit, so leak checkers do not report it.
 */
static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static int git_init_rc;

static void git_init_once(void) { git_init_rc = git_libgit2_init(); }

static int git_init(void)
{
	pthread_once(&git_once, git_init_once);
	if (git_init_rc < 0)
		return git_fail(PT_ERROR, "cannot initialise libgit2");
	return 0;
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "libgit2 error";
}

typedef struct {
	pt_code_provenance *p;
	const pt_code_options *o;
	const pt__code_objects *objs;
	int64_t deadline; /* monotonic ns; 0: no budget */
	bool timed_out;
	git_repository *repo;
	const char *workdir;
	size_t cap_changes, cap_untracked, cap_remotes, cap_subs;
	uint64_t stored_bytes;
	pt__buf patch;
	/* untracked contents read during the scan, stored together at the end */
	pt__code_put_item *pending;
	size_t n_pending, cap_pending;
	char *skip_prefix; /* the store, relative to the workdir, with a '/' */
} cap_ctx;

static bool over_budget(cap_ctx *c)
{
	if (!c->timed_out && c->deadline && pt__mono_ns() > c->deadline)
		c->timed_out = true;
	return c->timed_out;
}

static int set_state(cap_ctx *c, const char *state, const char *msg)
{
	int rc = pt__code_setstr(&c->p->state, state);
	if (!rc && msg)
		rc = pt__code_setstr(&c->p->message, msg);
	return rc;
}

/* Record the first reason the capture was cut; later ones are consequences. */
static int truncate_with(cap_ctx *c, const char *reason)
{
	c->p->truncated = 1;
	if (c->p->truncated_reason)
		return 0;
	return pt__code_setstr(&c->p->truncated_reason, reason);
}

static int oid_str(const char **field, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	return pt__code_setstr(field, hex);
}

/*
 * Remotes are read from the configuration with a plain iterator rather than
 * git_remote_list()/git_remote_lookup(): in libgit2 1.5 those match config
 * names with a regex whose match data leaks ~20 KB per non-matching call
 * (libgit2 PR #6382).  The URL recorded is the configured one (the first
 * `url` of each remote, as fetch uses), before any insteadOf rewriting.
 */
static int capture_remotes(cap_ctx *c)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	int rc = 0;
	if (git_repository_config_snapshot(&cfg, c->repo) < 0 ||
	    git_config_iterator_new(&it, cfg) < 0) {
		git_error_clear(); /* unreadable config: record no remotes rather than fail */
		goto done;
	}
	while (!rc && git_config_next(&e, it) == 0) {
		size_t n = strlen(e->name);
		if (n <= 11 || strncasecmp(e->name, "remote.", 7) || strcasecmp(e->name + n - 4, ".url"))
			continue;
		const char *name = e->name + 7;
		size_t name_len = n - 11;
		bool seen = false;
		for (size_t i = 0; i < c->p->n_remotes && !seen; i++)
			seen = strlen(c->p->remotes[i].name) == name_len &&
			       !strncmp(c->p->remotes[i].name, name, name_len);
		if (seen || !e->value)
			continue;
		rc = pt__code_grow((void **)&c->p->remotes, &c->cap_remotes, c->p->n_remotes,
				   sizeof(pt_code_remote));
		if (rc)
			break;
		pt_code_remote *r = &c->p->remotes[c->p->n_remotes];
		memset(r, 0, sizeof(*r));
		c->p->n_remotes++;
		if (!(r->name = pt__strndup(name, name_len)))
			rc = PT_ENOMEM;
		else
			rc = pt_code_strip_url((char **)&r->url, e->value);
	}
done:
	git_config_iterator_free(it);
	git_config_free(cfg);
	return rc;
}

/*
 * The upstream of `branch` from branch.<b>.remote / branch.<b>.merge, mapped
 * to the remote-tracking ref with the default refspec
 * (refs/heads/X -> refs/remotes/<remote>/X).  Done by hand because
 * git_branch_upstream() goes through the leaking regex lookup (see
 * capture_remotes).  A remote "." means a local branch.
 */
static int capture_upstream(cap_ctx *c, const char *branch, const git_oid *head)
{
	git_config *cfg = NULL;
	git_buf remote = { 0 }, merge = { 0 };
	char *key = NULL, *ref = NULL;
	int rc = 0;
	if (git_repository_config_snapshot(&cfg, c->repo) < 0)
		goto done;
	if (!(key = pt__sprintf("branch.%s.remote", branch))) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (git_config_get_string_buf(&remote, cfg, key) < 0)
		goto done;
	pt__free(key);
	if (!(key = pt__sprintf("branch.%s.merge", branch))) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (git_config_get_string_buf(&merge, cfg, key) < 0 || strncmp(merge.ptr, "refs/heads/", 11))
		goto done;
	const char *short_merge = merge.ptr + 11;
	bool local = !strcmp(remote.ptr, ".");
	ref = local ? pt__sprintf("%s", merge.ptr)
		    : pt__sprintf("refs/remotes/%s/%s", remote.ptr, short_merge);
	char *name = local ? pt__sprintf("%s", short_merge)
			   : pt__sprintf("%s/%s", remote.ptr, short_merge);
	if (!ref || !name) {
		pt__free(name);
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__code_setstr(&c->p->upstream, name);
	pt__free(name);
	git_oid up;
	size_t ahead, behind;
	if (!rc && git_reference_name_to_id(&up, c->repo, ref) == 0 &&
	    git_graph_ahead_behind(&ahead, &behind, c->repo, head, &up) == 0) {
		c->p->ahead = (int64_t)ahead;
		c->p->behind = (int64_t)behind;
	}
done:
	git_error_clear();
	pt__free(key);
	pt__free(ref);
	git_buf_dispose(&remote);
	git_buf_dispose(&merge);
	git_config_free(cfg);
	return rc;
}

/* HEAD, branch, upstream.  `*tree` receives HEAD's tree (NULL when unborn). */
static int capture_head(cap_ctx *c, git_tree **tree)
{
	git_reference *head = NULL;
	git_commit *commit = NULL;
	int rc = 0;
	*tree = NULL;

	int unborn = git_repository_head_unborn(c->repo);
	if (unborn == 1) {
		git_reference *sym = NULL;
		if (git_reference_lookup(&sym, c->repo, "HEAD") == 0) {
			const char *t = git_reference_symbolic_target(sym);
			if (t && !strncmp(t, "refs/heads/", 11))
				rc = pt__code_setstr(&c->p->branch, t + 11);
			git_reference_free(sym);
		}
		if (!rc)
			rc = set_state(c, "unborn",
				       "HEAD has no commit yet: changes are recorded against the "
				       "empty tree");
		return rc;
	}
	if (unborn < 0 || git_repository_head(&head, c->repo) < 0) {
		char *m = pt__sprintf("cannot read HEAD: %s", git_msg());
		rc = m ? set_state(c, "error", m) : PT_ENOMEM;
		pt__free(m);
		return rc;
	}
	c->p->detached = git_repository_head_detached(c->repo) == 1;
	if (git_reference_peel((git_object **)&commit, head, GIT_OBJECT_COMMIT) < 0) {
		char *m = pt__sprintf("HEAD does not point to a commit: %s", git_msg());
		rc = m ? set_state(c, "error", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	}
	rc = oid_str(&c->p->commit, git_commit_id(commit));
	if (!rc && git_commit_tree(tree, commit) < 0) {
		char *m = pt__sprintf("cannot read the tree of HEAD: %s", git_msg());
		rc = m ? set_state(c, "error", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	}
	if (rc || c->p->detached)
		goto done;

	const char *bname = NULL;
	if (git_branch_name(&bname, head) == 0)
		rc = pt__code_setstr(&c->p->branch, bname);
	if (!rc && bname)
		rc = capture_upstream(c, bname, git_commit_id(commit));
done:
	git_commit_free(commit);
	git_reference_free(head);
	return rc;
}

static int progress_cb(const git_diff *so_far, const char *old_path, const char *new_path,
		       void *payload)
{
	return over_budget(payload) ? -1 : 0;
}

static char *workdir_path(cap_ctx *c, const char *rel)
{
	return pt__sprintf("%s%s", c->workdir, rel);
}

/*
 * Mode, size and SHA-256 of a working-tree path as git sees it: a symlink is
 * its target string.  Returns 1 if the path is not a file (vanished, a
 * directory), 0 with the fields set, or an error.
 */
static int hash_worktree(cap_ctx *c, const char *rel, uint32_t *mode, uint64_t *size,
			 const char **sha, uint8_t **content, uint64_t content_max)
{
	char *path = workdir_path(c, rel);
	struct stat sb;
	int rc = 0;
	uint8_t digest[PT_SHA256_LEN];
	char hex[PT_SHA256_HEX];
	if (!path)
		return PT_ENOMEM;
	if (lstat(path, &sb) < 0) {
		rc = 1;
		goto done;
	}
	if (S_ISLNK(sb.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target));
		if (n < 0) {
			rc = 1;
			goto done;
		}
		*mode = 0120000;
		*size = (uint64_t)n;
		pt__sha256(target, (size_t)n, digest);
		if (content) {
			*content = pt__malloc((size_t)n + 1);
			if (!*content) {
				rc = PT_ENOMEM;
				goto done;
			}
			memcpy(*content, target, (size_t)n);
		}
	} else if (S_ISREG(sb.st_mode)) {
		*mode = (sb.st_mode & 0100) ? 0100755 : 0100644;
		*size = (uint64_t)sb.st_size;
		if (content && (uint64_t)sb.st_size <= content_max) {
			size_t len;
			if (pt__read_file(path, (size_t)content_max, content, &len) < 0) {
				rc = 1; /* changed under us; recorded without a hash */
				goto done;
			}
			*size = len;
			pt__sha256(*content, len, digest);
		} else if (pt__sha256_file(path, digest, size) < 0) {
			rc = 1;
			goto done;
		}
	} else {
		rc = 1;
		goto done;
	}
	pt__hex(digest, PT_SHA256_LEN, hex);
	rc = pt__code_setstr(sha, hex);
done:
	pt__free(path);
	return rc;
}

static char status_char(git_delta_t s)
{
	switch (s) {
	case GIT_DELTA_ADDED: return 'A';
	case GIT_DELTA_DELETED: return 'D';
	case GIT_DELTA_MODIFIED: return 'M';
	case GIT_DELTA_RENAMED: return 'R';
	case GIT_DELTA_COPIED: return 'C';
	case GIT_DELTA_TYPECHANGE: return 'T';
	case GIT_DELTA_CONFLICTED: return 'U';
	default: return '?';
	}
}

static int add_change(cap_ctx *c, git_diff *diff, size_t idx, const git_diff_delta *d)
{
	int rc = pt__code_grow((void **)&c->p->changes, &c->cap_changes, c->p->n_changes,
			       sizeof(pt_code_change));
	if (rc)
		return rc;
	pt_code_change *ch = &c->p->changes[c->p->n_changes++];
	memset(ch, 0, sizeof(*ch));
	ch->status = status_char(d->status);
	rc = pt__code_setstr(&ch->path, d->new_file.path ? d->new_file.path : d->old_file.path);
	if (!rc && d->status == GIT_DELTA_RENAMED)
		rc = pt__code_setstr(&ch->old_path, d->old_file.path);
	if (rc)
		return rc;
	if (c->timed_out)
		return 0; /* listed, but neither hashed nor in the patch */

	if (d->status != GIT_DELTA_DELETED) {
		rc = hash_worktree(c, ch->path, &ch->mode, &ch->size, &ch->sha256, NULL, 0);
		if (rc < 0)
			return rc;
		rc = 0;
	}
	/*
	 * A large binary (a tracked model file, a dataset) would put its whole
	 * content into the patch: keep the patch bounded and say what is left
	 * out (restore then reports the file as not reproduced).
	 */
	uint64_t old_size = d->old_file.size;
	if (ch->size > c->o->patch_max_bytes || old_size > c->o->patch_max_bytes ||
	    c->patch.len > c->o->patch_max_bytes) {
		char *m = pt__sprintf("the patch would exceed %llu bytes: the changes of %s and "
				      "maybe others are not stored",
				      (unsigned long long)c->o->patch_max_bytes, ch->path);
		rc = m ? truncate_with(c, m) : PT_ENOMEM;
		pt__free(m);
		return rc;
	}
	git_patch *patch = NULL;
	git_buf gb = { 0 };
	if (git_patch_from_diff(&patch, diff, idx) < 0) {
		char *m = pt__sprintf("cannot diff %s: %s", ch->path, git_msg());
		rc = m ? truncate_with(c, m) : PT_ENOMEM;
		pt__free(m);
		return rc;
	}
	if (patch && git_patch_to_buf(&gb, patch) == 0) {
		if (c->patch.len + gb.size > c->o->patch_max_bytes) {
			char *m = pt__sprintf("the patch would exceed %llu bytes: the changes of %s "
					      "and maybe others are not stored",
					      (unsigned long long)c->o->patch_max_bytes, ch->path);
			rc = m ? truncate_with(c, m) : PT_ENOMEM;
			pt__free(m);
		} else {
			rc = pt__buf_append(&c->patch, gb.ptr, gb.size);
		}
	} else if (patch)
		rc = git_fail(PT_ERROR, "cannot format the patch");
	git_buf_dispose(&gb);
	git_patch_free(patch);
	return rc;
}

static int add_untracked(cap_ctx *c, const char *rel)
{
	if (c->p->n_untracked >= c->o->untracked_max_files) {
		char *m = pt__sprintf("more than %u untracked files: the rest are not listed",
				      c->o->untracked_max_files);
		int rc = m ? truncate_with(c, m) : PT_ENOMEM;
		pt__free(m);
		return rc;
	}
	int rc = pt__code_grow((void **)&c->p->untracked, &c->cap_untracked, c->p->n_untracked,
			       sizeof(pt_code_untracked));
	if (rc)
		return rc;
	pt_code_untracked *u = &c->p->untracked[c->p->n_untracked++];
	memset(u, 0, sizeof(*u));
	if ((rc = pt__code_setstr(&u->path, rel)))
		return rc;
	size_t rl = strlen(rel);
	if (rl && rel[rl - 1] == '/') {
		/* a nested repository libgit2 does not descend into */
		u->mode = 040000;
		return 0;
	}
	if (over_budget(c))
		return 0;

	uint64_t room = 0;
	if (c->stored_bytes < c->o->untracked_total_max_bytes)
		room = c->o->untracked_total_max_bytes - c->stored_bytes;
	uint64_t limit = c->o->untracked_max_bytes < room ? c->o->untracked_max_bytes : room;
	uint8_t *content = NULL;
	rc = hash_worktree(c, rel, &u->mode, &u->size, &u->sha256, &content, limit);
	if (rc == 0 && content) {
		rc = pt__code_grow((void **)&c->pending, &c->cap_pending, c->n_pending,
				   sizeof(pt__code_put_item));
		if (!rc) {
			pt__code_put_item *it = &c->pending[c->n_pending++];
			it->data = content;
			it->len = (size_t)u->size;
			it->index = c->p->n_untracked - 1;
			c->stored_bytes += u->size;
			content = NULL;
		}
	}
	pt__free(content);
	return rc < 0 ? rc : 0;
}

typedef struct {
	cap_ctx *c;
	int rc;
} sub_ctx;

static int submodule_cb(git_submodule *sm, const char *name, void *payload)
{
	sub_ctx *s = payload;
	cap_ctx *c = s->c;
	git_submodule *open = NULL;
	int rc = pt__code_grow((void **)&c->p->submodules, &c->cap_subs, c->p->n_submodules,
			       sizeof(pt_code_submodule));
	if (rc)
		goto done;
	pt_code_submodule *e = &c->p->submodules[c->p->n_submodules++];
	memset(e, 0, sizeof(*e));
	/* the foreach handle cannot open the submodule's repository: look it up */
	if (git_submodule_lookup(&open, c->repo, name) < 0)
		open = NULL;
	git_submodule *h = open ? open : sm;
	const git_oid *head = git_submodule_head_id(h);
	const git_oid *wd = git_submodule_wd_id(h);
	rc = pt__code_setstr(&e->name, name);
	if (!rc)
		rc = pt__code_setstr(&e->path, git_submodule_path(h));
	if (!rc && git_submodule_url(h))
		rc = pt_code_strip_url((char **)&e->url, git_submodule_url(h));
	if (!rc && head)
		rc = oid_str(&e->commit, head);
	if (!rc && wd)
		rc = oid_str(&e->workdir_commit, wd);
	if (rc)
		goto done;
	if (head && wd && !git_oid_equal(head, wd)) {
		/* listed as a change so that require_clean names it */
		rc = pt__code_grow((void **)&c->p->changes, &c->cap_changes, c->p->n_changes,
				   sizeof(pt_code_change));
		if (rc)
			goto done;
		pt_code_change *ch = &c->p->changes[c->p->n_changes++];
		memset(ch, 0, sizeof(*ch));
		ch->status = 'M';
		ch->mode = 0160000;
		rc = pt__code_setstr(&ch->path, e->path);
	}
done:
	git_submodule_free(open);
	s->rc = rc;
	return rc ? -1 : 0;
}

static int capture_worktree(cap_ctx *c, git_tree *tree)
{
	git_index *idx = NULL;
	git_diff *diff = NULL;
	int rc = 0;

	if (git_repository_index(&idx, c->repo) < 0) {
		char *m = pt__sprintf("cannot read the index: %s", git_msg());
		rc = m ? set_state(c, "error", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	}
	size_t entries = git_index_entrycount(idx);
	if (entries > c->o->max_index_entries) {
		char *m = pt__sprintf("the index has %zu entries, more than the %u scanned: "
				      "uncommitted changes are not recorded",
				      entries, c->o->max_index_entries);
		rc = m ? set_state(c, "too_large", m) : PT_ENOMEM;
		if (!rc)
			rc = truncate_with(c, m);
		pt__free(m);
		goto done;
	}

	git_diff_options dopts;
	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	dopts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
		      GIT_DIFF_SHOW_BINARY | GIT_DIFF_INCLUDE_TYPECHANGE;
	/* submodules are recorded by commit below, not as patch lines */
	dopts.ignore_submodules = GIT_SUBMODULE_IGNORE_ALL;
	dopts.progress_cb = progress_cb;
	dopts.payload = c;
	int grc = git_diff_tree_to_workdir_with_index(&diff, c->repo, tree, &dopts);
	if (grc < 0) {
		if (c->timed_out) {
			rc = truncate_with(c, "time budget exceeded while scanning the working tree: "
					      "changes and untracked files are not recorded");
		} else {
			char *m = pt__sprintf("cannot scan the working tree: %s", git_msg());
			rc = m ? truncate_with(c, m) : PT_ENOMEM;
			pt__free(m);
		}
		goto done;
	}
	git_diff_find_options fo;
	git_diff_find_options_init(&fo, GIT_DIFF_FIND_OPTIONS_VERSION);
	fo.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_find_similar(diff, &fo) < 0)
		git_error_clear(); /* renames then show as delete + add: still exact */

	size_t n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n && !rc; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		bool was_out = c->timed_out;
		if (d->status == GIT_DELTA_UNTRACKED) {
			if (!c->skip_prefix ||
			    strncmp(d->new_file.path, c->skip_prefix, strlen(c->skip_prefix)))
				rc = add_untracked(c, d->new_file.path);
		}
		else if (d->status != GIT_DELTA_UNMODIFIED && d->status != GIT_DELTA_IGNORED &&
			 d->status != GIT_DELTA_UNREADABLE) {
			over_budget(c);
			rc = add_change(c, diff, i, d);
		}
		if (!rc && !was_out && c->timed_out)
			rc = truncate_with(c, "time budget exceeded while recording changes: later "
					      "files are listed without contents or hashes");
	}
	if (rc)
		goto done;

	/* git_submodule_foreach also leaks in libgit2 1.5: only call it when
	 * there can be submodules */
	sub_ctx s = { c, 0 };
	char *gm = workdir_path(c, ".gitmodules");
	if (!gm) {
		rc = PT_ENOMEM;
		goto done;
	}
	bool has_modules = pt__exists(gm);
	pt__free(gm);
	if (has_modules && git_submodule_foreach(c->repo, submodule_cb, &s) < 0) {
		if (s.rc) {
			rc = s.rc;
			goto done;
		}
		git_error_clear(); /* broken .gitmodules: submodules not recorded */
	}
	c->p->dirty = c->p->n_changes > 0 || c->p->n_untracked > 0;
	if (c->p->truncated && !c->p->dirty)
		c->p->dirty = -1;
done:
	git_diff_free(diff);
	git_index_free(idx);
	return rc;
}

/* The store's path relative to the working tree, if it is inside it. */
static int store_prefix(cap_ctx *c)
{
	if (!c->objs->store_dir)
		return 0;
	char wdbuf[PATH_MAX], sdbuf[PATH_MAX]; /* realpath(NULL) would bypass alloc.h */
	char *wd = realpath(c->workdir, wdbuf), *sd = realpath(c->objs->store_dir, sdbuf);
	int rc = 0;
	size_t n = wd ? strlen(wd) : 0;
	if (wd && sd && !strncmp(sd, wd, n) && sd[n] == '/' && sd[n + 1]) {
		c->skip_prefix = pt__sprintf("%s/", sd + n + 1);
		if (!c->skip_prefix)
			rc = PT_ENOMEM;
	}
	return rc;
}

int pt__code_git_capture(pt_code_provenance **out, const pt_code_options *o,
			 const pt__code_objects *objs)
{
	int64_t t0 = pt__mono_ns();
	cap_ctx c = { 0 };
	git_tree *tree = NULL;
	char *start = NULL;
	int rc = 0;

	*out = NULL;
	c.o = o;
	c.objs = objs;
	c.deadline = o->time_budget_ms ? t0 + (int64_t)o->time_budget_ms * 1000000 : 0;
	c.p = pt__calloc(1, sizeof(*c.p));
	if (!c.p)
		return PT_ENOMEM;
	c.p->ahead = c.p->behind = -1;
	c.p->dirty = -1;
	c.p->untracked_max_bytes = o->untracked_max_bytes;

	{
		/* fix: was getcwd(NULL) freed with free(), and a pt__strdup freed with
		 * free(): every allocation goes through alloc.h */
		char cwd[PATH_MAX];
		start = o->repo_path ? pt__strdup(o->repo_path)
				     : getcwd(cwd, sizeof cwd) ? pt__strdup(cwd) : NULL;
	}
	if (!start) {
		rc = o->repo_path ? PT_ENOMEM : pt__err_errno(errno, "cannot get the working directory");
		goto done;
	}
	if ((rc = git_init()))
		goto done;

	int grc = git_repository_open_ext(&c.repo, start, 0, NULL);
	if (grc == GIT_ENOTFOUND) {
		char *m = pt__sprintf("no git repository at or above %s", start);
		rc = m ? set_state(&c, "no_repository", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	} else if (grc < 0) {
		char *m = pt__sprintf("cannot open the git repository at %s: %s", start, git_msg());
		rc = m ? set_state(&c, "error", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	}
	rc = pt__code_setstr(&c.p->gitdir, git_repository_path(c.repo));
	if (!rc)
		rc = capture_remotes(&c);
	if (!rc)
		rc = capture_head(&c, &tree);
	if (rc || c.p->state) /* "error" or "unborn" so far */
		if (rc || strcmp(c.p->state, "unborn"))
			goto done;
	if (git_repository_is_bare(c.repo)) {
		rc = set_state(&c, "bare", "bare repository: there is no working tree");
		goto done;
	}
	c.workdir = git_repository_workdir(c.repo);
	rc = pt__code_setstr(&c.p->workdir, c.workdir);
	if (!rc)
		rc = store_prefix(&c);
	if (!rc)
		rc = capture_worktree(&c, tree);
	if (!rc && c.patch.len) {
		rc = pt__code_grow((void **)&c.pending, &c.cap_pending, c.n_pending,
				   sizeof(pt__code_put_item));
		if (!rc) {
			pt__code_put_item *it = &c.pending[c.n_pending++];
			it->data = c.patch.data; /* still owned by c.patch */
			it->len = c.patch.len;
			it->index = SIZE_MAX;
			c.p->patch_bytes = c.patch.len;
		}
	}
	/* capture_us is the git side; storing the objects durably is extra */
	c.p->capture_us = (uint64_t)(pt__mono_ns() - t0) / 1000;
	if (!rc)
		rc = pt__code_put_many(objs, c.pending, c.n_pending);
	for (size_t i = 0; !rc && i < c.n_pending; i++)
		rc = pt__code_setstr(c.pending[i].index == SIZE_MAX ? &c.p->patch_object
								    : &c.p->untracked[c.pending[i].index].object,
				     c.pending[i].id);
done:
	for (size_t i = 0; i < c.n_pending; i++)
		if (c.pending[i].index != SIZE_MAX)
			pt__free(c.pending[i].data);
	pt__free(c.pending);
	if (!rc && !c.p->state)
		rc = set_state(&c, "ok", NULL);
	if (!c.p->capture_us)
		c.p->capture_us = (uint64_t)(pt__mono_ns() - t0) / 1000;
	pt__buf_free(&c.patch);
	pt__free(c.skip_prefix);
	git_tree_free(tree);
	git_repository_free(c.repo);
	pt__free(start);
	if (rc) {
		pt_code_provenance_free(c.p);
		return rc;
	}
	*out = c.p;
	return 0;
}

/* ---- restore ------------------------------------------------------------- */

int pt__code_git_build(const pt_code_provenance *p, const char *repo_path, const char *dir,
		       const char *patch, size_t patch_len)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_odb_backend *mem = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_diff *diff = NULL;
	git_index *idx = NULL;
	int rc = 0;

	const char *path = repo_path ? repo_path : p->gitdir ? p->gitdir : p->workdir;
	if (!path)
		return pt__err(PT_EINVAL, "no repository was recorded for this run (state %s)",
			       p->state ? p->state : "unknown");
	if ((rc = git_init()))
		return rc;

	int grc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (grc < 0) {
		rc = git_fail(grc == GIT_ENOTFOUND ? PT_ENOTFOUND : PT_ERROR,
			      path == repo_path ? "cannot open the repository given"
						: "cannot open the recorded repository");
		pt__err_wrap(rc, "%s", path);
		goto done;
	}
	/*
	 * The apply below writes the patched blobs as objects.  They go to an
	 * in-memory backend of the highest priority, so the user's repository
	 * is only read, never written.
	 */
	if (git_repository_odb(&odb, repo) < 0 || git_mempack_new(&mem) < 0) {
		rc = git_fail(PT_ERROR, "cannot set up an in-memory object database");
		goto done;
	}
	if (git_odb_add_backend(odb, mem, 1000) < 0) {
		rc = git_fail(PT_ERROR, "cannot set up an in-memory object database");
		mem->free(mem);
		goto done;
	}

	if (p->commit) {
		git_oid id;
		if (git_oid_fromstr(&id, p->commit) < 0) {
			rc = pt__err(PT_ECORRUPT, "recorded commit id '%s' is not valid", p->commit);
			goto done;
		}
		grc = git_commit_lookup(&commit, repo, &id);
		if (grc < 0) {
			rc = pt__err(grc == GIT_ENOTFOUND ? PT_ENOTFOUND : PT_ERROR,
				     "commit %s is not in the repository %s (fetch it, or give a "
				     "repository that has it): %s", p->commit, path, git_msg());
			goto done;
		}
		if (git_commit_tree(&tree, commit) < 0) {
			rc = git_fail(PT_ERROR, "cannot read the tree of the recorded commit");
			goto done;
		}
	} else {
		git_treebuilder *tb = NULL;
		git_oid empty;
		if (git_treebuilder_new(&tb, repo, NULL) < 0 || git_treebuilder_write(&empty, tb) < 0 ||
		    git_tree_lookup(&tree, repo, &empty) < 0) {
			rc = git_fail(PT_ERROR, "cannot build the empty tree");
			git_treebuilder_free(tb);
			goto done;
		}
		git_treebuilder_free(tb);
	}

	if (patch_len) {
		if (git_diff_from_buffer(&diff, patch, patch_len) < 0) {
			rc = git_fail(PT_ECORRUPT, "the stored patch cannot be parsed");
			goto done;
		}
		if (git_apply_to_tree(&idx, repo, tree, diff, NULL) < 0) {
			rc = git_fail(PT_ECORRUPT, "the stored patch does not apply to the recorded commit");
			goto done;
		}
	} else if (git_index_new(&idx) < 0 || git_index_read_tree(idx, tree) < 0) {
		rc = git_fail(PT_ERROR, "cannot read the recorded tree");
		goto done;
	}

	git_checkout_options co;
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX |
			       GIT_CHECKOUT_DONT_WRITE_INDEX | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
	co.target_directory = dir;
	if (git_checkout_index(repo, idx, &co) < 0) {
		rc = git_fail(PT_EIO, "cannot write the source tree");
		pt__err_wrap(rc, "%s", dir);
		goto done;
	}
done:
	git_index_free(idx);
	git_diff_free(diff);
	git_tree_free(tree);
	git_commit_free(commit);
	git_odb_free(odb);
	git_repository_free(repo);
	return rc;
}

/* ---- anchors: signed checkpoints kept in a git remote (code/anchor.c) ------------------------
 *
 * A scratch bare repository in $TMPDIR fetches the anchor branch, one commit
 * is made on top of it, and pushed (a fast-forward: the remote refuses a
 * rewrite of the branch unless someone forces it, and a host with protected
 * branches refuses that too).  The scratch repository is removed afterwards.
 */
#include <ftw.h>

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(p);
}

typedef struct {
	char dir[4096];
	git_repository *repo;
	git_remote *remote;
} scratch;

static void scratch_close(scratch *s)
{
	git_remote_free(s->remote);
	git_repository_free(s->repo);
	if (s->dir[0])
		nftw(s->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* a scratch repository with the remote's `branch` fetched into refs/remotes/a/BRANCH (if it exists) */
static int scratch_open(scratch *s, const char *url, const char *branch, git_oid *head, bool *have_head)
{
	memset(s, 0, sizeof *s);
	*have_head = false;
	int rc = git_init();
	if (rc)
		return rc;
	const char *t = getenv("TMPDIR");
	snprintf(s->dir, sizeof s->dir, "%s/pt-anchor.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(s->dir)) {
		s->dir[0] = 0;
		return pt__err_errno(errno, "cannot create a scratch directory for the anchor repository");
	}
	if (git_repository_init(&s->repo, s->dir, 1) < 0)
		return git_fail(PT_EIO, "cannot create the scratch anchor repository");
	/* anonymous, without url.<base>.insteadOf rewriting: the URL is used as
	 * given (and libgit2 1.5's insteadOf lookup leaks its regex match data) */
	git_remote_create_options ro;
	if (git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION) < 0)
		return git_fail(PT_ERROR, "remote options");
	ro.repository = s->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&s->remote, url, &ro) < 0)
		return git_fail(PT_EINVAL, url);
	if (git_remote_connect(s->remote, GIT_DIRECTION_FETCH, NULL, NULL, NULL) < 0)
		return git_fail(PT_EIO, url);
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, s->remote) < 0)
		return git_fail(PT_EIO, url);
	char ref[300];
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	bool exists = false;
	for (size_t i = 0; i < n; i++)
		exists |= !strcmp(heads[i]->name, ref);
	git_remote_disconnect(s->remote);
	if (!exists)
		return 0;
	char spec[700];
	snprintf(spec, sizeof spec, "+refs/heads/%s:refs/remotes/a/%s", branch, branch);
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	if (git_remote_fetch(s->remote, &refspecs, NULL, NULL) < 0)
		return git_fail(PT_EIO, url);
	char local[400];
	snprintf(local, sizeof local, "refs/remotes/a/%s", branch);
	if (git_reference_name_to_id(head, s->repo, local) < 0)
		return git_fail(PT_EIO, "the fetched anchor branch");
	*have_head = true;
	return 0;
}

static bool branch_ok(const char *b)
{
	char ref[300];
	snprintf(ref, sizeof ref, "refs/heads/%s", b);
	int valid = 0;
	return strlen(b) < 200 && git_reference_name_is_valid(&valid, ref) == 0 && valid;
}

int pt__git_anchor_push(const char *url, const char *branch, const char *message, const pt__anchor_file *f, size_t n,
			char out_commit[41])
{
	out_commit[0] = 0;
	if (!branch_ok(branch))
		return pt__err(PT_EINVAL, "\"%s\" is not a valid branch name", branch);
	scratch s;
	git_oid head, tree_id, commit_id;
	bool have = false;
	git_treebuilder *root = NULL, *sub = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	int rc = scratch_open(&s, url, branch, &head, &have);
	if (rc)
		goto done;
	if (have && git_commit_lookup(&parent, s.repo, &head) < 0) {
		rc = git_fail(PT_ECORRUPT, "the anchor branch's head");
		goto done;
	}
	/* the tree: <run>/<stream>.note for every file (sorted by run by the caller) */
	if (git_treebuilder_new(&root, s.repo, NULL) < 0) {
		rc = git_fail(PT_ENOMEM, "tree builder");
		goto done;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		if (git_treebuilder_new(&sub, s.repo, NULL) < 0) {
			rc = git_fail(PT_ENOMEM, "tree builder");
			goto done;
		}
		for (; j < n && !strcmp(f[j].run, f[i].run); j++) {
			git_oid blob;
			char name[200];
			snprintf(name, sizeof name, "%s.note", f[j].stream);
			if (git_blob_create_from_buffer(&blob, s.repo, f[j].text, strlen(f[j].text)) < 0 ||
			    git_treebuilder_insert(NULL, sub, name, &blob, GIT_FILEMODE_BLOB) < 0) {
				rc = git_fail(PT_EIO, "anchor tree");
				goto done;
			}
		}
		git_oid sub_id;
		if (git_treebuilder_write(&sub_id, sub) < 0 ||
		    git_treebuilder_insert(NULL, root, f[i].run, &sub_id, GIT_FILEMODE_TREE) < 0) {
			rc = git_fail(PT_EIO, "anchor tree");
			goto done;
		}
		git_treebuilder_free(sub);
		sub = NULL;
		i = j;
	}
	if (git_treebuilder_write(&tree_id, root) < 0 || git_tree_lookup(&tree, s.repo, &tree_id) < 0 ||
	    git_signature_now(&sig, "provtrace", "provtrace@localhost") < 0) {
		rc = git_fail(PT_EIO, "anchor commit");
		goto done;
	}
	char ref[300];
	snprintf(ref, sizeof ref, "refs/heads/%s", branch);
	const git_commit *parents[1] = {parent};
	if (git_commit_create(&commit_id, s.repo, ref, sig, sig, NULL, message, tree, parent ? 1 : 0, parents) < 0) {
		rc = git_fail(PT_EIO, "anchor commit");
		goto done;
	}
	char spec[700];
	snprintf(spec, sizeof spec, "refs/heads/%s:refs/heads/%s", branch, branch);
	char *specs[] = {spec};
	git_strarray refspecs = {specs, 1};
	if (git_remote_push(s.remote, &refspecs, NULL) < 0) {
		rc = git_fail(PT_EIO, "cannot push the anchor");
		goto done;
	}
	git_oid_tostr(out_commit, 41, &commit_id);
done:
	git_treebuilder_free(sub);
	git_treebuilder_free(root);
	git_tree_free(tree);
	git_commit_free(parent);
	git_signature_free(sig);
	scratch_close(&s);
	return rc;
}

int pt__git_anchor_read(const char *url, const char *branch, pt__anchor_cb cb, void *payload, size_t *commits)
{
	*commits = 0;
	if (!branch_ok(branch))
		return pt__err(PT_EINVAL, "\"%s\" is not a valid branch name", branch);
	scratch s;
	git_oid head, id;
	bool have = false;
	git_revwalk *walk = NULL;
	int rc = scratch_open(&s, url, branch, &head, &have);
	if (rc)
		goto done;
	if (!have) {
		rc = pt__err(PT_ENOTFOUND, "%s has no branch %s: nothing was anchored there (provtrace anchor push)", url, branch);
		goto done;
	}
	if (git_revwalk_new(&walk, s.repo) < 0 || git_revwalk_push(walk, &head) < 0) {
		rc = git_fail(PT_EIO, "anchor history");
		goto done;
	}
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while (!rc && git_revwalk_next(&id, walk) == 0) {
		git_commit *c = NULL;
		git_tree *t = NULL;
		char hex[41];
		git_oid_tostr(hex, sizeof hex, &id);
		if (git_commit_lookup(&c, s.repo, &id) < 0 || git_commit_tree(&t, c) < 0) {
			rc = git_fail(PT_ECORRUPT, "anchor commit");
		} else {
			(*commits)++;
			for (size_t i = 0; !rc && i < git_tree_entrycount(t); i++) {
				const git_tree_entry *e = git_tree_entry_byindex(t, i);
				git_tree *sub = NULL;
				if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
					rc = cb(payload, hex, git_tree_entry_name(e), NULL, NULL, 0);
					continue;
				}
				if (git_tree_lookup(&sub, s.repo, git_tree_entry_id(e)) < 0) {
					rc = git_fail(PT_ECORRUPT, "anchor tree");
					break;
				}
				for (size_t k = 0; !rc && k < git_tree_entrycount(sub); k++) {
					const git_tree_entry *fe = git_tree_entry_byindex(sub, k);
					git_blob *b = NULL;
					if (git_tree_entry_type(fe) != GIT_OBJECT_BLOB ||
					    git_blob_lookup(&b, s.repo, git_tree_entry_id(fe)) < 0) {
						rc = cb(payload, hex, git_tree_entry_name(e), git_tree_entry_name(fe), NULL, 0);
						continue;
					}
					size_t len = (size_t)git_blob_rawsize(b);
					rc = cb(payload, hex, git_tree_entry_name(e), git_tree_entry_name(fe),
						(const char *)git_blob_rawcontent(b), len > PT_ANCHOR_NOTE_MAX ? PT_ANCHOR_NOTE_MAX + 1 : len);
					git_blob_free(b);
				}
				git_tree_free(sub);
			}
		}
		git_tree_free(t);
		git_commit_free(c);
	}
done:
	git_revwalk_free(walk);
	scratch_close(&s);
	return rc;
}
