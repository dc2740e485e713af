"""The exception hierarchy of provtrace, mapped from the C error codes.

Every failing library call raises a subclass of :class:`ProvtraceError`
carrying the C error code (``.code``, e.g. ``-6``), its name (``.name``,
e.g. ``"PT_ECORRUPT"``) and the library's message (``.message``).  The
subclasses also derive from the matching built-in exception where one exists
(``InvalidError`` is a ``ValueError``, ``StorageError`` an ``OSError``...), so
generic ``except ValueError`` code keeps working.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "ProvtraceError",
    "InvalidError",
    "NotFoundError",
    "ExistsError",
    "LockedError",
    "CorruptError",
    "VersionError",
    "StorageError",
    "OutOfMemoryError",
    "NoSpaceError",
    "LimitError",
    "WrongTypeError",
    "ClosedError",
    "error_for_code",
]

# The values of pt_error_code in lib/include/provtrace/common.h.  They never
# change meaning (the header promises it), so they are pinned here.
PT_OK = 0
PT_ERROR = -1
PT_EINVAL = -2
PT_ENOTFOUND = -3
PT_EEXISTS = -4
PT_ELOCKED = -5
PT_ECORRUPT = -6
PT_EVERSION = -7
PT_EIO = -8
PT_ENOMEM = -9
PT_ITEROVER = -10
PT_ENOSPC = -11
PT_ELIMIT = -12
PT_ETYPE = -13
PT_ECLOSED = -14

_NAMES = {
    PT_OK: "PT_OK",
    PT_ERROR: "PT_ERROR",
    PT_EINVAL: "PT_EINVAL",
    PT_ENOTFOUND: "PT_ENOTFOUND",
    PT_EEXISTS: "PT_EEXISTS",
    PT_ELOCKED: "PT_ELOCKED",
    PT_ECORRUPT: "PT_ECORRUPT",
    PT_EVERSION: "PT_EVERSION",
    PT_EIO: "PT_EIO",
    PT_ENOMEM: "PT_ENOMEM",
    PT_ITEROVER: "PT_ITEROVER",
    PT_ENOSPC: "PT_ENOSPC",
    PT_ELIMIT: "PT_ELIMIT",
    PT_ETYPE: "PT_ETYPE",
    PT_ECLOSED: "PT_ECLOSED",
}


class ProvtraceError(Exception):
    """Base class of every error raised by the library.

    Attributes:
        code: the C error code (a negative int from ``pt_error_code``).
        name: the code's name, e.g. ``"PT_ELOCKED"``.
        message: the library's message (``pt_error_last()``), or the
            binding's own message for errors detected in Python.
    """

    #: The code an instance of this class carries when none is given.
    default_code: int = PT_ERROR

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        if code is None:
            code = self.default_code
        self.code: int = code
        self.name: str = _NAMES.get(code, "PT_ERROR(%d)" % code)
        self.message: str = message
        # One positional argument keeps str(e) == message, also for the
        # OSError-derived classes (two arguments would make them errno-style).
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Exceptions cross process boundaries (multiprocessing): rebuild them
        # from (message, code) rather than from self.args.
        return (type(self), (self.message, self.code))


class InvalidError(ProvtraceError, ValueError):
    """An invalid argument or a misuse of the API (``PT_EINVAL``)."""

    default_code = PT_EINVAL


class NotFoundError(ProvtraceError, LookupError):
    """The store, run, stream or object does not exist (``PT_ENOTFOUND``)."""

    default_code = PT_ENOTFOUND


class ExistsError(ProvtraceError):
    """The object already exists (``PT_EEXISTS``)."""

    default_code = PT_EEXISTS


class LockedError(ProvtraceError):
    """The stream is held by another writer (``PT_ELOCKED``).

    The message names the holder (pid, host, since when).
    """

    default_code = PT_ELOCKED


class CorruptError(ProvtraceError):
    """Stored bytes fail a checksum, hash or structure check (``PT_ECORRUPT``)."""

    default_code = PT_ECORRUPT


class VersionError(ProvtraceError):
    """The store's format is newer than this library (``PT_EVERSION``)."""

    default_code = PT_EVERSION


class StorageError(ProvtraceError, OSError):
    """An operating-system I/O failure (``PT_EIO``)."""

    default_code = PT_EIO


class NoSpaceError(StorageError):
    """No space left on the device (``PT_ENOSPC``)."""

    default_code = PT_ENOSPC


class OutOfMemoryError(ProvtraceError, MemoryError):
    """The library could not allocate memory (``PT_ENOMEM``)."""

    default_code = PT_ENOMEM


class LimitError(ProvtraceError, ValueError):
    """A size or count limit was exceeded (``PT_ELIMIT``)."""

    default_code = PT_ELIMIT


class WrongTypeError(ProvtraceError, TypeError):
    """A stored value has the wrong type (``PT_ETYPE``)."""

    default_code = PT_ETYPE


class ClosedError(ProvtraceError):
    """The object was closed, or failed earlier (``PT_ECLOSED``)."""

    default_code = PT_ECLOSED


_BY_CODE: Dict[int, Type[ProvtraceError]] = {
    PT_ERROR: ProvtraceError,
    PT_EINVAL: InvalidError,
    PT_ENOTFOUND: NotFoundError,
    PT_EEXISTS: ExistsError,
    PT_ELOCKED: LockedError,
    PT_ECORRUPT: CorruptError,
    PT_EVERSION: VersionError,
    PT_EIO: StorageError,
    PT_ENOMEM: OutOfMemoryError,
    PT_ENOSPC: NoSpaceError,
    PT_ELIMIT: LimitError,
    PT_ETYPE: WrongTypeError,
    PT_ECLOSED: ClosedError,
}


def error_for_code(code: int, message: str) -> ProvtraceError:
    """Build the exception for C error ``code`` with ``message``.

    Unknown codes (a newer library) give a plain :class:`ProvtraceError`
    that still carries the code.
    """
    cls = _BY_CODE.get(code, ProvtraceError)
    return cls(message, code)
