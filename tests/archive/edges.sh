#!/bin/bash
# Issue 11 (items 3, 4, 11) through the CLI and Python: crashed streams are sealed and
# archived; checkpoint objects referenced only by archived history leave the hot store
# with it and stay readable from the vault; a vault inside the store is refused before
# anything is created.  $2 is libprovtrace.so (for the Python binding).
. "$(dirname "$0")/lib.sh"
LIB=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
py() {
	if [ -n "${PT_PY_PRELOAD:-}" ]; then # a sanitizer build (tests/archive.cmake)
		LD_PRELOAD=$PT_PY_PRELOAD ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
			PROVTRACE_LIB=$LIB PYTHONPATH=$SRC/bindings/python /usr/bin/python3 "$@"
	else
		PROVTRACE_LIB=$LIB PYTHONPATH=$SRC/bindings/python /usr/bin/python3 "$@"
	fi
}
py -c "import numpy" 2>/dev/null || { echo "SKIP: python3-numpy missing"; exit 0; }
S=$PROVTRACE_STORE
"$P" init "$S" >/dev/null

# ---- item 11: a vault inside the store is refused and leaves no phantom run --------
if "$P" archive plan add bad --schedule "* * * * *" --vault "$S/runs/phantom" 2>"$T/err"; then
	fail "a vault inside the store was accepted"
fi
grep -q "inside the store" "$T/err" || fail "unclear error: $(cat "$T/err")"
[ ! -e "$S/runs/phantom" ] || fail "the refused vault was created (phantom run)"
"$P" runs | grep -q phantom && fail "phantom run listed"

# ---- a run with checkpoints (the user's case), and a crashed writer ----------------
py - "$S" <<'PY'
import os, sys, numpy as np, provtrace
store = sys.argv[1]
rng = np.random.default_rng(7)
frozen = rng.standard_normal(400_000).astype(np.float32)   # 1.6 MB, unchanged all run
with provtrace.Recorder(store=store, run="w") as rec:
    for step in range(1, 401):
        rec.metric("loss", 1.0 / step, step=step)
        if step % 100 == 0:
            head = rng.standard_normal(200_000).astype(np.float32)
            rec.checkpoint(step, {"frozen": frozen, "head": head}, wait=True)
            np.save(f"{store}/../head-{step}.npy", head)
np.save(f"{store}/../frozen.npy", frozen)
# a writer that dies: events flushed, never closed
rec = provtrace.Recorder(store=store, run="crashed")
for i in range(30):
    rec.metric("loss", float(i), step=i)
rec.flush()
os._exit(0)
PY
[ -e "$S/runs/crashed/main/open.ptseg" ] || fail "no crashed stream to test"

# ---- item 3: seal --------------------------------------------------------------------
"$P" seal --run crashed --json >"$T/seal.json" || fail "seal failed"
grep -q '"result":"sealed"' "$T/seal.json" || fail "crashed stream not sealed: $(cat "$T/seal.json")"
[ ! -e "$S/runs/crashed/main/open.ptseg" ] || fail "open segment still there after seal"
"$P" log --run crashed --json | grep -c '"kind":"metric"' | grep -qx 30 || fail "events lost by seal"
"$P" seal --run nope >/dev/null 2>&1 && fail "seal of an unknown run succeeded"
# the same from Python: a crashed writer is sealed, a live one is skipped ("locked")
py - "$S" <<'PY' || fail "provtrace.seal"
import os, subprocess, sys, provtrace
store = sys.argv[1]
code = ("import os, provtrace\n"
        "r = provtrace.Recorder(store=%r, run='crashed2')\n"
        "r.metric('loss', 1.0, step=1); r.flush(); os._exit(0)\n" % store)
subprocess.run([sys.executable, "-c", code], check=True)
with provtrace.Recorder(store=store, run="alive") as live:
    live.metric("loss", 1.0, step=1)
    live.flush()
    rep = {(e["run"], e["result"]) for e in provtrace.seal(store=store)}
    assert ("crashed2", "sealed") in rep and ("alive", "locked") in rep, rep
try:
    provtrace.seal(run="nope", store=store)
    raise SystemExit("unknown run accepted")
except provtrace.NotFoundError:
    pass
PY

