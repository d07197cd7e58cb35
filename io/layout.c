#include "io/layout.h"
#include "io/ncvar.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/history.h"
#include "core/status.h"

void kv_layout_free(kv_field_layout *L) {
  if (!L) {
    return;
  }
  for (int k = 0; k < 3; k++) {
    free(L->coord[k]);
    L->coord[k] = NULL;
  }
}

int kv_layout_copy(kv_field_layout *dst, const kv_field_layout *src) {
  *dst = *src;
  for (int k = 0; k < 3; k++) {
    dst->coord[k] = NULL;
  }
  for (int k = 0; k < src->ndims; k++) {
    dst->coord[k] = malloc(((size_t)src->n[k] + 1) * sizeof *dst->coord[k]);
    if (!dst->coord[k]) {
      kv_layout_free(dst);
      return KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    memcpy(dst->coord[k], src->coord[k], (size_t)src->n[k] * sizeof *dst->coord[k]);
  }
  return KV_OK;
}

long kv_layout_points(const kv_field_layout *L) {
  long n = 1;
  for (int k = 0; k < L->ndims; k++) {
    n *= L->n[k];
  }
  return n;
}

int kv_layout_is_sphere(const kv_field_layout *L) {
  return L->ndims == 2 && strcmp(L->axis_name[0], "lon") == 0;
}

void kv_layout_weights(const kv_field_layout *L, double *w) {
  long nx = L->n[0], ny = L->ndims > 1 ? L->n[1] : 1, nz = L->ndims > 2 ? L->n[2] : 1;
  int sphere = kv_layout_is_sphere(L);
  for (long p = 0; p < nx * ny * nz; p++) {
    w[p] = sphere ? cos(L->coord[1][(p / nx) % ny] * 3.14159265358979323846 / 180.0) : 1.0;
  }
}

static int read_text_or_empty(kv_h5_store *h, const char *obj, const char *name, char *buf,
                              size_t n) {
  char *v = NULL;
  buf[0] = '\0';
  if (kv_h5_store_get_text(h, obj, name, &v) == KV_OK) {
    snprintf(buf, n, "%s", v);
  }
  free(v);
  return KV_OK;
}

/* The layout of var in a case file: axes (lat/lon for the climate model, x/y/z otherwise), their
 * coordinates and attributes, and the final time stamp. */
int kv_layout_from_nc(const kv_nc_var *v, int has_time, kv_field_layout *L) {
  memset(L, 0, sizeof *L);
  int nd = v->ndims - (has_time ? 1 : 0);
  if (nd < 1 || nd > 3) {
    return KV_ERROR(KV_ERR_FORMAT, "%s: %d space dimensions; a field has 1 to 3", v->name, nd);
  }
  L->ndims = nd;
  snprintf(L->var, sizeof L->var, "%.63s", v->name);
  snprintf(L->units, sizeof L->units, "%s", v->units);
  snprintf(L->long_name, sizeof L->long_name, "%s", v->long_name);
  for (int k = 0; k < nd; k++) {
    int d = v->ndims - 1 - k; /* x, the fastest, is the last dimension */
    L->n[k] = v->dims[d];
    L->coord[k] = malloc((size_t)L->n[k] * sizeof *L->coord[k]);
    if (!L->coord[k]) {
      kv_layout_free(L);
      return KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < L->n[k]; i++) {
      L->coord[k][i] = v->coord[d] ? v->coord[d][i] : (double)i;
    }
    snprintf(L->axis_name[k], sizeof L->axis_name[k], "%s", v->dimname[d]);
    snprintf(L->axis_units[k], sizeof L->axis_units[k], "%.63s",
             v->coord_units[d][0] ? v->coord_units[d] : "1");
    snprintf(L->axis_std[k], sizeof L->axis_std[k], "%s", v->coord_std[d]);
    snprintf(L->axis_long[k], sizeof L->axis_long[k], "%s", v->dimname[d]);
    snprintf(L->axis_letter[k], sizeof L->axis_letter[k], "%s",
             v->coord_axis[d][0] ? v->coord_axis[d] : (const char *[]){"X", "Y", "Z"}[k]);
  }
  if (has_time) {
    L->time = v->coord[0] ? v->coord[0][v->dims[0] - 1] : (double)(v->dims[0] - 1);
    snprintf(L->time_units, sizeof L->time_units, "%.127s", v->coord_units[0]);
    snprintf(L->calendar, sizeof L->calendar, "%s", v->calendar[0]);
  }
  return KV_OK;
}

int kv_layout_read(const char *file, const char *var, kv_field_layout *L) {
  memset(L, 0, sizeof *L);
  kv_h5_array a;
  KV_CHECK(kv_h5_read_array(file, var, &a));
  int nd = a.rank - 1;
  long dims[8];
  memcpy(dims, a.dims, sizeof dims);
  kv_h5_array_free(&a);
  if (nd < 1 || nd > 3) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a (time, space) field", file, var);
  }
  kv_h5_store *h;
  KV_CHECK(kv_h5_store_open(file, &h));
  int latlon = kv_h5_store_has(h, "/lat") && kv_h5_store_has(h, "/lon");
  if (!latlon && !kv_h5_store_has(h, "/x")) {
    /* Axes of other names (an external simulator's): read by the field's own dimensions. */
    kv_h5_store_close(h, 0);
    kv_nc_var v;
    KV_CHECK(kv_nc_read(file, var, &v));
    int rc = kv_layout_from_nc(&v, 1, L);
    kv_nc_var_free(&v);
    return rc;
  }
  const char *names[3];
  if (latlon) {
    names[0] = "lon";
    names[1] = "lat";
  } else {
    names[0] = "x";
    names[1] = "y";
    names[2] = "z";
  }
  int rc = KV_OK;
  L->ndims = nd;
  snprintf(L->var, sizeof L->var, "%s", var);
  char obj[80];
  snprintf(obj, sizeof obj, "/%s", var);
  read_text_or_empty(h, obj, "units", L->units, sizeof L->units);
  read_text_or_empty(h, obj, "long_name", L->long_name, sizeof L->long_name);
  read_text_or_empty(h, "/time", "units", L->time_units, sizeof L->time_units);
  read_text_or_empty(h, "/time", "calendar", L->calendar, sizeof L->calendar);
  for (int k = 0; k < nd && rc == KV_OK; k++) {
    snprintf(obj, sizeof obj, "/%s", names[k]);
    snprintf(L->axis_name[k], sizeof L->axis_name[k], "%s", names[k]);
    rc = kv_h5_read_array(file, obj, &a);
    if (rc != KV_OK) {
      break;
    }
    L->n[k] = a.count;
    L->coord[k] = a.data;
    if (a.count != dims[nd - k]) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld values, %s has %ld along that axis", file, obj,
                    a.count, var, dims[nd - k]);
    }
    read_text_or_empty(h, obj, "units", L->axis_units[k], sizeof L->axis_units[k]);
    read_text_or_empty(h, obj, "standard_name", L->axis_std[k], sizeof L->axis_std[k]);
    read_text_or_empty(h, obj, "long_name", L->axis_long[k], sizeof L->axis_long[k]);
    read_text_or_empty(h, obj, "axis", L->axis_letter[k], sizeof L->axis_letter[k]);
  }
  int rc2 = kv_h5_store_close(h, 0);
  if (rc == KV_OK) {
    rc = rc2;
  }
  if (rc == KV_OK) {
    rc = kv_h5_read_array(file, "time", &a);
    if (rc == KV_OK) {
      L->time = a.data[a.count - 1];
      kv_h5_array_free(&a);
    }
  }
  return rc;
}

