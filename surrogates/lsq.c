#include "surrogates/lsq.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* A diagonal entry of the triangular factor below this fraction of the largest one is a rank
 * deficiency: the columns do not determine the coefficients. */
#define KV_LSQ_RANK_TOL 1e-12

struct kv_lsq {
  long n;
  int p;
  double *coef; /* p                                                     */
  double *R;    /* p x p upper triangular, column-major                  */
  double *loo;  /* n: leave-one-out predictions (NULL after a load)      */
  double *loov; /* n: their variances                                    */
  double s2, dof, loo_mse;
};

int kv_lsq_penalty_from_config(const kv_config *cfg, const char *key, double *out) {
  const char *v;
  KV_CHECK(kv_config_get_string(cfg, key, &v));
  if (strcmp(v, "cv") == 0) {
    *out = -1.0;
    return KV_OK;
  }
  char *end;
  *out = strtod(v, &end);
  if (end == v || *end || !(*out >= 0.0) || !isfinite(*out)) {
    return kv_config_errorf(cfg, key, "expected cv (chosen by cross-validation) or a number >= 0");
  }
  return KV_OK;
}

void kv_lsq_free(kv_lsq *l) {
  if (!l) {
    return;
  }
  free(l->coef);
  free(l->R);
  free(l->loo);
  free(l->loov);
  free(l);
}

static kv_lsq *lsq_new(long n, int p) {
  kv_lsq *l = calloc(1, sizeof *l);
  if (!l) {
    return NULL;
  }
  l->n = n;
  l->p = p;
  l->coef = calloc((size_t)p + 1, sizeof *l->coef);
  l->R = calloc((size_t)p * (size_t)p + 1, sizeof *l->R);
  if (!l->coef || !l->R) {
    kv_lsq_free(l);
    return NULL;
  }
  return l;
}

int kv_lsq_fit(long n, int p, const double *Phi, const double *y, int q, const double *R,
               double lambda, kv_lsq **out) {
  *out = NULL;
  int pen = R && q > 0 && lambda > 0.0;
  long rows = n + (pen ? q : 0);
  if (p < 1 || rows < p) {
    return KV_ERROR(KV_ERR_INVALID,
                    "least squares: %ld equations for %d coefficients (need at least as many "
                    "points as terms, or a penalty)",
                    rows, p);
  }
  kv_lsq *l = lsq_new(n, p);
  double *A = malloc((size_t)rows * (size_t)p * sizeof *A);
  double *tau = malloc(((size_t)p + 1) * sizeof *tau);
  double *rhs = malloc((size_t)rows * sizeof *rhs);
  if (l) {
    l->loo = malloc(((size_t)n + 1) * sizeof *l->loo);
    l->loov = malloc(((size_t)n + 1) * sizeof *l->loov);
  }
  if (!l || !A || !tau || !rhs || !l->loo || !l->loov) {
    kv_lsq_free(l);
    free(A);
    free(tau);
    free(rhs);
    return KV_ERROR(KV_ERR_NOMEM, "least squares: out of memory for %ld x %d", rows, p);
  }
  double sl = sqrt(lambda);
  for (int j = 0; j < p; j++) {
    for (long i = 0; i < n; i++) {
      A[i + j * rows] = Phi[i * p + j];
    }
    for (long k = 0; pen && k < q; k++) {
      A[n + k + j * rows] = sl * R[k * p + j];
    }
  }
  for (long i = 0; i < rows; i++) {
    rhs[i] = i < n ? y[i] : 0.0;
  }
  int rc = KV_OK;
  lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)rows, p, A, (lapack_int)rows, tau);
  double dmax = 0.0;
  for (int j = 0; info == 0 && j < p; j++) {
    dmax = fmax(dmax, fabs(A[j + j * rows]));
  }
  for (int j = 0; info == 0 && j < p; j++) {
    if (!(fabs(A[j + j * rows]) > KV_LSQ_RANK_TOL * dmax)) {
      info = j + 1;
    }
  }
  if (info != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "least squares: the %ld x %d design is rank deficient (column %d): too many "
                  "terms for the points, or inputs that repeat; lower the degree or add a penalty",
                  n, p, (int)info);
    goto cleanup;
  }
  for (int j = 0; j < p; j++) {
    for (int i = 0; i <= j; i++) {
      l->R[i + j * p] = A[i + j * rows];
    }
  }
  LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', (lapack_int)rows, 1, p, A, (lapack_int)rows, tau, rhs,
                 (lapack_int)rows);
  memcpy(l->coef, rhs, (size_t)p * sizeof *rhs);
  cblas_dtrsv(CblasColMajor, CblasUpper, CblasNoTrans, CblasNonUnit, p, l->R, p, l->coef, 1);
  /* The hat diagonal from the explicit Q (first n rows). */
  LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)rows, p, p, A, (lapack_int)rows, tau);
  double rss = 0.0, press = 0.0, dof = 0.0;
  for (long i = 0; i < n; i++) {
    double h = 0.0, fit = 0.0;
    for (int j = 0; j < p; j++) {
      h += A[i + j * rows] * A[i + j * rows];
      fit += Phi[i * p + j] * l->coef[j];
    }
    double r = y[i] - fit, one = fmax(1.0 - h, 1e-12);
    dof += h;
    rss += r * r;
    l->loo[i] = y[i] - r / one;
    l->loov[i] = h; /* turned into a variance below, once s2 is known */
    press += (r / one) * (r / one);
  }
  l->dof = dof;
  l->loo_mse = press / (double)n;
  /* RSS / (n - dof) is the unbiased noise variance while the fit leaves residual degrees of
   * freedom; a fit that nearly interpolates has none, and the leave-one-out error is the honest
   * scale of its errors. */
  l->s2 = (double)n - dof >= fmax(1.0, 0.1 * (double)n) ? rss / ((double)n - dof) : l->loo_mse;
  for (long i = 0; i < n; i++) {
    /* The variance of the point's residual left out: s2 / (1 - h_i). */
    l->loov[i] = l->s2 / fmax(1.0 - l->loov[i], 1e-12);
  }
