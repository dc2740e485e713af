"""Encoding Python values into a pt_event builder.

A value is walked once and every part is handed to the typed C setter
(pt_event_int/uint/double/bool/nil/strn/bytes, begin_map/begin_array/end):
no msgpack is produced in Python.  An unsupported value raises before the
event is appended, with the path of the field that holds it.

Builders are per thread (a pt_event is not thread-safe) and reused: one
pt_event_reset per event keeps their memory.
"""

from __future__ import annotations

import sys
import threading
import weakref
from ctypes import byref, c_uint64, c_void_p
from typing import Any, List, Optional, Union

from . import _lib
from .errors import ProvtraceError

_int = _lib.pt_event_int
_uint = _lib.pt_event_uint
_double = _lib.pt_event_double
_bool = _lib.pt_event_bool
_nil = _lib.pt_event_nil
_strn = _lib.pt_event_strn
_bytes = _lib.pt_event_bytes
_strn_gil = _lib.pt_event_strn_gil
_bytes_gil = _lib.pt_event_bytes_gil
_GIL_COPY_MAX = _lib.GIL_COPY_MAX
_begin_map = _lib.pt_event_begin_map
_begin_array = _lib.pt_event_begin_array
_end = _lib.pt_event_end

_INT64_MIN = _lib.INT64_MIN
_INT64_MAX = _lib.INT64_MAX
_UINT64_MAX = _lib.UINT64_MAX


# str -> its UTF-8 bytes, for names and map keys already checked (no NUL: C
# strings would silently cut them there).  A training loop uses a few
# hundred distinct names at most; the dict lookup is also cheaper than
# str.encode().  Bounded: past the limit names are checked but not kept.
key_cache: dict = {}
_KEY_CACHE_MAX = 65536


def key_bytes(k: Any, what: str = "map key") -> bytes:
    """``k`` as C-string bytes: a str without NUL characters, valid UTF-8.

    TypeError / ValueError otherwise (no path: callers add it)."""
    if not isinstance(k, str):
        raise TypeError("%s %r is not a str (type %s)" % (what, k, type(k).__name__))
    if "\0" in k:
        raise ValueError("%s %r contains a NUL character" % (what, k))
    try:
        b = str.__str__(k).encode()
    except UnicodeEncodeError as e:
        raise ValueError("%s %r is not valid UTF-8 (%s)" % (what, k, e.reason)) from None
    if len(key_cache) < _KEY_CACHE_MAX:
        key_cache[k] = b
    return b


_key_get = key_cache.get


class Builder:
    """Owns one pt_event builder."""

    __slots__ = ("ptr", "busy", "seq", "seq_ref", "_finalizer", "__weakref__")

    def __init__(self) -> None:
        out = c_void_p()
        _lib.check(_lib.pt_event_new(byref(out), b"note", None))
        self.ptr = out.value
        self.busy = False
        # The out-parameter of pt_recorder_append, allocated once.
        self.seq = c_uint64()
        self.seq_ref = byref(self.seq)
        self._finalizer = weakref.finalize(self, _lib.pt_event_free, self.ptr)


_tls = threading.local()


def thread_builder() -> Builder:
    """The calling thread's builder, marked busy; release with ``b.busy = False``.

    If the thread's builder is already in use (an event recorded from a
    signal handler while the thread was encoding another one) a fresh
    builder is returned instead, so the two never mix.
    """
    try:
        b = _tls.builder
    except AttributeError:
        b = _tls.builder = Builder()
    if b.busy:
        b = Builder()
    b.busy = True
    return b


class FieldError(Exception):
    """Raised while encoding; carries the exception to raise and the path
    of the field (built while unwinding, so the success path pays nothing)."""

    def __init__(self, exc: BaseException, part: Union[str, int]) -> None:
        super().__init__()
        self.exc = exc
        self.parts: List[Union[str, int]] = [part]

    def path(self) -> str:
        out = ""
        for p in reversed(self.parts):
            if isinstance(p, int):
                out += "[%d]" % p
            elif out:
                out += "." + p
            else:
                out = p
        return out


def _c_fail(rc: int) -> ProvtraceError:
    return _lib.last_error(rc)


