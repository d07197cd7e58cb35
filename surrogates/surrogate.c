/* The surrogate interface: what every kind shares (keys, the model file's common part, dispatch
 * through the function table). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "surrogates/surrogate_impl.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/version.h"
#include "surrogates/cv.h"

const kv_config_key kv_surrogate_keys[] = {
    {"surrogate.kind", KV_CFG_ENUM, NULL, kv_surrogate_choices, KV_CFG_NORANGE,
     "what to train (one kind per file of surrogates/: kelvin fit --help lists them)"},
    {"surrogate.model", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "model file to write (default for sweep data: <dir>/model_<kind>.h5)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

int kv_surrogate_type_of(const kv_config *cfg, const kv_surrogate_type **out) {
  const char *kind = kv_config_value(cfg, "surrogate.kind");
  *out = kind ? kv_surrogate_type_find(kind) : NULL;
  if (!*out) {
    return kv_config_errorf(cfg, "surrogate.kind", "expected one of %s", kv_surrogate_choices);
  }
  return KV_OK;
}

int kv_surrogate_key_tables(const kv_config *cfg, const kv_config_key **tables) {
  int n = 0;
  tables[n++] = kv_surrogate_keys;
  tables[n++] = kv_dataset_keys;
  tables[n++] = kv_cv_keys;
  const char *kind = kv_config_value(cfg, "surrogate.kind");
  const kv_surrogate_type *t = kind ? kv_surrogate_type_find(kind) : NULL;
  for (int i = 0; t && (i == 0 || (t->selects && kv_surrogate_type_at(i - 1))); i++) {
    /* A selecting kind takes the keys of the kinds it selects from, each table once. */
    const kv_surrogate_type *o = i == 0 ? t : kv_surrogate_type_at(i - 1);
    if (i > 0 && (o == t || !(o->data & t->data))) {
      continue;
    }
    for (int k = 0; k < 3 && o->keys[k]; k++) {
      int seen = 0;
      for (int j = 0; j < n; j++) {
        seen |= tables[j] == o->keys[k];
      }
      if (!seen && n < KV_SURROGATE_MAX_TABLES) {
        tables[n++] = o->keys[k];
      }
    }
  }
  tables[n] = NULL;
  /* An unknown kind is refused by the enum of surrogate.kind itself. */
  return KV_OK;
}

/* 1 when key is in one of the kind's tables (a selecting kind: or of a kind it selects from). */
static int kind_has_key(const kv_surrogate_type *t, const char *key) {
  const kv_config_key *mine[4] = {t->keys[0], t->keys[1], t->keys[2], NULL};
  if (kv_config_key_find(mine, key)) {
    return 1;
  }
  for (int i = 0; t->selects && kv_surrogate_type_at(i); i++) {
    const kv_surrogate_type *o = kv_surrogate_type_at(i);
    if (o != t && (o->data & t->data) && !o->selects && kind_has_key(o, key)) {
      return 1;
    }
  }
  return 0;
}

int kv_surrogate_check_kind_keys(const kv_config *cfg) {
  const char *kind = kv_config_value(cfg, "surrogate.kind");
  const kv_surrogate_type *t = kind ? kv_surrogate_type_find(kind) : NULL;
  if (!t) {
    return KV_OK; /* the enum of surrogate.kind reports it */
  }
  for (int i = 0; kv_surrogate_type_at(i); i++) {
    const kv_surrogate_type *o = kv_surrogate_type_at(i);
    for (int k = 0; k < 3 && o->keys[k]; k++) {
      for (const kv_config_key *e = o->keys[k]; e->key; e++) {
        if (!kv_config_has(cfg, e->key) || kind_has_key(t, e->key)) {
          continue;
        }
        char owners[256] = "";
        for (int j = 0; kv_surrogate_type_at(j); j++) {
          if (kind_has_key(kv_surrogate_type_at(j), e->key)) {
            size_t len = strlen(owners);
            snprintf(owners + len, sizeof owners - len, "%s%s", len ? ", " : "",
                     kv_surrogate_type_at(j)->name);
          }
        }
        return kv_config_errorf(cfg, e->key, "not a key of kind = %s (it belongs to %s)", t->name,
                                owners);
      }
    }
  }
  return KV_OK;
}

