/* Kind "moe": a mixture of experts, as SMT's MOE. The training points are clustered by a
 * Gaussian mixture fitted by EM on the joint (x, y) (inputs scaled to the unit box, the output
 * standardised; k-means++ start, seeded), each cluster gets the expert kind (surrogate.experts)
 * with the smallest closed-form leave-one-out error on its points, and a prediction recombines
 * the experts with the clusters' posterior probabilities given x alone (the mixture's
 * x-marginals: smooth gating) or takes the most probable one (hard). The number of clusters
 * (surrogate.clusters = 0: 1 .. max_clusters) is the one whose mixture predicts the training
 * points best left out (each point by its own expert's leave-one-out value, the gating held
 * fixed). Mean and variance: sum_k w_k m_k and sum_k w_k (v_k + m_k^2) - mean^2.
 *
 * Model file: "/moe" (attributes clusters, gating; datasets weights (K), means (K x d),
 * covariances (K x d x d) of the x-marginals, offset and scale of the inputs, y) and each expert
 * as a part "/expert_K" (kv_surrogate_save_part). */
#include <gsl/gsl_rng.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_moe;

enum { MOE_MAX_EXPERTS = 8, MOE_MAX_K = 16, MOE_MAX_D = 32, MOE_EM_ITERS = 200 };
/* Added to the mixture's covariance diagonals (unit-box units), as scikit-learn's reg_covar. */
#define MOE_REG_COVAR 1e-6

typedef struct {
  int clusters, min_clusters, max_clusters, hard;
  unsigned long seed;
  int ne;
  const kv_surrogate_type *et[MOE_MAX_EXPERTS];
  void *ep[MOE_MAX_EXPERTS];
  int borrowed; /* ep belong to another params (warm refits)                         */
} moe_params;

typedef struct {
  kv_surrogate base;
  int K, d, hard;
  double w[MOE_MAX_K];
  double *mu, *cov, *chol; /* K x d, K x d x d, K x d x d (lower Cholesky of cov)       */
  double *off, *scale;     /* d                                                          */
  kv_surrogate *expert[MOE_MAX_K];
  long n;
  double *y;
  double *loo;    /* n: the mixture's leave-one-out predictions (NULL after a load)       */
  double loo_mse; /* their mean squared error                                          */
} moe_model;