def encode(ev: int, key: Optional[bytes], v: Any, part: Union[str, int]) -> None:
    """Encode ``v`` under ``key`` (None inside an array) into builder ``ev``.

    ``part`` names this value in an error path: a key, or an array index.
    """
    t = type(v)
    if t is float:
        rc = _double(ev, key, v)
    elif t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            rc = _int(ev, key, v)
        elif 0 <= v <= _UINT64_MAX:
            rc = _uint(ev, key, v)
        else:
            raise FieldError(
                ValueError("integer %d is out of range (int64 or uint64)" % v), part
            )
    elif t is str:
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FieldError(ValueError("string is not valid UTF-8 (%s)" % e.reason), part) from None
        n = len(b)
        rc = (_strn_gil if n <= _GIL_COPY_MAX else _strn)(ev, key, b, n)
    elif t is bool:
        rc = _bool(ev, key, 1 if v else 0)
    elif v is None:
        rc = _nil(ev, key)
    elif t is dict:
        rc = _begin_map(ev, key)
        if rc:
            raise FieldError(_c_fail(rc), part)
        try:
            encode_items(ev, v)
        except FieldError as fe:
            fe.parts.append(part)
            raise
        rc = _end(ev)
    elif t is list or t is tuple:
        rc = _begin_array(ev, key)
        if rc:
            raise FieldError(_c_fail(rc), part)
        try:
            i = 0
            for x in v:
                encode(ev, None, x, i)
                i += 1
        except FieldError as fe:
            fe.parts.append(part)
            raise
        rc = _end(ev)
    elif t is bytes:
        n = len(v)
        rc = (_bytes_gil if n <= _GIL_COPY_MAX else _bytes)(ev, key, v, n)
    else:
        encode_other(ev, key, v, part)
        return
    if rc:
        raise FieldError(_c_fail(rc), part)


def encode_items(ev: int, d: Any) -> None:
    """Encode the items of mapping ``d`` (str keys) into the open map of
    ``ev`` (the body itself at the top level).

    The common scalar values are handled inline: a Python call per value
    costs as much as the C call that stores it.
    """
    for k, x in d.items():
        kb = _key_get(k) if type(k) is str else None
        if kb is None:
            try:
                kb = key_bytes(k)
            except (TypeError, ValueError) as e:
                raise FieldError(e, repr(k)) from None
        t = type(x)
        if t is float:
            rc = _double(ev, kb, x)
        elif t is str and len(x) <= 16384:
            try:
                b = x.encode()
            except UnicodeEncodeError:
                encode(ev, kb, x, k)  # raises with the field's path
                continue
            rc = _strn_gil(ev, kb, b, len(b))
        elif t is int and _INT64_MIN <= x <= _INT64_MAX:
            rc = _int(ev, kb, x)
        else:
            encode(ev, kb, x, k)
            continue
        if rc:
            raise FieldError(_c_fail(rc), k)


def encode_other(ev: int, key: Optional[bytes], v: Any, part: Union[str, int]) -> None:
    """Subclasses and the less common types (kept off the fast path)."""
    if isinstance(v, (bytearray, memoryview)):
        b = bytes(v) if isinstance(v, bytearray) else v.tobytes()
        rc = _bytes(ev, key, b, len(b))
        if rc:
            raise FieldError(_c_fail(rc), part)
        return
    np = sys.modules.get("numpy")
    if np is not None and isinstance(v, np.generic):
        item = v.item()
        if isinstance(item, np.generic) or type(item) is type(v):
            raise FieldError(TypeError("unsupported type %s" % _tname(v)), part)
        encode(ev, key, item, part)
        return
    # Subclasses of the supported types (IntEnum, str enums, namedtuples,
    # OrderedDict...) are encoded as their base type.
    if isinstance(v, bool):
        encode(ev, key, bool(v), part)
    elif isinstance(v, int):
        encode(ev, key, int.__int__(v), part)
    elif isinstance(v, float):
        encode(ev, key, float.__float__(v), part)
    elif isinstance(v, str):
        encode(ev, key, str.__str__(v), part)  # the text, not a subclass's __str__
    elif isinstance(v, bytes):
        encode(ev, key, bytes(v), part)
    elif isinstance(v, dict):
        encode(ev, key, dict(v), part)
    elif isinstance(v, (list, tuple)):
        encode(ev, key, list(v), part)
    else:
        raise FieldError(TypeError("unsupported type %s" % _tname(v)), part)


def _tname(v: Any) -> str:
    t = type(v)
    mod = t.__module__ or ""
    if mod == "numpy" or mod.startswith("numpy."):
        return "numpy." + t.__qualname__
    return t.__qualname__


def raise_field_error(fe: FieldError, what: str) -> None:
    """Re-raise the error of ``fe`` with ``what`` ("decision 'lr'") and the
    field path in the message, keeping its class."""
    exc = fe.exc
    msg = "%s: field '%s': %s" % (what, fe.path(), exc)
    if isinstance(exc, ProvtraceError):
        new: BaseException = type(exc)(msg, exc.code)
    else:
        new = type(exc)(msg)
    raise new from None
