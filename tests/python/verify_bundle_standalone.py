#!/usr/bin/env python3
"""Verify a provtrace proof bundle with no provtrace code: the Python
standard library for JSON, base64 and SHA-256, and the `openssl` command
for Ed25519.  This is the page of Python of docs/PROOFS.md, kept runnable
(tests/python/test_proof.py runs it).

usage: verify_bundle_standalone.py BUNDLE.json KEY.pub
"""
import base64, hashlib, json, os, subprocess, sys, tempfile

def b64(s, n=None):
    b = base64.b64decode(s, validate=True)
    if base64.b64encode(b).decode() != s or (n is not None and len(b) != n):
        sys.exit("bad base64 or length")
    return b

def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()

def root_from_inclusion(index, size, leaf_hash, proof):      # RFC 9162 2.1.3.2
    if index >= size:
        sys.exit("index outside the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            sys.exit("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    if sn != 0:
        sys.exit("proof too short")
    return r

def open_note(note, vkey):
    """C2SP signed-note: check the signature by vkey, return (origin, size, root)."""
    name, keyid, key = vkey.strip().split("+", 2)   # base64 may hold "+"
    raw = b64(key, 33)
    assert raw[0] == 1, "not an Ed25519 key"
    kid = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if kid.hex() != keyid:
        sys.exit("key id does not match the key")
    body, sigs = note.split("\n\n", 1)
    body += "\n"
    for line in sigs.splitlines():
        dash, sname, sig = line.split(" ")
        sig = b64(sig)
        if dash != "\u2014" or sname != name or sig[:4] != kid:
            continue
        der = bytes.fromhex("302a300506032b6570032100") + raw[1:]   # SubjectPublicKeyInfo
        pem = "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % base64.b64encode(der).decode()
        with tempfile.TemporaryDirectory() as d:
            for fn, data in (("pub.pem", pem.encode()), ("msg", body.encode()), ("sig", sig[4:])):
                with open(os.path.join(d, fn), "wb") as f:
                    f.write(data)
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", os.path.join(d, "pub.pem"),
                                "-rawin", "-in", os.path.join(d, "msg"), "-sigfile", os.path.join(d, "sig")],
                               capture_output=True)
        if r.returncode != 0:
            sys.exit("signature does not verify")
        origin, size, root = body.split("\n")[:3]
        if str(int(size)) != size:
            sys.exit("size is not canonical")
        return origin, int(size), b64(root, 32)
    sys.exit("no signature by this key")

bundle = json.load(open(sys.argv[1]))
vkey = open(sys.argv[2]).read()
assert bundle["format"] == "provtrace-proof" and bundle["version"] == 1 and bundle["kind"] == "inclusion"
origin, size, root = open_note(bundle["checkpoint"], vkey)
_, store, run, stream = origin.split("/")
assert (run, stream) == (bundle["run"], bundle["stream"]), "the checkpoint is of another stream"
assert bundle["tree_size"] == size, "tree size differs from the signed one"
assert bundle["leaf_index"] == bundle["seq"] - 1 < size
leaf = b64(bundle["leaf"])
# the leaf is the msgpack map of the event: its first key "seq" (fixstr a3 73 65 71) holds the seq
assert leaf[1:5] == b"\xa3seq", "the leaf is not an event"
t = leaf[5]
seq = t if t < 0x80 else int.from_bytes(leaf[6:6 + {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[t]], "big")
assert seq == bundle["seq"], "the leaf is another event"
proof = [b64(h, 32) for h in bundle["proof"]]
got = root_from_inclusion(bundle["leaf_index"], size, hashlib.sha256(b"\x00" + leaf).digest(), proof)
if got != root:
    sys.exit("the proof does not lead to the signed root")
print("OK: seq %d of %s/%s is in the log %s of %d events" % (bundle["seq"], run, stream, origin, size))
