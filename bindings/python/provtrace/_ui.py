"""The local read-only web UI (``pt_ui_start``): :func:`ui` / :class:`UI`."""

from __future__ import annotations

import os
import weakref
from ctypes import byref, c_void_p
from typing import Optional

from . import _lib
from ._store import PathLike, StoreHandle, open_store

__all__ = ["ui", "UI"]


class UI:
    """A running UI server (threads inside the library).  ``url`` is where
    it answers; :meth:`stop` (or leaving the ``with`` block, or garbage
    collection) stops it."""

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, _lib.pt_ui_stop, ptr)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        self._check()
        return _lib.pt_ui_url(self._ptr).decode()

    @property
    def port(self) -> int:
        self._check()
        return int(_lib.pt_ui_port(self._ptr))

    @property
    def remote(self) -> bool:
        """True when it listens on an address other hosts can reach."""
        self._check()
        return bool(_lib.pt_ui_is_remote(self._ptr))

    @property
    def stopped(self) -> bool:
        return not self._finalizer.alive

    def _check(self) -> None:
        if not self._finalizer.alive:
            raise _lib._errors.ClosedError("the UI was stopped")

    def stop(self) -> None:
        """Stop serving (waits for the requests being answered).  Idempotent."""
        self._finalizer()

    def __enter__(self) -> "UI":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return "<provtrace.UI %s>" % ("stopped" if self.stopped else self.url)


def ui(store: Optional[PathLike | StoreHandle] = None, *, port: int = 0, bind: Optional[str] = None,
       allow_remote: bool = False, threads: int = 4) -> UI:
    """Serve the store read-only over HTTP (as ``provtrace ui``): the runs
    with a query box, each run's report, charts that follow a recording run.
    ``store``: a path (None: found like the CLI does); ``port`` 0: a free
    one; ``bind``: a numeric address (default ``127.0.0.1``); a non-loopback
    one needs ``allow_remote=True`` (no authentication: anyone who can
    connect reads every run).  Returns a :class:`UI` (``.url``, ``.stop()``,
    a context manager).  :class:`~provtrace.InvalidError` for bad options,
    :class:`~provtrace.StorageError` when the port cannot be bound."""
    for name, v, hi in (("port", port, 65535), ("threads", threads, 64)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s must be an int, not %s" % (name, type(v).__name__))
        if not 0 <= v <= hi:
            raise ValueError("%s must be within 0..%d" % (name, hi))
    path = os.fsencode(open_store(store).path)
    o = _lib.UiOptions()
    _lib.check(_lib.pt_ui_options_init(byref(o), _lib.UI_OPTIONS_VERSION))
    o.port = port
    o.bind = None if bind is None else _lib.cname(bind, "bind address")
    o.allow_remote = 1 if allow_remote else 0
    o.threads = threads
    h = c_void_p()
    _lib.check(_lib.pt_ui_start(byref(h), path, byref(o)))
    return UI(h.value)
