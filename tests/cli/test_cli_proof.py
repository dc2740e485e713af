#!/usr/bin/python3
"""`provtrace key`, `emit --signing-key`, `prove`, `check-proof`, and `verify`
against signed checkpoints, end to end through the binary ($PROVTRACE_BIN)."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("PROVTRACE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "provtrace"))


def pt(*args, stdin=None):
    env = dict(os.environ)
    env.pop("PROVTRACE_STORE", None)
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


class Proofs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pt-cli-proof-")
        self.s = os.path.join(self.tmp, "s")
        self.key = os.path.join(self.tmp, "ml.key")
        self.assertEqual(pt("init", "--store", self.s).returncode, 0)
        r = pt("key", "generate", "--out", self.key, "--name", "ml-team")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.vkey = r.stdout.strip()
        lines = "".join('{"kind":"metric","name":"loss","step":%d,"value":%d.5}\n' % (i, i) for i in range(1, 501))
        r = pt("emit", "--store", self.s, "--run", "r", "--signing-key", self.key, "-q", stdin=lines)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_key_files(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        self.assertEqual(open(self.key + ".pub").read().strip(), self.vkey)
        self.assertTrue(self.vkey.startswith("ml-team+"))
        r = pt("key", "generate", "--out", self.key)
        self.assertEqual(r.returncode, 1)
        self.assertIn("never overwritten", r.stderr)
        self.assertEqual(pt("key", "generate").returncode, 2)
        self.assertEqual(pt("key", "frobnicate").returncode, 2)
        r = pt("key", "generate", "--out", os.path.join(self.tmp, "x"), "--name", "a+b")
        self.assertEqual(r.returncode, 1)

    def test_prove_check(self):
        out = os.path.join(self.tmp, "b.json")
        r = pt("prove", "--store", self.s, "--run", "r", "--seq", "321", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = json.load(open(out))
        self.assertEqual((b["seq"], b["tree_size"], b["leaf_index"]), (321, 500, 320))
        r = pt("check-proof", out, "--key", self.key + ".pub", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = json.loads(r.stdout)
        self.assertEqual(rep["event"]["step"], 321)
        # offline: no store at all
        shutil.rmtree(self.s)
        r = pt("check-proof", out, "--key", self.vkey)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("OK"))
        # a hostile bundle: exit 1 and the reason
        b["tree_size"] = 400
        json.dump(b, open(out, "w"))
        r = pt("check-proof", out, "--key", self.vkey)
        self.assertEqual(r.returncode, 1)
        self.assertIn("proof refused: tree_size 400 is not the signed checkpoint's size 500", r.stderr)
        self.assertEqual(pt("check-proof", out).returncode, 2)  # --key required

    def test_prove_errors(self):
        r = pt("prove", "--store", self.s, "--run", "r", "--seq", "501")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not covered by r/main's signed checkpoint (500 events)", r.stderr)
        self.assertEqual(pt("prove", "--store", self.s, "--run", "r").returncode, 2)
        lines = '{"kind":"note","text":"unsigned"}\n'
        self.assertEqual(pt("emit", "--store", self.s, "--run", "u", "-q", stdin=lines).returncode, 0)
        r = pt("prove", "--store", self.s, "--run", "u", "--seq", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("has no signed checkpoint", r.stderr)

    def test_consistency_and_rewritten_history(self):
        old = os.path.join(self.tmp, "old.note")
        shutil.copy(os.path.join(self.s, "runs", "r", "main", "checkpoint.note"), old)
        lines = "".join('{"kind":"metric","name":"loss","step":%d,"value":1.0}\n' % i for i in range(501, 601))
        self.assertEqual(pt("emit", "--store", self.s, "--run", "r", "--signing-key", self.key, "-q",
                            stdin=lines).returncode, 0)
        out = os.path.join(self.tmp, "c.json")
        r = pt("prove", "--store", self.s, "--consistency", old, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = pt("check-proof", out, "--key", self.key + ".pub", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["old_size"], 500)
        self.assertEqual(json.loads(r.stdout)["tree_size"], 600)
        # a store whose history was replaced (another run's events under this run's
        # name, re-signed by a thief of the key) does not extend the old checkpoint
        s2 = os.path.join(self.tmp, "s2")
        self.assertEqual(pt("init", "--store", s2).returncode, 0)
        shutil.copy(os.path.join(self.s, "config"), os.path.join(s2, "config"))  # same store id
        forged = "".join('{"kind":"metric","name":"loss","step":%d,"value":9.0}\n' % i for i in range(1, 601))
        self.assertEqual(pt("emit", "--store", s2, "--run", "r", "--signing-key", self.key, "-q",
                            stdin=forged).returncode, 0)
        r = pt("prove", "--store", s2, "--consistency", old)
        self.assertEqual(r.returncode, 1)
        self.assertIn("are not the ones the old checkpoint signed", r.stderr)

    def test_verify_with_trusted_key(self):
        self.assertEqual(pt("key", "trust", "--store", self.s, self.key + ".pub").returncode, 0)
        self.assertEqual(pt("key", "trust", "--store", self.s, self.vkey).returncode, 0)  # idempotent
        cfg = open(os.path.join(self.s, "config")).read()
        self.assertEqual(cfg.count("trusted_key = "), 1)
        self.assertEqual(pt("verify", "--store", self.s).returncode, 0)
        # a rollback the chain cannot show: the newest segment deleted and the chain
        # replaced by its older copy; the signed checkpoint names the loss
        chain = os.path.join(self.s, "runs", "r", "main", "chain")
        shutil.copy(chain, chain + ".old")
        segdir = os.path.join(self.s, "runs", "r", "main", "segments")
        before = set(os.listdir(segdir))
        lines = "".join('{"kind":"note","text":"%d"}\n' % i for i in range(50))
        self.assertEqual(pt("emit", "--store", self.s, "--run", "r", "--signing-key", self.key, "-q",
                            stdin=lines).returncode, 0)
        self.assertEqual(pt("verify", "--store", self.s).returncode, 0)
        for n in set(os.listdir(segdir)) - before:
            os.unlink(os.path.join(segdir, n))
        os.replace(chain + ".old", chain)
        r = pt("verify", "--store", self.s)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the stream has 500 events but its signed checkpoint covers 550", r.stdout + r.stderr)
        self.assertEqual(pt("key", "trust", "--store", self.s, "garbage+1+2").returncode, 1)

    def test_anchor_push_and_verify(self):
        repo = os.path.join(self.tmp, "anchors.git")
        subprocess.run(["git", "init", "-q", "--bare", repo], check=True)
        r = pt("anchor", "push", repo, "--store", self.s)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("anchored: commit", r.stdout)
        r = pt("verify", "--store", self.s, "--anchors", repo)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("anchors: 1 anchored checkpoint checked", r.stdout)
        # renamed: the stream moved under another run name
        os.rename(os.path.join(self.s, "runs", "r"), os.path.join(self.s, "runs", "q"))
        r = pt("verify", "--store", self.s, "--anchors", repo, "--json")
        self.assertEqual(r.returncode, 1)
        anchors = json.loads(r.stdout.splitlines()[-1])["anchors"]
        self.assertFalse(anchors["ok"])
        self.assertIn("renamed or copied there", json.dumps(anchors["problems"]))
        self.assertIn("q/main", json.dumps(anchors["problems"]))
        self.assertEqual(pt("anchor", "pull", repo).returncode, 2)
        r = pt("anchor", "push", os.path.join(self.tmp, "no-such-repo"), "--store", self.s)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main()
