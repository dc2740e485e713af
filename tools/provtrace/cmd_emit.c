/*
 * cmd_emit.c - `provtrace emit`: append events given as JSON lines on stdin.
 *
 * All or nothing: every line is parsed and checked before the first append,
 * so that a bad line leaves the stream as it was.  The recorder (and with it
 * the stream's lock) is opened before stdin is read: a second writer is told
 * at once, and the stream cannot change between validation and appending.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace emit --run RUN [--stream STREAM] [--durability none|write|fsync] [-q]\n"
	"\n"
	"Append events given as JSON lines on stdin, one object per line, in the\n"
	"shape `provtrace log --json` prints: \"kind\" (required), \"name\", \"step\",\n"
	"\"time\" (ISO-8601 or integer ns; default: now) and the body's fields at\n"
	"the top level; \"run\", \"stream\" and \"seq\" are ignored (assigned here).\n"
	"Bytes are {\"$bytes\": \"<base64>\"}, non-finite floats {\"$float\": \"NaN\"}.\n"
	"Empty lines are skipped.  Every line is checked first: if any is bad, each\n"
	"bad line is reported with its number and nothing is appended (exit 1).\n"
	"A \"decision\" line follows the decision schema (docs/FORMAT.md): \"set\" a\n"
	"map of new values, \"reason\" and \"actor\" strings.\n"
	"\n"
	"  --run RUN          the run (created if needed)\n"
	"  --stream STREAM    the stream (default: main)\n"
	"  --durability MODE  none, write (default) or fsync (every batch fdatasync'd)\n"
	"  -q, --quiet        do not print the appended sequence range on stderr\n"
	"  --store DIR        the store\n";

#define MAX_REPORTED 20

typedef struct {
	size_t off, len, lineno;
} line;

static int read_all(FILE *f, char **out, size_t *out_len)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	for (;;) {
		if (len == cap) {
			char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -2;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int cmd_emit(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL;
	int dur = -1;
	bool quiet = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"durability", 0, CLI_CHOICE, &dur, "none|write|fsync"},
				{"quiet", 'q', CLI_FLAG, &quiet},
				{0}};
	const cli_spec spec = {"emit", help, opts, 0, 0, NULL, "(events are read from stdin)"};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (!run)
		return cli_usage("emit", "--run is required");
	if (pt_name_check("run", run) || (stream && pt_name_check("stream", stream)))
		return cli_usage("emit", "%s", pt_error_last());
	pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
	static const pt_durability durabilities[] = {PT_DURABILITY_NONE, PT_DURABILITY_WRITE, PT_DURABILITY_FSYNC};
	if (dur >= 0)
		ro.durability = durabilities[dur];

	pt_store *st = NULL;
	pt_recorder *rec = NULL;
	pt_event *ev = NULL;
	char *input = NULL;
	line *lines = NULL;
	size_t nlines = 0, input_len = 0;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	if (pt_recorder_open(&rec, st, run, stream, &ro) || pt_event_new(&ev, "note", NULL)) {
		rc = cli_lib_error();
		goto done;
	}
	int r = read_all(stdin, &input, &input_len);
	if (r) {
		cli_msg(r == -1 ? "out of memory reading stdin" : "error reading stdin");
		rc = CLI_ERROR;
		goto done;
	}

	/* Split into lines and check each. */
	size_t cap = 0, bad = 0, lineno = 0;
	for (size_t pos = 0; pos < input_len;) {
		char *nl = memchr(input + pos, '\n', input_len - pos);
		size_t end = nl ? (size_t)(nl - input) : input_len;
		lineno++;
		size_t len = end - pos;
		if (!blank(input + pos, len)) {
			if (nlines == cap) {
				cap = cap ? cap * 2 : 1024;
				line *nv = realloc(lines, cap * sizeof *lines);
				if (!nv) {
					cli_msg("out of memory");
					rc = CLI_ERROR;
					goto done;
				}
				lines = nv;
			}
			lines[nlines++] = (line){pos, len, lineno};
			/* kinds the library interprets (checkpoint, lineage, ...) are written by
			 * their own commands and APIs only: refused here, before anything is appended */
			if (pt_event_from_json(ev, input + pos, len) || pt_event_check_appendable(ev) ||
			    pt_decision_check_event(ev)) {
				if (++bad <= MAX_REPORTED)
					cli_msg("line %zu: %s", lineno, pt_error_last());
			}
		}
		pos = end + 1;
	}
	if (bad) {
		if (bad > MAX_REPORTED)
			cli_msg("... and %zu more bad lines", bad - MAX_REPORTED);
		cli_msg("%zu of %zu lines rejected; nothing was appended to %s/%s", bad, nlines,
			pt_recorder_run(rec), pt_recorder_stream(rec));
		rc = CLI_ERROR;
		goto done;
	}

	uint64_t first = 0, last = 0;
	for (size_t i = 0; i < nlines; i++) {
		uint64_t seq;
		if (pt_event_from_json(ev, input + lines[i].off, lines[i].len) ||
		    pt_recorder_append(rec, ev, &seq)) {
			cli_msg("line %zu: %s", lines[i].lineno, pt_error_last());
			if (i)
				cli_msg("events of lines before %zu were appended (seq %" PRIu64
					"..%" PRIu64 ")", lines[i].lineno, first, last);
			rc = CLI_ERROR;
			goto done;
		}
		if (!i)
			first = seq;
		last = seq;
	}
	if (nlines && pt_recorder_flush(rec)) {
		rc = cli_lib_error();
		goto done;
	}
	int crc = pt_recorder_close(rec);
	rec = NULL;
	if (crc) {
		rc = cli_lib_error();
		goto done;
	}
	if (!quiet) {
		if (nlines)
			cli_msg("appended %zu event%s to %s/%s (seq %" PRIu64 "..%" PRIu64 ")", nlines,
				nlines == 1 ? "" : "s", run, stream ? stream : "main", first, last);
		else
			cli_msg("no events on stdin; nothing appended");
	}
done:
	if (rec && pt_recorder_close(rec) && rc == CLI_OK)
		rc = cli_lib_error();
	pt_event_free(ev);
	free(lines);
	free(input);
	pt_store_free(st);
	return rc;
}
