/* cmd_gc.c - `provtrace gc`: remove objects (checkpoint chunks, manifests) no event references. */
#include "cli.h"

#include <provtrace/checkpoint.h>

#include <inttypes.h>
#include <string.h>

static const char help[] =
	"usage: provtrace gc [--dry-run] [--json] [--grace SECONDS] [--no-wait]\n"
	"\n"
	"Remove the objects of STORE/objects that no event references: chunks and\n"
	"manifests of checkpoints whose event was never written (a crash between the\n"
	"chunks and the event), and leftover temporary files of crashed writers.\n"
	"Roots: the manifest of every checkpoint event and every id in an event's\n"
	"\"objects\" array, in every stream of every run. gc waits for checkpoints being\n"
	"written (the store's gc lock) and deletes nothing if any root cannot be read.\n"
	"Archived history counts: objects its events reference stay (in the hot store, or\n"
	"in the archive they left with: counted as \"archived\", not missing).\n"
	"\n"
	"  --dry-run        report what would be removed, remove nothing\n"
	"  --grace SECONDS  keep unreferenced objects younger than this (default 900)\n"
	"  --no-wait        fail (exit 1) instead of waiting for a checkpoint writer\n"
	"  --json           one JSON object: {\"dry_run\", \"live_objects\", \"live_bytes\",\n"
	"                   \"garbage_objects\", \"garbage_bytes\", \"temp_files\",\n"
	"                   \"young_objects\", \"missing\", \"archived\"}\n"
	"  --store DIR      the store\n";

int cmd_gc(cli_ctx *ctx, int argc, char **argv)
{
	pt_gc_options o = PT_GC_OPTIONS_INIT;
	bool json = false, dry_run = false, no_wait = false;
	int64_t grace = -1;
	const cli_opt opts[] = {{"dry-run", 0, CLI_FLAG, &dry_run},
				{"json", 0, CLI_FLAG, &json},
				{"grace", 0, CLI_I64, &grace, "a number of seconds", 0, INT64_MAX},
				{"no-wait", 0, CLI_FLAG, &no_wait},
				{0}};
	const cli_spec spec = {"gc", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if (dry_run)
		o.dry_run = 1;
	if (no_wait)
		o.wait = 0;
	if (grace >= 0)
		o.grace_s = grace;
	pt_store *st = NULL;
	int rc = cli_open_store(ctx, &st);
	if (rc)
		return rc;
	pt_gc_stats s;
	if (pt_gc(st, &o, &s)) {
		rc = cli_lib_error();
		pt_store_free(st);
		return rc;
	}
	if (json) {
		printf("{\"dry_run\":%s,\"live_objects\":%" PRIu64 ",\"live_bytes\":%" PRIu64
		       ",\"garbage_objects\":%" PRIu64 ",\"garbage_bytes\":%" PRIu64 ",\"temp_files\":%" PRIu64
		       ",\"young_objects\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"archived\":%" PRIu64 "}\n",
		       o.dry_run ? "true" : "false", s.live_objects, s.live_bytes, s.garbage_objects,
		       s.garbage_bytes, s.temp_files, s.young_objects, s.missing, s.archived);
	} else {
		char a[32], b[32];
		printf("%s %" PRIu64 " unreferenced object%s and %" PRIu64 " temporary file%s (%s); "
		       "kept %" PRIu64 " live object%s (%s)",
		       o.dry_run ? "would remove" : "removed", s.garbage_objects,
		       s.garbage_objects == 1 ? "" : "s", s.temp_files, s.temp_files == 1 ? "" : "s",
		       cli_size(s.garbage_bytes, a, sizeof a), s.live_objects, s.live_objects == 1 ? "" : "s",
		       cli_size(s.live_bytes, b, sizeof b));
		if (s.young_objects)
			printf(", %" PRIu64 " younger than the grace period", s.young_objects);
		if (s.archived)
			printf(", %" PRIu64 " referenced object%s held by archives (read from the vault)", s.archived,
			       s.archived == 1 ? "" : "s");
		printf("\n");
		if (s.missing)
			printf("warning: %" PRIu64 " referenced object%s missing (run `provtrace verify`)\n",
			       s.missing, s.missing == 1 ? " is" : "s are");
	}
	pt_store_free(st);
	return CLI_OK;
}
