/* cmd_anchor.c - `provtrace anchor push`: signed checkpoints kept in a git remote. */
#include "cli.h"

#include <string.h>

static const char help[] =
	"usage: provtrace anchor push GIT_URL [--branch B] [--json]\n"
	"\n"
	"Commit the newest signed checkpoint of every stream of the store\n"
	"(STREAM/checkpoint.note, written by recorders with a signing key) as\n"
	"<run>/<stream>.note, one commit per anchor on top of the branch, and push\n"
	"it to GIT_URL (a path, file://, or a host reachable without credentials).\n"
	"A remote the writer cannot rewrite (protected branches, a colleague's\n"
	"repository) becomes a witness: `provtrace verify --anchors GIT_URL` then\n"
	"names every stream rolled back, truncated, replaced, deleted or renamed\n"
	"since (docs/PROOFS.md, \"Anchors\").\n"
	"\n"
	"  --branch B   the branch (default: provtrace/<store id>)\n"
	"  --json       print {\"commit\", \"branch\", \"anchored\", \"unsigned\"}\n"
	"  --store DIR  the store\n";

int cmd_anchor(cli_ctx *ctx, int argc, char **argv)
{
	const char *branch = NULL;
	bool json = false;
	const cli_opt opts[] = {{"branch", 0, CLI_STR, &branch}, {"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"anchor", help, opts, 2, 2, "push and the GIT_URL"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (strcmp(args[0], "push"))
		return cli_usage("anchor", "unknown subcommand \"%s\" (push; checking is `verify --anchors`)", args[0]);
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	char *out = NULL;
	if (pt_anchor_push(st, args[1], branch, &out)) {
		rc = cli_lib_error();
	} else if (json) {
		printf("%s\n", out);
	} else {
		const char *c = strstr(out, "\"commit\":\"");
		printf("anchored: commit %.12s pushed to %s\n", c ? c + 10 : "?", args[1]);
	}
	pt_free(out);
	pt_store_free(st);
	return rc;
}
