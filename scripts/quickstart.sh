#!/usr/bin/env bash
# What `make run` does after building: the main pipeline on the built-in example. Until sweeps
# and surrogates exist, that is one solve of configs/quickstart.ini on 2 MPI ranks.
set -eu
cd "$(dirname "$0")/.."
out=runs/quickstart/heat.h5
mpirun --oversubscribe -n 2 bin/kelvin run configs/quickstart.ini
cat <<MSG

The output is $out (HDF5, netCDF-4/CF layout). To look at it:
  bin/kelvin info $out                      # datasets, dims, units, the stored config
  ncdump -h $out                            # the netCDF view
  /usr/bin/python3 -c "import xarray as xr; ds = xr.open_dataset('$out', engine='h5netcdf'); print(ds); print(ds.T.isel(time=-1).max().item())"
  bin/kelvin compare $out OTHER.h5          # compare two runs
MSG
