#include "core/comm.h"
#include "io/h5.h"

#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "core/suggest.h"
#include "core/version.h"
#include "io/h5_impl.h"

/* The readers of kelvin output files, listing, description and the crash-safe probe. */
/* ---------------------------------------------------------------- readers */

void kv_h5_array_free(kv_h5_array *a) {
  if (a) {
    free(a->data);
    a->data = NULL;
  }
}

int kv_h5_open_ro(const char *path, hid_t fapl, hid_t *file) {
  kv_h5_quiet();
  if (access(path, R_OK) != 0) {
    return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
  }
  if (H5Fis_hdf5(path) <= 0) {
    /* netCDF-3 (classic, 64-bit offset, CDF-5) starts with "CDF" and a version byte. */
    unsigned char magic[4] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(magic, 1, 4, fp) : 0;
    if (fp) {
      fclose(fp);
    }
    if (got == 4 && !memcmp(magic, "CDF", 3) && (magic[3] == 1 || magic[3] == 2 || magic[3] == 5)) {
      return KV_ERROR(KV_ERR_FORMAT,
                      "'%s' is a netCDF-3 file (classic format); kelvin reads netCDF-4/HDF5: "
                      "convert it with nccopy -k nc4 %s OUT.nc",
                      path, path);
    }
    return KV_ERROR(KV_ERR_FORMAT, "'%s' is not an HDF5 file (or is corrupt)", path);
  }
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (*file < 0) {
    return kv_h5_damaged()
               ? kv_h5_read_failed(path, "/")
               : KV_ERROR(KV_ERR_FORMAT, "cannot open '%s' as HDF5: corrupt or truncated", path);
  }
  return KV_OK;
}

typedef struct {
  char *buf;
  size_t len, cap;
} names_t;
static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data);

int kv_h5_open_numeric(hid_t file, const char *path, const char *dset, hid_t *d, int *rank,
                       hsize_t *dims) {
  if (H5Lexists(file, dset, H5P_DEFAULT) <= 0) {
    /* The closest name the file has ("did you mean"). */
    names_t nm = {calloc(1, 1), 0, 1};
    const char *list[257];
    int n = 0;
    char hint[160] = "";
    if (nm.buf && H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_cb, &nm) >= 0) {
      for (char *save = NULL, *t = strtok_r(nm.buf, "\n", &save); t && n < 256;
           t = strtok_r(NULL, "\n", &save)) {
        list[n++] = t;
      }
    }
    list[n] = NULL;
    kv_suggest_hint(dset[0] == '/' ? dset + 1 : dset, list, hint, sizeof hint);
    free(nm.buf);
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no dataset '%s'%s (kelvin info %s lists them)", path,
                    dset, hint, path);
  }
  *d = H5Dopen2(file, dset, H5P_DEFAULT);
  if (*d < 0) {
    return kv_h5_damaged()
               ? kv_h5_read_failed(path, dset)
               : KV_ERROR(KV_ERR_FORMAT, "'%s': '%s' is not a readable dataset", path, dset);
  }
  hid_t t = H5Dget_type(*d);
  H5T_class_t c = H5Tget_class(t);
  H5Tclose(t);
  hid_t s = H5Dget_space(*d);
  *rank = H5Sget_simple_extent_ndims(s);
  if (*rank >= 0 && *rank <= 8) {
    H5Sget_simple_extent_dims(s, dims, NULL);
  }
  H5Sclose(s);
  if ((c != H5T_FLOAT && c != H5T_INTEGER) || *rank < 0 || *rank > 8) {
    H5Dclose(*d);
    *d = H5I_INVALID_HID;
    return KV_ERROR(KV_ERR_FORMAT, "'%s': dataset '%s' is not a numeric array", path, dset);
  }
  return KV_OK;
}

