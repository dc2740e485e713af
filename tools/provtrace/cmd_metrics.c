/* cmd_metrics.c - `provtrace metrics`: metric series of a run (live path), downsampled, as CSV, TSV or JSON. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace metrics [--run RUN] [--name N ...] [--stream S] [--format csv|tsv|json]\n"
	"                         [--points P] [--all-lineages]\n"
	"\n"
	"The metric series of a run: every `metric` event with a step and a numeric\n"
	"value, on the live path (after a resume, one value per step).\n"
	"\n"
	"  --run RUN        the run (default: the store's only run)\n"
	"  --name N         only this metric (repeatable; default: all)\n"
	"  --stream S       only this stream (default: every stream of the run)\n"
	"  --format F       csv (default: stream,name,step,value with a header), tsv\n"
	"                   (the same with tabs), json ({\"run\", \"series\": [{\"stream\",\n"
	"                   \"name\", \"steps\": [...], \"values\": [...]}]})\n"
	"  --points P       at most P points per series: P/2 buckets of consecutive\n"
	"                   points, each keeping its minimum and maximum\n"
	"  --all-lineages   every event, also the abandoned tails (the audit view)\n"
	"  --store DIR      the store\n";

#define MAX_NAMES 256

static void print_double(double v, bool json)
{
	if (isnan(v))
		fputs(json ? "{\"$float\":\"NaN\"}" : "nan", stdout);
	else if (isinf(v))
		fputs(json ? (v > 0 ? "{\"$float\":\"Infinity\"}" : "{\"$float\":\"-Infinity\"}") : (v > 0 ? "inf" : "-inf"),
		      stdout);
	else
		printf("%.17g", v);
}

int cmd_metrics(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS,
					     {"run", required_argument, NULL, 'r'},
					     {"name", required_argument, NULL, 'N'},
					     {"stream", required_argument, NULL, 's'},
					     {"format", required_argument, NULL, 'F'},
					     {"points", required_argument, NULL, 'P'},
					     {"all-lineages", no_argument, NULL, 'A'},
					     {0}};
	const char *run_opt = NULL, *stream = NULL, *names[MAX_NAMES];
	size_t nnames = 0;
	uint64_t points = 0;
	int format = 0; /* 0 csv, 1 tsv, 2 json */
	bool live = true;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(help, stdout); return CLI_OK;
		case 'r': run_opt = optarg; break;
		case 'N':
			if (nnames == MAX_NAMES)
				return cli_usage("metrics", "at most %d --name options", MAX_NAMES);
			names[nnames++] = optarg;
			break;
		case 's': stream = optarg; break;
		case 'F':
			if (!strcmp(optarg, "csv"))
				format = 0;
			else if (!strcmp(optarg, "tsv"))
				format = 1;
			else if (!strcmp(optarg, "json"))
				format = 2;
			else
				return cli_usage("metrics", "--format expects csv, tsv or json, not '%s'", optarg);
			break;
		case 'P':
			if (!cli_parse_u64(optarg, &points) || points == 0 || points > (uint64_t)1 << 40)
				return cli_usage("metrics", "--points expects a number of points >= 1, not '%s'", optarg);
			break;
		case 'A': live = false; break;
		default: {
			int rc = cli_common_option(ctx, "metrics", c, argv);
			if (rc >= 0)
				return rc;
		}
		}
	}
	if (optind < argc)
		return cli_usage("metrics", "unexpected argument '%s'", argv[optind]);
	if (stream && pt_name_check("stream", stream))
		return cli_usage("metrics", "%s", pt_error_last());
	pt_store *st = NULL;
	char *run_owned = NULL;
	const char *run = NULL;
	pt_metric_series *s = NULL;
	size_t n = 0;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if ((rc = cli_pick_run(st, "metrics", run_opt, &run, &run_owned)))
		goto done;
	if (pt_metrics_read(st, run, stream, names, nnames, live, (size_t)points, &s, &n)) {
		rc = cli_lib_error();
		goto done;
	}
	for (size_t i = 0; i < nnames; i++) {
		bool found = false;
		for (size_t k = 0; !found && k < n; k++)
			found = !strcmp(s[k].name, names[i]);
		if (!found)
			cli_msg("note: no numeric metric %s with a step in run %s", names[i], run);
	}
	if (format == 2) {
		printf("{\"run\":");
		cli_json_str(stdout, run);
		printf(",\"series\":[");
		for (size_t k = 0; k < n; k++) {
			printf("%s{\"stream\":", k ? "," : "");
			cli_json_str(stdout, s[k].stream);
			printf(",\"name\":");
			cli_json_str(stdout, s[k].name);
			printf(",\"steps\":[");
			for (size_t i = 0; i < s[k].n; i++)
				printf("%s%" PRId64, i ? "," : "", s[k].steps[i]);
			printf("],\"values\":[");
			for (size_t i = 0; i < s[k].n; i++) {
				if (i)
					putchar(',');
				print_double(s[k].values[i], true);
			}
			printf("]}");
		}
		printf("]}\n");
	} else {
		char sep = format == 1 ? '\t' : ',';
		printf("stream%cname%cstep%cvalue\n", sep, sep, sep);
		for (size_t k = 0; k < n; k++)
			for (size_t i = 0; i < s[k].n; i++) {
				/* names are [A-Za-z0-9_.:-] (streams) and metric names may be anything: quote for CSV */
				if (format == 0 && strpbrk(s[k].name, ",\"\n\r")) {
					fputs(s[k].stream, stdout);
					fputs(",\"", stdout);
					for (const char *p = s[k].name; *p; p++) {
						if (*p == '"')
							putchar('"');
						putchar(*p);
					}
					fputs("\",", stdout);
				} else {
					printf("%s%c%s%c", s[k].stream, sep, s[k].name, sep);
				}
				printf("%" PRId64 "%c", s[k].steps[i], sep);
				print_double(s[k].values[i], false);
				putchar('\n');
			}
	}
	if (fflush(stdout)) {
		cli_msg("cannot write the output");
		rc = CLI_ERROR;
	}
done:
	pt_metrics_free(s, n);
	free(run_owned);
	pt_store_free(st);
	return rc;
}
