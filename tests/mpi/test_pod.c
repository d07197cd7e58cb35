/* MPI tests of surrogates/pod at 1, 2 and 4 ranks: the distributed batch POD against LAPACK's SVD
 * of the gathered snapshot matrix (singular values to 1e-10 relative, the same subspace), modes
 * orthonormal, the incremental POD equal to the batch POD of all snapshots, save/load round trip,
 * a basis from another grid refused. With --dump FILE rank 0 also writes the snapshot matrix and
 * the singular values for tests/surrogate/test_pod.py (NumPy). */
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "numerics/pod.h"
#include "tests/unit/check.h"

enum { N = 240, M = 10, L = 7 };

/* Snapshot j at global point x: smooth functions with decaying random weights. */
static double snap(int j, long x) {
  double t = (x + 0.5) / N, v = 0.0;
  unsigned s = 1234u + 97u * (unsigned)j;
  for (int l = 0; l < L; l++) {
    s = s * 1103515245u + 12345u;
    double c = (((s >> 8) & 0xffff) / 65535.0 - 0.5) * pow(10.0, -0.4 * l);
    v += c * sin((l + 1) * 3.14159265358979 * t + 0.3 * l);
  }
  return v;
}

/* ||P_A - P_B||_F of two sets of k orthonormal columns (n x k each, column-major). */
static double subspace_gap(const double *A, const double *B, long n, int k) {
  double s = 0.0;
  for (long i = 0; i < n; i++) {
    for (long j = 0; j < n; j++) {
      double pa = 0.0, pb = 0.0;
      for (int c = 0; c < k; c++) {
        pa += A[c * n + i] * A[c * n + j];
        pb += B[c * n + i] * B[c * n + j];
      }
      s += (pa - pb) * (pa - pb);
    }
  }
  return sqrt(s);
}

