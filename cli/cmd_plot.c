/* kelvin plot FILE VAR [--step N] [--z K] [--diff OTHER] [--size WxH] -o out.png */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/plot.h"

static const char help[] =
    "usage: kelvin plot FILE VAR [--step N] [--z K] [--diff OTHER] [--size WxH] -o OUT.png\n"
    "\n"
    "Draw a map of VAR, a (time, [z,] y, x) or (time, lat, lon) field, at record N (default:\n"
    "the last; negative counts from the end), as a PNG with a viridis colour scale, a colour bar\n"
    "with the units, the coordinate ranges and a title. 3-D fields show layer K (default the\n"
    "middle one). A 1-D field (time, x) is drawn as a space-time diagram, time upward.\n"
    "  --diff OTHER  draw FILE - OTHER (same variable and shape) on a diverging scale\n"
    "  --size WxH    image size in pixels (default 800x500)\n";

typedef struct {
  kv_h5_array a;
  double *x, *y; /* coordinates (borrowed from xa/ya) or NULL */
  kv_h5_array xa, ya;
  const char *xn, *yn;
} field;

static void field_free(field *f) {
  kv_h5_array_free(&f->a);
  kv_h5_array_free(&f->xa);
  kv_h5_array_free(&f->ya);
}

static int read_field(const char *path, const char *var, field *f) {
  memset(f, 0, sizeof *f);
  KV_CHECK(kv_h5_read_array(path, var, &f->a));
  int latlon = kv_h5_read_array(path, "lat", &f->ya) == KV_OK;
  if (latlon && kv_h5_read_array(path, "lon", &f->xa) == KV_OK) {
    f->xn = "longitude";
    f->yn = "latitude";
  } else {
    if (latlon) {
      kv_h5_array_free(&f->ya);
    }
    if (kv_h5_read_array(path, "x", &f->xa) == KV_OK) {
      f->xn = "x";
    }
    if (kv_h5_read_array(path, "y", &f->ya) == KV_OK) {
      f->yn = "y";
    }
  }
  return KV_OK;
}

