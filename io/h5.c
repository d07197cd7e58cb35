#include "io/h5.h"

#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "core/version.h"

#define MAXVARS (2 * KV_OUTPUT_MAX)
/* Keep one chunk (one time record of a field) under this many bytes; HDF5 allows < 4 GiB. */
#define KV_H5_MAX_CHUNK_BYTES (512L * 1024 * 1024)
#define KV_H5_SERIES_CHUNK 256

typedef struct {
  char name[128];
  hid_t d;
  int is_field;
} var;

struct kv_h5_writer {
  const kv_grid *g;
  MPI_Comm comm;
  int rank;
  char path[PATH_MAX];
  char tmp[PATH_MAX + 8];
  hid_t file, dxpl;
  hid_t dtime;
  hid_t dcoord[KV_MAXDIM];
  long nrec;
  int nvars;
  var vars[MAXVARS];
};

void kv_h5_mpi_defaults(void) {
  setenv("OMPI_MCA_fbtl_posix_write_datasieving", "0", 0);
  setenv("OMPI_MCA_fbtl_posix_read_datasieving", "0", 0);
}

void kv_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---------------------------------------------------------------- output lists */

int kv_output_add_field(kv_output_list *l, const char *name, const char *units,
                        const char *long_name, const kv_field *f) {
  if (l->nfields == KV_OUTPUT_MAX) {
    return KV_ERROR(KV_ERR_INVALID, "output list full (%d fields)", KV_OUTPUT_MAX);
  }
  l->fields[l->nfields++] = (kv_output_field){name, units, long_name, f};
  return KV_OK;
}

int kv_output_add_scalar(kv_output_list *l, const char *name, const char *units,
                         const char *long_name, double value) {
  if (l->nscalars == KV_OUTPUT_MAX) {
    return KV_ERROR(KV_ERR_INVALID, "output list full (%d scalars)", KV_OUTPUT_MAX);
  }
  l->scalars[l->nscalars++] = (kv_output_scalar){name, units, long_name, value, 0};
  return KV_OK;
}

/* ---------------------------------------------------------------- small helpers */

static int attr_text(hid_t obj, const char *name, const char *v) {
  hid_t t = H5Tcopy(H5T_C_S1);
  size_t n = strlen(v);
  H5Tset_size(t, n > 0 ? n : 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  H5Tset_cset(t, H5T_CSET_UTF8);
  if (n == 0) {
    H5Tset_strpad(t, H5T_STR_NULLPAD);
  }
  hid_t s = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) {
    H5Adelete(obj, name);
  }
  hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, t, n > 0 ? v : "");
  if (a >= 0) H5Aclose(a);
  H5Sclose(s);
  H5Tclose(t);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

static int attr_double(hid_t obj, const char *name, double v) {
  hid_t s = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) {
    H5Adelete(obj, name);
  }
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(s);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return -1;
      }
      *p = '/';
    }
  }
  return 0;
}

static hid_t fapl_mpio(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  H5Pset_all_coll_metadata_ops(fapl, 1);
  H5Pset_coll_metadata_write(fapl, 1);
  return fapl;
}

/* Create parent groups of a "a/b/name" dataset path. */
static int ensure_groups(hid_t file, const char *name) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf; *p; p++) {
    if (*p != '/') {
      continue;
    }
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
      H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
      hid_t gr = H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
      H5Pclose(gcpl);
      if (gr < 0) {
        return KV_ERROR(KV_ERR_IO, "hdf5: cannot create group %s", buf);
      }
      H5Gclose(gr);
    }
    *p = '/';
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- writer */

