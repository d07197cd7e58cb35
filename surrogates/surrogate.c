#include "surrogates/surrogate.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/status.h"
#include "io/h5.h"

static const char *const kind_names[] = {"gp", "pcagp", "pattern"};

int kv_surrogate_new(int kind, int ninputs, char *const *inputs, const char *output,
                     kv_surrogate **out) {
  kv_surrogate *s = calloc(1, sizeof *s);
  if (!s || !(s->inputs = calloc((size_t)ninputs + 1, sizeof *s->inputs))) {
    free(s);
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  s->kind = kind;
  s->ninputs = ninputs;
  for (int i = 0; i < ninputs; i++) s->inputs[i] = strdup(inputs[i]);
  snprintf(s->output, sizeof s->output, "%s", output);
  *out = s;
  return KV_OK;
}

void kv_surrogate_free(kv_surrogate *s) {
  if (!s) return;
  for (int i = 0; i < s->ninputs; i++) free(s->inputs[i]);
  free(s->inputs);
  for (int i = 0; i < s->ngp; i++) kv_gp_free(s->gp[i]);
  free(s->gp);
  free(s->config);
  free(s->mean);
  free(s->modes);
  free(s->eig);
  for (int k = 0; k < 3; k++) free(s->layout.coord[k]);
  free(s);
}

long kv_surrogate_noutputs(const kv_surrogate *s) {
  return s->kind == KV_SURROGATE_GP ? 1 : s->npts;
}

int kv_surrogate_input_index(const kv_surrogate *s, const char *name) {
  for (int i = 0; i < s->ninputs; i++) {
    if (strcmp(s->inputs[i], name) == 0) return i;
  }
  return -1;
}

/* ------------------------------------------------------------------ save */

static int save_gp(kv_h5_store *h, const char *grp, const kv_gp *g) {
  char name[128];
  long n = kv_gp_size(g), d = kv_gp_dim(g), dims[2] = {n, d}, p = d + 2;
  const kv_gp_options *o = kv_gp_opts(g);
  snprintf(name, sizeof name, "%s/X", grp);
  KV_CHECK(kv_h5_store_put(h, name, 2, dims, kv_gp_x_raw(g)));
  snprintf(name, sizeof name, "%s/y", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &n, kv_gp_y_raw(g)));
  snprintf(name, sizeof name, "%s/theta", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &p, kv_gp_theta(g)));
  KV_CHECK(kv_h5_store_put_text(h, grp, "kernel", kv_kernel_name(o->kernel)));
  KV_CHECK(kv_h5_store_put_text(h, grp, "theta_layout",
                                "log length scales (one per input), log signal variance, "
                                "log noise variance; in normalised units when normalize = 1"));
  const struct {
    const char *k;
    double v;
  } nums[] = {{"normalize", o->normalize}, {"alpha", o->alpha}, {"fit_noise", o->fit_noise},
              {"noise", o->noise}, {"lml", kv_gp_lml_value(g)}, {"lml_data", kv_gp_lml_data(g)},
              {"evals", (double)kv_gp_evals(g)}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    KV_CHECK(kv_h5_store_put_number(h, grp, nums[i].k, nums[i].v));
  }
  return KV_OK;
}

