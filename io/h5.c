#include "io/h5.h"
#include "core/comm.h"

#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "core/version.h"
#include "io/h5_impl.h"
#include "io/safefile.h"

#define MAXVARS (2 * KV_OUTPUT_MAX)
/* Chunks under this: their filter buffers stay below glibc's mmap limit (reused). */
#define KV_H5_MAX_CHUNK_BYTES (16L * 1024 * 1024)

typedef struct {
  char name[128];
  hid_t d;
  int is_field;
  hid_t alias; /* a group's series also at the root ("diagnostics_cfl"), or invalid */
  int veclen;  /* > 0: a (time, veclen) vector variable                          */
} var;

struct kv_h5_writer {
  const kv_grid *g;
  MPI_Comm comm;
  int rank;
  char path[PATH_MAX];
  char tmp[PATH_MAX + 8];
  hid_t file, dxpl;
  hid_t dtime, dbnds; /* time, and time_bnds when records are means (else invalid) */
  hid_t dcoord[KV_MAXDIM];
  double time_mean;     /* the period a record averages over (0: instantaneous)     */
  int deflate, float32; /* storage of fields and series                              */
  long nrec;
  int nvars;
  var vars[MAXVARS];
};

void kv_h5_mpi_defaults(void) {
  setenv("OMPI_MCA_fbtl_posix_write_datasieving", "0", 0);
  setenv("OMPI_MCA_fbtl_posix_read_datasieving", "0", 0);
}

