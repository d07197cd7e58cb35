/* kelvin — HDF5 files: collective output of distributed fields in a netCDF-4/CF compatible
 * layout, and readers for fields and whole datasets.
 *
 * Output layout (DESIGN.md section 6): root attributes Conventions, title, kelvin_version, model,
 * created, config, status; coordinate variables /x /y /z (cell centres) and /time, made HDF5
 * dimension scales and attached to every variable so netCDF tools and xarray see the coordinates;
 * time-dependent fields (time, [z,] [y,] x) chunked per time step; time series (time); anything
 * whose name has a slash goes in a group ("diagnostics/steps").
 *
 * Files are written under "<path>.part" and renamed to <path> only when closed successfully, so a
 * crash never leaves a half-written file under the final name.
 */
#ifndef KV_H5_H
#define KV_H5_H

#include <mpi.h>

#include "core/field.h"
#include "core/grid.h"

#define KV_OUTPUT_MAX 64

/* What a model wants written at an output step: fields on its grid and scalars. Names, units and
 * long names are borrowed string constants; field pointers are borrowed for the call. */
typedef struct {
  const char *name;  /* dataset name, e.g. "T"                                   */
  const char *units; /* CF units, e.g. "K"                                       */
  const char *long_name;
  const kv_field *field;
  const char *standard_name; /* CF standard name, or NULL                       */
  const char *cell_methods;  /* CF cell_methods ("area: mean"), or NULL         */
} kv_output_field;

typedef struct {
  const char *name; /* e.g. "T_mean" or "diagnostics/cfl"                        */
  const char *units;
  const char *long_name;
  double value;
  int is_volatile; /* differs between identical runs (wall time): compare skips it */
  const char *standard_name, *cell_methods; /* as for fields                     */
} kv_output_scalar;

/* A small vector per record (a ROM's reduced coefficients): written on rank 0 as (time, dim). */
typedef struct {
  const char *name, *units, *long_name;
  const char *dim; /* its dimension's name, e.g. "mode" */
  int n;
  const double *v; /* n values, borrowed for the call (the same on every rank) */
} kv_output_vector;

#define KV_OUTPUT_VECTORS 4

typedef struct {
  int has_time; /* 1: the record's time stamp is `time`, not the model time  */
  double time;
  int nfields, nscalars, nvectors;
  kv_output_field fields[KV_OUTPUT_MAX];
  kv_output_scalar scalars[KV_OUTPUT_MAX];
  kv_output_vector vectors[KV_OUTPUT_VECTORS];
} kv_output_list;

/* Append a field or a scalar to a list; KV_ERR_INVALID when full. */
int kv_output_add_field(kv_output_list *l, const char *name, const char *units,
                        const char *long_name, const kv_field *f);
int kv_output_add_scalar(kv_output_list *l, const char *name, const char *units,
                         const char *long_name, double value);

/* Append a vector of n values (the same length at every record); KV_ERR_INVALID when full. */
int kv_output_add_vector(kv_output_list *l, const char *name, const char *units,
                         const char *long_name, const char *dim, int n, const double *v);

/* Give the field or scalar name of a list its CF standard_name and cell_methods (either may be
 * NULL; borrowed constants). KV_ERR_INVALID when the list has no such name. */
int kv_output_describe(kv_output_list *l, const char *name, const char *standard_name,
                       const char *cell_methods);

typedef struct kv_h5_writer kv_h5_writer;

/* A named space axis with explicit coordinate values (e.g. lat, lon in degrees). */
typedef struct {
  const char *name;          /* "lat"                                                     */
  const char *units;         /* "degrees_north"                                           */
  const char *standard_name; /* "latitude"                                                */
  const char *long_name;
  const char *axis;     /* CF axis letter: "X", "Y", "Z"                             */
  const double *values; /* global coordinate values, one per cell (borrowed)         */
} kv_h5_axis;

