"""Recorder.checkpoint and Checkpoint.load/export: every dtype, blobs, files,
asynchronous snapshots, errors."""

import array
import json
import os
import shutil
import sys
import textwrap
import unittest

import numpy as np

from ptutil import StoreTest, run_python

import provtrace

DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
          "float16", "float32", "float64"]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    a = rng.normal(scale=1000, size=shape).astype(dt)
    if a.size >= 3:
        a.flat[0], a.flat[1], a.flat[2] = np.inf, -0.0, np.nan
    return a


def object_files(store):
    root = os.path.join(store, "objects")
    for d in sorted(os.listdir(root)):
        p = os.path.join(root, d)
        if os.path.isdir(p):
            for f in sorted(os.listdir(p)):
                yield d + f, os.path.join(p, f)


class RoundTripTest(StoreTest):
    def check_equal(self, got, want):
        self.assertEqual(sorted(got), sorted(want))
        for k, w in want.items():
            g = got[k]
            if isinstance(w, np.ndarray):
                self.assertIsInstance(g, np.ndarray, k)
                self.assertEqual(g.dtype, w.dtype.newbyteorder("="), k)
                self.assertEqual(g.shape, w.shape, k)
                self.assertTrue(np.array_equal(g, w, equal_nan=w.dtype.kind == "f"), k)
                # Bit for bit (-0.0, NaN payloads).
                self.assertEqual(g.tobytes(), np.ascontiguousarray(w.astype(g.dtype)).tobytes(), k)
            else:
                self.assertEqual(g, w, k)

    def test_every_dtype_sync_and_async(self):
        shapes = [(), (0,), (7,), (3, 4), (2, 3, 5)]
        want = {}
        for i, dt in enumerate(DTYPES):
            for j, shp in enumerate(shapes):
                want["%s.%d" % (dt, j)] = sample(dt, shp, seed=i * 10 + j)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            m = rec.checkpoint(1, want, wait=True)
            self.assertRegex(m, r"^[0-9a-f]{64}$")
            p = rec.checkpoint(2, want)
            self.assertIsInstance(p, provtrace.PendingCheckpoint)
            self.assertEqual(p.ticket, 1)
            p.wait()
            self.assertTrue(p.done)
            st = rec.checkpoint_status()
            self.assertEqual((st["submitted"], st["failed"], st["inflight"]), (1, 0, 0))
        run = provtrace.open_run("r", store=self.store)
        cks = run.checkpoints()
        self.assertEqual([c.step for c in cks], [1, 2])
        self.assertEqual(cks[0].manifest, m)
        # Same contents: same manifest (content-addressed), nothing new stored.
        self.assertEqual(cks[1].manifest, m)
        self.assertEqual(cks[1].info["new_bytes"], 0)
        self.assertEqual(cks[0].info["tensors"], len(want))
        for ck in cks:
            self.check_equal(ck.load(), want)
        ents = {e["name"]: e for e in cks[0].entries()}
        self.assertEqual(ents["float32.3"]["shape"], (3, 4))
        self.assertEqual(ents["float32.3"]["dtype"], "float32")
        self.assertEqual(ents["uint16.0"]["shape"], ())
        self.assertEqual(ents["int64.1"]["size"], 0)

    def test_non_contiguous_and_big_endian_arrays(self):
        base = np.arange(60, dtype=np.float64).reshape(6, 10)
        want = {
            "transposed": base.T,
            "strided": base[::2, 1::3],
            "reversed": base[::-1],
            "fortran": np.asfortranarray(base),
            "big_endian": base.astype(">f4"),
            "big_int": np.arange(5, dtype=">i8"),
            "scalar": np.float32(2.5),
        }
        self.assertFalse(want["transposed"].flags.c_contiguous)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(3, want, wait=True)
        got = provtrace.open_run("r", store=self.store).state_at().checkpoint.load()
        for k, w in want.items():
            w = np.asarray(w)
            self.assertTrue(np.array_equal(got[k], w), k)
            self.assertEqual(got[k].shape, w.shape, k)
            self.assertTrue(got[k].dtype.isnative, k)
        self.assertEqual(got["big_endian"].dtype, np.dtype("float32"))

    def test_blobs_bytes_and_files(self):
        path = os.path.join(self.tmp, "opt.pt")
        payload = os.urandom(300000) + b"\0tail"
        with open(path, "wb") as f:
            f.write(payload)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {
                "w": np.ones((2, 2), np.float32),
                "bytes": b"abc\0def",
                "bytearray": bytearray(b"xyz"),
                "memoryview": memoryview(b"0123456789")[2:8],
                "empty": b"",
                "file": path,
                "pathlike": __import__("pathlib").Path(path),
            }, wait=True)
            rec.checkpoint(2, b"just bytes", wait=True)
            rec.checkpoint(3, path, wait=True)
            rec.checkpoint(4, bytearray(b"named"), wait=True, name="rng_state")
        cks = provtrace.open_run("r", store=self.store).checkpoints()
        got = cks[0].load()
        self.assertEqual(got["bytes"], b"abc\0def")
        self.assertEqual(got["bytearray"], b"xyz")
        self.assertEqual(got["memoryview"], b"234567")
        self.assertEqual(got["empty"], b"")
        self.assertEqual(got["file"], payload)
        self.assertEqual(got["pathlike"], payload)
        self.assertIsInstance(got["bytes"], bytes)
        self.assertEqual(cks[0].info["blobs"], 6)
        self.assertEqual(cks[1].load(), {"blob": b"just bytes"})
        self.assertEqual(cks[2].load(), {"opt.pt": payload})
        self.assertEqual(cks[3].load(), {"rng_state": b"named"})
        self.assertEqual(cks[0].load(names=["file", "w"]).keys(), {"file", "w"})
        with self.assertRaises(provtrace.NotFoundError) as cm:
            cks[0].load(names=["nope"])
        self.assertIn("nope", str(cm.exception))
        with self.assertRaises(TypeError):
            cks[0].load(names="file")

    def test_export(self):
        w = np.arange(12, dtype=np.int32).reshape(3, 4)
        z = np.linspace(0, 1, 5)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(5, {"layer/0.weight": w, ".hidden": b"blob\n", "layer_0.weight": z},
                           wait=True)
        ck = provtrace.open_run("r", store=self.store).state_at(step=5).checkpoint
        out = os.path.join(self.tmp, "export")
        index = ck.export(out)
        with open(os.path.join(out, "index.json")) as f:
            self.assertEqual(json.load(f), index)
        self.assertEqual(index["manifest"], ck.manifest)
        files = {e["name"]: e for e in index["entries"]}
        self.assertEqual(len({e["file"] for e in index["entries"]}), 3)  # made unique
        for e in index["entries"]:
            self.assertNotIn("/", e["file"])
            self.assertFalse(e["file"].startswith("."))
        self.assertTrue(np.array_equal(np.load(os.path.join(out, files["layer/0.weight"]["file"])), w))
        self.assertTrue(np.array_equal(np.load(os.path.join(out, files["layer_0.weight"]["file"])), z))
        self.assertEqual(files["layer/0.weight"]["shape"], [3, 4])
        with open(os.path.join(out, files[".hidden"]["file"]), "rb") as f:
            self.assertEqual(f.read(), b"blob\n")
        self.assertEqual(sorted(os.listdir(out)), sorted(
            ["index.json"] + [e["file"] for e in index["entries"]]))

    def test_bfloat16_as_raw_tensor(self):
        try:
            import torch
        except ImportError:
            self.skipTest("torch is not importable: bfloat16 input needs torch (or ml_dtypes)")
        t = torch.tensor([[1.5, -2.0, 3.25], [0.0, 1e30, -1e-30]], dtype=torch.bfloat16)
        f = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()  # non-contiguous
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {"bf16": t, "f32": f, "param": torch.nn.Parameter(f.clone())},
                           wait=True)
        ck = provtrace.open_run("r", store=self.store).state_at().checkpoint
        ents = {e["name"]: e for e in ck.entries()}
        self.assertEqual(ents["bf16"]["dtype"], "bfloat16")
        got = ck.load()
        self.assertTrue(np.array_equal(got["f32"], f.numpy()))
        self.assertTrue(np.array_equal(got["param"], f.numpy()))
        try:
            import ml_dtypes  # noqa: F401
        except ImportError:
            raw = got["bf16"]
            self.assertIsInstance(raw, provtrace.RawTensor)
            self.assertEqual((raw.dtype, raw.shape), ("bfloat16", (2, 3)))
            back = torch.frombuffer(bytearray(raw.data), dtype=torch.bfloat16).reshape(raw.shape)
            self.assertTrue(torch.equal(back, t))
        else:
            self.assertEqual(got["bf16"].dtype.name, "bfloat16")

    def test_without_numpy(self):
        # numpy made unimportable: buffer objects with dtype/shape are
        # stored, tensors load as RawTensor.
        code = textwrap.dedent("""
            import sys, array
            sys.modules["numpy"] = None
            import provtrace
            class T(array.array):
                dtype = "float32"
                shape = (2, 2)
            t = T("f", [1.0, 2.0, 3.0, 4.5])
            with provtrace.Recorder(run="r", store=%r, capture_code=False) as rec:
                rec.checkpoint(1, {"t": t, "b": b"xy"}, wait=True)
                try:
                    rec.checkpoint(2, {"a": array.array("d", [1.0])})
                except TypeError as e:
                    print("TypeError", e)
            got = provtrace.open_run("r", store=%r).state_at().checkpoint.load()
            print(type(got["t"]).__name__, got["t"].dtype, got["t"].shape,
                  got["t"].data == t.tobytes(), got["b"])
        """ % (self.store, self.store))
        p = run_python(code)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith("TypeError checkpoint entry 'a'"), lines)
        self.assertEqual(lines[1], "RawTensor float32 (2, 2) True b'xy'")


