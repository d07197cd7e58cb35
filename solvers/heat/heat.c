#include "solvers/heat/heat.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/heat/fftsolve.h"
#include "solvers/heat/pcg.h"
#include <fftw3.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

/* Local fields larger than this (bytes, T and Tn together) take the streaming kernel: the new
 * state is written with non-temporal stores (no write-allocate read of Tn, 16 instead of 24 bytes
 * of memory traffic per update) and the one row that comes from memory is prefetched into L2 a
 * row ahead. For fields that stay in cache, ordinary stores are faster. */
#define KV_HEAT_STREAM_BYTES (32L * 1024 * 1024)

#define KV_PI 3.14159265358979323846
#define PROFILE_FORMS "constant(v), sine(k1[,k2[,k3]]), gaussian(x0[,y0[,z0]],sigma,amp), a number or file.h5:/dataset"

const kv_config_key kv_heat_keys[] = {
    {"heat.dims", KV_CFG_INT, "1", NULL, 1, 3, "number of space dimensions"},
    {"heat.n", KV_CFG_INT_LIST, NULL, NULL, 1, INFINITY, "cells per axis, x first (e.g. 256, 128)"},
    {"heat.length", KV_CFG_DOUBLE_LIST, "1.0", NULL, 0.0, INFINITY,
     "box length per axis (one value: the same for all axes)"},
    {"heat.kappa", KV_CFG_FUNC, "1.0",
     "a positive number, file.h5:/dataset, linear(k0, k1) or power(k0, T0, p)", KV_CFG_NORANGE,
     "conductivity: a constant, a field from an HDF5 dataset shaped like the grid, k0 + k1 T, or "
     "k0 (T/T0)^p"},
    {"heat.kappa_scale", KV_CFG_DOUBLE, "1.0", NULL, 0.0, INFINITY,
     "multiplies the conductivity (whatever its form): the parameter a reduced-order model is "
     "affine in"},
    {"heat.source_scale", KV_CFG_DOUBLE, "1.0", NULL, KV_CFG_NORANGE,
     "multiplies heat.source (the source amplitude of a reduced-order model's affine "
     "decomposition)"},
    {"heat.nl_rtol", KV_CFG_DOUBLE, "1e-8", NULL, 0.0, 1.0,
     "kappa(T), implicit: Picard iterations stop when the change is below nl_rtol times the state"},
    {"heat.nl_maxit", KV_CFG_INT, "50", NULL, 1, INFINITY,
     "kappa(T), implicit: Picard iteration limit per step (an error beyond)"},
    {"heat.bc", KV_CFG_ENUM, "dirichlet", "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "boundary condition on every face"},
    {"heat.bc.xlo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the x = 0 face"},
    {"heat.bc.xhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the x = Lx face"},
    {"heat.bc.ylo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the y = 0 face"},
    {"heat.bc.yhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the y = Ly face"},
    {"heat.bc.zlo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the z = 0 face"},
    {"heat.bc.zhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE, "override for the z = Lz face"},
    {"heat.bc_value", KV_CFG_DOUBLE, "0.0", NULL, KV_CFG_NORANGE,
     "Dirichlet: face temperature; Neumann: outward normal gradient dT/dn"},
    {"heat.bc_value.xlo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the x = 0 face"},
    {"heat.bc_value.xhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the x = Lx face"},
    {"heat.bc_value.ylo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the y = 0 face"},
    {"heat.bc_value.yhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the y = Ly face"},
    {"heat.bc_value.zlo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the z = 0 face"},
    {"heat.bc_value.zhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the z = Lz face"},
    {"heat.initial", KV_CFG_FUNC, "constant(0)", PROFILE_FORMS, KV_CFG_NORANGE,
     "initial temperature"},
    {"heat.source", KV_CFG_FUNC, "none", "none or " PROFILE_FORMS, KV_CFG_NORANGE,
     "heat source q (K/s), constant in time"},
    {"heat.scheme", KV_CFG_ENUM, "explicit", "explicit|implicit|cn", KV_CFG_NORANGE,
     "time integration: explicit (forward Euler), implicit (backward Euler), cn (Crank-Nicolson)"},
    {"heat.solver", KV_CFG_ENUM, "fft", "fft|pcg", KV_CFG_NORANGE,
     "linear solver of the implicit schemes: fft (direct, constant kappa) or pcg (any kappa)"},
    {"heat.pc", KV_CFG_ENUM, "mg", "mg|jacobi|none", KV_CFG_NORANGE,
     "pcg preconditioner: one geometric multigrid V-cycle, Jacobi, or none"},
    {"heat.rtol", KV_CFG_DOUBLE, "1e-8", NULL, 0.0, 1.0,
     "pcg: stop when the residual norm is below rtol times the right-hand side's"},
    {"heat.maxit", KV_CFG_INT, "500", NULL, 1, INFINITY, "pcg: iteration limit (an error beyond)"},
    {"heat.mg_smooth", KV_CFG_INT, "2", NULL, 1, 20,
     "mg: damped Jacobi sweeps before and after each coarse-grid correction"},
    {"heat.mg_alpha", KV_CFG_DOUBLE, "0", NULL, 0.0, 1.95,
     "mg: scale of the coarse-grid correction, 1..1.95 (over-correction for the piecewise-constant "
     "transfer); 0 = by dimension: 1.25 in 1D, 1.5 in 2D, 1.0 in 3D (measured best)"},
    {"heat.fft_planner", KV_CFG_ENUM, "measure", "estimate|measure|patient", KV_CFG_NORANGE,
     "FFTW planner effort (plans are made once per run)"},
    {"heat.fft_wisdom", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "FFTW wisdom file: read before planning if present, written after"},
    {"heat.stream_stores", KV_CFG_ENUM, "auto", "auto|on|off", KV_CFG_NORANGE,
     "streaming-store kernel (2D/3D, constant kappa, no source): auto = when T and Tn exceed 32 MiB "
     "per rank; same results either way"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

struct kv_heat {
  kv_model base;
  kv_heat_params p;
  kv_grid *grid;
  kv_field *T, *Tn;     /* current and next state                         */
  kv_field *kappa;      /* NULL when constant                              */
  kv_field *dq;         /* explicit: dt q; implicit: dt (q + theta b); NULL if zero */
  kv_field *q;          /* the source q itself (ROM hooks), NULL if none   */
  kv_field *work;       /* ROM hooks: scratch, created on first use         */
  kv_fftsolve *fft;     /* implicit schemes, heat.solver = fft              */
  kv_pcg *pcg;          /* implicit schemes, heat.solver = pcg              */
  kv_field *xs;         /* pcg: the iterate                                 */
  long iters;           /* pcg: iterations and relative residual of the last step */
  double relres;
  int nonlinear;        /* kappa depends on T                               */
  long nl_iters;        /* Picard iterations of the last step               */
  kv_field *rhs0, *zero, *bfield, *xprev; /* Picard work                    */
  double theta;         /* 1 backward Euler, 1/2 Crank-Nicolson, 0 explicit */
  double kappa_max;
  double inv_h2_sum;    /* sum_d 1/h_d^2 */
  double dt, dt_limit;
  long step, nsteps;
  double t;
};

void kv_heat_params_default(kv_heat_params *p) {
  memset(p, 0, sizeof *p);
  p->dims = 1;
  for (int d = 0; d < KV_MAXDIM; d++) {
    p->n[d] = d == 0 ? 64 : 1;
    p->length[d] = 1.0;
  }
  p->kappa = 1.0;
  strcpy(p->kappa_field.name, "number");
  p->kappa_field.nargs = 1;
  p->kappa_field.args[0] = 1.0;
  strcpy(p->initial.name, "constant");
  p->initial.nargs = 1;
  strcpy(p->source.name, "none");
  p->t_end = 1.0;
  p->cfl = 0.9;
  p->kappa_scale = 1.0;
  p->source_scale = 1.0;
}

/* ---------------------------------------------------------------- configuration */

static int check_profile(const kv_config *cfg, const char *key, const kv_config_func *f, int dims,
                         int allow_none) {
  const char *n = f->name;
  int ok;
  if (strcmp(n, "number") == 0 || strcmp(n, "file") == 0) {
    ok = 1;
  } else if (strcmp(n, "none") == 0) {
    ok = allow_none;
  } else if (strcmp(n, "constant") == 0) {
    ok = f->nargs == 1;
  } else if (strcmp(n, "sine") == 0) {
    ok = f->nargs >= 1 && f->nargs <= dims;
  } else if (strcmp(n, "gaussian") == 0) {
    ok = f->nargs == dims + 2 && f->args[dims] > 0.0;
  } else {
    ok = 0;
  }
  if (!ok) {
    return kv_config_errorf(cfg, key, "expected %s%s (in %dD: sine takes 1..%d wave numbers, "
                            "gaussian %d centre coordinates then sigma > 0 and amplitude)",
                            allow_none ? "none, " : "", PROFILE_FORMS, dims, dims, dims);
  }
  return KV_OK;
}

int kv_heat_params_from_config(const kv_config *cfg, kv_heat_params *p) {
  kv_heat_params_default(p);
  long v;
  KV_CHECK(kv_config_get_int(cfg, "heat.dims", 1, 3, &v));
  p->dims = (int)v;
  int cnt;
  long n[8];
  KV_CHECK(kv_config_get_int_list(cfg, "heat.n", n, 8, &cnt));
  if (cnt != p->dims) {
    return kv_config_errorf(cfg, "heat.n", "expected %d cell counts (one per axis, heat.dims = %d)",
                            p->dims, p->dims);
  }
  for (int d = 0; d < p->dims; d++) {
    if (n[d] < 1) {
      return kv_config_errorf(cfg, "heat.n", "expected positive cell counts");
    }
    p->n[d] = n[d];
  }
  double len[8];
  KV_CHECK(kv_config_get_double_list(cfg, "heat.length", len, 8, &cnt));
  if (cnt != 1 && cnt != p->dims) {
    return kv_config_errorf(cfg, "heat.length", "expected 1 or %d lengths", p->dims);
  }
  for (int d = 0; d < p->dims; d++) {
    p->length[d] = cnt == 1 ? len[0] : len[d];
    if (!(p->length[d] > 0.0)) {
      return kv_config_errorf(cfg, "heat.length", "expected positive lengths");
    }
  }
  KV_CHECK(kv_config_get_func(cfg, "heat.kappa", &p->kappa_field));
  KV_CHECK(kv_config_get_double(cfg, "heat.kappa_scale", 0.0, INFINITY, &p->kappa_scale));
  if (!(p->kappa_scale > 0.0)) {
    return kv_config_errorf(cfg, "heat.kappa_scale", "expected a positive factor");
  }
  KV_CHECK(kv_config_get_double(cfg, "heat.source_scale", 1.0, 0.0, &p->source_scale));
  if (strcmp(p->kappa_field.name, "number") == 0) {
    p->kappa = p->kappa_field.args[0];
    if (!(p->kappa > 0.0)) {
      return kv_config_errorf(cfg, "heat.kappa", "expected a positive conductivity");
    }
  } else if (strcmp(p->kappa_field.name, "linear") == 0) {
    if (p->kappa_field.nargs != 2) {
      return kv_config_errorf(cfg, "heat.kappa", "expected linear(k0, k1): kappa = k0 + k1 T");
    }
    p->kappa = p->kappa_field.args[0];
  } else if (strcmp(p->kappa_field.name, "power") == 0) {
    const double *a = p->kappa_field.args;
    if (p->kappa_field.nargs != 3 || !(a[0] > 0.0) || !(a[1] > 0.0)) {
      return kv_config_errorf(cfg, "heat.kappa",
                              "expected power(k0, T0, p) with k0 > 0, T0 > 0: kappa = k0 (T/T0)^p");
    }
    p->kappa = a[0];
  } else if (strcmp(p->kappa_field.name, "file") != 0) {
    return kv_config_errorf(cfg, "heat.kappa", "expected a positive number, file.h5:/dataset, "
                            "linear(k0, k1) or power(k0, T0, p)");
  }
  p->kappa *= p->kappa_scale;
  /* Boundary conditions: heat.bc for all faces, then per-face overrides. */
  static const char *const faces[KV_MAXDIM][2] = {{"xlo", "xhi"}, {"ylo", "yhi"}, {"zlo", "zhi"}};
  int all;
  double gval;
  KV_CHECK(kv_config_get_enum(cfg, "heat.bc", "dirichlet|neumann|periodic", &all));
  KV_CHECK(kv_config_get_double(cfg, "heat.bc_value", 1.0, 0.0, &gval));
  for (int d = 0; d < KV_MAXDIM; d++) {
    for (int s = 0; s < 2; s++) {
      char key[64];
      snprintf(key, sizeof key, "heat.bc.%s", faces[d][s]);
      int b = all;
      if (kv_config_has(cfg, key)) {
        if (d >= p->dims) {
          return kv_config_errorf(cfg, key, "this face does not exist in %dD", p->dims);
        }
        KV_CHECK(kv_config_get_enum(cfg, key, "dirichlet|neumann|periodic", &b));
      }
      p->bc[d][s] = (kv_bc_type)b;
      snprintf(key, sizeof key, "heat.bc_value.%s", faces[d][s]);
      p->bc_value[d][s] = gval;
      if (kv_config_has(cfg, key)) {
        if (d >= p->dims) {
          return kv_config_errorf(cfg, key, "this face does not exist in %dD", p->dims);
        }
        KV_CHECK(kv_config_get_double(cfg, key, 1.0, 0.0, &p->bc_value[d][s]));
      }
    }
    if (d < p->dims && (p->bc[d][0] == KV_BC_PERIODIC) != (p->bc[d][1] == KV_BC_PERIODIC)) {
      /* Blame the face that was set explicitly, if any. */
      char key[64];
      snprintf(key, sizeof key, "heat.bc.%s", faces[d][0]);
      if (!kv_config_has(cfg, key)) {
        snprintf(key, sizeof key, "heat.bc.%s", faces[d][1]);
      }
      return kv_config_errorf(cfg, key, "periodic must be set on both faces of axis %c", "xyz"[d]);
    }
  }
  KV_CHECK(kv_config_get_func(cfg, "heat.initial", &p->initial));
  KV_CHECK(check_profile(cfg, "heat.initial", &p->initial, p->dims, 0));
  KV_CHECK(kv_config_get_func(cfg, "heat.source", &p->source));
  KV_CHECK(check_profile(cfg, "heat.source", &p->source, p->dims, 1));
  int scheme, stream, solver, planner;
  KV_CHECK(kv_config_get_enum(cfg, "heat.scheme", "explicit|implicit|cn", &scheme));
  p->scheme = (kv_heat_scheme)scheme;
  KV_CHECK(kv_config_get_enum(cfg, "heat.solver", "fft|pcg", &solver));
  p->solver = (kv_heat_solver)solver;
  KV_CHECK(kv_config_get_enum(cfg, "heat.pc", "mg|jacobi|none", &p->pc));
  KV_CHECK(kv_config_get_double(cfg, "heat.rtol", 0.0, 1.0, &p->rtol));
  if (!(p->rtol > 0.0)) {
    return kv_config_errorf(cfg, "heat.rtol", "expected a tolerance in (0, 1]");
  }
  KV_CHECK(kv_config_get_int(cfg, "heat.maxit", 1, 1000000000L, &p->maxit));
  long sweeps;
  KV_CHECK(kv_config_get_int(cfg, "heat.mg_smooth", 1, 20, &sweeps));
  p->mg_smooth = (int)sweeps;
  KV_CHECK(kv_config_get_double(cfg, "heat.mg_alpha", 0.0, 1.95, &p->mg_alpha));
  if (p->mg_alpha != 0.0 && p->mg_alpha < 1.0) {
    return kv_config_errorf(cfg, "heat.mg_alpha", "expected 0 (automatic) or a value in [1, 1.95]");
  }
  if (p->mg_alpha == 0.0) {
    static const double by_dim[3] = {1.25, 1.5, 1.0};
    p->mg_alpha = by_dim[p->dims - 1];
  }
  KV_CHECK(kv_config_get_enum(cfg, "heat.fft_planner", "estimate|measure|patient", &planner));
  static const unsigned flags[] = {FFTW_ESTIMATE, FFTW_MEASURE, FFTW_PATIENT};
  p->fft_planner = flags[planner];
  p->fft_wisdom[0] = '\0';
  if (kv_config_has(cfg, "heat.fft_wisdom")) {
    const char *wf;
    KV_CHECK(kv_config_get_string(cfg, "heat.fft_wisdom", &wf));
    if (strlen(wf) >= sizeof p->fft_wisdom) {
      return kv_config_errorf(cfg, "heat.fft_wisdom", "path too long");
    }
    strcpy(p->fft_wisdom, wf);
  }
  double nl_rtol;
  KV_CHECK(kv_config_get_double(cfg, "heat.nl_rtol", 0.0, 1.0, &nl_rtol));
  if (!(nl_rtol > 0.0)) {
    return kv_config_errorf(cfg, "heat.nl_rtol", "expected a tolerance in (0, 1]");
  }
  p->nl_rtol = nl_rtol;
  KV_CHECK(kv_config_get_int(cfg, "heat.nl_maxit", 1, 1000000000L, &p->nl_maxit));
  if (p->scheme != KV_HEAT_EXPLICIT && p->solver == KV_HEAT_SOLVER_FFT &&
      strcmp(p->kappa_field.name, "number") != 0) {
    return kv_config_errorf(cfg, "heat.kappa",
                            "heat.solver = fft needs a constant conductivity (its eigenvectors are "
                            "those of the constant-coefficient operator); use heat.solver = pcg");
  }
  KV_CHECK(kv_config_get_enum(cfg, "heat.stream_stores", "auto|on|off", &stream));
  p->stream_stores = (kv_heat_stream)stream;
  KV_CHECK(kv_config_get_double(cfg, "run.t_end", 0.0, INFINITY, &p->t_end));
  if (!(p->t_end > 0.0)) {
    return kv_config_errorf(cfg, "run.t_end", "expected a positive end time");
  }
  p->dt = 0.0;
  if (kv_config_has(cfg, "run.dt")) {
    KV_CHECK(kv_config_get_double(cfg, "run.dt", 0.0, INFINITY, &p->dt));
    if (!(p->dt > 0.0)) {
      return kv_config_errorf(cfg, "run.dt", "expected a positive time step");
    }
  }
  if (p->scheme != KV_HEAT_EXPLICIT && !(p->dt > 0.0)) {
    return kv_config_errorf(cfg, "run.dt", "implicit schemes need a time step (any size is stable)");
  }
  KV_CHECK(kv_config_get_double(cfg, "run.cfl", 0.0, 1.0, &p->cfl));
  if (!(p->cfl > 0.0)) {
    return kv_config_errorf(cfg, "run.cfl", "expected a fraction in (0, 1]");
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- profiles */

typedef struct {
  const kv_config_func *f;
  const double *len;
  int dims;
} profile_ctx;

static double profile_value(const double *x, void *vctx) {
  const profile_ctx *c = vctx;
  const kv_config_func *f = c->f;
  if (strcmp(f->name, "number") == 0 || strcmp(f->name, "constant") == 0) {
    return f->args[0];
  }
  if (strcmp(f->name, "sine") == 0) {
    double v = 1.0;
    for (int d = 0; d < f->nargs; d++) {
      v *= sin(f->args[d] * KV_PI * x[d] / c->len[d]);
    }
    return v;
  }
  /* gaussian(x0[,y0[,z0]], sigma, amp) */
  double r2 = 0.0;
  for (int d = 0; d < c->dims; d++) {
    double dx = x[d] - f->args[d];
    r2 += dx * dx;
  }
  double s = f->args[c->dims], a = f->args[c->dims + 1];
  return a * exp(-0.5 * r2 / (s * s));
}

/* Set field from a profile (analytic or file). Collective (file reads are). */
static int set_profile(kv_field *f, const kv_config_func *prof, const double *len, int dims) {
  if (strcmp(prof->name, "file") == 0) {
    return kv_h5_read_field(prof->path, prof->dataset, -1, f);
  }
  profile_ctx c = {prof, len, dims};
  kv_field_set_fn(f, profile_value, &c);
  return KV_OK;
}

/* ---------------------------------------------------------------- boundary ghosts */

/* Fill the ghost cells of f on physical faces from the boundary conditions (kappa_mode: copy
 * the adjacent value, used for the conductivity so that boundary face means equal the boundary
 * cell's kappa). kv_bc_type values coincide with kv_ghost_rule's. */
static void fill_boundary(const kv_heat *h, kv_field *f, int kappa_mode) {
  int rule[3][2];
  for (int d = 0; d < 3; d++) {
    for (int s = 0; s < 2; s++) {
      rule[d][s] = kappa_mode && h->p.bc[d][s] != KV_BC_PERIODIC ? KV_GHOST_COPY : (int)h->p.bc[d][s];
    }
  }
  kv_field_fill_boundary(f, (const int(*)[2])rule, (const double(*)[2])h->p.bc_value);
}

/* ---------------------------------------------------------------- kernels */

#if defined(__AVX__)
/* One row of the constant-kappa stencil with streaming stores:
 *   o = c0 c + ax (c[-1] + c[+1]) + ay (s + n) [+ az (b + f)]
 * fresh is the neighbour row that arrives from memory (n in 2D, f in 3D); the row after it is
 * prefetched into L2 so the next row finds it there. Returns 1 if a result is not finite. */
static inline __attribute__((always_inline)) int row_stream(double *restrict o, const double *restrict c, const double *restrict s,
                      const double *restrict n, const double *restrict b, const double *restrict f,
                      const double *restrict ahead, long len, double c0, double ax, double ay,
                      double az) {
  long i = 0;
  int bad = 0;
  /* Scalar prologue up to the 32-byte boundary that _mm256_stream_pd needs. */
  for (; i < len && ((uintptr_t)(o + i) & 31) != 0; i++) {
    double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + n[i]);
    if (b) v += az * (b[i] + f[i]);
    o[i] = v;
    bad |= (v - v) != 0.0;
  }
  const __m256d vc0 = _mm256_set1_pd(c0), vax = _mm256_set1_pd(ax), vay = _mm256_set1_pd(ay),
                vaz = _mm256_set1_pd(az);
  __m256d acc = _mm256_setzero_pd();
  /* Eight cells (one 64-byte line of o) per iteration, one prefetch per line. */
  for (; i + 8 <= len; i += 8) {
    _mm_prefetch((const char *)(ahead + i), _MM_HINT_T1);
    for (long q = i; q < i + 8; q += 4) {
      __m256d lr = _mm256_add_pd(_mm256_loadu_pd(c + q - 1), _mm256_loadu_pd(c + q + 1));
      __m256d sn = _mm256_add_pd(_mm256_loadu_pd(s + q), _mm256_loadu_pd(n + q));
      /* Same order of operations as the plain loop, so both give identical bits. */
      __m256d v = _mm256_add_pd(
          _mm256_add_pd(_mm256_mul_pd(vc0, _mm256_loadu_pd(c + q)), _mm256_mul_pd(vax, lr)),
          _mm256_mul_pd(vay, sn));
      if (b) {
        __m256d bf = _mm256_add_pd(_mm256_loadu_pd(b + q), _mm256_loadu_pd(f + q));
        v = _mm256_add_pd(v, _mm256_mul_pd(vaz, bf));
      }
      _mm256_stream_pd(o + q, v);
      /* v - v is +0.0 (all bits clear) for finite v and NaN otherwise; OR keeps any set bit with
       * a one-cycle dependency chain, where an add chain would limit the loop. */
      acc = _mm256_or_pd(acc, _mm256_sub_pd(v, v));
    }
  }
  bad |= !_mm256_testz_si256(_mm256_castpd_si256(acc), _mm256_castpd_si256(acc));
  for (; i < len; i++) {
    double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + n[i]);
    if (b) v += az * (b[i] + f[i]);
    o[i] = v;
    bad |= (v - v) != 0.0;
  }
  return bad;
}

/* The 2D and 3D instances, each compiled without the other's branch. */
static int row_stream2d(double *restrict o, const double *restrict c, const double *restrict s,
                        const double *restrict n, const double *restrict ahead, long len, double c0,
                        double ax, double ay) {
  return row_stream(o, c, s, n, NULL, NULL, ahead, len, c0, ax, ay, 0.0);
}

static int row_stream3d(double *restrict o, const double *restrict c, const double *restrict s,
                        const double *restrict n, const double *restrict b, const double *restrict f,
                        const double *restrict ahead, long len, double c0, double ax, double ay,
                        double az) {
  return row_stream(o, c, s, n, b, f, ahead, len, c0, ax, ay, az);
}
#endif

/* Constant kappa: with a_d = dtk kappa / h_d^2, Tn = c0 T + sum_d a_d (T[-d] + T[+d]) (+ dq); returns 1 if a result is not
 * finite. (x - x) != 0 flags NaN and Inf without a floating-point reduction, so the loop still
 * vectorises. */
static int kernel_const(const kv_heat *h, double dtk, const double *restrict T,
                        double *restrict Tn, const double *restrict dq) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(h->T);
  const int *gh = kv_field_ghost(h->T);
  const double *hs = kv_grid_spacing(h->grid);
  double a[3] = {0, 0, 0}, c0 = 1.0;
  for (int d = 0; d < h->p.dims; d++) {
    a[d] = dtk * h->p.kappa / (hs[d] * hs[d]);
    c0 -= 2.0 * a[d];
  }
  const long sy = st[1], sz = st[2];
  const double ax = a[0], ay = a[1], az = a[2];
  int bad = 0;
#if defined(__AVX__)
  const long *m = kv_field_extent(h->T);
  int big = 2L * (long)sizeof(double) * m[0] * m[1] * m[2] > KV_HEAT_STREAM_BYTES;
  if (h->p.dims >= 2 && !dq &&
      (h->p.stream_stores == KV_HEAT_STREAM_ON || (h->p.stream_stores == KV_HEAT_STREAM_AUTO && big))) {
    for (long k = 0; k < nl[2]; k++) {
      for (long j = 0; j < nl[1]; j++) {
        long p0 = kv_field_index(st, gh, 0, j, k);
        const double *c = T + p0;
        if (h->p.dims == 2) {
          bad |= row_stream2d(Tn + p0, c, c - sy, c + sy, c + 2 * sy, nl[0], c0, ax, ay);
        } else {
          bad |= row_stream3d(Tn + p0, c, c - sy, c + sy, c - sz, c + sz, c + sz + sy, nl[0], c0,
                              ax, ay, az);
        }
      }
    }
    _mm_sfence(); /* streaming stores are weakly ordered: complete them before MPI reads Tn */
    return bad;
  }
#endif
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      long p0 = kv_field_index(st, gh, 0, j, k);
      const double *restrict c = T + p0;
      double *restrict o = Tn + p0;
      const double *restrict q = dq ? dq + p0 : NULL;
      const long n = nl[0];
      if (h->p.dims == 1) {
        for (long i = 0; i < n; i++) {
          double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]);
          o[i] = v;
        }
      } else if (h->p.dims == 2) {
        const double *restrict s = c - sy, *restrict nn = c + sy;
        for (long i = 0; i < n; i++) {
          o[i] = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + nn[i]);
        }
      } else {
        const double *restrict s = c - sy, *restrict nn = c + sy, *restrict b = c - sz,
                               *restrict f = c + sz;
        for (long i = 0; i < n; i++) {
          o[i] = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + nn[i]) + az * (b[i] + f[i]);
        }
      }
      if (q) {
        for (long i = 0; i < n; i++) {
          o[i] += q[i];
        }
      }
      int rb = 0;
      for (long i = 0; i < n; i++) {
        rb |= (o[i] - o[i]) != 0.0;
      }
      bad |= rb;
    }
  }
  return bad;
}

