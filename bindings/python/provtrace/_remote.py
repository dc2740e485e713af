"""Remotes: a store's history in an S3-compatible bucket (``provtrace/remote.h``).

``remote_add``/``remote_remove``/``remotes`` manage the store's remotes;
``push`` uploads what a remote lacks; ``clone`` makes a verified local store
from a bucket.  Credentials are never passed here: the library finds them the
way AWS tools do (``AWS_ACCESS_KEY_ID``..., ``AWS_PROFILE``), see docs/REMOTE.md.
"""

from __future__ import annotations

from ctypes import CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int, c_size_t, c_uint, c_uint64, c_void_p
from typing import Any, Callable, Dict, List, Optional, Union

from . import _lib
from ._store import PathLike, StoreHandle, open_store

__all__ = ["remote_add", "remote_remove", "remotes", "push", "clone", "remote_read_stats"]

_ProgressCB = CFUNCTYPE(None, c_void_p, c_uint64, c_uint64, c_uint64)


class _Remote(Structure):
    _fields_ = [("name", c_char_p), ("url", c_char_p), ("endpoint", c_char_p), ("region", c_char_p)]


class _PushOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("run", c_char_p),
        ("jobs", c_uint),
        ("progress", _ProgressCB),
        ("progress_payload", c_void_p),
        ("endpoint", c_char_p),
        ("region", c_char_p),
        ("full", c_int),
    ]


class _PushStats(Structure):
    _fields_ = [(n, c_uint64) for n in
                ("streams", "items", "transferred", "present", "bytes", "requests", "retries")]


for _struct, _name in ((_Remote, "pt_remote"), (_PushOptions, "pt_push_options"), (_PushStats, "pt_push_stats")):
    _lib._check_layout(_struct, _name)

PUSH_OPTIONS_VERSION = 1

