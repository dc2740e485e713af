/* cmd_prove.c - `provtrace prove`: a proof bundle anyone can check offline. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
	"usage: provtrace prove --run RUN [--stream STREAM] --seq N [-o FILE]\n"
	"       provtrace prove --consistency OLD.note [NEW.note] [-o FILE]\n"
	"\n"
	"Write a self-contained JSON proof bundle (docs/PROOFS.md, field by field):\n"
	"event N's bytes, its RFC 6962 inclusion proof, and the stream's newest\n"
	"signed checkpoint (STREAM/checkpoint.note), which must cover N.  Anyone\n"
	"checks it offline with `provtrace check-proof FILE --key KEY.pub`, or with\n"
	"openssl and a page of Python (docs/PROOFS.md).\n"
	"\n"
	"--consistency: prove that the log of checkpoint NEW.note (default: the\n"
	"stream's current signed checkpoint) extends the log of OLD.note (a signed\n"
	"checkpoint kept elsewhere, e.g. an earlier bundle's or an anchor's).  The\n"
	"stream is the one OLD.note names.\n"
	"\n"
	"  --run RUN, --stream STREAM   the stream (default stream: main)\n"
	"  --seq N                      the event\n"
	"  -o, --out FILE               write the bundle to FILE (default: stdout)\n"
	"  --store DIR                  the store\n";

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *s = malloc(cap + 1);
	size_t k;
	while (s && (k = fread(s + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			if (cap >= (64u << 20)) {
				free(s);
				s = NULL;
				break;
			}
			char *t = realloc(s, cap * 2 + 1);
			if (!t) {
				free(s);
				s = NULL;
				break;
			}
			s = t;
			cap *= 2;
		}
	}
	fclose(f);
	if (s)
		s[n] = 0;
	return s;
}

int cmd_prove(cli_ctx *ctx, int argc, char **argv)
{
	const char *run = NULL, *stream = NULL, *out = NULL, *cons = NULL;
	uint64_t seq = 0;
	int seq_seen = 0;
	const cli_opt opts[] = {{"run", 0, CLI_STR, &run},
				{"stream", 0, CLI_STR, &stream},
				{"seq", 0, CLI_U64, &seq, "a sequence number", 1, 0, &seq_seen},
				{"out", 'o', CLI_STR, &out},
				{"consistency", 0, CLI_STR, &cons},
				{0}};
	const cli_spec spec = {"prove", help, opts, 0, 1, NULL, "(NEW.note, with --consistency)"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (cons && (seq_seen || run || stream))
		return cli_usage("prove", "--consistency takes the stream from OLD.note: no --run, --stream or --seq");
	if (!cons && nargs)
		return cli_usage("prove", "unexpected argument \"%s\"", args[0]);
	if (!cons && !seq_seen)
		return cli_usage("prove", "--seq N is required");
	char *bundle = NULL, *old_note = NULL, *new_note = NULL;
	int rc = CLI_OK;
	cli_target t = {0};
	if (cons) {
		pt_store *st = NULL;
		if ((rc = cli_open_store(ctx, &st)))
			return rc;
		if (!(old_note = read_text(cons)) || (nargs && !(new_note = read_text(args[0])))) {
			cli_msg("cannot read %s: %s", old_note ? args[0] : cons, strerror(errno));
			rc = CLI_ERROR;
		} else if (pt_prove_consistency(&bundle, st, old_note, new_note)) {
			rc = cli_lib_error();
		}
		pt_store_free(st);
	} else {
		if ((rc = cli_open(ctx, "prove", run, stream, CLI_ONE_STREAM, &t)))
			return rc;
		if (pt_prove(&bundle, t.st, t.run, t.stream, seq))
			rc = cli_lib_error();
		cli_close(&t);
	}
	if (!rc) {
		FILE *f = out ? fopen(out, "w") : stdout;
		if (!f || fputs(bundle, f) < 0 || (out && fclose(f))) {
			cli_msg("cannot write %s: %s", out ? out : "stdout", strerror(errno));
			rc = CLI_ERROR;
		}
	}
	pt_free(bundle);
	free(old_note);
	free(new_note);
	return rc;
}

static const char check_help[] =
	"usage: provtrace check-proof FILE --key KEY.pub|KEY [--json]\n"
	"\n"
	"Check a proof bundle written by `provtrace prove`, offline: no store is\n"
	"needed.  Every field is checked (docs/PROOFS.md): the checkpoint's Ed25519\n"
	"signature by KEY, its origin against the bundle's run and stream, the tree\n"
	"size, the exact proof length, the event bytes and their seq, and the proof\n"
	"against the signed root.  Prints the proven event (or the two tree sizes).\n"
	"FILE - reads stdin.\n"
	"\n"
	"  --key KEY    the signer's verifier key: a .pub file or the NAME+KEYID+BASE64 line\n"
	"  --json       print the result as one JSON object\n"
	"\n"
	"Exit status: 0 the bundle proves what it says; 1 it does not (the reason is\n"
	"printed); 2 usage.\n";

int cmd_check_proof(cli_ctx *ctx, int argc, char **argv)
{
	const char *key = NULL;
	bool json = false;
	const cli_opt opts[] = {{"key", 0, CLI_STR, &key}, {"json", 0, CLI_FLAG, &json}, {0}};
	const cli_spec spec = {"check-proof", check_help, opts, 1, 1, "the bundle FILE"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (!key)
		return cli_usage("check-proof", "--key is required (the signer's .pub file)");
	char *text = !strcmp(args[0], "-") ? read_text("/dev/stdin") : read_text(args[0]);
	if (!text) {
		cli_msg("cannot read %s: %s", args[0], strerror(errno));
		return CLI_ERROR;
	}
	char *report = NULL;
	int rc = CLI_OK;
	if (pt_check_proof(&report, text, strlen(text), key)) {
		rc = cli_lib_error();
	} else if (json) {
		printf("%s\n", report);
	} else {
		printf("OK: %s\n", report);
	}
	pt_free(report);
	free(text);
	return rc;
}
