/*
 * watch.c - waiting for a store's directories to change: inotify where the
 * kernel has it, else the caller polls (pt__watch_polling).  A pipe wakes
 * the wait (pt__watch_wake is async-signal-safe), so stopping a consumer
 * never waits for a timeout.
 *
 * Why directories and not files: a writer appends to segments/open.ptseg,
 * seals it by renaming, and updates the chain with a rename; a watch on the
 * stream directory and on its segments/ sees all of that (IN_MODIFY of a
 * member, IN_MOVED_TO, IN_CREATE), and a watch on runs/ and on each run
 * sees new runs and streams.
 */
#include "live/live_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

struct pt__watch {
	int ifd;       /* inotify, -1 if unavailable */
	int pipe[2];   /* wake-ups */
	bool polling;  /* some directory could not be watched */
	int *tags;     /* by watch descriptor */
	size_t ntags;
};

int pt__watch_new(pt__watch **out)
{
	*out = NULL;
	pt__watch *w = pt__calloc(1, sizeof *w);
	if (!w)
		return PT_ENOMEM;
	w->pipe[0] = w->pipe[1] = -1;
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		int e = errno;
		pt__free(w);
		return pt__err_errno(e, "cannot create a pipe");
	}
	w->ifd = getenv("PROVTRACE_NO_INOTIFY") ? -1 : inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	w->polling = w->ifd < 0;
	*out = w;
	return 0;
}

void pt__watch_free(pt__watch *w)
{
	if (!w)
		return;
	if (w->ifd >= 0)
		close(w->ifd);
	close(w->pipe[0]);
	close(w->pipe[1]);
	pt__free(w->tags);
	pt__free(w);
}

bool pt__watch_polling(const pt__watch *w) { return w->polling; }

int pt__watch_add(pt__watch *w, const char *path, int tag)
{
	if (w->ifd < 0)
		return 0;
	int wd = inotify_add_watch(w->ifd, path,
				   IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_ONLYDIR);
	if (wd < 0) {
		/* a directory not there yet is looked at again at the next rescan;
		 * anything else (the watch limit) degrades to polling */
		if (errno != ENOENT && errno != ENOTDIR)
			w->polling = true;
		return 0;
	}
	if ((size_t)wd >= w->ntags) {
		size_t n = (size_t)wd * 2 + 16;
		int *t = pt__realloc(w->tags, n * sizeof *t);
		if (!t)
			return PT_ENOMEM;
		for (size_t i = w->ntags; i < n; i++)
			t[i] = -1;
		w->tags = t;
		w->ntags = n;
	}
	w->tags[wd] = tag;
	return 0;
}

void pt__watch_wake(pt__watch *w)
{
	if (w) {
		ssize_t r = write(w->pipe[1], "w", 1);
		(void)r;
	}
}

int pt__watch_wait(pt__watch *w, int timeout_ms, void (*cb)(int tag, void *ud), void *ud)
{
	struct pollfd p[2] = {{.fd = w->pipe[0], .events = POLLIN}, {.fd = w->ifd, .events = POLLIN}};
	int n = poll(p, w->ifd >= 0 ? 2 : 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 1 : pt__err_errno(errno, "poll");
	if (n == 0)
		return 0;
	if (p[0].revents) {
		char buf[64];
		while (read(w->pipe[0], buf, sizeof buf) > 0) {
		}
	}
	if (w->ifd >= 0 && p[1].revents) {
		_Alignas(struct inotify_event) char buf[16384];
		for (;;) {
			ssize_t r = read(w->ifd, buf, sizeof buf);
			if (r <= 0)
				break;
			for (char *q = buf; q < buf + r;) {
				const struct inotify_event *e = (const struct inotify_event *)q;
				if (e->mask & IN_Q_OVERFLOW)
					cb(-2, ud);
				else if (e->wd >= 0 && (size_t)e->wd < w->ntags && w->tags[e->wd] != -1)
					cb(w->tags[e->wd], ud);
				q += sizeof *e + e->len;
			}
		}
	}
	return 1;
}