int kv_surrogate_header_init(kv_surrogate *s, const kv_surrogate_type *t, int ninputs,
                             char *const *inputs, const char *output) {
  s->type = t;
  s->inputs = calloc((size_t)ninputs + 1, sizeof *s->inputs);
  if (!s->inputs) {
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  s->ninputs = ninputs;
  for (int i = 0; i < ninputs; i++) {
    if (!(s->inputs[i] = strdup(inputs[i]))) {
      return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
    }
  }
  snprintf(s->output, sizeof s->output, "%s", output ? output : "");
  return KV_OK;
}

int kv_surrogate_alloc(const kv_surrogate_type *t, size_t size, int ninputs, char *const *inputs,
                       const char *output, kv_surrogate **out) {
  *out = NULL;
  kv_surrogate *s = calloc(1, size);
  if (!s) {
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  int rc = kv_surrogate_header_init(s, t, ninputs, inputs, output);
  if (rc != KV_OK) {
    kv_surrogate_header_free(s);
    free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

void kv_surrogate_header_free(kv_surrogate *s) {
  if (!s) {
    return;
  }
  for (int i = 0; s->inputs && i < s->ninputs; i++) {
    free(s->inputs[i]);
  }
  free(s->inputs);
  free(s->config);
  free(s->leaderboard);
  free(s->box);
  s->box = NULL;
  s->inputs = NULL;
  s->config = NULL;
  s->leaderboard = NULL;
}

void kv_surrogate_free(kv_surrogate *s) {
  if (s) {
    s->type->free(s);
  }
}

int kv_surrogate_params_create(const kv_surrogate_type *t, const kv_config *cfg, void **params) {
  *params = NULL;
  return t->params_create ? t->params_create(cfg, params) : KV_OK;
}

void kv_surrogate_params_free(const kv_surrogate_type *t, void *params) {
  if (params && t->params_free) {
    t->params_free(params);
  } else {
    free(params); /* a plain struct (the usual case) */
  }
}

/* The training box of a kind that learns from inputs: what predictions outside of are flagged. */
static int set_box(kv_surrogate *s, const kv_dataset *ds) {
  free(s->box);
  s->box = NULL;
  if (!ds->lo || !ds->hi || ds->d != s->ninputs || ds->d < 1) {
    return KV_OK;
  }
  if (!(s->box = malloc(2 * (size_t)ds->d * sizeof *s->box))) {
    return KV_ERR_NOMEM;
  }
  memcpy(s->box, ds->lo, (size_t)ds->d * sizeof *s->box);
  memcpy(s->box + ds->d, ds->hi, (size_t)ds->d * sizeof *s->box);
  return KV_OK;
}

int kv_surrogate_outside(const kv_surrogate *s, long m, const double *X, char *flags) {
  int d = s->ninputs, count = 0;
  for (long i = 0; i < m; i++) {
    int out = 0;
    for (int k = 0; s->box && k < d; k++) {
      /* A relative slack so that a point typed with fewer digits than it was stored is in. */
      double lo = s->box[k], hi = s->box[d + k], tol = 1e-9 * (fabs(lo) + fabs(hi) + 1e-300);
      out |= X[i * d + k] < lo - tol || X[i * d + k] > hi + tol;
    }
    if (flags) {
      flags[i] = (char)out;
    }
    count += out;
  }
  return count;
}

int kv_surrogate_sobol(const kv_surrogate *s, double *S1, double *ST) {
  if (!s->type->sobol) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "surrogate %s: no closed-form Sobol indices",
                    s->type->name);
  }
  return s->type->sobol(s, S1, ST);
}

int kv_surrogate_covariance(const kv_surrogate *s, long m, const double *X, double *mean,
                            double *C) {
  if (!s->type->covariance) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "surrogate %s: no posterior covariance", s->type->name);
  }
  return s->type->covariance(s, m, X, mean, C);
}

