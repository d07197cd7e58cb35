#define _POSIX_C_SOURCE 200809L /* getline, strdup */
#include "surrogates/fit.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/manifest.h"
#include "io/table.h"
#include "solvers/driver.h"
#include "solvers/model.h"
#include "solvers/sweep.h"
#include "surrogates/pattern.h"
#include "surrogates/rom.h"
#include "surrogates/validate.h"

const kv_config_key kv_surrogate_keys[] = {
    {"surrogate.kind", KV_CFG_ENUM, NULL, "gp|pcagp|pattern|pod", KV_CFG_NORANGE,
     "gp: a scalar output; pcagp: a whole field (PCA + one GP per mode); pattern: linear pattern "
     "scaling of climate fields; pod: the basis of a reduced-order model (run.model = rom)"},
    {"surrogate.deim_modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "pod: DEIM modes (and points) of the nonlinear term (0: by surrogate.energy)"},
    {"surrogate.snapshot_every", KV_CFG_INT, "1", NULL, 1, 1.0e9,
     "pod: a model whose records are not states (ebm: annual means) is run again for its "
     "snapshots; keep every this many steps"},
    {"surrogate.train_scenarios", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "pattern: the scenarios of the ensemble to train on (e.g. ssp126, ssp370, ssp585)"},
    {"surrogate.predictors", KV_CFG_STRING, "tas_global", NULL, KV_CFG_NORANGE,
     "pattern: tas_global, then optionally co2_forcing, aerosol_forcing"},
    {"surrogate.spinup", KV_CFG_INT, "0", NULL, 0, 1000000,
     "pattern: years at the start of the runs left out of the fits (drift from the initial state)"},
    {"surrogate.global", KV_CFG_ENUM, "response", "response|true_smoothed", KV_CFG_NORANGE,
     "pattern: the global mean of a new scenario from a fitted two-box response to its forcing, "
     "or the full solver's, smoothed over 10 years"},
    {"surrogate.data", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "training data: a CSV file, or a sweep directory (default: the [sweep] section's)"},
    {"surrogate.inputs", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "comma-separated input names (CSV columns; for a sweep: default every varied key)"},
    {"surrogate.output", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "CSV data: the output column"},
    {"surrogate.qoi", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "sweep data, gp: a time series of the case files (final value, e.g. T_mean) or "
     "VAR_max/VAR_min/VAR_mean of a field at the final time (e.g. T_max)"},
    {"surrogate.field", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "pcagp: the field variable (default: T, or tas for the climate model)"},
    {"surrogate.model", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "model file to write (default for sweep data: <dir>/model_<kind>.h5)"},
    {"surrogate.kernel", KV_CFG_ENUM, "matern52", "se|matern32|matern52", KV_CFG_NORANGE,
     "covariance function (ARD length scales)"},
    {"surrogate.normalize", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "inputs to the unit box, outputs standardised; false: raw (as scikit-learn's "
     "normalize_y=False)"},
    {"surrogate.noise", KV_CFG_STRING, "fit", NULL, KV_CFG_NORANGE,
     "fit, or a fixed noise variance (in normalised units when normalize = true)"},
    {"surrogate.alpha", KV_CFG_DOUBLE, "1e-10", NULL, 0.0, 1.0,
     "added to the training diagonal (numerical regularisation, scikit-learn's alpha)"},
    {"surrogate.bounds", KV_CFG_STRING, "length=1e-3:1e3, signal=1e-5:1e5, noise=1e-10:10", NULL,
     KV_CFG_NORANGE, "optimisation bounds of the length scales, signal and noise variances"},
    {"surrogate.restarts", KV_CFG_INT, "2", NULL, 0, 1000,
     "extra optimiser starts from seeded random points within the bounds"},
    {"surrogate.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the restarts"},
    {"surrogate.max_iter", KV_CFG_INT, "200", NULL, 1, 100000, "optimiser iterations per start"},
    {"surrogate.energy", KV_CFG_DOUBLE, "0.9999", NULL, 1e-6, 1.0,
     "pcagp: keep the modes holding this fraction of the variance (pod: of sum sigma^2, default "
     "1 - 1e-10)"},
    {"surrogate.modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "pcagp, pod: number of modes (0: by energy)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

int kv_fit_validate(kv_config *cfg) {
  const kv_config_key *tables[7] = {kv_surrogate_keys, kv_validate_keys, NULL, NULL, NULL, NULL, NULL};
  int t = 2;
  /* The sweep's configuration may carry the surrogate too: then its sections are checked. */
  if (kv_config_has(cfg, "run.model") || kv_config_has(cfg, "sweep.method")) {
    const char *name = kv_config_value(cfg, "run.model");
    const kv_model_type *type = kv_model_type_find(name ? name : "heat");
    if (!type) return kv_config_errorf(cfg, "run.model", "expected one of %s", kv_model_names());
    tables[t++] = kv_run_keys;
    KV_CHECK(kv_model_key_tables(type, cfg, tables + t));
    t += tables[t + 1] ? 2 : 1;
    tables[t++] = kv_sweep_keys;
  }
  KV_CHECK(kv_config_validate(cfg, tables));
  if (!kv_config_has(cfg, "surrogate.kind")) {
    return kv_config_errorf(cfg, "surrogate.kind", "kelvin fit needs [surrogate] kind = gp | "
                            "pcagp");
  }
  return KV_OK;
}

/* ------------------------------------------------------------------ options */

static int parse_bounds(const kv_config *cfg, kv_gp_options *o) {
  const char *text;
  KV_CHECK(kv_config_get_string(cfg, "surrogate.bounds", &text));
  char buf[512];
  snprintf(buf, sizeof buf, "%s", text);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char name[32];
    double lo, hi;
    int n = 0;
    while (isspace((unsigned char)*tok)) tok++;
    if (sscanf(tok, "%31[a-z]=%lf:%lf%n", name, &lo, &hi, &n) != 3 ||
        tok[n + strspn(tok + n, " \t")] != '\0') {
      return kv_config_errorf(cfg, "surrogate.bounds", "entry '%s': expected NAME=lo:hi with NAME "
                              "length, signal or noise", tok);
    }
    if (!(lo > 0.0) || !(hi >= lo)) {
      return kv_config_errorf(cfg, "surrogate.bounds", "%s: expected 0 < lo <= hi (got %g:%g)",
                              name, lo, hi);
    }
    if (strcmp(name, "length") == 0) {
      o->length_lo = lo;
      o->length_hi = hi;
    } else if (strcmp(name, "signal") == 0) {
      o->signal_lo = lo;
      o->signal_hi = hi;
    } else if (strcmp(name, "noise") == 0) {
      o->noise_lo = lo;
      o->noise_hi = hi;
    } else {
      return kv_config_errorf(cfg, "surrogate.bounds", "unknown bound '%s' (length, signal or "
                              "noise)", name);
    }
  }
  return KV_OK;
}

static int gp_options(const kv_config *cfg, kv_gp_options *o) {
  kv_gp_options_default(o);
  int kernel, norm;
  long restarts, seed, maxit;
  const char *noise;
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.kernel", "se|matern32|matern52", &kernel));
  KV_CHECK(kv_config_get_bool(cfg, "surrogate.normalize", &norm));
  KV_CHECK(kv_config_get_double(cfg, "surrogate.alpha", 0.0, 1.0, &o->alpha));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.restarts", 0, 1000, &restarts));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.seed", 0, 4294967295L, &seed));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.max_iter", 1, 100000, &maxit));
  KV_CHECK(kv_config_get_string(cfg, "surrogate.noise", &noise));
  o->kernel = (kv_kernel)kernel;
  o->normalize = norm;
  o->restarts = (int)restarts;
  o->seed = (unsigned long)seed;
  o->max_iter = (int)maxit;
  if (strcmp(noise, "fit") == 0) {
    o->fit_noise = 1;
  } else {
    char *end;
    o->noise = strtod(noise, &end);
    if (*end || end == noise || !(o->noise >= 0.0) || !isfinite(o->noise)) {
      return kv_config_errorf(cfg, "surrogate.noise", "expected 'fit' or a noise variance >= 0");
    }
    o->fit_noise = 0;
  }
  return parse_bounds(cfg, o);
}

