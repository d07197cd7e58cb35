/* kelvin predict MODEL.h5 [name=value ...] [--input points.csv] [--output FILE] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/status.h"
#include "io/table.h"
#include "io/textfile.h"
#include "surrogates/pattern.h"
#include "surrogates/surrogate.h"

static const char help[] =
    "usage: kelvin predict MODEL.h5 name=value ... [--output FIELD.h5]\n"
    "       kelvin predict MODEL.h5 --input points.csv --output pred.csv\n"
    "\n"
    "Evaluate a surrogate made by kelvin fit. Inputs are named as in the model (kelvin info\n"
    "MODEL.h5 shows them: CSV columns or config keys such as heat.kappa).\n"
    "  gp     name=value ...: prints 'mean std' (std of an observation: latent + noise);\n"
    "         --input CSV (columns matched by header name, extra columns ignored) --output CSV\n"
    "         writes columns mean,std, one row per input row\n"
    "  pcagp  name=value ... --output FIELD.h5 writes the predicted field (<var>) and its\n"
    "         pointwise standard deviation (<var>_std) in the solver's layout\n";

static int write_csv(const char *path, long m, const double *mean, const double *var) {
  char tmp[4200];
  FILE *f = kv_textfile_begin(path, tmp, sizeof tmp);
  if (!f) return KV_ERR_IO;
  fputs("mean,std\n", f);
  for (long i = 0; i < m; i++) fprintf(f, "%.17g,%.17g\n", mean[i], sqrt(var[i]));
  return kv_textfile_commit(f, tmp, path);
}

/* Pattern scaling: ebm.scenario=NAME [run.year_start=Y0 run.year_end=Y1] --output FIELD.h5,
 * the tas anomaly of every year, with the global mean from the fitted response to the forcing. */
static int predict_pattern(const kv_surrogate *s, int argc, char **argv, const char *output) {
  const char *scen = NULL;
  long y0 = s->pattern.year0, y1 = s->pattern.year0 + s->pattern.nyears - 1;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "ebm.scenario=", 13)) scen = argv[i] + 13;
    else if (!strncmp(argv[i], "run.year_start=", 15)) y0 = strtol(argv[i] + 15, NULL, 10);
    else if (!strncmp(argv[i], "run.year_end=", 13)) y1 = strtol(argv[i] + 13, NULL, 10);
  }
  if (!scen || !output || y1 < y0) {
    return KV_ERROR(KV_ERR_USAGE, "predict: a pattern model takes ebm.scenario=NAME "
                    "[run.year_start=Y0 run.year_end=Y1] --output FIELD.h5");
  }
  long n = y1 - y0 + 1;
  double *X = malloc((size_t)n * (size_t)s->ninputs * sizeof *X);
  double *mean = malloc((size_t)n * (size_t)s->npts * sizeof *mean);
  double *times = malloc((size_t)n * sizeof *times);
  int rc = X && mean && times ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) rc = kv_pattern_predictors(s, scen, (int)y0, (int)n, NULL, X);
  if (rc == KV_OK) rc = kv_surrogate_predict(s, n, X, mean, NULL);
  /* Mid-year stamps on the training runs' noleap axis. */
  long last = s->pattern.year0 + s->pattern.nyears - 1;
  for (long t = 0; rc == KV_OK && t < n; t++) times[t] = s->layout.time + 365.0 * (double)(y0 + t - last);
  if (rc == KV_OK) rc = kv_surrogate_write_field(s, n, times, mean, NULL, output, s->config);
  if (rc == KV_OK) {
    printf("wrote %s (tas anomaly from the control climate, %ld-%ld, scenario %s)\n", output, y0,
           y1, scen);
  }
  free(X);
  free(mean);
  free(times);
  return rc;
}

