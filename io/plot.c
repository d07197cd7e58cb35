#include "io/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "io/png.h"

static const uint8_t black[3] = {0, 0, 0};

static void label(kv_png_image *img, int x, int y, double v, int right_align) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3g", v);
  int w = kv_png_text_width(buf, 2);
  kv_png_text(img, right_align ? x - w : x, y, buf, 2, 0, black);
}

int kv_plot_map(const double *v, long nx, long ny, const double *xc, const double *yc,
                const kv_plot_opts *o, const char *path) {
  int W = o->width > 0 ? o->width : 800, H = o->height > 0 ? o->height : 500;
  const int L = 100, R = 140, T = 40, B = 56;
  if (W < L + R + 20 || H < T + B + 20) {
    return KV_ERROR(KV_ERR_USAGE, "plot: %d x %d pixels is too small (at least %d x %d)", W, H,
                    L + R + 20, T + B + 20);
  }
  double lo = INFINITY, hi = -INFINITY;
  for (long i = 0; i < nx * ny; i++) {
    if (!isfinite(v[i])) {
      continue;
    }
    lo = fmin(lo, v[i]);
    hi = fmax(hi, v[i]);
  }
  if (!(lo <= hi)) {
    lo = hi = 0.0;
  }
  if (o->diverging) {
    double m = fmax(fabs(lo), fabs(hi));
    lo = -m;
    hi = m;
  }
  double span = hi > lo ? hi - lo : 1.0;
  kv_png_image img;
  KV_CHECK(kv_png_create(W, H, &img));
  int mx0 = L, mx1 = W - R, my0 = T, my1 = H - B;
  for (int py = my0; py < my1; py++) {
    long j = ny - 1 - (long)((double)(py - my0) / (double)(my1 - my0) * (double)ny);
    for (int px = mx0; px < mx1; px++) {
      long i = (long)((double)(px - mx0) / (double)(mx1 - mx0) * (double)nx);
      double u = hi > lo ? (v[j * nx + i] - lo) / span : 0.5;
      uint8_t c[3];
      if (!isfinite(v[j * nx + i])) {
        u = NAN;
      }
      if (o->diverging) {
        kv_png_colormap_diverging(u, c);
      } else {
        kv_png_colormap_viridis(u, c);
      }
      kv_png_rect(&img, px, py, px + 1, py + 1, c);
    }
  }
  /* Frame, axis ranges and names. */
  kv_png_rect(&img, mx0 - 1, my0 - 1, mx1 + 1, my0, black);
  kv_png_rect(&img, mx0 - 1, my1, mx1 + 1, my1 + 1, black);
  kv_png_rect(&img, mx0 - 1, my0 - 1, mx0, my1 + 1, black);
  kv_png_rect(&img, mx1, my0 - 1, mx1 + 1, my1 + 1, black);
  label(&img, mx0, my1 + 6, xc ? xc[0] : 0.0, 0);
  label(&img, mx1, my1 + 6, xc ? xc[nx - 1] : (double)(nx - 1), 1);
  label(&img, mx0 - 6, my1 - 14, yc ? yc[0] : 0.0, 1);
  label(&img, mx0 - 6, my0, yc ? yc[ny - 1] : (double)(ny - 1), 1);
  if (o->xlabel) {
    kv_png_text(&img, (mx0 + mx1 - kv_png_text_width(o->xlabel, 2)) / 2, my1 + 30, o->xlabel, 2, 0,
                black);
  }
  if (o->ylabel) {
    kv_png_text(&img, 8, (my0 + my1 + kv_png_text_width(o->ylabel, 2)) / 2, o->ylabel, 2, 1, black);
  }
  if (o->title) {
    kv_png_text(&img, (W - kv_png_text_width(o->title, 2)) / 2, 12, o->title, 2, 0, black);
  }
  /* Colour bar: top is the maximum. */
  int cx0 = W - R + 18, cx1 = cx0 + 22;
  for (int py = my0; py < my1; py++) {
    double u = 1.0 - (double)(py - my0) / (double)(my1 - my0 - 1);
    uint8_t c[3];
    if (o->diverging) {
      kv_png_colormap_diverging(u, c);
    } else {
      kv_png_colormap_viridis(u, c);
    }
    kv_png_rect(&img, cx0, py, cx1, py + 1, c);
  }
  label(&img, cx1 + 5, my0, hi, 0);
  label(&img, cx1 + 5, (my0 + my1) / 2 - 7, 0.5 * (lo + hi), 0);
  label(&img, cx1 + 5, my1 - 14, lo, 0);
  if (o->units && o->units[0]) {
    kv_png_text(&img, cx0, my0 - 22, o->units, 2, 0, black);
  }
  int rc = kv_png_write(&img, path);
  kv_png_free(&img);
  return rc;
}
