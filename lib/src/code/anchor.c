/*
 * anchor.c - signed checkpoints kept in a git remote (provtrace/anchor.h).
 * The git side (a scratch repository, fetch, commit, push, reading the
 * branch's history) is code/git.c's; this file decides what is anchored and
 * what the store must satisfy.  Layer: code/ (3) over log/ (2).
 */
#include "code/code_int.h"
#include "format/note_int.h"
#include "log/tree_int.h"
#include "format/json_int.h"

#include <stdarg.h>

static int default_branch(const pt_store *st, const char *branch, char *out, size_t n)
{
	if (branch) {
		snprintf(out, n, "%s", branch);
		return 0;
	}
	char id[33];
	int rc = pt__store_id(st, id);
	if (!rc)
		snprintf(out, n, "provtrace/%s", id);
	return rc;
}

typedef struct {
	char *run, *stream, *text;
	uint64_t size;
} stream_note;

static int cmp_note(const void *a, const void *b)
{
	const stream_note *x = a, *y = b;
	int c = strcmp(x->run, y->run);
	return c ? c : strcmp(x->stream, y->stream);
}

int pt_anchor_push(const pt_store *st, const char *url, const char *branch, char **out_json)
{
	if (out_json)
		*out_json = NULL;
	if (!st || !url || !*url)
		return pt__err(PT_EINVAL, "pt_anchor_push: NULL store or URL");
	char br[300], commit[41] = "";
	int rc = default_branch(st, branch, br, sizeof br);
	if (rc)
		return rc;
	char **runs = NULL;
	size_t nruns = 0, nn = 0, cap = 0;
	stream_note *notes = NULL;
	pt__buf unsigned_list = {0}, out = {0};
	if ((rc = pt_store_runs(st, &runs, &nruns)))
		return rc;
	for (size_t i = 0; i < nruns && !rc; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[i], &streams, &ns)))
			break;
		for (size_t k = 0; k < ns && !rc; k++) {
			char *dir = pt__stream_dir(st, runs[i], streams[k]);
			char *path = dir ? pt__sprintf("%s/checkpoint.note", dir) : NULL;
			uint8_t *data = NULL;
			size_t len = 0;
			rc = path ? pt__read_file_in(st->path, path, PT_NOTE_MAX, &data, &len) : PT_ENOMEM;
			pt__checkpoint c;
			char why[300];
			if (rc == PT_ENOTFOUND) {
				pt__err_clear();
				rc = pt__buf_printf(&unsigned_list, "%s{\"run\":\"%s\",\"stream\":\"%s\"}",
						    unsigned_list.len ? "," : "", runs[i], streams[k]);
			} else if (!rc) {
				char *text = pt__realloc(data, len + 1);
				if (!text) {
					rc = PT_ENOMEM;
				} else {
					data = NULL;
					text[len] = 0;
					if (pt__note_open(text, len, NULL, &c, why, sizeof why)) {
						rc = pt__err(PT_ECORRUPT, "%s: the signed checkpoint is malformed: %s", path, why);
						pt__free(text);
					} else if (nn == cap && !(notes = pt__realloc(notes, (cap = cap ? cap * 2 : 16) * sizeof *notes))) {
						rc = PT_ENOMEM;
						pt__free(text);
					} else {
						notes[nn].run = pt__strdup(runs[i]);
						notes[nn].stream = pt__strdup(streams[k]);
						notes[nn].text = text;
						notes[nn].size = c.size;
						nn++;
						if (!notes[nn - 1].run || !notes[nn - 1].stream)
							rc = PT_ENOMEM;
					}
				}
			}
			pt__free(data);
			pt__free(path);
			pt__free(dir);
		}
		pt_strv_free(streams, ns);
	}
	if (!rc && !nn)
		rc = pt__err(PT_ENOTFOUND, "no stream of %s has a signed checkpoint to anchor (record with a signing key)",
			     st->path);
	if (!rc) {
		qsort(notes, nn, sizeof *notes, cmp_note);
		pt__anchor_file *f = pt__calloc(nn, sizeof *f);
		if (!f) {
			rc = PT_ENOMEM;
		} else {
			for (size_t i = 0; i < nn; i++)
				f[i] = (pt__anchor_file){notes[i].run, notes[i].stream, notes[i].text};
			char msg[200];
			snprintf(msg, sizeof msg, "provtrace anchor: %zu signed checkpoint%s\n", nn, nn == 1 ? "" : "s");
			rc = pt__git_anchor_push(url, br, msg, f, nn, commit);
			pt__free(f);
		}
	}
	if (!rc && out_json) {
		rc = pt__buf_printf(&out, "{\"commit\":\"%s\",\"branch\":", commit);
		if (!rc)
			rc = pt__json_string(&out, br, strlen(br));
		if (!rc)
			rc = pt__buf_printf(&out, ",\"anchored\":[");
		for (size_t i = 0; i < nn && !rc; i++)
			rc = pt__buf_printf(&out, "%s{\"run\":\"%s\",\"stream\":\"%s\",\"size\":%llu}", i ? "," : "", notes[i].run,
					    notes[i].stream, (unsigned long long)notes[i].size);
		if (!rc)
			rc = pt__buf_printf(&out, "],\"unsigned\":[%s]}", unsigned_list.data ? (char *)unsigned_list.data : "");
		if (!rc) {
			*out_json = (char *)out.data;
			out.data = NULL;
		}
	}
	for (size_t i = 0; i < nn; i++) {
		pt__free(notes[i].run);
		pt__free(notes[i].stream);
		pt__free(notes[i].text);
	}
	pt__free(notes);
	pt_strv_free(runs, nruns);
	pt__buf_free(&unsigned_list);
	pt__buf_free(&out);
	return rc;
}

