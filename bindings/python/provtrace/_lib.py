"""Loading libprovtrace and declaring its C functions.

Every function is declared once here with explicit ``argtypes`` and
``restype`` (a wrong or missing declaration would silently truncate 64-bit
values).  Handles (``pt_store *``, ``pt_recorder *``...) are ``c_void_p``;
memory the library allocates for the caller comes back as ``c_void_p`` and
is released by the library (``pt_free``, ``pt_strv_free``).

Modules of later features (checkpoints, replay) declare their own functions
with :func:`declare` so that each concern keeps its declarations beside its
code.

Lookup order of the library:

1. ``$PROVTRACE_LIB``: the path of the library file.  When it is set, no other
   place is tried (a wrong explicit path is an error, not a reason to load
   some other copy).
2. Next to the package: ``libprovtrace.so*`` inside the package directory (a
   wheel that bundles it), then ``build*/lib/`` of the source tree when the
   package is used from a checkout (``bindings/python/../../build/lib``).
3. The system: ``ctypes.util.find_library("provtrace")``, ``libprovtrace.so.1``
   through the dynamic loader's path, and the usual install directories of
   ``cmake --install`` (``/usr/local/lib``...).

If none loads, ``import provtrace`` raises ``ImportError`` listing every path
tried and why it failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from ctypes import (
    sizeof,
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import List, Optional, Sequence, Tuple

from . import errors as _errors

#: The ABI version this binding was written for (PT_ABI_VERSION).
ABI_VERSION = 1
#: "No training step" (PT_NO_STEP).
NO_STEP = -(2**63)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
#: PT_EVENT_MAX_DEPTH
EVENT_MAX_DEPTH = 32

_SONAME = "libprovtrace.so.1"
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> List[str]:
    """Library paths to try after $PROVTRACE_LIB, in order."""
    out: List[str] = []
    # Bundled inside the package (a wheel built with the library in it).
    for pat in ("libprovtrace.so", "libprovtrace.so.*"):
        out.extend(sorted(glob.glob(os.path.join(_PKG_DIR, pat))))
    # In-tree: <src>/bindings/python/provtrace -> <src>/build*/lib; the
    # plain build/ first (a sanitizer build such as build-asan/ cannot be
    # loaded into an uninstrumented interpreter), then the newest other one.
    src = os.path.normpath(os.path.join(_PKG_DIR, "..", "..", ".."))
    trees = [p for p in glob.glob(os.path.join(src, "build*", "lib", "libprovtrace.so"))
             if os.path.exists(p)]
    trees.sort(key=lambda p: (os.path.basename(os.path.dirname(os.path.dirname(p))) != "build",
                              -os.path.getmtime(p)))
    out.extend(trees)
    found = ctypes.util.find_library("provtrace")
    if found:
        out.append(found)
    out.append(_SONAME)  # the dynamic loader's own search path
    # Where `cmake --install` puts it when ldconfig has not been run.
    prefixes = [sys.prefix, "/usr/local", "/usr"]
    multiarch = getattr(sys.implementation, "_multiarch", None)
    for p in prefixes:
        for sub in ("lib", "lib64", "lib/" + multiarch if multiarch else None):
            if sub:
                out.append(os.path.join(p, sub, _SONAME))
    seen = set()
    uniq = []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    env = os.environ.get("PROVTRACE_LIB")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError(
                "provtrace: cannot load the library named by $PROVTRACE_LIB=%s: %s" % (env, e)
            ) from None
    for path in _candidates():
        is_file_path = os.sep in path
        if is_file_path and not os.path.exists(path):
            tried.append("%s (does not exist)" % path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError(
        "provtrace: cannot find libprovtrace; set $PROVTRACE_LIB to the library file, "
        "build it (cmake) in the source tree, or install it (cmake --install). Tried:\n  "
        + "\n  ".join(tried)
    )


lib, lib_path = _load()

# The same library through PyDLL: its functions are called without
# releasing the GIL.  Used only for the event-builder setters, which copy a
# few bytes into a builder private to the calling thread and never block:
# for them releasing and re-taking the GIL costs more than the call itself
# (about 35% of a pt_event_double call).  Everything that can wait (append
# under back-pressure, metric(s), flush, close, iteration, verify) goes
# through `lib` and releases the GIL.
pylib = ctypes.PyDLL(lib_path)


def declare(name: str, restype, argtypes: Sequence, optional: bool = False, gil: bool = False):
    """Declare C function ``name`` with its types and return it.

    A missing symbol raises ImportError naming the library file (a library
    older than this binding), unless ``optional`` (then None is returned).
    ``gil``: call it without releasing the GIL (only for short calls that
    never block).
    """
    try:
        fn = getattr(pylib if gil else lib, name)
    except AttributeError:
        if optional:
            return None
        raise ImportError(
            "provtrace: %s does not export %s (a library older than this binding?)"
            % (lib_path, name)
        ) from None
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


# ---- structures (layouts of the public headers) ---------------------------


class RecorderOptions(Structure):
    """pt_recorder_options (recorder.h)."""

    _fields_ = [
        ("version", c_uint),
        ("durability", c_int),
        ("max_delay_ms", c_uint32),
        ("batch_max_events", c_uint32),
        ("batch_max_bytes", c_uint32),
        ("segment_max_bytes", c_uint64),
        ("segment_max_age_s", c_uint32),
        ("queue_max_batches", c_uint32),
        ("zstd_level", c_int),
        ("snapshot_every", c_uint32),
        # Reserved (were capture_code / code_options): must stay 0 / NULL.
        # The Recorder captures the provenance itself with pt_code_capture.
        ("reserved1", c_int),
        ("reserved2", c_void_p),
    ]


class IterOptions(Structure):
    """pt_iter_options (reader.h)."""

    _fields_ = [
        ("version", c_uint),
        ("kind", c_char_p),
        ("seq_min", c_uint64),
        ("seq_max", c_uint64),
        ("step_min", c_int64),
        ("step_max", c_int64),
        ("time_min", c_int64),
        ("time_max", c_int64),
        ("start_at_end", c_int),
    ]


class StreamInfo(Structure):
    """pt_stream_info (store.h)."""

    _fields_ = [
        ("events", c_uint64),
        ("seq_first", c_uint64),
        ("seq_last", c_uint64),
        ("step_min", c_int64),
        ("step_max", c_int64),
        ("time_min", c_int64),
        ("time_max", c_int64),
        ("bytes", c_uint64),
        ("raw_bytes", c_uint64),
        ("batches", c_uint64),
        ("sealed_segments", c_uint32),
        ("writer_active", c_uint32),
        ("torn_bytes", c_uint64),
    ]


class Problem(Structure):
    """pt_problem (verify.h)."""

    _fields_ = [
        ("severity", c_int),
        ("code", c_int),
        ("object", c_char_p),
        ("offset", c_uint64),
        ("message", c_char_p),
    ]


class VerifyStats(Structure):
    """pt_verify_stats (verify.h)."""

    _fields_ = [
        (n, c_uint64)
        for n in ("runs", "streams", "segments", "batches", "events", "bytes", "errors", "warnings")
    ]


PROBLEM_CB = CFUNCTYPE(c_int, POINTER(Problem), c_void_p)

RECORDER_OPTIONS_VERSION = 1
ITER_OPTIONS_VERSION = 1

# ---- common.h ----------------------------------------------------------------
pt_version = declare("pt_version", c_char_p, [])
pt_abi_version = declare("pt_abi_version", c_int, [])
pt_error_last = declare("pt_error_last", c_char_p, [])
pt_error_last_code = declare("pt_error_last_code", c_int, [])
pt_error_name = declare("pt_error_name", c_char_p, [c_int])
pt_free = declare("pt_free", None, [c_void_p])
pt_strv_free = declare("pt_strv_free", None, [c_void_p, c_size_t])
pt_time_now_ns = declare("pt_time_now_ns", c_int64, [])
pt_time_format = declare("pt_time_format", c_char_p, [c_int64, c_char_p, c_size_t])
pt_time_parse = declare("pt_time_parse", c_int, [POINTER(c_int64), c_char_p])

_abi = pt_abi_version()
if _abi != ABI_VERSION:
    raise ImportError(
        "provtrace: %s has ABI version %d, this binding needs %d; use a matching library "
        "(set $PROVTRACE_LIB) or a matching binding" % (lib_path, _abi, ABI_VERSION)
    )

# Every mirrored struct must have the library's layout: a field added on one
# side only would make C read past the end of the ctypes object.
pt_abi_struct_size = declare("pt_abi_struct_size", c_size_t, [c_char_p])


def _check_layout(struct, c_name):
    size = pt_abi_struct_size(c_name.encode())
    if size != sizeof(struct):
        raise ImportError(
            "provtrace: %s is %d bytes in %s but %d in this binding; use a matching library "
            "(set $PROVTRACE_LIB) or a matching binding" % (c_name, size, lib_path, sizeof(struct))
        )


for _struct, _name in (
    (RecorderOptions, "pt_recorder_options"),
    (IterOptions, "pt_iter_options"),
    (StreamInfo, "pt_stream_info"),
    (Problem, "pt_problem"),
    (VerifyStats, "pt_verify_stats"),
):
    _check_layout(_struct, _name)

# ---- store.h -----------------------------------------------------------------
pt_store_init = declare("pt_store_init", c_int, [POINTER(c_void_p), c_char_p])
pt_store_open = declare("pt_store_open", c_int, [POINTER(c_void_p), c_char_p])
pt_store_discover = declare("pt_store_discover", c_int, [POINTER(c_void_p), c_char_p, c_char_p])
pt_store_open_default = declare("pt_store_open_default", c_int, [POINTER(c_void_p), c_char_p])
pt_store_path = declare("pt_store_path", c_char_p, [c_void_p])
pt_store_free = declare("pt_store_free", None, [c_void_p])
pt_name_check = declare("pt_name_check", c_int, [c_char_p, c_char_p])
pt_store_runs = declare("pt_store_runs", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
pt_store_streams = declare(
    "pt_store_streams", c_int, [c_void_p, c_char_p, POINTER(c_void_p), POINTER(c_size_t)]
)
pt_stream_stat = declare("pt_stream_stat", c_int, [c_void_p, c_char_p, c_char_p, POINTER(StreamInfo)])

# ---- event.h -----------------------------------------------------------------
pt_event_new = declare("pt_event_new", c_int, [POINTER(c_void_p), c_char_p, c_char_p])
pt_event_reset = declare("pt_event_reset", c_int, [c_void_p, c_char_p, c_char_p], gil=True)
pt_event_free = declare("pt_event_free", None, [c_void_p])
pt_event_set_step = declare("pt_event_set_step", c_int, [c_void_p, c_int64], gil=True)
pt_event_set_time = declare("pt_event_set_time", c_int, [c_void_p, c_int64], gil=True)
pt_event_int = declare("pt_event_int", c_int, [c_void_p, c_char_p, c_int64], gil=True)
pt_event_uint = declare("pt_event_uint", c_int, [c_void_p, c_char_p, c_uint64], gil=True)
pt_event_double = declare("pt_event_double", c_int, [c_void_p, c_char_p, c_double], gil=True)
pt_event_float = declare("pt_event_float", c_int, [c_void_p, c_char_p, c_float], gil=True)
pt_event_bool = declare("pt_event_bool", c_int, [c_void_p, c_char_p, c_int], gil=True)
pt_event_nil = declare("pt_event_nil", c_int, [c_void_p, c_char_p], gil=True)
pt_event_str = declare("pt_event_str", c_int, [c_void_p, c_char_p, c_char_p])
pt_event_strn = declare("pt_event_strn", c_int, [c_void_p, c_char_p, c_char_p, c_size_t])
pt_event_bytes = declare("pt_event_bytes", c_int, [c_void_p, c_char_p, c_char_p, c_size_t])
pt_event_begin_map = declare("pt_event_begin_map", c_int, [c_void_p, c_char_p], gil=True)
pt_event_begin_array = declare("pt_event_begin_array", c_int, [c_void_p, c_char_p], gil=True)
pt_event_end = declare("pt_event_end", c_int, [c_void_p], gil=True)
# Variants that keep the GIL, for short strings and bytes (see pylib).
pt_event_strn_gil = declare("pt_event_strn", c_int, [c_void_p, c_char_p, c_char_p, c_size_t], gil=True)
pt_event_bytes_gil = declare("pt_event_bytes", c_int, [c_void_p, c_char_p, c_char_p, c_size_t], gil=True)
#: Longer values are copied with the GIL released.
GIL_COPY_MAX = 65536
pt_event_msgpack = declare("pt_event_msgpack", c_int, [c_void_p, c_char_p, c_char_p, c_size_t])
pt_event_from_json = declare("pt_event_from_json", c_int, [c_void_p, c_char_p, c_size_t])

# ---- recorder.h --------------------------------------------------------------
pt_recorder_options_init = declare(
    "pt_recorder_options_init", c_int, [POINTER(RecorderOptions), c_uint]
)
pt_recorder_open = declare(
    "pt_recorder_open",
    c_int,
    [POINTER(c_void_p), c_void_p, c_char_p, c_char_p, POINTER(RecorderOptions)],
)
pt_recorder_run = declare("pt_recorder_run", c_char_p, [c_void_p])
pt_recorder_stream = declare("pt_recorder_stream", c_char_p, [c_void_p])
pt_recorder_next_seq = declare("pt_recorder_next_seq", c_uint64, [c_void_p])
pt_recorder_append = declare("pt_recorder_append", c_int, [c_void_p, c_void_p, POINTER(c_uint64)])
pt_recorder_metric = declare("pt_recorder_metric", c_int, [c_void_p, c_char_p, c_double, c_int64])
pt_recorder_metrics = declare(
    "pt_recorder_metrics", c_int, [c_void_p, c_void_p, c_void_p, c_size_t, c_int64]
)
pt_recorder_flush = declare("pt_recorder_flush", c_int, [c_void_p])
pt_recorder_seal = declare("pt_recorder_seal", c_int, [c_void_p])
pt_recorder_recovered_bytes = declare("pt_recorder_recovered_bytes", c_uint64, [c_void_p])
pt_recorder_resume = declare(
    "pt_recorder_resume", c_int, [c_void_p, c_int64, c_int64, c_char_p, POINTER(c_int64)]
)
pt_recorder_snapshots = declare("pt_recorder_snapshots", c_uint64, [c_void_p])
pt_recorder_close = declare("pt_recorder_close", c_int, [c_void_p])
pt_recorder_free = declare("pt_recorder_free", None, [c_void_p])

# ---- reader.h ----------------------------------------------------------------
pt_iter_options_init = declare("pt_iter_options_init", c_int, [POINTER(IterOptions), c_uint])
pt_iter_open = declare(
    "pt_iter_open", c_int, [POINTER(c_void_p), c_void_p, c_char_p, c_char_p, POINTER(IterOptions)]
)
pt_iter_next = declare("pt_iter_next", c_int, [c_void_p, POINTER(c_void_p)])
pt_iter_free = declare("pt_iter_free", None, [c_void_p])
pt_lineage_iter_open = declare(
    "pt_lineage_iter_open", c_int, [POINTER(c_void_p), c_void_p, c_char_p, c_char_p, POINTER(IterOptions), c_int]
)
pt_lineage_iter_next = declare("pt_lineage_iter_next", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_int64)])
pt_lineage_iter_lineages = declare("pt_lineage_iter_lineages", c_size_t, [c_void_p])
pt_lineage_iter_free = declare("pt_lineage_iter_free", None, [c_void_p])
pt_run_iter_open = declare(
    "pt_run_iter_open", c_int,
    [POINTER(c_void_p), c_void_p, c_char_p, POINTER(c_char_p), c_size_t, POINTER(IterOptions), c_int]
)
pt_run_iter_next = declare("pt_run_iter_next", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_int64)])
pt_run_iter_streams = declare("pt_run_iter_streams", c_size_t, [c_void_p])
pt_run_iter_lineages = declare("pt_run_iter_lineages", c_size_t, [c_void_p])
pt_run_iter_free = declare("pt_run_iter_free", None, [c_void_p])


class MetricSeries(Structure):
    _fields_ = [
        ("stream", c_char_p),
        ("name", c_char_p),
        ("steps", POINTER(c_int64)),
        ("values", POINTER(c_double)),
        ("n", c_size_t),
    ]


pt_metrics_read = declare(
    "pt_metrics_read", c_int,
    [c_void_p, c_char_p, c_char_p, POINTER(c_char_p), c_size_t, c_int, c_size_t,
     POINTER(POINTER(MetricSeries)), POINTER(c_size_t)]
)
pt_metrics_free = declare("pt_metrics_free", None, [POINTER(MetricSeries), c_size_t])
pt_ev_seq = declare("pt_ev_seq", c_uint64, [c_void_p])
pt_ev_time = declare("pt_ev_time", c_int64, [c_void_p])
pt_ev_step = declare("pt_ev_step", c_int64, [c_void_p])
pt_ev_kind = declare("pt_ev_kind", c_char_p, [c_void_p])
pt_ev_name = declare("pt_ev_name", c_char_p, [c_void_p])
pt_ev_run = declare("pt_ev_run", c_char_p, [c_void_p])
pt_ev_stream = declare("pt_ev_stream", c_char_p, [c_void_p])
pt_ev_msgpack = declare("pt_ev_msgpack", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])
pt_ev_body_msgpack = declare(
    "pt_ev_body_msgpack", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)]
)
pt_ev_json = declare("pt_ev_json", c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)])

# ---- verify.h ----------------------------------------------------------------
pt_verify = declare(
    "pt_verify",
    c_int,
    [c_void_p, c_char_p, c_char_p, PROBLEM_CB, c_void_p, POINTER(VerifyStats)],
)
# event.h: the library's text for a double (what JSON renderings use)
pt_format_double = declare("pt_format_double", c_int, [c_double, c_char_p, c_size_t], gil=True)
# decision.h: the decision schema check of an encoded body
pt_decision_body_check = declare("pt_decision_body_check", c_int, [c_char_p, c_size_t], gil=True)
# the decision writer from its parts (Recorder.decision() uses pt_recorder_decision_body)
pt_recorder_decision = declare(
    "pt_recorder_decision", c_int,
    [c_void_p, c_char_p, c_int64, c_char_p, c_size_t, c_char_p, c_char_p, c_char_p, c_size_t,
     c_void_p])
# store.h: the runs listing as the library renders it
pt_store_runs_json = declare("pt_store_runs_json", c_int,
                             [c_void_p, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_uint64)])
pt_verify_report = declare(
    "pt_verify_report",
    c_int,
    [c_void_p, c_char_p, c_char_p, PROBLEM_CB, c_void_p, POINTER(VerifyStats),
     POINTER(c_void_p), POINTER(c_size_t)],
)


# ---- helpers -------------------------------------------------------------------


def last_error(code: int, context: Optional[str] = None) -> _errors.ProvtraceError:
    """The exception for a failed call that returned ``code``.

    Must be called on the thread that made the failing call, before any
    other library call (the message is thread-local and may be overwritten).
    """
    raw = pt_error_last()
    msg = raw.decode("utf-8", "replace") if raw else ""
    if not msg:
        name = pt_error_name(code)
        msg = name.decode() if name else "error %d" % code
    if context:
        msg = "%s: %s" % (context, msg)
    return _errors.error_for_code(code, msg)


def check(code: int, context: Optional[str] = None) -> None:
    """Raise the mapped exception if ``code`` is an error."""
    if code < 0:
        raise last_error(code, context)


def fspath(path) -> bytes:
    """A str / bytes / os.PathLike as bytes for the C API."""
    return os.fsencode(path)


def cname(value: str, what: str) -> bytes:
    """A name (run, stream, metric...) as C-string bytes: TypeError if not a
    str, ValueError if it holds a NUL (C would cut it there) or is not
    valid UTF-8."""
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (what, type(value).__name__))
    if "\0" in value:
        raise ValueError("%s %r contains a NUL character" % (what, value))
    try:
        return str.__str__(value).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("%s %r is not valid UTF-8 (%s)" % (what, value, e.reason)) from None


def strv(ptr: c_void_p, count: int) -> List[str]:
    """Copy then free an array of ``count`` library-allocated C strings."""
    if not ptr.value:
        return []
    try:
        arr = ctypes.cast(ptr, POINTER(c_char_p))
        return [arr[i].decode("utf-8", "replace") for i in range(count)]
    finally:
        pt_strv_free(ptr, count)


def free_with(free_fn):
    """A finalizer callback ``cb(ptr, *keepalive)`` that frees ``ptr`` with
    ``free_fn``; the extra arguments only keep parents (the store) alive
    until the child is freed."""

    def cb(ptr, *_keepalive):
        free_fn(ptr)

    return cb


def version() -> str:
    """The library's version string, e.g. ``"0.1.0"``."""
    return pt_version().decode()


