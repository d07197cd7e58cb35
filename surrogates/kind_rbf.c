/* Kind "rbf": radial-basis-function regression with a linear polynomial tail,
 *   f(x) = sum_i c_i phi(||x - x_i||) + p(x)^T d,   (K + lambda I) c + P d = y,  P^T c = 0,
 * on inputs scaled to the unit box. Kernels: thin-plate r^2 log r, cubic r^3 (conditionally
 * positive definite of order 2, which the linear tail makes well posed), Gaussian exp(-(e r)^2)
 * and multiquadric sqrt(1 + (e r)^2), their shape e from the mean nearest-neighbour spacing h
 * (e = 1 / (2 h) and 1 / h). The kernel (surrogate.rbf_kernel = cv: all four) and the smoothing
 * lambda (surrogate.smoothing = cv, 0 is interpolation) are chosen by leave-one-out in closed form
 * (Rippa 1999): with Q2 an orthonormal basis of the complement of P's columns and
 * Q2^T K Q2 = V L V^T, the top-left block of the saddle matrix's inverse is
 * W (L + lambda)^-1 W^T with W = Q2 V, so every lambda costs O(n^2) after one eigendecomposition
 * (LAPACKE dsyevd) per kernel. The variance of a prediction is the leave-one-out mean squared
 * error (a constant: radial basis functions carry no model of their own uncertainty).
 *
 * Model file: "/rbf" (X: scaled centres, c, d, offset, scale; attributes kernel, shape, lambda,
 * loo_mse; y). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/lsq.h"
#include "surrogates/polybasis.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_rbf;

enum { RBF_TPS, RBF_CUBIC, RBF_GAUSS, RBF_MQ, RBF_NKERNELS };
static const char *const rbf_names[RBF_NKERNELS] = {"thin_plate", "cubic", "gaussian",
                                                    "multiquadric"};
#define RBF_CHOICES "cv|thin_plate|cubic|gaussian|multiquadric"

typedef struct {
  int kernel;       /* -1: chosen by cross-validation                                */
  double smoothing; /* < 0: chosen by cross-validation                               */
} rbf_params;

typedef struct {
  kv_surrogate base;
  long n;
  int d, kernel, m;
  double shape, lambda, loo_mse;
  double *X;           /* n x d scaled centres                                       */
  double *c, *dt;      /* n weights, m tail coefficients                             */
  double *off, *scale; /* d: u = (x - off) / scale                                   */
  double *y, *loo;     /* n: outputs; leave-one-out predictions (NULL after a load)  */
  kv_polybasis tail;
} rbf_model;

