#!/usr/bin/env bash
# One sweep directory, one writer: a --resume beside a running sweep is refused, naming the
# holder (exit 2, nothing of the running sweep disturbed); a lock left by a sweep killed with
# kill -9 is taken over; the slices of an array run side by side, but not beside a whole-directory
# run, and one slice not twice.
set -u
: "${KELVIN:=bin/kelvin}" "${OUT:=tests/out}"
dir="$OUT/sweep_lock"
rm -rf "$dir"
mkdir -p "$dir"
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }
cat >"$dir/slow.ini" <<INI
[run]
t_end = 0.1
output_every = 2000
[heat]
dims = 2
n = 192, 192
scheme = explicit
source = gaussian(0.5,0.5,0.1,20)
[sweep]
method = lhs
samples = 12
seed = 2
vary = heat.kappa:0.5:1.0
dir = $dir/s
INI
# wait_files N: until the running sweep has N case files (or 60 s)
wait_files() {
  for _ in $(seq 1 3000); do
    [ "$(ls "$dir"/s/case_*.h5 2>/dev/null | wc -l)" -ge "$1" ] && return 0
    sleep 0.02
  done
  return 1
}
"$KELVIN" -q sweep "$dir/slow.ini" >"$dir/first.log" 2>&1 &
first=$!
wait_files 1
out=$("$KELVIN" sweep "$dir/slow.ini" --resume 2>&1)
rc=$?
if [ $rc = 2 ] && grep -q "is in use by another kelvin sweep (host .* pid $first" <<<"$out"; then
  ok "a --resume beside a running sweep is refused, naming the holder (exit 2)"
else
  bad "second writer: exit $rc: $out"
fi
out=$("$KELVIN" sweep "$dir/slow.ini" --slice 0/2 --resume 2>&1)
[ $? = 2 ] && grep -q "in use" <<<"$out" && ok "a slice beside a whole-directory run is refused" ||
  bad "slice beside a whole run: $out"
kill -9 "$first"
wait "$first" 2>/dev/null
if "$KELVIN" -q sweep "$dir/slow.ini" --resume >"$dir/resume.log" 2>&1 &&
  [ "$(grep -c ',done,' "$dir/s/manifest.csv")" = 12 ]; then
  ok "the lock of a sweep killed with kill -9 is taken over: --resume completes all 12 cases"
else
  bad "resume after kill -9: $(tail -n 3 "$dir/resume.log")"
fi
# Slices: side by side, each once.
sed -i "s|^dir = .*|dir = $dir/a|" "$dir/slow.ini"
"$KELVIN" -q sweep "$dir/slow.ini" --slice 0/2 >"$dir/s0.log" 2>&1 &
s0=$!
for _ in $(seq 1 3000); do
  [ -e "$dir/a/.kelvin-sweep.slice-0-of-2.lock" ] && break
  sleep 0.02
done
out=$("$KELVIN" sweep "$dir/slow.ini" --slice 0/2 --resume 2>&1)
r_same=$?
out2=$("$KELVIN" sweep "$dir/slow.ini" --resume 2>&1)
r_whole=$?
"$KELVIN" -q sweep "$dir/slow.ini" --slice 1/2 >"$dir/s1.log" 2>&1
r1=$?
wait "$s0"
r0=$?
[ $r_same = 2 ] && grep -q "in use" <<<"$out" && ok "one slice is not run twice at once" ||
  bad "the same slice twice: exit $r_same: $out"
if [ $r0 = 0 ] && [ $r1 = 0 ] && "$KELVIN" -q sweep "$dir/slow.ini" --collect >/dev/null 2>&1; then
  ok "two slices of an array run side by side and --collect finds every case"
else
  bad "slices side by side: exit $r0 / $r1: $(tail -n 2 "$dir/s0.log" "$dir/s1.log")"
fi
[ $r_whole = 2 ] && grep -q "in use" <<<"$out2" && ok "a whole-directory run beside running slices is refused" ||
  bad "whole run beside slices: exit $r_whole: $out2"
exit $fail
