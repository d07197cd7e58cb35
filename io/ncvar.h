/* kelvin — reading a variable of a file kelvin did not write, with netCDF (classic netCDF-3,
 * 64-bit offset, netCDF-4 and the HDF5 files netCDF reads): its values as float64 (packed values
 * unpacked by scale_factor/add_offset, fill and missing values as NaN), its dimensions, and the
 * coordinate variable of each dimension where the file has one (values, units, standard_name,
 * axis, and the calendar of time). The reader of external simulators' outputs and of training
 * fields from files (surrogate.data = files).
 */
#ifndef KV_NCVAR_H
#define KV_NCVAR_H

#include <stddef.h>

#define KV_NC_MAXDIMS 8

typedef struct {
  char name[128];
  int ndims;
  long dims[KV_NC_MAXDIMS];
  char dimname[KV_NC_MAXDIMS][64];
  long count;   /* the product of dims (1 for a scalar)                        */
  double *data; /* count values, row-major (the last dimension fastest); owned */
  char units[64], long_name[256], standard_name[128];
  /* The coordinate variable of each dimension (NULL where there is none): owned. */
  double *coord[KV_NC_MAXDIMS];
  char coord_units[KV_NC_MAXDIMS][128], coord_std[KV_NC_MAXDIMS][64], coord_axis[KV_NC_MAXDIMS][4],
      calendar[KV_NC_MAXDIMS][32];
} kv_nc_var;

/* Read variable name of file path whole. Errors name the file (and the variable): KV_ERR_IO when
 * the file cannot be opened, KV_ERR_FORMAT when it is not a file netCDF reads, has no such
 * variable (the message lists the variables it has) or the variable is not numeric. *v is the
 * caller's (kv_nc_var_free). Not collective. */
int kv_nc_read(const char *path, const char *name, kv_nc_var *v);

/* Whether path has a variable called name (0 also when the file cannot be read). */
int kv_nc_has(const char *path, const char *name);

/* Free the values and coordinates; a zeroed variable is a no-op. */
void kv_nc_var_free(kv_nc_var *v);

/* The index of the dimension called name (or whose coordinate has the CF axis letter axis,
 * when axis is not NULL), or -1. */
int kv_nc_dim(const kv_nc_var *v, const char *name, const char *axis);

#endif
