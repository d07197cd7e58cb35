"""Every metric of surrogates/metrics against an independent NumPy implementation on random
fields (dumped by build/tests/unit/test_metrics --dump)."""
import os
import subprocess

import numpy as np

from kvtest import OUT, ROOT, check, finish

path = os.path.join(OUT, "metrics_dump.txt")
rc = subprocess.run([os.path.join(ROOT, "build", "tests", "unit", "test_metrics"), "--dump", path],
                    stdout=subprocess.DEVNULL).returncode
check(rc == 0, "test_metrics --dump ran")
lines = open(path).read().split("\n")
nt, npt = map(int, lines[0].split())
w = np.array([float(v) for v in lines[1:1 + npt]])
data = np.array([[float(v) for v in l.split()] for l in lines[1 + npt:1 + npt + nt * npt]])
x, y, sd = (data[:, k].reshape(nt, npt) for k in range(3))
got = {l.split()[0]: float(l.split()[1]) for l in lines[1 + npt + nt * npt:] if l.strip()}

e = x - y
ref = {
    "rmse": np.sqrt(np.mean(e ** 2)),
    "mae": np.mean(np.abs(e)),
    "max_abs": np.max(np.abs(e)),
    "rel_l2": np.linalg.norm(e) / np.linalg.norm(y),
    "r2": 1 - np.sum(e ** 2) / np.sum((y - y.mean()) ** 2),
}
wn = w / w.sum()
xm, ym = x.mean(axis=0), y.mean(axis=0)          # ClimateBench: time means first
norm = abs(np.sum(wn * ym))
ref["nrmse_spatial"] = np.sqrt(np.sum(wn * (xm - ym) ** 2)) / norm
ref["nrmse_global"] = np.sqrt(np.mean((x @ wn - y @ wn) ** 2)) / norm
ref["nrmse_total"] = ref["nrmse_spatial"] + 5 * ref["nrmse_global"]
x0, y0 = x[0], y[0]
ref["wrmse"] = np.sqrt(np.sum(wn * (x0 - y0) ** 2))
ref["wmean"] = np.sum(wn * x0)
a, b = x0 - np.sum(wn * x0), y0 - np.sum(wn * y0)
ref["acc"] = np.sum(wn * a * b) / np.sqrt(np.sum(wn * a * a) * np.sum(wn * b * b))
ref["coverage95"] = np.mean(np.abs(y - x) <= 1.959963984540054 * sd)
nlpd = 0.5 * np.log(2 * np.pi * sd ** 2) + (y - x) ** 2 / (2 * sd ** 2)
triv = 0.5 * np.log(2 * np.pi * 0.4) + (y - 1.5) ** 2 / (2 * 0.4)
ref["msll"] = np.mean(nlpd - triv)
for k, v in ref.items():
    check(k in got and abs(got[k] - v) <= 1e-12 * max(1.0, abs(v)),
          f"{k}: kelvin {got.get(k, float('nan')):.15g} = NumPy {v:.15g}")
finish()
