#include "io/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "io/png.h"

enum { W = 800, H = 480, ML = 90, MR = 30, MT = 44, MB = 70 };

static const uint8_t black[3] = {0, 0, 0}, grey[3] = {200, 200, 200};
/* Colour-blind-safe (Okabe-Ito). */
static const uint8_t palette[KV_CHART_MAX_SERIES][3] = {
    {0, 114, 178},  {230, 159, 0}, {0, 158, 115},  {204, 121, 167},
    {86, 180, 233}, {213, 94, 0},  {240, 228, 66}, {0, 0, 0}};

typedef struct {
  double lo, hi;
  int log;
} axis;

static int ypix(const axis *a, double v) {
  double u = a->log ? (log10(v) - a->lo) / (a->hi - a->lo) : (v - a->lo) / (a->hi - a->lo);
  return (int)lround((double)(H - MB) - u * (double)(H - MB - MT));
}

static int xpix(const axis *a, double v) {
  double u = (v - a->lo) / (a->hi - a->lo);
  return (int)lround((double)ML + u * (double)(W - ML - MR));
}

/* Widen [lo, hi] a little and keep it non-empty. */
static void pad(axis *a) {
  if (!(a->hi > a->lo)) {
    a->lo -= 0.5;
    a->hi += 0.5;
  }
  double m = 0.05 * (a->hi - a->lo);
  a->lo -= m;
  a->hi += m;
}

static void text(kv_png_image *img, int x, int y, const char *s, int align) {
  int w = kv_png_text_width(s, 2);
  kv_png_text(img, align > 0 ? x - w : align == 0 ? x - w / 2 : x, y, s, 2, 0, black);
}

/* Frame, y ticks (5), title and axis names. */
static void frame(kv_png_image *img, const axis *ya, const kv_chart_opts *o) {
  for (int k = 0; k <= 4; k++) {
    double v = ya->lo + (ya->hi - ya->lo) * k / 4.0;
    int py = ypix(ya, ya->log ? pow(10.0, v) : v);
    kv_png_rect(img, ML, py, W - MR, py + 1, grey);
    char b[32];
    snprintf(b, sizeof b, "%.3g", ya->log ? pow(10.0, v) : v);
    text(img, ML - 6, py - 7, b, 1);
  }
  kv_png_rect(img, ML - 1, MT, ML, H - MB + 1, black);
  kv_png_rect(img, ML - 1, H - MB, W - MR, H - MB + 1, black);
  if (o && o->title) {
    text(img, W / 2, 12, o->title, 0);
  }
  if (o && o->xlabel) {
    text(img, (ML + W - MR) / 2, H - 24, o->xlabel, 0);
  }
  if (o && o->ylabel) {
    kv_png_text(img, 6, (MT + H - MB + kv_png_text_width(o->ylabel, 2)) / 2, o->ylabel, 2, 1,
                black);
  }
}

static void legend(kv_png_image *img, int nseries, const char *const *names) {
  int x = ML + 10;
  for (int s = 0; s < nseries && names; s++) {
    kv_png_rect(img, x, MT + 6, x + 14, MT + 20, palette[s % KV_CHART_MAX_SERIES]);
    x += 20 + kv_png_text(img, x + 18, MT + 7, names[s], 2, 0, black);
    x += 16;
  }
}

