/*
 * consumer_state.c - a consumer's record in the store: its position file
 * and its lock (STORE/consumers/NAME/{position,lock}; docs/FORMAT.md,
 * "Consumers").  The one owner of that format.
 *
 * The position file is text, one item per line, so that it can be read
 * with bounded memory and without a JSON parser:
 *
 *   provtrace-consumer 1
 *   name NAME
 *   run GLOB|-
 *   stream GLOB|-
 *   start oldest|latest|seq=N|step=N|time=NS
 *   failures RUN/STREAM
 *   created NS
 *   committed NS
 *   pos RUN STREAM SEQ          (one per stream handled, sorted)
 *   end COUNT                   (number of pos lines: a check)
 *   commit NS COUNT             (then, appended by each commit: the streams
 *   pos RUN STREAM SEQ           that moved, and a CRC-32C of the block's
 *   crc XXXXXXXX                 bytes from "commit" to the last pos line)
 *
 * Why appended blocks: replacing a file by rename costs milliseconds on
 * ext4 (a rename over a file forces the new file's data out), which capped
 * a consumer at a few hundred commits a second; one write() of a block
 * costs microseconds.  A block is all or nothing: a torn last block (a
 * crash in the middle of the write, a reader racing the writer) fails its
 * CRC and is ignored - the batch it committed is handed again, which is
 * at least once.  An invalid block followed by more bytes is damage
 * (PT_ECORRUPT).  When the blocks outgrow the base, the file is rewritten
 * (temporary file + rename) as a new base.  Without `fsync` a commit
 * survives a process crash; a power loss may bring back an older position.
 */
#include "live/live_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define POSITION_MAX (256u << 20) /* bytes of a position file we agree to read */

static char *cdir(const pt_store *st, const char *name) { return pt__sprintf("%s/consumers/%s", st->path, name); }

void pt__cstate_clear(pt__cstate *s)
{
	for (size_t i = 0; i < s->npos; i++) {
		pt__free(s->pos[i].run);
		pt__free(s->pos[i].stream);
	}
	s->npos = 0;
}

void pt__cstate_free(pt__cstate *s)
{
	if (!s)
		return;
	pt__cstate_clear(s);
	if (s->fd > 0)
		close(s->fd);
	pt__free(s->pos);
	pt__free(s->name);
	pt__free(s->run);
	pt__free(s->stream);
	pt__free(s->start);
	pt__free(s->failures);
	memset(s, 0, sizeof *s);
}

static int poscmp(const char *r1, const char *s1, const char *r2, const char *s2)
{
	int c = strcmp(r1, r2);
	return c ? c : strcmp(s1, s2);
}

/* index of run/stream, or where it would go (*found false) */
static size_t pos_search(const pt__cstate *s, const char *run, const char *stream, bool *found)
{
	size_t lo = 0, hi = s->npos;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = poscmp(s->pos[mid].run, s->pos[mid].stream, run, stream);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

pt__cpos *pt__cstate_find(pt__cstate *s, const char *run, const char *stream)
{
	bool f;
	size_t i = pos_search(s, run, stream, &f);
	return f ? &s->pos[i] : NULL;
}

int pt__cstate_set(pt__cstate *s, const char *run, const char *stream, uint64_t seq)
{
	bool f;
	size_t i = pos_search(s, run, stream, &f);
	if (f) {
		s->pos[i].seq = seq;
		s->pos[i].changed = true;
		return 0;
	}
	if (s->npos == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		pt__cpos *nv = pt__realloc(s->pos, nc * sizeof *nv);
		if (!nv)
			return PT_ENOMEM;
		s->pos = nv;
		s->cap = nc;
	}
	char *r = pt__strdup(run), *t = pt__strdup(stream);
	if (!r || !t) {
		pt__free(r);
		pt__free(t);
		return PT_ENOMEM;
	}
	memmove(&s->pos[i + 1], &s->pos[i], (s->npos - i) * sizeof *s->pos);
	s->pos[i] = (pt__cpos){r, t, seq, true};
	s->npos++;
	return 0;
}

/* ---- reading ---- */

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!*s)
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static int setstr(char **dst, const char *v)
{
	pt__free(*dst);
	*dst = NULL;
	if (!strcmp(v, "-"))
		return 0;
	return (*dst = pt__strdup(v)) ? 0 : PT_ENOMEM;
}

/* The next line of [*p, end): NUL-terminated in place; NULL at the end or
 * for a last line without its newline (*torn set). */
static char *next_line(char **p, char *end, bool *torn)
{
	if (*p >= end)
		return NULL;
	char *nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl) {
		*torn = true;
		return NULL;
	}
	char *ln = *p;
	*nl = 0;
	*p = nl + 1;
	if (memchr(ln, 0, (size_t)(nl - ln)))
		return NULL; /* a NUL inside: caller reports */
	return ln;
}

