"""Keys, signed checkpoints and proof bundles (provtrace/proof.h, docs/PROOFS.md)."""

import json
import os
from ctypes import byref, c_uint64, c_void_p, string_at
from typing import Any, Dict, Optional, Union

from . import _lib

PathLike = Union[str, "os.PathLike[str]"]


def _take_text(ptr: c_void_p) -> str:
    """Copy then free a NUL-terminated string the library allocated."""
    try:
        return string_at(ptr.value).decode("utf-8") if ptr.value else ""
    finally:
        if ptr.value:
            _lib.pt_free(ptr)


def _key_arg(key: Union[str, bytes, "os.PathLike[str]"]) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return _lib.cname(key, "key")
    return _lib.fspath(key)


def generate_key(path: PathLike, name: str = "provtrace") -> str:
    """Make an Ed25519 key pair: the private key in ``path`` (mode 0600,
    never overwriting a file), the verifier key in ``path + ".pub"``.
    Returns the verifier key line ``NAME+KEYID+BASE64``."""
    out = c_void_p()
    _lib.check(_lib.pt_key_generate(_lib.fspath(path), _lib.cname(name, "key name"), byref(out)),
               "generate_key")
    return _take_text(out)


def trust_key(key: Union[str, "os.PathLike[str]"], store=None) -> None:
    """List a verifier key (a ``.pub`` path or the key line) as trusted in the
    store's config: ``verify`` then checks signed checkpoints against it."""
    from ._store import open_store

    st = open_store(store)
    _lib.check(_lib.pt_key_trust(st.ptr, _key_arg(key)), "trust_key")


def check_proof(bundle: Union[str, bytes, Dict[str, Any]],
                key: Union[str, bytes, "os.PathLike[str]"]) -> Dict[str, Any]:
    """Check a proof bundle offline (no store): ``bundle`` is its JSON text
    (str or bytes) or the parsed dict, ``key`` the signer's verifier key (a
    ``.pub`` path or the ``NAME+KEYID+BASE64`` line).  Returns what was
    proven (``kind``, ``run``, ``stream``, ``origin``, ``tree_size``,
    ``root``, and ``seq`` and ``event`` for an inclusion proof).  Raises
    :class:`CorruptError` with the reason when the bundle does not prove
    what it says, :class:`InvalidError` for a bad key."""
    if isinstance(bundle, dict):
        bundle = json.dumps(bundle)
    data = bundle.encode("utf-8") if isinstance(bundle, str) else bytes(bundle)
    out = c_void_p()
    _lib.check(_lib.pt_check_proof(byref(out), data, len(data), _key_arg(key)), "check_proof")
    return json.loads(_take_text(out))


def prove(store, run: str, seq: int, stream: Optional[str] = None) -> Dict[str, Any]:
    """The proof bundle (a dict; ``json.dumps`` it to hand it on) for event
    ``seq`` of ``run``/``stream`` against the stream's signed checkpoint."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("seq must be an int >= 1, not %r" % (seq,))
    out = c_void_p()
    _lib.check(_lib.pt_prove(byref(out), store.ptr, _lib.cname(run, "run"),
                             None if stream is None else _lib.cname(stream, "stream"), seq), "prove")
    return json.loads(_take_text(out))


def prove_consistency(store, old_checkpoint: str, new_checkpoint: Optional[str] = None) -> Dict[str, Any]:
    """The consistency bundle: the log of ``new_checkpoint`` (note text;
    None: the stream's current signed checkpoint) extends the log of
    ``old_checkpoint`` (note text)."""
    out = c_void_p()
    _lib.check(_lib.pt_prove_consistency(
        byref(out), store.ptr, old_checkpoint.encode("utf-8"),
        None if new_checkpoint is None else new_checkpoint.encode("utf-8")), "prove_consistency")
    return json.loads(_take_text(out))


def set_signing_key(handle, path: PathLike) -> None:
    _lib.check(_lib.pt_recorder_set_signing_key(handle, _lib.fspath(path)), "signing_key")


def sign_checkpoint(handle) -> str:
    out = c_void_p()
    _lib.check(_lib.pt_recorder_sign_checkpoint(handle, byref(out)), "sign_checkpoint")
    return _take_text(out)


def anchor_push(url: str, store=None, branch: Optional[str] = None) -> Dict[str, Any]:
    """Push the newest signed checkpoint of every stream of the store to the
    git repository ``url`` as one commit on ``branch`` (default
    ``provtrace/<store id>``).  Returns {"commit", "branch", "anchored",
    "unsigned"}."""
    from ._store import open_store

    st = open_store(store)
    out = c_void_p()
    _lib.check(_lib.pt_anchor_push(st.ptr, _lib.cname(url, "url"),
                                   None if branch is None else _lib.cname(branch, "branch"), byref(out)),
               "anchor_push")
    return json.loads(_take_text(out))


def anchor_verify(url: str, store=None, branch: Optional[str] = None) -> Dict[str, Any]:
    """Check that the store extends every checkpoint anchored on ``url``:
    {"ok": bool, "checked": n, "problems": [{"severity", "object",
    "message"}]} (a store that does not extend them is not an exception:
    ``ok`` is False and the problems say which stream and how)."""
    from ._store import open_store

    st = open_store(store)
    problems = []

    def cb(p, _payload):
        pr = p.contents
        problems.append({"severity": "warning" if pr.severity == 1 else "error",
                         "object": (pr.object or b"").decode("utf-8", "replace"),
                         "message": (pr.message or b"").decode("utf-8", "replace")})
        return 0

    n = c_uint64()
    rc = _lib.pt_anchor_verify(st.ptr, _lib.cname(url, "url"),
                               None if branch is None else _lib.cname(branch, "branch"),
                               _lib.PROBLEM_CB(cb), None, byref(n))
    if rc and rc != _lib._errors.PT_ECORRUPT:
        _lib.check(rc, "anchor_verify")
    return {"ok": rc == 0, "checked": n.value, "problems": problems}
