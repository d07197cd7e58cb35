"""Surrogates on standard test functions: kelvin (auto, and each candidate kind with hindsight)
against scikit-learn, XGBoost and OpenTURNS in the same run. Run by bench/surrogates.sh with
Debian's /usr/bin/python3; kelvin only through its CLI (fit, predict).

For each function (Branin 2, Ishigami 3, OTL circuit 6, Borehole 8, wing weight 10, Friedman-1
5 + 5 inert) with and without noise (Gaussian, sd 5 % of the output's sd), and each size n:
n training points by a seeded Latin hypercube, 10 000 test points (another LHS); MAE and RMSE
against the noise-free function, coverage95 of the observations (mean -+ 1.96 sd where a model
gives an sd), fit time (kelvin: the whole command). Prints one row per model and case, and a
summary against the targets; writes every row as JSON to $OUT/results.jsonl."""
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy.stats import qmc

warnings.filterwarnings("ignore")
KELVIN = os.environ.get("KELVIN", "bin/kelvin")
OUT = os.environ.get("OUT", "tests/out/bench/surrogates")
SIZES = [int(s) for s in os.environ.get("SIZES", "50,200,1000").split(",")]
FUNCS = os.environ.get("FUNCS", "branin,ishigami,otl,borehole,wing,friedman1").split(",")
NOISE = [float(s) for s in os.environ.get("NOISE", "0,0.05").split(",")]
PEERS = [p for p in os.environ.get("PEERS", "sk_gp,sk_poly,xgb,ot_krig,ot_chaos").split(",") if p]
HINDSIGHT = os.environ.get("HINDSIGHT", "1") == "1"
NTEST = 10000
os.makedirs(OUT, exist_ok=True)


def branin(X):
    x1, x2 = X.T
    b, c, t = 5.1 / (4 * np.pi ** 2), 5 / np.pi, 1 / (8 * np.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


def ishigami(X):
    return np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])


def otl(X):
    Rb1, Rb2, Rf, Rc1, Rc2, beta = X.T
    Vb1 = 12 * Rb2 / (Rb1 + Rb2)
    den = beta * (Rc2 + 9) + Rf
    return ((Vb1 + 0.74) * beta * (Rc2 + 9) / den + 11.35 * Rf / den
            + 0.74 * Rf * beta * (Rc2 + 9) / (den * Rc1))


def borehole(X):
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    lr = np.log(r / rw)
    return 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw ** 2 * Kw) + Tu / Tl))


def wing(X):
    Sw, Wfw, A, Lam, q, lam, tc, Nz, Wdg, Wp = X.T
    c = np.cos(np.radians(Lam))
    return (0.036 * Sw ** 0.758 * Wfw ** 0.0035 * (A / c ** 2) ** 0.6 * q ** 0.006 * lam ** 0.04
            * (100 * tc / c) ** -0.3 * (Nz * Wdg) ** 0.49 + Sw * Wp)


def friedman1(X):
    return (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
            + 5 * X[:, 4])


FUNCTIONS = {
    "branin": (branin, [(-5, 10), (0, 15)]),
    "ishigami": (ishigami, [(-np.pi, np.pi)] * 3),
    "otl": (otl, [(50, 150), (25, 70), (0.5, 3), (1.2, 2.5), (0.25, 1.2), (50, 300)]),
    "borehole": (borehole, [(0.05, 0.15), (100, 50000), (63070, 115600), (990, 1110),
                            (63.1, 116), (700, 820), (1120, 1680), (9855, 12045)]),
    "wing": (wing, [(150, 200), (220, 300), (6, 10), (-10, 10), (16, 45), (0.5, 1),
                    (0.08, 0.18), (2.5, 6), (1700, 2500), (0.025, 0.08)]),
    "friedman1": (friedman1, [(0, 1)] * 10),
}


def lhs(n, bounds, seed):
    lo, hi = np.array(bounds, float).T
    return lo + qmc.LatinHypercube(d=len(bounds), seed=seed).random(n) * (hi - lo)


def scores(mean, sd, truth, obs):
    e = mean - truth
    cov = float(np.mean(np.abs(obs - mean) <= 1.959963984540054 * sd)) if sd is not None else None
    return float(np.mean(np.abs(e))), float(np.sqrt(np.mean(e ** 2))), cov


def csv(path, X, y=None):
    d = X.shape[1]
    hdr = ",".join([f"x{j}" for j in range(d)] + ([] if y is None else ["y"]))
    np.savetxt(path, X if y is None else np.c_[X, y], delimiter=",", header=hdr, comments="",
               fmt="%.17g")


