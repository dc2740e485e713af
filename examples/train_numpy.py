#!/usr/bin/python3
"""Train a small MLP with numpy, record it with provtrace, then travel back.

What it records (run --run in store --store):
  - params: the hyper-parameters (lr, momentum, batch, hidden, seed...);
  - per-step metrics: loss, val_loss, lr, grad_norm;
  - decisions: the learning-rate schedule (ReduceLROnPlateau, reason
    "plateau") and early stopping (EarlyStopping);
  - a checkpoint of the weights and the optimizer state every --ckpt-every
    steps, taken asynchronously (the training loop goes on while it is
    compressed and written).

Then it replays the run at --check-step (default: a checkpoint step in the
middle) and at a step between two checkpoints, and checks that the state
the store gives back is the one the training loop had: the restored
weights bit for bit, the params in effect (the learning rate after the
schedule's decisions), the metrics of that step and the decisions taken.
Exits 1 on any mismatch.

    PYTHONPATH=bindings/python /usr/bin/python3 examples/train_numpy.py \\
        --store /tmp/pt-demo --run mlp-1 --steps 200

Then try `provtrace replay --store /tmp/pt-demo --run mlp-1 --at step=120`
(see examples/replay_debug.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:
    import provtrace
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "bindings", "python"))
    import provtrace


def make_data(rng: np.random.Generator, n: int, d: int):
    """A smooth nonlinear regression target with a little noise."""
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = (rng.normal(size=(d,)) / np.sqrt(d)).astype(np.float32)
    y = (np.sin(x @ w) + 0.5 * np.tanh(x[:, 0] * x[:, 1])).astype(np.float32)
    y += rng.normal(scale=0.05, size=y.shape).astype(np.float32)
    return x, y[:, None]


class MLP:
    """d -> hidden (tanh) -> 1, trained with SGD + momentum on MSE."""

    def __init__(self, rng: np.random.Generator, d: int, hidden: int) -> None:
        self.p = {
            "W1": (rng.normal(size=(d, hidden)) / np.sqrt(d)).astype(np.float32),
            "b1": np.zeros(hidden, np.float32),
            "W2": (rng.normal(size=(hidden, 1)) / np.sqrt(hidden)).astype(np.float32),
            "b2": np.zeros(1, np.float32),
        }
        self.v = {k: np.zeros_like(a) for k, a in self.p.items()}  # momentum buffers

    def forward(self, x: np.ndarray):
        h = np.tanh(x @ self.p["W1"] + self.p["b1"])
        return h @ self.p["W2"] + self.p["b2"], h

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        out, _ = self.forward(x)
        return float(np.mean((out - y) ** 2))

    def step(self, x: np.ndarray, y: np.ndarray, lr: float, momentum: float):
        out, h = self.forward(x)
        err = out - y
        loss = float(np.mean(err ** 2))
        g_out = (2.0 / len(x)) * err
        grads = {
            "W2": h.T @ g_out,
            "b2": g_out.sum(axis=0),
        }
        g_h = (g_out @ self.p["W2"].T) * (1.0 - h ** 2)
        grads["W1"] = x.T @ g_h
        grads["b1"] = g_h.sum(axis=0)
        gnorm = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())))
        for k in self.p:
            self.v[k] = (momentum * self.v[k] + grads[k]).astype(np.float32)
            self.p[k] -= np.float32(lr) * self.v[k]
        return loss, gnorm

    def state(self) -> dict:
        """What a checkpoint holds: the weights and the optimizer state."""
        d = {k: a for k, a in self.p.items()}
        d.update({"opt." + k: a for k, a in self.v.items()})
        return d


class ReduceLROnPlateau:
    """Multiply the lr by `factor` when the monitored loss has not improved
    by `threshold` (relative) for `patience` steps (as torch's scheduler)."""

    def __init__(self, lr: float, factor: float, patience: int, threshold: float,
                 min_lr: float) -> None:
        self.lr, self.factor, self.patience = lr, factor, patience
        self.threshold, self.min_lr = threshold, min_lr
        self.best = float("inf")
        self.bad = 0

    def update(self, value: float):
        """Returns (old_lr, new_lr) when it reduces the lr, else None."""
        if value < self.best * (1.0 - self.threshold):
            self.best, self.bad = value, 0
            return None
        self.bad += 1
        if self.bad <= self.patience or self.lr <= self.min_lr:
            return None
        old, self.lr = self.lr, max(self.lr * self.factor, self.min_lr)
        self.bad = 0
        return old, self.lr


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="provtrace store directory")
    ap.add_argument("--run", required=True, help="run name")
    ap.add_argument("--steps", type=int, default=300, help="maximum training steps")
    ap.add_argument("--ckpt-every", type=int, default=20, help="checkpoint every K steps")
    ap.add_argument("--check-step", type=int, default=None,
                    help="step to replay and check (default: a checkpoint step in the middle)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-code", action="store_true", help="do not capture git provenance")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.steps < 2 * a.ckpt_every:
        print("--steps must be at least twice --ckpt-every", file=sys.stderr)
        return 2
    if os.path.isdir(a.store) and os.listdir(a.store) and a.run in provtrace.runs(a.store):
        # The checks below compare with this process's training only.
        print("run %r already exists in %s: choose another --run" % (a.run, a.store),
              file=sys.stderr)
        return 2
    t0 = time.monotonic()
    rng = np.random.default_rng(a.seed)
    x, y = make_data(rng, 1024, 8)
    xt, yt, xv, yv = x[:768], y[:768], x[768:], y[768:]
    hp = {"lr": 0.1, "momentum": 0.9, "batch": 64, "hidden": 64, "seed": a.seed,
          "plateau_factor": 0.5, "plateau_patience": 8, "plateau_threshold": 0.01,
          "early_stop_patience": 25, "early_stop_min_delta": 1e-3,
          "ckpt_every": a.ckpt_every, "dataset": {"train": len(xt), "val": len(xv), "dim": 8}}
    model = MLP(rng, 8, hp["hidden"])
    sched = ReduceLROnPlateau(hp["lr"], hp["plateau_factor"], hp["plateau_patience"],
                              hp["plateau_threshold"], 1e-4)
    es_best, es_bad, stopped_at = float("inf"), 0, None

    # What the loop held, to be compared with what the store gives back.
    weights_at = {}   # checkpoint step -> copies of the arrays checkpointed
    lr_at = {}        # step -> lr in effect after the step's decisions
    metrics_at = {}   # step -> metrics recorded at the step
    decisions = []    # (step, name)

    with provtrace.Recorder(run=a.run, store=a.store, capture_code=not a.no_code) as rec:
        rec.params(hp)
        pending = []
        for step in range(1, a.steps + 1):
            idx = rng.choice(len(xt), hp["batch"], replace=False)
            loss, gnorm = model.step(xt[idx], yt[idx], sched.lr, hp["momentum"])
            val = model.loss(xv, yv)
            if pending and not pending[-1].done:
                # The last checkpoint was persisted while this step computed.
                # Its event must land before this step's events: replay's
                # step=N is a position in the stream (after the last event
                # of step <= N), so a checkpoint event appended after later
                # steps would carry step=N past them.
                pending[-1].wait()
            m = {"loss": loss, "val_loss": val, "lr": sched.lr, "grad_norm": gnorm}
            rec.metrics(m, step=step)
            metrics_at[step] = m

            cut = sched.update(val)
            if cut is not None:
                rec.decision("lr", step=step, set={"lr": cut[1]}, reason="plateau",
                             actor="ReduceLROnPlateau", metric="val_loss", value=val,
                             best=sched.best, patience=hp["plateau_patience"],
                             factor=hp["plateau_factor"])
                decisions.append((step, "lr"))
            lr_at[step] = sched.lr

            if step % a.ckpt_every == 0:
                state = model.state()
                # Asynchronous: the buffers are copied before this returns,
                # so training may overwrite them right away.
                pending.append(rec.checkpoint(step, state))
                weights_at[step] = {k: v.copy() for k, v in state.items()}

            if val < es_best - hp["early_stop_min_delta"]:
                es_best, es_bad = val, 0
            else:
                es_bad += 1
            if es_bad >= hp["early_stop_patience"]:
                rec.decision("early_stop", step=step, set={"training": "stopped"},
                             reason="no_improvement", actor="EarlyStopping",
                             metric="val_loss", best=es_best,
                             patience=hp["early_stop_patience"])
                decisions.append((step, "early_stop"))
                stopped_at = step
                break
        last_step = step
        if last_step % a.ckpt_every:
            state = model.state()
            pending.append(rec.checkpoint(last_step, state))
            weights_at[last_step] = {k: v.copy() for k, v in state.items()}
        rec.wait_checkpoints()
        status = rec.checkpoint_status()
    train_s = time.monotonic() - t0

    # ---- time travel: check what the store gives back -----------------------
    t1 = time.monotonic()
    run = provtrace.open_run(a.run, store=a.store)
    ck_steps = sorted(weights_at)
    n = a.check_step if a.check_step is not None else ck_steps[(len(ck_steps) - 1) // 2]
    if n not in metrics_at:
        print("--check-step %d was not trained (last step %d)" % (n, last_step), file=sys.stderr)
        return 2
    problems = []
    checks = [n]
    between = next((s for s in range(n + 1, last_step) if s not in weights_at), None)
    if between is not None:
        checks.append(between)
    for s in checks:
        st = run.state_at(step=s)
        want_ck = max((c for c in ck_steps if c <= s), default=None)
        if st.step != s:
            problems.append("step=%d: state is at step %r" % (s, st.step))
        if st.params.get("lr") != lr_at[s]:
            problems.append("step=%d: lr in effect %r, the loop had %r"
                            % (s, st.params.get("lr"), lr_at[s]))
        for k in ("momentum", "batch", "hidden", "dataset"):
            if st.params.get(k) != hp[k]:
                problems.append("step=%d: param %s = %r, expected %r" % (s, k, st.params.get(k), hp[k]))
        for k, v in metrics_at[s].items():
            if st.metrics.get(k) != v:
                problems.append("step=%d: metric %s = %r, the loop had %r"
                                % (s, k, st.metrics.get(k), v))
        want_dec = [d for d in decisions if d[0] <= s]
        got_dec = [(d["step"], d["name"]) for d in st.decisions]
        if got_dec != want_dec[-len(got_dec):] or len(got_dec) != min(len(want_dec), 100):
            problems.append("step=%d: decisions %r, expected %r" % (s, got_dec, want_dec))
        if want_ck is None:
            if st.checkpoint is not None:
                problems.append("step=%d: unexpected checkpoint %r" % (s, st.checkpoint))
            continue
        if st.checkpoint is None or st.checkpoint.step != want_ck:
            problems.append("step=%d: checkpoint in effect %r, expected the one of step %d"
                            % (s, st.checkpoint, want_ck))
            continue
        restored = st.checkpoint.load()
        if sorted(restored) != sorted(weights_at[want_ck]):
            problems.append("step=%d: checkpoint entries %s" % (s, sorted(restored)))
        for k, v in weights_at[want_ck].items():
            r = restored.get(k)
            if not isinstance(r, np.ndarray) or r.dtype != v.dtype or r.shape != v.shape \
                    or not np.array_equal(r, v):
                problems.append("step=%d: tensor %s differs from the one held at step %d"
                                % (s, k, want_ck))
    replay_s = time.monotonic() - t1

    lr_cuts = [d for d in decisions if d[1] == "lr"]
    print("run %s: %d steps in %.2f s%s, final val_loss %.4f" % (
        a.run, last_step, train_s,
        " (early stop at step %d)" % stopped_at if stopped_at else "",
        metrics_at[last_step]["val_loss"]))
    print("  lr decisions (plateau): %s" % (
        ", ".join("step %d" % s for s, _ in lr_cuts) or "none"))
    print("  checkpoints: %d (async), steps %s; %d bytes logical, %d new bytes in the last" % (
        status["completed"], ck_steps, status["last"]["logical_bytes"],
        status["last"]["new_bytes"]))
    print("  replayed step(s) %s in %.3f s: %s" % (
        ", ".join(map(str, checks)), replay_s,
        "weights, params, metrics and decisions match" if not problems else "MISMATCH"))
    for p in problems:
        print("  MISMATCH: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
