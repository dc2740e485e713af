/*
 * test_checkpoint.c - objects, checkpoints (write, read back, dedup, async),
 * verification and gc. Each case runs in a fresh temporary store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "checkpoint/checkpoint_int.h"
#include "format/objects_int.h"
#include "base/shuffle_int.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixtures ------------------------------------------------------------------------ */

typedef struct {
	char dir[256];
	char store_path[300];
	pt_store *st;
	pt_recorder *rec;
	pt_checkpointer *cw;
	pt_checkpoint *ck;
} fx;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s/pt-ckpt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store_path, sizeof f->store_path, "%s/store", f->dir);
	if (pt_store_init(&f->st, f->store_path))
		return -1;
	if (pt_checkpoint_new(&f->ck))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	pt_checkpointer_close(f->cw);
	pt_recorder_close(f->rec);
	pt_checkpoint_free(f->ck);
	pt_store_free(f->st);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static pt_checkpoint_options small_opts(void)
{
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	o.chunk_size = 64u << 10; /* small pieces: many chunks from small tensors */
	o.cdc_avg = 16u << 10;
	o.threads = 2;
	return o;
}

static void open_writer(fx *f, const pt_checkpoint_options *o)
{
	if (!o->no_event && !f->rec)
		assert_int_equal(pt_recorder_open(&f->rec, f->st, "run1", NULL, NULL), 0);
	assert_int_equal(pt_checkpointer_open(&f->cw, f->st, f->rec, o), 0);
}

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

/* float32 "weights": normal-ish, std 0.02 */
static void fill_weights(float *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (int k = 0; k < 4; k++)
			s += (double)(rnd() & 0xffff) / 65536.0;
		w[i] = (float)((s - 2.0) * 0.0346);
	}
}

static void read_entry(pt_checkpoint_reader *rd, const char *name, uint8_t **out, size_t *len)
{
	size_t idx;
	assert_int_equal(pt_checkpoint_reader_find(rd, name, &idx), 0);
	pt_checkpoint_entry e;
	assert_int_equal(pt_checkpoint_reader_entry(rd, idx, &e), 0);
	*len = (size_t)e.size;
	*out = malloc(*len + 1);
	assert_int_equal(pt_checkpoint_reader_read(rd, idx, *out, *len), 0);
}

static void expect_entry(pt_checkpoint_reader *rd, const char *name, const void *want, size_t len)
{
	uint8_t *got;
	size_t glen;
	read_entry(rd, name, &got, &glen);
	assert_int_equal(glen, len);
	if (len)
		assert_memory_equal(got, want, len);
	free(got);
}

/* Path of the object holding chunk `k` of entry `name` in manifest `hex`. */
static char *chunk_path(fx *f, const char *hex, const char *name, uint32_t k)
{
	uint8_t id[32];
	assert_int_equal(pt__unhex(hex, id, 32), 0);
	pt__manifest m;
	assert_int_equal(pt__manifest_load(&m, f->st, id), 0);
	char *p = NULL;
	for (uint32_t i = 0; i < m.count; i++)
		if (!strcmp(m.e[i].name, name)) {
			assert_true(k < m.e[i].next);
			p = pt__object_path(f->st, m.e[i].ext[k].id);
		}
	pt__manifest_clear(&m);
	assert_non_null(p);
	return p;
}

static void flip_byte(const char *path, long from_end)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	off_t off = sb.st_size - from_end;
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static size_t count_files(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[1024];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			n += count_files(p);
		else if (strcmp(de->d_name, "gc.lock"))
			n++;
	}
	closedir(d);
	return n;
}

static size_t count_objects(fx *f)
{
	char p[512];
	snprintf(p, sizeof p, "%s/objects", f->store_path);
	return count_files(p);
}

/* ---- objects --------------------------------------------------------------------------- */

static void test_object_put_get_roundtrip(void **state)
{
	fx *f = *state;
	uint8_t big[100000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i % 251 < 100 ? 7 : i);
	uint8_t id[32], id2[32], *out;
	size_t len;
	assert_int_equal(pt__object_put(f->st, big, sizeof big, id), 0);
	assert_int_equal(pt__object_exists(f->st, id), 1);
	/* a second put is a no-op with the same id */
	assert_int_equal(pt__object_put(f->st, big, sizeof big, id2), 0);
	assert_memory_equal(id, id2, 32);
	uint8_t want[32];
	pt__sha256(big, sizeof big, want);
	assert_memory_equal(id, want, 32);
	assert_int_equal(pt__object_get(f->st, id, &out, &len), 0);
	assert_int_equal(len, sizeof big);
	assert_memory_equal(out, big, len);
	pt_free(out);
	/* compressible data is stored compressed */
	uint64_t plain, stored;
	assert_int_equal(pt__object_stat(f->st, id, &plain, &stored), 0);
	assert_true(stored < plain);
	/* empty and incompressible objects */
	assert_int_equal(pt__object_put(f->st, "", 0, id), 0);
	assert_int_equal(pt__object_get(f->st, id, &out, &len), 0);
	assert_int_equal(len, 0);
	pt_free(out);
	uint8_t rnd_bytes[5000];
	fill_random(rnd_bytes, sizeof rnd_bytes);
	assert_int_equal(pt__object_put(f->st, rnd_bytes, sizeof rnd_bytes, id), 0);
	assert_int_equal(pt__object_stat(f->st, id, &plain, &stored), 0);
	assert_int_equal(stored, plain + PT_OBJECT_HEADER_LEN); /* raw */
	assert_int_equal(pt__object_get(f->st, id, &out, &len), 0);
	assert_memory_equal(out, rnd_bytes, sizeof rnd_bytes);
	pt_free(out);
}