/* ------------------------------------------------------------------ data */

typedef struct {
  long n;
  int d;
  char **names;    /* d input names                               */
  double *X;       /* n x d                                       */
  double *y;       /* n (gp)                                      */
  char **files;    /* sweep data: the case files (n)              */
  long *label;     /* line (CSV) or case number (sweep) per row   */
  int from_sweep;
} dataset;

static void dataset_free(dataset *ds) {
  for (int k = 0; k < ds->d && ds->names; k++) free(ds->names[k]);
  for (long i = 0; i < ds->n && ds->files; i++) free(ds->files[i]);
  free(ds->names);
  free(ds->files);
  free(ds->X);
  free(ds->y);
  free(ds->label);
}

/* Split "a, b, c" into trimmed names. */
static int split_names(const char *text, char ***out) {
  char *buf = strdup(text);
  int n = 0;
  char **v = NULL;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    while (isspace((unsigned char)*tok)) tok++;
    char *e = tok + strlen(tok);
    while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
    char **nv = realloc(v, (size_t)(n + 1) * sizeof *nv);
    if (!nv) break;
    v = nv;
    v[n++] = strdup(tok);
  }
  free(buf);
  *out = v;
  return n;
}

static int row_cmp_d;
static const double *row_cmp_x;
static int row_cmp(const void *a, const void *b) {
  long i = *(const long *)a, j = *(const long *)b;
  for (int k = 0; k < row_cmp_d; k++) {
    double u = row_cmp_x[i * row_cmp_d + k], v = row_cmp_x[j * row_cmp_d + k];
    if (u != v) return u < v ? -1 : 1;
  }
  return i < j ? -1 : i > j;
}

