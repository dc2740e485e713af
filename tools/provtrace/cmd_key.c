/* cmd_key.c - `provtrace key generate|trust`: Ed25519 keys for signed checkpoints. */
#include "cli.h"

#include <string.h>

static const char help[] =
	"usage: provtrace key generate --out FILE [--name NAME]\n"
	"       provtrace key trust FILE.pub|KEY\n"
	"\n"
	"generate: make an Ed25519 key pair for signing the checkpoints of a stream's\n"
	"Merkle tree.  FILE gets the private key (mode 0600; keep it outside the\n"
	"store), FILE.pub the public verifier key, one line NAME+KEYID+BASE64 (the\n"
	"C2SP signed-note format).  Never overwrites a file.  NAME defaults to\n"
	"\"provtrace\"; it names the signer in every signature line.\n"
	"\n"
	"trust: list a verifier key in the store's config (`trusted_key = ...`):\n"
	"`verify` then checks each stream's signed checkpoint against it.\n"
	"\n"
	"  --out FILE    where the private key goes (FILE.pub beside it)\n"
	"  --name NAME   the key's name (1-100 printable characters, no '+' or space)\n"
	"  --store DIR   the store (trust)\n";

int cmd_key(cli_ctx *ctx, int argc, char **argv)
{
	const char *out = NULL, *name = "provtrace";
	const cli_opt opts[] = {{"out", 'o', CLI_STR, &out}, {"name", 0, CLI_STR, &name}, {0}};
	const cli_spec spec = {"key", help, opts, 1, 2, "generate or trust"};
	char **args;
	int nargs;
	int prc = cli_parse(ctx, &spec, argc, argv, &args, &nargs);
	if (prc >= 0)
		return prc;
	if (!strcmp(args[0], "generate")) {
		if (nargs != 1)
			return cli_usage("key generate", "takes no argument (the file is --out FILE)");
		if (!out)
			return cli_usage("key generate", "--out FILE is required");
		char *vk = NULL;
		if (pt_key_generate(out, name, &vk))
			return cli_lib_error();
		printf("%s\n", vk);
		cli_msg("private key in %s (mode 0600), public key in %s.pub", out, out);
		pt_free(vk);
		return CLI_OK;
	}
	if (!strcmp(args[0], "trust")) {
		if (nargs != 2)
			return cli_usage("key trust", "needs the public key: a FILE.pub or a NAME+KEYID+BASE64 line");
		pt_store *st = NULL;
		int rc = cli_open_store(ctx, &st);
		if (rc)
			return rc;
		rc = pt_key_trust(st, args[1]) ? cli_lib_error() : CLI_OK;
		pt_store_free(st);
		return rc;
	}
	return cli_usage("key", "unknown subcommand \"%s\" (generate or trust)", args[0]);
}