int kv_surrogate_draw(const kv_surrogate *s, long m, const double *X, int ndraws, const double *z,
                      double *out) {
  if (!s->type->draw) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "surrogate %s: no posterior draws", s->type->name);
  }
  return s->type->draw(s, m, X, ndraws, z, out);
}

const double *kv_surrogate_box(const kv_surrogate *s) {
  return s->box;
}

static int check_finite_fit(kv_surrogate *s, const kv_dataset *ds);

int kv_surrogate_fit(const kv_surrogate_type *t, const kv_dataset *ds, const void *params,
                     const char *config, kv_surrogate **out) {
  *out = NULL;
  if (!(ds->kind & t->data)) {
    return KV_ERROR(KV_ERR_INVALID, "surrogate %s: not the kind of data it trains on", t->name);
  }
  kv_surrogate *s = NULL;
  KV_CHECK(t->fit(ds, params, &s));
  if ((config && !(s->config = strdup(config))) || set_box(s, ds) != KV_OK) {
    kv_surrogate_free(s);
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  int rc = check_finite_fit(s, ds);
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_surrogate_fit_comm(MPI_Comm comm, const kv_surrogate_type *t, const kv_dataset *ds,
                          const void *params, const char *config, kv_surrogate **out) {
  if (!t->fit_parallel) {
    return kv_surrogate_fit(t, ds, params, config, out);
  }
  *out = NULL;
  if (!(ds->kind & t->data)) {
    return KV_ERROR(KV_ERR_INVALID, "surrogate %s: not the kind of data it trains on", t->name);
  }
  kv_surrogate *s = NULL;
  KV_CHECK(t->fit_parallel(comm, ds, params, &s));
  if ((config && !s->config && !(s->config = strdup(config))) || set_box(s, ds) != KV_OK) {
    kv_surrogate_free(s);
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  int rc = check_finite_fit(s, ds); /* the same model on every rank: the same answer */
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

/* The cross-validation scores as attributes of /cv. */
static int save_cv(const kv_surrogate *s, kv_h5_store *h) {
  if (s->leaderboard) {
    KV_CHECK(kv_h5_store_put_text(h, "/", "leaderboard", s->leaderboard));
  }
  if (!s->has_cv) {
    return KV_OK;
  }
  const kv_cv_scores *c = &s->cv;
  long one = 1;
  double n = (double)c->n;
  KV_CHECK(kv_h5_store_put(h, "/cv/n", 1, &one, &n));
  KV_CHECK(kv_h5_store_put_text(h, "/cv", "method", c->method));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "folds", c->folds));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "mae", c->mae));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "rmse", c->rmse));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "q2", c->q2));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "max_abs", c->max_abs));
  KV_CHECK(kv_h5_store_put_number(h, "/cv", "coverage95", c->coverage95));
  return KV_OK;
}

static void load_cv(kv_h5_store *h, kv_surrogate *s) {
  char *text = NULL;
  if (kv_h5_store_get_text(h, "/", "leaderboard", &text) == KV_OK) {
    s->leaderboard = text;
  }
  kv_error_clear();
  if (!kv_h5_store_has(h, "/cv/n")) {
    return;
  }
  kv_cv_scores c;
  memset(&c, 0, sizeof c);
  kv_h5_array a = {0};
  double folds = 0.0;
  int ok = kv_h5_store_get(h, "/cv/n", &a) == KV_OK && a.count == 1 &&
           kv_h5_store_get_text(h, "/cv", "method", &text) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "folds", &folds) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "mae", &c.mae) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "rmse", &c.rmse) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "q2", &c.q2) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "max_abs", &c.max_abs) == KV_OK &&
           kv_h5_store_get_number(h, "/cv", "coverage95", &c.coverage95) == KV_OK;
  if (ok) {
    c.n = (long)a.data[0];
    c.folds = (int)folds;
    snprintf(c.method, sizeof c.method, "%s", text);
    s->cv = c;
    s->has_cv = 1;
  }
  free(a.data);
  free(text);
  kv_error_clear();
}

