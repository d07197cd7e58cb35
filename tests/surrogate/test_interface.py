"""The surrogate interface as a user meets it: `kelvin fit --help` and `kelvin run --keys` come
from the registries (every kind, every model's keys, the ROM's included, each key once); a key of
another kind is refused with its file and line; training data that are not there are named by the
key; a model that does not predict says so; `kelvin fit` on a run file of a linear model writes a
POD basis that the ROM reproduces the run with."""
import os
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, OUT, check, finish, run, write_config


def sh(args):
    p = subprocess.run([KELVIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


rc, out, _ = sh(["fit", "--help"])
kinds = [ln.split()[0] for ln in out.splitlines() if ln.startswith("  ") and len(ln.split()) > 1]
check(rc == 0 and {"gp", "pcagp", "pattern", "pod"} <= set(kinds),
      f"kelvin fit --help lists the registered kinds: {', '.join(kinds)}")

rc, out, _ = sh(["run", "--keys"])
keys = [ln.split()[0] for ln in out.splitlines() if ln.strip()]
want = ["run.model", "heat.kappa", "ebm.nlat", "rom.basis", "rom.tolerance", "rom.newton_maxit",
        "sweep.method", "surrogate.kind", "surrogate.kernel", "surrogate.energy",
        "surrogate.predictors", "surrogate.deim_modes", "surrogate.train_scenarios",
        "validate.samples", "validate.rom_tolerance"]
missing = [k for k in want if k not in keys]
dups = sorted({k for k in keys if keys.count(k) > 1})
check(rc == 0 and not missing and not dups,
      f"kelvin run --keys: {len(keys)} keys, the ROM's and every kind's among them, each once "
      f"(missing {missing}, repeated {dups})")

csv = os.path.join(OUT, "iface.csv")
os.makedirs(OUT, exist_ok=True)
with open(csv, "w") as f:
    f.write("a,b,y\n" + "".join(f"{i / 10},{(i * 7 % 11) / 10},{i * i / 100}\n" for i in range(12)))
cfg = write_config("iface_gp", f"[surrogate]\nkind = gp\ndata = {csv}\ninputs = a, b\n"
                   f"output = y\nmodel = {OUT}/iface_gp.h5\nenergy = 0.9\n")
rc, _, err = sh(["fit", cfg])
check(rc == 2 and "iface_gp.ini:7" in err and "surrogate.energy" in err and
      "not a key of kind = gp" in err and "pcagp" in err,
      f"a key of another kind (energy with kind = gp) is refused with file:line: {err.strip()}")
cfg = write_config("iface_gp2", f"[surrogate]\nkind = gp\ndata = {OUT}/no_such_sweep\n"
                   f"model = {OUT}/iface_gp.h5\nqoi = T_max\n")
rc, _, err = sh(["fit", cfg])
check(rc == 2 and "iface_gp2.ini:3" in err and "surrogate.data" in err and
      "not a sweep directory" in err,
      f"training data that are not there: the key, its file and line: {err.strip()}")

# A linear heat run, its POD basis, the ROM from it, and predict refusing the basis.
heat = write_config("iface_heat", f"""[run]
model = heat
t_end = 0.02
dt = 0.001
output = {OUT}/iface_heat.h5
overwrite = true
output_every = 1
[heat]
dims = 2
n = 16, 12
scheme = implicit
solver = fft
initial = gaussian(0.4, 0.5, 0.1, 1.0)
source = gaussian(0.6, 0.4, 0.1, 10)
[surrogate]
kind = pod
data = {OUT}/iface_heat.h5
model = {OUT}/iface_pod.h5
energy = 1
""")
rc, _ = run(heat)
prc, out, err = sh(["fit", heat])
check(rc == 0 and prc == 0 and "a linear model" in out and "reduced operators" in out,
      f"kelvin fit kind = pod on a run file: {out.strip().splitlines()[0] if out else err}")
rom = write_config("iface_rom", open(heat).read().replace("model = heat", "model = rom")
                   .replace("iface_heat.h5\noverwrite", "iface_rom.h5\noverwrite")
                   .split("[surrogate]")[0] + f"[rom]\nbasis = {OUT}/iface_pod.h5\nadaptive = false\n")
rc, _ = run(rom)
if rc == 0:
    a = h5py.File(f"{OUT}/iface_heat.h5", "r")["T"][...]
    b = h5py.File(f"{OUT}/iface_rom.h5", "r")["T"][...]
    e = max(np.linalg.norm(a[i] - b[i]) / np.linalg.norm(a[i]) for i in range(1, len(a)))
else:
    e = np.inf
check(e < 1e-10, f"the ROM of that basis (all modes) reproduces the run: largest relative error "
      f"{e:.1e}")
rc, _, err = sh(["predict", f"{OUT}/iface_pod.h5", "x=1"])
check(rc == 2 and "does not predict" in err and "run.model = rom" in err,
      f"predict on a pod basis says what it is for: {err.strip()}")
finish()
