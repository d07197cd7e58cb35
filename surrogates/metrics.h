/* kelvin — error metrics of an emulator against the truth (the full solver).
 *
 * Point-wise: RMSE, MAE, max |error|, relative L2 (||x - y|| / ||y||), R^2 (1 - SS_res / SS_tot
 * about the truth's mean). Area-weighted (w = cos(lat) on the sphere, 1 on a box): weighted RMSE
 * and mean, and the (centred) anomaly correlation. ClimateBench's NRMSE over a window of nt time
 * records of a field of np points: time means first, then
 *   spatial = sqrt(<(mean_t x - mean_t y)^2>_w) / |<mean_t y>_w|
 *   global  = sqrt(mean_t (<x_t>_w - <y_t>_w)^2) / |<mean_t y>_w|
 *   total   = spatial + 5 global
 * with an error (not inf) when the normaliser |<mean_t y>_w| is near zero. For probabilistic
 * predictions: the fraction of truths inside the central 95 % interval, and the mean
 * standardised log loss (Rasmussen & Williams 2.34: the negative log predictive density minus that
 * of a Gaussian with the training data's mean and variance; 0 is no better than that).
 *
 * x is the prediction, y the truth throughout. All functions are serial and allocate nothing.
 */
#ifndef KV_METRICS_H
#define KV_METRICS_H

typedef struct {
  double rmse, mae, max_abs, rel_l2, r2;
} kv_metrics;

/* The point-wise metrics of n values. R^2 is -inf... never: a constant truth gives r2 = NaN. */
void kv_metrics_pointwise(long n, const double *x, const double *y, kv_metrics *m);

/* Weighted RMSE, weighted mean of v, and the weighted centred anomaly correlation of x and y. */
double kv_metric_wrmse(long n, const double *x, const double *y, const double *w);
double kv_metric_wmean(long n, const double *v, const double *w);
double kv_metric_acc(long n, const double *x, const double *y, const double *w);

typedef struct {
  double spatial, global, total;
} kv_nrmse;

/* ClimateBench NRMSE of x against y, both nt x np (time-major), weights w (np). KV_ERR_INVALID
 * when |<mean_t y>_w| <= 1e-12 (max |y| + 1e-300): the normalised error is meaningless there. */
int kv_metric_nrmse(long nt, long np, const double *x, const double *y, const double *w,
                    kv_nrmse *out);

/* Fraction of the n truths y inside mean +- 1.96 std. */
double kv_metric_coverage95(long n, const double *mean, const double *std, const double *y);

/* Mean standardised log loss of N(mean, std^2) for y, relative to N(train_mean, train_var). */
double kv_metric_msll(long n, const double *mean, const double *std, const double *y,
                      double train_mean, double train_var);

#endif
