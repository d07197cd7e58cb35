"""Reduced-order models (run.model = rom): the linear Galerkin ROM with all POD modes reproduces
the full heat solver, its error falls with the number of modes, the affine kappa/source scales,
DEIM points and exactness against a NumPy greedy DEIM, the nonlinear DEIM ROM, the adaptive ROM
outside its training range against the non-adaptive one, rank invariance, and bad inputs."""
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, run, write_config

HEAT = """[run]
model = {model}
t_end = {t_end}
dt = {dt}
output = {out}
overwrite = true
output_every = 1

[heat]
dims = 2
n = {n}, {n}
scheme = {scheme}
solver = {solver}
{extra}
initial = gaussian(0.3, 0.6, 0.1, 1.0)
bc = dirichlet
bc_value.xlo = 1.0
source = gaussian(0.7, 0.3, 0.1, 20)
"""


def cfg(name, model="heat", n=24, scheme="implicit", solver="fft", extra="", t_end=0.05, dt=0.001,
        tail=""):
    out = os.path.join(OUT, name + ".h5")
    text = HEAT if "bc_value.xlo" not in extra else HEAT.replace("bc_value.xlo = 1.0\n", "")
    return write_config(name, text.format(model=model, n=n, scheme=scheme, solver=solver,
                                          extra=extra, t_end=t_end, dt=dt, out=out) + tail), out


