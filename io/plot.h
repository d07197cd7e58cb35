/* kelvin — maps of 2-D fields as PNG: the field on its grid (nearest cell per pixel, north / +y
 * up), a frame with the coordinate range on each axis, a colour bar labelled with its range and
 * units, and a title. Viridis for values, a diverging map with a range symmetric about zero for
 * differences. */
#ifndef KV_PLOT_H
#define KV_PLOT_H

typedef struct {
  int width, height; /* pixels (default 800 x 500 when 0)                        */
  const char *title;
  const char *units; /* colour bar label                                         */
  const char *xlabel, *ylabel;
  int diverging; /* differences: symmetric range, blue-white-red            */
} kv_plot_opts;

/* v: ny x nx values (x fastest, row 0 at the smallest y); xc (nx), yc (ny): coordinates or NULL
 * for indices. NaN cells are grey; the colour range is that of the finite values. Writes path
 * atomically. Not collective. */
int kv_plot_map(const double *v, long nx, long ny, const double *xc, const double *yc,
                const kv_plot_opts *o, const char *path);

#endif
