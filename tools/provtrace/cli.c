/* cli.c - messages, option helpers, store/run/stream selection and output helpers. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_msg(const char *fmt, ...)
{
	va_list ap;
	fputs("provtrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_lib_error(void)
{
	const char *m = pt_error_last();
	cli_msg("%s", m && *m ? m : "unknown error");
	return CLI_ERROR;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("provtrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "Try 'provtrace %s --help'.\n", cmd);
	else
		fputs("Try 'provtrace --help'.\n", stderr);
	return CLI_USAGE;
}

void cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int cli_common_option(cli_ctx *ctx, const char *cmd, int c, char **argv)
{
	switch (c) {
	case CLI_OPT_STORE:
		if (!*optarg)
			return cli_usage(cmd, "option '--store' needs a non-empty value");
		ctx->store = optarg;
		return -1;
	case ':':
		return cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
	case '?':
		if (optopt && optopt < 256)
			return cli_usage(cmd, "unknown option '-%c'", optopt);
		return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
	default:
		return cli_usage(cmd, "unexpected option");
	}
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s || *s == ' ' || *s == '+')
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int cli_open_store(cli_ctx *ctx, pt_store **out)
{
	if (pt_store_open_default(out, ctx->store))
		return cli_lib_error();
	return CLI_OK;
}

static void list_names(FILE *f, char **names, size_t n)
{
	for (size_t i = 0; i < n && i < 20; i++)
		fprintf(f, "  %s\n", names[i]);
	if (n > 20)
		fprintf(f, "  ... and %zu more\n", n - 20);
}

int cli_pick_run(const pt_store *st, const char *cmd, const char *run, const char **out,
		 char **owned)
{
	*owned = NULL;
	if (run) {
		if (pt_name_check("run", run))
			return cli_usage(cmd, "%s", pt_error_last());
		*out = run;
		return CLI_OK;
	}
	char **names = NULL;
	size_t n = 0;
	if (pt_store_runs(st, &names, &n))
		return cli_lib_error();
	int rc = CLI_OK;
	if (n == 0) {
		cli_msg("the store %s has no runs yet (record one with `provtrace emit --run NAME`)",
			pt_store_path(st));
		rc = CLI_ERROR;
	} else if (n > 1) {
		cli_msg("the store has %zu runs; choose one with --run:", n);
		list_names(stderr, names, n);
		rc = CLI_USAGE;
	} else {
		*owned = strdup(names[0]);
		if (!*owned) {
			cli_msg("out of memory");
			rc = CLI_ERROR;
		}
		*out = *owned;
	}
	pt_strv_free(names, n);
	return rc;
}

int cli_pick_stream(const pt_store *st, const char *cmd, const char *run, const char *stream,
		    const char **out, char **owned)
{
	*owned = NULL;
	if (stream) {
		if (pt_name_check("stream", stream))
			return cli_usage(cmd, "%s", pt_error_last());
		*out = stream;
		return CLI_OK;
	}
	char **names = NULL;
	size_t n = 0;
	if (pt_store_streams(st, run, &names, &n))
		return cli_lib_error();
	int rc = CLI_OK;
	bool has_main = false;
	for (size_t i = 0; i < n; i++)
		has_main = has_main || !strcmp(names[i], "main");
	if (has_main || n == 0) {
		*out = "main";
	} else if (n == 1) {
		*owned = strdup(names[0]);
		if (!*owned) {
			cli_msg("out of memory");
			rc = CLI_ERROR;
		}
		*out = *owned;
	} else {
		cli_msg("run %s has %zu streams and none is \"main\"; choose one with --stream:", run, n);
		list_names(stderr, names, n);
		rc = CLI_USAGE;
	}
	pt_strv_free(names, n);
	return rc;
}

void cli_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void cli_json_step(FILE *f, int64_t step)
{
	if (step == PT_NO_STEP)
		fputs("null", f);
	else
		fprintf(f, "%" PRId64, step);
}

const char *cli_size(uint64_t bytes, char *buf, size_t n)
{
	static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	if (bytes < 1024) {
		snprintf(buf, n, "%" PRIu64 " B", bytes);
		return buf;
	}
	double v = (double)bytes / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

const char *cli_time_ms(int64_t ns, char *buf, size_t n)
{
	char full[48];
	pt_time_format(ns, full, sizeof full);
	/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" -> keep 3 fraction digits */
	size_t len = strlen(full);
	if (len == 30)
		snprintf(buf, n, "%.23sZ", full);
	else
		snprintf(buf, n, "%s", full);
	return buf;
}

/* End of the JSON value starting at s[i] (no whitespace expected), or 0 if malformed. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
	int depth = 0;
	bool in_str = false;
	for (; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = false;
				if (depth == 0)
					return i + 1;
			}
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return i; /* end of a scalar at the enclosing object's end */
			if (--depth == 0)
				return i + 1;
		} else if (c == ',' && depth == 0)
			return i;
	}
	return depth == 0 && !in_str ? i : 0;
}

bool cli_json_members(const char *json, size_t len, cli_member_cb cb, void *payload)
{
	if (len < 2 || json[0] != '{')
		return false;
	size_t i = 1;
	if (json[i] == '}')
		return true;
	while (i < len) {
		if (json[i] != '"')
			return false;
		size_t kend = skip_value(json, len, i);
		if (!kend || kend >= len || json[kend] != ':')
			return false;
		size_t vstart = kend + 1;
		size_t vend = skip_value(json, len, vstart);
		if (!vend || vend <= vstart || vend >= len)
			return false;
		cb(json + i, kend - i, json + vstart, vend - vstart, payload);
		if (json[vend] == '}')
			return true;
		if (json[vend] != ',')
			return false;
		i = vend + 1;
	}
	return false;
}
