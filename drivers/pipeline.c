#include "drivers/pipeline.h"
#include "core/comm.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "drivers/sweep.h"
#include "surrogates/cv.h"

int kv_pipeline(MPI_Comm comm, const kv_config *cfg, kv_pipeline_result *res) {
  memset(res, 0, sizeof *res);
  int rank;
  rank = kv_comm_rank(comm);
  kv_sweep *s = NULL;
  int rc = kv_sweep_create(cfg, &s);
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    res->ncases = kv_sweep_ncases(s);
    snprintf(res->dir, sizeof res->dir, "%s", kv_sweep_dir(s));
    if (rank == 0) {
      kv_info("pipeline 1/3: sweep of %ld cases into %s", res->ncases, res->dir);
    }
    kv_sweep_options o = {1, 0, 0, NULL};
    kv_sweep_summary sum;
    rc = kv_sweep_run(comm, s, &o, &sum);
    if (rc == KV_OK && sum.failed) {
      rc = KV_ERROR(KV_ERR_NUMERIC,
                    "pipeline: %ld case%s of the sweep failed (see "
                    "%s/manifest.csv)",
                    sum.failed, sum.failed == 1 ? "" : "s", res->dir);
    }
  }
  if (rc == KV_OK) {
    if (rank == 0) {
      kv_info("pipeline 2/3: fit");
    }
    kv_surrogate *fitted = NULL;
    rc = kv_fit(comm, cfg, &fitted, res->model, sizeof res->model);
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK && rank == 0 && fitted) {
      FILE *f = fmemopen(res->fitted, sizeof res->fitted - 1, "w");
      if (f) {
        if (kv_surrogate_leaderboard(fitted)) {
          fputs(kv_surrogate_leaderboard(fitted), f);
        }
        if (kv_surrogate_cv(fitted)) {
          kv_cv_print(kv_surrogate_cv(fitted), "cross-validation", f);
        }
        fclose(f);
      }
    }
    kv_surrogate_free(fitted);
    kv_comm_bcast(res->model, (int)sizeof res->model, MPI_CHAR, 0, comm);
  }
  if (rc == KV_OK) {
    if (rank == 0) {
      kv_info("pipeline 3/3: validate");
    }
    rc = kv_validate(comm, cfg, &res->validation);
  }
  kv_sweep_free(s);
  return rc;
}
