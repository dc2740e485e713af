/*
 * provtrace/code.h - code and environment provenance (git, host, process).
 *
 * Basic outline:
 *   // at the start of a run (the recorder does this at open by default)
 *   pt_code_options o = PT_CODE_OPTIONS_INIT;
 *   o.untracked_max_bytes = 4u << 20;
 *   pt_code_capture(rec, &o);          // appends one `code` and one `env` event
 *
 *   // later: what code produced run-42, and rebuild it
 *   pt_code_provenance *p;
 *   pt_code_read(&p, st, "run-42", NULL);
 *   printf("%s %s%s\n", p->commit, p->branch, p->dirty ? " (dirty)" : "");
 *   pt_code_restore(st, p, "/tmp/src-42", NULL, NULL, NULL, &problems);
 *   pt_code_provenance_free(p);
 *
 * What is captured (see docs/PROVENANCE.md): the git repository found from
 * the working directory (or `repo_path`): HEAD commit, branch or detached,
 * upstream with ahead/behind counts, remotes with credentials removed from
 * their URLs, whether the tree is dirty, the uncommitted changes (staged and
 * unstaged, against HEAD) as one git patch stored content-addressed in the
 * store, the untracked and not ignored files with size and SHA-256 (contents
 * stored up to a size limit) and submodule commits.  The `env` event holds
 * host, OS, CPU, memory, process and an allowlist of environment variables
 * with secret-looking names redacted.
 *
 * Capture never fails a run because of the repository: no repository, a bare
 * one, an unborn HEAD, a tree larger than `max_index_entries` or a capture cut
 * by `time_budget_ms` all give a `code` event whose `state` / `truncated`
 * say so.  Errors are returned only for the store (I/O, full disk), bad
 * options, or `require_clean` on a dirty tree.
 */
#ifndef PROVTRACE_CODE_H
#define PROVTRACE_CODE_H

#include "common.h"
#include "recorder.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	unsigned int version;         /**< PT_CODE_OPTIONS_VERSION */
	/** Where to look for the repository (discovered upwards like git);
	 *  NULL: the current working directory. */
	const char *repo_path;
	/** Untracked files up to this size have their contents stored
	 *  (default 1 MiB); larger ones only their size and hash. */
	uint64_t untracked_max_bytes;
	/** Stop storing untracked contents once this much is stored (default 64 MiB). */
	uint64_t untracked_total_max_bytes;
	/** At most this many untracked files are listed (default 10000). */
	uint32_t untracked_max_files;
	/** Wall-clock budget of the git capture in ms (default 5000; 0: none).
	 *  When exceeded, what was captured is recorded with `truncated`. */
	uint32_t time_budget_ms;
	/** An index larger than this is not scanned: state "too_large"
	 *  (default 1,000,000 entries). */
	uint32_t max_index_entries;
	/** NULL-terminated list of environment variable names to record; a
	 *  trailing '*' matches a prefix ("SLURM_*").  NULL: the default list
	 *  (pt_code_default_env_allowlist()). Names that look secret are
	 *  recorded with the value "<redacted>" whatever the list says. */
	const char *const *env_allowlist;
	/** 1: refuse (PT_EINVAL, message listing the changed files) when the
	 *  working tree has uncommitted changes or untracked files. */
	int require_clean;
	/** 1: do not append the `env` event. */
	int skip_env;
	/** The patch of uncommitted changes is kept under this size (default
	 *  64 MiB); the changes of a file that would exceed it (a large tracked
	 *  binary) are left out, with `truncated` set. */
	uint64_t patch_max_bytes;
} pt_code_options;

#define PT_CODE_OPTIONS_VERSION 1
#define PT_CODE_OPTIONS_INIT                                                             \
	{ PT_CODE_OPTIONS_VERSION, NULL, 1u << 20, 64u << 20, 10000, 5000, 1000000, NULL, 0, \
	  0, 64u << 20 }

PT_EXTERN int pt_code_options_init(pt_code_options *opts, unsigned int version);

/** The default environment allowlist (static, NULL-terminated). */
PT_EXTERN const char *const *pt_code_default_env_allowlist(void);

/**
 * Capture the code provenance and the environment of this process and append
 * a `code` event and (unless `skip_env`) an `env` event to `rec`.  The patch
 * and untracked contents go to `rec`'s store as objects; the `code` event
 * lists their ids in its `objects` key.
 *
 * `opts` NULL: defaults.  Returns 0 also when there is no repository (the
 * event says so).  PT_EINVAL with the list of changed files when
 * `require_clean` is set and the tree is dirty, or cannot be checked (no
 * repository, capture cut); nothing is appended then.  Store and recorder
 * errors are returned as they are.  May take up to `time_budget_ms` plus
 * the time to store the objects; thread-safe (the recorder's rules apply).
 */
PT_EXTERN int pt_code_capture(pt_recorder *rec, const pt_code_options *opts);

/**
 * Capture only the environment (the body of an `env` event) and append it.
 * pt_code_capture() already does this; for recorders opened without it.
 */
PT_EXTERN int pt_code_capture_env(pt_recorder *rec, const pt_code_options *opts);

/**
 * Reset `ev` to an `env` event and fill its body (what pt_code_capture_env()
 * appends) without appending it: a binding adds its own keys (the Python
 * binding: `python`) and appends the event itself.  Only `env_allowlist` of
 * `opts` is used (NULL: defaults).
 */
PT_EXTERN int pt_code_env_fill(pt_event *ev, const pt_code_options *opts);

