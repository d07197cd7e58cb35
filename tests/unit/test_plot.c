/* Unit tests of io/png and io/plot: a map of a known field is a valid PNG of the requested size,
 * read back with libpng, with the expected colours at known pixels (viridis ends on a ramp, the
 * diverging map's white at zero), and unreadable PNGs are refused. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/plot.h"
#include "io/png.h"
#include "tests/unit/check.h"

static int pixel_is(const kv_png_image *im, int x, int y, int r, int g, int b) {
  const unsigned char *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
  return abs(p[0] - r) <= 1 && abs(p[1] - g) <= 1 && abs(p[2] - b) <= 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const char *out = getenv("OUT") ? getenv("OUT") : ".";
  char path[1024];
  snprintf(path, sizeof path, "%s/test_plot.png", out);
  enum { NX = 40, NY = 20 };
  double v[NX * NY];
  for (int j = 0; j < NY; j++) {
    for (int i = 0; i < NX; i++) {
      v[j * NX + i] = 10.0 + i; /* a ramp in x */
    }
  }
  kv_plot_opts o = {640, 400, "ramp", "K", "x", "y", 0};
  CHECK(kv_plot_map(v, NX, NY, NULL, NULL, &o, path) == KV_OK, "plot a 40 x 20 ramp");
  kv_png_image im;
  int rc = kv_png_read(path, &im);
  CHECK(rc == KV_OK && im.w == 640 && im.h == 400, "the PNG reads back (libpng) at 640 x 400");
  /* The map spans x in [100, 500), y in [40, 344): its first column is the minimum (viridis 0,
   * #440154), its last the maximum (viridis 1, #fde725). */
  CHECK(rc == KV_OK && pixel_is(&im, 101, 200, 0x44, 0x01, 0x54), "left of the map: viridis' "
                                                                  "dark purple for the minimum");
  CHECK(rc == KV_OK && pixel_is(&im, 498, 200, 0xfd, 0xe7, 0x25), "right of the map: viridis' "
                                                                  "yellow for the maximum");
  CHECK(rc == KV_OK && pixel_is(&im, 5, 5, 255, 255, 255), "the background is white");
  kv_png_free(&im);
  for (int p = 0; p < NX * NY; p++) {
    v[p] = (p % NX) - (NX - 1) / 2.0; /* symmetric about 0 */
  }
  v[0] = 0.0;
  o.diverging = 1;
  kv_plot_map(v, NX, NY, NULL, NULL, &o, path);
  rc = kv_png_read(path, &im);
  /* Row 0 of the data is at the bottom: its first cell (value 0) is the white of the scale. */
  CHECK(rc == KV_OK && pixel_is(&im, 102, 342, 0xf7, 0xf7, 0xf7),
        "differences: zero is the "
        "white middle of the diverging scale");
  CHECK(rc == KV_OK && pixel_is(&im, 498, 200, 0xb2, 0x18, 0x2b), "differences: the largest "
                                                                  "positive value is the red end");
  kv_png_free(&im);
  FILE *f = fopen(path, "w");
  fputs("not a png", f);
  fclose(f);
  CHECK(kv_png_read(path, &im) == KV_ERR_FORMAT, "a file that is not a PNG is refused");
  o.width = 50;
  CHECK(kv_plot_map(v, NX, NY, NULL, NULL, &o, path) == KV_ERR_USAGE, "a too small image is "
                                                                      "refused");
  remove(path);
  MPI_Finalize();
  return kv_test_failed;
}
