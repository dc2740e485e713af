"""provtrace.torch: PyTorch without boilerplate.

``watch(rec, optimizer, scheduler)`` records every change of the optimizer's
hyperparameters as a ``decision`` (who changed it and why); ``rng_state()``
and ``restore()`` put a run back exactly where a nested checkpoint left it.

torch is imported lazily (by the functions that need it): ``import
provtrace`` never imports torch and works without it.

Steps: a watcher counts the optimizer's steps (``optimizer.step()`` calls),
starting at ``start_step`` (default: the step of ``rec.resumed_from`` when
the recorder resumed, else 0).  A change made by ``scheduler.step()`` after
optimizer step N is recorded at step N (it takes effect for step N+1); a
change made by anything else (``actor="user"``) is found at the next
``optimizer.step()`` and recorded at the step about to be taken.
"""

from __future__ import annotations

import math
import operator
import random
import sys
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["watch", "Watcher", "EarlyStopping", "rng_state", "set_rng_state", "restore"]


def _torch() -> Any:
    import torch  # noqa: F811  (lazy: provtrace works without torch)
    return torch


def _plain(v: Any) -> Any:
    """A hyperparameter as a plain value for the event (tensors -> float)."""
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    item = getattr(v, "item", None)
    if item is not None and getattr(v, "numel", lambda: 2)() == 1:
        return item()
    return repr(v)


def _snap(groups: List[Dict[str, Any]]) -> List[Tuple[Tuple[str, Any], ...]]:
    return [tuple((k, g[k]) for k in g if k != "params") for g in groups]


def _fast(groups: List[Dict[str, Any]]) -> List[Tuple[int, Any, Any]]:
    """Per group: (len, itemgetter of its keys, their values as a tuple)."""
    out = []
    for g in groups:
        get = operator.itemgetter(*g.keys(), "params") if g else (lambda d: ())
        out.append((len(g), get, get(g)))
    return out


def _fmt(x: Any) -> str:
    return "%.6g" % x if isinstance(x, float) else str(x)


def scheduler_reason(sched: Any, metric: Any = None, bad_before: Optional[int] = None) -> Tuple[str, Dict[str, Any]]:
    """(reason, extra fields) explaining the change ``sched`` just made."""
    name = type(sched).__name__
    extra: Dict[str, Any] = {}
    if name == "ReduceLROnPlateau":
        bad = (bad_before or 0) + 1
        extra = {"metric": _plain(metric), "best": _plain(sched.best), "bad_epochs": bad,
                 "patience": sched.patience, "factor": sched.factor, "mode": sched.mode}
        return ("plateau: the monitored value %s did not improve on the best %s (mode %s) for "
                "%d evaluations > patience %d; lr x factor %s"
                % (_fmt(_plain(metric)), _fmt(_plain(sched.best)), sched.mode, bad,
                   sched.patience, _fmt(sched.factor)), extra)
    epoch = getattr(sched, "last_epoch", None)
    extra["epoch"] = epoch
    if name == "StepLR":
        rule = "every %d epochs lr x gamma %s" % (sched.step_size, _fmt(sched.gamma))
    elif name == "MultiStepLR":
        rule = "at milestones %s lr x gamma %s" % (sorted(sched.milestones), _fmt(sched.gamma))
    elif name == "ExponentialLR":
        rule = "every epoch lr x gamma %s" % _fmt(sched.gamma)
    elif name == "CosineAnnealingLR":
        rule = "cosine annealing over T_max %d to eta_min %s" % (sched.T_max, _fmt(sched.eta_min))
    elif name == "CosineAnnealingWarmRestarts":
        rule = "cosine with warm restarts T_0 %d T_mult %d eta_min %s" % (
            sched.T_0, sched.T_mult, _fmt(sched.eta_min))
    elif name == "OneCycleLR":
        pct = getattr(sched, "_schedule_phases", None)
        rule = "one cycle: step %s of %d (max_lr %s, %s annealing)" % (
            epoch, sched.total_steps, _fmt(_plain(sched.optimizer.param_groups[0].get("max_lr"))),
            "cos" if getattr(sched, "anneal_func", None) is not None and "cos" in getattr(
                sched.anneal_func, "__name__", "cos") else "linear")
        del pct
    elif name == "LinearLR":
        rule = "linear warmup factor %s -> %s over %d epochs" % (
            _fmt(sched.start_factor), _fmt(sched.end_factor), sched.total_iters)
    elif name == "ConstantLR":
        rule = "constant factor %s for %d epochs" % (_fmt(sched.factor), sched.total_iters)
    elif name in ("LambdaLR", "MultiplicativeLR"):
        rule = "lr_lambda(epoch)"
    elif name in ("SequentialLR", "ChainedScheduler"):
        rule = "composite of %s" % ", ".join(type(s).__name__ for s in sched._schedulers)
    elif name == "CyclicLR":
        rule = "cyclic (%s) between base_lr and max_lr" % getattr(sched, "mode", "?")
    else:
        rule = "schedule"
    return "%s: %s (epoch %s)" % (name, rule, epoch), extra


