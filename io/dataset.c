#define _POSIX_C_SOURCE 200809L /* strdup */
#include "io/dataset.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/manifest.h"
#include "io/table.h"

const kv_config_key kv_dataset_keys[] = {
    {"surrogate.data", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "training data: a table (CSV, blank-separated, Dakota tabular), a sweep directory (default: "
     "the [sweep] section's), files (fields of files kelvin did not write: surrogate.files), or "
     "for pod a run's output file"},
    {"surrogate.inputs", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "comma-separated input names (CSV columns; for a sweep: default every varied key)"},
    {"surrogate.output", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "CSV data: the output column"},
    {"surrogate.qoi", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "sweep data, scalar kinds: a time series of the case files (final value, e.g. T_mean) or "
     "VAR_max/VAR_min/VAR_mean of a field at the final time (e.g. T_max)"},
    {"surrogate.field", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "field kinds: the field variable (default: the state variable of the model that wrote the "
     "cases, e.g. T or tas)"},
    {"surrogate.train_scenarios", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "scenario kinds: the scenarios of the ensemble to train on (e.g. ssp126, ssp370, ssp585)"},
    {"surrogate.files", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "surrogate.data = files: the field files (netCDF or HDF5), comma-separated glob patterns "
     "(e.g. out/run_*.nc), taken in name order; for scenario kinds the directory of a "
     "ClimateBench-style set (inputs_<scenario>.nc, outputs_<scenario>.nc)"},
    {"surrogate.inputs_table", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "surrogate.data = files: the inputs of the files, a table (CSV, blank-separated or Dakota "
     "tabular) with one row per file in name order"},
    {"surrogate.snapshot_every", KV_CFG_INT, "1", NULL, 1, 1.0e9,
     "pod: a model whose records are not states (ebm: annual means) is run again for its "
     "snapshots; keep every this many steps"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static void copy_key(const kv_config *cfg, const char *key, char *buf, size_t n) {
  const char *v = kv_config_value(cfg, key);
  snprintf(buf, n, "%s", v ? v : "");
}

int kv_dataset_params_from_config(const kv_config *cfg, kv_dataset_params *p) {
  memset(p, 0, sizeof *p);
  copy_key(cfg, "surrogate.data", p->data, sizeof p->data);
  copy_key(cfg, "surrogate.inputs", p->inputs, sizeof p->inputs);
  copy_key(cfg, "surrogate.output", p->output, sizeof p->output);
  copy_key(cfg, "surrogate.qoi", p->qoi, sizeof p->qoi);
  copy_key(cfg, "surrogate.field", p->field, sizeof p->field);
  copy_key(cfg, "surrogate.train_scenarios", p->scenarios, sizeof p->scenarios);
  copy_key(cfg, "surrogate.files", p->files, sizeof p->files);
  copy_key(cfg, "surrogate.inputs_table", p->inputs_table, sizeof p->inputs_table);
  p->snapshot_every = 1;
  if (kv_config_has(cfg, "surrogate.snapshot_every")) {
    KV_CHECK(
        kv_config_get_int(cfg, "surrogate.snapshot_every", 1, 1000000000L, &p->snapshot_every));
  }
  return KV_OK;
}

void kv_dataset_free(kv_dataset *ds) {
  if (!ds) {
    return;
  }
  for (int k = 0; k < ds->d && ds->names; k++) {
    free(ds->names[k]);
  }
  for (long i = 0; i < ds->n && ds->files; i++) {
    free(ds->files[i]);
  }
  free(ds->names);
  free(ds->files);
  free(ds->X);
  free(ds->lo);
  free(ds->hi);
  free(ds->y);
  free(ds->label);
  free(ds->fields);
  free(ds->groups);
  free(ds->members);
  free(ds->series);
  free(ds->forcing);
  free(ds->S);
  free(ds->F);
  free(ds->uref);
  kv_layout_free(&ds->layout);
  memset(ds, 0, sizeof *ds);
}

void kv_dataset_column_range(const kv_dataset *ds, int j, double *lo, double *hi) {
  *lo = ds->n ? ds->X[j] : 0.0;
  *hi = *lo;
  for (long i = 1; i < ds->n; i++) {
    double v = ds->X[i * ds->d + j];
    *lo = v < *lo ? v : *lo;
    *hi = v > *hi ? v : *hi;
  }
}

int kv_dataset_subset(const kv_dataset *ds, const long *rows, long m, kv_dataset *out) {
  memset(out, 0, sizeof *out);
  out->kind = ds->kind;
  snprintf(out->source, sizeof out->source, "%s", ds->source);
  snprintf(out->yname, sizeof out->yname, "%s", ds->yname);
  int d = ds->d;
  long P = ds->fields ? ds->npts : 0;
  out->n = m;
  out->d = d;
  out->npts = ds->npts;
  out->names = calloc((size_t)d + 1, sizeof *out->names);
  out->X = malloc(((size_t)m * (size_t)d + 1) * sizeof *out->X);
  out->lo = malloc(((size_t)d + 1) * sizeof *out->lo);
  out->hi = malloc(((size_t)d + 1) * sizeof *out->hi);
  out->y = ds->y ? malloc(((size_t)m + 1) * sizeof *out->y) : NULL;
  out->fields = P ? malloc(((size_t)m * (size_t)P + 1) * sizeof *out->fields) : NULL;
  int ok = out->names && out->X && out->lo && out->hi && (!ds->y || out->y) && (!P || out->fields);
  for (int k = 0; ok && k < d; k++) {
    ok = (out->names[k] = strdup(ds->names[k])) != NULL;
  }
  if (!ok) {
    kv_dataset_free(out);
    return KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld rows", m);
  }
  for (long i = 0; i < m; i++) {
    long r = rows[i];
    memcpy(out->X + i * d, ds->X + r * d, (size_t)d * sizeof *out->X);
    if (out->y) {
      out->y[i] = ds->y[r];
    }
    if (P) {
      memcpy(out->fields + i * P, ds->fields + r * P, (size_t)P * sizeof *out->fields);
    }
  }
  for (int k = 0; k < d; k++) {
    kv_dataset_column_range(out, k, &out->lo[k], &out->hi[k]);
  }
  if (P) {
    int rc = kv_layout_copy(&out->layout, &ds->layout);
    if (rc != KV_OK) {
      kv_dataset_free(out);
      return rc;
    }
  }
  return KV_OK;
}

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a > b && strcmp(s + a - b, tail) == 0;
}

int kv_dataset_is_csv(const char *path) {
  return ends_with(path, ".csv") || ends_with(path, ".dat") || ends_with(path, ".tsv") ||
         ends_with(path, ".txt");
}
int kv_dataset_is_h5(const char *path) {
  return ends_with(path, ".h5");
}

/* Split "a, b, c" into trimmed names; returns the count (-1: out of memory). */
static int split_names(const char *text, char ***out) {
  char *buf = strdup(text);
  int n = 0;
  char **v = NULL;
  if (!buf) {
    return -1;
  }
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    tok = kv_table_trim(tok);
    char **nv = realloc(v, (size_t)(n + 1) * sizeof *nv);
    if (!nv || !(nv[n] = strdup(tok))) {
      if (nv) {
        v = nv;
      }
      n = -1;
      break;
    }
    v = nv;
    n++;
  }
  free(buf);
  *out = v;
  return n;
}

