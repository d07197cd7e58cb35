#include "drivers/sensitivity.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "io/chart.h"
#include "io/h5.h"
#include "io/layout.h"
#include "io/plot.h"
#include "io/safefile.h"
#include "io/textfile.h"
#include "surrogates/sensitivity.h"
#include "surrogates/surrogate.h"

/* Most doubles a field analysis holds at once (design outputs): 2 GB. */
#define KV_SENS_MAX_VALUES 268435456L

const kv_config_key kv_sensitivity_keys[] = {
    {"sensitivity.method", KV_CFG_ENUM, "sobol", "sobol|morris", KV_CFG_NORANGE,
     "sobol: first-order and total indices; morris: elementary effects (screening)"},
    {"sensitivity.samples", KV_CFG_INT, "4096", NULL, 2, 100000000,
     "Sobol base size N on the surrogate (N (d + 2) evaluations)"},
    {"sensitivity.estimator", KV_CFG_ENUM, "jansen", "jansen|saltelli", KV_CFG_NORANGE,
     "Sobol estimator (Jansen 1999 or Saltelli 2002/2010, OpenTURNS' conventions)"},
    {"sensitivity.design", KV_CFG_ENUM, "random", "random|qmc", KV_CFG_NORANGE,
     "A and B matrices: independent uniform draws or a scrambled Sobol sequence"},
    {"sensitivity.bootstrap", KV_CFG_INT, "200", NULL, 0, 100000,
     "bootstrap resamples for the confidence intervals (0: none)"},
    {"sensitivity.level", KV_CFG_DOUBLE, "0.95", NULL, 0.5, 0.9999, "level of the intervals"},
    {"sensitivity.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the designs"},
    {"sensitivity.trajectories", KV_CFG_INT, "20", NULL, 1, 1000000,
     "Morris: trajectories r (r (d + 1) evaluations)"},
    {"sensitivity.levels", KV_CFG_INT, "4", NULL, 2, 1000, "Morris: grid levels p (even)"},
    {"sensitivity.direct", KV_CFG_BOOL, "false", NULL, KV_CFG_NORANGE,
     "also estimate the indices by the full solver (a pick-freeze design through the task farm)"},
    {"sensitivity.direct_samples", KV_CFG_INT, "64", NULL, 2, 1000000,
     "base size of the full solver's design (N (d + 2) runs)"},
    {"sensitivity.draws", KV_CFG_INT, "20", NULL, 0, 10000,
     "kinds with posterior draws (gp): indices of this many draws of the surrogate, for the "
     "spread its own uncertainty gives (0: none)"},
    {"sensitivity.draw_samples", KV_CFG_INT, "128", NULL, 2, 100000,
     "base size of the design the draws are made on (N (d + 2) points, joint: O(points^3))"},
    {"sensitivity.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where sensitivity.csv/.h5/.png and the direct runs go (default: beside the model file)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

int kv_sensitivity_params_from_config(const kv_config *cfg, kv_sensitivity_params *p) {
  memset(p, 0, sizeof *p);
  int design;
  long seed;
  KV_CHECK(kv_config_get_enum(cfg, "sensitivity.method", "sobol|morris", &p->method));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.samples", 2, 100000000, &p->samples));
  KV_CHECK(kv_config_get_enum(cfg, "sensitivity.estimator", "saltelli|jansen", &p->estimator));
  KV_CHECK(kv_config_get_enum(cfg, "sensitivity.design", "random|qmc", &design));
  p->qmc = design == 1;
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.bootstrap", 0, 100000, &p->bootstrap));
  if (p->bootstrap == 1) {
    return kv_config_errorf(cfg, "sensitivity.bootstrap", "0 (no intervals) or at least 2");
  }
  KV_CHECK(kv_config_get_double(cfg, "sensitivity.level", 0.5, 0.9999, &p->level));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.seed", 0, 4294967295L, &seed));
  p->seed = (unsigned long)seed;
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.trajectories", 1, 1000000, &p->trajectories));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.levels", 2, 1000, &p->levels));
  if (p->levels % 2) {
    return kv_config_errorf(cfg, "sensitivity.levels",
                            "an even number of levels (so every move stays on the grid), got %ld",
                            p->levels);
  }
  KV_CHECK(kv_config_get_bool(cfg, "sensitivity.direct", &p->direct));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.direct_samples", 2, 1000000, &p->direct_samples));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.draws", 0, 10000, &p->draws));
  KV_CHECK(kv_config_get_int(cfg, "sensitivity.draw_samples", 2, 100000, &p->draw_samples));
  const char *v = kv_config_value(cfg, "sensitivity.dir");
  if (v) {
    snprintf(p->dir, sizeof p->dir, "%s", v);
  }
  return KV_OK;
}

