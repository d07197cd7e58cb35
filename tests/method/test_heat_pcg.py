"""heat.solver = pcg: agreement with the FFT direct solver on constant-kappa problems (2D and 3D,
every preconditioner); a variable-kappa manufactured steady solution with observed spatial order
>= 1.9; multigrid needing far fewer iterations than Jacobi; 1/2/4-rank invariance (<= 1e-10);
non-convergence reported with the step number."""
import os

import h5py
import numpy as np

from kvtest import OUT, check, finish, read, run, write_config

PI = np.pi


def case(name, body, *over, ranks=1, expect=0):
    out = os.path.join(OUT, name + ".h5")
    cfg = write_config(name, f"[run]\noutput = {out}\noverwrite = true\n" + body)
    rc, log = run(cfg, *over, ranks=ranks, expect=expect)
    return rc, log, out


BASE2 = """t_end = 0.05
dt = 0.005
output_every = 5
[heat]
dims = 2
n = 64, 48
length = 1.0, 0.75
kappa = 0.6
scheme = {scheme}
bc = dirichlet
bc.xhi = neumann
bc_value.xhi = 0.4
bc.ylo = neumann
bc_value.ylo = -0.3
initial = gaussian(0.4, 0.4, 0.1, 10)
source = sine(1, 1)
"""
BASE3 = """t_end = 0.02
dt = 0.004
[heat]
dims = 3
n = 16, 16, 24
kappa = 1.3
scheme = {scheme}
bc = periodic
bc.zlo = dirichlet
bc_value.zlo = 1.0
bc.zhi = neumann
initial = gaussian(0.5, 0.5, 0.5, 0.15, 5)
source = constant(2)
"""

for label, base in (("2D", BASE2), ("3D", BASE3)):
    for scheme in ("implicit", "cn"):
        rc, _, ref = case(f"pcg_fft_{label}_{scheme}", base.format(scheme=scheme),
                          "heat.solver=fft", "heat.fft_planner=estimate")
        R, _ = read(ref)
        for pc in ("mg", "jacobi", "none"):
            rc2, log, out = case(f"pcg_{pc}_{label}_{scheme}", base.format(scheme=scheme),
                                 "heat.solver=pcg", f"heat.pc={pc}", "heat.rtol=1e-12")
            if not check(rc == 0 and rc2 == 0, f"{label} {scheme}: fft and pcg/{pc} runs"):
                continue
            T, _ = read(out)
            err = np.max(np.abs(T - R))
            check(err <= 1e-8, f"{label} {scheme}: pcg/{pc} equals the FFT solution within 1e-8 "
                  f"(max difference {err:.1e})")

# Iteration counts: multigrid against Jacobi on the same problem.
its = {}
for pc in ("mg", "jacobi"):
    rc, _, out = case(f"pcg_its_{pc}", BASE2.format(scheme="implicit").replace("n = 64, 48", "n = 256, 192"),
                      "heat.solver=pcg", f"heat.pc={pc}", "run.dt=0.05", "run.t_end=0.05",
                      "heat.maxit=100000")
    with h5py.File(out, "r") as f:
        its[pc] = int(f["diagnostics/solver_iterations"][-1])
check(its["mg"] * 4 <= its["jacobi"], f"256 x 192, dt = 0.05: multigrid needs {its['mg']} "
      f"iterations, Jacobi {its['jacobi']}")

# Variable-kappa manufactured solution: -div(k grad T) = q with T = sin(pi x) sin(pi y),
# k = 1 + x/2 + 0.3 y^2, Dirichlet 0; the steady state is reached by backward Euler with dt = 1e3.
errs = []
for n in (16, 32, 64):
    x = (np.arange(n) + 0.5) / n
    Y, X = np.meshgrid(x, x, indexing="ij")
    k = 1 + 0.5 * X + 0.3 * Y**2
    T = np.sin(PI * X) * np.sin(PI * Y)
    div = 0.5 * PI * np.cos(PI * X) * np.sin(PI * Y) + 0.6 * Y * PI * np.sin(PI * X) * np.cos(PI * Y) \
        - 2 * PI**2 * k * T
    data = os.path.join(OUT, f"mms_{n}.h5")
    with h5py.File(data, "w") as f:
        f["kappa"] = k
        f["q"] = -div
    rc, log, out = case(f"mms_{n}", f"""t_end = 3000
dt = 1000
[heat]
dims = 2
n = {n}, {n}
kappa = {data}:/kappa
source = {data}:/q
scheme = implicit
solver = pcg
rtol = 1e-12
""")
    if not check(rc == 0, f"manufactured solution run n = {n}"):
        break
    Tn, _ = read(out)
    errs.append(np.max(np.abs(Tn[-1] - T)))
if len(errs) == 3:
    p = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    check(np.all(p >= 1.9), f"variable kappa: spatial errors {['%.2e' % e for e in errs]} orders "
          f"{['%.3f' % v for v in p]} >= 1.9")

# Rank invariance of the iterative solver (its multigrid hierarchy depends on the split).
outs = {}
for ranks in (1, 2, 4):
    rc, _, outs[ranks] = case(f"pcg_ranks_{ranks}", BASE2.format(scheme="cn"), "heat.solver=pcg",
                              "heat.rtol=1e-13", ranks=ranks)
    check(rc == 0, f"pcg/mg CN on {ranks} rank(s)")
A, _ = read(outs[1])
for ranks in (2, 4):
    B, _ = read(outs[ranks])
    err = np.max(np.abs(A - B))
    check(err <= 1e-10, f"pcg on {ranks} ranks equals 1 rank within 1e-10 ({err:.1e})")

# Not converging within heat.maxit is an error with the step number.
rc, log, _ = case("pcg_maxit", BASE2.format(scheme="implicit"), "heat.solver=pcg", "heat.pc=none",
                  "heat.maxit=3", expect=3)
check(rc == 3 and "linear solve of step 1 failed" in log and "not converged in 3 iterations" in log,
      "pcg beyond heat.maxit fails with the step: " + log.strip().splitlines()[0][:150])

finish()
