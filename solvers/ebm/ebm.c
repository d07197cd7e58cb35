#include "solvers/ebm/ebm.h"
#include "core/comm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "solvers/ebm/ebm_impl.h"

/* ---------------------------------------------------------------- setup */

/* The insolation of every step of the year, averaged over the days of the step. */
static void insolation_table(ebm *m) {
  const kv_ebm_params *p = &m->p;
  for (long k = 0; k < p->spy; k++) {
    for (int j = 0; j < p->nlat; j++) {
      double v;
      if (!p->seasonal) {
        v = kv_forcing_insolation_annual(p->S0, p->s2, m->s.lat[j]);
      } else {
        int ns = (int)ceil(m->dt_days);
        double sum = 0.0;
        for (int q = 0; q < ns; q++) {
          double day = 1.0 + ((double)k + (q + 0.5) / ns) * m->dt_days;
          sum += kv_forcing_insolation_daily(p->S0, &p->orbit, m->s.lat[j], day);
        }
        v = sum / ns;
      }
      m->insol[k * p->nlat + j] = v;
    }
  }
}

/* Read a (lat, lon) dataset into the rows layout, matched by its coordinates and converted to
 * units. Collective. */
static int read_rows(ebm *m, const kv_config_func *f, const char *units, double *rows) {
  kv_h5_axis axes[2] = {{"lon", "degrees_east", "longitude", "", "X", m->lon_deg},
                        {"lat", "degrees_north", "latitude", "", "Y", m->lat_deg}};
  KV_CHECK(kv_h5_read_field_matched(f->path, f->dataset, -1, m->f_aux, axes, units));
  const double *d = kv_field_data_const(m->f_aux);
  const long *st = kv_field_stride(m->f_aux);
  const int *gh = kv_field_ghost(m->f_aux);
  for (int jl = 0; jl < m->nj; jl++) {
    for (int i = 0; i < m->p.nlon; i++) {
      rows[(size_t)i * m->nj + jl] = d[kv_field_index(st, gh, i, jl, 0)];
    }
  }
  return KV_OK;
}

/* read_rows for a config key's file: a failure names the key. */
static int read_rows_key(ebm *m, const kv_config *cfg, const char *key, const kv_config_func *f,
                         const char *units, double *rows) {
  int rc = read_rows(m, f, units, rows);
  if (rc != KV_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kv_error_message());
    return kv_config_errorf(cfg, key, "%s", msg);
  }
  return KV_OK;
}

void kv_ebm_rows_to_field(const ebm *m, const double *rows, double scale, double shift,
                          kv_field *f) {
  double *d = kv_field_data(f);
  const long *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  for (int jl = 0; jl < m->nj; jl++) {
    for (int i = 0; i < m->p.nlon; i++) {
      d[kv_field_index(st, gh, i, jl, 0)] = scale * rows[(size_t)i * m->nj + jl] + shift;
    }
  }
}

static int alloc_all(ebm *m) {
  const size_t nr = (size_t)m->p.nlon * (size_t)m->nj, nc = (size_t)m->p.nlat * (size_t)m->ni;
  double **rows[] = {&m->C_r, &m->aer_r, &m->T, &m->Ts, &m->src_r, &m->w_r, &m->tas_acc};
  double **cols[] = {&m->C_c, &m->T_c, &m->src_c, &m->w_c, &m->xi_c};
  int ok = 1;
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
    *rows[k] = calloc(nr ? nr : 1, sizeof(double));
    ok = ok && *rows[k];
  }
  for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
    *cols[k] = calloc(nc ? nc : 1, sizeof(double));
    ok = ok && *cols[k];
  }
  m->insol = malloc((size_t)m->p.spy * (size_t)m->p.nlat * sizeof(double));
  m->warm = malloc((size_t)m->p.nlat * sizeof(double));
  m->rowbuf = malloc((size_t)m->p.nlat * sizeof(double));
  m->zonal = malloc((size_t)m->p.nlat * sizeof(double));
  m->lat_deg = malloc((size_t)m->p.nlat * sizeof(double));
  m->lon_deg = malloc((size_t)m->p.nlon * sizeof(double));
  m->C_g = malloc((size_t)m->p.nlat * m->p.nlon * sizeof(double));
  m->aer_g = malloc((size_t)m->p.nlat * m->p.nlon * sizeof(double));
  ok = ok && m->C_g && m->aer_g && m->insol && m->warm && m->rowbuf && m->zonal && m->lat_deg &&
       m->lon_deg;
  return ok ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
}

