"""Damage is reported by verify() and raised by events()."""

import glob
import os
import unittest

from ptutil import StoreTest

import provtrace


class CorruptTest(StoreTest):
    def make_run(self):
        with provtrace.Recorder(run="r", store=self.store) as rec:
            for i in range(2000):
                rec.metric("loss", float(i), step=i)
                rec.param("p%d" % (i % 7), "value %d" % i)
        segs = glob.glob(os.path.join(self.store, "runs", "r", "main", "segments", "*.ptseg"))
        self.assertEqual(len(segs), 1, segs)  # close sealed it
        return segs[0]

    def flip(self, path, offset):
        with open(path, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x40]))

    def test_flipped_byte_in_sealed_segment_is_raised_by_events(self):
        seg = self.make_run()
        self.flip(seg, os.path.getsize(seg) // 2)
        with self.assertRaises(provtrace.CorruptError) as cm:
            for _ in provtrace.open_run("r", self.store).events():
                pass
        self.assertEqual(cm.exception.name, "PT_ECORRUPT")
        self.assertTrue(cm.exception.message)

    def test_flipped_byte_in_sealed_segment_is_reported_by_verify(self):
        seg = self.make_run()
        self.assertEqual(provtrace.verify(self.store), [])
        # The middle of the file lies inside a compressed batch payload.
        self.flip(seg, os.path.getsize(seg) // 2)
        report = provtrace.verify(self.store)
        self.assertFalse(report.ok)
        errs = [p for p in report if p["severity"] == "error"]
        self.assertTrue(errs)
        rel = os.path.relpath(seg, self.store)
        self.assertTrue(any(rel in p["object"] or os.path.basename(seg) in p["object"]
                            for p in errs), errs)
        for p in errs:
            self.assertEqual(set(p), {"severity", "code", "rc", "error", "object", "offset", "message"})
            self.assertEqual(p["error"], p["code"])
            self.assertTrue(p["code"].startswith("PT_E"), p)
            self.assertLess(p["rc"], 0)
            self.assertTrue(p["message"])
        self.assertEqual(provtrace.verify(self.store, run="r"), report)
        # The library renders the whole result; .stats counts what it listed.
        self.assertEqual(report.json["problems"],
                         [{k: v for k, v in p.items() if k != "error"} for p in report])
        self.assertEqual(report.stats["errors"], len(errs))
        self.assertEqual(report.json["errors"], len(errs))
        self.assertFalse(report.json["ok"])

    def test_removed_segment(self):
        seg = self.make_run()
        os.remove(seg)
        with self.assertRaises(provtrace.ProvtraceError):
            list(provtrace.open_run("r", self.store).events())
        self.assertFalse(provtrace.verify(self.store).ok)


if __name__ == "__main__":
    unittest.main()
