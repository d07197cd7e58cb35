/* Unit tests of the energy-balance model's parts: sphere geometry and conservation, batched
 * (cyclic) tridiagonal solves against dense elimination, Berger insolation, scenario tables and
 * their errors, the counter-based normal generator. Run from the repository root. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"
#include "solvers/ebm/forcing.h"
#include "solvers/ebm/noise.h"
#include "solvers/ebm/sphere.h"
#include "tests/unit/check.h"

#define PI 3.14159265358979323846

static double frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return ((*s >> 8) & 0xffff) / 65536.0;
}

/* Dense Gaussian elimination with partial pivoting of an n x n system (row-major a). */
static void dense_solve(int n, double *a, double *x) {
  for (int k = 0; k < n; k++) {
    int p = k;
    for (int i = k + 1; i < n; i++) {
      if (fabs(a[i * n + k]) > fabs(a[p * n + k])) {
        p = i;
      }
    }
    for (int j = 0; j < n; j++) {
      double t = a[k * n + j];
      a[k * n + j] = a[p * n + j];
      a[p * n + j] = t;
    }
    double t = x[k];
    x[k] = x[p];
    x[p] = t;
    for (int i = k + 1; i < n; i++) {
      double f = a[i * n + k] / a[k * n + k];
      for (int j = k; j < n; j++) {
        a[i * n + j] -= f * a[k * n + j];
      }
      x[i] -= f * x[k];
    }
  }
  for (int k = n - 1; k >= 0; k--) {
    for (int j = k + 1; j < n; j++) {
      x[k] -= a[k * n + j] * x[j];
    }
    x[k] /= a[k * n + k];
  }
}

static void test_tridiag(int cyclic) {
  const int n = 7, nb = 5;
  unsigned seed = 7u + (unsigned)cyclic;
  double a[35], b[35], c[35], r[35], x[35];
  for (int e = 0; e < n * nb; e++) {
    a[e] = -frand(&seed);
    c[e] = -frand(&seed);
    b[e] = 2.5 + frand(&seed);
    r[e] = frand(&seed) - 0.5;
    x[e] = r[e];
  }
  kv_sphere_tridiag t;
  CHECK(kv_sphere_tridiag_factor(&t, n, nb, cyclic, a, b, c) == KV_OK, "factor %s batch",
        cyclic ? "cyclic" : "plain");
  kv_sphere_tridiag_solve(&t, x);
  double worst = 0.0;
  for (int q = 0; q < nb; q++) {
    double m[49] = {0}, y[7];
    for (int k = 0; k < n; k++) {
      m[k * n + k] = b[k * nb + q];
      if (k > 0) {
        m[k * n + k - 1] = a[k * nb + q];
      }
      if (k < n - 1) {
        m[k * n + k + 1] = c[k * nb + q];
      }
      y[k] = r[k * nb + q];
    }
    if (cyclic) {
      m[0 * n + n - 1] = a[q];
      m[(n - 1) * n + 0] = c[(n - 1) * nb + q];
    }
    dense_solve(n, m, y);
    for (int k = 0; k < n; k++) {
      worst = fmax(worst, fabs(y[k] - x[k * nb + q]));
    }
  }
  CHECK(worst < 1e-13, "%s tridiagonal batch equals dense elimination (max diff %.2e)",
        cyclic ? "cyclic" : "plain", worst);
  kv_sphere_tridiag_free(&t);
}

