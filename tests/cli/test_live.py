#!/usr/bin/python3
"""Live paths of the CLI: streaming `emit`, `consume`, `consumers`.

Run with the binary in $PROVTRACE_BIN (ctest sets it), e.g.
    PROVTRACE_BIN=build/provtrace /usr/bin/python3 tests/cli/test_live.py -v
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import BIN, CliTest  # noqa: E402


def line(i):
    return json.dumps({"kind": "metric", "name": "loss", "value": float(i), "step": i}) + "\n"


class StreamingEmit(CliTest):
    def wait_events(self, run, n, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = self.pt("log", "--json", "--run", run, "--kind", "metric")
            if p.returncode == 0 and len(p.out.splitlines()) >= n:
                return len(p.out.splitlines())
            time.sleep(0.05)
        return -1

    def test_lines_are_recorded_while_the_producer_still_runs(self):
        self.init()
        p = subprocess.Popen([BIN, "--store", self.store, "emit", "--run", "r", "--max-delay", "50"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        self.procs.append(p)
        for i in range(5):
            p.stdin.write(line(i).encode())
        p.stdin.flush()
        self.assertEqual(self.wait_events("r", 5), 5)  # before EOF
        self.assertIsNone(p.poll())
        p.stdin.write(b"not json\n" + line(5).encode())
        p.stdin.close()
        self.assertEqual(p.wait(30), 1)  # a bad line: exit 1 at the end, the others kept
        err = p.stderr.read().decode()
        self.assertIn("line 6: invalid JSON", err)
        self.assertIn("appended 6 events", err)
        self.assertEqual(self.wait_events("r", 6), 6)

    def test_kill_9_of_emit_loses_at_most_the_max_delay(self):
        self.init()
        delay = 0.1
        p = subprocess.Popen([BIN, "--store", self.store, "emit", "--run", "k", "--max-delay", "100"],
                             stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        self.procs.append(p)
        written = []
        t_end = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < t_end:
            p.stdin.write(line(i).encode())
            p.stdin.flush()
            written.append((i, time.monotonic()))
            i += 1
            time.sleep(0.01)
        t_kill = time.monotonic()
        p.kill()
        p.wait()
        got = {json.loads(x)["step"] for x in
               self.pt("log", "--json", "--run", "k", "--kind", "metric", code=0).out.splitlines()}
        # every line handed over more than the max delay before the kill is recorded
        # (0.5 s more for scheduling on a loaded machine, sanitizer builds)
        must = [s for s, t in written if t < t_kill - delay - 0.5]
        self.assertTrue(must)
        missing = [s for s in must if s not in got]
        self.assertEqual(missing, [], "lines flushed > max delay before kill -9 were lost")
        self.assertEqual(sorted(got), list(range(len(got))))  # a prefix, in order
        self.pt("verify", code=0)

    def test_producer_killed_everything_it_printed_is_recorded(self):
        self.init()
        prod = subprocess.Popen([sys.executable, "-c",
                                 "import json,sys,time\n"
                                 "for i in range(100):\n"
                                 "    print(json.dumps({'kind':'metric','name':'loss','value':i,'step':i}), flush=True)\n"
                                 "time.sleep(600)\n"], stdout=subprocess.PIPE)
        self.procs.append(prod)
        emit = subprocess.Popen([BIN, "--store", self.store, "emit", "--run", "p", "--max-delay", "100"],
                                stdin=prod.stdout, stderr=subprocess.PIPE, env=self.env)
        self.procs.append(emit)
        prod.stdout.close()
        self.assertEqual(self.wait_events("p", 100), 100)  # recorded live
        prod.kill()
        prod.wait()
        self.assertEqual(emit.wait(30), 0)
        self.assertIn("appended 100 events", emit.stderr.read().decode())


class Consume(CliTest):
    def emit_n(self, run, n, start=0):
        self.pt("emit", "--run", run, "-q", input="".join(line(i) for i in range(start, start + n)), code=0)

    def test_exec_poison_event_goes_to_the_failure_stream(self):
        self.init()
        self.emit_n("r", 50)
        all_ = os.path.join(self.tmp, "all")
        cmd = ('b=$(cat); if printf "%%s\\n" "$b" | grep -q \'"seq":20,\'; then echo poison >&2; exit 3; fi; '
               'printf "%%s\\n" "$b" >> %s' % all_)
        p = self.pt("consume", "c", "--exec", cmd, "--batch", "8", "--backoff", "1", "--max-retries", "1",
                    "--no-follow", code=0)
        self.assertIn("1 event recorded in its failure stream", p.err)
        with open(all_) as f:
            seqs = [json.loads(x)["seq"] for x in f.read().splitlines() if x]
        self.assertEqual(sorted(set(seqs)), [s for s in range(1, 51) if s != 20])
        fails = [json.loads(x) for x in self.pt("log", "--json", "--run", "consumer-failures", "--stream", "c",
                                                "--kind", "consumer_failure", code=0).out.splitlines()]
        self.assertEqual([(f["event_run"], f["seq_first"]) for f in fails], [("r", 20)])
        self.assertIn("exit status 3", fails[0]["error"])
        info = [json.loads(x) for x in self.pt("consumers", "ls", "--json", code=0).out.splitlines()]
        self.assertEqual(info[0]["name"], "c")
        self.assertEqual(info[0]["events_behind"], 0)
        self.assertEqual(info[0]["positions"], [{"run": "r", "stream": "main", "seq": 50, "last": 50}])
        # more events: lag in events and seconds
        self.emit_n("r", 5, 50)
        info = json.loads(self.pt("consumers", "--json", "c", code=0).out)
        self.assertEqual(info["events_behind"], 5)
        self.assertGreater(info["lag_seconds"], 0)
        self.assertIn("c ", self.pt("consumers", code=0).out)
        # reset, then read again from a step
        self.pt("consumers", "reset", "c", "--to", "step=45", code=0)
        out = self.pt("consume", "c", "--no-follow", code=0).out
        self.assertEqual([json.loads(x)["step"] for x in out.splitlines()], list(range(45, 55)))
        # usage and errors
        self.pt("consumers", "reset", "c", code=2)
        self.pt("consumers", "reset", "c", "--to", "sideways", code=2)
        self.pt("consumers", "reset", "nope", "--to", "oldest", code=1)
        self.pt("consume", "bad/name", code=2)
        self.pt("consume", "c", "--run", "other", code=2)
        self.pt("consume", "d", "--from", "seq=0", code=2)
        self.pt("consumers", "rm", "c", code=0)
        self.assertEqual(self.pt("consumers", "--json", code=0).out, "")

    def test_a_second_process_is_refused_and_sigterm_stops(self):
        self.init()
        self.emit_n("r", 3)
        p = subprocess.Popen([BIN, "--store", self.store, "consume", "f", "--poll", "50"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        self.procs.append(p)
        for _ in range(3):
            self.assertEqual(json.loads(p.stdout.readline())["run"], "r")
        # following: new events and a new run arrive on stdout
        self.emit_n("r2", 2)
        got = [json.loads(p.stdout.readline()) for _ in range(2)]
        self.assertEqual([(g["run"], g["step"]) for g in got], [("r2", 0), ("r2", 1)])
        q = self.pt("consume", "f", code=1)
        self.assertIn("consumer f is running in another process (pid=%d" % p.pid, q.err)
        self.pt("consumers", "reset", "f", "--to", "oldest", code=1)
        info = json.loads(self.pt("consumers", "--json", code=0).out)
        self.assertTrue(info["active"])
        self.assertIn("pid=%d" % p.pid, info["holder"])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0)
        self.assertFalse(json.loads(self.pt("consumers", "--json", code=0).out)["active"])

    def test_sigkill_at_random_moments_then_resume(self):
        self.init()
        n = 3000
        self.emit_n("k", n)
        out = os.path.join(self.tmp, "handled")
        kills = 200 if os.environ.get("PT_LONG") else 4
        argv = [BIN, "--store", self.store, "consume", "k1", "--batch", "50", "--no-follow",
                "--exec", "cat >> %s" % out]
        rnd = random.Random(int(os.environ.get("PT_KILL_SEED", str(os.getpid()))))
        for _ in range(kills):
            p = subprocess.Popen(argv, env=self.env, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.0, 0.3))
            p.kill()
            p.wait()
        self.pt(*argv[3:], code=0)
        with open(out) as f:
            seqs = [json.loads(x)["seq"] for x in f.read().splitlines() if x.strip()]
        self.assertEqual(sorted(set(seqs)), list(range(1, n + 1)))  # nothing lost
        self.assertLessEqual(len(seqs) - n, kills * 50)  # at most one batch again per kill
        self.assertEqual(json.loads(self.pt("consumers", "--json", code=0).out)["events_behind"], 0)


if __name__ == "__main__":
    unittest.main()
