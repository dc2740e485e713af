/*
 * provtrace/archive.h - scheduled tar archives of sealed history: plans, the
 * job, retention, verification and restore.
 *
 * Basic outline:
 *   pt_archive_plan_options p = PT_ARCHIVE_PLAN_OPTIONS_INIT;
 *   p.name = "nightly"; p.schedule = "0 2 * * *"; p.vault = "/backup/vault";
 *   pt_archive_plan_add(st, &p);               // once
 *   ...
 *   pt_archive_run_options o = PT_ARCHIVE_RUN_OPTIONS_INIT;
 *   pt_archive_run(st, &o);                    // from cron / a systemd timer
 *
 * A plan names a cron schedule (cron.h documents the syntax and the DST
 * rule), a vault directory and a retention.  Each fire time of the schedule is
 * a *window*: at the first job run inside [window, window + start_window)
 * the sealed segments whose newest event is older than window - min_age and
 * that the vault does not hold yet are written into one tar archive (with
 * the checkpoint objects they reference), verified, catalogued and recorded
 * as an event of run "provtrace", stream "archive".  Only then do the
 * archived segments leave the hot store (unless the plan keeps sources);
 * readers then find them inside the archive (docs/ARCHIVE.md).
 *
 * "Now" is `now` of the options when non-zero, else $PROVTRACE_NOW (ISO-8601)
 * when set, else the clock.  All durations are in seconds, times in ns.
 * The archive metadata of a store is changed under STORE/archive/lock; every
 * function here may be called from several processes at once.
 */
#ifndef PROVTRACE_ARCHIVE_H
#define PROVTRACE_ARCHIVE_H

#include "common.h"
#include "store.h"
#include "verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The internal run and stream that archive events are recorded in. */
#define PT_ARCHIVE_RUN "provtrace"
#define PT_ARCHIVE_STREAM "archive"

typedef struct {
	unsigned int version;     /**< PT_ARCHIVE_PLAN_OPTIONS_VERSION */
	const char *name;         /**< [A-Za-z0-9._-], 1-64 characters */
	const char *schedule;     /**< 5-field cron or "cron(m h dom mon dow year)" */
	const char *vault;        /**< directory of the archives (created; made absolute) */
	const char *timezone;     /**< IANA zone of the schedule; NULL: "UTC" */
	int64_t min_age;          /**< seconds; segments newer than this stay (default 1 day) */
	int64_t delete_after;     /**< seconds; 0: archives are never deleted */
	uint32_t keep_last;       /**< never delete the newest N archives of the plan */
	int64_t start_window;     /**< seconds after a window during which it may still run (8 h) */
	const char *const *tags;  /**< "KEY=VALUE" strings */
	size_t ntags;
	int keep_sources;         /**< 1: archived segments also stay in the hot store */
} pt_archive_plan_options;

#define PT_ARCHIVE_PLAN_OPTIONS_VERSION 1
#define PT_ARCHIVE_PLAN_OPTIONS_INIT \
	{ PT_ARCHIVE_PLAN_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 86400, 0, 0, 8 * 3600, NULL, 0, 0 }

/**
 * Add a plan.  The schedule, zone, vault and tags are checked; PT_EINVAL
 * with a message (for a schedule: the column of the error), PT_EEXISTS if a
 * plan of that name exists.  The plan's first window is the first fire time
 * after now.
 */
PT_EXTERN int pt_archive_plan_add(const pt_store *st, const pt_archive_plan_options *plan);

/** Remove a plan (its archives stay catalogued).  PT_ENOTFOUND if unknown. */
PT_EXTERN int pt_archive_plan_remove(const pt_store *st, const char *name);

/**
 * The plans as one JSON array (allocated, pt_free): objects with name,
 * schedule, timezone, vault, min_age, delete_after, keep_last,
 * start_window, tags, keep_sources, created, last_window, last_result.
 */
PT_EXTERN int pt_archive_plans_json(char **out, const pt_store *st);

/** One plan (strings borrowed from the list, valid until it is freed). */
typedef struct {
	const char *name, *schedule, *timezone, *vault;
	const char *tags_json;   /**< JSON object of the tags */
	const char *last_result; /**< NULL before the first window */
	int64_t min_age, delete_after, start_window; /**< seconds */
	uint32_t keep_last;
	int keep_sources;
	int64_t created, last_window; /**< ns */
} pt_archive_plan_info;

/** The plans, in the order they were added.  Free with pt_archive_plan_list_free(). */
PT_EXTERN int pt_archive_plan_list(pt_archive_plan_info **out, size_t *count, const pt_store *st);
PT_EXTERN void pt_archive_plan_list_free(pt_archive_plan_info *list, size_t count);

/**
 * The next `count` fire times (ns) of `schedule` in zone `tz` (NULL: UTC)
 * strictly after `after` (ns).  PT_EINVAL for a bad schedule or zone,
 * PT_ENOTFOUND if it stops firing (fewer than `count` times were found).
 */
PT_EXTERN int pt_archive_schedule_next(int64_t *out, size_t count, const char *schedule,
				       const char *tz, int64_t after);

/** Like pt_archive_schedule_next() for the plan `name`. */
PT_EXTERN int pt_archive_plan_next(int64_t *out, size_t count, const pt_store *st,
				   const char *name, int64_t after);

