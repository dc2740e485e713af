/*
 * bench.c - helpers shared by the modes of provtrace-bench.
 */
#include "bench.h"

#include <getopt.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void bench_err(const char *fmt, ...)
{
	va_list ap;

	fputs("provtrace-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bench_err_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fputs("provtrace-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
}

uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t bench_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_print_machine(FILE *f)
{
	char line[512], model[256] = "unknown CPU";
	double load[1] = { -1 };
	FILE *ci = fopen("/proc/cpuinfo", "r");

	while (ci && fgets(line, sizeof(line), ci)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon += 1 + strspn(colon + 1, " \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(model, sizeof(model), "%s", colon);
			break;
		}
	}
	if (ci)
		fclose(ci);
	if (getloadavg(load, 1) != 1)
		load[0] = -1;
	fprintf(f, "machine: %ld CPUs online, %s, load average %.2f\n",
		sysconf(_SC_NPROCESSORS_ONLN), model, load[0]);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_cpu_now(bench_cpu *out)
{
	out->thread_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	out->process_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_sort_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	/* nearest rank: the smallest value with at least p% of the samples at or below it */
	rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

double bench_timer_overhead_ns(void)
{
	enum { N = 20001 };
	static uint64_t d[N];
	size_t i;

	for (i = 0; i < N; i++) {
		uint64_t t0 = bench_mono_ns();
		uint64_t t1 = bench_mono_ns();
		d[i] = t1 - t0;
	}
	bench_sort_u64(d, N);
	return (double)d[N / 2];
}

int bench_parse_count(uint64_t *out, const char *opt, const char *text)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!text || !*text || *text == '-')
		goto bad;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		goto bad;
	if (*end == 'k' || *end == 'K')
		mul = 1000;
	else if (*end == 'm' || *end == 'M')
		mul = 1000000;
	else if (*end == 'g' || *end == 'G')
		mul = 1000000000;
	if (mul != 1)
		end++;
	if (*end != '\0' || v == 0 || v > UINT64_MAX / mul)
		goto bad;
	*out = (uint64_t)v * mul;
	return 0;
bad:
	bench_err("%s: expected a positive count (e.g. 5000000, 200k, 5M), got '%s'", opt,
		  text ? text : "");
	return -1;
}

char *bench_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

int bench_mkdtemp(char **out, const char *parent, const char *prefix)
{
	char *tmpl;
	size_t n;

	*out = NULL;
	if (!parent) {
		parent = getenv("TMPDIR");
		if (!parent || !*parent)
			parent = "/tmp";
	}
	n = strlen(parent) + strlen(prefix) + 8;
	tmpl = malloc(n + 1);
	if (!tmpl) {
		bench_err("out of memory");
		return -1;
	}
	snprintf(tmpl, n + 1, "%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(tmpl)) {
		bench_err_errno("cannot create a directory under %s", parent);
		free(tmpl);
		return -1;
	}
	*out = tmpl;
	return 0;
}

static int64_t du_total;

static int du_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(sb->st_mode))
		du_total += (int64_t)sb->st_size;
	return 0;
}

int64_t bench_du(const char *path)
{
	du_total = 0;
	if (nftw(path, du_visit, 16, FTW_PHYS) != 0) {
		bench_err_errno("cannot walk %s", path);
		return -1;
	}
	return du_total;
}

int bench_settle(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		bench_err_errno("cannot open %s", path);
		return -1;
	}
	if (syncfs(fd) != 0) {
		bench_err_errno("syncfs %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int rm_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	int rc = (type == FTW_DP) ? rmdir(path) : unlink(path);

	if (rc != 0 && errno != ENOENT) {
		bench_err_errno("cannot remove %s", path);
		return -1;
	}
	return 0;
}

int bench_rm_rf(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		bench_err_errno("cannot stat %s", path);
		return -1;
	}
	return nftw(path, rm_visit, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void bench_table_init(bench_table *t, size_t ncols, const char *const *head)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols > BENCH_TABLE_MAX_COLS ? BENCH_TABLE_MAX_COLS : ncols;
	for (i = 0; i < t->ncols; i++)
		t->head[i] = strdup(head[i]);
}

int bench_table_row(bench_table *t, const char *const *cells)
{
	size_t i;

	if (t->nrows >= BENCH_TABLE_MAX_ROWS)
		return -1;
	for (i = 0; i < t->ncols; i++)
		t->cell[t->nrows][i] = strdup(cells[i] ? cells[i] : "");
	t->nrows++;
	return 0;
}

static size_t cell_width(const char *s)
{
	size_t w = 0;

	if (!s)
		return 0;
	/* count UTF-8 code points, not bytes, so that "÷" or "µ" align */
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void print_cell(FILE *f, const char *s, size_t width, int left)
{
	size_t w = cell_width(s), pad = width > w ? width - w : 0;

	if (!left)
		fprintf(f, "%*s", (int)pad, "");
	fputs(s ? s : "", f);
	if (left)
		fprintf(f, "%*s", (int)pad, "");
}

void bench_table_print(const bench_table *t, FILE *f)
{
	size_t width[BENCH_TABLE_MAX_COLS] = { 0 };
	size_t r, c, k;

	for (c = 0; c < t->ncols; c++) {
		width[c] = cell_width(t->head[c]);
		for (r = 0; r < t->nrows; r++)
			if (cell_width(t->cell[r][c]) > width[c])
				width[c] = cell_width(t->cell[r][c]);
	}
	fputc('|', f);
	for (c = 0; c < t->ncols; c++) {
		fputc(' ', f);
		print_cell(f, t->head[c], width[c], c == 0);
		fputs(" |", f);
	}
	fputs("\n|", f);
	for (c = 0; c < t->ncols; c++) {
		/* Markdown alignment row: ":---" left, "---:" right */
		fputc(c == 0 ? ':' : '-', f);
		for (k = 0; k < width[c]; k++)
			fputc('-', f);
		fputs(c == 0 ? "-|" : ":|", f);
	}
	fputc('\n', f);
	for (r = 0; r < t->nrows; r++) {
		fputc('|', f);
		for (c = 0; c < t->ncols; c++) {
			fputc(' ', f);
			print_cell(f, t->cell[r][c], width[c], c == 0);
			fputs(" |", f);
		}
		fputc('\n', f);
	}
}

void bench_table_free(bench_table *t)
{
	size_t r, c;

	for (c = 0; c < t->ncols; c++)
		free(t->head[c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			free(t->cell[r][c]);
	memset(t, 0, sizeof(*t));
}

char *bench_fmt_count(char *buf, size_t size, double v)
{
	char digits[32];
	size_t n, i, o = 0, lead;
	unsigned long long u;

	if (v < 0 || v >= 1e19) {
		snprintf(buf, size, "%.3g", v);
		return buf;
	}
	u = (unsigned long long)(v + 0.5);
	n = (size_t)snprintf(digits, sizeof(digits), "%llu", u);
	lead = n % 3 ? n % 3 : 3;
	for (i = 0; i < n && o + 2 < size; i++) {
		if (i && (i - lead) % 3 == 0 && i >= lead)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

int bench_bad_option(const char *mode, char **argv, void (*usage)(FILE *))
{
	if (optopt)
		bench_err("%s: option -%c: unknown or missing its value", mode, optopt);
	else
		bench_err("%s: unknown option '%s'", mode, argv[optind - 1]);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}

int bench_extra_argument(const char *mode, const char *arg, void (*usage)(FILE *))
{
	bench_err("%s: unexpected argument '%s'", mode, arg);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
