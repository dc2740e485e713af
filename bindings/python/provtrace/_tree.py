"""Nested checkpoint state: the structure of a checkpoint (FORMAT.md,
"Checkpoint manifest", version 2).

A nested value (dicts, lists, tuples of tensors, arrays, bytes and plain
values) is split into entries (tensors, blobs) and one MessagePack value
holding everything else, with each entry's place marked by an ext value
(type 1: the entry's index, 4 bytes big-endian; type 2: a tuple, whose
payload is one array).  Encoding and decoding are done here in Python (no
msgpack dependency); the C library validates the bytes
(pt_checkpoint_set_structure) and stores them in the manifest.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable, List, Mapping, Tuple

EXT_ENTRY = 1
EXT_TUPLE = 2
MAX_DEPTH = 64
NAME_MAX = 1024

_INT64_MIN = -(1 << 63)
_UINT64_MAX = (1 << 64) - 1


def _path(parts: List[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


class Leaf:
    """An entry to add: kind "tensor", "bytes" or "file", its name and value."""

    __slots__ = ("kind", "name", "value", "path")

    def __init__(self, kind: str, name: str, value: Any, path: str) -> None:
        self.kind = kind
        self.name = name
        self.value = value
        self.path = path


def is_nested(data: Any) -> bool:
    """True when the value given to checkpoint() is nested state (a list or
    tuple, or a mapping with a non-str key or a value that is a mapping,
    list, tuple, None, bool, int or float) rather than the flat form (a
    mapping of str -> tensor, bytes or path)."""
    if isinstance(data, (list, tuple)):
        return True
    if not isinstance(data, Mapping):
        return False
    for v in data.values():
        if isinstance(v, (Mapping, list, tuple)) or v is None or isinstance(v, (bool, int, float)):
            return True
    return any(not isinstance(k, str) for k in data)


def _is_tensor(v: Any) -> bool:
    return hasattr(v, "dtype") and hasattr(v, "shape") and not isinstance(v, (bytes, str))


def flatten(data: Any) -> Tuple[List[Leaf], bytes]:
    """(entries in order, structure bytes).  Raises TypeError naming the
    path of an unsupported leaf (``optimizer.state.3.momentum_buffer``)."""
    leaves: List[Leaf] = []
    used: dict = {}
    out = bytearray()

    def name_for(parts: List[Any]) -> str:
        base = _path(parts)
        name = base
        k = 2
        while name in used:
            name = "%s#%d" % (base, k)
            k += 1
        used[name] = True
        if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise ValueError("checkpoint: the path %r is longer than %d bytes" % (base[:80], NAME_MAX))
        return name

    def leaf(kind: str, v: Any, parts: List[Any], buf: bytearray) -> None:
        idx = len(leaves)
        leaves.append(Leaf(kind, name_for(parts), v, _path(parts)))
        buf += b"\xd6" + struct.pack(">bI", EXT_ENTRY, idx)

    def scalar(v: Any, parts: List[Any], buf: bytearray, key: bool) -> bool:
        if v is None:
            buf += b"\xc0"
        elif v is True:
            buf += b"\xc3"
        elif v is False:
            buf += b"\xc2"
        elif isinstance(v, int):
            v = int(v)
            if v < _INT64_MIN or v > _UINT64_MAX:
                raise TypeError("checkpoint: %s: integer %d does not fit 64 bits"
                                % (_path(parts), v))
            if v >= 0:
                buf += b"\xcf" + struct.pack(">Q", v) if v > 0x7f else bytes([v])
            else:
                buf += b"\xd3" + struct.pack(">q", v)
        elif isinstance(v, float):
            buf += b"\xcb" + struct.pack(">d", float(v))
        elif isinstance(v, str):
            b = v.encode("utf-8")
            n = len(b)
            if n < 32:
                buf.append(0xa0 | n)
            elif n < 256:
                buf += b"\xd9" + bytes([n])
            elif n < 65536:
                buf += b"\xda" + struct.pack(">H", n)
            else:
                buf += b"\xdb" + struct.pack(">I", n)
            buf += b
        else:
            return False
        return True

    def hdr(buf: bytearray, n: int, small: int, b16: int) -> None:
        if n < 16:
            buf.append(small | n)
        elif n < 65536:
            buf += bytes([b16]) + struct.pack(">H", n)
        else:
            buf += bytes([b16 + 1]) + struct.pack(">I", n)

    def walk(v: Any, parts: List[Any], buf: bytearray, depth: int) -> None:
        if depth > MAX_DEPTH - 2:
            raise ValueError("checkpoint: %s: nested deeper than %d" % (_path(parts), MAX_DEPTH - 2))
        if scalar(v, parts, buf, False):
            return
        if isinstance(v, Mapping):
            hdr(buf, len(v), 0x80, 0xde)
            for k, x in v.items():
                if not scalar(k, parts + [k], buf, True):
                    raise TypeError("checkpoint: %s: unsupported key type %s (str, int, float, "
                                    "bool or None)" % (_path(parts + [repr(k)]), type(k).__name__))
                walk(x, parts + [k], buf, depth + 1)
        elif isinstance(v, tuple):
            inner = bytearray()
            hdr(inner, len(v), 0x90, 0xdc)
            for i, x in enumerate(v):
                walk(x, parts + [i], inner, depth + 2)
            n = len(inner)
            if n < 256:
                buf += b"\xc7" + bytes([n]) + struct.pack(">b", EXT_TUPLE)
            elif n < 65536:
                buf += b"\xc8" + struct.pack(">Hb", n, EXT_TUPLE)
            else:
                buf += b"\xc9" + struct.pack(">Ib", n, EXT_TUPLE)
            buf += inner
        elif isinstance(v, list):
            hdr(buf, len(v), 0x90, 0xdc)
            for i, x in enumerate(v):
                walk(x, parts + [i], buf, depth + 1)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            leaf("bytes", v, parts, buf)
        elif isinstance(v, os.PathLike):
            leaf("file", v, parts, buf)
        elif _is_tensor(v):
            mod = type(v).__module__ or ""
            if mod.startswith("torch") and getattr(v, "is_quantized", False):
                raise TypeError("checkpoint: %s: quantized tensors (%s) are not supported"
                                % (_path(parts), v.dtype))
            leaf("tensor", v, parts, buf)
        else:
            raise TypeError("checkpoint: %s: unsupported type %s (dict, list, tuple, tensor, "
                            "array, bytes, os.PathLike, str, int, float, bool or None)"
                            % (_path(parts), type(v).__module__ + "." + type(v).__qualname__
                               if type(v).__module__ not in ("builtins", None)
                               else type(v).__name__))

    walk(data, [], out, 0)
    return leaves, bytes(out)


def unflatten(tree: bytes, entry: Callable[[int], Any]) -> Any:
    """The nested value of `tree` with each entry reference replaced by
    ``entry(index)``.  The bytes were validated by the C library."""
    mv = memoryview(tree)
    pos = [0]

    def take(n: int) -> bytes:
        p = pos[0]
        if p + n > len(mv):
            raise ValueError("checkpoint structure truncated")
        pos[0] = p + n
        return bytes(mv[p:p + n])

    def read() -> Any:
        c = take(1)[0]
        if c <= 0x7f:
            return c
        if c >= 0xe0:
            return c - 256
        if 0x80 <= c <= 0x8f:
            return read_map(c & 0x0f)
        if 0x90 <= c <= 0x9f:
            return [read() for _ in range(c & 0x0f)]
        if 0xa0 <= c <= 0xbf:
            return take(c & 0x1f).decode("utf-8")
        if c == 0xc0:
            return None
        if c == 0xc2:
            return False
        if c == 0xc3:
            return True
        if c in (0xc4, 0xc5, 0xc6):
            n = {0xc4: 1, 0xc5: 2, 0xc6: 4}[c]
            return take(int.from_bytes(take(n), "big"))
        if c in (0xc7, 0xc8, 0xc9):
            n = int.from_bytes(take({0xc7: 1, 0xc8: 2, 0xc9: 4}[c]), "big")
            t = struct.unpack(">b", take(1))[0]
            return ext(t, n)
        if c in (0xd4, 0xd5, 0xd6, 0xd7, 0xd8):
            n = {0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}[c]
            t = struct.unpack(">b", take(1))[0]
            return ext(t, n)
        if c == 0xca:
            return struct.unpack(">f", take(4))[0]
        if c == 0xcb:
            return struct.unpack(">d", take(8))[0]
        if 0xcc <= c <= 0xcf:
            return int.from_bytes(take(1 << (c - 0xcc)), "big")
        if 0xd0 <= c <= 0xd3:
            return int.from_bytes(take(1 << (c - 0xd0)), "big", signed=True)
        if c in (0xd9, 0xda, 0xdb):
            n = int.from_bytes(take({0xd9: 1, 0xda: 2, 0xdb: 4}[c]), "big")
            return take(n).decode("utf-8")
        if c in (0xdc, 0xdd):
            n = int.from_bytes(take(2 if c == 0xdc else 4), "big")
            return [read() for _ in range(n)]
        if c in (0xde, 0xdf):
            return read_map(int.from_bytes(take(2 if c == 0xde else 4), "big"))
        raise ValueError("checkpoint structure: bad byte 0x%02x" % c)

    def read_map(n: int) -> dict:
        d = {}
        for _ in range(n):
            k = read()
            d[k] = read()
        return d

    def ext(t: int, n: int) -> Any:
        if t == EXT_ENTRY:
            return entry(int.from_bytes(take(4), "big"))
        if t == EXT_TUPLE:
            return tuple(read())
        raise ValueError("checkpoint structure: unknown ext type %d" % t)

    v = read()
    return v