int kv_h5_read_into(const char *path, const char *dset, long count, double *dst) {
  hid_t file, d = H5I_INVALID_HID;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  hsize_t dims[8];
  int rank = 0;
  int rc = kv_h5_open_numeric(file, path, dset, &d, &rank, dims);
  long have = 1;
  for (int i = 0; rc == KV_OK && i < rank; i++) {
    have *= (long)dims[i];
  }
  if (rc == KV_OK && have < count) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /%s holds %ld values, %ld expected", path, dset, have,
                  count);
  }
  /* The first count values, in the dataset's row-major order. */
  hsize_t mc = (hsize_t)count;
  hid_t ms = H5Screate_simple(1, &mc, NULL), fs = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  if (rc == KV_OK && count > 0) {
    hsize_t start[8] = {0}, cnt[8];
    int ok = 1;
    if (have != count) { /* a leading block of whole rows */
      long row = have / (long)dims[0];
      ok = count % row == 0;
      cnt[0] = (hsize_t)(count / row);
      for (int i = 1; i < rank; i++) {
        cnt[i] = dims[i];
      }
      ok = ok && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0;
    }
    if (!ok || H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, dst) < 0) {
      rc = kv_h5_read_failed(path, dset);
    }
  }
  if (ms >= 0) {
    H5Sclose(ms);
  }
  if (fs >= 0) {
    H5Sclose(fs);
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  H5Fclose(file);
  return rc;
}

int kv_h5_read_array(const char *path, const char *dset, kv_h5_array *out) {
  memset(out, 0, sizeof *out);
  hid_t file, d = H5I_INVALID_HID;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  hsize_t dims[8];
  int rank = 0;
  int rc = kv_h5_open_numeric(file, path, dset, &d, &rank, dims);
  if (rc == KV_OK) {
    out->rank = rank;
    out->count = 1;
    for (int i = 0; i < rank; i++) {
      out->dims[i] = (long)dims[i];
      out->count *= (long)dims[i];
    }
    out->is_volatile = H5Aexists(d, "kelvin_volatile") > 0;
    out->data = malloc((size_t)(out->count > 0 ? out->count : 1) * sizeof(double));
    if (!out->data) {
      rc = KV_ERROR(KV_ERR_NOMEM, "hdf5: cannot allocate %ld values", out->count);
    } else if (out->count > 0 &&
               H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
      rc = kv_h5_read_failed(path, dset);
    }
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  H5Fclose(file);
  if (rc != KV_OK) {
    kv_h5_array_free(out);
  }
  return rc;
}

/* KV_ERR_FORMAT naming both shapes unless the dataset (rank drank, dims) is the grid's (nd axes
 * of n cells, x first), optionally after a leading time dimension. */
static int check_shape(const char *path, const char *dset, int drank, const hsize_t *dims, int nd,
                       const long *n) {
  int lead = drank - nd, ok = lead == 0 || lead == 1;
  for (int a = 0; ok && a < nd; a++) {
    ok = dims[lead + nd - 1 - a] == (hsize_t)n[a];
  }
  if (ok) {
    return KV_OK;
  }
  char have[128] = "(", want[96] = "(";
  for (int a = 0; a < drank && a < 8; a++) {
    size_t l = strlen(have);
    snprintf(have + l, sizeof have - l, "%s%llu", a ? ", " : "", (unsigned long long)dims[a]);
  }
  strncat(have, ")", sizeof have - strlen(have) - 1);
  for (int a = nd - 1; a >= 0; a--) {
    size_t l = strlen(want);
    snprintf(want + l, sizeof want - l, "%ld%s", n[a], a ? ", " : ")");
  }
  return KV_ERROR(KV_ERR_FORMAT,
                  "'%s:%s' has shape %s, which does not match this run's grid %s (optionally "
                  "with a leading time dimension)",
                  path, dset, have, want);
}

static int read_field_local(const char *path, const char *dset, long record, kv_field *f) {
  const kv_grid *g = kv_field_grid(f);
  int nd = kv_grid_ndims(g);
  const long *n = kv_grid_global_n(g);
  hid_t fapl = kv_h5_fapl_mpio(kv_grid_comm(g));
  hid_t file = H5I_INVALID_HID, d = H5I_INVALID_HID;
  int rc = kv_h5_open_ro(path, fapl, &file);
  H5Pclose(fapl);
  KV_CHECK(rc);
  hsize_t dims[8];
  int rank = 0;
  rc = kv_h5_open_numeric(file, path, dset, &d, &rank, dims);
  if (rc == KV_OK) {
    int lead = rank - nd;
    rc = check_shape(path, dset, rank, dims, nd, n);
    if (rc == KV_OK && lead == 1 && dims[0] == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has no time records", path, dset);
    } else if (rc == KV_OK) {
      long r = record < 0 ? (long)dims[0] - 1 : record;
      if (lead == 1 && r >= (long)dims[0]) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has %ld records; record %ld requested", path, dset,
                      (long)dims[0], r);
      } else {
        hid_t fs, ms;
        rc = kv_h5_select_block(d, f, lead, r, &fs, &ms);
        if (rc == KV_OK &&
            H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, kv_field_data(f)) < 0) {
          rc = kv_h5_read_failed(path, dset);
        }
        if (rc == KV_OK || fs >= 0) {
          H5Sclose(ms);
          H5Sclose(fs);
        }
      }
    }
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  H5Fclose(file);
  return rc;
}

