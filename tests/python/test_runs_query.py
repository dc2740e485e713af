"""Queries over runs and comparison (issue 13, item 4): provtrace.runs(where=,
sort=, limit=), run_summaries(), compare(), Run.summary(), and the CLI's
`runs --where/--sort/--limit/--metric` and `compare`, all answered by the
library from the per-run summaries it keeps."""

import json
import os
import select
import subprocess
import time
import unittest

from ptutil import StoreTest, provtrace, run_python

BIN = os.environ.get("PROVTRACE_BIN")


class QueryTest(StoreTest):
    def record(self, run, lr, losses, status="finished", team=None, stream=None, **kw):
        if status == "failed":
            with self.assertRaises(ValueError):
                self.record(run, lr, losses, "raise", team, stream, **kw)
            return
        with provtrace.Recorder(run=run, store=self.store, stream=stream, capture_code=False, **kw) as rec:
            rec.param("lr", lr)
            rec.param("optimizer", "adam")
            for s, v in enumerate(losses):
                rec.metric("val_loss", v, step=s)
            if team:
                rec.tag("team", team)
            if status == "raise":
                raise ValueError("diverged")

    def three(self):
        self.record("a", 0.1, [1.0, 0.5, 0.09])
        self.record("b", 0.01, [0.8, 0.04, 0.3], team="nlp")
        self.record("c", 0.001, [0.7, 0.6], status="failed")

    def test_where_sort_limit(self):
        self.three()
        self.assertEqual(provtrace.runs(self.store), ["a", "b", "c"])
        self.assertEqual(provtrace.runs(self.store, where="min.val_loss < 0.1", sort="min.val_loss"), ["b", "a"])
        self.assertEqual(provtrace.runs(self.store, sort="-min.val_loss", limit=2), ["c", "a"])
        self.assertEqual(provtrace.runs(self.store, sort=["-params.lr"]), ["a", "b", "c"])
        self.assertEqual(provtrace.runs(self.store, where="status == 'failed' or tags.team == 'nlp'"), ["b", "c"])
        self.assertEqual(provtrace.runs(self.store, where="params.nope > 0"), [])
        self.assertEqual(provtrace.runs(self.store, where="last.val_loss == 0.3"), ["b"])
        s = provtrace.run_summaries(self.store, where="run == 'b'")[0]
        self.assertEqual(s["metrics"]["val_loss"], {"last": 0.3, "min": 0.04, "max": 0.8, "step": 2, "n": 3})
        self.assertEqual(s["params"], {"lr": 0.01, "optimizer": "adam"})
        self.assertEqual(s["tags"], {"team": "nlp"})
        self.assertEqual(s["status"], "finished")

    def test_bad_expressions_are_errors_with_a_position(self):
        self.three()
        with self.assertRaises(provtrace.InvalidError) as cm:
            provtrace.runs(self.store, where="min.val_loss =< 0.1")
        self.assertIn("position 14", str(cm.exception))
        with self.assertRaises(provtrace.InvalidError):
            provtrace.runs(self.store, where="(" * 10000 + "status == 'x'" + ")" * 10000)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.runs(self.store, sort="bogus")
        with self.assertRaises(TypeError):
            provtrace.runs(self.store, limit="5")
        with self.assertRaises(ValueError):
            provtrace.runs(self.store, limit=0)

    def test_summary_follows_the_run(self):
        self.record("r", 0.1, [5.0, 4.0, 3.0, 2.0, 1.0])
        run = provtrace.open_run("r", store=self.store)
        self.assertEqual(run.summary()["metrics"]["val_loss"]["min"], 1.0)
        # resumed at step 2: the abandoned 2.0 and 1.0 leave the live path
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=2) as rec:
            rec.metric("val_loss", 9.0, step=3)
        s = run.summary()
        self.assertEqual(s["metrics"]["val_loss"]["min"], 3.0)
        self.assertEqual(s["lineages"], 2)
        self.assertTrue(os.path.exists(os.path.join(self.store, "runs", "r", ".summary")))

    def test_compare(self):
        self.three()
        c = provtrace.compare("a", "b", store=self.store)
        self.assertEqual(c["params_differ"], {"lr": {"a": 0.1, "b": 0.01}})
        self.assertEqual(c["params_same"], {"optimizer": "adam"})
        self.assertEqual(c["metrics"]["val_loss"]["a"], {"last": 0.09, "min": 0.09, "max": 1.0})
        self.assertEqual([s["run"] for s in c["summaries"]], ["a", "b"])
        ra = provtrace.open_run("a", store=self.store)
        rb = provtrace.open_run("b", store=self.store)
        self.assertEqual(provtrace.compare([ra, rb])["runs"], ["a", "b"])
        other = os.path.join(self.tmp, "other")
        with provtrace.Recorder(run="x", store=other, capture_code=False) as rec:
            rec.metric("val_loss", 1.0, step=0)
        with self.assertRaises(ValueError) as cm:
            provtrace.compare(ra, provtrace.open_run("x", store=other))
        self.assertIn("different stores", str(cm.exception))
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.compare("a", "zz", store=self.store)
        with self.assertRaises(ValueError):
            provtrace.compare("a", store=self.store)

    @unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
    def test_cli_runs_and_compare(self):
        self.three()

        def pt(*args, code=0):
            p = subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, code, p.stderr)
            return p

        j = json.loads(pt("runs", "--where", "min.val_loss < 0.1", "--sort", "min.val_loss", "--json").stdout)
        self.assertEqual([r["run"] for r in j["runs"]], ["b", "a"])
        self.assertEqual((j["matched"], j["total"]), (2, 3))
        # the same answer as Python: one renderer
        self.assertEqual(j["runs"], provtrace.run_summaries(self.store, where="min.val_loss < 0.1",
                                                            sort="min.val_loss"))
        out = pt("runs", "--sort", "-min.val_loss", "--limit", "2", "--metric", "val_loss").stdout
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^RUN\s+STATUS\s+STARTED\s+DURATION\s+EVENTS\s+STREAMS\s+val_loss\s+TAGS$")
        self.assertRegex(lines[1], r"^c\s+failed\s.*\s0\.6\s+-$")
        self.assertRegex(lines[2], r"^a\s+finished\s.*\s0\.09\s+-$")
        self.assertEqual(lines[3], "(3 of 3 runs match)")
        self.assertIn("team=nlp", pt("runs", "--summary").stdout)
        err = pt("runs", "--where", "min.val_loss = 0.1", code=2).stderr
        self.assertIn("position 14: expected an operator", err)
        self.assertIn("unknown field", pt("runs", "--sort", "nope", code=2).stderr)
        pt("runs", "--limit", "0", code=2)
        out = pt("compare", "a", "b").stdout
        self.assertRegex(out, r"\n  lr\s+0\.1\s+0\.01")
        self.assertRegex(out, r"\n  val_loss\s+0\.09 / 0\.09 / 1\.0\s+0\.3 / 0\.04 / 0\.8")
        self.assertEqual(json.loads(pt("compare", "a", "b", "--json").stdout),
                         provtrace.compare("a", "b", store=self.store))
        self.assertIn("different stores", pt("compare", "a", "/elsewhere/b", code=2).stderr)
        self.assertIn("not found", pt("compare", "a", "zz", code=1).stderr)
        pt("compare", "a", code=2)


