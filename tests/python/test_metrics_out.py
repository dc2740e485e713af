"""Metrics out (issue 13, item 5): `provtrace metrics` and Run.metrics() /
Run.metrics_frame() on the live path, downsampled keeping minima and maxima."""

import csv
import io
import json
import os
import subprocess
import unittest

import numpy as np

from ptutil import StoreTest, provtrace

BIN = os.environ.get("PROVTRACE_BIN")
try:
    import pandas  # noqa: F401
    HAVE_PANDAS = True
except ImportError:
    HAVE_PANDAS = False


class MetricsTest(StoreTest):
    def train(self, resume, base, steps, **extra):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=resume) as rec:
            for s in steps:
                rec.metric("loss", base + s, step=s)
                if s % 2 == 0:
                    rec.metric("acc", s / 100, step=s)
            rec.metric("loss", 7.0)  # no step: not in a series
            rec.event("metric", name="label", step=1, value="text")  # not a number: skipped
            return rec.lineage

    def resumed(self):
        self.train(None, 0, range(10))
        self.train(5, 100, range(6, 9))

    def test_live_series_have_one_value_per_step(self):
        self.resumed()
        run = provtrace.open_run("r", store=self.store)
        m = run.metrics()
        self.assertEqual(sorted(m), ["acc", "loss"])
        steps, values = m["loss"]
        self.assertEqual(steps.dtype, np.int64)
        self.assertEqual(values.dtype, np.float64)
        self.assertEqual(steps.tolist(), list(range(9)))
        self.assertEqual(values.tolist(), [0, 1, 2, 3, 4, 5, 106, 107, 108])
        audit = run.metrics("loss", live=False)["loss"]
        self.assertEqual(len(audit[0]), 10 + 3)
        self.assertEqual(list(run.metrics(["acc"])), ["acc"])
        self.assertEqual(run.metrics("nothing"), {})

    def test_downsampling_keeps_extremes(self):
        with provtrace.Recorder(run="big", store=self.store, capture_code=False) as rec:
            vals = np.sin(np.arange(10000) / 50.0) * np.arange(10000)
            vals[1234] = -1e6
            vals[8765] = 1e6
            for i, v in enumerate(vals):
                rec.metric("x", float(v), step=i)
        run = provtrace.open_run("big", store=self.store)
        steps, values = run.metrics(points=100)["x"]
        self.assertLessEqual(len(steps), 100)
        self.assertGreater(len(steps), 50)
        self.assertEqual(values.min(), -1e6)
        self.assertEqual(values.max(), 1e6)
        self.assertTrue(np.all(np.diff(steps) > 0))  # order kept
        self.assertEqual(len(run.metrics(points=1)["x"][0]), 1)
        with self.assertRaises(ValueError):
            run.metrics(points=0)

    def test_several_streams_key_by_stream(self):
        for rank in (0, 1):
            with provtrace.Recorder(run="ddp", stream="rank%d" % rank, store=self.store,
                                    capture_code=False) as rec:
                for s in range(3):
                    rec.metric("loss", rank * 10 + s, step=s)
        run = provtrace.open_run("ddp", store=self.store)
        m = run.metrics()
        self.assertEqual(sorted(m), [("rank0", "loss"), ("rank1", "loss")])
        self.assertEqual(m[("rank1", "loss")][1].tolist(), [10, 11, 12])
        self.assertEqual(list(run.metrics(stream="rank0")), ["loss"])

    def test_missing_run_or_stream(self):
        self.resumed()
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.open_run("nope", store=self.store).metrics()
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.open_run("r", store=self.store).metrics(stream="nope")

    @unittest.skipUnless(HAVE_PANDAS, "pandas not installed (python3-pandas)")
    def test_frame(self):
        self.resumed()
        df = provtrace.open_run("r", store=self.store).metrics_frame("loss")
        self.assertEqual(list(df.columns), ["stream", "name", "step", "value"])
        self.assertEqual(len(df), 9)
        self.assertEqual(df["value"].iloc[-1], 108)
        self.assertEqual(set(df["stream"]), {"main"})
        empty = provtrace.open_run("r", store=self.store).metrics_frame("nothing")
        self.assertEqual(len(empty), 0)


@unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
class MetricsCliTest(MetricsTest):
    def pt(self, *args, code=0):
        p = subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, code, p.stderr)
        return p

    def test_csv_tsv_json(self):
        self.resumed()
        rows = list(csv.DictReader(io.StringIO(self.pt("metrics", "--run", "r", "--name", "loss").stdout)))
        self.assertEqual([int(r["step"]) for r in rows], list(range(9)))
        self.assertEqual(float(rows[-1]["value"]), 108)
        self.assertEqual({r["stream"] for r in rows}, {"main"})
        tsv = self.pt("metrics", "--run", "r", "--format", "tsv", "--name", "acc").stdout.splitlines()
        self.assertEqual(tsv[0], "stream\tname\tstep\tvalue")
        self.assertEqual(tsv[1], "main\tacc\t0\t0")
        j = json.loads(self.pt("metrics", "--run", "r", "--format", "json").stdout)
        self.assertEqual(j["run"], "r")
        loss = [s for s in j["series"] if s["name"] == "loss"][0]
        self.assertEqual(loss["steps"], list(range(9)))
        audit = json.loads(self.pt("metrics", "--run", "r", "--format", "json", "--all-lineages",
                                   "--name", "loss").stdout)
        self.assertEqual(len(audit["series"][0]["steps"]), 13)
        small = json.loads(self.pt("metrics", "--run", "r", "--format", "json", "--points", "4",
                                   "--name", "loss").stdout)
        self.assertLessEqual(len(small["series"][0]["steps"]), 4)
        self.assertEqual(max(small["series"][0]["values"]), 108)
        self.assertEqual(min(small["series"][0]["values"]), 0)

    def test_usage_errors(self):
        self.resumed()
        for args in (["--format", "xml"], ["--points", "0"], ["--points", "x"], ["extra"]):
            self.pt("metrics", "--run", "r", *args, code=2)
        self.pt("metrics", "--run", "nope", code=1)
        self.pt("metrics", "--run", "r", "--stream", "nope", code=1)
        p = self.pt("metrics", "--run", "r", "--name", "nothing")
        self.assertEqual(p.stdout, "stream,name,step,value\n")
        self.assertIn("nothing", p.stderr)


if __name__ == "__main__":
    unittest.main()
