"""Datasets: hashed manifests of the data a run trained on (C: provtrace/dataset.h).

:meth:`provtrace.Recorder.dataset` records one; :func:`hash_dataset`
computes a dataset's content id without recording it; :func:`verify_datasets`
re-hashes the files of a run's datasets on disk and names each one that
changed or is missing.  The hashing is done by the library (parallel,
streaming); the GIL is released while it runs.
"""

import os
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, cast, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint,
                    c_uint32, c_uint64, c_void_p)
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _lib
from ._store import open_store

PROGRESS_FN = CFUNCTYPE(None, c_uint64, c_uint64, c_uint64, c_uint64, c_void_p)


class _Options(Structure):
    _fields_ = [("version", c_uint), ("threads", c_uint32), ("store", c_int), ("progress", c_void_p),
                ("progress_payload", c_void_p)]


class _Info(Structure):
    _fields_ = [("id", c_char * 65), ("content", c_char * 65), ("files", c_uint64), ("size", c_uint64),
                ("seq", c_uint64)]


class _Entry(Structure):
    _fields_ = [("path", c_char_p), ("size", c_uint64), ("sha256", c_char * 65)]


class _Check(Structure):
    _fields_ = [("dataset", c_char_p), ("id", c_char_p), ("path", c_char_p), ("file", c_char_p),
                ("status", c_int), ("size", c_uint64), ("found_size", c_uint64), ("sha256", c_char * 65),
                ("found_sha256", c_char * 65), ("message", c_char_p)]


class _VerifyStats(Structure):
    _fields_ = [("datasets", c_uint64), ("skipped", c_uint64), ("files", c_uint64), ("ok", c_uint64),
                ("changed", c_uint64), ("missing", c_uint64), ("bytes", c_uint64)]


for _s, _n in ((_Options, "pt_dataset_options"), (_Info, "pt_dataset_info"), (_Entry, "pt_dataset_entry"),
               (_Check, "pt_dataset_check"), (_VerifyStats, "pt_dataset_verify_stats")):
    _lib._check_layout(_s, _n)

CHECK_CB = CFUNCTYPE(c_int, POINTER(_Check), c_void_p)
_OPTIONS_VERSION = 1
STATUS = {0: "ok", 1: "changed", 2: "missing"}

_new = _lib.declare("pt_dataset_new", c_int, [POINTER(c_void_p)])
_free = _lib.declare("pt_dataset_free", None, [c_void_p])
_add_path = _lib.declare("pt_dataset_add_path", c_int, [c_void_p, c_char_p])
_add_bytes = _lib.declare("pt_dataset_add_bytes", c_int, [c_void_p, c_char_p, c_void_p, c_size_t])
_hash = _lib.declare("pt_dataset_hash", c_int, [c_void_p, POINTER(_Options), POINTER(_Info)])
_count = _lib.declare("pt_dataset_count", c_size_t, [c_void_p])
_entry_get = _lib.declare("pt_dataset_entry_get", c_int, [c_void_p, c_size_t, POINTER(_Entry)])
_root = _lib.declare("pt_dataset_root", c_char_p, [c_void_p])
_record = _lib.declare("pt_dataset_record", c_int,
                       [c_void_p, c_char_p, c_char_p, c_void_p, c_int64, POINTER(_Options), POINTER(_Info)])
_verify = _lib.declare("pt_dataset_verify", c_int,
                       [c_void_p, c_char_p, c_char_p, c_char_p, POINTER(_Options), CHECK_CB, c_void_p,
                        POINTER(_VerifyStats)])