static const kv_config_key rbf_keys[] = {
    {"surrogate.rbf_kernel", KV_CFG_ENUM, "cv", RBF_CHOICES, KV_CFG_NORANGE,
     "radial basis function (cv: the one with the smallest leave-one-out error)"},
    {"surrogate.smoothing", KV_CFG_STRING, "cv", NULL, KV_CFG_NORANGE,
     "smoothing added to the kernel diagonal: cv (leave-one-out), 0 (interpolation) or a number, "
     "relative to the kernel matrix's largest eigenvalue"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int params_create(const kv_config *cfg, void **params) {
  rbf_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int k = 0;
  int rc = kv_config_get_enum(cfg, "surrogate.rbf_kernel", RBF_CHOICES, &k);
  if (rc == KV_OK) {
    rc = kv_lsq_penalty_from_config(cfg, "surrogate.smoothing", &p->smoothing);
  }
  p->kernel = k - 1;
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void rbf_free(kv_surrogate *s) {
  rbf_model *m = (rbf_model *)s;
  free(m->X);
  free(m->c);
  free(m->dt);
  free(m->off);
  free(m->scale);
  free(m->y);
  free(m->loo);
  kv_polybasis_free(&m->tail);
  kv_surrogate_header_free(s);
  free(m);
}

static inline double phi(int k, double e, double r) {
  switch (k) {
  case RBF_TPS:
    return r > 0.0 ? r * r * log(r) : 0.0;
  case RBF_CUBIC:
    return r * r * r;
  case RBF_GAUSS:
    return exp(-(e * r) * (e * r));
  default:
    return sqrt(1.0 + (e * r) * (e * r));
  }
}

static inline double dist(const double *a, const double *b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; j++) {
    s += (a[j] - b[j]) * (a[j] - b[j]);
  }
  return sqrt(s);
}

/* What one kernel's eigendecomposition gives: the best lambda's leave-one-out error. */
typedef struct {
  long n;
  int m;
  double *W, *L, *wy; /* n x (n - m) column-major, n - m, n - m */
} spectrum;

/* Q2^T K Q2 = V L V^T for kernel k (shape e) on the scaled points X. */
static int decompose(const double *X, long n, int d, const double *Q2, int m, int k, double e,
                     spectrum *sp, const double *y) {
  long r = n - m;
  double *K = malloc((size_t)n * (size_t)n * sizeof *K);
  double *T = malloc((size_t)n * (size_t)r * sizeof *T);
  sp->W = malloc((size_t)n * (size_t)r * sizeof *sp->W);
  sp->L = malloc((size_t)r * sizeof *sp->L);
  sp->wy = malloc((size_t)r * sizeof *sp->wy);
  double *B = K; /* reused once K Q2 is formed */
  if (!K || !T || !sp->W || !sp->L || !sp->wy) {
    free(K);
    free(T);
    return KV_ERROR(KV_ERR_NOMEM, "rbf: out of memory for %ld points", n);
  }
  for (long j = 0; j < n; j++) {
    for (long i = 0; i < n; i++) {
      K[i + j * n] = phi(k, e, dist(X + i * d, X + j * d, d));
    }
  }
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)r, (int)n, 1.0, K, (int)n, Q2,
              (int)n, 0.0, T, (int)n);
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)r, (int)r, (int)n, 1.0, Q2, (int)n, T,
              (int)n, 0.0, B, (int)r);
  lapack_int info =
      LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)r, B, (lapack_int)r, sp->L);
  if (info == 0) {
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)r, (int)r, 1.0, Q2, (int)n,
                B, (int)r, 0.0, sp->W, (int)n);
    cblas_dgemv(CblasColMajor, CblasTrans, (int)n, (int)r, 1.0, sp->W, (int)n, y, 1, 0.0, sp->wy,
                1);
  }
  free(K);
  free(T);
  sp->n = n;
  sp->m = m;
  return info == 0 ? KV_OK
                   : KV_ERROR(KV_ERR_NUMERIC, "rbf: eigendecomposition failed (%d)", (int)info);
}

static void spectrum_free(spectrum *sp) {
  free(sp->W);
  free(sp->L);
  free(sp->wy);
  memset(sp, 0, sizeof *sp);
}

/* The weights c for smoothing lam (signed) and, when loo is not NULL, the leave-one-out
 * predictions y_i - c_i / (A^-1)_ii; returns PRESS / n (inf where the system is singular). */
static double solve_lambda(const spectrum *sp, double lam, const double *y, double *c,
                           double *loo) {
  long n = sp->n, r = n - sp->m;
  double amax = 0.0;
  for (long j = 0; j < r; j++) {
    amax = fmax(amax, fabs(sp->L[j]));
  }
  double *g = malloc((size_t)r * sizeof *g);
  if (!g) {
    return INFINITY;
  }
  for (long j = 0; j < r; j++) {
    double den = sp->L[j] + lam;
    /* A pivot this small relative to the spectrum is a singular system: no solution. */
    if (fabs(den) < 1e-13 * amax || den * (lam >= 0.0 ? 1.0 : -1.0) < 0.0) {
      free(g);
      return INFINITY;
    }
    g[j] = 1.0 / den;
  }
  double press = 0.0;
  for (long i = 0; i < n; i++) {
    double ci = 0.0, di = 0.0;
    for (long j = 0; j < r; j++) {
      double w = sp->W[i + j * n];
      ci += w * g[j] * sp->wy[j];
      di += w * w * g[j];
    }
    c[i] = ci;
    double e = ci / di;
    press += e * e;
    if (loo) {
      loo[i] = y[i] - e;
    }
  }
  free(g);
  return press / (double)n;
}

