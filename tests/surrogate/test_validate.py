"""kelvin validate: held-out cases through the sweep machinery, validation.h5 whose metrics equal
a NumPy recomputation from its own truth and prediction, the truth equal to the held-out runs,
validation.md with maps, exit 1 for a poor surrogate and 0 for a good one, resumable."""
import csv
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "validate")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, ranks=1):
    cmd = ([*MPIRUN, "-n", str(ranks)] if ranks > 1 else []) + [KELVIN] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def is_png(path):
    return os.path.exists(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ heat: gp and pcagp
heat = write_config("validate_heat", f"""[run]
model = heat
t_end = 0.05
dt = 0.001
output_every = 1000
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
[sweep]
dir = {D}/heat
method = lhs
samples = 20
seed = 3
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
[surrogate]
kind = pcagp
[validate]
samples = 5
seed = 11
""")
rc, _, err = sh(["sweep", heat], 2)
rc2, _, _ = sh(["fit", heat])
rc3, out, err = sh(["validate", heat, "validate.tolerance.rel_l2=0.05"], 2)
check(rc == 0 and rc2 == 0 and rc3 == 0 and "rel_l2" in out and "<= 0.05: ok" in out,
      "pcagp: sweep, fit, validate on 5 held-out LHS points; within tolerance: exit 0")
with h5py.File(f"{D}/heat/validation.h5", "r") as f:
    T, P, S = f["T_truth"][...], f["T_prediction"][...], f["T_std"][...]
    X = f["inputs"][...]
    names = f["inputs"].attrs["names"]
    names = names.decode() if isinstance(names, bytes) else names
    mets = dict(f["metrics"].attrs)
rows = list(csv.DictReader(open(f"{D}/heat/holdout/manifest.csv")))
truth_ok = len(rows) == 5 and T.shape == (5, 12, 16) and all(
    np.array_equal(h5py.File(f"{D}/heat/holdout/{r['output']}", "r")["T"][-1], T[i])
    for i, r in enumerate(rows))
check(truth_ok and names == "heat.kappa,heat.bc_value" and np.allclose(
      X, [[float(r["heat.kappa"]), float(r["heat.bc_value"])] for r in rows], rtol=0, atol=0),
      "validation.h5: /T_truth (case, y, x) equals the held-out runs' final fields, /inputs their "
      "varied values")
rel = np.mean([np.linalg.norm(P[i] - T[i]) / np.linalg.norm(T[i]) for i in range(5)])
rmse = np.mean([np.sqrt(np.mean((P[i] - T[i]) ** 2)) for i in range(5)])
cov = np.mean(np.abs(T - P) <= 1.959963984540054 * S)
check(abs(mets["rel_l2"] - rel) < 1e-12 * rel and abs(mets["rmse"] - rmse) < 1e-12 * rmse and
      abs(mets["coverage95"] - cov) < 1e-12 and mets["speedup"] > 1,
      f"metrics attributes = NumPy on the stored truth and prediction (mean over cases: rel_l2 "
      f"{rel:.3g}, rmse {rmse:.3g}, coverage95 {cov:.3g}); speed-up {mets['speedup']:.3g}")
md = open(f"{D}/heat/validation.md").read()
check("Uncertainty: the 95 % intervals hold" in md,
      "validation.md comments on the coverage of the 95 % intervals")
check("| rel_l2 |" in md and "validation_error.png" in md and
      all(is_png(f"{D}/heat/validation_{k}.png") for k in ("truth", "prediction", "error")),
      "validation.md has the table and the truth / prediction / error maps (PNG)")
rc, out, err = sh(["validate", heat])
check(rc == 0 and "0 to run" in err, "validate again: the held-out runs are not redone (resume)")
# A deliberately poor surrogate: length scales pinned far below the spacing of the data.
poor = [f"surrogate.model={D}/poor.h5", "surrogate.bounds=length=1e-3:1e-3"]
sh(["fit", heat] + poor)
rc, out, _ = sh(["validate", heat, "validate.tolerance.rel_l2=0.05", f"validate.dir={D}/vpoor"] + poor)
check(rc == 1 and "**FAILED**" in out, "a poor surrogate exceeds the tolerance: exit 1")
rc, out, _ = sh(["validate", heat, "surrogate.kind=gp", "surrogate.qoi=T_max",
                 f"surrogate.model={D}/gp.h5", f"validate.dir={D}/vgp"])
sh(["fit", heat, "surrogate.kind=gp", "surrogate.qoi=T_max", f"surrogate.model={D}/gp.h5"])
rc, out, _ = sh(["validate", heat, "surrogate.kind=gp", "surrogate.qoi=T_max",
                 f"surrogate.model={D}/gp.h5", f"validate.dir={D}/vgp", "validate.tolerance.r2=0.99"])
with h5py.File(f"{D}/vgp/validation.h5", "r") as f:
    t, p = f["T_max_truth"][...], f["T_max_prediction"][...]
    r2 = f["metrics"].attrs["r2"]
with h5py.File(f"{D}/vgp/validation.h5", "r") as f:
    sd = f["T_max_std"][...]
    msll = f["metrics"].attrs["msll"]
with h5py.File(f"{D}/gp.h5", "r") as f:
    ytr = f["gp/y"][...]
ref = np.mean(0.5 * np.log(2 * np.pi * sd ** 2) + (t - p) ** 2 / (2 * sd ** 2)
              - 0.5 * np.log(2 * np.pi * ytr.var()) - (t - ytr.mean()) ** 2 / (2 * ytr.var()))
check(rc == 0 and t.shape == (5,) and abs(r2 - (1 - np.sum((p - t) ** 2) /
                                                np.sum((t - t.mean()) ** 2))) < 1e-12,
      f"gp on T_max: truth and prediction per case, R^2 {r2:.5f} >= 0.99")
check(abs(msll - ref) < 1e-9 * abs(ref) and msll < 0, f"gp: MSLL {msll:.3f} = NumPy's, below 0 "
      "(better than the training mean and variance)")
rc, _, err = sh(["validate", heat, "validate.tolerance.nrmse_total=1"])
check(rc == 2 and "no nrmse_total" in err, "a tolerance on a metric the surrogate lacks is an error")
rc, _, err = sh(["validate", heat, "validate.samples=0"])
check(rc == 2 and "validate.samples" in err, "bad [validate] keys are named")

# ------------------------------------------------------------------ climate: pattern scaling
ens = write_config("validate_ens", f"""[run]
model = ebm
year_start = 1850
year_end = 2100
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
scenarios = ssp126, ssp370, ssp585
[surrogate]
kind = pattern
train_scenarios = ssp126, ssp370, ssp585
spinup = 10
[validate]
scenarios = ssp245
members = 3
years = 2080:2100
""")
rc, _, _ = sh(["sweep", ens], 2)
rc2, _, _ = sh(["fit", ens])
rc3, out, _ = sh(["validate", ens, "validate.tolerance.nrmse_total=0.5"], 2)
check(rc == 0 and rc2 == 0 and rc3 == 0 and "nrmse_total" in out,
      "pattern: ensemble, fit, validate on held-out ssp245 (3 new members): exit 0")
with h5py.File(f"{D}/ens/validation.h5", "r") as f:
    T, P, yr = f["tas_truth"][...], f["tas_prediction"][...], f["year"][...]
    lat = f["lat"][...]
    mets = dict(f["metrics"].attrs)
with h5py.File(f"{D}/ens/model_pattern.h5", "r") as f:
    ctl = f["pattern/control"][...].reshape(12, 8)
hold = [r for r in csv.DictReader(open(f"{D}/ens/holdout/manifest.csv"))]
em = np.mean([h5py.File(f"{D}/ens/holdout/{r['output']}", "r")["tas"][230:251] for r in hold],
             axis=0) - ctl
check(T.shape == (1, 21, 12, 8) and np.array_equal(yr, np.arange(2080, 2101)) and
      np.max(np.abs(T[0] - em)) < 1e-12 and len({r["ebm.seed"] for r in hold}) == 3,
      "validation.h5: /tas_truth (case = scenario, year, lat, lon) = the 3-member ensemble mean anomaly "
      "over 2080-2100; /year")
w = np.cos(np.deg2rad(lat))[:, None] * np.ones((1, 8))
w = w / w.sum()
xm, ym = P[0].mean(axis=0), T[0].mean(axis=0)
norm = abs(np.sum(w * ym))
sp = np.sqrt(np.sum(w * (xm - ym) ** 2)) / norm
gl = np.sqrt(np.mean(((P[0] * w).sum(axis=(1, 2)) - (T[0] * w).sum(axis=(1, 2))) ** 2)) / norm
check(abs(mets["nrmse_spatial"] - sp) < 1e-10 * sp and abs(mets["nrmse_global"] - gl) < 1e-10 * gl
      and abs(mets["nrmse_total"] - (sp + 5 * gl)) < 1e-10 * (sp + 5 * gl),
      f"NRMSE spatial {sp:.4f}, global {gl:.4f}, total {sp + 5 * gl:.4f} = ClimateBench's formula "
      "in NumPy on the stored fields")
rc, out, _ = sh(["validate", ens, "surrogate.global=true_smoothed", f"surrogate.model={D}/ts.h5",
                 f"validate.dir={D}/vts"])
sh(["fit", ens, "surrogate.global=true_smoothed", f"surrogate.model={D}/ts.h5"])
rc, out, _ = sh(["validate", ens, "surrogate.global=true_smoothed", f"surrogate.model={D}/ts.h5",
                 f"validate.dir={D}/vts"])
with h5py.File(f"{D}/vts/validation.h5", "r") as f:
    gts = f["metrics"].attrs["nrmse_global"]
check(rc == 0 and gts < mets["nrmse_global"] + 1e-12,
      f"true_smoothed (the solver's own global mean, smoothed) scores a global NRMSE {gts:.4f} "
      f"no worse than the response model's {mets['nrmse_global']:.4f}")
rc, out, _ = sh(["validate", ens, "validate.members_study=1,2", f"validate.dir={D}/vms"])
with h5py.File(f"{D}/vms/validation.h5", "r") as f:
    ms = f["members_study/members"][...]
    mt = f["members_study/nrmse_total"][...]
    tot = f["metrics"].attrs["nrmse_total"]
md = open(f"{D}/vms/validation.md").read()
check(rc == 0 and list(ms) == [1, 2] and abs(mt[1] - tot) < 1e-10 * tot and mt[0] > 0 and
      "| members | nrmse_spatial" in md,
      f"members study: refits on 1 and 2 members (NRMSE total {mt[0]:.4f}, {mt[1]:.4f}); the "
      "all-member refit scores exactly as the fitted model")
rc, _, err = sh(["validate", ens, "validate.members_study=3", f"validate.dir={D}/vms3"])
check(rc == 2 and "has 2 finished members, 3 asked for" in err,
      "members study beyond the training ensemble is refused")

# ------------------------------------------------------------------ pcagp on climate fields
cgp = write_config("validate_cgp", f"""[run]
model = ebm
year_start = 1850
year_end = 1960
steps_per_year = 4
[ebm]
nlat = 10
nlon = 8
land_mask = idealized
scenario = ssp245
[sweep]
dir = {D}/cgp
method = lhs
samples = 10
seed = 4
vary = ebm.B:1.7:2.3, ebm.forcing:0:3
[surrogate]
kind = pcagp
[validate]
samples = 3
""")
rc, out, err = sh(["pipeline", cgp], 2)
with h5py.File(f"{D}/cgp/validation.h5", "r") as f:
    T, P = f["tas_truth"][...], f["tas_prediction"][...]
    lat = f["lat"][...]
    mets = dict(f["metrics"].attrs)
hold = list(csv.DictReader(open(f"{D}/cgp/holdout/manifest.csv")))
anom = []
for r in hold:
    tas = h5py.File(f"{D}/cgp/holdout/{r['output']}", "r")["tas"][...]
    anom.append(tas[-1] - tas[0:51].mean(axis=0))
w = np.cos(np.deg2rad(lat))[:, None] * np.ones((1, 8))
w = w / w.sum()
tot = np.mean([np.sqrt(np.sum(w * (P[i] - T[i]) ** 2)) / abs(np.sum(w * T[i])) +
               5 * abs(np.sum(w * (P[i] - T[i]))) / abs(np.sum(w * T[i])) for i in range(3)])
check(rc == 0 and np.max(np.abs(T - np.array(anom))) < 1e-9 and
      abs(mets["nrmse_total"] - tot) < 1e-9 * tot,
      f"pcagp on EBM fields: truth stored as the anomaly from each run's 1850-1900 mean, NRMSE "
      f"total {tot:.4f} = ClimateBench's formula with one record")

# ------------------------------------------------------------------ the pipeline end to end
tiny = write_config("validate_pipeline", open(heat).read().replace(f"dir = {D}/heat",
                                                                   f"dir = {D}/pipe"))
rc, out, err = sh(["pipeline", tiny, "validate.tolerance.rel_l2=0.05"], 2)
check(rc == 0 and "report: " in out and "validation_error.png" in out and
      os.path.exists(f"{D}/pipe/validation.md") and os.path.exists(f"{D}/pipe/model_pcagp.h5"),
      "kelvin pipeline: sweep, fit, validate in one command; prints the table and the report paths")
rc, out, err = sh(["pipeline", tiny], 2)
check(rc == 0 and err.count("0 to run") >= 2, "a second pipeline redoes no solve (sweep and "
      "held-out runs resumed)")
rc, out, _ = sh(["pipeline", tiny, "validate.tolerance.rel_l2=1e-9"])
check(rc == 1 and "**FAILED**" in out, "pipeline exits 1 when validation fails its tolerance")
finish()