static void test_object_missing_and_corrupt(void **state)
{
	fx *f = *state;
	uint8_t id[32], *out = NULL;
	size_t len;
	memset(id, 0xab, 32);
	assert_int_equal(pt__object_exists(f->st, id), 0);
	assert_int_equal(pt__object_get(f->st, id, &out, &len), PT_ENOTFOUND);
	assert_non_null(strstr(pt_error_last(), "abababab"));

	const char *text = "a text object that compresses: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	assert_int_equal(pt__object_put(f->st, text, strlen(text), id), 0);
	char *path = pt__object_path(f->st, id);
	flip_byte(path, 6); /* inside the zstd frame */
	assert_int_equal(pt__object_get(f->st, id, &out, &len), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), path));
	/* a header that claims a huge size is refused before any allocation */
	uint8_t hdr[PT_OBJECT_HEADER_LEN];
	int fd = open(path, O_RDWR);
	assert_int_equal(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
	pt__put_u64(hdr + 16, (uint64_t)1 << 50);
	pt__put_u32(hdr + 24, pt__crc32c(0, hdr + 8, 16));
	assert_int_equal(pwrite(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
	assert_int_equal(pt__object_get(f->st, id, &out, &len), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "limit"));
	/* truncated to less than a header */
	assert_int_equal(ftruncate(fd, 10), 0);
	close(fd);
	assert_int_equal(pt__object_get(f->st, id, &out, &len), PT_ECORRUPT);
	pt__free(path);
}

/* ---- round trips --------------------------------------------------------------------------- */

static void test_every_dtype_bit_exact(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	static const pt_dtype all[] = {PT_DTYPE_BOOL, PT_DTYPE_U8,  PT_DTYPE_I8,  PT_DTYPE_U16, PT_DTYPE_I16,
				       PT_DTYPE_U32,  PT_DTYPE_I32, PT_DTYPE_U64, PT_DTYPE_I64, PT_DTYPE_F16,
				       PT_DTYPE_BF16, PT_DTYPE_F32, PT_DTYPE_F64};
	static const uint64_t counts[] = {0, 1, 7, 1001, 70001}; /* 70001: crosses chunk boundaries */
	uint8_t *bufs[13][5];
	for (size_t d = 0; d < 13; d++)
		for (size_t c = 0; c < 5; c++) {
			size_t es = pt_dtype_size(all[d]), len = es * counts[c];
			bufs[d][c] = malloc(len + 1);
			if (all[d] == PT_DTYPE_F32) {
				fill_weights((float *)bufs[d][c], counts[c]);
				if (counts[c] > 3) { /* NaN payloads and signed zero survive */
					uint32_t nan = 0x7fc01234u, nz = 0x80000000u;
					memcpy(bufs[d][c], &nan, 4);
					memcpy(bufs[d][c] + 4, &nz, 4);
				}
			} else if (all[d] == PT_DTYPE_BOOL) {
				for (size_t i = 0; i < len; i++)
					bufs[d][c][i] = (uint8_t)(rnd() & 1);
			} else {
				fill_random(bufs[d][c], len);
			}
			char name[64];
			snprintf(name, sizeof name, "t.%s.%llu", pt_dtype_name(all[d]), (unsigned long long)counts[c]);
			uint64_t shape[2] = {counts[c], 1};
			assert_int_equal(pt_checkpoint_add_tensor(f->ck, name, all[d], c % 2 ? 2 : 1, shape,
								  bufs[d][c], len), 0);
		}
	pt_checkpoint_info info;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 100, &info), 0);
	assert_int_equal(info.tensors, 65);
	assert_int_equal(pt_recorder_flush(f->rec), 0);

	pt_checkpoint_info found;
	assert_int_equal(pt_checkpoint_find(&found, f->st, "run1", NULL, 100), 0);
	assert_string_equal(found.manifest, info.manifest);
	assert_int_equal(found.step, 100);
	assert_int_equal(found.tensors, 65);
	assert_int_equal(found.logical_bytes, info.logical_bytes);
	assert_int_equal(pt_checkpoint_find(&found, f->st, "run1", NULL, 99), PT_ENOTFOUND);

	pt_checkpoint_reader *rd;
	if (pt_checkpoint_reader_open(&rd, f->st, found.manifest)) fail_msg("%s", pt_error_last());
	assert_int_equal(pt_checkpoint_reader_count(rd), 65);
	for (size_t d = 0; d < 13; d++)
		for (size_t c = 0; c < 5; c++) {
			char name[64];
			snprintf(name, sizeof name, "t.%s.%llu", pt_dtype_name(all[d]), (unsigned long long)counts[c]);
			size_t idx;
			assert_int_equal(pt_checkpoint_reader_find(rd, name, &idx), 0);
			pt_checkpoint_entry e;
			assert_int_equal(pt_checkpoint_reader_entry(rd, idx, &e), 0);
			assert_int_equal(e.type, PT_ENTRY_TENSOR);
			assert_int_equal(e.dtype, all[d]);
			assert_int_equal(e.ndim, c % 2 ? 2 : 1);
			assert_int_equal(e.shape[0], counts[c]);
			expect_entry(rd, name, bufs[d][c], pt_dtype_size(all[d]) * counts[c]);
			free(bufs[d][c]);
		}
	/* a buffer too small is refused, not overrun */
	size_t idx;
	uint8_t small[4];
	assert_int_equal(pt_checkpoint_reader_find(rd, "t.f64.1001", &idx), 0);
	assert_int_equal(pt_checkpoint_reader_read(rd, idx, small, sizeof small), PT_ELIMIT);
	pt_checkpoint_reader_free(rd);
}

static void test_odd_sizes_and_blobs(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	char path[512];
	snprintf(path, sizeof path, "%s/blob.bin", f->dir);
	size_t flen = 3 * (64u << 10) + 17; /* not a multiple of anything */
	uint8_t *fdata = malloc(flen);
	fill_random(fdata, flen);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(fdata, 1, flen, fp), flen);
	fclose(fp);
	char empty_path[512];
	snprintf(empty_path, sizeof empty_path, "%s/empty.bin", f->dir);
	fp = fopen(empty_path, "wb");
	fclose(fp);

	uint8_t one = 0x5a;
	size_t ulen = (64u << 10) + 1; /* one byte more than a chunk */
	uint8_t *u = malloc(ulen);
	fill_random(u, ulen);
	uint64_t zshape[2] = {0, 3}, ushape[1] = {ulen};
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "empty", NULL, 0), 0);
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "one", &one, 1), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "zero", PT_DTYPE_F32, 2, zshape, NULL, 0), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "scalar", PT_DTYPE_U8, 0, NULL, &one, 1), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "u", PT_DTYPE_U8, 1, ushape, u, ulen), 0);
	assert_int_equal(pt_checkpoint_add_file(f->ck, "file", path), 0);
	assert_int_equal(pt_checkpoint_add_file(f->ck, "emptyfile", empty_path), 0);
	/* bad input is refused with a message */
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "one", &one, 1), PT_EEXISTS);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "bad", PT_DTYPE_F32, 1, ushape, u, ulen), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "bad"));
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "bad", (pt_dtype)99, 1, ushape, u, ulen), PT_EINVAL);
	assert_int_equal(pt_checkpoint_add_file(f->ck, "nofile", "/nonexistent/x"), PT_ENOTFOUND);
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "", &one, 1), PT_EINVAL);

	pt_checkpoint_info info;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 5, &info), 0);
	assert_int_equal(info.tensors, 3);
	assert_int_equal(info.blobs, 4);
	assert_int_equal(info.logical_bytes, 1 + 1 + ulen + flen);

	pt_checkpoint_reader *rd;
	if (pt_checkpoint_reader_open(&rd, f->st, info.manifest)) fail_msg("%s", pt_error_last());
	expect_entry(rd, "empty", NULL, 0);
	expect_entry(rd, "one", &one, 1);
	expect_entry(rd, "zero", NULL, 0);
	expect_entry(rd, "scalar", &one, 1);
	expect_entry(rd, "u", u, ulen);
	expect_entry(rd, "file", fdata, flen);
	expect_entry(rd, "emptyfile", NULL, 0);
	/* streaming to a file descriptor gives the same bytes */
	char out[512];
	snprintf(out, sizeof out, "%s/out.bin", f->dir);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t idx;
	assert_int_equal(pt_checkpoint_reader_find(rd, "file", &idx), 0);
	assert_int_equal(pt_checkpoint_reader_read_fd(rd, idx, fd), 0);
	close(fd);
	uint8_t *back;
	size_t blen;
	assert_int_equal(pt__read_file(out, flen + 1, &back, &blen), 0);
	assert_int_equal(blen, flen);
	assert_memory_equal(back, fdata, flen);
	pt__free(back);
	assert_int_equal(pt_checkpoint_reader_find(rd, "nope", &idx), PT_ENOTFOUND);
	pt_checkpoint_reader_free(rd);
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, "xyz"), PT_EINVAL);
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st,
		"0000000000000000000000000000000000000000000000000000000000000000"), PT_ENOTFOUND);
	free(u);
	free(fdata);
}

/* ---- dedup ------------------------------------------------------------------------------------ */

static void test_dedup_only_changed_tensors_stored(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	enum { N = 10, ELEMS = 50000 }; /* 200 KB each: 4 chunks of 64 KiB */
	float *w[N];
	for (int i = 0; i < N; i++) {
		w[i] = malloc(ELEMS * sizeof(float));
		fill_weights(w[i], ELEMS);
		char name[32];
		snprintf(name, sizeof name, "layer%d.weight", i);
		uint64_t shape[1] = {ELEMS};
		assert_int_equal(pt_checkpoint_add_tensor(f->ck, name, PT_DTYPE_F32, 1, shape, w[i],
							  ELEMS * sizeof(float)), 0);
	}
	pt_checkpoint_info a, b, c;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 1, &a), 0);
	assert_int_equal(a.new_chunks, a.chunks);
	assert_true(a.new_bytes < a.logical_bytes); /* float shuffle + zstd shrinks weights */
	/* identical second checkpoint: nothing but the (same) manifest */
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 2, &b), 0);
	assert_int_equal(b.new_chunks, 0);
	assert_int_equal(b.new_bytes, 0);
	assert_string_equal(a.manifest, b.manifest);
	/* two tensors change */
	fill_weights(w[3], ELEMS);
	w[7][0] += 1.0f;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 3, &c), 0);
	/* layer3: all 4 chunks, layer7: its first chunk only */
	assert_int_equal(c.new_chunks, 5);
	assert_true(c.new_bytes < a.new_bytes / 2);
	assert_true(c.new_bytes > 0);
	pt_checkpoint_reader *rd;
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, c.manifest), 0);
	expect_entry(rd, "layer7.weight", w[7], ELEMS * sizeof(float));
	expect_entry(rd, "layer3.weight", w[3], ELEMS * sizeof(float));
	pt_checkpoint_reader_free(rd);
	for (int i = 0; i < N; i++)
		free(w[i]);
}

