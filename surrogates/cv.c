#include "surrogates/cv.h"
#include "core/comm.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"

const kv_config_key kv_cv_keys[] = {
    {"surrogate.cv_folds", KV_CFG_STRING, "5", NULL, KV_CFG_NORANGE,
     "cross-validation of the fit: k folds (k >= 2), loo (leave-one-out) or 0 (none)"},
    {"surrogate.cv_seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0,
     "seed of the shuffle of the rows into folds"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

void kv_cv_params_default(kv_cv_params *p) {
  p->folds = 5;
  p->seed = 1;
}

int kv_cv_params_from_config(const kv_config *cfg, kv_cv_params *p) {
  kv_cv_params_default(p);
  const char *v = kv_config_value(cfg, "surrogate.cv_folds");
  if (v) {
    char *end;
    long k = strtol(v, &end, 10);
    if (strcmp(v, "loo") == 0) {
      p->folds = KV_CV_LOO;
    } else if (end != v && !*end && (k == 0 || (k >= 2 && k <= 1000000))) {
      p->folds = (int)k;
    } else {
      return kv_config_errorf(cfg, "surrogate.cv_folds",
                              "expected a number of folds >= 2, loo or 0 (none)");
    }
  }
  if (kv_config_has(cfg, "surrogate.cv_seed")) {
    long seed;
    KV_CHECK(kv_config_get_int(cfg, "surrogate.cv_seed", 0, 4294967295L, &seed));
    p->seed = (unsigned long)seed;
  }
  return KV_OK;
}

int kv_cv_assign(long n, const kv_cv_params *p, int *fold) {
  if (p->folds == KV_CV_LOO) {
    for (long i = 0; i < n; i++) {
      fold[i] = (int)i;
    }
    return (int)n;
  }
  if (p->folds > n || p->folds < 2) {
    return -1;
  }
  long *perm = malloc((size_t)n * sizeof *perm);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!perm || !r) {
    free(perm);
    gsl_rng_free(r);
    return -1;
  }
  gsl_rng_set(r, p->seed);
  for (long i = 0; i < n; i++) {
    perm[i] = i;
  }
  gsl_ran_shuffle(r, perm, (size_t)n, sizeof *perm);
  for (long i = 0; i < n; i++) {
    fold[perm[i]] = (int)(i % p->folds);
  }
  free(perm);
  gsl_rng_free(r);
  return p->folds;
}

int kv_cv_fold(const kv_surrogate_type *t, const void *params, const kv_dataset *ds,
               const int *fold, int f, double *mean, double *lo, double *hi) {
  long n = ds->n, nin = 0;
  long *rows = malloc(((size_t)n + 1) * sizeof *rows);
  if (!rows) {
    return KV_ERROR(KV_ERR_NOMEM, "cross-validation: out of memory");
  }
  for (long i = 0; i < n; i++) {
    if (fold[i] != f) {
      rows[nin++] = i;
    }
  }
  long nout = n - nin;
  for (long i = 0, j = nin; i < n; i++) {
    if (fold[i] == f) {
      rows[j++] = i;
    }
  }
  kv_dataset train, test;
  memset(&test, 0, sizeof test);
  kv_surrogate *s = NULL;
  double *buf = NULL;
  kv_log_level was =
      kv_log_set_level(kv_log_get_level() < KV_LOG_WARN ? kv_log_get_level() : KV_LOG_WARN);
  int rc = kv_dataset_subset(ds, rows, nin, &train);
  if (rc == KV_OK) {
    rc = kv_dataset_subset(ds, rows + nin, nout, &test);
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_fit(t, &train, params, NULL, &s);
  }
  long P = 0;
  if (rc == KV_OK) {
    P = kv_surrogate_noutputs(s);
    buf = malloc(3 * ((size_t)nout * (size_t)P + 1) * sizeof *buf);
    rc = buf ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "cross-validation: out of memory");
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_predict(s, nout, test.X, buf, NULL);
  }
  double *blo = buf ? buf + nout * P : NULL, *bhi = buf ? blo + nout * P : NULL;
  if (rc == KV_OK) {
    rc = kv_surrogate_interval(s, nout, test.X, 0.95, blo, bhi);
  }
  kv_log_set_level(was);
  for (long j = 0; rc == KV_OK && j < nout; j++) {
    long r = rows[nin + j];
    memcpy(mean + r * P, buf + j * P, (size_t)P * sizeof *mean);
    memcpy(lo + r * P, blo + j * P, (size_t)P * sizeof *lo);
    memcpy(hi + r * P, bhi + j * P, (size_t)P * sizeof *hi);
  }
  kv_surrogate_free(s);
  kv_dataset_free(&train);
  kv_dataset_free(&test);
  free(buf);
  free(rows);
  return rc;
}

