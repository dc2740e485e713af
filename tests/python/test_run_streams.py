"""A run is all its streams (issue 13, item 1, the reading part): events()
and `log` without a stream merge every stream of the run by time (ties: the
stream name, then seq), each event naming its stream; stream= / --stream
narrows to one; a one-stream run reads as before."""

import json
import os
import subprocess
import unittest

from ptutil import StoreTest, provtrace

BIN = os.environ.get("PROVTRACE_BIN")
T0 = 1_800_000_000_000_000_000  # ns


def ev(step, t, value):
    return {"kind": "metric", "name": "loss", "step": step, "time": T0 + t, "value": value}


@unittest.skipUnless(BIN, "PROVTRACE_BIN not set")
class RunStreamsTest(StoreTest):
    def pt(self, *args, code=0, stdin=None):
        p = subprocess.run([BIN, *args, "--store", self.store], capture_output=True, text=True,
                           input=stdin, timeout=120)
        self.assertEqual(p.returncode, code, p.stderr)
        return p

    def emit(self, stream, events):
        self.pt("emit", "--run", "ddp", "--stream", stream,
                stdin="".join(json.dumps(e) + "\n" for e in events))

    def setup_two_ranks(self):
        self.pt("init")
        # rank1 is written first; times interleave; t=30 is a tie between the ranks
        self.emit("rank1", [ev(0, 10, 1.0), ev(1, 30, 1.1), ev(2, 50, 1.2)])
        self.emit("rank0", [ev(0, 5, 0.0), ev(1, 30, 0.1), ev(2, 40, 0.2), ev(3, 60, 0.3)])

    def order(self, evs):
        return [(e["stream"], e["seq"]) for e in evs]

    WANT = [("rank0", 1), ("rank1", 1), ("rank0", 2), ("rank1", 2), ("rank0", 3), ("rank1", 3), ("rank0", 4)]

    def test_python_merges_by_time_with_ties_by_stream_name(self):
        self.setup_two_ranks()
        run = provtrace.open_run("ddp", store=self.store)
        self.assertEqual(self.order(run.events()), self.WANT)
        self.assertEqual(self.order(run), self.WANT)
        self.assertEqual(self.order(run.events(stream="rank1")), [("rank1", 1), ("rank1", 2), ("rank1", 3)])
        self.assertEqual(self.order(run.events(step_min=2)), [("rank0", 3), ("rank1", 3), ("rank0", 4)])
        self.assertEqual(self.order(run.events(live=True)), self.WANT)
        with self.assertRaises(provtrace.NotFoundError):
            list(run.events(stream="rank9"))

    def test_log_merges_and_names_each_stream(self):
        self.setup_two_ranks()
        evs = [json.loads(l) for l in self.pt("log", "--run", "ddp", "--json").stdout.splitlines()]
        self.assertEqual(self.order(evs), self.WANT)
        text = self.pt("log", "--run", "ddp").stdout.splitlines()
        self.assertEqual(len(text), 7)
        self.assertEqual([l.split()[0] for l in text], [s for s, _ in self.WANT])
        one = self.pt("log", "--run", "ddp", "--stream", "rank0").stdout.splitlines()
        self.assertEqual(len(one), 4)
        self.assertFalse(any(l.startswith("rank0") for l in one))  # one stream: no stream column
        last = [json.loads(l) for l in self.pt("log", "--run", "ddp", "--json", "-n", "2").stdout.splitlines()]
        self.assertEqual(self.order(last), self.WANT[-2:])
        live = [json.loads(l) for l in self.pt("log", "--run", "ddp", "--json", "--live").stdout.splitlines()]
        self.assertEqual(self.order(live), self.WANT)

    def test_verify_checks_every_stream_of_the_run(self):
        self.setup_two_ranks()
        rep = json.loads(self.pt("verify", "--run", "ddp", "--json").stdout)
        self.assertEqual(rep["stats"]["streams"], 2)
        self.assertEqual(rep["stats"]["events"], 7)
        self.assertEqual(len(provtrace.open_run("ddp", store=self.store).verify()), 0)

    def setup_params(self):
        self.pt("init")
        for rank, loss in ((0, 1.0), (1, 3.0), (2, 2.0)):
            evs = [{"kind": "param", "name": "lr", "value": 0.1},
                   {"kind": "param", "name": "rank", "value": rank},
                   {"kind": "metric", "name": "loss", "step": 1, "value": loss + 10},
                   {"kind": "metric", "name": "loss", "step": 2, "value": loss},
                   {"kind": "metric", "name": "tag", "step": 2, "value": "x%d" % rank}]
            if rank == 2:
                evs.append({"kind": "metric", "name": "acc", "step": 2, "value": {"$float": "Infinity"}})
            self.emit("rank%d" % rank, evs)

    def test_run_state_summarises_the_streams(self):
        self.setup_params()
        run = provtrace.open_run("ddp", store=self.store)
        s = run.run_state()
        self.assertEqual(sorted(s["streams"]), ["rank0", "rank1", "rank2"])
        self.assertEqual(s["streams"]["rank1"]["metrics"]["loss"]["value"], 3.0)
        sm = s["summary"]
        self.assertEqual(sm["streams"], 3)
        self.assertEqual(sm["params"], {"lr": 0.1})
        self.assertEqual(sm["params_by_stream"], {"rank": {"rank0": 0, "rank1": 1, "rank2": 2}})
        loss = sm["metrics"]["loss"]
        self.assertEqual((loss["n"], loss["min"], loss["mean"], loss["max"]), (3, 1.0, 2.0, 3.0))
        self.assertEqual(sm["metrics"]["tag"]["n"], 0)  # not numbers: listed, no statistics
        self.assertIsNone(sm["metrics"]["tag"]["min"])
        self.assertEqual(sm["metrics"]["acc"]["n"], 0)  # not finite
        self.assertEqual(sm["metrics"]["acc"]["streams"], {"rank2": float("inf")})
        at1 = run.run_state(step=1)["summary"]["metrics"]["loss"]
        self.assertEqual((at1["min"], at1["max"]), (11.0, 13.0))
        one = run.run_state(stream="rank1")
        self.assertEqual(list(one["streams"]), ["rank1"])
        self.assertEqual(one["summary"]["params"], {"lr": 0.1, "rank": 1})
        with self.assertRaises(provtrace.NotFoundError):
            run.run_state(step=99)
        with self.assertRaises(provtrace.NotFoundError):
            run.run_state(stream="rank9")

    def test_replay_cli_shows_each_stream_and_the_summary(self):
        self.setup_params()
        out = self.pt("replay", "--run", "ddp").stdout
        for r in ("rank0", "rank1", "rank2"):
            self.assertIn("== stream %s ==" % r, out)
        self.assertIn("== run ddp: 3 streams ==", out)
        self.assertRegex(out, r"params \(the same in every stream\):\n  lr = 0.1\n")
        self.assertRegex(out, r"  loss: n=3 min=1 mean=2 max=3\n      rank0 = 1.0\n")
        j = json.loads(self.pt("replay", "--run", "ddp", "--json").stdout)
        self.assertEqual(j["summary"]["params"], {"lr": 0.1})
        one = json.loads(self.pt("replay", "--run", "ddp", "--stream", "rank2", "--json").stdout)
        self.assertEqual(one["stream"], "rank2")  # one stream: the stream's state, as before
        p = self.pt("replay", "--run", "ddp", "--lineages", code=2)
        self.assertIn("--stream", p.stderr)
        self.pt("replay", "--run", "ddp", "--at", "step=99", code=1)

    def test_one_stream_run_reads_as_before(self):
        self.pt("init")
        self.pt("emit", "--run", "solo", "--stream", "only",
                stdin=json.dumps(ev(1, 1, 1.0)) + "\n" + json.dumps(ev(2, 2, 2.0)) + "\n")
        out = self.pt("log", "--run", "solo").stdout.splitlines()
        self.assertEqual(len(out), 2)
        self.assertTrue(out[0].lstrip().startswith("1 "), out)
        evs = list(provtrace.open_run("solo", store=self.store).events())
        self.assertEqual(self.order(evs), [("only", 1), ("only", 2)])

    def test_a_run_without_streams_or_missing_is_not_found(self):
        self.pt("init")
        with self.assertRaises(provtrace.NotFoundError):
            list(provtrace.open_run("nope", store=self.store).events())
        self.pt("log", "--run", "nope", code=1)


if __name__ == "__main__":
    unittest.main()