/** "Now" as the archive commands see it ($PROVTRACE_NOW or the clock). */
PT_EXTERN int pt_archive_now(int64_t *out);

/** One line of human-readable output of a long operation (no newline). */
typedef void (*pt_archive_report_cb)(const char *line, void *payload);
/** Progress: `done` of `total` bytes of `what`. */
typedef void (*pt_archive_progress_cb)(const char *what, uint64_t done, uint64_t total,
				       void *payload);

typedef struct {
	unsigned int version;            /**< PT_ARCHIVE_RUN_OPTIONS_VERSION */
	int64_t now;                     /**< ns; 0: $PROVTRACE_NOW or the clock */
	const char *plan;                /**< only this plan (NULL: all) */
	int force;                       /**< 1: archive now, whatever the schedule (--now) */
	int dry_run;                     /**< 1: report what would happen, change nothing */
	pt_archive_report_cb report;
	void *report_payload;
	pt_archive_progress_cb progress;
	void *progress_payload;
} pt_archive_run_options;

#define PT_ARCHIVE_RUN_OPTIONS_VERSION 1
#define PT_ARCHIVE_RUN_OPTIONS_INIT { PT_ARCHIVE_RUN_OPTIONS_VERSION, 0, NULL, 0, 0, NULL, NULL, NULL, NULL }

/**
 * The job: finish what a killed job left half done, then for each plan (or
 * `plan`) archive its due window (one catch-up of the latest missed window
 * if still inside its start window; older or expired windows are recorded
 * as expired), then apply retention.  With `force`, the plan is archived
 * now as the window "now" (the schedule is not consulted).
 *
 * Returns PT_ELOCKED (message names the holder) when another job is
 * running: nothing was done.  Other errors: the first failure (the other
 * plans were still processed).
 */
PT_EXTERN int pt_archive_run(pt_store *st, const pt_archive_run_options *opts);

/** One archive of the catalog. */
typedef struct {
	char sha256[65];        /**< the archive's id: SHA-256 of the tar file */
	const char *plan;
	const char *path;       /**< absolute path of the tar file */
	const char *tags_json;  /**< JSON object of the tags */
	int64_t created, window;
	uint64_t size, segments, objects;
	int64_t time_min, time_max; /**< event times covered (0 if no segment) */
	int held;
	int deleted;             /**< 1: deleted by retention (kept in the catalog) */
	int64_t deleted_at;
	const char *deleted_reason;
} pt_archive_info;

/** The catalog (deleted archives too), oldest first.  Free with pt_archive_list_free(). */
PT_EXTERN int pt_archive_list(pt_archive_info **out, size_t *count, const pt_store *st);
PT_EXTERN void pt_archive_list_free(pt_archive_info *list, size_t count);

/**
 * Resolve `archive` (a catalog id or a unique prefix of at least 6 hex
 * digits, or a path to a .tar file) to the path of a tar file (allocated).
 */
PT_EXTERN int pt_archive_resolve(char **out_path, const pt_store *st, const char *archive);

/**
 * Re-hash every member of `archive` (NULL: every archive of the catalog)
 * and the file itself, and check the tar structure against the manifest.
 * Problems go to `cb` (object = the tar file).  Returns 0 if all is well,
 * PT_ECORRUPT if any problem was found.
 */
PT_EXTERN int pt_archive_verify(const pt_store *st, const char *archive, pt_problem_cb cb,
				void *payload, pt_archive_progress_cb progress, void *progress_payload);

/**
 * Apply retention now.  Each deletion (or, with dry_run, would-be deletion)
 * is reported and, for real, recorded in the catalog and as an event with
 * its reason.  Returns PT_ELOCKED if a job is running.
 */
PT_EXTERN int pt_archive_prune(pt_store *st, int64_t now, int dry_run, pt_archive_report_cb report,
			       void *payload);

/** Put a hold on an archive (retention never deletes it) or release it. */
PT_EXTERN int pt_archive_hold(pt_store *st, const char *archive, int hold);

typedef struct {
	unsigned int version; /**< PT_RESTORE_OPTIONS_VERSION */
	pt_archive_report_cb report;
	void *report_payload;
	pt_archive_progress_cb progress;
	void *progress_payload;
} pt_restore_options;

#define PT_RESTORE_OPTIONS_VERSION 1
#define PT_RESTORE_OPTIONS_INIT { PT_RESTORE_OPTIONS_VERSION, NULL, NULL, NULL, NULL }

typedef struct {
	uint64_t members, written, already_present, bytes;
	uint64_t streams_relinked; /**< streams whose chain was rebuilt from restored segments */
} pt_restore_stats;

/**
 * Extract the archive at `tar_path` into the store at `store_dir` (created
 * if it is not a store yet).  Every member is checked against the manifest
 * (name, type, size, SHA-256; segment files also against their name) before
 * it is moved into place; a hostile or damaged archive is rejected with
 * PT_ECORRUPT naming the member, and nothing is ever written outside the
 * store.  Members already present with the same bytes are skipped, so
 * restoring twice is harmless.  A stream whose chain file lacks restored
 * segments gets its chain rebuilt when they link up from segment 0.
 */
PT_EXTERN int pt_archive_restore(const char *tar_path, const char *store_dir,
				 const pt_restore_options *opts, pt_restore_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
