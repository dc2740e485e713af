/*
 * consumer_admin.c - consumers seen from outside: listing with position and
 * lag, reset, remove.
 */
#include "live/live_int.h"

#include <unistd.h>

#define FAILURES_RUN "consumer-failures"

void pt_consumer_info_free(pt_consumer_info *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		pt__free(v[i].name);
		pt__free(v[i].run);
		pt__free(v[i].stream);
		pt__free(v[i].start);
		pt__free(v[i].failures);
		pt__free(v[i].holder);
		for (size_t k = 0; k < v[i].npositions; k++) {
			pt__free(v[i].positions[k].run);
			pt__free(v[i].positions[k].stream);
		}
		pt__free(v[i].positions);
	}
	pt__free(v);
}

static char *dup_or_null(const char *s) { return s ? pt__strdup(s) : NULL; }

/* The time of run/stream's event `seq` (0 if none). */
static int64_t time_of(const pt_store *st, const char *run, const char *stream, uint64_t seq)
{
	pt_iter_options o = PT_ITER_OPTIONS_INIT;
	o.seq_min = seq;
	pt_iter *it;
	int64_t t = 0;
	if (pt_iter_open(&it, st, run, stream, &o) == 0) {
		const pt_event_view *ev;
		if (pt_iter_next(it, &ev) == 0)
			t = pt_ev_time(ev);
		pt_iter_free(it);
	}
	pt__err_clear();
	return t;
}

static int info_of(const pt_store *st, const char *name, pt_consumer_info *ci)
{
	pt__cstate s;
	int rc = pt__cstate_read(st, name, &s);
	if (rc)
		return rc;
	pt__start sp;
	char *frun = NULL;
	char **runs = NULL, **streams = NULL;
	size_t n = 0;
	if ((rc = pt__start_parse(s.start, &sp)))
		goto done;
	const char *slash = strchr(s.failures, '/');
	frun = slash ? pt__strndup(s.failures, (size_t)(slash - s.failures)) : pt__strdup(s.failures);
	ci->name = pt__strdup(name);
	ci->run = dup_or_null(s.run);
	ci->stream = dup_or_null(s.stream);
	ci->start = pt__strdup(s.start);
	ci->failures = pt__strdup(s.failures);
	if (!frun || !ci->name || (s.run && !ci->run) || (s.stream && !ci->stream) || !ci->start || !ci->failures) {
		rc = PT_ENOMEM;
		goto done;
	}
	ci->created = s.created;
	ci->committed = s.committed;
	ci->active = pt__cstate_holder(st, name, &ci->holder);
	const char *skip[2] = {frun, FAILURES_RUN};
	if ((rc = pt__match_streams(st, s.run, s.stream, skip, 2, &runs, &streams, &n)))
		goto done;
	if (n && !(ci->positions = pt__calloc(n, sizeof *ci->positions))) {
		rc = PT_ENOMEM;
		goto done;
	}
	int64_t oldest = 0;
	for (size_t i = 0; i < n; i++) {
		pt_consumer_position *p = &ci->positions[ci->npositions];
		pt_stream_info si;
		if (pt_stream_stat(st, runs[i], streams[i], &si)) {
			pt__err_clear();
			continue;
		}
		pt__cpos *cp = pt__cstate_find(&s, runs[i], streams[i]);
		uint64_t next;
		if (cp)
			next = cp->seq + 1;
		else if (sp.kind == PT__START_LATEST || sp.kind == PT__START_OLDEST)
			next = 1;
		else if ((rc = pt__start_first_seq(st, runs[i], streams[i], &sp, &next)))
			goto done;
		else if (!next)
			next = si.seq_last + 1; /* the point is not reached yet */
		p->run = runs[i];
		p->stream = streams[i];
		runs[i] = streams[i] = NULL;
		p->seq = next - 1;
		p->last = si.seq_last;
		ci->npositions++;
		if (si.seq_last >= next) {
			ci->events_behind += si.seq_last - next + 1;
			int64_t t = time_of(st, p->run, p->stream, next);
			if (t && (!oldest || t < oldest))
				oldest = t;
		}
	}
	if (oldest) {
		int64_t now = pt_time_now_ns();
		ci->lag_ns = now > oldest ? now - oldest : 0;
	}
done:
	pt_strv_free(runs, n);
	pt_strv_free(streams, n);
	pt__free(frun);
	pt__cstate_free(&s);
	return rc;
}