static const kv_config_key moe_keys[] = {
    {"surrogate.clusters", KV_CFG_INT, "0", NULL, 0, MOE_MAX_K,
     "number of experts (0: chosen by leave-one-out from 1 to max_clusters)"},
    {"surrogate.min_clusters", KV_CFG_INT, "1", NULL, 1, MOE_MAX_K,
     "the fewest clusters tried when clusters = 0 (auto's candidate: 2, one expert being the "
     "other candidates)"},
    {"surrogate.max_clusters", KV_CFG_INT, "3", NULL, 1, MOE_MAX_K,
     "the most clusters tried when clusters = 0"},
    {"surrogate.experts", KV_CFG_STRING, "poly, rbf, gp", NULL, KV_CFG_NORANGE,
     "the kinds each cluster's expert is chosen from (by leave-one-out)"},
    {"surrogate.gating", KV_CFG_ENUM, "smooth", "smooth|hard", KV_CFG_NORANGE,
     "recombine the experts by the clusters' probabilities (smooth) or take the likeliest"},
    {"surrogate.cluster_seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0,
     "seed of the k-means++ start of the mixture"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static void params_free(void *v) {
  moe_params *p = v;
  for (int i = 0; p && !p->borrowed && i < p->ne; i++) {
    kv_surrogate_params_free(p->et[i], p->ep[i]);
  }
  free(p);
}

/* The expert kinds of a comma-separated list (every scalar kind that predicts, not mixtures). */
static int expert_kinds(const char *list, moe_params *p, char *bad, size_t nbad) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  p->ne = 0;
  /* Separated by commas or spaces, or '+' (inside an auto candidate: moe(experts=poly+rbf)). */
  for (char *tok = strtok_r(buf, ", +", &save); tok; tok = strtok_r(NULL, ", +", &save)) {
    const kv_surrogate_type *t = kv_surrogate_type_find(tok);
    if (!t || !(t->data & KV_DATA_SCALAR) || !t->predict || t->selects ||
        p->ne == MOE_MAX_EXPERTS) {
      snprintf(bad, nbad, "%s", tok);
      return KV_ERR_CONFIG;
    }
    p->et[p->ne++] = t;
  }
  return p->ne ? KV_OK : KV_ERR_CONFIG;
}

static int params_create(const kv_config *cfg, void **params) {
  moe_params *p = calloc(1, sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  long k = 0, kmin = 1, kmax = 3, seed = 1;
  int hard = 0;
  const char *list = NULL;
  int rc = kv_config_get_int(cfg, "surrogate.clusters", 0, MOE_MAX_K, &k);
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.max_clusters", 1, MOE_MAX_K, &kmax);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.min_clusters", 1, MOE_MAX_K, &kmin);
  }
  if (rc == KV_OK && kmin > kmax) {
    rc = kv_config_errorf(cfg, "surrogate.min_clusters", "expected at most max_clusters (%ld)",
                          kmax);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_enum(cfg, "surrogate.gating", "smooth|hard", &hard);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.cluster_seed", 0, 4294967295L, &seed);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_string(cfg, "surrogate.experts", &list);
  }
  char bad[64] = "";
  if (rc == KV_OK && expert_kinds(list, p, bad, sizeof bad) != KV_OK) {
    rc = kv_config_errorf(cfg, "surrogate.experts",
                          "'%s' is not a kind an expert can be (scalar kinds that predict: "
                          "poly, rbf, spline, gp)",
                          bad);
  }
  for (int i = 0; rc == KV_OK && i < p->ne; i++) {
    rc = kv_surrogate_params_create(p->et[i], cfg, &p->ep[i]);
  }
  p->clusters = (int)k;
  p->max_clusters = (int)kmax;
  p->min_clusters = (int)kmin;
  p->hard = hard;
  p->seed = (unsigned long)seed;
  if (rc != KV_OK) {
    params_free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void moe_free(kv_surrogate *s) {
  moe_model *m = (moe_model *)s;
  for (int k = 0; k < m->K; k++) {
    kv_surrogate_free(m->expert[k]);
  }
  free(m->mu);
  free(m->cov);
  free(m->chol);
  free(m->off);
  free(m->scale);
  free(m->y);
  free(m->loo);
  kv_surrogate_header_free(s);
  free(m);
}

/* log N(z; mu, L L^T) in D dimensions, L lower (column-major D x D). */
static double log_normal(const double *z, const double *mu, const double *L, int D) {
  double r[MOE_MAX_D + 1], q = 0.0, ld = 0.0;
  for (int i = 0; i < D; i++) {
    double v = z[i] - mu[i];
    for (int j = 0; j < i; j++) {
      v -= L[i + j * D] * r[j];
    }
    r[i] = v / L[i + i * D];
    q += r[i] * r[i];
    ld += log(L[i + i * D]);
  }
  return -0.5 * q - ld - 0.5 * D * 1.8378770664093454836; /* log 2 pi */
}

/* Cholesky of each of K covariances (D x D): 0 or the failing one + 1. */
static int factor_all(int K, int D, const double *cov, double *chol) {
  for (int k = 0; k < K; k++) {
    double *L = chol + (size_t)k * D * D;
    memcpy(L, cov + (size_t)k * D * D, (size_t)D * D * sizeof *L);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', D, L, D) != 0) {
      return k + 1;
    }
  }
  return 0;
}

/* A Gaussian mixture of K components on the n x D points Z by EM from a k-means++ start: weights
 * w, means mu (K x D), covariances cov (K x D x D); lab gets each point's likeliest component. */
static int gmm_fit(long n, int D, const double *Z, int K, unsigned long seed, double *w, double *mu,
                   double *cov, int *lab) {
  double *R = malloc((size_t)n * (size_t)K * sizeof *R);
  double *L = malloc((size_t)K * D * D * sizeof *L);
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  if (!R || !L || !rng) {
    free(R);
    free(L);
    gsl_rng_free(rng);
    return KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
  }
  gsl_rng_set(rng, seed);
  /* k-means++ centres, then a few Lloyd steps. */
  double *d2 = R; /* n values, reused */
  long first = (long)gsl_rng_uniform_int(rng, (unsigned long)n);
  memcpy(mu, Z + first * D, (size_t)D * sizeof *mu);
  for (int k = 1; k < K; k++) {
    double tot = 0.0;
    for (long i = 0; i < n; i++) {
      double best = INFINITY;
      for (int j = 0; j < k; j++) {
        double s = 0.0;
        for (int c = 0; c < D; c++) {
          s += (Z[i * D + c] - mu[j * D + c]) * (Z[i * D + c] - mu[j * D + c]);
        }
        best = fmin(best, s);
      }
      d2[i] = best;
      tot += best;
    }
    double u = gsl_rng_uniform(rng) * tot, acc = 0.0;
    long pick = n - 1;
    for (long i = 0; i < n; i++) {
      acc += d2[i];
      if (acc >= u) {
        pick = i;
        break;
      }
    }
    memcpy(mu + k * D, Z + pick * D, (size_t)D * sizeof *mu);
  }
  for (int it = 0; it < 20; it++) {
    for (long i = 0; i < n; i++) {
      double best = INFINITY;
      for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (int c = 0; c < D; c++) {
          s += (Z[i * D + c] - mu[k * D + c]) * (Z[i * D + c] - mu[k * D + c]);
        }
        if (s < best) {
          best = s;
          lab[i] = k;
        }
      }
    }
    for (int k = 0; k < K; k++) {
      long cnt = 0;
      double acc[MOE_MAX_D + 1] = {0};
      for (long i = 0; i < n; i++) {
        if (lab[i] == k) {
          cnt++;
          for (int c = 0; c < D; c++) {
            acc[c] += Z[i * D + c];
          }
        }
      }
      for (int c = 0; cnt && c < D; c++) {
        mu[k * D + c] = acc[c] / (double)cnt;
      }
    }
  }
  /* Responsibilities from the k-means labels, then EM. */
  for (long i = 0; i < n; i++) {
    for (int k = 0; k < K; k++) {
      R[i * K + k] = lab[i] == k;
    }
  }
  double prev = -INFINITY;
  int rc = KV_OK;
  for (int it = 0; it < MOE_EM_ITERS; it++) {
    /* M step. */
    for (int k = 0; k < K; k++) {
      double nk = 1e-12;
      for (long i = 0; i < n; i++) {
        nk += R[i * K + k];
      }
      w[k] = nk / (double)n;
      for (int c = 0; c < D; c++) {
        double s = 0.0;
        for (long i = 0; i < n; i++) {
          s += R[i * K + k] * Z[i * D + c];
        }
        mu[k * D + c] = s / nk;
      }
      double *C = cov + (size_t)k * D * D;
      for (int a = 0; a < D; a++) {
        for (int b = 0; b <= a; b++) {
          double s = 0.0;
          for (long i = 0; i < n; i++) {
            s += R[i * K + k] * (Z[i * D + a] - mu[k * D + a]) * (Z[i * D + b] - mu[k * D + b]);
          }
          C[a + b * D] = C[b + a * D] = s / nk + (a == b ? MOE_REG_COVAR : 0.0);
        }
      }
    }
    if (factor_all(K, D, cov, L)) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "moe: a cluster's covariance is singular");
      break;
    }
    /* E step and the log-likelihood. */
    double ll = 0.0;
    for (long i = 0; i < n; i++) {
      double lp[MOE_MAX_K], mx = -INFINITY, s = 0.0;
      for (int k = 0; k < K; k++) {
        lp[k] = log(w[k]) + log_normal(Z + i * D, mu + k * D, L + (size_t)k * D * D, D);
        mx = fmax(mx, lp[k]);
      }
      for (int k = 0; k < K; k++) {
        s += exp(lp[k] - mx);
      }
      for (int k = 0; k < K; k++) {
        R[i * K + k] = exp(lp[k] - mx) / s;
      }
      ll += mx + log(s);
    }
    if (ll - prev < 1e-8 * fabs(ll) + 1e-12) {
      break;
    }
    prev = ll;
  }
  for (long i = 0; rc == KV_OK && i < n; i++) {
    int best = 0;
    for (int k = 1; k < K; k++) {
      best = R[i * K + k] > R[i * K + best] ? k : best;
    }
    lab[i] = best;
  }
  free(R);
  free(L);
  gsl_rng_free(rng);
  return rc;
}

