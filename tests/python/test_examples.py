"""examples/train_numpy.py: its checks can fail, and the CLI's replay/diff
(examples/replay_debug.md) agree with Python's on the run it records."""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import unittest

import numpy as np

from ptutil import SRC, StoreTest, python_env

import provtrace


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        "example_" + name, os.path.join(SRC, "examples", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cli_path():
    """The provtrace CLI built beside the library in use, or None."""
    lib = os.path.realpath(provtrace.library_path)
    exe = os.path.join(os.path.dirname(os.path.dirname(lib)), "provtrace")
    return exe if os.access(exe, os.X_OK) else None


class TrainNumpyTest(StoreTest):
    def run_main(self, *args):
        ex = load_example("train_numpy")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = ex.main(["--store", self.store, "--run", "mlp", "--no-code"] + list(args))
        return rc, out.getvalue(), err.getvalue()

    def test_passes_and_detects_a_wrong_restore(self):
        rc, out, err = self.run_main()
        self.assertEqual(rc, 0, out + err)
        self.assertIn("weights, params, metrics and decisions match", out)
        self.assertIn("lr decisions (plateau): step", out)
        run = provtrace.open_run("mlp", store=self.store)
        decs = list(run.events(kind="decision"))
        self.assertTrue(any(d["reason"] == "plateau" and d["actor"] == "ReduceLROnPlateau"
                            for d in decs))
        self.assertEqual(decs[-1]["name"], "early_stop")
        # The same run name again is refused (the checks compare with one run).
        self.assertEqual(self.run_main()[0], 2)

        # A restore that is off by one ulp in one weight must fail the check.
        real_load = provtrace.Checkpoint.load

        def bad_load(self_, names=None):
            d = real_load(self_, names)
            d["W1"].flat[3] = np.nextafter(d["W1"].flat[3], np.float32(np.inf))
            return d

        provtrace.Checkpoint.load = bad_load
        try:
            ex = load_example("train_numpy")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = ex.main(["--store", self.store, "--run", "mlp2", "--no-code"])
        finally:
            provtrace.Checkpoint.load = real_load
        self.assertEqual(rc, 1)
        self.assertIn("MISMATCH: step=", err.getvalue())
        self.assertIn("tensor W1 differs", err.getvalue())

    def test_argument_errors(self):
        self.assertEqual(self.run_main("--steps", "10")[0], 2)
        self.assertEqual(self.run_main("--steps", "100", "--check-step", "5000")[0], 2)

    @unittest.skipUnless(cli_path(), "the provtrace CLI is not built beside the library")
    def test_cli_replay_and_diff_agree_with_python(self):
        self.assertEqual(self.run_main()[0], 0)
        run = provtrace.open_run("mlp", store=self.store)
        env = python_env()

        def cli(*args):
            p = subprocess.run([cli_path(), "--store", self.store] + list(args), env=env,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout

        for step in (20, 55, 100):
            state = provtrace.reader.decode_json_event(
                cli("replay", "--run", "mlp", "--at", "step=%d" % step, "--json"))
            self.assertEqual(state, run.state_at(step=step).raw)
        d = provtrace.reader.decode_json_event(
            cli("diff", "--run", "mlp", "--from", "step=30", "--to", "step=100", "--json"))
        self.assertEqual(d, run.diff("step=30", "step=100"))
        out = os.path.join(self.tmp, "export")
        cli("replay", "--run", "mlp", "--at", "step=100", "--export", out)
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        ck = run.state_at(step=100).checkpoint
        self.assertEqual(index["manifest"], ck.manifest)
        loaded = ck.load()
        for e in index["entries"]:
            self.assertTrue(np.array_equal(np.load(os.path.join(out, e["file"])),
                                           loaded[e["name"]]), e["name"])


if __name__ == "__main__":
    unittest.main()