int pt_consumers_list(const pt_store *st, const char *name, pt_consumer_info **out, size_t *n)
{
	if (!st || !out || !n)
		return pt__err(PT_EINVAL, "pt_consumers_list: NULL argument");
	*out = NULL;
	*n = 0;
	char **names = NULL;
	size_t nn = 0;
	int rc;
	if (name) {
		if ((rc = pt_name_check("consumer", name)))
			return rc;
		if (!(names = pt__calloc(1, sizeof *names)) || !(names[0] = pt__strdup(name))) {
			pt__free(names);
			return PT_ENOMEM;
		}
		nn = 1;
	} else if ((rc = pt__cstate_names(st, &names, &nn))) {
		return rc;
	}
	pt_consumer_info *v = nn ? pt__calloc(nn, sizeof *v) : NULL;
	if (nn && !v) {
		rc = PT_ENOMEM;
		goto done;
	}
	size_t k = 0;
	for (size_t i = 0; i < nn; i++) {
		rc = info_of(st, names[i], &v[k]);
		if (rc == PT_ENOTFOUND && !name) {
			/* a directory without a position (being created, or removed): not a consumer */
			pt__err_clear();
			memset(&v[k], 0, sizeof v[k]);
			rc = 0;
			continue;
		}
		k++;
		if (rc)
			break;
	}
	if (rc) {
		pt_consumer_info_free(v, k);
		goto done;
	}
	*out = v;
	*n = k;
done:
	pt_strv_free(names, nn);
	return rc;
}

int pt_consumer_reset(pt_store *st, const char *name, const char *position)
{
	if (!st || !position)
		return pt__err(PT_EINVAL, "pt_consumer_reset: NULL argument");
	int rc = pt_name_check("consumer", name);
	if (rc)
		return rc;
	pt__start sp;
	if ((rc = pt__start_parse(position, &sp)))
		return rc;
	pt__cstate s;
	if ((rc = pt__cstate_read(st, name, &s)))
		return rc;
	int fd = pt__cstate_lock(st, name);
	if (fd < 0) {
		pt__cstate_free(&s);
		return fd;
	}
	/* read again under the lock: the holder may have committed since */
	pt__cstate_free(&s);
	if ((rc = pt__cstate_read(st, name, &s))) {
		close(fd);
		return rc;
	}
	char *np = pt__strdup(position);
	if (!np) {
		rc = PT_ENOMEM;
		goto done;
	}
	pt__free(s.start);
	s.start = np;
	pt__cstate_clear(&s);
	if (sp.kind == PT__START_LATEST) {
		const char *slash = strchr(s.failures, '/');
		char *frun = slash ? pt__strndup(s.failures, (size_t)(slash - s.failures)) : pt__strdup(s.failures);
		char **runs = NULL, **streams = NULL;
		size_t n = 0;
		const char *skip[2] = {frun, FAILURES_RUN};
		rc = frun ? pt__match_streams(st, s.run, s.stream, skip, 2, &runs, &streams, &n) : PT_ENOMEM;
		for (size_t i = 0; i < n && !rc; i++) {
			uint64_t first;
			if (!(rc = pt__start_first_seq(st, runs[i], streams[i], &sp, &first)))
				rc = pt__cstate_set(&s, runs[i], streams[i], first - 1);
		}
		pt_strv_free(runs, n);
		pt_strv_free(streams, n);
		pt__free(frun);
		if (rc)
			goto done;
	}
	s.committed = pt_time_now_ns();
	rc = pt__cstate_write(st, &s, true);
done:
	pt__cstate_free(&s);
	close(fd);
	return rc;
}

int pt_consumer_remove(pt_store *st, const char *name)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_consumer_remove: NULL argument");
	int rc = pt_name_check("consumer", name);
	if (rc)
		return rc;
	pt__cstate s;
	if ((rc = pt__cstate_read(st, name, &s)))
		return rc;
	pt__cstate_free(&s);
	int fd = pt__cstate_lock(st, name);
	if (fd < 0)
		return fd;
	rc = pt__cstate_remove(st, name);
	close(fd);
	return rc;
}
