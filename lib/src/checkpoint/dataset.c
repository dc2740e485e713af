/*
 * dataset.c - the data a run trained on: hashed manifests (the `dataset` event).
 *
 * Three parts: the walk (paths -> entries under one root), the hasher (a
 * pool of threads taking whole files, largest first, each streaming its
 * file in HASH_BLOCK reads), and the record/verify front ends.  The
 * listing (`<sha256> <size> <path>\n`, sorted) is the manifest: its
 * SHA-256 is the content id and it is stored as an object of that id.
 *
 * Why stat before and after: the hash must describe one version of each
 * file.  The walk's stat is compared with the open descriptor's (before
 * reading) and again after the last byte and through the path (replaced or
 * vanished); with `store` the files are read a second time by the
 * checkpointer, so they are compared once more after that.  Any difference
 * fails the call naming the file, before the event is appended.
 */
#include "checkpoint/checkpoint_int.h"
#include "checkpoint/dataset_int.h"
#include "format/objects_int.h"
#include "provtrace/dataset.h"
#include "provtrace/event.h"
#include "provtrace/reader.h"
#include "base/mpk_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH_BLOCK ((size_t)1 << 20)
#define READ_AHEAD ((uint64_t)8 << 20)
#define PIPE_SLOTS 4
#define STORE_SMALL ((uint64_t)1 << 20)
#define STORE_SMALL_BUDGET ((uint64_t)256 << 20)
#define PIPE_MIN ((uint64_t)32 << 20)
#define NAME_MAX_LEN 4096
#define WALK_MAX_DEPTH 256
#define MAX_THREADS 16

void (*pt__dataset_hook)(int stage, void *arg);
void *pt__dataset_hook_arg;

typedef struct {
	char *rel;  /* relative path (or in-memory name) */
	char *abs;  /* file to read (NULL: in memory) */
	const uint8_t *data;
	uint64_t size;
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
	uint8_t sha[32];  /* the hash computed */
	uint8_t want[32]; /* verify: the hash recorded */
	/* verify: what was found */
	int status;
	int err; /* errno of a missing file */
	uint64_t found_size;
} dent;

struct pt_dataset {
	char **paths;
	size_t npaths;
	dent *mem; /* in-memory entries as added */
	size_t nmem, capmem;
	/* after hashing */
	dent *e;
	size_t n, cap;
	char *root;
	pt__buf listing;
	uint8_t id[32];
	uint64_t total;
	int hashed;
};

/* ---- builder ------------------------------------------------------------------------ */

int pt_dataset_new(pt_dataset **out)
{
	if (!out)
		return pt__err(PT_EINVAL, "pt_dataset_new: NULL out");
	*out = pt__calloc(1, sizeof **out);
	return *out ? 0 : PT_ENOMEM;
}

static void entries_free(dent *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pt__free(e[i].rel);
		pt__free(e[i].abs);
	}
	pt__free(e);
}

void pt_dataset_free(pt_dataset *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->npaths; i++)
		pt__free(ds->paths[i]);
	pt__free(ds->paths);
	entries_free(ds->mem, ds->nmem);
	entries_free(ds->e, ds->n);
	pt__free(ds->root);
	pt__buf_free(&ds->listing);
	pt__free(ds);
}

int pt_dataset_add_path(pt_dataset *ds, const char *path)
{
	if (!ds || !path || !*path)
		return pt__err(PT_EINVAL, "pt_dataset_add_path: NULL dataset or empty path");
	if (ds->nmem)
		return pt__err(PT_EINVAL, "dataset: files and in-memory entries cannot be mixed in one dataset");
	if (ds->hashed)
		return pt__err(PT_EINVAL, "dataset: already hashed; make a new one to add paths");
	char **g = pt__realloc(ds->paths, (ds->npaths + 1) * sizeof *g);
	if (!g)
		return PT_ENOMEM;
	ds->paths = g;
	if (!(g[ds->npaths] = pt__strdup(path)))
		return PT_ENOMEM;
	ds->npaths++;
	return 0;
}

static int push(dent **e, size_t *n, size_t *cap, const dent *d)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		dent *g = pt__realloc(*e, nc * sizeof *g);
		if (!g)
			return PT_ENOMEM;
		*e = g;
		*cap = nc;
	}
	(*e)[(*n)++] = *d;
	return 0;
}

int pt_dataset_add_bytes(pt_dataset *ds, const char *name, const void *data, size_t len)
{
	if (!ds || !name || !*name || (!data && len))
		return pt__err(PT_EINVAL, "pt_dataset_add_bytes: NULL dataset, data or empty name");
	if (ds->npaths)
		return pt__err(PT_EINVAL, "dataset: files and in-memory entries cannot be mixed in one dataset");
	if (ds->hashed)
		return pt__err(PT_EINVAL, "dataset: already hashed; make a new one to add entries");
	size_t nl = strlen(name);
	if (nl > NAME_MAX_LEN || memchr(name, '\n', nl))
		return pt__err(PT_EINVAL, "dataset entry name \"%.64s\": longer than %d bytes or holds a newline", name,
			       NAME_MAX_LEN);
	dent d;
	memset(&d, 0, sizeof d);
	if (!(d.rel = pt__strdup(name)))
		return PT_ENOMEM;
	d.data = data;
	d.size = len;
	int rc = push(&ds->mem, &ds->nmem, &ds->capmem, &d);
	if (rc)
		pt__free(d.rel);
	return rc;
}

size_t pt_dataset_count(const pt_dataset *ds)
{
	return ds && ds->hashed ? ds->n : 0;
}