/* The model at the unit points U (n x d): Y (n x m). */
static int predict_unit(const kv_surrogate *s, const kv_eval_space *sp, long n, const double *U,
                        double *Y) {
  double *X = malloc((size_t)n * (size_t)sp->d * sizeof *X);
  if (!X) {
    return KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory for %ld points", n);
  }
  kv_eval_space_map(sp, n, U, X);
  int rc = kv_surrogate_predict(s, n, X, Y, NULL);
  free(X);
  return rc;
}

/* Aggregate per-output indices (m x d) over the outputs, weighted by each output's variance over
 * the A block (OpenTURNS' aggregated indices: a field's share of variance). */
static void aggregate(long N, int d, long m, const double *Y, const double *S1, const double *ST,
                      double *a1, double *aT, double *vtot) {
  double wsum = 0.0;
  for (int k = 0; k < d; k++) {
    a1[k] = aT[k] = 0.0;
  }
  for (long q = 0; q < m; q++) {
    double mu = 0.0, v = 0.0;
    for (long i = 0; i < N; i++) {
      mu += Y[i * m + q];
    }
    mu /= (double)N;
    for (long i = 0; i < N; i++) {
      v += (Y[i * m + q] - mu) * (Y[i * m + q] - mu);
    }
    v /= (double)(N - 1);
    if (!(v > 0.0) || !isfinite(S1[q * d])) {
      continue;
    }
    wsum += v;
    for (int k = 0; k < d; k++) {
      a1[k] += v * S1[q * d + k];
      aT[k] += v * ST[q * d + k];
    }
  }
  for (int k = 0; k < d; k++) {
    a1[k] = wsum > 0.0 ? a1[k] / wsum : NAN;
    aT[k] = wsum > 0.0 ? aT[k] / wsum : NAN;
  }
  *vtot = wsum;
}

static int sobol_draws(const kv_surrogate *s, const kv_sensitivity_params *p,
                       kv_sensitivity_result *r);

/* Sobol indices of the surrogate (rank 0). U, Y: the design and outputs (kept for the file);
 * S1m, STm: per output (m x d). */
static int sobol_surrogate(const kv_surrogate *s, const kv_sensitivity_params *p,
                           kv_sensitivity_result *r, double **U, double **Y, double **S1m,
                           double **STm) {
  long N = p->samples, n = N * (r->sp.d + 2);
  int d = r->sp.d;
  if ((double)n * (double)r->m > (double)KV_SENS_MAX_VALUES) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "sensitivity.samples: %ld x %d points of %ld outputs need %.1f GB; lower it", N,
                    d + 2, r->m, (double)n * (double)r->m * 8e-9);
  }
  *U = malloc((size_t)n * (size_t)d * sizeof **U);
  *Y = malloc((size_t)n * (size_t)r->m * sizeof **Y);
  *S1m = malloc((size_t)r->m * (size_t)d * sizeof **S1m);
  *STm = malloc((size_t)r->m * (size_t)d * sizeof **STm);
  if (!*U || !*Y || !*S1m || !*STm) {
    return KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory for %ld points", n);
  }
  KV_CHECK(kv_sobol_design(N, d, p->seed, p->qmc, *U));
  KV_CHECK(predict_unit(s, &r->sp, n, *U, *Y));
  r->evals = n;
  int rc = kv_sobol_indices(N, d, r->m, *Y, p->estimator, NULL, *S1m, *STm);
  if (rc == KV_ERR_NUMERIC && r->m == 1) {
    return KV_ERROR(KV_ERR_NUMERIC, "sensitivity: the surrogate's %s does not vary over the ranges",
                    r->output);
  }
  double vtot;
  aggregate(N, d, r->m, *Y, *S1m, *STm, r->S1, r->ST, &vtot);
  double mean = 0.0;
  for (long i = 0; i < N * r->m; i++) {
    mean += (*Y)[i];
  }
  r->mean = mean / (double)(N * r->m);
  r->var = vtot / (double)r->m;
  if (r->m == 1 && p->draws >= 2 && kv_surrogate_type_get(s)->draw &&
      sobol_draws(s, p, r) != KV_OK) {
    /* An extra: the indices stand without it. */
    kv_warn("sensitivity: no posterior draws (%s)", kv_error_message());
    kv_error_clear();
    r->ndraws = 0;
  }
  if (r->m == 1 && kv_surrogate_type_get(s)->sobol) {
    KV_CHECK(kv_surrogate_sobol(s, r->aS1, r->aST));
    r->analytic = 1;
  }
  if (p->bootstrap >= 2 && r->m == 1) {
    KV_CHECK(kv_sobol_bootstrap(N, d, *Y, p->estimator, (int)p->bootstrap, p->level, p->seed + 7,
                                r->S1lo, r->S1hi, r->STlo, r->SThi));
  }
  return KV_OK;
}