int kv_surrogate_save(const kv_surrogate *s, const char *path) {
  kv_h5_store *h;
  KV_CHECK(kv_h5_store_create(path, &h));
  char ins[4096];
  ins[0] = '\0';
  for (int i = 0; i < s->ninputs; i++) {
    size_t len = strlen(ins);
    snprintf(ins + len, sizeof ins - len, "%s%s", i ? "," : "", s->inputs[i]);
  }
  int rc = KV_OK;
  KV_TRY(kv_h5_store_put_text(h, "/", "title", "kelvin surrogate model"));
  KV_TRY(kv_h5_store_put_text(h, "/", "kelvin_version", KV_VERSION));
  KV_TRY(kv_h5_store_put_text(h, "/", "kind", s->type->name));
  KV_TRY(kv_h5_store_put_text(h, "/", "inputs", ins));
  KV_TRY(kv_h5_store_put_text(h, "/", "output", s->output));
  KV_TRY(kv_h5_store_put_text(h, "/", "config", s->config ? s->config : ""));
  if (s->box) {
    long dims[2] = {2, s->ninputs};
    KV_TRY(kv_h5_store_put(h, "/training_box", 2, dims, s->box));
    KV_TRY(kv_h5_store_put_text(h, "/training_box", "long_name",
                                "minimum (row 0) and maximum (row 1) of each training input"));
  }
  KV_TRY(s->type->save(s, h));
  KV_TRY(save_cv(s, h));
cleanup:;
  int rc2 = kv_h5_store_close(h, rc == KV_OK);
  return rc != KV_OK ? rc : rc2;
}

/* The inputs as one comma-separated text. */
static void join_inputs(const kv_surrogate *s, char *ins, size_t n) {
  ins[0] = '\0';
  for (int i = 0; i < s->ninputs; i++) {
    size_t len = strlen(ins);
    snprintf(ins + len, n - len, "%s%s", i ? "," : "", s->inputs[i]);
  }
}

int kv_surrogate_save_part(const kv_surrogate *s, kv_h5_store *h, const char *grp) {
  char ins[4096];
  join_inputs(s, ins, sizeof ins);
  kv_h5_store_set_prefix(h, grp);
  int rc = KV_OK;
  KV_TRY(kv_h5_store_put_text(h, "/", "kind", s->type->name));
  KV_TRY(kv_h5_store_put_text(h, "/", "inputs", ins));
  KV_TRY(kv_h5_store_put_text(h, "/", "output", s->output));
  KV_TRY(s->type->save(s, h));
cleanup:
  kv_h5_store_set_prefix(h, NULL);
  return rc;
}

int kv_surrogate_load_part(kv_h5_store *h, const char *path, const char *grp, kv_surrogate **out) {
  *out = NULL;
  char *kind = NULL, *ins = NULL, *output = NULL;
  kv_surrogate *s = NULL;
  kv_h5_store_set_prefix(h, grp);
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get_text(h, "/", "kind", &kind));
  KV_TRY(kv_h5_store_get_text(h, "/", "inputs", &ins));
  KV_TRY(kv_h5_store_get_text(h, "/", "output", &output));
  const kv_surrogate_type *t = kv_surrogate_type_find(kind);
  if (!t) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has unknown kind '%s'", path, grp, kind);
    goto cleanup;
  }
  KV_TRY(t->load(h, path, &s));
  kv_surrogate_header_free(s);
  char *names[256];
  int ni = 0;
  char *save = NULL;
  for (char *tok = strtok_r(ins, ",", &save); tok && ni < 256; tok = strtok_r(NULL, ",", &save)) {
    names[ni++] = tok;
  }
  KV_TRY(kv_surrogate_header_init(s, t, ni, names, output));
