/* test_consumer.c - durable consumers (consumer.h): positions, batches,
 * retries, bisection and the failure stream, locks, start points, runs that
 * appear while following, SIGKILL and resume, inotify and polling. */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void record(pt_store *st, const char *run, const char *stream, int n, int64_t step0)
{
	pt_recorder *rec;
	TU_OK(pt_recorder_open(&rec, st, run, stream, NULL));
	for (int i = 0; i < n; i++)
		TU_OK(pt_recorder_metric(rec, "loss", i * 0.5, step0 + i));
	TU_OK(pt_recorder_close(rec));
}

/* ---- a handler that remembers what it saw ---- */
typedef struct {
	uint64_t seen[8192];    /* times each seq (of one stream) was handed */
	uint64_t calls, events;
	uint64_t poison;        /* this seq always fails (0: none) */
	int fail_pct;           /* other batches fail at random this often */
	uint64_t last_committed_seq;
	pt_consumer *c;
	uint64_t stop_at;       /* stop the consumer when this many distinct seqs were seen */
	uint64_t distinct;
	unsigned seed;
} seen_t;

static int seen_handler(void *ud, pt_consumer_batch *b)
{
	seen_t *s = ud;
	size_t n;
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	s->calls++;
	for (size_t i = 0; i < n; i++)
		if (s->poison && ev[i].seq == s->poison) {
			pt_consumer_batch_set_error(b, "poison event");
			return 1;
		}
	if (s->fail_pct && (int)(rand_r(&s->seed) % 100) < s->fail_pct) {
		pt_consumer_batch_set_error(b, "random failure");
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		assert_true(ev[i].seq < 8192);
		assert_string_equal(ev[i].kind, "metric");
		if (!s->seen[ev[i].seq]++)
			s->distinct++;
		s->events++;
	}
	if (s->stop_at && s->distinct >= s->stop_at)
		pt_consumer_stop(s->c);
	return 0;
}

static void test_reads_everything_in_batches_and_resumes(void **state)
{
	tu_fixture *f = *state;
	record(f->st, "r1", NULL, 250, 0);
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = "r1";
	o.batch_max = 100;
	o.follow = 0;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "c1", &o));
	pt_consumer_batch *b;
	size_t n;
	TU_OK(pt_consumer_poll(c, &b, 0));
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	assert_int_equal(n, 100);
	assert_int_equal(ev[0].seq, 1);
	assert_string_equal(ev[0].run, "r1");
	assert_string_equal(ev[0].stream, "main");
	assert_int_equal(ev[99].seq, 100);
	const char *text;
	size_t len;
	TU_OK(pt_consumer_batch_jsonl(b, &text, &len));
	assert_non_null(strstr(text, "\"run\":\"r1\""));
	assert_int_equal(text[len - 1], '\n');
	TU_OK(pt_consumer_commit(c, b));
	/* handed out but not committed: handed again after a reopen */
	TU_OK(pt_consumer_poll(c, &b, 0));
	ev = pt_consumer_batch_events(b, &n);
	assert_int_equal(ev[0].seq, 101);
	pt_consumer_close(c);

	o.run = NULL; /* as recorded */
	TU_OK(pt_consumer_open(&c, f->st, "c1", &o));
	seen_t *s = calloc(1, sizeof *s);
	TU_OK(pt_consumer_run(c, seen_handler, s));
	assert_int_equal(s->distinct, 150);
	assert_int_equal(s->seen[101], 1);
	assert_int_equal(s->seen[100], 0);
	pt_consumer_counts k;
	pt_consumer_get_counts(c, &k);
	assert_int_equal(k.events, 150);
	assert_int_equal(k.batches, 2);
	pt_consumer_close(c);

	/* a stale batch cannot be committed */
	TU_OK(pt_consumer_open(&c, f->st, "c1", NULL));
	assert_int_equal(pt_consumer_poll(c, &b, 0), PT_ITEROVER);
	pt_consumer_info *ci;
	size_t nc;
	TU_OK(pt_consumers_list(f->st, NULL, &ci, &nc));
	assert_int_equal(nc, 1);
	assert_string_equal(ci[0].name, "c1");
	assert_int_equal(ci[0].active, 1);
	assert_non_null(strstr(ci[0].holder, "pid="));
	assert_int_equal(ci[0].events_behind, 0);
	assert_int_equal(ci[0].npositions, 1);
	assert_int_equal(ci[0].positions[0].seq, 250);
	pt_consumer_info_free(ci, nc);
	pt_consumer_close(c);

	/* lag: more events, not handled */
	record(f->st, "r1", NULL, 10, 300);
	TU_OK(pt_consumers_list(f->st, "c1", &ci, &nc));
	assert_int_equal(ci[0].events_behind, 10);
	assert_true(ci[0].lag_ns > 0);
	assert_int_equal(ci[0].active, 0);
	pt_consumer_info_free(ci, nc);
	free(s);
}

