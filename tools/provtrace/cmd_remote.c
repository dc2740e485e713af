/* cmd_remote.c - `provtrace remote`, `push` and `clone`: a store's history in an S3-compatible bucket. */
#include "cli.h"

#include <provtrace/remote.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_remote[] =
	"usage: provtrace remote add NAME s3://BUCKET[/PREFIX] [--endpoint URL] [--region R]\n"
	"       provtrace remote ls [--json]\n"
	"       provtrace remote rm NAME\n"
	"\n"
	"Remotes name S3-compatible buckets (AWS S3, MinIO, Ceph RGW, GCS's XML API...)\n"
	"that hold a copy of the store's history (`provtrace push`, `provtrace clone`).\n"
	"They are kept in STORE/remotes; credentials never are: they are found at each\n"
	"use like AWS tools find them (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n"
	"[+AWS_SESSION_TOKEN], or AWS_PROFILE with ~/.aws/credentials and ~/.aws/config).\n"
	"\n"
	"  --endpoint URL  http[s]://host[:port] of an S3-compatible service (default:\n"
	"                  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's, else AWS)\n"
	"  --region R      the region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION,\n"
	"                  the profile's, else us-east-1)\n"
	"  --json          ls: one JSON object per remote: {\"name\", \"url\", \"endpoint\", \"region\"}\n"
	"  --store DIR     the store\n";

static int remote_add(cli_ctx *ctx, int argc, char **argv)
{
	const char *endpoint = NULL, *region = NULL;
	const cli_opt opts[] = {{"endpoint", 0, CLI_STR, &endpoint}, {"region", 0, CLI_STR, &region}, {0}};
	const cli_spec spec = {"remote add", help_remote, opts, 2, 2, "NAME and s3://BUCKET[/PREFIX]"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (pt_remote_add(st, args[0], args[1], endpoint, region))
		rc = pt_error_last_code() == PT_EINVAL ? (cli_msg("%s", pt_error_last()), CLI_USAGE) : cli_lib_error();
	pt_store_free(st);
	return rc;
}

static int remote_rm(cli_ctx *ctx, int argc, char **argv)
{
	const cli_opt opts[] = {{0}};
	const cli_spec spec = {"remote rm", help_remote, opts, 1, 1, "the remote NAME"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (pt_remote_remove(st, args[0]))
		rc = cli_lib_error();
	pt_store_free(st);
	return rc;
}

static int remote_ls(cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = {{"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"remote ls", help_remote, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_remote *v = NULL;
	size_t n = 0;
	if (pt_remote_list(st, &v, &n)) {
		rc = cli_lib_error();
		pt_store_free(st);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (json) {
			printf("{\"name\":");
			cli_json_str(stdout, v[i].name);
			printf(",\"url\":");
			cli_json_str(stdout, v[i].url);
			printf(",\"endpoint\":");
			cli_json_str(stdout, v[i].endpoint);
			printf(",\"region\":");
			cli_json_str(stdout, v[i].region);
			printf("}\n");
		} else {
			printf("%s\t%s", v[i].name, v[i].url);
			if (v[i].endpoint)
				printf("\tendpoint=%s", v[i].endpoint);
			if (v[i].region)
				printf("\tregion=%s", v[i].region);
			printf("\n");
		}
	}
	pt_remote_list_free(v, n);
	pt_store_free(st);
	return CLI_OK;
}

int cmd_remote(cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help_remote, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (argv[1][0] == '-') {
		/* options before the subcommand: the parser reports them as every command does */
		const cli_opt opts[] = {{0}};
		const cli_spec spec = {"remote", help_remote, opts, 1, -1, "a subcommand (add, ls, rm)"};
		char **args;
		int nargs;
		int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
		if (prc >= 0)
			return prc;
		return cli_usage("remote", "options go after the subcommand: provtrace remote %s ...", args[0]);
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "add"))
		return remote_add(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "ls"))
		return remote_ls(ctx, argc - 1, argv + 1);
	if (!strcmp(sub, "rm"))
		return remote_rm(ctx, argc - 1, argv + 1);
	return cli_usage("remote", "unknown subcommand '%s' (add, ls, rm)", sub);
}

/* ---- progress ------------------------------------------------------------------------------ */
static void progress_bar(void *payload, uint64_t done, uint64_t total, uint64_t bytes)
{
	const char *what = payload;
	char a[32];
	int pct = total ? (int)(done * 100 / total) : 100;
	int fill = pct / 4;
	fprintf(stderr, "\r%-6s [%.*s%*s] %3d%% %" PRIu64 "/%" PRIu64 " %s", what, fill, "#########################",
		25 - fill, "", pct, done, total, cli_size(bytes, a, sizeof a));
	if (done >= total)
		fputs("\n", stderr);
	fflush(stderr);
}

static void print_stats(const char *verb, const pt_push_stats *s, bool json, const char *where)
{
	char a[32];
	if (json) {
		printf("{\"streams\":%" PRIu64 ",\"items\":%" PRIu64 ",\"transferred\":%" PRIu64 ",\"present\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"retries\":%" PRIu64 "}\n",
		       s->streams, s->items, s->transferred, s->present, s->bytes, s->requests, s->retries);
		return;
	}
	printf("%s %s: %" PRIu64 " stream%s, %" PRIu64 " item%s %s (%s), %" PRIu64 " already there; %" PRIu64
	       " request%s\n",
	       verb, where, s->streams, s->streams == 1 ? "" : "s", s->transferred, s->transferred == 1 ? "" : "s",
	       !strcmp(verb, "pushed to") ? "uploaded" : "downloaded", cli_size(s->bytes, a, sizeof a), s->present,
	       s->requests, s->requests == 1 ? "" : "s");
}

static const char help_push[] =
	"usage: provtrace push [NAME|s3://BUCKET[/PREFIX]] [--run RUN] [--full] [--jobs N] [--json]\n"
	"\n"
	"Upload to a remote (default: the only one configured) what it lacks of the\n"
	"store's history: sealed segments (hot or archived) with their chain records,\n"
	"snapshot indexes, recovery cuts, and every object the runs reference\n"
	"(checkpoint manifests and chunks, snapshots, code trees, artifacts).  Open\n"
	"segments are not pushed (`provtrace seal` a finished run's streams first).\n"
	"Objects are created only if absent, so a push is idempotent, resumes after a\n"
	"kill and can run from many hosts into one bucket at once.  A stream whose\n"
	"history in the bucket differs from this store's is refused (another writer).\n"
	"\n"
	"  --run RUN       push only this run\n"
	"  --full          also check every object the old history references (a push\n"
	"                  reads only the events the bucket does not list yet: their\n"
	"                  objects are uploaded before their chain record); repairs a\n"
	"                  bucket that lost objects\n"
	"  --jobs N        parallel uploads (default 8)\n"
	"  --endpoint URL  override the remote's endpoint\n"
	"  --region R      override the remote's region\n"
	"  --json          one JSON object: {\"streams\", \"items\", \"transferred\",\n"
	"                  \"present\", \"bytes\", \"requests\", \"retries\"}\n"
	"  --store DIR     the store\n";

int cmd_push(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *endpoint = NULL, *region = NULL;
	uint64_t jobs = 0;
	bool json = false, full = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"full", 0, CLI_FLAG, &full},
				{"jobs", 'j', CLI_U64, &jobs, "a number of parallel uploads", 1, 64},
				{"endpoint", 0, CLI_STR, &endpoint},
				{"region", 0, CLI_STR, &region},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"push", help_push, opts, 0, 1};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	const char *remote = nargs ? args[0] : NULL;
	pt_remote *v = NULL;
	size_t n = 0;
	if (!remote) {
		if (pt_remote_list(st, &v, &n)) {
			rc = cli_lib_error();
			goto done;
		}
		if (n != 1) {
			rc = cli_usage("push", n ? "several remotes: name one (see `provtrace remote ls`)"
						: "no remote configured: `provtrace remote add NAME s3://BUCKET/PREFIX`");
			goto done;
		}
		remote = v[0].name;
	}
	pt_push_options o = PT_PUSH_OPTIONS_INIT;
	o.run = run;
	o.jobs = (unsigned)jobs;
	o.endpoint = endpoint;
	o.region = region;
	o.full = full;
	if (isatty(2) && !json) {
		o.progress = progress_bar;
		o.progress_payload = (void *)"push";
	}
	pt_push_stats s;
	if (pt_push(st, remote, &o, &s)) {
		rc = cli_lib_error();
		goto done;
	}
	print_stats("pushed to", &s, json, remote);
done:
	pt_remote_list_free(v, n);
	pt_store_free(st);
	return rc;
}