class Watcher:
    """What :func:`watch` returns: ``.step`` (optimizer steps so far),
    ``.decisions`` (how many it recorded), ``.unwatch()``."""

    def __init__(self, rec: Any, optimizer: Any, scheduler: Any, scaler: Any,
                 early_stopping: Any, start_step: int) -> None:
        self.rec = rec
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.step = start_step
        self.decisions = 0
        self._groups = optimizer.param_groups
        self._known = _snap(self._groups)
        self._fast = _fast(self._groups)
        self._restore: List[Tuple[Any, str, Any, bool]] = []
        self._patch(optimizer, "step", self._wrap_opt_step)
        if scheduler is not None:
            # A scheduler's state_dict() is its __dict__: an instance
            # attribute would end up in checkpoints.  Its class becomes a
            # subclass overriding step() instead (unwatch() puts it back).
            cls = type(scheduler)
            hook = self._wrap_sched_step(None)

            def _step(this: Any, *args: Any, **kwargs: Any) -> Any:
                return hook(lambda *a, **k: cls.step(this, *a, **k), *args, **kwargs)
            scheduler.__class__ = type(cls.__name__, (cls,), {
                "step": _step, "__module__": cls.__module__, "_provtrace_watched": cls})
            self._restore.append((scheduler, "__class__", cls, True))
        if scaler is not None:
            self._scale = self._scaler_scale()
            self._patch(scaler, "update", self._wrap_scaler_update)
        if early_stopping is not None:
            early_stopping._watcher = self
            early_stopping._rec = rec

    # -- patching ---------------------------------------------------------------------------
    def _patch(self, obj: Any, attr: str, make: Any) -> None:
        had = attr in obj.__dict__        # e.g. torch 1.13's schedulers wrap optimizer.step
        orig = getattr(obj, attr)
        setattr(obj, attr, make(orig))
        self._restore.append((obj, attr, orig, had))

    def unwatch(self) -> None:
        """Stop watching: the optimizer, scheduler and scaler get their own
        methods back."""
        for obj, attr, orig, had in reversed(self._restore):
            if had:
                setattr(obj, attr, orig)
            else:
                try:
                    delattr(obj, attr)
                except AttributeError:
                    pass
        self._restore.clear()

    # -- the hooks --------------------------------------------------------------------------
    def _wrap_opt_step(self, orig: Any) -> Any:
        groups = self._groups

        def step(*args: Any, **kwargs: Any) -> Any:
            # the fast path: per group, its values fetched by one C-level
            # itemgetter and compared as a tuple (identity first)
            fast = self._fast
            if len(groups) != len(fast):
                self._record_changes("user", "changed outside a scheduler", {}, self.step)
            else:
                for g, (n, get, vals) in zip(groups, fast):
                    if len(g) != n or get(g) != vals:
                        self._record_changes("user", "changed outside a scheduler", {},
                                             self.step)
                        break
            out = orig(*args, **kwargs)
            self.step += 1
            return out
        step.__wrapped__ = orig  # type: ignore[attr-defined]
        if hasattr(orig, "_with_counter"):  # what torch's schedulers check for
            step._with_counter = True  # type: ignore[attr-defined]
        return step

    def _wrap_sched_step(self, _unused: Any) -> Any:
        def step(orig: Any, *args: Any, **kwargs: Any) -> Any:
            sched = self.scheduler
            metric = args[0] if args else kwargs.get("metrics")
            bad = getattr(sched, "num_bad_epochs", None)
            # changes made by the user before the scheduler acts are theirs
            if _snap(self._groups) != self._known:
                self._record_changes("user", "changed outside a scheduler", {}, self.step)
            out = orig(*args, **kwargs)
            if _snap(self._groups) != self._known:
                reason, extra = scheduler_reason(sched, metric, bad)
                self._record_changes(type(sched).__name__, reason, extra, self.step)
            return out
        return step

    def _scaler_scale(self) -> Optional[float]:
        sc = self.scaler
        if not sc.is_enabled():
            return None
        return float(sc.get_scale())

    def _wrap_scaler_update(self, orig: Any) -> Any:
        def update(*args: Any, **kwargs: Any) -> Any:
            out = orig(*args, **kwargs)
            new = self._scaler_scale()
            old = self._scale
            if new is not None and old is not None and new != old:
                sc = self.scaler
                if new < old:
                    reason = ("inf/nan gradients found: scale x backoff_factor %s"
                              % _fmt(sc.get_backoff_factor()))
                else:
                    reason = ("%d steps without inf/nan gradients: scale x growth_factor %s"
                              % (sc.get_growth_interval(), _fmt(sc.get_growth_factor())))
                self.rec.decision("grad_scale", step=self.step, set={"grad_scale": new},
                                  reason=reason, actor=type(sc).__name__)
                self.decisions += 1
            self._scale = new
            return out
        update.__wrapped__ = orig  # type: ignore[attr-defined]
        return update

    def _record_changes(self, actor: str, reason: str, extra: Dict[str, Any], step: int) -> None:
        now = _snap(self._groups)
        known = self._known
        changed: Dict[str, Any] = {}
        names: List[str] = []
        for gi, snap in enumerate(now):
            before = dict(known[gi]) if gi < len(known) else {}
            for k, v in snap:
                if k not in before or before[k] is not v and before[k] != v:
                    key = k if len(now) == 1 else "param_groups.%d.%s" % (gi, k)
                    changed[key] = _plain(v)
                    if k not in names:
                        names.append(k)
        self._known = now
        self._fast = _fast(self._groups)
        if not changed:
            return
        self.rec.decision("+".join(names), step=step, set=changed, reason=reason, actor=actor,
                          **extra)
        self.decisions += 1


