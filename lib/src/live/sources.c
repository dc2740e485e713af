/*
 * sources.c - what a consumer reads: the streams its globs match, and where
 * in each a start point ("oldest", "latest", "seq=N", "step=N", "time=T")
 * falls.
 */
#include "live/live_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>

int pt__glob_check(const char *what, const char *glob)
{
	if (!glob || !*glob || strlen(glob) > 128)
		return pt__err(PT_EINVAL, "%s pattern must be 1-128 characters", what);
	for (const char *p = glob; *p; p++) {
		char c = *p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!'))
			return pt__err(PT_EINVAL, "%s pattern '%s': character '%c' is not allowed (name characters and * ? [ ] !)",
				       what, glob, c);
	}
	return 0;
}

bool pt__glob_is_pattern(const char *glob) { return glob && strpbrk(glob, "*?[") != NULL; }

int pt__start_parse(const char *text, pt__start *out)
{
	memset(out, 0, sizeof *out);
	if (!text || !strcmp(text, "oldest")) {
		out->kind = PT__START_OLDEST;
		return 0;
	}
	if (!strcmp(text, "latest")) {
		out->kind = PT__START_LATEST;
		return 0;
	}
	const char *v;
	char *end;
	errno = 0;
	if (!strncmp(text, "seq=", 4)) {
		v = text + 4;
		unsigned long long n = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || errno || n == 0)
			return pt__err(PT_EINVAL, "start point '%s': seq=N needs N >= 1", text);
		out->kind = PT__START_SEQ;
		out->seq = n;
		return 0;
	}
	if (!strncmp(text, "step=", 5)) {
		v = text + 5;
		long long n = strtoll(v, &end, 10);
		if (!*v || *end || errno)
			return pt__err(PT_EINVAL, "start point '%s': step=N needs an integer", text);
		out->kind = PT__START_STEP;
		out->step = n;
		return 0;
	}
	if (!strncmp(text, "time=", 5)) {
		out->kind = PT__START_TIME;
		return pt_time_parse(&out->time, text + 5);
	}
	return pt__err(PT_EINVAL, "start point '%s': expected oldest, latest, seq=N, step=N or time=T", text);
}

int pt__start_first_seq(const pt_store *st, const char *run, const char *stream, const pt__start *s, uint64_t *out)
{
	*out = 0;
	if (s->kind == PT__START_OLDEST) {
		*out = 1;
		return 0;
	}
	if (s->kind == PT__START_SEQ) {
		*out = s->seq;
		return 0;
	}
	if (s->kind == PT__START_LATEST) {
		pt_stream_info si;
		int rc = pt_stream_stat(st, run, stream, &si);
		if (!rc)
			*out = si.seq_last + 1;
		return rc;
	}
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	if (s->kind == PT__START_STEP)
		o.step_min = s->step;
	else
		o.time_min = s->time;
	pt_iter *it;
	int rc = pt_iter_open(&it, st, run, stream, &o);
	if (rc)
		return rc;
	const pt_event_view *ev;
	rc = pt_iter_next(it, &ev);
	if (rc == 0)
		*out = pt_ev_seq(ev);
	else if (rc == PT_ITEROVER)
		rc = 0;
	pt_iter_free(it);
	return rc;
}

int pt__match_streams(const pt_store *st, const char *run_glob, const char *stream_glob, const char *const *skip_runs,
		      size_t nskip, char ***out_runs, char ***out_streams, size_t *out_n)
{
	return pt__match_streams_cb(st, run_glob, stream_glob, skip_runs, nskip, NULL, NULL, out_runs, out_streams, out_n);
}

int pt__match_streams_cb(const pt_store *st, const char *run_glob, const char *stream_glob, const char *const *skip_runs,
			 size_t nskip, int (*on_run)(void *ud, const char *run), void *ud, char ***out_runs,
			 char ***out_streams, size_t *out_n)
{
	*out_runs = *out_streams = NULL;
	*out_n = 0;
	char **runs = NULL, **rv = NULL, **sv = NULL;
	size_t nruns = 0, n = 0, cap = 0;
	int rc = 0;
	if (run_glob && !pt__glob_is_pattern(run_glob)) {
		/* one run: no listing of the store */
		if (!(runs = pt__calloc(1, sizeof *runs)) || !(runs[0] = pt__strdup(run_glob))) {
			rc = PT_ENOMEM;
			goto done;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		goto done;
	}
	for (size_t i = 0; i < nruns; i++) {
		if (run_glob && fnmatch(run_glob, runs[i], 0))
			continue;
		bool skip = false;
		for (size_t k = 0; k < nskip; k++)
			if (skip_runs[k] && !strcmp(skip_runs[k], runs[i]) && !(run_glob && !strcmp(run_glob, runs[i])))
				skip = true;
		if (skip)
			continue;
		if (on_run && (rc = on_run(ud, runs[i])))
			goto done;
		char **streams = NULL;
		size_t ns = 0;
		int r = pt_store_streams(st, runs[i], &streams, &ns);
		if (r == PT_ENOTFOUND) {
			pt__err_clear();
			continue; /* removed meanwhile, or not created yet */
		}
		if (r) {
			rc = r;
			goto done;
		}
		for (size_t j = 0; j < ns && !rc; j++) {
			if (stream_glob && fnmatch(stream_glob, streams[j], 0))
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				char **a = pt__realloc(rv, nc * sizeof *a), **b = a ? pt__realloc(sv, nc * sizeof *b) : NULL;
				if (a)
					rv = a;
				if (!b) {
					rc = PT_ENOMEM;
					break;
				}
				sv = b;
				cap = nc;
			}
			rv[n] = pt__strdup(runs[i]);
			sv[n] = pt__strdup(streams[j]);
			if (!rv[n] || !sv[n]) {
				pt__free(rv[n]);
				pt__free(sv[n]);
				rc = PT_ENOMEM;
				break;
			}
			n++;
		}
		pt_strv_free(streams, ns);
		if (rc)
			goto done;
	}
done:
	pt_strv_free(runs, nruns);
	if (rc) {
		pt_strv_free(rv, n);
		pt_strv_free(sv, n);
		return rc;
	}
	*out_runs = rv;
	*out_streams = sv;
	*out_n = n;
	return 0;
}
