/*
 * fuzz_manifest.c - checkpoint metadata read back from the store: the
 * binary checkpoint manifest (pt__manifest_decode) and the body of a
 * checkpoint event (pt__ev_refs_parse, which finds the manifest and object
 * references of a checkpoint in the event log).  A manifest that decodes
 * must encode back to the same bytes.
 */
#include "fuzz_common.h"

#include "checkpoint/checkpoint_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt__manifest m;
	int rc = pt__manifest_decode(&m, data, size, "fuzz manifest");
	fz_check_error(rc);
	if (rc == 0) {
		pt__buf b = {0};
		if (!pt__manifest_encode(&m, &b) && (b.len != size || memcmp(b.data, data, size))) {
			fprintf(stderr, "fuzz_manifest: decode/encode is not the identity\n");
			abort();
		}
		pt__buf_free(&b);
		pt__manifest_clear(&m);
	}
	pt__ev_refs r;
	rc = pt__ev_refs_parse(&r, "checkpoint", data, size);
	fz_check_error(rc);
	if (rc == 0) {
		if (r.nobjects && !r.objects)
			abort();
		pt__ev_refs_free(&r);
	}
	return 0;
}
