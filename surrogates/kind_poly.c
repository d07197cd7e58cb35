/* Kind "poly": a polynomial response surface fitted by (ridge-penalised) least squares, as the
 * response surfaces of Dakota and SMT's QP. The terms are those of total degree <= degree
 * (surrogates/polybasis.h: Legendre products on the inputs' range), optionally interactions only
 * or with a degree per input. The degree (1 .. max_degree) and the ridge penalty are chosen by
 * leave-one-out cross-validation in closed form (surrogates/lsq.h) unless given; the variance of
 * a prediction is that of the regression, s2 (1 + phi^T (A^T A)^-1 phi).
 *
 * Model file: "/poly" (the basis: powers, offset, scale, degree; attribute lambda) and
 * "/poly/lsq" (coef, R, sigma2, dof, loo_mse), "/poly/y" (the training outputs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/lsq.h"
#include "surrogates/polybasis.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_poly;

enum { POLY_MAX_INPUTS = 64 };

typedef struct {
  int degree;      /* 0: chosen by cross-validation                           */
  int max_degree;  /* the largest degree tried                                 */
  double ridge;    /* < 0: chosen by cross-validation                          */
  int interaction; /* no input above degree 1 in a term                        */
  int ndegrees;    /* per-input limits given (0: none)                         */
  int degrees[POLY_MAX_INPUTS];
} poly_params;

typedef struct {
  kv_surrogate base;
  kv_polybasis basis;
  kv_lsq *lsq;
  double lambda;
  long n;
  double *y; /* training outputs (NULL after a load)                          */
} poly_model;

