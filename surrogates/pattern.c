/* Linear pattern scaling of climate-model fields (kind = pattern). */
#define _POSIX_C_SOURCE 200809L /* getline, strdup */
#include "surrogates/pattern.h"
#include "surrogates/fit.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/manifest.h"
#include "solvers/ebm/ebm.h"
#include "solvers/model.h"

#define BASE_Y0 1850
#define BASE_Y1 1900

static const char *const pred_names[] = {"tas_global", "co2_forcing", "aerosol_forcing"};

int kv_pattern_predictor_id(const char *name) {
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, pred_names[k]) == 0) return k;
  }
  return -1;
}

/* ------------------------------------------------------------------ the global response */

/* Two boxes with time scales d[k] (years) driven by annual forcing anomalies F:
 * T_k(t) = T_k(t-1) e^{-1/d_k} + q_k (1 - e^{-1/d_k}) F(t); g = c + T_1 + T_2. Unit-q responses
 * go to r1, r2. */
static void boxes(const double *F, int n, const double d[2], double *r1, double *r2) {
  double a1 = exp(-1.0 / d[0]), a2 = exp(-1.0 / d[1]), t1 = 0.0, t2 = 0.0;
  for (int t = 0; t < n; t++) {
    t1 = t1 * a1 + (1.0 - a1) * F[t];
    t2 = t2 * a2 + (1.0 - a2) * F[t];
    r1[t] = t1;
    r2[t] = t2;
  }
}

void kv_pattern_response(const kv_pattern_info *p, const double *F, int n, double *g) {
  double *r = malloc(2 * (size_t)n * sizeof *r);
  if (!r) return;
  boxes(F, n, p->d, r, r + n);
  for (int t = 0; t < n; t++) g[t] = p->c + p->q[0] * r[t] + p->q[1] * r[n + t];
  free(r);
}

/* Solve the normal equations for (c, q1, q2) for one pair of time scales, with the amplitudes
 * whose bit is clear in `use` held at zero; returns the SSE (inf when a used amplitude comes out
 * negative: a negative response to forcing is not physical and extrapolates badly). */
static double fit_q(int ns, const int *nt, double *const *F, double *const *g, const double d[2],
                    int use, double out[3]) {
  double M[9] = {0}, b[3] = {0};
  for (int s = 0; s < ns; s++) {
    double *r = malloc(2 * (size_t)nt[s] * sizeof *r);
    boxes(F[s], nt[s], d, r, r + nt[s]);
    for (int t = 0; t < nt[s]; t++) {
      double row[3] = {1.0, r[t], r[nt[s] + t]};
      for (int i = 0; i < 3; i++) {
        b[i] += row[i] * g[s][t];
        for (int j = 0; j < 3; j++) M[i * 3 + j] += row[i] * row[j];
      }
    }
    free(r);
  }
  for (int k = 1; k < 3; k++) {
    if (use >> (k - 1) & 1) continue;
    for (int j = 0; j < 3; j++) M[k * 3 + j] = M[j * 3 + k] = 0.0;
    M[k * 3 + k] = 1.0;
    b[k] = 0.0;
  }
  lapack_int ipiv[3];
  double x[3] = {b[0], b[1], b[2]};
  if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, 3, 1, M, 3, ipiv, x, 1) != 0) return INFINITY;
  if (x[1] < 0.0 || x[2] < 0.0) return INFINITY;
  double sse = 0.0;
  for (int s = 0; s < ns; s++) {
    double *r = malloc(2 * (size_t)nt[s] * sizeof *r);
    boxes(F[s], nt[s], d, r, r + nt[s]);
    for (int t = 0; t < nt[s]; t++) {
      double e = x[0] + x[1] * r[t] + x[2] * r[nt[s] + t] - g[s][t];
      sse += e * e;
    }
    free(r);
  }
  memcpy(out, x, sizeof x);
  return sse;
}

/* Time scales on a grid (fast 0.1-30 years, slow 2-1000 years, log-spaced, slow > 1.5 fast), the
 * amplitudes and
 * offset by linear least squares for each pair; the pair with the least squared error wins. */
