#!/bin/bash
# A job killed at random points (SIGKILL) never leaves a half-visible archive
# and never loses a source; the next job finishes what it left.
. "$(dirname "$0")/lib.sh"
ROUNDS=${PT_KILL_ROUNDS:-25}
"$P" init "$PROVTRACE_STORE" >/dev/null
for d in $(seq 1 12); do
	/usr/bin/python3 -c "
import json, random
r = random.Random($d)
for k in range(6000):
    print(json.dumps({'kind': 'metric', 'name': 'm%d' % (k % 7), 'step': $d * 10000 + k,
                      'value': r.random(), 'note': '%x' % r.getrandbits(64),
                      'time': '2026-11-%02dT10:%02d:%02dZ' % ($d, k // 60 % 60, k % 60)}))" |
		"$P" emit --run r1 -q
done
"$P" log --json --run r1 | sha256sum >"$T/ref"
export PROVTRACE_NOW=2026-11-20T00:00:00Z
"$P" archive plan add p --schedule "0 2 * * *" --vault "$T/vault" >/dev/null
cp -a "$PROVTRACE_STORE" "$T/pristine"
start=$(date +%s%N)
"$P" archive run --now --plan p >/dev/null
dur=$(( ($(date +%s%N) - start) / 1000 ))  # microseconds
echo "one job takes ${dur} us"
check() {  # invariants that hold at every instant
	local tag=$1 a
	for a in "$T"/vault/*.tar; do
		[ -e "$a" ] || continue
		"$P" archive verify "$a" >/dev/null 2>&1 || fail "$tag: half-visible archive $a"
	done
	"$P" log --json --run r1 2>/dev/null | sha256sum | cmp -s - "$T/ref" || fail "$tag: a source was lost"
}
killed=0
for i in $(seq 1 "$ROUNDS"); do
	rm -rf "$PROVTRACE_STORE" "$T/vault"
	cp -a "$T/pristine" "$PROVTRACE_STORE"
	delay=$(( RANDOM * RANDOM % (dur + dur / 4 + 1) ))
	"$P" archive run --now --plan p >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%06d' "$delay")"
	kill -9 $pid 2>/dev/null && killed=$((killed + 1))
	wait $pid 2>/dev/null || true
	check "round $i (kill after ${delay} us)"
	# the next job recovers (adopts or redoes) and ends in the same state as an uninterrupted one
	"$P" archive run --now --plan p >"$T/out" 2>&1 || fail "round $i: recovery job failed: $(cat "$T/out")"
	check "round $i after recovery"
	[ "$(ls "$T/vault" | grep -c '\.tar$')" = 1 ] || fail "round $i: $(ls "$T/vault")"
	[ -z "$(ls -A "$T/vault" | grep -v '\.tar$')" ] || fail "round $i: temporary files left: $(ls -A "$T/vault")"
	[ -z "$(ls "$PROVTRACE_STORE/runs/r1/main/segments")" ] || fail "round $i: sources not released"
	"$P" verify >/dev/null || fail "round $i: verify"
	[ "$("$P" archive ls --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
		|| fail "round $i: catalog"
	n=$("$P" log --run provtrace --stream archive --kind archive | wc -l); [ "$n" = 1 ] || { "$P" log --run provtrace --stream archive; fail "round $i: $n archive events"; }
done
echo "kill ok ($killed of $ROUNDS jobs killed mid-way)"
