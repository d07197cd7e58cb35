/* The GP's configuration keys, its training with a log line, its model-file groups and its
 * description: what every kind built on GPs (gp, pcagp) shares. */
#include <ctype.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "surrogates/gp.h"

const kv_config_key kv_gp_keys[] = {
    {"surrogate.kernel", KV_CFG_ENUM, "matern52", "se|matern32|matern52", KV_CFG_NORANGE,
     "covariance function (ARD length scales)"},
    {"surrogate.normalize", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "inputs to the unit box, outputs standardised; false: raw (as scikit-learn's "
     "normalize_y=False)"},
    {"surrogate.noise", KV_CFG_STRING, "fit", NULL, KV_CFG_NORANGE,
     "fit, or a fixed noise variance (in normalised units when normalize = true)"},
    {"surrogate.alpha", KV_CFG_DOUBLE, "1e-10", NULL, 0.0, 1.0,
     "added to the training diagonal (numerical regularisation, scikit-learn's alpha)"},
    {"surrogate.bounds", KV_CFG_STRING, "length=1e-3:1e3, signal=1e-5:1e5, noise=1e-10:10", NULL,
     KV_CFG_NORANGE, "optimisation bounds of the length scales, signal and noise variances"},
    {"surrogate.restarts", KV_CFG_INT, "2", NULL, 0, 1000,
     "extra optimiser starts from seeded random points within the bounds"},
    {"surrogate.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the restarts"},
    {"surrogate.max_iter", KV_CFG_INT, "200", NULL, 1, 100000, "optimiser iterations per start"},
    {"surrogate.optimizer", KV_CFG_ENUM, "lbfgs", "lbfgs|nlopt", KV_CFG_NORANGE,
     "hyperparameter optimiser: kelvin's projected L-BFGS or NLopt's bounded L-BFGS (compared in "
     "bench/gp_optimizer.sh)"},
    {"surrogate.trend", KV_CFG_ENUM, "none", "none|constant|linear|quadratic", KV_CFG_NORANGE,
     "mean of the GP (universal kriging: coefficients by generalised least squares)"},
    {"surrogate.prior", KV_CFG_ENUM, "none", "none|lognormal", KV_CFG_NORANGE,
     "hyperparameter prior (MAP): lognormal on the length scales and the noise variance"},
    {"surrogate.prior_length", KV_CFG_DOUBLE_LIST, "0.5, 1", NULL, 1e-6, 1e6,
     "median length scale (inputs scaled to the unit box) and log-sd of its prior"},
    {"surrogate.prior_noise", KV_CFG_DOUBLE_LIST, "1e-2, 2", NULL, 1e-12, 1e6,
     "median noise variance (fraction of the output variance) and log-sd of its prior"},
    {"surrogate.log_inputs", KV_CFG_STRING, "", NULL, KV_CFG_NORANGE,
     "inputs that enter as their logarithm (comma-separated names; inputs spanning decades)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int parse_bounds(const kv_config *cfg, kv_gp_options *o) {
  const char *text;
  KV_CHECK(kv_config_get_string(cfg, "surrogate.bounds", &text));
  char buf[512];
  snprintf(buf, sizeof buf, "%s", text);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char name[32];
    double lo, hi;
    int n = 0;
    while (isspace((unsigned char)*tok)) {
      tok++;
    }
    if (sscanf(tok, "%31[a-z]=%lf:%lf%n", name, &lo, &hi, &n) != 3 ||
        tok[n + strspn(tok + n, " \t")] != '\0') {
      return kv_config_errorf(cfg, "surrogate.bounds",
                              "entry '%s': expected NAME=lo:hi with NAME "
                              "length, signal or noise",
                              tok);
    }
    if (!(lo > 0.0) || !(hi >= lo)) {
      return kv_config_errorf(cfg, "surrogate.bounds", "%s: expected 0 < lo <= hi (got %g:%g)",
                              name, lo, hi);
    }
    if (strcmp(name, "length") == 0) {
      o->length_lo = lo;
      o->length_hi = hi;
    } else if (strcmp(name, "signal") == 0) {
      o->signal_lo = lo;
      o->signal_hi = hi;
    } else if (strcmp(name, "noise") == 0) {
      o->noise_lo = lo;
      o->noise_hi = hi;
    } else {
      return kv_config_errorf(cfg, "surrogate.bounds",
                              "unknown bound '%s' (length, signal or "
                              "noise)",
                              name);
    }
  }
  return KV_OK;
}