static void fit_response(kv_pattern_info *p, int ns, const int *nt, double *const *F,
                         double *const *g) {
  double best = INFINITY;
  for (int i = 0; i < 32; i++) {
    for (int j = 0; j < 32; j++) {
      double d[2] = {0.1 * pow(300.0, i / 31.0), 2.0 * pow(500.0, j / 31.0)}, x[3] = {0, 0, 0};
      if (d[1] <= 1.5 * d[0]) continue;
      for (int use = 1; use <= 3; use++) {
        double sse = fit_q(ns, nt, F, g, d, use, x);
        if (sse < best) {
          best = sse;
          p->d[0] = d[0];
          p->d[1] = d[1];
          p->c = x[0];
          p->q[0] = x[1];
          p->q[1] = x[2];
        }
      }
    }
  }
  p->response_rmse = 0.0;
  long count = 0;
  for (int s = 0; s < ns; s++) count += nt[s];
  p->response_rmse = sqrt(best / (double)(count ? count : 1));
}

/* ------------------------------------------------------------------ training data */

typedef struct {
  char name[64];
  int nfiles;
  char **files;
} scen_files;

static int read_manifest(const char *dir, const char *scen_key, int ns, scen_files *sf,
                         int maxm) {
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    return KV_ERROR(KV_ERR_IO, "'%s' is not a sweep directory (no manifest.csv; run kelvin sweep "
                    "first)", dir);
  }
  char *line = NULL, *fld[1024];
  size_t cap = 0;
  int is = -1, io = -1, ik = -1, lineno = 0, rc = KV_OK;
  while (rc == KV_OK && getline(&line, &cap, f) >= 0) {
    int n = kv_csv_split(line, fld, 1024);
    if (++lineno == 1) {
      for (int i = 0; i < n; i++) {
        if (!strcmp(fld[i], "status")) is = i;
        if (!strcmp(fld[i], "output")) io = i;
        if (!strcmp(fld[i], scen_key)) ik = i;
      }
      if (is < 0 || io < 0 || ik < 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s: no %s column: pattern scaling trains on a scenario "
                      "ensemble (sweep.method = ensemble with sweep.scenarios)", path, scen_key);
      }
      continue;
    }
    if (n <= is || n <= io || n <= ik || strcmp(fld[is], "done") != 0) continue;
    for (int s = 0; s < ns; s++) {
      if (strcmp(fld[ik], sf[s].name) != 0 || (maxm > 0 && sf[s].nfiles >= maxm)) continue;
      char **nf = realloc(sf[s].files, (size_t)(sf[s].nfiles + 1) * sizeof *nf);
      if (!nf) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
        break;
      }
      sf[s].files = nf;
      char fp[4400];
      snprintf(fp, sizeof fp, "%s/%s", dir, fld[io]);
      sf[s].files[sf[s].nfiles++] = strdup(fp);
    }
  }
  free(line);
  fclose(f);
  for (int s = 0; rc == KV_OK && s < ns; s++) {
    if (sf[s].nfiles == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: no finished case of scenario '%s' to train on", path,
                    sf[s].name);
    } else if (maxm > 0 && sf[s].nfiles < maxm) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: scenario '%s' has %d finished members, %d asked for",
                    path, sf[s].name, sf[s].nfiles, maxm);
    }
  }
  return rc;
}

int kv_pattern_ensemble_mean(char *const *files, int n, const char *var, long *nt, long *np,
                             double **out) {
  double *acc = NULL;
  int rc = KV_OK;
  for (int m = 0; m < n && rc == KV_OK; m++) {
    kv_h5_array a;
    KV_CHECK(kv_h5_read_array(files[m], var, &a));
    if (a.rank < 2) {
      kv_h5_array_free(&a);
      free(acc);
      return KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a (time, ...) field", files[m], var);
    }
    if (m == 0) {
      *nt = a.dims[0];
      *np = a.count / a.dims[0];
      acc = calloc((size_t)a.count, sizeof *acc);
      if (!acc) rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    } else if (a.count != *nt * *np || a.dims[0] != *nt) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has another shape than in '%s'", files[m], var,
                    files[0]);
    }
    for (long i = 0; rc == KV_OK && i < a.count; i++) acc[i] += a.data[i] / n;
    kv_h5_array_free(&a);
  }
  if (rc != KV_OK) {
    free(acc);
    return rc;
  }
  *out = acc;
  return KV_OK;
}