static herr_t scale_name_cb_path(hid_t did, unsigned dim, hid_t dsid, void *data);

/* The file coordinate of one grid axis: the values of the dimension scale attached to file
 * dimension dim of d (NULL when none), and its units. */
static double *scale_values(hid_t d, unsigned dim, long n, char *units, size_t un) {
  units[0] = '\0';
  if (H5DSget_num_scales(d, dim) <= 0) {
    return NULL;
  }
  char path[512] = "";
  /* The first scale's path, then the scale opened by it. */
  H5DSiterate_scales(d, dim, NULL, scale_name_cb_path, path);
  if (!path[0]) {
    return NULL;
  }
  hid_t file = H5Iget_file_id(d);
  hid_t sd = H5Dopen2(file, path, H5P_DEFAULT);
  H5Fclose(file);
  if (sd < 0) {
    return NULL;
  }
  hid_t sp = H5Dget_space(sd);
  hsize_t len = 0;
  double *v = NULL;
  char *mark = kv_h5_read_text_attr(sd, "NAME");
  int pure = mark && !strncmp(mark, "This is a netCDF dimension", 26);
  free(mark);
  if (!pure && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &len, NULL) &&
      (long)len == n && (v = malloc((size_t)n * sizeof *v)) &&
      H5Dread(sd, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
    free(v);
    v = NULL;
  }
  char *u = kv_h5_read_text_attr(sd, "units");
  if (u) {
    snprintf(units, un, "%s", u);
    free(u);
  }
  H5Sclose(sp);
  H5Dclose(sd);
  return v;
}

/* Where each grid cell of one axis is in the file: map[i] = file index of grid coordinate g[i],
 * found by its value (a descending latitude is reversed, a longitude in -180..180 rotated to
 * 0..360 or the other way). KV_ERR_FORMAT naming both coordinates when a cell has no match. */
static int match_axis(const char *path, const char *dset, const char *name, const double *c,
                      const double *g, long n, int periodic, long *map) {
  double dx = n > 1 ? fabs(g[1] - g[0]) : 1.0, tol = 1e-3 * dx;
  for (long i = 0; i < n; i++) {
    long best = -1;
    double bd = INFINITY;
    for (long j = 0; j < n; j++) {
      double d = c[j] - g[i];
      if (periodic) {
        d = fmod(d, 360.0);
        d = d > 180.0 ? d - 360.0 : (d < -180.0 ? d + 360.0 : d);
      }
      if (fabs(d) < bd) {
        bd = fabs(d);
        best = j;
      }
    }
    if (bd > tol) {
      return KV_ERROR(KV_ERR_FORMAT,
                      "'%s:%s': its %s coordinate (%g .. %g) does not hold this grid's %s = %g "
                      "(the grid's %s runs %g .. %g in %ld cells); regrid the file to the run's "
                      "grid",
                      path, dset, name, c[0], c[n - 1], name, g[i], name, g[0], g[n - 1], n);
    }
    map[i] = best;
  }
  return KV_OK;
}

