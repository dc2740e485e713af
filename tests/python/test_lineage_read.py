"""Lineage-aware reading (issue 13, item 2): every event read back carries its
lineage; events(live=True) / `log --live` give only the live path (a resumed
lineage replaces the abandoned tail), the audit view shows everything."""

import json
import os
import subprocess
import unittest

from ptutil import StoreTest, provtrace

BIN = os.environ.get("PROVTRACE_BIN")


class LineageReadTest(StoreTest):
    def train(self, resume, base, steps):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=resume) as rec:
            for s in steps:
                rec.metric("loss", base + s, step=s)
            return rec.lineage

    def two_resumes(self):
        # lineage 0: steps 0..9; lineage 1 resumes at 5 (6..12); lineage 2 resumes lineage 1 at 8 (9..10)
        self.assertEqual(self.train(None, 0, range(10)), 0)
        self.assertEqual(self.train(5, 100, range(6, 13)), 1)
        self.assertEqual(self.train(8, 200, range(9, 11)), 2)

    def metric_points(self, **kw):
        run = provtrace.open_run("r", store=self.store)
        return [(e["step"], e["value"], e["lineage"]) for e in run.events(kind="metric", **kw)]

    def test_audit_view_carries_every_lineage(self):
        self.two_resumes()
        pts = self.metric_points()
        self.assertEqual(len(pts), 10 + 7 + 2)
        self.assertEqual([l for _, _, l in pts], [0] * 10 + [1] * 7 + [2] * 2)
        run = provtrace.open_run("r", store=self.store)
        lin_events = [e for e in run.events() if e["kind"] == "lineage"]
        self.assertEqual([(e["lineage"], e["parent"]) for e in lin_events], [(1, 0), (2, 1)])
        # every event has one, lineages never decrease in seq order here
        lins = [e["lineage"] for e in run.events()]
        self.assertEqual(lins, sorted(lins))

    def test_live_path_has_one_value_per_step(self):
        self.two_resumes()
        pts = self.metric_points(live=True)
        self.assertEqual([s for s, _, _ in pts], list(range(11)))
        want = [(s, s, 0) for s in range(6)] + [(s, 100 + s, 1) for s in range(6, 9)] + \
               [(s, 200 + s, 2) for s in (9, 10)]
        self.assertEqual(pts, want)
        # filters apply on the path
        self.assertEqual([s for s, _, _ in self.metric_points(live=True, step_min=4, step_max=9)],
                         [4, 5, 6, 7, 8, 9])
        self.assertEqual(self.metric_points(live=True, step_min=11), [])
        # the state replay gives agrees with the live path's last values
        st = provtrace.open_run("r", store=self.store).state_at(step=7)
        self.assertEqual(st.metrics["loss"], 107)

    def test_never_resumed_is_lineage_zero_and_live_is_everything(self):
        self.train(None, 0, range(5))
        run = provtrace.open_run("r", store=self.store)
        a = list(run.events())
        b = list(run.events(live=True))
        self.assertEqual(a, b)
        self.assertTrue(all(e["lineage"] == 0 for e in a))

    def test_live_refuses_follow_and_latest(self):
        self.train(None, 0, range(3))
        run = provtrace.open_run("r", store=self.store)
        with self.assertRaises(ValueError):
            run.events(live=True, follow=True)
        with self.assertRaises(ValueError):
            run.events(live=True, latest=True)

    def test_missing_stream_is_not_found(self):
        self.train(None, 0, range(3))
        with self.assertRaises(provtrace.NotFoundError):
            list(provtrace.open_run("r", store=self.store).events(stream="nope", live=True))

    def test_lineage_is_reserved_as_a_body_key(self):
        with provtrace.Recorder(run="k", store=self.store, capture_code=False) as rec:
            with self.assertRaises(provtrace.InvalidError) as cm:
                rec.event("note", lineage=3)
            self.assertIn("lineage", str(cm.exception))
            rec.event("note", text="ok")


@unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
class LineageCliTest(LineageReadTest):
    def pt(self, *args, code=0, stdin=None):
        p = subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True,
                           input=stdin, timeout=120)
        self.assertEqual(p.returncode, code, p.stderr)
        return p

    def test_log_text_has_a_lineage_column_once_resumed(self):
        self.train(None, 0, range(10))
        plain = self.pt("log", "--run", "r").stdout
        self.assertNotIn(" L0 ", plain)  # a run never resumed looks as before
        self.two_resumes_after_first()
        out = self.pt("log", "--run", "r", "--kind", "metric").stdout.splitlines()
        self.assertTrue(all(" L" in line for line in out), out)
        live = self.pt("log", "--run", "r", "--kind", "metric", "--live").stdout.splitlines()
        self.assertEqual(len(live), 9)
        self.assertRegex(live[-1], r"\s8\s+L1\s+metric\s+loss value=108")
        self.assertRegex(live[0], r"\s0\s+L0\s+metric\s+loss value=0")

    def two_resumes_after_first(self):
        self.assertEqual(self.train(5, 100, range(6, 9)), 1)

    def test_log_json_live_and_last_n(self):
        self.two_resumes()
        evs = [json.loads(l) for l in self.pt("log", "--run", "r", "--json", "--live").stdout.splitlines()]
        metrics = [(e["step"], e["lineage"]) for e in evs if e["kind"] == "metric"]
        self.assertEqual([s for s, _ in metrics], list(range(11)))
        self.assertTrue(all("lineage" in e for e in evs))
        audit = [json.loads(l) for l in self.pt("log", "--run", "r", "--json").stdout.splitlines()]
        self.assertGreater(len(audit), len(evs))
        last = [json.loads(l) for l in
                self.pt("log", "--run", "r", "--json", "--live", "--kind", "metric", "-n", "3").stdout.splitlines()]
        self.assertEqual([(e["step"], e["value"], e["lineage"]) for e in last],
                         [(8, 108, 1), (9, 209, 2), (10, 210, 2)])
        last = [json.loads(l) for l in self.pt("log", "--run", "r", "--json", "--live", "-n", "2").stdout.splitlines()]
        self.assertEqual([e["seq"] for e in last], [e["seq"] for e in evs[-2:]])
        self.assertEqual(last[-1]["lineage"], 2)

    def test_log_json_round_trips_through_emit(self):
        self.two_resumes()
        lines = self.pt("log", "--run", "r", "--json", "--live", "--kind", "metric").stdout
        self.pt("emit", "--run", "copy", stdin=lines)
        back = [json.loads(l) for l in self.pt("log", "--run", "copy", "--json").stdout.splitlines()]
        self.assertEqual([(e["step"], e["value"]) for e in back], [(s, v) for s, v, _ in self.metric_points(live=True)])
        self.assertTrue(all(e["lineage"] == 0 for e in back))  # the copy was never resumed
        self.assertTrue(all(set(e) == {"run", "stream", "seq", "time", "step", "kind", "name", "value", "lineage"}
                            for e in back))

    def test_live_with_follow_is_a_usage_error(self):
        self.train(None, 0, range(3))
        p = self.pt("log", "--run", "r", "--live", "-f", code=2)
        self.assertIn("--live", p.stderr)


if __name__ == "__main__":
    unittest.main()
