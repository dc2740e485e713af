/* cmd_tag.c - `provtrace tag RUN KEY=VALUE... [--note TEXT]`: tags and a note added to a run afterwards. */
#include "cli.h"

#include <string.h>

static const char help[] =
	"usage: provtrace tag RUN [KEY=VALUE...] [--note TEXT] [--stream STREAM]\n"
	"\n"
	"Add tags (and a free-text note) to a run: `tag` events {\"value\"} named KEY,\n"
	"a `note` event {\"text\"}, appended to the run's stream (\"main\", or its only\n"
	"stream; --stream to choose).  A later tag of the same KEY replaces it; queries\n"
	"see them as tags.KEY and note (provtrace runs --where).  A tag does not change\n"
	"the run's status.  A run being recorded (its stream's lock is held) is refused:\n"
	"tag it from the recorder (Python rec.tag(key, value)) or once it has ended.\n"
	"\n"
	"  KEY=VALUE     KEY: 1-128 characters from [A-Za-z0-9_.:/-]; VALUE: text\n"
	"  --note TEXT   the run's note (the latest one is shown)\n"
	"  --stream S    the stream to append to\n";

int cmd_tag(cli_ctx *ctx, int argc, char **argv)
{
	const char *note = NULL, *stream = NULL;
	const cli_opt opts[] = {{"note", 0, CLI_STR, &note}, {"stream", 0, CLI_STR, &stream}, {0}};
	const cli_spec spec = {"tag", help, opts, 1, -1, "the RUN"};
	char **args = NULL;
	int nargs = 0;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (nargs < 2 && !note)
		return cli_usage("tag", "nothing to add: give KEY=VALUE or --note TEXT");
	/* every tag is checked before anything is written */
	for (int i = 1; i < nargs; i++) {
		char *eq = strchr(args[i], '=');
		if (!eq)
			return cli_usage("tag", "'%s' is not KEY=VALUE", args[i]);
		*eq = 0;
		int bad = pt_tag_key_check(args[i]);
		*eq = '=';
		if (bad)
			return cli_usage("tag", "%s", pt_error_last());
	}
	cli_target t;
	int rc = cli_open(ctx, "tag", args[0], stream, CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	pt_recorder *rec = NULL;
	if (pt_recorder_open(&rec, t.st, t.run, t.stream, NULL)) {
		if (pt_error_last_code() == PT_ELOCKED)
			cli_msg("run %s is being recorded: %s; tag it from the recorder (rec.tag) or once it has ended",
				t.run, pt_error_last());
		else
			cli_lib_error();
		cli_close(&t);
		return CLI_ERROR;
	}
	int n = 0;
	for (int i = 1; i < nargs && !rc; i++) {
		char *eq = strchr(args[i], '=');
		*eq = 0;
		if (pt_recorder_tag(rec, args[i], eq + 1))
			rc = cli_lib_error();
		*eq = '=';
		n++;
	}
	if (!rc && note && pt_recorder_note(rec, note))
		rc = cli_lib_error();
	if (pt_recorder_close(rec) && !rc)
		rc = cli_lib_error();
	if (!rc)
		cli_msg("%s/%s: %d tag%s%s", t.run, t.stream, n, n == 1 ? "" : "s", note ? " and a note" : "");
	cli_close(&t);
	return rc;
}