const char *pt_dataset_root(const pt_dataset *ds)
{
	return ds && ds->hashed ? ds->root : NULL;
}

int pt_dataset_entry_get(const pt_dataset *ds, size_t i, pt_dataset_entry *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!ds || !out || !ds->hashed || i >= ds->n)
		return pt__err(PT_EINVAL, "pt_dataset_entry_get: no entry %zu", i);
	out->path = ds->e[i].rel;
	out->size = ds->e[i].size;
	pt__hex(ds->e[i].sha, 32, out->sha256);
	return 0;
}

/* ---- walk --------------------------------------------------------------------------- */

typedef struct {
	pt_dataset *ds;
	dev_t adev[WALK_MAX_DEPTH];
	ino_t aino[WALK_MAX_DEPTH];
} walker;

static int add_file(pt_dataset *ds, const char *abs, const char *rel, const struct stat *sb)
{
	size_t rl = strlen(rel);
	if (!rl || rl > NAME_MAX_LEN || memchr(rel, '\n', rl))
		return pt__err(PT_EINVAL, "dataset: %s: a path with a newline (or longer than %d bytes) cannot be listed",
			       abs, NAME_MAX_LEN);
	dent d;
	memset(&d, 0, sizeof d);
	d.rel = pt__strdup(rel);
	d.abs = pt__strdup(abs);
	d.size = (uint64_t)sb->st_size;
	d.dev = sb->st_dev;
	d.ino = sb->st_ino;
	d.mtim = sb->st_mtim;
	int rc = d.rel && d.abs ? push(&ds->e, &ds->n, &ds->cap, &d) : PT_ENOMEM;
	if (rc) {
		pt__free(d.rel);
		pt__free(d.abs);
	}
	return rc;
}

static int walk_dir(walker *w, const char *abs, const char *rel, int depth)
{
	if (depth >= WALK_MAX_DEPTH)
		return pt__err(PT_ELIMIT, "dataset: %s: directories nested deeper than %d", abs, WALK_MAX_DEPTH);
	DIR *d = opendir(abs);
	if (!d)
		return errno == ENOENT ? pt__err(PT_ERROR, "dataset: %s vanished while it was listed (nothing recorded)", abs)
				       : pt__err_errno(errno, "dataset: cannot list %s", abs);
	int rc = 0;
	struct dirent *de;
	while (!rc) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = pt__err_errno(errno, "dataset: cannot list %s", abs);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *ca = pt__sprintf("%s/%s", abs, de->d_name);
		char *cr = *rel ? pt__sprintf("%s/%s", rel, de->d_name) : pt__strdup(de->d_name);
		struct stat sb;
		if (!ca || !cr)
			rc = PT_ENOMEM;
		else if (stat(ca, &sb))
			rc = errno == ENOENT ? pt__err(PT_ERROR, "dataset: %s vanished while it was listed (or is a "
								 "dangling symbolic link); nothing recorded", ca)
					     : pt__err_errno(errno, "dataset: cannot stat %s", ca);
		else if (S_ISREG(sb.st_mode))
			rc = add_file(w->ds, ca, cr, &sb);
		else if (S_ISDIR(sb.st_mode)) {
			for (int i = 0; i <= depth && !rc; i++)
				if (w->adev[i] == sb.st_dev && w->aino[i] == sb.st_ino)
					rc = pt__err(PT_EINVAL, "dataset: %s: a symbolic link loop (the directory is "
								"already on this path)", ca);
			if (!rc) {
				w->adev[depth + 1] = sb.st_dev;
				w->aino[depth + 1] = sb.st_ino;
				rc = walk_dir(w, ca, cr, depth + 1);
			}
		} else
			rc = pt__err(PT_EINVAL, "dataset: %s is neither a regular file nor a directory", ca);
		pt__free(ca);
		pt__free(cr);
	}
	closedir(d);
	return rc;
}

/* The deepest common directory of `a` and `b` (absolute, no trailing slash except "/"). */
static void common_dir(char *a, const char *b)
{
	size_t i = 0, last = 0;
	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			last = i;
		i++;
	}
	if ((!a[i] && (b[i] == '/' || !b[i])) || (!b[i] && a[i] == '/'))
		last = i; /* one is a directory prefix of the other */
	a[last ? last : 1] = 0;
}

