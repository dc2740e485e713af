"""Recorder life cycle, locking, threads, store discovery and reading filters."""

import gc
import os
import threading
import unittest

from ptutil import StoreTest, run_python, spawn_python

import provtrace


class LifeCycleTest(StoreTest):
    def test_closed_recorder_raises_closed_error_everywhere(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        rec.metric("m", 1.0)
        rec.close()
        rec.close()  # idempotent
        self.assertTrue(rec.closed)
        calls = [
            lambda: rec.metric("m", 1.0),
            lambda: rec.metric("m", 1.0, step=3),
            lambda: rec.metrics({"a": 1.0}),
            lambda: rec.metrics({}),
            lambda: rec.param("p", 1),
            lambda: rec.params({"p": 1}),
            lambda: rec.decision("d", reason="x"),
            lambda: rec.event("note", text="x"),
            lambda: rec.flush(),
            lambda: rec.seal(),
            lambda: rec.next_seq,
            lambda: rec.__enter__(),
        ]
        for i, call in enumerate(calls):
            with self.assertRaises(provtrace.ClosedError, msg=str(i)) as cm:
                call()
            self.assertEqual(cm.exception.code, -14)
        # Still readable: properties that need no C handle.
        self.assertEqual((rec.run, rec.stream), ("r", "main"))
        self.assertIn("closed", repr(rec))

    def test_properties_and_generated_run_name(self):
        with provtrace.Recorder(store=self.store, stream="rank0", durability="fsync",
                                capture_code=False) as rec:
            self.assertRegex(rec.run, r"^\d{8}-\d{6}-[0-9a-z]+$")
            self.assertEqual(rec.stream, "rank0")
            self.assertEqual(rec.store_path, os.path.realpath(self.store))
            self.assertEqual((rec.durability, rec.capture_code), ("fsync", False))
            first = rec.next_seq
            self.assertGreaterEqual(first, 1)
            self.assertEqual(rec.event("note"), first)
            self.assertEqual(rec.next_seq, first + 1)
            run = rec.run
        self.assertEqual(provtrace.runs(self.store), [run])
        self.assertEqual(provtrace.open_run(run, self.store).streams, ["rank0"])

    def test_context_manager_keeps_body_exception(self):
        with self.assertRaises(KeyError):
            with provtrace.Recorder(run="r", store=self.store) as rec:
                rec.metric("m", 1.0)
                raise KeyError("boom")
        self.assertTrue(rec.closed)
        self.assertEqual(len(self.user_events("r")), 1)

    def test_garbage_collected_recorder_is_closed_and_releases_the_lock(self):
        rec = provtrace.Recorder(run="r", store=self.store)
        rec.metric("m", 2.0)
        del rec
        gc.collect()
        with provtrace.Recorder(run="r", store=self.store, append=True) as rec2:
            rec2.metric("m", 3.0)
        self.assertEqual([e["value"] for e in self.user_events("r")], [2.0, 3.0])

    def test_recorder_left_open_is_closed_at_interpreter_exit(self):
        r = run_python(
            "import provtrace\n"
            "rec = provtrace.Recorder(run='r', store=%r)\n"
            "for i in range(1000): rec.metric('m', float(i), step=i)\n"
            "import sys; sys.modules['__main__'].keep = rec\n" % self.store)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.user_events("r")), 1000)
        info = provtrace.open_run("r", self.store).stream_info()
        self.assertEqual(info["sealed_segments"], 1)  # closed, not just flushed
        self.assertFalse(info["writer_active"])

    def test_forked_child_does_not_touch_the_parents_recorder(self):
        r = run_python(
            "import os, sys, provtrace\n"
            "rec = provtrace.Recorder(run='r', store=%r)\n"
            "rec.metric('m', 1.0, step=1)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    try:\n"
            "        rec.metric('m', 2.0)\n"
            "        code = 3\n"
            "    except provtrace.ClosedError as e:\n"
            "        code = 0 if 'parent process' in str(e) else 4\n"
            "    try:\n"
            "        rec.event('note')\n"
            "        code = 5\n"
            "    except provtrace.ClosedError:\n"
            "        pass\n"
            "    rec.close()  # a no-op in the child\n"
            "    sys.exit(code)  # runs atexit: must not close the parent's recorder\n"
            "_, status = os.waitpid(pid, 0)\n"
            "rec.metric('m', 3.0, step=3)\n"
            "rec.close()\n"
            "print(os.waitstatus_to_exitcode(status))\n" % self.store, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "0", r.stderr)
        self.assertEqual([e["value"] for e in self.user_events("r")], [1.0, 3.0])
        self.assertEqual(provtrace.verify(self.store), [])

    def test_every_durability(self):
        for d in ("none", "write", "fsync"):
            with provtrace.Recorder(run="r-" + d, store=self.store, durability=d) as rec:
                rec.metric("m", 1.0)
                rec.flush()
                if d != "none":  # written to the file: visible to a reader before close
                    self.assertEqual(len(self.user_events("r-" + d)), 1)
            self.assertEqual(len(self.user_events("r-" + d)), 1)


    def test_kinds_the_library_interprets_are_refused(self):
        with provtrace.Recorder(run="k", store=self.store) as rec:
            for kind in ("checkpoint", "snapshot", "lineage", "recovery", "code", "artifact", "dataset"):
                with self.assertRaises(provtrace.InvalidError) as cm:
                    rec.event(kind, manifest="ab" * 32)
                self.assertIn('"%s" is reserved' % kind, str(cm.exception))
            rec.event("datasets", objects=["ab" * 32])  # a user's kind: plain data
        self.assertEqual([e["kind"] for e in self.user_events("k")], ["datasets"])

