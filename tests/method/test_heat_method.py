"""Method tests of the explicit heat solver against analytic solutions.

- sine-mode decay in 1D, 2D and 3D (Dirichlet, and periodic in 1D): observed order >= 1.9 from
  three resolutions (dt scales with h^2 through the CFL number, so time and space errors are both
  O(h^2));
- conservation: all-Neumann boundaries, no source, constant and variable kappa: the mean
  temperature stays constant to 1e-12 (relative);
- steady states with a source (constant and sine) against the analytic solution, with order;
- a linear steady state (Dirichlet + Neumann flux) reproduced to round-off.
"""
import os
import numpy as np
import h5py

from kvtest import OUT, check, finish, order, read, run, write_config, centres

PI = np.pi

BASE = """[run]
model = heat
output = {out}
t_end = {t_end}
output_every = 1000000
overwrite = true
[heat]
dims = {dims}
n = {n}
length = {length}
kappa = {kappa}
initial = {initial}
source = {source}
bc = {bc}
"""


def solve(name, dims, n, length, kappa, initial, source="none", bc="dirichlet", t_end=0.05,
          extra=(), ranks=1):
    out = os.path.join(OUT, name + ".h5")
    cfg = write_config(name, BASE.format(out=out, t_end=t_end, dims=dims,
                                         n=", ".join(map(str, n)),
                                         length=", ".join(map(str, length)), kappa=kappa,
                                         initial=initial, source=source, bc=bc))
    rc, log = run(cfg, *extra, ranks=ranks)
    if rc != 0:
        return None, None
    T, t = read(out)
    return T, t


def grid(n, length):
    """Cell-centre coordinates in file order (z, y, x) as an open mesh."""
    axes = [centres(n[d], length[d]) for d in range(len(n))][::-1]
    return np.meshgrid(*axes, indexing="ij")


# ---------------------------------------------------------------- sine decay with order
def decay_case(label, dims, ns, length, kappa, ks, bc="dirichlet"):
    errs = []
    for n in ns:
        nn = [n] * dims
        T, t = solve(f"decay{label}_{n}", dims, nn, length, kappa,
                     "sine(" + ", ".join(map(str, ks)) + ")", bc=bc)
        if T is None:
            check(False, f"{label}: run at n = {n}")
            return
        X = grid(nn, length)[::-1]  # back to x, y, z order
        rate = kappa * PI**2 * sum((k / L) ** 2 for k, L in zip(ks, length))
        exact = np.exp(-rate * t[-1]) * np.prod([np.sin(k * PI * X[d] / length[d])
                                                 for d, k in enumerate(ks)], axis=0)
        errs.append(np.max(np.abs(T[-1] - exact)))
    p = order(errs)
    check(np.all(p >= 1.9), f"{label}: sine decay errors {['%.3e' % e for e in errs]} "
          f"observed orders {['%.3f' % q for q in p]} >= 1.9")


decay_case("1D", 1, [16, 32, 64], [1.0], 1.0, [1])
decay_case("1D-periodic", 1, [16, 32, 64], [2.0], 0.7, [4], bc="periodic")
decay_case("2D", 2, [12, 24, 48], [2.0, 1.0], 0.5, [1, 2])
decay_case("3D", 3, [12, 24, 48], [1.0, 1.0, 1.5], 1.0, [1, 1, 1])

# ---------------------------------------------------------------- conservation
T, t = solve("conserve2d", 2, [40, 30], [1.0, 0.75], 1.0, "gaussian(0.3, 0.4, 0.08, 50)",
             bc="neumann", t_end=0.05, extra=["run.output_every=100"])
if check(T is not None, "conservation run (2D, all Neumann)"):
    m = T.reshape(T.shape[0], -1).mean(axis=1)
    rel = np.max(np.abs(m - m[0])) / abs(m[0])
    spread = T[-1].max() - T[-1].min() < 0.2 * (T[0].max() - T[0].min())
    check(rel <= 1e-12 and spread, f"heat conserved with all-Neumann walls: max relative change "
          f"of the mean {rel:.2e} over {len(m)} records, and the peak has spread")

# variable kappa from a file: conservative flux form must conserve too
kfile = os.path.join(OUT, "kappa3d.h5")
nz, ny, nx = 10, 12, 14
zz, yy, xx = grid([nx, ny, nz], [1.0, 1.0, 1.0])
with h5py.File(kfile, "w") as f:
    f["kappa"] = 0.5 + 0.4 * np.sin(3 * xx) * np.cos(2 * yy) + 0.3 * zz
T, t = solve("conserve3dvar", 3, [nx, ny, nz], [1.0, 1.0, 1.0], kfile + ":/kappa",
             "gaussian(0.5, 0.5, 0.5, 0.1, 10)", bc="neumann", t_end=0.02,
             extra=["run.output_every=50"])
if check(T is not None, "conservation run (3D, variable kappa from an HDF5 file)"):
    m = T.reshape(T.shape[0], -1).mean(axis=1)
    rel = np.max(np.abs(m - m[0])) / abs(m[0])
    check(rel <= 1e-12, f"heat conserved with variable kappa: max relative change {rel:.2e}")

# ---------------------------------------------------------------- steady states with sources
errs = []
for n in [16, 32, 64]:
    T, t = solve(f"steady1d_{n}", 1, [n], [1.0], 1.0, "constant(0)", source="constant(2)",
                 t_end=3.0)
    if T is None:
        check(False, f"steady 1D run n = {n}")
        break
    x = centres(n, 1.0)
    errs.append(np.max(np.abs(T[-1] - x * (1 - x))))
if len(errs) == 3:
    p = order(errs)
    check(errs[-1] < 1e-3 and np.all(p >= 1.9),
          f"steady state -T'' = 2, T(0) = T(1) = 0 vs x(1-x): errors {['%.2e' % e for e in errs]}"
          f" orders {['%.3f' % q for q in p]}")

errs = []
for n in [12, 24, 48]:
    T, t = solve(f"steady2d_{n}", 2, [n, n], [1.0, 1.0], 0.5, "constant(0)",
                 source="sine(1, 1)", t_end=1.5)
    if T is None:
        check(False, f"steady 2D run n = {n}")
        break
    Y, X = grid([n, n], [1.0, 1.0])
    exact = np.sin(PI * X) * np.sin(PI * Y) / (2 * PI**2 * 0.5)
    errs.append(np.max(np.abs(T[-1] - exact)))
if len(errs) == 3:
    p = order(errs)
    check(np.all(p >= 1.9), f"2D steady state with source sin(pi x) sin(pi y): errors "
          f"{['%.2e' % e for e in errs]} orders {['%.3f' % q for q in p]}")

T, t = solve("linear1d", 1, [16], [1.0], 1.0, "constant(0)", t_end=16.0,
             extra=["heat.bc.xlo=dirichlet", "heat.bc_value.xlo=1", "heat.bc.xhi=neumann",
                    "heat.bc_value.xhi=-0.5"])
if check(T is not None, "linear steady state run"):
    x = centres(16, 1.0)
    err = np.max(np.abs(T[-1] - (1 - 0.5 * x)))
    check(err < 1e-9, f"T(0) = 1 and dT/dn(1) = -0.5 give T = 1 - x/2 to round-off ({err:.1e})")

finish()
