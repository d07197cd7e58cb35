/* kelvin — sweep manifests: one row per case (id, every varied value, status, wall time, output
 * file, error message) as CSV and as an HDF5 table of 1-D datasets along a "case" dimension, both
 * replaced atomically (written beside, then renamed) so a reader or a crash never sees half a
 * manifest.
 */
#ifndef KV_MANIFEST_H
#define KV_MANIFEST_H

#include <stddef.h>

typedef enum { KV_CASE_PENDING = 0, KV_CASE_DONE = 1, KV_CASE_FAILED = 2 } kv_case_status;

#define KV_MANIFEST_ERRLEN 480
/* Most scalar responses a manifest records per case. */
#define KV_MANIFEST_RESP 48

/* The state of one case. Plain data (it travels through MPI windows as bytes). */
typedef struct {
  int status;                     /* kv_case_status                                  */
  int skipped;                    /* done by an earlier run (found by --resume)       */
  double wall;                    /* seconds; 0 when not run                          */
  char error[KV_MANIFEST_ERRLEN]; /* failed: what went wrong                          */
  double resp[KV_MANIFEST_RESP];  /* done: the responses (kv_manifest.resp order)      */
} kv_case_record;

/* A manifest to write: nrows rows; values is nrows x nvars texts (row-major). */
typedef struct {
  int nvars;
  const char *const *vars;
  long nrows;
  const long *ids;
  const char *const *values;
  const char *const *outputs; /* output file names (relative to the directory)      */
  const kv_case_record *recs;
  const char *title; /* stored as an attribute of manifest.h5             */
  int nresp;         /* scalar responses of the done cases: columns after output */
  const char *const *resp;
} kv_manifest;

/* Name of a status ("done", "failed", "pending"). */
const char *kv_case_status_name(int status);

/* Write "<stem>.csv" and, if with_h5, "<stem>.h5" (stem: a path without extension), each
 * with the columns case, the varied keys, status, wall_time_s, output, the responses (empty
 * where a case is not done) and error,
 * atomically. Creating an HDF5 file costs milliseconds, so a sweep rewrites the CSV after every
 * case and the HDF5 table at most once a second and at the end. Not collective. */
int kv_manifest_write(const char *stem, const kv_manifest *m, int with_h5);

/* Write the done cases of m as Dakota's annotated tabular file path (atomically): a header
 * "%eval_id interface <varied keys> <responses>" and one row per done case, eval_id being the
 * case number + 1 (as in the case's Dakota parameters file) and interface NO_ID. Text values with
 * blanks have them replaced by '_'. Not collective. */
int kv_manifest_write_dakota(const char *path, const kv_manifest *m);

/* Read the status, wall time, error and responses (the columns named resp[0..nresp-1]; NaN where
 * absent) of the rows of "<stem>.csv" into recs[id] for
 * 0 <= id < ncases (other rows ignored); found[id] is set to 1 for each row read. A missing file
 * is KV_ERR_IO; a malformed one KV_ERR_FORMAT naming the line. Not collective. */
int kv_manifest_read(const char *csv_path, long ncases, int nresp, const char *const *resp,
                     kv_case_record *recs, char *found);

/* A manifest read back whole: its header and every row's fields as text. */
typedef struct {
  int ncols;
  char **cols; /* header names                                           */
  long nrows;
  char **cells; /* nrows x ncols texts, row-major                          */
  int *lines;   /* the file line of each row (messages)                    */
  int icase, istatus, iwall, ioutput, ierror; /* the fixed columns                   */
} kv_manifest_table;

/* Read "<dir>/manifest.csv"-style file csv_path whole: the one manifest reader (sweeps, resume,
 * training data, validation). A missing file is KV_ERR_IO; a file without the fixed columns or
 * with a ragged row KV_ERR_FORMAT naming the line. *t is the caller's (kv_manifest_table_free).
 * Not collective. */
int kv_manifest_load(const char *csv_path, kv_manifest_table *t);

/* Free the contents; a zeroed table is a no-op. */
void kv_manifest_table_free(kv_manifest_table *t);

/* The index of column name, or -1; the text of a cell (borrowed). */
int kv_manifest_column(const kv_manifest_table *t, const char *name);
const char *kv_manifest_cell(const kv_manifest_table *t, long row, int col);

/* The status code of a status name ("done" -> KV_CASE_DONE), or -1. */
int kv_manifest_status(const char *name);

#endif
