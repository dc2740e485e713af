#!/usr/bin/env python3
"""bench_python.py - the cost of recording from Python, against what a user
would do otherwise.

Two workloads, each timed for every method until the events are written:

  metric    rec.metric("loss", value, step=i)
  decision  rec.decision("lr", step=i, set={"lr": ...}, reason=..., actor=...,
            metric=..., patience=...)          (5 body fields)

Methods: provtrace (durability "write": the loop, then flush(), which returns
once every event is written to the segment file), the stdlib sqlite3 (WAL,
synchronous=NORMAL, one INSERT per event, a commit every 1000 rows), JSON
lines (json.dumps + write + flush per event) and, where msgpack is
installed, msgpack.packb + write into a buffered file (the practical limit of
any Python-side encoder).  The ratio column is events/s relative to sqlite3.

Usage:
  PROVTRACE_LIB=build/lib/libprovtrace.so PYTHONPATH=bindings/python \\
      /usr/bin/python3 tools/bench/bench_python.py [--metrics N] [--decisions N] [--repeat R]

Prints markdown tables (method | events/s | ratio) and the targets check;
--json also writes the numbers as JSON.
"""

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "bindings", "python")))

import provtrace  # noqa: E402
from provtrace import _lib  # noqa: E402

try:
    import msgpack
except ImportError:  # optional
    msgpack = None

DECISION = dict(reason="plateau", actor="ReduceLROnPlateau", metric=0.4375, patience=3)


# ---- metric workload --------------------------------------------------------

def metric_provtrace(tmp, n):
    with provtrace.Recorder(run="bench", store=os.path.join(tmp, "store")) as rec:
        m = rec.metric
        t0 = time.perf_counter()
        for i in range(n):
            m("loss", 0.5, i)
        rec.flush()
        return time.perf_counter() - t0


