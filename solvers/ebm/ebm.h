/* kelvin — a diffusive energy-balance model on the sphere (North 1975; climlab's EBM):
 *
 *   C dT/dt = S (1 - alpha(lat, T)) - (A + B T) + D div grad T + F_co2(t) + F_aer(lat, lon, t) + xi
 *
 * on a latitude-longitude grid (nlon = 1 is the zonal-mean model), T in deg C in the equation and
 * in K in the output. Finite volumes on the unit sphere (sphere.h). Each step is implicit in the
 * diffusion and in B T, split by direction: a latitude sweep with all sources, then a longitude
 * sweep, each a backward-Euler solve that conserves sum(C T area) exactly, so any step is stable
 * and the heat budget closes to round-off. (The heat capacity varies between land and ocean, so the
 * longitude Fourier modes do not decouple and an FFT solve in longitude would not be exact.)
 * Records are annual means.
 */
#ifndef KV_EBM_H
#define KV_EBM_H

#include "io/config.h"
#include "solvers/ebm/forcing.h"
#include "solvers/model.h"

/* The [ebm] keys. */
extern const kv_config_key kv_ebm_keys[];

/* Albedo laws (ebm.albedo). */
enum { KV_EBM_ALB_CONSTANT, KV_EBM_ALB_LEGENDRE, KV_EBM_ALB_STEP, KV_EBM_ALB_SMOOTH };

/* The model's parameters (plain, caller-owned), read once by kv_ebm_params_from_config. */
typedef struct {
  int nlat, nlon;
  double A, B, D;
  int seasonal;
  double S0, s2;
  kv_forcing_orbit orbit;
  int albedo;
  double a0, a2, ai, Tf, ice_width;
  double C_ocean, C_land;
  kv_config_func land, T_init;
  int has_scenario;
  double co2_ref, aerosol_scale, forcing;
  double noise_std, noise_corr_km, noise_tau;
  long seed;
  long year_start, year_end, spy;
  char scenario[1024];     /* ebm.scenario: a name, a CSV path, or "none"             */
  char scenario_dir[1024]; /* ebm.scenario_dir: where names are looked up              */
} kv_ebm_params;

/* Fill p from a validated configuration ([ebm] and the [run] calendar keys). Errors name the
 * file, line and key. Not collective. */
int kv_ebm_params_from_config(const kv_config *cfg, kv_ebm_params *p);

/* The model table entry (run.model = ebm). */
extern const kv_model_type kv_ebm_type;

/* The global-mean radiative forcing (W m-2) of years year0 .. year0 + n - 1 under scenario
 * (e.g. "ssp245"; NULL: ebm.scenario) with the configuration's co2_ref, aerosol_scale, forcing
 * and scenario_dir: F = forcing + 5.35 ln(CO2 / co2_ref) - aerosol_scale * aerosol index, split
 * into its CO2 part (co2, may be NULL) and aerosol part (aer, may be NULL). What emulators of the
 * model use as their input. Not collective. */
int kv_ebm_global_forcing(const kv_config *cfg, const char *scenario, int year0, int n,
                          double *total, double *co2, double *aer);

#endif
