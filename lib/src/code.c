/*
 * code.c - code provenance: options, URL and environment redaction, the
 * `code` and `env` event bodies, and the checks after a restore.  The git
 * side lives in git.c.
 */
#include "codeprov.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

int pt_code_options_init(pt_code_options *opts, unsigned int version)
{
	if (!opts)
		return pt__err(PT_EINVAL, "pt_code_options_init: NULL options");
	if (version != PT_CODE_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_code_options_init: unknown version %u", version);
	pt_code_options d = PT_CODE_OPTIONS_INIT;
	*opts = d;
	return 0;
}

static const char *const default_allowlist[] = {
	"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOSTNAME", "USER", "HOME", "SHELL",
	"VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "PYTHONHASHSEED",
	"PYTHONOPTIMIZE", "PYTHONUNBUFFERED", "LD_LIBRARY_PATH", "LD_PRELOAD",
	"CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG",
	"NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
	"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
	"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
	"NCCL_*", "TORCH_*", "PYTORCH_*", "TF_*", "XLA_*", "JAX_*", "HF_*", "TRANSFORMERS_*",
	"SLURM_*", "PBS_*", "PROVTRACE_*", NULL
};

const char *const *pt_code_default_env_allowlist(void) { return default_allowlist; }

/* ---- small helpers ----------------------------------------------------------- */

int pt__code_setstr(const char **field, const char *s)
{
	char *d = NULL;
	if (s && !(d = pt__strdup(s)))
		return PT_ENOMEM;
	pt__free((void *)*field);
	*field = d;
	return 0;
}

int pt__code_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = pt__realloc(*arr, ncap * elem);
	if (!p)
		return PT_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define FREE_STR(s) pt__free((void *)(s))

void pt_code_provenance_free(pt_code_provenance *p)
{
	if (!p)
		return;
	FREE_STR(p->state);
	FREE_STR(p->message);
	FREE_STR(p->workdir);
	FREE_STR(p->gitdir);
	FREE_STR(p->commit);
	FREE_STR(p->branch);
	FREE_STR(p->upstream);
	FREE_STR(p->truncated_reason);
	FREE_STR(p->patch_object);
	for (size_t i = 0; i < p->n_changes; i++) {
		FREE_STR(p->changes[i].path);
		FREE_STR(p->changes[i].old_path);
		FREE_STR(p->changes[i].sha256);
	}
	pt__free(p->changes);
	for (size_t i = 0; i < p->n_untracked; i++) {
		FREE_STR(p->untracked[i].path);
		FREE_STR(p->untracked[i].sha256);
		FREE_STR(p->untracked[i].object);
	}
	pt__free(p->untracked);
	for (size_t i = 0; i < p->n_remotes; i++) {
		FREE_STR(p->remotes[i].name);
		FREE_STR(p->remotes[i].url);
	}
	pt__free(p->remotes);
	for (size_t i = 0; i < p->n_submodules; i++) {
		FREE_STR(p->submodules[i].name);
		FREE_STR(p->submodules[i].path);
		FREE_STR(p->submodules[i].url);
		FREE_STR(p->submodules[i].commit);
		FREE_STR(p->submodules[i].workdir_commit);
	}
	pt__free(p->submodules);
	pt__free(p);
}

/* ---- redaction ------------------------------------------------------------------ */

int pt_code_strip_url(char **out, const char *url)
{
	if (!out || !url)
		return pt__err(PT_EINVAL, "pt_code_strip_url: NULL argument");
	*out = NULL;
	const char *sep = strstr(url, "://");
	/* scp-like "user@host:path" and local paths carry no password */
	if (!sep || memchr(url, '/', (size_t)(sep - url)) || sep == url) {
		*out = pt__strdup(url);
		return *out ? 0 : PT_ENOMEM;
	}
	size_t scheme_len = (size_t)(sep - url);
	const char *auth = sep + 3;
	size_t auth_len = strcspn(auth, "/?#");
	const char *rest = auth + auth_len;
	size_t rest_len = strcspn(rest, "?#"); /* query and fragment dropped */

	/* the userinfo ends at the last '@' of the authority */
	const char *at = NULL;
	for (const char *q = auth; q < auth + auth_len; q++)
		if (*q == '@')
			at = q;
	const char *host = at ? at + 1 : auth;
	size_t user_len = 0;
	bool keep_user = false;
	if (at) {
		/* Over http(s) a user name is often the token itself: drop it all.
		 * Elsewhere (ssh://git@host) the user is needed and not secret. */
		bool web = (scheme_len == 4 && !strncasecmp(url, "http", 4)) ||
			   (scheme_len == 5 && !strncasecmp(url, "https", 5)) ||
			   (scheme_len == 3 && !strncasecmp(url, "ftp", 3)) ||
			   (scheme_len == 4 && !strncasecmp(url, "ftps", 4));
		if (!web) {
			user_len = strcspn(auth, ":@");
			keep_user = user_len > 0;
		}
	}
	pt_buf b = { 0 };
	int rc = pt__buf_append(&b, url, scheme_len + 3);
	if (!rc && keep_user) {
		rc = pt__buf_append(&b, auth, user_len);
		if (!rc)
			rc = pt__buf_append(&b, "@", 1);
	}
	if (!rc)
		rc = pt__buf_append(&b, host, (size_t)(auth + auth_len - host));
	if (!rc)
		rc = pt__buf_append(&b, rest, rest_len);
	if (!rc)
		rc = pt__buf_append(&b, "", 1);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

int pt_code_env_name_is_secret(const char *name)
{
	static const char *const words[] = { "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD",
					     "CREDENTIAL", NULL };
	if (!name)
		return 0;
	for (size_t i = 0; words[i]; i++)
		if (strcasestr(name, words[i]))
			return 1;
	return 0;
}

/* ---- event bodies ----------------------------------------------------------------- */

static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (!len || (size_t)(end - p) < len)
			return false;
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		if (len == 2 && c < 0xC2)
			return false;
		p += len;
	}
	return true;
}

