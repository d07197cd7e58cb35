#!/usr/bin/env bash
# External simulators (run.model = external): what the task farm adds per case beyond the
# simulator's own time — fork/exec into a fresh work directory, the parameters file, the results
# parse, the case file and the manifest — and its parallel efficiency on 2 ranks.
#
# (1) A trivial driver (a POSIX sh script writing one response), N cases. The simulator's own time
#     is measured in the same run by a shell loop calling the driver N times; the hardware limit
#     of 2 ranks by two such loops at once (on a small VM, fork/exec itself may not scale).
# (2) A driver with about 20 ms of its own computing (awk), M cases: the speed-up of 2 ranks over
#     1 (target >= 1.9 where 2 cores are 2 cores), against two loops of the driver at once (what
#     this machine gives two processes).
# Best of $REPS runs each.
#
#   bash bench/external.sh            (N=1000, M=200 by default)
set -eu
cd "$(dirname "$0")/.."
: "${MPIRUN:=mpirun --oversubscribe}"
REPS=${REPS:-3}
N=${N:-1000}
M=${M:-200}
dir=$PWD/tests/out/bench/external
rm -rf "$dir"
mkdir -p "$dir"
best() { sort -g | head -n 1; }
now() { date +%s.%N; }
cat >"$dir/trivial.sh" <<'SH'
#!/bin/sh
echo "f 1.5" > "$2"
SH
cat >"$dir/compute.sh" <<'SH'
#!/bin/sh
awk 'BEGIN { s = 0; for (i = 0; i < 400000; i++) s += sin(i); printf "f %.17g\n", s }' > "$2"
SH
chmod +x "$dir/trivial.sh" "$dir/compute.sh"
config() { # driver cases
  cat <<INI
[run]
model = external
[external]
command = $dir/$1 {params} {results}
inputs = x
responses = f
[sweep]
method = lhs
samples = $2
seed = 1
vary = external.x:0:1
INI
}
loop() { # driver count: call it count times in a fresh directory
  local d
  d=$(mktemp -d "$dir/loop.XXXX")
  (cd "$d" && i=0 && while [ $i -lt "$2" ]; do "$dir/$1" params.in results.out; i=$((i + 1)); done)
}
timed() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc -l; }
sweep() { # driver cases ranks
  config "$1" "$2" >"$dir/$1.ini"
  rm -rf "$dir/sw"
  if [ "$3" = 1 ]; then
    bin/kelvin -q sweep "$dir/$1.ini" sweep.dir="$dir/sw"
  else
    $MPIRUN -n "$3" bin/kelvin -q sweep "$dir/$1.ini" sweep.dir="$dir/sw"
  fi
  [ "$(grep -c ',done,' "$dir/sw/manifest.csv")" = "$2" ] || { echo "cases missing" >&2; exit 1; }
}
two_loops() { loop "$1" $(($2 / 2)) & loop "$1" $(($2 / 2)); wait; }

echo "== (1) trivial driver, $N cases"
own1=$(for r in $(seq "$REPS"); do timed loop trivial.sh "$N"; done | best)
own2=$(for r in $(seq "$REPS"); do timed two_loops trivial.sh "$N"; done | best)
w1=$(for r in $(seq "$REPS"); do timed sweep trivial.sh "$N" 1; done | best)
w2=$(for r in $(seq "$REPS"); do timed sweep trivial.sh "$N" 2; done | best)
printf "driver alone: %.2f ms per call; two loops at once: %.2fx faster (the hardware limit)\n" \
  "$(echo "$own1 * 1000 / $N" | bc -l)" "$(echo "$own1 / $own2" | bc -l)"
printf "kelvin sweep: %.3f s on 1 rank, %.3f s on 2 ranks (%.2fx)\n" "$w1" "$w2" \
  "$(echo "$w1 / $w2" | bc -l)"
printf "overhead beyond the simulator: %.2f ms per case (target < 10)\n" \
  "$(echo "($w1 - $own1) * 1000 / $N" | bc -l)"
printf "2-rank speed-up over the hardware limit: %.2f\n" \
  "$(echo "($w1 / $w2) / ($own1 / $own2)" | bc -l)"

echo "== (2) a driver computing ~20 ms, $M cases"
c1=$(for r in $(seq "$REPS"); do timed loop compute.sh "$M"; done | best)
c2=$(for r in $(seq "$REPS"); do timed two_loops compute.sh "$M"; done | best)
s1=$(for r in $(seq "$REPS"); do timed sweep compute.sh "$M" 1; done | best)
s2=$(for r in $(seq "$REPS"); do timed sweep compute.sh "$M" 2; done | best)
printf "driver alone: %.1f ms per call; kelvin sweep %.3f s on 1 rank, %.3f s on 2 ranks\n" \
  "$(echo "$c1 * 1000 / $M" | bc -l)" "$s1" "$s2"
printf "overhead: %.2f ms per case; speed-up on 2 ranks: %.2fx (target >= 1.9); two loops of\n" \
  "$(echo "($s1 - $c1) * 1000 / $M" | bc -l)" "$(echo "$s1 / $s2" | bc -l)"
printf "the driver at once: %.2fx (the hardware limit here); kelvin's share of it: %.2f\n" \
  "$(echo "$c1 / $c2" | bc -l)" "$(echo "($s1 / $s2) / ($c1 / $c2)" | bc -l)"
