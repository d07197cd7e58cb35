/* kelvin — charts as PNG (io/png.h canvas): grouped bars with interval whiskers (sensitivity
 * indices) and lines of points (convergence and learning curves), each with a frame, labelled
 * axis ticks, a legend and a title. */
#ifndef KV_CHART_H
#define KV_CHART_H

#define KV_CHART_MAX_SERIES 8

typedef struct {
  const char *title, *xlabel, *ylabel;
  int logy; /* lines: a logarithmic y axis (values <= 0 left out) */
} kv_chart_opts;

/* Bars: ngroups groups (labels[g] under each) of nseries bars (names[s] in the legend), heights
 * v (ngroups x nseries, row-major); lo/hi (same shape, may be NULL; NaN entries skipped) draw a
 * whisker over each bar. NaN heights are left out. Writes path atomically (800 x 480). Not
 * collective. */
int kv_chart_bars(int ngroups, int nseries, const char *const *labels, const char *const *names,
                  const double *v, const double *lo, const double *hi, const kv_chart_opts *o,
                  const char *path);

/* Lines: nseries series (names in the legend), series s having n[s] points (x[s][i], y[s][i]),
 * joined in order and marked. Non-finite points are left out. Writes path atomically. Not
 * collective. */
int kv_chart_lines(int nseries, const char *const *names, const long *n, const double *const *x,
                   const double *const *y, const kv_chart_opts *o, const char *path);

#endif
