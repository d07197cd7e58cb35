/* Unit tests of the space-filling designs (surrogates/sampling) and of the configuration
 * operations a sweep relies on (clone, tagged values, removing a section). */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/config.h"
#include "surrogates/sampling.h"
#include "tests/unit/check.h"

/* Every coordinate has exactly one point in each of n equal strata. */
static int stratified(const double *x, long n, int d, int k) {
  char *seen = calloc((size_t)n, 1);
  int ok = 1;
  for (long i = 0; i < n; i++) {
    double v = x[i * d + k];
    long s = (long)floor(v * (double)n);
    if (v < 0.0 || v >= 1.0 || s < 0 || s >= n || seen[s]) {
      ok = 0;
    } else {
      seen[s] = 1;
    }
  }
  free(seen);
  return ok;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  enum { N = 37, D = 5 };
  double a[N * D], b[N * D], c[N * D];
  CHECK(kv_sample_lhs(N, D, 11, a) == KV_OK, "lhs: %d points in %d dimensions", N, D);
  int all = 1;
  for (int k = 0; k < D; k++) {
    all &= stratified(a, N, D, k);
  }
  CHECK(all, "lhs: one point per stratum in every dimension (n = %d, not a power of two)", N);
  kv_sample_lhs(N, D, 11, b);
  kv_sample_lhs(N, D, 12, c);
  CHECK(memcmp(a, b, sizeof a) == 0, "lhs: same seed, same points");
  CHECK(memcmp(a, c, sizeof a) != 0, "lhs: another seed, other points");
  /* Pairs of coordinates are not tied together: the correlation is small for independent
   * permutations (|r| < 0.5 at n = 37 for every pair; a bug copying a permutation gives 1). */
  double rmax = 0.0;
  for (int p = 0; p < D; p++) {
    for (int q = p + 1; q < D; q++) {
      double sp = 0, sq = 0, spp = 0, sqq = 0, spq = 0;
      for (int i = 0; i < N; i++) {
        double u = a[i * D + p], v = a[i * D + q];
        sp += u;
        sq += v;
        spp += u * u;
        sqq += v * v;
        spq += u * v;
      }
      double r = (spq - sp * sq / N) / sqrt((spp - sp * sp / N) * (sqq - sq * sq / N));
      rmax = fabs(r) > rmax ? fabs(r) : rmax;
    }
  }
  CHECK(rmax < 0.5, "lhs: coordinates paired independently (max |corr| %.3f)", rmax);

  enum { M = 64 };
  double s[M * 3], t[M * 3];
  CHECK(kv_sample_sobol(M, 3, 5, s) == KV_OK, "sobol: 64 points in 3 dimensions");
  all = 1;
  for (int k = 0; k < 3; k++) {
    all &= stratified(s, M, 3, k);
  }
  CHECK(all, "sobol: the first 2^6 points put one point in each of 64 bins per coordinate");
  int cell[8][8] = {{0}};
  for (int i = 0; i < M; i++) {
    cell[(int)(s[i * 3] * 8)][(int)(s[i * 3 + 1] * 8)]++;
  }
  int net = 1;
  for (int i = 0; i < 8; i++) {
    for (int j = 0; j < 8; j++) {
      net &= cell[i][j] == 1;
    }
  }
  CHECK(net, "sobol: one point in each of the 8 x 8 squares of the first two coordinates");
  kv_sample_sobol(M, 3, 5, t);
  CHECK(memcmp(s, t, sizeof s) == 0, "sobol: same seed, same points");
  kv_sample_sobol(M, 3, 6, t);
  CHECK(memcmp(s, t, sizeof s) != 0, "sobol: another seed, another digital shift");
  CHECK(kv_sample_sobol(4, KV_SOBOL_MAXDIM + 1, 1, t) == KV_ERR_INVALID,
        "sobol: more than %d dimensions refused", KV_SOBOL_MAXDIM);
  CHECK(kv_sample_lhs(0, 2, 1, t) == KV_ERR_INVALID, "lhs: zero points refused");

  CHECK_CLOSE(kv_sample_map(0.5, 2.0, 4.0, 0), 3.0, 1e-15, "map: linear midpoint");
  CHECK_CLOSE(kv_sample_map(0.5, 0.01, 100.0, 1), 1.0, 1e-14, "map: log midpoint is geometric");
  CHECK(kv_sample_map(0.0, 0.1, 0.3, 1) >= 0.1 && kv_sample_map(1.0, 0.1, 0.3, 1) <= 0.3,
        "map: ends stay inside [lo, hi] despite rounding");

  kv_config *cfg = NULL, *cl = NULL;
  CHECK(kv_config_parse_string("[run]\nmodel = heat\n[heat]\nkappa = 2\n[sweep]\nmethod = grid\n",
                               "t.ini", &cfg) == KV_OK,
        "config: parse");
  CHECK(kv_config_clone(cfg, &cl) == KV_OK, "config: clone");
  kv_config_set_tagged(cl, "heat.kappa", "abc", "sweep case 4");
  kv_config_remove_section(cl, "sweep");
  CHECK(strcmp(kv_config_value(cfg, "heat.kappa"), "2") == 0 && kv_config_has(cfg, "sweep.method"),
        "config: the original is untouched by changes to its clone");
  CHECK(!kv_config_has(cl, "sweep.method") && kv_config_has(cl, "run.model"),
        "config: remove_section drops only that section");
  double k;
  int rc = kv_config_get_double(cl, "heat.kappa", 0, 10, &k);
  CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), "sweep case 4: heat.kappa = 'abc'"),
        "config: an error about a tagged value names who set it (%s)", kv_error_message());
  char *text = NULL;
  kv_config_to_text(cl, &text);
  CHECK(text && strstr(text, "kappa = abc   ; sweep case 4"),
        "config: the resolved text marks the tagged value");
  free(text);
  kv_config_free(cl);
  kv_config_free(cfg);
  MPI_Finalize();
  return kv_test_failed;
}
