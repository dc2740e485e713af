#!/usr/bin/python3
"""Human listings of the CLI that had small lies in them (issue 11, item 14).

Runs with the binary in $PROVTRACE_BIN (ctest sets it); the runs are
recorded through the Python binding found beside it (bindings/python, the
library in the build directory), because lineages and blob checkpoints have
no CLI writer.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_cli import BIN, CliTest  # noqa: E402



class Listings(CliTest):
    def record(self, code):
        self.py(code)

    def test_lineages_are_a_table_unless_json_is_asked_for(self):
        self.init()
        self.record(
            "with provtrace.Recorder(run='r', store=store, capture_code=False) as rec:\n"
            "    for s in range(10):\n"
            "        rec.metric('loss', 1.0 / (s + 1), step=s)\n"
            "        if s == 4: rec.checkpoint(s, {'w': np.ones(3)}, wait=True)\n"
            "with provtrace.Recorder(run='r', store=store, capture_code=False, resume=4) as rec:\n"
            "    for s in range(5, 8): rec.metric('loss', 2.0, step=s)\n")
        p = self.pt("replay", "--run", "r", "--lineages", code=0)
        lines = p.out.splitlines()
        self.assertTrue(lines[0].startswith("lineage"), p.out)
        self.assertEqual(len(lines), 3, p.out)
        self.assertNotIn("{", p.out)
        self.assertRegex(lines[2], r"^1\s+0\s+4\s+\d+\.\.\d+\s+[0-9a-f]{16}\.\.\.\s+\(live\)$")
        self.assertNotIn("(live)", lines[1])
        j = json.loads(self.pt("replay", "--run", "r", "--lineages", "--json", code=0).out)
        self.assertEqual([(x["lineage"], x["parent"]) for x in j["lineages"]], [(0, None), (1, 0)])
        self.assertEqual(j["live"], 1)

    def test_checkpoint_entries_count_blobs_too(self):
        self.init()
        self.record(
            "with provtrace.Recorder(run='b', store=store, capture_code=False) as rec:\n"
            "    rec.checkpoint(1, {'opt': b'opaque bytes'}, wait=True)\n"
            "    rec.checkpoint(2, {'w': np.ones(3), 'x': np.zeros(2), 'opt': b'more'}, wait=True)\n")
        self.assertRegex(self.pt("replay", "--run", "b", "--at", "step=1", code=0).out,
                         r"checkpoint\s+[0-9a-f]{64} at seq \d+, step 1, 1 entry\n")
        self.assertRegex(self.pt("replay", "--run", "b", code=0).out,
                         r"checkpoint\s+[0-9a-f]{64} at seq \d+, step 2, 3 entries\n")


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        sys.exit("provtrace binary not found: set PROVTRACE_BIN (tried %s)" % BIN)
    unittest.main()
