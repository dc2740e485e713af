/*
 * segment.c - encoding and checking the structures of segment and chain
 * files (the zstd frames of batches are made by base/zstdx.c).  See docs/FORMAT.md.
 *
 * Rule: a length read from disk is used only after the checksum that covers
 * it has been verified, and only if it is within the PT_MAX_* limits.
 */
#include "format/segment_int.h"

#include <errno.h>
#include <unistd.h>

static const uint8_t zero_id[PT_SHA256_LEN];

static void put_skip(uint8_t *p, uint32_t magic, uint32_t len)
{
	pt__put_u32(p, magic);
	pt__put_u32(p + 4, len);
}

int pt__seg_header_encode(pt__buf *out, const pt__seg_header *h)
{
	size_t rl = strlen(h->run), sl = strlen(h->stream);
	size_t dlen = 60 + rl + sl + 4;
	int rc = pt__buf_reserve(out, 8 + dlen);
	if (rc)
		return rc;
	uint8_t *p = out->data + out->len;
	put_skip(p, PT_SKIP_SEGHDR, (uint32_t)dlen);
	uint8_t *d = p + 8;
	memcpy(d, "PTSG", 4);
	pt__put_u16(d + 4, PT_SEG_VERSION);
	pt__put_u16(d + 6, 0);
	pt__put_u64(d + 8, h->segno);
	pt__put_u64(d + 16, h->first_seq);
	memcpy(d + 24, h->prev, PT_SHA256_LEN);
	pt__put_u16(d + 56, (uint16_t)rl);
	memcpy(d + 58, h->run, rl);
	pt__put_u16(d + 58 + rl, (uint16_t)sl);
	memcpy(d + 60 + rl, h->stream, sl);
	pt__put_u32(d + 60 + rl + sl, pt__crc32c(0, d, 60 + rl + sl));
	out->len += 8 + dlen;
	return 0;
}

int pt__seg_header_read(int fd, uint64_t file_size, const char *path, pt__seg_header *out)
{
	return pt__seg_header_read_at(fd, 0, file_size, path, out);
}

int pt__seg_header_read_at(int fd, uint64_t base, uint64_t file_size, const char *path, pt__seg_header *out)
{
	uint8_t buf[8 + 60 + 128 + 128 + 4];
	if (file_size < 8 + 64)
		return pt__err(PT_ECORRUPT, "%s: segment header: file too short (%llu bytes)", path,
			       (unsigned long long)file_size);
	size_t want = file_size < sizeof buf ? (size_t)file_size : sizeof buf;
	int rc = pt__pread_all(fd, buf, want, base, path);
	if (rc)
		return rc;
	uint32_t dlen = pt__get_u32(buf + 4);
	const uint8_t *d = buf + 8;
	if (pt__get_u32(buf) != PT_SKIP_SEGHDR || memcmp(d, "PTSG", 4))
		return pt__err(PT_ECORRUPT, "%s @0: not a provtrace segment (bad magic)", path);
	if (dlen < 64 || dlen > 60 + 128 + 128 + 4 || 8 + (uint64_t)dlen > want)
		return pt__err(PT_ECORRUPT, "%s @0: segment header length %u is invalid", path, dlen);
	if (pt__get_u32(d + dlen - 4) != pt__crc32c(0, d, dlen - 4))
		return pt__err(PT_ECORRUPT, "%s @0: segment header checksum mismatch", path);
	uint16_t ver = pt__get_u16(d + 4);
	if (ver > PT_SEG_VERSION)
		return pt__err(PT_EVERSION, "%s: segment version %u is newer than this provtrace reads (%d)", path, ver,
			       PT_SEG_VERSION);
	size_t rl = pt__get_u16(d + 56);
	if (rl > 128 || 60 + rl > dlen - 4)
		return pt__err(PT_ECORRUPT, "%s @0: segment header run name length invalid", path);
	size_t sl = pt__get_u16(d + 58 + rl);
	if (sl > 128 || 60 + rl + sl != dlen - 4)
		return pt__err(PT_ECORRUPT, "%s @0: segment header stream name length invalid", path);
	out->segno = pt__get_u64(d + 8);
	out->first_seq = pt__get_u64(d + 16);
	memcpy(out->prev, d + 24, PT_SHA256_LEN);
	memcpy(out->run, d + 58, rl);
	out->run[rl] = 0;
	memcpy(out->stream, d + 60 + rl, sl);
	out->stream[sl] = 0;
	out->frame_len = 8 + dlen;
	return 0;
}