static int walk(pt_dataset *ds)
{
	char **absv = pt__calloc(ds->npaths, sizeof *absv);
	int *isdir = pt__calloc(ds->npaths, sizeof *isdir);
	int rc = absv && isdir ? 0 : PT_ENOMEM;
	for (size_t i = 0; i < ds->npaths && !rc; i++) {
		char *r = realpath(ds->paths[i], NULL);
		struct stat sb;
		if (!r) {
			rc = errno == ENOENT ? pt__err(PT_ENOTFOUND, "dataset: %s: no such file or directory", ds->paths[i])
					     : pt__err_errno(errno, "dataset: %s", ds->paths[i]);
			break;
		}
		absv[i] = pt__strdup(r);
		free(r);
		if (!absv[i]) {
			rc = PT_ENOMEM;
			break;
		}
		if (stat(absv[i], &sb))
			rc = pt__err_errno(errno, "dataset: cannot stat %s", ds->paths[i]);
		else if (S_ISDIR(sb.st_mode))
			isdir[i] = 1;
		else if (!S_ISREG(sb.st_mode))
			rc = pt__err(PT_EINVAL, "dataset: %s is neither a regular file nor a directory", ds->paths[i]);
		if (rc)
			break;
		char *cand = pt__strdup(absv[i]);
		if (!cand) {
			rc = PT_ENOMEM;
			break;
		}
		if (!isdir[i]) {
			char *sl = strrchr(cand, '/');
			if (sl == cand)
				sl[1] = 0;
			else
				*sl = 0;
		}
		if (!ds->root) {
			ds->root = cand;
		} else {
			common_dir(ds->root, cand);
			pt__free(cand);
		}
	}
	size_t rlen = ds->root ? strlen(ds->root) : 0;
	if (rlen == 1)
		rlen = 0; /* root "/": relative paths start after it */
	for (size_t i = 0; i < ds->npaths && !rc; i++) {
		const char *rel = absv[i] + rlen + (absv[i][rlen] == '/');
		struct stat sb;
		if (stat(absv[i], &sb)) {
			rc = pt__err(PT_ERROR, "dataset: %s vanished while it was listed (nothing recorded)", ds->paths[i]);
			break;
		}
		if (isdir[i]) {
			walker *w = pt__calloc(1, sizeof *w);
			if (!w) {
				rc = PT_ENOMEM;
				break;
			}
			w->ds = ds;
			w->adev[0] = sb.st_dev;
			w->aino[0] = sb.st_ino;
			rc = walk_dir(w, absv[i], rel, 0);
			pt__free(w);
		} else {
			rc = add_file(ds, absv[i], rel, &sb);
		}
	}
	for (size_t i = 0; absv && i < ds->npaths; i++)
		pt__free(absv[i]);
	pt__free(absv);
	pt__free(isdir);
	return rc;
}

/* ---- hashing ------------------------------------------------------------------------ */

typedef struct {
	dent *e;
	size_t *order; /* largest first */
	size_t n;
	int tolerant; /* verify: a missing file is a status, not an error */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next;
	unsigned running;
	unsigned nthreads;
	int rc;
	char msg[1024];
	uint64_t files_done, bytes_done; /* atomics */
} hasher;

static int same_stat(const dent *d, const struct stat *sb)
{
	return (uint64_t)sb->st_size == d->size && sb->st_ino == d->ino && sb->st_dev == d->dev &&
	       sb->st_mtim.tv_sec == d->mtim.tv_sec && sb->st_mtim.tv_nsec == d->mtim.tv_nsec;
}

static int changed(const dent *d, const char *how)
{
	return pt__err(PT_ERROR, "dataset: %s %s while it was hashed (nothing recorded)", d->abs, how);
}

/*
 * Stream `fd` into the hash: one HASH_BLOCK read at a time.  Within a large
 * file the disk works while this thread hashes: the kernel is asked
 * (asynchronously) for the next READ_AHEAD bytes each time that much is
 * consumed, so a cold file streams at the slower of the disk and SHA-256,
 * not their sum.  Returns 0 or the errno of a failed read.
 */
static int stream_plain(hasher *h, const dent *d, int fd, pt__sha256_ctx *c, uint8_t *buf, uint64_t *total)
{
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		if (d->size > READ_AHEAD && !(*total % READ_AHEAD))
			(void)posix_fadvise(fd, (off_t)(*total + READ_AHEAD), READ_AHEAD, POSIX_FADV_WILLNEED);
		ssize_t r = read(fd, buf, HASH_BLOCK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (!r)
			return 0;
		pt__sha256_update(c, buf, (size_t)r);
		*total += (uint64_t)r;
		__atomic_fetch_add(&h->bytes_done, (uint64_t)r, __ATOMIC_RELAXED);
	}
}

/*
 * The same with a second thread reading ahead into PIPE_SLOTS blocks while
 * this one hashes: one SHA-256 stream cannot be split, but the copy out of
 * the page cache (or the wait for the disk) then overlaps the hashing.
 * Used when fewer files are left than threads (a spare core), for files of
 * PIPE_MIN bytes or more.  Memory: PIPE_SLOTS blocks.
 */
typedef struct {
	int fd;
	uint8_t *buf[PIPE_SLOTS];
	size_t len[PIPE_SLOTS];
	int full[PIPE_SLOTS];
	size_t head, tail;
	int eof, err, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} piper;

static void *pipe_reader(void *arg)
{
	piper *p = arg;
	uint64_t off = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->full[p->head] && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		size_t slot = p->head;
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		if (!(off % READ_AHEAD))
			(void)posix_fadvise(p->fd, (off_t)(off + READ_AHEAD), READ_AHEAD, POSIX_FADV_WILLNEED);
		ssize_t r;
		do
			r = read(p->fd, p->buf[slot], HASH_BLOCK);
		while (r < 0 && errno == EINTR);
		int e = r < 0 ? errno : 0;
		pthread_mutex_lock(&p->mu);
		if (r <= 0) {
			p->err = e;
			p->eof = 1;
		} else {
			p->len[slot] = (size_t)r;
			p->full[slot] = 1;
			p->head = (slot + 1) % PIPE_SLOTS;
			off += (uint64_t)r;
		}
		pthread_cond_broadcast(&p->cv);
		int done = p->eof;
		pthread_mutex_unlock(&p->mu);
		if (done)
			break;
	}
	return NULL;
}

