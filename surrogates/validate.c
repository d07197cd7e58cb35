#include "surrogates/validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/manifest.h"
#include "io/plot.h"
#include "io/textfile.h"
#include "solvers/model.h"
#include "solvers/sweep.h"
#include "surrogates/fit.h"
#include "surrogates/metrics.h"
#include "surrogates/pattern.h"
#include "surrogates/surrogate.h"

const char *const kv_metric_names[KV_M_COUNT] = {
    "rmse", "mae", "max_abs", "rel_l2", "r2", "nrmse_spatial", "nrmse_global", "nrmse_total",
    "coverage95", "msll", "speedup"};

/* r2, coverage95 and speedup are better when larger: their tolerance is a minimum. */
static int lower_bound(int m) { return m == KV_M_R2 || m == KV_M_COVERAGE95 || m == KV_M_SPEEDUP; }

#define TOL(name, doc) {"validate.tolerance." name, KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, doc}
const kv_config_key kv_validate_keys[] = {
    {"validate.samples", KV_CFG_INT, NULL, NULL, 1, 100000000,
     "gp/pcagp: held-out cases, new LHS points over the sweep's ranges"},
    {"validate.seed", KV_CFG_INT, "99", NULL, 0, 4294967295.0, "seed of the held-out design"},
    {"validate.scenarios", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "pattern: held-out scenarios (the truth is their ensemble mean)"},
    {"validate.members", KV_CFG_INT, "1", NULL, 1, 100000, "pattern: members per held-out scenario"},
    {"validate.members_study", KV_CFG_INT_LIST, NULL, NULL, 1, 100000,
     "pattern: refit on ensemble means of this many members each and score each refit (the "
     "internal-variability noise floor)"},
    {"validate.vary", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "pod: held-out cases as a grid, like sweep.vary (e.g. heat.source_scale = 1.3|3); else "
     "validate.samples new LHS points"},
    {"validate.rom_tolerance", KV_CFG_DOUBLE, "1e-3", NULL, 0.0, INFINITY,
     "pod: rom.tolerance of the ROM runs"},
    {"validate.rom_adaptive", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "pod: rom.adaptive of the ROM runs (false: the indicator only watches)"},
    {"validate.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where validation.h5/.md and the held-out runs go (default: the sweep directory)"},
    {"validate.years", KV_CFG_STRING, "2080:2100", NULL, KV_CFG_NORANGE,
     "climate fields: the evaluation window, first:last year"},
    TOL("rmse", "fail (exit 1) above this RMSE"),
    TOL("mae", "fail above this mean absolute error"),
    TOL("max_abs", "fail above this largest error"),
    TOL("rel_l2", "fail above this relative L2 error"),
    TOL("r2", "fail below this R^2"),
    TOL("nrmse_spatial", "fail above this ClimateBench spatial NRMSE"),
    TOL("nrmse_global", "fail above this ClimateBench global NRMSE"),
    TOL("nrmse_total", "fail above this ClimateBench total NRMSE"),
    TOL("coverage95", "fail below this fraction of truths in the 95 % interval"),
    TOL("msll", "fail above this mean standardised log loss (gp)"),
    TOL("speedup", "fail below this speed-up over the full solver"),
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static void add(kv_validation *v, int m, double x, double weight) {
  v->value[m] += weight * x;
  v->have[m] = 1;
}

/* ------------------------------------------------------------------ report */

void kv_validation_print(const kv_validation *v, void *stream) {
  FILE *f = stream;
  fprintf(f, "| metric | value | tolerance |\n|---|---|---|\n");
  for (int m = 0; m < KV_M_COUNT; m++) {
    if (!v->have[m]) continue;
    char t[64] = "-";
    if (v->has_tol[m]) {
      snprintf(t, sizeof t, "%s %.4g: %s", lower_bound(m) ? ">=" : "<=", v->tol[m],
               v->failed[m] ? "**FAILED**" : "ok");
    }
    fprintf(f, "| %s | %.6g | %s |\n", kv_metric_names[m], v->value[m], t);
  }
}

static int write_report(const kv_validation *v, const char *what, const char *maps) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/validation.md", v->dir);
  FILE *f = kv_textfile_begin(path, tmp, sizeof tmp);
  if (!f) return KV_ERR_IO;
  fprintf(f, "# kelvin validation\n\n%s\n\n%ld held-out case%s. ", what, v->ncases,
          v->ncases == 1 ? "" : "s");
  if (v->have[KV_M_SPEEDUP]) {
    fprintf(f, "The surrogate is %.3g times faster than the full solver per case.", v->value[KV_M_SPEEDUP]);
  }
  fprintf(f, "\n\n");
  kv_validation_print(v, f);
  fprintf(f, "\n%s\n", v->nfailed ? "**Some tolerances are exceeded.**" : "Every tolerance holds.");
  if (maps && maps[0]) fprintf(f, "\n%s", maps);
  fprintf(f, "\nData: `validation.h5` (`/truth`, `/prediction`, `/std`, `/inputs`, `/metrics`).\n");
  return kv_textfile_commit(f, tmp, path);
}

/* Maps of truth, prediction and error (nx x ny each). */
static int write_maps(const kv_validation *v, const kv_field_layout *L, const double *truth,
                      const double *pred, long np, const char *label, char *md, size_t mdn) {
  if (L->ndims < 2) {
    md[0] = '\0';
    return KV_OK;
  }
  long nx = L->n[0], ny = L->n[1];
  double *err = malloc((size_t)np * sizeof *err);
  if (!err) return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  for (long p = 0; p < np; p++) err[p] = pred[p] - truth[p];
  const char *names[3] = {"truth", "prediction", "error"};
  const double *data[3] = {truth, pred, err};
  int rc = KV_OK;
  size_t len = 0;
  md[0] = '\0';
  for (int k = 0; k < 3 && rc == KV_OK; k++) {
    char path[4200], title[256];
    snprintf(path, sizeof path, "%s/validation_%s.png", v->dir, names[k]);
    snprintf(title, sizeof title, "%s: %s", names[k], label);
    kv_plot_opts o = {800, 480, title, L->units, L->axis_long[0][0] ? L->axis_name[0] : "x",
                      L->axis_name[1], k == 2};
    rc = kv_plot_map(data[k], nx, ny, L->coord[0], L->coord[1], &o, path);
    len += (size_t)snprintf(md + len, mdn - len, "![%s](validation_%s.png)\n", names[k], names[k]);
  }
  free(err);
  return rc;
}