/* ---- verify against the anchors ------------------------------------------------------ */

typedef struct {
	char run[129], stream[129], commit[41];
	uint64_t size;
	uint8_t root[PT_SHA256_LEN];
} anchored;

typedef struct {
	const pt_store *st;
	char id[33];
	pt__vkey *keys;
	size_t nkeys;
	anchored *v;
	size_t n, cap;
	pt_problem_cb cb;
	void *payload;
	int errors, first_code;
	char first[600];
} actx;

static void problem(actx *a, pt_severity sev, const char *object, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void problem(actx *a, pt_severity sev, const char *object, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (sev == PT_SEVERITY_ERROR && !a->errors++)
		snprintf(a->first, sizeof a->first, "%s: %s", object, msg);
	pt_problem p = {sev, PT_ECORRUPT, object, 0, msg};
	if (a->cb)
		a->cb(&p, a->payload);
}

static int on_file(void *payload, const char *commit, const char *run, const char *file, const char *text, size_t len)
{
	actx *a = payload;
	char obj[400];
	snprintf(obj, sizeof obj, "anchor %.12s %s/%s", commit, run, file ? file : "");
	size_t fl = file ? strlen(file) : 0;
	if (!file || !text || fl < 6 || strcmp(file + fl - 5, ".note")) {
		problem(a, PT_SEVERITY_ERROR, obj, "not an anchored checkpoint (<run>/<stream>.note)");
		return 0;
	}
	if (len > PT_NOTE_MAX) {
		problem(a, PT_SEVERITY_ERROR, obj, "the anchored note is larger than %u bytes", PT_NOTE_MAX);
		return 0;
	}
	pt__checkpoint c;
	char why[300];
	if (pt__note_open(text, len, NULL, &c, why, sizeof why)) {
		problem(a, PT_SEVERITY_ERROR, obj, "the anchored checkpoint is malformed: %s", why);
		return 0;
	}
	char want[PT_ORIGIN_MAX + 1];
	snprintf(want, sizeof want, "provtrace/%s/%s/%.*s", a->id, run, (int)(fl - 5), file);
	if (strcmp(c.origin, want)) {
		problem(a, PT_SEVERITY_ERROR, obj, "the anchored checkpoint is of log \"%s\", not \"%s\" (another store, or this store's id was changed)",
			c.origin, want);
		return 0;
	}
	if (a->nkeys) {
		bool ok = false;
		for (size_t i = 0; i < a->nkeys && !ok; i++)
			ok = !pt__note_open(text, len, &a->keys[i], &c, why, sizeof why);
		if (!ok) {
			problem(a, PT_SEVERITY_ERROR, obj, "the anchored checkpoint is not signed by a trusted key (%s)", why);
			return 0;
		}
	}
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i].run, run) && strlen(a->v[i].stream) == fl - 5 &&
		    !strncmp(a->v[i].stream, file, fl - 5) && a->v[i].size == c.size &&
		    !memcmp(a->v[i].root, c.root, PT_SHA256_LEN))
			return 0; /* the same checkpoint, anchored again */
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 32;
		anchored *nv = pt__realloc(a->v, nc * sizeof *nv);
		if (!nv)
			return PT_ENOMEM;
		a->v = nv;
		a->cap = nc;
	}
	anchored *x = &a->v[a->n++];
	memset(x, 0, sizeof *x);
	snprintf(x->run, sizeof x->run, "%s", run);
	snprintf(x->stream, sizeof x->stream, "%.*s", (int)(fl - 5), file);
	snprintf(x->commit, sizeof x->commit, "%s", commit);
	x->size = c.size;
	memcpy(x->root, c.root, PT_SHA256_LEN);
	return 0;
}

