"""An MPI simulator (external.ranks = 2): the task farm gives each case a group of 2 ranks whose
first starts the simulator with the launcher (here kelvin's own heat solver under mpirun -n 2),
the group's other rank waits without spinning; the responses and the field equal a direct run of
the same case, and the nested run used 2 ranks."""
import csv
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "external_mpi")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
heat = write_config("ext_mpi_heat", """[run]
model = heat
output = out.h5
t_end = 0.01
dt = 0.0005
output_every = 1000
[heat]
dims = 2
n = 32, 24
kappa = 1.0
initial = gaussian(0.5, 0.5, 0.1, 100)
scheme = cn
solver = pcg
""")
launcher = " ".join(MPIRUN) + " -n {ranks}"
c = write_config("ext_mpi", f"""[run]
model = external
[external]
command = {KELVIN} run {heat} heat.kappa={{kappa}}
inputs = kappa
responses = T_mean
fields = T
results = out.h5
ranks = 2
launcher = {launcher}
keep_workdirs = true
[sweep]
method = lhs
samples = 3
seed = 2
vary = external.kappa:0.5:2
dir = {D}/sweep
""")
p = subprocess.run(MPIRUN + ["-n", "2", KELVIN, "-q", "sweep", c], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
if p.returncode:
    print("# " + p.stdout.replace("\n", "\n# "))
rows = list(csv.DictReader(open(f"{D}/sweep/manifest.csv")))
check(p.returncode == 0 and all(r["status"] == "done" for r in rows),
      "an external sweep of an MPI simulator (2 ranks per case) completes")
err = open(f"{D}/sweep/work/case_0000/kelvin.stderr").read()
check("on 2 ranks" in err, "the simulator ran on 2 ranks (its own log says so)")
ok = True
for r in rows:
    k = r["external.kappa"]
    direct = f"{D}/direct_{r['case']}.h5"
    q = subprocess.run([KELVIN, "-q", "run", heat, f"heat.kappa={k}", f"run.output={direct}"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with h5py.File(direct, "r") as a, h5py.File(f"{D}/sweep/{r['output']}", "r") as b:
        ok &= q.returncode == 0
        ok &= np.allclose(a["T"][-1], b["T"][-1], rtol=1e-10, atol=1e-10)
        ok &= abs(float(r["T_mean"]) - a["T_mean"][-1]) <= 1e-10 * abs(a["T_mean"][-1])
        ok &= list(b["x"][...]) == list(a["x"][...])
check(ok, "its responses and field T equal a direct run of each case (1 rank) to 1e-10")

# Scalar responses only, 2 ranks per case (the group's first runs kelvin's part, the other waits):
# a one-process launcher that passes the rank count on.
SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sim.py")
c2 = write_config("ext_mpi_scalar", f"""[run]
model = external
[external]
command = {SIM} {{params}} {{results}}
inputs = x, y
responses = f, g
ranks = 2
launcher = env KELVIN_LAUNCHED_RANKS={{ranks}}
[sweep]
method = lhs
samples = 4
seed = 3
vary = external.x:0:1, external.y:0:1
dir = {D}/scalar
""")
p = subprocess.run(MPIRUN + ["-n", "4", KELVIN, "-q", "sweep", c2], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
rows = list(csv.DictReader(open(f"{D}/scalar/manifest.csv")))
exact = all(r["status"] == "done" and float(r["g"]) == float(r["external.x"]) +
            2 * float(r["external.y"]) for r in rows)
check(p.returncode == 0 and len(rows) == 4 and exact,
      "scalar responses with 2 ranks per case on 4 ranks: every case done, exact")
finish()