# ---- report.h ------------------------------------------------------------------
class ReportOptions(Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("x_time", c_int),
        ("log_scale", c_int),
        ("verify", c_int),
        ("width", ctypes.c_uint),
        ("metrics", POINTER(c_char_p)),
        ("nmetrics", c_size_t),
        ("title", c_char_p),
        ("ui", c_int),
        ("poll_url", c_char_p),
        ("charts_only", c_int),
        ("poll_version", c_char_p),
    ]


REPORT_OPTIONS_VERSION = 1
_check_layout(ReportOptions, "pt_report_options")
pt_report_options_init = declare("pt_report_options_init", c_int,
                                 [POINTER(ReportOptions), ctypes.c_uint])
pt_report_html = declare(
    "pt_report_html", c_int,
    [c_void_p, POINTER(c_char_p), c_size_t, POINTER(ReportOptions), POINTER(c_void_p),
     POINTER(c_size_t)])
pt_html_escape = declare("pt_html_escape", c_int,
                         [c_char_p, c_size_t, POINTER(c_void_p)], gil=True)


# ---- ui.h ----------------------------------------------------------------------
class UiOptions(Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("bind", c_char_p),
        ("port", ctypes.c_uint),
        ("allow_remote", c_int),
        ("threads", ctypes.c_uint),
    ]


UI_OPTIONS_VERSION = 1
_check_layout(UiOptions, "pt_ui_options")
pt_ui_options_init = declare("pt_ui_options_init", c_int, [POINTER(UiOptions), ctypes.c_uint])
pt_ui_start = declare("pt_ui_start", c_int, [POINTER(c_void_p), c_char_p, POINTER(UiOptions)])
pt_ui_port = declare("pt_ui_port", ctypes.c_uint, [c_void_p], gil=True)
pt_ui_url = declare("pt_ui_url", c_char_p, [c_void_p], gil=True)
pt_ui_is_remote = declare("pt_ui_is_remote", c_int, [c_void_p], gil=True)
pt_ui_stop = declare("pt_ui_stop", None, [c_void_p])