/* Codec byte (offset 13) of the object file holding entry `name`'s first chunk. */
static int first_chunk_codec(fx *f, const char *manifest, const char *name)
{
	uint8_t mid[32];
	assert_int_equal(pt__unhex(manifest, mid, 32), 0);
	pt__manifest m;
	assert_int_equal(pt__manifest_load(&m, f->st, mid), 0);
	int codec = -1;
	for (uint32_t i = 0; i < m.count; i++) {
		if (strcmp(m.e[i].name, name))
			continue;
		char *p = pt__object_path(f->st, m.e[i].ext[0].id);
		FILE *fp = fopen(p, "rb");
		assert_non_null(fp);
		uint8_t h[28];
		assert_int_equal(fread(h, 1, sizeof h, fp), sizeof h);
		fclose(fp);
		codec = h[13];
		pt__free(p);
	}
	pt__manifest_clear(&m);
	return codec;
}

/* A chunk whose sample does not compress is stored raw without compressing it whole;
 * compressible chunks still are compressed; both read back. */
static void test_incompressible_chunks_stored_raw(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	open_writer(f, &o);
	size_t n = 1u << 20;
	uint8_t *noise = malloc(n), *zeros = calloc(1, n);
	float *w = malloc(n);
	fill_random(noise, n);
	fill_weights(w, n / sizeof(float));
	uint64_t s8[1] = {n}, s32[1] = {n / sizeof(float)};
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "noise", PT_DTYPE_U8, 1, s8, noise, n), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "zeros", PT_DTYPE_U8, 1, s8, zeros, n), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "w", PT_DTYPE_F32, 1, s32, w, n), 0);
	/* the sample decides: random first 128 KiB, zeros after - raw, though zstd of the whole
	 * chunk would shrink it (the price of not compressing every byte to find out) */
	uint8_t *head = calloc(1, n);
	fill_random(head, 128u << 10);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "noisy-head", PT_DTYPE_U8, 1, s8, head, n), 0);
	pt_checkpoint_info a;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 1, &a), 0);
	assert_int_equal(first_chunk_codec(f, a.manifest, "noise"), PT_OBJECT_CODEC_RAW);
	assert_int_equal(first_chunk_codec(f, a.manifest, "zeros"), PT_OBJECT_CODEC_ZSTD);
	assert_int_equal(first_chunk_codec(f, a.manifest, "w"), PT_OBJECT_CODEC_ZSTD);
	assert_int_equal(first_chunk_codec(f, a.manifest, "noisy-head"), PT_OBJECT_CODEC_RAW);
	pt_checkpoint_reader *rd;
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, a.manifest), 0);
	expect_entry(rd, "noise", noise, n);
	expect_entry(rd, "zeros", zeros, n);
	expect_entry(rd, "w", w, n);
	expect_entry(rd, "noisy-head", head, n);
	pt_checkpoint_reader_free(rd);
	free(head);
	free(noise);
	free(zeros);
	free(w);
}

static void test_dedup_blob_changed_middle_region(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts(); /* cdc average 16 KiB, max 64 KiB */
	open_writer(f, &o);
	size_t len = 4u << 20;
	uint8_t *blob = malloc(len + 100);
	fill_random(blob, len);
	pt_checkpoint_info a, b, c;
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "model.pt", blob, len), 0);
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 1, &a), 0);
	assert_true(a.chunks > 32);
	/* overwrite 4 KiB in the middle */
	fill_random(blob + len / 2, 4096);
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 2, &b), 0);
	assert_true(b.new_chunks <= 3);
	assert_true(b.new_bytes < 3 * (64u << 10) + 16384);
	/* insert 100 bytes in the middle: only the chunks around it change */
	pt_checkpoint_clear(f->ck);
	memmove(blob + len / 3 + 100, blob + len / 3, len - len / 3);
	fill_random(blob + len / 3, 100);
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "model.pt", blob, len + 100), 0);
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 3, &c), 0);
	assert_true(c.new_chunks <= 3);
	assert_true(c.new_bytes < 3 * (64u << 10) + 16384);
	pt_checkpoint_reader *rd;
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, c.manifest), 0);
	expect_entry(rd, "model.pt", blob, len + 100);
	pt_checkpoint_reader_free(rd);
	free(blob);
}

/* ---- crash, damage, gc --------------------------------------------------------------------------- */

static int count_problems(const pt_problem *p, void *payload)
{
	char **msgs = payload;
	if (!msgs[0])
		msgs[0] = strdup(p->message);
	return 0;
}

static void test_crash_before_event_verifies_clean_and_gc_tidies(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	float w[20000];
	fill_weights(w, 20000);
	uint64_t shape[1] = {20000};
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "kept", PT_DTYPE_F32, 1, shape, w, sizeof w), 0);
	pt_checkpoint_info kept;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 1, &kept), 0);
	size_t objects_before = count_objects(f);

	/* the state a crash between chunks+manifest and the event leaves: a checkpoint
	 * written without its event, and a temporary file of a half-written chunk */
	pt_checkpointer *orphan;
	pt_checkpoint_options no = small_opts();
	no.no_event = 1;
	assert_int_equal(pt_checkpointer_open(&orphan, f->st, NULL, &no), 0);
	float w2[30000];
	fill_weights(w2, 30000);
	uint64_t shape2[1] = {30000};
	pt_checkpoint_clear(f->ck);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "lost", PT_DTYPE_F32, 1, shape2, w2, sizeof w2), 0);
	pt_checkpoint_info lost;
	assert_int_equal(pt_checkpointer_write(orphan, f->ck, 2, &lost), 0);
	assert_int_equal(pt_checkpointer_close(orphan), 0);
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s/objects/00/.tmp-crashed-1-1", f->store_path);
	{
		char d[600];
		snprintf(d, sizeof d, "%s/objects/00", f->store_path);
		assert_int_equal(pt__mkdir_p(d, 0755), 0);
		FILE *fp = fopen(tmp, "wb");
		fputs("half a chunk", fp);
		fclose(fp);
	}
	assert_int_equal(pt_recorder_flush(f->rec), 0);
	assert_true(count_objects(f) > objects_before);

	char *msgs[1] = {NULL};
	pt_verify_stats vs;
	assert_int_equal(pt_verify(f->st, NULL, NULL, count_problems, msgs, &vs), 0);
	pt_checkpoint_verify_stats cs;
	assert_int_equal(pt_checkpoint_verify_store(f->st, NULL, count_problems, msgs, &cs), 0);
	assert_null(msgs[0]);
	assert_int_equal(cs.manifests, 1);

	/* gc: dry run removes nothing; then removes exactly the orphans */
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	go.grace_s = 0;
	go.dry_run = 1;
	pt_gc_stats gs;
	size_t with_orphans = count_objects(f);
	assert_int_equal(pt_gc(f->st, &go, &gs), 0);
	assert_int_equal(count_objects(f), with_orphans);
	assert_int_equal(gs.garbage_objects, lost.chunks + 1);
	assert_int_equal(gs.temp_files, 1);
	go.dry_run = 0;
	assert_int_equal(pt_gc(f->st, &go, &gs), 0);
	assert_int_equal(gs.garbage_objects, lost.chunks + 1);
	assert_int_equal(count_objects(f), objects_before);
	assert_int_equal(gs.live_objects, kept.chunks + 1);
	assert_int_equal(gs.missing, 0);
	/* the kept checkpoint still reads back */
	pt_checkpoint_reader *rd;
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, kept.manifest), 0);
	expect_entry(rd, "kept", w, sizeof w);
	pt_checkpoint_reader_free(rd);
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, lost.manifest), PT_ENOTFOUND);
	/* the default grace period keeps young unreferenced objects */
	uint8_t id[32];
	assert_int_equal(pt__object_put(f->st, "young", 5, id), 0);
	pt_gc_options def = PT_GC_OPTIONS_INIT;
	assert_int_equal(pt_gc(f->st, &def, &gs), 0);
	assert_int_equal(gs.young_objects, 1);
	assert_int_equal(pt__object_exists(f->st, id), 1);
}