static inline double hmean(double a, double b) { return 2.0 * a * b / (a + b); }

/* Variable kappa: flux form with harmonic face means. */
static int kernel_var(const kv_heat *h, double dtk, const double *restrict T,
                      double *restrict Tn, const double *restrict K, const double *restrict dq) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(h->T);
  const int *gh = kv_field_ghost(h->T);
  const double *hs = kv_grid_spacing(h->grid);
  double r[3];
  for (int d = 0; d < 3; d++) {
    r[d] = d < h->p.dims ? dtk / (hs[d] * hs[d]) : 0.0;
  }
  int bad = 0;
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      long p0 = kv_field_index(st, gh, 0, j, k);
      for (long i = 0; i < nl[0]; i++) {
        long p = p0 + i;
        double c = T[p], kc = K[p], acc = 0.0;
        for (int d = 0; d < h->p.dims; d++) {
          long s = st[d];
          acc += r[d] * (hmean(kc, K[p + s]) * (T[p + s] - c) - hmean(kc, K[p - s]) * (c - T[p - s]));
        }
        double v = c + acc + (dq ? dq[p] : 0.0);
        Tn[p] = v;
        bad |= (v - v) != 0.0;
      }
    }
  }
  return bad;
}

/* ---------------------------------------------------------------- kappa(T) */

