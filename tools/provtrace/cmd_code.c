/* cmd_code.c - `provtrace code`: the code provenance of a run, its patch, a restore. */
#include "cli.h"
#include "provtrace/code.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace code [--run RUN] [--stream S] [--json | --diff | --restore DIR [--repo PATH]]\n"
	"\n"
	"The code provenance recorded at the start of a run (its first `code` event):\n"
	"repository, commit, branch, upstream, remotes (credentials removed), whether\n"
	"the tree was dirty, the changed and untracked files, submodules.\n"
	"\n"
	"  --run RUN       the run (default: the store's only run)\n"
	"  --stream S      the stream (default: main)\n"
	"  --json          the `code` event as one JSON object\n"
	"  --diff          print the stored patch (`git apply` accepts it)\n"
	"  --restore DIR   rebuild the exact source tree into DIR (new or empty): the\n"
	"                  commit checked out from the repository, the patch applied,\n"
	"                  the untracked files written, then checked against the\n"
	"                  recorded hashes. Exit 1 if anything could not be restored.\n"
	"  --repo PATH     with --restore: the repository to take the commit from\n"
	"                  (default: the one recorded)\n"
	"  --store DIR     the store\n";

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case 0100755: return " (executable)";
	case 0120000: return " (symlink)";
	case 0160000: return " (submodule)";
	case 040000: return " (nested repository)";
	default: return "";
	}
}

static void show(const char *run, const char *stream, const pt_code_provenance *p)
{
	char b[32];
	printf("run:        %s (stream %s)\n", run, stream);
	printf("state:      %s\n", p->state);
	if (p->message)
		printf("            %s\n", p->message);
	if (p->workdir || p->gitdir)
		printf("repository: %s\n", p->workdir ? p->workdir : p->gitdir);
	if (p->commit)
		printf("commit:     %s\n", p->commit);
	if (p->detached)
		printf("branch:     (detached HEAD)\n");
	else if (p->branch)
		printf("branch:     %s\n", p->branch);
	if (p->upstream) {
		printf("upstream:   %s", p->upstream);
		if (p->ahead >= 0)
			printf(" (%" PRId64 " ahead, %" PRId64 " behind)", p->ahead, p->behind);
		putchar('\n');
	}
	for (size_t i = 0; i < p->n_remotes; i++)
		printf("%s %s %s\n", i ? "           " : "remotes:   ", p->remotes[i].name,
		       p->remotes[i].url ? p->remotes[i].url : "(no url)");
	printf("dirty:      %s", p->dirty > 0 ? "yes" : p->dirty == 0 ? "no" : "unknown");
	if (p->dirty > 0)
		printf(" (%zu changed, %zu untracked)", p->n_changes, p->n_untracked);
	putchar('\n');
	if (p->truncated)
		printf("truncated:  %s\n", p->truncated_reason ? p->truncated_reason : "yes");
	if (p->patch_object)
		printf("patch:      %s (%s)\n", p->patch_object, cli_size(p->patch_bytes, b, sizeof b));
	if (p->n_changes)
		puts("changes:");
	for (size_t i = 0; i < p->n_changes; i++) {
		const pt_code_change *c = &p->changes[i];
		if (c->old_path)
			printf("  %c %s -> %s%s\n", c->status, c->old_path, c->path, mode_name(c->mode));
		else
			printf("  %c %s%s\n", c->status, c->path, mode_name(c->mode));
	}
	if (p->n_untracked)
		puts("untracked:");
	for (size_t i = 0; i < p->n_untracked; i++) {
		const pt_code_untracked *u = &p->untracked[i];
		printf("  %s%s  %s  %s\n", u->path, mode_name(u->mode),
		       cli_size(u->size, b, sizeof b),
		       u->object ? "stored" : u->size > p->untracked_max_bytes ? "not stored (over the limit)"
									 : "not stored");
	}
	if (p->n_submodules)
		puts("submodules:");
	for (size_t i = 0; i < p->n_submodules; i++) {
		const pt_code_submodule *s = &p->submodules[i];
		printf("  %s  %s", s->path, s->commit ? s->commit : "(no commit)");
		if (s->workdir_commit && (!s->commit || strcmp(s->commit, s->workdir_commit)))
			printf(" (checked out: %s)", s->workdir_commit);
		if (s->url)
			printf("  %s", s->url);
		putchar('\n');
	}
	printf("captured in %.1f ms\n", (double)p->capture_us / 1000.0);
}

