"""House rules the layout depends on (DESIGN.md section 2, STYLE.md), checked on the source:
includes point down only (cli -> drivers -> {solvers, surrogates} -> numerics -> io -> core), only
drivers/ and cli/ see both solvers and surrogates, no file outside a model's folder casts to it,
no strcmp on a model or surrogate name outside the two registries, MPI_COMM_WORLD only in main,
no exit/abort in library code, library .c files under the size limit, every public prototype
documented, frees accept NULL."""
import os
import re
import shutil
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

names = "heat|ebm|rom|external|gp|pcagp|pattern|pod|poly|rbf|spline|moe|auto"
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

# The communicator as an identifier (not inside a longer name such as the launcher's environment
# variable OMPI_COMM_WORLD_SIZE), outside comments.
bad = [f for f, t in text.items()
       if re.search(r"\bMPI_COMM_WORLD\b", re.sub(r"/\*.*?\*/", "", t, flags=re.S))
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

# Braces always (STYLE.md): every if/for/while/else/do body is a block; loop macros and the end
# of a do-while excepted.
def strip_comments(text):
    # remove /* */ comments and string literals (keep line structure)
    out=[];i=0;n=len(text)
    while i<n:
        if text.startswith('/*',i):
            j=text.find('*/',i+2); j=n if j<0 else j+2
            out.append(re.sub(r'[^\n]',' ',text[i:j])); i=j
        elif text.startswith('//',i):
            j=text.find('\n',i); j=n if j<0 else j
            out.append(' '*(j-i)); i=j
        elif text[i]=='"':
            j=i+1
            while j<n and text[j]!='"':
                j+= 2 if text[j]=='\\' else 1
            out.append('"'+' '*(j-i-1)+'"'); i=j+1
        elif text[i]=="'":
            j=i+1
            while j<n and text[j]!="'":
                j+= 2 if text[j]=='\\' else 1
            out.append("'"+' '*(j-i-1)+"'"); i=j+1
        else:
            out.append(text[i]); i+=1
    return ''.join(out)
def unbraced(paths):
  bad=[]
  for f in paths:
      t=strip_comments(open(f).read()).replace('\\\n',' \n')
      lines=t.split('\n')
      flat=t
      raw=open(f).read()
      rl=raw.split('\n')
      def in_macro(pos):
          ln=flat.count('\n',0,pos)
          k=ln
          while k>0 and rl[k-1].rstrip().endswith('\\'):
              k-=1
          return rl[k].lstrip().startswith('#define')
      def macro_end(pos):
          ln=flat.count('\n',0,pos)
          return not rl[ln-1].rstrip().endswith('\\') if ln>0 else False
      for m in re.finditer(r'\b(if|for|while|else|do)\b',flat):
          kw=m.group(1); k=m.end()
          if kw in ('if','for','while'):
              # skip 'while' that ends a do-while: preceded by '}' on same line
              pre=flat[max(0,m.start()-40):m.start()]
              j=k
              while j<len(flat) and flat[j] in ' \t\n': j+=1
              if j>=len(flat) or flat[j]!='(':
                  continue
              depth=0
              while j<len(flat):
                  if flat[j]=='(': depth+=1
                  elif flat[j]==')':
                      depth-=1
                      if depth==0: break
                  j+=1
              j+=1
              while j<len(flat) and flat[j] in ' \t\n': j+=1
              nxt=flat[j] if j<len(flat) else ''
              if kw=='while' and re.search(r'\}\s*$',pre):
                  continue  # the end of a do-while
              if kw=='for' and nxt=='f' and in_macro(m.start()):
                  continue  # a loop macro: nested headers, the user supplies the body
              if kw=='for' and in_macro(m.start()) and macro_end(j):
                  continue
              if nxt!='{':
                  bad.append(f"{f}:{flat.count(chr(10),0,m.start())+1}: {kw}")
          elif kw=='else':
              j=k
              while j<len(flat) and flat[j] in ' \t\n': j+=1
              if flat.startswith('if',j) and not re.match(r'\w',flat[j+2:j+3]): continue
              if flat[j]!='{': bad.append(f"{f}:{flat.count(chr(10),0,m.start())+1}: else")
          elif kw=='do':
              j=k
              while j<len(flat) and flat[j] in ' \t\n': j+=1
              if flat[j]!='{': bad.append(f"{f}:{flat.count(chr(10),0,m.start())+1}: do")

  return bad


paths = [os.path.join(ROOT, f) for f in files] + \
    [os.path.join(ROOT, "tests", d, n) for d in ("unit", "mpi")
     for n in sorted(os.listdir(os.path.join(ROOT, "tests", d))) if n.endswith((".c", ".h"))]
bad = unbraced(paths)
check(not bad, "braces always: " + (", ".join(os.path.relpath(b, ROOT) for b in bad[:10]) or
                                    f"all bodies of {len(paths)} files are blocks"))

# The code is formatted by the .clang-format of the repository (clang-format 14 accepts it).
cf = shutil.which("clang-format")
if not cf:
    print("skip - clang-format is not installed: the format check did not run")
else:
    p = subprocess.run([cf, "--dry-run", "--Werror"] + paths, cwd=ROOT, capture_output=True,
                       text=True)
    first = (p.stderr.strip().split("\n") or [""])[0]
    check(p.returncode == 0, f"clang-format --dry-run --Werror over {len(paths)} files: "
          + ("clean" if p.returncode == 0 else first))

finish()
