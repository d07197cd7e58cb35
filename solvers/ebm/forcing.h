/* kelvin — what drives the energy-balance model: insolation (annual-mean Legendre form or daily
 * means from the orbit, Berger 1978), scenario tables of CO2 and aerosols, the aerosol forcing
 * pattern and the idealised continents. Pure functions and serial readers; nothing here is
 * collective.
 */
#ifndef KV_EBM_FORCING_H
#define KV_EBM_FORCING_H

#include "solvers/ebm/sphere.h"

/* Second Legendre polynomial. */
static inline double kv_forcing_p2(double x) {
  return 0.5 * (3.0 * x * x - 1.0);
}

/* Annual-mean insolation S0/4 (1 + s2 P2(sin lat)), W m-2. */
double kv_forcing_insolation_annual(double S0, double s2, double lat);

/* Orbital parameters: eccentricity, obliquity (radians) and the longitude of perihelion measured
 * from the vernal equinox in the direction of the Sun's apparent motion plus 180 degrees
 * (radians; 281.37 degrees today), the convention of Berger (1978) tables and climlab. */
typedef struct {
  double ecc, obliquity, long_peri;
} kv_forcing_orbit;

/* Daily-mean insolation (W m-2) at latitude lat (radians) on calendar day `day` of a 365-day
 * year (day 1.0 = 1 January 00:00; the vernal equinox is on day 80), Berger (1978): the solar
 * longitude from the mean longitude by his series in e, the declination, the hour angle of
 * sunset and the Earth-Sun distance from the true anomaly. */
double kv_forcing_insolation_daily(double S0, const kv_forcing_orbit *orb, double lat, double day);

/* A forcing scenario: one CO2 concentration (ppm) and aerosol index per calendar year. */
typedef struct {
  int year0, nyears;
  double *co2, *aerosol;
  char name[8300]; /* what it was loaded from, for messages */
} kv_forcing_scenario;

/* Load scenario `spec`: a name looked up as <dir>/<spec>.csv, or a path to a CSV file (a spec with
 * a '/' or ending in .csv), each with the header "year,co2_ppm,aerosol_index" and one row per
 * consecutive year ('#' starts a comment). Unless spec is "historical" itself, the series starts
 * from <dir>/historical.csv and the scenario's rows continue (or replace) it. Errors name the file
 * and line. Not collective. Free with kv_forcing_scenario_free. */
int kv_forcing_scenario_load(const char *spec, const char *dir, kv_forcing_scenario *out);
void kv_forcing_scenario_free(kv_forcing_scenario *s);

/* CO2 and aerosol index of calendar year y; KV_ERR_CONFIG when y is outside the table. */
int kv_forcing_scenario_at(const kv_forcing_scenario *s, int year, double *co2, double *aerosol);

/* The aerosol forcing pattern on the whole grid, [j * nlon + i], >= 0, with area-weighted global
 * mean 1: Gaussian patches over eastern North America, Europe, East Asia and South Asia (centres
 * and widths in the README), averaged over each cell. */
int kv_forcing_aerosol_pattern(const kv_sphere *s, double *out);

/* Land fraction of every cell of the whole grid, [j * nlon + i], in [0, 1], of the built-in
 * idealised continents (latitude-longitude boxes listed in the README). */
int kv_forcing_land_idealized(const kv_sphere *s, double *out);

#endif