static inline double kappa_of(const kv_heat_params *p, double T) {
  const double *a = p->kappa_field.args;
  return p->kappa_scale * (p->kappa_field.name[0] == 'l' ? a[0] + a[1] * T : a[0] * pow(T / a[1], a[2]));
}

/* kappa = kappa(T) on every cell, with halo and boundary copies; h->kappa_max updated. Fails
 * (agreed) when the law gives a non-positive or non-finite conductivity. Collective. */
static int kappa_update(kv_heat *h, const kv_field *T) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(T);
  const int *gh = kv_field_ghost(T);
  const double *u = kv_field_data_const(T);
  double *k = kv_field_data(h->kappa);
  double kmax = 0.0, worst_T = 0.0;
  int bad = 0;
  for (long kk = 0; kk < nl[2]; kk++)
    for (long j = 0; j < nl[1]; j++)
      for (long i = 0, p = kv_field_index(st, gh, 0, j, kk); i < nl[0]; i++, p++) {
        double v = kappa_of(&h->p, u[p]);
        k[p] = v;
        if (!(v > 0.0) || !isfinite(v)) {
          bad = 1;
          worst_T = u[p];
        }
        kmax = v > kmax ? v : kmax;
      }
  double in[2] = {(double)bad, kmax}, out[2];
  MPI_Allreduce(in, out, 2, MPI_DOUBLE, MPI_MAX, kv_grid_comm(h->grid));
  if (out[0] > 0.0) {
    return kv_status_agree(kv_grid_comm(h->grid),
                           bad ? KV_ERROR(KV_ERR_NUMERIC, "heat: kappa(T) is not positive at "
                                          "T = %g (step %ld); heat.kappa = %s(...) is outside "
                                          "its range", worst_T, h->step + 1, h->p.kappa_field.name)
                               : KV_ERR_NUMERIC);
  }
  h->kappa_max = out[1];
  KV_CHECK(kv_field_halo_exchange(h->kappa));
  fill_boundary(h, h->kappa, 1);
  return KV_OK;
}

