/*
 * fuzz_note.c - signed checkpoint notes and keys (format/note.c): each input
 * is parsed as a note (with and without a key to check), as a verifier key
 * and as a signer key.  A note that opens must re-sign to a note that opens
 * with the same checkpoint (origin, size, root).
 */
#include "fuzz_common.h"

#include "format/note_int.h"

static pt__skey key;
static bool have_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!have_key) {
		if (pt__skey_generate("fuzz", &key))
			abort();
		have_key = true;
	}
	const char *t = (const char *)data;
	char why[300];
	pt__checkpoint c;
	int r = pt__note_open(t, size, NULL, &c, why, sizeof why);
	if (r < -1)
		fz_check_error(r);
	if (r == 0) {
		if (strlen(c.origin) == 0 || strchr(c.origin, '\n'))
			abort();
		pt__buf b = {0};
		if (!pt__note_sign(&b, &c, &key)) {
			pt__checkpoint c2;
			if (pt__note_open((const char *)b.data, b.len, &key.v, &c2, why, sizeof why) ||
			    strcmp(c.origin, c2.origin) || c.size != c2.size || memcmp(c.root, c2.root, 32)) {
				fprintf(stderr, "fuzz_note: a re-signed checkpoint does not open: %s\n", why);
				abort();
			}
		}
		pt__buf_free(&b);
	}
	r = pt__note_open(t, size, &key.v, &c, why, sizeof why);
	if (r < -1)
		fz_check_error(r);
	pt__vkey v;
	pt__skey s;
	if (pt__vkey_parse(t, size, &v, why, sizeof why) == 0 && !pt__key_name_ok(v.name))
		abort();
	r = pt__skey_parse(t, size, &s, why, sizeof why);
	if (r < -1)
		fz_check_error(r);
	return 0;
}
