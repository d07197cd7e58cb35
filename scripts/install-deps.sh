#!/usr/bin/env bash
# Install, idempotently and only what is missing, the Debian packages kelvin needs to build,
# run and test. Safe to run repeatedly: when everything is present it only checks and exits.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --build    build dependencies only
#   scripts/install-deps.sh --check    list what is missing; exit 1 if anything is
#   scripts/install-deps.sh --bench    also the benchmark peers (petsc-dev)
set -euo pipefail

build_pkgs=(
  make gcc pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libnetcdf-mpi-dev
  libgsl-dev
  libfftw3-dev libfftw3-mpi-dev
  libopenblas-dev liblapacke-dev
  libinih-dev
  libpng-dev
  libnlopt-dev
)
test_pkgs=(
  valgrind
  python3 python3-numpy python3-h5py python3-xarray python3-h5netcdf python3-cftime python3-netcdf4 netcdf-bin
  python3-sklearn python3-openturns
  slurmctld slurmd slurm-client munge
)
bench_pkgs=(petsc-dev python3-xgboost)

mode=all
case "${1:-}" in
  --build) mode=build ;;
  --check) mode=check ;;
  --bench) mode=bench ;;
  "" ) ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "install-deps.sh: unknown option '$1' (expected --build, --check, --bench or nothing)" >&2; exit 2 ;;
esac

want=("${build_pkgs[@]}")
if [ "$mode" != build ]; then want+=("${test_pkgs[@]}"); fi
if [ "$mode" = bench ]; then want+=("${bench_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [ "$mode" = check ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
  echo "install-deps: run as root, or ask an administrator to run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
