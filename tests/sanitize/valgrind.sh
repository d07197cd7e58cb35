#!/usr/bin/env bash
# make test-asan, part 2: valgrind (memcheck, full leak check) over single-rank commands of a
# plain -O1 -g build (build-vg/): a serial heat run and its restart, the implicit solvers, fits
# and predictions of several kinds, predict --stdin, info, info --verify, compare, plot. These
# start no MPI, so the libraries' start-up noise stays out. Any memory error or definitely-lost
# block whose stack is in kelvin's code fails (attribute.py); the bytes definitely lost in
# kelvin's code are printed (target 0).
set -u
cd "$(dirname "$0")/../.."
V=$PWD/build-vg/bin/kelvin
OUT=$PWD/tests/out/valgrind
LOGS=$OUT/logs
rm -rf "$OUT"
mkdir -p "$LOGS"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 KELVIN_MPI=never
failed=0
n=0
# vg NAME [=STATUS] ARGS...: kelvin ARGS under memcheck; the command must end with STATUS
# (default 0), or the path it was to exercise was not (a FAIL line).
vg() {
  local name=$1 want=0
  shift
  if [ "${1:0:1}" = "=" ]; then
    want=${1:1}
    shift
  fi
  n=$((n + 1))
  valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --error-exitcode=97 --log-file="$LOGS/$name.%p" "$V" -q "$@" >"$OUT/$name.out" 2>&1 </dev/null
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL - valgrind $name: exit $rc (want $want): $(tail -c 200 "$OUT/$name.out")"
    failed=1
  fi
}
W=$OUT/w
mkdir -p "$W"
vg version --version
vg run-explicit run configs/heat2d.ini run.output="$W/e.h5" heat.n=24,20 run.t_end=0.001 \
  run.dt=0.0001 run.checkpoint_every=5
vg restart run configs/heat2d.ini run.output="$W/r.h5" heat.n=24,20 run.t_end=0.002 \
  run.dt=0.0001 --restart "$W/e.checkpoint.h5"
vg run-pcg run configs/heat2d_implicit.ini run.output="$W/p.h5" heat.n=24,20 heat.solver=pcg \
  run.t_end=0.01
/usr/bin/python3 - "$W" <<'PY'
import numpy as np, sys
w = sys.argv[1]
r = np.random.default_rng(0)
X = r.uniform(0, 1, (30, 2))
y = np.sin(3 * X[:, 0]) + X[:, 1]
with open(w + "/t.csv", "w") as f:
    f.write("a,b,y\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in zip(X[:, 0], X[:, 1], y)))
PY
for kind in gp poly rbf spline; do
  printf '[surrogate]\nkind = %s\ndata = %s/t.csv\ninputs = a, b\noutput = y\nmodel = %s/%s.h5\n' \
    "$kind" "$W" "$W" "$kind" >"$W/$kind.ini"
  vg "fit-$kind" fit "$W/$kind.ini"
  vg "predict-$kind" predict "$W/$kind.h5" --input "$W/t.csv" --output "$W/$kind.csv"
done
printf '0.2 0.3\n0.5 0.5\n' >"$W/in.txt"
n=$((n + 1))
valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --error-exitcode=97 --log-file="$LOGS/stdin.%p" "$V" -q predict "$W/gp.h5" --stdin \
  <"$W/in.txt" >"$OUT/stdin.out" 2>&1
vg info info "$W/e.h5"
vg verify info --verify "$W"
vg compare compare "$W/e.h5" "$W/e.h5"
vg plot plot "$W/e.h5" T -o "$W/e.png"
vg bad-config =2 run "$W/t.csv"
echo "# valgrind: $n commands"
/usr/bin/python3 tests/sanitize/attribute.py valgrind "$LOGS" || failed=1
lost=$(cat "$LOGS"/* | awk '/definitely lost in loss record/ {print}' | wc -l)
echo "# definitely-lost records (all code): $lost"
[ "$failed" -eq 0 ]
