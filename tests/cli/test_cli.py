#!/usr/bin/python3
"""Tests of the `provtrace` command line.

Run with the binary in $PROVTRACE_BIN (ctest sets it), e.g.
    PROVTRACE_BIN=build/provtrace /usr/bin/python3 tests/cli/test_cli.py -v [Class]
Every test runs in a fresh temporary directory with $PROVTRACE_STORE unset.
"""
import base64
import datetime
import glob
import json
import re
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("PROVTRACE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "provtrace")
BIN = os.path.abspath(BIN)
PYDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python")


def iso(ns):
    """ISO-8601 UTC with nanoseconds, as docs/FORMAT.md specifies."""
    s, frac = divmod(ns, 10**9)
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=s)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def json_value(v):
    """A msgpack-decoded value in the JSON form of docs/FORMAT.md."""
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, float) and not math.isfinite(v):
        return {"$float": "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else json.dumps(json_value(k))): json_value(x)
                for k, x in v.items()}
    return v


def event_json(run, stream, ev):
    """A stored event (msgpack map) in the `log --json` shape."""
    out = {"run": run, "stream": stream, "seq": ev["seq"], "time": iso(ev["time"])}
    if "step" in ev:
        out["step"] = ev["step"]
    out["kind"] = ev["kind"]
    if "name" in ev:
        out["name"] = ev["name"]
    for k, v in ev["body"].items():
        out[k] = json_value(v)
    return out