/* Paths, arguments and variables need not be UTF-8: such values go as bytes. */
static int put_text(pt_event *ev, const char *key, const char *s)
{
	if (!s)
		return pt_event_nil(ev, key);
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return pt_event_strn(ev, key, s, n);
	return pt_event_bytes(ev, key, s, n);
}

static int put_opt_text(pt_event *ev, const char *key, const char *s)
{
	return s ? put_text(ev, key, s) : 0;
}

int pt__code_to_event(pt_event *ev, const pt_code_provenance *p)
{
	int rc = 0;
#define T(x)                       \
	do {                       \
		if (!rc)           \
			rc = (x);  \
	} while (0)
	T(put_text(ev, "state", p->state ? p->state : "error"));
	T(put_opt_text(ev, "message", p->message));
	T(put_text(ev, "workdir", p->workdir));
	T(put_text(ev, "gitdir", p->gitdir));
	T(put_text(ev, "commit", p->commit));
	T(put_text(ev, "branch", p->branch));
	T(pt_event_bool(ev, "detached", p->detached));
	if (p->upstream) {
		T(pt_event_begin_map(ev, "upstream"));
		T(put_text(ev, "name", p->upstream));
		T(pt_event_int(ev, "ahead", p->ahead));
		T(pt_event_int(ev, "behind", p->behind));
		T(pt_event_end(ev));
	} else {
		T(pt_event_nil(ev, "upstream"));
	}
	if (p->dirty < 0)
		T(pt_event_nil(ev, "dirty"));
	else
		T(pt_event_bool(ev, "dirty", p->dirty));
	T(pt_event_bool(ev, "truncated", p->truncated));
	T(put_opt_text(ev, "truncated_reason", p->truncated_reason));
	if (p->patch_object) {
		T(pt_event_begin_map(ev, "patch"));
		T(put_text(ev, "object", p->patch_object));
		T(pt_event_uint(ev, "bytes", p->patch_bytes));
		T(pt_event_end(ev));
	} else {
		T(pt_event_nil(ev, "patch"));
	}
	T(pt_event_begin_array(ev, "remotes"));
	for (size_t i = 0; i < p->n_remotes && !rc; i++) {
		T(pt_event_begin_map(ev, NULL));
		T(put_text(ev, "name", p->remotes[i].name));
		T(put_text(ev, "url", p->remotes[i].url));
		T(pt_event_end(ev));
	}
	T(pt_event_end(ev));
	T(pt_event_begin_array(ev, "changes"));
	for (size_t i = 0; i < p->n_changes && !rc; i++) {
		const pt_code_change *c = &p->changes[i];
		char st[2] = { c->status, 0 };
		T(pt_event_begin_map(ev, NULL));
		T(put_text(ev, "path", c->path));
		T(put_opt_text(ev, "old_path", c->old_path));
		T(pt_event_str(ev, "status", st));
		T(pt_event_uint(ev, "mode", c->mode));
		T(pt_event_uint(ev, "size", c->size));
		T(put_text(ev, "sha256", c->sha256));
		T(pt_event_end(ev));
	}
	T(pt_event_end(ev));
	T(pt_event_begin_array(ev, "untracked"));
	for (size_t i = 0; i < p->n_untracked && !rc; i++) {
		const pt_code_untracked *u = &p->untracked[i];
		T(pt_event_begin_map(ev, NULL));
		T(put_text(ev, "path", u->path));
		T(pt_event_uint(ev, "mode", u->mode));
		T(pt_event_uint(ev, "size", u->size));
		T(put_text(ev, "sha256", u->sha256));
		T(put_text(ev, "object", u->object));
		T(pt_event_end(ev));
	}
	T(pt_event_end(ev));
	T(pt_event_uint(ev, "untracked_max_bytes", p->untracked_max_bytes));
	T(pt_event_begin_array(ev, "submodules"));
	for (size_t i = 0; i < p->n_submodules && !rc; i++) {
		const pt_code_submodule *s = &p->submodules[i];
		T(pt_event_begin_map(ev, NULL));
		T(put_text(ev, "name", s->name));
		T(put_text(ev, "path", s->path));
		T(put_text(ev, "url", s->url));
		T(put_text(ev, "commit", s->commit));
		T(put_text(ev, "workdir_commit", s->workdir_commit));
		T(pt_event_end(ev));
	}
	T(pt_event_end(ev));
	T(pt_event_uint(ev, "capture_us", p->capture_us));
	/* every object the event keeps alive, for gc */
	T(pt_event_begin_array(ev, "objects"));
	if (p->patch_object)
		T(pt_event_str(ev, NULL, p->patch_object));
	for (size_t i = 0; i < p->n_untracked && !rc; i++)
		if (p->untracked[i].object)
			T(pt_event_str(ev, NULL, p->untracked[i].object));
	T(pt_event_end(ev));
	return rc;
}

