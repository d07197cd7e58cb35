"""Distributed POD (2 ranks) against NumPy's SVD: singular values to 1e-10 relative and the same
subspace (dumped by build/tests/mpi/test_pod --dump)."""
import os
import subprocess

import numpy as np

from kvtest import MPIRUN, OUT, ROOT, check, finish

path = os.path.join(OUT, "pod_dump.txt")
rc = subprocess.run(MPIRUN + ["-n", "2", os.path.join(ROOT, "build", "tests", "mpi", "test_pod"),
                              "--dump", path], stdout=subprocess.DEVNULL).returncode
check(rc == 0, "test_pod --dump ran on 2 ranks")
v = np.loadtxt(path, max_rows=None, skiprows=1)
n, m, k = map(int, open(path).readline().split())
S = v[:n * m].reshape(m, n).T
sig = v[n * m:n * m + k]
U = v[n * m + k:].reshape(k, n).T
W, s, _ = np.linalg.svd(S, full_matrices=False)
err = np.max(np.abs(sig - s[:k]) / s[:k])
check(k == 7 and err < 1e-10, f"{k} singular values = NumPy's SVD to {err:.1e} relative "
      f"(the next one, {s[k] / s[0]:.1e} of the first, is round-off: rank 7)")
gap = np.linalg.norm(U @ U.T - W[:, :k] @ W[:, :k].T)
check(gap < 1e-10, f"the POD subspace is NumPy's (projector difference {gap:.1e})")
finish()
