#!/bin/bash
# Hostile archives are rejected with a clear error; nothing is written outside
# the store, and nothing at all from a rejected archive.
. "$(dirname "$0")/lib.sh"
"$P" init "$PROVTRACE_STORE" >/dev/null
emit_segment r1 1 100; emit_segment r1 2 100
export PROVTRACE_NOW=2026-11-20T00:00:00Z
"$P" archive plan add p --schedule "0 2 * * *" --vault "$T/vault" >/dev/null
"$P" archive run --now --plan p >/dev/null
GOOD=$(ls "$T"/vault/*.tar)
mkdir "$T/outside" "$T/bad"
/usr/bin/python3 - "$GOOD" "$T/bad" "$T/outside" <<'PY'
import copy, io, json, sys, tarfile, hashlib
good, out, outside = sys.argv[1:4]
src = tarfile.open(good)
members = [(m, src.extractfile(m).read()) for m in src.getmembers()]
man = json.loads(members[0][1])

def info(name, data=b"", kind=tarfile.REGTYPE, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti

def write(case, entries):
    with tarfile.open(f"{out}/{case}.tar", "w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)

def with_manifest(m, rest):
    d = json.dumps(m).encode()
    return [(info("MANIFEST.json", d), d)] + rest

body = [(copy.copy(m), d) for m, d in members[1:]]
seg_name, seg_data = body[0][0].name, body[0][1]
write("absolute", [members[0]] + [(info(outside + "/evil", b"x"), b"x")] + body)
write("dotdot", [members[0], (info("../../outside/evil", b"x"), b"x")] + body)
write("dotdot_inside", [members[0], (info("runs/../../evil", b"x"), b"x")] + body)
write("symlink", [members[0], (info(seg_name, kind=tarfile.SYMTYPE, linkname=outside + "/evil"), b"")] + body[1:])
write("hardlink", [members[0], (info(seg_name, kind=tarfile.LNKTYPE, linkname="MANIFEST.json"), b"")] + body[1:])
write("device", [members[0], (info(seg_name, kind=tarfile.CHRTYPE, devmajor=1, devminor=3), b"")] + body[1:])
write("fifo", [members[0], (info(seg_name, kind=tarfile.FIFOTYPE), b"")] + body[1:])
write("directory", [members[0], (info("runs", kind=tarfile.DIRTYPE), b"")] + body)
big = seg_data + b"\0" * 4096
write("larger_than_declared", [members[0], (info(seg_name, big), big)] + body[1:])
write("duplicate", [members[0]] + body[:1] + body)
write("duplicate_manifest", [members[0], members[0]] + body)
write("manifest_not_first", body[:1] + [members[0]] + body[1:])
write("no_manifest", body)
lie = copy.deepcopy(man); lie["members"][0]["sha256"] = "0" * 64
write("manifest_wrong_hash", with_manifest(lie, body))
lie = copy.deepcopy(man); lie["members"][0]["size"] += 1
write("manifest_wrong_size", with_manifest(lie, body))
lie = copy.deepcopy(man); x = lie["members"][-1]
lie["members"].append(dict(x, id="f" * 64, sha256="f" * 64, name=x["name"].rsplit("/", 1)[0] + "/" + "f" * 64 + ".ptseg"))
write("manifest_extra_member", with_manifest(lie, body))
lie = copy.deepcopy(man); del lie["members"][-1]
write("member_not_in_manifest", with_manifest(lie, body))
lie = copy.deepcopy(man); lie["members"][0]["name"] = "../../outside/evil"
write("manifest_traversal", with_manifest(lie, body))
lie = copy.deepcopy(man); lie["members"][0]["run"] = "../x"
write("manifest_bad_run", with_manifest(lie, body))
# a consistent lie: the manifest hash matches tampered bytes, but a segment is named by its hash
bad = bytearray(seg_data); bad[100] ^= 1; bad = bytes(bad)
lie = copy.deepcopy(man); lie["members"][0]["sha256"] = hashlib.sha256(bad).hexdigest()
write("consistent_lie", with_manifest(lie, [(info(seg_name, bad), bad)] + body[1:]))
# issue 11 item 7: an object member whose bytes match the manifest but do not decode to its
# id (the id of 4 MiB of zeros, planted with junk): a later checkpoint would dedup against it
zid = hashlib.sha256(b"\0" * (4 << 20)).hexdigest()
junk = b"junk" * 100
lie = copy.deepcopy(man)
lie["members"].insert(0, {"name": f"objects/{zid[:2]}/{zid[2:]}", "type": "object", "size": len(junk),
                          "sha256": hashlib.sha256(junk).hexdigest(), "offset": 0, "id": zid})
write("object_not_its_id", with_manifest(lie, [(info(lie["members"][0]["name"], junk), junk)] + body))
d = json.dumps(man).encode()[:-20]
write("manifest_not_json", [(info("MANIFEST.json", d), d)] + body)
raw = open(good, "rb").read()
open(f"{out}/truncated.tar", "wb").write(raw[: len(raw) // 2 + 7])
open(f"{out}/garbage.tar", "wb").write(b"\x89PNG" + raw[4:2000])
PY
n=0
for bad in "$T"/bad/*.tar; do
	case=$(basename "$bad" .tar)
	rm -rf "$T/target"
	if "$P" restore "$bad" --store "$T/target" >"$T/out" 2>"$T/err"; then
		fail "$case: accepted"
	fi
	[ -s "$T/err" ] || fail "$case: no error message"
	grep -q "provtrace: " "$T/err" || fail "$case: unclear error: $(cat "$T/err")"
	[ -z "$(ls -A "$T/outside")" ] || fail "$case: wrote outside the store"
	[ ! -e "$T/evil" ] && [ ! -e "$T/bad/evil" ] || fail "$case: wrote outside"
	left=$(cd "$T/target" 2>/dev/null && find . -type f ! -name config ! -name lock | wc -l)
	[ "${left:-0}" = 0 ] || fail "$case: left files in the store: $(cd "$T/target" && find . -type f)"
	echo "$case: $(sed 's/^provtrace: //' "$T/err" | head -1)"
	n=$((n + 1))
done
[ $n -ge 20 ] || fail "only $n cases"
# the good one still restores, twice
"$P" restore "$GOOD" --store "$T/target" >/dev/null || fail "good archive rejected"
"$P" restore "$GOOD" --store "$T/target" | grep -q "already present" || fail "second restore"
"$P" --store "$T/target" verify >/dev/null || fail "verify after restore"
echo "hostile ok ($n cases)"