class LockTest(StoreTest):
    def test_second_recorder_in_same_process_is_locked(self):
        with provtrace.Recorder(run="r", store=self.store):
            with self.assertRaises(provtrace.LockedError) as cm:
                provtrace.Recorder(run="r", store=self.store)
            self.assertIn("pid=%d" % os.getpid(), cm.exception.message)
            # Another stream of the same run is free.
            with provtrace.Recorder(run="r", store=self.store, stream="other"):
                pass

    def test_recorder_in_other_process_is_locked(self):
        p = spawn_python(
            "import provtrace, sys\n"
            "rec = provtrace.Recorder(run='r', store=%r)\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "rec.close()\n" % self.store)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready", p.stderr.read() if p.poll() else "")
            with self.assertRaises(provtrace.LockedError) as cm:
                provtrace.Recorder(run="r", store=self.store)
            self.assertIn("pid=%d" % p.pid, cm.exception.message)
            self.assertEqual(cm.exception.name, "PT_ELOCKED")
        finally:
            p.stdin.write("\n")
            p.stdin.flush()
            self.assertEqual(p.wait(timeout=60), 0)
            p.stdout.close()
            p.stderr.close()
            p.stdin.close()
        with provtrace.Recorder(run="r", store=self.store, append=True):
            pass  # released by the other process

    def test_lock_of_a_killed_process_is_released(self):
        r = run_python(
            "import provtrace, os\n"
            "rec = provtrace.Recorder(run='r', store=%r)\n"
            "rec.metric('m', 1.0)\n"
            "rec.flush()\n"
            "os._exit(0)\n" % self.store)
        self.assertEqual(r.returncode, 0, r.stderr)
        with provtrace.Recorder(run="r", store=self.store, append=True) as rec:
            rec.metric("m", 2.0)
        self.assertEqual([e["value"] for e in self.user_events("r")], [1.0, 2.0])