void pt__batch_header_encode(uint8_t out[PT_BATCH_FRAME_LEN], const pt__batch_header *h)
{
	put_skip(out, PT_SKIP_BATCH, PT_BATCH_HDR_LEN);
	uint8_t *d = out + 8;
	memcpy(d, "PTBH", 4);
	pt__put_u16(d + 4, PT_SEG_VERSION);
	pt__put_u16(d + 6, 0);
	pt__put_u64(d + 8, h->first_seq);
	pt__put_u32(d + 16, h->count);
	pt__put_u32(d + 20, h->payload_len);
	pt__put_u32(d + 24, h->raw_len);
	pt__put_u32(d + 28, h->payload_crc);
	pt__put_u64(d + 32, (uint64_t)h->step_min);
	pt__put_u64(d + 40, (uint64_t)h->step_max);
	pt__put_u64(d + 48, (uint64_t)h->time_min);
	pt__put_u64(d + 56, (uint64_t)h->time_max);
	pt__put_u32(d + 64, pt__crc32c(0, d, 64));
}

int pt__batch_header_decode(const uint8_t in[PT_BATCH_FRAME_LEN], pt__batch_header *h)
{
	const uint8_t *d = in + 8;
	if (pt__get_u32(in) != PT_SKIP_BATCH || pt__get_u32(in + 4) != PT_BATCH_HDR_LEN || memcmp(d, "PTBH", 4))
		return -1;
	if (pt__get_u32(d + 64) != pt__crc32c(0, d, 64))
		return -1;
	if (pt__get_u16(d + 4) != PT_SEG_VERSION)
		return -1;
	h->first_seq = pt__get_u64(d + 8);
	h->count = pt__get_u32(d + 16);
	h->payload_len = pt__get_u32(d + 20);
	h->raw_len = pt__get_u32(d + 24);
	h->payload_crc = pt__get_u32(d + 28);
	h->step_min = (int64_t)pt__get_u64(d + 32);
	h->step_max = (int64_t)pt__get_u64(d + 40);
	h->time_min = (int64_t)pt__get_u64(d + 48);
	h->time_max = (int64_t)pt__get_u64(d + 56);
	if (h->count == 0 || h->count > PT_MAX_BATCH_EVENTS || h->raw_len > PT_MAX_BATCH_RAW ||
	    h->payload_len > PT_MAX_BATCH_PAYLOAD || h->payload_len == 0 || h->first_seq == 0 ||
	    h->first_seq + h->count < h->first_seq)
		return -1;
	return 0;
}

int pt__footer_encode(pt__buf *out, const pt__footer *f)
{
	uint64_t dlen = PT_FOOTER_FIXED + PT_INDEX_ENTRY_LEN * f->batches + 12;
	if (dlen > UINT32_MAX)
		return pt__err(PT_ELIMIT, "segment index too large");
	int rc = pt__buf_reserve(out, 8 + dlen);
	if (rc)
		return rc;
	uint8_t *p = out->data + out->len;
	put_skip(p, PT_SKIP_FOOTER, (uint32_t)dlen);
	uint8_t *d = p + 8;
	memcpy(d, "PTIX", 4);
	pt__put_u16(d + 4, PT_SEG_VERSION);
	pt__put_u16(d + 6, 0);
	pt__put_u64(d + 8, f->batches);
	pt__put_u64(d + 16, f->events);
	pt__put_u64(d + 24, f->first_seq);
	pt__put_u64(d + 32, f->last_seq);
	pt__put_u64(d + 40, (uint64_t)f->step_min);
	pt__put_u64(d + 48, (uint64_t)f->step_max);
	pt__put_u64(d + 56, (uint64_t)f->time_min);
	pt__put_u64(d + 64, (uint64_t)f->time_max);
	pt__put_u64(d + 72, f->raw_bytes);
	memcpy(d + 80, f->prev, PT_SHA256_LEN);
	uint8_t *e = d + PT_FOOTER_FIXED;
	for (uint64_t i = 0; i < f->batches; i++, e += PT_INDEX_ENTRY_LEN) {
		const pt__index_entry *x = &f->entries[i];
		pt__put_u64(e, x->offset);
		pt__put_u64(e + 8, x->first_seq);
		pt__put_u32(e + 16, x->count);
		pt__put_u32(e + 20, 0);
		pt__put_u64(e + 24, (uint64_t)x->step_min);
		pt__put_u64(e + 32, (uint64_t)x->step_max);
		pt__put_u64(e + 40, (uint64_t)x->time_min);
		pt__put_u64(e + 48, (uint64_t)x->time_max);
	}
	pt__put_u32(e, pt__crc32c(0, d, (size_t)(e - d)));
	pt__put_u32(e + 4, (uint32_t)dlen);
	memcpy(e + 8, "PTFE", 4);
	out->len += 8 + dlen;
	return 0;
}

