"""ClimateBench-layout files (surrogate.data = files): a synthetic set in ClimateBench's layout is
written from kelvin's own EBM ensemble (tests/tools/climatebench_set.py; the inputs as netCDF-3,
the outputs as netCDF-4), kelvin fits the two-stage linear pattern scaling (global mean on
cumulative CO2, local on global) and validates it on the held-out ssp245. A NumPy implementation
of the same two stages gives the same maps, global fit and predictions to 1e-10, and the
ClimateBench NRMSE recomputed by NumPy from the truth and prediction equals kelvin's."""
import os
import shutil
import sys

import h5py
import numpy as np
from netCDF4 import Dataset

from kvtest import kelvin, OUT, ROOT, check, finish, write_config

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import climatebench_set  # noqa: E402

D = os.path.join(OUT, "climatebench")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
SCEN = os.path.join(ROOT, "configs", "scenarios")


def sh(args):
    return kelvin(args)


ens = write_config("cb_ensemble", f"""[run]
model = ebm
year_start = 1850
year_end = 2100
steps_per_year = 4
[ebm]
nlat = 12
nlon = 24
insolation = seasonal
albedo = smooth
land_mask = idealized
scenario = ssp245
scenario_dir = {SCEN}
noise_std = 1.0
T_init = legendre(14, -40)
[sweep]
method = ensemble
scenarios = ssp126, ssp245, ssp370, ssp585
members = 2
seed = 4
dir = {D}/ensemble
""")
rc, out = sh(["-q", "sweep", ens])
check(rc == 0, "the EBM ensemble behind the synthetic set runs")
SET = os.path.join(D, "set")
climatebench_set.write(SET, os.path.join(D, "ensemble"), SCEN, "NETCDF3_64BIT_OFFSET")
with Dataset(os.path.join(SET, "outputs_ssp245.nc")) as f:
    layout_ok = (f["tas"].dimensions == ("member", "time", "lat", "lon") and
                 f["time"].calendar == "noleap" and f["tas"].units == "K")
with Dataset(os.path.join(SET, "inputs_ssp245.nc")) as f:
    layout_ok &= (f["CO2"].dimensions == ("time",) and f["SO2"].dimensions == ("time", "lat", "lon")
                  and f.file_format == "NETCDF3_64BIT_OFFSET")
check(layout_ok, "the synthetic set has ClimateBench's layout (names, dims, units, calendar)")

TRAIN = ["ssp126", "ssp370", "ssp585"]
cfg = write_config("cb_pattern", f"""[surrogate]
kind = pattern
data = files
files = {SET}
field = tas
train_scenarios = {", ".join(TRAIN)}
global = cumulative_co2
spinup = 5
model = {D}/model_pattern.h5
[validate]
scenarios = ssp245
years = 2080:2100
dir = {D}/val
""")
rc, out = sh(["-q", "fit", cfg])
check(rc == 0, "kelvin fit: pattern on a ClimateBench-style set of files")
rc, out = sh(["-q", "validate", cfg])
check(rc == 0, "kelvin validate: the held-out scenario of the set")


# ---------------------------------------------------------------- NumPy, the same two stages
def read(name, var):
    with Dataset(os.path.join(SET, f"{name}.nc")) as f:
        return np.array(f[var][...], dtype=float), np.array(f["time"][...]), np.array(f["lat"][...])


def scenario(s):
    h, th, lat = read("outputs_historical", "tas")
    o, to, _ = read(f"outputs_{s}", "tas")
    ch, _, _ = read("inputs_historical", "CO2")
    co, _, _ = read(f"inputs_{s}", "CO2")
    y = np.concatenate([h.mean(axis=0), o.mean(axis=0)])  # (time, lat, lon)
    years = 1850 + np.floor(np.concatenate([th, to]) / 365.0).astype(int)
    return y.reshape(len(years), -1), np.concatenate([ch, co]), years, lat


Ys, Cs = [], []
for s in TRAIN:
    y, c, years, lat = scenario(s)
    Ys.append(y)
    Cs.append(c)
nlon = 24
w = np.repeat(np.cos(np.deg2rad(lat)), nlon)
spin = 5
ctrl_sel = (years >= 1850 + spin) & (years <= 1900)  # the spin-up years are not control
control = np.mean([y[ctrl_sel] for y in Ys], axis=(0, 1))
spin = 5
A, B, G1, C1 = [], [], [], []
for y, c in zip(Ys, Cs):
    an = y - control
    g = an @ w / w.sum()
    G1.append(g[spin:])
    C1.append(c[spin:])
    A.append(np.column_stack([np.ones(len(g) - spin), g[spin:]]))
    B.append(an[spin:])
