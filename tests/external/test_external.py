"""run.model = external: the user's simulator under kelvin's task farm.

- Dakota's parameters file is the documented standard format (parsed here as Dakota's own
  dakota.interfacing parser does), the ini and json forms parse with Python's readers, templates
  substitute with their format specs, and KELVIN_CASE/WORKDIR/SEED reach the simulator;
- sweeps at 1 and 2 ranks give exactly what a serial loop over the same design gives;
- a case that exits 1, one that hangs past external.timeout, one that writes garbage and one whose
  text input holds shell metacharacters are each handled (failed with the reason in the manifest,
  or run with the text verbatim and nothing injected), and the other cases finish;
  external.retries recovers a flaky case;
- the Dakota tabular results.dat of --collect round-trips: a GP fitted on it equals the GP fitted
  on the sweep directory.
"""
import csv
import glob
import json
import os
import re
import shutil

import numpy as np

from kvtest import OUT, ROOT, check, finish, kelvin, write_config

D = os.path.join(OUT, "external_sim")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
SIM = os.path.join(ROOT, "tests", "external", "sim.py")


def sh(args, ranks=1, env=None, expect=None):
    return kelvin(args, ranks, env, expect)


def manifest(d):
    return list(csv.DictReader(open(os.path.join(d, "manifest.csv"))))