int kv_h5_read_field_matched(const char *path, const char *dset, long record, kv_field *f,
                             const kv_h5_axis *axes, const char *want_units) {
  const kv_grid *g = kv_field_grid(f);
  MPI_Comm comm = kv_grid_comm(g);
  int rank = kv_comm_rank(comm), nd = kv_grid_ndims(g);
  const long *n = kv_grid_global_n(g), *nl = kv_grid_local_n(g), *off = kv_grid_offset(g);
  KV_CHECK(kv_status_agree(comm, rank == 0 ? kv_h5_probe(path, 0) : KV_OK));
  /* Every rank reads the whole record (an input field: small) and takes its block through the
   * coordinate maps. */
  hid_t file = H5I_INVALID_HID, d = H5I_INVALID_HID;
  int rc = kv_h5_open_ro(path, H5P_DEFAULT, &file), drank = 0;
  hsize_t dims[8];
  if (rc == KV_OK) {
    rc = kv_h5_open_numeric(file, path, dset, &d, &drank, dims);
  }
  int lead = drank - nd;
  if (rc == KV_OK) {
    rc = check_shape(path, dset, drank, dims, nd, n);
    if (rc == KV_OK && lead == 1 && dims[0] == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has no time records", path, dset);
    }
  }
  long *map[3] = {NULL, NULL, NULL};
  double *all = NULL, scale = 1.0, shift = 0.0;
  size_t cnt = 1;
  for (int a = 0; rc == KV_OK && a < nd; a++) {
    cnt *= (size_t)n[a];
    map[a] = malloc((size_t)n[a] * sizeof *map[a]);
    double *gv = malloc((size_t)n[a] * sizeof *gv);
    char cu[64];
    double *c = scale_values(d, (unsigned)(lead + nd - 1 - a), n[a], cu, sizeof cu);
    if (!map[a] || !gv) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; rc == KV_OK && i < n[a]; i++) {
      gv[i] = axes ? axes[a].values[i] : kv_grid_coord(g, a, i);
      map[a][i] = i;
    }
    if (rc == KV_OK && c) {
      const char *gu = axes ? axes[a].units : NULL;
      int periodic = gu && !strcmp(gu, "degrees_east");
      if (gu && cu[0] && strncmp(cu, gu, 7) != 0 && strcmp(cu, gu) != 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s': axis %d is in %s, this grid's %s is in %s", path,
                      dset, a, cu, axes[a].name, gu);
      } else {
        rc = match_axis(path, dset, axes ? axes[a].name : "x", c, gv, n[a], periodic, map[a]);
      }
    }
    free(c);
    free(gv);
  }
  /* Units: converted where the conversion is exact (percent to fraction, K and degC), else
   * refused; a file without units is taken as given. */
  char *u = d >= 0 ? kv_h5_read_text_attr(d, "units") : NULL;
  if (rc == KV_OK && want_units && u && strcmp(u, want_units) != 0) {
    if (!strcmp(want_units, "1") && (!strcmp(u, "%") || !strcmp(u, "percent"))) {
      scale = 0.01;
    } else if (!strcmp(want_units, "K") && (!strcmp(u, "degC") || !strcmp(u, "Celsius"))) {
      shift = 273.15;
    } else if (!strcmp(want_units, "degC") && !strcmp(u, "K")) {
      shift = -273.15;
    } else if (!(!strcmp(want_units, "1") && (!strcmp(u, "") || !strcmp(u, "fraction")))) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' is in units '%s'; expected '%s'", path, dset, u,
                    want_units);
    }
  }
  free(u);
  if (rc == KV_OK) {
    all = malloc((cnt + 1) * sizeof *all);
    hid_t fs = H5Dget_space(d);
    hsize_t start[4] = {0, 0, 0, 0}, count[4];
    for (int k = 0; k < drank; k++) {
      count[k] = dims[k];
    }
    if (lead == 1) {
      start[0] = record < 0 ? dims[0] - 1 : (hsize_t)record;
      count[0] = 1;
      if (record >= (long)dims[0]) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has %ld records; record %ld requested", path, dset,
                      (long)dims[0], record);
      }
    }
    hsize_t mc = (hsize_t)cnt;
    hid_t ms = H5Screate_simple(1, &mc, NULL);
    if (rc == KV_OK &&
        (!all || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
         H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, all) < 0)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read '%s' (truncated or corrupt file?)", path,
                    dset);
    }
    H5Sclose(ms);
    H5Sclose(fs);
  }
  if (rc == KV_OK) {
    double *out = kv_field_data(f);
    const long *st = kv_field_stride(f);
    const int *gh = kv_field_ghost(f);
    long n0 = n[0], n1 = nd > 1 ? n[1] : 1;
    for (long k = 0; k < (nd > 2 ? nl[2] : 1); k++) {
      for (long j = 0; j < (nd > 1 ? nl[1] : 1); j++) {
        for (long i = 0; i < nl[0]; i++) {
          long fi = map[0][off[0] + i], fj = nd > 1 ? map[1][off[1] + j] : 0,
               fk = nd > 2 ? map[2][off[2] + k] : 0;
          out[kv_field_index(st, gh, i, j, k)] = scale * all[(fk * n1 + fj) * n0 + fi] + shift;
        }
      }
    }
  }
  for (int a = 0; a < 3; a++) {
    free(map[a]);
  }
  free(all);
  if (d >= 0) {
    H5Dclose(d);
  }
  if (file >= 0) {
    H5Fclose(file);
  }
  return kv_status_agree(comm, rc);
}

