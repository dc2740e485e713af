"""Durable consumers (``provtrace/consumer.h``, docs/CONSUMERS.md).

Two forms over the same C consumer:

* :func:`consume` - the library runs the loop: each batch (a list of event
  dicts, the ``log --json`` shape with ``run``, ``stream`` and ``seq``) goes
  to ``handler``; returning normally means done, raising (or returning
  ``False``) means failed: the batch is retried with exponential backoff,
  split in halves down to the event that fails, which is recorded in the
  failure stream (default ``consumer-failures/NAME``), and the consumer moves
  on.  The position is committed in the store after each batch handled.

* :func:`consumer` - an iterator of batches: a batch is committed when the
  next one is asked for (or by :meth:`Consumer.commit`), so a batch whose
  loop body raised or was left with ``break`` is handed again next time.
  No retries or failure stream: the loop body decides.

Both deliver at least once: a process killed after handling a batch and
before its commit sees that batch again on restart.
"""

from __future__ import annotations

import ctypes
import threading
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
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, Dict, Iterator, List, Optional

from . import _lib
from ._store import open_store
from .reader import Store, decode_json_event

PT_ITEROVER = -10


class ConsumerOptions(Structure):
    """pt_consumer_options (consumer.h)."""

    _fields_ = [
        ("version", c_uint),
        ("run", c_char_p),
        ("stream", c_char_p),
        ("start", c_char_p),
        ("batch_max", c_uint32),
        ("window_ms", c_uint32),
        ("max_retries", c_uint32),
        ("backoff_ms", c_uint32),
        ("backoff_max_ms", c_uint32),
        ("failures", c_char_p),
        ("follow", c_int),
        ("poll_ms", c_uint32),
        ("fsync", c_int),
    ]


class ConsumerCounts(Structure):
    """pt_consumer_counts (consumer.h)."""

    _fields_ = [("events", c_uint64), ("batches", c_uint64), ("attempts", c_uint64), ("failed", c_uint64)]


class ConsumerPosition(Structure):
    """pt_consumer_position (consumer.h)."""

    _fields_ = [("run", c_char_p), ("stream", c_char_p), ("seq", c_uint64), ("last", c_uint64)]


class ConsumerInfo(Structure):
    """pt_consumer_info (consumer.h)."""

    _fields_ = [
        ("name", c_char_p),
        ("run", c_char_p),
        ("stream", c_char_p),
        ("start", c_char_p),
        ("failures", c_char_p),
        ("created", c_int64),
        ("committed", c_int64),
        ("events_behind", c_uint64),
        ("lag_ns", c_int64),
        ("active", c_int),
        ("holder", c_char_p),
        ("positions", POINTER(ConsumerPosition)),
        ("npositions", c_size_t),
    ]


class MirrorOptions(Structure):
    """pt_mirror_options (mirror.h)."""

    _fields_ = [
        ("version", c_uint),
        ("stream", c_char_p),
        ("endpoint", c_char_p),
        ("region", c_char_p),
        ("format", c_int),
        ("max_record_bytes", c_uint32),
        ("max_attempts", c_uint32),
    ]


class MirrorStats(Structure):
    """pt_mirror_stats (mirror.h)."""

    _fields_ = [(n, c_uint64) for n in ("records", "bytes", "referenced", "retried", "requests")]


for _s, _n in (
    (MirrorOptions, "pt_mirror_options"),
    (MirrorStats, "pt_mirror_stats"),
    (ConsumerOptions, "pt_consumer_options"),
    (ConsumerCounts, "pt_consumer_counts"),
    (ConsumerPosition, "pt_consumer_position"),
    (ConsumerInfo, "pt_consumer_info"),
):
    _lib._check_layout(_s, _n)

HANDLER = CFUNCTYPE(c_int, c_void_p, c_void_p)