static void test_flipped_byte_fails_read_and_verify_naming_tensor(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	float a[40000], b[40000];
	fill_weights(a, 40000);
	fill_weights(b, 40000);
	uint64_t shape[1] = {40000};
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "encoder.a", PT_DTYPE_F32, 1, shape, a, sizeof a), 0);
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "decoder.b", PT_DTYPE_F32, 1, shape, b, sizeof b), 0);
	pt_checkpoint_info info;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, 7, &info), 0);
	assert_int_equal(pt_recorder_flush(f->rec), 0);
	char *path = chunk_path(f, info.manifest, "decoder.b", 1);
	flip_byte(path, 100);
	free(path);

	pt_checkpoint_reader *rd;
	if (pt_checkpoint_reader_open(&rd, f->st, info.manifest)) fail_msg("%s", pt_error_last());
	expect_entry(rd, "encoder.a", a, sizeof a);
	size_t idx;
	assert_int_equal(pt_checkpoint_reader_find(rd, "decoder.b", &idx), 0);
	float back[40000];
	assert_int_equal(pt_checkpoint_reader_read(rd, idx, back, sizeof back), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "tensor \"decoder.b\", chunk 2 of"));
	pt_checkpoint_reader_free(rd);

	char *msgs[1] = {NULL};
	pt_checkpoint_verify_stats cs;
	assert_int_equal(pt_checkpoint_verify_store(f->st, NULL, count_problems, msgs, &cs), PT_ECORRUPT);
	assert_int_equal(cs.errors, 1);
	assert_non_null(msgs[0]);
	assert_non_null(strstr(msgs[0], "decoder.b"));
	assert_non_null(strstr(msgs[0], "step 7"));
	assert_non_null(strstr(pt_error_last(), "decoder.b"));
	free(msgs[0]);
	/* gc refuses nothing here (the chunk is referenced) and deletes nothing live */
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	go.grace_s = 0;
	pt_gc_stats gs;
	assert_int_equal(pt_gc(f->st, &go, &gs), 0);
	assert_int_equal(gs.garbage_objects, 0);
	/* a damaged manifest makes gc delete nothing at all */
	uint8_t mid[32];
	pt__unhex(info.manifest, mid, 32);
	char *mp = pt__object_path(f->st, mid);
	flip_byte(mp, 3);
	pt__free(mp);
	assert_int_equal(pt_gc(f->st, &go, &gs), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "nothing was deleted"));
}

/* ---- async ------------------------------------------------------------------------------------------ */

static void test_async_snapshot_keeps_snapshot_time_values(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	o.max_inflight = 2;
	open_writer(f, &o);
	enum { ELEMS = 100000 };
	float *w = malloc(ELEMS * sizeof(float)), *orig[3];
	uint64_t shape[1] = {ELEMS};
	char path[512];
	snprintf(path, sizeof path, "%s/opt.bin", f->dir);
	uint64_t tickets[3];
	for (int k = 0; k < 3; k++) {
		fill_weights(w, ELEMS);
		orig[k] = malloc(ELEMS * sizeof(float));
		memcpy(orig[k], w, ELEMS * sizeof(float));
		FILE *fp = fopen(path, "wb");
		fprintf(fp, "optimizer state %d", k);
		fclose(fp);
		pt_checkpoint_clear(f->ck);
		assert_int_equal(pt_checkpoint_add_tensor(f->ck, "w", PT_DTYPE_F32, 1, shape, w,
							  ELEMS * sizeof(float)), 0);
		assert_int_equal(pt_checkpoint_add_file(f->ck, "opt", path), 0);
		assert_int_equal(pt_checkpointer_snapshot(f->cw, f->ck, 10 * (k + 1), &tickets[k]), 0);
		/* the training loop moves on at once: buffers, builder and file change */
		for (size_t i = 0; i < ELEMS; i++)
			w[i] = -1.0f;
		pt_checkpoint_clear(f->ck);
		fp = fopen(path, "wb");
		fputs("overwritten", fp);
		fclose(fp);
	}
	assert_int_equal(tickets[2], 3);
	assert_int_equal(pt_checkpointer_wait(f->cw), 0);
	pt_checkpoint_status s;
	assert_int_equal(pt_checkpointer_status(f->cw, &s), 0);
	assert_int_equal(s.submitted, 3);
	assert_int_equal(s.completed, 3);
	assert_int_equal(s.inflight, 0);
	assert_int_equal(s.last.step, 30);
	assert_int_equal(pt_recorder_flush(f->rec), 0);
	for (int k = 0; k < 3; k++) {
		pt_checkpoint_info info;
		assert_int_equal(pt_checkpoint_find(&info, f->st, "run1", NULL, 10 * (k + 1)), 0);
		assert_int_equal(info.step, 10 * (k + 1));
		pt_checkpoint_reader *rd;
		if (pt_checkpoint_reader_open(&rd, f->st, info.manifest)) fail_msg("%s", pt_error_last());
		expect_entry(rd, "w", orig[k], ELEMS * sizeof(float));
		char want[64];
		snprintf(want, sizeof want, "optimizer state %d", k);
		expect_entry(rd, "opt", want, strlen(want));
		pt_checkpoint_reader_free(rd);
		free(orig[k]);
	}
	pt_checkpoint_info *list;
	size_t n;
	assert_int_equal(pt_checkpoint_list(&list, &n, f->st, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].run, "run1");
	pt_free(list);
	free(w);
}

static void test_async_error_reported_on_next_call_and_close(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	/* the object directory cannot be created: background persistence fails */
	char objs[512];
	snprintf(objs, sizeof objs, "%s/objects", f->store_path);
	FILE *fp = fopen(objs, "wb");
	fclose(fp);
	uint8_t data[1000];
	fill_random(data, sizeof data);
	assert_int_equal(pt_checkpoint_add_bytes(f->ck, "x", data, sizeof data), 0);
	assert_int_equal(pt_checkpointer_snapshot(f->cw, f->ck, 1, NULL), 0);
	pt_checkpoint_status s;
	do {
		assert_int_equal(pt_checkpointer_status(f->cw, &s), 0);
		if (s.inflight)
			usleep(1000);
	} while (s.inflight);
	assert_int_equal(s.failed, 1);
	assert_int_not_equal(s.first_error, 0);
	/* reported by the next call, once */
	assert_int_not_equal(pt_checkpointer_snapshot(f->cw, f->ck, 2, NULL), 0);
	assert_non_null(strstr(pt_error_last(), "background checkpoint #1 (step 1) failed"));
	/* that call did not snapshot; a new one fails in the background again */
	assert_int_equal(pt_checkpointer_snapshot(f->cw, f->ck, 3, NULL), 0);
	int rc = pt_checkpointer_close(f->cw);
	f->cw = NULL;
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(pt_error_last(), "step 3"));
}

static void test_unchanged_chunk_missing_from_store_is_rewritten(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = small_opts();
	o.snapshot_reserve = 1u << 20;
	open_writer(f, &o);
	enum { ELEMS = 60000 };
	float *w = malloc(ELEMS * sizeof(float));
	fill_weights(w, ELEMS);
	uint64_t shape[1] = {ELEMS};
	TU_OK(pt_checkpoint_add_tensor(f->ck, "w", PT_DTYPE_F32, 1, shape, w, ELEMS * sizeof(float)));
	pt_checkpoint_info a, b, c;
	TU_OK(pt_checkpointer_write(f->cw, f->ck, 1, &a));
	/* a chunk of the previous checkpoint disappears (e.g. removed by hand): the next
	 * checkpoint must not trust its memory of it, but hash and store it again */
	char *path = chunk_path(f, a.manifest, "w", 1);
	assert_int_equal(unlink(path), 0);
	free(path);
	TU_OK(pt_checkpointer_write(f->cw, f->ck, 2, &b));
	assert_int_equal(b.new_chunks, 1);
	assert_string_equal(a.manifest, b.manifest);
	pt_checkpoint_verify_stats cs;
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, &cs));
	/* a changed chunk is noticed by the fast hash; the ids are those SHA-256 gives */
	w[ELEMS - 1] = 42.0f;
	TU_OK(pt_checkpointer_snapshot(f->cw, f->ck, 3, NULL));
	TU_OK(pt_checkpointer_wait(f->cw));
	pt_checkpoint_status st;
	TU_OK(pt_checkpointer_status(f->cw, &st));
	c = st.last;
	assert_int_equal(c.new_chunks, 1);
	pt_checkpointer *full;
	pt_checkpoint_options fo = small_opts();
	fo.no_event = 1;
	fo.always_hash = 1;
	TU_OK(pt_checkpointer_open(&full, f->st, NULL, &fo));
	pt_checkpoint_info d;
	TU_OK(pt_checkpointer_write(full, f->ck, 4, &d));
	TU_OK(pt_checkpointer_close(full));
	assert_string_equal(c.manifest, d.manifest);
	assert_int_equal(d.new_chunks, 0);
	free(w);
}