/* Heat capacity and aerosol pattern from whole-grid arrays, in both layouts. */
static int setup_surface(ebm *m, const kv_config *cfg) {
  const kv_ebm_params *p = &m->p;
  const int nlat = p->nlat, nlon = p->nlon;
  double *land = malloc((size_t)nlat * nlon * sizeof *land);
  double *aer = malloc((size_t)nlat * nlon * sizeof *aer);
  int rc = (land && aer) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  if (rc == KV_OK && strcmp(p->land.name, "idealized") == 0) {
    rc = kv_forcing_land_idealized(&m->s, land);
  } else if (rc == KV_OK) {
    memset(land, 0, (size_t)nlat * nlon * sizeof *land);
  }
  if (rc == KV_OK) {
    rc = kv_forcing_aerosol_pattern(&m->s, aer);
  }
  rc = kv_status_agree(m->comm, rc);
  if (rc == KV_OK) {
    for (int i = 0; i < nlon; i++) {
      for (int jl = 0; jl < m->nj; jl++) {
        size_t g = (size_t)(m->j0 + jl) * nlon + i;
        m->C_r[(size_t)i * m->nj + jl] = land[g];
        m->aer_r[(size_t)i * m->nj + jl] = aer[g];
      }
    }
  }
  free(land);
  free(aer);
  KV_CHECK(rc);
  if (strcmp(p->land.name, "file") == 0) {
    /* f_aux receives it; values must be fractions. */
    KV_CHECK(read_rows_key(m, cfg, "ebm.land_mask", &p->land, "1", m->C_r));
    int bad = 0;
    for (size_t k = 0; k < (size_t)nlon * m->nj; k++) {
      bad |= !(m->C_r[k] >= 0.0 && m->C_r[k] <= 1.0);
    }
    int any;
    kv_comm_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
    if (any) {
      return KV_ERROR(KV_ERR_CONFIG,
                      "ebm.land_mask: %s:%s has values outside [0, 1] (expected the "
                      "land fraction of each cell; a percentage needs the dataset attribute "
                      "units = \"%%\", or divide it by 100)",
                      p->land.path, p->land.dataset);
    }
  }
  for (size_t k = 0; k < (size_t)nlon * m->nj; k++) {
    m->C_r[k] = m->C_r[k] * p->C_land + (1.0 - m->C_r[k]) * p->C_ocean;
  }
  const double *in[] = {m->C_r};
  double *out[] = {m->C_c};
  KV_CHECK(kv_sphere_transpose_to_cols(&m->tr, 1, in, out));
  /* Whole-grid copies (cell j * nlon + i) for the ROM hooks, which evaluate any cell anywhere. */
  double *part = malloc(2 * ((size_t)nlon * m->nj + 1) * sizeof *part);
  int *cnt = malloc((size_t)m->size * sizeof *cnt), *dsp = malloc((size_t)m->size * sizeof *dsp);
  rc = part && cnt && dsp ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  rc = kv_status_agree(m->comm, rc);
  for (int q = 0; rc == KV_OK && q < 2; q++) {
    const double *src = q ? m->aer_r : m->C_r;
    double *dst = q ? m->aer_g : m->C_g;
    for (int jl = 0; jl < m->nj; jl++) {
      for (int i = 0; i < nlon; i++) {
        part[(size_t)jl * nlon + i] = src[(size_t)i * m->nj + jl];
      }
    }
    for (int r = 0; r < m->size; r++) {
      cnt[r] = m->tr.nj[r] * nlon;
      dsp[r] = m->tr.j0[r] * nlon;
    }
    if (MPI_Allgatherv(part, m->nj * nlon, MPI_DOUBLE, dst, cnt, dsp, MPI_DOUBLE, m->comm) !=
        MPI_SUCCESS) {
      rc = KV_ERROR(KV_ERR_MPI, "ebm: gather failed");
    }
  }
  free(part);
  free(cnt);
  free(dsp);
  return rc;
}