/* The spread of the indices over posterior draws of the surrogate (rank 0): each draw is one
 * plausible function; its indices on a design of p->draw_samples base points, less those of the
 * mean function there, added to the main estimate; their central interval of level p->level. */
static int sobol_draws(const kv_surrogate *s, const kv_sensitivity_params *p,
                       kv_sensitivity_result *r) {
  int d = r->sp.d, T = (int)p->draws;
  long N = p->draw_samples, n = N * (d + 2);
  double *U = malloc((size_t)n * (size_t)d * sizeof *U), *X = malloc((size_t)n * d * sizeof *X);
  double *z = malloc((size_t)T * (size_t)n * sizeof *z), *Y = malloc((size_t)T * n * sizeof *Y);
  double *S = malloc((size_t)T * 2 * (size_t)d * sizeof *S), *col = malloc((size_t)T * sizeof *col);
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = U && X && z && Y && S && col && g
               ? kv_sobol_design(N, d, p->seed + 3, p->qmc, U)
               : KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory for %ld x %d draws", n, T);
  if (rc == KV_OK) {
    gsl_rng_set(g, p->seed + 5);
    for (long k = 0; k < (long)T * n; k++) {
      z[k] = gsl_ran_ugaussian(g);
    }
    kv_eval_space_map(&r->sp, n, U, X);
  }
  /* The indices of the mean function on the same design: a draw's departure from them is the
   * surrogate's own uncertainty, the design's sampling error cancelling (Marrel et al. 2009);
   * the interval is that departure's around the main estimate. */
  double m1[KV_EVAL_MAXD], mT[KV_EVAL_MAXD];
  if (rc == KV_OK) {
    rc = kv_surrogate_predict(s, n, X, Y + (long)(T - 1) * n, NULL);
  }
  if (rc == KV_OK &&
      kv_sobol_indices(N, d, 1, Y + (long)(T - 1) * n, p->estimator, NULL, m1, mT) != KV_OK) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "sensitivity: the surrogate's mean does not vary");
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_draw(s, n, X, T, z, Y);
  }
  int used = 0;
  for (int t = 0; rc == KV_OK && t < T; t++) {
    double *a1 = S + used * 2 * d, *aT = a1 + d;
    if (kv_sobol_indices(N, d, 1, Y + (long)t * n, p->estimator, NULL, a1, aT) == KV_OK) {
      for (int k = 0; k < d; k++) {
        a1[k] += r->S1[k] - m1[k];
        aT[k] += r->ST[k] - mT[k];
      }
      used++;
    }
    kv_error_clear();
  }
  double a = 0.5 * (1.0 - p->level);
  for (int k = 0; rc == KV_OK && used >= 2 && k < 2 * d; k++) {
    for (int t = 0; t < used; t++) {
      col[t] = S[t * 2 * d + k];
    }
    gsl_sort(col, 1, (size_t)used);
    double lo = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)used, a);
    double hi = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)used, 1.0 - a);
    (k < d ? r->gS1lo : r->gSTlo)[k % d] = lo;
    (k < d ? r->gS1hi : r->gSThi)[k % d] = hi;
  }
  r->ndraws = rc == KV_OK ? used : 0;
  gsl_rng_free(g);
  free(U);
  free(X);
  free(z);
  free(Y);
  free(S);
  free(col);
  return rc;
}

