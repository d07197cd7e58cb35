#include "surrogates/bfgs.h"

#include <float.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"

static double clampd(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Projected L-BFGS: quasi-Newton steps on the variables not held at a bound, the step projected
 * back into the box, Armijo backtracking along the projected path. Stops like L-BFGS-B: projected
 * gradient below 1e-5 or relative decrease below 1e7 machine epsilons. */
int kv_bfgs_minimize(int p, kv_bfgs_fn fn, void *ctx, const double *lo, const double *hi, double *x,
                     int maxit, double *fout) {
  enum { M = 10 };
  double *mem = malloc((size_t)(2 * M + 8) * (size_t)p * sizeof *mem);
  if (!mem) {
    return KV_ERROR(KV_ERR_NOMEM, "minimiser: out of memory");
  }
  double *S = mem, *Y = S + M * p, *g = Y + M * p, *gn = g + p, *xn = gn + p, *dir = xn + p,
         *q = dir + p, *freev = q + p;
  double rho[M], al[M];
  int k = 0, head = 0;
  for (int i = 0; i < p; i++) {
    x[i] = clampd(x[i], lo[i], hi[i]);
  }
  double f = fn(ctx, x, g);
  if (!isfinite(f)) {
    free(mem);
    *fout = f;
    return KV_OK;
  }
  for (int it = 0; it < maxit; it++) {
    double pg = 0.0;
    for (int i = 0; i < p; i++) {
      pg = fmax(pg, fabs(clampd(x[i] - g[i], lo[i], hi[i]) - x[i]));
      int at_lo = x[i] <= lo[i] && g[i] > 0, at_hi = x[i] >= hi[i] && g[i] < 0;
      freev[i] = !(at_lo || at_hi || lo[i] == hi[i]);
    }
    if (pg < 1e-5) {
      break;
    }
    /* Two-loop recursion on the free variables. */
    for (int i = 0; i < p; i++) {
      q[i] = freev[i] ? g[i] : 0.0;
    }
    for (int j = 0; j < k; j++) {
      int m = (head - 1 - j + M) % M;
      double sq = 0;
      for (int i = 0; i < p; i++) {
        sq += freev[i] ? S[m * p + i] * q[i] : 0.0;
      }
      al[m] = rho[m] * sq;
      for (int i = 0; i < p; i++) {
        q[i] -= freev[i] ? al[m] * Y[m * p + i] : 0.0;
      }
    }
    double gamma = 1.0;
    if (k > 0) {
      int m = (head - 1 + M) % M;
      double sy = 0, yy = 0;
      for (int i = 0; i < p; i++) {
        sy += S[m * p + i] * Y[m * p + i];
        yy += Y[m * p + i] * Y[m * p + i];
      }
      gamma = yy > 0 ? sy / yy : 1.0;
    }
    for (int i = 0; i < p; i++) {
      q[i] *= gamma;
    }
    for (int j = k - 1; j >= 0; j--) {
      int m = (head - 1 - j + M) % M;
      double yq = 0;
      for (int i = 0; i < p; i++) {
        yq += freev[i] ? Y[m * p + i] * q[i] : 0.0;
      }
      double b = rho[m] * yq;
      for (int i = 0; i < p; i++) {
        q[i] += freev[i] ? S[m * p + i] * (al[m] - b) : 0.0;
      }
    }
    double gd = 0.0;
    for (int i = 0; i < p; i++) {
      dir[i] = freev[i] ? -q[i] : 0.0;
      gd += dir[i] * g[i];
    }
    if (!(gd < 0.0)) {
      k = 0; /* not a descent direction: restart from steepest descent */
      gd = 0.0;
      for (int i = 0; i < p; i++) {
        dir[i] = freev[i] ? -g[i] : 0.0;
        gd += dir[i] * g[i];
      }
    }
    double t = 1.0;
    if (k == 0) {
      double gmax = 0.0;
      for (int i = 0; i < p; i++) {
        gmax = fmax(gmax, fabs(dir[i]));
      }
      t = gmax > 1.0 ? 1.0 / gmax : 1.0;
    }
    double fnew = INFINITY, dmax = 0.0;
    for (int i = 0; i < p; i++) {
      dmax = fmax(dmax, fabs(dir[i]));
    }
    int ok = 0;
    for (int ls = 0; ls < 20 && t * dmax > 1e-10; ls++) {
      double dec = 0.0;
      for (int i = 0; i < p; i++) {
        xn[i] = clampd(x[i] + t * dir[i], lo[i], hi[i]);
        dec += g[i] * (xn[i] - x[i]);
      }
      fnew = fn(ctx, xn, gn);
      if (isfinite(fnew) && fnew <= f + 1e-4 * dec) {
        ok = 1;
        break;
      }
      /* Backtrack to the minimum of the quadratic through f, the slope and fn, kept within
       * [t/10, t/2]; halve where fn is not finite. */
      double tq = 0.5 * t;
      if (isfinite(fnew) && dec < 0.0) {
        double den = 2.0 * (fnew - f - dec);
        if (den > 0.0) {
          tq = -dec * t / den;
        }
      }
      t = fmin(fmax(tq, 0.1 * t), 0.5 * t);
    }
    if (!ok) {
      break; /* no decrease along the direction: as far as double precision goes */
    }
    double sy = 0, ss = 0, yy = 0;
    for (int i = 0; i < p; i++) {
      double si = xn[i] - x[i], yi = gn[i] - g[i];
      S[head * p + i] = si;
      Y[head * p + i] = yi;
      sy += si * yi;
      ss += si * si;
      yy += yi * yi;
    }
    if (sy > 1e-10 * sqrt(ss * yy)) {
      rho[head] = 1.0 / sy;
      head = (head + 1) % M;
      if (k < M) {
        k++;
      }
    }
    double rel = (f - fnew) / fmax(fmax(fabs(f), fabs(fnew)), 1.0);
    kv_debug("minimiser: iteration %d: f %.12g (step %.3g, %d curvature pairs)", it, fnew, t, k);
    memcpy(x, xn, (size_t)p * sizeof *x);
    memcpy(g, gn, (size_t)p * sizeof *g);
    f = fnew;
    if (rel < 1e7 * 2.220446049250313e-16) {
      break;
    }
  }
  *fout = f;
  free(mem);
  return KV_OK;
}

typedef struct {
  kv_bfgs_fn fn;
  void *ctx;
  int p;
  double best, *xbest;
} nl_ctx;

static double nl_objective(unsigned n, const double *x, double *grad, void *data) {
  nl_ctx *c = data;
  double g[256];
  double f = c->fn(c->ctx, x, grad ? grad : g);
  if (!isfinite(f)) {
    /* NLopt cannot use an infinite value: a large one turns the line search back. */
    f = 1e300;
  }
  if (f < c->best) {
    c->best = f;
    memcpy(c->xbest, x, n * sizeof *x);
  }
  return f;
}

int kv_bfgs_minimize_nlopt(int p, kv_bfgs_fn fn, void *ctx, const double *lo, const double *hi,
                           double *x, int maxit, double *fout) {
  if (p < 1 || p > 256) {
    return KV_ERROR(KV_ERR_INVALID, "bfgs: 1 to 256 variables (got %d)", p);
  }
  double xb[256];
  for (int i = 0; i < p; i++) {
    x[i] = fmin(hi[i], fmax(lo[i], x[i]));
  }
  memcpy(xb, x, (size_t)p * sizeof *xb);
  nl_ctx c = {fn, ctx, p, INFINITY, xb};
  nlopt_opt o = nlopt_create(NLOPT_LD_LBFGS, (unsigned)p);
  if (!o) {
    return KV_ERROR(KV_ERR_NOMEM, "bfgs: out of memory");
  }
  nlopt_set_lower_bounds(o, lo);
  nlopt_set_upper_bounds(o, hi);
  nlopt_set_min_objective(o, nl_objective, &c);
  nlopt_set_ftol_rel(o, 1e7 * DBL_EPSILON);
  nlopt_set_maxeval(o, 10 * maxit);
  double f;
  nlopt_optimize(o, x, &f);
  nlopt_destroy(o);
  memcpy(x, xb, (size_t)p * sizeof *x);
  *fout = c.best < 1e300 ? c.best : INFINITY;
  return KV_OK;
}
