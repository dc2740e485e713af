/*
 * runs_listing.c - the one rendering of the runs listing (`provtrace runs
 * --json`, Python's provtrace.runs_info()): every run with its streams and
 * their pt_stream_stat() figures, as JSON.
 */
#include "format/json_int.h"
#include "provtrace/store.h"

#include <inttypes.h>
#include <string.h>

static int put_step(pt__buf *b, const char *key, int64_t v)
{
	return v == PT_NO_STEP ? pt__buf_printf(b, ",\"%s\":null", key)
			       : pt__buf_printf(b, ",\"%s\":%" PRId64, key, v);
}

/* One run: {"run", "events", "bytes", "streams": [...]} appended to b. */
static int put_run(pt__buf *b, const pt_store *st, const char *run, uint64_t *unreadable)
{
	char **streams = NULL;
	size_t ns = 0;
	int rc = pt_store_streams(st, run, &streams, &ns);
	if (rc)
		return rc;
	pt_stream_info *info = pt__calloc(ns ? ns : 1, sizeof *info);
	char **err = pt__calloc(ns ? ns : 1, sizeof *err);
	uint64_t events = 0, bytes = 0;
	if (!info || !err)
		rc = PT_ENOMEM;
	for (size_t j = 0; j < ns && !rc; j++) {
		if (pt_stream_stat(st, run, streams[j], &info[j])) {
			err[j] = pt__strdup(pt_error_last());
			if (!err[j])
				rc = PT_ENOMEM;
			(*unreadable)++;
			continue;
		}
		events += info[j].events;
		bytes += info[j].bytes;
	}
	if (!rc)
		rc = pt__buf_append(b, "\n{\"run\":", 8);
	if (!rc)
		rc = pt__json_string(b, run, strlen(run));
	if (!rc)
		rc = pt__buf_printf(b, ",\"events\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"streams\":[", events, bytes);
	for (size_t j = 0; j < ns && !rc; j++) {
		const pt_stream_info *s = &info[j];
		rc = pt__buf_append(b, j ? ",{\"stream\":" : "{\"stream\":", j ? 11 : 10);
		if (!rc)
			rc = pt__json_string(b, streams[j], strlen(streams[j]));
		if (!rc && err[j]) {
			rc = pt__buf_append(b, ",\"error\":", 9);
			if (!rc)
				rc = pt__json_string(b, err[j], strlen(err[j]));
			if (!rc)
				rc = pt__buf_append(b, "}", 1);
			continue;
		}
		if (!rc)
			rc = pt__buf_printf(b, ",\"events\":%" PRIu64 ",\"seq_first\":%" PRIu64 ",\"seq_last\":%" PRIu64,
					    s->events, s->seq_first, s->seq_last);
		if (!rc)
			rc = put_step(b, "step_min", s->step_min);
		if (!rc)
			rc = put_step(b, "step_max", s->step_max);
		char t1[48], t2[48];
		if (!rc)
			rc = s->events ? pt__buf_printf(b, ",\"time_first\":\"%s\",\"time_last\":\"%s\"",
							pt_time_format(s->time_min, t1, sizeof t1),
							pt_time_format(s->time_max, t2, sizeof t2))
				       : pt__buf_printf(b, ",\"time_first\":null,\"time_last\":null");
		if (!rc)
			rc = pt__buf_printf(b,
					    ",\"bytes\":%" PRIu64 ",\"raw_bytes\":%" PRIu64 ",\"batches\":%" PRIu64
					    ",\"sealed_segments\":%u,\"writer_active\":%s}",
					    s->bytes, s->raw_bytes, s->batches, s->sealed_segments,
					    s->writer_active ? "true" : "false");
	}
	if (!rc)
		rc = pt__buf_append(b, "]}", 2);
	for (size_t j = 0; err && j < ns; j++)
		pt__free(err[j]);
	pt__free(err);
	pt__free(info);
	pt_strv_free(streams, ns);
	return rc;
}

int pt_store_runs_json(const pt_store *st, char **out, size_t *out_len, uint64_t *out_unreadable)
{
	if (out)
		*out = NULL;
	if (out_len)
		*out_len = 0;
	if (out_unreadable)
		*out_unreadable = 0;
	if (!st || !out)
		return pt__err(PT_EINVAL, "pt_store_runs_json: NULL argument");
	char **runs = NULL;
	size_t nruns = 0;
	int rc = pt_store_runs(st, &runs, &nruns);
	if (rc)
		return rc;
	pt__buf b = {0};
	uint64_t unreadable = 0;
	rc = pt__buf_append(&b, "[", 1);
	for (size_t i = 0; i < nruns && !rc; i++) {
		if (i)
			rc = pt__buf_append(&b, ",", 1);
		if (!rc)
			rc = put_run(&b, st, runs[i], &unreadable);
	}
	if (!rc)
		rc = nruns ? pt__buf_append(&b, "\n]", 3) : pt__buf_append(&b, "]", 2); /* with the NUL */
	pt_strv_free(runs, nruns);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	if (out_len)
		*out_len = b.len - 1;
	if (out_unreadable)
		*out_unreadable = unreadable;
	return 0;
}
