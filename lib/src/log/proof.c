/*
 * proof.c - keys, proof bundles and their offline check (provtrace/proof.h;
 * the bundle is documented field by field in docs/PROOFS.md).
 *
 * The checker trusts nothing in a bundle: every field is parsed strictly
 * and every relation between fields is checked (the lesson of immudb's
 * CVE-2022-36111: a verifier that takes a size, an index or a root from
 * the prover without tying it to the signed checkpoint proves nothing).
 */
#include "log/tree_int.h"
#include "format/note_int.h"
#include "format/json_int.h"
#include "base/mpk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_FORMAT "provtrace-proof"
#define BUNDLE_MAX (16u << 20)

/* ---- keys ---------------------------------------------------------------------------- */

static int write_new_file(const char *path, const char *text, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return errno == EEXIST ? pt__err(PT_EEXISTS, "%s exists; a key is never overwritten", path)
				       : pt__err_errno(errno, "cannot create %s", path);
	int rc = fchmod(fd, mode) < 0 ? pt__err_errno(errno, "cannot chmod %s", path) : 0;
	if (!rc)
		rc = pt__write_all(fd, text, strlen(text), path);
	if (!rc && fsync(fd) < 0)
		rc = pt__err_errno(errno, "cannot fsync %s", path);
	close(fd);
	if (rc)
		unlink(path);
	return rc;
}

int pt_key_generate(const char *path, const char *name, char **out_verifier)
{
	if (out_verifier)
		*out_verifier = NULL;
	if (!path || !*path || !name)
		return pt__err(PT_EINVAL, "pt_key_generate: NULL argument");
	pt__skey k;
	int rc = pt__skey_generate(name, &k);
	if (rc)
		return rc;
	char sline[300], vline[300];
	pt__skey_format(&k, sline, sizeof sline);
	pt__vkey_format(&k.v, vline, sizeof vline);
	memset(&k, 0, sizeof k);
	char *pub = pt__sprintf("%s.pub", path);
	char *stext = pt__sprintf("%s\n", sline), *vtext = pt__sprintf("%s\n", vline);
	memset(sline, 0, sizeof sline);
	if (!pub || !stext || !vtext) {
		rc = PT_ENOMEM;
		goto done;
	}
	if (pt__exists(pub)) {
		rc = pt__err(PT_EEXISTS, "%s exists; a key is never overwritten", pub);
		goto done;
	}
	if ((rc = write_new_file(path, stext, 0600)))
		goto done;
	if ((rc = write_new_file(pub, vtext, 0644))) {
		unlink(path);
		goto done;
	}
	if (out_verifier && !(*out_verifier = pt__strdup(vline)))
		rc = PT_ENOMEM;
done:
	if (stext)
		memset(stext, 0, strlen(stext));
	pt__free(stext);
	pt__free(vtext);
	pt__free(pub);
	return rc;
}

/* A verifier key given as a key line or as the path of a file holding one. */
static int load_vkey(const char *key_or_path, pt__vkey *out)
{
	char why[200] = "";
	if (!key_or_path)
		return pt__err(PT_EINVAL, "no verifier key given");
	if (!pt__vkey_parse(key_or_path, strlen(key_or_path), out, why, sizeof why))
		return 0;
	uint8_t *data = NULL;
	size_t len = 0;
	if (pt__exists(key_or_path)) {
		int rc = pt__read_file(key_or_path, 4096, &data, &len);
		if (rc)
			return pt__err_wrap(rc, "verifier key");
		int r = pt__vkey_parse((const char *)data, len, out, why, sizeof why);
		pt__free(data);
		if (!r)
			return 0;
		return pt__err(PT_EINVAL, "%s: not a verifier key (%s)", key_or_path, why);
	}
	return pt__err(PT_EINVAL, "not a verifier key (%s)", why);
}

