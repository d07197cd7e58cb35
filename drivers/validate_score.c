/* kelvin validate of scalar, field and scenario surrogates: held-out design points and held-out
 * scenarios against the full solver. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "drivers/validate_impl.h"
#include "solvers/model.h"
#include "surrogates/metrics.h"

/* Scalar and field kinds: new LHS points; one truth per case. */
int kv_validate_score_points(const kv_config *cfg, const kv_validate_params *vp, const kv_sweep *hs,
                             const kv_surrogate *s, double solver_wall, kv_validation *v,
                             char *what, size_t whn) {
  const kv_field_layout *L = kv_surrogate_layout(s);
  int d = kv_surrogate_ninputs(s), field = L != NULL;
  long P = field ? kv_surrogate_noutputs(s) : 1;
  /* Held-out files (a model of files kelvin did not write): their inputs and fields. */
  kv_dataset fs;
  memset(&fs, 0, sizeof fs);
  if (!hs) {
    char in[2048] = "";
    for (int k = 0; k < d; k++) {
      size_t l = strlen(in);
      snprintf(in + l, sizeof in - l, "%s%s", k ? "," : "", kv_surrogate_input(s, k));
    }
    if (!field) {
      return KV_ERROR(KV_ERR_CONFIG, "validate: held-out files hold fields; %s is scalar",
                      kv_surrogate_kind(s));
    }
    KV_CHECK(kv_dataset_read_files(vp->files, vp->inputs_table, in, L->var, &fs));
    if (fs.npts != P) {
      kv_dataset_free(&fs);
      return KV_ERROR(KV_ERR_FORMAT, "validate: the held-out fields have %ld points, the model %ld",
                      fs.npts, P);
    }
  }
  long n = hs ? kv_sweep_ncases(hs) : fs.n;
  double *X = malloc((size_t)n * (size_t)d * sizeof *X);
  double *truth = malloc((size_t)n * (size_t)P * sizeof *truth);
  double *mean = malloc((size_t)n * (size_t)P * sizeof *mean);
  double *var = malloc((size_t)n * (size_t)P * sizeof *var);
  double *sd = malloc((size_t)n * (size_t)P * sizeof *sd);
  int rc = X && truth && mean && var && sd ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  /* Fields on the sphere are climate fields: scored as anomalies from the control climate, with
   * the ClimateBench NRMSE, when the runs cover 1850-1900. */
  int climate = field && kv_layout_is_sphere(L) && hs;
  if (rc == KV_OK && !hs) {
    memcpy(X, fs.X, (size_t)n * (size_t)d * sizeof *X);
    memcpy(truth, fs.fields, (size_t)n * (size_t)P * sizeof *truth);
  }
  long y0 = 0;
  double *base = NULL, *w = NULL;
  long *nbase = NULL;
  if (rc == KV_OK && climate) {
    rc = kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &y0);
    base = calloc((size_t)n * (size_t)P, sizeof *base);
    nbase = calloc((size_t)n, sizeof *nbase);
    w = malloc((size_t)P * sizeof *w);
    if (rc == KV_OK && (!base || !nbase || !w)) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
  }
  for (int k = 0; rc == KV_OK && hs && k < d; k++) {
    int col = -1;
    for (int j = 0; j < kv_sweep_nvars(hs); j++) {
      if (!strcmp(kv_sweep_var(hs, j), kv_surrogate_input(s, k))) {
        col = j;
      }
    }
    if (col < 0) {
      rc = KV_ERROR(KV_ERR_CONFIG, "validate: the model's input %s is not varied by the sweep",
                    kv_surrogate_input(s, k));
      break;
    }
    for (long c = 0; c < n; c++) {
      X[c * d + k] = strtod(kv_sweep_value(hs, c, col), NULL);
    }
  }
  for (long c = 0; rc == KV_OK && hs && c < n; c++) {
    char path[4200];
    kv_sweep_case_path(hs, c, path, sizeof path);
    if (!field) {
      rc = kv_dataset_case_qoi(path, kv_surrogate_output(s), &truth[c]);
    } else {
      kv_h5_array a;
      long np;
      rc = kv_dataset_last_record(path, L->var, &a, &np);
      if (rc == KV_OK && np != P) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %ld points, the model has %ld", path, np, P);
      }
      if (rc == KV_OK) {
        memcpy(truth + c * P, a.data + a.count - P, (size_t)P * sizeof *truth);
      }
      /* Climate fields: the case's own 1850-1900 mean is its control climate. */
      for (long t = 0; rc == KV_OK && climate && t < a.dims[0]; t++) {
        long yr = y0 + t;
        if (yr < KV_CONTROL_YEAR_FIRST || yr > KV_CONTROL_YEAR_LAST) {
          continue;
        }
        for (long q = 0; q < P; q++) {
          base[c * P + q] += a.data[t * P + q];
        }
        nbase[c]++;
      }
      if (rc == KV_OK) {
        kv_h5_array_free(&a);
      }
    }
  }
  double t0 = kv_comm_wtime();
  if (rc == KV_OK) {
    rc = kv_surrogate_predict(s, n, X, mean, var);
  }
  double tsur = (kv_comm_wtime() - t0) / (double)n;
  if (rc == KV_OK && climate) {
    for (long c = 0; c < n; c++) {
      climate &= nbase[c] > 0;
    }
    if (!climate) {
      kv_warn("validate: the runs do not cover 1850-1900: scored as absolute values");
    }
  }
  if (rc == KV_OK && climate) {
    for (long c = 0; c < n; c++) {
      for (long q = 0; q < P; q++) {
        double b = base[c * P + q] / (double)nbase[c];
        truth[c * P + q] -= b;
        mean[c * P + q] -= b;
      }
    }
    kv_layout_weights(L, w);
    for (long c = 0; c < n && rc == KV_OK; c++) {
      kv_nrmse nr;
      rc = kv_metric_nrmse(1, P, mean + c * P, truth + c * P, w, &nr);
      if (rc == KV_OK) {
        kv_validation_add(v, KV_M_NRMSE_SPATIAL, nr.spatial, 1.0 / n);
        kv_validation_add(v, KV_M_NRMSE_GLOBAL, nr.global, 1.0 / n);
        kv_validation_add(v, KV_M_NRMSE_TOTAL, nr.total, 1.0 / n);
      }
    }
  }
  if (rc == KV_OK) {
    for (long i = 0; i < n * P; i++) {
      sd[i] = sqrt(var[i] > 0 ? var[i] : 0.0);
    }
    if (!field) {
      kv_metrics m;
      kv_metrics_pointwise(n, mean, truth, &m);
      kv_validation_add(v, KV_M_RMSE, m.rmse, 1);
      kv_validation_add(v, KV_M_MAE, m.mae, 1);
      kv_validation_add(v, KV_M_MAX_ABS, m.max_abs, 1);
      kv_validation_add(v, KV_M_REL_L2, m.rel_l2, 1);
      kv_validation_add(v, KV_M_R2, m.r2, 1);
      /* Against a Gaussian with the training outputs' mean and variance (kinds that keep
       * them). */
      long nt = 0;
      const double *yt = NULL;
      if (kv_surrogate_training_y(s, &yt, &nt) == KV_OK && nt > 0) {
        double ym = 0.0, yv = 0.0;
        for (long i = 0; i < nt; i++) {
          ym += yt[i] / nt;
        }
        for (long i = 0; i < nt; i++) {
          yv += (yt[i] - ym) * (yt[i] - ym) / nt;
        }
        kv_validation_add(v, KV_M_MSLL, kv_metric_msll(n, mean, sd, truth, ym, yv > 0 ? yv : 1.0),
                          1);
      }
      kv_error_clear();
    } else {
      for (long c = 0; c < n; c++) {
        kv_metrics m;
        kv_metrics_pointwise(P, mean + c * P, truth + c * P, &m);
        kv_validation_add(v, KV_M_RMSE, m.rmse, 1.0 / n);
        kv_validation_add(v, KV_M_MAE, m.mae, 1.0 / n);
        kv_validation_add(v, KV_M_MAX_ABS, m.max_abs, 1.0 / n);
        kv_validation_add(v, KV_M_REL_L2, m.rel_l2, 1.0 / n);
        kv_validation_add(v, KV_M_R2, m.r2, 1.0 / n);
      }
    }
    double cov = kv_metric_coverage95(n * P, mean, sd, truth);
    if (!field) {
      /* The kind's own 95 % interval (back-transformed for transformed outputs). */
      double *lo = malloc(2 * (size_t)n * sizeof *lo);
      if (lo && kv_surrogate_interval(s, n, X, 0.95, lo, lo + n) == KV_OK) {
        long in = 0;
        for (long i = 0; i < n; i++) {
          in += truth[i] >= lo[i] && truth[i] <= lo[n + i];
        }
        cov = (double)in / (double)n;
      }
      kv_error_clear();
      free(lo);
    }
    kv_validation_add(v, KV_M_COVERAGE95, cov, 1);
    if (solver_wall > 0) {
      kv_validation_add(v, KV_M_SPEEDUP, solver_wall / fmax(tsur, 1e-9), 1);
    }
    v->ncases = n;
  }
  /* validation.h5 */
  kv_h5_store *h = NULL;
  char path[4200], var_[300];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  snprintf(var_, sizeof var_, "%.255s", field ? L->var : kv_surrogate_output(s));
  if (rc == KV_OK) {
    rc = kv_h5_store_create(path, &h);
  }
  const char *units = field ? L->units : "";
  if (rc == KV_OK) {
    rc = kv_validate_store_coords(h, field ? L : NULL, n, "held-out case");
  }
  if (rc == KV_OK) {
    /* The inputs: a matrix (case, input), and each one a CF auxiliary coordinate of case, so
     * that xarray shows every case's inputs beside its fields. */
    long di[2] = {n, d};
    char names[2048] = "", coords[2048] = "";
    double *col = malloc(((size_t)n + 1) * sizeof *col);
    rc = col ? kv_h5_store_put_dims(h, "/inputs", 2, di, X, (const char *[]){"case", "input"})
             : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    for (int k = 0; rc == KV_OK && k < d; k++) {
      const char *in = kv_surrogate_input(s, k);
      strncat(names, k ? "," : "", sizeof names - strlen(names) - 1);
      strncat(names, in, sizeof names - strlen(names) - 1);
      char vname[300];
      snprintf(vname, sizeof vname, "/%s", in);
      if (strchr(in, '/') || kv_h5_store_has(h, vname)) {
        continue; /* not a netCDF name, or taken by a coordinate */
      }
      for (long c = 0; c < n; c++) {
        col[c] = X[c * d + k];
      }
      rc = kv_validate_store_var(h, vname, n, NULL, NULL, 0, col, NULL, "input of the surrogate",
                                 NULL);
      strncat(coords, coords[0] ? " " : "", sizeof coords - strlen(coords) - 1);
      strncat(coords, in, sizeof coords - strlen(coords) - 1);
    }
    free(col);
    if (rc == KV_OK) {
      rc = kv_h5_store_put_text(h, "/inputs", "names", names);
    }
    const char *suffix[3] = {"truth", "prediction", "std"};
    const double *dat[3] = {truth, mean, sd};
    for (int k = 0; k < 3 && rc == KV_OK; k++) {
      char name[340], lname[600];
      snprintf(name, sizeof name, "/%s_%s", var_, suffix[k]);
      snprintf(lname, sizeof lname, "%s: %s", var_,
               k == 0   ? (climate ? "full solver, anomaly of the final record from the run's own "
                                     "1850-1900 mean (the control climate)"
                                   : "full solver")
               : k == 1 ? "surrogate prediction"
                        : "standard deviation of the surrogate prediction");
      rc = kv_validate_store_var(h, name, n, field ? L : NULL, NULL, 0, dat[k], units, lname,
                                 coords);
    }
  }
  if (hs) {
    snprintf(what, whn,
             "Surrogate `%s` of `%s`, against the full solver on %ld new Latin-"
             "hypercube points.",
             kv_surrogate_kind(s), var_, n);
  } else {
    snprintf(what, whn, "Surrogate `%s` of `%s`, against %ld held-out files (%s).",
             kv_surrogate_kind(s), var_, n, vp->files);
  }
  if (rc == KV_OK) {
    rc = kv_validate_store_metrics(h, v, units);
  }
  if (h) {
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) {
      rc = rc2;
    }
  }
  if (rc == KV_OK && field) {
    rc = kv_validate_append_maps(v, L, truth, mean, P, "held-out case 0", what, whn);
  }
  free(X);
  free(truth);
  free(mean);
  free(var);
  free(sd);
  free(base);
  free(nbase);
  free(w);
  kv_dataset_free(&fs);
  return rc;
}

