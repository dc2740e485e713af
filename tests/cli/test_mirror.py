#!/usr/bin/python3
"""The Kinesis mirror against moto's Kinesis (moto_server on 127.0.0.1, a free
port, stopped by pid; tests/remote/harness.py).  A boto3 reader (the
interpreter moto runs with) reads every shard from TRIM_HORIZON.

A missing moto_server skips (exit 77) locally and fails under CI=true.
"""
import base64
import http.server
import json
import threading
import os
import random
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "remote"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
import harness  # noqa: E402
from test_cli import BIN, CliTest  # noqa: E402

AWS_PY = None
MOTO = None


def setUpModule():
    global AWS_PY, MOTO
    harness.moto_server_path()  # exits 77 (or 1 under CI=true) when missing
    AWS_PY = harness.aws_python()
    MOTO = harness.Moto().start()


def tearDownModule():
    if MOTO:
        MOTO.stop()


def line(i, **extra):
    d = {"kind": "metric", "name": "loss", "value": float(i), "step": i}
    d.update(extra)
    return json.dumps(d) + "\n"


class FakeKinesis:
    """A PutRecords endpoint on 127.0.0.1 that answers as told (no signature check):
    mode "partial": the first call fails its 2nd record, later calls accept all;
    mode "lying": answers 200 listing no records."""

    def __init__(self, mode):
        self.mode = mode
        self.calls = []  # the Data of each record, per call
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recs = body["Records"]
                outer.calls.append([base64.b64decode(r["Data"]) for r in recs])
                if outer.mode == "lying":
                    ans = {"FailedRecordCount": 0, "Records": []}
                else:
                    out = []
                    for i, _ in enumerate(recs):
                        if len(outer.calls) == 1 and i == 1:
                            out.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                        "ErrorMessage": "slow down"})
                        else:
                            out.append({"SequenceNumber": str(len(outer.calls) * 1000 + i), "ShardId": "s-0"})
                    ans = {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}
                data = json.dumps(ans).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.endpoint = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class Mirror(CliTest):
    def setUp(self):
        super().setUp()
        self.env.update(harness.TEST_ENV)
        self.env.pop("AWS_ENDPOINT_URL", None)
        self.env.pop("AWS_PROFILE", None)
        self.ep = MOTO.endpoint
        self.kstream = "ks-%d-%d" % (os.getpid(), random.randrange(1 << 30))

    def kinesis(self, *args):
        p = subprocess.run([AWS_PY, os.path.join(HERE, "kinesis_tool.py"), self.ep] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return [json.loads(x) for x in p.stdout.decode().splitlines()]

    def read_json_records(self):
        out = []
        for r in self.kinesis("read", self.kstream):
            out.append((r["key"], json.loads(base64.b64decode(r["data"]))))
        return out

    def by_key(self, recs):
        keys = {}
        for key, ev in recs:
            self.assertEqual(key, "%s/%s" % (ev["run"], ev["stream"]))
            keys.setdefault(key, []).append(ev["seq"])
        return keys

    def test_every_event_in_order_per_key_and_big_events_referenced(self):
        self.init()
        self.kinesis("create", self.kstream, "2")
        self.pt("emit", "--run", "r", "--stream", "a", "-q", input="".join(line(i) for i in range(300)), code=0)
        self.pt("emit", "--run", "r", "--stream", "b", "-q", input="".join(line(i) for i in range(250)), code=0)
        big = json.dumps({"kind": "note", "text": "x" * (1100 * 1024)}) + "\n"
        self.pt("emit", "--run", "r", "--stream", "a", "-q", input=big, code=0)
        p = self.pt("mirror", "m", "--to", "kinesis://" + self.kstream, "--endpoint", self.ep, "--batch", "120",
                    "--no-follow", code=0)
        self.assertIn("551 records put", p.err)
        self.assertIn("1 referenced", p.err)
        recs = self.read_json_records()
        keys = self.by_key(recs)
        self.assertEqual(keys["r/a"], list(range(1, 302)))  # every event, in order, once
        self.assertEqual(keys["r/b"], list(range(1, 251)))
        ref = [ev for _, ev in recs if ev.get("ref")]
        self.assertEqual(len(ref), 1)
        self.assertEqual(ref[0]["ref"], "provtrace://r/a/301")
        self.assertGreater(ref[0]["bytes"], 1 << 20)
        self.assertEqual(ref[0]["kind"], "note")
        # committed: nothing left, a second run puts nothing
        info = json.loads(self.pt("consumers", "--json", "m", code=0).out)
        self.assertEqual(info["events_behind"], 0)
        p = self.pt("mirror", "m", "--to", "kinesis://" + self.kstream, "--endpoint", self.ep, "--no-follow", code=0)
        self.assertIn("0 records put", p.err)

    def test_kill_and_restart_duplicates_at_most_one_batch(self):
        self.init()
        self.kinesis("create", self.kstream, "1")
        n = 3000
        self.pt("emit", "--run", "k", "-q", input="".join(line(i) for i in range(n)), code=0)
        env = dict(self.env)
        env["AWS_ENDPOINT_URL_KINESIS"] = self.ep  # found like AWS tools find it
        argv = [BIN, "--store", self.store, "mirror", "km", "--to", "kinesis://" + self.kstream, "--batch", "100"]
        rnd = random.Random(int(os.environ.get("PT_KILL_SEED", str(os.getpid()))))
        p = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(rnd.uniform(0.3, 1.0))
        p.kill()
        p.wait()
        self.pt("mirror", "km", "--to", "kinesis://" + self.kstream, "--no-follow", env=env, code=0)
        keys = self.by_key(self.read_json_records())
        seqs = keys["k/main"]
        self.assertEqual(sorted(set(seqs)), list(range(1, n + 1)))  # nothing lost
        self.assertLessEqual(len(seqs) - n, 100)  # at most the batch in hand again
        # in order per key, apart from the repeated batch
        firsts = []
        for s in seqs:
            if s not in firsts[-1:] and (not firsts or s > firsts[-1]):
                firsts.append(s)
        self.assertEqual(firsts, list(range(1, n + 1)))

    def test_python_mirror_msgpack(self):
        import msgpack
        self.kinesis("create", self.kstream, "1")
        # in a child interpreter (py(): it preloads the sanitizer runtime in an ASan build)
        out = self.py(
            "with provtrace.Recorder(run='py', store=store) as rec:\n"
            "    for i in range(40):\n"
            "        rec.metric('acc', i / 40, step=i)\n"
            "total = len(list(provtrace.open_run('py', store=store).events()))\n"
            "stats = provtrace.mirror('pm', %r, endpoint=%r, format='msgpack', follow=False, store=store,\n"
            "                         batch=16)\n"
            "try:\n"
            "    provtrace.mirror('pm', 's3://x', store=store)\n"
            "    bad = False\n"
            "except ValueError:\n"
            "    bad = True\n"
            "print(json.dumps([total, stats, bad]))\n" % ("kinesis://" + self.kstream, self.ep))
        total, stats, bad = json.loads(out.splitlines()[-1])
        self.assertTrue(bad)
        self.assertEqual(stats["records"], total)
        self.assertEqual(stats["requests"], (total + 15) // 16)
        recs = self.kinesis("read", self.kstream)
        evs = [msgpack.unpackb(base64.b64decode(r["data"]), raw=False) for r in recs]
        self.assertEqual([e["event"]["seq"] for e in evs], list(range(1, total + 1)))
        self.assertEqual({(e["run"], e["stream"]) for e in evs}, {("py", "main")})
        self.assertEqual([e["event"]["body"]["value"] for e in evs if e["event"]["kind"] == "metric"],
                         [i / 40 for i in range(40)])

    def test_only_the_records_a_partial_failure_names_are_sent_again(self):
        self.init()
        self.pt("emit", "--run", "p", "-q", input="".join(line(i) for i in range(5)), code=0)
        fake = FakeKinesis("partial")
        try:
            p = self.pt("mirror", "pf", "--to", "kinesis://s", "--endpoint", fake.endpoint, "--no-follow", code=0)
        finally:
            fake.close()
        self.assertIn("5 records put", p.err)
        self.assertIn("1 sent again", p.err)
        self.assertEqual(len(fake.calls), 2)
        self.assertEqual(len(fake.calls[0]), 5)
        self.assertEqual(fake.calls[1], [fake.calls[0][1]])  # exactly the failed record
        self.assertEqual(json.loads(fake.calls[1][0])["seq"], 2)

    def test_a_lying_answer_fails_the_batch(self):
        self.init()
        self.pt("emit", "--run", "l", "-q", input=line(1), code=0)
        fake = FakeKinesis("lying")
        try:
            p = self.pt("mirror", "ly", "--to", "kinesis://s", "--endpoint", fake.endpoint, "--no-follow",
                        "--max-retries", "0", "--backoff", "0", code=0)
        finally:
            fake.close()
        self.assertIn("1 event recorded in its failure stream", p.err)
        fails = [json.loads(x) for x in self.pt("log", "--json", "--run", "consumer-failures", "--stream", "ly",
                                                "--kind", "consumer_failure", code=0).out.splitlines()]
        self.assertIn("does not list the 1 records sent", fails[0]["error"])

    def test_missing_stream_and_bad_options(self):
        self.init()
        self.pt("emit", "--run", "e", "-q", input=line(1) + line(2), code=0)
        p = self.pt("mirror", "bad", "--to", "kinesis://no-such-stream", "--endpoint", self.ep, "--no-follow",
                    "--max-retries", "0", "--backoff", "0", code=0)
        self.assertIn("2 events recorded in its failure stream", p.err)
        fails = [json.loads(x) for x in self.pt("log", "--json", "--run", "consumer-failures", "--stream", "bad",
                                                "--kind", "consumer_failure", code=0).out.splitlines()]
        self.assertEqual([f["seq_first"] for f in fails], [1, 2])
        self.assertIn("ResourceNotFoundException", fails[0]["error"])
        self.pt("mirror", "x", "--endpoint", self.ep, code=2)                       # no --to
        self.pt("mirror", "x", "--to", "s3://b", code=2)                           # not kinesis
        self.pt("mirror", "x", "--to", "kinesis://bad name", "--endpoint", self.ep, "--no-follow", code=2)
        self.pt("mirror", "x", "--to", "kinesis://k", "--endpoint", "ftp://h", "--no-follow", code=2)
        self.pt("mirror", "x", "--to", "kinesis://k", "--format", "xml", code=2)
        # a server that is not there: the batch fails (after the client's retries) and is recorded
        p = self.pt("mirror", "down", "--to", "kinesis://k", "--endpoint", "http://127.0.0.1:9",
                    "--no-follow", "--max-retries", "0", "--backoff", "0", code=0)
        self.assertIn("recorded in its failure stream", p.err)


if __name__ == "__main__":
    unittest.main()
