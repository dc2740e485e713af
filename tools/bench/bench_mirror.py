#!/usr/bin/python3
"""Mirror throughput to moto's Kinesis: `provtrace mirror --no-follow` of N
events against a boto3 loop putting the same JSON records in PutRecords
calls of 500 (the baseline a user would write), both to moto_server on
127.0.0.1 (started here, stopped by pid).  Prints events/s and the ratio.

    tools/bench/bench_mirror.py [--events N] [--quick] [--provtrace PATH]

moto is a Python emulator: both sides are bound by it, so the ratio (not the
absolute rate) is what this measures - the mirror's own cost per event.
"""
import argparse, json, os, subprocess, sys, tempfile, time, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "remote"))
import harness  # noqa: E402

BASELINE = r'''
import base64, json, sys, time
import boto3
ep, stream, path = sys.argv[1:4]
k = boto3.client("kinesis", endpoint_url=ep, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
lines = open(path, "rb").read().splitlines()
t = time.monotonic()
for i in range(0, len(lines), 500):
    recs = []
    for l in lines[i:i + 500]:
        ev = json.loads(l)
        recs.append({"Data": l, "PartitionKey": "%s/%s" % (ev["run"], ev["stream"])})
    r = k.put_records(StreamName=stream, Records=recs)
    assert r["FailedRecordCount"] == 0
print(time.monotonic() - t)
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--provtrace", default=os.path.join(HERE, "..", "..", "build", "provtrace"))
    a = ap.parse_args()
    n = 5000 if a.quick else a.events
    harness.moto_server_path()
    py = harness.aws_python()
    tmp = tempfile.mkdtemp(prefix="pt-bench-mirror-")
    env = dict(os.environ)
    env.update(harness.TEST_ENV)
    try:
        with harness.Moto() as m:
            store = os.path.join(tmp, "s")
            pt = [a.provtrace, "--store", store]
            subprocess.run(pt[:1] + ["init", store], check=True, capture_output=True)
            src = "".join(json.dumps({"kind": "metric", "name": "loss", "step": i, "value": 1.0 / (i + 1)}) + "\n"
                          for i in range(n))
            subprocess.run(pt + ["emit", "--run", "b", "-q"], input=src.encode(), check=True)
            jl = os.path.join(tmp, "events.jsonl")
            with open(jl, "wb") as f:
                f.write(subprocess.run(pt + ["log", "--run", "b", "--json"], check=True,
                                       capture_output=True).stdout)
            tool = os.path.join(HERE, "..", "..", "tests", "cli", "kinesis_tool.py")
            for s in ("mirror", "boto3"):
                subprocess.run([py, tool, m.endpoint, "create", s, "1"], check=True)
            t = time.monotonic()
            subprocess.run(pt + ["mirror", "m", "--to", "kinesis://mirror", "--endpoint", m.endpoint,
                                 "--no-follow", "--batch", "500"], check=True, env=env, capture_output=True)
            t_mirror = time.monotonic() - t
            t_boto = float(subprocess.run([py, "-c", BASELINE, m.endpoint, "boto3", jl], check=True,
                                          capture_output=True).stdout)
        print("| mirror to moto's Kinesis, %d events | seconds | events/s | vs boto3 |" % n)
        print("|:--|--:|--:|--:|")
        print("| baseline: boto3 put_records, 500 per call | %.2f | %.0f | 1.00x |" % (t_boto, n / t_boto))
        print("| provtrace mirror --batch 500 | %.2f | %.0f | %.2fx |" % (t_mirror, n / t_mirror, t_boto / t_mirror))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