int kv_gp_options_from_config(const kv_config *cfg, kv_gp_options *o) {
  kv_gp_options_default(o);
  int kernel, norm;
  long restarts, seed, maxit;
  const char *noise;
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.kernel", "se|matern32|matern52", &kernel));
  KV_CHECK(kv_config_get_bool(cfg, "surrogate.normalize", &norm));
  KV_CHECK(kv_config_get_double(cfg, "surrogate.alpha", 0.0, 1.0, &o->alpha));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.restarts", 0, 1000, &restarts));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.seed", 0, 4294967295L, &seed));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.max_iter", 1, 100000, &maxit));
  KV_CHECK(kv_config_get_string(cfg, "surrogate.noise", &noise));
  o->kernel = (kv_kernel)kernel;
  o->normalize = norm;
  o->restarts = (int)restarts;
  o->seed = (unsigned long)seed;
  o->max_iter = (int)maxit;
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.optimizer", "lbfgs|nlopt", &o->nlopt));
  if (strcmp(noise, "fit") == 0) {
    o->fit_noise = 1;
  } else {
    char *end;
    o->noise = strtod(noise, &end);
    if (*end || end == noise || !(o->noise >= 0.0) || !isfinite(o->noise)) {
      return kv_config_errorf(cfg, "surrogate.noise", "expected 'fit' or a noise variance >= 0");
    }
    o->fit_noise = 0;
  }
  int trend, prior, cnt = 0;
  double pl[2], pn[2];
  const char *logs;
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.trend", "none|constant|linear|quadratic", &trend));
  KV_CHECK(kv_config_get_enum(cfg, "surrogate.prior", "none|lognormal", &prior));
  KV_CHECK(kv_config_get_double_list(cfg, "surrogate.prior_length", pl, 2, &cnt));
  if (cnt != 2) {
    return kv_config_errorf(cfg, "surrogate.prior_length", "expected the median and the log-sd");
  }
  KV_CHECK(kv_config_get_double_list(cfg, "surrogate.prior_noise", pn, 2, &cnt));
  if (cnt != 2) {
    return kv_config_errorf(cfg, "surrogate.prior_noise", "expected the median and the log-sd");
  }
  KV_CHECK(kv_config_get_string(cfg, "surrogate.log_inputs", &logs));
  o->trend = trend;
  o->prior = prior;
  o->prior_length = pl[0];
  o->prior_length_sd = pl[1];
  o->prior_noise = pn[0];
  o->prior_noise_sd = pn[1];
  snprintf(o->log_names, sizeof o->log_names, "%s", logs);
  return parse_bounds(cfg, o);
}

int kv_gp_train(long n, int d, const double *X, const double *y, const kv_gp_options *o,
                kv_gp **out) {
  KV_CHECK(kv_gp_create(n, d, X, y, o, out));
  double t0 = kv_comm_wtime();
  int rc = kv_gp_fit(*out);
  kv_info("optimised %d hyperparameters in %.3f s (%ld LML evaluations, %d start%s)", d + 2,
          kv_comm_wtime() - t0, kv_gp_evals(*out), o->restarts + 1, o->restarts ? "s" : "");
  if (rc != KV_OK) {
    kv_gp_free(*out);
    *out = NULL;
  }
  return rc;
}

