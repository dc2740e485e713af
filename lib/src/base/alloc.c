/* alloc.c - the library's allocation wrappers and growable buffers. */
#include "base/base_int.h"

#include "provtrace/alloc.h"

/*
 * The allocator in effect (alloc.h).  A plain struct read without
 * synchronisation: pt_set_allocator() must run before any other call, so
 * every later read sees the final value (thread creation orders it).
 */
static void *default_malloc(size_t n, void *ctx) { (void)ctx; return malloc(n); }
static void *default_realloc(void *p, size_t n, void *ctx) { (void)ctx; return realloc(p, n); }
static void default_free(void *p, void *ctx) { (void)ctx; free(p); }

static const pt_allocator default_allocator = {PT_ALLOCATOR_VERSION, default_malloc, default_realloc,
					       default_free, NULL};
static pt_allocator alloc_in_effect = {PT_ALLOCATOR_VERSION, default_malloc, default_realloc,
				       default_free, NULL};

int pt_set_allocator(const pt_allocator *a)
{
	if (!a) {
		alloc_in_effect = default_allocator;
		return 0;
	}
	if (a->version != PT_ALLOCATOR_VERSION)
		return pt__err(PT_EINVAL, "pt_set_allocator: version %u is not supported (expected %d)",
			       a->version, PT_ALLOCATOR_VERSION);
	if (!a->malloc || !a->realloc || !a->free)
		return pt__err(PT_EINVAL, "pt_set_allocator: malloc, realloc and free are all required");
	alloc_in_effect = *a;
	return 0;
}

void *pt__malloc(size_t n)
{
	void *p = alloc_in_effect.malloc(n ? n : 1, alloc_in_effect.ctx);
	if (!p)
		pt__err(PT_ENOMEM, "out of memory allocating %zu bytes", n);
	return p;
}

void *pt__calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		pt__err(PT_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
		return NULL;
	}
	size_t total = n * size;
	void *p = alloc_in_effect.malloc(total ? total : 1, alloc_in_effect.ctx);
	if (!p)
		pt__err(PT_ENOMEM, "out of memory allocating %zu x %zu bytes", n, size);
	else
		memset(p, 0, total ? total : 1);
	return p;
}

void *pt__realloc(void *p, size_t n)
{
	void *q = alloc_in_effect.realloc(p, n ? n : 1, alloc_in_effect.ctx);
	if (!q)
		pt__err(PT_ENOMEM, "out of memory allocating %zu bytes", n);
	return q;
}

void pt__free(void *p)
{
	if (p)
		alloc_in_effect.free(p, alloc_in_effect.ctx);
}

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

int pt__buf_reserve(pt__buf *b, size_t extra)
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

int pt__buf_append(pt__buf *b, const void *p, size_t n)
{
	int rc = pt__buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int pt__buf_printf(pt__buf *b, const char *fmt, ...)
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

void pt__buf_free(pt__buf *b)
{
	pt__free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
