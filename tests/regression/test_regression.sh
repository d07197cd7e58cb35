#!/usr/bin/env bash
# Regression: each tests/regression/*.ini is run (on 2 ranks) and compared with its stored
# reference tests/ref/<name>.h5 by `kelvin compare` under explicit tolerances. References are made
# by tests/regression/make_refs.sh and reviewed before they are committed.
set -u
: "${KELVIN:=bin/kelvin}" "${OUT:=tests/out}" "${MPIRUN:=mpirun --oversubscribe}"
RTOL=1e-10
ATOL=1e-12
mkdir -p "$OUT/regression"
fail=0
for ini in tests/regression/*.ini; do
  name=$(basename "$ini" .ini)
  ref="tests/ref/$name.h5"
  out="$OUT/regression/$name.h5"
  if [ ! -f "$ref" ]; then
    echo "FAIL - $name: no reference $ref (run tests/regression/make_refs.sh)"
    fail=1
    continue
  fi
  if ! $MPIRUN -n 2 "$KELVIN" -q run "$ini" "run.output=$out" >"$OUT/regression/$name.log" 2>&1; then
    echo "FAIL - $name: run failed: $(tail -n 2 "$OUT/regression/$name.log")"
    fail=1
    continue
  fi
  if "$KELVIN" compare "$out" "$ref" --rtol $RTOL --atol $ATOL >"$OUT/regression/$name.cmp" 2>&1; then
    echo "ok - $name matches $ref (rtol $RTOL, atol $ATOL; $(grep -c ' ok' "$OUT/regression/$name.cmp") datasets)"
  else
    echo "FAIL - $name differs from $ref:"
    sed 's/^/#   /' "$OUT/regression/$name.cmp"
    fail=1
  fi
done
exit $fail
