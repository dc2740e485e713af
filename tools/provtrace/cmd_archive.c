/* cmd_archive.c - `provtrace archive`: plans, the job, ls, verify, prune, hold/release. */
#include "cli.h"

#include <provtrace/archive.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace archive <subcommand> [options]\n"
	"\n"
	"Roll sealed history into tar archives in a vault directory, following plans.\n"
	"\n"
	"  plan add NAME --schedule CRON --vault DIR [--min-age 1d] [--delete-after 90d]\n"
	"           [--keep-last N] [--tag KEY=VALUE ...] [--start-window 8h]\n"
	"           [--timezone TZ] [--keep-sources]\n"
	"  plan ls [--json]          the plans, their last window and result\n"
	"  plan rm NAME              remove a plan (its archives stay)\n"
	"  plan next NAME [--count N] the next fire times, one ISO-8601 time per line\n"
	"  run --due [--plan NAME] [--dry-run]\n"
	"                            what cron/systemd calls: archive due windows, catch\n"
	"                            up a missed one once, record expired ones, apply\n"
	"                            retention; exits 0 if another job is running\n"
	"  run --now --plan NAME [--dry-run]   archive now, whatever the schedule\n"
	"  ls [--json]               the catalog: tags, time ranges, sizes, age, holds\n"
	"  verify [ARCHIVE] [--json] re-hash every member of one or all archives\n"
	"  prune [--dry-run]         apply retention now\n"
	"  hold ARCHIVE | release ARCHIVE   a hold keeps an archive from retention\n"
	"\n"
	"CRON is 5-field cron (\"0 2 * * *\", ranges, lists, steps, names) or\n"
	"\"cron(0 12 * * ? *)\".  Durations: 30s, 15m, 8h, 1d, 2w (plain numbers are\n"
	"seconds).  ARCHIVE is an archive id (or a unique prefix) or a .tar path.\n"
	"\"Now\" is $PROVTRACE_NOW (ISO-8601) when set.  See docs/ARCHIVE.md.\n";

static void report_line(const char *line, void *payload)
{
	(void)payload;
	printf("%s\n", line);
	fflush(stdout);
}

static void progress_bar(const char *what, uint64_t done, uint64_t total, void *payload)
{
	(void)payload;
	char a[32], b[32];
	int pct = total ? (int)(done * 100 / total) : 100;
	int fill = pct / 4;
	fprintf(stderr, "\r%-8s [%.*s%*s] %3d%% %s / %s", what, fill, "#########################", 25 - fill, "", pct,
		cli_size(done, a, sizeof a), cli_size(total, b, sizeof b));
	if (done >= total)
		fputs("\n", stderr);
	fflush(stderr);
}

static pt_archive_progress_cb progress_if_tty(void)
{
	return isatty(2) ? progress_bar : NULL;
}

static int plan_add(cli_ctx *ctx, int argc, char **argv)
{
	pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
	cli_list tags = {0};
	bool keep_sources = false;
	uint64_t keep_last = 0;
	int have_keep_last = 0;
	const cli_opt opts[] = {{"schedule", 0, CLI_STR, &p.schedule},
				{"vault", 0, CLI_STR, &p.vault},
				{"min-age", 0, CLI_DURATION, &p.min_age},
				{"delete-after", 0, CLI_DURATION, &p.delete_after},
				{"keep-last", 0, CLI_U64, &keep_last, "a number of archives", 0, UINT32_MAX, &have_keep_last},
				{"tag", 0, CLI_LIST, &tags},
				{"start-window", 0, CLI_DURATION, &p.start_window},
				{"timezone", 0, CLI_STR, &p.timezone},
				{"keep-sources", 0, CLI_FLAG, &keep_sources},
				{0}};
	const cli_spec spec = {"archive plan add", help, opts, 0, 1};
	char **args;
	int nargs;
	int rc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (rc >= 0)
		return rc;
	rc = CLI_OK;
	if (nargs != 1 || !p.schedule || !p.vault)
		return cli_usage("archive plan add", "needs NAME, --schedule and --vault");
	if (p.start_window <= 0)
		return cli_usage("archive plan add", "--start-window must be more than 0");
	if (keep_sources)
		p.keep_sources = 1;
	if (have_keep_last)
		p.keep_last = (uint32_t)keep_last;
	p.name = args[0];
	p.tags = tags.v;
	p.ntags = tags.n;
	pt_store *st = NULL;
	if ((rc = cli_open_store(ctx, &st)))
		return rc;
	int r = pt_archive_plan_add(st, &p);
	if (r == PT_EINVAL)
		rc = cli_usage("archive plan add", "%s", pt_error_last());
	else if (r)
		rc = cli_lib_error();
	else {
		int64_t now, next;
		if (!pt_archive_now(&now) && !pt_archive_plan_next(&next, 1, st, p.name, now)) {
			char tb[48];
			printf("plan %s added; first window %s\n", p.name, pt_time_format(next, tb, sizeof tb));
		}
	}
	pt_store_free(st);
	return rc;
}

