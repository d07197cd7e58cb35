"""Every file kelvin writes opens in netCDF tools: xarray (h5netcdf) with its coordinates, and
`ncdump -h` (netCDF-C) with named dimensions only (no phony_dim): run outputs, predictions,
validation.h5, manifest.h5 and model files. Predicted files record where they were predicted."""
import os
import shutil
import subprocess

import numpy as np
import xarray as xr

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "netcdf")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, ranks=1):
    cmd = ([*MPIRUN, "-n", str(ranks)] if ranks > 1 else []) + [KELVIN] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def ncdump(path):
    p = subprocess.run(["ncdump", "-h", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return p.returncode, p.stdout


def opens(path, what):
    """xarray opens it; ncdump reads it with named dimensions only."""
    try:
        ds = xr.open_dataset(path, engine="h5netcdf")
        ds.load()
        err = ""
    except Exception as e:  # noqa: BLE001 -- any failure to open is what is tested
        ds, err = None, str(e)[:200]
    rc, head = ncdump(path)
    check(ds is not None, f"xarray opens {what}{': ' + err if err else ''}")
    check(rc == 0 and "phony_dim" not in head,
          f"ncdump -h reads {what} with named dimensions only"
          + ("" if rc == 0 else f": {head[:200]}"))
    return ds


cfg = write_config("netcdf_heat", f"""[run]
model = heat
t_end = 0.05
dt = 0.001
output_every = 25
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
[sweep]
dir = {D}/sweep
method = lhs
samples = 12
seed = 3
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
[surrogate]
kind = pcagp
model = {D}/model.h5
[validate]
samples = 4
seed = 11
dir = {D}/validate
""")
rc, out, err = sh(["pipeline", cfg], 2)
check(rc in (0, 1), f"a small heat pipeline runs (exit {rc}) {err[-300:] if rc > 1 else ''}")

ds = opens(f"{D}/sweep/case_0000.h5", "a run output (case_0000.h5)")
if ds is not None:
    check(set(ds["T"].dims) == {"time", "y", "x"} and "x" in ds.coords and "y" in ds.coords,
          "run output: T over (time, y, x) with x, y coordinates")

m = opens(f"{D}/sweep/manifest.h5", "manifest.h5")
if m is not None:
    check("case" in m.dims and "heat.kappa" in m, "manifest: the varied keys over case")

v = opens(f"{D}/validate/validation.h5", "validation.h5")
if v is not None:
    T = v.get("T_truth")
    check(T is not None and T.dims == ("case", "y", "x") and T.attrs.get("units") == "K",
          "validation.h5: T_truth (case, y, x) in K")
    check(all(k in v and v[k].attrs.get("units") for k in ("T_prediction", "T_std")),
          "validation.h5: T_prediction and T_std with units")
    check("heat.kappa" in v.coords and v.coords["heat.kappa"].dims == ("case",)
          and "heat.bc_value" in v.coords,
          "validation.h5: the inputs are coordinates of the case dimension")
    check("rel_l2" in v and v["rel_l2"].attrs.get("units") == "1"
          and v["rmse"].attrs.get("units") == "K",
          "validation.h5: metrics are variables with units (rel_l2 in 1, rmse in K)")
    if T is not None:
        case0 = v.isel(case=0)
        kap = float(case0["heat.kappa"])
        check(0.2 <= kap <= 1.0, f"validation.h5: case 0's kappa {kap:.3f} is read by coordinate")

mdl = opens(f"{D}/model.h5", "a pcagp model file")

rc, out, err = sh(["predict", f"{D}/model.h5", "heat.kappa=0.37", "heat.bc_value=0.5",
                   "--output", f"{D}/pred.h5"])
p = opens(f"{D}/pred.h5", "a predicted field") if rc == 0 else None
check(rc == 0, f"predict a field (exit {rc}) {err[-200:]}")
if p is not None:
    at = p.attrs.get("predicted_at", "")
    check("heat.kappa = 0.37" in at and "heat.bc_value = 0.5" in at,
          f"the predicted file records the inputs it was predicted at ({at})")
    cfgtext = p.attrs.get("config", "")
    check("kappa = 0.37" in cfgtext and "\nkappa = 1" not in cfgtext,
          "its stored configuration is the predicted case, not the training base case")
    check(p.attrs.get("outside_training_box") == "no" and
          p.attrs.get("source_model", "").endswith("model.h5"),
          "it names its model file and says the point is inside the training box")
    check("standard_name" not in p["x"].attrs or p["x"].attrs["standard_name"] != "",
          "no empty standard_name on the coordinates")

rc, out, err = sh(["predict", f"{D}/model.h5", "heat.kappa=3", "heat.bc_value=0.5",
                   "--output", f"{D}/pred_out.h5"])
check(rc == 0 and "outside the training box" in err and "heat.kappa = 3" in err,
      "a prediction outside the training box warns, naming the input and the range")
if rc == 0:
    q = xr.open_dataset(f"{D}/pred_out.h5", engine="h5netcdf")
    check(q.attrs.get("outside_training_box") == "yes", "and the file is flagged")
finish()
