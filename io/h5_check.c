/* kelvin — checksums of the HDF5 files kelvin writes and later trusts (model files, outputs,
 * checkpoints, manifests), and their verification.
 *
 * Two mechanisms of the HDF5 library itself, nothing hand-written:
 *  - files are created in the HDF5 1.10 format, whose metadata all carry checksums that every
 *    read verifies: the superblock, object headers (and so every attribute and every compact
 *    dataset stored inside them), and the fixed/extensible-array indexes of chunked datasets;
 *  - larger datasets are chunked with the Fletcher32 filter, so their data are verified per chunk
 *    on every read.
 * A small dataset is stored compact (inside its object header) and is thereby covered by the
 * header's checksum. A root attribute kelvin_checksums marks such files; older files load with a
 * notice. Variable-length strings (manifest text columns, dimension lists) live in HDF5's global
 * heap, which has no checksum: nothing numeric that kelvin trusts is stored there, and a damaged
 * heap is contained by the bounded probe (h5_read.c). */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/h5_impl.h"
#include "io/safefile.h"

#define MARK "kelvin_checksums"
#define MARK_VALUE "hdf5 metadata checksums + fletcher32 data"
/* Compact data share their object header's 64 KiB limit with the attributes. */
#define COMPACT_MAX 8192
/* Fletcher32 chunks of whole leading rows, under this many bytes each (their filter buffers then
 * stay below glibc's mmap limit and are reused; kelvin.c). */
#define CHUNK_MAX (16UL * 1024 * 1024)

int kv_h5_fapl_checksums(hid_t fapl) {
  return H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) >= 0
             ? KV_OK
             : KV_ERROR(KV_ERR_IO, "hdf5: cannot select the checksummed file format");
}

int kv_h5_compact_meta(hid_t ocpl) {
  /* Links and attributes past the default 8 move to "dense" storage in a fractal heap whose
   * blocks carry no checksum; kept in the object header, they are covered by its checksum. */
  herr_t e = H5Pset_attr_phase_change(ocpl, 65535, 65535);
  H5I_type_t t = H5Iget_type(ocpl);
  hid_t cls = e >= 0 && t == H5I_GENPROP_LST ? H5Pget_class(ocpl) : H5I_INVALID_HID;
  if (cls >= 0) {
    if (H5Pequal(cls, H5P_GROUP_CREATE) > 0 || H5Pequal(cls, H5P_FILE_CREATE) > 0) {
      e = H5Pset_link_phase_change(ocpl, 65535, 65535);
    }
    H5Pclose_class(cls);
  }
  return e >= 0 ? KV_OK : KV_ERROR(KV_ERR_IO, "hdf5: cannot keep links and attributes compact");
}

hid_t kv_h5_gcpl(void) {
  hid_t pl = H5Pcreate(H5P_GROUP_CREATE);
  if (pl >= 0 &&
      (H5Pset_link_creation_order(pl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
       kv_h5_compact_meta(pl) != KV_OK)) {
    H5Pclose(pl);
    return H5I_INVALID_HID;
  }
  return pl;
}

hid_t kv_h5_dcpl_checked(int rank, const hsize_t *dims, size_t elem) {
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  if (pl < 0) {
    return pl;
  }
  if (kv_h5_compact_meta(pl) != KV_OK) {
    H5Pclose(pl);
    return H5I_INVALID_HID;
  }
  size_t bytes = elem;
  int empty = 0;
  for (int i = 0; i < rank; i++) {
    bytes *= (size_t)dims[i];
    empty |= dims[i] == 0;
  }
  herr_t e = 0;
  if (empty) {
    /* nothing to verify, and HDF5 chunks must not be empty */
  } else if (bytes <= COMPACT_MAX) {
    e = H5Pset_layout(pl, H5D_COMPACT);
  } else {
    hsize_t chunk[32];
    size_t row = elem;
    for (int i = 1; i < rank; i++) {
      chunk[i] = dims[i];
      row *= (size_t)dims[i];
    }
    hsize_t rows = row > CHUNK_MAX ? 1 : CHUNK_MAX / row;
    chunk[0] = dims[0] < rows ? dims[0] : rows;
    /* A single row over the limit (no realistic kelvin array) is split along the last axis. */
    for (int i = rank - 1; i > 0 && row > CHUNK_MAX; i--) {
      row /= (size_t)chunk[i];
      chunk[i] = 1;
    }
    e = H5Pset_chunk(pl, rank, chunk) < 0 || H5Pset_fletcher32(pl) < 0 ? -1 : 0;
  }
  if (e < 0) {
    H5Pclose(pl);
    return H5I_INVALID_HID;
  }
  return pl;
}

herr_t kv_h5_write_whole(hid_t d, hid_t memtype, hid_t dxpl, int rank, const void *v) {
  hid_t pl = H5Dget_create_plist(d);
  H5D_layout_t lay = pl >= 0 ? H5Pget_layout(pl) : H5D_LAYOUT_ERROR;
  if (pl >= 0) {
    H5Pclose(pl);
  }
  if (lay == H5D_LAYOUT_ERROR) {
    return -1;
  }
  /* A compact dataset lives in metadata, which every rank must change alike; a chunked one is
   * written by rank 0 while the others take part with empty selections. */
  if (lay == H5D_COMPACT || rank == 0) {
    return H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, dxpl, v);
  }
  hid_t fs = H5Dget_space(d), ms = H5Scopy(fs);
  herr_t e = fs < 0 || ms < 0 || H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0
                 ? -1
                 : H5Dwrite(d, memtype, ms, fs, dxpl, v);
  if (fs >= 0) {
    H5Sclose(fs);
  }
  if (ms >= 0) {
    H5Sclose(ms);
  }
  return e;
}

