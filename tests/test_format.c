/*
 * test_format.c - golden fixtures pinning the on-disk format (docs/FORMAT.md).
 *
 * tests/fixtures/log/ holds a sealed segment written from a fixed list of
 * events (fixed times), its chain file, the SHA-256 it must hash to, and the
 * `log --json` lines it must read back as.  The tests check that
 *   - today's writer produces exactly those bytes (format unchanged),
 *   - today's reader reads the committed bytes back to the same events,
 *   - the documented field offsets hold, parsed here by hand.
 * `test_format --regenerate` rewrites the fixtures (only with a format change,
 * in the same commit as docs/FORMAT.md).
 */
#include "testutil.h"

#include "format/segment_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#define FIXDIR PT_SOURCE_DIR "/tests/fixtures/log"

static void write_fixture_events(pt_store *st)
{
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, st, "golden", NULL, NULL));
	pt_event *ev;
	const int64_t t0 = 1795680000000000000LL; /* 2026-11-26T... fixed */
	TU_OK(pt_event_new(&ev, PT_KIND_RUN_START, NULL));
	TU_OK(pt_event_set_time(ev, t0));
	TU_OK(pt_event_str(ev, "script", "train.py"));
	TU_OK(pt_recorder_append(r, ev, NULL));
	TU_OK(pt_event_reset(ev, PT_KIND_PARAM, "lr"));
	TU_OK(pt_event_set_time(ev, t0 + 1));
	TU_OK(pt_event_double(ev, "value", 0.001));
	TU_OK(pt_recorder_append(r, ev, NULL));
	for (int s = 0; s < 5; s++) {
		TU_OK(pt_event_reset(ev, PT_KIND_METRIC, "loss"));
		TU_OK(pt_event_set_time(ev, t0 + 1000 + s));
		TU_OK(pt_event_set_step(ev, s));
		TU_OK(pt_event_double(ev, "value", 2.0 / (s + 1)));
		TU_OK(pt_recorder_append(r, ev, NULL));
	}
	TU_OK(pt_event_reset(ev, PT_KIND_DECISION, "lr"));
	TU_OK(pt_event_set_time(ev, t0 + 2000));
	TU_OK(pt_event_set_step(ev, 4));
	TU_OK(pt_event_begin_map(ev, "set"));
	TU_OK(pt_event_double(ev, "lr", 0.0005));
	TU_OK(pt_event_end(ev));
	TU_OK(pt_event_str(ev, "reason", "plateau"));
	TU_OK(pt_event_str(ev, "actor", "ReduceLROnPlateau"));
	TU_OK(pt_event_begin_array(ev, "considered"));
	TU_OK(pt_event_double(ev, NULL, 0.0001));
	TU_OK(pt_event_nil(ev, NULL));
	TU_OK(pt_event_bool(ev, NULL, 1));
	TU_OK(pt_event_bytes(ev, NULL, "\x01\x02", 2));
	TU_OK(pt_event_int(ev, NULL, -300));
	TU_OK(pt_event_end(ev));
	TU_OK(pt_recorder_append(r, ev, NULL));
	pt_event_free(ev);
	TU_OK(pt_recorder_close(r));
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	s[n] = 0;
	fclose(f);
	return s;
}

static char *events_json(pt_store *st, const char *run)
{
	pt_iter *it;
	TU_OK(pt_iter_open(&it, st, run, NULL, NULL));
	const pt_event_view *v;
	size_t cap = 65536, len = 0;
	char *out = calloc(1, cap);
	while (pt_iter_next(it, &v) == 0) {
		const char *j;
		size_t jl;
		TU_OK(pt_ev_json(v, &j, &jl));
		assert_true(len + jl + 2 < cap);
		memcpy(out + len, j, jl);
		len += jl;
		out[len++] = '\n';
	}
	pt_iter_free(it);
	return out;
}

static char *sealed_one(pt_store *st, const char *run)
{
	size_t n;
	char **segs = tu_sealed(st, run, NULL, &n);
	assert_int_equal(n, 1);
	char *p = strdup(segs[0]);
	pt_strv_free(segs, n);
	return p;
}

