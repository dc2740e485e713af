"""Time travel: the state of a run at any point (``provtrace/replay.h``).

:meth:`Run.state_at` returns a :class:`State`; :meth:`Run.diff`,
:meth:`Run.walk` and :meth:`Run.lineages` are built on the same C replay.
The state model (what params, metrics, decisions, checkpoint... mean at a
point) is the library's fold, the same one the CLI's ``replay`` shows.
"""

from __future__ import annotations

import weakref
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint64,
    c_void_p,
    string_at,
)
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from . import _lib
from ._store import StoreHandle
from .checkpoint import Checkpoint
from .errors import PT_ITEROVER

__all__ = ["State", "PointSpec"]


class Point(Structure):
    """pt_point (replay.h)."""

    _fields_ = [("kind", c_int), ("value", c_int64)]


class ReplayOptions(Structure):
    """pt_replay_options (replay.h)."""

    _fields_ = [
        ("version", c_uint),
        ("stream", c_char_p),
        ("lineage", c_int64),
        ("use_snapshots", c_int),
        ("track_changes", c_int),
    ]


_lib._check_layout(Point, "pt_point")
_lib._check_layout(ReplayOptions, "pt_replay_options")

AT_LATEST, AT_SEQ, AT_STEP, AT_TIME = 0, 1, 2, 3
LINEAGE_LIVE = -1
REPLAY_OPTIONS_VERSION = 1
#: int (*pt_fold_fn)(void *ctx, const pt_event_view *ev)
FOLD_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)

_d = _lib.declare
pt_point_parse = _d("pt_point_parse", c_int, [POINTER(Point), c_char_p])
pt_replay_options_init = _d("pt_replay_options_init", c_int, [POINTER(ReplayOptions), c_uint])
pt_replay_open = _d("pt_replay_open", c_int,
                    [POINTER(c_void_p), c_void_p, c_char_p, POINTER(Point), POINTER(ReplayOptions)])