void kv_h5_quiet(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---------------------------------------------------------------- small helpers */

int kv_h5_attr_text(hid_t obj, const char *name, const char *v) {
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
  if (a >= 0) {
    H5Aclose(a);
  }
  H5Sclose(s);
  H5Tclose(t);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

int kv_h5_attr_double(hid_t obj, const char *name, double v) {
  hid_t s = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) {
    H5Adelete(obj, name);
  }
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  if (a >= 0) {
    H5Aclose(a);
  }
  H5Sclose(s);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

int kv_h5_mkdir_p(const char *path) {
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

hid_t kv_h5_fapl_mpio(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (!kv_comm_active() || kv_comm_size(comm) == 1) {
    /* One process (a serial grid, a one-rank case): plain POSIX I/O, which also lets a file on
     * a full disk be closed cleanly (kv_h5_close_file). */
    return fapl;
  }
  if (fapl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0) {
    if (fapl >= 0) {
      H5Pclose(fapl);
    }
    return H5I_INVALID_HID;
  }
  return fapl;
}

/* Create parent groups of a "a/b/name" dataset path. */
int kv_h5_ensure_groups(hid_t file, const char *name) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf; *p; p++) {
    if (*p != '/') {
      continue;
    }
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t gcpl = kv_h5_gcpl(), gr = H5I_INVALID_HID;
      if (gcpl >= 0) {
        gr = H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
      }
      if (gcpl >= 0) {
        H5Pclose(gcpl);
      }
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

static int is_f32(hid_t d);

static int write_coords(kv_h5_writer *w, const char *units, const kv_h5_axis *ax) {
  int nd = kv_grid_ndims(w->g);
  const long *n = kv_grid_global_n(w->g);
  static const char *const names[] = {"x", "y", "z"}, *const axes[] = {"X", "Y", "Z"};
  for (int d = 0; d < KV_MAXDIM; d++) {
    w->dcoord[d] = H5I_INVALID_HID;
  }
  for (int d = 0; d < nd; d++) {
    hsize_t dim = (hsize_t)n[d];
    hid_t s = H5Screate_simple(1, &dim, NULL), pl = kv_h5_dcpl_checked(1, &dim, sizeof(double));
    const char *name = ax ? ax[d].name : names[d];
    hid_t ds = pl < 0 ? H5I_INVALID_HID
                      : H5Dcreate2(w->file, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
    if (pl >= 0) {
      H5Pclose(pl);
    }
    double *x = malloc((size_t)n[d] * sizeof *x);
    int rc =
        (ds < 0 || !x) ? KV_ERROR(KV_ERR_IO, "hdf5: cannot create coordinate %s", name) : KV_OK;
    if (rc == KV_OK) {
      for (long i = 0; i < n[d]; i++) {
        x[i] = ax ? ax[d].values[i] : kv_grid_coord(w->g, d, i);
      }
      if (kv_h5_write_whole(ds, H5T_NATIVE_DOUBLE, w->dxpl, w->rank, x) < 0 ||
          H5DSset_scale(ds, name) < 0) {
        rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write coordinate %s", name);
      }
    }
    free(x);
    H5Sclose(s);
    if (rc == KV_OK && ax) {
      rc = kv_h5_attr_text(ds, "units", ax[d].units);
      if (rc == KV_OK && ax[d].standard_name && ax[d].standard_name[0]) {
        rc = kv_h5_attr_text(ds, "standard_name", ax[d].standard_name);
      }
      if (rc == KV_OK) {
        rc = kv_h5_attr_text(ds, "long_name", ax[d].long_name);
      }
      if (rc == KV_OK) {
        rc = kv_h5_attr_text(ds, "axis", ax[d].axis);
      }
    } else if (rc == KV_OK) {
      char ln[64];
      snprintf(ln, sizeof ln, "%s coordinate of cell centres", names[d]);
      rc = kv_h5_attr_text(ds, "units", units);
      if (rc == KV_OK) {
        rc = kv_h5_attr_text(ds, "long_name", ln);
      }
      if (rc == KV_OK) {
        rc = kv_h5_attr_text(ds, "axis", axes[d]);
      }
    }
    w->dcoord[d] = ds;
    KV_CHECK(rc);
    double *xv = malloc((size_t)n[d] * sizeof *xv);
    for (long i = 0; xv && i < n[d]; i++) {
      xv[i] = ax ? ax[d].values[i] : kv_grid_coord(w->g, d, i);
    }
    rc = xv ? kv_h5_cf_bounds(w->file, w->dxpl, w->rank, ds, name, n[d], xv,
                              ax && ax[d].units && !strcmp(ax[d].units, "degrees_north"))
            : KV_ERROR(KV_ERR_NOMEM, "hdf5: out of memory");
    free(xv);
    KV_CHECK(rc);
  }
  return KV_OK;
}

static int write_time_axis(kv_h5_writer *w, const char *units, const char *calendar) {
  hsize_t dim = 0, maxd = H5S_UNLIMITED, chunk = KV_H5_SERIES_CHUNK;
  hid_t s = H5Screate_simple(1, &dim, &maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  w->dtime = H5I_INVALID_HID;
  if (s >= 0 && pl >= 0 && H5Pset_chunk(pl, 1, &chunk) >= 0 && H5Pset_fletcher32(pl) >= 0 &&
      kv_h5_compact_meta(pl) == KV_OK) {
    w->dtime = H5Dcreate2(w->file, "time", H5T_IEEE_F64LE, s, H5P_DEFAULT, pl, H5P_DEFAULT);
  }
  if (pl >= 0) {
    H5Pclose(pl);
  }
  if (s >= 0) {
    H5Sclose(s);
  }
  if (w->dtime < 0 || H5DSset_scale(w->dtime, "time") < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot create the time axis");
  }
  KV_CHECK(kv_h5_attr_text(w->dtime, "units", units));
  KV_CHECK(kv_h5_attr_text(w->dtime, "standard_name", "time"));
  KV_CHECK(kv_h5_attr_text(w->dtime, "long_name", "time"));
  if (calendar) {
    KV_CHECK(kv_h5_attr_text(w->dtime, "calendar", calendar));
  }
  KV_CHECK(kv_h5_attr_text(w->dtime, "axis", "T"));
  if (w->time_mean <= 0) {
    return KV_OK;
  }
  return kv_h5_cf_time_bounds(w->file, w->dtime, &w->dbnds);
}

static void iso_now(char *buf, size_t n) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int writer_open(kv_h5_writer *w, const kv_h5_writer_params *p) {
  hid_t fapl = kv_h5_fapl_mpio(w->comm);
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  /* netCDF-4 expects creation order to be tracked; it also lets ncdump list in our order. */
  w->file = H5I_INVALID_HID;
  if (fapl >= 0 && fcpl >= 0 && kv_h5_fapl_checksums(fapl) == KV_OK &&
      kv_h5_compact_meta(fcpl) == KV_OK &&
      H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0 &&
      H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0) {
    w->file = H5Fcreate(w->tmp, H5F_ACC_EXCL, fcpl, fapl); /* never through a planted link */
  }
  if (fcpl >= 0) {
    H5Pclose(fcpl);
  }
  if (fapl >= 0) {
    H5Pclose(fapl);
  }
  if (w->file < 0) {
    return KV_ERROR(KV_ERR_IO, "cannot create output file '%s'%s", w->tmp, kv_h5_os_reason());
  }
  w->dxpl = H5Pcreate(H5P_DATASET_XFER);
  int mpio = kv_comm_active() && kv_comm_size(w->comm) > 1; /* as kv_h5_fapl_mpio chose */
  if (w->dxpl < 0 || (mpio && H5Pset_dxpl_mpio(w->dxpl, H5FD_MPIO_COLLECTIVE) < 0)) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot set up collective writes of '%s'", w->tmp);
  }
  char now[64];
  iso_now(now, sizeof now);
  KV_CHECK(kv_h5_attr_text(w->file, "Conventions", "CF-1.8"));
  KV_CHECK(kv_h5_attr_text(w->file, "title", p->title ? p->title : "kelvin output"));
  KV_CHECK(kv_h5_attr_text(w->file, "institution", "kelvin"));
  KV_CHECK(kv_h5_attr_text(w->file, "source", "kelvin " KV_VERSION));
  KV_CHECK(kv_h5_attr_text(w->file, "kelvin_version", KV_VERSION));
  KV_CHECK(kv_h5_mark_checksums(w->file));
  KV_CHECK(kv_h5_attr_text(w->file, "model", p->model ? p->model : "unknown"));
  KV_CHECK(kv_h5_attr_text(w->file, "created", now));
  KV_CHECK(kv_h5_attr_text(w->file, "config", p->config_text ? p->config_text : ""));
  if (p->history && *p->history) {
    KV_CHECK(kv_h5_attr_text(w->file, "history", p->history));
  }
  KV_CHECK(kv_h5_attr_text(w->file, "status", "running"));
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
  w->rank = kv_comm_rank(comm);
  w->file = w->dxpl = w->dtime = w->dbnds = H5I_INVALID_HID;
  w->time_mean = p->time_mean;
  w->deflate = p->deflate;
  w->float32 = p->float32;
  snprintf(w->path, sizeof w->path, "%s", p->path);
  snprintf(w->tmp, sizeof w->tmp, "%s.part", p->path);
  if (w->rank == 0) {
    struct stat st;
    if (stat(w->path, &st) == 0 && !p->overwrite) {
      rc = KV_ERROR(KV_ERR_EXISTS,
                    "output '%s' exists; set run.overwrite = true to replace it, or choose "
                    "another run.output",
                    w->path);
    } else if (p->overwrite == 2 && kv_h5_replaceable(w->path, "the output") != KV_OK) {
      rc = KV_ERR_EXISTS;
    } else if (kv_h5_mkdir_p(w->path) != 0) {
      rc = KV_ERROR(KV_ERR_IO, "cannot create the directory of '%s': %s", w->path, strerror(errno));
    } else if (kv_safefile_clear(w->tmp) != KV_OK) {
      rc = KV_ERR_IO;
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
                               const char *long_name, const char *standard_name,
                               const char *cell_methods) {
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
  if (units) {
    KV_CHECK(kv_h5_attr_text(d, "units", units));
  }
  if (long_name) {
    KV_CHECK(kv_h5_attr_text(d, "long_name", long_name));
  }
  if (standard_name && *standard_name) {
    KV_CHECK(kv_h5_attr_text(d, "standard_name", standard_name));
  }
  if (cell_methods && *cell_methods) {
    KV_CHECK(kv_h5_attr_text(d, "cell_methods", cell_methods));
  }
  return KV_OK;
}

/* Create one record variable (time first) at path name. */
static hid_t create_dataset(kv_h5_writer *w, const char *name, int rank, const hsize_t *chunk,
                            const hsize_t *dims, const hsize_t *maxd) {
  hid_t s = H5Screate_simple(rank, dims, maxd);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
  int ok = s >= 0 && pl >= 0 && kv_h5_compact_meta(pl) == KV_OK &&
           H5Pset_chunk(pl, rank, chunk) >= 0 && H5Pset_fill_time(pl, H5D_FILL_TIME_NEVER) >= 0 &&
           H5Pset_attr_creation_order(pl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0;
  /* run.compress: shuffle then deflate, as netCDF-4 writes them (parallel HDF5 compresses with
   * collective writes). */
  if (ok && w->deflate > 0) {
    ok = H5Pset_shuffle(pl) >= 0 && H5Pset_deflate(pl, (unsigned)w->deflate) >= 0;
  }
  /* Every chunk verified on reading (after decompression, as HDF5 orders the filters). */
  ok = ok && H5Pset_fletcher32(pl) >= 0;
  /* No chunk cache: a record goes to the disk when it is written, so that the free space
   * checked before each record (kv_h5_room) is the space really left. */
  hid_t dapl = ok ? H5Pcreate(H5P_DATASET_ACCESS) : H5I_INVALID_HID;
  ok = ok && dapl >= 0 &&
       H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT) >= 0;
  if (ok) {
    d = H5Dcreate2(w->file, name, w->float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, s, H5P_DEFAULT, pl,
                   dapl);
  }
  if (dapl >= 0) {
    H5Pclose(dapl);
  }
  if (pl >= 0) {
    H5Pclose(pl);
  }
  if (s >= 0) {
    H5Sclose(s);
  }
  return d;
}

static int create_var(kv_h5_writer *w, const char *name, int is_field, const char *units,
                      const char *long_name, int is_volatile, const char *standard_name,
                      const char *cell_methods) {
  if (w->nvars == MAXVARS) {
    return KV_ERROR(KV_ERR_INVALID, "hdf5: too many variables");
  }
  KV_CHECK(kv_h5_ensure_groups(w->file, name));
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
        for (int q = 1; q < rank; q++) {
          bytes *= chunk[q];
        }
        if (bytes <= (hsize_t)KV_H5_MAX_CHUNK_BYTES || chunk[c] == 1) {
          break;
        }
        chunk[c] = (chunk[c] + 1) / 2;
      }
    }
  }
  hid_t d = create_dataset(w, name, rank, chunk, dims, maxd);
  if (d < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot create dataset %s", name);
  }
  var *v = &w->vars[w->nvars++];
  snprintf(v->name, sizeof v->name, "%s", name);
  v->d = d;
  v->is_field = is_field;
  v->alias = H5I_INVALID_HID;
  v->veclen = 0;
  KV_CHECK(attach_and_describe(w, d, is_field, units, long_name, standard_name, cell_methods));
  if (is_volatile) {
    KV_CHECK(kv_h5_attr_text(d, "kelvin_volatile", "true"));
  }
  /* A series in a group ("diagnostics/cfl") is also a root variable ("diagnostics_cfl"), for the
   * tools that read no groups (netCDF-3 converters, older CDO/NCO, many plotting tools). */
  if (!is_field && strchr(name, '/')) {
    char flat[128];
    snprintf(flat, sizeof flat, "%s", name);
    for (char *c = flat; *c; c++) {
      *c = *c == '/' ? '_' : *c;
    }
    v->alias = create_dataset(w, flat, rank, chunk, dims, maxd);
    if (v->alias < 0) {
      return KV_ERROR(KV_ERR_IO, "hdf5: cannot create dataset %s", flat);
    }
    KV_CHECK(attach_and_describe(w, v->alias, 0, units, long_name, standard_name, cell_methods));
    if (is_volatile) {
      KV_CHECK(kv_h5_attr_text(v->alias, "kelvin_volatile", "true"));
    }
  }
  return KV_OK;
}

/* A (time, n) vector variable, its second dimension the netCDF dimension dim. Collective. */
static int create_vector(kv_h5_writer *w, const kv_output_vector *o) {
  if (w->nvars == MAXVARS) {
    return KV_ERROR(KV_ERR_INVALID, "hdf5: too many variables");
  }
  KV_CHECK(kv_h5_ensure_groups(w->file, o->name));
  hsize_t dims[2] = {0, (hsize_t)o->n}, maxd[2] = {H5S_UNLIMITED, (hsize_t)o->n},
          chunk[2] = {64, (hsize_t)o->n};
  int f32 = w->float32; /* coefficients stay float64 whatever run.precision says */
  w->float32 = 0;
  hid_t d = create_dataset(w, o->name, 2, chunk, dims, maxd), dim = H5I_INVALID_HID;
  w->float32 = f32;
  int rc = d >= 0 ? kv_h5_cf_dim(w->file, o->dim, o->n, &dim)
                  : KV_ERROR(KV_ERR_IO, "hdf5: cannot create dataset %s", o->name);
  if (rc == KV_OK && (H5DSattach_scale(d, w->dtime, 0) < 0 || H5DSattach_scale(d, dim, 1) < 0)) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot attach the dimensions of %s", o->name);
  }
  if (dim >= 0) {
    H5Dclose(dim);
  }
  if (d < 0) {
    return rc;
  }
  var *v = &w->vars[w->nvars++];
  snprintf(v->name, sizeof v->name, "%s", o->name);
  v->d = d;
  v->is_field = 0;
  v->alias = H5I_INVALID_HID;
  v->veclen = o->n;
  KV_CHECK(rc);
  if (o->units && *o->units) {
    KV_CHECK(kv_h5_attr_text(d, "units", o->units));
  }
  return o->long_name ? kv_h5_attr_text(d, "long_name", o->long_name) : KV_OK;
}

/* Row r of a vector variable, from rank 0 (the others take part with empty selections). */
static int write_vector_row(kv_h5_writer *w, const var *v, long r, const double *x) {
  hsize_t dims[2] = {(hsize_t)r + 1, (hsize_t)v->veclen};
  if (H5Dset_extent(v->d, dims) < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot extend %s", v->name);
  }
  hid_t fs = H5Dget_space(v->d);
  hsize_t start[2] = {(hsize_t)r, 0}, count[2] = {1, (hsize_t)v->veclen};
  hid_t ms = H5Screate_simple(2, count, NULL);
  herr_t e = fs < 0 || ms < 0 ? -1 : 0;
  if (e >= 0 && w->rank == 0) {
    e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  } else if (e >= 0) {
    e = H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0 ? -1 : 0;
  }
  if (e >= 0) {
    e = H5Dwrite(v->d, H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, x);
  }
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write %s", v->name) : KV_OK;
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
  herr_t e = fs < 0 || ms < 0 ? -1 : 0;
  if (e >= 0 && w->rank == 0) {
    e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
  } else if (e >= 0) {
    e = H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0 ? -1 : 0;
  }
  if (e >= 0) {
    float vf = (float)v;
    e = is_f32(d) ? H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, w->dxpl, &vf)
                  : H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, &v);
  }
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write a time-series value") : KV_OK;
}