typedef struct {
  const char *path;        /* final file name                                           */
  int overwrite;           /* 1: replace any file at path; 2: only one kelvin wrote      */
  const char *model;       /* root attribute "model"                                    */
  const char *title;       /* root attribute "title"                                    */
  const char *config_text; /* resolved configuration, stored verbatim                   */
  const char *coord_units; /* units of x, y, z (e.g. "m")                               */
  const char *time_units;  /* units of time (e.g. "s")                                  */
  const kv_h5_axis *axes;  /* one per grid axis, x first; NULL: x, y, z cell centres    */
  const char *calendar;    /* CF calendar attribute of time (e.g. "noleap"); NULL: none */
  double time_mean;        /* > 0: records are means over this long a period centred on
                              their time stamps: time_bnds (the variables that are means
                              say "time: mean" in their cell_methods)                     */
  const char *history;     /* CF history (one line per command that made the file); NULL */
  int deflate;             /* 1..9: deflate (gzip) level with the shuffle filter; 0: none */
  int float32;             /* store fields and series as float32 (computed in float64)  */
} kv_h5_writer_params;

/* Create "<path>.part" collectively on the grid's communicator, write root attributes and the
 * space coordinates. Creates missing directories. Fails with KV_ERR_EXISTS when path exists and
 * overwrite is off. Collective. Caller owns *out: close it with kv_h5_writer_close or discard it
 * with kv_h5_writer_free. */
int kv_h5_writer_create(const kv_grid *g, const kv_h5_writer_params *p, kv_h5_writer **out);

/* Append one time record: time t, every field and scalar of the list (the same names at every
 * call). Collective. */
int kv_h5_writer_append(kv_h5_writer *w, double t, const kv_output_list *l);

/* Number of time records written so far. */
long kv_h5_writer_records(const kv_h5_writer *w);

/* A scalar (0-d) variable name = v with units and long_name, e.g. a sweep case's varied
 * parameter, so that xarray concatenates case files along a new dimension without a manifest.
 * Collective. */
int kv_h5_writer_put_scalar(kv_h5_writer *w, const char *name, const char *units,
                            const char *long_name, double v);

/* Set a root attribute (number or text). Collective. */
int kv_h5_writer_attr_double(kv_h5_writer *w, const char *name, double v);
int kv_h5_writer_attr_text(kv_h5_writer *w, const char *name, const char *v);

/* Close and publish. With status == NULL the file gets status "complete" and is renamed to its
 * final path; otherwise the root attribute status is that text and the file is renamed to
 * "<stem>.<suffix>.h5" (e.g. "failed", "interrupted": its records are valid, only incomplete).
 * *kept_as (if given, size n) receives the name. Collective. Frees w in all cases. */
int kv_h5_writer_close(kv_h5_writer *w, const char *status, const char *suffix, char *kept_as,
                       size_t n);

/* Discard: close and delete the partial file. NULL is a no-op. Collective. */
void kv_h5_writer_free(kv_h5_writer *w);

/* ---------------------------------------------------------------- readers */

/* A whole dataset read as float64 (serial). */
typedef struct {
  int rank;
  long dims[8];
  long count;
  double *data;    /* owned; free with kv_h5_array_free */
  int is_volatile; /* the dataset is marked as differing between identical runs (wall time) */
} kv_h5_array;

/* Free the data of an array read by the functions below (NULL and an empty array are no-ops). */
void kv_h5_array_free(kv_h5_array *a);

/* Read dataset dset of file path entirely (any numeric type, converted to double). Errors:
 * KV_ERR_IO when the file does not exist, KV_ERR_FORMAT when it is not HDF5, is corrupt or has no
 * such numeric dataset. Not collective (opens the file on the calling rank only). */
int kv_h5_read_array(const char *path, const char *dset, kv_h5_array *out);

/* Read the first count values of dataset dset (row-major; count a whole number of its leading
 * rows) straight into dst, without a buffer of its own: for large arrays read once (a ROM's
 * basis). KV_ERR_FORMAT naming the file and dataset when it holds fewer. Not collective. */
int kv_h5_read_into(const char *path, const char *dset, long count, double *dst);

/* Read into distributed field f the dataset dset of path: either (z,y,x)-shaped like the grid or
 * with a leading time dimension, in which case record `record` is read (-1: the last). Fails when
 * the shape does not match the grid. Collective over the field's grid. */
