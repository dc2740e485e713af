/* format/event_int.h - the event builder's layout, shared with the recorder. */
#ifndef PT_EVENT_INT_H
#define PT_EVENT_INT_H

#include "base/base_int.h"

/* Every container is opened with a 5-byte header placeholder; end() writes the
 * smallest header and moves the content down (see event.c). */
#define PT_EV_HDR_RESERVE 5

typedef struct {
	size_t hdr_off; /* offset of the placeholder in body */
	uint32_t count;
	bool is_map;
} pt__ev_frame;

struct pt_event {
	char kind[PT_KIND_MAX + 1];
	uint8_t kind_len;
	pt__buf name;     /* not NUL-terminated; has_name tells */
	bool has_name;
	int64_t step;    /* PT_NO_STEP if none */
	int64_t time;    /* 0: stamp at append */
	bool has_time;
	pt__buf body;     /* frame 0 = the body map, placeholder at offset 0 */
	pt__ev_frame stack[PT_EVENT_MAX_DEPTH + 1];
	int depth;       /* index of the innermost open frame (0 = body) */
	int err;         /* sticky: first error of a setter */
	char errmsg[256];
};

/* Check that `ev` can be appended (no open container, no earlier error). */
int pt__event_ready(const pt_event *ev);
/* Number of bytes of the finished body map and write it to `dst` (>= that size). */
size_t pt__event_body_size(const pt_event *ev);
uint8_t *pt__event_body_write(const pt_event *ev, uint8_t *dst);
/* Check a kind string. */
int pt__kind_check(const char *kind, size_t len);
/* PT_EINVAL (naming the API to use) if `kind` is one the library interprets and
 * writes only itself (checkpoint, snapshot, lineage, recovery, code). */
int pt__kind_reserved(const char *kind, size_t len);

#endif
