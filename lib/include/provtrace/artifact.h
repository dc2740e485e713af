/*
 * provtrace/artifact.h - files stored content-addressed beside a run.
 *
 *   pt_artifact_info ai;
 *   pt_artifact_file(rec, "confusion-matrix", "out/cm.png", PT_NO_STEP, &ai);
 *
 * An artifact is any file (or byte string) kept with the run: its bytes go
 * into the store's object store in parts of PT_ARTIFACT_PART bytes (each one
 * object, so equal parts are stored once), and one `artifact` event records
 * `sha256` (of the whole content), `size`, `parts` and `objects` (the part
 * ids, in order).  `artifact` is a reserved kind (gc keeps its objects,
 * verify re-hashes them); it does not change the checkpoint in effect.
 * See docs/FORMAT.md "Artifacts".
 */
#ifndef PROVTRACE_ARTIFACT_H
#define PROVTRACE_ARTIFACT_H

#include "provtrace/common.h"
#include "provtrace/recorder.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PT_KIND_ARTIFACT "artifact"
/** Bytes per stored part (the last part may be shorter). */
#define PT_ARTIFACT_PART ((size_t)4 << 20)

typedef struct {
	char sha256[65];  /**< lowercase hex SHA-256 of the whole content */
	uint64_t size;    /**< content bytes */
	uint64_t parts;   /**< objects the content was stored as */
	uint64_t seq;     /**< seq of the `artifact` event */
} pt_artifact_info;

/**
 * Store the file at `path` (streamed: at most one part in memory) and append
 * an `artifact` event named `name` at `step` (PT_NO_STEP: none).  The file is
 * stat'ed before and after reading; if its size or mtime changed, or it
 * vanished, nothing is appended and PT_ERROR names the path.
 * Returns 0, PT_EINVAL (NULL/empty name or path), PT_ENOTFOUND (no such
 * file), PT_EIO, PT_ENOSPC, or the recorder's error.  `out` may be NULL.
 * Thread rules: as pt_recorder_append (one thread per recorder).
 */
PT_EXTERN int pt_artifact_file(pt_recorder *rec, const char *name, const char *path, int64_t step,
			       pt_artifact_info *out);

/** As pt_artifact_file, for `len` bytes at `data` (not copied beyond the call). */
PT_EXTERN int pt_artifact_bytes(pt_recorder *rec, const char *name, const void *data, size_t len, int64_t step,
				pt_artifact_info *out);

#ifdef __cplusplus
}
#endif
#endif