/* The same indices by the full solver: a smaller design run through the task farm. Collective. */
static int sobol_direct(MPI_Comm comm, const kv_config *cfg, const kv_sensitivity_params *p,
                        kv_sensitivity_result *r) {
  int d = r->sp.d;
  long N = p->direct_samples, n = N * (d + 2);
  double *U = malloc((size_t)n * (size_t)d * sizeof *U), *X = malloc((size_t)n * d * sizeof *X);
  double *Y = malloc((size_t)n * sizeof *Y);
  const char *keys[KV_EVAL_MAXD];
  int rc = U && X && Y ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory");
  if (rc == KV_OK) {
    rc = kv_sobol_design(N, d, p->seed + 1, p->qmc, U);
  }
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/sobol_direct", r->dir);
  for (int j = 0; j < d; j++) {
    keys[j] = r->sp.name[j];
  }
  long failed = 0;
  const char *resp = r->output;
  if (rc == KV_OK) {
    kv_eval_space_map(&r->sp, n, U, X);
    kv_info("sensitivity: %ld runs of the full solver in %s", n, dir);
    rc = kv_eval_points(comm, cfg, dir, d, keys, n, X, 1, &resp, Y, &failed);
  }
  if (rc == KV_OK && failed) {
    rc =
        KV_ERROR(KV_ERR_NUMERIC, "sensitivity: %ld of %ld direct runs failed (see %s/manifest.csv)",
                 failed, n, dir);
  }
  if (rc == KV_OK && kv_sobol_indices(N, d, 1, Y, p->estimator, NULL, r->dS1, r->dST) != KV_OK) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "sensitivity: %s does not vary over the direct runs", resp);
  }
  if (rc == KV_OK && p->bootstrap >= 2) {
    rc = kv_sobol_bootstrap(N, d, Y, p->estimator, (int)p->bootstrap, p->level, p->seed + 8,
                            r->dS1lo, r->dS1hi, r->dSTlo, r->dSThi);
  }
  r->dcases = n;
  free(U);
  free(X);
  free(Y);
  return rc;
}

static int morris_surrogate(const kv_surrogate *s, const kv_sensitivity_params *p,
                            kv_sensitivity_result *r) {
  int d = r->sp.d;
  long n = p->trajectories * (d + 1);
  if (r->m != 1) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "sensitivity: Morris screening needs a scalar surrogate");
  }
  double *U = malloc((size_t)n * (size_t)d * sizeof *U), *Y = malloc((size_t)n * sizeof *Y);
  int rc = U && Y ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory");
  if (rc == KV_OK) {
    rc = kv_morris_design(p->trajectories, d, (int)p->levels, p->seed, U);
  }
  if (rc == KV_OK) {
    rc = predict_unit(s, &r->sp, n, U, Y);
  }
  if (rc == KV_OK) {
    rc = kv_morris_effects(p->trajectories, d, U, Y, r->mu, r->mustar, r->sigma);
  }
  r->evals = n;
  free(U);
  free(Y);
  return rc;
}

/* ------------------------------------------------------------------ results */

static void csv_num(FILE *f, double v) {
  if (isfinite(v)) {
    fprintf(f, ",%.10g", v);
  } else {
    fputs(",", f);
  }
}

