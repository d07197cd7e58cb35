#include "solvers/ebm/ebm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/ebm/forcing.h"
#include "solvers/ebm/noise.h"
#include "solvers/ebm/sphere.h"

#ifndef KV_SCENARIO_DIR
#define KV_SCENARIO_DIR "configs/scenarios"
#endif

#define KV_PI 3.14159265358979323846
#define DEG (KV_PI / 180.0)
#define EARTH_RADIUS 6.371e6           /* m                                          */
#define DAYS_PER_YEAR 365.0            /* the model calendar is "noleap"             */
#define SECONDS_PER_DAY 86400.0
#define RHO_CP_WATER (1025.0 * 3985.0) /* J m-3 K-1: sea water, for the mixed layer  */
#define KELVIN 273.15

const kv_config_key kv_ebm_keys[] = {
    {"ebm.nlat", KV_CFG_INT, "96", NULL, 3, 100000, "latitude rows, pole to pole"},
    {"ebm.nlon", KV_CFG_INT, "144", NULL, 1, 100000,
     "longitude columns (1: the zonal-mean model; otherwise at least 3)"},
    {"ebm.A", KV_CFG_DOUBLE, "210", NULL, KV_CFG_NORANGE, "OLR = A + B T: constant part (W m-2)"},
    {"ebm.B", KV_CFG_DOUBLE, "2", NULL, 0.0, INFINITY,
     "OLR = A + B T: feedback parameter (W m-2 K-1)"},
    {"ebm.D", KV_CFG_DOUBLE, "0.555", NULL, 0.0, INFINITY,
     "diffusivity (W m-2 K-1), multiplies the Laplacian of the unit sphere"},
    {"ebm.insolation", KV_CFG_ENUM, "annual", "annual|seasonal", KV_CFG_NORANGE,
     "annual: S0/4 (1 + s2 P2(sin lat)); seasonal: daily means from the orbit (Berger 1978)"},
    {"ebm.S0", KV_CFG_DOUBLE, "1365.2", NULL, 0.0, INFINITY, "solar constant (W m-2)"},
    {"ebm.s2", KV_CFG_DOUBLE, "-0.48", NULL, KV_CFG_NORANGE, "annual insolation: P2 coefficient"},
    {"ebm.ecc", KV_CFG_DOUBLE, "0.017236", NULL, 0.0, 0.9, "seasonal: orbital eccentricity"},
    {"ebm.obliquity", KV_CFG_DOUBLE, "23.446", NULL, 0.0, 90.0, "seasonal: obliquity (degrees)"},
    {"ebm.long_peri", KV_CFG_DOUBLE, "281.37", NULL, 0.0, 360.0,
     "seasonal: longitude of perihelion from the vernal equinox + 180 (degrees; Berger's tables)"},
    {"ebm.albedo", KV_CFG_ENUM, "smooth", "constant|legendre|step|smooth", KV_CFG_NORANGE,
     "constant: a0; legendre: a0 + a2 P2(sin lat); step: ai where T < Tf, else legendre; smooth: "
     "a tanh transition of width ice_width between the two"},
    {"ebm.a0", KV_CFG_DOUBLE, "0.3", NULL, 0.0, 1.0, "albedo: ice-free constant part"},
    {"ebm.a2", KV_CFG_DOUBLE, "0.078", NULL, -1.0, 1.0, "albedo: ice-free P2 coefficient"},
    {"ebm.ai", KV_CFG_DOUBLE, "0.62", NULL, 0.0, 1.0, "albedo of ice"},
    {"ebm.Tf", KV_CFG_DOUBLE, "-10", NULL, KV_CFG_NORANGE, "freezing temperature of the ice albedo (deg C)"},
    {"ebm.ice_width", KV_CFG_DOUBLE, "2", NULL, 0.0, INFINITY,
     "smooth albedo: width (K) of the tanh transition"},
    {"ebm.ocean_depth", KV_CFG_DOUBLE, "50", NULL, 0.0, INFINITY,
     "ocean mixed-layer depth (m): C = 1025 * 3985 * depth J m-2 K-1"},
    {"ebm.land_heat_capacity", KV_CFG_DOUBLE, "1.0e7", NULL, 0.0, INFINITY,
     "heat capacity of land (J m-2 K-1)"},
    {"ebm.land_mask", KV_CFG_FUNC, "idealized", "none, idealized or file.h5:/dataset",
     KV_CFG_NORANGE,
     "land fraction per cell: none (aquaplanet), the built-in idealised continents, or a (lat, "
     "lon) dataset of values in [0, 1]"},
    {"ebm.scenario", KV_CFG_STRING, "none", NULL, KV_CFG_NORANGE,
     "none (no time-dependent forcing), historical, ssp126, ssp245, ssp370, ssp585 (files in "
     "configs/scenarios/) or a path to such a CSV; scenarios continue from historical"},
    {"ebm.scenario_dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where named scenarios are looked up (default: the configs/scenarios of the build)"},
    {"ebm.co2_ref", KV_CFG_DOUBLE, "284.3", NULL, 0.0, INFINITY,
     "reference CO2 (ppm): F_co2 = 5.35 ln(CO2 / co2_ref) W m-2"},
    {"ebm.aerosol_scale", KV_CFG_DOUBLE, "0.9", NULL, KV_CFG_NORANGE,
     "global-mean aerosol forcing (W m-2, counted negative) at aerosol index 1"},
    {"ebm.forcing", KV_CFG_DOUBLE, "0", NULL, KV_CFG_NORANGE,
     "extra uniform, constant forcing (W m-2)"},
    {"ebm.T_init", KV_CFG_FUNC, "10", "a number (deg C), legendre(T0, T2) or file.h5:/dataset (K)",
     KV_CFG_NORANGE,
     "initial temperature: uniform in deg C; T0 + T2 P2(sin lat) in deg C (climlab starts from "
     "legendre(12, -40)); or a (lat, lon) field in K such as /tas of an earlier run (last record)"},
    {"ebm.noise_std", KV_CFG_DOUBLE, "0", NULL, 0.0, INFINITY,
     "internal variability: standard deviation of the stochastic forcing per cell (W m-2)"},
    {"ebm.noise_corr_km", KV_CFG_DOUBLE, "1500", NULL, 0.0, INFINITY,
     "internal variability: spatial correlation length (km; 0: white in space)"},
    {"ebm.noise_tau", KV_CFG_DOUBLE, "0.5", NULL, 0.0, INFINITY,
     "internal variability: AR(1) time scale (years; 0: white in time)"},
    {"ebm.seed", KV_CFG_INT, "1", NULL, 0, 9.0e15, "internal variability: random seed"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

enum { ALB_CONSTANT, ALB_LEGENDRE, ALB_STEP, ALB_SMOOTH };

typedef struct {
  int nlat, nlon;
  double A, B, D;
  int seasonal;
  double S0, s2;
  kv_orbit orbit;
  int albedo;
  double a0, a2, ai, Tf, ice_width;
  double C_ocean, C_land;
  kv_config_func land, T_init;
  int has_scenario;
  double co2_ref, aerosol_scale, forcing;
  double noise_std, noise_corr_km, noise_tau;
  long seed;
  long year_start, year_end, spy;
} params;

typedef struct {
  kv_model base;
  params p;
  MPI_Comm comm;
  int rank, size;
  kv_grid *grid;          /* (lon, lat) decomposed in latitude: the rows layout           */
  kv_sphere s;
  int j0, nj, i0, ni;
  kv_transpose tr;
  kv_tridiag lat_solve;   /* (C/dt + B) - D L_lat on this rank's columns                  */
  kv_tridiag lon_solve;   /* C/dt - D L_lon on this rank's rows (nlon > 1)                */
  kv_noise noise;
  kv_scenario scen;
  double *insol;          /* [step of the year][j]                                        */
  double *warm;           /* ice-free albedo per latitude                                 */
  double *C_r, *C_c;      /* heat capacity, rows and columns layouts                      */
  double *aer_r;          /* aerosol pattern, rows layout                                 */
  double *T, *Ts;         /* state and scratch, rows layout (deg C)                      */
  double *src_r, *w_r;    /* rows: explicit sources, noise                                */
  double *T_c, *src_c, *w_c, *xi_c; /* columns                                           */
  double *tas_acc;        /* rows: sum of T over the steps of the current year           */
  double *C_g, *aer_g;    /* heat capacity and aerosol pattern of every cell (ROM hooks)  */
  double *rowbuf, *zonal; /* nlat: per-row sums                                            */
  double toa_acc;         /* sum over the year's steps of this rank's part of the global net flux */
  int bad;                /* a non-finite value was seen on this rank                      */
  long acc_steps;
  double dt;              /* seconds                                                      */
  double dt_days, t0_days;/* time axis: days since 1850-01-01                             */
  long step, nsteps;
  double t;
  int xi_started;
  kv_field *f_out, *f_aux, *f_aux2;
  double *lat_deg, *lon_deg;
  kv_h5_axis axes[2];
  char title[160];
  /* the latest annual record */
  double tas_global, ice_n, ice_s, toa, heat;
  double year_mid;
} ebm;

/* ---------------------------------------------------------------- parameters */

static int params_from_config(const kv_config *cfg, params *p) {
  memset(p, 0, sizeof *p);
  long v;
  KV_CHECK(kv_config_get_int(cfg, "ebm.nlat", 3, 100000, &v));
  p->nlat = (int)v;
  KV_CHECK(kv_config_get_int(cfg, "ebm.nlon", 1, 100000, &v));
  p->nlon = (int)v;
  if (p->nlon == 2) {
    return kv_config_errorf(cfg, "ebm.nlon", "expected 1 (zonal mean) or at least 3 columns");
  }
  KV_CHECK(kv_config_get_double(cfg, "ebm.A", -INFINITY, INFINITY, &p->A));
  KV_CHECK(kv_config_get_double(cfg, "ebm.B", 0.0, INFINITY, &p->B));
  KV_CHECK(kv_config_get_double(cfg, "ebm.D", 0.0, INFINITY, &p->D));
  int e;
  KV_CHECK(kv_config_get_enum(cfg, "ebm.insolation", "annual|seasonal", &e));
  p->seasonal = e == 1;
  KV_CHECK(kv_config_get_double(cfg, "ebm.S0", 0.0, INFINITY, &p->S0));
  KV_CHECK(kv_config_get_double(cfg, "ebm.s2", -INFINITY, INFINITY, &p->s2));
  KV_CHECK(kv_config_get_double(cfg, "ebm.ecc", 0.0, 0.9, &p->orbit.ecc));
  double d;
  KV_CHECK(kv_config_get_double(cfg, "ebm.obliquity", 0.0, 90.0, &d));
  p->orbit.obliquity = d * DEG;
  KV_CHECK(kv_config_get_double(cfg, "ebm.long_peri", 0.0, 360.0, &d));
  p->orbit.long_peri = d * DEG;
  KV_CHECK(kv_config_get_enum(cfg, "ebm.albedo", "constant|legendre|step|smooth", &p->albedo));
  KV_CHECK(kv_config_get_double(cfg, "ebm.a0", 0.0, 1.0, &p->a0));
  KV_CHECK(kv_config_get_double(cfg, "ebm.a2", -1.0, 1.0, &p->a2));
  KV_CHECK(kv_config_get_double(cfg, "ebm.ai", 0.0, 1.0, &p->ai));
  KV_CHECK(kv_config_get_double(cfg, "ebm.Tf", -INFINITY, INFINITY, &p->Tf));
  KV_CHECK(kv_config_get_double(cfg, "ebm.ice_width", 0.0, INFINITY, &p->ice_width));
  if (p->albedo == ALB_SMOOTH && !(p->ice_width > 0.0)) {
    return kv_config_errorf(cfg, "ebm.ice_width", "expected a positive width for the smooth albedo");
  }
  double depth;
  KV_CHECK(kv_config_get_double(cfg, "ebm.ocean_depth", -INFINITY, INFINITY, &depth));
  if (!(depth > 0.0)) {
    return kv_config_errorf(cfg, "ebm.ocean_depth", "expected a positive mixed-layer depth (m)");
  }
  p->C_ocean = RHO_CP_WATER * depth;
  KV_CHECK(kv_config_get_double(cfg, "ebm.land_heat_capacity", -INFINITY, INFINITY, &p->C_land));
  if (!(p->C_land > 0.0)) {
    return kv_config_errorf(cfg, "ebm.land_heat_capacity",
                            "expected a positive heat capacity (J m-2 K-1)");
  }
  KV_CHECK(kv_config_get_func(cfg, "ebm.land_mask", &p->land));
  if (strcmp(p->land.name, "none") != 0 && strcmp(p->land.name, "idealized") != 0 &&
      strcmp(p->land.name, "file") != 0) {
    return kv_config_errorf(cfg, "ebm.land_mask", "expected none, idealized or file.h5:/dataset");
  }
  KV_CHECK(kv_config_get_func(cfg, "ebm.T_init", &p->T_init));
  if (strcmp(p->T_init.name, "number") != 0 && strcmp(p->T_init.name, "file") != 0 &&
      !(strcmp(p->T_init.name, "legendre") == 0 && p->T_init.nargs == 2)) {
    return kv_config_errorf(cfg, "ebm.T_init",
                            "expected a number (deg C), legendre(T0, T2) or file.h5:/dataset (K)");
  }
  KV_CHECK(kv_config_get_double(cfg, "ebm.co2_ref", 0.0, INFINITY, &p->co2_ref));
  if (!(p->co2_ref > 0.0)) {
    return kv_config_errorf(cfg, "ebm.co2_ref", "expected a positive concentration (ppm)");
  }
  KV_CHECK(kv_config_get_double(cfg, "ebm.aerosol_scale", -INFINITY, INFINITY, &p->aerosol_scale));
  KV_CHECK(kv_config_get_double(cfg, "ebm.forcing", -INFINITY, INFINITY, &p->forcing));
  KV_CHECK(kv_config_get_double(cfg, "ebm.noise_std", 0.0, INFINITY, &p->noise_std));
  KV_CHECK(kv_config_get_double(cfg, "ebm.noise_corr_km", 0.0, INFINITY, &p->noise_corr_km));
  KV_CHECK(kv_config_get_double(cfg, "ebm.noise_tau", 0.0, INFINITY, &p->noise_tau));
  KV_CHECK(kv_config_get_int(cfg, "ebm.seed", 0, 9000000000000000L, &p->seed));
  /* Time: calendar years, not run.t_end / run.dt. */
  static const char *const heat_only[] = {"run.t_end", "run.dt"};
  for (int k = 0; k < 2; k++) {
    if (kv_config_has(cfg, heat_only[k])) {
      return kv_config_errorf(cfg, heat_only[k], "not used by the ebm model: set run.year_start, "
                              "run.year_end and run.steps_per_year");
    }
  }
  KV_CHECK(kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &p->year_start));
  if (!kv_config_has(cfg, "run.year_end")) {
    return kv_config_errorf(cfg, "run.year_end", "the ebm model needs the last year to simulate");
  }
  KV_CHECK(kv_config_get_int(cfg, "run.year_end", -1000000, 1000000, &p->year_end));
  if (p->year_end < p->year_start) {
    return kv_config_errorf(cfg, "run.year_end", "expected a year >= run.year_start = %ld",
                            p->year_start);
  }
  KV_CHECK(kv_config_get_int(cfg, "run.steps_per_year", 1, 100000, &p->spy));
  return KV_OK;
}

/* ---------------------------------------------------------------- setup */

/* The insolation of every step of the year, averaged over the days of the step. */
static void insolation_table(ebm *m) {
  const params *p = &m->p;
  for (long k = 0; k < p->spy; k++) {
    for (int j = 0; j < p->nlat; j++) {
      double v;
      if (!p->seasonal) {
        v = kv_insolation_annual(p->S0, p->s2, m->s.lat[j]);
      } else {
        int ns = (int)ceil(m->dt_days);
        double sum = 0.0;
        for (int q = 0; q < ns; q++) {
          double day = 1.0 + ((double)k + (q + 0.5) / ns) * m->dt_days;
          sum += kv_insolation_daily(p->S0, &p->orbit, m->s.lat[j], day);
        }
        v = sum / ns;
      }
      m->insol[k * p->nlat + j] = v;
    }
  }
}

/* Read a (lat, lon) dataset into the rows layout. Collective. */
static int read_rows(ebm *m, const kv_config_func *f, double *rows) {
  KV_CHECK(kv_h5_read_field(f->path, f->dataset, -1, m->f_aux));
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
                         double *rows) {
  int rc = read_rows(m, f, rows);
  if (rc != KV_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", kv_error_message());
    return kv_config_errorf(cfg, key, "%s", msg);
  }
  return KV_OK;
}

static void rows_to_field(const ebm *m, const double *rows, double scale, double shift,
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
  ok = ok && m->C_g && m->aer_g && m->insol && m->warm && m->rowbuf && m->zonal && m->lat_deg && m->lon_deg;
  return ok ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
}

/* Heat capacity and aerosol pattern from whole-grid arrays, in both layouts. */
static int setup_surface(ebm *m, const kv_config *cfg) {
  const params *p = &m->p;
  const int nlat = p->nlat, nlon = p->nlon;
  double *land = malloc((size_t)nlat * nlon * sizeof *land);
  double *aer = malloc((size_t)nlat * nlon * sizeof *aer);
  int rc = (land && aer) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  if (rc == KV_OK && strcmp(p->land.name, "idealized") == 0) {
    rc = kv_land_idealized(&m->s, land);
  } else if (rc == KV_OK) {
    memset(land, 0, (size_t)nlat * nlon * sizeof *land);
  }
  if (rc == KV_OK) rc = kv_aerosol_pattern(&m->s, aer);
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
    KV_CHECK(read_rows_key(m, cfg, "ebm.land_mask", &p->land, m->C_r));
    int bad = 0;
    for (size_t k = 0; k < (size_t)nlon * m->nj; k++) {
      bad |= !(m->C_r[k] >= 0.0 && m->C_r[k] <= 1.0);
    }
    int any;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
    if (any) {
      return KV_ERROR(KV_ERR_CONFIG, "ebm.land_mask: %s:%s has values outside [0, 1] (expected the "
                      "land fraction of each cell)", p->land.path, p->land.dataset);
    }
  }
  for (size_t k = 0; k < (size_t)nlon * m->nj; k++) {
    m->C_r[k] = m->C_r[k] * p->C_land + (1.0 - m->C_r[k]) * p->C_ocean;
  }
  const double *in[] = {m->C_r};
  double *out[] = {m->C_c};
  KV_CHECK(kv_transpose_to_cols(&m->tr, 1, in, out));
  /* Whole-grid copies (cell j * nlon + i) for the ROM hooks, which evaluate any cell anywhere. */
  double *part = malloc(2 * ((size_t)nlon * m->nj + 1) * sizeof *part);
  int *cnt = malloc((size_t)m->size * sizeof *cnt), *dsp = malloc((size_t)m->size * sizeof *dsp);
  rc = part && cnt && dsp ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
    rc = kv_status_agree(m->comm, rc);
  for (int q = 0; rc == KV_OK && q < 2; q++) {
    const double *src = q ? m->aer_r : m->C_r;
    double *dst = q ? m->aer_g : m->C_g;
    for (int jl = 0; jl < m->nj; jl++)
      for (int i = 0; i < nlon; i++) part[(size_t)jl * nlon + i] = src[(size_t)i * m->nj + jl];
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
  const params *p = &m->p;
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
    rc = kv_tridiag_factor(&m->lat_solve, nlat, m->ni, 0, a, b, c);
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
    rc = kv_tridiag_factor(&m->lon_solve, nlon, m->nj, 1, a, b, a);
  }
  free(a);
  free(b);
  free(c);
  return rc;
}