void kv_pattern_weights(const kv_surrogate *s, double *w) {
  const kv_field_layout *L = &s->layout;
  long nx = L->n[0], ny = L->ndims > 1 ? L->n[1] : 1;
  int latlon = !strcmp(L->axis_name[0], "lon") && L->ndims > 1;
  for (long j = 0; j < ny; j++)
    for (long i = 0; i < nx; i++) {
      w[j * nx + i] = latlon ? cos(L->coord[1][j] * 3.14159265358979323846 / 180.0) : 1.0;
    }
}

static double wmean(const double *v, const double *w, long np) {
  double s = 0.0, sw = 0.0;
  for (long p = 0; p < np; p++) {
    s += w[p] * v[p];
    sw += w[p];
  }
  return s / sw;
}

int kv_pattern_predictors(const kv_surrogate *s, const char *scenario, int year0, int n,
                          const double *g_true, double *X) {
  kv_config *cfg = NULL;
  KV_CHECK(kv_config_parse_string(s->config ? s->config : "", "model file", &cfg));
  double *F = malloc(3 * (size_t)n * sizeof *F), *g = malloc((size_t)n * sizeof *g);
  int rc = F && g ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    rc = kv_ebm_global_forcing(cfg, scenario, year0, n, F, F + n, F + 2 * n);
  }
  if (rc == KV_OK) {
    const kv_pattern_info *p = &s->pattern;
    if (p->global_mode == KV_PATTERN_TRUE_SMOOTHED) {
      if (!g_true) {
        rc = KV_ERROR(KV_ERR_USAGE, "pattern: surrogate.global = true_smoothed needs the full "
                      "solver's global mean (kelvin validate provides it)");
      }
      /* ClimateBench's baseline: a centred 10-year running mean (shorter at the ends). */
      for (int t = 0; rc == KV_OK && t < n; t++) {
        int a = t - 5 < 0 ? 0 : t - 5, b = t + 4 >= n ? n - 1 : t + 4;
        double acc = 0.0;
        for (int k = a; k <= b; k++) acc += g_true[k];
        g[t] = acc / (b - a + 1);
      }
    } else {
      for (int t = 0; t < n; t++) F[t] -= p->F_ref;
      kv_pattern_response(p, F, n, g);
    }
  }
  for (int t = 0; rc == KV_OK && t < n; t++) {
    for (int k = 0; k < s->ninputs; k++) {
      int id = kv_pattern_predictor_id(s->inputs[k]);
      X[(long)t * s->ninputs + k] = id == 0 ? g[t] : F[(long)id * n + t];
    }
  }
  free(F);
  free(g);
  kv_config_free(cfg);
  return rc;
}

int kv_pattern_fit(const kv_config *cfg, const char *dir, kv_surrogate *s) {
  return kv_pattern_fit_members(cfg, dir, s, 0);
}

