/* The energy-balance model's hooks for reduced-order models (solvers/rom/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "solvers/ebm/ebm_impl.h"

/* ---------------------------------------------------------------- ROM hooks
 *
 * In K, a step is T1 = G (T0 + dt N_k(T0)): the latitude sweep solves Glat^-1 T* = T0 + dt N_k with
 * Glat^-1 = I + dt/C (B - D L_lat), the longitude sweep Glon^-1 T1 = T* with Glon^-1 = I - dt/C D
 * L_lon, and N_k = (sources of step k + B x 273.15) / C holds everything explicit (insolation
 * through the albedo of T0, A, forcing). So G = Glon Glat and G^-1 = Glat^-1 Glon^-1 couples a
 * cell to its 3 x 3 block. N and G^-1 are evaluated from whole-grid copies of C and the aerosol
 * pattern, on every rank, without communication. Units: K and days (the time axis). */

static int no_noise(const ebm *m) {
  if (m->p.noise_std > 0.0) {
    return KV_ERROR(KV_ERR_UNSUPPORTED,
                    "ebm: a reduced-order model of the ebm is deterministic: "
                    "set ebm.noise_std = 0 (the stochastic forcing is a whole field per step)");
  }
  return KV_OK;
}

static void field_to_rows(const ebm *m, const kv_field *f, double shift, double *rows) {
  const double *d = kv_field_data_const(f);
  const long *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  for (int jl = 0; jl < m->nj; jl++) {
    for (int i = 0; i < m->p.nlon; i++) {
      rows[(size_t)i * m->nj + jl] = d[kv_field_index(st, gh, i, jl, 0)] + shift;
    }
  }
}

/* F of a state after the last step: with the last step's forcing (the scenario may end there). */
static long hook_step(const ebm *m, long step) {
  return step < m->nsteps ? (step > 0 ? step : 0) : m->nsteps - 1;
}

int kv_ebm_residual(kv_model *base, long step, const kv_field *u, kv_field *f) {
  ebm *m = (ebm *)base;
  KV_CHECK(no_noise(m));
  step = hook_step(m, step);
  field_to_rows(m, u, -KELVIN, m->Ts);
  KV_CHECK(kv_ebm_explicit_sources(m, step, m->Ts, m->src_r));
  const double BK = m->p.B * KELVIN;
  for (size_t e = 0; e < (size_t)m->p.nlon * m->nj; e++) {
    m->src_r[e] = SECONDS_PER_DAY * (m->src_r[e] + BK) / m->C_r[e];
  }
  kv_ebm_rows_to_field(m, m->src_r, 1.0, 0.0, f);
  return KV_OK;
}

/* The cell (i, j) = j nlon + i, then (i -+ 1, j), (i, j -+ 1), (i -+ 1, j - 1), (i -+ 1, j + 1):
 * periodic in longitude, -1 beyond a pole (and for longitude neighbours when nlon = 1). */
int kv_ebm_stencil(const kv_model *base, long cell, long *nbr) {
  const ebm *m = (const ebm *)base;
  const long nlon = m->p.nlon, nlat = m->p.nlat, i = cell % nlon, j = cell / nlon;
  static const int di[9] = {0, -1, 1, 0, 0, -1, 1, -1, 1}, dj[9] = {0, 0, 0, -1, 1, -1, -1, 1, 1};
  for (int s = 0; s < 9; s++) {
    long jj = j + dj[s], ii = (i + di[s] + nlon) % nlon;
    nbr[s] = jj < 0 || jj >= nlat || (nlon == 1 && di[s] != 0) ? -1 : jj * nlon + ii;
  }
  return 9;
}

int kv_ebm_residual_at(kv_model *base, long step, const long *cells, int n, const double *u,
                       double *f) {
  ebm *m = (ebm *)base;
  const kv_ebm_params *p = &m->p;
  KV_CHECK(no_noise(m));
  step = hook_step(m, step);
  double c0, aer;
  KV_CHECK(kv_ebm_step_forcing(m, step, &c0, &aer));
  const double *S = m->insol + (step % p->spy) * p->nlat;
  for (int q = 0; q < n; q++) {
    long c = cells[q], j = c / p->nlon;
    double T = u[(size_t)q * KV_STENCIL_MAX] - KELVIN;
    double src = S[j] * (1.0 - kv_ebm_albedo_at(p, m->warm[j], T)) + c0 + aer * m->aer_g[c];
    f[q] = SECONDS_PER_DAY * (src + p->B * KELVIN) / m->C_g[c];
  }
  return KV_OK;
}

