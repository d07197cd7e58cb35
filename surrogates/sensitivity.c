#include "surrogates/sensitivity.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "surrogates/sampling.h"

int kv_sobol_design(long N, int d, unsigned long seed, int qmc, double *U) {
  if (N < 2 || d < 1 || (qmc && 2 * d > KV_SOBOL_MAXDIM)) {
    return KV_ERROR(KV_ERR_INVALID, "sobol design: need N >= 2 and 1 <= d%s (got N = %ld, d = %d)",
                    qmc ? " <= 20 for a quasi-random design" : "", N, d);
  }
  double *ab = malloc((size_t)N * 2 * (size_t)d * sizeof *ab);
  if (!ab) {
    return KV_ERROR(KV_ERR_NOMEM, "sobol design: out of memory for N = %ld", N);
  }
  int rc = KV_OK;
  if (qmc) {
    rc = kv_sample_sobol(N, 2 * d, seed, ab);
  } else {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
      free(ab);
      return KV_ERROR(KV_ERR_NOMEM, "sobol design: out of memory");
    }
    gsl_rng_set(r, seed);
    for (long k = 0; k < N * 2 * d; k++) {
      ab[k] = gsl_rng_uniform(r);
    }
    gsl_rng_free(r);
  }
  for (long i = 0; rc == KV_OK && i < N; i++) {
    const double *a = ab + i * 2 * d, *b = a + d;
    for (int j = 0; j < d; j++) {
      U[i * d + j] = a[j];
      U[(N + i) * d + j] = b[j];
      for (int k = 0; k < d; k++) {
        U[((2 + k) * N + i) * d + j] = j == k ? b[j] : a[j];
      }
    }
  }
  free(ab);
  return rc;
}

/* The indices of output column q from the base rows `rows` (NULL: all). */
static int indices_one(long N, int d, long m, long q, const double *Y, int est, const long *rows,
                       double *s1, double *st) {
#define YV(block, i) (Y[((block)*N + (rows ? rows[i] : (i))) * m + q])
  double mu = 0.0;
  for (int b = 0; b < d + 2; b++) {
    for (long i = 0; i < N; i++) {
      mu += YV(b, i);
    }
  }
  mu /= (double)N * (double)(d + 2);
  double ma = 0.0, mb = 0.0;
  for (long i = 0; i < N; i++) {
    ma += YV(0, i) - mu;
    mb += YV(1, i) - mu;
  }
  ma /= (double)N;
  mb /= (double)N;
  double v = 0.0;
  for (long i = 0; i < N; i++) {
    double a = YV(0, i) - mu - ma;
    v += a * a;
  }
  v /= (double)(N - 1);
  if (!(v > 0.0) || !isfinite(v)) {
    for (int k = 0; k < d; k++) {
      s1[k] = st[k] = NAN;
    }
    return KV_ERR_NUMERIC;
  }
  for (int k = 0; k < d; k++) {
    double p = 0.0, t = 0.0;
    for (long i = 0; i < N; i++) {
      double ya = YV(0, i) - mu, yb = YV(1, i) - mu, ye = YV(2 + k, i) - mu;
      if (est == KV_SOBOL_SALTELLI) {
        p += ye * yb;
        t += ye * ya;
      } else {
        p += (ye - yb) * (ye - yb);
        t += (ye - ya) * (ye - ya);
      }
    }
    if (est == KV_SOBOL_SALTELLI) {
      s1[k] = (p / (double)(N - 1) - ma * mb) / v;
      st[k] = (ma * ma + v - t / (double)(N - 1)) / v;
    } else {
      s1[k] = (v - p / (2.0 * (double)N - 1.0)) / v;
      st[k] = t / (2.0 * (double)N - 1.0) / v;
    }
  }
#undef YV
  return KV_OK;
}

int kv_sobol_indices(long N, int d, long m, const double *Y, int estimator, const long *rows,
                     double *S1, double *ST) {
  if (N < 2 || d < 1 || m < 1) {
    return KV_ERROR(KV_ERR_INVALID, "sobol indices: need N >= 2, d >= 1, m >= 1");
  }
  int flat = 0;
  for (long q = 0; q < m; q++) {
    flat |= indices_one(N, d, m, q, Y, estimator, rows, S1 + q * d, ST + q * d) != KV_OK;
  }
  return flat ? KV_ERR_NUMERIC : KV_OK;
}