class RunManagementTest(StoreTest):
    """Issue 13 item 3: a second open of a stream with events is an error unless
    asked for; tags, a note; status derived from the log."""

    def test_reopening_a_run_is_an_error_unless_asked(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            for s in range(3):
                rec.metric("loss", 1.0 / (s + 1), step=s)
        with self.assertRaises(provtrace.ExistsError) as cm:
            provtrace.Recorder(run="r", store=self.store, capture_code=False)
        msg = str(cm.exception)
        self.assertIn("run 'r' already has 4 events", msg)  # 3 metrics and the run_end
        self.assertIn("append=True", msg)
        self.assertIn("resume=", msg)
        # nothing was written, the lock is free
        self.assertEqual(len(self.read_all("r")), 4)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, append=True) as rec:
            rec.metric("loss", 0.1, step=3)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False, resume=1) as rec:
            rec.metric("loss", 0.2, step=2)
        # another stream of the run (a rank) is new: no error
        with provtrace.Recorder(run="r", store=self.store, stream="rank1", capture_code=False) as rec:
            rec.metric("loss", 0.3, step=0)
        # an empty stream is not "existing events"
        self.assertEqual(provtrace.open_run("r", store=self.store).summary()["streams"], ["main", "rank1"])

    def test_status_tags_note(self):
        with provtrace.Recorder(run="ok", store=self.store, capture_code=False) as rec:
            rec.tag("team", "vision")
            rec.tag("team", "nlp")  # the later one counts
            rec.note("baseline with warmup")
            rec.metric("loss", 1.0, step=0)
        with self.assertRaises(KeyError):
            with provtrace.Recorder(run="bad", store=self.store, capture_code=False) as rec:
                rec.metric("loss", 1.0, step=0)
                raise KeyError("missing 'x'")
        r = run_python(
            "import provtrace, os\n"
            "rec = provtrace.Recorder(run='killed', store=%r, capture_code=False)\n"
            "rec.metric('loss', 1.0, step=0)\n"
            "rec.flush()\n"
            "os._exit(0)\n" % self.store)
        self.assertEqual(r.returncode, 0, r.stderr)
        live = provtrace.Recorder(run="live", store=self.store, capture_code=False)
        live.metric("loss", 1.0, step=0)
        live.flush()
        try:
            by = {s["run"]: s for s in provtrace.run_summaries(self.store)}
            self.assertEqual({k: v["status"] for k, v in by.items()},
                             {"ok": "finished", "bad": "failed", "killed": "crashed", "live": "running"})
            self.assertEqual(by["ok"]["tags"], {"team": "nlp"})
            self.assertEqual(by["ok"]["note"], "baseline with warmup")
            self.assertEqual(by["bad"]["error"], {"stream": "main", "type": "KeyError",
                                                  "message": "\"missing 'x'\""})
            self.assertEqual(provtrace.runs(self.store, where="status == 'running'"), ["live"])
        finally:
            live.close()
        self.assertEqual(provtrace.runs(self.store, where="status == 'finished'"), ["live", "ok"])
        with self.assertRaises(provtrace.InvalidError):
            with provtrace.Recorder(run="t", store=self.store, capture_code=False) as rec:
                rec.tag("bad key", "x")
        with provtrace.Recorder(run="t2", store=self.store, capture_code=False) as rec:
            with self.assertRaises(TypeError):
                rec.tag("k", 1)

    @unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
    def test_cli_tag(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.metric("loss", 1.0, step=0)

        def pt(*args, code=0):
            p = subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, code, p.stderr)
            return p

        pt("tag", "r", "team=vision", "owner=ana", "--note", "kept for the paper")
        s = provtrace.open_run("r", store=self.store).summary()
        self.assertEqual(s["tags"], {"team": "vision", "owner": "ana"})
        self.assertEqual(s["note"], "kept for the paper")
        self.assertEqual(s["status"], "finished")  # a tag after the end does not reopen the run
        self.assertIn("team=vision", pt("runs", "--summary").stdout)
        self.assertIn("not KEY=VALUE", pt("tag", "r", "novalue", code=2).stderr)
        self.assertIn("not one of", pt("tag", "r", "b@d=1", code=2).stderr)
        self.assertIn("nothing to add", pt("tag", "r", code=2).stderr)
        pt("tag", "nope", "a=b", code=1)
        live = provtrace.Recorder(run="r", store=self.store, capture_code=False, append=True)
        try:
            self.assertIn("being recorded", pt("tag", "r", "a=b", code=1).stderr)
        finally:
            live.close()


