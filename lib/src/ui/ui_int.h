/*
 * ui/ui_int.h - the UI's pages (ui_pages.c) behind its HTTP server (ui_http.c, the one file that
 * includes <microhttpd.h>).  Private to the library.
 */
#ifndef PT_UI_INT_H
#define PT_UI_INT_H

#include "provtrace/store.h"
#include "provtrace/ui.h"

#include "base/base_int.h"

#define PT__UI_MAX_ARGS 64

/* A request as the pages see it: method, path, and the query arguments in order (repeats kept). */
typedef struct {
	const char *method, *path;
	const char *keys[PT__UI_MAX_ARGS], *vals[PT__UI_MAX_ARGS];
	size_t nargs;
	bool too_many;
} pt__ui_req;

typedef struct {
	int status;
	const char *type; /* Content-Type */
	pt__buf body;
} pt__ui_resp;

/* Answer one request: fills `out` (status, type, body).  Returns 0, or PT_ENOMEM. */
int pt__ui_route(const pt_store *st, const pt__ui_req *req, pt__ui_resp *out);

#endif