static int save_layout(kv_h5_store *h, const kv_field_layout *L) {
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
    KV_CHECK(kv_h5_store_put_text(h, name, "standard_name", L->axis_std[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "long_name", L->axis_long[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "axis", L->axis_letter[k]));
  }
  return KV_OK;
}

int kv_surrogate_save(const kv_surrogate *s, const char *path) {
  kv_h5_store *h;
  KV_CHECK(kv_h5_store_create(path, &h));
  int rc = KV_OK;
  size_t len = 1;
  for (int i = 0; i < s->ninputs; i++) len += strlen(s->inputs[i]) + 1;
  char *ins = calloc(len, 1);
  for (int i = 0; ins && i < s->ninputs; i++) {
    if (i) strcat(ins, ",");
    strcat(ins, s->inputs[i]);
  }
  KV_TRY(kv_h5_store_put_text(h, "/", "title", "kelvin surrogate model"));
  KV_TRY(kv_h5_store_put_text(h, "/", "kelvin_version", "0.1.0"));
  KV_TRY(kv_h5_store_put_text(h, "/", "kind", kind_names[s->kind]));
  KV_TRY(kv_h5_store_put_text(h, "/", "inputs", ins ? ins : ""));
  KV_TRY(kv_h5_store_put_text(h, "/", "output", s->output));
  KV_TRY(kv_h5_store_put_text(h, "/", "config", s->config ? s->config : ""));
  if (s->kind == KV_SURROGATE_GP) {
    KV_TRY(save_gp(h, "/gp", s->gp[0]));
  } else if (s->kind == KV_SURROGATE_PATTERN) {
    long dims[2] = {s->nmodes, s->npts};
    const kv_pattern_info *p = &s->pattern;
    KV_TRY(kv_h5_store_put(h, "/pattern/control", 1, &s->npts, s->mean));
    KV_TRY(kv_h5_store_put(h, "/pattern/coefficients", 2, dims, s->modes));
    KV_TRY(kv_h5_store_put_text(h, "/pattern", "coefficients_rows",
                                "intercept, then one map per predictor (inputs)"));
    const struct {
      const char *k;
      double v;
    } nums[] = {{"q1", p->q[0]}, {"q2", p->q[1]}, {"d1", p->d[0]}, {"d2", p->d[1]},
                {"c", p->c}, {"F_ref", p->F_ref}, {"response_rmse", p->response_rmse},
                {"global_mode", p->global_mode}, {"year0", p->year0}, {"nyears", p->nyears},
                {"spinup", p->spinup}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
      KV_TRY(kv_h5_store_put_number(h, "/pattern", nums[i].k, nums[i].v));
    }
    KV_TRY(save_layout(h, &s->layout));
  } else {
    long k = s->nmodes, dims[2] = {s->nmodes, s->npts};
    KV_TRY(kv_h5_store_put(h, "/pca/mean", 1, &s->npts, s->mean));
    KV_TRY(kv_h5_store_put(h, "/pca/modes", 2, dims, s->modes));
    KV_TRY(kv_h5_store_put(h, "/pca/eigenvalues", 1, &k, s->eig));
    KV_TRY(kv_h5_store_put_number(h, "/pca", "energy", s->energy));
    KV_TRY(save_layout(h, &s->layout));
    for (int m = 0; m < s->nmodes; m++) {
      char grp[32];
      snprintf(grp, sizeof grp, "/mode_%04d", m);
      KV_TRY(save_gp(h, grp, s->gp[m]));
    }
  }
cleanup:
  free(ins);
  int rc2 = kv_h5_store_close(h, rc == KV_OK);
  return rc != KV_OK ? rc : rc2;
}

/* ------------------------------------------------------------------ load */

static int load_gp(kv_h5_store *h, const char *path, const char *grp, int d, kv_gp **out) {
  char name[128], *kernel = NULL;
  kv_h5_array X = {0}, y = {0}, th = {0};
  double num[4];
  int rc = KV_OK;
  snprintf(name, sizeof name, "%s/X", grp);
  KV_TRY(kv_h5_store_get(h, name, &X));
  snprintf(name, sizeof name, "%s/y", grp);
  KV_TRY(kv_h5_store_get(h, name, &y));
  snprintf(name, sizeof name, "%s/theta", grp);
  KV_TRY(kv_h5_store_get(h, name, &th));
  KV_TRY(kv_h5_store_get_text(h, grp, "kernel", &kernel));
  const char *keys[] = {"normalize", "alpha", "fit_noise", "noise"};
  for (int i = 0; i < 4; i++) KV_TRY(kv_h5_store_get_number(h, grp, keys[i], &num[i]));
  if (X.rank != 2 || X.dims[1] != d || y.count != X.dims[0] || th.count != d + 2 ||
      kv_kernel_from_name(kernel) < 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a kelvin GP for %d inputs", path, grp, d);
    goto cleanup;
  }
  kv_gp_options o;
  kv_gp_options_default(&o);
  o.kernel = (kv_kernel)kv_kernel_from_name(kernel);
  o.normalize = num[0] != 0.0;
  o.alpha = num[1];
  o.fit_noise = num[2] != 0.0;
  o.noise = num[3];
  KV_TRY(kv_gp_create(X.dims[0], d, X.data, y.data, &o, out));
  rc = kv_gp_set_theta(*out, th.data);
  if (rc != KV_OK) {
    kv_gp_free(*out);
    *out = NULL;
  }
cleanup:
  kv_h5_array_free(&X);
  kv_h5_array_free(&y);
  kv_h5_array_free(&th);
  free(kernel);
  return rc;
}

static int copy_text(kv_h5_store *h, const char *obj, const char *name, char *buf, size_t n) {
  char *v = NULL;
  KV_CHECK(kv_h5_store_get_text(h, obj, name, &v));
  snprintf(buf, n, "%s", v);
  free(v);
  return KV_OK;
}

static int load_layout(kv_h5_store *h, kv_field_layout *L) {
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
    KV_CHECK(copy_text(h, name, "standard_name", L->axis_std[k], sizeof L->axis_std[k]));
    KV_CHECK(copy_text(h, name, "long_name", L->axis_long[k], sizeof L->axis_long[k]));
    KV_CHECK(copy_text(h, name, "axis", L->axis_letter[k], sizeof L->axis_letter[k]));
  }
  return KV_OK;
}

