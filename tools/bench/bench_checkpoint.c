/*
 * bench_checkpoint.c - `provtrace-bench checkpoint`: storing model state.
 *
 * Workload (issue 3): a float32 state dict shaped like a transformer (token
 * and position embeddings, N blocks of attention + MLP weights, biases and
 * layer norms: a few hundred tensors from 4 KiB to 100+ MiB, 1 GiB by
 * default), values like trained weights (normal, std 0.02, full-entropy
 * mantissas). Checkpoint 1 stores it; then the last blocks (about 10% of the
 * tensors and bytes) change, as in frozen-backbone fine-tuning, and
 * checkpoint 2 stores the new state.
 *
 * Methods, each into its own fresh repository, timed from the call to the
 * moment the data is durable:
 *   provtrace        pt_checkpointer_write (chunks, manifest, event; fsync'd)
 *   provtrace-async  pt_checkpointer_snapshot + wait; "loop wait" is the part
 *                    the training loop waits for (the snapshot)
 *   borg             `borg create --compression zstd,1` (encryption none) of
 *                    the state written as one file (like a torch.save output)
 *   restic           `restic backup` of that file
 *   torch.save       torch.save of the same tensors + fsync (python3-torch)
 *   raw              write + fsync of the bytes (the limit)
 * The peers that are not installed are listed as such. Writing the input file
 * the peers back up is not timed. Before each method the file system is synced.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provtrace.h"
#include "provtrace/checkpoint.h"

#define DEFAULT_SIZE (1ull << 30)
#define QUICK_SIZE (64ull << 20)

/* Targets of issue 3. */
#define TARGET_FIRST_VS_BORG 3.0
#define TARGET_SECOND_VS_BORG 4.0
#define TARGET_WAIT_PER_GIB 0.3

/* ---- the workload ---------------------------------------------------------------------- */

typedef struct {
	char name[64];
	uint64_t shape[2];
	unsigned ndim;
	size_t off, len;
	int block; /* transformer block, -1 for embeddings/final norm */
} tensor;

typedef struct {
	tensor *t;
	size_t n, cap;
	size_t total;
	int blocks;
	uint8_t *data;
} model;

static int add(model *m, const char *name, int block, uint64_t d0, uint64_t d1)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 256;
		tensor *nt = realloc(m->t, nc * sizeof *nt);
		if (!nt)
			return -1;
		m->t = nt;
		m->cap = nc;
	}
	tensor *t = &m->t[m->n++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->block = block;
	t->ndim = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->len = (size_t)(d0 * (d1 ? d1 : 1) * 4);
	t->off = m->total;
	m->total += t->len;
	return 0;
}

/*
 * GPT-like shapes with hidden size d: per block 12 d^2 floats of weights
 * (qkv 3d^2, proj d^2, mlp 8d^2) plus biases and norms. The number of blocks
 * and the vocabulary are picked to reach `size`.
 */
static int build_model(model *m, uint64_t size)
{
	uint64_t d = size >= (512ull << 20) ? 1024 : size >= (32ull << 20) ? 512 : 128;
	uint64_t block = 12 * d * d * 4;
	uint64_t vocab = 32000, pos = 2048;
	while (vocab > 256 && (vocab + pos) * d * 4 > size / 8)
		vocab /= 2;
	int blocks = (int)((size - (vocab + pos) * d * 4) / block);
	if (blocks < 2)
		blocks = 2;
	char name[64];
	memset(m, 0, sizeof *m);
	m->blocks = blocks;
	if (add(m, "tok_embeddings.weight", -1, vocab, d) || add(m, "pos_embeddings.weight", -1, pos, d))
		return -1;
	for (int b = 0; b < blocks; b++) {
		static const struct {
			const char *n;
			int d0, d1; /* multiples of d (0: none) */
		} parts[] = {
			{"ln_1.weight", 1, 0}, {"ln_1.bias", 1, 0}, {"attn.qkv.weight", 3, 1}, {"attn.qkv.bias", 3, 0},
			{"attn.proj.weight", 1, 1}, {"attn.proj.bias", 1, 0}, {"ln_2.weight", 1, 0},
			{"ln_2.bias", 1, 0}, {"mlp.fc.weight", 4, 1}, {"mlp.fc.bias", 4, 0},
			{"mlp.proj.weight", 1, 4}, {"mlp.proj.bias", 1, 0},
		};
		for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
			snprintf(name, sizeof name, "blocks.%d.%s", b, parts[k].n);
			uint64_t d1 = parts[k].d1 ? (uint64_t)parts[k].d1 * d : 0;
			if (add(m, name, b, (uint64_t)parts[k].d0 * d, d1))
				return -1;
		}
	}
	if (add(m, "ln_f.weight", -1, d, 0) || add(m, "ln_f.bias", -1, d, 0))
		return -1;
	/* the remainder goes into an lm_head so that the total is `size` */
	if (m->total + 4 * d <= size) {
		uint64_t rows = (size - m->total) / (4 * d);
		if (rows && add(m, "lm_head.weight", -1, rows, d))
			return -1;
	}
	m->data = malloc(m->total ? m->total : 1);
	return m->data ? 0 : -1;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* normal(0, 0.02) by the sum of 4 uniforms (Irwin-Hall): cheap, bell-shaped, full mantissas */
