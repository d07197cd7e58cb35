"""Energy-balance model: analytic steady state and its convergence order, heat budget, ice-albedo
equilibria, equilibrium response F/B, 2D-with-uniform-surface = 1D, rank invariance with noise,
ensemble seeds, restart, CF/xarray reading, and clear errors for bad input."""
import os

import h5py
import numpy as np

from kvtest import OUT, check, finish, order, run, write_config

R = 6.371e6
YEAR = 365 * 86400.0


def config(name, run_keys="", ebm_keys=""):
    text = "[run]\nmodel = ebm\noutput = %s/%s.h5\noverwrite = true\n%s\n[ebm]\n%s\n" % (
        OUT, name, run_keys.strip(), ebm_keys.strip())
    return write_config(name, text)


def ebm(name, run_keys, ebm_keys, *overrides, ranks=1, expect=0):
    path = config(name, run_keys, ebm_keys)
    rc, out = run(path, *overrides, ranks=ranks, expect=expect)
    return rc, out, os.path.join(OUT, name + ".h5")


def load(path, *names):
    with h5py.File(path, "r") as f:
        return [f[n][...] for n in names]


# 1. Annual 1D model, a2 = 0, no ice: T = [(1 - a0) S0/4 (1 + s2 P2 / (1 + 6 D/B)) - A] / B.
A, B, D, a0, S0, s2 = 210.0, 2.0, 0.555, 0.3, 1365.2, -0.48
errs = []
for n in (24, 48, 96):
    rc, out, path = ebm("ebm_steady_%d" % n, "year_start = 0\nyear_end = 199\nsteps_per_year = 1",
                        "nlat = %d\nnlon = 1\nalbedo = constant\nland_mask = none\nT_init = 0" % n)
    tas, lat = load(path, "tas", "lat")
    T = tas[-1, :, 0] - 273.15
    p2 = 0.5 * (3 * np.sin(np.deg2rad(lat)) ** 2 - 1)
    exact = ((1 - a0) * S0 / 4 * (1 + s2 * p2 / (1 + 6 * D / B)) - A) / B
    check(np.abs(tas[-1] - tas[-2]).max() < 1e-9, "steady state reached at nlat = %d" % n)
    errs.append(np.abs(T - exact).max())
orders = order(errs)
check(errs[-1] < 1e-2, "1D steady state equals the analytic solution (max error %.2e K at nlat = 96)"
      % errs[-1])
check(min(orders) >= 1.9, "steady-state error converges at order >= 1.9: %s (errors %s)"
      % (np.round(orders, 3), ["%.2e" % e for e in errs]))

# 2. Heat budget: change of heat content = time-integrated global net flux, in a run with every
# process on (seasonal sun, smooth ice albedo, land/ocean, scenario with aerosols, noise).
full = ("nlat = 24\nnlon = 36\ninsolation = seasonal\nalbedo = smooth\nland_mask = idealized\n"
        "scenario = ssp585\nnoise_std = 2\nnoise_corr_km = 2000\nnoise_tau = 1\nseed = 5\n"
        "T_init = legendre(12, -40)")
rc, out, path = ebm("ebm_budget", "year_start = 2000\nyear_end = 2040\nsteps_per_year = 24", full)
H, N = load(path, "diagnostics/heat_content", "diagnostics/toa_imbalance")
dH = np.diff(H)
flux = N[1:] * 4 * np.pi * R ** 2 * YEAR
rel = np.abs(dH - flux).max() / np.abs(flux).max()
check(rel < 1e-10, "heat budget closes: max |dH - integrated flux| / max |flux| = %.2e" % rel)

# 3. Step ice albedo with North's parameters, from climlab's initial state: ice edges near +-70;
# a weaker sun (S0 = 1200) ends in a snowball.
ice = ("nlat = 90\nnlon = 1\nalbedo = step\nA = 210\nB = 2\nD = 0.555\na0 = 0.3\na2 = 0.078\n"
       "ai = 0.62\nTf = -10\nS0 = 1365.2\ns2 = -0.48\nland_mask = none\nT_init = legendre(12, -40)")
