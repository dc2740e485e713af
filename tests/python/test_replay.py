"""Run.state_at / diff / walk / lineages / folds, Recorder(resume=...) and the
provenance captured at open."""

import datetime as dt
import os
import platform
import traceback
import unittest
import warnings

import numpy as np

from ptutil import StoreTest

import provtrace
from provtrace import _code


class Boom(Exception):
    pass


class Recorded(StoreTest):
    def record(self, run="r"):
        """params, metrics at steps 1..10, an lr decision at step 5, a
        checkpoint at steps 3 and 8; returns what the loop held."""
        held = {}
        with provtrace.Recorder(run=run, store=self.store, capture_code=False) as rec:
            rec.params({"lr": 0.1, "batch": 32, "arch": {"layers": [4, 4]}, "tag": b"\x00\xff"})
            for step in range(1, 11):
                rec.metric("loss", 1.0 / step, step=step)
                rec.metric("nan", float("nan"), step=step)
                if step == 5:
                    rec.decision("lr", step=step, set={"lr": 0.01, "warmup": False},
                                 reason="plateau", actor="ReduceLROnPlateau", patience=3)
                if step in (3, 8):
                    w = np.full((2, 3), step, np.float32)
                    rec.checkpoint(step, {"w": w, "note": b"s%d" % step}, wait=True)
                    held[step] = w
            rec.event("eval", name="val", step=10, acc=0.9)
        return held


