/* cmd_ui.c - `provtrace ui`: the local read-only web UI (pt_ui_start) until interrupted. */
#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static const char help[] =
	"usage: provtrace ui [--port N] [--bind ADDR] [--allow-remote]\n"
	"\n"
	"Serve a read-only web UI of the store: the runs with a --where query box and\n"
	"sorting, each run's report (the page `provtrace report` writes), and charts\n"
	"that follow a run while it records.  Prints the URL, then serves until\n"
	"interrupted (Ctrl-C, SIGTERM).  Nothing in the store's history is written.\n"
	"\n"
	"  --port N         the TCP port (default: a free port, printed)\n"
	"  --bind ADDR      the numeric address to listen on (default 127.0.0.1)\n"
	"  --allow-remote   accept a non-loopback --bind: anyone who can connect can\n"
	"                   read every run of the store (there is no authentication)\n"
	"  --store DIR      the store\n";

int cmd_ui(cli_ctx *ctx, int argc, char **argv)
{
	uint64_t port = 0;
	const char *bind = NULL;
	bool allow_remote = false;
	const cli_opt opts[] = {{"port", 0, CLI_U64, &port, "a TCP port (0 to 65535)", 0, 65535},
				{"bind", 0, CLI_STR, &bind},
				{"allow-remote", 0, CLI_FLAG, &allow_remote},
				{0}};
	const cli_spec spec = {"ui", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	/* the server's threads inherit this mask: the signals wait for sigwait() below */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pt_ui_options o = PT_UI_OPTIONS_INIT;
	o.port = (unsigned)port;
	o.bind = bind;
	o.allow_remote = allow_remote;
	pt_ui *ui = NULL;
	if (pt_ui_start(&ui, pt_store_path(st), &o)) {
		rc = pt_error_last_code() == PT_EINVAL ? (cli_msg("%s", pt_error_last()), CLI_USAGE) : cli_lib_error();
		pt_store_free(st);
		return rc;
	}
	if (pt_ui_is_remote(ui))
		cli_msg("warning: listening on %s, reachable from other hosts: anyone who can connect can read every "
			"run of this store (there is no authentication)",
			bind);
	cli_msg("serving %s read-only; Ctrl-C stops", pt_store_path(st));
	printf("%s\n", pt_ui_url(ui));
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	pt_ui_stop(ui);
	pt_store_free(st);
	return CLI_OK;
}
