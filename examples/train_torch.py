#!/usr/bin/python3
"""PyTorch without boilerplate: watch, nested checkpoints, preemption, exact resume.

Trains a small MLP (torch.nn, SGD + momentum, ReduceLROnPlateau, early
stopping) with provtrace added in three places:

  - ``provtrace.torch.watch(rec, opt, sched, early_stopping=stopper)``: every
    learning-rate cut is recorded as a decision (actor ReduceLROnPlateau,
    reason with the monitored value, best, bad epochs, patience, factor),
    the early stop too - nothing is written by hand;
  - ``rec.checkpoint(step, {"model": ..., "optimizer": ..., "scheduler": ...,
    "rng": provtrace.torch.rng_state(), ...})``: nested state, every tensor
    stored (and deduplicated) on its own;
  - ``Recorder(..., resume="latest")`` + ``provtrace.torch.restore(...)``;
  - ``rec.dataset(...)``: the training and validation data, hashed by
    content (``State.datasets`` shows them in effect at any point).

The example runs the training in a child process that is killed with
SIGKILL at --kill-at (a simulated preemption), restarts it (it resumes from
the newest checkpoint), runs the same training uninterrupted as a
reference run, and checks that both end with bit-identical weights and the
same decisions at the same steps.  Then it replays the run and diffs the
two points around the first learning-rate decision.  Exits 1 on any
mismatch, 77 (skipped) if torch is missing.

    PYTHONPATH=bindings/python /usr/bin/python3 examples/train_torch.py \\
        --store /tmp/pt-demo --run torch-1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys

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
import provtrace.torch as ptt


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=20)
    ap.add_argument("--kill-at", type=int, default=130)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-code", action="store_true")
    ap.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def train(a) -> int:
    """One training process: starts fresh or resumes from the newest checkpoint."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(1024, 8, generator=g)
    w = torch.randn(8, generator=g) / 8 ** 0.5
    y = (torch.sin(x @ w) + 0.5 * torch.tanh(x[:, 0] * x[:, 1]))[:, None]
    xt, yt, xv, yv = x[:768], y[:768], x[768:], y[768:]
    torch.manual_seed(a.seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=6,
                                                       threshold=0.01, min_lr=1e-4)
    stopper = ptt.EarlyStopping(patience=40, min_delta=1e-4, monitor="val_loss")
    loss_fn = torch.nn.MSELoss()
    with provtrace.Recorder(run=a.run, store=a.store, capture_code=not a.no_code,
                            resume="latest", max_delay_ms=100) as rec:
        start = 0
        if rec.resumed_from is None:
            rec.params({"lr": 0.1, "momentum": 0.9, "batch": 64, "seed": a.seed,
                        "framework": "torch " + torch.__version__})
            # the data, hashed by content (a directory of files works the same way)
            rec.dataset("regression", {"x": xt, "y": yt}, role="train")
            rec.dataset("regression-val", {"x": xv, "y": yv}, role="eval")
        else:
            state = ptt.restore(rec.resumed_from, model, opt, sched)
            stopper.load_state_dict(state["early_stopping"])
            start = rec.resumed_from.step
            print("  resumed from the checkpoint of step %d (lineage %d)" % (start, rec.lineage))
        ptt.watch(rec, opt, sched, early_stopping=stopper)
        for step in range(start + 1, a.steps + 1):
            idx = torch.randint(0, len(xt), (64,))   # the global RNG: in the checkpoint
            model.train()
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                val = float(loss_fn(model(xv), yv))
            rec.metrics({"loss": float(loss), "val_loss": val}, step=step)
            sched.step(val)                      # a cut becomes a decision by itself
            stop = stopper.step(val)
            if step % a.ckpt_every == 0 or stop:
                rec.checkpoint(step, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                      "scheduler": sched.state_dict(), "rng": ptt.rng_state(),
                                      "early_stopping": stopper.state_dict()}, wait=True)
            if step == a.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)   # preempted: no cleanup, no flush
            if stop:
                break
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.numpy().tobytes())
    print("weights %s step %d" % (h.hexdigest(), step))
    return 0