int kv_ebm_solve(kv_model *base, const kv_field *rhs, kv_field *out) {
  ebm *m = (ebm *)base;
  const int nlat = m->p.nlat, nlon = m->p.nlon;
  const double rdt = 1.0 / m->dt;
  field_to_rows(m, rhs, 0.0, m->Ts);
  const double *in[] = {m->Ts};
  double *cols[] = {m->T_c};
  KV_CHECK(kv_sphere_transpose_to_cols(&m->tr, 1, in, cols));
  for (size_t e = 0; e < (size_t)nlat * m->ni; e++) {
    m->T_c[e] *= m->C_c[e] * rdt;
  }
  kv_sphere_tridiag_solve(&m->lat_solve, m->T_c);
  const double *cin[] = {m->T_c};
  double *rout[] = {m->Ts};
  KV_CHECK(kv_sphere_transpose_to_rows(&m->tr, 1, cin, rout));
  if (nlon > 1) {
    for (size_t e = 0; e < (size_t)nlon * m->nj; e++) {
      m->Ts[e] *= m->C_r[e] * rdt;
    }
    kv_sphere_tridiag_solve(&m->lon_solve, m->Ts);
  }
  kv_ebm_rows_to_field(m, m->Ts, 1.0, 0.0, out);
  return KV_OK;
}

int kv_ebm_implicit_at(kv_model *base, const long *cells, int n, const double *u, double *f) {
  ebm *m = (ebm *)base;
  const kv_ebm_params *p = &m->p;
  const long nlon = p->nlon, nlat = p->nlat;
  for (int q = 0; q < n; q++) {
    const double *v = u + (size_t)q * KV_STENCIL_MAX;
    long c = cells[q], i = c % nlon, j = c / nlon;
    /* w = Glon^-1 u on the rows j - 1, j, j + 1 of column i (stencil entries: centre, west, east).
     */
    static const int row[3][3] = {{3, 5, 6}, {0, 1, 2}, {4, 7, 8}};
    double w[3] = {0.0, 0.0, 0.0};
    for (int r = 0; r < 3; r++) {
      long jj = j - 1 + r;
      if (jj < 0 || jj >= nlat) {
        continue;
      }
      const double *x = v;
      double ctr = x[row[r][0]];
      w[r] = ctr;
      if (nlon > 1) {
        double E = m->dt * p->D * m->s.ce[jj] / m->C_g[jj * nlon + i];
        w[r] -= E * (x[row[r][2]] - 2.0 * ctr + x[row[r][1]]);
      }
    }
    double lat =
        m->s.cn[j] * (j + 1 < nlat ? w[2] - w[1] : 0.0) - m->s.cs[j] * (j > 0 ? w[1] - w[0] : 0.0);
    f[q] = w[1] + m->dt / m->C_g[c] * (p->B * w[1] - p->D * lat);
  }
  return KV_OK;
}

/* Also the record period's mean (the accumulators restart from u) and the year's net flux from
 * that state. */
int kv_ebm_set_state(kv_model *base, const kv_field *u, long step) {
  ebm *m = (ebm *)base;
  const kv_ebm_params *p = &m->p;
  field_to_rows(m, u, -KELVIN, m->T);
  m->step = step;
  m->t = m->t0_days + (double)step * m->dt_days;
  size_t nr = (size_t)p->nlon * m->nj;
  memcpy(m->tas_acc, m->T, nr * sizeof *m->T);
  m->acc_steps = 1;
  KV_CHECK(kv_ebm_explicit_sources(m, hook_step(m, step - 1), m->T, m->src_r));
  double net = 0.0;
  for (int jl = 0; jl < m->nj; jl++) {
    double rs = 0.0;
    for (int i = 0; i < p->nlon; i++) {
      size_t e = (size_t)i * m->nj + jl;
      rs += m->src_r[e] - p->B * m->T[e];
    }
    net += m->s.w[m->j0 + jl] * rs;
  }
  m->toa_acc = net;
  return KV_OK;
}