static void gather(MPI_Comm comm, const double *loc, long nloc, long off, double *full) {
  double *tmp = calloc(N, sizeof *tmp);
  memcpy(tmp + off, loc, (size_t)nloc * sizeof *loc);
  MPI_Allreduce(tmp, full, N, MPI_DOUBLE, MPI_SUM, comm);
  free(tmp);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  kv_test_rank = rank;
  long off = N * rank / size, nloc = N * (rank + 1) / size - off;
  double *S = malloc((size_t)nloc * M * sizeof *S), full[N * M];
  kv_pod_options tight, e99, three;
  kv_pod_options_default(&tight);
  tight.add_tol = 1e-13;
  kv_pod_options_default(&e99);
  e99.energy = 0.99;
  kv_pod_options_default(&three);
  three.max_modes = 3;
  for (int j = 0; j < M; j++) {
    for (long i = 0; i < nloc; i++) {
      S[j * nloc + i] = snap(j, off + i);
    }
  }
  for (int j = 0; j < M; j++) {
    for (long x = 0; x < N; x++) {
      full[j * N + x] = snap(j, x);
    }
  }
  /* Reference: LAPACK's SVD of the whole matrix, on every rank. */
  double A[N * M], sref[M], Uref[N * M], VT[1], sup[M];
  memcpy(A, full, sizeof A);
  LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'N', N, M, A, N, sref, Uref, N, VT, 1, sup);

  kv_pod *p = NULL;
  CHECK(kv_pod_compute(MPI_COMM_WORLD, nloc, M, S, NULL, &p) == KV_OK, "batch POD (%d ranks)",
        size);
  int k = kv_pod_nmodes(p);
  double worst = 0.0;
  for (int j = 0; j < k && j < M; j++) {
    worst = fmax(worst, fabs(kv_pod_sigma(p)[j] - sref[j]) / sref[j]);
  }
  CHECK(k == L && worst < 1e-10,
        "%d modes (the snapshots span %d functions); singular values = "
        "LAPACK's SVD to %.1e relative",
        k, L, worst);
  double *U = malloc((size_t)N * k * sizeof *U);
  for (int c = 0; c < k; c++) {
    gather(MPI_COMM_WORLD, kv_pod_modes(p) + c * nloc, nloc, off, U + c * N);
  }
  double orth = 0.0;
  for (int a = 0; a < k; a++) {
    for (int b = 0; b < k; b++) {
      double d = 0.0;
      for (long x = 0; x < N; x++) {
        d += U[a * N + x] * U[b * N + x];
      }
      orth = fmax(orth, fabs(d - (a == b)));
    }
  }
  CHECK(orth < 1e-12, "modes orthonormal (%.1e)", orth);
  double gap = subspace_gap(U, Uref, N, k);
  CHECK(gap < 1e-10, "the POD subspace is LAPACK's (projector difference %.1e)", gap);

  /* Incremental: POD of the first 4 snapshots, then the other 6 one at a time. */
  kv_pod *q = NULL;
  kv_pod_compute(MPI_COMM_WORLD, nloc, 4, S, NULL, &q);
  int ok = 1;
  for (int j = 4; j < M; j++) {
    ok &= kv_pod_add(q, S + j * nloc, &tight) == KV_OK;
  }
  double worst2 = 0.0;
  for (int j = 0; j < kv_pod_nmodes(q) && j < k; j++) {
    worst2 = fmax(worst2, fabs(kv_pod_sigma(q)[j] - kv_pod_sigma(p)[j]) / kv_pod_sigma(p)[j]);
  }
  double *Uq = malloc((size_t)N * k * sizeof *Uq);
  for (int c = 0; c < k && c < kv_pod_nmodes(q); c++) {
    gather(MPI_COMM_WORLD, kv_pod_modes(q) + c * nloc, nloc, off, Uq + c * N);
  }
  double gap2 = kv_pod_nmodes(q) == k ? subspace_gap(Uq, U, N, k) : 1.0;
  CHECK(ok && kv_pod_nmodes(q) == k && worst2 < 1e-10 && gap2 < 1e-10,
        "incremental POD (4 + 6 snapshots) = batch POD: %d modes, singular values to %.1e, "
        "subspace to %.1e",
        kv_pod_nmodes(q), worst2, gap2);
  /* Truncation by energy and count. */
  kv_pod *t = NULL;
  kv_pod_compute(MPI_COMM_WORLD, nloc, M, S, &e99, &t);
  double tot = 0, cum = 0;
  for (int j = 0; j < M; j++) {
    tot += sref[j] * sref[j];
  }
  int kt = kv_pod_nmodes(t);
  for (int j = 0; j < kt; j++) {
    cum += sref[j] * sref[j];
  }
  CHECK(cum >= 0.99 * tot && cum - sref[kt - 1] * sref[kt - 1] < 0.99 * tot,
        "energy 0.99 keeps the fewest modes that hold 99 %% (%d)", kt);
  kv_pod_free(t);
  kv_pod_compute(MPI_COMM_WORLD, nloc, M, S, &three, &t);
  CHECK(kv_pod_nmodes(t) == 3, "max_modes 3 keeps 3 modes");
  kv_pod_free(t);
  /* Save and load. */
  char path[1024];
  snprintf(path, sizeof path, "%s/test_pod_np%d.h5",
           getenv("OUT") ? getenv("OUT") : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"), size);
  kv_pod *r = NULL;
  int rc = kv_pod_save(p, path);
  if (rc == KV_OK) {
    rc = kv_pod_load(MPI_COMM_WORLD, path, nloc, &r);
  }
  CHECK(rc == KV_OK && kv_pod_nmodes(r) == k &&
            memcmp(kv_pod_sigma(r), kv_pod_sigma(p), (size_t)k * sizeof(double)) == 0 &&
            memcmp(kv_pod_modes(r), kv_pod_modes(p), (size_t)nloc * k * sizeof(double)) == 0,
        "save + load: the same modes and singular values, rows back on their ranks");
  kv_pod_free(r);
  rc = kv_pod_load(MPI_COMM_WORLD, path, nloc + (rank == 0), &r);
  CHECK(rc == KV_ERR_FORMAT || rc != KV_OK, "a basis from another grid is refused");
  if (rank == 0 && rc != KV_OK) {
    CHECK(strstr(kv_error_message(), "another grid") != NULL, "... saying so");
  }
  rc = kv_pod_load(MPI_COMM_WORLD, "/nonexistent/basis.h5", nloc, &r);
  CHECK(rc != KV_OK, "a missing basis file is refused");
  if (argc == 3 && !strcmp(argv[1], "--dump") && rank == 0) {
    FILE *f = fopen(argv[2], "w");
    fprintf(f, "%d %d %d\n", N, M, k);
    for (int i = 0; i < N * M; i++) {
      fprintf(f, "%.17g\n", full[i]);
    }
    for (int j = 0; j < k; j++) {
      fprintf(f, "%.17g\n", kv_pod_sigma(p)[j]);
    }
    for (int i = 0; i < N * k; i++) {
      fprintf(f, "%.17g\n", U[i]);
    }
    fclose(f);
  }
  kv_pod_free(p);
  kv_pod_free(q);
  free(S);
  free(U);
  free(Uq);
  MPI_Finalize();
  return kv_test_failed;
}
