/*
 * fuzz_snapshot.c - a replay state snapshot object's bytes (the canonical
 * msgpack of docs/FORMAT.md "State snapshot objects"), decoded by
 * pt__fold_deserialize.  Replay only uses snapshots the log names and whose
 * object hash checks, but the decoder must still refuse anything malformed
 * cleanly.  A snapshot that decodes must serialize to bytes that decode to
 * the same state (serialize is canonical: the second serialization equals
 * the first), and its JSON must render.
 */
#include "fuzz_common.h"

#include "log/fold_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1u << 20)
		return 0;
	pt__fold f;
	int rc = pt__fold_deserialize(&f, data, size);
	fz_check_error(rc);
	if (rc)
		return 0;
	pt__buf a = {0}, b = {0}, j = {0};
	pt__fold g;
	if (pt__fold_serialize(&f, &a) || pt__fold_deserialize(&g, a.data, a.len)) {
		fprintf(stderr, "fuzz_snapshot: a decoded state does not round-trip: %s\n", pt_error_last());
		abort();
	}
	if (pt__fold_serialize(&g, &b) || a.len != b.len || memcmp(a.data, b.data, a.len)) {
		fprintf(stderr, "fuzz_snapshot: serialization is not canonical\n");
		abort();
	}
	rc = pt__fold_json(&f, "r", "main", &j);
	if (rc && rc != PT_ECORRUPT && rc != PT_ENOMEM)
		abort();
	pt__buf_free(&a);
	pt__buf_free(&b);
	pt__buf_free(&j);
	pt__fold_free(&g);
	pt__fold_free(&f);
	return 0;
}