static int store_layout_coords(kv_h5_store *h, const kv_field_layout *L) {
  for (int k = 0; k < L->ndims; k++) {
    char name[64];
    snprintf(name, sizeof name, "/%s", L->axis_name[k]);
    KV_CHECK(kv_h5_store_put(h, name, 1, &L->n[k], L->coord[k]));
    KV_CHECK(kv_h5_store_put_text(h, name, "units", L->axis_units[k]));
  }
  return KV_OK;
}

static int store_metrics(kv_h5_store *h, const kv_validation *v) {
  double one = 0.0;
  long n1 = 1;
  KV_CHECK(kv_h5_store_put(h, "/metrics", 0, &n1, &one));
  KV_CHECK(kv_h5_store_put_text(h, "/metrics", "long_name",
                                "validation metrics (one attribute each; mean over cases)"));
  for (int m = 0; m < KV_M_COUNT; m++) {
    if (v->have[m]) KV_CHECK(kv_h5_store_put_number(h, "/metrics", kv_metric_names[m], v->value[m]));
  }
  return KV_OK;
}

/* ------------------------------------------------------------------ scoring */

/* gp and pcagp: new LHS points; one truth per case. */
static int score_points(const kv_config *cfg, const kv_sweep *hs, const kv_surrogate *s,
                        double solver_wall,
                        kv_validation *v, char *what, size_t whn) {
  long n = kv_sweep_ncases(hs);
  int d = s->ninputs, field = s->kind == KV_SURROGATE_PCAGP;
  long P = field ? s->npts : 1;
  double *X = malloc((size_t)n * (size_t)d * sizeof *X);
  double *truth = malloc((size_t)n * (size_t)P * sizeof *truth);
  double *mean = malloc((size_t)n * (size_t)P * sizeof *mean);
  double *var = malloc((size_t)n * (size_t)P * sizeof *var);
  double *sd = malloc((size_t)n * (size_t)P * sizeof *sd);
  int rc = X && truth && mean && var && sd ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  /* Fields on the sphere are climate fields: scored as anomalies from the control climate, with
   * the ClimateBench NRMSE, when the runs cover 1850-1900. */
  int climate = field && !strcmp(s->layout.axis_name[0], "lon") && s->layout.ndims == 2;
  long y0 = 0;
  double *base = NULL, *w = NULL;
  long *nbase = NULL;
  if (rc == KV_OK && climate) {
    rc = kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &y0);
    base = calloc((size_t)n * (size_t)P, sizeof *base);
    nbase = calloc((size_t)n, sizeof *nbase);
    w = malloc((size_t)P * sizeof *w);
    if (rc == KV_OK && (!base || !nbase || !w)) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (int k = 0; rc == KV_OK && k < d; k++) {
    int col = -1;
    for (int j = 0; j < kv_sweep_nvars(hs); j++) {
      if (!strcmp(kv_sweep_var(hs, j), s->inputs[k])) col = j;
    }
    if (col < 0) {
      rc = KV_ERROR(KV_ERR_CONFIG, "validate: the model's input %s is not varied by the sweep",
                    s->inputs[k]);
      break;
    }
    for (long c = 0; c < n; c++) X[c * d + k] = strtod(kv_sweep_value(hs, c, col), NULL);
  }
  for (long c = 0; rc == KV_OK && c < n; c++) {
    char path[4200];
    kv_sweep_case_path(hs, c, path, sizeof path);
    if (!field) {
      rc = kv_fit_case_qoi(path, s->output, &truth[c]);
    } else {
      kv_h5_array a;
      long np;
      rc = kv_fit_last_record(path, s->layout.var, &a, &np);
      if (rc == KV_OK && np != P) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %ld points, the model has %ld", path, np, P);
      }
      if (rc == KV_OK) memcpy(truth + c * P, a.data + a.count - P, (size_t)P * sizeof *truth);
      /* Climate fields: the case's own 1850-1900 mean is its control climate. */
      for (long t = 0; rc == KV_OK && climate && t < a.dims[0]; t++) {
        long yr = y0 + t;
        if (yr < 1850 || yr > 1900) continue;
        for (long q = 0; q < P; q++) base[c * P + q] += a.data[t * P + q];
        nbase[c]++;
      }
      if (rc == KV_OK) kv_h5_array_free(&a);
    }
  }
  double t0 = MPI_Wtime();
  if (rc == KV_OK) rc = kv_surrogate_predict(s, n, X, mean, var);
  double tsur = (MPI_Wtime() - t0) / (double)n;
  if (rc == KV_OK && climate) {
    for (long c = 0; c < n; c++) climate &= nbase[c] > 0;
    if (!climate) kv_warn("validate: the runs do not cover 1850-1900: scored as absolute values");
  }
  if (rc == KV_OK && climate) {
    for (long c = 0; c < n; c++)
      for (long q = 0; q < P; q++) {
        double b = base[c * P + q] / (double)nbase[c];
        truth[c * P + q] -= b;
        mean[c * P + q] -= b;
      }
    kv_pattern_weights(s, w);
    for (long c = 0; c < n && rc == KV_OK; c++) {
      kv_nrmse nr;
      rc = kv_metric_nrmse(1, P, mean + c * P, truth + c * P, w, &nr);
      if (rc == KV_OK) {
        add(v, KV_M_NRMSE_SPATIAL, nr.spatial, 1.0 / n);
        add(v, KV_M_NRMSE_GLOBAL, nr.global, 1.0 / n);
        add(v, KV_M_NRMSE_TOTAL, nr.total, 1.0 / n);
      }
    }
  }
  if (rc == KV_OK) {
    for (long i = 0; i < n * P; i++) sd[i] = sqrt(var[i] > 0 ? var[i] : 0.0);
    if (!field) {
      kv_metrics m;
      kv_metrics_pointwise(n, mean, truth, &m);
      add(v, KV_M_RMSE, m.rmse, 1);
      add(v, KV_M_MAE, m.mae, 1);
      add(v, KV_M_MAX_ABS, m.max_abs, 1);
      add(v, KV_M_REL_L2, m.rel_l2, 1);
      add(v, KV_M_R2, m.r2, 1);
      /* Against a Gaussian with the training outputs' mean and variance. */
      long nt = kv_gp_size(s->gp[0]);
      const double *yt = kv_gp_y_raw(s->gp[0]);
      double ym = 0.0, yv = 0.0;
      for (long i = 0; i < nt; i++) ym += yt[i] / nt;
      for (long i = 0; i < nt; i++) yv += (yt[i] - ym) * (yt[i] - ym) / nt;
      add(v, KV_M_MSLL, kv_metric_msll(n, mean, sd, truth, ym, yv > 0 ? yv : 1.0), 1);
    } else {
      for (long c = 0; c < n; c++) {
        kv_metrics m;
        kv_metrics_pointwise(P, mean + c * P, truth + c * P, &m);
        add(v, KV_M_RMSE, m.rmse, 1.0 / n);
        add(v, KV_M_MAE, m.mae, 1.0 / n);
        add(v, KV_M_MAX_ABS, m.max_abs, 1.0 / n);
        add(v, KV_M_REL_L2, m.rel_l2, 1.0 / n);
        add(v, KV_M_R2, m.r2, 1.0 / n);
      }
    }
    add(v, KV_M_COVERAGE95, kv_metric_coverage95(n * P, mean, sd, truth), 1);
    add(v, KV_M_SPEEDUP, solver_wall / fmax(tsur, 1e-9), 1);
    v->ncases = n;
  }
  /* validation.h5 */
  kv_h5_store *h = NULL;
  char path[4200], var_[300];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  snprintf(var_, sizeof var_, "%.255s", field ? s->layout.var : s->output);
  if (rc == KV_OK) rc = kv_h5_store_create(path, &h);
  if (rc == KV_OK) {
    long dims[4] = {n, 1, 1, 1}, di[2] = {n, d};
    int rank = 1;
    if (field) {
      rank = 1 + s->layout.ndims;
      for (int k = 0; k < s->layout.ndims; k++) dims[1 + k] = s->layout.n[s->layout.ndims - 1 - k];
    }
    const char *grp[3] = {"truth", "prediction", "std"};
    const double *dat[3] = {truth, mean, sd};
    for (int k = 0; k < 3 && rc == KV_OK; k++) {
      char name[340];
      snprintf(name, sizeof name, "/%s/%s", grp[k], var_);
      rc = kv_h5_store_put(h, name, rank, dims, dat[k]);
    }
    char names[2048] = "";
    for (int k = 0; k < d; k++) {
      strncat(names, k ? "," : "", sizeof names - strlen(names) - 1);
      strncat(names, s->inputs[k], sizeof names - strlen(names) - 1);
    }
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/inputs", 2, di, X);
    if (rc == KV_OK) rc = kv_h5_store_put_text(h, "/inputs", "names", names);
    if (rc == KV_OK && field) rc = store_layout_coords(h, &s->layout);
    if (rc == KV_OK && climate) {
      char name[340];
      snprintf(name, sizeof name, "/truth/%s", var_);
      rc = kv_h5_store_put_text(h, name, "long_name", "anomaly of the final record from the "
                                "run's own 1850-1900 mean (the control climate)");
    }
  }
  snprintf(what, whn, "Surrogate `%s` (%s) of `%s`, against the full solver on %ld new Latin-"
           "hypercube points.", s->kind == KV_SURROGATE_GP ? "gp" : "pcagp",
           s->ngp ? kv_kernel_name(kv_gp_opts(s->gp[0])->kernel) : "", var_, n);
  if (rc == KV_OK) rc = store_metrics(h, v);
  if (h) {
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) rc = rc2;
  }
  if (rc == KV_OK && field) {
    char md[1024];
    rc = write_maps(v, &s->layout, truth, mean, P, "held-out case 0", md, sizeof md);
    strncat(what, "\n\n", whn - strlen(what) - 1);
    strncat(what, md, whn - strlen(what) - 1);
  }
  free(X);
  free(truth);
  free(mean);
  free(var);
  free(sd);
  free(base);
  free(nbase);
  free(w);
  return rc;
}

