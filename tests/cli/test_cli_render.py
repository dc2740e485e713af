#!/usr/bin/python3
"""One renderer per thing (issue 12 item 5): the CLI and the Python binding
show the library's rendering of verify results and checkpoint listings, and
write decisions through the library's one decision writer.

Runs with the binary in $PROVTRACE_BIN and the library in $PROVTRACE_LIB
(ctest sets both); Python code runs in a child interpreter.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_cli import BIN, CliTest  # noqa: E402



class Render(CliTest):

    def test_verify_json_is_the_same_document_in_cli_and_python(self):
        self.init()
        self.emit("r", [{"kind": "metric", "step": i, "value": i / 3} for i in range(500)])
        for expect_ok in (True, False):
            cli = json.loads(self.pt("verify", "--json", code=0 if expect_ok else 1).out)
            py = json.loads(self.py("r = provtrace.verify(store)\n"
                                    "print(json.dumps({'json': r.json, 'list': list(r)}))"))
            self.assertEqual(cli, py["json"])
            self.assertEqual(cli["ok"], expect_ok)
            self.assertEqual([dict(p, error=p["code"]) for p in cli["problems"]], py["list"])
            if not expect_ok:
                self.assertTrue(cli["problems"])
                for p in cli["problems"]:
                    self.assertEqual(set(p), {"severity", "code", "rc", "object", "offset", "message"})
                    self.assertTrue(p["code"].startswith("PT_E"))
                    self.assertIsInstance(p["rc"], int)
                break
            seg = self.segments("r")[0]
            with open(seg, "r+b") as f:
                f.seek(os.path.getsize(seg) // 2)
                b = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([b[0] ^ 0x20]))

    def test_runs_json_is_the_same_listing_in_cli_and_python(self):
        self.init()
        self.assertEqual(self.pt("runs", "--json", code=0).out, "[]\n")
        self.emit("r", [{"kind": "metric", "step": i, "value": i / 3} for i in range(50)])
        self.emit("r", [{"kind": "note"}], stream="other")
        self.emit("q", [{"kind": "note"}])
        cli = json.loads(self.pt("runs", "--json", code=0).out)
        py = json.loads(self.py("print(json.dumps(provtrace.runs_info(store)))"))
        self.assertEqual(cli, py)
        self.assertEqual([(r["run"], r["events"], [s["stream"] for s in r["streams"]]) for r in cli],
                         [("q", 1, ["main"]), ("r", 51, ["main", "other"])])
        main = cli[1]["streams"][0]
        self.assertEqual((main["step_min"], main["step_max"], main["seq_first"], main["seq_last"]),
                         (0, 49, 1, 50))
        self.assertIsNone(cli[1]["streams"][1]["step_min"])

    def test_emit_checks_decisions_against_the_schema(self):
        self.init()
        lines = ('{"kind": "decision", "name": "lr", "set": {"lr": 0.1}, "reason": "plateau"}\n'
                 '{"kind": "decision", "name": "lr", "set": [0.1]}\n'
                 '{"kind": "decision", "name": "lr", "reason": 3}\n'
                 '{"kind": "decision", "actor": {"who": "me"}}\n'
                 '{"kind": "note", "set": [1], "reason": 3}\n')
        p = self.emit("r", lines, code=1, extra=["--all-or-nothing"])  # streaming would keep lines 1, 5
        self.assertIn('line 2: decision: "set" must be a map', p.err)
        self.assertIn('line 3: decision: "reason" must be a string', p.err)
        self.assertIn('line 4: decision: "actor" must be a string', p.err)
        self.assertNotIn("line 1:", p.err)
        self.assertNotIn("line 5:", p.err)
        self.assertIn("3 of 5 lines rejected", p.err)
        self.assertEqual(self.pt("log", "--run", "r", code=0).out, "")  # nothing appended
        ok = lines.splitlines()[0] + "\n" + lines.splitlines()[4] + "\n"
        self.emit("r", ok)
        evs = self.log_json("--run", "r")
        self.assertEqual([(e["kind"], e.get("set")) for e in evs], [("decision", {"lr": 0.1}), ("note", [1])])

    def test_python_decisions_go_through_the_library_writer(self):
        self.init()
        out = self.py(
            "errs = []\n"
            "with provtrace.Recorder(run='d', store=store, capture_code=False) as rec:\n"
            "    rec.decision('lr', step=3, set={'lr': 0.5}, reason='plateau', actor='sched', considered=[1, 2])\n"
            "    rec.decision('lr', step=4, set={'lr': np.float32(0.25)}, reason='typed path')\n"
            "    for bad in (dict(set=[1]), dict(set='x'), dict(reason=5), dict(actor=b'a'), dict(set={1: 2})):\n"
            "        try:\n"
            "            rec.decision('lr', **bad)\n"
            "        except TypeError as e:\n"
            "            errs.append(str(e))\n"
            "print(json.dumps(errs))\n")
        errs = json.loads(out)
        self.assertEqual(len(errs), 5, errs)
        self.assertIn("'set'", errs[0])
        self.assertIn("'reason'", errs[2])
        evs = self.log_json("--run", "d")
        self.assertEqual([e["kind"] for e in evs], ["decision", "decision", "run_end"])
        self.assertEqual({k: evs[0][k] for k in ("step", "name", "set", "reason", "actor", "considered")},
                         {"step": 3, "name": "lr", "set": {"lr": 0.5}, "reason": "plateau", "actor": "sched",
                          "considered": [1, 2]})
        st = json.loads(self.pt("replay", "--run", "d", "--json", code=0).out)
        self.assertEqual(st["params"]["lr"]["value"], 0.25)

    def object_bytes(self):
        total = 0
        for root, _dirs, files in os.walk(os.path.join(self.store, "objects")):
            for f in files:
                path = os.path.join(root, f)
                if len(f) >= 60 and os.path.isfile(path):  # object files, not locks or temporaries
                    total += os.path.getsize(path)
        return total

    CK = ("with provtrace.Recorder(run=%r, store=store, capture_code=False) as rec:\n"
          "    rec.checkpoint(5, {'w': np.random.default_rng(7).standard_normal(1 << 20).astype('float32'),\n"
          "                       'opt': b'state' * 1000}, wait=True)\n")

    def check_listing(self, runs):
        cli = json.loads(self.pt("checkpoint", "ls", "--json", code=0).out)
        py = json.loads(self.py("print(json.dumps([c.info for r in %r for c in provtrace.open_run(r, store).checkpoints()]))"
                                % (runs,)))
        self.assertEqual(cli, py)
        for c in cli:
            self.assertIsInstance(c["time_ns"], int)
            self.assertRegex(c["time"], r"^\d{4}-\d\d-\d\dT")
            self.assertIn("dedup_ratio", c)
        tot = json.loads(self.py("print(json.dumps(provtrace.checkpoint_totals(store)))"))
        on_disk = self.object_bytes()
        self.assertEqual(tot["stored_bytes"], on_disk)
        self.assertEqual(tot["checkpoints"], len(runs))
        self.assertEqual(tot["missing_objects"], 0)
        human = self.pt("checkpoint", "ls", code=0).out.splitlines()[-1]
        self.assertRegex(human, r"^%d checkpoints: .* logical, .* stored \(\d+\.\dx\)$" % len(runs))
        return tot, on_disk

    def test_stored_counts_chunks_that_two_writers_stored_once(self):
        """Two writers that store the same chunk each report it as added; the
        totals count the bytes on disk once.  First the state such a race
        leaves, made deterministically (the second writer finds no object),
        then two writers at the same time."""
        self.init()
        self.py(self.CK % "a")
        objs = os.path.join(self.store, "objects")
        for root, _dirs, files in os.walk(objs):
            for f in files:
                if len(f) >= 60:
                    os.unlink(os.path.join(root, f))
        self.py(self.CK % "b")  # stores every object again: "added" by both
        tot, on_disk = self.check_listing(["a", "b"])
        self.assertGreaterEqual(tot["added_bytes"], 2 * on_disk - 4096)  # counted twice there
        self.assertLess(tot["stored_bytes"], tot["added_bytes"])
        self.pt("verify", code=0)

        procs = [subprocess.Popen([sys.executable, "-c", "import numpy as np, provtrace\nstore = %r\n%s"
                                   % (self.store, self.CK % r)], env=self.py_env()) for r in ("c", "d")]
        for p in procs:
            self.assertEqual(p.wait(timeout=120), 0)
        tot2, on_disk2 = self.check_listing(["a", "b", "c", "d"])
        # the same content: no new object, whatever each writer believed it added
        self.assertEqual((tot2["objects"], tot2["stored_bytes"], on_disk2), (tot["objects"], tot["stored_bytes"], on_disk))
        self.assertEqual(tot2["logical_bytes"], 2 * tot["logical_bytes"])
        self.pt("verify", code=0)


if __name__ == "__main__":
    unittest.main()
