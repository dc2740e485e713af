/*
 * gen_seeds.c - writes the seed corpora of the fuzz targets from real files
 * made by the library: `fuzz_gen_seeds OUTDIR` (OUTDIR/<target>/seed-*).
 * Run by hand after a format change (tools/fuzz.sh --seeds); the output is
 * committed under tests/fuzz/corpus/.
 */
#include "base/base_int.h"

#include "archive/archive_int.h"
#include "checkpoint/checkpoint_int.h"
#include "format/objects_int.h"
#include "format/segment_int.h"

#include <errno.h>
#include <sys/stat.h>

static const char *outdir;

static void die(const char *what)
{
	fprintf(stderr, "gen_seeds: %s: %s\n", what, pt_error_last());
	exit(1);
}

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", outdir, target);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(p);
		exit(1);
	}
}

static void put_file(const char *target, const char *name, const char *src)
{
	uint8_t *d;
	size_t n;
	if (pt__read_file(src, 64u << 20, &d, &n))
		die(src);
	put(target, name, d, n);
	pt__free(d);
}

static void record(pt_recorder *rec, int i)
{
	pt_event *ev;
	static const char *kinds[] = {"param", "decision", "metric", "note", "my.kind"};
	if (pt_event_new(&ev, kinds[i % 5], i % 3 ? "lr" : NULL))
		die("event");
	if (i % 2)
		pt_event_set_step(ev, i * 10 - 7);
	pt_event_double(ev, "value", i * 0.5);
	pt_event_int(ev, "neg", -i * 100000);
	pt_event_str(ev, "reason", "plateau \xc3\xa9");
	if (i % 4 == 0) {
		pt_event_begin_map(ev, "set");
		pt_event_double(ev, "lr", 1e-4);
		pt_event_begin_array(ev, "considered");
		pt_event_uint(ev, NULL, UINT64_MAX);
		pt_event_bool(ev, NULL, 1);
		pt_event_nil(ev, NULL);
		pt_event_float(ev, NULL, 0.25f);
		pt_event_end(ev);
		pt_event_end(ev);
		pt_event_bytes(ev, "blob", "\x00\x01\x02", 3);
		pt_event_double(ev, "nan", 0.0 / 0.0);
	}
	if (pt_recorder_append(rec, ev, NULL))
		die("append");
	pt_event_free(ev);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_seeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	char tmpl[] = "/tmp/ptseeds.XXXXXX";
	if (!mkdtemp(tmpl))
		return 1;
	char sp[4200];
	snprintf(sp, sizeof sp, "%s/store", tmpl);
	pt_store *st;
	if (pt_store_init(&st, sp))
		die("init");
	put_file("config", "seed-config", (snprintf(sp, sizeof sp, "%s/store/config", tmpl), sp));
	put("config", "seed-newer", "provtrace-store\nformat = 2\n", 27);

	pt_recorder_options o = PT_RECORDER_OPTIONS_INIT;
	o.batch_max_events = 3;
	o.durability = PT_DURABILITY_NONE;
	pt_recorder *rec;
	if (pt_recorder_open(&rec, st, "seeds", NULL, &o))
		die("open");
	for (int i = 0; i < 12; i++) {
		record(rec, i);
		if (i % 3 == 2 && pt_recorder_flush(rec))
			die("flush");
	}
	/* a checkpoint, so the log holds a checkpoint event and the store a manifest */
	pt_checkpointer *cw;
	pt_checkpoint *ck;
	pt_checkpoint_info info;
	float w[64];
	for (int i = 0; i < 64; i++)
		w[i] = (float)i / 7.0f;
	uint64_t shape[2] = {8, 8};
	if (pt_checkpointer_open(&cw, st, rec, NULL) || pt_checkpoint_new(&ck) ||
	    pt_checkpoint_add_tensor(ck, "w", PT_DTYPE_F32, 2, shape, w, sizeof w) ||
	    pt_checkpoint_add_bytes(ck, "opt", "state", 5) || pt_checkpointer_write(cw, ck, 99, &info) ||
	    pt_checkpointer_close(cw))
		die("checkpoint");
	pt_checkpoint_free(ck);
	if (pt_recorder_flush(rec))
		die("flush");
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/store/runs/seeds/main", tmpl);
	snprintf(sp, sizeof sp, "%s/" PT_OPEN_SEGMENT, dir);
	put_file("segment", "seed-open", sp);
	if (pt_recorder_close(rec))
		die("close");
	pt__chain c;
	if (pt__chain_load(dir, &c) || c.n != 1)
		die("chain");
	char *seg = pt__segment_path(dir, c.v[0].id);
	put_file("segment", "seed-sealed", seg);
	pt__free(seg);
	pt__chain_free(&c);
	snprintf(sp, sizeof sp, "%s/chain", dir);
	put_file("chain", "seed-chain", sp);

	/* events, their JSON, and the checkpoint event body */
	pt_iter *it;
	const pt_event_view *ev;
	if (pt_iter_open(&it, st, "seeds", NULL, NULL))
		die("iter");
	int n = 0, rc;
	pt__buf lines = {0};
	while (!(rc = pt_iter_next(it, &ev))) {
		const void *mp;
		size_t ml;
		const char *js;
		size_t jl;
		char name[64];
		pt_ev_msgpack(ev, &mp, &ml);
		snprintf(name, sizeof name, "seed-%02d", n);
		put("event", name, mp, ml);
		pt_ev_json(ev, &js, &jl);
		put("json", name, js, jl);
		if (!strcmp(pt_ev_kind(ev), "checkpoint")) {
			pt_ev_body_msgpack(ev, &mp, &ml);
			put("manifest", "seed-event-body", mp, ml);
		}
		n++;
	}
	if (rc != PT_ITEROVER)
		die("iterate");
	pt_iter_free(it);
	pt__buf_free(&lines);

	/* the manifest (plain bytes) and a real object file */
	uint8_t mid[32];
	if (pt__unhex(info.manifest, mid, 32))
		die("manifest id");
	uint8_t *md;
	size_t ml;
	if (pt__object_get(st, mid, &md, &ml))
		die("manifest");
	put("manifest", "seed-manifest", md, ml);
	pt__free(md);
	char *mp = pt__object_path(st, mid);
	put_file("object", "seed-manifest-object", mp);
	pt__free(mp);
	static const char known[] = "provtrace fuzz object";
	uint8_t kid[32];
	if (pt__object_put(st, known, sizeof known - 1, kid))
		die("object");
	char *kp = pt__object_path(st, kid);
	put_file("object", "seed-known-object", kp);
	pt__free(kp);
	/* an archive manifest with a segment and an object member */
	{
		pt__amember m[2];
		memset(m, 0, sizeof m);
		m[0].type = PT_MEMBER_SEGMENT;
		m[0].name = pt__strdup("segments/seeds/main/0.ptseg");
		m[0].size = 1961;
		m[0].offset = 1536;
		m[0].run = pt__strdup("seeds");
		m[0].stream = pt__strdup("main");
		m[0].first_seq = 1;
		m[0].last_seq = 13;
		m[0].step_min = -7;
		m[0].step_max = 103;
		m[0].time_min = 1795680000000000000;
		m[0].time_max = 1795680000000002000;
		memset(m[0].sha, 0xab, 32);
		memset(m[0].id, 0xab, 32);
		m[1].type = PT_MEMBER_OBJECT;
		m[1].name = pt__strdup("objects/cd/cdcd");
		m[1].size = 141;
		m[1].offset = 4096;
		memset(m[1].sha, 0xcd, 32);
		memset(m[1].id, 0xcd, 32);
		pt__acat a;
		memset(&a, 0, sizeof a);
		a.plan = pt__strdup("nightly");
		a.tags_json = pt__strdup("{\"team\":\"ml\"}");
		a.created = 1795680000;
		a.window = 1795676400;
		a.m = m;
		a.nm = 2;
		pt__buf b = {0};
		if (pt__manifest_json(&b, &a))
			die("archive manifest");
		put("archive_manifest", "seed-manifest", b.data, b.len);
		pt__buf_free(&b);
		a.m = NULL;
		a.nm = 0;
		pt__acat_clear(&a);
		for (int i = 0; i < 2; i++) {
			pt__free(m[i].name);
			pt__free(m[i].run);
			pt__free(m[i].stream);
		}
	}
	pt_store_free(st);
	char cmd[4300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	return system(cmd) ? 1 : 0;
}