static int setup_solvers(ebm *m) {
  const kv_ebm_params *p = &m->p;
  const int nlat = p->nlat, nlon = p->nlon;
  const size_t nc = (size_t)nlat * m->ni, nr = (size_t)nlon * m->nj;
  size_t n = nc > nr ? nc : nr;
  double *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b),
         *c = malloc((n ? n : 1) * sizeof *c);
  int rc = (a && b && c) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  if (rc == KV_OK) {
    for (int j = 0; j < nlat; j++) {
      for (int il = 0; il < m->ni; il++) {
        size_t e = (size_t)j * m->ni + il;
        a[e] = -p->D * m->s.cs[j];
        c[e] = -p->D * m->s.cn[j];
        b[e] = m->C_c[e] / m->dt + p->B + p->D * (m->s.cn[j] + m->s.cs[j]);
      }
    }
    rc = kv_sphere_tridiag_factor(&m->lat_solve, nlat, m->ni, 0, a, b, c);
  }
  if (rc == KV_OK && nlon > 1) {
    for (int i = 0; i < nlon; i++) {
      for (int jl = 0; jl < m->nj; jl++) {
        size_t e = (size_t)i * m->nj + jl;
        double E = p->D * m->s.ce[m->j0 + jl];
        a[e] = -E;
        b[e] = m->C_r[e] / m->dt + 2.0 * E;
      }
    }
    rc = kv_sphere_tridiag_factor(&m->lon_solve, nlon, m->nj, 1, a, b, a);
  }
  free(a);
  free(b);
  free(c);
  return rc;
}

static void ebm_free(kv_model *base);

static int ebm_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  kv_ebm_params p;
  KV_CHECK(kv_status_agree(comm, kv_ebm_params_from_config(cfg, &p)));
  int size;
  size = kv_comm_size(comm);
  if (p.nlat < size) {
    KV_CHECK(kv_status_agree(comm, kv_config_errorf(cfg, "ebm.nlat",
                                                    "expected at least one "
                                                    "latitude row per rank (%d ranks)",
                                                    size)));
  }
  ebm *m = calloc(1, sizeof *m);
  int rc = m ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  KV_CHECK(kv_status_agree(comm, rc));
  m->base.type = &kv_ebm_type;
  m->p = p;
  /* Scenario (every rank reads the small table; errors agreed). */
  if (p.has_scenario) {
    rc = kv_forcing_scenario_load(p.scenario, p.scenario_dir, &m->scen);
    if (rc != KV_OK) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", kv_error_message());
      rc = kv_config_errorf(cfg, "ebm.scenario", "%s", msg);
    } else if (m->scen.year0 > p.year_start || m->scen.year0 + m->scen.nyears - 1 < p.year_end) {
      rc = kv_config_errorf(cfg, "ebm.scenario",
                            "the scenario covers the years %d-%d, but the run "
                            "needs %ld-%ld (run.year_start, run.year_end)",
                            m->scen.year0, m->scen.year0 + m->scen.nyears - 1, p.year_start,
                            p.year_end);
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    ebm_free(&m->base);
    return rc;
  }
  /* Grid: (lon, lat), split over latitude only so each rank holds whole circles. */
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = 2;
  gp.n[0] = p.nlon;
  gp.n[1] = p.nlat;
  gp.length[0] = 360.0;
  gp.length[1] = 180.0;
  gp.periodic[0] = 1;
  gp.procs[0] = 1;
  gp.procs[1] = size;
  KV_TRY(kv_grid_create(comm, &gp, &m->grid));
  m->comm = kv_grid_comm(m->grid);
  m->rank = kv_comm_rank(m->comm);
  m->size = size;
  m->j0 = (int)kv_grid_offset(m->grid)[1];
  m->nj = (int)kv_grid_local_n(m->grid)[1];
  KV_TRY(kv_status_agree(m->comm, kv_sphere_init(&m->s, p.nlat, p.nlon)));
  KV_TRY(kv_sphere_transpose_create(m->comm, p.nlat, p.nlon, m->j0, m->nj, 3, &m->tr));
  m->i0 = m->tr.i0[m->rank];
  m->ni = m->tr.ni[m->rank];
  KV_TRY(kv_status_agree(m->comm, alloc_all(m)));
  KV_TRY(kv_field_create(m->grid, &m->f_out));
  KV_TRY(kv_field_create(m->grid, &m->f_aux));
  KV_TRY(kv_field_create(m->grid, &m->f_aux2));
  m->dt_days = DAYS_PER_YEAR / (double)p.spy;
  m->dt = m->dt_days * SECONDS_PER_DAY;
  m->t0_days = (double)(p.year_start - 1850) * DAYS_PER_YEAR;
  m->t = m->t0_days;
  m->nsteps = (p.year_end - p.year_start + 1) * p.spy;
  for (int j = 0; j < p.nlat; j++) {
    m->warm[j] =
        p.albedo == KV_EBM_ALB_CONSTANT ? p.a0 : p.a0 + p.a2 * kv_forcing_p2(sin(m->s.lat[j]));
    m->lat_deg[j] = m->s.lat[j] / DEG;
  }
  for (int i = 0; i < p.nlon; i++) {
    m->lon_deg[i] = m->s.lon[i] / DEG;
  }
  insolation_table(m);
  KV_TRY(setup_surface(m, cfg));
  KV_TRY(kv_status_agree(m->comm, setup_solvers(m)));
  if (p.noise_std > 0.0) {
    double tau_steps = p.noise_tau * (double)p.spy;
    KV_TRY(kv_status_agree(
        m->comm, kv_noise_create(&m->noise, &m->s, m->j0, m->nj, m->i0, m->ni, (uint64_t)p.seed,
                                 p.noise_std, p.noise_corr_km * 1000.0 / EARTH_RADIUS, tau_steps)));
  }
  if (strcmp(p.T_init.name, "file") == 0) {
    KV_TRY(read_rows_key(m, cfg, "ebm.T_init", &p.T_init, "K", m->T));
    for (size_t k = 0; k < (size_t)p.nlon * m->nj; k++) {
      m->T[k] -= KELVIN;
    }
  } else {
    const double *a = p.T_init.args;
    int leg = strcmp(p.T_init.name, "legendre") == 0;
    for (int i = 0; i < p.nlon; i++) {
      for (int jl = 0; jl < m->nj; jl++) {
        double P2 = kv_forcing_p2(sin(m->s.lat[m->j0 + jl]));
        m->T[(size_t)i * m->nj + jl] = leg ? a[0] + a[1] * P2 : a[0];
      }
    }
  }
  m->axes[0] = (kv_h5_axis){"lon", "degrees_east", "longitude", "longitude of cell centres",
                            "X",   m->lon_deg};
  m->axes[1] =
      (kv_h5_axis){"lat", "degrees_north", "latitude", "latitude of cell centres", "Y", m->lat_deg};
  static const char *const alb[] = {"constant", "legendre", "step ice", "smooth ice"};
  snprintf(m->title, sizeof m->title, "kelvin energy-balance model (%s insolation, %s albedo%s)",
           p.seasonal ? "seasonal" : "annual", alb[p.albedo],
           p.noise_std > 0.0 ? ", stochastic forcing" : "");
  *out = &m->base;
  return KV_OK;