static int write_coords(kv_h5_writer *w, const char *units, const kv_h5_axis *ax) {
  int nd = kv_grid_ndims(w->g);
  const long *n = kv_grid_global_n(w->g);
  static const char *const names[] = {"x", "y", "z"}, *const axes[] = {"X", "Y", "Z"};
  for (int d = 0; d < KV_MAXDIM; d++) {
    w->dcoord[d] = H5I_INVALID_HID;
  }
  for (int d = 0; d < nd; d++) {
    hsize_t dim = (hsize_t)n[d];
    hid_t s = H5Screate_simple(1, &dim, NULL);
    const char *name = ax ? ax[d].name : names[d];
    hid_t ds = H5Dcreate2(w->file, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double *x = malloc((size_t)n[d] * sizeof *x);
    int rc = (ds < 0 || !x) ? KV_ERROR(KV_ERR_IO, "hdf5: cannot create coordinate %s", name) : KV_OK;
    if (rc == KV_OK) {
      for (long i = 0; i < n[d]; i++) {
        x[i] = ax ? ax[d].values[i] : kv_grid_coord(w->g, d, i);
      }
      hid_t ms = H5Screate_simple(1, &dim, NULL);
      if (w->rank != 0) {
        H5Sselect_none(ms);
        H5Sselect_none(s);
      }
      if (H5Dwrite(ds, H5T_NATIVE_DOUBLE, ms, s, w->dxpl, x) < 0 || H5DSset_scale(ds, name) < 0) {
        rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write coordinate %s", name);
      }
      H5Sclose(ms);
    }
    free(x);
    H5Sclose(s);
    if (rc == KV_OK && ax) {
      rc = attr_text(ds, "units", ax[d].units);
      if (rc == KV_OK) rc = attr_text(ds, "standard_name", ax[d].standard_name);
      if (rc == KV_OK) rc = attr_text(ds, "long_name", ax[d].long_name);
      if (rc == KV_OK) rc = attr_text(ds, "axis", ax[d].axis);
    } else if (rc == KV_OK) {
      char ln[64];
      snprintf(ln, sizeof ln, "%s coordinate of cell centres", names[d]);
      rc = attr_text(ds, "units", units);
      if (rc == KV_OK) rc = attr_text(ds, "long_name", ln);
      if (rc == KV_OK) rc = attr_text(ds, "axis", axes[d]);
    }
    w->dcoord[d] = ds;
    KV_CHECK(rc);
  }
  return KV_OK;
}

static int write_time_axis(kv_h5_writer *w, const char *units, const char *calendar) {
  hsize_t dim = 0, maxd = H5S_UNLIMITED, chunk = KV_H5_SERIES_CHUNK;
  hid_t s = H5Screate_simple(1, &dim, &maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(pl, 1, &chunk);
  w->dtime = H5Dcreate2(w->file, "time", H5T_IEEE_F64LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
  H5Pclose(pl);
  H5Sclose(s);
  if (w->dtime < 0 || H5DSset_scale(w->dtime, "time") < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot create the time axis");
  }
  KV_CHECK(attr_text(w->dtime, "units", units));
  KV_CHECK(attr_text(w->dtime, "standard_name", "time"));
  KV_CHECK(attr_text(w->dtime, "long_name", "time"));
  if (calendar) KV_CHECK(attr_text(w->dtime, "calendar", calendar));
  return attr_text(w->dtime, "axis", "T");
}

static void iso_now(char *buf, size_t n) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int writer_open(kv_h5_writer *w, const kv_h5_writer_params *p) {
  hid_t fapl = fapl_mpio(w->comm);
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  /* netCDF-4 expects creation order to be tracked; it also lets ncdump list in our order. */
  H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (w->file < 0) {
    return KV_ERROR(KV_ERR_IO, "cannot create output file '%s'", w->tmp);
  }
  w->dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(w->dxpl, H5FD_MPIO_COLLECTIVE);
  char now[64];
  iso_now(now, sizeof now);
  KV_CHECK(attr_text(w->file, "Conventions", "CF-1.8"));
  KV_CHECK(attr_text(w->file, "title", p->title ? p->title : "kelvin output"));
  KV_CHECK(attr_text(w->file, "institution", "kelvin"));
  KV_CHECK(attr_text(w->file, "source", "kelvin " KV_VERSION));
  KV_CHECK(attr_text(w->file, "kelvin_version", KV_VERSION));
  KV_CHECK(attr_text(w->file, "model", p->model ? p->model : "unknown"));
  KV_CHECK(attr_text(w->file, "created", now));
  KV_CHECK(attr_text(w->file, "config", p->config_text ? p->config_text : ""));
  KV_CHECK(attr_text(w->file, "status", "running"));
  KV_CHECK(write_coords(w, p->coord_units ? p->coord_units : "m", p->axes));
  return write_time_axis(w, p->time_units ? p->time_units : "s", p->calendar);
}

int kv_h5_writer_create(const kv_grid *g, const kv_h5_writer_params *p, kv_h5_writer **out) {
  *out = NULL;
  kv_h5_quiet();
  kv_h5_writer *w = calloc(1, sizeof *w);
  MPI_Comm comm = kv_grid_comm(g);
  int rc = KV_OK;
  if (!w) {
    rc = KV_ERROR(KV_ERR_NOMEM, "hdf5: out of memory");
  } else if (strlen(p->path) + 1 > sizeof w->path) {
    rc = KV_ERROR(KV_ERR_CONFIG, "output path too long: %s", p->path);
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    free(w);
    return rc;
  }
  w->g = g;
  w->comm = comm;
  MPI_Comm_rank(comm, &w->rank);
  w->file = w->dxpl = w->dtime = H5I_INVALID_HID;
  snprintf(w->path, sizeof w->path, "%s", p->path);
  snprintf(w->tmp, sizeof w->tmp, "%s.part", p->path);
  if (w->rank == 0) {
    struct stat st;
    if (stat(w->path, &st) == 0 && !p->overwrite) {
      rc = KV_ERROR(KV_ERR_EXISTS,
                    "output '%s' exists; set run.overwrite = true to replace it, or choose "
                    "another run.output",
                    w->path);
    } else if (mkdir_p(w->path) != 0) {
      rc = KV_ERROR(KV_ERR_IO, "cannot create the directory of '%s': %s", w->path, strerror(errno));
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    rc = kv_status_agree(comm, writer_open(w, p));
  }
  if (rc != KV_OK) {
    kv_h5_writer_free(w);
    return rc;
  }
  *out = w;
  return KV_OK;
}

static int attach_and_describe(kv_h5_writer *w, hid_t d, int is_field, const char *units,
                               const char *long_name) {
  int nd = kv_grid_ndims(w->g);
  if (H5DSattach_scale(d, w->dtime, 0) < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot attach the time axis");
  }
  if (is_field) {
    for (int d2 = 0; d2 < nd; d2++) {
      /* file dimension index of axis d2: time first, then z, y, x */
      if (H5DSattach_scale(d, w->dcoord[d2], (unsigned)(nd - d2)) < 0) {
        return KV_ERROR(KV_ERR_IO, "hdf5: cannot attach coordinate %d", d2);
      }
    }
  }
  if (units) KV_CHECK(attr_text(d, "units", units));
  if (long_name) KV_CHECK(attr_text(d, "long_name", long_name));
  return KV_OK;
}

static int create_var(kv_h5_writer *w, const char *name, int is_field, const char *units,
                      const char *long_name, int is_volatile) {
  if (w->nvars == MAXVARS) {
    return KV_ERROR(KV_ERR_INVALID, "hdf5: too many variables");
  }
  KV_CHECK(ensure_groups(w->file, name));
  int nd = kv_grid_ndims(w->g);
  const long *n = kv_grid_global_n(w->g);
  hsize_t dims[4], maxd[4], chunk[4];
  int rank = 1;
  dims[0] = 0;
  maxd[0] = H5S_UNLIMITED;
  chunk[0] = is_field ? 1 : KV_H5_SERIES_CHUNK;
  if (is_field) {
    rank = nd + 1;
    for (int d = 0; d < nd; d++) {
      dims[nd - d] = maxd[nd - d] = chunk[nd - d] = (hsize_t)n[d];
    }
    /* Halve the slowest spatial extent of the chunk until it fits the chunk-size limit. */
    for (int c = 1; c < rank; c++) {
      for (;;) {
        hsize_t bytes = 8;
        for (int q = 1; q < rank; q++) bytes *= chunk[q];
        if (bytes <= (hsize_t)KV_H5_MAX_CHUNK_BYTES || chunk[c] == 1) break;
        chunk[c] = (chunk[c] + 1) / 2;
      }
    }
  }
  hid_t s = H5Screate_simple(rank, dims, maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(pl, rank, chunk);
  H5Pset_fill_time(pl, H5D_FILL_TIME_NEVER);
  H5Pset_attr_creation_order(pl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t d = H5Dcreate2(w->file, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
  H5Pclose(pl);
  H5Sclose(s);
  if (d < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot create dataset %s", name);
  }
  var *v = &w->vars[w->nvars++];
  snprintf(v->name, sizeof v->name, "%s", name);
  v->d = d;
  v->is_field = is_field;
  KV_CHECK(attach_and_describe(w, d, is_field, units, long_name));
  return is_volatile ? attr_text(d, "kelvin_volatile", "true") : KV_OK;
}

/* Grow the leading (time) dimension of d to nrec records. Collective. */
static int extend(hid_t d, long nrec) {
  hid_t s = H5Dget_space(d);
  hsize_t dims[4];
  H5Sget_simple_extent_dims(s, dims, NULL);
  H5Sclose(s);
  dims[0] = (hsize_t)nrec;
  return H5Dset_extent(d, dims) < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot extend a dataset") : KV_OK;
}

/* Write one value at record r from rank 0 (others take part with empty selections). */
static int write_series_value(kv_h5_writer *w, hid_t d, long r, double v) {
  KV_CHECK(extend(d, r + 1));
  hid_t fs = H5Dget_space(d);
  hsize_t one = 1, start = (hsize_t)r;
  hid_t ms = H5Screate_simple(1, &one, NULL);
  if (w->rank == 0) {
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
  } else {
    H5Sselect_none(fs);
    H5Sselect_none(ms);
  }
  herr_t e = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, &v);
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write a time-series value") : KV_OK;
}

/* The file and memory selections of this rank's block of field f: in the file, record `record`
 * of a dataset with `lead` leading time dimensions (0 or 1) and the grid's (z, y, x) after it; in
 * memory, the interior of the ghosted local array. The caller closes *fs and *ms. */
static void select_block(hid_t d, const kv_field *f, int lead, long record, hid_t *fs, hid_t *ms) {
  const kv_grid *g = kv_field_grid(f);
  int nd = kv_grid_ndims(g);
  const long *nloc = kv_grid_local_n(g), *off = kv_grid_offset(g), *m = kv_field_extent(f);
  const int *gh = kv_field_ghost(f);
  hsize_t fstart[4] = {0, 0, 0, 0}, fcount[4] = {1, 1, 1, 1}, mdims[3], mstart[3], mcount[3];
  if (lead) {
    fstart[0] = (hsize_t)record;
  }
  for (int a = 0; a < nd; a++) {
    int c = nd - 1 - a; /* C-order position of axis a */
    fstart[lead + c] = (hsize_t)off[a];
    fcount[lead + c] = (hsize_t)nloc[a];
    mdims[c] = (hsize_t)m[a];
    mstart[c] = (hsize_t)gh[a];
    mcount[c] = (hsize_t)nloc[a];
  }
  *fs = H5Dget_space(d);
  H5Sselect_hyperslab(*fs, H5S_SELECT_SET, fstart, NULL, fcount, NULL);
  *ms = H5Screate_simple(nd, mdims, NULL);
  H5Sselect_hyperslab(*ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
}

static int write_field_record(kv_h5_writer *w, hid_t d, long r, const kv_field *f) {
  KV_CHECK(extend(d, r + 1));
  hid_t fs, ms;
  select_block(d, f, 1, r, &fs, &ms);
  herr_t e = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, kv_field_data_const(f));
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write a field record") : KV_OK;
}

static int do_append(kv_h5_writer *w, double t, const kv_output_list *l) {
  if (w->nrec == 0) {
    for (int i = 0; i < l->nfields; i++) {
      KV_CHECK(create_var(w, l->fields[i].name, 1, l->fields[i].units, l->fields[i].long_name, 0));
    }
    for (int i = 0; i < l->nscalars; i++) {
      KV_CHECK(create_var(w, l->scalars[i].name, 0, l->scalars[i].units, l->scalars[i].long_name,
                           l->scalars[i].is_volatile));
    }
  } else if (w->nvars != l->nfields + l->nscalars) {
    return KV_ERROR(KV_ERR_INVALID, "hdf5: the output list changed between records");
  }
  long r = w->nrec;
  KV_CHECK(write_series_value(w, w->dtime, r, t));
  for (int i = 0; i < l->nfields; i++) {
    KV_CHECK(write_field_record(w, w->vars[i].d, r, l->fields[i].field));
  }
  for (int i = 0; i < l->nscalars; i++) {
    KV_CHECK(write_series_value(w, w->vars[l->nfields + i].d, r, l->scalars[i].value));
  }
  w->nrec++;
  return KV_OK;
}

int kv_h5_writer_append(kv_h5_writer *w, double t, const kv_output_list *l) {
  return kv_status_agree(w->comm, do_append(w, t, l));
}

long kv_h5_writer_records(const kv_h5_writer *w) { return w->nrec; }

int kv_h5_writer_attr_double(kv_h5_writer *w, const char *name, double v) {
  return kv_status_agree(w->comm, attr_double(w->file, name, v));
}

int kv_h5_writer_attr_text(kv_h5_writer *w, const char *name, const char *v) {
  return kv_status_agree(w->comm, attr_text(w->file, name, v));
}

static void close_handles(kv_h5_writer *w) {
  for (int i = 0; i < w->nvars; i++) {
    H5Dclose(w->vars[i].d);
  }
  w->nvars = 0;
  for (int d = 0; d < KV_MAXDIM; d++) {
    if (w->dcoord[d] >= 0) H5Dclose(w->dcoord[d]);
    w->dcoord[d] = H5I_INVALID_HID;
  }
  if (w->dtime >= 0) H5Dclose(w->dtime);
  if (w->dxpl >= 0) H5Pclose(w->dxpl);
  w->dtime = w->dxpl = H5I_INVALID_HID;
}

int kv_h5_writer_close(kv_h5_writer *w, const char *status, const char *suffix, char *kept_as,
                       size_t n) {
  int rc = attr_text(w->file, "status", status ? status : "complete");
  close_handles(w);
  if (H5Fclose(w->file) < 0 && rc == KV_OK) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot close '%s'", w->tmp);
  }
  w->file = H5I_INVALID_HID;
  rc = kv_status_agree(w->comm, rc);
  char final[PATH_MAX + 16];
  if (status) {
    size_t len = strlen(w->path);
    int has_ext = len > 3 && strcmp(w->path + len - 3, ".h5") == 0;
    snprintf(final, sizeof final, "%.*s.%s.h5", (int)(has_ext ? len - 3 : len), w->path,
             suffix ? suffix : "failed");
  } else {
    snprintf(final, sizeof final, "%s", w->path);
  }
  if (w->rank == 0) {
    if (rc == KV_OK && rename(w->tmp, final) != 0) {
      rc = KV_ERROR(KV_ERR_IO, "cannot rename '%s' to '%s': %s", w->tmp, final, strerror(errno));
    }
    if (rc != KV_OK) {
      remove(w->tmp);
    }
  }
  rc = kv_status_agree(w->comm, rc);
  if (kept_as && n > 0) {
    snprintf(kept_as, n, "%s", final);
  }
  free(w);
  return rc;
}

void kv_h5_writer_free(kv_h5_writer *w) {
  if (!w) {
    return;
  }
  close_handles(w);
  if (w->file >= 0) {
    H5Fclose(w->file);
  }
  MPI_Barrier(w->comm);
  if (w->rank == 0) {
    remove(w->tmp);
  }
  MPI_Barrier(w->comm); /* nobody returns before the file is gone */
  free(w);
}

/* ---------------------------------------------------------------- readers */

void kv_h5_array_free(kv_h5_array *a) {
  if (a) {
    free(a->data);
    a->data = NULL;
  }
}

static int open_ro(const char *path, hid_t fapl, hid_t *file) {
  kv_h5_quiet();
  if (access(path, R_OK) != 0) {
    return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
  }
  if (H5Fis_hdf5(path) <= 0) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' is not an HDF5 file (or is corrupt)", path);
  }
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (*file < 0) {
    return KV_ERROR(KV_ERR_FORMAT, "cannot open '%s' as HDF5: corrupt or truncated", path);
  }
  return KV_OK;
}

static int open_numeric(hid_t file, const char *path, const char *dset, hid_t *d, int *rank,
                        hsize_t *dims) {
  if (H5Lexists(file, dset, H5P_DEFAULT) <= 0) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no dataset '%s'", path, dset);
  }
  *d = H5Dopen2(file, dset, H5P_DEFAULT);
  if (*d < 0) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s': '%s' is not a readable dataset", path, dset);
  }
  hid_t t = H5Dget_type(*d);
  H5T_class_t c = H5Tget_class(t);
  H5Tclose(t);
  hid_t s = H5Dget_space(*d);
  *rank = H5Sget_simple_extent_ndims(s);
  if (*rank >= 0 && *rank <= 8) {
    H5Sget_simple_extent_dims(s, dims, NULL);
  }
  H5Sclose(s);
  if ((c != H5T_FLOAT && c != H5T_INTEGER) || *rank < 0 || *rank > 8) {
    H5Dclose(*d);
    *d = H5I_INVALID_HID;
    return KV_ERROR(KV_ERR_FORMAT, "'%s': dataset '%s' is not a numeric array", path, dset);
  }
  return KV_OK;
}

int kv_h5_read_array(const char *path, const char *dset, kv_h5_array *out) {
  memset(out, 0, sizeof *out);
  hid_t file, d = H5I_INVALID_HID;
  KV_CHECK(open_ro(path, H5P_DEFAULT, &file));
  hsize_t dims[8];
  int rank = 0;
  int rc = open_numeric(file, path, dset, &d, &rank, dims);
  if (rc == KV_OK) {
    out->rank = rank;
    out->count = 1;
    for (int i = 0; i < rank; i++) {
      out->dims[i] = (long)dims[i];
      out->count *= (long)dims[i];
    }
    out->is_volatile = H5Aexists(d, "kelvin_volatile") > 0;
    out->data = malloc((size_t)(out->count > 0 ? out->count : 1) * sizeof(double));
    if (!out->data) {
      rc = KV_ERROR(KV_ERR_NOMEM, "hdf5: cannot allocate %ld values", out->count);
    } else if (out->count > 0 &&
               H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read dataset '%s' (truncated or corrupt file?)",
                    path, dset);
    }
  }
  if (d >= 0) H5Dclose(d);
  H5Fclose(file);
  if (rc != KV_OK) {
    kv_h5_array_free(out);
  }
  return rc;
}

static int read_field_local(const char *path, const char *dset, long record, kv_field *f) {
  const kv_grid *g = kv_field_grid(f);
  int nd = kv_grid_ndims(g);
  const long *n = kv_grid_global_n(g);
  hid_t fapl = fapl_mpio(kv_grid_comm(g));
  hid_t file = H5I_INVALID_HID, d = H5I_INVALID_HID;
  int rc = open_ro(path, fapl, &file);
  H5Pclose(fapl);
  KV_CHECK(rc);
  hsize_t dims[8];
  int rank = 0;
  rc = open_numeric(file, path, dset, &d, &rank, dims);
  if (rc == KV_OK) {
    int lead = rank - nd;
    int ok = lead == 0 || lead == 1;
    for (int a = 0; ok && a < nd; a++) {
      ok = dims[lead + nd - 1 - a] == (hsize_t)n[a];
    }
    if (!ok) {
      char want[64];
      snprintf(want, sizeof want, nd == 1 ? "(%ld)" : nd == 2 ? "(%ld, %ld)" : "(%ld, %ld, %ld)",
               n[nd - 1], nd > 1 ? n[nd - 2] : 0, nd > 2 ? n[0] : 0);
      if (nd == 2) snprintf(want, sizeof want, "(%ld, %ld)", n[1], n[0]);
      if (nd == 3) snprintf(want, sizeof want, "(%ld, %ld, %ld)", n[2], n[1], n[0]);
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has shape that does not match the grid %s "
                    "(optionally with a leading time dimension)", path, dset, want);
    } else if (lead == 1 && dims[0] == 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has no time records", path, dset);
    } else {
      long r = record < 0 ? (long)dims[0] - 1 : record;
      if (lead == 1 && r >= (long)dims[0]) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s:%s' has %ld records; record %ld requested", path, dset,
                      (long)dims[0], r);
      } else {
        hid_t fs, ms;
        select_block(d, f, lead, r, &fs, &ms);
        if (H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, kv_field_data(f)) < 0) {
          rc = KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read '%s' (truncated or corrupt file?)", path,
                        dset);
        }
        H5Sclose(ms);
        H5Sclose(fs);
      }
    }
  }
  if (d >= 0) H5Dclose(d);
  H5Fclose(file);
  return rc;
}

