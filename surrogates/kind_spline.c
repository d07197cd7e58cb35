/* Kind "spline": a tensor-product B-spline surface with a smoothing penalty (P-splines, Eilers &
 * Marx 1996; the regularised tensor B-splines of SMT's RMTB) for up to KV_SPLINE_MAX_INPUTS
 * inputs. Each input gets a B-spline basis on uniform knots over its training range (GSL's
 * gsl_bspline; cubic, or quadratic where the tensor product would otherwise grow past
 * surrogate.max_terms), the surface is the sum of coefficients times products of one basis
 * function per input, and the penalty is the sum over inputs of squared second differences of
 * the coefficients along that input (third differences: a heavy penalty leaves a quadratic).
 * The number of basis functions per input (from 4 up to the budget, three sizes) and the
 * penalty's weight are chosen by leave-one-out in closed form. Least squares and the penalty's
 * weight by leave-one-out in closed form: surrogates/lsq.h (QR; variance of a prediction from the
 * regression). Outside the training range each input is held at the nearest end.
 *
 * Model file: "/spline" (attributes order, basis functions and range per input: datasets order,
 * nbasis, lo, hi; attribute lambda), "/spline/lsq", "/spline/y". */
#include <gsl/gsl_bspline.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/lsq.h"
#include "surrogates/surrogate_impl.h"

#define KV_SPLINE_MAX_INPUTS 5

extern const kv_surrogate_type kv_surrogate_spline;

typedef struct {
  int max_terms;    /* the largest tensor basis                                        */
  int knots;        /* basis functions per input (0: from max_terms and the points)    */
  double smoothing; /* < 0: by cross-validation                                        */
} spline_params;

typedef struct {
  kv_surrogate base;
  int d, order[KV_SPLINE_MAX_INPUTS], nb[KV_SPLINE_MAX_INPUTS];
  double lo[KV_SPLINE_MAX_INPUTS], hi[KV_SPLINE_MAX_INPUTS];
  int P; /* tensor basis size                                                        */
  double lambda;
  kv_lsq *lsq;
  long n;
  double *y;
} spline_model;