/* A row of X for sorting: each carries what the comparison needs (no globals). */
typedef struct {
  const double *x;
  int d;
  long i;
} row_ref;

static int row_cmp(const void *a, const void *b) {
  const row_ref *r = a, *s = b;
  for (int k = 0; k < r->d; k++) {
    if (r->x[k] != s->x[k]) {
      return r->x[k] < s->x[k] ? -1 : 1;
    }
  }
  return r->i < s->i ? -1 : r->i > s->i;
}

/* The input ranges, then bad training data named by row and column before any fitting. */
int kv_dataset_check_inputs(kv_dataset *ds, const char *src) {
  const char *what = ds->from_sweep ? "case" : "line";
  ds->lo = malloc(((size_t)ds->d + 1) * sizeof *ds->lo);
  ds->hi = malloc(((size_t)ds->d + 1) * sizeof *ds->hi);
  if (!ds->lo || !ds->hi) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (int k = 0; k < ds->d; k++) {
    ds->lo[k] = ds->hi[k] = ds->n > 0 ? ds->X[k] : NAN;
    for (long i = 1; i < ds->n; i++) {
      ds->lo[k] = fmin(ds->lo[k], ds->X[i * ds->d + k]);
      ds->hi[k] = fmax(ds->hi[k], ds->X[i * ds->d + k]);
    }
  }
  if (ds->n <= ds->d) {
    return KV_ERROR(KV_ERR_FORMAT, "%s: %ld rows for %d inputs: need more rows than inputs", src,
                    ds->n, ds->d);
  }
  for (int k = 0; k < ds->d; k++) {
    if (ds->lo[k] == ds->hi[k]) {
      return KV_ERROR(KV_ERR_FORMAT,
                      "%s: input column '%s' is constant (%g in every row): it "
                      "carries no information; leave it out of surrogate.inputs",
                      src, ds->names[k], ds->X[k]);
    }
  }
  row_ref *idx = malloc((size_t)ds->n * sizeof *idx);
  if (!idx) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (long i = 0; i < ds->n; i++) {
    idx[i] = (row_ref){ds->X + i * ds->d, ds->d, i};
  }
  qsort(idx, (size_t)ds->n, sizeof *idx, row_cmp);
  int rc = KV_OK;
  for (long i = 1; i < ds->n && rc == KV_OK; i++) {
    long a = idx[i - 1].i, b = idx[i].i;
    if (memcmp(idx[i - 1].x, idx[i].x, (size_t)ds->d * sizeof(double)) == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "%s: %s %ld and %s %ld have the same inputs (duplicate "
                    "rows); remove one or average them",
                    src, what, ds->label[a], what, ds->label[b]);
    }
  }
  free(idx);
  return rc;
}