static const kv_config_key poly_keys[] = {
    {"surrogate.degree", KV_CFG_INT, "0", NULL, 0, 30,
     "total degree of the polynomial (0: chosen by cross-validation from 1 to max_degree)"},
    {"surrogate.max_degree", KV_CFG_INT, "20", NULL, 1, 30,
     "the largest degree cross-validation tries (degrees with as many terms as points are not)"},
    {"surrogate.ridge", KV_CFG_STRING, "cv", NULL, KV_CFG_NORANGE,
     "ridge penalty on the non-constant terms: cv (chosen by leave-one-out) or a number >= 0"},
    {"surrogate.interaction_only", KV_CFG_BOOL, "false", NULL, KV_CFG_NORANGE,
     "terms are products of distinct inputs (no input above degree 1)"},
    {"surrogate.degrees", KV_CFG_INT_LIST, NULL, NULL, 0, 30,
     "the largest degree of each input in a term, in the order of surrogate.inputs"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static void params_default(poly_params *p) {
  memset(p, 0, sizeof *p);
  p->max_degree = 20;
  p->ridge = -1.0;
}

static int params_create(const kv_config *cfg, void **params) {
  poly_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  params_default(p);
  long deg = 0, maxdeg = 20, lim[POLY_MAX_INPUTS];
  int rc = kv_config_get_int(cfg, "surrogate.degree", 0, 30, &deg);
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.max_degree", 1, 30, &maxdeg);
  }
  if (rc == KV_OK) {
    rc = kv_lsq_penalty_from_config(cfg, "surrogate.ridge", &p->ridge);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_bool(cfg, "surrogate.interaction_only", &p->interaction);
  }
  if (rc == KV_OK && kv_config_has(cfg, "surrogate.degrees")) {
    rc = kv_config_get_int_list(cfg, "surrogate.degrees", lim, POLY_MAX_INPUTS, &p->ndegrees);
    for (int j = 0; j < p->ndegrees; j++) {
      p->degrees[j] = (int)lim[j];
    }
  }
  p->degree = (int)deg;
  p->max_degree = (int)maxdeg;
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void poly_free(kv_surrogate *s) {
  poly_model *m = (poly_model *)s;
  kv_polybasis_free(&m->basis);
  kv_lsq_free(m->lsq);
  free(m->y);
  kv_surrogate_header_free(s);
  free(m);
}

/* Fit one degree: the basis, its design and the least-squares fit (ridge by CV or given). */
static int fit_degree(const kv_dataset *ds, const poly_params *p, int deg, const double *lo,
                      const double *hi, kv_polybasis *b, kv_lsq **l, double *lambda) {
  KV_CHECK(
      kv_polybasis_create(ds->d, deg, p->interaction, p->ndegrees ? p->degrees : NULL, lo, hi, b));
  int T = b->nterms;
  double *Phi = malloc((size_t)ds->n * (size_t)T * sizeof *Phi);
  double *R = calloc((size_t)T * (size_t)T, sizeof *R);
  int rc = Phi && R ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "poly: out of memory");
  if (rc == KV_OK) {
    kv_polybasis_eval(b, ds->n, ds->X, Phi);
    /* The penalty leaves the constant term alone: rows e_t for t >= 1. */
    for (int t = 1; t < T; t++) {
      R[(t - 1) * T + t] = 1.0;
    }
    rc = kv_lsq_fit_cv(ds->n, T, Phi, ds->y, T - 1, R, p->ridge, l, lambda);
  }
  free(Phi);
  free(R);
  if (rc != KV_OK) {
    kv_polybasis_free(b);
  }
  return rc;
}

static int poly_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  poly_params p;
  if (params) {
    p = *(const poly_params *)params;
  } else {
    params_default(&p);
  }
  int d = ds->d;
  long n = ds->n;
  if (p.ndegrees && p.ndegrees != d) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "surrogate.degrees: %d values for %d inputs (one limit per input, in "
                    "the order of surrogate.inputs)",
                    p.ndegrees, d);
  }
  double *lo = malloc(2 * (size_t)d * sizeof *lo);
  if (!lo) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  double *hi = lo + d;
  for (int j = 0; j < d; j++) {
    kv_dataset_column_range(ds, j, &lo[j], &hi[j]);
  }
  int dlo = p.degree ? p.degree : 1, dhi = p.degree ? p.degree : p.max_degree;
  if (p.degree) {
    long terms = kv_polybasis_count(d, p.degree);
    if (!p.interaction && !p.ndegrees && terms >= n) {
      free(lo);
      return KV_ERROR(KV_ERR_CONFIG,
                      "surrogate.degree: degree %d in %d inputs has %ld terms but the data "
                      "have %ld points: lower the degree (or leave it to cross-validation)",
                      p.degree, d, terms, n);
    }
  }
  kv_surrogate *s = NULL;
  int rc = kv_surrogate_alloc(&kv_surrogate_poly, sizeof(poly_model), d, ds->names, ds->yname, &s);
  poly_model *m = (poly_model *)s;
  int last_terms = 0, worse = 0;
  /* Degrees upward until one has as many terms as points, or three in a row do not improve the
   * leave-one-out error (odd and even degrees may alternate on symmetric functions). */
  for (int deg = dlo; rc == KV_OK && deg <= dhi && worse < 3; deg++) {
    kv_polybasis b;
    kv_lsq *l = NULL;
    double lam = 0.0;
    long terms = kv_polybasis_count(d, deg);
    if (!p.interaction && !p.ndegrees && terms >= n) {
      kv_debug("poly: degree %d has %ld terms for %ld points: not tried", deg, terms, n);
      break;
    }
    int frc = fit_degree(ds, &p, deg, lo, hi, &b, &l, &lam);
    if (frc == KV_ERR_NOMEM) {
      rc = frc;
      break;
    }
    if (frc != KV_OK) {
      kv_error_clear();
      continue;
    }
    if (b.nterms == last_terms) {
      /* The limits leave no new term at this degree: the same fit again. */
      kv_polybasis_free(&b);
      kv_lsq_free(l);
      continue;
    }
    last_terms = b.nterms;
    kv_debug("poly: degree %d, %d terms, lambda %.3g: LOO RMSE %.6g", deg, b.nterms, lam,
             sqrt(kv_lsq_loo_mse(l)));
    if (!m->lsq || kv_lsq_loo_mse(l) < kv_lsq_loo_mse(m->lsq)) {
      kv_polybasis_free(&m->basis);
      kv_lsq_free(m->lsq);
      m->basis = b;
      m->lsq = l;
      m->lambda = lam;
      worse = 0;
    } else {
      kv_polybasis_free(&b);
      kv_lsq_free(l);
      worse++;
    }
  }
  free(lo);
  if (rc == KV_OK && !m->lsq) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "poly: no degree from %d to %d could be fitted to %ld points in %d inputs", dlo,
                  dhi, n, d);
  }
  if (rc == KV_OK) {
    m->n = n;
    m->y = malloc((size_t)n * sizeof *m->y);
    rc = m->y ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  memcpy(m->y, ds->y, (size_t)n * sizeof *m->y);
  kv_info("poly: degree %d, %d terms, ridge %.3g: LOO RMSE %.6g", m->basis.degree, m->basis.nterms,
          m->lambda, sqrt(kv_lsq_loo_mse(m->lsq)));
  *out = s;
  return KV_OK;
}

