"""House rules the layout depends on (DESIGN.md section 2, STYLE.md), checked on the source:
includes point down only (cli -> drivers -> {solvers, surrogates} -> numerics -> io -> core), only
drivers/ and cli/ see both solvers and surrogates, no file outside a model's folder casts to it,
no strcmp on a model or surrogate name outside the two registries, MPI_COMM_WORLD only in main,
no exit/abort in library code, library .c files under the size limit, every public prototype
documented, frees accept NULL."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from kvtest import ROOT, check, finish  # noqa: E402

ROOMS = ["core", "io", "numerics", "solvers", "surrogates", "drivers", "cli"]
# Which rooms each room may include.
ALLOWED = {
    "core": {"core"},
    "io": {"core", "io"},
    "numerics": {"core", "io", "numerics"},
    "solvers": {"core", "io", "numerics", "solvers"},
    "surrogates": {"core", "io", "numerics", "surrogates"},
    "drivers": {"core", "io", "numerics", "solvers", "surrogates", "drivers"},
    "cli": set(ROOMS),
}
LIMIT = 850  # "~800 lines": a file over this is doing more than one job

files = []
for room in ROOMS:
    for dirpath, _, names in os.walk(os.path.join(ROOT, room)):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(dirpath, n), ROOT))
text = {f: open(os.path.join(ROOT, f)).read() for f in files}
check(len(files) > 50, f"found the sources ({len(files)} files)")

bad = []
for f, t in text.items():
    room = f.split("/")[0]
    for inc in re.findall(r'#include "([a-z]+)/', t):
        if inc not in ALLOWED[room]:
            bad.append(f"{f} includes {inc}/")
check(not bad, "includes point down only (solvers/ never sees surrogates/ or drivers/, "
      "surrogates/ never sees solvers/ or drivers/): " + ("; ".join(bad) or "none against"))

names = "heat|ebm|rom|gp|pcagp|pattern|pod"
registries = {"solvers/model.c", "surrogates/registry.c"}
bad = [f for f, t in text.items() if f not in registries and
       re.search(r'strcmp\s*\([^;]*"(%s)"' % names, t)]
check(not bad, "no strcmp on a model or surrogate name outside the registries: " +
      (", ".join(bad) or "none"))

bad = []
for f, t in text.items():
    for model in ("heat", "ebm"):
        if not f.startswith(f"solvers/{model}/") and re.search(r"\(\s*(const\s+)?kv_%s\s*\*\)" % model, t):
            bad.append(f)
        if not f.startswith(f"solvers/{model}/") and f not in registries and \
                f'#include "solvers/{model}/' in t:
            bad.append(f + f" (includes solvers/{model}/)")
check(not bad, "no file outside a model's folder (and the registry) includes or casts to it: " +
      (", ".join(bad) or "none"))

bad = [f for f, t in text.items() if "MPI_COMM_WORLD" in re.sub(r"/\*.*?\*/", "", t, flags=re.S)
       and f != "cli/kelvin.c"]
check(not bad, "MPI_COMM_WORLD only in main (cli/kelvin.c): " + (", ".join(bad) or "ok"))

bad = [f for f, t in text.items() if not f.startswith("cli/") and
       re.search(r"\b(exit|abort|MPI_Abort)\s*\(", re.sub(r"/\*.*?\*/", "", t, flags=re.S))]
check(not bad, "library code never calls exit, abort or MPI_Abort: " + (", ".join(bad) or "ok"))

long_files = [(f, t.count("\n")) for f, t in text.items() if f.endswith(".c") and
              not f.startswith("cli/") and t.count("\n") > LIMIT]
check(not long_files, f"library .c files stay under {LIMIT} lines: " +
      (", ".join(f"{f} {n}" for f, n in long_files) or "all"))

# Every public prototype has a comment: walking back over the prototypes of its group (no blank
# line between them), the line before the group ends a comment.
undocumented = []
proto = re.compile(r"^[A-Za-z_][\w \*]*\b(kv_\w+)\s*\(")
for f, t in text.items():
    if not f.endswith(".h"):
        continue
    lines = t.split("\n")
    i = 0
    while i < len(lines):
        m = proto.match(lines[i])
        if not m or lines[i].startswith(("typedef", "#", "static inline")):
            i += 1
            continue
        j = i - 1
        while j >= 0 and lines[j].strip() and not lines[j].rstrip().endswith("*/") and \
                not lines[j].startswith("/*"):
            j -= 1
        if j < 0 or not lines[j].strip():
            undocumented.append(f"{f}: {m.group(1)}")
        i += 1
check(not undocumented, "every public prototype has a doc comment: " +
      (", ".join(undocumented[:20]) or "all") + (" ..." if len(undocumented) > 20 else ""))

# Frees accept NULL: each kv_*_free definition returns early on NULL or only calls NULL-safe
# frees. Checked by a C program calling every one with NULL would need each header; instead the
# definitions are read: the first statement must test the pointer, or the body must only free().
frees = []
for f, t in text.items():
    if not f.endswith(".c"):
        continue
    for m in re.finditer(r"^void (kv_\w+_free)\((\w[\w\s\*]*?)\b(\w+)\) \{\n(.*?)^\}", t, re.M | re.S):
        name, arg, body = m.group(1), m.group(3), m.group(4)
        first = body.strip().split("\n")[0]
        safe = re.search(r"if \(!%s\)|if \(%s\)|if \(%s == NULL\)" % (arg, arg, arg), first) or \
            all(re.match(r"\s*(free\(%s\);|\}|)$" % arg, ln) for ln in body.split("\n"))
        if not safe:
            frees.append(f"{f}: {name}")
check(not frees, "every kv_*_free accepts NULL (tests the pointer first): " +
      (", ".join(frees) or "all"))

finish()