static int cmp_anchored(const void *p, const void *q)
{
	const anchored *x = p, *y = q;
	int c = strcmp(x->run, y->run);
	if (!c)
		c = strcmp(x->stream, y->stream);
	return c ? c : (x->size > y->size) - (x->size < y->size);
}

/* Does some stream of the store hold exactly this tree?  Names it in `where`. */
static int find_elsewhere(actx *a, const anchored *x, char *where, size_t n)
{
	char **runs = NULL;
	size_t nr = 0;
	int rc = pt_store_runs(a->st, &runs, &nr);
	where[0] = 0;
	for (size_t i = 0; i < nr && !rc && !where[0]; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(a->st, runs[i], &streams, &ns)))
			break;
		for (size_t k = 0; k < ns && !rc && !where[0]; k++) {
			pt__history h;
			if (pt__history_load(&h, a->st, runs[i], streams[k], false))
				continue;
			uint8_t root[1][PT_SHA256_LEN];
			bool have = false;
			uint64_t total = 0;
			if (!pt__tree_roots_at(&h, &x->size, 1, root, &have, &total, true) && have &&
			    !memcmp(root[0], x->root, PT_SHA256_LEN))
				snprintf(where, n, "%s/%s", runs[i], streams[k]);
			pt__history_free(&h);
			pt__err_clear();
		}
		pt_strv_free(streams, ns);
	}
	pt_strv_free(runs, nr);
	return rc;
}