def child(a, run: str, kill_at: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, os.path.abspath(__file__), "--store", a.store, "--run", run,
           "--steps", str(a.steps), "--ckpt-every", str(a.ckpt_every), "--kill-at",
           str(kill_at), "--seed", str(a.seed), "--train-only"] + (["--no-code"] if a.no_code
                                                                   else [])
    return subprocess.run(cmd, capture_output=True, text=True)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.train_only:
        return train(a)
    if os.path.isdir(a.store) and a.run in provtrace.runs(a.store):
        print("run %r already exists in %s: choose another --run" % (a.run, a.store),
              file=sys.stderr)
        return 2
    problems = []
    p = child(a, a.run, a.kill_at)
    print("run %s: preempted (SIGKILL) at step %d: exit %d" % (a.run, a.kill_at, p.returncode))
    if p.returncode != -signal.SIGKILL:
        problems.append("the first process was not killed: %s" % p.stderr.strip())
    p = child(a, a.run, -1)
    sys.stdout.write(p.stdout.replace("weights", "  finished: weights", 1))
    ref = child(a, a.run + "-ref", -1)
    print("reference run %s (uninterrupted): %s" % (a.run + "-ref", ref.stdout.strip()))
    if p.returncode or ref.returncode:
        problems.append("training failed: %s %s" % (p.stderr.strip(), ref.stderr.strip()))
    elif p.stdout.splitlines()[-1] != ref.stdout.splitlines()[-1]:
        problems.append("weights differ from the uninterrupted run")
    run, rref = (provtrace.open_run(r, store=a.store) for r in (a.run, a.run + "-ref"))
    dec = [(d["step"], d["name"], d.get("set"), d.get("actor"))
           for d in run.state_at(latest=True).decisions]
    dref = [(d["step"], d["name"], d.get("set"), d.get("actor"))
            for d in rref.state_at(latest=True).decisions]
    if dec != dref:
        problems.append("decisions differ:\n    %s\n    %s" % (dec, dref))
    print("  decisions (recorded by watch): %s" % ", ".join(
        "%s at step %d by %s" % (n, s, act) for s, n, _, act in dec))
    print("  lineages: %s" % ", ".join("%d (from step %s)" % (l["lineage"], l.get("from_step"))
                                       for l in run.lineages()))
    # Replay and diff around the first learning-rate decision.
    lr_steps = [s for s, n, _, _ in dec if n == "lr"]
    if lr_steps:
        s = lr_steps[0]
        before, after = run.state_at(step=s - 1), run.state_at(step=s)
        d = run.diff(before, after)
        last = after.decisions[-1]
        print("  replay step %d -> %d: lr %r -> %r; decision %s: %s" % (
            s - 1, s, before.params.get("lr"), after.params.get("lr"), last["name"],
            last.get("reason")))
        print("  diff: metrics %s, decisions between: %d" % (
            sorted(d["metrics"]), len(d["decisions"])))
        if after.params.get("lr") == before.params.get("lr"):
            problems.append("the lr in effect did not change at the decision")
    end = run.state_at(latest=True)
    ref_end = provtrace.open_run(a.run + "-ref", store=a.store).state_at(latest=True)
    ds = {n: d["id"] for n, d in end.datasets.items()}
    print("  datasets in effect: %s" % ", ".join("%s (%s, id %s)" % (n, end.datasets[n]["role"], i[:12])
                                                 for n, i in sorted(ds.items())))
    if ds != {n: d["id"] for n, d in ref_end.datasets.items()} or len(ds) != 2:
        problems.append("the datasets in effect differ from the uninterrupted run's")
    ck = end.checkpoint
    if ck is not None:
        state = ck.load(torch=True)
        print("  final checkpoint: step %d, %d tensors, keys %s" % (
            ck.step, ck.info.get("tensors", 0), sorted(state)))
    for m in problems:
        print("  MISMATCH: " + m, file=sys.stderr)
    if not problems:
        print("  resumed run identical to the uninterrupted one (weights and decisions)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