g_all, c_all = np.concatenate(G1), np.concatenate(C1)
stage1, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(c_all), c_all]), g_all, rcond=None)
maps, *_ = np.linalg.lstsq(np.vstack(A), np.vstack(B), rcond=None)

with h5py.File(f"{D}/model_pattern.h5", "r") as f:
    kc = f["/pattern/coefficients"][...].reshape(2, -1)
    kctl = f["/pattern/control"][...].ravel()
    c0, q1 = f["/pattern"].attrs["c"], f["/pattern"].attrs["q1"]
scale = np.abs(maps).max()
check(np.abs(kctl - control).max() < 1e-10 * np.abs(control).max(),
      "control climate equals NumPy's 1855-1900 mean (after the spin-up)")
check(abs(c0 - stage1[0]) < 1e-10 * max(1, abs(stage1[0])) and
      abs(q1 - stage1[1]) < 1e-10 * abs(stage1[1]),
      f"stage 1 (global mean on cumulative CO2) equals NumPy's least squares "
      f"({c0:.6g} + {q1:.6g} CO2)")
check(np.abs(kc - maps).max() < 1e-10 * scale,
      f"stage 2 maps equal NumPy's least squares to 1e-10 (max diff {np.abs(kc - maps).max():.2e})")

y, c, years, _ = scenario("ssp245")
pred = maps[0] + np.outer(stage1[0] + stage1[1] * c, maps[1])
truth = y - control
win = (years >= 2080) & (years <= 2100)
with h5py.File(f"{D}/val/validation.h5", "r") as f:
    kt = f["tas_truth"][...].reshape(np.sum(win), -1)
    kp = f["tas_prediction"][...].reshape(np.sum(win), -1)
    metrics = {k: float(f["metrics"].attrs[k]) for k in f["metrics"].attrs
               if k.startswith("nrmse")}
check(np.abs(kt - truth[win]).max() < 1e-10 * np.abs(truth).max(),
      "the held-out truth (ssp245 member mean, anomaly) equals NumPy's")
check(np.abs(kp - pred[win]).max() < 1e-10 * np.abs(pred).max(),
      f"the prediction of ssp245 equals NumPy's two-stage prediction to 1e-10 "
      f"(max diff {np.abs(kp - pred[win]).max():.2e})")

# ClimateBench's NRMSE (Watson-Parris et al. 2022), cos(lat) weights, 2080-2100.
wn = w / w.sum()
T, P = truth[win], pred[win]
spatial = np.sqrt(((T.mean(0) - P.mean(0)) ** 2) @ wn) / np.abs(T.mean(0) @ wn)
glob = np.sqrt(np.mean((T @ wn - P @ wn) ** 2)) / np.abs(T.mean(0) @ wn)
total = spatial + 5 * glob
for name, ref in (("nrmse_spatial", spatial), ("nrmse_global", glob), ("nrmse_total", total)):
    check(abs(metrics[name] - ref) < 1e-10 * max(1.0, abs(ref)),
          f"{name} = {metrics[name]:.6g} equals NumPy's recomputation {ref:.6g}")

# kelvin predict of a scenario of the set: every year, equal to NumPy's prediction.
rc, out = sh(["-q", "predict", f"{D}/model_pattern.h5", "scenario=ssp245", "--output",
              f"{D}/ssp245.h5"])
ok = rc == 0
if ok:
    import xarray as xr
    with xr.open_dataset(f"{D}/ssp245.h5", engine="h5netcdf") as ds:
        kp = ds["tas"].values.reshape(len(years), -1)
        ok = kp.shape == pred.shape and np.abs(kp - pred).max() < 1e-10 * np.abs(pred).max()
check(ok, "kelvin predict scenario=ssp245 of the set writes every year's anomaly, equal to NumPy's "
      "and readable by xarray")

# Errors name the file.
bad = write_config("cb_bad", open(cfg).read().replace("ssp126, ", "ssp999, "))
rc, out = sh(["-q", "fit", bad])
check(rc == 2 and "outputs_ssp999.nc" in out, "a missing scenario file is named (exit 2)")
finish()
