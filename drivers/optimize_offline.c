#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "drivers/optimize.h"
#include "io/safefile.h"
#include "io/textfile.h"
#include "surrogates/surrogate.h"

/* The optimum and what is known about it, as one-row CSV (rank 0). */
static int write_offline(const kv_optimize_result *r, const kv_optimize_params *p) {
  char path[4200], tmp[4300];
  KV_CHECK(kv_safefile_mkdirs(p->dir));
  snprintf(path, sizeof path, "%s/offline.csv", p->dir);
  FILE *f = kv_textfile_begin(path, "predicted", "the offline optimum", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  for (int j = 0; j < r->sp.d; j++) {
    fprintf(f, "%s,", r->sp.name[j]);
  }
  fputs("predicted,sd,nearest_distance,nearest_row,nearest_value,data_best\n", f);
  for (int j = 0; j < r->sp.d; j++) {
    fprintf(f, "%.17g,", r->x[j]);
  }
  fprintf(f, "%.17g,%.17g,%.17g,%ld,%.17g,%.17g\n", r->pred_mean, r->pred_sd, r->nearest,
          r->nearest_index + 1, r->nearest_value, r->data_best);
  return kv_textfile_commit(f, tmp, path);
}

/* Rank 0's part: the search on the fitted surrogate s. */
static int search(const kv_config *cfg, const kv_optimize_params *p, const kv_surrogate *s,
                  kv_optimize_result *out) {
  const kv_surrogate_type *t;
  KV_CHECK(kv_surrogate_type_of(cfg, &t));
  KV_CHECK(kv_eval_space_of_model(cfg, s, "kelvin optimize", &out->sp));
  int d = out->sp.d;
  kv_dataset ds;
  KV_CHECK(kv_fit_dataset(cfg, t, 0, &ds));
  double *U = malloc((size_t)ds.n * (size_t)d * sizeof *U);
  int rc = U && ds.y ? KV_OK
           : ds.y    ? KV_ERROR(KV_ERR_NOMEM, "optimize: out of memory")
                     : KV_ERROR(KV_ERR_UNSUPPORTED,
                                "optimize.offline: a scalar response is needed (%s)", ds.source);
  long ib = 0;
  double ylo = INFINITY, yhi = -INFINITY;
  for (long i = 0; rc == KV_OK && i < ds.n; i++) {
    double v = p->maximize ? -ds.y[i] : ds.y[i];
    ib = v < (p->maximize ? -ds.y[ib] : ds.y[ib]) ? i : ib;
    ylo = fmin(ylo, ds.y[i]);
    yhi = fmax(yhi, ds.y[i]);
  }
  if (rc == KV_OK) {
    kv_eval_space_unmap(&out->sp, ds.n, ds.X, U);
    out->data_best = ds.y[ib];
    kv_acq a;
    memset(&a, 0, sizeof a);
    a.objective = s;
    a.kind = KV_ACQ_PESSIMISTIC;
    a.kappa = p->penalty;
    a.negate = p->maximize;
    a.lo = out->sp.lo;
    a.hi = out->sp.hi;
    a.islog = out->sp.islog;
    a.trust = p->trust;
    /* Leaving the region costs many times what the whole data range can gain. */
    a.penalty = 100.0 * (yhi > ylo ? yhi - ylo : 1.0);
    a.data = U;
    a.ndata = ds.n;
    a.best = NAN;
    double u[KV_EVAL_MAXD], val;
    long evals = p->acq_evals > 0 ? p->acq_evals : 1000L * d;
    rc = kv_acq_maximize(&a, d, p->global, evals, p->seed, U + ib * d, 1, u, &val);
    long near = 0;
    double dist = rc == KV_OK ? kv_acq_nearest(d, u, ds.n, U, &near) : 0.0;
    if (rc == KV_OK && p->trust > 0.0 && dist > p->trust) {
      /* The penalty is soft: the last step back onto the region's edge, toward the datum. */
      for (int j = 0; j < d; j++) {
        u[j] = U[near * d + j] + (u[j] - U[near * d + j]) * p->trust / dist * (1.0 - 1e-12);
      }
    }
    if (rc == KV_OK) {
      double m, v;
      kv_eval_space_map(&out->sp, 1, u, out->x);
      rc = kv_surrogate_predict(s, 1, out->x, &m, &v);
      out->pred_mean = m;
      out->pred_sd = sqrt(v > 0.0 ? v : 0.0);
      out->nearest = kv_acq_nearest(d, u, ds.n, U, &out->nearest_index);
      out->nearest_value = ds.y[out->nearest_index];
      out->value = m;
      out->found = 1;
    }
  }
  free(U);
  kv_dataset_free(&ds);
  return rc;
}

int kv_optimize_offline(MPI_Comm comm, const kv_config *cfg, const kv_optimize_params *p,
                        kv_optimize_result *out) {
  kv_optimize_params q = *p;
  memset(out, 0, sizeof *out);
  out->offline = 1;
  kv_surrogate *s = NULL;
  char model[4200];
  int rc = kv_fit(comm, cfg, &s, model, sizeof model);
  if (rc == KV_OK && !q.dir[0]) {
    const char *slash = strrchr(model, '/');
    snprintf(q.dir, sizeof q.dir, "%.*s/optimize", slash ? (int)(slash - model) : 1,
             slash ? model : ".");
  }
  snprintf(out->dir, sizeof out->dir, "%s", q.dir);
  snprintf(out->stop, sizeof out->stop, "offline: the surrogate's optimum");
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    rc = search(cfg, &q, s, out);
    if (rc == KV_OK) {
      rc = write_offline(out, &q);
    }
  }
  kv_surrogate_free(s);
  return kv_status_agree(comm, rc);
}