static int plot_root(int argc, char **argv) {
  const char *file = NULL, *var = NULL, *out = NULL, *other = NULL;
  long step = -1, zk = -1;
  int W = 800, H = 500;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *nx = i + 1 < argc ? argv[i + 1] : NULL;
    if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && nx) {
      out = argv[++i];
    } else if ((!strcmp(a, "--step") || !strcmp(a, "--z")) && nx) {
      char *end;
      long val = strtol(argv[++i], &end, 10);
      if (*end || end == argv[i]) {
        return KV_ERROR(KV_ERR_USAGE, "plot: %s expects an integer (got '%s')", a, argv[i]);
      }
      if (a[2] == 's') {
        step = val;
      } else {
        zk = val;
      }
    } else if (!strcmp(a, "--diff") && nx) {
      other = argv[++i];
    } else if (!strcmp(a, "--size") && nx) {
      if (sscanf(argv[++i], "%dx%d", &W, &H) != 2) {
        return KV_ERROR(KV_ERR_USAGE, "plot: --size expects WxH (e.g. 800x500)");
      }
    } else if (a[0] == '-') {
      static const char *const known[] = {"-o",     "--output", "--step", "--z",
                                          "--diff", "--size",   "--help", NULL};
      return kv_cli_unknown_option("plot", a, known);
    } else if (!file) {
      file = a;
    } else if (!var) {
      var = a;
    } else {
      return KV_ERROR(KV_ERR_USAGE, "plot: unexpected argument '%s'", a);
    }
  }
  if (!file || !var || !out) {
    return KV_ERROR(KV_ERR_USAGE, "plot: expected FILE VAR -o OUT.png (see kelvin plot --help)");
  }
  /* The image is a PNG: a PNG under another name would mislead every viewer. */
  size_t lo = strlen(out);
  if (lo < 4 || strcasecmp(out + lo - 4, ".png") != 0) {
    return KV_ERROR(KV_ERR_USAGE, "plot: -o %s: kelvin writes PNG images; name the file .png", out);
  }
  field f, g;
  int rc = read_field(file, var, &f);
  if (rc != KV_OK) {
    return rc;
  }
  memset(&g, 0, sizeof g);
  if (other && (rc = read_field(other, var, &g)) != KV_OK) {
    field_free(&f);
    return rc;
  }
  kv_h5_array *a = &f.a;
  long nrec = a->rank >= 2 ? a->dims[0] : 1, nx = 0, ny = 0;
  double *v = NULL, *yc = f.ya.data;
  char title[512];
  if (other && (g.a.count != a->count || g.a.rank != a->rank)) {
    rc = KV_ERROR(KV_ERR_FORMAT, "plot: %s has %ld values in '%s' and %ld in '%s'", var, a->count,
                  file, g.a.count, other);
    goto cleanup;
  }
  if (a->rank < 2 || a->rank > 4) {
    rc = KV_ERROR(KV_ERR_FORMAT, "plot: %s in '%s' is not a field (it has %d dimension%s)", var,
                  file, a->rank, a->rank == 1 ? "" : "s");
    goto cleanup;
  }
  if (step < 0) {
    step += nrec;
  }
  if (step < 0 || step >= nrec) {
    rc = KV_ERROR(KV_ERR_USAGE, "plot: --step: '%s' has records 0 to %ld", file, nrec - 1);
    goto cleanup;
  }
  long off = 0;
  if (a->rank == 2) { /* (time, x): space-time diagram */
    nx = a->dims[1];
    ny = nrec;
    yc = NULL;
    snprintf(title, sizeof title, "%s%s%s", var, other ? " difference" : "", " (time upward)");
  } else {
    nx = a->dims[a->rank - 1];
    ny = a->dims[a->rank - 2];
    long per = nx * ny * (a->rank == 4 ? a->dims[1] : 1);
    off = step * per;
    if (a->rank == 4) {
      if (zk < 0) {
        zk = a->dims[1] / 2;
      }
      if (zk >= a->dims[1]) {
        rc = KV_ERROR(KV_ERR_USAGE, "plot: --z: layers 0 to %ld", a->dims[1] - 1);
        goto cleanup;
      }
      off += zk * nx * ny;
    }
    snprintf(title, sizeof title, "%s%s, record %ld", var, other ? " difference" : "", step);
  }
  v = malloc((size_t)(nx * ny) * sizeof *v);
  if (!v) {
    rc = KV_ERROR(KV_ERR_NOMEM, "plot: out of memory");
    goto cleanup;
  }
  for (long p = 0; p < nx * ny; p++) {
    v[p] = a->data[off + p] - (other ? g.a.data[off + p] : 0.0);
  }
  {
    char units[64] = "";
    kv_h5_store *h;
    if (kv_h5_store_open(file, &h) == KV_OK) {
      char *u = NULL, obj[256];
      snprintf(obj, sizeof obj, "/%s", var);
      if (kv_h5_store_get_text(h, obj, "units", &u) == KV_OK) {
        snprintf(units, sizeof units, "%s", u);
      }
      free(u);
      rc = kv_h5_store_close(h, 0);
    }
    const double *xc = f.xa.count == nx ? f.xa.data : NULL;
    if (yc && f.ya.count != ny) {
      yc = NULL;
    }
    kv_plot_opts o = {W,
                      H,
                      title,
                      units,
                      f.xn ? f.xn : "x index",
                      a->rank == 2 ? "record" : (f.yn ? f.yn : "y index"),
                      other != NULL};
    if (rc == KV_OK) {
      rc = kv_plot_map(v, nx, ny, xc, yc, &o, out);
    }
  }
  if (rc == KV_OK) {
    printf("wrote %s (%dx%d)\n", out, W, H);
  }
cleanup:
  free(v);
  field_free(&f);
  field_free(&g);
  return rc;
}

int kv_cmd_plot(MPI_Comm comm, int argc, char **argv) {
  return kv_cli_serial(comm, argc, argv, help, plot_root);
}
