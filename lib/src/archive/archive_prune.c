/*
 * archive_prune.c - retention: archives older than their plan's delete_after
 * are deleted, except the newest keep_last of the plan and archives under a
 * hold.  Every deletion is recorded in the catalog (kept, marked deleted,
 * with the time and the reason) and as an `archive_delete` event.  Segments
 * whose only copy was in the deleted archive become "expired": their
 * location record says so, and readers and verify report it plainly.
 */
#include "archive/archive_int.h"
#include "format/objects_int.h"
#include "format/segment_int.h"

#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#define NS 1000000000LL

#define say pt__archive_say

static const pt__acat *other_holder(const pt__catalog *cat, const pt__acat *self, const uint8_t id[32], int type)
{
	for (size_t i = 0; i < cat->n; i++) {
		const pt__acat *a = &cat->v[i];
		if (a == self || a->deleted)
			continue;
		for (size_t k = 0; k < a->nm; k++)
			if (a->m[k].type == type && !memcmp(a->m[k].id, id, 32) && pt__exists(a->path))
				return a;
	}
	return NULL;
}

/*
 * Objects that left the hot store for archive `a` (archive_job.c,
 * release_objects) must not go with it: each is repointed to another live
 * archive holding it, or brought back into the hot store (read from `a`,
 * checked against its id, written like any object) before `a` is deleted.
 * gc then removes those no event references any more.
 */
