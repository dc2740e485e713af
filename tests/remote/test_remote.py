"""Remotes, push and clone against moto's S3 server (run under harness.py --moto,
which exports PT_TEST_S3_ENDPOINT and test credentials)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

import provtrace  # noqa: E402

PT = os.environ.get("PROVTRACE_BIN")
EP = os.environ.get("PT_TEST_S3_ENDPOINT")


def aws(code, check=True):
    """Run boto3 code (the AWS-side view of the bucket) with moto's endpoint."""
    p = subprocess.run([harness.aws_python(), "-c", "import boto3, json, sys\ns3 = boto3.client('s3')\n" + code],
                       capture_output=True, text=True, env=harness.clean_env())
    if check and p.returncode != 0:
        raise AssertionError("boto3 failed: " + p.stderr[-2000:])
    return p.stdout


_bucket_no = [0]


def new_bucket():
    _bucket_no[0] += 1
    name = "pt-%d-%d" % (os.getpid(), _bucket_no[0])
    aws("s3.create_bucket(Bucket=%r)" % name)
    return name


def keys(bucket, prefix=""):
    out = aws("p = s3.get_paginator('list_objects_v2')\n"
              "for page in p.paginate(Bucket=%r, Prefix=%r):\n"
              "    for o in page.get('Contents', []): print(o['Key'])" % (bucket, prefix))
    return [k for k in out.splitlines() if k]