/* A list of column names for messages: "a, b, c" (at most n bytes). */
static void name_list(char *const *names, int count, char *buf, size_t n) {
  buf[0] = '\0';
  for (int c = 0; c < count; c++) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", c ? ", " : "", names[c]);
  }
}

int kv_dataset_read_csv(const kv_dataset_params *p, kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_SCALAR;
  snprintf(ds->source, sizeof ds->source, "%s", p->data);
  kv_table t;
  KV_CHECK(kv_table_read_csv(p->data, &t));
  int rc = KV_OK;
  ds->d = split_names(p->inputs, &ds->names);
  if (ds->d < 0) {
    ds->d = 0;
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  ds->n = t.nrows;
  ds->X = malloc((size_t)t.nrows * (size_t)(ds->d ? ds->d : 1) * sizeof *ds->X);
  ds->y = malloc((size_t)t.nrows * sizeof *ds->y);
  ds->label = malloc((size_t)t.nrows * sizeof *ds->label);
  if (rc == KV_OK && (!ds->X || !ds->y || !ds->label)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int *cols = malloc(((size_t)ds->d + 1) * sizeof *cols), yc = -1;
  if (rc == KV_OK && !cols) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc == KV_OK && ds->d < 1) {
    rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.inputs: names no column of %s", p->data);
  }
  for (int k = 0; rc == KV_OK && k < ds->d; k++) {
    cols[k] = kv_table_column(&t, ds->names[k]);
    if (cols[k] < 0) {
      char have[1024], hint[128];
      name_list(t.names, t.ncols, have, sizeof have);
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s'%s (surrogate.inputs); the header has: %s",
                    p->data, ds->names[k], kv_table_suggest(&t, ds->names[k], hint, sizeof hint),
                    have);
    }
  }
  if (rc == KV_OK && (yc = kv_table_column(&t, p->output)) < 0) {
    char hint[128];
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s'%s (surrogate.output)", p->data, p->output,
                  kv_table_suggest(&t, p->output, hint, sizeof hint));
  }
  snprintf(ds->yname, sizeof ds->yname, "%s", p->output);
  /* Finite but beyond this, the squares and products of a fit overflow to inf. */
  const double too_large = 1e150;
  for (long i = 0; rc == KV_OK && i < t.nrows; i++) {
    for (int k = 0; k <= ds->d && rc == KV_OK; k++) {
      int c = k < ds->d ? cols[k] : yc;
      double v = t.v[i * t.ncols + c];
      if (fabs(v) > too_large) {
        rc = KV_ERROR(KV_ERR_FORMAT,
                      "%s:%ld: column '%s' = %g is too large to fit (beyond 1e150 the squares "
                      "and products of a fit overflow); rescale the column",
                      p->data, t.line[i], t.names[c], v);
      } else if (k < ds->d) {
        ds->X[i * ds->d + k] = v;
      } else {
        ds->y[i] = v;
      }
    }
    ds->label[i] = t.line[i];
  }
  free(cols);
  kv_table_free(&t);
  if (rc == KV_OK) {
    rc = kv_dataset_check_inputs(ds, p->data);
  }
  return rc;
}