/* Gating weights of the model at m scaled points U (m x d) into G (m x K). */
static void gating(const moe_model *m, long np, const double *U, double *G) {
  int d = m->d, K = m->K;
  for (long i = 0; i < np; i++) {
    double lp[MOE_MAX_K], mx = -INFINITY, s = 0.0;
    for (int k = 0; k < K; k++) {
      lp[k] = log(m->w[k]) + log_normal(U + i * d, m->mu + k * d, m->chol + (size_t)k * d * d, d);
      mx = fmax(mx, lp[k]);
    }
    int best = 0;
    for (int k = 0; k < K; k++) {
      s += exp(lp[k] - mx);
      best = lp[k] > lp[best] ? k : best;
    }
    for (int k = 0; k < K; k++) {
      G[i * K + k] = m->hard ? (k == best) : exp(lp[k] - mx) / s;
    }
  }
}

/* The expert of one cluster: the kind with the smallest leave-one-out error on its rows. */
static int fit_expert(const kv_dataset *ds, const long *rows, long nr, const moe_params *p,
                      kv_surrogate **out, double *loo) {
  kv_dataset sub;
  KV_CHECK(kv_dataset_subset(ds, rows, nr, &sub));
  double *l = malloc(((size_t)nr + 1) * sizeof *l), best = INFINITY;
  int rc = l ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
  *out = NULL;
  for (int e = 0; rc == KV_OK && e < p->ne; e++) {
    kv_surrogate *s = NULL;
    int frc = kv_surrogate_fit(p->et[e], &sub, p->ep[e], NULL, &s);
    if (frc == KV_OK && p->et[e]->loo) {
      frc = p->et[e]->loo(s, l, NULL);
    }
    if (frc != KV_OK) {
      kv_error_clear();
      kv_surrogate_free(s);
      continue;
    }
    double mse = 0.0;
    for (long i = 0; i < nr; i++) {
      mse += (l[i] - sub.y[i]) * (l[i] - sub.y[i]) / (double)nr;
    }
    if (mse < best) {
      best = mse;
      kv_surrogate_free(*out);
      *out = s;
      memcpy(loo, l, (size_t)nr * sizeof *l);
    } else {
      kv_surrogate_free(s);
    }
  }
  if (rc == KV_OK && !*out) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "moe: no expert kind could be fitted to a cluster of %ld points",
                  nr);
  }
  free(l);
  kv_dataset_free(&sub);
  return rc;
}

