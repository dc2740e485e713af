"""The stream's Merkle tree, recomputed from the raw segment bytes with
hashlib, msgpack and the zstd CLI only (no provtrace code reads anything
here): every batch header's root and every footer's root and compact range
must be the RFC 6962 tree of the events so far (docs/FORMAT.md)."""

import hashlib
import os
import struct
import subprocess
import unittest

import msgpack

from ptutil import StoreTest
import provtrace


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node_hash(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    """RFC 6962 section 2.1, straight from the definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def compact_range(leaves):
    """The perfect subtrees the binary digits of len(leaves) cut it into, left to right."""
    out, lo, n = [], 0, len(leaves)
    for bit in range(63, -1, -1):
        if n & (1 << bit):
            out.append(mth(leaves[lo:lo + (1 << bit)]))
            lo += 1 << bit
    return out


def unzstd(frame):
    return subprocess.run(["zstd", "-dcq"], input=frame, capture_output=True, check=True).stdout


def frames(data):
    """(magic, payload bytes) of each zstd skippable frame, in order; batch payloads follow their header."""
    off = 0
    while off < len(data):
        magic, length = struct.unpack_from("<II", data, off)
        yield off, magic, data[off + 8:off + 8 + length]
        off += 8 + length
        if magic == 0x184D2A51:  # batch header: the zstd payload follows
            plen = struct.unpack_from("<I", data, off - length + 20)[0]
            yield off, "payload", data[off:off + plen]
            off += plen


class MerkleRootTest(StoreTest):
    def test_roots_in_segments_are_the_rfc6962_tree_of_the_events(self):
        with provtrace.Recorder("m", store=self.store, capture_code=False, segment_max_bytes=4096,
                                batch_max_events=7) as rec:
            for i in range(300):
                rec.metric("loss", 1.0 / (i + 1), step=i)
                if i % 50 == 0:
                    rec.flush()
        sdir = os.path.join(self.store, "runs", "m", "main")
        order = [line.split()[1] for line in open(os.path.join(sdir, "chain")) if line[0].isdigit()]
        self.assertGreater(len(order), 3)
        leaves = []
        batch_roots = footer_trees = 0
        for seg_id in order:
            data = open(os.path.join(sdir, "segments", seg_id + ".ptseg"), "rb").read()
            self.assertEqual(hashlib.sha256(data).hexdigest(), seg_id)
            pending_root = None
            for off, magic, body in frames(data):
                if magic == 0x184D2A50:
                    self.assertEqual(body[:4], b"PTSG")
                    self.assertEqual(struct.unpack_from("<H", body, 4)[0], 2)
                elif magic == 0x184D2A51:
                    self.assertEqual(len(body), 100)
                    first, count = struct.unpack_from("<QI", body, 8)
                    self.assertEqual(first, len(leaves) + 1)
                    pending_root, pending_count = body[64:96], count
                elif magic == "payload":
                    raw = unzstd(body)
                    up = msgpack.Unpacker(raw=True)
                    up.feed(raw)
                    start = 0
                    for _ in range(pending_count):
                        ev = up.unpack()
                        end = up.tell()
                        self.assertEqual(ev[b"seq"], len(leaves) + 1)
                        leaves.append(leaf_hash(raw[start:end]))
                        start = end
                    self.assertEqual(start, len(raw))
                    self.assertEqual(pending_root, mth(leaves), "batch root at seq %d" % len(leaves))
                    batch_roots += 1
                elif magic == 0x184D2A52:
                    self.assertEqual(body[:4], b"PTIX")
                    self.assertEqual(struct.unpack_from("<H", body, 4)[0], 2)
                    size = struct.unpack_from("<Q", body, 112)[0]
                    root = body[120:152]
                    k = struct.unpack_from("<I", body, 152)[0]
                    nodes = [body[160 + 32 * i:192 + 32 * i] for i in range(k)]
                    self.assertEqual(size, len(leaves))
                    self.assertEqual(root, mth(leaves))
                    self.assertEqual(nodes, compact_range(leaves))
                    footer_trees += 1
        self.assertGreaterEqual(len(leaves), 300)
        self.assertGreater(batch_roots, 40)
        self.assertEqual(footer_trees, len(order))


if __name__ == "__main__":
    unittest.main()