int pt_key_trust(pt_store *st, const char *key_or_path)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_key_trust: NULL store");
	pt__vkey k;
	int rc = load_vkey(key_or_path, &k);
	if (rc)
		return rc;
	char line[300];
	pt__vkey_format(&k, line, sizeof line);
	char **v = NULL;
	size_t n = 0;
	if ((rc = pt__store_config_values(st, "trusted_key", &v, &n)))
		return rc;
	bool have = false;
	for (size_t i = 0; i < n; i++)
		have |= !strcmp(v[i], line);
	pt_strv_free(v, n);
	return have ? 0 : pt__store_config_add(st, "trusted_key", line);
}

/* ---- the stream's signed checkpoint --------------------------------------------------------- */

static int read_note(const pt__history *h, char **text, size_t *len)
{
	char *path = pt__sprintf("%s/checkpoint.note", h->dir);
	if (!path)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	int rc = pt__read_file_in(h->st->path, path, PT_NOTE_MAX, &data, len);
	if (rc == PT_ENOTFOUND)
		rc = pt__err(PT_ENOTFOUND,
			     "%s/%s has no signed checkpoint (%s): record with a signing key (emit --signing-key, "
			     "Recorder(signing_key=...)), which signs at every seal and at close",
			     h->run, h->stream, path);
	pt__free(path);
	if (rc)
		return rc;
	char *t = pt__realloc(data, *len + 1);
	if (!t) {
		pt__free(data);
		return PT_ENOMEM;
	}
	t[*len] = 0;
	*text = t;
	return 0;
}

static char *b64_alloc(const uint8_t *p, size_t n)
{
	char *s = pt__malloc(pt__b64_len(n) + 1);
	if (s)
		pt__b64_encode(p, n, s);
	return s;
}

static int put_hashes(pt__buf *b, const uint8_t (*h)[PT_SHA256_LEN], int n)
{
	int rc = pt__buf_printf(b, "[");
	for (int i = 0; i < n && !rc; i++) {
		char s[64];
		pt__b64_encode(h[i], PT_SHA256_LEN, s);
		rc = pt__buf_printf(b, "%s\"%s\"", i ? "," : "", s);
	}
	return rc ? rc : pt__buf_printf(b, "]");
}

static int open_stream(pt__history *h, const pt_store *st, const char *run, const char *stream)
{
	if (!st || !run)
		return pt__err(PT_EINVAL, "prove: NULL store or run");
	return pt__history_load(h, st, run, stream ? stream : PT_DEFAULT_STREAM, true);
}