/* Parse options of the simple subcommands: --json, --count, --plan, flags. */
typedef struct {
	bool json, due, now, dry_run;
	uint64_t count;
	const char *plan;
	const char *arg; /* the one positional argument, if any */
} sub_opts;

/* `allowed`: the names of the options this subcommand takes, space-separated. */
static int parse_sub(cli_ctx *ctx, const char *cmd, const char *allowed, int argc, char **argv, sub_opts *so,
		     int max_args)
{
	memset(so, 0, sizeof *so);
	so->count = 5;
	const cli_opt all[] = {{"json", 0, CLI_FLAG, &so->json},
			       {"due", 0, CLI_FLAG, &so->due},
			       {"now", 0, CLI_FLAG, &so->now},
			       {"dry-run", 0, CLI_FLAG, &so->dry_run},
			       {"count", 0, CLI_U64, &so->count, "a count from 1 to 100000", 1, 100000},
			       {"plan", 0, CLI_STR, &so->plan}};
	cli_opt opts[sizeof all / sizeof *all + 1];
	size_t n = 0;
	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		size_t len = strlen(all[i].name);
		for (const char *w = allowed; (w = strstr(w, all[i].name)); w += len)
			if ((w == allowed || w[-1] == ' ') && (w[len] == ' ' || !w[len])) {
				opts[n++] = all[i];
				break;
			}
	}
	opts[n] = (cli_opt){0};
	const cli_spec spec = {cmd, help, opts, 0, max_args};
	char **args;
	int nargs;
	int r = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (r >= 0)
		return r;
	so->arg = nargs ? args[0] : NULL;
	return -1;
}

