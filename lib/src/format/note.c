/*
 * note.c - C2SP signed notes and tlog checkpoints (see note_int.h).  Every
 * byte of a note is checked before anything in it is believed: a note is
 * outside data (a bundle from anyone, an anchor repository).
 */
#include "format/note_int.h"
#include "base/mpk_int.h"

#include <stdarg.h>
#include <stdio.h>

#define EM_DASH "\xe2\x80\x94"

static int why_set(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t n, const char *fmt, ...)
{
	if (why && n) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

bool pt__key_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > PT_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f || name[i] == '+')
			return false;
	return true;
}

static void key_id(const char *name, const uint8_t pub[PT_ED25519_LEN], uint8_t id[4])
{
	uint8_t buf[PT_KEY_NAME_MAX + 2 + PT_ED25519_LEN], h[PT_SHA256_LEN];
	size_t n = strlen(name);
	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = 0x01; /* algorithm: Ed25519 */
	memcpy(buf + n + 2, pub, PT_ED25519_LEN);
	pt__sha256(buf, n + 2 + PT_ED25519_LEN, h);
	memcpy(id, h, 4);
}

int pt__skey_generate(const char *name, pt__skey *out)
{
	memset(out, 0, sizeof *out);
	if (!pt__key_name_ok(name))
		return pt__err(PT_EINVAL, "key name \"%s\" must be 1-%d printable characters without '+' or spaces", name,
			       PT_KEY_NAME_MAX);
	int rc = pt__ed25519_generate(out->seed, out->v.pub);
	if (rc)
		return rc;
	snprintf(out->v.name, sizeof out->v.name, "%s", name);
	key_id(name, out->v.pub, out->v.id);
	return 0;
}

static void fmt_key(const char *prefix, const char *name, const uint8_t id[4], const uint8_t key[32], char *out,
		    size_t cap)
{
	uint8_t b[33];
	char b64[64], hex[9];
	b[0] = 0x01;
	memcpy(b + 1, key, 32);
	pt__b64_encode(b, sizeof b, b64);
	pt__hex(id, 4, hex);
	snprintf(out, cap, "%s%s+%s+%s", prefix, name, hex, b64);
}

void pt__vkey_format(const pt__vkey *k, char *out, size_t cap) { fmt_key("", k->name, k->id, k->pub, out, cap); }

void pt__skey_format(const pt__skey *k, char *out, size_t cap)
{
	fmt_key("PRIVATE+KEY+", k->v.name, k->v.id, k->seed, out, cap);
}

/* name + hex id + base64(0x01 || 32 bytes), after an optional prefix */
static int parse_key(const char *text, size_t len, const char *prefix, char *name, uint8_t id[4], uint8_t key[32],
		     char *why, size_t wl)
{
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
		len--;
	while (len && (*text == ' ' || *text == '\n')) {
		text++;
		len--;
	}
	size_t pl = strlen(prefix);
	if (len < pl || memcmp(text, prefix, pl))
		return why_set(why, wl, pl ? "not a private key (it must start with %s)" : "%snot a key", prefix);
	text += pl;
	len -= pl;
	const char *p1 = memchr(text, '+', len);
	const char *p2 = p1 ? memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - text)) : NULL;
	if (!p1 || !p2)
		return why_set(why, wl, "a key is NAME+KEYID+BASE64");
	size_t nl = (size_t)(p1 - text);
	if (nl == 0 || nl > PT_KEY_NAME_MAX)
		return why_set(why, wl, "the key's name is empty or longer than %d bytes", PT_KEY_NAME_MAX);
	memcpy(name, text, nl);
	name[nl] = 0;
	if (!pt__key_name_ok(name))
		return why_set(why, wl, "the key's name has a space, a '+' or a control character");
	if (p2 - p1 - 1 != 8 || pt__unhex_n(p1 + 1, id, 4))
		return why_set(why, wl, "the key id must be 8 hex digits");
	const char *b = p2 + 1;
	size_t bl = len - (size_t)(b - text);
	uint8_t raw[40];
	size_t rl = 0;
	if (pt__b64_decode(b, bl, raw, sizeof raw, &rl) || rl != 33)
		return why_set(why, wl, "the key material is not base64 of 33 bytes");
	if (raw[0] != 0x01)
		return why_set(why, wl, "key algorithm %u is not Ed25519 (1)", raw[0]);
	memcpy(key, raw + 1, 32);
	return 0;
}

int pt__vkey_parse(const char *text, size_t len, pt__vkey *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof *out);
	uint8_t id[4];
	if (parse_key(text, len, "", out->name, id, out->pub, why, why_len))
		return -1;
	key_id(out->name, out->pub, out->id);
	if (memcmp(id, out->id, 4))
		return why_set(why, why_len, "the key id does not match the key's name and public key");
	return 0;
}

int pt__skey_parse(const char *text, size_t len, pt__skey *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof *out);
	uint8_t id[4];
	if (parse_key(text, len, "PRIVATE+KEY+", out->v.name, id, out->seed, why, why_len))
		return -1;
	int rc = pt__ed25519_public(out->seed, out->v.pub);
	if (rc)
		return rc;
	key_id(out->v.name, out->v.pub, out->v.id);
	if (memcmp(id, out->v.id, 4))
		return why_set(why, why_len, "the key id does not match the key's name and public key");
	return 0;
}

