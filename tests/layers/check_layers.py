#!/usr/bin/python3
"""The one-way rule of lib/src (lib/src/README.md), checked two ways.

1. Includes: a file in lib/src/<folder>/ includes private headers only from
   its own folder or from a folder of a lower layer, always by their path
   from lib/src ("base/mpk_int.h"); public headers ("provtrace.h",
   "provtrace/*.h") anywhere.  Every private header is named *_int.h.
2. Third-party headers: each is included only by its owner (DEP_OWNERS).
3. Calls: every pt_ / pt__ symbol an object file of the static library uses
   is defined in its own folder or in a lower layer (nm), so a call through
   the public header cannot hide an upward dependency; and no two files call
   each other, directly or round a longer cycle.

Known debts are listed below with the issue that removes them: the check
fails on a new violation, and also when a listed debt is gone (delete it
from the list, and from lib/src/README.md).

usage: check_layers.py LIB_SRC_DIR [STATIC_LIBRARY]
       check_layers.py --self-test   (the check finds what it must, in a made-up tree)
"""
import os
import re
import subprocess
import sys

# folder -> rank: a folder may use folders of a lower rank, never of a higher
# or the same rank (siblings stay independent).
LAYERS = {"base": 0, "format": 1, "log": 2, "checkpoint": 3, "code": 3, "live": 3, "archive": 4, "runs": 4,
          "report": 5, "ui": 6}

# Third-party headers (prefix of the <...> include) -> the files allowed to
# include them: each dependency has one owner that translates its errors into
# PT_E* codes (lib/src/README.md).  jansson parses three JSON formats, each in
# the file that owns that format.
DEP_OWNERS = {
    "zstd": {"base/zstdx.c"},
    "openssl/": {"base/hash.c"},
    "xxhash.h": {"base/fasthash.c"},
    "git2": {"code/git.c"},
    "archive.h": {"archive/archive_tar.c"},
    "archive_entry.h": {"archive/archive_tar.c"},
    "jansson.h": {"format/json.c", "archive/archive_meta.c", "log/vault.c"},
    "microhttpd.h": {"ui/ui_http.c"},
    "jansson.h": {"format/json.c", "archive/archive_meta.c", "log/vault.c", "live/kinesis.c"},
}

# (from file, to file): upward or cyclic dependencies that still exist.
DEBTS = set()  # all paid (issue 12); a new one needs a line here and in lib/src/README.md


def sources(src):
    out = {}
    for folder in os.listdir(src):
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name.endswith((".c", ".h")):
                out[folder + "/" + name] = os.path.join(d, name)
    return out


def may_use(a, b):
    """May a file of folder a depend on folder b?"""
    return a == b or LAYERS[b] < LAYERS[a]