int kv_h5_read_field(const char *path, const char *dset, long record, kv_field *f) {
  MPI_Comm comm = kv_grid_comm(kv_field_grid(f));
  int rank;
  rank = kv_comm_rank(comm);
  /* One rank checks that the library survives the file's structure before all ranks open it. */
  KV_CHECK(kv_status_agree(comm, rank == 0 ? kv_h5_probe(path, 0) : KV_OK));
  return kv_status_agree(comm, read_field_local(path, dset, record, f));
}

/* ---------------------------------------------------------------- listing and description */

int kv_h5_is_pure_dim(hid_t d) {
  if (H5DSis_scale(d) <= 0) {
    return 0;
  }
  char *mark = kv_h5_read_text_attr(d, "NAME");
  int yes = mark && !strncmp(mark, "This is a netCDF dimension but not a netCDF variable", 52);
  free(mark);
  return yes;
}

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  names_t *nm = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
    return 0;
  }
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) {
    return 0;
  }
  hid_t t = H5Dget_type(d);
  H5T_class_t c = H5Tget_class(t);
  int dim_only = kv_h5_is_pure_dim(d);
  H5Tclose(t);
  H5Dclose(d);
  if ((c != H5T_FLOAT && c != H5T_INTEGER) || dim_only) {
    return 0;
  }
  size_t l = strlen(name);
  if (nm->len + l + 2 > nm->cap) {
    size_t cap = (nm->cap + l + 2) * 2;
    char *b = realloc(nm->buf, cap);
    if (!b) {
      return -1;
    }
    nm->buf = b;
    nm->cap = cap;
  }
  memcpy(nm->buf + nm->len, name, l);
  nm->len += l;
  nm->buf[nm->len++] = '\n';
  nm->buf[nm->len] = '\0';
  return 0;
}

int kv_h5_list_datasets(const char *path, char **names) {
  *names = NULL;
  hid_t file;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  names_t nm = {calloc(1, 1), 0, 1};
  herr_t e = nm.buf ? H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_cb, &nm) : -1;
  H5Fclose(file);
  if (e < 0) {
    free(nm.buf);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': cannot list datasets (corrupt file?)", path);
  }
  *names = nm.buf;
  return KV_OK;
}

/* Read a text attribute (fixed or variable length) into a malloc'd string, or NULL. */
char *kv_h5_read_text_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) {
    return NULL;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) {
    return NULL;
  }
  hid_t t = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) {
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts no strings between character sets */
      char *v = NULL;
      if (H5Aread(a, mt, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
      }
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(t);
      out = calloc(n + 1, 1);
      if (out && H5Aread(a, t, out) < 0) {
        free(out);
        out = NULL;
      }
    }
  }
  H5Tclose(t);
  H5Aclose(a);
  return out;
}

static herr_t attr_print_cb(hid_t loc, const char *name, const H5A_info_t *ai, void *data) {
  (void)ai;
  FILE *fp = data;
  if (strcmp(name, "config") == 0 || strcmp(name, "REFERENCE_LIST") == 0 ||
      strcmp(name, "DIMENSION_LIST") == 0 || strcmp(name, "CLASS") == 0 ||
      strcmp(name, "NAME") == 0) {
    return 0;
  }
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) {
    return 0;
  }
  hid_t t = H5Aget_type(a);
  hid_t s = H5Aget_space(a);
  hssize_t np = H5Sget_simple_extent_npoints(s);
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_STRING) {
    char *v = kv_h5_read_text_attr(loc, name);
    fprintf(fp, "    %s = \"%s\"\n", name, v ? v : "?");
    free(v);
  } else if ((c == H5T_FLOAT || c == H5T_INTEGER) && np >= 1 && np <= 16) {
    double v[16];
    if (H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
      fprintf(fp, "    %s =", name);
      for (hssize_t i = 0; i < np; i++) {
        fprintf(fp, " %.10g", v[i]);
      }
      fputc('\n', fp);
    }
  }
  H5Sclose(s);
  H5Tclose(t);
  H5Aclose(a);
  return 0;
}

