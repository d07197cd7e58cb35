/* MPI tests (1, 2, 4 ranks): decomposition with uneven splits, halo exchange including periodic
 * wraps, global reductions. Each rank checks its own ghosts against the global index function;
 * results are agreed with MPI_Allreduce before printing. */
#include <mpi.h>
#include <stdlib.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/status.h"
#include "tests/unit/check.h"

/* A value that encodes the global cell, periodic-wrapped. */
static double code(const long *gn, long i, long j, long k) {
  i = (i + gn[0]) % gn[0];
  j = (j + gn[1]) % gn[1];
  k = (k + gn[2]) % gn[2];
  return (double)(i + 1000 * j + 1000000 * k);
}

static double code_fn(const double *x, void *ctx) {
  const kv_grid *g = ctx;
  const double *h = kv_grid_spacing(g);
  const long *gn = kv_grid_global_n(g);
  long ijk[3] = {0, 0, 0};
  for (int d = 0; d < kv_grid_ndims(g); d++) {
    ijk[d] = lround(x[d] / h[d] - 0.5);
  }
  return code(gn, ijk[0], ijk[1], ijk[2]);
}

static int all(int v) {
  int r;
  MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return r;
}

static void run_case(int ndims, const long *n, const int *periodic) {
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = ndims;
  for (int d = 0; d < ndims; d++) {
    gp.n[d] = n[d];
    gp.periodic[d] = periodic[d];
  }
  kv_grid *g = NULL;
  kv_field *f = NULL;
  int rc = kv_grid_create(MPI_COMM_WORLD, &gp, &g);
  CHECK(all(rc == KV_OK), "%dD grid %ld x %ld x %ld created", ndims, n[0], ndims > 1 ? n[1] : 1,
        ndims > 2 ? n[2] : 1);
  if (rc != KV_OK) {
    return;
  }
  kv_field_create(g, &f);
  const long *nl = kv_grid_local_n(g), *off = kv_grid_offset(g), *gn = kv_grid_global_n(g);
  /* Local sizes add up to the global ones and differ by at most one along each axis. */
  long count = nl[0] * nl[1] * nl[2], total;
  MPI_Allreduce(&count, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  CHECK(total == kv_grid_global_count(g), "local blocks cover the grid (%ld cells)", total);
  for (int d = 0; d < ndims; d++) {
    long mn, mx;
    MPI_Allreduce(&nl[d], &mn, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&nl[d], &mx, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    CHECK(mx - mn <= 1, "axis %d: block sizes balanced (%ld..%ld)", d, mn, mx);
  }
  kv_field_set_fn(f, code_fn, g);
  rc = kv_field_halo_exchange(f);
  /* Every ghost face cell must hold its global neighbour's code (or stay 0 at a wall). */
  const long *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  const double *u = kv_field_data_const(f);
  int good = rc == KV_OK;
  for (int d = 0; d < ndims; d++) {
    for (int s = 0; s < 2; s++) {
      int wall = kv_grid_at_boundary(g, d, s);
      for (long k = 0; k < nl[2]; k++) {
        for (long j = 0; j < nl[1]; j++) {
          for (long i = 0; i < nl[0]; i++) {
            long ijk[3] = {i, j, k};
            if (ijk[d] != (s == 0 ? 0 : nl[d] - 1)) {
              continue;
            }
            ijk[d] += s == 0 ? -1 : 1;
            double v = u[kv_field_index(st, gh, ijk[0], ijk[1], ijk[2])];
            double want = wall ? 0.0 : code(gn, off[0] + ijk[0], off[1] + ijk[1], off[2] + ijk[2]);
            good &= v == want;
          }
        }
      }
    }
  }
  CHECK(all(good), "halo exchange fills every ghost face with the neighbour's values");
  /* Reductions. */
  double sum, mn, mx, maxabs, sumsq, mean;
  kv_field_reduce(f, KV_REDUCE_SUM, &sum);
  kv_field_reduce(f, KV_REDUCE_MIN, &mn);
  kv_field_reduce(f, KV_REDUCE_MAX, &mx);
  kv_field_reduce(f, KV_REDUCE_MAXABS, &maxabs);
  kv_field_reduce(f, KV_REDUCE_SUMSQ, &sumsq);
  kv_field_mean(f, &mean);
  double esum = 0, esq = 0;
  for (long k = 0; k < gn[2]; k++) {
    for (long j = 0; j < gn[1]; j++) {
      for (long i = 0; i < gn[0]; i++) {
        double v = code(gn, i, j, k);
        esum += v;
        esq += v * v;
      }
    }
  }
  CHECK(fabs(sum - esum) <= 1e-12 * esum && fabs(mean - esum / total) <= 1e-12 * esum,
        "global sum %.17g and mean", sum);
  double norm;
  kv_field_norm2(f, &norm);
  CHECK(fabs(sumsq - esq) <= 1e-12 * esq && fabs(norm - sqrt(esq)) <= 1e-12 * sqrt(esq),
        "global sum of squares and 2-norm");
  CHECK(mn == 0.0 && mx == code(gn, gn[0] - 1, gn[1] - 1, gn[2] - 1) && maxabs == mx,
        "global min %g, max %g", mn, mx);
  double *w = kv_field_data(f);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    w[kv_field_index(st, gh, 0, 0, 0)] = NAN;
  }
  int bad = 0;
  kv_field_has_nonfinite(f, &bad);
  CHECK(bad == 1 && all(bad == 1), "a NaN on rank 0 is seen by every rank");
  kv_field_free(f);
  kv_grid_free(g);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &kv_test_rank);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (kv_test_rank == 0) {
    printf("# test_field on %d ranks\n", size);
  }
  run_case(1, (long[]){37}, (int[]){0});
  run_case(1, (long[]){11}, (int[]){1});
  run_case(2, (long[]){13, 7}, (int[]){0, 0});
  run_case(2, (long[]){10, 9}, (int[]){1, 0});
  run_case(3, (long[]){7, 6, 5}, (int[]){0, 1, 0});
  run_case(3, (long[]){9, 5, 4}, (int[]){1, 1, 1});
  /* Too many ranks for an axis: a clear configuration error, on every rank. */
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = 1;
  gp.n[0] = 1;
  kv_grid *g = NULL;
  kv_error_clear();
  int rc = kv_grid_create(MPI_COMM_WORLD, &gp, &g);
  if (size > 1) {
    CHECK(all(rc == KV_ERR_CONFIG) && strstr(kv_error_message(), "1 cells but"),
          "1 cell on %d ranks is refused -> \"%s\"", size, kv_error_message());
  } else {
    CHECK(rc == KV_OK, "1 cell on 1 rank is fine");
  }
  kv_grid_free(g);
  MPI_Finalize();
  return kv_test_failed;
}
