"""Nested state in checkpoints (manifest version 2): dicts, lists, tuples of
tensors, arrays, bytes and plain values; every torch dtype bit-exact; entry
dedup per tensor; TypeError naming the path; old (flat) checkpoints."""

import os
import unittest

import numpy as np

from ptutil import StoreTest

import provtrace

try:
    import torch
except ImportError:  # the package works without torch; these tests need it
    torch = None


def same(testcase, got, want, path="root"):
    if torch is not None and isinstance(want, torch.Tensor):
        testcase.assertIsInstance(got, torch.Tensor, path)
        testcase.assertEqual(got.dtype, want.dtype, path)
        testcase.assertEqual(tuple(got.shape), tuple(want.shape), path)
        bits = {2: torch.int16, 4: torch.int32, 8: torch.int64, 1: torch.int8}
        if want.dtype == torch.complex128:
            testcase.assertTrue(torch.equal(torch.view_as_real(got), torch.view_as_real(want)))
        elif want.dtype == torch.bool:
            testcase.assertTrue(torch.equal(got, want), path)
        else:
            size = want.element_size()
            testcase.assertTrue(torch.equal(got.contiguous().view(bits[size]),
                                            want.contiguous().view(bits[size])), path)
    elif isinstance(want, np.ndarray):
        testcase.assertIsInstance(got, np.ndarray, path)
        testcase.assertEqual(got.dtype, want.dtype, path)
        testcase.assertEqual(got.tobytes(), want.tobytes(), path)
    elif isinstance(want, dict):
        testcase.assertIsInstance(got, dict, path)
        testcase.assertEqual(list(got), list(want), path)
        for k in want:
            same(testcase, got[k], want[k], "%s.%s" % (path, k))
    elif isinstance(want, (list, tuple)):
        testcase.assertIs(type(got), type(want), path)
        testcase.assertEqual(len(got), len(want), path)
        for i, (g, w) in enumerate(zip(got, want)):
            same(testcase, g, w, "%s.%d" % (path, i))
    elif isinstance(want, float) and want != want:
        testcase.assertTrue(got != got, path)
    else:
        testcase.assertEqual(type(got), type(want), path)
        testcase.assertEqual(got, want, path)


class NestedNumpyTest(StoreTest):
    def test_round_trip_plain_values_and_arrays(self):
        state = {
            "epoch": 3, "big": 2 ** 64 - 1, "neg": -(2 ** 63), "lr": 1e-3, "nan": float("nan"),
            "name": "ré" * 40, "none": None, "flag": True,
            "betas": (0.9, 0.999), "nested": [[1, 2], {"a": np.arange(5, dtype=np.int64)}],
            7: "int key", 2.5: "float key", None: "nil key",
            "blob": b"\x00raw bytes",
            "w": np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10),
            "c": np.array([1 + 2j, -0.0 - 1j], dtype=np.complex64),
            "scalar": np.float32(2.5),
        }
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            m = rec.checkpoint(1, state, wait=True)
        ck = provtrace.open_run("r", store=self.store).checkpoints()[0]
        self.assertEqual(ck.manifest, m)
        got = ck.load()
        want = dict(state)
        want["scalar"] = np.asarray(state["scalar"])
        same(self, got, want)
        names = [e["name"] for e in ck.entries()]
        self.assertEqual(names, ["nested.1.a", "blob", "w", "c", "scalar"])
        # names= reads entries by their path, flat
        self.assertEqual(ck.load(names=["blob"]), {"blob": b"\x00raw bytes"})
        self.assertIsNotNone(ck.structure())

    def test_flat_checkpoints_are_unchanged(self):
        # the flat form (every value a tensor/bytes/path) writes a version-1
        # manifest, as before, and loads as a flat dict
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, {"a.b": np.ones(3, np.float32), "c": b"x"}, wait=True)
        ck = provtrace.open_run("r", store=self.store).checkpoints()[0]
        self.assertIsNone(ck.structure())
        from provtrace.checkpoint import _Reader  # noqa: F401
        got = ck.load()
        self.assertEqual(sorted(got), ["a.b", "c"])
        path = os.path.join(self.store, "objects", ck.manifest[:2], ck.manifest[2:])
        self.assertTrue(os.path.exists(path))

    def test_unsupported_leaf_names_its_path(self):
        class Thing:
            pass

        state = {"optimizer": {"state": {3: {"momentum_buffer": Thing()}}}}
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            with self.assertRaises(TypeError) as cm:
                rec.checkpoint(1, state, wait=True)
            self.assertIn("optimizer.state.3.momentum_buffer", str(cm.exception))
            with self.assertRaises(TypeError) as cm:
                rec.checkpoint(1, {"a": {(1, 2): 3}}, wait=True)
            self.assertIn("key", str(cm.exception))
            with self.assertRaises(TypeError) as cm:
                rec.checkpoint(1, {"a": [2 ** 70]}, wait=True)
            self.assertIn("a.0", str(cm.exception))
            with self.assertRaises(TypeError) as cm:
                rec.checkpoint(1, {"a": {"b": np.array(["x"])}}, wait=True)
            self.assertIn("a.b", str(cm.exception))
        self.assertEqual(provtrace.open_run("r", store=self.store).checkpoints(), [])

    def test_c_rejects_bad_structures(self):
        from provtrace import checkpoint as C
        from provtrace.errors import InvalidError
        b = C._Builder()
        try:
            b.add_tensor("t", np.zeros(2, np.float32))
            for bad in (b"\xd6\x01\x00\x00\x00\x01",   # entry 1 of 1
                        b"\xd6\x05\x00\x00\x00\x00",   # unknown ext
                        b"\x81\x91\x00\x00",           # array as a key
                        b"\xa2\xff\xfe",               # bad UTF-8
                        b"\x92\x00",                   # truncated
                        b"\xc7\x01\x02\x00",           # tuple without an array
                        b"\x00\x00",                   # trailing bytes
                        b"\x91" * 70 + b"\x00"):       # too deep
                with self.assertRaises(InvalidError, msg=bad):
                    provtrace._lib.check(C.pt_checkpoint_set_structure(b.ptr, bad, len(bad)),
                                         "structure")
            ok = b"\x81\xa1t\xd6\x01\x00\x00\x00\x00"
            provtrace._lib.check(C.pt_checkpoint_set_structure(b.ptr, ok, len(ok)), "structure")
        finally:
            b.free()


