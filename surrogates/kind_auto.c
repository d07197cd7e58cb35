/* Kind "auto": cross-validated selection among candidate surrogates, as SMT and Dakota users
 * compare kinds before trusting one. Every candidate of surrogate.candidates (a kind, optionally
 * with its own settings: "gp(trend=linear, prior=lognormal)") is cross-validated on the same
 * seeded folds (surrogates/cv.h), the candidates are ranked by surrogate.select_by, and the
 * winner is fitted on all the data. The model written is the winner's (its kind in the file),
 * with the leaderboard and its cross-validation scores. Candidates that cannot be fitted to the
 * data (a Box-Cox transform of negative outputs, tensor splines in 8 inputs) are listed as not
 * applicable and skipped.
 *
 * With select_cv = loo (the default) the kinds with a closed form (gp, poly, rbf, spline) are
 * scored by it, from their fit on all the data (no refits: fast, and no pessimism against models
 * that need all the points, at the price of hyperparameters held fixed); the others (moe, whose
 * clusters see every point) by cv_folds-fold refits.
 *
 * Under MPI the (candidate, fold) fits are dealt round-robin over the ranks and the held-out
 * predictions summed, so every rank ranks the same numbers and fits the same winner: the result
 * does not depend on the number of ranks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "surrogates/cv.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_auto;

enum { AUTO_MAX = 24 };

static const char auto_default[] =
    "gp, gp(prior=lognormal), gp(trend=linear, prior=lognormal), gp(transform=log), poly, rbf, "
    "spline, moe(min_clusters=2, restarts=0)";
static const char *const metric_names[] = {"mae", "rmse", "q2", "max_error"};
#define AUTO_METRICS "mae|rmse|q2|max_error"

typedef struct {
  int nc;
  char label[AUTO_MAX][1024];
  const kv_surrogate_type *t[AUTO_MAX];
  void *p[AUTO_MAX];
  int metric;
  kv_cv_params cv;
  kv_cv_params kfold; /* for kinds without a closed form when cv is leave-one-out           */
} auto_params;

