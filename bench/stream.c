/* STREAM-style triad a[i] = b[i] + s * c[i] (McCalpin's kernel), the memory-bandwidth yardstick
 * for bench/heat_explicit.sh. Every MPI rank runs its own arrays at the same time; the figure is
 * the sum over ranks, counted as STREAM does (24 bytes per element, no write-allocate traffic).
 *
 *   mpirun -n P build/bench/stream [elements-per-rank]     prints "triad_GBps <value>"
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define NTIMES 10

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  long n = argc > 1 ? atol(argv[1]) : 1L << 25; /* 256 MiB per array: far beyond any cache */
  double *a = aligned_alloc(64, (size_t)n * sizeof(double));
  double *b = aligned_alloc(64, (size_t)n * sizeof(double));
  double *c = aligned_alloc(64, (size_t)n * sizeof(double));
  if (!a || !b || !c) {
    fprintf(stderr, "stream: cannot allocate 3 x %ld doubles\n", n);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (long i = 0; i < n; i++) {
    a[i] = 1.0;
    b[i] = 2.0;
    c[i] = 0.5;
  }
  const double s = 3.0;
  double best = 1e30;
  for (int k = 0; k < NTIMES; k++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long i = 0; i < n; i++) {
      a[i] = b[i] + s * c[i];
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0;
    if (k > 0 && t < best) best = t; /* first pass warms pages and caches */
  }
  double check = 0.0, total;
  for (long i = 0; i < n; i += 4096) check += a[i];
  MPI_Allreduce(&check, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0) {
    double gbps = 24.0 * (double)n * size / best / 1e9;
    printf("triad_GBps %.3f\n", gbps);
    printf("# %d rank(s) x %ld elements, best of %d: %.4f s (checksum %.1f)\n", size, n, NTIMES - 1,
           best, total);
  }
  free(a);
  free(b);
  free(c);
  MPI_Finalize();
  return 0;
}
