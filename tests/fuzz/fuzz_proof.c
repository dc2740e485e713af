/*
 * fuzz_proof.c - proof bundles as checked by pt_check_proof (JSON fields,
 * base64, the note, the leaf event, the proof) against a fixed key: a
 * bundle is accepted or refused with PT_ECORRUPT and a message, nothing
 * else.  Seeds: real bundles signed with the fixed key below.
 */
#include "fuzz_common.h"

/* the verifier key of the seeds (corpus/proof/: bundles signed by the test-only key
 * corpus/note/seed-skey, made with `provtrace key generate --name fuzz`) */
#define FUZZ_VKEY "fuzz+04cff1f8+AcN1UAZyJklIFpPd4GfQfPqTr5Zp78fZvie3NEHxcjAP"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *report = NULL;
	int rc = pt_check_proof(&report, (const char *)data, size, FUZZ_VKEY);
	fz_check_error(rc);
	if (rc && rc != PT_ECORRUPT && rc != PT_ENOMEM) {
		fprintf(stderr, "fuzz_proof: unexpected %s: %s\n", pt_error_name(rc), pt_error_last());
		abort();
	}
	if (!rc && (!report || report[0] != '{'))
		abort();
	pt_free(report);
	return 0;
}