static const kv_config_key spline_keys[] = {
    {"surrogate.max_terms", KV_CFG_INT, "600", NULL, 16, 20000,
     "the largest tensor-product basis (products of one B-spline per input)"},
    {"surrogate.knots", KV_CFG_INT, "0", NULL, 0, 200,
     "B-spline basis functions per input (0: as many as max_terms and the points allow)"},
    {"surrogate.spline_smoothing", KV_CFG_STRING, "cv", NULL, KV_CFG_NORANGE,
     "weight of the second-difference penalty: cv (leave-one-out) or a number >= 0"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int params_create(const kv_config *cfg, void **params) {
  spline_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  long mt = 600, kn = 0;
  int rc = kv_config_get_int(cfg, "surrogate.max_terms", 16, 20000, &mt);
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.knots", 0, 200, &kn);
  }
  if (rc == KV_OK) {
    rc = kv_lsq_penalty_from_config(cfg, "surrogate.spline_smoothing", &p->smoothing);
  }
  p->max_terms = (int)mt;
  p->knots = (int)kn;
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void spline_free(kv_surrogate *s) {
  spline_model *m = (spline_model *)s;
  kv_lsq_free(m->lsq);
  free(m->y);
  kv_surrogate_header_free(s);
  free(m);
}

/* The tensor design of nx points (nx x P, row-major). */
static int design(const spline_model *m, long nx, const double *X, double *Phi) {
  gsl_bspline_workspace *w[KV_SPLINE_MAX_INPUTS] = {0};
  gsl_vector *B[KV_SPLINE_MAX_INPUTS] = {0};
  int rc = KV_OK;
  for (int k = 0; k < m->d; k++) {
    w[k] = gsl_bspline_alloc((size_t)m->order[k], (size_t)(m->nb[k] - m->order[k] + 2));
    B[k] = gsl_vector_alloc((size_t)m->nb[k]);
    if (!w[k] || !B[k]) {
      rc = KV_ERROR(KV_ERR_NOMEM, "spline: out of memory");
      break;
    }
    gsl_bspline_knots_uniform(m->lo[k], m->hi[k], w[k]);
  }
  for (long i = 0; rc == KV_OK && i < nx; i++) {
    for (int k = 0; k < m->d; k++) {
      /* Clamped to the range: GSL refuses points outside it. */
      double x = fmin(fmax(X[i * m->d + k], m->lo[k]), m->hi[k]);
      gsl_bspline_eval(x, B[k], w[k]);
    }
    double *row = Phi + i * m->P;
    for (int t = 0; t < m->P; t++) {
      /* Multi-index of term t, the last input fastest. */
      int rem = t;
      double v = 1.0;
      for (int k = m->d - 1; k >= 0; k--) {
        v *= gsl_vector_get(B[k], (size_t)(rem % m->nb[k]));
        rem /= m->nb[k];
      }
      row[t] = v;
    }
  }
  for (int k = 0; k < m->d; k++) {
    if (w[k]) {
      gsl_bspline_free(w[k]);
    }
    if (B[k]) {
      gsl_vector_free(B[k]);
    }
  }
  return rc;
}

/* The difference penalty along every input (q x P, row-major; *q rows): third differences of
 * the coefficients (second with 3 basis functions), so that a heavy penalty leaves a quadratic in
 * each input rather than a line. */
static double *penalty(const spline_model *m, int *q) {
  int rows = 0;
  for (int k = 0; k < m->d; k++) {
    int o = m->nb[k] >= 4 ? 3 : 2;
    rows += (m->nb[k] - o) * (m->P / m->nb[k]);
  }
  double *R = calloc((size_t)rows * (size_t)m->P + 1, sizeof *R);
  if (!R) {
    return NULL;
  }
  int r = 0;
  for (int k = 0; k < m->d; k++) {
    int stride = 1;
    for (int j = k + 1; j < m->d; j++) {
      stride *= m->nb[j];
    }
    int o = m->nb[k] >= 4 ? 3 : 2;
    static const double c3[4] = {-1.0, 3.0, -3.0, 1.0}, c2[3] = {1.0, -2.0, 1.0};
    for (int t = 0; t < m->P; t++) {
      int ik = (t / stride) % m->nb[k];
      if (ik + o < m->nb[k]) {
        for (int j = 0; j <= o; j++) {
          R[(size_t)r * m->P + t + j * stride] = o == 3 ? c3[j] : c2[j];
        }
        r++;
      }
    }
  }
  *q = r;
  return R;
}

static int spline_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  spline_params p = {600, 0, -1.0};
  if (params) {
    p = *(const spline_params *)params;
  }
  int d = ds->d;
  long n = ds->n;
  if (d > KV_SPLINE_MAX_INPUTS) {
    return KV_ERROR(KV_ERR_INVALID,
                    "spline: %d inputs; tensor-product splines take at most %d (use poly, rbf or "
                    "gp)",
                    d, KV_SPLINE_MAX_INPUTS);
  }
  kv_surrogate *s = NULL;
  KV_CHECK(
      kv_surrogate_alloc(&kv_surrogate_spline, sizeof(spline_model), d, ds->names, ds->yname, &s));
  spline_model *m = (spline_model *)s;
  m->d = d;
  /* Basis functions per input: up to the d-th root of the budget (at most 20 and no more than
   * the points justify), cubic when that leaves at least 4, else quadratic with 3; the size by
   * leave-one-out among 4, the largest and one between. */
  double budget = fmin((double)p.max_terms, 8.0 * (double)n);
  int top = (int)floor(pow(budget, 1.0 / d) + 1e-9);
  top = p.knots > 0 ? p.knots : (top > 20 ? 20 : top);
  if (top < 3) {
    kv_surrogate_free(s);
    return KV_ERROR(KV_ERR_CONFIG,
                    "surrogate.max_terms: %d terms allow fewer than 3 basis functions per input "
                    "in %d inputs",
                    p.max_terms, d);
  }
  int sizes[3] = {top < 4 ? top : 4, (4 + top) / 2, top}, rc = KV_OK;
  if (p.knots > 0) {
    sizes[0] = sizes[1] = sizes[2] = 0; /* the one size given: tried as the last */
    sizes[2] = p.knots;
  }
  m->y = malloc((size_t)n * sizeof *m->y);
  if (!m->y) {
    rc = KV_ERROR(KV_ERR_NOMEM, "spline: out of memory");
  }
  for (int c = 0; rc == KV_OK && c < 3; c++) {
    if (sizes[c] < 3 || (c > 0 && sizes[c] <= sizes[c - 1])) {
      continue;
    }
    spline_model trial = *m;
    trial.lsq = NULL;
    trial.P = 1;
    for (int k = 0; k < d; k++) {
      trial.order[k] = sizes[c] >= 4 ? 4 : 3;
      trial.nb[k] = sizes[c];
      kv_dataset_column_range(ds, k, &trial.lo[k], &trial.hi[k]);
      if (!(trial.hi[k] > trial.lo[k])) {
        trial.hi[k] = trial.lo[k] + 1.0;
      }
      trial.P *= sizes[c];
    }
    int q = 0;
    double *Phi = malloc((size_t)n * (size_t)trial.P * sizeof *Phi), *R = penalty(&trial, &q);
    rc = Phi && R ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "spline: out of memory");
    if (rc == KV_OK) {
      rc = design(&trial, n, ds->X, Phi);
    }
    if (rc == KV_OK) {
      rc = kv_lsq_fit_cv(n, trial.P, Phi, ds->y, q, R, p.smoothing, &trial.lsq, &trial.lambda);
      if (rc != KV_OK && rc != KV_ERR_NOMEM) {
        kv_error_clear();
        rc = KV_OK;
      }
    }
    free(Phi);
    free(R);
    if (trial.lsq) {
      kv_debug("spline: %d^%d terms: LOO RMSE %.6g", sizes[c], d, sqrt(kv_lsq_loo_mse(trial.lsq)));
    }
    if (trial.lsq && (!m->lsq || kv_lsq_loo_mse(trial.lsq) < kv_lsq_loo_mse(m->lsq))) {
      kv_lsq_free(m->lsq);
      *m = trial;
    } else {
      kv_lsq_free(trial.lsq);
    }
  }
  if (rc == KV_OK && !m->lsq) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "spline: no basis size could be fitted to %ld points", n);
  }
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  m->n = n;
  memcpy(m->y, ds->y, (size_t)n * sizeof *m->y);
  kv_info("spline: %d^%d %s B-spline terms, penalty %.3g: LOO RMSE %.6g", m->nb[0], d,
          m->order[0] == 4 ? "cubic" : "quadratic", m->lambda, sqrt(kv_lsq_loo_mse(m->lsq)));
  *out = s;
  return KV_OK;
}