/* The scenario inputs of a surrogate for nt years: the scenario's forcing (the model's, or
 * scenario k of the held-out files fs) and the solver's global-mean anomaly g (NULL: unknown). */
static int scenario_inputs(const kv_config *cfg, const kv_dataset *fs, int k, const char *scen,
                           long y0, long nt, const double *g, double *X) {
  double *f = malloc(((size_t)nt * KV_FORCING_COLS + 1) * sizeof *f);
  if (!f) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = KV_OK;
  if (fs && fs->forcing) { /* held-out scenarios of a set of files: their own forcing */
    memcpy(f, fs->forcing + (size_t)k * (size_t)nt * KV_FORCING_COLS,
           (size_t)nt * KV_FORCING_COLS * sizeof *f);
  } else {
    rc = kv_fit_scenario_forcing(cfg, scen, (int)y0, (int)nt, f);
  }
  for (long t = 0; rc == KV_OK && t < nt; t++) {
    for (int c = 0; c < KV_FORCING_COLS; c++) {
      X[t * KV_SCENARIO_COLS + c] = f[t * KV_FORCING_COLS + c];
    }
    X[t * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE] = g ? g[t] : NAN;
  }
  free(f);
  return rc;
}

/* Refit on the first m members of each training scenario and score against the held-out truth
 * (window anomalies, ns scenarios): the internal-variability noise floor. */