rc, out, path = ebm("ebm_ice", "year_start = 0\nyear_end = 199\nsteps_per_year = 10", ice)
n_edge, s_edge = load(path, "diagnostics/ice_edge_north", "diagnostics/ice_edge_south")
check(67 <= n_edge[-1] <= 73 and -73 <= s_edge[-1] <= -67 and abs(n_edge[-1] + s_edge[-1]) < 1e-9,
      "step ice albedo: ice edges at %.2f / %.2f degrees" % (n_edge[-1], s_edge[-1]))
rc, out, path = ebm("ebm_snowball", "year_start = 0\nyear_end = 199\nsteps_per_year = 10", ice,
                    "ebm.S0=1200")
n_edge, s_edge, g = load(path, "diagnostics/ice_edge_north", "diagnostics/ice_edge_south",
                         "tas_global")
check(n_edge[-1] == 0 and s_edge[-1] == 0 and g[-1] < 273.15 - 30,
      "S0 = 1200: snowball (edges %g / %g, global mean %.1f C)" % (n_edge[-1], s_edge[-1],
                                                                  g[-1] - 273.15))

# 4. Constant albedo, uniform forcing F: equilibrium warming F/B everywhere (land and ocean).
eq = "nlat = 18\nnlon = 24\nalbedo = constant\nland_mask = idealized\nT_init = 10"
runs = {}
for F in (0.0, 3.7):
    rc, out, path = ebm("ebm_forced_%g" % F, "year_start = 0\nyear_end = 299\nsteps_per_year = 4",
                        eq, "ebm.forcing=%g" % F)
    runs[F] = load(path, "tas")[0][-1]
dT = runs[3.7] - runs[0.0]
check(np.abs(dT - 3.7 / B).max() < 1e-8, "uniform forcing 3.7 W m-2: warming F/B = %.4f K everywhere "
      "(range %.10f..%.10f)" % (3.7 / B, dT.min(), dT.max()))

# 5. 2D with a zonally uniform surface equals the 1D model.
zonal = ("nlat = 30\ninsolation = seasonal\nalbedo = smooth\nland_mask = none\nscenario = ssp245\n"
         "aerosol_scale = 0\nT_init = legendre(12, -40)")
rc, out, p1 = ebm("ebm_zonal1", "year_start = 1950\nyear_end = 2030\nsteps_per_year = 12",
                  zonal + "\nnlon = 1")
rc, out, p2 = ebm("ebm_zonal2", "year_start = 1950\nyear_end = 2030\nsteps_per_year = 12",
                  zonal + "\nnlon = 16")
t1, t2 = load(p1, "tas")[0], load(p2, "tas")[0]
diff = np.abs(t2 - t1).max()
check(t2.shape[2] == 16 and diff < 1e-10, "2D with a zonally uniform surface = 1D (max diff %.2e K)"
      % diff)

# 6. Rank invariance, noise included; ensemble members differ only by seed.
inv = ("nlat = 20\nnlon = 24\ninsolation = seasonal\nalbedo = smooth\nland_mask = idealized\n"
       "scenario = ssp370\nnoise_std = 1.5\nnoise_corr_km = 1200\nseed = 3")
ref = None
for n in (1, 2, 4):
    rc, out, path = ebm("ebm_ranks%d" % n, "year_start = 2010\nyear_end = 2025\nsteps_per_year = 20",
                        inv, ranks=n)
    tas, toa = load(path, "tas", "diagnostics/toa_imbalance")
    if ref is None:
        ref = (tas, toa)
    else:
        check(np.abs(tas - ref[0]).max() <= 1e-12 and np.abs(toa - ref[1]).max() <= 1e-12,
              "%d ranks = 1 rank with noise (tas %.1e, toa %.1e)"
              % (n, np.abs(tas - ref[0]).max(), np.abs(toa - ref[1]).max()))
rc, out, path = ebm("ebm_seed4", "year_start = 2010\nyear_end = 2025\nsteps_per_year = 20", inv,
                    "ebm.seed=4")
other = load(path, "tas")[0]
d = np.abs(other - ref[0])
check(d.max() > 0.05, "another seed gives another member (max difference %.3f K)" % d.max())
rc, out, path = ebm("ebm_noiseless", "year_start = 2010\nyear_end = 2025\nsteps_per_year = 20", inv,
                    "ebm.noise_std=0")
quiet = load(path, "tas")[0]
spread = np.abs(quiet - ref[0]).mean()
check(0.02 < spread < 5, "the noise makes internal variability (mean |member - noiseless| %.3f K)"
      % spread)

