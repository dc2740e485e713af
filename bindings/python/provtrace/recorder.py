"""Recording: :class:`Recorder`, the single writer of one stream of a run."""

from __future__ import annotations

import os
import threading
from array import array as _array
import weakref
from ctypes import ArgumentError, byref, c_char_p, c_double, c_void_p
from typing import Any, Dict, Mapping, Optional, Union

from . import _lib
from ._encode import (Builder, FieldError, encode, encode_items, key_bytes, key_cache,
                      raise_field_error, thread_builder)
from ._store import PathLike, StoreHandle, open_store
from .errors import ClosedError

__all__ = ["Recorder", "DURABILITY"]

#: Accepted values of ``durability`` and their pt_durability values.
DURABILITY: Dict[str, int] = {"none": 0, "write": 1, "fsync": 2}

_NO_STEP = _lib.NO_STEP
_I64MIN = _lib.INT64_MIN
_I64MAX = _lib.INT64_MAX
_reset = _lib.pt_event_reset
_set_step = _lib.pt_event_set_step
_begin_map = _lib.pt_event_begin_map
_end = _lib.pt_event_end
_strn_gil = _lib.pt_event_strn_gil
_append = _lib.pt_recorder_append
_last_error = _lib.last_error


_free_recorder = _lib.free_with(_lib.pt_recorder_free)
_key_get = key_cache.get

# keys tuple -> C array of the encoded names, shared by all recorders and
# threads (never modified once built; the array keeps its bytes alive).
_names_cache: Dict[tuple, Any] = {}
_NAMES_CACHE_MAX = 1024


def _names_array(keys: tuple) -> Any:
    arr = (c_char_p * len(keys))(*[key_bytes(k, "metric name") for k in keys])
    if len(_names_cache) >= _NAMES_CACHE_MAX:
        _names_cache.clear()
    _names_cache[keys] = arr
    return arr


def _closed(*_args: Any) -> int:
    raise ClosedError("the recorder is closed")


def _forked(*_args: Any) -> int:
    raise ClosedError("this recorder was opened by the parent process; a forked child must "
                      "open its own Recorder (on its own stream)")


# Recorders open in this process.  After fork() a child inherits them
# without the library's writer thread: it must neither append (it would wait
# forever for a writer that does not exist) nor close them at exit (which
# would write to the parent's stream).  The fork hook disowns them at no cost
# to the hot path.
_live: "weakref.WeakSet[Recorder]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for rec in list(_live):
        rec._disown()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _what(kind: str, name: Optional[str]) -> str:
    return "%s %r" % (kind, name) if name is not None else "%s event" % kind


def _step_arg(step: Any, what: str) -> int:
    if step is None:
        return _NO_STEP
    if isinstance(step, bool):
        raise TypeError("%s: step must be an int, not bool" % what)
    try:
        s = step.__index__()
    except AttributeError:
        raise TypeError("%s: step must be an int, not %s" % (what, type(step).__name__)) from None
    if not (_lib.INT64_MIN < s <= _lib.INT64_MAX):
        raise ValueError("%s: step %d is out of the int64 range" % (what, s))
    return s