int kv_h5_read_field(const char *path, const char *dset, long record, kv_field *f) {
  MPI_Comm comm = kv_grid_comm(kv_field_grid(f));
  int rank;
  MPI_Comm_rank(comm, &rank);
  /* One rank checks that the library survives the file's structure before all ranks open it. */
  KV_CHECK(kv_status_agree(comm, rank == 0 ? kv_h5_probe(path, 0) : KV_OK));
  return kv_status_agree(comm, read_field_local(path, dset, record, f));
}

/* ---------------------------------------------------------------- listing and description */

typedef struct {
  char *buf;
  size_t len, cap;
} names_t;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  names_t *nm = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
    return 0;
  }
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) {
    return 0;
  }
  hid_t t = H5Dget_type(d);
  H5T_class_t c = H5Tget_class(t);
  H5Tclose(t);
  H5Dclose(d);
  if (c != H5T_FLOAT && c != H5T_INTEGER) {
    return 0;
  }
  size_t l = strlen(name);
  if (nm->len + l + 2 > nm->cap) {
    size_t cap = (nm->cap + l + 2) * 2;
    char *b = realloc(nm->buf, cap);
    if (!b) {
      return -1;
    }
    nm->buf = b;
    nm->cap = cap;
  }
  memcpy(nm->buf + nm->len, name, l);
  nm->len += l;
  nm->buf[nm->len++] = '\n';
  nm->buf[nm->len] = '\0';
  return 0;
}

