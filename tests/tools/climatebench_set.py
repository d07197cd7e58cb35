"""Write a small synthetic data set in ClimateBench's layout from an EBM scenario ensemble of
kelvin (a sweep with method = ensemble): outputs_<scenario>.nc with tas, diurnal_temperature_range,
pr and pr90 as (member, time, lat, lon), and inputs_<scenario>.nc with CO2 and CH4 as global series
and SO2 and BC as (time, lat, lon) maps; historical is 1850-2014, each SSP 2015-2100.

The fields other than tas and the emissions are made from kelvin's tas and forcing tables (the EBM
has no precipitation): only the layout (names, dimensions, units, calendar) is ClimateBench's.
CO2 is the cumulative emission implied by the scenario's concentration (GtCO2), as ClimateBench's.

    python3 climatebench_set.py SWEEP_DIR SCENARIO_DIR OUT_DIR [netcdf3]
"""
import csv
import os
import sys

import h5py
import numpy as np
from netCDF4 import Dataset

HIST_END = 2014


def scenario_table(scen_dir, name):
    rows = []
    for path in (os.path.join(scen_dir, "historical.csv"), os.path.join(scen_dir, name + ".csv")):
        with open(path) as f:
            rows += [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    t = {int(r["year"]): (float(r["co2_ppm"]), float(r["aerosol_index"])) for r in rows}
    return t


def cumulative_co2(ppm):
    # ppm above pre-industrial, 2.124 GtC per ppm, an airborne fraction of 0.45, 3.664 GtCO2/GtC
    return (ppm - 284.0) * 2.124 / 0.45 * 3.664


def members(sweep_dir):
    by = {}
    with open(os.path.join(sweep_dir, "manifest.csv")) as f:
        for r in csv.DictReader(f):
            if r["status"] == "done":
                by.setdefault(r["ebm.scenario"], []).append(os.path.join(sweep_dir, r["output"]))
    return by


def write(out_dir, sweep_dir, scen_dir, fmt="NETCDF4"):
    os.makedirs(out_dir, exist_ok=True)
    by = members(sweep_dir)
    first = sorted(by)[0]
    with h5py.File(by[first][0], "r") as f:
        lat, lon = f["lat"][...], f["lon"][...]
        days = f["time"][...]
    years_all = 1850 + np.floor(days / 365.0).astype(int)
    wlat = np.exp(-((lat - 45.0) / 15.0) ** 2)[:, None] * np.ones(len(lon))[None, :]
    sets = [("historical", first, years_all <= HIST_END)]
    sets += [(s, s, years_all > HIST_END) for s in sorted(by)]
    for name, src, sel in sets:
        tas = []
        for path in sorted(by[src]):
            with h5py.File(path, "r") as f:
                tas.append(f["tas"][...][sel])
        tas = np.array(tas)  # (member, time, lat, lon)
        yrs = years_all[sel]
        table = scenario_table(scen_dir, src if name != "historical" else first)
        ppm = np.array([table[y][0] for y in yrs])
        aer = np.array([table[y][1] for y in yrs])
        for kind in ("outputs", "inputs"):
            path = os.path.join(out_dir, f"{kind}_{name}.nc")
            ds = Dataset(path, "w", format=fmt if kind == "inputs" else "NETCDF4")
            if kind == "outputs":
                ds.createDimension("member", tas.shape[0])
            ds.createDimension("time", len(yrs))
            ds.createDimension("lat", len(lat))
            ds.createDimension("lon", len(lon))
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 1850-01-01 00:00:00"
            t.calendar = "noleap"
            t.standard_name = "time"
            t.axis = "T"
            t[:] = (yrs - 1850) * 365.0 + 182.5
            la = ds.createVariable("lat", "f8", ("lat",))
            la.units, la.standard_name, la.axis = "degrees_north", "latitude", "Y"
            la[:] = lat
            lo = ds.createVariable("lon", "f8", ("lon",))
            lo.units, lo.standard_name, lo.axis = "degrees_east", "longitude", "X"
            lo[:] = lon
            if kind == "outputs":
                dims = ("member", "time", "lat", "lon")
                anom = tas - tas.mean(axis=(0, 1), keepdims=True)
                for v, units, data in (
                        ("tas", "K", tas),
                        ("diurnal_temperature_range", "K", 10.0 + 0.1 * anom),
                        ("pr", "mm/day", np.maximum(0.0, 3.0 + 0.05 * anom)),
                        ("pr90", "mm/day", np.maximum(0.0, 8.0 + 0.1 * anom))):
                    x = ds.createVariable(v, "f8", dims)
                    x.units = units
                    x[:] = data
            else:
                c = ds.createVariable("CO2", "f8", ("time",))
                c.units, c.long_name = "GtCO2", "cumulative anthropogenic CO2 emissions"
                c[:] = cumulative_co2(ppm)
                m = ds.createVariable("CH4", "f8", ("time",))
                m.units, m.long_name = "GtCH4 year-1", "methane emissions"
                m[:] = 0.3 + 0.001 * (yrs - 1850)
                for v in ("SO2", "BC"):
                    x = ds.createVariable(v, "f8", ("time", "lat", "lon"))
                    x.units = "kg m-2 s-1"
                    x[:] = (1e-11 if v == "SO2" else 2e-12) * aer[:, None, None] * wlat[None]
            ds.Conventions = "CF-1.8"
            ds.close()


if __name__ == "__main__":
    write(sys.argv[3], sys.argv[1], sys.argv[2],
          "NETCDF3_64BIT_OFFSET" if len(sys.argv) > 4 and sys.argv[4] == "netcdf3" else "NETCDF4")
