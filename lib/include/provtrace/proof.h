/*
 * provtrace/proof.h - keys, signed checkpoints and proofs anyone can check.
 *
 *   pt_key_generate("/secure/ml.key", "ml-team", NULL);   // + ml.key.pub
 *   pt_recorder_set_signing_key(rec, "/secure/ml.key");    // signs at each seal and close
 *   ...
 *   char *bundle; pt_prove(&bundle, st, "run1", NULL, 1234);
 *   pt_check_proof(NULL, bundle, strlen(bundle), "ml-team+1a2b3c4d+AT...");
 *
 * Every stream is an RFC 6962 Merkle tree with one leaf per event
 * (docs/FORMAT.md, "The Merkle tree of a stream").  A *signed checkpoint*
 * is a C2SP tlog-checkpoint (origin, tree size, root) with a C2SP
 * signed-note Ed25519 signature; the recorder writes the newest one to
 * STREAM/checkpoint.note.  A *proof bundle* (JSON, docs/PROOFS.md field by
 * field) carries one event's bytes, its inclusion proof and that signed
 * checkpoint: it is checked offline with the signer's public key only.
 */
#ifndef PROVTRACE_PROOF_H
#define PROVTRACE_PROOF_H

#include "provtrace/common.h"
#include "provtrace/recorder.h"
#include "provtrace/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Generate an Ed25519 key named `name` (1-100 printable characters, no '+'
 * or space).  Writes the signer key to `path` (created with mode 0600,
 * never over an existing file: PT_EEXISTS) as one line
 * `PRIVATE+KEY+NAME+KEYID+BASE64`, and the verifier key to `path`.pub
 * (0644) as one line `NAME+KEYID+BASE64` (the signed-note formats of
 * golang.org/x/mod/sumdb/note).  `out_verifier` (may be NULL): the verifier
 * key line, allocated (pt_free).  Returns 0, PT_EINVAL, PT_EEXISTS, PT_EIO.
 */
PT_EXTERN int pt_key_generate(const char *path, const char *name, char **out_verifier);

/**
 * Add a verifier key (a `.pub` file's path, or the key line itself) to the
 * store's config as `trusted_key = ...`; `verify` then checks every stream's
 * signed checkpoint against the trusted keys.  Adding a key already listed
 * is a no-op.  Returns 0, PT_EINVAL (not a valid key), PT_EIO.
 */
PT_EXTERN int pt_key_trust(pt_store *st, const char *key_or_path);

/**
 * Sign this recorder's checkpoints with the signer key in file `key_path`
 * (as written by pt_key_generate): from now on the recorder writes a signed
 * checkpoint of the stream's tree after every seal and at close, to
 * STREAM/checkpoint.note (replaced atomically).  The origin is
 * `provtrace/STORE-ID/RUN/STREAM`.  Returns 0, PT_EINVAL (not a key file),
 * PT_ENOTFOUND, PT_EIO.  Thread rules: call before appending from other
 * threads.
 */
PT_EXTERN int pt_recorder_set_signing_key(pt_recorder *r, const char *key_path);

/**
 * On demand: flush, then sign a checkpoint of everything written so far
 * and store it as above.  `out_note` (may be NULL): the note text,
 * allocated (pt_free).  PT_EINVAL if no signing key was set.
 */
PT_EXTERN int pt_recorder_sign_checkpoint(pt_recorder *r, char **out_note);

/**
 * A proof bundle (JSON text, allocated: pt_free) for event `seq` of
 * run/stream (`stream` NULL: "main") against the stream's signed
 * checkpoint (STREAM/checkpoint.note), which must cover `seq`.  The proof
 * is checked before it is returned.  Returns 0, PT_ENOTFOUND (no such
 * event, or no signed checkpoint covers it: the message says how to sign
 * one), PT_ECORRUPT (the store does not extend its signed checkpoint, or
 * damage), PT_ENOMEM.  Cost: one pass over the stream's events up to the
 * checkpoint (docs/PERFORMANCE.md).
 */
PT_EXTERN int pt_prove(char **out_json, const pt_store *st, const char *run, const char *stream, uint64_t seq);

/**
 * A consistency proof bundle: the log `old_note` (a signed checkpoint of a
 * stream of this store, e.g. one kept by an anchor) is a prefix of the log
 * of `new_note` (NULL: the stream's current signed checkpoint).  The store's
 * events are checked against both roots before the bundle is returned.
 * Returns 0, PT_EINVAL (a malformed note, another store's or stream's,
 * old larger than new), PT_ENOTFOUND, PT_ECORRUPT (the store's events are
 * not the ones `old_note` signed: history was rewritten), PT_ENOMEM.
 */
PT_EXTERN int pt_prove_consistency(char **out_json, const pt_store *st, const char *old_note, const char *new_note);

/**
 * Check a proof bundle offline (no store): every field is checked - the
 * format and version, base64, every hash 32 bytes, the checkpoint note's
 * syntax and its Ed25519 signature by `verifier_key` (a key line or a path
 * to a .pub file), the origin against the bundle's run and stream, the
 * tree size against the note's, the exact proof length, the leaf bytes (one
 * msgpack event whose seq is the bundle's), and the proof against the
 * note's root.  `out_report` (may be NULL): on success a JSON object
 * {"kind", "run", "stream", "origin", "tree_size", "root", "seq", "event"}
 * (allocated, pt_free).  Returns 0 when the bundle proves what it says,
 * PT_ECORRUPT with the reason otherwise; PT_EINVAL for a bad key.
 */
PT_EXTERN int pt_check_proof(char **out_report, const char *bundle, size_t len, const char *verifier_key);

#ifdef __cplusplus
}
#endif
#endif