static int stream_piped(hasher *h, const dent *d, int fd, pt__sha256_ctx *c, uint64_t *total)
{
	piper *p = pt__calloc(1, sizeof *p);
	if (!p)
		return ENOMEM;
	int e = 0;
	p->fd = fd;
	for (int i = 0; i < PIPE_SLOTS && !e; i++)
		if (!(p->buf[i] = pt__malloc(HASH_BLOCK)))
			e = ENOMEM;
	pthread_t th;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!e && pthread_create(&th, NULL, pipe_reader, p)) {
		/* no thread: read in this one */
		uint8_t *buf = p->buf[0];
		e = stream_plain(h, d, fd, c, buf, total);
		goto free_all;
	}
	if (e)
		goto free_all;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->full[p->tail] && !p->eof)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->full[p->tail]) { /* eof, and every block before it consumed */
			e = p->err;
			pthread_mutex_unlock(&p->mu);
			break;
		}
		size_t slot = p->tail, n = p->len[slot];
		pthread_mutex_unlock(&p->mu);
		pt__sha256_update(c, p->buf[slot], n);
		*total += n;
		__atomic_fetch_add(&h->bytes_done, (uint64_t)n, __ATOMIC_RELAXED);
		pthread_mutex_lock(&p->mu);
		p->full[slot] = 0;
		p->tail = (slot + 1) % PIPE_SLOTS;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(th, NULL);
free_all:
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	for (int i = 0; i < PIPE_SLOTS; i++)
		pt__free(p->buf[i]);
	pt__free(p);
	return e;
}

/* Hash one file or buffer; strict: errors name it; tolerant: status set, 0 returned (but ENOMEM). */
static int hash_one(hasher *h, dent *d, uint8_t *buf, int pipe_ok)
{
	pt__sha256_ctx *c = NULL;
	int rc = pt__sha256_new(&c), fd = -1;
	if (rc)
		return rc;
	if (!d->abs) {
		for (uint64_t off = 0; off < d->size; off += HASH_BLOCK) {
			size_t k = d->size - off < HASH_BLOCK ? (size_t)(d->size - off) : HASH_BLOCK;
			pt__sha256_update(c, d->data + off, k);
			__atomic_fetch_add(&h->bytes_done, k, __ATOMIC_RELAXED);
		}
		pt__sha256_final(c, d->sha);
		pt__sha256_free(c);
		return 0;
	}
	struct stat sb;
	uint64_t total = 0;
	fd = open(d->abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (h->tolerant) {
			d->status = PT_DATASET_FILE_MISSING;
			d->err = e;
			goto out;
		}
		rc = e == ENOENT ? changed(d, "vanished") : pt__err_errno(e, "dataset: cannot open %s", d->abs);
		goto out;
	}
	if (!h->tolerant) {
		if (fstat(fd, &sb)) {
			rc = pt__err_errno(errno, "dataset: cannot stat %s", d->abs);
			goto out;
		}
		if (!same_stat(d, &sb)) {
			rc = changed(d, "changed");
			goto out;
		}
	}
	int e = pipe_ok && d->size >= PIPE_MIN ? stream_piped(h, d, fd, c, &total) : stream_plain(h, d, fd, c, buf, &total);
	if (e) {
		if (h->tolerant) {
			d->status = PT_DATASET_FILE_MISSING;
			d->err = e;
			goto out;
		}
		rc = e == ENOMEM ? PT_ENOMEM : pt__err_errno(e, "dataset: cannot read %s", d->abs);
		goto out;
	}
	pt__sha256_final(c, d->sha);
	if (h->tolerant) {
		d->found_size = total;
		goto out;
	}
	if (fstat(fd, &sb)) {
		rc = pt__err_errno(errno, "dataset: cannot stat %s", d->abs);
		goto out;
	}
	if (!same_stat(d, &sb) || total != d->size) {
		rc = changed(d, "changed");
		goto out;
	}
	if (stat(d->abs, &sb))
		rc = errno == ENOENT ? changed(d, "vanished") : pt__err_errno(errno, "dataset: cannot stat %s", d->abs);
	else if (!same_stat(d, &sb))
		rc = changed(d, "was replaced");
out:
	if (fd >= 0)
		close(fd);
	pt__sha256_free(c);
	return rc;
}

static void *hash_main(void *arg)
{
	hasher *h = arg;
	uint8_t *buf = pt__malloc(HASH_BLOCK);
	for (;;) {
		pthread_mutex_lock(&h->mu);
		if (!buf && !h->rc) {
			h->rc = PT_ENOMEM;
			snprintf(h->msg, sizeof h->msg, "out of memory in a dataset hashing thread");
		}
		if (h->rc || h->next >= h->n) {
			h->running--;
			pthread_cond_broadcast(&h->cv);
			pthread_mutex_unlock(&h->mu);
			break;
		}
		size_t i = h->order[h->next++];
		/* fewer files left than threads: a spare core can read ahead for this one */
		int pipe_ok = h->n - h->next + 1 < h->nthreads;
		pthread_mutex_unlock(&h->mu);
		int rc = hash_one(h, &h->e[i], buf, pipe_ok);
		if (rc) {
			pthread_mutex_lock(&h->mu);
			if (!h->rc) {
				h->rc = rc;
				snprintf(h->msg, sizeof h->msg, "%s", pt_error_last());
			}
			pthread_mutex_unlock(&h->mu);
		}
		__atomic_fetch_add(&h->files_done, 1, __ATOMIC_RELAXED);
	}
	pt__free(buf);
	return NULL;
}

static const dent *sort_base;
static int by_size_desc(const void *a, const void *b)
{
	uint64_t x = sort_base[*(const size_t *)a].size, y = sort_base[*(const size_t *)b].size;
	return x < y ? 1 : x > y ? -1 : 0;
}