cleanup:
  ebm_free(&m->base);
  return rc;
}

/* ---------------------------------------------------------------- step */

/* The uniform (F - A) and aerosol-index (counted negative) forcing of step k. */
int kv_ebm_step_forcing(const ebm *m, long k, double *c0, double *aer) {
  const kv_ebm_params *p = &m->p;
  double F = p->forcing;
  *aer = 0.0;
  if (p->has_scenario) {
    double co2, idx;
    long year = p->year_start + k / p->spy;
    KV_CHECK(
        kv_forcing_scenario_at(&m->scen, (int)year, &co2, &idx)); /* years checked at creation */
    F += 5.35 * log(co2 / p->co2_ref);
    *aer = -p->aerosol_scale * idx;
  }
  *c0 = F - p->A;
  return KV_OK;
}

/* Albedo of a cell of ice-free albedo `warm` at T (deg C). */
double kv_ebm_albedo_at(const kv_ebm_params *p, double warm, double T) {
  switch (p->albedo) {
  case KV_EBM_ALB_STEP:
    return T < p->Tf ? p->ai : warm;
  case KV_EBM_ALB_SMOOTH: {
    /* 0.5 (1 - tanh(x)) = 1 / (1 + exp(2 x)); exp overflows harmlessly to inf. */
    double ice = 1.0 / (1.0 + exp(2.0 / p->ice_width * (T - p->Tf)));
    return warm + (p->ai - warm) * ice;
  }
  default:
    return warm;
  }
}

/* The explicit sources of step k (everything but B T, diffusion and noise) of the rows-layout
 * temperature T (deg C) into src. */
