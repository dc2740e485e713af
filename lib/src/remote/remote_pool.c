/*
 * remote_pool.c - the transfer pool push and clone share (remote/remote_int.h).
 */
#include "base/base_int.h"
#include "remote/remote_int.h"

#include <pthread.h>

int pt__remote_resolve(const pt_store *st, const char *remote, const pt_push_options *o, pt_remote *keep,
		       pt__remote_where *out)
{
	memset(keep, 0, sizeof *keep);
	memset(out, 0, sizeof *out);
	if (!remote)
		return pt__err(PT_EINVAL, "no remote given");
	if (strncmp(remote, "s3://", 5) == 0) {
		out->url = remote;
	} else {
		if (!st)
			return pt__err(PT_EINVAL, "remote \"%s\": a name needs a store (or give an s3:// URL)", remote);
		int rc = pt_remote_get(st, remote, keep);
		if (rc)
			return rc;
		out->url = keep->url;
		out->endpoint = keep->endpoint;
		out->region = keep->region;
	}
	if (o && o->endpoint && *o->endpoint)
		out->endpoint = o->endpoint;
	if (o && o->region && *o->region)
		out->region = o->region;
	return 0;
}

typedef struct {
	const pt__remote_where *w;
	size_t n, next;
	pt__remote_fn fn;
	void *payload;
	const pt_push_options *o;
	uint64_t *done;
	uint64_t total;
	const uint64_t *bytes;
	pt_push_stats *st;
	pthread_mutex_t mu;
	int rc;
	char msg[1024];
} pool;

static void *worker(void *arg)
{
	pool *p = arg;
	pt__s3 *s3 = NULL;
	int rc = pt__s3_open(&s3, p->w->url, p->w->endpoint, p->w->region, NULL);
	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->mu);
		if (rc && !p->rc) {
			p->rc = rc;
			snprintf(p->msg, sizeof p->msg, "%s", pt_error_last());
		}
		if (p->rc || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		rc = p->fn(s3, i, p->payload);
		pthread_mutex_lock(&p->mu);
		if (!rc) {
			(*p->done)++;
			if (p->o && p->o->progress)
				p->o->progress(p->o->progress_payload, *p->done, p->total, p->bytes ? *p->bytes : 0);
		}
		pthread_mutex_unlock(&p->mu);
	}
	if (s3) {
		const pt__http_stats *hs = pt__s3_stats(s3);
		pthread_mutex_lock(&p->mu);
		p->st->requests += hs->requests;
		p->st->retries += hs->retries;
		pthread_mutex_unlock(&p->mu);
		pt__s3_free(s3);
	}
	return NULL;
}

int pt__remote_pool(const pt__remote_where *w, unsigned jobs, size_t n, pt__remote_fn fn, void *payload,
		    const pt_push_options *o, uint64_t *done_ctr, uint64_t total, const uint64_t *bytes_ctr,
		    pt_push_stats *st)
{
	if (n == 0)
		return 0;
	if (jobs == 0)
		jobs = 8;
	if (jobs > 64)
		jobs = 64;
	if (jobs > n)
		jobs = (unsigned)n;
	pool p;
	memset(&p, 0, sizeof p);
	p.w = w;
	p.n = n;
	p.fn = fn;
	p.payload = payload;
	p.o = o;
	p.done = done_ctr;
	p.total = total;
	p.bytes = bytes_ctr;
	p.st = st;
	pthread_mutex_init(&p.mu, NULL);
	pthread_t th[64];
	unsigned started = 0;
	for (unsigned k = 0; k < jobs; k++) {
		if (pthread_create(&th[k], NULL, worker, &p) != 0)
			break;
		started++;
	}
	if (started == 0)
		worker(&p); /* no thread could start: do the work here */
	for (unsigned k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&p.mu);
	if (p.rc)
		return pt__err(p.rc, "%s", p.msg);
	return 0;
}