static int spline_predict(const kv_surrogate *s, const double *X, long n, double *mean,
                          double *var) {
  const spline_model *m = (const spline_model *)s;
  const long B = 256;
  double *Phi = malloc((size_t)B * (size_t)m->P * sizeof *Phi);
  if (!Phi) {
    return KV_ERROR(KV_ERR_NOMEM, "spline: out of memory");
  }
  int rc = KV_OK;
  for (long b0 = 0; rc == KV_OK && b0 < n; b0 += B) {
    long nb = n - b0 < B ? n - b0 : B;
    rc = design(m, nb, X + b0 * m->d, Phi);
    if (rc == KV_OK) {
      rc = kv_lsq_predict(m->lsq, nb, Phi, mean + b0, var ? var + b0 : NULL);
    }
  }
  free(Phi);
  return rc;
}

static int spline_loo(const kv_surrogate *s, double *mean, double *var) {
  const spline_model *m = (const spline_model *)s;
  if (kv_lsq_size(m->lsq) != m->n) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "spline: a loaded model keeps no leave-one-out values");
  }
  kv_lsq_loo(m->lsq, mean, var);
  return KV_OK;
}

static int spline_save(const kv_surrogate *s, kv_h5_store *h) {
  const spline_model *m = (const spline_model *)s;
  double v[4][KV_SPLINE_MAX_INPUTS];
  for (int k = 0; k < m->d; k++) {
    v[0][k] = m->order[k];
    v[1][k] = m->nb[k];
    v[2][k] = m->lo[k];
    v[3][k] = m->hi[k];
  }
  long d = m->d;
  const char *names[4] = {"/spline/order", "/spline/nbasis", "/spline/lo", "/spline/hi"};
  for (int i = 0; i < 4; i++) {
    KV_CHECK(kv_h5_store_put(h, names[i], 1, &d, v[i]));
  }
  KV_CHECK(kv_h5_store_put(h, "/spline/y", 1, &m->n, m->y));
  KV_CHECK(kv_h5_store_put_number(h, "/spline", "lambda", m->lambda));
  return kv_lsq_save(m->lsq, h, "/spline/lsq");
}

