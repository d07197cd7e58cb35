/* Unit tests: HDF5 writer and readers, including provoked failures (missing, garbage, truncated
 * files, shape mismatches, refusing to overwrite) which must give error codes, never a crash. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/status.h"
#include "io/h5.h"
#include "tests/unit/check.h"

#define DIR "tests/out/mpi_h5"

static double ramp(const double *x, void *ctx) {
  (void)ctx;
  return 1.0 + x[0] + 10.0 * x[1];
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void copy_prefix(const char *src, const char *dst, long keep) {
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  for (long i = 0; in && out && i < keep; i++) {
    int c = fgetc(in);
    if (c == EOF) {
      break;
    }
    fputc(c, out);
  }
  if (in) {
    fclose(in);
  }
  if (out) {
    fclose(out);
  }
}

int main(int argc, char **argv) {
  kv_h5_mpi_defaults();
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &kv_test_rank);
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = 2;
  /* Sizes that split unevenly over 2 and 4 ranks: one HDF5 chunk is shared by every rank. */
  const long nx = 37, ny = 23;
  gp.n[0] = nx;
  gp.n[1] = ny;
  gp.length[0] = 3.0;
  gp.length[1] = 1.0;
  kv_grid *g = NULL;
  kv_field *f = NULL, *r = NULL;
  CHECK(kv_grid_create(MPI_COMM_WORLD, &gp, &g) == KV_OK, "grid");
  kv_field_create(g, &f);
  kv_field_create(g, &r);
  kv_field_set_fn(f, ramp, NULL);
  const char *path = DIR "/sub/dir/out.h5";
  if (kv_test_rank == 0) {
    remove(path);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  kv_h5_writer_params wp = {
      path, 0, "test", "unit test", "[run]\nx = 1\n", "m", "s", NULL, NULL, 0.0, NULL, 0, 0};
  kv_h5_writer *w = NULL;
  int rc = kv_h5_writer_create(g, &wp, &w);
  CHECK(rc == KV_OK, "writer creates missing directories (%s)", kv_error_message());
  CHECK(exists(DIR "/sub/dir/out.h5.part") && !exists(path),
        "while open, the file exists only under its .part name");
  kv_output_list l = {0};
  kv_output_add_field(&l, "T", "K", "temperature", f);
  kv_output_add_scalar(&l, "diagnostics/v", "1", "a value", 7.0);
  for (int rec = 0; rec < 6 && rc == KV_OK; rec++) {
    l.scalars[0].value = 7.0 + rec;
    rc = kv_h5_writer_append(w, 0.5 * rec, &l);
  }
  CHECK(rc == KV_OK && kv_h5_writer_records(w) == 6, "six records appended");
  rc = kv_h5_writer_close(w, NULL, NULL, NULL, 0);
  CHECK(rc == KV_OK && exists(path) && !exists(DIR "/sub/dir/out.h5.part"),
        "close renames .part to the final name");
  if (kv_test_rank == 0) {
    kv_h5_array a;
    rc = kv_h5_read_array(path, "T", &a);
    CHECK(rc == KV_OK && a.rank == 3 && a.dims[0] == 6 && a.dims[1] == ny && a.dims[2] == nx,
          "T has dims (time, y, x) = (6, %ld, %ld)", ny, nx);
    long nbad = rc == KV_OK ? 0 : 1;
    for (long rec = 0; rc == KV_OK && rec < 6; rec++) {
      for (long j = 0; j < ny; j++) {
        for (long i = 0; i < nx; i++) {
          double x[2] = {(i + 0.5) * 3.0 / nx, (j + 0.5) * 1.0 / ny};
          nbad += fabs(a.data[(rec * ny + j) * nx + i] - ramp(x, NULL)) > 1e-14;
        }
      }
    }
    CHECK(nbad == 0,
          "every record reads back in (y, x) order with cell-centre coordinates "
          "(%ld wrong values)",
          nbad);
    kv_h5_array_free(&a);
    rc = kv_h5_read_array(path, "x", &a);
    CHECK(rc == KV_OK && a.count == nx && fabs(a.data[0] - 1.5 / nx) < 1e-15 &&
              fabs(a.data[nx - 1] - 3.0 * (nx - 0.5) / nx) < 1e-15,
          "x holds the cell centres");
    kv_h5_array_free(&a);
    rc = kv_h5_read_array(path, "diagnostics/v", &a);
    CHECK(rc == KV_OK && a.count == 6 && a.data[2] == 9.0, "grouped time series");
    kv_h5_array_free(&a);
    char *names = NULL;
    rc = kv_h5_list_datasets(path, &names);
    CHECK(rc == KV_OK && strstr(names, "T\n") && strstr(names, "diagnostics/v\n") &&
              strstr(names, "time\n"),
          "listing finds the datasets");
    free(names);
  }
  /* The distributed reader: last record of T back into a field. */
  rc = kv_h5_read_field(path, "T", -1, r);
  double diff = 1.0;
  if (rc == KV_OK) {
    double *rd = kv_field_data(r);
    const double *fd = kv_field_data_const(f);
    const long *m = kv_field_extent(f);
    diff = 0.0;
    for (long i = 0; i < m[0] * m[1] * m[2]; i++) {
      diff = fmax(diff, fabs(rd[i] - fd[i]));
    }
  }
  CHECK(rc == KV_OK && diff == 0.0, "kv_h5_read_field reads the last record back exactly");
  /* Refuse to overwrite. */
  kv_error_clear();
  rc = kv_h5_writer_create(g, &wp, &w);
  CHECK(rc == KV_ERR_EXISTS && strstr(kv_error_message(), "run.overwrite"),
        "an existing output is not overwritten -> \"%s\"", kv_error_message());
  /* A failed run keeps its records under .failed.h5. */
  wp.overwrite = 1;
  rc = kv_h5_writer_create(g, &wp, &w);
  if (rc == KV_OK) {
    rc = kv_h5_writer_append(w, 0.0, &l);
  }
  char kept[512] = "";
  if (rc == KV_OK) {
    rc = kv_h5_writer_close(w, "failed: test", "failed", kept, sizeof kept);
  }
  CHECK(rc == KV_OK && strcmp(kept, DIR "/sub/dir/out.failed.h5") == 0 && exists(kept),
        "a failed run's records are kept as %s", kept);
  /* Discarding removes the partial file. */
  wp.path = DIR "/discarded.h5";
  rc = kv_h5_writer_create(g, &wp, &w);
  kv_h5_writer_free(w);
  CHECK(rc == KV_OK && !exists(DIR "/discarded.h5.part") && !exists(DIR "/discarded.h5"),
        "a discarded writer leaves nothing behind");
  /* Wrong shapes and broken files. */
  kv_grid_params gp2 = gp;
  gp2.n[0] = nx + 1;
  kv_grid *g2 = NULL;
  kv_field *f2 = NULL;
  kv_grid_create(MPI_COMM_WORLD, &gp2, &g2);
  kv_field_create(g2, &f2);
  kv_error_clear();
  rc = kv_h5_read_field(path, "T", -1, f2);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "(23, 38)"),
        "a field of the wrong shape is refused -> \"%s\"", kv_error_message());
  rc = kv_h5_read_field(path, "nothing", -1, f2);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "no dataset 'nothing'"),
        "a missing dataset -> \"%s\"", kv_error_message());
  if (kv_test_rank == 0) {
    kv_h5_array a;
    rc = kv_h5_read_array(DIR "/none.h5", "T", &a);
    CHECK(rc == KV_ERR_IO && strstr(kv_error_message(), "none.h5"), "missing file -> \"%s\"",
          kv_error_message());
    FILE *fp = fopen(DIR "/garbage.h5", "wb");
    for (int i = 0; i < 4096; i++) {
      fputc((i * 7919) & 0xff, fp);
    }
    fclose(fp);
    rc = kv_h5_read_array(DIR "/garbage.h5", "T", &a);
    CHECK(rc == KV_ERR_FORMAT, "garbage bytes -> \"%s\"", kv_error_message());
    struct stat st;
    stat(path, &st);
    long sizes[] = {0, 100, 800, 2048, st.st_size / 2, st.st_size - 100};
    for (int k = 0; k < 6; k++) {
      copy_prefix(path, DIR "/trunc.h5", sizes[k]);
      kv_error_clear();
      rc = kv_h5_read_array(DIR "/trunc.h5", "T", &a);
      char *names = NULL;
      int rc2 = kv_h5_list_datasets(DIR "/trunc.h5", &names);
      free(names);
      FILE *devnull = fopen("/dev/null", "w");
      int rc3 = kv_h5_describe(DIR "/trunc.h5", devnull);
      fclose(devnull);
      CHECK((rc == KV_ERR_FORMAT || rc == KV_ERR_IO) && rc2 == KV_ERR_FORMAT &&
                rc3 == KV_ERR_FORMAT,
            "file truncated to %ld of %ld bytes -> error %d \"%s\" (no crash)", sizes[k],
            (long)st.st_size, rc, kv_error_message());
      if (rc == KV_OK) {
        kv_h5_array_free(&a);
      }
    }
  }
  if (kv_test_rank == 0) {
    /* A damaged signature: the bytes are there but it is no longer an HDF5 file. */
    copy_prefix(path, DIR "/damaged.h5", 1L << 30);
    FILE *fp = fopen(DIR "/damaged.h5", "r+b");
    fputs("NOTHDF5!", fp);
    fclose(fp);
    kv_h5_array a;
    int rc4 = kv_h5_read_array(DIR "/damaged.h5", "T", &a);
    CHECK(rc4 == KV_ERR_FORMAT, "damaged signature -> \"%s\"", kv_error_message());
  }
  kv_field_free(f2);
  kv_grid_free(g2);
  kv_field_free(f);
  kv_field_free(r);
  kv_grid_free(g);
  MPI_Finalize();
  return kv_test_failed;
}