/* A mixture of K clusters; *score gets its leave-one-out mean squared error. */
static int fit_k(const kv_dataset *ds, const moe_params *p, int K, const double *U, moe_model *m,
                 double *score) {
  long n = ds->n;
  int d = ds->d, D = d + 1;
  double ym = 0.0, ys = 0.0;
  for (long i = 0; i < n; i++) {
    ym += ds->y[i] / (double)n;
  }
  for (long i = 0; i < n; i++) {
    ys += (ds->y[i] - ym) * (ds->y[i] - ym) / (double)n;
  }
  ys = ys > 0.0 ? sqrt(ys) : 1.0;
  double *Z = malloc((size_t)n * D * sizeof *Z), *cov = malloc((size_t)K * D * D * sizeof *cov);
  double *muz = malloc((size_t)K * D * sizeof *muz), *loo = malloc((size_t)n * sizeof *loo);
  double *G = malloc((size_t)n * K * sizeof *G), *pred = malloc(2 * (size_t)n * sizeof *pred);
  long *rows = malloc((size_t)n * sizeof *rows);
  int *lab = malloc((size_t)n * sizeof *lab);
  m->mu = malloc((size_t)K * d * sizeof *m->mu);
  m->cov = malloc((size_t)K * d * d * sizeof *m->cov);
  m->chol = malloc((size_t)K * d * d * sizeof *m->chol);
  int rc = Z && cov && muz && loo && G && pred && rows && lab && m->mu && m->cov && m->chol
               ? KV_OK
               : KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
  if (rc != KV_OK) {
    goto cleanup;
  }
  m->K = K;
  for (long i = 0; i < n; i++) {
    memcpy(Z + i * D, U + i * d, (size_t)d * sizeof *Z);
    Z[i * D + d] = (ds->y[i] - ym) / ys;
  }
  if (K == 1) {
    m->w[0] = 1.0;
    for (long i = 0; i < n; i++) {
      lab[i] = 0;
    }
  } else {
    rc = gmm_fit(n, D, Z, K, p->seed, m->w, muz, cov, lab);
  }
  /* The x-marginals: the leading d x d block of each covariance. */
  for (int k = 0; rc == KV_OK && k < K; k++) {
    for (int a = 0; a < d; a++) {
      m->mu[k * d + a] = K == 1 ? 0.5 : muz[k * D + a];
      for (int b = 0; b < d; b++) {
        m->cov[(size_t)k * d * d + a + b * d] =
            K == 1 ? (a == b) : cov[(size_t)k * D * D + a + b * D];
      }
    }
  }
  if (rc == KV_OK && factor_all(K, d, m->cov, m->chol)) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "moe: a cluster's input covariance is singular");
  }
  long nmin = 2 * (d + 2) > 8 ? 2 * (d + 2) : 8;
  for (int k = 0; rc == KV_OK && k < K; k++) {
    long nr = 0;
    for (long i = 0; i < n; i++) {
      if (lab[i] == k) {
        rows[nr++] = i;
      }
    }
    if (nr < nmin) {
      rc = KV_ERROR(KV_ERR_INVALID,
                    "surrogate.clusters: cluster %d of %d holds %ld points; an "
                    "expert in %d inputs needs at least %ld",
                    k + 1, K, nr, d, nmin);
      break;
    }
    double *l = pred; /* nr leave-one-out values */
    rc = fit_expert(ds, rows, nr, p, &m->expert[k], l);
    for (long j = 0; rc == KV_OK && j < nr; j++) {
      loo[rows[j]] = l[j];
    }
  }
  if (rc == KV_OK) {
    /* Each point: its own expert's leave-one-out value, the others' predictions, gated. */
    gating(m, n, U, G);
    double mse = 0.0;
    m->loo = malloc((size_t)n * sizeof *m->loo);
    if (!m->loo) {
      rc = KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
    }
    for (long i = 0; rc == KV_OK && i < n; i++) {
      double v = 0.0;
      for (int k = 0; rc == KV_OK && k < K; k++) {
        double mk = loo[i];
        if (k != lab[i] && G[i * K + k] > 0.0) {
          rc = kv_surrogate_predict(m->expert[k], 1, ds->X + i * d, &mk, NULL);
        }
        v += G[i * K + k] * mk;
      }
      mse += (v - ds->y[i]) * (v - ds->y[i]) / (double)n;
      m->loo[i] = v;
    }
    *score = mse;
    m->loo_mse = mse;
  }
