/* kelvin fit CONFIG [section.key=value ...] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "io/config.h"
#include "surrogates/cv.h"

static const char help_head[] =
    "usage: kelvin fit CONFIG [section.key=value ...]\n"
    "\n"
    "Train the surrogate of CONFIG's [surrogate] section and write it to surrogate.model\n"
    "(default: <sweep dir>/model_<kind>.h5). surrogate.kind is one of:\n";

static const char help_tail[] =
    "Training data (surrogate.data): a CSV table (inputs = a, b, output = y), a sweep directory\n"
    "(default: the [sweep] section's; scalar kinds take qoi = T_mean | T_max | ..., field kinds\n"
    "the final record of surrogate.field), a scenario ensemble (train_scenarios), or for pod a\n"
    "run's output file. Prints what was fitted (for GPs: hyperparameters in data units and the\n"
    "log marginal likelihood). `kelvin run --keys` lists the [surrogate] keys.\n";

/* The kinds from the registry, so the help never lists a kind that is not there. */
static void print_help(void) {
  fputs(help_head, stdout);
  for (int i = 0; kv_surrogate_type_at(i); i++) {
    const kv_surrogate_type *t = kv_surrogate_type_at(i);
    printf("  %-8s %s\n", t->name, t->summary);
  }
  fputs(help_tail, stdout);
}

/* What was fitted and how well it cross-validates, from rank 0. */
static int report(const kv_surrogate *s, const char *path) {
  if (kv_surrogate_output(s)[0]) {
    printf("wrote %s (%s, output %s)\n", path, kv_surrogate_kind(s), kv_surrogate_output(s));
  } else {
    printf("wrote %s (%s)\n", path, kv_surrogate_kind(s));
  }
  if (kv_surrogate_leaderboard(s)) {
    fputs(kv_surrogate_leaderboard(s), stdout);
  }
  int rc = kv_surrogate_describe(s, stdout);
  if (kv_surrogate_cv(s)) {
    kv_cv_print(kv_surrogate_cv(s), "cross-validation", stdout);
  }
  return rc;
}

int kv_cmd_fit(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        print_help();
      }
      return KV_OK;
    }
  }
  const char *path;
  kv_config *cfg;
  int done;
  int rc = kv_cli_surrogate_config(comm, argc, argv, "", &cfg, &path, &done);
  if (rc != KV_OK || done) {
    return rc;
  }
  kv_surrogate *s = NULL;
  char model[4096];
  rc = kv_fit(comm, cfg, &s, model, sizeof model);
  if (rc == KV_OK && rank == 0) {
    rc = report(s, model);
  }
  rc = kv_status_agree(comm, rc);
  kv_surrogate_free(s);
  kv_config_free(cfg);
  return rc;
}
