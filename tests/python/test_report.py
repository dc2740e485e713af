"""Pictures (issue 14): Run.report() / provtrace.report() / report_html() / html_escape() and
provtrace.ui() from Python, with their failure paths.  The pages in a browser: tests/browser."""

import os
import re
import urllib.error
import urllib.request
import unittest

from ptutil import StoreTest, provtrace


class ReportTest(StoreTest):
    def record(self, run="r", resume=None, steps=range(30)):
        with provtrace.Recorder(run=run, store=self.store, capture_code=False, resume=resume) as rec:
            rec.param("lr", 0.1)
            for s in steps:
                rec.metric("loss", 1 / (s + 1), step=s)
            rec.decision("lr", step=steps[-1], set={"lr": 0.01}, reason="plateau", actor="sched")

    def test_report_returns_or_writes_the_page(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        html = run.report()
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        self.assertIn("reason: plateau · actor: sched", html)
        path = os.path.join(self.tmp, "r.html")
        self.assertEqual(run.report(path, log=True, x="time", metrics=["loss"], verify=False, width=400,
                                    title="T"), path)
        with open(path, encoding="utf-8") as f:
            page = f.read()
        self.assertIn('data-log="1"', page)
        self.assertIn('data-xt="1"', page)
        self.assertIn("<title>T</title>", page)
        self.assertIn("Not verified", page)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith(".report-")], [])

    def test_compare_and_resume(self):
        self.record("a")
        self.record("b", steps=range(10))
        self.record("b", resume=5, steps=range(6, 12))
        run = provtrace.open_run("a", store=self.store)
        html = run.report(compare=[provtrace.open_run("b", store=self.store)])
        self.assertEqual(html.count('<polyline class="s"'), 2)
        self.assertEqual(html.count('<polyline class="s ab"'), 1)
        self.assertIn("resumed as lineage 1 from lineage 0 at step 5", html)
        self.assertEqual(provtrace.report_html(["a", "b"], self.store).count("<figure"), 1)

    def test_bad_arguments(self):
        self.record()
        run = provtrace.open_run("r", store=self.store)
        with self.assertRaises(ValueError):
            run.report(x="epoch")
        with self.assertRaises(TypeError):
            run.report(width="wide")
        with self.assertRaises(provtrace.InvalidError):
            run.report(width=5)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.report_html(["r", "r"], self.store)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.report_html(["r"] * 17, self.store)
        with self.assertRaises(provtrace.NotFoundError):
            run.report(compare=["missing"])
        with self.assertRaises(ValueError):
            provtrace.report_html([], self.store)
        with self.assertRaises(ValueError):
            provtrace.report_html(["r\0x"], self.store)
        with self.assertRaises(TypeError):
            provtrace.html_escape(b"x")
        self.assertEqual(provtrace.html_escape("a<b\x00"), "a&lt;b\u2400")

    def test_ui(self):
        self.record()
        with provtrace.ui(self.store) as u:
            self.assertRegex(u.url, r"^http://127\.0\.0\.1:\d+/$")
            self.assertFalse(u.remote)
            with urllib.request.urlopen(u.url + "report?run=r&verify=0") as r:
                self.assertIn("data-poll=", r.read().decode())
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(u.url + "report?run=nope")
            self.assertEqual(cm.exception.code, 404)
            cm.exception.close()
            port = u.port
        self.assertTrue(u.stopped)
        with self.assertRaises(provtrace.ClosedError):
            u.url
        u.stop()  # idempotent
        with self.assertRaises(provtrace.InvalidError):
            provtrace.ui(self.store, bind="192.0.2.1")
        with self.assertRaises(provtrace.InvalidError):
            provtrace.ui(self.store, bind="not-an-address")
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.ui(os.path.join(self.tmp, "nowhere"))
        with self.assertRaises(TypeError):
            provtrace.ui(self.store, port="80")
        # the port is free again once stopped
        with provtrace.ui(self.store, port=port) as u2:
            self.assertEqual(u2.port, port)
            with self.assertRaises(provtrace.StorageError):
                provtrace.ui(self.store, port=port)


if __name__ == "__main__":
    unittest.main()