void kv_cv_score(const kv_dataset *ds, const double *mean, const double *lo, const double *hi,
                 kv_cv_scores *out) {
  long n = ds->n, P = ds->kind & KV_DATA_FIELD ? ds->npts : 1;
  const double *y = ds->kind & KV_DATA_FIELD ? ds->fields : ds->y;
  double sae = 0.0, sse = 0.0, sst = 0.0, mx = 0.0;
  long inside = 0;
  for (long q = 0; q < P; q++) {
    double ybar = 0.0;
    for (long i = 0; i < n; i++) {
      ybar += y[i * P + q] / (double)n;
    }
    for (long i = 0; i < n; i++) {
      double t = y[i * P + q], e = mean[i * P + q] - t;
      sae += fabs(e);
      sse += e * e;
      sst += (t - ybar) * (t - ybar);
      mx = fmax(mx, fabs(e));
      inside += t >= lo[i * P + q] && t <= hi[i * P + q];
    }
  }
  double N = (double)n * (double)P;
  out->n = n;
  out->mae = sae / N;
  out->rmse = sqrt(sse / N);
  out->q2 = sst > 0.0 ? 1.0 - sse / sst : NAN;
  out->max_abs = mx;
  out->coverage95 = (double)inside / N;
}

int kv_cv_warm_params(MPI_Comm comm, int root, const kv_surrogate_type *t, const void *params,
                      const kv_surrogate *fitted, void **wp) {
  *wp = NULL;
  int rank;
  rank = kv_comm_rank(comm);
  double state[KV_WARM_MAX + 1];
  int n = 0;
  if (rank == root && fitted && t->warm_state && t->warm_params &&
      t->warm_state(fitted, state, &n) != KV_OK) {
    n = 0;
    kv_error_clear();
  }
  kv_comm_bcast(&n, 1, MPI_INT, root, comm);
  if (n <= 0 || n > KV_WARM_MAX) {
    return KV_OK;
  }
  kv_comm_bcast(state, n, MPI_DOUBLE, root, comm);
  int rc = t->warm_params(params, state, n, wp);
  if (rc != KV_OK && rc != KV_ERR_NOMEM) {
    kv_error_clear(); /* no warm start: the refits start cold */
    *wp = NULL;
    rc = KV_OK;
  }
  return rc;
}

/* Leave-one-out in closed form: asked for, the kind has it, and rank 0 holds the fit. */
static int closed_form(MPI_Comm comm, const kv_cv_params *p, const kv_surrogate_type *t,
                       const kv_surrogate *fitted, long P) {
  int rank, yes;
  rank = kv_comm_rank(comm);
  yes = rank == 0 && p->folds == KV_CV_LOO && fitted && t->loo && P == 1;
  kv_comm_bcast(&yes, 1, MPI_INT, 0, comm);
  return yes;
}

int kv_cv_run(MPI_Comm comm, const kv_surrogate_type *t, const void *params, const kv_dataset *ds,
              const kv_cv_params *p, const kv_surrogate *fitted, kv_cv_scores *out) {
  memset(out, 0, sizeof *out);
  int rank, size;
  rank = kv_comm_rank(comm);
  size = kv_comm_size(comm);
  long n = ds->n, P = ds->kind & KV_DATA_FIELD ? ds->npts : 1;
  size_t np = (size_t)n * (size_t)P;
  double *mean = calloc(3 * np + 1, sizeof *mean);
  int *fold = malloc(((size_t)n + 1) * sizeof *fold);
  if (!mean || !fold) {
    free(mean);
    free(fold);
    return KV_ERROR(KV_ERR_NOMEM, "cross-validation: out of memory");
  }
  double *lo = mean + np, *hi = lo + np;
  int k = kv_cv_assign(n, p, fold), rc = KV_OK;
  snprintf(out->method, sizeof out->method, "%s", p->folds == KV_CV_LOO ? "loo" : "kfold");
  out->folds = k;
  if (k < 0) {
    rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.cv_folds: %d folds of %ld points", p->folds, n);
  } else if (closed_form(comm, p, t, fitted, P)) {
    /* Closed form on rank 0 (which holds the fit), shared with the others. */
    if (rank == 0) {
      rc = t->loo(fitted, mean, lo);
      double z = gsl_cdf_ugaussian_Pinv(0.975);
      for (long i = 0; rc == KV_OK && i < n; i++) {
        double sd = sqrt(fmax(lo[i], 0.0));
        lo[i] = mean[i] - z * sd;
        hi[i] = mean[i] + z * sd;
      }
    }
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK && size > 1) {
      kv_comm_bcast(mean, (int)(3 * np), MPI_DOUBLE, 0, comm);
    }
    snprintf(out->method, sizeof out->method, "loo");
  } else {
    void *wp = NULL;
    rc = kv_cv_warm_params(comm, 0, t, params, fitted, &wp);
    for (int f = rank; rc == KV_OK && f < k; f += size) {
      rc = kv_cv_fold(t, wp ? wp : params, ds, fold, f, mean, lo, hi);
    }
    kv_surrogate_params_free(t, wp);
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK && size > 1) {
      kv_comm_allreduce(MPI_IN_PLACE, mean, (int)(3 * np), MPI_DOUBLE, MPI_SUM, comm);
    }
  }
  if (rc == KV_OK) {
    kv_cv_score(ds, mean, lo, hi, out);
  }
  free(mean);
  free(fold);
  return rc;
}

void kv_cv_print(const kv_cv_scores *c, const char *what, FILE *f) {
  char how[32];
  if (strcmp(c->method, "loo") == 0) {
    snprintf(how, sizeof how, "leave-one-out");
  } else {
    snprintf(how, sizeof how, "%d-fold", c->folds);
  }
  fprintf(f, "%s (%s, %ld points): MAE %.6g  RMSE %.6g  Q2 %.6f  max error %.6g  coverage95 %.3f\n",
          what, how, c->n, c->mae, c->rmse, c->q2, c->max_abs, c->coverage95);
}