/* Write `len` bytes of junk to `path` through a new file (a new inode, as a planted file has). */
static void plant(const char *path, const void *data, size_t len)
{
	char tmp[1200];
	snprintf(tmp, sizeof tmp, "%s.plant", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	assert_int_equal(rename(tmp, path), 0);
}

static void read_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	*len = (size_t)sb.st_size;
	*out = malloc(*len + 1);
	assert_int_equal(read(fd, *out, *len), (ssize_t)*len);
	close(fd);
}

/*
 * issue 11 item 7: dedup no longer trusts an existing file.  The object of 4 MiB of
 * zeros planted with junk, a chunk replaced by a well-formed object of other bytes
 * (only the full check sees it), a junk manifest: the next checkpoint succeeds, reads
 * back, and the bad files were replaced by the good bytes.  A damaged object that
 * cannot be replaced makes the checkpoint fail.
 */
static void test_dedup_never_trusts_a_damaged_existing_object(void **state)
{
	fx *f = *state;
	/* the repro, at the object layer */
	size_t zlen = 4u << 20;
	uint8_t *zeros = calloc(1, zlen), zid[32];
	pt__sha256(zeros, zlen, zid);
	char *zpath = pt__object_path(f->st, zid), *zdir = pt__object_dir(f->st, zid);
	assert_int_equal(pt__mkdir_p(zdir, 0755), 0);
	plant(zpath, "junk junk junk junk junk junk junk", 35);
	TU_OK(pt__object_put(f->st, zeros, zlen, NULL));
	uint8_t *got;
	size_t glen;
	TU_OK(pt__object_get(f->st, zid, &got, &glen));
	assert_int_equal(glen, zlen);
	assert_memory_equal(got, zeros, zlen);
	pt__free(got);

	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	enum { ELEMS = 60000 };
	float *w = malloc(ELEMS * sizeof(float));
	fill_weights(w, ELEMS);
	uint64_t shape[1] = {ELEMS};
	TU_OK(pt_checkpoint_add_tensor(f->ck, "w", PT_DTYPE_F32, 1, shape, w, ELEMS * sizeof(float)));
	TU_OK(pt_checkpoint_add_bytes(f->ck, "zeros", zeros, zlen));
	pt_checkpoint_info a, b;
	TU_OK(pt_checkpointer_write(f->cw, f->ck, 1, &a));
	TU_OK(pt_checkpointer_close(f->cw));
	f->cw = NULL;
	/* damage: chunk 0 junk; chunk 1 a valid object of other bytes of its length; the manifest junk */
	uint8_t mid[32];
	TU_OK(pt__unhex(a.manifest, mid, 32));
	pt__manifest m;
	TU_OK(pt__manifest_load(&m, f->st, mid));
	assert_true(m.e[0].next >= 2 || m.e[1].next >= 2);
	const pt__mentry *e = m.e[0].next >= 2 ? &m.e[0] : &m.e[1];
	char *c0 = pt__object_path(f->st, e->ext[0].id), *c1 = pt__object_path(f->st, e->ext[1].id);
	plant(c0, "not an object at all", 20);
	uint8_t *other = malloc(e->ext[1].chunk_len), oid[32];
	fill_random(other, e->ext[1].chunk_len);
	TU_OK(pt__object_put(f->st, other, e->ext[1].chunk_len, oid));
	char *opath = pt__object_path(f->st, oid);
	uint8_t *ob;
	size_t obl;
	read_file(opath, &ob, &obl);
	plant(c1, ob, obl);
	char *mpath = pt__object_path(f->st, mid);
	plant(mpath, "{}", 2);
	pt__manifest_clear(&m);
	assert_int_not_equal(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, NULL), 0);
	pt__object_vcache_reset(); /* another process */

	open_writer(f, &o);
	TU_OK(pt_checkpointer_write(f->cw, f->ck, 2, &b));
	assert_string_equal(a.manifest, b.manifest);
	pt_checkpoint_reader *rd;
	TU_OK(pt_checkpoint_reader_open(&rd, f->st, b.manifest));
	expect_entry(rd, "w", w, ELEMS * sizeof(float));
	expect_entry(rd, "zeros", zeros, zlen);
	pt_checkpoint_reader_free(rd);
	TU_OK(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, NULL)); /* the bad files were replaced */
	TU_OK(pt_checkpointer_close(f->cw));
	f->cw = NULL;

	/* damaged and not replaceable (a directory in its place): the checkpoint fails */
	TU_OK(pt__manifest_load(&m, f->st, mid));
	e = m.e[0].next >= 2 ? &m.e[0] : &m.e[1];
	char *c2 = pt__object_path(f->st, e->ext[0].id);
	assert_int_equal(unlink(c2), 0);
	assert_int_equal(mkdir(c2, 0755), 0);
	char inner[1200];
	snprintf(inner, sizeof inner, "%s/x", c2);
	plant(inner, "x", 1);
	pt__manifest_clear(&m);
	open_writer(f, &o);
	assert_int_not_equal(pt_checkpointer_write(f->cw, f->ck, 3, NULL), 0);
	free(c2);
	free(zeros);
	free(w);
	free(other);
	free(ob);
	pt__free(zpath);
	pt__free(zdir);
	pt__free(c0);
	pt__free(c1);
	pt__free(opath);
	pt__free(mpath);
}

static void test_gc_waits_for_writers_lock(void **state)
{
	fx *f = *state;
	int fd;
	assert_int_equal(pt__gc_lock(f->st, 0, 1, &fd), 0); /* a writer in progress */
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	go.wait = 0;
	pt_gc_stats gs;
	assert_int_equal(pt_gc(f->st, &go, &gs), PT_ELOCKED);
	assert_non_null(strstr(pt_error_last(), "checkpoint is being written"));
	pt__gc_unlock(fd);
	assert_int_equal(pt_gc(f->st, &go, &gs), 0);
}

static void test_gc_keeps_objects_listed_in_events(void **state)
{
	fx *f = *state;
	assert_int_equal(pt_recorder_open(&f->rec, f->st, "run2", "rank1", NULL), 0);
	uint8_t keep[32], drop[32];
	assert_int_equal(pt__object_put(f->st, "diff --git a b", 14, keep), 0);
	assert_int_equal(pt__object_put(f->st, "nobody needs me", 15, drop), 0);
	char hex[PT_SHA256_HEX];
	pt__hex(keep, 32, hex);
	pt_event *ev;
	assert_int_equal(pt_event_new(&ev, PT_KIND_CODE, NULL), 0);
	assert_int_equal(pt_event_str(ev, "commit", "abc"), 0);
	assert_int_equal(pt_event_begin_array(ev, "objects"), 0);
	assert_int_equal(pt_event_str(ev, NULL, hex), 0);
	assert_int_equal(pt_event_end(ev), 0);
	assert_int_equal(pt__recorder_append_own(f->rec, ev, NULL), 0); /* `code` is written by pt_code_capture */
	pt_event_free(ev);
	assert_int_equal(pt_recorder_flush(f->rec), 0);
	pt_gc_options go = PT_GC_OPTIONS_INIT;
	go.grace_s = 0;
	pt_gc_stats gs;
	assert_int_equal(pt_gc(f->st, &go, &gs), 0);
	assert_int_equal(pt__object_exists(f->st, keep), 1);
	assert_int_equal(pt__object_exists(f->st, drop), 0);
	assert_int_equal(gs.live_objects, 1);
	/* verify checks listed objects too */
	pt_checkpoint_verify_stats cs;
	assert_int_equal(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, &cs), 0);
	assert_int_equal(cs.objects, 1);
	assert_int_equal(pt__object_remove(f->st, keep), 0);
	assert_int_equal(pt_checkpoint_verify_store(f->st, NULL, NULL, NULL, &cs), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "not found"));
}

/* ---- formats ------------------------------------------------------------------------------------------ */

/* The manifest of this checkpoint is pinned (tests/fixtures/checkpoint/tiny.manifest). */
#define TINY_MANIFEST_ID "0c8c714ca2bb2da4cc40dd5deaaa3e13374e48b09cc1f1e34d07e27debb98c52"

