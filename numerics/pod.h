/* kelvin — proper orthogonal decomposition (POD / PCA) of snapshots distributed over ranks: the
 * one implementation behind the field surrogates (pcagp) and the reduced-order models (pod).
 *
 * Each rank holds the same rows (its grid points) of every snapshot. The batch POD is a TSQR:
 * every rank factors its rows S_i = Q_i R_i (LAPACK dgeqrf), the small R factors are stacked on
 * every rank and decomposed by an SVD (dgesvd), B = [R_1; ...] = U_B Sigma W^T, and the modes
 * U_i = Q_i U_B,i stay distributed. Unlike the method of snapshots (the Gram matrix S^T S) this
 * does not square the condition number: singular values down to round-off times sigma_max come
 * out accurate. The incremental update adds one snapshot without recomputing (Brand's update of
 * the thin SVD: project, take the orthogonal remainder, diagonalise the (k+1) x (k+1) core with
 * dgesvd, rotate the modes with one dgemm); with no truncation in between it equals the batch POD
 * of all snapshots.
 */
#ifndef KV_POD_H
#define KV_POD_H

#include <mpi.h>

typedef struct kv_pod kv_pod;

/* How many modes a decomposition keeps (plain, caller-owned). */
typedef struct {
  double energy;  /* keep the leading modes holding this fraction of sum sigma^2 (the mode
                     that crosses it included); 1: every mode above the floor          */
  int max_modes;  /* at most this many modes (0: no limit); with energy = 1, exactly this
                     many when the data have them                                       */
  double floor;   /* drop singular values at or below floor * sigma_max (round-off)      */
  double add_tol; /* kv_pod_add: a snapshot's part orthogonal to the modes is a new
                     direction when its norm exceeds add_tol times the snapshot's        */
} kv_pod_options;

/* Defaults: energy 1, no mode limit, floor 1e-12, add_tol 1e-10. */
void kv_pod_options_default(kv_pod_options *o);

/* POD of m snapshots with nloc local rows each (S column-major: snapshot j at S + j * nloc),
 * truncated as o says (NULL: defaults). Collective over comm. *out owned by the caller (free with
 * kv_pod_free). Errors: KV_ERR_INVALID for m < 1, KV_ERR_NUMERIC when LAPACK fails. */
int kv_pod_compute(MPI_Comm comm, long nloc, int m, const double *S, const kv_pod_options *o,
                   kv_pod **out);

/* Add one snapshot (nloc local rows). Its part orthogonal to the modes is added when larger than
 * o->add_tol times its norm; then the core SVD rotates the modes and singular values (even when
 * no mode is added), dropping those at or below o->floor * sigma_max and truncating to
 * o->max_modes. o NULL: defaults. Collective; the result is agreed across ranks. */
int kv_pod_add(kv_pod *p, const double *snapshot, const kv_pod_options *o);

/* kv_pod_wrap without the copy: the POD takes over U (malloc'd, nloc x k), freed with it (also
 * on failure). Collective. */
int kv_pod_adopt(MPI_Comm comm, long nloc, int k, double *U, const double *sigma, kv_pod **out);

/* A POD from given orthonormal modes (nloc x k local rows, column-major) and singular values,
 * both copied: a stored basis to go on updating. Collective. */
int kv_pod_wrap(MPI_Comm comm, long nloc, int k, const double *U, const double *sigma,
                kv_pod **out);

/* Free; NULL is a no-op. Collective (frees a duplicated communicator). */
void kv_pod_free(kv_pod *p);

/* Number of modes, local rows, singular values (descending, nmodes) and the local rows of the
 * modes (column-major nloc x nmodes). Borrowed, valid until the next kv_pod_add or free. Not
 * collective. */
int kv_pod_nmodes(const kv_pod *p);
long kv_pod_nloc(const kv_pod *p);
const double *kv_pod_sigma(const kv_pod *p);
const double *kv_pod_modes(const kv_pod *p);

/* Coefficients a = U^T x of a distributed vector (k values, on every rank). Collective. */
int kv_pod_project(const kv_pod *p, const double *x, double *a);

/* Save: rank 0 writes "/pod/modes" (k x n, rows of every rank in rank order) and
 * "/pod/sigma" to path (atomically). Load reads them back and gives each rank its nloc rows;
 * a different global size is an error (KV_ERR_FORMAT). Collective. */
int kv_pod_save(const kv_pod *p, const char *path);
int kv_pod_load(MPI_Comm comm, const char *path, long nloc, kv_pod **out);

#endif