/* The file and memory selections of this rank's block of field f: in the file, record `record`
 * of a dataset with `lead` leading time dimensions (0 or 1) and the grid's (z, y, x) after it; in
 * memory, the interior of the ghosted local array. The caller closes *fs and *ms. */
int kv_h5_select_block(hid_t d, const kv_field *f, int lead, long record, hid_t *fs, hid_t *ms) {
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
  *ms = H5Screate_simple(nd, mdims, NULL);
  if (*fs < 0 || *ms < 0 ||
      H5Sselect_hyperslab(*fs, H5S_SELECT_SET, fstart, NULL, fcount, NULL) < 0 ||
      H5Sselect_hyperslab(*ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL) < 0) {
    if (*fs >= 0) {
      H5Sclose(*fs);
    }
    if (*ms >= 0) {
      H5Sclose(*ms);
    }
    *fs = *ms = H5I_INVALID_HID;
    return KV_ERROR(KV_ERR_IO, "hdf5: cannot select this rank's block of a field");
  }
  return KV_OK;
}

/* 1 if dataset d is stored as float32 (run.precision): its values are converted here, as the
 * parallel filters (run.compress) need collective writes, which HDF5 gives up on when it has to
 * convert types itself. */
static int is_f32(hid_t d) {
  hid_t t = H5Dget_type(d);
  int yes = t >= 0 && H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 4;
  if (t >= 0) {
    H5Tclose(t);
  }
  return yes;
}

