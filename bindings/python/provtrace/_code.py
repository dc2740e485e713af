"""Code and environment provenance at the start of a run (``provtrace/code.h``).

The library captures the git state (``code`` event) and the host/process
environment (``env`` event).  The binding asks it for the ``env`` body
without appending it (``pt_code_env_fill``), adds a ``python`` key (the
interpreter and the versions of the imported top-level packages) and
appends the event itself.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_uint, c_uint32, c_uint64, c_void_p
from typing import Any, Dict, Optional

from . import _lib
from ._encode import FieldError, encode, raise_field_error, thread_builder


class CodeOptions(Structure):
    """pt_code_options (code.h)."""

    _fields_ = [
        ("version", c_uint),
        ("repo_path", c_char_p),
        ("untracked_max_bytes", c_uint64),
        ("untracked_total_max_bytes", c_uint64),
        ("untracked_max_files", c_uint32),
        ("time_budget_ms", c_uint32),
        ("max_index_entries", c_uint32),
        ("env_allowlist", POINTER(c_char_p)),
        ("require_clean", c_int),
        ("skip_env", c_int),
        ("patch_max_bytes", c_uint64),
    ]


CODE_OPTIONS_VERSION = 1
_lib._check_layout(CodeOptions, "pt_code_options")

_d = _lib.declare
# Optional: a library built without code provenance still records.
pt_code_options_init = _d("pt_code_options_init", c_int, [POINTER(CodeOptions), c_uint],
                          optional=True)
pt_code_capture = _d("pt_code_capture", c_int, [c_void_p, POINTER(CodeOptions)], optional=True)
pt_code_env_fill = _d("pt_code_env_fill", c_int, [c_void_p, POINTER(CodeOptions)], optional=True)
pt_code_capture_env = _d("pt_code_capture_env", c_int, [c_void_p, POINTER(CodeOptions)],
                         optional=True)


def _stdlib_dirs() -> tuple:
    out = []
    for key in ("stdlib", "platstdlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            out.append(os.path.realpath(p) + os.sep)
    return tuple(out)


def package_versions() -> Dict[str, str]:
    """Top-level imported packages that are not part of the standard
    library -> their version (``__version__``, else the installed
    distribution's version); packages without a known version are left out."""
    stdlib = getattr(sys, "stdlib_module_names", None)
    stdlib_dirs = None if stdlib is not None else _stdlib_dirs()
    try:
        from importlib import metadata as md
    except ImportError:  # pragma: no cover (Python < 3.8)
        md = None  # type: ignore
    dists: Optional[Dict[str, Any]] = None
    out: Dict[str, str] = {}
    for name, mod in sorted(list(sys.modules.items())):
        if mod is None or "." in name or name.startswith("_") or name == "__main__":
            continue
        if name in sys.builtin_module_names:
            continue
        if stdlib is not None:
            if name in stdlib:
                continue
        else:
            f = getattr(mod, "__file__", None)
            if not f or os.path.realpath(f).startswith(stdlib_dirs):  # type: ignore[arg-type]
                continue
        v = getattr(mod, "__version__", None)
        if not isinstance(v, str) and md is not None:
            try:
                v = md.version(name)
            except Exception:
                v = None
            if v is None:
                # The import name differs from the distribution's (yaml -> PyYAML).
                if dists is None:
                    try:
                        dists = dict(md.packages_distributions())
                    except Exception:
                        dists = {}
                for dist in dists.get(name, ()):
                    try:
                        v = md.version(dist)
                        break
                    except Exception:
                        continue
        if isinstance(v, str) and v:
            out[name] = v
    return out


def python_info() -> Dict[str, Any]:
    """What the ``python`` key of the ``env`` event holds."""
    from . import __version__

    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable or "",
        "prefix": sys.prefix,
        "provtrace": __version__,
        "packages": package_versions(),
    }


def capture(rec_handle: int, require_clean: bool) -> Optional[BaseException]:
    """Append the ``code`` and ``env`` events.

    Returns the error of a failed capture (to warn about), or raises it
    when ``require_clean`` was asked.  Nothing is captured by a library
    built without code provenance.
    """
    if pt_code_capture is None or pt_code_options_init is None:
        if require_clean:
            raise _lib._errors.InvalidError(
                "require_clean: %s has no code provenance (pt_code_capture)" % _lib.lib_path)
        return None
    opts = CodeOptions()
    _lib.check(pt_code_options_init(byref(opts), CODE_OPTIONS_VERSION))
    opts.require_clean = 1 if require_clean else 0
    opts.skip_env = 1
    rc = pt_code_capture(rec_handle, byref(opts))
    err: Optional[BaseException] = None
    if rc:
        e = _lib.last_error(rc, "code provenance")
        if require_clean:
            raise e
        err = e
    try:
        _append_env(rec_handle, opts)
    except Exception as e:  # the environment is best effort
        return err or e
    return err


def _append_env(rec_handle: int, opts: CodeOptions) -> None:
    b = thread_builder()
    try:
        ev = b.ptr
        if pt_code_env_fill is not None:
            _lib.check(pt_code_env_fill(ev, byref(opts)), "env")
        else:
            _lib.check(_lib.pt_event_reset(ev, b"env", None), "env")
        try:
            encode(ev, b"python", python_info(), "python")
        except FieldError as fe:
            raise_field_error(fe, "env")
        _lib.check(_lib.pt_recorder_append(rec_handle, ev, b.seq_ref), "env")
    finally:
        b.busy = False
