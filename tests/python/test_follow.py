"""A recorder in one process, a reader following it in another."""

import json
import unittest

from ptutil import StoreTest, spawn_python

import provtrace

N = 300


class FollowTest(StoreTest):
    def test_reader_process_follows_recorder(self):
        # Create the run first so the reader can open it.
        with provtrace.Recorder(run="live", store=self.store) as rec:
            rec.event("note", text="start")
        reader = spawn_python(
            "import provtrace, json, sys\n"
            "run = provtrace.open_run('live', store=%r)\n"
            "print('ready', flush=True)\n"
            "seen = []\n"
            "for ev in run.events(kind='metric', follow=True, poll_interval=0.01, idle_timeout=30):\n"
            "    seen.append(ev['step'])\n"
            "    if ev['step'] == %d - 1: break\n"
            "print(json.dumps(seen), flush=True)\n" % (self.store, N))
        try:
            self.assertEqual(reader.stdout.readline().strip(), "ready")
            with provtrace.Recorder(run="live", store=self.store, durability="write", append=True) as rec:
                for step in range(N):
                    rec.metric("loss", 1.0 / (step + 1), step=step)
                    if step % 50 == 0:
                        rec.flush()  # the reader sees them while we write
            out, err = reader.communicate(timeout=60)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
        self.assertEqual(reader.returncode, 0, err)
        self.assertEqual(json.loads(out), list(range(N)))

    def test_follow_in_this_process_sees_new_events(self):
        with provtrace.Recorder(run="live", store=self.store) as rec:
            rec.metric("m", 0.0, step=0)
            rec.flush()
            it = provtrace.open_run("live", self.store).events(kind="metric", follow=True,
                                                               poll_interval=0.01, idle_timeout=5)
            self.assertEqual(next(it)["step"], 0)
            rec.metric("m", 1.0, step=1)
            rec.flush()
            self.assertEqual(next(it)["step"], 1)
            it.close()

    def test_follow_stops_after_idle_timeout(self):
        with provtrace.Recorder(run="live", store=self.store) as rec:
            rec.metric("m", 0.0, step=0)
        evs = list(provtrace.open_run("live", self.store).events(
            kind="metric", follow=True, poll_interval=0.01, idle_timeout=0.2))
        self.assertEqual(len(evs), 1)


if __name__ == "__main__":
    unittest.main()
