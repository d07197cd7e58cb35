#include "io/h5.h"

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

#include "core/history.h"
#include "core/status.h"
#include "core/version.h"
#include "io/h5_impl.h"
#include "io/safefile.h"

/* Tables (manifests), the completeness check of case files, and model stores. */
/* ---------------------------------------------------------------- tables and completeness */

/* A new file in the checksummed format, created afresh (a stale temporary, or a link planted in
 * its place, removed first); negative on failure. */
static hid_t checked_create(const char *path) {
  if (kv_safefile_clear(path) != KV_OK) {
    return H5I_INVALID_HID;
  }
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
  hid_t f = fapl >= 0 && fcpl >= 0 && kv_h5_fapl_checksums(fapl) == KV_OK &&
                    kv_h5_compact_meta(fcpl) == KV_OK
                ? H5Fcreate(path, H5F_ACC_EXCL, fcpl, fapl)
                : H5I_INVALID_HID;
  if (fapl >= 0) {
    H5Pclose(fapl);
  }
  if (fcpl >= 0) {
    H5Pclose(fcpl);
  }
  return f;
}

static int table_column(hid_t file, hid_t dscale, const kv_h5_column *c, long nrows) {
  hsize_t n = (hsize_t)nrows;
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t t = c->num ? H5Tcopy(H5T_IEEE_F64LE) : H5Tcopy(H5T_C_S1);
  if (!c->num) {
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
  }
  hid_t pl = kv_h5_dcpl_checked(1, &n, H5Tget_size(t));
  hid_t d =
      pl < 0 ? H5I_INVALID_HID : H5Dcreate2(file, c->name, t, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  if (pl >= 0) {
    H5Pclose(pl);
  }
  herr_t e = d < 0 ? -1
                   : H5Dwrite(d, c->num ? H5T_NATIVE_DOUBLE : t, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                              c->num ? (const void *)c->num : (const void *)c->text);
  int rc = e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write column '%s'", c->name) : KV_OK;
  if (rc == KV_OK && c->units) {
    rc = kv_h5_attr_text(d, "units", c->units);
  }
  if (rc == KV_OK && c->long_name) {
    rc = kv_h5_attr_text(d, "long_name", c->long_name);
  }
  if (rc == KV_OK && H5DSattach_scale(d, dscale, 0) < 0) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot attach the dimension to '%s'", c->name);
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  H5Tclose(t);
  H5Sclose(sp);
  return rc;
}

int kv_h5_write_table(const char *path, const char *title, const char *dim, const long *ids,
                      long nrows, const kv_h5_column *cols, int ncols) {
  kv_h5_quiet();
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.part", path);
  KV_CHECK(kv_h5_replaceable(path, "the table"));
  hid_t file = checked_create(tmp);
  if (file < 0) {
    int rc = KV_ERROR(KV_ERR_IO, "cannot create '%s'%s", path, kv_h5_os_reason());
    remove(tmp);
    return rc;
  }
  int rc = kv_h5_attr_text(file, "Conventions", "CF-1.8");
  if (rc == KV_OK) {
    rc = kv_h5_attr_text(file, "title", title);
    char history[4200];
    if (rc == KV_OK && kv_history_line(NULL, history, sizeof history)[0]) {
      rc = kv_h5_attr_text(file, "history", history);
    }
  }
  if (rc == KV_OK) {
    rc = kv_h5_attr_text(file, "kelvin_version", KV_VERSION);
  }
  if (rc == KV_OK) {
    rc = kv_h5_mark_checksums(file);
  }
  hsize_t n = (hsize_t)nrows;
  hid_t sp = H5Screate_simple(1, &n, NULL), pl = kv_h5_dcpl_checked(1, &n, 8);
  hid_t ds = pl < 0 ? H5I_INVALID_HID
                    : H5Dcreate2(file, dim, H5T_STD_I64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  if (pl >= 0) {
    H5Pclose(pl);
  }
  if (rc == KV_OK &&
      (ds < 0 || H5Dwrite(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) < 0 ||
       H5DSset_scale(ds, dim) < 0)) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot write '%s' in '%s'", dim, tmp);
  }
  for (int i = 0; i < ncols && rc == KV_OK; i++) {
    rc = table_column(file, ds, &cols[i], nrows);
  }
  if (ds >= 0) {
    H5Dclose(ds);
  }
  H5Sclose(sp);
  int rc2 = kv_h5_close_file(file, rc == KV_OK, MPI_COMM_NULL);
  if (rc == KV_OK && rc2 != KV_OK) {
    rc = KV_ERROR(rc2, "cannot write '%s': %s", path, kv_error_message());
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
  KV_CHECK(kv_h5_open_ro(path, H5P_DEFAULT, &file));
  int rc = KV_OK;
  char *text = kv_h5_read_text_attr(file, "config");
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
    rc = kv_h5_open_numeric(file, path, "time", &d, &r, dims);
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
  char prefix[256]; /* prepended to every name (kv_h5_store_set_prefix)        */
};

/* name under the store's prefix ("/" is the prefix itself). */
static const char *prefixed(const kv_h5_store *s, const char *name, char *buf, size_t n) {
  if (!s->prefix[0]) {
    return name;
  }
  snprintf(buf, n, "%s%s", s->prefix, strcmp(name, "/") == 0 ? "" : name);
  return buf;
}

void kv_h5_store_set_prefix(kv_h5_store *s, const char *prefix) {
  snprintf(s->prefix, sizeof s->prefix, "%s", prefix && strcmp(prefix, "/") != 0 ? prefix : "");
}

int kv_h5_store_create(const char *path, kv_h5_store **out) {
  kv_h5_quiet();
  kv_h5_store *s = calloc(1, sizeof *s);
  if (!s) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  snprintf(s->path, sizeof s->path, "%s", path);
  snprintf(s->tmp, sizeof s->tmp, "%s.part", path);
  int own = kv_h5_replaceable(path, "the output");
  if (own != KV_OK) {
    free(s);
    return own;
  }
  if (kv_h5_mkdir_p(path) != 0) {
    free(s);
    return KV_ERROR(KV_ERR_IO, "cannot create the directory of '%s': %s", path, strerror(errno));
  }
  s->file = checked_create(s->tmp);
  if (s->file < 0) {
    int rc = KV_ERROR(KV_ERR_IO, "cannot create '%s'%s", path, kv_h5_os_reason());
    remove(s->tmp);
    free(s);
    return rc;
  }
  s->writing = 1;
  /* CF history: the command that made the file. */
  char history[4200];
  if (kv_h5_mark_checksums(s->file) != KV_OK ||
      kv_h5_attr_text(s->file, "kelvin_version", KV_VERSION) != KV_OK ||
      (kv_history_line(NULL, history, sizeof history)[0] &&
       kv_h5_attr_text(s->file, "history", history) != KV_OK)) {
    H5Fclose(s->file);
    remove(s->tmp);
    int rc = KV_ERROR(KV_ERR_IO, "cannot write to '%s'", s->tmp);
    free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_h5_store_open(const char *path, kv_h5_store **out) {
  KV_CHECK(kv_h5_probe(path, 1));
  kv_h5_store *s = calloc(1, sizeof *s);
  if (!s) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  snprintf(s->path, sizeof s->path, "%s", path);
  int rc = kv_h5_open_ro(path, H5P_DEFAULT, &s->file);
  if (rc != KV_OK) {
    free(s);
    return rc;
  }
  kv_h5_notice_unchecked(s->file, path);
  *out = s;
  return KV_OK;
}

int kv_h5_store_close(kv_h5_store *s, int publish) {
  if (!s) {
    return KV_OK;
  }
  int rc = KV_OK;
  if (s->writing) {
    rc = kv_h5_close_file(s->file, publish, MPI_COMM_NULL);
    if (rc != KV_OK && publish) {
      rc = KV_ERROR(rc, "cannot write '%s': %s", s->path, kv_error_message());
    }
  } else if (H5Fclose(s->file) < 0) {
    rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot close '%s'", s->path);
  }
  if (s->writing) {
    if (rc == KV_OK && publish && rename(s->tmp, s->path) != 0) {
      rc = KV_ERROR(KV_ERR_IO, "cannot rename '%s' to '%s': %s", s->tmp, s->path, strerror(errno));
    }
    if (!publish || rc != KV_OK) {
      remove(s->tmp);
    }
  }
  free(s);
  return rc;
}

/* Create the groups on the way to name. */
static int store_groups(hid_t file, const char *name) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') {
      continue;
    }
    *p = '\0';
    if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
      hid_t gcpl = kv_h5_gcpl();
      hid_t g = gcpl < 0 ? H5I_INVALID_HID : H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
      if (gcpl >= 0) {
        H5Pclose(gcpl);
      }
      if (g < 0) {
        return KV_ERROR(KV_ERR_IO, "hdf5: cannot create group '%s'", buf);
      }
      H5Gclose(g);
    }
    *p = '/';
  }
  return KV_OK;
}