static void ebm_free(kv_model *base);

static int ebm_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  params p;
  KV_CHECK(kv_status_agree(comm, params_from_config(cfg, &p)));
  int size;
  MPI_Comm_size(comm, &size);
  if (p.nlat < size) {
    KV_CHECK(kv_status_agree(comm, kv_config_errorf(cfg, "ebm.nlat", "expected at least one "
                                                    "latitude row per rank (%d ranks)", size)));
  }
  ebm *m = calloc(1, sizeof *m);
  int rc = m ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory");
  KV_CHECK(kv_status_agree(comm, rc));
  m->base.type = &kv_ebm_type;
  m->p = p;
  /* Scenario (every rank reads the small table; errors agreed). */
  const char *spec = "none", *dir = KV_SCENARIO_DIR;
  rc = kv_config_get_string(cfg, "ebm.scenario", &spec);
  if (rc == KV_OK && kv_config_has(cfg, "ebm.scenario_dir")) {
    rc = kv_config_get_string(cfg, "ebm.scenario_dir", &dir);
  }
  if (rc == KV_OK && strcmp(spec, "none") != 0) {
    m->p.has_scenario = 1;
    rc = kv_scenario_load(spec, dir, &m->scen);
    if (rc != KV_OK) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", kv_error_message());
      rc = kv_config_errorf(cfg, "ebm.scenario", "%s", msg);
    } else if (m->scen.year0 > p.year_start || m->scen.year0 + m->scen.nyears - 1 < p.year_end) {
      rc = kv_config_errorf(cfg, "ebm.scenario", "the scenario covers the years %d-%d, but the run "
                            "needs %ld-%ld (run.year_start, run.year_end)", m->scen.year0,
                            m->scen.year0 + m->scen.nyears - 1, p.year_start, p.year_end);
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
  MPI_Comm_rank(m->comm, &m->rank);
  m->size = size;
  m->j0 = (int)kv_grid_offset(m->grid)[1];
  m->nj = (int)kv_grid_local_n(m->grid)[1];
  KV_TRY(kv_status_agree(m->comm, kv_sphere_init(&m->s, p.nlat, p.nlon)));
  KV_TRY(kv_transpose_create(m->comm, p.nlat, p.nlon, m->j0, m->nj, 3, &m->tr));
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
    m->warm[j] = p.albedo == ALB_CONSTANT ? p.a0 : p.a0 + p.a2 * kv_p2(sin(m->s.lat[j]));
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
    KV_TRY(kv_status_agree(m->comm, kv_noise_create(&m->noise, &m->s, m->j0, m->nj, m->i0, m->ni,
                                                    (uint64_t)p.seed, p.noise_std,
                                                    p.noise_corr_km * 1000.0 / EARTH_RADIUS,
                                                    tau_steps)));
  }
  if (strcmp(p.T_init.name, "file") == 0) {
    KV_TRY(read_rows_key(m, cfg, "ebm.T_init", &p.T_init, m->T));
    for (size_t k = 0; k < (size_t)p.nlon * m->nj; k++) {
      m->T[k] -= KELVIN;
    }
  } else {
    const double *a = p.T_init.args;
    int leg = strcmp(p.T_init.name, "legendre") == 0;
    for (int i = 0; i < p.nlon; i++) {
      for (int jl = 0; jl < m->nj; jl++) {
        double P2 = kv_p2(sin(m->s.lat[m->j0 + jl]));
        m->T[(size_t)i * m->nj + jl] = leg ? a[0] + a[1] * P2 : a[0];
      }
    }
  }
  m->axes[0] = (kv_h5_axis){"lon", "degrees_east", "longitude", "longitude of cell centres", "X",
                            m->lon_deg};
  m->axes[1] = (kv_h5_axis){"lat", "degrees_north", "latitude", "latitude of cell centres", "Y",
                            m->lat_deg};
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
static int step_forcing(const ebm *m, long k, double *c0, double *aer) {
  const params *p = &m->p;
  double F = p->forcing;
  *aer = 0.0;
  if (p->has_scenario) {
    double co2, idx;
    long year = p->year_start + k / p->spy;
    KV_CHECK(kv_scenario_at(&m->scen, (int)year, &co2, &idx)); /* years checked at creation */
    F += 5.35 * log(co2 / p->co2_ref);
    *aer = -p->aerosol_scale * idx;
  }
  *c0 = F - p->A;
  return KV_OK;
}

