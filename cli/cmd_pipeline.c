/* kelvin pipeline CONFIG [section.key=value ...]: sweep, fit, validate. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/pipeline.h"
#include "io/config.h"

static const char help[] =
    "usage: kelvin pipeline CONFIG [section.key=value ...]\n"
    "\n"
    "The whole loop on one configuration ([run], the model's section, [sweep], [surrogate],\n"
    "[validate]): run the sweep (resuming what an earlier pipeline finished), fit the surrogate,\n"
    "validate it against the full solver on held-out cases, and print the metrics with the paths\n"
    "of the report and its maps. Exit status as kelvin validate (1: a tolerance is exceeded).\n";

int kv_cmd_pipeline(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  const char *path;
  kv_config *cfg;
  int done;
  int rc = kv_cli_surrogate_config(comm, argc, argv, help, &cfg, &path, &done);
  if (rc != KV_OK || done) {
    return rc;
  }
  kv_pipeline_result r;
  rc = kv_pipeline(comm, cfg, &r);
  const kv_validation *v = &r.validation;
  if (rc == KV_OK && rank == 0) {
    printf("pipeline %s: %ld cases in %s, model %s\n", path, r.ncases, r.dir, r.model);
    fputs(r.fitted, stdout);
    printf("validation on %ld held-out case%s:\n", v->ncases, v->ncases == 1 ? "" : "s");
    kv_validation_print(v, stdout);
    printf("report: %s/validation.md\n", v->dir);
    printf("maps:   %s/validation_truth.png, validation_prediction.png, validation_error.png\n",
           v->dir);
    printf("data:   %s/validation.h5\n", v->dir);
  }
  if (rc == KV_OK && v->nfailed) {
    rc = KV_ERR_MISMATCH;
  }
  kv_config_free(cfg);
  return rc;
}
