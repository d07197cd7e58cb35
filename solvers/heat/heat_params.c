/* The heat model's configuration: its keys and kv_heat_params_from_config. */
#include "solvers/heat/heat_impl.h"

#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"

#define PROFILE_FORMS                                                                              \
  "constant(v), sine(k1[,k2[,k3]]), gaussian(x0[,y0[,z0]],sigma,amp), a number or "                \
  "file.h5:/dataset"

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
    {"heat.bc.xlo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the x = 0 face"},
    {"heat.bc.xhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the x = Lx face"},
    {"heat.bc.ylo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the y = 0 face"},
    {"heat.bc.yhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the y = Ly face"},
    {"heat.bc.zlo", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the z = 0 face"},
    {"heat.bc.zhi", KV_CFG_ENUM, NULL, "dirichlet|neumann|periodic", KV_CFG_NORANGE,
     "override for the z = Lz face"},
    {"heat.bc_value", KV_CFG_DOUBLE, "0.0", NULL, KV_CFG_NORANGE,
     "Dirichlet: face temperature; Neumann: outward normal gradient dT/dn"},
    {"heat.bc_value.xlo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the x = 0 face"},
    {"heat.bc_value.xhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE,
     "override for the x = Lx face"},
    {"heat.bc_value.ylo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the y = 0 face"},
    {"heat.bc_value.yhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE,
     "override for the y = Ly face"},
    {"heat.bc_value.zlo", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, "override for the z = 0 face"},
    {"heat.bc_value.zhi", KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE,
     "override for the z = Lz face"},
    {"heat.initial", KV_CFG_FUNC, "constant(0)", PROFILE_FORMS, KV_CFG_NORANGE,
     "initial temperature"},
    {"heat.source", KV_CFG_FUNC, "none", "none or " PROFILE_FORMS, KV_CFG_NORANGE,
     "heat source q (K/s), constant in time"},
    {"heat.source_add", KV_CFG_FUNC, "none", "none or " PROFILE_FORMS, KV_CFG_NORANGE,
     "a second source added to heat.source and scaled with it (elements placed by kelvin optimize "
     "go here as a field file)"},
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
    {"heat.fft_planner", KV_CFG_ENUM, "estimate", "estimate|measure|patient", KV_CFG_NORANGE,
     "FFTW planner effort (plans are made once per run)"},
    {"heat.fft_wisdom", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "FFTW wisdom file: read before planning if present, written after"},
    {"heat.stream_stores", KV_CFG_ENUM, "auto", "auto|on|off", KV_CFG_NORANGE,
     "streaming-store kernel (2D/3D, constant kappa, no source): auto = when T and Tn exceed 32 "
     "MiB "
     "per rank; same results either way"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
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
  strcpy(p->source_add.name, "none");
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
    return kv_config_errorf(cfg, key,
                            "expected %s%s (in %dD: sine takes 1..%d wave numbers, "
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
    return kv_config_errorf(cfg, "heat.kappa",
                            "expected a positive number, file.h5:/dataset, "
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
  KV_CHECK(kv_config_get_func(cfg, "heat.source_add", &p->source_add));
  KV_CHECK(check_profile(cfg, "heat.source_add", &p->source_add, p->dims, 1));
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
    return kv_config_errorf(cfg, "run.dt",
                            "implicit schemes need a time step (any size is stable)");
  }
  KV_CHECK(kv_config_get_double(cfg, "run.cfl", 0.0, 1.0, &p->cfl));
  if (!(p->cfl > 0.0)) {
    return kv_config_errorf(cfg, "run.cfl", "expected a fraction in (0, 1]");
  }
  return KV_OK;
}
