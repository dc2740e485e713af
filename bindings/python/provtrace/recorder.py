"""Recording: :class:`Recorder`, the single writer of one stream of a run."""

from __future__ import annotations

import os
import threading
import warnings
from array import array as _array
import weakref
from ctypes import (ArgumentError, Structure, byref, c_char, c_char_p, c_double, c_int, c_int64, c_size_t,
                    c_uint64, c_void_p)
from typing import Any, Dict, Mapping, Optional, Union

from . import _lib
from ._encode import (Builder, FieldError, encode, encode_items, key_bytes, key_cache,
                      raise_field_error, thread_builder)
from ._store import PathLike, StoreHandle, open_store
from .errors import PT_EINVAL, ClosedError, ExistsError

# Imported lazily by the methods that use them (checkpoint, replay, code),
# so that recording metrics pays nothing for them at import.

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
# One call for a whole decision body when Debian's python3-msgpack is there:
# packed with exact types only (strict_types: numpy scalars, enums and other
# subclasses take the typed path, which converts or refuses them by name);
# the library checks the body like the builder would (string keys, UTF-8,
# depth) and anything it refuses is redone on the typed path for the
# message that names the field.
_append_mp = _lib.declare("pt_recorder_append_msgpack", c_int,
                          [c_void_p, c_char_p, c_char_p, c_int64, c_char_p, c_size_t, c_void_p])
# decision.h: the decision body's one writer, and its schema check for
# bodies built field by field.
_decision_body = _lib.declare("pt_recorder_decision_body", c_int,
                              [c_void_p, c_char_p, c_int64, c_char_p, c_size_t, c_void_p])
_decision_check = _lib.declare("pt_decision_check_event", c_int, [c_void_p])
# run.h: tags, the note and the end of a session (their bodies have one writer in C)
_tag = _lib.declare("pt_recorder_tag", c_int, [c_void_p, c_char_p, c_char_p])
_note = _lib.declare("pt_recorder_note", c_int, [c_void_p, c_char_p])
_run_end = _lib.declare("pt_recorder_end", c_int, [c_void_p, c_char_p, c_char_p, c_char_p])


# artifact.h: files and byte strings stored content-addressed beside the run.
class _ArtifactInfo(Structure):
    _fields_ = [("sha256", c_char * 65), ("size", c_uint64), ("parts", c_uint64), ("seq", c_uint64)]


_lib._check_layout(_ArtifactInfo, "pt_artifact_info")
_artifact_file = _lib.declare("pt_artifact_file", c_int,
                              [c_void_p, c_char_p, c_char_p, c_int64, c_void_p])
_artifact_bytes = _lib.declare("pt_artifact_bytes", c_int,
                               [c_void_p, c_char_p, c_char_p, c_size_t, c_int64, c_void_p])
try:
    import msgpack as _msgpack

    _packer_local = threading.local()

    def _packb(obj: Any) -> bytes:
        p = getattr(_packer_local, "p", None)
        if p is None:
            p = _packer_local.p = _msgpack.Packer(use_bin_type=True, strict_types=True)
        return p.pack(obj)
except ImportError:  # optional: the typed path does it all
    _packb = None
_last_error = _lib.last_error


def _free_recorder(h: int, writer_box: list, _store: Any) -> None:
    """Finalizer: close the recorder's checkpointer (it appends to the
    recorder) before the recorder itself.  Errors cannot be raised here."""
    w = writer_box[0]
    if w is not None and w.ptr is not None:
        p, w.ptr = w.ptr, None
        from .checkpoint import pt_checkpointer_close

        pt_checkpointer_close(p)
    _lib.pt_recorder_free(h)


_HEX = frozenset("0123456789abcdef")
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