static void test_writer_output_matches_the_golden_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	pt_store *st = tu_store(dir);
	write_fixture_events(st);
	char *seg = sealed_one(st, "golden");
	char *want_hash = read_text(FIXDIR "/segment.sha256");
	assert_non_null(want_hash);
	const char *base = strrchr(seg, '/') + 1;
	/* the content address is the documented SHA-256 of the exact bytes */
	assert_memory_equal(base, want_hash, 64);
	char *golden = tu_path(FIXDIR, base);
	char cmd[8400];
	snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", seg, golden);
	assert_int_equal(tu_run(cmd), 0);
	char *json = events_json(st, "golden");
	char *want_json = read_text(FIXDIR "/events.jsonl");
	assert_string_equal(json, want_json);
	free(json);
	free(want_json);
	free(golden);
	free(want_hash);
	free(seg);
	pt_store_free(st);
	tu_rmrf(dir);
	free(dir);
}

static void test_reader_reads_the_committed_golden_store(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	pt_store *st = tu_store(dir);
	char *sdir = tu_path(pt_store_path(st), "runs/golden/main/segments");
	char cmd[8400];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/*.ptseg '%s'/ && cp '%s/chain' '%s/..'", sdir, FIXDIR, sdir, FIXDIR,
		 sdir);
	assert_int_equal(tu_run(cmd), 0);
	char *json = events_json(st, "golden");
	char *want_json = read_text(FIXDIR "/events.jsonl");
	assert_string_equal(json, want_json);
	assert_int_equal(tu_verify_errors(st, NULL, 0), 0);
	free(json);
	free(want_json);
	free(sdir);
	pt_store_free(st);
	tu_rmrf(dir);
	free(dir);
}

/*
 * A store written before the Merkle tree (format 1: tests/fixtures/log/v1/,
 * the golden segment of that version) reads back, verifies, and a new writer
 * continues it: its first segment of version 2 carries the tree over all
 * events, old ones included.
 */
static void test_version_1_store_reads_and_continues(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	pt_store *st = tu_store(dir);
	char *sdir = tu_path(pt_store_path(st), "runs/golden/main/segments");
	char cmd[8400];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/v1/*.ptseg '%s'/ && cp '%s/v1/chain' '%s/..'", sdir, FIXDIR,
		 sdir, FIXDIR, sdir);
	assert_int_equal(tu_run(cmd), 0);
	char *json = events_json(st, "golden");
	char *want_json = read_text(FIXDIR "/events.jsonl");
	assert_string_equal(json, want_json); /* the same events as the version-2 fixture */
	assert_int_equal(tu_verify_errors(st, NULL, 0), 0);
	pt_recorder *r;
	TU_OK(pt_recorder_open(&r, st, "golden", NULL, NULL));
	TU_OK(pt_recorder_metric(r, "loss", 0.5, 9));
	TU_OK(pt_recorder_close(r));
	assert_int_equal(tu_verify_errors(st, NULL, 0), 0);
	assert_int_equal(tu_count(st, "golden", NULL, NULL), 9);
	/* the new segment's footer holds the tree of all 9 events */
	size_t n;
	char **segs = tu_sealed(st, "golden", NULL, &n);
	assert_int_equal(n, 2);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		int fd = open(segs[i], O_RDONLY);
		assert_true(fd >= 0);
		pt__footer f;
		TU_OK(pt__footer_read(fd, (uint64_t)lseek(fd, 0, SEEK_END), segs[i], &f));
		if (f.has_tree) {
			assert_int_equal(f.tree_size, 9);
			found++;
		}
		pt__footer_free(&f);
		close(fd);
	}
	assert_int_equal(found, 1);
	pt_strv_free(segs, n);
	free(json);
	free(want_json);
	free(sdir);
	pt_store_free(st);
	tu_rmrf(dir);
	free(dir);
}

