"""kelvin adapt: sequential design to a tolerance on heat QoIs and a field.

- T_max of a 2-D heat plate (kappa log-uniform in [0.02, 1], the boundary value in [0, 1]; T_max
  = max(interior peak, boundary value) has a kink): adapt reaches a held-out relative RMSE of
  0.01 with fewer full runs than a one-shot Latin hypercube of the same accuracy (smallest LHS
  size, checked every 4 runs up to 60, whose GP meets 0.01 on the same held-out runs); the ratio
  is printed;
- the integrated-variance-reduction and LOO-x-distance criteria reach it too (in <= 30 runs);
- the learning curve (adapt.csv, adapt.png) ends at the tolerance and kelvin validate accepts
  the final model;
- a pcagp field surrogate adapts too (cross-validation error, its curve falls);
- kill -9 during the runs, then --resume: runs the manifest records done are not run again, and
  the run finishes; without --resume the history is refused;
- bad configurations are refused naming the key.
"""
import csv
import os
import shutil
import signal
import subprocess
import time

import numpy as np

from kvtest import KELVIN, OUT, check, finish, kelvin, small_heat, write_config

D = os.path.join(OUT, "adapt")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def heat(name, vary, extra):
    return small_heat(f"adapt_{name}", f"""
dir = {D}/{name}
method = lhs
samples = 12
seed = 1
vary = {vary}
""", extra)


def rel_err(p, t):
    return float(np.sqrt(np.sum((p - t) ** 2) / np.sum((t - t.mean()) ** 2)))


# ---------------------------------------------------------------- T_max: adapt vs LHS
cfg = heat("tmax", "heat.kappa:0.02:1.0:log, heat.bc_value:0:1", """[surrogate]
kind = gp
qoi = T_max
[adapt]
tolerance = 0.01
budget = 60
holdout = 30
[validate]
samples = 12
tolerance.r2 = 0.99
""")
rc, out = kelvin(["adapt", cfg])
curve = list(csv.DictReader(open(f"{D}/tmax/adapt/adapt.csv"))) if rc == 0 else []
runs_a = int(curve[-1]["runs"]) if curve else 10 ** 9
check(rc == 0 and "tolerance reached" in out and float(curve[-1]["error"]) <= 0.01,
      f"adapt reaches a held-out relative RMSE of 0.01 on T_max in {runs_a} runs")
check(len(curve) >= 2 and int(curve[0]["runs"]) == 6 and os.path.getsize(f"{D}/tmax/adapt/adapt.png") > 2000,
      f"the learning curve has {len(curve)} points from the 6 initial runs, and a PNG")
if rc == 0:
    hold = list(csv.DictReader(open(f"{D}/tmax/adapt/holdout/manifest.csv")))
    hin = np.loadtxt(f"{D}/tmax/adapt/holdout/cases.csv", delimiter=",", skiprows=1)
    np.savetxt(f"{D}/hin.csv", hin, delimiter=",", header="heat.kappa,heat.bc_value", comments="")
    truth = np.array([float(r["T_max"]) for r in hold])
    n_lhs, errs = None, []
    for n in range(runs_a, 61, 4):
        d = f"{D}/lhs_{n}"
        over = [f"sweep.dir={d}", f"sweep.samples={n}"]
        ok = kelvin(["-q", "sweep", cfg] + over)[0] == 0 and kelvin(["-q", "fit", cfg] + over)[0] == 0
        ok = ok and kelvin(["-q", "predict", f"{d}/model_gp.h5", "--input", f"{D}/hin.csv",
                            "--output", f"{d}/p.csv"])[0] == 0
        if not ok:
            break
        e = rel_err(np.loadtxt(f"{d}/p.csv", delimiter=",", skiprows=1, usecols=0), truth)
        errs.append((n, round(e, 4)))
        if e <= 0.01:
            n_lhs = n
            break
    ratio = runs_a / (n_lhs if n_lhs else 64)
    print(f"# one-shot LHS errors on the same held-out runs: {errs}")
    check(ok and (n_lhs is None or runs_a < n_lhs),
          f"adapt needs fewer runs than a one-shot LHS of the same accuracy: {runs_a} vs "
          f"{n_lhs if n_lhs else '> 60'} (ratio {'<= ' if n_lhs is None else ''}{ratio:.2f})")
    rc, out = kelvin(["validate", cfg, f"surrogate.model={D}/tmax/adapt/model_gp.h5",
                      f"validate.dir={D}/tmax/validate"])
    check(rc == 0, "kelvin validate checks the final model (r2 >= 0.99 on 12 new runs)")

