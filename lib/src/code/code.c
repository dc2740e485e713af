/*
 * code.c - code provenance: options, URL and environment redaction, the
 * `code` and `env` event bodies, and the checks after a restore.  The git
 * side lives in git.c.
 */
#include "code/code_int.h"
#include "base/mpk_int.h"
#include "format/objects_int.h"

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

/* ---- redaction ------------------------------------------------------------------ */

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
	return pt__utf8_valid((const uint8_t *)s, n);
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
	/* a /proc file has no size: read until EOF, bounded */
	pt__buf b = { 0 };
	int rc = 0, fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt_event_nil(ev, "cmdline");
	while (!rc && b.len < (1u << 20)) {
		rc = pt__buf_reserve(&b, 4096);
		if (rc)
			break;
		ssize_t n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b.len += (size_t)n;
	}
	close(fd);
	uint8_t *data = b.data;
	size_t len = b.len;
	if (!rc)
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
	char cwdbuf[PATH_MAX]; /* not getcwd(NULL): allocations go through alloc.h */
	char *cwd = getcwd(cwdbuf, sizeof cwdbuf);
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
	return rc;
#undef T
}

/* ---- messages ---------------------------------------------------------------------- */

char *pt__code_dirty_message(const pt_code_provenance *p)
{
	pt__buf b = { 0 };
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

/*
 * 1 if a directory on the way to `rel` under `dir` is a symlink: writing
 * through it could leave `dir` (a recorded symlink "a" -> "/etc" followed by
 * a recorded file "a/x" in a hostile store).
 */
static bool parent_is_symlink(const char *dir, const char *rel)
{
	size_t dl = strlen(dir);
	char *path = pt__sprintf("%s/%s", dir, rel);
	bool bad = false;
	if (!path)
		return true;
	for (char *s = path + dl + 1; !bad && (s = strchr(s, '/')); s++) {
		struct stat sb;
		*s = 0;
		if (lstat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
			bad = true;
		*s = '/';
	}
	pt__free(path);
	return bad;
}

static int write_untracked(const char *dir, const pt_code_untracked *u, const uint8_t *data,
			   size_t len)
{
	if (parent_is_symlink(dir, u->path))
		return pt__err(PT_EINVAL, "%s: a parent directory is a symlink or a file", u->path);
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
			rc = errno == EEXIST ? pt__err(PT_EEXISTS, "%s already exists", path)
					     : pt__err_errno(errno, "cannot create the symlink %s", path);
		pt__free(target);
		goto done;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, u->mode == 0100755 ? 0755 : 0644);
	if (fd < 0) {
		rc = errno == EEXIST ? pt__err(PT_EEXISTS, "%s already exists", path)
				     : pt__err_errno(errno, "cannot create %s", path);
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
			if (u->mode == 040000 && u->path[0] && u->path[strlen(u->path) - 1] == '/')
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
		else if ((rc = write_untracked(dir, u, data, len)) == PT_EINVAL ||
			 rc == PT_EEXISTS) {
			problem(&count, cb, payload, u->path, "not written: %s", pt_error_last());
			rc = 0;
		}
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

/* ---- reading a `code` body back ---------------------------------------------------- */

/*
 * The `code` body is read with the bounds-checked decoder of mpk.h: every
 * length is checked against the bytes left before use, so a damaged body
 * is PT_ECORRUPT, never an over-read.
 */
enum { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARR, MP_MAP, MP_EXT };

typedef struct {
	const uint8_t *p, *end;
} mp_rd;

typedef struct {
	int type;
	uint64_t u;    /* uint, bool, count of arr/map */
	int64_t i;     /* int */
	const char *s; /* str/bin data */
	size_t len;    /* str/bin length */
} mp_obj;

static int mp_bad(const char *what) { return pt__err(PT_ECORRUPT, "code event body: %s", what); }

static int mp_next(mp_rd *r, mp_obj *o)
{
	mpk_obj m;
	memset(o, 0, sizeof(*o));
	if (mpk_read(&r->p, r->end, &m) < 0)
		return mp_bad("malformed or truncated msgpack");
	switch (m.type) {
	case MPK_NIL: o->type = MP_NIL; break;
	case MPK_BOOL: o->type = MP_BOOL; o->u = m.b; break;
	case MPK_UINT: o->type = MP_UINT; o->u = m.u; break;
	case MPK_INT: o->type = MP_INT; o->i = m.i; break;
	case MPK_FLOAT32: case MPK_FLOAT64: o->type = MP_FLOAT; break;
	case MPK_STR: case MPK_BIN:
		o->type = m.type == MPK_STR ? MP_STR : MP_BIN;
		o->s = (const char *)m.ptr;
		o->len = m.len;
		break;
	case MPK_ARRAY: o->type = MP_ARR; o->u = m.len; break;
	case MPK_MAP: o->type = MP_MAP; o->u = m.len; break;
	default: o->type = MP_EXT; break;
	}
	return 0;
}

/* Skip the rest of a value whose header `o` was just read. */
static int mp_skip_body(mp_rd *r, const mp_obj *o, int depth)
{
	if (o->type != MP_ARR && o->type != MP_MAP)
		return 0;
	uint64_t n = o->type == MP_MAP ? o->u * 2 : o->u;
	for (uint64_t i = 0; i < n; i++)
		if (mpk_skip(&r->p, r->end, PT_EVENT_MAX_DEPTH - depth) < 0)
			return mp_bad("malformed, truncated or too deeply nested msgpack");
	return 0;
}

/* A string field: str, bin (non-UTF-8 paths) or nil. */
static int mp_string(mp_rd *r, const char **field, const char *key)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_NIL)
		return pt__code_setstr(field, NULL);
	if (o.type != MP_STR && o.type != MP_BIN)
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" is not a string", key);
	if (memchr(o.s, 0, o.len))
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" contains a NUL byte", key);
	char *s = pt__strndup(o.s, o.len);
	if (!s)
		return PT_ENOMEM;
	pt__free((void *)*field);
	*field = s;
	return 0;
}