@unittest.skipIf(torch is None, "torch is not installed")
class NestedTorchTest(StoreTest):
    def model_and_opt(self):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        x = torch.randn(16, 4)
        for _ in range(3):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
            sched.step()
        return m, opt, sched

    def test_state_dicts_round_trip_bit_exact(self):
        m, opt, sched = self.model_and_opt()
        state = {"model": m.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "rng": torch.get_rng_state()}
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(3, state, wait=True)
            rec.checkpoint(4, state)          # background snapshot: same manifest
        cks = provtrace.open_run("r", store=self.store).checkpoints()
        self.assertEqual(cks[0].manifest, cks[1].manifest)
        got = cks[0].load(torch=True)
        same(self, got, state)
        # loads into fresh objects
        m2, opt2, sched2 = self.model_and_opt()
        m2.load_state_dict(got["model"])
        opt2.load_state_dict(got["optimizer"])
        sched2.load_state_dict(got["scheduler"])
        same(self, opt2.state_dict(), opt.state_dict())
        # numpy form: same bits
        as_np = cks[0].load()
        self.assertIsInstance(as_np["model"]["0.weight"], np.ndarray)
        self.assertEqual(as_np["model"]["0.weight"].tobytes(),
                         state["model"]["0.weight"].numpy().tobytes())
        names = {e["name"] for e in cks[0].entries()}
        self.assertIn("optimizer.state.0.exp_avg", names)
        self.assertIn("model.2.bias", names)

    def test_every_torch_dtype(self):
        dts = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
               torch.float16, torch.bfloat16, torch.float32, torch.float64,
               torch.complex64, torch.complex128]
        for name in ("complex32", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                     "float8_e5m2fnuz", "uint16", "uint32", "uint64"):
            if hasattr(torch, name):
                dts.append(getattr(torch, name))
        g = torch.Generator().manual_seed(1)
        state = {}
        for dt in dts:
            raw = torch.randint(-100, 100, (3, 5), generator=g, dtype=torch.int64)
            if dt == torch.bool:
                t = raw > 0
            elif dt.is_complex:
                t = torch.complex(raw.float(), -raw.float()).to(dt) if dt != getattr(
                    torch, "complex32", None) else torch.zeros(3, 5, dtype=dt)
            elif dt.is_floating_point:
                t = (raw.double() / 7).to(dt)
            else:
                t = raw.abs().to(dt)
            state[str(dt)] = {"t": t, "scalar": t[0, 0].clone(), "strided": t[:, ::2]}
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            rec.checkpoint(1, state, wait=True)
        ck = provtrace.open_run("r", store=self.store).checkpoints()[0]
        got = ck.load(torch=True)
        want = {k: {kk: vv.contiguous() for kk, vv in v.items()} for k, v in state.items()}
        same(self, got, want)
        raw = ck.load()["torch.bfloat16"]["t"]
        if not isinstance(raw, np.ndarray):
            self.assertIsInstance(raw, provtrace.RawTensor)
            self.assertEqual(raw.dtype, "bfloat16")
            self.assertEqual(raw.data, state["torch.bfloat16"]["t"].view(torch.int16)
                             .numpy().tobytes())

    def test_dedup_per_tensor(self):
        m, opt, _ = self.model_and_opt()
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            a = rec.checkpoint(1, {"model": m.state_dict(), "step": 1}, wait=True)
            with torch.no_grad():
                m[0].bias.add_(1)
            b = rec.checkpoint(2, {"model": m.state_dict(), "step": 2}, wait=True)
        self.assertNotEqual(a, b)
        cks = provtrace.open_run("r", store=self.store).checkpoints()
        self.assertEqual(cks[1].info["tensors"], 4)
        # only the changed tensor's chunk (and the manifest) is new
        self.assertEqual(cks[1].info["new_chunks"], 1)

    def test_quantized_tensor_is_a_type_error(self):
        q = torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8)
        with provtrace.Recorder(run="r", store=self.store, capture_code=False) as rec:
            with self.assertRaises(TypeError) as cm:
                rec.checkpoint(1, {"model": {"q": q}}, wait=True)
        self.assertIn("model.q", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
