/*
 * cmd_consume.c - `provtrace consume NAME`: a durable consumer handing each
 * batch to a command (--exec) or to stdout, and `provtrace consumers`
 * (ls, reset, rm).  The semantics are the library's (consumer.h,
 * docs/CONSUMERS.md); this file only runs the handler and renders.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace consume NAME [--exec CMD] [--run RUN|GLOB] [--stream STREAM|GLOB]\n"
	"                         [--from POSITION] [--batch N] [--window MS] [--max-retries N]\n"
	"                         [--backoff MS] [--backoff-max MS] [--failures RUN/STREAM]\n"
	"                         [--no-follow] [--poll MS] [--fsync]\n"
	"\n"
	"Run the durable consumer NAME (created the first time, resumed where it\n"
	"was after that): every event of the runs it follows is handed, in batches,\n"
	"to CMD - run with `sh -c`, the batch as JSON lines on its stdin (the\n"
	"`log --json` shape, with \"run\", \"stream\" and \"seq\" to dedupe by), exit\n"
	"status 0 meaning done - or, without --exec, written to stdout.  After each\n"
	"batch handled the position is committed in the store: killed at any\n"
	"moment, the consumer resumes at the first batch not committed (at least\n"
	"once).  A failing batch is retried with exponential backoff, then split\n"
	"in halves down to the one event that fails, which is recorded in the\n"
	"failure stream (default consumer-failures/NAME) before moving on.\n"
	"Follows new events (and new runs matching a glob) until Ctrl-C or SIGTERM.\n"
	"See docs/CONSUMERS.md.\n"
	"\n"
	"  --exec CMD           the handler (sh -c CMD); environment: PROVTRACE_CONSUMER,\n"
	"                       PROVTRACE_BATCH_EVENTS\n"
	"  --run RUN|GLOB       the runs followed (default: every run of the store)\n"
	"  --stream S|GLOB      the streams followed in each run (default: all)\n"
	"  --from POSITION      where a new consumer starts: oldest (default), latest,\n"
	"                       seq=N, step=N, time=T (see `consumers reset` to move one)\n"
	"  --batch N            events per batch (default 100)\n"
	"  --window MS          wait up to MS for a batch to fill (default 0)\n"
	"  --max-retries N      retries before a failing batch is split (default 3)\n"
	"  --backoff MS         first retry delay, doubled each time (default 100)\n"
	"  --backoff-max MS     largest retry delay (default 10000)\n"
	"  --failures RUN/STREAM  where failed events are recorded\n"
	"  --no-follow          stop when caught up instead of waiting for new events\n"
	"  --poll MS            polling period without inotify (default 1000)\n"
	"  --fsync              fsync each commit (survives a power loss)\n"
	"  --store DIR          the store\n";

static const char help_ls[] =
	"usage: provtrace consumers [ls] [NAME] [--json]\n"
	"       provtrace consumers reset NAME --to POSITION\n"
	"       provtrace consumers rm NAME\n"
	"\n"
	"ls: each consumer with what it follows, whether it runs (and who runs it),\n"
	"its lag - events written but not handled yet, and the age of the oldest of\n"
	"them - and, with --json, its position in every stream.\n"
	"reset: move a consumer (not running) to POSITION: oldest, latest, seq=N,\n"
	"step=N or time=T, in every stream it follows.\n"
	"rm: forget a consumer (its failure stream stays).\n"
	"\n"
	"  --json         one JSON object per consumer: {\"name\", \"run\", \"stream\", \"start\",\n"
	"                 \"failures\", \"created\", \"committed\", \"active\", \"holder\",\n"
	"                 \"events_behind\", \"lag_seconds\", \"positions\": [{\"run\",\n"
	"                 \"stream\", \"seq\", \"last\"}]}\n"
	"  --to POSITION  (reset) the new position\n"
	"  --store DIR    the store\n";

static pt_consumer *running; /* the consumer a signal stops (one per process) */

static void on_signal(int sig)
{
	(void)sig;
	pt_consumer_stop(running);
}

int cli_consumer_start(cli_ctx *ctx, const char *cmd, const char *name, const pt_consumer_options *o,
		       pt_store **st, pt_consumer **c)
{
	*st = NULL;
	*c = NULL;
	int rc = cli_open_store(ctx, st);
	if (rc)
		return rc;
	int r = pt_consumer_open(c, *st, name, o);
	if (r) {
		rc = r == PT_EINVAL ? cli_usage(cmd, "%s", pt_error_last()) : cli_lib_error();
		pt_store_free(*st);
		*st = NULL;
		return rc;
	}
	running = *c;
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return CLI_OK;
}

void cli_consumer_finish(pt_store *st, pt_consumer *c)
{
	running = NULL;
	pt_consumer_close(c);
	pt_store_free(st);
}

