/* Kind "gp": one Gaussian process on a scalar output (surrogates/gp.h: ARD kernels, ML-II or MAP
 * hyperparameters, a universal-kriging trend, log-warped inputs), optionally on a transformed
 * output (surrogates/transform.h: log or Box-Cox, with the mean, variance and intervals
 * back-transformed). Leave-one-out in closed form. Model file: group "/gp" (kv_gp_save) and, with
 * a transform, "/transform" (attributes kind, lambda; dataset y: the untransformed outputs). */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/gp.h"
#include "surrogates/surrogate_impl.h"
#include "surrogates/transform.h"

typedef struct {
  kv_gp_options gp;
  int transform;
} gp_params;

typedef struct {
  kv_surrogate base;
  kv_gp *gp;
  kv_transform tr;
  long n;
  double *y; /* the outputs in data units when transformed (else the GP's own)          */
} gp_model;

extern const kv_surrogate_type kv_surrogate_gp;

static const kv_config_key gp_kind_keys[] = {
    {"surrogate.transform", KV_CFG_ENUM, "none", KV_TRANSFORM_CHOICES, KV_CFG_NORANGE,
     "output transform for skewed positive outputs: the GP learns log(y) or Box-Cox(y)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int params_create(const kv_config *cfg, void **params) {
  gp_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_gp_options_from_config(cfg, &p->gp);
  if (rc == KV_OK) {
    rc = kv_config_get_enum(cfg, "surrogate.transform", KV_TRANSFORM_CHOICES, &p->transform);
  }
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void gp_free(kv_surrogate *s) {
  gp_model *g = (gp_model *)s;
  kv_gp_free(g->gp);
  free(g->y);
  kv_surrogate_header_free(s);
  free(g);
}

static int gp_new(int d, char *const *names, const char *output, gp_model **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_gp, sizeof(gp_model), d, names, output, &s));
  *out = (gp_model *)s;
  return KV_OK;
}

static int gp_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  gp_params p;
  if (params) {
    p = *(const gp_params *)params;
  } else {
    kv_gp_options_default(&p.gp);
    p.transform = KV_TRANSFORM_NONE;
  }
  KV_CHECK(kv_gp_log_inputs(&p.gp, ds->d, ds->names));
  gp_model *g = NULL;
  KV_CHECK(gp_new(ds->d, ds->names, ds->yname, &g));
  long n = ds->n;
  double *z = malloc(((size_t)n + 1) * sizeof *z);
  int rc =
      z ? kv_transform_fit(p.transform, n, ds->y, &g->tr) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    kv_transform_apply(&g->tr, n, ds->y, z);
    kv_info("fitting a GP (%s kernel%s%s) on %ld points with %d inputs",
            kv_kernel_name(p.gp.kernel), p.transform ? ", output transform " : "",
            p.transform ? kv_transform_name(p.transform) : "", n, ds->d);
    rc = kv_gp_train(n, ds->d, ds->X, z, &p.gp, &g->gp);
  }
  if (rc == KV_OK && p.transform != KV_TRANSFORM_NONE) {
    g->n = n;
    g->y = malloc((size_t)n * sizeof *g->y);
    rc = g->y ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK) {
      memcpy(g->y, ds->y, (size_t)n * sizeof *g->y);
    }
  }
  free(z);
  if (rc != KV_OK) {
    gp_free(&g->base);
    return rc;
  }
  *out = &g->base;
  return KV_OK;
}

/* Gaussian moments of the transformed output (n values in place) back to data units. */
static void back(const gp_model *g, long n, double *mean, double *var) {
  for (long i = 0; g->tr.kind != KV_TRANSFORM_NONE && i < n; i++) {
    double m, v;
    kv_transform_moments(&g->tr, mean[i], var ? var[i] : 0.0, &m, &v);
    mean[i] = m;
    if (var) {
      var[i] = v;
    }
  }
}

static int gp_predict(const kv_surrogate *s, const double *X, long n, double *mean, double *var) {
  const gp_model *g = (const gp_model *)s;
  if (g->tr.kind == KV_TRANSFORM_NONE) {
    return kv_gp_predict(g->gp, n, X, mean, var, 1);
  }
  double *v = var ? var : malloc(((size_t)n + 1) * sizeof *v);
  if (!v) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  /* The mean of a transformed output needs the variance even when it is not asked for. */
  int rc = kv_gp_predict(g->gp, n, X, mean, v, 1);
  if (rc == KV_OK) {
    back(g, n, mean, v);
  }
  if (v != var) {
    free(v);
  }
  return rc;
}

static int gp_covariance(const kv_surrogate *s, long m, const double *X, double *mean, double *C) {
  return kv_gp_covariance(((const gp_model *)s)->gp, m, X, mean, C);
}

/* Draws of the GP, taken back through the output transform value by value. */
static int gp_draw(const kv_surrogate *s, long m, const double *X, int ndraws, const double *z,
                   double *out) {
  const gp_model *g = (const gp_model *)s;
  KV_CHECK(kv_gp_draw(g->gp, m, X, ndraws, z, out));
  for (long i = 0; g->tr.kind != KV_TRANSFORM_NONE && i < (long)ndraws * m; i++) {
    out[i] = kv_transform_inverse(&g->tr, out[i]);
  }
  return KV_OK;
}

