#include "surrogates/gp.h"

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/bfgs.h"
#include "surrogates/polybasis.h"

struct kv_gp {
  kv_gp_options o;
  long n;
  int d;
  double *xraw, *yraw;   /* as given                                           */
  double *x;             /* scaled inputs, row-major n x d                     */
  double *y;             /* standardised outputs                               */
  double *xoff, *xscale; /* x = (xraw - xoff) / xscale                          */
  double ymean, ystd;
  double *z;     /* x / l for the current theta                        */
  double *L;     /* n x n, column-major; lower Cholesky factor when ok */
  double *F;     /* n x n lower: f(r_ij) of the last build (gradients)  */
  double *alpha; /* K^-1 y                                             */
  double *theta; /* d + 2                                              */
  double lml;
  int factored;  /* L and alpha belong to theta                        */
  double jitter; /* extra diagonal of the last factorisation           */
  int warned;
  long evals;
  /* Universal kriging (m trend terms): F (n x m) and K^-1 F (column-major), the Cholesky factor
   * of G = F^T K^-1 F (m x m), the coefficients beta. */
  int m;
  kv_polybasis tb;
  double *Ft, *KiF, *G, *beta;
};

/* The scaled input of column k (log-warped first where asked). */
static inline double scaled(const kv_gp *g, int k, double v) {
  return ((g->o.log_input[k] ? log(v) : v) - g->xoff[k]) / g->xscale[k];
}

/* ------------------------------------------------------------------ create */

/* The trend basis on the scaled inputs and its design F (n x m, column-major). */
static int trend_create(kv_gp *g) {
  long n = g->n;
  int d = g->d;
  double lo[64], hi[64];
  for (int k = 0; k < d; k++) {
    lo[k] = INFINITY;
    hi[k] = -INFINITY;
    for (long i = 0; i < n; i++) {
      lo[k] = fmin(lo[k], g->x[i * d + k]);
      hi[k] = fmax(hi[k], g->x[i * d + k]);
    }
  }
  KV_CHECK(kv_polybasis_create(d, g->o.trend - 1, 0, NULL, lo, hi, &g->tb));
  int m = g->tb.nterms;
  if (m + 1 >= n) {
    return KV_ERROR(KV_ERR_INVALID,
                    "gp: a trend of %d terms needs more than %d training points (there are %ld): "
                    "lower surrogate.trend",
                    m, m + 1, n);
  }
  double *row = malloc((size_t)n * (size_t)m * sizeof *row);
  g->Ft = malloc((size_t)n * (size_t)m * sizeof *g->Ft);
  g->KiF = malloc((size_t)n * (size_t)m * sizeof *g->KiF);
  g->G = malloc((size_t)m * (size_t)m * sizeof *g->G);
  g->beta = malloc((size_t)m * sizeof *g->beta);
  if (!row || !g->Ft || !g->KiF || !g->G || !g->beta) {
    free(row);
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory for the trend");
  }
  kv_polybasis_eval(&g->tb, n, g->x, row);
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < m; j++) {
      g->Ft[i + j * n] = row[i * m + j];
    }
  }
  free(row);
  g->m = m;
  return KV_OK;
}

