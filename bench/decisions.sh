#!/usr/bin/env bash
# Decisions (issue 21), in one run:
#  (1) EGO: evaluations of the model until the best value is within 1e-3 (relative) of the
#      global minimum, on Branin, Hartmann-3, Goldstein-Price and Hartmann-6 (tests/decisions/
#      funcs.py as an external simulator), kelvin optimize vs OpenTURNS' EfficientGlobalOptimization
#      (same initial LHS size) vs uniform random search; median over SEEDS seeds (default 10),
#      with how many seeds reached the target within the budget (Goldstein-Price, spanning six
#      decades, is modelled in log by both). Both run to their budget (kelvin: optimize.tolerance
#      = 0, no stop on a small expected improvement). Target: kelvin <= OpenTURNS.
#  (2) adapt vs one-shot LHS: full runs until a held-out relative RMSE, on two heat QoIs (T_max
#      with kappa log-uniform, and T_mean) and a pcagp field; the LHS size is the smallest
#      (checked every 2) whose surrogate meets the same error on the same held-out runs.
#      Target: ratio <= 0.6.
#  (3) Sobol index error vs the number of surrogate evaluations (Ishigami, a GP of 600 points).
#
#   bash bench/decisions.sh            SEEDS=3 for a quick look; PARTS="1 2 3"; ONLY="branin ..."
#                                      (part 1's functions); EXTRA: lines added to part 1's
#                                      kelvin configs, e.g. EXTRA=$'[surrogate]\nnoise = 1e-10';
#                                      NOPEERS=1 skips OpenTURNS and random search
set -eu
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
SEEDS=${SEEDS:-10}
PARTS=${PARTS:-"1 2 3"}
dir=$PWD/tests/out/bench/decisions
mkdir -p "$dir"
K=$PWD/bin/kelvin
FUNCS=$PWD/tests/decisions/funcs.py
median() { /usr/bin/python3 -c "
import sys, numpy as np
v = [int(x) for x in sys.argv[1:]]
hit = [x for x in v if x > 0]
print('%s %d/%d' % (('%.1f' % np.median([x if x > 0 else 10**9 for x in v])) if len(hit) * 2 > len(v) else '-', len(hit), len(v)))" "$@"; }

if [[ " $PARTS " == *" 1 "* ]]; then
  echo "== (1) EGO: evaluations to within 1e-3 of the global minimum (median over $SEEDS seeds, reached/seeds)"
  printf '%-10s %3s %6s %18s %18s %18s\n' function d budget kelvin OpenTURNS random
  # name d budget fstar lo hi transform
  while read -r name d budget fstar lo hi transform; do
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
    tol=$(/usr/bin/python3 -c "print(1e-3 * abs($fstar))")
    n0=$((3 * d > 6 ? 3 * d : 6))
    inputs=$(seq -s, 1 "$d" | sed 's/\([0-9]*\)/x\1/g; s/,/, /g')
    vary=$(/usr/bin/python3 -c "
lo='$lo'.split(','); hi='$hi'.split(',')
print(', '.join('external.x%d:%s:%s' % (i + 1, a, b) for i, (a, b) in enumerate(zip(lo, hi))))")
    values=$(for i in $(seq 1 "$d"); do echo "x$i = ${lo%%,*}"; done)
    ks=()
    for s in $(seq 1 "$SEEDS"); do
      cat >"$dir/$name-$s.ini" <<INI
[run]
model = external
[external]
command = $FUNCS $name {params} {results}
params_format = json
inputs = $inputs
$values
responses = f
[sweep]
dir = $dir/$name-$s
method = lhs
samples = $n0
vary = $vary
[optimize]
response = f
budget = $budget
seed = $s
transform = $transform
tolerance = 0
${EXTRA:-}
INI
      rm -rf "$dir/$name-$s"
      $K -q optimize "$dir/$name-$s.ini" >"$dir/$name-$s.log" 2>&1 || true
      ks+=("$(/usr/bin/python3 -c "
import csv
rows = list(csv.DictReader(open('$dir/$name-$s/optimize/optimize.csv')))
hit = [int(r['eval']) for r in rows if float(r['f']) <= $fstar + $tol]
print(hit[0] if hit else 0)" 2>/dev/null || echo 0)")
    done
    peers=$([ -n "${NOPEERS:-}" ] && for i in $(seq 1 "$SEEDS"); do echo "$i 0 0"; done ||
      /usr/bin/python3 bench/decisions_peers.py "$name" "$SEEDS" "$budget" "$n0" "$fstar" "$tol" "$lo" "$hi" \
      "$transform")
    os=$(echo "$peers" | awk '{print $2}' | tr '\n' ' ')
    rs=$(echo "$peers" | awk '{print $3}' | tr '\n' ' ')
    # shellcheck disable=SC2086
    printf '%-10s %3d %6d %18s %18s %18s\n' "$name" "$d" "$budget" "$(median "${ks[@]}")" \
      "$(median $os)" "$(median $rs)"
    echo "   kelvin per seed: ${ks[*]}; OpenTURNS: $os" >>"$dir/ego_seeds.txt"
  done <<'FUN'
branin 2 40 0.397887 -5,0 10,15 none
goldstein 2 50 3 -2,-2 2,2 log
hartmann3 3 50 -3.86278 0,0,0 1,1,1 none
hartmann6 6 100 -3.32237 0,0,0,0,0,0 1,1,1,1,1,1 none
FUN
  cat "$dir/ego_seeds.txt"
fi

heat_cfg() { # name vary qoi-or-kind-lines tolerance holdout budget
  cat >"$dir/$1.ini" <<INI
[run]
model = heat
t_end = 0.05
dt = 0.001
output_every = 25
[heat]
dims = 2
n = 16, 12
scheme = cn
solver = fft
initial = gaussian(0.5, 0.5, 0.1, 5)
source = gaussian(0.3, 0.6, 0.1, 40)
[sweep]
dir = $dir/$1
method = lhs
samples = 12
seed = 1
vary = $2
[surrogate]
$3
[adapt]
tolerance = $4
holdout = $5
budget = $6
INI
}

if [[ " $PARTS " == *" 2 "* ]]; then
  echo "== (2) adapt vs one-shot LHS: full runs to the same held-out relative RMSE"
  printf '%-28s %9s %7s %9s %7s\n' case tolerance adapt LHS ratio
  while read -r name qoi tol vary; do
    lines="kind = gp
qoi = $qoi"
    [ "$qoi" = field ] && lines="kind = pcagp"
    heat_cfg "$name" "$vary" "$lines" "$tol" 30 60
    rm -rf "$dir/$name"
    $K -q adapt "$dir/$name.ini" >"$dir/$name.log" 2>&1 || true
    na=$(tail -n 1 "$dir/$name/adapt/adapt.csv" | cut -d, -f1)
    ea=$(tail -n 1 "$dir/$name/adapt/adapt.csv" | cut -d, -f2)
    nl=$(/usr/bin/python3 - "$dir" "$name" "$qoi" "$tol" "$K" <<'PY'
import os, subprocess, sys
import h5py, numpy as np
d, name, qoi, tol, K = sys.argv[1:6]
tol = float(tol)
hd = f"{d}/{name}/adapt/holdout"
X = np.loadtxt(f"{hd}/cases.csv", delimiter=",", skiprows=1, ndmin=2)
hdr = open(f"{hd}/cases.csv").readline().strip()
np.savetxt(f"{d}/{name}_hin.csv", X, delimiter=",", header=hdr, comments="")
def truth(f):
    with h5py.File(f, "r") as h:
        T = h["T"][-1]
    return T.ravel() if qoi == "field" else np.array([T.max() if qoi == "T_max" else T.mean()])
Y = np.array([truth(f"{hd}/case_{i:04d}.h5") for i in range(len(X))])
for n in range(8, 61, 2):
    o = f"{d}/{name}_lhs{n}"
    over = [f"sweep.dir={o}", f"sweep.samples={n}"]
    subprocess.run([K, "-q", "sweep", f"{d}/{name}.ini"] + over, check=True, capture_output=True)
    subprocess.run([K, "-q", "fit", f"{d}/{name}.ini"] + over, check=True, capture_output=True)
    kind = "pcagp" if qoi == "field" else "gp"
    if qoi == "field":
        P = []
        for i, x in enumerate(X):
            args = [f"{k}={v!r}" for k, v in zip(hdr.split(","), x)]
            subprocess.run([K, "-q", "predict", f"{o}/model_{kind}.h5"] + args + ["--output", f"{o}/p{i}.h5"],
                           check=True, capture_output=True)
            with h5py.File(f"{o}/p{i}.h5", "r") as h:
                P.append(h["T"][-1].ravel())
        P = np.array(P)
    else:
        subprocess.run([K, "-q", "predict", f"{o}/model_{kind}.h5", "--input", f"{d}/{name}_hin.csv",
                        "--output", f"{o}/p.csv"], check=True, capture_output=True)
        P = np.loadtxt(f"{o}/p.csv", delimiter=",", skiprows=1, usecols=0).reshape(-1, 1)
    e = np.sqrt(np.sum((P - Y) ** 2) / np.sum((Y - Y.mean(axis=0)) ** 2))
    if e <= tol:
        print(n)
        break
else:
    print(0)
PY
)
    ratio=$( [ "$nl" -gt 0 ] && echo "scale=2; $na / $nl" | bc -l || echo "<= $(echo "scale=2; $na / 62" | bc -l)")
    printf '%-28s %9s %7s %9s %7s   (adapt error %s)\n' "$name ($qoi)" "$tol" "$na" \
      "$([ "$nl" -gt 0 ] && echo "$nl" || echo '> 60')" "$ratio" "$ea"
  done <<'CASES'
heat_tmax T_max 0.01 heat.kappa:0.02:1.0:log, heat.bc_value:0:1
heat_tmean T_mean 0.002 heat.kappa:0.2:1.0, heat.bc_value:0:1
heat_field field 0.01 heat.kappa:0.2:1.0, heat.bc_value:0:1
CASES
fi

if [[ " $PARTS " == *" 3 "* ]]; then
  echo "== (3) Sobol index error vs surrogate evaluations (Ishigami a = 7, b = 0.1; GP on 600 points)"
  /usr/bin/python3 - "$dir" "$K" <<'PY'
import csv, math, subprocess, sys
import numpy as np
d, K = sys.argv[1:3]
a, b = 7.0, 0.1
V = a * a / 8 + b * math.pi ** 4 / 5 + b * b * math.pi ** 8 / 18 + 0.5
V1, V2, V13 = 0.5 * (1 + b * math.pi ** 4 / 5) ** 2, a * a / 8, b * b * math.pi ** 8 * (1 / 18 - 1 / 50)
S1, ST = np.array([V1, V2, 0]) / V, np.array([V1 + V13, V2, V13]) / V
rng = np.random.default_rng(5)
X = rng.uniform(-math.pi, math.pi, (600, 3))
y = np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])
np.savetxt(f"{d}/ish.csv", np.column_stack([X, y]), delimiter=",", header="x1,x2,x3,y", comments="")
open(f"{d}/ish.ini", "w").write(f"[surrogate]\nkind = gp\ndata = {d}/ish.csv\ninputs = x1, x2, x3\n"
                               f"output = y\nmodel = {d}/ish/model.h5\n")
subprocess.run([K, "-q", "fit", f"{d}/ish.ini"], check=True, capture_output=True)
print("%8s %10s %12s %12s %14s" % ("N", "evals", "max|dS1|", "max|dST|", "mean CI width"))
for N in [128, 512, 2048, 8192, 32768]:
    errs = []
    for seed in (1, 2, 3):
        subprocess.run([K, "-q", "sensitivity", f"{d}/ish/model.h5", f"sensitivity.samples={N}",
                        f"sensitivity.seed={seed}", "sensitivity.bootstrap=100",
                        f"sensitivity.dir={d}/ish_{N}_{seed}"], check=True, capture_output=True)
        t = list(csv.DictReader(open(f"{d}/ish_{N}_{seed}/sensitivity.csv")))
        s1 = np.array([float(r["S1"]) for r in t]); st = np.array([float(r["ST"]) for r in t])
        w = np.mean([float(r["ST_hi"]) - float(r["ST_lo"]) for r in t])
        errs.append((np.max(np.abs(s1 - S1)), np.max(np.abs(st - ST)), w))
    e = np.median(np.array(errs), axis=0)
    print("%8d %10d %12.4f %12.4f %14.4f" % (N, N * 5, e[0], e[1], e[2]))
PY
fi