static void test_second_process_is_refused_naming_the_holder(void **state)
{
	tu_fixture *f = *state;
	pt_consumer *c, *c2 = NULL;
	TU_OK(pt_consumer_open(&c, f->st, "one", NULL));
	assert_int_equal(pt_consumer_open(&c2, f->st, "one", NULL), PT_ELOCKED);
	assert_non_null(strstr(pt_error_last(), "pid="));
	assert_int_equal(pt_consumer_reset(f->st, "one", "oldest"), PT_ELOCKED);
	pt_consumer_close(c);
	/* another source under the same name is refused */
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = "other";
	assert_int_equal(pt_consumer_open(&c2, f->st, "one", &o), PT_EINVAL);
	/* bad names and options */
	assert_int_equal(pt_consumer_open(&c2, f->st, "../x", NULL), PT_EINVAL);
	o.run = "a b";
	assert_int_equal(pt_consumer_open(&c2, f->st, "two", &o), PT_EINVAL);
	o.run = NULL;
	o.start = "step=abc";
	assert_int_equal(pt_consumer_open(&c2, f->st, "two", &o), PT_EINVAL);
	o.start = NULL;
	o.batch_max = 0;
	assert_int_equal(pt_consumer_open(&c2, f->st, "two", &o), PT_EINVAL);
	assert_int_equal(pt_consumer_reset(f->st, "nope", "oldest"), PT_ENOTFOUND);
	assert_int_equal(pt_consumer_reset(f->st, "one", "sideways"), PT_EINVAL);
}

static uint64_t count_all(pt_store *st, const char *name, const char *start, uint64_t *first_seq)
{
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.start = start;
	o.follow = 0;
	o.batch_max = 1000;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, st, name, &o));
	uint64_t total = 0;
	*first_seq = 0;
	pt_consumer_batch *b;
	while (pt_consumer_poll(c, &b, 0) == 0) {
		size_t n;
		const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
		if (!total)
			*first_seq = ev[0].seq;
		total += n;
		TU_OK(pt_consumer_commit(c, b));
	}
	pt_consumer_close(c);
	return total;
}

static void test_start_points(void **state)
{
	tu_fixture *f = *state;
	record(f->st, "s1", NULL, 100, 1000); /* steps 1000..1099, seq 1..100 */
	uint64_t first;
	pt_consumer *c;
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.start = "latest";
	TU_OK(pt_consumer_open(&c, f->st, "late", &o));
	pt_consumer_close(c);
	assert_int_equal(count_all(f->st, "old", "oldest", &first), 100);
	assert_int_equal(first, 1);
	assert_int_equal(count_all(f->st, "seq", "seq=41", &first), 60);
	assert_int_equal(first, 41);
	assert_int_equal(count_all(f->st, "step", "step=1090", &first), 10);
	assert_int_equal(first, 91);
	assert_int_equal(count_all(f->st, "time", "time=2001-01-01T00:00:00Z", &first), 100);
	assert_int_equal(count_all(f->st, "future", "time=2100-01-01T00:00:00Z", &first), 0);
	record(f->st, "s1", NULL, 5, 2000);
	/* latest: only what came after it was created (the reopen marks + 5) */
	uint64_t n = count_all(f->st, "late", NULL, &first);
	assert_true(n >= 5 && n <= 7);
	assert_int_equal(first, 101);
	/* a new run appears: a "latest" consumer reads it from its start */
	record(f->st, "s2", NULL, 3, 0);
	assert_int_equal(count_all(f->st, "late", NULL, &first), 3);
	/* reset */
	TU_OK(pt_consumer_reset(f->st, "late", "seq=100"));
	/* seq=N is a point of each stream: s2 has no seq 100 yet */
	assert_int_equal(count_all(f->st, "late", NULL, &first), n + 1);
	TU_OK(pt_consumer_reset(f->st, "late", "latest"));
	assert_int_equal(count_all(f->st, "late", NULL, &first), 0);
	TU_OK(pt_consumer_remove(f->st, "late"));
	pt_consumer_info *ci;
	size_t nc;
	assert_int_equal(pt_consumers_list(f->st, "late", &ci, &nc), PT_ENOTFOUND);
}

