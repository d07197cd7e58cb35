#include "drivers/optimize.h"

#include <ctype.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "io/chart.h"
#include "io/dataset.h"
#include "io/table.h"
#include "io/textfile.h"
#include "solvers/model.h"
#include "surrogates/sampling.h"
#include "surrogates/surrogate.h"

/* Two points closer than this in the unit cube are the same run; a replacement for a maximiser
 * on a run keeps this far from every run. */
#define KV_OPT_SAME 1e-6
#define KV_OPT_AWAY 1e-3
/* Iterations in a row with the expected improvement below optimize.tolerance that stop EGO. */
#define KV_OPT_QUIET 2

const kv_config_key kv_optimize_keys[] = {
    {"optimize.response", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the response to optimise (a model response, e.g. T_mean or an external.responses name)"},
    {"optimize.goal", KV_CFG_ENUM, "minimize", "minimize|maximize", KV_CFG_NORANGE,
     "minimize or maximize it"},
    {"optimize.initial", KV_CFG_INT, "0", NULL, 0, 100000,
     "initial Latin hypercube size (0: max(6, 3 d))"},
    {"optimize.budget", KV_CFG_INT, "50", NULL, 1, 1000000,
     "evaluations of the model at most, the initial design included"},
    {"optimize.batch", KV_CFG_INT, "0", NULL, 0, 10000,
     "points per iteration, run in parallel (0: the farm's rank groups)"},
    {"optimize.acquisition", KV_CFG_ENUM, "ei", "ei|lcb", KV_CFG_NORANGE,
     "log expected improvement or lower confidence bound (times the probability of feasibility)"},
    {"optimize.kappa", KV_CFG_DOUBLE, "2", NULL, 0.0, 100.0, "LCB: the weight on the deviation"},
    {"optimize.transform", KV_CFG_ENUM, "none", "none|log", KV_CFG_NORANGE,
     "model log(response) instead (positive responses spanning decades, e.g. Goldstein-Price)"},
    {"optimize.tolerance", KV_CFG_DOUBLE, "1e-9", NULL, 0.0, 1.0,
     "stop when the expected improvement is below this fraction of the observed range in two "
     "iterations in a row"},
    {"optimize.wall", KV_CFG_DOUBLE, "0", NULL, 0.0, 1e9,
     "stop starting batches after this many seconds (0: no limit)"},
    {"optimize.targets", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "calibration (an inverse problem): name:value, ... ; the objective becomes the misfit "
     "sum ((response - value) / |value|)^2, minimised"},
    {"optimize.constraints", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "constraints on other responses: name <= value, name >= value, ..."},
    {"optimize.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the initial design"},
    {"optimize.global", KV_CFG_ENUM, "direct", "direct|crs", KV_CFG_NORANGE,
     "NLopt's global search of the acquisition (DIRECT-L or CRS2), then L-BFGS"},
    {"optimize.acq_evals", KV_CFG_INT, "0", NULL, 0, 100000000,
     "acquisition evaluations per global search (0: 1000 d)"},
    {"optimize.offline", KV_CFG_BOOL, "false", NULL, KV_CFG_NORANGE,
     "optimise the surrogate of fixed data ([surrogate] data: a table or a sweep) without "
     "running the model"},
    {"optimize.trust", KV_CFG_DOUBLE, "0.2", NULL, 0.0, 10.0,
     "offline: stay within this distance of the data (inputs scaled to [0, 1]; 0: anywhere)"},
    {"optimize.penalty", KV_CFG_DOUBLE, "2", NULL, 0.0, 100.0,
     "offline: minimise the prediction + this many standard deviations (pessimism)"},
    {"optimize.placement", KV_CFG_INT, "0", NULL, 0, 64,
     "placement search: choose this many sites for elements (0: off; see optimize.element)"},
    {"optimize.place_key", KV_CFG_STRING, "heat.source_add", NULL, KV_CFG_NORANGE,
     "placement: the model key that gets the placed elements as a field file"},
    {"optimize.place_field", KV_CFG_STRING, "T", NULL, KV_CFG_NORANGE,
     "placement: the field whose region statistic is minimised (or maximised)"},
    {"optimize.element", KV_CFG_DOUBLE_LIST, NULL, NULL, KV_CFG_NORANGE,
     "placement: sigma, amplitude of each element (a Gaussian; amplitude < 0: a sink)"},
    {"optimize.sites", KV_CFG_INT_LIST, "8, 8", NULL, 1, 4096,
     "placement: the lattice of candidate sites, nx, ny, over the field's extent"},
    {"optimize.region", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "placement: x0:x1, y0:y1, the region of the objective (default: the whole field)"},
    {"optimize.region_stat", KV_CFG_ENUM, "mean", "mean|max", KV_CFG_NORANGE,
     "placement: the statistic of the field over the region"},
    {"optimize.ils", KV_CFG_INT, "200", NULL, 0, 100000000,
     "placement: perturbation rounds of the iterated local search"},
    {"optimize.random", KV_CFG_INT, "8", NULL, 0, 100000,
     "placement: random placements run by the full solver for comparison"},
    {"optimize.confirm", KV_CFG_INT, "3", NULL, 1, 1000,
     "placement: searches (ILS restarts) whose best placement the full solver re-runs"},
    {"optimize.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where the evaluations and results go (default: <sweep dir>/optimize)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

/* "c <= 1, g >= 0" into p. */
static int parse_constraints(const kv_config *cfg, const char *text, kv_optimize_params *p) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", text);
  char *save = NULL;
  for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    char *op = strstr(e, "<=") ? strstr(e, "<=") : strstr(e, ">=");
    if (!op) {
      return kv_config_errorf(cfg, "optimize.constraints",
                              "'%s': expected name <= value or name >= value", kv_table_trim(e));
    }
    if (p->ncon == KV_ACQ_MAXCON) {
      return kv_config_errorf(cfg, "optimize.constraints", "at most %d constraints", KV_ACQ_MAXCON);
    }
    int sign = op[0] == '<' ? 1 : -1;
    *op = '\0';
    char *name = kv_table_trim(e), *val = kv_table_trim(op + 2), *end;
    double v = strtod(val, &end);
    if (!*name || !*val || *end || !isfinite(v)) {
      return kv_config_errorf(cfg, "optimize.constraints",
                              "'%s %s %s': expected a response name and a number", name,
                              sign > 0 ? "<=" : ">=", val);
    }
    snprintf(p->con_name[p->ncon], sizeof p->con_name[0], "%s", name);
    p->con_limit[p->ncon] = v;
    p->con_sign[p->ncon++] = sign;
  }
  return KV_OK;
}

/* "T_mean:1.2, T_max:2" into p. */
static int parse_targets(const kv_config *cfg, const char *text, kv_optimize_params *p) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", text);
  char *save = NULL;
  for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(e, ':'), *end = NULL;
    double v = colon ? strtod(colon + 1, &end) : NAN;
    if (colon) {
      *colon = '\0';
    }
    char *name = kv_table_trim(e);
    if (!colon || !*name || !end || *kv_table_trim(end) || !isfinite(v)) {
      return kv_config_errorf(cfg, "optimize.targets", "'%s': expected response:value", name);
    }
    if (p->ntarget == KV_ACQ_MAXCON) {
      return kv_config_errorf(cfg, "optimize.targets", "at most %d targets", KV_ACQ_MAXCON);
    }
    snprintf(p->target_name[p->ntarget], sizeof p->target_name[0], "%s", name);
    p->target_value[p->ntarget++] = v;
  }
  return KV_OK;
}

