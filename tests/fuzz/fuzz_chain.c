/*
 * fuzz_chain.c - a stream's chain file (STREAM/chain, the list of sealed
 * segments and the head of the hash chain): loaded by pt__chain_load, and
 * then used by verify, the reader and pt_stream_stat, which must report a
 * missing or inconsistent segment rather than trust the file.
 * A chain that loads must store back to bytes that load to the same chain.
 */
#include "fuzz_common.h"

#include "format/segment_int.h"

static char *store_dir, *stream_dir, *chain_path;
static pt_store *st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!st) {
		store_dir = pt__sprintf("%s/store", fz_dir());
		if (!store_dir || pt_store_init(&st, store_dir))
			abort();
		stream_dir = pt__sprintf("%s/runs/r/main", store_dir);
		chain_path = pt__sprintf("%s/chain", stream_dir);
		fz_mkdir(stream_dir);
	}
	if (size > 1u << 20)
		return 0;
	fz_write(chain_path, data, size);
	pt__chain c = {0};
	int rc = pt__chain_load(stream_dir, &c);
	fz_check_error(rc);
	if (rc == 0) {
		if (!pt__chain_store(stream_dir, &c)) {
			pt__chain c2 = {0};
			if (pt__chain_load(stream_dir, &c2)) {
				fprintf(stderr, "fuzz_chain: stored chain does not load: %s\n", pt_error_last());
				abort();
			}
			if (c2.n != c.n || (c.n && memcmp(c.v, c2.v, c.n * sizeof *c.v)))
				abort();
			pt__chain_free(&c2);
			fz_write(chain_path, data, size);
		}
		(void)pt__chain_find_seq(&c, 1);
		(void)pt__chain_find_seq(&c, UINT64_MAX);
		pt_stream_info si;
		fz_check_error(pt_stream_stat(st, "r", NULL, &si));
		pt_iter *it = NULL;
		if (!pt_iter_open(&it, st, "r", NULL, NULL)) {
			const pt_event_view *ev;
			int guard = 0;
			while (!(rc = pt_iter_next(it, &ev)) && guard++ < 1000)
				;
			fz_check_error(rc);
			pt_iter_free(it);
		}
		pt_verify_stats vs;
		rc = pt_verify(st, "r", NULL, NULL, NULL, &vs);
		fz_check_error(rc);
		if (c.n && rc == 0)
			abort(); /* the chain names segments that do not exist */
	}
	pt__chain_free(&c);
	return 0;
}