static int gp_interval(const kv_surrogate *s, const double *X, long n, double level, double *lo,
                       double *hi) {
  const gp_model *g = (const gp_model *)s;
  KV_CHECK(kv_gp_predict(g->gp, n, X, lo, hi, 1));
  double q = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level);
  for (long i = 0; i < n; i++) {
    double mu = lo[i], sd = sqrt(fmax(hi[i], 0.0));
    lo[i] = kv_transform_inverse(&g->tr, mu - q * sd);
    hi[i] = kv_transform_inverse(&g->tr, mu + q * sd);
  }
  return KV_OK;
}

static int gp_loo(const kv_surrogate *s, double *mean, double *var) {
  const gp_model *g = (const gp_model *)s;
  long n = kv_gp_size(g->gp);
  double *v = var ? var : malloc(((size_t)n + 1) * sizeof *v);
  if (!v) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_gp_loo(g->gp, mean, v);
  if (rc == KV_OK) {
    back(g, n, mean, v);
  }
  if (v != var) {
    free(v);
  }
  return rc;
}

static int gp_save(const kv_surrogate *s, kv_h5_store *h) {
  const gp_model *g = (const gp_model *)s;
  KV_CHECK(kv_gp_save(g->gp, h, "/gp"));
  if (g->tr.kind != KV_TRANSFORM_NONE) {
    KV_CHECK(kv_h5_store_put(h, "/transform/y", 1, &g->n, g->y));
    KV_CHECK(kv_h5_store_put_text(h, "/transform", "kind", kv_transform_name(g->tr.kind)));
    KV_CHECK(kv_h5_store_put_number(h, "/transform", "lambda", g->tr.lambda));
  }
  return KV_OK;
}

static int gp_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  gp_model *g = NULL;
  KV_CHECK(gp_new(0, NULL, "", &g));
  int rc = kv_gp_load(h, path, "/gp", &g->gp);
  if (rc == KV_OK && kv_h5_store_has(h, "/transform/y")) {
    char *kind = NULL;
    kv_h5_array y = {0};
    rc = kv_h5_store_get_text(h, "/transform", "kind", &kind);
    if (rc == KV_OK) {
      rc = kv_h5_store_get_number(h, "/transform", "lambda", &g->tr.lambda);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_get(h, "/transform/y", &y);
    }
    g->tr.kind = kind && strcmp(kind, "log") == 0      ? KV_TRANSFORM_LOG
                 : kind && strcmp(kind, "boxcox") == 0 ? KV_TRANSFORM_BOXCOX
                                                       : -1;
    if (rc == KV_OK && (g->tr.kind < 0 || y.count != kv_gp_size(g->gp))) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "'%s': /transform is not a log or boxcox transform of %ld outputs", path,
                    kv_gp_size(g->gp));
    }
    g->y = y.data;
    g->n = y.count;
    free(kind);
  }
  if (rc != KV_OK) {
    gp_free(&g->base);
    return rc;
  }
  *out = &g->base;
  return KV_OK;
}

static int gp_describe(const kv_surrogate *s, FILE *f) {
  const gp_model *g = (const gp_model *)s;
  if (kv_gp_dim(g->gp) != s->ninputs) {
    return KV_ERROR(KV_ERR_FORMAT, "gp: %d inputs named for a GP of %d", s->ninputs,
                    kv_gp_dim(g->gp));
  }
  kv_gp_describe(g->gp, s->inputs, "gp", f);
  if (g->tr.kind == KV_TRANSFORM_LOG) {
    fprintf(f, "  output transform: log (the GP's variances and LML are those of log %s)\n",
            s->output);
  } else if (g->tr.kind == KV_TRANSFORM_BOXCOX) {
    fprintf(f,
            "  output transform: Box-Cox, lambda %.6g (the GP's variances and LML are of the "
            "transformed output)\n",
            g->tr.lambda);
  }
  return KV_OK;
}

static int gp_training_y(const kv_surrogate *s, const double **y, long *n) {
  const gp_model *g = (const gp_model *)s;
  *y = g->y ? g->y : kv_gp_y_raw(g->gp);
  *n = kv_gp_size(g->gp);
  return KV_OK;
}

static int gp_warm_state(const kv_surrogate *s, double *state, int *n) {
  const gp_model *g = (const gp_model *)s;
  *n = kv_gp_ntheta(g->gp);
  if (*n > KV_WARM_MAX) {
    *n = 0;
    return KV_OK;
  }
  memcpy(state, kv_gp_theta(g->gp), (size_t)*n * sizeof *state);
  return KV_OK;
}

/* One start, from the hyperparameters of the fit on all the data. */
static int gp_warm_params(const void *params, const double *state, int n, void **out) {
  gp_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  if (params) {
    *p = *(const gp_params *)params;
  } else {
    kv_gp_options_default(&p->gp);
    p->transform = KV_TRANSFORM_NONE;
  }
  if (n > 0 && n <= 66) {
    p->gp.restarts = 0;
    p->gp.has_start = 1;
    memcpy(p->gp.start, state, (size_t)n * sizeof *state);
  }
  *out = p;
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_gp = {
    .name = "gp",
    .summary =
        "a Gaussian process on one scalar output (ARD kernel, ML-II or MAP, trend, transform)",
    .data = KV_DATA_SCALAR,
    .keys = {kv_gp_keys, gp_kind_keys, NULL},
    .params_create = params_create,
    .fit = gp_fit,
    .predict = gp_predict,
    .draw = gp_draw,
    .covariance = gp_covariance,
    .save = gp_save,
    .load = gp_load,
    .describe = gp_describe,
    .free = gp_free,
    .training_y = gp_training_y,
    .loo = gp_loo,
    .interval = gp_interval,
    .warm_state = gp_warm_state,
    .warm_params = gp_warm_params,
};
