"""The README as a user meets it: its configuration reference is the key registry's own
(`kelvin run --keys --markdown`), its tutorial runs as written (each `$ command` in a copy of the
configs, with kelvin on PATH as the tutorial says) and prints the lines it shows (times
aside), and every configs/*.ini it names exists."""
import os
import re
import shutil
import subprocess
import tempfile

from kvtest import KELVIN, ROOT, check, finish

readme = open(os.path.join(ROOT, "README.md")).read()

# 1. One key registry: the README table is the --keys --markdown output, row for row.
m = re.search(r"<!-- keys:begin[^\n]*-->\n\| key \| type \| default \| meaning \|\n\|---\|---\|---\|---\|\n"
              r"(.*?)<!-- keys:end -->", readme, re.S)
rows = subprocess.run([KELVIN, "run", "--keys", "--markdown"], stdout=subprocess.PIPE,
                      text=True).stdout
have = m.group(1) if m else ""
missing = [r.split("|")[1].strip() for r in rows.splitlines() if r not in have.splitlines()]
stale = [r.split("|")[1].strip() for r in have.splitlines() if r not in rows.splitlines()]
check(m is not None and not missing and not stale,
      f"README's configuration reference = kelvin run --keys --markdown ({len(rows.splitlines())} "
      f"keys; missing {missing[:5]}, stale {stale[:5]}; regenerate: scripts/readme_keys.sh)")
for key in ("rom.basis", "rom.tolerance", "surrogate.kind", "slurm.account", "run.compress"):
    check(f"| `{key}` |" in have, f"the reference lists {key}")
kinds = re.search(r"\| `surrogate.kind` \|[^\n]*", have)
check(kinds is not None and all(k in kinds.group(0) for k in ("gp", "pcagp", "poly", "auto")),
      "surrogate.kind lists every kind")
model = re.search(r"\| `run.model` \|[^\n]*", have)
check(model is not None and "rom" in model.group(0), "run.model lists rom")

# 2. The tutorial, as written.
sec = readme[readme.index("## First steps: a tutorial"):readme.index("## Concepts")]
steps = []  # (command, expected lines)
for block in re.findall(r"```[a-z]*\n(.*?)```", sec, re.S):
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line and steps:
            steps[-1][1].append(line)
work = tempfile.mkdtemp(prefix="kelvin-readme-")
shutil.copytree(os.path.join(ROOT, "configs"), os.path.join(work, "configs"))
env = dict(os.environ, PATH=os.path.dirname(KELVIN) + ":" + os.environ["PATH"])
check(len(steps) >= 8, f"the tutorial has {len(steps)} commands")
for cmd, expect in steps:
    p = subprocess.run(cmd, shell=True, cwd=work, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    # Times, dates and machine speeds differ: each shown line must appear with its numbers
    # masked.
    def mask(t):
        return re.sub(r"[0-9][0-9.e+:TZ-]*", "#", t)
    out = [mask(o.strip()) for o in p.stdout.splitlines()]
    gone = [e for e in expect if mask(e) not in out]
    check(p.returncode == 0 and not gone,
          f"tutorial: `{cmd}` (exit {p.returncode}{'; missing: ' + gone[0] if gone else ''})")
shutil.rmtree(work, ignore_errors=True)

# 3. Every configuration file the README names exists.
# (not the file:line of an example error message)
named = sorted(set(re.findall(r"configs/[A-Za-z0-9_]+\.ini(?!:)", readme)))
absent = [n for n in named if not os.path.exists(os.path.join(ROOT, n))]
check(named and not absent, f"every configs/*.ini the README names exists ({len(named)}; "
      f"absent: {absent})")
finish()