int pt__footer_read(int fd, uint64_t file_size, const char *path, pt__footer *out)
{
	return pt__footer_read_at(fd, 0, file_size, path, out);
}

int pt__footer_read_at(int fd, uint64_t base, uint64_t file_size, const char *path, pt__footer *out)
{
	memset(out, 0, sizeof *out);
	uint8_t tail[8];
	if (file_size < 8 + PT_FOOTER_FIXED + 12)
		return pt__err(PT_ECORRUPT, "%s: too short to hold a segment footer", path);
	int rc = pt__pread_all(fd, tail, 8, base + file_size - 8, path);
	if (rc)
		return rc;
	if (memcmp(tail + 4, "PTFE", 4))
		return pt__err(PT_ECORRUPT, "%s @%llu: no segment footer (bad end marker)", path,
			       (unsigned long long)(file_size - 4));
	uint64_t dlen = pt__get_u32(tail);
	if (dlen < PT_FOOTER_FIXED + 12 || dlen + 8 > file_size ||
	    (dlen - PT_FOOTER_FIXED - 12) % PT_INDEX_ENTRY_LEN ||
	    (dlen - PT_FOOTER_FIXED - 12) / PT_INDEX_ENTRY_LEN > PT_MAX_FOOTER_BATCHES)
		return pt__err(PT_ECORRUPT, "%s @%llu: segment footer length %llu is invalid", path,
			       (unsigned long long)(file_size - 8), (unsigned long long)dlen);
	uint64_t off = file_size - 8 - dlen;
	uint8_t *buf = pt__malloc((size_t)dlen + 8);
	if (!buf)
		return PT_ENOMEM;
	rc = pt__pread_all(fd, buf, (size_t)dlen + 8, base + off, path);
	if (rc)
		goto fail;
	const uint8_t *d = buf + 8;
	if (pt__get_u32(buf) != PT_SKIP_FOOTER || pt__get_u32(buf + 4) != dlen || memcmp(d, "PTIX", 4)) {
		rc = pt__err(PT_ECORRUPT, "%s @%llu: segment footer frame is invalid", path, (unsigned long long)off);
		goto fail;
	}
	if (pt__get_u32(d + dlen - 12) != pt__crc32c(0, d, (size_t)dlen - 12)) {
		rc = pt__err(PT_ECORRUPT, "%s @%llu: segment footer checksum mismatch", path, (unsigned long long)off);
		goto fail;
	}
	if (pt__get_u16(d + 4) > PT_SEG_VERSION) {
		rc = pt__err(PT_EVERSION, "%s: segment footer version is newer than this provtrace reads", path);
		goto fail;
	}
	out->batches = pt__get_u64(d + 8);
	if (out->batches != (dlen - PT_FOOTER_FIXED - 12) / PT_INDEX_ENTRY_LEN) {
		rc = pt__err(PT_ECORRUPT, "%s @%llu: segment footer batch count disagrees with its size", path,
			     (unsigned long long)off);
		goto fail;
	}
	out->events = pt__get_u64(d + 16);
	out->first_seq = pt__get_u64(d + 24);
	out->last_seq = pt__get_u64(d + 32);
	out->step_min = (int64_t)pt__get_u64(d + 40);
	out->step_max = (int64_t)pt__get_u64(d + 48);
	out->time_min = (int64_t)pt__get_u64(d + 56);
	out->time_max = (int64_t)pt__get_u64(d + 64);
	out->raw_bytes = pt__get_u64(d + 72);
	memcpy(out->prev, d + 80, PT_SHA256_LEN);
	out->offset = off;
	/* every field of every entry is set below: no zeroing of a few MiB */
	out->entries = pt__malloc((out->batches ? out->batches : 1) * sizeof *out->entries);
	if (!out->entries) {
		rc = PT_ENOMEM;
		goto fail;
	}
	const uint8_t *e = d + PT_FOOTER_FIXED;
	uint64_t prev_end = 0;
	for (uint64_t i = 0; i < out->batches; i++, e += PT_INDEX_ENTRY_LEN) {
		pt__index_entry *x = &out->entries[i];
		x->offset = pt__get_u64(e);
		x->first_seq = pt__get_u64(e + 8);
		x->count = pt__get_u32(e + 16);
		x->step_min = (int64_t)pt__get_u64(e + 24);
		x->step_max = (int64_t)pt__get_u64(e + 32);
		x->time_min = (int64_t)pt__get_u64(e + 40);
		x->time_max = (int64_t)pt__get_u64(e + 48);
		if (x->offset + PT_BATCH_FRAME_LEN > off || x->offset < prev_end || x->count == 0 ||
		    (i && x->first_seq != out->entries[i - 1].first_seq + out->entries[i - 1].count)) {
			rc = pt__err(PT_ECORRUPT, "%s @%llu: segment index entry %llu is inconsistent", path,
				     (unsigned long long)(off + 8 + PT_FOOTER_FIXED + i * PT_INDEX_ENTRY_LEN),
				     (unsigned long long)i);
			goto fail;
		}
		prev_end = x->offset + PT_BATCH_FRAME_LEN;
	}
	pt__free(buf);
	return 0;
fail:
	pt__free(buf);
	pt__footer_free(out);
	return rc;
}

