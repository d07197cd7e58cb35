/* kelvin run CONFIG [section.key=value ...] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/run.h"
#include "drivers/sweep.h"
#include "drivers/validate.h"
#include "io/config.h"
#include "io/dataset.h"
#include "solvers/model.h"
#include "surrogates/surrogate.h"

static const char help[] =
    "usage: kelvin run CONFIG [section.key=value ...] [--restart FILE] [--keys]\n"
    "\n"
    "Run one solve of the model named by run.model and write run.output (HDF5, netCDF-4/CF\n"
    "layout). section.key=value arguments override the file. The resolved configuration is\n"
    "stored in the output's 'config' attribute.\n"
    "\n"
    "  --restart FILE  continue from the last record of FILE (an output or a checkpoint of the\n"
    "                  same model, on this run's time grid) up to run.t_end\n"
    "  --keys          print every configuration key with its type, default and meaning\n";

int kv_cmd_run(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  const char *path = NULL;
  kv_run_options opts = {NULL, 0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--restart") == 0) {
      if (i + 1 >= argc) {
        return KV_ERROR(KV_ERR_USAGE, "run: --restart expects a FILE");
      }
      opts.restart = argv[++i];
      continue;
    }
    if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(help, stdout);
      }
      return KV_OK;
    }
    if (strcmp(argv[i], "--keys") == 0) {
      /* Every registered model's and surrogate kind's keys (a key shared by several kinds is
       * listed once, with the first kind's default). */
      const kv_config_key *tables[64];
      int t = 0;
      tables[t++] = kv_model_run_keys;
      for (int j = 0; kv_model_type_at(j) && t < 40; j++) {
        tables[t++] = kv_model_type_at(j)->keys;
      }
      tables[t++] = kv_sweep_keys;
      tables[t++] = kv_surrogate_keys;
      tables[t++] = kv_dataset_keys;
      for (int j = 0; kv_surrogate_type_at(j) && t < 60; j++) {
        for (int k = 0; k < 3 && kv_surrogate_type_at(j)->keys[k]; k++) {
          tables[t++] = kv_surrogate_type_at(j)->keys[k];
        }
      }
      tables[t++] = kv_validate_keys;
      tables[t] = NULL;
      if (rank == 0) {
        kv_config_print_reference(tables, stdout);
      }
      return KV_OK;
    }
    if (argv[i][0] == '-') {
      return KV_ERROR(KV_ERR_USAGE, "run: unknown option '%s' (see kelvin run --help)", argv[i]);
    }
    if (!strchr(argv[i], '=') && !path) {
      path = argv[i];
    }
  }
  if (!path) {
    return KV_ERROR(KV_ERR_USAGE, "run: missing CONFIG (see kelvin run --help)");
  }
  kv_config *cfg = NULL;
  KV_CHECK(kv_config_load(comm, path, &cfg));
  int rc = KV_OK;
  for (int i = 1; i < argc && rc == KV_OK; i++) {
    if (strcmp(argv[i], "--restart") == 0) {
      i++;
    } else if (argv[i] != path) {
      rc = kv_config_override(cfg, argv[i]);
    }
  }
  /* A sweep's configuration runs as its base case: the [sweep] section is for kelvin sweep. */
  kv_config_remove_section(cfg, "sweep");
  kv_config_remove_section(cfg, "surrogate");
  kv_config_remove_section(cfg, "validate");
  if (rc == KV_OK) {
    rc = kv_run_validate(cfg);
  }
  rc = kv_status_agree(comm, rc);
  kv_run_result res = {0};
  if (rc == KV_OK) {
    rc = kv_run(comm, cfg, &opts, &res);
  }
  if (rc == KV_OK && rank == 0) {
    printf("wrote %s (%ld records, %ld steps of dt = %g)\n", res.output, res.records, res.steps,
           res.dt);
  }
  kv_config_free(cfg);
  return rc;
}