int kv_optimize_params_from_config(const kv_config *cfg, kv_optimize_params *p) {
  memset(p, 0, sizeof *p);
  const char *v;
  long seed;
  if ((v = kv_config_value(cfg, "optimize.targets"))) {
    KV_CHECK(parse_targets(cfg, v, p));
  }
  KV_CHECK(kv_config_get_bool(cfg, "optimize.offline", &p->offline));
  long placement;
  KV_CHECK(kv_config_get_int(cfg, "optimize.placement", 0, 64, &placement));
  v = kv_config_value(cfg, "optimize.response");
  if (!v && placement > 0) {
    v = "placement";
  }
  if (!v && !p->ntarget && p->offline) {
    v = kv_config_value(cfg, "surrogate.output");
    v = v ? v : kv_config_value(cfg, "surrogate.qoi");
  }
  if (!v && !p->ntarget) {
    return kv_config_errorf(cfg, "optimize.response",
                            "kelvin optimize needs the response to optimise ([optimize] response "
                            "= NAME, one the model records) or optimize.targets");
  }
  if (v && p->ntarget) {
    return kv_config_errorf(cfg, "optimize.response",
                            "either a response to optimise or optimize.targets to match, not both");
  }
  snprintf(p->response, sizeof p->response, "%s", v ? v : "misfit");
  KV_CHECK(kv_config_get_enum(cfg, "optimize.goal", "minimize|maximize", &p->maximize));
  KV_CHECK(kv_config_get_int(cfg, "optimize.initial", 0, 100000, &p->initial));
  KV_CHECK(kv_config_get_int(cfg, "optimize.budget", 1, 1000000, &p->budget));
  KV_CHECK(kv_config_get_int(cfg, "optimize.batch", 0, 10000, &p->batch));
  KV_CHECK(kv_config_get_enum(cfg, "optimize.acquisition", "ei|lcb", &p->acquisition));
  KV_CHECK(kv_config_get_double(cfg, "optimize.kappa", 0.0, 100.0, &p->kappa));
  KV_CHECK(kv_config_get_double(cfg, "optimize.tolerance", 0.0, 1.0, &p->tolerance));
  KV_CHECK(kv_config_get_enum(cfg, "optimize.transform", "none|log", &p->log));
  KV_CHECK(kv_config_get_double(cfg, "optimize.wall", 0.0, 1e9, &p->wall));
  if ((v = kv_config_value(cfg, "optimize.constraints"))) {
    KV_CHECK(parse_constraints(cfg, v, p));
  }
  KV_CHECK(kv_config_get_int(cfg, "optimize.seed", 0, 4294967295L, &seed));
  p->seed = (unsigned long)seed;
  KV_CHECK(kv_config_get_enum(cfg, "optimize.global", "direct|crs", &p->global));
  KV_CHECK(kv_config_get_int(cfg, "optimize.acq_evals", 0, 100000000, &p->acq_evals));
  KV_CHECK(kv_config_get_double(cfg, "optimize.trust", 0.0, 10.0, &p->trust));
  KV_CHECK(kv_config_get_double(cfg, "optimize.penalty", 0.0, 100.0, &p->penalty));
  if ((v = kv_config_value(cfg, "optimize.dir"))) {
    snprintf(p->dir, sizeof p->dir, "%s", v);
  }
  return KV_OK;
}