int kv_dataset_read_sweep(const kv_dataset_params *p, const char *dir, int numeric,
                          kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_SCALAR;
  ds->from_sweep = 1;
  snprintf(ds->source, sizeof ds->source, "%s", dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  kv_manifest_table t;
  if (kv_manifest_load(path, &t) != KV_OK) {
    char why[600];
    snprintf(why, sizeof why, "%s", kv_error_message());
    return KV_ERROR(KV_ERR_CONFIG,
                    "surrogate.data: '%s' is not a sweep directory (%s; run "
                    "kelvin sweep first)",
                    dir, why);
  }
  int rc = KV_OK, *incol = NULL;
  /* Inputs: the varied keys (the columns between case and status), or those asked for. */
  if (t.istatus < 2) {
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: not a kelvin manifest with varied keys", path);
  } else if (p->inputs[0]) {
    ds->d = split_names(p->inputs, &ds->names);
    incol = malloc(((size_t)(ds->d > 0 ? ds->d : 0) + 1) * sizeof *incol);
    if (ds->d < 0 || !incol) {
      ds->d = 0;
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; rc == KV_OK && k < ds->d; k++) {
      incol[k] = kv_manifest_column(&t, ds->names[k]);
      if (incol[k] < 1 || incol[k] >= t.istatus) {
        rc = KV_ERROR(KV_ERR_CONFIG,
                      "surrogate.inputs: '%s' is not a varied key of the sweep in "
                      "%s",
                      ds->names[k], dir);
      }
    }
  } else {
    ds->d = t.istatus - 1;
    ds->names = calloc((size_t)ds->d, sizeof *ds->names);
    incol = malloc(((size_t)ds->d + 1) * sizeof *incol);
    if (!ds->names || !incol) {
      ds->d = 0;
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; rc == KV_OK && k < ds->d; k++) {
      ds->names[k] = strdup(t.cols[k + 1]);
      incol[k] = k + 1;
    }
  }
  long cap = t.nrows + 1;
  if (rc == KV_OK) {
    ds->X = malloc((size_t)cap * (size_t)(ds->d + 1) * sizeof *ds->X);
    ds->files = calloc((size_t)cap, sizeof *ds->files);
    ds->label = malloc((size_t)cap * sizeof *ds->label);
    if (!ds->X || !ds->files || !ds->label) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
  }
  for (long r = 0; rc == KV_OK && r < t.nrows; r++) {
    if (kv_manifest_status(kv_manifest_cell(&t, r, t.istatus)) != 1 /* done */) {
      continue;
    }
    ds->label[ds->n] = strtol(kv_manifest_cell(&t, r, 0), NULL, 10);
    for (int k = 0; k < ds->d && rc == KV_OK; k++) {
      const char *cell = kv_manifest_cell(&t, r, incol[k]);
      char *end;
      double v = strtod(cell, &end);
      if (!numeric && (*end || end == cell)) {
        v = NAN;
      } else if (*end || end == cell || !isfinite(v)) {
        rc = KV_ERROR(KV_ERR_FORMAT,
                      "%s:%d: case %ld, input '%s' = '%s' is not a number "
                      "(surrogate inputs must be numeric; leave it out of surrogate.inputs)",
                      path, t.lines[r], ds->label[ds->n], ds->names[k], cell);
      }
      ds->X[ds->n * ds->d + k] = v;
    }
    char fp[4400];
    snprintf(fp, sizeof fp, "%s/%s", dir, kv_manifest_cell(&t, r, t.ioutput));
    if (rc == KV_OK && !(ds->files[ds->n++] = strdup(fp))) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
  }
  free(incol);
  kv_manifest_table_free(&t);
  if (rc == KV_OK && ds->n == 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: no case is done; nothing to train on", path);
  }
  if (rc == KV_OK) {
    ds->y = calloc((size_t)ds->n, sizeof *ds->y);
    if (!ds->y) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
  }
  if (rc == KV_OK && numeric) {
    rc = kv_dataset_check_inputs(ds, path);
  }
  return rc;
}

int kv_dataset_last_record(const char *file, const char *var, kv_h5_array *a, long *npts) {
  KV_CHECK(kv_h5_read_array(file, var, a));
  if (a->rank < 2) {
    kv_h5_array_free(a);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a field (time, ...)", file, var);
  }
  *npts = a->count / a->dims[0];
  return KV_OK;
}

int kv_dataset_case_qoi(const char *file, const char *qoi, double *out) {
  kv_h5_array a;
  if (kv_h5_read_array(file, qoi, &a) == KV_OK) {
    int ok = a.rank == 1 && a.count > 0;
    if (ok) {
      *out = a.data[a.count - 1];
    }
    kv_h5_array_free(&a);
    if (ok) {
      return KV_OK;
    }
    return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a time series; use %s_max, _min or _mean", file,
                    qoi, qoi);
  }
  const char *us = strrchr(qoi, '_');
  char var[128];
  if (!us || us == qoi || (strcmp(us, "_max") && strcmp(us, "_min") && strcmp(us, "_mean"))) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' has no time series '%s' (and it is not VAR_max, VAR_min "
                    "or VAR_mean of a field)",
                    file, qoi);
  }
  kv_error_clear();
  snprintf(var, sizeof var, "%.*s", (int)(us - qoi), qoi);
  long np = 1;
  KV_CHECK(kv_dataset_last_record(file, var, &a, &np));
  const double *v = a.data + a.count - np;
  double r = v[0], s = 0.0;
  for (long p = 0; p < np; p++) {
    r = strcmp(us, "_max") == 0 ? fmax(r, v[p]) : fmin(r, v[p]);
    s += v[p];
  }
  *out = strcmp(us, "_mean") == 0 ? s / (double)np : r;
  kv_h5_array_free(&a);
  return KV_OK;
}

