#!/usr/bin/python3
"""`provtrace report` and `provtrace ui` (issue 14) from the command line, and the same page
from Python (Run.report, provtrace.ui).  The pages in a real browser: tests/browser.

Runs with the binary in $PROVTRACE_BIN and the library in $PROVTRACE_LIB (ctest sets both).
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from test_cli import CliTest  # noqa: E402

HOSTILE = "</script><script>alert(1)</script>\"'<b>&\x01\x1b[31m"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_made(html):
    """The page without the moment it was made (two renderings differ only there)."""
    return re.sub(r"report, made [^;]*;", "report, made T;", html)


class Report(CliTest):

    def record(self, run="r", n=50):
        self.init()
        evs = [{"kind": "param", "name": "lr", "value": 0.1}]
        for s in range(n):
            evs.append({"kind": "metric", "name": "loss", "step": s, "value": 1 / (s + 1)})
            if s == 20:
                evs.append({"kind": "decision", "name": "lr", "step": s, "set": {"lr": 0.01},
                            "reason": "plateau", "actor": "scheduler"})
        self.emit(run, evs)

    def test_writes_one_self_contained_page(self):
        self.record()
        out = os.path.join(self.tmp, "r.html")
        p = self.pt("report", "r", "-o", out, code=0)
        self.assertIn("wrote %s" % out, p.err)
        html = read(out)
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        self.assertEqual(html.count("<script"), 1)
        self.assertIn("default-src 'none'", html)
        self.assertNotRegex(html, r"(src|href)=|https?://")
        self.assertEqual(html.count('<figure class="chart"'), 1)
        self.assertEqual(html.count('<g class="dec"'), 1)
        self.assertIn("reason: plateau · actor: scheduler", html)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)
        # the store's only run without naming it; standard output with -o -
        same = self.pt("report", "-o", "-", code=0).out
        self.assertEqual(strip_made(same), strip_made(html))

    def test_options(self):
        self.record()
        html = self.pt("report", "r", "-o", "-", "--x", "time", "--log", "--no-verify",
                       "--metric", "loss", "--width", "300", "--title", HOSTILE, code=0).out
        self.assertIn('data-xt="1"', html)
        self.assertIn('data-log="1"', html)
        self.assertIn('viewBox="0 0 300 240"', html)
        self.assertIn("Not verified", html)
        self.assertIn("<title>&lt;/script&gt;&lt;script&gt;alert(1)", html)
        self.assertEqual(html.count("<script"), 1)
        self.assertNotIn("\x01", html)

    def test_usage_and_errors(self):
        self.record()
        self.assertIn("-o FILE.html", self.pt("report", "r", code=2).err)
        self.assertIn("expects step or time", self.pt("report", "r", "-o", "-", "--x", "epoch", code=2).err
                      .replace("step, or time", "step or time").replace("expects one of", "expects"))
        self.pt("report", "r", "-o", "-", "--width", "5", code=2)
        miss = self.pt("report", "r", "nope", "-o", os.path.join(self.tmp, "x.html"), code=1)
        self.assertIn("nope", miss.err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.html")))
        self.pt("report", "../etc", "-o", "-", code=2)
        self.assertIn("given twice", self.pt("report", "r", "r", "-o", "-", code=1).err)
        too_many = ["r"] * 17
        self.pt("report", *too_many, "-o", "-", code=2)
        d = os.path.join(self.tmp, "dir")
        os.mkdir(d)
        self.assertIn("is a directory", self.pt("report", "r", "-o", d, code=1).err)
        self.assertTrue(os.path.isdir(d))
        self.assertEqual(os.listdir(self.tmp).count("dir"), 1)
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp-" in f], [])

    def test_a_fifo_is_written_in_place_not_replaced(self):
        self.record()
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        got = []
        def drain():
            with open(fifo, "rb") as f:
                got.append(f.read())

        t = threading.Thread(target=drain)
        t.start()
        self.pt("report", "r", "-o", fifo, code=0)
        t.join(30)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
        self.assertTrue(got and got[0].startswith(b"<!DOCTYPE html>"))

    def test_python_writes_the_same_page(self):
        self.record()
        self.emit("q", [{"kind": "param", "name": "lr", "value": 0.2},
                        {"kind": "metric", "name": "loss", "step": 0, "value": 2.0}])
        cli = self.pt("report", "r", "q", "-o", "-", code=0).out
        path = os.path.join(self.tmp, "py.html")
        out = self.py("r = provtrace.open_run('r', store)\n"
                      "print(r.report(%r, compare=['q']))\n"
                      "print(len(r.report()))\n"
                      "print(provtrace.html_escape(%r))\n"
                      "try:\n    r.report(x='epoch')\nexcept ValueError as e:\n    print('ValueError')\n"
                      "try:\n    provtrace.report(['r', 'zz'], %r, store)\nexcept provtrace.NotFoundError as e:\n"
                      "    print('NotFoundError', e)\n" % (path, HOSTILE, path + "2")).splitlines()
        self.assertEqual(out[0], path)
        self.assertEqual(strip_made(read(path)), strip_made(cli))
        self.assertGreater(int(out[1]), 1000)
        self.assertEqual(out[2], "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&lt;b&gt;&amp;"
                                 "\u2401\u241b[31m")
        self.assertEqual(out[3], "ValueError")
        self.assertIn("NotFoundError", out[4])
        self.assertFalse(os.path.exists(path + "2"))
        # params that differ across the runs are marked
        self.assertIn('<tr class="diff"><td>lr</td>', cli)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Ui(CliTest):

    def start(self, *args):
        p = self.spawn("ui", *args)
        line = p.stdout.readline().decode().strip()
        self.assertTrue(line.startswith("http://"), (line, p.stderr.read1().decode() if p.poll() else ""))
        return p, line

    def get(self, url, headers=None, method="GET"):
        req = urllib.request.Request(url, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def test_pages_and_validation(self):
        self.init()
        self.emit("r1", [{"kind": "metric", "name": "loss", "step": s, "value": s} for s in range(20)])
        self.emit("r2", [{"kind": "param", "name": "lr", "value": HOSTILE},
                         {"kind": "metric", "name": HOSTILE, "step": 1, "value": 1.0}])
        before = sorted(os.path.relpath(os.path.join(d, f), self.store)
                        for d, _, fs in os.walk(self.store) for f in fs)
        p, url = self.start()
        self.assertRegex(url, r"^http://127\.0\.0\.1:\d+/$")
        st, h, body = self.get(url)
        self.assertEqual(st, 200)
        self.assertIn("default-src 'none'", h["Content-Security-Policy"])
        self.assertIn("connect-src 'self'", h["Content-Security-Policy"])
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertIn('id="where"', body)
        st, h, body = self.get(url + "api/runs")
        self.assertEqual([r["run"] for r in json.loads(body)], ["r1", "r2"])
        st, h, body = self.get(url + "api/runs?where=" + urllib.request.quote("max.loss > 10"))
        self.assertEqual(st, 200, body)
        self.assertEqual([r["run"] for r in json.loads(body)["runs"]], ["r1"])
        st, h, body = self.get(url + "api/runs?where=" + urllib.request.quote("max.loss >> 10"))
        self.assertEqual(st, 400)
        self.assertIn("position", json.loads(body)["error"])
        st, h, body = self.get(url + "api/runs?sort=-events")
        self.assertEqual([r["run"] for r in json.loads(body)["runs"]], ["r1", "r2"])
        st, h, body = self.get(url + "report?run=r2")
        self.assertEqual(st, 200)
        self.assertEqual(body.count("<script"), 1)
        self.assertIn('data-poll="api/version?run=r2"', body)
        self.assertNotIn("\x01", body)
        st, h, body = self.get(url + "report?run=r1&run=r2&part=charts")
        self.assertTrue(body.startswith('<section id="charts">'))
        st, h, body = self.get(url + "api/version?run=r1")
        self.assertEqual(body, "r1 main 20 %s 0\n" % body.split()[3])
        # validation: nothing reflected as markup, no traversal, read-only
        for path, code in (("report?run=../../etc", 400), ("report?run=" + urllib.request.quote("<b>x"), 400),
                           ("report?run=nope", 404), ("report", 400), ("report?run=r1&x=<b>", 400),
                           ("../../../etc/passwd", 404), ("%2e%2e/%2e%2e/etc/passwd", 404),
                           ("static/../../etc/passwd", 404), ("report?" + "&".join(["run=r1"] * 17), 400),
                           ("api/version?run=nope", 404), ("api/runs?limit=-1", 400),
                           ("x<script>alert(1)</script>", 404)):
            with self.subTest(path=path):
                st, h, body = self.get(url + path)
                self.assertEqual(st, code, body)
                self.assertNotIn("<b>x", body)
                self.assertNotIn("<script>alert", body)
                self.assertNotIn("root:", body)
        self.assertEqual(self.get(url, method="POST")[0], 405)
        self.assertEqual(self.get(url, method="PUT")[0], 405)
        self.assertEqual(self.get(url, method="DELETE")[0], 405)
        # a page elsewhere resolving its name to 127.0.0.1 sends its own Host
        self.assertEqual(self.get(url, headers={"Host": "evil.example:80"})[0], 421)
        port = url.rsplit(":", 1)[1].strip("/")
        self.assertEqual(self.get(url, headers={"Host": "localhost:" + port})[0], 200)
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(30), 0)
        after = sorted(os.path.relpath(os.path.join(d, f), self.store)
                       for d, _, fs in os.walk(self.store) for f in fs)
        # nothing written, not even the run summaries' cache (RUN/.summary) a query computes
        self.assertEqual(after, before)

    def test_port_bind_and_remote(self):
        self.init()
        port = free_port()
        p, url = self.start("--port", str(port))
        self.assertEqual(url, "http://127.0.0.1:%d/" % port)
        busy = self.pt("ui", "--port", str(port), code=1)
        self.assertIn("cannot listen", busy.err)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0)
        refused = self.pt("ui", "--bind", "0.0.0.0", code=2)
        self.assertIn("not a loopback address", refused.err)
        self.assertIn("--allow-remote", refused.err)
        self.pt("ui", "--bind", "localhost", code=2)
        self.pt("ui", "--port", "70000", code=2)
        p, url = self.start("--bind", "0.0.0.0", "--allow-remote")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0)
        self.assertIn("warning: listening on 0.0.0.0", p.stderr.read().decode())

    def test_python_ui(self):
        self.init()
        self.emit("r1", [{"kind": "metric", "name": "loss", "step": 1, "value": 1.0}])
        out = self.py("import urllib.request\n"
                      "with provtrace.ui(store) as u:\n"
                      "    print(u.url)\n"
                      "    print(urllib.request.urlopen(u.url + 'api/version?run=r1').read().decode(), end='')\n"
                      "print(u)\n"
                      "try:\n    provtrace.ui(store, bind='10.1.2.3')\nexcept provtrace.InvalidError:\n"
                      "    print('InvalidError')\n"
                      "try:\n    provtrace.ui(store, port=-1)\nexcept ValueError:\n    print('ValueError')\n"
                      ).splitlines()
        self.assertRegex(out[0], r"^http://127\.0\.0\.1:\d+/$")
        self.assertTrue(out[1].startswith("r1 main 1 "))
        self.assertEqual(out[2], "<provtrace.UI stopped>")
        self.assertEqual(out[3:], ["InvalidError", "ValueError"])


if __name__ == "__main__":
    unittest.main()
