"""Checkpoints: storing tensors and blobs (:meth:`Recorder.checkpoint`) and
reading them back (:class:`Checkpoint`).

Writing goes through the C checkpoint API (``provtrace/checkpoint.h``):
every tensor is cut into chunks that are hashed, compressed, deduplicated
against the store and referenced from a manifest object; a ``checkpoint``
event of the stream names the manifest.  Reading verifies every chunk
against its hash.

numpy is optional.  Without it, tensors are given as objects with the
buffer protocol and ``dtype``/``shape`` attributes, and are loaded as
:class:`RawTensor` (bytes + dtype name + shape).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import weakref
from ctypes import (
    POINTER,
    Structure,
    byref,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
    cast,
    string_at,
)
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

from . import _lib, _tree
from ._store import StoreHandle, open_store
from .errors import PT_ECORRUPT, PT_ENOTFOUND, ClosedError, CorruptError, NotFoundError

__all__ = ["Checkpoint", "RawTensor", "PendingCheckpoint", "DTYPES"]


# ---- C declarations ------------------------------------------------------------


class CheckpointOptions(Structure):
    """pt_checkpoint_options (checkpoint.h)."""

    _fields_ = [
        ("version", c_uint),
        ("chunk_size", c_uint32),
        ("cdc_avg", c_uint32),
        ("zstd_level", c_int),
        ("threads", c_uint32),
        ("memory_budget", c_uint64),
        ("max_inflight", c_uint32),
        ("no_event", c_int),
        ("snapshot_reserve", c_uint64),
        ("always_hash", c_int),
    ]


class CheckpointInfo(Structure):
    """pt_checkpoint_info (checkpoint.h)."""

    _fields_ = [
        ("manifest", c_char * 65),
        ("run", c_char * 129),
        ("stream", c_char * 129),
        ("seq", c_uint64),
        ("step", c_int64),
        ("time", c_int64),
        ("tensors", c_uint64),
        ("blobs", c_uint64),
        ("chunks", c_uint64),
        ("new_chunks", c_uint64),
        ("logical_bytes", c_uint64),
        ("stored_bytes", c_uint64),
        ("new_bytes", c_uint64),
    ]


class CheckpointStatus(Structure):
    """pt_checkpoint_status (checkpoint.h)."""

    _fields_ = [
        ("submitted", c_uint64),
        ("completed", c_uint64),
        ("failed", c_uint64),
        ("inflight", c_uint32),
        ("first_error", c_int),
        ("last", CheckpointInfo),
    ]


class CheckpointEntry(Structure):
    """pt_checkpoint_entry (checkpoint.h)."""

    _fields_ = [
        ("name", c_char_p),
        ("type", c_int),
        ("dtype", c_int),
        ("ndim", c_uint),
        ("shape", POINTER(c_uint64)),
        ("size", c_uint64),
        ("chunks", c_uint32),
    ]


class ExportStats(Structure):
    """pt_checkpoint_export_stats (checkpoint.h)."""

    _fields_ = [("entries", c_uint64), ("bytes", c_uint64)]


CHECKPOINT_OPTIONS_VERSION = 1

for _struct, _name in ((CheckpointEntry, "pt_checkpoint_entry"),
                       (ExportStats, "pt_checkpoint_export_stats"),
                       (CheckpointOptions, "pt_checkpoint_options"),
                       (CheckpointInfo, "pt_checkpoint_info"),
                       (CheckpointStatus, "pt_checkpoint_status")):
    _lib._check_layout(_struct, _name)
ENTRY_TENSOR = 1
ENTRY_BLOB = 2
MAX_NDIM = 32

_d = _lib.declare
pt_dtype_size = _d("pt_dtype_size", c_size_t, [c_int])
pt_dtype_name = _d("pt_dtype_name", c_char_p, [c_int])
pt_checkpoint_new = _d("pt_checkpoint_new", c_int, [POINTER(c_void_p)])
pt_checkpoint_free = _d("pt_checkpoint_free", None, [c_void_p])
pt_checkpoint_add_tensor = _d(
    "pt_checkpoint_add_tensor", c_int,
    [c_void_p, c_char_p, c_int, c_uint, POINTER(c_uint64), c_void_p, c_size_t])
pt_checkpoint_add_bytes = _d("pt_checkpoint_add_bytes", c_int,
                             [c_void_p, c_char_p, c_void_p, c_size_t])
pt_checkpoint_add_file = _d("pt_checkpoint_add_file", c_int, [c_void_p, c_char_p, c_char_p])
pt_checkpoint_options_init = _d("pt_checkpoint_options_init", c_int,
                                [POINTER(CheckpointOptions), c_uint])
pt_checkpointer_open = _d("pt_checkpointer_open", c_int,
                          [POINTER(c_void_p), c_void_p, c_void_p, POINTER(CheckpointOptions)])
pt_checkpointer_write = _d("pt_checkpointer_write", c_int,
                           [c_void_p, c_void_p, c_int64, POINTER(CheckpointInfo)])
pt_checkpointer_snapshot = _d("pt_checkpointer_snapshot", c_int,
                              [c_void_p, c_void_p, c_int64, POINTER(c_uint64)])
pt_checkpointer_wait = _d("pt_checkpointer_wait", c_int, [c_void_p])
pt_checkpointer_status = _d("pt_checkpointer_status", c_int,
                            [c_void_p, POINTER(CheckpointStatus)])
pt_checkpointer_close = _d("pt_checkpointer_close", c_int, [c_void_p])
pt_checkpoint_find = _d("pt_checkpoint_find", c_int,
                        [POINTER(CheckpointInfo), c_void_p, c_char_p, c_char_p, c_int64])
pt_checkpoint_list = _d("pt_checkpoint_list", c_int,
                        [POINTER(c_void_p), POINTER(c_size_t), c_void_p, c_char_p])
pt_checkpoint_list_json = _d("pt_checkpoint_list_json", c_int,
                             [c_void_p, c_char_p, POINTER(c_void_p), POINTER(c_size_t)])


class CheckpointTotals(Structure):
    """pt_checkpoint_totals (checkpoint.h)."""

    _fields_ = [("checkpoints", c_uint64), ("logical_bytes", c_uint64), ("added_bytes", c_uint64),
                ("objects", c_uint64), ("stored_bytes", c_uint64), ("missing_objects", c_uint64),
                ("dedup_ratio", c_double)]


pt_checkpoint_totals_of = _d("pt_checkpoint_totals_of", c_int,
                             [POINTER(CheckpointTotals), c_void_p, c_char_p])
pt_checkpoint_reader_open = _d("pt_checkpoint_reader_open", c_int,
                               [POINTER(c_void_p), c_void_p, c_char_p])
pt_checkpoint_reader_count = _d("pt_checkpoint_reader_count", c_size_t, [c_void_p])
pt_checkpoint_reader_entry = _d("pt_checkpoint_reader_entry", c_int,
                                [c_void_p, c_size_t, POINTER(CheckpointEntry)])
pt_checkpoint_reader_read = _d("pt_checkpoint_reader_read", c_int,
                               [c_void_p, c_size_t, c_void_p, c_size_t])
pt_checkpoint_reader_read_fd = _d("pt_checkpoint_reader_read_fd", c_int,
                                  [c_void_p, c_size_t, c_int])
pt_checkpoint_reader_free = _d("pt_checkpoint_reader_free", None, [c_void_p])
pt_checkpoint_set_structure = _d("pt_checkpoint_set_structure", c_int,
                                 [c_void_p, c_char_p, c_size_t])
pt_checkpoint_reader_paths_json = _d("pt_checkpoint_reader_paths_json", c_int,
                                     [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
pt_checkpoint_reader_structure = _d("pt_checkpoint_reader_structure", c_int,
                                    [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
pt_checkpoint_export = _d("pt_checkpoint_export", c_int,
                          [c_void_p, c_char_p, c_char_p, POINTER(ExportStats)])


# ---- dtypes --------------------------------------------------------------------

#: numpy dtype names -> pt_dtype values (checkpoint.h).
DTYPES: Dict[str, int] = {
    "bool": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "uint32": 6, "int32": 7,
    "uint64": 8, "int64": 9, "float16": 10, "bfloat16": 11, "float32": 12, "float64": 13,
}
#: dtypes numpy has no type for (torch's): stored as their bits, loaded
#: as torch tensors or RawTensor (or through ml_dtypes when it has them).
EXTRA_DTYPES: Dict[str, int] = {
    "complex64": 14, "complex128": 15, "complex32": 16, "float8_e4m3fn": 17, "float8_e5m2": 18,
    "float8_e4m3fnuz": 19, "float8_e5m2fnuz": 20,
}
_DTYPE_NAMES: Dict[int, str] = {v: k for k, v in DTYPES.items()}
_DTYPE_NAMES.update({v: k for k, v in EXTRA_DTYPES.items()})
#: pt_dtype -> the library's short name ("f32"...), as used in manifests and JSON.
_SHORT: Dict[int, str] = {
    1: "bool", 2: "u8", 3: "i8", 4: "u16", 5: "i16", 6: "u32", 7: "i32", 8: "u64", 9: "i64",
    10: "f16", 11: "bf16", 12: "f32", 13: "f64", 14: "c64", 15: "c128", 16: "c32",
    17: "f8e4m3fn", 18: "f8e5m2", 19: "f8e4m3fnuz", 20: "f8e5m2fnuz",
}
_FROM_SHORT: Dict[str, int] = {v: k for k, v in _SHORT.items()}
_SIZES: Dict[int, int] = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 2, 11: 2,
                          12: 4, 13: 8, 14: 8, 15: 16, 16: 4, 17: 1, 18: 1, 19: 1, 20: 1}
# numpy dtype of the same size to carry the bits of each pt_dtype in and out of torch
_BITS: Dict[int, str] = {1: "bool", 2: "uint8", 3: "int8", 4: "int16", 5: "int16", 6: "int32",
                         7: "int32", 8: "int64", 9: "int64", 10: "int16", 11: "int16",
                         12: "int32", 13: "int64", 14: "int64", 15: "complex128", 16: "int32",
                         17: "int8", 18: "int8", 19: "int8", 20: "int8"}
# struct-module format characters of memoryviews (native sizes of this platform).
_FORMATS: Dict[str, int] = {"?": 1, "B": 2, "b": 3, "e": 10, "f": 12, "d": 13}
for _c, _signed in (("h", True), ("H", False), ("i", True), ("I", False), ("l", True),
                    ("L", False), ("q", True), ("Q", False), ("n", True), ("N", False)):
    _size = {"h": 2, "i": 4, "l": ctypes.sizeof(ctypes.c_long),
             "q": 8, "n": ctypes.sizeof(c_size_t)}[_c.lower()]
    _FORMATS[_c] = {(2, True): 5, (2, False): 4, (4, True): 7, (4, False): 6,
                    (8, True): 9, (8, False): 8}[(_size, _signed)]


def _numpy() -> Any:
    """numpy if it can be imported, else None (it is optional)."""
    np = sys.modules.get("numpy")
    if np is not None:
        return np
    try:
        import numpy as np  # noqa: F811
    except ImportError:
        return None
    return np


def _bf16_dtype() -> Any:
    """numpy's bfloat16 dtype (from ml_dtypes) or None."""
    try:
        import ml_dtypes  # type: ignore
    except ImportError:
        return None
    np = _numpy()
    return np.dtype(ml_dtypes.bfloat16) if np is not None else None


