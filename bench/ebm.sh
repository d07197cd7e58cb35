#!/usr/bin/env bash
# Energy-balance model: (1) against a NumPy peer of the same scheme (bench/ebm_numpy.py: same grid,
# sweeps and physics, no noise), same answer and time per step; (2) the issue's target case —
# 96 x 144, 1850-2100 with 20 steps per year, seasonal sun, land, ssp245, noise on
# (configs/ebm_ssp245.ini) — wall time of the whole run on 1 rank (target < 5 s) and the 1 -> 2 rank
# speed-up (target >= 1.6). Best of $REPS runs each.
#
#   bash bench/ebm.sh
set -eu
cd "$(dirname "$0")/.."
: "${MPIRUN:=mpirun --oversubscribe}"
REPS=${REPS:-3}
dir=tests/out/bench
mkdir -p "$dir"

stepping() { grep 'steps in' | sed -n 's/.* steps in \([0-9.e+-]*\) s stepping.*/\1/p'; }
best() { sort -g | head -n 1; }

echo "== NumPy peer of the same scheme: 96 x 144, 1850-1900, 20 steps/year, annual sun, aquaplanet, CO2 only"
cat >"$dir/ebm_peer.ini" <<INI
[run]
model = ebm
output = $dir/ebm_peer.h5
overwrite = true
year_start = 1850
year_end = 1900
steps_per_year = 20
[ebm]
nlat = 96
nlon = 144
albedo = smooth
land_mask = none
scenario = ssp245
aerosol_scale = 0
INI
kt=$(for r in $(seq "$REPS"); do bin/kelvin run "$dir/ebm_peer.ini" 2>&1 | stepping; done | best)
pt=$(for r in $(seq "$REPS"); do /usr/bin/python3 bench/ebm_numpy.py 96 144 1850 1900 20 ssp245 "$dir/ebm_peer.npy"; done | best)
diff=$(/usr/bin/python3 -c "
import h5py, numpy as np
a = np.load('$dir/ebm_peer.npy'); b = h5py.File('$dir/ebm_peer.h5', 'r')['tas'][...]
print('%.2e' % np.abs(a - b).max())")
steps=1020
printf '%-28s %10s %14s\n' "" "seconds" "ms per step"
printf '%-28s %10.3f %14.4f\n' "kelvin (1 rank, stepping)" "$kt" "$(awk -v t="$kt" -v n=$steps 'BEGIN { print 1000 * t / n }')"
printf '%-28s %10.3f %14.4f\n' "NumPy peer" "$pt" "$(awk -v t="$pt" -v n=$steps 'BEGIN { print 1000 * t / n }')"
echo "kelvin / NumPy speed ratio: $(awk -v a="$pt" -v b="$kt" 'BEGIN { printf "%.2f", a / b }')x;  max |tas difference| = $diff K"

echo "== target: configs/ebm_ssp245.ini (96 x 144, 1850-2100, 20 steps/year = 5020 steps, noise on), $(nproc) cores"
printf '%-8s %12s %12s\n' ranks "wall s" "stepping s"
declare -A W S
for np in 1 2; do
  res=$(for r in $(seq "$REPS"); do
    t0=$(date +%s.%N)
    s=$($MPIRUN -n "$np" bin/kelvin run configs/ebm_ssp245.ini "run.output=$dir/ebm_target.h5" 2>&1 | stepping)
    t1=$(date +%s.%N)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $s"
  done | sort -g | head -n 1)
  read -r W[$np] S[$np] <<<"$res"
  printf '%-8d %12.3f %12.3f\n' "$np" "${W[$np]}" "${S[$np]}"
done
echo "1 rank wall time / 5 s target: $(awk -v a="${W[1]}" 'BEGIN { printf "%.2f", a / 5 }') (below 1 meets it)"
echo "speed-up 1 -> 2 ranks: wall $(awk -v a="${W[1]}" -v b="${W[2]}" 'BEGIN { printf "%.2f", a / b }'), stepping $(awk -v a="${S[1]}" -v b="${S[2]}" 'BEGIN { printf "%.2f", a / b }') (target 1.6)"
