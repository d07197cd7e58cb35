"""Response surfaces and the better GP against independent peers on the same data: `poly` equals
NumPy's least squares on the same Legendre design; a GP with a linear trend equals OpenTURNS'
universal kriging at the same hyperparameters (mean and variance, trend uncertainty included);
cross-validation is printed and stored in the model file; a log-transformed GP's 95 % intervals
hold their nominal coverage on lognormal data; impossible settings are refused by key."""
import os
import subprocess

import h5py
import numpy as np
from numpy.polynomial import legendre

from kvtest import KELVIN, OUT, check, finish, write_config


def sh(args):
    p = subprocess.run([KELVIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def csv(name, X, y=None, names=None):
    path = os.path.join(OUT, name)
    cols = names or [f"x{j}" for j in range(X.shape[1])]
    data = X if y is None else np.c_[X, y]
    hdr = ",".join(cols + ([] if y is None else ["y"]))
    np.savetxt(path, data, delimiter=",", header=hdr, comments="", fmt="%.17g")
    return path


def fit(name, data, inputs, extra):
    cfg = write_config(name, f"[surrogate]\ndata = {data}\ninputs = {inputs}\noutput = y\n"
                             f"model = {OUT}/{name}.h5\n{extra}\n")
    rc, out, err = sh(["-q", "fit", cfg])
    if rc:
        print("# " + err.strip().replace("\n", "\n# "))
    return rc, out, err, f"{OUT}/{name}.h5"


def predict(model, X, names):
    pts = csv(os.path.basename(model) + ".in.csv", X, names=names)
    dst = model + ".pred.csv"
    rc, _, err = sh(["-q", "predict", model, "--input", pts, "--output", dst])
    if rc:
        print("# " + err.strip())
        return None
    return np.loadtxt(dst, delimiter=",", skiprows=1, ndmin=2)


os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)

# ---- poly == NumPy least squares (degree 2, no ridge) ----
n, d = 40, 3
X = rng.uniform(-2.0, 5.0, (n, d))
y = 1.0 + X[:, 0] - 2.0 * X[:, 1] * X[:, 2] + 0.3 * X[:, 0] ** 2 + rng.normal(0, 0.5, n)
data = csv("rs_poly.csv", X, y, ["a", "b", "c"])
rc, out, _, model = fit("rs_poly", data, "a, b, c", "kind = poly\ndegree = 2\nridge = 0")
check(rc == 0 and "cross-validation (5-fold, 40 points)" in out,
      "kelvin fit kind = poly prints its 5-fold cross-validation")
lo, hi = X.min(0), X.max(0)


def design(Z):
    U = (Z - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
    P = [np.stack([legendre.legval(U[:, j], np.eye(3)[k]) for k in range(3)], axis=1)
         for j in range(d)]
    cols = [P[0][:, i] * P[1][:, j] * P[2][:, k]
            for i in range(3) for j in range(3) for k in range(3) if i + j + k <= 2]
    return np.array(cols).T


coef, *_ = np.linalg.lstsq(design(X), y, rcond=None)
T = rng.uniform(-2.0, 5.0, (200, d))
p = predict(model, T, ["a", "b", "c"])
ref = design(T) @ coef
err = np.max(np.abs(p[:, 0] - ref)) / np.max(np.abs(ref)) if p is not None else np.inf
check(err < 1e-10, f"poly (degree 2, ridge 0) equals numpy.linalg.lstsq on the same design "
      f"at 200 points (max rel diff {err:.2e})")
with h5py.File(model) as f:
    cv = dict(f["cv"].attrs) if "cv" in f else {}
check(cv.get("folds") == 5 and 0 < cv.get("mae", 0) < 1.0 and "coverage95" in cv,
      f"the model file stores the cross-validation scores ({ {k: cv[k] for k in sorted(cv)} })")

rc, _, err, _ = fit("rs_poly_bad", data, "a, b, c", "kind = poly\ndegree = 7")
check(rc == 2 and "surrogate.degree" in err and "120 terms" in err and "40 points" in err,
      "a degree too high for the points is refused by key: " + err.strip().splitlines()[-1])
rc, _, err, _ = fit("rs_poly_bad2", data, "a, b, c", "kind = poly\ncv_folds = 41")
check(rc == 2 and "surrogate.cv_folds" in err, "more folds than points are refused: " +
      (err.strip().splitlines() or [""])[-1])

# ---- GP with a linear trend == OpenTURNS universal kriging ----
import openturns as ot  # noqa: E402

n = 25
X = rng.uniform(0, 1, (n, 2))
y = np.sin(4 * X[:, 0]) + 2 * X[:, 1] + X[:, 0] * X[:, 1] + 3
data = csv("rs_uk.csv", X, y, ["a", "b"])
rc, out, _, model = fit("rs_uk", data, "a, b",
                        "kind = gp\nnormalize = false\ntrend = linear\nnoise = 1e-10\n"
                        "bounds = length=0.5:0.5, signal=2:2, noise=1e-10:10\ncv_folds = loo")
T = rng.uniform(-0.2, 1.2, (50, 2))
p = predict(model, T, ["a", "b"])
alg = ot.KrigingAlgorithm(ot.Sample(X), ot.Sample(y[:, None]),
                          ot.MaternModel([0.5, 0.5], [np.sqrt(2.0)], 2.5),
                          ot.LinearBasisFactory(2).build())
alg.setOptimizeParameters(False)
alg.run()
res = alg.getResult()
m = np.array(res.getMetaModel()(ot.Sample(T))).ravel()
sd = np.sqrt([res.getConditionalMarginalVariance(ot.Point(t)) for t in T])
em = np.max(np.abs(p[:, 0] - m)) / np.max(np.abs(m)) if p is not None else np.inf
es = np.max(np.abs(p[:, 1] - sd) / sd) if p is not None else np.inf
check(rc == 0 and em < 1e-7, f"gp trend = linear: mean equals OpenTURNS universal kriging "
      f"(fixed hyperparameters, 50 points, max rel diff {em:.2e})")
check(es < 1e-5, f"gp trend = linear: sd equals OpenTURNS' conditional sd with the trend's "
      f"uncertainty (max rel diff {es:.2e})")
check("leave-one-out, 25 points" in out, "cv_folds = loo uses the GP's closed form")

# ---- MAP: a tight prior holds the hyperparameters at its medians ----
n = 30
X = rng.uniform(0, 4, (n, 2))
y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.05 * rng.normal(size=n)
data = csv("rs_map.csv", X, y, ["a", "b"])
rc, out, _, model = fit("rs_map", data, "a, b", "kind = gp\nprior = lognormal\n"
                        "prior_length = 0.3, 0.001\nprior_noise = 0.02, 0.001\ncv_folds = 0")
with h5py.File(model) as f:
    th = f["gp/theta"][...]
check(rc == 0 and np.allclose(np.exp(th[:2]), 0.3, rtol=0.01) and abs(np.exp(th[3]) / 0.02 - 1) < 0.01,
      f"gp prior = lognormal: a tight prior holds the length scales and the noise at its medians "
      f"(lengths {np.exp(th[:2])}, noise {np.exp(th[3]):.4g}, unit-box / standardised units)")
rc, out, _, model = fit("rs_ml", data, "a, b", "kind = gp\ncv_folds = 0")
with h5py.File(model) as f:
    th_ml = f["gp/theta"][...]
check(rc == 0 and not np.allclose(np.exp(th_ml[:2]), 0.3, rtol=0.1),
      f"without the prior the same data give other length scales ({np.exp(th_ml[:2])})")

# ---- log-GP: back-transformed intervals hold their coverage on lognormal data ----
n = 120
X = rng.uniform(0, 1, (n, 2))
mu = 1.0 + 2.0 * X[:, 0] - X[:, 1] ** 2
sig = 0.4
y = np.exp(mu + sig * rng.normal(size=n))
data = csv("rs_log.csv", X, y, ["a", "b"])
rc, out, _, model = fit("rs_log", data, "a, b", "kind = gp\ntransform = log\nrestarts = 1")
T = rng.uniform(0, 1, (4000, 2))
mt = 1.0 + 2.0 * T[:, 0] - T[:, 1] ** 2
yt = np.exp(mt + sig * rng.normal(size=len(T)))
with h5py.File(model) as f:
    cv = dict(f["cv"].attrs) if "cv" in f else {}
# The interval of kelvin predict is mean -+ 1.96 sd; the honest one is the back-transformed
# interval, which cross-validation uses: check it through the CV coverage and directly.
check(rc == 0 and 0.88 <= cv.get("coverage95", 0) <= 0.995,
      f"log-GP: cross-validated coverage of the back-transformed 95 % interval "
      f"{cv.get('coverage95', float('nan')):.3f} in [0.88, 0.995] (n = {n})")
p = predict(model, T, ["a", "b"])
true_mean = np.exp(mt + sig ** 2 / 2)
rel = np.median(np.abs(p[:, 0] - true_mean) / true_mean) if p is not None else np.inf
check(rel < 0.1, f"log-GP: the back-transformed mean follows E[y] = exp(mu + s^2/2) "
      f"(median rel error {rel:.3f})")
# The back-transformed interval (predict's lo95, hi95) holds 95 % of new lognormal draws, within
# Monte Carlo error (4000 draws: sd 0.0034) and the fit's own error on 120 points.
cov = np.mean((yt >= p[:, 2]) & (yt <= p[:, 3])) if p is not None and p.shape[1] >= 4 else 0.0
check(0.93 <= cov <= 0.97, f"log-GP: the back-transformed 95 % interval holds {cov:.3f} of 4000 "
      f"new lognormal observations")
med = np.exp(mt)
s2 = np.log1p((p[:, 1] / p[:, 0]) ** 2) if p is not None else 0
mu_model = np.log(p[:, 0]) - s2 / 2 if p is not None else 0
lo_ref, hi_ref = np.exp(mu_model - 1.959963984540054 * np.sqrt(s2)), np.exp(mu_model + 1.959963984540054 * np.sqrt(s2))
err = max(np.max(np.abs(p[:, 2] / lo_ref - 1)), np.max(np.abs(p[:, 3] / hi_ref - 1))) if p is not None else 1
check(p is not None and np.all(p[:, 2] < p[:, 0]) and np.all(p[:, 0] < p[:, 3]) and err < 1e-9 and
      np.median(np.abs(np.sqrt(p[:, 2] * p[:, 3]) - np.exp(mt)) / np.exp(mt)) < 0.1,
      f"log-GP: the interval is exp(mu -+ 1.96 s) of the lognormal whose mean and sd are predicted "
      f"(max rel diff {err:.1e}), asymmetric about the mean, centred on the median exp(mu)")

# ---- rbf: thin-plate interpolation equals SciPy's RBFInterpolator on the same scaled points ----
from scipy.interpolate import RBFInterpolator  # noqa: E402

n = 40
X = rng.uniform(0, 3, (n, 2))
y = np.sin(X[:, 0]) * np.cos(X[:, 1])
data = csv("rs_rbf.csv", X, y, ["a", "b"])
rc, out, _, model = fit("rs_rbf", data, "a, b", "kind = rbf\nrbf_kernel = thin_plate\nsmoothing = 0")
lo, hi = X.min(0), X.max(0)
T = rng.uniform(0, 3, (300, 2))
p = predict(model, T, ["a", "b"])
ref = RBFInterpolator((X - lo) / (hi - lo), y, kernel="thin_plate_spline", degree=1)((T - lo) / (hi - lo))
err = np.max(np.abs(p[:, 0] - ref)) if p is not None else np.inf
check(rc == 0 and err < 1e-8, f"rbf thin-plate interpolation equals scipy RBFInterpolator "
      f"(max |diff| {err:.2e})")

# ---- spline: a surface in its own space is recovered; more than 5 inputs refused ----
n = 80
X = rng.uniform(0, 1, (n, 2))
y = 1 + X[:, 0] ** 2 - X[:, 0] * X[:, 1] ** 2 + 0.5 * X[:, 1]
data = csv("rs_spl.csv", X, y, ["a", "b"])
rc, out, _, model = fit("rs_spl", data, "a, b", "kind = spline")
T = X.min(0) + rng.uniform(0, 1, (500, 2)) * (X.max(0) - X.min(0))
p = predict(model, T, ["a", "b"])
ref = 1 + T[:, 0] ** 2 - T[:, 0] * T[:, 1] ** 2 + 0.5 * T[:, 1]
err = np.max(np.abs(p[:, 0] - ref)) if p is not None else np.inf
check(rc == 0 and err < 1e-3, f"spline recovers a cubic surface from 80 points (max error {err:.2e})")
X6 = rng.uniform(0, 1, (50, 6))
data = csv("rs_spl6.csv", X6, X6.sum(1), [f"x{j}" for j in range(6)])
rc, _, err6, _ = fit("rs_spl6", data, ", ".join(f"x{j}" for j in range(6)), "kind = spline")
check(rc != 0 and "at most 5" in err6, "spline refuses 6 inputs: " + (err6.strip().splitlines() or [""])[-1])

# ---- moe: more clusters than points refused; a mixture predicts a two-regime function ----
n = 160
X = rng.uniform(-1, 1, (n, 1))
y = np.where(X[:, 0] < 0, -1.0 + 0.2 * X[:, 0], 2.0 + np.sin(4 * X[:, 0]))
data = csv("rs_moe.csv", X, y, ["a"])
small = csv("rs_moe_small.csv", X[:10], y[:10], ["a"])
rc, out, err, model = fit("rs_moe", small, "a", "kind = moe\nclusters = 12")
check(rc == 2 and "surrogate.clusters" in err and "10 points" in err,
      "moe: 12 clusters of 10 points refused: " + (err.strip().splitlines() or [""])[-1])
rc, out, err, model = fit("rs_moe", data, "a", "kind = moe\nclusters = 2\nexperts = poly, gp")
T = np.linspace(-0.95, 0.95, 200)[:, None]
p = predict(model, T, ["a"])
ref = np.where(T[:, 0] < 0, -1.0 + 0.2 * T[:, 0], 2.0 + np.sin(4 * T[:, 0]))
far = np.abs(T[:, 0]) > 0.1
err = np.median(np.abs(p[far, 0] - ref[far])) if p is not None else np.inf
check(rc == 0 and "moe: 2 experts" in out and err < 0.02,
      f"moe with 2 clusters follows both regimes away from the jump (median error {err:.3g})")
rc, _, err, _ = fit("rs_moe_bad", data, "a", "kind = moe\nexperts = poly, pod")
check(rc == 2 and "surrogate.experts" in err, "moe: an expert that cannot be one is refused: " +
      (err.strip().splitlines() or [""])[-1])

# ---- auto: picks the generating model ----
n = 60
X = rng.uniform(0, 2, (n, 3))
y = 1 + 2 * X[:, 0] - X[:, 1] * X[:, 2] + 0.5 * X[:, 0] ** 2 + 0.01 * rng.normal(size=n)
data = csv("rs_auto_poly.csv", X, y, ["a", "b", "c"])
rc, out, _, model = fit("rs_auto_poly", data, "a, b, c", "kind = auto")
with h5py.File(model) as f:
    kind = f.attrs["kind"].decode() if isinstance(f.attrs["kind"], bytes) else f.attrs["kind"]
    board = f.attrs.get("leaderboard", b"")
board = board.decode() if isinstance(board, bytes) else board
check(rc == 0 and kind == "poly" and "rank" in board,
      f"auto on data from a quadratic (+1 % noise) keeps poly (kept {kind}; leaderboard stored)")
n = 60
X = rng.uniform(0, 1, (n, 2))


def bump(Z):
    """Smooth, not a polynomial: a Gaussian bump on a tanh ridge (an analytic function such as
    sin(6a) exp(-b) is matched by a degree-7 polynomial, so poly rightly wins there)."""
    return (np.exp(-((Z[:, 0] - 0.35) ** 2 + (Z[:, 1] - 0.6) ** 2) / 0.05)
            + 0.5 * np.tanh(6 * (Z[:, 0] - Z[:, 1])))


data = csv("rs_auto_gp.csv", X, bump(X), ["a", "b"])
rc, out, _, model = fit("rs_auto_gp", data, "a, b", "kind = auto\ncandidates = gp, poly, spline")
with h5py.File(model) as f:
    kind = f.attrs["kind"]
kind = kind.decode() if isinstance(kind, bytes) else kind
T = rng.uniform(0, 1, (2000, 2))
errs = {}
for k in ("gp", "poly"):
    _, _, _, mk = fit(f"rs_auto_gp_{k}", data, "a, b", f"kind = {k}\ncv_folds = 0")
    pk = predict(mk, T, ["a", "b"])
    errs[k] = np.mean(np.abs(pk[:, 0] - bump(T))) if pk is not None else np.inf
check(rc == 0 and kind == "gp" and errs["gp"] < errs["poly"],
      f"auto on a smooth non-polynomial function keeps a GP (kept {kind}; test MAE gp "
      f"{errs['gp']:.3g}, poly {errs['poly']:.3g})")
rc, _, err, _ = fit("rs_auto_bad", data, "a, b", "kind = auto\ncandidates = gp, pcagp")
check(rc == 2 and "surrogate.candidates" in err and "pcagp" in err,
      "auto refuses a candidate that is not a scalar kind: " + (err.strip().splitlines() or [""])[-1])
rc, _, err, _ = fit("rs_auto_bad2", data, "a, b", "kind = auto\ncandidates = gp(degree=2)")
check(rc == 2 and "degree is not a key of kind gp" in err,
      "auto refuses another kind's setting in a candidate: " + (err.strip().splitlines() or [""])[-1])
finish()
