#include "solvers/ebm/noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define KV_PI 3.14159265358979323846

/* SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche. */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline uint64_t step_key(uint64_t seed, long step) {
  return mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)step * 0xd1b54a32d192ed03ULL));
}

/* Two independent standard normals for pair `pair` (Marsaglia's polar method: no trigonometry;
 * a rejected draw moves on to the next counter value, so the result is still a pure function of
 * (key, pair)). */
static inline void normal_pair(uint64_t key, uint64_t pair, double *z0, double *z1) {
  for (uint64_t a = 0;; a++) {
    uint64_t h = mix64(key ^ (pair * 0x9e3779b97f4a7c15ULL + a * 0xc2b2ae3d27d4eb4fULL));
    double u = (double)(int32_t)(uint32_t)(h >> 32) * (1.0 / 2147483648.0);
    double v = (double)(int32_t)(uint32_t)h * (1.0 / 2147483648.0);
    double q = u * u + v * v;
    if (q < 1.0 && q > 0.0) {
      double f = sqrt(-2.0 * log(q) / q);
      *z0 = u * f;
      *z1 = v * f;
      return;
    }
  }
}

/* The normal of cell i of row j: cells (2k, 2k+1) of a row share a pair. */
static inline double cell_normal(uint64_t key, int nlon, int j, int i, double *other) {
  double z0, z1;
  uint64_t pair = (uint64_t)j * (uint64_t)((nlon + 1) / 2) + (uint64_t)(i / 2);
  normal_pair(key, pair, &z0, &z1);
  if (other) {
    *other = z1;
  }
  return (i & 1) ? z1 : z0;
}

double kv_noise_normal(uint64_t seed, long step, int nlon, int j, int i) {
  return cell_normal(step_key(seed, step), nlon, j, i, NULL);
}

/* (1 - l^2 L_lat) for nb columns. */
static int factor_lat(kv_sphere_tridiag *t, const kv_sphere *s, double l2, long nb) {
  size_t sz = (size_t)s->nlat * (size_t)(nb ? nb : 1);
  double *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b), *c = malloc(sz * sizeof *c);
  int rc = (a && b && c) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory (noise)");
  if (rc == KV_OK) {
    for (int j = 0; j < s->nlat; j++) {
      for (long q = 0; q < nb; q++) {
        size_t e = (size_t)j * nb + q;
        a[e] = -l2 * s->cs[j];
        c[e] = -l2 * s->cn[j];
        b[e] = 1.0 + l2 * (s->cn[j] + s->cs[j]);
      }
    }
    rc = kv_sphere_tridiag_factor(t, s->nlat, nb, 0, a, b, c);
  }
  free(a);
  free(b);
  free(c);
  return rc;
}

/* (1 - l^2 L_lon) for rows [j0, j0 + nj), cyclic in longitude. */
static int factor_lon(kv_sphere_tridiag *t, const kv_sphere *s, double l2, int j0, int nj) {
  size_t sz = (size_t)s->nlon * (size_t)(nj ? nj : 1);
  double *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b);
  int rc = (a && b) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory (noise)");
  if (rc == KV_OK) {
    for (int i = 0; i < s->nlon; i++) {
      for (int jl = 0; jl < nj; jl++) {
        double e = l2 * s->ce[j0 + jl];
        a[(size_t)i * nj + jl] = -e;
        b[(size_t)i * nj + jl] = 1.0 + 2.0 * e;
      }
    }
    rc = kv_sphere_tridiag_factor(t, s->nlon, nj, 1, a, b, a);
  }
  free(a);
  free(b);
  return rc;
}

/* Standard deviation per latitude of the smoothed field, exactly: the filter is circulant in
 * longitude, so var_j = sum_j' G_lat[j, j']^2 wamp_j'^2 sum_i G_lon,j'[i, 0]^2 with G = F^2. */