/* Bad training data named by row and column before any fitting. */
static int check_dataset(const dataset *ds, const char *src) {
  const char *what = ds->from_sweep ? "case" : "line";
  if (ds->n <= ds->d) {
    return KV_ERROR(KV_ERR_FORMAT, "%s: %ld rows for %d inputs: need more rows than inputs", src,
                    ds->n, ds->d);
  }
  for (int k = 0; k < ds->d; k++) {
    int constant = 1;
    for (long i = 1; i < ds->n && constant; i++) constant = ds->X[i * ds->d + k] == ds->X[k];
    if (constant) {
      return KV_ERROR(KV_ERR_FORMAT, "%s: input column '%s' is constant (%g in every row): it "
                      "carries no information; leave it out of surrogate.inputs", src,
                      ds->names[k], ds->X[k]);
    }
  }
  long *idx = malloc((size_t)ds->n * sizeof *idx);
  if (!idx) return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  for (long i = 0; i < ds->n; i++) idx[i] = i;
  row_cmp_d = ds->d;
  row_cmp_x = ds->X;
  qsort(idx, (size_t)ds->n, sizeof *idx, row_cmp);
  int rc = KV_OK;
  for (long i = 1; i < ds->n && rc == KV_OK; i++) {
    long a = idx[i - 1], b = idx[i];
    if (memcmp(ds->X + a * ds->d, ds->X + b * ds->d, (size_t)ds->d * sizeof(double)) == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: %s %ld and %s %ld have the same inputs (duplicate "
                    "rows); remove one or average them", src, what, ds->label[a], what,
                    ds->label[b]);
    }
  }
  free(idx);
  return rc;
}