void pt__footer_free(pt__footer *f)
{
	pt__free(f->entries);
	f->entries = NULL;
}

int pt__scan_batch(int fd, uint64_t file_size, uint64_t *off, pt__batch_header *h, pt__buf *payload)
{
	return pt__scan_batch_at(fd, 0, file_size, off, h, payload);
}

int pt__scan_batch_at(int fd, uint64_t base, uint64_t file_size, uint64_t *off, pt__batch_header *h,
		      pt__buf *payload)
{
	uint64_t o = *off;
	if (o == file_size)
		return PT_SCAN_END;
	if (o + 8 > file_size)
		return PT_SCAN_TORN;
	uint8_t hb[PT_BATCH_FRAME_LEN];
	int rc = pt__pread_all(fd, hb, 8, base + o, "segment");
	if (rc)
		return rc;
	uint32_t magic = pt__get_u32(hb);
	if (magic == PT_SKIP_FOOTER)
		return PT_SCAN_FOOTER;
	if (magic != PT_SKIP_BATCH || pt__get_u32(hb + 4) != PT_BATCH_HDR_LEN)
		return PT_SCAN_BAD;
	if (o + PT_BATCH_FRAME_LEN > file_size)
		return PT_SCAN_TORN;
	if ((rc = pt__pread_all(fd, hb + 8, PT_BATCH_HDR_LEN, base + o + 8, "segment")))
		return rc;
	if (pt__batch_header_decode(hb, h))
		return PT_SCAN_BAD;
	if (o + PT_BATCH_FRAME_LEN + h->payload_len > file_size)
		return PT_SCAN_TORN;
	if (payload) {
		payload->len = 0;
		if ((rc = pt__buf_reserve(payload, h->payload_len)))
			return rc;
		if ((rc = pt__pread_all(fd, payload->data, h->payload_len, base + o + PT_BATCH_FRAME_LEN, "segment")))
			return rc;
		payload->len = h->payload_len;
		if (pt__crc32c(0, payload->data, h->payload_len) != h->payload_crc)
			return PT_SCAN_BAD;
	}
	*off = o + PT_BATCH_FRAME_LEN + h->payload_len;
	return PT_SCAN_BATCH;
}

