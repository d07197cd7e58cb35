/* kelvin — command-line entry point. The only place that knows MPI_COMM_WORLD and turns status
 * codes into exit statuses (0 ok, 1 check failed, 2 usage or input error, 3 runtime failure). */
#include <malloc.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/history.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/status.h"
#include "core/suggest.h"
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
    "  sensitivity CONFIG|MODEL.h5 [--output CSV]\n"
    "                                        Sobol indices / Morris effects of a surrogate\n"
    "  optimize CONFIG [--resume]            EGO of a model's response (constraints, batches)\n"
    "  adapt CONFIG [--resume]               sequential design to a tolerance (learning curve)\n"
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

typedef struct {
  const char *name;
  int (*fn)(MPI_Comm, int, char **);
} kv_cli_command;

static const kv_cli_command commands[] = {
    {"run", kv_cmd_run},           {"sweep", kv_cmd_sweep},
    {"fit", kv_cmd_fit},           {"predict", kv_cmd_predict},
    {"pipeline", kv_cmd_pipeline}, {"validate", kv_cmd_validate},
    {"plot", kv_cmd_plot},         {"info", kv_cmd_info},
    {"compare", kv_cmd_compare},   {"sensitivity", kv_cmd_sensitivity},
    {"optimize", kv_cmd_optimize}, {"adapt", kv_cmd_adapt},
};

static const char *const global_options[] = {"--verbose", "--quiet", "--version", "--help", NULL};

/* How the user started kelvin (argv[0]), for the commands that hints print. */
static const char *g_program = "kelvin";

