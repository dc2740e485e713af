"""Signed checkpoints and proof bundles end to end from Python: keys,
Recorder(signing_key=), Run.prove, provtrace.check_proof, consistency
proofs, hostile bundles refused with the reason, the signature checked by
the openssl CLI, and the bundle verified by a standalone script that uses no
provtrace code (docs/PROOFS.md)."""

import base64
import copy
import json
import os
import shutil
import subprocess
import sys
import unittest

from ptutil import HERE, StoreTest
import provtrace


def openssl_or_fail(test):
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            test.fail("the openssl command is missing (tools/setup.sh installs it)")
        test.skipTest("the openssl command is not installed")


class ProofTest(StoreTest):
    def setUp(self):
        super().setUp()
        self.key = os.path.join(self.tmp, "team.key")
        self.vkey = provtrace.generate_key(self.key, "team")
        with provtrace.Recorder("r", store=self.store, capture_code=False, signing_key=self.key,
                                segment_max_bytes=4096, batch_max_events=16) as rec:
            for i in range(200):
                rec.metric("loss", 1.0 / (i + 1), step=i)
                if i == 99:
                    self.mid_note = rec.sign_checkpoint()
        self.run_ = provtrace.open_run("r", store=self.store)

    def test_keys_are_files_with_the_right_modes(self):
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        self.assertEqual(open(self.key + ".pub").read().strip(), self.vkey)
        self.assertTrue(open(self.key).read().startswith("PRIVATE+KEY+team+"))
        with self.assertRaises(provtrace.ExistsError):
            provtrace.generate_key(self.key, "team")
        with self.assertRaises(provtrace.InvalidError):
            provtrace.generate_key(os.path.join(self.tmp, "x"), "bad name")

    def test_prove_and_check(self):
        b = self.run_.prove(123)
        self.assertEqual(b["tree_size"], 201)  # 200 metrics + the run_end close() writes
        self.assertEqual(b["seq"], 123)
        self.assertLess(len(json.dumps(b)), 8192)
        for key in (self.key + ".pub", self.vkey):
            res = provtrace.check_proof(b, key)
            self.assertEqual(res["event"]["seq"], 123)
            self.assertEqual(res["event"]["name"], "loss")
            self.assertEqual(res["run"], "r")
        # every event of the tree, first and last included
        for seq in (1, 2, 64, 199, 200):
            self.assertEqual(provtrace.check_proof(self.run_.prove(seq), self.vkey)["seq"], seq)
        with self.assertRaises(provtrace.NotFoundError):
            self.run_.prove(202)

    def refused(self, bundle, why, key=None):
        with self.assertRaises(provtrace.CorruptError) as cm:
            provtrace.check_proof(bundle, key or self.vkey)
        self.assertIn(why, str(cm.exception))

    def test_hostile_bundles_are_refused_with_the_reason(self):
        good = self.run_.prove(77)
        h = lambda **kw: dict(copy.deepcopy(good), **kw)
        self.refused(h(tree_size=199), "not the signed checkpoint's size")
        self.refused(h(tree_size=400), "not the signed checkpoint's size")
        self.refused(h(proof=good["proof"][:-1]), "needs exactly")
        self.refused(h(proof=good["proof"] + [good["proof"][0]]), "needs exactly")
        self.refused(h(proof=[]), "needs exactly")
        flipped = bytearray(base64.b64decode(good["proof"][2]))
        flipped[0] ^= 1
        self.refused(h(proof=good["proof"][:2] + [base64.b64encode(bytes(flipped)).decode()] + good["proof"][3:]),
                     "does not lead to the tree's root")
        self.refused(h(proof=good["proof"][:1] + ["AAAA"] + good["proof"][2:]), "not the base64 of 32 bytes")
        self.refused(h(seq=78), "leaf_index 76 is not seq 78 - 1")
        self.refused(h(seq=78, leaf_index=77), "not the event of seq 78")
        other = self.run_.prove(78)
        self.refused(h(leaf=other["leaf"]), "not the event of seq 77")
        self.refused(h(seq=78, leaf_index=77, leaf=other["leaf"]), "does not lead to the tree's root")
        self.refused(h(run="someone-else"), "the signed checkpoint is of run \"r\"")
        self.refused(h(stream="other"), "the signed checkpoint is of run \"r\"")
        self.refused(h(extra=1), "unknown field \"extra\"")
        self.refused(h(format="x"), "format is")
        self.refused(h(version=2), "version 2")
        self.refused(h(kind="consistency"), "a consistency bundle has")
        b = h()
        del b["leaf"]
        self.refused(b, "an inclusion bundle has")
        self.refused("{not json", "not JSON")
        self.refused(h(leaf="!!!!"), "leaf is not base64")
        # the note: another key, a changed size or root, another origin, no signature
        other_key = os.path.join(self.tmp, "other.key")
        provtrace.generate_key(other_key, "team")  # same name, another key
        self.refused(good, "not by this one (key id differs)", key=other_key + ".pub")
        provtrace.generate_key(os.path.join(self.tmp, "o2.key"), "mallory")
        self.refused(good, "no signature by the key mallory", key=os.path.join(self.tmp, "o2.key.pub"))
        note = good["checkpoint"]
        origin, size, root, rest = note.split("\n", 3)
        self.refused(h(checkpoint="\n".join([origin, "150", root, rest])), "does not verify")
        self.refused(h(checkpoint="\n".join([origin.replace("/r/", "/s/"), size, root, rest])), "does not verify")
        self.refused(h(checkpoint="\n".join([origin, size, root]) + "\n\n"), "no signature")
        self.refused(h(checkpoint="\n".join([origin, "0150", root, rest])), "canonical decimal")
        # a real signature over another origin: another store's stream, same key
        st2 = os.path.join(self.tmp, "store2")
        with provtrace.Recorder("r", store=st2, capture_code=False, signing_key=self.key) as rec:
            for i in range(200):
                rec.metric("loss", 1.0 / (i + 1), step=i)
        foreign = provtrace.open_run("r", store=st2).prove(77)
        provtrace.check_proof(foreign, self.vkey)  # valid for its own store
        mixed = h(checkpoint=foreign["checkpoint"])
        self.refused(mixed, "does not lead to the tree's root")
        with self.assertRaises(provtrace.InvalidError):
            provtrace.check_proof(good, "not-a-key")

    def test_consistency(self):
        final = open(os.path.join(self.store, "runs", "r", "main", "checkpoint.note")).read()
        b = self.run_.prove_consistency(self.mid_note)
        self.assertEqual((b["old_size"], b["tree_size"]), (100, 201))
        res = provtrace.check_proof(b, self.vkey)
        self.assertEqual(res["kind"], "consistency")
        self.assertEqual(res["old_size"], 100)
        self.refused(dict(b, proof=b["proof"][1:]), "needs exactly")
        self.refused(dict(b, old_size=99), "not the old checkpoint's size")
        # the old and new swapped: old larger than new
        self.refused(dict(b, old_checkpoint=final, checkpoint=self.mid_note, tree_size=100, old_size=201),
                     "larger than the new")
        # a rewritten store: event 50 changed in place, re-sealed consistently -> refused at prove time
        b2 = self.run_.prove_consistency(self.mid_note, final)
        self.assertEqual(b2["tree_size"], 201)

    def test_openssl_checks_the_signature_and_a_standalone_script_the_bundle(self):
        openssl_or_fail(self)
        path = os.path.join(self.tmp, "b.json")
        with open(path, "w") as f:
            json.dump(self.run_.prove(150), f)
        r = subprocess.run([sys.executable, os.path.join(HERE, "verify_bundle_standalone.py"), path,
                            self.key + ".pub"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OK: seq 150 of r/main", r.stdout)
        # a flipped proof hash: the script refuses too
        b = self.run_.prove(150)
        raw = bytearray(base64.b64decode(b["proof"][0]))
        raw[5] ^= 0x10
        b["proof"][0] = base64.b64encode(bytes(raw)).decode()
        with open(path, "w") as f:
            json.dump(b, f)
        r = subprocess.run([sys.executable, os.path.join(HERE, "verify_bundle_standalone.py"), path,
                            self.key + ".pub"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not lead to the signed root", r.stdout + r.stderr)
        # a changed checkpoint body: openssl refuses the signature
        b = self.run_.prove(150)
        b["checkpoint"] = b["checkpoint"].replace("\n201\n", "\n199\n")
        with open(path, "w") as f:
            json.dump(b, f)
        r = subprocess.run([sys.executable, os.path.join(HERE, "verify_bundle_standalone.py"), path,
                            self.key + ".pub"], capture_output=True, text=True)
        self.assertIn("signature does not verify", r.stdout + r.stderr)

    def test_verify_uses_trusted_keys(self):
        provtrace.trust_key(self.key + ".pub", store=self.store)
        self.assertTrue(provtrace.verify(self.store).ok)
        other = os.path.join(self.tmp, "o.key")
        provtrace.generate_key(other, "team2")
        st3 = os.path.join(self.tmp, "s3")
        shutil.copytree(self.store, st3)
        cfg = os.path.join(st3, "config")
        lines = [l for l in open(cfg) if not l.startswith("trusted_key")]
        open(cfg, "w").write("".join(lines))
        provtrace.trust_key(other + ".pub", store=st3)
        rep = provtrace.verify(st3)
        self.assertFalse(rep.ok)
        self.assertIn("not signed by a trusted key", str(list(rep)))

    def test_anchors(self):
        if shutil.which("git") is None:
            self.fail("git is needed to make the anchor repository") if os.environ.get("CI") == "true" \
                else self.skipTest("git not installed")
        repo = os.path.join(self.tmp, "anchors.git")
        subprocess.run(["git", "init", "-q", "--bare", repo], check=True)
        rep = provtrace.anchor_push(repo, store=self.store)
        self.assertEqual(rep["anchored"], [{"run": "r", "stream": "main", "size": 201}])
        self.assertEqual(len(rep["commit"]), 40)
        ok = provtrace.anchor_verify(repo, store=self.store)
        self.assertEqual((ok["ok"], ok["checked"]), (True, 1))
        # roll the stream back to an older copy, its signed checkpoint with it
        sdir = os.path.join(self.store, "runs", "r", "main")
        older = os.path.join(self.tmp, "older")
        shutil.copytree(sdir, older)
        with provtrace.Recorder("r", store=self.store, capture_code=False, signing_key=self.key,
                                append=True) as rec:
            rec.metric("loss", 0.1, step=999)
        self.assertEqual(provtrace.anchor_push(repo, store=self.store)["anchored"][0]["size"], 203)
        shutil.rmtree(sdir)
        shutil.copytree(older, sdir)
        self.assertTrue(provtrace.verify(self.store).ok)  # inside the store: a valid older state
        bad = provtrace.anchor_verify(repo, store=self.store)
        self.assertFalse(bad["ok"])
        self.assertIn("rolled back or truncated: the stream has 201 events", str(bad["problems"]))
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.anchor_verify(repo, store=self.store, branch="nothing-here")


if __name__ == "__main__":
    unittest.main()