int pt__find_batch_after(int fd, uint64_t file_size, uint64_t from, uint64_t *at)
{
	enum { CH = 1 << 16 };
	uint8_t *buf = pt__malloc(CH + PT_BATCH_FRAME_LEN);
	if (!buf)
		return PT_ENOMEM;
	int found = 0;
	for (uint64_t pos = from + 1; pos + PT_BATCH_FRAME_LEN <= file_size && !found; pos += CH) {
		size_t n = (size_t)(file_size - pos < CH + PT_BATCH_FRAME_LEN ? file_size - pos : CH + PT_BATCH_FRAME_LEN);
		if (pt__pread_all(fd, buf, n, pos, "segment"))
			break;
		for (size_t i = 0; i + PT_BATCH_FRAME_LEN <= n && i < CH; i++) {
			if (buf[i] != 0x51 || buf[i + 1] != 0x2A || buf[i + 2] != 0x4D || buf[i + 3] != 0x18)
				continue;
			pt__batch_header h;
			if (!pt__batch_header_decode(buf + i, &h)) {
				*at = pos + i;
				found = 1;
				break;
			}
		}
	}
	pt__free(buf);
	return found;
}

/* ---- chain ---- */
#define CHAIN_MAGIC "provtrace-chain 1\n"
#define CHAIN_MAX (256u << 20)

static void fmt_step(char *b, size_t n, int64_t s)
{
	if (s == PT_NO_STEP)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%lld", (long long)s);
}

static int parse_step(const char *s, int64_t *out)
{
	if (!strcmp(s, "-")) {
		*out = PT_NO_STEP;
		return 0;
	}
	char *e;
	errno = 0;
	long long v = strtoll(s, &e, 10);
	if (errno || *e)
		return -1;
	*out = v;
	return 0;
}

int pt__chain_load(const char *stream_dir, pt__chain *out)
{
	memset(out, 0, sizeof *out);
	char *path = pt__sprintf("%s/chain", stream_dir);
	if (!path)
		return PT_ENOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;
	char *root = pt__stream_root(stream_dir);
	if (!root) {
		rc = PT_ENOMEM;
		goto done;
	}
	rc = pt__read_file_in(root, path, CHAIN_MAX, &data, &len);
	pt__free(root);
	if (rc == PT_ENOTFOUND) {
		pt__err_clear();
		rc = 0; /* no chain yet */
		goto done;
	}
	if (rc)
		goto done;
	size_t ml = strlen(CHAIN_MAGIC);
	if (len < ml || memcmp(data, CHAIN_MAGIC, ml)) {
		rc = pt__err(PT_ECORRUPT, "%s @0: not a chain file (bad first line)", path);
		goto done;
	}
	char *s = (char *)data + ml, *end = (char *)data + len;
	uint64_t lineno = 1;
	uint32_t crc_run = pt__crc32c(0, data, ml);
	for (;;) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		lineno++;
		if (!nl) {
			rc = pt__err(PT_ECORRUPT, "%s @%zu: chain file is truncated (no \"end\" line)", path,
				     (size_t)(s - (char *)data));
			goto done;
		}
		bool is_end = !strncmp(s, "end ", 4);
		if (!is_end)
			crc_run = pt__crc32c(crc_run, s, (size_t)(nl - s) + 1);
		*nl = 0;
		if (is_end) {
			unsigned long long cnt;
			unsigned crc;
			char extra;
			if (sscanf(s + 4, "%llu %8x%c", &cnt, &crc, &extra) != 2 || cnt != out->n) {
				rc = pt__err(PT_ECORRUPT, "%s line %llu: malformed end line", path, (unsigned long long)lineno);
				goto done;
			}
			if (crc_run != crc) {
				rc = pt__err(PT_ECORRUPT, "%s: chain file checksum mismatch", path);
				goto done;
			}
			if (nl + 1 != end) {
				rc = pt__err(PT_ECORRUPT, "%s @%zu: bytes after the end line", path,
					     (size_t)(nl + 1 - (char *)data));
				goto done;
			}
			break;
		}
		pt__chain_entry e;
		char idhex[80], smin[32], smax[32];
		unsigned long long segno, fs, ls, ev, by, rb;
		long long tmin, tmax;
		char extra;
		if (sscanf(s, "%llu %70s %llu %llu %llu %30s %30s %lld %lld %llu %llu%c", &segno, idhex, &fs, &ls, &ev, smin,
			   smax, &tmin, &tmax, &by, &rb, &extra) != 11 ||
		    strlen(idhex) != 64 || pt__unhex(idhex, e.id, PT_SHA256_LEN) || parse_step(smin, &e.step_min) ||
		    parse_step(smax, &e.step_max)) {
			rc = pt__err(PT_ECORRUPT, "%s line %llu: malformed segment line", path, (unsigned long long)lineno);
			goto done;
		}
		e.segno = segno;
		e.first_seq = fs;
		e.last_seq = ls;
		e.events = ev;
		e.time_min = tmin;
		e.time_max = tmax;
		e.bytes = by;
		e.raw_bytes = rb;
		if ((rc = pt__chain_append(out, &e)))
			goto done;
		s = nl + 1;
	}