int kv_gp_create(long n, int d, const double *X, const double *y, const kv_gp_options *o,
                 kv_gp **out) {
  *out = NULL;
  if (d < 1 || n < 1) {
    return KV_ERROR(KV_ERR_INVALID, "gp: need at least one input and one training point");
  }
  if (d > 64) {
    return KV_ERROR(KV_ERR_INVALID, "gp: %d inputs; at most 64 are supported", d);
  }
  if (n <= d) {
    return KV_ERROR(KV_ERR_INVALID,
                    "gp: %ld training points for %d inputs: need more points "
                    "than inputs",
                    n, d);
  }
  kv_gp *g = calloc(1, sizeof *g);
  if (!g) {
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory");
  }
  g->o = *o;
  g->n = n;
  g->d = d;
  size_t nd = (size_t)n * (size_t)d;
  g->xraw = malloc(nd * sizeof *g->xraw);
  g->x = malloc(nd * sizeof *g->x);
  g->z = malloc(nd * sizeof *g->z);
  g->yraw = malloc((size_t)n * sizeof *g->yraw);
  g->y = malloc((size_t)n * sizeof *g->y);
  g->alpha = malloc((size_t)n * sizeof *g->alpha);
  g->xoff = calloc((size_t)d, sizeof *g->xoff);
  g->xscale = malloc((size_t)d * sizeof *g->xscale);
  g->theta = calloc((size_t)d + 2, sizeof *g->theta);
  g->L = malloc((size_t)n * (size_t)n * sizeof *g->L);
  g->F = malloc((size_t)n * (size_t)n * sizeof *g->F);
  if (!g->F || !g->xraw || !g->x || !g->z || !g->yraw || !g->y || !g->alpha || !g->xoff ||
      !g->xscale || !g->theta || !g->L) {
    kv_gp_free(g);
    return KV_ERROR(KV_ERR_NOMEM,
                    "gp: out of memory for %ld points (the kernel matrix and its "
                    "kernel values need %.1f GiB)",
                    n, 2.0 * (double)n * (double)n * 8.0 / 1073741824.0);
  }
  memcpy(g->xraw, X, nd * sizeof *X);
  memcpy(g->yraw, y, (size_t)n * sizeof *y);
  for (long i = 0; i < n; i++) {
    for (int k = 0; k < d; k++) {
      if (!isfinite(X[i * d + k])) {
        kv_gp_free(g);
        return KV_ERROR(KV_ERR_INVALID, "gp: input %d of point %ld is not finite", k + 1, i + 1);
      }
    }
    if (!isfinite(y[i])) {
      kv_gp_free(g);
      return KV_ERROR(KV_ERR_INVALID, "gp: the output of point %ld is not finite", i + 1);
    }
    for (int k = 0; k < d; k++) {
      if (o->log_input[k] && !(X[i * d + k] > 0.0)) {
        kv_gp_free(g);
        return KV_ERROR(KV_ERR_INVALID,
                        "gp: input %d enters as its logarithm (surrogate.log_inputs) but point "
                        "%ld has %g <= 0",
                        k + 1, i + 1, X[i * d + k]);
      }
    }
  }
  for (int k = 0; k < d; k++) {
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < n; i++) {
      double v = o->log_input[k] ? log(X[i * d + k]) : X[i * d + k];
      lo = fmin(lo, v);
      hi = fmax(hi, v);
    }
    if (o->normalize) {
      if (!(hi > lo)) {
        kv_gp_free(g);
        return KV_ERROR(KV_ERR_INVALID,
                        "gp: input %d is constant (%g) in every point: it "
                        "carries no information and cannot be scaled; drop it",
                        k + 1, lo);
      }
      g->xoff[k] = lo;
      g->xscale[k] = hi - lo;
    } else {
      g->xscale[k] = 1.0;
    }
  }
  for (long i = 0; i < n; i++) {
    for (int k = 0; k < d; k++) {
      g->x[i * d + k] = scaled(g, k, X[i * d + k]);
    }
  }
  g->ymean = 0.0;
  g->ystd = 1.0;
  if (o->normalize) {
    double s = 0.0, ss = 0.0;
    for (long i = 0; i < n; i++) {
      s += y[i];
    }
    g->ymean = s / (double)n;
    for (long i = 0; i < n; i++) {
      ss += (y[i] - g->ymean) * (y[i] - g->ymean);
    }
    g->ystd = sqrt(ss / (double)n);
    if (!(g->ystd > 0.0)) {
      g->ystd = 1.0; /* constant output: like scikit-learn */
    }
  }
  for (long i = 0; i < n; i++) {
    g->y[i] = (y[i] - g->ymean) / g->ystd;
  }
  for (int k = 0; k < d; k++) {
    g->theta[k] = 0.0;
  }
  g->theta[d] = 0.0;
  g->theta[d + 1] = log(o->fit_noise ? (o->normalize ? 1e-2 : 1.0) : fmax(o->noise, 1e-300));
  if (o->trend > 0) {
    int rc = trend_create(g);
    if (rc != KV_OK) {
      kv_gp_free(g);
      return rc;
    }
  }
  *out = g;
  return KV_OK;
}

