"""Reduced-order models of the energy-balance model (seasonal sun, smooth ice albedo): the
linear-implicit ROM with all modes and DEIM points reproduces the full model's annual means, a
truncated basis interpolates between its training runs, outside the training range the adaptive
ROM stays accurate while the non-adaptive one does not, 1/2/4 ranks agree, and a stochastic case
is refused clearly."""
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, run, write_config

EBM = """[run]
model = {model}
year_start = 1850
year_end = 1900
steps_per_year = 12
output = {out}
overwrite = true

[ebm]
nlat = 8
nlon = 12
insolation = seasonal
albedo = smooth
land_mask = idealized
scenario = historical
T_init = legendre(14, -40)

[sweep]
method = grid
vary = ebm.forcing = 0|3
dir = {OUT}/rom_ebm_sweep

[surrogate]
kind = pod
{surrogate}
"""


def cfg(name, model="ebm", surrogate="", tail=""):
    out = os.path.join(OUT, name + ".h5")
    return write_config(name, EBM.format(model=model, out=out, OUT=OUT, surrogate=surrogate)
                        + tail), out


def tas(path):
    with h5py.File(path, "r") as f:
        return f["tas"][...]


def rel_err(full, rom):
    """RMS error over all records relative to the RMS departure from the run's mean state."""
    a, b = tas(full), tas(rom)
    return np.linalg.norm(a - b) / np.linalg.norm(a - a.mean(axis=0))


def rom_run(name, basis, *over, ranks=1):
    cr, out = cfg(name, model="rom", tail=f"\n[rom]\nmodel = ebm\nbasis = {basis}\n")
    rc, text = run(cr, *over, ranks=ranks)
    return rc, out, text


def full_run(name, *over):
    cr, out = cfg(name)
    rc, _ = run(cr, *over)
    return out if rc == 0 else None


shutil.rmtree(f"{OUT}/rom_ebm_sweep", ignore_errors=True)
train, _ = cfg("rom_ebm_train", surrogate="energy = 1")
p = subprocess.run([KELVIN, "-q", "sweep", train], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True)
check(p.returncode == 0, "training sweep: ebm.forcing = 0 and 3 W m-2 (historical scenario)")


