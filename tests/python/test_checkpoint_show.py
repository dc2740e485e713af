"""Checkpoint.paths() and `provtrace checkpoint show`: what a nested
checkpoint holds, leaf by leaf, under the path of the state it came from."""

import json
import os
import subprocess
import unittest

import numpy as np

from ptutil import StoreTest

import provtrace
from provtrace._store import open_store

BIN = os.environ.get("PROVTRACE_BIN")


class CheckpointShowTest(StoreTest):
    STATE = {"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(2)},
             "optimizer": {"state": {0: {"step": 3}}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999)}]},
             "epoch": 7, "note": "text", "empty": {}}

    def record(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.checkpoint(10, self.STATE, wait=True)
            b = rec.checkpoint(20, {"flat": np.ones(3, dtype=np.int64)}, wait=True)
        return a, b

    def cli(self, *args):
        return subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True)

    def test_paths(self):
        a, b = self.record()
        ck = provtrace.Checkpoint(open_store(self.store), a)
        paths = ck.paths()
        by = {p["path"]: p for p in paths}
        self.assertEqual(by["model.w"]["type"], "tensor")
        self.assertEqual((by["model.w"]["dtype"], by["model.w"]["shape"], by["model.w"]["size"]), ("f32", [2, 3], 24))
        self.assertEqual(by["model.b"]["dtype"], "f64")
        self.assertEqual(by["optimizer.state.0.step"]["value"], 3)
        self.assertEqual(by["optimizer.param_groups.0.lr"]["value"], 0.001)
        self.assertEqual(by["optimizer.param_groups.0.betas.1"]["value"], 0.999)
        self.assertEqual(by["epoch"]["value"], 7)
        self.assertEqual(by["note"]["value"], "text")
        self.assertEqual(by["empty"]["value"], {})
        self.assertEqual([p["path"] for p in paths][:2], ["model.w", "model.b"])  # the state's order
        flat = provtrace.Checkpoint(open_store(self.store), b).paths()
        self.assertEqual([(p["path"], p["dtype"]) for p in flat], [("flat", "i64")])

    @unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
    def test_cli_show(self):
        a, b = self.record()
        out = self.cli("checkpoint", "show", "--run", "r", "--step", "15")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(a, out.stdout)
        self.assertIn("step 10", out.stdout)
        lines = {ln.split()[0]: ln for ln in out.stdout.splitlines()[1:]}
        self.assertIn("tensor f32", lines["model.w"])
        self.assertIn("[2, 3]", lines["model.w"])
        self.assertIn("= 0.999", lines["optimizer.param_groups.0.betas.1"])
        self.assertIn("= 7", lines["epoch"])
        latest = self.cli("checkpoint", "show")
        self.assertEqual(latest.returncode, 0, latest.stderr)
        self.assertIn("flat", latest.stdout)
        js = self.cli("checkpoint", "show", a, "--json")
        self.assertEqual(js.returncode, 0, js.stderr)
        self.assertEqual(json.loads(js.stdout), provtrace.Checkpoint(open_store(self.store), a).paths())
        self.assertEqual(self.cli("checkpoint", "show", "nothex").returncode, 2)
        self.assertEqual(self.cli("checkpoint", "show", a, "--step", "3").returncode, 2)
        self.assertEqual(self.cli("checkpoint", "show", "0" * 64).returncode, 1)
        self.assertEqual(self.cli("checkpoint", "show", "--step", "5").returncode, 1)  # none at or before 5


if __name__ == "__main__":
    unittest.main()
