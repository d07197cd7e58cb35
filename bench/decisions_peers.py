"""Peers of bench/decisions.sh on the test functions of tests/decisions/funcs.py: OpenTURNS'
EfficientGlobalOptimization (Matern 5/2 kriging, constant trend, an LHS of the same size as
kelvin's initial design) and uniform random search (at most 10000 points). Prints, per seed, the evaluations each
needed to come within tol of the global minimum (0: not within the budget).

    /usr/bin/python3 bench/decisions_peers.py FUNC SEEDS BUDGET N0 FSTAR TOL LO,.. HI,.. [log]

With `log` OpenTURNS models log f (as kelvin with optimize.transform = log).
"""
import os
import sys

import numpy as np
import openturns as ot

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "decisions"))
from funcs import evaluate  # noqa: E402

name, seeds, budget, n0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fstar, tol = float(sys.argv[5]), float(sys.argv[6])
lo = [float(v) for v in sys.argv[7].split(",")]
hi = [float(v) for v in sys.argv[8].split(",")]
d = len(lo)
uselog = len(sys.argv) > 9 and sys.argv[9] == "log"
ot.Log.Show(ot.Log.NONE)
f = ot.PythonFunction(d, 1, lambda x: [(np.log if uselog else float)(evaluate(name, list(x))["f"])])


def first(y):
    hit = np.nonzero(np.asarray(y) <= fstar + tol)[0]
    return int(hit[0]) + 1 if len(hit) else 0


for seed in range(1, seeds + 1):
    ot.RandomGenerator.SetSeed(seed)
    dist = ot.ComposedDistribution([ot.Uniform(a, b) for a, b in zip(lo, hi)])
    X0 = ot.LHSExperiment(dist, n0).generate()
    Y0 = f(X0)
    problem = ot.OptimizationProblem(f)
    problem.setBounds(ot.Interval(lo, hi))
    kr = ot.KrigingAlgorithm(X0, Y0, ot.MaternModel([1.0] * d, 2.5), ot.ConstantBasisFactory(d).build())
    kr.run()
    algo = ot.EfficientGlobalOptimization(problem, kr.getResult())
    algo.setMaximumEvaluationNumber(budget - n0)
    try:
        algo.run()
        y = np.array(algo.getResult().getOutputSample())[:, 0]
        y = np.exp(y) if uselog else y
    except Exception:  # OpenTURNS stops with an error when its kriging refit fails
        y = np.array([])
    y0 = np.array(Y0)[:, 0]
    y0 = np.exp(y0) if uselog else y0
    y = np.concatenate([y0, y]) if len(y) < n0 or not np.allclose(y[:n0], y0) else y
    rng = np.random.default_rng(seed)
    R = rng.uniform(lo, hi, (10000, d))
    yr = [evaluate(name, list(r))["f"] for r in R]
    print(seed, first(y[:budget]), first(yr))