int kv_h5_mark_checksums(hid_t file) {
  return kv_h5_attr_text(file, MARK, MARK_VALUE);
}

int kv_h5_has_checksums(hid_t file) {
  return H5Aexists(file, MARK) > 0;
}

void kv_h5_notice_unchecked(hid_t file, const char *path) {
  if (!kv_h5_has_checksums(file)) {
    kv_log(KV_LOG_WARN,
           "'%s' has no checksums (written by an older kelvin): it loads, but damage to it "
           "cannot be detected; write it again (refit, rerun) to add them",
           path);
  }
}

static herr_t damage_cb(unsigned n, const H5E_error2_t *err, void *data) {
  (void)n;
  if (err->desc && strstr(err->desc, "checksum")) {
    *(int *)data = 1;
  }
  return 0;
}

int kv_h5_damaged(void) {
  int found = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, damage_cb, &found);
  return found;
}

static herr_t os_cb(unsigned n, const H5E_error2_t *err, void *data) {
  (void)n;
  const char *m = err->desc ? strstr(err->desc, "error message = '") : NULL;
  char *out = data;
  if (m && !out[0]) {
    m += strlen("error message = '");
    size_t l = strcspn(m, "'");
    snprintf(out, 128, "%.*s", (int)(l < 120 ? l : 120), m);
  }
  return 0;
}

const char *kv_h5_os_reason(void) {
  static char buf[160];
  char msg[128] = "";
  int e = errno; /* the last system call's, when HDF5's stack does not quote it */
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, os_cb, msg);
  if (!msg[0] && (e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS)) {
    snprintf(msg, sizeof msg, "%s", strerror(e));
  }
  snprintf(buf, sizeof buf, "%s%s", msg[0] ? ": " : "", msg);
  return buf;
}

int kv_h5_read_failed(const char *path, const char *obj) {
  if (kv_h5_damaged()) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' is damaged: '%s' fails its checksum (the file changed after kelvin "
                    "wrote it; write it again or restore a copy)",
                    path, obj);
  }
  return KV_ERROR(KV_ERR_FORMAT, "'%s': cannot read '%s' (truncated or corrupt file?)", path, obj);
}

/* ---------------------------------------------------------------- verification */

typedef struct {
  const char *path;
  long datasets, attributes;
  int rc;
  char bad[512];
} verify_t;

/* Record the first failure: a checksum mismatch (sum != 0, or one still on the error stack) or
 * another read error, at obj (+ what). */
static void verify_fail(verify_t *v, const char *obj, const char *what, int sum) {
  if (v->rc == KV_OK) {
    v->rc = sum || kv_h5_damaged() ? KV_ERR_FORMAT : KV_ERR_IO;
    snprintf(v->bad, sizeof v->bad, "%s%s", obj, what);
  }
}

/* Read an attribute or a block of a dataset into a scratch buffer with its own type, giving back
 * the memory of variable-length values. */
static herr_t read_attr(hid_t a) {
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
  size_t sz = t >= 0 ? H5Tget_size(t) : 0;
  void *buf = n >= 0 && sz > 0 ? calloc((size_t)(n > 0 ? n : 1), sz) : NULL;
  herr_t e = buf ? H5Aread(a, t, buf) : -1;
  if (e < 0 && kv_h5_damaged()) {
    e = -2;
  }
  if (e >= 0 && H5Tdetect_class(t, H5T_VLEN) > 0) {
    H5Dvlen_reclaim(t, s, H5P_DEFAULT, buf);
  } else if (e >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
    H5Dvlen_reclaim(t, s, H5P_DEFAULT, buf);
  }
  free(buf);
  if (t >= 0) {
    H5Tclose(t);
  }
  if (s >= 0) {
    H5Sclose(s);
  }
  return e;
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  verify_t *v = data;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  int sum = a < 0 && kv_h5_damaged();
  herr_t e = a < 0 ? -1 : read_attr(a);
  if (e < 0) {
    char what[300];
    snprintf(what, sizeof what, " attribute '%s'", name);
    verify_fail(v, "", what, sum || e == -2);
  }
  if (a >= 0) {
    H5Aclose(a);
  }
  v->attributes++;
  return 0;
}