static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int hash_all(dent *e, size_t n, const pt_dataset_options *o, int tolerant)
{
	hasher h;
	memset(&h, 0, sizeof h);
	h.e = e;
	h.n = n;
	h.tolerant = tolerant;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += e[i].size;
	if (!(h.order = pt__malloc((n ? n : 1) * sizeof *h.order)))
		return PT_ENOMEM;
	for (size_t i = 0; i < n; i++)
		h.order[i] = i;
	pthread_mutex_lock(&sort_mu);
	sort_base = e;
	qsort(h.order, n, sizeof *h.order, by_size_desc);
	pthread_mutex_unlock(&sort_mu);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t want = o && o->threads ? o->threads : (uint32_t)(cpus > 0 ? cpus : 1);
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	h.nthreads = want; /* as asked: a thread not needed for a file may read ahead (hash_main) */
	if (want > n)
		want = n ? (uint32_t)n : 1;
	pthread_t th[MAX_THREADS];
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	uint32_t started = 0;
	int rc = 0;
	pthread_mutex_lock(&h.mu);
	for (; started < want; started++) {
		h.running++;
		if (pthread_create(&th[started], NULL, hash_main, &h)) {
			h.running--;
			break;
		}
	}
	if (!started) {
		pthread_mutex_unlock(&h.mu);
		rc = pt__err(PT_ERROR, "dataset: cannot start a hashing thread");
		goto done;
	}
	while (h.running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h.cv, &h.mu, &ts);
		if (h.running && o && o->progress) {
			pthread_mutex_unlock(&h.mu);
			o->progress(__atomic_load_n(&h.files_done, __ATOMIC_RELAXED), n,
				    __atomic_load_n(&h.bytes_done, __ATOMIC_RELAXED), total, o->progress_payload);
			pthread_mutex_lock(&h.mu);
		}
	}
	pthread_mutex_unlock(&h.mu);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (h.rc)
		rc = pt__err(h.rc, "%s", h.msg);
	else if (o && o->progress)
		o->progress(n, n, total, total, o->progress_payload);
done:
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
	pt__free(h.order);
	return rc;
}

/* ---- listing ------------------------------------------------------------------------ */

static int by_rel(const void *a, const void *b)
{
	return strcmp(((const dent *)a)->rel, ((const dent *)b)->rel);
}

static int build_listing(pt_dataset *ds)
{
	qsort(ds->e, ds->n, sizeof *ds->e, by_rel);
	ds->total = 0;
	for (size_t i = 0; i < ds->n; i++) {
		if (i && !strcmp(ds->e[i].rel, ds->e[i - 1].rel))
			return pt__err(PT_EINVAL, "dataset: \"%s\" is given twice", ds->e[i].rel);
		char hex[65];
		pt__hex(ds->e[i].sha, 32, hex);
		int rc = pt__buf_printf(&ds->listing, "%s %llu %s\n", hex, (unsigned long long)ds->e[i].size,
					ds->e[i].rel);
		if (rc)
			return rc;
		ds->total += ds->e[i].size;
	}
	if (ds->listing.len > PT_OBJECT_MAX)
		return pt__err(PT_ELIMIT, "dataset: the listing of %zu entries is larger than an object may be", ds->n);
	pt__sha256(ds->listing.data, ds->listing.len, ds->id);
	return 0;
}

static void fill_info(const pt_dataset *ds, pt_dataset_info *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	pt__hex(ds->id, 32, out->id);
	out->files = ds->n;
	out->size = ds->total;
}

int pt_dataset_hash(pt_dataset *ds, const pt_dataset_options *opts, pt_dataset_info *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!ds)
		return pt__err(PT_EINVAL, "pt_dataset_hash: NULL dataset");
	if (opts && opts->version != PT_DATASET_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_dataset_options: version %u, expected %u", opts->version,
			       PT_DATASET_OPTIONS_VERSION);
	if (ds->hashed) {
		fill_info(ds, out);
		return 0;
	}
	if (!ds->npaths && !ds->nmem)
		return pt__err(PT_EINVAL, "dataset: nothing added");
	int rc = 0;
	if (ds->nmem) {
		/* the entries as added, copied (names owned by the copies) */
		for (size_t i = 0; i < ds->nmem && !rc; i++) {
			dent d = ds->mem[i];
			if (!(d.rel = pt__strdup(d.rel)))
				rc = PT_ENOMEM;
			else if ((rc = push(&ds->e, &ds->n, &ds->cap, &d)))
				pt__free(d.rel);
		}
		if (!rc && !(ds->root = pt__strdup("")))
			rc = PT_ENOMEM;
	} else {
		rc = walk(ds);
	}
	if (!rc && !ds->n)
		rc = pt__err(PT_EINVAL, "dataset: no file found under %s", ds->root ? ds->root : "the paths given");
	if (!rc && pt__dataset_hook)
		pt__dataset_hook(1, pt__dataset_hook_arg);
	if (!rc)
		rc = hash_all(ds->e, ds->n, opts, 0);
	if (!rc)
		rc = build_listing(ds);
	if (rc) {
		entries_free(ds->e, ds->n);
		ds->e = NULL;
		ds->n = ds->cap = 0;
		pt__free(ds->root);
		ds->root = NULL;
		pt__buf_free(&ds->listing);
		return rc;
	}
	ds->hashed = 1;
	fill_info(ds, out);
	return 0;
}

/* ---- record ------------------------------------------------------------------------- */

/*
 * Read a small file whole into `dst` (its recorded size) and check it is
 * the content that was hashed: a file changed since is named, nothing
 * recorded.
 */
