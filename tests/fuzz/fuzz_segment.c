/*
 * fuzz_segment.c - segment files (the batch reader, scanner, footer and
 * verify) fed hostile bytes.
 *
 * Each input is stored twice in a private store, run "r", stream "main":
 *  1. as the stream's open segment: the reader iterates it (rendering every
 *     event as JSON), pt_stream_stat summarises it and pt_verify checks it,
 *     which together cover the open-segment scan, torn-tail and damage logic;
 *  2. as a sealed segment named by its SHA-256, with a chain line built from
 *     its own footer (when the footer parses), so that the reader and verify
 *     go through the sealed path: header, footer index, batches, events.
 * Nothing may crash, leak, or read outside its buffers whatever the bytes.
 */
#include "fuzz_common.h"

#include "format/segment_int.h"

static char *store_dir, *stream_dir, *seg_dir, *open_path, *chain_path;
static pt_store *st;

static void setup(void)
{
	if (st)
		return;
	const char *d = fz_dir();
	store_dir = pt__sprintf("%s/store", d);
	if (!store_dir || pt_store_init(&st, store_dir)) {
		fprintf(stderr, "fuzz: %s\n", pt_error_last());
		abort();
	}
	stream_dir = pt__sprintf("%s/runs/r/main", store_dir);
	seg_dir = pt__sprintf("%s/segments", stream_dir);
	open_path = pt__sprintf("%s/" PT_OPEN_SEGMENT, stream_dir);
	chain_path = pt__sprintf("%s/chain", stream_dir);
	fz_mkdir(seg_dir);
}

static void clear_stream(void)
{
	unlink(open_path);
	unlink(chain_path);
	char **v = NULL;
	size_t n = 0;
	if (!pt__list_dir(seg_dir, NULL, &v, &n)) {
		for (size_t i = 0; i < n; i++) {
			char *p = pt__sprintf("%s/%s", seg_dir, v[i]);
			if (p)
				unlink(p);
			pt__free(p);
		}
		pt_strv_free(v, n);
	}
}

static int count_problem(const pt_problem *p, void *payload)
{
	/* every problem must name an object and carry a message */
	if (!p->object || !p->message || !p->message[0])
		abort();
	(*(int *)payload)++;
	return 0;
}

static void read_all(void)
{
	pt_iter *it = NULL;
	int rc = pt_iter_open(&it, st, "r", NULL, NULL);
	fz_check_error(rc);
	if (!rc) {
		const pt_event_view *ev;
		int guard = 0;
		while ((rc = pt_iter_next(it, &ev)) == 0 && guard++ < 100000) {
			const char *js;
			size_t jl;
			const void *mp;
			size_t ml;
			fz_check_error(pt_ev_json(ev, &js, &jl));
			fz_check_error(pt_ev_body_msgpack(ev, &mp, &ml));
			(void)pt_ev_kind(ev);
			(void)pt_ev_name(ev);
		}
		fz_check_error(rc);
		pt_iter_free(it);
	}
	pt_stream_info si;
	fz_check_error(pt_stream_stat(st, "r", NULL, &si));
	int problems = 0;
	pt_verify_stats vs;
	rc = pt_verify(st, "r", NULL, count_problem, &problems, &vs);
	fz_check_error(rc);
	/* verify's verdict and its problem list must agree */
	if (rc == 0 && vs.errors)
		abort();
}

/* A chain line for the input as sealed segment 0, taken from its own header
 * and footer, so the sealed path gets past the chain checks. */
static void as_sealed(const uint8_t *data, size_t size)
{
	uint8_t id[PT_SHA256_LEN];
	pt__sha256(data, size, id);
	char *path = pt__segment_path(stream_dir, id);
	if (!path)
		return;
	fz_write(path, data, size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	pt__seg_header h;
	pt__footer f = {0};
	if (fd >= 0 && !pt__seg_header_read(fd, size, path, &h) && !pt__footer_read(fd, size, path, &f)) {
		pt__chain c = {0};
		pt__chain_entry e = {0};
		e.segno = h.segno;
		memcpy(e.id, id, PT_SHA256_LEN);
		e.first_seq = f.first_seq;
		e.last_seq = f.last_seq;
		e.events = f.events;
		e.step_min = f.step_min;
		e.step_max = f.step_max;
		e.time_min = f.time_min;
		e.time_max = f.time_max;
		e.bytes = size;
		e.raw_bytes = f.raw_bytes;
		if (!pt__chain_append(&c, &e) && !pt__chain_store(stream_dir, &c))
			read_all();
		pt__chain_free(&c);
	}
	pt__footer_free(&f);
	if (fd >= 0)
		close(fd);
	pt__free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	setup();
	clear_stream();
	fz_write(open_path, data, size);
	read_all();
	clear_stream();
	as_sealed(data, size);
	clear_stream();
	return 0;
}
