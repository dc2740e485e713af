"""Remote benchmark (docs/PERFORMANCE.md, "Remote"): run under
tests/remote/harness.py --moto (moto_server on loopback).

  1. push of a store (segments + checkpoints) against `aws s3 sync` of the same
     directory and `restic backup` to the same bucket (restic's s3 backend),
     first and after a ~10% change;
  2. replay at random steps read in place from the bucket (cold cache each
     time): median and p99 time, bytes and requests per replay.

  bench_remote.py [--quick] [--events N] [--replays K]

Ratios are printed against the baselines measured in the same run; nothing
here is a pass/fail test except that every step must succeed.
"""
import argparse, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "remote"))
import harness  # noqa: E402
import numpy as np  # noqa: E402
import provtrace  # noqa: E402

PT = os.environ.get("PROVTRACE_BIN") or os.path.join(HERE, "..", "..", "build", "provtrace")
EP = os.environ["PT_TEST_S3_ENDPOINT"]


def aws_py(code):
    subprocess.run([harness.aws_python(), "-c", "import boto3\ns3 = boto3.client('s3')\n" + code], check=True,
                   env=harness.clean_env())


def timed(argv, env=None):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def record(store, run, events, ckpts, seed, tensor):
    rng = np.random.default_rng(seed)
    with provtrace.Recorder(run, store=store, capture_code=False) as r:
        r.param("lr", 0.1)
        per = max(1, events // max(1, ckpts))
        for i in range(events):
            r.metric("loss", float(rng.random()), step=i)
            if ckpts and i % per == per - 1:
                w = rng.standard_normal(tensor, dtype=np.float32)
                r.checkpoint(i, {"w": w})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--replays", type=int, default=0)
    ap.add_argument("--tensor", type=int, default=0, help="float32 elements per checkpoint")
    a = ap.parse_args()
    events = a.events or (20000 if a.quick else 2_000_000)
    replays = a.replays or (5 if a.quick else 50)
    tensor = a.tensor or (20000 if a.quick else 4_000_000)
    ckpts = 2 if a.quick else 20
    tmp = tempfile.mkdtemp(prefix="pt-bench-remote-")
    try:
        store = os.path.join(tmp, "s")
        subprocess.run([PT, "init", store], check=True, stdout=subprocess.DEVNULL)
        record(store, "big", events, ckpts, 1, tensor)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs)
        bucket = "bench-%d" % os.getpid()
        aws_py("s3.create_bucket(Bucket=%r)" % bucket)
        env = dict(os.environ)
        res = {"store_bytes": size, "events": events}
        # 1. push vs aws s3 sync vs restic, first and after a ~10% change
        res["push_first_s"] = timed([PT, "--store", store, "push", "s3://%s/pt" % bucket, "--endpoint", EP])
        res["sync_first_s"] = timed(["aws", "--endpoint-url", EP, "s3", "sync", "--only-show-errors", store,
                                     "s3://%s/sync" % bucket], env=harness.clean_env())
        restic = shutil.which("restic")
        renv = dict(harness.clean_env(), RESTIC_PASSWORD="bench", RESTIC_REPOSITORY="s3:%s/%s/restic" % (EP, bucket))
        if restic:
            subprocess.run([restic, "init"], env=renv, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            res["restic_first_s"] = timed([restic, "backup", "-q", store], env=renv)
        record(store, "more", events // 10, max(1, ckpts // 10), 2, tensor)
        res["push_10pct_s"] = timed([PT, "--store", store, "push", "s3://%s/pt" % bucket, "--endpoint", EP])
        res["sync_10pct_s"] = timed(["aws", "--endpoint-url", EP, "s3", "sync", "--only-show-errors", store,
                                     "s3://%s/sync" % bucket], env=harness.clean_env())
        if restic:
            res["restic_10pct_s"] = timed([restic, "backup", "-q", store], env=renv)
        # 2. replay at random steps from the bucket, cold cache each time
        rnd = random.Random(42)
        times, nbytes, reqs = [], [], []
        url = "s3://%s/pt" % bucket
        os.environ["AWS_ENDPOINT_URL"] = EP
        for k in range(replays):
            os.environ["PROVTRACE_CACHE_DIR"] = os.path.join(tmp, "cache-%d" % k)
            step = rnd.randrange(events)
            t0 = time.perf_counter()
            run = provtrace.open_run("big", store=url)
            st = run.state_at(step=step)
            times.append(time.perf_counter() - t0)
            assert st.step == step, (st.step, step)
            s = provtrace.remote_read_stats(run)
            nbytes.append(s["bytes"])
            reqs.append(s["requests"])
            del run, st
            shutil.rmtree(os.environ["PROVTRACE_CACHE_DIR"], ignore_errors=True)
        q = lambda v, p: sorted(v)[min(len(v) - 1, int(p * len(v)))]
        res.update({"replay_median_ms": 1000 * statistics.median(times), "replay_p99_ms": 1000 * q(times, 0.99),
                    "replay_bytes_median": statistics.median(nbytes), "replay_bytes_max": max(nbytes),
                    "replay_requests_median": statistics.median(reqs), "replay_requests_max": max(reqs)})
        print(json.dumps(res, indent=1))
        print("push first: %.2fs, aws s3 sync %.2fs (%.2fx)%s" % (
            res["push_first_s"], res["sync_first_s"], res["sync_first_s"] / res["push_first_s"],
            ", restic %.2fs" % res["restic_first_s"] if restic else ""))
        print("push after 10%%: %.2fs, aws s3 sync %.2fs (%.2fx)%s" % (
            res["push_10pct_s"], res["sync_10pct_s"], res["sync_10pct_s"] / res["push_10pct_s"],
            ", restic %.2fs" % res["restic_10pct_s"] if restic else ""))
        print("replay from the bucket (cold cache): median %.1f ms, p99 %.1f ms, median %d bytes / %d requests"
              " (max %d bytes / %d requests)" % (res["replay_median_ms"], res["replay_p99_ms"],
                                                 res["replay_bytes_median"], res["replay_requests_median"],
                                                 res["replay_bytes_max"], res["replay_requests_max"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