static int data_from_csv(const kv_config *cfg, const char *path, int need_y, dataset *ds) {
  const char *ins, *out = NULL;
  if (!kv_config_has(cfg, "surrogate.inputs")) {
    return kv_config_errorf(cfg, "surrogate.inputs", "CSV data needs the input column names");
  }
  KV_CHECK(kv_config_get_string(cfg, "surrogate.inputs", &ins));
  if (need_y) {
    if (!kv_config_has(cfg, "surrogate.output")) {
      return kv_config_errorf(cfg, "surrogate.output", "CSV data needs the output column name");
    }
    KV_CHECK(kv_config_get_string(cfg, "surrogate.output", &out));
  }
  kv_table t;
  KV_CHECK(kv_table_read_csv(path, &t));
  int rc = KV_OK;
  ds->d = split_names(ins, &ds->names);
  ds->n = t.nrows;
  ds->X = malloc((size_t)t.nrows * (size_t)(ds->d ? ds->d : 1) * sizeof *ds->X);
  ds->y = malloc((size_t)t.nrows * sizeof *ds->y);
  ds->label = malloc((size_t)t.nrows * sizeof *ds->label);
  if (!ds->X || !ds->y || !ds->label) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  int cols[64], yc = -1;
  if (rc == KV_OK && (ds->d < 1 || ds->d > 64)) {
    rc = kv_config_errorf(cfg, "surrogate.inputs", "expected 1 to 64 input names");
  }
  for (int k = 0; rc == KV_OK && k < ds->d; k++) {
    cols[k] = kv_table_column(&t, ds->names[k]);
    if (cols[k] < 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s' (surrogate.inputs); the header has: %s%s%s",
                    path, ds->names[k], t.names[0], t.ncols > 1 ? ", " : "",
                    t.ncols > 1 ? t.names[1] : "");
    }
  }
  if (rc == KV_OK && need_y && (yc = kv_table_column(&t, out)) < 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s' (surrogate.output)", path, out);
  }
  for (long i = 0; rc == KV_OK && i < t.nrows; i++) {
    for (int k = 0; k < ds->d; k++) ds->X[i * ds->d + k] = t.v[i * t.ncols + cols[k]];
    ds->y[i] = yc >= 0 ? t.v[i * t.ncols + yc] : 0.0;
    ds->label[i] = t.line[i];
  }
  kv_table_free(&t);
  if (rc == KV_OK) rc = check_dataset(ds, path);
  return rc;
}

/* The done cases of a sweep directory: varied values from the manifest, the case files. */
/* numeric: inputs must be numbers (a GP's); else a non-number is kept as NaN (a ROM's basis needs
 * only the files). */
static int data_from_sweep(const kv_config *cfg, const char *dir, int numeric, dataset *ds) {
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    return kv_config_errorf(cfg, "surrogate.data", "'%s' is not a sweep directory (no readable "
                            "manifest.csv; run kelvin sweep first)", dir);
  }
  char *line = NULL, *fld[1024];
  size_t cap = 0;
  int rc = KV_OK, nh = 0, ist = -1, iout = -1, lineno = 0;
  char *header[1024];
  int incol[64];
  long cap_rows = 0;
  ds->from_sweep = 1;
  while (rc == KV_OK && getline(&line, &cap, f) >= 0) {
    lineno++;
    int n = kv_csv_split(line, fld, 1024);
    if (lineno == 1) {
      nh = n;
      for (int i = 0; i < n; i++) {
        header[i] = strdup(fld[i]);
        if (strcmp(fld[i], "status") == 0) ist = i;
        if (strcmp(fld[i], "output") == 0) iout = i;
      }
      if (ist < 2 || iout < 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s: not a kelvin manifest with varied keys", path);
        break;
      }
      /* Inputs: the varied keys (columns between case and status), or those asked for. */
      if (kv_config_has(cfg, "surrogate.inputs")) {
        const char *ins;
        kv_config_get_string(cfg, "surrogate.inputs", &ins);
        ds->d = split_names(ins, &ds->names);
        for (int k = 0; k < ds->d && rc == KV_OK; k++) {
          incol[k] = -1;
          for (int i = 1; i < ist; i++) {
            if (strcmp(header[i], ds->names[k]) == 0) incol[k] = i;
          }
          if (incol[k] < 0) {
            rc = kv_config_errorf(cfg, "surrogate.inputs", "'%s' is not a varied key of the sweep "
                                  "in %s", ds->names[k], dir);
          }
        }
      } else {
        ds->d = ist - 1;
        ds->names = calloc((size_t)ds->d, sizeof *ds->names);
        for (int k = 0; k < ds->d; k++) {
          ds->names[k] = strdup(header[k + 1]);
          incol[k] = k + 1;
        }
      }
      if (rc == KV_OK && ds->d > 64) rc = KV_ERROR(KV_ERR_INVALID, "%s: over 64 inputs", path);
      continue;
    }
    if (n != nh) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: %d fields, the header has %d", path, lineno, n, nh);
      break;
    }
    if (strcmp(fld[ist], "done") != 0) continue;
    if (ds->n == cap_rows) {
      cap_rows = cap_rows ? 2 * cap_rows : 64;
      ds->X = realloc(ds->X, (size_t)cap_rows * (size_t)ds->d * sizeof *ds->X);
      ds->files = realloc(ds->files, (size_t)cap_rows * sizeof *ds->files);
      ds->label = realloc(ds->label, (size_t)cap_rows * sizeof *ds->label);
      if (!ds->X || !ds->files || !ds->label) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
        break;
      }
    }
    ds->label[ds->n] = strtol(fld[0], NULL, 10);
    for (int k = 0; k < ds->d && rc == KV_OK; k++) {
      char *end;
      double v = strtod(fld[incol[k]], &end);
      if (!numeric && (*end || end == fld[incol[k]])) v = NAN;
      else if (*end || end == fld[incol[k]] || !isfinite(v)) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: case %ld, input '%s' = '%s' is not a number (GP "
                      "inputs must be numeric; leave it out of surrogate.inputs)", path, lineno,
                      ds->label[ds->n], ds->names[k], fld[incol[k]]);
      }
      ds->X[ds->n * ds->d + k] = v;
    }
    char fp[4400];
    snprintf(fp, sizeof fp, "%s/%s", dir, fld[iout]);
    ds->files[ds->n++] = strdup(fp);
  }
  free(line);
  fclose(f);
  for (int i = 0; i < nh; i++) free(header[i]);
  if (rc == KV_OK && ds->n == 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: no case is done; nothing to train on", path);
  }
  if (rc == KV_OK) {
    ds->y = calloc((size_t)ds->n, sizeof *ds->y);
    if (!ds->y) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc == KV_OK && numeric) rc = check_dataset(ds, path);
  return rc;
}