/* pattern: held-out scenarios; the truth is the ensemble mean's anomaly, scored in the window. */
/* Refit on m members and score against the held-out truth (window anomalies, ns scenarios). */
static int members_study(const kv_config *cfg, const char *train_dir, const kv_surrogate *s,
                         char scen[][64], int ns, long y0, long nt, long t0, long nw,
                         const double *allT, const double *gall, const double *w,
                         kv_h5_store *h, char *what, size_t whn) {
  long list[64];
  int nm = 0;
  KV_CHECK(kv_config_get_int_list(cfg, "validate.members_study", list, 64, &nm));
  long np = s->npts;
  double *res = calloc(4 * (size_t)nm, sizeof *res);
  double *X = malloc((size_t)nt * (size_t)s->ninputs * sizeof *X);
  double *Pr = malloc((size_t)nt * (size_t)np * sizeof *Pr);
  int rc = res && X && Pr ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  size_t len = strlen(what);
  len += (size_t)snprintf(what + len, whn - len, "\n\n## Internal variability: members in the "
                          "training ensemble means\n\nThe same pattern scaling refitted on the "
                          "ensemble means of the first m members of each training scenario, "
                          "scored against the held-out truth above.\n\n| members | "
                          "nrmse_spatial | nrmse_global | nrmse_total |\n|---|---|---|---|\n");
  for (int i = 0; rc == KV_OK && i < nm; i++) {
    kv_surrogate *r = NULL;
    rc = kv_surrogate_new(KV_SURROGATE_PATTERN, s->ninputs, s->inputs, "tas", &r);
    if (rc == KV_OK) r->config = strdup(s->config ? s->config : "");
    if (rc == KV_OK) rc = kv_pattern_fit_members(cfg, train_dir, r, (int)list[i]);
    double sum[3] = {0, 0, 0};
    for (int k = 0; rc == KV_OK && k < ns; k++) {
      const double *tw = allT + (size_t)k * nw * np;
      /* The refit's own control climate differs: its anomalies are shifted by the difference,
       * and its predictions shifted back to the reference control before scoring. */
      double *g = malloc((size_t)nt * sizeof *g), *dc = malloc((size_t)np * sizeof *dc);
      for (long p = 0; dc && p < np; p++) dc[p] = s->mean[p] - r->mean[p];
      double shift = dc ? kv_metric_wmean(np, dc, w) : 0.0;
      free(dc);
      for (long t = 0; g && t < nt; t++) g[t] = gall[(size_t)k * nt + t] + shift;
      rc = g ? kv_pattern_predictors(r, scen[k], (int)y0, (int)nt, g, X)
             : KV_ERROR(KV_ERR_NOMEM, "out of memory");
      free(g);
      if (rc == KV_OK) rc = kv_surrogate_predict(r, nt, X, Pr, NULL);
      for (long t = 0; rc == KV_OK && t < nt; t++)
        for (long p = 0; p < np; p++) Pr[t * np + p] += r->mean[p] - s->mean[p];
      kv_nrmse nr;
      if (rc == KV_OK) rc = kv_metric_nrmse(nw, np, Pr + t0 * np, tw, w, &nr);
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
      kv_info("members study: %ld member%s: NRMSE spatial %.4f, global %.4f, total %.4f",
              list[i], list[i] == 1 ? "" : "s", sum[0], sum[1], sum[2]);
    }
    kv_surrogate_free(r);
  }
  long n = nm;
  if (rc == KV_OK) rc = kv_h5_store_put(h, "/members_study/members", 1, &n, res);
  if (rc == KV_OK) rc = kv_h5_store_put(h, "/members_study/nrmse_spatial", 1, &n, res + nm);
  if (rc == KV_OK) rc = kv_h5_store_put(h, "/members_study/nrmse_global", 1, &n, res + 2 * nm);
  if (rc == KV_OK) rc = kv_h5_store_put(h, "/members_study/nrmse_total", 1, &n, res + 3 * nm);
  free(res);
  free(X);
  free(Pr);
  return rc;
}