/* Albedo of a cell of ice-free albedo `warm` at T (deg C). */
static inline double albedo_at(const params *p, double warm, double T) {
  switch (p->albedo) {
  case ALB_STEP:
    return T < p->Tf ? p->ai : warm;
  case ALB_SMOOTH: {
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
static int explicit_sources(const ebm *m, long k, const double *T, double *src) {
  const params *p = &m->p;
  const int nlon = p->nlon, nj = m->nj;
  double c0, aer;
  KV_CHECK(step_forcing(m, k, &c0, &aer));
  const double *restrict Sj = m->insol + (k % p->spy) * p->nlat + m->j0, *restrict wj = m->warm + m->j0;
  for (int i = 0; i < nlon; i++) {
    const double *restrict Ti = T + (size_t)i * nj, *restrict ap = m->aer_r + (size_t)i * nj;
    double *restrict si = src + (size_t)i * nj;
    for (int jl = 0; jl < nj; jl++) {
      si[jl] = Sj[jl] * (1.0 - albedo_at(p, wj[jl], Ti[jl])) + c0 + aer * ap[jl];
    }
  }
  return KV_OK;
}

static int ebm_step(kv_model *base, double *t) {
  ebm *m = (ebm *)base;
  const params *p = &m->p;
  const int nlat = p->nlat, nlon = p->nlon, nj = m->nj, ni = m->ni;
  const long k = m->step; /* this step covers [t_k, t_k+1] */
  const long year = p->year_start + k / p->spy;
  const int noisy = p->noise_std > 0.0;
  if (noisy) {
    kv_noise_rows(&m->noise, k, m->w_r);
  }
  KV_CHECK(explicit_sources(m, k, m->T, m->src_r));
  const double *in[] = {m->T, m->src_r, m->w_r};
  double *cols[] = {m->T_c, m->src_c, m->w_c};
  KV_CHECK(kv_transpose_to_cols(&m->tr, noisy ? 3 : 2, in, cols));
  if (noisy) {
    kv_noise_cols(&m->noise, m->w_c, m->xi_c, !m->xi_started);
    m->xi_started = 1;
  }
  /* Latitude sweep: (C/dt + B - D L_lat) T* = C/dt T + src + xi. */
  const double rdt = 1.0 / m->dt;
  for (size_t e = 0; e < (size_t)nlat * ni; e++) {
    if (noisy) m->src_c[e] += m->xi_c[e];
    m->T_c[e] = m->C_c[e] * rdt * m->T_c[e] + m->src_c[e];
  }
  kv_tridiag_solve(&m->lat_solve, m->T_c);
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
  KV_CHECK(kv_transpose_to_rows(&m->tr, 1, cin, rout));
  /* Longitude sweep: (C/dt - D L_lon) T = C/dt T*. */
  if (nlon > 1) {
    for (size_t e = 0; e < (size_t)nlon * nj; e++) {
      m->T[e] = m->C_r[e] * rdt * m->Ts[e];
    }
    kv_tridiag_solve(&m->lon_solve, m->T);
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
    MPI_Allreduce(&m->bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
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
      if (isnan(prev)) return 0.0;
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
  const params *p = &m->p;
  const int nlat = p->nlat;
  if (m->acc_steps > 0) {
    /* The annual mean of the year that just ended. */
    double inv = 1.0 / (double)m->acc_steps;
    rows_to_field(m, m->tas_acc, inv, KELVIN, m->f_out);
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
    MPI_Allreduce(&m->toa_acc, &toa, 1, MPI_DOUBLE, MPI_SUM, m->comm);
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
    rows_to_field(m, m->T, 1.0, KELVIN, m->f_out);
  }
  out->has_time = 1;
  out->time = m->year_mid;
  KV_CHECK(kv_output_add_field(out, "tas", "K", "annual-mean surface temperature", m->f_out));
  KV_CHECK(kv_output_add_scalar(out, "tas_global", "K",
                                "annual- and area-weighted (cos lat) global-mean surface temperature",
                                m->tas_global));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/ice_edge_north", "degrees_north",
                                "ice-edge latitude of the annual zonal mean, northern hemisphere",
                                m->ice_n));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/ice_edge_south", "degrees_north",
                                "ice-edge latitude of the annual zonal mean, southern hemisphere",
                                m->ice_s));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/toa_imbalance", "W m-2",
                                "annual global-mean net downward flux (absorbed solar - OLR + "
                                "forcing + stochastic forcing)", m->toa));
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/heat_content", "J",
                                "global heat content sum(C T area) at the end of the year, T in "
                                "deg C", m->heat));
  return KV_OK;
}

