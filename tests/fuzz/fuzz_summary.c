/*
 * fuzz_summary.c - the run summary file (runs/summary.c, docs/FORMAT.md "Run
 * summaries"): any payload behind a valid header (so the CRC does not stop
 * the decoder at the door) decodes or is refused, never crashes; what
 * decodes renders as JSON, answers every field, and encodes back to bytes
 * that decode to the same bytes again (one canonical form).
 */
#include "fuzz_common.h"

#include "runs/runs_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	uint8_t *file = pt__malloc(size + 16);
	if (!file)
		return 0;
	memcpy(file, "PTRS", 4);
	pt__put_u32(file + 4, 1);
	pt__put_u32(file + 8, (uint32_t)size);
	memcpy(file + 16, data, size);
	pt__put_u32(file + 12, pt__crc32c(0, file + 16, size));
	pt__rs_run r;
	if (pt__rs_decode(file, size + 16, "fuzz", &r) == 0) {
		pt__buf j = {0};
		if (pt__rs_json(&j, &r, true) == PT_ENOMEM)
			abort();
		pt__buf_free(&j);
		static const char *const names[] = {"params.lr", "last.loss", "min.loss", "max.loss", "tags.team",
						    "status", "started", "duration", "code.commit", "note"};
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			pt__field f;
			if (pt__field_parse(names[i], strlen(names[i]), &f))
				abort();
			pt__rv v;
			pt__rs_field(&r, &f, &v);
			pt__free(f.name);
		}
		pt__buf a = {0}, b = {0};
		if (pt__rs_encode(&a, &r))
			abort();
		pt__rs_run r2;
		if (pt__rs_decode(a.data, a.len, "fuzz", &r2))
			abort(); /* what we write, we read */
		if (pt__rs_encode(&b, &r2) || a.len != b.len || memcmp(a.data, b.data, a.len))
			abort(); /* and it is canonical */
		pt__rs_run_free(&r2);
		pt__buf_free(&a);
		pt__buf_free(&b);
		pt__rs_run_free(&r);
	}
	pt__free(file);
	return 0;
}
