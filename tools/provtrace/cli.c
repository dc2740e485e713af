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

/* ---- the option-table parser ------------------------------------------------ */

enum { OPT_STORE = 1000, OPT_FIRST = 1001, MAX_OPTS = 64 };

static void **lists;
static size_t nlists;

void cli_parse_release(void)
{
	for (size_t i = 0; i < nlists; i++)
		free(lists[i]);
	free(lists);
	lists = NULL;
	nlists = 0;
}

static bool list_add(cli_list *l, const char *v, int argc)
{
	if (!l->v) {
		void **nl = realloc(lists, (nlists + 1) * sizeof *nl);
		if (!nl)
			return false;
		lists = nl;
		l->v = calloc((size_t)argc + 1, sizeof *l->v);
		if (!l->v)
			return false;
		lists[nlists++] = (void *)l->v;
		l->n = 0;
	}
	l->v[l->n++] = v; /* at most argc values: each takes an argv slot */
	return true;
}

/* Index of `v` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *v)
{
	size_t n = strlen(v);
	int i = 0;
	for (const char *p = choices; *p; i++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncmp(p, v, n))
			return i;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

static int bad_value(const cli_spec *spec, const cli_opt *o, const char *v)
{
	if (o->kind == CLI_CHOICE) {
		char list[256];
		size_t j = 0;
		for (const char *p = o->what; *p && j + 4 < sizeof list; p++) {
			if (*p == '|') {
				bool last = !strchr(p + 1, '|');
				const char *sep = last ? " or " : ", ";
				for (; *sep && j + 1 < sizeof list; sep++)
					list[j++] = *sep;
			} else {
				list[j++] = *p;
			}
		}
		list[j] = 0;
		return cli_usage(spec->cmd, "--%s expects %s, not '%s'", o->name, list, v);
	}
	const char *what = o->what;
	if (!what)
		what = o->kind == CLI_DURATION ? "a duration (30s, 15m, 8h, 1d, 2w)" : "a number";
	return cli_usage(spec->cmd, "--%s expects %s, not '%s'", o->name, what, v);
}

static int take_value(const cli_spec *spec, const cli_opt *o, const char *v, int argc)
{
	switch (o->kind) {
	case CLI_FLAG: *(bool *)o->out = true; return -1;
	case CLI_STR: *(const char **)o->out = v; return -1;
	case CLI_LIST:
		if (!list_add(o->out, v, argc)) {
			cli_msg("out of memory");
			return CLI_ERROR;
		}
		return -1;
	case CLI_CHOICE: {
		int i = choice_index(o->what, v);
		if (i < 0)
			return bad_value(spec, o, v);
		*(int *)o->out = i;
		return -1;
	}
	case CLI_U64: {
		uint64_t u;
		if (!cli_parse_u64(v, &u) || u < (uint64_t)o->min || (o->max && u > (uint64_t)o->max))
			return bad_value(spec, o, v);
		*(uint64_t *)o->out = u;
		return -1;
	}
	case CLI_I64: {
		int64_t i;
		if (!cli_parse_i64(v, &i) || ((o->min || o->max) && (i < o->min || i > o->max)))
			return bad_value(spec, o, v);
		*(int64_t *)o->out = i;
		return -1;
	}
	case CLI_DURATION: {
		int64_t d;
		if (!cli_parse_duration(v, &d))
			return bad_value(spec, o, v);
		*(int64_t *)o->out = d;
		return -1;
	}
	}
	return cli_usage(spec->cmd, "unexpected option");
}

int cli_parse(cli_ctx *ctx, const cli_spec *spec, int argc, char **argv, char ***args, int *nargs)
{
	struct option lo[MAX_OPTS + 3];
	char shorts[2 * MAX_OPTS + 4] = ":h";
	size_t ns = 2, n = 0;
	for (const cli_opt *o = spec->opts; o && o->name; o++, n++) {
		if (n == MAX_OPTS)
			return cli_usage(spec->cmd, "internal error: too many options");
		int has_arg = o->kind == CLI_FLAG ? no_argument : required_argument;
		lo[n] = (struct option){o->name, has_arg, NULL, OPT_FIRST + (int)n};
		if (o->short_name) {
			shorts[ns++] = o->short_name;
			if (has_arg == required_argument)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = 0;
	lo[n] = (struct option){"store", required_argument, NULL, OPT_STORE};
	lo[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 2] = (struct option){0};

	optind = 0; /* GNU: re-initialise for this argv */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const cli_opt *o = NULL;
		if (c >= OPT_FIRST && c < OPT_FIRST + (int)n) {
			o = &spec->opts[c - OPT_FIRST];
		} else if (c > 0 && c < 256 && c != 'h' && c != ':' && c != '?') {
			for (const cli_opt *p = spec->opts; p && p->name; p++)
				if (p->short_name == c)
					o = p;
		}
		if (o) {
			if (o->seen)
				(*o->seen)++;
			int rc = take_value(spec, o, optarg, argc);
			if (rc >= 0)
				return rc;
			continue;
		}
		switch (c) {
		case 'h': fputs(spec->help, stdout); return CLI_OK;
		case OPT_STORE:
			if (!*optarg)
				return cli_usage(spec->cmd, "option '--store' needs a non-empty value");
			ctx->store = optarg;
			break;
		case ':': return cli_usage(spec->cmd, "option '%s' needs a value", argv[optind - 1]);
		case '?':
			if (optopt && optopt < 256)
				return cli_usage(spec->cmd, "unknown option '-%c'", optopt);
			return cli_usage(spec->cmd, "unknown option '%s'", argv[optind - 1]);
		default: return cli_usage(spec->cmd, "unexpected option");
		}
	}
	int np = argc - optind;
	if (spec->max_args >= 0 && np > spec->max_args)
		return cli_usage(spec->cmd, "unexpected argument '%s'%s%s", argv[optind + spec->max_args],
				 spec->args_hint ? " " : "", spec->args_hint ? spec->args_hint : "");
	if (np < spec->min_args)
		return cli_usage(spec->cmd, "needs %s", spec->args_name ? spec->args_name : "more arguments");
	if (args)
		*args = argv + optind;
	if (nargs)
		*nargs = np;
	return -1;
}

