/*
 * fuzz_s3_xml.c - what an S3-compatible server sends back and we parse: an
 * XML answer (base/xml.c over expat: listings, errors) and a chain record
 * of a bucket (format/bucket.c).  Both must accept or refuse with a message,
 * within their limits; a parsed tree is walked whole.
 */
#include "fuzz_common.h"

#include "base/xml_int.h"
#include "format/bucket_int.h"

static size_t walk(const pt__xml_node *n, int depth)
{
	size_t count = 0;
	for (; n; n = n->next) {
		if (depth > PT_XML_MAX_DEPTH || strlen(n->text) != n->text_len || n->text_len > PT_XML_MAX_TEXT)
			abort();
		count += 1 + walk(n->child, depth + 1);
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1u << 20)
		return 0;
	pt__xml_node *doc = NULL;
	int rc = pt__xml_parse(data, size, &doc);
	fz_check_error(rc);
	if (rc == 0) {
		if (!doc || walk(doc, 1) > PT_XML_MAX_NODES)
			abort();
		(void)pt__xml_text(doc, "Key");
		pt__xml_free(doc);
	} else if (doc) {
		abort();
	}
	pt__chain_entry e;
	rc = pt__bucket_chainrec_decode(data, size, 0, "fuzz", &e);
	fz_check_error(rc);
	if (rc == 0) {
		pt__buf b = {0};
		if (pt__bucket_chainrec_encode(&b, &e) || b.len != size || memcmp(b.data, data, size) != 0) {
			/* a record that decodes re-encodes to itself unless it had a non-canonical number */
			pt__chain_entry e2;
			if (b.len && pt__bucket_chainrec_decode(b.data, b.len, 0, "fuzz", &e2) == 0 &&
			    memcmp(&e, &e2, sizeof e) != 0)
				abort();
		}
		pt__buf_free(&b);
	}
	return 0;
}