/* Checkpoint: the instantaneous state, the AR(1) forcing and the year's accumulators. */
static int ebm_checkpoint(kv_model *base, kv_output_list *out) {
  ebm *m = (ebm *)base;
  /* In deg C as the model holds it: converting to K and back would not restart bit for bit. */
  rows_to_field(m, m->T, 1.0, 0.0, m->f_out);
  const double *cin[] = {m->xi_c};
  double *rout[] = {m->Ts};
  KV_CHECK(kv_transpose_to_rows(&m->tr, 1, cin, rout));
  rows_to_field(m, m->Ts, 1.0, 0.0, m->f_aux);
  rows_to_field(m, m->tas_acc, 1.0, 0.0, m->f_aux2);
  double toa;
  MPI_Allreduce(&m->toa_acc, &toa, 1, MPI_DOUBLE, MPI_SUM, m->comm);
  out->has_time = 1;
  out->time = m->t;
  KV_CHECK(kv_output_add_field(out, "T", "degC", "instantaneous surface temperature", m->f_out));
  KV_CHECK(kv_output_add_field(out, "xi", "W m-2", "stochastic forcing (AR(1) state)", m->f_aux));
  KV_CHECK(kv_output_add_field(out, "tas_sum", "degC",
                               "sum of the temperature over the steps of the current year",
                               m->f_aux2));
  KV_CHECK(kv_output_add_scalar(out, "acc_steps", "1", "steps of the current year so far",
                                (double)m->acc_steps));
  KV_CHECK(kv_output_add_scalar(out, "acc_toa", "W m-2", "sum of the global net flux over them",
                                toa));
  return kv_output_add_scalar(out, "xi_started", "1", "1 once the AR(1) forcing is running",
                              (double)m->xi_started);
}

