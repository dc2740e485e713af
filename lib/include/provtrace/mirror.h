/*
 * provtrace/mirror.h - a built-in consumer that mirrors events to an
 * Amazon Kinesis data stream (or anything that speaks its API: moto,
 * LocalStack) with PutRecords.
 *
 * Basic outline:
 *   pt_consumer_options co = PT_CONSUMER_OPTIONS_INIT;   // what, from where, batches
 *   co.batch_max = 500;
 *   pt_consumer *c;
 *   pt_consumer_open(&c, st, "to-kinesis", &co);
 *   pt_mirror_options mo = PT_MIRROR_OPTIONS_INIT;
 *   mo.stream = "training-events";  mo.endpoint = "http://127.0.0.1:4566";
 *   pt_mirror_kinesis(c, &mo, &stats);                    // until pt_consumer_stop
 *   pt_consumer_close(c);
 *
 * Every event becomes one record: its JSON form (the `log --json` shape,
 * with run, stream and seq) or, with PT_MIRROR_MSGPACK, a msgpack map
 * {"run", "stream", "event": <the stored event map>}.  The partition key is
 * "RUN/STREAM", so Kinesis keeps each stream's events in order on one
 * shard.  A batch is sent in PutRecords calls within the API's limits (500
 * records, 5 MiB of data and keys per call, 1 MiB per record); an event
 * whose record would exceed max_record_bytes is replaced by a reference
 * record - the envelope and {"ref": "provtrace://RUN/STREAM/SEQ", "bytes": N}
 * - rather than dropped.  Records a partial failure names are retried (with
 * backoff, max_attempts times); the consumer's position is committed only
 * when every record of the batch was accepted.  So a restart never loses an
 * event, and duplicates at most what the API had accepted of the batch in
 * hand (readers dedupe by run, stream and seq).  A batch that cannot be
 * put fails like any consumer batch: retried, bisected, and an event that
 * never goes through is recorded in the consumer's failure stream.
 *
 * Credentials, region and endpoint are found as AWS tools find them
 * (AWS_ACCESS_KEY_ID..., AWS_PROFILE, ~/.aws/config, AWS_ENDPOINT_URL_KINESIS,
 * AWS_ENDPOINT_URL), `endpoint` and `region` overriding; requests are signed
 * with SigV4 by the library's one HTTP client (the remote store's).
 */
#ifndef PROVTRACE_MIRROR_H
#define PROVTRACE_MIRROR_H

#include "common.h"
#include "consumer.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { PT_MIRROR_JSON = 0, PT_MIRROR_MSGPACK = 1 };

typedef struct {
	unsigned int version;       /**< PT_MIRROR_OPTIONS_VERSION */
	const char *stream;         /**< the Kinesis stream's name (required) */
	const char *endpoint;       /**< "http(s)://host[:port]"; NULL: as AWS tools find it */
	const char *region;         /**< NULL: as AWS tools find it (else us-east-1) */
	int format;                 /**< PT_MIRROR_JSON (default) or PT_MIRROR_MSGPACK */
	uint32_t max_record_bytes;  /**< data + key per record, at most 1 MiB (default 1 MiB) */
	uint32_t max_attempts;      /**< PutRecords attempts for records a partial failure names (default 5) */
} pt_mirror_options;

#define PT_MIRROR_OPTIONS_VERSION 1
#define PT_MIRROR_OPTIONS_INIT { PT_MIRROR_OPTIONS_VERSION, NULL, NULL, NULL, PT_MIRROR_JSON, 1u << 20, 5 }

typedef struct {
	uint64_t records;      /**< records accepted by Kinesis */
	uint64_t bytes;        /**< their data bytes */
	uint64_t referenced;   /**< events sent as references (too large for a record) */
	uint64_t retried;      /**< records sent again after a partial failure */
	uint64_t requests;     /**< PutRecords calls */
} pt_mirror_stats;

/**
 * Run consumer `c` with the Kinesis mirror as its handler until
 * pt_consumer_stop (or caught up, when the consumer does not follow).
 * `stats` (may be NULL) receives the counters.  Returns 0, PT_EINVAL (bad
 * options: no stream name, a name Kinesis refuses, a bad endpoint),
 * PT_ENOTFOUND (no credentials), or the consumer's errors (pt_consumer_run).
 * The Kinesis stream must exist (a missing one fails each batch: the
 * consumer's retries and failure stream apply).
 */
PT_EXTERN int pt_mirror_kinesis(pt_consumer *c, const pt_mirror_options *opts, pt_mirror_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