static int write_field_record(kv_h5_writer *w, hid_t d, long r, const kv_field *f) {
  KV_CHECK(extend(d, r + 1));
  hid_t fs, ms;
  KV_CHECK(kv_h5_select_block(d, f, 1, r, &fs, &ms));
  herr_t e;
  if (is_f32(d)) {
    /* The interior block as float, contiguous in memory. */
    const kv_grid *g = kv_field_grid(f);
    int nd = kv_grid_ndims(g);
    const long *nl = kv_grid_local_n(g);
    const long *st = kv_field_stride(f);
    const int *gh = kv_field_ghost(f);
    const double *src = kv_field_data_const(f);
    size_t cnt = 1;
    hsize_t md[3];
    for (int a = 0; a < nd; a++) {
      cnt *= (size_t)nl[a];
      md[nd - 1 - a] = (hsize_t)nl[a];
    }
    float *buf = malloc((cnt + 1) * sizeof *buf);
    hid_t cms = H5Screate_simple(nd, md, NULL);
    size_t p = 0;
    for (long k = 0; buf && k < (nd > 2 ? nl[2] : 1); k++) {
      for (long j = 0; j < (nd > 1 ? nl[1] : 1); j++) {
        for (long i = 0; i < nl[0]; i++) {
          buf[p++] = (float)src[kv_field_index(st, gh, i, j, k)];
        }
      }
    }
    e = buf && cms >= 0 ? H5Dwrite(d, H5T_NATIVE_FLOAT, cms, fs, w->dxpl, buf) : -1;
    if (cms >= 0) {
      H5Sclose(cms);
    }
    free(buf);
  } else {
    e = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, kv_field_data_const(f));
  }
  H5Sclose(ms);
  H5Sclose(fs);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write a field record") : KV_OK;
}