bool cli_parse_duration(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || v < 0 || errno)
		return false;
	int64_t mul = 1;
	if (*end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 7 * 86400; break;
		default: return false;
		}
		if (end[1])
			return false;
	}
	if (v > INT64_MAX / 1000000000 / mul)
		return false;
	*out = v * mul;
	return true;
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

static int own(char **owned, const char *name, const char **out)
{
	*owned = strdup(name);
	if (!*owned) {
		cli_msg("out of memory");
		return CLI_ERROR;
	}
	*out = *owned;
	return CLI_OK;
}

static int pick_run(cli_target *t, const char *cmd, const char *run)
{
	if (run) {
		if (pt_name_check("run", run))
			return cli_usage(cmd, "%s", pt_error_last());
		t->run = run;
		return CLI_OK;
	}
	char **names = NULL;
	size_t n = 0;
	if (pt_store_runs(t->st, &names, &n))
		return cli_lib_error();
	int rc;
	if (n == 0) {
		cli_msg("the store %s has no runs yet (record one with `provtrace emit --run NAME`)",
			pt_store_path(t->st));
		rc = CLI_ERROR;
	} else if (n > 1) {
		cli_msg("the store has %zu runs; choose one with --run:", n);
		list_names(stderr, names, n);
		rc = CLI_USAGE;
	} else {
		rc = own(&t->owned_run, names[0], &t->run);
	}
	pt_strv_free(names, n);
	return rc;
}

static int pick_stream(cli_target *t, const char *cmd, const char *stream, bool all)
{
	if (stream) {
		if (pt_name_check("stream", stream))
			return cli_usage(cmd, "%s", pt_error_last());
		t->stream = stream;
		return CLI_OK;
	}
	if (all)
		return CLI_OK;
	char **names = NULL;
	size_t n = 0;
	if (pt_store_streams(t->st, t->run, &names, &n))
		return cli_lib_error();
	int rc = CLI_OK;
	bool has_main = false;
	for (size_t i = 0; i < n; i++)
		has_main = has_main || !strcmp(names[i], "main");
	if (has_main || n == 0) {
		t->stream = "main";
	} else if (n == 1) {
		rc = own(&t->owned_stream, names[0], &t->stream);
	} else {
		cli_msg("run %s has %zu streams and none is \"main\"; choose one with --stream:", t->run, n);
		list_names(stderr, names, n);
		rc = CLI_USAGE;
	}
	pt_strv_free(names, n);
	return rc;
}

int cli_open(cli_ctx *ctx, const char *cmd, const char *run, const char *stream, int what, cli_target *t)
{
	*t = (cli_target){0};
	int rc = cli_open_store(ctx, &t->st);
	if (!rc && (what & CLI_ONE_RUN))
		rc = pick_run(t, cmd, run);
	if (!rc && (what & (CLI_ONE_STREAM & ~CLI_ONE_RUN)))
		rc = pick_stream(t, cmd, stream, false);
	if (!rc && (what & (CLI_ALL_STREAMS & ~CLI_ONE_RUN)))
		rc = pick_stream(t, cmd, stream, true);
	if (rc)
		cli_close(t);
	return rc;
}

int cli_pick_one_stream(cli_target *t, const char *cmd)
{
	return t->stream ? CLI_OK : pick_stream(t, cmd, NULL, false);
}

void cli_close(cli_target *t)
{
	pt_store_free(t->st);
	free(t->owned_run);
	free(t->owned_stream);
	*t = (cli_target){0};
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
