/*
 * code_model.c - the provenance data model under both git.c (which fills it
 * from libgit2) and code.c (events, environment, restore): string and array
 * helpers, freeing, URL redaction and storing captured contents in parallel.
 * It calls neither of them, so git.c and code.c depend on it and code.c on
 * git.c, never the other way round.
 */
#include "code/code_int.h"

#include <pthread.h>
/* ---- small helpers ----------------------------------------------------------- */

int pt__code_setstr(const char **field, const char *s)
{
	char *d = NULL;
	if (s && !(d = pt__strdup(s)))
		return PT_ENOMEM;
	pt__free((void *)*field);
	*field = d;
	return 0;
}

int pt__code_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = pt__realloc(*arr, ncap * elem);
	if (!p)
		return PT_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define FREE_STR(s) pt__free((void *)(s))

void pt_code_provenance_free(pt_code_provenance *p)
{
	if (!p)
		return;
	FREE_STR(p->state);
	FREE_STR(p->message);
	FREE_STR(p->workdir);
	FREE_STR(p->gitdir);
	FREE_STR(p->commit);
	FREE_STR(p->branch);
	FREE_STR(p->upstream);
	FREE_STR(p->truncated_reason);
	FREE_STR(p->patch_object);
	for (size_t i = 0; i < p->n_changes; i++) {
		FREE_STR(p->changes[i].path);
		FREE_STR(p->changes[i].old_path);
		FREE_STR(p->changes[i].sha256);
	}
	pt__free(p->changes);
	for (size_t i = 0; i < p->n_untracked; i++) {
		FREE_STR(p->untracked[i].path);
		FREE_STR(p->untracked[i].sha256);
		FREE_STR(p->untracked[i].object);
	}
	pt__free(p->untracked);
	for (size_t i = 0; i < p->n_remotes; i++) {
		FREE_STR(p->remotes[i].name);
		FREE_STR(p->remotes[i].url);
	}
	pt__free(p->remotes);
	for (size_t i = 0; i < p->n_submodules; i++) {
		FREE_STR(p->submodules[i].name);
		FREE_STR(p->submodules[i].path);
		FREE_STR(p->submodules[i].url);
		FREE_STR(p->submodules[i].commit);
		FREE_STR(p->submodules[i].workdir_commit);
	}
	pt__free(p->submodules);
	pt__free(p);
}

/* ---- storing objects in parallel ---------------------------------------------------- */

typedef struct {
	const pt__code_objects *objs;
	pt__code_put_item *items;
	size_t n;
	size_t next; /* atomic */
	pthread_mutex_t mu;
	int rc;
	char msg[512];
} put_pool;

static void *put_worker(void *arg)
{
	put_pool *pp = arg;
	for (;;) {
		size_t i = __atomic_fetch_add(&pp->next, 1, __ATOMIC_RELAXED);
		if (i >= pp->n)
			break;
		pthread_mutex_lock(&pp->mu);
		bool failed = pp->rc != 0;
		pthread_mutex_unlock(&pp->mu);
		if (failed)
			break;
		int rc = pp->objs->put(pp->objs->payload, pp->items[i].data, pp->items[i].len,
				       pp->items[i].id);
		if (rc) {
			/* the message is thread-local: carry it to the caller's thread */
			pthread_mutex_lock(&pp->mu);
			if (!pp->rc) {
				pp->rc = rc;
				snprintf(pp->msg, sizeof(pp->msg), "%s", pt_error_last());
			}
			pthread_mutex_unlock(&pp->mu);
			break;
		}
	}
	return NULL;
}

int pt__code_put_many(const pt__code_objects *objs, pt__code_put_item *items, size_t n)
{
	put_pool pp = { .objs = objs, .items = items, .n = n };
	pthread_t th[32];
	size_t started = 0;
	if (!n)
		return 0;
	pthread_mutex_init(&pp.mu, NULL);
	size_t want = n < 32 ? n : 32;
	for (; started + 1 < want; started++)
		if (pthread_create(&th[started], NULL, put_worker, &pp))
			break; /* fewer threads: the calling thread still does the work */
	put_worker(&pp);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pp.mu);
	if (pp.rc)
		return pt__err(pp.rc, "%s", pp.msg);
	return 0;
}

/* ---- redaction ------------------------------------------------------------------ */

int pt_code_strip_url(char **out, const char *url)
{
	if (!out || !url)
		return pt__err(PT_EINVAL, "pt_code_strip_url: NULL argument");
	*out = NULL;
	const char *sep = strstr(url, "://");
	/* scp-like "user@host:path" and local paths carry no password */
	if (!sep || memchr(url, '/', (size_t)(sep - url)) || sep == url) {
		*out = pt__strdup(url);
		return *out ? 0 : PT_ENOMEM;
	}
	size_t scheme_len = (size_t)(sep - url);
	const char *auth = sep + 3;
	size_t auth_len = strcspn(auth, "/?#");
	const char *rest = auth + auth_len;
	size_t rest_len = strcspn(rest, "?#"); /* query and fragment dropped */

	/* the userinfo ends at the last '@' of the authority */
	const char *at = NULL;
	for (const char *q = auth; q < auth + auth_len; q++)
		if (*q == '@')
			at = q;
	const char *host = at ? at + 1 : auth;
	size_t user_len = 0;
	bool keep_user = false;
	if (at) {
		/* Over http(s) a user name is often the token itself: drop it all.
		 * Elsewhere (ssh://git@host) the user is needed and not secret. */
		bool web = (scheme_len == 4 && !strncasecmp(url, "http", 4)) ||
			   (scheme_len == 5 && !strncasecmp(url, "https", 5)) ||
			   (scheme_len == 3 && !strncasecmp(url, "ftp", 3)) ||
			   (scheme_len == 4 && !strncasecmp(url, "ftps", 4));
		if (!web) {
			user_len = strcspn(auth, ":@");
			keep_user = user_len > 0;
		}
	}
	pt__buf b = { 0 };
	int rc = pt__buf_append(&b, url, scheme_len + 3);
	if (!rc && keep_user) {
		rc = pt__buf_append(&b, auth, user_len);
		if (!rc)
			rc = pt__buf_append(&b, "@", 1);
	}
	if (!rc)
		rc = pt__buf_append(&b, host, (size_t)(auth + auth_len - host));
	if (!rc)
		rc = pt__buf_append(&b, rest, rest_len);
	if (!rc)
		rc = pt__buf_append(&b, "", 1);
	if (rc) {
		pt__buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}
