/* kelvin — helpers the HDF5 files of io/ share (h5.c: the writer; h5_read.c: readers,
 * description, probe; h5_store.c: tables and model stores). Not part of the public API. */
#ifndef KV_H5_IMPL_H
#define KV_H5_IMPL_H

#include <hdf5.h>
#include <mpi.h>

#include "core/field.h"

/* Write a text / double attribute of obj (replacing it). KV_ERR_IO on failure. */
int kv_h5_attr_text(hid_t obj, const char *name, const char *v);
int kv_h5_attr_double(hid_t obj, const char *name, double v);

/* Create the directories of a file path (mkdir -p of its dirname). */
int kv_h5_mkdir_p(const char *path);

/* A file-access property list for MPI-IO on comm, or plain POSIX I/O while MPI is not running (a
 * serial grid); negative on failure. */
hid_t kv_h5_fapl_mpio(MPI_Comm comm);

/* Records per chunk of a time series. */
#define KV_H5_SERIES_CHUNK 256

/* h5_cf.c. The netCDF dimension name of length n without coordinate values (created once per
 * file, else opened): the netCDF-4 mark "This is a netCDF dimension but not a netCDF variable",
 * so that netCDF-C and h5netcdf read a named dimension (never phony_dim_N). Collective when the
 * file is open with MPI-IO. */
int kv_h5_cf_dim(hid_t file, const char *name, long n, hid_t *out);
/* h5_cf.c. <name>_bnds (n, 2) beside coordinate coord (values x): the cell edges (midpoints, the
 * outer ones half a spacing out, latitudes within the poles), and coord's "bounds" attribute.
 * Collective (rank 0 writes). */
int kv_h5_cf_bounds(hid_t file, hid_t dxpl, int rank, hid_t coord, const char *name, long n,
                    const double *x, int latitude);
/* Create time_bnds (time, bnds) for records that are means, attached to dtime. Collective. */
int kv_h5_cf_time_bounds(hid_t file, hid_t dtime, hid_t *out);
/* Record r of time_bnds: [t - period/2, t + period/2]. Collective (rank 0 writes). */
int kv_h5_cf_time_bounds_write(hid_t dbnds, hid_t dxpl, int rank, long r, double t, double period);

/* 1 if dataset d is a netCDF dimension without coordinate values (a marker, not data). */
int kv_h5_is_pure_dim(hid_t d);

/* Create the groups of a slash-separated dataset name. */
int kv_h5_ensure_groups(hid_t file, const char *name);

/* Open path read-only, reporting a missing, unreadable or non-HDF5 file by name. */
int kv_h5_open_ro(const char *path, hid_t fapl, hid_t *file);

/* Open dataset dset of file as a numeric array of rank <= 8 (its dims into dims). */
int kv_h5_open_numeric(hid_t file, const char *path, const char *dset, hid_t *d, int *rank,
                       hsize_t *dims);

/* Select this rank's block of field f in dataset d (lead = 1: at time record `record` of a
 * (time, ...) dataset): the file space *fs and memory space *ms (the caller closes both). */
int kv_h5_select_block(hid_t d, const kv_field *f, int lead, long record, hid_t *fs, hid_t *ms);

/* A text attribute (fixed or variable length) as a malloc'd string, or NULL. */
char *kv_h5_read_text_attr(hid_t obj, const char *name);

#endif
