"""kelvin optimize, placement search: k heat sinks on a lattice of sites of the heat plate.

- heat.source_add adds to heat.source (constant(10) + constant(10) = constant(20) exactly);
- the field surrogate (base run + one run per site, superposed) predicts what the solver gives
  for the placements it re-runs (the heat model is linear: to 1e-9 relative);
- on a 4 x 4 lattice with k = 2, the search finds the exhaustive optimum over all 120 placements
  (NumPy over the effect runs' own fields);
- with k = 5 sinks (region max of T), the search beats the greedy start and the random
  placements, as the full solver measures them; the report, placement.csv and effects.png say so;
- bad configurations are refused naming the key.
"""
import csv
import itertools
import os
import shutil

import h5py
import numpy as np

from kvtest import OUT, check, finish, kelvin, write_config

D = os.path.join(OUT, "placement")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)

cfg = write_config("placement", f"""[run]
model = heat
t_end = 0.1
dt = 0.002
output_every = 50
[heat]
dims = 2
n = 32, 32
scheme = cn
solver = fft
source = constant(20)
[optimize]
placement = 5
element = 0.08, -40
sites = 8, 8
region_stat = max
dir = {D}/k5
""")

# ---------------------------------------------------------------- heat.source_add
kelvin(["-q", "run", cfg, f"run.output={D}/a.h5"])
kelvin(["-q", "run", cfg, "heat.source=constant(10)", "heat.source_add=constant(10)",
        f"run.output={D}/b.h5"])
with h5py.File(f"{D}/a.h5", "r") as a, h5py.File(f"{D}/b.h5", "r") as b:
    same = np.array_equal(a["T"][...], b["T"][...])
check(same, "heat.source_add adds to heat.source: constant(10) + constant(10) = constant(20)")

# ---------------------------------------------------------------- k = 5, max over the plate
rc, out = kelvin(["optimize", cfg], ranks=2)
rows = list(csv.DictReader(open(f"{D}/k5/placement.csv"))) if rc == 0 else []
pred = np.array([float(r["predicted"]) for r in rows])
true = np.array([float(r["solver"]) for r in rows])
check(rc == 0 and len(rows) == 3 + 1 + 8 and np.allclose(pred, true, rtol=1e-9, atol=1e-12),
      f"the superposed effect maps predict the solver on all {len(rows)} re-run placements "
      f"(max rel. difference {np.max(np.abs(pred - true) / np.abs(true)) if rows else None:.1e})")
if rows:
    srch = min(float(r["solver"]) for r in rows if r["kind"] == "search")
    grd = [float(r["solver"]) for r in rows if r["kind"] == "greedy"][0]
    rnd = [float(r["solver"]) for r in rows if r["kind"] == "random"]
    check(srch < grd and srch < min(rnd),
          f"the search ({srch:.4f}) beats the greedy start ({grd:.4f}) and every random "
          f"placement (best {min(rnd):.4f}, mean {np.mean(rnd):.4f})")
    check("gain over the greedy start" in out and os.path.getsize(f"{D}/k5/effects.png") > 2000,
          "the report gives the gains; effects.png maps the single-element effects")

# ---------------------------------------------------------------- exhaustive check, 4 x 4, k = 2
rc, out = kelvin(["optimize", cfg, "optimize.placement=2", "optimize.sites=4,4",
                  "optimize.element=0.1,-60", "optimize.region=0.2:0.8, 0.2:0.8",
                  "optimize.region_stat=mean", f"optimize.dir={D}/k2", "optimize.random=2"])
if rc == 0:
    def final(path):
        with h5py.File(path, "r") as h:
            return h["T"][-1], h["x"][...], h["y"][...]
    T0, x, y = final(f"{D}/k2/base/case_0000.h5")
    G = [final(f"{D}/k2/effects/case_{s:04d}.h5")[0] - T0 for s in range(16)]
    m = (x[None, :] >= 0.2) & (x[None, :] <= 0.8) & (y[:, None] >= 0.2) & (y[:, None] <= 0.8)
    best = min(((T0 + G[a] + G[b])[m].mean(), (a, b)) for a, b in itertools.combinations(range(16), 2))
    rows = list(csv.DictReader(open(f"{D}/k2/placement.csv")))
    found = min((float(r["solver"]), tuple(sorted(int(s) for s in r["sites"].split(";"))))
                for r in rows if r["kind"] == "search")
    check(abs(found[0] - best[0]) <= 1e-8 * abs(best[0]),
          f"k = 2 on 4 x 4 sites: the search finds the exhaustive optimum {best[0]:.8f} "
          f"(at {best[1]}; found {found[0]:.8f} at {found[1]}, a placement of equal value)")
else:
    check(False, "the 4 x 4 placement ran")

# ---------------------------------------------------------------- bad configurations
bad_cfg = write_config("placement_bad", open(cfg).read().replace("element = 0.08, -40\n", ""))
rc, out = kelvin(["optimize", bad_cfg], expect=2)
check(rc == 2 and "optimize.element" in out, "refused: placement without its element (exit 2)")
for over, key, what in [(["optimize.sites=2,2"], "optimize.sites", "fewer sites than elements"),
                        (["optimize.region=2:3, 2:3"], "optimize.region", "a region off the field"),
                        (["optimize.element=0, -40"], "optimize.element", "a zero-width element")]:
    rc, out = kelvin(["optimize", cfg, f"optimize.dir={D}/bad"] + over, expect=2)
    check(rc == 2 and key in out, f"refused: {what} (exit 2 naming {key})")
finish()