static int write_csv(const kv_sensitivity_result *r) {
  char tmp[4300];
  FILE *f = kv_textfile_begin(r->csv, "input,", "the sensitivity table", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  if (r->method == 1) {
    fputs("input,mu,mu_star,sigma\n", f);
  } else {
    fputs("input,S1,S1_lo,S1_hi,ST,ST_lo,ST_hi", f);
    fputs(r->dcases ? ",direct_S1,direct_S1_lo,direct_S1_hi,direct_ST,direct_ST_lo,direct_ST_hi"
                    : "",
          f);
    fputs(r->ndraws ? ",draws_S1_lo,draws_S1_hi,draws_ST_lo,draws_ST_hi" : "", f);
    fputs(r->analytic ? ",analytic_S1,analytic_ST\n" : "\n", f);
  }
  for (int j = 0; j < r->sp.d; j++) {
    fputs(r->sp.name[j], f);
    if (r->method == 1) {
      csv_num(f, r->mu[j]);
      csv_num(f, r->mustar[j]);
      csv_num(f, r->sigma[j]);
    } else {
      const double v[12] = {r->S1[j],    r->S1lo[j], r->S1hi[j],  r->ST[j],
                            r->STlo[j],  r->SThi[j], r->dS1[j],   r->dS1lo[j],
                            r->dS1hi[j], r->dST[j],  r->dSTlo[j], r->dSThi[j]};
      for (int k = 0; k < (r->dcases ? 12 : 6); k++) {
        csv_num(f, v[k]);
      }
      if (r->ndraws) {
        csv_num(f, r->gS1lo[j]);
        csv_num(f, r->gS1hi[j]);
        csv_num(f, r->gSTlo[j]);
        csv_num(f, r->gSThi[j]);
      }
      if (r->analytic) {
        csv_num(f, r->aS1[j]);
        csv_num(f, r->aST[j]);
      }
    }
    fputc('\n', f);
  }
  return kv_textfile_commit(f, tmp, r->csv);
}

static int write_h5(const kv_sensitivity_result *r, const kv_surrogate *s,
                    const kv_sensitivity_params *p, const double *U, const double *Y,
                    const double *S1m, const double *STm) {
  char path[4200], names[KV_EVAL_MAXD * 130] = "";
  snprintf(path, sizeof path, "%s/sensitivity.h5", r->dir);
  int d = r->sp.d;
  for (int j = 0; j < d; j++) {
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "",
             r->sp.name[j]);
  }
  kv_h5_store *h = NULL;
  KV_CHECK(kv_h5_store_create(path, &h));
  static const char *const dim[] = {"input"};
  long nd = d;
  int rc = kv_h5_store_put_text(h, "/", "title", "kelvin sensitivity analysis");
  if (rc == KV_OK) {
    rc = kv_h5_store_put_text(h, "/", "Conventions", "CF-1.8");
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put_text(h, "/", "method", r->method ? "morris" : "sobol");
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put_text(h, "/", "inputs", names);
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put_text(h, "/", "response", r->output);
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_put_text(h, "/", "estimator", p->estimator ? "jansen" : "saltelli");
  }
  if (rc == KV_OK) {
    rc = kv_h5_store_coord(h, "input", d, NULL, "1", NULL, names);
  }
  struct {
    const char *name;
    const double *v;
    int want;
  } sets[] = {{"S1", r->S1, !r->method},
              {"ST", r->ST, !r->method},
              {"S1_lo", r->S1lo, !r->method},
              {"S1_hi", r->S1hi, !r->method},
              {"ST_lo", r->STlo, !r->method},
              {"ST_hi", r->SThi, !r->method},
              {"direct_S1", r->dS1, r->dcases > 0},
              {"direct_ST", r->dST, r->dcases > 0},
              {"direct_S1_lo", r->dS1lo, r->dcases > 0},
              {"direct_S1_hi", r->dS1hi, r->dcases > 0},
              {"direct_ST_lo", r->dSTlo, r->dcases > 0},
              {"direct_ST_hi", r->dSThi, r->dcases > 0},
              {"draws_S1_lo", r->gS1lo, r->ndraws > 0},
              {"draws_S1_hi", r->gS1hi, r->ndraws > 0},
              {"draws_ST_lo", r->gSTlo, r->ndraws > 0},
              {"draws_ST_hi", r->gSThi, r->ndraws > 0},
              {"analytic_S1", r->aS1, r->analytic},
              {"analytic_ST", r->aST, r->analytic},
              {"mu", r->mu, r->method},
              {"mu_star", r->mustar, r->method},
              {"sigma", r->sigma, r->method}};
  for (size_t k = 0; rc == KV_OK && k < sizeof sets / sizeof sets[0]; k++) {
    if (sets[k].want) {
      rc = kv_h5_store_put_dims(h, sets[k].name, 1, &nd, sets[k].v, dim);
    }
  }
  if (rc == KV_OK && U && r->m == 1) {
    long dims[2] = {r->evals, d};
    rc = kv_h5_store_put(h, "/design/U", 2, dims, U);
    if (rc == KV_OK) {
      rc = kv_h5_store_put(h, "/design/Y", 1, dims, Y);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_number(h, "/design", "N", (double)p->samples);
    }
  }
  const kv_field_layout *L = kv_surrogate_layout(s);
  if (rc == KV_OK && S1m && r->m > 1 && L && kv_layout_points(L) == r->m) {
    rc = kv_layout_put_maps(h, L, "S1_map", "input", d, S1m, "1", "first-order Sobol index");
    if (rc == KV_OK) {
      rc = kv_layout_put_maps(h, L, "ST_map", "input", d, STm, "1", "total Sobol index");
    }
  }
  int rc2 = kv_h5_store_close(h, rc == KV_OK);
  return rc != KV_OK ? rc : rc2;
}

