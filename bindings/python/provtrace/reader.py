"""Reading: :func:`runs`, :func:`open_run` / :class:`Run`, :func:`verify`."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import json.scanner
import time
import weakref
from ctypes import POINTER, byref, c_char_p, c_int64, c_size_t, c_void_p, string_at
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Union

from . import _lib
from ._store import PathLike, StoreHandle, open_store
from .errors import PT_ITEROVER

__all__ = ["runs", "runs_info", "open_run", "Run", "EventIterator", "verify", "VerifyReport"]

if TYPE_CHECKING:
    from .replay import State

Store = Union[None, PathLike, StoreHandle]
TimeLike = Union[int, str, _dt.datetime]


def _json_hook(d: Dict[str, Any]) -> Any:
    # The `log --json` escapes for values JSON cannot hold.
    if len(d) == 1:
        if "$bytes" in d:
            v = d["$bytes"]
            if isinstance(v, str):
                return base64.b64decode(v)
        elif "$float" in d:
            v = d["$float"]
            if v in ("NaN", "Infinity", "-Infinity"):
                return float(v)
    return d


_decoder = json.JSONDecoder(object_hook=_json_hook)
# The C scanners of the json module, called directly: the library renders
# exactly one object without surrounding whitespace, so decode()'s checks
# (two regular expression matches per event) are not needed.
_scan_plain = json.scanner.make_scanner(json.JSONDecoder())
_scan_escaped = json.scanner.make_scanner(_decoder)
_iter_next = _lib.pt_run_iter_next
_ev_json = _lib.pt_ev_json


def decode_json_event(data: Union[bytes, str]) -> Dict[str, Any]:
    """Decode one ``log --json`` object, turning ``{"$bytes": ...}`` into
    bytes and ``{"$float": "NaN"}`` into float."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return _decoder.decode(data)


def runs(store: Store = None, where: Optional[str] = None, sort: Any = None,
         limit: Optional[int] = None) -> List[str]:
    """The names of the runs in ``store`` (None: found like the CLI does),
    sorted by name; with ``where``/``sort``/``limit``, those matching the
    expression, in that order, at most ``limit`` (``provtrace runs --where``,
    docs/CLI.md "Queries"; :func:`provtrace.run_summaries` gives their
    summaries)."""
    if where is not None or sort is not None or limit is not None:
        from . import _runs

        return [r["run"] for r in _runs.run_summaries(store, where, sort, limit)]
    st = open_store(store)
    names = c_void_p()
    count = c_size_t()
    _lib.check(_lib.pt_store_runs(st.ptr, byref(names), byref(count)))
    return _lib.strv(names, count.value)


def runs_info(store: Store = None) -> List[Dict[str, Any]]:
    """Every run with its streams and their figures, as the library renders
    them for ``provtrace runs --json`` (``pt_store_runs_json``): dicts with
    ``run``, ``events``, ``bytes`` and ``streams`` (each ``stream``,
    ``events``, ``seq_first``/``seq_last``, ``step_min``/``step_max``,
    ``time_first``/``time_last`` (ISO-8601), ``bytes``, ``raw_bytes``,
    ``batches``, ``sealed_segments``, ``writer_active``; or ``error`` for a
    stream that cannot be read)."""
    st = open_store(store)
    out = c_void_p()
    n = c_size_t()
    _lib.check(_lib.pt_store_runs_json(st.ptr, byref(out), byref(n), None), "runs")
    try:
        return json.loads(string_at(out, n.value).decode("utf-8"))
    finally:
        _lib.pt_free(out)


def open_run(run: str, store: Store = None) -> "Run":
    """Open run ``run`` of ``store`` for reading.

    Raises :class:`~provtrace.NotFoundError` if the store or the run does not
    exist, :class:`~provtrace.VersionError` if the store's format is newer
    than the library.
    """
    run_b = _lib.cname(run, "run")
    _lib.check(_lib.pt_name_check(b"run", run_b))
    st = open_store(store)
    r = Run(run, st)
    r._streams(run_b)  # raises NotFoundError for a run that does not exist
    return r


