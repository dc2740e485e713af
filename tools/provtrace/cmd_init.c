/* cmd_init.c - `provtrace init [DIR]`: create a store. */
#include "cli.h"

#include <string.h>

static const char help[] =
	"usage: provtrace init [DIR] [--json]\n"
	"\n"
	"Create a store.  DIR is the store directory itself (created with its\n"
	"parents); without DIR, --store DIR, else ./" PT_STORE_DIRNAME " (found later from\n"
	"this directory and its subdirectories).  An existing store is left as it\n"
	"is (exit 0).\n"
	"\n"
	"  --json        print {\"path\": ..., \"created\": true|false}\n"
	"  --store DIR   the store to create (same as DIR)\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS, {"json", no_argument, NULL, 'j'}, {0}};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return CLI_OK;
		} else if (c == 'j') {
			json = true;
		} else {
			int rc = cli_common_option(ctx, "init", c, argv);
			if (rc >= 0)
				return rc;
		}
	}
	if (argc - optind > 1)
		return cli_usage("init", "too many arguments");
	const char *dir = optind < argc ? argv[optind] : NULL;
	if (dir && ctx->store && strcmp(dir, ctx->store))
		return cli_usage("init", "both DIR (%s) and --store (%s) given", dir, ctx->store);
	const char *path = dir ? dir : ctx->store ? ctx->store : PT_STORE_DIRNAME;
	if (!*path)
		return cli_usage("init", "empty store path");

	pt_store *st = NULL;
	int rc = pt_store_init(&st, path);
	bool created = rc == 0;
	if (rc && !(rc == PT_EEXISTS && st)) {
		pt_store_free(st);
		return cli_lib_error();
	}
	if (json) {
		fputs("{\"path\":", stdout);
		cli_json_str(stdout, pt_store_path(st));
		printf(",\"created\":%s}\n", created ? "true" : "false");
	} else if (created) {
		printf("Initialized empty provtrace store in %s\n", pt_store_path(st));
	} else {
		printf("provtrace store already exists in %s\n", pt_store_path(st));
	}
	pt_store_free(st);
	return CLI_OK;
}