class AsyncTest(StoreTest):
    def test_buffers_may_change_after_snapshot(self):
        a = np.arange(100000, dtype=np.float32)
        blob = bytearray(b"before" * 1000)
        want_a = a.copy()
        want_blob = bytes(blob)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            pending = [rec.checkpoint(s, {"a": a, "blob": blob}) for s in (1,)]
            # Overwritten right after the call returned: the snapshot copied them.
            a[:] = -1
            blob[:6] = b"AFTER!"
            pending.append(rec.checkpoint(2, {"a": a, "blob": blob}))
            a[:] = 7
            self.assertEqual([p.ticket for p in pending], [1, 2])
            self.assertIn("PendingCheckpoint #1", repr(pending[0]))
        # close() waited for both.
        cks = provtrace.open_run("r", store=self.store).checkpoints()
        self.assertEqual([c.step for c in cks], [1, 2])
        first, second = cks[0].load(), cks[1].load()
        self.assertTrue(np.array_equal(first["a"], want_a))
        self.assertEqual(first["blob"], want_blob)
        self.assertTrue(np.all(second["a"] == -1))
        self.assertEqual(second["blob"][:6], b"AFTER!")

    def test_pending_checkpoints_persist_at_exit_and_gc(self):
        code = textwrap.dedent("""
            import numpy as np, provtrace
            rec = provtrace.Recorder(run="exit", store=%r, capture_code=False)
            p = rec.checkpoint(1, {"a": np.arange(200000.0)})
            rec.checkpoint(2, {"a": np.arange(200000.0) * 2})
            print("leaving")
        """ % self.store)
        p = run_python(code)
        self.assertEqual(p.returncode, 0, p.stderr)
        cks = provtrace.open_run("exit", store=self.store).checkpoints()
        self.assertEqual([c.step for c in cks], [1, 2])
        self.assertEqual(cks[1].load()["a"][-1], 2 * 199999.0)
        # Garbage collection of the recorder closes its checkpointer first.
        rec = provtrace.Recorder(run="gc", store=self.store, capture_code=False)
        pend = rec.checkpoint(3, {"a": np.ones(1000)})
        del rec
        import gc
        gc.collect()
        self.assertTrue(pend.done)
        pend.wait()  # nothing left to wait for
        self.assertEqual([c.step for c in provtrace.open_run("gc", store=self.store).checkpoints()],
                         [3])

    def test_background_error_surfaces_on_next_call_and_close(self):
        rec = provtrace.Recorder(run="r", store=self.store, capture_code=False)
        try:
            rec.checkpoint(0, {"x": np.zeros(4)}, wait=True)  # the checkpointer is open
            objects = os.path.join(self.store, "objects")
            saved = objects + ".saved"
            os.rename(objects, saved)
            with open(objects, "w") as f:  # a file where the directory was
                f.write("not a directory")
            p = rec.checkpoint(1, {"x": np.ones(4)})  # copied: returns
            with self.assertRaises(provtrace.ProvtraceError) as cm:
                p.wait()
            self.assertIn("step 1", str(cm.exception))
            self.assertEqual(rec.checkpoint_status()["failed"], 1)
            # Reported once: the next call works again once the store is back.
            os.remove(objects)
            os.rename(saved, objects)
            self.assertRegex(rec.checkpoint(2, {"x": np.ones(4)}, wait=True), "^[0-9a-f]{64}$")
            # A failure found only by close() is raised by close().
            os.rename(objects, saved)
            with open(objects, "w") as f:
                f.write("x")
            rec.checkpoint(3, {"x": np.full(4, 3.0)})
        finally:
            with self.assertRaises(provtrace.ProvtraceError):
                rec.close()
            self.assertTrue(rec.closed)
            if os.path.isfile(os.path.join(self.store, "objects")):
                os.remove(os.path.join(self.store, "objects"))
                os.rename(os.path.join(self.store, "objects.saved"),
                          os.path.join(self.store, "objects"))
        steps = [c.step for c in provtrace.open_run("r", store=self.store).checkpoints()]
        self.assertEqual(steps, [0, 2])