int pt_prove(char **out_json, const pt_store *st, const char *run, const char *stream, uint64_t seq)
{
	if (!out_json)
		return pt__err(PT_EINVAL, "pt_prove: NULL out_json");
	*out_json = NULL;
	pt__history h;
	int rc = open_stream(&h, st, run, stream);
	if (rc)
		return rc;
	char *note = NULL, *leaf64 = NULL;
	size_t note_len = 0;
	pt__buf leaf = {0}, out = {0};
	pt__checkpoint c;
	char why[300] = "";
	if ((rc = read_note(&h, &note, &note_len)))
		goto done;
	if (pt__note_open(note, note_len, NULL, &c, why, sizeof why)) {
		rc = pt__err(PT_ECORRUPT, "%s/%s: the signed checkpoint is malformed: %s", h.run, h.stream, why);
		goto done;
	}
	if (seq == 0 || seq > c.size) {
		rc = pt__err(PT_ENOTFOUND,
			     "seq %llu is not covered by %s/%s's signed checkpoint (%llu events); sign a newer one "
			     "(Recorder.sign_checkpoint(), or close the recorder)",
			     (unsigned long long)seq, h.run, h.stream, (unsigned long long)c.size);
		goto done;
	}
	pt__merkle_range shape[PT_MERKLE_MAX_PROOF];
	uint8_t proof[PT_MERKLE_MAX_PROOF][PT_SHA256_LEN];
	int n = pt__merkle_inclusion_shape(seq - 1, c.size, shape);
	uint8_t lh[PT_SHA256_LEN];
	/* from the subtree-hash index, re-verified against the signed root; on any
	 * failure the index is dropped and the proof recomputed from the events */
	if (!(rc = pt__tree_prove_indexed(&h, c.size, shape, n, proof, seq - 1, &leaf, NULL))) {
		pt__merkle_leaf_hash(leaf.data, leaf.len, lh);
		if (!pt__merkle_verify_inclusion(seq - 1, c.size, lh, (const uint8_t(*)[PT_SHA256_LEN])proof, (size_t)n,
						 c.root, NULL, 0))
			goto bundle;
	}
	if (rc == PT_ENOMEM)
		goto done;
	pt__err_clear();
	pt__tree_index_drop(&h);
	if ((rc = pt__tree_prove(&h, c.size, shape, n, proof, seq - 1, &leaf)))
		goto done;
	pt__merkle_leaf_hash(leaf.data, leaf.len, lh);
	if (pt__merkle_verify_inclusion(seq - 1, c.size, lh, (const uint8_t(*)[PT_SHA256_LEN])proof, (size_t)n, c.root,
					why, sizeof why)) {
		rc = pt__err(PT_ECORRUPT,
			     "%s/%s does not extend its signed checkpoint of %llu events (its events differ from the ones "
			     "signed: the log was changed after signing): %s",
			     h.run, h.stream, (unsigned long long)c.size, why);
		goto done;
	}
bundle:
	if (!(leaf64 = b64_alloc(leaf.data, leaf.len))) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__buf_printf(&out, "{\"format\":\"%s\",\"version\":1,\"kind\":\"inclusion\",\"run\":", BUNDLE_FORMAT)) ||
	    (rc = pt__json_string(&out, h.run, strlen(h.run))) || (rc = pt__buf_printf(&out, ",\"stream\":")) ||
	    (rc = pt__json_string(&out, h.stream, strlen(h.stream))) ||
	    (rc = pt__buf_printf(&out, ",\"seq\":%llu,\"leaf_index\":%llu,\"tree_size\":%llu,\"leaf\":\"%s\",\"proof\":",
				 (unsigned long long)seq, (unsigned long long)(seq - 1), (unsigned long long)c.size,
				 leaf64)) ||
	    (rc = put_hashes(&out, (const uint8_t(*)[PT_SHA256_LEN])proof, n)) ||
	    (rc = pt__buf_printf(&out, ",\"checkpoint\":")) || (rc = pt__json_string(&out, note, note_len)) ||
	    (rc = pt__buf_printf(&out, "}\n")))
		goto done;
	*out_json = (char *)out.data;
	out.data = NULL;
done:
	pt__free(note);
	pt__free(leaf64);
	pt__buf_free(&leaf);
	pt__buf_free(&out);
	pt__history_free(&h);
	return rc;
}

/* "provtrace/<store id>/<run>/<stream>" */
static int origin_split(const char *origin, char *run, char *stream)
{
	const char *p = origin;
	if (strncmp(p, "provtrace/", 10))
		return -1;
	p += 10;
	const char *a = strchr(p, '/'), *b = a ? strchr(a + 1, '/') : NULL;
	if (!a || a - p != 32 || !b || strchr(b + 1, '/') || b - a - 1 > 128 || strlen(b + 1) > 128)
		return -1;
	memcpy(run, a + 1, (size_t)(b - a - 1));
	run[b - a - 1] = 0;
	strcpy(stream, b + 1);
	return pt_name_check("run", run) || pt_name_check("stream", stream) ? (pt__err_clear(), -1) : 0;
}

