/* kelvin — a diffusive energy-balance model on the sphere (North 1975; climlab's EBM):
 *
 *   C dT/dt = S (1 - alpha(lat, T)) - (A + B T) + D div grad T + F_co2(t) + F_aer(lat, lon, t) + xi
 *
 * on a latitude-longitude grid (nlon = 1 is the zonal-mean model), T in deg C in the equation and
 * in K in the output. Finite volumes on the unit sphere (sphere.h). Each step is implicit in the
 * diffusion and in B T, split by direction: a latitude sweep with all sources, then a longitude
 * sweep, each a backward-Euler solve that conserves sum(C T area) exactly, so any step is stable and
 * the heat budget closes to round-off. (The heat capacity varies between land and ocean, so the
 * longitude Fourier modes do not decouple and an FFT solve in longitude would not be exact.)
 * Records are annual means.
 */
#ifndef KV_EBM_H
#define KV_EBM_H

#include "io/config.h"
#include "solvers/model.h"

/* The [ebm] keys. */
extern const kv_config_key kv_ebm_keys[];

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
