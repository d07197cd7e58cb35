#include "surrogates/transform.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_min.h>
#include <math.h>

#include "core/status.h"

/* The Box-Cox lambdas searched (scipy's default bracket is wider; outside this range the
 * transform is an extreme power that extrapolates badly). */
#define KV_BOXCOX_LO (-3.0)
#define KV_BOXCOX_HI 3.0
#define KV_HERMITE_NODES 40

const char *kv_transform_name(int kind) {
  return kind == KV_TRANSFORM_LOG ? "log" : kind == KV_TRANSFORM_BOXCOX ? "boxcox" : "none";
}

static double boxcox(double y, double lambda) {
  return fabs(lambda) < 1e-12 ? log(y) : (pow(y, lambda) - 1.0) / lambda;
}

typedef struct {
  long n;
  const double *y;
  double slog;
} bc_data;

/* Minus the profile log-likelihood of lambda. */
static double bc_nll(double lambda, void *p) {
  const bc_data *b = p;
  double s = 0.0, ss = 0.0;
  for (long i = 0; i < b->n; i++) {
    s += boxcox(b->y[i], lambda);
  }
  double mean = s / (double)b->n;
  for (long i = 0; i < b->n; i++) {
    double t = boxcox(b->y[i], lambda) - mean;
    ss += t * t;
  }
  double var = ss / (double)b->n;
  return var > 0.0 ? 0.5 * (double)b->n * log(var) - (lambda - 1.0) * b->slog : INFINITY;
}

int kv_transform_fit(int kind, long n, const double *y, kv_transform *t) {
  t->kind = kind;
  t->lambda = 1.0;
  if (kind == KV_TRANSFORM_NONE) {
    return KV_OK;
  }
  double slog = 0.0;
  for (long i = 0; i < n; i++) {
    if (!(y[i] > 0.0)) {
      return KV_ERROR(KV_ERR_INVALID,
                      "surrogate.transform = %s needs positive outputs, but point %ld has %g",
                      kv_transform_name(kind), i + 1, y[i]);
    }
    slog += log(y[i]);
  }
  if (kind == KV_TRANSFORM_LOG) {
    t->lambda = 0.0;
    return KV_OK;
  }
  bc_data b = {n, y, slog};
  /* A grid brackets the minimum; Brent (GSL) refines it. */
  double best = KV_BOXCOX_LO, fbest = INFINITY, h = 0.125;
  for (double l = KV_BOXCOX_LO; l <= KV_BOXCOX_HI + 1e-12; l += h) {
    double f = bc_nll(l, &b);
    if (f < fbest) {
      fbest = f;
      best = l;
    }
  }
  t->lambda = best;
  double a = fmax(best - h, KV_BOXCOX_LO), c = fmin(best + h, KV_BOXCOX_HI);
  if (best > a && best < c && bc_nll(a, &b) > fbest && bc_nll(c, &b) > fbest) {
    gsl_function F = {bc_nll, &b};
    gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (m && gsl_min_fminimizer_set(m, &F, best, a, c) == 0) {
      for (int it = 0; it < 100; it++) {
        gsl_min_fminimizer_iterate(m);
        double lo = gsl_min_fminimizer_x_lower(m), hi = gsl_min_fminimizer_x_upper(m);
        if (gsl_min_test_interval(lo, hi, 1e-10, 0.0) == GSL_SUCCESS) {
          break;
        }
      }
      t->lambda = gsl_min_fminimizer_x_minimum(m);
    }
    gsl_min_fminimizer_free(m);
  }
  return KV_OK;
}

void kv_transform_apply(const kv_transform *t, long n, const double *y, double *z) {
  for (long i = 0; i < n; i++) {
    z[i] = t->kind == KV_TRANSFORM_NONE ? y[i] : boxcox(y[i], t->lambda);
  }
}

double kv_transform_inverse(const kv_transform *t, double z) {
  if (t->kind == KV_TRANSFORM_NONE) {
    return z;
  }
  if (fabs(t->lambda) < 1e-12) {
    return exp(z);
  }
  /* Past the pole of the inverse power the transform has no preimage: the limit 0 (or inf). */
  double b = t->lambda * z + 1.0;
  return b > 0.0 ? pow(b, 1.0 / t->lambda) : (t->lambda > 0.0 ? 0.0 : INFINITY);
}

void kv_transform_moments(const kv_transform *t, double mu, double s2, double *mean, double *var) {
  s2 = fmax(s2, 0.0);
  if (t->kind == KV_TRANSFORM_NONE) {
    *mean = mu;
    *var = s2;
    return;
  }
  if (fabs(t->lambda) < 1e-12) {
    *mean = exp(mu + 0.5 * s2);
    *var = expm1(s2) * exp(2.0 * mu + s2);
    return;
  }
  /* E[g(Z)] = pi^-1/2 sum w_i g(mu + sqrt(2 s2) x_i) (Hermite weight exp(-x^2)). */
  gsl_integration_fixed_workspace *w = gsl_integration_fixed_alloc(
      gsl_integration_fixed_hermite, KV_HERMITE_NODES, 0.0, 1.0, 0.0, 0.0);
  if (!w) {
    *mean = kv_transform_inverse(t, mu);
    *var = NAN;
    return;
  }
  const double *x = gsl_integration_fixed_nodes(w), *wt = gsl_integration_fixed_weights(w);
  double m1 = 0.0, m2 = 0.0, sq = sqrt(2.0 * s2);
  for (int i = 0; i < KV_HERMITE_NODES; i++) {
    double v = kv_transform_inverse(t, mu + sq * x[i]);
    m1 += wt[i] * v;
    m2 += wt[i] * v * v;
  }
  gsl_integration_fixed_free(w);
  m1 /= sqrt(M_PI);
  m2 /= sqrt(M_PI);
  *mean = m1;
  *var = fmax(m2 - m1 * m1, 0.0);
}