/* ---- env ------------------------------------------------------------------------ */

static bool env_allowed(const char *name, size_t name_len, const char *const *list)
{
	for (size_t i = 0; list[i]; i++) {
		size_t l = strlen(list[i]);
		if (l && list[i][l - 1] == '*') {
			if (name_len >= l - 1 && !strncmp(name, list[i], l - 1))
				return true;
		} else if (l == name_len && !strncmp(name, list[i], l)) {
			return true;
		}
	}
	return false;
}

static int cmp_env(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int env_vars(pt_event *ev, const char *const *list)
{
	size_t n = 0, cap = 0;
	char **sel = NULL;
	int rc = 0;
	for (char **e = environ; e && *e && !rc; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || !env_allowed(*e, (size_t)(eq - *e), list))
			continue;
		rc = pt__code_grow((void **)&sel, &cap, n, sizeof(char *));
		if (!rc)
			sel[n++] = *e;
	}
	if (!rc)
		qsort(sel, n, sizeof(char *), cmp_env);
	if (!rc)
		rc = pt_event_begin_map(ev, "env");
	for (size_t i = 0; i < n && !rc; i++) {
		const char *eq = strchr(sel[i], '=');
		char *name = pt__strndup(sel[i], (size_t)(eq - sel[i]));
		if (!name) {
			rc = PT_ENOMEM;
			break;
		}
		if (i && !strncmp(sel[i - 1], sel[i], (size_t)(eq - sel[i]) + 1)) {
			pt__free(name); /* a duplicated name: the first wins, like getenv */
			continue;
		}
		if (!utf8_valid(name, strlen(name)))
			rc = 0; /* a key must be UTF-8: such a variable is skipped */
		else if (pt_code_env_name_is_secret(name))
			rc = pt_event_str(ev, name, "<redacted>");
		else
			rc = put_text(ev, name, eq + 1);
		pt__free(name);
	}
	if (!rc)
		rc = pt_event_end(ev);
	pt__free(sel);
	return rc;
}

