"""Interop oracle: kelvin outputs open in xarray (engine h5netcdf) and ncdump with their
coordinates, units and CF attributes, and the values xarray reads match the analytic solution.
Runs kelvin on 2 ranks so the file is written collectively."""
import os
import shutil
import subprocess

import numpy as np
import xarray as xr

from kvtest import OUT, check, finish, run, write_config

PI = np.pi
CASES = {
    1: ("n = 40", "length = 2.0", "sine(1)", ("time", "x")),
    2: ("n = 32, 24", "length = 2.0, 1.0", "sine(1, 1)", ("time", "y", "x")),
    3: ("n = 12, 10, 8", "length = 1.0, 1.0, 0.5", "sine(1, 1, 1)", ("time", "z", "y", "x")),
}

for dims, (n, length, initial, want_dims) in CASES.items():
    out = os.path.join(OUT, f"interop{dims}d.h5")
    cfg = write_config(f"interop{dims}d", f"""[run]
output = {out}
t_end = 0.02
output_every = 7
overwrite = true
[heat]
dims = {dims}
{n}
{length}
kappa = 0.8
initial = {initial}
""")
    rc, log = run(cfg, ranks=2)
    if not check(rc == 0, f"{dims}D run on 2 ranks"):
        continue
    ds = xr.open_dataset(out, engine="h5netcdf")
    T = ds["T"]
    check(T.dims == want_dims, f"{dims}D: xarray sees T{T.dims}")
    axes = want_dims[1:]
    check(all(a in ds.coords for a in axes + ("time",)),
          f"{dims}D: coordinates {axes + ('time',)} are attached (xarray coords: {list(ds.coords)})")
    # CF time with a reference: xarray decodes it (units move to .encoding); seconds from 0.
    tu = ds["time"].encoding.get("units", ds["time"].attrs.get("units", ""))
    t0 = (ds["time"].values - np.datetime64("1970-01-01")) / np.timedelta64(1, "s") \
        if np.issubdtype(ds["time"].dtype, np.datetime64) else ds["time"].values
    check(T.attrs.get("units") == "K" and tu.startswith("seconds since ") and abs(t0[0]) < 1e-9 and
          all(ds[a].attrs.get("units") == "m" for a in axes),
          f"{dims}D: units K on T, '{tu}' on time (decoded, starting at 0 s), m on {axes}")
    check(ds.attrs.get("Conventions") == "CF-1.8" and ds.attrs.get("model") == "heat" and
          "[heat]" in ds.attrs.get("config", "") and ds.attrs.get("status") == "complete",
          f"{dims}D: root attributes Conventions, model, config, status")
    L = [float(v) for v in length.split("=")[1].split(",")]
    nn = [int(v) for v in n.split("=")[1].split(",")]
    centres_ok = all(np.allclose(ds[a].values, (np.arange(nn[i]) + 0.5) * L[i] / nn[i], rtol=0,
                                 atol=1e-15) for i, a in enumerate(("x", "y", "z")[:dims]))
    check(centres_ok, f"{dims}D: coordinates are the cell centres")
    # Values against the analytic sine-mode decay at every stored time (tolerance from O(h^2)).
    rate = 0.8 * PI**2 * sum(1.0 / Li**2 for Li in L)
    shape = 1.0
    for i, a in enumerate(("x", "y", "z")[:dims]):
        shape = shape * np.sin(PI * ds[a] / L[i])
    secs = (ds["time"] - np.datetime64("1970-01-01")) / np.timedelta64(1, "s")
    exact = np.exp(-rate * secs) * shape
    err = float(abs(T - exact).max())
    h = max(Li / ni for Li, ni in zip(L, nn))
    check(err < 2.0 * h**2 * rate and len(ds["time"]) >= 3,
          f"{dims}D: xarray values match the exact solution over {len(ds['time'])} records "
          f"(max error {err:.2e})")
    ds.close()
    if shutil.which("ncdump"):
        p = subprocess.run(["ncdump", "-h", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        sig = f"double T({', '.join(want_dims)})"
        check(p.returncode == 0 and sig in p.stdout and "time = UNLIMITED" in p.stdout and
              'T:units = "K"' in p.stdout, f"{dims}D: ncdump -h shows {sig} and an unlimited time")
    else:
        check(False, "ncdump is installed (netcdf-bin)")

finish()