/* The last record of a field dataset (time first) into buf (npts), or its length. */
int kv_fit_last_record(const char *file, const char *var, kv_h5_array *a, long *npts) {
  KV_CHECK(kv_h5_read_array(file, var, a));
  if (a->rank < 2) {
    kv_h5_array_free(a);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a field (time, ...)", file, var);
  }
  *npts = a->count / a->dims[0];
  return KV_OK;
}

/* A scalar QoI of a case file: a time series' final value or VAR_max/_min/_mean of a field. */
int kv_fit_case_qoi(const char *file, const char *qoi, double *out) {
  kv_h5_array a;
  if (kv_h5_read_array(file, qoi, &a) == KV_OK) {
    int ok = a.rank == 1 && a.count > 0;
    if (ok) *out = a.data[a.count - 1];
    kv_h5_array_free(&a);
    if (ok) return KV_OK;
    return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a time series; use %s_max, _min or _mean",
                    file, qoi, qoi);
  }
  const char *us = strrchr(qoi, '_');
  char var[128];
  if (!us || us == qoi || (strcmp(us, "_max") && strcmp(us, "_min") && strcmp(us, "_mean"))) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no time series '%s' (and it is not VAR_max, VAR_min "
                    "or VAR_mean of a field)", file, qoi);
  }
  snprintf(var, sizeof var, "%.*s", (int)(us - qoi), qoi);
  long np = 1;
  KV_CHECK(kv_fit_last_record(file, var, &a, &np));
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

/* ------------------------------------------------------------------ fields */

static int read_text_or_empty(kv_h5_store *h, const char *obj, const char *name, char *buf,
                              size_t n) {
  char *v = NULL;
  buf[0] = '\0';
  if (kv_h5_store_get_text(h, obj, name, &v) == KV_OK) snprintf(buf, n, "%s", v);
  free(v);
  return KV_OK;
}

/* The layout of var in a case file: axes (lat/lon for the climate model, x/y/z otherwise), their
 * coordinates and attributes, and the final time stamp. */