/* "--api-key=X" keeps "--api-key=" and "--password X" loses X. */
static int cmdline(pt_event *ev)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pt__read_file("/proc/self/cmdline", 1u << 20, &data, &len);
	if (rc) {
		pt__err_clear();
		return pt_event_nil(ev, "cmdline");
	}
	rc = pt_event_begin_array(ev, "cmdline");
	bool redact_next = false;
	for (size_t off = 0; off < len && !rc;) {
		const char *arg = (const char *)data + off;
		size_t al = strnlen(arg, len - off);
		const char *eq = memchr(arg, '=', al);
		if (redact_next) {
			rc = pt_event_str(ev, NULL, "<redacted>");
			redact_next = false;
		} else if (arg[0] == '-' && eq) {
			char *name = pt__strndup(arg, (size_t)(eq - arg));
			if (!name)
				rc = PT_ENOMEM;
			else if (pt_code_env_name_is_secret(name)) {
				char *r = pt__sprintf("%s=<redacted>", name);
				rc = r ? put_text(ev, NULL, r) : PT_ENOMEM;
				pt__free(r);
			} else {
				rc = put_text(ev, NULL, arg);
			}
			pt__free(name);
		} else {
			if (arg[0] == '-' && pt_code_env_name_is_secret(arg))
				redact_next = true;
			rc = put_text(ev, NULL, arg);
		}
		off += al + 1;
	}
	if (!rc)
		rc = pt_event_end(ev);
	pt__free(data);
	return rc;
}

static char *cpu_model(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];
	char *model = NULL;
	if (!f)
		return NULL;
	while (!model && fgets(line, sizeof(line), f)) {
		/* x86: "model name"; arm64: often only "CPU part"/"Hardware" */
		if (strncmp(line, "model name", 10) && strncmp(line, "Hardware", 8) &&
		    strncmp(line, "cpu model", 9))
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		v[strcspn(v, "\n")] = 0;
		model = pt__strdup(v);
	}
	fclose(f);
	return model;
}

int pt__code_env_event(pt_event *ev, const pt_code_options *o)
{
	struct utsname u;
	char host[256] = "";
	int rc = 0;
	char *model = cpu_model();
	char *cwd = getcwd(NULL, 0);
	bool have_uname = uname(&u) == 0;

	if (gethostname(host, sizeof(host) - 1) < 0 && have_uname)
		snprintf(host, sizeof(host), "%s", u.nodename);
	T(put_text(ev, "host", host));
	T(pt_event_begin_map(ev, "os"));
	if (have_uname) {
		T(put_text(ev, "sysname", u.sysname));
		T(put_text(ev, "release", u.release));
		T(put_text(ev, "version", u.version));
		T(put_text(ev, "machine", u.machine));
	}
	T(pt_event_end(ev));
	T(pt_event_begin_map(ev, "cpu"));
	T(put_text(ev, "model", model));
	T(pt_event_int(ev, "count", sysconf(_SC_NPROCESSORS_ONLN)));
	T(pt_event_int(ev, "configured", sysconf(_SC_NPROCESSORS_CONF)));
	T(pt_event_end(ev));
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	T(pt_event_uint(ev, "memory_bytes",
			pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0));
	T(pt_event_str(ev, "provtrace_version", pt_version()));
	T(pt_event_int(ev, "pid", getpid()));
	T(pt_event_int(ev, "ppid", getppid()));
	T(cmdline(ev));
	T(put_text(ev, "cwd", cwd));
	T(env_vars(ev, o && o->env_allowlist ? o->env_allowlist : default_allowlist));
	pt__free(model);
	free(cwd);
	return rc;
#undef T
}