def _ml_dtype(name: str) -> Any:
    """numpy dtype for a type numpy lacks, from ml_dtypes / numpy; None if none."""
    np = _numpy()
    if name in ("complex64", "complex128"):
        return np.dtype(name)
    if name == "complex32":
        return None
    try:
        import ml_dtypes  # type: ignore
    except ImportError:
        return None
    t = getattr(ml_dtypes, name, None)
    return np.dtype(t) if t is not None else None


def _to_torch(arr: Any, name: str, what: str) -> Any:
    """A numpy array holding the bits of a tensor of dtype `name` as torch."""
    import torch
    want = getattr(torch, name, None)
    if want is None:
        return arr  # this torch has no such dtype (uint32 in torch < 2.3): the numpy array
    t = torch.from_numpy(arr)
    return t.view(want) if t.dtype != want else t


class RawTensor(NamedTuple):
    """A tensor loaded without a numpy dtype for it (numpy missing, or a
    bfloat16 tensor without ml_dtypes): its bytes (little-endian, C order),
    dtype name (``"float32"``, ``"bfloat16"``...) and shape."""

    data: bytes
    dtype: str
    shape: Tuple[int, ...]


# ---- building a checkpoint -------------------------------------------------------


class _Builder:
    """A pt_checkpoint with the Python objects its borrowed pointers point
    into (kept alive until the write or snapshot call has returned)."""

    def __init__(self) -> None:
        out = c_void_p()
        _lib.check(pt_checkpoint_new(byref(out)), "checkpoint")
        self.ptr = out.value
        self.keep: List[Any] = []
        self._finalizer = weakref.finalize(self, pt_checkpoint_free, self.ptr)

    def free(self) -> None:
        self.keep.clear()
        self._finalizer()

    def add_tensor(self, name: str, value: Any) -> None:
        name_b = _entry_name(name)
        dtype, shape, ptr, nbytes, keep = _tensor_buffer(value, name)
        self.keep.append(keep)
        nd = len(shape)
        shp = (c_uint64 * max(nd, 1))(*shape)
        self.keep.append(shp)
        _lib.check(pt_checkpoint_add_tensor(self.ptr, name_b, dtype, nd, shp, ptr, nbytes),
                   "checkpoint entry %r" % (name,))

    def add_bytes(self, name: str, value: Any) -> None:
        name_b = _entry_name(name)
        ptr, n, keep = _byte_buffer(value)
        self.keep.append(keep)
        _lib.check(pt_checkpoint_add_bytes(self.ptr, name_b, ptr, n),
                   "checkpoint entry %r" % (name,))

    def add_file(self, name: str, path: Any) -> None:
        name_b = _entry_name(name)
        p = _lib.fspath(path)
        if not os.path.isfile(p):
            raise FileNotFoundError("checkpoint entry %r: %r is not a file" % (name, os.fsdecode(p)))
        _lib.check(pt_checkpoint_add_file(self.ptr, name_b, p), "checkpoint entry %r" % (name,))


