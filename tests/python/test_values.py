"""Every value type written with Recorder comes back from open_run().events()."""

import collections
import enum
import math
import unittest

from ptutil import StoreTest

import provtrace

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is optional
    np = None


class Foo:
    pass


class Color(enum.IntEnum):
    RED = 3


class Mode(str, enum.Enum):
    FAST = "fast"


class ValuesTest(StoreTest):
    def roundtrip(self, value):
        self._n = getattr(self, "_n", 0) + 1
        run = "r%d" % self._n
        with provtrace.Recorder(run=run, store=self.store) as rec:
            rec.param("p", value)
        evs = self.user_events(run)
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["kind"], "param")
        self.assertEqual(evs[0]["name"], "p")
        return evs[0]["value"]

    def test_scalars(self):
        cases = [None, True, False, 0, 1, -1, 127, -33, 2**31, -(2**31) - 1,
                 2**63 - 1, -(2**63), 2**63, 2**64 - 1,
                 0.0, -0.0, 1.5, 1e300, -2.5e-310, "", "héllo ✓ 𝄞", "a\x00b",
                 b"", b"\x00\xff\x80bytes"]
        with provtrace.Recorder(run="r", store=self.store) as rec:
            for i, v in enumerate(cases):
                rec.param("p%d" % i, v)
        evs = self.user_events("r")
        self.assertEqual(len(evs), len(cases))
        for i, (ev, v) in enumerate(zip(evs, cases)):
            self.assertEqual(ev["name"], "p%d" % i)
            got = ev["value"]
            self.assertEqual(type(got), type(v), (v, got))
            self.assertEqual(got, v)
            if isinstance(v, float):
                self.assertEqual(math.copysign(1, got), math.copysign(1, v))

    def test_non_finite_floats(self):
        got = self.roundtrip([float("nan"), float("inf"), float("-inf")])
        self.assertTrue(math.isnan(got[0]))
        self.assertEqual(got[1:], [float("inf"), float("-inf")])

    def test_bytes_like(self):
        self.assertEqual(self.roundtrip(bytearray(b"ab\x00")), b"ab\x00")
        self.assertEqual(self.roundtrip(memoryview(b"xyz")[1:]), b"yz")
        # A non-contiguous view is copied in order.
        self.assertEqual(self.roundtrip(memoryview(b"abcdef")[::2]), b"ace")

    def test_containers(self):
        v = {"list": [1, "two", 3.0, None, [True, {"deep": b"\x01"}]],
             "tuple": (1, 2), "empty_map": {}, "empty_list": [],
             "nested": {"a": {"b": {"c": [1, [2, [3]]]}}}}
        got = self.roundtrip(v)
        want = dict(v, tuple=[1, 2])
        self.assertEqual(got, want)

    def test_dollar_strings_and_keys_are_not_escapes(self):
        v = {"s": "$HOME \"$bytes\"", "$float": 1.5, "m": {"$bytes": "aGk=", "other": 1},
             "l": ["$", {"$x": b"\x00"}]}
        self.assertEqual(self.roundtrip(v), v)

    def test_subclasses_encode_as_their_base(self):
        od = collections.OrderedDict([("z", 1), ("a", 2)])
        Point = collections.namedtuple("Point", "x y")
        got = self.roundtrip({"enum": Color.RED, "od": od, "pt": Point(1, 2), "mode": Mode.FAST})
        self.assertEqual(got, {"enum": 3, "od": {"z": 1, "a": 2}, "pt": [1, 2], "mode": "fast"})
        self.assertEqual(list(got["od"]), ["z", "a"])  # order kept

    def test_big_values(self):
        blob = bytes(range(256)) * 4096  # 1 MiB
        self.assertEqual(self.roundtrip(blob), blob)
        many = list(range(100000))
        self.assertEqual(self.roundtrip(many), many)

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numpy_scalars(self):
        v = {"f64": np.float64(0.5), "f32": np.float32(0.25), "f16": np.float16(2.0),
             "i8": np.int8(-3), "u64": np.uint64(2**64 - 1), "i64": np.int64(-(2**63)),
             "b": np.bool_(True), "s": np.str_("text"), "by": np.bytes_(b"\x00x")}
        got = self.roundtrip(v)
        self.assertEqual(got, {"f64": 0.5, "f32": 0.25, "f16": 2.0, "i8": -3, "u64": 2**64 - 1,
                               "i64": -(2**63), "b": True, "s": "text", "by": b"\x00x"})
        self.assertIs(type(got["b"]), bool)
        self.assertIs(type(got["f32"]), float)

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numpy_metric_values_and_steps(self):
        with provtrace.Recorder(run="r", store=self.store) as rec:
            rec.metric("loss", np.float32(0.5), step=np.int64(7))
            rec.metrics({"a": np.float64(1.0), "b": np.int32(2)}, step=np.int32(8))
        evs = self.user_events("r")
        self.assertEqual([(e["name"], e["value"], e["step"]) for e in evs],
                         [("loss", 0.5, 7), ("a", 1.0, 8), ("b", 2.0, 8)])

    def test_event_and_decision_bodies(self):
        with provtrace.Recorder(run="r", store=self.store) as rec:
            s1 = rec.decision("lr", step=1200, set={"lr": 5e-4, "momentum": 0.9},
                              reason="plateau", actor="ReduceLROnPlateau",
                              considered=[1e-4, 1e-3], patience=3)
            s2 = rec.decision("early_stop", reason="no improvement")
            s3 = rec.event("my.kind:x-1", name="thing", step=5, a=1, b=[b"x"])
            s4 = rec.event("note", text="hello")
        self.assertEqual(s2, s1 + 1)
        self.assertEqual((s3, s4), (s1 + 2, s1 + 3))
        d, e, k, n = self.user_events("r")
        self.assertEqual(d["seq"], s1)
        self.assertEqual((d["kind"], d["name"], d["step"]), ("decision", "lr", 1200))
        self.assertEqual(d["set"], {"lr": 5e-4, "momentum": 0.9})
        self.assertEqual((d["reason"], d["actor"]), ("plateau", "ReduceLROnPlateau"))
        self.assertEqual((d["considered"], d["patience"]), ([1e-4, 1e-3], 3))
        self.assertNotIn("step", e)
        self.assertNotIn("set", e)
        self.assertEqual(e["reason"], "no improvement")
        self.assertEqual((k["kind"], k["name"], k["step"], k["a"], k["b"]),
                         ("my.kind:x-1", "thing", 5, 1, [b"x"]))
        self.assertNotIn("name", n)
        self.assertEqual(n["text"], "hello")
        for ev in (d, e, k, n):
            self.assertEqual((ev["run"], ev["stream"]), ("r", "main"))
            self.assertRegex(ev["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")

    def test_decision_string_subclasses_and_long_strings(self):
        class Who(str, enum.Enum):
            SCHED = "scheduler"

        long_reason = "r" * 100000
        with provtrace.Recorder(run="r", store=self.store) as rec:
            rec.decision("lr", set=collections.OrderedDict(lr=1.0), reason=long_reason,
                         actor=Who.SCHED)
        (d,) = self.user_events("r")
        self.assertEqual((d["set"], d["reason"], d["actor"]), ({"lr": 1.0}, long_reason, "scheduler"))

    def test_metrics(self):
        with provtrace.Recorder(run="r", store=self.store) as rec:
            rec.metric("loss", 0.25, step=1)
            rec.metric("acc", 1)  # an int is a float value
            rec.metrics({"a": 1.0, "b": -2.5, "ü": float("inf")}, step=2)
            rec.metrics({})
        evs = self.user_events("r")
        self.assertEqual([(e["kind"], e["name"], e["value"], e.get("step")) for e in evs],
                         [("metric", "loss", 0.25, 1), ("metric", "acc", 1.0, None),
                          ("metric", "a", 1.0, 2), ("metric", "b", -2.5, 2),
                          ("metric", "ü", float("inf"), 2)])
        self.assertIs(type(evs[1]["value"]), float)


class BadValuesTest(StoreTest):
    """A bad value raises before anything is appended, naming the field."""

    def assert_nothing_written(self, rec, run="r"):
        rec.close()
        self.assertEqual(self.user_events(run), [])

    def test_unsupported_type_in_decision_names_the_path(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        with self.assertRaises(TypeError) as cm:
            rec.decision("lr", step=3, set={"lr": Foo()}, reason="x")
        self.assertEqual(str(cm.exception), "decision 'lr': field 'set.lr': unsupported type Foo")
        with self.assertRaises(TypeError) as cm:
            rec.decision("lr", set={"sched": [1, 2, {"x": object()}]})
        self.assertIn("field 'set.sched[2].x': unsupported type object", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            rec.decision("lr", reason="ok", extra={1, 2})
        self.assertIn("field 'extra': unsupported type set", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            rec.decision("lr", reason=3)
        self.assertIn("field 'reason'", str(cm.exception))
        with self.assertRaises(TypeError):
            rec.decision("lr", set=[("lr", 1)])
        with self.assertRaises(ValueError) as cm:
            rec.decision("lr", reason="bad \ud800")
        self.assertIn("decision 'lr': field 'reason': string is not valid UTF-8", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            rec.decision("lr", reason="ok", actor="\udfff")
        self.assertIn("field 'actor'", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            rec.decision("lr", actor=5)
        self.assertIn("field 'actor': must be a str, not int", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            rec.decision("lr", set={"a": "\ud800"})
        self.assertIn("field 'set.a'", str(cm.exception))
        self.assert_nothing_written(rec)

    def test_bad_values_everywhere(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        with self.assertRaises(TypeError) as cm:
            rec.param("p", {"a": {3: "int key"}})
        self.assertIn("param 'p': field 'value.a", str(cm.exception))
        self.assertIn("not a str", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            rec.param("p", 2**64)
        self.assertIn("out of range", str(cm.exception))
        with self.assertRaises(ValueError):
            rec.param("p", -(2**63) - 1)
        with self.assertRaises(ValueError) as cm:
            rec.param("p", ["ok", "\ud800"])
        self.assertIn("field 'value[1]'", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            rec.event("note", m={"\udc80": 1})
        self.assertIn("not valid UTF-8", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            rec.event("note", m={b"k": 1})
        self.assertIn("note event: field 'm.b'k'': map key b'k' is not a str (type bytes)",
                      str(cm.exception))
        with self.assertRaises(TypeError):
            rec.param("p", 1j)
        with self.assertRaises(TypeError):
            rec.event("note", when=Foo)
        with self.assertRaises(TypeError):
            rec.metric("m", "0.5")
        with self.assertRaises(TypeError):
            rec.metric("m", None)
        with self.assertRaises(TypeError):
            rec.metric(b"m", 0.5)
        with self.assertRaises(TypeError):
            rec.metric("m", 0.5, step="3")
        with self.assertRaises(TypeError):
            rec.metrics({"a": 1.0, "b": "x"})
        with self.assertRaises(TypeError):
            rec.metrics({"a": 1.0, 2: 1.0})
        with self.assertRaises(TypeError):
            rec.param(3, 1)
        with self.assertRaises(TypeError):
            rec.params({"a": 1, "b": Foo()})  # a is not written either
        if np is not None:
            with self.assertRaises(TypeError) as cm:
                rec.param("p", np.zeros(3))
            self.assertIn("numpy.ndarray", str(cm.exception))
            with self.assertRaises(TypeError):
                rec.param("p", np.datetime64("2020-01-01"))
        self.assert_nothing_written(rec)

    def test_nul_in_names_and_keys_is_refused_not_truncated(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        for call in (lambda: rec.metric("lo\0ss", 1.0),
                     lambda: rec.metrics({"a": 1.0, "b\0": 2.0}),
                     lambda: rec.param("p\0", 1),
                     lambda: rec.params({"p\0": 1}),
                     lambda: rec.decision("d\0"),
                     lambda: rec.event("note\0"),
                     lambda: rec.event("note", name="n\0"),
                     lambda: rec.event("note", m={"k\0": 1})):
            with self.assertRaises(ValueError) as cm:
                call()
            self.assertIn("NUL", str(cm.exception))
        with self.assertRaises(ValueError):
            provtrace.Recorder(run="r\0x", store=self.store)
        with self.assertRaises(ValueError):
            provtrace.open_run("r\0", self.store)
        # Values (not names) may hold NULs: they are stored with their length.
        rec.param("ok", "a\0b")
        rec.close()
        self.assertEqual([(e["name"], e["value"]) for e in self.user_events("r")], [("ok", "a\0b")])

    def test_library_rejections_are_mapped_with_the_field(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        deep = []
        for _ in range(40):
            deep = [deep]
        with self.assertRaises(provtrace.LimitError) as cm:
            rec.param("p", deep)
        self.assertIn("param 'p': field 'value[0][0]", str(cm.exception))
        with self.assertRaises(provtrace.InvalidError):
            rec.event("bad kind with spaces")
        with self.assertRaises(provtrace.InvalidError):
            rec.event("note", seq=3)  # reserved envelope key
        cyc = []
        cyc.append(cyc)
        with self.assertRaises(provtrace.LimitError):
            rec.param("p", cyc)
        # The builder is reusable after errors.
        rec.param("ok", 1)
        rec.close()
        self.assertEqual([(e["name"], e["value"]) for e in self.user_events("r")], [("ok", 1)])

    def test_builder_is_released_after_errors_and_never_shared(self):
        from provtrace import _encode
        with provtrace.Recorder(run="r", store=self.store) as rec:
            rec.param("a", 1)
            b = _encode._tls.builder
            for bad in (Foo(), {1: 2}, 2**70, "\ud800"):
                with self.assertRaises((TypeError, ValueError)):
                    rec.param("x", bad)
                self.assertFalse(b.busy)
            self.assertIs(_encode._tls.builder, b)
            # A re-entrant use (a signal handler recording while the thread
            # encodes) gets a builder of its own.
            b1 = _encode.thread_builder()
            b2 = _encode.thread_builder()
            self.assertIsNot(b1, b2)
            rec.param("inner", 2)  # while b1 is busy
            b1.busy = b2.busy = False
            rec.param("b", 3)
        self.assertEqual([(e["name"], e["value"]) for e in self.user_events("r")],
                         [("a", 1), ("inner", 2), ("b", 3)])

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            provtrace.Recorder(run="r", store=self.store, durability="sometimes")
        with self.assertRaises(provtrace.InvalidError):
            provtrace.Recorder(run="no spaces", store=self.store)
        with self.assertRaises(TypeError):
            provtrace.Recorder(run=42, store=self.store)
        with provtrace.Recorder(run="r", store=self.store) as rec:
            with self.assertRaises(TypeError):
                rec.event("note", step=1.5)
            for big in (2**63, -(2**63) - 1):
                with self.assertRaises(ValueError):
                    rec.event("note", step=big)
                with self.assertRaises(ValueError):
                    rec.decision("d", step=big)
                with self.assertRaises(ValueError):
                    rec.metric("m", 1.0, step=big)
                with self.assertRaises(ValueError):
                    rec.metrics({"m": 1.0}, step=big)
            with self.assertRaises(TypeError):
                rec.param("p", 1, 2)


if __name__ == "__main__":
    unittest.main()
