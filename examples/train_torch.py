#!/usr/bin/python3
"""The train_numpy.py example with PyTorch: record, then restore and compare.

Trains a small MLP (torch.nn) with SGD + momentum, the learning rate driven
by torch.optim.lr_scheduler.ReduceLROnPlateau, and records:
  - params, per-step metrics (loss, val_loss, lr, grad_norm);
  - each learning-rate cut of the scheduler as a decision (reason
    "plateau", actor "ReduceLROnPlateau") and early stopping as a decision;
  - a checkpoint every --ckpt-every steps, asynchronously: the model's
    state_dict tensors as tensors, the optimizer's state (torch.save) as a
    blob.

Then it replays the run at --check-step, rebuilds a fresh model with
model.load_state_dict() from the restored tensors and the optimizer with
optimizer.load_state_dict() from the blob, and checks that the model's
outputs on the validation set are identical to the ones the training
loop computed at that step, that one more training step from the restored
state gives the same weights as it gave then, and that the params in
effect match.  Exits 1 on any mismatch, 77 (skipped) if torch is missing.

    PYTHONPATH=bindings/python /usr/bin/python3 examples/train_torch.py \\
        --store /tmp/pt-demo --run torch-1
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

try:
    import torch
except ImportError as e:
    print("SKIP: torch is not importable (%s); install python3-torch to run this example" % e)
    sys.exit(77)

try:
    import provtrace
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "bindings", "python"))
    import provtrace

SKIP = 77


def make_data(g: torch.Generator, n: int, d: int):
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g) / d ** 0.5
    y = torch.sin(x @ w) + 0.5 * torch.tanh(x[:, 0] * x[:, 1])
    y = y + 0.05 * torch.randn(n, generator=g)
    return x, y[:, None]


def make_model(hidden: int, d: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, 1))


def optimizer_blob(opt: torch.optim.Optimizer) -> bytes:
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    return buf.getvalue()


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--ckpt-every", type=int, default=20)
    ap.add_argument("--check-step", type=int, default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-code", action="store_true")
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
    torch.set_num_threads(1)  # small model: threads only add noise
    torch.use_deterministic_algorithms(True)
    t0 = time.monotonic()
    g = torch.Generator().manual_seed(a.seed)
    x, y = make_data(g, 1024, 8)
    xt, yt, xv, yv = x[:768], y[:768], x[768:], y[768:]
    hp = {"lr": 0.1, "momentum": 0.9, "batch": 64, "hidden": 64, "seed": a.seed,
          "plateau_factor": 0.5, "plateau_patience": 8, "plateau_threshold": 0.01,
          "early_stop_patience": 25, "early_stop_min_delta": 1e-3, "ckpt_every": a.ckpt_every,
          "framework": "torch " + torch.__version__}
    torch.manual_seed(a.seed)
    model = make_model(hp["hidden"], 8)
    opt = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=hp["plateau_factor"], patience=hp["plateau_patience"],
        threshold=hp["plateau_threshold"], min_lr=1e-4)
    loss_fn = torch.nn.MSELoss()
    es_best, es_bad, stopped_at = float("inf"), 0, None

    held = {}       # checkpoint step -> (val outputs, next batch, weights after it)
    lr_at = {}
    metrics_at = {}
    decisions = []

    def train_step(m: torch.nn.Module, o: torch.optim.Optimizer, idx: torch.Tensor):
        o.zero_grad()
        loss = loss_fn(m(xt[idx]), yt[idx])
        loss.backward()
        gn = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in m.parameters())))
        o.step()
        return float(loss), gn

    with provtrace.Recorder(run=a.run, store=a.store, capture_code=not a.no_code) as rec:
        rec.params(hp)
        pending = None
        for step in range(1, a.steps + 1):
            idx = torch.randperm(len(xt), generator=g)[:hp["batch"]]
            if step - 1 in held:
                # What one more step from the checkpoint must reproduce.
                held[step - 1]["next_idx"] = idx
            loss, gnorm = train_step(model, opt, idx)
            if step - 1 in held:
                held[step - 1]["next_weights"] = {k: v.clone() for k, v in
                                                  model.state_dict().items()}
            with torch.no_grad():
                val = float(loss_fn(model(xv), yv))
            if pending is not None and not pending.done:
                pending.wait()  # its event before this step's (see train_numpy.py)
            pending = None
            lr = opt.param_groups[0]["lr"]
            m = {"loss": loss, "val_loss": val, "lr": lr, "grad_norm": gnorm}
            rec.metrics(m, step=step)
            metrics_at[step] = m
            sched.step(val)
            new_lr = opt.param_groups[0]["lr"]
            if new_lr != lr:
                rec.decision("lr", step=step, set={"lr": new_lr}, reason="plateau",
                             actor="ReduceLROnPlateau", metric="val_loss", value=val,
                             best=float(sched.best), patience=hp["plateau_patience"],
                             factor=hp["plateau_factor"])
                decisions.append((step, "lr"))
            lr_at[step] = new_lr
            if step % a.ckpt_every == 0:
                tensors = dict(model.state_dict())
                tensors["optimizer.pt"] = optimizer_blob(opt)
                pending = rec.checkpoint(step, tensors)
                with torch.no_grad():
                    held[step] = {"val_out": model(xv).clone()}
            if val < es_best - hp["early_stop_min_delta"]:
                es_best, es_bad = val, 0
            else:
                es_bad += 1
            if es_bad >= hp["early_stop_patience"]:
                rec.decision("early_stop", step=step, set={"training": "stopped"},
                             reason="no_improvement", actor="EarlyStopping",
                             metric="val_loss", best=es_best, patience=hp["early_stop_patience"])
                decisions.append((step, "early_stop"))
                stopped_at = step
                break
        last_step = step
        rec.wait_checkpoints()
    train_s = time.monotonic() - t0

    # ---- restore through load_state_dict and compare ---------------------------
    t1 = time.monotonic()
    run = provtrace.open_run(a.run, store=a.store)
    ck_steps = sorted(s for s in held if "next_idx" in held[s])
    if not ck_steps:
        print("no checkpoint was followed by a training step", file=sys.stderr)
        return 1
    n = a.check_step if a.check_step is not None else ck_steps[(len(ck_steps) - 1) // 2]
    if n not in ck_steps:
        print("--check-step %d is not a checkpoint step followed by another step (%s)"
              % (n, ck_steps), file=sys.stderr)
        return 2
    problems = []
    st = run.state_at(step=n)
    if st.params.get("lr") != lr_at[n]:
        problems.append("lr in effect %r, the loop had %r" % (st.params.get("lr"), lr_at[n]))
    for k, v in metrics_at[n].items():
        if st.metrics.get(k) != v:
            problems.append("metric %s = %r, the loop had %r" % (k, st.metrics.get(k), v))
    if [(d["step"], d["name"]) for d in st.decisions] != [d for d in decisions if d[0] <= n]:
        problems.append("decisions differ")
    if st.checkpoint is None or st.checkpoint.step != n:
        problems.append("checkpoint in effect at step %d: %r" % (n, st.checkpoint))
    else:
        restored = st.checkpoint.load()
        blob = restored.pop("optimizer.pt")
        torch.manual_seed(12345)  # different initial weights: all must come from the store
        model2 = make_model(hp["hidden"], 8)
        model2.load_state_dict({k: torch.from_numpy(v) for k, v in restored.items()})
        opt2 = torch.optim.SGD(model2.parameters(), lr=hp["lr"], momentum=hp["momentum"])
        opt2.load_state_dict(torch.load(io.BytesIO(blob)))
        with torch.no_grad():
            out = model2(xv)
        if not torch.equal(out, held[n]["val_out"]):
            problems.append("restored model's outputs differ from the ones at step %d "
                            "(max abs diff %g)" % (n, float((out - held[n]["val_out"]).abs().max())))
        train_step(model2, opt2, held[n]["next_idx"])
        for k, v in model2.state_dict().items():
            if not torch.equal(v, held[n]["next_weights"][k]):
                problems.append("one step after restoring, %s differs from the original run" % k)
    replay_s = time.monotonic() - t1

    print("run %s: %d steps in %.2f s%s, final val_loss %.4f" % (
        a.run, last_step, train_s, " (early stop at step %d)" % stopped_at if stopped_at else "",
        metrics_at[last_step]["val_loss"]))
    print("  lr decisions (plateau): %s" % (
        ", ".join("step %d" % s for s, d in decisions if d == "lr") or "none"))
    print("  checkpoints (async): steps %s" % sorted(held))
    print("  restored step %d through load_state_dict in %.3f s: %s" % (
        n, replay_s, "outputs, next step, params, metrics and decisions identical"
        if not problems else "MISMATCH"))
    for p in problems:
        print("  MISMATCH: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
