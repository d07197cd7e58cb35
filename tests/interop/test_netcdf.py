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
if mdl is not None:
    pca = xr.open_dataset(f"{D}/model.h5", engine="h5netcdf", group="pca")
    check(pca["modes"].dims == ("mode", "y", "x") and "x" in mdl.coords and "y" in mdl.coords,
          f"the model file's PCA modes are maps over (mode, y, x) with the x, y coordinates "
          f"({pca['modes'].dims})")

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
# ---- CF metadata
ebm = write_config("netcdf_ebm", f"""[run]
model = ebm
output = {D}/ebm.h5
year_start = 1850
year_end = 1853
steps_per_year = 10
[ebm]
nlat = 12
nlon = 24
scenario = ssp245
""")
rc, _, err = sh(["run", ebm])
e = opens(f"{D}/ebm.h5", "an ebm run output") if rc == 0 else None
check(rc == 0, f"a small ebm run (exit {rc}) {err[-200:]}")
if e is not None:
    ok = all(e[c].attrs.get("bounds") == f"{c}_bnds" and e[f"{c}_bnds"].dims == (c, "bnds")
             for c in ("lat", "lon"))
    lb = e["lat_bnds"].values
    ok &= bool(lb.min() >= -90 and lb.max() <= 90 and np.all(lb[:, 0] < lb[:, 1]))
    check(ok, "lat_bnds / lon_bnds (cell edges, within the poles) named by the coordinates' bounds")
    raw = xr.open_dataset(f"{D}/ebm.h5", engine="h5netcdf", decode_times=False)
    tb = raw["time_bnds"].values
    check(raw["time"].attrs.get("bounds") == "time_bnds" and
          np.allclose(tb[:, 1] - tb[:, 0], 365.0) and
          np.allclose(0.5 * (tb[:, 0] + tb[:, 1]), raw["time"].values),
          "time_bnds: each annual-mean record covers its 365-day year")
    check(e["tas"].attrs.get("standard_name") == "air_temperature" and
          e["tas"].attrs.get("cell_methods") == "time: mean" and
          "area: mean" in e["tas_global"].attrs.get("cell_methods", ""),
          "tas: standard_name air_temperature, cell_methods 'time: mean'; tas_global 'area: mean'")
    check("diagnostics_toa_imbalance" in e and
          np.array_equal(e["diagnostics_toa_imbalance"].values,
                         xr.open_dataset(f"{D}/ebm.h5", engine="h5netcdf",
                                         group="diagnostics")["toa_imbalance"].values),
          "diagnostics are also root variables, for tools that read no groups")
    h = e.attrs.get("history", "")
    check(" run " in h and "netcdf_ebm.ini" in h and h[:4].isdigit(),
          f"history names the command that made the file: {h[:90]}")
for f, what in ((f"{D}/model.h5", "model file"), (f"{D}/validate/validation.h5", "validation.h5"),
                (f"{D}/pred.h5", "prediction"), (f"{D}/sweep/manifest.h5", "manifest")):
    try:
        hist = xr.open_dataset(f, engine="h5netcdf").attrs.get("history", "")
    except Exception:  # noqa: BLE001
        hist = ""
    check("kelvin" in hist and any(c in hist for c in (" fit ", " predict ", " pipeline ",
                                                       " sweep ", " validate ")),
          f"the {what} records its history: {hist[:80]}")

rc, _, err = sh(["run", ebm, f"run.output={D}/ebm32.h5", "run.compress=4",
                 "run.precision=float32"], 2)
if check(rc == 0, f"run.compress = 4, run.precision = float32 on 2 ranks (exit {rc}) {err[-200:]}"):
    import h5py
    with h5py.File(f"{D}/ebm32.h5") as f32, h5py.File(f"{D}/ebm.h5") as f64:
        t32, t64 = f32["tas"], f64["tas"]
        check(t32.dtype == np.float32 and t32.compression == "gzip" and t32.shuffle,
              "tas stored as float32 with shuffle + deflate")
        check(np.allclose(t32[...], t64[...], rtol=1e-6, atol=0),
              "and equal to the float64 run within float32 rounding")

# ---- a sweep's case files concatenate along "case" by their own variables
# (xr.open_mfdataset does the same given dask, which Debian's python3-xarray leaves optional.)
files = sorted(f"{D}/sweep/{f}" for f in os.listdir(f"{D}/sweep") if f.startswith("case_"))
ds = xr.concat([xr.open_dataset(f, engine="h5netcdf") for f in files], dim="case",
               data_vars="minimal", coords="minimal", compat="override")
import csv
rows = list(csv.DictReader(open(f"{D}/sweep/manifest.csv")))
check(ds["T"].dims[0] == "case" and ds.sizes["case"] == len(rows) and
      np.allclose(ds["heat.kappa"].values, [float(r["heat.kappa"]) for r in rows]) and
      list(ds["case"].values) == [int(r["case"]) for r in rows],
      "xr.concat(case files, dim='case'): T over case with each case's number and kappa, "
      "no manifest join")
finish()
