"""Pictures of runs: one self-contained HTML report (``pt_report_html``).

:meth:`Run.report` writes the report of one run (and of the runs given with
``compare=`` beside it); :func:`report` takes run names.  The page is made in
C, the same page ``provtrace report`` writes: no Python per event.
"""

from __future__ import annotations

import os
import tempfile
from ctypes import POINTER, byref, c_char_p, c_size_t, c_void_p, string_at
from typing import Any, Iterable, Optional, Sequence, Union

from . import _lib
from ._store import PathLike, StoreHandle, open_store

__all__ = ["report", "report_html", "html_escape"]

Store = Union[None, PathLike, StoreHandle]


def _names(runs: Any) -> list:
    if isinstance(runs, (str, bytes)) or hasattr(runs, "name"):
        runs = [runs]
    out = []
    for r in runs:
        name = r.name if hasattr(r, "name") and not isinstance(r, str) else r
        out.append(_lib.cname(name, "run"))
    if not out:
        raise ValueError("report: no run given")
    return out


def report_html(runs: Any, store: Store = None, *, x: str = "step", log: bool = False,
                metrics: Optional[Iterable[str]] = None, verify: bool = True, width: int = 960,
                title: Optional[str] = None) -> str:
    """The report page of ``runs`` (a name, a :class:`Run`, or a list of
    them, up to 16) as a str.  ``x``: ``"step"`` or ``"time"``; ``log``: log
    scale; ``metrics``: only these names; ``verify``: verify the runs and
    show the result (the slow part on a large run); ``width``: plot width in
    pixel columns (100..4000); ``title``: the page title.

    Raises :class:`~provtrace.NotFoundError` for a missing run,
    :class:`~provtrace.InvalidError` for bad arguments (also ValueError /
    TypeError from Python's own checks)."""
    if x not in ("step", "time"):
        raise ValueError("x must be \"step\" or \"time\", not %r" % (x,))
    if isinstance(width, bool) or not isinstance(width, int):
        raise TypeError("width must be an int, not %s" % type(width).__name__)
    handle = store if isinstance(store, StoreHandle) else None
    if handle is None and store is None:
        first = runs[0] if isinstance(runs, (list, tuple)) and runs else runs
        handle = getattr(first, "_store", None)
    if handle is None:
        handle = open_store(store)
    names = _names(runs)
    arr = (c_char_p * len(names))(*names)
    o = _lib.ReportOptions()
    _lib.check(_lib.pt_report_options_init(byref(o), _lib.REPORT_OPTIONS_VERSION))
    o.x_time = 1 if x == "time" else 0
    o.log_scale = 1 if log else 0
    o.verify = 1 if verify else 0
    o.width = width if 0 < width < 1 << 31 else 0
    mlist = [] if metrics is None else [_lib.cname(m, "metric name") for m in
                                        ([metrics] if isinstance(metrics, str) else metrics)]
    marr = (c_char_p * max(1, len(mlist)))(*mlist)
    if mlist:
        o.metrics = marr
        o.nmetrics = len(mlist)
    title_b = None if title is None else _lib.cname(title, "title")
    o.title = title_b
    out = c_void_p()
    n = c_size_t()
    _lib.check(_lib.pt_report_html(handle.ptr, arr, len(names), byref(o), byref(out), byref(n)))
    try:
        return string_at(out.value, n.value).decode("utf-8")
    finally:
        _lib.pt_free(out)


def report(runs: Any, path: PathLike, store: Store = None, **options: Any) -> str:
    """Write the report of ``runs`` (see :func:`report_html` for the
    options) to the file ``path`` (replaced atomically); returns the path."""
    html = report_html(runs, store, **options)
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        # /dev/stdout, a FIFO: written in place, never replaced by a rename
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
        return path
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def html_escape(text: str) -> str:
    """The escaping every page of the report uses (``pt_html_escape``):
    ``& < > " '`` as references, control characters as their Unicode
    control pictures."""
    if not isinstance(text, str):
        raise TypeError("text must be a str, not %s" % type(text).__name__)
    b = text.encode("utf-8", "surrogatepass")
    out = c_void_p()
    _lib.check(_lib.pt_html_escape(b, len(b), byref(out)))
    try:
        return string_at(out.value).decode("utf-8")
    finally:
        _lib.pt_free(out)
