/* kelvin — direct solver of (I - c L0) u = r on a uniform cell-centred grid, where L0 is the
 * homogeneous 2d+1-point Laplacian with the boundary conditions of each face, diagonalised by
 * FFTW real-to-real transforms chosen per axis:
 *
 *   Dirichlet-Dirichlet  RODFT10 / RODFT01 (DST-II/III)   lambda_k = -4/h^2 sin^2(pi (k+1)   / 2n)
 *   Neumann-Neumann      REDFT10 / REDFT01 (DCT-II/III)   lambda_k = -4/h^2 sin^2(pi k       / 2n)
 *   Dirichlet-Neumann    RODFT11           (DST-IV)       lambda_k = -4/h^2 sin^2(pi (k+1/2) / 2n)
 *   Neumann-Dirichlet    REDFT11           (DCT-IV)       lambda_k = -4/h^2 sin^2(pi (k+1/2) / 2n)
 *   periodic             R2HC / HC2R       (real DFT)     lambda_k = -4/h^2 sin^2(pi k       / n)
 *
 * (cell-centred ghosts T_g = -T_in for Dirichlet and T_g = T_in for Neumann make these the exact
 * eigenvectors), so the solve is exact to round-off for the discrete operator. In 2D and 3D the
 * transforms are distributed with FFTW-MPI (slabs, transposed output kept between the forward and
 * backward transforms); the field's Cartesian blocks are moved to and from the slabs with one
 * MPI_Alltoallv each way. In 1D the line is gathered on rank 0. Plans are made once, at create.
 */
#ifndef KV_FFTSOLVE_H
#define KV_FFTSOLVE_H

#include "core/field.h"
#include "core/grid.h"

typedef struct kv_fftsolve kv_fftsolve;

/* Boundary condition of each face: 0 Dirichlet, 1 Neumann, 2 periodic (both faces). */
typedef struct {
  int bc[3][2];
  double coef;        /* c in (I - c L0); c = theta dt kappa >= 0                     */
  unsigned planner;   /* FFTW_ESTIMATE, FFTW_MEASURE or FFTW_PATIENT                  */
  const char *wisdom; /* wisdom file to import before and export after planning, or NULL */
} kv_fftsolve_params;

/* Plan the transforms for grid g. Collective over the grid's communicator. Fails with
 * KV_ERR_INVALID for inconsistent periodic faces, KV_ERR_NOMEM, KV_ERR_UNSUPPORTED if FFTW cannot
 * plan. The grid is borrowed and must outlive the solver. */
int kv_fftsolve_create(const kv_grid *g, const kv_fftsolve_params *p, kv_fftsolve **out);

/* Write into the interior of u the solution of (I - c L0) u = r, r read from the interior of rhs
 * (rhs may be u). Collective. No allocation. */
int kv_fftsolve_solve(kv_fftsolve *s, const kv_field *rhs, kv_field *u);

/* Free; NULL is a no-op. Collective. */
void kv_fftsolve_free(kv_fftsolve *s);

#endif
