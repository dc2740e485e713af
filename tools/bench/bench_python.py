#!/usr/bin/env python3
"""bench_python.py - the cost of recording from Python, against what a user
would do otherwise.

Two workloads, each timed for every method until the events are written:

  metric    rec.metric("loss", value, step=i)
  decision  rec.decision("lr", step=i, set={"lr": ...}, reason=..., actor=...,
            metric=..., patience=...)          (5 body fields)

Methods: provtrace (durability "write": the loop, then close(), which
flushes, fdatasyncs and seals the segment), the stdlib sqlite3 (WAL,
synchronous=NORMAL, one INSERT per event, a commit every 1000 rows), JSON
lines (json.dumps + write + flush per event) and, where msgpack is
installed, msgpack.packb + write into a buffered file (the practical limit of
any Python-side encoder).  The ratio column is events/s relative to sqlite3.

Usage:
  PROVTRACE_LIB=build/lib/libprovtrace.so PYTHONPATH=bindings/python \\
      /usr/bin/python3 tools/bench/bench_python.py [--metrics N] [--decisions N] [--repeat R]

Prints, like provtrace-bench, markdown tables (method | events/s | ratio, the
ratio being the provtrace row's events/s over the method's) and the targets
(PASS/MISS); --json also writes the numbers as JSON.  Exit status 0 whether
or not the targets are met.
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
    rec = provtrace.Recorder(run="bench", store=os.path.join(tmp, "store"))
    m = rec.metric
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        m("loss", 0.5, i)
    rec.close()
    return time.perf_counter() - t0, time.thread_time() - c0


def metric_provtrace_batch(tmp, n):
    """rec.metrics() with 4 metrics per call: n events in n/4 calls."""
    rec = provtrace.Recorder(run="bench", store=os.path.join(tmp, "store"))
    ms = rec.metrics
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n // 4):
        ms({"loss": 0.5, "acc": 0.25, "lr": 0.001, "grad_norm": 1.5}, i)
    rec.close()
    return ((time.perf_counter() - t0) * n / (n // 4 * 4),
            (time.thread_time() - c0) * n / (n // 4 * 4))


def metric_bare_ctypes(tmp, n):
    """The floor: the same C call with no Python wrapper around it."""
    rec = provtrace.Recorder(run="bench", store=os.path.join(tmp, "store"))
    fn, h = _lib.pt_recorder_metric, rec._h
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        fn(h, b"loss", 0.5, i)
    rec.close()
    return time.perf_counter() - t0, time.thread_time() - c0


def _sqlite(tmp, n, row):
    db = sqlite3.connect(os.path.join(tmp, "events.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER, step INTEGER, "
               "kind TEXT, name TEXT, body TEXT)")
    sql = "INSERT INTO events (time, step, kind, name, body) VALUES (?, ?, ?, ?, ?)"
    ex = db.execute
    now = time.time_ns
    t0, c0 = time.perf_counter(), time.thread_time()
    ex("BEGIN")
    for i in range(n):
        ex(sql, (now(), i) + row(i))
        if i % 1000 == 999:
            ex("COMMIT")
            ex("BEGIN")
    ex("COMMIT")
    db.close()
    return time.perf_counter() - t0, time.thread_time() - c0


def metric_sqlite(tmp, n):
    return _sqlite(tmp, n, lambda i: ("metric", "loss", 0.5))


def _jsonl(tmp, n, make):
    dumps = json.dumps
    now = time.time_ns
    f = open(os.path.join(tmp, "events.jsonl"), "w")
    w, fl = f.write, f.flush
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        w(dumps(make(i, now())) + "\n")
        fl()
    f.close()
    return time.perf_counter() - t0, time.thread_time() - c0


def metric_jsonl(tmp, n):
    return _jsonl(tmp, n, lambda i, t: {"time": t, "step": i, "kind": "metric", "name": "loss",
                                        "value": 0.5})


def _msgpack(tmp, n, make):
    packb = msgpack.packb
    now = time.time_ns
    f = open(os.path.join(tmp, "events.mpk"), "wb")
    w = f.write
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        w(packb(make(i, now())))
    f.close()
    return time.perf_counter() - t0, time.thread_time() - c0


def metric_msgpack(tmp, n):
    return _msgpack(tmp, n, lambda i, t: {"time": t, "step": i, "kind": "metric", "name": "loss",
                                          "value": 0.5})


# ---- decision workload ------------------------------------------------------

def decision_provtrace(tmp, n):
    rec = provtrace.Recorder(run="bench", store=os.path.join(tmp, "store"))
    d = rec.decision
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        d("lr", step=i, set={"lr": 0.001}, reason="plateau", actor="ReduceLROnPlateau",
          metric=0.4375, patience=3)
    rec.close()
    return time.perf_counter() - t0, time.thread_time() - c0


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
    """Best of `repeat` runs (each in a fresh directory): (events/s, calling
    thread's CPU ns per event)."""
    best = None
    cpu = None
    for _ in range(repeat):
        tmp = tempfile.mkdtemp(prefix="pt-bench-")
        try:
            dt, ct = fn(tmp, n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rate = n / dt
        best = rate if best is None or rate > best else best
        ns = ct / n * 1e9
        cpu = ns if cpu is None or ns < cpu else cpu
    return best, cpu


def fmt_count(v):
    return "{:,.0f}".format(v)


def print_table(head, rows, align):
    """An aligned markdown table, like provtrace-bench's."""
    width = [max(len(str(r[c])) for r in [head] + rows) for c in range(len(head))]

    def line(cells):
        out = []
        for c, cell in enumerate(cells):
            cell = str(cell)
            out.append(cell.ljust(width[c]) if align[c] == "l" else cell.rjust(width[c]))
        return "| " + " | ".join(out) + " |"

    print(line(head))
    print("|" + "|".join((":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":")
                         for w, a in zip(width, align)) + "|")
    for r in rows:
        print(line(r))


def machine_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "machine: %d CPUs online, %s, load average %.2f" % (
        os.cpu_count() or 0, model, os.getloadavg()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", type=int, default=1_000_000, help="metric events per run")
    ap.add_argument("--decisions", type=int, default=300_000, help="decision events per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method (best is kept)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args()

    results = {}
    cpus = {}
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
    print(machine_line())
    print("provtrace %s (%s), Python %s, best of %d runs per method\n"
          % (provtrace.library_version(), provtrace.library_path, sys.version.split()[0],
             args.repeat))
    for title, n, methods in workloads:
        rows = []
        for name, fn in methods:
            if fn is None:
                continue
            print("  %-45s ..." % name, end="", flush=True)
            rate, cpu = measure(fn, n, args.repeat)
            print(" %s events/s" % fmt_count(rate), flush=True)
            rows.append((name, rate, cpu))
        results[title] = {name: rate for name, rate, _ in rows}
        cpus[title] = {name: cpu for name, _, cpu in rows}
        pt = rows[0][1]
        print("\n%s, %s events per run:\n" % (title, "{:,}".format(n)))
        print_table(("method", "events/s", "ratio", "caller CPU ns/event"),
                    [(name, fmt_count(rate), "%.2f" % (pt / rate), "%.0f" % cpu)
                     for name, rate, cpu in rows],
                    "lrrr")
        print()
    print("events/s: from the first call until the data is on disk (provtrace: close, which "
          "flushes\nand seals; sqlite3: the last COMMIT and close; files: close).  ratio: the "
          "provtrace\nrow's events/s / the method's.  Every row stamps each event with the "
          "time (ns).\ncaller CPU: CPU time of the calling thread per event (provtrace "
          "compresses and writes\nin a background thread, not counted there): robust to "
          "other load on the machine.")

    # One bare ctypes call, for the record (a trivial setter on a builder).
    b = provtrace._encode.thread_builder()
    set_step = _lib.pt_event_set_step
    ev = b.ptr
    t = min(timeit.repeat(lambda: set_step(ev, 5), number=200_000, repeat=3)) / 200_000
    b.busy = False
    print("one bare ctypes call: pt_event_set_step %.3f us (GIL kept), see the bare "
          "pt_recorder_metric row for a call that releases it" % (t * 1e6))

    m = results["metric"]["provtrace `rec.metric()`"]
    d = results["decision (5 fields)"]["provtrace `rec.decision()`"]
    ms = results["metric"]["sqlite3 WAL, 1000 rows/txn"]
    ds = results["decision (5 fields)"]["sqlite3 WAL, 1000 rows/txn"]
    print()
    print_table(("target", "measured", "goal", ""), [
        ("rec.metric() calls/s", fmt_count(m), ">= 1,000,000", "PASS" if m >= 1e6 else "MISS"),
        ("rec.decision() calls/s", fmt_count(d), ">= 300,000", "PASS" if d >= 3e5 else "MISS"),
        ("metric: provtrace / sqlite3", "%.1fx" % (m / ms), ">= 4x",
         "PASS" if m / ms >= 4 else "MISS"),
        ("decision: provtrace / sqlite3", "%.1fx" % (d / ds), ">= 4x",
         "PASS" if d / ds >= 4 else "MISS"),
    ], "lrrl")
    if args.json:
        with open(args.json, "w") as fp:
            json.dump({"events_per_s": results, "caller_cpu_ns_per_event": cpus,
                       "bare_call_us": t * 1e6}, fp, indent=2)


if __name__ == "__main__":
    main()
