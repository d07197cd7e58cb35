/* kelvin — the layout of a field in a kelvin output file (its variable, units, axes with their
 * coordinates, time stamp): read from a case file, stored in model files, and used to write
 * predictions as field files that kelvin info, kelvin compare and xarray read like the solver's.
 */
#ifndef KV_LAYOUT_H
#define KV_LAYOUT_H

#include "io/h5.h"
#include "io/ncvar.h"

/* Where a field lives: enough to write a prediction as the solver would. */
typedef struct {
  char var[64], units[64], long_name[256];
  int ndims; /* space dimensions (1-3)                                 */
  long n[3]; /* cells per axis, x (fastest) first                      */
  char axis_name[3][32], axis_units[3][64], axis_std[3][64], axis_long[3][128], axis_letter[3][4];
  double *coord[3]; /* coordinate values per axis (owned)                      */
  double time;      /* the time stamp of the training fields (final record)    */
  char time_units[128], calendar[32];
} kv_field_layout;

/* The layout of field var in a case file: axes (lat/lon on the sphere, x/y/z otherwise), their
 * coordinates and attributes, and the final time stamp. L is the caller's (kv_layout_free).
 * Not collective. */
int kv_layout_read(const char *file, const char *var, kv_field_layout *L);

/* The layout of variable v read from a file kelvin did not write: its space dimensions (after a
 * leading time dimension when has_time; x is the last), their coordinates (indices where the
 * file has none), units, standard names and axis letters, and the last time stamp. L is the
 * caller's (kv_layout_free). Not collective. */
int kv_layout_from_nc(const kv_nc_var *v, int has_time, kv_field_layout *L);

/* A deep copy of src into dst (dst's previous contents are not freed). */
int kv_layout_copy(kv_field_layout *dst, const kv_field_layout *src);

/* Free the coordinates (the struct is the caller's); a zeroed layout is a no-op. */
void kv_layout_free(kv_field_layout *L);

/* Points of one field record (the product of n). */
long kv_layout_points(const kv_field_layout *L);

/* 1 when the field lives on a latitude-longitude grid (axes lon, lat). */
int kv_layout_is_sphere(const kv_field_layout *L);

/* Area weights of the field's points: cos(lat) on the sphere, 1 on a box grid (npts values). */
void kv_layout_weights(const kv_field_layout *L, double *w);

/* Save the layout as "/field" (attributes) and "/field/axis_K" (coordinates) of a model store,
 * and load it back (L the caller's). Not collective. */
int kv_layout_save(const kv_field_layout *L, kv_h5_store *h);

/* Maps on the layout in a model store, as a netCDF viewer wants them: dataset name of shape
 * ([nlead,] [nz,] ny, nx) over the dimensions (lead, ..., y, x) or (lead, lat, lon), the layout's
 * axes written once as root coordinate variables; v holds nlead x points values (row-major,
 * x fastest, as the layout's fields). lead may be NULL (one map); units and long_name may be
 * NULL. Not collective. */
int kv_layout_put_maps(kv_h5_store *h, const kv_field_layout *L, const char *name, const char *lead,
                       long nlead, const double *v, const char *units, const char *long_name);
int kv_layout_load(kv_h5_store *h, kv_field_layout *L);

/* What a written field file says about itself beyond the layout: the mean's long_name (NULL: the
 * layout's), a CF comment, and root text attributes (provenance: the inputs it was predicted at,
 * the model file, whether they lie outside the training box). */
#define KV_LAYOUT_ATTRS 8
typedef struct {
  const char *long_name;
  int nattrs;
  const char *attr_name[KV_LAYOUT_ATTRS], *attr_value[KV_LAYOUT_ATTRS];
} kv_layout_meta;

/* Write nrec field records (nrec x npts mean and variance; var may be NULL) as a field file in
 * the layout: variable <var> (mean) and, with var, <var>_std, with the coordinates and one time
 * record per row at times[] (NULL: the layout's time stamp), atomically; config is the stored
 * configuration text, meta (may be NULL) the file's own description. Not collective (a
 * one-process grid). */
int kv_layout_write_field(const kv_field_layout *L, long nrec, const double *times,
                          const double *mean, const double *var, const char *path,
                          const char *config, const kv_layout_meta *meta);

#endif