int kv_h5_list_datasets(const char *path, char **names) {
  *names = NULL;
  hid_t file;
  KV_CHECK(open_ro(path, H5P_DEFAULT, &file));
  names_t nm = {calloc(1, 1), 0, 1};
  herr_t e = nm.buf ? H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_cb, &nm) : -1;
  H5Fclose(file);
  if (e < 0) {
    free(nm.buf);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': cannot list datasets (corrupt file?)", path);
  }
  *names = nm.buf;
  return KV_OK;
}

/* Read a text attribute (fixed or variable length) into a malloc'd string, or NULL. */
static char *read_text_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) {
    return NULL;
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) {
    return NULL;
  }
  hid_t t = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) {
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts no strings between character sets */
      char *v = NULL;
      if (H5Aread(a, mt, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
      }
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(t);
      out = calloc(n + 1, 1);
      if (out && H5Aread(a, t, out) < 0) {
        free(out);
        out = NULL;
      }
    }
  }
  H5Tclose(t);
  H5Aclose(a);
  return out;
}

static herr_t attr_print_cb(hid_t loc, const char *name, const H5A_info_t *ai, void *data) {
  (void)ai;
  FILE *fp = data;
  if (strcmp(name, "config") == 0 || strcmp(name, "REFERENCE_LIST") == 0 ||
      strcmp(name, "DIMENSION_LIST") == 0 || strcmp(name, "CLASS") == 0 ||
      strcmp(name, "NAME") == 0) {
    return 0;
  }
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t t = H5Aget_type(a);
  hid_t s = H5Aget_space(a);
  hssize_t np = H5Sget_simple_extent_npoints(s);
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_STRING) {
    char *v = read_text_attr(loc, name);
    fprintf(fp, "    %s = \"%s\"\n", name, v ? v : "?");
    free(v);
  } else if ((c == H5T_FLOAT || c == H5T_INTEGER) && np >= 1 && np <= 16) {
    double v[16];
    if (H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
      fprintf(fp, "    %s =", name);
      for (hssize_t i = 0; i < np; i++) fprintf(fp, " %.10g", v[i]);
      fputc('\n', fp);
    }
  }
  H5Sclose(s);
  H5Tclose(t);
  H5Aclose(a);
  return 0;
}

