"""Sizes that cannot overflow (issue 19, point 4): every model and surrogate key that sets a size
(grids, modes, samples, degrees, terms, iterations, candidates) is given extreme values under a
6 GB address-space limit. Every run must end by itself (no signal, no hang) with success or a
clear error: a refused size names its key; nothing is allocated that the machine cannot hold."""
import os
import resource
import shutil
import subprocess

import numpy as np

from kvtest import KELVIN, OUT, check, finish, write_config

D = os.path.join(OUT, "sizes")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
LIMIT = 6 << 30
BIG = ["0", "-1", "2147483647", "2147483648", "4294967297", "9223372036854775807",
       "99999999999999999999", "1e9"]


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def sh(args, timeout=120):
    try:
        p = subprocess.run([KELVIN, "-q"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout, preexec_fn=limited)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return "hang", ""


tried = 0
bad = []


def fuzz(label, cmd, key, values, names=None):
    """Each value of key: an end by itself, and a refusal names the key (or one of names)."""
    global tried
    for v in values:
        tried += 1
        rc, out = sh(cmd + [f"{key}={v}"])
        named = any(n in out for n in (names or [key]))
        if rc == "hang" or not isinstance(rc, int) or rc < 0 or rc > 3 or \
                "Segmentation fault" in out or "Aborted" in out:
            bad.append(f"{label} {key}={v}: exit {rc}: {out.strip()[-160:]}")
        elif rc != 0 and not named:
            bad.append(f"{label} {key}={v}: exit {rc} without naming {key}: {out.strip()[-160:]}")


# --- models
heat = write_config("sizes_heat", f"""[run]
output = {D}/h.h5
t_end = 0.001
dt = 0.001
overwrite = true
[heat]
dims = 3
n = 8, 8, 8
""")
fuzz("heat", ["run", heat], "heat.n",
     ["3000002, 3000002, 1", "2147483648, 1, 1", "1, 1, 4611686018427387904",
      "65536, 65536, 2", "9223372036854775807, 2, 2", "0, 4, 4", "-5, 2, 2",
      "99999999999999999999, 2, 2"])
fuzz("heat cn", ["run", heat, "heat.scheme=cn"], "heat.n",  # past the explicit limit: sizes
     ["3000002, 3000002, 1", "2147483648, 1, 1", "65536, 65536, 2", "9223372036854775807, 2, 2"])
fuzz("heat 1-D fft", ["run", heat, "heat.dims=1", "heat.scheme=cn", "heat.solver=fft"], "heat.n",
     ["4294967296", "100000000000", "9223372036854775807"])
fuzz("heat", ["run", heat], "run.output_every", BIG)
fuzz("heat", ["run", heat], "run.checkpoint_every", BIG)
fuzz("heat", ["run", heat], "heat.maxit", BIG, ["heat.maxit"])
fuzz("heat", ["run", heat], "run.t_end", ["1e300", "1e-300", "inf"], ["run.t_end", "run.dt"])
ebm = write_config("sizes_ebm", f"""[run]
model = ebm
output = {D}/e.h5
year_end = 1851
overwrite = true
[ebm]
nlat = 8
nlon = 1
""")
for key in ("ebm.nlat", "ebm.nlon"):
    fuzz("ebm", ["run", ebm], key, BIG + ["100000"])
fuzz("ebm", ["run", ebm], "run.steps_per_year", BIG)
fuzz("ebm", ["run", ebm], "run.year_end", ["9223372036854775807", "100000000", "-100000000"],
     ["run.year_end", "run.year_start"])

# --- sweeps
sw = write_config("sizes_sweep", f"""[run]
model = heat
t_end = 0.002
dt = 0.001
[heat]
dims = 1
n = 8
[sweep]
dir = {D}/sw
method = lhs
samples = 4
vary = heat.kappa:0.1:1
""")
fuzz("sweep", ["sweep", sw, "--dry-run"], "sweep.samples", BIG)
fuzz("sweep", ["sweep", sw, "--dry-run", "sweep.method=grid"], "sweep.vary",
     ["heat.kappa=" + "|".join(str(1 + i) for i in range(1000)) + ",heat.bc_value=" +
      "|".join(str(i) for i in range(1000)) + ",run.t_end=" + "|".join(str(1 + i) for i in range(10))])

# --- surrogates on a small CSV
rng = np.random.default_rng(3)
X = rng.uniform(0, 1, (30, 2))
y = np.sin(3 * X[:, 0]) + X[:, 1]
with open(f"{D}/t.csv", "w") as f:
    f.write("a,b,y\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(X[:, 0], X[:, 1], y)))
for kind, keys in (("gp", ["surrogate.restarts", "surrogate.max_iter"]),
                   ("poly", ["surrogate.degree", "surrogate.max_degree"]),
                   ("spline", ["surrogate.max_terms"]),
                   ("rbf", []),
                   ("auto", [])):
    cfg = write_config(f"sizes_{kind}", f"""[surrogate]
kind = {kind}
data = {D}/t.csv
inputs = a, b
output = y
model = {D}/{kind}.h5
""")
    for key in keys:
        fuzz(kind, ["fit", cfg], key, BIG)
    if kind == "spline":
        fuzz(kind, ["fit", cfg], "surrogate.degrees", ["100000, 100000", "9223372036854775807, 2",
                                                        "2147483648, 2"])

# pcagp and pod: modes over the sweep's fields
sw2 = write_config("sizes_fields", f"""[run]
model = heat
t_end = 0.004
dt = 0.001
output_every = 1
[heat]
dims = 2
n = 12, 10
initial = gaussian(0.5, 0.5, 0.2, 5)
[sweep]
dir = {D}/fields
method = lhs
samples = 6
vary = heat.kappa:0.1:1
[surrogate]
kind = pcagp
model = {D}/pcagp.h5
""")
rc, out = sh(["sweep", sw2], timeout=300)
if check(rc == 0, "a sweep of fields for the mode keys"):
    fuzz("pcagp", ["fit", sw2], "surrogate.modes", BIG)
    fuzz("pod", ["fit", sw2, "surrogate.kind=pod", f"surrogate.model={D}/pod.h5"],
         "surrogate.modes", BIG)
    fuzz("pod", ["fit", sw2, "surrogate.kind=pod", f"surrogate.model={D}/pod.h5"],
         "surrogate.deim_modes", BIG)
    rc, out = sh(["fit", sw2, "surrogate.kind=pod", f"surrogate.model={D}/pod.h5"])
    if check(rc == 0, "a POD basis for the ROM keys" + ("" if rc == 0 else ": " + out[-200:])):
        rom = write_config("sizes_rom", open(os.path.join(OUT, "sizes_fields.ini")).read().split(
            "[sweep]")[0].replace("[run]\n", f"[run]\noutput = {D}/rom.h5\noverwrite = true\n")
            .replace("model = heat", "model = rom") + f"[rom]\nbasis = {D}/pod.h5\n")
        for key in ("rom.modes", "rom.max_modes", "rom.indicator_points", "rom.check_every",
                    "rom.newton_maxit"):
            fuzz("rom", ["run", rom], key, BIG)
print(f"# {tried} extreme values tried")
check(not bad, f"{tried} extreme sizes: every run ends by itself, refusals name their key" +
      ("" if not bad else " -- " + " | ".join(bad[:6]) + f" ({len(bad)} in all)"))
finish()