/* ---------------------------------------------------------------- life cycle */

double kv_heat_dt_limit(const kv_heat *h) { return h->dt_limit; }

const kv_field *kv_heat_state(const kv_heat *h) { return h->T; }

/* Implicit schemes: the boundary-value term b = L_h(0) joins the source, dq = dt (q + theta b),
 * and the FFT solver of (I - theta dt kappa L) is planned. Collective. */
static int setup_implicit(kv_heat *h) {
  h->theta = h->p.scheme == KV_HEAT_CN ? 0.5 : 1.0;
  int inhomogeneous = 0;
  for (int d = 0; d < h->p.dims; d++) {
    for (int s = 0; s < 2; s++) {
      inhomogeneous |= h->p.bc[d][s] != KV_BC_PERIODIC && h->p.bc_value[d][s] != 0.0;
    }
  }
  if (h->nonlinear) {
    /* b depends on kappa(T): recomputed every Picard iteration from a zero state whose ghosts
     * carry the boundary values. */
    int rc = kv_field_create(h->grid, &h->rhs0);
    if (rc == KV_OK) rc = kv_field_create(h->grid, &h->zero);
    if (rc == KV_OK) rc = kv_field_create(h->grid, &h->bfield);
    if (rc == KV_OK) rc = kv_field_create(h->grid, &h->xprev);
    if (rc == KV_OK) rc = kv_field_halo_exchange(h->zero);
    KV_CHECK(kv_status_agree(kv_grid_comm(h->grid), rc));
    fill_boundary(h, h->zero, 0);
  } else if (inhomogeneous) {
    kv_field *zero = NULL, *b = NULL;
    int rc = kv_field_create(h->grid, &zero);
    if (rc == KV_OK) rc = kv_field_create(h->grid, &b);
    if (rc == KV_OK) rc = kv_field_halo_exchange(zero);
    if (rc == KV_OK && !h->dq) rc = kv_field_create(h->grid, &h->dq);
    if (rc == KV_OK) {
      fill_boundary(h, zero, 0);
      /* b = L_h(0) */
      if (h->kappa) {
        kernel_var(h, 1.0, kv_field_data(zero), kv_field_data(b), kv_field_data(h->kappa), NULL);
      } else {
        kernel_const(h, 1.0, kv_field_data(zero), kv_field_data(b), NULL);
      }
      double *q = kv_field_data(h->dq);
      const double *bb = kv_field_data_const(b);
      const long *m = kv_field_extent(b);
      for (long i = 0; i < m[0] * m[1] * m[2]; i++) {
        q[i] += h->theta * h->dt * bb[i];
      }
    }
    kv_field_free(zero);
    kv_field_free(b);
    KV_CHECK(kv_status_agree(kv_grid_comm(h->grid), rc));
  }
  if (h->p.solver == KV_HEAT_SOLVER_PCG) {
    kv_pcg_params pp;
    kv_pcg_params_default(&pp);
    for (int d = 0; d < 3; d++) {
      pp.bc[d][0] = d < h->p.dims ? (int)h->p.bc[d][0] : 0;
      pp.bc[d][1] = d < h->p.dims ? (int)h->p.bc[d][1] : 0;
    }
    pp.coef = h->theta * h->dt;
    pp.kappa = h->kappa;
    pp.kappa0 = h->p.kappa;
    pp.pc = (kv_pc_type)h->p.pc;
    pp.rtol = h->p.rtol;
    pp.maxit = h->p.maxit;
    pp.smooth = h->p.mg_smooth;
    pp.alpha = h->p.mg_alpha;
    KV_CHECK(kv_status_agree(kv_grid_comm(h->grid), kv_field_create(h->grid, &h->xs)));
    KV_CHECK(kv_pcg_create(h->grid, &pp, &h->pcg));
    kv_debug("pcg: %d multigrid level(s)", kv_pcg_levels(h->pcg));
    return KV_OK;
  }
  kv_fftsolve_params fp;
  for (int d = 0; d < 3; d++) {
    fp.bc[d][0] = d < h->p.dims ? (int)h->p.bc[d][0] : 0;
    fp.bc[d][1] = d < h->p.dims ? (int)h->p.bc[d][1] : 0;
  }
  fp.coef = h->theta * h->dt * h->p.kappa;
  fp.planner = h->p.fft_planner;
  fp.wisdom = h->p.fft_wisdom[0] ? h->p.fft_wisdom : NULL;
  return kv_fftsolve_create(h->grid, &fp, &h->fft);
}

