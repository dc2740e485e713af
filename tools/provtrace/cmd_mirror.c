/*
 * cmd_mirror.c - `provtrace mirror NAME --to kinesis://STREAM`: the built-in
 * consumer that publishes events to a Kinesis stream (provtrace/mirror.h).
 */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static const char help[] =
	"usage: provtrace mirror NAME --to kinesis://STREAM [--endpoint URL] [--region R]\n"
	"                        [--format json|msgpack] [--run RUN|GLOB] [--stream S|GLOB]\n"
	"                        [--from POSITION] [--batch N] [--window MS] [--max-retries N]\n"
	"                        [--backoff MS] [--failures RUN/STREAM] [--no-follow] [--poll MS]\n"
	"\n"
	"Run NAME as a durable consumer (see `provtrace consume`) whose handler\n"
	"publishes every event to the Kinesis stream STREAM with PutRecords: its\n"
	"JSON form (the `log --json` shape), or with --format msgpack a msgpack map\n"
	"{run, stream, event}; partition key RUN/STREAM, so each stream keeps its\n"
	"order on one shard.  Calls stay within the API's limits (500 records, 5 MiB\n"
	"per call, 1 MiB per record: a larger event is sent as a reference,\n"
	"{..., \"ref\": \"provtrace://RUN/STREAM/SEQ\", \"bytes\": N}, never dropped);\n"
	"records a partial failure names are sent again; the position is committed\n"
	"only once Kinesis accepted the whole batch - a restart never loses an\n"
	"event and repeats at most the batch in hand.  Credentials and region as\n"
	"the AWS CLI finds them (AWS_ACCESS_KEY_ID..., AWS_PROFILE, ~/.aws).\n"
	"See docs/CONSUMERS.md.\n"
	"\n"
	"  --to kinesis://STREAM  the Kinesis stream (it must exist)\n"
	"  --endpoint URL         http(s)://host[:port] (default: AWS_ENDPOINT_URL_KINESIS,\n"
	"                         AWS_ENDPOINT_URL, the profile's, else AWS)\n"
	"  --region R             the region (default: AWS_REGION, the profile's, us-east-1)\n"
	"  --format F             json (default) or msgpack\n"
	"  --batch N              events per batch (default 500)\n"
	"  the other options: as `provtrace consume`\n"
	"  --store DIR            the store\n";

int cmd_mirror(cli_ctx *ctx, int argc, char **argv)
{
	const char *to = NULL, *endpoint = NULL, *region = NULL, *run = NULL, *stream = NULL, *from = NULL,
		   *failures = NULL;
	int format = 0;
	uint64_t batch = 500, window = 0, retries = 3, backoff = 100, poll = 1000;
	bool no_follow = false;
	const cli_opt opts[] = {{"to", 0, CLI_STR, &to},
				{"endpoint", 0, CLI_STR, &endpoint},
				{"region", 0, CLI_STR, &region},
				{"format", 0, CLI_CHOICE, &format, "json|msgpack"},
				{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"from", 0, CLI_STR, &from},
				{"batch", 0, CLI_U64, &batch, "a number of events (1..1000000)", 1, 1000000},
				{"window", 0, CLI_U64, &window, "milliseconds (0..3600000)", 0, 3600000},
				{"max-retries", 0, CLI_U64, &retries, "a number (0..1000)", 0, 1000},
				{"backoff", 0, CLI_U64, &backoff, "milliseconds (0..10000)", 0, 10000},
				{"failures", 0, CLI_STR, &failures},
				{"no-follow", 0, CLI_FLAG, &no_follow},
				{"poll", 0, CLI_U64, &poll, "milliseconds (1..3600000)", 1, 3600000},
				{0}};
	const cli_spec spec = {"mirror", help, opts, 1, 1, "the mirror (consumer) NAME"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (pt_name_check("consumer", args[0]))
		return cli_usage("mirror", "%s", pt_error_last());
	if (!to)
		return cli_usage("mirror", "--to kinesis://STREAM is required");
	if (strncmp(to, "kinesis://", 10) || !to[10])
		return cli_usage("mirror", "--to must be kinesis://STREAM, not '%s'", to);
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = run;
	o.stream = stream;
	o.start = from;
	o.batch_max = (uint32_t)batch;
	o.window_ms = (uint32_t)window;
	o.max_retries = (uint32_t)retries;
	o.backoff_ms = (uint32_t)backoff;
	o.failures = failures;
	o.follow = !no_follow;
	o.poll_ms = (uint32_t)poll;
	pt_mirror_options mo = PT_MIRROR_OPTIONS_INIT;
	mo.stream = to + 10;
	mo.endpoint = endpoint;
	mo.region = region;
	mo.format = format == 1 ? PT_MIRROR_MSGPACK : PT_MIRROR_JSON;
	pt_store *st;
	pt_consumer *c;
	int rc = cli_consumer_start(ctx, "mirror", args[0], &o, &st, &c);
	if (rc)
		return rc;
	pt_mirror_stats ms;
	int r = pt_mirror_kinesis(c, &mo, &ms);
	if (r)
		rc = r == PT_EINVAL ? cli_usage("mirror", "%s", pt_error_last()) : cli_lib_error();
	pt_consumer_counts k;
	pt_consumer_get_counts(c, &k);
	cli_msg("mirror %s: %" PRIu64 " records put to %s in %" PRIu64 " calls (%" PRIu64 " referenced, %" PRIu64
		" sent again)",
		args[0], ms.records, to, ms.requests, ms.referenced, ms.retried);
	if (k.failed)
		cli_msg("mirror %s: %" PRIu64 " event%s recorded in its failure stream", args[0], k.failed,
			k.failed == 1 ? "" : "s");
	cli_consumer_finish(st, c);
	return rc;
}