static int score_scenarios(const kv_config *cfg, const kv_sweep *hs, const kv_surrogate *s,
                           const char *train_dir, double solver_wall, kv_validation *v,
                           char *what, size_t whn) {
  const char *yr;
  int w0, w1, n;
  KV_CHECK(kv_config_get_string(cfg, "validate.years", &yr));
  if (sscanf(yr, "%d:%d%n", &w0, &w1, &n) != 2 || yr[n] || w1 < w0) {
    return kv_config_errorf(cfg, "validate.years", "expected FIRST:LAST (e.g. 2080:2100)");
  }
  long y0;
  KV_CHECK(kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &y0));
  int sk = -1;
  for (int j = 0; j < kv_sweep_nvars(hs); j++) {
    if (!strcmp(kv_sweep_var(hs, j), "ebm.scenario")) sk = j;
  }
  long nc = kv_sweep_ncases(hs), np = s->npts;
  char **files = calloc((size_t)nc, sizeof *files);
  char scen[32][64];
  int ns = 0, rc = files && sk >= 0 ? KV_OK : KV_ERROR(KV_ERR_INVALID, "validate: no scenarios");
  for (long c = 0; rc == KV_OK && c < nc; c++) {
    const char *sc = kv_sweep_value(hs, c, sk);
    int found = 0;
    for (int k = 0; k < ns; k++) found |= !strcmp(scen[k], sc);
    if (!found && ns < 32) snprintf(scen[ns++], sizeof scen[0], "%s", sc);
  }
  double *w = malloc((size_t)np * sizeof *w);
  long nt = 0, t0 = w0 - y0, nw = w1 - w0 + 1;
  double *T = NULL, *Pr = NULL, *X = NULL, *g = NULL;
  double *allT = NULL, *allP = NULL, *gall = NULL, tsur = 0.0;
  if (rc == KV_OK && !w) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) kv_pattern_weights(s, w);
  for (int k = 0; rc == KV_OK && k < ns; k++) {
    int nf = 0;
    for (long c = 0; c < nc; c++) {
      if (strcmp(kv_sweep_value(hs, c, sk), scen[k])) continue;
      char path[4200];
      kv_sweep_case_path(hs, c, path, sizeof path);
      files[nf++] = strdup(path);
    }
    long np2;
    rc = kv_pattern_ensemble_mean(files, nf, "tas", &nt, &np2, &T);
    for (int m = 0; m < nf; m++) free(files[m]);
    if (rc != KV_OK) break;
    if (np2 != np || t0 < 0 || t0 + nw > nt) {
      rc = KV_ERROR(KV_ERR_CONFIG, "validate: the held-out runs (%ld-%ld, %ld points) do not "
                    "cover validate.years = %s of the model's %ld points", y0, y0 + nt - 1, np2,
                    yr, np);
      break;
    }
    if (!allT) {
      allT = malloc((size_t)ns * (size_t)nw * (size_t)np * sizeof *allT);
      allP = malloc((size_t)ns * (size_t)nw * (size_t)np * sizeof *allP);
      Pr = malloc((size_t)nt * (size_t)np * sizeof *Pr);
      X = malloc((size_t)nt * (size_t)s->ninputs * sizeof *X);
      g = malloc((size_t)nt * sizeof *g);
      gall = malloc((size_t)ns * (size_t)nt * sizeof *gall);
      if (!allT || !allP || !Pr || !X || !g || !gall) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
        break;
      }
    }
    for (long t = 0; t < nt; t++) {
      for (long p = 0; p < np; p++) T[t * np + p] -= s->mean[p];
      g[t] = kv_metric_wmean(np, T + t * np, w);
      gall[(size_t)k * nt + t] = g[t];
    }
    double ts = MPI_Wtime();
    rc = kv_pattern_predictors(s, scen[k], (int)y0, (int)nt, g, X);
    if (rc == KV_OK) rc = kv_surrogate_predict(s, nt, X, Pr, NULL);
    tsur += MPI_Wtime() - ts;
    if (rc == KV_OK) {
      const double *tw = T + t0 * np, *pw = Pr + t0 * np;
      kv_nrmse nr;
      kv_metrics m;
      rc = kv_metric_nrmse(nw, np, pw, tw, w, &nr);
      if (rc == KV_OK) {
        kv_metrics_pointwise(nw * np, pw, tw, &m);
        double wt = 1.0 / ns;
        add(v, KV_M_RMSE, m.rmse, wt);
        add(v, KV_M_MAE, m.mae, wt);
        add(v, KV_M_MAX_ABS, m.max_abs, wt);
        add(v, KV_M_REL_L2, m.rel_l2, wt);
        add(v, KV_M_R2, m.r2, wt);
        add(v, KV_M_NRMSE_SPATIAL, nr.spatial, wt);
        add(v, KV_M_NRMSE_GLOBAL, nr.global, wt);
        add(v, KV_M_NRMSE_TOTAL, nr.total, wt);
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
    add(v, KV_M_SPEEDUP, solver_wall * (double)nc / ns / fmax(tsur / ns, 1e-9), 1);
  }
  kv_h5_store *h = NULL;
  char path[4200];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  if (rc == KV_OK) rc = kv_h5_store_create(path, &h);
  if (rc == KV_OK) {
    long dims[4] = {ns, nw, s->layout.n[1], s->layout.n[0]};
    double *years = malloc((size_t)nw * sizeof *years);
    for (long t = 0; years && t < nw; t++) years[t] = (double)(w0 + t);
    rc = kv_h5_store_put(h, "/truth/tas", 4, dims, allT);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/prediction/tas", 4, dims, allP);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/year", 1, &nw, years);
    free(years);
    char list[2048] = "";
    for (int k = 0; k < ns; k++) {
      strncat(list, k ? "," : "", sizeof list - strlen(list) - 1);
      strncat(list, scen[k], sizeof list - strlen(list) - 1);
    }
    double ids[32];
    long nsl = ns;
    for (int k = 0; k < ns; k++) ids[k] = k;
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/inputs", 1, &nsl, ids);
    if (rc == KV_OK) rc = kv_h5_store_put_text(h, "/inputs", "scenarios", list);
    if (rc == KV_OK) rc = kv_h5_store_put_text(h, "/truth/tas", "long_name", "ensemble-mean tas "
                                               "anomaly from the control climate (1850-1900)");
    if (rc == KV_OK) rc = store_layout_coords(h, &s->layout);
    if (rc == KV_OK) rc = store_metrics(h, v);
  }
  snprintf(what, whn, "Pattern scaling (global mean: %s) against the full solver's ensemble mean "
           "of %s, tas anomalies from the control climate, years %d-%d.",
           s->pattern.global_mode ? "true_smoothed" : "two-box response", scen[0], w0, w1);
  if (rc == KV_OK && kv_config_has(cfg, "validate.members_study")) {
    rc = members_study(cfg, train_dir, s, scen, ns, y0, nt, t0, nw, allT, gall, w, h, what, whn);
  }
  if (h) {
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) rc = rc2;
  }
  if (rc == KV_OK) {
    /* Maps of the window means of the first held-out scenario. */
    double *mt = calloc((size_t)np, sizeof *mt), *mp = calloc((size_t)np, sizeof *mp);
    for (long t = 0; mt && mp && t < nw; t++)
      for (long p = 0; p < np; p++) {
        mt[p] += allT[t * np + p] / nw;
        mp[p] += allP[t * np + p] / nw;
      }
    char md[1024], label[128];
    snprintf(label, sizeof label, "%s %d-%d mean", scen[0], w0, w1);
    rc = mt && mp ? write_maps(v, &s->layout, mt, mp, np, label, md, sizeof md)
                  : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    strncat(what, "\n\n", whn - strlen(what) - 1);
    strncat(what, md, whn - strlen(what) - 1);
    free(mt);
    free(mp);
  }
  free(files);
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