int kv_sobol_bootstrap(long N, int d, const double *Y, int estimator, int nboot, double level,
                       unsigned long seed, double *lo1, double *hi1, double *loT, double *hiT) {
  if (nboot < 2 || !(level > 0.0 && level < 1.0)) {
    return KV_ERROR(KV_ERR_INVALID, "sobol bootstrap: need >= 2 resamples and 0 < level < 1");
  }
  long *rows = malloc((size_t)N * sizeof *rows);
  double *b1 = malloc((size_t)nboot * (size_t)d * sizeof *b1);
  double *bt = malloc((size_t)nboot * (size_t)d * sizeof *bt);
  double *col = malloc((size_t)nboot * sizeof *col);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = rows && b1 && bt && col && r ? KV_OK
                                        : KV_ERROR(KV_ERR_NOMEM, "sobol bootstrap: out of memory");
  if (rc == KV_OK) {
    gsl_rng_set(r, seed);
  }
  int used = 0;
  for (int b = 0; rc == KV_OK && b < nboot; b++) {
    for (long i = 0; i < N; i++) {
      rows[i] = (long)gsl_rng_uniform_int(r, (unsigned long)N);
    }
    /* A resample whose A block happens not to vary says nothing; leave it out. */
    if (indices_one(N, d, 1, 0, Y, estimator, rows, b1 + used * d, bt + used * d) == KV_OK) {
      used++;
    }
  }
  if (rc == KV_OK && used < 2) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "sobol bootstrap: the output does not vary");
  }
  double a = 0.5 * (1.0 - level);
  for (int k = 0; rc == KV_OK && k < d; k++) {
    for (int pass = 0; pass < 2; pass++) {
      const double *src = pass ? bt : b1;
      for (int b = 0; b < used; b++) {
        col[b] = src[b * d + k];
      }
      gsl_sort(col, 1, (size_t)used);
      double lo = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)used, a);
      double hi = gsl_stats_quantile_from_sorted_data(col, 1, (size_t)used, 1.0 - a);
      (pass ? loT : lo1)[k] = lo;
      (pass ? hiT : hi1)[k] = hi;
    }
  }
  gsl_rng_free(r);
  free(rows);
  free(b1);
  free(bt);
  free(col);
  return rc;
}

int kv_morris_design(long r, int d, int p, unsigned long seed, double *U) {
  if (r < 1 || d < 1 || p < 2 || p % 2) {
    return KV_ERROR(KV_ERR_INVALID,
                    "morris design: need r >= 1 trajectories, d >= 1 and an even number of "
                    "levels >= 2 (got r = %ld, d = %d, p = %d)",
                    r, d, p);
  }
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  int *order = malloc((size_t)d * sizeof *order);
  if (!g || !order) {
    gsl_rng_free(g);
    free(order);
    return KV_ERROR(KV_ERR_NOMEM, "morris design: out of memory");
  }
  gsl_rng_set(g, seed);
  double step = 1.0 / (double)(p - 1), delta = (double)p / (2.0 * (double)(p - 1));
  for (long t = 0; t < r; t++) {
    double *x = U + t * (d + 1) * d;
    /* A base point from which every move by +-delta stays on the grid. */
    for (int j = 0; j < d; j++) {
      x[j] = step * (double)gsl_rng_uniform_int(g, (unsigned long)p);
      order[j] = j;
    }
    gsl_ran_shuffle(g, order, (size_t)d, sizeof *order);
    for (int s = 0; s < d; s++) {
      double *y = x + (s + 1) * d;
      for (int j = 0; j < d; j++) {
        y[j] = y[j - d];
      }
      int j = order[s];
      y[j] += y[j] + delta <= 1.0 + 1e-12 ? delta : -delta;
    }
  }
  free(order);
  gsl_rng_free(g);
  return KV_OK;
}

int kv_morris_effects(long r, int d, const double *U, const double *Y, double *mu, double *mustar,
                      double *sigma) {
  if (r < 1 || d < 1) {
    return KV_ERROR(KV_ERR_INVALID, "morris effects: need r >= 1 and d >= 1");
  }
  for (int j = 0; j < d; j++) {
    mu[j] = mustar[j] = sigma[j] = 0.0;
  }
  /* Welford per input: the effects arrive one trajectory at a time. */
  for (long t = 0; t < r; t++) {
    const double *x = U + t * (d + 1) * d, *y = Y + t * (d + 1);
    for (int s = 0; s < d; s++) {
      int j = -1;
      for (int k = 0; k < d && j < 0; k++) {
        j = x[(s + 1) * d + k] != x[s * d + k] ? k : -1;
      }
      if (j < 0) {
        return KV_ERROR(KV_ERR_INVALID, "morris effects: trajectory %ld step %d moves no input", t,
                        s);
      }
      double ee = (y[s + 1] - y[s]) / (x[(s + 1) * d + j] - x[s * d + j]);
      double old = mu[j];
      mu[j] += (ee - old) / (double)(t + 1);
      sigma[j] += (ee - old) * (ee - mu[j]);
      mustar[j] += (fabs(ee) - mustar[j]) / (double)(t + 1);
    }
  }
  for (int j = 0; j < d; j++) {
    sigma[j] = r > 1 ? sqrt(sigma[j] / (double)(r - 1)) : 0.0;
  }
  return KV_OK;
}