void kv_gp_free(kv_gp *g) {
  if (!g) {
    return;
  }
  free(g->xraw);
  free(g->yraw);
  free(g->x);
  free(g->y);
  free(g->z);
  free(g->L);
  free(g->F);
  free(g->alpha);
  free(g->xoff);
  free(g->xscale);
  free(g->theta);
  free(g->Ft);
  free(g->KiF);
  free(g->G);
  free(g->beta);
  kv_polybasis_free(&g->tb);
  free(g);
}

int kv_gp_dim(const kv_gp *g) {
  return g->d;
}
long kv_gp_size(const kv_gp *g) {
  return g->n;
}
int kv_gp_ntheta(const kv_gp *g) {
  return g->d + 2;
}
const kv_gp_options *kv_gp_opts(const kv_gp *g) {
  return &g->o;
}
const double *kv_gp_theta(const kv_gp *g) {
  return g->theta;
}
double kv_gp_lml_value(const kv_gp *g) {
  return g->lml;
}
double kv_gp_lml_data(const kv_gp *g) {
  return g->lml - (double)g->n * log(g->ystd);
}
long kv_gp_evals(const kv_gp *g) {
  return g->evals;
}
const double *kv_gp_x_raw(const kv_gp *g) {
  return g->xraw;
}

void kv_gp_hyper_data(const kv_gp *g, double *length, double *signal, double *noise) {
  for (int k = 0; k < g->d; k++) {
    length[k] = exp(g->theta[k]) * g->xscale[k];
  }
  *signal = exp(g->theta[g->d]) * g->ystd * g->ystd;
  *noise = exp(g->theta[g->d + 1]) * g->ystd * g->ystd;
}
const double *kv_gp_y_raw(const kv_gp *g) {
  return g->yraw;
}

/* ------------------------------------------------------------------ kernel */

/* f(r) and the factor h with d f / d log l_k = h * s_k, from r^2. */
static inline void kfun(kv_kernel k, double r2, double *f, double *h) {
  if (k == KV_KERNEL_SE) {
    *f = exp(-0.5 * r2);
    *h = *f;
  } else if (k == KV_KERNEL_MATERN32) {
    double r = sqrt(3.0 * r2), e = exp(-r);
    *f = (1.0 + r) * e;
    *h = 3.0 * e;
  } else {
    double r = sqrt(5.0 * r2), e = exp(-r);
    *f = (1.0 + r + r * r / 3.0) * e;
    *h = (5.0 / 3.0) * (1.0 + r) * e;
  }
}

static void scale_inputs(kv_gp *g, const double *th) {
  int d = g->d;
  double il[64];
  double *inv = d <= 64 ? il : malloc((size_t)d * sizeof *inv);
  for (int k = 0; k < d; k++) {
    inv[k] = exp(-th[k]);
  }
  for (long i = 0; i < g->n; i++) {
    for (int k = 0; k < d; k++) {
      g->z[i * d + k] = g->x[i * d + k] * inv[k];
    }
  }
  if (inv != il) {
    free(inv);
  }
}

static inline double dist2(const double *a, const double *b, int d) {
  double r2 = 0.0;
  for (int k = 0; k < d; k++) {
    double t = a[k] - b[k];
    r2 += t * t;
  }
  return r2;
}

/* K (lower triangle, column-major) for theta, with extra added to the diagonal. */
static void build(kv_gp *g, const double *th, double extra) {
  long n = g->n;
  int d = g->d;
  double s2 = exp(th[d]), n2 = exp(th[d + 1]);
  kv_kernel kk = g->o.kernel;
  /* The kernel values are kept in F: the gradient needs them after L has been overwritten. */
#pragma omp parallel for schedule(dynamic, 32)
  for (long j = 0; j < n; j++) {
    const double *zj = g->z + j * d;
    double *col = g->L + j * n, *fc = g->F + j * n;
    col[j] = s2 + n2 + g->o.alpha + extra;
    fc[j] = 1.0;
    for (long i = j + 1; i < n; i++) {
      double f, h;
      kfun(kk, dist2(g->z + i * d, zj, d), &f, &h);
      fc[i] = f;
      col[i] = s2 * f;
    }
  }
}