done:
	if (rc)
		pt__chain_free(out);
	pt__free(data);
	pt__free(path);
	return rc;
}

int pt__chain_append(pt__chain *c, const pt__chain_entry *e)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		pt__chain_entry *v = pt__realloc(c->v, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		c->v = v;
		c->cap = nc;
	}
	c->v[c->n++] = *e;
	return 0;
}

int pt__chain_store(const char *stream_dir, const pt__chain *c)
{
	pt__buf b = {0};
	int rc = pt__buf_append(&b, CHAIN_MAGIC, strlen(CHAIN_MAGIC));
	for (size_t i = 0; !rc && i < c->n; i++) {
		const pt__chain_entry *e = &c->v[i];
		char hex[PT_SHA256_HEX], smin[32], smax[32];
		pt__hex(e->id, PT_SHA256_LEN, hex);
		fmt_step(smin, sizeof smin, e->step_min);
		fmt_step(smax, sizeof smax, e->step_max);
		rc = pt__buf_printf(&b, "%llu %s %llu %llu %llu %s %s %lld %lld %llu %llu\n", (unsigned long long)e->segno, hex,
				    (unsigned long long)e->first_seq, (unsigned long long)e->last_seq,
				    (unsigned long long)e->events, smin, smax, (long long)e->time_min,
				    (long long)e->time_max, (unsigned long long)e->bytes, (unsigned long long)e->raw_bytes);
	}
	if (!rc)
		rc = pt__buf_printf(&b, "end %zu %08x\n", c->n, pt__crc32c(0, b.data, b.len));
	char *path = rc ? NULL : pt__sprintf("%s/chain", stream_dir);
	if (!rc && !path)
		rc = PT_ENOMEM;
	char *root = rc ? NULL : pt__stream_root(stream_dir);
	if (!rc && !root)
		rc = PT_ENOMEM;
	if (!rc)
		rc = pt__atomic_write_in(root, path, b.data, b.len, 0644);
	pt__free(root);
	pt__free(path);
	pt__buf_free(&b);
	return rc;
}

void pt__chain_free(pt__chain *c)
{
	pt__free(c->v);
	memset(c, 0, sizeof *c);
}

size_t pt__chain_find_seq(const pt__chain *c, uint64_t seq)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->v[mid].last_seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

char *pt__segment_path(const char *stream_dir, const uint8_t id[PT_SHA256_LEN])
{
	char hex[PT_SHA256_HEX];
	pt__hex(id, PT_SHA256_LEN, hex);
	return pt__sprintf("%s/segments/%s%s", stream_dir, hex, PT_SEG_SUFFIX);
}