int kv_ebm_explicit_sources(const ebm *m, long k, const double *T, double *src) {
  const kv_ebm_params *p = &m->p;
  const int nlon = p->nlon, nj = m->nj;
  double c0, aer;
  KV_CHECK(kv_ebm_step_forcing(m, k, &c0, &aer));
  const double *restrict Sj = m->insol + (k % p->spy) * p->nlat + m->j0, *restrict wj =
                                                                             m->warm + m->j0;
  for (int i = 0; i < nlon; i++) {
    const double *restrict Ti = T + (size_t)i * nj, *restrict ap = m->aer_r + (size_t)i * nj;
    double *restrict si = src + (size_t)i * nj;
    for (int jl = 0; jl < nj; jl++) {
      si[jl] = Sj[jl] * (1.0 - kv_ebm_albedo_at(p, wj[jl], Ti[jl])) + c0 + aer * ap[jl];
    }
  }
  return KV_OK;
}

static int ebm_step(kv_model *base, double *t) {
  ebm *m = (ebm *)base;
  const kv_ebm_params *p = &m->p;
  const int nlat = p->nlat, nlon = p->nlon, nj = m->nj, ni = m->ni;
  const long k = m->step; /* this step covers [t_k, t_k+1] */
  const long year = p->year_start + k / p->spy;
  const int noisy = p->noise_std > 0.0;
  if (noisy) {
    kv_noise_rows(&m->noise, k, m->w_r);
  }
  KV_CHECK(kv_ebm_explicit_sources(m, k, m->T, m->src_r));
  const double *in[] = {m->T, m->src_r, m->w_r};
  double *cols[] = {m->T_c, m->src_c, m->w_c};
  KV_CHECK(kv_sphere_transpose_to_cols(&m->tr, noisy ? 3 : 2, in, cols));
  if (noisy) {
    kv_noise_cols(&m->noise, m->w_c, m->xi_c, !m->xi_started);
    m->xi_started = 1;
  }
  /* Latitude sweep: (C/dt + B - D L_lat) T* = C/dt T + src + xi. */
  const double rdt = 1.0 / m->dt;
  for (size_t e = 0; e < (size_t)nlat * ni; e++) {
    if (noisy) {
      m->src_c[e] += m->xi_c[e];
    }
    m->T_c[e] = m->C_c[e] * rdt * m->T_c[e] + m->src_c[e];
  }
  kv_sphere_tridiag_solve(&m->lat_solve, m->T_c);
  /* The net downward flux actually applied, for the heat budget: src + xi - B T*. */
  double net = 0.0;
  for (int j = 0; j < nlat; j++) {
    double row = 0.0;
    for (int il = 0; il < ni; il++) {
      size_t e = (size_t)j * ni + il;
      row += m->src_c[e] - p->B * m->T_c[e];
    }
    net += m->s.w[j] * row;
  }
  const double *cin[] = {m->T_c};
  double *rout[] = {nlon > 1 ? m->Ts : m->T};
  KV_CHECK(kv_sphere_transpose_to_rows(&m->tr, 1, cin, rout));
  /* Longitude sweep: (C/dt - D L_lon) T = C/dt T*. */
  if (nlon > 1) {
    for (size_t e = 0; e < (size_t)nlon * nj; e++) {
      m->T[e] = m->C_r[e] * rdt * m->Ts[e];
    }
    kv_sphere_tridiag_solve(&m->lon_solve, m->T);
  }
  for (size_t e = 0; e < (size_t)nlon * nj; e++) {
    m->tas_acc[e] += m->T[e];
  }
  m->toa_acc += net; /* this rank's part; summed over ranks when a record is made */
  m->bad |= !isfinite(net);
  m->acc_steps++;
  m->step++;
  m->t = m->t0_days + (double)m->step * m->dt_days;
  *t = m->t;
  /* Agree on a non-finite state every few steps and before every record, not every step: the
   * all-reduce would cost more than a step of a small grid. */
  if (m->step % 8 == 0 || m->step % p->spy == 0 || m->step == m->nsteps) {
    int any;
    kv_comm_allreduce(&m->bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
    if (any) {
      return KV_ERROR(KV_ERR_NUMERIC, "ebm: the state became non-finite by step %ld (year %ld)",
                      m->step, year);
    }
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- outputs */

/* Per-row sums of f * g over longitude (g may be NULL), on every rank, in a fixed order. */
static void row_sums(ebm *m, const double *f, const double *g, double *out) {
  for (int jl = 0; jl < m->nj; jl++) {
    double s = 0.0;
    for (int i = 0; i < m->p.nlon; i++) {
      size_t e = (size_t)i * m->nj + jl;
      s += g ? f[e] * g[e] : f[e];
    }
    m->rowbuf[jl] = s;
  }
  MPI_Allgatherv(m->rowbuf, m->nj, MPI_DOUBLE, out, m->tr.nj, m->tr.j0, MPI_DOUBLE, m->comm);
}

/* Latitude where the zonal mean z (deg C) first falls below Tf going poleward from the equator,
 * interpolated between row centres; +-90 without ice, 0 when the hemisphere is frozen to the
 * equator. */
static double ice_edge(const ebm *m, const double *z, int north) {
  const int nlat = m->p.nlat;
  const double Tf = m->p.Tf;
  int jeq = north ? (nlat + 1) / 2 : nlat / 2 - 1; /* first row strictly in the hemisphere */
  int dir = north ? 1 : -1;
  double prev_lat = 0.0, prev = NAN;
  for (int j = jeq; j >= 0 && j < nlat; j += dir) {
    if (z[j] < Tf) {
      if (isnan(prev)) {
        return 0.0;
      }
      double f = (prev - Tf) / (prev - z[j]);
      return prev_lat + f * (m->lat_deg[j] - prev_lat);
    }
    prev = z[j];
    prev_lat = m->lat_deg[j];
  }
  return north ? 90.0 : -90.0;
}

static int ebm_outputs(kv_model *base, kv_output_list *out) {
  ebm *m = (ebm *)base;
  const kv_ebm_params *p = &m->p;
  const int nlat = p->nlat;
  if (m->acc_steps > 0) {
    /* The annual mean of the year that just ended. */
    double inv = 1.0 / (double)m->acc_steps;
    kv_ebm_rows_to_field(m, m->tas_acc, inv, KELVIN, m->f_out);
    row_sums(m, m->tas_acc, NULL, m->zonal);
    double g = 0.0;
    for (int j = 0; j < nlat; j++) {
      m->zonal[j] *= inv / p->nlon;
      g += m->s.w[j] * p->nlon * m->zonal[j];
    }
    m->tas_global = g + KELVIN;
    m->ice_n = ice_edge(m, m->zonal, 1);
    m->ice_s = ice_edge(m, m->zonal, 0);
    double toa;
    kv_comm_allreduce(&m->toa_acc, &toa, 1, MPI_DOUBLE, MPI_SUM, m->comm);
    m->toa = toa * inv;
    long year = p->year_start + (m->step - 1) / p->spy;
    m->year_mid = (double)(year - 1850) * DAYS_PER_YEAR + 0.5 * DAYS_PER_YEAR;
    row_sums(m, m->T, m->C_r, m->zonal);
    double h = 0.0;
    for (int j = 0; j < nlat; j++) {
      h += m->s.w[j] * m->zonal[j];
    }
    m->heat = 4.0 * KV_PI * EARTH_RADIUS * EARTH_RADIUS * h;
    memset(m->tas_acc, 0, (size_t)p->nlon * m->nj * sizeof(double));
    m->toa_acc = 0.0;
    m->acc_steps = 0;
  } else {
    kv_ebm_rows_to_field(m, m->T, 1.0, KELVIN, m->f_out);
  }
  out->has_time = 1;
  out->time = m->year_mid;
  KV_CHECK(kv_output_add_field(out, "tas", "K", "annual-mean surface temperature", m->f_out));
  KV_CHECK(kv_output_add_scalar(
      out, "tas_global", "K", "annual- and area-weighted (cos lat) global-mean surface temperature",
      m->tas_global));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/ice_edge_north", "degrees_north",
                                "ice-edge latitude of the annual zonal mean, northern hemisphere",
                                m->ice_n));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/ice_edge_south", "degrees_north",
                                "ice-edge latitude of the annual zonal mean, southern hemisphere",
                                m->ice_s));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/toa_imbalance", "W m-2",
                                "annual global-mean net downward flux (absorbed solar - OLR + "
                                "forcing + stochastic forcing)",
                                m->toa));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/heat_content", "J",
                                "global heat content sum(C T area) at the end of the year, T in "
                                "deg C",
                                m->heat));
  /* CF: tas is near-surface air temperature (as CMIP's tas), averaged over the record's year
   * (time_bnds) and, for the global mean, over the area. */
  KV_CHECK(kv_output_describe(out, "tas", "air_temperature", "time: mean"));
  KV_CHECK(kv_output_describe(out, "tas_global", "air_temperature", "area: mean time: mean"));
  KV_CHECK(kv_output_describe(out, "diagnostics/ice_edge_north", NULL, "time: mean"));
  KV_CHECK(kv_output_describe(out, "diagnostics/ice_edge_south", NULL, "time: mean"));
  KV_CHECK(kv_output_describe(out, "diagnostics/toa_imbalance", NULL, "area: mean time: mean"));
  return KV_OK;
}