class Recorder:
    """Records the events of one stream of one run (a context manager).

    ::

        with provtrace.Recorder(run="exp-42", store="./.provtrace") as rec:
            rec.params({"lr": 3e-4, "batch": 64, "layers": [512, 512]})
            for step in range(steps):
                ...
                rec.metric("loss", loss, step=step)
                if plateau:
                    rec.decision("lr", step=step, set={"lr": lr / 10},
                                 reason="plateau", actor="ReduceLROnPlateau")

    Args:
        run: the run name (1-128 characters of ``[A-Za-z0-9._-]``); None
            generates one (see :attr:`run`).
        store: the store directory.  None finds it like the CLI does
            (``$PROVTRACE_STORE``, then the nearest ``.provtrace/`` in the
            current directory or its parents).  A path that does not exist
            yet (or an empty directory) is created as a new store.
        stream: the stream name (one per writer, e.g. per rank); None is
            ``"main"``.
        durability: ``"none"`` (flush hands events to the writer thread),
            ``"write"`` (flush returns once they are written to the file:
            they survive a crash of the process) or ``"fsync"`` (every batch
            is synced to the disk).
        capture_code: whether the code provenance (git HEAD, diff) of the
            working directory is to be recorded at the start of the run.
            The flag is kept on the recorder (:attr:`capture_code`); the
            capture itself comes with the library's code-provenance support.

    Values accepted in events: None, bool, int (int64, or uint64 above),
    float, str, bytes / bytearray / memoryview, lists and tuples, dicts with
    str keys, and numpy scalars.  Anything else raises ``TypeError`` naming
    the field (e.g. ``field 'set.lr'``) before anything is written.

    Errors: :class:`~provtrace.LockedError` if another writer (in this or
    another process) holds the stream; every method raises
    :class:`~provtrace.ClosedError` after :meth:`close`.

    Thread safety: every method may be called from several threads at once
    (each thread encodes into its own builder; the C recorder serialises
    appends).  :meth:`close` must be the last call, as in the C API.

    The C recorder is closed (its events flushed and the segment sealed)
    when the object is closed, leaves a ``with`` block, is garbage
    collected or the interpreter exits.
    """

    def __init__(
        self,
        run: Optional[str] = None,
        store: Union[None, PathLike, StoreHandle] = None,
        stream: Optional[str] = None,
        durability: str = "write",
        capture_code: bool = True,
    ) -> None:
        try:
            dur = DURABILITY[durability]
        except (KeyError, TypeError):
            raise ValueError(
                "durability must be one of 'none', 'write', 'fsync', not %r" % (durability,)
            ) from None
        run_b = None if run is None else _lib.cname(run, "run")
        stream_b = None if stream is None else _lib.cname(stream, "stream")
        self._h: Optional[int] = None
        self._lock = threading.Lock()
        self._store = open_store(store, create=True)
        opts = _lib.RecorderOptions()
        _lib.check(_lib.pt_recorder_options_init(byref(opts), _lib.RECORDER_OPTIONS_VERSION))
        opts.durability = dur
        out = c_void_p()
        _lib.check(_lib.pt_recorder_open(byref(out), self._store.ptr, run_b, stream_b, byref(opts)))
        h = out.value
        self._h = h
        # The finalizer holds the store handle, so the store outlives the
        # C recorder even when both become garbage together.
        self._finalizer = weakref.finalize(self, _free_recorder, h, self._store)
        self._run = _lib.pt_recorder_run(h).decode("utf-8")
        self._stream = _lib.pt_recorder_stream(h).decode("utf-8")
        self._durability = durability
        self._capture_code = bool(capture_code)
        # Hot paths call these bound C functions directly; close() swaps
        # them for _closed so that a closed recorder raises without an
        # extra check on every call.
        self._fn_metric = _lib.pt_recorder_metric
        self._fn_metrics = _lib.pt_recorder_metrics
        _live.add(self)

    # ---- properties -------------------------------------------------------

    @property
    def run(self) -> str:
        """The run name (generated when none was given)."""
        return self._run

    @property
    def stream(self) -> str:
        """The stream name."""
        return self._stream

    @property
    def store_path(self) -> str:
        """The absolute path of the store directory."""
        return self._store.path

    @property
    def durability(self) -> str:
        """``"none"``, ``"write"`` or ``"fsync"``."""
        return self._durability

    @property
    def capture_code(self) -> bool:
        """The ``capture_code`` flag given at construction."""
        return self._capture_code

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._h is None

    @property
    def next_seq(self) -> int:
        """The sequence number the next event will get (starts at 1)."""
        return _lib.pt_recorder_next_seq(self._handle())

    @property
    def recovered_bytes(self) -> int:
        """Bytes of a torn tail cut when the stream was opened (0 if none)."""
        return _lib.pt_recorder_recovered_bytes(self._handle())

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise ClosedError(self._closed_msg)
        return h

    _closed_msg = "the recorder is closed"

    def _disown(self) -> None:
        """In a forked child: forget the parent's C recorder without touching it."""
        self._finalizer.detach()
        self._fn_metric = _forked
        self._fn_metrics = _forked
        self._closed_msg = ("this recorder was opened by the parent process; a forked child "
                            "must open its own Recorder (on its own stream)")
        self._h = None

    # ---- hot paths ----------------------------------------------------------

    def metric(self, name: str, value: float, step: Optional[int] = None) -> None:
        """Record metric ``name`` = ``value`` (a float) at ``step``.

        The fast path: one C call (``pt_recorder_metric``), no builder.
        """
        try:
            nb = _key_get(name)
            if nb is None:
                nb = key_bytes(name, "metric name")
            # ctypes wraps an out-of-range int silently: check the step here.
            if step is None:
                s = _NO_STEP
            elif _I64MIN <= step <= _I64MAX:
                s = step
            else:
                s = _step_arg(step, "metric %r" % (name,))
            rc = self._fn_metric(self._h, nb, value, s)
        except (ArgumentError, TypeError):
            rc = self._metric_slow(name, value, step)
        if rc:
            raise _last_error(rc, "metric %r" % (name,))

    def _metric_slow(self, name: Any, value: Any, step: Any) -> int:
        h = self._handle()
        name_b = _lib.cname(name, "metric name")
        what = "metric %r" % (name,)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
            raise TypeError("%s: value must be a real number, not %s" % (what, type(value).__name__))
        try:
            v = float(value)
        except (TypeError, ValueError) as e:
            raise TypeError("%s: value must be a real number (%s)" % (what, e)) from None
        return self._fn_metric(h, name_b, v, _step_arg(step, what))

    def metrics(self, values: Mapping[str, float], step: Optional[int] = None) -> None:
        """Record several metrics at one step: ``{name: value}``, one C call
        (``pt_recorder_metrics``).

        The C array of names is built once per distinct set of keys and
        cached (a training loop passes the same keys at every step); the
        values go through an ``array.array("d")``.
        """
        try:
            keys = tuple(values)
            names = _names_cache.get(keys)
            if names is None:
                names = _names_array(keys)
            vals = _array("d", values.values())
            if step is None:
                s = _NO_STEP
            elif _I64MIN <= step <= _I64MAX:
                s = step
            else:
                s = _step_arg(step, "metrics")
            rc = self._fn_metrics(self._h, names, vals.buffer_info()[0], len(keys), s)
        except (AttributeError, ArgumentError, TypeError):
            rc = self._metrics_slow(values, step)
        if rc:
            raise _last_error(rc, "metrics")

    def _metrics_slow(self, values: Mapping[str, float], step: Any) -> int:
        h = self._handle()
        if not isinstance(values, Mapping):
            raise TypeError("metrics() takes a mapping of name -> value, not %s" % type(values).__name__)
        names = []
        vals = []
        for k, v in values.items():
            names.append(_lib.cname(k, "metric name"))
            if isinstance(v, (str, bytes)) or not hasattr(v, "__float__"):
                raise TypeError("metric %r: value must be a real number, not %s" % (k, type(v).__name__))
            vals.append(float(v))
        n = len(names)
        return self._fn_metrics(
            h, (c_char_p * n)(*names), (c_double * n)(*vals), n, _step_arg(step, "metrics")
        )

    # ---- events built field by field ---------------------------------------
    #
    # Each event is encoded into the calling thread's builder and appended
    # with one pt_recorder_append.  These paths are written out rather than
    # factored into helpers: every Python call level costs as much as one C
    # call, and a decision is already ~10 C calls.

    def _fail(self, rc: int, what: str) -> None:
        raise _last_error(rc, what)

    def param(self, name: str, value: Any) -> int:
        """Record parameter ``name`` = ``value`` (any supported value).

        Returns the event's sequence number.
        """
        h = self._h
        if h is None:
            raise ClosedError(self._closed_msg)
        name_b = _key_get(name) if type(name) is str else None
        if name_b is None:
            name_b = key_bytes(name, "param name")
        b = thread_builder()
        try:
            ev = b.ptr
            rc = _reset(ev, b"param", name_b)
            if rc:
                self._fail(rc, "param %r" % (name,))
            try:
                encode(ev, b"value", value, "value")
            except FieldError as fe:
                raise_field_error(fe, "param %r" % (name,))
            rc = _append(h, ev, b.seq_ref)
            if rc:
                self._fail(rc, "param %r" % (name,))
            return b.seq.value
        finally:
            b.busy = False

    def params(self, values: Mapping[str, Any]) -> None:
        """Record several parameters, one ``param`` event each.

        Every value is encoded before the first event is appended, so a bad
        value leaves nothing recorded.
        """
        h = self._handle()
        if not isinstance(values, Mapping):
            raise TypeError("params() takes a mapping of name -> value, not %s" % type(values).__name__)
        built = []
        for k, v in values.items():
            name_b = _lib.cname(k, "param name")
            what = "param %r" % (k,)
            b = Builder()
            rc = _reset(b.ptr, b"param", name_b)
            if rc:
                self._fail(rc, what)
            try:
                encode(b.ptr, b"value", v, "value")
            except FieldError as fe:
                raise_field_error(fe, what)
            built.append((b, what))
        for b, what in built:
            rc = _append(h, b.ptr, b.seq_ref)
            if rc:
                self._fail(rc, what)

    def decision(
        self,
        name: str,
        *,
        step: Optional[int] = None,
        set: Optional[Mapping[str, Any]] = None,
        reason: Optional[str] = None,
        actor: Optional[str] = None,
        **fields: Any,
    ) -> int:
        """Record a decision: what changed, why and who decided.

        Args:
            name: what the decision is about (e.g. ``"lr"``, ``"early_stop"``).
            step: the training step it takes effect at.
            set: key -> new value of everything the decision changes.
            reason: why (e.g. ``"plateau"``).
            actor: who or what decided (a scheduler, a rule, a person).
            **fields: anything else worth keeping (``considered=[...]``,
                ``metric=...``).

        Returns the event's sequence number.
        """
        h = self._h
        if h is None:
            raise ClosedError(self._closed_msg)
        name_b = _key_get(name) if type(name) is str else None
        if name_b is None:
            name_b = key_bytes(name, "decision name")
        b = thread_builder()
        try:
            ev = b.ptr
            rc = _reset(ev, b"decision", name_b)
            if not rc and step is not None:
                rc = _set_step(ev, step if type(step) is int and _I64MIN <= step <= _I64MAX
                              else _step_arg(step, "decision"))
            if rc:
                self._fail(rc, "decision %r" % (name,))
            try:
                if set is not None:
                    if type(set) is not dict:
                        if not isinstance(set, Mapping):
                            raise FieldError(TypeError(
                                "must be a dict, not %s" % type(set).__name__), "set")
                        set = dict(set)
                    rc = _begin_map(ev, b"set")
                    if rc:
                        raise FieldError(_lib.last_error(rc), "set")
                    try:
                        encode_items(ev, set)
                    except FieldError as fe:
                        fe.parts.append("set")
                        raise
                    rc = _end(ev)
                    if rc:
                        raise FieldError(_lib.last_error(rc), "set")
                # reason and actor are short strings: stored inline.
                if reason is not None:
                    if type(reason) is str and len(reason) <= 16384:
                        try:
                            sb = reason.encode()
                        except UnicodeEncodeError:
                            encode(ev, b"reason", reason, "reason")  # raises with the path
                        rc = _strn_gil(ev, b"reason", sb, len(sb))
                        if rc:
                            raise FieldError(_lib.last_error(rc), "reason")
                    elif isinstance(reason, str):
                        encode(ev, b"reason", str.__str__(reason), "reason")
                    else:
                        raise FieldError(TypeError(
                            "must be a str, not %s" % type(reason).__name__), "reason")
                if actor is not None:
                    if type(actor) is str and len(actor) <= 16384:
                        try:
                            sb = actor.encode()
                        except UnicodeEncodeError:
                            encode(ev, b"actor", actor, "actor")  # raises with the path
                        rc = _strn_gil(ev, b"actor", sb, len(sb))
                        if rc:
                            raise FieldError(_lib.last_error(rc), "actor")
                    elif isinstance(actor, str):
                        encode(ev, b"actor", str.__str__(actor), "actor")
                    else:
                        raise FieldError(TypeError(
                            "must be a str, not %s" % type(actor).__name__), "actor")
                if fields:
                    encode_items(ev, fields)
            except FieldError as fe:
                raise_field_error(fe, "decision %r" % (name,))
            rc = _append(h, ev, b.seq_ref)
            if rc:
                self._fail(rc, "decision %r" % (name,))
            return b.seq.value
        finally:
            b.busy = False

    def event(self, kind: str, name: Optional[str] = None, step: Optional[int] = None,
              **fields: Any) -> int:
        """Record an event of any ``kind`` (a built-in one such as ``"note"``
        or a user-defined ``[A-Za-z0-9_.:-]{1,64}``) with ``fields`` as its body.

        Returns the event's sequence number.
        """
        h = self._h
        if h is None:
            raise ClosedError(self._closed_msg)
        kind_b = _lib.cname(kind, "kind")
        name_b = None if name is None else _lib.cname(name, "event name")
        b = thread_builder()
        try:
            ev = b.ptr
            rc = _reset(ev, kind_b, name_b)
            if not rc and step is not None:
                rc = _set_step(ev, step if type(step) is int and _I64MIN <= step <= _I64MAX
                              else _step_arg(step, kind))
            if rc:
                self._fail(rc, _what(kind, name))
            try:
                if fields:
                    encode_items(ev, fields)
            except FieldError as fe:
                raise_field_error(fe, _what(kind, name))
            rc = _append(h, ev, b.seq_ref)
            if rc:
                self._fail(rc, _what(kind, name))
            return b.seq.value
        finally:
            b.busy = False

    # ---- life cycle ----------------------------------------------------------

    def flush(self) -> None:
        """Wait until every event recorded so far is written with the
        recorder's durability (``"none"``: handed to the writer thread)."""
        _lib.check(_lib.pt_recorder_flush(self._handle()), "flush")

    def seal(self) -> None:
        """Flush and seal the open segment now (it becomes immutable and
        content-addressed).  No-op if it is empty."""
        _lib.check(_lib.pt_recorder_seal(self._handle()), "seal")

    def close(self) -> None:
        """Flush, seal the open segment, release the stream's lock.

        Idempotent.  Raises the first error met (e.g. a failed background
        write); the recorder is closed anyway.
        """
        with self._lock:
            h = self._h
            if h is None:
                return
            self._fn_metric = _closed
            self._fn_metrics = _closed
            self._h = None
            self._finalizer.detach()
            _live.discard(self)
        _lib.check(_lib.pt_recorder_close(h), "close")

    def __enter__(self) -> "Recorder":
        self._handle()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception as close_exc:  # keep the body's exception primary
            if hasattr(exc, "add_note"):
                exc.add_note("provtrace: closing the recorder also failed: %s" % close_exc)

    def __repr__(self) -> str:
        state = "closed" if self._h is None else "open"
        return "<provtrace.Recorder run=%r stream=%r store=%r %s>" % (
            self._run, self._stream, self._store.path, state)