class ThreadsTest(StoreTest):
    def test_four_threads(self):
        n = 5000
        errors = []
        with provtrace.Recorder(run="r", store=self.store) as rec:
            def work(t):
                try:
                    for i in range(n):
                        if i % 3 == 0:
                            rec.metric("t%d" % t, float(i), step=i)
                        elif i % 3 == 1:
                            rec.decision("t%d" % t, step=i, set={"i": i}, reason="r")
                        else:
                            rec.metrics({"t%d" % t: float(i)}, step=i)
                except BaseException as e:  # reported below
                    errors.append(e)
            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        self.assertEqual(errors, [])
        evs = self.read_all("r")
        self.assertEqual([e["seq"] for e in evs], list(range(1, len(evs) + 1)))
        mine = [e for e in evs if e["kind"] in ("metric", "decision")]
        self.assertEqual(len(mine), 4 * n)
        for t in range(4):
            steps = [e["step"] for e in mine if e["name"] == "t%d" % t]
            self.assertEqual(steps, list(range(n)))  # each thread's order is kept
            for e in mine:
                if e["kind"] == "decision" and e["name"] == "t%d" % t:
                    self.assertEqual(e["set"], {"i": e["step"]})


class StoreTest_(StoreTest):
    def test_given_store_path_is_created(self):
        path = os.path.join(self.tmp, "a", "b", "store")
        with provtrace.Recorder(run="r", store=path):
            pass
        self.assertTrue(os.path.exists(os.path.join(path, "config")))
        os.mkdir(os.path.join(self.tmp, "empty"))
        with provtrace.Recorder(run="r", store=os.path.join(self.tmp, "empty")):
            pass
        self.assertEqual(provtrace.runs(os.path.join(self.tmp, "empty")), ["r"])

    def test_non_store_directory_is_not_found(self):
        d = os.path.join(self.tmp, "notastore")
        os.mkdir(d)
        with open(os.path.join(d, "file"), "w") as f:
            f.write("x")
        with self.assertRaises(provtrace.NotFoundError) as cm:
            provtrace.Recorder(run="r", store=d)
        self.assertIn("not a provtrace store", cm.exception.message)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.runs(d)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.open_run("r", d)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.verify(d)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.runs(os.path.join(self.tmp, "missing"))  # readers never create

    def test_newer_format_is_version_error(self):
        with provtrace.Recorder(run="r", store=self.store):
            pass
        cfg = os.path.join(self.store, "config")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("format = 1", "format = 2"))
        for call in (lambda: provtrace.runs(self.store),
                     lambda: provtrace.open_run("r", self.store),
                     lambda: provtrace.Recorder(run="r", store=self.store)):
            with self.assertRaises(provtrace.VersionError) as cm:
                call()
            self.assertIn("format 2", cm.exception.message)

    def test_discovery_like_the_cli(self):
        with provtrace.Recorder(run="r", store=self.store):
            pass
        os.environ["PROVTRACE_STORE"] = self.store
        try:
            self.assertEqual(provtrace.runs(), ["r"])
            with provtrace.Recorder(run="r2") as rec:
                self.assertEqual(rec.store_path, os.path.realpath(self.store))
        finally:
            del os.environ["PROVTRACE_STORE"]
        # The nearest .provtrace/ of the current directory or a parent.
        dot = os.path.join(self.tmp, "proj", ".provtrace")
        with provtrace.Recorder(run="x", store=dot):
            pass
        sub = os.path.join(self.tmp, "proj", "src", "deep")
        os.makedirs(sub)
        old = os.getcwd()
        os.chdir(sub)
        try:
            self.assertEqual(provtrace.runs(), ["x"])
            self.assertEqual(provtrace.open_run("x").store_path, os.path.realpath(dot))
        finally:
            os.chdir(old)

    def test_no_store_found(self):
        old = os.getcwd()
        os.chdir(self.tmp)
        try:
            with self.assertRaises(provtrace.NotFoundError):
                provtrace.Recorder(run="r")
        finally:
            os.chdir(old)

    def test_missing_run_and_stream(self):
        with provtrace.Recorder(run="r", store=self.store):
            pass
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.open_run("nope", self.store)
        run = provtrace.open_run("r", self.store)
        with self.assertRaises(provtrace.NotFoundError):
            list(run.events(stream="nope"))
        with self.assertRaises(provtrace.NotFoundError):
            run.stream_info("nope")