static int read_scalar_last(const char *path, const char *name, double *v) {
  kv_h5_array a;
  KV_CHECK(kv_h5_read_array(path, name, &a));
  int rc = a.count > 0 ? KV_OK : KV_ERROR(KV_ERR_FORMAT, "'%s': /%s is empty", path, name);
  if (rc == KV_OK) *v = a.data[a.count - 1];
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
    if (rc == KV_OK) rc = kv_h5_read_root_text(path, "model", model, sizeof model);
    if (rc == KV_OK && strcmp(model, "ebm") != 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s' was written by model '%s', not ebm", path, model);
    }
    if (rc == KV_OK) rc = kv_h5_read_root_text(path, "title", title, sizeof title);
    if (rc == KV_OK && strcmp(title, "kelvin checkpoint") != 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s' is not a checkpoint; the ebm model restarts from "
                    "the <output>.checkpoint.h5 that run.checkpoint_every or an interrupt writes",
                    path);
    }
    static const char *const names[] = {"time", "acc_steps", "acc_toa", "xi_started"};
    for (int k = 0; k < 4 && rc == KV_OK; k++) rc = read_scalar_last(path, names[k], &v[k]);
  }
  KV_CHECK(kv_status_agree(m->comm, rc));
  MPI_Bcast(v, 5, MPI_DOUBLE, 0, m->comm);
  double s = (v[0] - m->t0_days) / m->dt_days;
  long step = lround(s);
  if (!(fabs(s - (double)step) <= 1e-6) || step < 0) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' is at day %.17g, not on this run's time grid "
                    "(run.year_start = %ld, run.steps_per_year = %ld)", path, v[0],
                    m->p.year_start, m->p.spy);
  }
  if (step >= m->nsteps) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' is at or after the end of run.year_end = %ld; "
                    "nothing to do", path, m->p.year_end);
  }
  long acc = lround(v[1]);
  if (acc != step % m->p.spy) {
    return KV_ERROR(KV_ERR_FORMAT, "restart: '%s' is inconsistent (%ld steps into the year at step "
                    "%ld)", path, acc, step);
  }
  kv_config_func f;
  memset(&f, 0, sizeof f);
  snprintf(f.path, sizeof f.path, "%s", path);
  snprintf(f.dataset, sizeof f.dataset, "T");
  KV_CHECK(read_rows(m, &f, m->T));
  snprintf(f.dataset, sizeof f.dataset, "tas_sum");
  KV_CHECK(read_rows(m, &f, m->tas_acc));
  snprintf(f.dataset, sizeof f.dataset, "xi");
  KV_CHECK(read_rows(m, &f, m->Ts));
  const double *rin[] = {m->Ts};
  double *cout[] = {m->xi_c};
  KV_CHECK(kv_transpose_to_cols(&m->tr, 1, rin, cout));
  m->acc_steps = acc;
  m->toa_acc = m->rank == 0 ? v[2] : 0.0;
  m->xi_started = v[3] != 0.0;
  m->step = step;
  m->t = m->t0_days + (double)step * m->dt_days;
  return KV_OK;
}