/* Checkpoint: the instantaneous state, the AR(1) forcing and the year's accumulators. */
static int ebm_checkpoint(kv_model *base, kv_output_list *out) {
  ebm *m = (ebm *)base;
  /* In deg C as the model holds it: converting to K and back would not restart bit for bit. */
  kv_ebm_rows_to_field(m, m->T, 1.0, 0.0, m->f_out);
  const double *cin[] = {m->xi_c};
  double *rout[] = {m->Ts};
  KV_CHECK(kv_sphere_transpose_to_rows(&m->tr, 1, cin, rout));
  kv_ebm_rows_to_field(m, m->Ts, 1.0, 0.0, m->f_aux);
  kv_ebm_rows_to_field(m, m->tas_acc, 1.0, 0.0, m->f_aux2);
  double toa;
  kv_comm_allreduce(&m->toa_acc, &toa, 1, MPI_DOUBLE, MPI_SUM, m->comm);
  out->has_time = 1;
  out->time = m->t;
  KV_CHECK(kv_output_add_field(out, "T", "degC", "instantaneous surface temperature", m->f_out));
  KV_CHECK(kv_output_add_field(out, "xi", "W m-2", "stochastic forcing (AR(1) state)", m->f_aux));
  KV_CHECK(kv_output_add_field(out, "tas_sum", "degC",
                               "sum of the temperature over the steps of the current year",
                               m->f_aux2));
  KV_CHECK(kv_output_add_scalar(out, "acc_steps", "1", "steps of the current year so far",
                                (double)m->acc_steps));
  KV_CHECK(
      kv_output_add_scalar(out, "acc_toa", "W m-2", "sum of the global net flux over them", toa));
  return kv_output_add_scalar(out, "xi_started", "1", "1 once the AR(1) forcing is running",
                              (double)m->xi_started);
}