static int do_append(kv_h5_writer *w, double t, const kv_output_list *l) {
  if (w->nrec == 0) {
    for (int i = 0; i < l->nfields; i++) {
      const kv_output_field *o = &l->fields[i];
      KV_CHECK(
          create_var(w, o->name, 1, o->units, o->long_name, 0, o->standard_name, o->cell_methods));
    }
    for (int i = 0; i < l->nscalars; i++) {
      const kv_output_scalar *o = &l->scalars[i];
      KV_CHECK(create_var(w, o->name, 0, o->units, o->long_name, o->is_volatile, o->standard_name,
                          o->cell_methods));
    }
    for (int i = 0; i < l->nvectors; i++) {
      KV_CHECK(create_vector(w, &l->vectors[i]));
    }
  } else if (w->nvars != l->nfields + l->nscalars + l->nvectors) {
    return KV_ERROR(KV_ERR_INVALID, "hdf5: the output list changed between records");
  }
  long r = w->nrec;
  KV_CHECK(write_series_value(w, w->dtime, r, t));
  if (w->dbnds >= 0) {
    KV_CHECK(kv_h5_cf_time_bounds_write(w->dbnds, w->dxpl, w->rank, r, t, w->time_mean));
  }
  for (int i = 0; i < l->nfields; i++) {
    KV_CHECK(write_field_record(w, w->vars[i].d, r, l->fields[i].field));
  }
  for (int i = 0; i < l->nscalars; i++) {
    const var *v = &w->vars[l->nfields + i];
    KV_CHECK(write_series_value(w, v->d, r, l->scalars[i].value));
    if (v->alias >= 0) {
      KV_CHECK(write_series_value(w, v->alias, r, l->scalars[i].value));
    }
  }
  for (int i = 0; i < l->nvectors; i++) {
    KV_CHECK(write_vector_row(w, &w->vars[l->nfields + l->nscalars + i], r, l->vectors[i].v));
  }
  w->nrec++;
  return KV_OK;
}