def same(a, b):
    """Equality that treats NaN as equal to NaN (JSON objects are compared as text)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pt-cli-")
        self.store = os.path.join(self.tmp, "store")
        self.env = dict(os.environ)
        self.env.pop("PROVTRACE_STORE", None)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pt(self, *args, input=None, cwd=None, env=None, code=None, store=True):
        """Run provtrace; `store` adds --store (before the command)."""
        argv = [BIN] + (["--store", self.store] if store else []) + list(args)
        p = subprocess.run(argv, input=input.encode() if isinstance(input, str) else input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or self.tmp,
                           env=env or self.env, timeout=120)
        p.out = p.stdout.decode()
        p.err = p.stderr.decode()
        if code is not None:
            self.assertEqual(p.returncode, code,
                             "%s -> %d\nstdout: %s\nstderr: %s" % (argv, p.returncode, p.out, p.err))
        return p

    def init(self):
        self.pt("init", code=0)

    def emit(self, run, events, stream=None, code=0, extra=()):
        text = "".join(json.dumps(e) + "\n" for e in events) if isinstance(events, list) else events
        args = ["emit", "--run", run] + (["--stream", stream] if stream else []) + list(extra)
        return self.pt(*args, input=text, code=code)

    def log_json(self, *args):
        p = self.pt("log", "--json", *args, code=0)
        return [json.loads(line) for line in p.out.splitlines()]

    def spawn(self, *args, stdin=subprocess.DEVNULL):
        p = subprocess.Popen([BIN, "--store", self.store] + list(args), stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp,
                             env=self.env)
        self.procs.append(p)
        return p

    def py_env(self):
        """The environment of a child interpreter that imports provtrace (see py())."""
        env = dict(self.env)
        env["PYTHONPATH"] = PYDIR
        env.setdefault("PROVTRACE_LIB", os.path.join(os.path.dirname(BIN), "lib", "libprovtrace.so"))
        if env.get("PT_PY_PRELOAD"):
            env["LD_PRELOAD"] = env["PT_PY_PRELOAD"]
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:halt_on_error=1"
        return env

    def py(self, code):
        """Run `code` in Debian's interpreter with `provtrace` (the binding beside this
        tree, the library in the build directory), numpy and json imported and `store`
        set; return its stdout.  In a sanitizer build (PT_PY_PRELOAD, tests/cli.cmake)
        the uninstrumented interpreter preloads the sanitizer runtime."""
        src = "import json, numpy as np, provtrace\nstore = %r\n%s" % (self.store, code)
        p = subprocess.run([sys.executable, "-c", src], env=self.py_env(), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def segments(self, run, stream="main"):
        return sorted(glob.glob(os.path.join(self.store, "runs", run, stream, "segments", "*.ptseg")))


class Options(CliTest):
    """Every command parses its options through one table parser (tools/provtrace/cli.c):
    --help, --store, unknown options, missing or malformed values and positional
    arguments are handled the same way everywhere."""

    def commands(self):
        p = self.pt("--help", code=0, store=False)
        names = re.findall(r"^  ([a-z]+)  ", p.out, re.M)
        self.assertIn("log", names)
        self.assertIn("archive", names)
        return names

    def test_every_command_has_help_and_refuses_unknown_options(self):
        self.init()
        for cmd in self.commands():
            with self.subTest(cmd=cmd):
                h = self.pt(cmd, "--help", code=0)
                self.assertTrue(h.out.startswith("usage: provtrace " + cmd), h.out[:80])
                self.assertEqual(self.pt("help", cmd, code=0, store=False).out, h.out)
                sub = ["ls"] if cmd in ("archive", "checkpoint") else []
                bad = self.pt(cmd, *sub, "--no-such-option", code=2)
                self.assertIn("unknown option '--no-such-option'", bad.err)
                self.assertIn("Try 'provtrace %s" % cmd, bad.err)
                empty = self.pt(cmd, *sub, "--store=", code=2)
                self.assertIn("'--store' needs a non-empty value", empty.err)

    def test_values_are_checked_before_anything_runs(self):
        self.init()
        cases = [
            (["metrics", "--format", "xml"], "--format expects csv, tsv or json, not 'xml'"),
            (["metrics", "--points", "0"], "--points expects a number of points >= 1, not '0'"),
            (["log", "-n", "ten"], "--last expects a number of events, not 'ten'"),
            (["log", "--last"], "option '--last' needs a value"),
            (["replay", "--lineage", "-1"], "--lineage expects a lineage number"),
            (["diff", "--lineage", "1x", "--from", "latest", "--to", "latest"], "--lineage expects"),
            (["gc", "--grace", "-5"], "--grace expects a number of seconds, not '-5'"),
            (["emit", "--run", "r", "--durability", "always"], "--durability expects none, write or fsync"),
            (["emit", "--run", "r", "extra"], "unexpected argument 'extra' (events are read from stdin)"),
            (["archive", "plan", "add", "p", "--schedule", "* * * * *", "--vault", "v", "--min-age", "5y"],
             "--min-age expects a duration"),
            (["archive", "plan", "add", "p", "--schedule", "* * * * *", "--vault", "v", "--keep-last",
              "99999999999"], "--keep-last expects a number of archives"),
            (["archive", "plan", "next", "p", "--count", "0"], "--count expects a count from 1 to 100000"),
            # an option of another subcommand is not silently accepted
            (["archive", "ls", "--due"], "unknown option '--due'"),
            (["archive", "prune", "--json"], "unknown option '--json'"),
            (["restore"], "needs an ARCHIVE"),
            (["restore", "a", "b"], "unexpected argument 'b'"),
            (["checkpoint"], "needs a subcommand (ls or export)"),
            (["checkpoint", "export", "d", "--step", "x"], "--step expects an integer step"),
            (["init", "a", "b"], "unexpected argument 'b'"),
        ]
        for argv, msg in cases:
            with self.subTest(argv=argv):
                p = self.pt(*argv, code=2)
                self.assertIn(msg, p.err)
        self.assertEqual(os.listdir(os.path.join(self.store, "runs")), [])

    def test_repeatable_and_late_options(self):
        self.init()
        self.emit("r", [{"kind": "metric", "name": "a", "step": 1, "value": 1.0},
                        {"kind": "metric", "name": "b", "step": 1, "value": 2.0},
                        {"kind": "metric", "name": "c", "step": 1, "value": 3.0}])
        p = self.pt("metrics", "--name", "a", "--name", "c", "--format", "tsv", code=0)
        self.assertEqual([l.split("\t")[1] for l in p.out.splitlines()[1:]], ["a", "c"])
        # options after positional arguments, --store after the command, and "--" ends options
        p = self.pt("log", "--json", "--store", self.store, store=False, code=0)
        self.assertEqual(len(p.out.splitlines()), 3)
        p = self.pt("init", "--", "-weird-dir", code=0, store=False)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "-weird-dir")))


class Discovery(CliTest):
    def test_init_without_dir_creates_dot_provtrace_here(self):
        p = self.pt("init", store=False, code=0)
        self.assertIn("Initialized", p.out)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, ".provtrace", "config")))
        p = self.pt("init", store=False, code=0)
        self.assertIn("already exists", p.out)

    def test_init_dir_is_the_store_itself(self):
        d = os.path.join(self.tmp, "a", "b")
        self.pt("init", d, store=False, code=0)
        self.assertTrue(os.path.isfile(os.path.join(d, "config")))
        p = self.pt("init", d, "--json", store=False, code=0)
        self.assertEqual(json.loads(p.out), {"path": d, "created": False})

    def test_store_option_before_or_after_the_command(self):
        self.pt("init", "--store", self.store, store=False, code=0)
        self.assertTrue(os.path.isfile(os.path.join(self.store, "config")))
        self.emit("r", [{"kind": "note", "text": "hi"}])
        a = self.pt("runs", "--json", "--store", self.store, store=False, code=0)
        b = self.pt("--store", self.store, "runs", "--json", store=False, code=0)
        c = self.pt("--store=" + self.store, "runs", "--json", store=False, code=0)
        self.assertEqual(a.out, b.out)
        self.assertEqual(a.out, c.out)
        self.assertEqual(json.loads(a.out)[0]["run"], "r")

    def test_environment_variable(self):
        self.init()
        self.emit("r", [{"kind": "note"}])
        env = dict(self.env, PROVTRACE_STORE=self.store)
        p = self.pt("log", "--json", store=False, env=env, code=0)
        self.assertEqual(json.loads(p.out)["kind"], "note")

    def test_nearest_store_in_a_parent_directory(self):
        self.pt("init", store=False, code=0)
        sub = os.path.join(self.tmp, "x", "y")
        os.makedirs(sub)
        p = self.pt("emit", "--run", "r", input='{"kind":"note"}\n', store=False, cwd=sub, code=0)
        p = self.pt("runs", "--json", store=False, cwd=sub, code=0)
        self.assertEqual([r["run"] for r in json.loads(p.out)], ["r"])
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, ".provtrace", "runs", "r")))

    def test_not_a_store_is_an_error(self):
        os.makedirs(self.store)
        p = self.pt("runs", code=1)
        self.assertIn("not a provtrace store", p.err)
        self.assertTrue(p.err.startswith("provtrace: "))

    def test_no_store_found_is_an_error(self):
        parents = [self.tmp]
        while os.path.dirname(parents[-1]) != parents[-1]:
            parents.append(os.path.dirname(parents[-1]))
        if any(os.path.isdir(os.path.join(d, ".provtrace")) for d in parents):
            self.skipTest("a .provtrace directory exists above the temporary directory")
        p = self.pt("log", store=False, code=1)
        self.assertIn("no provtrace store found", p.err)

    def test_newer_format_is_an_error(self):
        self.init()
        cfg = os.path.join(self.store, "config")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("format = 1", "format = 99"))
        p = self.pt("runs", code=1)
        self.assertIn("99", p.err)
        self.assertIn("newer", p.err)
        p = self.pt("init", code=1)  # not "already exists": it cannot be used
        self.assertIn("newer", p.err)

    def test_help_version_and_usage_exit_codes(self):
        self.assertIn("usage:", self.pt("--help", store=False, code=0).out)
        self.assertIn("provtrace", self.pt("--version", store=False, code=0).out)
        for cmd in ["init", "runs", "emit", "log", "verify", "stats"]:
            p = self.pt(cmd, "--help", store=False, code=0)
            self.assertIn("usage: provtrace " + cmd, p.out)
            self.assertEqual(self.pt("help", cmd, store=False, code=0).out, p.out)
        self.pt(store=False, code=2)
        self.assertIn("unknown command", self.pt("frobnicate", store=False, code=2).err)
        self.assertIn("unknown option", self.pt("--bogus", "runs", store=False, code=2).err)
        self.init()
        self.assertIn("unknown option", self.pt("runs", "--bogus", code=2).err)
        self.assertIn("needs a value", self.pt("log", "--run", code=2).err)
        self.assertIn("--run is required", self.pt("emit", input="", code=2).err)
        self.pt("emit", "--run", "r", "--durability", "sometimes", input="", code=2)
        self.pt("emit", "--run", "bad/name", input="", code=2)
        self.pt("log", "--from", "epoch=3", code=2)
        self.pt("log", "--from", "time=yesterday", code=2)
        self.pt("log", "--seq", "x..y", code=2)
        self.pt("verify", "--stream", "main", code=2)
        self.pt("runs", "extra", code=2)
        self.pt("runs", "--store", "", store=False, code=2)
        self.pt("--store", "", "runs", store=False, code=2)
        self.pt("log", "-n", "x", code=2)


ALL_TYPES = {
    "kind": "decision", "name": "lr", "step": 1200, "time": "2026-11-26T08:00:00.123456789Z",
    "set": {"lr": 0.0005, "nested": {"deep": [1, [2, [3, {"x": None}]]]}},
    "reason": "plateau \"quoted\" \\ back\nslash\ttab \u0001 ctrl é ü 漢字 😀",
    "actor": "scheduler",
    "ints": [0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -2**31, 2**32, 2**63 - 1, -2**63],
    "big": 2**64 - 1,
    "floats": [0.1, 1.0, -0.0, 1e300, -2.5e-308, 5e-324, 3.141592653589793, 1.7976931348623157e308],
    "nonfinite": [{"$float": "NaN"}, {"$float": "Infinity"}, {"$float": "-Infinity"}],
    "bytes": {"$bytes": base64.b64encode(bytes(range(256))).decode()},
    "empty_bytes": {"$bytes": ""},
    "b1": {"$bytes": "AA=="}, "b2": {"$bytes": "AAE="},
    "flags": [True, False, None],
    "empty": {"s": "", "a": [], "m": {}},
    "long": "x" * 100000,
}


class EmitLog(CliTest):
    def test_roundtrip_of_every_value_type(self):
        self.init()
        p = self.emit("r", [ALL_TYPES, {"kind": "metric", "name": "loss", "step": 3, "value": 0.25}])
        self.assertIn("seq 1..2", p.err)
        evs = self.log_json("--run", "r")
        self.assertEqual(len(evs), 2)
        want = dict(ALL_TYPES, run="r", stream="main", seq=1, lineage=0)
        self.assertTrue(same(evs[0], want), "\n%s\n%s" % (evs[0], want))
        self.assertEqual(list(evs[0])[:7], ["run", "stream", "seq", "time", "step", "kind", "name"])
        self.assertEqual(list(evs[0])[-1], "lineage")  # read back: the lineage comes after the body
        self.assertEqual(evs[1]["value"], 0.25)
        # floats stay floats (1.0, -0.0), integers stay integers
        raw = self.pt("log", "--json", "--seq", "1", code=0).out
        self.assertIn('[0.1,1.0,-0.0,1e+300,', raw)
        self.assertIn('"big":18446744073709551615', raw)

    def test_reserved_kinds_are_refused_and_nothing_is_appended(self):
        self.init()
        hexid = "ab" * 32
        for kind in ("checkpoint", "snapshot", "lineage", "recovery", "code"):
            p = self.emit("r", [{"kind": "note", "text": "before"},
                                {"kind": kind, "manifest": hexid, "objects": [hexid]}], code=1,
                          extra=["--all-or-nothing"])
            self.assertIn('line 2: event kind "%s" is reserved' % kind, p.err)
            self.assertIn("nothing was appended", p.err)
        self.assertEqual(self.pt("log", "--json", "--run", "r", code=0).out, "")
        # streaming (the default): the reserved line is skipped, the others appended
        p = self.emit("s", [{"kind": "note", "text": "before"},
                            {"kind": "checkpoint", "manifest": hexid}, {"kind": "note", "text": "after"}], code=1)
        self.assertIn('line 2: event kind "checkpoint" is reserved', p.err)
        self.assertIn("1 of 3 lines rejected and skipped", p.err)
        self.assertEqual([e["text"] for e in self.log_json("--run", "s")], ["before", "after"])
        # a user's kind with an `objects` array is plain data: gc keeps nothing for it
        self.emit("r", [{"kind": "dataset", "objects": [hexid]}])
        self.pt("gc", code=0)
        self.pt("verify", code=0)

    def test_time_and_step_forms(self):
        self.init()
        self.emit("r", [{"kind": "note", "time": "2026-11-26T09:00:00+01:00"},
                        {"kind": "note", "time": 1500000000123456789, "step": -5},
                        {"kind": "note", "time": None, "step": None, "name": None}])
        evs = self.log_json()
        self.assertEqual(evs[0]["time"], "2026-11-26T08:00:00.000000000Z")
        self.assertEqual(evs[1]["time"], iso(1500000000123456789))
        self.assertEqual(evs[1]["step"], -5)
        self.assertNotIn("step", evs[2])
        self.assertNotIn("name", evs[2])
        now = time.time()
        t = datetime.datetime.strptime(evs[2]["time"][:19], "%Y-%m-%dT%H:%M:%S")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertLess(abs(now - t), 120)

    def test_log_json_fed_back_to_emit_gives_the_same_events(self):
        self.init()
        events = [ALL_TYPES]
        for i in range(300):
            events.append({"kind": "metric", "name": "loss", "step": i, "value": 1.0 / (i + 1)})
            if i % 50 == 0:
                events.append({"kind": "decision", "step": i, "set": {"lr": 0.1 / (i + 1)},
                               "reason": "step %d" % i, "blob": {"$bytes": "3q2+7w=="}})
        self.emit("a", events)
        a = self.pt("log", "--run", "a", "--json", code=0).out
        self.pt("emit", "--run", "b", input=a, code=0)
        b = self.pt("log", "--run", "b", "--json", code=0).out
        self.assertEqual(a.replace('"run":"a"', '"run":"b"'), b)
        self.assertEqual(len(b.splitlines()), len(events))

    def test_bad_lines_are_rejected_with_their_number_and_nothing_is_written(self):
        self.init()
        self.emit("r", [{"kind": "note", "n": 1}, {"kind": "note", "n": 2}])
        text = "\n".join([
            '{"kind": "metric", "value": 1}',
            '',
            '{"kind": "metric", "value": ',            # line 3: invalid JSON
            '{"kind": "metric", "value": 2}',
            '{"value": 3}',                             # line 5: no kind
            '{"kind": "x", "step": "ten"}',            # line 6: step not an integer
            '{"kind": "x", "b": {"$bytes": "***"}}',   # line 7: bad base64
            '{"kind": "bad kind"}',                    # line 8: bad kind
            '["kind"]',                                # line 9: not an object
            '{"kind": "x", "a": 1, "a": 2}',           # line 10: duplicate key
            '{"kind": "x", "big": 99999999999999999999}',  # line 11: out of range
        ]) + "\n"
        p = self.pt("emit", "--run", "r", "--all-or-nothing", input=text, code=1)
        for n in [3, 5, 6, 7, 8, 9, 10, 11]:
            self.assertIn("line %d:" % n, p.err)
        for n in [1, 2, 4]:
            self.assertNotIn("line %d:" % n, p.err)
        self.assertIn('field "kind"', p.err)
        self.assertIn('field "step"', p.err)
        self.assertIn('field "b"', p.err)
        self.assertIn('field "big"', p.err)
        self.assertIn("nothing was appended", p.err)
        self.assertEqual([e["n"] for e in self.log_json("--run", "r")], [1, 2])
        # a new run: no events at all
        self.pt("emit", "--run", "new", "--all-or-nothing", input=text, code=1)
        self.assertEqual(self.log_json("--run", "new"), [])
        # streaming: the same lines reported, the good ones (1, 4) appended, exit 1
        p = self.pt("emit", "--run", "stream", input=text, code=1)
        for n in [3, 5, 6, 7, 8, 9, 10, 11]:
            self.assertIn("line %d:" % n, p.err)
        for n in [1, 2, 4]:
            self.assertNotIn("line %d:" % n, p.err)
        self.assertIn("8 of 10 lines rejected and skipped", p.err)
        self.assertEqual([e["value"] for e in self.log_json("--run", "stream")], [1, 2])
        # a line longer than --max-line is reported and skipped, the next one kept
        p = self.pt("emit", "--run", "long", "--max-line", "1024",
                    input='{"kind":"a","x":"%s"}\n{"kind":"b"}\n' % ("y" * 5000), code=1)
        self.assertIn("line 1: longer than 1024 bytes", p.err)
        self.assertEqual([e["kind"] for e in self.log_json("--run", "long")], ["b"])

    def test_empty_input_and_empty_lines(self):
        self.init()
        p = self.emit("r", "\n\n  \n")
        self.assertIn("nothing appended", p.err)
        self.emit("r", '\n{"kind":"a"}\r\n\n{"kind":"b"}')
        self.assertEqual([e["kind"] for e in self.log_json()], ["a", "b"])
        p = self.pt("emit", "--run", "r", "-q", input='{"kind":"c"}\n', code=0)
        self.assertEqual(p.err, "")

    def test_reserved_envelope_keys_are_taken_from_the_envelope(self):
        self.init()
        self.emit("r", [{"kind": "note", "run": "other", "stream": "x", "seq": 99, "text": "t"}])
        evs = self.log_json()
        self.assertEqual((evs[0]["run"], evs[0]["stream"], evs[0]["seq"]), ("r", "main", 1))

    def test_filters(self):
        self.init()
        t0 = 1700000000 * 10**9
        events = []
        for i in range(10):
            events.append({"kind": "metric" if i % 2 == 0 else "decision", "step": i,
                           "time": t0 + i * 10**9, "i": i})
        events.append({"kind": "note", "time": t0 + 100 * 10**9, "i": 10})  # no step
        self.emit("r", events)
        ids = lambda *a: [e["i"] for e in self.log_json(*a)]
        self.assertEqual(ids(), list(range(11)))
        self.assertEqual(ids("--kind", "metric"), [0, 2, 4, 6, 8])
        self.assertEqual(ids("--from", "step=3", "--to", "step=6"), [3, 4, 5, 6])
        self.assertEqual(ids("--from", "step=8"), [8, 9])
        self.assertEqual(ids("--to", "step=1"), [0, 1])
        self.assertEqual(ids("--from", "time=" + iso(t0 + 2 * 10**9),
                             "--to", "time=" + iso(t0 + 4 * 10**9)), [2, 3, 4])
        self.assertEqual(ids("--from", "time=2023-11-14T22:13:27Z"), [7, 8, 9, 10])
        self.assertEqual(ids("--seq", "2..4"), [1, 2, 3])
        self.assertEqual(ids("--seq", "10.."), [9, 10])
        self.assertEqual(ids("--seq", "..2"), [0, 1])
        self.assertEqual(ids("--from", "seq=5", "--to", "seq=6"), [4, 5])
        self.assertEqual(ids("-n", "3"), [8, 9, 10])
        self.assertEqual(ids("-n", "2", "--kind", "metric"), [6, 8])
        self.assertEqual(ids("-n", "0"), [])
        self.assertEqual(ids("--kind", "metric", "--from", "step=2", "--to", "step=6", "-n", "2"), [4, 6])
        self.assertEqual(ids("--kind", "nothing"), [])

    def test_human_output(self):
        self.init()
        self.emit("r", [{"kind": "metric", "name": "loss", "step": 7, "value": 0.5,
                         "time": "2026-11-26T08:00:00.123456789Z"},
                        {"kind": "note", "text": "a b"}])
        lines = self.pt("log", code=0).out.splitlines()
        self.assertEqual(len(lines), 2)
        f = lines[0].split()
        self.assertEqual(f, ["1", "2026-11-26T08:00:00.123Z", "7", "metric", "loss", "value=0.5"])
        self.assertEqual(lines[1].split()[2:], ["-", "note", 'text="a', 'b"'])

    def test_run_and_stream_selection(self):
        self.init()
        self.assertIn("no runs", self.pt("log", code=1).err)
        self.emit("one", [{"kind": "a"}])
        self.assertEqual(len(self.log_json()), 1)  # the only run
        self.emit("two", [{"kind": "b"}], stream="rank1")
        p = self.pt("log", code=2)
        self.assertIn("one", p.err)
        self.assertIn("two", p.err)
        self.assertEqual(self.log_json("--run", "two")[0]["stream"], "rank1")  # the only stream
        self.emit("two", [{"kind": "c"}], stream="rank2")
        # several streams: every one, merged by time (issue 13; it used to be a usage error)
        self.assertEqual(sorted(e["stream"] for e in self.log_json("--run", "two")), ["rank1", "rank2"])
        self.assertEqual(self.log_json("--run", "two", "--stream", "rank2")[0]["kind"], "c")
        self.assertIn("not found", self.pt("log", "--run", "three", code=1).err)

    def test_runs_and_stats(self):
        self.init()
        self.emit("r", [{"kind": "metric", "step": s, "value": s * 0.5} for s in range(5, 105)])
        self.emit("r", [{"kind": "note"}], stream="s2")
        runs = json.loads(self.pt("runs", "--json", code=0).out)
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0]["events"], 101)
        main = [s for s in runs[0]["streams"] if s["stream"] == "main"][0]
        self.assertEqual((main["events"], main["seq_first"], main["seq_last"]), (100, 1, 100))
        self.assertEqual((main["step_min"], main["step_max"]), (5, 104))
        self.assertFalse(main["writer_active"])
        s2 = [s for s in runs[0]["streams"] if s["stream"] == "s2"][0]
        self.assertIsNone(s2["step_min"])
        out = self.pt("runs", code=0).out
        self.assertIn("5..104", out)
        st = json.loads(self.pt("stats", "--json", code=0).out)
        self.assertEqual(st["total"]["events"], 101)
        self.assertEqual(len(st["streams"]), 2)
        tot = st["total"]
        self.assertGreater(tot["bytes"], 0)
        self.assertAlmostEqual(tot["bytes_per_event"], tot["bytes"] / 101, places=1)
        self.assertIn("TOTAL", self.pt("stats", "--run", "r", code=0).out)
        self.pt("stats", "--run", "nope", code=1)


class Follow(CliTest):
    def read_lines(self, p, n, timeout=15):
        lines, buf, end = [], b"", time.time() + timeout
        fd = p.stdout.fileno()
        while len(lines) < n and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
                *done, buf = buf.split(b"\n")
                lines += [json.loads(x) for x in done]
        return lines

    def test_follow_a_live_stream_and_stop_on_sigint(self):
        self.init()
        p = self.spawn("log", "--run", "live", "--json", "-f")  # the run does not exist yet
        time.sleep(0.3)
        self.emit("live", [{"kind": "metric", "step": i, "value": i} for i in range(3)])
        got = self.read_lines(p, 3)
        self.assertEqual([e["step"] for e in got], [0, 1, 2])
        self.emit("live", [{"kind": "note", "text": "later"}])
        got = self.read_lines(p, 1)
        self.assertEqual(got[0]["text"], "later")
        self.assertEqual(got[0]["seq"], 4)
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_follow_with_last_n_and_kind(self):
        self.init()
        self.emit("r", [{"kind": "metric" if i % 2 else "note", "i": i} for i in range(10)])
        p = self.spawn("log", "--json", "-f", "-n", "2", "--kind", "metric")
        got = self.read_lines(p, 2)
        self.assertEqual([e["i"] for e in got], [7, 9])
        self.emit("r", [{"kind": "note", "i": 10}, {"kind": "metric", "i": 11}])
        got = self.read_lines(p, 1)
        self.assertEqual([e["i"] for e in got], [11])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)


class Concurrency(CliTest):
    def wait_writer(self, run, stream="main", timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            p = self.pt("runs", "--json")
            if p.returncode == 0:
                for r in json.loads(p.out):
                    for s in r["streams"]:
                        if r["run"] == run and s["stream"] == stream and s.get("writer_active"):
                            return
            time.sleep(0.1)
        self.fail("the first writer never took the lock")

    def test_second_writer_on_the_same_stream_gets_the_lock_error(self):
        self.init()
        first = self.spawn("emit", "--run", "r", stdin=subprocess.PIPE)
        self.wait_writer("r")
        p = self.emit("r", [{"kind": "note", "who": "second"}], code=1)
        self.assertIn("pid=%d" % first.pid, p.err)
        first.stdin.write(b'{"kind":"note","who":"first"}\n')
        first.stdin.close()
        self.assertEqual(first.wait(timeout=30), 0, first.stderr.read())
        self.assertEqual([e["who"] for e in self.log_json()], ["first"])
        self.emit("r", [{"kind": "note", "who": "third"}])  # the lock was released
        self.assertEqual([e["who"] for e in self.log_json()], ["first", "third"])

    def test_two_streams_written_concurrently(self):
        self.init()
        n = 2000
        procs = []
        for s in ["a", "b"]:
            p = self.spawn("emit", "--run", "r", "--stream", s, stdin=subprocess.PIPE)
            procs.append((s, p))
        for s, p in procs:
            self.wait_writer("r", s)
        for s, p in procs:
            p.stdin.write("".join(json.dumps({"kind": "metric", "step": i, "s": s}) + "\n"
                                  for i in range(n)).encode())
            p.stdin.close()
        for s, p in procs:
            self.assertEqual(p.wait(timeout=60), 0)
        for s in ["a", "b"]:
            evs = self.log_json("--run", "r", "--stream", s)
            self.assertEqual([e["step"] for e in evs], list(range(n)))
            self.assertEqual({e["s"] for e in evs}, {s})


class Verify(CliTest):
    def test_verify_a_clean_store(self):
        self.init()
        self.emit("r", [{"kind": "metric", "step": i, "value": i / 3} for i in range(500)])
        self.emit("r", [{"kind": "note"}], stream="other")
        p = self.pt("verify", code=0)
        self.assertIn("OK", p.out)
        self.assertNotIn("ERROR", p.out)
        v = json.loads(self.pt("verify", "--json", code=0).out)
        self.assertTrue(v["ok"])
        self.assertEqual(v["errors"], 0)
        self.assertEqual(v["stats"]["events"], 501)
        self.pt("verify", "--run", "r", "--stream", "main", code=0)

    def test_verify_names_a_damaged_sealed_segment(self):
        self.init()
        self.emit("r", [{"kind": "metric", "step": i, "value": i / 3} for i in range(500)])
        segs = self.segments("r")
        self.assertTrue(segs, "no sealed segment after emit")
        seg = segs[0]
        with open(seg, "r+b") as f:
            data = bytearray(f.read())
            pos = len(data) // 2
            data[pos] ^= 0x10
            f.seek(0)
            f.write(data)
        p = self.pt("verify", code=1)
        name = os.path.basename(seg)
        self.assertIn("ERROR", p.out)
        self.assertIn(name, p.out)
        self.assertRegex(p.out, r"ERROR \S*%s @\d+: " % name)
        v = json.loads(self.pt("verify", "--json", code=1).out)
        self.assertFalse(v["ok"])
        self.assertTrue(any(name in x["object"] for x in v["problems"]))

    def test_verify_notices_a_removed_segment(self):
        self.init()
        for i in range(3):  # every emit seals a segment
            self.emit("r", [{"kind": "metric", "step": i * 10 + j, "value": j} for j in range(10)])
        segs = self.segments("r")
        self.assertGreaterEqual(len(segs), 3)
        os.unlink(segs[1])
        p = self.pt("verify", code=1)
        self.assertIn(os.path.basename(segs[1]), p.out)


class EdgeReplay(CliTest):
    """Replay where real stores live: archived, crashed mid-seal, copied (issue 11)."""

    def record(self, run="w"):
        for k in range(3):  # every emit seals a segment
            evs = [{"kind": "metric", "name": "loss", "step": k * 100 + i, "value": 1 / (k * 100 + i + 1)}
                   for i in range(100)]
            evs.insert(50, {"kind": "decision", "step": k * 100 + 50, "set": {"lr": 0.1 / (k + 1)},
                            "reason": "plateau", "actor": "sched"})
            self.emit(run, evs)

    def views(self, run="w"):
        out = {}
        for extra in ([], ["--no-snapshots"]):
            for at in ("latest", "step=150", "seq=20", "step=299"):
                out[(at,) + tuple(extra)] = self.pt("replay", "--run", run, "--at", at, "--json", *extra, code=0).out
        out["diff"] = self.pt("diff", "--run", run, "--from", "step=10", "--to", "step=250", "--json", code=0).out
        out["events"] = self.pt("replay", "--run", run, "--at", "step=120", "--events", code=0).out
        return out

    def test_replay_and_diff_read_archived_history(self):
        self.init()
        self.record()
        before = self.views()
        self.pt("archive", "plan", "add", "p", "--schedule", "* * * * *", "--vault",
                os.path.join(self.tmp, "vault"), "--min-age", "0s", code=0)
        self.pt("archive", "run", "--now", "--plan", "p", code=0)
        self.assertEqual(self.segments("w"), [], "the segments did not leave the hot store")
        after = self.views()
        for k in before:
            self.assertEqual(before[k], after[k], k)
        self.pt("verify", code=0)

    def test_replay_adopts_an_interrupted_seal_like_log(self):
        self.init()
        self.record()
        chain = os.path.join(self.store, "runs", "w", "main", "chain")
        with open(chain, "rb") as f:
            old = f.read()
        self.emit("w", [{"kind": "metric", "name": "loss", "step": 300 + i, "value": i} for i in range(31)])
        # a kill between the seal's rename and the chain update leaves this
        with open(chain, "wb") as f:
            f.write(old)
        last = self.log_json("--run", "w")[-1]
        self.assertEqual(last["seq"], 334)
        state = json.loads(self.pt("replay", "--run", "w", "--json", code=0).out)
        self.assertEqual((state["seq"], state["step"]), (334, 330))
        state = json.loads(self.pt("replay", "--run", "w", "--at", "step=320", "--json", code=0).out)
        self.assertEqual(state["metrics"]["loss"]["step"], 320)
        diff = json.loads(self.pt("diff", "--run", "w", "--from", "step=10", "--to", "step=330", "--json",
                                  code=0).out)
        self.assertEqual((diff["to"]["seq"], diff["to"]["step"]), (334, 330))

    def test_a_copied_stream_directory_is_refused(self):
        self.init()
        self.record("z")
        self.emit("z", [{"kind": "note", "text": "in the open segment"}])
        runs = os.path.join(self.store, "runs")
        subprocess.run(["cp", "-a", os.path.join(runs, "z"), os.path.join(runs, "zz")], check=True)
        p = self.pt("verify", code=1)
        self.assertRegex(p.out, r'belongs to run "z" stream "main" but is stored as run "zz" stream "main"')
        self.assertNotIn("runs/z/", p.out)  # the original is fine
        for cmd in (["log", "--run", "zz"], ["replay", "--run", "zz"], ["replay", "--run", "zz", "--at", "step=5"]):
            p = self.pt(*cmd, code=1)
            self.assertIn('belongs to run "z"', p.err, cmd)
            self.assertEqual(p.out.strip(), "", cmd)
        self.pt("log", "--run", "z", code=0)
        self.pt("verify", "--run", "z", code=0)

    def test_points_past_the_end_are_errors(self):
        self.init()
        self.record()  # steps 0..299, seq 1..303
        p = self.pt("replay", "--run", "w", "--at", "step=99999", code=1)
        self.assertIn("step=99999 is past the end of run w stream main, which ends at step 299 (seq 303", p.err)
        p = self.pt("replay", "--run", "w", "--at", "seq=304", code=1)
        self.assertIn("ends at seq 303", p.err)
        self.pt("replay", "--run", "w", "--at", "seq=303", code=0)
        self.pt("replay", "--run", "w", "--at", "step=299", code=0)
        self.pt("replay", "--run", "w", "--at", "latest", code=0)
        p = self.pt("diff", "--run", "w", "--from", "step=1", "--to", "step=500", code=1)
        self.assertIn("ends at step 299", p.err)
        p = self.pt("log", "--run", "w", "--from", "step=100", "--to", "step=50", code=2)
        self.assertIn("--from step=100 is after --to step=50", p.err)
        self.pt("log", "--run", "w", "--from", "seq=9", "--to", "seq=3", code=2)
        self.assertEqual(len(self.log_json("--run", "w", "--from", "step=50", "--to", "step=50")), 2)


class Interop(CliTest):
    def test_sealed_segments_are_zstd_streams_of_the_logged_events(self):
        import msgpack
        self.init()
        events = [ALL_TYPES] + [{"kind": "metric", "name": "loss", "step": i, "value": 1 / (i + 1)}
                                for i in range(1000)]
        self.emit("r", events)
        segs = self.segments("r")
        self.assertTrue(segs)
        decoded = []
        for seg in segs:
            subprocess.run(["zstd", "-q", "-t", seg], check=True)
            raw = subprocess.run(["zstd", "-q", "-dc", seg], check=True, stdout=subprocess.PIPE).stdout
            unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
            unpacker.feed(raw)
            decoded += [dict(event_json("r", "main", ev), lineage=0) for ev in unpacker]
        logged = self.log_json("--run", "r")
        self.assertEqual(len(decoded), len(events))
        self.assertEqual(len(logged), len(decoded))
        for a, b in zip(decoded, logged):
            self.assertTrue(same(a, b), "\n%s\n%s" % (a, b))


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        sys.exit("provtrace binary not found: set PROVTRACE_BIN (tried %s)" % BIN)
    unittest.main()
