"""GP surrogates against scikit-learn (Debian python3-sklearn): fixed hyperparameters give the same
LML, mean and std for every kernel (raw and normalised), optimisation reaches at least
scikit-learn's optimum; kelvin predict by name=value and by CSV; bad training data; PCA + GP on a
heat sweep: training fields reproduced, a held-out case predicted, the field file readable.
"""
import csv
import os
import shutil
import subprocess

import h5py
import numpy as np
import xarray as xr
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "gp")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, ranks=1):
    cmd = [KELVIN] + args
    if ranks > 1:
        cmd = MPIRUN + ["-n", str(ranks)] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def f(X):
    return np.sin(2 * X[:, 0]) + np.cos(3 * X[:, 1]) * X[:, 2] + 0.3 * X[:, 3] ** 2


rng = np.random.default_rng(7)
n, d = 60, 4
X = rng.uniform(-1, 2, size=(n, d))
y = f(X) + 0.02 * rng.standard_normal(n)
Xt = rng.uniform(-1, 2, size=(40, d))
names = [f"p{k}" for k in range(d)]


def write_csv(path, cols, rows):
    with open(path, "w") as fh:
        fh.write(",".join(cols) + "\n")
        for r in rows:
            fh.write(",".join(repr(float(v)) for v in r) + "\n")


write_csv(f"{D}/train.csv", names + ["y"], np.column_stack([X, y]))
write_csv(f"{D}/test.csv", names, Xt)


