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

/* h5_check.c. Select the HDF5 1.10 file format on a file-access list: every piece of metadata
 * (superblock, object headers with their attributes and compact data, chunk indexes) then
 * carries a checksum the library verifies on each read. Not collective. */
int kv_h5_fapl_checksums(hid_t fapl);
/* h5_check.c. Keep the attributes (and, for group and file creation lists, the links) of the
 * objects made with ocpl in their checksummed object header instead of an unchecksummed heap. */
int kv_h5_compact_meta(hid_t ocpl);
/* h5_check.c. A group-creation list: creation order tracked (netCDF-4), compact links and
 * attributes. The caller closes it; negative on failure. */
hid_t kv_h5_gcpl(void);
/* h5_check.c. A dataset-creation list for a fixed-size dataset (rank dims, elem bytes per value)
 * whose data are verified on reading: up to 8 KiB compact (inside the checksummed object
 * header), larger chunked by whole leading rows with the Fletcher32 filter; empty datasets get
 * the default layout. The caller closes it; negative on failure. */
hid_t kv_h5_dcpl_checked(int rank, const hsize_t *dims, size_t elem);
/* h5_check.c. Write the whole of a fixed-size dataset: every rank when it is compact (metadata
 * every rank changes alike), else rank 0 with the others taking part with empty selections.
 * Collective when the file is open with MPI-IO; negative on failure. */
herr_t kv_h5_write_whole(hid_t d, hid_t memtype, hid_t dxpl, int rank, const void *v);
/* h5_check.c. Mark a file as checksummed (the root attribute kelvin_checksums). */
int kv_h5_mark_checksums(hid_t file);
/* h5_check.c. 1 if the file carries the checksum mark. */
int kv_h5_has_checksums(hid_t file);
/* h5_check.c. Warn (rank 0) that a kelvin file without the mark cannot be verified. */
void kv_h5_notice_unchecked(hid_t file, const char *path);
/* h5_check.c. 1 if the HDF5 error stack of the last failed call reports a checksum mismatch. */
int kv_h5_damaged(void);
/* h5_check.c. Close a file being written. keep = 1: flush it, agree across comm (MPI_COMM_NULL:
 * this process alone) and close; when the flush failed anywhere (a full disk), or keep = 0 (the
 * file will be removed), its space is given back first (truncated to nothing) so that the close,
 * which HDF5 cannot survive failing, has room. Collective over comm; KV_ERR_IO when the file is
 * not complete. */
int kv_h5_close_file(hid_t file, int keep, MPI_Comm comm);
/* h5_check.c. KV_ERR_IO (naming path) unless the file system holding path has room for bytes
 * more (and HDF5's metadata beside them). Checked before a collective write, which HDF5 cannot
 * leave cleanly on one rank alone. Not collective (rank 0 calls it; agree after). */
int kv_h5_room(const char *path, double bytes);
/* h5_check.c. KV_OK when path is absent, empty or an HDF5 file kelvin wrote (a root attribute
 * kelvin_version or kelvin_checksums, or a history naming kelvin), so that it may be replaced;
 * KV_ERR_EXISTS naming path and its role `what` otherwise (links, directories and other files
 * are never replaced). Not collective. */
int kv_h5_replaceable(const char *path, const char *what);
/* h5_check.c. kv_h5_verify without the probe (what the probe process itself runs). */
int kv_h5_verify_walk(const char *path, long *datasets, long *attributes, int *checksummed);
/* h5_check.c. The operating system's reason on HDF5's error stack after a failed call, as
 * ": No space left on device" (to append to a message), or "". Borrowed until the next call. */
const char *kv_h5_os_reason(void);
/* h5_check.c. After a failed read of object obj in path: KV_ERR_FORMAT saying the file is
 * damaged (a checksum mismatch) or truncated/corrupt, naming both. */
int kv_h5_read_failed(const char *path, const char *obj);

#endif
