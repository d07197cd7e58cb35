/* Kind "pattern": linear pattern scaling of climate fields from a scenario ensemble.
 *
 * Per grid point, y(x, t) = a(x) + b(x) g(t) [+ c(x) p(t) ...] by least squares over the years
 * of the training scenarios' ensemble means, where y is the anomaly from the control climate (the
 * KV_CONTROL_YEAR_FIRST..LAST mean) and g its area-weighted global mean; optional extra predictors
 * are the global CO2 and aerosol forcings. For a scenario the solver has not run, g comes from a
 * two-timescale impulse response to the scenario's global forcing, fitted by least squares to the
 * training global means (surrogate.global = response), from the full solver's global mean
 * smoothed by a 10-year running mean (true_smoothed, ClimateBench's baseline), or linearly from
 * the cumulative CO2 emissions (cumulative_co2: g = c + q1 CO2, least squares over the training
 * years; with the maps, the two-stage pattern scaling of Lütjens et al. and ClimateBench, whose
 * input files give CO2 as cumulative emissions).
 *
 * Inputs of predict: one row per year, KV_SCENARIO_COLS columns (the scenario's total, CO2 and
 * aerosol global forcing, and the solver's global-mean anomaly or NaN). Output: the anomaly field.
 *
 * Model file: "/pattern/control" (the control climate), "/pattern/coefficients" (intercept, then
 * one map per predictor), the response parameters as attributes of "/pattern", "/field". */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_pattern;

enum { GLOBAL_RESPONSE = 0, GLOBAL_TRUE_SMOOTHED = 1, GLOBAL_CUMULATIVE_CO2 = 2 };

static const char *const pred_names[] = {"tas_global", "co2_forcing", "aerosol_forcing"};

/* The global-mean model. */
typedef struct {
  double q[2], d[2], c; /* two-box impulse response: amplitudes (K per W m-2), time scales
                           (years), offset (K)                                      */
  double F_ref;         /* global forcing of the control period (W m-2)              */
  double response_rmse; /* misfit of the response to the training global means (K)   */
  int global_mode;      /* GLOBAL_RESPONSE or GLOBAL_TRUE_SMOOTHED                  */
  int year0, nyears;    /* the training runs' years                                  */
  int spinup;           /* years at the start left out of the fits                   */
} pattern_info;

typedef struct {
  char predictors[256]; /* surrogate.predictors                                      */
  int global_mode;      /* surrogate.global                                          */
  long spinup;          /* surrogate.spinup                                          */
  int smooth;           /* true_smoothed: the centred running mean's length (10)      */
} pattern_params;

typedef struct {
  kv_surrogate base;
  kv_field_layout layout;
  long npts;
  int nmaps;       /* 1 + predictors                                            */
  double *control; /* npts: the control climate                                 */
  double *coef;    /* nmaps x npts                                              */
  pattern_info info;
} pattern_model;

static const kv_config_key pattern_keys[] = {
    {"surrogate.predictors", KV_CFG_STRING, "tas_global", NULL, KV_CFG_NORANGE,
     "pattern: tas_global, then optionally co2_forcing, aerosol_forcing"},
    {"surrogate.spinup", KV_CFG_INT, "0", NULL, 0, 1000000,
     "pattern: years at the start of the runs left out of the fits (drift from the initial state)"},
    {"surrogate.global", KV_CFG_ENUM, "response", "response|true_smoothed|cumulative_co2",
     KV_CFG_NORANGE,
     "pattern: the global mean of a new scenario from a fitted two-box response to its forcing, "
     "the full solver's smoothed over 10 years, or a linear function of cumulative CO2 "
     "emissions (ClimateBench-style files)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int predictor_id(const char *name) {
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, pred_names[k]) == 0) {
      return k;
    }
  }
  return -1;
}