static int mp_u64(mp_rd *r, uint64_t *v, const char *key)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_UINT)
		*v = o.u;
	else if (o.type == MP_INT && o.i >= 0)
		*v = (uint64_t)o.i;
	else
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" is not an unsigned integer", key);
	return 0;
}

static int mp_i64(mp_rd *r, int64_t *v, const char *key)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_INT)
		*v = o.i;
	else if (o.type == MP_UINT && o.u <= INT64_MAX)
		*v = (int64_t)o.u;
	else
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" is not an integer", key);
	return 0;
}

/* bool, or nil -> `nil_value` */
static int mp_flag(mp_rd *r, int *v, int nil_value, const char *key)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_BOOL)
		*v = (int)o.u;
	else if (o.type == MP_NIL)
		*v = nil_value;
	else
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" is not a boolean", key);
	return 0;
}

static bool key_eq(const mp_obj *k, const char *s)
{
	return k->type == MP_STR && k->len == strlen(s) && !memcmp(k->s, s, k->len);
}

/* Open a container value: its count, or -1 for nil. */
static int mp_open(mp_rd *r, int type, int64_t *count, const char *key)
{
	mp_obj o;
	int rc = mp_next(r, &o);
	if (rc)
		return rc;
	if (o.type == MP_NIL) {
		*count = -1;
		return 0;
	}
	if (o.type != type)
		return pt__err(PT_ECORRUPT, "code event body: \"%s\" is not a%s", key,
			       type == MP_MAP ? " map" : "n array");
	*count = (int64_t)o.u;
	return 0;
}

typedef int (*field_fn)(mp_rd *r, const mp_obj *key, void *elem);