static int rbf_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  rbf_params p = {-1, -1.0};
  if (params) {
    p = *(const rbf_params *)params;
  }
  long n = ds->n;
  int d = ds->d;
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_rbf, sizeof(rbf_model), d, ds->names, ds->yname, &s));
  rbf_model *m = (rbf_model *)s;
  m->n = n;
  m->d = d;
  m->X = malloc((size_t)n * (size_t)d * sizeof *m->X);
  m->c = malloc((size_t)n * sizeof *m->c);
  m->off = malloc((size_t)d * sizeof *m->off);
  m->scale = malloc((size_t)d * sizeof *m->scale);
  m->y = malloc((size_t)n * sizeof *m->y);
  m->loo = malloc((size_t)n * sizeof *m->loo);
  double *c = malloc((size_t)n * sizeof *c), *loo = malloc((size_t)n * sizeof *loo);
  double *Q = NULL, *tau = NULL, *P = NULL;
  int rc = m->X && m->c && m->off && m->scale && m->y && m->loo && c && loo
               ? KV_OK
               : KV_ERROR(KV_ERR_NOMEM, "rbf: out of memory");
  if (rc != KV_OK) {
    goto cleanup;
  }
  memcpy(m->y, ds->y, (size_t)n * sizeof *m->y);
  double lo[64], hi[64], zero[64], one[64];
  for (int j = 0; j < d && j < 64; j++) {
    kv_dataset_column_range(ds, j, &lo[j], &hi[j]);
    m->off[j] = lo[j];
    m->scale[j] = hi[j] > lo[j] ? hi[j] - lo[j] : 1.0;
    zero[j] = 0.0;
    one[j] = 1.0;
  }
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < d; j++) {
      m->X[i * d + j] = (ds->X[i * d + j] - m->off[j]) / m->scale[j];
    }
  }
  if (d > 64) {
    rc = KV_ERROR(KV_ERR_INVALID, "rbf: at most 64 inputs (%d)", d);
    goto cleanup;
  }
  rc = kv_polybasis_create(d, 1, 0, NULL, zero, one, &m->tail);
  if (rc != KV_OK) {
    goto cleanup;
  }
  int mt = m->tail.nterms;
  if (n <= mt + 1) {
    rc = KV_ERROR(KV_ERR_INVALID, "rbf: %ld points for %d inputs: need more than %d", n, d, mt + 1);
    goto cleanup;
  }
  m->m = mt;
  m->dt = calloc((size_t)mt, sizeof *m->dt);
  Q = calloc((size_t)n * (size_t)n, sizeof *Q);
  tau = malloc((size_t)mt * sizeof *tau);
  P = malloc((size_t)n * (size_t)mt * sizeof *P);
  if (!m->dt || !Q || !tau || !P) {
    rc = KV_ERROR(KV_ERR_NOMEM, "rbf: out of memory");
    goto cleanup;
  }
  kv_polybasis_eval(&m->tail, n, m->X, P);
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < mt; j++) {
      Q[i + j * n] = P[i * mt + j];
    }
  }
  LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)n, mt, Q, (lapack_int)n, tau);
  LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, mt, Q, (lapack_int)n, tau);
  /* The mean nearest-neighbour spacing sets the shapes of the Gaussian and the multiquadric. */
  double h = 0.0;
  for (long i = 0; i < n; i++) {
    double best = INFINITY;
    for (long j = 0; j < n; j++) {
      if (j != i) {
        best = fmin(best, dist(m->X + i * d, m->X + j * d, d));
      }
    }
    h += best / (double)n;
  }
  h = fmax(h, 1e-6);
  m->loo_mse = INFINITY;
  for (int k = 0; k < RBF_NKERNELS; k++) {
    if (p.kernel >= 0 && k != p.kernel) {
      continue;
    }
    double e = k == RBF_GAUSS ? 0.5 / h : 1.0 / h;
    spectrum sp = {0};
    int drc = decompose(m->X, n, d, Q + (size_t)mt * n, mt, k, e, &sp, ds->y);
    if (drc != KV_OK) {
      spectrum_free(&sp);
      kv_error_clear();
      continue;
    }
    double amax = 0.0, sum = 0.0;
    for (long j = 0; j < n - mt; j++) {
      amax = fmax(amax, fabs(sp.L[j]));
      sum += sp.L[j];
    }
    double sgn = sum < 0.0 ? -1.0 : 1.0; /* the multiquadric's matrix is negative definite */
    for (int t = -1; t <= 14; t++) {
      double rel = p.smoothing >= 0.0 ? p.smoothing : (t < 0 ? 0.0 : pow(10.0, -t));
      if (p.smoothing >= 0.0 && t > -1) {
        break;
      }
      double lam = sgn * rel * amax;
      double mse = solve_lambda(&sp, lam, ds->y, c, loo);
      if (mse < m->loo_mse) {
        m->loo_mse = mse;
        m->kernel = k;
        m->shape = e;
        m->lambda = lam;
        memcpy(m->c, c, (size_t)n * sizeof *c);
        memcpy(m->loo, loo, (size_t)n * sizeof *loo);
      }
    }
    spectrum_free(&sp);
  }
  if (!isfinite(m->loo_mse)) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "rbf: no kernel and smoothing gave a solvable system on %ld "
                  "points (repeated points?)",
                  n);
    goto cleanup;
  }
  /* The tail: P d = y - (K + lambda I) c, by least squares on P's QR (Q1 R = P). */
  for (long i = 0; i < n; i++) {
    double v = m->y[i] - m->lambda * m->c[i];
    for (long j = 0; j < n; j++) {
      v -= phi(m->kernel, m->shape, dist(m->X + i * d, m->X + j * d, d)) * m->c[j];
    }
    loo[i] = v;
  }
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < mt; j++) {
      Q[i + j * n] = P[i * mt + j];
    }
  }
  rc = LAPACKE_dgels(LAPACK_COL_MAJOR, 'N', (lapack_int)n, mt, 1, Q, (lapack_int)n, loo,
                     (lapack_int)n) == 0
           ? KV_OK
           : KV_ERROR(KV_ERR_NUMERIC, "rbf: the linear tail is not determined by the points");
  memcpy(m->dt, loo, (size_t)mt * sizeof *loo);
  kv_info("rbf: %s kernel (shape %.3g), smoothing %.3g: LOO RMSE %.6g", rbf_names[m->kernel],
          m->shape, m->lambda, sqrt(m->loo_mse));