static void test_sphere(void) {
  kv_sphere s;
  CHECK(kv_sphere_init(&s, 45, 12) == KV_OK, "sphere 45 x 12");
  double wsum = 0.0;
  for (int j = 0; j < s.nlat; j++) {
    wsum += s.w[j] * s.nlon;
  }
  CHECK_CLOSE(wsum, 1.0, 1e-14, "cell area fractions sum to 1");
  CHECK(s.cs[0] == 0.0 && s.cn[s.nlat - 1] == 0.0, "no flux through the poles");
  /* Conservation: the area-weighted sum of the Laplacian of any field is zero. */
  unsigned seed = 3;
  double T[45 * 12], lat = 0.0, lon = 0.0, scale = 0.0;
  for (int e = 0; e < 45 * 12; e++) {
    T[e] = 30.0 * frand(&seed);
  }
  for (int j = 0; j < s.nlat; j++) {
    for (int i = 0; i < s.nlon; i++) {
      double c = T[j * 12 + i];
      double up = j + 1 < s.nlat ? T[(j + 1) * 12 + i] : c, dn = j > 0 ? T[(j - 1) * 12 + i] : c;
      double ll = s.cn[j] * (up - c) - s.cs[j] * (c - dn);
      double lo = s.ce[j] * (T[j * 12 + (i + 1) % 12] - 2.0 * c + T[j * 12 + (i + 11) % 12]);
      lat += s.w[j] * ll;
      lon += s.w[j] * lo;
      scale += s.w[j] * (fabs(ll) + fabs(lo));
    }
  }
  CHECK(fabs(lat) < 1e-14 * scale && fabs(lon) < 1e-14 * scale,
        "area-weighted Laplacian sums to zero (lat %.2e, lon %.2e of %.2e)", lat, lon, scale);
  /* P2(sin lat) is an eigenfunction of the unit-sphere Laplacian with eigenvalue -6. */
  double err[2];
  for (int r = 0; r < 2; r++) {
    kv_sphere g;
    int nl = r ? 180 : 90;
    kv_sphere_init(&g, nl, 1);
    err[r] = 0.0;
    for (int j = 1; j < nl - 1; j++) {
      double p = kv_forcing_p2(sin(g.lat[j])), pu = kv_forcing_p2(sin(g.lat[j + 1])),
             pd = kv_forcing_p2(sin(g.lat[j - 1]));
      double l = g.cn[j] * (pu - p) - g.cs[j] * (p - pd);
      err[r] = fmax(err[r], fabs(l + 6.0 * p));
    }
    kv_sphere_free(&g);
  }
  CHECK(err[0] < 5e-3 && err[0] / err[1] > 3.5, "L P2 = -6 P2 to second order (%.2e -> %.2e)",
        err[0], err[1]);
  kv_sphere_free(&s);
}

static void test_insolation(void) {
  const double S0 = 1365.2;
  kv_forcing_orbit circ = {0.0, 0.0, 0.0};
  CHECK_CLOSE(kv_forcing_insolation_daily(S0, &circ, 0.0, 123.0), S0 / PI, 1e-12,
              "circular orbit, no tilt: equator gets S0/pi");
  CHECK(kv_forcing_insolation_daily(S0, &circ, 89.0 * PI / 180.0, 10.0) < 0.02 * S0,
        "circular orbit, no tilt: the poles get almost nothing");
  kv_forcing_orbit now = {0.017236, 23.446 * PI / 180.0, 281.37 * PI / 180.0};
  /* Time- and area-mean of the daily insolation: S0 / (4 sqrt(1 - e^2)). */
  double sum = 0.0, wsum = 0.0;
  for (int d = 0; d < 365; d++) {
    for (int j = 0; j < 180; j++) {
      double lat = (-90.0 + (j + 0.5)) * PI / 180.0, w = cos(lat);
      sum += w * kv_forcing_insolation_daily(S0, &now, lat, 1.5 + d);
      wsum += w;
    }
  }
  double expect = S0 / (4.0 * sqrt(1.0 - now.ecc * now.ecc));
  CHECK(fabs(sum / wsum - expect) < 1e-3 * expect,
        "annual global mean = S0/(4 sqrt(1-e^2)) "
        "(%.4f vs %.4f)",
        sum / wsum, expect);
  double np = kv_forcing_insolation_daily(S0, &now, 89.9 * PI / 180.0, 172.0);
  double sp = kv_forcing_insolation_daily(S0, &now, -89.9 * PI / 180.0, 172.0);
  double eq = kv_forcing_insolation_daily(S0, &now, 0.0, 172.0);
  CHECK(np > 500.0 && np < 540.0 && sp == 0.0 && eq > 380.0 && eq < 420.0,
        "June solstice: north pole %.1f (~522), south pole %.1f (polar night), equator %.1f (~400)",
        np, sp, eq);
  double jan = kv_forcing_insolation_daily(S0, &now, -89.9 * PI / 180.0, 355.0);
  CHECK(jan > np,
        "December south-pole insolation (%.1f) exceeds June north-pole (perihelion in "
        "January)",
        jan);
}