static int members_study(const kv_config *cfg, const kv_validate_params *vp, const kv_surrogate *s,
                         const kv_dataset *fs, char scen[][64], int ns, long y0, long nt, long t0,
                         long nw, const double *allT, const double *gall, const double *w,
                         kv_h5_store *h, char *what, size_t whn) {
  int nm = vp->nstudy;
  const long *list = vp->study;
  const kv_surrogate_type *t = kv_surrogate_type_get(s);
  long np = kv_surrogate_noutputs(s);
  const double *ref = kv_surrogate_reference(s);
  double *res = calloc(4 * (size_t)nm + 1, sizeof *res);
  double *X = malloc(((size_t)nt * KV_SCENARIO_COLS + 1) * sizeof *X);
  double *Pr = malloc(((size_t)nt * (size_t)np + 1) * sizeof *Pr);
  double *g = malloc(((size_t)nt + 1) * sizeof *g), *dc = malloc(((size_t)np + 1) * sizeof *dc);
  void *params = NULL;
  int rc = res && X && Pr && g && dc && ref ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    rc = kv_surrogate_params_create(t, cfg, &params);
  }
  size_t len = strlen(what);
  len += (size_t)snprintf(what + len, whn - len,
                          "\n\n## Internal variability: members in the "
                          "training ensemble means\n\nThe same surrogate refitted on the "
                          "ensemble means of the first m members of each training scenario, "
                          "scored against the held-out truth above.\n\n| members | "
                          "nrmse_spatial | nrmse_global | nrmse_total |\n|---|---|---|---|\n");
  for (int i = 0; rc == KV_OK && i < nm; i++) {
    kv_surrogate *r = NULL;
    kv_dataset ds;
    rc = kv_fit_dataset(cfg, t, (int)list[i], &ds);
    if (rc == KV_OK) {
      rc = kv_surrogate_fit(t, &ds, params, kv_surrogate_config(s), &r);
    }
    kv_dataset_free(&ds);
    const double *rref = r ? kv_surrogate_reference(r) : NULL;
    double sum[3] = {0, 0, 0};
    for (int k = 0; rc == KV_OK && k < ns; k++) {
      const double *tw = allT + (size_t)k * nw * np;
      /* The refit's own control climate differs: its anomalies are shifted by the difference,
       * and its predictions shifted back to the reference control before scoring. */
      for (long q = 0; q < np; q++) {
        dc[q] = ref[q] - rref[q];
      }
      double shift = kv_metric_wmean(np, dc, w);
      for (long tt = 0; tt < nt; tt++) {
        g[tt] = gall[(size_t)k * nt + tt] + shift;
      }
      rc = scenario_inputs(cfg, fs, k, scen[k], y0, nt, g, X);
      if (rc == KV_OK) {
        rc = kv_surrogate_predict(r, nt, X, Pr, NULL);
      }
      for (long tt = 0; rc == KV_OK && tt < nt; tt++) {
        for (long q = 0; q < np; q++) {
          Pr[tt * np + q] += rref[q] - ref[q];
        }
      }
      kv_nrmse nr;
      if (rc == KV_OK) {
        rc = kv_metric_nrmse(nw, np, Pr + t0 * np, tw, w, &nr);
      }
      if (rc == KV_OK) {
        sum[0] += nr.spatial / ns;
        sum[1] += nr.global / ns;
        sum[2] += nr.total / ns;
      }
    }
    if (rc == KV_OK) {
      res[i] = (double)list[i];
      res[nm + i] = sum[0];
      res[2 * nm + i] = sum[1];
      res[3 * nm + i] = sum[2];
      len += (size_t)snprintf(what + len, whn - len, "| %ld | %.4f | %.4f | %.4f |\n", list[i],
                              sum[0], sum[1], sum[2]);
      kv_info("members study: %ld member%s: NRMSE spatial %.4f, global %.4f, total %.4f", list[i],
              list[i] == 1 ? "" : "s", sum[0], sum[1], sum[2]);
    }
    kv_surrogate_free(r);
  }
  long n = nm;
  if (rc == KV_OK) {
    rc = kv_h5_store_put(h, "/members_study/members", 1, &n, res);
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put(h, "/members_study/nrmse_spatial", 1, &n, res + nm);
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put(h, "/members_study/nrmse_global", 1, &n, res + 2 * nm);
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put(h, "/members_study/nrmse_total", 1, &n, res + 3 * nm);
  }
  kv_surrogate_params_free(t, params);
  free(res);
  free(X);
  free(Pr);
  free(g);
  free(dc);
  return rc;
}

