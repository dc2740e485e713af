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

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "bindings", "python")


class Render(CliTest):
    def py(self, code):
        """Run `code` with `provtrace` imported and `store` set; return its stdout."""
        env = dict(self.env)
        env["PYTHONPATH"] = PYDIR
        env.setdefault("PROVTRACE_LIB", os.path.join(os.path.dirname(BIN), "lib", "libprovtrace.so"))
        src = "import json, numpy as np, provtrace\nstore = %r\n%s" % (self.store, code)
        p = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

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

    def test_emit_checks_decisions_against_the_schema(self):
        self.init()
        lines = ('{"kind": "decision", "name": "lr", "set": {"lr": 0.1}, "reason": "plateau"}\n'
                 '{"kind": "decision", "name": "lr", "set": [0.1]}\n'
                 '{"kind": "decision", "name": "lr", "reason": 3}\n'
                 '{"kind": "decision", "actor": {"who": "me"}}\n'
                 '{"kind": "note", "set": [1], "reason": 3}\n')
        p = self.emit("r", lines, code=1)
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
        self.assertEqual([e["kind"] for e in evs], ["decision", "decision"])
        self.assertEqual({k: evs[0][k] for k in ("step", "name", "set", "reason", "actor", "considered")},
                         {"step": 3, "name": "lr", "set": {"lr": 0.5}, "reason": "plateau", "actor": "sched",
                          "considered": [1, 2]})
        st = json.loads(self.pt("replay", "--run", "d", "--json", code=0).out)
        self.assertEqual(st["params"]["lr"]["value"], 0.25)


if __name__ == "__main__":
    unittest.main()