static int heat_setup(kv_heat *h, MPI_Comm comm) {
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = h->p.dims;
  for (int d = 0; d < h->p.dims; d++) {
    gp.n[d] = h->p.n[d];
    gp.length[d] = h->p.length[d];
    gp.periodic[d] = h->p.bc[d][0] == KV_BC_PERIODIC;
  }
  int size;
  MPI_Comm_size(comm, &size);
  if (h->p.scheme != KV_HEAT_EXPLICIT && h->p.solver == KV_HEAT_SOLVER_FFT && h->p.dims >= 2 &&
      h->p.n[h->p.dims - 1] >= size) {
    /* Slabs along the slowest axis, as FFTW-MPI distributes: when the sizes divide evenly the
     * solver then needs no all-to-all of its own around the transforms. */
    for (int d = 0; d < h->p.dims; d++) gp.procs[d] = d == h->p.dims - 1 ? size : 1;
  }
  KV_CHECK(kv_status_agree(comm, kv_grid_create(comm, &gp, &h->grid)));
  int rc = kv_field_create(h->grid, &h->T);
  if (rc == KV_OK) rc = kv_field_create(h->grid, &h->Tn);
  h->nonlinear = strcmp(h->p.kappa_field.name, "linear") == 0 ||
                 strcmp(h->p.kappa_field.name, "power") == 0;
  if (rc == KV_OK && (h->nonlinear || strcmp(h->p.kappa_field.name, "file") == 0)) {
    rc = kv_field_create(h->grid, &h->kappa);
  }
  if (rc == KV_OK && strcmp(h->p.source.name, "none") != 0) {
    rc = kv_field_create(h->grid, &h->dq);
  }
  KV_CHECK(kv_status_agree(comm, rc));
  /* Initial state, conductivity and source (file reads are collective and agreed). */
  KV_CHECK(set_profile(h->T, &h->p.initial, h->p.length, h->p.dims));
  h->kappa_max = h->p.kappa;
  if (h->nonlinear) {
    KV_CHECK(kappa_update(h, h->T));
  } else if (h->kappa) {
    const kv_config_func *kf = &h->p.kappa_field;
    KV_CHECK(kv_h5_read_field(kf->path, kf->dataset, -1, h->kappa));
    if (h->p.kappa_scale != 1.0) {
      double *k = kv_field_data(h->kappa);
      const long *m = kv_field_extent(h->kappa);
      for (long i = 0; i < m[0] * m[1] * m[2]; i++) k[i] *= h->p.kappa_scale;
    }
    double kmin;
    KV_CHECK(kv_field_reduce(h->kappa, KV_REDUCE_MIN, &kmin));
    KV_CHECK(kv_field_reduce(h->kappa, KV_REDUCE_MAX, &h->kappa_max));
    if (!(kmin > 0.0) || !isfinite(h->kappa_max)) {
      return KV_ERROR(KV_ERR_CONFIG, "heat.kappa = %s:%s: conductivity must be positive and "
                      "finite everywhere (min %g, max %g)", kf->path, kf->dataset, kmin, h->kappa_max);
    }
    KV_CHECK(kv_field_halo_exchange(h->kappa));
    fill_boundary(h, h->kappa, 1);
  }
  if (h->dq) {
    KV_CHECK(set_profile(h->dq, &h->p.source, h->p.length, h->p.dims));
    double *q = kv_field_data(h->dq);
    const long *m = kv_field_extent(h->dq);
    for (long i = 0; i < m[0] * m[1] * m[2]; i++) q[i] *= h->p.source_scale;
    KV_CHECK(kv_status_agree(comm, kv_field_create(h->grid, &h->q)));
    KV_CHECK(kv_field_copy(h->q, h->dq));
  }
  int bad;
  KV_CHECK(kv_field_has_nonfinite(h->T, &bad));
  if (bad) {
    return KV_ERROR(KV_ERR_CONFIG, "heat.initial: the initial temperature has NaN or Inf values");
  }
  /* Forward Euler on the 2d+1-point Laplacian is stable for dt <= 1 / (2 kappa sum 1/h^2). */
  const double *hs = kv_grid_spacing(h->grid);
  double sum = 0.0;
  for (int d = 0; d < h->p.dims; d++) {
    sum += 1.0 / (hs[d] * hs[d]);
  }
  h->inv_h2_sum = sum;
  h->dt_limit = 1.0 / (2.0 * h->kappa_max * sum);
  double dt;
  if (h->p.dt > 0.0) {
    if (h->p.scheme == KV_HEAT_EXPLICIT && h->p.dt > h->dt_limit) {
      return KV_ERROR(KV_ERR_CONFIG,
                      "run.dt = %g exceeds the explicit stability limit %.6g (= 1/(2 kappa_max "
                      "sum 1/h^2) with kappa_max = %g); use run.dt <= %.6g or leave run.dt unset "
                      "to use run.cfl",
                      h->p.dt, h->dt_limit, h->kappa_max, h->dt_limit);
    }
    dt = h->p.dt;
  } else {
    dt = h->p.cfl * h->dt_limit;
  }
  /* Land exactly on t_end: the smallest number of equal steps no longer than dt. */
  double ns = ceil(h->p.t_end / dt * (1.0 - 1e-12));
  if (ns > 1e15) {
    return KV_ERROR(KV_ERR_CONFIG, "run.t_end / dt = %g steps is too many", ns);
  }
  h->nsteps = ns < 1 ? 1 : (long)ns;
  h->dt = h->p.t_end / (double)h->nsteps;
  if (h->dq) {
    /* The source enters every step as dt * q; scale it once. */
    double *q = kv_field_data(h->dq);
    long cnt = kv_field_extent(h->dq)[0] * kv_field_extent(h->dq)[1] * kv_field_extent(h->dq)[2];
    for (long i = 0; i < cnt; i++) {
      q[i] *= h->dt;
    }
  }
  if (h->p.scheme != KV_HEAT_EXPLICIT) {
    KV_CHECK(setup_implicit(h));
  }
  return KV_OK;
}

