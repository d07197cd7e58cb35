"""Checkpoint/restart: 2N steps equal N steps + restart + N steps, bit for bit (explicit and
Crank-Nicolson/FFT, 1 and 2 ranks); restart from a checkpoint file; a run killed with SIGKILL
resumes from its last checkpoint to the same result; bad restarts are refused."""
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, run, write_config


def cfg(name, scheme, t_end, extra=""):
    out = os.path.join(OUT, name + ".h5")
    path = write_config(name, f"""[run]
output = {out}
t_end = {t_end}
dt = 0.00025
output_every = 5
overwrite = true
{extra}
[heat]
dims = 2
n = 37, 23
kappa = 0.8
scheme = {scheme}
bc.xhi = neumann
bc_value.xhi = 0.5
initial = gaussian(0.6, 0.4, 0.1, 20)
source = sine(1, 2)
""")
    return path, out


def records(path):
    with h5py.File(path, "r") as f:
        return f["T"][...], f["time"][...], f["diagnostics/step"][...]


for scheme in ("explicit", "cn"):
    for ranks in (1, 2):
        tag = f"{scheme}_np{ranks}"
        full_cfg, full = cfg(f"rs_full_{tag}", scheme, 0.02)
        half_cfg, half = cfg(f"rs_half_{tag}", scheme, 0.01)
        rc1, _ = run(full_cfg, ranks=ranks)
        rc2, _ = run(half_cfg, ranks=ranks)
        cont = os.path.join(OUT, f"rs_cont_{tag}.h5")
        rc3, log = run(full_cfg, f"run.output={cont}", "--restart", half, ranks=ranks)
        if not check(rc1 == rc2 == rc3 == 0, f"{tag}: 80 steps, 40 steps, and 40 more after --restart"):
            continue
        A, ta, sa = records(full)
        B, tb, sb = records(cont)
        same_last = np.array_equal(A[-1], B[-1]) and ta[-1] == tb[-1]
        # Every record of the continuation equals the full run's record of the same step.
        idx = [list(sa).index(s) for s in sb]
        same_all = all(np.array_equal(A[i], B[k]) for k, i in enumerate(idx))
        check(same_last and same_all and sb[0] == 40 and sb[-1] == 80,
              f"{tag}: restarted run equals the uninterrupted one bit for bit at steps "
              f"{[int(s) for s in sb]}")

# Checkpoints: every 7 steps; the last one (step 35) restarts to the same end.
ck_cfg, ck = cfg("rs_ckpt", "cn", 0.02, "checkpoint_every = 7")
rc, _ = run(ck_cfg, ranks=2)
chk = os.path.join(OUT, "rs_ckpt.checkpoint.h5")
if check(rc == 0 and os.path.exists(chk), "run.checkpoint_every = 7 leaves rs_ckpt.checkpoint.h5"):
    T, t, s = records(chk)
    check(len(t) == 1 and s[0] == 77, f"the checkpoint holds one record, the last multiple of 7 "
          f"before the end (step {int(s[0])})")
    cont = os.path.join(OUT, "rs_ckpt_cont.h5")
    rc, _ = run(ck_cfg, f"run.output={cont}", "--restart", chk, ranks=2)
    A, _, _ = records(ck)
    B, _, sb = records(cont)
    check(rc == 0 and np.array_equal(A[-1], B[-1]), "restart from the checkpoint reaches the same "
          "final state bit for bit")

# SIGKILL in the middle of a longer run: the checkpoint survives and the restart completes.
kl_cfg, kl = cfg("rs_kill", "explicit", 2.0, "checkpoint_every = 400")
for f in (kl, kl + ".part"):
    if os.path.exists(f):
        os.remove(f)
chk = os.path.join(OUT, "rs_kill.checkpoint.h5")
if os.path.exists(chk):
    os.remove(chk)