cleanup:
  free(Z);
  free(cov);
  free(muz);
  free(loo);
  free(G);
  free(pred);
  free(rows);
  free(lab);
  return rc;
}

static void clear_mixture(moe_model *m) {
  for (int k = 0; k < m->K; k++) {
    kv_surrogate_free(m->expert[k]);
    m->expert[k] = NULL;
  }
  free(m->mu);
  free(m->cov);
  free(m->chol);
  free(m->loo);
  m->mu = m->cov = m->chol = m->loo = NULL;
  m->K = 0;
}

static int moe_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  const moe_params *p = params;
  moe_params def;
  if (!p) {
    memset(&def, 0, sizeof def);
    def.min_clusters = 1;
    def.max_clusters = 2;
    def.seed = 1;
    def.ne = 0;
    char bad[64];
    expert_kinds("poly, rbf", &def, bad, sizeof bad);
    p = &def;
  }
  long n = ds->n;
  int d = ds->d;
  if (d > MOE_MAX_D - 1) {
    return KV_ERROR(KV_ERR_INVALID, "moe: at most %d inputs (%d)", MOE_MAX_D - 1, d);
  }
  if (p->clusters > n) {
    return KV_ERROR(KV_ERR_CONFIG, "surrogate.clusters: %d clusters of %ld points", p->clusters, n);
  }
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_moe, sizeof(moe_model), d, ds->names, ds->yname, &s));
  moe_model *m = (moe_model *)s;
  m->d = d;
  m->hard = p->hard;
  m->n = n;
  m->off = malloc((size_t)d * sizeof *m->off);
  m->scale = malloc((size_t)d * sizeof *m->scale);
  m->y = malloc((size_t)n * sizeof *m->y);
  double *U = malloc((size_t)n * d * sizeof *U);
  int rc = m->off && m->scale && m->y && U ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
  for (int j = 0; rc == KV_OK && j < d; j++) {
    double lo, hi;
    kv_dataset_column_range(ds, j, &lo, &hi);
    m->off[j] = lo;
    m->scale[j] = hi > lo ? hi - lo : 1.0;
    for (long i = 0; i < n; i++) {
      U[i * d + j] = (ds->X[i * d + j] - lo) / m->scale[j];
    }
  }
  if (rc == KV_OK) {
    memcpy(m->y, ds->y, (size_t)n * sizeof *m->y);
  }
  int klo = p->clusters ? p->clusters : p->min_clusters,
      khi = p->clusters ? p->clusters : p->max_clusters;
  double best = INFINITY;
  for (int K = klo; rc == KV_OK && K <= khi; K++) {
    moe_model trial = *m;
    memset(trial.expert, 0, sizeof trial.expert);
    trial.mu = trial.cov = trial.chol = trial.loo = NULL;
    double score = INFINITY;
    int krc = fit_k(ds, p, K, U, &trial, &score);
    kv_debug("moe: %d cluster%s: LOO RMSE %.6g", K, K > 1 ? "s" : "", sqrt(score));
    if (krc == KV_OK && score < best) {
      best = score;
      clear_mixture(m);
      *m = trial;
    } else {
      clear_mixture(&trial);
      if (krc == KV_ERR_NOMEM || (krc != KV_OK && p->clusters)) {
        rc = krc;
      } else if (krc != KV_OK) {
        kv_error_clear();
      }
    }
  }
  free(U);
  if (rc == KV_OK && !m->K) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "moe: no number of clusters from %d to %d could be fitted", klo,
                  khi);
  }
  if (rc != KV_OK) {
    moe_free(s);
    return rc;
  }
  kv_info("moe: %d cluster%s, LOO RMSE %.6g", m->K, m->K > 1 ? "s" : "", sqrt(best));
  *out = s;
  return KV_OK;
}

