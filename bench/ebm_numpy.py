"""A NumPy peer of kelvin's energy-balance model step, for bench/ebm.sh: the same finite volumes on
the sphere, the same directional implicit sweeps (latitude with sources and B T, then longitude,
Thomas / Sherman-Morrison vectorised across the other axis), annual insolation, smooth ice albedo,
aquaplanet, CO2 from the scenario CSVs, no aerosols or noise. Written the way a scientist would
script it, to time against kelvin and to check it gives the same answer.

  /usr/bin/python3 bench/ebm_numpy.py NLAT NLON YEAR0 YEAR1 SPY SCENARIO OUT.npy  -> prints seconds
"""
import sys
import time

import numpy as np

nlat, nlon, y0, y1, spy = (int(a) for a in sys.argv[1:6])
scen, out = sys.argv[6], sys.argv[7]
A, B, D, S0, s2, a0, a2, ai, Tf, wid = 210, 2, 0.555, 1365.2, -0.48, 0.3, 0.078, 0.62, -10, 2
C = 1025 * 3985 * 50.0
dt = 365 * 86400.0 / spy


def table(path):
    d = np.loadtxt(path, delimiter=",", comments="#", skiprows=3)
    return {int(r[0]): r[1] for r in d}


co2 = table("configs/scenarios/historical.csv")
if scen != "historical":
    co2.update(table("configs/scenarios/%s.csv" % scen))

dlat, dlon = np.pi / nlat, 2 * np.pi / nlon
lat = -np.pi / 2 + (np.arange(nlat) + 0.5) * dlat
edge = np.cos(-np.pi / 2 + np.arange(nlat + 1) * dlat)
edge[0] = edge[-1] = 0.0
dsin = 2 * np.cos(lat) * np.sin(dlat / 2)
cn, cs = edge[1:] / (dlat * dsin), edge[:-1] / (dlat * dsin)
ce = dlat / (np.cos(lat) * dlon ** 2 * dsin)
p2 = 0.5 * (3 * np.sin(lat) ** 2 - 1)
S = S0 / 4 * (1 + s2 * p2)
warm = a0 + a2 * p2

# Latitude system (per column, same for all columns): a x_j-1 + b x_j + c x_j+1.
la, lc = -D * cs, -D * cn
lb = C / dt + B + D * (cn + cs)
lcp, lm = np.zeros(nlat), np.zeros(nlat)
lm[0] = 1 / lb[0]
lcp[0] = lc[0] * lm[0]
for j in range(1, nlat):
    lm[j] = 1 / (lb[j] - la[j] * lcp[j - 1])
    lcp[j] = lc[j] * lm[j]

# Longitude systems (cyclic, one per row), Sherman-Morrison: x = y - (v.y / (1 + v.z)) z.
E = D * ce
ob = C / dt + 2 * E
gam = -ob
bb = np.tile(ob, (nlon, 1))
bb[0] -= gam
bb[-1] -= E * E / gam
cp, m = np.zeros((nlon, nlat)), np.zeros((nlon, nlat))
m[0] = 1 / bb[0]
cp[0] = -E * m[0]
for i in range(1, nlon):
    m[i] = 1 / (bb[i] + E * cp[i - 1])
    cp[i] = -E * m[i]


def thomas_lon(r):
    x = r.copy()
    x[0] *= m[0]
    for i in range(1, nlon):
        x[i] = (x[i] + E * x[i - 1]) * m[i]
    for i in range(nlon - 2, -1, -1):
        x[i] -= cp[i] * x[i + 1]
    return x


u = np.zeros((nlon, nlat))
u[0], u[-1] = gam, -E
z = thomas_lon(u)
beta = -E / gam
den = 1 + z[0] + beta * z[-1]

T = np.full((nlat, nlon), 10.0)
acc, years = np.zeros_like(T), []
t0 = time.perf_counter()
for year in range(y0, y1 + 1):
    F = 5.35 * np.log(co2[year] / 284.3)
    for k in range(spy):
        ice = 1 / (1 + np.exp(2 / wid * (T - Tf)))
        alb = warm[:, None] + (ai - warm[:, None]) * ice
        x = C / dt * T + S[:, None] * (1 - alb) - A + F
        x[0] *= lm[0]
        for j in range(1, nlat):
            x[j] = (x[j] - la[j] * x[j - 1]) * lm[j]
        for j in range(nlat - 2, -1, -1):
            x[j] -= lcp[j] * x[j + 1]
        if nlon > 1:
            y = thomas_lon((C / dt * x).T)
            f = (y[0] + beta * y[-1]) / den
            x = (y - f[None, :] * z).T
        T = x
        acc += T
    years.append(acc / spy + 273.15)
    acc[:] = 0
print("%.6f" % (time.perf_counter() - t0))
np.save(out, np.array(years))