static int body(pt__buf *out, const pt__checkpoint *c)
{
	char b64[64];
	pt__b64_encode(c->root, PT_SHA256_LEN, b64);
	return pt__buf_printf(out, "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, b64);
}

int pt__note_sign(pt__buf *out, const pt__checkpoint *c, const pt__skey *k)
{
	size_t start = out->len;
	int rc = body(out, c);
	if (rc)
		return rc;
	uint8_t sig[4 + PT_ED25519_SIG];
	memcpy(sig, k->v.id, 4);
	if ((rc = pt__ed25519_sign(k->seed, out->data + start, out->len - start, sig + 4)))
		return rc;
	char b64[128];
	pt__b64_encode(sig, sizeof sig, b64);
	return pt__buf_printf(out, "\n" EM_DASH " %s %s\n", k->v.name, b64);
}

static bool utf8_ok_no_controls(const char *s, size_t n)
{
	if (!pt__utf8_valid((const uint8_t *)s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f)
			return false;
	return true;
}

int pt__note_open(const char *text, size_t len, const pt__vkey *k, pt__checkpoint *out, char *why, size_t wl)
{
	memset(out, 0, sizeof *out);
	if (len > PT_NOTE_MAX)
		return why_set(why, wl, "the note is longer than %u bytes", PT_NOTE_MAX);
	if (!utf8_ok_no_controls(text, len))
		return why_set(why, wl, "the note is not UTF-8 text without control characters");
	if (!len || text[len - 1] != '\n')
		return why_set(why, wl, "the note does not end with a newline");
	/* the body ends at the first blank line: "\n\n" */
	const char *sep = NULL;
	for (size_t i = 0; i + 1 < len; i++)
		if (text[i] == '\n' && text[i + 1] == '\n') {
			sep = text + i;
			break;
		}
	if (!sep)
		return why_set(why, wl, "the note has no blank line before its signatures");
	size_t blen = (size_t)(sep - text) + 1;
	/* checkpoint body: origin, size, root, then extension lines (signed, not interpreted) */
	const char *p = text, *bend = text + blen;
	const char *l1 = memchr(p, '\n', (size_t)(bend - p));
	if (!l1 || l1 == p)
		return why_set(why, wl, "the checkpoint's first line (origin) is empty");
	if ((size_t)(l1 - p) > PT_ORIGIN_MAX)
		return why_set(why, wl, "the checkpoint's origin is longer than %d bytes", PT_ORIGIN_MAX);
	memcpy(out->origin, p, (size_t)(l1 - p));
	out->origin[l1 - p] = 0;
	p = l1 + 1;
	const char *l2 = p < bend ? memchr(p, '\n', (size_t)(bend - p)) : NULL;
	if (!l2 || l2 == p || l2 - p > 20 || (*p == '0' && l2 - p > 1))
		return why_set(why, wl, "the checkpoint's second line is not a tree size in canonical decimal");
	uint64_t size = 0;
	for (const char *q = p; q < l2; q++) {
		if (*q < '0' || *q > '9' || size > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return why_set(why, wl, "the checkpoint's second line is not a tree size in canonical decimal");
		size = size * 10 + (uint64_t)(*q - '0');
	}
	out->size = size;
	p = l2 + 1;
	const char *l3 = p < bend ? memchr(p, '\n', (size_t)(bend - p)) : NULL;
	size_t rl = 0;
	if (!l3 || pt__b64_decode(p, (size_t)(l3 - p), out->root, sizeof out->root, &rl) || rl != PT_SHA256_LEN)
		return why_set(why, wl, "the checkpoint's third line is not the base64 of a 32-byte root hash");
	/* signature lines */
	const char *s = sep + 2, *end = text + len;
	int nsig = 0;
	bool found = false, name_seen = false;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			return why_set(why, wl, "a signature line does not end with a newline");
		if (++nsig > PT_NOTE_MAX_SIGS)
			return why_set(why, wl, "the note has more than %d signatures", PT_NOTE_MAX_SIGS);
		size_t ll = (size_t)(nl - s);
		if (ll < 4 || memcmp(s, EM_DASH " ", 4))
			return why_set(why, wl, "signature line %d does not start with \"" EM_DASH " \"", nsig);
		const char *nm = s + 4, *sp = memchr(nm, ' ', (size_t)(nl - nm));
		if (!sp || sp == nm || (size_t)(sp - nm) > PT_KEY_NAME_MAX)
			return why_set(why, wl, "signature line %d has no key name", nsig);
		char name[PT_KEY_NAME_MAX + 1];
		memcpy(name, nm, (size_t)(sp - nm));
		name[sp - nm] = 0;
		uint8_t sig[200];
		size_t sl = 0;
		if (pt__b64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof sig, &sl) || sl < 5)
			return why_set(why, wl, "signature line %d is not base64 of a key id and a signature", nsig);
		if (k && !strcmp(name, k->name)) {
			name_seen = true;
			if (!memcmp(sig, k->id, 4)) {
				if (sl != 4 + PT_ED25519_SIG)
					return why_set(why, wl, "the signature by %s is %zu bytes, not %d", name, sl - 4, PT_ED25519_SIG);
				int v = pt__ed25519_verify(k->pub, text, blen, sig + 4);
				if (v < 0)
					return v;
				if (v)
					return why_set(why, wl,
						       "the signature by %s does not verify: the checkpoint (origin, size or root) "
						       "was changed after signing, or it was signed by another key of that name",
						       name);
				found = true;
			}
		}
		s = nl + 1;
	}
	if (!nsig)
		return why_set(why, wl, "the note has no signature");
	if (k && !found)
		return why_set(why, wl, name_seen ? "the note is signed by a key named %s, but not by this one (key id differs)"
						  : "the note has no signature by the key %s",
			       k->name);
	return 0;
}
