"""Pattern scaling against NumPy: the coefficient maps equal a NumPy least-squares solution on the
ensemble means (1e-10), with one and with two predictors; the predicted global mean follows the
stored two-box response to the scenario forcing; the prediction of a held-out scenario is a CF
field close to the truth."""
import csv
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, ROOT, check, finish, write_config

D = os.path.join(OUT, "pattern")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, ranks=1):
    cmd = ([*MPIRUN, "-n", str(ranks)] if ranks > 1 else []) + [KELVIN] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in (0,):
        print("# " + (p.stdout + p.stderr).strip().replace("\n", "\n# "))
    return p.returncode, p.stdout


cfg = write_config("pattern_ens", f"""[run]
model = ebm
year_start = 1850
year_end = 2070
steps_per_year = 4
[ebm]
nlat = 12
nlon = 8
land_mask = idealized
noise_std = 1.0
T_init = legendre(14, -40)
[sweep]
dir = {D}/ens
method = ensemble
members = 2
scenarios = ssp126, ssp585, ssp245
[surrogate]
kind = pattern
train_scenarios = ssp126, ssp585
spinup = 10
""")
rc, _ = sh(["sweep", cfg], 2)
check(rc == 0, "scenario ensemble: 3 scenarios x 2 members")
rows = list(csv.DictReader(open(f"{D}/ens/manifest.csv")))


def ens_mean(sc):
    return np.mean([h5py.File(f"{D}/ens/{r['output']}", "r")["tas"][...]
                    for r in rows if r["ebm.scenario"] == sc], axis=0)


def forcing(sc, n):
    def load(name):
        with open(os.path.join(ROOT, "configs", "scenarios", name + ".csv")) as fh:
            return {int(r[0]): (float(r[1]), float(r[2])) for r in csv.reader(
                l for l in fh if not l.startswith("#") and not l.startswith("year"))}
    tab = load("historical")
    tab.update(load(sc))
    co2 = np.array([tab[1850 + t][0] for t in range(n)])
    idx = np.array([tab[1850 + t][1] for t in range(n)])
    return 5.35 * np.log(co2 / 284.3), -0.9 * idx


with h5py.File(f"{D}/ens/case_0000.h5", "r") as fh:
    lat = fh["lat"][...]
    nlon = fh["lon"].shape[0]
w = np.repeat(np.cos(np.deg2rad(lat)), nlon)
train = ["ssp126", "ssp585"]
Y = {sc: ens_mean(sc).reshape(221, -1) for sc in train}
spin = 10
base = np.mean([Y[sc][spin:51] for sc in train], axis=(0, 1))
A, B = [], []
for sc in train:
    an = Y[sc] - base
    g = an @ w / w.sum()
    fa = forcing(sc, 221)[1]
    for t in range(spin, 221):
        A.append([1.0, g[t], fa[t]])
        B.append(an[t])
A, B = np.array(A), np.array(B)
for preds, cols in (("tas_global", [0, 1]), ("tas_global, aerosol_forcing", [0, 1, 2])):
    model = f"{D}/model_{len(cols)}.h5"
    rc, out = sh(["fit", cfg, f"surrogate.predictors={preds}", f"surrogate.model={model}"])
    coef = np.linalg.lstsq(A[:, cols], B, rcond=None)[0]
    with h5py.File(model, "r") as fh:
        # Stored as maps (map, lat, lon) on their coordinates; flattened here like B's columns.
        got = fh["pattern/coefficients"][...]
        maps_ok = got.ndim == 3 and fh["pattern/coefficients"].dims[1][0].name.endswith("lat")
        got = got.reshape(got.shape[0], -1)
        ctl = fh["pattern/control"][...].ravel()
    err = np.max(np.abs(got - coef)) / np.max(np.abs(coef))
    check(rc == 0 and maps_ok and got.shape == coef.shape and err < 1e-10 and
          np.max(np.abs(ctl - base)) < 1e-10,
          f"predictors {preds}: coefficient maps = NumPy least squares on the ensemble-mean "
          f"anomalies (max rel. diff {err:.1e}), control climate = the 1860-1900 mean")
rc, out = sh(["predict", f"{D}/model_2.h5", "ebm.scenario=ssp245", "--output", f"{D}/p245.h5"])
with h5py.File(f"{D}/model_2.h5", "r") as fh:
    a = fh["pattern"].attrs
    q1, q2, d1, d2, c, fref = (float(a[k]) for k in ("q1", "q2", "d1", "d2", "c", "F_ref"))
    coef = fh["pattern/coefficients"][...]
    coef = coef.reshape(coef.shape[0], -1)
fc, fa = forcing("ssp245", 221)
F = fc + fa - fref
r1 = np.zeros(221)
r2 = np.zeros(221)
t1 = t2 = 0.0
for t in range(221):
    t1 = t1 * np.exp(-1 / d1) + (1 - np.exp(-1 / d1)) * F[t]
    t2 = t2 * np.exp(-1 / d2) + (1 - np.exp(-1 / d2)) * F[t]
    r1[t], r2[t] = t1, t2
g = c + q1 * r1 + q2 * r2
with h5py.File(f"{D}/p245.h5", "r") as fh:
    pred = fh["tas"][...].reshape(221, -1)
    dims = fh["tas"].dims
expect = coef[0] + np.outer(g, coef[1])
check(rc == 0 and np.max(np.abs(pred - expect)) < 1e-9,
      "the predicted field is intercept + slope x the two-box response to ssp245's forcing")
truth = ens_mean("ssp245").reshape(221, -1) - base
late = slice(2050 - 1850, 2071 - 1850)
err = np.sqrt(np.mean((pred[late] - truth[late]) ** 2))
spread = np.sqrt(np.mean(truth[late] ** 2))
check(err < 0.5 * spread, f"held-out ssp245, 2050-2070: RMSE {err:.3f} K against a signal of "
      f"{spread:.3f} K (< half of it)")
finish()
