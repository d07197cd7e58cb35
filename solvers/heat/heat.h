/* kelvin — heat equation dT/dt = div(kappa grad T) + q on a 1-3D box, finite volumes on a
 * cell-centred grid, explicit (forward Euler) time stepping, MPI domain decomposition.
 *
 * Implicit schemes (theta = 1 backward Euler, 1/2 Crank-Nicolson) solve
 *   (I - theta dt L) T^{n+1} = T^n + (1 - theta) dt L_h(T^n) + theta dt b + dt q,
 * where L_h is the operator with the boundary values, L its homogeneous part and b = L_h(0) the
 * boundary-value term; heat.solver = fft solves it directly (solvers/heat/fftsolve.h), pcg
 * iteratively (solvers/heat/pcg.h). With a temperature-dependent kappa(T) the implicit step is
 * solved by Picard iterations: kappa and b from the latest iterate, one PCG solve each, until the
 * iterates agree to heat.nl_rtol; the explicit scheme updates kappa from T every step and stops
 * if the step has become unstable.
 *
 * Boundary conditions per face: Dirichlet T = g on the face (ghost T_g = 2 g - T_in), Neumann
 * dT/dn = g outward (T_g = T_in + h g), or periodic (both faces of the axis). With this choice the
 * discrete sine modes sin(k pi x / L) are exact eigenvectors of the Dirichlet operator and cosine
 * modes of the Neumann one, which the FFT solvers of later issues rely on. Variable kappa uses the
 * harmonic mean of the two cells on each face, so the scheme is conservative.
 */
#ifndef KV_HEAT_H
#define KV_HEAT_H

#include <mpi.h>

#include "core/field.h"
#include "io/config.h"
#include "solvers/model.h"

typedef enum { KV_BC_DIRICHLET = 0, KV_BC_NEUMANN, KV_BC_PERIODIC } kv_bc_type;

/* Time integration: forward Euler, backward Euler, Crank-Nicolson. */
typedef enum { KV_HEAT_EXPLICIT = 0, KV_HEAT_IMPLICIT, KV_HEAT_CN } kv_heat_scheme;

/* Linear solver of the implicit schemes. */
typedef enum { KV_HEAT_SOLVER_FFT = 0, KV_HEAT_SOLVER_PCG } kv_heat_solver;

/* Streaming-store kernel choice (heat.stream_stores); results are bitwise the same. */
typedef enum { KV_HEAT_STREAM_AUTO = 0, KV_HEAT_STREAM_ON, KV_HEAT_STREAM_OFF } kv_heat_stream;

typedef struct {
  int dims;
  long n[KV_MAXDIM];
  double length[KV_MAXDIM];
  double kappa;               /* constant conductivity (when kappa_field.name is "number"),
                                 kappa_scale included                                       */
  double kappa_scale;         /* multiplies kappa in every form (ROM affine parameter)      */
  double source_scale;        /* multiplies the source                                      */
  kv_config_func kappa_field; /* "number", "file", "linear" (k0 + k1 T) or "power"
                                 (k0 (T / T0)^p): the last two make the problem nonlinear */
  kv_bc_type bc[KV_MAXDIM][2];
  double bc_value[KV_MAXDIM][2];
  kv_config_func initial;    /* constant | sine | gaussian | file | number               */
  kv_config_func source;     /* same forms, or none                                       */
  kv_config_func source_add; /* a second source added to it (placed elements), or none   */
  double t_end;
  double dt; /* requested step; 0: cfl times the stability limit          */
  double cfl;
  kv_heat_stream stream_stores;
  kv_heat_scheme scheme;
  kv_heat_solver solver;
  unsigned fft_planner; /* FFTW planner flag                                          */
  char fft_wisdom[512]; /* wisdom file ("" for none)                                  */
  int pc;               /* kv_pc_type: mg, jacobi, none                               */
  double rtol;          /* PCG relative residual tolerance                            */
  long maxit;           /* PCG iteration limit                                        */
  int mg_smooth;        /* Jacobi sweeps before and after each coarse correction      */
  double mg_alpha;      /* scale of the coarse-grid correction                        */
  double nl_rtol;       /* Picard: stop when ||T_m+1 - T_m|| <= nl_rtol ||T_m+1||     */
  long nl_maxit;        /* Picard iteration limit per step                            */
} kv_heat_params;

typedef struct kv_heat kv_heat;

/* The heat model's config keys (section [heat]) and its model type. */
extern const kv_config_key kv_heat_keys[];
extern const kv_model_type kv_heat_type;

/* Defaults: 1D, 64 cells, length 1, kappa 1, Dirichlet 0, initial 0, no source. */
void kv_heat_params_default(kv_heat_params *p);

/* Fill params from a validated config ([heat] and run.t_end, run.dt, run.cfl). Errors name the
 * file, line and key. Not collective. */
int kv_heat_params_from_config(const kv_config *cfg, kv_heat_params *p);

/* Create the solver: grid, fields, initial condition, time step. Fails with KV_ERR_CONFIG when
 * run.dt exceeds the stability limit (the limit is in the message). Collective. */
int kv_heat_create(MPI_Comm comm, const kv_heat_params *p, kv_heat **out);

/* Set up what stepping needs and creation deferred (the FFT solver's plan); kv_heat_step does it
 * on the first step otherwise. Idempotent. Collective. */
int kv_heat_prepare(kv_heat *h);

/* One step of the configured scheme. Collective. KV_ERR_NUMERIC (agreed) when T becomes non-finite.
 */
int kv_heat_step(kv_heat *h, double *t);

/* Current temperature field (borrowed). */
const kv_field *kv_heat_state(const kv_heat *h);

/* Stability limit of the explicit scheme: 1 / (2 kappa_max sum_d 1/h_d^2). */
double kv_heat_dt_limit(const kv_heat *h);

/* Reduced-order models. out = L_h(u), the discrete div(kappa grad u) with the boundary values
 * (homogeneous = 1: with zero boundary values, the linear part A u of L_h(u) = A u + b), kappa
 * from u when it depends on T, heat.kappa_scale included. u and out are fields on the model's
 * grid; out's ghosts are not set. Collective. */
int kv_heat_operator(kv_heat *h, const kv_field *u, int homogeneous, kv_field *out);

/* Free; NULL is a no-op. Collective. */
void kv_heat_free(kv_heat *h);

#endif
