"""provtrace.seal(): seal the open segment of streams whose writer is gone (``pt_store_seal``)."""

from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_size_t, c_uint64, c_void_p
from typing import Any, Dict, List, Optional, Union

from . import _lib
from ._store import PathLike, StoreHandle, open_store

_RESULTS = {0: "sealed", 1: "nothing", 2: "locked", 3: "failed"}


class _SealEntry(Structure):
    _fields_ = [
        ("run", c_char_p),
        ("stream", c_char_p),
        ("result", c_int),
        ("code", c_int),
        ("events", c_uint64),
        ("torn_bytes", c_uint64),
        ("message", c_char_p),
    ]


class _SealReport(Structure):
    _fields_ = [("v", POINTER(_SealEntry)), ("n", c_size_t)]


_pt_store_seal = _lib.declare("pt_store_seal", c_int, [c_void_p, c_char_p, c_char_p, POINTER(c_void_p)])
_pt_seal_report_free = _lib.declare("pt_seal_report_free", None, [c_void_p])


def seal(run: Optional[str] = None, stream: Optional[str] = None,
         store: Union[None, PathLike, StoreHandle] = None) -> List[Dict[str, Any]]:
    """Seal every stream (or those of ``run``, or ``run``/``stream``) whose
    writer is gone: a torn tail is cut and recorded as a ``recovery`` event,
    as reopening the stream would, and the open segment is sealed so the
    archive job can take it.  Streams with a live writer are skipped
    (``"locked"``), which is not an error.

    Returns one dict per stream: ``run``, ``stream``, ``result`` (``"sealed"``,
    ``"nothing"``, ``"locked"`` or ``"failed"``), ``events``, ``torn_bytes``,
    ``message``.  Raises the mapped :class:`ProvtraceError` if any stream
    failed (the others are still sealed), or for an unknown run/stream.
    """
    st = open_store(store)
    rp = c_void_p()
    rc = _pt_store_seal(
        st.ptr,
        _lib.cname(run, "run") if run is not None else None,
        _lib.cname(stream, "stream") if stream is not None else None,
        byref(rp),
    )
    out: List[Dict[str, Any]] = []
    if rp.value:
        rep = _SealReport.from_address(rp.value)
        for i in range(rep.n):
            e = rep.v[i]
            out.append({
                "run": e.run.decode(),
                "stream": e.stream.decode(),
                "result": _RESULTS.get(e.result, "failed"),
                "events": e.events,
                "torn_bytes": e.torn_bytes,
                "message": e.message.decode("utf-8", "replace"),
            })
        _pt_seal_report_free(rp)
    _lib.check(rc, "seal")
    return out
