/* The heat model behind kv_model_type: the table, outputs, restart and the ROM hooks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/heat/heat_impl.h"

/* ---------------------------------------------------------------- ROM hooks */

/* Scratch field of the hooks, created on first use. Collective. */
static int work_field(kv_heat *h) {
  if (h->work) {
    return KV_OK;
  }
  return kv_status_agree(kv_grid_comm(h->grid), kv_field_create(h->grid, &h->work));
}

int kv_heat_operator(kv_heat *h, const kv_field *u, int homogeneous, kv_field *out) {
  KV_CHECK(work_field(h));
  KV_CHECK(kv_field_copy(h->work, u));
  KV_CHECK(kv_field_halo_exchange(h->work));
  if (homogeneous) {
    int rule[3][2];
    double zero[3][2] = {{0, 0}, {0, 0}, {0, 0}};
    for (int d = 0; d < 3; d++) {
      for (int s = 0; s < 2; s++) {
        rule[d][s] = (int)h->p.bc[d][s];
      }
    }
    kv_field_fill_boundary(h->work, (const int(*)[2])rule, (const double(*)[2])zero);
  } else {
    kv_heat_fill_boundary(h, h->work, 0);
  }
  if (h->nonlinear) {
    KV_CHECK(kv_heat_kappa_update(h, h->work));
  }
  const double *w = kv_field_data_const(h->work);
  double *o = kv_field_data(out);
  if (h->kappa) {
    kv_heat_kernel_var(h, 1.0, w, o, kv_field_data(h->kappa), NULL);
  } else {
    kv_heat_kernel_const(h, 1.0, w, o, NULL);
  }
  /* The kernels give u + L u. */
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(out);
  const int *gh = kv_field_ghost(out);
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      for (long i = 0, p = kv_field_index(st, gh, 0, j, k); i < nl[0]; i++, p++) {
        o[p] -= w[p];
      }
    }
  }
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
    for (long i = 0; i < e[0] * e[1] * e[2]; i++) {
      o[i] += q[i];
    }
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
      for (int e = h->p.dims - 1; e >= 0; e--) {
        g = g * h->p.n[e] + j[e];
      }
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
    if (!mine) {
      continue;
    }
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
  if (kv_comm_allreduce(MPI_IN_PLACE, f, n, MPI_DOUBLE, MPI_SUM, kv_grid_comm(h->grid)) !=
      MPI_SUCCESS) {
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

static int m_prepare(kv_model *m) {
  return kv_heat_prepare((kv_heat *)m);
}

static int m_step(kv_model *m, double *t) {
  return kv_heat_step((kv_heat *)m, t);
}

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
  static const char *const titles[] = {"kelvin heat equation (finite volumes, explicit)",
                                       "kelvin heat equation (finite volumes, backward Euler)",
                                       "kelvin heat equation (finite volumes, Crank-Nicolson)"};
  out->title = titles[h->p.scheme];
  out->coord_units = "m";
  /* CF time needs a reference: the run starts at the epoch (t = 0 s is 1970-01-01 00:00:00). */
  out->time_units = "seconds since 1970-01-01 00:00:00";
  out->theta = h->theta;
  out->linear = !h->nonlinear;
  return KV_OK;
}

static int m_restart(kv_model *m, const char *path) {
  kv_heat *h = (kv_heat *)m;
  MPI_Comm comm = kv_grid_comm(h->grid);
  int rank;
  rank = kv_comm_rank(comm);
  /* Only a file of the same model continues this one. */
  int rc = KV_OK;
  if (rank == 0) {
    char model[64];
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) {
      rc = kv_h5_read_root_text(path, "model", model, sizeof model);
    }
    if (rc == KV_OK && strcmp(model, kv_heat_type.name) != 0) {
      rc =
          KV_ERROR(KV_ERR_FORMAT, "restart: '%s' was written by model '%s', not heat", path, model);
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
  kv_comm_bcast(&t, 1, MPI_DOUBLE, 0, comm);
  /* Resume on this run's time grid, so that the steps after the restart are the same steps. */
  double s = t / h->dt;
  long step = lround(s);
  if (!(fabs(s - (double)step) <= 1e-6)) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "restart: '%s' ends at t = %.17g, which is not a multiple of "
                    "this run's dt = %.17g (use the run.dt and run.t_end of the run that wrote it)",
                    path, t, h->dt);
  }
  if (step >= h->nsteps) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "restart: '%s' ends at t = %g, at or after run.t_end = %g; "
                    "nothing to do",
                    path, t, h->p.t_end);
  }
  h->step = step;
  h->t = (double)step * h->dt;
  return KV_OK;
}

static int m_check(const kv_config *cfg) {
  kv_heat_params p;
  KV_CHECK(kv_heat_params_from_config(cfg, &p));
  /* As the run counts its steps (the explicit limit needs the conductivity's fields). */
  if (p.dt > 0.0 && ceil(p.t_end / p.dt * (1.0 - 1e-12)) > 1e15) {
    return kv_config_errorf(cfg, "run.dt", "run.t_end / dt = %g steps is too many",
                            ceil(p.t_end / p.dt));
  }
  /* The explicit limit, where the conductivity is a number (a field needs its file). */
  if (p.scheme == KV_HEAT_EXPLICIT && p.dt > 0.0 && !strcmp(p.kappa_field.name, "number")) {
    double sum = 0.0;
    for (int d = 0; d < p.dims; d++) {
      double h = p.length[d] / (double)p.n[d];
      sum += 1.0 / (h * h);
    }
    double limit = 1.0 / (2.0 * p.kappa * sum);
    if (p.dt > limit) {
      char n[96] = "";
      for (int d = 0; d < p.dims; d++) {
        size_t l = strlen(n);
        snprintf(n + l, sizeof n - l, "%s%ld", d ? ", " : "", p.n[d]);
      }
      return kv_config_errorf(cfg, "run.dt",
                              "%g exceeds the explicit stability limit %.6g (heat.kappa = %g, "
                              "heat.n = %s); use run.dt <= %.6g, leave it unset, or heat.scheme "
                              "= cn",
                              p.dt, limit, p.kappa, n, limit);
    }
  }
  return KV_OK;
}

static void m_free(kv_model *m) {
  kv_heat_free((kv_heat *)m);
}

/* The volume mean, largest and smallest temperature at the end. */
static int heat_responses(const kv_config *cfg, char *buf, size_t n) {
  (void)cfg;
  snprintf(buf, n, "T_mean,T_max,T_min");
  return KV_OK;
}

const kv_model_type kv_heat_type = {
    .name = "heat",
    .state_var = "T",
    .keys = kv_heat_keys,
    .size_keys = "heat.n",
    .create = m_create,
    .check = m_check,
    .create_hooks = m_create_hooks,
    .prepare = m_prepare,
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
    .responses = heat_responses,
    .free = m_free,
};
