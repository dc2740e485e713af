/*
 * archive_seal.c - pt_store_seal(): seal the open segment of streams whose
 * writer is gone (crashed and never reopened), so the archive job can take
 * their history.
 *
 * Sealing is done by the one module that writes streams: a recorder is
 * opened on the stream with default options (the lock is taken without
 * waiting; a torn tail is cut, kept in cut/ and recorded as a `recovery`
 * event, exactly as when a training script reopens the stream) and closed
 * (which seals).  Nothing here knows the segment format.
 */
#include "format/rstore_int.h"
#include "archive/archive_int.h"
#include "format/segment_int.h"
#include "provtrace/recorder.h"

#include <stdarg.h>
#include <sys/stat.h>

void pt_seal_report_free(pt_seal_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		pt__free(r->v[i].run);
		pt__free(r->v[i].stream);
		pt__free(r->v[i].message);
	}
	pt__free(r->v);
	pt__free(r);
}

static int push(pt_seal_report *rep, const char *run, const char *stream, pt_seal_result res, int code,
		uint64_t events, uint64_t torn, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int push(pt_seal_report *rep, const char *run, const char *stream, pt_seal_result res, int code,
		uint64_t events, uint64_t torn, const char *fmt, ...)
{
	pt_seal_entry *v = pt__realloc(rep->v, (rep->n + 1) * sizeof *v);
	if (!v)
		return PT_ENOMEM;
	rep->v = v;
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pt_seal_entry *e = &rep->v[rep->n];
	memset(e, 0, sizeof *e);
	e->run = pt__strdup(run);
	e->stream = pt__strdup(stream);
	e->message = pt__strdup(msg);
	e->result = res;
	e->code = code;
	e->events = events;
	e->torn_bytes = torn;
	rep->n++;
	if (!e->run || !e->stream || !e->message)
		return PT_ENOMEM;
	return 0;
}

/* Seal one stream; returns <0 only for out-of-memory (other errors go into the report). */
static int seal_one(pt_store *st, const char *run, const char *stream, pt_seal_report *rep, int *first_err,
		    char *first_msg, size_t first_cap)
{
	char *dir = pt__stream_dir(st, run, stream);
	char *open_path = dir ? pt__sprintf("%s/%s", dir, PT_OPEN_SEGMENT) : NULL;
	pt__chain c = {0};
	int rc = 0;
	if (!open_path) {
		rc = PT_ENOMEM;
		goto done;
	}
	struct stat sb;
	if (lstat(open_path, &sb) < 0) {
		rc = push(rep, run, stream, PT_SEAL_NOTHING, 0, 0, 0, "no open segment");
		goto done;
	}
	pt_stream_info si;
	uint64_t sealed_events = 0;
	int r = pt_stream_stat(st, run, stream, &si);
	if (!r)
		r = pt__chain_load(dir, &c);
	if (r == PT_ENOMEM) {
		rc = r;
		goto done;
	}
	if (!r) {
		for (size_t i = 0; i < c.n; i++)
			sealed_events += c.v[i].events;
		if (si.events <= sealed_events && !si.torn_bytes) {
			rc = push(rep, run, stream, PT_SEAL_NOTHING, 0, 0, 0, "open segment holds no events");
			goto done;
		}
	}
	uint64_t open_events = !r && si.events > sealed_events ? si.events - sealed_events : 0;
	pt_recorder *rec = NULL;
	if (!r)
		r = pt_recorder_open(&rec, st, run, stream, NULL);
	if (!r)
		r = pt_recorder_close(rec);
	if (r == PT_ENOMEM) {
		rc = r;
	} else if (r == PT_ELOCKED) {
		rc = push(rep, run, stream, PT_SEAL_LOCKED, r, open_events, 0, "skipped: %s", pt_error_last());
	} else if (r) {
		if (!*first_err) {
			*first_err = r;
			snprintf(first_msg, first_cap, "%s/%s: %s", run, stream, pt_error_last());
		}
		rc = push(rep, run, stream, PT_SEAL_FAILED, r, open_events, 0, "%s", pt_error_last());
	} else if (si.torn_bytes) {
		rc = push(rep, run, stream, PT_SEAL_SEALED, 0, open_events, si.torn_bytes,
			  "sealed %llu event%s; a torn tail of %llu bytes was cut and recorded as a recovery event",
			  (unsigned long long)open_events, open_events == 1 ? "" : "s",
			  (unsigned long long)si.torn_bytes);
	} else {
		rc = push(rep, run, stream, PT_SEAL_SEALED, 0, open_events, 0, "sealed %llu event%s",
			  (unsigned long long)open_events, open_events == 1 ? "" : "s");
	}
done:
	pt__chain_free(&c);
	pt__free(open_path);
	pt__free(dir);
	return rc;
}

int pt_store_seal(pt_store *st, const char *run, const char *stream, pt_seal_report **out)
{
	if (out)
		*out = NULL;
	if (!st)
		return pt__err(PT_EINVAL, "pt_store_seal: NULL store");
	if (st->remote)
		return pt__rstore_refuse_write(st, "seal");
	if (stream && !run)
		return pt__err(PT_EINVAL, "pt_store_seal: a stream needs its run");
	int rc;
	if ((run && (rc = pt_name_check("run", run))) || (stream && (rc = pt_name_check("stream", stream))))
		return rc;
	pt_seal_report *rep = pt__calloc(1, sizeof *rep);
	if (!rep)
		return PT_ENOMEM;
	char **runs = NULL;
	size_t nruns = 0;
	int first_err = 0;
	char first_msg[1400] = "";
	if (run) {
		if (!(runs = pt__calloc(1, sizeof *runs)) || !(runs[0] = pt__strdup(run))) {
			rc = PT_ENOMEM;
			goto done;
		}
		nruns = 1;
	} else if ((rc = pt_store_runs(st, &runs, &nruns))) {
		goto done;
	}
	for (size_t i = 0; i < nruns && !rc; i++) {
		char **streams = NULL;
		size_t ns = 0;
		if ((rc = pt_store_streams(st, runs[i], &streams, &ns)))
			break;
		bool found = !stream;
		for (size_t k = 0; k < ns && !rc; k++) {
			if (stream && strcmp(stream, streams[k]))
				continue;
			found = true;
			rc = seal_one(st, runs[i], streams[k], rep, &first_err, first_msg, sizeof first_msg);
		}
		pt_strv_free(streams, ns);
		if (!rc && !found)
			rc = pt__err(PT_ENOTFOUND, "stream %s/%s not found", runs[i], stream);
	}
	if (!rc && first_err)
		rc = pt__err(first_err, "%s", first_msg);
done:
	pt_strv_free(runs, nruns);
	if (out && rc != PT_ENOMEM && rc != PT_ENOTFOUND && rc != PT_EINVAL)
		*out = rep;
	else
		pt_seal_report_free(rep);
	return rc;
}
