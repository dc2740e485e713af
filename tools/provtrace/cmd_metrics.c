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
	const char *run_opt = NULL, *stream = NULL;
	cli_list names = {0};
	uint64_t points = 0;
	int format = 0; /* 0 csv, 1 tsv, 2 json */
	bool all_lineages = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"name", 0, CLI_LIST, &names},
				{"stream", 0, CLI_STR, &stream},
				{"format", 0, CLI_CHOICE, &format, "csv|tsv|json"},
				{"points", 0, CLI_U64, &points, "a number of points >= 1", 1, (int64_t)1 << 40},
				{"all-lineages", 0, CLI_FLAG, &all_lineages},
				{0}};
	const cli_spec spec = {"metrics", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	bool live = !all_lineages;
	size_t nnames = names.n;
	cli_target t;
	int rc = cli_open(ctx, "metrics", run_opt, stream, CLI_ALL_STREAMS, &t);
	if (rc)
		return rc;
	const char *run = t.run;
	pt_metric_series *s = NULL;
	size_t n = 0;
	if (pt_metrics_read(t.st, run, stream, names.v, nnames, live, (size_t)points, &s, &n)) {
		rc = cli_lib_error();
		goto done;
	}
	for (size_t i = 0; i < nnames; i++) {
		bool found = false;
		for (size_t k = 0; !found && k < n; k++)
			found = !strcmp(s[k].name, names.v[i]);
		if (!found)
			cli_msg("note: no numeric metric %s with a step in run %s", names.v[i], run);
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
	cli_close(&t);
	return rc;
}