int kv_fit_field_layout(const char *file, const char *var, kv_field_layout *L) {
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
    if (rc != KV_OK) break;
    L->n[k] = a.count;
    L->coord[k] = a.data;
    if (a.count != dims[nd - k]) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld values, %s has %ld along that axis", file,
                    obj, a.count, var, dims[nd - k]);
    }
    read_text_or_empty(h, obj, "units", L->axis_units[k], sizeof L->axis_units[k]);
    read_text_or_empty(h, obj, "standard_name", L->axis_std[k], sizeof L->axis_std[k]);
    read_text_or_empty(h, obj, "long_name", L->axis_long[k], sizeof L->axis_long[k]);
    read_text_or_empty(h, obj, "axis", L->axis_letter[k], sizeof L->axis_letter[k]);
  }
  kv_h5_store_close(h, 0);
  if (rc == KV_OK) {
    rc = kv_h5_read_array(file, "time", &a);
    if (rc == KV_OK) {
      L->time = a.data[a.count - 1];
      kv_h5_array_free(&a);
    }
  }
  return rc;
}

/* PCA by the method of snapshots: the eigenvectors of Y Y^T (n x n) give the modes
 * phi_j = Y^T v_j / sqrt(lambda_j) and the coefficients sqrt(lambda_j) v_j. */
static int pca(kv_surrogate *s, const double *Y, long n, long P, double energy, long want,
               double **coef) {
  double *C = malloc((size_t)n * (size_t)n * sizeof *C), *w = malloc((size_t)n * sizeof *w);
  if (!C || !w) {
    free(C);
    free(w);
    return KV_ERROR(KV_ERR_NOMEM, "pca: out of memory");
  }
  cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)n, (int)P, 1.0, Y, (int)P, 0.0, C,
              (int)n);
  lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)n, C, (lapack_int)n, w);
  if (info != 0) {
    free(C);
    free(w);
    return KV_ERROR(KV_ERR_NUMERIC, "pca: the eigen-decomposition failed (%d)", (int)info);
  }
  double total = 0.0;
  for (long j = 0; j < n; j++) total += fmax(w[j], 0.0);
  if (!(total > 0.0)) {
    free(C);
    free(w);
    return KV_ERROR(KV_ERR_INVALID, "pca: the training fields are all the same: nothing to learn");
  }
  /* Eigenvalues come ascending; modes in descending order of variance. */
  long k = 0;
  double cum = 0.0;
  while (k < n) {
    double lam = w[n - 1 - k];
    if (!(lam > 1e-12 * w[n - 1])) break;
    cum += lam;
    k++;
    if (want > 0 ? k >= want : cum >= energy * total) break;
  }
  s->nmodes = (int)k;
  s->npts = P;
  s->energy = cum / total;
  s->modes = malloc((size_t)k * (size_t)P * sizeof *s->modes);
  s->eig = malloc((size_t)k * sizeof *s->eig);
  *coef = malloc((size_t)k * (size_t)n * sizeof **coef);
  if (!s->modes || !s->eig || !*coef) {
    free(C);
    free(w);
    return KV_ERROR(KV_ERR_NOMEM, "pca: out of memory");
  }
  for (long j = 0; j < k; j++) {
    const double *v = C + (n - 1 - j) * n;
    double lam = w[n - 1 - j], sq = sqrt(lam);
    s->eig[j] = lam;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)P, 1.0 / sq, Y, (int)P, v, 1, 0.0,
                s->modes + j * P, 1);
    for (long i = 0; i < n; i++) (*coef)[j * n + i] = sq * v[i];
  }
  free(C);
  free(w);
  return KV_OK;
}

/* ------------------------------------------------------------------ fit */

static int fit_gp(long n, int d, const double *X, const double *y, const kv_gp_options *o,
                  kv_gp **out) {
  KV_CHECK(kv_gp_create(n, d, X, y, o, out));
  double t0 = MPI_Wtime();
  int rc = kv_gp_fit(*out);
  kv_info("optimised %d hyperparameters in %.3f s (%ld LML evaluations, %d start%s)", d + 2,
          MPI_Wtime() - t0, kv_gp_evals(*out), o->restarts + 1, o->restarts ? "s" : "");
  if (rc != KV_OK) {
    kv_gp_free(*out);
    *out = NULL;
  }
  return rc;
}