static herr_t scale_name_cb(hid_t did, unsigned dim, hid_t dsid, void *data) {
  (void)did;
  (void)dim;
  char *buf = data, path[512];
  /* The scale's link name: a netCDF dimension without coordinates keeps a marker in its NAME. */
  if (H5Iget_name(dsid, path, sizeof path) <= 0) {
    buf[0] = '\0';
  } else {
    snprintf(buf, 64, "%.63s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
  }
  return 1; /* first scale only */
}

static herr_t scale_name_cb_path(hid_t did, unsigned dim, hid_t dsid, void *data) {
  (void)did;
  (void)dim;
  char *buf = data;
  if (H5Iget_name(dsid, buf, 512) <= 0) {
    buf[0] = '\0';
  }
  return 1;
}

static herr_t describe_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  FILE *fp = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) {
    return 0;
  }
  if (oi.type == H5O_TYPE_GROUP) {
    fprintf(fp, "  group /%s\n", name);
    return 0;
  }
  if (oi.type != H5O_TYPE_DATASET) {
    return 0;
  }
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) {
    fprintf(fp, "  /%s: unreadable\n", name);
    return 0;
  }
  if (kv_h5_is_pure_dim(d)) {
    H5Dclose(d);
    return 0;
  }
  hid_t t = H5Dget_type(d), s = H5Dget_space(d);
  int rank = H5Sget_simple_extent_ndims(s);
  hsize_t dims[8] = {0};
  if (rank > 0 && rank <= 8) {
    H5Sget_simple_extent_dims(s, dims, NULL);
  }
  H5T_class_t c = H5Tget_class(t);
  const char *tn = c == H5T_FLOAT     ? (H5Tget_size(t) == 8 ? "float64" : "float32")
                   : c == H5T_INTEGER ? "integer"
                   : c == H5T_STRING  ? "string"
                                      : "other";
  fprintf(fp, "  /%s  %s  shape (", name, tn);
  for (int i = 0; i < rank && i < 8; i++) {
    fprintf(fp, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  }
  fprintf(fp, ")");
  if (H5DSis_scale(d) > 0) {
    fprintf(fp, "  [dimension scale]");
  } else if (rank > 0 && rank <= 8) {
    fprintf(fp, "  dims (");
    for (int i = 0; i < rank; i++) {
      char sn[64] = "";
      if (H5DSget_num_scales(d, (unsigned)i) > 0) {
        H5DSiterate_scales(d, (unsigned)i, NULL, scale_name_cb, sn);
      }
      fprintf(fp, "%s%s", i ? ", " : "", sn[0] ? sn : "-");
    }
    fprintf(fp, ")");
  }
  fputc('\n', fp);
  H5Aiterate2(d, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_print_cb, fp);
  H5Sclose(s);
  H5Tclose(t);
  H5Dclose(d);
  return 0;
}

/* The child's work for kv_h5_probe: every read that info and compare will make, each attempted
 * whatever the others returned (a failed description must not hide a crashing listing). */
static int probe_child(const char *path, int data) {
  /* The default actions, not the MPI library's backtrace handlers: a crash here is expected. */
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    signal(sigs[i], SIG_DFL);
  }
  FILE *null = fopen("/dev/null", "w");
  if (null) {
    dup2(fileno(null), STDERR_FILENO); /* the library's last words are not the user's concern */
  }
  int rc = null ? kv_h5_describe(path, null) : KV_OK;
  if (null) {
    fclose(null);
  }
  if (data == 2) { /* kelvin info --verify: the whole walk (its outcome is the real walk's) */
    long nd, na;
    int sum;
    kv_h5_verify_walk(path, &nd, &na, &sum);
    return rc;
  }
  char *names = NULL;
  hid_t file = H5I_INVALID_HID;
  if (kv_h5_list_datasets(path, &names) == KV_OK && data &&
      kv_h5_open_ro(path, H5P_DEFAULT, &file) == KV_OK && kv_h5_has_checksums(file)) {
    H5Fclose(file); /* checksummed chunk indexes cannot lead the library astray */
  } else if (names && data && file >= 0) {
    for (char *p = names; *p;) {
      char *nl = strchr(p, '\n');
      *nl = '\0';
      /* Only chunked data goes through an index (a B-tree) a corruption can turn into a crash;
       * a contiguous or compact read fails cleanly. */
      hid_t d = H5Dopen2(file, p, H5P_DEFAULT);
      hid_t pl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
      H5D_layout_t lay = pl >= 0 ? H5Pget_layout(pl) : H5D_CHUNKED;
      if (pl >= 0) {
        H5Pclose(pl);
      }
      if (d >= 0) {
        H5Dclose(d);
      }
      kv_h5_array a;
      if (lay != H5D_CONTIGUOUS && lay != H5D_COMPACT && kv_h5_read_array(path, p, &a) == KV_OK) {
        kv_h5_array_free(&a);
      }
      p = nl + 1;
    }
    H5Fclose(file);
  }
  free(names);
  return rc;
}