/* ---- messages ---------------------------------------------------------------------- */

char *pt__code_dirty_message(const pt_code_provenance *p)
{
	pt_buf b = { 0 };
	int rc = pt__buf_printf(&b, "the working tree %s has uncommitted changes:",
				p->workdir ? p->workdir : "");
	size_t shown = 0;
	for (size_t i = 0; i < p->n_changes && !rc && shown < 50; i++, shown++)
		rc = pt__buf_printf(&b, "\n  %c %s", p->changes[i].status, p->changes[i].path);
	for (size_t i = 0; i < p->n_untracked && !rc && shown < 50; i++, shown++)
		rc = pt__buf_printf(&b, "\n  ? %s", p->untracked[i].path);
	if (!rc && p->n_changes + p->n_untracked > shown)
		rc = pt__buf_printf(&b, "\n  ... and %zu more", p->n_changes + p->n_untracked - shown);
	if (!rc && p->dirty < 0)
		rc = pt__buf_printf(&b, "\n  (the capture was cut: %s)",
				    p->truncated_reason ? p->truncated_reason : "unknown");
	if (rc) {
		pt__buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* ---- restore checks ------------------------------------------------------------------ */

/* A recorded path is written under the restore directory only if it stays there. */
static bool path_safe(const char *rel)
{
	if (!rel[0] || rel[0] == '/')
		return false;
	for (const char *s = rel; *s;) {
		size_t l = strcspn(s, "/");
		if ((l == 2 && !strncmp(s, "..", 2)) || (l == 1 && s[0] == '.') || l == 0)
			return false;
		if ((l == 4 && !strncmp(s, ".git", 4)))
			return false;
		s += l;
		if (*s == '/')
			s++;
	}
	return true;
}

static void problem(size_t *count, pt_code_problem_cb cb, void *payload, const char *path,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(size_t *count, pt_code_problem_cb cb, void *payload, const char *path,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(*count)++;
	if (cb)
		cb(path, msg, payload);
}

static int write_untracked(const char *dir, const pt_code_untracked *u, const uint8_t *data,
			   size_t len)
{
	char *path = pt__sprintf("%s/%s", dir, u->path);
	int rc = 0, fd = -1;
	if (!path)
		return PT_ENOMEM;
	char *slash = strrchr(path, '/');
	*slash = 0;
	rc = pt__mkdir_p(path, 0755);
	*slash = '/';
	if (rc)
		goto done;
	if (u->mode == 0120000) {
		char *target = pt__strndup((const char *)data, len);
		if (!target) {
			rc = PT_ENOMEM;
			goto done;
		}
		if (symlink(target, path) < 0)
			rc = pt__err_errno(errno, "cannot create the symlink %s", path);
		pt__free(target);
		goto done;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, u->mode == 0100755 ? 0755 : 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot create %s", path);
		goto done;
	}
	rc = pt__write_all(fd, data, len, path);
done:
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = pt__err_errno(errno, "cannot write %s", path);
	pt__free(path);
	return rc;
}

/* SHA-256 of a restored path the way capture hashed it; 1 if absent. */
static int hash_restored(const char *dir, const char *rel, char hex[PT_SHA256_HEX], uint32_t *mode)
{
	char *path = pt__sprintf("%s/%s", dir, rel);
	struct stat sb;
	uint8_t d[PT_SHA256_LEN];
	int rc = 0;
	if (!path)
		return PT_ENOMEM;
	if (lstat(path, &sb) < 0) {
		rc = 1;
	} else if (S_ISLNK(sb.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlink(path, t, sizeof(t));
		if (n < 0)
			rc = pt__err_errno(errno, "cannot read the symlink %s", path);
		else
			pt__sha256(t, (size_t)n, d);
		*mode = 0120000;
	} else if (S_ISREG(sb.st_mode)) {
		rc = pt__sha256_file(path, d, NULL);
		*mode = (sb.st_mode & 0100) ? 0100755 : 0100644;
	} else {
		*mode = S_ISDIR(sb.st_mode) ? 040000 : 0;
		memset(d, 0, sizeof(d));
	}
	if (!rc)
		pt__hex(d, PT_SHA256_LEN, hex);
	pt__free(path);
	return rc;
}

int pt__code_finish_restore(const pt_code_provenance *p, const char *dir,
			    const pt__code_objects *objs, pt_code_problem_cb cb, void *payload,
			    size_t *out_problems)
{
	size_t count = 0;
	int rc = 0;
	char hex[PT_SHA256_HEX];
	uint32_t mode;

	if (p->truncated)
		problem(&count, cb, payload, "", "the capture was cut: %s",
			p->truncated_reason ? p->truncated_reason : "no reason recorded");

	for (size_t i = 0; i < p->n_untracked && !rc; i++) {
		const pt_code_untracked *u = &p->untracked[i];
		uint8_t *data = NULL;
		size_t len = 0;
		if (!path_safe(u->path)) {
			if (u->mode == 040000 && u->path[strlen(u->path) - 1] == '/')
				problem(&count, cb, payload, u->path,
					"a nested repository: its contents were not recorded");
			else
				problem(&count, cb, payload, u->path,
					"unsafe path: not written outside the restore directory");
			continue;
		}
		if (!u->object) {
			if (u->size > p->untracked_max_bytes)
				problem(&count, cb, payload, u->path,
					"untracked file of %llu bytes over the %llu-byte limit: "
					"contents were not stored",
					(unsigned long long)u->size,
					(unsigned long long)p->untracked_max_bytes);
			else
				problem(&count, cb, payload, u->path,
					"untracked file contents were not stored (total limit or "
					"time budget)");
			continue;
		}
		rc = objs->get(objs->payload, u->object, &data, &len);
		if (rc == PT_ENOTFOUND || rc == PT_ECORRUPT) {
			problem(&count, cb, payload, u->path, "stored contents unreadable: %s",
				pt_error_last());
			rc = 0;
			continue;
		}
		if (rc)
			break;
		uint8_t d[PT_SHA256_LEN];
		pt__sha256(data, len, d);
		pt__hex(d, PT_SHA256_LEN, hex);
		if (u->sha256 && strcmp(hex, u->sha256))
			problem(&count, cb, payload, u->path,
				"stored contents do not match the recorded hash");
		else
			rc = write_untracked(dir, u, data, len);
		pt__free(data);
	}

	/* the patch's result, file by file, against the hashes taken at capture */
	for (size_t i = 0; i < p->n_changes && !rc; i++) {
		const pt_code_change *c = &p->changes[i];
		if (c->mode == 0160000) {
			problem(&count, cb, payload, c->path,
				"submodule moved to another commit: not restored");
			continue;
		}
		if (c->old_path && path_safe(c->old_path)) {
			rc = hash_restored(dir, c->old_path, hex, &mode);
			if (rc == 0)
				problem(&count, cb, payload, c->old_path,
					"renamed away at capture but present after restore");
			if (rc > 0)
				rc = 0;
		}
		if (rc || !path_safe(c->path))
			continue;
		rc = hash_restored(dir, c->path, hex, &mode);
		if (rc < 0)
			break;
		if (c->status == 'D') {
			if (rc == 0)
				problem(&count, cb, payload, c->path,
					"deleted at capture but present after restore");
			rc = 0;
			continue;
		}
		if (rc > 0) {
			problem(&count, cb, payload, c->path, "missing after restore");
			rc = 0;
		} else if (!c->sha256) {
			problem(&count, cb, payload, c->path,
				"not hashed at capture (time budget): cannot check");
		} else if (strcmp(hex, c->sha256)) {
			problem(&count, cb, payload, c->path,
				"content differs from the working tree at capture");
		} else if (mode != c->mode) {
			problem(&count, cb, payload, c->path, "mode %o differs from %o at capture",
				mode, c->mode);
		}
	}
	for (size_t i = 0; i < p->n_submodules && !rc; i++)
		if (p->submodules[i].commit)
			problem(&count, cb, payload, p->submodules[i].path,
				"submodule contents are not restored (check out commit %s there)",
				p->submodules[i].workdir_commit ? p->submodules[i].workdir_commit
								: p->submodules[i].commit);
	if (out_problems)
		*out_problems = count;
	return rc;
}