/* "pos RUN STREAM SEQ" arguments (after "pos "). */
static int parse_pos(char *b, pt__cstate *out, bool sorted)
{
	char *sp = strchr(b, ' '), *q = sp ? strchr(sp + 1, ' ') : NULL;
	uint64_t seq;
	if (!q)
		return 1;
	*sp++ = 0;
	*q++ = 0;
	if (pt_name_check("run", b) || pt_name_check("stream", sp) || !parse_u64(q, &seq)) {
		pt__err_clear();
		return 1;
	}
	if (sorted && out->npos && poscmp(out->pos[out->npos - 1].run, out->pos[out->npos - 1].stream, b, sp) >= 0)
		return 1; /* sorted, no duplicates */
	int rc = pt__cstate_set(out, b, sp, seq);
	return rc ? rc : 0;
}

int pt__cstate_read(const pt_store *st, const char *name, pt__cstate *out)
{
	memset(out, 0, sizeof *out);
	char *dir = cdir(st, name), *path = dir ? pt__sprintf("%s/position", dir) : NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;
	if (!path) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__read_file_in(st->path, path, POSITION_MAX, &data, &len);
	if (rc) {
		if (rc == PT_ENOTFOUND || !pt__exists(path))
			rc = pt__err(PT_ENOTFOUND, "no consumer named %s in %s", name, st->path);
		goto done;
	}
	if (!(out->name = pt__strdup(name))) {
		rc = PT_ENOMEM;
		goto done;
	}
	char *p = (char *)data, *end = p + len;
	size_t lineno = 0;
	bool header = false, ended = false, torn = false;
	uint64_t count = 0;
	char *ln;
	/* the base */
	while (!ended && (ln = next_line(&p, end, &torn))) {
		lineno++;
		char *a = ln, *b = strchr(a, ' ');
		if (!b)
			goto bad;
		*b++ = 0;
		if (!header) {
			if (strcmp(a, "provtrace-consumer"))
				goto bad;
			if (strcmp(b, "1")) {
				rc = pt__err(PT_EVERSION, "%s: consumer format %s is newer than this library (1)", path, b);
				goto done;
			}
			header = true;
		} else if (!strcmp(a, "name")) {
			if (strcmp(b, name))
				goto bad;
		} else if (!strcmp(a, "run")) {
			if ((rc = setstr(&out->run, b)))
				goto done;
		} else if (!strcmp(a, "stream")) {
			if ((rc = setstr(&out->stream, b)))
				goto done;
		} else if (!strcmp(a, "start")) {
			pt__start sp;
			if (pt__start_parse(b, &sp)) {
				pt__err_clear();
				goto bad;
			}
			if ((rc = setstr(&out->start, b)))
				goto done;
		} else if (!strcmp(a, "failures")) {
			if ((rc = setstr(&out->failures, b)))
				goto done;
		} else if (!strcmp(a, "created")) {
			if (!parse_i64(b, &out->created))
				goto bad;
		} else if (!strcmp(a, "committed")) {
			if (!parse_i64(b, &out->committed))
				goto bad;
		} else if (!strcmp(a, "pos")) {
			int r = parse_pos(b, out, true);
			if (r < 0) {
				rc = r;
				goto done;
			}
			if (r)
				goto bad;
			count++;
		} else if (!strcmp(a, "end")) {
			uint64_t n;
			if (!parse_u64(b, &n) || n != count)
				goto bad;
			ended = true;
		} else {
			goto bad;
		}
	}
	if (!ended || !out->start || !out->failures)
		goto bad;
	/* the commit blocks: all or nothing each; only the last may be torn */
	while (p < end) {
		char *block = p;
		char *block_end = NULL; /* just past its crc line, when it is complete */
		bool ok = false;
		int64_t when = 0;
		uint64_t n = 0;
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl && (size_t)(nl - p) > 7 && !memcmp(p, "commit ", 7)) {
			char head[64];
			size_t hl = (size_t)(nl - p - 7);
			char *sp2;
			if (hl < sizeof head) {
				memcpy(head, p + 7, hl);
				head[hl] = 0;
				if ((sp2 = strchr(head, ' '))) {
					*sp2++ = 0;
					if (!parse_i64(head, &when) || !parse_u64(sp2, &n) || n > len)
						n = UINT64_MAX;
				} else {
					n = UINT64_MAX;
				}
			} else {
				n = UINT64_MAX;
			}
			char *q = nl + 1;
			uint64_t k = 0;
			while (n != UINT64_MAX && k < n && q < end) {
				char *e = memchr(q, '\n', (size_t)(end - q));
				if (!e)
					break;
				q = e + 1;
				k++;
			}
			if (n != UINT64_MAX && k == n && end - q >= 13 && !memcmp(q, "crc ", 4) && q[12] == '\n') {
				block_end = q + 13;
				char hex[9], *e2;
				memcpy(hex, q + 4, 8);
				hex[8] = 0;
				unsigned long want = strtoul(hex, &e2, 16);
				ok = !*e2 && pt__crc32c(0, block, (size_t)(q - block)) == (uint32_t)want;
			}
		}
		if (!ok) {
			/* a block cut short (a crash while appending, or a reader racing the
			 * writer) is ignored; a complete bad block with more after it is damage */
			lineno++;
			if (block_end && block_end < end)
				goto bad;
			break;
		}
		p = nl + 1;
		lineno++;
		for (uint64_t k = 0; k < n; k++) {
			ln = next_line(&p, end, &torn);
			lineno++;
			if (!ln || strncmp(ln, "pos ", 4))
				goto bad;
			int r = parse_pos(ln + 4, out, false);
			if (r < 0) {
				rc = r;
				goto done;
			}
			if (r)
				goto bad;
		}
		p = block_end;
		lineno++;
		out->committed = when;
	}
	out->base_bytes = len;
	pt__err_clear();
	goto done;