cleanup:
  kv_h5_store_set_prefix(h, NULL);
  free(kind);
  free(ins);
  free(output);
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_surrogate_load(const char *path, kv_surrogate **out) {
  *out = NULL;
  kv_h5_store *h;
  KV_CHECK(kv_h5_store_open(path, &h));
  char *kind = NULL, *ins = NULL, *output = NULL, *config = NULL, *title = NULL;
  kv_surrogate *s = NULL;
  const kv_surrogate_type *t = NULL;
  int rc = kv_h5_store_get_text(h, "/", "title", &title);
  if (rc != KV_OK || strcmp(title, "kelvin surrogate model") != 0) {
    /* A POD basis of older kelvin versions has no title: its kind says what it is. */
    if (!(kv_h5_store_get_text(h, "/", "kind", &kind) == KV_OK && kv_surrogate_type_find(kind))) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s' is not a kelvin surrogate model (made by kelvin fit)",
                    path);
      goto cleanup;
    }
    kv_error_clear();
    rc = KV_OK;
  }
  if (!kind) {
    KV_TRY(kv_h5_store_get_text(h, "/", "kind", &kind));
  }
  t = kv_surrogate_type_find(kind);
  if (!t) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': unknown surrogate kind '%s' (this kelvin knows %s)", path,
                  kind, kv_surrogate_choices);
    goto cleanup;
  }
  if (kv_h5_store_get_text(h, "/", "inputs", &ins) != KV_OK) {
    ins = strdup("");
  }
  if (kv_h5_store_get_text(h, "/", "output", &output) != KV_OK) {
    output = strdup("");
  }
  if (kv_h5_store_get_text(h, "/", "config", &config) != KV_OK) {
    config = NULL;
  }
  kv_error_clear();
  KV_TRY(t->load(h, path, &s));
  /* The header from the root attributes: what every kind shares. */
  kv_surrogate_header_free(s);
  char *names[256];
  int ni = 0;
  for (char *tok = strtok(ins ? ins : (char *)"", ","); tok && ni < 256; tok = strtok(NULL, ",")) {
    names[ni++] = tok;
  }
  KV_TRY(kv_surrogate_header_init(s, t, ni, names, output ? output : ""));
  s->config = config;
  config = NULL;
  load_cv(h, s);
  if (kv_h5_store_has(h, "/training_box")) {
    kv_h5_array a = {0};
    KV_TRY(kv_h5_store_get(h, "/training_box", &a));
    if (a.count == 2 * (long)s->ninputs) {
      s->box = a.data;
    } else {
      free(a.data);
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /training_box has %ld values for %d inputs", path,
                    a.count, s->ninputs);
      goto cleanup;
    }
  }
cleanup:;
  int rc2 = kv_h5_store_close(h, 0);
  if (rc == KV_OK) {
    rc = rc2;
  }
  free(kind);
  free(ins);
  free(output);
  free(config);
  free(title);
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_surrogate_predict(const kv_surrogate *s, long m, const double *X, double *mean,
                         double *var) {
  if (!s->type->predict) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "a %s model does not predict from inputs (%s)",
                    s->type->name, s->type->summary);
  }
  KV_CHECK(s->type->predict(s, X, m, mean, var));
  /* A model whose arithmetic overflowed (data near 1e308) must not print "-nan inf". */
  long no = kv_surrogate_noutputs(s), total = m * (no > 0 ? no : 1);
  for (long i = 0; i < total; i++) {
    if (!isfinite(mean[i]) || (var && !(var[i] >= 0.0 && isfinite(var[i])))) {
      return KV_ERROR(KV_ERR_NUMERIC,
                      "the %s model predicts a non-finite %s at point %ld (output %ld): its fit "
                      "overflowed or the point is far outside the data",
                      s->type->name, isfinite(mean[i]) ? "variance" : "mean", i / (no > 0 ? no : 1),
                      i % (no > 0 ? no : 1));
    }
  }
  return KV_OK;
}

/* After a fit: the model predicts finite values at (a few of) its own training points, or the
 * fit is refused before anything is saved. */