static void test_poison_event_and_random_failures(void **state)
{
	tu_fixture *f = *state;
	record(f->st, "p", NULL, 2000, 0);
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = "p";
	o.follow = 0;
	o.batch_max = 256;
	o.max_retries = 2;
	o.backoff_ms = 1;
	o.backoff_max_ms = 4;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "pz", &o));
	seen_t *s = calloc(1, sizeof *s);
	s->poison = 777;
	s->fail_pct = 30;
	s->seed = 12345;
	TU_OK(pt_consumer_run(c, seen_handler, s));
	for (uint64_t q = 1; q <= 2000; q++)
		if (q != 777 && !s->seen[q])
			fail_msg("seq %llu was never handled", (unsigned long long)q);
	assert_int_equal(s->seen[777], 0);
	pt_consumer_counts k;
	pt_consumer_get_counts(c, &k);
	assert_int_equal(k.failed, 1);
	pt_consumer_close(c);
	/* exactly the poison event in the failure stream */
	pt_iter *it;
	TU_OK(pt_iter_open(&it, f->st, "consumer-failures", "pz", NULL));
	const pt_event_view *ev;
	int nf = 0, rc;
	while ((rc = pt_iter_next(it, &ev)) == 0) {
		if (strcmp(pt_ev_kind(ev), "consumer_failure"))
			continue;
		nf++;
		const char *json;
		TU_OK(pt_ev_json(ev, &json, NULL));
		assert_non_null(strstr(json, "\"seq_first\":777"));
		assert_non_null(strstr(json, "\"event_run\":\"p\""));
		assert_non_null(strstr(json, "poison event"));
	}
	assert_int_equal(rc, PT_ITEROVER);
	assert_int_equal(nf, 1);
	pt_iter_free(it);
	/* the position is past everything: nothing handed again */
	TU_OK(pt_consumer_open(&c, f->st, "pz", &o));
	memset(s, 0, sizeof *s);
	TU_OK(pt_consumer_run(c, seen_handler, s));
	assert_int_equal(s->events, 0);
	pt_consumer_close(c);
	/* a store-wide consumer does not read the failure destinations */
	o.run = NULL;
	o.batch_max = 5000;
	TU_OK(pt_consumer_open(&c, f->st, "all", &o));
	pt_consumer_batch *b;
	size_t n;
	TU_OK(pt_consumer_poll(c, &b, 0));
	const pt_consumer_event *e = pt_consumer_batch_events(b, &n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(e[i].run, "p");
	pt_consumer_close(c);
	free(s);
}

/* ---- following while runs appear ---- */
typedef struct {
	pt_store *st;
	int runs, per_run;
} writer_t;

