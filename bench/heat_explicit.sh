#!/usr/bin/env bash
# Explicit 2D heat solver throughput at 4096 x 4096 on 1 and 2 ranks, against this machine's
# STREAM-triad bandwidth measured in the same run. One cell update moves 16 bytes at best (read T,
# write Tn; neighbours come from cache), so achieved bandwidth = 16 x updates/s, and the ratio to
# triad says how close the stencil runs to the memory limit.
#
#   bash bench/heat_explicit.sh [N] [STEPS]     (defaults 4096, 60)
#   RANKS="1 2 4 8 16" bash bench/heat_explicit.sh   (rank counts; default "1 2")
#   KELVIN=..., STREAM=... point at other builds of bin/kelvin and build/bench/stream
set -eu
cd "$(dirname "$0")/.."
N=${1:-4096}
STEPS=${2:-60}
: "${MPIRUN:=mpirun --oversubscribe}"
KELVIN=${KELVIN:-bin/kelvin}
STREAM=${STREAM:-build/bench/stream}
RANKS=${RANKS:-1 2}
dir=tests/out/bench
mkdir -p "$dir"
# dt = 0.9 x the stability limit 1/(4 N^2); t_end gives exactly STEPS steps.
dt=$(awk -v n="$N" 'BEGIN { printf "%.17g", 0.9 / (4.0 * n * n) }')
t_end=$(awk -v d="$dt" -v s="$STEPS" 'BEGIN { printf "%.17g", d * s }')
cat >"$dir/bench.ini" <<INI
[run]
output = $dir/heat_bench.h5
t_end = $t_end
dt = $dt
output_every = 1000000
overwrite = true
[heat]
dims = 2
n = $N, $N
kappa = 1.0
initial = sine(1, 1)
INI
echo "heat_explicit: ${N} x ${N}, ${STEPS} steps; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-6s %14s %12s %12s %8s\n' ranks "updates/s" "GB/s(16B)" "triad GB/s" ratio
# The memory bandwidth of a shared machine drifts from minute to minute, so triad and the solver
# are measured alternately, three times each, and the best of each is kept.
for np in $RANKS; do
  triad=0
  best=0
  for rep in 1 2 3; do
    tr=$($MPIRUN -n $np "$STREAM" | awk '/^triad_GBps/ {print $2}')
    triad=$(awk -v a="$triad" -v b="$tr" 'BEGIN { print (b > a ? b : a) }')
    ups=$($MPIRUN -n $np $KELVIN run "$dir/bench.ini" 2>&1 | sed -n 's/.*stepping (\([0-9.e+]*\) cell updates\/s).*/\1/p')
    best=$(awk -v a="$best" -v b="$ups" 'BEGIN { print (b > a ? b : a) }')
  done
  awk -v np="$np" -v u="$best" -v t="$triad" 'BEGIN {
    bw = 16 * u / 1e9; printf "%-6d %14.4g %12.2f %12.2f %8.3f\n", np, u, bw, t, bw / t }'
done
rm -f "$dir/heat_bench.h5"
