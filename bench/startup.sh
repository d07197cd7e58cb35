#!/usr/bin/env bash
# Start-up of serial commands, whole processes as an outer loop (an optimiser, Dakota, a shell
# script) sees them, against the floor in the same run: an empty C main linked against the same
# libraries (build/bench/empty, loaded with --no-as-needed). Targets (issue 18):
#   kelvin --version                 <= 2 x the empty program
#   kelvin predict MODEL x=... (gp, poly, one point)  <= 2 x empty + 30 ms
#   kelvin predict MODEL --stdin     <= 1 ms per point after start-up
# and, for comparison, the same commands made to start MPI (KELVIN_MPI=always: what every
# command paid before).
#
#   bash bench/startup.sh            (REPS=31 by default: the median of 31 runs each)
set -eu
cd "$(dirname "$0")/.."
dir=tests/out/bench/startup
rm -rf "$dir"
mkdir -p "$dir"
K=$PWD/bin/kelvin
E=$PWD/build/bench/empty
REPS=${REPS:-31}
[ -x "$E" ] || make -s build/bench/empty
/usr/bin/python3 - "$dir" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(1)
X = rng.uniform(0, 1, (200, 3))
y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * X[:, 2]
np.savetxt(f"{sys.argv[1]}/d.csv", np.c_[X, y], delimiter=",", header="a,b,c,y", comments="")
np.savetxt(f"{sys.argv[1]}/points.txt", rng.uniform(0, 1, (10000, 3)))
PY
for kind in gp poly; do
  printf '[surrogate]\ndata = %s/d.csv\ninputs = a, b, c\noutput = y\nkind = %s\nmodel = %s/%s.h5\ncv_folds = 0\n' \
    "$dir" "$kind" "$dir" "$kind" >"$dir/$kind.ini"
  $K -q fit "$dir/$kind.ini" >/dev/null
done
/usr/bin/python3 - "$K" "$E" "$dir" "$REPS" <<'PY'
import os, subprocess, sys, time
K, E, d, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def med(cmd, env=None):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        ts.append(time.perf_counter() - t)
    return sorted(ts)[reps // 2] * 1e3
mpi = dict(os.environ, KELVIN_MPI="always")
empty = med([E])
rows = [("empty main, same libraries", empty, None)]
v = med([K, "--version"])
rows.append(("kelvin --version", v, 2 * empty))
for kind in ("gp", "poly"):
    t = med([K, "predict", f"{d}/{kind}.h5", "a=0.3", "b=0.2", "c=0.5"])
    rows.append((f"kelvin predict {kind}.h5 (1 point)", t, 2 * empty + 30))
vm = med([K, "--version"], mpi)
pm = med([K, "predict", f"{d}/gp.h5", "a=0.3", "b=0.2", "c=0.5"], mpi)
print(f"{'command (median of %d runs)' % reps:44s} {'ms':>8s} {'target ms':>10s}  ratio to empty")
for name, t, target in rows:
    tgt = f"{target:10.1f}" if target else f"{'':10s}"
    ok = "" if target is None else ("  ok" if t <= target else "  MISSED")
    print(f"{name:44s} {t:8.1f} {tgt}  {t / empty:5.2f}x{ok}")
print(f"{'(before: --version starting MPI)':44s} {vm:8.1f} {'':10s}  {vm / empty:5.2f}x")
print(f"{'(before: predict gp starting MPI)':44s} {pm:8.1f} {'':10s}  {pm / empty:5.2f}x")
pts = open(f"{d}/points.txt").read()
n = len(pts.splitlines())
for kind in ("gp", "poly"):
    start = med([K, "predict", f"{d}/{kind}.h5", "a=0.3", "b=0.2", "c=0.5"])
    t = time.perf_counter()
    p = subprocess.run([K, "-q", "predict", f"{d}/{kind}.h5", "--stdin"], input=pts, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    total = (time.perf_counter() - t) * 1e3
    lines = len(p.stdout.splitlines())
    per = (total - start) / n
    print(f"kelvin predict {kind}.h5 --stdin, {n} points: {total:.0f} ms, {per * 1e3:.1f} us per "
          f"point after start-up ({lines} lines out; target <= 1000 us){'' if per <= 1 else '  MISSED'}")
PY
