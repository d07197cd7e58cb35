#!/usr/bin/env bash
# kelvin test runner. Every test prints one line per check, "ok - ..." or "FAIL - ...";
# this script runs them all, shows failures, and ends with "N passed, N failed".
#
#   tests/run.sh          everything
#   tests/run.sh mpi      only the MPI tests (1, 2 and 4 ranks)
set -u
cd "$(dirname "$0")/.."
export KELVIN="$PWD/bin/kelvin"
export PY=/usr/bin/python3
export MPIRUN="mpirun --oversubscribe"
export OUT="$PWD/tests/out"
export PYTHONPATH="$PWD/tests/tools"
rm -rf "$OUT"
mkdir -p "$OUT"

passed=0
failed=0
only="${1:-all}"

# run_test GROUP NAME COMMAND...: count its ok/FAIL lines; a non-zero exit without a FAIL line
# counts as one failure (a crash must never pass).
run_test() {
  local group=$1 name=$2
  shift 2
  local log="$OUT/$group-$name.log" t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local p f
  p=$(grep -c '^ok' "$log")
  f=$(grep -c '^FAIL' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL - $name exited with status $rc and no FAIL line" >>"$log"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-8s %-34s %3d ok %3d failed  (%ds)\n' "[$group]" "$name" "$p" "$f" $((SECONDS - t0))
  grep '^skip' "$log" | sed 's/^/    /'
  if [ "$f" -ne 0 ]; then
    grep '^FAIL' "$log" | sed 's/^/    /'
    echo "    --- last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    | /'
  fi
}

if [ "$only" = all ]; then
  for t in build/tests/unit/test_*; do
    [ -x "$t" ] || continue
    run_test unit "$(basename "$t")" "$t"
  done
fi
for t in build/tests/mpi/test_*; do
  [ -x "$t" ] || continue
  for n in 1 2 4; do
    run_test mpi "$(basename "$t")-np$n" $MPIRUN -n $n "$t"
  done
done
run_test mpi heat-rank-invariance bash tests/mpi/heat_invariance.sh
if [ "$only" = all ]; then
  run_test cli cli-errors bash tests/cli/test_cli.sh
  run_test method heat-convergence "$PY" tests/method/heat_method.py
  run_test method heat-implicit-fft "$PY" tests/method/heat_implicit.py
  run_test method heat-pcg "$PY" tests/method/heat_pcg.py
  run_test method heat-nonlinear "$PY" tests/method/heat_nonlinear.py
  run_test method heat-restart "$PY" tests/method/heat_restart.py
  run_test method ebm "$PY" tests/method/ebm_method.py
  run_test sweep sweep "$PY" tests/sweep/test_sweep.py
  run_test sweep slurm bash tests/slurm/test_slurm.sh
  run_test surrogate gp-sklearn "$PY" tests/surrogate/test_gp.py
  run_test surrogate metrics-numpy "$PY" tests/surrogate/test_metrics.py
  run_test surrogate pattern-numpy "$PY" tests/surrogate/test_pattern.py
  run_test surrogate validate "$PY" tests/surrogate/test_validate.py
  run_test surrogate pod-numpy "$PY" tests/surrogate/test_pod.py
  run_test surrogate rom "$PY" tests/surrogate/test_rom.py
  run_test surrogate rom-ebm "$PY" tests/surrogate/test_rom_ebm.py
  run_test regress regression bash tests/regression/check.sh
  run_test interop xarray-h5netcdf "$PY" tests/tools/check_interop.py
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