static void fill_tensor(model *m, const tensor *t, int is_norm_weight)
{
	float *w = (float *)(m->data + t->off);
	size_t n = t->len / 4;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next_rand();
		double s = (double)(r & 0xffff) + (double)((r >> 16) & 0xffff) + (double)((r >> 32) & 0xffff) +
			   (double)(r >> 48);
		double z = (s / 65536.0 - 2.0) * 1.7320508; /* unit variance */
		w[i] = (float)(z * 0.02 + (is_norm_weight ? 1.0 : 0.0));
	}
}

static void fill_model(model *m, int only_from_block)
{
	for (size_t i = 0; i < m->n; i++) {
		tensor *t = &m->t[i];
		if (only_from_block >= 0 && t->block < only_from_block)
			continue;
		int norm = strstr(t->name, "ln_") && strstr(t->name, ".weight");
		fill_tensor(m, t, norm);
	}
}

/* ---- helpers ----------------------------------------------------------------------------- */

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* CPU seconds used so far by this process (self) or its waited-for children. */
static double cpu_secs(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int write_file(const char *path, const void *p, size_t n, int do_fsync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		bench_err_errno("cannot create %s", path);
		return -1;
	}
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n > (64u << 20) ? (64u << 20) : n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			bench_err_errno("cannot write %s", path);
			close(fd);
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	if (do_fsync && fsync(fd) != 0) {
		bench_err_errno("fsync %s", path);
		close(fd);
		return -1;
	}
	return close(fd);
}

static int have_cmd(const char *cmd)
{
	char buf[256];
	snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

/* Run a shell command quietly; 0 if it exited 0. */
static int run_cmd(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0) {
		bench_err("command failed (status %d): %s", rc, cmd);
		return -1;
	}
	return 0;
}

/* ---- methods ------------------------------------------------------------------------------- */

typedef struct {
	const char *name;
	int available;
	const char *why; /* if not available */
	double t[2];     /* seconds per checkpoint */
	int64_t bytes[2]; /* bytes added per checkpoint */
	double wait[2];  /* async: training loop wait */
	double cpu[2];   /* CPU seconds (user + system, this process or the peer's processes) */
	int ran[2];
} method;

enum { M_PT, M_PT_ASYNC, M_BORG, M_RESTIC, M_TORCH, M_RAW, M_COUNT };

typedef struct {
	model m;
	char *root;
	char *input;  /* the state as one file (peers' input) */
	char *layout; /* tensor list for the torch script */
	char *dirs[M_COUNT];
	method me[M_COUNT];
	pt_store *st[2];
	pt_recorder *rec[2];
	pt_checkpointer *cw[2];
	unsigned threads;
	int keep;
} ctx;

static int pt_setup(ctx *c, int k)
{
	if (pt_store_init(&c->st[k], c->dirs[k == 0 ? M_PT : M_PT_ASYNC])) {
		bench_err("provtrace: %s", pt_error_last());
		return -1;
	}
	if (pt_recorder_open(&c->rec[k], c->st[k], "bench", NULL, NULL)) {
		bench_err("provtrace: %s", pt_error_last());
		return -1;
	}
	pt_checkpoint_options o = PT_CHECKPOINT_OPTIONS_INIT;
	o.threads = c->threads;
	/* a training script knows its model size: the first snapshot copies into mapped pages */
	if (k == 1)
		o.snapshot_reserve = c->m.total;
	if (pt_checkpointer_open(&c->cw[k], c->st[k], c->rec[k], &o)) {
		bench_err("provtrace: %s", pt_error_last());
		return -1;
	}
	return 0;
}