bad:
	rc = pt__err(PT_ECORRUPT, "%s: malformed consumer position file (line %zu)", path, lineno);
done:
	if (rc)
		pt__cstate_free(out);
	pt__free(data);
	pt__free(path);
	pt__free(dir);
	return rc;
}

/* ---- writing ---- */

int pt__cstate_write(const pt_store *st, pt__cstate *s, bool fsync)
{
	pt__buf b = {0};
	int rc = pt__buf_printf(&b, "provtrace-consumer 1\nname %s\nrun %s\nstream %s\nstart %s\nfailures %s\ncreated %" PRId64
				    "\ncommitted %" PRId64 "\n",
				s->name, s->run ? s->run : "-", s->stream ? s->stream : "-", s->start, s->failures,
				s->created, s->committed);
	for (size_t i = 0; !rc && i < s->npos; i++)
		rc = pt__buf_printf(&b, "pos %s %s %" PRIu64 "\n", s->pos[i].run, s->pos[i].stream, s->pos[i].seq);
	if (!rc)
		rc = pt__buf_printf(&b, "end %zu\n", s->npos);
	char *dir = cdir(st, s->name), *path = dir ? pt__sprintf("%s/position", dir) : NULL, *tmp = NULL;
	if (!rc && !path)
		rc = PT_ENOMEM;
	if (rc)
		goto done;
	if (s->fd > 0) {
		close(s->fd);
		s->fd = 0;
	}
	if (fsync) {
		rc = pt__atomic_write_in(st->path, path, b.data, b.len, 0644);
		goto written;
	}
	int fd = pt__tmp_in(st->path, dir, ".tmp-", 0644, &tmp);
	if (fd < 0) {
		rc = fd;
		goto done;
	}
	rc = pt__write_all(fd, b.data, b.len, tmp);
	if (close(fd) < 0 && !rc)
		rc = pt__err_errno(errno, "cannot close %s", tmp);
	if (!rc && pt__rename_in(st->path, tmp, path) < 0)
		rc = pt__err_errno(errno, "cannot rename %s to %s", tmp, path);
	if (rc)
		pt__unlink_in(st->path, tmp);
written:
	if (!rc) {
		s->base_bytes = b.len;
		s->appended = 0;
		for (size_t i = 0; i < s->npos; i++)
			s->pos[i].changed = false;
	}
done:
	pt__buf_free(&b);
	pt__free(tmp);
	pt__free(path);
	pt__free(dir);
	return rc;
}

int pt__cstate_commit(const pt_store *st, pt__cstate *s, bool fsync)
{
	/* blocks outgrowing the base: one rewrite, amortised over many commits */
	if (s->appended > 65536 && s->appended > 4 * s->base_bytes)
		return pt__cstate_write(st, s, fsync);
	size_t n = 0;
	for (size_t i = 0; i < s->npos; i++)
		n += s->pos[i].changed;
	pt__buf b = {0};
	int rc = pt__buf_printf(&b, "commit %" PRId64 " %zu\n", s->committed, n);
	for (size_t i = 0; !rc && i < s->npos; i++)
		if (s->pos[i].changed)
			rc = pt__buf_printf(&b, "pos %s %s %" PRIu64 "\n", s->pos[i].run, s->pos[i].stream, s->pos[i].seq);
	if (!rc)
		rc = pt__buf_printf(&b, "crc %08x\n", (unsigned)pt__crc32c(0, b.data, b.len));
	if (rc)
		goto done;
	if (s->fd <= 0) {
		char *path = pt__sprintf("%s/consumers/%s/position", st->path, s->name);
		if (!path) {
			rc = PT_ENOMEM;
			goto done;
		}
		int fd = pt__open_in(st->path, path, O_WRONLY | O_APPEND, 0);
		if (fd < 0)
			rc = pt__err_errno(errno, "cannot open %s", path);
		pt__free(path);
		if (rc)
			goto done;
		s->fd = fd;
	}
	/* one write: a process killed meanwhile leaves all of it or none; a
	 * short write (a full disk) leaves a torn block, ignored when read */
	ssize_t w = write(s->fd, b.data, b.len);
	if (w != (ssize_t)b.len) {
		rc = w < 0 ? pt__err_errno(errno, "cannot append to consumer %s's position", s->name)
			   : pt__err(PT_ENOSPC, "consumer %s: short write of its position (disk full?)", s->name);
		/* what follows must start on a fresh file: rewrite it next time */
		s->appended = UINT64_MAX / 2;
		goto done;
	}
	if (fsync && fdatasync(s->fd) < 0) {
		rc = pt__err_errno(errno, "cannot fsync consumer %s's position", s->name);
		goto done;
	}
	s->appended += b.len;
	for (size_t i = 0; i < s->npos; i++)
		s->pos[i].changed = false;
done:
	pt__buf_free(&b);
	return rc;
}