static herr_t scale_name_cb(hid_t did, unsigned dim, hid_t dsid, void *data) {
  (void)did;
  (void)dim;
  char *buf = data;
  if (H5DSget_scale_name(dsid, buf, 64) <= 0) {
    buf[0] = '\0';
  }
  return 1; /* first scale only */
}

static herr_t describe_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  FILE *fp = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) {
    return 0;
  }
  if (oi.type == H5O_TYPE_GROUP) {
    fprintf(fp, "  group /%s\n", name);
    return 0;
  }
  if (oi.type != H5O_TYPE_DATASET) {
    return 0;
  }
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) {
    fprintf(fp, "  /%s: unreadable\n", name);
    return 0;
  }
  hid_t t = H5Dget_type(d), s = H5Dget_space(d);
  int rank = H5Sget_simple_extent_ndims(s);
  hsize_t dims[8] = {0};
  if (rank > 0 && rank <= 8) H5Sget_simple_extent_dims(s, dims, NULL);
  H5T_class_t c = H5Tget_class(t);
  const char *tn = c == H5T_FLOAT ? (H5Tget_size(t) == 8 ? "float64" : "float32")
                   : c == H5T_INTEGER ? "integer" : c == H5T_STRING ? "string" : "other";
  fprintf(fp, "  /%s  %s  shape (", name, tn);
  for (int i = 0; i < rank && i < 8; i++) fprintf(fp, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  fprintf(fp, ")");
  if (H5DSis_scale(d) > 0) {
    fprintf(fp, "  [dimension scale]");
  } else if (rank > 0 && rank <= 8) {
    fprintf(fp, "  dims (");
    for (int i = 0; i < rank; i++) {
      char sn[64] = "";
      if (H5DSget_num_scales(d, (unsigned)i) > 0) {
        H5DSiterate_scales(d, (unsigned)i, NULL, scale_name_cb, sn);
      }
      fprintf(fp, "%s%s", i ? ", " : "", sn[0] ? sn : "-");
    }
    fprintf(fp, ")");
  }
  fputc('\n', fp);
  H5Aiterate2(d, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_print_cb, fp);
  H5Sclose(s);
  H5Tclose(t);
  H5Dclose(d);
  return 0;
}