cleanup:
  free(c);
  free(loo);
  free(Q);
  free(tau);
  free(P);
  if (rc != KV_OK) {
    rbf_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int rbf_predict(const kv_surrogate *s, const double *X, long n, double *mean, double *var) {
  const rbf_model *m = (const rbf_model *)s;
  int d = m->d, mt = m->m;
  double u[64], t[64 + 1];
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < d; j++) {
      u[j] = (X[i * d + j] - m->off[j]) / m->scale[j];
    }
    double v = 0.0;
    for (long k = 0; k < m->n; k++) {
      v += m->c[k] * phi(m->kernel, m->shape, dist(u, m->X + k * d, d));
    }
    kv_polybasis_eval(&m->tail, 1, u, t);
    for (int j = 0; j < mt; j++) {
      v += t[j] * m->dt[j];
    }
    mean[i] = v;
    if (var) {
      var[i] = m->loo_mse;
    }
  }
  return KV_OK;
}

static int rbf_loo(const kv_surrogate *s, double *mean, double *var) {
  const rbf_model *m = (const rbf_model *)s;
  if (!m->loo) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "rbf: a loaded model keeps no leave-one-out values");
  }
  for (long i = 0; i < m->n; i++) {
    mean[i] = m->loo[i];
    if (var) {
      var[i] = m->loo_mse;
    }
  }
  return KV_OK;
}

static int rbf_save(const kv_surrogate *s, kv_h5_store *h) {
  const rbf_model *m = (const rbf_model *)s;
  long dims[2] = {m->n, m->d}, d = m->d, mt = m->m;
  KV_CHECK(kv_h5_store_put(h, "/rbf/X", 2, dims, m->X));
  KV_CHECK(kv_h5_store_put(h, "/rbf/c", 1, &m->n, m->c));
  KV_CHECK(kv_h5_store_put(h, "/rbf/d", 1, &mt, m->dt));
  KV_CHECK(kv_h5_store_put(h, "/rbf/y", 1, &m->n, m->y));
  KV_CHECK(kv_h5_store_put(h, "/rbf/offset", 1, &d, m->off));
  KV_CHECK(kv_h5_store_put(h, "/rbf/scale", 1, &d, m->scale));
  KV_CHECK(kv_h5_store_put_text(h, "/rbf", "kernel", rbf_names[m->kernel]));
  KV_CHECK(kv_h5_store_put_number(h, "/rbf", "shape", m->shape));
  KV_CHECK(kv_h5_store_put_number(h, "/rbf", "lambda", m->lambda));
  KV_CHECK(kv_h5_store_put_number(h, "/rbf", "loo_mse", m->loo_mse));
  return KV_OK;
}