def _end_args(status: str, error_type: Optional[str], error: Optional[str]) -> tuple:
    """pt_recorder_end's arguments: UTF-8, cut to its limits (4 KiB, 64 KiB)."""

    def cut(v: Optional[str], n: int) -> Optional[bytes]:
        if v is None:
            return None
        return v.encode("utf-8", "replace")[:n].decode("utf-8", "ignore").replace("\0", " ").encode("utf-8")

    return (status.encode("ascii"), cut(error_type, 4096), cut(error, 65536))


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


def _manifest_arg(v: Any) -> str:
    m = getattr(v, "manifest", v)  # a Checkpoint or its hex id
    if not isinstance(m, str):
        raise TypeError("resume: checkpoint must be a manifest id (str) or a Checkpoint, not %s"
                        % type(v).__name__)
    m = m.lower()
    if len(m) != 64 or not set(m) <= _HEX:
        raise ValueError("resume: checkpoint %r is not a manifest id (64 hex digits)" % (v,))
    return m


_AUTO = object()


def _resume_args(resume: Any) -> Optional[tuple]:
    """(from_step or None, parent lineage or None, manifest hex / None / _AUTO)."""
    if resume is None:
        return None
    if isinstance(resume, bool):
        raise TypeError("resume must be None, an int step or a dict, not bool")
    if isinstance(resume, int):
        return (_resume_step(resume), None, _AUTO)
    if isinstance(resume, Mapping):
        unknown = set(resume) - {"step", "lineage", "checkpoint"}
        if unknown:
            raise ValueError("resume: unknown key(s) %s (step, lineage, checkpoint)"
                             % ", ".join(sorted(map(repr, unknown))))
        step = resume.get("step")
        step = None if step is None else _resume_step(step)
        lin = resume.get("lineage")
        if lin is not None:
            if isinstance(lin, bool) or not isinstance(lin, int):
                raise TypeError("resume: lineage must be an int, not %s" % type(lin).__name__)
            if not 0 <= lin <= _I64MAX:
                raise ValueError("resume: lineage %d is out of range" % lin)
        if "checkpoint" in resume:
            ck = resume["checkpoint"]
            manifest = None if ck is None else _manifest_arg(ck)
        else:
            manifest = _AUTO
        return (step, lin, manifest)
    raise TypeError("resume must be None, \"latest\", an int step or a dict, not %s"
                    % type(resume).__name__)


