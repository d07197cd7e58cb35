"""kelvin optimize: efficient global optimisation of an external model through the task farm.

- Branin (global minimum 0.397887) within 1e-3 relative in at most 40 evaluations (1 rank), and
  Hartmann-6 (-3.32237) within 1e-3 relative in at most 90 (2 ranks: batches of 2);
- a constrained toy (min (x1-1)^2 + (x2-1)^2 subject to x1 + x2 <= 1; optimum 0.5) ends on a
  feasible point within 2e-2 of the optimum;
- a small expected improvement stops it only in two iterations in a row (the first proposal
  after it is run);
- the reported optimum is an evaluation the solver ran (its row in optimize.csv, the case file)
  and the best-so-far column never gets worse;
- a heat inverse problem (optimize.targets: find kappa and the source scale that give a target
  T_mean and T_max, the targets made by a run at known values) converges to a misfit below 1e-4;
- kill -9 in the middle, then --resume: evaluations the manifest records done are not run again
  (the simulator's log) and the run completes; without --resume an existing history is
  refused;
- offline (a fixed table, no model): without a trust region the surrogate's optimum sits in a
  hole of the data and the report says how far it is; optimize.trust holds it within the given
  distance (and it still improves on the data); nothing is run;
- bad configurations (empty bounds, a budget below the initial design, an unknown response) are
  refused with exit 2 naming the key.
"""
import csv
import os
import shutil
import signal
import subprocess
import time

import numpy as np

from kvtest import KELVIN, OUT, ROOT, check, finish, kelvin, small_heat, write_config

D = os.path.join(OUT, "optimize")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
FUNCS = os.path.join(ROOT, "tests", "decisions", "funcs.py")


def config(name, func, d, lo, hi, extra="", budget=40, responses="f"):
    inputs = ", ".join(f"x{i + 1}" for i in range(d))
    values = "\n".join(f"x{i + 1} = {lo[i]}" for i in range(d))
    vary = ", ".join(f"external.x{i + 1}:{lo[i]}:{hi[i]}" for i in range(d))
    return write_config(f"opt_{name}", f"""[run]
model = external
[external]
command = {FUNCS} {func} {{params}} {{results}}
params_format = json
inputs = {inputs}
{values}
responses = {responses}
[sweep]
dir = {D}/{name}
method = lhs
samples = 10
vary = {vary}
[optimize]
response = f
budget = {budget}
{extra}
""")


def history(name):
    return list(csv.DictReader(open(f"{D}/{name}/optimize/optimize.csv")))


def best_line(out):
    for line in out.splitlines():
        if line.startswith("best f = "):
            return float(line.split()[3])
    return None


def monotone(rows):
    b = [float(r["best"]) for r in rows if r["best"] not in ("", "nan")]
    return all(b[i + 1] <= b[i] + 1e-15 for i in range(len(b) - 1))


# ---------------------------------------------------------------- Branin
cfg = config("branin", "branin", 2, [-5, 0], [10, 15], budget=40)
rc, out = kelvin(["optimize", cfg])
best = best_line(out)
rows = history("branin") if rc == 0 else []
check(rc == 0 and best is not None and abs(best - 0.397887) / 0.397887 < 1e-3 and len(rows) <= 40,
      f"Branin: best {best} within 1e-3 of 0.397887 in {len(rows)} <= 40 evaluations")
if rows:
    fs = [float(r["f"]) for r in rows]
    check(abs(min(fs) - best) <= 1e-9 * abs(best) and monotone(rows),
          "the reported optimum is an evaluation in optimize.csv; best-so-far never worsens")
    i = int(np.argmin(fs))
    check(os.path.exists(f"{D}/branin/optimize/case_{i:04d}.h5"),
          f"the optimum's case file case_{i:04d}.h5 is there (run by the solver)")
    check(os.path.getsize(f"{D}/branin/optimize/optimize.png") > 2000, "a convergence plot is written")

# ---------------------------------------------------------------- the EI stop
# A small expected improvement stops EGO only in two iterations in a row: with a tolerance every
# EI is below (half the observed range), the first proposal is still run, then it stops.
cfg = config("eistop", "branin", 2, [-5, 0], [10, 15], "tolerance = 0.5\ninitial = 8", budget=40)
rc, out = kelvin(["optimize", cfg])
rows = history("eistop") if rc == 0 else []
check(rc == 0 and len(rows) == 9 and "in 2 iterations in a row" in out,
      f"a small EI once does not stop; twice in a row does: {len(rows)} evaluations (8 + 1), "
      f"{[ln for ln in out.splitlines() if 'stopped' in ln]}")

