"""provtrace: record machine-learning training as a tamper-evident event log.

Pure Python over ``libprovtrace.so`` (ctypes).  Record with
:class:`Recorder`; read back with :func:`runs`, :func:`open_run` and
:func:`verify`::

    import provtrace

    with provtrace.Recorder(run="exp-42", store=".provtrace") as rec:
        rec.params({"lr": 3e-4, "batch": 64})
        rec.metric("loss", 0.25, step=100)
        rec.decision("lr", step=1200, set={"lr": 3e-5}, reason="plateau",
                     actor="ReduceLROnPlateau")

    for ev in provtrace.open_run("exp-42", store=".provtrace").events(kind="decision"):
        print(ev["step"], ev["set"], ev["reason"])

The library is found through ``$PROVTRACE_LIB``, next to the package, or
the system's library path (see :mod:`provtrace._lib`).  Errors raise
subclasses of :class:`ProvtraceError` carrying the C code and message.
"""

from . import _lib
from .errors import (
    ClosedError,
    CorruptError,
    ExistsError,
    InvalidError,
    LimitError,
    LockedError,
    NoSpaceError,
    NotFoundError,
    OutOfMemoryError,
    ProvtraceError,
    StorageError,
    VersionError,
    WrongTypeError,
)
from .reader import EventIterator, Run, VerifyReport, open_run, runs, verify
from .recorder import DURABILITY, Recorder
from .checkpoint import Checkpoint, PendingCheckpoint, RawTensor
from .checkpoint import checkpoint_totals
from .reader import runs_info
from .replay import State
from ._seal import seal
from ._remote import clone, push, remote_add, remote_read_stats, remote_remove, remotes
from ._runs import compare, run_summaries
from ._report import report, report_html, html_escape
from ._ui import UI, ui
from .consumer import Consumer, consume, consumer, consumers, mirror, remove_consumer, reset_consumer
from ._proof import anchor_push, anchor_verify, check_proof, generate_key, trust_key
from . import torch  # provtrace.torch: imports torch only when used
from .dataset import hash_dataset, verify_datasets

__version__ = "0.1.0"

#: The path of the loaded libprovtrace.
library_path: str = _lib.lib_path

#: "No training step" as the C API spells it (PT_NO_STEP).
NO_STEP: int = _lib.NO_STEP


def library_version() -> str:
    """The version string of the loaded libprovtrace, e.g. ``"0.1.0"``."""
    return _lib.version()


__all__ = [
    "Recorder",
    "DURABILITY",
    "runs",
    "open_run",
    "Run",
    "EventIterator",
    "State",
    "Checkpoint",
    "PendingCheckpoint",
    "RawTensor",
    "verify",
    "checkpoint_totals",
    "runs_info",
    "run_summaries",
    "compare",
    "seal",
    "push",
    "clone",
    "remotes",
    "remote_add",
    "remote_remove",
    "remote_read_stats",
    "Consumer",
    "consume",
    "consumer",
    "consumers",
    "reset_consumer",
    "remove_consumer",
    "mirror",
    "VerifyReport",
    "library_version",
    "library_path",
    "NO_STEP",
    "ProvtraceError",
    "InvalidError",
    "NotFoundError",
    "ExistsError",
    "LockedError",
    "CorruptError",
    "VersionError",
    "StorageError",
    "NoSpaceError",
    "OutOfMemoryError",
    "LimitError",
    "WrongTypeError",
    "ClosedError",
    "hash_dataset",
    "verify_datasets",
    "report",
    "report_html",
    "html_escape",
    "ui",
    "UI",
    "check_proof",
    "generate_key",
    "trust_key",
    "anchor_push",
    "anchor_verify",
]
