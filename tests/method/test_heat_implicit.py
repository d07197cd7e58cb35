"""Implicit heat schemes with the FFT solver, against independent NumPy oracles.

1. Exactness: for small 1D/2D/3D grids and every pairing of face conditions per axis
   (Dirichlet/Neumann in all four combinations with non-zero values, periodic), with a source,
   one backward-Euler and one Crank-Nicolson step equal numpy.linalg.solve of the same discrete
   system, assembled here from the finite-volume definition, to 1e-11 - on 1, 2 and 4 ranks.
2. Temporal order against the semi-discrete exact solution exp(lambda_h t) of a discrete sine
   mode: backward Euler >= 0.95, Crank-Nicolson >= 1.9 (dt halving).
3. Any dt is stable: a step 1000x the explicit limit decays.
"""
import itertools
import os

import numpy as np

from kvtest import OUT, check, finish, read, run, write_config

PI = np.pi


def apply_Lh(u, h, kappa, bcs):
    """kappa * Laplacian with the face ghosts of kelvin's cell-centred scheme.
    u has C order (z, y, x); bcs[a] = ((type, value), (type, value)) for axis a = x, y, z."""
    nd = u.ndim
    out = np.zeros_like(u)
    for a in range(nd):
        ax = nd - 1 - a                      # array axis of physical axis a
        (tlo, glo), (thi, ghi) = bcs[a]
        up = np.moveaxis(u, ax, -1)
        if tlo == "periodic":
            lo, hi = up[..., -1:], up[..., :1]
        else:
            lo = 2 * glo - up[..., :1] if tlo == "dirichlet" else up[..., :1] + h[a] * glo
            hi = 2 * ghi - up[..., -1:] if thi == "dirichlet" else up[..., -1:] + h[a] * ghi
        ext = np.concatenate([lo, up, hi], axis=-1)
        lap = (ext[..., :-2] - 2 * up + ext[..., 2:]) / h[a] ** 2
        out += np.moveaxis(lap, -1, ax)
    return kappa * out


def oracle_step(u0, q, h, kappa, bcs, dt, theta):
    n = u0.size
    b = apply_Lh(np.zeros_like(u0), h, kappa, bcs)
    A = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        A[:, i] = (apply_Lh(e.reshape(u0.shape), h, kappa, bcs) - b).ravel()
    rhs = u0 + (1 - theta) * dt * apply_Lh(u0, h, kappa, bcs) + theta * dt * b + dt * q
    M = np.eye(n) - theta * dt * A
    return np.linalg.solve(M, rhs.ravel()).reshape(u0.shape)


FACE = {"DD": (("dirichlet", 0.7), ("dirichlet", -0.3)), "NN": (("neumann", 0.4), ("neumann", -1.1)),
        "DN": (("dirichlet", 1.2), ("neumann", 0.5)), "ND": (("neumann", -0.6), ("dirichlet", 0.2)),
        "PP": (("periodic", 0.0), ("periodic", 0.0))}


def one_step(name, n, length, kappa, combo, scheme, dt, ranks):
    dims = len(n)
    out = os.path.join(OUT, name + ".h5")
    lines = [f"[run]\noutput = {out}\nt_end = {dt}\ndt = {dt}\noverwrite = true\n[heat]",
             f"dims = {dims}", "n = " + ", ".join(map(str, n)),
             "length = " + ", ".join(map(str, length)), f"kappa = {kappa}",
             f"scheme = {scheme}", "heat.fft_planner = estimate".split('.', 1)[1],
             "initial = gaussian(" + ", ".join(str(0.4 * L) for L in length) + ", 0.2, 3)",
             "source = sine(" + ", ".join(["1"] * dims) + ")"]
    for a, c in enumerate(combo):
        for side, (t, g) in zip(("lo", "hi"), FACE[c]):
            lines.append(f"bc.{'xyz'[a]}{side} = {t}")
            if t != "periodic":
                lines.append(f"bc_value.{'xyz'[a]}{side} = {g}")
    cfg = write_config(name, "\n".join(lines) + "\n")
    rc, log = run(cfg, ranks=ranks)
    if rc != 0:
        return None
    T, t = read(out)
    return T


def grids(n, length):
    axes = [(np.arange(n[a]) + 0.5) * length[a] / n[a] for a in range(len(n))][::-1]
    return np.meshgrid(*axes, indexing="ij")[::-1]  # x, y, z order