/* ------------------------------------------------------------------ state */

typedef struct {
  const kv_config *cfg;
  kv_optimize_params p;
  kv_eval_space sp;
  int nresp; /* 1 + constraints                                   */
  int nraw;  /* what the model is asked for: the response (or the targets) + constraints */
  const char *raw[2 * KV_ACQ_MAXCON];
  double *R; /* n x nraw                                          */
  const char *resp[1 + KV_ACQ_MAXCON];
  long n, cap; /* points proposed so far                            */
  double *X;   /* n x d, the inputs (physical)                       */
  double *Y;   /* n x nresp, NaN for failed or pending runs          */
  const kv_surrogate_type *t;
  void *params;
} opt;

static int grow(opt *o, long n) {
  if (n <= o->cap) {
    return KV_OK;
  }
  long cap = n + 64;
  double *X = realloc(o->X, (size_t)cap * (size_t)o->sp.d * sizeof *X);
  if (X) {
    o->X = X;
  }
  double *Y = realloc(o->Y, (size_t)cap * (size_t)o->nresp * sizeof *Y);
  if (Y) {
    o->Y = Y;
  }
  double *R = realloc(o->R, (size_t)cap * (size_t)o->nraw * sizeof *R);
  if (R) {
    o->R = R;
  }
  if (!X || !Y || !R) {
    return KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory");
  }
  o->cap = cap;
  return KV_OK;
}

/* The objective as minimised (maximisation negated; log taken first when asked: a value <= 0
 * then counts as failed). */
static double objective_value(const opt *o, long i) {
  double v = o->Y[i * o->nresp];
  v = o->p.log ? (v > 0.0 ? log(v) : NAN) : v;
  return o->p.maximize ? -v : v;
}

static int feasible(const opt *o, long i) {
  for (int c = 0; c < o->p.ncon; c++) {
    double v = o->Y[i * o->nresp + 1 + c];
    if (!(o->p.con_sign[c] * v <= o->p.con_sign[c] * o->p.con_limit[c])) {
      return 0;
    }
  }
  return isfinite(o->Y[i * o->nresp]);
}

/* Run every proposed point not yet done (all ranks). */
static int evaluate(MPI_Comm comm, opt *o, long *failed) {
  const char *keys[KV_EVAL_MAXD];
  for (int j = 0; j < o->sp.d; j++) {
    keys[j] = o->sp.name[j];
  }
  KV_CHECK(kv_eval_points(comm, o->cfg, o->p.dir, o->sp.d, keys, o->n, o->X, o->nraw, o->raw, o->R,
                          failed));
  int nobj = o->p.ntarget ? o->p.ntarget : 1;
  for (long i = 0; i < o->n; i++) {
    const double *r = o->R + i * o->nraw;
    double *y = o->Y + i * o->nresp;
    y[0] = r[0];
    if (o->p.ntarget) {
      /* A relative misfit, so targets of different units weigh alike. */
      y[0] = 0.0;
      for (int k = 0; k < o->p.ntarget; k++) {
        double t = o->p.target_value[k], s = fabs(t) > 0.0 ? fabs(t) : 1.0;
        y[0] += (r[k] - t) * (r[k] - t) / (s * s);
      }
    }
    for (int c = 0; c < o->p.ncon; c++) {
      y[1 + c] = r[nobj + c];
    }
  }
  return KV_OK;
}