static void build_tiny(pt_checkpoint *ck, float *w, int32_t *steps, uint8_t *blob)
{
	for (int i = 0; i < 6; i++)
		w[i] = (float)i * 0.25f - 0.5f;
	steps[0] = 1200;
	for (int i = 0; i < 8; i++)
		blob[i] = (uint8_t)("provtrac"[i]);
	uint64_t ws[2] = {2, 3}, ss[1] = {1};
	assert_int_equal(pt_checkpoint_add_tensor(ck, "layer.weight", PT_DTYPE_F32, 2, ws, w, 24), 0);
	assert_int_equal(pt_checkpoint_add_tensor(ck, "step", PT_DTYPE_I32, 1, ss, steps, 4), 0);
	assert_int_equal(pt_checkpoint_add_bytes(ck, "extra.bin", blob, 8), 0);
}

static void test_manifest_golden_fixture(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	o.no_event = 1;
	open_writer(f, &o);
	float w[6];
	int32_t steps[1];
	uint8_t blob[8];
	build_tiny(f->ck, w, steps, blob);
	pt_checkpoint_info info;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, PT_NO_STEP, &info), 0);
	uint8_t id[32], *bytes;
	size_t len;
	assert_int_equal(pt__unhex(info.manifest, id, 32), 0);
	assert_int_equal(pt__object_get(f->st, id, &bytes, &len), 0);
	const char *fixture = PT_SOURCE_DIR "/tests/fixtures/checkpoint/tiny.manifest";
	if (getenv("PT_REGEN_FIXTURES")) {
		FILE *fp = fopen(fixture, "wb");
		assert_non_null(fp);
		fwrite(bytes, 1, len, fp);
		fclose(fp);
		printf("manifest id %s\n", info.manifest);
	}
	uint8_t *want;
	size_t wlen;
	assert_int_equal(pt__read_file(fixture, 1 << 20, &want, &wlen), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(bytes, want, len);
	assert_string_equal(info.manifest, TINY_MANIFEST_ID);
	/* decoding the pinned bytes gives the entries back */
	pt__manifest m;
	assert_int_equal(pt__manifest_decode(&m, want, wlen, "fixture"), 0);
	assert_int_equal(m.count, 3);
	assert_string_equal(m.e[0].name, "layer.weight");
	assert_int_equal(m.e[0].shape[1], 3);
	assert_int_equal(m.logical, 36);
	pt__manifest_clear(&m);
	pt__free(bytes);
	pt__free(want);
}

/* A nested checkpoint (manifest version 2): tiny's entries, a complex64
 * tensor (a dtype added with version 2) and a structure placing them:
 * {"model": {"w": E0, "step": E1}, "extra": E2, "betas": (0.5, 0.25),
 *  "epoch": 3, "c": E3}. Pinned in tests/fixtures/checkpoint/nested.manifest. */
#define NESTED_MANIFEST_ID "b38bd841a1cc328f926ce233f05ab3a0c70c826ba9cc8c17b591f084f326b224"

#define NESTED_PATHS_JSON                                                                                    \
	"[\n"                                                                                                \
	"{\"path\":\"model.w\",\"entry\":0,\"name\":\"layer.weight\",\"type\":\"tensor\",\"dtype\":\"f32\","          \
	"\"shape\":[2,3],\"size\":24},\n"                                                                      \
	"{\"path\":\"model.step\",\"entry\":1,\"name\":\"step\",\"type\":\"tensor\",\"dtype\":\"i32\",\"shape\":[1]," \
	"\"size\":4},\n"                                                                                       \
	"{\"path\":\"extra\",\"entry\":2,\"name\":\"extra.bin\",\"type\":\"blob\",\"size\":8},\n"                   \
	"{\"path\":\"betas.0\",\"value\":0.5},\n"                                                                 \
	"{\"path\":\"betas.1\",\"value\":0.25},\n"                                                                \
	"{\"path\":\"epoch\",\"value\":3},\n"                                                                     \
	"{\"path\":\"c\",\"entry\":3,\"name\":\"c\",\"type\":\"tensor\",\"dtype\":\"c64\",\"shape\":[2],\"size\":16}\n" \
	"]"

static const uint8_t nested_tree[] = {
	0x85,
	0xa5, 'm', 'o', 'd', 'e', 'l', 0x82,
	0xa1, 'w', 0xd6, PT_STRUCT_EXT_ENTRY, 0, 0, 0, 0,
	0xa4, 's', 't', 'e', 'p', 0xd6, PT_STRUCT_EXT_ENTRY, 0, 0, 0, 1,
	0xa5, 'e', 'x', 't', 'r', 'a', 0xd6, PT_STRUCT_EXT_ENTRY, 0, 0, 0, 2,
	0xa5, 'b', 'e', 't', 'a', 's', 0xc7, 19, PT_STRUCT_EXT_TUPLE, 0x92,
	0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0, 0xcb, 0x3f, 0xd0, 0, 0, 0, 0, 0, 0,
	0xa5, 'e', 'p', 'o', 'c', 'h', 0x03,
	0xa1, 'c', 0xd6, PT_STRUCT_EXT_ENTRY, 0, 0, 0, 3,
};

static void test_nested_manifest_golden_fixture(void **state)
{
	fx *f = *state;
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	o.no_event = 1;
	open_writer(f, &o);
	float w[6], c[4] = {1.0f, -2.0f, 0.5f, -0.0f};
	int32_t steps[1];
	uint8_t blob[8];
	build_tiny(f->ck, w, steps, blob);
	uint64_t cs[1] = {2};
	/* a reference to an entry not added yet is refused */
	assert_int_equal(pt_checkpoint_set_structure(f->ck, nested_tree, sizeof nested_tree), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "entry reference 3"));
	assert_int_equal(pt_checkpoint_add_tensor(f->ck, "c", PT_DTYPE_C64, 1, cs, c, 16), 0);
	assert_int_equal(pt_checkpoint_set_structure(f->ck, nested_tree, sizeof nested_tree), 0);
	pt_checkpoint_info info;
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, PT_NO_STEP, &info), 0);
	uint8_t id[32], *bytes;
	size_t len;
	assert_int_equal(pt__unhex(info.manifest, id, 32), 0);
	assert_int_equal(pt__object_get(f->st, id, &bytes, &len), 0);
	const char *fixture = PT_SOURCE_DIR "/tests/fixtures/checkpoint/nested.manifest";
	if (getenv("PT_REGEN_FIXTURES")) {
		FILE *fp = fopen(fixture, "wb");
		assert_non_null(fp);
		fwrite(bytes, 1, len, fp);
		fclose(fp);
		printf("nested manifest id %s\n", info.manifest);
	}
	uint8_t *want;
	size_t wlen;
	assert_int_equal(pt__read_file(fixture, 1 << 20, &want, &wlen), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(bytes, want, len);
	assert_string_equal(info.manifest, NESTED_MANIFEST_ID);
	assert_int_equal(pt__get_u16(want + 4), 2);
	/* a background snapshot carries the structure too (its own copy) */
	assert_int_equal(pt_checkpointer_snapshot(f->cw, f->ck, 7, NULL), 0);
	assert_int_equal(pt_checkpointer_wait(f->cw), 0);
	pt_checkpoint_status cst;
	assert_int_equal(pt_checkpointer_status(f->cw, &cst), 0);
	assert_string_equal(cst.last.manifest, NESTED_MANIFEST_ID);
	/* the reader hands the structure back; a version-1 manifest has none */
	pt_checkpoint_reader *rd;
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, info.manifest), 0);
	const void *tree = NULL;
	size_t tlen = 0;
	assert_int_equal(pt_checkpoint_reader_structure(rd, &tree, &tlen), 0);
	assert_int_equal(tlen, sizeof nested_tree);
	assert_memory_equal(tree, nested_tree, tlen);
	pt_checkpoint_entry e;
	assert_int_equal(pt_checkpoint_reader_entry(rd, 3, &e), 0);
	assert_int_equal(e.dtype, PT_DTYPE_C64);
	float back[4];
	assert_int_equal(pt_checkpoint_reader_read(rd, 3, back, sizeof back), 0);
	assert_memory_equal(back, c, sizeof c);
	/* the leaves by path (`provtrace checkpoint show`): the structure's order, tuples indexed */
	char *paths = NULL;
	size_t plen = 0;
	assert_int_equal(pt_checkpoint_reader_paths_json(rd, &paths, &plen), 0);
	assert_int_equal(plen, strlen(paths));
	if (getenv("PT_PRINT_PATHS"))
		printf("%s\n", paths);
	assert_string_equal(paths, NESTED_PATHS_JSON);
	pt_free(paths);
	assert_int_equal(pt_checkpoint_reader_paths_json(NULL, &paths, NULL), PT_EINVAL);
	pt_checkpoint_reader_free(rd);
	pt_checkpoint_clear(f->ck);
	build_tiny(f->ck, w, steps, blob);
	assert_int_equal(pt_checkpointer_write(f->cw, f->ck, PT_NO_STEP, &info), 0);
	assert_string_equal(info.manifest, TINY_MANIFEST_ID); /* clear dropped the structure */
	assert_int_equal(pt_checkpoint_reader_open(&rd, f->st, TINY_MANIFEST_ID), 0);
	assert_int_equal(pt_checkpoint_reader_structure(rd, &tree, &tlen), 0);
	assert_null(tree);
	assert_int_equal(tlen, 0);
	/* without a structure: one leaf per entry, by name */
	assert_int_equal(pt_checkpoint_reader_paths_json(rd, &paths, NULL), 0);
	if (getenv("PT_PRINT_PATHS"))
		printf("%s\n", paths);
	assert_non_null(strstr(paths, "{\"path\":\"layer.weight\",\"entry\":0,"));
	assert_null(strstr(paths, "\"value\""));
	pt_free(paths);
	pt_checkpoint_reader_free(rd);
	/* damage: every truncation and bit flip fails cleanly or decodes consistently */
	pt__manifest m;
	for (size_t n = 0; n < wlen; n++)
		assert_int_equal(pt__manifest_decode(&m, want, n, "t") != 0, 1);
	uint8_t *bad = malloc(wlen);
	for (size_t i = 0; i < wlen; i++)
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(bad, want, wlen);
			bad[i] ^= (uint8_t)(1u << bit);
			int rc = pt__manifest_decode(&m, bad, wlen, "t");
			assert_true(rc == 0 || rc == PT_ECORRUPT || rc == PT_EVERSION);
			if (rc == 0)
				pt__manifest_clear(&m);
		}
	/* version 1 with a structure length, version 2 without, version 3 */
	memcpy(bad, want, wlen);
	pt__put_u16(bad + 4, 1);
	assert_int_equal(pt__manifest_decode(&m, bad, wlen, "t"), PT_ECORRUPT);
	memcpy(bad, want, wlen);
	pt__put_u32(bad + 12, 0);
	assert_int_equal(pt__manifest_decode(&m, bad, wlen, "t"), PT_ECORRUPT);
	memcpy(bad, want, wlen);
	pt__put_u16(bad + 4, 3);
	assert_int_equal(pt__manifest_decode(&m, bad, wlen, "t"), PT_EVERSION);
	free(bad);
	pt__free(bytes);
	pt__free(want);
}