int kv_gp_save(const kv_gp *g, kv_h5_store *h, const char *grp) {
  char name[128];
  long n = kv_gp_size(g), d = kv_gp_dim(g), dims[2] = {n, d}, p = d + 2;
  const kv_gp_options *o = kv_gp_opts(g);
  snprintf(name, sizeof name, "%s/X", grp);
  KV_CHECK(kv_h5_store_put(h, name, 2, dims, kv_gp_x_raw(g)));
  snprintf(name, sizeof name, "%s/y", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &n, kv_gp_y_raw(g)));
  snprintf(name, sizeof name, "%s/theta", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &p, kv_gp_theta(g)));
  KV_CHECK(kv_h5_store_put_text(h, grp, "kernel", kv_kernel_name(o->kernel)));
  KV_CHECK(kv_h5_store_put_text(h, grp, "theta_layout",
                                "log length scales (one per input), log signal variance, "
                                "log noise variance; in normalised units when normalize = 1"));
  const struct {
    const char *k;
    double v;
  } nums[] = {{"normalize", o->normalize},      {"alpha", o->alpha},
              {"fit_noise", o->fit_noise},      {"noise", o->noise},
              {"lml", kv_gp_lml_value(g)},      {"lml_data", kv_gp_lml_data(g)},
              {"evals", (double)kv_gp_evals(g)}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    KV_CHECK(kv_h5_store_put_number(h, grp, nums[i].k, nums[i].v));
  }
  /* The options that shape predictions (trend, log inputs) and how it was fitted (prior). */
  double logs[64];
  for (int k = 0; k < d && k < 64; k++) {
    logs[k] = o->log_input[k];
  }
  long dl = d < 64 ? d : 64;
  snprintf(name, sizeof name, "%s/log_inputs", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &dl, logs));
  KV_CHECK(kv_h5_store_put_number(h, grp, "trend", o->trend));
  KV_CHECK(kv_h5_store_put_number(h, grp, "prior", o->prior));
  if (kv_gp_ntrend(g) > 0) {
    long m = kv_gp_ntrend(g);
    snprintf(name, sizeof name, "%s/beta", grp);
    KV_CHECK(kv_h5_store_put(h, name, 1, &m, kv_gp_beta(g)));
  }
  return KV_OK;
}

int kv_gp_load(kv_h5_store *h, const char *path, const char *grp, kv_gp **out) {
  *out = NULL;
  char name[128], *kernel = NULL;
  kv_h5_array X = {0}, y = {0}, th = {0};
  double num[4];
  int rc = KV_OK;
  snprintf(name, sizeof name, "%s/X", grp);
  KV_TRY(kv_h5_store_get(h, name, &X));
  snprintf(name, sizeof name, "%s/y", grp);
  KV_TRY(kv_h5_store_get(h, name, &y));
  snprintf(name, sizeof name, "%s/theta", grp);
  KV_TRY(kv_h5_store_get(h, name, &th));
  KV_TRY(kv_h5_store_get_text(h, grp, "kernel", &kernel));
  const char *keys[] = {"normalize", "alpha", "fit_noise", "noise"};
  for (int i = 0; i < 4; i++) {
    KV_TRY(kv_h5_store_get_number(h, grp, keys[i], &num[i]));
  }
  if (X.rank != 2 || y.count != X.dims[0] || th.count != X.dims[1] + 2 ||
      kv_kernel_from_name(kernel) < 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a kelvin GP", path, grp);
    goto cleanup;
  }
  kv_gp_options o;
  kv_gp_options_default(&o);
  o.kernel = (kv_kernel)kv_kernel_from_name(kernel);
  o.normalize = num[0] != 0.0;
  o.alpha = num[1];
  o.fit_noise = num[2] != 0.0;
  o.noise = num[3];
  /* Files of earlier versions have no trend or log inputs: the defaults (none) are theirs. */
  double trend = 0.0;
  if (kv_h5_store_get_number(h, grp, "trend", &trend) == KV_OK && trend >= 0 && trend <= 3) {
    o.trend = (int)trend;
  }
  kv_error_clear();
  snprintf(name, sizeof name, "%s/log_inputs", grp);
  if (kv_h5_store_has(h, name)) {
    kv_h5_array lg = {0};
    KV_TRY(kv_h5_store_get(h, name, &lg));
    for (long k = 0; k < lg.count && k < 64; k++) {
      o.log_input[k] = lg.data[k] != 0.0;
    }
    kv_h5_array_free(&lg);
  }
  KV_TRY(kv_gp_create(X.dims[0], (int)X.dims[1], X.data, y.data, &o, out));
  rc = kv_gp_set_theta(*out, th.data);
  if (rc != KV_OK) {
    kv_gp_free(*out);
    *out = NULL;
  }
cleanup:
  kv_h5_array_free(&X);
  kv_h5_array_free(&y);
  kv_h5_array_free(&th);
  free(kernel);
  return rc;
}

