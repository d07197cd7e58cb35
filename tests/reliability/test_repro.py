"""The same config gives the same bits (issue 19, point 6): two fresh processes running one
Crank-Nicolson + FFT heat config (the default planner) write identical data, on 1 and 2 ranks; a
run restarted in a fresh process from a half-way output equals the uninterrupted run bit for bit;
two identical sweeps write identical case files. Only attributes that record when a file was made
(history, created), the wall-clock diagnostics and the output path in the stored configuration
may differ."""
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, run, write_config

VOLATILE = {"history", "created", "date_created", "finished"}


def config_text(v):
    """A stored configuration without the lines naming where it was written."""
    v = v.decode() if isinstance(v, bytes) else str(v)
    return "\n".join(l for l in v.splitlines() if not l.startswith(("output", "dir", "; resolved")))


def contents(path):
    """Every dataset's bytes and every attribute but the timestamps, by object path."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                if k not in VOLATILE and not k.startswith(("DIMENSION_LIST", "REFERENCE_LIST")):
                    out[name + "@" + k] = np.asarray(v).tobytes() if not isinstance(v, str) else v
            if (isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and
                    "wall_time" not in name):
                out[name] = obj[...].tobytes()
        f.visititems(visit)
        for k, v in f.attrs.items():
            if k == "config":
                out["/@config"] = config_text(v)
            elif k not in VOLATILE:
                out["/@" + k] = np.asarray(v).tobytes() if not isinstance(v, str) else v
    return out


def differing(a, b):
    ca, cb = contents(a), contents(b)
    keys = sorted(set(ca) | set(cb))
    return [k for k in keys if ca.get(k) != cb.get(k)]


def cfg(name, t_end, extra=""):
    out = os.path.join(OUT, name + ".h5")
    return write_config(name, f"""[run]
output = {out}
t_end = {t_end}
dt = 0.002
output_every = 5
overwrite = true
{extra}
[heat]
dims = 2
n = 96, 80
kappa = 0.3
scheme = cn
solver = fft
bc.xlo = dirichlet
bc_value.xlo = 1.0
bc.xhi = neumann
bc.ylo = periodic
bc.yhi = periodic
initial = gaussian(0.4, 0.5, 0.1, 10)
source = gaussian(0.6, 0.5, 0.05, 50)
"""), out


for ranks in (1, 2):
    c, out = cfg(f"repro_np{ranks}", 0.2)
    a, b = out + ".a.h5", out + ".b.h5"
    rc1, _ = run(c, f"run.output={a}", ranks=ranks)
    rc2, _ = run(c, f"run.output={b}", ranks=ranks)
    if check(rc1 == 0 and rc2 == 0, f"{ranks} rank(s): the same CN + FFT config run twice"):
        d = differing(a, b)
        check(not d, f"{ranks} rank(s): two fresh processes write the same bits "
                     f"(differing: {d[:5]})")
        p = subprocess.run([KELVIN, "compare", a, b, "--rtol", "0", "--atol", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(p.returncode == 0, f"{ranks} rank(s): kelvin compare with zero tolerances agrees")

    # Restart from a half-way output in a fresh process: the same bits as the full run.
    half = out + ".half.h5"
    cont = out + ".cont.h5"
    rc1, _ = run(c, f"run.output={half}", "run.t_end=0.1", ranks=ranks)
    rc2, _ = run(c, f"run.output={cont}", "--restart", half, ranks=ranks)
    if check(rc1 == 0 and rc2 == 0, f"{ranks} rank(s): half a run, then --restart to the end"):
        with h5py.File(a, "r") as fa, h5py.File(cont, "r") as fc:
            same = (fa["T"].shape[1:] == fc["T"].shape[1:] and
                    np.array_equal(fa["T"][-1], fc["T"][-1]) and
                    fa["time"][-1] == fc["time"][-1])
        check(same, f"{ranks} rank(s): the restarted run ends on the uninterrupted run's bits")

# Two identical sweeps of FFT cases: every case file the same.
dirs = []
for k in ("a", "b"):
    d = os.path.join(OUT, f"repro_sweep_{k}")
    shutil.rmtree(d, ignore_errors=True)
    dirs.append(d)
    sc = write_config(f"repro_sweep_{k}", f"""[run]
model = heat
t_end = 0.04
dt = 0.002
output_every = 5
[heat]
dims = 2
n = 64, 48
kappa = 0.5
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 10)
[sweep]
dir = {d}
method = lhs
samples = 6
seed = 3
vary = heat.kappa:0.1:1.0:log, heat.bc_value:0:1
""")
    p = subprocess.run(MPIRUN + ["-n", "2", KELVIN, "-q", "sweep", sc],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(p.returncode == 0, f"sweep {k} of 6 FFT cases on 2 ranks" +
          ("" if p.returncode == 0 else ": " + p.stdout[-400:]))
cases = sorted(f for f in os.listdir(dirs[0]) if f.startswith("case_") and f.endswith(".h5"))
bad = [f for f in cases if differing(os.path.join(dirs[0], f), os.path.join(dirs[1], f))]
check(len(cases) == 6 and not bad, f"two identical sweeps: {len(cases)} case files, "
                                   f"{len(bad)} differ ({bad})")
finish()
