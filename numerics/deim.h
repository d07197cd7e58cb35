/* kelvin — the discrete empirical interpolation method (DEIM; Chaturantabut & Sorensen 2010) on
 * bases distributed over ranks: greedy interpolation points of a basis, and the gathering of the
 * basis rows at given global points (what a hyper-reduced model evaluates).
 *
 * A distributed basis is given as its local rows (nloc x k, column-major) and the global index of
 * each local row (gidx, ascending within the rank); the rows of all ranks together are the whole
 * basis. Results are the same on every rank and do not depend on the decomposition.
 */
#ifndef KV_DEIM_H
#define KV_DEIM_H

#include <mpi.h>

/* out[c * k + j] = U[row of global point cells[c], j] for c < nc, on every rank; 0 for cells -1 or
 * not held by any rank. The owner of each row fills it, a sum gives it to all. Collective. */
int kv_deim_gather_rows(MPI_Comm comm, long nloc, const long *gidx, const double *U, int k,
                        const long *cells, long nc, double *out);

/* The kf greedy DEIM points of the columns of U (nloc x kf local rows): point l is where mode l
 * is worst interpolated from modes < l at the points before it; ties go to the smallest global
 * index. P receives kf global indices. Runs on one OpenBLAS thread (many small solves are
 * slower threaded) and restores the caller's thread count. Collective. KV_ERR_NUMERIC when the
 * interpolation matrix is singular (the modes are not independent). */
int kv_deim_points(MPI_Comm comm, long nloc, const long *gidx, const double *U, int kf, long *P);

#endif
