"""`kelvin fit` under mpirun: the cross-validation folds (any kind), auto's candidates and
(candidate, fold) fits and pcagp's modes are shared over the ranks, and the result is the same on
1, 2 and 4 ranks: the same leaderboard scores, the same cross-validation scores and the same
model, bit for bit (BLAS and OpenMP on one thread each, so that no thread count differs between
the runs)."""
import os
import shutil
import subprocess

import h5py
import numpy as np

from kvtest import KELVIN, MPIRUN, OUT, check, finish, write_config

os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(11)
n = 48
X = rng.uniform(0, 1, (n, 2))
y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.01 * rng.normal(size=n)
data = os.path.join(OUT, "ranks.csv")
np.savetxt(data, np.c_[X, y], delimiter=",", header="a,b,y", comments="", fmt="%.17g")
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def fit(kind, ranks, extra=""):
    model = os.path.join(OUT, f"ranks_{kind}_{ranks}.h5")
    cfg = write_config(f"ranks_{kind}", f"[surrogate]\nkind = {kind}\ndata = {data}\n"
                       f"inputs = a, b\noutput = y\nrestarts = 0\n{extra}\n")
    cmd = MPIRUN + ["-n", str(ranks), KELVIN, "-q", "fit", cfg, f"surrogate.model={model}"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode:
        print("# " + p.stdout.strip().replace("\n", "\n# "))
    return p.returncode, p.stdout, model


def scores(model):
    with h5py.File(model) as f:
        cv = {k: v for k, v in f["cv"].attrs.items()}
        board = f.attrs.get("leaderboard", b"")
        board = board.decode() if isinstance(board, bytes) else board
        # The leaderboard without its timing column.
        rows = [" ".join(ln.split()[:-1]) for ln in board.splitlines() if ln.strip()[:1].isdigit()]
        data = {k: f[k][...] for k in ("gp/theta", "poly/lsq/coef", "rbf/c") if k in f}
    return cv, rows, data


for kind, extra in (("auto", "candidates = gp, poly, rbf"), ("gp", "cv_folds = 4")):
    ref = None
    for ranks in (1, 2, 4):
        rc, out, model = fit(kind, ranks, extra)
        if rc:
            check(False, f"{kind} on {ranks} ranks fits")
            continue
        got = scores(model)
        if ref is None:
            ref = got
            check(bool(got[0]), f"{kind}: cross-validation stored on 1 rank ({got[0].get('method')})")
            continue
        same = got[0] == ref[0] and got[1] == ref[1] and all(
            np.array_equal(got[2][k], ref[2][k]) for k in ref[2])
        check(same, f"{kind} on {ranks} ranks: the same scores"
              f"{', leaderboard' if kind == 'auto' else ''} and model as on 1 rank, bit for bit")
# pcagp on a small heat sweep: the modes' GPs are optimised on different ranks.
sweep = write_config("ranks_pcagp", f"""[run]
model = heat
t_end = 0.02
dt = 0.001
output_every = 1000
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
[sweep]
dir = {OUT}/ranks_sweep
method = lhs
samples = 14
seed = 5
vary = heat.kappa:0.2:1.0, heat.bc_value:0:1
[surrogate]
kind = pcagp
restarts = 0
energy = 0.999999
""")
shutil.rmtree(os.path.join(OUT, "ranks_sweep"), ignore_errors=True)
p = subprocess.run(MPIRUN + ["-n", "2", KELVIN, "-q", "sweep", sweep], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True, env=env)
ref = None
for ranks in (1, 2, 4):
    model = os.path.join(OUT, f"ranks_pcagp_{ranks}.h5")
    q = subprocess.run(MPIRUN + ["-n", str(ranks), KELVIN, "-q", "fit", sweep,
                                 f"surrogate.model={model}"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode or q.returncode:
        print("# " + (p.stdout + q.stdout).strip().replace("\n", "\n# "))
        check(False, f"pcagp fits on {ranks} ranks")
        continue
    with h5py.File(model) as f:
        k = len(f["pca/eigenvalues"])
        got = ([f[f"mode_{j:04d}/theta"][...] for j in range(k)], dict(f["cv"].attrs))
    if ref is None:
        ref = got
        check(k >= 2, f"pcagp on 1 rank: {k} modes")
        continue
    same = len(got[0]) == len(ref[0]) and all(np.array_equal(a, b) for a, b in zip(got[0], ref[0]))
    check(same and got[1] == ref[1], f"pcagp on {ranks} ranks: every mode's hyperparameters and "
          "the cross-validation scores equal those of 1 rank, bit for bit")
finish()
