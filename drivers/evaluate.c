#include "drivers/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/comm.h"
#include "core/status.h"
#include "drivers/sweep.h"
#include "io/dataset.h"
#include "io/manifest.h"
#include "io/safefile.h"
#include "io/table.h"
#include "io/textfile.h"
#include "surrogates/sampling.h"
#include "surrogates/surrogate.h"

const char *const kv_eval_driver_sections[] = {"surrogate", "validate", "sensitivity",
                                               "optimize",  "adapt",    NULL};

/* dir/cases.csv with the n cases' values (rank 0). */
static int write_cases(const char *dir, const char *path, int d, const char *const *keys, long n,
                       const char *const *cells) {
  KV_CHECK(kv_safefile_mkdirs(dir));
  char tmp[4300];
  FILE *f = kv_textfile_begin(path, keys[0], "the evaluations' cases", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  for (int j = 0; j < d; j++) {
    fprintf(f, "%s%s", j ? "," : "", keys[j]);
  }
  fputc('\n', f);
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < d; j++) {
      fprintf(f, "%s%s", j ? "," : "", cells[i * d + j]);
    }
    fputc('\n', f);
  }
  return kv_textfile_commit(f, tmp, path);
}

/* The list sweep of the points: cfg less its driver sections, [sweep] replaced. */
static int eval_config(const kv_config *cfg, const char *dir, const char *cases, kv_config **out) {
  kv_config *c = NULL;
  KV_CHECK(kv_config_clone(cfg, &c));
  char rpc[32] = "";
  const char *v = kv_config_value(cfg, "sweep.ranks_per_case");
  if (v && kv_config_given(cfg, "sweep.ranks_per_case")) {
    snprintf(rpc, sizeof rpc, "%s", v);
  }
  for (int i = 0; kv_eval_driver_sections[i]; i++) {
    kv_config_remove_section(c, kv_eval_driver_sections[i]);
  }
  kv_config_remove_section(c, "sweep");
  int rc = kv_config_set_tagged(c, "sweep.method", "list", "evaluate");
  if (rc == KV_OK) {
    rc = kv_config_set_tagged(c, "sweep.cases", cases, "evaluate");
  }
  if (rc == KV_OK) {
    rc = kv_config_set_tagged(c, "sweep.dir", dir, "evaluate");
  }
  if (rc == KV_OK && rpc[0]) {
    rc = kv_config_set_tagged(c, "sweep.ranks_per_case", rpc, "evaluate");
  }
  if (rc != KV_OK) {
    kv_config_free(c);
    return rc;
  }
  *out = c;
  return KV_OK;
}

/* Responses of the done cases (rank 0): NaN for the others. */
static int read_responses(const kv_sweep *s, long n, int nresp, const char *const *resp, double *Y,
                          long *nfailed) {
  char path[4200];
  snprintf(path, sizeof path, "%s/manifest.csv", kv_sweep_dir(s));
  kv_case_record *recs = calloc((size_t)n, sizeof *recs);
  char *found = calloc((size_t)n, 1);
  int rc = recs && found ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "evaluate: out of memory");
  if (rc == KV_OK) {
    rc = kv_manifest_read(path, n, 0, NULL, recs, found);
  }
  *nfailed = 0;
  for (long i = 0; rc == KV_OK && i < n; i++) {
    int ok = found[i] && recs[i].status == KV_CASE_DONE;
    kv_sweep_case_path(s, i, path, sizeof path);
    for (int k = 0; k < nresp && rc == KV_OK; k++) {
      Y[i * nresp + k] = NAN;
      if (ok) {
        rc = kv_dataset_case_qoi(path, resp[k], &Y[i * nresp + k]);
      }
    }
    *nfailed += !ok;
  }
  free(recs);
  free(found);
  return rc;
}

int kv_eval_cases(MPI_Comm comm, const kv_config *cfg, const char *dir, int d,
                  const char *const *keys, long n, const char *const *cells, int nresp,
                  const char *const *resp, double *Y, long *nfailed) {
  char cases[4200];
  snprintf(cases, sizeof cases, "%s/cases.csv", dir);
  int rc = kv_comm_rank(comm) == 0 ? write_cases(dir, cases, d, keys, n, cells) : KV_OK;
  KV_CHECK(kv_status_agree(comm, rc));
  kv_config *c = NULL;
  kv_sweep *s = NULL;
  rc = eval_config(cfg, dir, cases, &c);
  if (rc == KV_OK) {
    rc = kv_sweep_create(c, &s);
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    kv_sweep_options o = {1, 0, 0, NULL};
    kv_sweep_summary sum;
    rc = kv_sweep_run(comm, s, &o, &sum);
  }
  long nf = 0;
  if (rc == KV_OK) {
    rc = kv_comm_rank(comm) == 0 ? read_responses(s, n, nresp, resp, Y, &nf) : KV_OK;
    rc = kv_status_agree(comm, rc);
  }
  if (rc == KV_OK) {
    rc = kv_comm_bcast(Y, (int)(n * nresp), MPI_DOUBLE, 0, comm);
  }
  if (rc == KV_OK) {
    rc = kv_comm_bcast(&nf, 1, MPI_LONG, 0, comm);
  }
  if (nfailed) {
    *nfailed = nf;
  }
  kv_sweep_free(s);
  kv_config_free(c);
  return rc;
}