static void test_scenarios(void) {
  kv_forcing_scenario s;
  int rc = kv_forcing_scenario_load("ssp245", "configs/scenarios", &s);
  CHECK(rc == KV_OK, "load ssp245 (%s)", rc ? kv_error_message() : "ok");
  if (rc == KV_OK) {
    double c, a, c0, a0;
    CHECK(s.year0 == 1850 && s.nyears == 251, "ssp245 continues historical: %d + %d years", s.year0,
          s.nyears);
    kv_forcing_scenario_at(&s, 1850, &c0, &a0);
    kv_forcing_scenario_at(&s, 2100, &c, &a);
    CHECK(fabs(c0 - 284.3) < 0.01 && fabs(c - 603.0) < 1.0, "CO2 1850 %.2f, 2100 %.2f", c0, c);
    CHECK(kv_forcing_scenario_at(&s, 2101, &c, &a) == KV_ERR_CONFIG &&
              strstr(kv_error_message(), "1850-2100") != NULL,
          "a year outside the table is an error naming the range: %s", kv_error_message());
    kv_forcing_scenario_free(&s);
  }
  double prev = 0.0;
  const char *names[] = {"ssp126", "ssp245", "ssp370", "ssp585"};
  int ordered = 1;
  for (int k = 0; k < 4; k++) {
    double c, a;
    kv_forcing_scenario_load(names[k], "configs/scenarios", &s);
    kv_forcing_scenario_at(&s, 2100, &c, &a);
    ordered &= c > prev;
    prev = c;
    kv_forcing_scenario_free(&s);
  }
  CHECK(ordered, "2100 CO2 increases from ssp126 to ssp585");
  rc = kv_forcing_scenario_load("ssp999", "configs/scenarios", &s);
  CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), "unknown scenario 'ssp999'"),
        "unknown scenario name: %s", kv_error_message());
  FILE *f = fopen("tests/out/bad_scenario.csv", "w");
  if (f) {
    fputs("year,co2_ppm,aerosol_index\n2015,400,0.5\n2016,abc,0.5\n", f);
    fclose(f);
  }
  rc = kv_forcing_scenario_load("tests/out/bad_scenario.csv", "configs/scenarios", &s);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "bad_scenario.csv:3:"),
        "a bad cell names file and line: %s", kv_error_message());
  f = fopen("tests/out/gap_scenario.csv", "w");
  if (f) {
    fputs("year,co2_ppm,aerosol_index\n2030,400,0.5\n", f);
    fclose(f);
  }
  rc = kv_forcing_scenario_load("tests/out/gap_scenario.csv", "configs/scenarios", &s);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "gap"), "a gap after historical: %s",
        kv_error_message());
}