static int write_png(const kv_sensitivity_result *r, const kv_surrogate *s, const double *STm) {
  char path[4200], title[512];
  int d = r->sp.d;
  const char *labels[KV_EVAL_MAXD];
  double v[KV_EVAL_MAXD * 4], lo[KV_EVAL_MAXD * 4], hi[KV_EVAL_MAXD * 4];
  for (int j = 0; j < d; j++) {
    const char *dot = strrchr(r->sp.name[j], '.');
    labels[j] = dot ? dot + 1 : r->sp.name[j];
  }
  snprintf(path, sizeof path, "%s/sensitivity.png", r->dir);
  int ns = r->method == 1 ? 2 : r->dcases ? 4 : 2;
  for (int j = 0; j < d; j++) {
    const double a[12] = {r->S1[j],  r->S1lo[j],  r->S1hi[j],  r->ST[j],  r->STlo[j],  r->SThi[j],
                          r->dS1[j], r->dS1lo[j], r->dS1hi[j], r->dST[j], r->dSTlo[j], r->dSThi[j]};
    for (int k = 0; k < ns; k++) {
      v[j * ns + k] = r->method == 1 ? (k ? r->sigma[j] : r->mustar[j]) : a[3 * k];
      lo[j * ns + k] = r->method == 1 ? NAN : a[3 * k + 1];
      hi[j * ns + k] = r->method == 1 ? NAN : a[3 * k + 2];
    }
  }
  static const char *const sobol_names[] = {"S1", "ST", "S1 full solver", "ST full solver"};
  static const char *const morris_names[] = {"mu*", "sigma"};
  snprintf(title, sizeof title, "%s of %s", r->method ? "Morris effects" : "Sobol indices",
           r->output);
  kv_chart_opts o = {title, "input", r->method ? "elementary effect" : "index", 0};
  KV_CHECK(
      kv_chart_bars(d, ns, labels, r->method ? morris_names : sobol_names, v, lo, hi, &o, path));
  const kv_field_layout *L = kv_surrogate_layout(s);
  if (STm && r->m > 1 && L && L->ndims == 2 && kv_layout_points(L) == r->m) {
    double *map = malloc((size_t)r->m * sizeof *map);
    if (!map) {
      return KV_ERROR(KV_ERR_NOMEM, "sensitivity: out of memory");
    }
    int rc = KV_OK;
    for (int j = 0; j < d && rc == KV_OK; j++) {
      for (long q = 0; q < r->m; q++) {
        map[q] = STm[q * d + j];
      }
      snprintf(path, sizeof path, "%s/sensitivity_ST_%s.png", r->dir, labels[j]);
      snprintf(title, sizeof title, "total Sobol index of %s: %s", r->output, labels[j]);
      kv_plot_opts po = {0, 0, title, "ST", L->axis_name[0], L->axis_name[1], 0};
      rc = kv_plot_map(map, L->n[0], L->n[1], L->coord[0], L->coord[1], &po, path);
    }
    free(map);
    return rc;
  }
  return KV_OK;
}

void kv_sensitivity_print(const kv_sensitivity_result *r, FILE *f) {
  if (r->method == 1) {
    fprintf(f, "Morris elementary effects of %s (%ld surrogate evaluations):\n", r->output,
            r->evals);
    fprintf(f, "  %-28s %12s %12s %12s\n", "input", "mu", "mu*", "sigma");
    for (int j = 0; j < r->sp.d; j++) {
      fprintf(f, "  %-28s %12.5g %12.5g %12.5g\n", r->sp.name[j], r->mu[j], r->mustar[j],
              r->sigma[j]);
    }
    return;
  }
  fprintf(f, "Sobol indices of %s%s (%ld surrogate evaluations; mean %.6g, variance %.6g):\n",
          r->output, r->m > 1 ? " (aggregated over the field)" : "", r->evals, r->mean, r->var);
  fprintf(f, "  %-28s %8s %19s %8s %19s\n", "input", "S1", "interval", "ST", "interval");
  for (int j = 0; j < r->sp.d; j++) {
    fprintf(f, "  %-28s %8.4f [%8.4f, %8.4f] %8.4f [%8.4f, %8.4f]\n", r->sp.name[j], r->S1[j],
            r->S1lo[j], r->S1hi[j], r->ST[j], r->STlo[j], r->SThi[j]);
  }
  if (r->ndraws) {
    fprintf(f, "the surrogate's own uncertainty, over %ld posterior draws (S1 and ST intervals):\n",
            r->ndraws);
    for (int j = 0; j < r->sp.d; j++) {
      fprintf(f, "  %-28s %8s [%8.4f, %8.4f] %8s [%8.4f, %8.4f]\n", r->sp.name[j], "", r->gS1lo[j],
              r->gS1hi[j], "", r->gSTlo[j], r->gSThi[j]);
    }
  }
  if (r->analytic) {
    fprintf(f, "in closed form (the %s's coefficients, inputs uniform over its training box):\n",
            "surrogate");
    for (int j = 0; j < r->sp.d; j++) {
      fprintf(f, "  %-28s %8.4f %19s %8.4f\n", r->sp.name[j], r->aS1[j], "", r->aST[j]);
    }
  }
  if (r->dcases) {
    fprintf(f, "by the full solver (%ld runs):\n", r->dcases);
    for (int j = 0; j < r->sp.d; j++) {
      fprintf(f, "  %-28s %8.4f [%8.4f, %8.4f] %8.4f [%8.4f, %8.4f]\n", r->sp.name[j], r->dS1[j],
              r->dS1lo[j], r->dS1hi[j], r->dST[j], r->dSTlo[j], r->dSThi[j]);
    }
  }
}

