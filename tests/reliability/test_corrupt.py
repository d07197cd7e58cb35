"""Corrupt files are detected, never used (issue 19, point 1). A GP model, a PCA+GP model, a run's
output and its checkpoint are damaged in many seeded ways (single bit flips anywhere in the file,
5 zeroed bytes); each damaged copy is given to the command that trusts it (predict, run
--restart). Every outcome must be the undamaged answer or an error that names the file (exit 2):
no crash, no hang, no different answer. kelvin info --verify must find the damage whenever the
answer would have changed. A file written before checksums (the mark removed) still loads, with a
notice."""
import os
import random
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, OUT, check, finish, write_config

D = os.path.join(OUT, "corrupt")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
ENV = dict(os.environ, KELVIN_PROBE_TIMEOUT="10")
N = int(os.environ.get("KV_CORRUPT_N", "45"))  # damaged copies per file


def sh(args, timeout=60):
    try:
        p = subprocess.run([KELVIN, "-q"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, env=ENV)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return "hang", "", ""


# --- the files: a GP and a PCA+GP model, a heat output and its checkpoint
rng = np.random.default_rng(5)
X = rng.uniform(0, 1, (30, 2))
y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
with open(f"{D}/train.csv", "w") as f:
    f.write("a,b,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in zip(X[:, 0], X[:, 1], y)))
with open(f"{D}/points.csv", "w") as f:
    f.write("a,b\n0.2,0.7\n0.5,0.5\n0.9,0.1\n")
gp_cfg = write_config("corrupt_gp", f"""[surrogate]
kind = gp
data = {D}/train.csv
inputs = a, b
output = y
model = {D}/gp.h5
""")
rc, _, err = sh(["fit", gp_cfg])
check(rc == 0, "a GP model to damage" + ("" if rc == 0 else ": " + err[-300:]))

sw_cfg = write_config("corrupt_sweep", f"""[run]
model = heat
t_end = 0.01
dt = 0.001
output_every = 5
[heat]
dims = 2
n = 12, 10
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.2, 5)
[sweep]
dir = {D}/sweep
method = lhs
samples = 8
seed = 2
vary = heat.kappa:0.1:1.0, heat.bc_value:0:1
[surrogate]
kind = pcagp
model = {D}/pcagp.h5
""")
rc1, _, e1 = sh(["sweep", sw_cfg], timeout=300)
rc2, _, e2 = sh(["fit", sw_cfg], timeout=300)
check(rc1 == 0 and rc2 == 0, "a PCA+GP model to damage" + ("" if rc2 == 0 else ": " + (e1 + e2)[-300:]))

run_cfg = write_config("corrupt_run", f"""[run]
output = {D}/run.h5
t_end = 0.02
dt = 0.001
output_every = 5
checkpoint_every = 10
overwrite = true
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.2, 5)
""")
rc, _, err = sh(["run", run_cfg, f"run.output={D}/half.h5", "run.t_end=0.01"])
rc2, _, err2 = sh(["run", run_cfg])
check(rc == 0 and rc2 == 0 and os.path.exists(f"{D}/run.checkpoint.h5"),
      "a heat output and a checkpoint to damage")


def predict_gp(model):
    rc, out, err = sh(["predict", model, "--input", f"{D}/points.csv", "--output", f"{D}/p.csv"])
    if rc != 0:
        return rc, err
    return rc, open(f"{D}/p.csv").read()


def predict_pcagp(model):
    out = f"{D}/pf.h5"
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = sh(["predict", model, "heat.kappa=0.4", "heat.bc_value=0.3", "--output", out])
    if rc != 0:
        return rc, err
    with h5py.File(out, "r") as f:
        return rc, (f["T"][...].tobytes(), f["T_std"][...].tobytes())


def restart(path):
    out = f"{D}/cont.h5"
    rc, _, err = sh(["run", run_cfg, f"run.output={out}", "run.checkpoint_every=0", "--restart", path])
    if rc != 0:
        return rc, err
    with h5py.File(out, "r") as f:
        return rc, f["T"][-1].tobytes()


def damage(src, dst, r):
    data = bytearray(open(src, "rb").read())
    if r.random() < 0.7:
        pos = r.randrange(len(data))
        data[pos] ^= 1 << r.randrange(8)
        what = f"bit flip at {pos}"
    else:
        pos = r.randrange(len(data) - 5)
        data[pos:pos + 5] = b"\0" * 5
        what = f"5 zero bytes at {pos}"
    open(dst, "wb").write(bytes(data))
    return what


cases = [("gp model", f"{D}/gp.h5", predict_gp), ("pcagp model", f"{D}/pcagp.h5", predict_pcagp),
         ("output for restart", f"{D}/half.h5", restart),
         ("checkpoint", f"{D}/run.checkpoint.h5", restart)]
totals = dict(tried=0, same=0, detected=0, crash=0, hang=0, wrong=0, unnamed=0, verify_missed=0)
for label, src, use in cases:
    if not os.path.exists(src):
        check(False, f"{label}: {src} exists")
        continue
    rc, ref = use(src)
    if not check(rc == 0, f"{label}: the undamaged file works"):
        continue
    rc, out, _ = sh(["info", "--verify", src])
    check(rc == 0 and ": ok (" in out, f"{label}: kelvin info --verify passes the undamaged file")
    r = random.Random(hash(label) % 1000)
    bad = []
    for k in range(N):
        dst = src[:-3] + f".damaged{k}.h5"
        what = damage(src, dst, r)
        rc, ans = use(dst)
        totals["tried"] += 1
        if rc == "hang":
            totals["hang"] += 1
            bad.append(f"{what}: hang")
        elif rc == 0 and ans == ref:
            totals["same"] += 1
        elif rc == 0:
            totals["wrong"] += 1
            bad.append(f"{what}: a different answer with exit 0")
        elif rc == 2:
            totals["detected"] += 1
            if os.path.basename(dst) not in ans:
                totals["unnamed"] += 1
                bad.append(f"{what}: error without the file's name: {ans.strip()[-200:]}")
        else:
            totals["crash"] += 1
            bad.append(f"{what}: exit {rc}: {ans.strip()[-200:]}")
        vrc, _, _ = sh(["info", "--verify", dst])
        if vrc not in (0, 2) or (vrc == 0 and rc != 0 and rc != "hang") or (vrc == 0 and ans != ref):
            totals["verify_missed"] += 1
            bad.append(f"{what}: info --verify exit {vrc} while the use gave exit {rc}")
        os.remove(dst)
    check(not bad, f"{label}: {N} damaged copies: no crash, hang or silent different answer, "
                   f"every error names the file, --verify catches what matters" +
          ("" if not bad else " -- " + "; ".join(bad[:4])))
print("# corruption totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
check(totals["detected"] > 0, f"damage is detected ({totals['detected']} of {totals['tried']} copies)")

# A file written before checksums (the mark removed) loads with a notice; --verify says so.
legacy = f"{D}/gp_legacy.h5"
shutil.copy(f"{D}/gp.h5", legacy)
with h5py.File(legacy, "r+") as f:
    del f.attrs["kelvin_checksums"]
p = subprocess.run([KELVIN, "predict", legacy, "a=0.5", "b=0.5"], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True)
check(p.returncode == 0 and "no checksums" in p.stderr,
      f"a model without checksums still predicts, with a notice: {p.stderr.strip()[:160]}")
rc, out, _ = sh(["info", "--verify", legacy])
check(rc == 0 and "without checksums" in out, "info --verify reports it as unverifiable")

# A dataset whose data were changed: Fletcher32 names it.
big = f"{D}/run_flip.h5"
shutil.copy(f"{D}/half.h5", big)
with h5py.File(big, "r") as f:
    off = f["T"].id.get_chunk_info(f["T"].id.get_num_chunks() - 1).byte_offset  # the last record
data = bytearray(open(big, "rb").read())
data[off + 17] ^= 0x10
open(big, "wb").write(bytes(data))
rc, out, err = sh(["info", "--verify", big])
check(rc == 2 and "'T'" in err and "checksum" in err and "run_flip.h5" in err,
      f"a flipped bit in a record of T: --verify names T and the checksum: {err.strip()[:200]}")
rc, _, err = sh(["run", run_cfg, f"run.output={D}/c2.h5", "--restart", big])
check(rc == 2 and "checksum" in err and "run_flip.h5" in err,
      f"run --restart refuses it naming the file: {err.strip()[:200]}")
finish()
