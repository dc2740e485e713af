/*
 * checkpoint_verify.c - the public pt_verify: the log's checks (log/verify.c)
 * composed with the checkpoint store's (pt_checkpoint_verify_store, gc.c).
 *
 * The composition lives here, above both layers: log/verify.c checks
 * segments, chains, footers and snapshots and takes the checkpoint part as a
 * function (pt__verify_with), so log/ never calls up into checkpoint/.
 */
#include "checkpoint/checkpoint_int.h"
#include "log/state_int.h"

static int checkpoint_part(const pt_store *st, const char *run, pt_problem_cb cb, void *payload)
{
	pt_checkpoint_verify_stats cs;
	return pt_checkpoint_verify_store(st, run, cb, payload, &cs);
}

int pt_verify(const pt_store *st, const char *run, const char *stream, pt_problem_cb cb, void *payload,
	      pt_verify_stats *stats)
{
	return pt__verify_with(st, run, stream, cb, payload, stats, checkpoint_part);
}