static int params_create(const kv_config *cfg, void **params) {
  pattern_params *p = calloc(1, sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  const char *pr;
  int rc = kv_config_get_string(cfg, "surrogate.predictors", &pr);
  if (rc == KV_OK) {
    snprintf(p->predictors, sizeof p->predictors, "%s", pr);
    rc = kv_config_get_enum(cfg, "surrogate.global", "response|true_smoothed|cumulative_co2",
                            &p->global_mode);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.spinup", 0, 1000000, &p->spinup);
  }
  p->smooth = 10;
  /* The predictors: known names, tas_global first. */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", p->predictors);
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); rc == KV_OK && tok;
       tok = strtok_r(NULL, ", ", &save), n++) {
    if (predictor_id(tok) < 0) {
      rc = kv_config_errorf(cfg, "surrogate.predictors",
                            "unknown predictor '%s' (tas_global, "
                            "co2_forcing, aerosol_forcing)",
                            tok);
    } else if (n == 0 && predictor_id(tok) != 0) {
      rc = kv_config_errorf(cfg, "surrogate.predictors",
                            "the first predictor must be "
                            "tas_global");
    }
  }
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void pattern_free(kv_surrogate *s) {
  pattern_model *m = (pattern_model *)s;
  free(m->control);
  free(m->coef);
  kv_layout_free(&m->layout);
  kv_surrogate_header_free(s);
  free(m);
}

static int pattern_new(int d, char *const *names, const char *output, pattern_model **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_pattern, sizeof(pattern_model), d, names, output, &s));
  *out = (pattern_model *)s;
  return KV_OK;
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

static void response(const pattern_info *p, const double *F, int n, double *g) {
  double *r = malloc(2 * (size_t)n * sizeof *r);
  if (!r) {
    return;
  }
  boxes(F, n, p->d, r, r + n);
  for (int t = 0; t < n; t++) {
    g[t] = p->c + p->q[0] * r[t] + p->q[1] * r[n + t];
  }
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
        for (int j = 0; j < 3; j++) {
          M[i * 3 + j] += row[i] * row[j];
        }
      }
    }
    free(r);
  }
  for (int k = 1; k < 3; k++) {
    if (use >> (k - 1) & 1) {
      continue;
    }
    for (int j = 0; j < 3; j++) {
      M[k * 3 + j] = M[j * 3 + k] = 0.0;
    }
    M[k * 3 + k] = 1.0;
    b[k] = 0.0;
  }
  lapack_int ipiv[3];
  double x[3] = {b[0], b[1], b[2]};
  if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, 3, 1, M, 3, ipiv, x, 1) != 0) {
    return INFINITY;
  }
  if (x[1] < 0.0 || x[2] < 0.0) {
    return INFINITY;
  }
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

/* The search grid of the two-box response's time scales (years): GRID points, log-spaced, fast
 * from FAST_LO over FAST_RANGE, slow from SLOW_LO over SLOW_RANGE, the slow box at least SEPARATION
 * times the fast one; the amplitudes and offset by linear least squares for each pair, the pair
 * with the least squared error wins. (Fixed, documented choices: the fit is a grid search by
 * design, so that it cannot stop in a local minimum.) */
