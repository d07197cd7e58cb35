/* kelvin — internal variability of the energy-balance model: a stochastic forcing that is
 * spatially correlated, red in time, and the same whatever the number of ranks.
 *
 * Each step draws white noise from a counter-based generator keyed by (seed, step, global cell
 * index) — so no rank's stream depends on the decomposition — with variance inversely
 * proportional to the cell's area (a discretised white noise on the sphere). It is smoothed by
 * (1 - l^2 L)^-2 with L the unit-sphere Laplacian applied direction by direction (a Whittle-Matern
 * field with nu = 1, correlation about (r/l) K1(r/l): 0.60 at r = l), l = noise_corr_km / 6371 km,
 * and divided by its exact standard deviation (computed once per latitude), so that every cell has
 * standard deviation noise_std. In time it is AR(1): xi_n = phi xi_n-1 + sqrt(1 - phi^2) eta_n,
 * phi = exp(-dt / noise_tau), started from the stationary distribution.
 */
#ifndef KV_EBM_NOISE_H
#define KV_EBM_NOISE_H

#include <stdint.h>

#include "solvers/ebm/sphere.h"

typedef struct {
  const kv_sphere *s;
  int j0, nj, i0, ni; /* this rank's rows and columns                               */
  uint64_t seed;
  double std, phi, innov;     /* noise_std, AR(1) coefficient and innovation scale            */
  int smooth;                 /* 0 when the correlation length is 0 (white in space)          */
  kv_sphere_tridiag lon, lat; /* (1 - l^2 L_lon) on this rank's rows, (1 - l^2 L_lat) on columns */
  double *wamp;               /* white-noise amplitude per latitude, sqrt(mean area / area)    */
  double *inv_sd;             /* 1 / standard deviation of the smoothed field per latitude     */
} kv_noise;

/* Set up on rows [j0, j0 + nj) and columns [i0, i0 + ni). corr = correlation length on the unit
 * sphere (radians), tau_steps = AR(1) time scale in steps (0: white in time). Not collective. */
int kv_noise_create(kv_noise *n, const kv_sphere *s, int j0, int nj, int i0, int ni, uint64_t seed,
                    double std, double corr, double tau_steps);
void kv_noise_free(kv_noise *n);

/* First half of a step, in the rows layout [i][j - j0]: white noise of step `step`, smoothed in
 * longitude. */
void kv_noise_rows(kv_noise *n, long step, double *w);

/* Second half, in the columns layout [j][i - i0]: smooth w in latitude (in place), normalise, and
 * advance the AR(1) state xi (first = 1: draw it from the stationary distribution). */
void kv_noise_cols(kv_noise *n, double *w, double *xi, int first);

/* The unscaled standard normal of cell (j, i) at a step (what kv_noise_rows draws before the
 * area scaling and smoothing), for tests of the generator. Not collective. */
double kv_noise_normal(uint64_t seed, long step, int nlon, int j, int i);

#endif