/* Iterate a map value, handing each key to `fn` (which reads the value or returns 1 to skip). */
static int mp_map(mp_rd *r, int64_t n, field_fn fn, void *elem)
{
	for (int64_t i = 0; i < n; i++) {
		mp_obj k, v;
		int rc = mp_next(r, &k);
		if (!rc)
			rc = fn(r, &k, elem);
		if (rc == 1) {
			rc = mp_next(r, &v);
			if (!rc)
				rc = mp_skip_body(r, &v, 1);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int remote_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_remote *x = e;
	if (key_eq(k, "name"))
		return mp_string(r, &x->name, "name");
	if (key_eq(k, "url"))
		return mp_string(r, &x->url, "url");
	return 1;
}

static int change_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_change *x = e;
	uint64_t v = 0;
	int rc;
	if (key_eq(k, "path"))
		return mp_string(r, &x->path, "path");
	if (key_eq(k, "old_path"))
		return mp_string(r, &x->old_path, "old_path");
	if (key_eq(k, "sha256"))
		return mp_string(r, &x->sha256, "sha256");
	if (key_eq(k, "size"))
		return mp_u64(r, &x->size, "size");
	if (key_eq(k, "mode")) {
		if (!(rc = mp_u64(r, &v, "mode")))
			x->mode = (uint32_t)v;
		return rc;
	}
	if (key_eq(k, "status")) {
		const char *s = NULL;
		if (!(rc = mp_string(r, &s, "status")))
			x->status = s && s[0] ? s[0] : '?';
		pt__free((void *)s);
		return rc;
	}
	return 1;
}

static int untracked_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_untracked *x = e;
	uint64_t v = 0;
	int rc;
	if (key_eq(k, "path"))
		return mp_string(r, &x->path, "path");
	if (key_eq(k, "sha256"))
		return mp_string(r, &x->sha256, "sha256");
	if (key_eq(k, "object"))
		return mp_string(r, &x->object, "object");
	if (key_eq(k, "size"))
		return mp_u64(r, &x->size, "size");
	if (key_eq(k, "mode")) {
		if (!(rc = mp_u64(r, &v, "mode")))
			x->mode = (uint32_t)v;
		return rc;
	}
	return 1;
}

static int submodule_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_submodule *x = e;
	if (key_eq(k, "name"))
		return mp_string(r, &x->name, "name");
	if (key_eq(k, "path"))
		return mp_string(r, &x->path, "path");
	if (key_eq(k, "url"))
		return mp_string(r, &x->url, "url");
	if (key_eq(k, "commit"))
		return mp_string(r, &x->commit, "commit");
	if (key_eq(k, "workdir_commit"))
		return mp_string(r, &x->workdir_commit, "workdir_commit");
	return 1;
}

static int upstream_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_provenance *p = e;
	if (key_eq(k, "name"))
		return mp_string(r, &p->upstream, "upstream.name");
	if (key_eq(k, "ahead"))
		return mp_i64(r, &p->ahead, "upstream.ahead");
	if (key_eq(k, "behind"))
		return mp_i64(r, &p->behind, "upstream.behind");
	return 1;
}

static int patch_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_provenance *p = e;
	if (key_eq(k, "object"))
		return mp_string(r, &p->patch_object, "patch.object");
	if (key_eq(k, "bytes"))
		return mp_u64(r, &p->patch_bytes, "patch.bytes");
	return 1;
}

/* An array of maps into `*arr` (elements of `elem` bytes), each read by `fn`. */
static int mp_list(mp_rd *r, const char *key, void **arr, size_t *n, size_t elem, field_fn fn)
{
	int64_t count = 0;
	int rc = mp_open(r, MP_ARR, &count, key);
	if (rc || count <= 0)
		return rc;
	*arr = pt__calloc((size_t)count, elem);
	if (!*arr)
		return PT_ENOMEM;
	for (int64_t i = 0; i < count; i++) {
		int64_t fields = 0;
		if ((rc = mp_open(r, MP_MAP, &fields, key)))
			return rc;
		if (fields < 0)
			return pt__err(PT_ECORRUPT, "code event body: nil in \"%s\"", key);
		(*n)++; /* counted before filling so that free sees partial entries */
		if ((rc = mp_map(r, fields, fn, (char *)*arr + (size_t)i * elem)))
			return rc;
	}
	return 0;
}