static int print_json(const pt_store *st, const char *run, const char *stream)
{
	pt_iter_options io = PT_ITER_OPTIONS_INIT;
	pt_iter *it = NULL;
	const pt_event_view *ev;
	const char *json;
	size_t len;
	io.kind = PT_KIND_CODE;
	if (pt_iter_open(&it, st, run, stream, &io))
		return cli_lib_error();
	int rc = pt_iter_next(it, &ev);
	if (rc == PT_ITEROVER) {
		cli_msg("run %s stream %s has no code event", run, stream);
		rc = CLI_ERROR;
	} else if (rc || pt_ev_json(ev, &json, &len)) {
		rc = cli_lib_error();
	} else {
		fwrite(json, 1, len, stdout);
		putchar('\n');
	}
	pt_iter_free(it);
	return rc;
}

static void problem(const char *path, const char *message, void *payload)
{
	cli_msg("not restored: %s%s%s", path, *path ? ": " : "", message);
}

int cmd_code(cli_ctx *ctx, int argc, char **argv)
{
	const char *run_opt = NULL, *stream_opt = NULL, *restore = NULL, *repo = NULL;
	bool json = false, diff = false;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run_opt},
				{"stream", 0, CLI_STR, &stream_opt},
				{"json", 0, CLI_FLAG, &json},
				{"diff", 0, CLI_FLAG, &diff},
				{"restore", 0, CLI_STR, &restore},
				{"repo", 0, CLI_STR, &repo},
				{0}};
	const cli_spec spec = {"code", help, opts, 0, 0};
	int prc = cli_parse(ctx, &spec, argc, argv, NULL, NULL);
	if (prc >= 0)
		return prc;
	if ((json ? 1 : 0) + (diff ? 1 : 0) + (restore ? 1 : 0) > 1)
		return cli_usage("code", "--json, --diff and --restore exclude each other");
	if (repo && !restore)
		return cli_usage("code", "--repo goes with --restore");
	if (restore && !*restore)
		return cli_usage("code", "--restore needs a directory");
	if (run_opt && pt_name_check("run", run_opt))
		return cli_usage("code", "%s", pt_error_last());
	if (stream_opt && pt_name_check("stream", stream_opt))
		return cli_usage("code", "%s", pt_error_last());

	cli_target t;
	int rc = cli_open(ctx, "code", run_opt, stream_opt, CLI_ONE_STREAM, &t);
	if (rc)
		return rc;
	pt_store *st = t.st;
	const char *run = t.run, *stream = t.stream;
	pt_code_provenance *p = NULL;
	char *patch = NULL;
	if (json) {
		rc = print_json(st, run, stream);
		goto done;
	}
	if (pt_code_read(&p, st, run, stream)) {
		rc = cli_lib_error();
		goto done;
	}
	if (diff) {
		size_t len = 0;
		if (pt_code_patch(&patch, &len, st, p)) {
			rc = cli_lib_error();
			goto done;
		}
		fwrite(patch, 1, len, stdout);
	} else if (restore) {
		size_t problems = 0;
		if (pt_code_restore(st, p, restore, repo, problem, NULL, &problems)) {
			rc = cli_lib_error();
			goto done;
		}
		if (problems) {
			cli_msg("restored %s into %s with %zu problem%s (listed above)",
				p->commit ? p->commit : "the recorded tree", restore, problems,
				problems == 1 ? "" : "s");
			rc = CLI_ERROR;
		} else {
			cli_msg("restored %s%s into %s: every recorded file matches",
				p->commit ? p->commit : "the recorded tree",
				p->patch_object || p->n_untracked ? " with the uncommitted changes" : "",
				restore);
		}
	} else {
		show(run, stream, p);
	}
done:
	pt_free(patch);
	pt_code_provenance_free(p);
	cli_close(&t);
	return rc;
}