/* The child's work for kv_h5_probe: every read that info and compare will make, each attempted
 * whatever the others returned (a failed description must not hide a crashing listing). */
static int probe_child(const char *path, int data) {
  /* The default actions, not the MPI library's backtrace handlers: a crash here is expected. */
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    signal(sigs[i], SIG_DFL);
  }
  FILE *null = fopen("/dev/null", "w");
  if (null) {
    dup2(fileno(null), STDERR_FILENO); /* the library's last words are not the user's concern */
  }
  int rc = null ? kv_h5_describe(path, null) : KV_OK;
  if (null) {
    fclose(null);
  }
  char *names = NULL;
  if (kv_h5_list_datasets(path, &names) == KV_OK && data) {
    for (char *p = names; *p;) {
      char *nl = strchr(p, '\n');
      *nl = '\0';
      kv_h5_array a;
      if (kv_h5_read_array(path, p, &a) == KV_OK) {
        kv_h5_array_free(&a);
      }
      p = nl + 1;
    }
  }
  free(names);
  return rc;
}

int kv_h5_probe(const char *path, int data) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    return KV_OK; /* cannot probe: the real reads still check every call */
  }
  if (pid == 0) {
    /* No MPI, no atexit handlers: only HDF5 reads, then _exit. */
    _exit(probe_child(path, data) == KV_OK ? 0 : 2);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      return KV_OK;
    }
  }
  if (WIFSIGNALED(st)) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' is corrupt: the HDF5 library crashed reading it (signal %d in a probe "
                    "process; kelvin itself stopped safely)",
                    path, WTERMSIG(st));
  }
  return KV_OK;
}