int kv_heat_create(MPI_Comm comm, const kv_heat_params *p, kv_heat **out) {
  *out = NULL;
  kv_heat *h = calloc(1, sizeof *h);
  int rc = h ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "heat: out of memory");
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    free(h);
    return rc;
  }
  h->base.type = &kv_heat_type;
  h->p = *p;
  rc = heat_setup(h, comm);
  if (rc != KV_OK) {
    kv_heat_free(h);
    return rc;
  }
  *out = h;
  return KV_OK;
}

/* Tn = T + dtk L_h(T) (+ dq): one pass of the stencil after the halo exchange and the boundary
 * ghosts. Returns 1 (local) if a value is not finite. */
static int apply_stencil(kv_heat *h, double dtk, const kv_field *dq, int *bad) {
  KV_CHECK(kv_field_halo_exchange(h->T));
  fill_boundary(h, h->T, 0);
  const double *q = dq ? kv_field_data_const(dq) : NULL;
  *bad = h->kappa ? kernel_var(h, dtk, kv_field_data(h->T), kv_field_data(h->Tn),
                               kv_field_data(h->kappa), q)
                  : kernel_const(h, dtk, kv_field_data(h->T), kv_field_data(h->Tn), q);
  return KV_OK;
}

/* The explicit part of a theta step: Tn = T + (1 - theta) dt L_h(T) + dq. */
static int explicit_part(kv_heat *h, int *bad) {
  if (h->theta < 1.0) {
    return apply_stencil(h, (1.0 - h->theta) * h->dt, h->dq, bad);
  }
  KV_CHECK(kv_field_copy(h->Tn, h->T));
  if (h->dq) {
    double *o = kv_field_data(h->Tn);
    const double *q = kv_field_data_const(h->dq);
    const long *m = kv_field_extent(h->Tn);
    for (long i = 0; i < m[0] * m[1] * m[2]; i++) {
      o[i] += q[i]; /* ghosts too: harmless, they are refilled before use */
    }
  }
  return KV_OK;
}

/* Implicit step: Tn = T + (1 - theta) dt L_h(T) + dt (q + theta b), then the solve. */
static int step_implicit(kv_heat *h, int *bad) {
  if (h->fft && h->theta == 1.0 && !h->dq) {
    /* Backward Euler without sources: the right-hand side is T itself. */
    KV_CHECK(kv_fftsolve_solve(h->fft, h->T, h->Tn));
    return kv_field_has_nonfinite(h->Tn, bad);
  }
  KV_CHECK(explicit_part(h, bad));
  if (h->pcg) {
    /* Solve with the previous state as the initial guess; the iterate becomes the new state. */
    KV_CHECK(kv_field_copy(h->xs, h->T));
    int rc = kv_pcg_solve(h->pcg, h->Tn, h->xs, &h->iters, &h->relres);
    if (rc != KV_OK) {
      char why[512]; /* the message is rewritten below: copy it first */
      snprintf(why, sizeof why, "%s", kv_error_message());
      return KV_ERROR(rc, "heat: the linear solve of step %ld failed: %s (heat.solver = pcg, "
                      "heat.pc = %s, heat.rtol = %g, heat.maxit = %ld)", h->step + 1, why,
                      (const char *[]){"mg", "jacobi", "none"}[h->p.pc], h->p.rtol, h->p.maxit);
    }
    kv_field *t = h->Tn;
    h->Tn = h->xs;
    h->xs = t;
  } else {
    KV_CHECK(kv_fftsolve_solve(h->fft, h->Tn, h->Tn));
  }
  KV_CHECK(kv_field_has_nonfinite(h->Tn, bad));
  return KV_OK;
}

/* Implicit step with kappa(T): Picard iterations, each with kappa and b = L_h(0) from the
 * latest iterate and one PCG solve. */
static int step_picard(kv_heat *h, int *bad) {
  KV_CHECK(kappa_update(h, h->T));
  KV_CHECK(explicit_part(h, bad));
  KV_CHECK(kv_field_copy(h->rhs0, h->Tn));
  KV_CHECK(kv_field_copy(h->xs, h->T));
  const long *m = kv_field_extent(h->T);
  const long count = m[0] * m[1] * m[2];
  double change = 0.0;
  for (long it = 1; it <= h->p.nl_maxit; it++) {
    KV_CHECK(kappa_update(h, h->xs));
    kernel_var(h, 1.0, kv_field_data(h->zero), kv_field_data(h->bfield), kv_field_data(h->kappa),
               NULL);
    double *rhs = kv_field_data(h->Tn);
    const double *r0 = kv_field_data_const(h->rhs0), *b = kv_field_data_const(h->bfield);
    for (long i = 0; i < count; i++) {
      rhs[i] = r0[i] + h->theta * h->dt * b[i];
    }
    KV_CHECK(kv_pcg_set_kappa(h->pcg, h->kappa));
    KV_CHECK(kv_field_copy(h->xprev, h->xs));
    int rc = kv_pcg_solve(h->pcg, h->Tn, h->xs, &h->iters, &h->relres);
    if (rc != KV_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", kv_error_message());
      return KV_ERROR(rc, "heat: the linear solve of step %ld (Picard iteration %ld) failed: %s",
                      h->step + 1, it, why);
    }
    /* Relative change of the iterate, over interior cells of every rank. */
    const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(h->xs);
    const int *gh = kv_field_ghost(h->xs);
    const double *x = kv_field_data_const(h->xs), *xp = kv_field_data_const(h->xprev);
    double loc[2] = {0.0, 0.0}, glob[2];
    for (long kk = 0; kk < nl[2]; kk++)
      for (long j = 0; j < nl[1]; j++)
        for (long i = 0, p = kv_field_index(st, gh, 0, j, kk); i < nl[0]; i++, p++) {
          loc[0] += (x[p] - xp[p]) * (x[p] - xp[p]);
          loc[1] += x[p] * x[p];
        }
    MPI_Allreduce(loc, glob, 2, MPI_DOUBLE, MPI_SUM, kv_grid_comm(h->grid));
    change = sqrt(glob[0] / (glob[1] > 0.0 ? glob[1] : 1.0));
    h->nl_iters = it;
    if (!isfinite(change)) {
      break;
    }
    if (change <= h->p.nl_rtol) {
      kv_field *t = h->Tn;
      h->Tn = h->xs;
      h->xs = t;
      return kv_field_has_nonfinite(h->Tn, bad);
    }
  }
  return KV_ERROR(KV_ERR_NUMERIC, "heat: the nonlinear (Picard) iteration of step %ld did not "
                  "converge in %ld iterations (relative change %.3g > heat.nl_rtol = %g); try a "
                  "smaller run.dt or a larger heat.nl_maxit", h->step + 1, h->p.nl_maxit, change,
                  h->p.nl_rtol);
}