int pt_prove_consistency(char **out_json, const pt_store *st, const char *old_note, const char *new_note)
{
	if (!out_json || !st || !old_note)
		return pt__err(PT_EINVAL, "pt_prove_consistency: NULL argument");
	*out_json = NULL;
	pt__checkpoint oc, nc;
	char why[300] = "", run[129], stream[129];
	if (pt__note_open(old_note, strlen(old_note), NULL, &oc, why, sizeof why))
		return pt__err(PT_EINVAL, "the old checkpoint is malformed: %s", why);
	if (origin_split(oc.origin, run, stream))
		return pt__err(PT_EINVAL, "the old checkpoint's origin \"%s\" is not a provtrace stream's", oc.origin);
	char id[33];
	int rc = pt__store_id(st, id);
	if (rc)
		return rc;
	if (strncmp(oc.origin + 10, id, 32))
		return pt__err(PT_EINVAL, "the old checkpoint is of store %.32s, not of this store (%s)", oc.origin + 10, id);
	pt__history h;
	if ((rc = pt__history_load(&h, st, run, stream, true)))
		return rc;
	char *cur = NULL;
	size_t cur_len = 0;
	pt__buf out = {0};
	if (!new_note) {
		if ((rc = read_note(&h, &cur, &cur_len)))
			goto done;
		new_note = cur;
	}
	if (pt__note_open(new_note, strlen(new_note), NULL, &nc, why, sizeof why)) {
		rc = pt__err(PT_EINVAL, "the new checkpoint is malformed: %s", why);
		goto done;
	}
	if (strcmp(nc.origin, oc.origin)) {
		rc = pt__err(PT_EINVAL, "the checkpoints are of different logs (%s, %s)", oc.origin, nc.origin);
		goto done;
	}
	if (oc.size == 0 || oc.size > nc.size) {
		rc = pt__err(PT_EINVAL, "the old checkpoint (%llu events) must be non-empty and not larger than the new (%llu)",
			     (unsigned long long)oc.size, (unsigned long long)nc.size);
		goto done;
	}
	pt__merkle_range shape[PT_MERKLE_MAX_PROOF + 1];
	uint8_t proof[PT_MERKLE_MAX_PROOF + 1][PT_SHA256_LEN];
	int n = pt__merkle_consistency_shape(oc.size, nc.size, shape);
	/* and the whole old tree (a second pass: ranges of one pass are disjoint),
	 * to tie the store to the old root too */
	pt__merkle_range whole = {0, oc.size};
	uint8_t old_root[1][PT_SHA256_LEN];
	pt__buf leaf = {0};
	/* from the subtree-hash index first; trusted only if both checks below pass */
	rc = pt__tree_prove_indexed(&h, nc.size, shape, n, proof, nc.size - 1, &leaf, NULL);
	if (!rc)
		rc = pt__tree_prove_indexed(&h, oc.size, &whole, 1, old_root, oc.size - 1, &leaf, NULL);
	if (!rc && !memcmp(old_root[0], oc.root, PT_SHA256_LEN) &&
	    !pt__merkle_verify_consistency(oc.size, nc.size, oc.root, nc.root, (const uint8_t(*)[PT_SHA256_LEN])proof,
					   (size_t)n, NULL, 0)) {
		pt__buf_free(&leaf);
		goto bundle;
	}
	if (rc != PT_ENOMEM) {
		pt__err_clear();
		pt__tree_index_drop(&h);
		rc = pt__tree_prove(&h, nc.size, shape, n, proof, nc.size - 1, &leaf);
		if (!rc)
			rc = pt__tree_prove(&h, oc.size, &whole, 1, old_root, oc.size - 1, &leaf);
	}
	pt__buf_free(&leaf);
	if (rc)
		goto done;
	if (memcmp(old_root[0], oc.root, PT_SHA256_LEN)) {
		rc = pt__err(PT_ECORRUPT,
			     "%s/%s's first %llu events are not the ones the old checkpoint signed: history was rewritten",
			     run, stream, (unsigned long long)oc.size);
		goto done;
	}
	if (pt__merkle_verify_consistency(oc.size, nc.size, oc.root, nc.root, (const uint8_t(*)[PT_SHA256_LEN])proof,
					  (size_t)n, why, sizeof why)) {
		rc = pt__err(PT_ECORRUPT, "%s/%s does not extend its new checkpoint: %s", run, stream, why);
		goto done;
	}
bundle:
	if ((rc = pt__buf_printf(&out, "{\"format\":\"%s\",\"version\":1,\"kind\":\"consistency\",\"run\":\"%s\","
				       "\"stream\":\"%s\",\"old_size\":%llu,\"tree_size\":%llu,\"proof\":",
				 BUNDLE_FORMAT, run, stream, (unsigned long long)oc.size, (unsigned long long)nc.size)) ||
	    (rc = put_hashes(&out, (const uint8_t(*)[PT_SHA256_LEN])proof, n)) ||
	    (rc = pt__buf_printf(&out, ",\"old_checkpoint\":")) ||
	    (rc = pt__json_string(&out, old_note, strlen(old_note))) || (rc = pt__buf_printf(&out, ",\"checkpoint\":")) ||
	    (rc = pt__json_string(&out, new_note, strlen(new_note))) || (rc = pt__buf_printf(&out, "}\n")))
		goto done;
	*out_json = (char *)out.data;
	out.data = NULL;
done:
	pt__free(cur);
	pt__buf_free(&out);
	pt__history_free(&h);
	return rc;
}