static void *writer(void *arg)
{
	writer_t *w = arg;
	for (int r = 0; r < w->runs; r++) {
		char name[32];
		snprintf(name, sizeof name, "exp-%03d", r);
		pt_recorder_options ro = PT_RECORDER_OPTIONS_INIT;
		ro.max_delay_ms = 5;
		pt_recorder *rec;
		if (pt_recorder_open(&rec, w->st, name, NULL, &ro))
			return (void *)1;
		for (int i = 0; i < w->per_run; i++) {
			pt_recorder_metric(rec, "loss", 1.0, i);
			if (i % 10 == 0)
				pt_recorder_flush(rec);
		}
		pt_recorder_close(rec);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

typedef struct {
	pt_consumer *c;
	uint64_t events, target, other;
	char runs_seen[64];
} follow_t;

static int follow_handler(void *ud, pt_consumer_batch *b)
{
	follow_t *s = ud;
	size_t n;
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(ev[i].run, "exp-", 4)) {
			s->other++;
			continue;
		}
		if (!strcmp(ev[i].kind, "metric")) {
			s->events++;
			s->runs_seen[atoi(ev[i].run + 4)] = 1;
		}
	}
	if (s->events >= s->target)
		pt_consumer_stop(s->c);
	return 0;
}

static void follow_runs(tu_fixture *f, const char *glob)
{
	record(f->st, "unrelated", NULL, 5, 0);
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.run = glob;
	o.batch_max = 50;
	o.poll_ms = 50;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "follower", &o));
	writer_t w = {f->st, 30, 40};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &w), 0);
	follow_t s = {.c = c, .target = 30 * 40};
	TU_OK(pt_consumer_run(c, follow_handler, &s));
	void *res;
	pthread_join(t, &res);
	assert_null(res);
	assert_int_equal(s.events, 30 * 40);
	for (int r = 0; r < 30; r++)
		assert_int_equal(s.runs_seen[r], 1);
	if (glob)
		assert_int_equal(s.other, 0);
	pt_consumer_close(c);
}

static void test_runs_appearing_while_following_a_glob(void **state) { follow_runs(*state, "exp-*"); }

static void test_runs_appearing_while_following_the_store(void **state) { follow_runs(*state, NULL); }

static void test_runs_appearing_without_inotify(void **state)
{
	setenv("PROVTRACE_NO_INOTIFY", "1", 1);
	follow_runs(*state, "exp-*");
	unsetenv("PROVTRACE_NO_INOTIFY");
}

static int open_fds(void)
{
	int n = 0;
	char p[64];
	for (int fd = 0; fd < 4096; fd++) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		if (access(p, F_OK) == 0)
			n++;
	}
	return n;
}

static void test_many_streams_idle_ones_hold_no_descriptor(void **state)
{
	tu_fixture *f = *state;
	char name[32];
	for (int r = 0; r < 150; r++) {
		snprintf(name, sizeof name, "many-%03d", r);
		record(f->st, name, NULL, 2, 0);
	}
	int before = open_fds();
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.batch_max = 100000;
	o.follow = 0;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "many", &o));
	pt_consumer_batch *b;
	size_t n;
	TU_OK(pt_consumer_poll(c, &b, 0));
	pt_consumer_batch_events(b, &n);
	assert_int_equal(n, 150 * 2);
	TU_OK(pt_consumer_commit(c, b));
	/* 150 streams followed, all idle: far fewer descriptors than streams */
	assert_true(open_fds() - before < 40);
	/* two of them grow: the next batch has exactly their events */
	record(f->st, "many-007", NULL, 3, 10);
	record(f->st, "many-140", NULL, 4, 10);
	TU_OK(pt_consumer_poll(c, &b, 5000));
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	size_t m7 = 0, m140 = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ev[i].run, "many-007"))
			m7 += !strcmp(ev[i].kind, "metric");
		else if (!strcmp(ev[i].run, "many-140"))
			m140 += !strcmp(ev[i].kind, "metric");
		else
			fail_msg("event of %s handed again", ev[i].run);
	}
	/* the second writer may still be closing: take what is left */
	TU_OK(pt_consumer_commit(c, b));
	while (m7 + m140 < 7 && pt_consumer_poll(c, &b, 2000) == 0) {
		ev = pt_consumer_batch_events(b, &n);
		for (size_t i = 0; i < n; i++)
			m140 += !strcmp(ev[i].run, "many-140") && !strcmp(ev[i].kind, "metric");
		TU_OK(pt_consumer_commit(c, b));
	}
	assert_int_equal(m7, 3);
	assert_int_equal(m140, 4);
	pt_consumer_close(c);
}