/* surrogate.data, else the [sweep] section's directory. */
static int training_data(const kv_config *cfg, char *data, size_t n, const char *expected) {
  const char *v = kv_config_value(cfg, "surrogate.data");
  if (v) {
    snprintf(data, n, "%s", v);
  } else if (kv_config_has(cfg, "sweep.method")) {
    kv_sweep *sw = NULL;
    KV_CHECK(kv_sweep_create(cfg, &sw));
    snprintf(data, n, "%s", kv_sweep_dir(sw));
    kv_sweep_free(sw);
  } else {
    return kv_config_errorf(cfg, "surrogate.data", "expected %s", expected);
  }
  return KV_OK;
}

int kv_fit_pod(const kv_config *cfg, char *model_path, size_t mpn, kv_rom_fit_info *info) {
  char data[4096];
  const char *v;
  KV_CHECK(training_data(cfg, data, sizeof data, "a run's output file (.h5) or a sweep directory"));
  size_t dl = strlen(data);
  int is_h5 = dl > 3 && strcmp(data + dl - 3, ".h5") == 0;
  if ((v = kv_config_value(cfg, "surrogate.model"))) {
    snprintf(model_path, mpn, "%s", v);
  } else if (!is_h5) {
    snprintf(model_path, mpn, "%s/model_pod.h5", data);
  } else {
    return kv_config_errorf(cfg, "surrogate.model", "expected the model file to write");
  }
  dataset ds = {0};
  int rc;
  if (is_h5) {
    char *one = data;
    rc = kv_rom_fit(cfg, &one, 1, model_path, info);
  } else {
    rc = data_from_sweep(cfg, data, 0, &ds);
    if (rc == KV_OK) rc = kv_rom_fit(cfg, ds.files, ds.n, model_path, info);
  }
  dataset_free(&ds);
  return rc;
}

