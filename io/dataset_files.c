/* Training and held-out data from files kelvin did not write (surrogate.data = files): fields
 * read by their coordinates with netCDF, their inputs from a table. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/dataset.h"
#include "io/ncvar.h"
#include "io/table.h"

/* Whether dimension 0 of v is time (named so, CF axis T, or units "... since ..."). */
static int leading_time(const kv_nc_var *v) {
  return v->ndims > 1 && (!strcmp(v->dimname[0], "time") || !strcmp(v->coord_axis[0], "T") ||
                          strstr(v->coord_units[0], " since ") != NULL);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a comma-separated list of glob patterns, sorted, into *files (count *n). */
static int expand(const char *patterns, char ***files, long *n) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", patterns);
  glob_t g;
  memset(&g, 0, sizeof g);
  int flags = 0, any = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    t = kv_table_trim(t);
    if (*t) {
      int e = glob(t, flags, NULL, &g);
      if (e != 0 && e != GLOB_NOMATCH) {
        globfree(&g);
        return KV_ERROR(KV_ERR_IO, "cannot list the files '%s'", t);
      }
      flags = GLOB_APPEND;
      any = 1;
    }
  }
  *n = any ? (long)g.gl_pathc : 0;
  *files = calloc((size_t)*n + 1, sizeof **files);
  for (long i = 0; *files && i < *n; i++) {
    (*files)[i] = strdup(g.gl_pathv[i]);
  }
  if (any) {
    globfree(&g);
  }
  if (!*files) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  qsort(*files, (size_t)*n, sizeof **files, cmp_str);
  return KV_OK;
}

/* The base name of a path. */
static const char *base_of(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int kv_dataset_read_files(const char *patterns, const char *table, const char *inputs,
                          const char *var, kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_FIELD;
  snprintf(ds->source, sizeof ds->source, "%s", patterns);
  snprintf(ds->yname, sizeof ds->yname, "%s", var);
  char **files = NULL;
  long nf = 0;
  KV_CHECK(expand(patterns, &files, &nf));
  kv_table t;
  memset(&t, 0, sizeof t);
  int rc =
      nf > 0 ? KV_OK : KV_ERROR(KV_ERR_CONFIG, "surrogate.files: no file matches '%s'", patterns);
  if (rc == KV_OK) {
    rc = kv_table_read_csv(table, &t);
  }
  /* Rows and files: row i is the i-th file in name order. */
  if (rc == KV_OK && t.nrows != nf) {
    rc = KV_ERROR(KV_ERR_FORMAT,
                  "%s has %ld rows but %ld files match '%s': one row per file, in the order of "
                  "the sorted file names",
                  table, t.nrows, nf, patterns);
  }
  /* The inputs: the named columns, or every column. */
  char names[2048];
  snprintf(names, sizeof names, "%s", inputs ? inputs : "");
  int *col = malloc(((size_t)t.ncols + 1) * sizeof *col);
  ds->names = calloc((size_t)t.ncols + 1, sizeof *ds->names);
  if (rc == KV_OK && (!col || !ds->names)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc == KV_OK && names[0]) {
    char *save = NULL;
    for (char *w = strtok_r(names, ",", &save); w && rc == KV_OK; w = strtok_r(NULL, ",", &save)) {
      w = kv_table_trim(w);
      int c = kv_table_column(&t, w);
      if (c < 0) {
        char hint[128];
        rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.inputs: %s has no column '%s'%s", table, w,
                      kv_table_suggest(&t, w, hint, sizeof hint));
      } else if (ds->d < t.ncols) {
        col[ds->d] = c;
        ds->names[ds->d++] = strdup(w);
      }
    }
  } else if (rc == KV_OK) {
    for (int c = 0; c < t.ncols; c++) {
      col[ds->d] = c;
      ds->names[ds->d++] = strdup(t.names[c]);
    }
  }
  ds->n = nf;
  ds->X = malloc((size_t)nf * (size_t)(ds->d ? ds->d : 1) * sizeof *ds->X);
  ds->label = malloc((size_t)nf * sizeof *ds->label);
  ds->files = calloc((size_t)nf, sizeof *ds->files);
  if (rc == KV_OK && (!ds->X || !ds->label || !ds->files)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (long i = 0; rc == KV_OK && i < nf; i++) {
    for (int k = 0; k < ds->d; k++) {
      ds->X[i * ds->d + k] = t.v[i * t.ncols + col[k]];
    }
    ds->label[i] = t.line[i];
    ds->files[i] = files[i];
    files[i] = NULL;
  }
  /* The fields: the last record of var in each file, on the first file's coordinates. */
  for (long i = 0; rc == KV_OK && i < nf; i++) {
    kv_nc_var v;
    rc = kv_nc_read(ds->files[i], var, &v);
    if (rc != KV_OK) {
      break;
    }
    int tm = leading_time(&v);
    long np = v.count / (tm ? v.dims[0] : 1);
    if (i == 0) {
      rc = kv_layout_from_nc(&v, tm, &ds->layout);
      ds->npts = np;
      ds->fields = rc == KV_OK ? malloc((size_t)nf * (size_t)np * sizeof *ds->fields) : NULL;
      if (rc == KV_OK && !ds->fields) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld fields of %ld points", nf, np);
      }
    } else if (np != ds->npts) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld points per record, '%s' %ld", ds->files[i],
                    var, np, base_of(ds->files[0]), ds->npts);
    }
    /* The same coordinates, so that point p is the same place in every file. */
    for (int k = 0; rc == KV_OK && k < ds->layout.ndims; k++) {
      int dd = v.ndims - 1 - k;
      for (long j = 0; v.coord[dd] && j < v.dims[dd] && rc == KV_OK; j++) {
        if (fabs(v.coord[dd][j] - ds->layout.coord[k][j]) >
            1e-9 * (1.0 + fabs(ds->layout.coord[k][j]))) {
          rc = KV_ERROR(KV_ERR_FORMAT,
                        "'%s': %s[%ld] = %g, but %g in '%s': the fields must share a grid",
                        ds->files[i], v.dimname[dd], j, v.coord[dd][j], ds->layout.coord[k][j],
                        base_of(ds->files[0]));
        }
      }
    }
    for (long q = 0; rc == KV_OK && q < np; q++) {
      double x = v.data[v.count - np + q];
      if (!isfinite(x)) {
        rc = KV_ERROR(KV_ERR_FORMAT,
                      "'%s': %s has a missing or non-finite value at point %ld of its last "
                      "record (masked points cannot be learned)",
                      ds->files[i], var, q);
      }
      ds->fields[i * np + q] = x;
    }
    kv_nc_var_free(&v);
  }
  if (rc == KV_OK) {
    rc = kv_dataset_check_inputs(ds, table);
  }
  for (long i = 0; i < nf; i++) {
    free(files[i]);
  }
  free(files);
  free(col);
  kv_table_free(&t);
  if (rc != KV_OK) {
    kv_dataset_free(ds);
  }
  return rc;
}