static volatile sig_atomic_t g_probe_expired;

static void probe_alarm(int sig) {
  (void)sig;
  g_probe_expired = 1;
}

int kv_h5_probe(const char *path, int data) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    return KV_OK; /* cannot probe: the real reads still check every call */
  }
  if (pid == 0) {
    /* No MPI, no atexit handlers: only HDF5 reads, then _exit. */
    _exit(probe_child(path, data) == KV_OK ? 0 : 2);
  }
  /* Bounded: a damaged file can make the HDF5 library loop forever (a zeroed global heap). The
   * limit grows with the file (the probe reads its chunked data); KELVIN_PROBE_TIMEOUT (seconds)
   * sets it. */
  struct stat fst;
  double limit = 60.0 + (stat(path, &fst) == 0 ? (double)fst.st_size / 50e6 : 0.0);
  const char *env = getenv("KELVIN_PROBE_TIMEOUT");
  if (env && atof(env) > 0.0) {
    limit = atof(env);
  }
  /* A blocking wait that a timer interrupts (SIGALRM without SA_RESTART): no polling, so the
   * common probe of a few milliseconds costs nothing more. */
  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = probe_alarm;
  sigemptyset(&sa.sa_mask);
  /* Repeating after the limit, so that a signal landing just before the wait blocks is followed
   * by another that interrupts it. */
  struct itimerval tv = {{0, 100000}, {(time_t)limit, (suseconds_t)((limit - floor(limit)) * 1e6)}},
                   old_tv;
  if (tv.it_value.tv_sec == 0 && tv.it_value.tv_usec == 0) {
    tv.it_value.tv_usec = 1;
  }
  g_probe_expired = 0;
  sigaction(SIGALRM, &sa, &old_sa);
  setitimer(ITIMER_REAL, &tv, &old_tv);
  int st = 0, killed = 0;
  for (;;) {
    if (g_probe_expired && !killed) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    pid_t w = waitpid(pid, &st, 0);
    if (w == pid || (w < 0 && errno != EINTR)) {
      break;
    }
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old_sa, NULL);
  if (old_tv.it_value.tv_sec || old_tv.it_value.tv_usec) {
    setitimer(ITIMER_REAL, &old_tv, NULL);
  }
  if (killed) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' is corrupt or unreadable: reading it did not finish in %.3g s (a "
                    "damaged file can make the HDF5 library loop forever; the probe process was "
                    "stopped, kelvin itself is safe)",
                    path, limit);
  }
  /* The child ends with 0 or 2; anything else is a crash (a signal, a sanitizer's exit). */
  if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2)) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' is corrupt: the HDF5 library crashed reading it (%s %d in a probe "
                    "process; kelvin itself stopped safely)",
                    path, WIFSIGNALED(st) ? "signal" : "exit status",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
  return KV_OK;
}

int kv_h5_read_root_text(const char *path, const char *name, char *buf, size_t n) {
  hid_t file;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  char *v = kv_h5_read_text_attr(file, name);
  H5Fclose(file);
  if (!v) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no text attribute '%s'", path, name);
  }
  snprintf(buf, n, "%s", v);
  free(v);
  return KV_OK;
}

int kv_h5_describe(const char *path, void *stream) {
  FILE *fp = stream;
  hid_t file;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  fprintf(fp, "file %s\n  attributes:\n", path);
  herr_t e = H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_print_cb, fp);
  fprintf(fp, "  datasets:\n");
  if (e >= 0) {
    e = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, describe_cb, fp);
  }
  char *cfg = kv_h5_read_text_attr(file, "config");
  if (cfg) {
    fprintf(fp, "  config:\n");
    for (char *line = strtok(cfg, "\n"); line; line = strtok(NULL, "\n")) {
      fprintf(fp, "    %s\n", line);
    }
    free(cfg);
  }
  H5Fclose(file);
  return e < 0 ? KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read its structure (corrupt?)", path)
               : KV_OK;
}