int kv_dataset_read_qoi(kv_dataset *ds, const char *qoi) {
  snprintf(ds->yname, sizeof ds->yname, "%s", qoi);
  for (long i = 0; i < ds->n; i++) {
    KV_CHECK(kv_dataset_case_qoi(ds->files[i], qoi, &ds->y[i]));
  }
  return KV_OK;
}

int kv_dataset_read_fields(kv_dataset *ds, const char *var) {
  kv_h5_array a;
  ds->kind = KV_DATA_FIELD;
  snprintf(ds->yname, sizeof ds->yname, "%s", var);
  KV_CHECK(kv_layout_read(ds->files[0], var, &ds->layout));
  long P = 0;
  for (long i = 0; i < ds->n; i++) {
    long np = 0;
    KV_CHECK(kv_dataset_last_record(ds->files[i], var, &a, &np));
    if (i == 0) {
      P = np;
      ds->npts = P;
      ds->fields = malloc((size_t)ds->n * (size_t)P * sizeof *ds->fields);
      if (!ds->fields) {
        kv_h5_array_free(&a);
        return KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld fields of %ld points", ds->n, P);
      }
    }
    if (np != P) {
      kv_h5_array_free(&a);
      return KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld points, the first case %ld", ds->files[i],
                      var, np, P);
    }
    memcpy(ds->fields + i * P, a.data + a.count - P, (size_t)P * sizeof *ds->fields);
    kv_h5_array_free(&a);
  }
  return KV_OK;
}

int kv_dataset_ensemble_mean(char *const *files, int n, const char *var, long *nt, long *np,
                             double **out) {
  double *acc = NULL;
  int rc = KV_OK;
  for (int m = 0; m < n && rc == KV_OK; m++) {
    kv_h5_array a;
    rc = kv_h5_read_array(files[m], var, &a);
    if (rc != KV_OK) {
      break;
    }
    if (a.rank < 2) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a (time, ...) field", files[m], var);
    } else if (m == 0) {
      *nt = a.dims[0];
      *np = a.count / a.dims[0];
      acc = calloc((size_t)a.count, sizeof *acc);
      if (!acc) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      }
    } else if (a.count != *nt * *np || a.dims[0] != *nt) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has another shape than in '%s'", files[m], var,
                    files[0]);
    }
    for (long i = 0; rc == KV_OK && i < a.count; i++) {
      acc[i] += a.data[i] / n;
    }
    kv_h5_array_free(&a);
  }
  if (rc != KV_OK) {
    free(acc);
    return rc;
  }
  *out = acc;
  return KV_OK;
}