def _resume_step(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("resume: step must be an int, not %s" % type(v).__name__)
    if not _I64MIN < v <= _I64MAX:
        raise ValueError("resume: step %d is out of the int64 range" % v)
    return v


_TUNING_RANGES = {
    "max_delay_ms": (1, 0xFFFFFFFF), "batch_max_events": (1, 0xFFFFFFFF),
    "batch_max_bytes": (1, 0xFFFFFFFF), "segment_max_bytes": (1, 2 ** 64 - 1),
    "segment_max_age_s": (0, 0xFFFFFFFF), "queue_max_batches": (1, 0xFFFFFFFF),
    "zstd_level": (-131072, 22),
}


def _recorder_tuning(**kw: Any) -> Dict[str, int]:
    """The pt_recorder_options fields given (not None), type- and range-checked
    (the library checks them again when the recorder opens)."""
    out = {}
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s must be an int, not %s" % (k, type(v).__name__))
        lo, hi = _TUNING_RANGES[k]
        if not lo <= v <= hi:
            raise ValueError("%s must be %d..%d, not %d" % (k, lo, hi, v))
        out[k] = v
    return out


def _short_str(ev: Any, key: bytes, value: Any, label: str) -> None:
    """Store a str field of a decision (reason, actor) in one typed call."""
    if type(value) is str and len(value) <= 16384:
        try:
            sb = value.encode()
        except UnicodeEncodeError:
            encode(ev, key, value, label)  # raises with the path
        rc = _strn_gil(ev, key, sb, len(sb))
        if rc:
            raise FieldError(_lib.last_error(rc), label)
    elif isinstance(value, str):
        encode(ev, key, str.__str__(value), label)
    else:
        raise FieldError(TypeError("must be a str, not %s" % type(value).__name__), label)


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
        capture_code: record the code provenance (git HEAD, branch,
            uncommitted changes, untracked files: a ``code`` event) and the
            environment (host, process, allowlisted variables, and the
            Python version with the versions of the imported top-level
            packages: an ``env`` event) when the recorder opens.  A capture
            that fails is a ``RuntimeWarning``, never an error of the
            recorder (unless ``require_clean``).  False records neither.
        require_clean: refuse to record (``InvalidError`` listing the
            changed files, the recorder is closed) when the working tree has
            uncommitted changes or untracked files, or cannot be checked.
        resume: training resumes from an earlier point, which starts a new
            lineage (replay's ``step=N`` follows it; see
            :meth:`Run.state_at`).  None (a fresh start or a plain
            continuation), an int (resume from that step of the live
            lineage), or a dict with ``step`` (None: the current end),
            ``lineage`` (the parent; default the live one) and
            ``checkpoint`` (the manifest id resumed from, or a
            :class:`Checkpoint`).  Without ``checkpoint`` the checkpoint
            in effect at that step of the parent is recorded (and offered
            as :attr:`resumed_from`).  See :attr:`lineage`.
        append: add to a stream that already has events.  Without it (and
            without ``resume``) opening such a stream raises
            :class:`~provtrace.ExistsError` naming the run, its event count
            and how to continue: re-running a script with the same run name
            no longer silently appends a second copy of every step.  Other
            streams of the run (ranks) are not affected.
        snapshot_every: write a replay state snapshot every N events
            (None: the library's default, 32768; 0: none).
        max_delay_ms, batch_max_events, batch_max_bytes, segment_max_bytes,
            segment_max_age_s, queue_max_batches, zstd_level: the C
            recorder's options (recorder.h; None: its defaults 1000, 4096,
            1 MiB, 64 MiB, 3600, 8, -1).  ``max_delay_ms`` bounds how long
            an event waits in memory before the writer thread writes it:
            the loss window at a kill -9 without ``flush()`` (docs/PYTHON.md,
            "Durability").
        signing_key: path of a private key (``provtrace key generate``,
            :func:`provtrace.generate_key`): the recorder then signs a
            checkpoint of the stream's Merkle tree at each seal and at close
            (and on :meth:`sign_checkpoint`), for :meth:`Run.prove`.

    ``resume="latest"`` forks a new lineage at the newest checkpoint
    committed in the live lineage of the stream and offers it as
    :attr:`resumed_from` (restore it with ``provtrace.torch.restore`` or
    ``resumed_from.load()``); without any checkpoint it is a fresh start
    (``resumed_from`` None), so one script serves the first start and every
    restart.

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

    Checkpoints: :meth:`checkpoint` stores tensors (numpy, torch) and blobs
    (bytes, files) content-addressed and records a ``checkpoint`` event;
    asynchronous by default (the buffers are copied, persistence runs in the
    background; :meth:`close` waits for it).  Read them back with
    :meth:`Run.state_at` ``(step=N).checkpoint.load()``.

    The C recorder is closed (background checkpoints finished, its events
    flushed and the segment sealed) when the object is closed, leaves a
    ``with`` block, is garbage collected or the interpreter exits.
    """

    def __init__(
        self,
        run: Optional[str] = None,
        store: Union[None, PathLike, StoreHandle] = None,
        stream: Optional[str] = None,
        durability: str = "write",
        capture_code: bool = True,
        resume: Union[None, int, str, Mapping[str, Any]] = None,
        *,
        require_clean: bool = False,
        snapshot_every: Optional[int] = None,
        max_delay_ms: Optional[int] = None,
        batch_max_events: Optional[int] = None,
        batch_max_bytes: Optional[int] = None,
        segment_max_bytes: Optional[int] = None,
        segment_max_age_s: Optional[int] = None,
        queue_max_batches: Optional[int] = None,
        zstd_level: Optional[int] = None,
        signing_key: Optional[PathLike] = None,
        append: bool = False,
    ) -> None:
        try:
            dur = DURABILITY[durability]
        except (KeyError, TypeError):
            raise ValueError(
                "durability must be one of 'none', 'write', 'fsync', not %r" % (durability,)
            ) from None
        run_b = None if run is None else _lib.cname(run, "run")
        stream_b = None if stream is None else _lib.cname(stream, "stream")
        latest = isinstance(resume, str) and resume == "latest"
        if latest and run is None:
            raise ValueError('resume="latest" needs a run name')
        resume_args = None if latest else _resume_args(resume)
        tuning = _recorder_tuning(max_delay_ms=max_delay_ms, batch_max_events=batch_max_events,
                                  batch_max_bytes=batch_max_bytes,
                                  segment_max_bytes=segment_max_bytes,
                                  segment_max_age_s=segment_max_age_s,
                                  queue_max_batches=queue_max_batches, zstd_level=zstd_level)
        if require_clean and not capture_code:
            raise ValueError("require_clean needs capture_code=True")
        if snapshot_every is not None:
            if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int):
                raise TypeError("snapshot_every must be an int, not %s"
                                % type(snapshot_every).__name__)
            if not 0 <= snapshot_every <= 0xFFFFFFFF:
                raise ValueError("snapshot_every must be 0..2**32-1, not %d" % snapshot_every)
        self._h: Optional[int] = None
        self._lock = threading.Lock()
        self._store = open_store(store, create=True)
        opts = _lib.RecorderOptions()
        _lib.check(_lib.pt_recorder_options_init(byref(opts), _lib.RECORDER_OPTIONS_VERSION))
        opts.durability = dur
        if snapshot_every is not None:
            opts.snapshot_every = snapshot_every
        for k, v in tuning.items():
            setattr(opts, k, v)
        out = c_void_p()
        _lib.check(_lib.pt_recorder_open(byref(out), self._store.ptr, run_b, stream_b, byref(opts)))
        h = out.value
        self._h = h
        # The checkpointer (created by the first checkpoint()) lives in this
        # box so that the finalizer can close it before the recorder.
        self._writer_box: list = [None]
        # The finalizer holds the store handle, so the store outlives the
        # C recorder even when both become garbage together.
        self._finalizer = weakref.finalize(self, _free_recorder, h, self._writer_box, self._store)
        self._run = _lib.pt_recorder_run(h).decode("utf-8")
        self._stream = _lib.pt_recorder_stream(h).decode("utf-8")
        self._durability = durability
        self._capture_code = bool(capture_code)
        self._lineage: Optional[int] = None
        self._resumed_from: Any = None
        # the run_end close() writes; __exit__ makes it "failed" when the block raised
        self._end_status: Optional[tuple] = _end_args("finished", None, None)
        try:
            if not append and resume is None:
                had = _lib.pt_recorder_next_seq(h) - 1
                if had > 0:
                    raise ExistsError(
                        "run %r already has %d event%s in stream %r (store %s): pass append=True to "
                        "add to it, resume=STEP or resume=\"latest\" to restart from a point of it, "
                        "or choose another run name" % (self._run, had, "" if had == 1 else "s",
                                                        self._stream, self._store.path))
            if signing_key is not None:
                from . import _proof

                _proof.set_signing_key(h, signing_key)
            if latest:
                ck = self._latest_checkpoint()
                if ck is not None:
                    self._resume(ck.step, None, ck.manifest)
                    self._resumed_from = ck  # with its step, seq and summary
            if resume_args is not None:
                self._resume(*resume_args)
            if capture_code:
                from . import _code

                err = _code.capture(h, bool(require_clean))
                if err is not None:
                    warnings.warn("provtrace: run %r: provenance capture failed (recording goes "
                                  "on): %s" % (self._run, err), RuntimeWarning, stacklevel=2)
        except BaseException:
            self._h = None
            self._finalizer.detach()
            _lib.pt_recorder_close(h)
            raise
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
    def lineage(self) -> int:
        """The lineage this recorder writes: the new one after ``resume``,
        else the lineage live in the stream (0 until a run is resumed)."""
        if self._lineage is None:
            from .replay import lineage_at_end

            self._handle()
            self._lineage = lineage_at_end(self._store, self._run, self._stream)
        return self._lineage

    @property
    def resumed_from(self) -> Any:
        """The :class:`Checkpoint` recorded as the one resumed from (with
        ``resume``), or None; ``rec.resumed_from.load()`` gives its tensors."""
        return self._resumed_from

    def _latest_checkpoint(self) -> Any:
        """resume="latest": the newest checkpoint committed in the live
        lineage of this stream (None: there is none, a fresh start)."""
        from .replay import checkpoint_in_effect

        return checkpoint_in_effect(self._store, self._run, self._stream, None, None)

    def _resume(self, step: Optional[int], parent: Optional[int], manifest: Any) -> None:
        from .checkpoint import Checkpoint
        from .replay import checkpoint_in_effect

        ck = None
        if manifest is _AUTO:
            ck = checkpoint_in_effect(self._store, self._run, self._stream, step, parent)
            manifest = ck.manifest if ck is not None else None
        elif manifest is not None:
            ck = Checkpoint(self._store, manifest)
        lin = c_int64()
        _lib.check(_lib.pt_recorder_resume(
            self._h, _NO_STEP if step is None else step, -1 if parent is None else parent,
            None if manifest is None else manifest.encode("ascii"), byref(lin)), "resume")
        self._lineage = lin.value
        self._resumed_from = ck

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
        # The checkpointer's threads do not exist in the child: forget it too.
        self._writer_box[0] = None

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
        if (_packb is not None and (set is None or type(set) is dict) and
                (reason is None or type(reason) is str) and (actor is None or type(actor) is str) and
                (step is None or (type(step) is int and _I64MIN < step <= _I64MAX))):
            # Encoded in one call; the library checks it against the decision
            # schema and writes it (pt_recorder_decision_body: the schema's owner).
            body: Dict[str, Any] = {}
            if set is not None:
                body["set"] = set
            if reason is not None:
                body["reason"] = reason
            if actor is not None:
                body["actor"] = actor
            if fields:
                body.update(fields)
            try:
                data = _packb(body)
            except (TypeError, ValueError, OverflowError):
                data = None
            if data is not None:
                b = thread_builder()
                try:
                    rc = _decision_body(h, name_b, _NO_STEP if step is None else step, data,
                                        len(data), b.seq_ref)
                    if not rc:
                        return b.seq.value
                    if rc != PT_EINVAL:
                        self._fail(rc, "decision %r" % (name,))
                finally:
                    b.busy = False
                # refused: the typed path below raises the error naming the field
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
                    _short_str(ev, b"reason", reason, "reason")
                if actor is not None:
                    _short_str(ev, b"actor", actor, "actor")
                if fields:
                    encode_items(ev, fields)
            except FieldError as fe:
                raise_field_error(fe, "decision %r" % (name,))
            # the same schema check as pt_recorder_decision (decision.h)
            rc = _decision_check(ev)
            if not rc:
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

    def sign_checkpoint(self) -> str:
        """Sign a checkpoint of the stream's Merkle tree over everything
        recorded so far (needs ``signing_key=``; a seal and close sign too)
        and store it as the stream's signed checkpoint.  Returns the note
        text (C2SP tlog-checkpoint + signed-note)."""
        from . import _proof

        return _proof.sign_checkpoint(self._handle())

    # ---- artifacts --------------------------------------------------------------

    def artifact(self, name: str, path_or_bytes: Any, step: Optional[int] = None) -> Dict[str, Any]:
        """Store a file (a path: str or os.PathLike) or a byte string
        (bytes, bytearray, memoryview: the content itself)
        content-addressed in the store and record an ``artifact`` event
        named ``name``.  A file is streamed (4 MiB parts, each one object,
        equal parts stored once); if it changes or vanishes while it is read
        nothing is recorded and :class:`ProvtraceError` names it.  Does not
        change the checkpoint in effect.  Returns ``{"name", "sha256",
        "size", "parts", "seq"}``."""
        name_b = _lib.cname(name, "artifact name")
        st = _step_arg(step, "artifact %r" % name)
        info = _ArtifactInfo()
        h = self._handle()
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            rc = _artifact_bytes(h, name_b, data, len(data), st, byref(info))
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            rc = _artifact_file(h, name_b, _lib.fspath(path_or_bytes), st, byref(info))
        else:
            raise TypeError("artifact %r: expected a path (str, os.PathLike) or bytes, not %s"
                            % (name, type(path_or_bytes).__name__))
        _lib.check(rc, "artifact %r" % name)
        return {"name": name, "sha256": info.sha256.decode("ascii"), "size": info.size,
                "parts": info.parts, "seq": info.seq}

    # ---- datasets ---------------------------------------------------------------

    def dataset(self, name: str, paths_or_arrays: Any, *, role: str = "train", store: bool = False,
                step: Optional[int] = None, threads: int = 0) -> Dict[str, Any]:
        """Record the data the run trains on as a ``dataset`` event named
        ``name``: a manifest of relative paths, sizes and SHA-256 per file,
        and one content id for the whole set (docs/FORMAT.md "Datasets").

        ``paths_or_arrays``: a path (a file or a directory, walked), a list
        of paths, or in-memory contents - a numpy array, a torch tensor
        (copied to host memory first if on a device) or bytes, a list of
        them (entries ``"0"``, ``"1"``...) or a dict name -> array (hashed
        by their bytes in C order).  Hashing runs in C on ``threads``
        threads (0: one per CPU) with the GIL released.  With ``store``
        the contents go into the store's chunk store too (deduplicated).
        A file that vanishes or changes while it is hashed raises
        :class:`ProvtraceError` naming it, and nothing is recorded.  Does
        not change the checkpoint in effect.  Returns ``{"name", "id",
        "role", "files", "size", "seq", "root", "stored", "content"}``."""
        from . import dataset as _dataset

        st = _step_arg(step, "dataset %r" % name)
        return _dataset.record(self._handle(), name, paths_or_arrays, role, store, st, threads)

    # ---- checkpoints -----------------------------------------------------------

    def _writer(self) -> Any:
        h = self._handle()
        w = self._writer_box[0]
        if w is None:
            with self._lock:
                w = self._writer_box[0]
                if w is None:
                    if self._h is None:
                        raise ClosedError(self._closed_msg)
                    from .checkpoint import Writer

                    w = self._writer_box[0] = Writer(self._store, h)
        return w

    def checkpoint(self, step: Optional[int], tensors_or_blob: Any, *, wait: bool = False,
                   name: Optional[str] = None) -> Any:
        """Store a checkpoint at ``step`` (None: no step) and record a
        ``checkpoint`` event naming it.

        ``tensors_or_blob`` is one of:

        - a dict of entry name -> value, where a value is a numpy array (any
          dtype of bool, int8..int64, uint8..uint64, float16, bfloat16 with
          ml_dtypes, float32, float64; non-contiguous arrays are copied to C
          order), anything numpy can view that has ``dtype`` and ``shape``, a
          torch CPU tensor (bfloat16 included), ``bytes``/``bytearray``/
          ``memoryview`` (an opaque blob) or a path (a file stored as a blob,
          e.g. a ``torch.save`` output);
        - ``bytes`` (one blob named ``name`` or ``"blob"``);
        - a path, ``str`` or ``os.PathLike`` (one blob named ``name`` or the
          file's base name).

        ``wait=True``: stored synchronously (chunks durable, event appended);
        returns the manifest id (64 hex digits).

        ``wait=False`` (default): the buffers are copied before this returns
        (the caller may change them right away) and the checkpoint is
        persisted in the background; returns a :class:`PendingCheckpoint`
        (``.done``, ``.wait()``).  A failure of a background checkpoint is
        raised by the next :meth:`checkpoint` call, by
        :meth:`wait_checkpoints` or by :meth:`close`.

        Raises ``TypeError`` for an unsupported value or dtype (naming the
        entry) before anything is stored.
        """
        s = _step_arg(step, "checkpoint")
        if not isinstance(wait, bool):
            raise TypeError("wait must be a bool, not %s" % type(wait).__name__)
        if name is not None:
            _lib.cname(name, "checkpoint entry name")
        w = self._writer()
        if wait:
            info = w.write(tensors_or_blob, s, name)
            return info["manifest"]
        from .checkpoint import PendingCheckpoint

        ticket = w.snapshot(tensors_or_blob, s, name)
        return PendingCheckpoint(ticket, step, w)

    def wait_checkpoints(self) -> None:
        """Wait until every background checkpoint is persisted; raises the
        first error not reported yet."""
        self._handle()
        w = self._writer_box[0]
        if w is not None:
            w.wait()

    def checkpoint_status(self) -> Dict[str, Any]:
        """Progress of the background checkpoints: ``submitted``,
        ``completed``, ``failed``, ``inflight``, ``first_error`` (a C code,
        0 if none) and ``last`` (the summary of the last completed one:
        ``manifest``, ``step``, ``tensors``, ``logical_bytes``,
        ``new_bytes``...; None if none).  Neither waits nor clears errors."""
        self._handle()
        w = self._writer_box[0]
        if w is None:
            return {"submitted": 0, "completed": 0, "failed": 0, "inflight": 0,
                    "first_error": 0, "last": None}
        return w.status()

    # ---- life cycle (close) ---------------------------------------------------

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
            w = self._writer_box[0]
            self._writer_box[0] = None
            end, self._end_status = self._end_status, None
        first: Optional[BaseException] = None
        if w is not None:
            # Waits for the background checkpoints; their events go to the
            # recorder, which is closed after them.
            try:
                w.close()
            except BaseException as e:
                first = e
        if end is not None:
            # the session's end, after every event of it (background checkpoints included)
            rc = _run_end(h, *end)
            if rc and first is None:
                first = _last_error(rc, "close")
        rc = _lib.pt_recorder_close(h)
        if first is not None:
            raise first
        _lib.check(rc, "close")

    def tag(self, key: str, value: str) -> None:
        """Tag the run: ``key`` (1-128 characters from ``[A-Za-z0-9_.:/-]``)
        = ``value`` (a str); a later tag of the same key replaces it.
        Queries see it as ``tags.KEY`` (``provtrace runs --where``)."""
        h = self._handle()
        if not isinstance(value, str):
            raise TypeError("tag %r: value must be a str, not %s" % (key, type(value).__name__))
        _lib.check(_tag(h, _lib.cname(key, "tag key"), _lib.cname(value, "tag value")), "tag")

    def note(self, text: str) -> None:
        """The run's free-text note (the latest one counts)."""
        h = self._handle()
        _lib.check(_note(h, _lib.cname(text, "note")), "note")

    def __enter__(self) -> "Recorder":
        self._handle()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            # the block raised: the run failed, and says why (status "failed" in queries)
            self._end_status = _end_args("failed", exc_type.__qualname__, str(exc))
            self.close()
        except Exception as close_exc:  # keep the body's exception primary
            if hasattr(exc, "add_note"):
                exc.add_note("provtrace: closing the recorder also failed: %s" % close_exc)

    def __repr__(self) -> str:
        state = "closed" if self._h is None else "open"
        return "<provtrace.Recorder run=%r stream=%r store=%r %s>" % (
            self._run, self._stream, self._store.path, state)