#define RESPONSE_GRID 32
#define RESPONSE_FAST_LO 0.1
#define RESPONSE_FAST_RANGE 300.0 /* FAST_HI / FAST_LO: up to 30 years  */
#define RESPONSE_SLOW_LO 2.0
#define RESPONSE_SLOW_RANGE 500.0 /* SLOW_HI / SLOW_LO: up to 1000 years */
#define RESPONSE_SEPARATION 1.5
static void fit_response(pattern_info *p, int ns, const int *nt, double *const *F,
                         double *const *g) {
  double best = INFINITY;
  for (int i = 0; i < RESPONSE_GRID; i++) {
    for (int j = 0; j < RESPONSE_GRID; j++) {
      double d[2] = {RESPONSE_FAST_LO * pow(RESPONSE_FAST_RANGE, i / (RESPONSE_GRID - 1.0)),
                     RESPONSE_SLOW_LO * pow(RESPONSE_SLOW_RANGE, j / (RESPONSE_GRID - 1.0))},
             x[3] = {0, 0, 0};
      if (d[1] <= RESPONSE_SEPARATION * d[0]) {
        continue;
      }
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
  for (int s = 0; s < ns; s++) {
    count += nt[s];
  }
  p->response_rmse = sqrt(best / (double)(count ? count : 1));
}

/* ------------------------------------------------------------------ fit */

static double wmean(const double *v, const double *w, long np) {
  double s = 0.0, sw = 0.0;
  for (long p = 0; p < np; p++) {
    s += w[p] * v[p];
    sw += w[p];
  }
  return s / sw;
}

static int pattern_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  pattern_params p = {"tas_global", GLOBAL_RESPONSE, 0, 10};
  if (params) {
    p = *(const pattern_params *)params;
  }
  char buf[256], *names[3];
  int npred = 0;
  snprintf(buf, sizeof buf, "%s", p.predictors);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); tok && npred < 3;
       tok = strtok_r(NULL, ", ", &save)) {
    names[npred++] = tok;
  }
  pattern_model *m = NULL;
  KV_CHECK(pattern_new(npred, names, ds->layout.var, &m));
  int ns = ds->ngroups, rc = KV_OK;
  long nt = ds->nt, np = ds->npts, spin = p.spinup, year0 = ds->year0;
  double *Y = NULL, *g = NULL, *w = NULL, *A = NULL, *B = NULL, *F = NULL;
  double **Fs = NULL, **gs = NULL;
  int *nts = NULL;
  m->info.global_mode = p.global_mode;
  KV_TRY(kv_layout_copy(&m->layout, &ds->layout));
  /* The control climate: the control years of every training ensemble mean (the years share
   * the historical forcing), as ClimateBench's anomalies from piControl. */
  long b0 = KV_CONTROL_YEAR_FIRST - year0, b1 = KV_CONTROL_YEAR_LAST - year0;
  if (b0 < spin) {
    b0 = spin;
  }
  if (spin >= nt - 2) {
    rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.spinup = %ld leaves %ld of %ld years to train on", spin,
                  nt - spin, nt);
    goto cleanup;
  }
  if (b0 < 0 || b1 >= nt || b0 > b1) {
    rc = KV_ERROR(KV_ERR_FORMAT,
                  "pattern: the runs cover %ld-%ld; the control climate needs "
                  "%d-%d",
                  year0, year0 + nt - 1, KV_CONTROL_YEAR_FIRST, KV_CONTROL_YEAR_LAST);
    goto cleanup;
  }
  m->npts = np;
  m->control = calloc((size_t)np + 1, sizeof *m->control);
  Y = malloc(((size_t)ns * nt * np + 1) * sizeof *Y);
  g = malloc(((size_t)ns * nt + 1) * sizeof *g);
  F = malloc(((size_t)ns * nt + 1) * sizeof *F);
  w = malloc(((size_t)np + 1) * sizeof *w);
  Fs = calloc((size_t)ns + 1, sizeof *Fs);
  gs = calloc((size_t)ns + 1, sizeof *gs);
  nts = calloc((size_t)ns + 1, sizeof *nts);
  if (!m->control || !Y || !g || !F || !w || !Fs || !gs || !nts) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  memcpy(Y, ds->series, (size_t)ns * nt * np * sizeof *Y);
  double fref = 0.0, cnt = (double)(ns * (b1 - b0 + 1));
  for (int sc = 0; sc < ns; sc++) {
    for (long t = b0; t <= b1; t++) {
      for (long q = 0; q < np; q++) {
        m->control[q] += Y[((size_t)sc * nt + t) * np + q] / cnt;
      }
      fref += ds->forcing[((size_t)sc * nt + t) * KV_FORCING_COLS + KV_FORCING_TOTAL] / cnt;
    }
  }
  m->info.F_ref = fref;
  m->info.year0 = (int)year0;
  m->info.nyears = (int)nt;
  kv_layout_weights(&m->layout, w);
  /* Anomalies and their global means. */
  for (int sc = 0; sc < ns; sc++) {
    for (long t = 0; t < nt; t++) {
      double *row = Y + ((size_t)sc * nt + t) * np;
      for (long q = 0; q < np; q++) {
        row[q] -= m->control[q];
      }
      g[(size_t)sc * nt + t] = wmean(row, w, np);
    }
  }
  /* Least squares for every point at once: rows (scenario, year), columns 1, predictors. */
  int nc = 1 + npred;
  long ntf = nt - spin, R = (long)ns * ntf;
  A = malloc(((size_t)R * nc + 1) * sizeof *A);
  B = malloc(((size_t)R * np + 1) * sizeof *B);
  if (!A || !B) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld x %ld", R, np);
    goto cleanup;
  }
  for (int sc = 0; sc < ns; sc++) {
    for (long t = spin; t < nt; t++) {
      long r = sc * ntf + (t - spin);
      const double *fo = ds->forcing + ((size_t)sc * nt + t) * KV_FORCING_COLS;
      A[r] = 1.0;
      for (int k = 0; k < npred; k++) {
        int id = predictor_id(m->base.inputs[k]);
        A[(k + 1) * R + r] = id == 0   ? g[(size_t)sc * nt + t]
                             : id == 1 ? fo[KV_FORCING_CO2]
                                       : fo[KV_FORCING_AEROSOL];
      }
      for (long q = 0; q < np; q++) {
        B[q * R + r] = Y[((size_t)sc * nt + t) * np + q];
      }
    }
  }
  lapack_int info = LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', (lapack_int)R, nc, (lapack_int)np, A,
                                  (lapack_int)R, B, (lapack_int)R);
  if (info != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "pattern: the least-squares problem is rank deficient (%d): the "
                  "predictors are collinear over the training scenarios",
                  (int)info);
    goto cleanup;
  }
  m->coef = malloc(((size_t)nc * np + 1) * sizeof *m->coef);
  if (!m->coef) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  for (int c = 0; c < nc; c++) {
    for (long q = 0; q < np; q++) {
      m->coef[c * np + q] = B[q * R + c];
    }
  }
  m->nmaps = nc;
  /* The global response to forcing anomalies, for scenarios the solver has not run. It is
   * fitted after the spin-up, its boxes starting at rest there: the forcing anomalies of the
   * early years are close to zero, so little history is lost. */
  for (int sc = 0; sc < ns; sc++) {
    Fs[sc] = F + (size_t)sc * nt;
    gs[sc] = g + (size_t)sc * nt + spin;
    for (long t = spin; t < nt; t++) {
      Fs[sc][t - spin] =
          ds->forcing[((size_t)sc * nt + t) * KV_FORCING_COLS + KV_FORCING_TOTAL] - fref;
    }
    nts[sc] = (int)ntf;
  }
  if (p.global_mode == GLOBAL_CUMULATIVE_CO2) {
    /* Stage 1: g = c + q1 CO2 by least squares over the training years after the spin-up. */
    double M[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    for (int sc = 0; sc < ns; sc++) {
      for (long t = spin; t < nt; t++) {
        double x = ds->forcing[((size_t)sc * nt + t) * KV_FORCING_COLS + KV_FORCING_CO2];
        double y = g[(size_t)sc * nt + t];
        M[0] += 1.0;
        M[1] += x;
        M[3] += x * x;
        b[0] += y;
        b[1] += x * y;
      }
    }
    double det = M[0] * M[3] - M[1] * M[1];
    if (!(fabs(det) > 0.0) || !isfinite(det)) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "pattern: cumulative CO2 does not vary over the training "
                                    "years (or is missing): no global response to fit");
      goto cleanup;
    }
    m->info.c = (M[3] * b[0] - M[1] * b[1]) / det;
    m->info.q[0] = (M[0] * b[1] - M[1] * b[0]) / det;
    double sse = 0.0;
    for (int sc = 0; sc < ns; sc++) {
      for (long t = spin; t < nt; t++) {
        double x = ds->forcing[((size_t)sc * nt + t) * KV_FORCING_COLS + KV_FORCING_CO2];
        double e = m->info.c + m->info.q[0] * x - g[(size_t)sc * nt + t];
        sse += e * e;
      }
    }
    m->info.response_rmse = sqrt(sse / (double)R);
  } else if (!isfinite(fref)) {
    rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.global: the training data have no total forcing (a "
                                 "ClimateBench-style set): use surrogate.global = cumulative_co2 "
                                 "or true_smoothed");
    goto cleanup;
  } else {
    fit_response(&m->info, ns, nts, Fs, gs);
  }
  m->info.spinup = (int)spin;
  kv_info("pattern: %d scenarios x %ld years, %d coefficient maps; global response rms misfit "
          "%.3g K",
          ns, nt, nc, m->info.response_rmse);
