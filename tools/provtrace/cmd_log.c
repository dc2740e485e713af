/* cmd_log.c - `provtrace log`: show the events of a stream, filtered, as text or JSON lines. */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char help[] =
	"usage: provtrace log [--run RUN] [--stream STREAM] [--kind KIND]\n"
	"                     [--from step=N|time=ISO|seq=N] [--to step=N|time=ISO|seq=N]\n"
	"                     [--seq A..B] [-n N] [--json] [-f] [--live]\n"
	"\n"
	"Show the events of a run, oldest first: one line per event with its\n"
	"sequence number, time (UTC, ms), step (- if none), lineage (when the\n"
	"stream was resumed: L0, L1, ...), kind, name and body fields, or with\n"
	"--json one JSON object per line (the shape `emit` reads) with its\n"
	"\"lineage\".  Every event is shown (the audit view) unless --live.\n"
	"\n"
	"  --run RUN        the run (default: the store's only run)\n"
	"  --stream STREAM  only this stream (default: every stream of the run,\n"
	"                   merged by time and named on each line)\n"
	"  --kind KIND      only events of this kind\n"
	"  --from POINT     from step=N, time=ISO-8601 or seq=N (inclusive); with a\n"
	"                   step bound, events without a step are not shown\n"
	"  --to POINT       up to step=N, time=ISO-8601 or seq=N (inclusive)\n"
	"  --seq A..B       sequence numbers A to B (A.. and ..B are open ranges)\n"
	"  -n, --last N     only the last N matching events\n"
	"  --json           JSON lines\n"
	"  -f, --follow     keep waiting for new events (stop with Ctrl-C)\n"
	"  --live           only the live path: a resumed lineage replaces the\n"
	"                   abandoned tail of its parent (one value per step)\n"
	"  --store DIR      the store\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

typedef struct {
	char *d;
	size_t len, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1)
			cap *= 2;
		char *d = realloc(b->d, cap);
		if (!d)
			return false;
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = 0;
	return true;
}

static bool sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t)n < sizeof tmp)
		return sb_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return false;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bool ok = sb_add(b, big, (size_t)n);
	free(big);
	return ok;
}

typedef struct {
	sbuf *out;
	int skip; /* envelope members still to skip */
	bool ok;
} body_walk;

static void body_member(const char *key, size_t klen, const char *val, size_t vlen, void *payload)
{
	body_walk *w = payload;
	static const char *const envelope[] = {"\"run\"", "\"stream\"", "\"seq\"", "\"time\"",
					       "\"step\"", "\"kind\"", "\"name\""};
	for (size_t i = 0; i < sizeof envelope / sizeof *envelope; i++)
		if (strlen(envelope[i]) == klen && !memcmp(envelope[i], key, klen))
			return;
	/* a plain key is shown without its quotes */
	bool plain = klen >= 2;
	for (size_t i = 1; plain && i + 1 < klen; i++)
		plain = key[i] != '\\' && key[i] != ' ' && key[i] != '=';
	w->ok = w->ok && sb_add(w->out, " ", 1) &&
		(plain ? sb_add(w->out, key + 1, klen - 2) : sb_add(w->out, key, klen)) &&
		sb_add(w->out, "=", 1) && sb_add(w->out, val, vlen);
}

static void lineage_member(const char *key, size_t klen, const char *val, size_t vlen, void *payload)
{
	(void)val;
	(void)vlen;
	if (klen == 9 && !memcmp(key, "\"lineage\"", 9))
		*(bool *)payload = true;
}

/* Does the event's JSON (envelope + body keys) have a top-level "lineage" key? */
static bool has_body_lineage(const char *js, size_t jlen)
{
	bool found = false;
	return cli_json_members(js, jlen, lineage_member, &found) && found;
}

/* Format one event into `out` (a line with its newline). */
static int format_event(const pt_event_view *ev, int64_t lineage, bool lineage_column, int stream_width, bool json,
			sbuf *out)
{
	const char *js;
	size_t jlen;
	if (pt_ev_json(ev, &js, &jlen))
		return -1;
	if (json) {
		/* the envelope's "lineage" after the body, unless the body has its own (the `lineage` kind: the same
		 * value; an event written before the key was reserved: its body's) */
		if (jlen < 2 || js[jlen - 1] != '}' || has_body_lineage(js, jlen))
			return sb_add(out, js, jlen) && sb_add(out, "\n", 1) ? 0 : -2;
		return sb_add(out, js, jlen - 1) &&
				       sb_printf(out, "%s\"lineage\":%" PRId64 "}\n", jlen > 2 ? "," : "", lineage)
			       ? 0
			       : -2;
	}
	char t[48], step[32];
	int64_t s = pt_ev_step(ev);
	if (s == PT_NO_STEP)
		snprintf(step, sizeof step, "-");
	else
		snprintf(step, sizeof step, "%" PRId64, s);
	const char *name = pt_ev_name(ev);
	if (stream_width && !sb_printf(out, "%-*s ", stream_width, pt_ev_stream(ev)))
		return -2;
	if (!sb_printf(out, "%6" PRIu64 "  %s  %8s  ", pt_ev_seq(ev), cli_time_ms(pt_ev_time(ev), t, sizeof t), step))
		return -2;
	if (lineage_column && !sb_printf(out, "L%-3" PRId64 " ", lineage))
		return -2;
	if (!sb_printf(out, "%-10s", pt_ev_kind(ev)))
		return -2;
	if (name && !(sb_add(out, " ", 1) && sb_add(out, name, strlen(name))))
		return -2;
	body_walk w = {out, 0, true};
	if (!cli_json_members(js, jlen, body_member, &w)) {
		cli_msg("event %" PRIu64 ": unexpected JSON form", pt_ev_seq(ev));
		return -3;
	}
	if (!w.ok)
		return -2;
	while (out->len && out->d[out->len - 1] == ' ')
		out->len--;
	return sb_add(out, "\n", 1) ? 0 : -2;
}

