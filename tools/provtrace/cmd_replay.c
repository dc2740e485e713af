/* cmd_replay.c - `provtrace replay`: the state of a run at a point, and the events that led there. */
#include "cli.h"
#include "cli_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- a run with several streams: the summary of pt_run_state_json, for people ---- */
typedef struct {
	FILE *f;
	int depth;     /* 0: name = value; 1: name -> {stream: value}; 2: metrics */
	bool streams;  /* metrics: the "streams" pass (else the n/min/mean/max pass) */
	const char *sj; /* the summary's JSON, found by the top pass */
	size_t sl;
} sum_walk;

static void print_member(const char *key, size_t klen, const char *val, size_t vlen, void *payload);

static void metric_member(const char *key, size_t klen, const char *val, size_t vlen, void *payload)
{
	sum_walk *w = payload;
	bool is_streams = klen == 9 && !memcmp(key, "\"streams\"", 9);
	if (is_streams && w->streams) {
		sum_walk inner = {w->f, 3, false, NULL, 0};
		cli_json_members(val, vlen, print_member, &inner);
	} else if (!is_streams && !w->streams) {
		fprintf(w->f, " %.*s=%.*s", (int)(klen - 2), key + 1, (int)vlen, val);
	}
}

static void print_member(const char *key, size_t klen, const char *val, size_t vlen, void *payload)
{
	sum_walk *w = payload;
	if (w->depth == 0 || w->depth == 3) {
		fprintf(w->f, "%s%.*s = %.*s\n", w->depth ? "      " : "  ", (int)(klen - 2), key + 1, (int)vlen, val);
	} else if (w->depth == 1) {
		fprintf(w->f, "  %.*s:\n", (int)(klen - 2), key + 1);
		sum_walk inner = {w->f, 3, false, NULL, 0};
		cli_json_members(val, vlen, print_member, &inner);
	} else {
		fprintf(w->f, "  %.*s:", (int)(klen - 2), key + 1);
		sum_walk inner = {w->f, 2, false, NULL, 0};
		cli_json_members(val, vlen, metric_member, &inner);
		fputc('\n', w->f);
		inner.streams = true;
		cli_json_members(val, vlen, metric_member, &inner);
	}
}

static void summary_section(const char *key, size_t klen, const char *val, size_t vlen, void *payload)
{
	sum_walk *w = payload;
	if (klen == 9 && !memcmp(key, "\"summary\"", 9)) {
		w->sj = val;
		w->sl = vlen;
		return;
	}
	static const struct {
		const char *key, *title;
		int depth;
	} sec[] = {{"\"params\"", "params (the same in every stream)", 0},
		   {"\"params_by_stream\"", "params that differ between streams", 1},
		   {"\"metrics\"", "metrics (latest per stream; n, min, mean, max across them)", 2}};
	for (size_t i = 0; i < sizeof sec / sizeof *sec; i++)
		if (strlen(sec[i].key) == klen && !memcmp(sec[i].key, key, klen)) {
			fprintf(w->f, "%s:\n", sec[i].title);
			sum_walk inner = {w->f, sec[i].depth, false, NULL, 0};
			cli_json_members(val, vlen, print_member, &inner);
		}
}

/* Every stream's state, then the summary. */
static int replay_run(pt_store *st, const char *run, const pt_point *at, pt_replay_options o, bool json)
{
	char *rj = NULL;
	o.stream = NULL;
	if (pt_run_state_json(st, run, at, &o, &rj))
		return cli_lib_error();
	int rc = CLI_OK;
	if (json) {
		printf("%s\n", rj);
		pt_free(rj);
		return rc;
	}
	char **names = NULL;
	size_t n = 0;
	if (pt_store_streams(st, run, &names, &n)) {
		pt_free(rj);
		return cli_lib_error();
	}
	for (size_t i = 0; i < n && rc == CLI_OK; i++) {
		pt_replay *rp = NULL;
		const char *sj;
		o.stream = names[i];
		printf("%s== stream %s ==\n", i ? "\n" : "", names[i]);
		if (pt_replay_open(&rp, st, run, at, &o) || pt_replay_state_json(rp, &sj, NULL))
			rc = cli_lib_error();
		else if (cli_print_state(stdout, sj, pt_replay_snapshot_seq(rp), pt_replay_events_folded(rp)))
			rc = CLI_ERROR;
		pt_replay_free(rp);
	}
	pt_strv_free(names, n);
	if (rc == CLI_OK) {
		sum_walk top = {stdout, 0, false, NULL, 0};
		printf("\n== run %s: %zu streams ==\n", run, n);
		if (!cli_json_members(rj, strlen(rj), summary_section, &top) || !top.sj ||
		    !cli_json_members(top.sj, top.sl, summary_section, &top)) {
			cli_msg("unexpected JSON form of the run's state");
			rc = CLI_ERROR;
		}
	}
	pt_free(rj);
	return rc;
}