/* The dimension scale at path (created as a pure netCDF dimension of length n when absent).
 * KV_ERR_FORMAT when it exists with another length. */
static int store_dim(kv_h5_store *s, const char *path, hsize_t n, hid_t *out) {
  *out = H5I_INVALID_HID;
  if (H5Lexists(s->file, path, H5P_DEFAULT) > 0) {
    hid_t d = H5Dopen2(s->file, path, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hsize_t len = 0;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
             H5Sget_simple_extent_dims(sp, &len, NULL) == 1 && len == n && H5DSis_scale(d) > 0;
    if (sp >= 0) {
      H5Sclose(sp);
    }
    if (!ok) {
      if (d >= 0) {
        H5Dclose(d);
      }
      return KV_ERROR(KV_ERR_FORMAT, "hdf5: '%s' in '%s' is not a dimension of length %llu", path,
                      s->path, (unsigned long long)n);
    }
    *out = d;
    return KV_OK;
  }
  KV_CHECK(store_groups(s->file, path));
  return kv_h5_cf_dim(s->file, path, (long)n, out);
}

int kv_h5_store_put_dims(kv_h5_store *s, const char *name, int rank, const long *dims,
                         const double *v, const char *const *dimnames) {
  char full_[1024];
  name = prefixed(s, name, full_, sizeof full_);
  KV_CHECK(store_groups(s->file, name));
  hsize_t hd[8];
  for (int i = 0; i < rank; i++) {
    hd[i] = (hsize_t)dims[i];
  }
  hid_t sp = rank > 0 ? H5Screate_simple(rank, hd, NULL) : H5Screate(H5S_SCALAR);
  hid_t pl = kv_h5_dcpl_checked(rank, hd, sizeof(double));
  hid_t d = pl < 0 ? H5I_INVALID_HID
                   : H5Dcreate2(s->file, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  if (pl >= 0) {
    H5Pclose(pl);
  }
  herr_t e = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Sclose(sp);
  int rc = e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write '%s' in '%s'", name, s->path) : KV_OK;
  /* Every axis gets a named dimension: the one asked for (at the root, under the prefix), or its
   * own "<name>_dim<k>" beside the dataset. */
  for (int k = 0; rc == KV_OK && k < rank; k++) {
    char own[1100], buf[1400];
    const char *dpath = own;
    if (dimnames && dimnames[k]) {
      snprintf(own, sizeof own, "/%.1000s", dimnames[k]);
      dpath = prefixed(s, own, buf, sizeof buf);
    } else {
      snprintf(own, sizeof own, "%.1000s_dim%d", name, k);
    }
    hid_t dim;
    rc = store_dim(s, dpath, hd[k], &dim);
    if (rc == KV_OK) {
      if (H5DSattach_scale(d, dim, (unsigned)k) < 0) {
        rc = KV_ERROR(KV_ERR_IO, "hdf5: cannot attach '%s' to '%s' in '%s'", dpath, name, s->path);
      }
      H5Dclose(dim);
    }
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  return rc;
}

int kv_h5_store_put(kv_h5_store *s, const char *name, int rank, const long *dims, const double *v) {
  return kv_h5_store_put_dims(s, name, rank, dims, v, NULL);
}

int kv_h5_store_coord(kv_h5_store *s, const char *name, long n, const double *values,
                      const char *units, const char *standard_name, const char *long_name) {
  char full_[1024];
  const char *path = prefixed(s, name, full_, sizeof full_);
  KV_CHECK(store_groups(s->file, path));
  hsize_t hn = (hsize_t)n;
  double *idx = NULL;
  if (!values) { /* an index coordinate 0, 1, ..., n - 1 */
    idx = malloc(((size_t)n + 1) * sizeof *idx);
    if (!idx) {
      return KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < n; i++) {
      idx[i] = (double)i;
    }
    values = idx;
  }
  hid_t sp = H5Screate_simple(1, &hn, NULL), pl = kv_h5_dcpl_checked(1, &hn, sizeof(double));
  hid_t d = pl < 0 ? H5I_INVALID_HID
                   : H5Dcreate2(s->file, path, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  if (pl >= 0) {
    H5Pclose(pl);
  }
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  int rc =
      d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0 &&
              H5DSset_scale(d, base) >= 0
          ? KV_OK
          : KV_ERROR(KV_ERR_IO, "hdf5: cannot write the coordinate '%s' in '%s'", path, s->path);
  if (rc == KV_OK && units && *units) {
    rc = kv_h5_attr_text(d, "units", units);
  }
  if (rc == KV_OK && standard_name && *standard_name) {
    rc = kv_h5_attr_text(d, "standard_name", standard_name);
  }
  if (rc == KV_OK && long_name && *long_name) {
    rc = kv_h5_attr_text(d, "long_name", long_name);
  }
  if (d >= 0) {
    H5Dclose(d);
  }
  H5Sclose(sp);
  free(idx);
  return rc;
}

int kv_h5_store_get(kv_h5_store *s, const char *name, kv_h5_array *out) {
  char full_[1024];
  name = prefixed(s, name, full_, sizeof full_);
  return kv_h5_read_array(s->path, name, out);
}

int kv_h5_store_has(kv_h5_store *s, const char *name) {
  char full_[1024];
  name = prefixed(s, name, full_, sizeof full_);
  return H5Lexists(s->file, name, H5P_DEFAULT) > 0;
}

static hid_t store_obj(kv_h5_store *s, const char *obj) {
  if (strcmp(obj, "/") != 0 && store_groups(s->file, obj) == KV_OK &&
      H5Lexists(s->file, obj, H5P_DEFAULT) <= 0 && s->writing) {
    hid_t gcpl = kv_h5_gcpl();
    hid_t g = gcpl < 0 ? H5I_INVALID_HID : H5Gcreate2(s->file, obj, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (gcpl >= 0) {
      H5Pclose(gcpl);
    }
    if (g >= 0) {
      H5Gclose(g);
    }
  }
  return H5Oopen(s->file, obj, H5P_DEFAULT);
}

int kv_h5_store_put_text(kv_h5_store *s, const char *obj, const char *name, const char *v) {
  char full_[1024];
  obj = prefixed(s, obj, full_, sizeof full_);
  hid_t o = store_obj(s, obj);
  if (o < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: no object '%s' in '%s'", obj, s->path);
  }
  int rc = kv_h5_attr_text(o, name, v);
  H5Oclose(o);
  return rc;
}

int kv_h5_store_put_number(kv_h5_store *s, const char *obj, const char *name, double v) {
  char full_[1024];
  obj = prefixed(s, obj, full_, sizeof full_);
  hid_t o = store_obj(s, obj);
  if (o < 0) {
    return KV_ERROR(KV_ERR_IO, "hdf5: no object '%s' in '%s'", obj, s->path);
  }
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(o, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  if (a >= 0) {
    H5Aclose(a);
  }
  H5Sclose(sp);
  H5Oclose(o);
  return e < 0 ? KV_ERROR(KV_ERR_IO, "hdf5: cannot write attribute %s", name) : KV_OK;
}

int kv_h5_store_get_text(kv_h5_store *s, const char *obj, const char *name, char **out) {
  char full_[1024];
  obj = prefixed(s, obj, full_, sizeof full_);
  *out = NULL;
  hid_t o = H5Lexists(s->file, obj, H5P_DEFAULT) > 0 || strcmp(obj, "/") == 0
                ? H5Oopen(s->file, obj, H5P_DEFAULT)
                : -1;
  if (o >= 0) {
    *out = kv_h5_read_text_attr(o, name);
    H5Oclose(o);
  }
  if (!*out && kv_h5_damaged()) {
    return kv_h5_read_failed(s->path, obj);
  }
  return *out ? KV_OK
              : KV_ERROR(KV_ERR_FORMAT, "'%s': %s has no text attribute '%s'", s->path, obj, name);
}

int kv_h5_store_get_number(kv_h5_store *s, const char *obj, const char *name, double *out) {
  char full_[1024];
  obj = prefixed(s, obj, full_, sizeof full_);
  hid_t o = H5Lexists(s->file, obj, H5P_DEFAULT) > 0 || strcmp(obj, "/") == 0
                ? H5Oopen(s->file, obj, H5P_DEFAULT)
                : -1;
  herr_t e = -1;
  if (o >= 0 && H5Aexists(o, name) > 0) {
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    if (t >= 0 && H5Tget_class(t) != H5T_STRING) {
      e = H5Aread(a, H5T_NATIVE_DOUBLE, out);
    }
    if (t >= 0) {
      H5Tclose(t);
    }
    if (a >= 0) {
      H5Aclose(a);
    }
  }
  if (o >= 0) {
    H5Oclose(o);
  }
  if (e < 0 && kv_h5_damaged()) {
    return kv_h5_read_failed(s->path, obj);
  }
  return e < 0
             ? KV_ERROR(KV_ERR_FORMAT, "'%s': %s has no numeric attribute '%s'", s->path, obj, name)
             : KV_OK;
}