def kelvin(case, X, y, T, settings, tag):
    d = X.shape[1]
    train, test = f"{OUT}/{case}_train.csv", f"{OUT}/{case}_test.csv"
    if not os.path.exists(test):
        csv(test, T)
    csv(train, X, y)
    model, pred, ini = f"{OUT}/{case}_{tag}.h5", f"{OUT}/{case}_{tag}.csv", f"{OUT}/{case}_{tag}.ini"
    with open(ini, "w") as f:
        f.write(f"[surrogate]\ndata = {train}\ninputs = {', '.join(f'x{j}' for j in range(d))}\n"
                f"output = y\nmodel = {model}\n{settings}\n")
    t0 = time.time()
    p = subprocess.run([KELVIN, "-q", "fit", ini], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    fit_s = time.time() - t0
    if p.returncode:
        return None, None, fit_s, p.stderr.strip().splitlines()[-1:], ""
    q = subprocess.run([KELVIN, "-q", "predict", model, "--input", test, "--output", pred],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if q.returncode:
        return None, None, fit_s, q.stderr.strip().splitlines()[-1:], ""
    P = np.loadtxt(pred, delimiter=",", skiprows=1, ndmin=2)
    kind = ""
    for ln in p.stdout.splitlines():
        if ln.startswith("wrote "):
            kind = ln.split("(")[1].split(",")[0]
    return P[:, 0], P[:, 1], fit_s, None, kind


def unit(X, bounds):
    lo, hi = np.array(bounds, float).T
    return (X - lo) / (hi - lo)


def peer(name, X, y, T, bounds, seed):
    Xu, Tu = unit(X, bounds), unit(T, bounds)
    t0 = time.time()
    sd = None
    if name == "sk_gp":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
        k = ConstantKernel() * Matern(length_scale=np.ones(X.shape[1]), nu=2.5,
                                      length_scale_bounds=(1e-3, 1e3)) + WhiteKernel(1e-2, (1e-10, 10))
        m = GaussianProcessRegressor(k, normalize_y=True, n_restarts_optimizer=2, random_state=seed)
        m.fit(Xu, y)
        fit = time.time() - t0
        mean, sd = m.predict(Tu, return_std=True)
    elif name == "sk_poly":
        from sklearn.linear_model import RidgeCV
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PolynomialFeatures, StandardScaler
        from math import comb
        degs = [g for g in (1, 2, 3, 4) if comb(X.shape[1] + g, g) < len(y)] or [1]
        pipe = make_pipeline(PolynomialFeatures(), StandardScaler(),
                             RidgeCV(alphas=np.logspace(-8, 3, 23)))
        m = GridSearchCV(pipe, {"polynomialfeatures__degree": degs}, cv=5,
                         scoring="neg_mean_absolute_error")
        m.fit(Xu, y)
        fit = time.time() - t0
        mean = m.predict(Tu)
    elif name == "xgb":
        import xgboost
        from sklearn.model_selection import GridSearchCV
        grid = {"max_depth": [2, 4, 6], "n_estimators": [300, 1000], "learning_rate": [0.03, 0.1],
                "subsample": [0.8]}
        m = GridSearchCV(xgboost.XGBRegressor(n_jobs=2, random_state=seed), grid, cv=3,
                         scoring="neg_mean_absolute_error")
        m.fit(Xu, y)
        fit = time.time() - t0
        mean = m.predict(Tu)
    elif name in ("ot_krig", "ot_chaos"):
        import openturns as ot
        ot.Log.Show(ot.Log.NONE)
        d = X.shape[1]
        Xs, Ys = ot.Sample(Xu), ot.Sample(y[:, None])
        if name == "ot_krig":
            cov = ot.MaternModel([0.5] * d, [float(np.std(y))], 2.5)
            alg = ot.KrigingAlgorithm(Xs, Ys, cov, ot.ConstantBasisFactory(d).build())
            alg.setOptimizationBounds(ot.Interval([1e-3] * d, [1e2] * d))
            alg.run()
            res = alg.getResult()
            fit = time.time() - t0
            mean = np.array(res.getMetaModel()(ot.Sample(Tu))).ravel()
            var = np.array(res.getConditionalMarginalVariance(ot.Sample(Tu))).ravel()
            sd = np.sqrt(np.maximum(var, 0))
        else:
            dist = ot.ComposedDistribution([ot.Uniform(0, 1)] * d)
            alg = ot.FunctionalChaosAlgorithm(Xs, Ys, dist)
            alg.run()
            fit = time.time() - t0
            mean = np.array(alg.getResult().getMetaModel()(ot.Sample(Tu))).ravel()
    return mean, sd, fit


HIND = {"gp": "kind = gp", "gp_prior": "kind = gp\nprior = lognormal",
        "gp_trend": "kind = gp\ntrend = linear\nprior = lognormal",
        "gp_log": "kind = gp\ntransform = log", "poly": "kind = poly", "rbf": "kind = rbf",
        "spline": "kind = spline", "moe": "kind = moe\nmin_clusters = 2\nrestarts = 0"}

rows = []
log = open(f"{OUT}/results.jsonl", "w")
for fname in FUNCS:
    f, bounds = FUNCTIONS[fname]
    T = lhs(NTEST, bounds, 12345)
    ft = f(T)
    for noise in NOISE:
        for n in SIZES:
            seed = 1000 + n
            X = lhs(n, bounds, seed)
            clean = f(X)
            sig = noise * np.std(ft)
            rng = np.random.default_rng(seed)
            y = clean + sig * rng.normal(size=n)
            obs = ft + sig * np.random.default_rng(7).normal(size=NTEST)
            case = f"{fname}_n{n}_s{int(noise * 100)}"
            res = {}
            mean, sd, fs, err, kind = kelvin(case, X, y, T, "kind = auto", "auto")
            res["kelvin_auto"] = (scores(mean, sd, ft, obs) if err is None else None, fs, kind)
            if HINDSIGHT:
                for tag, st in HIND.items():
                    mean, sd, fs2, err, _ = kelvin(case, X, y, T, st + "\ncv_folds = 0", tag)
                    res["kelvin_" + tag] = (scores(mean, sd, ft, obs) if err is None else None, fs2, "")
            for pn in PEERS:
                try:
                    mean, sd, fs = peer(pn, X, y, T, bounds, seed)
                    res[pn] = (scores(mean, sd, ft, obs), fs, "")
                except Exception as e:  # a peer that fails is reported, not fatal
                    res[pn] = (None, 0.0, str(e)[:60])
            for name, (sc, fs, note) in res.items():
                row = {"function": fname, "d": len(bounds), "n": n, "noise": noise, "model": name,
                       "mae": sc[0] if sc else None, "rmse": sc[1] if sc else None,
                       "coverage95": sc[2] if sc else None, "fit_s": fs, "note": note}
                rows.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
                cov = "-" if not sc or sc[2] is None else f"{sc[2]:.3f}"
                print(f"{case:24s} {name:16s} MAE {sc[0] if sc else float('nan'):12.5g} "
                      f"RMSE {sc[1] if sc else float('nan'):12.5g} cov95 {cov:>6s} "
                      f"fit {fs:8.2f} s {note}", flush=True)
log.close()

# Summary against the targets.
print("\nsummary: auto's test MAE / best peer's, / best kelvin kind's (hindsight); GP coverage")
fails = 0
for key in sorted({(r["function"], r["noise"], r["n"]) for r in rows}):
    rs = [r for r in rows if (r["function"], r["noise"], r["n"]) == key]
    auto = next(r for r in rs if r["model"] == "kelvin_auto")
    peers = [r for r in rs if not r["model"].startswith("kelvin") and r["mae"] is not None]
    kinds = [r for r in rs if r["model"].startswith("kelvin_") and r["model"] != "kelvin_auto"
             and r["mae"] is not None]
    bp = min(peers, key=lambda r: r["mae"]) if peers else None
    bk = min(kinds, key=lambda r: r["mae"]) if kinds else None
    rp = auto["mae"] / bp["mae"] if bp and auto["mae"] else float("nan")
    rk = auto["mae"] / bk["mae"] if bk and auto["mae"] else float("nan")
    gpcov = [r["coverage95"] for r in rs
             if r["model"] in ("kelvin_gp", "kelvin_gp_prior", "kelvin_gp_trend")
             and r["coverage95"] is not None]
    ok = rp <= 1.001 and rk <= 1.05
    fails += not ok
    print(f"  {key[0]:10s} noise {key[1]:.2f} n {key[2]:5d}: auto/best peer {rp:6.3f} "
          f"({bp['model'] if bp else '-'}), auto/best kind {rk:6.3f} "
          f"({bk['model'] if bk else '-'}), auto fit {auto['fit_s']:.1f} s, GP cov95 "
          f"{', '.join(f'{c:.3f}' for c in gpcov)} {'ok' if ok else 'MISSED'}")
print(f"targets missed in {fails} of {len(set((r['function'], r['noise'], r['n']) for r in rows))}"
      " cases")