_pt_remote_add = _lib.declare("pt_remote_add", c_int, [c_void_p, c_char_p, c_char_p, c_char_p, c_char_p])
_pt_remote_remove = _lib.declare("pt_remote_remove", c_int, [c_void_p, c_char_p])
_pt_remote_list = _lib.declare("pt_remote_list", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
_pt_remote_list_free = _lib.declare("pt_remote_list_free", None, [c_void_p, c_size_t])
_pt_push = _lib.declare("pt_push", c_int, [c_void_p, c_char_p, POINTER(_PushOptions), POINTER(_PushStats)])
_pt_clone = _lib.declare("pt_clone", c_int, [c_char_p, c_char_p, POINTER(_PushOptions), POINTER(_PushStats)])

Store = Union[None, PathLike, StoreHandle]


def _opt_str(v: Optional[str], what: str) -> Optional[bytes]:
    return None if v is None else _lib.cname(v, what)


def remote_add(name: str, url: str, *, store: Store = None, endpoint: Optional[str] = None,
               region: Optional[str] = None) -> None:
    """Add remote ``name`` for ``url`` (``s3://BUCKET[/PREFIX]``), optionally
    with an ``endpoint`` (``http[s]://host[:port]``) and a ``region``.
    Raises ExistsError if the name is taken, InvalidError if malformed."""
    st = open_store(store)
    _lib.check(_pt_remote_add(st.ptr, _lib.cname(name, "remote"), _lib.cname(url, "url"),
                              _opt_str(endpoint, "endpoint"), _opt_str(region, "region")))


def remote_remove(name: str, *, store: Store = None) -> None:
    """Remove remote ``name`` (NotFoundError if there is none)."""
    st = open_store(store)
    _lib.check(_pt_remote_remove(st.ptr, _lib.cname(name, "remote")))


def remotes(store: Store = None) -> List[Dict[str, Optional[str]]]:
    """The store's remotes, sorted by name: dicts with ``name``, ``url``,
    ``endpoint`` and ``region`` (None when not set)."""
    st = open_store(store)
    p = c_void_p()
    n = c_size_t()
    _lib.check(_pt_remote_list(st.ptr, byref(p), byref(n)))
    out: List[Dict[str, Optional[str]]] = []
    try:
        if p.value:
            arr = (_Remote * n.value).from_address(p.value)
            for r in arr:
                out.append({k: (getattr(r, k).decode() if getattr(r, k) is not None else None)
                            for k in ("name", "url", "endpoint", "region")})
    finally:
        _pt_remote_list_free(p, n.value)
    return out


def _options(run, jobs, endpoint, region, progress, full=False):
    o = _PushOptions()
    o.full = 1 if full else 0
    o.version = PUSH_OPTIONS_VERSION
    o.run = _opt_str(run, "run")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 0 or jobs > 64:
        raise ValueError("jobs must be an int in [0, 64], not %r" % (jobs,))
    o.jobs = jobs
    o.endpoint = _opt_str(endpoint, "endpoint")
    o.region = _opt_str(region, "region")
    cb = None
    if progress is not None:
        if not callable(progress):
            raise TypeError("progress must be callable(done, total, bytes)")

        def _cb(_payload, done, total, nbytes):
            try:
                progress(done, total, nbytes)
            except Exception:  # an exception cannot cross the C library
                pass

        cb = _ProgressCB(_cb)
        o.progress = cb
    return o, cb


def _stats(s: _PushStats) -> Dict[str, int]:
    return {n: getattr(s, n) for n, _ in _PushStats._fields_}


def push(remote: Optional[str] = None, *, store: Store = None, run: Optional[str] = None, jobs: int = 0,
         endpoint: Optional[str] = None, region: Optional[str] = None,
         progress: Optional[Callable[[int, int, int], None]] = None, full: bool = False) -> Dict[str, int]:
    """Upload to ``remote`` (a configured name or an ``s3://`` URL; None: the
    store's only remote) what it lacks of the store's history (or of ``run``).
    Idempotent and resumable; see ``provtrace push``.  Returns the counts:
    ``streams``, ``items``, ``transferred``, ``present``, ``bytes``,
    ``requests``, ``retries``.  ``progress(done, total, bytes)`` is called
    from the library's worker threads, one call at a time.  ``full``: check
    every object of old history too (repairs a bucket that lost objects)."""
    st = open_store(store)
    if remote is None:
        rs = remotes(st)
        if len(rs) != 1:
            raise ValueError("several remotes: name one" if rs else "no remote configured (remote_add)")
        remote = rs[0]["name"]
    o, keep = _options(run, jobs, endpoint, region, progress, full)
    s = _PushStats()
    _lib.check(_pt_push(st.ptr, _lib.cname(remote, "remote"), byref(o), byref(s)))
    del keep
    return _stats(s)


def clone(url: str, directory: PathLike, *, run: Optional[str] = None, jobs: int = 0,
          endpoint: Optional[str] = None, region: Optional[str] = None,
          progress: Optional[Callable[[int, int, int], None]] = None) -> Dict[str, int]:
    """Make a new store at ``directory`` from the bucket at ``url``
    (``s3://...``), every byte checked, then verified (CorruptError naming
    what fails).  Returns the counts, as :func:`push`."""
    o, keep = _options(run, jobs, endpoint, region, progress)
    s = _PushStats()
    _lib.check(_pt_clone(_lib.cname(url, "url"), _lib.fspath(directory), byref(o), byref(s)))
    del keep
    return _stats(s)


_pt_store_remote_stats = _lib.declare("pt_store_remote_stats", c_int, [c_void_p, POINTER(_PushStats)])


def remote_read_stats(source: Any) -> Dict[str, int]:
    """What a store read in place from a bucket (``open_run(run,
    store="s3://...")``) has read so far: ``requests``, ``retries`` and
    ``bytes`` (the other counts are 0).  ``source`` is a :class:`Run` or a
    store handle; InvalidError for a local store."""
    st = getattr(source, "_store", source)
    if not isinstance(st, StoreHandle):
        raise TypeError("remote_read_stats needs a Run (or a store handle), not %s" % type(source).__name__)
    s = _PushStats()
    _lib.check(_pt_store_remote_stats(st.ptr, byref(s)))
    return _stats(s)