static const kv_config_key auto_keys[] = {
    {"surrogate.candidates", KV_CFG_STRING, auto_default, NULL, KV_CFG_NORANGE,
     "the kinds compared, each optionally with settings: kind(key=value, ...)"},
    {"surrogate.select_by", KV_CFG_ENUM, "mae", AUTO_METRICS, KV_CFG_NORANGE,
     "the cross-validation score the winner is chosen by"},
    {"surrogate.select_cv", KV_CFG_ENUM, "loo", "loo|kfold", KV_CFG_NORANGE,
     "how candidates are compared: loo (each kind's closed form, no refits) or kfold "
     "(cv_folds refits, warm-started)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static void params_free(void *v) {
  auto_params *p = v;
  for (int i = 0; p && i < p->nc; i++) {
    kv_surrogate_params_free(p->t[i], p->p[i]);
  }
  free(p);
}

/* The next candidate of list at *pos: its text up to a comma outside parentheses. */
static int next_candidate(const char *list, size_t *pos, char *out, size_t n) {
  size_t i = *pos, o = 0;
  int depth = 0;
  while (list[i] == ' ' || list[i] == ',') {
    i++;
  }
  if (!list[i]) {
    return 0;
  }
  for (; list[i] && (depth > 0 || list[i] != ','); i++) {
    depth += list[i] == '(' ? 1 : list[i] == ')' ? -1 : 0;
    if (o + 1 < n) {
      out[o++] = list[i];
    }
  }
  while (o > 0 && out[o - 1] == ' ') {
    o--;
  }
  out[o] = '\0';
  *pos = i;
  return 1;
}

/* 1 when key is one of kind t's own (a mixture's: or of the kinds its experts can be). */
static int own_key(const kv_surrogate_type *t, const char *key) {
  const kv_config_key *mine[4] = {t->keys[0], t->keys[1], t->keys[2], NULL};
  if (kv_config_key_find(mine, key)) {
    return 1;
  }
  for (int i = 0; t->selects && kv_surrogate_type_at(i); i++) {
    const kv_surrogate_type *o = kv_surrogate_type_at(i);
    if (o != t && !o->selects && (o->data & t->data) && own_key(o, key)) {
      return 1;
    }
  }
  return 0;
}

/* One candidate's parameters: the configuration with its kind and its own settings. */
static int candidate(const kv_config *cfg, const char *spec, auto_params *p) {
  char name[64] = "", args[1024] = "";
  if (sscanf(spec, "%63[a-z0-9_] ( %1023[^)] )", name, args) < 1) {
    return kv_config_errorf(cfg, "surrogate.candidates",
                            "'%s': expected kind or kind(key=value, ...)", spec);
  }
  const kv_surrogate_type *t = kv_surrogate_type_find(name);
  if (!t || t->selects == 2 || !(t->data & KV_DATA_SCALAR) || !t->predict ||
      t == &kv_surrogate_auto) {
    return kv_config_errorf(cfg, "surrogate.candidates",
                            "'%s' is not a kind auto can select (scalar kinds that predict)", name);
  }
  if (p->nc == AUTO_MAX) {
    return kv_config_errorf(cfg, "surrogate.candidates", "at most %d candidates", AUTO_MAX);
  }
  kv_config *c = NULL;
  KV_CHECK(kv_config_clone(cfg, &c));
  int rc = kv_config_set(c, "surrogate.kind", name);
  char *save = NULL;
  for (char *kv = strtok_r(args, ",", &save); rc == KV_OK && kv; kv = strtok_r(NULL, ",", &save)) {
    char key[64], val[256], full[80];
    if (sscanf(kv, " %63[a-z0-9_] = %255[^ ]", key, val) != 2) {
      rc = kv_config_errorf(cfg, "surrogate.candidates", "'%s': expected key=value in '%s'", kv,
                            spec);
      break;
    }
    snprintf(full, sizeof full, "surrogate.%s", key);
    if (!own_key(t, full)) {
      rc = kv_config_errorf(cfg, "surrogate.candidates", "'%s': %s is not a key of kind %s", spec,
                            key, name);
      break;
    }
    rc = kv_config_set_tagged(c, full, val, "surrogate.candidates");
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_params_create(t, c, &p->p[p->nc]);
  }
  kv_config_free(c);
  if (rc == KV_OK) {
    p->t[p->nc] = t;
    snprintf(p->label[p->nc], sizeof p->label[0], "%s", spec);
    p->nc++;
  }
  return rc;
}

static int params_create(const kv_config *cfg, void **params) {
  auto_params *p = calloc(1, sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  const char *list = NULL;
  int rc = kv_config_get_string(cfg, "surrogate.candidates", &list);
  if (rc == KV_OK) {
    rc = kv_config_get_enum(cfg, "surrogate.select_by", AUTO_METRICS, &p->metric);
  }
  if (rc == KV_OK) {
    rc = kv_cv_params_from_config(cfg, &p->cv);
  }
  int how = 0;
  if (rc == KV_OK) {
    rc = kv_config_get_enum(cfg, "surrogate.select_cv", "loo|kfold", &how);
  }
  p->kfold = p->cv;
  if (p->kfold.folds < 2) {
    p->kfold.folds = 5;
  }
  if (rc == KV_OK && how == 0) {
    p->cv.folds = KV_CV_LOO;
  }
  char spec[1024];
  size_t pos = 0;
  while (rc == KV_OK && next_candidate(list, &pos, spec, sizeof spec)) {
    rc = candidate(cfg, spec, p);
  }
  if (rc == KV_OK && p->nc == 0) {
    rc = kv_config_errorf(cfg, "surrogate.candidates", "expected at least one kind");
  }
  if (rc != KV_OK) {
    params_free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

/* Smaller is better for every metric once q2 is negated. */
static double badness(const kv_cv_scores *s, int metric) {
  double v = metric == 0 ? s->mae : metric == 1 ? s->rmse : metric == 2 ? -s->q2 : s->max_abs;
  return isfinite(v) ? v : INFINITY;
}

/* The leaderboard text of the ok candidates in order, then those not applicable. */
static char *leaderboard(const auto_params *p, int k, const kv_cv_scores *sc, const int *order,
                         int ok, const double *fail, const double *secs) {
  int C = p->nc;
  size_t cap = 512 + (size_t)C * 1300, len = 0;
  char *board = malloc(cap);
  if (!board) {
    return NULL;
  }
  char how[96];
  if (p->cv.folds == KV_CV_LOO) {
    snprintf(how, sizeof how, "leave-one-out (closed forms; %d-fold for kinds without)",
             p->kfold.folds);
  } else {
    snprintf(how, sizeof how, "%d-fold cross-validation", k);
  }
  len += (size_t)snprintf(board + len, cap - len,
                          "auto: %d candidates, %s, ranked by %s\n"
                          "  %-4s %-42s %12s %12s %9s %12s %6s %8s\n",
                          C, how, metric_names[p->metric], "rank", "candidate", "MAE", "RMSE", "Q2",
                          "max error", "cov95", "fit s");
  for (int i = 0; i < ok; i++) {
    const kv_cv_scores *s = &sc[order[i]];
    len += (size_t)snprintf(
        board + len, cap - len, "  %-4d %-42.42s %12.5g %12.5g %9.5f %12.5g %6.3f %8.2f\n", i + 1,
        p->label[order[i]], s->mae, s->rmse, s->q2, s->max_abs, s->coverage95, secs[order[i]]);
  }
  for (int c = 0; c < C; c++) {
    if (fail[c] != 0.0) {
      len += (size_t)snprintf(board + len, cap - len,
                              "  %-4s %-42.42s not applicable to these data\n", "-", p->label[c]);
    }
  }
  return board;
}

/* Three phases, each shared over the ranks: every candidate fitted on all the data (candidate c
 * on rank c mod size), then its folds warm-started from that fit ((candidate, fold) pairs dealt
 * round-robin), then the winner, which its rank already holds (the others fit it alike). */
static int auto_fit_parallel(MPI_Comm comm, const kv_dataset *ds, const void *params,
                             kv_surrogate **out) {
  *out = NULL;
  auto_params *def = NULL;
  if (!params) {
    /* Without a configuration: the default candidates with every kind's defaults. */
    def = calloc(1, sizeof *def);
    if (!def) {
      return KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    kv_cv_params_default(&def->cv);
    const char *names[] = {"gp", "poly", "rbf"};
    for (int i = 0; i < 3; i++) {
      def->t[def->nc] = kv_surrogate_type_find(names[i]);
      snprintf(def->label[def->nc], sizeof def->label[0], "%s", names[i]);
      def->nc++;
    }
    params = def;
  }
  const auto_params *p = params;
  int rank, size;
  rank = kv_comm_rank(comm);
  size = kv_comm_size(comm);
  long n = ds->n;
  int C = p->nc;
  size_t nn = (size_t)n;
  int *fold = malloc((nn + 1) * sizeof *fold);
  double *pred = calloc(3 * nn * (size_t)C + 1, sizeof *pred);
  double *fail = calloc(2 * (size_t)C + 1, sizeof *fail);
  kv_surrogate *full[AUTO_MAX] = {0};
  void *warm[AUTO_MAX] = {0};
  int rc = fold && pred && fail ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "auto: out of memory");
  int k = rc == KV_OK ? kv_cv_assign(n, &p->cv, fold) : 0;
  /* Kinds without a closed form, when the others are scored by leave-one-out: k-fold. */
  int *kfold = malloc((nn + 1) * sizeof *kfold);
  int kk = kfold && rc == KV_OK ? kv_cv_assign(n, &p->kfold, kfold) : 0;
  if (rc == KV_OK && !kfold) {
    rc = KV_ERROR(KV_ERR_NOMEM, "auto: out of memory");
  }
  if (rc == KV_OK && k < 1) {
    rc = KV_ERROR(KV_ERR_CONFIG, "surrogate.cv_folds: %d folds of %ld points", p->cv.folds, n);
  }
  double *secs = fail + C;
  kv_log_level was =
      kv_log_set_level(kv_log_get_level() < KV_LOG_WARN ? kv_log_get_level() : KV_LOG_WARN);
  /* 1: each candidate on all the data. */
  for (int c = rank; rc == KV_OK && c < C; c += size) {
    double t0 = kv_comm_wtime();
    int frc = kv_surrogate_fit(p->t[c], ds, p->p[c], NULL, &full[c]);
    secs[c] += kv_comm_wtime() - t0;
    if (frc == KV_ERR_NOMEM) {
      rc = frc;
    } else if (frc != KV_OK) {
      kv_debug("auto: %s does not fit: %s", p->label[c], kv_error_message());
      kv_error_clear();
      fail[c] = 1.0;
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && size > 1) {
    kv_comm_allreduce(MPI_IN_PLACE, fail, C, MPI_DOUBLE, MPI_SUM, comm);
  }
  /* 2: the folds, warm-started from the fits of phase 1 (their owners broadcast the state). */
  for (int c = 0; rc == KV_OK && c < C; c++) {
    if (fail[c] == 0.0) {
      rc = kv_cv_warm_params(comm, c % size, p->t[c], p->p[c], full[c], &warm[c]);
    }
  }
  /* Leave-one-out: in closed form from phase 1's fit for the kinds that have one (by its owner;
   * the sums below share it), by n refits for the others. */
  int closed[AUTO_MAX] = {0};
  for (int c = 0; rc == KV_OK && c < C && p->cv.folds == KV_CV_LOO; c++) {
    closed[c] = fail[c] == 0.0 && p->t[c]->loo != NULL;
    if (closed[c] && full[c]) {
      double *mean = pred + 3 * nn * c, z = 1.959963984540054;
      int lrc = p->t[c]->loo(full[c], mean, mean + nn);
      for (long i = 0; lrc == KV_OK && i < n; i++) {
        double sd = sqrt(fmax(mean[nn + i], 0.0));
        mean[nn + i] = mean[i] - z * sd;
        mean[2 * nn + i] = mean[i] + z * sd;
      }
      if (lrc != KV_OK) {
        rc = lrc;
      }
    }
  }
  /* Refits: (candidate, fold) pairs over the ranks; under leave-one-out only the kinds without a
   * closed form, on the k-fold assignment. */
  int loo = p->cv.folds == KV_CV_LOO, kr = loo ? (kk > 0 ? kk : 1) : k;
  for (long t = rank; rc == KV_OK && t < (long)C * kr; t += size) {
    int c = (int)(t / kr), f = (int)(t % kr);
    if (loo && kk < 1 && !closed[c]) {
      fail[c] = 2.0; /* fewer points than folds: cannot be scored */
    }
    if (fail[c] != 0.0 || closed[c]) {
      continue;
    }
    double *mean = pred + 3 * nn * c, t0 = kv_comm_wtime();
    int frc = kv_cv_fold(p->t[c], warm[c] ? warm[c] : p->p[c], ds, loo ? kfold : fold, f, mean,
                         mean + nn, mean + 2 * nn);
    secs[c] += kv_comm_wtime() - t0;
    if (frc == KV_ERR_NOMEM) {
      rc = frc;
    } else if (frc != KV_OK) {
      kv_debug("auto: %s does not fit fold %d: %s", p->label[c], f, kv_error_message());
      kv_error_clear();
      fail[c] = 2.0;
    }
  }
  kv_log_set_level(was);
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && size > 1) {
    kv_comm_allreduce(MPI_IN_PLACE, pred, (int)(3 * nn * (size_t)C), MPI_DOUBLE, MPI_SUM, comm);
    kv_comm_allreduce(MPI_IN_PLACE, fail, 2 * C, MPI_DOUBLE, MPI_SUM, comm);
  }
  kv_cv_scores sc[AUTO_MAX];
  int order[AUTO_MAX], ok = 0;
  for (int c = 0; rc == KV_OK && c < C; c++) {
    double *mean = pred + 3 * nn * c;
    kv_cv_score(ds, mean, mean + nn, mean + 2 * nn, &sc[c]);
    snprintf(sc[c].method, sizeof sc[c].method, "%s", p->cv.folds == KV_CV_LOO ? "loo" : "kfold");
    sc[c].folds = k;
    if (fail[c] == 0.0) {
      order[ok++] = c;
    }
  }
  /* Rank by the metric (stable: ties keep the listed order). */
  for (int i = 1; i < ok; i++) {
    for (int j = i;
         j > 0 && badness(&sc[order[j]], p->metric) < badness(&sc[order[j - 1]], p->metric); j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  }
  if (rc == KV_OK && ok == 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC,
                  "auto: no candidate could be fitted to the data (%ld points, %d inputs)", n,
                  ds->d);
  }
  char *board = rc == KV_OK ? leaderboard(p, k, sc, order, ok, fail, secs) : NULL;
  if (rc == KV_OK && !board) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  kv_surrogate *s = NULL;
  if (rc == KV_OK) {
    int w = order[0];
    kv_info("auto: %s wins (%s %.6g)", p->label[w], metric_names[p->metric],
            p->metric == 2 ? sc[w].q2 : badness(&sc[w], p->metric));
    /* 3: the winner: its rank has it; the others fit it the same way. */
    if (full[w]) {
      s = full[w];
      full[w] = NULL;
    } else {
      rc = kv_surrogate_fit(p->t[w], ds, p->p[w], NULL, &s);
    }
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK) {
      kv_surrogate_set_cv(s, &sc[w]);
      rc = kv_surrogate_set_leaderboard(s, board);
    }
  }
  for (int c = 0; c < C; c++) {
    kv_surrogate_free(full[c]);
    kv_surrogate_params_free(p->t[c], warm[c]);
  }
  free(board);
  free(fold);
  free(kfold);
  free(pred);
  free(fail);
  free(def);
  if (rc != KV_OK) {
    kv_surrogate_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

static int auto_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  return auto_fit_parallel(MPI_COMM_SELF, ds, params, out);
}

/* A selection is never a model of its own: these are never called on an "auto" handle. */
static int auto_save(const kv_surrogate *s, kv_h5_store *h) {
  (void)s;
  (void)h;
  return KV_ERROR(KV_ERR_INVALID, "auto: a selection is saved as its winner");
}

static int auto_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  (void)h;
  *out = NULL;
  return KV_ERROR(KV_ERR_FORMAT, "'%s': kind auto is not a model (a file holds the winner)", path);
}

static int auto_describe(const kv_surrogate *s, FILE *f) {
  (void)s;
  (void)f;
  return KV_OK;
}

static void auto_free(kv_surrogate *s) {
  kv_surrogate_header_free(s);
  free(s);
}

const kv_surrogate_type kv_surrogate_auto = {
    .name = "auto",
    .summary = "cross-validates the candidate kinds, keeps the best (its kind in the file)",
    .data = KV_DATA_SCALAR,
    .keys = {auto_keys, NULL, NULL},
    .params_create = params_create,
    .params_free = params_free,
    .fit = auto_fit,
    .save = auto_save,
    .load = auto_load,
    .describe = auto_describe,
    .free = auto_free,
    .fit_parallel = auto_fit_parallel,
    .selects = 1,
};
