/* The energy-balance model's configuration: its keys, kv_ebm_params_from_config and the
 * global forcing of a scenario (what emulators use as input). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/datadir.h"
#include "solvers/ebm/ebm_impl.h"

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
    {"ebm.Tf", KV_CFG_DOUBLE, "-10", NULL, KV_CFG_NORANGE,
     "freezing temperature of the ice albedo (deg C)"},
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
     "where named scenarios are looked up (default: $KELVIN_DATA_DIR/configs/scenarios, else "
     "PREFIX/share/kelvin/configs/scenarios beside the installed kelvin, else the source tree's)"},
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

/* ---------------------------------------------------------------- parameters */

int kv_ebm_params_from_config(const kv_config *cfg, kv_ebm_params *p) {
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
  if (p->albedo == KV_EBM_ALB_SMOOTH && !(p->ice_width > 0.0)) {
    return kv_config_errorf(cfg, "ebm.ice_width",
                            "expected a positive width for the smooth albedo");
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
      return kv_config_errorf(cfg, heat_only[k],
                              "not used by the ebm model: set run.year_start, "
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
  char defdir[4200];
  const char *spec = "none", *dir = kv_datadir_scenarios(defdir, sizeof defdir);
  KV_CHECK(kv_config_get_string(cfg, "ebm.scenario", &spec));
  if (kv_config_has(cfg, "ebm.scenario_dir")) {
    KV_CHECK(kv_config_get_string(cfg, "ebm.scenario_dir", &dir));
  }
  snprintf(p->scenario, sizeof p->scenario, "%s", spec);
  snprintf(p->scenario_dir, sizeof p->scenario_dir, "%s", dir);
  p->has_scenario = strcmp(spec, "none") != 0;
  KV_CHECK(kv_config_get_int(cfg, "run.steps_per_year", 1, 100000, &p->spy));
  return KV_OK;
}

int kv_ebm_global_forcing(const kv_config *cfg, const char *scenario, int year0, int n,
                          double *total, double *co2, double *aer) {
  char defdir[4200];
  const char *spec = scenario, *dir = kv_datadir_scenarios(defdir, sizeof defdir);
  double co2_ref = 284.3, scale = 0.9, extra = 0.0;
  if (!spec) {
    KV_CHECK(kv_config_get_string(cfg, "ebm.scenario", &spec));
  }
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
  kv_forcing_scenario sc = {0};
  int has = strcmp(spec, "none") != 0;
  if (has) {
    KV_CHECK(kv_forcing_scenario_load(spec, dir, &sc));
  }
  int rc = KV_OK;
  for (int k = 0; k < n && rc == KV_OK; k++) {
    double c = co2_ref, idx = 0.0;
    if (has) {
      rc = kv_forcing_scenario_at(&sc, year0 + k, &c, &idx);
    }
    double fc = 5.35 * log(c / co2_ref), fa = -scale * idx;
    total[k] = extra + fc + fa;
    if (co2) {
      co2[k] = fc;
    }
    if (aer) {
      aer[k] = fa;
    }
  }
  if (has) {
    kv_forcing_scenario_free(&sc);
  }
  return rc;
}