class WholeRunTest(StoreTest):
    """Issue 13 item 1 leftovers: diff over every stream of a run; following a
    run picks up streams created later."""

    def two_ranks(self):
        for rank, base in (("rank0", 1.0), ("rank1", 2.0)):
            with provtrace.Recorder(run="ddp", store=self.store, stream=rank, capture_code=False) as rec:
                rec.param("lr", 0.1)
                for s in range(3 if rank == "rank0" else 5):
                    rec.metric("loss", base / (s + 1), step=s)

    def test_diff_of_a_whole_run(self):
        self.two_ranks()
        run = provtrace.open_run("ddp", store=self.store)
        d = run.diff({"step": 0}, {"step": 4})
        self.assertEqual(sorted(d["streams"]), ["rank0", "rank1"])
        self.assertIn("past the end", d["streams"]["rank0"]["error"])
        self.assertEqual(d["streams"]["rank1"]["metrics"]["loss"], {"old": 2.0, "new": 0.4, "delta": -1.6})
        one = run.diff({"step": 0}, {"step": 2}, stream="rank0")
        self.assertEqual(one["metrics"]["loss"]["new"], 1.0 / 3)
        # a State names its stream: the other point is taken there
        self.assertEqual(run.diff(run.state_at(step=0, stream="rank0"), {"step": 2}), one)
        if BIN:
            p = subprocess.run([BIN, "diff", "--run", "ddp", "--from", "step=0", "--to", "step=2",
                                "--store", self.store], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("== stream rank0 ==", p.stdout)
            self.assertIn("== stream rank1 ==", p.stdout)
            j = json.loads(subprocess.run([BIN, "diff", "--run", "ddp", "--from", "step=0", "--to", "step=2",
                                           "--json", "--store", self.store], capture_output=True, text=True,
                                          timeout=60).stdout)
            self.assertEqual(j, run.diff({"step": 0}, {"step": 2}))
            p = subprocess.run([BIN, "diff", "--run", "ddp", "--from", "step=0", "--to", "step=2", "--lineage",
                                "0", "--store", self.store], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, p.stderr)

    def test_following_a_run_picks_up_new_streams(self):
        with provtrace.Recorder(run="late", store=self.store, stream="rank0", capture_code=False) as rec:
            rec.metric("loss", 1.0, step=0)
        it = provtrace.open_run("late", store=self.store).events(follow=True, idle_timeout=20,
                                                                    poll_interval=0.05)
        self.assertEqual(next(it)["stream"], "rank0")
        proc = None
        if BIN:
            proc = subprocess.Popen([BIN, "log", "--run", "late", "-f", "--json", "--store", self.store],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if proc:
                self.assertEqual(json.loads(self.readline(proc))["stream"], "rank0")
            with provtrace.Recorder(run="late", store=self.store, stream="rank1", capture_code=False) as rec:
                rec.metric("loss", 2.0, step=0)
            self.assertEqual((lambda e: (e["stream"], e["kind"]))(next(it)), ("rank0", "run_end"))
            ev = next(it)
            self.assertEqual((ev["stream"], ev["kind"], ev["value"]), ("rank1", "metric", 2.0))
            if proc:
                got = [json.loads(self.readline(proc)) for _ in range(2)]
                self.assertEqual([(e["stream"], e["kind"]) for e in got], [("rank0", "run_end"),
                                                                          ("rank1", "metric")])
        finally:
            it.close()
            if proc:
                proc.terminate()
                proc.wait(timeout=10)
                proc.stdout.close()
                proc.stderr.close()

    def readline(self, proc, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([proc.stdout], [], [], 0.2)
            if r:
                line = proc.stdout.readline()
                if line:
                    return line
        self.fail("no line from provtrace log -f within %ss" % timeout)


if __name__ == "__main__":
    unittest.main()