/* Factorise K(theta) into L (jitter escalation when needed), solve alpha, compute the LML. */
static int factorize(kv_gp *g, const double *th, int quiet) {
  long n = g->n;
  int d = g->d;
  scale_inputs(g, th);
  double s2 = exp(th[d]), n2 = exp(th[d + 1]);
  double base = (s2 + n2) * 1e-10, extra = 0.0;
  lapack_int info = 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    build(g, th, extra);
    info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, g->L, (lapack_int)n);
    /* OpenBLAS's dpotrf does not catch NaN or infinite pivots: check the diagonal here. */
    for (long i = 0; info == 0 && i < n; i++) {
      double p = g->L[i * n + i];
      if (!(p > 0.0) || !isfinite(p)) {
        info = (lapack_int)(i + 1);
      }
    }
    if (info == 0) {
      break;
    }
    extra = attempt == 0 ? base : extra * 10.0;
  }
  g->factored = 0;
  g->evals++;
  if (info != 0) {
    return KV_ERROR(KV_ERR_NUMERIC,
                    "gp: the kernel matrix is not positive definite (leading "
                    "minor %d) even with %.3g added to its diagonal; the data may repeat a point "
                    "with a fixed zero noise, or the length scales are far too long for the data",
                    (int)info, extra);
  }
  if (extra > 0.0 && !quiet && !g->warned) {
    kv_warn("gp: the kernel matrix needed a jitter of %.3g on its diagonal to be factorised "
            "(nearly repeated points?); results are those of the jittered matrix",
            extra);
    g->warned = 1;
  }
  g->jitter = extra;
  memcpy(g->alpha, g->y, (size_t)n * sizeof *g->y);
  LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, 1, g->L, (lapack_int)n, g->alpha,
                      (lapack_int)n);
  if (g->m > 0) {
    /* beta = G^-1 F^T K^-1 y, alpha = K^-1 (y - F beta): then F^T alpha = 0 and y^T alpha is
     * the GLS residual's quadratic form, so the LML below is the profile likelihood. */
    int m = g->m;
    memcpy(g->KiF, g->Ft, (size_t)n * (size_t)m * sizeof *g->Ft);
    LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, m, g->L, (lapack_int)n, g->KiF,
                        (lapack_int)n);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, m, (int)n, 1.0, g->Ft, (int)n, g->KiF,
                (int)n, 0.0, g->G, m);
    if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', m, g->G, m) != 0) {
      return KV_ERROR(KV_ERR_NUMERIC, "gp: the trend terms are not determined by the points "
                                      "(F^T K^-1 F is singular): lower surrogate.trend");
    }
    cblas_dgemv(CblasColMajor, CblasTrans, (int)n, m, 1.0, g->Ft, (int)n, g->alpha, 1, 0.0, g->beta,
                1);
    LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', m, 1, g->G, m, g->beta, m);
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, m, -1.0, g->KiF, (int)n, g->beta, 1, 1.0,
                g->alpha, 1);
  }
  double logdet = 0.0;
  for (long i = 0; i < n; i++) {
    logdet += log(g->L[i * n + i]);
  }
  g->lml = -0.5 * cblas_ddot((int)n, g->y, 1, g->alpha, 1) - logdet -
           0.5 * (double)n * log(2.0 * 3.14159265358979323846);
  memcpy(g->theta, th, ((size_t)d + 2) * sizeof *th);
  g->factored = 1;
  return KV_OK;
}

int kv_gp_set_theta(kv_gp *g, const double *theta) {
  return factorize(g, theta, 0);
}