/* Every value of dataset d, a block of leading rows at a time (bounded memory). */
static herr_t read_dataset(hid_t d) {
  hid_t ft = H5Dget_type(d), s = H5Dget_space(d);
  hid_t t = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : -1;
  int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
  hsize_t dims[32] = {0};
  herr_t e = t < 0 || rank < 0 || rank > 32 ? -1 : 0;
  if (e >= 0 && rank > 0) {
    H5Sget_simple_extent_dims(s, dims, NULL);
  }
  size_t sz = t >= 0 ? H5Tget_size(t) : 0, row = sz;
  for (int i = 1; i < rank; i++) {
    row *= (size_t)dims[i];
  }
  int vlen = t >= 0 && (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0);
  hsize_t step = rank == 0 ? 1 : (row > (64u << 20) ? 1 : (64u << 20) / (row ? row : 1));
  hsize_t total = rank == 0 ? 1 : dims[0];
  void *buf = e >= 0 ? malloc((size_t)(step < total ? step : total) * row + sz) : NULL;
  for (hsize_t r0 = 0; e >= 0 && buf && r0 < total; r0 += step) {
    hsize_t start[32] = {0}, cnt[32];
    for (int i = 0; i < rank; i++) {
      cnt[i] = dims[i];
    }
    hid_t fs = H5Scopy(s), ms;
    if (rank > 0) {
      start[0] = r0;
      cnt[0] = total - r0 < step ? total - r0 : step;
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
      ms = H5Screate_simple(rank, cnt, NULL);
    } else {
      ms = H5Screate(H5S_SCALAR);
    }
    e = H5Dread(d, t, ms, fs, H5P_DEFAULT, buf);
    if (e < 0 && kv_h5_damaged()) {
      e = -2; /* said before the closes below clear the error stack */
    }
    if (e >= 0 && vlen) {
      H5Dvlen_reclaim(t, ms, H5P_DEFAULT, buf);
    }
    H5Sclose(ms);
    H5Sclose(fs);
  }
  if (e >= 0 && !buf) {
    e = -1;
  }
  free(buf);
  if (t >= 0) {
    H5Tclose(t);
  }
  if (ft >= 0) {
    H5Tclose(ft);
  }
  if (s >= 0) {
    H5Sclose(s);
  }
  return e;
}

static herr_t object_cb(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  verify_t *v = data;
  hid_t o = H5Oopen(root, name, H5P_DEFAULT);
  if (o < 0) {
    verify_fail(v, name, "", 0);
    return v->rc == KV_OK ? 0 : 1;
  }
  long before = v->attributes;
  if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_cb, v) < 0 && v->attributes == before) {
    verify_fail(v, name, " (its attributes)", 0);
  }
  if (v->rc != KV_OK && !v->bad[0]) {
    snprintf(v->bad, sizeof v->bad, "%s", name);
  } else if (v->rc != KV_OK && v->bad[0] == ' ') { /* an attribute of this object */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s:%s", name, v->bad + 1);
    snprintf(v->bad, sizeof v->bad, "%s", tmp);
  }
  if (v->rc == KV_OK && info->type == H5O_TYPE_DATASET) {
    v->datasets++;
    herr_t e = kv_h5_is_pure_dim(o) ? 0 : read_dataset(o);
    if (e < 0) {
      verify_fail(v, name, "", e == -2);
    }
  }
  H5Oclose(o);
  return v->rc == KV_OK ? 0 : 1; /* the first damage found is the report */
}

int kv_h5_verify_walk(const char *path, long *datasets, long *attributes, int *checksummed) {
  hid_t file;
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  verify_t v = {path, 0, 0, KV_OK, ""};
  if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, object_cb, &v, H5O_INFO_BASIC) < 0 &&
      v.rc == KV_OK) {
    verify_fail(&v, "/", " (the object tree)", 0);
  }
  *checksummed = kv_h5_has_checksums(file);
  H5Fclose(file);
  *datasets = v.datasets;
  *attributes = v.attributes;
  if (v.rc == KV_ERR_FORMAT) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "'%s' is damaged: '%s' fails its checksum (the file changed after kelvin "
                    "wrote it)",
                    path, v.bad);
  }
  if (v.rc != KV_OK) {
    return KV_ERROR(KV_ERR_FORMAT, "'%s' is damaged: '%s' cannot be read", path, v.bad);
  }
  return KV_OK;
}

