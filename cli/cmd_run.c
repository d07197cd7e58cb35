/* kelvin run CONFIG [section.key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/adapt.h"
#include "drivers/evaluate.h"
#include "drivers/optimize.h"
#include "drivers/run.h"
#include "drivers/sensitivity.h"
#include "drivers/sweep.h"
#include "drivers/validate.h"
#include "io/config.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "solvers/model.h"
#include "surrogates/surrogate.h"

static const char help[] =
    "usage: kelvin run CONFIG [section.key=value ...] [--restart FILE] [--keys]\n"
    "       kelvin run --restart FILE [section.key=value ...]\n"
    "\n"
    "Run one solve of the model named by run.model and write run.output (HDF5, netCDF-4/CF\n"
    "layout). section.key=value arguments override the file. The resolved configuration is\n"
    "stored in the output's 'config' attribute.\n"
    "\n"
    "  --restart FILE  continue from the last record of FILE (an output or a checkpoint of the\n"
    "                  same model, on this run's time grid) up to run.t_end. Without CONFIG the\n"
    "                  configuration stored in FILE is used (overrides such as run.t_end=2\n"
    "                  apply on top); with CONFIG, a configuration that differs from FILE's in\n"
    "                  anything but the run's end, output or checkpoints is refused\n"
    "  --keys          print every configuration key with its type, default and meaning\n"
    "                  (--keys --markdown: as the rows of README's reference table)\n";

/* The resolved configuration stored in a run's output or checkpoint (its "config" attribute). */
static int restart_config(const char *file, kv_config **out) {
  *out = NULL;
  size_t n = 1 << 20;
  char *text = malloc(n);
  if (!text) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_h5_read_root_text(file, "config", text, n);
  if (rc == KV_OK && !text[0]) {
    rc = KV_ERROR(KV_ERR_FORMAT, "--restart %s: the file stores no configuration", file);
  }
  if (rc == KV_OK) {
    rc = kv_config_parse_string(text, file, out);
  }
  free(text);
  return rc;
}

int kv_cmd_run(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  const char *path = NULL;
  kv_run_options opts = {NULL, 0, NULL, NULL};
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
      /* --keys --markdown: the rows of the README's configuration reference. */
      int markdown = i + 1 < argc && strcmp(argv[i + 1], "--markdown") == 0;
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
      tables[t++] = kv_sensitivity_keys;
      tables[t++] = kv_optimize_keys;
      tables[t++] = kv_adapt_keys;
      tables[t] = NULL;
      if (rank == 0) {
        kv_config_print_reference(tables, stdout, markdown);
      }
      return KV_OK;
    }
    if (argv[i][0] == '-') {
      static const char *const known[] = {"--restart", "--keys", "--markdown", "--help", NULL};
      return kv_cli_unknown_option("run", argv[i], known);
    }
    if (!strchr(argv[i], '=') && !path) {
      path = argv[i];
    }
  }
  if (!path && !opts.restart) {
    return KV_ERROR(KV_ERR_USAGE, "run: missing CONFIG (see kelvin run --help)");
  }
  /* A restart is self-contained: the file holds the resolved configuration that made it. Alone,
   * it is the configuration; with CONFIG, the two must agree on everything but the run's extent
   * and output. */
  kv_config *cfg = NULL, *stored = NULL;
  int rc = opts.restart ? restart_config(opts.restart, &stored) : KV_OK;
  if (rc != KV_OK && path) { /* a file without a stored configuration: CONFIG alone decides */
    kv_error_clear();
    rc = KV_OK;
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    return rc;
  }
  if (path) {
    rc = kv_config_load(comm, path, &cfg);
    if (rc != KV_OK) {
      kv_config_free(stored);
      return rc;
    }
  } else {
    cfg = stored;
    stored = NULL;
  }
  for (int i = 1; i < argc && rc == KV_OK; i++) {
    if (strcmp(argv[i], "--restart") == 0) {
      i++;
    } else if (argv[i] != path) {
      rc = kv_config_override(cfg, argv[i]);
    }
  }
  /* A sweep's configuration runs as its base case: the [sweep] section is for kelvin sweep. */
  kv_config_remove_section(cfg, "sweep");
  kv_config_remove_section(cfg, "slurm");
  for (int i = 0; kv_eval_driver_sections[i]; i++) {
    kv_config_remove_section(cfg, kv_eval_driver_sections[i]);
  }
  if (rc == KV_OK) {
    rc = kv_run_validate(cfg);
  }
  if (rc == KV_OK && stored) {
    rc = kv_run_validate(stored);
  }
  if (rc == KV_OK && stored) {
    /* The run's extent, output and time step (the solver checks the restart is on the time
     * grid). */
    static const char *const may_differ[] = {
        "run.t_end",        "run.year_end",         "run.output", "run.overwrite",
        "run.output_every", "run.checkpoint_every", "run.dt",     NULL};
    char diff[2048];
    if (kv_config_diff(stored, cfg, may_differ, diff, sizeof diff) > 0) {
      rc = KV_ERROR(KV_ERR_USAGE,
                    "run: %s was made by another configuration than %s: %s (a restart may "
                    "change only the run's end, output and checkpoints; or drop CONFIG to "
                    "restart with the file's own configuration)",
                    opts.restart, path, diff);
    }
  }
  rc = kv_status_agree(comm, rc);
  kv_config_free(stored);
  char again[4096];
  opts.again = kv_cli_again(comm, argc, argv, "--restart", again, sizeof again);
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
