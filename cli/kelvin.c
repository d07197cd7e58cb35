/* kelvin — command-line entry point. The only place that knows MPI_COMM_WORLD and turns status
 * codes into exit statuses (0 ok, 1 check failed, 2 usage or input error, 3 runtime failure). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/status.h"
#include "core/version.h"
#include "drivers/fit.h"
#include "io/config.h"
#include "io/h5.h"

static const char usage[] =
    "usage: kelvin [--verbose|--quiet] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run CONFIG [section.key=value ...]    one solve; writes run.output (HDF5)\n"
    "  sweep CONFIG [--resume] [--slice I/K] [--collect] [--emit-slurm FILE]\n"
    "                                        parameter sweep / ensemble as an MPI task farm\n"
    "  fit CONFIG                            train the [surrogate] (kelvin fit --help: kinds)\n"
    "  predict MODEL.h5 name=value ... [--input CSV] [--output FILE]\n"
    "                                        evaluate a surrogate\n"
    "  validate CONFIG                       surrogate vs the full solver on held-out cases\n"
    "  pipeline CONFIG                       sweep + fit + validate\n"
    "  plot FILE VAR [--step N] [--diff OTHER] -o OUT.png\n"
    "                                        PNG map of a field\n"
    "  info FILE.h5                          datasets, dims, units, attributes, stored config\n"
    "  compare A.h5 B.h5 [--rtol R] [--atol A] [--var NAME]\n"
    "                                        regression compare; exit 1 on mismatch\n"
    "\n"
    "options:\n"
    "  -v, --verbose   more log output (debug)\n"
    "  -q, --quiet     only errors and warnings\n"
    "  --version       print the version\n"
    "  -h, --help      this text; COMMAND --help for a command's own\n"
    "\n"
    "exit status: 0 ok, 1 check failed, 2 usage or input error, 3 runtime or numerical failure\n";

int kv_cli_is_help(const char *s) {
  return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

int kv_cli_surrogate_config(MPI_Comm comm, int argc, char **argv, const char *help, kv_config **cfg,
                            const char **path, int *done) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  *cfg = NULL;
  *path = NULL;
  *done = 0;
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(help, stdout);
      }
      *done = 1;
      return KV_OK;
    }
    if (argv[i][0] == '-') {
      return KV_ERROR(KV_ERR_USAGE, "%s: unknown option '%s' (see kelvin %s --help)", argv[0],
                      argv[i], argv[0]);
    }
    if (!strchr(argv[i], '=') && !*path) {
      *path = argv[i];
    }
  }
  if (!*path) {
    return KV_ERROR(KV_ERR_USAGE, "%s: missing CONFIG (see kelvin %s --help)", argv[0], argv[0]);
  }
  KV_CHECK(kv_config_load(comm, *path, cfg));
  int rc = KV_OK;
  for (int i = 1; i < argc && rc == KV_OK; i++) {
    if (argv[i] != *path) {
      rc = kv_config_override(*cfg, argv[i]);
    }
  }
  if (rc == KV_OK) {
    rc = kv_fit_validate(*cfg);
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_config_free(*cfg);
    *cfg = NULL;
  }
  return rc;
}

int kv_cli_serial(MPI_Comm comm, int argc, char **argv, const char *help, int (*fn)(int, char **)) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(help, stdout);
      }
      return KV_OK;
    }
  }
  return kv_cli_on_root(comm, fn, argc, argv);
}

int kv_cli_on_root(MPI_Comm comm, int (*fn)(int, char **), int argc, char **argv) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = rank == 0 ? fn(argc, argv) : KV_OK;
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  return rc;
}

int main(int argc, char **argv) {
  kv_h5_mpi_defaults(); /* before MPI_Init: it sets MPI-IO parameters */
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  kv_log_level level = KV_LOG_INFO;
  /* Global options come before the command. */
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
      level = KV_LOG_DEBUG;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      level = KV_LOG_WARN;
    } else if (strcmp(argv[i], "--version") == 0) {
      if (rank == 0) {
        printf("kelvin %s\n", KV_VERSION);
      }
      MPI_Finalize();
      return 0;
    } else if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(usage, stdout);
      }
      MPI_Finalize();
      return 0;
    } else {
      if (rank == 0) {
        fprintf(stderr, "kelvin: unknown option '%s'\n%s", argv[i], usage);
      }
      MPI_Finalize();
      return 2;
    }
  }
  kv_log_init(level, rank, size);
  kv_interrupt_install();
  if (i >= argc) {
    if (rank == 0) {
      fputs(usage, stderr);
    }
    MPI_Finalize();
    return 2;
  }
  const char *cmd = argv[i];
  int sub_argc = argc - i;
  char **sub_argv = argv + i;
  int rc;
  if (strcmp(cmd, "run") == 0) {
    rc = kv_cmd_run(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "sweep") == 0) {
    rc = kv_cmd_sweep(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "fit") == 0) {
    rc = kv_cmd_fit(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "predict") == 0) {
    rc = kv_cmd_predict(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "pipeline") == 0) {
    rc = kv_cmd_pipeline(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "validate") == 0) {
    rc = kv_cmd_validate(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "plot") == 0) {
    rc = kv_cmd_plot(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "info") == 0) {
    rc = kv_cmd_info(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else if (strcmp(cmd, "compare") == 0) {
    rc = kv_cmd_compare(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else {
    rc = KV_ERROR(KV_ERR_USAGE, "unknown command '%s' (try kelvin --help)", cmd);
  }
  if (rc != KV_OK && rc != KV_ERR_MISMATCH && rank == 0) {
    fprintf(stderr, "kelvin: error: %s\n", kv_error_message());
    if (kv_log_get_level() >= KV_LOG_DEBUG) {
      fprintf(stderr, "kelvin: (%s, raised at %s)\n", kv_strerror(rc), kv_error_where());
    }
  }
  MPI_Finalize();
  return kv_exit_status(rc);
}