static int poly_predict(const kv_surrogate *s, const double *X, long n, double *mean, double *var) {
  const poly_model *m = (const poly_model *)s;
  const long B = 512;
  double *Phi = malloc((size_t)B * (size_t)m->basis.nterms * sizeof *Phi);
  if (!Phi) {
    return KV_ERROR(KV_ERR_NOMEM, "poly: out of memory");
  }
  int rc = KV_OK;
  for (long b0 = 0; rc == KV_OK && b0 < n; b0 += B) {
    long nb = n - b0 < B ? n - b0 : B;
    kv_polybasis_eval(&m->basis, nb, X + b0 * m->basis.d, Phi);
    rc = kv_lsq_predict(m->lsq, nb, Phi, mean + b0, var ? var + b0 : NULL);
  }
  free(Phi);
  return rc;
}

/* Legendre products are orthogonal under the uniform measure on the box, with E[P_k(u)^2] = 1 /
 * (2k + 1): the variance splits term by term (a polynomial chaos expansion; Sudret 2008). */
static int poly_sobol(const kv_surrogate *s, double *S1, double *ST) {
  const poly_model *m = (const poly_model *)s;
  const kv_polybasis *b = &m->basis;
  const double *c = kv_lsq_coef(m->lsq);
  double V = 0.0;
  for (int j = 0; j < b->d; j++) {
    S1[j] = ST[j] = 0.0;
  }
  for (int t = 0; t < b->nterms; t++) {
    const int *pw = b->pow + (long)t * b->d;
    double e = c[t] * c[t];
    int nz = 0, last = 0;
    for (int j = 0; j < b->d; j++) {
      e /= 2.0 * pw[j] + 1.0;
      nz += pw[j] > 0;
      last = pw[j] > 0 ? j : last;
    }
    if (nz == 0) {
      continue;
    }
    V += e;
    S1[last] += nz == 1 ? e : 0.0;
    for (int j = 0; j < b->d; j++) {
      ST[j] += pw[j] > 0 ? e : 0.0;
    }
  }
  if (!(V > 0.0)) {
    return KV_ERROR(KV_ERR_NUMERIC, "poly: the polynomial is constant (no variance to share)");
  }
  for (int j = 0; j < b->d; j++) {
    S1[j] /= V;
    ST[j] /= V;
  }
  return KV_OK;
}

static int poly_loo(const kv_surrogate *s, double *mean, double *var) {
  const poly_model *m = (const poly_model *)s;
  if (!m->y || m->n != kv_lsq_size(m->lsq)) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "poly: a loaded model keeps no leave-one-out values");
  }
  kv_lsq_loo(m->lsq, mean, var);
  return KV_OK;
}

static int poly_save(const kv_surrogate *s, kv_h5_store *h) {
  const poly_model *m = (const poly_model *)s;
  KV_CHECK(kv_polybasis_save(&m->basis, h, "/poly"));
  KV_CHECK(kv_h5_store_put_number(h, "/poly", "lambda", m->lambda));
  if (m->y) {
    KV_CHECK(kv_h5_store_put(h, "/poly/y", 1, &m->n, m->y));
  }
  return kv_lsq_save(m->lsq, h, "/poly/lsq");
}

