#!/usr/bin/env bash
# Implicit heat step: kelvin's FFT direct solver and PCG (multigrid, Jacobi) against PETSc 3.18
# (Debian's petsc-dev) KSP CG with GAMG and with Jacobi, on the same operator (backward Euler,
# cell-centred grid, Dirichlet 0, kappa 1, dt = 1e-3, rtol 1e-8, previous state as initial guess)
# in 2D 1024^2 and 3D 128^3, on 1 and 2 ranks. Prints seconds per step, iterations, the ratio to
# PETSc's best on the same ranks, and the 1 -> 2 rank speed-up of each solver.
#
#   bash bench/heat_implicit.sh            (installs petsc-dev if missing: scripts/install-deps.sh --bench)
set -eu
cd "$(dirname "$0")/.."
: "${MPIRUN:=mpirun --oversubscribe}"
STEPS=${STEPS:-8}
dir=tests/out/bench
mkdir -p "$dir"
bash scripts/install-deps.sh --bench >/dev/null
mpicc -O3 -march=native -o "$dir/petsc_heat" bench/petsc_heat.c $(pkg-config --cflags --libs PETSc) -lm

kelvin_step() { # dims n np solver-overrides... -> "seconds_per_step iterations"
  local dims=$1 n=$2 np=$3
  shift 3
  local sz="$n, $n" init="sine(1, 1)"
  if [ "$dims" = 3 ]; then sz="$n, $n, $n"; init="sine(1, 1, 1)"; fi
  cat >"$dir/implicit.ini" <<INI
[run]
output = $dir/implicit.h5
t_end = $(awk -v s="$STEPS" 'BEGIN { print s * 0.001 }')
dt = 0.001
output_every = 100000
overwrite = true
[heat]
dims = $dims
n = $sz
scheme = implicit
rtol = 1e-8
initial = $init
INI
  local line its
  line=$($MPIRUN -n "$np" bin/kelvin run "$dir/implicit.ini" "$@" 2>&1 | grep 'steps in')
  its=$(/usr/bin/python3 -c "import h5py; f = h5py.File('$dir/implicit.h5'); print(f['diagnostics/solver_iterations'][-1] if 'diagnostics/solver_iterations' in f else 0)")
  echo "$line" | sed -n 's/.* \([0-9][0-9]*\) steps in \([0-9.e+-]*\) s stepping.*/\2 \1/p' |
    awk -v its="$its" '{ print $1 / $2, its }'
}

petsc_step() { # dims n np pc -> "seconds_per_step iterations"
  $MPIRUN -n "$3" "$dir/petsc_heat" -dim "$1" -n "$2" -steps "$STEPS" -dt 1e-3 -ksp_type cg \
    -pc_type "$4" -ksp_rtol 1e-8 | awk '/petsc_step_s/ { print $2, $4 }'
}

for case in "2 1024" "3 128"; do
  set -- $case
  dims=$1 n=$2
  echo "== ${dims}D, n = $n per axis, backward Euler, $STEPS steps, $(nproc) cores"
  printf '%-22s %5s %12s %8s %16s\n' solver ranks "s/step" its "PETSc best / it"
  declare -A T
  for np in 1 2; do
    read -r g gi < <(petsc_step "$dims" "$n" "$np" gamg)
    read -r j ji < <(petsc_step "$dims" "$n" "$np" jacobi)
    best=$(awk -v a="$g" -v b="$j" 'BEGIN { print (a < b ? a : b) }')
    read -r f fi < <(kelvin_step "$dims" "$n" "$np" heat.solver=fft heat.fft_planner=measure)
    read -r m mi < <(kelvin_step "$dims" "$n" "$np" heat.solver=pcg heat.pc=mg)
    read -r k ki < <(kelvin_step "$dims" "$n" "$np" heat.solver=pcg heat.pc=jacobi)
    for row in "PETSc CG+GAMG:$g:$gi" "PETSc CG+Jacobi:$j:$ji" "kelvin fft:$f:-" "kelvin pcg+mg:$m:$mi" "kelvin pcg+jacobi:$k:$ki"; do
      IFS=: read -r name t it <<<"$row"
      T["$name,$np"]=$t
      printf '%-22s %5d %12.4g %8s %16.2f\n' "$name" "$np" "$t" "$it" "$(awk -v b="$best" -v t="$t" 'BEGIN { print b / t }')"
    done
  done
  echo "strong scaling 1 -> 2 ranks (speed-up):"
  for name in "PETSc CG+GAMG" "PETSc CG+Jacobi" "kelvin fft" "kelvin pcg+mg" "kelvin pcg+jacobi"; do
    printf '  %-22s %6.2f\n' "$name" "$(awk -v a="${T[$name,1]}" -v b="${T[$name,2]}" 'BEGIN { print a / b }')"
  done
  unset T
done
