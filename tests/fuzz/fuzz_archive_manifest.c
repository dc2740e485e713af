/*
 * fuzz_archive_manifest.c - the manifest member of an archive tar (JSON,
 * pt__manifest_parse): what `archive verify`, restore and the catalog trust
 * about an archive.  A manifest that parses must render (pt__manifest_json)
 * to text that parses again.
 */
#include "fuzz_common.h"

#include "archive/archive_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	pt__acat a;
	memset(&a, 0, sizeof a);
	int rc = pt__manifest_parse(&a, data, size, "fuzz manifest");
	fz_check_error(rc);
	if (rc == 0) {
		pt__buf b = {0};
		if (!pt__manifest_json(&b, &a)) {
			pt__acat again;
			memset(&again, 0, sizeof again);
			if (pt__manifest_parse(&again, b.data, b.len, "rendered manifest")) {
				fprintf(stderr, "fuzz_archive_manifest: rendered manifest does not parse: %s\n",
					pt_error_last());
				abort();
			}
			pt__acat_clear(&again);
		}
		pt__buf_free(&b);
	}
	pt__acat_clear(&a);
	return 0;
}