int kv_h5_read_root_text(const char *path, const char *name, char *buf, size_t n) {
  hid_t file;
  KV_CHECK(open_ro(path, H5P_DEFAULT, &file));
  char *v = read_text_attr(file, name);
  H5Fclose(file);
  if (!v) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' has no text attribute '%s'", path, name);
  }
  snprintf(buf, n, "%s", v);
  free(v);
  return KV_OK;
}

int kv_h5_describe(const char *path, void *stream) {
  FILE *fp = stream;
  hid_t file;
  KV_CHECK(open_ro(path, H5P_DEFAULT, &file));
  fprintf(fp, "file %s\n  attributes:\n", path);
  herr_t e = H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_print_cb, fp);
  fprintf(fp, "  datasets:\n");
  if (e >= 0) {
    e = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, describe_cb, fp);
  }
  char *cfg = read_text_attr(file, "config");
  if (cfg) {
    fprintf(fp, "  config:\n");
    for (char *line = strtok(cfg, "\n"); line; line = strtok(NULL, "\n")) {
      fprintf(fp, "    %s\n", line);
    }
    free(cfg);
  }
  H5Fclose(file);
  return e < 0 ? KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read its structure (corrupt?)", path) : KV_OK;
}

/* ---------------------------------------------------------------- tables and completeness */

static int table_column(hid_t file, hid_t dscale, const kv_h5_column *c, long nrows) {
  hsize_t n = (hsize_t)nrows;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t t = c->num ? H5Tcopy(H5T_IEEE_F64LE) : H5Tcopy(H5T_C_S1);
  if (!c->num) {
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
  }
  hid_t d = H5Dcreate2(file, c->name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = d < 0 ? -1 : H5Dwrite(d, c->num ? H5T_NATIVE_DOUBLE : t, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                   c->num ? (const void *)c->num : (const void *)c->text);
  int rc = e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write column '%s'", c->name) : KV_OK;
  if (rc == KV_OK && c->units) rc = attr_text(d, "units", c->units);
  if (rc == KV_OK && c->long_name) rc = attr_text(d, "long_name", c->long_name);
  if (rc == KV_OK && H5DSattach_scale(d, dscale, 0) < 0) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot attach the dimension to '%s'", c->name);
  }
  if (d >= 0) H5Dclose(d);
  H5Tclose(t);
  H5Sclose(sp);
  return rc;
}

int kv_h5_write_table(const char *path, const char *title, const char *dim, const long *ids,
                      long nrows, const kv_h5_column *cols, int ncols) {
  kv_h5_quiet();
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.part", path);
  hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    return KV_ERROR(KV_ERR_IO, "cannot create '%s'", tmp);
  }
  int rc = attr_text(file, "Conventions", "CF-1.8");
  if (rc == KV_OK) rc = attr_text(file, "title", title);
  if (rc == KV_OK) rc = attr_text(file, "kelvin_version", KV_VERSION);
  hsize_t n = (hsize_t)nrows;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t ds = H5Dcreate2(file, dim, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (rc == KV_OK && (ds < 0 || H5Dwrite(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                         ids) < 0 || H5DSset_scale(ds, dim) < 0)) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write '%s' in '%s'", dim, tmp);
  }
  for (int i = 0; i < ncols && rc == KV_OK; i++) {
    rc = table_column(file, ds, &cols[i], nrows);
  }
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(sp);
  if (H5Fclose(file) < 0 && rc == KV_OK) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot close '%s'", tmp);
  }
  if (rc == KV_OK && rename(tmp, path) != 0) {
    rc = KV_ERROR(KV_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
  }
  if (rc != KV_OK) {
    remove(tmp);
  }
  return rc;
}

static const char *after_first_line(const char *s) {
  const char *nl = strchr(s, '\n');
  return nl ? nl + 1 : s;
}

int kv_h5_check_complete(const char *path, const char *config) {
  KV_CHECK(kv_h5_probe(path, 0));
  hid_t file;
  KV_CHECK(open_ro(path, H5P_DEFAULT, &file));
  int rc = KV_OK;
  char *text = read_text_attr(file, "config");
  if (!text) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' has no stored configuration", path);
  } else if (config && strcmp(after_first_line(text), after_first_line(config)) != 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' was written with a different configuration", path);
  } else if (H5Aexists(file, "steps") <= 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' is incomplete: the run that wrote it did not finish", path);
  } else {
    hid_t d;
    int r;
    hsize_t dims[8];
    rc = open_numeric(file, path, "time", &d, &r, dims);
    if (rc == KV_OK) {
      if (r != 1 || dims[0] < 1) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s' has no records", path);
      }
      H5Dclose(d);
    }
  }
  free(text);
  H5Fclose(file);
  return rc;
}

/* ---------------------------------------------------------------- stores */

