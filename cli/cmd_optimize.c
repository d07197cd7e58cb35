/* kelvin optimize CONFIG [section.key=value ...] [--resume] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/status.h"
#include "drivers/optimize.h"
#include "drivers/placement.h"
#include "io/config.h"

static const char help[] =
    "usage: kelvin optimize CONFIG [section.key=value ...] [--resume]\n"
    "\n"
    "Minimise (or maximise) optimize.response of CONFIG's model (heat, ebm, external, ...) over\n"
    "the [sweep] ranges by efficient global optimisation: an initial Latin hypercube, then\n"
    "batches of optimize.batch points (default: one per rank group of the farm) chosen by the\n"
    "log expected improvement (or lcb) of a surrogate ([surrogate] kind, default gp) refitted\n"
    "after every batch, maximised with NLopt (DIRECT-L or CRS2, then L-BFGS). Constraints on\n"
    "other responses (optimize.constraints = c <= 1, ...) enter as the probability of\n"
    "feasibility. Stops at optimize.budget evaluations, optimize.wall seconds, or when the\n"
    "expected improvement falls below optimize.tolerance of the observed range.\n"
    "Every evaluation is a case in optimize.dir (default <sweep dir>/optimize): --resume\n"
    "continues after a kill or a time limit without running a finished case again. Writes\n"
    "optimize.csv (every evaluation, the best so far) and optimize.png (convergence); the\n"
    "reported optimum is a point the full solver ran. optimize.targets = T_mean:1.2, ... turns\n"
    "it into calibration (minimise the relative misfit to the targets). optimize.offline = true\n"
    "optimises the surrogate of fixed data ([surrogate] data, a table or a sweep) without running\n"
    "anything: mean + optimize.penalty x sd, within optimize.trust of the data; the report says\n"
    "how far the optimum is from the nearest datum and how unsure the surrogate is there.\n"
    "optimize.placement = k: placement search of k elements (optimize.element = sigma,\n"
    "amplitude) on a lattice of sites (optimize.sites) of a 2-D field, minimising its mean (or\n"
    "max) over optimize.region: single-element runs give the effect maps, iterated local search\n"
    "on their superposition, the best placements, the greedy start and random ones re-run by\n"
    "the full solver.\n"
    "Keys: kelvin run --keys.\n";

int kv_cmd_optimize(MPI_Comm comm, int argc, char **argv) {
  kv_config *cfg = NULL;
  int resume = 0, done = 0;
  int rc = kv_cli_decision_config(comm, argc, argv, help, &cfg, &resume, &done);
  if (rc != KV_OK || done) {
    return rc;
  }
  long placement = 0;
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "optimize.placement", 0, 64, &placement);
  }
  if (rc == KV_OK && placement > 0) {
    kv_placement_result *pr = malloc(sizeof *pr);
    rc = pr ? kv_placement_run(comm, cfg, pr) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK && kv_comm_rank(comm) == 0) {
      kv_placement_params pp;
      kv_placement_params_from_config(cfg, &pp);
      kv_placement_print(pr, &pp, stdout);
      printf("results: %s/placement.csv, effect map: %s/effects.png\n", pr->dir, pr->dir);
    }
    free(pr);
    kv_config_free(cfg);
    return rc;
  }
  kv_optimize_result r;
  if (rc == KV_OK) {
    rc = kv_optimize_run(comm, cfg, resume, &r);
  }
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    kv_optimize_params p;
    kv_optimize_params_from_config(cfg, &p);
    kv_optimize_print(&r, &p, stdout);
    if (r.offline) {
      printf("result: %s/offline.csv\n", r.dir);
    } else {
      printf("history: %s/optimize.csv, convergence: %s/optimize.png\n", r.dir, r.dir);
    }
  }
  kv_config_free(cfg);
  return rc;
}