static void test_normals(void) {
  const int nlon = 101;
  double sum = 0.0, sq = 0.0, lag = 0.0, prev = 0.0;
  long n = 0;
  for (int step = 0; step < 20; step++) {
    for (int j = 0; j < 500; j++) {
      for (int i = 0; i < nlon; i++) {
        double z = kv_noise_normal(42, step, nlon, j, i);
        sum += z;
        sq += z * z;
        if (i > 0) {
          lag += z * prev;
        }
        prev = z;
        n++;
      }
    }
  }
  double mean = sum / n, var = sq / n - mean * mean;
  CHECK(fabs(mean) < 5.0 / sqrt((double)n) && fabs(var - 1.0) < 0.01,
        "generator: mean %.4f, variance %.4f over %ld draws", mean, var, n);
  CHECK(fabs(lag / n) < 0.01, "generator: neighbouring cells uncorrelated (%.4f)", lag / n);
  CHECK(kv_noise_normal(42, 5, nlon, 7, 8) == kv_noise_normal(42, 5, nlon, 7, 8) &&
            kv_noise_normal(42, 5, nlon, 7, 8) != kv_noise_normal(43, 5, nlon, 7, 8) &&
            kv_noise_normal(42, 5, nlon, 7, 8) != kv_noise_normal(42, 6, nlon, 7, 8),
        "generator: a pure function of (seed, step, cell)");
}

/* The stochastic forcing on one rank: per-cell standard deviation, AR(1) lag correlation and
 * spatial correlation against what the parameters say. */
static void test_noise_stats(double corr, const char *what) {
  const int nlat = 24, nlon = 32, nsteps = 3000;
  const double tau = 5.0, std = 1.7;
  kv_sphere s;
  kv_sphere_init(&s, nlat, nlon);
  kv_noise n;
  int rc = kv_noise_create(&n, &s, 0, nlat, 0, nlon, 11, std, corr, tau);
  CHECK(rc == KV_OK, "%s: noise set up", what);
  double *w = malloc(sizeof(double) * nlat * nlon), *c = malloc(sizeof(double) * nlat * nlon);
  double *xi = calloc((size_t)nlat * nlon, sizeof(double)),
         *prev = calloc((size_t)nlat * nlon, sizeof(double));
  double var = 0.0, lag = 0.0, nb = 0.0;
  long cnt = 0;
  for (int k = 0; k < nsteps; k++) {
    kv_noise_rows(&n, k, w); /* [i][j] */
    for (int i = 0; i < nlon; i++) {
      for (int j = 0; j < nlat; j++) {
        c[j * nlon + i] = w[i * nlat + j];
      }
    }
    kv_noise_cols(&n, c, xi, k == 0);
    if (k > 0) {
      for (int e = 0; e < nlat * nlon; e++) {
        var += xi[e] * xi[e];
        lag += xi[e] * prev[e];
      }
      for (int j = nlat / 2 - 2; j < nlat / 2 + 2; j++) {
        for (int i = 0; i < nlon; i++) {
          nb += xi[j * nlon + i] * xi[j * nlon + (i + 1) % nlon];
        }
      }
      cnt++;
    }
    memcpy(prev, xi, sizeof(double) * nlat * nlon);
  }
  var /= (double)cnt * nlat * nlon;
  lag /= (double)cnt * nlat * nlon * var;
  nb /= (double)cnt * 4 * nlon * var;
  CHECK(fabs(sqrt(var) - std) < 0.05 * std, "%s: standard deviation %.3f (noise_std %.3f)", what,
        sqrt(var), std);
  CHECK(fabs(lag - exp(-1.0 / tau)) < 0.03, "%s: lag-1 correlation %.3f (AR(1): %.3f)", what, lag,
        exp(-1.0 / tau));
  if (corr > 0.0) {
    CHECK(nb > 0.5, "%s: neighbouring equatorial cells correlated (%.3f)", what, nb);
  } else {
    CHECK(fabs(nb) < 0.05, "%s: neighbouring cells uncorrelated (%.3f)", what, nb);
  }
  free(w);
  free(c);
  free(xi);
  free(prev);
  kv_noise_free(&n);
  kv_sphere_free(&s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  test_tridiag(0);
  test_tridiag(1);
  test_sphere();
  test_insolation();
  test_scenarios();
  test_normals();
  test_noise_stats(0.0, "white in space");
  test_noise_stats(0.25, "correlation length 0.25 rad");
  MPI_Finalize();
  return kv_test_failed;
}