int kv_h5_read_field(const char *path, const char *dset, long record, kv_field *f);

/* kv_h5_read_field for an external input (a land mask, a conductivity, an initial state), its
 * cells matched by coordinates, not by position: where the dataset has coordinate variables
 * (dimension scales), each grid cell takes the file cell at its coordinate, so a descending
 * latitude (ERA5, many CMIP files) or longitudes in -180..180 are read right, and a file on
 * another grid is refused naming both ranges; without coordinates the shape alone must match.
 * axes: the grid's named axes, x first (NULL: its cell centres x, y, z). want_units (NULL: not
 * checked): exact conversions are made ("%" to "1", K and degC), other units refused naming
 * both. Collective. */
int kv_h5_read_field_matched(const char *path, const char *dset, long record, kv_field *f,
                             const kv_h5_axis *axes, const char *want_units);

/* One column of a table: numbers (num) or texts (text), exactly one of them non-NULL. */
typedef struct {
  const char *name;
  const char *units; /* NULL: none */
  const char *long_name;
  const double *num;
  const char *const *text;
} kv_h5_column;

/* Write a table as a netCDF-style file: a dimension scale `dim` holding ids, and one 1-D dataset
 * per column along it (float64, or variable-length UTF-8 strings). Written to "<path>.part" and
 * renamed, so the file is replaced atomically. Serial: one process calls it. */
int kv_h5_write_table(const char *path, const char *title, const char *dim, const long *ids,
                      long nrows, const kv_h5_column *cols, int ncols);

/* Whether path is a complete output of a finished run: it opens as HDF5 (in a probe process
 * first, so a corrupt file cannot crash us), has a time axis with at least one record, the
 * "steps" attribute a finished run writes last, and, when config is not NULL, a stored
 * configuration equal to config (both ignoring their first, comment, line). KV_OK when complete;
 * otherwise KV_ERR_FORMAT or KV_ERR_IO with the reason. Not collective. */
int kv_h5_check_complete(const char *path, const char *config);

/* ---------------------------------------------------------------- stores (model files) */

/* A serial HDF5 file of named float64 arrays and attributes, for model files. Names with slashes
 * live in groups (created as needed); "/" is the root for attributes. */
typedef struct kv_h5_store kv_h5_store;

/* Create a store for writing: the file is "<path>.part" until kv_h5_store_close(s, 1) renames
 * it, so a crash never leaves a half model under the final name. *out owned by the caller (close
 * it). KV_ERR_IO when the file cannot be created. Not collective. */
int kv_h5_store_create(const char *path, kv_h5_store **out);

/* Open an existing store read-only. KV_ERR_IO / KV_ERR_FORMAT (naming the file) when it cannot
 * be opened as HDF5. Not collective. */
int kv_h5_store_open(const char *path, kv_h5_store **out);

/* Close and free s (NULL is a no-op returning KV_OK). When writing, publish == 1 renames the
 * file to its final name and 0 deletes it. Returns the first error of closing or renaming, so a
 * failed write is never reported as success. */
int kv_h5_store_close(kv_h5_store *s, int publish);

/* Write a float64 dataset name (groups created as needed) of rank dims (rank 0: a scalar), from
 * v (row-major). Each axis gets a netCDF dimension of its own ("<name>_dim<k>", no coordinate
 * values), so netCDF tools see named dimensions, never phony ones. KV_ERR_IO naming the file and
 * dataset on failure. */
int kv_h5_store_put(kv_h5_store *s, const char *name, int rank, const long *dims, const double *v);

/* kv_h5_store_put with named dimensions: axis k is the root dimension dimnames[k] (a coordinate
 * made by kv_h5_store_coord, or a plain netCDF dimension created on first use; NULL entries: the
 * axis's own). KV_ERR_FORMAT when a named dimension exists with another length. */
int kv_h5_store_put_dims(kv_h5_store *s, const char *name, int rank, const long *dims,
                         const double *v, const char *const *dimnames);

