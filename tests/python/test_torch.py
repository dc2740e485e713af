"""provtrace.torch: watch() records hyperparameter changes as decisions
(schedulers, the user, GradScaler, early stopping); rng_state/restore."""

import os
import subprocess
import sys
import unittest

from ptutil import StoreTest, python_env

import provtrace

try:
    import torch
except ImportError:
    torch = None


def decisions(store, run):
    return [e for e in provtrace.open_run(run, store=store).events()
            if e["kind"] == "decision"]


class WithoutTorchTest(unittest.TestCase):
    def test_package_imports_without_torch(self):
        code = ("import sys; sys.modules['torch'] = None\n"
                "import provtrace, provtrace.torch\n"
                "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
                "try:\n    provtrace.torch.rng_state()\nexcept ImportError:\n    print('ok')\n")
        out = subprocess.run([sys.executable, "-c", code], env=python_env(),
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "ok")


@unittest.skipIf(torch is None, "torch is not installed")
class WatchTest(StoreTest):
    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 1)
        self.x = torch.randn(8, 3)

    def train_step(self, opt):
        opt.zero_grad()
        self.model(self.x).pow(2).mean().backward()
        opt.step()

    def test_step_lr_and_user_changes(self):
        opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            w = provtrace.torch.watch(rec, opt, sched)
            for i in range(7):
                self.train_step(opt)
                sched.step()
            opt.param_groups[0]["momentum"] = 0.5   # by hand
            self.train_step(opt)
            w.unwatch()
            self.assertFalse("step" in sched.__dict__)
            self.assertIs(type(sched), torch.optim.lr_scheduler.StepLR)
        ds = decisions(self.store, "r")
        self.assertEqual([(d["step"], d["name"], d["actor"]) for d in ds],
                         [(3, "lr", "StepLR"), (6, "lr", "StepLR"), (7, "momentum", "user")])
        self.assertEqual(ds[0]["set"], {"lr": 0.05})
        self.assertIn("every 3 epochs lr x gamma 0.5", ds[0]["reason"])
        self.assertEqual(ds[2]["set"], {"momentum": 0.5})
        self.assertEqual(w.decisions, 3)
        self.assertEqual(w.step, 8)

    def test_reduce_on_plateau_reason(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.1)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            provtrace.torch.watch(rec, opt, sched)
            for i, val in enumerate([1.0, 0.9, 0.95, 0.97, 0.99, 0.98]):
                self.train_step(opt)
                sched.step(val)
        ds = decisions(self.store, "r")
        self.assertEqual(len(ds), 1)
        b = ds[0]
        self.assertEqual(ds[0]["step"], 5)
        self.assertEqual(b["actor"], "ReduceLROnPlateau")
        self.assertAlmostEqual(b["set"]["lr"], 1e-3)
        self.assertEqual((b["metric"], b["best"], b["bad_epochs"], b["patience"], b["factor"]),
                         (0.99, 0.9, 3, 2, 0.1))
        self.assertIn("plateau", b["reason"])

    def test_cosine_and_one_cycle_every_change(self):
        opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            provtrace.torch.watch(rec, opt, sched)
            for _ in range(4):
                self.train_step(opt)
                sched.step()
        ds = decisions(self.store, "r")
        self.assertEqual([d["step"] for d in ds], [1, 2, 3, 4])
        self.assertEqual(ds[0]["name"], "lr+momentum")
        self.assertIn("OneCycleLR: one cycle", ds[0]["reason"])

    def test_grad_scaler_and_early_stopping(self):
        opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        # GradScaler is CUDA-only in torch 1.13: a stand-in with its interface
        class Scaler:
            def __init__(self):
                self.scale = 65536.0

            def is_enabled(self):
                return True

            def get_scale(self):
                return self.scale

            def get_backoff_factor(self):
                return 0.5

            def get_growth_factor(self):
                return 2.0

            def get_growth_interval(self):
                return 2000

            def update(self, found_inf=False):
                self.scale *= 0.5 if found_inf else 1.0

        sc = Scaler()
        es = provtrace.torch.EarlyStopping(patience=2, monitor="val_loss")
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            provtrace.torch.watch(rec, opt, scaler=sc, early_stopping=es)
            self.train_step(opt)
            sc.update(found_inf=True)
            sc.update()
            stops = [es.step(v) for v in (1.0, 1.1, 1.2, 1.3)]
        self.assertEqual(stops, [False, False, True, True])
        ds = decisions(self.store, "r")
        self.assertEqual([d["name"] for d in ds], ["grad_scale", "early_stop"])
        self.assertEqual(ds[0]["set"], {"grad_scale": 32768.0})
        self.assertIn("inf/nan", ds[0]["reason"])
        self.assertEqual(ds[1]["actor"], "EarlyStopping")
        self.assertIn("patience 2", ds[1]["reason"])
        self.assertEqual(ds[1]["step"], 1)

    def test_rng_state_and_restore(self):
        import random
        import numpy as np
        opt = torch.optim.AdamW(self.model.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
        self.train_step(opt)
        sched.step()
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {"model": self.model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(),
                               "rng": provtrace.torch.rng_state()}, wait=True)
        want = (torch.rand(3), np.random.rand(2), random.random())
        self.train_step(opt)
        sched.step()
        ck = provtrace.open_run("r", store=self.store).checkpoints()[0]
        m2 = torch.nn.Linear(3, 1)
        opt2 = torch.optim.AdamW(m2.parameters(), lr=5.0)
        sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.9)
        provtrace.torch.restore(ck, m2, opt2, sched2)
        got = (torch.rand(3), np.random.rand(2), random.random())
        self.assertTrue(torch.equal(got[0], want[0]))
        self.assertEqual(got[1].tolist(), want[1].tolist())
        self.assertEqual(got[2], want[2])
        self.assertEqual(opt2.param_groups[0]["lr"], 1e-2 * 0.9)
        with self.assertRaises(KeyError):
            provtrace.torch.restore(ck, scaler=object())


if __name__ == "__main__":
    unittest.main()