int kv_sensitivity_run(MPI_Comm comm, const kv_config *cfg, const char *model_path, const char *csv,
                       kv_sensitivity_result *out) {
  kv_sensitivity_params p;
  memset(out, 0, sizeof *out);
  for (int j = 0; j < KV_EVAL_MAXD; j++) {
    out->S1lo[j] = out->S1hi[j] = out->STlo[j] = out->SThi[j] = NAN;
    out->dS1[j] = out->dST[j] = out->dS1lo[j] = out->dS1hi[j] = out->dSTlo[j] = out->dSThi[j] = NAN;
  }
  KV_CHECK(kv_sensitivity_params_from_config(cfg, &p));
  out->method = p.method;
  kv_surrogate *s = NULL;
  int rc = kv_surrogate_load(model_path, &s);
  if (rc == KV_OK) {
    rc = kv_eval_space_of_model(cfg, s, "sensitivity", &out->sp);
  }
  if (rc == KV_OK) {
    snprintf(out->output, sizeof out->output, "%s", kv_surrogate_output(s));
    out->m = kv_surrogate_noutputs(s);
    if (p.dir[0]) {
      snprintf(out->dir, sizeof out->dir, "%s", p.dir);
    } else {
      const char *slash = strrchr(model_path, '/');
      snprintf(out->dir, sizeof out->dir, "%.*s", slash ? (int)(slash - model_path) : 1,
               slash ? model_path : ".");
    }
    snprintf(out->csv, sizeof out->csv, "%s/sensitivity.csv", out->dir);
    if (csv) {
      snprintf(out->csv, sizeof out->csv, "%s", csv);
    }
  }
  if (rc == KV_OK && p.direct && (out->m != 1 || p.method == 1)) {
    rc = kv_config_errorf(cfg, "sensitivity.direct",
                          "the full solver's indices are for Sobol indices of a scalar surrogate");
  }
  if (rc == KV_OK && p.direct && !kv_config_has(cfg, "run.model")) {
    rc = kv_config_errorf(cfg, "sensitivity.direct",
                          "the full solver's indices need the model: give the configuration "
                          "([run] model = ...), not only the model file");
  }
  rc = kv_status_agree(comm, rc);
  double *U = NULL, *Y = NULL, *S1m = NULL, *STm = NULL;
  int root = kv_comm_rank(comm) == 0;
  if (rc == KV_OK && root) {
    rc = kv_safefile_mkdirs(out->dir);
    if (rc == KV_OK) {
      rc = p.method == 1 ? morris_surrogate(s, &p, out)
                         : sobol_surrogate(s, &p, out, &U, &Y, &S1m, &STm);
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && p.direct) {
    rc = sobol_direct(comm, cfg, &p, out);
  }
  if (rc == KV_OK && root) {
    rc = write_csv(out);
    if (rc == KV_OK) {
      rc = write_h5(out, s, &p, U, Y, S1m, STm);
    }
    if (rc == KV_OK) {
      rc = write_png(out, s, STm);
    }
  }
  rc = kv_status_agree(comm, rc);
  free(U);
  free(Y);
  free(S1m);
  free(STm);
  kv_surrogate_free(s);
  return rc;
}