int kv_pattern_fit_members(const kv_config *cfg, const char *dir, kv_surrogate *s, int maxm) {
  const char *name = kv_config_value(cfg, "run.model");
  const kv_model_type *type = kv_model_type_find(name ? name : "heat");
  if (!type || !type->scenario_key || strcmp(type->name, "ebm") != 0) {
    return kv_config_errorf(cfg, "surrogate.kind", "pattern scaling emulates the climate model "
                            "(run.model = ebm) from a scenario ensemble");
  }
  const char *ts = kv_config_value(cfg, "surrogate.train_scenarios");
  if (!ts) {
    return kv_config_errorf(cfg, "surrogate.train_scenarios", "pattern needs the scenarios to "
                            "train on (e.g. ssp126, ssp370, ssp585)");
  }
  const char *gm;
  KV_CHECK(kv_config_get_string(cfg, "surrogate.global", &gm));
  s->pattern.global_mode = !strcmp(gm, "true_smoothed") ? KV_PATTERN_TRUE_SMOOTHED
                                                          : KV_PATTERN_RESPONSE;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", ts);
  scen_files sf[32];
  int ns = 0;
  memset(sf, 0, sizeof sf);
  for (char *tok = strtok(buf, ", "); tok && ns < 32; tok = strtok(NULL, ", ")) {
    snprintf(sf[ns++].name, sizeof sf[0].name, "%s", tok);
  }
  long year0;
  KV_CHECK(kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &year0));
  double **Y = calloc((size_t)ns, sizeof *Y), **F = calloc((size_t)ns, sizeof *F),
         **co2 = calloc((size_t)ns, sizeof *co2), **aer = calloc((size_t)ns, sizeof *aer),
         **g = calloc((size_t)ns, sizeof *g);
  int *nts = calloc((size_t)ns, sizeof *nts);
  double *w = NULL, *A = NULL, *B = NULL;
  long nt = 0, np = 0;
  int rc = Y && F && co2 && aer && g && nts ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  KV_TRY(read_manifest(dir, type->scenario_key, ns, sf, maxm));
  for (int k = 0; k < s->ninputs; k++) {
    if (kv_pattern_predictor_id(s->inputs[k]) < 0) {
      rc = kv_config_errorf(cfg, "surrogate.predictors", "unknown predictor '%s' (tas_global, "
                            "co2_forcing, aerosol_forcing)", s->inputs[k]);
      goto cleanup;
    }
  }
  if (strcmp(s->inputs[0], "tas_global") != 0) {
    rc = kv_config_errorf(cfg, "surrogate.predictors", "the first predictor must be tas_global");
    goto cleanup;
  }
  snprintf(s->output, sizeof s->output, "tas");
  KV_TRY(kv_fit_field_layout(sf[0].files[0], "tas", &s->layout));
  for (int sc = 0; sc < ns; sc++) {
    long ntk, npk;
    KV_TRY(kv_pattern_ensemble_mean(sf[sc].files, sf[sc].nfiles, "tas", &ntk, &npk, &Y[sc]));
    if (sc == 0) {
      nt = ntk;
      np = npk;
    } else if (ntk != nt || npk != np) {
      rc = KV_ERROR(KV_ERR_FORMAT, "scenario %s has %ld years of %ld points, %s %ld of %ld",
                    sf[sc].name, ntk, npk, sf[0].name, nt, np);
      goto cleanup;
    }
    nts[sc] = (int)nt;
    F[sc] = malloc((size_t)nt * sizeof **F);
    co2[sc] = malloc((size_t)nt * sizeof **co2);
    aer[sc] = malloc((size_t)nt * sizeof **aer);
    g[sc] = malloc((size_t)nt * sizeof **g);
    KV_TRY(kv_ebm_global_forcing(cfg, sf[sc].name, (int)year0, (int)nt, F[sc], co2[sc], aer[sc]));
    kv_debug("pattern: scenario %s: ensemble mean of %d member%s", sf[sc].name, sf[sc].nfiles,
             sf[sc].nfiles == 1 ? "" : "s");
  }
  /* The control climate: 1850-1900 of every training ensemble mean (the years share the
   * historical forcing), as ClimateBench's anomalies from piControl. */
  long spin;
  KV_TRY(kv_config_get_int(cfg, "surrogate.spinup", 0, 1000000, &spin));
  long b0 = BASE_Y0 - year0, b1 = BASE_Y1 - year0;
  if (b0 < spin) b0 = spin;
  if (spin >= nt - 2) {
    rc = kv_config_errorf(cfg, "surrogate.spinup", "leaves %ld of %ld years to train on",
                          nt - spin, nt);
    goto cleanup;
  }
  if (b0 < 0 || b1 >= nt || b0 > b1) {
    rc = KV_ERROR(KV_ERR_FORMAT, "pattern: the runs cover %ld-%ld; the control climate needs "
                  "%d-%d", year0, year0 + nt - 1, BASE_Y0, BASE_Y1);
    goto cleanup;
  }
  s->npts = np;
  s->mean = calloc((size_t)np, sizeof *s->mean);
  w = malloc((size_t)np * sizeof *w);
  if (!s->mean || !w) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  double fref = 0.0;
  for (int sc = 0; sc < ns; sc++) {
    for (long t = b0; t <= b1; t++) {
      for (long p = 0; p < np; p++) s->mean[p] += Y[sc][t * np + p] / (double)(ns * (b1 - b0 + 1));
      fref += F[sc][t] / (double)(ns * (b1 - b0 + 1));
    }
  }
  s->pattern.F_ref = fref;
  s->pattern.year0 = (int)year0;
  s->pattern.nyears = (int)nt;
  kv_pattern_weights(s, w);
  /* Anomalies and their global means. */
  for (int sc = 0; sc < ns; sc++) {
    for (long t = 0; t < nt; t++) {
      double *row = Y[sc] + t * np;
      for (long p = 0; p < np; p++) row[p] -= s->mean[p];
      g[sc][t] = wmean(row, w, np);
    }
  }
  /* Least squares for every point at once: rows (scenario, year), columns 1, predictors. */
  int nc = 1 + s->ninputs;
  long ntf = nt - spin, R = (long)ns * ntf;
  A = malloc((size_t)R * (size_t)nc * sizeof *A);
  B = malloc((size_t)R * (size_t)np * sizeof *B);
  if (!A || !B) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld x %ld", R, np);
    goto cleanup;
  }
  for (int sc = 0; sc < ns; sc++) {
    for (long t = spin; t < nt; t++) {
      long r = sc * ntf + (t - spin);
      A[r] = 1.0;
      for (int k = 0; k < s->ninputs; k++) {
        int id = kv_pattern_predictor_id(s->inputs[k]);
        A[(k + 1) * R + r] = id == 0 ? g[sc][t] : id == 1 ? co2[sc][t] : aer[sc][t];
      }
      for (long p = 0; p < np; p++) B[p * R + r] = Y[sc][t * np + p];
    }
  }
  lapack_int info = LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', (lapack_int)R, nc, (lapack_int)np, A,
                                  (lapack_int)R, B, (lapack_int)R);
  if (info != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "pattern: the least-squares problem is rank deficient (%d): the "
                  "predictors are collinear over the training scenarios", (int)info);
    goto cleanup;
  }
  s->modes = malloc((size_t)nc * (size_t)np * sizeof *s->modes);
  if (!s->modes) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  for (int c = 0; c < nc; c++)
    for (long p = 0; p < np; p++) s->modes[c * np + p] = B[p * R + c];
  s->nmodes = nc;
  /* The global response to forcing anomalies, for scenarios the solver has not run. */
  for (int sc = 0; sc < ns; sc++)
    for (long t = 0; t < nt; t++) F[sc][t] -= fref;
  /* The response is fitted after the spin-up, its boxes starting at rest there: the forcing
   * anomalies of the early years are close to zero, so little history is lost. */
  for (int sc = 0; sc < ns; sc++) {
    memmove(F[sc], F[sc] + spin, (size_t)ntf * sizeof **F);
    memmove(g[sc], g[sc] + spin, (size_t)ntf * sizeof **g);
    nts[sc] = (int)ntf;
  }
  fit_response(&s->pattern, ns, nts, F, g);
  s->pattern.spinup = (int)spin;
  kv_info("pattern: %d scenarios x %ld years, %d coefficient maps; response time scales %.3g and "
          "%.3g years, rms misfit %.3g K", ns, nt, nc, s->pattern.d[0], s->pattern.d[1],
          s->pattern.response_rmse);
cleanup:
  for (int sc = 0; sc < ns; sc++) {
    for (int m = 0; m < sf[sc].nfiles; m++) free(sf[sc].files[m]);
    free(sf[sc].files);
    if (Y) free(Y[sc]);
    if (F) free(F[sc]);
    if (co2) free(co2[sc]);
    if (aer) free(aer[sc]);
    if (g) free(g[sc]);
  }
  free(Y);
  free(F);
  free(co2);
  free(aer);
  free(g);
  free(nts);
  free(w);
  free(A);
  free(B);
  return rc;
}
