#!/usr/bin/python3
"""scikit-learn peer of bench/gp.sh: GaussianProcessRegressor(ConstantKernel() * RBF([1]*5) +
WhiteKernel(), n_restarts_optimizer=0) fitted on the first N rows of the shared training set,
then the 2000 test points predicted with std. Prints one line: fit_s lml rmse_noisy
rmse_noisefree predict_s.

usage: gp_sklearn_peer.py TRAIN.csv TEST.csv N
"""
import sys
import time
import warnings

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

warnings.simplefilter("ignore")
tr = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
te = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
n = int(sys.argv[3])
X, y = tr[:n, :5], tr[:n, 5]
gp = GaussianProcessRegressor(ConstantKernel(1.0) * RBF([1.0] * 5) + WhiteKernel(1.0),
                              n_restarts_optimizer=0, random_state=0)
t0 = time.perf_counter()
gp.fit(X, y)
tf = time.perf_counter() - t0
tp = 1e9
for _ in range(3):
    t0 = time.perf_counter()
    mu, sd = gp.predict(te[:, :5], return_std=True)
    tp = min(tp, time.perf_counter() - t0)
print(f"{tf:.3f} {gp.log_marginal_likelihood_value_:.6f} "
      f"{np.sqrt(np.mean((mu - te[:, 5]) ** 2)):.6f} {np.sqrt(np.mean((mu - te[:, 6]) ** 2)):.6f} "
      f"{tp:.4f}")