static int read_scalar_last(const char *path, const char *name, double *v) {
  kv_h5_array a;
  KV_CHECK(kv_h5_read_array(path, name, &a));
  int rc = a.count > 0 ? KV_OK : KV_ERROR(KV_ERR_FORMAT, "'%s': /%s is empty", path, name);
  if (rc == KV_OK) {
    *v = a.data[a.count - 1];
  }
  kv_h5_array_free(&a);
  return rc;
}

static int ebm_restart(kv_model *base, const char *path) {
  ebm *m = (ebm *)base;
  int rc = KV_OK;
  double v[5] = {0};
  if (m->rank == 0) {
    char model[64], title[64];
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) {
      rc = kv_h5_read_root_text(path, "model", model, sizeof model);
    }
    if (rc == KV_OK && strcmp(model, kv_ebm_type.name) != 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s' was written by model '%s', not ebm", path, model);
    }
    if (rc == KV_OK) {
      rc = kv_h5_read_root_text(path, "title", title, sizeof title);
    }
    if (rc == KV_OK && strcmp(title, "kelvin checkpoint") != 0) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "restart: '%s' is not a checkpoint; the ebm model restarts from "
                    "the <output>.checkpoint.h5 that run.checkpoint_every or an interrupt writes",
                    path);
    }
    static const char *const names[] = {"time", "acc_steps", "acc_toa", "xi_started"};
    for (int k = 0; k < 4 && rc == KV_OK; k++) {
      rc = read_scalar_last(path, names[k], &v[k]);
    }
  }
  KV_CHECK(kv_status_agree(m->comm, rc));
  kv_comm_bcast(v, 5, MPI_DOUBLE, 0, m->comm);
  double s = (v[0] - m->t0_days) / m->dt_days;
  long step = lround(s);
  if (!(fabs(s - (double)step) <= 1e-6) || step < 0) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "restart: '%s' is at day %.17g, not on this run's time grid "
                    "(run.year_start = %ld, run.steps_per_year = %ld)",
                    path, v[0], m->p.year_start, m->p.spy);
  }
  if (step >= m->nsteps) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "restart: '%s' is at or after the end of run.year_end = %ld; "
                    "nothing to do",
                    path, m->p.year_end);
  }
  long acc = lround(v[1]);
  if (acc != step % m->p.spy) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "restart: '%s' is inconsistent (%ld steps into the year at step "
                    "%ld)",
                    path, acc, step);
  }
  kv_config_func f;
  memset(&f, 0, sizeof f);
  snprintf(f.path, sizeof f.path, "%s", path);
  snprintf(f.dataset, sizeof f.dataset, "T");
  KV_CHECK(read_rows(m, &f, NULL, m->T));
  snprintf(f.dataset, sizeof f.dataset, "tas_sum");
  KV_CHECK(read_rows(m, &f, NULL, m->tas_acc));
  snprintf(f.dataset, sizeof f.dataset, "xi");
  KV_CHECK(read_rows(m, &f, NULL, m->Ts));
  const double *rin[] = {m->Ts};
  double *cout[] = {m->xi_c};
  KV_CHECK(kv_sphere_transpose_to_cols(&m->tr, 1, rin, cout));
  m->acc_steps = acc;
  m->toa_acc = m->rank == 0 ? v[2] : 0.0;
  m->xi_started = v[3] != 0.0;
  m->step = step;
  m->t = m->t0_days + (double)step * m->dt_days;
  return KV_OK;
}

