/* kelvin — space-filling designs on the unit cube: Latin hypercube and (digitally shifted) Sobol
 * points. Points are rows of an n x d row-major array with entries in [0, 1); mapping to
 * parameter ranges (linear or logarithmic) is kv_sample_map().
 */
#ifndef KV_SAMPLING_H
#define KV_SAMPLING_H

/* Most dimensions kv_sample_sobol supports (GSL's Sobol generator). */
#define KV_SOBOL_MAXDIM 40

/* Latin hypercube: each of the d coordinates has exactly one point in each of the n strata
 * [k/n, (k+1)/n), placed uniformly at random inside it; strata are paired by independent random
 * permutations. The same seed gives the same points. x: n*d doubles. Not collective. */
int kv_sample_lhs(long n, int d, unsigned long seed, double *x);

/* The first n points of the d-dimensional Sobol sequence (Joe-Kuo/Bratley-Fox direction numbers
 * as in GSL), each coordinate XORed with a random 30-bit digital shift drawn from seed. A digital
 * shift keeps the (t,m,s)-net structure, so balance properties hold for every seed; different
 * seeds give different designs. d <= KV_SOBOL_MAXDIM. Not collective. */
int kv_sample_sobol(long n, int d, unsigned long seed, double *x);

/* Map u in [0, 1] to [lo, hi]: linearly, or uniformly in log(value) when is_log (lo, hi > 0). */
double kv_sample_map(double u, double lo, double hi, int is_log);

#endif
