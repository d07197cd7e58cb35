#!/usr/bin/env bash
# The examples of examples/external run as the README says (kelvin pipeline: sweep, fit,
# validate), each into its own directory: a NumPy PDE with a netCDF field (pcagp, rel_l2 <= 5 %),
# a shell driver with an input-deck template (gp, r2 >= 0.9), an unchanged Dakota driver (on 2
# ranks). The pipeline exits 1 when a [validate] tolerance fails.
set -u
cd "$(dirname "$0")/../.."
KELVIN=${KELVIN:-$PWD/bin/kelvin}
OUT=${OUT:-$PWD/tests/out}
MPIRUN=${MPIRUN:-mpirun --oversubscribe}
D=$OUT/external_examples
rm -rf "$D"
mkdir -p "$D"
for ex in rod branin rosenbrock; do
  launch=""
  [ "$ex" = rosenbrock ] && launch="$MPIRUN -n 2"
  if $launch "$KELVIN" -q pipeline "examples/external/$ex.ini" sweep.dir="$D/$ex" >"$D/$ex.log" 2>&1; then
    echo "ok - examples/external/$ex.ini: swept, fitted and validated within its tolerances"
  else
    echo "FAIL - examples/external/$ex.ini: $(tail -n 5 "$D/$ex.log" | tr '\n' ' ')"
  fi
done
n=$(grep -c ',done,' "$D/rod/manifest.csv" 2>/dev/null)
grep -q '^case,external.D,external.q,status,wall_time_s,output,T_peak,heat,error$' \
  "$D/rod/manifest.csv" && [ "$n" = 16 ] &&
  echo "ok - the rod example's manifest has its responses as columns, 16 cases done" ||
  echo "FAIL - the rod example's manifest: $(head -n 2 "$D/rod/manifest.csv" 2>/dev/null)"