def _entry_name(name: Any) -> bytes:
    if not isinstance(name, str):
        raise TypeError("checkpoint entry names must be str, not %s" % type(name).__name__)
    return _lib.cname(name, "checkpoint entry name")


def _is_path(v: Any) -> bool:
    return isinstance(v, (str, os.PathLike))


def _is_bytes(v: Any) -> bool:
    return isinstance(v, (bytes, bytearray, memoryview))


def _is_tensor(v: Any) -> bool:
    return hasattr(v, "dtype") and hasattr(v, "shape")


def _torch_to_numpy(t: Any, name: str) -> Tuple[Any, Optional[int]]:
    """A torch tensor as a numpy array (+ the pt_dtype to force for bfloat16,
    which numpy cannot represent: its bits travel as int16)."""
    torch = sys.modules["torch"]
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()  # a copy to host memory (documented cost)
    if getattr(t, "is_quantized", False):
        raise TypeError("checkpoint entry %r: quantized torch dtype %s is not supported"
                        % (name, t.dtype))
    dname = str(t.dtype).split(".")[-1]
    code = DTYPES.get(dname) or EXTRA_DTYPES.get(dname)
    if code in (4, 6, 8, 11, 16, 17, 18, 19, 20):
        # numpy has no such type (or torch cannot convert it): carry the bits
        return t.contiguous().view(getattr(torch, _BITS[code])).numpy(), code
    try:
        return t.contiguous().numpy(), None
    except (TypeError, RuntimeError) as e:
        raise TypeError("checkpoint entry %r: torch dtype %s is not supported (%s)"
                        % (name, t.dtype, e)) from None


