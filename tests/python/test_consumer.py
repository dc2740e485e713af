"""Durable consumers from Python: consume(), the iterator form, listing, reset."""

import threading
import time
import unittest

from ptutil import StoreTest

import provtrace


class ConsumerTest(StoreTest):
    def record(self, run, n, start=0):
        with provtrace.Recorder(run=run, store=self.store, max_delay_ms=5) as rec:
            for i in range(n):
                rec.metric("loss", float(i), step=start + i)

    def test_handler_with_poison_event_and_random_failures(self):
        self.record("r", 300)
        evs = [e for e in provtrace.open_run("r", store=self.store).events()]
        poison = evs[123]["seq"]
        seen = {}
        calls = [0]

        def handler(batch):
            calls[0] += 1
            for e in batch:
                self.assertEqual((e["run"], e["stream"]), ("r", "main"))
            if any(e["seq"] == poison for e in batch):
                raise ValueError("poison %d" % poison)
            if calls[0] % 3 == 0:
                return False  # a failure too: retried
            for e in batch:
                seen[e["seq"]] = seen.get(e["seq"], 0) + 1

        counts = provtrace.consume("c", handler, run="r", store=self.store, follow=False, batch=32,
                                   max_retries=2, backoff_ms=1, backoff_max_ms=2)
        self.assertEqual(counts["failed"], 1)
        self.assertEqual(sorted(seen), sorted(e["seq"] for e in evs if e["seq"] != poison))
        fails = list(provtrace.open_run("consumer-failures", store=self.store).events(kind="consumer_failure"))
        self.assertEqual(len(fails), 1)
        self.assertEqual((fails[0]["event_run"], fails[0]["seq_first"], fails[0]["seq_last"]), ("r", poison, poison))
        self.assertIn("ValueError: poison", fails[0]["error"])
        self.assertEqual(fails[0]["attempts"], 3)
        # resumed: nothing left
        self.assertEqual(provtrace.consume("c", handler, store=self.store, follow=False)["events"], 0)
        info = provtrace.consumers(store=self.store)
        self.assertEqual([i["name"] for i in info], ["c"])
        self.assertEqual(info[0]["events_behind"], 0)
        self.assertEqual(info[0]["positions"][0]["seq"], evs[-1]["seq"])

    def test_iterator_commits_when_the_next_batch_is_asked_for(self):
        self.record("r", 50)
        c = provtrace.consumer("it", run="r", store=self.store, follow=False, batch=20)
        first = next(iter(c))
        self.assertEqual([e["seq"] for e in first][:2], [1, 2])
        c.close()  # not committed: handed again
        with provtrace.consumer("it", store=self.store, follow=False, batch=20) as c:
            batches = [b for b in c]
        self.assertEqual(batches[0][0]["seq"], 1)
        total = len(list(provtrace.open_run("r", store=self.store).events()))
        self.assertEqual(sum(len(b) for b in batches), total)
        self.assertEqual(provtrace.consumers("it", store=self.store)[0]["events_behind"], 0)
        provtrace.reset_consumer("it", {"step": 40}, store=self.store)
        with provtrace.consumer("it", store=self.store, follow=False, batch=100) as c:
            self.assertEqual([e["step"] for b in c for e in b if e["kind"] == "metric"], list(range(40, 50)))
        provtrace.remove_consumer("it", store=self.store)
        with self.assertRaises(provtrace.NotFoundError):
            provtrace.consumers("it", store=self.store)

    def test_follow_sees_new_runs_and_stop_returns(self):
        self.record("exp-0", 5)
        got = []
        c = provtrace.Consumer("f", run="exp-*", store=self.store, batch=10, poll_ms=100)

        def handler(batch):
            got.extend(e for e in batch if e["kind"] == "metric")
            if len(got) >= 5 + 3 * 7:
                c.stop()

        def writer():
            for r in range(1, 4):
                time.sleep(0.05)
                self.record("exp-%d" % r, 7)

        t = threading.Thread(target=writer)
        t.start()
        counts = c.run(handler)
        t.join()
        self.assertEqual(len(got), 26)
        self.assertEqual({e["run"] for e in got}, {"exp-0", "exp-1", "exp-2", "exp-3"})
        self.assertGreaterEqual(counts["events"], 26)
        c.close()
        with self.assertRaises(provtrace.ClosedError):
            c.counts

    def test_lock_bad_arguments(self):
        self.record("r", 1)
        with provtrace.consumer("one", store=self.store, follow=False):
            with self.assertRaises(provtrace.LockedError) as cm:
                provtrace.consumer("one", store=self.store)
            self.assertIn("pid=", str(cm.exception))
            with self.assertRaises(provtrace.LockedError):
                provtrace.reset_consumer("one", "oldest", store=self.store)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.consumer("two", start="yesterday", store=self.store)
        with self.assertRaises(ValueError):
            provtrace.consumer("two", batch=0, store=self.store)
        with self.assertRaises(TypeError):
            provtrace.consumer("two", batch="ten", store=self.store)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.consumer("../x", store=self.store)
        with self.assertRaises(provtrace.InvalidError):
            provtrace.consumer("one", run="other", store=self.store)


if __name__ == "__main__":
    unittest.main()
