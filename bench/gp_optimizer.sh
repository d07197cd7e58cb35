#!/usr/bin/env bash
# The GP likelihood's optimiser: kelvin's own projected L-BFGS (surrogates/bfgs.c) against NLopt's
# bounded L-BFGS (NLOPT_LD_LBFGS; surrogate.optimizer = nlopt), same starts (1 + 2 restarts),
# same bounds, same objective and gradient, same relative-decrease stop. For each data set the
# optimisation's time (kelvin's own log line: the optimiser alone, no start-up or I/O), the LML
# reached and the objective evaluations; ratios nlopt / own.
#
#   bash bench/gp_optimizer.sh
set -eu
cd "$(dirname "$0")/.."
dir=$PWD/tests/out/bench/gp_optimizer
rm -rf "$dir"
mkdir -p "$dir"
data=../shared/bench-data/gp
/usr/bin/python3 - "$dir" <<'PY'
import math, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
def save(name, X, y):
    with open(f"{d}/{name}.csv", "w") as f:
        f.write(",".join(f"x{i + 1}" for i in range(X.shape[1])) + ",y\n")
        for r, v in zip(X, y):
            f.write(",".join("%.17g" % t for t in r) + ",%.17g\n" % v)
X = rng.uniform(-math.pi, math.pi, (300, 3))
save("ishigami", X, np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0]))
X = np.column_stack([rng.uniform(-5, 10, 60), rng.uniform(0, 15, 60)])
a, b = X[:, 0], X[:, 1]
save("branin", X, (b - 5.1 / (4 * math.pi ** 2) * a * a + 5 / math.pi * a - 6) ** 2
     + 10 * (1 - 1 / (8 * math.pi)) * np.cos(a) + 10)
A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
              [17, 8, 0.05, 10, 0.1, 14]])
P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
X = rng.uniform(0, 1, (150, 6))
save("hartmann6", X, -np.sum(np.array([1, 1.2, 3, 3.2]) * np.exp(-np.sum(A * (X[:, None, :] - P) ** 2, axis=2)), axis=1))
PY
head -n 501 "$data/gp_train_4000.csv" | cut -d, -f1-6 >"$dir/gp500.csv"
head -n 1501 "$data/gp_train_4000.csv" | cut -d, -f1-6 >"$dir/gp1500.csv"
printf '%-10s %5s %3s | %9s %14s %6s | %9s %14s %6s | %6s %9s\n' data n d own_s own_LML evals \
  nlopt_s nlopt_LML evals t_ratio dLML
for set in branin ishigami hartmann6 gp500 gp1500; do
  f="$dir/$set.csv"
  inputs=$(head -n 1 "$f" | tr ',' '\n' | grep -v '^y$' | paste -sd, -)
  n=$(($(wc -l <"$f") - 1))
  d=$(echo "$inputs" | tr ',' '\n' | wc -l)
  out=()
  for opt in lbfgs nlopt; do
    cat >"$dir/$set-$opt.ini" <<INI
[surrogate]
kind = gp
data = $f
inputs = $inputs
output = y
model = $dir/$set-$opt.h5
optimizer = $opt
cv_folds = 0
INI
    log=$(bin/kelvin fit "$dir/$set-$opt.ini" 2>&1)
    t=$(echo "$log" | sed -n 's/.*hyperparameters in \([0-9.e+-]*\) s (\([0-9]*\) LML.*/\1/p')
    e=$(echo "$log" | sed -n 's/.*hyperparameters in [0-9.e+-]* s (\([0-9]*\) LML.*/\1/p')
    l=$(echo "$log" | sed -n 's/.*LML \([-0-9.e+]*\) .*/\1/p' | head -n 1)
    out+=("$t" "$l" "$e")
  done
  printf '%-10s %5d %3d | %9s %14s %6s | %9s %14s %6s | %6.2f %9.2e\n' "$set" "$n" "$d" \
    "${out[0]}" "${out[1]}" "${out[2]}" "${out[3]}" "${out[4]}" "${out[5]}" \
    "$(echo "${out[3]} / ${out[0]}" | bc -l)" "$(echo "${out[4]} - ${out[1]}" | bc -l)"
done