int kv_dataset_read_scenarios(const char *dir, const char *scenario_key, const char *names,
                              int max_members, const char *var, int year0, kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_SCENARIOS;
  ds->year0 = year0;
  snprintf(ds->source, sizeof ds->source, "%s", dir);
  char **list = NULL;
  int ns = split_names(names, &list);
  int rc = ns > 0 ? KV_OK : KV_ERROR(KV_ERR_CONFIG, "surrogate.train_scenarios: no scenario");
  ds->ngroups = ns > 0 ? ns : 0;
  ds->groups = calloc((size_t)ds->ngroups + 1, sizeof *ds->groups);
  ds->members = calloc((size_t)ds->ngroups + 1, sizeof *ds->members);
  char ***files = calloc((size_t)ds->ngroups + 1, sizeof *files);
  if (rc == KV_OK && (!ds->groups || !ds->members || !files)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (int s = 0; rc == KV_OK && s < ns; s++) {
    snprintf(ds->groups[s], sizeof ds->groups[s], "%s", list[s]);
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  kv_manifest_table t = {0};
  int ik = -1;
  if (rc == KV_OK) {
    rc = kv_manifest_load(path, &t);
    if (rc != KV_OK) {
      char why[600];
      snprintf(why, sizeof why, "%s", kv_error_message());
      rc = KV_ERROR(KV_ERR_CONFIG,
                    "surrogate.data: '%s' is not a sweep directory (%s; run kelvin sweep first)",
                    dir, why);
    }
  }
  if (rc == KV_OK && (ik = kv_manifest_column(&t, scenario_key)) < 0) {
    rc = KV_ERROR(KV_ERR_FORMAT,
                  "%s: no %s column: a scenario surrogate trains on a scenario "
                  "ensemble (sweep.method = ensemble with sweep.scenarios)",
                  path, scenario_key);
  }
  for (long r = 0; rc == KV_OK && r < t.nrows; r++) {
    if (kv_manifest_status(kv_manifest_cell(&t, r, t.istatus)) != 1 /* done */) {
      continue;
    }
    for (int s = 0; rc == KV_OK && s < ns; s++) {
      if (strcmp(kv_manifest_cell(&t, r, ik), ds->groups[s]) != 0 ||
          (max_members > 0 && ds->members[s] >= max_members)) {
        continue;
      }
      char **nf = realloc(files[s], (size_t)(ds->members[s] + 1) * sizeof *nf);
      char fp[4400];
      snprintf(fp, sizeof fp, "%s/%s", dir, kv_manifest_cell(&t, r, t.ioutput));
      if (!nf || !(nf[ds->members[s]] = strdup(fp))) {
        if (nf) {
          files[s] = nf;
        }
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
        break;
      }
      files[s] = nf;
      ds->members[s]++;
    }
  }
  kv_manifest_table_free(&t);
  for (int s = 0; rc == KV_OK && s < ns; s++) {
    if (ds->members[s] == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: no finished case of scenario '%s' to train on", path,
                    ds->groups[s]);
    } else if (max_members > 0 && ds->members[s] < max_members) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: scenario '%s' has %d finished members, %d asked for", path,
                    ds->groups[s], ds->members[s], max_members);
    }
  }
  if (rc == KV_OK) {
    rc = kv_layout_read(files[0][0], var, &ds->layout);
  }
  for (int s = 0; rc == KV_OK && s < ns; s++) {
    long nt = 0, np = 0;
    double *mean = NULL;
    rc = kv_dataset_ensemble_mean(files[s], ds->members[s], var, &nt, &np, &mean);
    if (rc == KV_OK && s == 0) {
      ds->nt = nt;
      ds->npts = np;
      ds->series = malloc((size_t)ns * (size_t)nt * (size_t)np * sizeof *ds->series);
      ds->forcing = calloc((size_t)ns * (size_t)nt * KV_FORCING_COLS, sizeof *ds->forcing);
      if (!ds->series || !ds->forcing) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %d scenarios of %ld x %ld", ns, nt, np);
      }
    } else if (rc == KV_OK && (nt != ds->nt || np != ds->npts)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "scenario %s has %ld years of %ld points, %s %ld of %ld",
                    ds->groups[s], nt, np, ds->groups[0], ds->nt, ds->npts);
    }
    if (rc == KV_OK) {
      memcpy(ds->series + (size_t)s * nt * np, mean, (size_t)nt * np * sizeof *mean);
      kv_debug("dataset: scenario %s: ensemble mean of %d member%s", ds->groups[s], ds->members[s],
               ds->members[s] == 1 ? "" : "s");
    }
    free(mean);
  }
  for (int s = 0; s < ns; s++) {
    for (int m = 0; files && files[s] && m < ds->members[s]; m++) {
      free(files[s][m]);
    }
    if (files) {
      free(files[s]);
    }
    free(list[s]);
  }
  free(files);
  free(list);
  return rc;
}
