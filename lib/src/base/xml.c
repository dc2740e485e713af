/*
 * xml.c - a bounded XML tree over expat (base/xml_int.h).  The only file that
 * includes <expat.h>.
 */
#include "base/xml_int.h"

#include <expat.h>

typedef struct {
	XML_Parser p;
	pt__xml_node *root, *cur;
	size_t nodes, depth;
	int rc;
	char msg[160];
} ctx;

static void stop(ctx *c, int rc, const char *msg)
{
	if (!c->rc) {
		c->rc = rc;
		snprintf(c->msg, sizeof c->msg, "%s", msg);
	}
	XML_StopParser(c->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	ctx *c = ud;
	(void)attrs;
	if (c->rc)
		return;
	if (++c->nodes > PT_XML_MAX_NODES)
		return stop(c, PT_ELIMIT, "more elements than allowed");
	if (c->depth >= PT_XML_MAX_DEPTH)
		return stop(c, PT_ECORRUPT, "nested deeper than allowed");
	if (!c->cur && c->root)
		return stop(c, PT_ECORRUPT, "a second root element");
	const char *colon = strrchr(name, ':');
	pt__xml_node *n = pt__calloc(1, sizeof *n);
	if (!n || !(n->name = pt__strdup(colon ? colon + 1 : name)) || !(n->text = pt__strdup(""))) {
		if (n) {
			pt__free(n->name);
			pt__free(n);
		}
		return stop(c, PT_ENOMEM, "out of memory");
	}
	n->parent = c->cur;
	if (c->cur) {
		if (c->cur->last)
			c->cur->last->next = n;
		else
			c->cur->child = n;
		c->cur->last = n;
	} else {
		c->root = n;
	}
	c->cur = n;
	c->depth++;
}

static void on_end(void *ud, const XML_Char *name)
{
	ctx *c = ud;
	(void)name;
	if (c->rc || !c->cur)
		return;
	c->cur = c->cur->parent;
	c->depth--;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	ctx *c = ud;
	if (c->rc || !c->cur || len <= 0)
		return;
	pt__xml_node *n = c->cur;
	if ((size_t)len > PT_XML_MAX_TEXT - n->text_len)
		return stop(c, PT_ELIMIT, "an element's text is longer than allowed");
	char *t = pt__realloc(n->text, n->text_len + (size_t)len + 1);
	if (!t)
		return stop(c, PT_ENOMEM, "out of memory");
	memcpy(t + n->text_len, s, (size_t)len);
	n->text_len += (size_t)len;
	t[n->text_len] = 0;
	n->text = t;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		       int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	stop(ud, PT_ECORRUPT, "a DOCTYPE (refused: an S3 answer has none)");
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_length,
		      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_length, (void)base, (void)sysid, (void)pubid,
		(void)notation;
	stop(ud, PT_ECORRUPT, "an entity declaration (refused)");
}

void pt__xml_free(pt__xml_node *n)
{
	while (n) {
		pt__xml_node *next = n->next;
		pt__xml_free(n->child);
		pt__free(n->name);
		pt__free(n->text);
		pt__free(n);
		n = next;
	}
}

int pt__xml_parse(const void *data, size_t len, pt__xml_node **out)
{
	*out = NULL;
	if (len > PT_XML_MAX_INPUT)
		return pt__err(PT_ELIMIT, "XML answer of %zu bytes: larger than the limit of %zu", len,
			       PT_XML_MAX_INPUT);
	if (len > (size_t)INT32_MAX)
		return pt__err(PT_ELIMIT, "XML answer too large");
	ctx c = {0};
	c.p = XML_ParserCreate("UTF-8");
	if (!c.p)
		return pt__err(PT_ENOMEM, "XML parser: out of memory");
	XML_SetUserData(c.p, &c);
	XML_SetElementHandler(c.p, on_start, on_end);
	XML_SetCharacterDataHandler(c.p, on_text);
	XML_SetStartDoctypeDeclHandler(c.p, on_doctype);
	XML_SetEntityDeclHandler(c.p, on_entity);
	XML_SetParamEntityParsing(c.p, XML_PARAM_ENTITY_PARSING_NEVER);
	enum XML_Status st = XML_Parse(c.p, data, (int)len, XML_TRUE);
	int rc = 0;
	if (c.rc) {
		rc = c.rc == PT_ENOMEM ? pt__err(PT_ENOMEM, "XML: out of memory")
				       : pt__err(c.rc, "XML answer refused: %s", c.msg);
	} else if (st != XML_STATUS_OK) {
		rc = pt__err(PT_ECORRUPT, "XML answer malformed: %s at line %lu column %lu",
			     XML_ErrorString(XML_GetErrorCode(c.p)), (unsigned long)XML_GetCurrentLineNumber(c.p),
			     (unsigned long)XML_GetCurrentColumnNumber(c.p));
	} else if (!c.root) {
		rc = pt__err(PT_ECORRUPT, "XML answer has no element");
	}
	XML_ParserFree(c.p);
	if (rc) {
		pt__xml_free(c.root);
		return rc;
	}
	*out = c.root;
	return 0;
}

const pt__xml_node *pt__xml_child(const pt__xml_node *n, const char *name)
{
	for (const pt__xml_node *c = n ? n->child : NULL; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const char *pt__xml_text(const pt__xml_node *n, const char *name)
{
	const pt__xml_node *c = pt__xml_child(n, name);
	return c ? c->text : NULL;
}