# 7. Checkpoint mid-year and restart: the continued run equals the uninterrupted one.
rk = "year_start = 1990\nyear_end = 1999\nsteps_per_year = 20\ncheckpoint_every = 130"
rc, out, path = ebm("ebm_full", rk, inv)
chk = os.path.join(OUT, "ebm_full.checkpoint.h5")
check(os.path.exists(chk), "a checkpoint was written")
rc, out, rpath = ebm("ebm_restarted", rk, inv, "--restart", chk, ranks=2)
a, ta = load(path, "tas", "time")
b, tb = load(rpath, "tas", "time")
k = len(ta) - len(tb)
check(rc == 0 and len(tb) == 4 and np.array_equal(ta[k:], tb) and np.array_equal(a[k:], b),
      "restart from a mid-year checkpoint (2 ranks) reproduces the last %d years bit for bit" % len(tb))

# 7b. SIGTERM mid-run: records kept, state checkpointed, the printed restart ends bit for bit.
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from kvtest import KELVIN  # noqa: E402

term = ("nlat = 48\nnlon = 72\ninsolation = seasonal\nland_mask = idealized\nnoise_std = 1\n"
        "T_init = legendre(12, -40)")
tcfg = config("ebm_term", "year_start = 0\nyear_end = 1999\nsteps_per_year = 20", term)
for f in ("ebm_term.h5", "ebm_term.interrupted.h5", "ebm_term.checkpoint.h5"):
    if os.path.exists(os.path.join(OUT, f)):
        os.remove(os.path.join(OUT, f))
p = subprocess.Popen([KELVIN, "-q", "run", tcfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
t0 = time.time()
while not os.path.exists(os.path.join(OUT, "ebm_term.h5.part")) and time.time() - t0 < 30 \
        and p.poll() is None:
    time.sleep(0.01)
time.sleep(0.3)
p.send_signal(signal.SIGTERM)
out, _ = p.communicate()
tchk = os.path.join(OUT, "ebm_term.checkpoint.h5")
if check(p.returncode == 3 and "interrupted by signal 15" in out and os.path.exists(tchk),
         "SIGTERM stops the EBM cleanly (exit 3) with a checkpoint"):
    rc, _ = run(tcfg, "--restart", tchk)
    rc2, _, ref_path = ebm("ebm_term_ref", "year_start = 0\nyear_end = 1999\nsteps_per_year = 20",
                           term)
    kept, kt = load(os.path.join(OUT, "ebm_term.interrupted.h5"), "tas", "time")
    cont, ct = load(os.path.join(OUT, "ebm_term.h5"), "tas", "time")
    full, ft = load(ref_path, "tas", "time")
    check(rc == 0 and rc2 == 0 and np.array_equal(np.concatenate([kt, ct]), ft)
          and np.array_equal(np.concatenate([kept, cont]), full),
          "interrupted records + restarted records = the uninterrupted run, bit for bit "
          "(%d + %d years)" % (len(kt), len(ct)))

# 7c. Land mask and initial state from files.
mask = os.path.join(OUT, "ebm_mask.h5")
with h5py.File(mask, "w") as f:
    f["ocean"] = np.zeros((12, 18))
    f["land"] = np.ones((12, 18))
mk = "nlat = 12\nnlon = 18\nalbedo = smooth\nT_init = legendre(12, -40)"
yrs = "year_start = 1900\nyear_end = 1909\nsteps_per_year = 12"
rc, out, pn = ebm("ebm_mask_none", yrs, mk + "\nland_mask = none")
rc2, out, pf = ebm("ebm_mask_file", yrs, mk + "\nland_mask = %s:/ocean" % mask)
rc3, out, pl = ebm("ebm_mask_land", yrs, mk + "\nland_mask = %s:/land" % mask)
a, b, c = (load(x, "tas", "diagnostics/heat_content") for x in (pn, pf, pl))
check(rc == rc2 == rc3 == 0 and np.array_equal(a[0], b[0]) and abs(c[1][-1] / a[1][-1] - 1e7 / (1025 * 3985 * 50)) < 0.05,
      "land mask from a file: all ocean = none bit for bit; all land scales the heat content by "
      "C_land / C_ocean (%.4f vs %.4f)" % (c[1][-1] / a[1][-1], 1e7 / (1025 * 3985 * 50)))
rc, out, pi = ebm("ebm_from_file", "year_start = 1910\nyear_end = 1910\nsteps_per_year = 12",
                  mk.replace("legendre(12, -40)", "%s:/tas" % pn) + "\nland_mask = none")
first = load(pi, "tas")[0][0]
check(rc == 0 and np.abs(first - a[0][-1]).max() < 3.0,
      "T_init from an earlier run's /tas (K) continues its climate (max change %.2f K in a year)"
      % np.abs(first - a[0][-1]).max())

# 8. The file is CF: xarray decodes the noleap time axis and sees lat/lon coordinates.
import xarray as xr  # noqa: E402

with xr.open_dataset(path) as ds:
    t0 = ds["time"].values[0]
    check(ds["tas"].dims == ("time", "lat", "lon") and ds["lat"].attrs["units"] == "degrees_north"
          and ds["lon"].attrs["units"] == "degrees_east", "xarray: tas(time, lat, lon) in degrees")
    check(t0.year == 1990 and t0.month == 7 and t0.calendar == "noleap",
          "xarray: annual means stamped mid-year in the noleap calendar (%s)" % t0)
    w = np.cos(np.deg2rad(ds["lat"]))
    gm = ds["tas"].weighted(w).mean(("lat", "lon")).values
    check(np.abs(gm - ds["tas_global"].values).max() < 1e-9,
          "tas_global equals xarray's cos(lat)-weighted mean")

# 9. An independent NumPy implementation of the same scheme (bench/ebm_numpy.py) agrees.
import subprocess  # noqa: E402

peer = ("nlat = 24\nnlon = 36\nalbedo = smooth\nland_mask = none\nscenario = ssp126\n"
        "aerosol_scale = 0")
rc, out, path = ebm("ebm_peer", "year_start = 2000\nyear_end = 2030\nsteps_per_year = 12", peer)
npy = os.path.join(OUT, "ebm_peer.npy")
subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "..", "bench",
                                                 "ebm_numpy.py"), "24", "36", "2000", "2030", "12",
                "ssp126", npy], check=True, stdout=subprocess.DEVNULL)