int kv_gp_lml(kv_gp *g, const double *theta, double *lml, double *grad) {
  KV_CHECK(factorize(g, theta, 1));
  *lml = g->lml;
  if (!grad) {
    return KV_OK;
  }
  long n = g->n;
  int d = g->d;
  /* d LML / d theta = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta); K^-1 overwrites L. */
  lapack_int info = LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, g->L, (lapack_int)n);
  g->factored = 0;
  if (info != 0) {
    return KV_ERROR(KV_ERR_NUMERIC, "gp: inverting the kernel matrix failed (%d)", (int)info);
  }
  double s2 = exp(theta[d]), n2 = exp(theta[d + 1]);
  double gl[64] = {0};
  double *gls = d <= 64 ? gl : calloc((size_t)d, sizeof *gls);
  double gs = 0.0, trw = 0.0;
  kv_kernel kk = g->o.kernel;
  for (long j = 0; j < n; j++) {
    trw += g->alpha[j] * g->alpha[j] - g->L[j * n + j];
  }
  /* Per-column partial sums, added in column order afterwards: the result does not depend on
   * how the columns were shared among threads. */
  double *part = malloc((size_t)n * ((size_t)d + 1) * sizeof *part);
  if (!part) {
    if (gls != gl) {
      free(gls);
    }
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory");
  }
#pragma omp parallel for schedule(dynamic, 32)
  for (long j = 0; j < n; j++) {
    const double *zj = g->z + j * d;
    const double *col = g->L + j * n, *fc = g->F + j * n;
    double aj = g->alpha[j], lg[64] = {0}, lgs = 0.0;
    for (long i = j + 1; i < n; i++) {
      const double *zi = g->z + i * d;
      double w = g->alpha[i] * aj - col[i];
      double r2 = 0.0, sk[64];
      for (int k = 0; k < d; k++) {
        double t = zi[k] - zj[k];
        sk[k] = t * t;
        r2 += sk[k];
      }
      /* d f / d log l_k = h s_k, with h from the stored f (no second exp). */
      double f = fc[i], h;
      if (kk == KV_KERNEL_SE) {
        h = f;
      } else if (kk == KV_KERNEL_MATERN32) {
        h = 3.0 * f / (1.0 + sqrt(3.0 * r2));
      } else {
        double r = sqrt(5.0 * r2);
        h = (5.0 / 3.0) * (1.0 + r) * f / (1.0 + r + r * r / 3.0);
      }
      lgs += w * f;
      double wh = w * h;
      for (int k = 0; k < d; k++) {
        lg[k] += wh * sk[k];
      }
    }
    double *pj = part + j * (d + 1);
    pj[d] = lgs;
    for (int k = 0; k < d; k++) {
      pj[k] = lg[k];
    }
  }
  for (long j = 0; j < n; j++) {
    gs += part[j * (d + 1) + d];
    for (int k = 0; k < d; k++) {
      gls[k] += part[j * (d + 1) + k];
    }
  }
  free(part);
  /* Off-diagonal pairs count twice in the trace, times the 1/2: once. */
  for (int k = 0; k < d; k++) {
    grad[k] = s2 * gls[k];
  }
  grad[d] = s2 * (gs + 0.5 * trw);
  grad[d + 1] = 0.5 * n2 * trw;
  if (gls != gl) {
    free(gls);
  }
  return KV_OK;
}

/* ------------------------------------------------------------------ optimisation */

typedef struct {
  kv_gp *g;
  const double *lo, *hi;
  int p;
} problem;

/* f = -LML and its gradient; +inf where the matrix cannot be factorised. */
static double objective(void *ctx, const double *x, double *grad) {
  problem *pb = ctx;
  double lml;
  if (kv_gp_lml(pb->g, x, &lml, grad) != KV_OK || !isfinite(lml)) {
    return INFINITY;
  }
  const kv_gp_options *o = &pb->g->o;
  if (o->prior) {
    /* log p(theta) of the lognormal priors (constants dropped): MAP. */
    int d = pb->g->d;
    double ml = log(o->prior_length), sl = o->prior_length_sd;
    double mn = log(o->prior_noise), sn = o->prior_noise_sd;
    for (int k = 0; k < d; k++) {
      double z = (x[k] - ml) / sl;
      lml -= 0.5 * z * z;
      grad[k] -= z / sl;
    }
    if (o->fit_noise) {
      double z = (x[d + 1] - mn) / sn;
      lml -= 0.5 * z * z;
      grad[d + 1] -= z / sn;
    }
  }
  for (int i = 0; i < pb->p; i++) {
    grad[i] = -grad[i];
  }
  return -lml;
}