static int exact_sd(kv_noise *n, double l2) {
  const kv_sphere *s = n->s;
  const int nlat = s->nlat, nlon = s->nlon;
  double *v = malloc((size_t)nlat * sizeof *v);
  double *g = malloc((size_t)nlat * (size_t)(nlon > nlat ? nlon : nlat) * sizeof *g);
  int rc = (v && g) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory (noise)");
  if (rc == KV_OK && nlon > 1) {
    kv_sphere_tridiag all;
    rc = factor_lon(&all, s, l2, 0, nlat);
    if (rc == KV_OK) {
      memset(g, 0, (size_t)nlat * (size_t)nlon * sizeof *g);
      for (int j = 0; j < nlat; j++) {
        g[j] = 1.0; /* e_0 in every row */
      }
      kv_sphere_tridiag_solve(&all, g);
      kv_sphere_tridiag_solve(&all, g);
      for (int j = 0; j < nlat; j++) {
        double sum = 0.0;
        for (int i = 0; i < nlon; i++) {
          sum += g[(size_t)i * nlat + j] * g[(size_t)i * nlat + j];
        }
        v[j] = n->wamp[j] * n->wamp[j] * sum;
      }
      kv_sphere_tridiag_free(&all);
    }
  } else if (rc == KV_OK) {
    for (int j = 0; j < nlat; j++) {
      v[j] = n->wamp[j] * n->wamp[j];
    }
  }
  if (rc == KV_OK) {
    kv_sphere_tridiag lat;
    rc = factor_lat(&lat, s, l2, nlat);
    if (rc == KV_OK) {
      memset(g, 0, (size_t)nlat * (size_t)nlat * sizeof *g);
      for (int j = 0; j < nlat; j++) {
        g[(size_t)j * nlat + j] = 1.0;
      }
      kv_sphere_tridiag_solve(&lat, g);
      kv_sphere_tridiag_solve(&lat, g);
      for (int j = 0; j < nlat; j++) {
        double sum = 0.0;
        for (int q = 0; q < nlat; q++) {
          sum += g[(size_t)j * nlat + q] * g[(size_t)j * nlat + q] * v[q];
        }
        n->inv_sd[j] = 1.0 / sqrt(sum);
      }
      kv_sphere_tridiag_free(&lat);
    }
  }
  free(v);
  free(g);
  return rc;
}

int kv_noise_create(kv_noise *n, const kv_sphere *s, int j0, int nj, int i0, int ni, uint64_t seed,
                    double std, double corr, double tau_steps) {
  memset(n, 0, sizeof *n);
  n->s = s;
  n->j0 = j0;
  n->nj = nj;
  n->i0 = i0;
  n->ni = ni;
  n->seed = seed;
  n->std = std;
  n->phi = tau_steps > 0.0 ? exp(-1.0 / tau_steps) : 0.0;
  n->innov = std * sqrt(1.0 - n->phi * n->phi);
  n->smooth = corr > 0.0;
  n->wamp = malloc((size_t)s->nlat * sizeof *n->wamp);
  n->inv_sd = malloc((size_t)s->nlat * sizeof *n->inv_sd);
  if (!n->wamp || !n->inv_sd) {
    kv_noise_free(n);
    return KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory (noise)");
  }
  double mean_w = 1.0 / ((double)s->nlat * s->nlon);
  for (int j = 0; j < s->nlat; j++) {
    n->wamp[j] = sqrt(mean_w / s->w[j]);
    n->inv_sd[j] = 1.0 / n->wamp[j];
  }
  if (!n->smooth) {
    return KV_OK;
  }
  double l2 = corr * corr;
  int rc = exact_sd(n, l2);
  if (rc == KV_OK && s->nlon > 1) {
    rc = factor_lon(&n->lon, s, l2, j0, nj);
  }
  if (rc == KV_OK) {
    rc = factor_lat(&n->lat, s, l2, ni);
  }
  if (rc != KV_OK) {
    kv_noise_free(n);
  }
  return rc;
}

void kv_noise_free(kv_noise *n) {
  if (!n) {
    return;
  }
  kv_sphere_tridiag_free(&n->lon);
  kv_sphere_tridiag_free(&n->lat);
  free(n->wamp);
  free(n->inv_sd);
  memset(n, 0, sizeof *n);
}

void kv_noise_rows(kv_noise *n, long step, double *w) {
  const int nlon = n->s->nlon, nj = n->nj;
  const uint64_t key = step_key(n->seed, step);
  for (int jl = 0; jl < nj; jl++) {
    const int j = n->j0 + jl;
    const double amp = n->wamp[j];
    for (int i = 0; i < nlon; i += 2) {
      double z1;
      w[(size_t)i * nj + jl] = amp * cell_normal(key, nlon, j, i, &z1);
      if (i + 1 < nlon) {
        w[(size_t)(i + 1) * nj + jl] = amp * z1;
      }
    }
  }
  if (n->smooth && nlon > 1) {
    kv_sphere_tridiag_solve(&n->lon, w);
    kv_sphere_tridiag_solve(&n->lon, w);
  }
}

void kv_noise_cols(kv_noise *n, double *w, double *xi, int first) {
  const int nlat = n->s->nlat, ni = n->ni;
  if (n->smooth) {
    kv_sphere_tridiag_solve(&n->lat, w);
    kv_sphere_tridiag_solve(&n->lat, w);
  }
  const double a = first ? 0.0 : n->phi, b = first ? n->std : n->innov;
  for (int j = 0; j < nlat; j++) {
    const double f = b * n->inv_sd[j];
    double *restrict x = xi + (size_t)j * ni;
    const double *restrict e = w + (size_t)j * ni;
    for (int il = 0; il < ni; il++) {
      x[il] = a * x[il] + f * e[il];
    }
  }
}