d = np.abs(np.load(npy) - load(path, "tas")[0]).max()
check(d < 1e-9, "NumPy peer of the same scheme gives the same tas (max diff %.2e K)" % d)

# 10. Bad input in the file: a clear message naming file, key and expectation.
bad = [
    ("ebm", "scenario = nosuch", "unknown scenario 'nosuch'"),
    ("ebm", "scenario = %s/missing.csv" % OUT, "missing.csv"),
    ("run", "year_end = 2150\n[ebm]\nscenario = ssp245", "covers the years 1850-2100"),
    ("ebm", "nlat = 2", "expected an integer in [3, 100000]"),
    ("ebm", "nlon = 2", "expected 1 (zonal mean) or at least 3"),
    ("ebm", "land_heat_capacity = -5", "land_heat_capacity"),
    ("ebm", "land_heat_capacity = 0", "expected a positive heat capacity"),
    ("ebm", "ocean_depth = 0", "expected a positive mixed-layer depth"),
    ("run", "t_end = 10", "not used by the ebm model"),
    ("ebm", "land_mask = %s/none.h5:/mask" % OUT, "ebm.land_mask"),
    ("run", "year_end = 1990", "expected a year >= run.year_start"),
]
for section, line, frag in bad:
    text = "[run]\nmodel = ebm\noutput = %s/ebm_bad.h5\nyear_start = 2000\n" % OUT
    size = "" if line.startswith("nlat") else "nlat = 8\n"
    text += ("%s\n[ebm]\n%s" % (line, size)) if section == "run" else \
        ("year_end = 2001\n[ebm]\n%s%s\n" % (size, line))
    if "year_end" not in text:
        text = text.replace("year_start = 2000\n", "year_start = 2000\nyear_end = 2001\n")
    path = write_config("ebm_bad", text)
    rc, out = run(path, expect=None)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    check(rc == 2 and frag in out and "ebm_bad.ini:" in out,
          "%s: exit %d, message names file and key: %s" % (line.split("\n")[0], rc, last))

finish()
