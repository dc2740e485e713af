/*
 * code/code_int.h - code provenance shared between git.c (libgit2) and code.c
 * (events, objects, environment, restore checks).  One direction:
 * code_model.c < git.c < code.c (code.c calls git.c; git.c calls only
 * code_model.c).
 */
#ifndef PT_CODEPROV_H
#define PT_CODEPROV_H

#include "base/base_int.h"
#include "log/history_int.h" /* objects: pt__object_get/read/stat */
#include "provtrace/code.h"

/*
 * Where captured contents go and come back from: the store's object store
 * in production, memory in unit tests (and a failing sink in failure tests).
 * `put` stores `len` bytes and writes the object's hex id into `id`.
 * `get` returns an allocated copy (pt__free) of an object.
 */
typedef struct {
	int (*put)(void *payload, const void *data, size_t len, char id[PT_SHA256_HEX]);
	int (*get)(void *payload, const char *id, uint8_t **data, size_t *len);
	void *payload;
	/* The store's directory (NULL: none).  When it lies inside the working
	 * tree (the usual `.provtrace/` next to the code) its files are never
	 * recorded as untracked: they are the recording itself. */
	const char *store_dir;
} pt__code_objects;

/* code_model.c ---------------------------------------------------------- */

/* One object to store; `id` is filled by pt__code_put_many(). */
typedef struct {
	uint8_t *data; /* owned by the caller */
	size_t len;
	size_t index;  /* the caller's: which entry the id belongs to */
	char id[PT_SHA256_HEX];
} pt__code_put_item;

/*
 * Store `n` objects with up to 8 threads.  Each object put is made durable
 * on its own (fdatasync, ~10 ms on common disks); concurrent syncs share
 * journal commits, so a capture with 20 untracked files waits for about one
 * sync instead of twenty.  Returns the first error (with its message).
 */
int pt__code_put_many(const pt__code_objects *objs, pt__code_put_item *items, size_t n);

/* Duplicate a string into a provenance field (NULL stays NULL). */
int pt__code_setstr(const char **field, const char *s);

/* Grow `*arr` (elements of `elem` bytes) so that index `n` fits. */
int pt__code_grow(void **arr, size_t *cap, size_t n, size_t elem);



/* git.c ------------------------------------------------------------------ */

/*
 * Capture the git state into a new provenance (`*out`, free with
 * pt_code_provenance_free).  Repository trouble is recorded in the result
 * (state/message/truncated), not returned; errors are for memory and `objs`.
 */
int pt__code_git_capture(pt_code_provenance **out, const pt_code_options *o,
			 const pt__code_objects *objs);

/*
 * Check out p's commit (or the empty tree when unborn) with `patch` applied
 * into the empty directory `dir`, from the repository `repo_path` (NULL: the
 * recorded one).  Nothing is written to the repository: objects created by
 * the apply live in an in-memory odb backend.
 */
int pt__code_git_build(const pt_code_provenance *p, const char *repo_path, const char *dir,
		       const char *patch, size_t patch_len);

/* code.c ------------------------------------------------------------------ */

/* Fill `ev` (a fresh `code` event) from `p`, including the `objects` key. */
int pt__code_to_event(pt_event *ev, const pt_code_provenance *p);

/* Parse a `code` event body (msgpack map). */
int pt__code_from_body(pt_code_provenance **out, const void *body, size_t len);

/* Fill `ev` (a fresh `env` event). */
int pt__code_env_event(pt_event *ev, const pt_code_options *o);

/* Restore steps after the git build: untracked files, then the checks. */
int pt__code_finish_restore(const pt_code_provenance *p, const char *dir,
			    const pt__code_objects *objs, pt_code_problem_cb cb, void *payload,
			    size_t *out_problems);

/*
 * Capture into `code_ev` (reset to a `code` event) and `env_ev` (an `env`
 * event; may be NULL), storing contents in `st`.  What pt_code_capture()
 * does before appending; the recorder calls this at open.
 */
int pt__code_capture_events(pt_event *code_ev, pt_event *env_ev, const pt_store *st,
			    const pt_code_options *opts);

/* The message listing the changed files of a dirty tree (allocated). */
char *pt__code_dirty_message(const pt_code_provenance *p);

/* ---- anchors (code/anchor.c < git.c) ----------------------------------------------------
 * A git remote keeps, on one branch, one commit per anchor whose tree holds
 * <run>/<stream>.note: the signed checkpoints of every stream at that time.
 */
#define PT_ANCHOR_NOTE_MAX (64u << 10)
typedef struct {
	const char *run, *stream, *text;
} pt__anchor_file;
/* One commit with `f` (sorted by run) on top of the remote's `branch`, pushed; its id in out_commit. */
int pt__git_anchor_push(const char *url, const char *branch, const char *message, const pt__anchor_file *f, size_t n,
			char out_commit[41]);
/* Every file of every commit of the remote's `branch`, oldest commit first: cb(commit hex,
 * run, stream file name, bytes, len); an entry of another shape comes with NULL stream
 * or NULL text.  A non-zero return of cb stops and is returned.  PT_ENOTFOUND: no branch. */
typedef int (*pt__anchor_cb)(void *payload, const char *commit, const char *run, const char *file, const char *text,
			     size_t len);
int pt__git_anchor_read(const char *url, const char *branch, pt__anchor_cb cb, void *payload, size_t *commits);

#endif