/* ---- the lock ---- */

int pt__cstate_lock(const pt_store *st, const char *name)
{
	char *dir = cdir(st, name), *path = dir ? pt__sprintf("%s/lock", dir) : NULL;
	int rc = 0, fd = -1;
	if (!path) {
		rc = PT_ENOMEM;
		goto done;
	}
	if ((rc = pt__mkdir_in(st->path, dir, 0755)))
		goto done;
	fd = pt__open_in(st->path, path, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		rc = pt__err_errno(errno, "cannot open lock file %s", path);
		goto done;
	}
	/* an OFD lock, as the recorder's: released when the process dies */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		if (e == EAGAIN || e == EACCES) {
			char holder[256] = "";
			ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
			holder[n > 0 ? n : 0] = 0;
			char *nl = strchr(holder, '\n');
			if (nl)
				*nl = 0;
			rc = pt__err(PT_ELOCKED, "consumer %s is running in another process (%s); one process per consumer",
				     name, holder[0] ? holder : "holder unknown");
		} else {
			rc = pt__err_errno(e, "cannot lock %s", path);
		}
		goto done;
	}
	char host[128] = "?", tbuf[48], line[300];
	gethostname(host, sizeof host - 1);
	int n = snprintf(line, sizeof line, "pid=%d host=%s since=%s\n", (int)getpid(), host,
			 pt_time_format(pt_time_now_ns(), tbuf, sizeof tbuf));
	if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) < 0) {
		/* informational only */
	}
	rc = fd;
	fd = -1;
done:
	if (fd >= 0)
		close(fd);
	pt__free(path);
	pt__free(dir);
	return rc;
}

int pt__cstate_holder(const pt_store *st, const char *name, char **holder)
{
	*holder = NULL;
	char *path = pt__sprintf("%s/consumers/%s/lock", st->path, name);
	if (!path)
		return PT_ENOMEM;
	int fd = pt__open_in(st->path, path, O_RDONLY, 0);
	pt__free(path);
	if (fd < 0)
		return 0;
	int held = 0;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
		held = 1;
		char buf[256] = "";
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		char *nl = strchr(buf, '\n');
		if (nl)
			*nl = 0;
		*holder = pt__strdup(buf[0] ? buf : "holder unknown");
	}
	close(fd);
	return held;
}

int pt__cstate_names(const pt_store *st, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char *dir = pt__sprintf("%s/consumers", st->path);
	if (!dir)
		return PT_ENOMEM;
	int rc = 0;
	if (pt__is_dir_in(st->path, dir)) {
		rc = pt__list_dir_in(st->path, dir, NULL, out, n);
		/* keep only entries that are consumer names */
		size_t k = 0;
		for (size_t i = 0; !rc && i < *n; i++) {
			if (pt_name_check("consumer", (*out)[i]) == 0)
				(*out)[k++] = (*out)[i];
			else
				pt__free((*out)[i]);
		}
		if (!rc)
			*n = k;
		pt__err_clear();
	}
	pt__free(dir);
	return rc;
}

int pt__cstate_remove(const pt_store *st, const char *name)
{
	char *dir = cdir(st, name);
	char *pos = dir ? pt__sprintf("%s/position", dir) : NULL, *lock = dir ? pt__sprintf("%s/lock", dir) : NULL;
	int rc = 0;
	if (!pos || !lock)
		rc = PT_ENOMEM;
	else if (pt__unlink_in(st->path, pos) < 0 && errno != ENOENT)
		rc = pt__err_errno(errno, "cannot remove %s", pos);
	else {
		pt__unlink_in(st->path, lock);
		pt__rmdir_in(st->path, dir);
	}
	pt__free(pos);
	pt__free(lock);
	pt__free(dir);
	return rc;
}