class ErrorTest(StoreTest):
    def test_type_errors_before_anything_is_stored(self):
        path = os.path.join(self.tmp, "missing.bin")
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            bad = [
                ({"o": np.array([object()])}, TypeError, "'o'"),
                ({"s": np.array(["a"])}, TypeError, "'s'"),
                # nested state (test_nested_checkpoint.py): the path of the bad leaf
                ({"l": [1.0, object()]}, TypeError, "l.1"),
                ({"n": None, "x": {"y": object()}}, TypeError, "x.y"),
                ({1: {2: [set()]}}, TypeError, "1.2.0"),
                ([np.zeros(2), {"k": object()}], TypeError, "1.k"),
                (42, TypeError, "int"),
                ({}, ValueError, "empty"),
                ({"f": path}, FileNotFoundError, "missing.bin"),
                ({"ok": np.zeros(2), "bad\0name": np.zeros(2)}, ValueError, "NUL"),
            ]
            for data, exc, text in bad:
                for wait in (True, False):
                    with self.assertRaises(exc, msg=repr(data)) as cm:
                        rec.checkpoint(1, data, wait=wait)
                    self.assertIn(text, str(cm.exception))
            with self.assertRaises(TypeError):
                rec.checkpoint(True, {"x": np.zeros(1)})
            with self.assertRaises(TypeError):
                rec.checkpoint("1", {"x": np.zeros(1)})
            with self.assertRaises(TypeError):
                rec.checkpoint(1, {"x": np.zeros(1)}, wait=1)
            with self.assertRaises(ValueError):
                rec.checkpoint(2**63, {"x": np.zeros(1)})
            for wait in (True, False):  # checked by the library
                with self.assertRaises(provtrace.InvalidError):
                    rec.checkpoint(1, {"": np.zeros(1)}, wait=wait)
                with self.assertRaises(provtrace.InvalidError):
                    rec.checkpoint(1, b"x", wait=wait, name="")
                with self.assertRaises(provtrace.InvalidError):
                    rec.checkpoint(1, {"x" * 1025: b"x"}, wait=wait)
            rec.checkpoint(1, {"x": np.zeros(1)}, wait=True)
            self.assertEqual(rec.checkpoint_status()["submitted"], 0)
        self.assertEqual(provtrace.open_run("r", store=self.store).checkpoints()[0].step, 1)
        self.assertEqual(len(provtrace.open_run("r", store=self.store).checkpoints()), 1)

    def test_closed_recorder(self):
        rec = provtrace.Recorder(run="r", store=self.store, capture_code=False)
        rec.close()
        for call in (lambda: rec.checkpoint(1, b"x"), rec.wait_checkpoints,
                     rec.checkpoint_status):
            with self.assertRaises(provtrace.ClosedError):
                call()

    def test_damaged_chunk_is_reported_with_the_entry(self):
        w = np.arange(4096, dtype=np.float64)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            m = rec.checkpoint(1, {"w": w}, wait=True)
        ck = provtrace.open_run("r", store=self.store).state_at().checkpoint
        damaged = 0
        for oid, path in object_files(self.store):
            if oid != m:
                os.chmod(path, 0o644)
                with open(path, "r+b") as f:
                    f.seek(-8, os.SEEK_END)
                    f.write(b"XXXXXXXX")
                damaged += 1
        self.assertGreater(damaged, 0)
        with self.assertRaises(provtrace.CorruptError) as cm:
            ck.load()
        self.assertIn("'w'", str(cm.exception))
        with self.assertRaises(provtrace.CorruptError):
            ck.export(os.path.join(self.tmp, "out"))

    def test_missing_manifest(self):
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            m = rec.checkpoint(1, {"w": np.zeros(3)}, wait=True)
        shutil.rmtree(os.path.join(self.store, "objects", m[:2]))
        ck = provtrace.open_run("r", store=self.store).state_at().checkpoint
        with self.assertRaises(provtrace.NotFoundError):
            ck.load()


if __name__ == "__main__":
    unittest.main()
