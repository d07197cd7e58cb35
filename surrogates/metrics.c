#include "surrogates/metrics.h"

#include <math.h>

#include "core/status.h"

void kv_metrics_pointwise(long n, const double *x, const double *y, kv_metrics *m) {
  double se = 0.0, ae = 0.0, mx = 0.0, yy = 0.0, ym = 0.0, ss = 0.0;
  for (long i = 0; i < n; i++) {
    double e = x[i] - y[i];
    se += e * e;
    ae += fabs(e);
    mx = fmax(mx, fabs(e));
    yy += y[i] * y[i];
    ym += y[i];
  }
  ym /= (double)n;
  for (long i = 0; i < n; i++) {
    ss += (y[i] - ym) * (y[i] - ym);
  }
  m->rmse = sqrt(se / (double)n);
  m->mae = ae / (double)n;
  m->max_abs = mx;
  m->rel_l2 = yy > 0.0 ? sqrt(se / yy) : (se > 0.0 ? INFINITY : 0.0);
  m->r2 = ss > 0.0 ? 1.0 - se / ss : NAN;
}

double kv_metric_wmean(long n, const double *v, const double *w) {
  double s = 0.0, sw = 0.0;
  for (long i = 0; i < n; i++) {
    s += w[i] * v[i];
    sw += w[i];
  }
  return s / sw;
}

double kv_metric_wrmse(long n, const double *x, const double *y, const double *w) {
  double s = 0.0, sw = 0.0;
  for (long i = 0; i < n; i++) {
    s += w[i] * (x[i] - y[i]) * (x[i] - y[i]);
    sw += w[i];
  }
  return sqrt(s / sw);
}

double kv_metric_acc(long n, const double *x, const double *y, const double *w) {
  double mx = kv_metric_wmean(n, x, w), my = kv_metric_wmean(n, y, w);
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (long i = 0; i < n; i++) {
    double a = x[i] - mx, b = y[i] - my;
    sxy += w[i] * a * b;
    sxx += w[i] * a * a;
    syy += w[i] * b * b;
  }
  return sxx > 0.0 && syy > 0.0 ? sxy / sqrt(sxx * syy) : NAN;
}

int kv_metric_nrmse(long nt, long np, const double *x, const double *y, const double *w,
                    kv_nrmse *out) {
  double sw = 0.0, ymax = 0.0;
  for (long p = 0; p < np; p++) {
    sw += w[p];
  }
  /* Time means per point, and the weighted global mean per record. */
  double num_s = 0.0, norm = 0.0, num_g = 0.0;
  for (long p = 0; p < np; p++) {
    double mx = 0.0, my = 0.0;
    for (long t = 0; t < nt; t++) {
      mx += x[t * np + p];
      my += y[t * np + p];
      ymax = fmax(ymax, fabs(y[t * np + p]));
    }
    mx /= (double)nt;
    my /= (double)nt;
    num_s += w[p] * (mx - my) * (mx - my);
    norm += w[p] * my;
  }
  num_s /= sw;
  norm = fabs(norm / sw);
  for (long t = 0; t < nt; t++) {
    double gx = 0.0, gy = 0.0;
    for (long p = 0; p < np; p++) {
      gx += w[p] * x[t * np + p];
      gy += w[p] * y[t * np + p];
    }
    num_g += (gx - gy) * (gx - gy) / (sw * sw);
  }
  num_g /= (double)nt;
  if (!(norm > 1e-12 * (ymax + 1e-300))) {
    return KV_ERROR(KV_ERR_INVALID,
                    "nrmse: the truth's weighted time mean is %.3g, too close to "
                    "zero to normalise by (score anomalies of a field that changes, or use rmse)",
                    norm);
  }
  out->spatial = sqrt(num_s) / norm;
  out->global = sqrt(num_g) / norm;
  out->total = out->spatial + 5.0 * out->global;
  return KV_OK;
}

double kv_metric_coverage95(long n, const double *mean, const double *std, const double *y) {
  long in = 0;
  for (long i = 0; i < n; i++) {
    in += fabs(y[i] - mean[i]) <= 1.959963984540054 * std[i];
  }
  return (double)in / (double)n;
}

double kv_metric_msll(long n, const double *mean, const double *std, const double *y,
                      double train_mean, double train_var) {
  const double l2pi = log(2.0 * 3.14159265358979323846);
  double s = 0.0;
  for (long i = 0; i < n; i++) {
    double v = fmax(std[i] * std[i], 1e-300), e = y[i] - mean[i], e0 = y[i] - train_mean;
    s += 0.5 * (l2pi + log(v)) + e * e / (2.0 * v);
    s -= 0.5 * (l2pi + log(train_var)) + e0 * e0 / (2.0 * train_var);
  }
  return s / (double)n;
}