/* A coordinate variable name (a 1-D dimension scale, netCDF's coordinate of dimension name):
 * values (NULL: 0, 1, ..., n - 1) with CF units, standard_name and long_name (each may be NULL).
 * KV_ERR_IO on failure. */
int kv_h5_store_coord(kv_h5_store *s, const char *name, long n, const double *values,
                      const char *units, const char *standard_name, const char *long_name);

/* Read dataset name whole into *out (caller frees with kv_h5_array_free). KV_ERR_FORMAT naming
 * the file and dataset when it is missing or not numeric. */
int kv_h5_store_get(kv_h5_store *s, const char *name, kv_h5_array *out);

/* Set a text / number attribute name of object obj ("/" for the root; a group is created when
 * obj does not exist). KV_ERR_IO naming the file, object and attribute on failure. */
int kv_h5_store_put_text(kv_h5_store *s, const char *obj, const char *name, const char *v);
int kv_h5_store_put_number(kv_h5_store *s, const char *obj, const char *name, double v);

/* Read a text attribute (*out malloc'd, the caller frees it) / a number attribute. Missing:
 * KV_ERR_FORMAT naming the file, object and attribute. */
int kv_h5_store_get_text(kv_h5_store *s, const char *obj, const char *name, char **out);
int kv_h5_store_get_number(kv_h5_store *s, const char *obj, const char *name, double *out);

/* 1 if the dataset or group name exists, else 0 (never an error). */
int kv_h5_store_has(kv_h5_store *s, const char *name);

/* Put every later name and object of the store under group prefix ("/expert_0"; NULL or "":
 * none), so that a part written by code that names absolute paths can sit beside another of
 * its kind (the experts of a mixture). */
void kv_h5_store_set_prefix(kv_h5_store *s, const char *prefix);

/* Read the text attribute `name` of the file's root group into buf (size n). KV_ERR_FORMAT when
 * absent or not text. Not collective. */
int kv_h5_read_root_text(const char *path, const char *name, char *buf, size_t n);

/* Names of the numeric datasets in a file, recursively ("T", "diagnostics/steps"), in a
 * newline-separated malloc'd string. Not collective. */
int kv_h5_list_datasets(const char *path, char **names);

/* Check that the HDF5 library can read path without crashing: the file's structure and
 * attributes (and, with data = 1, every numeric dataset) are read in a forked child process. The
 * HDF5 library validates little of what it reads, and some corruptions (a damaged global heap, a
 * broken chunk index) make it crash; the child's death is reported here as KV_ERR_FORMAT instead.
 * Files with kelvin's checksums have checksummed chunk indexes, so data = 1 reads no data of
 * theirs; data = 2 walks the whole file as kv_h5_verify does. Ordinary read errors are left to
 * the real reads. Not collective; call before serial reads. */
int kv_h5_probe(const char *path, int data);

/* Verify every checksum of a file kelvin wrote (kelvin info --verify): after the probe, every
 * attribute and every value of every dataset is read, so that the HDF5 library checks each
 * metadata checksum and each Fletcher32 chunk. Counts the datasets and attributes read;
 * *checksummed = 0 for a file written before kelvin stored checksums (readable, unverifiable).
 * KV_ERR_FORMAT naming the file and the first damaged object. Not collective. */
int kv_h5_verify(const char *path, long *datasets, long *attributes, int *checksummed);

/* Print a human-readable description of a file (datasets, shapes, dims, units, attributes, stored
 * config) to stream. Not collective. */
int kv_h5_describe(const char *path, void *stream);

/* Set safe MPI-IO defaults in the environment; call before MPI_Init. Open MPI 4.1's OMPIO does
 * read-modify-write "data sieving" on non-contiguous writes, and ranks writing neighbouring blocks
 * of one HDF5 chunk then race and lose each other's data (seen with Debian 12's Open MPI 4.1.4 at
 * 4 ranks; cf. open-mpi/ompi#10546 for the read side). This turns it off unless the user set the
 * variables. Other MPI libraries ignore them. Not collective. */
void kv_h5_mpi_defaults(void);

/* Silence HDF5's own error stack printing (we report errors ourselves). Idempotent. */
void kv_h5_quiet(void);

#endif
