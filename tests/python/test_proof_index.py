"""The subtree-hash index (STREAM/merkle.idx, docs/FORMAT.md): proofs built
from it check, its entries are the RFC 6962 hashes of the stream's 1024-leaf
blocks (recomputed here with hashlib from the raw segments), and a missing,
truncated, damaged or hostile index only costs time - every proof returned
still checks against the signed checkpoint."""

import os
import random
import struct

import msgpack

from ptutil import StoreTest
import provtrace
from test_merkle_root import frames, leaf_hash, mth, unzstd

BLOCK = 1024
HDR = 16
ENT = 36


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def entry(i, h):
    return h + struct.pack("<I", crc32c(struct.pack("<Q", i) + h))


class ProofIndexTest(StoreTest):
    N = 4500

    def setUp(self):
        super().setUp()
        self.key = os.path.join(self.tmp, "k.key")
        self.vkey = provtrace.generate_key(self.key, "k")
        self.notes = {}
        with provtrace.Recorder("r", store=self.store, capture_code=False, signing_key=self.key,
                                segment_max_bytes=32768, batch_max_events=64) as rec:
            for i in range(self.N):
                rec.metric("loss", 1.0 / (i + 1), step=i)
                if i + 1 in (1000, 1024, 2049, 3000):
                    self.notes[i + 1] = rec.sign_checkpoint()
        self.run_ = provtrace.open_run("r", store=self.store)
        self.sdir = os.path.join(self.store, "runs", "r", "main")
        self.idx = os.path.join(self.sdir, "merkle.idx")

    def leaves(self):
        order = [line.split()[1] for line in open(os.path.join(self.sdir, "chain")) if line[0].isdigit()]
        out, count = [], 0
        for seg_id in order:
            data = open(os.path.join(self.sdir, "segments", seg_id + ".ptseg"), "rb").read()
            for _off, magic, body in frames(data):
                if magic == 0x184D2A51:
                    count = struct.unpack_from("<QI", body, 8)[1]
                elif magic == "payload":
                    raw = unzstd(body)
                    up = msgpack.Unpacker(raw=True)
                    up.feed(raw)
                    start = 0
                    for _ in range(count):
                        up.unpack()
                        out.append(leaf_hash(raw[start:up.tell()]))
                        start = up.tell()
        return out

    def check(self, seq):
        b = self.run_.prove(seq)
        self.assertEqual(provtrace.check_proof(b, self.vkey)["seq"], seq)
        return b

    def test_index_is_built_cached_and_its_entries_are_the_blocks_hashes(self):
        self.assertFalse(os.path.exists(self.idx))
        size = self.check(1)["tree_size"]               # the events and the run's end
        self.assertGreaterEqual(size, self.N)
        data = open(self.idx, "rb").read()
        self.assertEqual(data[:8], b"ptmidx01")
        self.assertEqual(struct.unpack_from("<II", data, 8), (10, 0))
        nblocks = size // BLOCK
        self.assertEqual(len(data), HDR + ENT * nblocks)
        leaves = self.leaves()
        self.assertEqual(len(leaves), size)
        for i in range(nblocks):
            self.assertEqual(data[HDR + ENT * i:HDR + ENT * (i + 1)], entry(i, mth(leaves[i * BLOCK:(i + 1) * BLOCK])))
        # every edge around the blocks and random events: the proofs check, the file stays as it is
        ino = os.stat(self.idx).st_ino
        rnd = random.Random(7)
        for seq in [1, 2, 1023, 1024, 1025, 2048, 2049, 3072, 4095, 4096, 4097, size - 1, size] + \
                [rnd.randint(1, size) for _ in range(20)]:
            self.check(seq)
        self.assertEqual(open(self.idx, "rb").read(), data)
        self.assertEqual(os.stat(self.idx).st_ino, ino)  # never dropped: every proof came from the index
        self.assertEqual(provtrace.verify(self.store), [])  # a derived file verify accepts
        os.unlink(self.idx)                               # deleting it loses nothing
        self.check(777)
        self.assertEqual(open(self.idx, "rb").read(), data)

    def test_consistency_proofs_from_the_index(self):
        for old in sorted(self.notes):
            b = self.run_.prove_consistency(self.notes[old])
            self.assertEqual(b["old_size"], old)
            self.assertEqual(provtrace.check_proof(b, self.vkey)["old_size"], old)
        for a in sorted(self.notes):
            for c in sorted(self.notes):
                if a < c:
                    b = self.run_.prove_consistency(self.notes[a], self.notes[c])
                    self.assertEqual(provtrace.check_proof(b, self.vkey)["tree_size"], c)
        self.assertTrue(os.path.exists(self.idx))

    def damaged(self, mutate, expect_rebuilt=True):
        self.check(5)
        good = open(self.idx, "rb").read()
        bad = mutate(bytearray(good))
        if bad is not None:
            with open(self.idx, "wb") as f:
                f.write(bad)
        for seq in (5, 1500, 2600, 4400):
            self.check(seq)
        self.check(3333)
        if expect_rebuilt:
            self.assertEqual(open(self.idx, "rb").read(), good)
        return good

    def test_absent_truncated_or_damaged_index_is_rebuilt(self):
        self.damaged(lambda b: os.unlink(self.idx))
        self.damaged(lambda b: b[:HDR + ENT + 7])            # cut inside entry 1
        self.damaged(lambda b: b[:5])                        # cut inside the header
        self.damaged(lambda b: b"")
        def flip(b):
            b[HDR + ENT * 2 + 3] ^= 0x40                     # entry 2's hash: its CRC no longer matches
            return b
        self.damaged(flip)
        def foreign(b):
            b[8] = 12                                        # another block size
            return b
        self.damaged(foreign)
        self.damaged(lambda b: b + b"\x00" * 100, False)     # junk after the last entry: ignored

    def test_hostile_index_with_valid_crcs_never_yields_a_wrong_proof(self):
        def hostile(b):
            # entry 1 replaced by another block's hash with a correct CRC: only the
            # final check against the signed root can tell
            h = bytes(b[HDR:HDR + 32])
            b[HDR + ENT:HDR + 2 * ENT] = entry(1, h)
            return b
        self.damaged(hostile)
        # a full index of lies: proofs still check (recomputed from the events)
        n = self.N // BLOCK
        with open(self.idx, "wb") as f:
            f.write(b"ptmidx01" + struct.pack("<II", 10, 0) + b"".join(entry(i, bytes([i]) * 32) for i in range(n)))
        self.check(2222)
        self.assertFalse(os.path.exists(self.idx))       # the proof failed its check: the index was dropped
        self.check(1)
        self.assertTrue(os.path.exists(self.idx))        # and rebuilt by the next proof
        with open(self.idx, "wb") as f:
            f.write(b"ptmidx01" + struct.pack("<II", 10, 0) + b"".join(entry(i, bytes([i]) * 32) for i in range(n)))
        for seq in (1, 1024, 2222, self.N):
            self.check(seq)
        for old in sorted(self.notes):
            provtrace.check_proof(self.run_.prove_consistency(self.notes[old]), self.vkey)

    def test_an_index_that_cannot_be_written_or_is_a_link_is_only_slower(self):
        os.mkdir(self.idx)                                   # a directory where the file goes
        for seq in (1, 2500, self.N):
            self.check(seq)
        os.rmdir(self.idx)
        target = os.path.join(self.tmp, "elsewhere")
        with open(target, "wb") as f:
            f.write(b"x")
        os.symlink(target, self.idx)                         # never followed
        self.check(3000)
        self.assertEqual(open(target, "rb").read(), b"x")

    def test_a_changed_event_is_still_refused_with_a_cached_index(self):
        self.check(10)
        self.assertTrue(os.path.exists(self.idx))
        # rewrite history: a new stream of other events under the same signed checkpoint note
        order = [line.split()[1] for line in open(os.path.join(self.sdir, "chain")) if line[0].isdigit()]
        seg = os.path.join(self.sdir, "segments", order[0] + ".ptseg")
        data = bytearray(open(seg, "rb").read())
        data[len(data) // 3] ^= 1
        os.chmod(seg, 0o644)
        with open(seg, "wb") as f:
            f.write(data)
        with self.assertRaises(provtrace.CorruptError):
            self.check(3)


if __name__ == "__main__":
    import unittest
    unittest.main()
