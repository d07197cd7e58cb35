#include "drivers/adapt.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "io/chart.h"
#include "io/table.h"
#include "io/textfile.h"
#include "surrogates/sampling.h"
#include "surrogates/surrogate.h"

const kv_config_key kv_adapt_keys[] = {
    {"adapt.tolerance", KV_CFG_DOUBLE, "0.05", NULL, 0.0, INFINITY,
     "stop when the relative RMSE (RMSE / the response's spread) is at or below this"},
    {"adapt.budget", KV_CFG_INT, "100", NULL, 2, 1000000, "runs of the full solver at most"},
    {"adapt.initial", KV_CFG_INT, "0", NULL, 0, 1000000,
     "initial Latin hypercube size (0: max(6, 3 d))"},
    {"adapt.batch", KV_CFG_INT, "0", NULL, 0, 10000,
     "runs added per iteration, in parallel (0: the farm's rank groups)"},
    {"adapt.criterion", KV_CFG_ENUM, "variance", "variance|imse|loo", KV_CFG_NORANGE,
     "where to run next: largest predictive variance, largest integrated variance reduction "
     "(gp), or largest LOO error x distance"},
    {"adapt.candidates", KV_CFG_INT, "0", NULL, 0, 100000000,
     "random candidate points per choice (0: 1000 d)"},
    {"adapt.holdout", KV_CFG_INT, "0", NULL, 0, 1000000,
     "held-out runs (a Latin hypercube, run once) to measure the error (0: cross-validation)"},
    {"adapt.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the designs"},
    {"adapt.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where the runs, the learning curve and the model go (default: <sweep dir>/adapt)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

int kv_adapt_params_from_config(const kv_config *cfg, kv_adapt_params *p) {
  memset(p, 0, sizeof *p);
  long seed;
  KV_CHECK(kv_config_get_double(cfg, "adapt.tolerance", 0.0, INFINITY, &p->tolerance));
  KV_CHECK(kv_config_get_int(cfg, "adapt.budget", 2, 1000000, &p->budget));
  KV_CHECK(kv_config_get_int(cfg, "adapt.initial", 0, 1000000, &p->initial));
  KV_CHECK(kv_config_get_int(cfg, "adapt.batch", 0, 10000, &p->batch));
  KV_CHECK(kv_config_get_enum(cfg, "adapt.criterion", "variance|imse|loo", &p->criterion));
  KV_CHECK(kv_config_get_int(cfg, "adapt.candidates", 0, 100000000, &p->candidates));
  KV_CHECK(kv_config_get_int(cfg, "adapt.holdout", 0, 1000000, &p->holdout));
  KV_CHECK(kv_config_get_int(cfg, "adapt.seed", 0, 4294967295L, &seed));
  p->seed = (unsigned long)seed;
  const char *v = kv_config_value(cfg, "adapt.dir");
  if (v) {
    snprintf(p->dir, sizeof p->dir, "%s", v);
  }
  return KV_OK;
}

typedef struct {
  const kv_config *cfg;
  kv_config *fitcfg; /* cfg training on the runs in dir       */
  kv_config *hcfg;   /* cfg reading the held-out runs         */
  kv_adapt_params p;
  kv_eval_space sp;
  const kv_surrogate_type *t;
  long n;    /* points proposed so far                */
  double *X; /* n x d                                 */
  char model[4200];
} adapt;

/* A copy of cfg whose surrogate trains on (or reads) the runs in dir. */
static int data_config(const kv_config *cfg, const char *dir, const char *model, kv_config **out) {
  KV_CHECK(kv_config_clone(cfg, out));
  int rc = kv_config_set_tagged(*out, "surrogate.data", dir, "adapt");
  if (rc == KV_OK && model) {
    rc = kv_config_set_tagged(*out, "surrogate.model", model, "adapt");
  }
  return rc;
}

/* Relative RMSE of s on the data ds: sqrt(sum (pred - truth)^2 / sum (truth - mean)^2), the mean
 * over the cases per output (a pooled 1 - Q^2 under the root). */
static int holdout_error(const kv_surrogate *s, const kv_dataset *ds, double *err) {
  long m = kv_surrogate_noutputs(s), n = ds->n;
  const double *truth = ds->fields ? ds->fields : ds->y;
  if (!truth || (ds->fields ? ds->npts : 1) != m) {
    return KV_ERROR(KV_ERR_FORMAT, "adapt: the held-out runs do not match the model's outputs");
  }
  double *pred = malloc((size_t)n * (size_t)m * sizeof *pred);
  if (!pred) {
    return KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  }
  int rc = kv_surrogate_predict(s, n, ds->X, pred, NULL);
  double se = 0.0, ss = 0.0;
  for (long q = 0; rc == KV_OK && q < m; q++) {
    double mu = 0.0;
    for (long i = 0; i < n; i++) {
      mu += truth[i * m + q] / (double)n;
    }
    for (long i = 0; i < n; i++) {
      double e = pred[i * m + q] - truth[i * m + q], t = truth[i * m + q] - mu;
      se += e * e;
      ss += t * t;
    }
  }
  free(pred);
  *err = ss > 0.0 ? sqrt(se / ss) : NAN;
  return rc;
}

/* Scores of M candidates U (unit cube) by the criterion (rank 0). */
static int score(const adapt *a, const kv_surrogate *s, long M, const double *U, double *sc) {
  int d = a->sp.d;
  long m = kv_surrogate_noutputs(s);
  double *X = malloc((size_t)M * (size_t)d * sizeof *X);
  double *mean = malloc((size_t)M * (size_t)m * sizeof *mean);
  double *var = malloc((size_t)M * (size_t)m * sizeof *var);
  kv_dataset ds;
  memset(&ds, 0, sizeof ds);
  int rc = X && mean && var ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  int loo = a->p.criterion == 2 && kv_surrogate_type_get(s)->loo && m == 1;
  if (rc == KV_OK) {
    kv_eval_space_map(&a->sp, M, U, X);
    rc = kv_surrogate_predict(s, M, X, mean, var);
  }
  for (long c = 0; rc == KV_OK && c < M; c++) {
    sc[c] = 0.0;
    for (long q = 0; q < m; q++) {
      sc[c] += var[c * m + q] > 0.0 ? var[c * m + q] : 0.0;
    }
  }
  if (rc == KV_OK && loo) {
    rc = kv_fit_dataset(a->fitcfg, a->t, 0, &ds);
    double *lm = rc == KV_OK ? malloc((size_t)ds.n * sizeof *lm) : NULL;
    double *uu = rc == KV_OK ? malloc((size_t)ds.n * (size_t)d * sizeof *uu) : NULL;
    if (rc == KV_OK && (!lm || !uu)) {
      rc = KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
    }
    if (rc == KV_OK) {
      rc = kv_surrogate_type_get(s)->loo(s, lm, NULL);
    }
    if (rc == KV_OK) {
      kv_eval_space_unmap(&a->sp, ds.n, ds.X, uu);
    }
    for (long c = 0; rc == KV_OK && c < M; c++) {
      double best = INFINITY;
      long ib = 0;
      for (long i = 0; i < ds.n; i++) {
        double r2 = 0.0;
        for (int j = 0; j < d; j++) {
          r2 += (U[c * d + j] - uu[i * d + j]) * (U[c * d + j] - uu[i * d + j]);
        }
        if (r2 < best) {
          best = r2;
          ib = i;
        }
      }
      sc[c] = fabs(ds.y[ib] - lm[ib]) * sqrt(best);
    }
    free(lm);
    free(uu);
  }
  kv_dataset_free(&ds);
  free(X);
  free(mean);
  free(var);
  return rc;
}

/* Integrated variance reduction (rank 0): the candidate c that most lowers the posterior
 * variance summed over reference points r, sum_r C(r, c)^2 / C(c, c) (Sacks et al. 1989), each
 * choice conditioned into C for the next (exact for a GP with fixed hyperparameters). U holds
 * the M candidates and then the reference points. */
static int propose_imse(const adapt *a, const kv_surrogate *s, long q, long M, long R,
                        const double *U, double *unew) {
  int d = a->sp.d;
  long m = M + R;
  double *X = malloc((size_t)m * (size_t)d * sizeof *X), *mean = malloc((size_t)m * sizeof *mean);
  double *C = malloc((size_t)m * (size_t)m * sizeof *C), *col = malloc((size_t)m * sizeof *col);
  int rc = X && mean && C && col ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  if (rc == KV_OK) {
    kv_eval_space_map(&a->sp, m, U, X);
    rc = kv_surrogate_covariance(s, m, X, mean, C);
  }
  for (long k = 0; rc == KV_OK && k < q; k++) {
    long ib = 0;
    double best = -1.0;
    for (long c = 0; c < M; c++) {
      double v = C[c + c * m], red = 0.0;
      for (long r = M; r < m && v > 0.0; r++) {
        red += C[r + c * m] * C[r + c * m];
      }
      red = v > 0.0 ? red / v : 0.0;
      if (red > best) {
        best = red;
        ib = c;
      }
    }
    memcpy(unew + k * d, U + ib * d, (size_t)d * sizeof *unew);
    double v = C[ib + ib * m];
    memcpy(col, C + ib * m, (size_t)m * sizeof *col);
    for (long j = 0; v > 0.0 && j < m; j++) {
      for (long i = 0; i < m; i++) {
        C[i + j * m] -= col[i] * col[j] / v;
      }
    }
  }
  free(X);
  free(mean);
  free(C);
  free(col);
  return rc;
}

/* The next q points (rank 0): the best-scoring candidates, kept apart by local penalisation. */
static int propose(const adapt *a, const kv_surrogate *s, long q, long iter, double *unew) {
  int d = a->sp.d;
  long M = a->p.candidates > 0 ? a->p.candidates : 1000L * d;
  double *U = malloc(2 * (size_t)M * (size_t)d * sizeof *U), *sc = malloc((size_t)M * sizeof *sc);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = U && sc && r ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  int imse = a->p.criterion == 1 && kv_surrogate_type_get(s)->covariance;
  /* IMSE: a joint covariance of candidates and reference points, so fewer of each. */
  long R = imse ? (M < 400 ? M : 400) : 0;
  M = imse ? R : M;
  if (rc == KV_OK) {
    gsl_rng_set(r, a->p.seed * 7919UL + (unsigned long)iter);
    for (long k = 0; k < (M + R) * d; k++) {
      U[k] = gsl_rng_uniform(r);
    }
    rc = imse ? propose_imse(a, s, q, M, R, U, unew) : score(a, s, M, U, sc);
  }
  if (imse) {
    gsl_rng_free(r);
    free(U);
    free(sc);
    return rc;
  }
  double h = pow((double)(a->n + q), -1.0 / d);
  for (long k = 0; rc == KV_OK && k < q; k++) {
    long ib = 0;
    for (long c = 1; c < M; c++) {
      ib = sc[c] > sc[ib] ? c : ib;
    }
    memcpy(unew + k * d, U + ib * d, (size_t)d * sizeof *unew);
    for (long c = 0; c < M; c++) {
      double r2 = 0.0;
      for (int j = 0; j < d; j++) {
        r2 += (U[c * d + j] - U[ib * d + j]) * (U[c * d + j] - U[ib * d + j]);
      }
      sc[c] *= 1.0 - exp(-r2 / (h * h));
    }
  }
  gsl_rng_free(r);
  free(U);
  free(sc);
  return rc;
}

/* adapt.csv and adapt.png: the learning curve so far (rank 0). */
static int write_curve(const kv_adapt_result *r) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/adapt.csv", r->dir);
  FILE *f = kv_textfile_begin(path, "runs,error", "the learning curve", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fputs("runs,error\n", f);
  double x[KV_ADAPT_MAXCURVE], y[KV_ADAPT_MAXCURVE];
  for (long i = 0; i < r->ncurve; i++) {
    fprintf(f, "%ld,%.10g\n", r->curve[i].runs, r->curve[i].error);
    x[i] = (double)r->curve[i].runs;
    y[i] = r->curve[i].error;
  }
  KV_CHECK(kv_textfile_commit(f, tmp, path));
  snprintf(path, sizeof path, "%s/adapt.png", r->dir);
  char title[128];
  snprintf(title, sizeof title, "learning curve (%s error)", r->error_of);
  const char *names[] = {"relative RMSE"};
  const double *xs[] = {x}, *ys[] = {y};
  long n = r->ncurve;
  kv_chart_opts o = {title, "runs of the full solver", "relative RMSE", 1};
  return kv_chart_lines(1, names, &n, xs, ys, &o, path);
}

/* The curve of an earlier run, up to `runs` (rank 0; none when absent). */
static void read_curve(kv_adapt_result *r, long runs) {
  char path[4200];
  snprintf(path, sizeof path, "%s/adapt.csv", r->dir);
  kv_table t = {0};
  if (kv_table_read_csv(path, &t) != KV_OK) {
    kv_error_clear();
    return;
  }
  int cr = kv_table_column(&t, "runs"), ce = kv_table_column(&t, "error");
  for (long i = 0; cr >= 0 && ce >= 0 && i < t.nrows && r->ncurve < KV_ADAPT_MAXCURVE; i++) {
    if (t.v[i * t.ncols + cr] < (double)runs) {
      r->curve[r->ncurve].runs = (long)t.v[i * t.ncols + cr];
      r->curve[r->ncurve++].error = t.v[i * t.ncols + ce];
    }
  }
  kv_table_free(&t);
}

static int setup(MPI_Comm comm, const kv_config *cfg, adapt *a) {
  memset(a, 0, sizeof *a);
  a->cfg = cfg;
  KV_CHECK(kv_adapt_params_from_config(cfg, &a->p));
  KV_CHECK(kv_eval_space_from_sweep(cfg, "kelvin adapt", &a->sp));
  if (!a->p.dir[0]) {
    snprintf(a->p.dir, sizeof a->p.dir, "%.4000s/adapt", a->sp.dir);
  }
  KV_CHECK(kv_eval_sizes(comm, cfg, "adapt", &a->sp, 3, &a->p.initial, a->p.budget, &a->p.batch));
  KV_CHECK(kv_surrogate_type_of(cfg, &a->t));
  if (!a->t->predict || !(a->t->data & (KV_DATA_SCALAR | KV_DATA_FIELD))) {
    return kv_config_errorf(cfg, "surrogate.kind",
                            "kelvin adapt needs a kind that predicts from inputs (gp, auto, "
                            "pcagp, ...), not %s",
                            a->t->name);
  }
  return data_config(cfg, a->p.dir, NULL, &a->fitcfg);
}

/* The held-out runs (once) and their data (rank 0). */
static int holdout(MPI_Comm comm, adapt *a, kv_dataset *hds) {
  int d = a->sp.d;
  long H = a->p.holdout;
  char hdir[4200];
  snprintf(hdir, sizeof hdir, "%s/holdout", a->p.dir);
  double *U = malloc((size_t)H * (size_t)d * sizeof *U), *X = malloc((size_t)H * d * sizeof *X);
  const char *keys[KV_EVAL_MAXD];
  for (int j = 0; j < d; j++) {
    keys[j] = a->sp.name[j];
  }
  long failed = 0;
  int rc = U && X ? kv_sample_lhs(H, d, a->p.seed + 1000003UL, U)
                  : KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  if (rc == KV_OK) {
    kv_eval_space_map(&a->sp, H, U, X);
    rc = kv_eval_points(comm, a->cfg, hdir, d, keys, H, X, 0, NULL, NULL, &failed);
  }
  free(U);
  free(X);
  if (rc == KV_OK) {
    rc = data_config(a->cfg, hdir, NULL, &a->hcfg);
  }
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    rc = kv_fit_dataset(a->hcfg, a->t, 0, hds);
  }
  return kv_status_agree(comm, rc);
}

int kv_adapt_run(MPI_Comm comm, const kv_config *cfg, int resume, kv_adapt_result *out) {
  adapt a;
  memset(out, 0, sizeof *out);
  int root = kv_comm_rank(comm) == 0;
  kv_dataset hds;
  memset(&hds, 0, sizeof hds);
  int rc = setup(comm, cfg, &a);
  rc = kv_status_agree(comm, rc);
  int d = a.sp.d;
  long cap = 0;
  if (rc == KV_OK) {
    rc = kv_eval_history(comm, &a.sp, a.p.dir, resume, "kelvin adapt CONFIG", &a.X, &a.n);
  }
  cap = a.n > a.p.budget ? a.n : a.p.budget;
  double *X = rc == KV_OK ? realloc(a.X, (size_t)(cap + 1) * (size_t)d * sizeof *X) : NULL;
  if (rc == KV_OK && !X) {
    rc = KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  }
  a.X = X ? X : a.X;
  if (rc == KV_OK && a.n < a.p.initial) {
    /* The initial design: the same for every run of this configuration. */
    rc = kv_eval_initial(&a.sp, a.p.initial, a.p.seed, a.X);
    a.n = rc == KV_OK ? a.p.initial : a.n;
  }
  out->sp = a.sp;
  snprintf(out->dir, sizeof out->dir, "%s", a.p.dir);
  snprintf(out->error_of, sizeof out->error_of, "%s",
           a.p.holdout > 0 ? "held-out" : "cross-validation");
  if (rc == KV_OK && a.p.holdout > 0) {
    rc = holdout(comm, &a, &hds);
  }
  if (rc == KV_OK && root && a.n > a.p.initial) {
    read_curve(out, a.n);
  }
  const char *keys[KV_EVAL_MAXD];
  for (int j = 0; j < d; j++) {
    keys[j] = a.sp.name[j];
  }
  for (long iter = 0; rc == KV_OK; iter++) {
    long failed = 0;
    rc = kv_eval_points(comm, cfg, a.p.dir, d, keys, a.n, a.X, 0, NULL, NULL, &failed);
    kv_surrogate *s = NULL;
    if (rc == KV_OK) {
      rc = kv_fit(comm, a.fitcfg, &s, a.model, sizeof a.model);
    }
    double err = NAN;
    if (rc == KV_OK && root) {
      if (a.p.holdout > 0) {
        rc = holdout_error(s, &hds, &err);
      } else if (kv_surrogate_cv(s)) {
        double q2 = kv_surrogate_cv(s)->q2;
        err = sqrt(q2 < 1.0 ? 1.0 - q2 : 0.0);
      } else {
        rc = KV_ERROR(KV_ERR_UNSUPPORTED,
                      "adapt: the surrogate has no cross-validation scores: set adapt.holdout");
      }
    }
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK) {
      rc = kv_comm_bcast(&err, 1, MPI_DOUBLE, 0, comm);
    }
    out->runs = a.n - failed;
    out->failed = failed;
    if (rc == KV_OK && out->ncurve < KV_ADAPT_MAXCURVE) {
      out->curve[out->ncurve].runs = out->runs;
      out->curve[out->ncurve++].error = err;
    }
    if (rc == KV_OK && root) {
      kv_info("adapt: %ld runs, %s error %.4g (tolerance %g)", out->runs, out->error_of, err,
              a.p.tolerance);
      rc = write_curve(out);
    }
    rc = kv_status_agree(comm, rc);
    long q = a.p.budget - a.n < a.p.batch ? a.p.budget - a.n : a.p.batch;
    out->reached = err <= a.p.tolerance;
    if (rc != KV_OK || out->reached || q <= 0) {
      kv_surrogate_free(s);
      break;
    }
    if (root) {
      rc = propose(&a, s, q, iter, a.X + a.n * d);
    }
    kv_surrogate_free(s);
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK) {
      rc = kv_comm_bcast(a.X + a.n * d, (int)(q * d), MPI_DOUBLE, 0, comm);
    }
    if (rc == KV_OK) {
      /* The candidates are unit points: to the inputs' values in place. */
      kv_eval_space_map(&a.sp, q, a.X + a.n * d, a.X + a.n * d);
      a.n += q;
    }
  }
  snprintf(out->model, sizeof out->model, "%s", a.model);
  kv_dataset_free(&hds);
  kv_config_free(a.fitcfg);
  kv_config_free(a.hcfg);
  free(a.X);
  return rc;
}

void kv_adapt_print(const kv_adapt_result *r, double tolerance, FILE *f) {
  fprintf(f, "adapt: learning curve (%s relative RMSE):\n", r->error_of);
  for (long i = 0; i < r->ncurve; i++) {
    fprintf(f, "  %6ld runs  %.4g\n", r->curve[i].runs, r->curve[i].error);
  }
  fprintf(f, "%s after %ld runs of the full solver (%ld failed); model: %s\n",
          r->reached ? "tolerance reached" : "tolerance NOT reached", r->runs, r->failed, r->model);
  fprintf(f, "tolerance %g; check it with kelvin validate CONFIG surrogate.model=%s\n", tolerance,
          r->model);
}