bool pt__id_is_zero(const uint8_t id[PT_SHA256_LEN]) { return !memcmp(id, zero_id, PT_SHA256_LEN); }

/* ---- scanning an open segment ---- */
static int scan_add(pt__openseg_result *s, uint64_t off, const pt__batch_header *h)
{
	if (s->n == s->cap) {
		uint64_t nc = s->cap ? s->cap * 2 : 64;
		pt__index_entry *v = pt__realloc(s->entries, nc * sizeof *v);
		if (!v)
			return PT_ENOMEM;
		s->entries = v;
		s->cap = nc;
	}
	pt__index_entry *e = &s->entries[s->n++];
	e->offset = off;
	e->first_seq = h->first_seq;
	e->count = h->count;
	e->step_min = h->step_min;
	e->step_max = h->step_max;
	e->time_min = h->time_min;
	e->time_max = h->time_max;
	s->events += h->count;
	s->raw_bytes += h->raw_len;
	if (h->step_min != PT_NO_STEP) {
		if (s->step_min == PT_NO_STEP || h->step_min < s->step_min)
			s->step_min = h->step_min;
		if (s->step_max == PT_NO_STEP || h->step_max > s->step_max)
			s->step_max = h->step_max;
	}
	if (s->n == 1 || h->time_min < s->time_min)
		s->time_min = h->time_min;
	if (s->n == 1 || h->time_max > s->time_max)
		s->time_max = h->time_max;
	s->next_seq = h->first_seq + h->count;
	return 0;
}

/*
 * The open segment is read in large blocks: a stream flushed every few events
 * holds tens of thousands of small batches, and one pread per header and per
 * payload made reopening after a crash cost O(batches) system calls (0.5 s
 * for 20 000 batches).  One block read serves many batches; a batch larger
 * than a block gets a buffer of its own size.
 */
#define SCAN_BLOCK (4u << 20)

typedef struct {
	int fd;
	const char *path;
	uint64_t size; /* of the file */
	uint8_t *buf;
	size_t cap, len;
	uint64_t off; /* file offset of buf[0] */
} blkrd;

/* Bytes [off, off + n) of the file (n <= size - off), valid until the next call. */
static int blk_get(blkrd *b, uint64_t off, size_t n, const uint8_t **out)
{
	if (off >= b->off && off + n <= b->off + b->len) {
		*out = b->buf + (off - b->off);
		return 0;
	}
	size_t want = n > SCAN_BLOCK ? n : SCAN_BLOCK;
	if (want > b->size - off)
		want = (size_t)(b->size - off);
	if (want > b->cap) {
		uint8_t *nb = pt__realloc(b->buf, want);
		if (!nb)
			return PT_ENOMEM;
		b->buf = nb;
		b->cap = want;
	}
	b->len = 0;
	int rc = pt__pread_all(b->fd, b->buf, want, off, b->path);
	if (rc)
		return rc;
	b->off = off;
	b->len = want;
	*out = b->buf;
	return 0;
}

/* pt__scan_batch_at over the block reader; *frame: the whole batch (frame + payload). */
static int blk_scan_batch(blkrd *b, uint64_t *off, pt__batch_header *h, const uint8_t **frame)
{
	uint64_t o = *off;
	const uint8_t *p;
	int rc;
	if (o == b->size)
		return PT_SCAN_END;
	if (o + 8 > b->size)
		return PT_SCAN_TORN;
	if ((rc = blk_get(b, o, 8, &p)))
		return rc;
	uint32_t magic = pt__get_u32(p);
	if (magic == PT_SKIP_FOOTER)
		return PT_SCAN_FOOTER;
	if (magic != PT_SKIP_BATCH || pt__get_u32(p + 4) != PT_BATCH_HDR_LEN)
		return PT_SCAN_BAD;
	if (o + PT_BATCH_FRAME_LEN > b->size)
		return PT_SCAN_TORN;
	if ((rc = blk_get(b, o, PT_BATCH_FRAME_LEN, &p)))
		return rc;
	if (pt__batch_header_decode(p, h))
		return PT_SCAN_BAD;
	uint64_t total = PT_BATCH_FRAME_LEN + (uint64_t)h->payload_len;
	if (o + total > b->size)
		return PT_SCAN_TORN;
	if ((rc = blk_get(b, o, (size_t)total, &p)))
		return rc;
	if (pt__crc32c(0, p + PT_BATCH_FRAME_LEN, h->payload_len) != h->payload_crc)
		return PT_SCAN_BAD;
	*frame = p;
	*off = o + total;
	return PT_SCAN_BATCH;
}