/* A surrogate of response column k over the unit cube from rows with finite values, plus the
 * extra (liar) rows xl/yl. */
static int fit_column(const opt *o, int k, long nl, const double *xl, const double *yl,
                      kv_surrogate **out) {
  int d = o->sp.d;
  kv_dataset ds;
  memset(&ds, 0, sizeof ds);
  double lo[KV_EVAL_MAXD], hi[KV_EVAL_MAXD];
  char *names[KV_EVAL_MAXD];
  for (int j = 0; j < d; j++) {
    lo[j] = 0.0;
    hi[j] = 1.0;
    names[j] = (char *)o->sp.name[j];
  }
  ds.X = malloc((size_t)(o->n + nl) * (size_t)d * sizeof *ds.X);
  ds.y = malloc((size_t)(o->n + nl) * sizeof *ds.y);
  if (!ds.X || !ds.y) {
    free(ds.X);
    free(ds.y);
    return KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory");
  }
  long m = 0;
  for (long i = 0; i < o->n; i++) {
    double v = k == 0 ? objective_value(o, i) : o->Y[i * o->nresp + k];
    if (isfinite(v)) {
      kv_eval_space_unmap(&o->sp, 1, o->X + i * d, ds.X + m * d);
      ds.y[m++] = v;
    }
  }
  for (long i = 0; i < nl; i++) {
    memcpy(ds.X + m * d, xl + i * d, (size_t)d * sizeof *ds.X);
    ds.y[m++] = yl[i];
  }
  ds.kind = KV_DATA_SCALAR;
  ds.n = m;
  ds.d = d;
  ds.names = names;
  ds.lo = lo;
  ds.hi = hi;
  snprintf(ds.source, sizeof ds.source, "%.4000s/cases.csv", o->p.dir);
  snprintf(ds.yname, sizeof ds.yname, "%s", o->resp[k]);
  int rc = kv_surrogate_fit(o->t, &ds, o->params, NULL, out);
  free(ds.X);
  free(ds.y);
  return rc;
}

/* The unit-cube distance from u to the nearest point run or already in the batch (k of unew). */
static double nearest_run(const opt *o, const double *unew, long k, const double *u) {
  int d = o->sp.d;
  double best = kv_acq_nearest(d, u, k, unew, NULL);
  for (long i = 0; i < o->n; i++) {
    double ui[KV_EVAL_MAXD];
    kv_eval_space_unmap(&o->sp, 1, o->X + i * d, ui);
    best = fmin(best, kv_acq_nearest(d, u, 1, ui, NULL));
  }
  return best;
}

/* The best of 1000 d seeded random unit points farther than KV_OPT_AWAY from every run (u);
 * KV_ERR_NOT_CONVERGED when none is (the box is full). */
static int away_from_runs(const opt *o, const kv_acq *a, const double *unew, long k,
                          unsigned long seed, double *u) {
  int d = o->sp.d;
  long M = 1000L * d;
  double c[KV_EVAL_MAXD], best = -INFINITY;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) {
    return KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory");
  }
  gsl_rng_set(r, seed);
  int rc = KV_OK;
  for (long m = 0; m < M && rc == KV_OK; m++) {
    for (int j = 0; j < d; j++) {
      c[j] = gsl_rng_uniform(r);
    }
    double v;
    if (nearest_run(o, unew, k, c) < KV_OPT_AWAY) {
      continue;
    }
    rc = kv_acq_eval(a, c, &v, NULL, NULL);
    if (rc == KV_OK && v > best) {
      best = v;
      memcpy(u, c, (size_t)d * sizeof *u);
    }
  }
  gsl_rng_free(r);
  return rc != KV_OK ? rc : best > -INFINITY ? KV_OK : KV_ERR_NOT_CONVERGED;
}

/* The next q points (rank 0): the acquisition's maximiser, then the constant liar (the
 * objective's liar the best value so far, each constraint's its prediction) for the others. */