def _time_ns(v: TimeLike, what: str) -> int:
    if isinstance(v, bool):
        raise TypeError("%s must be ns since the epoch, an ISO-8601 str or a datetime" % what)
    if isinstance(v, int):
        return v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            raise ValueError("%s: a naive datetime is ambiguous; give it a tzinfo" % what)
        delta = v - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(v, str):
        out = c_int64()
        _lib.check(_lib.pt_time_parse(byref(out), v.encode("utf-8")), what)
        return out.value
    raise TypeError("%s must be ns since the epoch, an ISO-8601 str or a datetime, not %s"
                    % (what, type(v).__name__))


def _clamp(v: int, lo: int, hi: int) -> int:
    # ctypes would wrap an out-of-range value silently; a bound beyond the
    # representable range means "no bound" on that side.
    return lo if v < lo else hi if v > hi else v


def _int_arg(v: Any, what: str) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError("%s must be an int, not %s" % (what, type(v).__name__))
    return v.__index__()


class Run:
    """A run of a store, opened for reading (see :func:`open_run`).

    The run keeps its store open for as long as it (or an iterator over it)
    is alive.
    """

    def __init__(self, name: str, store: StoreHandle) -> None:
        self._name = name
        self._store = store

    @property
    def name(self) -> str:
        """The run name."""
        return self._name

    @property
    def store_path(self) -> str:
        """The absolute path of the store directory."""
        return self._store.path

    def _streams(self, run_b: bytes) -> List[str]:
        names = c_void_p()
        count = c_size_t()
        _lib.check(_lib.pt_store_streams(self._store.ptr, run_b, byref(names), byref(count)))
        return _lib.strv(names, count.value)

    @property
    def streams(self) -> List[str]:
        """The names of the run's streams, sorted (read now: a live run may
        gain streams)."""
        return self._streams(self._name.encode("utf-8"))

    def summary(self) -> Dict[str, Any]:
        """The run's summary as queries see it (C ``pt_run_summary_json``):
        ``status`` (running, finished, failed, crashed, empty),
        ``started``/``ended``, ``duration_s``, ``params``, ``metrics``
        (``{name: {last, min, max, step, n}}`` on the live path), ``tags``,
        ``note``, ``code``, ``error`` (a failed run's exception) and
        ``decisions_taken``."""
        from . import _runs

        return _runs.summary(self._store, self._name)

    def stream_info(self, stream: str = "main") -> Dict[str, Any]:
        """A summary of ``stream``: ``events``, ``seq_first``/``seq_last``,
        ``step_min``/``step_max`` (None without steps), ``time_min``/
        ``time_max`` (ns), ``bytes``, ``raw_bytes``, ``batches``,
        ``sealed_segments``, ``writer_active`` (bool), ``torn_bytes``."""
        info = _lib.StreamInfo()
        _lib.check(_lib.pt_stream_stat(self._store.ptr, self._name.encode("utf-8"),
                                       _lib.cname(stream, "stream"), byref(info)))
        d = {name: getattr(info, name) for name, _ in _lib.StreamInfo._fields_}
        for k in ("step_min", "step_max"):
            if d[k] == _lib.NO_STEP:
                d[k] = None
        d["writer_active"] = bool(d["writer_active"])
        return d

    def events(
        self,
        kind: Optional[str] = None,
        stream: Optional[str] = None,
        start: Optional[int] = None,
        stop: Optional[int] = None,
        *,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
        seq_min: Optional[int] = None,
        seq_max: Optional[int] = None,
        time_min: Optional[TimeLike] = None,
        time_max: Optional[TimeLike] = None,
        follow: bool = False,
        latest: bool = False,
        poll_interval: float = 0.05,
        idle_timeout: Optional[float] = None,
        live: bool = False,
    ) -> "EventIterator":
        """Iterate the events of ``stream`` lazily; by default (``stream``
        None) of every stream of the run, merged by time: the smallest time
        first, ties by stream name then seq, each stream in its own order
        (``ev["stream"]`` names it).  A run with one stream reads as that
        stream.

        Each event is a dict shaped like a ``provtrace log --json`` object:
        ``run``, ``stream``, ``seq``, ``time`` (ISO-8601 str), ``step`` (absent
        if none), ``kind``, ``name`` (absent if none), the body's fields and
        ``lineage`` (the lineage the event belongs to: 0 until the stream is
        resumed); bytes values come back as ``bytes``, non-finite floats as
        ``float``.

        Filters (all optional):
            kind: only events of this kind.
            start, stop: steps as in ``range(start, stop)``: ``start <= step
                < stop``.  Events without a step are skipped when a step
                bound is given.
            step_min, step_max: inclusive step bounds (instead of start/stop).
            seq_min, seq_max: inclusive sequence number bounds.
            time_min, time_max: inclusive time bounds: ns since the epoch,
                an ISO-8601 str or an aware datetime.
            follow: at the end, wait for new events (like ``log -f``) instead
                of stopping; poll every ``poll_interval`` seconds and stop
                after ``idle_timeout`` seconds without one (None: never).
            latest: only events appended after the iterator is opened.
            live: only the live path (like ``log --live``): a resumed
                lineage replaces the abandoned tail of its parent, so a
                metric has one value per step.  Taken at open: it cannot be
                combined with ``follow`` or ``latest``.  Default: every
                event (the audit view).

        Memory is bounded whatever the length of the stream.  Damage raises
        :class:`~provtrace.CorruptError` when the iteration reaches it.
        """
        opts = _lib.IterOptions()
        _lib.check(_lib.pt_iter_options_init(byref(opts), _lib.ITER_OPTIONS_VERSION))
        kind_b = None if kind is None else _lib.cname(kind, "kind")
        opts.kind = kind_b
        if start is not None and step_min is not None:
            raise ValueError("give start or step_min, not both")
        if stop is not None and step_max is not None:
            raise ValueError("give stop or step_max, not both")
        if start is not None:
            step_min = _int_arg(start, "start")
        if stop is not None:
            s = _int_arg(stop, "stop")
            if s <= _lib.INT64_MIN + 1:
                raise ValueError("stop %d leaves no step" % s)
            step_max = s - 1
        if step_min is not None:
            opts.step_min = _clamp(_int_arg(step_min, "step_min"), _lib.INT64_MIN + 1, _lib.INT64_MAX)
        if step_max is not None:
            opts.step_max = _clamp(_int_arg(step_max, "step_max"), _lib.INT64_MIN + 1, _lib.INT64_MAX)
        if seq_min is not None:
            opts.seq_min = _clamp(_int_arg(seq_min, "seq_min"), 0, _lib.UINT64_MAX)
        if seq_max is not None:
            opts.seq_max = _clamp(_int_arg(seq_max, "seq_max"), 0, _lib.UINT64_MAX)
        if time_min is not None:
            opts.time_min = _clamp(_time_ns(time_min, "time_min"), _lib.INT64_MIN, _lib.INT64_MAX)
        if time_max is not None:
            opts.time_max = _clamp(_time_ns(time_max, "time_max"), _lib.INT64_MIN, _lib.INT64_MAX)
        opts.start_at_end = 1 if latest else 0
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        if live and (follow or latest):
            raise ValueError("live=True reads the live path as it is at open: not with follow or latest")
        stream_b = None if stream is None else _lib.cname(stream, "stream")
        return EventIterator(self, stream_b, opts, kind_b, follow, poll_interval, idle_timeout, live)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """All events of the run (every stream, merged by time)."""
        return self.events()

    def verify(self, stream: Optional[str] = None) -> "VerifyReport":
        """Verify this run (see :func:`verify`)."""
        return verify(self._store, run=self._name, stream=stream)

    # ---- time travel (replay.h) ---------------------------------------------

    def state_at(
        self,
        at: Any = None,
        *,
        step: Optional[int] = None,
        seq: Optional[int] = None,
        time: Optional[TimeLike] = None,
        latest: bool = False,
        lineage: Optional[int] = None,
        stream: Optional[str] = None,
        folds: Optional[Mapping[str, Any]] = None,
        use_snapshots: bool = True,
    ) -> "State":
        """The state of the run at one point (at most one of):

        - ``step=N``: after the last event of step <= N on the lineage
          (the live one, or ``lineage=``), plus the step-less events that
          follow it before the next stepped event;
        - ``seq=N``: after event N (0: before the first);
        - ``time=T``: after the last event whose running maximum time is
          <= T (ns since the epoch, an ISO-8601 str with a zone or an aware
          datetime);
        - ``latest=True`` or nothing: after the last event;
        - ``at``: the same as a string (``"step=N"``, ``"seq=N"``,
          ``"time=..."``, ``"latest"``), an int (a step), a dict with one of
          ``step``/``seq``/``time``, or a :class:`State`.

        ``folds``: kind -> ``fn(acc, event) -> acc`` (or ``(fn, initial)``;
        the initial ``acc`` is None otherwise), called with every event of
        that kind up to the point (events are ``events()`` dicts); the
        results are in ``State.folds``.  An exception raised by ``fn`` stops
        the fold and is raised here.

        ``use_snapshots=False`` folds from the first event (same result,
        slower).  :class:`~provtrace.NotFoundError` if the run, stream or
        lineage does not exist.
        """
        from . import replay

        return replay.state_at(self, at, step, seq, time, latest, lineage, stream, folds,
                               use_snapshots)

    def metrics(self, names: Optional[Any] = None, live: bool = True, *,
                stream: Optional[str] = None, points: Optional[int] = None) -> Dict[Any, Any]:
        """Metric series as numpy arrays: ``{name: (steps, values)}`` (int64
        and float64 arrays, in the order read), from every ``metric`` event
        with a step and a numeric ``value``.

        ``names``: a name or a list of names (None: all).  ``live`` (the
        default): the live path, one value per step after a resume; False:
        every event.  ``stream``: one stream; by default every stream of the
        run, and when the run has several the keys are ``(stream, name)``
        tuples.  ``points``: at most that many points per series (min/max
        buckets, like ``provtrace metrics --points``).  Read in C
        (``pt_metrics_read``): no Python per event."""
        import numpy as np
        if isinstance(names, str):
            names = [names]
        name_list = [] if names is None else [_lib.cname(n, "metric name") for n in names]
        arr = (c_char_p * max(1, len(name_list)))(*name_list)
        if points is not None:
            points = _int_arg(points, "points")
            if points < 1:
                raise ValueError("points must be >= 1")
        stream_b = None if stream is None else _lib.cname(stream, "stream")
        out = POINTER(_lib.MetricSeries)()
        n = c_size_t()
        _lib.check(_lib.pt_metrics_read(self._store.ptr, self._name.encode("utf-8"), stream_b, arr,
                                        len(name_list), 1 if live else 0, points or 0, byref(out), byref(n)),
                   "metrics of %r" % self._name)
        try:
            series = []
            for i in range(n.value):
                s = out[i]
                k = s.n
                steps = np.ctypeslib.as_array(s.steps, shape=(k,)).copy() if k else np.zeros(0, np.int64)
                values = np.ctypeslib.as_array(s.values, shape=(k,)).copy() if k else np.zeros(0, np.float64)
                series.append((s.stream.decode("utf-8"), s.name.decode("utf-8", "replace"), steps, values))
        finally:
            _lib.pt_metrics_free(out, n.value)
        several = len({st for st, _, _, _ in series}) > 1 or (
            stream is None and len(self.streams) > 1)
        return {((st, nm) if several else nm): (steps, values) for st, nm, steps, values in series}

    def metrics_frame(self, names: Optional[Any] = None, live: bool = True, *,
                      stream: Optional[str] = None, points: Optional[int] = None) -> Any:
        """:meth:`metrics` as a pandas DataFrame with columns ``stream``,
        ``name``, ``step``, ``value`` (one row per point).  Needs pandas
        (Debian: python3-pandas); ImportError naming it otherwise."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise ImportError("Run.metrics_frame needs pandas (Debian: apt-get install python3-pandas)") from e
        import numpy as np
        if isinstance(names, str):
            names = [names]
        cols: Dict[str, List[Any]] = {"stream": [], "name": [], "step": [], "value": []}
        for key, (steps, values) in self.metrics(names, live, stream=stream, points=points).items():
            st, nm = key if isinstance(key, tuple) else (stream or self.streams[0], key)
            cols["stream"].append(np.full(len(steps), st, dtype=object))
            cols["name"].append(np.full(len(steps), nm, dtype=object))
            cols["step"].append(steps)
            cols["value"].append(values)
        if not cols["step"]:
            return pd.DataFrame({"stream": pd.Series([], dtype=object), "name": pd.Series([], dtype=object),
                                 "step": pd.Series([], dtype="int64"), "value": pd.Series([], dtype="float64")})
        return pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})

    def run_state(self, at: Any = None, *, step: Optional[int] = None, seq: Optional[int] = None,
                  time: Optional[TimeLike] = None, latest: bool = False, lineage: Optional[int] = None,
                  stream: Optional[str] = None, use_snapshots: bool = True) -> Dict[str, Any]:
        """The state of the whole run at one point (the points of
        :meth:`state_at`): ``{"run", "streams": {name: state dict},
        "summary": {"streams", "params" (equal in every stream, once),
        "params_by_stream" (the others: name -> {stream: value}), "metrics"
        (name -> {"streams": {stream: latest}, "n", "min", "mean",
        "max"})}}`` - what ``provtrace replay --json`` prints for a run with
        several streams (C ``pt_run_state_json``).  ``stream=`` narrows to
        one.  A point one stream does not reach raises NotFoundError."""
        from .replay import run_state
        return run_state(self, at, step, seq, time, latest, lineage, stream, use_snapshots)

    def diff(self, a: Any, b: Any, *, lineage: Optional[int] = None,
             stream: Optional[str] = None) -> Dict[str, Any]:
        """What changed from point ``a`` to point ``b`` (each a :class:`State`
        or a point as ``state_at``'s ``at``): ``params`` (name ->
        ``{"old", "new"}``), ``metrics`` (name -> ``{"old", "new",
        "delta"}``), ``decisions`` taken in between (``decisions_between``
        counts them), ``checkpoint`` (``{"old", "new", "changed",
        "removed"}`` tensors) and the two positions ``from``/``to``.

        A run with several streams and no ``stream=``: every stream's diff,
        ``{"run", "streams": {name: diff}}`` (C ``pt_run_diff_json``; a
        stream the point does not reach has ``{"error": message}``)."""
        from . import replay

        if stream is None:
            # a State belongs to one stream: the other point is taken in it too
            for x in (a, b):
                if isinstance(x, replay.State) and x._rp._stream_b is not None:
                    stream = x._rp._stream_b.decode("utf-8")
                    break
        if stream is None and not isinstance(a, replay.State) and not isinstance(b, replay.State) \
                and len(self.streams) > 1:
            return replay.run_diff(self, a, b, lineage)
        return replay.diff(self, a, b, lineage, stream)

    def lineages(self, stream: Optional[str] = None) -> List[Dict[str, Any]]:
        """The lineages of the stream: ``lineage``, ``parent`` (None for
        the first), ``from_step``, ``manifest`` (the checkpoint resumed
        from), ``start_seq``/``end_seq`` and ``live`` (True for the one
        ``step=`` points follow by default)."""
        from . import replay

        return replay.lineages(self, stream)

    def report(self, path: Any = None, *, compare: Any = (), x: str = "step", log: bool = False,
               metrics: Any = None, verify: bool = True, width: int = 960,
               title: Optional[str] = None) -> str:
        """Write the HTML report of this run to the file ``path`` (the page
        ``provtrace report`` writes: a chart per metric with decisions,
        checkpoints and resumes on it, the decision timeline, params, code,
        artifacts, status and verification; one self-contained file that
        loads nothing).  ``compare``: more runs (names or :class:`Run`) drawn
        beside this one.  ``path`` None: return the page as a str instead.
        Otherwise returns ``path``.  Options as :func:`provtrace.report`."""
        from . import _report

        others = [compare] if isinstance(compare, (str, Run)) else list(compare)
        runs = [self.name] + [o.name if isinstance(o, Run) else o for o in others]
        opts = dict(x=x, log=log, metrics=metrics, verify=verify, width=width, title=title)
        if path is None:
            return _report.report_html(runs, self._store, **opts)
        return _report.report(runs, path, self._store, **opts)

    def walk(self, start: Any = None, stop: Any = None, *, lineage: Optional[int] = None,
             stream: Optional[str] = None) -> Iterator[Any]:
        """Step through the events after point ``start`` (default: the
        beginning) up to point ``stop`` (inclusive; default: the end) on the
        lineage's path, like a debugger: yields ``(event, changes)`` where
        ``event`` is an ``events()`` dict and ``changes`` the list of what it
        changed in the state (e.g. ``{"param": "lr", "old": 0.01, "new":
        0.001}``)."""
        from . import replay

        return replay.walk(self, start, stop, lineage, stream)

    def checkpoints(self) -> List[Any]:
        """Every checkpoint of the run (all streams), in stream and sequence
        order, as :class:`Checkpoint` objects (``.step``, ``.manifest``,
        ``.info``, ``.load()``, ``.export(dir)``)."""
        from .checkpoint import list_checkpoints

        return list_checkpoints(self._store, self._name)

    def prove(self, seq: int, stream: Optional[str] = None) -> Dict[str, Any]:
        """A proof bundle (dict) that event ``seq`` of ``stream`` (default
        ``main``) is in the stream's log as its signed checkpoint fixes it;
        anyone checks it offline with :func:`provtrace.check_proof` and the
        signer's public key (docs/PROOFS.md).  NotFoundError when no signed
        checkpoint covers ``seq``."""
        from ._proof import prove

        return prove(self._store, self._name, seq, stream)

    def prove_consistency(self, old_checkpoint: str, new_checkpoint: Optional[str] = None) -> Dict[str, Any]:
        """A consistency bundle: the log of ``new_checkpoint`` (note text;
        default the stream's current signed checkpoint) extends the one of
        ``old_checkpoint`` (the stream is the one the notes name)."""
        from ._proof import prove_consistency

        return prove_consistency(self._store, old_checkpoint, new_checkpoint)

    def __repr__(self) -> str:
        return "<provtrace.Run %r store=%r>" % (self._name, self._store.path)


_free_iter = _lib.free_with(_lib.pt_run_iter_free)


class EventIterator:
    """A lazy iterator over the events of a stream (see :meth:`Run.events`).

    The C iterator is freed when the iteration ends, on :meth:`close`, when
    leaving a ``with`` block or when the object is garbage collected.  Not
    thread-safe: use one iterator per thread.
    """

    def __init__(self, run: Run, stream_b: Optional[bytes], opts: Any, kind_b: Optional[bytes],
                 follow: bool, poll_interval: float, idle_timeout: Optional[float],
                 live: bool = False) -> None:
        self._run = run  # keeps the store alive
        self._opts = opts
        self._kind_b = kind_b  # opts.kind points into it
        self._follow = follow
        self._poll = poll_interval
        self._idle = idle_timeout
        out = c_void_p()
        # stream None: every stream of the run, merged by time (pt_run_iter)
        names = None if stream_b is None else (c_char_p * 1)(stream_b)
        _lib.check(_lib.pt_run_iter_open(byref(out), run._store.ptr, run.name.encode("utf-8"),
                                         names, 0 if names is None else 1, byref(opts),
                                         1 if live else 0))
        self._it: Optional[int] = out.value
        self._finalizer = weakref.finalize(self, _free_iter, out.value, run._store)
        self._view = c_void_p()
        self._json = c_void_p()
        self._len = c_size_t()
        self._lineage = c_int64()
        self._lineage_ref = byref(self._lineage)
        # byref() objects made once: __next__ runs per event.
        self._view_ref = byref(self._view)
        self._json_ref = byref(self._json)
        self._len_ref = byref(self._len)

    def __iter__(self) -> "EventIterator":
        return self

    def __next__(self) -> Dict[str, Any]:
        it = self._it
        if it is None:
            raise StopIteration
        view = self._view
        deadline = None
        while True:
            rc = _iter_next(it, self._view_ref, self._lineage_ref)
            if rc == 0:
                break
            if rc != PT_ITEROVER:
                err = _lib.last_error(rc)
                self.close()
                raise err
            if not self._follow:
                self.close()
                raise StopIteration
            now = time.monotonic()
            if self._idle is not None:
                if deadline is None:
                    deadline = now + self._idle
                elif now >= deadline:
                    self.close()
                    raise StopIteration
            time.sleep(self._poll)
        rc = _ev_json(view, self._json_ref, self._len_ref)
        if rc:
            err = _lib.last_error(rc)
            self.close()
            raise err
        text = string_at(self._json, self._len.value).decode("utf-8")
        # The object hook costs a Python call per JSON object: use it only
        # when an escape ({"$bytes": ...}, {"$float": ...}) may be present.
        ev = (_scan_escaped if '"$' in text else _scan_plain)(text, 0)[0]
        # the lineage, as `log --json` adds it (an old event whose body has
        # its own "lineage" key keeps it)
        if "lineage" not in ev:
            ev["lineage"] = self._lineage.value
        return ev

    def close(self) -> None:
        """Free the C iterator (idempotent)."""
        self._it = None
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._it is None

    def __enter__(self) -> "EventIterator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class VerifyReport(list):
    """The problems :func:`verify` found (a list of dicts), with ``.stats``
    (counts of what was checked), ``.ok`` (no error-severity problem) and
    ``.json`` (the whole result as the library rendered it: the document
    ``provtrace verify --json`` prints)."""

    stats: Dict[str, int]
    json: Dict[str, Any]

    @property
    def ok(self) -> bool:
        return not any(p["severity"] == "error" for p in self)


def verify(store: Store = None, run: Optional[str] = None,
           stream: Optional[str] = None) -> VerifyReport:
    """Check every stored byte of ``store`` (or one ``run`` / ``stream``).

    Returns the problems found, each a dict shaped as in
    ``provtrace verify --json`` (the library renders both): ``severity``
    (``"error"`` or ``"warning"``), ``code`` (the error's name, e.g.
    ``"PT_ECORRUPT"``), ``rc`` (its number, e.g. -6), ``object`` (a path
    relative to the store), ``offset`` and ``message``; ``error`` repeats
    ``code`` for callers of older versions (where ``code`` was the number).
    Problems are returned, not raised; an exception means verification
    itself could not run (no such store or run, an I/O error).
    """
    st = open_store(store)
    run_b = None if run is None else _lib.cname(run, "run")
    stream_b = None if stream is None else _lib.cname(stream, "stream")
    stats = _lib.VerifyStats()
    out = c_void_p()
    n = c_size_t()
    rc = _lib.pt_verify_report(st.ptr, run_b, stream_b, _NO_PROBLEM_CB, None, byref(stats),
                               byref(out), byref(n))
    if rc:
        raise _lib.last_error(rc, "verify")
    try:
        doc = json.loads(string_at(out, n.value).decode("utf-8"))
    finally:
        _lib.pt_free(out)
    report = VerifyReport()
    for p in doc["problems"]:
        report.append(dict(p, error=p["code"]))
    report.stats = {name: getattr(stats, name) for name, _ in _lib.VerifyStats._fields_}
    report.json = doc
    return report


_NO_PROBLEM_CB = _lib.PROBLEM_CB()