int kv_h5_verify(const char *path, long *datasets, long *attributes, int *checksummed) {
  /* The whole walk first in a probe process: an unchecksummed structure (a global heap, an old
   * file's heaps) can still crash the library or make it loop. */
  KV_CHECK(kv_h5_probe(path, 2));
  return kv_h5_verify_walk(path, datasets, attributes, checksummed);
}

/* ---------------------------------------------------------------- closing on a full disk */

int kv_h5_close_file(hid_t file, int keep, MPI_Comm comm) {
  /* HDF5 1.10 cannot recover from a close whose final flush fails (a full disk): the file stays
   * half-closed and the library crashes tidying up at exit. So the close goes ahead only with
   * room for the metadata it will write (the cache's size bounds it; data are written as they
   * come, see the writers' chunk caches); otherwise, as for a file to discard, the file's space
   * is given back first and the close writes into nothing. */
  int rc = KV_OK;
  if (keep) {
    size_t meta = 0;
    char name[4200] = "";
    if (H5Fget_mdc_size(file, NULL, NULL, &meta, NULL) >= 0 &&
        H5Fget_name(file, name, sizeof name) > 0) {
      rc = kv_h5_room(name, (double)meta);
    }
  }
  rc = comm == MPI_COMM_NULL ? rc : kv_status_agree(comm, rc);
  if (rc != KV_OK || !keep) {
    hid_t fapl = H5Fget_access_plist(file);
    hid_t drv = fapl >= 0 ? H5Pget_driver(fapl) : H5I_INVALID_HID;
    void *h = NULL;
    if (drv == H5FD_MPIO && H5Fget_vfd_handle(file, fapl, &h) >= 0 && h) {
      MPI_File_set_size(*(MPI_File *)h, 0); /* collective, as this path is */
    } else if (drv == H5FD_SEC2 && H5Fget_vfd_handle(file, fapl, &h) >= 0 && h) {
      /* Give the space back, then let the close write into an anonymous memory file: its
       * metadata may need more room than the file held, and the file is discarded anyway (a
       * memory file, unlike /dev/null, can be truncated as the close does). */
      int fd = *(int *)h, null = memfd_create("kelvin-discarded", 0);
      if (ftruncate(fd, 0) != 0 || null < 0 || dup2(null, fd) < 0) {
        /* the close below reports what it can */
      }
      if (null >= 0) {
        close(null);
      }
    }
    if (fapl >= 0) {
      H5Pclose(fapl);
    }
  }
  if (H5Fclose(file) < 0 && rc == KV_OK) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot close the file (is the disk full?)");
  }
  return rc;
}

int kv_h5_room(const char *path, double bytes) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) {
    snprintf(dir, sizeof dir, ".");
  } else if (slash == dir) {
    dir[1] = '\0'; /* the root directory */
  } else {
    *slash = '\0';
  }
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0) {
    return KV_OK; /* cannot tell: the write itself will say */
  }
  double avail = (double)sv.f_bavail * (double)sv.f_frsize;
  /* Room for the data and for the metadata HDF5 writes with it and at the close. */
  double need = bytes + 256.0 * 1024;
  if (avail < need) {
    return KV_ERROR(KV_ERR_IO,
                    "cannot write '%s': the disk is full (%.3g MB free where %.3g MB are needed); "
                    "kelvin stopped before writing, so nothing is half-written",
                    path, avail / 1e6, need / 1e6);
  }
  return KV_OK;
}

int kv_h5_replaceable(const char *path, const char *what) {
  KV_CHECK(kv_safefile_replaceable(path, NULL, what));
  struct stat st;
  if (stat(path, &st) != 0 || st.st_size == 0) {
    return KV_OK;
  }
  int own = 0;
  if (H5Fis_hdf5(path) > 0 && kv_h5_probe(path, 0) == KV_OK) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      char *h = kv_h5_read_text_attr(f, "history");
      own = H5Aexists(f, "kelvin_version") > 0 || H5Aexists(f, MARK) > 0 ||
            (h && strstr(h, "kelvin"));
      free(h);
      H5Fclose(f);
    }
  }
  kv_error_clear();
  if (!own) {
    return KV_ERROR(KV_ERR_EXISTS,
                    "%s '%s' exists and is not a file kelvin wrote: kelvin does not replace it; "
                    "remove it or choose another name",
                    what, path);
  }
  return KV_OK;
}
