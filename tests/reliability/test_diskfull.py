"""A full disk fails cleanly (issue 19, point 2). On a small tmpfs: a run on 1 and 2 ranks, a run
with checkpoints, sweeps with 1 and 2 ranks per case, a GP fit, a field prediction and a
validation each stop with a clear error and a non-zero exit status, without a crash or a hang
and without a half-written file under a final name or a .part left behind; once space is freed
(the tmpfs grown), the run restarts from its checkpoint, the sweep resumes to completion and the
fit succeeds. Skipped, and said so, where a tmpfs cannot be mounted (not root, no mount
namespace)."""
import glob
import os
import shutil
import subprocess
import sys

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

D = os.path.join(OUT, "diskfull")
M = os.path.join(D, "mnt")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(M)


def mount(size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", M],
                          stderr=subprocess.PIPE).returncode == 0


def resize(size):
    return subprocess.run(["mount", "-o", f"remount,size={size}", M]).returncode == 0


def umount():
    subprocess.run(["umount", M], stderr=subprocess.DEVNULL)


def fill(leave):
    """Leave about `leave` bytes free on the tmpfs."""
    st = os.statvfs(M)
    free = st.f_bavail * st.f_frsize
    if free > leave:
        with open(os.path.join(M, "filler"), "wb") as f:
            f.write(b"\0" * (free - leave))


def sh(args, ranks=1, timeout=120):
    cmd = [KELVIN, "-q"] + args
    if ranks > 1:
        cmd = MPIRUN + ["-n", str(ranks)] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)  # the launcher and every rank
        out, _ = p.communicate()
        return "hang", out


def leftovers():
    return sorted(os.path.relpath(p, M) for p in glob.glob(M + "/**/*.part", recursive=True))


def clean_failure(what, rc, out, finals=()):
    clear = ("disk is full" in out or "No space" in out or "cannot write" in out)
    bad_finals = [f for f in finals if os.path.exists(f)]
    ok = rc not in (0, "hang") and isinstance(rc, int) and rc < 128 and clear and \
        not leftovers() and not bad_finals and "Segmentation" not in out and "signal" not in out
    check(ok, f"{what}: exit {rc}, a clear error, no .part ({leftovers()}), no half file "
              f"({bad_finals})" + ("" if ok else ": " + out.strip()[-300:]))


if not mount("2m"):
    print("skip - cannot mount a tmpfs here (not root or no mount permission): the disk-full "
          "scenarios are not run")
    sys.exit(0)
try:
    heat = write_config("diskfull_heat", f"""[run]
output = {M}/heat.h5
t_end = 0.004
dt = 0.0002
output_every = 2
overwrite = true
[heat]
dims = 2
n = 300, 300
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
""")
    # 1. run on 1 and 2 ranks: the output does not fit
    for ranks in (1, 2):
        rc, out = sh(["run", heat], ranks=ranks)
        clean_failure(f"run on {ranks} rank(s)", rc, out, [f"{M}/heat.h5"])

    # 2. a run with checkpoints: the checkpoint survives; grown, the restart completes
    rc, out = sh(["run", heat, "run.output_every=1000", "run.checkpoint_every=5",
                  f"run.output={M}/ck.h5"])
    clean_failure("run with checkpoints", rc, out, [f"{M}/ck.h5"])
    chk = f"{M}/ck.checkpoint.h5"
    has = os.path.exists(chk)
    check(has, "the last checkpoint written before the disk filled is kept")
    resize("64m")
    if has:
        v, vo = sh(["info", "--verify", chk])
        check(v == 0, "the kept checkpoint verifies")
        rc, out = sh(["run", heat, "run.output_every=1000", f"run.output={M}/ck.h5", "--restart", chk])
        check(rc == 0 and os.path.exists(f"{M}/ck.h5"),
              "once space is freed, the run restarts from its checkpoint and completes" +
              ("" if rc == 0 else ": " + out[-300:]))
    umount()

    # 3. sweeps (1 and 2 ranks per case): stop cleanly, then resume to completion
    for rpc in (1, 2):
        mount("3m")
        sd = f"{M}/sweep"
        sw = write_config(f"diskfull_sweep{rpc}", f"""[run]
model = heat
t_end = 0.004
dt = 0.0005
output_every = 4
[heat]
dims = 2
n = 200, 150
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
[sweep]
dir = {sd}
method = lhs
samples = 8
seed = 4
vary = heat.kappa:0.1:1.0
ranks_per_case = {rpc}
""")
        rc, out = sh(["sweep", sw], ranks=2, timeout=300)
        ok = isinstance(rc, int) and 0 < rc < 128 and not leftovers()
        check(ok, f"sweep with {rpc} rank(s) per case on a full disk: exit {rc}, no .part "
                  f"({leftovers()})" + ("" if ok else ": " + out.strip()[-300:]))
        cases = glob.glob(sd + "/case_*.h5")
        bad = [c for c in cases if sh(["info", "--verify", c])[0] != 0]
        check(not bad, f"every case file it left ({len(cases)}) is whole (info --verify): {bad}")
        resize("64m")
        rc, out = sh(["sweep", sw, "--resume"], ranks=2, timeout=300)
        n = len(glob.glob(sd + "/case_*.h5"))
        check(rc == 0 and n == 8, f"once space is freed, --resume completes the sweep "
                                  f"({n} of 8 cases)" + ("" if rc == 0 else ": " + out[-300:]))
        umount()

    # 4. fit, predict --output and validate with a few kB free
    mount("4m")
    data = os.path.join(D, "train.csv")
    with open(data, "w") as f:
        f.write("a,b,y\n" + "".join(f"{i / 40},{(i * 7 % 40) / 40},{i % 5}\n" for i in range(40)))
    gp = write_config("diskfull_gp", f"""[surrogate]
kind = gp
data = {data}
inputs = a, b
output = y
model = {M}/gp.h5
""")
    fill(2000)
    rc, out = sh(["fit", gp])
    clean_failure("fit with 2 kB free", rc, out, [f"{M}/gp.h5"])
    os.remove(f"{M}/filler")
    rc, out = sh(["fit", gp])
    check(rc == 0 and sh(["info", "--verify", f"{M}/gp.h5"])[0] == 0,
          "once space is freed, the fit writes a whole model")
    # a pcagp model for a field prediction, trained outside the small disk
    sw = write_config("diskfull_pcagp", f"""[run]
model = heat
t_end = 0.002
dt = 0.0005
output_every = 4
[heat]
dims = 2
n = 100, 100
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
[sweep]
dir = {D}/train
method = lhs
samples = 6
seed = 4
vary = heat.kappa:0.1:1.0
[surrogate]
kind = pcagp
model = {D}/pcagp.h5
[validate]
dir = {M}/val
samples = 3
""")
    r1, o1 = sh(["sweep", sw], timeout=300)
    r2, o2 = sh(["fit", sw], timeout=300)
    if check(r1 == 0 and r2 == 0, "a PCA+GP model of heat fields" + ("" if r2 == 0 else o1[-200:] + o2[-200:])):
        fill(20000)
        rc, out = sh(["predict", f"{D}/pcagp.h5", "heat.kappa=0.5", "--output", f"{M}/field.h5"])
        clean_failure("predict --output of a field with 20 kB free", rc, out, [f"{M}/field.h5"])
        rc, out = sh(["validate", sw], timeout=300)
        clean_failure("validate with 20 kB free", rc, out,
                      [f"{M}/val/validation.h5", f"{M}/val/validation.md"])
finally:
    umount()
finish()