def cli(*args, check=True, env=None):
    p = subprocess.run([PT] + [str(a) for a in args], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError("provtrace %s: exit %d: %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return p


def record(store, run, n=3000, seed=0, stream="main", checkpoints=2):
    rng = np.random.default_rng(seed)
    with provtrace.Recorder(run, store=store, stream=stream, capture_code=False, segment_max_bytes=16384,
                            snapshot_every=500) as r:
        r.param("lr", 0.1)
        for i in range(n):
            r.metric("loss", float(rng.random()), step=i)
            if i % 1000 == 999:
                r.decision("lr", set={"lr": 0.1 / (i + 1)}, reason="plateau", step=i)
        for k in range(checkpoints):
            r.checkpoint(n + k, {"w": np.arange(50000, dtype=np.float32) * (k + 1),
                                 "frozen": np.ones(30000, dtype=np.float32)})


def log_json(store, run, stream="main"):
    return cli("--store", store, "log", "--run", run, "--stream", stream, "--json").stdout


@unittest.skipUnless(EP and PT, "run under tests/remote/harness.py --moto with PROVTRACE_BIN")
class RemoteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pt-remote-")
        self.bucket = new_bucket()
        # a store read from a bucket caches what it read here (and the CLI children inherit it)
        os.environ["PROVTRACE_CACHE_DIR"] = os.path.join(self.tmp, "cache")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def store(self, name="s"):
        path = os.path.join(self.tmp, name)
        cli("init", path)
        return path

    # ---- remote add / ls / rm --------------------------------------------------------------
    def test_remote_add_ls_rm_and_no_credentials_in_the_store(self):
        s = self.store()
        env = dict(os.environ, AWS_SECRET_ACCESS_KEY="s3cr3t-value-never-stored")
        cli("--store", s, "remote", "add", "origin", "s3://%s/team/x/" % self.bucket, "--endpoint", EP,
            "--region", "eu-west-1", env=env)
        cli("--store", s, "remote", "add", "backup", "s3://%s" % self.bucket)
        rows = [json.loads(l) for l in cli("--store", s, "remote", "ls", "--json").stdout.splitlines()]
        self.assertEqual(rows, [
            {"name": "backup", "url": "s3://%s" % self.bucket, "endpoint": None, "region": None},
            {"name": "origin", "url": "s3://%s/team/x" % self.bucket, "endpoint": EP, "region": "eu-west-1"}])
        self.assertEqual(provtrace.remotes(s)[1]["endpoint"], EP)
        p = cli("--store", s, "remote", "add", "origin", "s3://%s" % self.bucket, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists", p.stderr)
        for bad in ("http://x/y", "s3://A_B/x", "s3://ok-bucket/a/../b", "s3://ok-bucket//a"):
            p = cli("--store", s, "remote", "add", "bad", bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
        p = cli("--store", s, "remote", "add", "bad", "s3://ok-bucket", "--endpoint", "http://u:p@h/", check=False)
        self.assertEqual(p.returncode, 2)
        cli("--store", s, "remote", "rm", "backup")
        p = cli("--store", s, "remote", "rm", "backup", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual([r["name"] for r in provtrace.remotes(s)], ["origin"])
        provtrace.remote_add("py", "s3://%s/p" % self.bucket, store=s, endpoint=EP)
        with self.assertRaises(provtrace.ExistsError):
            provtrace.remote_add("py", "s3://%s/p" % self.bucket, store=s)
        provtrace.remote_remove("py", store=s)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.remote_remove("py", store=s)
        for root, _, files in os.walk(s):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(b"s3cr3t-value-never-stored", fh.read())

    # ---- push and clone -----------------------------------------------------------------------
    def test_push_then_clone_equals_the_local_store_and_push_is_idempotent(self):
        s = self.store()
        record(s, "r1")
        record(s, "r1", stream="rank1", seed=1, checkpoints=1)
        record(s, "r2", seed=2, n=500, checkpoints=1)
        url = "s3://%s/team/pt" % self.bucket
        cli("--store", s, "remote", "add", "origin", url, "--endpoint", EP)
        first = json.loads(cli("--store", s, "push", "--json").stdout)
        self.assertEqual(first["streams"], 3)
        self.assertGreater(first["transferred"], 10)
        self.assertEqual(first["present"], 0)
        again = json.loads(cli("--store", s, "push", "origin", "--json").stdout)
        self.assertEqual(again["transferred"], 0)
        full = json.loads(cli("--store", s, "push", "origin", "--full", "--json").stdout)
        self.assertEqual(full["transferred"], 0)
        self.assertEqual(full["present"], first["transferred"] - 3)  # snapshot indexes are not counted again
        self.assertLess(again["present"], full["present"])  # objects of pushed history are not re-read
        # the bucket holds the layout of docs/REMOTE.md
        ks = keys(self.bucket, "team/pt/")
        self.assertIn("team/pt/provtrace-remote", ks)
        self.assertTrue(any(k.startswith("team/pt/runs/r1/main/chain/0000000000") for k in ks))
        self.assertTrue(any(k.startswith("team/pt/objects/") for k in ks))
        self.assertFalse(any(k.startswith("team/pt/probe/") for k in ks))

        c = os.path.join(self.tmp, "clone")
        got = json.loads(cli("clone", url, c, "--endpoint", EP, "--json").stdout)
        self.assertEqual(got["streams"], 3)
        for run, stream in (("r1", "main"), ("r1", "rank1"), ("r2", "main")):
            self.assertEqual(log_json(c, run, stream), log_json(s, run, stream))
        a = provtrace.open_run("r1", store=s).state_at(step=1500)
        b = provtrace.open_run("r1", store=c).state_at(step=1500)
        self.assertEqual(a.params, b.params)
        ca = provtrace.open_run("r1", store=s).checkpoints()[-1].load()
        cb = provtrace.open_run("r1", store=c).checkpoints()[-1].load()
        np.testing.assert_array_equal(ca["w"], cb["w"])
        self.assertIn("OK", cli("--store", c, "verify").stdout)
        # replay output is identical
        self.assertEqual(cli("--store", c, "replay", "--run", "r1", "--at", "step=2100", "--json").stdout,
                         cli("--store", s, "replay", "--run", "r1", "--at", "step=2100", "--json").stdout)

    def test_python_push_and_clone_with_progress(self):
        s = self.store()
        record(s, "r1", n=800, checkpoints=1)
        provtrace.remote_add("origin", "s3://%s/py" % self.bucket, store=s, endpoint=EP)
        seen = []
        st = provtrace.push(store=s, progress=lambda d, t, b: seen.append((d, t)))
        self.assertGreater(st["transferred"], 0)
        self.assertTrue(seen and seen[-1][0] == seen[-1][1])
        c = os.path.join(self.tmp, "c")
        st2 = provtrace.clone("s3://%s/py" % self.bucket, c, endpoint=EP)
        self.assertEqual(st2["streams"], 1)
        self.assertEqual(log_json(c, "r1"), log_json(s, "r1"))
        with self.assertRaises(provtrace.ExistsError):
            provtrace.clone("s3://%s/py" % self.bucket, c, endpoint=EP)  # not empty
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.clone("s3://%s/nothing-here" % self.bucket, os.path.join(self.tmp, "c2"), endpoint=EP)

    def test_push_of_one_run(self):
        s = self.store()
        record(s, "r1", n=300, checkpoints=1)
        record(s, "r2", n=300, seed=3, checkpoints=1)
        cli("--store", s, "push", "s3://%s/one" % self.bucket, "--endpoint", EP, "--run", "r2")
        ks = keys(self.bucket, "one/runs/")
        self.assertTrue(ks and all(k.startswith("one/runs/r2/") for k in ks))
        c = os.path.join(self.tmp, "c")
        cli("clone", "s3://%s/one" % self.bucket, c, "--endpoint", EP)
        self.assertEqual(provtrace.runs(c), ["r2"])

    def test_two_stores_push_one_run_at_once_and_dedupe(self):
        # two hosts: one store per rank of the same run, the same frozen weights
        a, b = self.store("a"), self.store("b")
        record(a, "job", stream="rank0", seed=10)
        record(b, "job", stream="rank1", seed=11)
        url = "s3://%s/shared" % self.bucket
        procs = [subprocess.Popen([PT, "--store", st, "push", url, "--endpoint", EP, "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for st in (a, b)]
        outs = [p.communicate() for p in procs]
        for p, (o, e) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, e)
        c = os.path.join(self.tmp, "c")
        cli("clone", url, c, "--endpoint", EP)
        self.assertEqual(log_json(c, "job", "rank0"), log_json(a, "job", "rank0"))
        self.assertEqual(log_json(c, "job", "rank1"), log_json(b, "job", "rank1"))
        # the frozen tensor's chunks were stored once
        objs = keys(self.bucket, "shared/objects/")
        self.assertEqual(len(objs), len(set(objs)))
        local = set()
        for st in (a, b):
            for root, _, files in os.walk(os.path.join(st, "objects")):
                local.update(f for f in files if len(f) == 62)
        self.assertEqual(len(objs), len(local))

    def test_a_second_writers_history_is_refused(self):
        a, b = self.store("a"), self.store("b")
        record(a, "r", n=400, seed=1, checkpoints=0)
        record(b, "r", n=400, seed=2, checkpoints=0)  # same run and stream, other events
        url = "s3://%s/fork" % self.bucket
        cli("--store", a, "push", url, "--endpoint", EP)
        before = keys(self.bucket, "fork/runs/r/main/chain/")
        p = cli("--store", b, "push", url, "--endpoint", EP, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("r/main", p.stderr)
        self.assertIn("another writer", p.stderr)
        self.assertEqual(keys(self.bucket, "fork/runs/r/main/chain/"), before)
        c = os.path.join(self.tmp, "c")
        cli("clone", url, c, "--endpoint", EP)
        self.assertEqual(log_json(c, "r"), log_json(a, "r"))

    def test_push_killed_at_random_points_then_resumed(self):
        s = self.store()
        record(s, "r1", n=6000, checkpoints=3)
        record(s, "r1", stream="rank1", n=3000, seed=5, checkpoints=2)
        url = "s3://%s/kill" % self.bucket
        rnd = random.Random(int(os.environ.get("PT_TEST_SEED", "7")))
        # how long a whole push takes here, into another prefix: kills land inside it
        t0 = time.time()
        cli("--store", s, "push", "s3://%s/timing" % self.bucket, "--endpoint", EP, "--jobs", "2")
        whole = time.time() - t0
        killed = 0
        for _ in range(4):
            p = subprocess.Popen([PT, "--store", s, "push", url, "--endpoint", EP, "--jobs", "2"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.1, 0.9) * whole)
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                killed += 1
            p.wait()
        # every chain record in the bucket is backed by its segment
        for k in keys(self.bucket, "kill/runs/"):
            self.assertFalse("/probe/" in k)
        self.assertGreater(killed, 0)
        final = json.loads(cli("--store", s, "push", url, "--endpoint", EP, "--json").stdout)
        first = json.loads(cli("--store", s, "push", "s3://%s/timing" % self.bucket, "--endpoint", EP,
                               "--json").stdout)
        self.assertGreaterEqual(final["transferred"] + final["present"], first["present"])
        ks = keys(self.bucket, "kill/")
        self.assertEqual(len(ks), len(set(ks)))
        c = os.path.join(self.tmp, "c")
        cli("clone", url, c, "--endpoint", EP)
        for stream in ("main", "rank1"):
            self.assertEqual(log_json(c, "r1", stream), log_json(s, "r1", stream))
        again = json.loads(cli("--store", s, "push", url, "--endpoint", EP, "--json").stdout)
        self.assertEqual(again["transferred"], 0)

    def test_a_tampered_or_deleted_bucket_object_is_named(self):
        s = self.store()
        record(s, "r1", n=2000, checkpoints=1)
        url = "s3://%s/t" % self.bucket
        cli("--store", s, "push", url, "--endpoint", EP)
        seg = sorted(k for k in keys(self.bucket, "t/runs/r1/main/segments/"))[0]
        obj = sorted(keys(self.bucket, "t/objects/"))[0]
        aws("b = s3.get_object(Bucket=%r, Key=%r)['Body'].read()\n"
            "b = b[:100] + bytes([b[100] ^ 1]) + b[101:]\n"
            "s3.put_object(Bucket=%r, Key=%r, Body=b)" % (self.bucket, obj, self.bucket, obj))
        p = cli("clone", url, os.path.join(self.tmp, "c1"), "--endpoint", EP, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(obj[len("t/"):], p.stderr)
        aws("s3.delete_object(Bucket=%r, Key=%r)" % (self.bucket, obj))
        aws("s3.delete_object(Bucket=%r, Key=%r)" % (self.bucket, seg))
        p = cli("clone", url, os.path.join(self.tmp, "c2"), "--endpoint", EP, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(seg[len("t/"):], p.stderr)
        # a push puts the segment back (it is listed as missing); the object of
        # already-pushed history only with --full, which reads all the events
        cli("--store", s, "push", url, "--endpoint", EP)
        p = cli("clone", url, os.path.join(self.tmp, "c4"), "--endpoint", EP, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(obj[len("t/"):], p.stderr)
        cli("--store", s, "push", url, "--endpoint", EP, "--full")
        cli("clone", url, os.path.join(self.tmp, "c3"), "--endpoint", EP)

    def test_not_a_provtrace_bucket_and_an_unreachable_endpoint(self):
        aws("s3.put_object(Bucket=%r, Key='x/provtrace-remote', Body=b'something else')" % self.bucket)
        p = cli("clone", "s3://%s/x" % self.bucket, os.path.join(self.tmp, "c"), "--endpoint", EP, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a provtrace marker", p.stderr)
        s = self.store()
        record(s, "r1", n=100, checkpoints=0)
        port = harness.free_port()
        t0 = time.time()
        p = cli("--store", s, "push", "s3://%s/y" % self.bucket, "--endpoint", "http://127.0.0.1:%d" % port,
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("127.0.0.1:%d" % port, p.stderr)
        self.assertLess(time.time() - t0, 60)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.tmp
        p = cli("--store", s, "push", "s3://%s/y" % self.bucket, "--endpoint", EP, check=False, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no AWS credentials", p.stderr)

    # ---- read in place ------------------------------------------------------------------------
    def test_read_in_place_equals_the_local_store(self):
        s = self.store()
        record(s, "r1", n=4000)
        record(s, "r1", stream="rank1", seed=4, n=1000, checkpoints=1)
        url = "s3://%s/rip" % self.bucket
        cli("--store", s, "push", url, "--endpoint", EP)
        for args in (["runs"], ["log", "--run", "r1", "--json"], ["log", "--run", "r1", "--stream", "rank1", "-n", "5"],
                     ["replay", "--run", "r1", "--stream", "main", "--at", "step=1234", "--json"],
                     ["replay", "--run", "r1", "--stream", "main", "--at", "step=3999", "--events"],
                     ["checkpoint", "ls", "--run", "r1", "--json"],
                     ["metrics", "--run", "r1"]):
            with self.subTest(args=args):
                remote = cli("--store", url, *args).stdout
                local = cli("--store", s, *args).stdout
                if args[0] == "runs":  # the store path differs; the table does not
                    remote, local = remote.splitlines()[1:], local.splitlines()[1:]
                self.assertEqual(remote, local)
        v = cli("--store", url, "verify")
        self.assertIn(": OK", v.stdout)
        self.assertRegex(v.stdout, r"read .* from the bucket in \d+ requests")
        out = os.path.join(self.tmp, "exp")
        cli("--store", url, "checkpoint", "export", "--run", "r1", "--step", "4001", out)
        self.assertTrue(os.listdir(out))
        # Python readers
        rr = provtrace.open_run("r1", store=url)
        lr = provtrace.open_run("r1", store=s)
        self.assertEqual([e["seq"] for e in rr.events(kind="decision")], [e["seq"] for e in lr.events(kind="decision")])
        self.assertEqual(rr.state_at(step=2222).params, lr.state_at(step=2222).params)
        np.testing.assert_array_equal(rr.checkpoints()[-1].load()["w"], lr.checkpoints()[-1].load()["w"])
        st = provtrace.remote_read_stats(rr)
        self.assertGreater(st["requests"], 0)
        self.assertGreater(st["bytes"], 0)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.remote_read_stats(lr)
        # a warm cache reads only the metadata again
        warm = provtrace.open_run("r1", store=url)
        list(warm.events())
        self.assertLess(provtrace.remote_read_stats(warm)["bytes"], 4096)
        # read-only
        p = subprocess.run([PT, "--store", url, "emit", "--run", "x"], input="", capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("read-only", p.stderr)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.Recorder("x", store=url)
        self.assertFalse(os.path.exists("s3:"))  # not made into a local directory
        p = cli("init", url, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists("s3:"))
        for args in (["gc"], ["seal"], ["archive", "run", "--due"], ["remote", "add", "x", "s3://%s/q" % self.bucket],
                     ["archive", "plan", "add", "p", "--schedule", "0 3 * * *", "--vault", self.tmp]):
            with self.subTest(args=args):
                p = cli("--store", url, *args, check=False)
                self.assertIn(p.returncode, (1, 2), p.stderr)  # some commands report PT_EINVAL as usage
                self.assertIn("read-only", p.stderr)

    def test_verify_in_place_names_a_tampered_or_deleted_bucket_object(self):
        s = self.store()
        record(s, "r1", n=3000, checkpoints=0)
        record(s, "r2", n=300, seed=9, checkpoints=1)
        url = "s3://%s/vt" % self.bucket
        cli("--store", s, "push", url, "--endpoint", EP)
        self.assertIn(": OK", cli("--store", url, "verify").stdout)
        shutil.rmtree(os.environ["PROVTRACE_CACHE_DIR"])
        manifest = json.loads(cli("--store", s, "checkpoint", "ls", "--run", "r2", "--json").stdout)[0]["manifest"]
        obj = "vt/objects/%s/%s" % (manifest[:2], manifest[2:])
        aws("s3.delete_object(Bucket=%r, Key=%r)" % (self.bucket, obj))
        p = cli("--store", url, "verify", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr + obj + repr(keys(self.bucket, "vt/objects/")))
        self.assertIn(manifest, p.stdout)
        seg = sorted(keys(self.bucket, "vt/runs/r1/main/segments/"))[0]
        aws("b = s3.get_object(Bucket=%r, Key=%r)['Body'].read()\n"
            "b = b[:200] + bytes([b[200] ^ 4]) + b[201:]\n"
            "s3.put_object(Bucket=%r, Key=%r, Body=b)" % (self.bucket, seg, self.bucket, seg))
        shutil.rmtree(os.environ["PROVTRACE_CACHE_DIR"])  # what was read and checked before stays cached
        p = cli("--store", url, "verify", "--run", "r1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(seg[len("vt/"):], p.stdout)
        self.assertIn("do not hash", p.stdout)

if __name__ == "__main__":
    unittest.main()
