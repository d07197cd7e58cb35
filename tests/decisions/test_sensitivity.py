"""kelvin sensitivity: Sobol indices and Morris effects.

- Ishigami (a = 7, b = 0.1) through a GP fitted on 600 points: S1 and ST within 0.04 of the
  analytic indices (Sobol & Levitan 1999), the analytic value inside the bootstrap interval
  widened by the same 0.04 allowance for the surrogate's own error;
- the spread of the indices over GP posterior draws (the surrogate's own uncertainty) is more
  than twice as wide for a GP on 40 points as for one on 600;
- on the same design and outputs (sensitivity.h5 /design), kelvin's Saltelli and Jansen
  estimators equal OpenTURNS' SaltelliSensitivityAlgorithm / JansenSensitivityAlgorithm to 1e-10;
- poly's closed-form indices (Legendre coefficients: a polynomial chaos) equal the exact ones of a
  linear model, and the estimator's within 0.01 for a polynomial with an interaction;
- a linear model (poly, degree 1, exact) over its training box w: indices (a_i w_i)^2 / sum
  (a_j w_j)^2 within 0.01 at N = 50000, Morris
  mu = mu* = a_i w_i and sigma = 0 to 1e-8;
- sensitivity.direct runs the pick-freeze design through the full solver (an external
  simulator, 2 ranks): its indices equal NumPy's Jansen estimator on the runs' own outputs, and
  the surrogate's agree with them; a second call resumes without re-running a case;
- a pcagp field surrogate of the heat solver gets maps of S1/ST (input, y, x) that xarray reads,
  aggregated indices in [0, 1] and a PNG map per input;
- bad configurations are refused naming the key.
"""
import csv
import math
import os
import shutil

import h5py
import numpy as np

from kvtest import OUT, ROOT, check, finish, kelvin, small_heat, write_config

D = os.path.join(OUT, "sensitivity")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
FUNCS = os.path.join(ROOT, "tests", "decisions", "funcs.py")


def table(path):
    return {r["input"]: r for r in csv.DictReader(open(path))}


# ---------------------------------------------------------------- Ishigami through a GP
a, b = 7.0, 0.1
V = a * a / 8 + b * math.pi ** 4 / 5 + b * b * math.pi ** 8 / 18 + 0.5
V1 = 0.5 * (1 + b * math.pi ** 4 / 5) ** 2
V2 = a * a / 8
V13 = b * b * math.pi ** 8 * (1 / 18 - 1 / 50)
S1_true = [V1 / V, V2 / V, 0.0]
ST_true = [(V1 + V13) / V, V2 / V, V13 / V]

rng = np.random.default_rng(5)
X = rng.uniform(-math.pi, math.pi, (600, 3))
y = np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])
with open(f"{D}/ishigami.csv", "w") as f:
    f.write("x1,x2,x3,y\n")
    for r, v in zip(X, y):
        f.write(",".join("%.17g" % t for t in r) + ",%.17g\n" % v)
ini = write_config("sens_ishigami", f"""[surrogate]
kind = gp
data = {D}/ishigami.csv
inputs = x1, x2, x3
output = y
model = {D}/ish/model.h5
[sensitivity]
samples = 8192
bootstrap = 100
""")
rc, out = kelvin(["sensitivity", ini])
check(rc == 0, "sensitivity fits the missing model and runs on the Ishigami GP")
t = table(f"{D}/ish/sensitivity.csv") if rc == 0 else {}
for i, name in enumerate(["x1", "x2", "x3"]):
    if name not in t:
        check(False, f"Ishigami: {name} in sensitivity.csv")
        continue
    r = {k: float(v) for k, v in t[name].items() if k != "input"}
    check(abs(r["S1"] - S1_true[i]) < 0.04 and abs(r["ST"] - ST_true[i]) < 0.04,
          f"Ishigami {name}: S1 {r['S1']:.4f} (analytic {S1_true[i]:.4f}), ST {r['ST']:.4f} "
          f"(analytic {ST_true[i]:.4f}) within 0.04")
    check(r["S1_lo"] - 0.04 <= S1_true[i] <= r["S1_hi"] + 0.04
          and r["ST_lo"] - 0.04 <= ST_true[i] <= r["ST_hi"] + 0.04
          and r["S1_lo"] <= r["S1"] <= r["S1_hi"] and r["ST_lo"] <= r["ST"] <= r["ST_hi"],
          f"Ishigami {name}: bootstrap intervals [{r['S1_lo']:.3f}, {r['S1_hi']:.3f}] "
          f"[{r['ST_lo']:.3f}, {r['ST_hi']:.3f}] hold the estimate and (within 0.04) the truth")