static int poly_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_poly, sizeof(poly_model), 0, NULL, "", &s));
  poly_model *m = (poly_model *)s;
  int rc = kv_polybasis_load(h, path, "/poly", &m->basis);
  if (rc == KV_OK) {
    rc = kv_h5_store_get_number(h, "/poly", "lambda", &m->lambda);
  }
  if (rc == KV_OK) {
    rc = kv_lsq_load(h, path, "/poly/lsq", &m->lsq);
  }
  if (rc == KV_OK && kv_h5_store_has(h, "/poly/y")) {
    kv_h5_array y = {0};
    rc = kv_h5_store_get(h, "/poly/y", &y);
    m->y = y.data;
    m->n = y.count;
  }
  if (rc == KV_OK && kv_lsq_ncoef(m->lsq) != m->basis.nterms) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /poly has %d terms but %d coefficients", path,
                  m->basis.nterms, kv_lsq_ncoef(m->lsq));
  }
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int poly_describe(const kv_surrogate *s, FILE *f) {
  const poly_model *m = (const poly_model *)s;
  if (m->basis.d != s->ninputs) {
    return KV_ERROR(KV_ERR_FORMAT, "poly: %d inputs named for a basis of %d", s->ninputs,
                    m->basis.d);
  }
  fprintf(f,
          "poly: degree %d, %d terms (Legendre on the inputs' range), ridge %.4g, %.2f effective "
          "parameters\n",
          m->basis.degree, m->basis.nterms, m->lambda, kv_lsq_dof(m->lsq));
  fprintf(f, "  noise sd %.6g, leave-one-out RMSE %.6g\n", sqrt(kv_lsq_sigma2(m->lsq)),
          sqrt(kv_lsq_loo_mse(m->lsq)));
  const double *c = kv_lsq_coef(m->lsq);
  int shown = m->basis.nterms < 12 ? m->basis.nterms : 12;
  for (int t = 0; t < shown; t++) {
    char term[256];
    kv_polybasis_term(&m->basis, t, s->inputs, term, sizeof term);
    fprintf(f, "  %-24s %14.6g\n", term, c[t]);
  }
  if (shown < m->basis.nterms) {
    fprintf(f, "  ... %d more terms\n", m->basis.nterms - shown);
  }
  return KV_OK;
}

static int poly_training_y(const kv_surrogate *s, const double **y, long *n) {
  const poly_model *m = (const poly_model *)s;
  if (!m->y) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "poly: a loaded model keeps no training outputs");
  }
  *y = m->y;
  *n = m->n;
  return KV_OK;
}

static int poly_warm_state(const kv_surrogate *s, double *state, int *n) {
  state[0] = ((const poly_model *)s)->basis.degree;
  *n = 1;
  return KV_OK;
}

/* Refits try degrees up to the one the fit on all the data chose (a fold may have too few points
 * for it; the ridge is chosen again: cheap). */
static int poly_warm_params(const void *params, const double *state, int n, void **out) {
  poly_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (params) {
    *p = *(const poly_params *)params;
  } else {
    params_default(p);
  }
  if (n == 1 && state[0] >= 1 && state[0] <= 30 && !p->degree) {
    p->max_degree = (int)state[0];
  }
  *out = p;
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_poly = {
    .name = "poly",
    .summary =
        "a polynomial response surface (least squares; degree and ridge by cross-validation)",
    .data = KV_DATA_SCALAR,
    .keys = {poly_keys, NULL, NULL},
    .params_create = params_create,
    .fit = poly_fit,
    .predict = poly_predict,
    .save = poly_save,
    .load = poly_load,
    .describe = poly_describe,
    .free = poly_free,
    .training_y = poly_training_y,
    .loo = poly_loo,
    .sobol = poly_sobol,
    .warm_state = poly_warm_state,
    .warm_params = poly_warm_params,
};