cleanup:
  free(A);
  free(tau);
  free(rhs);
  if (rc != KV_OK) {
    kv_lsq_free(l);
    return rc;
  }
  *out = l;
  return KV_OK;
}

int kv_lsq_fit_cv(long n, int p, const double *Phi, const double *y, int q, const double *R,
                  double lambda, kv_lsq **out, double *chosen) {
  *out = NULL;
  if (lambda >= 0.0) {
    *chosen = lambda;
    return kv_lsq_fit(n, p, Phi, y, q, R, lambda, out);
  }
  double scale = 0.0;
  for (long i = 0; i < n * p; i++) {
    scale += Phi[i] * Phi[i];
  }
  scale = fmax(scale / p, 1e-300);
  kv_lsq *best = NULL;
  int rc = KV_OK;
  for (int k = -1; k <= 10; k++) {
    double lam = k < 0 ? 0.0 : scale * pow(10.0, k - 8);
    if (k < 0 && n <= p) {
      continue; /* no unpenalised fit, or one that interpolates (no LOO) */
    }
    kv_lsq *l = NULL;
    rc = kv_lsq_fit(n, p, Phi, y, q, R, lam, &l);
    if (rc == KV_ERR_NOMEM) {
      break;
    }
    if (rc != KV_OK) {
      kv_error_clear();
      continue;
    }
    if (!best || l->loo_mse < best->loo_mse) {
      kv_lsq_free(best);
      best = l;
      *chosen = lam;
    } else {
      kv_lsq_free(l);
    }
  }
  if (!best) {
    return rc == KV_ERR_NOMEM ? rc
                              : KV_ERROR(KV_ERR_NUMERIC,
                                         "least squares: no penalty made the %ld x %d design "
                                         "solvable",
                                         n, p);
  }
  *out = best;
  return KV_OK;
}

long kv_lsq_size(const kv_lsq *l) {
  return l->loo ? l->n : 0;
}
int kv_lsq_ncoef(const kv_lsq *l) {
  return l->p;
}
const double *kv_lsq_coef(const kv_lsq *l) {
  return l->coef;
}
double kv_lsq_sigma2(const kv_lsq *l) {
  return l->s2;
}
double kv_lsq_dof(const kv_lsq *l) {
  return l->dof;
}
double kv_lsq_loo_mse(const kv_lsq *l) {
  return l->loo_mse;
}

void kv_lsq_loo(const kv_lsq *l, double *mean, double *var) {
  for (long i = 0; i < l->n; i++) {
    mean[i] = l->loo ? l->loo[i] : NAN;
    if (var) {
      var[i] = l->loov ? l->loov[i] : NAN;
    }
  }
}

int kv_lsq_predict(const kv_lsq *l, long m, const double *Phi, double *mean, double *var) {
  int p = l->p;
  double *z = malloc((size_t)p * sizeof *z);
  if (!z) {
    return KV_ERROR(KV_ERR_NOMEM, "least squares: out of memory");
  }
  for (long i = 0; i < m; i++) {
    const double *row = Phi + i * p;
    mean[i] = cblas_ddot(p, row, 1, l->coef, 1);
    if (var) {
      memcpy(z, row, (size_t)p * sizeof *z);
      cblas_dtrsv(CblasColMajor, CblasUpper, CblasTrans, CblasNonUnit, p, l->R, p, z, 1);
      var[i] = l->s2 * (1.0 + cblas_ddot(p, z, 1, z, 1));
    }
  }
  free(z);
  return KV_OK;
}

