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
} kv_png_image;

/* A white w x h image (img is the caller's struct; its pixels are owned until kv_png_free). */
int kv_png_create(int w, int h, kv_png_image *img);

/* Free the pixels; NULL is a no-op. */
void kv_png_free(kv_png_image *img);

/* Fill the rectangle [x0, x1) x [y0, y1) (clipped to the image) with colour c. */
void kv_png_rect(kv_png_image *img, int x0, int y0, int x1, int y1, const uint8_t c[3]);
/* Text with its top-left corner at (x, y), each font pixel drawn as scale x scale. Returns the
 * width drawn. vertical: rotated 90 degrees counter-clockwise (reads bottom to top). */
int kv_png_text(kv_png_image *img, int x, int y, const char *s, int scale, int vertical,
                const uint8_t c[3]);
/* The width kv_png_text would draw s with. */
int kv_png_text_width(const char *s, int scale);

/* Colour of u in [0, 1] (clamped; NaN gives grey). */
void kv_png_colormap_viridis(double u, uint8_t c[3]);
void kv_png_colormap_diverging(double u, uint8_t c[3]);

/* Write as an 8-bit RGB PNG, atomically ("<path>.part" renamed). Not collective. */
int kv_png_write(const kv_png_image *img, const char *path);

/* Read a PNG back as 8-bit RGB (tests, and checking what was written). */
int kv_png_read(const char *path, kv_png_image *img);

#endif