int pt_anchor_verify(const pt_store *st, const char *url, const char *branch, pt_problem_cb cb, void *payload,
		     uint64_t *out_checked)
{
	if (out_checked)
		*out_checked = 0;
	if (!st || !url)
		return pt__err(PT_EINVAL, "pt_anchor_verify: NULL store or URL");
	actx a;
	memset(&a, 0, sizeof a);
	a.st = st;
	a.cb = cb;
	a.payload = payload;
	char br[300];
	int rc = default_branch(st, branch, br, sizeof br);
	if (!rc)
		rc = pt__store_id(st, a.id);
	char **lines = NULL;
	size_t nl = 0;
	if (!rc)
		rc = pt__store_config_values(st, "trusted_key", &lines, &nl);
	if (!rc && nl && !(a.keys = pt__calloc(nl, sizeof *a.keys)))
		rc = PT_ENOMEM;
	for (size_t i = 0; !rc && i < nl; i++) {
		char why[200];
		if (!pt__vkey_parse(lines[i], strlen(lines[i]), &a.keys[a.nkeys], why, sizeof why))
			a.nkeys++;
	}
	pt_strv_free(lines, nl);
	size_t commits = 0;
	if (!rc)
		rc = pt__git_anchor_read(url, br, on_file, &a, &commits);
	if (rc)
		goto done;
	qsort(a.v, a.n, sizeof *a.v, cmp_anchored);
	/* per stream: one pass computing the roots at every anchored size */
	for (size_t i = 0; i < a.n && !rc;) {
		size_t j = i;
		while (j < a.n && !strcmp(a.v[j].run, a.v[i].run) && !strcmp(a.v[j].stream, a.v[i].stream))
			j++;
		char obj[300];
		snprintf(obj, sizeof obj, "%s/%s", a.v[i].run, a.v[i].stream);
		pt__history h;
		int lr = pt__history_load(&h, st, a.v[i].run, a.v[i].stream, true);
		if (lr == PT_ENOMEM) {
			rc = lr;
			break;
		}
		if (lr) {
			char where[300];
			if ((rc = find_elsewhere(&a, &a.v[j - 1], where, sizeof where)))
				break;
			if (where[0])
				problem(&a, PT_SEVERITY_ERROR, obj,
					"the stream is gone; its anchored checkpoint (%llu events, anchor %.12s) is held by %s: "
					"the stream was renamed or copied there",
					(unsigned long long)a.v[j - 1].size, a.v[j - 1].commit, where);
			else
				problem(&a, PT_SEVERITY_ERROR, obj,
					"the stream is gone (deleted or renamed); it was anchored with %llu events (anchor %.12s)",
					(unsigned long long)a.v[j - 1].size, a.v[j - 1].commit);
			pt__err_clear();
			i = j;
			continue;
		}
		size_t m = j - i;
		uint64_t *sizes = pt__calloc(m, sizeof *sizes);
		uint8_t(*roots)[PT_SHA256_LEN] = pt__calloc(m, PT_SHA256_LEN);
		bool *have = pt__calloc(m, sizeof *have);
		uint64_t total = 0;
		if (!sizes || !roots || !have) {
			rc = PT_ENOMEM;
		} else {
			for (size_t k = 0; k < m; k++)
				sizes[k] = a.v[i + k].size;
			int tr = pt__tree_roots_at(&h, sizes, m, roots, have, &total, false);
			if (tr == PT_ENOMEM)
				rc = tr;
			else if (tr)
				problem(&a, PT_SEVERITY_ERROR, obj, "the stream's events cannot be read to compare with its anchors: %s",
					pt_error_last());
			for (size_t k = 0; k < m && !tr; k++) {
				const anchored *x = &a.v[i + k];
				if (out_checked)
					(*out_checked)++;
				if (!have[k])
					problem(&a, PT_SEVERITY_ERROR, obj,
						"rolled back or truncated: the stream has %llu events, anchor %.12s holds a signed "
						"checkpoint of %llu",
						(unsigned long long)total, x->commit, (unsigned long long)x->size);
				else if (memcmp(roots[k], x->root, PT_SHA256_LEN))
					problem(&a, PT_SEVERITY_ERROR, obj,
						"replaced or rewritten: the stream's first %llu events are not the ones anchor %.12s "
						"signed",
						(unsigned long long)x->size, x->commit);
			}
		}
		/* the stream's own signed checkpoint must not be older than what was anchored */
		if (!rc) {
			char *path = pt__sprintf("%s/checkpoint.note", h.dir);
			uint8_t *data = NULL;
			size_t len = 0;
			int nr = path ? pt__read_file_in(st->path, path, PT_NOTE_MAX, &data, &len) : PT_ENOMEM;
			pt__checkpoint c;
			char why[300];
			const anchored *last = &a.v[j - 1];
			if (nr == PT_ENOMEM)
				rc = nr;
			else if (nr)
				problem(&a, PT_SEVERITY_ERROR, obj,
					"the stream's signed checkpoint is gone (%s); anchor %.12s holds one of %llu events",
					pt_error_last(), last->commit, (unsigned long long)last->size);
			else if (pt__note_open((const char *)data, len, NULL, &c, why, sizeof why))
				problem(&a, PT_SEVERITY_ERROR, obj, "the stream's signed checkpoint is malformed: %s", why);
			else if (c.size < last->size)
				problem(&a, PT_SEVERITY_ERROR, obj,
					"the stream's signed checkpoint (%llu events) is older than anchor %.12s's (%llu): it was "
					"replaced by an older one",
					(unsigned long long)c.size, last->commit, (unsigned long long)last->size);
			pt__err_clear();
			pt__free(data);
			pt__free(path);
		}
		pt__free(sizes);
		pt__free(roots);
		pt__free(have);
		pt__history_free(&h);
		i = j;
	}
	if (!rc && a.errors)
		rc = pt__err(PT_ECORRUPT, "the store does not extend its anchors: %d problem(s); first: %s", a.errors, a.first);
done:
	pt__free(a.v);
	pt__free(a.keys);
	return rc;
}