/* Append word to buf, single-quoted for the shell when it holds anything but safe characters. */
static void append_word(char *buf, size_t n, const char *w) {
  size_t len = strlen(buf);
  int plain = *w != '\0';
  for (const char *c = w; *c; c++) {
    plain &= (strchr("-_./=:,+@%", *c) || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z'));
  }
  len +=
      (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", len ? " " : "", plain ? w : "'");
  if (!plain) {
    for (const char *c = w; *c && len + 5 < n; c++) {
      len += (size_t)snprintf(buf + len, n - len, *c == '\'' ? "'\\''" : "%c", *c);
    }
    snprintf(buf + len, len < n ? n - len : 0, "'");
  }
}

const char *kv_cli_again(MPI_Comm comm, int argc, char **argv, const char *drop, char *buf,
                         size_t n) {
  buf[0] = '\0';
  int size = kv_comm_size(comm);
  if (size > 1) {
    int srun = getenv("SLURM_JOB_ID") && !getenv("OMPI_COMM_WORLD_SIZE");
    snprintf(buf, n, "%s -n %d", srun ? "srun" : "mpirun", size);
  }
  append_word(buf, n, g_program);
  for (int i = 0; i < argc; i++) {
    if (drop && !strcmp(argv[i], drop)) {
      i++; /* and its argument */
      continue;
    }
    append_word(buf, n, argv[i]);
  }
  return buf;
}

int kv_cli_unknown_option(const char *cmd, const char *opt, const char *const *known) {
  char hint[128];
  return KV_ERROR(KV_ERR_USAGE, "%s: unknown option '%s'%s (see kelvin %s --help)", cmd, opt,
                  kv_suggest_hint(opt, known, hint, sizeof hint), cmd);
}

int kv_cli_is_help(const char *s) {
  return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

/* Load PATH, apply the key=value arguments (the options were checked by the caller), set
 * surrogate.kind to KIND when the file has none (KIND may be NULL) and validate; collective, the
 * status agreed. On error *cfg is NULL. */
static int load_config(MPI_Comm comm, int argc, char **argv, const char *path, const char *kind,
                       kv_config **cfg) {
  KV_CHECK(kv_config_load(comm, path, cfg));
  int rc = KV_OK;
  for (int i = 1; i < argc && rc == KV_OK; i++) {
    if (argv[i] != path && argv[i][0] != '-') {
      rc = kv_config_override(*cfg, argv[i]);
    }
  }
  if (rc == KV_OK && kind && !kv_config_has(*cfg, "surrogate.kind")) {
    rc = kv_config_set_tagged(*cfg, "surrogate.kind", kind, argv[0]);
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

int kv_cli_surrogate_config(MPI_Comm comm, int argc, char **argv, const char *help, kv_config **cfg,
                            const char **path, int *done) {
  int rank;
  rank = kv_comm_rank(comm);
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
      static const char *const known[] = {"--help", NULL};
      return kv_cli_unknown_option(argv[0], argv[i], known);
    }
    if (!strchr(argv[i], '=') && !*path) {
      *path = argv[i];
    }
  }
  if (!*path) {
    return KV_ERROR(KV_ERR_USAGE, "%s: missing CONFIG (see kelvin %s --help)", argv[0], argv[0]);
  }
  return load_config(comm, argc, argv, *path, NULL, cfg);
}

int kv_cli_decision_config(MPI_Comm comm, int argc, char **argv, const char *help, kv_config **cfg,
                           int *resume, int *done) {
  const char *path = NULL;
  *cfg = NULL;
  *resume = *done = 0;
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      if (kv_comm_rank(comm) == 0) {
        fputs(help, stdout);
      }
      *done = 1;
      return KV_OK;
    }
    if (!strcmp(argv[i], "--resume")) {
      *resume = 1;
    } else if (argv[i][0] == '-') {
      static const char *const known[] = {"--resume", "--help", NULL};
      return kv_cli_unknown_option(argv[0], argv[i], known);
    } else if (!strchr(argv[i], '=') && !path) {
      path = argv[i];
    }
  }
  if (!path) {
    return KV_ERROR(KV_ERR_USAGE, "%s: missing CONFIG (see kelvin %s --help)", argv[0], argv[0]);
  }
  /* The surrogate inside the loop: a GP unless the file says otherwise. */
  return load_config(comm, argc, argv, path, "gp", cfg);
}

int kv_cli_serial(MPI_Comm comm, int argc, char **argv, const char *help, int (*fn)(int, char **)) {
  int rank;
  rank = kv_comm_rank(comm);
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
  rank = kv_comm_rank(comm);
  int rc = rank == 0 ? fn(argc, argv) : KV_OK;
  kv_comm_bcast(&rc, 1, MPI_INT, 0, comm);
  return rc;
}

/* The task farms (sweep, validate, pipeline) start MPI always; the other commands only when a
 * launcher started the process: MPI_Init costs more than a prediction or a small run. Work
 * that needs MPI later (a model's decomposed grid, FFTW-MPI, MPI-IO) starts it on demand
 * (kv_comm_start); a heat run on one process needs none. */
static int wants_mpi(const char *cmd) {
  static const char *parallel[] = {"sweep",       "validate", "pipeline",
                                   "sensitivity", "optimize", "adapt"};
  for (size_t k = 0; cmd && k < sizeof parallel / sizeof *parallel; k++) {
    if (!strcmp(cmd, parallel[k])) {
      return 1;
    }
  }
  return kv_comm_launched();
}

static int finish(int code) {
  kv_comm_finish();
  return code;
}

int main(int argc, char **argv) {
  g_program = argv[0];
  /* HDF5's filter pipeline (Fletcher32 on every chunk) allocates a buffer per chunk written;
   * glibc serves those from fresh mmaps, each faulted in again. Kept in the heap, writing a
   * 512 x 512 record costs a third (bench/RESULTS.md, "Checksummed output"). */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  /* Global options may come before or after the command: find the command first. */
  const char *cmd = NULL;
  for (int k = 1; k < argc && !cmd; k++) {
    if (argv[k][0] != '-') {
      cmd = argv[k];
    }
  }
  /* kelvin's own environment variables: a value it would ignore is a mistake to name. */
  const char *mpi_env = getenv("KELVIN_MPI"), *probe_env = getenv("KELVIN_PROBE_TIMEOUT");
  if (mpi_env && *mpi_env && strcmp(mpi_env, "always") != 0 && strcmp(mpi_env, "never") != 0) {
    fprintf(stderr, "kelvin: error: KELVIN_MPI = '%s': expected always or never (or unset)\n",
            mpi_env);
    return 2;
  }
  if (probe_env && *probe_env && !(strtod(probe_env, NULL) > 0.0)) {
    fprintf(stderr,
            "kelvin: error: KELVIN_PROBE_TIMEOUT = '%s': expected a positive number of "
            "seconds\n",
            probe_env);
    return 2;
  }
  kv_h5_mpi_defaults(); /* before MPI_Init: it sets MPI-IO parameters */
  if (wants_mpi(cmd)) {
    kv_comm_singleton_env();
    MPI_Init(&argc, &argv);
  }
  int rank = kv_comm_rank(MPI_COMM_WORLD), size = kv_comm_size(MPI_COMM_WORLD);
  kv_log_level level = KV_LOG_INFO;
  char hint[128];
  int sub_argc = 0;
  char **sub_argv = malloc(((size_t)argc + 1) * sizeof *sub_argv);
  if (!sub_argv) {
    return finish(3);
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
      level = KV_LOG_DEBUG;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      level = KV_LOG_WARN;
    } else if (strcmp(argv[i], "--version") == 0) {
      if (rank == 0) {
        printf("kelvin %s\n", KV_VERSION);
      }
      free(sub_argv);
      return finish(0);
    } else if (!sub_argc && kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(usage, stdout);
      }
      free(sub_argv);
      return finish(0);
    } else if (!sub_argc && argv[i][0] == '-') {
      if (rank == 0) {
        fprintf(stderr, "kelvin: unknown option '%s'%s\n%s", argv[i],
                kv_suggest_hint(argv[i], global_options, hint, sizeof hint), usage);
      }
      free(sub_argv);
      return finish(2);
    } else {
      sub_argv[sub_argc++] = argv[i];
    }
  }
  sub_argv[sub_argc] = NULL;
  kv_log_init(level, rank, size);
  kv_interrupt_install();
  {
    char line[4096];
    kv_history_set(kv_cli_again(MPI_COMM_WORLD, sub_argc, sub_argv, NULL, line, sizeof line));
  }
  if (!sub_argc) {
    if (rank == 0) {
      fputs(usage, stderr);
    }
    free(sub_argv);
    return finish(2);
  }
  int rc = KV_ERR_USAGE;
  const kv_cli_command *c = NULL;
  for (size_t k = 0; k < sizeof commands / sizeof *commands; k++) {
    if (!strcmp(commands[k].name, cmd)) {
      c = &commands[k];
    }
  }
  if (c) {
    rc = c->fn(MPI_COMM_WORLD, sub_argc, sub_argv);
  } else {
    const char *names[sizeof commands / sizeof *commands + 1];
    for (size_t k = 0; k < sizeof commands / sizeof *commands; k++) {
      names[k] = commands[k].name;
    }
    names[sizeof commands / sizeof *commands] = NULL;
    rc = KV_ERROR(KV_ERR_USAGE, "unknown command '%s'%s (try kelvin --help)", cmd,
                  kv_suggest_hint(cmd, names, hint, sizeof hint));
  }
  if (rc != KV_OK && rc != KV_ERR_MISMATCH && rank == 0) {
    fprintf(stderr, "kelvin: error: %s\n", kv_error_message());
    if (kv_log_get_level() >= KV_LOG_DEBUG) {
      fprintf(stderr, "kelvin: (%s, raised at %s)\n", kv_strerror(rc), kv_error_where());
    }
  }
  free(sub_argv);
  return finish(kv_exit_status(rc));
}
