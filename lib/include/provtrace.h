/*
 * provtrace.h - the umbrella header of libprovtrace.
 *
 * provtrace records machine-learning training as a tamper-evident,
 * compressed, content-addressed event log.  One header per module:
 *
 *   provtrace/common.h    versions, error codes, memory, time helpers
 *   provtrace/store.h     the store, runs and streams
 *   provtrace/event.h     building events
 *   provtrace/recorder.h  the single writer of a stream
 *   provtrace/reader.h    iterating events
 *   provtrace/verify.h    checking every stored byte
 *   provtrace/replay.h    time travel: the state at any point
 *   provtrace/checkpoint.h  content-addressed model state
 *   provtrace/code.h      code and environment provenance (libgit2)
 *   provtrace/artifact.h  files stored content-addressed beside a run
 *   provtrace/runs.h      the set of runs: summaries, --where queries, comparison
 *   provtrace/archive.h   scheduled tar archives, retention, restore
 *   provtrace/alloc.h     a replaceable allocator
 */
#ifndef PROVTRACE_H
#define PROVTRACE_H

#include "provtrace/common.h"
#include "provtrace/store.h"
#include "provtrace/event.h"
#include "provtrace/recorder.h"
#include "provtrace/reader.h"
#include "provtrace/verify.h"
#include "provtrace/replay.h"
#include "provtrace/checkpoint.h"
#include "provtrace/code.h"
#include "provtrace/archive.h"
#include "provtrace/alloc.h"
#include "provtrace/decision.h"
#include "provtrace/lineage.h"
#include "provtrace/run.h"
#include "provtrace/artifact.h"
#include "provtrace/runs.h"
#include "provtrace/report.h"
#include "provtrace/ui.h"
#include "provtrace/consumer.h"
#include "provtrace/mirror.h"

#endif
