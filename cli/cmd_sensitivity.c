/* kelvin sensitivity CONFIG|MODEL.h5 [section.key=value ...] [--output FILE.csv] */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "drivers/sensitivity.h"
#include "io/config.h"
#include "io/dataset.h"

static const char help[] =
    "usage: kelvin sensitivity CONFIG|MODEL.h5 [section.key=value ...] [--output FILE.csv]\n"
    "\n"
    "Which inputs matter: Sobol indices (first-order S1 and total ST, with bootstrap intervals)\n"
    "of the surrogate's output over the inputs' ranges (the [sweep] ranges of CONFIG, or the\n"
    "model's training box), or Morris elementary effects (sensitivity.method = morris). With\n"
    "CONFIG the model is its surrogate.model (fitted first when missing); a field surrogate gets\n"
    "indices per point (maps) and aggregated over the field. sensitivity.direct = true also runs\n"
    "a pick-freeze design of sensitivity.direct_samples x (d + 2) cases through the full\n"
    "solver's task farm (MPI, resumable) to check the surrogate's indices.\n"
    "Writes sensitivity.csv (or --output), sensitivity.h5 and sensitivity.png (bars with the\n"
    "intervals) to sensitivity.dir (default: beside the model). Keys: kelvin run --keys.\n";

/* The model file of a configuration, fitted first when it is not there. Collective. */
static int model_of(MPI_Comm comm, const kv_config *cfg, char *path, size_t n) {
  const kv_surrogate_type *t;
  char data[4096];
  KV_CHECK(kv_surrogate_type_of(cfg, &t));
  KV_CHECK(kv_fit_data_path(cfg, data, sizeof data));
  KV_CHECK(kv_fit_model_path(cfg, t, data, path, n));
  int missing = access(path, R_OK) != 0;
  if (missing) {
    kv_surrogate *s = NULL;
    KV_CHECK(kv_fit(comm, cfg, &s, path, n));
    kv_surrogate_free(s);
  }
  return KV_OK;
}

int kv_cmd_sensitivity(MPI_Comm comm, int argc, char **argv) {
  const char *csv = NULL, *path = NULL;
  char *rest[256];
  int nrest = 0;
  for (int i = 0; i < argc && nrest < 255; i++) {
    if (i > 0 && !strcmp(argv[i], "--output")) {
      if (i + 1 >= argc) {
        return KV_ERROR(KV_ERR_USAGE, "sensitivity: --output needs a file name");
      }
      csv = argv[++i];
      continue;
    }
    if (i > 0 && !path && argv[i][0] != '-' && !strchr(argv[i], '=')) {
      path = argv[i];
    }
    rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;
  kv_config *cfg = NULL;
  char model[4096];
  int rc = KV_OK;
  if (path && kv_dataset_is_h5(path)) {
    /* A model file alone: [sensitivity] from the command line. */
    rc = kv_config_parse_string("", "command line", &cfg);
    for (int i = 1; i < nrest && rc == KV_OK; i++) {
      if (kv_cli_is_help(rest[i])) {
        if (kv_comm_rank(comm) == 0) {
          fputs(help, stdout);
        }
        kv_config_free(cfg);
        return KV_OK;
      }
      if (rest[i] != path) {
        rc = rest[i][0] == '-' ? kv_cli_unknown_option(argv[0], rest[i], NULL)
                               : kv_config_override(cfg, rest[i]);
      }
    }
    const kv_config_key *tables[] = {kv_sensitivity_keys, NULL};
    if (rc == KV_OK) {
      rc = kv_config_validate(cfg, tables);
    }
    snprintf(model, sizeof model, "%s", path);
  } else {
    int done;
    const char *cpath;
    rc = kv_cli_surrogate_config(comm, nrest, rest, help, &cfg, &cpath, &done);
    if (rc != KV_OK || done) {
      return rc;
    }
    rc = model_of(comm, cfg, model, sizeof model);
  }
  rc = kv_status_agree(comm, rc);
  kv_sensitivity_result r;
  if (rc == KV_OK) {
    rc = kv_sensitivity_run(comm, cfg, model, csv, &r);
  }
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    kv_sensitivity_print(&r, stdout);
    printf("table: %s, data: %s/sensitivity.h5, chart: %s/sensitivity.png\n", r.csv, r.dir, r.dir);
  }
  kv_config_free(cfg);
  return rc;
}
