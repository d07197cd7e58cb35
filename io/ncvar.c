/* Reading external variables with netCDF. */
#include "io/ncvar.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

void kv_nc_var_free(kv_nc_var *v) {
  if (!v) {
    return;
  }
  free(v->data);
  for (int d = 0; d < KV_NC_MAXDIMS; d++) {
    free(v->coord[d]);
  }
  memset(v, 0, sizeof *v);
}

static void text_att(int nc, int id, const char *att, char *buf, size_t n) {
  size_t len = 0;
  nc_type t;
  buf[0] = '\0';
  if (nc_inq_att(nc, id, att, &t, &len) != NC_NOERR || t != NC_CHAR || len >= n) {
    if (nc_inq_att(nc, id, att, &t, &len) == NC_NOERR && t == NC_STRING) {
      char *s = NULL;
      if (nc_get_att_string(nc, id, att, &s) == NC_NOERR && s) {
        snprintf(buf, n, "%s", s);
        nc_free_string(1, &s);
      }
    }
    return;
  }
  if (nc_get_att_text(nc, id, att, buf) == NC_NOERR) {
    buf[len] = '\0';
  } else {
    buf[0] = '\0';
  }
}

static int num_att(int nc, int id, const char *att, double *x) {
  size_t len = 0;
  nc_type t;
  return nc_inq_att(nc, id, att, &t, &len) == NC_NOERR && len >= 1 && t != NC_CHAR &&
         t != NC_STRING && nc_get_att_double(nc, id, att, x) == NC_NOERR;
}

/* Read a numeric variable's values, unpacked, fill and missing values as NaN. */
static int read_values(int nc, int id, size_t count, double *out) {
  if (nc_get_var_double(nc, id, out) != NC_NOERR) {
    return 0;
  }
  double fill, miss, scale = 1.0, offset = 0.0;
  int has_fill = num_att(nc, id, "_FillValue", &fill),
      has_miss = num_att(nc, id, "missing_value", &miss);
  num_att(nc, id, "scale_factor", &scale);
  num_att(nc, id, "add_offset", &offset);
  for (size_t i = 0; i < count; i++) {
    double x = out[i];
    if ((has_fill && x == fill) || (has_miss && x == miss)) {
      out[i] = NAN;
    } else {
      out[i] = x * scale + offset;
    }
  }
  return 1;
}

static int numeric(nc_type t) {
  return t == NC_BYTE || t == NC_SHORT || t == NC_INT || t == NC_FLOAT || t == NC_DOUBLE ||
         t == NC_UBYTE || t == NC_USHORT || t == NC_UINT || t == NC_INT64 || t == NC_UINT64;
}

int kv_nc_has(const char *path, const char *name) {
  int nc, id;
  if (nc_open(path, NC_NOWRITE, &nc) != NC_NOERR) {
    return 0;
  }
  int ok = nc_inq_varid(nc, name, &id) == NC_NOERR;
  nc_close(nc);
  return ok;
}

int kv_nc_read(const char *path, const char *name, kv_nc_var *v) {
  memset(v, 0, sizeof *v);
  int nc, id, e = nc_open(path, NC_NOWRITE, &nc);
  if (e != NC_NOERR) {
    FILE *f = fopen(path, "rb");
    if (!f) {
      return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", path, nc_strerror(e));
    }
    fclose(f);
    return KV_ERROR(KV_ERR_FORMAT, "'%s' is not a netCDF or HDF5 file netCDF can read: %s", path,
                    nc_strerror(e));
  }
  int rc = KV_OK;
  if (nc_inq_varid(nc, name, &id) != NC_NOERR) {
    char have[1024] = "";
    int nv = 0;
    nc_inq_nvars(nc, &nv);
    for (int i = 0; i < nv; i++) {
      char vn[NC_MAX_NAME + 1];
      size_t l = strlen(have);
      if (nc_inq_varname(nc, i, vn) == NC_NOERR && l + strlen(vn) + 3 < sizeof have) {
        snprintf(have + l, sizeof have - l, "%s%s", l ? ", " : "", vn);
      }
    }
    nc_close(nc);
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no variable '%s' (it has: %s)", path, name,
                    have[0] ? have : "none");
  }
  nc_type t;
  int dimids[NC_MAX_VAR_DIMS];
  nc_inq_var(nc, id, NULL, &t, &v->ndims, dimids, NULL);
  snprintf(v->name, sizeof v->name, "%s", name);
  if (!numeric(t) || v->ndims > KV_NC_MAXDIMS) {
    nc_close(nc);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': variable '%s' is %s", path, name,
                    numeric(t) ? "of too many dimensions" : "not numeric");
  }
  v->count = 1;
  for (int d = 0; d < v->ndims; d++) {
    size_t len;
    char dn[NC_MAX_NAME + 1];
    nc_inq_dim(nc, dimids[d], dn, &len);
    snprintf(v->dimname[d], sizeof v->dimname[d], "%.63s", dn);
    v->dims[d] = (long)len;
    v->count *= (long)len;
  }
  text_att(nc, id, "units", v->units, sizeof v->units);
  text_att(nc, id, "long_name", v->long_name, sizeof v->long_name);
  text_att(nc, id, "standard_name", v->standard_name, sizeof v->standard_name);
  v->data = malloc(((size_t)v->count + 1) * sizeof *v->data);
  if (!v->data) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory reading '%s' of '%s'", name, path);
  } else if (!read_values(nc, id, (size_t)v->count, v->data)) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read variable '%s' (damaged?)", path, name);
  }
  /* The coordinate variables: 1-D, numeric, named after their dimension. */
  for (int d = 0; rc == KV_OK && d < v->ndims; d++) {
    int cid, cnd, cdim;
    nc_type ct;
    if (nc_inq_varid(nc, v->dimname[d], &cid) != NC_NOERR ||
        nc_inq_var(nc, cid, NULL, &ct, &cnd, &cdim, NULL) != NC_NOERR || cnd != 1 ||
        cdim != dimids[d] || !numeric(ct)) {
      continue;
    }
    v->coord[d] = malloc(((size_t)v->dims[d] + 1) * sizeof *v->coord[d]);
    if (!v->coord[d] || !read_values(nc, cid, (size_t)v->dims[d], v->coord[d])) {
      free(v->coord[d]);
      v->coord[d] = NULL;
      continue;
    }
    text_att(nc, cid, "units", v->coord_units[d], sizeof v->coord_units[d]);
    text_att(nc, cid, "standard_name", v->coord_std[d], sizeof v->coord_std[d]);
    text_att(nc, cid, "axis", v->coord_axis[d], sizeof v->coord_axis[d]);
    text_att(nc, cid, "calendar", v->calendar[d], sizeof v->calendar[d]);
  }
  nc_close(nc);
  if (rc != KV_OK) {
    kv_nc_var_free(v);
  }
  return rc;
}

int kv_nc_dim(const kv_nc_var *v, const char *name, const char *axis) {
  for (int d = 0; d < v->ndims; d++) {
    if ((name && strcmp(v->dimname[d], name) == 0) ||
        (axis && strcmp(v->coord_axis[d], axis) == 0)) {
      return d;
    }
  }
  return -1;
}
