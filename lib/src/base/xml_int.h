/*
 * base/xml_int.h - a small, bounded XML tree for S3's answers (listings,
 * errors, multipart uploads).  base/xml.c is the only file that includes
 * <expat.h>.  Private to the library.
 *
 * The parser refuses what an S3 answer never has and a hostile server
 * might send: a DOCTYPE (so no entity can be defined: no billion laughs, no
 * external entity), more than PT_XML_MAX_DEPTH levels, more than
 * PT_XML_MAX_NODES elements, more than PT_XML_MAX_TEXT bytes of text in one
 * element, or input larger than PT_XML_MAX_INPUT.  Each is PT_ECORRUPT (or
 * PT_ELIMIT) naming what was exceeded; memory stays bounded by the limits.
 * Namespace prefixes are dropped from element names ("s3:Key" is "Key").
 *
 *	pt__xml_node *doc;
 *	if (pt__xml_parse(body, len, &doc) == 0) {
 *		for (const pt__xml_node *c = doc->child; c; c = c->next)
 *			if (strcmp(c->name, "Contents") == 0) ... pt__xml_text(c, "Key") ...
 *		pt__xml_free(doc);
 *	}
 */
#ifndef PT_XML_INT_H
#define PT_XML_INT_H

#include "base/base_int.h"

#define PT_XML_MAX_DEPTH 16
#define PT_XML_MAX_NODES 50000
#define PT_XML_MAX_TEXT 8192
#define PT_XML_MAX_INPUT ((size_t)16 << 20)

typedef struct pt__xml_node {
	char *name;
	char *text; /* the element's own character data, NUL-terminated ("" when none) */
	size_t text_len;
	struct pt__xml_node *child, *last, *next, *parent;
} pt__xml_node;

/* Parse `len` bytes into a tree (the root element in *out).  Codes: see above. */
int pt__xml_parse(const void *data, size_t len, pt__xml_node **out);
void pt__xml_free(pt__xml_node *root);
/* The first child of `n` named `name`, or NULL. */
const pt__xml_node *pt__xml_child(const pt__xml_node *n, const char *name);
/* The text of the first child named `name`, or NULL when there is none. */
const char *pt__xml_text(const pt__xml_node *n, const char *name);

#endif