check(os.path.getsize(f"{D}/ish/sensitivity.png") > 2000, "a bar chart sensitivity.png is written")


def draw_width(path):
    t = table(path)
    return np.mean([float(r["draws_ST_hi"]) - float(r["draws_ST_lo"]) + float(r["draws_S1_hi"])
                    - float(r["draws_S1_lo"]) for r in t.values()])


# the GP's own uncertainty: posterior draws of a GP on 40 points spread far more than on 600
with open(f"{D}/ishigami40.csv", "w") as f:
    f.write("x1,x2,x3,y\n")
    for r, v in list(zip(X, y))[:40]:
        f.write(",".join("%.17g" % t for t in r) + ",%.17g\n" % v)
rc40, _ = kelvin(["sensitivity", ini, f"surrogate.data={D}/ishigami40.csv",
                  f"surrogate.model={D}/ish40/model.h5", "sensitivity.bootstrap=0"])
w600 = draw_width(f"{D}/ish/sensitivity.csv") if rc == 0 else float("nan")
w40 = draw_width(f"{D}/ish40/sensitivity.csv") if rc40 == 0 else float("nan")
check(rc40 == 0 and w600 > 0 and w40 > 2 * w600,
      f"GP posterior draws: the indices' spread from the surrogate's own uncertainty is "
      f"{w40:.3f} on 40 points, {w600:.3f} on 600 (mean interval width)")

# ---------------------------------------------------------------- same samples as OpenTURNS
try:
    import openturns as ot
except ImportError:
    ot = None
check(ot is not None, "python3-openturns is installed (scripts/install-deps.sh)")
for est in ("saltelli", "jansen"):
    rc, out = kelvin(["sensitivity", ini, f"sensitivity.estimator={est}", "sensitivity.samples=2000",
                      "sensitivity.bootstrap=0", f"sensitivity.dir={D}/ot_{est}"])
    if rc != 0 or ot is None:
        check(False, f"{est}: kelvin sensitivity ran")
        continue
    with h5py.File(f"{D}/ot_{est}/sensitivity.h5", "r") as h:
        U, Y, N = h["design/U"][...], h["design/Y"][...], int(h["design"].attrs["N"])
        S1, ST = h["S1"][...], h["ST"][...]
    alg = (ot.SaltelliSensitivityAlgorithm if est == "saltelli" else ot.JansenSensitivityAlgorithm)(
        ot.Sample(U), ot.Sample(Y.reshape(-1, 1)), N)
    o1, oT = np.array(alg.getFirstOrderIndices()), np.array(alg.getTotalOrderIndices())
    check(U.shape == (5 * N, 3) and np.allclose(U[2 * N:3 * N, 0], U[N:2 * N, 0])
          and np.allclose(U[2 * N:3 * N, 1:], U[:N, 1:]),
          f"{est}: the design is A, B, E_1..E_d (E_i = A with column i from B)")
    check(np.max(np.abs(o1 - S1)) < 1e-10 and np.max(np.abs(oT - ST)) < 1e-10,
          f"{est}: kelvin = OpenTURNS on the same samples (|dS1| {np.max(np.abs(o1 - S1)):.1e}, "
          f"|dST| {np.max(np.abs(oT - ST)):.1e})")

# ---------------------------------------------------------------- linear: exact
coef = np.array([1.0, 2.0, 3.0])
X = rng.uniform(0, 1, (40, 3))
with open(f"{D}/linear.csv", "w") as f:
    f.write("x1,x2,x3,y\n")
    for r in X:
        f.write(",".join("%.17g" % t for t in r) + ",%.17g\n" % float(r @ coef))
lin = write_config("sens_linear", f"""[surrogate]
kind = poly
degree = 1
data = {D}/linear.csv
inputs = x1, x2, x3
output = y
model = {D}/lin/model.h5
[sensitivity]
samples = 50000
design = qmc
bootstrap = 0
""")
rc, out = kelvin(["fit", lin])
rc, out = kelvin(["sensitivity", f"{D}/lin/model.h5", "sensitivity.samples=50000",
                  "sensitivity.bootstrap=0", f"sensitivity.dir={D}/lin"])
