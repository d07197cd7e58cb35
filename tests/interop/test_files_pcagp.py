"""Fields from files kelvin did not write (surrogate.data = files): the final temperature fields of
a heat sweep, written by NumPy as netCDF files with an inputs table, give the same pcagp as the
sweep directory itself (the same prediction to round-off), and kelvin validate scores it on
held-out files (the stored truth is the files' fields; the RMSE is NumPy's recomputation)."""
import csv
import os
import shutil

import h5py
import numpy as np
from netCDF4 import Dataset

from kvtest import kelvin, OUT, check, finish, write_config

D = os.path.join(OUT, "files_pcagp")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args):
    return kelvin(args)


def sweep(name, samples, seed):
    return write_config(f"fp_{name}", f"""[run]
model = heat
t_end = 0.02
dt = 0.001
output_every = 100
[heat]
dims = 2
n = 24, 16
length = 1.5, 1.0
bc = dirichlet
initial = gaussian(0.5, 0.5, 0.1, 100)
source = gaussian(1.0, 0.3, 0.08, 200)
scheme = cn
solver = fft
[sweep]
method = lhs
samples = {samples}
seed = {seed}
vary = heat.kappa:0.2:2.0, heat.bc_value:0:1
dir = {D}/{name}
[surrogate]
kind = pcagp
kernel = matern52
energy = 0.999999
cv_folds = 0
""")


def export(sweep_dir, out_dir, table):
    """Each done case's final T as run_NNN.nc (x, y coordinates; netCDF-4 and netCDF-3 files
    alternate), its inputs as a row of table."""
    os.makedirs(out_dir, exist_ok=True)
    rows = list(csv.DictReader(open(os.path.join(sweep_dir, "manifest.csv"))))
    with open(table, "w") as t:
        t.write("heat.kappa,heat.bc_value\n")
        for i, r in enumerate(rows):
            with h5py.File(os.path.join(sweep_dir, r["output"]), "r") as f:
                T, x, y = f["T"][-1], f["x"][...], f["y"][...]
            fmt = "NETCDF4" if i % 2 == 0 else "NETCDF3_CLASSIC"
            with Dataset(os.path.join(out_dir, f"run_{i:03d}.nc"), "w", format=fmt) as nc:
                nc.createDimension("y", len(y))
                nc.createDimension("x", len(x))
                for n, v in (("x", x), ("y", y)):
                    c = nc.createVariable(n, "f8", (n,))
                    c.units = "m"
                    c[:] = v
                v = nc.createVariable("T", "f8", ("y", "x"))
                v.units = "K"
                v[:] = T
            t.write(f"{r['heat.kappa']},{r['heat.bc_value']}\n")


train = sweep("train", 14, 3)
rc, _ = sh(["-q", "sweep", train])
check(rc == 0, "the heat sweep runs")
rc, _ = sh(["-q", "fit", train])
check(rc == 0, "pcagp fitted on the sweep directory")
export(f"{D}/train", f"{D}/files", f"{D}/design.csv")
files_cfg = write_config("fp_files", f"""[surrogate]
kind = pcagp
data = files
files = {D}/files/run_*.nc
inputs_table = {D}/design.csv
field = T
kernel = matern52
energy = 0.999999
cv_folds = 0
model = {D}/model_files.h5
[validate]
files = {D}/held/run_*.nc
inputs_table = {D}/held.csv
dir = {D}/val
""")
rc, _ = sh(["-q", "fit", files_cfg])
check(rc == 0, "pcagp fitted on netCDF files (netCDF-4 and netCDF-3) with an inputs table")
pts = f"{D}/points.csv"
with open(pts, "w") as f:
    f.write("heat.kappa,heat.bc_value\n0.5,0.25\n1.2,0.8\n1.9,0.1\n")
preds = []
for m in (f"{D}/train/model_pcagp.h5", f"{D}/model_files.h5"):
    for i, (k, b) in enumerate(((0.5, 0.25), (1.2, 0.8), (1.9, 0.1))):
        out = f"{D}/pred_{os.path.basename(m)}_{i}.h5"
        rc, _ = sh(["-q", "predict", m, f"heat.kappa={k}", f"heat.bc_value={b}", "--output", out])
        with h5py.File(out, "r") as f:
            preds.append((f["T"][...].ravel(), f["T_std"][...].ravel()))
a, b = preds[:3], preds[3:]
dmean = max(np.abs(x[0] - y[0]).max() for x, y in zip(a, b))
scale = max(np.abs(x[0]).max() for x in a)
check(dmean <= 1e-9 * scale,
      f"the pcagp of the files predicts as the pcagp of the sweep (max diff {dmean:.2e} of "
      f"{scale:.3g})")
dstd = max(np.abs(x[1] - y[1]).max() for x, y in zip(a, b))
check(dstd <= 1e-8 * scale, f"and the same uncertainty (max diff {dstd:.2e})")
with h5py.File(f"{D}/model_files.h5", "r") as f, h5py.File(f"{D}/train/case_0000.h5", "r") as c:
    var = f["/field"].attrs["var"]
    var = var.decode() if isinstance(var, bytes) else var
    same_axes = (np.array_equal(f["/field/axis_0"][...], c["x"][...]) and
                 np.array_equal(f["/field/axis_1"][...], c["y"][...]))
check(var == "T" and same_axes, "the model of files keeps the field's name and coordinates")

held = sweep("held", 4, 77)
rc, _ = sh(["-q", "sweep", held])
export(f"{D}/held", f"{D}/held", f"{D}/held.csv")
rc, out = sh(["-q", "validate", files_cfg])
check(rc == 0, "kelvin validate scores the model of files on held-out files")
with h5py.File(f"{D}/val/validation.h5", "r") as f:
    truth, pred = f["T_truth"][...], f["T_prediction"][...]
    rmse = float(f["rmse"][()])
ref = []
for i in range(4):
    with Dataset(f"{D}/held/run_{i:03d}.nc") as nc:
        ref.append(np.array(nc["T"][...]))
ref = np.array(ref)
check(np.abs(truth.reshape(ref.shape) - ref).max() == 0, "its truth is the held-out files' fields")
mine = np.mean(np.sqrt(np.mean((pred.reshape(4, -1) - ref.reshape(4, -1)) ** 2, axis=1)))
check(abs(rmse - mine) < 1e-12 * max(1, mine), f"its RMSE {rmse:.4g} equals NumPy's {mine:.4g}")

bad = write_config("fp_bad", open(files_cfg).read().replace("design.csv", "held.csv"))
rc, out = sh(["-q", "fit", bad])
check(rc == 2 and "held.csv has 4 rows but 14 files" in out,
      "a table whose rows do not match the files is refused, naming both")
finish()
