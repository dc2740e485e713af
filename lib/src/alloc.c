/* alloc.c - the library's allocation wrappers and growable buffers. */
#include "internal.h"

void *pt__malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		pt__err(PT_ENOMEM, "out of memory allocating %zu bytes", n);
	return p;
}

void *pt__calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		pt__err(PT_ENOMEM, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *pt__realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		pt__err(PT_ENOMEM, "out of memory allocating %zu bytes", n);
	return q;
}

void pt__free(void *p) { free(p); }

char *pt__strdup(const char *s) { return s ? pt__strndup(s, strlen(s)) : NULL; }

char *pt__strndup(const char *s, size_t n)
{
	char *d = pt__malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

char *pt__sprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = pt__malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void pt_free(void *ptr) { pt__free(ptr); }

void pt_strv_free(char **strv, size_t count)
{
	if (!strv)
		return;
	for (size_t i = 0; i < count; i++)
		pt__free(strv[i]);
	pt__free(strv);
}

int pt__buf_reserve(pt_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t need = b->len + extra;
	if (need < b->len)
		return pt__err(PT_ENOMEM, "buffer size overflow");
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap * 2 > cap ? cap * 2 : need;
	uint8_t *d = pt__realloc(b->data, cap);
	if (!d)
		return PT_ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int pt__buf_append(pt_buf *b, const void *p, size_t n)
{
	int rc = pt__buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int pt__buf_printf(pt_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return pt__err(PT_ERROR, "format error");
	int rc = pt__buf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void pt__buf_free(pt_buf *b)
{
	pt__free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