check(rc == 0, "sensitivity of a model file alone (the training box as ranges)")
t = table(f"{D}/lin/sensitivity.csv") if rc == 0 else {}
box = X.max(axis=0) - X.min(axis=0)
exact = (coef * box) ** 2 / np.sum((coef * box) ** 2)
got1 = np.array([float(t[n]["S1"]) for n in ("x1", "x2", "x3")]) if t else np.zeros(3)
gotT = np.array([float(t[n]["ST"]) for n in ("x1", "x2", "x3")]) if t else np.zeros(3)
check(np.max(np.abs(got1 - exact)) < 0.01 and np.max(np.abs(gotT - exact)) < 0.01,
      f"linear: S1 {np.round(got1, 4)} and ST {np.round(gotT, 4)} = a_i^2/sum a^2 "
      f"{np.round(exact, 4)} within 0.01")
an = [float(t[n]["analytic_S1"]) for n in ("x1", "x2", "x3")] if t and "analytic_S1" in t["x1"] else []
anT = [float(t[n]["analytic_ST"]) for n in ("x1", "x2", "x3")] if an else []
check(len(an) == 3 and np.allclose(an, exact, atol=1e-10) and np.allclose(anT, exact, atol=1e-10),
      f"poly: closed-form indices from the Legendre coefficients {np.round(an, 6)} = exact")

# a polynomial with an interaction: closed form against the estimator at N = 50000
Xq = rng.uniform(0, 1, (60, 3))
yq = Xq[:, 0] + 2 * Xq[:, 0] * Xq[:, 1] + Xq[:, 2] ** 2
with open(f"{D}/quad.csv", "w") as f:
    f.write("x1,x2,x3,y\n")
    for r, v in zip(Xq, yq):
        f.write(",".join("%.17g" % t for t in r) + ",%.17g\n" % v)
quad = write_config("sens_quad", f"""[surrogate]
kind = poly
degree = 2
ridge = 0
data = {D}/quad.csv
inputs = x1, x2, x3
output = y
model = {D}/quad/model.h5
[sensitivity]
samples = 50000
design = qmc
bootstrap = 0
""")
rc, out = kelvin(["sensitivity", quad])
t = table(f"{D}/quad/sensitivity.csv") if rc == 0 else {}
if t:
    est = np.array([[float(t[n][k]) for n in ("x1", "x2", "x3")] for k in ("S1", "ST")])
    cf = np.array([[float(t[n][k]) for n in ("x1", "x2", "x3")] for k in ("analytic_S1", "analytic_ST")])
    check(np.max(np.abs(est - cf)) < 0.01 and cf[1, 0] > cf[0, 0] + 0.01,
          f"poly with an interaction: closed form S1 {np.round(cf[0], 4)} ST {np.round(cf[1], 4)} "
          f"= the estimator within 0.01 (ST > S1 for the interacting x1)")
else:
    check(False, "sensitivity of a degree-2 poly ran")

rc, out = kelvin(["sensitivity", lin, "sensitivity.method=morris", "sensitivity.trajectories=10",
                  f"--output", f"{D}/lin/morris.csv"])
t = table(f"{D}/lin/morris.csv") if rc == 0 else {}
if t:
    mu = np.array([float(t[n]["mu"]) for n in ("x1", "x2", "x3")])
    ms = np.array([float(t[n]["mu_star"]) for n in ("x1", "x2", "x3")])
    sg = np.array([float(t[n]["sigma"]) for n in ("x1", "x2", "x3")])
    check(np.allclose(mu, coef * box, atol=1e-8) and np.allclose(ms, coef * box, atol=1e-8)
          and np.max(sg) < 1e-8,
          f"Morris on a linear model: mu = mu* = a_i x range {np.round(coef * box, 4)}, sigma 0")
else:
    check(False, "Morris screening ran and wrote --output")