/* ---- checking a bundle ------------------------------------------------------------------ */

enum { F_FORMAT, F_VERSION, F_KIND, F_RUN, F_STREAM, F_SEQ, F_LEAF_INDEX, F_TREE_SIZE, F_LEAF, F_PROOF,
       F_CHECKPOINT, F_OLD_SIZE, F_OLD_CHECKPOINT, F_N };

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return pt__err(PT_ECORRUPT, "proof refused: %s", msg);
}

/* the event's seq: the value of its "seq" key (the first, as every writer puts it) */
static int leaf_seq(const uint8_t *p, size_t n, uint64_t *seq)
{
	const uint8_t *e = p + n;
	mpk_obj m, k, v;
	if (mpk_read(&p, e, &m) || m.type != MPK_MAP || !m.len || mpk_read(&p, e, &k) || k.type != MPK_STR ||
	    k.len != 3 || memcmp(k.ptr, "seq", 3) || mpk_read(&p, e, &v) || v.type != MPK_UINT)
		return -1;
	*seq = v.u;
	return 0;
}

static int decode_hashes(char **arr, size_t n, uint8_t (*out)[PT_SHA256_LEN], const char *what)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = 0;
		if (pt__b64_decode(arr[i], strlen(arr[i]), out[i], PT_SHA256_LEN, &l) || l != PT_SHA256_LEN)
			return bad("%s hash %zu is not the base64 of 32 bytes", what, i);
	}
	return 0;
}

