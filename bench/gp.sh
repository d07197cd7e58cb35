#!/usr/bin/env bash
# GP surrogate vs scikit-learn on the shared data set (../shared/bench-data/gp: 5 inputs,
# y = sin x1 + cos 2 x2 + x3 x4 + 0.1 x5^2 + noise 0.05). In the same run:
#  (1) fit with hyperparameter optimisation at N (default 2000) rows: kelvin fit (se kernel,
#      1 start, raw data as scikit-learn, and with its defaults normalize = true) against
#      GaussianProcessRegressor(C * RBF([1]*5) + White, n_restarts_optimizer=0): wall time (kelvin:
#      the whole command, process start and CSV reading included), LML in data units, test RMSE;
#  (2) prediction of the 2000 test points with std (the prediction itself, both sides, best of 3);
#  (3) n = 10000 (generated from the same function): memory and time of the factorisation and of
#      LML evaluations (a 5-iteration optimisation; FULL10K=1 runs the full one).
# Target: (1) >= 5x faster with LML >= and RMSE <=; (2) not slower.
#
#   bash bench/gp.sh            SKLEARN=0 skips the scikit-learn fit (84 s at N = 2000)
set -eu
cd "$(dirname "$0")/.."
N=${N:-2000}
SKLEARN=${SKLEARN:-1}
data=../shared/bench-data/gp
dir=$PWD/tests/out/bench/gp
rm -rf "$dir"
mkdir -p "$dir"
head -n $((N + 1)) "$data/gp_train_4000.csv" | cut -d, -f1-6 >"$dir/train.csv"
cut -d, -f1-5 "$data/gp_test_2000.csv" >"$dir/test.csv"
now() { date +%s.%N; }

fitk() { # name normalize bounds
  cat >"$dir/$1.ini" <<INI
[surrogate]
kind = gp
data = $dir/train.csv
inputs = x1, x2, x3, x4, x5
output = y
model = $dir/$1.h5
kernel = se
restarts = 0
normalize = $2
bounds = $3
INI
  local t0 t1
  t0=$(now)
  bin/kelvin fit "$dir/$1.ini" >"$dir/$1.out" 2>&1
  t1=$(now)
  local lml pt
  lml=$(sed -n 's/.*LML \([-0-9.e+]*\) .*/\1/p' "$dir/$1.out")
  pt=$(for r in 1 2 3; do
    bin/kelvin predict "$dir/$1.h5" --input "$dir/test.csv" --output "$dir/$1_pred.csv" 2>&1 |
      sed -n 's/.*std in \([0-9.]*\) s/\1/p'
  done | sort -g | head -n 1)
  local rm
  rm=$(/usr/bin/python3 -c "
import numpy as np
p = np.loadtxt('$dir/$1_pred.csv', delimiter=',', skiprows=1)
t = np.loadtxt('$data/gp_test_2000.csv', delimiter=',', skiprows=1)
print('%.6f %.6f' % (np.sqrt(np.mean((p[:, 0] - t[:, 5]) ** 2)), np.sqrt(np.mean((p[:, 0] - t[:, 6]) ** 2))))")
  echo "$(echo "$t1 - $t0" | bc -l) $lml $rm $pt"
}

echo "== fit + predict, N = $N"
read -r k1t k1l k1r k1c k1p <<<"$(fitk raw false 'length=1e-5:1e5, signal=1e-5:1e5, noise=1e-5:1e5')"
read -r k2t k2l k2r k2c k2p <<<"$(fitk norm true 'length=1e-3:1e3, signal=1e-5:1e5, noise=1e-10:10')"
if [ "$SKLEARN" = 1 ]; then
  read -r st sl sr sc sp <<<"$(/usr/bin/python3 bench/gp_sklearn_peer.py "$data/gp_train_4000.csv" "$data/gp_test_2000.csv" "$N")"
else
  st=NaN sl=NaN sr=NaN sc=NaN sp=NaN
fi
printf '  %-34s %9s %14s %10s %10s %10s\n' "" "fit s" "LML" "RMSE" "RMSE(f)" "pred s"
printf '  %-34s %9.2f %14.4f %10.5f %10.5f %10.4f\n' "scikit-learn 1.2 (same run)" "$st" "$sl" "$sr" "$sc" "$sp"
printf '  %-34s %9.2f %14.4f %10.5f %10.5f %10.4f\n' "kelvin, raw data, sklearn bounds" "$k1t" "$k1l" "$k1r" "$k1c" "$k1p"
printf '  %-34s %9.2f %14.4f %10.5f %10.5f %10.4f\n' "kelvin, normalize = true" "$k2t" "$k2l" "$k2r" "$k2c" "$k2p"
if [ "$SKLEARN" = 1 ]; then
  printf '  fit speed-up %.1fx (raw) / %.1fx (normalised), target >= 5; LML gain %+.3f / %+.3f; predict speed-up %.2fx / %.2fx\n' \
    "$(echo "$st / $k1t" | bc -l)" "$(echo "$st / $k2t" | bc -l)" "$(echo "$k1l - $sl" | bc -l)" \
    "$(echo "$k2l - $sl" | bc -l)" "$(echo "$sp / $k1p" | bc -l)" "$(echo "$sp / $k2p" | bc -l)"
fi

echo "== n = 10000"
/usr/bin/python3 - "$dir/train10k.csv" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(20240602)
X = rng.uniform(-2, 2, size=(10000, 5))
y = np.sin(X[:, 0]) + np.cos(2 * X[:, 1]) + X[:, 2] * X[:, 3] + 0.1 * X[:, 4] ** 2 \
    + 0.05 * rng.standard_normal(10000)
np.savetxt(sys.argv[1], np.column_stack([X, y]), delimiter=",", header="x1,x2,x3,x4,x5,y",
           comments="", fmt="%.17g")
PY
iters=5
[ "${FULL10K:-0}" = 1 ] && iters=200
sed -e "s#$dir/train.csv#$dir/train10k.csv#" -e "s#$dir/norm.h5#$dir/n10k.h5#" \
  -e "s#^restarts = 0#restarts = 0\nmax_iter = $iters#" "$dir/norm.ini" >"$dir/n10k.ini"
/usr/bin/time -f "%e %M" -o "$dir/n10k.time" bin/kelvin fit "$dir/n10k.ini" >"$dir/n10k.out" 2>&1
read -r wall rss <"$dir/n10k.time"
evals=$(sed -n 's/.*LML [-0-9.e+]* (\([0-9]*\) evaluations).*/\1/p' "$dir/n10k.out")
printf '  n = 10000: %d LML+gradient evaluations (max_iter %d) in %.1f s, %.1f s each; peak memory %.2f GiB (the kernel matrix is %.2f GiB)\n' \
  "$evals" "$iters" "$wall" "$(echo "$wall / $evals" | bc -l)" "$(echo "$rss / 1048576" | bc -l)" \
  "$(echo "10000 * 10000 * 8 / 1073741824" | bc -l)"
