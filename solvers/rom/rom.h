/* kelvin — adaptive reduced-order models: POD-Galerkin with DEIM hyper-reduction and an error
 * indicator that triggers full-solver steps and basis updates (after Casenave et al., libROM and
 * pyMOR). The ROM is a model (run.model = rom) wrapping a full model through the optional ROM
 * hooks of kv_model_type; it never names the model it reduces.
 *
 * The full model integrates du/dt = F(u) with a theta scheme. The ROM keeps u ~ V a with V the
 * POD basis of training snapshots and solves the Galerkin system
 *   a1 - a0 = dt V^T (theta F(V a1) + (1 - theta) F(V a0)).
 * A linear model (kv_model_info.linear: F(u) = A u + F(0)) is projected exactly: V^T A V and
 * V^T F(0) from the model's linear_part and residual hooks at this run's parameters (k + 1
 * operator applications when the ROM starts and after each basis update), so each step costs
 * O(k^2). Otherwise F is hyper-reduced by DEIM: F ~ W (P^T W)^-1 P^T F with W the POD basis of F
 * snapshots and P the greedy DEIM points, F at P from the model's residual_at on the points'
 * stencils (cost independent of the grid size). For a model stepped by its theta scheme the
 * stiff linear part L (the Jacobian of F at the mean snapshot rom/u_ref) is projected exactly and
 * only N = F - L u is interpolated. A linear-implicit model (u1 = G (u0 + dt N(u0))) is reduced
 * as a1 = V^T G V a0 + dt V^T G W (P^T W)^-1 N_P(a0).
 *
 * Error indicator: the full time-discrete residual R = u1 - u0 - dt (theta F(u1) + (1 - theta)
 * F(u0)) of the lifted ROM states at rom.indicator_points random cells (a Monte-Carlo estimate of
 * its norm), relative to the full model's own tendency dt F there: the fraction of the step the
 * ROM gets wrong. With rom.adaptive, a step whose indicator exceeds rom.tolerance is redone by
 * the full solver from the lifted state, the new state joins the basis (incremental POD), F of it
 * the DEIM basis (points re-selected), and the ROM goes on from its projection.
 */
#ifndef KV_ROM_H
#define KV_ROM_H

#include "io/config.h"
#include "solvers/model.h"

/* The [rom] keys and the model type "rom" (run.model = rom). */
extern const kv_config_key kv_rom_keys[];
extern const kv_model_type kv_rom_type;

/* What a ROM run does (plain, caller-owned). */
typedef struct {
  char basis[4096];      /* rom.basis: the POD model file of kelvin fit (kind pod)          */
  char model[32];        /* rom.model: the full model reduced                              */
  char checkpoint[4200]; /* the run's checkpoint path (updated bases go beside it)         */
  double tolerance;      /* rom.tolerance: indicator threshold (> 0)                       */
  int adaptive;          /* rom.adaptive: full steps and basis updates above the threshold */
  int modes;             /* rom.modes: use the leading modes of the basis (0: all)          */
  int max_modes;         /* rom.max_modes: stop growing the basis here (0: no limit)        */
  int indicator_points;  /* rom.indicator_points                                           */
  unsigned long seed;    /* rom.seed: of the indicator cells                                */
  long check_every;      /* rom.check_every: also the full step every n-th step (0: never)  */
  int coefficients;      /* rom.output = coefficients: records hold the reduced coefficients,
                            not the lifted fields                                         */
  int newton_maxit;      /* rom.newton_maxit: reduced Newton iterations per step (50)       */
  double newton_rtol;    /* rom.newton_rtol: converged when |da| <= newton_rtol |a| (1e-11) */
  double newton_stall;   /* accept a stall (|da| halving no more) below this |da|/|a| (1e-8):
                            the round-off floor of the finite-difference Jacobian          */
  double fd_eps;         /* relative step of the reduced finite-difference Jacobian (1e-7)  */
  double jacobian_eps;   /* relative step of the central-difference Jacobian L (1e-4): exact
                            for F quadratic in u, O(e^2) otherwise                          */
  double armijo;         /* sufficient decrease of the backtracking line search (1e-4)      */
  int backtracks;        /* halvings of the Newton step at most (12)                        */
  double add_tol;        /* a full step's state is a new basis direction when its part off
                            the basis exceeds this fraction of its norm (1e-10)             */
} kv_rom_params;

/* Defaults (as in the key table; basis empty). */
void kv_rom_params_default(kv_rom_params *p);

/* Fill p from a validated configuration ([rom] and run.output). Errors name the file, line and
 * key. Not collective. */
int kv_rom_params_from_config(const kv_config *cfg, kv_rom_params *p);

/* Make cfg (a full model's run configuration) run the ROM of that model instead: run.model, the
 * wrapped model, the basis file, the indicator tolerance and adaptivity, each set with the tag
 * for messages (kv_config_set_tagged). Not collective. */
int kv_rom_config_set(kv_config *cfg, const char *basis, double tolerance, int adaptive,
                      const char *tag);

/* Training snapshots of a ROM basis, collected from run files through the models' ROM hooks. */
typedef struct {
  char model[32]; /* the model of the runs                                          */
  int ndims;
  long n[3];    /* grid cells per axis, x first                                   */
  long N;       /* cells                                                          */
  long m;       /* state snapshots                                                */
  double *S;    /* N x m, column-major                                            */
  long mf;      /* tendency snapshots (0: a linear model needs none)               */
  double *F;    /* N x mf: F(u), or N(u) = F(u) - L u when uref is set             */
  double *uref; /* N, the mean snapshot where L is the Jacobian of F, or NULL      */
  int linear;   /* the model is linear: the ROM projects it exactly                */
  long runs;    /* training runs                                                  */
} kv_rom_snapshots;

/* The snapshots of runs (output files of one model on one grid, their configuration stored in
 * them): every record of the state of a model that records its state, F at each record when the
 * model is not linear (and N = F - L u, L the Jacobian of F at the mean snapshot, when it steps by
 * its theta scheme); a model whose records are means is run again on this process, keeping the
 * state and F of every `every`-th step. Not collective (MPI_COMM_SELF). *out is the caller's
 * (kv_rom_snapshots_free). */
int kv_rom_snapshots_collect(char *const *files, long nfiles, long every, kv_rom_snapshots *out);

/* Free the arrays (the struct is the caller's); a zeroed struct is a no-op. */
void kv_rom_snapshots_free(kv_rom_snapshots *s);

#endif
