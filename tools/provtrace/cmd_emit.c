/*
 * cmd_emit.c - `provtrace emit`: append events given as JSON lines on stdin.
 *
 * Streaming (the default): each line is parsed, checked and appended as it
 * arrives, so a pipe from a live trainer is recorded live; the recorder's
 * writer thread writes what was appended within its max delay even while
 * emit waits for the next line, so a kill -9 of either side loses at most
 * that delay.  A bad line is reported with its number and skipped (exit 1
 * at the end).  Memory: one line (at most --max-line bytes) and the
 * recorder's bounded queue, whatever the input's size.
 *
 * --all-or-nothing: every line is parsed and checked before the first
 * append, so that a bad line leaves the stream as it was (imports).  The
 * recorder (and with it the stream's lock) is opened before stdin is read:
 * a second writer is told at once, and the stream cannot change between
 * validation and appending.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
	"usage: provtrace emit --run RUN [--stream STREAM] [--durability none|write|fsync]\n"
	"                      [--max-delay MS] [--all-or-nothing] [--max-line BYTES] [-q]\n"
	"\n"
	"Append events given as JSON lines on stdin, one object per line, in the\n"
	"shape `provtrace log --json` prints: \"kind\" (required), \"name\", \"step\",\n"
	"\"time\" (ISO-8601 or integer ns; default: now) and the body's fields at\n"
	"the top level; \"run\", \"stream\" and \"seq\" are ignored (assigned here).\n"
	"Bytes are {\"$bytes\": \"<base64>\"}, non-finite floats {\"$float\": \"NaN\"}.\n"
	"Empty lines are skipped.\n"
	"\n"
	"By default each line is appended as it arrives (`python train.py | provtrace\n"
	"emit --run r` is recorded live) and written within --max-delay, so killing\n"
	"either side loses at most that delay.  A bad line is reported with its\n"
	"number and skipped; the exit status is then 1.  With --all-or-nothing every\n"
	"line is checked first and, if any is bad, nothing is appended (imports).\n"
	"A \"decision\" line follows the decision schema (docs/FORMAT.md): \"set\" a\n"
	"map of new values, \"reason\" and \"actor\" strings.\n"
	"\n"
	"  --run RUN          the run (created if needed)\n"
	"  --stream STREAM    the stream (default: main)\n"
	"  --durability MODE  none, write (default) or fsync (every batch fdatasync'd)\n"
	"  --max-delay MS     an appended event is written within MS ms (default 1000)\n"
	"  --all-or-nothing   read everything, check every line, then append all or none\n"
	"  --max-line BYTES   longest line accepted (default 100 MiB; longer: reported, skipped)\n"
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

static volatile sig_atomic_t emit_stop;

static void on_signal(int sig)
{
	(void)sig;
	emit_stop = 1;
}

typedef struct {
	pt_recorder *rec;
	pt_event *ev;
	size_t good, bad, lineno;
	uint64_t first, last;
} stream_state;

/* One complete line: parse, check, append.  A library failure other than a bad
 * line (a full disk, a corrupt stream) stops the command: returns -1. */
static int stream_line(stream_state *s, const char *p, size_t len)
{
	s->lineno++;
	if (blank(p, len))
		return 0;
	if (pt_event_from_json(s->ev, p, len) || pt_event_check_appendable(s->ev) || pt_decision_check_event(s->ev)) {
		if (++s->bad <= MAX_REPORTED)
			cli_msg("line %zu: %s (skipped)", s->lineno, pt_error_last());
		return 0;
	}
	uint64_t seq;
	if (pt_recorder_append(s->rec, s->ev, &seq)) {
		cli_msg("line %zu: %s", s->lineno, pt_error_last());
		return -1;
	}
	if (!s->good++)
		s->first = seq;
	s->last = seq;
	return 0;
}

static int emit_streaming(stream_state *s, size_t max_line)
{
	size_t cap = max_line < (1 << 16) ? max_line : 1 << 16, len = 0, scanned = 0;
	bool skipping = false; /* inside a line longer than max_line */
	char *buf = malloc(cap);
	if (!buf) {
		cli_msg("out of memory");
		return CLI_ERROR;
	}
	int rc = CLI_OK;
	for (;;) {
		if (len == cap) {
			/* a line longer than the buffer: grow up to max_line, then skip it */
			if (cap >= max_line) {
				if (!skipping && ++s->bad <= MAX_REPORTED)
					cli_msg("line %zu: longer than %zu bytes (skipped)", s->lineno + 1, max_line);
				skipping = true;
				len = scanned = 0;
			} else {
				size_t nc = cap * 2 > max_line ? max_line : cap * 2;
				char *nb = realloc(buf, nc);
				if (!nb) {
					cli_msg("out of memory for a line of %zu bytes", cap);
					rc = CLI_ERROR;
					break;
				}
				buf = nb;
				cap = nc;
			}
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR && !emit_stop)
				continue;
			if (errno != EINTR) {
				cli_msg("error reading stdin: %s", strerror(errno));
				rc = CLI_ERROR;
			}
			break;
		}
		if (n == 0) {
			if (len && !skipping && stream_line(s, buf, len))
				rc = CLI_ERROR;
			else if (skipping)
				s->lineno++;
			break;
		}
		len += (size_t)n;
		size_t start = 0;
		char *nl;
		while ((nl = memchr(buf + scanned, '\n', len - scanned))) {
			size_t end = (size_t)(nl - buf);
			if (skipping) {
				skipping = false;
				s->lineno++;
			} else if (stream_line(s, buf + start, end - start)) {
				rc = CLI_ERROR;
				goto out;
			}
			start = scanned = end + 1;
		}
		scanned = len;
		if (start) {
			memmove(buf, buf + start, len - start);
			len -= start;
			scanned -= start;
		}
		if (skipping)
			len = scanned = 0;
	}
out:
	free(buf);
	return rc;
}

int cmd_emit(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL;
	int dur = -1;
	bool quiet = false, all = false;
	uint64_t max_delay = 1000, max_line = 100u << 20;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"durability", 0, CLI_CHOICE, &dur, "none|write|fsync"},
				{"max-delay", 0, CLI_U64, &max_delay, "milliseconds (1..3600000)", 1, 3600000},
				{"all-or-nothing", 0, CLI_FLAG, &all},
				{"max-line", 0, CLI_U64, &max_line, "bytes (1024..1 GiB)", 1024, 1 << 30},
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
	ro.max_delay_ms = (uint32_t)max_delay;

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
	if (!all) {
		/* SIGINT/SIGTERM end the input: what was read is appended and the stream closed */
		struct sigaction sa = {0};
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		stream_state ss = {rec, ev, 0, 0, 0, 0, 0};
		rc = emit_streaming(&ss, (size_t)max_line);
		if (ss.bad > MAX_REPORTED)
			cli_msg("... and %zu more bad lines", ss.bad - MAX_REPORTED);
		int crc = pt_recorder_close(rec);
		rec = NULL;
		if (crc && rc == CLI_OK)
			rc = cli_lib_error();
		if (!quiet || ss.bad) {
			if (ss.good)
				cli_msg("appended %zu event%s to %s/%s (seq %" PRIu64 "..%" PRIu64 ")", ss.good,
					ss.good == 1 ? "" : "s", run, stream ? stream : "main", ss.first, ss.last);
			else if (!ss.bad)
				cli_msg("no events on stdin; nothing appended");
			if (ss.bad)
				cli_msg("%zu of %zu lines rejected and skipped", ss.bad, ss.good + ss.bad);
		}
		if (ss.bad && rc == CLI_OK)
			rc = CLI_ERROR;
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