def _tensor_buffer(value: Any, name: str) -> Tuple[int, Tuple[int, ...], Any, int, Any]:
    """(pt_dtype, shape, data pointer, byte length, object to keep alive)."""
    np = _numpy()
    forced = None
    mod = type(value).__module__ or ""
    if mod.startswith("torch") and hasattr(value, "detach"):
        if np is None:
            raise TypeError("checkpoint entry %r: torch tensors need numpy" % (name,))
        value, forced = _torch_to_numpy(value, name)
    if np is not None:
        try:
            arr = np.asarray(value)
        except Exception as e:  # a foreign object numpy cannot view
            raise TypeError("checkpoint entry %r: cannot view %s as an array (%s)"
                            % (name, type(value).__name__, e)) from None
        dt = arr.dtype
        if forced is not None:
            code = forced
        else:
            code = DTYPES.get(dt.name)
            if code is None and dt.name in ("complex64", "complex128"):
                code = EXTRA_DTYPES[dt.name]
            elif code is None and dt.name in ("bfloat16",) + tuple(EXTRA_DTYPES):
                code = DTYPES.get(dt.name) or EXTRA_DTYPES[dt.name]  # ml_dtypes
            if code is None or dt.kind not in "biufcV" or dt.fields is not None:
                raise TypeError("checkpoint entry %r: unsupported dtype %s (supported: %s)"
                                % (name, dt, ", ".join(list(DTYPES) + list(EXTRA_DTYPES))))
        if dt.byteorder not in ("=", "|") and dt.byteorder != ("<" if sys.byteorder == "little"
                                                                 else ">"):
            arr = arr.astype(dt.newbyteorder("="))
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.ndim > MAX_NDIM:
            raise ValueError("checkpoint entry %r: %d dimensions (at most %d)"
                             % (name, arr.ndim, MAX_NDIM))
        return code, tuple(int(s) for s in arr.shape), arr.ctypes.data, arr.nbytes, arr
    # Without numpy: the buffer protocol, dtype name from .dtype.
    dname = str(getattr(value, "dtype", ""))
    dname = dname.split(".")[-1]
    code = DTYPES.get(dname)
    if code is None:
        try:
            code = _FORMATS.get(memoryview(value).format.lstrip("@=<"))
        except TypeError:
            code = None
    if code is None:
        raise TypeError("checkpoint entry %r: unsupported dtype %r" % (name, dname))
    try:
        mv = memoryview(value)
    except TypeError:
        raise TypeError("checkpoint entry %r: %s has no buffer (and numpy is not available)"
                        % (name, type(value).__name__)) from None
    if not mv.c_contiguous:
        raise ValueError("checkpoint entry %r: not C-contiguous (install numpy to copy it)"
                         % (name,))
    shape = tuple(int(s) for s in getattr(value, "shape", mv.shape))
    ptr, n, keep = _byte_buffer(mv)
    return code, shape, ptr, n, keep