/* ------------------------------------------------------------- ClimateBench-style sets */

/* Calendar years of a time coordinate: the values themselves, or "days since Y-..." (365-day
 * years, as the noleap calendar of CMIP models) counted from Y. */
static void years_of(const kv_nc_var *v, int d, long *years) {
  int ref = 0;
  const char *u = v->coord_units[d];
  int days = sscanf(u, "days since %d", &ref) == 1;
  for (long t = 0; t < v->dims[d]; t++) {
    double x = v->coord[d] ? v->coord[d][t] : (double)t;
    years[t] = days ? ref + (long)floor(x / 365.0) : (long)floor(x + 1e-6);
  }
}

/* One scenario of a set: the member-mean series of var (nt x np) and its years. */
static int read_outputs(const char *dir, const char *scen, const char *var, int max_members,
                        double **series, long **years, long *nt, long *np, int *members,
                        kv_field_layout *L) {
  char path[4400];
  snprintf(path, sizeof path, "%s/outputs_%s.nc", dir, scen);
  kv_nc_var v;
  KV_CHECK(kv_nc_read(path, var, &v));
  int im = kv_nc_dim(&v, "member", NULL), it = kv_nc_dim(&v, "time", "T");
  int rc = KV_OK;
  if (it != (im == 0 ? 1 : 0) || v.ndims - (im >= 0) - 1 < 1) {
    rc = KV_ERROR(KV_ERR_FORMAT,
                  "'%s': %s is not ([member,] time, lat, lon) as in ClimateBench's outputs", path,
                  var);
  }
  long nm = im >= 0 ? v.dims[0] : 1;
  if (rc == KV_OK && max_members > 0 && nm > max_members) {
    nm = max_members;
  }
  *nt = rc == KV_OK ? v.dims[it] : 0;
  *np = rc == KV_OK ? v.count / (v.dims[it] * (im >= 0 ? v.dims[0] : 1)) : 0;
  *series = rc == KV_OK ? calloc((size_t)*nt * (size_t)*np + 1, sizeof **series) : NULL;
  *years = rc == KV_OK ? malloc(((size_t)*nt + 1) * sizeof **years) : NULL;
  if (rc == KV_OK && (!*series || !*years)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (long m = 0; rc == KV_OK && m < nm; m++) {
    const double *src = v.data + (size_t)m * (size_t)*nt * (size_t)*np;
    for (long i = 0; i < *nt * *np; i++) {
      if (!isfinite(src[i])) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has a missing value (member %ld)", path, var, m);
        break;
      }
      (*series)[i] += src[i] / (double)nm;
    }
  }
  if (rc == KV_OK) {
    years_of(&v, it, *years);
    *members = (int)nm;
  }
  if (rc == KV_OK && L && !L->ndims) {
    /* The layout of one member's (time, lat, lon) field. */
    kv_nc_var one = v;
    if (im >= 0) {
      memmove(one.dims, one.dims + 1, sizeof one.dims - sizeof one.dims[0]);
      memmove(one.dimname, one.dimname + 1, sizeof one.dimname - sizeof one.dimname[0]);
      memmove(one.coord, one.coord + 1, sizeof one.coord - sizeof one.coord[0]);
      memmove(one.coord_units, one.coord_units + 1,
              sizeof one.coord_units - sizeof one.coord_units[0]);
      memmove(one.coord_std, one.coord_std + 1, sizeof one.coord_std - sizeof one.coord_std[0]);
      memmove(one.coord_axis, one.coord_axis + 1, sizeof one.coord_axis - sizeof one.coord_axis[0]);
      memmove(one.calendar, one.calendar + 1, sizeof one.calendar - sizeof one.calendar[0]);
      one.ndims--;
    }
    rc = kv_layout_from_nc(&one, 1, L);
  }
  kv_nc_var_free(&v);
  return rc;
}