static int build_ck(ctx *c, pt_checkpoint **out)
{
	if (pt_checkpoint_new(out))
		return -1;
	for (size_t i = 0; i < c->m.n; i++) {
		tensor *t = &c->m.t[i];
		if (pt_checkpoint_add_tensor(*out, t->name, PT_DTYPE_F32, t->ndim, t->shape, c->m.data + t->off,
					     t->len)) {
			bench_err("provtrace: %s", pt_error_last());
			return -1;
		}
	}
	return 0;
}

static int run_provtrace(ctx *c, int phase, int async)
{
	method *me = &c->me[async ? M_PT_ASYNC : M_PT];
	const char *dir = c->dirs[async ? M_PT_ASYNC : M_PT];
	pt_checkpoint *ck = NULL;
	if (build_ck(c, &ck))
		return -1;
	int64_t before = bench_du(dir);
	if (bench_settle(dir))
		return -1;
	double c0 = cpu_secs(RUSAGE_SELF);
	uint64_t t0 = bench_mono_ns();
	int rc;
	pt_checkpointer *cw = c->cw[async];
	if (async) {
		rc = pt_checkpointer_snapshot(cw, ck, phase + 1, NULL);
		me->wait[phase] = secs(bench_mono_ns() - t0);
		if (!rc)
			rc = pt_checkpointer_wait(cw);
	} else {
		rc = pt_checkpointer_write(cw, ck, phase + 1, NULL);
	}
	me->t[phase] = secs(bench_mono_ns() - t0);
	me->cpu[phase] = cpu_secs(RUSAGE_SELF) - c0;
	pt_checkpoint_free(ck);
	if (rc) {
		bench_err("provtrace: %s", pt_error_last());
		return -1;
	}
	me->bytes[phase] = bench_du(dir) - before;
	me->ran[phase] = 1;
	return 0;
}

static int run_peer(ctx *c, int which, int phase)
{
	method *me = &c->me[which];
	const char *dir = c->dirs[which];
	char cmd[4096];
	char *repo = bench_path_join(dir, "repo");
	if (!repo)
		return -1;
	int64_t before = phase ? bench_du(dir) : 0;
	if (bench_settle(c->root))
		goto fail;
	double c0 = cpu_secs(which == M_RAW ? RUSAGE_SELF : RUSAGE_CHILDREN);
	uint64_t t0 = bench_mono_ns();
	switch (which) {
	case M_BORG:
		snprintf(cmd, sizeof cmd,
			 "BORG_BASE_DIR='%s/base' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes "
			 "borg create --compression zstd,1 '%s::ck%d' '%s' >/dev/null 2>&1",
			 dir, repo, phase + 1, c->input);
		break;
	case M_RESTIC:
		snprintf(cmd, sizeof cmd,
			 "RESTIC_PASSWORD=bench RESTIC_CACHE_DIR='%s/cache' restic -r '%s' backup --quiet '%s' "
			 ">/dev/null 2>&1", dir, repo, c->input);
		break;
	case M_TORCH:
		snprintf(cmd, sizeof cmd,
			 "/usr/bin/python3 - '%s' '%s' '%s/ck%d.pt' <<'EOF'\n"
			 "import os, sys, time, numpy as np, torch\n"
			 "raw, layout, out = sys.argv[1:4]\n"
			 "buf = np.fromfile(raw, dtype=np.uint8)\n"
			 "sd = {}\n"
			 "for line in open(layout):\n"
			 "    name, off, ln, *shape = line.split()\n"
			 "    a = buf[int(off):int(off)+int(ln)].view(np.float32).reshape([int(s) for s in shape])\n"
			 "    sd[name] = torch.from_numpy(a)\n"
			 "t0 = time.monotonic()\n"
			 "with open(out, 'wb') as f:\n"
			 "    torch.save(sd, f)\n"
			 "    f.flush(); os.fsync(f.fileno())\n"
			 "print(time.monotonic() - t0)\n"
			 "EOF", c->input, c->layout, dir, phase + 1);
		break;
	case M_RAW:
		break;
	}
	double t;
	if (which == M_RAW) {
		char *p = bench_path_join(dir, phase ? "ck2.bin" : "ck1.bin");
		if (!p || write_file(p, c->m.data, c->m.total, 1)) {
			free(p);
			goto fail;
		}
		free(p);
		t = secs(bench_mono_ns() - t0);
	} else if (which == M_TORCH) {
		/* the script times torch.save + fsync itself (not the Python start-up) */
		FILE *fp = popen(cmd, "r");
		double v = -1;
		if (!fp || fscanf(fp, "%lf", &v) != 1 || pclose(fp) != 0 || v < 0) {
			bench_err("torch.save failed");
			goto fail;
		}
		t = v;
	} else {
		if (run_cmd(cmd))
			goto fail;
		t = secs(bench_mono_ns() - t0);
	}
	me->t[phase] = t;
	me->cpu[phase] = cpu_secs(which == M_RAW ? RUSAGE_SELF : RUSAGE_CHILDREN) - c0;
	me->bytes[phase] = bench_du(dir) - before;
	me->ran[phase] = 1;
	free(repo);
	return 0;
fail:
	free(repo);
	return -1;
}

