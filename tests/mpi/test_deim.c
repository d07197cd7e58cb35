/* MPI tests of numerics/deim at 1, 2 and 4 ranks: the greedy DEIM points of a distributed basis
 * are those of the same basis on one process (so they do not depend on the decomposition), the
 * gathered rows are the basis rows at those points on every rank, the interpolation
 * W (P^T W)^-1 P^T reproduces every vector of span(W), and a basis with a repeated mode is
 * refused (its interpolation matrix is singular) on every rank. */
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "numerics/deim.h"
#include "numerics/pod.h"
#include "tests/unit/check.h"

enum { N = 150, M = 8 };

static double snap(int j, long x) {
  double t = (x + 0.5) / N;
  return sin((j + 1) * 3.14159265358979 * t + 0.2 * j) * exp(-0.5 * j * t) + 0.1 * j * t * t;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  kv_test_rank = rank;
  long off = N * rank / size, nloc = N * (rank + 1) / size - off;
  double *S = malloc((size_t)nloc * M * sizeof *S), *Sf = malloc((size_t)N * M * sizeof *Sf);
  long *gidx = malloc(((size_t)nloc + 1) * sizeof *gidx), *gall = malloc(N * sizeof *gall);
  for (long i = 0; i < nloc; i++) {
    gidx[i] = off + i;
  }
  for (long i = 0; i < N; i++) {
    gall[i] = i;
  }
  for (int j = 0; j < M; j++) {
    for (long i = 0; i < nloc; i++) {
      S[j * nloc + i] = snap(j, off + i);
    }
    for (long x = 0; x < N; x++) {
      Sf[j * N + x] = snap(j, x);
    }
  }
  kv_pod *W = NULL, *Wf = NULL;
  CHECK(kv_pod_compute(comm, nloc, M, S, NULL, &W) == KV_OK &&
            kv_pod_compute(MPI_COMM_SELF, N, M, Sf, NULL, &Wf) == KV_OK,
        "an orthonormal basis of %d modes, distributed and whole", M);
  int kf = kv_pod_nmodes(W);
  long P[M], Pf[M];
  int rc = kv_deim_points(comm, nloc, gidx, kv_pod_modes(W), kf, P);
  int rcf = kv_deim_points(MPI_COMM_SELF, N, gall, kv_pod_modes(Wf), kv_pod_nmodes(Wf), Pf);
  int same = rc == KV_OK && rcf == KV_OK && kf == kv_pod_nmodes(Wf);
  for (int i = 0; same && i < kf; i++) {
    same = P[i] == Pf[i];
  }
  int distinct = 1;
  for (int i = 0; i < kf; i++) {
    for (int j = 0; j < i; j++) {
      distinct &= P[i] != P[j];
    }
  }
  CHECK(same && distinct,
        "%d DEIM points on %d rank%s = those of one process, all distinct "
        "(first %ld, %ld, %ld)",
        kf, size, size > 1 ? "s" : "", P[0], P[1], P[2]);
  /* Rows at the points: distributed gather = the whole basis's rows (the two bases may differ
   * in sign per mode, so compare |values|). */
  double *rows = malloc((size_t)kf * kf * sizeof *rows);
  rc = kv_deim_gather_rows(comm, nloc, gidx, kv_pod_modes(W), kf, P, kf, rows);
  double err = 0.0;
  for (int c = 0; c < kf; c++) {
    for (int j = 0; j < kf; j++) {
      err = fmax(err, fabs(fabs(rows[c * kf + j]) - fabs(kv_pod_modes(Wf)[(size_t)j * N + P[c]])));
    }
  }
  CHECK(rc == KV_OK && err < 1e-12,
        "gathered rows equal the basis at the points on every rank "
        "(%.1e)",
        err);
  /* Interpolation is exact on span(W): f = sum_j b_j w_j, from f at P only. */
  double b[M], fP[M], A[M * M], worst = 0.0;
  int ipiv[M];
  for (int j = 0; j < kf; j++) {
    b[j] = cos(1.0 + j);
  }
  for (int c = 0; c < kf; c++) {
    fP[c] = 0.0;
    for (int j = 0; j < kf; j++) {
      fP[c] += rows[c * kf + j] * b[j];
      A[c * kf + j] = rows[c * kf + j];
    }
  }
  int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, kf, 1, A, kf, ipiv, fP, 1);
  for (int j = 0; j < kf; j++) {
    worst = fmax(worst, fabs(fP[j] - b[j]));
  }
  CHECK(info == 0 && worst < 1e-9,
        "W (P^T W)^-1 P^T f = f for f in span(W) (coefficient error "
        "%.1e)",
        worst);
  /* A repeated mode: singular, refused on every rank with the same status. */
  double *U2 = malloc(((size_t)nloc * 3 + 1) * sizeof *U2);
  memcpy(U2, kv_pod_modes(W), (size_t)nloc * sizeof *U2);
  memcpy(U2 + nloc, kv_pod_modes(W), (size_t)nloc * sizeof *U2);
  memcpy(U2 + 2 * nloc, kv_pod_modes(W) + nloc, (size_t)nloc * sizeof *U2);
  long P2[3];
  int r2 = kv_deim_points(comm, nloc, gidx, U2, 3, P2), lo, hi;
  MPI_Allreduce(&r2, &lo, 1, MPI_INT, MPI_MIN, comm);
  MPI_Allreduce(&r2, &hi, 1, MPI_INT, MPI_MAX, comm);
  CHECK(lo == KV_ERR_NUMERIC && hi == KV_ERR_NUMERIC,
        "a repeated mode is refused on every rank "
        "(%s)",
        kv_error_message());
  free(U2);
  free(rows);
  kv_pod_free(W);
  kv_pod_free(Wf);
  free(S);
  free(Sf);
  free(gidx);
  free(gall);
  MPI_Finalize();
  return kv_test_failed;
}