static int read_small(const dent *d, uint8_t *dst)
{
	int fd = open(d->abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? pt__err(PT_ERROR, "dataset: %s vanished while it was stored (nothing recorded)", d->abs)
				       : pt__err_errno(errno, "dataset: cannot open %s", d->abs);
	uint64_t got = 0;
	int rc = 0;
	uint8_t extra;
	while (!rc && got < d->size) {
		ssize_t r = read(fd, dst + got, (size_t)(d->size - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = pt__err_errno(errno, "dataset: cannot read %s", d->abs);
		else if (!r)
			break;
		else
			got += (uint64_t)r;
	}
	if (!rc && (got != d->size || read(fd, &extra, 1) != 0))
		rc = pt__err(PT_ERROR, "dataset: %s changed while it was stored (nothing recorded)", d->abs);
	close(fd);
	uint8_t sha[32];
	if (!rc) {
		pt__sha256(dst, (size_t)d->size, sha);
		if (memcmp(sha, d->sha, 32))
			rc = pt__err(PT_ERROR, "dataset: %s changed while it was stored (nothing recorded)", d->abs);
	}
	return rc;
}

static int store_contents(pt_recorder *rec, pt_dataset *ds, pt_dataset_info *info)
{
	pt_checkpoint *ck = NULL;
	pt_checkpointer *cw = NULL;
	pt_checkpoint_options co = PT_CHECKPOINT_OPTIONS_INIT;
	co.no_event = 1;
	/*
	 * Small files are read into memory and added as bytes, so that the
	 * checkpointer packs neighbours into shared chunks (10,000 small files:
	 * a few objects, not 10,000 files each fdatasync'd); larger ones, and
	 * small ones past STORE_SMALL_BUDGET bytes in all, are streamed from
	 * their files.
	 */
	uint64_t small = 0;
	for (size_t i = 0; i < ds->n; i++)
		if (ds->e[i].abs && ds->e[i].size < STORE_SMALL && small + ds->e[i].size <= STORE_SMALL_BUDGET)
			small += ds->e[i].size;
	uint8_t *arena = small ? pt__malloc((size_t)small) : NULL;
	uint64_t used = 0;
	int rc = small && !arena ? PT_ENOMEM : pt_checkpoint_new(&ck);
	for (size_t i = 0; i < ds->n && !rc; i++) {
		const dent *d = &ds->e[i];
		if (!d->abs)
			rc = pt_checkpoint_add_bytes(ck, d->rel, d->data, (size_t)d->size);
		else if (arena && d->size < STORE_SMALL && used + d->size <= small) {
			rc = read_small(d, arena + used);
			if (!rc)
				rc = pt_checkpoint_add_bytes(ck, d->rel, arena + used, (size_t)d->size);
			used += d->size;
		} else
			rc = pt_checkpoint_add_file(ck, d->rel, d->abs);
	}
	if (!rc)
		rc = pt_checkpointer_open(&cw, pt__recorder_store(rec), NULL, &co);
	pt_checkpoint_info ci;
	memset(&ci, 0, sizeof ci);
	if (!rc)
		rc = pt_checkpointer_write(cw, ck, PT_NO_STEP, &ci);
	if (cw) {
		int crc = pt_checkpointer_close(cw);
		if (!rc)
			rc = crc;
	}
	pt_checkpoint_free(ck);
	pt__free(arena);
	/* the checkpointer read the files again: the same versions?  (Also when
	 * it failed: a file gone since it was hashed is the better message.) */
	int changed_rc = 0;
	for (size_t i = 0; i < ds->n && !changed_rc && rc != PT_ENOMEM; i++) {
		struct stat sb;
		if (!ds->e[i].abs)
			continue;
		if (stat(ds->e[i].abs, &sb))
			changed_rc = pt__err(PT_ERROR, "dataset: %s vanished while it was stored (nothing recorded)",
					     ds->e[i].abs);
		else if (!same_stat(&ds->e[i], &sb))
			changed_rc = pt__err(PT_ERROR, "dataset: %s changed while it was stored (nothing recorded)",
					     ds->e[i].abs);
	}
	if (changed_rc)
		rc = changed_rc;
	if (!rc)
		memcpy(info->content, ci.manifest, 65);
	return rc;
}

int pt_dataset_record(pt_recorder *rec, const char *name, const char *role, pt_dataset *ds, int64_t step,
		      const pt_dataset_options *opts, pt_dataset_info *out)
{
	pt_dataset_info info;
	memset(&info, 0, sizeof info);
	if (out)
		memset(out, 0, sizeof *out);
	if (!rec || !ds || !name || !*name)
		return pt__err(PT_EINVAL, "pt_dataset_record: NULL recorder or dataset, or empty name");
	if (!role)
		role = "train";
	if (!*role || strlen(role) > 256)
		return pt__err(PT_EINVAL, "pt_dataset_record: role must be 1..256 bytes");
	int lockfd = -1;
	pt_event *ev = NULL;
	int rc = pt_dataset_hash(ds, opts, &info);
	uint8_t lid[32];
	if (!rc)
		rc = pt__gc_lock(pt__recorder_store(rec), 0, 1, &lockfd);
	if (!rc)
		rc = pt__object_put(pt__recorder_store(rec), ds->listing.data, ds->listing.len, lid);
	if (!rc && memcmp(lid, ds->id, 32))
		rc = pt__err(PT_ERROR, "dataset: the listing object's id is not the content id"); /* cannot happen */
	if (!rc && pt__dataset_hook)
		pt__dataset_hook(2, pt__dataset_hook_arg);
	if (!rc && opts && opts->store)
		rc = store_contents(rec, ds, &info);
	if (!rc)
		rc = pt_event_new(&ev, PT_KIND_DATASET, name);
	if (!rc && step != PT_NO_STEP)
		rc = pt_event_set_step(ev, step);
	if (!rc) rc = pt_event_str(ev, "id", info.id);
	if (!rc) rc = pt_event_str(ev, "role", role);
	if (!rc) rc = pt_event_uint(ev, "files", info.files);
	if (!rc) rc = pt_event_uint(ev, "size", info.size);
	if (!rc) rc = pt_event_str(ev, "source", ds->nmem ? "memory" : "files");
	if (!rc && !ds->nmem) {
		if (!pt__utf8_valid((const uint8_t *)ds->root, strlen(ds->root)))
			rc = pt_event_bytes(ev, "root", ds->root, strlen(ds->root));
		else
			rc = pt_event_str(ev, "root", ds->root);
	}
	if (!rc && info.content[0])
		rc = pt_event_str(ev, "content", info.content);
	if (!rc) rc = pt_event_begin_array(ev, "objects");
	if (!rc) rc = pt_event_str(ev, NULL, info.id);
	if (!rc) rc = pt_event_end(ev);
	if (!rc) rc = pt__recorder_append_own(rec, ev, &info.seq);
	if (!rc) rc = pt_recorder_flush(rec); /* readable before the gc lock goes */
	pt_event_free(ev);
	if (lockfd >= 0)
		pt__gc_unlock(lockfd);
	if (!rc && out)
		*out = info;
	return rc;
}

/* ---- verify ------------------------------------------------------------------------- */

typedef struct {
	char *name;
	uint8_t *body;
	size_t len;
} last_ev;

typedef struct {
	char id[65], content[65];
	char *root;
	int memory, has_source;
} ds_body;

static int body_str(const mpk_obj *o, char **out)
{
	if (o->type != MPK_STR && o->type != MPK_BIN)
		return 1;
	*out = pt__strndup((const char *)o->ptr, o->len);
	return *out ? 0 : PT_ENOMEM;
}

static int parse_body(const uint8_t *p, size_t len, ds_body *b)
{
	memset(b, 0, sizeof *b);
	const uint8_t *q = p, *end = p + len;
	mpk_obj m;
	if (mpk_read(&q, end, &m) || m.type != MPK_MAP)
		return 1;
	for (uint32_t i = 0; i < m.len; i++) {
		mpk_obj k, v;
		if (mpk_read(&q, end, &k) || k.type != MPK_STR)
			return 1;
		const uint8_t *save = q;
		if (mpk_read(&q, end, &v))
			return 1;
		if (v.type == MPK_ARRAY || v.type == MPK_MAP) {
			q = save;
			if (mpk_skip(&q, end, 8))
				return 1;
			continue;
		}
#define KEY(s) (k.len == strlen(s) && !memcmp(k.ptr, s, k.len))
		if (KEY("id") && v.type == MPK_STR && v.len == 64) {
			memcpy(b->id, v.ptr, 64);
			b->id[64] = 0;
		} else if (KEY("root")) {
			pt__free(b->root);
			b->root = NULL;
			int rc = body_str(&v, &b->root);
			if (rc)
				return rc;
		} else if (KEY("source") && v.type == MPK_STR) {
			b->memory = v.len == 6 && !memcmp(v.ptr, "memory", 6);
			b->has_source = 1;
		}
#undef KEY
	}
	return b->id[0] && b->has_source ? 0 : 1; /* 1: not written by pt_dataset_record */
}

/* Parse a listing (our own format; checked against its id already) into entries under `root`. */
static int parse_listing(const uint8_t *p, size_t len, const char *root, dent **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	size_t off = 0;
	while (off < len) {
		const uint8_t *nl = memchr(p + off, '\n', len - off);
		if (!nl)
			goto bad;
		size_t ll = (size_t)(nl - (p + off));
		const char *line = (const char *)p + off;
		if (ll < 64 + 3 || line[64] != ' ')
			goto bad;
		dent d;
		memset(&d, 0, sizeof d);
		if (pt__unhex_n(line, d.want, 32))
			goto bad;
		size_t i = 65;
		uint64_t sz = 0;
		if (i >= ll || line[i] < '0' || line[i] > '9')
			goto bad;
		while (i < ll && line[i] >= '0' && line[i] <= '9') {
			if (sz > (UINT64_MAX - 9) / 10)
				goto bad;
			sz = sz * 10 + (uint64_t)(line[i++] - '0');
		}
		if (i >= ll - 0 || line[i] != ' ' || i + 1 >= ll)
			goto bad;
		d.size = sz;
		d.rel = pt__strndup(line + i + 1, ll - i - 1);
		d.abs = d.rel ? pt__sprintf("%s/%s", root, d.rel) : NULL;
		if (!d.rel || !d.abs) {
			pt__free(d.rel);
			pt__free(d.abs);
			entries_free(*out, *n);
			return PT_ENOMEM;
		}
		int rc = push(out, n, &cap, &d);
		if (rc) {
			pt__free(d.rel);
			pt__free(d.abs);
			entries_free(*out, *n);
			return rc;
		}
		off += ll + 1;
	}
	return 0;
bad:
	entries_free(*out, *n);
	*out = NULL;
	*n = 0;
	return pt__err(PT_ECORRUPT, "dataset listing: malformed line at byte %zu", off);
}

static int verify_one(const pt_store *st, const char *name, const ds_body *b, const char *root,
		      const pt_dataset_options *o, pt_dataset_check_cb cb, void *payload, pt_dataset_verify_stats *vs,
		      int *stop)
{
	uint8_t id[32], *lst = NULL;
	size_t ll = 0;
	dent *e = NULL;
	size_t n = 0;
	if (pt__unhex(b->id, id, 32))
		return pt__err(PT_ECORRUPT, "dataset %s: malformed id", name);
	int rc = pt__object_get(st, id, &lst, &ll);
	if (rc)
		return pt__err_wrap(rc == PT_ENOTFOUND ? PT_ECORRUPT : rc, "dataset %s: listing %s", name, b->id);
	rc = parse_listing(lst, ll, root, &e, &n);
	pt__free(lst);
	if (rc)
		return pt__err_wrap(rc, "dataset %s", name);
	vs->datasets++;
	if (!(rc = hash_all(e, n, o, 1))) {
		for (size_t i = 0; i < n && !*stop; i++) {
			dent *d = &e[i];
			vs->files++;
			vs->bytes += d->found_size;
			if (d->status == PT_DATASET_FILE_OK) {
				if (d->found_size == d->size && !memcmp(d->sha, d->want, 32)) {
					vs->ok++;
					continue;
				}
				d->status = PT_DATASET_FILE_CHANGED;
				vs->changed++;
			} else {
				vs->missing++;
			}
			pt_dataset_check c;
			memset(&c, 0, sizeof c);
			c.dataset = name;
			c.id = b->id;
			c.path = d->rel;
			c.file = d->abs;
			c.size = d->size;
			c.status = d->status;
			pt__hex(d->want, 32, c.sha256);
			if (d->status == PT_DATASET_FILE_MISSING) {
				c.message = strerror(d->err);
			} else {
				c.found_size = d->found_size;
				pt__hex(d->sha, 32, c.found_sha256);
			}
			if (cb && cb(&c, payload))
				*stop = 1;
		}
	}
	entries_free(e, n);
	return rc;
}

int pt_dataset_verify(const pt_store *st, const char *run, const char *stream, const char *root,
		      const pt_dataset_options *opts, pt_dataset_check_cb cb, void *payload,
		      pt_dataset_verify_stats *stats)
{
	pt_dataset_verify_stats vs;
	memset(&vs, 0, sizeof vs);
	if (stats)
		memset(stats, 0, sizeof *stats);
	if (!st || !run)
		return pt__err(PT_EINVAL, "pt_dataset_verify: NULL store or run");
	if (opts && opts->version != PT_DATASET_OPTIONS_VERSION)
		return pt__err(PT_EINVAL, "pt_dataset_options: version %u, expected %u", opts->version,
			       PT_DATASET_OPTIONS_VERSION);
	pt_iter *it = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	io.kind = PT_KIND_DATASET;
	last_ev *lv = NULL;
	size_t nl = 0;
	int rc = pt_iter_open(&it, st, run, stream, &io);
	/* the datasets in effect at the end: the last event of each name */
	while (!rc) {
		const pt_event_view *ev;
		const void *body;
		size_t blen;
		rc = pt_iter_next(it, &ev);
		if (rc == PT_ITEROVER) {
			rc = 0;
			break;
		}
		if (!rc)
			rc = pt_ev_body_msgpack(ev, &body, &blen);
		if (rc)
			break;
		ds_body probe;
		int prc = parse_body(body, blen, &probe);
		pt__free(probe.root);
		if (prc == PT_ENOMEM) {
			rc = prc;
			break;
		}
		if (prc)
			continue; /* malformed, or a user's event from before the kind was reserved */
		const char *nm = pt_ev_name(ev) ? pt_ev_name(ev) : "";
		size_t k = 0;
		while (k < nl && strcmp(lv[k].name, nm))
			k++;
		if (k == nl) {
			last_ev *g = pt__realloc(lv, (nl + 1) * sizeof *g);
			if (!g) {
				rc = PT_ENOMEM;
				break;
			}
			lv = g;
			memset(&lv[nl], 0, sizeof *lv);
			if (!(lv[nl].name = pt__strdup(nm))) {
				rc = PT_ENOMEM;
				break;
			}
			nl++;
		}
		pt__free(lv[k].body);
		if (!(lv[k].body = pt__malloc(blen ? blen : 1))) {
			rc = PT_ENOMEM;
			break;
		}
		memcpy(lv[k].body, body, blen);
		lv[k].len = blen;
	}
	pt_iter_free(it);
	int stop = 0;
	for (size_t k = 0; k < nl && !rc && !stop; k++) {
		ds_body b;
		int prc = parse_body(lv[k].body, lv[k].len, &b);
		if (prc)
			rc = prc < 0 ? prc : pt__err(PT_ECORRUPT, "dataset %s: unreadable event body", lv[k].name);
		else if (b.memory)
			vs.skipped++;
		else if (!root && !b.root)
			rc = pt__err(PT_ECORRUPT, "dataset %s: the event records no root", lv[k].name);
		else
			rc = verify_one(st, lv[k].name, &b, root ? root : b.root, opts, cb, payload, &vs, &stop);
		pt__free(b.root);
	}
	for (size_t k = 0; k < nl; k++) {
		pt__free(lv[k].name);
		pt__free(lv[k].body);
	}
	pt__free(lv);
	if (stats)
		*stats = vs;
	return rc;
}