def fit(config, *over):
    p = subprocess.run([KELVIN, "-q", "fit", config] + list(over), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        print("# " + p.stdout.strip().replace("\n", "\n# "))
    return p.returncode, p.stdout


def rel_err(a, b):
    """Largest relative L2 error over records."""
    A = h5py.File(a, "r")["T"][...]
    B = h5py.File(b, "r")["T"][...]
    return max(np.linalg.norm(A[i] - B[i]) / np.linalg.norm(A[i]) for i in range(len(A)))


def rom_tail(basis, extra=""):
    return f"\n[rom]\nbasis = {basis}\n{extra}\n"


os.makedirs(OUT, exist_ok=True)

# ---- linear heat: all modes, truncation, affine scales --------------------------------------
for scheme, solver, extra in (("implicit", "fft", ""), ("cn", "pcg", "rtol = 1e-13")):
    name = f"rom_lin_{scheme}"
    c, full = cfg(name, scheme=scheme, solver=solver, extra=extra,
                  tail=f"\n[surrogate]\nkind = pod\ndata = {OUT}/{name}.h5\nmodel = {OUT}/{name}_pod.h5\nenergy = 1\n")
    run(c)
    rc, out = fit(c)
    check(rc == 0 and "reduced operators" in out, f"{scheme}: kelvin fit kind = pod on a linear run: {out.strip()}")
    basis = f"{OUT}/{name}_pod.h5"
    rc_, romf = cfg(name + "_rom", model="rom", scheme=scheme, solver=solver, extra=extra,
                    tail=rom_tail(basis, "adaptive = false"))
    rc, _ = run(rc_)
    e = rel_err(full, romf) if rc == 0 else np.inf
    check(e < 1e-10, f"{scheme}/{solver}: the linear ROM with all modes reproduces the full solution "
          f"(largest relative L2 error over 51 records {e:.1e} < 1e-10)")

c, full = cfg("rom_lin_implicit")
basis = f"{OUT}/rom_lin_implicit_pod.h5"
errs = []
for m in (1, 2, 4, 6, 8, 10):
    cr, romf = cfg(f"rom_lin_m{m}", model="rom", tail=rom_tail(basis, f"adaptive = false\nmodes = {m}"))
    rc, _ = run(cr)
    errs.append(rel_err(full, romf) if rc == 0 else np.inf)
check(all(errs[i + 1] < errs[i] for i in range(len(errs) - 1)),
      "the truncated ROM's error decreases with the number of modes: " +
      ", ".join(f"{m}: {e:.1e}" for m, e in zip((1, 2, 4, 6, 8, 10), errs)))
with h5py.File(f"{OUT}/rom_lin_m10.h5", "r") as f:
    check(f["rom/modes"][-1] == 10 and f["rom/updates"][-1] == 0 and "indicator" in f["rom"],
          "the output has the full-model layout plus /rom/indicator, /rom/updates, /rom/modes")
    check(f["T"].shape == (51, 24, 24) and f["T"].dims[1][0].name.endswith("y"),
          "T keeps the heat layout (time, y, x) with its coordinates")

# rom.output = coefficients: the records hold only the reduced coefficients; the basis modes times
# them give the fields the default output writes.
rc, _ = run(f"{OUT}/rom_lin_m10.ini", "rom.output=coefficients",
            f"run.output={OUT}/rom_lin_m10_coef.h5")
if check(rc == 0, "rom.output = coefficients runs"):
    with h5py.File(f"{OUT}/rom_lin_m10_coef.h5", "r") as f, h5py.File(basis, "r") as b, \
            h5py.File(f"{OUT}/rom_lin_m10.h5", "r") as g:
        c = f["rom/coefficients"][...]
        lifted = np.tensordot(c, b["rom/modes"][:c.shape[1]], axes=(1, 0))
        T = g["T"][...]
        check(c.shape == (51, 10) and "T" not in f and
              np.abs(lifted - T).max() <= 1e-12 * np.abs(T).max(),
              f"coefficients (51 records x 10 modes, no fields) x the basis modes = the fields of "
              f"the default output (max diff {np.abs(lifted - T).max():.1e})")
rc, out = run(f"{OUT}/rom_lin_m10.ini", "rom.output=coefficients", "rom.adaptive=true",
              f"run.output={OUT}/rom_lin_m10_coef2.h5", expect=2)
check(rc == 2 and "rom.adaptive = false" in out, "coefficients of an adaptive ROM are refused: "
      + out.strip().splitlines()[-1][-120:])

# Affine in kappa and source scales: a sweep over both trains the basis; the ROM at the training
# points (all modes) is exact, between them accurate.
sweep = cfg("rom_affine", tail=f"""
[sweep]
method = grid
vary = heat.kappa_scale = 0.5|2, heat.source_scale = 0.5|2
dir = {OUT}/rom_affine_sweep

[surrogate]
kind = pod
energy = 1
""")[0]
shutil.rmtree(f"{OUT}/rom_affine_sweep", ignore_errors=True)
p = subprocess.run([KELVIN, "-q", "sweep", sweep], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
check(p.returncode == 0, "sweep over heat.kappa_scale x heat.source_scale ran")
rc, out = fit(sweep)
check(rc == 0 and os.path.exists(f"{OUT}/rom_affine_sweep/model_pod.h5"),
      "kelvin fit kind = pod on a sweep directory writes <dir>/model_pod.h5")
basis = f"{OUT}/rom_affine_sweep/model_pod.h5"
for ks, qs, tol, what in ((2, 0.5, 1e-10, "a training point"), (1.3, 0.8, 1e-3, "between training points")):
    c, full = cfg(f"rom_aff_full_{ks}", extra=f"kappa_scale = {ks}\nsource_scale = {qs}")
    run(c)
    cr, romf = cfg(f"rom_aff_rom_{ks}", model="rom", extra=f"kappa_scale = {ks}\nsource_scale = {qs}",
                   tail=rom_tail(basis, "adaptive = false"))
    rc, _ = run(cr)
    e = rel_err(full, romf) if rc == 0 else np.inf
    check(e < tol, f"affine ROM at kappa_scale = {ks}, source_scale = {qs} ({what}): error {e:.1e} < {tol:g}")

# The adaptive linear ROM far outside its basis (kappa x 3, no source): updates rebuild the
# reduced operators in the rotated basis, so it stays accurate.
c, full = cfg("rom_lin_out_full", extra="kappa_scale = 3\nsource_scale = 0")
run(c)
cr, romf = cfg("rom_lin_out_rom", model="rom", extra="kappa_scale = 3\nsource_scale = 0",
               tail=rom_tail(f"{OUT}/rom_lin_m10.h5".replace("rom_lin_m10.h5", "rom_lin_implicit_pod.h5"),
                             "modes = 4\ntolerance = 0.01"))
rc, _ = run(cr)
e = rel_err(full, romf) if rc == 0 else np.inf
with h5py.File(romf, "r") as f:
    up = f["rom/updates"][-1] if rc == 0 else 0
rc, _ = run(cr, "rom.adaptive=false", f"run.output={OUT}/rom_lin_out_na.h5")
ena = rel_err(full, f"{OUT}/rom_lin_out_na.h5") if rc == 0 else 0
check(up > 0 and e < 0.05 and ena > 3 * e,
      f"adaptive linear ROM (4 modes, kappa x 3, tolerance 0.01): {int(up)} full steps, error "
      f"{e:.1e} < 0.05; non-adaptive {ena:.1e}")

# ---- nonlinear kappa(T): DEIM --------------------------------------------------------------
NL = "rtol = 1e-12\nnl_rtol = 1e-11\nkappa = linear(0.5, 1.0)"
c, nlfull = cfg("rom_nl", solver="pcg", extra=NL, t_end=0.08,
                tail=f"\n[surrogate]\nkind = pod\ndata = {OUT}/rom_nl.h5\nmodel = {OUT}/rom_nl_pod.h5\n")
run(c)
rc, out = fit(c)
check(rc == 0 and "DEIM modes" in out, f"kelvin fit kind = pod on a kappa(T) run: {out.strip()}")
nlbasis = f"{OUT}/rom_nl_pod.h5"
with h5py.File(nlbasis, "r") as f:
    W = f["rom/deim_modes"][...].reshape(f["rom/deim_modes"].shape[0], -1).T
    P = f["rom/deim_points"][...].astype(int)
# NumPy greedy DEIM (Chaturantabut & Sorensen) on the stored basis.
Pn = [int(np.argmax(np.abs(W[:, 0])))]
for l in range(1, W.shape[1]):
    c_ = np.linalg.solve(W[Pn, :l], W[Pn, l])
    Pn.append(int(np.argmax(np.abs(W[:, l] - W[:, :l] @ c_))))
check(list(P) == Pn, f"DEIM points ({len(P)}) = NumPy's greedy DEIM on the stored basis")
interp = W @ np.linalg.solve(W[P, :], W[P, :])
e = np.abs(interp - W).max()
check(e < 1e-12, f"DEIM is exact on its basis vectors (max |W (P^T W)^-1 P^T W - W| = {e:.1e})")

cr, nlrom = cfg("rom_nl_rom", model="rom", solver="pcg", extra=NL, t_end=0.08,
                tail=rom_tail(nlbasis, "adaptive = false"))
rc, _ = run(cr)
e = rel_err(nlfull, nlrom) if rc == 0 else np.inf
check(e < 1e-3, f"the DEIM ROM reproduces its training run (error {e:.1e} < 1e-3)")

# Outside the training range: 3x the source, cold boundary.
OUTSIDE = NL + "\nsource_scale = 3\nbc_value.xlo = 0"
c, ofull = cfg("rom_out_full", solver="pcg", extra=OUTSIDE, t_end=0.08)
run(c)
TOL = 0.03
res = {}
for ad in ("false", "true"):
    cr, orom = cfg(f"rom_out_{ad}", model="rom", solver="pcg", extra=OUTSIDE, t_end=0.08,
                   tail=rom_tail(nlbasis, f"adaptive = {ad}\ntolerance = {TOL}"))
    rc, _ = run(cr)
    res[ad] = rel_err(ofull, orom) if rc == 0 else np.inf
    with h5py.File(orom, "r") as f:
        res[ad + "_updates"] = f["rom/updates"][-1]
        res[ad + "_ind"] = f["rom/indicator"][1:].max()
check(res["false"] > 10 * TOL and res["false_ind"] > TOL,
      f"outside the training range the non-adaptive ROM is far off (error {res['false']:.2f} > "
      f"10 x tolerance {TOL}) and its indicator says so (max {res['false_ind']:.2f})")
check(res["true"] < 2 * TOL and res["true_updates"] > 0,
      f"the adaptive ROM stays within 2 x its tolerance (error {res['true']:.1e}, "
      f"{int(res['true_updates'])} full steps of 80)")

# ---- checkpoint and restart while the basis is being updated --------------------------------
cr, ck = cfg("rom_chk_heat", model="rom", solver="pcg", extra=OUTSIDE, t_end=0.08,
             tail=rom_tail(nlbasis, f"tolerance = {TOL}"))
for x in os.listdir(OUT):
    if x.startswith("rom_chk_heat.checkpoint.h5"):
        os.remove(os.path.join(OUT, x))
rc1, _ = run(cr, "run.t_end=0.035", "run.checkpoint_every=30")
chk = ck.replace(".h5", ".checkpoint.h5")
rc2, _ = run(cr, "--restart", chk, ranks=2)
ad = f"{OUT}/rom_out_true.h5"
if rc1 == 0 and rc2 == 0:
    with h5py.File(ad, "r") as f, h5py.File(ck, "r") as g, h5py.File(chk, "r") as c:
        A, B = f["T"][...], g["T"][...]
        n = len(B)
        d = np.abs(A[-n:] - B).max()
        same_upd = (f["rom/updates"][-n:] == g["rom/updates"][...]).all()
        u0 = int(c["rom/updates"][-1])
        u1 = int(g["rom/updates"][-1])
else:
    n, d, same_upd, u0, u1 = 0, np.inf, False, 0, 0
check(n == 51 and d < 1e-9 and same_upd and 0 < u0 < u1,
      f"heat ROM: restart (2 ranks) from a checkpoint at step 30 continues as if never stopped "
      f"(the state at step 30 and 50 more records: {n}, updates {u0} -> {u1}, T within {d:.1e})")

# ---- the indicator against the true error of each step (rom.check_every) ---------------------
# Every step also taken by the full solver from the same state: the ROM step's error beside its
# indicator, on the training case and outside the training range, adaptive and not.
E, I = [], []
for name, extra, ad in (("train", NL, "false"), ("train_ad", NL, "true"),
                        ("out", OUTSIDE, "false"), ("out_ad", OUTSIDE, "true")):
    cr, f_ = cfg(f"rom_chk_{name}", model="rom", solver="pcg", extra=extra, t_end=0.08,
                 tail=rom_tail(nlbasis, f"adaptive = {ad}\ntolerance = {TOL}\ncheck_every = 1"))
    rc, _ = run(cr)
    with h5py.File(f_, "r") as f:
        e, i = f["rom/local_error"][...], f["rom/checked_indicator"][...]
        ok0 = np.isnan(e[0]) and np.isnan(i[0])
        E += list(e[1:])
        I += list(i[1:])
    if name == "out_ad":
        same = rel_err(orom, f_) if rc == 0 else np.inf
E, I = np.array(E), np.array(I)
good = np.isfinite(E).all() and (E > 0).all() and (I > 0).all()
corr = np.corrcoef(np.log(E), np.log(I))[0, 1] if good else -1
check(good and ok0 and corr > 0.8,
      f"indicator and true step error correlate over {len(E)} checked steps (training and outside, "
      f"adaptive and not): log-log Pearson {corr:.2f} > 0.8")
check(same < 1e-12, f"checking every step leaves the adaptive ROM's solution unchanged ({same:.1e})")

# ---- rank invariance -----------------------------------------------------------------------
files = {}
for n in (1, 2, 4):
    cr, f_ = cfg(f"rom_ranks_{n}", model="rom", solver="pcg", extra=OUTSIDE, t_end=0.08,
                 tail=rom_tail(nlbasis, f"tolerance = {TOL}"))
    rc, _ = run(cr, ranks=n)
    files[n] = f_ if rc == 0 else None
ok = all(files.values())
d = max(rel_err(files[1], files[n]) for n in (2, 4)) if ok else np.inf
with h5py.File(files[1], "r") as a, h5py.File(files[4], "r") as b:
    same_updates = (a["rom/updates"][...] == b["rom/updates"][...]).all()
check(ok and d < 1e-9 and same_updates,
      f"the adaptive DEIM ROM on 1, 2 and 4 ranks: same updates, fields agree to {d:.1e}")

# ---- bad inputs ----------------------------------------------------------------------------
def err(cr, *over):
    rc, out = run(cr, *over, expect=None)
    return rc, out.strip().splitlines()[-1] if out.strip() else ""


cr, _ = cfg("rom_bad", model="rom", solver="pcg", extra=NL, tail=rom_tail(nlbasis))
rc, msg = err(cr, "heat.n=16,16")
check(rc != 0 and "rom.basis" in msg and "24 x 24" in msg and "16 x 16" in msg,
      f"a basis from another grid is refused: {msg}")
rc, msg = err(cr, f"rom.basis={OUT}/no_such_basis.h5")
check(rc != 0 and "rom.basis" in msg and "no_such_basis.h5" in msg, f"a missing basis file: {msg}")
for t in ("0", "-1"):
    rc, msg = err(cr, f"rom.tolerance={t}")
    check(rc != 0 and "rom.tolerance" in msg, f"rom.tolerance = {t} is refused: {msg}")
rc, msg = err(cr, f"rom.basis={OUT}/rom_lin_implicit_pod.h5")
check(rc != 0 and "rom.basis" in msg, f"a linear problem's basis for a kappa(T) run: {msg}")
rc, msg = err(cr, f"rom.basis={nlfull}")
check(rc != 0 and "not a POD model file" in msg, f"a run output as the basis: {msg}")
finish()