int kv_surrogate_load(const char *path, kv_surrogate **out) {
  *out = NULL;
  kv_h5_store *h;
  KV_CHECK(kv_h5_store_open(path, &h));
  char *kind = NULL, *ins = NULL, *output = NULL, *config = NULL, *title = NULL;
  kv_surrogate *s = NULL;
  int rc = kv_h5_store_get_text(h, "/", "title", &title);
  if (rc != KV_OK || strcmp(title, "kelvin surrogate model") != 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' is not a kelvin surrogate model (made by kelvin fit)",
                  path);
    goto cleanup;
  }
  KV_TRY(kv_h5_store_get_text(h, "/", "kind", &kind));
  KV_TRY(kv_h5_store_get_text(h, "/", "inputs", &ins));
  KV_TRY(kv_h5_store_get_text(h, "/", "output", &output));
  kv_h5_store_get_text(h, "/", "config", &config);
  int k = -1;
  for (int i = 0; i < 3; i++) {
    if (strcmp(kind, kind_names[i]) == 0) k = i;
  }
  if (k < 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': unknown surrogate kind '%s'", path, kind);
    goto cleanup;
  }
  char *names[64];
  int ni = 0;
  for (char *tok = strtok(ins, ","); tok && ni < 64; tok = strtok(NULL, ",")) names[ni++] = tok;
  KV_TRY(kv_surrogate_new(k, ni, names, output, &s));
  s->config = config;
  config = NULL;
  if (k == KV_SURROGATE_GP) {
    s->gp = calloc(1, sizeof *s->gp);
    s->ngp = 1;
    KV_TRY(load_gp(h, path, "/gp", ni, &s->gp[0]));
  } else if (k == KV_SURROGATE_PATTERN) {
    kv_h5_array a = {0}, c = {0};
    KV_TRY(kv_h5_store_get(h, "/pattern/control", &a));
    s->mean = a.data;
    s->npts = a.count;
    KV_TRY(kv_h5_store_get(h, "/pattern/coefficients", &c));
    s->modes = c.data;
    s->nmodes = c.rank == 2 ? (int)c.dims[0] : 0;
    if (c.rank != 2 || c.dims[1] != s->npts || s->nmodes != ni + 1) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /pattern/coefficients has the wrong shape", path);
      goto cleanup;
    }
    kv_pattern_info *p = &s->pattern;
    double gm, y0, ny;
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "q1", &p->q[0]));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "q2", &p->q[1]));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "d1", &p->d[0]));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "d2", &p->d[1]));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "c", &p->c));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "F_ref", &p->F_ref));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "response_rmse", &p->response_rmse));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "global_mode", &gm));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "year0", &y0));
    KV_TRY(kv_h5_store_get_number(h, "/pattern", "nyears", &ny));
    double sp = 0.0;
    kv_h5_store_get_number(h, "/pattern", "spinup", &sp);
    p->spinup = (int)sp;
    p->global_mode = (int)gm;
    p->year0 = (int)y0;
    p->nyears = (int)ny;
    KV_TRY(load_layout(h, &s->layout));
  } else {
    kv_h5_array a = {0}, mo = {0}, e = {0};
    KV_TRY(kv_h5_store_get(h, "/pca/mean", &a));
    s->mean = a.data;
    s->npts = a.count;
    KV_TRY(kv_h5_store_get(h, "/pca/modes", &mo));
    s->modes = mo.data;
    KV_TRY(kv_h5_store_get(h, "/pca/eigenvalues", &e));
    s->eig = e.data;
    s->nmodes = (int)e.count;
    KV_TRY(kv_h5_store_get_number(h, "/pca", "energy", &s->energy));
    if (mo.rank != 2 || mo.dims[0] != s->nmodes || mo.dims[1] != s->npts) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /pca/modes has the wrong shape", path);
      goto cleanup;
    }
    KV_TRY(load_layout(h, &s->layout));
    s->gp = calloc((size_t)s->nmodes, sizeof *s->gp);
    s->ngp = s->nmodes;
    for (int m = 0; m < s->nmodes; m++) {
      char grp[32];
      snprintf(grp, sizeof grp, "/mode_%04d", m);
      KV_TRY(load_gp(h, path, grp, ni, &s->gp[m]));
    }
  }
cleanup:
  kv_h5_store_close(h, 0);
  free(kind);
  free(ins);
  free(output);
  free(config);
  free(title);
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