static int predict_root(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *output = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--input") == 0 || strcmp(argv[i], "--output") == 0) {
      if (i + 1 >= argc) return KV_ERROR(KV_ERR_USAGE, "predict: %s expects a file", argv[i]);
      if (argv[i][2] == 'i') input = argv[++i];
      else output = argv[++i];
    } else if (argv[i][0] == '-') {
      return KV_ERROR(KV_ERR_USAGE, "predict: unknown option '%s' (see kelvin predict --help)",
                      argv[i]);
    } else if (!strchr(argv[i], '=') && !model) {
      model = argv[i];
    }
  }
  if (!model) return KV_ERROR(KV_ERR_USAGE, "predict: missing MODEL.h5 (see kelvin predict --help)");
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_load(model, &s));
  int d = s->ninputs, rc = KV_OK;
  long m = 1;
  double *X = NULL, *mean = NULL, *var = NULL;
  kv_table t = {0};
  if (input) {
    if (s->kind != KV_SURROGATE_GP || !output) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: --input goes with a gp model and --output FILE.csv");
      goto cleanup;
    }
    KV_TRY(kv_table_read_csv(input, &t));
    m = t.nrows;
    X = malloc((size_t)m * (size_t)d * sizeof *X);
    if (!X) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      goto cleanup;
    }
    for (int k = 0; k < d; k++) {
      int c = kv_table_column(&t, s->inputs[k]);
      if (c < 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s' (the model's inputs are given by name)",
                      input, s->inputs[k]);
        goto cleanup;
      }
      for (long i = 0; i < m; i++) X[i * d + k] = t.v[i * t.ncols + c];
    }
  } else if (s->kind == KV_SURROGATE_PATTERN) {
    rc = predict_pattern(s, argc, argv, output);
    goto cleanup;
  } else {
    X = malloc((size_t)d * sizeof *X);
    char *given = calloc((size_t)d + 1, 1);
    for (int i = 1; X && given && i < argc; i++) {
      char *eq = strchr(argv[i], '=');
      if (!eq || argv[i][0] == '-' || argv[i] == output) continue;
      char name[256], *end;
      snprintf(name, sizeof name, "%.*s", (int)(eq - argv[i]), argv[i]);
      int k = kv_surrogate_input_index(s, name);
      double v = strtod(eq + 1, &end);
      if (k < 0) {
        rc = KV_ERROR(KV_ERR_USAGE, "predict: '%s' is not an input of %s (its inputs: %s%s%s)",
                      name, model, s->inputs[0], d > 1 ? ", " : "", d > 1 ? s->inputs[1] : "");
      } else if (*end || end == eq + 1 || !isfinite(v)) {
        rc = KV_ERROR(KV_ERR_USAGE, "predict: %s = '%s' is not a number", name, eq + 1);
      } else {
        X[k] = v;
        given[k] = 1;
      }
      if (rc != KV_OK) break;
    }
    for (int k = 0; rc == KV_OK && k < d; k++) {
      if (!given[k]) rc = KV_ERROR(KV_ERR_USAGE, "predict: missing %s=VALUE", s->inputs[k]);
    }
    free(given);
    if (rc != KV_OK) goto cleanup;
  }
  long no = kv_surrogate_noutputs(s);
  mean = malloc((size_t)m * (size_t)no * sizeof *mean);
  var = malloc((size_t)m * (size_t)no * sizeof *var);
  if (!mean || !var) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  double t0 = MPI_Wtime();
  KV_TRY(kv_surrogate_predict(s, m, X, mean, var));
  kv_info("predicted %ld point%s with their std in %.4f s", m, m == 1 ? "" : "s",
          MPI_Wtime() - t0);
  if (s->kind == KV_SURROGATE_PCAGP) {
    if (!output) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: a pcagp model predicts a field: give --output "
                    "FIELD.h5");
      goto cleanup;
    }
    KV_TRY(kv_surrogate_write_field(s, 1, NULL, mean, var, output, s->config));
    printf("wrote %s (%s and %s_std, %ld points)\n", output, s->layout.var, s->layout.var, no);
  } else if (output) {
    KV_TRY(write_csv(output, m, mean, var));
    printf("wrote %s (%ld predictions)\n", output, m);
  } else {
    printf("%.10g %.10g\n", mean[0], sqrt(var[0]));
  }
cleanup:
  kv_table_free(&t);
  free(X);
  free(mean);
  free(var);
  kv_surrogate_free(s);
  return rc;
}

int kv_cmd_predict(MPI_Comm comm, int argc, char **argv) {
  return kv_cli_serial(comm, argc, argv, help, predict_root);
}