def fit(config, model, *over):
    p = subprocess.run([KELVIN, "-q", "fit", config, f"surrogate.model={model}"] + list(over),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        print("# " + p.stdout.strip().replace("\n", "\n# "))
    return p.returncode, p.stdout


# All modes (energy 1): the basis spans the training runs, the DEIM basis their explicit part.
allb = f"{OUT}/rom_ebm_all.h5"
rc, out = fit(train, allb)
with h5py.File(allb, "r") as f:
    k, kf, model = len(f["rom/sigma"]), len(f["rom/deim_sigma"]), f.attrs["model"]
    model = model.decode() if isinstance(model, bytes) else model
check(rc == 0 and model == "ebm" and kf > 0,
      f"kelvin fit kind = pod on ebm runs (re-simulated): {k} modes, {kf} DEIM modes")
ref = f"{OUT}/rom_ebm_sweep/case_0001.h5"
rc, rom, _ = rom_run("rom_ebm_exact", allb, "ebm.forcing=3", "rom.adaptive=false")
e = rel_err(ref, rom) if rc == 0 else np.inf
with h5py.File(rom, "r") as f:
    shape_ok = f["tas"].shape == tas(ref).shape and "indicator" in f["rom"]
check(e < 1e-8 and shape_ok,
      f"the ROM with all modes and DEIM points reproduces its training run's annual means "
      f"(relative error {e:.1e} < 1e-8; same layout plus /rom)")

# A truncated basis (default energy) between the training runs.
trunc = f"{OUT}/rom_ebm_trunc.h5"
rc, _ = fit(train, trunc, "surrogate.energy=0.9999999999")
with h5py.File(trunc, "r") as f:
    kt = len(f["rom/sigma"])
full_mid = full_run("rom_ebm_full_mid", "ebm.forcing=1.5")
rc, rom, _ = rom_run("rom_ebm_mid", trunc, "ebm.forcing=1.5", "rom.adaptive=false")
e = rel_err(full_mid, rom) if rc == 0 and full_mid else np.inf
check(kt < k and e < 1e-2,
      f"a truncated ROM ({kt} of {k} modes) between the training runs (forcing 1.5): error {e:.1e}")

# Outside the training range: a -8 W m-2 forcing grows the ice far beyond anything trained on.
TOL = 0.03
full_out = full_run("rom_ebm_full_out", "ebm.forcing=-8")
res = {}
for a in ("false", "true"):
    rc, rom, _ = rom_run(f"rom_ebm_out_{a}", trunc, "ebm.forcing=-8", f"rom.adaptive={a}",
                         f"rom.tolerance={TOL}")
    with h5py.File(rom, "r") as f:
        res[a] = (rel_err(full_out, rom) if rc == 0 else np.inf, f["rom/updates"][-1],
                  f["rom/indicator"][...].max())
nsteps = 51 * 12
check(res["false"][0] > 10 * TOL and res["false"][2] > TOL,
      f"the non-adaptive ROM outside its training range is wrong (error {res['false'][0]:.2f}) "
      f"and its indicator says so (max {res['false'][2]:.2f} > tolerance {TOL})")
check(res["true"][0] < 2 * TOL and 0 < res["true"][1] < 0.1 * nsteps,
      f"the adaptive ROM stays within 2 x its tolerance (error {res['true'][0]:.1e}, "
      f"{int(res['true'][1])} full steps of {nsteps})")

# Rank invariance of the adaptive run.
files = {}
for n in (1, 2, 4):
    rc, rom, _ = rom_run(f"rom_ebm_ranks_{n}", trunc, "ebm.forcing=-8", f"rom.tolerance={TOL}",
                         ranks=n)
    files[n] = rom if rc == 0 else None
ok = all(files.values())
d = max(np.abs(tas(files[1]) - tas(files[n])).max() for n in (2, 4)) if ok else np.inf
same = ok and all((h5py.File(files[1], "r")["rom/updates"][...] ==
                   h5py.File(files[n], "r")["rom/updates"][...]).all() for n in (2, 4))
check(ok and d < 1e-8 and same,
      f"the adaptive ebm ROM on 1, 2 and 4 ranks: same updates, tas agrees to {d:.1e} K")

# Checkpoint mid-year while the basis is still being updated (a run stopped after 6 years, its
# checkpoint at step 65), then restart on 2 ranks for the whole period: the continued run equals
# the uninterrupted one, updates after the restart included.
for x in os.listdir(OUT):
    if x.startswith("rom_ebm_chk.checkpoint.h5"):
        os.remove(os.path.join(OUT, x))
rc, rfull, _ = rom_run("rom_ebm_chk", trunc, "ebm.forcing=-8", f"rom.tolerance={TOL}",
                       "run.checkpoint_every=65", "run.year_end=1855")
chk = rfull.replace(".h5", ".checkpoint.h5")
with h5py.File(chk, "r") as f:
    upd_chk = int(f["rom/updates"][-1])
bases = [x for x in os.listdir(OUT) if x.startswith("rom_ebm_chk.checkpoint.h5.basis-")]
check(rc == 0 and upd_chk > 0 and bases == [f"rom_ebm_chk.checkpoint.h5.basis-{upd_chk}.h5"],
      f"a ROM checkpoint at step 65 (mid-year) after {upd_chk} updates, its bases beside it: {bases}")
rc, rres, _ = rom_run("rom_ebm_restarted", trunc, "ebm.forcing=-8", f"rom.tolerance={TOL}",
                      "--restart", chk, ranks=2)
if rc == 0:
    a, b = tas(files[1]), tas(rres)
    with h5py.File(files[1], "r") as f, h5py.File(rres, "r") as g:
        ua, ub = f["rom/updates"][...], g["rom/updates"][...]
    n = len(b)
    d = np.abs(a[-n:] - b).max()
    same_upd = (ua[-n:] == ub).all() and ub[-1] > upd_chk
else:
    n, d, same_upd, ub = 0, np.inf, False, [0]
check(rc == 0 and n == 51 - 5 and d < 1e-9 and same_upd,
      f"restart from it (2 ranks) continues as if never stopped: {n} years, the same updates "
      f"({upd_chk} -> {int(ub[-1])}), tas within {d:.1e} K")
rc, text = run(cr_ := cfg("rom_ebm_badrestart", model="rom",
                          tail=f"\n[rom]\nmodel = ebm\nbasis = {trunc}\n")[0],
               # the configuration of the file itself (a conflicting one is refused first)
               "ebm.forcing=-8", "rom.tolerance=0.03", "--restart", rfull, expect=None)
check(rc != 0 and "not a ROM checkpoint" in text,
      f"an ebm ROM output (annual means) is refused as a restart: "
      f"{text.strip().splitlines()[-1] if text.strip() else ''}")

# kelvin validate with kind = pod: held-out cases by the full solver and by the ROM.
vcfg = write_config("rom_ebm_validate", open(train).read() + f"""
[validate]
vary = ebm.forcing = 1.5|-8
rom_tolerance = {TOL}
dir = {OUT}/rom_ebm_validate
tolerance.rel_l2 = {2 * TOL}
""")
shutil.rmtree(f"{OUT}/rom_ebm_validate", ignore_errors=True)
p = subprocess.run([KELVIN, "-q", "validate", vcfg, f"surrogate.model={trunc}"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
vh5 = f"{OUT}/rom_ebm_validate/validation.h5"
ok = p.returncode == 0 and os.path.exists(vh5)
if ok:
    with h5py.File(vh5, "r") as f:
        rel, corr = f["/metrics"].attrs["rel_l2"], f["/metrics"].attrs["indicator_error_correlation"]
        cases = f["/case_rel_l2"][...]
        steps = f["/case_full_steps"][...]
    # Independent: the held-out -8 case against the full run made above.
    e8 = rel_err(full_out, f"{OUT}/rom_ebm_validate/holdout_rom/case_0001.h5")
else:
    print("# " + p.stdout.strip().replace("\n", "\n# "))
    rel = corr = e8 = np.inf
    cases = steps = np.array([])
check(ok and len(cases) == 2 and rel < 2 * TOL and abs(cases[1] - e8) < 1e-9 * max(e8, 1e-30)
      and steps[1] > 0 and np.isfinite(corr),
      f"kelvin validate kind = pod: 2 held-out cases, mean relative error {rel:.1e} (case -8: "
      f"{e8:.1e}, recomputed), full steps {steps}, indicator/error correlation {corr:.2f}")
with open(f"{OUT}/rom_ebm_validate/validation.md") as f:
    md = f.read()
check("| case | rel. error |" in md and "validation_error.png" in md,
      "validation.md has the per-case table and the maps")

# A stochastic case cannot be reduced: said clearly.
cr, _ = cfg("rom_ebm_noise", model="rom", tail=f"\n[rom]\nmodel = ebm\nbasis = {trunc}\n")
rc, text = run(cr, "ebm.noise_std=1", expect=None)
check(rc != 0 and "ebm.noise_std" in text, f"a stochastic ebm case is refused: "
      f"{text.strip().splitlines()[-1] if text.strip() else ''}")
finish()