def metric_provtrace_batch(tmp, n):
    """rec.metrics() with 4 metrics per call: n events in n/4 calls."""
    with provtrace.Recorder(run="bench", store=os.path.join(tmp, "store")) as rec:
        ms = rec.metrics
        t0 = time.perf_counter()
        for i in range(n // 4):
            ms({"loss": 0.5, "acc": 0.25, "lr": 0.001, "grad_norm": 1.5}, i)
        rec.flush()
        return (time.perf_counter() - t0) * n / (n // 4 * 4)


def metric_bare_ctypes(tmp, n):
    """The floor: the same C call with no Python wrapper around it."""
    with provtrace.Recorder(run="bench", store=os.path.join(tmp, "store")) as rec:
        fn, h = _lib.pt_recorder_metric, rec._h
        t0 = time.perf_counter()
        for i in range(n):
            fn(h, b"loss", 0.5, i)
        rec.flush()
        return time.perf_counter() - t0


def _sqlite(tmp, n, row):
    db = sqlite3.connect(os.path.join(tmp, "events.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER, step INTEGER, "
               "kind TEXT, name TEXT, body TEXT)")
    sql = "INSERT INTO events (time, step, kind, name, body) VALUES (?, ?, ?, ?, ?)"
    ex = db.execute
    now = time.time_ns
    t0 = time.perf_counter()
    ex("BEGIN")
    for i in range(n):
        ex(sql, (now(), i) + row(i))
        if i % 1000 == 999:
            ex("COMMIT")
            ex("BEGIN")
    ex("COMMIT")
    dt = time.perf_counter() - t0
    db.close()
    return dt


def metric_sqlite(tmp, n):
    return _sqlite(tmp, n, lambda i: ("metric", "loss", 0.5))


def _jsonl(tmp, n, make):
    dumps = json.dumps
    now = time.time_ns
    with open(os.path.join(tmp, "events.jsonl"), "w") as f:
        w, fl = f.write, f.flush
        t0 = time.perf_counter()
        for i in range(n):
            w(dumps(make(i, now())) + "\n")
            fl()
        return time.perf_counter() - t0


def metric_jsonl(tmp, n):
    return _jsonl(tmp, n, lambda i, t: {"time": t, "step": i, "kind": "metric", "name": "loss",
                                        "value": 0.5})


def _msgpack(tmp, n, make):
    packb = msgpack.packb
    now = time.time_ns
    with open(os.path.join(tmp, "events.mpk"), "wb") as f:
        w = f.write
        t0 = time.perf_counter()
        for i in range(n):
            w(packb(make(i, now())))
        f.flush()
        return time.perf_counter() - t0


def metric_msgpack(tmp, n):
    return _msgpack(tmp, n, lambda i, t: {"time": t, "step": i, "kind": "metric", "name": "loss",
                                          "value": 0.5})


# ---- decision workload ------------------------------------------------------

def decision_provtrace(tmp, n):
    with provtrace.Recorder(run="bench", store=os.path.join(tmp, "store")) as rec:
        d = rec.decision
        t0 = time.perf_counter()
        for i in range(n):
            d("lr", step=i, set={"lr": 0.001}, reason="plateau", actor="ReduceLROnPlateau",
              metric=0.4375, patience=3)
        rec.flush()
        return time.perf_counter() - t0


def decision_sqlite(tmp, n):
    dumps = json.dumps
    return _sqlite(tmp, n, lambda i: ("decision", "lr", dumps(dict(DECISION, set={"lr": 0.001}))))


def decision_jsonl(tmp, n):
    return _jsonl(tmp, n, lambda i, t: dict(DECISION, time=t, step=i, kind="decision", name="lr",
                                            set={"lr": 0.001}))


def decision_msgpack(tmp, n):
    return _msgpack(tmp, n, lambda i, t: dict(DECISION, time=t, step=i, kind="decision",
                                              name="lr", set={"lr": 0.001}))


# ---- driver -----------------------------------------------------------------

def measure(fn, n, repeat):
    """Best of `repeat` runs (each in a fresh directory), in events/s."""
    best = None
    for _ in range(repeat):
        tmp = tempfile.mkdtemp(prefix="pt-bench-")
        try:
            dt = fn(tmp, n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rate = n / dt
        best = rate if best is None or rate > best else best
    return best


def table(title, rows, base):
    out = ["### %s" % title, "", "| method | events/s | ratio |", "|---|---:|---:|"]
    for name, rate in rows:
        out.append("| %s | %s | %.2fx |" % (name, "{:,.0f}".format(rate), rate / base))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", type=int, default=1_000_000, help="metric events per run")
    ap.add_argument("--decisions", type=int, default=300_000, help="decision events per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method (best is kept)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args()

    results = {}
    workloads = [
        ("metric", args.metrics, [
            ("provtrace `rec.metric()`", metric_provtrace),
            ("provtrace `rec.metrics()`, 4 per call", metric_provtrace_batch),
            ("bare ctypes `pt_recorder_metric` (floor)", metric_bare_ctypes),
            ("sqlite3 WAL, 1000 rows/txn", metric_sqlite),
            ("JSON lines, json.dumps + write + flush", metric_jsonl),
            ("msgpack.packb + write", metric_msgpack if msgpack else None),
        ]),
        ("decision (5 fields)", args.decisions, [
            ("provtrace `rec.decision()`", decision_provtrace),
            ("sqlite3 WAL, 1000 rows/txn", decision_sqlite),
            ("JSON lines, json.dumps + write + flush", decision_jsonl),
            ("msgpack.packb + write", decision_msgpack if msgpack else None),
        ]),
    ]
    print("provtrace %s (%s), Python %s, %d events per run, best of %d\n"
          % (provtrace.library_version(), provtrace.library_path, sys.version.split()[0],
             args.metrics, args.repeat))
    for title, n, methods in workloads:
        rows = []
        for name, fn in methods:
            if fn is None:
                continue
            rows.append((name, measure(fn, n, args.repeat)))
        base = dict(rows)["sqlite3 WAL, 1000 rows/txn"]
        results[title] = dict(rows)
        print(table("%s, %s events" % (title, "{:,}".format(n)), rows, base))
        print()

    # One bare ctypes call, for the record (a trivial setter on a builder).
    b = provtrace._encode.thread_builder()
    set_step = _lib.pt_event_set_step
    ev = b.ptr
    t = min(timeit.repeat(lambda: set_step(ev, 5), number=200_000, repeat=3)) / 200_000
    b.busy = False
    print("one bare ctypes call (pt_event_set_step): %.3f us" % (t * 1e6))

    m = results["metric"]["provtrace `rec.metric()`"]
    d = results["decision (5 fields)"]["provtrace `rec.decision()`"]
    ms = results["metric"]["sqlite3 WAL, 1000 rows/txn"]
    ds = results["decision (5 fields)"]["sqlite3 WAL, 1000 rows/txn"]
    print()
    print("targets: metric >= 1,000,000/s: %s (%s/s); decision >= 300,000/s: %s (%s/s); "
          ">= 4x sqlite3: metric %.1fx, decision %.1fx"
          % ("met" if m >= 1e6 else "NOT met", "{:,.0f}".format(m),
             "met" if d >= 3e5 else "NOT met", "{:,.0f}".format(d), m / ms, d / ds))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "bare_call_us": t * 1e6}, f, indent=2)


if __name__ == "__main__":
    main()