# ---------------------------------------------------------------- Hartmann-6, batches of 2
cfg = config("h6", "hartmann6", 6, [0] * 6, [1] * 6, budget=90)
rc, out = kelvin(["optimize", cfg], ranks=2)
best = best_line(out)
rows = history("h6") if rc == 0 else []
check(rc == 0 and best is not None and abs(best + 3.32237) / 3.32237 < 1e-3 and len(rows) <= 90,
      f"Hartmann-6 on 2 ranks: best {best} within 1e-3 of -3.32237 in {len(rows)} <= 90 evaluations")

# ---------------------------------------------------------------- constrained toy
cfg = config("toy", "toy", 2, [0, 0], [2, 2], "constraints = c <= 1", budget=30,
             responses="f, c")
rc, out = kelvin(["optimize", cfg])
best = best_line(out)
rows = history("toy") if rc == 0 else []
feas = [r for r in rows if r["feasible"] == "1"]
bi = min(feas, key=lambda r: float(r["f"])) if feas else None
check(rc == 0 and bi is not None and float(bi["c"]) <= 1.0 + 1e-12 and abs(best - 0.5) < 2e-2,
      f"constrained toy: best feasible f {best} (optimum 0.5) with c = "
      f"{bi['c'] if bi else None} <= 1")
infeasible = [float(r["f"]) for r in rows if r["feasible"] == "0"]
check(len(infeasible) > 0 and min(infeasible) < best,
      f"infeasible points with lower f ({min(infeasible, default=None)}) were run and not reported")
check(all((float(r["c"]) <= 1.0) == (r["feasible"] == "1") for r in rows),
      "the feasible column is c <= 1 on every row")

# ---------------------------------------------------------------- heat inverse problem
heat = small_heat("opt_inverse", f"""
dir = {D}/inverse
method = lhs
samples = 10
vary = heat.kappa:0.2:1.0, heat.source_scale:0.2:2.0
""", """[optimize]
budget = 30
""")
rc, out = kelvin(["-q", "run", heat, "heat.kappa=0.55", "heat.source_scale=1.3",
                  f"run.output={D}/truth.h5"])
import h5py
with h5py.File(f"{D}/truth.h5", "r") as h:
    tm, tx = float(h["T_mean"][-1]), float(h["T"][-1].max())
rc, out = kelvin(["optimize", heat, f"optimize.targets=T_mean:{tm!r}, T_max:{tx!r}"], ranks=2)
rows = history("inverse") if rc == 0 else []
best = min(rows, key=lambda r: float(r["misfit"])) if rows else None
check(rc == 0 and best is not None and float(best["misfit"]) < 1e-4
      and abs(float(best["T_mean"]) / tm - 1) < 0.01 and abs(float(best["T_max"]) / tx - 1) < 0.01,
      f"heat inverse problem (targets from kappa 0.55, source_scale 1.3): misfit "
      f"{float(best['misfit']) if best else None:.2e} at kappa {best['heat.kappa'] if best else None}, "
      f"source_scale {best['heat.source_scale'] if best else None}; T_mean and T_max within 1 %")
check(rc == 0 and "T_mean = " in out and "(target" in out,
      "the report gives each targeted response at the optimum beside its target")