/* Scenario kinds: held-out scenarios; the truth is the ensemble mean's anomaly from the
 * surrogate's reference, scored in the window validate.years. */
int kv_validate_score_scenarios(const kv_config *cfg, const kv_validate_params *vp,
                                const kv_sweep *hs, const kv_surrogate *s, double solver_wall,
                                kv_validation *v, char *what, size_t whn) {
  int w0 = vp->year_first, w1 = vp->year_last;
  long y0 = 0;
  const kv_model_type *type = NULL;
  const kv_field_layout *L = kv_surrogate_layout(s);
  const double *ref = kv_surrogate_reference(s);
  /* Held-out scenarios of a ClimateBench-style set: their member means and forcing. */
  kv_dataset fs;
  memset(&fs, 0, sizeof fs);
  if (!hs && L) {
    KV_CHECK(kv_dataset_read_climatebench(vp->set_dir, vp->scenarios, 0, L->var, &fs));
    y0 = fs.year0;
  } else {
    KV_CHECK(kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &y0));
    KV_CHECK(kv_model_type_of(cfg, &type));
  }
  if (!L || !ref || (hs && !type->scenario_key)) {
    return KV_ERROR(KV_ERR_INVALID,
                    "validate: %s is not a scenario surrogate of a model with "
                    "scenarios",
                    kv_surrogate_kind(s));
  }
  int sk = -1;
  for (int j = 0; hs && j < kv_sweep_nvars(hs); j++) {
    if (!strcmp(kv_sweep_var(hs, j), type->scenario_key)) {
      sk = j;
    }
  }
  long nc = hs ? kv_sweep_ncases(hs) : fs.ngroups, np = kv_surrogate_noutputs(s);
  char **files = calloc((size_t)nc + 1, sizeof *files);
  char scen[32][64];
  int ns = 0,
      rc = files && (sk >= 0 || !hs) ? KV_OK : KV_ERROR(KV_ERR_INVALID, "validate: no scenarios");
  for (int k = 0; !hs && k < fs.ngroups && k < 32; k++) {
    snprintf(scen[ns++], sizeof scen[0], "%s", fs.groups[k]);
  }
  for (long c = 0; rc == KV_OK && hs && c < nc; c++) {
    const char *sc = kv_sweep_value(hs, c, sk);
    int found = 0;
    for (int k = 0; k < ns; k++) {
      found |= !strcmp(scen[k], sc);
    }
    if (!found && ns < 32) {
      snprintf(scen[ns++], sizeof scen[0], "%s", sc);
    }
  }
  double *w = malloc(((size_t)np + 1) * sizeof *w);
  long nt = 0, t0 = w0 - y0, nw = w1 - w0 + 1;
  double *T = NULL, *Pr = NULL, *X = NULL, *g = NULL;
  double *allT = NULL, *allP = NULL, *gall = NULL, tsur = 0.0;
  if (rc == KV_OK && !w) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc == KV_OK) {
    kv_layout_weights(L, w);
  }
  for (int k = 0; rc == KV_OK && k < ns; k++) {
    int nf = 0;
    for (long c = 0; hs && c < nc; c++) {
      if (strcmp(kv_sweep_value(hs, c, sk), scen[k])) {
        continue;
      }
      char path[4200];
      kv_sweep_case_path(hs, c, path, sizeof path);
      files[nf++] = strdup(path);
    }
    long np2 = fs.npts;
    if (hs) {
      rc = kv_dataset_ensemble_mean(files, nf, L->var, &nt, &np2, &T);
    } else {
      nt = fs.nt;
      T = malloc(((size_t)nt * (size_t)np + 1) * sizeof *T);
      rc = T ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
      if (rc == KV_OK) {
        memcpy(T, fs.series + (size_t)k * (size_t)nt * (size_t)np,
               (size_t)nt * (size_t)np * sizeof *T);
      }
    }
    for (int m = 0; m < nf; m++) {
      free(files[m]);
    }
    if (rc != KV_OK) {
      break;
    }
    if (np2 != np || t0 < 0 || t0 + nw > nt) {
      rc = KV_ERROR(KV_ERR_CONFIG,
                    "validate: the held-out runs (%ld-%ld, %ld points) do not "
                    "cover validate.years = %d:%d of the model's %ld points",
                    y0, y0 + nt - 1, np2, w0, w1, np);
      break;
    }
    if (!allT) {
      allT = malloc(((size_t)ns * (size_t)nw * (size_t)np + 1) * sizeof *allT);
      allP = malloc(((size_t)ns * (size_t)nw * (size_t)np + 1) * sizeof *allP);
      Pr = malloc(((size_t)nt * (size_t)np + 1) * sizeof *Pr);
      X = malloc(((size_t)nt * KV_SCENARIO_COLS + 1) * sizeof *X);
      g = malloc(((size_t)nt + 1) * sizeof *g);
      gall = malloc(((size_t)ns * (size_t)nt + 1) * sizeof *gall);
      if (!allT || !allP || !Pr || !X || !g || !gall) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
        break;
      }
    }
    for (long t = 0; t < nt; t++) {
      for (long q = 0; q < np; q++) {
        T[t * np + q] -= ref[q];
      }
      g[t] = kv_metric_wmean(np, T + t * np, w);
      gall[(size_t)k * nt + t] = g[t];
    }
    double ts = kv_comm_wtime();
    rc = scenario_inputs(cfg, hs ? NULL : &fs, k, scen[k], y0, nt, g, X);
    if (rc == KV_OK) {
      rc = kv_surrogate_predict(s, nt, X, Pr, NULL);
    }
    tsur += kv_comm_wtime() - ts;
    if (rc == KV_OK) {
      const double *tw = T + t0 * np, *pw = Pr + t0 * np;
      kv_nrmse nr;
      kv_metrics m;
      rc = kv_metric_nrmse(nw, np, pw, tw, w, &nr);
      if (rc == KV_OK) {
        kv_metrics_pointwise(nw * np, pw, tw, &m);
        double wt = 1.0 / ns;
        kv_validation_add(v, KV_M_RMSE, m.rmse, wt);
        kv_validation_add(v, KV_M_MAE, m.mae, wt);
        kv_validation_add(v, KV_M_MAX_ABS, m.max_abs, wt);
        kv_validation_add(v, KV_M_REL_L2, m.rel_l2, wt);
        kv_validation_add(v, KV_M_R2, m.r2, wt);
        kv_validation_add(v, KV_M_NRMSE_SPATIAL, nr.spatial, wt);
        kv_validation_add(v, KV_M_NRMSE_GLOBAL, nr.global, wt);
        kv_validation_add(v, KV_M_NRMSE_TOTAL, nr.total, wt);
        memcpy(allT + (size_t)k * nw * np, tw, (size_t)(nw * np) * sizeof *allT);
        memcpy(allP + (size_t)k * nw * np, pw, (size_t)(nw * np) * sizeof *allP);
      }
    }
    free(T);
    T = NULL;
  }
  if (rc == KV_OK) {
    v->ncases = ns;
    /* A scenario's full runs against the surrogate's prediction of it. */
    if (solver_wall > 0) {
      kv_validation_add(v, KV_M_SPEEDUP, solver_wall * (double)nc / ns / fmax(tsur / ns, 1e-9), 1);
    }
  }
  kv_h5_store *h = NULL;
  char path[4200], name[128];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  if (rc == KV_OK) {
    rc = kv_h5_store_create(path, &h);
  }
  if (rc == KV_OK) {
    double *years = malloc(((size_t)nw + 1) * sizeof *years);
    for (long t = 0; years && t < nw; t++) {
      years[t] = (double)(w0 + t);
    }
    rc = years ? kv_validate_store_coords(h, L, ns, "held-out scenario (see scenario)")
               : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK) {
      rc = kv_h5_store_coord(h, "/year", nw, years, "1", NULL, "calendar year");
    }
    free(years);
    char list[2048] = "";
    for (int k = 0; k < ns; k++) {
      strncat(list, k ? "," : "", sizeof list - strlen(list) - 1);
      strncat(list, scen[k], sizeof list - strlen(list) - 1);
    }
    double ids[32];
    long nsl = ns;
    for (int k = 0; k < ns; k++) {
      ids[k] = k;
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_dims(h, "/inputs", 1, &nsl, ids, (const char *[]){"case"});
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_text(h, "/inputs", "scenarios", list);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_text(h, "/", "scenarios", list);
    }
    char lname[400];
    snprintf(name, sizeof name, "/%s_truth", L->var);
    snprintf(lname, sizeof lname,
             "%s: full solver, ensemble-mean anomaly from the control climate "
             "(the surrogate's reference)",
             L->var);
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, name, ns, L, "year", nw, allT, L->units, lname, NULL);
    }
    snprintf(name, sizeof name, "/%s_prediction", L->var);
    snprintf(lname, sizeof lname, "%s: surrogate prediction of the anomaly", L->var);
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, name, ns, L, "year", nw, allP, L->units, lname, NULL);
    }
    if (rc == KV_OK) {
      rc = kv_validate_store_metrics(h, v, L->units);
    }
  }
  snprintf(what, whn,
           "Surrogate `%s` against the full solver's ensemble mean of %s, %s "
           "anomalies from the control climate, years %d-%d.",
           kv_surrogate_kind(s), scen[0], L->var, w0, w1);
  if (rc == KV_OK && vp->nstudy > 0) {
    rc = members_study(cfg, vp, s, hs ? NULL : &fs, scen, ns, y0, nt, t0, nw, allT, gall, w, h,
                       what, whn);
  }
  if (h) {
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) {
      rc = rc2;
    }
  }
  if (rc == KV_OK) {
    /* Maps of the window means of the first held-out scenario. */
    double *mt = calloc((size_t)np + 1, sizeof *mt), *mp = calloc((size_t)np + 1, sizeof *mp);
    for (long t = 0; mt && mp && t < nw; t++) {
      for (long q = 0; q < np; q++) {
        mt[q] += allT[t * np + q] / nw;
        mp[q] += allP[t * np + q] / nw;
      }
    }
    char label[128];
    snprintf(label, sizeof label, "%s %d-%d mean", scen[0], w0, w1);
    rc = mt && mp ? kv_validate_append_maps(v, L, mt, mp, np, label, what, whn)
                  : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    free(mt);
    free(mp);
  }
  free(files);
  kv_dataset_free(&fs);
  free(w);
  free(T);
  free(Pr);
  free(X);
  free(g);
  free(allT);
  free(allP);
  free(gall);
  return rc;
}
