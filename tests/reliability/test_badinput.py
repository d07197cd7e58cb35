"""Nothing hangs, and bad input is named (issue 19, point 5b): a sweep checks every case's
configuration before the first case runs; data so large that a fit overflows is refused by line
and column, and no prediction prints nan or inf; a re-validation killed at any moment never
leaves a report beside data it does not describe; a signal during a long set-up stops the run
before its first step, and a second signal at once; an allocation that fails names the key that
sets the size."""
import os
import resource
import shutil
import signal
import subprocess
import time

import numpy as np

from kvtest import KELVIN, OUT, check, finish, write_config

D = os.path.join(OUT, "badinput")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args, timeout=300, limit=None):
    pre = (lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))) if limit else None
    p = subprocess.run([KELVIN, "-q"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout, preexec_fn=pre)
    return p.returncode, p.stdout


# 1. the sweep refuses a case `kelvin run` would refuse, before any case runs
base = """[run]
model = heat
t_end = 0.002
dt = 0.001
[heat]
dims = 1
n = 8
"""
cases = os.path.join(D, "cases.csv")
with open(cases, "w") as f:
    f.write("heat.kappa,heat.initial\n0.5,constant(1)\n0.7,sine(1)\n0.9,gaussian(0.5\n")
bad = {
    "a bad heat.initial on the CSV's line 4": (f"[sweep]\nmethod = list\ncases = {cases}\n",
                                              "cases.csv:4"),
    "run.dt = 1e-300 in a case": ("[sweep]\nmethod = grid\nvary = run.dt=0.001|1e-300\n",
                                  "too many"),
    "no heat.n": ("[sweep]\nmethod = lhs\nsamples = 3\nvary = heat.kappa:0.1:1\n", "heat.n"),
}
for what, (sweep, expect) in bad.items():
    text = base + sweep
    if what == "no heat.n":
        text = text.replace("n = 8\n", "")
    d = os.path.join(D, "sw_" + str(abs(hash(what)) % 1000))
    cfg = write_config("badinput_sweep", text + f"dir = {d}\n")
    rc, out = sh(["sweep", cfg])
    made = os.path.isdir(d) and any(f.startswith("case_") for f in os.listdir(d))
    check(rc == 2 and expect in out and "badinput_sweep.ini:" in out and not made,
          f"sweep with {what}: refused before any case ran: {out.strip()[-170:]}")

# 2. values that overflow a fit are refused; no prediction is non-finite
rng = np.random.default_rng(2)
X = rng.uniform(0, 1, (25, 2))
y = np.sin(3 * X[:, 0]) + X[:, 1]
for name, Xs, ys in (("inputs", X * 1e307, y), ("outputs", X, y * 1e307)):
    path = os.path.join(D, f"huge_{name}.csv")
    with open(path, "w") as f:
        f.write("a,b,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in zip(Xs[:, 0], Xs[:, 1], ys)))
    cfg = write_config("badinput_huge", f"[surrogate]\nkind = gp\ndata = {path}\ninputs = a, b\n"
                                        f"output = y\nmodel = {D}/huge.h5\n")
    rc, out = sh(["fit", cfg])
    check(rc == 2 and "too large" in out and f"huge_{name}.csv:2" in out and
          not os.path.exists(f"{D}/huge.h5"),
          f"{name} near 1e307: the fit is refused by line and column, nothing saved")
path = os.path.join(D, "ok.csv")
with open(path, "w") as f:
    f.write("a,b,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in zip(X[:, 0], X[:, 1], y)))
for kind in ("gp", "poly", "rbf", "spline"):
    cfg = write_config("badinput_fit", f"[surrogate]\nkind = {kind}\ndata = {path}\ninputs = a, b\n"
                                       f"output = y\nmodel = {D}/{kind}.h5\n")
    rc, _ = sh(["fit", cfg])
    outs = []
    for pt in ("a=1e300 b=0.5", "a=-1e308 b=1e308", "a=1e-320 b=0.5"):
        prc, pout = sh(["predict", f"{D}/{kind}.h5"] + pt.split())
        outs.append((prc, pout))
    fine = all((prc == 0 and "nan" not in po.lower() and "inf" not in po.split("\n")[-2].lower())
               or (prc == 3 and "non-finite" in po) for prc, po in outs)
    check(rc == 0 and fine, f"{kind}: predictions far outside the data are finite or refused, "
                            f"never nan/inf: {[o[1].strip()[-80:] for o in outs]}")

# 3. a re-validation killed at any moment leaves no report beside data it does not describe
vcfg = write_config("badinput_val", f"""[run]
model = heat
t_end = 0.004
dt = 0.001
[heat]
dims = 2
n = 24, 20
scheme = cn
initial = gaussian(0.5, 0.5, 0.2, 5)
[sweep]
dir = {D}/val
method = lhs
samples = 8
vary = heat.kappa:0.1:1
[surrogate]
kind = pcagp
[validate]
samples = 6
""")
rc1, _ = sh(["sweep", vcfg])
rc2, _ = sh(["fit", vcfg])
rc3, out = sh(["validate", vcfg])
md, h5 = f"{D}/val/validation.md", f"{D}/val/validation.h5"
if check(rc1 == rc2 == 0 and rc3 in (0, 1) and os.path.exists(md), "a first validation"):
    broken = []
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8, 1.2):
        p = subprocess.Popen([KELVIN, "-q", "validate", vcfg], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
        if os.path.exists(md) and os.path.exists(h5) and os.path.getmtime(md) < os.path.getmtime(h5):
            broken.append(delay)
    check(not broken, f"validate killed after 0.05-1.2 s (6 points): a report is never older "
                      f"than the data beside it ({broken})")

# 4. signals during a long set-up
big = write_config("badinput_big", f"""[run]
output = {D}/big.h5
t_end = 0.001
dt = 0.001
overwrite = true
[heat]
dims = 1
n = 20000000
scheme = cn
solver = fft
""")
p = subprocess.Popen([KELVIN, "run", big], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
time.sleep(0.5)
p.send_signal(signal.SIGTERM)
out, _ = p.communicate(timeout=300)
check(p.returncode == 3 and "signal 15" in out and not os.path.exists(f"{D}/big.h5"),
      f"SIGTERM during the set-up: the run stops before writing (exit {p.returncode}): "
      f"{out.strip()[-120:]}")
p = subprocess.Popen([KELVIN, "-q", "run", big], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
time.sleep(0.5)
p.send_signal(signal.SIGTERM)
time.sleep(0.2)
t0 = time.time()
p.send_signal(signal.SIGTERM)
p.wait(timeout=60)
check(p.returncode == -signal.SIGTERM and time.time() - t0 < 5,
      f"a second SIGTERM ends it at once ({time.time() - t0:.2f} s, status {p.returncode})")

# 5. a failed allocation names the key that sets the size
cfg = write_config("badinput_alloc", f"""[run]
output = {D}/alloc.h5
t_end = 0.001
dt = 0.001
overwrite = true
[heat]
dims = 2
n = 20000, 20000
scheme = cn
""")
rc, out = sh(["run", cfg], limit=1 << 30)
check(rc == 3 and "heat.n" in out and "GB" in out,
      f"an allocation that fails under a 1 GB limit names heat.n and the size: {out.strip()[-140:]}")
rc, out = sh(["run", cfg, "heat.kappa=nosuch.h5:/k"])
check(rc == 2 and "heat.kappa" in out and "nosuch.h5" in out,
      "a heat.kappa file that cannot be read is named with its key")
finish()
