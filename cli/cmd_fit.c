/* kelvin fit CONFIG [section.key=value ...] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/status.h"
#include "io/config.h"
#include "surrogates/fit.h"

static const char help[] =
    "usage: kelvin fit CONFIG [section.key=value ...]\n"
    "\n"
    "Train the surrogate of CONFIG's [surrogate] section and write it to surrogate.model:\n"
    "  kind = gp     a Gaussian process on a scalar: a CSV table (surrogate.data = file.csv,\n"
    "                inputs = a,b, output = y) or the QoI of every done case of a sweep\n"
    "                (surrogate.data = runs/<name>, qoi = T_mean | T_max | ...)\n"
    "  kind = pcagp  PCA of the final fields of a sweep's cases, one GP per retained mode\n"
    "  kind = pod    POD basis of every record of a run (surrogate.data = out.h5) or of a\n"
    "                sweep's cases, for run.model = rom: reduced operators (linear heat) or a\n"
    "                DEIM basis of the nonlinear term\n"
    "Hyperparameters maximise the log marginal likelihood (projected L-BFGS, seeded restarts).\n"
    "Prints the fitted hyperparameters (in data units) and the log marginal likelihood.\n"
    "`kelvin run --keys` lists the [surrogate] keys.\n";

static void print_gp(const kv_surrogate *s, const kv_gp *g, const char *what) {
  double len[64], sig, noi;
  kv_gp_hyper_data(g, len, &sig, &noi);
  printf("%s: %s kernel, %ld points, LML %.10g (%ld evaluations)\n", what,
         kv_kernel_name(kv_gp_opts(g)->kernel), kv_gp_size(g), kv_gp_lml_data(g), kv_gp_evals(g));
  printf("  length scales:");
  for (int k = 0; k < s->ninputs; k++) printf(" %s=%.6g", s->inputs[k], len[k]);
  printf("\n  signal variance %.6g, noise variance %.6g\n", sig, noi);
}

static int fit_root(kv_config *cfg) {
  kv_surrogate *s = NULL;
  char path[4096];
  const char *kind = kv_config_value(cfg, "surrogate.kind");
  if (kind && strcmp(kind, "pod") == 0) {
    kv_rom_fit_info fi;
    KV_CHECK(kv_fit_pod(cfg, path, sizeof path, &fi));
    printf("wrote %s (pod: %d modes of %ld snapshots keep %.12f of sum sigma^2", path, fi.modes,
           fi.snapshots, fi.energy);
    if (fi.linear) printf("; reduced operators at unit kappa and source scales)\n");
    else printf("; %d DEIM modes of %s)\n", fi.deim_modes, fi.split ? "N = F - L u" : "F");
    return KV_OK;
  }
  KV_CHECK(kv_fit(cfg, &s, path, sizeof path));
  printf("wrote %s (%s, output %s)\n", path, s->kind == KV_SURROGATE_GP ? "gp" : s->kind == KV_SURROGATE_PATTERN ? "pattern" : "pcagp",
         s->output);
  if (s->kind == KV_SURROGATE_GP) {
    print_gp(s, s->gp[0], "gp");
  } else if (s->kind == KV_SURROGATE_PATTERN) {
    const kv_pattern_info *p = &s->pattern;
    printf("pattern: %ld points, maps: intercept", s->npts);
    for (int k = 0; k < s->ninputs; k++) printf(", %s", s->inputs[k]);
    printf("\n  global mean %s: two-box response, time scales %.4g and %.4g years, amplitudes "
           "%.4g and %.4g K/(W m-2), rms misfit %.4g K\n",
           p->global_mode ? "true_smoothed (from the full solver at validation)" : "response",
           p->d[0], p->d[1], p->q[0], p->q[1], p->response_rmse);
  } else {
    printf("pca: %d modes keep %.8f of the variance of %ld-point fields\n", s->nmodes, s->energy,
           s->npts);
    for (int k = 0; k < s->nmodes; k++) {
      char what[32];
      snprintf(what, sizeof what, "mode %d", k);
      print_gp(s, s->gp[k], what);
    }
  }
  kv_surrogate_free(s);
  return KV_OK;
}

int kv_cmd_fit(MPI_Comm comm, int argc, char **argv) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  const char *path;
  kv_config *cfg;
  int done;
  int rc = kv_cli_surrogate_config(comm, argc, argv, help, &cfg, &path, &done);
  if (rc != KV_OK || done) return rc;
  /* One process fits (the BLAS threads use the cores); the others wait for its verdict. */
  if (rc == KV_OK) {
    rc = rank == 0 ? fit_root(cfg) : KV_OK;
    rc = kv_status_agree(comm, rc);
  }
  kv_config_free(cfg);
  return rc;
}