def exactness(n, length, kappa, combo, scheme, dt, ranks):
    name = f"exact_{''.join(combo)}_{scheme}_{len(n)}d_np{ranks}"
    T = one_step(name, n, length, kappa, combo, scheme, dt, ranks)
    if T is None:
        return check(False, f"{name}: run")
    X = grids(n, length)
    h = [length[a] / n[a] for a in range(len(n))]
    u0 = 3 * np.exp(-0.5 * sum((X[a] - 0.4 * length[a]) ** 2 for a in range(len(n))) / 0.2**2)
    q = np.prod([np.sin(PI * X[a] / length[a]) for a in range(len(n))], axis=0)
    bcs = [FACE[c] for c in combo]
    want = oracle_step(u0, q, h, kappa, bcs, dt, 1.0 if scheme == "implicit" else 0.5)
    err = np.max(np.abs(T[-1] - want)) / np.max(np.abs(want))
    return check(err < 1e-11, f"{scheme} {len(n)}D axes {'/'.join(combo)} on {ranks} rank(s): "
                 f"one step = dense numpy solve (rel. error {err:.1e})")


# Every axis pairing in 1D; all pairs in 2D (each x kind with each y kind); a few 3D ones.
dt = 0.004  # about 40x the explicit limit on these grids
for c in FACE:
    exactness([24], [1.5], 0.8, [c], "implicit", dt, 1)
for cx, cy in itertools.product(FACE, FACE):
    exactness([9, 7], [1.0, 0.8], 0.6, [cx, cy], "cn", dt, 1)
for ranks in (1, 2, 4):
    exactness([11, 10], [1.0, 1.3], 0.9, ["DN", "PP"], "implicit", dt, ranks)
    exactness([10, 9], [1.2, 1.0], 0.7, ["ND", "NN"], "cn", dt, ranks)
    exactness([6, 5, 7], [1.0, 0.9, 1.1], 0.5, ["PP", "DD", "DN"], "cn", dt, ranks)
    exactness([17], [1.0], 1.0, ["DD"], "cn", dt, ranks)

# ---------------------------------------------------------------- temporal order
n, L, kappa, t_end = [32, 24], [1.0, 1.0], 1.0, 0.05
h = [L[a] / n[a] for a in range(2)]
lam = kappa * sum(-4 / h[a] ** 2 * np.sin(PI / (2 * n[a])) ** 2 for a in range(2))
for scheme, want in (("implicit", 0.95), ("cn", 1.9)):
    errs = []
    for k, dtk in enumerate([t_end / 10, t_end / 20, t_end / 40, t_end / 80]):
        out = os.path.join(OUT, f"order_{scheme}_{k}.h5")
        cfg = write_config(f"order_{scheme}_{k}", f"""[run]
output = {out}
t_end = {t_end}
dt = {dtk}
output_every = 1000
overwrite = true
[heat]
dims = 2
n = {n[0]}, {n[1]}
length = {L[0]}, {L[1]}
kappa = {kappa}
scheme = {scheme}
initial = sine(1, 1)
""")
        rc, log = run(cfg)
        if rc != 0:
            check(False, f"order run {scheme} dt = {dtk}")
            break
        T, t = read(out)
        X = grids(n, L)
        exact = np.exp(lam * t[-1]) * np.sin(PI * X[0]) * np.sin(PI * X[1])
        errs.append(np.max(np.abs(T[-1] - exact)))
    if len(errs) == 4:
        p = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        check(np.all(p >= want), f"{scheme}: temporal order {['%.3f' % v for v in p]} >= {want} "
              f"(errors {['%.2e' % e for e in errs]})")

# ---------------------------------------------------------------- unconditional stability
out = os.path.join(OUT, "stiff.h5")
cfg = write_config("stiff", f"""[run]
output = {out}
t_end = 1.0
dt = 0.05
overwrite = true
[heat]
dims = 2
n = 64, 64
scheme = implicit
initial = gaussian(0.5, 0.5, 0.05, 100)
""")
rc, log = run(cfg)
if check(rc == 0, "backward Euler at dt = 0.05 (~1000x the explicit limit) runs"):
    T, t = read(out)
    check(np.all(np.isfinite(T)) and T[-1].max() < 1e-3 * T[0].max() and T[-1].min() > -1e-12,
          f"and decays monotonically without oscillation (max {T[-1].max():.2e}, min {T[-1].min():.1e})")

finish()
