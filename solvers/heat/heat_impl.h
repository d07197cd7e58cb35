/* kelvin — the heat model's private state and what its files share (solvers/heat/ only). */
#ifndef KV_HEAT_IMPL_H
#define KV_HEAT_IMPL_H

#include <math.h>

#include "solvers/heat/fftsolve.h"
#include "solvers/heat/heat.h"
#include "solvers/heat/pcg.h"

/* Local fields larger than this (bytes, T and Tn together) take the streaming kernel: the new
 * state is written with non-temporal stores (no write-allocate read of Tn, 16 instead of 24 bytes
 * of memory traffic per update) and the one row that comes from memory is prefetched into L2 a
 * row ahead. For fields that stay in cache, ordinary stores are faster. */
#define KV_HEAT_STREAM_BYTES (32L * 1024 * 1024)

#define KV_PI 3.14159265358979323846

struct kv_heat {
  kv_model base;
  kv_heat_params p;
  kv_grid *grid;
  kv_field *T, *Tn; /* current and next state                         */
  kv_field *kappa;  /* NULL when constant                              */
  kv_field *dq;     /* explicit: dt q; implicit: dt (q + theta b); NULL if zero */
  kv_field *q;      /* the source q itself (ROM hooks), NULL if none   */
  kv_field *work;   /* ROM hooks: scratch, created on first use         */
  kv_fftsolve *fft; /* implicit schemes, heat.solver = fft              */
  int fft_pending;  /* the FFT solver is planned when stepping starts (kv_heat_prepare) */
  kv_fftsolve_params fftp;
  kv_pcg *pcg;  /* implicit schemes, heat.solver = pcg              */
  kv_field *xs; /* pcg: the iterate                                 */
  long iters;   /* pcg: iterations and relative residual of the last step */
  double relres;
  int nonlinear;                          /* kappa depends on T                               */
  long nl_iters;                          /* Picard iterations of the last step               */
  kv_field *rhs0, *zero, *bfield, *xprev; /* Picard work                    */
  double theta;                           /* 1 backward Euler, 1/2 Crank-Nicolson, 0 explicit */
  double kappa_max;
  double inv_h2_sum; /* sum_d 1/h_d^2 */
  double dt, dt_limit;
  long step, nsteps;
  double t;
};

/* kappa(T) of a conductivity law (heat.kappa = linear(k0, k1) or power(k0, T0, p)). */
static inline double kappa_of(const kv_heat_params *p, double T) {
  const double *a = p->kappa_field.args;
  return p->kappa_scale *
         (p->kappa_field.name[0] == 'l' ? a[0] + a[1] * T : a[0] * pow(T / a[1], a[2]));
}

/* The harmonic mean of two face conductivities. */
static inline double hmean(double a, double b) {
  return 2.0 * a * b / (a + b);
}

/* heat_kernels.c: out = T + dtk L_h(T) on the interior (constant / variable kappa), returning
 * nonzero when a value is not finite; the ghosts of f from the boundary conditions (kappa_mode:
 * the conductivity's ghosts copy the boundary cell); kappa from T for kappa(T). */
int kv_heat_kernel_const(const kv_heat *h, double dtk, const double *restrict T,
                         double *restrict out, const double *restrict dq);
int kv_heat_kernel_var(const kv_heat *h, double dtk, const double *restrict T, double *restrict out,
                       const double *restrict K, const double *restrict dq);
void kv_heat_fill_boundary(const kv_heat *h, kv_field *f, int kappa_mode);
int kv_heat_kappa_update(kv_heat *h, const kv_field *T);

#endif