def _byte_buffer(value: Any) -> Tuple[Any, int, Any]:
    """(pointer, length, object to keep alive) of a bytes-like object,
    without a copy when it is writable or bytes."""
    if isinstance(value, bytes):
        return value, len(value), value
    mv = memoryview(value)
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv
    n = mv.nbytes
    if n == 0:
        return None, 0, mv
    if mv.readonly:
        b = mv.tobytes()
        return b, n, b
    arr = (c_char * n).from_buffer(mv)
    return arr, n, (arr, mv)


def build(data: Any, name: Optional[str]) -> _Builder:
    """A C checkpoint of ``data``: a mapping of entry name -> tensor / bytes /
    path, or a single bytes-like object or path (one blob named ``name``)."""
    b = _Builder()
    try:
        if _tree.is_nested(data):
            leaves, tree = _tree.flatten(data)
            for lf in leaves:
                try:
                    if lf.kind == "bytes":
                        b.add_bytes(lf.name, lf.value)
                    elif lf.kind == "file":
                        b.add_file(lf.name, lf.value)
                    else:
                        b.add_tensor(lf.name, lf.value)
                except TypeError as e:
                    raise TypeError("checkpoint: %s: %s" % (lf.path, e)) from None
            b.keep.append(tree)
            _lib.check(pt_checkpoint_set_structure(b.ptr, tree, len(tree)), "checkpoint structure")
        elif isinstance(data, Mapping):
            if not data:
                raise ValueError("checkpoint: the mapping is empty")
            for k, v in data.items():
                if not isinstance(k, str):
                    raise TypeError("checkpoint entry names must be str, not %s (%r)"
                                    % (type(k).__name__, k))
                if _is_bytes(v):
                    b.add_bytes(k, v)
                elif _is_path(v):
                    b.add_file(k, v)
                elif _is_tensor(v):
                    b.add_tensor(k, v)
                else:
                    raise TypeError(
                        "checkpoint entry %r: unsupported type %s (an array with dtype and "
                        "shape, bytes, or a path)" % (k, type(v).__name__))
        elif _is_bytes(data):
            b.add_bytes("blob" if name is None else name, data)
        elif _is_path(data):
            b.add_file(os.path.basename(os.fsdecode(data)) or "blob" if name is None else name,
                       data)
        else:
            raise TypeError("checkpoint: expected a dict of name -> array, bytes or a path, "
                            "not %s" % type(data).__name__)
    except BaseException:
        b.free()
        raise
    return b


def info_dict(info: CheckpointInfo) -> Dict[str, Any]:
    d = {name: getattr(info, name) for name, _ in CheckpointInfo._fields_}
    for k in ("manifest", "run", "stream"):
        d[k] = d[k].decode("utf-8", "replace")
    if d["step"] == _lib.NO_STEP:
        d["step"] = None
    return d