int kv_chart_bars(int ngroups, int nseries, const char *const *labels, const char *const *names,
                  const double *v, const double *lo, const double *hi, const kv_chart_opts *o,
                  const char *path) {
  if (ngroups < 1 || nseries < 1 || nseries > KV_CHART_MAX_SERIES) {
    return KV_ERROR(KV_ERR_INVALID, "chart: need 1 or more groups and 1 to %d series",
                    KV_CHART_MAX_SERIES);
  }
  axis ya = {0.0, 0.0, 0};
  for (long k = 0; k < (long)ngroups * nseries; k++) {
    double a = v[k], b = v[k];
    if (lo && hi && isfinite(lo[k]) && isfinite(hi[k])) {
      a = fmin(a, lo[k]);
      b = fmax(b, hi[k]);
    }
    if (isfinite(a) && isfinite(b)) {
      ya.lo = fmin(ya.lo, a);
      ya.hi = fmax(ya.hi, b);
    }
  }
  pad(&ya);
  ya.hi += 0.1 * (ya.hi - ya.lo); /* room for the legend */
  kv_png_image img;
  KV_CHECK(kv_png_create(W, H, &img));
  frame(&img, &ya, o);
  double gw = (double)(W - ML - MR) / ngroups, bw = 0.8 * gw / nseries;
  int y0 = ypix(&ya, 0.0);
  for (int g = 0; g < ngroups; g++) {
    double gx = ML + g * gw + 0.1 * gw;
    for (int s = 0; s < nseries; s++) {
      long k = (long)g * nseries + s;
      int x0 = (int)(gx + s * bw), x1 = (int)(gx + (s + 1) * bw) - 2;
      if (isfinite(v[k])) {
        int py = ypix(&ya, v[k]);
        kv_png_rect(&img, x0, py < y0 ? py : y0, x1, py < y0 ? y0 : py + 1,
                    palette[s % KV_CHART_MAX_SERIES]);
      }
      if (lo && hi && isfinite(lo[k]) && isfinite(hi[k])) {
        int xm = (x0 + x1) / 2, pa = ypix(&ya, hi[k]), pb = ypix(&ya, lo[k]);
        kv_png_rect(&img, xm - 1, pa, xm + 1, pb + 1, black);
        kv_png_rect(&img, xm - 5, pa, xm + 6, pa + 2, black);
        kv_png_rect(&img, xm - 5, pb - 1, xm + 6, pb + 1, black);
      }
    }
    if (labels) {
      text(&img, (int)(ML + (g + 0.5) * gw), H - MB + 8, labels[g], 0);
    }
  }
  legend(&img, nseries, names);
  int rc = kv_png_write(&img, path);
  kv_png_free(&img);
  return rc;
}

/* A thick segment from (x0, y0) to (x1, y1). */
static void segment(kv_png_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
  int steps = abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0);
  for (int k = 0; k <= steps; k++) {
    double t = steps ? (double)k / steps : 0.0;
    int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
    kv_png_rect(img, x - 1, y - 1, x + 1, y + 1, c);
  }
}

int kv_chart_lines(int nseries, const char *const *names, const long *n, const double *const *x,
                   const double *const *y, const kv_chart_opts *o, const char *path) {
  if (nseries < 1 || nseries > KV_CHART_MAX_SERIES) {
    return KV_ERROR(KV_ERR_INVALID, "chart: need 1 to %d series", KV_CHART_MAX_SERIES);
  }
  int logy = o && o->logy;
  axis xa = {INFINITY, -INFINITY, 0}, ya = {INFINITY, -INFINITY, logy};
  for (int s = 0; s < nseries; s++) {
    for (long i = 0; i < n[s]; i++) {
      double yv = y[s][i];
      if (!isfinite(x[s][i]) || !isfinite(yv) || (logy && yv <= 0.0)) {
        continue;
      }
      xa.lo = fmin(xa.lo, x[s][i]);
      xa.hi = fmax(xa.hi, x[s][i]);
      ya.lo = fmin(ya.lo, logy ? log10(yv) : yv);
      ya.hi = fmax(ya.hi, logy ? log10(yv) : yv);
    }
  }
  if (!isfinite(xa.lo)) {
    xa.lo = 0.0;
    xa.hi = 1.0;
    ya.lo = 0.0;
    ya.hi = 1.0;
  }
  pad(&xa);
  pad(&ya);
  ya.hi += 0.1 * (ya.hi - ya.lo);
  kv_png_image img;
  KV_CHECK(kv_png_create(W, H, &img));
  frame(&img, &ya, o);
  for (int k = 0; k <= 4; k++) {
    double v = xa.lo + (xa.hi - xa.lo) * k / 4.0;
    char b[32];
    snprintf(b, sizeof b, "%.3g", v);
    text(&img, xpix(&xa, v), H - MB + 8, b, 0);
  }
  for (int s = 0; s < nseries; s++) {
    const uint8_t *c = palette[s % KV_CHART_MAX_SERIES];
    int px = -1, py = -1;
    for (long i = 0; i < n[s]; i++) {
      double yv = y[s][i];
      if (!isfinite(x[s][i]) || !isfinite(yv) || (logy && yv <= 0.0)) {
        continue;
      }
      int qx = xpix(&xa, x[s][i]), qy = ypix(&ya, yv);
      if (px >= 0) {
        segment(&img, px, py, qx, qy, c);
      }
      kv_png_rect(&img, qx - 3, qy - 3, qx + 4, qy + 4, c);
      px = qx;
      py = qy;
    }
  }
  legend(&img, nseries, names);
  int rc = kv_png_write(&img, path);
  kv_png_free(&img);
  return rc;
}