cleanup:
  free(Y);
  free(g);
  free(F);
  free(w);
  free(A);
  free(B);
  free(Fs);
  free(gs);
  free(nts);
  if (rc != KV_OK) {
    pattern_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

/* ------------------------------------------------------------------ predict */

/* The predictors of each year (n x ninputs) from the scenario columns. */
static int predictors(const pattern_model *m, const double *X, long n, double *P) {
  const pattern_info *p = &m->info;
  double *g = malloc(((size_t)n + 1) * sizeof *g), *F = malloc(((size_t)n + 1) * sizeof *F);
  int rc = g && F ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK && p->global_mode == GLOBAL_TRUE_SMOOTHED) {
    /* ClimateBench's baseline: a centred 10-year running mean (shorter at the ends). */
    for (long t = 0; rc == KV_OK && t < n; t++) {
      if (!isfinite(X[t * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE])) {
        rc = KV_ERROR(KV_ERR_USAGE, "pattern: surrogate.global = true_smoothed needs the full "
                                    "solver's global mean (kelvin validate provides it)");
      }
    }
    for (long t = 0; rc == KV_OK && t < n; t++) {
      long a = t - 5 < 0 ? 0 : t - 5, b = t + 4 >= n ? n - 1 : t + 4;
      double acc = 0.0;
      for (long k = a; k <= b; k++) {
        acc += X[k * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE];
      }
      g[t] = acc / (double)(b - a + 1);
    }
  } else if (rc == KV_OK && p->global_mode == GLOBAL_CUMULATIVE_CO2) {
    for (long t = 0; t < n; t++) {
      g[t] = p->c + p->q[0] * X[t * KV_SCENARIO_COLS + KV_FORCING_CO2];
    }
  } else if (rc == KV_OK) {
    for (long t = 0; t < n; t++) {
      F[t] = X[t * KV_SCENARIO_COLS + KV_FORCING_TOTAL] - p->F_ref;
    }
    response(p, F, (int)n, g);
  }
  for (long t = 0; rc == KV_OK && t < n; t++) {
    for (int k = 0; k < m->base.ninputs; k++) {
      int id = predictor_id(m->base.inputs[k]);
      P[t * m->base.ninputs + k] = id == 0   ? g[t]
                                   : id == 1 ? X[t * KV_SCENARIO_COLS + KV_FORCING_CO2]
                                             : X[t * KV_SCENARIO_COLS + KV_FORCING_AEROSOL];
    }
  }
  free(g);
  free(F);
  return rc;
}