class PendingCheckpoint:
    """An asynchronous checkpoint (``Recorder.checkpoint(..., wait=False)``):
    its buffers are copied; it is being persisted in the background.

    ``ticket`` numbers it (1, 2, ... per recorder), ``step`` is its step.
    """

    __slots__ = ("ticket", "step", "_writer")

    def __init__(self, ticket: int, step: Optional[int], writer: "Writer") -> None:
        self.ticket = ticket
        self.step = step
        self._writer = writer

    @property
    def done(self) -> bool:
        """True once it is persisted (or failed: :meth:`wait` raises then).
        Background checkpoints are persisted in order, one at a time."""
        w = self._writer
        if w.ptr is None:
            return True  # the recorder was closed, which waited for it
        st = w.status()
        if st["inflight"] == 0:
            return True
        # The library counts synchronous writes as completed too.
        return st["completed"] - w.sync_ok + st["failed"] >= self.ticket

    def wait(self) -> None:
        """Wait until every background checkpoint up to now is persisted;
        raises the first error not reported yet."""
        self._writer.wait()

    def __repr__(self) -> str:
        return "<provtrace.PendingCheckpoint #%d step=%r%s>" % (
            self.ticket, self.step, " done" if self.done else "")


class Writer:
    """A pt_checkpointer bound to a recorder (owned by the Recorder)."""

    def __init__(self, store: StoreHandle, rec_handle: int) -> None:
        opts = CheckpointOptions()
        _lib.check(pt_checkpoint_options_init(byref(opts), CHECKPOINT_OPTIONS_VERSION))
        out = c_void_p()
        _lib.check(pt_checkpointer_open(byref(out), store.ptr, rec_handle, byref(opts)),
                   "checkpointer")
        self.ptr: Optional[int] = out.value
        self.sync_ok = 0

    def write(self, data: Any, step: int, name: Optional[str]) -> Dict[str, Any]:
        b = build(data, name)
        try:
            info = CheckpointInfo()
            _lib.check(pt_checkpointer_write(self.ptr, b.ptr, step, byref(info)), "checkpoint")
            self.sync_ok += 1
            return info_dict(info)
        finally:
            b.free()

    def snapshot(self, data: Any, step: int, name: Optional[str]) -> int:
        b = build(data, name)
        try:
            ticket = c_uint64()
            _lib.check(pt_checkpointer_snapshot(self.ptr, b.ptr, step, byref(ticket)),
                       "checkpoint")
            return ticket.value
        finally:
            b.free()

    def wait(self) -> None:
        if self.ptr is not None:
            _lib.check(pt_checkpointer_wait(self.ptr), "checkpoint")

    def status(self) -> Dict[str, Any]:
        if self.ptr is None:
            raise ClosedError("the recorder is closed")
        st = CheckpointStatus()
        _lib.check(pt_checkpointer_status(self.ptr, byref(st)), "checkpoint status")
        d: Dict[str, Any] = {n: getattr(st, n) for n in
                             ("submitted", "completed", "failed", "inflight", "first_error")}
        d["last"] = info_dict(st.last) if st.completed else None
        return d

    def close(self) -> None:
        p, self.ptr = self.ptr, None
        if p is not None:
            _lib.check(pt_checkpointer_close(p), "checkpoint")


# ---- reading ---------------------------------------------------------------------


_free_reader = _lib.free_with(pt_checkpoint_reader_free)


class _Reader:
    def __init__(self, store: StoreHandle, manifest: str) -> None:
        out = c_void_p()
        _lib.check(pt_checkpoint_reader_open(byref(out), store.ptr, manifest.encode("ascii")),
                   "checkpoint %s" % manifest[:12])
        self.ptr = out.value
        self._finalizer = weakref.finalize(self, _free_reader, self.ptr, store)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "_Reader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def structure(self) -> Optional[bytes]:
        data = c_void_p()
        n = c_size_t()
        _lib.check(pt_checkpoint_reader_structure(self.ptr, byref(data), byref(n)),
                   "checkpoint structure")
        return ctypes.string_at(data.value, n.value) if data.value and n.value else None

    def entries(self) -> List[Dict[str, Any]]:
        out = []
        e = CheckpointEntry()
        for i in range(pt_checkpoint_reader_count(self.ptr)):
            _lib.check(pt_checkpoint_reader_entry(self.ptr, i, byref(e)), "checkpoint entry")
            is_tensor = e.type == ENTRY_TENSOR
            out.append({
                "index": i,
                "name": e.name.decode("utf-8", "replace"),
                "type": "tensor" if is_tensor else "blob",
                "dtype": _DTYPE_NAMES.get(e.dtype, str(e.dtype)) if is_tensor else None,
                "shape": tuple(e.shape[j] for j in range(e.ndim)) if is_tensor else None,
                "size": e.size,
                "chunks": e.chunks,
            })
        return out


