/* kelvin — global sensitivity estimators on any function's samples: Sobol indices by the
 * pick-freeze (Saltelli) design with the Saltelli and Jansen estimators and bootstrap intervals,
 * and Morris elementary effects for screening. The designs live on the unit cube; whoever
 * evaluates them maps the points to the inputs' ranges. Pure numerics: no files, no models.
 *
 * Sobol design of base size N in d inputs: (d + 2) N rows, blocks A (N), B (N), then E_1 .. E_d
 * where E_i is A with column i taken from B. Estimators follow the finite-sample conventions of
 * OpenTURNS (so the two agree on the same samples): the outputs are centred by the mean over the
 * whole design, V is the unbiased variance of the A block, and
 *   Saltelli: V_i = sum(yE_i yB) / (N - 1) - mean(yA) mean(yB),
 *             VT_i = mean(yA)^2 + V - sum(yE_i yA) / (N - 1);
 *   Jansen:   V_i = V - sum((yE_i - yB)^2) / (2N - 1),   VT_i = sum((yE_i - yA)^2) / (2N - 1);
 * S_i = V_i / V and ST_i = VT_i / V (Saltelli et al. 2010, Jansen 1999).
 */
#ifndef KV_SENSITIVITY_H
#define KV_SENSITIVITY_H

enum { KV_SOBOL_SALTELLI = 0, KV_SOBOL_JANSEN = 1 };

/* The (d + 2) N x d design (row-major, in [0, 1)): A and B from independent uniform draws
 * (qmc = 0, seeded Mersenne twister) or from the two halves of a 2d-dimensional scrambled Sobol
 * sequence (qmc = 1, 2d <= KV_SOBOL_MAXDIM). Not collective. */
int kv_sobol_design(long N, int d, unsigned long seed, int qmc, double *U);

/* First-order and total indices of each of m outputs from the design's outputs Y ((d + 2) N x
 * m, row-major): S1 and ST, m x d each. rows (N entries, may be NULL for 0 .. N-1) picks the
 * base rows used, repeated rows allowed (the bootstrap). KV_ERR_NUMERIC when an output does not
 * vary over the A block (its indices are NaN, the others are computed). No allocation. */
int kv_sobol_indices(long N, int d, long m, const double *Y, int estimator, const long *rows,
                     double *S1, double *ST);

/* Bootstrap percentile intervals of level (0.95) for the indices of one output (Y: (d + 2) N):
 * nboot resamples of the N base rows with replacement (seeded). lo1/hi1, loT/hiT: d each. Not
 * collective. */
int kv_sobol_bootstrap(long N, int d, const double *Y, int estimator, int nboot, double level,
                       unsigned long seed, double *lo1, double *hi1, double *loT, double *hiT);

/* Morris design: r trajectories of d + 1 points on a p-level grid of the unit cube ({0, 1/(p-1),
 * .., 1}), each moving one input at a time by delta = p / (2 (p - 1)) in a random order and
 * direction (Morris 1991). U: r (d + 1) x d. p even, >= 2. Not collective. */
int kv_morris_design(long r, int d, int p, unsigned long seed, double *U);

/* Elementary effects of the design's outputs Y (r (d + 1)) per input, in units of the output
 * per unit of the input's range: mu (mean), mustar (mean of absolute values, Campolongo 2007)
 * and sigma (standard deviation, r - 1 in the denominator; 0 when r = 1). d each. No
 * allocation. */
int kv_morris_effects(long r, int d, const double *U, const double *Y, double *mu, double *mustar,
                      double *sigma);

#endif