static void test_damaged_position_is_reported(void **state)
{
	tu_fixture *f = *state;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "d", NULL));
	pt_consumer_close(c);
	char *p = tu_path(pt_store_path(f->st), "consumers/d/position");
	FILE *fp = fopen(p, "w");
	fputs("provtrace-consumer 1\nname d\nrun -\nstream -\nstart oldest\nfailures a/b\ncreated 1\ncommitted 0\npos x y 3\nend 2\n", fp);
	fclose(fp);
	assert_int_equal(pt_consumer_open(&c, f->st, "d", NULL), PT_ECORRUPT);
	assert_non_null(strstr(pt_error_last(), "malformed"));
	fp = fopen(p, "w");
	fputs("provtrace-consumer 9\n", fp);
	fclose(fp);
	assert_int_equal(pt_consumer_open(&c, f->st, "d", NULL), PT_EVERSION);
	fp = fopen(p, "w");
	fputs("garbage", fp);
	fclose(fp);
	assert_int_equal(pt_consumer_open(&c, f->st, "d", NULL), PT_ECORRUPT);
	/* commit blocks: a torn last one is ignored (its batch is handed again) */
	const char *base = "provtrace-consumer 1\nname d\nrun -\nstream -\nstart oldest\nfailures a/b\ncreated 1\n"
			   "committed 0\nend 0\n";
	fp = fopen(p, "w");
	/* a complete block whose CRC fails, followed by more bytes: damage */
	fprintf(fp, "%scommit 5 1\npos x y 3\ncrc %08x\ncommit 6 1\npos x y 4\ncr", base, 0u);
	fclose(fp);
	assert_int_equal(pt_consumer_open(&c, f->st, "d", NULL), PT_ECORRUPT);
	fp = fopen(p, "w");
	fprintf(fp, "%scommit 6 1\npos x y 4\ncr", base);
	fclose(fp);
	pt_consumer_info *ci;
	size_t nc;
	TU_OK(pt_consumers_list(f->st, "d", &ci, &nc));
	assert_int_equal(ci[0].committed, 0); /* the torn block is not there */
	pt_consumer_info_free(ci, nc);
	free(p);
}

static void test_golden_position_file_is_read(void **state)
{
	tu_fixture *f = *state;
	record(f->st, "exp-1", NULL, 5, 0);
	record(f->st, "exp-2", NULL, 5, 0);
	char *dir = tu_path(pt_store_path(f->st), "consumers/golden");
	char *dst = tu_path(dir, "position");
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/tests/fixtures/consumer/position' '%s'", dir, PT_SOURCE_DIR,
		 dst);
	assert_int_equal(system(cmd), 0);
	pt_consumer_info *ci;
	size_t nc;
	TU_OK(pt_consumers_list(f->st, NULL, &ci, &nc));
	assert_int_equal(nc, 1);
	assert_string_equal(ci[0].run, "exp-*");
	assert_null(ci[0].stream);
	assert_string_equal(ci[0].start, "step=3");
	assert_string_equal(ci[0].failures, "consumer-failures/golden");
	assert_int_equal(ci[0].created, 1796454449265143342LL);
	assert_int_equal(ci[0].npositions, 2);
	assert_int_equal(ci[0].positions[0].seq, 2); /* recorded */
	assert_int_equal(ci[0].positions[1].seq, 3); /* from step=3: seq 4 is next */
	assert_int_equal(ci[0].events_behind, 3 + 2);
	pt_consumer_info_free(ci, nc);
	uint64_t first;
	assert_int_equal(count_all(f->st, "golden", NULL, &first), 5);
	assert_int_equal(first, 3);
	free(dst);
	free(dir);
}