_open = _lib.declare("pt_consumer_open", c_int, [POINTER(c_void_p), c_void_p, c_char_p, POINTER(ConsumerOptions)])
_poll = _lib.declare("pt_consumer_poll", c_int, [c_void_p, POINTER(c_void_p), c_int])
_commit = _lib.declare("pt_consumer_commit", c_int, [c_void_p, c_void_p])
_run = _lib.declare("pt_consumer_run", c_int, [c_void_p, HANDLER, c_void_p])
_stop = _lib.declare("pt_consumer_stop", None, [c_void_p], gil=True)
_counts = _lib.declare("pt_consumer_get_counts", None, [c_void_p, POINTER(ConsumerCounts)], gil=True)
_close = _lib.declare("pt_consumer_close", None, [c_void_p])
_jsonl = _lib.declare("pt_consumer_batch_jsonl", c_int, [c_void_p, POINTER(c_char_p), POINTER(c_size_t)], gil=True)
_set_error = _lib.declare("pt_consumer_batch_set_error", None, [c_void_p, c_char_p], gil=True)
_list = _lib.declare("pt_consumers_list", c_int, [c_void_p, c_char_p, POINTER(c_void_p), POINTER(c_size_t)])
_info_free = _lib.declare("pt_consumer_info_free", None, [c_void_p, c_size_t])
_reset = _lib.declare("pt_consumer_reset", c_int, [c_void_p, c_char_p, c_char_p])
_remove = _lib.declare("pt_consumer_remove", c_int, [c_void_p, c_char_p])
_mirror_kinesis = _lib.declare("pt_mirror_kinesis", c_int, [c_void_p, POINTER(MirrorOptions), POINTER(MirrorStats)])
_options_init = _lib.declare("pt_consumer_options_init", c_int, [POINTER(ConsumerOptions), c_uint])


def _events(batch_ptr: int) -> List[Dict[str, Any]]:
    text = c_char_p()
    n = c_size_t()
    rc = _jsonl(batch_ptr, byref(text), byref(n))
    _lib.check(rc, "consumer batch")
    raw = ctypes.string_at(text, n.value).decode("utf-8")
    return [decode_json_event(line) for line in raw.splitlines()]


