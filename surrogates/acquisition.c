#include "surrogates/acquisition.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <nlopt.h>
#include <string.h>

#include "core/status.h"
#include "surrogates/sampling.h"

/* Central differences on the unit cube: a step well above the GP's rounding, well below its
 * length scales. */
#define KV_ACQ_FD_STEP 1e-6
/* Evaluations of the L-BFGS polish. */
#define KV_ACQ_LOCAL_EVALS 200
/* log(sqrt(2 pi)): the normal density's constant. */
#define LOG_SQRT_2PI 0.91893853320467274178

double kv_acq_log_ei(double mu, double s, double best) {
  if (!(s > 0.0)) {
    return mu < best ? log(best - mu) : -INFINITY;
  }
  double z = (best - mu) / s;
  double h;
  if (z < -6.0) {
    /* phi(z) + z Phi(z) = phi(z) / z^2 (1 - 3/z^2 + 15/z^4 - 105/z^6 + ...): the direct sum
     * cancels to nothing here. */
    double iz2 = 1.0 / (z * z);
    double lphi = -0.5 * z * z - LOG_SQRT_2PI;
    return log(s) + lphi + log(iz2) +
           log1p(-3.0 * iz2 + 15.0 * iz2 * iz2 - 105.0 * iz2 * iz2 * iz2);
  }
  h = z * gsl_cdf_ugaussian_P(z) + exp(-0.5 * z * z - LOG_SQRT_2PI);
  return log(s) + log(h);
}

double kv_acq_nearest(int d, const double *u, long n, const double *P, long *which) {
  double best = INFINITY;
  for (long i = 0; i < n; i++) {
    double r2 = 0.0;
    for (int j = 0; j < d; j++) {
      r2 += (u[j] - P[i * d + j]) * (u[j] - P[i * d + j]);
    }
    if (r2 < best) {
      best = r2;
      if (which) {
        *which = i;
      }
    }
  }
  return sqrt(best);
}

int kv_acq_eval(const kv_acq *a, const double *u, double *value, double *log_ei, double *log_pof) {
  double mu, var, xm[64];
  int d = kv_surrogate_ninputs(a->objective);
  const double *x = u;
  if (a->lo) {
    for (int j = 0; j < d && j < 64; j++) {
      xm[j] = kv_sample_map(u[j], a->lo[j], a->hi[j], a->islog ? a->islog[j] : 0);
    }
    x = xm;
  }
  KV_CHECK(kv_surrogate_predict(a->objective, 1, x, &mu, &var));
  mu = a->negate ? -mu : mu;
  double s = sqrt(var > 0.0 ? var : 0.0), pof = 0.0;
  for (int c = 0; c < a->ncon; c++) {
    double m, v;
    KV_CHECK(kv_surrogate_predict(a->con[c], 1, x, &m, &v));
    double sc = sqrt(v > 0.0 ? v : 0.0), t = a->sign[c] * (a->limit[c] - m);
    pof += sc > 0.0 ? log(gsl_cdf_ugaussian_P(t / sc)) : (t >= 0.0 ? 0.0 : -INFINITY);
  }
  double lei = isnan(a->best) ? NAN : kv_acq_log_ei(mu, s, a->best);
  double v;
  if (a->kind == KV_ACQ_LCB) {
    v = -(mu - a->kappa * s) + (a->ncon ? pof : 0.0);
  } else if (a->kind == KV_ACQ_PESSIMISTIC) {
    v = -(mu + a->kappa * s);
  } else {
    v = isnan(a->best) ? pof : lei + pof;
  }
  if (a->trust > 0.0 && a->ndata > 0) {
    double excess = kv_acq_nearest(d, u, a->ndata, a->data, NULL) - a->trust;
    if (excess > 0.0) {
      v -= a->penalty * (excess / a->trust) * (excess / a->trust);
    }
  }
  /* The optimisers need numbers: an underflowed log becomes a very low value. */
  *value = isfinite(v) ? v : -1e300;
  if (log_ei) {
    *log_ei = a->kind == KV_ACQ_EI ? lei : NAN;
  }
  if (log_pof) {
    *log_pof = pof;
  }
  return KV_OK;
}