def watch(rec: Any, optimizer: Any, scheduler: Any = None, *, scaler: Any = None,
          early_stopping: Any = None, start_step: Optional[int] = None) -> Watcher:
    """Record every change of ``optimizer``'s param-group hyperparameters
    (lr, momentum, betas, weight_decay, ...) as a ``decision`` of ``rec``:
    ``set`` the new values, ``actor`` the scheduler's class (or ``"user"``),
    ``reason`` from the scheduler's state.  ``scaler``: a
    ``torch.cuda.amp.GradScaler`` whose scale changes are decisions
    (``grad_scale``).  ``early_stopping``: an :class:`EarlyStopping` whose
    stop is recorded.  Patches ``optimizer.step``, ``scheduler.step`` and
    ``scaler.update`` on these objects (``Watcher.unwatch()`` undoes it);
    nothing else in the training loop changes."""
    if start_step is None:
        rf = getattr(rec, "resumed_from", None)
        start_step = getattr(rf, "step", None) or 0
    return Watcher(rec, optimizer, scheduler, scaler, early_stopping, int(start_step))


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` evaluations.  ``step(value)`` returns True when training
    should stop; the stop is recorded as an ``early_stop`` decision (with
    its rule) when the helper is given to :func:`watch` (or ``rec=``)."""

    def __init__(self, patience: int = 10, *, mode: str = "min", min_delta: float = 0.0,
                 monitor: str = "val_loss", rec: Any = None) -> None:
        if mode not in ("min", "max"):
            raise ValueError("mode must be 'min' or 'max'")
        self.patience = int(patience)
        self.mode = mode
        self.min_delta = float(min_delta)
        self.monitor = monitor
        self.best: Optional[float] = None
        self.bad = 0
        self.stopped = False
        self._rec = rec
        self._watcher: Optional[Watcher] = None

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best, "bad": self.bad, "stopped": self.stopped}

    def load_state_dict(self, d: Dict[str, Any]) -> None:
        self.best, self.bad, self.stopped = d["best"], int(d["bad"]), bool(d["stopped"])

    def step(self, value: Any, *, step: Optional[int] = None) -> bool:
        v = float(_plain(value))
        better = self.best is None or (v < self.best - self.min_delta if self.mode == "min"
                                       else v > self.best + self.min_delta)
        if better and not math.isnan(v):
            self.best = v
            self.bad = 0
        else:
            self.bad += 1
        if not self.stopped and self.bad >= self.patience:
            self.stopped = True
            if self._rec is not None:
                at = step if step is not None else (
                    self._watcher.step if self._watcher is not None else None)
                self._rec.decision(
                    "early_stop", step=at, set={"stop": True}, actor="EarlyStopping",
                    reason="%s did not improve on the best %s by more than %s for %d "
                           "evaluations (patience %d, mode %s)"
                           % (self.monitor, _fmt(self.best), _fmt(self.min_delta), self.bad,
                              self.patience, self.mode),
                    monitor=self.monitor, value=v, best=self.best, patience=self.patience)
                if self._watcher is not None:
                    self._watcher.decisions += 1
        return self.stopped


def rng_state() -> Dict[str, Any]:
    """Every random number generator's state, as nested state for a
    checkpoint: ``torch`` (CPU), ``cuda`` (one per device, when CUDA is
    available), ``numpy`` (the legacy global generator, when numpy is
    installed) and ``python`` (``random``)."""
    torch = _torch()
    st: Dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    np = sys.modules.get("numpy")
    if np is not None:
        st["numpy"] = np.random.get_state()
    return st


def set_rng_state(st: Dict[str, Any]) -> None:
    """Put back what :func:`rng_state` returned (after a checkpoint load)."""
    torch = _torch()
    t = st["torch"]
    torch.set_rng_state(t if isinstance(t, torch.Tensor) else torch.from_numpy(t))
    py = st.get("python")
    if py is not None:
        random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([x.cpu() if isinstance(x, torch.Tensor) else
                                      torch.from_numpy(x) for x in st["cuda"]])
    if "numpy" in st:
        import numpy as np
        s = st["numpy"]
        arr = s[1].numpy() if hasattr(s[1], "numpy") else s[1]
        np.random.set_state((s[0], np.asarray(arr, dtype=np.uint32), int(s[2]), int(s[3]),
                             float(s[4])))


def restore(checkpoint: Any, model: Any = None, optimizer: Any = None, scheduler: Any = None,
            scaler: Any = None, rng: bool = True) -> Dict[str, Any]:
    """Load a nested checkpoint (a :class:`~provtrace.Checkpoint`, a
    manifest's loaded state, or ``rec.resumed_from``) into the objects
    given: ``state["model"]`` into ``model.load_state_dict``, and likewise
    ``optimizer``, ``scheduler``, ``scaler``; ``rng=True`` puts back
    ``state["rng"]`` (:func:`rng_state`).  Returns the loaded state.
    ``KeyError`` naming the key when an object is given but its state is
    not in the checkpoint."""
    if hasattr(checkpoint, "load") and hasattr(checkpoint, "manifest"):
        state = checkpoint.load(torch=True)
    else:
        state = checkpoint
    if not isinstance(state, dict):
        raise TypeError("restore: expected a nested checkpoint (a dict), not %s"
                        % type(state).__name__)
    for key, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler),
                     ("scaler", scaler)):
        if obj is None:
            continue
        if key not in state:
            raise KeyError("restore: the checkpoint has no %r state (keys: %s)"
                           % (key, ", ".join(map(str, state))))
        obj.load_state_dict(state[key])
    if rng and "rng" in state:
        set_rng_state(state["rng"])
    return state