static int rbf_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_rbf, sizeof(rbf_model), 0, NULL, "", &s));
  rbf_model *m = (rbf_model *)s;
  kv_h5_array X = {0}, c = {0}, dt = {0}, y = {0}, off = {0}, sc = {0};
  char *kernel = NULL;
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get(h, "/rbf/X", &X));
  KV_TRY(kv_h5_store_get(h, "/rbf/c", &c));
  KV_TRY(kv_h5_store_get(h, "/rbf/d", &dt));
  KV_TRY(kv_h5_store_get(h, "/rbf/y", &y));
  KV_TRY(kv_h5_store_get(h, "/rbf/offset", &off));
  KV_TRY(kv_h5_store_get(h, "/rbf/scale", &sc));
  KV_TRY(kv_h5_store_get_text(h, "/rbf", "kernel", &kernel));
  KV_TRY(kv_h5_store_get_number(h, "/rbf", "shape", &m->shape));
  KV_TRY(kv_h5_store_get_number(h, "/rbf", "lambda", &m->lambda));
  KV_TRY(kv_h5_store_get_number(h, "/rbf", "loo_mse", &m->loo_mse));
  m->kernel = -1;
  for (int k = 0; k < RBF_NKERNELS; k++) {
    if (strcmp(kernel, rbf_names[k]) == 0) {
      m->kernel = k;
    }
  }
  if (X.rank != 2 || c.count != X.dims[0] || y.count != X.dims[0] || off.count != X.dims[1] ||
      sc.count != X.dims[1] || dt.count != X.dims[1] + 1 || m->kernel < 0 || X.dims[1] > 64) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /rbf is not a kelvin RBF model", path);
    goto cleanup;
  }
  m->n = X.dims[0];
  m->d = (int)X.dims[1];
  m->m = (int)dt.count;
  m->X = X.data;
  m->c = c.data;
  m->dt = dt.data;
  m->y = y.data;
  m->off = off.data;
  m->scale = sc.data;
  X.data = c.data = dt.data = y.data = off.data = sc.data = NULL;
  double zero[64] = {0}, one[64];
  for (int j = 0; j < 64; j++) {
    one[j] = 1.0;
  }
  rc = kv_polybasis_create(m->d, 1, 0, NULL, zero, one, &m->tail);
cleanup:
  free(X.data);
  free(c.data);
  free(dt.data);
  free(y.data);
  free(off.data);
  free(sc.data);
  free(kernel);
  if (rc != KV_OK) {
    rbf_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int rbf_describe(const kv_surrogate *s, FILE *f) {
  const rbf_model *m = (const rbf_model *)s;
  fprintf(f, "rbf: %s kernel%s, %ld centres, linear tail, smoothing %.4g\n", rbf_names[m->kernel],
          m->kernel >= RBF_GAUSS ? "" : " (no shape)", m->n, m->lambda);
  if (m->kernel >= RBF_GAUSS) {
    fprintf(f, "  shape %.6g (inputs scaled to the unit box)\n", m->shape);
  }
  fprintf(f, "  leave-one-out RMSE %.6g (Rippa's closed form)\n", sqrt(m->loo_mse));
  return KV_OK;
}

static int rbf_training_y(const kv_surrogate *s, const double **y, long *n) {
  const rbf_model *m = (const rbf_model *)s;
  *y = m->y;
  *n = m->n;
  return KV_OK;
}

static int rbf_warm_state(const kv_surrogate *s, double *state, int *n) {
  state[0] = ((const rbf_model *)s)->kernel;
  *n = 1;
  return KV_OK;
}

/* Refits try the kernel the fit on all the data chose (the smoothing is chosen again: cheap). */
static int rbf_warm_params(const void *params, const double *state, int n, void **out) {
  rbf_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  *p = params ? *(const rbf_params *)params : (rbf_params){-1, -1.0};
  if (n == 1 && state[0] >= 0 && state[0] < RBF_NKERNELS) {
    p->kernel = (int)state[0];
  }
  *out = p;
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_rbf = {
    .name = "rbf",
    .summary = "radial basis functions with a linear tail (kernel and smoothing by leave-one-out)",
    .data = KV_DATA_SCALAR,
    .keys = {rbf_keys, NULL, NULL},
    .params_create = params_create,
    .fit = rbf_fit,
    .predict = rbf_predict,
    .save = rbf_save,
    .load = rbf_load,
    .describe = rbf_describe,
    .free = rbf_free,
    .training_y = rbf_training_y,
    .loo = rbf_loo,
    .warm_state = rbf_warm_state,
    .warm_params = rbf_warm_params,
};
