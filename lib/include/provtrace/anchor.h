/*
 * provtrace/anchor.h - signed checkpoints kept outside the store.
 *
 *   pt_anchor_push(st, "git@host:ml/anchors.git", NULL, NULL);   // after recording
 *   ...
 *   pt_anchor_verify(st, "git@host:ml/anchors.git", NULL, cb, payload, &n);
 *
 * An anchor is one commit, on a branch of a git repository the store's
 * writer cannot silently rewrite (a remote with protected branches, a
 * colleague's clone: any git host is a witness), holding the newest signed
 * checkpoint (STREAM/checkpoint.note, proof.h) of every stream of the
 * store as `<run>/<stream>.note`.  Verifying against the anchors checks
 * that the store extends every checkpoint ever anchored, which closes the
 * rollbacks a store cannot see by itself (docs/RELIABILITY.md).
 */
#ifndef PROVTRACE_ANCHOR_H
#define PROVTRACE_ANCHOR_H

#include "provtrace/common.h"
#include "provtrace/store.h"
#include "provtrace/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Push one anchor commit to `url` (any URL or path libgit2 can push to;
 * credentials as git configures them are not read: local paths, file://,
 * and hosts reachable without authentication) on `branch` (NULL:
 * "provtrace/<store id>"), on top of what the branch holds.  Streams
 * without a signed checkpoint are listed in the report but not anchored.
 * `out_json` (may be NULL): {"commit", "branch", "anchored": [{"run",
 * "stream", "size"}], "unsigned": [{"run", "stream"}]} (pt_free).
 * Returns 0, PT_ENOTFOUND (no stream has a signed checkpoint), PT_EIO (the
 * remote refused: e.g. the branch was rewritten there), PT_EINVAL.
 */
PT_EXTERN int pt_anchor_push(const pt_store *st, const char *url, const char *branch, char **out_json);

/**
 * Check the store against every checkpoint anchored on `url`'s `branch`
 * (NULL: "provtrace/<store id>"): each is well formed, of this store and of
 * the stream its file names, signed by a trusted key when the config lists
 * any, and the store extends it - the stream exists (else: deleted, or
 * renamed/copied to the stream named), has at least its events (else:
 * rolled back or truncated), and its first SIZE events have its root (else:
 * replaced or rewritten).  Each problem goes to `cb` (may be NULL) naming
 * the stream and the anchor commit.  `out_checked`: anchored checkpoints
 * checked.  Returns 0 when the store extends them all, PT_ECORRUPT (the
 * first problem) otherwise, PT_ENOTFOUND (no such branch), PT_EIO.
 */
PT_EXTERN int pt_anchor_verify(const pt_store *st, const char *url, const char *branch, pt_problem_cb cb,
			       void *payload, uint64_t *out_checked);

#ifdef __cplusplus
}
#endif
#endif
