#include "numerics/deim.h"
#include "core/comm.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

int kv_deim_gather_rows(MPI_Comm comm, long nloc, const long *gidx, const double *U, int k,
                        const long *cells, long nc, double *out) {
  memset(out, 0, (size_t)nc * (size_t)k * sizeof *out);
  if (nloc > 0) {
    long lo = gidx[0], hi = gidx[nloc - 1];
    for (long c = 0; c < nc; c++) {
      if (cells[c] < lo || cells[c] > hi) {
        continue;
      }
      /* Rows are sorted by global index within the block: binary search. */
      long a = 0, b = nloc - 1;
      while (a <= b) {
        long m = (a + b) / 2;
        if (gidx[m] == cells[c]) {
          for (int j = 0; j < k; j++) {
            out[c * k + j] = U[(size_t)j * nloc + m];
          }
          break;
        }
        if (gidx[m] < cells[c]) {
          a = m + 1;
        } else {
          b = m - 1;
        }
      }
    }
  }
  if (kv_comm_allreduce(MPI_IN_PLACE, out, (int)(nc * k), MPI_DOUBLE, MPI_SUM, comm) !=
      MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "deim: reduction failed");
  }
  return KV_OK;
}

static int deim_points(MPI_Comm comm, long n, const long *gidx, const double *U, int kf, long *P) {
  double *res = malloc(((size_t)n + 1) * sizeof *res);
  double *PU = calloc((size_t)kf * kf + 1, sizeof *PU);
  double *c = malloc(((size_t)kf + 1) * sizeof *c), *row = malloc(((size_t)kf + 1) * sizeof *row);
  double *Mt = malloc(((size_t)kf * kf + 1) * sizeof *Mt);
  int *ipiv = malloc(((size_t)kf + 1) * sizeof *ipiv);
  int rc =
      res && PU && c && row && Mt && ipiv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "deim: out of memory");
  rc = kv_status_agree(comm, rc);
  for (int l = 0; rc == KV_OK && l < kf; l++) {
    /* res = u_l - U_{<l} (P^T U_{<l})^-1 P^T u_l; PU row-major: PU[i][j] = U[P_i, j]. */
    for (int i = 0; i < l; i++) {
      c[i] = PU[i * kf + l];
    }
    if (l > 0) {
      for (int i = 0; i < l; i++) {
        for (int j = 0; j < l; j++) {
          Mt[i * l + j] = PU[i * kf + j];
        }
      }
      /* Every rank holds the same matrix, so every rank reaches the same verdict. */
      if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, l, 1, Mt, l, ipiv, c, 1) != 0) {
        rc = KV_ERROR(KV_ERR_NUMERIC, "deim: the interpolation matrix is singular (the modes are "
                                      "not independent)");
        break;
      }
    }
    double best = -1.0;
    long bcell = -1;
    if (n > 0) {
      cblas_dcopy((int)n, U + (size_t)l * n, 1, res, 1);
      if (l > 0) {
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, l, -1.0, U, (int)n, c, 1, 1.0, res, 1);
      }
    }
    for (long i = 0; i < n; i++) {
      double v = fabs(res[i]);
      if (v > best || (v == best && gidx[i] < bcell)) {
        best = v;
        bcell = gidx[i];
      }
    }
    double gbest;
    kv_comm_allreduce(&best, &gbest, 1, MPI_DOUBLE, MPI_MAX, comm);
    long mine = best == gbest && n > 0 ? bcell : INT64_MAX, cell;
    kv_comm_allreduce(&mine, &cell, 1, MPI_LONG, MPI_MIN, comm);
    P[l] = cell;
    rc = kv_deim_gather_rows(comm, n, gidx, U, kf, &P[l], 1, row);
    for (int j = 0; rc == KV_OK && j < kf; j++) {
      PU[l * kf + j] = row[j];
    }
  }
  free(res);
  free(PU);
  free(c);
  free(row);
  free(Mt);
  free(ipiv);
  return rc;
}

int kv_deim_points(MPI_Comm comm, long nloc, const long *gidx, const double *U, int kf, long *P) {
  int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  int rc = deim_points(comm, nloc, gidx, U, kf, P);
  openblas_set_num_threads(threads);
  return rc;
}