static const char help[] =
	"usage: provtrace replay [--run RUN] [--stream S] [--at POINT] [--lineage L] [--json]\n"
	"                        [--events [--from POINT]] [--export DIR] [--lineages] [--no-snapshots]\n"
	"\n"
	"The state of the run at POINT (default: latest): params in effect (and the\n"
	"decision that set each), the decisions taken with old and new values, reason\n"
	"and actor, the latest value of every metric, the checkpoint in effect, code\n"
	"provenance, the lineage.  See docs/REPLAY.md.  A run with several streams\n"
	"(ranks) and no --stream: each stream's state, then a summary (params equal\n"
	"in every stream once, the others per stream; each metric per stream with\n"
	"min/mean/max across the streams).\n"
	"\n"
	"  --at POINT      latest | seq=N | step=N | time=ISO-8601 (with a time zone)\n"
	"  --lineage L     follow lineage L (0 = the first run) instead of the one live\n"
	"                  at the end (after a resume from an older checkpoint)\n"
	"  --json          the state as one JSON object\n"
	"  --events        also print the events applied to reach the point, one per\n"
	"                  line, with the changes each made: from the snapshot the state\n"
	"                  was computed from, or from --from POINT\n"
	"  --export DIR    write DIR/state.json and the checkpoint in effect (tensors as\n"
	"                  .npy, blobs as their bytes) into DIR\n"
	"  --lineages      print the lineage tree (JSON with --json)\n"
	"  --no-snapshots  fold from the first event (the result is the same; slower)\n"
	"  --store DIR     the store\n";

/* Walk from `from` to the target's position on its lineage, printing each event and its changes. */
static int print_events(const pt_store *st, const char *run, const char *stream, const pt_replay *target,
			const pt_point *from, bool use_snapshots, bool json)
{
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.stream = stream;
	o.lineage = pt_replay_lineage(target);
	o.track_changes = 1;
	o.use_snapshots = use_snapshots;
	pt_point start = {PT_AT_SEQ, (int64_t)pt_replay_snapshot_seq(target)};
	pt_replay *rp;
	if (pt_replay_open(&rp, st, run, from ? from : &start, &o))
		return cli_lib_error();
	uint64_t end = pt_replay_seq(target);
	int rc;
	const pt_event_view *ev;
	if (!json)
		printf("events from seq %" PRIu64 " to seq %" PRIu64 " (lineage %" PRId64 "):\n", pt_replay_seq(rp), end,
		       pt_replay_lineage(target));
	while (pt_replay_seq(rp) < end && (rc = pt_replay_forward(rp, &ev)) == 0) {
		const char *evj, *ch;
		if (pt_ev_json(ev, &evj, NULL) || pt_replay_changes_json(rp, &ch)) {
			pt_replay_free(rp);
			return cli_lib_error();
		}
		if (json)
			printf("{\"event\":%s,\"changes\":%s}\n", evj, ch);
		else if (strcmp(pt_ev_kind(ev), "snapshot")) {
			printf("  seq %-8" PRIu64, pt_ev_seq(ev));
			if (pt_ev_step(ev) != PT_NO_STEP)
				printf(" step %-8" PRId64, pt_ev_step(ev));
			printf(" %s%s%s  %s\n", pt_ev_kind(ev), pt_ev_name(ev) ? " " : "", pt_ev_name(ev) ? pt_ev_name(ev) : "",
			       ch);
		}
	}
	if (rc != 0 && rc != PT_ITEROVER) {
		pt_replay_free(rp);
		return cli_lib_error();
	}
	if (!json)
		fputc('\n', stdout);
	pt_replay_free(rp);
	return CLI_OK;
}