typedef struct {
  const kv_acq *a;
  int d;
  int failed;
  long evals;
} acq_ctx;

static double objective(unsigned n, const double *u, double *grad, void *data) {
  acq_ctx *c = data;
  double v = -1e300;
  c->evals++;
  if (kv_acq_eval(c->a, u, &v, NULL, NULL) != KV_OK) {
    c->failed = 1;
    return -1e300;
  }
  if (grad) {
    double w[64];
    memcpy(w, u, n * sizeof *w);
    for (unsigned j = 0; j < n; j++) {
      double lo = fmax(0.0, u[j] - KV_ACQ_FD_STEP), hi = fmin(1.0, u[j] + KV_ACQ_FD_STEP), fl, fh;
      w[j] = lo;
      c->failed |= kv_acq_eval(c->a, w, &fl, NULL, NULL) != KV_OK;
      w[j] = hi;
      c->failed |= kv_acq_eval(c->a, w, &fh, NULL, NULL) != KV_OK;
      w[j] = u[j];
      grad[j] = hi > lo && fl > -1e299 && fh > -1e299 ? (fh - fl) / (hi - lo) : 0.0;
    }
  }
  return v;
}

/* One NLopt run from u (updated in place when it improves on *best). */
static void run(acq_ctx *c, nlopt_algorithm alg, long evals, unsigned long seed, double *u,
                double *best) {
  nlopt_opt o = nlopt_create(alg, (unsigned)c->d);
  if (!o) {
    return;
  }
  double lo[64], hi[64], x[64];
  for (int j = 0; j < c->d; j++) {
    lo[j] = 0.0;
    hi[j] = 1.0;
    x[j] = fmin(1.0, fmax(0.0, u[j]));
  }
  if (alg == NLOPT_GN_CRS2_LM) {
    nlopt_srand(seed);
  }
  nlopt_set_lower_bounds(o, lo);
  nlopt_set_upper_bounds(o, hi);
  nlopt_set_max_objective(o, objective, c);
  nlopt_set_maxeval(o, (int)evals);
  nlopt_set_xtol_rel(o, 1e-8);
  double f = -HUGE_VAL;
  nlopt_result r = nlopt_optimize(o, x, &f);
  /* A stop at the evaluation limit still leaves NLopt's best point in x. */
  if ((r > 0 || r == NLOPT_ROUNDOFF_LIMITED) && f > *best) {
    *best = f;
    memcpy(u, x, (size_t)c->d * sizeof *u);
  }
  nlopt_destroy(o);
}

int kv_acq_maximize(const kv_acq *a, int d, int global, long max_evals, unsigned long seed,
                    const double *starts, int n_starts, double *u, double *value) {
  if (d < 1 || d > 64) {
    return KV_ERROR(KV_ERR_INVALID, "acquisition: 1 to 64 inputs (got %d)", d);
  }
  acq_ctx c = {a, d, 0, 0};
  double best = -HUGE_VAL, g[64];
  for (int j = 0; j < d; j++) {
    g[j] = 0.5;
  }
  run(&c, global == KV_ACQ_CRS ? NLOPT_GN_CRS2_LM : NLOPT_GN_DIRECT_L, max_evals, seed, g, &best);
  if (c.failed) {
    return KV_ERROR(KV_ERR_NUMERIC, "acquisition: the surrogate failed to predict");
  }
  memcpy(u, g, (size_t)d * sizeof *u);
  run(&c, NLOPT_LD_LBFGS, KV_ACQ_LOCAL_EVALS, seed, u, &best);
  for (int k = 0; k < n_starts; k++) {
    double v[64];
    memcpy(v, starts + (long)k * d, (size_t)d * sizeof *v);
    double b = -HUGE_VAL;
    run(&c, NLOPT_LD_LBFGS, KV_ACQ_LOCAL_EVALS, seed, v, &b);
    if (b > best) {
      best = b;
      memcpy(u, v, (size_t)d * sizeof *u);
    }
  }
  if (c.failed || !(best > -1e299)) {
    return KV_ERROR(KV_ERR_NUMERIC, "acquisition: no finite value over the box (%ld evaluations)",
                    c.evals);
  }
  *value = best;
  return KV_OK;
}
