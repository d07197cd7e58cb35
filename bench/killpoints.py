"""kill -9 campaign (bench/RELIABILITY.md): sweeps on 2 MPI ranks killed at seeded random moments
(every process, one rank, mpirun alone while its ranks keep writing, and twice in a row), fits
and validations killed mid-way; after each kill the work is resumed and checked: every case done
once, each case file whole (kelvin info --verify) and bitwise the uninterrupted run's data, no
.part left, a model either absent or whole, a validation report never older than its data.
Prints one line per point and the totals.

    /usr/bin/python3 bench/killpoints.py [POINTS_PER_SWEEP_MODE]   (default 10: 56 points)
"""
import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = os.path.join(ROOT, "bin", "kelvin")
W = os.path.join(ROOT, "tests", "out", "killpoints")
MPI = ["mpirun", "--oversubscribe", "-n", "2"]
per_mode = int(sys.argv[1]) if len(sys.argv) > 1 else 10
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
shutil.rmtree(W, ignore_errors=True)
os.makedirs(W)
rng = random.Random(19)


def cfg(name, d):
    p = os.path.join(W, name + ".ini")
    with open(p, "w") as f:
        f.write(f"""[run]
model = heat
t_end = 0.03
dt = 0.0005
output_every = 10
[heat]
dims = 2
n = 64, 48
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
[sweep]
dir = {d}
method = lhs
samples = 12
seed = 5
vary = heat.kappa:0.1:1.0:log, heat.bc_value:0:1
[surrogate]
kind = pcagp
model = {d}/model.h5
[validate]
samples = 4
""")
    return p


def run(args, mpi=False, timeout=600):
    return subprocess.run((MPI if mpi else []) + [K, "-q"] + args, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def data(path):
    with h5py.File(path, "r") as f:
        return f["T"][...].tobytes(), f["time"][...].tobytes()


def kelvin_pids(root_pid):
    """The kelvin rank processes under a launcher."""
    out = subprocess.run(["pgrep", "-s", str(os.getpgid(root_pid)), "-f", "bin/kelvin"],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return [int(p) for p in out if int(p) != root_pid]


# The uninterrupted reference.
ref = os.path.join(W, "ref")
t0 = time.time()
r = run(["sweep", cfg("ref", ref)], mpi=True)
full = time.time() - t0
assert r.returncode == 0, r.stdout
refdata = {f: data(os.path.join(ref, f)) for f in os.listdir(ref) if f.startswith("case_")}
print(f"# reference sweep: {len(refdata)} cases in {full:.1f} s")

totals = dict(points=0, lost=0, duplicated=0, damaged=0, different=0, part_left=0, resume_failed=0)


def check_sweep(d, label):
    bad = []
    r = run(["sweep", os.path.join(W, "pt.ini"), "--resume"], mpi=True)
    if r.returncode != 0:
        totals["resume_failed"] += 1
        bad.append("resume exit %d: %s" % (r.returncode, r.stdout.strip()[-160:]))
    rows = list(csv.DictReader(open(os.path.join(d, "manifest.csv"))))
    ids = [row["case"] for row in rows]
    done = [row for row in rows if row["status"] == "done"]
    if len(ids) != len(set(ids)):
        totals["duplicated"] += 1
        bad.append("a case listed twice")
    if len(done) != len(refdata):
        totals["lost"] += len(refdata) - len(done)
        bad.append(f"{len(done)} of {len(refdata)} done")
    for f, want in refdata.items():
        p = os.path.join(d, f)
        if not os.path.exists(p):
            continue
        if run(["info", "--verify", p]).returncode != 0:
            totals["damaged"] += 1
            bad.append(f"{f} damaged")
        elif data(p) != want:
            totals["different"] += 1
            bad.append(f"{f} differs")
    parts = [f for f in os.listdir(d) if f.endswith(".part")]
    if parts:
        totals["part_left"] += 1
        bad.append(f".part left: {parts}")
    print(f"{'ok  ' if not bad else 'FAIL'} {label}" + ("" if not bad else ": " + "; ".join(bad)),
          flush=True)
    return not bad


modes = ("all", "one rank", "mpirun", "twice")
for mode in modes:
    for k in range(per_mode):
        d = os.path.join(W, "pt")
        shutil.rmtree(d, ignore_errors=True)
        cfg("pt", d)
        kills = 2 if mode == "twice" else 1
        when = []
        for i in range(kills):
            p = subprocess.Popen(MPI + [K, "-q", "sweep", os.path.join(W, "pt.ini")] +
                                 (["--resume"] if i else []), env=env, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            delay = rng.uniform(0.3, max(0.5, full * 0.9))
            when.append(f"{delay:.2f}s")
            time.sleep(delay)
            if mode == "one rank":
                ranks = kelvin_pids(p.pid)
                if ranks:
                    os.kill(rng.choice(ranks), signal.SIGKILL)
            elif mode == "mpirun":
                os.kill(p.pid, signal.SIGKILL)  # the ranks are left running, writing
            else:
                os.killpg(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            # whatever survived (orphaned ranks) finishes or dies before the resume
            for _ in range(100):
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.killpg(p.pid, signal.SIGKILL)
                time.sleep(0.5)
        totals["points"] += kills
        check_sweep(d, f"sweep, kill -9 of {mode} at {', '.join(when)}")

# fit and validate killed mid-way
d = ref
for k in range(per_mode // 2 + 3):
    model = os.path.join(d, "model.h5")
    if os.path.exists(model):
        os.remove(model)
    p = subprocess.Popen([K, "-q", "fit", os.path.join(W, "ref.ini")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = rng.uniform(0.02, 0.6)
    time.sleep(delay)
    p.kill()
    p.wait()
    totals["points"] += 1
    whole = not os.path.exists(model) or run(["info", "--verify", model]).returncode == 0
    again = run(["fit", os.path.join(W, "ref.ini")]).returncode == 0
    ok = whole and again and not [f for f in os.listdir(d) if f.endswith(".part")]
    totals["damaged"] += not whole
    totals["resume_failed"] += not again
    print(f"{'ok  ' if ok else 'FAIL'} fit, kill -9 at {delay:.2f}s: model {'whole or absent' if whole else 'DAMAGED'}, "
          f"refit {'ok' if again else 'FAILED'}", flush=True)
for k in range(per_mode // 2 + 3):
    p = subprocess.Popen([K, "-q", "validate", os.path.join(W, "ref.ini")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = rng.uniform(0.1, 3.0)
    time.sleep(delay)
    p.kill()
    p.wait()
    totals["points"] += 1
    md, h5 = os.path.join(d, "validation.md"), os.path.join(d, "validation.h5")
    pair = not (os.path.exists(md) and os.path.exists(h5) and os.path.getmtime(md) < os.path.getmtime(h5))
    whole = not os.path.exists(h5) or run(["info", "--verify", h5]).returncode == 0
    again = run(["validate", os.path.join(W, "ref.ini")]).returncode in (0, 1)
    ok = pair and whole and again
    totals["damaged"] += not whole
    totals["resume_failed"] += not again
    print(f"{'ok  ' if ok else 'FAIL'} validate, kill -9 at {delay:.2f}s: pair {'consistent' if pair else 'MISMATCHED'}, "
          f"data {'whole' if whole else 'DAMAGED'}, rerun {'ok' if again else 'FAILED'}", flush=True)
print("# kill -9 points: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
sys.exit(0 if all(v == 0 for k, v in totals.items() if k != "points") else 1)