/* The documented offsets, decoded by hand rather than through segment.c. */
static void test_documented_offsets_hold(void **state)
{
	(void)state;
	char *hash = read_text(FIXDIR "/segment.sha256");
	char name[80];
	snprintf(name, sizeof name, "%.64s.ptseg", hash);
	char *path = tu_path(FIXDIR, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t b[1 << 16];
	size_t n = fread(b, 1, sizeof b, f);
	fclose(f);
	/* segment header */
	assert_int_equal(pt__get_u32(b), 0x184D2A50u);
	uint32_t hl = pt__get_u32(b + 4);
	assert_memory_equal(b + 8, "PTSG", 4);
	assert_int_equal(pt__get_u16(b + 12), 2);     /* version 2: Merkle roots */
	assert_int_equal(pt__get_u64(b + 16), 0);     /* segment number */
	assert_int_equal(pt__get_u64(b + 24), 1);     /* first seq */
	assert_int_equal(pt__get_u16(b + 8 + 56), 6); /* "golden" */
	assert_memory_equal(b + 8 + 58, "golden", 6);
	assert_int_equal(pt__get_u32(b + 8 + hl - 4), pt__crc32c(0, b + 8, hl - 4));
	/* first batch header */
	const uint8_t *bh = b + 8 + hl;
	assert_int_equal(pt__get_u32(bh), 0x184D2A51u);
	assert_int_equal(pt__get_u32(bh + 4), 100);
	assert_memory_equal(bh + 8, "PTBH", 4);
	assert_int_equal(pt__get_u16(bh + 12), 2);
	assert_int_equal(pt__get_u64(bh + 16), 1); /* first seq */
	assert_int_equal(pt__get_u32(bh + 24), 8); /* events */
	uint32_t plen = pt__get_u32(bh + 28);
	assert_int_equal(pt__get_u32(bh + 36), pt__crc32c(0, bh + 108, plen));
	assert_int_equal((int64_t)pt__get_u64(bh + 48), 4); /* largest step */
	assert_int_equal(pt__get_u32(bh + 104), pt__crc32c(0, bh + 8, 96));
	const uint8_t *batch_root = bh + 8 + 64; /* the tree of events 1..8 */
	/* the payload is a zstd frame (magic 0xFD2FB528) */
	assert_int_equal(pt__get_u32(bh + 108), 0xFD2FB528u);
	/* footer found from the end */
	assert_memory_equal(b + n - 4, "PTFE", 4);
	uint32_t dlen = pt__get_u32(b + n - 8);
	const uint8_t *ft = b + n - 8 - dlen;
	assert_int_equal(pt__get_u32(ft), 0x184D2A52u);
	assert_memory_equal(ft + 8, "PTIX", 4);
	assert_int_equal(pt__get_u16(ft + 8 + 4), 2);
	assert_int_equal(pt__get_u64(ft + 8 + 8), 1);  /* batches */
	assert_int_equal(pt__get_u64(ft + 8 + 16), 8); /* events */
	/* the tree: size 8, root (= the batch's), one node (popcount 8), which is the root */
	assert_int_equal(pt__get_u64(ft + 8 + 112), 8);
	assert_memory_equal(ft + 8 + 120, batch_root, 32);
	assert_int_equal(pt__get_u32(ft + 8 + 152), 1);
	assert_memory_equal(ft + 8 + 160, batch_root, 32);
	assert_int_equal(pt__get_u64(ft + 8 + 192), (uint64_t)(8 + hl)); /* index: batch offset */
	free(path);
	free(hash);
}

static int regenerate(void)
{
	char *dir = tu_tmpdir();
	pt_store *st = tu_store(dir);
	write_fixture_events(st);
	char *seg = sealed_one(st, "golden");
	char cmd[16000];
	const char *base = strrchr(seg, '/') + 1;
	snprintf(cmd, sizeof cmd,
		 "mkdir -p '%s' && rm -f '%s'/*.ptseg && cp '%s' '%s/' && cp '%s/runs/golden/main/chain' '%s/chain' && "
		 "printf '%%.64s\\n' '%s' > '%s/segment.sha256'",
		 FIXDIR, FIXDIR, seg, FIXDIR, pt_store_path(st), FIXDIR, base, FIXDIR);
	int rc = tu_run(cmd);
	char *json = events_json(st, "golden");
	FILE *f = fopen(FIXDIR "/events.jsonl", "w");
	fputs(json, f);
	fclose(f);
	free(json);
	free(seg);
	pt_store_free(st);
	tu_rmrf(dir);
	free(dir);
	printf("fixtures regenerated in %s\n", FIXDIR);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--regenerate"))
		return regenerate();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_output_matches_the_golden_segment),
		cmocka_unit_test(test_reader_reads_the_committed_golden_store),
		cmocka_unit_test(test_documented_offsets_hold),
		cmocka_unit_test(test_version_1_store_reads_and_continues),
	};
	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