void kv_gp_describe(const kv_gp *g, char *const *names, const char *what, FILE *f) {
  int d = kv_gp_dim(g);
  double *len = malloc(((size_t)d + 1) * sizeof *len), sig, noi;
  if (!len) {
    return;
  }
  kv_gp_hyper_data(g, len, &sig, &noi);
  fprintf(f, "%s: %s kernel, %ld points, LML %.10g (%ld evaluations)\n", what,
          kv_kernel_name(kv_gp_opts(g)->kernel), kv_gp_size(g), kv_gp_lml_data(g), kv_gp_evals(g));
  fprintf(f, "  length scales:");
  for (int k = 0; k < d; k++) {
    fprintf(f, " %s=%.6g", names[k], len[k]);
  }
  fprintf(f, "\n  signal variance %.6g, noise variance %.6g\n", sig, noi);
  const kv_gp_options *o = kv_gp_opts(g);
  if (kv_gp_ntrend(g) > 0) {
    static const char *const trends[] = {"none", "constant", "linear", "quadratic"};
    fprintf(f, "  trend: %s (%d terms, universal kriging)\n", trends[o->trend], kv_gp_ntrend(g));
  }
  if (o->prior) {
    fprintf(f, "  MAP with lognormal priors: length %g (log-sd %g), noise %g (log-sd %g)\n",
            o->prior_length, o->prior_length_sd, o->prior_noise, o->prior_noise_sd);
  }
  for (int k = 0; k < d && k < 64; k++) {
    if (o->log_input[k]) {
      fprintf(f, "  input %s enters as log(%s) (its length scale is in log units)\n", names[k],
              names[k]);
    }
  }
  free(len);
}

/* ------------------------------------------------------------------ options */

static const char *const kernel_names[] = {"se", "matern32", "matern52"};

const char *kv_kernel_name(kv_kernel k) {
  return (int)k >= 0 && (int)k < 3 ? kernel_names[k] : "?";
}

int kv_kernel_from_name(const char *name) {
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, kernel_names[k]) == 0) {
      return k;
    }
  }
  return -1;
}

void kv_gp_options_default(kv_gp_options *o) {
  memset(o, 0, sizeof *o);
  o->kernel = KV_KERNEL_MATERN52;
  o->normalize = 1;
  o->alpha = 1e-10;
  o->fit_noise = 1;
  o->noise = 1e-2;
  o->length_lo = 1e-3;
  o->length_hi = 1e3;
  o->signal_lo = 1e-5;
  o->signal_hi = 1e5;
  o->noise_lo = 1e-10;
  o->noise_hi = 10.0;
  o->restarts = 2;
  o->seed = 1;
  o->max_iter = 200;
  o->trend = 0;
  o->prior = 0;
  o->prior_length = 0.5;
  o->prior_length_sd = 1.0;
  o->prior_noise = 1e-2;
  o->prior_noise_sd = 2.0;
}

int kv_gp_log_inputs(kv_gp_options *o, int d, char *const *names) {
  memset(o->log_input, 0, sizeof o->log_input);
  char buf[512];
  snprintf(buf, sizeof buf, "%s", o->log_names);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    int k = 0;
    while (k < d && k < 64 && strcmp(names[k], tok) != 0) {
      k++;
    }
    if (k == d || k == 64) {
      char all[1024] = "";
      for (int j = 0; j < d; j++) {
        size_t len = strlen(all);
        snprintf(all + len, sizeof all - len, "%s%s", j ? ", " : "", names[j]);
      }
      return KV_ERROR(KV_ERR_CONFIG, "surrogate.log_inputs: '%s' is not an input (inputs: %s)", tok,
                      all);
    }
    o->log_input[k] = 1;
  }
  return KV_OK;
}
