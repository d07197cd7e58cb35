/* kelvin — the ROM's private state and the functions its files share (solvers/rom/ only). */
#ifndef KV_ROM_IMPL_H
#define KV_ROM_IMPL_H

#include "core/field.h"
#include "numerics/pod.h"
#include "solvers/model.h"
#include "solvers/rom/rom.h"

#define S7 KV_STENCIL_MAX

typedef struct {
  kv_model base;
  kv_rom_params prm; /* what the run asked for                                       */
  kv_model *full;
  kv_model_info finfo;
  MPI_Comm comm;
  const kv_grid *grid;
  long nloc, N;
  long *gidx;    /* global cell of each local row                                */
  kv_pod *V, *W; /* state basis; DEIM basis of F (NULL: linear)                 */
  int k;
  int linear;
  int li;     /* the model steps as u1 = G (u0 + dt N(u0)) (linear_implicit)  */
  double *Gr; /* li: V^T G V, k x k column-major                               */
  int means;  /* records are means: a_sum / nsum of the reduced states        */
  double *a_sum;
  double *a_out; /* rom.output = coefficients: the record's mean coefficients              */
  long nsum;
  double t_origin; /* time of step 0                                              */
  double *A, *c;   /* linear: V^T A V and V^T F(0) at this run's parameters       */
  double *M, *d;   /* linear: a1 = M a0 + d                                       */
  long *P;         /* DEIM points (kf)                                            */
  double *D;       /* k x kf: V^T W (P^T W)^-1, column-major                      */
  long *E;         /* indicator cells (ne)                                        */
  int ne;
  long *sten;                    /* stencils of P then E: (kf + ne) x S7 global cells           */
  double *VS;                    /* rows of V at sten: ((kf + ne) S7) x k, row-major            */
  double *a, *a0, *FP, *FE, *uE; /* state; F at P and E of the state; u at E              */
  double *vals, *fv;             /* work: stencil values and F values                           */
  double *Jw;                    /* work                                                         */
  double *uref;                  /* split: the state whose Jacobian L of F is the exact linear
                                  * part (rom/u_ref; NULL: no split), this rank's rows           */
  double *Lt;                    /* split: V^T L V - D P^T L V, k x k column-major (the Galerkin
                                  * minus the DEIM part of L)                                    */
  kv_field *u;                   /* the lifted state                                             */
  double *uloc, *floc, *sloc;
  double theta, dt, tol;
  int adaptive, max_modes;
  long step;
  double t;
  double eta, eta_max; /* last indicator; largest since the last record               */
  long updates;
  long newton_its;
  int blas_threads;        /* the caller's OpenBLAS threads (restored around full steps)   */
  long check_every;        /* rom.check_every                                              */
  char chk[4200];          /* the run's checkpoint path: updated bases go beside it        */
  long saved[2];           /* update counts of the bases saved at the last two checkpoints */
  kv_field *u2;            /* the lifted record sum, for checkpoints                       */
  double chk_err, chk_eta; /* the last checked step's true local error and indicator       */
} kv_rom;

/* rom_reduced.c: the reduced algebra. Collective unless said otherwise. */

/* Lift V a into r->uloc and r->u. Local. */
void kv_rom_lift(kv_rom *r, const double *a);
/* out = L v, L the Jacobian of the model's F at uref (this rank's rows), by central differences
 * with relative step eps; w, fw: work fields of the model's grid; tmp: nloc values. */
int kv_rom_jacobian_apply(kv_model *m, long step, MPI_Comm comm, long nloc, const double *uref,
                          const double *v, double eps, kv_field *w, kv_field *fw, double *tmp,
                          double *out);
/* A linear model's reduced operators at this run's parameters: A = V^T A V, c = V^T F(0). */
int kv_rom_assemble_linear(kv_rom *r);
/* Everything that depends on the bases (after the DEIM points are chosen). */
int kv_rom_operators(kv_rom *r);
/* The DEIM points of the current W and everything that depends on the bases. */
int kv_rom_refresh(kv_rom *r);
/* F at P and E and u at E of the current state a. */
int kv_rom_refresh_point_values(kv_rom *r);
/* Distinct random indicator cells (the same on every rank). Local. */
void kv_rom_indicator_cells(kv_rom *r, unsigned long seed);
/* One ROM step (reduced solve, indicator, full step and update when adaptive). */
int kv_rom_step_reduced(kv_rom *r, double *t);

/* rom_basis.c: the basis file, checkpoints and restarts. */

/* The leading k modes of a (modes, grid...) dataset of path into this rank's rows U (nloc x k). */
int kv_rom_read_modes(kv_rom *r, const char *path, const char *name, int k, double *U);
/* Read the basis file p->basis (checked against this run's model and grid). */
int kv_rom_load_basis(kv_rom *r, const kv_config *cfg);
/* The kv_model_type checkpoint and restart operations. */
int kv_rom_checkpoint(kv_model *m, kv_output_list *out);
int kv_rom_restart(kv_model *m, const char *path);

#endif