int kv_heat_step(kv_heat *h, double *t) {
  int bad = 0;
  if (h->p.scheme == KV_HEAT_EXPLICIT) {
    if (h->nonlinear) {
      KV_CHECK(kappa_update(h, h->T));
      if (h->dt * 2.0 * h->kappa_max * h->inv_h2_sum > 1.0 + 1e-12) {
        return KV_ERROR(KV_ERR_NUMERIC, "heat: explicit step %ld is unstable: kappa(T) grew to %g, "
                        "the stability limit is now %.6g < dt = %.6g; use a smaller run.dt or "
                        "run.cfl, or an implicit scheme", h->step + 1, h->kappa_max,
                        1.0 / (2.0 * h->kappa_max * h->inv_h2_sum), h->dt);
      }
    }
    KV_CHECK(apply_stencil(h, h->dt, h->dq, &bad));
  } else if (h->nonlinear) {
    KV_CHECK(step_picard(h, &bad));
  } else {
    KV_CHECK(step_implicit(h, &bad));
  }
  kv_field *tmp = h->T;
  h->T = h->Tn;
  h->Tn = tmp;
  h->step++;
  h->t = (double)h->step * h->dt;
  *t = h->t;
  int any;
  if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, kv_grid_comm(h->grid)) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "heat: reduction failed");
  }
  if (any) {
    return KV_ERROR(KV_ERR_NUMERIC, "heat: non-finite temperature at step %ld (t = %g)", h->step,
                    h->t);
  }
  return KV_OK;
}

void kv_heat_free(kv_heat *h) {
  if (!h) {
    return;
  }
  kv_field_free(h->T);
  kv_field_free(h->Tn);
  kv_field_free(h->kappa);
  kv_field_free(h->dq);
  kv_field_free(h->q);
  kv_field_free(h->work);
  kv_fftsolve_free(h->fft);
  kv_pcg_free(h->pcg);
  kv_field_free(h->xs);
  kv_field_free(h->rhs0);
  kv_field_free(h->zero);
  kv_field_free(h->bfield);
  kv_field_free(h->xprev);
  kv_grid_free(h->grid);
  free(h);
}


/* ---------------------------------------------------------------- ROM hooks */

/* Scratch field of the hooks, created on first use. Collective. */
static int work_field(kv_heat *h) {
  if (h->work) return KV_OK;
  return kv_status_agree(kv_grid_comm(h->grid), kv_field_create(h->grid, &h->work));
}

int kv_heat_operator(kv_heat *h, const kv_field *u, int homogeneous, kv_field *out) {
  KV_CHECK(work_field(h));
  KV_CHECK(kv_field_copy(h->work, u));
  KV_CHECK(kv_field_halo_exchange(h->work));
  if (homogeneous) {
    int rule[3][2];
    double zero[3][2] = {{0, 0}, {0, 0}, {0, 0}};
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < 2; s++) rule[d][s] = (int)h->p.bc[d][s];
    kv_field_fill_boundary(h->work, (const int(*)[2])rule, (const double(*)[2])zero);
  } else {
    fill_boundary(h, h->work, 0);
  }
  if (h->nonlinear) KV_CHECK(kappa_update(h, h->work));
  const double *w = kv_field_data_const(h->work);
  double *o = kv_field_data(out);
  if (h->kappa) {
    kernel_var(h, 1.0, w, o, kv_field_data(h->kappa), NULL);
  } else {
    kernel_const(h, 1.0, w, o, NULL);
  }
  /* The kernels give u + L u. */
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(out);
  const int *gh = kv_field_ghost(out);
  for (long k = 0; k < nl[2]; k++)
    for (long j = 0; j < nl[1]; j++)
      for (long i = 0, p = kv_field_index(st, gh, 0, j, k); i < nl[0]; i++, p++) o[p] -= w[p];
  return KV_OK;
}

/* The linear part A u of F(u) = A u + F(0) (linear problems: kappa independent of T). */
static int m_linear_part(kv_model *m, const kv_field *u, kv_field *out) {
  kv_heat *h = (kv_heat *)m;
  if (h->nonlinear) {
    return KV_ERROR(KV_ERR_INVALID, "heat: the conductivity depends on T: F is not affine");
  }
  return kv_heat_operator(h, u, 1, out);
}

/* F(u) = L_h(u) + q, kappa from u when it depends on T. Collective. */
static int m_residual(kv_model *m, long step, const kv_field *u, kv_field *f) {
  kv_heat *h = (kv_heat *)m;
  (void)step; /* autonomous */
  KV_CHECK(kv_heat_operator(h, u, 0, f));
  if (h->q) {
    double *o = kv_field_data(f);
    const double *q = kv_field_data_const(h->q);
    const long *e = kv_field_extent(f);
    for (long i = 0; i < e[0] * e[1] * e[2]; i++) o[i] += q[i];
  }
  return KV_OK;
}

/* The cell, then its x-, x+, y-, y+, z-, z+ neighbours (global row-major indices, x fastest);
 * -1 beyond a non-periodic face. */
static int m_stencil(const kv_model *m, long cell, long *nbr) {
  const kv_heat *h = (const kv_heat *)m;
  long idx[3] = {0, 0, 0}, c = cell;
  for (int d = 0; d < h->p.dims; d++) {
    idx[d] = c % h->p.n[d];
    c /= h->p.n[d];
  }
  int cnt = 0;
  nbr[cnt++] = cell;
  for (int d = 0; d < h->p.dims; d++) {
    for (int s = 0; s < 2; s++) {
      long j[3] = {idx[0], idx[1], idx[2]};
      j[d] += s ? 1 : -1;
      if (j[d] < 0 || j[d] >= h->p.n[d]) {
        if (h->p.bc[d][s] != KV_BC_PERIODIC) {
          nbr[cnt++] = -1;
          continue;
        }
        j[d] = (j[d] + h->p.n[d]) % h->p.n[d];
      }
      long g = 0;
      for (int e = h->p.dims - 1; e >= 0; e--) g = g * h->p.n[e] + j[e];
      nbr[cnt++] = g;
    }
  }
  return cnt;
}

/* F at the given cells from the values on their stencils: the rank owning a cell computes it
 * (it has the conductivity field and the source there), the sum over ranks gives everyone the
 * result. Same arithmetic as the full kernels up to the order of additions. Collective. */