static int propose(const opt *o, long q, double *unew, double *ei_first, int *dup) {
  int d = o->sp.d;
  double best = NAN, lie = INFINITY;
  long ibest = -1;
  for (long i = 0; i < o->n; i++) {
    double v = objective_value(o, i);
    if (isfinite(v)) {
      lie = fmin(lie, v);
    }
    if (feasible(o, i) && !(v >= best)) {
      best = v;
      ibest = i;
    }
  }
  double *yl = malloc((size_t)(q + 1) * (1 + KV_ACQ_MAXCON) * sizeof *yl);
  if (!yl) {
    return KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory");
  }
  int rc = KV_OK;
  *dup = 0;
  *ei_first = NAN;
  long evals = o->p.acq_evals > 0 ? o->p.acq_evals : 1000L * d;
  for (long k = 0; k < q && rc == KV_OK; k++) {
    kv_surrogate *obj = NULL, *con[KV_ACQ_MAXCON] = {0};
    kv_acq a;
    memset(&a, 0, sizeof a);
    rc = fit_column(o, 0, k, unew, yl, &obj);
    for (int c = 0; c < o->p.ncon && rc == KV_OK; c++) {
      rc = fit_column(o, 1 + c, k, unew, yl + (q + 1) * (1 + c), &con[c]);
      a.con[c] = con[c];
      a.limit[c] = o->p.con_limit[c];
      a.sign[c] = o->p.con_sign[c];
    }
    double *u = unew + k * d, start[KV_EVAL_MAXD], val, lei;
    if (rc == KV_OK) {
      a.objective = obj;
      a.ncon = o->p.ncon;
      a.kind = o->p.acquisition;
      a.best = best;
      a.kappa = o->p.kappa;
      if (ibest >= 0) {
        kv_eval_space_unmap(&o->sp, 1, o->X + ibest * d, start);
      }
      rc = kv_acq_maximize(&a, d, o->p.global, evals, o->p.seed + (unsigned long)(o->n + k),
                           ibest >= 0 ? start : NULL, ibest >= 0, u, &val);
    }
    if (rc == KV_OK && nearest_run(o, unew, k, u) < KV_OPT_SAME) {
      /* The maximiser sits on a point already run (a GP with a nugget keeps some EI there): the
       * best candidate of a random cloud away from the runs instead. */
      rc = away_from_runs(o, &a, unew, k, o->p.seed + 31UL * (unsigned long)(o->n + k), u);
      *dup |= rc == KV_ERR_NOT_CONVERGED;
      rc = rc == KV_ERR_NOT_CONVERGED ? KV_OK : rc;
    }
    if (rc == KV_OK) {
      rc = kv_acq_eval(&a, u, &val, &lei, NULL);
    }
    if (rc == KV_OK && k == 0) {
      *ei_first = exp(lei);
    }
    yl[k] = isfinite(lie) ? lie : 0.0;
    for (int c = 0; c < o->p.ncon && rc == KV_OK; c++) {
      rc = kv_surrogate_predict(con[c], 1, u, yl + (q + 1) * (1 + c) + k, NULL);
    }
    kv_surrogate_free(obj);
    for (int c = 0; c < o->p.ncon; c++) {
      kv_surrogate_free(con[c]);
    }
  }
  free(yl);
  return rc;
}

/* The best feasible evaluation (or -1). */
static long best_index(const opt *o) {
  long ib = -1;
  for (long i = 0; i < o->n; i++) {
    if (feasible(o, i) && (ib < 0 || objective_value(o, i) < objective_value(o, ib))) {
      ib = i;
    }
  }
  return ib;
}