static void test_structure_validation(void **state)
{
	(void)state;
	pt_checkpoint *ck;
	assert_int_equal(pt_checkpoint_new(&ck), 0);
	float x = 1;
	uint64_t one[1] = {1};
	assert_int_equal(pt_checkpoint_add_tensor(ck, "x", PT_DTYPE_F32, 1, one, &x, 4), 0);
	static const struct {
		const char *bytes;
		size_t len;
		const char *why;
	} bad[] = {
		{"\xd6\x01\x00\x00\x00\x01", 6, "entry reference 1"},
		{"\xd6\x05\x00\x00\x00\x00", 6, "unknown ext"},
		{"\xd5\x01\x00\x00", 4, "not 4 bytes"},
		{"\x81\x91\x00\x00", 4, "map key"},
		{"\xa2\xff\xfe", 3, "UTF-8"},
		{"\x92\x00", 2, "truncated"},
		{"\xc7\x01\x02\x00", 4, "tuple"},
		{"\xc7\x02\x02\x90\x00", 5, "after a tuple"},
		{"\x00\x00", 2, "after its value"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(pt_checkpoint_set_structure(ck, bad[i].bytes, bad[i].len), PT_EINVAL);
		assert_non_null(strstr(pt_error_last(), bad[i].why));
	}
	uint8_t deep[PT_STRUCT_MAX_DEPTH + 2];
	memset(deep, 0x91, sizeof deep);
	deep[sizeof deep - 1] = 0;
	assert_int_equal(pt_checkpoint_set_structure(ck, deep, sizeof deep), PT_EINVAL);
	assert_non_null(strstr(pt_error_last(), "deeper"));
	assert_int_equal(pt_checkpoint_set_structure(ck, NULL, 1), PT_EINVAL);
	assert_int_equal(pt_checkpoint_set_structure(ck, "\xd6\x01\x00\x00\x00\x00", 6), 0);
	assert_int_equal(pt_checkpoint_set_structure(ck, NULL, 0), 0); /* removes it */
	pt_dtype d;
	assert_int_equal(pt_dtype_from_name(&d, "torch.complex32"), 0);
	assert_int_equal(d, PT_DTYPE_C32);
	assert_int_equal(pt_dtype_size(PT_DTYPE_C128), 16);
	assert_string_equal(pt_dtype_name(PT_DTYPE_F8_E5M2), "f8e5m2");
	pt_checkpoint_free(ck);
}

static void test_manifest_decode_rejects_damage(void **state)
{
	(void)state;
	const char *fixture = PT_SOURCE_DIR "/tests/fixtures/checkpoint/tiny.manifest";
	uint8_t *good;
	size_t len;
	assert_int_equal(pt__read_file(fixture, 1 << 20, &good, &len), 0);
	pt__manifest m;
	/* every truncation fails cleanly */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(pt__manifest_decode(&m, good, n, "t"), PT_ECORRUPT);
	/* every single-byte change either fails cleanly or still decodes consistently */
	uint8_t *bad = malloc(len);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(bad, good, len);
			bad[i] ^= (uint8_t)(1u << bit);
			int rc = pt__manifest_decode(&m, bad, len, "t");
			assert_true(rc == 0 || rc == PT_ECORRUPT || rc == PT_EVERSION);
			if (rc == 0)
				pt__manifest_clear(&m);
		}
	/* a count that the bytes cannot hold is refused before allocating */
	memcpy(bad, good, len);
	pt__put_u32(bad + 8, 0xffffffffu);
	assert_int_equal(pt__manifest_decode(&m, bad, len, "t"), PT_ECORRUPT);
	free(bad);
	pt__free(good);
}

static void test_event_body_parser_is_bounded(void **state)
{
	(void)state;
	/* {"manifest": <64 hex>, "objects": [<64 hex>], "tensors": 3, "x": [1, {"y": nil}]} */
	uint8_t body[256];
	size_t n = 0;
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	body[n++] = 0x84;
	body[n++] = 0xa8; memcpy(body + n, "manifest", 8); n += 8;
	body[n++] = 0xd9; body[n++] = 64; memcpy(body + n, hex, 64); n += 64;
	body[n++] = 0xa7; memcpy(body + n, "objects", 7); n += 7;
	body[n++] = 0x91; body[n++] = 0xd9; body[n++] = 64; memcpy(body + n, hex, 64); n += 64;
	body[n++] = 0xa7; memcpy(body + n, "tensors", 7); n += 7;
	body[n++] = 0x03;
	body[n++] = 0xa1; body[n++] = 'x';
	body[n++] = 0x92; body[n++] = 0x01; body[n++] = 0x81; body[n++] = 0xa1; body[n++] = 'y'; body[n++] = 0xc0;
	pt__ev_refs r;
	assert_int_equal(pt__ev_refs_parse(&r, "checkpoint", body, n), 0);
	/* a manifest without the seven counts is not a checkpoint the library wrote */
	assert_false(r.has_manifest);
	assert_true(r.foreign);
	assert_string_equal(r.info.manifest, hex);
	assert_int_equal(r.nobjects, 1);
	assert_int_equal(r.info.tensors, 3);
	pt__ev_refs_free(&r);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(pt__ev_refs_parse(&r, "checkpoint", body, k), PT_ECORRUPT);
	/* other uses of the keys are not references, and not errors:
	 * {"objects": 3, "manifest": "short", "x": ["objects"]} and an array with a non-id */
	uint8_t other[] = {0x83, 0xa7, 'o', 'b', 'j', 'e', 'c', 't', 's', 0x03, 0xa8, 'm', 'a', 'n', 'i', 'f',
			   'e', 's', 't', 0xa5, 's', 'h', 'o', 'r', 't', 0xa1, 'x', 0x91, 0xa7, 'o', 'b', 'j',
			   'e', 'c', 't', 's'};
	assert_int_equal(pt__ev_refs_parse(&r, "checkpoint", other, sizeof other), 0);
	assert_false(r.has_manifest);
	assert_int_equal(r.nobjects, 0);
	pt__ev_refs_free(&r);
	uint8_t mixed[] = {0x81, 0xa7, 'o', 'b', 'j', 'e', 'c', 't', 's', 0x92, 0x07, 0xc0};
	assert_int_equal(pt__ev_refs_parse(&r, "checkpoint", mixed, sizeof mixed), 0);
	assert_int_equal(r.nobjects, 0);
	pt__ev_refs_free(&r);
}

