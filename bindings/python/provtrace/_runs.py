"""The set of runs: queries (``runs(where=, sort=, limit=)``,
:func:`run_summaries`) and comparison (:func:`compare`), answered by the
library from the per-run summaries it keeps (``provtrace/runs.h``)."""

from __future__ import annotations

import json
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_void_p, string_at
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _lib
from ._store import PathLike, StoreHandle, open_store

Store = Union[None, PathLike, StoreHandle]

pt_runs_query_json = _lib.declare(
    "pt_runs_query_json", c_int, [c_void_p, c_char_p, c_char_p, c_size_t, POINTER(c_void_p)])
pt_runs_where_check = _lib.declare("pt_runs_where_check", c_int, [c_char_p])
pt_run_summary_json = _lib.declare("pt_run_summary_json", c_int, [c_void_p, c_char_p, POINTER(c_void_p)])
pt_runs_compare_json = _lib.declare(
    "pt_runs_compare_json", c_int, [c_void_p, POINTER(c_char_p), c_size_t, POINTER(c_void_p)])


def _loads(out: c_void_p) -> Any:
    from .reader import _json_hook  # the $float / $bytes escapes of the library's JSON

    try:
        return json.loads(string_at(out).decode("utf-8"), object_hook=_json_hook)
    finally:
        _lib.pt_free(out)


def _text(v: Optional[str], what: str) -> Optional[bytes]:
    if v is None:
        return None
    return _lib.cname(v, what)


def _sort_arg(sort: Union[None, str, Sequence[str]]) -> Optional[bytes]:
    if sort is None:
        return None
    if isinstance(sort, str):
        return _lib.cname(sort, "sort")
    if isinstance(sort, (list, tuple)) and all(isinstance(k, str) for k in sort):
        return _lib.cname(",".join(sort), "sort")
    raise TypeError("sort must be a str or a list of str, not %s" % type(sort).__name__)


def _limit_arg(limit: Optional[int]) -> int:
    if limit is None:
        return 0
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int, not %s" % type(limit).__name__)
    if not 1 <= limit <= 2**63:
        raise ValueError("limit must be 1 or more, not %d" % limit)
    return limit


def query(store: Store = None, where: Optional[str] = None,
          sort: Union[None, str, Sequence[str]] = None, limit: Optional[int] = None) -> Dict[str, Any]:
    """The whole answer of ``pt_runs_query_json``: ``runs`` (summaries),
    ``matched`` (before the limit), ``total``, ``errors``."""
    st = open_store(store)
    w = _text(where, "where")
    s = _sort_arg(sort)
    n = _limit_arg(limit)
    out = c_void_p()
    _lib.check(pt_runs_query_json(st.ptr, w, s, n, byref(out)), "runs")
    return _loads(out)


def run_summaries(store: Store = None, where: Optional[str] = None,
                  sort: Union[None, str, Sequence[str]] = None,
                  limit: Optional[int] = None) -> List[Dict[str, Any]]:
    """The summaries of the runs matching ``where``, sorted by ``sort``, at
    most ``limit``: dicts with ``run``, ``status``, ``started``/``ended``
    (ISO-8601), ``duration_s``, ``events``, ``streams``, ``params``,
    ``metrics`` (``{name: {last, min, max, step, n}}``), ``tags``,
    ``note``, ``code``, ``error`` - what ``provtrace runs --where ... --json``
    prints (docs/CLI.md, "Queries", has the grammar).  Raises
    :class:`~provtrace.InvalidError` naming the position for a bad
    expression."""
    return query(store, where, sort, limit)["runs"]


def where_check(where: str) -> None:
    """Raise :class:`~provtrace.InvalidError` (with the position and what was
    expected) if ``where`` is not a valid expression."""
    _lib.check(pt_runs_where_check(_lib.cname(where, "where")), "where")


def summary(store: StoreHandle, run: str) -> Dict[str, Any]:
    out = c_void_p()
    _lib.check(pt_run_summary_json(store.ptr, _lib.cname(run, "run"), byref(out)), "summary")
    return _loads(out)


def compare(*runs: Any, store: Store = None) -> Dict[str, Any]:
    """Compare two or more runs of one store (``provtrace compare``):
    ``params_differ`` (``{param: {run: value or None}}``), ``params_same``,
    ``metrics`` (``{metric: {run: {last, min, max} or None}}``) and
    ``summaries`` (each run's summary with status, duration, code commit and
    dirty flag, and ``decisions_taken``).

    ``runs`` are run names or :class:`Run` objects (a single list works
    too).  Runs of different stores cannot be compared: ValueError.
    """
    from .reader import Run

    if len(runs) == 1 and isinstance(runs[0], (list, tuple)):
        runs = tuple(runs[0])
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs, got %d" % len(runs))
    st = None if store is None else open_store(store)
    names: List[bytes] = []
    for r in runs:
        if isinstance(r, Run):
            rs = r._store
            if st is None:
                st = rs
            elif rs.path != st.path:
                raise ValueError("runs of different stores cannot be compared: %r is in %s, not %s"
                                 % (r.name, rs.path, st.path))
            names.append(_lib.cname(r.name, "run"))
        elif isinstance(r, str):
            names.append(_lib.cname(r, "run"))
        else:
            raise TypeError("compare takes run names or Run objects, not %s" % type(r).__name__)
    if st is None:
        st = open_store(None)
    arr = (c_char_p * len(names))(*names)
    out = c_void_p()
    _lib.check(pt_runs_compare_json(st.ptr, arr, len(names), byref(out)), "compare")
    return _loads(out)