static int moe_predict(const kv_surrogate *s, const double *X, long n, double *mean, double *var) {
  const moe_model *m = (const moe_model *)s;
  int d = m->d, K = m->K;
  double *U = calloc((size_t)n * d, sizeof *U), *G = malloc((size_t)n * K * sizeof *G);
  double *mk = malloc(2 * (size_t)n * sizeof *mk);
  int rc = U && G && mk ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "moe: out of memory");
  if (rc == KV_OK) {
    for (long i = 0; i < n; i++) {
      for (int j = 0; j < d; j++) {
        U[i * d + j] = (X[i * d + j] - m->off[j]) / m->scale[j];
      }
      mean[i] = 0.0;
      if (var) {
        var[i] = 0.0;
      }
    }
    gating(m, n, U, G);
  }
  for (int k = 0; rc == KV_OK && k < K; k++) {
    rc = kv_surrogate_predict(m->expert[k], n, X, mk, mk + n);
    for (long i = 0; rc == KV_OK && i < n; i++) {
      double g = G[i * K + k];
      mean[i] += g * mk[i];
      if (var) {
        var[i] += g * (mk[n + i] + mk[i] * mk[i]);
      }
    }
  }
  for (long i = 0; rc == KV_OK && var && i < n; i++) {
    var[i] = fmax(var[i] - mean[i] * mean[i], 0.0);
  }
  free(U);
  free(G);
  free(mk);
  return rc;
}