static void test_commits_append_and_the_file_stays_small(void **state)
{
	tu_fixture *f = *state;
	record(f->st, "m", NULL, 3000, 0);
	pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
	o.batch_max = 1;
	o.follow = 0;
	pt_consumer *c;
	TU_OK(pt_consumer_open(&c, f->st, "small", &o));
	seen_t *s = calloc(1, sizeof *s);
	TU_OK(pt_consumer_run(c, seen_handler, s));
	pt_consumer_close(c);
	assert_int_equal(s->distinct, 3000);
	char *p = tu_path(pt_store_path(f->st), "consumers/small/position");
	long size = tu_file_size(p);
	assert_true(size > 0 && size < 200000); /* 3000 commits: rewritten as it grew */
	pt_consumer_info *ci;
	size_t nc;
	TU_OK(pt_consumers_list(f->st, "small", &ci, &nc));
	assert_int_equal(ci[0].positions[0].seq, 3000);
	assert_int_equal(ci[0].events_behind, 0);
	pt_consumer_info_free(ci, nc);
	/* the last block cut in the middle: the consumer resumes one batch earlier */
	tu_truncate(p, size - 5);
	TU_OK(pt_consumer_open(&c, f->st, "small", &o));
	memset(s, 0, sizeof *s);
	TU_OK(pt_consumer_run(c, seen_handler, s));
	assert_int_equal(s->distinct, 1);
	assert_int_equal(s->seen[3000], 1);
	pt_consumer_close(c);
	free(s);
	free(p);
}

/* ---- SIGKILL at random moments, then resume ---- */
static int log_fd = -1;

static int logging_handler(void *ud, pt_consumer_batch *b)
{
	(void)ud;
	size_t n;
	const pt_consumer_event *ev = pt_consumer_batch_events(b, &n);
	char line[64];
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(line, sizeof line, "%llu\n", (unsigned long long)ev[i].seq);
		if (write(log_fd, line, (size_t)k) != k)
			return 1;
	}
	return 0;
}

static void test_sigkill_then_resume(void **state)
{
	tu_fixture *f = *state;
	const int total = 20000;
	record(f->st, "k", NULL, total, 0);
	uint64_t last = 0;
	{
		pt_stream_info si;
		TU_OK(pt_stream_stat(f->st, "k", NULL, &si));
		last = si.seq_last;
	}
	char *logp = tu_path(f->dir, "handled.log");
	int kills = getenv("PT_LONG") ? 200 : 5;
	unsigned seed = (unsigned)time(NULL);
	int done = 0;
	for (int round = 0; round < kills + 50 && !done; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
			pt_consumer_options o = PT_CONSUMER_OPTIONS_INIT;
			o.run = "k";
			o.batch_max = 37;
			o.follow = 0;
			pt_consumer *c;
			if (pt_consumer_open(&c, f->st, "killme", &o))
				_exit(3);
			int rc = pt_consumer_run(c, logging_handler, NULL);
			pt_consumer_close(c);
			_exit(rc ? 4 : 0);
		}
		if (round < kills) {
			struct timespec ts = {0, (long)(rand_r(&seed) % 20) * 1000000L};
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		int status;
		waitpid(pid, &status, 0);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			done = 1;
		}
	}
	assert_true(done);
	/* every event at least once; after each kill, the next run started no later than the position */
	FILE *fp = fopen(logp, "r");
	assert_non_null(fp);
	unsigned char *seen = calloc(last + 1, 1);
	unsigned long long q, dups = 0;
	while (fscanf(fp, "%llu", &q) == 1) {
		assert_true(q >= 1 && q <= last);
		if (seen[q])
			dups++;
		seen[q] = 1;
	}
	fclose(fp);
	for (uint64_t i = 1; i <= last; i++)
		if (!seen[i])
			fail_msg("seq %llu lost after kills", (unsigned long long)i);
	/* at most one batch again per kill */
	assert_true(dups <= (unsigned long long)kills * 37);
	free(seen);
	free(logp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_everything_in_batches_and_resumes, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_second_process_is_refused_naming_the_holder, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_start_points, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_poison_event_and_random_failures, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_runs_appearing_while_following_a_glob, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_runs_appearing_while_following_the_store, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_runs_appearing_without_inotify, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_many_streams_idle_ones_hold_no_descriptor, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_position_is_reported, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_golden_position_file_is_read, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_commits_append_and_the_file_stays_small, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_then_resume, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
