/* kelvin — adaptive reduced-order models: POD-Galerkin with DEIM hyper-reduction and an error
 * indicator that triggers full-solver steps and basis updates (after Casenave et al., libROM and
 * pyMOR).
 *
 * The full model integrates du/dt = F(u) with a theta scheme. The ROM keeps u ~ V a with V the
 * POD basis of training snapshots and solves the Galerkin system
 *   a1 - a0 = dt V^T (theta F(V a1) + (1 - theta) F(V a0)).
 * Linear heat: F(u) = s_k (A u + b) + s_q q with the reduced operators V^T A V, V^T b, V^T q
 * assembled once offline at unit kappa and source scales (heat.kappa_scale = s_k,
 * heat.source_scale = s_q: an affine decomposition), so each step costs O(k^2). Otherwise F is
 * hyper-reduced by DEIM: F ~ W (P^T W)^-1 P^T F with W the POD basis of F snapshots and P the
 * greedy DEIM points, F at P from the model's residual_at on the points' stencils (cost independent
 * of the grid size).
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

/* What kv_rom_fit reports. */
typedef struct {
  int modes;            /* state modes kept                        */
  int deim_modes;       /* DEIM modes of F (0 for a linear model)  */
  long snapshots;
  double energy;        /* fraction of sum sigma^2 the modes keep  */
  int linear;           /* reduced operators stored                */
  int split;            /* DEIM of N = F - L u, L the Jacobian at rom/u_ref */
} kv_rom_fit_info;

/* kelvin fit with surrogate.kind = pod: the POD basis of every record of the state in files (run
 * outputs of one model on one grid; heat for now), truncated by surrogate.energy (default
 * 1 - 1e-10 here) or surrogate.modes; for a linear problem the reduced operators at unit scales,
 * otherwise the DEIM basis of F at the same records (surrogate.deim_modes; for kappa(T) heat of
 * N = F - L u, L the Jacobian of F at the mean snapshot, stored as rom/u_ref). Written to path
 * atomically. Serial (one process). */
int kv_rom_fit(const kv_config *cfg, char *const *files, long nfiles, const char *path,
               kv_rom_fit_info *info);

#endif
