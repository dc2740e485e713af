/*
 * bench_code.c - `provtrace-bench code`: the cost of code provenance capture.
 *
 * A repository of --files files (default 10,000, 100 per directory) is made
 * with the git command line, then --modified tracked files (default 100) are
 * changed and --untracked new files (default 20) are written.  Each round
 * times, in the same process and the same page-cache state:
 *   - `git status --porcelain` + `git diff HEAD` run by the git command line
 *     (what a person would run to see the same information), and
 *   - pt_code_capture() into a fresh store: the libgit2 scan, the patch and
 *     the untracked contents stored as objects (fdatasync'd), the `code` and
 *     `env` events appended.
 * The order alternates between rounds; one warm-up round is not counted.
 * Target (issue 7): capture no slower than the two git commands together.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provtrace.h"
#include "provtrace/code.h"

extern char **environ;

static const char help[] =
	"usage: provtrace-bench code [--files N] [--modified N] [--untracked N] [--rounds N]\n"
	"                            [--dir DIR] [--quick]\n"
	"\n"
	"Code provenance capture on a repository of N files with some modified and some\n"
	"untracked files, against `git status --porcelain` + `git diff HEAD`.\n"
	"\n"
	"  --files N      tracked files (default 10000)\n"
	"  --modified N   tracked files changed before capture (default 100)\n"
	"  --untracked N  new untracked files (default 20)\n"
	"  --rounds N     timed rounds (default 7; median reported)\n"
	"  --dir DIR      where to make the repository (default $TMPDIR or /tmp)\n"
	"  --quick        1000 files, 3 rounds\n";

/* Run argv with stdout and stderr to /dev/null; returns the exit status or -1. */
static int run_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		errno = rc;
		bench_err_errno("cannot run %s", argv[0]);
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int git(const char *repo, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { (char *)"git", (char *)"-C", (char *)repo, (char *)a1, (char *)a2,
			 (char *)a3, NULL };
	return run_quiet(argv);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		bench_err_errno("cannot create %s", path);
		return -1;
	}
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	close(fd);
	if (w != (ssize_t)n) {
		bench_err_errno("cannot write %s", path);
		return -1;
	}
	return 0;
}

/* A source-like file of ~40 lines, distinct per index. */
static void file_text(char *buf, size_t size, uint64_t i, const char *extra)
{
	size_t off = 0;
	for (int l = 0; l < 40 && off < size; l++)
		off += (size_t)snprintf(buf + off, size - off,
					"def function_%" PRIu64 "_%d(x):  # line %d of file %" PRIu64 "\n",
					i, l, l, i);
	if (extra && off < size)
		snprintf(buf + off, size - off, "%s", extra);
}

static int make_repo(const char *repo, uint64_t files, uint64_t modified, uint64_t untracked)
{
	char path[4096], text[4096];
	if (git(repo, "init", "-q", ".") != 0) {
		bench_err("git init failed in %s", repo);
		return -1;
	}
	for (uint64_t i = 0; i < files; i++) {
		if (i % 100 == 0) {
			snprintf(path, sizeof(path), "%s/pkg%03" PRIu64, repo, i / 100);
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				bench_err_errno("cannot create %s", path);
				return -1;
			}
		}
		snprintf(path, sizeof(path), "%s/pkg%03" PRIu64 "/mod%05" PRIu64 ".py", repo, i / 100, i);
		file_text(text, sizeof(text), i, NULL);
		if (write_file(path, text))
			return -1;
	}
	snprintf(path, sizeof(path), "%s/.gitignore", repo);
	if (write_file(path, "*.pyc\n__pycache__/\n"))
		return -1;
	char *add[] = { (char *)"git", (char *)"-C", (char *)repo, (char *)"add", (char *)"-A", NULL };
	char *commit[] = { (char *)"git", (char *)"-C", (char *)repo, (char *)"-c",
			   (char *)"user.name=bench", (char *)"-c", (char *)"user.email=bench@localhost",
			   (char *)"commit", (char *)"-q", (char *)"-m", (char *)"bench", NULL };
	if (run_quiet(add) != 0 || run_quiet(commit) != 0) {
		bench_err("git add/commit failed in %s", repo);
		return -1;
	}
	/* spread the modifications over the tree */
	for (uint64_t k = 0; k < modified && files; k++) {
		uint64_t i = (k * (files / (modified ? modified : 1))) % files;
		snprintf(path, sizeof(path), "%s/pkg%03" PRIu64 "/mod%05" PRIu64 ".py", repo, i / 100, i);
		file_text(text, sizeof(text), i, "# changed for the benchmark\nvalue = 42\n");
		if (write_file(path, text))
			return -1;
	}
	for (uint64_t k = 0; k < untracked; k++) {
		snprintf(path, sizeof(path), "%s/pkg%03" PRIu64 "/new%03" PRIu64 ".py", repo,
			 k % (files / 100 ? files / 100 : 1), k);
		file_text(text, sizeof(text), 1000000 + k, NULL);
		if (write_file(path, text))
			return -1;
	}
	/* let git refresh the index stat data once, as it would on a developer's machine */
	git(repo, "status", "--porcelain", NULL);
	return 0;
}