p = subprocess.Popen([KELVIN, "-q", "run", kl_cfg, "run.dt=0.00005"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
t0 = time.time()
while not os.path.exists(chk) and time.time() - t0 < 60 and p.poll() is None:
    time.sleep(0.05)
time.sleep(0.2)
killed = p.poll() is None
p.send_signal(signal.SIGKILL)
p.wait()
check(killed and os.path.exists(chk) and not os.path.exists(kl),
      "a run killed with SIGKILL leaves its checkpoint and nothing under the final name")
with h5py.File(chk, "r") as f:
    step_at = int(f["diagnostics/step"][-1])
rc, _ = run(kl_cfg, "run.dt=0.00005", "--restart", chk)
ref = os.path.join(OUT, "rs_kill_ref.h5")
rc2, _ = run(kl_cfg, "run.dt=0.00005", f"run.output={ref}", "run.checkpoint_every=0")
if check(rc == 0 and rc2 == 0, f"the killed run restarts from its checkpoint (step {step_at})"):
    A, _, _ = records(ref)
    B, _, _ = records(kl)
    check(np.array_equal(A[-1], B[-1]), "and ends bit for bit where an uninterrupted run ends")

# SIGTERM (Ctrl-C, Slurm's time limit): stop at a step boundary, save, say how to go on.
tm_cfg = write_config("rs_term", f"""[run]
output = {os.path.join(OUT, "rs_term.h5")}
t_end = 18.0
dt = 0.00006
output_every = 50000
overwrite = true
[heat]
dims = 2
n = 64, 64
kappa = 0.5
initial = gaussian(0.6, 0.4, 0.1, 20)
""")
for f in ("rs_term.h5", "rs_term.interrupted.h5", "rs_term.checkpoint.h5"):
    if os.path.exists(os.path.join(OUT, f)):
        os.remove(os.path.join(OUT, f))
p = subprocess.Popen([KELVIN, "-q", "run", tm_cfg, "heat.kappa=0.8"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
# Signal once it is stepping: its output exists under the .part name from then on.
part = os.path.join(OUT, "rs_term.h5.part")
t0 = time.time()
while not os.path.exists(part) and time.time() - t0 < 30 and p.poll() is None:
    time.sleep(0.01)
time.sleep(0.2)
p.send_signal(signal.SIGTERM)
out, _ = p.communicate()
chk = os.path.join(OUT, "rs_term.checkpoint.h5")
ok = check(p.returncode == 3 and "interrupted by signal 15 at step" in out and
           re.search(r"continue with: \S*kelvin run", out) is not None and os.path.exists(chk) and
           os.path.exists(os.path.join(OUT, "rs_term.interrupted.h5")) and
           not os.path.exists(os.path.join(OUT, "rs_term.h5")),
           "SIGTERM stops the run cleanly (exit 3): records in rs_term.interrupted.h5, state in "
           "the checkpoint, the restart command printed")
if ok:
    with h5py.File(os.path.join(OUT, "rs_term.interrupted.h5"), "r") as f:
        status = f.attrs["status"]
        status = status.decode() if isinstance(status, bytes) else status
    check(status.startswith("interrupted by signal 15"), f"its status attribute says so: {status}")
    # The printed command, copied and run verbatim (it repeats the override heat.kappa=0.8).
    hint = re.search(r"continue with: (.*)$", out, re.M)
    hint = hint.group(1).strip() if hint else ""
    check("heat.kappa=0.8" in hint and f"--restart {chk}" in hint,
          f"the hint repeats the whole command with its overrides: {hint}")
    q = subprocess.run(["bash", "-c", hint], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    rc = q.returncode
    ref = os.path.join(OUT, "rs_term_ref.h5")
    rc2, _ = run(tm_cfg, f"run.output={ref}", "heat.kappa=0.8")
    if check(rc == 0 and rc2 == 0, "the printed restart command, run verbatim, completes the run"):
        A, _, _ = records(ref)
        B, _, _ = records(os.path.join(OUT, "rs_term.h5"))
        check(np.array_equal(A[-1], B[-1]), "and ends bit for bit where an uninterrupted run ends")

    # Self-contained: the checkpoint's own configuration, without CONFIG.
    alone = os.path.join(OUT, "rs_term_alone.h5")
    rc3, log3 = run("--restart", chk, f"run.output={alone}")
    if check(rc3 == 0, "kelvin run --restart FILE alone restarts with the file's configuration"):
        A, _, _ = records(ref)
        B, _, _ = records(alone)
        check(np.array_equal(A[-1], B[-1]), "and ends bit for bit where the uninterrupted run ends")
    rc4, log4 = run(tm_cfg, "heat.kappa=0.3", "--restart", chk, expect=2)
    check(rc4 == 2 and "heat.kappa = 0.3 here, 0.8 in the file" in log4,
          "a restart whose configuration conflicts with the file's is refused, naming the key: "
          + log4.strip().splitlines()[-1][:200])

# Refusals.
bad_cfg, _ = cfg("rs_bad", "explicit", 0.02)
half = os.path.join(OUT, "rs_half_explicit_np1.h5")
rc, log = run(bad_cfg, "run.dt=0.0003", "--restart", half, expect=2)
check(rc == 2 and "not a multiple of this run's dt" in log, "a restart off the time grid is refused: "
      + log.strip().splitlines()[-1][:160])
rc, log = run(bad_cfg, "run.t_end=0.005", "--restart", half, expect=2)
check(rc == 2 and "nothing to do" in log, "a restart at or after run.t_end is refused")
grid_cfg, _ = cfg("rs_grid", "explicit", 0.02)
bare = os.path.join(OUT, "rs_bare.h5")  # a state file from elsewhere: no stored configuration
with h5py.File(half, "r") as src, h5py.File(bare, "w") as dst:
    for k in ("T", "time", "x", "y"):
        dst[k] = src[k][...]
    dst.attrs["model"] = "heat"
rc, log = run(grid_cfg, "heat.n=24,20", "--restart", bare, expect=2)
check(rc == 2 and "has shape (" in log and "grid (20, 24)" in log,
      "a restart on another grid names both shapes: " + log.strip().splitlines()[-1][:200])
rc, log = run(bad_cfg, "--restart", os.path.join(OUT, "nothing.h5"), expect=2)
check(rc == 2 and "nothing.h5" in log, "a missing restart file is named")

other = os.path.join(OUT, "rs_other_model.h5")
with h5py.File(half, "r") as src, h5py.File(other, "w") as dst:
    for k in ("T", "time", "x", "y"):
        dst[k] = src[k][...]
    dst.attrs["model"] = "ebm"
rc, log = run(bad_cfg, "--restart", other, expect=2)
check(rc == 2 and "written by model 'ebm', not heat" in log, "a file of another model is refused")

finish()
