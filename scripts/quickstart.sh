#!/usr/bin/env bash
# What `make run` does after building: the main pipeline (sweep, fit, validate) on the two
# built-in examples, on 2 MPI ranks. A second `make run` resumes and redoes nothing finished.
set -eu
cd "$(dirname "$0")/.."
echo "== 1/3 heat: 24-case sweep, PCA + GP of the final field, validation on 6 new cases"
mpirun --oversubscribe -n 2 bin/kelvin pipeline configs/quickstart.ini
echo
echo "== 2/3 climate: scenario ensemble, pattern scaling, validation on ssp245"
mpirun --oversubscribe -n 2 bin/kelvin pipeline configs/climate_quickstart.ini
echo
echo "== 3/3 climate: two uncertain parameters, PCA + GP of the 2100 temperature field"
mpirun --oversubscribe -n 2 bin/kelvin pipeline configs/climate_gp.ini
cat <<MSG

Reports: runs/quickstart/validation.md, runs/climate_quickstart/validation.md and
runs/climate_gp/validation.md (each with PNG maps).
To look further:
  bin/kelvin info runs/quickstart/case_0000.h5            # a full-solver case (HDF5, CF layout)
  bin/kelvin predict runs/quickstart/model_pcagp.h5 heat.kappa=0.5 heat.bc_value=0.2 \\
      --output runs/quickstart/predicted.h5               # the surrogate at a new point
  bin/kelvin plot runs/quickstart/predicted.h5 T -o runs/quickstart/predicted.png
  bin/kelvin predict runs/climate_quickstart/model_pattern.h5 ebm.scenario=ssp585 \\
      --output runs/climate_quickstart/tas_ssp585.h5      # a scenario's yearly tas anomalies
  /usr/bin/python3 -c "import xarray as xr; print(xr.open_dataset('runs/quickstart/case_0000.h5', engine='h5netcdf'))"
MSG
