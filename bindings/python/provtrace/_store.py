"""The store handle shared by recorders, runs and iterators."""

from __future__ import annotations

import os
import weakref
from ctypes import byref, c_void_p
from typing import Optional, Union

from . import _lib

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class StoreHandle:
    """Owns one ``pt_store *``.  Objects that use the store keep a reference
    to its handle, so the store outlives them."""

    # No close(): the C store is freed when the last object using it (this
    # handle, a Recorder, a Run, an iterator) is gone.
    __slots__ = ("_ptr", "_path", "_finalizer", "__weakref__")

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr
        self._path = _lib.pt_store_path(ptr).decode("utf-8", "surrogateescape")
        self._finalizer = weakref.finalize(self, _lib.pt_store_free, ptr)

    @classmethod
    def open(cls, store: Optional[PathLike], create: bool = False) -> "StoreHandle":
        """Open ``store`` (a path) or, when None, find it like the CLI does
        (``$PROVTRACE_STORE``, then the nearest ``.provtrace/``).

        With ``create``, a path that does not exist yet (or is an empty
        directory) becomes a new store.
        """
        out = c_void_p()
        if store is None:
            _lib.check(_lib.pt_store_open_default(byref(out), None))
            return cls(out.value)
        path = _lib.fspath(store)
        if create and (not os.path.exists(path) or (os.path.isdir(path) and not os.listdir(path))):
            rc = _lib.pt_store_init(byref(out), path)
            if rc == _lib._errors.PT_EEXISTS and out.value:
                # Another process created it between our check and init.
                return cls(out.value)
            _lib.check(rc)
            return cls(out.value)
        _lib.check(_lib.pt_store_open(byref(out), path))
        return cls(out.value)

    @property
    def ptr(self) -> int:
        return self._ptr

    @property
    def path(self) -> str:
        """The store's absolute directory path."""
        return self._path


def open_store(store: Union[None, PathLike, StoreHandle], create: bool = False) -> StoreHandle:
    if isinstance(store, StoreHandle):
        return store
    return StoreHandle.open(store, create=create)