int kv_eval_points(MPI_Comm comm, const kv_config *cfg, const char *dir, int d,
                   const char *const *keys, long n, const double *X, int nresp,
                   const char *const *resp, double *Y, long *nfailed) {
  /* Values that round-trip exactly. */
  char(*text)[32] = malloc((size_t)(n > 0 ? n : 1) * (size_t)d * sizeof *text);
  const char **cells = malloc((size_t)(n > 0 ? n : 1) * (size_t)d * sizeof *cells);
  int rc = text && cells ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "evaluate: out of memory");
  for (long k = 0; rc == KV_OK && k < n * d; k++) {
    snprintf(text[k], sizeof text[k], "%.17g", X[k]);
    cells[k] = text[k];
  }
  if (rc == KV_OK) {
    rc = kv_eval_cases(comm, cfg, dir, d, keys, n, cells, nresp, resp, Y, nfailed);
  }
  free(text);
  free(cells);
  return rc;
}

int kv_eval_space_from_sweep(const kv_config *cfg, const char *who, kv_eval_space *sp) {
  memset(sp, 0, sizeof *sp);
  if (!kv_config_has(cfg, "sweep.method")) {
    return kv_config_errorf(cfg, "sweep.vary",
                            "%s works over the ranges of a [sweep] (method = lhs or sobol, "
                            "vary = key:lo:hi, ...)",
                            who);
  }
  kv_sweep *s = NULL;
  KV_CHECK(kv_sweep_create(cfg, &s));
  int rc = KV_OK;
  sp->d = kv_sweep_nvars(s);
  snprintf(sp->dir, sizeof sp->dir, "%s", kv_sweep_dir(s));
  sp->ranks_per_case = kv_sweep_ranks_per_case(s);
  if (sp->d > KV_EVAL_MAXD) {
    rc = kv_config_errorf(cfg, "sweep.vary", "%s: at most %d inputs (%d given)", who, KV_EVAL_MAXD,
                          sp->d);
  }
  for (int j = 0; rc == KV_OK && j < sp->d; j++) {
    snprintf(sp->name[j], sizeof sp->name[j], "%s", kv_sweep_var(s, j));
    if (kv_sweep_range(s, j, &sp->lo[j], &sp->hi[j], &sp->islog[j]) != KV_OK) {
      kv_error_clear();
      rc = kv_config_errorf(cfg, "sweep.method",
                            "%s needs ranges: method = lhs or sobol with vary = key:lo:hi, ... "
                            "(a %s sweep has none)",
                            who, kv_sweep_method(s));
    }
  }
  kv_sweep_free(s);
  return rc;
}

void kv_eval_space_map(const kv_eval_space *sp, long n, const double *U, double *X) {
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < sp->d; j++) {
      X[i * sp->d + j] = kv_sample_map(U[i * sp->d + j], sp->lo[j], sp->hi[j], sp->islog[j]);
    }
  }
}

void kv_eval_space_unmap(const kv_eval_space *sp, long n, const double *X, double *U) {
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < sp->d; j++) {
      double x = X[i * sp->d + j], lo = sp->lo[j], hi = sp->hi[j];
      U[i * sp->d + j] = sp->islog[j] ? log(x / lo) / log(hi / lo) : (x - lo) / (hi - lo);
    }
  }
}

/* The history's points in the space's column order (rank 0). */
static int read_history(const kv_eval_space *sp, const char *path, double **X, long *n) {
  kv_table t = {0};
  KV_CHECK(kv_table_read_csv(path, &t));
  int rc = KV_OK, col[KV_EVAL_MAXD];
  for (int j = 0; j < sp->d && rc == KV_OK; j++) {
    col[j] = kv_table_column(&t, sp->name[j]);
    if (col[j] < 0) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "%s: no column %s: these evaluations were made over other inputs (remove "
                    "their directory or choose another)",
                    path, sp->name[j]);
    }
  }
  if (rc == KV_OK && t.nrows > 0 && !(*X = malloc((size_t)t.nrows * (size_t)sp->d * sizeof **X))) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld points", t.nrows);
  }
  for (long i = 0; rc == KV_OK && i < t.nrows; i++) {
    for (int j = 0; j < sp->d; j++) {
      (*X)[i * sp->d + j] = t.v[i * t.ncols + col[j]];
    }
  }
  *n = rc == KV_OK ? t.nrows : 0;
  kv_table_free(&t);
  return rc;
}

