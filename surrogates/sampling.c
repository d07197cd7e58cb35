#include "surrogates/sampling.h"

#include <gsl/gsl_qrng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"

int kv_sample_lhs(long n, int d, unsigned long seed, double *x) {
  if (n < 1 || d < 1) {
    return KV_ERROR(KV_ERR_INVALID, "lhs: need n >= 1 points in d >= 1 dimensions (got %ld, %d)", n,
                    d);
  }
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  long *perm = malloc((size_t)n * sizeof *perm);
  if (!r || !perm) {
    gsl_rng_free(r);
    free(perm);
    return KV_ERROR(KV_ERR_NOMEM, "lhs: out of memory for %ld points", n);
  }
  gsl_rng_set(r, seed);
  for (int k = 0; k < d; k++) {
    for (long i = 0; i < n; i++) {
      perm[i] = i;
    }
    gsl_ran_shuffle(r, perm, (size_t)n, sizeof *perm);
    for (long i = 0; i < n; i++) {
      x[i * d + k] = ((double)perm[i] + gsl_rng_uniform(r)) / (double)n;
    }
  }
  free(perm);
  gsl_rng_free(r);
  return KV_OK;
}

int kv_sample_sobol(long n, int d, unsigned long seed, double *x) {
  if (n < 1 || d < 1 || d > KV_SOBOL_MAXDIM) {
    return KV_ERROR(KV_ERR_INVALID, "sobol: need n >= 1 points in 1 to %d dimensions (got %ld, %d)",
                    KV_SOBOL_MAXDIM, n, d);
  }
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)d);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!q || !r) {
    gsl_qrng_free(q);
    gsl_rng_free(r);
    return KV_ERROR(KV_ERR_NOMEM, "sobol: out of memory");
  }
  gsl_rng_set(r, seed);
  /* GSL's points are multiples of 2^-30: shift the integers, not the reals, so the XOR is exact. */
  const double scale = 1073741824.0; /* 2^30 */
  uint32_t shift[KV_SOBOL_MAXDIM];
  for (int k = 0; k < d; k++) {
    shift[k] = (uint32_t)gsl_rng_uniform_int(r, 1UL << 30);
  }
  double v[KV_SOBOL_MAXDIM];
  /* GSL starts at the second point of the sequence; the first is the origin, and without it the
   * first 2^m points would not form a net. */
  for (int k = 0; k < d; k++) {
    v[k] = 0.0;
  }
  for (long i = 0; i < n; i++) {
    if (i > 0 && gsl_qrng_get(q, v) != 0) {
      gsl_qrng_free(q);
      gsl_rng_free(r);
      return KV_ERROR(KV_ERR_INVALID, "sobol: the generator ran out of points at %ld", i);
    }
    for (int k = 0; k < d; k++) {
      uint32_t m = (uint32_t)llround(v[k] * scale);
      x[i * d + k] = (double)(m ^ shift[k]) / scale;
    }
  }
  gsl_qrng_free(q);
  gsl_rng_free(r);
  return KV_OK;
}

double kv_sample_map(double u, double lo, double hi, int is_log) {
  double v = is_log ? exp(log(lo) + u * (log(hi) - log(lo))) : lo + u * (hi - lo);
  /* Rounding must not step outside the range the user gave (a key's own bounds may be there). */
  return v < lo ? lo : v > hi ? hi : v;
}
