"""Helpers for kelvin's Python test oracles (run with Debian's /usr/bin/python3, numpy, h5py).

Tests print one line per check, "ok - ..." or "FAIL - ...", which tests/run.sh counts.
"""
import os
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KELVIN = os.environ.get("KELVIN", os.path.join(ROOT, "bin", "kelvin"))
OUT = os.environ.get("OUT", os.path.join(ROOT, "tests", "out"))
MPIRUN = os.environ.get("MPIRUN", "mpirun --oversubscribe").split()

failures = 0


def check(cond, what):
    global failures
    print(("ok - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        failures += 1
    return cond


def finish():
    sys.exit(1 if failures else 0)


def write_config(name, text):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".ini")
    with open(path, "w") as f:
        f.write(text)
    return path


def run(config, *overrides, ranks=1, expect=0):
    """Run kelvin; return (exit status, combined output)."""
    cmd = [KELVIN, "-q", "run", config] + list(overrides)
    if ranks > 1:
        cmd = MPIRUN + ["-n", str(ranks)] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if expect is not None and p.returncode != expect:
        print("# command: " + " ".join(cmd))
        print("# output: " + p.stdout.strip().replace("\n", "\n# "))
    return p.returncode, p.stdout


def kelvin(args, ranks=1, env=None, expect=0):
    """Run kelvin with args (on ranks ranks under MPIRUN), stdout and stderr together; return
    (exit status, output). When expect is not None and the status differs, print the command and
    its output as comments (the test's log then says why)."""
    cmd = [KELVIN] + list(args)
    if ranks > 1:
        cmd = MPIRUN + ["-n", str(ranks)] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, **(env or {})))
    if expect is not None and p.returncode != expect:
        print("# command: " + " ".join(cmd) + "\n# " + p.stdout.strip().replace("\n", "\n# "))
    return p.returncode, p.stdout


def read(path, name="T"):
    with h5py.File(path, "r") as f:
        return f[name][...], f["time"][...]


def centres(n, length):
    return (np.arange(n) + 0.5) * length / n


def order(errors, ratios=2.0):
    e = np.asarray(errors)
    return np.log(e[:-1] / e[1:]) / np.log(ratios)


# A small 2-D heat plate (16 x 12 cells, Crank-Nicolson, 50 steps): the cheap model the
# decision tests sweep, fit and optimise.
SMALL_HEAT = """[run]
model = heat
t_end = 0.05
dt = 0.001
output_every = 25
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
"""


def small_heat(name, sweep, rest=""):
    """write_config of SMALL_HEAT with a [sweep] section (its body) and more sections after."""
    return write_config(name, SMALL_HEAT + "[sweep]\n" + sweep.strip() + "\n" + rest)