static uint64_t cpu_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/*
 * CPU time (user + system) is reported next to wall time: on a shared
 * machine a multi-threaded git (preload-index) gets a larger share of the
 * CPUs than a single-threaded capture, which skews wall time under load.
 */
static uint64_t time_git(const char *repo, int *err, uint64_t *cpu)
{
	uint64_t c0 = cpu_ns(RUSAGE_CHILDREN);
	uint64_t t0 = bench_mono_ns();
	if (git(repo, "status", "--porcelain", NULL) != 0 || git(repo, "diff", "HEAD", NULL) > 1)
		*err = 1;
	uint64_t dt = bench_mono_ns() - t0;
	*cpu = cpu_ns(RUSAGE_CHILDREN) - c0;
	return dt;
}

/* Capture into a fresh store; `*git_us` gets the capture_us the event recorded. */
static uint64_t time_capture(const char *base, int round, const char *repo, int *err,
			     uint64_t *cpu, uint64_t *git_us, size_t *changes, size_t *untracked,
			     uint64_t *patch)
{
	char name[64];
	snprintf(name, sizeof(name), "store%d", round);
	char *sp = bench_path_join(base, name);
	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	pt_code_provenance *p = NULL;
	uint64_t dt = 0;
	if (!sp || pt_store_init(&st, sp) || pt_recorder_open(&rec, st, "bench", NULL, NULL)) {
		bench_err("cannot set up a store in %s: %s", sp ? sp : base, pt_error_last());
		*err = 1;
		goto done;
	}
	pt_code_options o = PT_CODE_OPTIONS_INIT;
	o.repo_path = repo;
	o.time_budget_ms = 0; /* measure the whole capture */
	uint64_t c0 = cpu_ns(RUSAGE_SELF);
	uint64_t t0 = bench_mono_ns();
	int rc = pt_code_capture(rec, &o);
	dt = bench_mono_ns() - t0;
	*cpu = cpu_ns(RUSAGE_SELF) - c0;
	if (rc || pt_recorder_close(rec)) {
		bench_err("capture failed: %s", pt_error_last());
		*err = 1;
	}
	rec = NULL;
	if (!*err && pt_code_read(&p, st, "bench", NULL) == 0) {
		*git_us = p->capture_us;
		*changes = p->n_changes;
		*untracked = p->n_untracked;
		*patch = p->patch_bytes;
		if (p->truncated || strcmp(p->state, "ok")) {
			bench_err("capture was not complete: %s", p->truncated_reason ? p->truncated_reason : p->state);
			*err = 1;
		}
	}
done:
	pt_code_provenance_free(p);
	pt_recorder_free(rec);
	pt_store_free(st);
	if (sp)
		bench_rm_rf(sp);
	free(sp);
	return dt;
}