/* The forcing of one scenario per year: cumulative CO2 (the CO2 series of inputs_<scen>.nc) in
 * the CO2 column and the area-weighted global mean of SO2 in the aerosol column; the total is
 * unknown (NaN). w: area weights of the (lat, lon) points. */
static int read_inputs(const char *dir, const char *scen, long nt, const double *w, long np,
                       double *forcing) {
  char path[4400];
  snprintf(path, sizeof path, "%s/inputs_%s.nc", dir, scen);
  kv_nc_var co2, so2;
  KV_CHECK(kv_nc_read(path, "CO2", &co2));
  int rc = co2.count == nt ? KV_OK
                           : KV_ERROR(KV_ERR_FORMAT, "'%s': CO2 has %ld years, the outputs %ld",
                                      path, co2.count, nt);
  int have_so2 = rc == KV_OK && kv_nc_has(path, "SO2");
  if (have_so2) {
    rc = kv_nc_read(path, "SO2", &so2);
    if (rc == KV_OK && so2.count != nt * np) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': SO2 is not (time, lat, lon) on the outputs' grid", path);
      kv_nc_var_free(&so2);
    }
    have_so2 = rc == KV_OK;
  }
  double wsum = 0.0;
  for (long q = 0; q < np; q++) {
    wsum += w[q];
  }
  for (long t = 0; rc == KV_OK && t < nt; t++) {
    double a = 0.0;
    for (long q = 0; have_so2 && q < np; q++) {
      double x = so2.data[t * np + q];
      a += isfinite(x) ? w[q] * x : 0.0;
    }
    forcing[t * KV_FORCING_COLS + KV_FORCING_TOTAL] = NAN;
    forcing[t * KV_FORCING_COLS + KV_FORCING_CO2] = co2.data[t];
    forcing[t * KV_FORCING_COLS + KV_FORCING_AEROSOL] = have_so2 ? a / wsum : NAN;
    if (!isfinite(co2.data[t])) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': CO2 has a missing value", path);
    }
  }
  kv_nc_var_free(&co2);
  if (have_so2) {
    kv_nc_var_free(&so2);
  }
  return rc;
}