int kv_fit(const kv_config *cfg, kv_surrogate **out, char *model_path, size_t mpn) {
  if (out) *out = NULL;
  int kind;
  kv_gp_options o;
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.kind", "gp|pcagp|pattern", &kind));
  KV_CHECK(gp_options(cfg, &o));
  char data[4096];
  const char *v;
  KV_CHECK(training_data(cfg, data, sizeof data, "a CSV file or a sweep directory"));
  size_t dl = strlen(data);
  int is_csv = dl > 4 && strcmp(data + dl - 4, ".csv") == 0;
  if (kind == 3) {
    return kv_config_errorf(cfg, "surrogate.kind", "pod: use kv_fit_pod");
  }
  if (kind == KV_SURROGATE_PCAGP && is_csv) {
    return kv_config_errorf(cfg, "surrogate.data", "pcagp trains on fields: give a sweep "
                            "directory");
  }
  static const char *const kinds[] = {"gp", "pcagp", "pattern"}; /* file names */
  if ((v = kv_config_value(cfg, "surrogate.model"))) {
    snprintf(model_path, mpn, "%s", v);
  } else if (!is_csv) {
    snprintf(model_path, mpn, "%s/model_%s.h5", data, kinds[kind]);
  } else {
    return kv_config_errorf(cfg, "surrogate.model", "expected the model file to write");
  }
  dataset ds = {0};
  kv_surrogate *s = NULL;
  double *Y = NULL, *coef = NULL;
  char output[256] = "";
  int rc = KV_OK;
  if (kind == KV_SURROGATE_PATTERN) {
    const char *pr;
    char **names = NULL;
    KV_TRY(kv_config_get_string(cfg, "surrogate.predictors", &pr));
    int np = split_names(pr, &names);
    rc = kv_surrogate_new(kind, np, names, "tas", &s);
    for (int k = 0; k < np; k++) free(names[k]);
    free(names);
    if (rc == KV_OK) rc = kv_config_to_text(cfg, &s->config);
    if (rc == KV_OK) rc = kv_pattern_fit(cfg, data, s);
    if (rc == KV_OK) rc = kv_surrogate_save(s, model_path);
    goto cleanup;
  }
  if (is_csv) {
    KV_TRY(data_from_csv(cfg, data, 1, &ds));
    snprintf(output, sizeof output, "%s", kv_config_value(cfg, "surrogate.output"));
  } else {
    KV_TRY(data_from_sweep(cfg, data, 1, &ds));
  }
  if (kind == KV_SURROGATE_GP && !is_csv) {
    if (!(v = kv_config_value(cfg, "surrogate.qoi"))) {
      rc = kv_config_errorf(cfg, "surrogate.qoi", "a gp on sweep data needs the quantity of "
                            "interest (e.g. T_mean, T_max)");
      goto cleanup;
    }
    snprintf(output, sizeof output, "%s", v);
    for (long i = 0; i < ds.n; i++) KV_TRY(kv_fit_case_qoi(ds.files[i], output, &ds.y[i]));
  }
  KV_TRY(kv_surrogate_new(kind, ds.d, ds.names, output, &s));
  KV_TRY(kv_config_to_text(cfg, &s->config));
  if (kind == KV_SURROGATE_GP) {
    s->gp = calloc(1, sizeof *s->gp);
    s->ngp = 1;
    kv_info("fitting a GP (%s kernel) on %ld points with %d inputs", kv_kernel_name(o.kernel),
            ds.n, ds.d);
    KV_TRY(fit_gp(ds.n, ds.d, ds.X, ds.y, &o, &s->gp[0]));
  } else {
    const char *var = kv_config_value(cfg, "surrogate.field");
    kv_h5_array a;
    if (!var) {
      var = kv_h5_read_array(ds.files[0], "T", &a) == KV_OK ? "T" : "tas";
      if (strcmp(var, "T") == 0) kv_h5_array_free(&a);
    }
    snprintf(s->output, sizeof s->output, "%s", var);
    KV_TRY(kv_fit_field_layout(ds.files[0], var, &s->layout));
    long P = 0;
    for (long i = 0; i < ds.n; i++) {
      long np = 0;
      KV_TRY(kv_fit_last_record(ds.files[i], var, &a, &np));
      if (i == 0) {
        P = np;
        Y = malloc((size_t)ds.n * (size_t)P * sizeof *Y);
        s->mean = calloc((size_t)P, sizeof *s->mean);
        if (!Y || !s->mean) {
          kv_h5_array_free(&a);
          rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld fields of %ld points", ds.n, P);
          goto cleanup;
        }
      }
      if (np != P) {
        kv_h5_array_free(&a);
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld points, the first case %ld", ds.files[i],
                      var, np, P);
        goto cleanup;
      }
      memcpy(Y + i * P, a.data + a.count - P, (size_t)P * sizeof *Y);
      kv_h5_array_free(&a);
    }
    for (long i = 0; i < ds.n; i++)
      for (long p = 0; p < P; p++) s->mean[p] += Y[i * P + p] / (double)ds.n;
    for (long i = 0; i < ds.n; i++)
      for (long p = 0; p < P; p++) Y[i * P + p] -= s->mean[p];
    double energy;
    long modes;
    KV_TRY(kv_config_get_double(cfg, "surrogate.energy", 1e-6, 1.0, &energy));
    KV_TRY(kv_config_get_int(cfg, "surrogate.modes", 0, 100000, &modes));
    KV_TRY(pca(s, Y, ds.n, P, energy, modes, &coef));
    kv_info("pca: %d mode%s keep %.6f of the variance of %ld fields of %ld points", s->nmodes,
            s->nmodes == 1 ? "" : "s", s->energy, ds.n, P);
    s->gp = calloc((size_t)s->nmodes, sizeof *s->gp);
    for (int k = 0; k < s->nmodes; k++) {
      KV_TRY(fit_gp(ds.n, ds.d, ds.X, coef + (size_t)k * (size_t)ds.n, &o, &s->gp[k]));
      s->ngp = k + 1;
      kv_info("mode %d: LML %.6g", k, kv_gp_lml_data(s->gp[k]));
    }
  }
  KV_TRY(kv_surrogate_save(s, model_path));
cleanup:
  dataset_free(&ds);
  free(Y);
  free(coef);
  if (rc != KV_OK || !out) {
    kv_surrogate_free(s);
  } else {
    *out = s;
  }
  return rc;
}
