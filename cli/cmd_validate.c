/* kelvin validate CONFIG [section.key=value ...] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/status.h"
#include "drivers/validate.h"
#include "io/config.h"

static const char help[] =
    "usage: kelvin validate CONFIG [section.key=value ...]\n"
    "\n"
    "Measure the fitted surrogate of CONFIG ([surrogate]) against the full solver on held-out\n"
    "cases: validate.samples new Latin-hypercube points over the sweep's ranges (gp, pcagp), or\n"
    "the scenarios validate.scenarios x validate.members (pattern, scored on their ensemble mean\n"
    "over validate.years as tas anomalies), or for a ROM (pod) the grid validate.vary (or\n"
    "validate.samples points), run again by the ROM in <validate.dir>/holdout_rom and scored over\n"
    "every record. The held-out runs go through the sweep machinery\n"
    "(MPI, resumable) in <validate.dir>/holdout. Writes validation.h5 and validation.md (with PNG\n"
    "maps for fields) to validate.dir (default: the sweep directory) and prints the metrics.\n"
    "Exit status 1 when a validate.tolerance.<metric> is exceeded (r2, coverage95, speedup: when\n"
    "below it).\n";

int kv_cmd_validate(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  const char *path;
  kv_config *cfg;
  int done;
  int rc = kv_cli_surrogate_config(comm, argc, argv, help, &cfg, &path, &done);
  if (rc != KV_OK || done) {
    return rc;
  }
  kv_validation v;
  if (rc == KV_OK) {
    rc = kv_validate(comm, cfg, &v);
  }
  if (rc == KV_OK && rank == 0) {
    printf("validation of %s on %ld held-out case%s:\n", path, v.ncases, v.ncases == 1 ? "" : "s");
    kv_validation_print(&v, stdout);
    printf("report: %s/validation.md, data: %s/validation.h5\n", v.dir, v.dir);
  }
  if (rc == KV_OK && v.nfailed) {
    rc = KV_ERR_MISMATCH;
  }
  kv_config_free(cfg);
  return rc;
}