int kv_eval_history(MPI_Comm comm, const kv_eval_space *sp, const char *dir, int resume,
                    const char *again, double **X, long *n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/cases.csv", dir);
  *X = NULL;
  *n = 0;
  int rc = KV_OK;
  if (kv_comm_rank(comm) == 0 && access(path, F_OK) == 0) {
    rc = resume ? read_history(sp, path, X, n)
                : KV_ERROR(KV_ERR_EXISTS,
                           "%s holds the evaluations of an earlier run; continue it with %s "
                           "--resume, or remove the directory",
                           dir, again);
  }
  KV_CHECK(kv_status_agree(comm, rc));
  KV_CHECK(kv_comm_bcast(n, 1, MPI_LONG, 0, comm));
  if (*n > 0 && kv_comm_rank(comm) != 0 &&
      !(*X = malloc((size_t)*n * (size_t)sp->d * sizeof **X))) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld points", *n);
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && *n > 0) {
    rc = kv_comm_bcast(*X, (int)(*n * sp->d), MPI_DOUBLE, 0, comm);
  }
  if (rc != KV_OK) {
    free(*X);
    *X = NULL;
    *n = 0;
  }
  return rc;
}

int kv_eval_space_of_model(const kv_config *cfg, const kv_surrogate *s, const char *who,
                           kv_eval_space *sp) {
  int d = kv_surrogate_ninputs(s);
  if (d < 1 || d > KV_EVAL_MAXD) {
    return KV_ERROR(KV_ERR_UNSUPPORTED,
                    "%s: the model has %d inputs (1 to %d supported); a scenario model has none",
                    who, d, KV_EVAL_MAXD);
  }
  kv_eval_space sw;
  int have =
      cfg && kv_config_has(cfg, "sweep.method") && kv_eval_space_from_sweep(cfg, who, &sw) == KV_OK;
  kv_error_clear();
  memset(sp, 0, sizeof *sp);
  sp->d = d;
  const double *box = kv_surrogate_box(s);
  for (int j = 0; j < d; j++) {
    snprintf(sp->name[j], sizeof sp->name[j], "%s", kv_surrogate_input(s, j));
    int k = -1;
    for (int i = 0; have && i < sw.d && k < 0; i++) {
      k = strcmp(sw.name[i], sp->name[j]) ? -1 : i;
    }
    if (k >= 0) {
      sp->lo[j] = sw.lo[k];
      sp->hi[j] = sw.hi[k];
      sp->islog[j] = sw.islog[k];
    } else if (box && box[j] < box[d + j]) {
      sp->lo[j] = box[j];
      sp->hi[j] = box[d + j];
    } else {
      return KV_ERROR(KV_ERR_UNSUPPORTED,
                      "%s: no range for input %s (neither a [sweep] range nor a training box "
                      "in the model)",
                      who, sp->name[j]);
    }
  }
  return KV_OK;
}

void kv_eval_case_path(const char *dir, long c, char *buf, size_t n) {
  kv_sweep_case_path_in(dir, c, buf, n);
}

int kv_eval_sizes(MPI_Comm comm, const kv_config *cfg, const char *section, const kv_eval_space *sp,
                  long min_initial, long *initial, long budget, long *batch) {
  char key[64];
  if (*initial == 0) {
    *initial = 3L * sp->d > 6 ? 3L * sp->d : 6;
  }
  if (*initial < min_initial) {
    snprintf(key, sizeof key, "%s.initial", section);
    return kv_config_errorf(cfg, key, "at least %ld initial points (got %ld)", min_initial,
                            *initial);
  }
  if (budget < *initial) {
    snprintf(key, sizeof key, "%s.budget", section);
    return kv_config_errorf(cfg, key,
                            "%ld runs cannot hold the initial design of %ld (raise the budget or "
                            "lower %s.initial)",
                            budget, *initial, section);
  }
  if (*batch == 0) {
    int groups = kv_comm_size(comm) / (sp->ranks_per_case > 0 ? sp->ranks_per_case : 1);
    *batch = groups > 1 ? groups : 1;
  }
  return KV_OK;
}

int kv_eval_initial(const kv_eval_space *sp, long n, unsigned long seed, double *X) {
  double *u = malloc((size_t)n * (size_t)sp->d * sizeof *u);
  int rc = u ? kv_sample_lhs(n, sp->d, seed, u) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    kv_eval_space_map(sp, n, u, X);
  }
  free(u);
  return rc;
}