# ---------------------------------------------------------------- direct: the full solver
ext = write_config("sens_direct", f"""[run]
model = external
[external]
command = {FUNCS} linear {{params}} {{results}}
params_format = json
inputs = x1, x2, x3
x1 = 0.5
x2 = 0.5
x3 = 0.5
responses = f
[sweep]
dir = {D}/direct
method = lhs
samples = 24
seed = 4
vary = external.x1:0:1, external.x2:0:1, external.x3:0:1
[surrogate]
kind = gp
qoi = f
[sensitivity]
samples = 4096
direct = true
direct_samples = 24
bootstrap = 50
""")
rc, out = kelvin(["sweep", ext], ranks=2)
rc, out = kelvin(["sensitivity", ext], ranks=2)
check(rc == 0 and "by the full solver (120 runs)" in out,
      "direct: the pick-freeze design (24 x 5 = 120 runs) ran through the task farm on 2 ranks")
dd = f"{D}/direct/sobol_direct"
if rc == 0:
    cases = np.loadtxt(f"{dd}/cases.csv", delimiter=",", skiprows=1)
    yv = cases @ coef
    N = 24
    yc = yv - yv.mean()
    A, B = yc[:N], yc[N:2 * N]
    Vn = A.var(ddof=1)
    with h5py.File(f"{D}/direct/sensitivity.h5", "r") as h:
        d1, dT, s1, sT = h["direct_S1"][...], h["direct_ST"][...], h["S1"][...], h["ST"][...]
    n1 = [(Vn - np.sum((yc[(2 + i) * N:(3 + i) * N] - B) ** 2) / (2 * N - 1)) / Vn for i in range(3)]
    nT = [np.sum((yc[(2 + i) * N:(3 + i) * N] - A) ** 2) / (2 * N - 1) / Vn for i in range(3)]
    check(np.allclose(d1, n1, atol=1e-9) and np.allclose(dT, nT, atol=1e-9),
          f"direct indices {np.round(d1, 3)} / {np.round(dT, 3)} = NumPy's Jansen on the runs")
    unit = coef ** 2 / np.sum(coef ** 2)
    check(np.max(np.abs(s1 - unit)) < 0.03 and np.max(np.abs(sT - unit)) < 0.03,
          f"the surrogate's indices {np.round(s1, 3)} match the exact ones {np.round(unit, 3)}")
    t0 = os.path.getmtime(f"{dd}/case_0000.h5")
    rc2, out2 = kelvin(["sensitivity", ext])
    check(rc2 == 0 and os.path.getmtime(f"{dd}/case_0000.h5") == t0,
          "a second direct analysis reuses the finished runs (case files untouched)")

# ---------------------------------------------------------------- a field surrogate: maps
heat = small_heat("sens_heat", f"""
dir = {D}/heat
method = lhs
samples = 14
seed = 3
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
""", """[surrogate]
kind = pcagp
[sensitivity]
samples = 512
""")
rc, out = kelvin(["sweep", heat], ranks=2)
rc, out = kelvin(["sensitivity", heat])
check(rc == 0 and "aggregated over the field" in out, "a pcagp field surrogate: aggregated indices")
if rc == 0:
    import xarray as xr
    ds = xr.open_dataset(f"{D}/heat/sensitivity.h5", engine="h5netcdf")
    check(ds["ST_map"].dims == ("input", "y", "x") and ds["ST_map"].shape == (2, 12, 16),
          f"xarray reads ST_map over (input, y, x): {ds['ST_map'].dims}")
    st = ds["ST_map"].values
    check(np.nanmin(st) > -0.1 and np.nanmax(st) < 1.1 and np.all(ds["ST"].values >= 0)
          and np.all(ds["ST"].values <= 1.05),
          f"maps and aggregated indices are indices (ST {np.round(ds['ST'].values, 3)})")
    check(os.path.exists(f"{D}/heat/sensitivity_ST_kappa.png")
          and os.path.exists(f"{D}/heat/sensitivity_ST_bc_value.png"), "a PNG map per input")

# ---------------------------------------------------------------- bad configurations
for bad, key in [(["sensitivity.levels=3", "sensitivity.method=morris"], "sensitivity.levels"),
                 (["sensitivity.sample=10"], "sensitivity.sample"),
                 (["sensitivity.estimator=sobol"], "sensitivity.estimator")]:
    rc, out = kelvin(["sensitivity", ini] + bad, expect=2)
    check(rc == 2 and key in out, f"refused: {' '.join(bad)} (exit 2 naming {key})")
rc, out = kelvin(["sensitivity", f"{D}/lin/model.h5", "sensitivity.direct=true"], expect=2)
check(rc == 2 and "sensitivity.direct" in out, "direct with only a model file is refused (exit 2)")
finish()
