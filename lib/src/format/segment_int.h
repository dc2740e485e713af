/*
 * format/segment_int.h - the bytes of segment files and chain files (docs/FORMAT.md).
 * Batches are compressed by base/zstdx.c (the owner of <zstd.h>).
 */
#ifndef PT_SEGMENT_H
#define PT_SEGMENT_H

#include "base/base_int.h"
#include "base/zstdx_int.h"

#define PT_SKIP_SEGHDR 0x184D2A50u
#define PT_SKIP_BATCH 0x184D2A51u
#define PT_SKIP_FOOTER 0x184D2A52u
#define PT_BATCH_HDR_LEN 68
#define PT_BATCH_FRAME_LEN (8 + PT_BATCH_HDR_LEN)
#define PT_FOOTER_FIXED 112
#define PT_INDEX_ENTRY_LEN 56
#define PT_SEG_VERSION 1

/* Reader limits: nothing larger is ever allocated from a length on disk. */
#define PT_MAX_BATCH_EVENTS (1u << 20)
#define PT_MAX_BATCH_RAW (256u << 20)
#define PT_MAX_BATCH_PAYLOAD (256u << 20)
#define PT_MAX_FOOTER_BATCHES (1u << 22)

#define PT_OPEN_SEGMENT "open.ptseg"
#define PT_SEG_SUFFIX ".ptseg"

typedef struct {
	uint64_t segno;
	uint64_t first_seq;
	uint8_t prev[PT_SHA256_LEN];
	char run[129];
	char stream[129];
	uint32_t frame_len; /* bytes of the whole skippable frame */
} pt__seg_header;

typedef struct {
	uint64_t first_seq;
	uint32_t count;
	uint32_t payload_len;
	uint32_t raw_len;
	uint32_t payload_crc;
	int64_t step_min, step_max, time_min, time_max;
} pt__batch_header;

typedef struct {
	uint64_t offset;
	uint64_t first_seq;
	uint32_t count;
	int64_t step_min, step_max, time_min, time_max;
} pt__index_entry;

typedef struct {
	uint64_t batches, events, first_seq, last_seq;
	int64_t step_min, step_max, time_min, time_max;
	uint64_t raw_bytes;
	uint8_t prev[PT_SHA256_LEN];
	pt__index_entry *entries; /* `batches` entries */
	uint64_t offset;         /* file offset of the footer frame */
} pt__footer;

int pt__seg_header_encode(pt__buf *out, const pt__seg_header *h);
/* Read and check the header at offset 0.  PT_ECORRUPT names `path`. */
int pt__seg_header_read(int fd, uint64_t file_size, const char *path, pt__seg_header *out);
/*
 * The _at variants read a segment stored at byte `base` of the file `fd`
 * (a member of an archive tar, see archive_int.h); `file_size` and every
 * offset in and out are relative to the segment's first byte.
 */
int pt__seg_header_read_at(int fd, uint64_t base, uint64_t file_size, const char *path, pt__seg_header *out);

void pt__batch_header_encode(uint8_t out[PT_BATCH_FRAME_LEN], const pt__batch_header *h);
/* Decode a batch frame header: 0 ok, -1 if magic/CRC/version/limits fail. */
int pt__batch_header_decode(const uint8_t in[PT_BATCH_FRAME_LEN], pt__batch_header *h);

int pt__footer_encode(pt__buf *out, const pt__footer *f);
/* Read the footer from the end of a sealed segment. */
int pt__footer_read(int fd, uint64_t file_size, const char *path, pt__footer *out);
int pt__footer_read_at(int fd, uint64_t base, uint64_t file_size, const char *path, pt__footer *out);
void pt__footer_free(pt__footer *f);

/* Scanning batches of a segment file from `*off`. */
typedef enum {
	PT_SCAN_BATCH,  /* a batch with a valid header (payload checked if asked) */
	PT_SCAN_END,    /* exactly at the end of the file */
	PT_SCAN_FOOTER, /* a footer frame starts here */
	PT_SCAN_TORN,   /* an incomplete frame at the end of the file */
	PT_SCAN_BAD     /* bytes that are not a valid batch */
} pt__scan_result;

/* With `payload` non-NULL the payload is read into it and its CRC checked.
 * On PT_SCAN_BATCH *off is advanced past the batch.  Returns <0 on I/O error. */
int pt__scan_batch(int fd, uint64_t file_size, uint64_t *off, pt__batch_header *h, pt__buf *payload);
int pt__scan_batch_at(int fd, uint64_t base, uint64_t file_size, uint64_t *off, pt__batch_header *h,
		      pt__buf *payload);
/* Search (file_size-bounded) for a valid batch header after `from`; 1 found (*at), 0 none. */
int pt__find_batch_after(int fd, uint64_t file_size, uint64_t from, uint64_t *at);

/* Chain file */
typedef struct {
	uint64_t segno;
	uint8_t id[PT_SHA256_LEN];
	uint64_t first_seq, last_seq, events;
	int64_t step_min, step_max, time_min, time_max;
	uint64_t bytes, raw_bytes;
} pt__chain_entry;

typedef struct {
	pt__chain_entry *v;
	size_t n, cap;
} pt__chain;

/* Load `dir`/chain; a missing file is an empty chain. */
int pt__chain_load(const char *stream_dir, pt__chain *out);
int pt__chain_append(pt__chain *c, const pt__chain_entry *e);
int pt__chain_store(const char *stream_dir, const pt__chain *c);
void pt__chain_free(pt__chain *c);
/* Index of the entry whose range holds `seq`, or the first after it; c->n if none. */
size_t pt__chain_find_seq(const pt__chain *c, uint64_t seq);

bool pt__id_is_zero(const uint8_t id[PT_SHA256_LEN]);

/* Path of a sealed segment: allocated. */
char *pt__segment_path(const char *stream_dir, const uint8_t id[PT_SHA256_LEN]);

/* Result of scanning an open (unsealed) segment from its header. */
typedef struct {
	pt__seg_header hdr;
	bool hdr_ok;            /* false: the header itself is torn or bad */
	uint64_t file_size;
	uint64_t valid_end;     /* offset just past the last valid batch */
	pt__index_entry *entries;
	uint64_t n, cap;        /* batches */
	uint64_t events, raw_bytes;
	int64_t step_min, step_max, time_min, time_max;
	uint64_t next_seq;      /* first_seq + events */
	pt__scan_result tail;    /* END: clean; TORN: incomplete tail; BAD: damage; FOOTER: sealed but not renamed */
	uint64_t bad_next;      /* with BAD: offset of a later valid batch, or 0 if none (then it is torn) */
	char why[200];          /* with TORN/BAD: what was wrong at valid_end */
} pt__openseg_result;

/* Scan an open segment, checking payload CRCs and sequence continuity.
 * Errors (<0) only for I/O; damage is described in `out`. */
int pt__openseg_scan(int fd, const char *path, pt__openseg_result *out);
/* The same, also feeding `sha` (if not NULL) with the bytes [0, valid_end): the
 * file is read once, in blocks of a few MiB (no system call per batch). */
int pt__openseg_scan_hash(int fd, const char *path, pt__sha256_ctx *sha, pt__openseg_result *out);
void pt__openseg_scan_free(pt__openseg_result *s);

#endif
