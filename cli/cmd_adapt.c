/* kelvin adapt CONFIG [section.key=value ...] [--resume] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/status.h"
#include "drivers/adapt.h"
#include "io/config.h"

static const char help[] =
    "usage: kelvin adapt CONFIG [section.key=value ...] [--resume]\n"
    "\n"
    "Sequential design to a target accuracy: adapt.initial Latin-hypercube runs over the [sweep]\n"
    "ranges, a fit of the [surrogate] (gp, auto, pcagp, ...), then batches of adapt.batch runs\n"
    "(default: one per rank group) where the surrogate is least sure (adapt.criterion =\n"
    "variance, or loo: leave-one-out error x distance), run by the full solver through the task\n"
    "farm, and a refit, until the relative RMSE (cross-validation, or adapt.holdout held-out "
    "runs)\n"
    "is at most adapt.tolerance or adapt.budget runs are used. The runs are cases in adapt.dir\n"
    "(default <sweep dir>/adapt): --resume continues after a kill. Writes the learning curve\n"
    "(adapt.csv, adapt.png) and the final model (adapt.dir/model_<kind>.h5 or surrogate.model),\n"
    "which kelvin validate CONFIG surrogate.model=FILE checks. Keys: kelvin run --keys.\n";

int kv_cmd_adapt(MPI_Comm comm, int argc, char **argv) {
  kv_config *cfg = NULL;
  int resume = 0, done = 0;
  int rc = kv_cli_decision_config(comm, argc, argv, help, &cfg, &resume, &done);
  if (rc != KV_OK || done) {
    return rc;
  }
  kv_adapt_result *r = rc == KV_OK ? malloc(sizeof *r) : NULL;
  if (rc == KV_OK && !r) {
    rc = KV_ERROR(KV_ERR_NOMEM, "adapt: out of memory");
  }
  if (rc == KV_OK) {
    rc = kv_adapt_run(comm, cfg, resume, r);
  }
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    kv_adapt_params p;
    kv_adapt_params_from_config(cfg, &p);
    kv_adapt_print(r, p.tolerance, stdout);
    printf("learning curve: %s/adapt.csv, %s/adapt.png\n", r->dir, r->dir);
  }
  free(r);
  kv_config_free(cfg);
  return rc;
}