for crit in ("imse", "loo"):
    rc, out = kelvin(["adapt", cfg, f"adapt.criterion={crit}", f"adapt.dir={D}/tmax_{crit}"])
    cc = list(csv.DictReader(open(f"{D}/tmax_{crit}/adapt.csv"))) if rc == 0 else []
    check(rc == 0 and "tolerance reached" in out and int(cc[-1]["runs"]) <= 30,
          f"adapt.criterion = {crit} reaches the tolerance too, in "
          f"{cc[-1]['runs'] if cc else None} runs (<= 30)")

# ---------------------------------------------------------------- a field (pcagp)
fcfg = heat("field", "heat.kappa:0.2:1.0, heat.bc_value:0:1", """[surrogate]
kind = pcagp
[adapt]
tolerance = 0.002
budget = 16
""")
rc, out = kelvin(["adapt", fcfg], ranks=2)
fc = list(csv.DictReader(open(f"{D}/field/adapt/adapt.csv"))) if rc == 0 else []
e = [float(r["error"]) for r in fc]
check(rc == 0 and len(e) >= 3 and e[-1] < e[0] and int(fc[-1]["runs"]) <= 16,
      f"pcagp adapts on 2 ranks (batches of 2): cross-validation error {e[0] if e else None:.3g} -> "
      f"{e[-1] if e else None:.3g} in {fc[-1]['runs'] if fc else None} runs")

# ---------------------------------------------------------------- kill -9 and resume
kcfg = heat("kill", "heat.kappa:0.2:1.0, heat.bc_value:0:1", """[surrogate]
kind = gp
qoi = T_mean
[adapt]
tolerance = 1e-9
budget = 16
""")
p = subprocess.Popen([KELVIN, "-q", "adapt", kcfg], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
man = f"{D}/kill/adapt/manifest.csv"
t0 = time.time()
while time.time() - t0 < 120:
    rows = list(csv.DictReader(open(man))) if os.path.exists(man) else []
    if sum(r["status"] == "done" for r in rows) >= 9:
        break
    time.sleep(0.05)
os.killpg(p.pid, signal.SIGKILL)
p.wait()
rows = list(csv.DictReader(open(man))) if os.path.exists(man) else []
done = {r["case"]: os.path.getmtime(f"{D}/kill/adapt/case_{int(r['case']):04d}.h5")
        for r in rows if r["status"] == "done"}
check(len(done) >= 9, f"killed with -9 after {len(done)} runs")
rc, out = kelvin(["adapt", kcfg], expect=2)
check(rc == 2 and "--resume" in out, "without --resume the history is refused (exit 2)")
rc, out = kelvin(["adapt", kcfg, "--resume"])
same = all(os.path.getmtime(f"{D}/kill/adapt/case_{int(c):04d}.h5") == t for c, t in done.items())
kc = list(csv.DictReader(open(f"{D}/kill/adapt/adapt.csv"))) if rc == 0 else []
check(rc == 0 and same and kc and int(kc[-1]["runs"]) == 16,
      f"--resume finishes at the budget (16 runs) without re-running the {len(done)} done ones")

# ---------------------------------------------------------------- bad configurations
for over, key, what in [
        (["adapt.budget=4", "adapt.initial=6"], "adapt.budget", "a budget below the initial design"),
        (["adapt.criterion=imse2"], "adapt.criterion", "an unknown criterion"),
        (["adapt.tolerance=-1"], "adapt.tolerance", "a negative tolerance")]:
    rc, out = kelvin(["adapt", kcfg, f"adapt.dir={D}/bad"] + over, expect=2)
    check(rc == 2 and key in out, f"refused: {what} (exit 2 naming {key})")
grid = write_config("adapt_grid", open(kcfg).read().replace("method = lhs", "method = grid")
                    .replace("samples = 12\n", "").replace("seed = 1\n", "")
                    .replace("vary = heat.kappa:0.2:1.0, heat.bc_value:0:1", "vary = heat.kappa=0.2|0.5"))
rc, out = kelvin(["adapt", grid, f"adapt.dir={D}/bad"], expect=2)
check(rc == 2 and "sweep.method" in out and "ranges" in out,
      "refused: a grid sweep has no ranges to sample (exit 2 naming sweep.method)")
finish()
