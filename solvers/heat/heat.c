#include "solvers/heat/heat.h"
#include "core/comm.h"

#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/heat/heat_impl.h"

/* ---------------------------------------------------------------- profiles */

typedef struct {
  const kv_config_func *f;
  const double *len;
  int dims;
} profile_ctx;

static double profile_value(const double *x, void *vctx) {
  const profile_ctx *c = vctx;
  const kv_config_func *f = c->f;
  if (strcmp(f->name, "none") == 0) {
    return 0.0;
  }
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

/* A field from file.h5:/dataset (key names the configuration key in messages). Collective. */
static int read_keyed(kv_field *f, const char *key, const kv_config_func *fn) {
  int rc = kv_h5_read_field_matched(fn->path, fn->dataset, -1, f, NULL, NULL);
  if (rc != KV_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", kv_error_message());
    rc = KV_ERROR(rc, "%s = %s:%s: %s", key, fn->path, fn->dataset, why);
  }
  return rc;
}

/* Set field from a profile (analytic or file). Collective (file reads are). */
static int set_profile(kv_field *f, const char *key, const kv_config_func *prof, const double *len,
                       int dims) {
  if (strcmp(prof->name, "file") == 0) {
    return read_keyed(f, key, prof);
  }
  profile_ctx c = {prof, len, dims};
  kv_field_set_fn(f, profile_value, &c);
  return KV_OK;
}

/* ---------------------------------------------------------------- life cycle */

double kv_heat_dt_limit(const kv_heat *h) {
  return h->dt_limit;
}

const kv_field *kv_heat_state(const kv_heat *h) {
  return h->T;
}

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
    if (rc == KV_OK) {
      rc = kv_field_create(h->grid, &h->zero);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(h->grid, &h->bfield);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(h->grid, &h->xprev);
    }
    if (rc == KV_OK) {
      rc = kv_field_halo_exchange(h->zero);
    }
    KV_CHECK(kv_status_agree(kv_grid_comm(h->grid), rc));
    kv_heat_fill_boundary(h, h->zero, 0);
  } else if (inhomogeneous) {
    kv_field *zero = NULL, *b = NULL;
    int rc = kv_field_create(h->grid, &zero);
    if (rc == KV_OK) {
      rc = kv_field_create(h->grid, &b);
    }
    if (rc == KV_OK) {
      rc = kv_field_halo_exchange(zero);
    }
    if (rc == KV_OK && !h->dq) {
      rc = kv_field_create(h->grid, &h->dq);
    }
    if (rc == KV_OK) {
      kv_heat_fill_boundary(h, zero, 0);
      /* b = L_h(0) */
      if (h->kappa) {
        kv_heat_kernel_var(h, 1.0, kv_field_data(zero), kv_field_data(b), kv_field_data(h->kappa),
                           NULL);
      } else {
        kv_heat_kernel_const(h, 1.0, kv_field_data(zero), kv_field_data(b), NULL);
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
  /* Planned when stepping starts: FFTW_MEASURE costs ~0.4 s at 512^2, and a model created only
   * to be lifted into (a ROM's) never solves. */
  h->fftp = fp;
  h->fft_pending = 1;
  return KV_OK;
}

int kv_heat_prepare(kv_heat *h) {
  if (!h->fft_pending) {
    return KV_OK;
  }
  h->fft_pending = 0;
  double cells = (double)kv_grid_global_count(h->grid);
  if (cells >= 4e6) { /* planning may take a while: say so */
    kv_info("heat: planning the FFT solver for %.3g cells (heat.fft_planner)", cells);
  }
  return kv_fftsolve_create(h->grid, &h->fftp, &h->fft);
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
  /* Every MPI call of the solver is in the grid, the fields and the FFT solver (which starts MPI
   * when it is planned): one process runs without MPI. */
  gp.serial = 1;
  int size;
  size = kv_comm_size(comm);
  if (h->p.scheme != KV_HEAT_EXPLICIT && h->p.solver == KV_HEAT_SOLVER_FFT && h->p.dims >= 2 &&
      h->p.n[h->p.dims - 1] >= size) {
    /* Slabs along the slowest axis, as FFTW-MPI distributes: when the sizes divide evenly the
     * solver then needs no all-to-all of its own around the transforms. */
    for (int d = 0; d < h->p.dims; d++) {
      gp.procs[d] = d == h->p.dims - 1 ? size : 1;
    }
  }
  KV_CHECK(kv_status_agree(comm, kv_grid_create(comm, &gp, &h->grid)));
  int rc = kv_field_create(h->grid, &h->T);
  if (rc == KV_OK) {
    rc = kv_field_create(h->grid, &h->Tn);
  }
  h->nonlinear =
      strcmp(h->p.kappa_field.name, "linear") == 0 || strcmp(h->p.kappa_field.name, "power") == 0;
  if (rc == KV_OK && (h->nonlinear || strcmp(h->p.kappa_field.name, "file") == 0)) {
    rc = kv_field_create(h->grid, &h->kappa);
  }
  if (rc == KV_OK &&
      (strcmp(h->p.source.name, "none") != 0 || strcmp(h->p.source_add.name, "none") != 0)) {
    rc = kv_field_create(h->grid, &h->dq);
  }
  KV_CHECK(kv_status_agree(comm, rc));
  /* Initial state, conductivity and source (file reads are collective and agreed). */
  KV_CHECK(set_profile(h->T, "heat.initial", &h->p.initial, h->p.length, h->p.dims));
  h->kappa_max = h->p.kappa;
  if (h->nonlinear) {
    KV_CHECK(kv_heat_kappa_update(h, h->T));
  } else if (h->kappa) {
    const kv_config_func *kf = &h->p.kappa_field;
    KV_CHECK(read_keyed(h->kappa, "heat.kappa", kf));
    if (h->p.kappa_scale != 1.0) {
      double *k = kv_field_data(h->kappa);
      const long *m = kv_field_extent(h->kappa);
      for (long i = 0; i < m[0] * m[1] * m[2]; i++) {
        k[i] *= h->p.kappa_scale;
      }
    }
    double kmin;
    KV_CHECK(kv_field_reduce(h->kappa, KV_REDUCE_MIN, &kmin));
    KV_CHECK(kv_field_reduce(h->kappa, KV_REDUCE_MAX, &h->kappa_max));
    if (!(kmin > 0.0) || !isfinite(h->kappa_max)) {
      return KV_ERROR(KV_ERR_CONFIG,
                      "heat.kappa = %s:%s: conductivity must be positive and "
                      "finite everywhere (min %g, max %g)",
                      kf->path, kf->dataset, kmin, h->kappa_max);
    }
    KV_CHECK(kv_field_halo_exchange(h->kappa));
    kv_heat_fill_boundary(h, h->kappa, 1);
  }
  if (h->dq) {
    KV_CHECK(set_profile(h->dq, "heat.source", &h->p.source, h->p.length, h->p.dims));
    KV_CHECK(kv_status_agree(comm, kv_field_create(h->grid, &h->q)));
    KV_CHECK(set_profile(h->q, "heat.source_add", &h->p.source_add, h->p.length, h->p.dims));
    double *q = kv_field_data(h->dq);
    const double *qa = kv_field_data(h->q);
    const long *m = kv_field_extent(h->dq);
    for (long i = 0; i < m[0] * m[1] * m[2]; i++) {
      q[i] = (q[i] + qa[i]) * h->p.source_scale;
    }
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

/* The grid fits this machine: at least the state and the next state (2 fields of 8 bytes per
 * cell with ghosts) per rank, checked before any allocation and before a product of sizes could
 * overflow; only what certainly cannot run is refused. */
static int check_size(MPI_Comm comm, const kv_heat_params *p) {
  double cells = 1.0;
  char list[128] = "";
  for (int d = 0; d < p->dims; d++) {
    cells *= (double)p->n[d] + 2.0; /* with ghosts; in doubles, which cannot overflow */
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s%ld", d ? ", " : "", p->n[d]);
  }
  int size = kv_comm_size(comm);
  double need = 2.0 * 8.0 * cells / size;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double have = pages > 0 && page > 0 ? (double)pages * (double)page : INFINITY;
  if (need > have || cells > 4.0e18) {
    return KV_ERROR(
        KV_ERR_CONFIG,
        "heat.n = %s: %.3g cells need at least %.3g GB per rank on %d rank%s (the state "
        "and the next state); this machine has %.3g GB: use fewer cells or more ranks",
        list, cells, need / 1e9, size, size == 1 ? "" : "s", have / 1e9);
  }
  return KV_OK;
}

int kv_heat_create(MPI_Comm comm, const kv_heat_params *p, kv_heat **out) {
  *out = NULL;
  KV_CHECK(kv_status_agree(comm, check_size(comm, p)));
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
  kv_heat_fill_boundary(h, h->T, 0);
  const double *q = dq ? kv_field_data_const(dq) : NULL;
  *bad = h->kappa ? kv_heat_kernel_var(h, dtk, kv_field_data(h->T), kv_field_data(h->Tn),
                                       kv_field_data(h->kappa), q)
                  : kv_heat_kernel_const(h, dtk, kv_field_data(h->T), kv_field_data(h->Tn), q);
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
      return KV_ERROR(rc,
                      "heat: the linear solve of step %ld failed: %s (heat.solver = pcg, "
                      "heat.pc = %s, heat.rtol = %g, heat.maxit = %ld)",
                      h->step + 1, why, (const char *[]){"mg", "jacobi", "none"}[h->p.pc],
                      h->p.rtol, h->p.maxit);
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
  KV_CHECK(kv_heat_kappa_update(h, h->T));
  KV_CHECK(explicit_part(h, bad));
  KV_CHECK(kv_field_copy(h->rhs0, h->Tn));
  KV_CHECK(kv_field_copy(h->xs, h->T));
  const long *m = kv_field_extent(h->T);
  const long count = m[0] * m[1] * m[2];
  double change = 0.0;
  for (long it = 1; it <= h->p.nl_maxit; it++) {
    KV_CHECK(kv_heat_kappa_update(h, h->xs));
    kv_heat_kernel_var(h, 1.0, kv_field_data(h->zero), kv_field_data(h->bfield),
                       kv_field_data(h->kappa), NULL);
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
    for (long kk = 0; kk < nl[2]; kk++) {
      for (long j = 0; j < nl[1]; j++) {
        for (long i = 0, p = kv_field_index(st, gh, 0, j, kk); i < nl[0]; i++, p++) {
          loc[0] += (x[p] - xp[p]) * (x[p] - xp[p]);
          loc[1] += x[p] * x[p];
        }
      }
    }
    kv_comm_allreduce(loc, glob, 2, MPI_DOUBLE, MPI_SUM, kv_grid_comm(h->grid));
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
  return KV_ERROR(KV_ERR_NOT_CONVERGED,
                  "heat: the nonlinear (Picard) iteration of step %ld did not "
                  "converge in %ld iterations (relative change %.3g > heat.nl_rtol = %g); try a "
                  "smaller run.dt or a larger heat.nl_maxit",
                  h->step + 1, h->p.nl_maxit, change, h->p.nl_rtol);
}

int kv_heat_step(kv_heat *h, double *t) {
  int bad = 0;
  KV_CHECK(kv_heat_prepare(h));
  if (h->p.scheme == KV_HEAT_EXPLICIT) {
    if (h->nonlinear) {
      KV_CHECK(kv_heat_kappa_update(h, h->T));
      if (h->dt * 2.0 * h->kappa_max * h->inv_h2_sum > 1.0 + 1e-12) {
        return KV_ERROR(KV_ERR_NUMERIC,
                        "heat: explicit step %ld is unstable: kappa(T) grew to %g, "
                        "the stability limit is now %.6g < dt = %.6g; use a smaller run.dt or "
                        "run.cfl, or an implicit scheme",
                        h->step + 1, h->kappa_max, 1.0 / (2.0 * h->kappa_max * h->inv_h2_sum),
                        h->dt);
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
  if (kv_comm_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, kv_grid_comm(h->grid)) != MPI_SUCCESS) {
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