static int peer_init(ctx *c, int which)
{
	char cmd[2048];
	const char *dir = c->dirs[which];
	if (which == M_BORG)
		snprintf(cmd, sizeof cmd,
			 "BORG_BASE_DIR='%s/base' borg init --encryption=none '%s/repo' >/dev/null 2>&1", dir, dir);
	else if (which == M_RESTIC)
		snprintf(cmd, sizeof cmd,
			 "RESTIC_PASSWORD=bench RESTIC_CACHE_DIR='%s/cache' restic -r '%s/repo' init >/dev/null 2>&1",
			 dir, dir);
	else
		return 0;
	return run_cmd(cmd);
}

static int write_inputs(ctx *c)
{
	if (write_file(c->input, c->m.data, c->m.total, 0))
		return -1;
	FILE *fp = fopen(c->layout, "w");
	if (!fp) {
		bench_err_errno("cannot create %s", c->layout);
		return -1;
	}
	for (size_t i = 0; i < c->m.n; i++) {
		tensor *t = &c->m.t[i];
		fprintf(fp, "%s %zu %zu %" PRIu64, t->name, t->off, t->len, t->shape[0]);
		if (t->ndim == 2)
			fprintf(fp, " %" PRIu64, t->shape[1]);
		fputc('\n', fp);
	}
	return fclose(fp);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: provtrace-bench checkpoint [--size BYTES] [--quick] [--dir DIR] [--only LIST]\n"
		"                                  [--threads N] [--keep]\n"
		"  --size BYTES  state dict size (default 1G; k/M/G are powers of 1000, use e.g. 1073741824)\n"
		"  --quick       64 MiB state (a smoke run)\n"
		"  --dir DIR     where to write (default $TMPDIR or /tmp)\n"
		"  --only LIST   comma-separated: provtrace,provtrace-async,borg,restic,torch,raw\n"
		"  --threads N   provtrace worker threads (default: 2 per online CPU)\n"
		"  --keep        keep the repositories\n");
}

static const char *const names[M_COUNT] = {"provtrace", "provtrace-async", "borg", "restic", "torch", "raw"};