typedef struct {
	const char *cmd;
	const char *name;
} exec_ctx;

/* Write all of `p` to fd; false on a broken pipe (the handler stopped reading). */
static bool write_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int exec_handler(void *ud, pt_consumer_batch *b)
{
	exec_ctx *x = ud;
	const char *text;
	size_t len, n;
	char msg[300];
	if (pt_consumer_batch_jsonl(b, &text, &len)) {
		pt_consumer_batch_set_error(b, pt_error_last());
		return 1;
	}
	pt_consumer_batch_events(b, &n);
	int p[2];
	if (pipe(p) < 0) {
		snprintf(msg, sizeof msg, "cannot create a pipe: %s", strerror(errno));
		pt_consumer_batch_set_error(b, msg);
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, sizeof msg, "cannot fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		pt_consumer_batch_set_error(b, msg);
		return 1;
	}
	if (pid == 0) {
		close(p[1]);
		if (dup2(p[0], STDIN_FILENO) < 0)
			_exit(126);
		close(p[0]);
		char nb[32];
		snprintf(nb, sizeof nb, "%zu", n);
		setenv("PROVTRACE_CONSUMER", x->name, 1);
		setenv("PROVTRACE_BATCH_EVENTS", nb, 1);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl("/bin/sh", "sh", "-c", x->cmd, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	write_fd(p[1], text, len); /* a handler that exits without reading: its status decides */
	close(p[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			pt_consumer_batch_set_error(b, "cannot wait for the handler");
			return 1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(msg, sizeof msg, "%s: exit status %d", x->cmd, WEXITSTATUS(status));
	else
		snprintf(msg, sizeof msg, "%s: killed by signal %d", x->cmd, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	pt_consumer_batch_set_error(b, msg);
	return 1;
}

static int stdout_handler(void *ud, pt_consumer_batch *b)
{
	(void)ud;
	const char *text;
	size_t len;
	if (pt_consumer_batch_jsonl(b, &text, &len)) {
		pt_consumer_batch_set_error(b, pt_error_last());
		return 1;
	}
	if (!write_fd(STDOUT_FILENO, text, len)) {
		/* stdout is gone: stop without committing (handed again next time) */
		pt_consumer_batch_set_error(b, "stdout closed");
		pt_consumer_stop(running);
		return 1;
	}
	return 0;
}

int cmd_consume(cli_ctx *ctx, int argc, char **argv)
{
	const char *exec = NULL, *run = NULL, *stream = NULL, *from = NULL, *failures = NULL;
	uint64_t batch = 100, window = 0, retries = 3, backoff = 100, backoff_max = 10000, poll = 1000;
	bool no_follow = false, fsync = false;
	const cli_opt opts[] = {{"exec", 0, CLI_STR, &exec},
				{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"from", 0, CLI_STR, &from},
				{"batch", 0, CLI_U64, &batch, "a number of events (1..1000000)", 1, 1000000},
				{"window", 0, CLI_U64, &window, "milliseconds (0..3600000)", 0, 3600000},
				{"max-retries", 0, CLI_U64, &retries, "a number (0..1000)", 0, 1000},
				{"backoff", 0, CLI_U64, &backoff, "milliseconds (0..3600000)", 0, 3600000},
				{"backoff-max", 0, CLI_U64, &backoff_max, "milliseconds (0..3600000)", 0, 3600000},
				{"failures", 0, CLI_STR, &failures},
				{"no-follow", 0, CLI_FLAG, &no_follow},
				{"poll", 0, CLI_U64, &poll, "milliseconds (1..3600000)", 1, 3600000},
				{"fsync", 0, CLI_FLAG, &fsync},
				{0}};
	const cli_spec spec = {"consume", help, opts, 1, 1, "the consumer NAME"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (pt_name_check("consumer", args[0]))
		return cli_usage("consume", "%s", pt_error_last());
	if (backoff > backoff_max)
		backoff_max = backoff;
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = run;
	o.stream = stream;
	o.start = from;
	o.batch_max = (uint32_t)batch;
	o.window_ms = (uint32_t)window;
	o.max_retries = (uint32_t)retries;
	o.backoff_ms = (uint32_t)backoff;
	o.backoff_max_ms = (uint32_t)backoff_max;
	o.failures = failures;
	o.follow = !no_follow;
	o.poll_ms = (uint32_t)poll;
	o.fsync = fsync;
	pt_store *st;
	pt_consumer *c;
	int rc = cli_consumer_start(ctx, "consume", args[0], &o, &st, &c);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	exec_ctx x = {exec, args[0]};
	int r = pt_consumer_run(c, exec ? exec_handler : stdout_handler, &x);
	if (r)
		rc = cli_lib_error();
	pt_consumer_counts k;
	pt_consumer_get_counts(c, &k);
	if (k.failed)
		cli_msg("consumer %s: %" PRIu64 " event%s recorded in its failure stream", args[0], k.failed,
			k.failed == 1 ? "" : "s");
	cli_consumer_finish(st, c);
	return rc;
}

/* ---- consumers ls / reset / rm ---- */

static void print_json(const pt_consumer_info *ci)
{
	char tb[48];
	printf("{\"name\":");
	cli_json_str(stdout, ci->name);
	printf(",\"run\":");
	cli_json_str(stdout, ci->run);
	printf(",\"stream\":");
	cli_json_str(stdout, ci->stream);
	printf(",\"start\":");
	cli_json_str(stdout, ci->start);
	printf(",\"failures\":");
	cli_json_str(stdout, ci->failures);
	printf(",\"created\":");
	cli_json_str(stdout, cli_time_ms(ci->created, tb, sizeof tb));
	printf(",\"committed\":");
	cli_json_str(stdout, ci->committed ? cli_time_ms(ci->committed, tb, sizeof tb) : NULL);
	printf(",\"active\":%s,\"holder\":", ci->active ? "true" : "false");
	cli_json_str(stdout, ci->holder);
	printf(",\"events_behind\":%" PRIu64 ",\"lag_seconds\":%.3f,\"positions\":[", ci->events_behind,
	       (double)ci->lag_ns / 1e9);
	for (size_t i = 0; i < ci->npositions; i++) {
		const pt_consumer_position *p = &ci->positions[i];
		printf("%s{\"run\":", i ? "," : "");
		cli_json_str(stdout, p->run);
		printf(",\"stream\":");
		cli_json_str(stdout, p->stream);
		printf(",\"seq\":%" PRIu64 ",\"last\":%" PRIu64 "}", p->seq, p->last);
	}
	printf("]}\n");
}

static int consumers_ls(cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"consumers ls", help_ls, opts, 0, 1};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_consumer_info *v = NULL;
	size_t n = 0;
	if (pt_consumers_list(st, nargs ? args[0] : NULL, &v, &n)) {
		rc = cli_lib_error();
		goto done;
	}
	if (!json && n)
		printf("%-20s %-16s %-10s %-8s %12s %10s  %s\n", "NAME", "RUNS", "START", "STATE", "BEHIND", "LAG", "COMMITTED");
	for (size_t i = 0; i < n; i++) {
		const pt_consumer_info *ci = &v[i];
		if (json) {
			print_json(ci);
			continue;
		}
		char tb[48], lag[32], runs[64];
		snprintf(runs, sizeof runs, "%s%s%s", ci->run ? ci->run : "*", ci->stream ? "/" : "",
			 ci->stream ? ci->stream : "");
		snprintf(lag, sizeof lag, "%.1fs", (double)ci->lag_ns / 1e9);
		printf("%-20s %-16s %-10s %-8s %12" PRIu64 " %10s  %s\n", ci->name, runs, ci->start,
		       ci->active ? "running" : "stopped", ci->events_behind, lag,
		       ci->committed ? cli_time_ms(ci->committed, tb, sizeof tb) : "never");
	}
	if (!json && !n && !nargs)
		cli_msg("no consumers in this store");
done:
	pt_consumer_info_free(v, n);
	pt_store_free(st);
	return rc;
}

static int consumers_reset(cli_ctx *ctx, int argc, char **argv)
{
	const char *to = NULL;
	const cli_opt opts[] = {{"to", 0, CLI_STR, &to}, {0}};
	const cli_spec spec = {"consumers reset", help_ls, opts, 1, 1, "the consumer NAME"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (!to)
		return cli_usage("consumers reset", "--to POSITION is required (oldest, latest, seq=N, step=N, time=T)");
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	int r = pt_consumer_reset(st, args[0], to);
	if (r)
		rc = r == PT_EINVAL ? cli_usage("consumers reset", "%s", pt_error_last()) : cli_lib_error();
	else
		cli_msg("consumer %s reset to %s", args[0], to);
	pt_store_free(st);
	return rc;
}

static int consumers_rm(cli_ctx *ctx, int argc, char **argv)
{
	const cli_opt opts[] = {{0}};
	const cli_spec spec = {"consumers rm", help_ls, opts, 1, 1, "the consumer NAME"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (pt_consumer_remove(st, args[0]))
		rc = cli_lib_error();
	pt_store_free(st);
	return rc;
}

int cmd_consumers(cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "reset"))
		return consumers_reset(ctx, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "rm"))
		return consumers_rm(ctx, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "ls"))
		return consumers_ls(ctx, argc - 1, argv + 1);
	return consumers_ls(ctx, argc, argv);
}