int kv_h5_writer_append(kv_h5_writer *w, double t, const kv_output_list *l) {
  /* A full disk is found before the collective writes, on every rank alike. */
  double bytes = 16.0 * (1 + l->nscalars);
  for (int i = 0; i < l->nfields; i++) {
    bytes += (double)kv_grid_global_count(w->g) * (w->float32 ? 4 : 8);
  }
  for (int i = 0; i < l->nvectors; i++) {
    bytes += 8.0 * l->vectors[i].n;
  }
  KV_CHECK(kv_status_agree(w->comm, w->rank == 0 ? kv_h5_room(w->path, bytes) : KV_OK));
  int rc = do_append(w, t, l);
  if (rc != KV_OK) {
    rc = KV_ERROR(rc, "'%s': %s%s", w->path, kv_error_message(), kv_h5_os_reason());
  }
  return kv_status_agree(w->comm, rc);
}

long kv_h5_writer_records(const kv_h5_writer *w) {
  return w->nrec;
}

int kv_h5_writer_put_scalar(kv_h5_writer *w, const char *name, const char *units,
                            const char *long_name, double v) {
  hid_t sp = H5Screate(H5S_SCALAR), pl = kv_h5_dcpl_checked(0, NULL, sizeof v);
  hid_t d = sp >= 0 && pl >= 0
                ? H5Dcreate2(w->file, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT)
                : H5I_INVALID_HID;
  if (pl >= 0) {
    H5Pclose(pl);
  }
  int rc = d >= 0 ? KV_OK : KV_ERROR(KV_ERR_IO, "hdf5: cannot create %s", name);
  if (rc == KV_OK && kv_h5_write_whole(d, H5T_NATIVE_DOUBLE, w->dxpl, w->rank, &v) < 0) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write %s", name);
  }
  if (rc == KV_OK && units && *units) {
    rc = kv_h5_attr_text(d, "units", units);
  }
  if (rc == KV_OK && long_name && *long_name) {
    rc = kv_h5_attr_text(d, "long_name", long_name);
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  if (sp >= 0) {
    H5Sclose(sp);
  }
  return kv_status_agree(w->comm, rc);
}