/* ------------------------------------------------------------------ predict */

int kv_surrogate_predict(const kv_surrogate *s, long m, const double *X, double *mean,
                         double *var) {
  if (s->kind == KV_SURROGATE_GP) {
    return kv_gp_predict(s->gp[0], m, X, mean, var, 1);
  }
  if (s->kind == KV_SURROGATE_PATTERN) {
    /* Anomalies: intercept + sum of predictor x map; a regression gives no variance here. */
    for (long i = 0; i < m; i++) {
      double *mu = mean + i * s->npts;
      memcpy(mu, s->modes, (size_t)s->npts * sizeof *mu);
      for (int k = 0; k < s->ninputs; k++) {
        const double *b = s->modes + (size_t)(k + 1) * (size_t)s->npts;
        double x = X[i * s->ninputs + k];
        for (long p = 0; p < s->npts; p++) mu[p] += x * b[p];
      }
      if (var) memset(var + i * s->npts, 0, (size_t)s->npts * sizeof *var);
    }
    return KV_OK;
  }
  double *a = malloc(2 * (size_t)m * sizeof *a);
  if (!a) return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  double *av = a + m;
  for (long i = 0; i < m; i++) {
    memcpy(mean + i * s->npts, s->mean, (size_t)s->npts * sizeof *mean);
    if (var) memset(var + i * s->npts, 0, (size_t)s->npts * sizeof *var);
  }
  int rc = KV_OK;
  for (int k = 0; k < s->nmodes && rc == KV_OK; k++) {
    rc = kv_gp_predict(s->gp[k], m, X, a, av, 0);
    const double *phi = s->modes + (size_t)k * (size_t)s->npts;
    for (long i = 0; rc == KV_OK && i < m; i++) {
      double *mu = mean + i * s->npts, *v = var ? var + i * s->npts : NULL;
      for (long p = 0; p < s->npts; p++) {
        mu[p] += a[i] * phi[p];
        if (v) v[p] += phi[p] * phi[p] * av[i];
      }
    }
  }
  free(a);
  return rc;
}

int kv_surrogate_write_field(const kv_surrogate *s, long nrec, const double *times,
                             const double *mean, const double *var, const char *path,
                             const char *config) {
  const kv_field_layout *L = &s->layout;
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = L->ndims;
  for (int k = 0; k < L->ndims; k++) {
    gp.n[k] = L->n[k];
    gp.procs[k] = 1;
  }
  kv_grid *g = NULL;
  kv_field *fm = NULL, *fs = NULL;
  kv_h5_writer *w = NULL;
  int rc = KV_OK;
  KV_TRY(kv_grid_create(MPI_COMM_SELF, &gp, &g));
  KV_TRY(kv_field_create(g, &fm));
  KV_TRY(kv_field_create(g, &fs));
  kv_h5_axis axes[3];
  for (int k = 0; k < L->ndims; k++) {
    axes[k] = (kv_h5_axis){L->axis_name[k], L->axis_units[k], L->axis_std[k], L->axis_long[k],
                           L->axis_letter[k], L->coord[k]};
  }
  kv_h5_writer_params wp = {path, 1, "surrogate", "kelvin surrogate prediction", config,
                            L->axis_units[0], L->time_units, axes,
                            L->calendar[0] ? L->calendar : NULL};
  KV_TRY(kv_h5_writer_create(g, &wp, &w));
  char sname[80], slong[300];
  snprintf(sname, sizeof sname, "%s_std", L->var);
  snprintf(slong, sizeof slong, "standard deviation of the prediction of %s", L->long_name);
  for (long r = 0; r < nrec; r++) {
    {
      const long *st = kv_field_stride(fm);
      const int *gh = kv_field_ghost(fm);
      double *dm = kv_field_data(fm), *ds = kv_field_data(fs);
      long p = 0;
      for (long kk = 0; kk < (L->ndims > 2 ? L->n[2] : 1); kk++)
        for (long j = 0; j < (L->ndims > 1 ? L->n[1] : 1); j++)
          for (long i = 0; i < L->n[0]; i++, p++) {
            long q = kv_field_index(st, gh, i, j, kk);
            dm[q] = mean[r * s->npts + p];
            ds[q] = var ? sqrt(var[r * s->npts + p] > 0 ? var[r * s->npts + p] : 0.0) : 0.0;
          }
    }
    kv_output_list l = {0};
    KV_TRY(kv_output_add_field(&l, L->var, L->units, L->long_name, fm));
    if (var) KV_TRY(kv_output_add_field(&l, sname, L->units, slong, fs));
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
