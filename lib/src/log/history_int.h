/*
 * log/history_int.h - a stream's history: which segments it has, in which order,
 * and the bytes of each wherever they live.  Private to the library.
 *
 * This is the one place that answers "where is segment X of this stream":
 * reader.c, replay.c and verify.c ask here and know no paths of segments;
 * checkpoint reading, gc, export, code and the archive job find objects
 * here too.  The vault (archives) is its second backend: log/vault_int.h.
 * A segment is named by its position in the list (and its id); its bytes
 * come back as a byte range of a file descriptor, whether the segment is a
 * file of the hot store or a member of an archive in a vault.
 *
 * Basic outline:
 *
 *	pt__history h;
 *	pt__history_load(&h, st, run, stream);     // chain + pending seal + open?
 *	for (size_t i = 0; i < h.chain.n; i++) {   // sealed segments, in order
 *		pt__segsrc s;
 *		pt__history_open_sealed(&h, i, &s, &hdr); // checked: identity, number, first seq
 *		... pread(s.fd, ..., s.base + off) within s.size ...
 *		pt__segsrc_close(&s);
 *	}
 *	pt__history_open_tail(&h, &s);             // the open segment, if any
 *	pt__history_free(&h);
 */
#ifndef PT_HISTORY_H
#define PT_HISTORY_H

#include "format/segment_int.h"
#include "format/objects_int.h"

#include <sys/types.h>

typedef struct pt__history_s {
	const pt_store *st;
	char *run, *stream, *dir;
	/*
	 * The sealed segments in order: the chain file's entries, then at most
	 * one sealed segment the chain does not list yet (a seal interrupted
	 * between the rename and the chain update), adopted in memory exactly
	 * as the next writer will adopt it.  `chained` counts the chain's own.
	 */
	pt__chain chain;
	size_t chained;
} pt__history;

/* The bytes of one segment: [base, base + size) of fd. */
typedef struct {
	int fd;
	uint64_t base, size;
	ino_t ino;   /* the open segment's inode (to notice a seal-and-rename) */
	char *name;  /* for messages: the path, with " (archived)" for a tar member */
} pt__segsrc;

#define PT_SEGSRC_INIT {-1, 0, 0, 0, NULL}
void pt__segsrc_close(pt__segsrc *s);

/*
 * Load the list.  PT_ENOTFOUND (naming run/stream) if the stream does not
 * exist.  `pending` false: the chain only, without looking for a pending
 * seal (a directory listing) - for a reader that asks again, with
 * pt__history_reload(), only when it runs past the chain and finds no open
 * segment (reader.c: most iterators read a range the chain holds).
 */
int pt__history_load(pt__history *h, const pt_store *st, const char *run, const char *stream, bool pending);
/* Re-read the chain (a writer may have sealed meanwhile) and adopt a pending seal. */
int pt__history_reload(pt__history *h);
void pt__history_free(pt__history *h);

/* Where a sealed segment's bytes are (or PT_ENOMEM). */
enum { PT_HIST_HOT, PT_HIST_ARCHIVED, PT_HIST_EXPIRED, PT_HIST_MISSING };
int pt__history_segment_state(const pt__history *h, const uint8_t id[PT_SHA256_LEN]);

/* The raw bytes of sealed segment `id` (no check of its content). */
int pt__history_open_id(const pt__history *h, const uint8_t id[PT_SHA256_LEN], pt__segsrc *out);

/*
 * Sealed segment `i` of the list, its header read and checked: it names
 * this run and stream (a copied or moved directory does not pass), and the
 * number and first seq the list gives.  `hdr` may be NULL.  PT_ECORRUPT
 * names the segment and the mismatch.
 */
int pt__history_open_sealed(const pt__history *h, size_t i, pt__segsrc *out, pt__seg_header *hdr);

/* The open segment (not its header: it may be being written).  PT_ENOTFOUND if there is none. */
int pt__history_open_tail(const pt__history *h, pt__segsrc *out);
/* The inode of the open segment now; PT_ENOTFOUND if there is none. */
int pt__history_tail_ino(const pt__history *h, ino_t *out);

/*
 * A cheap identity of the stream's current history for caches (the run
 * summaries of runs/): the size, mtime (ns) and inode of its chain file
 * and of its open segment, as one short string in `out` (`cap` >= 160).
 * Any append, seal or recovery changes it; equal strings mean "nothing
 * appended since" as far as a cache needs (it is not a check of content:
 * verify is).  `*writer` (may be NULL) is set to 1 when a writer holds the
 * stream's lock now (F_OFD_GETLK, as pt_stream_stat).  PT_ENOTFOUND if
 * the stream does not exist.
 */
int pt__history_fingerprint(const pt_store *st, const char *run, const char *stream, char *out, size_t cap,
			    int *writer);
/* One stream of a run with its fingerprint (pt__history_run_fingerprints). */
typedef struct {
	char *name;
	char fp[160];
	int writer;
} pt__stream_fp;
/*
 * Every stream of `run` (the names pt_store_streams lists, sorted) with its
 * fingerprint and writer flag as pt__history_fingerprint gives them, from one
 * open of the run's directory: about seven system calls a stream instead of
 * twenty (a query over 10,000 runs makes this call 10,000 times).  `*runfd`
 * (may be NULL) receives the run's directory, opened without following
 * links, for the caller's own files in it (close it).  PT_ENOTFOUND if the
 * run does not exist.  Free `*out` with pt__stream_fps_free.
 */
int pt__history_run_fingerprints(const pt_store *st, const char *run, pt__stream_fp **out, size_t *n, int *runfd);
void pt__stream_fps_free(pt__stream_fp *v, size_t n);
/* 1 when a writer holds the lock of the stream in `stream_dir` now (F_OFD_GETLK). */
int pt__history_writer_active(const char *stream_dir);

/* A header's run and stream against where it was found; PT_ECORRUPT names both. */
int pt__history_check_identity(const pt__history *h, const pt__seg_header *hdr, const char *name);

/* ---- objects (chunks, manifests, snapshots, code trees) --------------------------------- */
/*
 * Object `id`'s bytes, wherever they are: the hot store's file, else the
 * member of a live archive in the vault that its location record names
 * (log/vault.c).  PT_ENOTFOUND names the hot path and why no archive
 * serves it; PT_EIO / PT_ECORRUPT.  Close with pt__objsrc_close.
 */
int pt__history_open_object(const pt_store *st, const uint8_t id[32], pt__objsrc *out);
/*
 * Where object `id` is: PT_HIST_HOT, PT_HIST_ARCHIVED (a live archive holds
 * it), PT_HIST_EXPIRED (its archive was deleted or is gone), PT_HIST_MISSING;
 * <0 on an error other than absence.
 */
int pt__history_object_state(const pt_store *st, const uint8_t id[32]);
/* The object codec (format/objects.c) over pt__history_open_object: */
/* Read object `id` into a new buffer (pt__object_get_src); PT_ENOTFOUND if absent everywhere. */
int pt__object_get(const pt_store *st, const uint8_t id[32], uint8_t **out, size_t *out_len);
/* Read object `id` into `dst` (exactly `len` bytes), verified; `s` may be NULL. */
int pt__object_read(const pt_store *st, const uint8_t id[32], void *dst, size_t len, pt__object_scratch *s);
/* Plain and stored size of object `id` from its header (checked). */
int pt__object_stat(const pt_store *st, const uint8_t id[32], uint64_t *plain, uint64_t *stored);

#endif
