/* Unit tests of surrogates/metrics. Alone: identities (identical fields score 0, a zero
 * normaliser is an error, coverage of exact intervals). With --dump FILE it also writes random
 * fields and every metric kelvin computes on them, one "name value" per line after the data, for
 * tests/surrogate/test_metrics.py to recompute with NumPy. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "surrogates/metrics.h"
#include "tests/unit/check.h"

enum { NT = 7, NP = 30 };

static double rnd(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return ((*s >> 8) & 0xffffff) / 16777216.0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  static double x[NT * NP], y[NT * NP], w[NP], sd[NT * NP];
  unsigned s = 99;
  for (int p = 0; p < NP; p++) {
    w[p] = cos((-80.0 + 160.0 * p / (NP - 1)) * 3.14159265358979 / 180);
  }
  for (int i = 0; i < NT * NP; i++) {
    y[i] = 1.0 + 2.0 * rnd(&s);
    x[i] = y[i] + 0.3 * (rnd(&s) - 0.5);
    sd[i] = 0.05 + 0.2 * rnd(&s);
  }
  kv_metrics m;
  kv_nrmse nr;
  kv_metrics_pointwise(NT * NP, y, y, &m);
  CHECK(m.rmse == 0 && m.mae == 0 && m.max_abs == 0 && m.rel_l2 == 0 && m.r2 == 1.0,
        "identical fields: rmse, mae, max, rel_l2 = 0, r2 = 1");
  CHECK(kv_metric_nrmse(NT, NP, y, y, w, &nr) == KV_OK && nr.spatial == 0 && nr.global == 0 &&
            nr.total == 0,
        "identical fields: every NRMSE is 0");
  CHECK(fabs(kv_metric_acc(NP, y, y, w) - 1.0) < 1e-14, "anomaly correlation of a field with "
                                                        "itself is 1");
  static double z[NT * NP];
  for (int i = 0; i < NT * NP; i++) {
    z[i] = (i % 2 ? 1.0 : -1.0) * (1.0 + (i / NP) % 3);
  }
  /* Alternating signs with symmetric weights pairs: the weighted mean of the truth is ~0. */
  double wz[NP];
  for (int p = 0; p < NP; p++) {
    wz[p] = 1.0;
  }
  int rc = kv_metric_nrmse(NT, NP, x, z, wz, &nr);
  CHECK(rc == KV_ERR_INVALID && strstr(kv_error_message(), "too close to zero"),
        "a truth with zero weighted mean: NRMSE is an error, not inf");
  double mu[4] = {0, 0, 0, 0}, sg[4] = {1, 1, 1, 1}, tr[4] = {1.9, -1.95, 2.0, 0.0};
  CHECK(fabs(kv_metric_coverage95(4, mu, sg, tr) - 0.75) < 1e-15, "coverage95 counts the truths "
                                                                  "inside +-1.96 std");
  CHECK(fabs(kv_metric_msll(4, mu, sg, tr, 0.0, 1.0)) < 1e-15, "msll of the trivial model is 0");
  if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
    FILE *f = fopen(argv[2], "w");
    fprintf(f, "%d %d\n", NT, NP);
    for (int p = 0; p < NP; p++) {
      fprintf(f, "%.17g\n", w[p]);
    }
    for (int i = 0; i < NT * NP; i++) {
      fprintf(f, "%.17g %.17g %.17g\n", x[i], y[i], sd[i]);
    }
    kv_metrics_pointwise(NT * NP, x, y, &m);
    kv_metric_nrmse(NT, NP, x, y, w, &nr);
    fprintf(f, "rmse %.17g\nmae %.17g\nmax_abs %.17g\nrel_l2 %.17g\nr2 %.17g\n", m.rmse, m.mae,
            m.max_abs, m.rel_l2, m.r2);
    fprintf(f, "nrmse_spatial %.17g\nnrmse_global %.17g\nnrmse_total %.17g\n", nr.spatial,
            nr.global, nr.total);
    fprintf(f, "wrmse %.17g\nwmean %.17g\nacc %.17g\n", kv_metric_wrmse(NP, x, y, w),
            kv_metric_wmean(NP, x, w), kv_metric_acc(NP, x, y, w));
    fprintf(f, "coverage95 %.17g\nmsll %.17g\n", kv_metric_coverage95(NT * NP, x, sd, y),
            kv_metric_msll(NT * NP, x, sd, y, 1.5, 0.4));
    fclose(f);
  }
  MPI_Finalize();
  return kv_test_failed;
}
