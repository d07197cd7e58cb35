/* Kind "gp": one Gaussian process on a scalar output (surrogates/gp.h). Model file: group "/gp"
 * (kv_gp_save). */
#include <stdlib.h>

#include "core/log.h"
#include "core/status.h"
#include "surrogates/gp.h"
#include "surrogates/surrogate_impl.h"

typedef struct {
  kv_surrogate base;
  kv_gp *gp;
} gp_model;

extern const kv_surrogate_type kv_surrogate_gp;

static int params_create(const kv_config *cfg, void **params) {
  kv_gp_options *o = malloc(sizeof *o);
  if (!o) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_gp_options_from_config(cfg, o);
  if (rc != KV_OK) {
    free(o);
    return rc;
  }
  *params = o;
  return KV_OK;
}

static void gp_free(kv_surrogate *s) {
  gp_model *g = (gp_model *)s;
  kv_gp_free(g->gp);
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
  kv_gp_options o;
  if (params) {
    o = *(const kv_gp_options *)params;
  } else {
    kv_gp_options_default(&o);
  }
  gp_model *g = NULL;
  KV_CHECK(gp_new(ds->d, ds->names, ds->yname, &g));
  kv_info("fitting a GP (%s kernel) on %ld points with %d inputs", kv_kernel_name(o.kernel), ds->n,
          ds->d);
  int rc = kv_gp_train(ds->n, ds->d, ds->X, ds->y, &o, &g->gp);
  if (rc != KV_OK) {
    gp_free(&g->base);
    return rc;
  }
  *out = &g->base;
  return KV_OK;
}

static int gp_predict(const kv_surrogate *s, const double *X, long n, double *mean, double *var) {
  return kv_gp_predict(((const gp_model *)s)->gp, n, X, mean, var, 1);
}

static int gp_save(const kv_surrogate *s, kv_h5_store *h) {
  return kv_gp_save(((const gp_model *)s)->gp, h, "/gp");
}

static int gp_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  gp_model *g = NULL;
  KV_CHECK(gp_new(0, NULL, "", &g));
  int rc = kv_gp_load(h, path, "/gp", &g->gp);
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
  return KV_OK;
}

static int gp_training_y(const kv_surrogate *s, const double **y, long *n) {
  const gp_model *g = (const gp_model *)s;
  *y = kv_gp_y_raw(g->gp);
  *n = kv_gp_size(g->gp);
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_gp = {
    .name = "gp",
    .summary = "a Gaussian process on one scalar output (ARD kernel, ML-II hyperparameters)",
    .data = KV_DATA_SCALAR,
    .keys = {kv_gp_keys, NULL, NULL},
    .params_create = params_create,
    .fit = gp_fit,
    .predict = gp_predict,
    .save = gp_save,
    .load = gp_load,
    .describe = gp_describe,
    .free = gp_free,
    .training_y = gp_training_y,
};