def _buffer(obj: Any, what: str) -> Tuple[Any, int, int]:
    """(keep-alive, address, bytes) of an array's contents in C order."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        return b, cast(c_char_p(b), c_void_p).value or 0, len(b)
    mod = type(obj).__module__.split(".")[0]
    if mod == "torch" and hasattr(obj, "data_ptr"):
        t = obj.detach()
        if t.device.type != "cpu":
            t = t.cpu()  # documented: a device tensor is copied to host memory
        t = t.contiguous()
        return t, t.data_ptr(), t.numel() * t.element_size()
    if hasattr(obj, "__array_interface__"):
        import numpy as np

        a = np.ascontiguousarray(obj)
        if a.dtype.hasobject:
            raise TypeError("%s: an array of Python objects has no bytes to hash" % what)
        return a, a.ctypes.data, a.nbytes
    raise TypeError("%s: expected a numpy array, a torch tensor or bytes, not %s" % (what, type(obj).__name__))


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _build(paths_or_arrays: Any, what: str) -> Tuple[int, List[Any]]:
    """A new pt_dataset filled from the Python value; returns (handle, keep-alive)."""
    keep: List[Any] = []
    out = c_void_p()
    _lib.check(_new(byref(out)))
    h = out.value
    try:
        v = paths_or_arrays
        if _is_path(v):
            items: List[Tuple[Optional[str], Any]] = [(None, v)]
        elif isinstance(v, dict):
            items = [(k, x) for k, x in v.items()]
            for k, _ in items:
                if not isinstance(k, str):
                    raise TypeError("%s: dict keys name the entries and must be str, not %s"
                                    % (what, type(k).__name__))
        elif isinstance(v, (list, tuple)):
            if not v:
                raise ValueError("%s: nothing to record (an empty list)" % what)
            items = [(None if _is_path(x) else str(i), x) for i, x in enumerate(v)]
        else:
            items = [("0", v)]
        kinds = {_is_path(x) for _, x in items}
        if len(kinds) > 1:
            raise TypeError("%s: give paths or arrays, not both" % what)
        for name, x in items:
            if _is_path(x):
                if name is not None and isinstance(v, dict):
                    raise TypeError("%s: a dict maps names to arrays; give paths as a list" % what)
                _lib.check(_add_path(h, _lib.fspath(x)), what)
            else:
                ka, addr, n = _buffer(x, "%s entry %r" % (what, name))
                keep.append(ka)
                _lib.check(_add_bytes(h, _lib.cname(name, "dataset entry name"), addr, n), what)
        return h, keep
    except BaseException:
        _free(h)
        raise


def _options(threads: int, store: bool) -> _Options:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError("threads must be an int >= 0 (0: one per CPU)")
    o = _Options()
    o.version = _OPTIONS_VERSION
    o.threads = threads
    o.store = 1 if store else 0
    return o


def _entries(h: int) -> List[Dict[str, Any]]:
    out = []
    e = _Entry()
    for i in range(_count(h)):
        _lib.check(_entry_get(h, i, byref(e)))
        out.append({"path": e.path.decode("utf-8", "surrogateescape"), "size": e.size,
                    "sha256": e.sha256.decode("ascii")})
    return out


def hash_dataset(paths_or_arrays: Any, *, threads: int = 0, entries: bool = True) -> Dict[str, Any]:
    """Hash a dataset without recording it: ``{"id", "files", "size",
    "root", "entries": [{"path", "size", "sha256"}, ...]}`` (``root`` is
    None for arrays).  Accepts what :meth:`Recorder.dataset` accepts."""
    h, keep = _build(paths_or_arrays, "dataset")
    try:
        info = _Info()
        _lib.check(_hash(h, byref(_options(threads, False)), byref(info)), "dataset")
        root = _root(h)
        out = {"id": info.id.decode("ascii"), "files": info.files, "size": info.size,
               "root": os.fsdecode(root) if root else None}
        if entries:
            out["entries"] = _entries(h)
        return out
    finally:
        _free(h)
        del keep


def record(rec_handle: int, name: str, paths_or_arrays: Any, role: str, store: bool, step: int,
           threads: int) -> Dict[str, Any]:
    name_b = _lib.cname(name, "dataset name")
    role_b = _lib.cname(role, "dataset role")
    what = "dataset %r" % name
    h, keep = _build(paths_or_arrays, what)
    try:
        info = _Info()
        _lib.check(_record(rec_handle, name_b, role_b, h, step, byref(_options(threads, store)), byref(info)), what)
        root = _root(h)
        return {"name": name, "id": info.id.decode("ascii"), "role": role, "files": info.files,
                "size": info.size, "seq": info.seq, "root": os.fsdecode(root) if root else None,
                "stored": bool(store), "content": info.content.decode("ascii") or None}
    finally:
        _free(h)
        del keep


def verify_datasets(run: str, *, store: Any = None, stream: Optional[str] = None,
                    root: Union[None, str, os.PathLike] = None, threads: int = 0) -> Dict[str, Any]:
    """Re-hash on disk the files of the datasets in effect at the end of
    ``run`` (the last ``dataset`` event of each name), under ``root`` if
    given, else where each was recorded.  Returns ``{"ok": bool,
    "datasets", "skipped", "files", "changed", "missing", "bytes",
    "problems": [{"dataset", "id", "path", "file", "status"
    ("changed"|"missing"), "size", "found_size", "sha256",
    "found_sha256", "message"}, ...]}``."""
    st = open_store(store)
    problems: List[Dict[str, Any]] = []

    def cb(cp, _payload):
        c = cp.contents
        problems.append({
            "dataset": c.dataset.decode("utf-8", "replace"), "id": c.id.decode("ascii"),
            "path": c.path.decode("utf-8", "surrogateescape"), "file": os.fsdecode(c.file),
            "status": STATUS.get(c.status, str(c.status)), "size": c.size, "found_size": c.found_size,
            "sha256": c.sha256.decode("ascii"), "found_sha256": c.found_sha256.decode("ascii") or None,
            "message": c.message.decode("utf-8", "replace") if c.message else None})
        return 0

    cfn = CHECK_CB(cb)
    vs = _VerifyStats()
    _lib.check(_verify(st.ptr, _lib.cname(run, "run"), _lib.cname(stream, "stream") if stream is not None else None,
                       _lib.fspath(root) if root is not None else None, byref(_options(threads, False)), cfn, None,
                       byref(vs)), "verify datasets of %r" % run)
    out: Dict[str, Any] = {k: getattr(vs, k) for k, _ in _VerifyStats._fields_}
    out["ok"] = not (vs.changed or vs.missing)
    out["problems"] = problems
    return out
