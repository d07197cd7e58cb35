/* Unit tests of surrogates/gp: the analytic LML gradient against central differences for every
 * kernel, with and without normalisation; noiseless interpolation; non-negative variances;
 * jitter escalation and its limit; the optimiser improves the LML and respects the bounds. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/config.h"
#include "surrogates/gp.h"
#include "surrogates/surrogate.h"
#include "tests/unit/check.h"

enum { N = 40, D = 3 };

static double fn(const double *x) {
  return sin(3.0 * x[0]) + x[1] * x[1] - 0.5 * x[2];
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  kv_log_init(KV_LOG_ERROR, 0, 1);
  double X[N * D], y[N];
  unsigned s = 12345;
  for (int i = 0; i < N * D; i++) {
    s = s * 1103515245u + 12345u;
    X[i] = 2.0 * ((s >> 8) & 0xffff) / 65535.0 - 1.0;
  }
  for (int i = 0; i < N; i++) {
    y[i] = fn(X + i * D);
  }
  for (int kern = 0; kern < 3; kern++) {
    for (int norm = 0; norm < 2; norm++) {
      kv_gp_options o;
      kv_gp_options_default(&o);
      o.kernel = (kv_kernel)kern;
      o.normalize = norm;
      kv_gp *g = NULL;
      CHECK(kv_gp_create(N, D, X, y, &o, &g) == KV_OK, "create (%s, normalize %d)",
            kv_kernel_name(o.kernel), norm);
      double th[D + 2] = {log(0.7), log(1.3), log(0.4), log(1.7), log(0.02)}, grad[D + 2], l0;
      kv_gp_lml(g, th, &l0, grad);
      double worst = 0.0;
      for (int k = 0; k < D + 2; k++) {
        double h = 1e-5, a, b, t[D + 2];
        memcpy(t, th, sizeof t);
        t[k] = th[k] + h;
        kv_gp_lml(g, t, &a, NULL);
        t[k] = th[k] - h;
        kv_gp_lml(g, t, &b, NULL);
        double fd = (a - b) / (2 * h);
        worst = fmax(worst, fabs(fd - grad[k]) / fmax(1.0, fabs(fd)));
      }
      CHECK(worst < 1e-6,
            "%s, normalize %d: analytic LML gradient = central differences "
            "(worst relative difference %.2e)",
            kv_kernel_name(o.kernel), norm, worst);
      /* The optimiser ends higher than where it started, inside the bounds. */
      double before = l0;
      CHECK(kv_gp_fit(g) == KV_OK && kv_gp_lml_value(g) > before,
            "%s, normalize %d: optimisation raises the LML (%.6g -> %.6g)",
            kv_kernel_name(o.kernel), norm, before, kv_gp_lml_value(g));
      const double *t = kv_gp_theta(g);
      int inside = 1;
      for (int k = 0; k < D; k++) {
        inside &= t[k] >= log(o.length_lo) - 1e-12 && t[k] <= log(o.length_hi) + 1e-12;
      }
      inside &= t[D + 1] >= log(o.noise_lo) - 1e-12 && t[D + 1] <= log(o.noise_hi) + 1e-12;
      CHECK(inside, "%s, normalize %d: fitted hyperparameters inside the bounds",
            kv_kernel_name(o.kernel), norm);
      double mu[N], var[N];
      kv_gp_predict(g, N, X, mu, var, 1);
      int nonneg = 1;
      for (int i = 0; i < N; i++) {
        nonneg &= var[i] >= 0.0;
      }
      CHECK(nonneg, "%s, normalize %d: predictive variances >= 0", kv_kernel_name(o.kernel), norm);
      kv_gp_free(g);
    }
  }
  /* Noiseless interpolation: with a fixed (zero) noise the mean passes through the data and the
   * latent variance vanishes there. */
  kv_gp_options o;
  kv_gp_options_default(&o);
  o.fit_noise = 0;
  o.noise = 0.0;
  kv_gp *g = NULL;
  kv_gp_create(N, D, X, y, &o, &g);
  double th[D + 2] = {log(0.5), log(0.5), log(0.5), log(1.0), log(1e-300)};
  CHECK(kv_gp_set_theta(g, th) == KV_OK, "noiseless GP factorised");
  double mu[N], var[N], err = 0.0, vmax = 0.0;
  kv_gp_predict(g, N, X, mu, var, 0);
  for (int i = 0; i < N; i++) {
    err = fmax(err, fabs(mu[i] - y[i]));
    vmax = fmax(vmax, var[i]);
  }
  CHECK(err < 1e-6 && vmax < 1e-6,
        "noiseless GP interpolates the training points (max error "
        "%.2e, max variance %.2e)",
        err, vmax);
  double xm[D] = {0.05, -0.3, 0.2}, m1, v1;
  kv_gp_predict(g, 1, xm, &m1, &v1, 0);
  CHECK(v1 > 1e-8, "away from the data the variance is positive (%.3g)", v1);
  {
    /* The posterior covariance: its diagonal is the latent variance predict gives, it is
     * symmetric, and the mean of many joint draws is the mean (with their variance the
     * variance). */
    double xs[4 * D] = {0.05, -0.3, 0.2, 0.3, 0.1, -0.4, -0.2, 0.25, 0.0, 0.9, 0.9, 0.9};
    double mc[4], C[16], mp[4], vp[4];
    CHECK(kv_gp_covariance(g, 4, xs, mc, C) == KV_OK, "posterior covariance of 4 points");
    kv_gp_predict(g, 4, xs, mp, vp, 0);
    double dd = 0.0, asym = 0.0;
    for (int a = 0; a < 4; a++) {
      dd = fmax(dd, fabs(C[a + 4 * a] - vp[a]) / fmax(vp[a], 1e-12));
      dd = fmax(dd, fabs(mc[a] - mp[a]));
      for (int b = 0; b < 4; b++) {
        asym = fmax(asym, fabs(C[a + 4 * b] - C[b + 4 * a]));
      }
    }
    CHECK(dd < 1e-9 && asym == 0.0,
          "covariance: diagonal = predicted latent variance, mean = predicted mean (%.1e), "
          "symmetric",
          dd);
    enum { T = 4000 };
    static double z[T * 4], out[T * 4];
    unsigned long st = 12345;
    for (int k = 0; k < T * 4; k += 2) {
      /* Box-Muller from a small LCG: the test needs normals, not quality randomness. */
      double u1, u2;
      st = st * 6364136223846793005UL + 1442695040888963407UL;
      u1 = ((st >> 11) + 0.5) / 9007199254740992.0;
      st = st * 6364136223846793005UL + 1442695040888963407UL;
      u2 = ((st >> 11) + 0.5) / 9007199254740992.0;
      z[k] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
      z[k + 1] = sqrt(-2.0 * log(u1)) * sin(6.283185307179586 * u2);
    }
    CHECK(kv_gp_draw(g, 4, xs, T, z, out) == KV_OK, "4000 joint draws at 4 points");
    double worst = 0.0;
    for (int a = 0; a < 4; a++) {
      double m = 0.0, v = 0.0;
      for (int t = 0; t < T; t++) {
        m += out[t * 4 + a] / T;
      }
      for (int t = 0; t < T; t++) {
        v += (out[t * 4 + a] - m) * (out[t * 4 + a] - m) / (T - 1);
      }
      double sd = sqrt(vp[a]);
      worst = fmax(worst, fmax(fabs(m - mp[a]) / (sd + 1e-12), fabs(v / (vp[a] + 1e-300) - 1.0)));
    }
    CHECK(worst < 0.12,
          "draws: sample mean within 0.12 sd of the mean, sample variance within "
          "12 %% of the variance (worst %.3f)",
          worst);
  }
  kv_gp_free(g);
  /* A repeated point with zero noise: the matrix is singular; jitter rescues it (warned), and a
   * matrix that no jitter can fix is a clear error. */
  double X2[(N + 1) * D], y2[N + 1];
  memcpy(X2, X, sizeof X);
  memcpy(X2 + N * D, X, D * sizeof *X);
  memcpy(y2, y, sizeof y);
  y2[N] = y[0];
  kv_gp_create(N + 1, D, X2, y2, &o, &g);
  o.alpha = 0.0;
  kv_gp_free(g);
  kv_gp_create(N + 1, D, X2, y2, &o, &g);
  int rc = kv_gp_set_theta(g, th);
  CHECK(rc == KV_OK, "a repeated point with zero noise is factorised after jitter escalation");
  double bad[D + 2] = {log(0.5), log(0.5), log(0.5), 1000.0, log(1e-300)}; /* s2 overflows to inf */
  rc = kv_gp_set_theta(g, bad);
  CHECK(rc == KV_ERR_NUMERIC && strstr(kv_error_message(), "not positive definite"),
        "a kernel matrix no jitter can fix is a clear error (%s)", kv_error_message());
  kv_gp_free(g);
  /* Save and load: the loaded model predicts exactly what the fitted one did. */
  {
    /* The kind's own parameters, made as kelvin fit makes them (restarts = 1). */
    kv_config *pc = NULL;
    void *gpp = NULL;
    kv_config_parse_string("[surrogate]\nkind = gp\nrestarts = 1\n", "test_gp", &pc);
    kv_surrogate_params_create(kv_surrogate_type_find("gp"), pc, &gpp);
    kv_surrogate *sv = NULL, *ld = NULL;
    char *names[D] = {"a", "b", "c"};
    kv_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.kind = KV_DATA_SCALAR;
    ds.n = N;
    ds.d = D;
    ds.names = names;
    ds.X = X;
    ds.y = y;
    snprintf(ds.yname, sizeof ds.yname, "y");
    kv_surrogate_fit(kv_surrogate_type_find("gp"), &ds, gpp, NULL, &sv);
    kv_surrogate_params_free(kv_surrogate_type_find("gp"), gpp);
    kv_config_free(pc);
    double xs[5 * D], ma[5], va[5], mb[5], vb[5];
    for (int i = 0; i < 5 * D; i++) {
      xs[i] = 0.37 * i - 2.0;
    }
    kv_surrogate_predict(sv, 5, xs, ma, va);
    char path[1024];
    snprintf(path, sizeof path, "%s/test_gp_model.h5", getenv("OUT") ? getenv("OUT") : ".");
    int ok = kv_surrogate_save(sv, path) == KV_OK && kv_surrogate_load(path, &ld) == KV_OK;
    if (ok) {
      kv_surrogate_predict(ld, 5, xs, mb, vb);
    }
    CHECK(ok && memcmp(ma, mb, sizeof ma) == 0 && memcmp(va, vb, sizeof vb) == 0 &&
              strcmp(kv_surrogate_input(ld, 2), "c") == 0,
          "save + load: identical predictions (mean and variance, bit for bit)");
    remove(path);
    kv_surrogate_free(sv);
    kv_surrogate_free(ld);
  }
  /* Bad data. */
  double Xc[N * D];
  memcpy(Xc, X, sizeof X);
  for (int i = 0; i < N; i++) {
    Xc[i * D + 1] = 2.0;
  }
  kv_gp_options_default(&o);
  CHECK(kv_gp_create(N, D, Xc, y, &o, &g) == KV_ERR_INVALID &&
            strstr(kv_error_message(), "input 2 is constant"),
        "a constant input is refused under normalize");
  Xc[5] = NAN;
  CHECK(kv_gp_create(N, D, Xc, y, &o, &g) == KV_ERR_INVALID, "a NaN input is refused");
  CHECK(kv_gp_create(3, D, X, y, &o, &g) == KV_ERR_INVALID, "fewer points than inputs refused");
  MPI_Finalize();
  return kv_test_failed;
}