static int body_field(mp_rd *r, const mp_obj *k, void *e)
{
	pt_code_provenance *p = e;
	int64_t n = 0;
	int rc;
	if (key_eq(k, "state"))
		return mp_string(r, &p->state, "state");
	if (key_eq(k, "message"))
		return mp_string(r, &p->message, "message");
	if (key_eq(k, "workdir"))
		return mp_string(r, &p->workdir, "workdir");
	if (key_eq(k, "gitdir"))
		return mp_string(r, &p->gitdir, "gitdir");
	if (key_eq(k, "commit"))
		return mp_string(r, &p->commit, "commit");
	if (key_eq(k, "branch"))
		return mp_string(r, &p->branch, "branch");
	if (key_eq(k, "truncated_reason"))
		return mp_string(r, &p->truncated_reason, "truncated_reason");
	if (key_eq(k, "detached"))
		return mp_flag(r, &p->detached, 0, "detached");
	if (key_eq(k, "dirty"))
		return mp_flag(r, &p->dirty, -1, "dirty");
	if (key_eq(k, "truncated"))
		return mp_flag(r, &p->truncated, 0, "truncated");
	if (key_eq(k, "untracked_max_bytes"))
		return mp_u64(r, &p->untracked_max_bytes, "untracked_max_bytes");
	if (key_eq(k, "capture_us"))
		return mp_u64(r, &p->capture_us, "capture_us");
	if (key_eq(k, "upstream")) {
		if ((rc = mp_open(r, MP_MAP, &n, "upstream")) || n < 0)
			return rc;
		return mp_map(r, n, upstream_field, p);
	}
	if (key_eq(k, "patch")) {
		if ((rc = mp_open(r, MP_MAP, &n, "patch")) || n < 0)
			return rc;
		return mp_map(r, n, patch_field, p);
	}
	if (key_eq(k, "remotes"))
		return mp_list(r, "remotes", (void **)&p->remotes, &p->n_remotes,
			       sizeof(pt_code_remote), remote_field);
	if (key_eq(k, "changes"))
		return mp_list(r, "changes", (void **)&p->changes, &p->n_changes,
			       sizeof(pt_code_change), change_field);
	if (key_eq(k, "untracked"))
		return mp_list(r, "untracked", (void **)&p->untracked, &p->n_untracked,
			       sizeof(pt_code_untracked), untracked_field);
	if (key_eq(k, "submodules"))
		return mp_list(r, "submodules", (void **)&p->submodules, &p->n_submodules,
			       sizeof(pt_code_submodule), submodule_field);
	return 1;
}