/* optimize.csv and the convergence plot (rank 0). */
static int write_results(const opt *o) {
  char path[4200], tmp[4300];
  int d = o->sp.d;
  snprintf(path, sizeof path, "%s/optimize.csv", o->p.dir);
  FILE *f = kv_textfile_begin(path, "eval,", "the optimisation history", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  double *bx = malloc((size_t)(o->n + 1) * 2 * sizeof *bx);
  if (!bx) {
    fclose(f);
    return KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory");
  }
  double *by = bx + o->n + 1, run = NAN;
  fputs("eval", f);
  for (int j = 0; j < d; j++) {
    fprintf(f, ",%s", o->sp.name[j]);
  }
  for (int k = 0; k < o->nresp; k++) {
    fprintf(f, ",%s", o->resp[k]);
  }
  for (int k = 0; k < o->p.ntarget; k++) {
    fprintf(f, ",%s", o->raw[k]);
  }
  fputs(",feasible,best\n", f);
  for (long i = 0; i < o->n; i++) {
    double v = o->Y[i * o->nresp];
    if (feasible(o, i) && (isnan(run) || (o->p.maximize ? v > run : v < run))) {
      run = v;
    }
    fprintf(f, "%ld", i + 1);
    for (int j = 0; j < d; j++) {
      fprintf(f, ",%.17g", o->X[i * d + j]);
    }
    for (int k = 0; k < o->nresp; k++) {
      fprintf(f, ",%.17g", o->Y[i * o->nresp + k]);
    }
    for (int k = 0; k < o->p.ntarget; k++) {
      fprintf(f, ",%.17g", o->R[i * o->nraw + k]);
    }
    fprintf(f, ",%d,%.17g\n", feasible(o, i), run);
    bx[i] = (double)(i + 1);
    by[i] = run;
  }
  int rc = kv_textfile_commit(f, tmp, path);
  if (rc == KV_OK) {
    snprintf(path, sizeof path, "%s/optimize.png", o->p.dir);
    char title[512];
    snprintf(title, sizeof title, "best %s so far (%s)", o->resp[0],
             o->p.maximize ? "maximize" : "minimize");
    const char *names[] = {"best feasible"};
    const double *xs[] = {bx}, *ys[] = {by};
    long n = o->n;
    kv_chart_opts co = {title, "evaluations of the model", o->resp[0], 0};
    rc = kv_chart_lines(1, names, &n, xs, ys, &co, path);
  }
  free(bx);
  return rc;
}

static int setup(MPI_Comm comm, const kv_config *cfg, opt *o) {
  memset(o, 0, sizeof *o);
  o->cfg = cfg;
  KV_CHECK(kv_optimize_params_from_config(cfg, &o->p));
  KV_CHECK(kv_eval_space_from_sweep(cfg, "kelvin optimize", &o->sp));
  if (!o->p.dir[0]) {
    snprintf(o->p.dir, sizeof o->p.dir, "%.4000s/optimize", o->sp.dir);
  }
  KV_CHECK(
      kv_eval_sizes(comm, cfg, "optimize", &o->sp, 2, &o->p.initial, o->p.budget, &o->p.batch));
  o->resp[0] = o->p.response;
  for (int c = 0; c < o->p.ncon; c++) {
    o->resp[1 + c] = o->p.con_name[c];
  }
  o->nresp = 1 + o->p.ncon;
  o->nraw = 0;
  for (int k = 0; k < (o->p.ntarget ? o->p.ntarget : 1); k++) {
    o->raw[o->nraw++] = o->p.ntarget ? o->p.target_name[k] : o->p.response;
  }
  for (int c = 0; c < o->p.ncon; c++) {
    o->raw[o->nraw++] = o->p.con_name[c];
  }
  KV_CHECK(kv_surrogate_type_of(cfg, &o->t));
  if (!o->t->predict || !(o->t->data & KV_DATA_SCALAR)) {
    return kv_config_errorf(cfg, "surrogate.kind",
                            "kelvin optimize needs a scalar kind that predicts (gp, auto, ...), "
                            "not %s",
                            o->t->name);
  }
  return kv_surrogate_params_create(o->t, cfg, &o->params);
}

static void teardown(opt *o) {
  free(o->R);
  free(o->X);
  free(o->Y);
  kv_surrogate_params_free(o->t, o->params);
}

/* Check that the first evaluations gave the response (a mistyped name fails every case). */
static int check_responses(const opt *o, long failed) {
  int nobj = o->p.ntarget ? o->p.ntarget : 1;
  for (int k = 0; k < o->nraw; k++) {
    long good = 0;
    for (long i = 0; i < o->n; i++) {
      good += isfinite(o->R[i * o->nraw + k]);
    }
    if (good == 0) {
      return kv_config_errorf(o->cfg,
                              k >= nobj      ? "optimize.constraints"
                              : o->p.ntarget ? "optimize.targets"
                                             : "optimize.response",
                              "no evaluation recorded a response '%s' (%ld of %ld failed; see "
                              "%s/manifest.csv)",
                              o->raw[k], failed, o->n, o->p.dir);
    }
  }
  return KV_OK;
}

/* A response name the model does not record is refused before anything runs: it names one of
 * the model's responses or a field statistic (VAR_max, VAR_min, VAR_mean). */
static int check_names(const opt *o) {
  const kv_model_type *mt = NULL;
  char buf[KV_EVAL_MAXD * 64 * 2] = "";
  KV_CHECK(kv_model_type_of(o->cfg, &mt));
  if (!mt->responses || mt->responses(o->cfg, buf, sizeof buf) != KV_OK) {
    kv_error_clear();
    return KV_OK;
  }
  int nobj = o->p.ntarget ? o->p.ntarget : 1;
  for (int k = 0; k < o->nraw; k++) {
    const char *r = o->raw[k], *us = strrchr(r, '_');
    int ok = us && (!strcmp(us, "_max") || !strcmp(us, "_min") || !strcmp(us, "_mean"));
    char list[sizeof buf];
    snprintf(list, sizeof list, "%s", buf);
    char *save = NULL;
    for (char *w = strtok_r(list, ",", &save); w && !ok; w = strtok_r(NULL, ",", &save)) {
      ok = !strcmp(kv_table_trim(w), r);
    }
    if (!ok) {
      return kv_config_errorf(o->cfg,
                              k >= nobj      ? "optimize.constraints"
                              : o->p.ntarget ? "optimize.targets"
                                             : "optimize.response",
                              "unknown response '%s': the model records %s (or a field's "
                              "VAR_max, VAR_min, VAR_mean)",
                              r, buf[0] ? buf : "none");
    }
  }
  return KV_OK;
}

int kv_optimize_run(MPI_Comm comm, const kv_config *cfg, int resume, kv_optimize_result *out) {
  opt o;
  memset(out, 0, sizeof *out);
  kv_optimize_params op;
  KV_CHECK(kv_optimize_params_from_config(cfg, &op));
  if (op.offline) {
    return kv_optimize_offline(comm, cfg, &op, out);
  }
  int root = kv_comm_rank(comm) == 0;
  int rc = setup(comm, cfg, &o);
  if (rc == KV_OK) {
    rc = check_names(&o);
  }
  int d = o.sp.d;
  double *prev = NULL;
  long nprev = 0;
  if (rc == KV_OK) {
    rc = kv_eval_history(comm, &o.sp, o.p.dir, resume, "kelvin optimize CONFIG", &prev, &nprev);
  }
  if (rc == KV_OK) {
    rc = grow(&o, nprev > o.p.initial ? nprev : o.p.initial);
  }
  if (rc == KV_OK && nprev > 0) {
    memcpy(o.X, prev, (size_t)nprev * (size_t)d * sizeof *o.X);
    o.n = nprev;
  }
  free(prev);
  if (rc == KV_OK && o.n < o.p.initial) {
    /* The initial design: the same for every run of this configuration. */
    rc = kv_eval_initial(&o.sp, o.p.initial, o.p.seed, o.X);
    o.n = rc == KV_OK ? o.p.initial : o.n;
  }
  double t0 = kv_comm_wtime(), ei = NAN;
  long failed = 0, iter = 0, quiet = 0;
  snprintf(out->stop, sizeof out->stop, "budget of %ld evaluations used", o.p.budget);
  while (rc == KV_OK) {
    rc = evaluate(comm, &o, &failed);
    if (rc == KV_OK) {
      rc = check_responses(&o, failed);
    }
    if (rc != KV_OK) {
      break;
    }
    long ib = best_index(&o);
    if (root) {
      kv_info("optimize: %ld evaluation%s, best %s %s", o.n, o.n == 1 ? "" : "s", o.resp[0],
              ib >= 0 ? "" : "(none feasible yet)");
      if (ib >= 0) {
        kv_info("optimize:   %.10g at evaluation %ld", o.Y[ib * o.nresp], ib + 1);
      }
    }
    long q = o.p.budget - o.n < o.p.batch ? o.p.budget - o.n : o.p.batch;
    if (q <= 0) {
      break;
    }
    if (o.p.wall > 0.0 && kv_comm_wtime() - t0 > o.p.wall) {
      snprintf(out->stop, sizeof out->stop, "wall time of %g s reached", o.p.wall);
      break;
    }
    rc = grow(&o, o.n + q);
    double unew[64 * KV_EVAL_MAXD];
    int dup = 0;
    if (rc == KV_OK && root) {
      rc = propose(&o, q > 64 ? 64 : q, unew, &ei, &dup);
    }
    q = q > 64 ? 64 : q;
    rc = kv_status_agree(comm, rc);
    double msg[2] = {ei, dup};
    if (rc == KV_OK) {
      rc = kv_comm_bcast(msg, 2, MPI_DOUBLE, 0, comm);
    }
    if (rc == KV_OK) {
      rc = kv_comm_bcast(unew, (int)(q * d), MPI_DOUBLE, 0, comm);
    }
    if (rc != KV_OK) {
      break;
    }
    ei = msg[0];
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < o.n; i++) {
      double v = objective_value(&o, i);
      lo = isfinite(v) ? fmin(lo, v) : lo;
      hi = isfinite(v) ? fmax(hi, v) : hi;
    }
    /* A small EI once is often the surrogate's overconfidence near a narrow basin: as Dakota's
     * EGO, stop only when it stays small for KV_OPT_QUIET iterations in a row, running the
     * proposals in between (a maximiser on a run point, the box full, stops at once). */
    int small = o.p.acquisition == KV_ACQ_EI && best_index(&o) >= 0 &&
                (msg[1] > 0.5 || ei < o.p.tolerance * (hi - lo));
    quiet = small ? quiet + 1 : 0;
    if (small && (quiet >= KV_OPT_QUIET || msg[1] > 0.5)) {
      if (msg[1] > 0.5) {
        snprintf(out->stop, sizeof out->stop,
                 "expected improvement %.3g below tolerance, its maximiser a point already run",
                 ei);
      } else {
        snprintf(out->stop, sizeof out->stop,
                 "expected improvement %.3g below tolerance (%g of the observed range) in %ld "
                 "iterations in a row",
                 ei, o.p.tolerance, quiet);
      }
      break;
    }
    kv_eval_space_map(&o.sp, q, unew, o.X + o.n * d);
    o.n += q;
    iter++;
  }
  long ib = rc == KV_OK ? best_index(&o) : -1;
  out->sp = o.sp;
  out->evals = o.n;
  out->failed = failed;
  out->iterations = iter;
  out->last_ei = ei;
  out->found = ib >= 0;
  snprintf(out->dir, sizeof out->dir, "%s", o.p.dir);
  if (rc == KV_OK && ib >= 0) {
    out->best_eval = ib;
    memcpy(out->x, o.X + ib * d, (size_t)d * sizeof *out->x);
    out->value = o.Y[ib * o.nresp];
    for (int c = 0; c < o.p.ncon; c++) {
      out->con[c] = o.Y[ib * o.nresp + 1 + c];
    }
    for (int k = 0; k < o.p.ntarget; k++) {
      out->target[k] = o.R[ib * o.nraw + k];
    }
  }
  if (rc == KV_OK && root) {
    kv_surrogate *s = NULL;
    out->pred_mean = out->pred_sd = NAN;
    if (ib >= 0 && fit_column(&o, 0, 0, NULL, NULL, &s) == KV_OK) {
      double u[KV_EVAL_MAXD], m, v;
      kv_eval_space_unmap(&o.sp, 1, out->x, u);
      if (kv_surrogate_predict(s, 1, u, &m, &v) == KV_OK) {
        out->pred_mean = o.p.maximize ? -m : m;
        out->pred_sd = sqrt(v > 0.0 ? v : 0.0);
      }
    }
    kv_error_clear();
    kv_surrogate_free(s);
    rc = write_results(&o);
  }
  rc = kv_status_agree(comm, rc);
  teardown(&o);
  return rc;
}

