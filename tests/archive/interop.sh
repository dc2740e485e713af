#!/bin/bash
# GNU tar and bsdtar list and extract a provtrace archive; sha256sum of every
# extracted member matches the manifest; the layout is deterministic.
. "$(dirname "$0")/lib.sh"
"$P" init "$PROVTRACE_STORE" >/dev/null
for d in 1 2 3; do emit_segment r1 $d 200; emit_segment "r-$d" $d 50; done
export PROVTRACE_NOW=2026-11-20T00:00:00Z
"$P" archive plan add p --schedule "0 2 * * *" --vault "$T/vault" --tag owner=ops >/dev/null
cp -a "$PROVTRACE_STORE" "$T/store2"
"$P" archive run --now --plan p >/dev/null
A=$(ls "$T"/vault/*.tar)
# deterministic: the same history, plan and time give the same bytes
"$P" --store "$T/store2" archive plan rm p >/dev/null
"$P" --store "$T/store2" archive plan add p --schedule "0 2 * * *" --vault "$T/vault2" --tag owner=ops >/dev/null
"$P" --store "$T/store2" archive run --now --plan p >/dev/null
cmp "$A" "$T"/vault2/*.tar || fail "two archives of the same history differ"
[ "$(ls "$T"/vault | wc -l)" = 1 ] || fail "expected one archive"
# named by its own SHA-256
[ "$(sha256sum "$A" | cut -c1-64).tar" = "$(basename "$A")" ] || fail "archive not named by its SHA-256"
for tool in tar bsdtar; do
	command -v $tool >/dev/null || fail "$tool is not installed"
	$tool tf "$A" >"$T/list.$tool"
	[ "$(head -1 "$T/list.$tool")" = MANIFEST.json ] || fail "$tool: MANIFEST.json is not first"
	sort -c <(tail -n +2 "$T/list.$tool") || fail "$tool: members not sorted"
	mkdir "$T/x.$tool"
	$tool xf "$A" -C "$T/x.$tool"
	/usr/bin/python3 - "$T/x.$tool" <<'PY' || fail "$tool: extracted members do not match the manifest"
import json, sys, hashlib, os
d = sys.argv[1]
m = json.load(open(os.path.join(d, "MANIFEST.json")))
assert m["format"] == "provtrace-archive" and m["version"] == 1 and m["tags"] == {"owner": "ops"}
names = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
assert names == sorted(["MANIFEST.json"] + [x["name"] for x in m["members"]]), names
for x in m["members"]:
    b = open(os.path.join(d, x["name"]), "rb").read()
    assert len(b) == x["size"], x["name"]
    assert hashlib.sha256(b).hexdigest() == x["sha256"], x["name"]
print(len(m["members"]), "members ok")
PY
	# sha256sum, as an operator would check
	(cd "$T/x.$tool" && /usr/bin/python3 -c '
import json
for x in json.load(open("MANIFEST.json"))["members"]: print(x["sha256"] + "  " + x["name"])' | sha256sum -c --quiet) \
		|| fail "$tool: sha256sum -c failed"
done
# fixed owner and times, regular files only
tar tvf "$A" | awk '$1 != "-rw-r--r--" || $2 != "provtrace/provtrace" { exit 1 }' || fail "owner/mode not fixed"
[ "$(tar tvf "$A" | awk '{print $4, $5}' | sort -u | wc -l)" = 1 ] || fail "member times differ"
# the index: every member is at its manifest offset (one seek)
/usr/bin/python3 - "$A" <<'PY' || fail "index offsets wrong"
import json, sys, tarfile, hashlib
t = tarfile.open(sys.argv[1])
raw = open(sys.argv[1], "rb").read()
m = json.loads(t.extractfile("MANIFEST.json").read())
for x in m["members"]:
    assert t.getmember(x["name"]).offset_data == x["offset"], x["name"]
    assert hashlib.sha256(raw[x["offset"]:x["offset"] + x["size"]]).hexdigest() == x["sha256"]
PY
# restore of the GNU-tar-listed archive gives back the same log
"$P" log --json --run r1 >"$T/log.before"
"$P" restore "$A" --store "$T/copy" >/dev/null
"$P" --store "$T/copy" log --json --run r1 >"$T/log.after"
cmp "$T/log.before" "$T/log.after" || fail "restored log differs"
echo "interop ok"
