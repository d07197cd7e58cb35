/* kelvin — the energy-balance model's private state and what its files share (solvers/ebm/
 * only). */
#ifndef KV_EBM_IMPL_H
#define KV_EBM_IMPL_H

#include "core/field.h"
#include "core/grid.h"
#include "io/h5.h"
#include "solvers/ebm/ebm.h"
#include "solvers/ebm/forcing.h"
#include "solvers/ebm/noise.h"
#include "solvers/ebm/sphere.h"

#define KV_PI 3.14159265358979323846
#define DEG (KV_PI / 180.0)
#define EARTH_RADIUS 6.371e6 /* m                                          */
#define DAYS_PER_YEAR 365.0  /* the model calendar is "noleap"             */
#define SECONDS_PER_DAY 86400.0
#define RHO_CP_WATER (1025.0 * 3985.0) /* J m-3 K-1: sea water, for the mixed layer  */
#define KELVIN 273.15

typedef struct {
  kv_model base;
  kv_ebm_params p;
  MPI_Comm comm;
  int rank, size;
  kv_grid *grid; /* (lon, lat) decomposed in latitude: the rows layout           */
  kv_sphere s;
  int j0, nj, i0, ni;
  kv_sphere_transpose tr;
  kv_sphere_tridiag lat_solve; /* (C/dt + B) - D L_lat on this rank's columns                  */
  kv_sphere_tridiag lon_solve; /* C/dt - D L_lon on this rank's rows (nlon > 1)                */
  kv_noise noise;
  kv_forcing_scenario scen;
  double *insol;       /* [step of the year][j]                                        */
  double *warm;        /* ice-free albedo per latitude                                 */
  double *C_r, *C_c;   /* heat capacity, rows and columns layouts                      */
  double *aer_r;       /* aerosol pattern, rows layout                                 */
  double *T, *Ts;      /* state and scratch, rows layout (deg C)                      */
  double *src_r, *w_r; /* rows: explicit sources, noise                                */
  double *T_c, *src_c, *w_c, *xi_c; /* columns                                           */
  double *tas_acc;        /* rows: sum of T over the steps of the current year           */
  double *C_g, *aer_g;    /* heat capacity and aerosol pattern of every cell (ROM hooks)  */
  double *rowbuf, *zonal; /* nlat: per-row sums                                            */
  double toa_acc;         /* sum over the year's steps of this rank's part of the global net flux */
  int bad;                /* a non-finite value was seen on this rank                      */
  long acc_steps;
  double dt;               /* seconds                                                      */
  double dt_days, t0_days; /* time axis: days since 1850-01-01                             */
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

/* ebm.c, for the ROM hooks (ebm_rom.c): rows layout (this rank's latitude rows, longitude
 * fastest... as stored) to a field and back, the forcing and explicit sources of step k, the
 * albedo. */
void kv_ebm_rows_to_field(const ebm *m, const double *rows, double scale, double shift,
                          kv_field *f);
int kv_ebm_step_forcing(const ebm *m, long k, double *c0, double *aer);
int kv_ebm_explicit_sources(const ebm *m, long k, const double *T, double *src);
double kv_ebm_albedo_at(const kv_ebm_params *p, double warm, double T);

/* ebm_rom.c: the hooks of kv_model_type for reduced-order models. */
int kv_ebm_residual(kv_model *base, long step, const kv_field *u, kv_field *f);
int kv_ebm_stencil(const kv_model *base, long cell, long *nbr);
int kv_ebm_residual_at(kv_model *base, long step, const long *cells, int n, const double *u,
                       double *f);
int kv_ebm_solve(kv_model *base, const kv_field *rhs, kv_field *out);
int kv_ebm_implicit_at(kv_model *base, const long *cells, int n, const double *u, double *f);
int kv_ebm_set_state(kv_model *base, const kv_field *u, long step);

#endif