int kv_h5_writer_attr_double(kv_h5_writer *w, const char *name, double v) {
  return kv_status_agree(w->comm, kv_h5_attr_double(w->file, name, v));
}

int kv_h5_writer_attr_text(kv_h5_writer *w, const char *name, const char *v) {
  return kv_status_agree(w->comm, kv_h5_attr_text(w->file, name, v));
}

static void close_handles(kv_h5_writer *w) {
  for (int i = 0; i < w->nvars; i++) {
    H5Dclose(w->vars[i].d);
    if (w->vars[i].alias >= 0) {
      H5Dclose(w->vars[i].alias);
    }
  }
  w->nvars = 0;
  for (int d = 0; d < KV_MAXDIM; d++) {
    if (w->dcoord[d] >= 0) {
      H5Dclose(w->dcoord[d]);
    }
    w->dcoord[d] = H5I_INVALID_HID;
  }
  if (w->dtime >= 0) {
    H5Dclose(w->dtime);
  }
  if (w->dbnds >= 0) {
    H5Dclose(w->dbnds);
  }
  w->dbnds = H5I_INVALID_HID;
  if (w->dxpl >= 0) {
    H5Pclose(w->dxpl);
  }
  w->dtime = w->dxpl = H5I_INVALID_HID;
}

int kv_h5_writer_close(kv_h5_writer *w, const char *status, const char *suffix, char *kept_as,
                       size_t n) {
  int rc = kv_h5_attr_text(w->file, "status", status ? status : "complete");
  close_handles(w);
  rc = kv_status_agree(w->comm, rc);
  int rc2 = kv_h5_close_file(w->file, rc == KV_OK, w->comm);
  w->file = H5I_INVALID_HID;
  if (rc == KV_OK && rc2 != KV_OK) {
    rc = KV_ERROR(rc2, "cannot finish writing '%s': %s", w->tmp, kv_error_message());
  }
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
    kv_h5_close_file(w->file, 0, w->comm); /* its space given back: it is removed below */
  }
  kv_comm_barrier(w->comm);
  if (w->rank == 0) {
    remove(w->tmp);
  }
  kv_comm_barrier(w->comm); /* nobody returns before the file is gone */
  free(w);
}