int kv_layout_save(const kv_field_layout *L, kv_h5_store *h) {
  KV_CHECK(kv_h5_store_put_text(h, "/field", "var", L->var));
  KV_CHECK(kv_h5_store_put_text(h, "/field", "units", L->units));
  KV_CHECK(kv_h5_store_put_text(h, "/field", "long_name", L->long_name));
  KV_CHECK(kv_h5_store_put_text(h, "/field", "time_units", L->time_units));
  KV_CHECK(kv_h5_store_put_text(h, "/field", "calendar", L->calendar));
  KV_CHECK(kv_h5_store_put_number(h, "/field", "time", L->time));
  KV_CHECK(kv_h5_store_put_number(h, "/field", "ndims", L->ndims));
  for (int k = 0; k < L->ndims; k++) {
    char name[64];
    snprintf(name, sizeof name, "/field/axis_%d", k);
    KV_CHECK(kv_h5_store_put(h, name, 1, &L->n[k], L->coord[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "name", L->axis_name[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "units", L->axis_units[k]));
    if (L->axis_std[k][0]) {
      KV_CHECK(kv_h5_store_put_text(h, name, "standard_name", L->axis_std[k]));
    }
    KV_CHECK(kv_h5_store_put_text(h, name, "long_name", L->axis_long[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "axis", L->axis_letter[k]));
  }
  return KV_OK;
}

int kv_layout_put_maps(kv_h5_store *h, const kv_field_layout *L, const char *name, const char *lead,
                       long nlead, const double *v, const char *units, const char *long_name) {
  long dims[5];
  const char *names[5];
  int r = 0;
  if (lead) {
    names[r] = lead;
    dims[r++] = nlead;
  }
  /* The layout's axes as root coordinate variables (once per file), last axis fastest. */
  for (int k = L->ndims - 1; k >= 0; k--) {
    char cname[64];
    snprintf(cname, sizeof cname, "/%s", L->axis_name[k]);
    if (!kv_h5_store_has(h, cname)) {
      KV_CHECK(kv_h5_store_coord(h, cname, L->n[k], L->coord[k], L->axis_units[k], L->axis_std[k],
                                 L->axis_long[k]));
    }
    names[r] = L->axis_name[k];
    dims[r++] = L->n[k];
  }
  KV_CHECK(kv_h5_store_put_dims(h, name, r, dims, v, names));
  if (units && *units) {
    KV_CHECK(kv_h5_store_put_text(h, name, "units", units));
  }
  return long_name ? kv_h5_store_put_text(h, name, "long_name", long_name) : KV_OK;
}

static int copy_text(kv_h5_store *h, const char *obj, const char *name, char *buf, size_t n) {
  char *v = NULL;
  KV_CHECK(kv_h5_store_get_text(h, obj, name, &v));
  snprintf(buf, n, "%s", v);
  free(v);
  return KV_OK;
}

int kv_layout_load(kv_h5_store *h, kv_field_layout *L) {
  memset(L, 0, sizeof *L);
  double v;
  KV_CHECK(copy_text(h, "/field", "var", L->var, sizeof L->var));
  KV_CHECK(copy_text(h, "/field", "units", L->units, sizeof L->units));
  KV_CHECK(copy_text(h, "/field", "long_name", L->long_name, sizeof L->long_name));
  KV_CHECK(copy_text(h, "/field", "time_units", L->time_units, sizeof L->time_units));
  KV_CHECK(copy_text(h, "/field", "calendar", L->calendar, sizeof L->calendar));
  KV_CHECK(kv_h5_store_get_number(h, "/field", "time", &L->time));
  KV_CHECK(kv_h5_store_get_number(h, "/field", "ndims", &v));
  L->ndims = (int)v;
  if (L->ndims < 1 || L->ndims > 3) {
    return KV_ERROR(KV_ERR_FORMAT, "model file: field with %d dimensions", L->ndims);
  }
  for (int k = 0; k < L->ndims; k++) {
    char name[64];
    kv_h5_array a;
    snprintf(name, sizeof name, "/field/axis_%d", k);
    KV_CHECK(kv_h5_store_get(h, name, &a));
    L->n[k] = a.count;
    L->coord[k] = a.data;
    KV_CHECK(copy_text(h, name, "name", L->axis_name[k], sizeof L->axis_name[k]));
    KV_CHECK(copy_text(h, name, "units", L->axis_units[k], sizeof L->axis_units[k]));
    read_text_or_empty(h, name, "standard_name", L->axis_std[k], sizeof L->axis_std[k]);
    kv_error_clear();
    KV_CHECK(copy_text(h, name, "long_name", L->axis_long[k], sizeof L->axis_long[k]));
    KV_CHECK(copy_text(h, name, "axis", L->axis_letter[k], sizeof L->axis_letter[k]));
  }
  return KV_OK;
}

int kv_layout_write_field(const kv_field_layout *L, long nrec, const double *times,
                          const double *mean, const double *var, const char *path,
                          const char *config, const kv_layout_meta *meta) {
  long npts = kv_layout_points(L);
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = L->ndims;
  for (int k = 0; k < L->ndims; k++) {
    gp.n[k] = L->n[k];
    gp.procs[k] = 1;
  }
  gp.serial = 1; /* a prediction file: one process, no MPI needed */
  kv_grid *g = NULL;
  kv_field *fm = NULL, *fs = NULL;
  kv_h5_writer *w = NULL;
  int rc = KV_OK;
  KV_TRY(kv_grid_create(MPI_COMM_SELF, &gp, &g));
  KV_TRY(kv_field_create(g, &fm));
  KV_TRY(kv_field_create(g, &fs));
  kv_h5_axis axes[3];
  for (int k = 0; k < L->ndims; k++) {
    axes[k] = (kv_h5_axis){L->axis_name[k], L->axis_units[k],  L->axis_std[k],
                           L->axis_long[k], L->axis_letter[k], L->coord[k]};
  }
  char history[4200];
  kv_h5_writer_params wp = {path,
                            2, /* replaces only a file kelvin wrote */
                            "surrogate",
                            "kelvin surrogate prediction",
                            config,
                            L->axis_units[0],
                            L->time_units,
                            axes,
                            L->calendar[0] ? L->calendar : NULL,
                            0.0,
                            kv_history_line(NULL, history, sizeof history),
                            0,
                            0};
  KV_TRY(kv_h5_writer_create(g, &wp, &w));
  for (int a = 0; meta && a < meta->nattrs; a++) {
    KV_TRY(kv_h5_writer_attr_text(w, meta->attr_name[a], meta->attr_value[a]));
  }
  const char *lname = meta && meta->long_name ? meta->long_name : L->long_name;
  char sname[80], slong[600];
  snprintf(sname, sizeof sname, "%s_std", L->var);
  snprintf(slong, sizeof slong, "standard deviation of the prediction of %s", lname);
  for (long r = 0; r < nrec; r++) {
    {
      const long *st = kv_field_stride(fm);
      const int *gh = kv_field_ghost(fm);
      double *dm = kv_field_data(fm), *ds = kv_field_data(fs);
      long p = 0;
      for (long kk = 0; kk < (L->ndims > 2 ? L->n[2] : 1); kk++) {
        for (long j = 0; j < (L->ndims > 1 ? L->n[1] : 1); j++) {
          for (long i = 0; i < L->n[0]; i++, p++) {
            long q = kv_field_index(st, gh, i, j, kk);
            dm[q] = mean[r * npts + p];
            ds[q] = var ? sqrt(var[r * npts + p] > 0 ? var[r * npts + p] : 0.0) : 0.0;
          }
        }
      }
    }
    kv_output_list l = {0};
    KV_TRY(kv_output_add_field(&l, L->var, L->units, lname, fm));
    if (var) {
      KV_TRY(kv_output_add_field(&l, sname, L->units, slong, fs));
    }
    KV_TRY(kv_h5_writer_append(w, times ? times[r] : L->time, &l));
  }
  rc = kv_h5_writer_close(w, NULL, NULL, NULL, 0);
  w = NULL;
cleanup:
  kv_h5_writer_free(w);
  kv_field_free(fm);
  kv_field_free(fs);
  kv_grid_free(g);
  return rc;
}