int pt_check_proof(char **out_report, const char *bundle, size_t len, const char *verifier_key)
{
	if (out_report)
		*out_report = NULL;
	if (!bundle && len)
		return pt__err(PT_EINVAL, "pt_check_proof: NULL bundle");
	pt__vkey k;
	int rc = load_vkey(verifier_key, &k);
	if (rc)
		return rc;
	if (len > BUNDLE_MAX)
		return bad("the bundle is larger than %u bytes", BUNDLE_MAX);
	pt__jfield f[F_N] = {
		{.key = "format", .type = PT_JF_STR, .required = true}, {.key = "version", .type = PT_JF_UINT, .required = true}, {.key = "kind", .type = PT_JF_STR, .required = true},
		{.key = "run", .type = PT_JF_STR, .required = true}, {.key = "stream", .type = PT_JF_STR, .required = true}, {.key = "seq", .type = PT_JF_UINT, .required = false},
		{.key = "leaf_index", .type = PT_JF_UINT, .required = false}, {.key = "tree_size", .type = PT_JF_UINT, .required = true}, {.key = "leaf", .type = PT_JF_STR, .required = false},
		{.key = "proof", .type = PT_JF_STRARR, .required = true}, {.key = "checkpoint", .type = PT_JF_STR, .required = true}, {.key = "old_size", .type = PT_JF_UINT, .required = false},
		{.key = "old_checkpoint", .type = PT_JF_STR, .required = false},
	};
	char why[300] = "";
	uint8_t *leaf = NULL;
	pt__buf rep = {0};
	rc = pt__json_fields(bundle ? bundle : "", len, f, F_N, PT_MERKLE_MAX_PROOF, why, sizeof why);
	if (rc == -1)
		return bad("%s", why);
	if (rc)
		return rc;
	uint8_t proof[PT_MERKLE_MAX_PROOF][PT_SHA256_LEN];
	pt__checkpoint c, oc;
	bool incl = f[F_KIND].s && !strcmp(f[F_KIND].s, "inclusion");
	if (strcmp(f[F_FORMAT].s, BUNDLE_FORMAT)) {
		rc = bad("format is \"%.40s\", not \"%s\"", f[F_FORMAT].s, BUNDLE_FORMAT);
		goto done;
	}
	if (f[F_VERSION].u != 1) {
		rc = bad("bundle version %llu is not 1", (unsigned long long)f[F_VERSION].u);
		goto done;
	}
	if (!incl && strcmp(f[F_KIND].s, "consistency")) {
		rc = bad("kind \"%.40s\" is neither \"inclusion\" nor \"consistency\"", f[F_KIND].s);
		goto done;
	}
	/* the fields of the other kind must be absent: nothing unchecked rides along */
	if (incl ? (!f[F_SEQ].present || !f[F_LEAF_INDEX].present || !f[F_LEAF].present || f[F_OLD_SIZE].present ||
		    f[F_OLD_CHECKPOINT].present)
		 : (f[F_SEQ].present || f[F_LEAF_INDEX].present || f[F_LEAF].present || !f[F_OLD_SIZE].present ||
		    !f[F_OLD_CHECKPOINT].present)) {
		rc = bad(incl ? "an inclusion bundle has seq, leaf_index and leaf, and no old_size or old_checkpoint"
			      : "a consistency bundle has old_size and old_checkpoint, and no seq, leaf_index or leaf");
		goto done;
	}
	/* the checkpoint: syntax, then the signature by this key */
	if (pt__note_open(f[F_CHECKPOINT].s, f[F_CHECKPOINT].slen, &k, &c, why, sizeof why)) {
		rc = bad("checkpoint: %s", why);
		goto done;
	}
	char run[129], stream[129];
	if (origin_split(c.origin, run, stream)) {
		rc = bad("the checkpoint's origin \"%.100s\" is not provtrace/STORE/RUN/STREAM", c.origin);
		goto done;
	}
	if (strcmp(run, f[F_RUN].s) || strcmp(stream, f[F_STREAM].s)) {
		rc = bad("the bundle says run \"%.100s\" stream \"%.100s\", the signed checkpoint is of run \"%s\" stream \"%s\"",
			 f[F_RUN].s, f[F_STREAM].s, run, stream);
		goto done;
	}
	if (f[F_TREE_SIZE].u != c.size) {
		rc = bad("tree_size %llu is not the signed checkpoint's size %llu", (unsigned long long)f[F_TREE_SIZE].u,
			 (unsigned long long)c.size);
		goto done;
	}
	if ((rc = decode_hashes(f[F_PROOF].arr, f[F_PROOF].n, proof, "proof")))
		goto done;
	char roothex[PT_SHA256_HEX];
	pt__hex(c.root, PT_SHA256_LEN, roothex);
	if (incl) {
		uint64_t seq = f[F_SEQ].u, idx = f[F_LEAF_INDEX].u;
		if (seq == 0 || idx != seq - 1) {
			rc = bad("leaf_index %llu is not seq %llu - 1", (unsigned long long)idx, (unsigned long long)seq);
			goto done;
		}
		if (idx >= c.size) {
			rc = bad("seq %llu is not inside the signed tree of %llu events", (unsigned long long)seq,
				 (unsigned long long)c.size);
			goto done;
		}
		size_t ll = 0, cap = f[F_LEAF].slen / 4 * 3 + 3;
		if (!(leaf = pt__malloc(cap))) {
			rc = PT_ENOMEM;
			goto done;
		}
		uint64_t lseq = 0;
		if (pt__b64_decode(f[F_LEAF].s, f[F_LEAF].slen, leaf, cap, &ll)) {
			rc = bad("leaf is not base64");
			goto done;
		}
		if (leaf_seq(leaf, ll, &lseq) || lseq != seq) {
			rc = bad("the leaf is not the event of seq %llu (a msgpack event map whose first key is its seq)",
				 (unsigned long long)seq);
			goto done;
		}
		if ((rc = pt__json_event(&rep, run, stream, leaf, ll))) {
			rc = bad("the leaf is not one well-formed event: %s", pt_error_last());
			goto done;
		}
		uint8_t lh[PT_SHA256_LEN];
		pt__merkle_leaf_hash(leaf, ll, lh);
		if (pt__merkle_verify_inclusion(idx, c.size, lh, (const uint8_t(*)[PT_SHA256_LEN])proof, f[F_PROOF].n, c.root,
						why, sizeof why)) {
			rc = bad("%s", why);
			goto done;
		}
		if (out_report) {
			pt__buf r = {0};
			if ((rc = pt__buf_printf(&r, "{\"kind\":\"inclusion\",\"run\":")) ||
			    (rc = pt__json_string(&r, run, strlen(run))) || (rc = pt__buf_printf(&r, ",\"stream\":")) ||
			    (rc = pt__json_string(&r, stream, strlen(stream))) || (rc = pt__buf_printf(&r, ",\"origin\":")) ||
			    (rc = pt__json_string(&r, c.origin, strlen(c.origin))) ||
			    (rc = pt__buf_printf(&r, ",\"key\":\"%s\",\"tree_size\":%llu,\"root\":\"%s\",\"seq\":%llu,\"event\":%s}",
						 k.name, (unsigned long long)c.size, roothex, (unsigned long long)seq,
						 (const char *)rep.data))) {
				pt__buf_free(&r);
				goto done;
			}
			*out_report = (char *)r.data;
		}
	} else {
		if (pt__note_open(f[F_OLD_CHECKPOINT].s, f[F_OLD_CHECKPOINT].slen, &k, &oc, why, sizeof why)) {
			rc = bad("old_checkpoint: %s", why);
			goto done;
		}
		if (strcmp(oc.origin, c.origin)) {
			rc = bad("the old checkpoint is of another log (%.100s, not %.100s)", oc.origin, c.origin);
			goto done;
		}
		if (f[F_OLD_SIZE].u != oc.size) {
			rc = bad("old_size %llu is not the old checkpoint's size %llu", (unsigned long long)f[F_OLD_SIZE].u,
				 (unsigned long long)oc.size);
			goto done;
		}
		if (pt__merkle_verify_consistency(oc.size, c.size, oc.root, c.root, (const uint8_t(*)[PT_SHA256_LEN])proof,
						  f[F_PROOF].n, why, sizeof why)) {
			rc = bad("%s", why);
			goto done;
		}
		if (out_report) {
			char oldhex[PT_SHA256_HEX];
			pt__hex(oc.root, PT_SHA256_LEN, oldhex);
			pt__buf r = {0};
			if ((rc = pt__buf_printf(&r, "{\"kind\":\"consistency\",\"origin\":")) ||
			    (rc = pt__json_string(&r, c.origin, strlen(c.origin))) ||
			    (rc = pt__buf_printf(&r, ",\"key\":\"%s\",\"old_size\":%llu,\"old_root\":\"%s\",\"tree_size\":%llu,\"root\":\"%s\"}",
						 k.name, (unsigned long long)oc.size, oldhex, (unsigned long long)c.size,
						 roothex))) {
				pt__buf_free(&r);
				goto done;
			}
			*out_report = (char *)r.data;
		}
	}
done:
	pt__free(leaf);
	pt__buf_free(&rep);
	pt__jfields_free(f, F_N);
	return rc;
}