def _u32(v: Any, what: str, lo: int = 0, hi: int = 2**32 - 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s must be an int, not %s" % (what, type(v).__name__))
    if not lo <= v <= hi:
        raise ValueError("%s must be in %d..%d, not %d" % (what, lo, hi, v))
    return v


def _start_text(start: Any) -> Optional[bytes]:
    if start is None:
        return None
    if isinstance(start, dict):
        if len(start) != 1:
            raise ValueError("start as a dict takes one of seq=, step=, time=")
        ((k, v),) = start.items()
        if k not in ("seq", "step", "time"):
            raise ValueError("start key must be seq, step or time, not %r" % k)
        start = "%s=%s" % (k, v)
    return _lib.cname(start, "start")


class Consumer:
    """One open consumer (holds its lock until :meth:`close`).  Iterating
    yields batches (lists of event dicts); see the module's docstring."""

    def __init__(self, name: str, *, run: Optional[str] = None, stream: Optional[str] = None,
                 start: Any = None, batch: int = 100, window_ms: int = 0, max_retries: int = 3,
                 backoff_ms: int = 100, backoff_max_ms: int = 10000, failures: Optional[str] = None,
                 follow: bool = True, poll_ms: int = 1000, fsync: bool = False, store: Store = None) -> None:
        self._st = open_store(store)
        self.name = name
        o = ConsumerOptions()
        _lib.check(_options_init(byref(o), 1))
        # keep the encoded strings alive while the C side copies them (at open)
        self._keep = [
            _lib.cname(run, "run") if run is not None else None,
            _lib.cname(stream, "stream") if stream is not None else None,
            _start_text(start),
            _lib.cname(failures, "failures") if failures is not None else None,
        ]
        o.run, o.stream, o.start, o.failures = self._keep
        o.batch_max = _u32(batch, "batch", 1, 1000000)
        o.window_ms = _u32(window_ms, "window_ms")
        o.max_retries = _u32(max_retries, "max_retries")
        o.backoff_ms = _u32(backoff_ms, "backoff_ms")
        o.backoff_max_ms = max(_u32(backoff_max_ms, "backoff_max_ms"), o.backoff_ms)
        o.follow = 1 if follow else 0
        o.poll_ms = _u32(poll_ms, "poll_ms", 1)
        o.fsync = 1 if fsync else 0
        self._follow = bool(follow)
        ptr = c_void_p()
        _lib.check(_open(byref(ptr), self._st.ptr, _lib.cname(name, "consumer name"), byref(o)),
                   "consumer %s" % name)
        self._ptr: Optional[int] = ptr.value
        self._pending: Optional[int] = None

    # ---- iterator form ----
    def __iter__(self) -> Iterator[List[Dict[str, Any]]]:
        return self

    def __next__(self) -> List[Dict[str, Any]]:
        ptr = self._need()
        self.commit()
        b = c_void_p()
        while True:
            # short waits in a Python loop, so that Ctrl-C is seen
            rc = _poll(ptr, byref(b), 200 if self._follow else 0)
            if rc == 0:
                self._pending = b.value
                return _events(b.value)
            if rc != PT_ITEROVER:
                raise _lib.last_error(rc, "consumer %s" % self.name)
            if not self._follow:
                raise StopIteration

    def poll(self, timeout: Optional[float] = None) -> Optional[List[Dict[str, Any]]]:
        """The next batch (committing the previous one), waiting up to
        ``timeout`` seconds (None: until one comes); None on timeout."""
        ptr = self._need()
        self.commit()
        b = c_void_p()
        rc = _poll(ptr, byref(b), -1 if timeout is None else max(0, int(timeout * 1000)))
        if rc == PT_ITEROVER:
            return None
        _lib.check(rc, "consumer %s" % self.name)
        self._pending = b.value
        return _events(b.value)

    def commit(self) -> None:
        """Commit the batch handed out last (a no-op if none is pending)."""
        if self._pending is not None:
            b, self._pending = self._pending, None
            _lib.check(_commit(self._need(), b), "consumer %s" % self.name)

    # ---- callback form ----
    def run(self, handler: Callable[[List[Dict[str, Any]]], Any]) -> Dict[str, int]:
        """Hand every batch to ``handler`` until caught up (follow=False) or
        interrupted (Ctrl-C: the batch being handled is not committed).
        With follow=True the loop runs on a worker thread, so that the main
        thread sees Ctrl-C; ``handler`` is called there.  Returns the counts
        (events, batches, attempts, failed)."""
        ptr = self._need()
        self._pending = None
        fatal: List[BaseException] = []

        def cb(_ud: Any, batch: int) -> int:
            try:
                r = handler(_events(batch))
                if r is False:
                    _set_error(batch, b"handler returned False")
                    return 1
                return 0
            except (KeyboardInterrupt, SystemExit, GeneratorExit) as e:
                fatal.append(e)
                _stop(ptr)
                return 1
            except BaseException as e:  # the handler's failure: retried, then recorded
                msg = ("%s: %s" % (type(e).__name__, e)).encode("utf-8", "replace")[:4000]
                _set_error(batch, msg)
                return 1

        cfn = HANDLER(cb)
        result: List[int] = []

        def body() -> None:
            result.append(_run(ptr, cfn, None))

        if not self._follow:
            body()
        else:
            t = threading.Thread(target=body, name="provtrace-consumer-%s" % self.name, daemon=True)
            t.start()
            try:
                while t.is_alive():
                    t.join(0.2)
            except BaseException:
                _stop(ptr)
                t.join()
                raise
        if fatal:
            raise fatal[0]
        if result and result[0] < 0:
            raise _lib.last_error(result[0], "consumer %s" % self.name)
        return self.counts

    def _loop(self, call: Callable[[], int]) -> int:
        """Run ``call`` (a blocking C loop) here, or, when following, on a
        worker thread so that the main thread sees Ctrl-C (which stops it)."""
        ptr = self._need()
        if not self._follow:
            return call()
        result: List[int] = []
        t = threading.Thread(target=lambda: result.append(call()), name="provtrace-consumer-%s" % self.name,
                             daemon=True)
        t.start()
        try:
            while t.is_alive():
                t.join(0.2)
        except BaseException:
            _stop(ptr)
            t.join()
            raise
        return result[0] if result else -1

    def mirror_kinesis(self, stream: str, *, endpoint: Optional[str] = None, region: Optional[str] = None,
                       format: str = "json", max_record_bytes: int = 1 << 20,
                       max_attempts: int = 5) -> Dict[str, int]:
        """Run this consumer with the built-in Kinesis mirror as its handler
        (see :func:`mirror`).  Returns the mirror's counters."""
        ptr = self._need()
        if format not in ("json", "msgpack"):
            raise ValueError("format must be 'json' or 'msgpack', not %r" % (format,))
        o = MirrorOptions()
        keep = [_lib.cname(stream, "stream"),
                _lib.cname(endpoint, "endpoint") if endpoint is not None else None,
                _lib.cname(region, "region") if region is not None else None]
        o.version = 1
        o.stream, o.endpoint, o.region = keep
        o.format = 1 if format == "msgpack" else 0
        o.max_record_bytes = _u32(max_record_bytes, "max_record_bytes", 1024, 1 << 20)
        o.max_attempts = _u32(max_attempts, "max_attempts", 1, 100)
        st = MirrorStats()
        rc = self._loop(lambda: _mirror_kinesis(ptr, byref(o), byref(st)))
        if rc < 0:
            raise _lib.last_error(rc, "mirror %s" % self.name)
        return {n: getattr(st, n) for n, _ in MirrorStats._fields_}

    def stop(self) -> None:
        """Make :meth:`run` return soon (from any thread)."""
        if self._ptr:
            _stop(self._ptr)

    @property
    def counts(self) -> Dict[str, int]:
        c = ConsumerCounts()
        _counts(self._need(), byref(c))
        return {"events": c.events, "batches": c.batches, "attempts": c.attempts, "failed": c.failed}

    def _need(self) -> int:
        if not self._ptr:
            raise _lib._errors.ClosedError("consumer %s is closed" % self.name)
        return self._ptr

    def close(self) -> None:
        """Release the consumer (a batch handed out but not committed is handed again next time)."""
        if self._ptr:
            _close(self._ptr)
            self._ptr = None
            self._pending = None

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def consumer(name: str, **kwargs: Any) -> Consumer:
    """Open consumer ``name`` for the iterator form (see :class:`Consumer`).
    Keyword arguments as :func:`consume`."""
    return Consumer(name, **kwargs)


def consume(name: str, handler: Callable[[List[Dict[str, Any]]], Any], **kwargs: Any) -> Dict[str, int]:
    """Run consumer ``name`` (created the first time, then resumed where it
    was) and hand each batch to ``handler(events)``.

    Keywords: ``run`` (a name or glob; default every run), ``stream`` (name
    or glob), ``start`` ("oldest", "latest", "seq=N", "step=N", "time=T" or
    ``{"step": N}``...; for a new consumer), ``batch``, ``window_ms``,
    ``max_retries``, ``backoff_ms``, ``backoff_max_ms``, ``failures``
    ("RUN/STREAM"), ``follow`` (default True: until Ctrl-C; False: until
    caught up), ``poll_ms``, ``fsync``, ``store``.  Returns the counts.
    Raises LockedError if another process runs ``name``.
    """
    with Consumer(name, **kwargs) as c:
        return c.run(handler)


def mirror(name: str, to: str, *, endpoint: Optional[str] = None, region: Optional[str] = None,
           format: str = "json", **kwargs: Any) -> Dict[str, int]:
    """Run consumer ``name`` as a mirror to ``to`` ("kinesis://STREAM"):
    every event is put to the Kinesis stream (JSON, or ``format="msgpack"``),
    partition key "RUN/STREAM", and the position is committed once Kinesis
    accepted the batch (docs/CONSUMERS.md).  ``endpoint``/``region`` override
    what AWS tools would find; other keywords as :func:`consume` (``batch``
    defaults to 500).  Returns the mirror's counters (records, bytes,
    referenced, retried, requests)."""
    if not isinstance(to, str) or not to.startswith("kinesis://") or len(to) <= 10:
        raise ValueError("to must be 'kinesis://STREAM', not %r" % (to,))
    kwargs.setdefault("batch", 500)
    with Consumer(name, **kwargs) as c:
        return c.mirror_kinesis(to[10:], endpoint=endpoint, region=region, format=format)


def _s(v: Optional[bytes]) -> Optional[str]:
    return v.decode("utf-8", "replace") if v is not None else None


def consumers(name: Optional[str] = None, store: Store = None) -> List[Dict[str, Any]]:
    """Every consumer of the store (or only ``name``) with its position and
    lag: dicts with name, run, stream, start, failures, created, committed
    (ns), active, holder, events_behind, lag_seconds, positions (list of
    {run, stream, seq, last})."""
    st = open_store(store)
    p = c_void_p()
    n = c_size_t()
    _lib.check(_list(st.ptr, _lib.cname(name, "consumer name") if name is not None else None, byref(p), byref(n)),
               "consumers")
    out: List[Dict[str, Any]] = []
    try:
        arr = ctypes.cast(p, POINTER(ConsumerInfo))
        for i in range(n.value):
            ci = arr[i]
            out.append({
                "name": _s(ci.name), "run": _s(ci.run), "stream": _s(ci.stream), "start": _s(ci.start),
                "failures": _s(ci.failures), "created": ci.created, "committed": ci.committed,
                "active": bool(ci.active), "holder": _s(ci.holder), "events_behind": ci.events_behind,
                "lag_seconds": ci.lag_ns / 1e9,
                "positions": [{"run": _s(ci.positions[k].run), "stream": _s(ci.positions[k].stream),
                               "seq": ci.positions[k].seq, "last": ci.positions[k].last}
                              for k in range(ci.npositions)],
            })
    finally:
        _info_free(p, n.value)
    return out


def reset_consumer(name: str, to: Any, store: Store = None) -> None:
    """Move consumer ``name`` (not running) to ``to``: "oldest", "latest",
    "seq=N", "step=N", "time=T" (or ``{"step": N}``...).  LockedError while it runs."""
    st = open_store(store)
    _lib.check(_reset(st.ptr, _lib.cname(name, "consumer name"), _start_text(to)), "consumer %s" % name)


def remove_consumer(name: str, store: Store = None) -> None:
    """Forget consumer ``name`` (its failure stream stays)."""
    st = open_store(store)
    _lib.check(_remove(st.ptr, _lib.cname(name, "consumer name")), "consumer %s" % name)
