/* kelvin — CF cell bounds of the output writer: lat_bnds/lon_bnds/x_bnds around the cell
 * centres and time_bnds of records that are means (see h5_impl.h). */
#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/h5.h"
#include "io/h5_impl.h"

int kv_h5_cf_dim(hid_t file, const char *name, long n, hid_t *out) {
  if (H5Lexists(file, name, H5P_DEFAULT) > 0) {
    *out = H5Dopen2(file, name, H5P_DEFAULT);
    return *out >= 0 ? KV_OK : KV_ERROR(KV_ERR_IO, "hdf5: cannot open the dimension %s", name);
  }
  hsize_t len = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &len, NULL);
  *out = H5Dcreate2(file, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Sclose(sp);
  char mark[96];
  snprintf(mark, sizeof mark, "%s%10ld", "This is a netCDF dimension but not a netCDF variable.",
           n);
  if (*out < 0 || H5DSset_scale(*out, mark) < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot create the dimension %s", name);
  }
  return KV_OK;
}

/* CF's "bnds" dimension (2: a cell's lower and upper edge), created once per file. */
static int bnds_dim(hid_t file, hid_t *out) {
  return kv_h5_cf_dim(file, "bnds", 2, out);
}

int kv_h5_cf_bounds(hid_t file, hid_t dxpl, int rank, hid_t coord, const char *name, long n,
                    const double *x, int latitude) {
  double *b = malloc((2 * (size_t)n + 1) * sizeof *b);
  int rc = b ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "hdf5: out of memory");
  /* Edges at the midpoints; the outer ones half a spacing out (within the poles). */
  for (long i = 0; rc == KV_OK && i < n; i++) {
    double lo = i > 0 ? 0.5 * (x[i - 1] + x[i]) : (n > 1 ? x[0] - 0.5 * (x[1] - x[0]) : x[0] - 0.5);
    double hi = i + 1 < n ? 0.5 * (x[i] + x[i + 1])
                          : (n > 1 ? x[n - 1] + 0.5 * (x[n - 1] - x[n - 2]) : x[0] + 0.5);
    if (latitude) {
      lo = lo < -90 ? -90 : (lo > 90 ? 90 : lo);
      hi = hi < -90 ? -90 : (hi > 90 ? 90 : hi);
    }
    b[2 * i] = lo;
    b[2 * i + 1] = hi;
  }
  char bname[160];
  snprintf(bname, sizeof bname, "%s_bnds", name);
  hid_t dim = H5I_INVALID_HID, ds = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  if (rc == KV_OK) {
    rc = bnds_dim(file, &dim);
  }
  if (rc == KV_OK) {
    hsize_t dims[2] = {(hsize_t)n, 2};
    sp = H5Screate_simple(2, dims, NULL);
    hid_t pl = kv_h5_dcpl_checked(2, dims, sizeof(double));
    ds = pl < 0 ? H5I_INVALID_HID
                : H5Dcreate2(file, bname, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    if (pl >= 0) {
      H5Pclose(pl);
    }
    if (ds < 0 || kv_h5_write_whole(ds, H5T_NATIVE_DOUBLE, dxpl, rank, b) < 0 ||
        H5DSattach_scale(ds, coord, 0) < 0 || H5DSattach_scale(ds, dim, 1) < 0) {
      rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write %s", bname);
    }
  }
  if (rc == KV_OK) {
    rc = kv_h5_attr_text(coord, "bounds", bname);
  }
  if (ds >= 0) {
    H5Dclose(ds);
  }
  if (dim >= 0) {
    H5Dclose(dim);
  }
  if (sp >= 0) {
    H5Sclose(sp);
  }
  free(b);
  return rc;
}

int kv_h5_cf_time_bounds(hid_t file, hid_t dtime, hid_t *out) {
  hid_t bdim;
  *out = H5I_INVALID_HID;
  KV_CHECK(bnds_dim(file, &bdim));
  hsize_t dims[2] = {0, 2}, maxd[2] = {H5S_UNLIMITED, 2}, chunk[2] = {KV_H5_SERIES_CHUNK, 2};
  hid_t sp = H5Screate_simple(2, dims, maxd), pl = H5Pcreate(H5P_DATASET_CREATE);
  if (sp >= 0 && pl >= 0 && H5Pset_chunk(pl, 2, chunk) >= 0 && H5Pset_fletcher32(pl) >= 0) {
    *out = H5Dcreate2(file, "time_bnds", H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  }
  if (sp >= 0) {
    H5Sclose(sp);
  }
  if (pl >= 0) {
    H5Pclose(pl);
  }
  int rc =
      *out >= 0 && H5DSattach_scale(*out, dtime, 0) >= 0 && H5DSattach_scale(*out, bdim, 1) >= 0
          ? KV_OK
          : KV_ERROR(KV_ERR_IO, "hdf5: cannot create time_bnds");
  H5Dclose(bdim);
  KV_CHECK(rc);
  return kv_h5_attr_text(dtime, "bounds", "time_bnds");
}

int kv_h5_cf_time_bounds_write(hid_t dbnds, hid_t dxpl, int rank, long r, double t, double period) {
  hsize_t dims[2] = {(hsize_t)r + 1, 2};
  if (H5Dset_extent(dbnds, dims) < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot extend time_bnds");
  }
  /* The stamp is the middle of the period (annual means at mid-year). */
  double b[2] = {t - 0.5 * period, t + 0.5 * period};
  hid_t fs = H5Dget_space(dbnds);
  hsize_t start[2] = {(hsize_t)r, 0}, count[2] = {1, 2};
  hid_t ms = H5Screate_simple(2, count, NULL);
  herr_t e = fs < 0 || ms < 0 ? -1 : 0;
  if (e >= 0 && rank == 0) {
    e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  } else if (e >= 0) {
    e = H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0 ? -1 : 0;
  }
  if (e >= 0) {
    e = H5Dwrite(dbnds, H5T_NATIVE_DOUBLE, ms, fs, dxpl, b);
  }
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write time_bnds") : KV_OK;
}