void kv_optimize_print(const kv_optimize_result *r, const kv_optimize_params *p, FILE *f) {
  if (r->offline) {
    fprintf(f, "offline optimum of the surrogate of %s (no run of the model):\n", p->response);
    for (int j = 0; j < r->sp.d; j++) {
      fprintf(f, "  %-28s %.10g\n", r->sp.name[j], r->x[j]);
    }
    fprintf(f, "predicted %s = %.6g +- %.3g (1 sd); the best in the data is %.6g\n", p->response,
            r->pred_mean, r->pred_sd, r->data_best);
    fprintf(f,
            "nearest data point: row %ld (%s = %.6g), %.3g away (inputs scaled to [0, 1]; "
            "trust region %g)\n",
            r->nearest_index + 1, p->response, r->nearest_value, r->nearest, p->trust);
    return;
  }
  fprintf(f, "optimize: %ld evaluation%s (%ld failed), %ld iteration%s; stopped: %s\n", r->evals,
          r->evals == 1 ? "" : "s", r->failed, r->iterations, r->iterations == 1 ? "" : "s",
          r->stop);
  if (!r->found) {
    fprintf(f, "no feasible point was found\n");
    return;
  }
  fprintf(f, "best %s = %.10g at evaluation %ld (run by the full solver):\n", p->response, r->value,
          r->best_eval + 1);
  for (int j = 0; j < r->sp.d; j++) {
    fprintf(f, "  %-28s %.10g\n", r->sp.name[j], r->x[j]);
  }
  for (int k = 0; k < p->ntarget; k++) {
    fprintf(f, "  %s = %.8g (target %g)\n", p->target_name[k], r->target[k], p->target_value[k]);
  }
  for (int c = 0; c < p->ncon; c++) {
    fprintf(f, "  constraint %s %s %g: %.6g\n", p->con_name[c],
            p->con_sign[c] > 0 ? "<=" : ">=", p->con_limit[c], r->con[c]);
  }
  fprintf(f, "surrogate there: %.6g +- %.3g (1 sd)\n", r->pred_mean, r->pred_sd);
}