# ---- item 4: archiving frees the space of checkpoints only archived history needs ----
before=$(du -sb "$S" | cut -f1)
obj_before=$(du -sb "$S/objects" | cut -f1)
"$P" stats --json >"$T/stats1.json"
"$P" archive plan add p --schedule "* * * * *" --vault "$T/vault" --min-age 0s >/dev/null
"$P" archive run --now --plan p >"$T/job" || fail "archive run: $(cat "$T/job")"
grep -q "left the hot store (referenced only by archived history)" "$T/job" || fail "no object released: $(cat "$T/job")"
after=$(du -sb "$S" | cut -f1)
obj_after=$(du -sb "$S/objects" | cut -f1)
vault=$(du -sb "$T/vault" | cut -f1)
echo "hot store: $before -> $after bytes (objects $obj_before -> $obj_after); vault $vault bytes"
[ "$obj_after" -lt $((obj_before / 10)) ] || fail "checkpoint objects stayed in the hot store"
"$P" stats --json >"$T/stats2.json"
py - "$T/stats1.json" "$T/stats2.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["checkpoints"] for p in sys.argv[1:3])
assert a["count"] == b["count"] == 4, (a, b)           # the checkpoints are still there
assert b["object_bytes"] < a["object_bytes"] / 10, (a, b)  # their bytes left the hot store
PY
# readers find the objects in the vault
"$P" verify >/dev/null || fail "verify after archiving"
"$P" checkpoint export --run w --step 250 "$T/exp" >/dev/null || fail "checkpoint export"
"$P" gc --dry-run --json >"$T/gc.json" || fail "gc --dry-run"
py - "$T/gc.json" "$T/exp" "$S" <<'PY'
import json, sys, numpy as np
g = json.load(open(sys.argv[1]))
assert g["garbage_objects"] == 0 and g["missing"] == 0 and g["archived"] >= 5, g
exp, store = sys.argv[2], sys.argv[3]
assert (np.load(f"{exp}/head.npy") == np.load(f"{store}/../head-200.npy")).all()
assert (np.load(f"{exp}/frozen.npy") == np.load(f"{store}/../frozen.npy")).all()
PY
"$P" gc >/dev/null || fail "gc"
"$P" checkpoint export --run w --step 400 "$T/exp2" >/dev/null || fail "checkpoint export after gc"
# replay --export and Python state_at read them too (replay over archived segments)
"$P" replay --run w --at step=300 --export "$T/rexp" >/dev/null || fail "replay --export"
py - "$S" "$T/rexp" <<'PY'
import sys, numpy as np, provtrace
store, rexp = sys.argv[1], sys.argv[2]
st = provtrace.open_run("w", store=store).state_at(step=300)
arrays = st.checkpoint.load()
assert (arrays["head"] == np.load(f"{store}/../head-300.npy")).all()
assert (np.load(f"{rexp}/frozen.npy") == np.load(f"{store}/../frozen.npy")).all()
PY
# restore brings them back (into a new store)
"$P" restore "$(ls "$T"/vault/*.tar | head -1)" --store "$T/restored" >/dev/null || fail "restore"
"$P" --store "$T/restored" verify >/dev/null || fail "verify of the restored store"
"$P" --store "$T/restored" checkpoint export --run w --step 400 "$T/exp3" >/dev/null || fail "export from restored"
cmp -s "$T/exp2/head.npy" "$T/exp3/head.npy" || fail "restored checkpoint differs"
# the crashed stream was archived too
"$P" log --run crashed --json | grep -c '"kind":"metric"' | grep -qx 30 || fail "crashed run after archiving"
# an archive written before issue 11 (tests/fixtures/archive/, by b8b7fcf: run "old", a
# checkpoint at step 20 of w = arange(3000) * 0.5 and a blob) still restores and reads
OLD=$SRC/tests/fixtures/archive/4afc0caf29731a9a66c4c4984c25a8be9847af5158ade1350ebad6f86b431b37.tar
[ "$(sha256sum "$OLD" | cut -c1-64)" = 4afc0caf29731a9a66c4c4984c25a8be9847af5158ade1350ebad6f86b431b37 ] ||
	fail "the old archive fixture changed"
"$P" restore "$OLD" --store "$T/from-old" >/dev/null || fail "an old archive does not restore"
"$P" --store "$T/from-old" verify >/dev/null || fail "verify of a store restored from an old archive"
"$P" --store "$T/from-old" checkpoint export --run old --step 20 "$T/exp-old" >/dev/null ||
	fail "checkpoint of an old archive"
py - "$T/exp-old" <<'PY'
import sys, numpy as np
d = sys.argv[1]
assert (np.load(f"{d}/w.npy") == np.arange(3000, dtype=np.float32) * 0.5).all()
assert open(f"{d}/note", "rb").read() == b"old archive fixture"
PY
echo "edges ok"