static int check_finite_fit(kv_surrogate *s, const kv_dataset *ds) {
  if (!s->type->predict || !ds->X || ds->n < 1 || ds->d != s->ninputs) {
    return KV_OK;
  }
  long m = ds->n < 4 ? ds->n : 4, no = kv_surrogate_noutputs(s);
  double *mean = malloc((size_t)(m * (no > 0 ? no : 1)) * 2 * sizeof *mean);
  if (!mean) {
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  int rc = kv_surrogate_predict(s, m, ds->X, mean, mean + m * (no > 0 ? no : 1));
  free(mean);
  if (rc == KV_ERR_NUMERIC) {
    char why[600];
    snprintf(why, sizeof why, "%s", kv_error_message());
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "%s fit of %s: not finite at its own training points (%s); values this large "
                  "(near 1e308) overflow: rescale the data. Nothing was saved",
                  s->type->name, ds->source, why);
  }
  return rc;
}

int kv_surrogate_describe(const kv_surrogate *s, FILE *f) {
  return s->type->describe(s, f);
}

const kv_surrogate_type *kv_surrogate_type_get(const kv_surrogate *s) {
  return s->type;
}
const char *kv_surrogate_kind(const kv_surrogate *s) {
  return s->type->name;
}
int kv_surrogate_ninputs(const kv_surrogate *s) {
  return s->ninputs;
}
const char *kv_surrogate_input(const kv_surrogate *s, int i) {
  return s->inputs[i];
}
const char *kv_surrogate_output(const kv_surrogate *s) {
  return s->output;
}
const char *kv_surrogate_config(const kv_surrogate *s) {
  return s->config;
}

int kv_surrogate_input_index(const kv_surrogate *s, const char *name) {
  for (int i = 0; i < s->ninputs; i++) {
    if (strcmp(s->inputs[i], name) == 0) {
      return i;
    }
  }
  return -1;
}

long kv_surrogate_noutputs(const kv_surrogate *s) {
  return s->type->noutputs ? s->type->noutputs(s) : 1;
}

const kv_field_layout *kv_surrogate_layout(const kv_surrogate *s) {
  return s->type->layout ? s->type->layout(s) : NULL;
}

const double *kv_surrogate_reference(const kv_surrogate *s) {
  return s->type->reference ? s->type->reference(s) : NULL;
}

int kv_surrogate_training_y(const kv_surrogate *s, const double **y, long *n) {
  if (!s->type->training_y) {
    *y = NULL;
    *n = 0;
    return KV_ERROR(KV_ERR_UNSUPPORTED, "a %s model keeps no training outputs", s->type->name);
  }
  return s->type->training_y(s, y, n);
}

void kv_surrogate_input_list(const kv_surrogate *s, char *buf, size_t n) {
  buf[0] = '\0';
  for (int i = 0; i < s->ninputs; i++) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", i ? ", " : "", s->inputs[i]);
  }
}

const kv_cv_scores *kv_surrogate_cv(const kv_surrogate *s) {
  return s->has_cv ? &s->cv : NULL;
}

void kv_surrogate_set_cv(kv_surrogate *s, const kv_cv_scores *cv) {
  s->cv = *cv;
  s->has_cv = 1;
}

const char *kv_surrogate_leaderboard(const kv_surrogate *s) {
  return s->leaderboard;
}

int kv_surrogate_set_leaderboard(kv_surrogate *s, const char *text) {
  char *t = strdup(text);
  if (!t) {
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  free(s->leaderboard);
  s->leaderboard = t;
  return KV_OK;
}

int kv_surrogate_interval(const kv_surrogate *s, long m, const double *X, double level, double *lo,
                          double *hi) {
  if (s->type->interval) {
    return s->type->interval(s, X, m, level, lo, hi);
  }
  long no = kv_surrogate_noutputs(s);
  KV_CHECK(kv_surrogate_predict(s, m, X, lo, hi));
  double z = gsl_cdf_ugaussian_Pinv(0.5 + 0.5 * level);
  for (long i = 0; i < m * no; i++) {
    double mu = lo[i], sd = sqrt(fmax(hi[i], 0.0));
    lo[i] = mu - z * sd;
    hi[i] = mu + z * sd;
  }
  return KV_OK;
}