static int pattern_predict(const kv_surrogate *s, const double *X, long n, double *mean,
                           double *var) {
  const pattern_model *m = (const pattern_model *)s;
  int d = s->ninputs;
  double *P = malloc(((size_t)n * d + 1) * sizeof *P);
  if (!P) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = predictors(m, X, n, P);
  /* Anomalies: intercept + sum of predictor x map; the regression gives no variance here. */
  for (long i = 0; rc == KV_OK && i < n; i++) {
    double *mu = mean + i * m->npts;
    memcpy(mu, m->coef, (size_t)m->npts * sizeof *mu);
    for (int k = 0; k < d; k++) {
      const double *b = m->coef + (size_t)(k + 1) * (size_t)m->npts;
      double x = P[i * d + k];
      for (long q = 0; q < m->npts; q++) {
        mu[q] += x * b[q];
      }
    }
    if (var) {
      memset(var + i * m->npts, 0, (size_t)m->npts * sizeof *var);
    }
  }
  free(P);
  return rc;
}

/* ------------------------------------------------------------------ files */

static int pattern_save(const kv_surrogate *s, kv_h5_store *h) {
  const pattern_model *m = (const pattern_model *)s;
  long dims[2] = {m->nmaps, m->npts};
  const pattern_info *p = &m->info;
  (void)dims;
  /* Maps on the field's own coordinates (lat, lon): xarray and ncview show them as maps. */
  KV_CHECK(kv_layout_put_maps(h, &m->layout, "/pattern/control", NULL, 0, m->control,
                              m->layout.units, "the control climate (1850-1900 mean)"));
  KV_CHECK(kv_layout_put_maps(h, &m->layout, "/pattern/coefficients", "map", m->nmaps, m->coef,
                              NULL, "intercept, then one map per predictor (inputs)"));
  KV_CHECK(kv_h5_store_put_text(h, "/pattern", "coefficients_rows",
                                "intercept, then one map per predictor (inputs)"));
  const struct {
    const char *k;
    double v;
  } nums[] = {{"q1", p->q[0]},
              {"q2", p->q[1]},
              {"d1", p->d[0]},
              {"d2", p->d[1]},
              {"c", p->c},
              {"F_ref", p->F_ref},
              {"response_rmse", p->response_rmse},
              {"global_mode", p->global_mode},
              {"year0", p->year0},
              {"nyears", p->nyears},
              {"spinup", p->spinup}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    KV_CHECK(kv_h5_store_put_number(h, "/pattern", nums[i].k, nums[i].v));
  }
  return kv_layout_save(&m->layout, h);
}