def truth(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, x + 2 * y


def config(name, extra_ext="", sweep="", fmt="dakota"):
    return write_config(f"ext_{name}", f"""[run]
model = external
output = {D}/{name}/one.h5
[external]
command = {SIM} {{params}} {{results}}
inputs = x, y
x = 0.5
y = 0.25
responses = f, g
params_format = {fmt}
{extra_ext}
[sweep]
dir = {D}/{name}
{sweep}
""")


# ---------------------------------------------------------------- the parameters file
c = config("formats", "keep_workdirs = true\nseed = 17", "method = lhs\nsamples = 2\nseed = 1\n"
           "vary = external.x:0:1, external.y:0:1")
rc, _ = sh(["-q", "run", c], expect=0)
wd = f"{D}/formats/work/one"
text = open(f"{wd}/params.in").read()
# dakota.interfacing's standard-format patterns
pat = [r"^\s*(\d+) variables$", r"^\s*(\S+) (\S+)$", r"^\s*(\d+) functions$",
       r"^\s*([0-7]) ASV_(\d+):(\S+)$", r"^\s*(\d+) derivative_variables$",
       r"^\s*(\d+) DVV_(\d+):(\S+)$", r"^\s*(\d+) analysis_components$", r"^\s*(\S+) eval_id$",
       r"^\s*(\d+) metadata$"]
lines = text.splitlines()
ok = rc == 0 and len(lines) == 12
seq = [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 8]
m = [re.match(pat[k], line) for k, line in zip(seq, lines)] if ok else []
ok = ok and all(m)
ok = ok and m[0].group(1) == "2" and m[1].group(2) == "x" and float(m[1].group(1)) == 0.5
ok = ok and m[2].group(2) == "y" and m[4].group(3) == "f" and m[5].group(3) == "g"
ok = ok and m[7].group(3) == "x" and m[10].group(1) == "1"
check(ok, "the Dakota parameters file is Dakota's standard format (variables, ASV, DVV, "
      "analysis_components, eval_id, metadata)")
env = json.load(open(f"{wd}/env.json"))
check(env["env"].get("KELVIN_CASE") == "0" and env["env"].get("KELVIN_SEED") == "17" and
      os.path.samefile(env["env"].get("KELVIN_WORKDIR"), wd),
      "KELVIN_CASE, KELVIN_SEED and KELVIN_WORKDIR reach the simulator")
for fmt in ("ini", "json"):
    rc, _ = sh(["-q", "run", c, f"external.params_format={fmt}", "run.overwrite=true"], expect=0)
    env = json.load(open(f"{wd}/env.json"))
    check(rc == 0 and float(env["params"]["x"]) == 0.5 and float(env["params"]["y"]) == 0.25,
          f"the {fmt} parameters file parses with Python's own reader")

tmpl = os.path.join(D, "deck.tmpl")
open(tmpl, "w").write("x = {x:.3e}\ny = {external.y:10.4f}\ncase {case} int {x:d}\n"
                      "literal { braces } {{x}} {unknown}\n")
rc, _ = sh(["-q", "run", c, f"external.templates={tmpl} -> deck.dat", "run.overwrite=true",
            "external.x=2.5"], expect=0)
deck = open(f"{wd}/deck.dat").read()
check(deck == "x = 2.500e+00\ny =     0.2500\ncase 0 int 3\nliteral { braces } {x} {unknown}\n",
      "a template substitutes inputs with their format specs (d rounds) and leaves other "
      "braces alone")
open(tmpl, "w").write("z = {external.z}\n")
rc, out = sh(["-q", "run", c, f"external.templates={tmpl} -> deck.dat", "run.overwrite=true"])
check(rc == 2 and "deck.tmpl:1" in out and "external.z" in out,
      "a template naming no input is refused with its file and line")
rc, out = sh(["-q", "run", c, "external.z=1"])
check(rc == 2 and "external.z" in out and "external.inputs" in out,
      "an [external] key that is no setting and no declared input is refused")

# ---------------------------------------------------------------- 1 and 2 ranks = a serial loop
res = {}
for ranks in (1, 2):
    c = config(f"lhs{ranks}", "", "method = lhs\nsamples = 12\nseed = 5\n"
               "vary = external.x:-1:1, external.y:-1:2")
    rc, _ = sh(["-q", "sweep", c], ranks=ranks, expect=0)
    rows = manifest(f"{D}/lhs{ranks}")
    res[ranks] = [(r["external.x"], r["external.y"], r["f"], r["g"], r["status"]) for r in rows]
    exact = all(r["status"] == "done" and
                (float(r["f"]), float(r["g"])) == truth(float(r["external.x"]),
                                                        float(r["external.y"])) for r in rows)
    check(rc == 0 and len(rows) == 12 and exact,
          f"an external sweep on {ranks} rank{'s' if ranks > 1 else ''}: every response equals "
          "the serial loop's, exactly")
check(res[1] == res[2], "1 and 2 ranks give the same manifest")

# ---------------------------------------------------------------- failures
cases = os.path.join(D, "cases.csv")
evil = "a;b | c $(touch pwned1) `touch pwned2` 'q' \"dq\" > pwned3 &"
with open(cases, "w") as f:
    w = csv.writer(f)
    w.writerow(["external.x", "external.y", "external.mode", "external.label"])
    for row in ([0.1, 0.2, 0, "plain"], [0.3, 0.4, 1, "exits"], [0.5, 0.6, 2, "hangs"],
                [0.7, 0.8, 3, "garbage"], [0.9, 1.0, 0, evil], [1.1, 1.2, 4, "flaky"]):
        w.writerow(row)
state = os.path.join(D, "state")
os.makedirs(state)
c = write_config("ext_fail", f"""[run]
model = external
[external]
command = {SIM} {{params}} {{results}} {{label}}
inputs = x, y, mode, label
responses = f, g
params_format = json
timeout = 2
grace = 0.5
retries = 1
[sweep]
method = list
cases = {cases}
dir = {D}/fail
""")
rc, out = sh(["-q", "sweep", c], env={"SIMSTATE": state})
rows = {int(r["case"]): r for r in manifest(f"{D}/fail")}
check(rc == 1, "a sweep with failed cases exits 1")
check(rows[1]["status"] == "failed" and "exit status 1" in rows[1]["error"] and
      "diverged at step 17" in rows[1]["error"],
      "a case that exits 1 is failed, its exit status and stderr's tail in the manifest")
check(rows[2]["status"] == "failed" and "timeout of 2 s" in rows[2]["error"] and
      float(rows[2]["wall_time_s"]) < 12,
      "a case that hangs is stopped at external.timeout (both attempts) and failed")
check(rows[3]["status"] == "failed" and "'banana' is not a finite number" in rows[3]["error"],
      "a case that writes garbage is failed naming the response and value")
kept = sorted(os.path.basename(p) for p in glob.glob(f"{D}/fail/work/case_*"))
check(kept == ["case_0001", "case_0002", "case_0003"],
      "the work directories of failed cases are kept, the others removed")
argv4 = None
for r in (rows[4],):
    check(r["status"] == "done" and float(r["f"]) == truth(0.9, 1.0)[0],
          "the case whose text input holds shell metacharacters runs")
pwned = glob.glob(f"{D}/**/pwned*", recursive=True) + glob.glob("pwned*")
check(not pwned, "and nothing in it was executed by a shell (no files created)")
check(rows[0]["status"] == "done" and rows[5]["status"] == "done",
      "the other cases finish, and external.retries recovers a case whose first attempt failed")
c2 = write_config("ext_fail_shell", open(c).read().replace("retries = 1", "shell = true\n"
                  "keep_workdirs = true").replace(f"dir = {D}/fail", f"dir = {D}/fail_sh"))
rc, out = sh(["-q", "sweep", c2], env={"SIMSTATE": state})
env4 = json.load(open(f"{D}/fail_sh/work/case_0004/env.json"))
pwned = glob.glob(f"{D}/**/pwned*", recursive=True) + glob.glob("pwned*")
check(env4["argv"][3] == evil and not pwned,
      "with external.shell = true the value is quoted: the simulator gets it verbatim, no "
      "injection")

# ---------------------------------------------------------------- Dakota tabular round trip
c = config("tab", "", "method = sobol\nsamples = 16\nvary = external.x:-1:1, external.y:-1:1")
c = write_config("ext_tab", open(c).read() + "[surrogate]\nkind = gp\nqoi = f\ncv_folds = 0\n")
rc, _ = sh(["-q", "sweep", c], expect=0)
rc2, _ = sh(["-q", "sweep", c, "--collect"], expect=0)
dat = f"{D}/tab/results.dat"
hdr = open(dat).readline().split()
tab = np.loadtxt(dat, skiprows=1, usecols=(0, 2, 3, 4, 5))
rows = manifest(f"{D}/tab")
same = len(tab) == 16 and all(
    t[0] == int(r["case"]) + 1 and t[1] == float(r["external.x"]) and t[3] == float(r["f"])
    and t[4] == float(r["g"]) for t, r in zip(tab, rows))
check(rc == 0 and rc2 == 0 and hdr == ["%eval_id", "interface", "external.x", "external.y", "f",
                                       "g"] and same,
      "--collect writes results.dat in Dakota's annotated tabular format, values exact")
rc, _ = sh(["-q", "fit", c], expect=0)
c_dat = write_config("ext_tab_fit", f"""[surrogate]
kind = gp
data = {dat}
inputs = external.x, external.y
output = f
model = {D}/tab/model_from_dat.h5
cv_folds = 0
""")
rc2, _ = sh(["-q", "fit", c_dat], expect=0)
pa = sh(["predict", f"{D}/tab/model_gp.h5", "external.x=0.3", "external.y=-0.2"])[1].split()
pb = sh(["predict", f"{D}/tab/model_from_dat.h5", "external.x=0.3", "external.y=-0.2"])[1].split()
check(rc == 0 and rc2 == 0 and pa[-2:] == pb[-2:],
      f"a GP fitted on results.dat predicts as the GP of the sweep ({pa[-2:]} vs {pb[-2:]})")
ws = f"{D}/tab/table.txt"
with open(ws, "w") as f:
    f.write("x y f\n" + "".join(f"{r['external.x']}  {r['external.y']}\t{r['f']}\n" for r in rows))
c_ws = write_config("ext_ws_fit", f"""[surrogate]
kind = gp
data = {ws}
inputs = x, y
output = f
model = {D}/tab/model_ws.h5
cv_folds = 0
""")
rc, _ = sh(["-q", "fit", c_ws], expect=0)
pc = sh(["predict", f"{D}/tab/model_ws.h5", "x=0.3", "y=-0.2"])[1].split()
check(rc == 0 and pc[-2:] == pa[-2:], "and so does one fitted on a blank-separated table")

# ---------------------------------------------------------------- responses as manifest columns
c = config("defq", "", "method = lhs\nsamples = 6\nvary = external.x:0:1, external.y:0:1")
c = write_config("ext_defq", open(c).read().replace("responses = f, g", "responses = g") +
                 "[surrogate]\nkind = gp\ncv_folds = 0\n")
sh(["-q", "sweep", c], expect=0)
rc, out = sh(["-q", "fit", c], expect=0)
check(rc == 0 and os.path.exists(f"{D}/defq/model_gp.h5"),
      "kelvin fit of a gp on a sweep with one response needs no qoi")
finish()
