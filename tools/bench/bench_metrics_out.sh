set -e
B=/work/wt/runs/build
rm -rf /tmp/bm && $B/provtrace init /tmp/bm >/dev/null
/usr/bin/python3 -c "
import json,sys
out=sys.stdout
for i in range(1000000):
    out.write('{\"kind\":\"metric\",\"name\":\"loss\",\"step\":%d,\"value\":%r}\n' % (i, 1.0/(i+1)))
" | $B/provtrace emit --store /tmp/bm --run big -q
export PROVTRACE_LIB=$B/lib/libprovtrace.so PYTHONPATH=/work/wt/runs/bindings/python
/usr/bin/python3 - <<'PY'
import time, subprocess, provtrace, numpy as np
run = provtrace.open_run("big", store="/tmp/bm")
def t(f, n=3):
    best = 1e9
    for _ in range(n):
        t0 = time.perf_counter(); r = f(); best = min(best, time.perf_counter() - t0)
    return best, r
cli, _ = t(lambda: subprocess.run(["/work/wt/runs/build/provtrace", "metrics", "--store", "/tmp/bm", "--run", "big", "--points", "2000"], check=True, stdout=subprocess.DEVNULL))
api, r = t(lambda: run.metrics(points=2000))
full, r2 = t(lambda: run.metrics())
def loop():
    steps, vals = [], []
    for e in run.events(kind="metric"):
        if e["name"] == "loss" and "step" in e:
            steps.append(e["step"]); vals.append(e["value"])
    return np.array(steps), np.array(vals)
base, _ = t(loop, 1)
print("1,000,000 metric events, one series:")
print("  provtrace metrics --points 2000 (CLI, process incl.): %.3f s" % cli)
print("  Run.metrics(points=2000): %.3f s; Run.metrics() (all 1M points): %.3f s" % (api, full))
print("  baseline, Python loop over events(kind='metric'): %.3f s  -> %.1fx / %.1fx" % (base, base/api, base/full))
PY