int bench_code_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "files", required_argument, NULL, 'f' }, { "modified", required_argument, NULL, 'm' },
		{ "untracked", required_argument, NULL, 'u' }, { "rounds", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' }, { "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	uint64_t files = 10000, modified = 100, untracked = 20, rounds = 7;
	const char *dir = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': if (bench_parse_count(&files, "--files", optarg)) return BENCH_EXIT_USAGE; break;
		case 'm': if (bench_parse_count(&modified, "--modified", optarg)) return BENCH_EXIT_USAGE; break;
		case 'u': if (bench_parse_count(&untracked, "--untracked", optarg)) return BENCH_EXIT_USAGE; break;
		case 'r': if (bench_parse_count(&rounds, "--rounds", optarg)) return BENCH_EXIT_USAGE; break;
		case 'd': dir = optarg; break;
		case 'q': files = 1000; rounds = 3; break;
		case 'h': fputs(help, stdout); return BENCH_EXIT_OK;
		default: fputs(help, stderr); return BENCH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		bench_err("code: unexpected argument '%s'", argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	if (modified > files || rounds > 1000 || files > 10000000) {
		bench_err("code: --modified must be <= --files, --rounds <= 1000, --files <= 10M");
		return BENCH_EXIT_USAGE;
	}

	char *base = NULL;
	if (bench_mkdtemp(&base, dir, "pt-bench-code-"))
		return BENCH_EXIT_ERROR;
	char *repo = bench_path_join(base, "repo");
	int err = 0;
	uint64_t *tg = calloc(rounds, sizeof(uint64_t)), *tc = calloc(rounds, sizeof(uint64_t));
	uint64_t *tl = calloc(rounds, sizeof(uint64_t));
	uint64_t *cg = calloc(rounds, sizeof(uint64_t)), *cc = calloc(rounds, sizeof(uint64_t));
	if (!repo || !tg || !tc || !tl || !cg || !cc || mkdir(repo, 0755) < 0) {
		bench_err_errno("setup");
		err = 1;
		goto done;
	}
	printf("# provtrace-bench code: %" PRIu64 " files, %" PRIu64 " modified, %" PRIu64
	       " untracked, %" PRIu64 " rounds\n", files, modified, untracked, rounds);
	bench_print_machine(stdout);
	uint64_t t0 = bench_mono_ns();
	if (make_repo(repo, files, modified, untracked)) {
		err = 1;
		goto done;
	}
	printf("# repository made in %.1f s\n", (double)(bench_mono_ns() - t0) / 1e9);

	size_t nchg = 0, nunt = 0;
	uint64_t patch = 0, gus = 0, scratch = 0;
	/* warm-up: page cache, libgit2 (its one-time init) and git loaded once */
	time_git(repo, &err, &scratch);
	uint64_t cold = time_capture(base, -1, repo, &err, &scratch, &gus, &nchg, &nunt, &patch);
	for (uint64_t r = 0; r < rounds && !err; r++) {
		if (r % 2) {
			tg[r] = time_git(repo, &err, &cg[r]);
			tc[r] = time_capture(base, (int)r, repo, &err, &cc[r], &tl[r], &nchg, &nunt,
					     &patch);
		} else {
			tc[r] = time_capture(base, (int)r, repo, &err, &cc[r], &tl[r], &nchg, &nunt,
					     &patch);
			tg[r] = time_git(repo, &err, &cg[r]);
		}
		tl[r] *= 1000;
	}
	if (err)
		goto done;
	if (nchg != modified || nunt != untracked) {
		bench_err("capture saw %zu changed and %zu untracked files, expected %" PRIu64
			  " and %" PRIu64, nchg, nunt, modified, untracked);
		err = 1;
		goto done;
	}
	bench_sort_u64(tg, rounds);
	bench_sort_u64(tc, rounds);
	bench_sort_u64(tl, rounds);
	bench_sort_u64(cg, rounds);
	bench_sort_u64(cc, rounds);
	double mg = (double)bench_percentile(tg, rounds, 50) / 1e6;
	double mc = (double)bench_percentile(tc, rounds, 50) / 1e6;
	double ml = (double)bench_percentile(tl, rounds, 50) / 1e6;
	double mcg = (double)bench_percentile(cg, rounds, 50) / 1e6;
	double mcc = (double)bench_percentile(cc, rounds, 50) / 1e6;

	bench_table t;
	static const char *const head[] = { "method", "wall median ms", "wall min ms",
					    "wall max ms", "CPU median ms" };
	bench_table_init(&t, 5, head);
	char a[32], b[32], d[32], e[32];
	struct {
		const char *name;
		uint64_t *v, *cpu;
	} rows[] = {
		{ "git status --porcelain + git diff HEAD (git CLI)", tg, cg },
		{ "pt_code_capture (code + env events, objects stored)", tc, cc },
		{ "  of which the git scan + patch (event capture_us)", tl, NULL },
	};
	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%.2f", (double)bench_percentile(rows[i].v, rounds, 50) / 1e6);
		snprintf(b, sizeof(b), "%.2f", (double)rows[i].v[0] / 1e6);
		snprintf(d, sizeof(d), "%.2f", (double)rows[i].v[rounds - 1] / 1e6);
		if (rows[i].cpu)
			snprintf(e, sizeof(e), "%.2f",
				 (double)bench_percentile(rows[i].cpu, rounds, 50) / 1e6);
		else
			snprintf(e, sizeof(e), "-");
		const char *cells[] = { rows[i].name, a, b, d, e };
		bench_table_row(&t, cells);
	}
	bench_table_print(&t, stdout);
	bench_table_free(&t);
	printf("\npatch %" PRIu64 " bytes; %zu changes, %zu untracked recorded; first capture in "
	       "the process (libgit2 init included): %.2f ms\n", patch, nchg, nunt,
	       (double)cold / 1e6);
	printf("target: capture <= git status + git diff: wall %.2f ms vs %.2f ms (ratio %.2f, "
	       "git scan + patch part %.2f ms) -> %s; CPU %.2f ms vs %.2f ms (ratio %.2f) -> %s\n", mc, mg,
	       mg > 0 ? mc / mg : 0, ml, mc <= mg ? "MET" : "NOT MET", mcc, mcg,
	       mcg > 0 ? mcc / mcg : 0, mcc <= mcg ? "MET" : "NOT MET");
done:
	free(tg);
	free(tc);
	free(tl);
	free(cg);
	free(cc);
	if (base)
		bench_rm_rf(base);
	free(base);
	free(repo);
	return err ? BENCH_EXIT_ERROR : BENCH_EXIT_OK;
}