static int export_state(pt_store *st, pt_replay *rp, const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		cli_msg("cannot create %s: %s", dir, strerror(errno));
		return CLI_ERROR;
	}
	const char *json;
	if (pt_replay_state_json(rp, &json, NULL))
		return cli_lib_error();
	char path[4096];
	snprintf(path, sizeof path, "%s/state.json", dir);
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f)) {
		cli_msg("cannot write %s: %s", path, strerror(errno));
		return CLI_ERROR;
	}
	char manifest[65];
	uint64_t seq;
	int64_t step;
	int rc = pt_replay_checkpoint(rp, manifest, &seq, &step);
	if (rc == PT_ENOTFOUND) {
		cli_msg("wrote %s (no checkpoint in effect at this point)", path);
		return CLI_OK;
	}
	if (rc)
		return cli_lib_error();
	pt_checkpoint_export_stats es;
	if (pt_checkpoint_export(st, manifest, dir, &es))
		return cli_lib_error();
	cli_msg("wrote %s and the checkpoint of step %" PRId64 " (%" PRIu64 " entries, %" PRIu64 " bytes) into %s", path, step,
		es.entries, es.bytes, dir);
	return CLI_OK;
}

int cmd_replay(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL, *stream_opt = NULL, *at_opt = "latest", *from_opt = NULL, *export_dir = NULL;
	int64_t lineage = PT_LINEAGE_LIVE;
	bool json = false, events = false, lineages = false, no_snapshots = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"at", 0, CLI_STR, &at_opt},
				{"lineage", 0, CLI_I64, &lineage, "a lineage number (0, 1, ...)", 0, INT64_MAX},
				{"json", 0, CLI_FLAG, &json},
				{"events", 0, CLI_FLAG, &events},
				{"from", 0, CLI_STR, &from_opt},
				{"export", 0, CLI_STR, &export_dir},
				{"lineages", 0, CLI_FLAG, &lineages},
				{"no-snapshots", 0, CLI_FLAG, &no_snapshots},
				{0}};
	const cli_spec spec = {"replay", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	bool snapshots = !no_snapshots;
	pt_point at, from;
	if (pt_point_parse(&at, at_opt))
		return cli_usage("replay", "--at: %s", pt_error_last());
	if (from_opt && !events)
		return cli_usage("replay", "--from goes with --events");
	if (from_opt && pt_point_parse(&from, from_opt))
		return cli_usage("replay", "--from: %s", pt_error_last());

	cli_target t;
	int rc = cli_open(ctx, "replay", run_opt, stream_opt, CLI_ALL_STREAMS, &t);
	if (rc)
		return rc;
	pt_store *st = t.st;
	const char *run = t.run, *stream;
	pt_replay *rp = NULL;
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	o.lineage = lineage;
	o.use_snapshots = snapshots;
	if (!stream_opt) {
		/* a run with several streams and none named: the run's state */
		char **names = NULL;
		size_t n = 0;
		if (pt_store_streams(st, run, &names, &n)) {
			rc = cli_lib_error();
			goto done;
		}
		pt_strv_free(names, n);
		if (n > 1) {
			if (lineages || events || export_dir)
				rc = cli_usage("replay", "--%s is about one stream and run %s has %zu: choose one with --stream",
					       lineages ? "lineages" : events ? "events" : "export", run, n);
			else
				rc = replay_run(st, run, &at, o, json);
			goto done;
		}
	}
	if ((rc = cli_pick_one_stream(&t, "replay")))
		goto done;
	stream = t.stream;
	o.stream = stream;
	o.lineage = lineage;
	o.use_snapshots = snapshots;
	if (pt_replay_open(&rp, st, run, &at, &o)) {
		rc = cli_lib_error();
		goto done;
	}
	if (lineages) {
		const char *lj;
		if (pt_replay_lineages_json(rp, &lj)) {
			rc = cli_lib_error();
			goto done;
		}
		if (json)
			printf("%s\n", lj);
		else
			rc = cli_print_lineages(stdout, lj);
		goto done;
	}
	if (events && (rc = print_events(st, run, stream, rp, from_opt ? &from : NULL, snapshots, json)))
		goto done;
	if (export_dir) {
		rc = export_state(st, rp, export_dir);
		goto done;
	}
	const char *sj;
	if (pt_replay_state_json(rp, &sj, NULL)) {
		rc = cli_lib_error();
		goto done;
	}
	if (json)
		printf("%s\n", sj);
	else
		rc = cli_print_state(stdout, sj, pt_replay_snapshot_seq(rp), pt_replay_events_folded(rp)) ? CLI_ERROR : CLI_OK;
done:
	pt_replay_free(rp);
	cli_close(&t);
	return rc;
}