int kv_lsq_save(const kv_lsq *l, kv_h5_store *h, const char *grp) {
  char name[256];
  long p = l->p, dims[2] = {l->p, l->p};
  snprintf(name, sizeof name, "%s/coef", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &p, l->coef));
  snprintf(name, sizeof name, "%s/R", grp);
  KV_CHECK(kv_h5_store_put(h, name, 2, dims, l->R));
  KV_CHECK(kv_h5_store_put_number(h, grp, "sigma2", l->s2));
  KV_CHECK(kv_h5_store_put_number(h, grp, "dof", l->dof));
  KV_CHECK(kv_h5_store_put_number(h, grp, "loo_mse", l->loo_mse));
  KV_CHECK(kv_h5_store_put_number(h, grp, "n", (double)l->n));
  return KV_OK;
}

int kv_lsq_load(kv_h5_store *h, const char *path, const char *grp, kv_lsq **out) {
  *out = NULL;
  char name[256];
  kv_h5_array c = {0}, r = {0};
  double n = 0.0;
  int rc = KV_OK;
  kv_lsq *l = NULL;
  snprintf(name, sizeof name, "%s/coef", grp);
  KV_TRY(kv_h5_store_get(h, name, &c));
  snprintf(name, sizeof name, "%s/R", grp);
  KV_TRY(kv_h5_store_get(h, name, &r));
  if (c.count < 1 || r.rank != 2 || r.dims[0] != c.count || r.dims[1] != c.count) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s/R is not %ld x %ld", path, grp, c.count, c.count);
    goto cleanup;
  }
  KV_TRY(kv_h5_store_get_number(h, grp, "n", &n));
  l = lsq_new((long)n, (int)c.count);
  if (!l) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  memcpy(l->coef, c.data, (size_t)c.count * sizeof *l->coef);
  memcpy(l->R, r.data, (size_t)c.count * (size_t)c.count * sizeof *l->R);
  KV_TRY(kv_h5_store_get_number(h, grp, "sigma2", &l->s2));
  KV_TRY(kv_h5_store_get_number(h, grp, "dof", &l->dof));
  KV_TRY(kv_h5_store_get_number(h, grp, "loo_mse", &l->loo_mse));
cleanup:
  free(c.data);
  free(r.data);
  if (rc != KV_OK) {
    kv_lsq_free(l);
    return rc;
  }
  *out = l;
  return KV_OK;
}

int kv_lsq_saddle(long N, int m, const double *K, const double *F, const double *y, double *c,
                  double *loo_res, double *loo_var) {
  long M = N + m;
  double *A = malloc((size_t)M * (size_t)M * sizeof *A);
  lapack_int *ipiv = malloc((size_t)M * sizeof *ipiv);
  if (!A || !ipiv) {
    free(A);
    free(ipiv);
    return KV_ERROR(KV_ERR_NOMEM, "saddle system: out of memory for %ld unknowns", M);
  }
  for (long j = 0; j < N; j++) {
    memcpy(A + j * M, K + j * N, (size_t)N * sizeof *A);
    for (int k = 0; k < m; k++) {
      A[N + k + j * M] = F[j + k * N];
    }
  }
  for (int k = 0; k < m; k++) {
    for (long i = 0; i < N; i++) {
      A[i + (N + k) * M] = F[i + k * N];
    }
    for (int k2 = 0; k2 < m; k2++) {
      A[N + k2 + (N + k) * M] = 0.0;
    }
  }
  for (long i = 0; i < M; i++) {
    c[i] = i < N ? y[i] : 0.0;
  }
  int rc = KV_OK;
  lapack_int info = LAPACKE_dsytrf(LAPACK_COL_MAJOR, 'L', (lapack_int)M, A, (lapack_int)M, ipiv);
  if (info == 0) {
    info = LAPACKE_dsytrs(LAPACK_COL_MAJOR, 'L', (lapack_int)M, 1, A, (lapack_int)M, ipiv, c,
                          (lapack_int)M);
  }
  if (info == 0 && (loo_res || loo_var)) {
    info = LAPACKE_dsytri(LAPACK_COL_MAJOR, 'L', (lapack_int)M, A, (lapack_int)M, ipiv);
    for (long i = 0; info == 0 && i < N; i++) {
      double a = A[i + i * M];
      if (loo_res) {
        loo_res[i] = c[i] / a;
      }
      if (loo_var) {
        loo_var[i] = 1.0 / a;
      }
    }
  }
  for (long i = 0; info == 0 && i < M; i++) {
    if (!isfinite(c[i])) {
      info = (lapack_int)(i + 1);
    }
  }
  if (info != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "saddle system of %ld points and %d trend terms is singular (%d): repeated "
                  "points, or fewer distinct points than trend terms",
                  N, m, (int)info);
  }
  free(A);
  free(ipiv);
  return rc;
}