pt_replay_free = _d("pt_replay_free", None, [c_void_p])
pt_replay_seq = _d("pt_replay_seq", c_uint64, [c_void_p])
pt_replay_step = _d("pt_replay_step", c_int64, [c_void_p])
pt_replay_lineage = _d("pt_replay_lineage", c_int64, [c_void_p])
pt_replay_snapshot_seq = _d("pt_replay_snapshot_seq", c_uint64, [c_void_p])
pt_replay_events_folded = _d("pt_replay_events_folded", c_uint64, [c_void_p])
pt_replay_state_json = _d("pt_replay_state_json", c_int,
                          [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
pt_replay_checkpoint = _d("pt_replay_checkpoint", c_int,
                          [c_void_p, c_char_p, POINTER(c_uint64), POINTER(c_int64)])
pt_replay_forward = _d("pt_replay_forward", c_int, [c_void_p, POINTER(c_void_p)])
pt_replay_changes_json = _d("pt_replay_changes_json", c_int, [c_void_p, POINTER(c_void_p)])
pt_replay_diff_json = _d("pt_replay_diff_json", c_int, [c_void_p, c_void_p, POINTER(c_void_p)])
pt_replay_lineages_json = _d("pt_replay_lineages_json", c_int, [c_void_p, POINTER(c_void_p)])
pt_replay_fold_kind = _d("pt_replay_fold_kind", c_int, [c_void_p, c_char_p, FOLD_FN, c_void_p])

#: What a point may be given as: None / "latest", "step=N", "seq=N",
#: "time=ISO-8601", an int (a step), a dict with one of step/seq/time, or a State.
PointSpec = Union[None, str, int, Mapping[str, Any], "State"]

_free_replay = _lib.free_with(pt_replay_free)


def _decode(text: str) -> Any:
    from .reader import decode_json_event  # the same $bytes/$float decoding as events

    return decode_json_event(text)


def _time_ns(v: Any) -> int:
    from .reader import _time_ns as t

    return t(v, "time")


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError("%s must be an int, not %s" % (what, type(v).__name__))
    return v.__index__()


def make_point(at: PointSpec = None, *, step: Any = None, seq: Any = None, time: Any = None,
               latest: bool = False) -> Point:
    """A pt_point from one of the accepted spellings (exactly one given)."""
    given = [n for n, v in (("at", at), ("step", step), ("seq", seq), ("time", time))
             if v is not None] + (["latest"] if latest else [])
    if len(given) > 1:
        raise ValueError("give one point, not %s" % " and ".join(given))
    p = Point(AT_LATEST, 0)
    if isinstance(at, State):
        p.kind, p.value = AT_SEQ, at.seq
        return p
    if isinstance(at, Mapping):
        if len(at) != 1 or next(iter(at)) not in ("step", "seq", "time"):
            raise ValueError("a point dict has one key: step, seq or time (got %r)" % (dict(at),))
        return make_point(**{str(k): v for k, v in at.items()})
    if isinstance(at, str):
        _lib.check(pt_point_parse(byref(p), _lib.cname(at, "point")), "point %r" % at)
        return p
    if at is not None:
        step = _int(at, "point")
    if step is not None:
        s = _int(step, "step")
        if not (_lib.INT64_MIN < s <= _lib.INT64_MAX):
            raise ValueError("step %d is out of the int64 range" % s)
        p.kind, p.value = AT_STEP, s
    elif seq is not None:
        s = _int(seq, "seq")
        if not (0 <= s <= _lib.INT64_MAX):
            raise ValueError("seq %d is out of range" % s)
        p.kind, p.value = AT_SEQ, s
    elif time is not None:
        p.kind, p.value = AT_TIME, _time_ns(time)
    return p


class _Replay:
    """Owns one pt_replay (and the fold callbacks registered on it)."""

    def __init__(self, store: StoreHandle, run: str, point: Point, lineage: Optional[int],
                 stream: Optional[str], use_snapshots: bool = True,
                 track_changes: bool = False) -> None:
        opts = ReplayOptions()
        _lib.check(pt_replay_options_init(byref(opts), REPLAY_OPTIONS_VERSION))
        self._stream_b = None if stream is None else _lib.cname(stream, "stream")
        opts.stream = self._stream_b
        if lineage is not None:
            lin = _int(lineage, "lineage")
            if not (-1 <= lin <= _lib.INT64_MAX):
                raise ValueError("lineage %d is out of range" % lin)
            opts.lineage = lin
        opts.use_snapshots = 1 if use_snapshots else 0
        opts.track_changes = 1 if track_changes else 0
        out = c_void_p()
        _lib.check(pt_replay_open(byref(out), store.ptr, _lib.cname(run, "run"), byref(point),
                                  byref(opts)), "replay of %r" % run)
        self.ptr = out.value
        self.callbacks: List[Any] = []
        self._finalizer = weakref.finalize(self, _free_replay, self.ptr, store, self.callbacks)

    def close(self) -> None:
        self._finalizer()

    def state(self) -> Dict[str, Any]:
        js = c_void_p()
        n = c_size_t()
        _lib.check(pt_replay_state_json(self.ptr, byref(js), byref(n)), "replay state")
        return _decode(string_at(js, n.value).decode("utf-8"))

    def fold(self, kind: str, fn: Callable[[Any, Dict[str, Any]], Any], acc: Any) -> Any:
        """Run ``acc = fn(acc, event)`` over the events of ``kind`` up to the
        position; exceptions raised by ``fn`` are re-raised here."""
        box = [acc]
        failure: List[BaseException] = []
        ev_json = _lib.pt_ev_json
        ptr = c_void_p()
        ln = c_size_t()

        def on_event(_ctx: Any, view: Any) -> int:
            try:
                rc = ev_json(view, byref(ptr), byref(ln))
                if rc:
                    raise _lib.last_error(rc, "fold %r" % kind)
                box[0] = fn(box[0], _decode(string_at(ptr, ln.value).decode("utf-8")))
                return 0
            except BaseException as e:  # never unwind through C; re-raised below
                failure.append(e)
                return 1

        cb = FOLD_FN(on_event)
        self.callbacks.append(cb)  # the library may keep it for later forward steps
        rc = pt_replay_fold_kind(self.ptr, _lib.cname(kind, "fold kind"), cb, None)
        if failure:
            raise failure[0]
        if rc:
            raise _lib.last_error(rc, "fold %r" % kind)
        return box[0]


class State:
    """The state of a run at one point (see :meth:`Run.state_at`).

    Attributes:
        params: name -> value of every parameter in effect (set by a
            ``param`` event or by a decision's ``set``).
        param_info: name -> ``{"value", "seq", "step", "set_by_decision"}``.
        metrics: name -> latest value.
        metric_info: name -> ``{"value", "seq", "step"}``.
        decisions: the last decisions taken (at most 100; ``decisions_total``
            counts all), oldest first, each a dict with ``seq``, ``step``,
            ``name``, ``set`` (key -> ``{"old", "new"}``), ``reason``,
            ``actor``, ``fields``.
        checkpoint: the checkpoint in effect (:class:`Checkpoint`: ``load()``,
            ``export(dir)``) or None.
        step: the step of the state (None if no event had one).
        seq: the position (the last event folded; 0 before the first).
        lineage: the lineage in effect.
        time: ISO-8601 time of the last event folded (None at seq 0).
        code, env: the run's code provenance and environment events (dicts)
            or None.
        last: ``"kind/name"`` -> the last event of every other kind.
        datasets: name -> the dataset in effect (the last ``dataset`` event
            of that name: ``{"id", "role", "files", "size", "root", ...,
            "seq", "step"}``).
        folds: kind -> the result of each custom fold given to ``state_at``.
        raw: the whole state as the library renders it.
        events_folded, snapshot_seq: what it cost (events folded from the
            snapshot at ``snapshot_seq``; 0: from the start).
    """

    def __init__(self, run: "Any", rp: _Replay, raw: Dict[str, Any], folds: Dict[str, Any]):
        self._run = run
        self._rp = rp
        self.raw = raw
        self.folds = folds
        self.seq: int = raw.get("seq", 0)
        self.step: Optional[int] = raw.get("step")
        self.lineage: int = raw.get("lineage", 0)
        self.time: Optional[str] = raw.get("time")
        self.param_info: Dict[str, Any] = raw.get("params") or {}
        self.params: Dict[str, Any] = {k: v.get("value") for k, v in self.param_info.items()}
        self.metric_info: Dict[str, Any] = raw.get("metrics") or {}
        self.metrics: Dict[str, Any] = {k: v.get("value") for k, v in self.metric_info.items()}
        self.decisions: List[Dict[str, Any]] = list(raw.get("decisions") or [])
        self.decisions_total: int = raw.get("decisions_total", len(self.decisions))
        self.code: Optional[Dict[str, Any]] = raw.get("code")
        self.env: Optional[Dict[str, Any]] = raw.get("env")
        self.last: Dict[str, Any] = raw.get("last") or {}
        self.datasets: Dict[str, Any] = {
            k[len("dataset/"):]: dict(v.get("body") or {}, seq=v.get("seq"), step=v.get("step"))
            for k, v in self.last.items() if k.startswith("dataset/")}
        self.events_folded: int = pt_replay_events_folded(rp.ptr)
        self.snapshot_seq: int = pt_replay_snapshot_seq(rp.ptr)
        ck = raw.get("checkpoint")
        self.checkpoint: Optional[Checkpoint] = None
        if ck:
            body = ck.get("body") or {}
            info = dict(body)
            info.update(seq=ck.get("seq"), step=ck.get("step"), time=ck.get("time"),
                        run=raw.get("run"), stream=raw.get("stream"))
            self.checkpoint = Checkpoint(run._store, body["manifest"], info)

    def close(self) -> None:
        """Free the C replay now (also done when the State is collected)."""
        self._rp.close()

    def __repr__(self) -> str:
        return "<provtrace.State run=%r seq=%d step=%r lineage=%d params=%d metrics=%d>" % (
            self._run.name, self.seq, self.step, self.lineage, len(self.params),
            len(self.metrics))


FoldSpec = Union[Callable[[Any, Dict[str, Any]], Any], Tuple[Callable[[Any, Dict[str, Any]], Any], Any]]


def state_at(run: Any, at: PointSpec, step: Any, seq: Any, time: Any, latest: bool,
             lineage: Optional[int], stream: Optional[str],
             folds: Optional[Mapping[str, FoldSpec]], use_snapshots: bool) -> State:
    point = make_point(at, step=step, seq=seq, time=time, latest=latest)
    specs: List[Tuple[str, Callable, Any]] = []
    if folds is not None:
        if not isinstance(folds, Mapping):
            raise TypeError("folds must be a dict of kind -> fn(acc, event), not %s"
                            % type(folds).__name__)
        for kind, spec in folds.items():
            _lib.cname(kind, "fold kind")
            if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[0]):
                specs.append((kind, spec[0], spec[1]))
            elif callable(spec):
                specs.append((kind, spec, None))
            else:
                raise TypeError("fold %r: expected fn(acc, event) or (fn, initial), not %s"
                                % (kind, type(spec).__name__))
    rp = _Replay(run._store, run.name, point, lineage, stream, use_snapshots)
    try:
        results = {kind: rp.fold(kind, fn, init) for kind, fn, init in specs}
        raw = rp.state()
    except BaseException:
        rp.close()
        raise
    return State(run, rp, raw, results)


def _replay_of(run: Any, spec: PointSpec, lineage: Optional[int],
               stream: Optional[str]) -> Tuple[_Replay, bool]:
    """(replay, owned): a State's own replay, or a new one for a point spec."""
    if isinstance(spec, State):
        if spec._run.name != run.name:
            raise ValueError("state of run %r given to run %r" % (spec._run.name, run.name))
        return spec._rp, False
    return _Replay(run._store, run.name, make_point(spec), lineage, stream), True


def diff(run: Any, a: PointSpec, b: PointSpec, lineage: Optional[int],
         stream: Optional[str]) -> Dict[str, Any]:
    ra, own_a = _replay_of(run, a, lineage, stream)
    try:
        rb, own_b = _replay_of(run, b, lineage, stream)
        try:
            out = c_void_p()
            _lib.check(pt_replay_diff_json(ra.ptr, rb.ptr, byref(out)), "diff")
            try:
                return _decode(string_at(out).decode("utf-8"))
            finally:
                _lib.pt_free(out)
        finally:
            if own_b:
                rb.close()
    finally:
        if own_a:
            ra.close()


def lineages(run: Any, stream: Optional[str]) -> List[Dict[str, Any]]:
    rp = _Replay(run._store, run.name, Point(AT_LATEST, 0), None, stream)
    try:
        js = c_void_p()
        _lib.check(pt_replay_lineages_json(rp.ptr, byref(js)), "lineages")
        tree = _decode(string_at(js).decode("utf-8"))
    finally:
        rp.close()
    live = tree.get("live")
    out = []
    for entry in tree.get("lineages", []):
        e = dict(entry)
        e["live"] = e.get("lineage") == live
        out.append(e)
    return out


def walk(run: Any, start: PointSpec, stop: PointSpec, lineage: Optional[int],
         stream: Optional[str]) -> Iterator[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    stop_seq = None
    if stop is not None:
        rs, own = _replay_of(run, stop, lineage, stream)
        stop_seq = pt_replay_seq(rs.ptr)
        if own:
            rs.close()
    if start is None:
        # Before the first stepped event of the lineage's path (seq=0 would
        # be a position on the first lineage, not on the one asked for).
        start_point = Point(AT_STEP, _lib.INT64_MIN + 1)
    else:
        start_point = make_point(start)
    return _walk(run, start_point, stop_seq, lineage, stream)


def _walk(run: Any, start_point: Point, stop_seq: Optional[int], lineage: Optional[int],
          stream: Optional[str]) -> Iterator[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    rp = _Replay(run._store, run.name, start_point, lineage, stream, track_changes=True)
    try:
        view = c_void_p()
        js = c_void_p()
        ln = c_size_t()
        while True:
            rc = pt_replay_forward(rp.ptr, byref(view))
            if rc == PT_ITEROVER:
                return
            _lib.check(rc, "walk")
            _lib.check(_lib.pt_ev_json(view, byref(js), byref(ln)), "walk")
            ev = _decode(string_at(js, ln.value).decode("utf-8"))
            if stop_seq is not None and ev["seq"] > stop_seq:
                return
            _lib.check(pt_replay_changes_json(rp.ptr, byref(js)), "walk")
            changes = _decode(string_at(js).decode("utf-8"))
            yield ev, changes
    finally:
        rp.close()


def lineage_at_end(store: StoreHandle, run: str, stream: Optional[str]) -> int:
    """The lineage live at the end of ``run``/``stream`` (0 for an empty one)."""
    try:
        rp = _Replay(store, run, Point(AT_LATEST, 0), None, stream)
    except LookupError:
        return 0
    try:
        return pt_replay_lineage(rp.ptr)
    finally:
        rp.close()


def checkpoint_in_effect(store: StoreHandle, run: str, stream: Optional[str], step: Optional[int],
                         lineage: Optional[int]) -> Optional[Checkpoint]:
    """The checkpoint in effect at ``step`` (None: the end) on ``lineage``."""
    point = Point(AT_LATEST, 0) if step is None else Point(AT_STEP, step)
    try:
        rp = _Replay(store, run, point, lineage, stream)
    except LookupError:
        return None
    try:
        raw = rp.state()
    finally:
        rp.close()
    ck = raw.get("checkpoint")
    if not ck:
        return None
    info = dict(ck.get("body") or {})
    info.update(seq=ck.get("seq"), step=ck.get("step"), time=ck.get("time"), run=run,
                stream=raw.get("stream"))
    return Checkpoint(store, info["manifest"], info)



pt_run_state_json = _d("pt_run_state_json", c_int,
                       [c_void_p, c_char_p, POINTER(Point), POINTER(ReplayOptions), POINTER(c_void_p)])


def run_state(run: Any, at: PointSpec, step: Any, seq: Any, time: Any, latest: bool,
              lineage: Optional[int], stream: Optional[str], use_snapshots: bool) -> Dict[str, Any]:
    """pt_run_state_json as a dict (see Run.run_state)."""
    point = make_point(at, step=step, seq=seq, time=time, latest=latest)
    opts = ReplayOptions()
    _lib.check(pt_replay_options_init(byref(opts), REPLAY_OPTIONS_VERSION))
    stream_b = None if stream is None else _lib.cname(stream, "stream")
    opts.stream = stream_b
    if lineage is not None:
        lin = _int(lineage, "lineage")
        if not (-1 <= lin <= _lib.INT64_MAX):
            raise ValueError("lineage %d is out of range" % lin)
        opts.lineage = lin
    opts.use_snapshots = 1 if use_snapshots else 0
    out = c_void_p()
    _lib.check(pt_run_state_json(run._store.ptr, _lib.cname(run.name, "run"), byref(point), byref(opts),
                                 byref(out)), "state of run %r" % run.name)
    try:
        return _decode(string_at(out).decode("utf-8"))
    finally:
        _lib.pt_free(out)


pt_run_diff_json = _d("pt_run_diff_json", c_int,
                      [c_void_p, c_char_p, POINTER(Point), POINTER(Point), POINTER(ReplayOptions),
                       POINTER(c_void_p)])


def run_diff(run: Any, a: PointSpec, b: PointSpec, lineage: Optional[int]) -> Dict[str, Any]:
    """pt_run_diff_json as a dict: ``{"run", "streams": {name: diff or {"error"}}}``."""
    if isinstance(a, State) or isinstance(b, State):
        raise ValueError("run %r has several streams: a State belongs to one stream; give points "
                         "(step=..., seq=...) or stream=" % run.name)
    pa, pb = make_point(a), make_point(b)
    opts = ReplayOptions()
    _lib.check(pt_replay_options_init(byref(opts), REPLAY_OPTIONS_VERSION))
    if lineage is not None:
        opts.lineage = _int(lineage, "lineage")
    out = c_void_p()
    _lib.check(pt_run_diff_json(run._store.ptr, _lib.cname(run.name, "run"), byref(pa), byref(pb),
                                byref(opts), byref(out)), "diff of run %r" % run.name)
    try:
        return _decode(string_at(out).decode("utf-8"))
    finally:
        _lib.pt_free(out)