static bool parse_point(const char *s, pt_iter_options *o, bool from)
{
	if (!strncmp(s, "step=", 5)) {
		int64_t v;
		if (!cli_parse_i64(s + 5, &v))
			return false;
		*(from ? &o->step_min : &o->step_max) = v;
		return true;
	}
	if (!strncmp(s, "seq=", 4)) {
		uint64_t v;
		if (!cli_parse_u64(s + 4, &v))
			return false;
		if (from)
			o->seq_min = v > o->seq_min ? v : o->seq_min;
		else
			o->seq_max = v < o->seq_max ? v : o->seq_max;
		return true;
	}
	if (!strncmp(s, "time=", 5)) {
		int64_t ns;
		if (pt_time_parse(&ns, s + 5))
			return false;
		*(from ? &o->time_min : &o->time_max) = ns;
		return true;
	}
	return false;
}

static bool parse_seq_range(const char *s, pt_iter_options *o)
{
	const char *dots = strstr(s, "..");
	uint64_t a = 0, b = UINT64_MAX;
	if (!dots) {
		if (!cli_parse_u64(s, &a))
			return false;
		b = a;
	} else {
		char left[32];
		size_t ln = (size_t)(dots - s);
		if (ln >= sizeof left)
			return false;
		memcpy(left, s, ln);
		left[ln] = 0;
		if (ln && !cli_parse_u64(left, &a))
			return false;
		if (dots[2] && !cli_parse_u64(dots + 2, &b))
			return false;
		if (!ln && !dots[2])
			return false;
	}
	o->seq_min = a > o->seq_min ? a : o->seq_min;
	o->seq_max = b < o->seq_max ? b : o->seq_max;
	return true;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int cmd_log(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL, *stream_opt = NULL, *kind = NULL, *from = NULL, *to = NULL, *seqs = NULL;
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	bool json = false, follow = false, filtered = false, live = false;
	uint64_t last_n = 0;
	int have_last = 0;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"kind", 0, CLI_STR, &kind},
				{"from", 0, CLI_STR, &from},
				{"to", 0, CLI_STR, &to},
				{"seq", 0, CLI_STR, &seqs},
				{"last", 'n', CLI_U64, &last_n, "a number of events", .seen = &have_last},
				{"json", 0, CLI_FLAG, &json},
				{"follow", 'f', CLI_FLAG, &follow},
				{"live", 0, CLI_FLAG, &live},
				{0}};
	const cli_spec spec = {"log", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (kind) {
		io.kind = kind;
		filtered = true;
	}
	for (int i = 0; i < 2; i++) {
		const char *pt = i ? to : from;
		if (!pt)
			continue;
		if (!parse_point(pt, &io, !i))
			return cli_usage("log", "--%s expects step=N, time=ISO-8601 or seq=N, not '%s'%s%s",
					 i ? "to" : "from", pt, strncmp(pt, "time=", 5) ? "" : ": ",
					 strncmp(pt, "time=", 5) ? "" : pt_error_last());
		filtered = filtered || strncmp(pt, "seq=", 4);
	}
	if (seqs && !parse_seq_range(seqs, &io))
		return cli_usage("log", "--seq expects A..B, A.., ..B or A, not '%s'", seqs);
	if (live && follow)
		return cli_usage("log", "--live shows the live path as it is now; it cannot follow (-f) new events");
	/* the live path's last N are not the stream's last N seqs: count them */
	filtered = filtered || live;
	/* an empty range is a mistake in the command, not an empty answer */
	if (io.step_min > io.step_max)
		return cli_usage("log", "--from step=%lld is after --to step=%lld: no step is in that range",
				 (long long)io.step_min, (long long)io.step_max);
	if (io.time_min > io.time_max)
		return cli_usage("log", "--from time is after --to time: no time is in that range");
	if (io.seq_min > io.seq_max)
		return cli_usage("log", "the first seq (%llu) is after the last (%llu): no seq is in that range",
				 (unsigned long long)io.seq_min, (unsigned long long)io.seq_max);

	cli_target t;
	int rc = cli_open(ctx, "log", run_opt, stream_opt, CLI_ALL_STREAMS, &t);
	if (rc)
		return rc;
	pt_store *st = t.st;
	const char *run = t.run, *stream = t.stream;
	pt_run_iter *it = NULL;
	char **all = NULL;
	size_t nall = 0;
	sbuf line = {0};

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (follow) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	/* With -f, a run or stream that does not exist yet is waited for. */
	for (bool told = false;; told = true) {
		char **names = NULL;
		size_t n = 0;
		int sr = pt_store_streams(st, run, &names, &n);
		pt_strv_free(names, n);
		if (sr == 0 && (n || stream_opt))
			break;
		if (sr && sr != PT_ENOTFOUND) {
			rc = cli_lib_error();
			goto done;
		}
		if (!follow) {
			if (sr)
				rc = cli_lib_error();
			else
				cli_msg("run %s has no streams", run);
			rc = CLI_ERROR;
			goto done;
		}
		if (!told)
			cli_msg("waiting for run %s to appear...", run);
		if (stop_requested)
			goto done;
		sleep_ms(100);
	}
	/* no --stream: every stream of the run (one: exactly as that stream alone) */
	if (!stream) {
		if (pt_store_streams(st, run, &all, &nall)) {
			rc = cli_lib_error();
			goto done;
		}
		if (nall == 1)
			stream = all[0];
		else
			filtered = true; /* -n: the last N of the merge are counted, not taken by seq */
	}

	/* -n without content filters: start at the last N sequence numbers directly */
	if (have_last && !filtered && stream) {
		pt_stream_info si;
		if (pt_stream_stat(st, run, stream, &si) == 0 && si.events) {
			uint64_t top = si.seq_last < io.seq_max ? si.seq_last : io.seq_max;
			if (last_n == 0)
				io.seq_min = top + 1 > io.seq_min ? top + 1 : io.seq_min;
			else if (top >= last_n && top - last_n + 1 > io.seq_min)
				io.seq_min = top - last_n + 1;
		}
	}
	/* -f over a whole run: streams created later (a rank starting late) join the merge */
	bool adopt = follow && !stream_opt && !live;
	for (bool told = false;; told = true) {
		int r = adopt ? pt_run_iter_open(&it, st, run, NULL, 0, &io, live)
		      : stream ? pt_run_iter_open(&it, st, run, &stream, 1, &io, live)
			       : pt_run_iter_open(&it, st, run, (const char *const *)all, nall, &io, live);
		if (r == 0)
			break;
		if (r != PT_ENOTFOUND || !follow) {
			rc = cli_lib_error();
			goto done;
		}
		if (!told)
			cli_msg("waiting for stream %s/%s to appear...", run, stream ? stream : "*");
		if (stop_requested)
			goto done;
		sleep_ms(100);
	}
	/*
	 * -n with content filters: count the matches first, then skip all but
	 * the last N (two reads of the stream, but memory stays bounded for any N).
	 */
	uint64_t skip = 0;
	if (have_last && filtered) {
		pt_run_iter *counter = NULL;
		const pt_event_view *ev;
		uint64_t count = 0;
		int r = stream ? pt_run_iter_open(&counter, st, run, &stream, 1, &io, live)
			       : pt_run_iter_open(&counter, st, run, (const char *const *)all, nall, &io, live);
		while (r == 0 && (r = pt_run_iter_next(counter, &ev, NULL)) == 0)
			count++;
		pt_run_iter_free(counter);
		if (r != PT_ITEROVER) {
			rc = cli_lib_error();
			goto done;
		}
		skip = count > last_n ? count - last_n : 0;
	}

	bool lineage_column = pt_run_iter_lineages(it) > 1;
	int stream_width = 0;
	for (size_t i = 0; !stream && i < nall; i++)
		if ((int)strlen(all[i]) > stream_width)
			stream_width = (int)strlen(all[i]);
	for (;;) {
		const pt_event_view *ev;
		int64_t lineage = 0;
		int r = pt_run_iter_next(it, &ev, &lineage);
		if (r == 0) {
			if (skip) {
				skip--;
				continue;
			}
			if (adopt && pt_run_iter_streams(it) > 1) {
				/* a second stream joined: from now on every line names its stream */
				int w = (int)strlen(pt_ev_stream(ev));
				if (stream_width < w)
					stream_width = w < 6 ? 6 : w;
			}
			line.len = 0;
			int fr = format_event(ev, lineage, lineage_column, stream_width, json, &line);
			if (fr == -2) {
				cli_msg("out of memory");
				rc = CLI_ERROR;
				goto done;
			} else if (fr) {
				rc = fr == -1 ? cli_lib_error() : CLI_ERROR;
				goto done;
			}
			fwrite(line.d, 1, line.len, stdout);
			continue;
		}
		if (r != PT_ITEROVER) {
			fflush(stdout);
			rc = cli_lib_error();
			goto done;
		}
		skip = 0;
		if (!follow || stop_requested)
			break;
		if (fflush(stdout) != 0) {
			rc = CLI_ERROR;
			goto done;
		}
		sleep_ms(100);
		if (stop_requested)
			break;
	}
done:
	free(line.d);
	pt_run_iter_free(it);
	pt_strv_free(all, nall);
	cli_close(&t);
	return rc;
}