# ---------------------------------------------------------------- kill -9 and resume
cfg = config("kill", "branin", 2, [-5, 0], [10, 15], budget=24)
log = f"{D}/kill.log"
env = dict(os.environ, FUNCLOG=log, FUNCSLOW="0.3")
p = subprocess.Popen([KELVIN, "-q", "optimize", cfg], env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
t0 = time.time()
while time.time() - t0 < 60:
    n = len(open(log).read().splitlines()) if os.path.exists(log) else 0
    if n >= 13:
        break
    time.sleep(0.1)
os.killpg(p.pid, signal.SIGKILL)
p.wait()
before = len(open(log).read().splitlines()) if os.path.exists(log) else 0
check(before >= 13, f"killed with -9 after {before} evaluations")
kd = f"{D}/kill/optimize"
man = list(csv.DictReader(open(f"{kd}/manifest.csv"))) if os.path.exists(f"{kd}/manifest.csv") else []
cases = np.loadtxt(f"{kd}/cases.csv", delimiter=",", skiprows=1, ndmin=2)
done_pts = {tuple("%.17g" % v for v in cases[int(r["case"])]) for r in man if r["status"] == "done"}
check(len(done_pts) >= 10, f"{len(done_pts)} evaluations recorded done before the kill")
rc, out = kelvin(["optimize", cfg], expect=2)
check(rc == 2 and "--resume" in out, "without --resume an existing history is refused (exit 2)")
rc, out = kelvin(["optimize", cfg, "--resume"], env={"FUNCLOG": log})
after = [tuple(line.split()) for line in open(log).read().splitlines()[before:]]
rows = history("kill") if rc == 0 else []
again = [p for p in after if tuple("%.17g" % float(v) for v in p) in done_pts]
check(rc == 0 and len(after) > 0 and not again,
      f"--resume completes ({len(rows)} evaluations) and runs none of the {len(done_pts)} "
      f"recorded ones again ({len(again)} re-run)")
check(rc == 0 and len(rows) == 24 and len(after) <= 24 - len(done_pts),
      f"only the unrecorded evaluations ran after the kill: {len(after)} <= 24 - {len(done_pts)}")

# ---------------------------------------------------------------- offline: fixed data only
rng = np.random.default_rng(6)
P = rng.uniform(0, 1, (400, 2))
P = P[np.hypot(P[:, 0] - 0.5, P[:, 1] - 0.5) > 0.25][:60]  # a hole around the minimum
with open(f"{D}/bowl.csv", "w") as f:
    f.write("x1,x2,f\n")
    for r in P:
        f.write("%.17g,%.17g,%.17g\n" % (r[0], r[1], (r[0] - 0.5) ** 2 + (r[1] - 0.5) ** 2))
off = write_config("opt_offline", f"""[surrogate]
kind = gp
data = {D}/bowl.csv
inputs = x1, x2
output = f
model = {D}/offline/model.h5
[optimize]
offline = true
""")


def offline(*over):
    rc, out = kelvin(["optimize", off] + list(over))
    rows = list(csv.DictReader(open(f"{D}/offline/optimize/offline.csv"))) if rc == 0 else [{}]
    return rc, out, rows[0]


rc, out, free = offline("optimize.trust=0", "optimize.penalty=0")
check(rc == 0 and float(free["nearest_distance"]) > 0.2 and "away" in out,
      f"offline without a trust region: the optimum sits in the hole, "
      f"{float(free.get('nearest_distance', 'nan')):.3f} from the nearest datum, and says so")
rc, out, tr = offline("optimize.trust=0.1", "optimize.penalty=0")
dist = float(tr.get("nearest_distance", "nan"))
check(rc == 0 and 0.09 <= dist <= 0.1 + 1e-6 and float(tr["predicted"]) < float(tr["data_best"]),
      f"optimize.trust = 0.1 holds the optimum {dist:.4f} from the data, predicted "
      f"{float(tr.get('predicted', 'nan')):.4f} below the data's best {float(tr.get('data_best', 'nan')):.4f}")
check(rc == 0 and "+-" in out and "sd" in out, "the offline report gives the surrogate's deviation there")
rc, out, dflt = offline()
check(rc == 0 and float(dflt["nearest_distance"]) <= 0.2 + 1e-6,
      f"the default trust region (0.2) holds: {float(dflt.get('nearest_distance', 'nan')):.4f}")
check(not any(n.startswith("case_") for n in os.listdir(f"{D}/offline/optimize")),
      "offline runs nothing (no case files)")

# ---------------------------------------------------------------- bad configurations
cfg = config("bad", "branin", 2, [-5, 0], [10, 15])
for over, key, what in [
        (["sweep.vary=external.x1:1:1, external.x2:0:15"], "sweep.vary", "empty bounds"),
        (["optimize.budget=4", "optimize.initial=6"], "optimize.budget", "budget below the design"),
        (["optimize.response=g"], "optimize.response", "an unknown response"),
        (["optimize.constraints=c < 1"], "optimize.constraints", "a constraint without <= or >="),
        (["optimize.goal=lowest"], "optimize.goal", "an unknown goal"),
        (["optimize.targets=f:1"], "optimize.response", "a response and targets together"),
        (["optimize.targets=f"], "optimize.targets", "a target without its value")]:
    rc, out = kelvin(["optimize", cfg] + over, expect=2)
    check(rc == 2 and key in out, f"refused: {what} (exit 2 naming {key})")
check(not os.path.exists(f"{D}/bad/optimize/case_0000.h5"), "nothing ran for a refused configuration")
finish()
