"""Nonlinear conductivity kappa(T) = k0 + k1 T (and the power law): implicit schemes solved by
Picard iterations around PCG converge to a fine-step explicit reference with the schemes' orders
(backward Euler >= 0.9, Crank-Nicolson >= 1.8), on 1, 2 and 4 ranks alike; failures (kappa(T) not
positive, Picard not converging, an explicit step made unstable by kappa(T), fft with kappa(T))
are reported with the step."""
import os

import h5py
import numpy as np

from kvtest import OUT, check, finish, read, run, write_config

BODY = """[run]
output = {out}
t_end = 0.04
output_every = 100000
overwrite = true
[heat]
dims = 2
n = 40, 32
kappa = linear(0.2, 0.8)
solver = pcg
rtol = 1e-13
nl_rtol = 1e-12
bc = neumann
bc.xlo = dirichlet
initial = gaussian(0.55, 0.5, 0.12, 1.0)
source = gaussian(0.3, 0.3, 0.05, 5)
"""


def solve(name, *over, ranks=1, expect=0):
    out = os.path.join(OUT, name + ".h5")
    cfg = write_config(name, BODY.format(out=out))
    rc, log = run(cfg, *over, ranks=ranks, expect=expect)
    return rc, log, out


rc, _, ref = solve("nl_ref", "heat.scheme=explicit", "run.dt=0.000005")
check(rc == 0, "explicit reference with kappa(T) updated every step (8000 steps)")
R, _ = read(ref)
for scheme, want, bound in (("implicit", 0.9, 5e-3), ("cn", 1.8, 1e-4)):
    errs, iters = [], []
    for k, dt in enumerate((0.004, 0.002, 0.001)):
        rc, _, out = solve(f"nl_{scheme}_{k}", f"heat.scheme={scheme}", f"run.dt={dt}")
        if not check(rc == 0, f"{scheme} dt = {dt}: Picard iterations converge every step"):
            break
        T, _ = read(out)
        errs.append(np.max(np.abs(T[-1] - R[-1])))
        with h5py.File(out, "r") as f:
            iters.append(int(f["diagnostics/nonlinear_iterations"][-1]))
    if len(errs) == 3:
        p = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        check(np.all(p >= want) and errs[-1] < bound,
              f"{scheme}: max difference to the explicit reference {['%.2e' % e for e in errs]}, "
              f"order {['%.2f' % v for v in p]} >= {want} (Picard iterations {iters})")

outs = {}
for ranks in (1, 2, 4):
    rc, _, outs[ranks] = solve(f"nl_ranks_{ranks}", "heat.scheme=cn", "run.dt=0.002", ranks=ranks)
    check(rc == 0, f"CN with kappa(T) on {ranks} rank(s)")
A, _ = read(outs[1])
for ranks in (2, 4):
    B, _ = read(outs[ranks])
    check(np.max(np.abs(A - B)) <= 1e-10, f"{ranks} ranks equal 1 rank within 1e-10 "
          f"({np.max(np.abs(A - B)):.1e})")

rc, _, out = solve("nl_power", "heat.scheme=implicit", "run.dt=0.002", "heat.kappa=power(0.5, 1.0, 2.5)",
                   "heat.initial=constant(0.5)")
if check(rc == 0, "power(k0, T0, p) law runs"):
    T, _ = read(out)
    check(np.all(np.isfinite(T)) and T[-1].max() > 0.5, "and heats up under the source")

rc, log, _ = solve("nl_neg", "heat.scheme=cn", "run.dt=0.002", "heat.kappa=linear(0.1, -1)", expect=3)
check(rc == 3 and "kappa(T) is not positive at T = " in log and "(step 1)" in log,
      "a law giving kappa <= 0 stops with the temperature and step")
rc, log, _ = solve("nl_maxit", "heat.scheme=cn", "run.dt=0.002", "heat.nl_maxit=1", expect=3)
check(rc == 3 and "Picard) iteration of step 1 did not converge in 1 iterations" in log,
      "Picard iterations beyond heat.nl_maxit are an error with the step")
rc, log, _ = solve("nl_unstable", "heat.scheme=explicit", "run.dt=0.000125", "heat.bc_value.xlo=3",
                   "heat.bc.xlo=dirichlet", expect=3)
check(rc == 3 and "is unstable: kappa(T) grew to" in log,
      "an explicit step made unstable by a growing kappa(T) is stopped: "
      + log.strip().splitlines()[0][:120])
rc, log, _ = solve("nl_fft", "heat.scheme=cn", "run.dt=0.002", "heat.solver=fft", expect=2)
check(rc == 2 and "heat.solver = fft needs a constant conductivity" in log,
      "fft with kappa(T) is a configuration error")
rc, log, _ = solve("nl_badpow", "heat.scheme=cn", "run.dt=0.002", "heat.kappa=power(1, 0, 2)",
                   expect=2)
check(rc == 2 and "T0 > 0" in log, "power(k0, T0, p) with T0 = 0 is a configuration error")

finish()