static int ebm_state(const kv_model *base, const kv_field **out) {
  ebm *m = (ebm *)base;
  kv_ebm_rows_to_field(m, m->T, 1.0, KELVIN, m->f_out);
  *out = m->f_out;
  return KV_OK;
}

static int ebm_info(const kv_model *base, kv_model_info *out) {
  const ebm *m = (const ebm *)base;
  out->grid = m->grid;
  out->step0 = m->step;
  out->t0 = m->t;
  out->dt = m->dt_days;
  out->nsteps = m->nsteps;
  out->cfl = 0.0;
  out->title = m->title;
  out->coord_units = "degrees";
  out->time_units = "days since 1850-01-01 00:00:00";
  out->axes = m->axes;
  out->calendar = "noleap";
  out->record_every = m->p.spy;
  out->skip_initial = 1;
  out->theta = 1.0;
  out->linear_implicit = 1;
  out->record_means = 1;
  return KV_OK;
}

static void ebm_free(kv_model *base) {
  ebm *m = (ebm *)base;
  if (!m) {
    return;
  }
  kv_sphere_tridiag_free(&m->lat_solve);
  kv_sphere_tridiag_free(&m->lon_solve);
  kv_noise_free(&m->noise);
  kv_forcing_scenario_free(&m->scen);
  kv_sphere_transpose_free(&m->tr);
  kv_sphere_free(&m->s);
  double *arrays[] = {m->insol,  m->warm,  m->C_r,     m->C_c,     m->aer_r, m->T,    m->Ts,
                      m->src_r,  m->w_r,   m->T_c,     m->src_c,   m->w_c,   m->xi_c, m->tas_acc,
                      m->rowbuf, m->zonal, m->lat_deg, m->lon_deg, m->C_g,   m->aer_g};
  for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
    free(arrays[k]);
  }
  kv_field_free(m->f_out);
  kv_field_free(m->f_aux);
  kv_field_free(m->f_aux2);
  kv_grid_free(m->grid);
  free(m);
}

static int ebm_check(const kv_config *cfg) {
  kv_ebm_params p;
  return kv_ebm_params_from_config(cfg, &p);
}

/* The last year's global mean and extremes of the annual-mean surface temperature. */
static int ebm_responses(const kv_config *cfg, char *buf, size_t n) {
  (void)cfg;
  snprintf(buf, n, "tas_global,tas_max,tas_min");
  return KV_OK;
}

const kv_model_type kv_ebm_type = {
    .name = "ebm",
    .seed_key = "ebm.seed",
    .scenario_key = "ebm.scenario",
    .state_var = "tas",
    .keys = kv_ebm_keys,
    .size_keys = "ebm.nlat, ebm.nlon",
    .create = ebm_create,
    .check = ebm_check,
    .step = ebm_step,
    .state = ebm_state,
    .outputs = ebm_outputs,
    .info = ebm_info,
    .restart = ebm_restart,
    .checkpoint = ebm_checkpoint,
    .residual = kv_ebm_residual,
    .stencil = kv_ebm_stencil,
    .residual_at = kv_ebm_residual_at,
    .set_state = kv_ebm_set_state,
    .solve = kv_ebm_solve,
    .implicit_at = kv_ebm_implicit_at,
    .global_forcing = kv_ebm_global_forcing,
    .responses = ebm_responses,
    .free = ebm_free,
};