static int moe_save(const kv_surrogate *s, kv_h5_store *h) {
  const moe_model *m = (const moe_model *)s;
  long K = m->K, d = m->d, dm[2] = {K, d}, dc[3] = {K, d, d};
  KV_CHECK(kv_h5_store_put(h, "/moe/weights", 1, &K, m->w));
  KV_CHECK(kv_h5_store_put(h, "/moe/means", 2, dm, m->mu));
  KV_CHECK(kv_h5_store_put(h, "/moe/covariances", 3, dc, m->cov));
  KV_CHECK(kv_h5_store_put(h, "/moe/offset", 1, &d, m->off));
  KV_CHECK(kv_h5_store_put(h, "/moe/scale", 1, &d, m->scale));
  KV_CHECK(kv_h5_store_put(h, "/moe/y", 1, &m->n, m->y));
  KV_CHECK(kv_h5_store_put_text(h, "/moe", "gating", m->hard ? "hard" : "smooth"));
  for (int k = 0; k < m->K; k++) {
    char grp[32];
    snprintf(grp, sizeof grp, "/expert_%d", k);
    KV_CHECK(kv_surrogate_save_part(m->expert[k], h, grp));
  }
  return KV_OK;
}

static int moe_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_moe, sizeof(moe_model), 0, NULL, "", &s));
  moe_model *m = (moe_model *)s;
  kv_h5_array w = {0}, mu = {0}, cov = {0}, off = {0}, sc = {0}, y = {0};
  char *gate = NULL;
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get(h, "/moe/weights", &w));
  KV_TRY(kv_h5_store_get(h, "/moe/means", &mu));
  KV_TRY(kv_h5_store_get(h, "/moe/covariances", &cov));
  KV_TRY(kv_h5_store_get(h, "/moe/offset", &off));
  KV_TRY(kv_h5_store_get(h, "/moe/scale", &sc));
  KV_TRY(kv_h5_store_get(h, "/moe/y", &y));
  KV_TRY(kv_h5_store_get_text(h, "/moe", "gating", &gate));
  long K = w.count, d = off.count;
  if (K < 1 || K > MOE_MAX_K || d < 1 || d >= MOE_MAX_D || mu.count != K * d ||
      cov.count != K * d * d || sc.count != d) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /moe is not a kelvin mixture of experts", path);
    goto cleanup;
  }
  m->d = (int)d;
  m->hard = strcmp(gate, "hard") == 0;
  memcpy(m->w, w.data, (size_t)K * sizeof *m->w);
  m->mu = mu.data;
  m->cov = cov.data;
  m->off = off.data;
  m->scale = sc.data;
  m->y = y.data;
  m->n = y.count;
  mu.data = cov.data = off.data = sc.data = y.data = NULL;
  m->chol = malloc((size_t)K * d * d * sizeof *m->chol);
  if (!m->chol || factor_all((int)K, (int)d, m->cov, m->chol)) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /moe/covariances are not positive definite", path);
    goto cleanup;
  }
  for (int k = 0; k < K; k++) {
    char grp[32];
    snprintf(grp, sizeof grp, "/expert_%d", k);
    KV_TRY(kv_surrogate_load_part(h, path, grp, &m->expert[k]));
    m->K = k + 1;
  }