int kv_gp_fit(kv_gp *g) {
  int d = g->d, p = d + 2;
  double *lo = malloc(4 * (size_t)p * sizeof *lo);
  if (!lo) {
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory");
  }
  double *hi = lo + p, *x = hi + p, *best = x + p;
  for (int k = 0; k < d; k++) {
    lo[k] = log(g->o.length_lo);
    hi[k] = log(g->o.length_hi);
  }
  lo[d] = log(g->o.signal_lo);
  hi[d] = log(g->o.signal_hi);
  if (g->o.fit_noise) {
    lo[d + 1] = log(g->o.noise_lo);
    hi[d + 1] = log(g->o.noise_hi);
  } else {
    lo[d + 1] = hi[d + 1] = log(fmax(g->o.noise, 1e-300));
  }
  problem pb = {g, lo, hi, p};
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, g->o.seed);
  double fbest = INFINITY;
  g->evals = 0;
  for (int s = 0; s <= g->o.restarts; s++) {
    if (s == 0 && g->o.has_start) {
      /* A warm start (the hyperparameters of a fit on related data). */
      memcpy(x, g->o.start, (size_t)p * sizeof *x);
      if (!g->o.fit_noise) {
        x[d + 1] = lo[d + 1];
      }
    } else if (s == 0) {
      for (int k = 0; k < d; k++) {
        x[k] = 0.0; /* length 1 */
      }
      x[d] = 0.0; /* signal 1 */
      x[d + 1] = g->o.fit_noise ? log(g->o.normalize ? 1e-2 : 1.0) : lo[d + 1];
    } else {
      for (int i = 0; i < p; i++) {
        x[i] = lo[i] + gsl_rng_uniform(r) * (hi[i] - lo[i]);
      }
    }
    double f = INFINITY;
    int rc = g->o.nlopt ? kv_bfgs_minimize_nlopt(p, objective, &pb, lo, hi, x, g->o.max_iter, &f)
                        : kv_bfgs_minimize(p, objective, &pb, lo, hi, x, g->o.max_iter, &f);
    if (rc != KV_OK) {
      gsl_rng_free(r);
      free(lo);
      return rc;
    }
    kv_debug("gp: start %d ends at LML %.10g", s, -f);
    if (f < fbest) {
      fbest = f;
      memcpy(best, x, (size_t)p * sizeof *x);
    }
  }
  gsl_rng_free(r);
  int rc = isfinite(fbest)
               ? factorize(g, best, 0)
               : KV_ERROR(KV_ERR_NUMERIC, "gp: no start point gave a factorisable "
                                          "kernel matrix; check the data and surrogate.bounds");
  free(lo);
  return rc;
}

/* ------------------------------------------------------------------ prediction */

