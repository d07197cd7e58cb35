"""Outputs go only where the user asked, and never over a file kelvin did not write (issue 19,
point 5): heat.fft_wisdom leaves a file that is not wisdom alone, and from a sweep it stays
inside sweep.dir; nothing is written through a symbolic link planted at a .part name; model,
prediction, picture and checkpoint names are replaced only when they hold what kelvin wrote;
sweep.name cannot climb out of runs/; a value with a newline never becomes a line of a Slurm job
script; the source passes nothing to a shell."""
import os
import re
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, OUT, ROOT, check, finish, write_config

D = os.path.join(OUT, "paths")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
VICTIM = os.path.join(D, "victim.txt")
TEXT = "precious user data\n"


def sh(args, cwd=None):
    p = subprocess.run([KELVIN, "-q"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, cwd=cwd)
    return p.returncode, p.stdout


def victim_intact():
    return os.path.exists(VICTIM) and open(VICTIM).read() == TEXT and not os.path.islink(VICTIM)


def reset_victim():
    with open(VICTIM, "w") as f:
        f.write(TEXT)


heat = write_config("paths_heat", f"""[run]
output = {D}/out.h5
t_end = 0.002
dt = 0.001
output_every = 1
overwrite = true
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
""")

# 1. heat.fft_wisdom naming a file that is not wisdom: read, warned about, left alone
reset_victim()
rc, out = sh(["run", heat, f"heat.fft_wisdom={VICTIM}"])
check(rc == 0 and victim_intact() and "not FFTW wisdom" in out,
      f"heat.fft_wisdom over a text file: the run plans afresh and leaves the file as it was "
      f"(exit {rc})")
wis = os.path.join(D, "plans.wisdom")
rc1, _ = sh(["run", heat, f"heat.fft_wisdom={wis}"])
rc2, _ = sh(["run", heat, f"heat.fft_wisdom={wis}"])
check(rc1 == 0 and rc2 == 0 and open(wis).read().startswith("(fftw-3"),
      "a wisdom file kelvin wrote is written and reused")

# 2. a list sweep whose CSV sends heat.fft_wisdom out of the sweep directory is refused
sd = os.path.join(D, "sweep")
cases = os.path.join(D, "cases.csv")
with open(cases, "w") as f:
    f.write("heat.kappa,heat.fft_wisdom\n0.5,../../../victim2.txt\n0.7,w.wisdom\n")
sw = write_config("paths_sweep", f"""[run]
model = heat
t_end = 0.002
dt = 0.001
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
[sweep]
dir = {sd}
method = list
cases = {cases}
""")
rc, out = sh(["sweep", sw])
check(rc == 2 and "inside the sweep directory" in out and "heat.fft_wisdom" in out and
      not os.path.exists(os.path.normpath(os.path.join(sd, "../../../victim2.txt"))) and
      not os.path.exists(os.path.join(sd, "case_0000.h5")),
      f"a CSV value of heat.fft_wisdom climbing out of sweep.dir is refused before any case "
      f"runs: {out.strip()[-160:]}")
with open(cases, "w") as f:
    f.write("heat.kappa,heat.fft_wisdom\n0.5,w.wisdom\n0.7,w.wisdom\n")
rc, out = sh(["sweep", sw])
check(rc == 0 and os.path.exists(os.path.join(sd, "w.wisdom")),
      "a relative wisdom name from the CSV is written inside the sweep directory")

# 3. links planted at the .part names are never written through
data = os.path.join(D, "train.csv")
with open(data, "w") as f:
    f.write("a,b,y\n" + "".join(f"{i / 20},{(i * 7 % 20) / 20},{np.sin(i)}\n" for i in range(20)))
gp = write_config("paths_gp", f"""[surrogate]
kind = gp
data = {data}
inputs = a, b
output = y
model = {D}/gp.h5
""")
plants = {"run output": (["run", heat], f"{D}/out.h5"),
          "model": (["fit", gp], f"{D}/gp.h5"),
          "prediction CSV": (["predict", f"{D}/gp.h5", "--input", data, "--output",
                              f"{D}/pred.csv"], f"{D}/pred.csv"),
          "picture": (["plot", f"{D}/out.h5", "T", "-o", f"{D}/t.png"], f"{D}/t.png"),
          "wisdom": (["run", heat, f"heat.fft_wisdom={D}/p2.wisdom"], f"{D}/p2.wisdom")}
for what, (cmd, final) in plants.items():
    reset_victim()
    for p in (final, final + ".part"):
        if os.path.lexists(p):
            os.remove(p)
    os.symlink(VICTIM, final + ".part")
    rc, out = sh(cmd)
    check(rc == 0 and victim_intact() and os.path.isfile(final) and not os.path.islink(final),
          f"{what}: a symbolic link planted at {os.path.basename(final)}.part is not written "
          f"through (exit {rc})" + ("" if rc == 0 else ": " + out.strip()[-200:]))

# 4. final names that hold somebody else's file are not replaced
foreign_h5 = os.path.join(D, "foreign.h5")
with h5py.File(foreign_h5, "w") as f:
    f["x"] = np.arange(3.0)
before = open(foreign_h5, "rb").read()
rc, out = sh(["fit", gp, f"surrogate.model={foreign_h5}"])
check(rc == 2 and "not a file kelvin wrote" in out and open(foreign_h5, "rb").read() == before,
      f"fit refuses to replace an HDF5 file kelvin did not write: {out.strip()[-150:]}")
reset_victim()
rc, out = sh(["fit", gp, f"surrogate.model={VICTIM}"])
check(rc == 2 and victim_intact(), "fit refuses to replace a text file")
rc, out = sh(["fit", gp])
check(rc == 0, "a model kelvin wrote is replaced by a new fit")
rc, out = sh(["predict", f"{D}/gp.h5", "--input", data, "--output", data])
check(rc == 2 and "not a file kelvin wrote" in out and open(data).read().startswith("a,b,y"),
      "predict --output naming its own input CSV is refused and the input kept")
rc, out = sh(["plot", f"{D}/out.h5", "T", "-o", f"{D}/t.png"])
check(rc == 0, "a picture kelvin drew is redrawn")
with open(os.path.join(D, "other.png"), "wb") as f:  # somebody's picture (the PNG signature)
    f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
rc, out = sh(["plot", f"{D}/out.h5", "T", "-o", f"{D}/other.png"])
check(rc == 2 and "not a file kelvin wrote" in out, "plot refuses to replace a PNG it did not draw")
ck = write_config("paths_ck", f"""[run]
output = {D}/ck.h5
t_end = 0.004
dt = 0.001
checkpoint_every = 2
overwrite = true
[heat]
dims = 1
n = 16
""")
reset_victim()
shutil.copy(VICTIM, f"{D}/ck.checkpoint.h5")
rc, out = sh(["run", ck])
check(rc == 2 and open(f"{D}/ck.checkpoint.h5").read() == TEXT,
      f"the checkpoint does not replace a file of that name kelvin did not write: "
      f"{out.strip()[-150:]}")

# 5. sweep.name cannot climb out of runs/
for bad in ("..", "."):
    nm = write_config("paths_name", f"""[run]
model = heat
t_end = 0.002
dt = 0.001
[heat]
dims = 1
n = 8
[sweep]
name = {bad}
method = lhs
samples = 2
vary = heat.kappa:0.1:1
""")
    rc, out = sh(["sweep", nm, "--dry-run"], cwd=D)
    check(rc == 2 and "sweep.name" in out and "paths_name.ini:" in out,
          f"sweep.name = {bad} is refused naming the file and key")

# 6. no newline reaches a Slurm job script as a line of its own
job = os.path.join(D, "job.sh")
for what, extra in (("--partition", ["--partition", "debug\ntouch INJECTED"]),
                    ("--sbatch", ["--sbatch", "--account=x\ntouch INJECTED"]),
                    ("an override", ["heat.initial=constant(0)\ntouch INJECTED"])):
    lhs = write_config("paths_slurm", f"""[run]
model = heat
t_end = 0.002
dt = 0.001
[heat]
dims = 1
n = 8
[sweep]
dir = {D}/sl
method = lhs
samples = 2
vary = heat.kappa:0.1:1
""")
    if os.path.exists(job):
        os.remove(job)
    rc, out = sh(["sweep", lhs, "--emit-slurm", job] + extra)
    # (an override is first a configuration value, which may already refuse it)
    check(rc == 2 and not os.path.exists(job) and
          ("control character" in out or what == "an override"),
          f"a newline in {what} is refused and no script written: {out.strip()[-120:]}")
acct = write_config("paths_slurm2", open(os.path.join(OUT, "paths_slurm.ini")).read() +
                    "[slurm]\naccount = proj 1\n")
rc, out = sh(["sweep", acct, "--emit-slurm", job])
check(rc == 2 and "slurm.account" in out and "paths_slurm2.ini:" in out,
      "a blank inside an #SBATCH value from the config is refused naming file, line and key")

# 7. nothing is passed to a shell
hits = []
for d in ("core", "io", "numerics", "solvers", "surrogates", "drivers", "cli"):
    for root, _, files in os.walk(os.path.join(ROOT, d)):
        for fn in files:
            if fn.endswith(".c"):
                src = open(os.path.join(root, fn)).read()
                if re.search(r"\b(system|popen|execl|execlp)\s*\(", src):
                    hits.append(fn)
check(not hits, f"no system/popen/execl in the sources ({hits})")
finish()