/* ------------------------------------------------------------------ ROMs (kind = pod) */

/* Pearson correlation of x and y (n values), NaN when undefined. */
static double correlation(const double *x, const double *y, long n) {
  double mx = 0.0, my = 0.0, sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (long i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  for (long i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0.0 && syy > 0.0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* The ROM runs of the held-out cases against the full solver's: every record of the state field
 * (T, or tas of the ebm). rel_l2 per case is ||rom - full|| / ||full - its mean over records||
 * (the signal, not the offset of absolute temperatures). Also the indicator/error correlation:
 * log of each record's largest indicator against log of its relative error, over all records. */
static int score_rom(const kv_sweep *hs, const kv_sweep *rs, double full_wall, double rom_wall,
                     kv_validation *v, char *what, size_t whn) {
  long n = kv_sweep_ncases(hs), nrec_all = 0;
  double *cerr = calloc((size_t)n + 1, sizeof *cerr), *cupd = calloc((size_t)n + 1, sizeof *cupd),
         *cind = calloc((size_t)n + 1, sizeof *cind);
  double *li = NULL, *le = NULL, *tlast = NULL, *plast = NULL;
  double sse = 0.0, sae = 0.0, mx = 0.0, sst = 0.0;
  long cnt = 0, P = 0;
  char var[8] = "T", tf[4300], rf[4300];
  int rc = cerr && cupd && cind ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  kv_field_layout L;
  memset(&L, 0, sizeof L);
  for (long c = 0; rc == KV_OK && c < n; c++) {
    kv_sweep_case_path(hs, c, tf, sizeof tf);
    kv_sweep_case_path(rs, c, rf, sizeof rf);
    kv_h5_array a = {0}, b = {0}, ind = {0}, up = {0};
    if (c == 0) {
      kv_h5_store *h = NULL;
      rc = kv_h5_store_open(tf, &h);
      if (rc == KV_OK && kv_h5_store_has(h, "/tas")) snprintf(var, sizeof var, "tas");
      if (h) kv_h5_store_close(h, 0);
    }
    if (rc == KV_OK) rc = kv_h5_read_array(tf, var, &a);
    if (rc == KV_OK) rc = kv_h5_read_array(rf, var, &b);
    if (rc == KV_OK) rc = kv_h5_read_array(rf, "rom/indicator", &ind);
    if (rc == KV_OK) rc = kv_h5_read_array(rf, "rom/updates", &up);
    long nr = rc == KV_OK && a.rank > 1 ? a.dims[0] : 0, np = nr ? a.count / nr : 0;
    if (rc == KV_OK && (a.count != b.count || nr == 0 || ind.count != nr)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "validate: '%s' and '%s' do not hold the same records of %s",
                    tf, rf, var);
    }
    if (rc == KV_OK && c == 0) {
      P = np;
      tlast = malloc((size_t)n * P * sizeof *tlast);
      plast = malloc((size_t)n * P * sizeof *plast);
      if (!tlast || !plast) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      if (rc == KV_OK) rc = kv_fit_field_layout(tf, var, &L);
    }
    if (rc == KV_OK && np != P) rc = KV_ERROR(KV_ERR_FORMAT, "validate: '%s': another grid", tf);
    double *tmp = NULL;
    if (rc == KV_OK) {
      tmp = realloc(li, (size_t)(nrec_all + nr) * sizeof *li);
      if (tmp) li = tmp;
      tmp = tmp ? realloc(le, (size_t)(nrec_all + nr) * sizeof *le) : NULL;
      if (tmp) le = tmp;
      if (!tmp) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    if (rc == KV_OK) {
      double *mean = calloc((size_t)np, sizeof *mean), e2 = 0.0, s2 = 0.0, gm = 0.0;
      if (!mean) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      for (long r = 0; rc == KV_OK && r < nr; r++)
        for (long q = 0; q < np; q++) mean[q] += a.data[r * np + q] / nr;
      for (long q = 0; rc == KV_OK && q < np; q++) gm += mean[q] / np;
      for (long r = 0; rc == KV_OK && r < nr; r++) {
        double re = 0.0, rs2 = 0.0;
        for (long q = 0; q < np; q++) {
          double t = a.data[r * np + q], e = b.data[r * np + q] - t, d = t - mean[q];
          re += e * e;
          rs2 += d * d;
          sae += fabs(e);
          mx = fmax(mx, fabs(e));
          sst += (t - gm) * (t - gm);
        }
        e2 += re;
        s2 += rs2;
        li[nrec_all + r] = ind.data[r];
        le[nrec_all + r] = re;
      }
      for (long r = 0; rc == KV_OK && r < nr; r++) {
        /* A record's error relative to the case's signal. */
        le[nrec_all + r] = sqrt(le[nrec_all + r] / (s2 > 0.0 ? s2 / nr : 1.0));
      }
      if (rc == KV_OK) {
        sse += e2;
        cnt += nr * np;
        cerr[c] = s2 > 0.0 ? sqrt(e2 / s2) : (e2 > 0.0 ? INFINITY : 0.0);
        cupd[c] = up.count ? up.data[up.count - 1] : 0.0;
        for (long r = 0; r < nr; r++) cind[c] = fmax(cind[c], ind.data[r]);
        memcpy(tlast + c * P, a.data + (nr - 1) * np, (size_t)np * sizeof *tlast);
        memcpy(plast + c * P, b.data + (nr - 1) * np, (size_t)np * sizeof *plast);
        nrec_all += nr;
      }
      free(mean);
    }
    kv_h5_array_free(&a);
    kv_h5_array_free(&b);
    kv_h5_array_free(&ind);
    kv_h5_array_free(&up);
  }
  double corr = NAN;
  if (rc == KV_OK) {
    add(v, KV_M_RMSE, sqrt(sse / cnt), 1.0);
    add(v, KV_M_MAE, sae / cnt, 1.0);
    add(v, KV_M_MAX_ABS, mx, 1.0);
    for (long c = 0; c < n; c++) add(v, KV_M_REL_L2, cerr[c], 1.0 / n);
    add(v, KV_M_R2, sst > 0.0 ? 1.0 - sse / sst : NAN, 1.0);
    add(v, KV_M_SPEEDUP, rom_wall > 0.0 ? full_wall / rom_wall : NAN, 1.0);
    v->ncases = n;
    /* Records where both are positive and finite enter the log-log correlation. */
    long m = 0;
    for (long i = 0; i < nrec_all; i++) {
      if (li[i] > 0.0 && le[i] > 0.0 && isfinite(li[i]) && isfinite(le[i])) {
        li[m] = log(li[i]);
        le[m] = log(le[i]);
        m++;
      }
    }
    corr = m > 2 ? correlation(li, le, m) : NAN;
  }
  size_t len = 0;
  if (rc == KV_OK) {
    len += (size_t)snprintf(what + len, whn - len,
                            "Reduced-order model against the full solver on %ld held-out case%s, "
                            "every record of `%s`. Correlation of log(indicator) with log(error) "
                            "over the records: %.3f.\n\n| case | rel. error | largest indicator | "
                            "full steps |\n|---|---|---|---|\n", n, n == 1 ? "" : "s", var, corr);
    for (long c = 0; c < n && len < whn; c++) {
      len += (size_t)snprintf(what + len, whn - len, "| %ld | %.3g | %.3g | %.0f |\n", c, cerr[c],
                              cind[c], cupd[c]);
    }
  }
  char path[4300];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  kv_h5_store *h = NULL;
  if (rc == KV_OK) rc = kv_h5_store_create(path, &h);
  if (rc == KV_OK) {
    long d2[4] = {n, 0, 0, 0}, d1 = n;
    for (int k = 0; k < L.ndims; k++) d2[1 + k] = L.n[L.ndims - 1 - k];
    rc = kv_h5_store_put(h, "/truth", L.ndims + 1, d2, tlast);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/prediction", L.ndims + 1, d2, plast);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/case_rel_l2", 1, &d1, cerr);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/case_full_steps", 1, &d1, cupd);
    if (rc == KV_OK) rc = kv_h5_store_put(h, "/case_indicator_max", 1, &d1, cind);
    if (rc == KV_OK) rc = kv_h5_store_put_text(h, "/truth", "long_name", "final record, full solver");
    if (rc == KV_OK) rc = kv_h5_store_put_text(h, "/prediction", "long_name", "final record, ROM");
    if (rc == KV_OK) rc = store_layout_coords(h, &L);
    if (rc == KV_OK) rc = store_metrics(h, v);
    if (rc == KV_OK) rc = kv_h5_store_put_number(h, "/metrics", "indicator_error_correlation", corr);
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) rc = rc2;
  }
  if (rc == KV_OK) {
    char md[8192];
    rc = write_maps(v, &L, tlast, plast, P, "held-out case 0, final record", md, sizeof md);
    if (rc == KV_OK) {
      strncat(what, "\n\n", whn - strlen(what) - 1);
      strncat(what, md, whn - strlen(what) - 1);
    }
  }
  for (int k = 0; k < 3; k++) free(L.coord[k]);
  free(cerr);
  free(cupd);
  free(cind);
  free(li);
  free(le);
  free(tlast);
  free(plast);
  return rc;
}

/* The mean wall time of the done cases of a sweep (manifest). */
static int sweep_wall(const kv_sweep *s, double *wall) {
  long n = kv_sweep_ncases(s);
  kv_case_record *recs = calloc((size_t)n + 1, sizeof *recs);
  char path[4300];
  snprintf(path, sizeof path, "%s/manifest.csv", kv_sweep_dir(s));
  int rc = recs ? kv_manifest_read(path, n, recs, NULL) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  *wall = 0.0;
  for (long c = 0; rc == KV_OK && c < n; c++) *wall += recs[c].wall / n;
  free(recs);
  return rc;
}

/* ------------------------------------------------------------------ the command */

static int tolerances(const kv_config *cfg, kv_validation *v) {
  v->nfailed = 0;
  for (int m = 0; m < KV_M_COUNT; m++) {
    char key[64];
    double tol;
    snprintf(key, sizeof key, "validate.tolerance.%s", kv_metric_names[m]);
    if (!kv_config_has(cfg, key)) continue;
    KV_CHECK(kv_config_get_double(cfg, key, -INFINITY, INFINITY, &tol));
    if (!v->have[m]) {
      return kv_config_errorf(cfg, key, "this surrogate has no %s", kv_metric_names[m]);
    }
    v->has_tol[m] = 1;
    v->tol[m] = tol;
    v->failed[m] = lower_bound(m) ? !(v->value[m] >= tol) : !(v->value[m] <= tol);
    v->nfailed += v->failed[m];
  }
  return KV_OK;
}

static int score(const kv_config *cfg, const kv_sweep *hs, const char *train_dir,
                 const char *model, kv_validation *v) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_load(model, &s));
  long n = kv_sweep_ncases(hs);
  kv_case_record *recs = calloc((size_t)n + 1, sizeof *recs);
  char path[4300];
  snprintf(path, sizeof path, "%s/manifest.csv", kv_sweep_dir(hs));
  int rc = recs ? kv_manifest_read(path, n, recs, NULL) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  double wall = 0.0;
  for (long c = 0; c < n; c++) wall += recs ? recs[c].wall / n : 0.0;
  char what[16384] = "";
  if (rc == KV_OK) {
    rc = s->kind == KV_SURROGATE_PATTERN
             ? score_scenarios(cfg, hs, s, train_dir, wall, v, what, sizeof what)
             : score_points(cfg, hs, s, wall, v, what, sizeof what);
  }
  if (rc == KV_OK) rc = tolerances(cfg, v);
  char *maps = strstr(what, "\n\n![");
  if (maps) *maps++ = '\0';
  if (rc == KV_OK) rc = write_report(v, what, maps ? maps + 1 : "");
  free(recs);
  kv_surrogate_free(s);
  return rc;
}

