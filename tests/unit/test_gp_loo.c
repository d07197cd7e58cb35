/* The GP's closed-form leave-one-out (Dubrule 1983, R&W 5.4.2) against brute force: for each
 * point, a GP on the other n - 1 points with the same hyperparameters (data units: no
 * normalisation, so nothing is re-estimated but the trend coefficients), predicting the point
 * left out. With no trend, a constant and a linear trend (universal kriging, the trend refitted
 * without the point as the augmented system says). Log-warped inputs equal a GP on log x. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "surrogates/gp.h"
#include "tests/unit/check.h"

enum { N = 30, D = 2 };

static double fn(const double *x) {
  return sin(4.0 * x[0]) + 2.0 * x[1] + x[0] * x[1];
}

static void loo_case(int trend, const double *X, const double *y) {
  kv_gp_options o;
  kv_gp_options_default(&o);
  o.normalize = 0;
  o.fit_noise = 0;
  o.noise = 1e-3;
  o.trend = trend;
  double theta[D + 2] = {log(0.4), log(0.7), log(1.5), log(1e-3)};
  kv_gp *g = NULL;
  CHECK(kv_gp_create(N, D, X, y, &o, &g) == 0 && kv_gp_set_theta(g, theta) == 0,
        "trend %d: GP on %d points with fixed hyperparameters", trend, N);
  double mean[N], var[N];
  CHECK(kv_gp_loo(g, mean, var) == 0, "trend %d: closed-form leave-one-out", trend);
  double err_m = 0.0, err_v = 0.0;
  for (int i = 0; i < N; i++) {
    double Xi[(N - 1) * D], yi[N - 1];
    for (int j = 0, r = 0; j < N; j++) {
      if (j != i) {
        memcpy(Xi + r * D, X + j * D, D * sizeof *X);
        yi[r++] = y[j];
      }
    }
    kv_gp *h = NULL;
    double m, v;
    if (kv_gp_create(N - 1, D, Xi, yi, &o, &h) != 0 || kv_gp_set_theta(h, theta) != 0 ||
        kv_gp_predict(h, 1, X + i * D, &m, &v, 1) != 0) {
      err_m = INFINITY;
    } else {
      err_m = fmax(err_m, fabs(m - mean[i]));
      err_v = fmax(err_v, fabs(v - var[i]) / v);
    }
    kv_gp_free(h);
  }
  CHECK(err_m < 1e-8, "trend %d: LOO means equal %d brute-force refits (max |diff| %.3g)", trend, N,
        err_m);
  CHECK(err_v < 1e-7, "trend %d: LOO variances equal the refits' (max rel diff %.3g)", trend,
        err_v);
  kv_gp_free(g);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  double X[N * D], y[N];
  for (int i = 0; i < N; i++) {
    X[i * D] = (i * 7 % N + 0.5) / N;
    X[i * D + 1] = (i * 11 % N + 0.3) / N;
    y[i] = fn(X + i * D);
  }
  for (int trend = 0; trend <= 2; trend++) {
    loo_case(trend, X, y);
  }
  /* Log-warped inputs: the GP on x with log_input equals the GP on log x. */
  double Xp[N * D], Xl[N * D];
  for (int i = 0; i < N * D; i++) {
    Xp[i] = pow(10.0, 3.0 * X[i]);
    Xl[i] = log(Xp[i]);
  }
  kv_gp_options o;
  kv_gp_options_default(&o);
  o.restarts = 0;
  kv_gp_options o2 = o;
  o.log_input[0] = o.log_input[1] = 1;
  kv_gp *a = NULL, *b = NULL;
  int ok = kv_gp_create(N, D, Xp, y, &o, &a) == 0 && kv_gp_fit(a) == 0 &&
           kv_gp_create(N, D, Xl, y, &o2, &b) == 0 && kv_gp_fit(b) == 0;
  double ma, mb, q[D] = {3.0, 500.0}, ql[D] = {log(3.0), log(500.0)};
  ok =
      ok && kv_gp_predict(a, 1, q, &ma, NULL, 1) == 0 && kv_gp_predict(b, 1, ql, &mb, NULL, 1) == 0;
  CHECK(ok && fabs(ma - mb) < 1e-9 * fmax(1.0, fabs(mb)),
        "log inputs: a GP on x = 10^(3u) with log_inputs equals a GP on log x (%.12g vs %.12g)", ma,
        mb);
  double bad[N * D];
  memcpy(bad, Xp, sizeof bad);
  bad[5 * D] = -1.0;
  kv_gp *c = NULL;
  CHECK(kv_gp_create(N, D, bad, y, &o, &c) != 0, "log inputs: a non-positive input is refused");
  /* A trend with more terms than the points allow is refused. */
  kv_gp_options oq = o2;
  oq.trend = 3;
  CHECK(kv_gp_create(5, D, X, y, &oq, &c) != 0, "a quadratic trend on 5 points is refused");
  kv_gp_free(a);
  kv_gp_free(b);
  MPI_Finalize();
  return kv_test_failed;
}