static int m_residual_at(kv_model *m, long step, const long *cells, int n, const double *u,
                         double *f) {
  kv_heat *h = (kv_heat *)m;
  (void)step;
  const long *nl = kv_grid_local_n(h->grid), *off = kv_grid_offset(h->grid);
  const double *hs = kv_grid_spacing(h->grid);
  const long *st = kv_field_stride(h->T);
  const int *gh = kv_field_ghost(h->T);
  const double *K = h->kappa && !h->nonlinear ? kv_field_data_const(h->kappa) : NULL;
  const double *q = h->q ? kv_field_data_const(h->q) : NULL;
  for (int i = 0; i < n; i++) {
    long idx[3] = {0, 0, 0}, c = cells[i];
    int mine = 1;
    for (int d = 0; d < h->p.dims; d++) {
      idx[d] = c % h->p.n[d] - off[d];
      c /= h->p.n[d];
      mine &= idx[d] >= 0 && idx[d] < nl[d];
    }
    f[i] = 0.0;
    if (!mine) continue;
    long p = kv_field_index(st, gh, idx[0], idx[1], idx[2]);
    const double *v = u + (size_t)i * KV_STENCIL_MAX;
    double uc = v[0], kc = h->nonlinear ? kappa_of(&h->p, uc) : K ? K[p] : h->p.kappa, acc = 0.0;
    for (int d = 0; d < h->p.dims; d++) {
      double side[2];
      for (int s = 0; s < 2; s++) {
        long gidx = idx[d] + off[d] + (s ? 1 : -1);
        int outside = (gidx < 0 || gidx >= h->p.n[d]) && h->p.bc[d][s] != KV_BC_PERIODIC;
        double un = v[1 + 2 * d + s], kn;
        if (outside) {
          double g = h->p.bc_value[d][s];
          un = h->p.bc[d][s] == KV_BC_DIRICHLET ? 2.0 * g - uc : uc + hs[d] * g;
          kn = kc; /* the conductivity ghost copies the boundary cell */
        } else {
          kn = h->nonlinear ? kappa_of(&h->p, un) : K ? K[p + (s ? st[d] : -st[d])] : kc;
        }
        double kf = h->kappa ? hmean(kc, kn) : kc;
        side[s] = kf * (un - uc);
      }
      acc += (side[1] + side[0]) / (hs[d] * hs[d]);
    }
    f[i] = acc + (q ? q[p] : 0.0);
  }
  if (MPI_Allreduce(MPI_IN_PLACE, f, n, MPI_DOUBLE, MPI_SUM, kv_grid_comm(h->grid)) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "heat: reduction failed");
  }
  return KV_OK;
}

static int m_set_state(kv_model *m, const kv_field *u, long step) {
  kv_heat *h = (kv_heat *)m;
  h->step = step;
  h->t = (double)step * h->dt;
  return kv_field_copy(h->T, u);
}

/* ---------------------------------------------------------------- kv_model table */

static int m_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  kv_heat_params p;
  KV_CHECK(kv_status_agree(comm, kv_heat_params_from_config(cfg, &p)));
  kv_heat *h;
  KV_CHECK(kv_heat_create(comm, &p, &h));
  *out = &h->base;
  return KV_OK;
}

/* For the ROM hooks only: the explicit scheme needs no linear solver or FFT plans. */
static int m_create_hooks(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  kv_heat_params p;
  KV_CHECK(kv_status_agree(comm, kv_heat_params_from_config(cfg, &p)));
  p.scheme = KV_HEAT_EXPLICIT;
  p.dt = 0.0;
  kv_heat *h;
  KV_CHECK(kv_heat_create(comm, &p, &h));
  *out = &h->base;
  return KV_OK;
}

static int m_step(kv_model *m, double *t) { return kv_heat_step((kv_heat *)m, t); }

static int m_state(const kv_model *m, const kv_field **out) {
  *out = ((const kv_heat *)m)->T;
  return KV_OK;
}

static int m_outputs(kv_model *m, kv_output_list *out) {
  kv_heat *h = (kv_heat *)m;
  double mean;
  KV_CHECK(kv_field_mean(h->T, &mean));
  KV_CHECK(kv_output_add_field(out, "T", "K", "temperature", h->T));
  KV_CHECK(kv_output_add_scalar(out, "T_mean", "K", "volume-mean temperature", mean));
  if (h->nonlinear && h->pcg) {
    KV_CHECK(kv_output_add_scalar(out, "diagnostics/nonlinear_iterations", "1",
                                  "Picard iterations of the last step", (double)h->nl_iters));
  }
  if (h->pcg) {
    KV_CHECK(kv_output_add_scalar(out, "diagnostics/solver_iterations", "1",
                                  "pcg iterations of the last step", (double)h->iters));
    KV_CHECK(kv_output_add_scalar(out, "diagnostics/solver_residual", "1",
                                  "relative residual of the last step's linear solve", h->relres));
  }
  return KV_OK;
}

static int m_info(const kv_model *m, kv_model_info *out) {
  const kv_heat *h = (const kv_heat *)m;
  out->grid = h->grid;
  out->step0 = h->step;
  out->t0 = h->t;
  out->dt = h->dt;
  out->nsteps = h->nsteps;
  out->cfl = h->dt / h->dt_limit;
  static const char *const titles[] = {
      "kelvin heat equation (finite volumes, explicit)",
      "kelvin heat equation (finite volumes, backward Euler)",
      "kelvin heat equation (finite volumes, Crank-Nicolson)"};
  out->title = titles[h->p.scheme];
  out->coord_units = "m";
  out->time_units = "s";
  out->theta = h->theta;
  out->linear = !h->nonlinear;
  out->state_var = "T";
  return KV_OK;
}

static int m_restart(kv_model *m, const char *path) {
  kv_heat *h = (kv_heat *)m;
  MPI_Comm comm = kv_grid_comm(h->grid);
  int rank;
  MPI_Comm_rank(comm, &rank);
  /* Only a file of the same model continues this one. */
  int rc = KV_OK;
  if (rank == 0) {
    char model[64];
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) rc = kv_h5_read_root_text(path, "model", model, sizeof model);
    if (rc == KV_OK && strcmp(model, "heat") != 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s' was written by model '%s', not heat", path,
                    model);
    }
  }
  KV_CHECK(kv_status_agree(comm, rc));
  KV_CHECK(kv_h5_read_field(path, "T", -1, h->T));
  /* The time of the last record, read once and shared. */
  double t = 0.0;
  if (rank == 0) {
    kv_h5_array a;
    rc = kv_h5_read_array(path, "time", &a);
    if (rc == KV_OK) {
      if (a.count < 1) {
        rc = KV_ERROR(KV_ERR_FORMAT, "'%s' has no time records", path);
      } else {
        t = a.data[a.count - 1];
      }
      kv_h5_array_free(&a);
    }
  }
  KV_CHECK(kv_status_agree(comm, rc));
  MPI_Bcast(&t, 1, MPI_DOUBLE, 0, comm);
  /* Resume on this run's time grid, so that the steps after the restart are the same steps. */
  double s = t / h->dt;
  long step = lround(s);
  if (!(fabs(s - (double)step) <= 1e-6)) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' ends at t = %.17g, which is not a multiple of "
                    "this run's dt = %.17g (use the run.dt and run.t_end of the run that wrote it)",
                    path, t, h->dt);
  }
  if (step >= h->nsteps) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' ends at t = %g, at or after run.t_end = %g; "
                    "nothing to do", path, t, h->p.t_end);
  }
  h->step = step;
  h->t = (double)step * h->dt;
  return KV_OK;
}

static void m_free(kv_model *m) { kv_heat_free((kv_heat *)m); }

const kv_model_type kv_heat_type = {
    .name = "heat",
    .keys = kv_heat_keys,
    .create = m_create,
    .create_hooks = m_create_hooks,
    .step = m_step,
    .state = m_state,
    .outputs = m_outputs,
    .info = m_info,
    .restart = m_restart,
    .residual = m_residual,
    .stencil = m_stencil,
    .residual_at = m_residual_at,
    .set_state = m_set_state,
    .linear_part = m_linear_part,
    .free = m_free,
};