static int ebm_state(const kv_model *base, const kv_field **out) {
  ebm *m = (ebm *)base;
  rows_to_field(m, m->T, 1.0, KELVIN, m->f_out);
  *out = m->f_out;
  return KV_OK;
}

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
    return KV_ERROR(KV_ERR_UNSUPPORTED, "ebm: a reduced-order model of the ebm is deterministic: "
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

static int ebm_residual(kv_model *base, long step, const kv_field *u, kv_field *f) {
  ebm *m = (ebm *)base;
  KV_CHECK(no_noise(m));
  step = hook_step(m, step);
  field_to_rows(m, u, -KELVIN, m->Ts);
  KV_CHECK(explicit_sources(m, step, m->Ts, m->src_r));
  const double BK = m->p.B * KELVIN;
  for (size_t e = 0; e < (size_t)m->p.nlon * m->nj; e++) {
    m->src_r[e] = SECONDS_PER_DAY * (m->src_r[e] + BK) / m->C_r[e];
  }
  rows_to_field(m, m->src_r, 1.0, 0.0, f);
  return KV_OK;
}

/* The cell (i, j) = j nlon + i, then (i -+ 1, j), (i, j -+ 1), (i -+ 1, j - 1), (i -+ 1, j + 1):
 * periodic in longitude, -1 beyond a pole (and for longitude neighbours when nlon = 1). */
static int ebm_stencil(const kv_model *base, long cell, long *nbr) {
  const ebm *m = (const ebm *)base;
  const long nlon = m->p.nlon, nlat = m->p.nlat, i = cell % nlon, j = cell / nlon;
  static const int di[9] = {0, -1, 1, 0, 0, -1, 1, -1, 1}, dj[9] = {0, 0, 0, -1, 1, -1, -1, 1, 1};
  for (int s = 0; s < 9; s++) {
    long jj = j + dj[s], ii = (i + di[s] + nlon) % nlon;
    nbr[s] = jj < 0 || jj >= nlat || (nlon == 1 && di[s] != 0) ? -1 : jj * nlon + ii;
  }
  return 9;
}

static int ebm_residual_at(kv_model *base, long step, const long *cells, int n, const double *u,
                           double *f) {
  ebm *m = (ebm *)base;
  const params *p = &m->p;
  KV_CHECK(no_noise(m));
  step = hook_step(m, step);
  double c0, aer;
  KV_CHECK(step_forcing(m, step, &c0, &aer));
  const double *S = m->insol + (step % p->spy) * p->nlat;
  for (int q = 0; q < n; q++) {
    long c = cells[q], j = c / p->nlon;
    double T = u[(size_t)q * KV_STENCIL_MAX] - KELVIN;
    double src = S[j] * (1.0 - albedo_at(p, m->warm[j], T)) + c0 + aer * m->aer_g[c];
    f[q] = SECONDS_PER_DAY * (src + p->B * KELVIN) / m->C_g[c];
  }
  return KV_OK;
}

static int ebm_solve(kv_model *base, const kv_field *rhs, kv_field *out) {
  ebm *m = (ebm *)base;
  const int nlat = m->p.nlat, nlon = m->p.nlon;
  const double rdt = 1.0 / m->dt;
  field_to_rows(m, rhs, 0.0, m->Ts);
  const double *in[] = {m->Ts};
  double *cols[] = {m->T_c};
  KV_CHECK(kv_transpose_to_cols(&m->tr, 1, in, cols));
  for (size_t e = 0; e < (size_t)nlat * m->ni; e++) m->T_c[e] *= m->C_c[e] * rdt;
  kv_tridiag_solve(&m->lat_solve, m->T_c);
  const double *cin[] = {m->T_c};
  double *rout[] = {m->Ts};
  KV_CHECK(kv_transpose_to_rows(&m->tr, 1, cin, rout));
  if (nlon > 1) {
    for (size_t e = 0; e < (size_t)nlon * m->nj; e++) m->Ts[e] *= m->C_r[e] * rdt;
    kv_tridiag_solve(&m->lon_solve, m->Ts);
  }
  rows_to_field(m, m->Ts, 1.0, 0.0, out);
  return KV_OK;
}

static int ebm_implicit_at(kv_model *base, const long *cells, int n, const double *u, double *f) {
  ebm *m = (ebm *)base;
  const params *p = &m->p;
  const long nlon = p->nlon, nlat = p->nlat;
  for (int q = 0; q < n; q++) {
    const double *v = u + (size_t)q * KV_STENCIL_MAX;
    long c = cells[q], i = c % nlon, j = c / nlon;
    /* w = Glon^-1 u on the rows j - 1, j, j + 1 of column i (stencil entries: centre, west, east). */
    static const int row[3][3] = {{3, 5, 6}, {0, 1, 2}, {4, 7, 8}};
    double w[3] = {0.0, 0.0, 0.0};
    for (int r = 0; r < 3; r++) {
      long jj = j - 1 + r;
      if (jj < 0 || jj >= nlat) continue;
      const double *x = v;
      double ctr = x[row[r][0]];
      w[r] = ctr;
      if (nlon > 1) {
        double E = m->dt * p->D * m->s.ce[jj] / m->C_g[jj * nlon + i];
        w[r] -= E * (x[row[r][2]] - 2.0 * ctr + x[row[r][1]]);
      }
    }
    double lat = m->s.cn[j] * (j + 1 < nlat ? w[2] - w[1] : 0.0) -
                 m->s.cs[j] * (j > 0 ? w[1] - w[0] : 0.0);
    f[q] = w[1] + m->dt / m->C_g[c] * (p->B * w[1] - p->D * lat);
  }
  return KV_OK;
}

/* Also the record period's mean (the accumulators restart from u) and the year's net flux from
 * that state. */
static int ebm_set_state(kv_model *base, const kv_field *u, long step) {
  ebm *m = (ebm *)base;
  const params *p = &m->p;
  field_to_rows(m, u, -KELVIN, m->T);
  m->step = step;
  m->t = m->t0_days + (double)step * m->dt_days;
  size_t nr = (size_t)p->nlon * m->nj;
  memcpy(m->tas_acc, m->T, nr * sizeof *m->T);
  m->acc_steps = 1;
  KV_CHECK(explicit_sources(m, hook_step(m, step - 1), m->T, m->src_r));
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
  out->state_var = "tas";
  return KV_OK;
}

static void ebm_free(kv_model *base) {
  ebm *m = (ebm *)base;
  if (!m) return;
  kv_tridiag_free(&m->lat_solve);
  kv_tridiag_free(&m->lon_solve);
  kv_noise_free(&m->noise);
  kv_scenario_free(&m->scen);
  kv_transpose_free(&m->tr);
  kv_sphere_free(&m->s);
  double *arrays[] = {m->insol, m->warm, m->C_r, m->C_c, m->aer_r, m->T, m->Ts, m->src_r,
                      m->w_r, m->T_c, m->src_c, m->w_c, m->xi_c, m->tas_acc, m->rowbuf,
                      m->zonal, m->lat_deg, m->lon_deg, m->C_g, m->aer_g};
  for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) free(arrays[k]);
  kv_field_free(m->f_out);
  kv_field_free(m->f_aux);
  kv_field_free(m->f_aux2);
  kv_grid_free(m->grid);
  free(m);
}