int pt__code_from_body(pt_code_provenance **out, const void *body, size_t len)
{
	mp_rd r = { body, (const uint8_t *)body + len };
	int64_t n = 0;
	pt_code_provenance *p = pt__calloc(1, sizeof(*p));
	if (!p)
		return PT_ENOMEM;
	p->ahead = p->behind = -1;
	p->dirty = -1;
	int rc = mp_open(&r, MP_MAP, &n, "body");
	if (!rc && n < 0)
		rc = mp_bad("not a map");
	if (!rc)
		rc = mp_map(&r, n, body_field, p);
	if (!rc && r.p != r.end)
		rc = mp_bad("trailing bytes");
	if (!rc && !p->state)
		rc = mp_bad("no \"state\"");
	for (size_t i = 0; !rc && i < p->n_changes; i++)
		if (!p->changes[i].path)
			rc = mp_bad("a change without a path");
	for (size_t i = 0; !rc && i < p->n_untracked; i++)
		if (!p->untracked[i].path)
			rc = mp_bad("an untracked file without a path");
	for (size_t i = 0; !rc && i < p->n_submodules; i++)
		if (!p->submodules[i].path)
			rc = mp_bad("a submodule without a path");
	if (rc) {
		pt_code_provenance_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* ---- the store side ----------------------------------------------------------------- */

static int store_put(void *payload, const void *data, size_t len, char id[PT_SHA256_HEX])
{
	uint8_t bin[PT_SHA256_LEN];
	int rc = pt__object_put(payload, data, len, bin);
	if (!rc)
		pt__hex(bin, PT_SHA256_LEN, id);
	return rc;
}

static int store_get(void *payload, const char *id, uint8_t **data, size_t *len)
{
	uint8_t bin[PT_SHA256_LEN];
	if (strlen(id) != 2 * PT_SHA256_LEN || pt__unhex(id, bin, PT_SHA256_LEN))
		return pt__err(PT_ECORRUPT, "recorded object id '%s' is not a SHA-256", id);
	return pt__object_get(payload, bin, data, len);
}

static void store_objects(pt__code_objects *o, const pt_store *st)
{
	o->put = store_put;
	o->get = store_get;
	o->payload = (void *)st;
	o->store_dir = pt_store_path(st);
}

static int check_options(pt_code_options *dst, const pt_code_options *o)
{
	pt_code_options d = PT_CODE_OPTIONS_INIT;
	if (!o) {
		*dst = d;
		return 0;
	}
	if (o->version != PT_CODE_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_code_options: unknown version %u (this library: %u)",
			       o->version, PT_CODE_OPTIONS_VERSION);
	*dst = *o;
	if (dst->patch_max_bytes > PT_OBJECT_MAX)
		return pt__err(PT_EINVAL, "patch_max_bytes %llu is over the object limit %zu",
			       (unsigned long long)dst->patch_max_bytes, PT_OBJECT_MAX);
	if (dst->untracked_max_bytes > PT_OBJECT_MAX)
		return pt__err(PT_EINVAL, "untracked_max_bytes %llu is over the object limit %zu",
			       (unsigned long long)dst->untracked_max_bytes, PT_OBJECT_MAX);
	return 0;
}

int pt__code_capture_events(pt_event *code_ev, pt_event *env_ev, const pt_store *st,
			    const pt_code_options *opts)
{
	pt_code_options o;
	pt__code_objects objs;
	pt_code_provenance *p = NULL;
	int rc = check_options(&o, opts);
	if (rc)
		return rc;
	if (!code_ev || !st)
		return pt__err(PT_EINVAL, "code capture: NULL event or store");
	store_objects(&objs, st);
	rc = pt__code_git_capture(&p, &o, &objs);
	if (rc)
		return rc;
	if (o.require_clean && strcmp(p->state, "ok") && strcmp(p->state, "unborn")) {
		rc = pt__err(PT_EINVAL, "require_clean: cannot check the working tree (%s): %s",
			     p->state, p->message ? p->message : "");
		goto done;
	}
	if (o.require_clean && p->dirty) {
		char *m = pt__code_dirty_message(p);
		rc = m ? pt__err(PT_EINVAL, "require_clean: %s", m) : PT_ENOMEM;
		pt__free(m);
		goto done;
	}
	rc = pt_event_reset(code_ev, PT_KIND_CODE, NULL);
	if (!rc)
		rc = pt__code_to_event(code_ev, p);
	if (!rc && env_ev && !o.skip_env) {
		rc = pt_event_reset(env_ev, PT_KIND_ENV, NULL);
		if (!rc)
			rc = pt__code_env_event(env_ev, &o);
	}
done:
	pt_code_provenance_free(p);
	return rc;
}

int pt_code_patch(char **out, size_t *out_len, const pt_store *st, const pt_code_provenance *p)
{
	if (!out || !st || !p)
		return pt__err(PT_EINVAL, "pt_code_patch: NULL argument");
	*out = NULL;
	if (out_len)
		*out_len = 0;
	uint8_t *data = NULL;
	size_t len = 0;
	if (!p->patch_object) {
		*out = pt__strdup("");
		return *out ? 0 : PT_ENOMEM;
	}
	int rc = store_get((void *)st, p->patch_object, &data, &len);
	if (rc)
		return pt__err_wrap(rc, "the stored patch");
	if (memchr(data, 0, len)) {
		pt__free(data);
		return pt__err(PT_ECORRUPT, "the stored patch %s contains a NUL byte", p->patch_object);
	}
	*out = (char *)data; /* pt__object_get adds a NUL after the data */
	if (out_len)
		*out_len = len;
	return 0;
}

static int dir_usable(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return pt__mkdir_p(dir, 0755);
		return pt__err_errno(errno, "cannot open %s", dir);
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			rc = pt__err(PT_EEXISTS, "%s is not empty: restore needs a new or empty directory",
				     dir);
			break;
		}
	closedir(d);
	return rc;
}

int pt_code_restore(const pt_store *st, const pt_code_provenance *p, const char *dir,
		    const char *repo_path, pt_code_problem_cb cb, void *payload,
		    size_t *out_problems)
{
	pt__code_objects objs;
	char *patch = NULL;
	size_t patch_len = 0;
	if (out_problems)
		*out_problems = 0;
	if (!st || !p || !dir)
		return pt__err(PT_EINVAL, "pt_code_restore: NULL argument");
	if (!p->state || (strcmp(p->state, "ok") && strcmp(p->state, "unborn")))
		return pt__err(PT_EINVAL, "nothing to restore: the capture state is \"%s\"%s%s",
			       p->state ? p->state : "unknown", p->message ? ": " : "",
			       p->message ? p->message : "");
	int rc = dir_usable(dir);
	if (!rc)
		rc = pt_code_patch(&patch, &patch_len, st, p);
	if (!rc)
		rc = pt__code_git_build(p, repo_path, dir, patch, patch_len);
	if (!rc) {
		store_objects(&objs, st);
		rc = pt__code_finish_restore(p, dir, &objs, cb, payload, out_problems);
	}
	pt__free(patch);
	return rc;
}

int pt_code_read(pt_code_provenance **out, const pt_store *st, const char *run,
		 const char *stream)
{
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	pt_iter *it = NULL;
	const pt_event_view *ev = NULL;
	const void *body = NULL;
	size_t len = 0;
	if (!out || !st || !run)
		return pt__err(PT_EINVAL, "pt_code_read: NULL argument");
	*out = NULL;
	io.kind = PT_KIND_CODE;
	int rc = pt_iter_open(&it, st, run, stream, &io);
	if (!rc) {
		rc = pt_iter_next(it, &ev);
		if (rc == PT_ITEROVER)
			rc = pt__err(PT_ENOTFOUND, "run %s stream %s has no code event", run,
				     stream ? stream : PT_DEFAULT_STREAM);
	}
	if (!rc)
		rc = pt_ev_body_msgpack(ev, &body, &len);
	if (!rc)
		rc = pt__code_from_body(out, body, len);
	pt_iter_free(it);
	return rc;
}

int pt_code_capture(pt_recorder *rec, const pt_code_options *opts)
{
	pt_event *code = NULL, *env = NULL;
	if (!rec)
		return pt__err(PT_EINVAL, "pt_code_capture: NULL recorder");
	int rc = pt_event_new(&code, PT_KIND_CODE, NULL);
	if (!rc && !(opts && opts->skip_env))
		rc = pt_event_new(&env, PT_KIND_ENV, NULL);
	if (!rc)
		rc = pt__code_capture_events(code, env, pt__recorder_store(rec), opts);
	if (!rc)
		rc = pt__recorder_append_own(rec, code, NULL);
	if (!rc && env)
		rc = pt_recorder_append(rec, env, NULL);
	pt_event_free(code);
	pt_event_free(env);
	return rc;
}

int pt_code_env_fill(pt_event *ev, const pt_code_options *opts)
{
	pt_code_options o;
	if (!ev)
		return pt__err(PT_EINVAL, "pt_code_env_fill: NULL event");
	int rc = check_options(&o, opts);
	if (!rc)
		rc = pt_event_reset(ev, PT_KIND_ENV, NULL);
	if (!rc)
		rc = pt__code_env_event(ev, &o);
	return rc;
}

int pt_code_capture_env(pt_recorder *rec, const pt_code_options *opts)
{
	pt_code_options o;
	pt_event *env = NULL;
	if (!rec)
		return pt__err(PT_EINVAL, "pt_code_capture_env: NULL recorder");
	int rc = check_options(&o, opts);
	if (!rc)
		rc = pt_event_new(&env, PT_KIND_ENV, NULL);
	if (!rc)
		rc = pt__code_env_event(env, &o);
	if (!rc)
		rc = pt_recorder_append(rec, env, NULL);
	pt_event_free(env);
	return rc;
}