class StateTest(Recorded):
    def test_params_metrics_decisions_checkpoint(self):
        held = self.record()
        run = provtrace.open_run("r", store=self.store)
        s4 = run.state_at(step=4)
        self.assertEqual(s4.step, 4)
        self.assertEqual(s4.params, {"lr": 0.1, "batch": 32, "arch": {"layers": [4, 4]},
                                     "tag": b"\x00\xff"})
        self.assertEqual(s4.metrics["loss"], 0.25)
        self.assertNotEqual(s4.metrics["nan"], s4.metrics["nan"])  # NaN came back as a float
        self.assertEqual(s4.decisions, [])
        self.assertEqual(s4.checkpoint.step, 3)
        got = s4.checkpoint.load()
        self.assertTrue(np.array_equal(got["w"], held[3]))
        self.assertEqual(got["note"], b"s3")

        s5 = run.state_at(step=5)
        self.assertEqual(s5.params["lr"], 0.01)
        self.assertIs(s5.params["warmup"], False)
        self.assertEqual(s5.param_info["lr"]["step"], 5)
        self.assertEqual(s5.param_info["lr"]["set_by_decision"], s5.decisions[0]["seq"])
        self.assertIsNone(s5.param_info["batch"]["set_by_decision"])
        d = s5.decisions[0]
        self.assertEqual((d["name"], d["step"], d["reason"], d["actor"]),
                         ("lr", 5, "plateau", "ReduceLROnPlateau"))
        self.assertEqual(d["set"]["lr"], {"old": 0.1, "new": 0.01})
        self.assertEqual(d["fields"], {"patience": 3})
        self.assertEqual(s5.decisions_total, 1)

        s9 = run.state_at(step=9)
        self.assertEqual(s9.checkpoint.step, 8)
        self.assertTrue(np.array_equal(s9.checkpoint.load()["w"], held[8]))
        self.assertEqual(s9.metric_info["loss"]["step"], 9)
        self.assertNotIn("eval/val", s9.last)

        latest = run.state_at()
        self.assertEqual(latest.step, 10)
        self.assertEqual(latest.last["eval/val"]["body"]["acc"] if "body" in latest.last["eval/val"]
                         else latest.last["eval/val"]["acc"], 0.9)
        self.assertEqual(latest.raw["run"], "r")
        self.assertEqual(latest.seq, run.stream_info()["seq_last"])
        self.assertIsNone(run.state_at(step=2).checkpoint)
        self.assertIn("State run='r'", repr(latest))

    def test_point_spellings(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        evs = list(run.events())
        s = run.state_at(step=6)
        for other in (run.state_at("step=6"), run.state_at(6), run.state_at({"step": 6}),
                      run.state_at(s), run.state_at(seq=s.seq), run.state_at("seq=%d" % s.seq)):
            self.assertEqual((other.seq, other.step), (s.seq, s.step))
            self.assertEqual(repr(other.raw), repr(s.raw))  # repr: NaN != NaN
        self.assertEqual(run.state_at(latest=True).seq, evs[-1]["seq"])
        self.assertEqual(run.state_at("latest").seq, evs[-1]["seq"])
        self.assertEqual(run.state_at(seq=0).params, {})
        # time=: after the last event whose time is <= T.
        ev = next(e for e in evs if e.get("step") == 7 and e["kind"] == "metric")
        t_ns = provtrace.reader._time_ns(ev["time"], "t")
        when = dt.datetime.fromtimestamp(t_ns // 1000 / 1e6, dt.timezone.utc)
        for t in (t_ns, ev["time"], when):
            st = run.state_at(time=t)
            self.assertGreater(st.seq, 0)
            self.assertLessEqual(provtrace.reader._time_ns(st.time, "t"), t_ns)
        st = run.state_at(time=t_ns)
        self.assertGreaterEqual(st.seq, ev["seq"])
        self.assertEqual(run.state_at("time=" + ev["time"]).seq, st.seq)
        self.assertEqual(run.state_at(time=0).seq, 0)
        self.assertEqual(run.state_at(time="2200-01-01T00:00:00Z").seq, evs[-1]["seq"])

    def test_point_errors(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        with self.assertRaises(ValueError):
            run.state_at(step=1, seq=2)
        with self.assertRaises(ValueError):
            run.state_at("step=1", latest=True)
        with self.assertRaises(provtrace.InvalidError):
            run.state_at("step=banana")
        with self.assertRaises(provtrace.InvalidError):
            run.state_at("time=2026-01-01T00:00:00")  # no zone
        with self.assertRaises(ValueError):
            run.state_at(time=dt.datetime(2026, 1, 1))  # naive
        with self.assertRaises(TypeError):
            run.state_at(step=True)
        with self.assertRaises(TypeError):
            run.state_at(step=1.5)
        with self.assertRaises(TypeError):
            run.state_at(3.0)
        with self.assertRaises(ValueError):
            run.state_at(seq=-1)
        with self.assertRaises(ValueError):
            run.state_at({"step": 1, "seq": 2})
        with self.assertRaises(ValueError):
            run.state_at({"epoch": 1})
        with self.assertRaises(provtrace.NotFoundError):
            run.state_at(stream="nope")
        with self.assertRaises(provtrace.NotFoundError):
            run.state_at(step=3, lineage=7)
        with self.assertRaises(TypeError):
            run.state_at(lineage="0")

    def test_snapshots_change_nothing_but_cost(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False,
                                snapshot_every=64) as rec:
            for step in range(2000):
                rec.metric("m", step * 0.5, step=step)
                if step % 100 == 0:
                    rec.param("p%d" % (step // 100 % 3), step)
        run = provtrace.open_run("r", store=self.store)
        for step in (0, 63, 777, 1500, 1999):
            fast = run.state_at(step=step)
            slow = run.state_at(step=step, use_snapshots=False)
            self.assertEqual(fast.raw, slow.raw)
            self.assertEqual(slow.snapshot_seq, 0)
            self.assertGreaterEqual(slow.events_folded, step)
        fast = run.state_at(step=1999)
        self.assertGreater(fast.snapshot_seq, 0)
        self.assertLessEqual(fast.events_folded, 2 * 64)
        self.assertGreater(run.state_at(step=1999, use_snapshots=False).events_folded, 1999)
        with self.assertRaises(TypeError):
            provtrace.Recorder(run="x", store=self.store, snapshot_every="10")
        with self.assertRaises(ValueError):
            provtrace.Recorder(run="x", store=self.store, snapshot_every=-1)


class DiffWalkTest(Recorded):
    def test_diff(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        d = run.diff("step=4", {"step": 9})
        self.assertEqual(d["params"]["lr"]["old"], 0.1)
        self.assertEqual(d["params"]["lr"]["new"], 0.01)
        self.assertEqual(d["decisions_between"], 1)
        self.assertEqual(d["decisions"][0]["reason"], "plateau")
        self.assertAlmostEqual(d["metrics"]["loss"]["delta"], 1 / 9 - 1 / 4)
        self.assertEqual(d["checkpoint"]["changed"][:1], ["w"])
        self.assertEqual((d["from"]["step"], d["to"]["step"]), (4, 9))
        a, b = run.state_at(step=4), run.state_at(step=9)
        self.assertEqual(run.diff(a, b), d)
        self.assertEqual(run.diff(a, 9), d)
        same = run.diff(b, b)
        self.assertEqual((same["params"], same["decisions_between"]), ({}, 0))
        self.record(run="other")
        other = provtrace.open_run("other", store=self.store)
        with self.assertRaises(ValueError):
            run.diff(other.state_at(step=2), b)
        with self.assertRaises(TypeError):
            run.diff(1.5, b)

    def test_walk(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        steps = list(run.walk())
        self.assertEqual([e["seq"] for e, _ in steps], [e["seq"] for e in run.events()])
        by_kind = {}
        for ev, changes in steps:
            by_kind.setdefault(ev["kind"], []).append(changes)
        self.assertIn({"param": "lr", "old": None, "new": 0.1}, by_kind["param"][0])
        dec = [c for ev, c in steps if ev["kind"] == "decision"][0]
        self.assertIn({"param": "lr", "old": 0.1, "new": 0.01}, dec)
        part = list(run.walk("step=4", "step=6"))
        self.assertEqual(sorted({e["step"] for e, _ in part}), [5, 6])
        self.assertEqual(part[-1][0]["seq"], run.state_at(step=6).seq)
        self.assertEqual(list(run.walk("step=6", "step=6")), [])


class EdgeTest(Recorded):
    """Archived history and slow checkpoints replay like hot, fast ones (issue 11)."""

    def views(self, run):
        r = provtrace.open_run(run, store=self.store)
        out = {}
        for use in (True, False):
            for at in ({"step": 4}, {"step": 9}, {"seq": 7}, {}):
                s = r.state_at(use_snapshots=use, **at) if at else r.state_at(use_snapshots=use)
                ck = s.checkpoint and (s.checkpoint.step, s.checkpoint.manifest)
                out[(str(at), use)] = (s.seq, s.step, s.params, s.metrics.get("loss"), ck)
        out["load"] = r.state_at(step=9).checkpoint.load()["w"].tolist()
        out["diff"] = r.diff("step=2", "step=9")
        out["walk"] = [(e["seq"], c) for e, c in r.walk("step=2", "step=7")]
        return out

    def test_state_diff_walk_after_archiving(self):
        binary = os.environ.get("PROVTRACE_BIN")
        if not binary:
            self.skipTest("PROVTRACE_BIN not set (the CLI runs the archive job)")
        import subprocess
        self.record()
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, append=True) as rec:
            rec.metric("loss", 0.01, step=11)  # a second segment
        before = self.views("r")
        base = [binary, "--store", self.store, "archive"]
        subprocess.run(base + ["plan", "add", "p", "--schedule", "* * * * *", "--vault",
                               os.path.join(self.tmp, "vault"), "--min-age", "0s"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(base + ["run", "--now", "--plan", "p"], check=True, stdout=subprocess.DEVNULL)
        segdir = os.path.join(self.store, "runs", "r", "main", "segments")
        self.assertEqual([n for n in os.listdir(segdir) if n.endswith(".ptseg")], [])
        after = self.views("r")
        self.assertEqual(repr(before), repr(after))  # repr: NaN metrics compare equal

    def test_async_checkpoint_in_effect_by_the_step_it_was_taken(self):
        big = np.arange(6 << 20, dtype=np.float32) * np.float32(1.0001)  # 24 MiB: slow to persist
        late = {}
        for run, wait in (("slow", False), ("fast", True)):
            with provtrace.Recorder(run=run, store=self.store, capture_code=False) as rec:
                for step in range(120):
                    rec.metric("loss", 1.0 / (step + 1), step=step)
                    if step == 10:
                        rec.checkpoint(step, {"w": np.zeros(4, np.float32)}, wait=True)
                    if step == 50:
                        rec.checkpoint(step, {"w": big}, wait=wait)
                    elif step > 50 and not wait and step not in late:
                        if rec.checkpoint_status()["completed"] < 2:
                            late[step] = True
                        import time
                        time.sleep(0.002)
        slow, fast = (provtrace.open_run(r, store=self.store) for r in ("slow", "fast"))
        ev = [e for e in slow.events(kind="checkpoint") if e["step"] == 50][0]
        at51 = slow.state_at(step=51)
        self.assertGreater(ev["seq"], at51.seq, "the async checkpoint was not logged late")
        for step in (10, 49, 50, 51, 60, 80, 119):
            a, b = slow.state_at(step=step), fast.state_at(step=step)
            self.assertEqual((a.step, a.checkpoint.step, a.checkpoint.manifest),
                             (b.step, b.checkpoint.step, b.checkpoint.manifest), step)
            self.assertEqual(a.checkpoint.step, 50 if step >= 50 else 10)
        self.assertEqual(slow.state_at(step=51).checkpoint.load()["w"].shape, big.shape)


class FoldTest(Recorded):
    def test_custom_folds(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        seen = []

        def count(acc, ev):
            seen.append(ev["seq"])
            return (acc or 0) + 1

        st = run.state_at(step=6, folds={
            "metric": count,
            "decision": (lambda acc, ev: acc + [ev["reason"]], []),
            "eval": (lambda acc, ev: acc + 1, 0),
        })
        self.assertEqual(st.folds["metric"], 12)  # two metrics per step, steps 1..6
        self.assertEqual(st.folds["decision"], ["plateau"])
        self.assertEqual(st.folds["eval"], 0)
        self.assertEqual(seen, sorted(seen))
        self.assertLessEqual(max(seen), st.seq)

    def test_exception_in_fold_is_raised_not_swallowed(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        calls = []

        def bad(acc, ev):
            calls.append(ev["step"])
            if ev["step"] == 3:
                raise Boom("fold failed at step 3")
            return acc

        try:
            run.state_at(step=8, folds={"metric": bad})
        except Boom as e:
            self.assertIn("step 3", str(e))
            # The traceback reaches into the callback.
            names = [f.name for f in traceback.extract_tb(e.__traceback__)]
            self.assertEqual(names[-1], "bad")
        else:
            self.fail("the exception of the fold was swallowed")
        self.assertEqual(calls[-1], 3)  # the fold stopped there
        # BaseException subclasses too (KeyboardInterrupt-like).
        with self.assertRaises(KeyboardInterrupt):
            run.state_at(folds={"metric": lambda a, e: (_ for _ in ()).throw(KeyboardInterrupt)})
        # A wrong fold signature is a TypeError from the call, raised here.
        with self.assertRaises(TypeError):
            run.state_at(folds={"metric": lambda only_one: None})
        # The run is still usable.
        self.assertEqual(run.state_at(step=8).step, 8)

    def test_fold_argument_errors(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        with self.assertRaises(TypeError):
            run.state_at(folds=[("metric", len)])
        with self.assertRaises(TypeError):
            run.state_at(folds={"metric": 42})
        with self.assertRaises(TypeError):
            run.state_at(folds={1: len})
        with self.assertRaises(ValueError):
            run.state_at(folds={"me\0tric": len})


class LineageTest(StoreTest):
    def train(self, resume, values, steps, **kw):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=resume,
                                **kw) as rec:
            for s in steps:
                rec.metric("loss", values + s, step=s)
                if s % 4 == 0:
                    rec.checkpoint(s, {"w": np.full(3, values + s)}, wait=True)
            return rec.lineage, rec.resumed_from

    def test_resume_starts_a_lineage(self):
        lin0, ck0 = self.train(None, 0, range(0, 9))
        self.assertEqual((lin0, ck0), (0, None))
        lin1, ck1 = self.train(5, 100, range(6, 12))
        self.assertEqual(lin1, 1)
        # Resumed from step 5: the checkpoint in effect there is step 4's.
        self.assertEqual(ck1.step, 4)
        self.assertTrue(np.array_equal(ck1.load()["w"], np.full(3, 4.0)))
        run = provtrace.open_run("r", store=self.store)
        new, old = run.state_at(step=7), run.state_at(step=7, lineage=0)
        self.assertEqual((new.lineage, new.metrics["loss"]), (1, 107))
        self.assertEqual((old.lineage, old.metrics["loss"]), (0, 7))
        self.assertEqual(run.state_at(step=5).metrics["loss"], 5)  # the shared past
        self.assertEqual(run.state_at(step=9).checkpoint.step, 8)
        self.assertEqual(run.state_at(step=9).checkpoint.load()["w"][0], 108)
        self.assertEqual(run.state_at(step=8, lineage=0).checkpoint.load()["w"][0], 8)
        # lineage 0 ended at step 8: past that is an error naming the end
        with self.assertRaisesRegex(provtrace.NotFoundError, "past the end .* ends at step 8"):
            run.state_at(step=9, lineage=0)
        lins = run.lineages()
        self.assertEqual([(x["lineage"], x["parent"], x["live"]) for x in lins],
                         [(0, None, False), (1, 0, True)])
        self.assertEqual(lins[1]["from_step"], 5)
        self.assertEqual(lins[1]["manifest"], ck1.manifest)
        walked = [(e["step"], e["value"]) for e, _ in run.walk() if e["kind"] == "metric"]
        self.assertEqual(walked, [(s, s) for s in range(0, 6)] + [(s, 100 + s) for s in range(6, 12)])
        walked0 = [(e["step"], e["value"]) for e, _ in run.walk(lineage=0) if e["kind"] == "metric"]
        self.assertEqual(walked0, [(s, s) for s in range(0, 9)])
        # A plain reopen continues the live lineage.
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, append=True) as rec:
            self.assertEqual(rec.lineage, 1)
            self.assertIsNone(rec.resumed_from)

    def test_resume_dict_forms(self):
        self.train(None, 0, range(0, 9))
        m = provtrace.open_run("r", store=self.store).checkpoints()[0].manifest
        lin, ck = self.train({"step": 2, "lineage": 0, "checkpoint": m}, 200, range(3, 5))
        self.assertEqual((lin, ck.manifest), (1, m))
        lin, ck = self.train({"step": 1, "lineage": 0, "checkpoint": None}, 300, range(2, 3))
        self.assertEqual((lin, ck), (2, None))
        lin, ck = self.train({"lineage": 1}, 400, range(5, 6))  # from its current end
        self.assertEqual(lin, 3)
        lins = provtrace.open_run("r", store=self.store).lineages()
        self.assertEqual([(x["lineage"], x["parent"]) for x in lins],
                         [(0, None), (1, 0), (2, 0), (3, 1)])
        self.assertEqual(lins[1]["manifest"], m)
        self.assertNotIn("manifest", lins[2])
        st = provtrace.open_run("r", store=self.store).state_at(step=5)
        self.assertEqual((st.lineage, st.metrics["loss"]), (3, 405))

    def test_resume_errors_leave_the_stream_usable(self):
        self.train(None, 0, range(0, 3))
        bad = [
            (True, TypeError), ("5", TypeError), (1.5, TypeError), ([5], TypeError),
            ({"step": "1"}, TypeError), ({"stpe": 1}, ValueError),
            ({"lineage": -3}, ValueError), ({"lineage": "0"}, TypeError),
            ({"checkpoint": "abc"}, ValueError), ({"checkpoint": 5}, TypeError),
            (2**63, ValueError),
        ]
        for resume, exc in bad:
            with self.assertRaises(exc, msg=repr(resume)):
                provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=resume)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.Recorder(run="r", store=self.store, capture_code=False,
                               resume={"step": 1, "lineage": 9})
        # Nothing was left locked or recorded.
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, append=True) as rec:
            self.assertEqual(rec.lineage, 0)
        self.assertEqual(len(provtrace.open_run("r", store=self.store).lineages()), 1)

    def test_resume_of_a_new_run(self):
        with provtrace.Recorder(run="fresh", store=self.store, capture_code=False,
                                resume=0) as rec:
            self.assertIsNone(rec.resumed_from)
            self.assertEqual(rec.lineage, 1)
            rec.metric("m", 1.0, step=1)
        self.assertEqual(provtrace.open_run("fresh", store=self.store).state_at(step=1).lineage, 1)


class ProvenanceTest(StoreTest):
    def test_code_and_env_events(self):
        with provtrace.Recorder(run="r", store=self.store) as rec:
            rec.metric("m", 1.0)
        evs = provtrace.open_run("r", store=self.store).events()
        kinds = [e["kind"] for e in evs]
        self.assertEqual(kinds[:2], ["code", "env"])
        run = provtrace.open_run("r", store=self.store)
        env = next(iter(run.events(kind="env")))
        py = env["python"]
        self.assertEqual(py["version"], platform.python_version())
        self.assertEqual(py["packages"]["numpy"], np.__version__)
        self.assertEqual(py["packages"]["provtrace"], provtrace.__version__)
        self.assertNotIn("os", py["packages"])
        self.assertNotIn("json", py["packages"])
        self.assertIn("host", env)  # the library's part is there too
        code = next(iter(run.events(kind="code")))
        self.assertIn(code["state"], ("ok", "no_repository", "bare", "unborn", "too_large"))
        st = run.state_at()
        self.assertEqual(st.env["body"]["python"]["version"] if "body" in st.env
                         else st.env["python"]["version"], platform.python_version())

    def test_capture_code_false_records_neither(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.metric("m", 1.0)
        self.assertEqual([e["kind"] for e in self.read_all("r")], ["metric", "run_end"])

    def test_require_clean_outside_a_repository(self):
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            with self.assertRaises(provtrace.InvalidError):
                provtrace.Recorder(run="r", store=self.store, require_clean=True, append=True)
            with self.assertRaises(ValueError):
                provtrace.Recorder(run="r", store=self.store, capture_code=False,
                                   require_clean=True)
            # Not left locked; without require_clean the run records.
            with provtrace.Recorder(run="r", store=self.store) as rec:
                rec.metric("m", 1.0)
        finally:
            os.chdir(cwd)
        code = next(iter(provtrace.open_run("r", store=self.store).events(kind="code")))
        self.assertEqual(code["state"], "no_repository")

    def test_capture_failure_is_a_warning(self):
        saved = _code.pt_code_capture
        _code.pt_code_capture = lambda rec, opts: provtrace.errors.PT_EIO
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                with provtrace.Recorder(run="r", store=self.store) as rec:
                    rec.metric("m", 2.0)
            self.assertTrue(any(issubclass(x.category, RuntimeWarning) and
                                "provenance capture failed" in str(x.message) for x in w), w)
            with self.assertRaises(provtrace.StorageError):
                provtrace.Recorder(run="r", store=self.store, require_clean=True, append=True)
        finally:
            _code.pt_code_capture = saved
        kinds = [e["kind"] for e in self.read_all("r")]
        self.assertEqual(kinds, ["env", "metric", "run_end"])


if __name__ == "__main__":
    unittest.main()