def check_includes(src, files, problems):
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    sysinc = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
    for rel, path in sorted(files.items()):
        folder = rel.split("/")[0]
        if folder not in LAYERS:
            problems.append("%s: folder %s is not a layer (add it to LAYERS and lib/src/README.md)" % (rel, folder))
            continue
        if rel.endswith(".h") and not rel.endswith("_int.h"):
            problems.append("%s: a private header is named *_int.h" % rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in sysinc.finditer(text):
            for dep, owners in DEP_OWNERS.items():
                if m.group(1).startswith(dep) and rel not in owners:
                    problems.append("%s: includes <%s>, which only %s may include (the dependency's owner)" % (
                        rel, m.group(1), " and ".join(sorted(owners))))
        for m in inc.finditer(text):
            h = m.group(1)
            if h == "provtrace.h" or h.startswith("provtrace/"):
                continue
            hf = h.split("/")[0]
            if "/" not in h or h not in files:
                problems.append("%s: includes \"%s\": a private header is included by its path from lib/src" % (rel, h))
            elif not may_use(folder, hf) and (rel, h) not in DEBTS:
                problems.append("%s: includes %s from a layer above it (or a sibling)" % (rel, h))


def symbols(lib):
    """object basename -> (defined pt symbols, used pt symbols)."""
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    defs, uses = {}, {}
    for line in out.splitlines():
        m = re.match(r"^[^:]*:([^:]+):\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if not m:
            continue
        obj, kind, sym = m.groups()
        if not sym.startswith("pt_"):
            continue
        if kind == "U":
            uses.setdefault(obj, set()).add(sym)
        elif kind.isupper():
            defs.setdefault(obj, set()).add(sym)
    return defs, uses


def check_calls(files, lib, problems):
    by_base = {}
    for rel in files:
        if rel.endswith(".c"):
            by_base[os.path.basename(rel) + ".o"] = rel
    defs, uses = symbols(lib)
    acyclic = {}  # the graph without the known debts: it must have no cycle
    where = {}
    for obj, syms in defs.items():
        for s in syms:
            where[s] = by_base.get(obj, obj)
    graph = {}
    for obj, syms in uses.items():
        user = by_base.get(obj)
        if not user:
            continue
        for s in sorted(syms):
            d = where.get(s)
            if not d or d == user or d not in files:
                continue
            graph.setdefault(user, set()).add(d)
            if (user, d) not in DEBTS:
                acyclic.setdefault(user, set()).add(d)
            uf, df = user.split("/")[0], d.split("/")[0]
            if not may_use(uf, df) and (user, d) not in DEBTS:
                problems.append("%s calls %s (%s), a layer above it (or a sibling)" % (user, s, d))
    # cycles between files (Tarjan's strongly connected components)
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(acyclic.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(acyclic):
        if v not in index:
            visit(v)
    for comp in sccs:
        problems.append("files call each other (a cycle): %s" % " <-> ".join(comp))
    return graph


def self_test():
    """A made-up tree with one of each mistake: every one must be reported."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        def put(rel, text):
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        put("base/base_int.h", "")
        put("base/a.c", '#include "base/base_int.h"\n#include "log/log_int.h"\n')
        put("log/log_int.h", '#include "base/base_int.h"\n')
        put("log/b.c", '#include "log/log_int.h"\n#include "provtrace.h"\n')
        put("log/bad.h", "")
        put("log/c.c", '#include "log_int.h"\n')
        put("loose.c", "")
        put("gui/d.c", "")
        put("log/e.c", "#include <zstd.h>\n")
        problems = []
        check_includes(d, sources(d), problems)
        want = ["base/a.c: includes log/log_int.h from a layer above",
                "log/bad.h: a private header is named *_int.h",
                'log/c.c: includes "log_int.h": a private header is included by its path',
                "gui/d.c: folder gui is not a layer",
                "log/e.c: includes <zstd.h>, which only base/zstdx.c may include"]
        missing = [w for w in want if not any(p.startswith(w) for p in problems)]
        extra = [p for p in problems if not any(p.startswith(w) for w in want)]
        for m in missing:
            print("self-test: not reported: " + m)
        for e in extra:
            print("self-test: reported wrongly: " + e)
        print("self-test: %d of %d mistakes reported, %d false" % (len(want) - len(missing), len(want), len(extra)))
        return 1 if missing or extra else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    files = sources(src)
    problems = []
    loose = [n for n in os.listdir(src) if n.endswith((".c", ".h"))]
    for n in loose:
        problems.append("lib/src/%s: every source file lives in a layer folder" % n)
    check_includes(src, files, problems)
    if len(sys.argv) == 3:
        graph = check_calls(files, sys.argv[2], problems)
        for a, b in sorted(DEBTS):
            inc_debt = b.endswith(".h")
            if not inc_debt and b not in graph.get(a, ()):
                problems.append("debt %s -> %s is paid: remove it from DEBTS and lib/src/README.md" % (a, b))
    for p in problems:
        print("layers: " + p)
    print("layers: %d files checked, %d problem%s, %d known debt%s" % (
        len(files), len(problems), "" if len(problems) == 1 else "s", len(DEBTS), "" if len(DEBTS) == 1 else "s"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
