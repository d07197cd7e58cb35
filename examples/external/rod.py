#!/usr/bin/python3
"""A small simulator of our own, as a user's would be: the 1-D heat equation on a rod,
dT/dt = D d2T/dx2 + q exp(-((x - 0.3) / 0.1)^2), T = 0 at both ends, from T = 0, to t = 0.2,
by implicit Euler (NumPy/SciPy). kelvin runs it as

    rod.py PARAMS RESULTS

with PARAMS kelvin's JSON parameters file ({"params": {"D": ..., "q": ...}, "kelvin": {...}}).
It writes the scalar responses (peak temperature, heat content) to RESULTS as JSON and the final
field T(x) to rod.nc (netCDF-3, with its x coordinate), which kelvin reads for external.fields."""
import json
import sys

import numpy as np
from scipy.io import netcdf_file
from scipy.linalg import solve_banded

params, results = sys.argv[1], sys.argv[2]
p = json.load(open(params))["params"]
D, q = float(p["D"]), float(p["q"])
if D <= 0:
    sys.exit("rod.py: D must be positive, got %g" % D)
n, t_end, steps = 64, 0.2, 100
dx, dt = 1.0 / n, t_end / steps
x = (np.arange(n) + 0.5) * dx
src = q * np.exp(-(((x - 0.3) / 0.1) ** 2))
r = D * dt / dx**2
ab = np.zeros((3, n))
ab[0, 1:] = -r
ab[1, :] = 1 + 2 * r
ab[2, :-1] = -r
T = np.zeros(n)
for _ in range(steps):
    T = solve_banded((1, 1), ab, T + dt * src)
with open(results, "w") as f:
    json.dump({"T_peak": float(T.max()), "heat": float(T.sum() * dx)}, f)
with netcdf_file("rod.nc", "w") as nc:
    nc.createDimension("x", n)
    xv = nc.createVariable("x", "d", ("x",))
    xv[:] = x
    xv.units = b"m"
    tv = nc.createVariable("T", "d", ("x",))
    tv[:] = T
    tv.units = b"K"