class Checkpoint:
    """A stored checkpoint: its manifest id and summary, and its contents
    through :meth:`load` / :meth:`export` (every chunk is checked against
    its hash while reading).

    Attributes: ``manifest`` (hex id), ``step`` (None if none), ``seq`` (of
    its event), ``run``, ``stream``, ``time`` (ns), ``info`` (the summary:
    ``tensors``, ``blobs``, ``logical_bytes``, ``stored_bytes``...).
    """

    def __init__(self, store: StoreHandle, manifest: str, info: Optional[Dict[str, Any]] = None):
        self._store = store
        self.manifest = manifest
        self.info: Dict[str, Any] = dict(info or {})
        self.step: Optional[int] = self.info.get("step")
        self.seq: Optional[int] = self.info.get("seq")
        self.run: Optional[str] = self.info.get("run") or None
        self.stream: Optional[str] = self.info.get("stream") or None
        t = self.info.get("time_ns", self.info.get("time"))
        self.time: Optional[int] = t if isinstance(t, int) else None

    def entries(self) -> List[Dict[str, Any]]:
        """The entries: ``name``, ``type`` (``"tensor"``/``"blob"``),
        ``dtype`` (numpy name), ``shape``, ``size`` (bytes), ``chunks``."""
        with _Reader(self._store, self.manifest) as rd:
            return rd.entries()

    def structure(self) -> Optional[bytes]:
        """The raw structure (MessagePack, FORMAT.md "Checkpoint manifest")
        of a nested checkpoint, or None for a flat one."""
        with _Reader(self._store, self.manifest) as rd:
            return rd.structure()

    def paths(self) -> List[Dict[str, Any]]:
        """What the checkpoint holds, leaf by leaf, as ``provtrace checkpoint
        show`` prints it: ``{"path": "optimizer.state.0.exp_avg", "entry",
        "name", "type", "dtype", "shape", "size"}`` for a tensor or blob,
        ``{"path", "value"}`` for a plain value; depth first through the
        structure (a flat checkpoint: one per entry)."""
        import json as _json

        with _Reader(self._store, self.manifest) as rd:
            out = c_void_p()
            n = c_size_t()
            _lib.check(pt_checkpoint_reader_paths_json(rd.ptr, byref(out), byref(n)), "checkpoint paths")
            try:
                return _json.loads(string_at(out.value, n.value).decode("utf-8"))
            finally:
                _lib.pt_free(out)

    def load(self, names: Optional[Iterable[str]] = None, *, torch: bool = False) -> Any:
        """Read the checkpoint.

        A nested checkpoint (written from nested state: dicts, lists and
        tuples of tensors and plain values) comes back as the same
        structure.  A flat one comes back as a dict: entry name -> tensor
        for tensors, bytes for blobs.  ``names``: only these entries, as a
        flat dict of entry name -> value (:class:`~provtrace.NotFoundError`
        for an unknown one); entry names of a nested checkpoint are the
        paths of its leaves (``optimizer.state.0.exp_avg``).

        Tensors are numpy arrays; with ``torch=True`` torch tensors (on the
        CPU; ``ImportError`` without torch), every torch dtype bit-exact.  As
        numpy, a tensor whose dtype numpy lacks (bfloat16 and float8 without
        ml_dtypes, complex32) or any tensor when numpy is not installed
        comes back as a :class:`RawTensor`.

        Raises :class:`~provtrace.CorruptError` / ``NotFoundError`` naming
        the entry and chunk if a stored chunk is damaged or missing.
        """
        if torch:
            import torch as _torch_mod  # noqa: F401  (ImportError: asked for torch without it)
        with _Reader(self._store, self.manifest) as rd:
            ents = rd.entries()
            tree = rd.structure() if names is None else None
            if tree is not None:
                return _tree.unflatten(tree, lambda i: self._read_entry(rd, ents[i], torch))
            if names is not None:
                if isinstance(names, str):
                    raise TypeError("names must be an iterable of str, not a str")
                wanted = list(names)
                by_name = {e["name"]: e for e in ents}
                missing = [n for n in wanted if n not in by_name]
                if missing:
                    raise NotFoundError(
                        "checkpoint %s: no entry named %s" % (self.manifest[:12],
                                                              ", ".join(map(repr, missing))),
                        PT_ENOTFOUND)
                ents = [by_name[n] for n in wanted]
            return {e["name"]: self._read_entry(rd, e, torch) for e in ents}

    def _read_entry(self, rd: "_Reader", e: Dict[str, Any], as_torch: bool) -> Any:
        np = _numpy()
        i = e["index"]
        what = "checkpoint %s entry %r" % (self.manifest[:12], e["name"])
        dt = None
        code = DTYPES.get(e["dtype"]) or EXTRA_DTYPES.get(e["dtype"]) if e["type"] == "tensor" \
            else None
        if code is not None and np is not None:
            if as_torch and sys.modules["torch"].__dict__.get(e["dtype"]) is not None:
                dt = np.dtype(_BITS[code]) if code in (4, 6, 8, 11, 16, 17, 18, 19, 20) \
                    else np.dtype(e["dtype"])
            elif as_torch and e["dtype"] in DTYPES and e["dtype"] != "bfloat16":
                dt = np.dtype(e["dtype"])  # torch lacks it (uint16/32/64 before 2.3): numpy
                as_torch = False
            elif e["dtype"] in ("bfloat16",) + tuple(EXTRA_DTYPES):
                dt = _ml_dtype(e["dtype"])
            else:
                dt = np.dtype(e["dtype"])
        if dt is not None:
            arr = np.empty(e["shape"], dtype=dt)
            if arr.nbytes != e["size"]:
                raise CorruptError("%s: %d bytes for shape %s %s"
                                   % (what, e["size"], e["shape"], e["dtype"]), PT_ECORRUPT)
            if arr.nbytes:
                _lib.check(pt_checkpoint_reader_read(rd.ptr, i, arr.ctypes.data, arr.nbytes),
                           what)
            if as_torch:
                return _to_torch(arr, e["dtype"], what)
            return arr
        buf = bytearray(e["size"])
        if e["size"]:
            cbuf = (c_char * e["size"]).from_buffer(buf)
            _lib.check(pt_checkpoint_reader_read(rd.ptr, i, cbuf, e["size"]), what)
            del cbuf
        if e["type"] == "tensor":
            return RawTensor(bytes(buf), e["dtype"], tuple(e["shape"]))
        return bytes(buf)

    def export(self, directory: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
        """Write the checkpoint into ``directory`` (created if needed), as
        ``provtrace replay --export`` does (``pt_checkpoint_export``): every
        tensor as ``<name>.npy`` (loadable by ``numpy.load``; bfloat16 is
        widened to float32), every blob as its bytes, and ``index.json``
        mapping entry names to files, dtypes and shapes (names made
        file-safe).  Every chunk is verified; a file appears under its final
        name only once complete.  Returns the parsed ``index.json``.
        complex32 and float8 tensors are written as raw bits (``|V4`` /
        ``|V1``).  Of a nested checkpoint, the entries are exported (named
        by their paths); its structure and plain values are not (use
        :meth:`load` / :meth:`structure`).
        """
        d = os.fspath(directory)
        stats = ExportStats()
        _lib.check(pt_checkpoint_export(self._store.ptr, self.manifest.encode("ascii"),
                                        _lib.fspath(d), byref(stats)),
                   "export of checkpoint %s" % self.manifest[:12])
        with open(os.path.join(d, "index.json"), "r", encoding="utf-8") as f:
            return json.load(f)

    def __repr__(self) -> str:
        return "<provtrace.Checkpoint %s step=%r>" % (self.manifest[:12], self.step)


def list_checkpoints(store: StoreHandle, run: Optional[str]) -> List[Checkpoint]:
    """The checkpoints as the library renders them (``checkpoint ls --json``):
    each ``.info`` is one object of that array."""
    out_p = c_void_p()
    n = c_size_t()
    run_b = None if run is None else _lib.cname(run, "run")
    _lib.check(pt_checkpoint_list_json(store.ptr, run_b, byref(out_p), byref(n)), "checkpoints")
    try:
        docs = json.loads(string_at(out_p, n.value).decode("utf-8"))
    finally:
        _lib.pt_free(out_p)
    return [Checkpoint(store, d["manifest"], d) for d in docs]


def checkpoint_totals(store: Any = None, run: Optional[str] = None) -> Dict[str, Any]:
    """Totals of the checkpoints of ``run`` (None: all runs), as the
    ``checkpoint ls`` summary line shows them: ``checkpoints``,
    ``logical_bytes``, ``added_bytes`` (what each write reported adding),
    ``objects`` and ``stored_bytes`` (the distinct objects the checkpoints
    reference and their bytes on disk, each counted once), ``missing_objects``
    and ``dedup_ratio`` (logical / stored)."""
    st = open_store(store)
    run_b = None if run is None else _lib.cname(run, "run")
    t = CheckpointTotals()
    _lib.check(pt_checkpoint_totals_of(byref(t), st.ptr, run_b), "checkpoint totals")
    return {name: getattr(t, name) for name, _ in CheckpointTotals._fields_}