int kv_gp_predict(const kv_gp *g, long m, const double *Xs, double *mean, double *var,
                  int with_noise) {
  if (!g->factored) {
    return KV_ERROR(KV_ERR_INVALID, "gp: not fitted (no hyperparameters set)");
  }
  long n = g->n;
  int d = g->d, mt = g->m;
  const long B = 256;
  double s2 = exp(g->theta[d]), n2 = exp(g->theta[d + 1]);
  double *ks = malloc((size_t)n * (size_t)B * sizeof *ks);
  double *zs = malloc((size_t)B * (size_t)d * sizeof *zs);
  double *xs = malloc((size_t)B * (size_t)d * sizeof *xs);
  double *U = malloc(((size_t)B * (size_t)mt + 1) * sizeof *U);
  if (!ks || !zs || !xs || !U) {
    free(ks);
    free(zs);
    free(xs);
    free(U);
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory for prediction");
  }
  for (long b0 = 0; b0 < m; b0 += B) {
    long nb = m - b0 < B ? m - b0 : B;
    for (long b = 0; b < nb; b++) {
      for (int k = 0; k < d; k++) {
        xs[b * d + k] = scaled(g, k, Xs[(b0 + b) * d + k]);
        zs[b * d + k] = xs[b * d + k] * exp(-g->theta[k]);
      }
    }
    /* Column b of ks: k(x_i, x*_b) for every training point i. */
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
      for (long i = 0; i < n; i++) {
        double f, h;
        kfun(g->o.kernel, dist2(g->z + i * d, zs + b * d, d), &f, &h);
        ks[b * n + i] = s2 * f;
      }
    }
    cblas_dgemv(CblasColMajor, CblasTrans, (int)n, (int)nb, 1.0, ks, (int)n, g->alpha, 1, 0.0,
                mean + b0, 1);
    if (mt > 0) {
      /* U (nb x mt, row-major) = f(x*) ... then f(x*) - (K^-1 F)^T k* for the variance. */
      kv_polybasis_eval(&g->tb, nb, xs, U);
      cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, mt, 1.0, U, mt, g->beta, 1, 1.0, mean + b0,
                  1);
      if (var) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, mt, (int)n, -1.0, ks, (int)n,
                    g->KiF, (int)n, 1.0, U, mt);
      }
    }
    if (var) {
      cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)nb,
                  1.0, g->L, (int)n, ks, (int)n);
      for (long b = 0; b < nb; b++) {
        double v = s2 - cblas_ddot((int)n, ks + b * n, 1, ks + b * n, 1);
        if (mt > 0) {
          /* The trend's own uncertainty: u^T G^-1 u (universal kriging). */
          double *u = U + b * mt;
          cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, mt, g->G, mt, u, 1);
          v += cblas_ddot(mt, u, 1, u, 1);
        }
        v = v > 0.0 ? v : 0.0;
        var[b0 + b] = (v + (with_noise ? n2 : 0.0)) * g->ystd * g->ystd;
      }
    }
    for (long b = 0; b < nb; b++) {
      mean[b0 + b] = mean[b0 + b] * g->ystd + g->ymean;
    }
  }
  free(ks);
  free(zs);
  free(xs);
  free(U);
  return KV_OK;
}

int kv_gp_covariance(const kv_gp *g, long m, const double *Xs, double *mean, double *C) {
  if (!g->factored || m < 1) {
    return KV_ERROR(KV_ERR_INVALID, "gp: a covariance needs a fitted GP and points");
  }
  long n = g->n;
  int d = g->d;
  double s2 = exp(g->theta[d]), y2 = g->ystd * g->ystd;
  double *ks = malloc((size_t)n * (size_t)m * sizeof *ks);
  double *zs = malloc((size_t)m * (size_t)d * sizeof *zs);
  int rc = ks && zs ? kv_gp_predict(g, m, Xs, mean, NULL, 0)
                    : KV_ERROR(KV_ERR_NOMEM, "gp: out of memory for a %ld-point covariance", m);
  for (long b = 0; rc == KV_OK && b < m; b++) {
    for (int k = 0; k < d; k++) {
      zs[b * d + k] = scaled(g, k, Xs[b * d + k]) * exp(-g->theta[k]);
    }
  }
  for (long b = 0; rc == KV_OK && b < m; b++) {
    for (long i = 0; i < n; i++) {
      double f, h;
      kfun(g->o.kernel, dist2(g->z + i * d, zs + b * d, d), &f, &h);
      ks[b * n + i] = s2 * f;
    }
    for (long a = 0; a <= b; a++) {
      double f, h;
      kfun(g->o.kernel, dist2(zs + a * d, zs + b * d, d), &f, &h);
      C[a + b * m] = s2 * f;
    }
  }
  if (rc == KV_OK) {
    /* C = K** - (L^-1 K*)^T (L^-1 K*): the latent posterior, given the trend's coefficients. */
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)m,
                1.0, g->L, (int)n, ks, (int)n);
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)m, (int)n, -1.0, ks, (int)n, 1.0, C,
                (int)m);
    for (long b = 0; b < m; b++) {
      for (long a = 0; a <= b; a++) {
        C[a + b * m] *= y2;
        C[b + a * m] = C[a + b * m];
      }
    }
  }
  free(ks);
  free(zs);
  return rc;
}

