/*
 * format/note_int.h - signed checkpoints of a stream's Merkle tree in the
 * C2SP formats (docs/FORMAT.md, "Signed checkpoints"):
 *   - tlog-checkpoint: "<origin>\n<tree size>\n<base64 root>\n" [+ extension lines]
 *   - signed-note: that body, "\n", then lines "— <key name> <base64(key id || signature)>\n"
 *   - keys: verifier "<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>",
 *     signer "PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>"
 *     (golang.org/x/mod/sumdb/note), key id = SHA-256(name || "\n" || 0x01 || public key)[0:4].
 * note.c owns these texts: it writes and parses them; nothing else does.
 */
#ifndef PT_NOTE_H
#define PT_NOTE_H

#include "base/base_int.h"

#define PT_NOTE_MAX (64u << 10)   /* a note longer than this is refused */
#define PT_NOTE_MAX_SIGS 64
#define PT_KEY_NAME_MAX 100
#define PT_ORIGIN_MAX 400

typedef struct {
	char name[PT_KEY_NAME_MAX + 1];
	uint8_t id[4];
	uint8_t pub[PT_ED25519_LEN];
} pt__vkey;

typedef struct {
	pt__vkey v;
	uint8_t seed[PT_ED25519_LEN];
} pt__skey;

/* A key name: 1..100 printable ASCII characters, no '+' and no space. */
bool pt__key_name_ok(const char *name);
/* A new key pair named `name`. */
int pt__skey_generate(const char *name, pt__skey *out);
/* Texts: a NUL-terminated line without a newline, in `out` (>= 256 bytes). */
void pt__vkey_format(const pt__vkey *k, char *out, size_t cap);
void pt__skey_format(const pt__skey *k, char *out, size_t cap);
/* Parse (leading/trailing whitespace and one trailing newline allowed); -1 with `why`. */
int pt__vkey_parse(const char *text, size_t len, pt__vkey *out, char *why, size_t why_len);
int pt__skey_parse(const char *text, size_t len, pt__skey *out, char *why, size_t why_len);

typedef struct {
	char origin[PT_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[PT_SHA256_LEN];
} pt__checkpoint;

/* The signed note of `c` by `k`, appended to `out` (NUL-terminated). */
int pt__note_sign(pt__buf *out, const pt__checkpoint *c, const pt__skey *k);

/*
 * Parse a signed checkpoint note and check it against `k`: the note is
 * well formed (UTF-8, no control bytes but '\n', body and signature lines
 * as the formats say), the checkpoint body is (origin, canonical decimal
 * size, base64 of exactly 32 bytes), one signature line names `k` (name and
 * key id) and that signature verifies over the body.  `k` NULL: no
 * signature is checked (the caller only wants the checkpoint).  0 with
 * `out` filled; -1 with `why`; <0 PT_ENOMEM.
 */
int pt__note_open(const char *text, size_t len, const pt__vkey *k, pt__checkpoint *out, char *why, size_t why_len);

#endif