cleanup:
  free(w.data);
  free(mu.data);
  free(cov.data);
  free(off.data);
  free(sc.data);
  free(y.data);
  free(gate);
  if (rc != KV_OK) {
    moe_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int moe_describe(const kv_surrogate *s, FILE *f) {
  const moe_model *m = (const moe_model *)s;
  fprintf(f, "moe: %d expert%s, %s gating by a Gaussian mixture on (inputs, output)\n", m->K,
          m->K > 1 ? "s" : "", m->hard ? "hard" : "smooth");
  for (int k = 0; k < m->K; k++) {
    fprintf(f, "  expert %d (weight %.3f): %s\n", k, m->w[k], kv_surrogate_kind(m->expert[k]));
  }
  return KV_OK;
}

static int moe_training_y(const kv_surrogate *s, const double **y, long *n) {
  const moe_model *m = (const moe_model *)s;
  *y = m->y;
  *n = m->n;
  return KV_OK;
}

/* The number of clusters and the registry index of each expert's kind. */
static int moe_warm_state(const kv_surrogate *s, double *state, int *n) {
  const moe_model *m = (const moe_model *)s;
  state[0] = m->K;
  for (int k = 0; k < m->K; k++) {
    state[1 + k] = -1;
    for (int i = 0; kv_surrogate_type_at(i); i++) {
      if (kv_surrogate_type_at(i) == kv_surrogate_type_get(m->expert[k])) {
        state[1 + k] = i;
      }
    }
  }
  *n = 1 + m->K;
  return KV_OK;
}

/* Refits: the same number of clusters, experts of the kinds the fit on all the data chose. */
static int moe_warm_params(const void *params, const double *state, int n, void **out) {
  if (!params || n < 1) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "moe: warm refits need the parameters");
  }
  moe_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  *p = *(const moe_params *)params;
  p->borrowed = 1;
  p->clusters = (int)state[0];
  int ne = 0;
  for (int e = 0; e < p->ne; e++) {
    int used = 0;
    for (int k = 1; k < n; k++) {
      used |= state[k] >= 0 && kv_surrogate_type_at((int)state[k]) == p->et[e];
    }
    if (used) {
      p->et[ne] = p->et[e];
      p->ep[ne++] = p->ep[e];
    }
  }
  p->ne = ne ? ne : p->ne;
  *out = p;
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_moe = {
    .name = "moe",
    .summary = "a mixture of experts: Gaussian-mixture clusters, an expert kind per cluster by CV",
    .data = KV_DATA_SCALAR,
    .keys = {moe_keys, NULL, NULL},
    .params_create = params_create,
    .params_free = params_free,
    .fit = moe_fit,
    .predict = moe_predict,
    .save = moe_save,
    .load = moe_load,
    .describe = moe_describe,
    .free = moe_free,
    .training_y = moe_training_y,
    .warm_state = moe_warm_state,
    .warm_params = moe_warm_params,
    .selects = 1,
};