int kv_gp_draw(const kv_gp *g, long m, const double *Xs, int ndraws, const double *z, double *out) {
  if (ndraws < 1) {
    return KV_ERROR(KV_ERR_INVALID, "gp: draws need at least one draw");
  }
  double *mean = malloc((size_t)m * sizeof *mean), *C = malloc((size_t)m * m * sizeof *C);
  double *F = malloc((size_t)m * m * sizeof *F), *w = malloc((size_t)m * sizeof *w);
  int rc = mean && C && F && w ? kv_gp_covariance(g, m, Xs, mean, C)
                               : KV_ERROR(KV_ERR_NOMEM, "gp: out of memory for draws");
  /* Rounding leaves C indefinite by ~1e-16 of the prior variance where the data pin the
   * function down: the jitter is measured against the prior variance, not C's own. */
  double top = exp(g->theta[g->d]) * g->ystd * g->ystd;
  lapack_int info = 1;
  /* Points close together make C singular to rounding: a jitter that grows until it factors. */
  for (double jit = 1e-10; rc == KV_OK && info != 0 && jit < 1e-2; jit *= 100.0) {
    memcpy(F, C, (size_t)m * m * sizeof *C);
    for (long a = 0; a < m; a++) {
      F[a + a * m] += jit * (top > 0.0 ? top : 1.0);
    }
    info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', (lapack_int)m, F, (lapack_int)m);
  }
  if (rc == KV_OK && info != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "gp: the posterior covariance of %ld points does not factor", m);
  }
  for (int t = 0; rc == KV_OK && t < ndraws; t++) {
    memcpy(w, z + (long)t * m, (size_t)m * sizeof *w);
    cblas_dtrmv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, F, (int)m, w, 1);
    for (long a = 0; a < m; a++) {
      out[(long)t * m + a] = mean[a] + w[a];
    }
  }
  free(mean);
  free(C);
  free(F);
  free(w);
  return rc;
}

int kv_gp_loo(const kv_gp *g, double *mean, double *var) {
  if (!g->factored) {
    return KV_ERROR(KV_ERR_INVALID, "gp: not fitted (no hyperparameters set)");
  }
  long n = g->n;
  int mt = g->m;
  double *Ki = malloc((size_t)n * (size_t)n * sizeof *Ki);
  double *W = malloc(((size_t)n * (size_t)mt + 1) * sizeof *W);
  if (!Ki || !W) {
    free(Ki);
    free(W);
    return KV_ERROR(KV_ERR_NOMEM, "gp: out of memory for leave-one-out (%ld points)", n);
  }
  memcpy(Ki, g->L, (size_t)n * (size_t)n * sizeof *Ki);
  lapack_int info = LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Ki, (lapack_int)n);
  if (info == 0 && mt > 0) {
    /* W = Lg^-1 (K^-1 F)^T (mt x n): column i's squared norm is (K^-1 F G^-1 F^T K^-1)_ii. */
    for (long i = 0; i < n; i++) {
      for (int j = 0; j < mt; j++) {
        W[i * mt + j] = g->KiF[i + j * n];
      }
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, mt, (int)n, 1.0,
                g->G, mt, W, mt);
  }
  for (long i = 0; info == 0 && i < n; i++) {
    double a = Ki[i + i * n];
    if (mt > 0) {
      a -= cblas_ddot(mt, W + i * mt, 1, W + i * mt, 1);
    }
    double r = g->alpha[i] / a;
    mean[i] = (g->y[i] - r) * g->ystd + g->ymean;
    if (var) {
      var[i] = g->ystd * g->ystd / a;
    }
  }
  free(Ki);
  free(W);
  if (info != 0) {
    return KV_ERROR(KV_ERR_NUMERIC, "gp: inverting the kernel matrix failed (%d)", (int)info);
  }
  return KV_OK;
}

int kv_gp_ntrend(const kv_gp *g) {
  return g->m;
}

const double *kv_gp_beta(const kv_gp *g) {
  return g->m ? g->beta : NULL;
}