/** One tracked path whose working-tree content differs from HEAD. */
typedef struct {
	const char *path;     /**< path in the working tree (new path of a rename) */
	const char *old_path; /**< rename: the path in HEAD; else NULL */
	char status;          /**< 'M' modified, 'A' added, 'D' deleted, 'R' renamed,
			           'T' type changed */
	uint32_t mode;        /**< git mode of the working-tree file (0 if deleted) */
	uint64_t size;        /**< bytes in the working tree (0 if deleted) */
	const char *sha256;   /**< hex SHA-256 of the working-tree content; NULL if
				   deleted or not hashed (time budget) */
} pt_code_change;

/** One untracked, not ignored file. */
typedef struct {
	const char *path;
	uint32_t mode;      /**< 0100644, 0100755 or 0120000 (symlink: content is the target) */
	uint64_t size;
	const char *sha256; /**< hex; NULL if not hashed (time budget) */
	const char *object; /**< object id of the stored contents; NULL if not stored */
} pt_code_untracked;

typedef struct {
	const char *name;
	const char *url; /**< credentials, query and fragment removed */
} pt_code_remote;

typedef struct {
	const char *name;
	const char *path;
	const char *url;            /**< credentials removed; NULL if none */
	const char *commit;         /**< commit recorded in HEAD; NULL if none */
	const char *workdir_commit; /**< commit checked out in the submodule; NULL if
				         not checked out */
} pt_code_submodule;

/**
 * A run's code provenance, as recorded in its `code` event.  Every pointer
 * is owned by the structure (free with pt_code_provenance_free).
 */
typedef struct {
	/** "ok", "no_repository", "bare", "unborn" (no commit yet; changes are
	 *  against the empty tree), "too_large" or "error". */
	const char *state;
	const char *message;  /**< why, for a state other than "ok"; else NULL */
	const char *workdir;  /**< absolute working-tree path; NULL if bare / none */
	const char *gitdir;   /**< absolute path of the .git directory */
	const char *commit;   /**< HEAD commit id (hex); NULL if unborn / none */
	const char *branch;   /**< short branch name; NULL when detached */
	int detached;
	const char *upstream; /**< e.g. "origin/main"; NULL if none */
	int64_t ahead, behind; /**< vs upstream; -1 if unknown */
	int dirty;             /**< 1 dirty, 0 clean, -1 unknown */
	int truncated;         /**< capture was cut (time budget, limits) */
	const char *truncated_reason;
	const char *patch_object; /**< object id of the patch; NULL if no changes */
	uint64_t patch_bytes;
	uint64_t untracked_max_bytes; /**< the content limit in force at capture */
	uint64_t capture_us;          /**< time of the git side (scan, hashes, patch) */
	size_t n_changes;
	pt_code_change *changes;
	size_t n_untracked;
	pt_code_untracked *untracked;
	size_t n_remotes;
	pt_code_remote *remotes;
	size_t n_submodules;
	pt_code_submodule *submodules;
} pt_code_provenance;

/**
 * Read the code provenance of `run`/`stream` (NULL: "main"): the first
 * `code` event of the stream.  PT_ENOTFOUND if the stream has none;
 * PT_ECORRUPT if the event body is not a valid `code` body.
 */
PT_EXTERN int pt_code_read(pt_code_provenance **out, const pt_store *st, const char *run,
			   const char *stream);

/** Free a provenance.  NULL is a no-op. */
PT_EXTERN void pt_code_provenance_free(pt_code_provenance *p);

/**
 * The stored patch of `p` (the `git diff --binary HEAD` of the working tree
 * at capture; `git apply` accepts it).  `*out` is allocated (pt_free),
 * NUL-terminated, `*out_len` bytes without the NUL.  An empty string when the
 * tree was clean.  PT_ENOTFOUND if the object is missing from the store.
 */
PT_EXTERN int pt_code_patch(char **out, size_t *out_len, const pt_store *st,
			    const pt_code_provenance *p);

/** Called for each path that restore could not reproduce exactly. */
typedef void (*pt_code_problem_cb)(const char *path, const char *message, void *payload);

/**
 * Rebuild the source tree of `p` into `dir` (created; must not exist or be
 * empty): the commit checked out from the repository `repo_path` (NULL: the
 * recorded one), the stored patch applied, the stored untracked files
 * written.  Nothing is written into the repository itself.  The result is
 * then checked against the recorded hashes; each path that could not be
 * reproduced (untracked file over the size limit, submodule contents, a hash
 * mismatch) is reported through `cb` (may be NULL) and counted in
 * `*out_problems` (may be NULL).
 *
 * Returns 0 when the tree was built (even with problems), PT_ENOTFOUND if
 * the repository or the commit is missing (message says which: fetch it),
 * PT_EEXISTS if `dir` is not empty, PT_EINVAL if there is nothing to restore
 * (no repository was recorded), PT_ECORRUPT if the stored patch does not
 * apply.
 */
PT_EXTERN int pt_code_restore(const pt_store *st, const pt_code_provenance *p, const char *dir,
			      const char *repo_path, pt_code_problem_cb cb, void *payload,
			      size_t *out_problems);

/**
 * Remove credentials from a remote URL: the userinfo of URLs with a scheme
 * (`https://user:token@host/x` -> `https://host/x`; for ssh:// and git://
 * only a password is removed, the user name stays), query strings and
 * fragments.  scp-like `user@host:path` is kept as is.  Allocated (pt_free).
 */
PT_EXTERN int pt_code_strip_url(char **out, const char *url);

/** 1 if an environment variable of this name is redacted (KEY, TOKEN,
 *  SECRET, PASSWORD, PASSWD, CREDENTIAL in any case). */
PT_EXTERN int pt_code_env_name_is_secret(const char *name);

#ifdef __cplusplus
}
#endif
#endif