static int release_objects(pt_store *st, const pt__catalog *cat, const pt__acat *a, size_t *back)
{
	*back = 0;
	for (size_t k = 0; k < a->nm; k++) {
		const pt__amember *m = &a->m[k];
		if (m->type != PT_MEMBER_OBJECT)
			continue;
		pt__location l;
		int rc = pt__olocation_load(st, m->id, &l);
		if (rc == PT_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		bool ours = !strcmp(l.sha, a->sha) && !l.deleted;
		pt__location_clear(&l);
		if (!ours)
			continue;
		const pt__acat *o = other_holder(cat, a, m->id, PT_MEMBER_OBJECT);
		if (o) {
			size_t x = 0;
			while (memcmp(o->m[x].id, m->id, 32) || o->m[x].type != PT_MEMBER_OBJECT)
				x++;
			pt__location nl;
			memset(&nl, 0, sizeof nl);
			memcpy(nl.sha, o->sha, 65);
			nl.path = o->path;
			nl.run = (char *)"";
			nl.stream = (char *)"";
			nl.offset = o->m[x].offset;
			nl.size = o->m[x].size;
			if ((rc = pt__olocation_store(st, m->id, &nl)))
				return rc;
			continue;
		}
		/* a hot copy may exist (written again since): put checks it and replaces it if damaged */
		int hot = pt__object_exists(st, m->id);
		if (hot < 0)
			return hot;
		uint8_t *data = NULL;
		size_t len = 0;
		if ((rc = pt__object_get(st, m->id, &data, &len)))
			return pt__err_wrap(rc, "archive %.12s is not deleted: object %s cannot be brought back", a->sha,
					    m->name);
		rc = pt__object_put(st, data, len, NULL);
		pt__free(data);
		if (rc)
			return rc;
		if (!hot)
			(*back)++;
		if ((rc = pt__olocation_remove(st, m->id)))
			return rc;
	}
	return 0;
}

/* Repoint or expire the location records that name archive `a`; returns segments lost. */
static int release_locations(pt_store *st, const pt__catalog *cat, const pt__acat *a, int64_t now,
			     const char *reason, size_t *lost)
{
	*lost = 0;
	for (size_t k = 0; k < a->nm; k++) {
		const pt__amember *m = &a->m[k];
		if (m->type != PT_MEMBER_SEGMENT)
			continue;
		pt__location l;
		int rc = pt__location_load(st, m->id, &l);
		if (rc == PT_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		if (strcmp(l.sha, a->sha) || l.deleted) {
			pt__location_clear(&l);
			continue;
		}
		const pt__acat *o = other_holder(cat, a, m->id, PT_MEMBER_SEGMENT);
		pt__location nl;
		memset(&nl, 0, sizeof nl);
		nl.run = l.run;
		nl.stream = l.stream;
		if (o) {
			size_t x = 0;
			while (memcmp(o->m[x].id, m->id, 32) || o->m[x].type != PT_MEMBER_SEGMENT)
				x++;
			memcpy(nl.sha, o->sha, 65);
			nl.path = o->path;
			nl.offset = o->m[x].offset;
			nl.size = o->m[x].size;
		} else {
			char *dir = pt__stream_dir(st, m->run, m->stream);
			char *hot = dir ? pt__segment_path(dir, m->id) : NULL;
			bool present = hot && pt__exists(hot);
			pt__free(dir);
			pt__free(hot);
			memcpy(nl.sha, l.sha, 65);
			nl.path = l.path;
			nl.offset = l.offset;
			nl.size = l.size;
			if (!present) {
				nl.deleted = 1;
				nl.deleted_at = now;
				nl.reason = (char *)reason;
				(*lost)++;
			}
		}
		rc = pt__location_store(st, m->id, &nl);
		pt__location_clear(&l);
		if (rc)
			return rc;
	}
	return 0;
}

int pt__archive_prune_locked(pt_store *st, pt__catalog *cat, const pt__plans *plans, int64_t now, int dry_run,
			     pt_archive_report_cb report, void *payload);

int pt__archive_prune_locked(pt_store *st, pt__catalog *cat, const pt__plans *plans, int64_t now, int dry_run,
			     pt_archive_report_cb report, void *payload)
{
	int rc = 0;
	char tb[48];
	/* deletions a killed prune did not finish: the file of a deleted entry */
	for (size_t i = 0; i < cat->n && !dry_run; i++)
		if (cat->v[i].deleted && pt__exists(cat->v[i].path) && unlink(cat->v[i].path) == 0)
			say(report, payload, "removed %s (deleted earlier; the job was interrupted)", cat->v[i].path);
	for (size_t pi = 0; pi < plans->n && !rc; pi++) {
		const pt__plan *p = &plans->v[pi];
		uint32_t rank = 0;
		for (size_t ii = cat->n; ii-- > 0 && !rc;) {
			pt__acat *a = &cat->v[ii];
			if (a->deleted || strcmp(a->plan, p->name))
				continue;
			if (rank++ < p->keep_last)
				continue;
			if (!p->delete_after || now - a->created <= p->delete_after * NS)
				continue;
			char reason[200];
			snprintf(reason, sizeof reason, "retention of plan %s: older than %llds (created %s)", p->name,
				 (long long)p->delete_after, pt_time_format(a->created, tb, sizeof tb));
			if (a->held) {
				say(report, payload, "archive %.12s: kept (under a hold) despite %s", a->sha, reason);
				continue;
			}
			if (dry_run) {
				say(report, payload, "archive %.12s: would delete %s: %s", a->sha, a->path, reason);
				continue;
			}
			size_t lost = 0, back = 0;
			if ((rc = release_objects(st, cat, a, &back)) ||
			    (rc = release_locations(st, cat, a, now, reason, &lost)))
				break;
			if (back)
				say(report, payload, "archive %.12s: %zu object%s it alone held came back into the hot store",
				    a->sha, back, back == 1 ? "" : "s");
			a->deleted = 1;
			a->deleted_at = now;
			pt__free(a->deleted_reason);
			if (!(a->deleted_reason = pt__strdup(reason))) {
				rc = PT_ENOMEM;
				break;
			}
			if ((rc = pt__catalog_store(st, cat)))
				break;
			if (unlink(a->path) < 0 && errno != ENOENT) {
				rc = pt__err_errno(errno, "cannot delete %s", a->path);
				break;
			}
			char *dir = pt__strdup(a->path);
			if (dir && strrchr(dir, '/')) {
				*strrchr(dir, '/') = 0;
				pt__fsync_dir(dir);
			}
			pt__free(dir);
			say(report, payload, "archive %.12s: deleted %s: %s%s", a->sha, a->path, reason,
			    lost ? " (its segments are no longer readable)" : "");
			pt__buf b = {0};
			rc = pt__buf_printf(&b, "{\"archive\":\"%s\",\"path\":", a->sha);
			if (!rc)
				rc = pt__json_quote(&b, a->path);
			if (!rc)
				rc = pt__buf_printf(&b, ",\"segments_expired\":%zu,\"reason\":", lost);
			if (!rc)
				rc = pt__json_quote(&b, reason);
			if (!rc)
				rc = pt__buf_printf(&b, "}");
			if (!rc)
				rc = pt__archive_event(st, "archive_delete", p->name, now, (const char *)b.data);
			pt__buf_free(&b);
		}
	}
	return rc;
}

int pt_archive_prune(pt_store *st, int64_t now, int dry_run, pt_archive_report_cb report, void *payload)
{
	if (!st)
		return pt__err(PT_EINVAL, "pt_archive_prune: NULL store");
	int lock = -1;
	int rc = pt__archive_now(&now, now);
	if (rc || (rc = pt__archive_lock(st, 0, &lock)))
		return rc;
	pt__plans ps;
	pt__catalog cat;
	memset(&ps, 0, sizeof ps);
	memset(&cat, 0, sizeof cat);
	if (!(rc = pt__plans_load(st, &ps)) && !(rc = pt__catalog_load(st, &cat)))
		rc = pt__archive_prune_locked(st, &cat, &ps, now, dry_run, report, payload);
	pt__plans_free(&ps);
	pt__catalog_free(&cat);
	pt__archive_unlock(lock);
	return rc;
}
