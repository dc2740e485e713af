#!/bin/bash
# The CLI job with a simulated clock: one catch-up, expiry, no double archive,
# the lock, dry run, plan next, and a run whose early history is only in the vault.
. "$(dirname "$0")/lib.sh"
"$P" init "$PROVTRACE_STORE" >/dev/null
emit_segment r1 1 300; emit_segment r1 2 300
"$P" log --json --run r1 >"$T/before"
export PROVTRACE_NOW=2026-11-05T12:00:00Z
"$P" archive plan add nightly --schedule "30 1 * * *" --timezone Europe/Berlin --vault "$T/vault" \
	--min-age 1d --start-window 6h >/dev/null
[ "$("$P" archive plan next nightly --count 2)" = "2026-11-06T00:30:00Z
2026-11-07T00:30:00Z" ] || fail "plan next"
"$P" archive plan add bad --schedule "0 2 * 13 *" --vault "$T/v2" 2>"$T/err" && fail "bad schedule accepted"
grep -q "column 7" "$T/err" || fail "no column in: $(cat "$T/err")"
# machine off for 3 windows; the job at 03:00 UTC on the 8th is inside the latest start window
export PROVTRACE_NOW=2026-11-08T03:00:00Z
"$P" archive run --due --dry-run >"$T/out"
grep -q "would archive 2 segments" "$T/out" || fail "dry run: $(cat "$T/out")"
[ -z "$(ls "$T/vault" 2>/dev/null)" ] || fail "dry run wrote to the vault"
"$P" archive run --due >"$T/out"
grep -q "2 windows from 2026-11-06T00:30:00Z to 2026-11-07T00:30:00Z expired" "$T/out" || fail "expiry: $(cat "$T/out")"
grep -q "archived 2 segments" "$T/out" || fail "catch-up: $(cat "$T/out")"
"$P" archive run --due >"$T/out"
grep -q "nothing due" "$T/out" || fail "second run: $(cat "$T/out")"
[ "$(ls "$T/vault" | wc -l)" = 1 ] || fail "double archive"
[ -z "$(ls "$PROVTRACE_STORE/runs/r1/main/segments")" ] || fail "sources still hot"
# early history only in the vault: log, filters and verify see it as before
"$P" log --json --run r1 >"$T/after"
cmp "$T/before" "$T/after" || fail "log differs after archiving"
[ "$("$P" log --run r1 --from step=20150 --to step=20150 | wc -l)" = 1 ] || fail "step filter over archived history"
"$P" verify >/dev/null || fail "verify after archiving"
"$P" archive verify >/dev/null || fail "archive verify"
# a window missed beyond its start window is recorded as expired, nothing archived
emit_segment r1 9 10
export PROVTRACE_NOW=2026-11-11T10:00:00Z
"$P" archive run --due >"$T/out"
grep -q "start window" "$T/out" || fail "expired window: $(cat "$T/out")"
[ "$(ls "$T/vault" | wc -l)" = 1 ] || fail "archived outside the start window"
[ "$("$P" log --run provtrace --stream archive --kind archive_expired | wc -l)" = 2 ] || fail "expiry events"
# the lock: a second job exits 0 and says why
exec 9>"$PROVTRACE_STORE/archive/lock"
flock -n 9
"$P" archive run --due >"$T/out"; rc=$?
[ $rc = 0 ] || fail "second job exit $rc"
grep -q "another archive job is running" "$T/out" || fail "lock message: $(cat "$T/out")"
exec 9>&-
"$P" archive plan ls | grep -q "last .*expired at" || fail "plan ls"
"$P" archive plan ls --json | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin); assert p[0]["name"]=="nightly" and p[0]["timezone"]=="Europe/Berlin", p'
"$P" archive ls --json | /usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); assert len(a)==1 and a[0]["segments"]==2, a'
echo "windows ok"
