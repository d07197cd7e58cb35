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

# Where tests live (README "Tests"): C unit tests tests/unit/test_<module>.c and MPI tests
# tests/mpi/test_<module>.c are built by the Makefile into build/tests/ and found here; scripts
# tests/<group>/test_*.sh and tests/<group>/test_*.py are found by name, so a new test is one new
# file and no list to keep. The MPI group (tests/mpi/) is what `make check-mpi` runs.
if [ "$only" = all ]; then
  for t in build/tests/unit/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    run_test unit "$(basename "$t")" "$t"
  done
fi
for t in build/tests/mpi/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d) continue ;; esac
  for n in 1 2 4; do
    run_test mpi "$(basename "$t")-np$n" $MPIRUN -n $n "$t"
  done
done
# run_script FILE: by its extension.
run_script() {
  local f=$1 group
  group=$(basename "$(dirname "$f")")
  case "$f" in
    *.sh) run_test "$group" "$(basename "$f" .sh)" bash "$f" ;;
    *.py) run_test "$group" "$(basename "$f" .py)" "$PY" "$f" ;;
  esac
}
for f in tests/mpi/test_*.sh tests/mpi/test_*.py; do
  [ -f "$f" ] && run_script "$f"
done
if [ "$only" = all ]; then
  for f in tests/*/test_*.sh tests/*/test_*.py; do
    [ -f "$f" ] || continue
    case "$f" in tests/mpi/*) continue ;; esac
    run_script "$f"
  done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
