/* kelvin — RGB images written as PNG with libpng: a canvas with filled rectangles, pixels and
 * text in a built-in 5 x 7 bitmap font (ASCII; lower case drawn as capitals), the perceptually
 * uniform viridis colour map and a diverging blue-white-red one.
 */
#ifndef KV_PNG_H
#define KV_PNG_H

#include <stdint.h>

typedef struct {
  int w, h;
  uint8_t *rgb; /* w * h * 3, row-major from the top */
} kv_image;

int kv_image_create(int w, int h, kv_image *img);   /* white */
void kv_image_free(kv_image *img);
void kv_image_rect(kv_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3]); /* [x0,x1) */
/* Text with its top-left corner at (x, y), each font pixel drawn as scale x scale. Returns the
 * width drawn. vertical: rotated 90 degrees counter-clockwise (reads bottom to top). */
int kv_image_text(kv_image *img, int x, int y, const char *s, int scale, int vertical,
                  const uint8_t c[3]);
int kv_image_text_width(const char *s, int scale);

/* Colour of u in [0, 1] (clamped; NaN gives grey). */
void kv_colormap_viridis(double u, uint8_t c[3]);
void kv_colormap_diverging(double u, uint8_t c[3]);

/* Write as an 8-bit RGB PNG, atomically ("<path>.part" renamed). Not collective. */
int kv_image_write_png(const kv_image *img, const char *path);

/* Read a PNG back as 8-bit RGB (tests, and checking what was written). */
int kv_image_read_png(const char *path, kv_image *img);

#endif
