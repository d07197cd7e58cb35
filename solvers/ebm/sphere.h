/* kelvin — finite volumes on a latitude-longitude grid of the unit sphere, batched tridiagonal
 * solves, and the rows <-> columns transpose that the energy-balance model's directional implicit
 * sweeps need.
 *
 * Cells are uniform in latitude and longitude: nlat rows from pole to pole (centres at
 * -90 + (j + 1/2) 180/nlat degrees), nlon columns from 0 E (centres at (i + 1/2) 360/nlon). The
 * diffusion operator is the finite-volume Laplacian of the unit sphere: fluxes through the cell
 * faces, cos(lat) metric, no flux through the poles, periodic in longitude; its area-weighted sum
 * is zero for any field, so the schemes built on it conserve heat to round-off.
 *
 * Two data layouts are used, both with the direction of the implicit solve outermost so that the
 * recurrences run over whole contiguous vectors of independent systems:
 *   rows:    a rank owns latitude rows [j0, j0 + nj) and every longitude, stored [i][j - j0];
 *   columns: a rank owns longitude columns [i0, i0 + ni) and every latitude, stored [j][i - i0].
 */
#ifndef KV_SPHERE_H
#define KV_SPHERE_H

#include <mpi.h>

typedef struct {
  int nlat, nlon;
  double dlat, dlon; /* radians                                                         */
  double *lat;       /* cell-centre latitude (radians), nlat                             */
  double *lon;       /* cell-centre longitude (radians), nlon                            */
  double *w;         /* area weight of a cell in row j: its fraction of the sphere      */
  double *cn, *cs;   /* (L_lat T)_j = cn_j (T_j+1 - T_j) - cs_j (T_j - T_j-1)            */
  double *ce;        /* (L_lon T)_ij = ce_j (T_i+1 - 2 T_i + T_i-1)                      */
} kv_sphere;

/* Geometry of an nlat x nlon grid (nlat >= 3; nlon = 1 or >= 3). KV_ERR_NOMEM on failure. Not
 * collective. Free with kv_sphere_free. */
int kv_sphere_init(kv_sphere *s, int nlat, int nlon);
void kv_sphere_free(kv_sphere *s);

/* Batched tridiagonal systems a_k x_k-1 + b_k x_k + c_k x_k+1 = r_k, k = 0..n-1, with `nb`
 * independent systems side by side: element k of system q is at [k * nb + q]. The factorisation
 * (Thomas, no pivoting: the matrices here are diagonally dominant) is stored so that each solve
 * is two vectorisable sweeps. With `cyclic`, a_0 couples x_0 to x_n-1 and c_n-1 couples x_n-1 to
 * x_0 (Sherman-Morrison on the periodic system; n >= 3). */
typedef struct {
  long n, nb;
  int cyclic;
  double *a, *m, *cp; /* sub-diagonal, 1 / pivot, scaled super-diagonal: n x nb each       */
  double *z;          /* cyclic: solution of the correction system, n x nb                */
  double *beta, *den; /* cyclic: corner and Sherman-Morrison denominator per system, nb    */
  double *work;       /* cyclic: nb                                                      */
} kv_sphere_tridiag;

/* Factor the systems given by a, b, c (n x nb each, laid out as above). Owns copies. */
int kv_sphere_tridiag_factor(kv_sphere_tridiag *t, long n, long nb, int cyclic, const double *a,
                             const double *b, const double *c);
/* Solve in place: x holds the right-hand sides on entry, the solutions on return. */
void kv_sphere_tridiag_solve(const kv_sphere_tridiag *t, double *x);
void kv_sphere_tridiag_free(kv_sphere_tridiag *t);

/* The rows <-> columns transpose on comm. */
typedef struct {
  MPI_Comm comm;
  int size, rank;
  int nlat, nlon;
  int *j0, *nj; /* rows of each rank                                                */
  int *i0, *ni; /* columns of each rank                                             */
  int *scnt, *sdsp, *rcnt, *rdsp;
  double *sbuf, *rbuf;
  int maxf; /* fields per call the buffers hold                                 */
} kv_sphere_transpose;

/* Plan the transposes of up to maxf fields at once. The rows split is given (every rank's j0 and
 * nj, e.g. from a kv_grid); columns are split in contiguous blocks as evenly as possible (ranks
 * beyond nlon own none). Collective. */
int kv_sphere_transpose_create(MPI_Comm comm, int nlat, int nlon, int my_j0, int my_nj, int maxf,
                               kv_sphere_transpose *t);
void kv_sphere_transpose_free(kv_sphere_transpose *t);
/* Move nf fields from rows to columns layout (or back). Collective. */
int kv_sphere_transpose_to_cols(kv_sphere_transpose *t, int nf, const double *const *rows,
                                double *const *cols);
int kv_sphere_transpose_to_rows(kv_sphere_transpose *t, int nf, const double *const *cols,
                                double *const *rows);

#endif
