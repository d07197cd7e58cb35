#!/usr/bin/env bash
# Sweep task farm: (1) per-case overhead with a trivial model (1-D heat, 8 cells, 2 steps):
# seconds per case of `kelvin sweep` over N cases, split into the model runs themselves (the
# manifest's wall times, which include writing each case file) and what the farm adds (hand-out,
# manifest rewrite, bookkeeping) — target < 10 ms per case — and, as the peer, a shell loop of
# `kelvin run` per case (what a script-glued workflow does); (2) 16 small heat cases on 1 and on 2
# ranks (ranks_per_case = 1): speed-up, target >= 1.8 (the hardware limit here is 2, one core per
# rank). Best of $REPS runs each.
#
#   bash bench/sweep.sh
set -eu
cd "$(dirname "$0")/.."
: "${MPIRUN:=mpirun --oversubscribe}"
REPS=${REPS:-3}
N=${N:-200}
dir=$PWD/tests/out/bench/sweep
rm -rf "$dir"
mkdir -p "$dir"
best() { sort -g | head -n 1; }
now() { date +%s.%N; }

cat >"$dir/trivial.ini" <<INI
[run]
model = heat
t_end = 1e-4
dt = 5e-5
output_every = 10
[heat]
dims = 1
n = 8
[sweep]
method = lhs
samples = $N
seed = 1
vary = heat.kappa:0.1:1
INI
echo "== per-case overhead: $N trivial cases on 1 rank"
res=$(for r in $(seq "$REPS"); do
  rm -rf "$dir/triv"
  t0=$(now)
  bin/kelvin -q sweep "$dir/trivial.ini" sweep.dir="$dir/triv" >/dev/null
  t1=$(now)
  /usr/bin/python3 - "$dir/triv/manifest.csv" "$t0" "$t1" "$N" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
total = float(sys.argv[3]) - float(sys.argv[2])
runs = sum(float(r["wall_time_s"]) for r in rows)
n = int(sys.argv[4])
assert len(rows) == n and all(r["status"] == "done" for r in rows)
print(f"{total / n * 1e3:.3f} {runs / n * 1e3:.3f} {(total - runs) / n * 1e3:.3f}")
PY
done | sort -g | head -n 1)
read -r per_case per_run farm <<<"$res"
# Peer: one process per case (startup + MPI_Init + config + run), 50 cases.
M=50
loop=$(for r in $(seq "$REPS"); do
  t0=$(now)
  for i in $(seq $M); do
    bin/kelvin -q run "$dir/trivial.ini" run.output="$dir/loop_$i.h5" run.overwrite=true \
      heat.kappa=0.5 sweep.method=lhs >/dev/null
  done
  t1=$(now)
  echo "($t1 - $t0) / $M * 1000" | bc -l
done | best)
printf '  kelvin sweep      %8.3f ms per case (model run + case file %.3f ms, farm %.3f ms)\n' \
  "$per_case" "$per_run" "$farm"
printf '  kelvin run loop   %8.3f ms per case (a process per case)\n' "$loop"
printf '  farm overhead %.3f ms per case (target < 10 ms); sweep vs loop: %.1fx faster\n' "$farm" \
  "$(echo "$loop / $per_case" | bc -l)"

cat >"$dir/small.ini" <<INI
[run]
model = heat
t_end = 0.1
output_every = 1000
[heat]
dims = 2
n = 96, 96
scheme = explicit
source = gaussian(0.5,0.5,0.1,20)
[sweep]
method = lhs
samples = 16
seed = 1
vary = heat.kappa:0.2:0.6, heat.bc_value:0:1
INI
echo "== 16 small heat cases (2-D 96 x 96 explicit), 1 rank vs 2 ranks"
# The sweep's own wall time (its summary line), and the whole command including mpirun's start.
sweep_time() { sed -n 's/.* in \([0-9.]*\) s$/\1/p'; }
t1r=$(for r in $(seq "$REPS"); do
  rm -rf "$dir/s1"
  bin/kelvin -q sweep "$dir/small.ini" sweep.dir="$dir/s1" | sweep_time
done | best)
t2r=$(for r in $(seq "$REPS"); do
  rm -rf "$dir/s2"
  $MPIRUN -n 2 bin/kelvin -q sweep "$dir/small.ini" sweep.dir="$dir/s2" | sweep_time
done | best)
w2r=$(for r in $(seq "$REPS"); do
  rm -rf "$dir/s2"; t0=$(now)
  $MPIRUN -n 2 bin/kelvin -q sweep "$dir/small.ini" sweep.dir="$dir/s2" >/dev/null
  echo "$(now) - $t0" | bc -l
done | best)
same=1
for c in $(seq 0 15); do
  f=$(printf 'case_%04d.h5' "$c")
  bin/kelvin -q compare "$dir/s1/$f" "$dir/s2/$f" --rtol 0 --atol 0 >/dev/null || same=0
done
printf '  1 rank %.3f s, 2 ranks %.3f s: speed-up %.2fx (target >= 1.8, limit 2); files identical: %s\n' \
  "$t1r" "$t2r" "$(echo "$t1r / $t2r" | bc -l)" "$([ $same = 1 ] && echo yes || echo NO)"
printf '  (2 ranks including the start of mpirun: %.3f s)\n' "$w2r"