static int pattern_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  pattern_model *m = NULL;
  KV_CHECK(pattern_new(0, NULL, "", &m));
  kv_h5_array a = {0}, c = {0};
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get(h, "/pattern/control", &a));
  m->control = a.data;
  m->npts = a.count;
  KV_TRY(kv_h5_store_get(h, "/pattern/coefficients", &c));
  m->coef = c.data;
  /* (map, points) in files of earlier versions, (map, lat, lon) since. */
  m->nmaps = c.rank >= 2 ? (int)c.dims[0] : 0;
  if (c.rank < 2 || c.count != (long)m->nmaps * m->npts || m->nmaps < 2 || m->nmaps > 4) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /pattern/coefficients has the wrong shape", path);
    goto cleanup;
  }
  pattern_info *p = &m->info;
  double gm, y0, ny, sp = 0.0;
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
  if (kv_h5_store_has(h, "/pattern") &&
      kv_h5_store_get_number(h, "/pattern", "spinup", &sp) != KV_OK) {
    sp = 0.0; /* files before surrogate.spinup */
    kv_error_clear();
  }
  p->spinup = (int)sp;
  p->global_mode = (int)gm;
  p->year0 = (int)y0;
  p->nyears = (int)ny;
  KV_TRY(kv_layout_load(h, &m->layout));
cleanup:
  if (rc != KV_OK) {
    pattern_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

static int pattern_describe(const kv_surrogate *s, FILE *f) {
  const pattern_model *m = (const pattern_model *)s;
  const pattern_info *p = &m->info;
  fprintf(f, "pattern: %ld points, maps: intercept", m->npts);
  for (int k = 0; k < s->ninputs; k++) {
    fprintf(f, ", %s", s->inputs[k]);
  }
  if (p->global_mode == GLOBAL_CUMULATIVE_CO2) {
    fprintf(f, "\n  global mean: %.6g + %.6g x cumulative CO2, rms misfit %.4g\n", p->c, p->q[0],
            p->response_rmse);
    return KV_OK;
  }
  fprintf(f,
          "\n  global mean %s: two-box response, time scales %.4g and %.4g years, amplitudes "
          "%.4g and %.4g K/(W m-2), rms misfit %.4g K\n",
          p->global_mode ? "true_smoothed (from the full solver at validation)" : "response",
          p->d[0], p->d[1], p->q[0], p->q[1], p->response_rmse);
  return KV_OK;
}

static long pattern_noutputs(const kv_surrogate *s) {
  return ((const pattern_model *)s)->npts;
}

static const kv_field_layout *pattern_layout(const kv_surrogate *s) {
  return &((const pattern_model *)s)->layout;
}

static const double *pattern_reference(const kv_surrogate *s) {
  return ((const pattern_model *)s)->control;
}

const kv_surrogate_type kv_surrogate_pattern = {
    .name = "pattern",
    .summary = "linear pattern scaling of climate fields from a scenario ensemble",
    .data = KV_DATA_SCENARIOS,
    .keys = {pattern_keys, NULL, NULL},
    .params_create = params_create,
    .fit = pattern_fit,
    .predict = pattern_predict,
    .save = pattern_save,
    .load = pattern_load,
    .describe = pattern_describe,
    .free = pattern_free,
    .noutputs = pattern_noutputs,
    .layout = pattern_layout,
    .reference = pattern_reference,
};
