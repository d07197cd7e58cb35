/* kelvin — preconditioned conjugate gradients for (I - c L0) x = b, where L0 is the
 * variable-coefficient finite-volume Laplacian div(kappa grad .) with homogeneous boundary
 * conditions (harmonic face means, the ghost rules of kv_field_fill_boundary). The operator is
 * symmetric positive definite, so CG applies.
 *
 * Preconditioners: Jacobi, or one geometric multigrid V-cycle. The V-cycle coarsens by 2 per axis
 * while every rank's block allows it (kv_grid_coarsen), prolongs piecewise constantly, restricts
 * by averaging (R = P^T / 2^d) and uses I - 2^l c L0_{2^l h} on level l with averaged kappa: for
 * constant kappa exactly the Galerkin operator R A P of the finer level, which keeps the cycle
 * symmetric positive definite; the correction is scaled by alpha (default 1.5). Damped Jacobi
 * smoothing (the same sweeps before and after) and a fixed number of Jacobi sweeps on the coarsest
 * level make it a fixed linear operator.
 */
#ifndef KV_PCG_H
#define KV_PCG_H

#include "core/field.h"
#include "core/grid.h"

typedef enum { KV_PC_MG = 0, KV_PC_JACOBI = 1, KV_PC_NONE = 2 } kv_pc_type;

typedef struct {
  int bc[3][2];          /* kv_ghost_rule per face: Dirichlet, Neumann or periodic        */
  double coef;           /* c = theta dt                                                  */
  const kv_field *kappa; /* conductivity on the grid (interior read), or NULL: kappa0     */
  double kappa0;
  kv_pc_type pc;
  double rtol; /* stop when ||b - A x|| <= rtol ||b||                           */
  long maxit;
  int smooth;        /* Jacobi sweeps before and after the coarse correction          */
  int coarse_sweeps; /* Jacobi sweeps on the coarsest level                           */
  double omega;      /* Jacobi damping                                                */
  double alpha;      /* scale of the coarse-grid correction: piecewise-constant
                        transfer under-corrects, and 1 < alpha < 2 (Braess) restores
                        the convergence while the cycle stays symmetric positive definite */
  int max_levels;
} kv_pcg_params;

typedef struct kv_pcg kv_pcg;

/* Defaults: MG, rtol 1e-8, maxit 500, 2 sweeps, 40 coarse sweeps, omega 0.8, alpha 1.5, 30
 * levels. */
void kv_pcg_params_default(kv_pcg_params *p);

/* Build the solver (and the multigrid hierarchy) on grid g. Collective. The grid is borrowed. */
int kv_pcg_create(const kv_grid *g, const kv_pcg_params *p, kv_pcg **out);

/* Solve A x = b; x holds the initial guess on entry. *iters and *relres receive the iteration
 * count and the final relative residual. KV_ERR_NOT_CONVERGED (agreed) when maxit is reached
 * first.
 * Collective; no allocation. */
int kv_pcg_solve(kv_pcg *s, const kv_field *b, kv_field *x, long *iters, double *relres);

/* Replace the conductivity (interior of kappa, shaped like the grid) and rebuild what depends on
 * it: the coarse-level averages and every level's diagonal. Collective; no allocation. */
int kv_pcg_set_kappa(kv_pcg *s, const kv_field *kappa);

/* Number of multigrid levels (1 without coarsening). */
int kv_pcg_levels(const kv_pcg *s);

/* Free; NULL is a no-op. Collective. */
void kv_pcg_free(kv_pcg *s);

#endif