int kv_validate(MPI_Comm comm, const kv_config *cfg, kv_validation *out) {
  memset(out, 0, sizeof *out);
  int rank, kind;
  MPI_Comm_rank(comm, &rank);
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.kind", "gp|pcagp|pattern|pod", &kind));
  const int pod = kind == 3;
  if (!kv_config_has(cfg, "sweep.method")) {
    return kv_config_errorf(cfg, "sweep.method", "kelvin validate builds its held-out cases from "
                            "the [sweep] the surrogate was trained on");
  }
  kv_sweep *train = NULL, *hs = NULL;
  kv_config *h = NULL;
  KV_CHECK(kv_sweep_create(cfg, &train));
  char model[4096], hdir[4200];
  static const char *const kinds[] = {"gp", "pcagp", "pattern", "pod"};
  const char *v = kv_config_value(cfg, "surrogate.model");
  if (v) snprintf(model, sizeof model, "%s", v);
  else snprintf(model, sizeof model, "%s/model_%s.h5", kv_sweep_dir(train), kinds[kind]);
  v = kv_config_value(cfg, "validate.dir");
  snprintf(out->dir, sizeof out->dir, "%s", v ? v : kv_sweep_dir(train));
  snprintf(hdir, sizeof hdir, "%s/holdout", out->dir);
  int rc = kv_config_clone(cfg, &h);
  if (rc == KV_OK) {
    kv_config_remove_section(h, "surrogate");
    kv_config_remove_section(h, "validate");
    rc = kv_config_set_tagged(h, "sweep.dir", hdir, "validate");
  }
  char num[32];
  long seed;
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "validate.seed", 0, 4294967295L, &seed);
  snprintf(num, sizeof num, "%ld", seed);
  if (rc == KV_OK && pod && kv_config_has(cfg, "validate.vary")) {
    /* Chosen held-out cases (a grid), typically outside the training range too. */
    const char *keys[] = {"sweep.samples", "sweep.cases"};
    for (int k = 0; k < 2; k++) kv_config_unset(h, keys[k]);
    rc = kv_config_set_tagged(h, "sweep.method", "grid", "validate");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.vary", kv_config_value(cfg, "validate.vary"), "validate");
    }
  } else if (rc == KV_OK && kind != KV_SURROGATE_PATTERN) {
    const char *m = kv_config_value(cfg, "sweep.method");
    if (!kv_config_has(cfg, "validate.samples")) {
      rc = kv_config_errorf(cfg, pod ? "validate.vary" : "validate.samples",
                            pod ? "the held-out cases are needed (validate.vary, or "
                                  "validate.samples new points of an lhs or sobol sweep)"
                                : "the number of held-out cases is needed");
    } else if (strcmp(m, "lhs") && strcmp(m, "sobol")) {
      rc = kv_config_errorf(cfg, "sweep.method", "held-out points are drawn over the ranges of "
                            "an lhs or sobol sweep");
    }
    if (rc == KV_OK) rc = kv_config_set_tagged(h, "sweep.method", "lhs", "validate");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.samples", kv_config_value(cfg, "validate.samples"),
                                "validate");
    }
    if (rc == KV_OK) rc = kv_config_set_tagged(h, "sweep.seed", num, "validate");
  } else if (rc == KV_OK) {
    if (!kv_config_has(cfg, "validate.scenarios")) {
      rc = kv_config_errorf(cfg, "validate.scenarios", "pattern scaling is validated on held-out "
                            "scenarios (e.g. ssp245)");
    }
    const char *keys[] = {"sweep.vary", "sweep.samples", "sweep.cases"};
    for (int k = 0; k < 3; k++) kv_config_unset(h, keys[k]);
    if (rc == KV_OK) rc = kv_config_set_tagged(h, "sweep.method", "ensemble", "validate");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.scenarios", kv_config_value(cfg, "validate.scenarios"),
                                "validate");
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.members", kv_config_value(cfg, "validate.members"),
                                "validate");
    }
    /* Members other than the training ones: their internal variability is new. */
    snprintf(num, sizeof num, "%ld", seed + 100000);
    if (rc == KV_OK) rc = kv_config_set_tagged(h, "sweep.seed", num, "validate");
  }
  if (rc == KV_OK) rc = kv_sweep_create(h, &hs);
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    kv_sweep_options o = {1, 0, 0};
    kv_sweep_summary sum;
    if (rank == 0) kv_info("validate: %ld held-out case%s by the full solver in %s",
                           kv_sweep_ncases(hs), kv_sweep_ncases(hs) == 1 ? "" : "s", hdir);
    rc = kv_sweep_run(comm, hs, &o, &sum);
    if (rc == KV_OK && sum.failed > 0) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "validate: %ld held-out case%s failed in the full solver "
                    "(see %s/manifest.csv)", sum.failed, sum.failed == 1 ? "" : "s", hdir);
    }
  }
  kv_sweep *rs = NULL;
  kv_config *hr = NULL;
  if (rc == KV_OK && pod) {
    /* The same cases by the ROM: run.model = rom around the solver the training runs used. */
    char rdir[4300], num2[64];
    double tol;
    int adaptive;
    snprintf(rdir, sizeof rdir, "%s/holdout_rom", out->dir);
    const char *fm = kv_config_value(cfg, "run.model");
    rc = kv_config_get_double(cfg, "validate.rom_tolerance", 0.0, INFINITY, &tol);
    if (rc == KV_OK && !(tol > 0.0)) {
      rc = kv_config_errorf(cfg, "validate.rom_tolerance", "expected a positive tolerance");
    }
    if (rc == KV_OK) rc = kv_config_get_bool(cfg, "validate.rom_adaptive", &adaptive);
    if (rc == KV_OK) rc = kv_config_clone(h, &hr);
    if (rc == KV_OK) rc = kv_config_set_tagged(hr, "run.model", "rom", "validate");
    if (rc == KV_OK) rc = kv_config_set_tagged(hr, "rom.model", fm ? fm : "heat", "validate");
    if (rc == KV_OK) rc = kv_config_set_tagged(hr, "rom.basis", model, "validate");
    snprintf(num2, sizeof num2, "%.17g", tol);
    if (rc == KV_OK) rc = kv_config_set_tagged(hr, "rom.tolerance", num2, "validate");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(hr, "rom.adaptive", adaptive ? "true" : "false", "validate");
    }
    if (rc == KV_OK) rc = kv_config_set_tagged(hr, "sweep.dir", rdir, "validate");
    if (rc == KV_OK) rc = kv_sweep_create(hr, &rs);
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK) {
      kv_sweep_options o = {1, 0, 0};
      kv_sweep_summary sum;
      if (rank == 0) kv_info("validate: the same cases by the ROM (%s) in %s", model, rdir);
      rc = kv_sweep_run(comm, rs, &o, &sum);
      if (rc == KV_OK && sum.failed > 0) {
        rc = KV_ERROR(KV_ERR_NUMERIC, "validate: %ld ROM case%s failed (see %s/manifest.csv)",
                      sum.failed, sum.failed == 1 ? "" : "s", rdir);
      }
    }
  }
  if (rc == KV_OK) {
    if (rank == 0 && pod) {
      double fw = 0.0, rw = 0.0;
      char what[16384] = "";
      rc = sweep_wall(hs, &fw);
      if (rc == KV_OK) rc = sweep_wall(rs, &rw);
      if (rc == KV_OK) rc = score_rom(hs, rs, fw, rw, out, what, sizeof what);
      if (rc == KV_OK) rc = tolerances(cfg, out);
      char *maps = strstr(what, "\n\n![");
      if (maps) *maps++ = '\0';
      if (rc == KV_OK) rc = write_report(out, what, maps ? maps + 1 : "");
    } else if (rank == 0) {
      rc = score(cfg, hs, kv_sweep_dir(train), model, out);
    }
    rc = kv_status_agree(comm, rc);
    MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
  }
  kv_sweep_free(train);
  kv_sweep_free(hs);
  kv_sweep_free(rs);
  kv_config_free(h);
  kv_config_free(hr);
  return rc;
}
