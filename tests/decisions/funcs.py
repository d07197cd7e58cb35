#!/usr/bin/python3
"""Test functions as an external simulator for tests/decisions: `funcs.py NAME PARAMS RESULTS`
reads kelvin's json parameters file (inputs x1 .. xd) and writes `f VALUE` (and `c VALUE`, a
constraint, for the constrained toy):
    ishigami (a = 7, b = 0.1, x in [-pi, pi]^3)     linear (f = sum (i + 1) x_i)
    branin (x1 in [-5, 10], x2 in [0, 15]; min 0.397887)
    hartmann3 (unit cube; min -3.86278)   hartmann6 (unit cube; min -3.32237)
    goldstein (Goldstein-Price, [-2, 2]^2; min 3)
    toy: f = (x1 - 1)^2 + (x2 - 1)^2, c = x1 + x2 (feasible: c <= 1, optimum 0.5 at (0.5, 0.5))
With $FUNCLOG set it appends one line per evaluation (for the resume tests) and with $FUNCSLOW
sleeps that many seconds first."""
import json
import math
import os
import sys
import time

import numpy as np

A3 = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
P3 = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                      [381, 5743, 8828]])
A6 = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
               [17, 8, 0.05, 10, 0.1, 14]])
P6 = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann(x, a, p):
    return -float(np.sum(ALPHA * np.exp(-np.sum(a * (x - p) ** 2, axis=1))))


def evaluate(name, x):
    if name == "ishigami":
        return {"f": math.sin(x[0]) + 7 * math.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * math.sin(x[0])}
    if name == "linear":
        return {"f": sum((i + 1) * v for i, v in enumerate(x))}
    if name == "branin":
        a, b = x
        return {"f": (b - 5.1 / (4 * math.pi ** 2) * a * a + 5 / math.pi * a - 6) ** 2
                + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a) + 10}
    if name == "hartmann3":
        return {"f": hartmann(np.array(x), A3, P3)}
    if name == "hartmann6":
        return {"f": hartmann(np.array(x), A6, P6)}
    if name == "goldstein":
        a, b = x
        t1 = 1 + (a + b + 1) ** 2 * (19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b)
        t2 = 30 + (2 * a - 3 * b) ** 2 * (18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b)
        return {"f": t1 * t2}
    if name == "toy":
        return {"f": (x[0] - 1) ** 2 + (x[1] - 1) ** 2, "c": x[0] + x[1]}
    raise SystemExit("funcs.py: unknown function " + name)


if __name__ == "__main__":
    name, params, results = sys.argv[1:4]
    p = json.load(open(params))["params"]
    x = [float(p["x%d" % (i + 1)]) for i in range(len(p)) if "x%d" % (i + 1) in p]
    if os.environ.get("FUNCSLOW"):
        time.sleep(float(os.environ["FUNCSLOW"]))
    out = evaluate(name, x)
    with open(results, "w") as f:
        for k, v in out.items():
            f.write("%s %.17g\n" % (k, v))
    if os.environ.get("FUNCLOG"):
        with open(os.environ["FUNCLOG"], "a") as f:
            f.write(" ".join("%.17g" % v for v in x) + "\n")