static int spline_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_spline, sizeof(spline_model), 0, NULL, "", &s));
  spline_model *m = (spline_model *)s;
  const char *names[4] = {"/spline/order", "/spline/nbasis", "/spline/lo", "/spline/hi"};
  kv_h5_array a[4] = {{0}}, y = {0};
  int rc = KV_OK;
  for (int i = 0; i < 4; i++) {
    KV_TRY(kv_h5_store_get(h, names[i], &a[i]));
  }
  KV_TRY(kv_h5_store_get(h, "/spline/y", &y));
  KV_TRY(kv_h5_store_get_number(h, "/spline", "lambda", &m->lambda));
  KV_TRY(kv_lsq_load(h, path, "/spline/lsq", &m->lsq));
  m->d = (int)a[0].count;
  m->P = 1;
  for (int k = 0; k < m->d && m->d <= KV_SPLINE_MAX_INPUTS; k++) {
    m->order[k] = (int)a[0].data[k];
    m->nb[k] = (int)a[1].data[k];
    m->lo[k] = a[2].data[k];
    m->hi[k] = a[3].data[k];
    m->P *= m->nb[k];
    if (m->order[k] < 2 || m->order[k] > 6 || m->nb[k] < m->order[k] || m->nb[k] > 200) {
      m->P = -1;
      break;
    }
  }
  if (m->d < 1 || m->d > KV_SPLINE_MAX_INPUTS || m->P != kv_lsq_ncoef(m->lsq) ||
      a[1].count != m->d || a[2].count != m->d || a[3].count != m->d) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /spline is not a kelvin spline model", path);
    goto cleanup;
  }
  m->y = y.data;
  m->n = y.count;
  y.data = NULL;
cleanup:
  for (int i = 0; i < 4; i++) {
    free(a[i].data);
  }
  free(y.data);
  if (rc != KV_OK) {
    spline_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int spline_describe(const kv_surrogate *s, FILE *f) {
  const spline_model *m = (const spline_model *)s;
  fprintf(f, "spline: %d tensor-product B-spline terms (", m->P);
  for (int k = 0; k < m->d; k++) {
    fprintf(f, "%s%s: %d of order %d", k ? ", " : "", k < s->ninputs ? s->inputs[k] : "?", m->nb[k],
            m->order[k]);
  }
  fprintf(f, "), penalty %.4g, %.2f effective parameters\n", m->lambda, kv_lsq_dof(m->lsq));
  fprintf(f, "  noise sd %.6g, leave-one-out RMSE %.6g\n", sqrt(kv_lsq_sigma2(m->lsq)),
          sqrt(kv_lsq_loo_mse(m->lsq)));
  return KV_OK;
}

static int spline_training_y(const kv_surrogate *s, const double **y, long *n) {
  const spline_model *m = (const spline_model *)s;
  *y = m->y;
  *n = m->n;
  return KV_OK;
}

static int spline_warm_state(const kv_surrogate *s, double *state, int *n) {
  state[0] = ((const spline_model *)s)->nb[0];
  *n = 1;
  return KV_OK;
}

/* Refits use the basis size the fit on all the data chose. */
static int spline_warm_params(const void *params, const double *state, int n, void **out) {
  spline_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  *p = params ? *(const spline_params *)params : (spline_params){600, 0, -1.0};
  if (n == 1 && state[0] >= 3 && state[0] <= 200) {
    p->knots = (int)state[0];
  }
  *out = p;
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_spline = {
    .name = "spline",
    .summary = "tensor-product B-splines with a smoothing penalty, up to 5 inputs (SMT's RMTB)",
    .data = KV_DATA_SCALAR,
    .keys = {spline_keys, NULL, NULL},
    .params_create = params_create,
    .fit = spline_fit,
    .predict = spline_predict,
    .save = spline_save,
    .load = spline_load,
    .describe = spline_describe,
    .free = spline_free,
    .training_y = spline_training_y,
    .loo = spline_loo,
    .warm_state = spline_warm_state,
    .warm_params = spline_warm_params,
};