int pt__openseg_scan(int fd, const char *path, pt__openseg_result *s) { return pt__openseg_scan_hash(fd, path, NULL, s); }

int pt__openseg_scan_hash(int fd, const char *path, pt__sha256_ctx *sha, pt__openseg_result *s)
{
	memset(s, 0, sizeof *s);
	s->step_min = s->step_max = PT_NO_STEP;
	s->tail = PT_SCAN_END;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return pt__err_errno(errno, "cannot seek %s", path);
	s->file_size = (uint64_t)end;
	int rc = pt__seg_header_read(fd, s->file_size, path, &s->hdr);
	if (rc == PT_ECORRUPT) {
		/* A header shorter than its fixed part, at the very start of the
		 * file, is a crash during creation: the whole file is a torn tail. */
		s->tail = s->file_size < 8 + 64 + 4 ? PT_SCAN_TORN : PT_SCAN_BAD;
		snprintf(s->why, sizeof s->why, "%s", pt_error_last());
		if (s->tail == PT_SCAN_BAD) {
			uint64_t at;
			if (pt__find_batch_after(fd, s->file_size, 0, &at) == 1)
				s->bad_next = at;
			else
				s->tail = PT_SCAN_TORN;
		}
		return 0;
	}
	if (rc)
		return rc;
	s->hdr_ok = true;
	s->next_seq = s->hdr.first_seq;
	uint64_t off = s->hdr.frame_len;
	s->valid_end = off;
	blkrd b = {fd, path, s->file_size, NULL, 0, 0, 0};
	if (sha) {
		const uint8_t *p;
		if ((rc = blk_get(&b, 0, (size_t)off, &p)))
			goto done;
		pt__sha256_update(sha, p, (size_t)off);
	}
	for (;;) {
		pt__batch_header h;
		uint64_t at = off;
		const uint8_t *frame = NULL;
		int r = blk_scan_batch(&b, &off, &h, &frame);
		if (r < 0) {
			rc = r;
			goto done;
		}
		if (r == PT_SCAN_BATCH && h.first_seq != s->next_seq) {
			snprintf(s->why, sizeof s->why, "batch at offset %llu starts at seq %llu, expected %llu",
				 (unsigned long long)at, (unsigned long long)h.first_seq, (unsigned long long)s->next_seq);
			s->tail = PT_SCAN_BAD;
			s->bad_next = at; /* a valid batch out of sequence is damage, never a torn tail */
			break;
		}
		if (r == PT_SCAN_BATCH) {
			if ((rc = scan_add(s, at, &h)))
				goto done;
			if (sha)
				pt__sha256_update(sha, frame, (size_t)(off - at));
			s->valid_end = off;
			continue;
		}
		s->tail = (pt__scan_result)r;
		if (r == PT_SCAN_TORN)
			snprintf(s->why, sizeof s->why, "incomplete batch at offset %llu (file ends at %llu)",
				 (unsigned long long)at, (unsigned long long)s->file_size);
		if (r == PT_SCAN_BAD) {
			snprintf(s->why, sizeof s->why, "invalid batch at offset %llu (checksum or structure)",
				 (unsigned long long)at);
			uint64_t nx;
			int f = pt__find_batch_after(fd, s->file_size, at, &nx);
			if (f < 0) {
				rc = f;
				goto done;
			}
			if (f == 1)
				s->bad_next = nx;
			else
				s->tail = PT_SCAN_TORN; /* nothing valid after it: a torn write */
		}
		break;
	}
done:
	pt__free(b.buf);
	return rc;
}

void pt__openseg_scan_free(pt__openseg_result *s)
{
	pt__free(s->entries);
	s->entries = NULL;
}
