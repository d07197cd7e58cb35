"""External fields are matched by their coordinates, not their shape: a land mask with latitudes
descending (ERA5, many CMIP files) or longitudes in -180..180 gives the same run as the ascending
0..360 one; a mask in percent is converted (units = "%") or refused with the hint; a file on
another grid is refused naming both; a netCDF-3 file is refused with the nccopy command."""
import os
import shutil
import subprocess

import h5py
import numpy as np
from scipy.io import netcdf_file

from kvtest import KELVIN, OUT, check, finish, write_config

D = os.path.join(OUT, "external")
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def sh(args):
    p = subprocess.run([KELVIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def cfg(name, mask):
    return write_config(f"ext_{name}", f"""[run]
model = ebm
output = {D}/{name}.h5
year_start = 1850
year_end = 1851
steps_per_year = 10
[ebm]
nlat = 12
nlon = 24
noise_std = 0
land_mask = {mask}
""")


# The run's own grid, from a run without a file.
rc, _, err = sh(["run", cfg("grid", "idealized")])
with h5py.File(f"{D}/grid.h5") as f:
    lat, lon = f["lat"][...], f["lon"][...]
check(rc == 0 and lat[0] < lat[-1] and lon.min() >= 0, "the ebm grid: latitude ascending, "
      "longitude 0..360")
# A lopsided land fraction, so that any flip or shift shows.
LA, LO = np.meshgrid(lat, lon, indexing="ij")
frac = np.clip(0.5 + 0.4 * np.sin(np.radians(LA) * 1.7 + 0.3) * np.cos(np.radians(LO - 40)), 0, 1)


def mask_file(name, la, lo, data, units="1", coords=True):
    path = f"{D}/{name}_mask.h5"
    with h5py.File(path, "w") as f:
        f["lat"] = la
        f["lon"] = lo
        f["lat"].attrs["units"] = "degrees_north"
        f["lon"].attrs["units"] = "degrees_east"
        f["mask"] = data
        if units is not None:
            f["mask"].attrs["units"] = units
        if coords:
            f["lat"].make_scale("lat")
            f["lon"].make_scale("lon")
            f["mask"].dims[0].attach_scale(f["lat"])
            f["mask"].dims[1].attach_scale(f["lon"])
    return path + ":/mask"


def run(name, mask):
    rc, _, err = sh(["run", cfg(name, mask)])
    return rc, err


def same(a, b, tol="0"):
    p = subprocess.run([KELVIN, "compare", f"{D}/{a}.h5", f"{D}/{b}.h5", "--rtol", tol,
                        "--atol", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0


rc, err = run("asc", mask_file("asc", lat, lon, frac))
check(rc == 0, f"a land mask on the run's grid (ascending, 0..360) {err[-200:]}")
rc, err = run("desc", mask_file("desc", lat[::-1], lon, frac[::-1, :]))
check(rc == 0 and same("asc", "desc"), "a latitude-descending land mask gives the same run, bit for "
      f"bit {err[-200:]}")
lo180 = np.where(lon >= 180, lon - 360, lon)
order = np.argsort(lo180)
rc, err = run("m180", mask_file("m180", lat, lo180[order], frac[:, order]))
check(rc == 0 and same("asc", "m180"), "longitudes in -180..180 give the same run, bit for bit "
      f"{err[-200:]}")
rc, err = run("pct", mask_file("pct", lat[::-1], lon, 100 * frac[::-1, :], units="%"))
check(rc == 0 and same("asc", "pct", "1e-12"), "a mask in % (units = \"%\") is converted to a "
      f"fraction {err[-200:]}")
rc, err = run("pct_nounits", mask_file("pct_nounits", lat, lon, 100 * frac, units=None))
check(rc != 0 and "outside [0, 1]" in err and "units" in err,
      "a mask in % without units is refused with the hint: " + err.strip()[-160:])
rc, err = run("kelvin_units", mask_file("kelvin_units", lat, lon, frac, units="K"))
check(rc != 0 and "units 'K'" in err and "expected '1'" in err,
      "a mask in other units is refused naming both: " + err.strip()[-120:])
rc, err = run("other", mask_file("other", lat + 3.0, lon, frac))
check(rc != 0 and "lat coordinate" in err and "regrid" in err,
      "a mask on another grid (same shape) is refused naming both coordinates: "
      + err.strip()[-200:])
rc, err = run("nocoords", mask_file("nocoords", lat, lon, frac, coords=False))
check(rc == 0 and same("asc", "nocoords"), "without coordinate variables the shape decides (as "
      "before)")
nc3 = f"{D}/classic.nc"
with netcdf_file(nc3, "w") as f:
    f.createDimension("lat", len(lat))
    f.createDimension("lon", len(lon))
    v = f.createVariable("mask", "d", ("lat", "lon"))
    v[:] = frac
rc, err = run("nc3", nc3 + ":/mask")
check(rc != 0 and "netCDF-3" in err and "nccopy -k nc4" in err,
      "a netCDF-3 (classic) file is refused with the conversion command: " + err.strip()[-160:])
finish()
