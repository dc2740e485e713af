"""Recorder.artifact: files and bytes stored content-addressed beside a run,
kept by gc, checked by verify, listed by `provtrace data`, never the
checkpoint in effect; errors for vanished, non-regular and wrong inputs."""

import hashlib
import json
import os
import subprocess
import unittest

import numpy as np

from ptutil import StoreTest

import provtrace
from provtrace.replay import checkpoint_in_effect
from provtrace._store import open_store

BIN = os.environ.get("PROVTRACE_BIN")


class ArtifactTest(StoreTest):
    def cli(self, *args):
        return subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True)

    def write(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_file_and_bytes(self):
        data = os.urandom(9 * 1024 * 1024 + 17)  # three parts, the last short
        p = self.write("w.bin", data)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.artifact("weights", p, step=4)
            b = rec.artifact("note", b"hello")
            c = rec.artifact("empty", bytearray())
        self.assertEqual(a["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual((a["size"], a["parts"]), (len(data), 3))
        self.assertEqual(b["sha256"], hashlib.sha256(b"hello").hexdigest())
        self.assertEqual((c["size"], c["parts"]), (0, 0))
        evs = [e for e in self.user_events("r") if e["kind"] == "artifact"]
        self.assertEqual([e["name"] for e in evs], ["weights", "note", "empty"])
        self.assertEqual(evs[0]["step"], 4)
        self.assertEqual(len(evs[0]["objects"]), 3)
        self.assertEqual(evs[0]["sha256"], a["sha256"])

    def test_equal_parts_stored_once(self):
        part = os.urandom(4 << 20)
        p = self.write("twice.bin", part + part)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.artifact("twice", p)
            rec.artifact("again", part)
        ev = [e for e in self.user_events("r") if e["kind"] == "artifact"]
        self.assertEqual(a["parts"], 2)
        self.assertEqual(ev[0]["objects"][0], ev[0]["objects"][1])
        self.assertEqual(ev[1]["objects"], ev[0]["objects"][:1])

    def test_not_the_checkpoint_in_effect(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {"w": np.arange(10.0)}, wait=True)
            rec.artifact("data", b"x" * 1000, step=2)
        ck = checkpoint_in_effect(open_store(self.store), "r", "main", None, None)
        self.assertIsNotNone(ck)
        self.assertEqual(ck.step, 1)

    def test_reserved_kind(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            with self.assertRaisesRegex(provtrace.InvalidError, "reserved"):
                rec.event("artifact", "fake", objects=["0" * 64])

    def test_errors_record_nothing(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            with self.assertRaisesRegex(provtrace.NotFoundError, "gone.bin"):
                rec.artifact("x", os.path.join(self.tmp, "gone.bin"))
            with self.assertRaisesRegex(provtrace.InvalidError, "not a regular file"):
                rec.artifact("x", self.tmp)
            with self.assertRaises(TypeError):
                rec.artifact("x", 42)
            with self.assertRaises(TypeError):
                rec.artifact(7, b"x")
        self.assertEqual([e for e in self.user_events("r") if e["kind"] == "artifact"], [])

    @unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
    def test_cli_gc_verify(self):
        data = os.urandom(5 << 20)
        p = self.write("d.bin", data)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.artifact("d", p, step=1)
        out = self.cli("data", "--run", "r")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(hashlib.sha256(data).hexdigest(), out.stdout)
        self.assertIn(str(len(data)), out.stdout)
        js = self.cli("data", "--run", "r", "--json")
        self.assertEqual(js.returncode, 0, js.stderr)
        rows = [json.loads(line) for line in js.stdout.splitlines()]
        self.assertEqual([r["name"] for r in rows], ["d"])
        g = self.cli("gc", "--grace", "0")
        self.assertEqual(g.returncode, 0, g.stderr)
        self.assertIn("removed 0 unreferenced objects", g.stdout)
        v = self.cli("verify")
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # a damaged part is found by verify
        oid = rows[0]["objects"][1]
        obj = os.path.join(self.store, "objects", oid[:2], oid[2:])
        self.assertTrue(os.path.exists(obj), obj)
        os.chmod(obj, 0o600)
        os.remove(obj)
        v = self.cli("verify")
        self.assertNotEqual(v.returncode, 0, v.stdout)
        self.assertIn(oid, v.stdout + v.stderr)
        u = self.cli("data", "--run", "nope")
        self.assertNotEqual(u.returncode, 0)


if __name__ == "__main__":
    unittest.main()
