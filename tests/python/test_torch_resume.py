"""Exact resume: a deterministic CPU training killed with SIGKILL mid-run
and restarted with Recorder(resume="latest") ends bit-identical to an
uninterrupted run, with the same decisions at the same steps; Recorder
options reach the C recorder."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import unittest

from ptutil import StoreTest, python_env

import provtrace

try:
    import torch
except ImportError:
    torch = None

TRAIN = textwrap.dedent(r'''
    import hashlib, sys, os, signal
    import torch, provtrace, provtrace.torch as ptt
    store, run, kill_at, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(0)
    import random, numpy
    random.seed(0)          # in the checkpoint's rng state too
    numpy.random.seed(0)
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.2),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    with provtrace.Recorder(run=run, store=store, capture_code=False, resume="latest",
                            max_delay_ms=50) as rec:
        start = 0
        if rec.resumed_from is not None:
            ptt.restore(rec.resumed_from, model, opt, sched)
            start = rec.resumed_from.step
            print("resumed at", start)
        ptt.watch(rec, opt, sched)
        for step in range(start, steps):
            idx = torch.randint(0, 64, (16,))      # the global RNG: restored too
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            sched.step()
            rec.metric("loss", loss.item(), step=step + 1)
            if (step + 1) % 5 == 0:
                rec.checkpoint(step + 1, {"model": model.state_dict(),
                                          "optimizer": opt.state_dict(),
                                          "scheduler": sched.state_dict(),
                                          "rng": ptt.rng_state()}, wait=True)
            if step + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.numpy().tobytes())
    print("weights", h.hexdigest())
''')


@unittest.skipIf(torch is None, "torch is not installed")
class KillResumeTest(StoreTest):
    def train(self, store, kill_at, steps=23):
        return subprocess.run([sys.executable, "-c", TRAIN, store, "r", str(kill_at), str(steps)],
                              env=python_env(), capture_output=True, text=True, timeout=300)

    def live_decisions(self, store):
        st = provtrace.open_run("r", store=store).state_at(latest=True)
        return [(d["step"], d["name"], d["set"], d["actor"]) for d in st.decisions]

    def test_sigkill_and_resume_latest_is_bit_identical(self):
        a = os.path.join(self.tmp, "a")
        b = os.path.join(self.tmp, "b")
        ref = self.train(a, kill_at=-1)
        self.assertEqual(ref.returncode, 0, ref.stderr)
        killed = self.train(b, kill_at=13)
        self.assertEqual(killed.returncode, -signal.SIGKILL, killed.stderr)
        resumed = self.train(b, kill_at=-1)
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertIn("resumed at 10", resumed.stdout)
        w_ref = [l for l in ref.stdout.splitlines() if l.startswith("weights")]
        w_res = [l for l in resumed.stdout.splitlines() if l.startswith("weights")]
        self.assertEqual(w_ref, w_res)
        self.assertEqual(len(w_ref), 1)
        da, db = self.live_decisions(a), self.live_decisions(b)
        self.assertEqual([d[0] for d in da], [7, 14, 21])
        self.assertEqual(da, db)
        self.assertEqual(len(provtrace.open_run("r", store=b).lineages()), 2)
        # the final checkpoint of both runs is the same content
        ca = provtrace.open_run("r", store=a).checkpoints()[-1]
        cb = provtrace.open_run("r", store=b).checkpoints()[-1]
        self.assertEqual((ca.step, ca.manifest), (cb.step, cb.manifest))

    def test_latest_without_a_checkpoint_is_a_fresh_start(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False,
                                resume="latest") as rec:
            self.assertIsNone(rec.resumed_from)
        with self.assertRaises(ValueError):
            provtrace.Recorder(store=self.store, resume="latest")
        with self.assertRaises(TypeError):
            provtrace.Recorder(run="r", store=self.store, resume="newest")


class OptionsTest(StoreTest):
    def test_options_are_checked_and_reach_the_recorder(self):
        for bad, exc in (({"max_delay_ms": 0}, ValueError), ({"max_delay_ms": "1"}, TypeError),
                         ({"batch_max_events": True}, TypeError),
                         ({"zstd_level": 99}, ValueError)):
            with self.assertRaises(exc, msg=bad):
                provtrace.Recorder(run="r", store=self.store, capture_code=False, **bad)
        # a short max_delay_ms: an event reaches the file without flush()
        code = textwrap.dedent('''
            import os, signal, sys, time, provtrace
            rec = provtrace.Recorder(run="r", store=sys.argv[1], capture_code=False,
                                     max_delay_ms=20, batch_max_events=100000,
                                     segment_max_bytes=1 << 20, queue_max_batches=2,
                                     zstd_level=3)
            rec.metric("loss", 1.0, step=1)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        ''')
        p = subprocess.run([sys.executable, "-c", code, self.store], env=python_env(),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, -signal.SIGKILL, p.stderr)
        ev = [e for e in provtrace.open_run("r", store=self.store).events()
              if e["kind"] == "metric"]
        self.assertEqual(len(ev), 1)


if __name__ == "__main__":
    unittest.main()