struct kv_h5_store {
  hid_t file;
  int writing;
  char path[4096], tmp[4200];
};

int kv_h5_store_create(const char *path, kv_h5_store **out) {
  kv_h5_quiet();
  kv_h5_store *s = calloc(1, sizeof *s);
  if (!s) return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  snprintf(s->path, sizeof s->path, "%s", path);
  snprintf(s->tmp, sizeof s->tmp, "%s.part", path);
  if (mkdir_p(path) != 0) {
    free(s);
    return KV_ERROR(KV_ERR_IO, "cannot create the directory of '%s': %s", path, strerror(errno));
  }
  s->file = H5Fcreate(s->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (s->file < 0) {
    free(s);
    return KV_ERROR(KV_ERR_IO, "cannot create '%s'", path);
  }
  s->writing = 1;
  *out = s;
  return KV_OK;
}

int kv_h5_store_open(const char *path, kv_h5_store **out) {
  KV_CHECK(kv_h5_probe(path, 1));
  kv_h5_store *s = calloc(1, sizeof *s);
  if (!s) return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  snprintf(s->path, sizeof s->path, "%s", path);
  int rc = open_ro(path, H5P_DEFAULT, &s->file);
  if (rc != KV_OK) {
    free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_h5_store_close(kv_h5_store *s, int publish) {
  if (!s) return KV_OK;
  int rc = KV_OK;
  if (H5Fclose(s->file) < 0) rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot close '%s'", s->path);
  if (s->writing) {
    if (rc == KV_OK && publish && rename(s->tmp, s->path) != 0) {
      rc = KV_ERROR(KV_ERR_IO, "cannot rename '%s' to '%s': %s", s->tmp, s->path, strerror(errno));
    }
    if (!publish || rc != KV_OK) remove(s->tmp);
  }
  free(s);
  return rc;
}

/* Create the groups on the way to name. */
static int store_groups(hid_t file, const char *name) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g < 0) return KV_ERROR(KV_ERR_IO, "hdf5: cannot create group '%s'", buf);
      H5Gclose(g);
    }
    *p = '/';
  }
  return KV_OK;
}

int kv_h5_store_put(kv_h5_store *s, const char *name, int rank, const long *dims, const double *v) {
  KV_CHECK(store_groups(s->file, name));
  hsize_t hd[8];
  for (int i = 0; i < rank; i++) hd[i] = (hsize_t)dims[i];
  hid_t sp = rank > 0 ? H5Screate_simple(rank, hd, NULL) : H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(s->file, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write '%s' in '%s'", name, s->path) : KV_OK;
}

int kv_h5_store_get(kv_h5_store *s, const char *name, kv_h5_array *out) {
  return kv_h5_read_array(s->path, name, out);
}

int kv_h5_store_has(kv_h5_store *s, const char *name) {
  return H5Lexists(s->file, name, H5P_DEFAULT) > 0;
}

static hid_t store_obj(kv_h5_store *s, const char *obj) {
  if (strcmp(obj, "/") != 0 && store_groups(s->file, obj) == KV_OK &&
      H5Lexists(s->file, obj, H5P_DEFAULT) <= 0 && s->writing) {
    hid_t g = H5Gcreate2(s->file, obj, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
  }
  return H5Oopen(s->file, obj, H5P_DEFAULT);
}

int kv_h5_store_put_text(kv_h5_store *s, const char *obj, const char *name, const char *v) {
  hid_t o = store_obj(s, obj);
  if (o < 0) return KV_ERROR(KV_ERR_IO, "hdf5: no object '%s' in '%s'", obj, s->path);
  int rc = attr_text(o, name, v);
  H5Oclose(o);
  return rc;
}

int kv_h5_store_put_number(kv_h5_store *s, const char *obj, const char *name, double v) {
  hid_t o = store_obj(s, obj);
  if (o < 0) return KV_ERROR(KV_ERR_IO, "hdf5: no object '%s' in '%s'", obj, s->path);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(o, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Oclose(o);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

int kv_h5_store_get_text(kv_h5_store *s, const char *obj, const char *name, char **out) {
  *out = NULL;
  hid_t o = H5Lexists(s->file, obj, H5P_DEFAULT) > 0 || strcmp(obj, "/") == 0
                ? H5Oopen(s->file, obj, H5P_DEFAULT) : -1;
  if (o >= 0) {
    *out = read_text_attr(o, name);
    H5Oclose(o);
  }
  return *out ? KV_OK : KV_ERROR(KV_ERR_FORMAT, "'%s': %s has no text attribute '%s'", s->path,
                                 obj, name);
}

int kv_h5_store_get_number(kv_h5_store *s, const char *obj, const char *name, double *out) {
  hid_t o = H5Lexists(s->file, obj, H5P_DEFAULT) > 0 || strcmp(obj, "/") == 0
                ? H5Oopen(s->file, obj, H5P_DEFAULT) : -1;
  herr_t e = -1;
  if (o >= 0 && H5Aexists(o, name) > 0) {
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    if (t >= 0 && H5Tget_class(t) != H5T_STRING) e = H5Aread(a, H5T_NATIVE_DOUBLE, out);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
  }
  if (o >= 0) H5Oclose(o);
  return e < 0 ? KV_ERROR(KV_ERR_FORMAT, "'%s': %s has no numeric attribute '%s'", s->path, obj,
                          name)
               : KV_OK;
}
