#!/usr/bin/env bash
# The heat solver gives the same field on 1, 2 and 4 ranks (max abs difference <= 1e-12), in 2D
# and 3D, with grid sizes that do not divide the rank counts, mixed boundary conditions, a source
# and (3D) a variable conductivity read from a file.
set -u
: "${KELVIN:=bin/kelvin}" "${OUT:=tests/out}" "${MPIRUN:=mpirun --oversubscribe}" "${PY:=/usr/bin/python3}"
dir="$OUT/invariance"
mkdir -p "$dir"
fail=0
ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fail=1; }

# One 2D problem (uneven split, mixed conditions with values, a source), run explicitly and with
# Crank-Nicolson + FFT below.
heat2d='[heat]
dims = 2
n = 37, 23
length = 1.5, 1.0
kappa = 0.8
bc = dirichlet
bc.xhi = neumann
bc_value.xhi = 0.5
bc.ylo = neumann
bc_value.ylo = 1.0
initial = gaussian(0.6, 0.4, 0.1, 20)
source = sine(1, 2)'
printf '[run]\noutput = %s\nt_end = 0.01\noutput_every = 40\noverwrite = true\n%s\n' \
  "$dir/inv2d.h5" "$heat2d" >"$dir/inv2d.ini"
cat >"$dir/inv3d.ini" <<INI
[run]
output = $dir/inv3d.h5
t_end = 0.01
output_every = 25
overwrite = true
[heat]
dims = 3
n = 13, 11, 9
kappa = $dir/kappa3d.h5:/kappa
bc = periodic
bc.zlo = dirichlet
bc.zhi = neumann
bc_value.zlo = 2.0
initial = gaussian(0.5, 0.5, 0.5, 0.2, 5)
source = constant(1.5)
INI
"$PY" - "$dir/kappa3d.h5" <<'PYEOF'
import sys, h5py, numpy as np
z, y, x = np.meshgrid((np.arange(9) + .5) / 9, (np.arange(11) + .5) / 11, (np.arange(13) + .5) / 13, indexing="ij")
with h5py.File(sys.argv[1], "w") as f:
    f["kappa"] = 1.0 + 0.5 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y) + z
PYEOF

# The implicit schemes with the distributed FFT solver (FFTW-MPI slabs + redistribution).
printf '[run]\noutput = %s\nt_end = 0.04\ndt = 0.004\noverwrite = true\n%s\nscheme = cn\n' \
  "$dir/fft2d.h5" "$heat2d" >"$dir/fft2d.ini"
cat >"$dir/fft3d.ini" <<INI
[run]
output = $dir/fft3d.h5
t_end = 0.03
dt = 0.003
overwrite = true
[heat]
dims = 3
n = 13, 11, 9
kappa = 0.7
scheme = implicit
bc = periodic
bc.ylo = dirichlet
bc_value.ylo = 1.0
bc.yhi = neumann
bc.zlo = neumann
bc_value.zlo = -0.5
bc.zhi = dirichlet
initial = gaussian(0.5, 0.5, 0.5, 0.2, 5)
source = sine(2, 1, 1)
INI

for case in inv2d inv3d fft2d fft3d; do
  for n in 1 2 4; do
    if $MPIRUN -n $n "$KELVIN" -q run "$dir/$case.ini" "run.output=$dir/$case-np$n.h5" >"$dir/$case-np$n.log" 2>&1; then
      ok "$case runs on $n rank(s)"
    else
      bad "$case on $n rank(s): $(tail -n 3 "$dir/$case-np$n.log")"
    fi
  done
  for n in 2 4; do
    if "$KELVIN" compare "$dir/$case-np$n.h5" "$dir/$case-np1.h5" --rtol 0 --atol 1e-12 >"$dir/$case-cmp$n.log" 2>&1; then
      ok "$case: $n ranks give the 1-rank field within 1e-12 ($(grep -E '^  T ' "$dir/$case-cmp$n.log" | awk '{print "max|a-b| " $3}'))"
    else
      bad "$case: $n ranks differ from 1 rank: $(grep -E 'DIFFERS|MISSING' "$dir/$case-cmp$n.log" | head -3)"
    fi
  done
done
# The comparison must be able to fail: a perturbed run is caught.
$MPIRUN -n 2 "$KELVIN" -q run "$dir/inv2d.ini" "run.output=$dir/inv2d-perturbed.h5" heat.kappa=0.8000001 >/dev/null 2>&1
if "$KELVIN" compare "$dir/inv2d-perturbed.h5" "$dir/inv2d-np1.h5" --rtol 0 --atol 1e-12 >/dev/null 2>&1; then
  bad "a run with kappa changed by 1e-7 was not told apart"
else
  ok "a run with kappa changed by 1e-7 is told apart at the same tolerance"
fi
exit $fail