static const char *dur(int64_t s, char *buf, size_t n)
{
	if (s && s % (7 * 86400) == 0)
		snprintf(buf, n, "%lldw", (long long)(s / (7 * 86400)));
	else if (s && s % 86400 == 0)
		snprintf(buf, n, "%lldd", (long long)(s / 86400));
	else if (s && s % 3600 == 0)
		snprintf(buf, n, "%lldh", (long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, n, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, n, "%llds", (long long)s);
	return buf;
}

static int plan_ls(cli_ctx *ctx, const sub_opts *so)
{
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (so->json) {
		char *json = NULL;
		if (pt_archive_plans_json(&json, st))
			rc = cli_lib_error();
		else
			printf("%s\n", json);
		pt_free(json);
		pt_store_free(st);
		return rc;
	}
	pt_archive_plan_info *v = NULL;
	size_t n = 0;
	int64_t now = 0;
	if (pt_archive_plan_list(&v, &n, st) || pt_archive_now(&now)) {
		pt_store_free(st);
		return cli_lib_error();
	}
	if (!n)
		printf("no plans\n");
	for (size_t i = 0; i < n; i++) {
		const pt_archive_plan_info *p = &v[i];
		char a[32], b[32], c[32], tb[48], nb[48];
		int64_t next = 0;
		pt_archive_plan_next(&next, 1, st, p->name, now);
		printf("%s%s\n  schedule  %s (%s), start window %s\n  vault     %s%s\n"
		       "  archives  segments older than %s; delete after %s, keep last %u\n  tags      %s\n"
		       "  last      %s: %s\n  next      %s\n",
		       i ? "\n" : "", p->name, p->schedule, p->timezone, dur(p->start_window, a, sizeof a), p->vault,
		       p->keep_sources ? " (sources stay in the hot store)" : "", dur(p->min_age, b, sizeof b),
		       p->delete_after ? dur(p->delete_after, c, sizeof c) : "never", p->keep_last, p->tags_json,
		       cli_time_ms(p->last_window, tb, sizeof tb), p->last_result ? p->last_result : "(no window yet)",
		       next ? cli_time_ms(next, nb, sizeof nb) : "never");
	}
	pt_archive_plan_list_free(v, n);
	pt_store_free(st);
	return CLI_OK;
}

static int plan_next(cli_ctx *ctx, const sub_opts *so)
{
	if (!so->arg)
		return cli_usage("archive plan next", "needs the plan NAME");
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	int64_t now;
	int64_t *t = calloc(so->count, sizeof *t);
	if (!t || pt_archive_now(&now) || pt_archive_plan_next(t, so->count, st, so->arg, now)) {
		rc = t ? cli_lib_error() : CLI_ERROR;
	} else {
		for (uint64_t i = 0; i < so->count; i++) {
			char tb[48];
			pt_time_format(t[i], tb, sizeof tb);
			char *dot = strchr(tb, '.');
			if (dot)
				strcpy(dot, "Z");
			printf("%s\n", tb);
		}
	}
	free(t);
	pt_store_free(st);
	return rc;
}

static int do_run(cli_ctx *ctx, const sub_opts *so)
{
	if (so->due == so->now)
		return cli_usage("archive run", "give either --due or --now");
	if (so->now && !so->plan)
		return cli_usage("archive run", "--now needs --plan NAME");
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
	o.plan = so->plan;
	o.force = so->now;
	o.dry_run = so->dry_run;
	o.report = report_line;
	o.progress = progress_if_tty();
	int r = pt_archive_run(st, &o);
	if (r == PT_ELOCKED) {
		printf("nothing done: %s\n", pt_error_last());
		rc = CLI_OK;
	} else if (r) {
		rc = cli_lib_error();
	}
	pt_store_free(st);
	return rc;
}

static void json_time(FILE *f, int64_t ns)
{
	char tb[48];
	cli_json_str(f, cli_time_ms(ns, tb, sizeof tb));
}

static int do_ls(cli_ctx *ctx, const sub_opts *so)
{
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_archive_info *v = NULL;
	size_t n = 0;
	int64_t now = 0;
	if (pt_archive_list(&v, &n, st) || pt_archive_now(&now)) {
		pt_store_free(st);
		return cli_lib_error();
	}
	if (so->json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			pt_archive_info *a = &v[i];
			printf("%s{\"id\":\"%s\",\"plan\":", i ? "," : "", a->sha256);
			cli_json_str(stdout, a->plan);
			printf(",\"path\":");
			cli_json_str(stdout, a->path);
			printf(",\"tags\":%s,\"created\":", a->tags_json);
			json_time(stdout, a->created);
			printf(",\"window\":");
			json_time(stdout, a->window);
			printf(",\"age_s\":%" PRId64 ",\"size\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"objects\":%" PRIu64
			       ",\"time_min\":",
			       (now - a->created) / 1000000000, a->size, a->segments, a->objects);
			if (a->segments)
				json_time(stdout, a->time_min);
			else
				printf("null");
			printf(",\"time_max\":");
			if (a->segments)
				json_time(stdout, a->time_max);
			else
				printf("null");
			printf(",\"held\":%s,\"deleted\":%s", a->held ? "true" : "false", a->deleted ? "true" : "false");
			if (a->deleted) {
				printf(",\"deleted_at\":");
				json_time(stdout, a->deleted_at);
				printf(",\"deleted_reason\":");
				cli_json_str(stdout, a->deleted_reason);
			}
			printf("}");
		}
		printf("]\n");
	} else if (!n) {
		printf("no archives\n");
	} else {
		printf("%-12s  %-12s  %-20s  %9s  %6s  %4s  %-6s  %s\n", "ID", "PLAN", "WINDOW", "SIZE", "AGE", "SEGS",
		       "STATE", "TAGS");
		for (size_t i = 0; i < n; i++) {
			pt_archive_info *a = &v[i];
			char sz[32], tb[48];
			cli_time_ms(a->window, tb, sizeof tb);
			tb[19] = 0;
			double age_d = (double)(now - a->created) / 86400e9;
			printf("%.12s  %-12s  %-20s  %9s  %5.1fd  %4" PRIu64 "  %-6s  %s\n", a->sha256, a->plan, tb,
			       cli_size(a->size, sz, sizeof sz), age_d, a->segments,
			       a->deleted ? "delete" : a->held ? "HOLD" : "ok", a->tags_json);
		}
	}
	pt_archive_list_free(v, n);
	pt_store_free(st);
	return CLI_OK;
}

typedef struct {
	bool json;
	size_t n;
} vout;

