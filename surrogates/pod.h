/* kelvin — proper orthogonal decomposition of snapshots distributed over ranks.
 *
 * Each rank holds the same rows (its grid points) of every snapshot. The batch POD is the method
 * of snapshots: the m x m Gram matrix S^T S is summed over ranks with MPI_Allreduce and
 * diagonalised with LAPACK (dsyevd); modes U = S V Sigma^-1 stay distributed. The incremental
 * update adds one snapshot without recomputing (Brand's update of the thin SVD: project, take the
 * orthogonal remainder, diagonalise the (k+1) x (k+1) core with dgesvd, rotate the modes); with no
 * truncation in between it equals the batch POD of all snapshots.
 */
#ifndef KV_POD_H
#define KV_POD_H

#include <mpi.h>

typedef struct kv_pod kv_pod;

/* POD of m snapshots with nloc local rows each (S column-major: snapshot j at S + j * nloc),
 * keeping the leading modes that hold `energy` of sum sigma^2 (1: every mode above round-off),
 * at most max_modes (0: no limit). Collective over comm. *out owned by the caller. */
int kv_pod_compute(MPI_Comm comm, long nloc, int m, const double *S, double energy, int max_modes,
                   kv_pod **out);

/* Add one snapshot (nloc local rows). Its part orthogonal to the modes is added when larger than
 * tol times its norm (tol ~ 1e-12: any new direction); then the core SVD rotates the modes and
 * singular values. max_modes > 0 truncates afterwards. Collective. */
int kv_pod_add(kv_pod *p, const double *snapshot, double tol, int max_modes);

/* A POD from given orthonormal modes (nloc x k local rows, column-major) and singular values,
 * both copied: a stored basis to go on updating. Collective. */
int kv_pod_wrap(MPI_Comm comm, long nloc, int k, const double *U, const double *sigma,
                kv_pod **out);

void kv_pod_free(kv_pod *p);

int kv_pod_nmodes(const kv_pod *p);
long kv_pod_nloc(const kv_pod *p);
const double *kv_pod_sigma(const kv_pod *p);        /* descending, nmodes                   */
const double *kv_pod_modes(const kv_pod *p);        /* local rows, column-major nloc x k     */

/* Coefficients a = U^T x of a distributed vector (k values, on every rank). Collective. */
int kv_pod_project(const kv_pod *p, const double *x, double *a);

/* Save: rank 0 writes "/pod/modes" (k x n, rows of every rank in rank order) and
 * "/pod/sigma" to path (atomically). Load reads them back and gives each rank its nloc rows;
 * a different global size is an error. Collective. */
int kv_pod_save(const kv_pod *p, const char *path);
int kv_pod_load(MPI_Comm comm, const char *path, long nloc, kv_pod **out);

#endif