class ReadTest(StoreTest):
    def setUp(self):
        super().setUp()
        with provtrace.Recorder(run="r", store=self.store) as rec:
            for step in range(100):
                rec.metric("loss", 1.0 / (step + 1), step=step)
                if step % 10 == 0:
                    rec.decision("lr", step=step, set={"lr": 0.1 / (step + 1)}, reason="sched")
            rec.event("note", text="no step")
        self.run_ = provtrace.open_run("r", self.store)

    def test_filters(self):
        r = self.run_
        self.assertEqual(len(list(r.events(kind="metric"))), 100)
        self.assertEqual([e["step"] for e in r.events(kind="decision")], list(range(0, 100, 10)))
        self.assertEqual([e["step"] for e in r.events(kind="metric", start=10, stop=15)],
                         [10, 11, 12, 13, 14])
        self.assertEqual([e["step"] for e in r.events(kind="metric", step_min=98)], [98, 99])
        self.assertEqual([e["step"] for e in r.events(kind="metric", step_max=1)], [0, 1])
        all_ = list(r.events())
        mid = all_[len(all_) // 2]["seq"]
        self.assertEqual([e["seq"] for e in r.events(seq_min=mid, seq_max=mid + 2)],
                         [mid, mid + 1, mid + 2])
        t = all_[-1]["time"]
        self.assertEqual([e["seq"] for e in r.events(time_min=t)], [all_[-1]["seq"]])
        self.assertEqual(list(r.events(kind="nothing")), [])
        # Bounds beyond 64 bits mean "no bound" on that side (never wrapped).
        self.assertEqual(len(list(r.events(kind="metric", seq_max=2**70, step_max=2**80,
                                           time_max=2**90, seq_min=-5, step_min=-(2**70)))),
                         100)
        self.assertEqual(list(r.events(seq_min=2**70)), [])
        with self.assertRaises(ValueError):
            r.events(start=1, step_min=1)
        with self.assertRaises(TypeError):
            r.events(start="1")
        with self.assertRaises(provtrace.InvalidError):
            r.events(time_min="yesterday")

    def test_stream_info(self):
        info = self.run_.stream_info()
        evs = list(self.run_.events())
        self.assertEqual(info["events"], len(evs))
        self.assertEqual((info["seq_first"], info["seq_last"]), (1, len(evs)))
        self.assertEqual((info["step_min"], info["step_max"]), (0, 99))
        self.assertFalse(info["writer_active"])
        self.assertGreater(info["bytes"], 0)
        self.assertEqual(self.run_.streams, ["main"])

    def test_iterator_life_cycle(self):
        it = self.run_.events()
        first = next(it)
        self.assertEqual(first["seq"], 1)
        it.close()
        self.assertTrue(it.closed)
        self.assertEqual(list(it), [])
        with self.run_.events() as it2:
            next(it2)
        self.assertTrue(it2.closed)
        # Exhaustion frees the C iterator.
        it3 = self.run_.events(kind="decision")
        self.assertEqual(len(list(it3)), 10)
        self.assertTrue(it3.closed)
        # An iterator keeps its store alive after the Run is gone.
        it4 = provtrace.open_run("r", self.store).events(kind="metric")
        gc.collect()
        self.assertEqual(len(list(it4)), 100)

    def test_verify_clean(self):
        report = provtrace.verify(self.store)
        self.assertEqual(list(report), [])
        self.assertTrue(report.ok)
        self.assertGreaterEqual(report.stats["events"], 111)
        self.assertEqual(provtrace.verify(self.store, run="r"), [])
        self.assertEqual(self.run_.verify(), [])


if __name__ == "__main__":
    unittest.main()