const kv_model_type kv_ebm_type = {
    .name = "ebm",
    .seed_key = "ebm.seed",
    .scenario_key = "ebm.scenario",
    .keys = kv_ebm_keys,
    .create = ebm_create,
    .step = ebm_step,
    .state = ebm_state,
    .outputs = ebm_outputs,
    .info = ebm_info,
    .restart = ebm_restart,
    .checkpoint = ebm_checkpoint,
    .residual = ebm_residual,
    .stencil = ebm_stencil,
    .residual_at = ebm_residual_at,
    .set_state = ebm_set_state,
    .solve = ebm_solve,
    .implicit_at = ebm_implicit_at,
    .global_forcing = kv_ebm_global_forcing,
    .free = ebm_free,
};

int kv_ebm_global_forcing(const kv_config *cfg, const char *scenario, int year0, int n,
                          double *total, double *co2, double *aer) {
  const char *spec = scenario, *dir = KV_SCENARIO_DIR;
  double co2_ref = 284.3, scale = 0.9, extra = 0.0;
  if (!spec) KV_CHECK(kv_config_get_string(cfg, "ebm.scenario", &spec));
  if (kv_config_has(cfg, "ebm.scenario_dir")) {
    KV_CHECK(kv_config_get_string(cfg, "ebm.scenario_dir", &dir));
  }
  if (kv_config_has(cfg, "ebm.co2_ref")) {
    KV_CHECK(kv_config_get_double(cfg, "ebm.co2_ref", 0.0, INFINITY, &co2_ref));
  }
  if (kv_config_has(cfg, "ebm.aerosol_scale")) {
    KV_CHECK(kv_config_get_double(cfg, "ebm.aerosol_scale", -INFINITY, INFINITY, &scale));
  }
  if (kv_config_has(cfg, "ebm.forcing")) {
    KV_CHECK(kv_config_get_double(cfg, "ebm.forcing", -INFINITY, INFINITY, &extra));
  }
  kv_scenario sc = {0};
  int has = strcmp(spec, "none") != 0;
  if (has) KV_CHECK(kv_scenario_load(spec, dir, &sc));
  int rc = KV_OK;
  for (int k = 0; k < n && rc == KV_OK; k++) {
    double c = co2_ref, idx = 0.0;
    if (has) rc = kv_scenario_at(&sc, year0 + k, &c, &idx);
    double fc = 5.35 * log(c / co2_ref), fa = -scale * idx;
    total[k] = extra + fc + fa;
    if (co2) co2[k] = fc;
    if (aer) aer[k] = fa;
  }
  if (has) kv_scenario_free(&sc);
  return rc;
}