def fit(name, **kw):
    keys = dict(kind="gp", data=f"{D}/train.csv", inputs=",".join(names), output="y",
                model=f"{D}/{name}.h5")
    keys.update(kw)
    cfg = write_config("gp_" + name, "[surrogate]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    rc, out, err = sh(["fit", cfg])
    if rc != 0:
        print("# " + (out + err).strip().replace("\n", "\n# "))
    return rc, out, f"{D}/{name}.h5"


def predict_csv(model):
    rc, _, err = sh(["predict", model, "--input", f"{D}/test.csv", "--output", f"{D}/pred.csv"])
    if rc != 0:
        print("# " + err.strip())
        return None
    return np.loadtxt(f"{D}/pred.csv", delimiter=",", skiprows=1)


def rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


ell, s2, n2 = 0.8, 1.7, 0.01
kernels = {"se": RBF([ell] * d, "fixed"), "matern32": Matern([ell] * d, "fixed", nu=1.5),
           "matern52": Matern([ell] * d, "fixed", nu=2.5)}
for kname, kern in kernels.items():
    # Raw data: exactly scikit-learn's normalize_y=False model.
    rc, out, model = fit(f"fixed_{kname}", kernel=kname, normalize="false", noise=n2,
                         bounds=f"length={ell}:{ell}, signal={s2}:{s2}, noise=1e-10:1",
                         restarts=0)
    sk = GaussianProcessRegressor(ConstantKernel(s2, "fixed") * kern + WhiteKernel(n2, "fixed"),
                                  optimizer=None).fit(X, y)
    mu, sd = sk.predict(Xt, return_std=True)
    with h5py.File(model, "r") as fh:
        lml = fh["gp"].attrs["lml_data"]
    p = predict_csv(model)
    check(rc == 0 and abs(lml - sk.log_marginal_likelihood_value_) <=
          1e-8 * abs(sk.log_marginal_likelihood_value_),
          f"{kname}, fixed hyperparameters, raw: LML {lml:.12g} = scikit-learn's "
          f"{sk.log_marginal_likelihood_value_:.12g} (1e-8)")
    check(p is not None and rel(p[:, 0], mu) < 1e-8 and rel(p[:, 1], sd) < 1e-8,
          f"{kname}, fixed hyperparameters, raw: mean and std of 40 predictions = scikit-learn's "
          f"(max rel. diff {rel(p[:, 0], mu) if p is not None else -1:.1e}, "
          f"{rel(p[:, 1], sd) if p is not None else -1:.1e})")
    # Normalised: inputs to the unit box (training min/max), outputs standardised, which is
    # scikit-learn's normalize_y=True on pre-scaled inputs.
    rc, out, model = fit(f"norm_{kname}", kernel=kname, normalize="true", noise=n2,
                         bounds=f"length={ell}:{ell}, signal={s2}:{s2}, noise=1e-10:1",
                         restarts=0)
    lo, hi = X.min(axis=0), X.max(axis=0)
    sk = GaussianProcessRegressor(ConstantKernel(s2, "fixed") * kern + WhiteKernel(n2, "fixed"),
                                  optimizer=None, normalize_y=True).fit((X - lo) / (hi - lo), y)
    mu, sd = sk.predict((Xt - lo) / (hi - lo), return_std=True)
    with h5py.File(model, "r") as fh:
        lml = fh["gp"].attrs["lml"]
        lml_data = fh["gp"].attrs["lml_data"]
    p = predict_csv(model)
    check(rc == 0 and abs(lml - sk.log_marginal_likelihood_value_) <=
          1e-8 * abs(sk.log_marginal_likelihood_value_) and
          abs(lml_data - (lml - n * np.log(y.std()))) < 1e-8 * abs(lml_data),
          f"{kname}, fixed hyperparameters, normalised: LML = scikit-learn's normalize_y=True "
          "on unit-box inputs; data-units LML adds -n log(std y)")
    check(p is not None and rel(p[:, 0], mu) < 1e-8 and rel(p[:, 1], sd) < 1e-8,
          f"{kname}, fixed hyperparameters, normalised: predictions = scikit-learn's")

# Optimised: at least scikit-learn's optimum on the same data and settings.
for kname, base in (("se", RBF([1.0] * d)), ("matern52", Matern([1.0] * d, nu=2.5))):
    sk = GaussianProcessRegressor(ConstantKernel(1.0) * base + WhiteKernel(1.0),
                                  random_state=0).fit(X, y)
    rc, out, model = fit(f"opt_{kname}", kernel=kname, normalize="false",
                         bounds="length=1e-5:1e5, signal=1e-5:1e5, noise=1e-5:1e5", restarts=3)
    with h5py.File(model, "r") as fh:
        lml = fh["gp"].attrs["lml_data"]
    check(rc == 0 and lml >= sk.log_marginal_likelihood_value_ - 1e-3,
          f"{kname}, optimised, same data and bounds: LML {lml:.6f} >= scikit-learn's optimum "
          f"{sk.log_marginal_likelihood_value_:.6f} - 1e-3")
    check("LML" in out and "length scales: p0=" in out and "noise variance" in out,
          f"{kname}: kelvin fit prints the hyperparameters and the LML")
rc, out, model = fit("default")
p = predict_csv(model)
rmse = float(np.sqrt(np.mean((p[:, 0] - f(Xt)) ** 2))) if p is not None else 1e9
sk = GaussianProcessRegressor(ConstantKernel(1.0) * Matern([1.0] * d, nu=2.5) + WhiteKernel(1.0),
                              normalize_y=True, random_state=0).fit(X, y)
rmse_sk = float(np.sqrt(np.mean((sk.predict(Xt) - f(Xt)) ** 2)))
check(rc == 0 and rmse <= 1.05 * rmse_sk, f"defaults (matern52, normalised, noise fitted): test "
      f"RMSE {rmse:.4f} no worse than scikit-learn's Matern 5/2 with normalize_y ({rmse_sk:.4f})")
rc, out, err = sh(["predict", model] + [f"{nm}={v}" for nm, v in zip(names, Xt[0])])
vals = out.split()
check(rc == 0 and len(vals) == 2 and abs(float(vals[0]) - p[0, 0]) < 1e-8 * max(1, abs(p[0, 0]))
      and abs(float(vals[1]) - p[0, 1]) < 1e-8 * max(1, p[0, 1]),
      "kelvin predict name=value prints 'mean std', equal to the CSV route")
rc, _, err = sh(["predict", model, "p0=1", "p1=1", "p2=1"])
check(rc == 2 and "missing p3" in err, "predict: a missing input is named")
rc, _, err = sh(["predict", model, "p0=1", "p1=1", "p2=1", "p3=1", "q=2"])
check(rc == 2 and "'q' is not an input" in err, "predict: an unknown input is named")
write_csv(f"{D}/test_reordered.csv", ["extra"] + names[::-1], np.column_stack([Xt[:, 0], Xt[:, ::-1]]))
rc, _, _ = sh(["predict", model, "--input", f"{D}/test_reordered.csv", "--output", f"{D}/pred2.csv"])
p2 = np.loadtxt(f"{D}/pred2.csv", delimiter=",", skiprows=1) if rc == 0 else None
check(p2 is not None and np.array_equal(p2, p), "predict --input matches columns by header name "
      "(reordered, extra column ignored)")

# Bad training data: named by line and column.
bad = {
    "nan": ("p0,p1,y\n1,2,3\n2,nan,4\n3,1,5\n4,5,6\n", "line 3" if False else ":3: column 'p1'"),
    "text": ("p0,p1,y\n1,2,3\n2,abc,4\n3,1,5\n4,5,6\n", ":3: column 'p1': 'abc' is not a number"),
    "constant": ("p0,p1,y\n1,2,3\n2,2,4\n3,2,5\n4,2,6\n", "input column 'p1' is constant"),
    "duplicate": ("p0,p1,y\n1,2,3\n2,3,4\n1,2,5\n4,5,6\n", "line 2 and line 4 have the same inputs"),
    "few rows": ("p0,p1,y\n1,2,3\n2,3,4\n", "2 rows for 2 inputs"),
    "missing column": ("p0,q,y\n1,2,3\n2,3,4\n3,1,5\n4,5,6\n", "no column 'p1'"),
    "ragged": ("p0,p1,y\n1,2,3\n2,3\n3,1,5\n", ":3: 2 values, the header has 3"),
}
for what, (text, expect) in bad.items():
    path = f"{D}/bad_{what.replace(' ', '_')}.csv"
    with open(path, "w") as fh:
        fh.write(text)
    cfg = write_config("gp_bad", f"[surrogate]\nkind = gp\ndata = {path}\ninputs = p0, p1\n"
                       f"output = y\nmodel = {D}/bad.h5\n")
    rc, _, err = sh(["fit", cfg])
    check(rc == 2 and expect in err and not os.path.exists(f"{D}/bad.h5"),
          f"bad data ({what}): exit 2, '{expect}'")
    if expect not in err:
        print("# " + err.strip())
cfg = write_config("gp_badkey", "[surrogate]\nkind = gp\nkernel = rbf\n")
rc, _, err = sh(["fit", cfg])
check(rc == 2 and "gp_badkey.ini:3" in err and "surrogate.kernel" in err,
      "a bad [surrogate] key names file:line and key")
cfg = write_config("gp_badbounds", f"[surrogate]\nkind = gp\ndata = {D}/train.csv\ninputs = p0\n"
                   f"output = y\nmodel = {D}/x.h5\nbounds = length=1:0.5\n")
rc, _, err = sh(["fit", cfg])
check(rc == 2 and "surrogate.bounds" in err, "bad bounds are named")

# ------------------------------------------------------------------ PCA + GP on a heat sweep
sweep_cfg = write_config("gp_heat_sweep", f"""[run]
model = heat
t_end = 0.05
dt = 0.001
output_every = 1000
[heat]
dims = 2
n = 24, 16
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
[sweep]
dir = {D}/heat
method = lhs
samples = 30
seed = 3
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
[surrogate]
kind = pcagp
kernel = matern52
""")
rc, _, err = sh(["sweep", sweep_cfg], 2)
check(rc == 0, "training sweep: 30 heat cases")
rc, out, err = sh(["fit", sweep_cfg])
model = f"{D}/heat/model_pcagp.h5"
check(rc == 0 and os.path.exists(model) and "pca:" in out and "mode 0" in out,
      "kelvin fit (pcagp) on the sweep directory writes runs/<name>/model_pcagp.h5")
if rc != 0:
    print("# " + err.strip().replace("\n", "\n# "))
with open(f"{D}/heat/manifest.csv") as fh:
    rows = list(csv.DictReader(fh))
with h5py.File(model, "r") as fh:
    mean, modes = fh["pca/mean"][...].ravel(), fh["pca/modes"][...]
    modes_are_maps = modes.ndim == 3 and fh["pca/modes"].dims[2][0].name.endswith("x")
    modes = modes.reshape(modes.shape[0], -1)
    energy = fh["pca"].attrs["energy"]
check(modes_are_maps and abs(np.linalg.norm(modes @ modes.T - np.eye(len(modes)))) < 1e-10 and
      energy >= 0.9999,
      f"pca: {len(modes)} orthonormal modes (maps over y, x) keep {energy:.6f} >= surrogate.energy of the variance")
worst = 0.0
for r in rows[:8]:
    pred = f"{D}/train_pred.h5"
    sh(["predict", model, f"heat.kappa={r['heat.kappa']}", f"heat.bc_value={r['heat.bc_value']}",
        "--output", pred])
    with h5py.File(pred, "r") as a, h5py.File(f"{D}/heat/{r['output']}", "r") as b:
        truth = b["T"][-1].ravel()
        err = np.linalg.norm(a["T"][-1].ravel() - truth)
        proj = mean + modes.T @ (modes @ (truth - mean))   # the best the kept modes can do
        perr = np.linalg.norm(proj - truth)
        worst = max(worst, (err - perr) / np.linalg.norm(truth))
check(worst < 1e-5, f"pcagp reproduces training fields up to the truncation of the modes "
      f"(prediction error minus projection error <= {worst:.1e} of the field norm)")
rc, _, _ = sh(["run", sweep_cfg, f"run.output={D}/held.h5", "heat.kappa=0.55", "heat.bc_value=0.35"])
rc2, out, err = sh(["predict", model, "heat.kappa=0.55", "heat.bc_value=0.35", "--output",
                    f"{D}/held_pred.h5"])
with h5py.File(f"{D}/held_pred.h5", "r") as a, h5py.File(f"{D}/held.h5", "r") as b:
    e = np.linalg.norm(a["T"][-1] - b["T"][-1]) / np.linalg.norm(b["T"][-1])
    sd = a["T_std"][-1]
    err_max = np.max(np.abs(a["T"][-1] - b["T"][-1]))
    same_layout = (a["T"].shape[1:] == b["T"].shape[1:] and np.array_equal(a["x"][...], b["x"][...])
                   and a["T"].attrs["units"] == b["T"].attrs["units"]
                   and a["time"][-1] == b["time"][-1])
check(rc == 0 and rc2 == 0 and e < 1e-2, f"pcagp predicts a held-out case (kappa 0.55, bc 0.35) "
      f"within 1e-2 relative L2 (got {e:.2e})")
check(np.all(sd >= 0) and np.max(sd) > 0 and err_max < 6 * np.max(sd) + 1e-6,
      f"pointwise std is non-negative and covers the error (max error {err_max:.2e}, "
      f"max std {np.max(sd):.2e})")
check(same_layout, "the predicted field has the training layout: shape, coordinates, units, time")
ds = xr.open_dataset(f"{D}/held_pred.h5", engine="h5netcdf")
check(ds["T"].dims == ("time", "y", "x") and "T_std" in ds, "xarray reads the predicted field "
      "with its coordinates")
ds.close()
rc, out, _ = sh(["info", f"{D}/held_pred.h5"])
check(rc == 0 and "/T_std" in out, "kelvin info describes it")
sh(["predict", model, "heat.kappa=0.55", "heat.bc_value=0.35", "--output", f"{D}/held_pred2.h5"])
rc, _, _ = sh(["compare", f"{D}/held_pred.h5", f"{D}/held_pred2.h5", "--rtol", "0", "--atol", "0"])
check(rc == 0, "kelvin compare works on predictions (two predictions identical)")
rc, out, _ = sh(["fit", sweep_cfg, "surrogate.kind=gp", "surrogate.qoi=T_max",
                 f"surrogate.model={D}/tmax.h5"])
rc2, out2, _ = sh(["predict", f"{D}/tmax.h5", "heat.kappa=0.55", "heat.bc_value=0.35"])
with h5py.File(f"{D}/held.h5", "r") as b:
    tmax = float(np.max(b["T"][-1]))
m = float(out2.split()[0]) if rc2 == 0 else 1e9
check(rc == 0 and abs(m - tmax) < 0.02 * abs(tmax), f"gp on the sweep's QoI T_max predicts the "
      f"held-out case ({m:.4f} vs {tmax:.4f})")
# PCA + GP on a climate-model sweep: the prediction is a (time, lat, lon) field on the sphere.
ebm_cfg = write_config("gp_ebm_sweep", f"""[run]
model = ebm
year_start = 1850
year_end = 1852
steps_per_year = 6
[ebm]
nlat = 12
nlon = 8
land_mask = idealized
[sweep]
dir = {D}/ebm
method = lhs
samples = 10
seed = 2
vary = ebm.forcing:0:4
[surrogate]
kind = pcagp
""")
rc1, _, _ = sh(["sweep", ebm_cfg], 2)
rc2, out, err = sh(["fit", ebm_cfg])
rc3, _, _ = sh(["predict", f"{D}/ebm/model_pcagp.h5", "ebm.forcing=2.5", "--output", f"{D}/ebm_pred.h5"])
ok = rc1 == 0 and rc2 == 0 and rc3 == 0
if ok:
    ds = xr.open_dataset(f"{D}/ebm_pred.h5", engine="h5netcdf")
    ok = (ds["tas"].dims == ("time", "lat", "lon") and ds["lat"].attrs.get("units") == "degrees_north"
          and ds.sizes["lat"] == 12 and ds.sizes["lon"] == 8 and str(ds["time"].values[0])[:4] == "1852")
    ds.close()
check(ok, "pcagp on an EBM sweep: the predicted tas has (time, lat, lon), CF coordinates and the "
      "noleap time of the training fields (xarray + cftime)")
rc, out, _ = sh(["info", f"{D}/ebm/model_pcagp.h5"])
check(rc == 0 and "kind" in out and "mode_0000" in out, "kelvin info describes a model file")
finish()
