/* runs/run_diff.c - what changed between two points of a whole run: one diff per stream (provtrace/runs.h). */
#include "runs/runs_int.h"

#include "format/json_int.h"

int pt_run_diff_json(const pt_store *st, const char *run, const pt_point *from, const pt_point *to,
		     const pt_replay_options *opts, char **out)
{
	if (!st || !run || !from || !to || !out)
		return pt__err(PT_EINVAL, "pt_run_diff_json: NULL argument");
	*out = NULL;
	pt_replay_options o = PT_REPLAY_OPTIONS_INIT;
	if (opts) {
		if (opts->version != PT_REPLAY_OPTIONS_VERSION)
			return pt__err(PT_EINVAL, "pt_run_diff_json: options version %u is not supported", opts->version);
		o = *opts;
	}
	int rc = pt_name_check("run", run);
	if (rc)
		return rc;
	char **names = NULL;
	size_t n = 0;
	if (o.stream && (rc = pt_name_check("stream", o.stream)))
		return rc;
	if ((rc = pt_store_streams(st, run, &names, &n)))
		return rc;
	size_t lo = 0, hi = n; /* the streams diffed: names[lo..hi) */
	if (o.stream) {
		/* one stream: it must exist (a missing one is not "a point it does not reach") */
		while (lo < n && strcmp(names[lo], o.stream))
			lo++;
		if (lo == n) {
			pt_strv_free(names, n);
			return pt__err(PT_ENOTFOUND, "stream %s/%s not found", run, o.stream);
		}
		hi = lo + 1;
	}
	if (!n) {
		pt_strv_free(names, n);
		return pt__err(PT_ENOTFOUND, "run %s has no streams", run);
	}
	if (hi - lo > 1 && o.lineage != PT_LINEAGE_LIVE) {
		pt_strv_free(names, n);
		return pt__err(PT_EINVAL, "run %s has %zu streams: a lineage number belongs to one stream (name it)", run, n);
	}
	pt__buf b = {0};
	if ((rc = pt__buf_printf(&b, "{\"run\":")) || (rc = pt__json_string(&b, run, strlen(run))) ||
	    (rc = pt__buf_printf(&b, ",\"streams\":{")))
		goto done;
	for (size_t i = lo; i < hi; i++) {
		pt_replay *ra = NULL, *rb = NULL;
		char *d = NULL;
		o.stream = names[i];
		int r = pt_replay_open(&ra, st, run, from, &o);
		if (!r)
			r = pt_replay_open(&rb, st, run, to, &o);
		if (!r)
			r = pt_replay_diff_json(ra, rb, &d);
		pt_replay_free(ra);
		pt_replay_free(rb);
		if ((rc = pt__buf_printf(&b, i > lo ? "," : "")) || (rc = pt__json_string(&b, names[i], strlen(names[i]))) ||
		    (rc = pt__buf_printf(&b, ":"))) {
			pt_free(d);
			goto done;
		}
		if (r == PT_ENOTFOUND) {
			/* a point this stream does not reach (step=N past its end): said, not fatal */
			if (!(rc = pt__buf_printf(&b, "{\"error\":")))
				rc = pt__json_string(&b, pt_error_last(), strlen(pt_error_last()));
			if (!rc)
				rc = pt__buf_printf(&b, "}");
		} else if (r) {
			rc = r;
		} else {
			rc = pt__buf_printf(&b, "%s", d);
		}
		pt_free(d);
		if (rc)
			goto done;
	}
	if ((rc = pt__buf_printf(&b, "}}")))
		goto done;
	*out = (char *)b.data;
	b.data = NULL;
done:
	pt__buf_free(&b);
	pt_strv_free(names, n);
	return rc;
}