int kv_dataset_read_climatebench(const char *dir, const char *names, int max_members,
                                 const char *var, kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_SCENARIOS;
  snprintf(ds->source, sizeof ds->source, "%s", dir);
  char buf[1024], list[32][64];
  int ns = 0;
  snprintf(buf, sizeof buf, "%s", names);
  char *save = NULL;
  for (char *w = strtok_r(buf, ",", &save); w && ns < 32; w = strtok_r(NULL, ",", &save)) {
    w = kv_table_trim(w);
    if (*w) {
      snprintf(list[ns++], sizeof list[0], "%s", w);
    }
  }
  if (ns == 0) {
    return KV_ERROR(KV_ERR_CONFIG, "surrogate.train_scenarios: no scenario");
  }
  /* The historical run, prepended to every scenario that continues it (ClimateBench's SSPs start
   * in 2015, where historical ends), so each series starts in the control period. */
  char hp[4400];
  snprintf(hp, sizeof hp, "%s/outputs_historical.nc", dir);
  FILE *hf = fopen(hp, "rb");
  int has_hist = hf != NULL;
  if (hf) {
    fclose(hf);
  }
  double *hs = NULL, *hforc = NULL, *w = NULL;
  long *hy = NULL, hnt = 0, np = 0;
  int hm = 0, rc = KV_OK;
  ds->groups = calloc((size_t)ns, sizeof *ds->groups);
  ds->members = calloc((size_t)ns, sizeof *ds->members);
  if (!ds->groups || !ds->members) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc == KV_OK && has_hist) {
    rc = read_outputs(dir, "historical", var, max_members, &hs, &hy, &hnt, &np, &hm, &ds->layout);
    w = rc == KV_OK ? malloc((size_t)np * sizeof *w) : NULL;
    hforc = rc == KV_OK ? malloc((size_t)hnt * KV_FORCING_COLS * sizeof *hforc) : NULL;
    if (rc == KV_OK && (!w || !hforc)) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    if (rc == KV_OK) {
      kv_layout_weights(&ds->layout, w);
      rc = read_inputs(dir, "historical", hnt, w, np, hforc);
    }
  }
  for (int s = 0; rc == KV_OK && s < ns; s++) {
    double *sr = NULL, *f = NULL;
    long *yr = NULL, nt = 0, np2 = 0;
    int m = 0;
    snprintf(ds->groups[s], sizeof ds->groups[s], "%s", list[s]);
    int alone = !has_hist || !strcmp(list[s], "historical");
    rc = alone && has_hist
             ? KV_OK
             : read_outputs(dir, list[s], var, max_members, &sr, &yr, &nt, &np2, &m, &ds->layout);
    if (rc != KV_OK) {
      free(sr);
      free(yr);
      break;
    }
    if (!w) {
      np = np2;
      w = malloc((size_t)np * sizeof *w);
      rc = w ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
      if (rc == KV_OK) {
        kv_layout_weights(&ds->layout, w);
      }
    }
    if (rc == KV_OK && !(alone && has_hist) && np2 != np) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s/outputs_%s.nc: %ld points, the set's other files %ld", dir,
                    list[s], np2, np);
    }
    int join = rc == KV_OK && !alone && yr[0] == hy[hnt - 1] + 1;
    if (rc == KV_OK && !alone && !join) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "%s/outputs_%s.nc starts in %ld, not in %ld where historical ends: a "
                    "scenario continues the historical run",
                    dir, list[s], yr[0], hy[hnt - 1] + 1);
    }
    long total = (alone && has_hist) ? hnt : (join ? hnt : 0) + nt;
    long y0 = (alone && has_hist) || join ? hy[0] : yr[0];
    if (rc == KV_OK && s > 0 && (total != ds->nt || y0 != ds->year0)) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "scenario %s covers %ld-%ld, %s %d-%ld: the scenarios of a fit share their "
                    "years",
                    list[s], y0, y0 + total - 1, list[0], ds->year0, ds->year0 + ds->nt - 1);
    }
    if (rc == KV_OK && s == 0) {
      ds->nt = total;
      ds->year0 = (int)y0;
      ds->npts = np;
      ds->series = malloc((size_t)ns * (size_t)total * (size_t)np * sizeof *ds->series);
      ds->forcing = malloc((size_t)ns * (size_t)total * KV_FORCING_COLS * sizeof *ds->forcing);
      if (!ds->series || !ds->forcing) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      }
    }
    f = rc == KV_OK && !(alone && has_hist) ? malloc(((size_t)nt * KV_FORCING_COLS + 1) * sizeof *f)
                                            : NULL;
    if (rc == KV_OK && !(alone && has_hist)) {
      rc = f ? read_inputs(dir, list[s], nt, w, np, f) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    if (rc == KV_OK) {
      double *S = ds->series + (size_t)s * (size_t)total * (size_t)np;
      double *F = ds->forcing + (size_t)s * (size_t)total * KV_FORCING_COLS;
      long h = (alone && has_hist) || join ? hnt : 0;
      if (h) {
        memcpy(S, hs, (size_t)hnt * (size_t)np * sizeof *S);
        memcpy(F, hforc, (size_t)hnt * KV_FORCING_COLS * sizeof *F);
      }
      if (!(alone && has_hist)) {
        memcpy(S + (size_t)h * (size_t)np, sr, (size_t)nt * (size_t)np * sizeof *S);
        memcpy(F + (size_t)h * KV_FORCING_COLS, f, (size_t)nt * KV_FORCING_COLS * sizeof *F);
      }
      ds->members[s] = alone && has_hist ? hm : m;
    }
    free(sr);
    free(yr);
    free(f);
  }
  ds->ngroups = ns;
  free(hs);
  free(hy);
  free(hforc);
  free(w);
  if (rc != KV_OK) {
    kv_dataset_free(ds);
  }
  return rc;
}