static void test_cdc_is_deterministic_and_bounded(void **state)
{
	(void)state;
	pt__cdc c;
	pt__cdc_init(&c, 16384);
	assert_int_equal(c.avg, 16384);
	size_t len = 1u << 20;
	uint8_t *p = malloc(len);
	fill_random(p, len);
	size_t off = 0, n = 0;
	while (off < len) {
		size_t k = pt__cdc_next(&c, p + off, len - off, 1);
		assert_true(k > 0 && k <= c.max);
		if (off + k < len)
			assert_true(k >= c.min);
		off += k;
		n++;
	}
	/* average near the target */
	assert_true(n > len / (c.avg * 3) && n < len / (c.avg / 3));
	/* not enough data to decide: asks for more */
	assert_int_equal(pt__cdc_next(&c, p, c.min, 0), 0);
	free(p);
}

/* ---- the CLI ---------------------------------------------------------------------------------------- */

static void test_cli_ls_export_npy_and_gc(void **state)
{
	fx *f = *state;
	char cli[512];
	snprintf(cli, sizeof cli, "%s/provtrace", PT_BINARY_DIR);
	if (access(cli, X_OK) != 0 || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
		skip();
	pt_checkpoint_options o = small_opts();
	open_writer(f, &o);
	float w[2][3] = {{1.5f, -2.0f, 3.25f}, {0.0f, -0.0f, 1e-30f}};
	uint16_t bf[2] = {0x3f80, 0xc049};
	int64_t step = -7;
	uint8_t flags[3] = {1, 0, 1};
	uint64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3};
	TU_OK(pt_checkpoint_add_tensor(f->ck, "model/layer.0.weight", PT_DTYPE_F32, 2, s23, w, sizeof w));
	TU_OK(pt_checkpoint_add_tensor(f->ck, "bf", PT_DTYPE_BF16, 1, s2, bf, sizeof bf));
	TU_OK(pt_checkpoint_add_tensor(f->ck, "step", PT_DTYPE_I64, 0, NULL, &step, 8));
	TU_OK(pt_checkpoint_add_tensor(f->ck, "mask", PT_DTYPE_BOOL, 1, s3, flags, 3));
	TU_OK(pt_checkpoint_add_bytes(f->ck, "extra.pt", "\x80\x02opaque", 8));
	TU_OK(pt_checkpointer_write(f->cw, f->ck, 50, NULL));
	TU_OK(pt_recorder_flush(f->rec));
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' --store '%s' checkpoint ls --json > '%s/ls.json'", cli, f->store_path,
		 f->dir);
	assert_int_equal(tu_run(cmd), 0);
	snprintf(cmd, sizeof cmd, "'%s' --store '%s' checkpoint export --run run1 --step 60 '%s/out' 2>/dev/null",
		 cli, f->store_path, f->dir);
	assert_int_equal(tu_run(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "/usr/bin/python3 - '%s' <<'EOF'\n"
		 "import json, sys, numpy as np\n"
		 "d = sys.argv[1]\n"
		 "ls = json.load(open(d + '/ls.json'))\n"
		 "assert len(ls) == 1 and ls[0]['step'] == 50 and ls[0]['tensors'] == 4 and ls[0]['blobs'] == 1, ls\n"
		 "a = np.load(d + '/out/model_layer.0.weight.npy')\n"
		 "assert a.dtype == np.float32 and a.shape == (2, 3), a\n"
		 "assert a.tolist()[0] == [1.5, -2.0, 3.25] and np.signbit(a[1, 1]), a\n"
		 "assert np.load(d + '/out/bf.npy').tolist() == [1.0, -3.140625]\n"
		 "s = np.load(d + '/out/step.npy')\n"
		 "assert s.shape == () and s.dtype == np.int64 and int(s) == -7\n"
		 "assert np.load(d + '/out/mask.npy').tolist() == [True, False, True]\n"
		 "assert open(d + '/out/extra.pt', 'rb').read() == b'\\x80\\x02opaque'\n"
		 "idx = json.load(open(d + '/out/index.json'))\n"
		 "assert idx['entries'][0]['file'] == 'model_layer.0.weight.npy', idx\n"
		 "EOF",
		 f->dir);
	assert_int_equal(tu_run(cmd), 0);
	/* stats compares logical and stored bytes */
	snprintf(cmd, sizeof cmd,
		 "'%s' --store '%s' stats --json | /usr/bin/python3 -c \"import json,sys; "
		 "c=json.load(sys.stdin)['checkpoints']; assert c['count']==1 and c['logical_bytes']==47, c\"",
		 cli, f->store_path);
	assert_int_equal(tu_run(cmd), 0);
	/* no checkpoint at that step: exit 1; bad usage: exit 2 */
	snprintf(cmd, sizeof cmd, "'%s' --store '%s' checkpoint export --run run1 --step 10 '%s/x' 2>/dev/null",
		 cli, f->store_path, f->dir);
	assert_int_equal(tu_run(cmd), 1);
	snprintf(cmd, sizeof cmd, "'%s' --store '%s' checkpoint export --run run1 '%s/x' 2>/dev/null", cli,
		 f->store_path, f->dir);
	assert_int_equal(tu_run(cmd), 2);
	/* gc --dry-run --json counts an orphan and removes nothing */
	uint8_t id[32];
	TU_OK(pt__object_put(f->st, "orphan", 6, id));
	snprintf(cmd, sizeof cmd,
		 "'%s' --store '%s' gc --dry-run --grace 0 --json | /usr/bin/python3 -c "
		 "\"import json,sys; g=json.load(sys.stdin); assert g['garbage_objects']==1 and g['dry_run'], g\"",
		 cli, f->store_path);
	assert_int_equal(tu_run(cmd), 0);
	assert_int_equal(pt__object_exists(f->st, id), 1);
	snprintf(cmd, sizeof cmd, "'%s' --store '%s' gc --grace 0 >/dev/null", cli, f->store_path);
	assert_int_equal(tu_run(cmd), 0);
	assert_int_equal(pt__object_exists(f->st, id), 0);
}

static void test_shuffle_matches_reference_all_sizes(void **state)
{
	(void)state;
	uint8_t s[700], d[700], b[700], ref[700];
	for (size_t e = 2; e <= 8; e *= 2)
		for (size_t len = 0; len < sizeof s; len += (len < 300 ? 1 : 37)) {
			fill_random(s, len);
			pt__shuffle(d, s, len, e);
			size_t n = len / e;
			for (size_t k = 0; k < e; k++)
				for (size_t i = 0; i < n; i++)
					ref[k * n + i] = s[i * e + k];
			memcpy(ref + n * e, s + n * e, len - n * e);
			if (!len)
				continue;
			assert_memory_equal(d, ref, len);
			pt__unshuffle(b, d, len, e);
			assert_memory_equal(b, s, len);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_object_put_get_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_missing_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_dtype_bit_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_sizes_and_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_only_changed_tensors_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_blob_changed_middle_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_event_verifies_clean_and_gc_tidies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_fails_read_and_verify_naming_tensor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_snapshot_keeps_snapshot_time_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_error_reported_on_next_call_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_chunk_missing_from_store_is_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_waits_for_writers_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_never_trusts_a_damaged_existing_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_keeps_objects_listed_in_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_golden_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_manifest_golden_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incompressible_chunks_stored_raw, setup, teardown),
		cmocka_unit_test(test_structure_validation),
		cmocka_unit_test_setup_teardown(test_cli_ls_export_npy_and_gc, setup, teardown),
		cmocka_unit_test(test_manifest_decode_rejects_damage),
		cmocka_unit_test(test_event_body_parser_is_bounded),
		cmocka_unit_test(test_cdc_is_deterministic_and_bounded),
		cmocka_unit_test(test_shuffle_matches_reference_all_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