static int on_problem(const pt_problem *p, void *payload)
{
	vout *o = payload;
	if (o->json) {
		printf("%s{\"object\":", o->n ? "," : "");
		cli_json_str(stdout, p->object);
		printf(",\"code\":");
		cli_json_str(stdout, pt_error_name(p->code));
		printf(",\"message\":");
		cli_json_str(stdout, p->message);
		printf("}");
	} else {
		printf("ERROR %s: %s\n", p->object, p->message);
	}
	o->n++;
	return 0;
}

static int do_verify(cli_ctx *ctx, const sub_opts *so)
{
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	vout o = {so->json, 0};
	if (so->json)
		printf("{\"problems\":[");
	int r = pt_archive_verify(st, so->arg, on_problem, &o, progress_if_tty(), NULL);
	if (so->json)
		printf("],\"ok\":%s}\n", r ? "false" : "true");
	if (r && r != PT_ECORRUPT)
		rc = cli_lib_error();
	else if (r)
		rc = CLI_ERROR;
	else if (!so->json)
		printf("archives verified: OK\n");
	pt_store_free(st);
	return rc;
}

static int do_prune(cli_ctx *ctx, const sub_opts *so)
{
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	int r = pt_archive_prune(st, 0, so->dry_run, report_line, NULL);
	if (r == PT_ELOCKED) {
		printf("nothing done: %s\n", pt_error_last());
	} else if (r) {
		rc = cli_lib_error();
	}
	pt_store_free(st);
	return rc;
}

static int do_hold(cli_ctx *ctx, const sub_opts *so, int hold)
{
	if (!so->arg)
		return cli_usage(hold ? "archive hold" : "archive release", "needs an ARCHIVE id");
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (pt_archive_hold(st, so->arg, hold))
		rc = cli_lib_error();
	else
		printf("%s %s\n", hold ? "hold on" : "released", so->arg);
	pt_store_free(st);
	return rc;
}

int cmd_archive(cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	const char *sub = argv[1];
	sub_opts so;
	int r;
	if (!strcmp(sub, "plan")) {
		if (argc < 3)
			return cli_usage("archive plan", "needs add, ls, rm or next");
		const char *ps = argv[2];
		if (!strcmp(ps, "add"))
			return plan_add(ctx, argc - 2, argv + 2);
		if (strcmp(ps, "ls") && strcmp(ps, "rm") && strcmp(ps, "next"))
			return cli_usage("archive plan", "unknown subcommand '%s'", ps);
		const char *allowed = !strcmp(ps, "ls") ? "json" : !strcmp(ps, "next") ? "count" : "";
		if ((r = parse_sub(ctx, "archive plan", allowed, argc - 2, argv + 2, &so, strcmp(ps, "ls") ? 1 : 0)) >= 0)
			return r;
		if (!strcmp(ps, "ls"))
			return plan_ls(ctx, &so);
		if (!strcmp(ps, "next"))
			return plan_next(ctx, &so);
		if (!so.arg)
			return cli_usage("archive plan rm", "needs the plan NAME");
		pt_store *st = NULL;
		int rc = cli_open_store(ctx, &st);
		if (rc)
			return rc;
		if (pt_archive_plan_remove(st, so.arg))
			rc = cli_lib_error();
		else
			printf("plan %s removed\n", so.arg);
		pt_store_free(st);
		return rc;
	}
	int max = !strcmp(sub, "verify") || !strcmp(sub, "hold") || !strcmp(sub, "release") ? 1 : 0;
	if (strcmp(sub, "run") && strcmp(sub, "ls") && strcmp(sub, "verify") && strcmp(sub, "prune") &&
	    strcmp(sub, "hold") && strcmp(sub, "release"))
		return cli_usage("archive", "unknown subcommand '%s'", sub);
	const char *allowed = !strcmp(sub, "run")      ? "due now plan dry-run"
			      : !strcmp(sub, "prune")    ? "dry-run"
			      : !strcmp(sub, "ls") || !strcmp(sub, "verify") ? "json"
							 : "";
	if ((r = parse_sub(ctx, "archive", allowed, argc - 1, argv + 1, &so, max)) >= 0)
		return r;
	if (!strcmp(sub, "run"))
		return do_run(ctx, &so);
	if (!strcmp(sub, "ls"))
		return do_ls(ctx, &so);
	if (!strcmp(sub, "verify"))
		return do_verify(ctx, &so);
	if (!strcmp(sub, "prune"))
		return do_prune(ctx, &so);
	return do_hold(ctx, &so, !strcmp(sub, "hold"));
}