static const char help_clone[] =
	"usage: provtrace clone s3://BUCKET[/PREFIX] DIR [--run RUN] [--jobs N] [--json]\n"
	"\n"
	"Make a new store at DIR (which must not exist, or be empty) holding everything\n"
	"a remote holds: every segment checked against its SHA-256 name, every object\n"
	"against its id, the chains rebuilt from the bucket's chain records; then the\n"
	"new store is verified as `provtrace verify` does (exit 1 naming what fails).\n"
	"\n"
	"  --run RUN       clone only this run\n"
	"  --jobs N        parallel downloads (default 8)\n"
	"  --endpoint URL  the S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3,\n"
	"                  AWS_ENDPOINT_URL, the profile's, else AWS)\n"
	"  --region R      the region to sign for\n"
	"  --json          one JSON object, as push --json\n";

int cmd_clone(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *endpoint = NULL, *region = NULL;
	uint64_t jobs = 0;
	bool json = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"jobs", 'j', CLI_U64, &jobs, "a number of parallel downloads", 1, 64},
				{"endpoint", 0, CLI_STR, &endpoint},
				{"region", 0, CLI_STR, &region},
				{"json", 0, CLI_FLAG, &json},
				{0}};
	const cli_spec spec = {"clone", help_clone, opts, 2, 2, "s3://BUCKET[/PREFIX] and DIR"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (strncmp(args[0], "s3://", 5) != 0)
		return cli_usage("clone", "the source is an s3://BUCKET[/PREFIX] URL, not '%s'", args[0]);
	pt_push_options o = PT_PUSH_OPTIONS_INIT;
	o.run = run;
	o.jobs = (unsigned)jobs;
	o.endpoint = endpoint;
	o.region = region;
	if (isatty(2) && !json) {
		o.progress = progress_bar;
		o.progress_payload = (void *)"clone";
	}
	pt_push_stats s;
	if (pt_clone(args[0], args[1], &o, &s))
		return cli_lib_error();
	print_stats("cloned from", &s, json, args[0]);
	return CLI_OK;
}