int bench_checkpoint_run(int argc, char **argv)
{
	ctx c;
	memset(&c, 0, sizeof c);
	uint64_t size = DEFAULT_SIZE;
	const char *parent = NULL, *only = NULL;
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 's'}, {"quick", no_argument, NULL, 'q'},
		{"dir", required_argument, NULL, 'd'},  {"only", required_argument, NULL, 'o'},
		{"threads", required_argument, NULL, 't'}, {"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:qd:o:t:kh", longopts, NULL)) != -1) {
		uint64_t v;
		switch (opt) {
		case 's':
			if (bench_parse_count(&size, "--size", optarg))
				return BENCH_EXIT_USAGE;
			if (size < (1u << 20)) {
				bench_err("--size: at least 1 MiB");
				return BENCH_EXIT_USAGE;
			}
			break;
		case 'q': size = QUICK_SIZE; break;
		case 'd': parent = optarg; break;
		case 'o': only = optarg; break;
		case 't':
			if (bench_parse_count(&v, "--threads", optarg) || v > 64)
				return BENCH_EXIT_USAGE;
			c.threads = (unsigned)v;
			break;
		case 'k': c.keep = 1; break;
		case 'h': usage(stdout); return BENCH_EXIT_OK;
		default: usage(stderr); return BENCH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		bench_err("unexpected argument '%s'", argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	int want[M_COUNT];
	for (int i = 0; i < M_COUNT; i++)
		want[i] = only == NULL;
	if (only) {
		char *dup = strdup(only), *save = NULL;
		for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int found = 0;
			for (int i = 0; i < M_COUNT; i++)
				if (!strcmp(tok, names[i]))
					want[i] = found = 1;
			if (!found) {
				bench_err("--only: unknown method '%s'", tok);
				free(dup);
				return BENCH_EXIT_USAGE;
			}
		}
		free(dup);
	}
	if (parent) {
		struct stat sb;
		if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			bench_err("--dir %s: not an existing directory", parent);
			return BENCH_EXIT_USAGE;
		}
	}

	int rc = BENCH_EXIT_ERROR;
	if (build_model(&c.m, size)) {
		bench_err("out of memory for a %" PRIu64 "-byte state dict", size);
		return BENCH_EXIT_ERROR;
	}
	if (bench_mkdtemp(&c.root, parent, "pt-bench-ckpt-"))
		goto out;
	c.input = bench_path_join(c.root, "state.bin");
	c.layout = bench_path_join(c.root, "layout.txt");
	for (int i = 0; i < M_COUNT; i++) {
		c.me[i].name = names[i];
		c.me[i].available = want[i];
		c.dirs[i] = bench_path_join(c.root, names[i]);
		if (!c.dirs[i])
			goto out;
	}
	if (want[M_BORG] && !have_cmd("borg"))
		c.me[M_BORG].available = 0, c.me[M_BORG].why = "not installed (apt-get install borgbackup)";
	if (want[M_RESTIC] && !have_cmd("restic"))
		c.me[M_RESTIC].available = 0, c.me[M_RESTIC].why = "not installed (apt-get install restic)";
	if (want[M_TORCH] && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
		c.me[M_TORCH].available = 0, c.me[M_TORCH].why = "not installed (apt-get install python3-torch)";
	for (int i = 0; i < M_COUNT; i++) {
		if (!c.me[i].available)
			continue;
		if (i != M_PT && i != M_PT_ASYNC && mkdir(c.dirs[i], 0755) != 0) {
			bench_err_errno("cannot create %s", c.dirs[i]);
			goto out;
		}
		if (peer_init(&c, i))
			goto out;
	}
	if (c.me[M_PT].available && pt_setup(&c, 0))
		goto out;
	if (c.me[M_PT_ASYNC].available && pt_setup(&c, 1))
		goto out;

	fprintf(stderr, "generating a %.2f GiB state dict (%zu float32 tensors, %d blocks)...\n",
		(double)c.m.total / (1u << 30), c.m.n, c.m.blocks);
	fill_model(&c.m, -1);
	int changed_from = c.m.blocks - (c.m.blocks + 9) / 10; /* the last ~10% of the blocks */
	size_t changed_tensors = 0, changed_bytes = 0;
	for (size_t i = 0; i < c.m.n; i++)
		if (c.m.t[i].block >= changed_from)
			changed_tensors++, changed_bytes += c.m.t[i].len;

	for (int phase = 0; phase < 2; phase++) {
		if (phase) {
			fill_model(&c.m, changed_from);
		}
		if (write_inputs(&c))
			goto out;
		for (int i = 0; i < M_COUNT; i++) {
			if (!c.me[i].available)
				continue;
			fprintf(stderr, "checkpoint %d: %s...\n", phase + 1, names[i]);
			int r = i == M_PT ? run_provtrace(&c, phase, 0)
				: i == M_PT_ASYNC ? run_provtrace(&c, phase, 1)
						  : run_peer(&c, i, phase);
			if (r)
				goto out;
		}
	}

	printf("\n## provtrace-bench checkpoint\n\n");
	bench_print_machine(stdout);
	printf("state dict: %.3f GiB, %zu float32 tensors (%d blocks); checkpoint 2 changes %zu tensors "
	       "(%.1f%% of the bytes)\n\n", (double)c.m.total / (1u << 30), c.m.n, c.m.blocks, changed_tensors,
	       100.0 * (double)changed_bytes / (double)c.m.total);
	static const char *const head[] = {"method", "1st: s (CPU s)", "1st: stored MiB", "1st: ratio",
					   "2nd: s (CPU s)", "2nd: added MiB", "2nd: ratio", "loop wait s/GiB"};
	bench_table t;
	bench_table_init(&t, 8, head);
	for (int i = 0; i < M_COUNT; i++) {
		method *me = &c.me[i];
		char cells[8][64];
		const char *row[8];
		for (int k = 0; k < 8; k++)
			row[k] = cells[k];
		snprintf(cells[0], 64, "%s", me->name);
		if (!me->ran[1]) {
			for (int k = 1; k < 8; k++)
				snprintf(cells[k], 64, "-");
			if (me->why)
				snprintf(cells[1], 64, "%s", me->why);
			else if (!want[i])
				continue;
		} else {
			for (int p = 0; p < 2; p++) {
				snprintf(cells[1 + 3 * p], 64, "%.2f (%.2f)", me->t[p], me->cpu[p]);
				snprintf(cells[2 + 3 * p], 64, "%.1f", (double)me->bytes[p] / (1 << 20));
				snprintf(cells[3 + 3 * p], 64, "%.2f",
					 me->bytes[p] > 0 ? (double)c.m.total / (double)me->bytes[p] : 0.0);
			}
			if (i == M_PT_ASYNC)
				snprintf(cells[7], 64, "%.3f / %.3f", me->wait[0] / ((double)c.m.total / (1u << 30)),
					 me->wait[1] / ((double)c.m.total / (1u << 30)));
			else
				snprintf(cells[7], 64, "-");
		}
		bench_table_row(&t, row);
	}
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	printf("\nratio = logical bytes / bytes added to the repository by that checkpoint; CPU s = user +\n"
	       "system time of the method (provtrace: all its threads; peers: their processes; torch includes\n"
	       "Python start-up and loading the tensors); s = wall time (torch: torch.save + fsync only)\n");
	method *pt = &c.me[M_PT], *borg = &c.me[M_BORG], *pa = &c.me[M_PT_ASYNC];
	if (pt->ran[1] && borg->ran[1]) {
		printf("target: 1st >= %.0fx faster than borg: %.2fx %s\n", TARGET_FIRST_VS_BORG,
		       borg->t[0] / pt->t[0], borg->t[0] / pt->t[0] >= TARGET_FIRST_VS_BORG ? "ok" : "MISSED");
		printf("target: 2nd >= %.0fx faster than borg: %.2fx %s\n", TARGET_SECOND_VS_BORG,
		       borg->t[1] / pt->t[1], borg->t[1] / pt->t[1] >= TARGET_SECOND_VS_BORG ? "ok" : "MISSED");
		printf("target: stored <= borg: %.1f MiB vs %.1f MiB %s\n",
		       (double)(pt->bytes[0] + pt->bytes[1]) / (1 << 20),
		       (double)(borg->bytes[0] + borg->bytes[1]) / (1 << 20),
		       pt->bytes[0] + pt->bytes[1] <= borg->bytes[0] + borg->bytes[1] ? "ok" : "MISSED");
	}
	if (pa->ran[1]) {
		double w = (pa->wait[0] > pa->wait[1] ? pa->wait[0] : pa->wait[1]) / ((double)c.m.total / (1u << 30));
		printf("target: async loop wait < %.1f s/GiB: %.3f %s\n", TARGET_WAIT_PER_GIB, w,
		       w < TARGET_WAIT_PER_GIB ? "ok" : "MISSED");
	}
	rc = BENCH_EXIT_OK;
out:
	for (int k = 0; k < 2; k++) {
		if (c.cw[k] && pt_checkpointer_close(c.cw[k]) && rc == BENCH_EXIT_OK) {
			bench_err("provtrace: %s", pt_error_last());
			rc = BENCH_EXIT_ERROR;
		}
		pt_recorder_close(c.rec[k]);
		pt_store_free(c.st[k]);
	}
	if (c.root && !c.keep) {
		bench_settle(c.root);
		bench_rm_rf(c.root);
	} else if (c.root) {
		fprintf(stderr, "kept %s\n", c.root);
	}
	for (int i = 0; i < M_COUNT; i++)
		free(c.dirs[i]);
	free(c.input);
	free(c.layout);
	free(c.root);
	free(c.m.t);
	free(c.m.data);
	return rc;
}
