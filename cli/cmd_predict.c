/* kelvin predict MODEL.h5 [name=value ...] [--input points.csv] [--output FILE] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/predict.h"
#include "io/table.h"
#include "io/textfile.h"
#include "solvers/model.h"
#include "surrogates/surrogate.h"

static const char help[] =
    "usage: kelvin predict MODEL.h5 name=value ... [--output FIELD.h5]\n"
    "       kelvin predict MODEL.h5 --input points.csv --output pred.csv\n"
    "\n"
    "Evaluate a surrogate made by kelvin fit. Inputs are named as in the model (kelvin info\n"
    "MODEL.h5 shows them: CSV columns or config keys such as heat.kappa).\n"
    "  gp     name=value ...: prints 'mean std' (std of an observation: latent + noise);\n"
    "         --input CSV (columns matched by header name, extra columns ignored) --output CSV\n"
    "         writes columns mean,std,lo95,hi95 (the central 95 % interval: back-transformed\n"
    "         for transformed outputs), one row per input row\n"
    "  pcagp  name=value ... --output FIELD.h5 writes the predicted field (<var>) and its\n"
    "         pointwise standard deviation (<var>_std) in the solver's layout\n"
    "  pattern ebm.scenario=NAME [run.year_start=Y0 run.year_end=Y1] --output FIELD.h5: the\n"
    "         anomaly of every year of a scenario\n"
    "Each kind predicts as the data it learnt from: scalar kinds like gp, field kinds like\n"
    "pcagp, scenario kinds like pattern (kelvin fit --help lists the kinds).\n";

/* mean, std and the central 95 % interval of every point (the kind's own: back-transformed for
 * transformed outputs). */
static int write_csv(const kv_surrogate *s, const char *path, long m, const double *X,
                     const double *mean, const double *var) {
  double *lo = malloc((2 * (size_t)m + 1) * sizeof *lo);
  if (!lo) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_surrogate_interval(s, m, X, 0.95, lo, lo + m);
  char tmp[4200];
  FILE *f = rc == KV_OK ? kv_textfile_begin(path, tmp, sizeof tmp) : NULL;
  if (!f) {
    free(lo);
    return rc != KV_OK ? rc : KV_ERR_IO;
  }
  fputs("mean,std,lo95,hi95\n", f);
  for (long i = 0; i < m; i++) {
    fprintf(f, "%.17g,%.17g,%.17g,%.17g\n", mean[i], sqrt(var[i]), lo[i], lo[m + i]);
  }
  free(lo);
  return kv_textfile_commit(f, tmp, path);
}

/* A scenario surrogate: SCENARIO_KEY=NAME [run.year_start=Y0 run.year_end=Y1] --output FILE,
 * the anomaly of every year, its inputs the scenario's forcing from the emulated model. */
static int predict_scenario(const kv_surrogate *s, int argc, char **argv, const char *output) {
  const char *scen = NULL, *key = NULL;
  long y0, y1;
  KV_CHECK(kv_predict_scenario_years(s, &y0, &y1));
  for (int i = 0; kv_model_type_at(i); i++) {
    const char *k = kv_model_type_at(i)->scenario_key;
    for (int a = 1; k && a < argc; a++) {
      size_t kl = strlen(k);
      if (!strncmp(argv[a], k, kl) && argv[a][kl] == '=') {
        scen = argv[a] + kl + 1;
        key = k;
      }
    }
  }
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "run.year_start=", 15)) {
      y0 = strtol(argv[i] + 15, NULL, 10);
    } else if (!strncmp(argv[i], "run.year_end=", 13)) {
      y1 = strtol(argv[i] + 13, NULL, 10);
    }
  }
  if (!scen || !output || y1 < y0) {
    return KV_ERROR(KV_ERR_USAGE,
                    "predict: a %s model takes SCENARIO_KEY=NAME (e.g. "
                    "ebm.scenario=ssp245) [run.year_start=Y0 run.year_end=Y1] --output FIELD.h5",
                    kv_surrogate_kind(s));
  }
  KV_CHECK(kv_predict_scenario(s, scen, y0, y1, output));
  printf("wrote %s (%s anomaly from the control climate, %ld-%ld, %s %s)\n", output,
         kv_surrogate_layout(s)->var, y0, y1, key, scen);
  return KV_OK;
}

/* The model's inputs from name=value arguments (every input exactly once). */
static int inputs_from_args(const kv_surrogate *s, const char *model, int argc, char **argv,
                            const char *output, double *X) {
  int d = kv_surrogate_ninputs(s), rc = KV_OK;
  char *given = calloc((size_t)d + 1, 1), list[1024];
  if (!given) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  kv_surrogate_input_list(s, list, sizeof list);
  for (int i = 1; rc == KV_OK && i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || argv[i][0] == '-' || argv[i] == output) {
      continue;
    }
    char name[256], *end;
    snprintf(name, sizeof name, "%.*s", (int)(eq - argv[i]), argv[i]);
    int k = kv_surrogate_input_index(s, name);
    double v = strtod(eq + 1, &end);
    if (k < 0) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: '%s' is not an input of %s (its inputs: %s)", name,
                    model, list);
    } else if (*end || end == eq + 1 || !isfinite(v)) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: %s = '%s' is not a number", name, eq + 1);
    } else {
      X[k] = v;
      given[k] = 1;
    }
  }
  for (int k = 0; rc == KV_OK && k < d; k++) {
    if (!given[k]) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: missing %s=VALUE", kv_surrogate_input(s, k));
    }
  }
  free(given);
  return rc;
}

/* The model's inputs from the columns of a CSV table (matched by name). */
static int inputs_from_csv(const kv_surrogate *s, const char *input, kv_table *t, double **X,
                           long *m) {
  int d = kv_surrogate_ninputs(s);
  KV_CHECK(kv_table_read_csv(input, t));
  *m = t->nrows;
  *X = malloc(((size_t)*m * (size_t)d + 1) * sizeof **X);
  if (!*X) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (int k = 0; k < d; k++) {
    int c = kv_table_column(t, kv_surrogate_input(s, k));
    if (c < 0) {
      return KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s' (the model's inputs are given by name)",
                      input, kv_surrogate_input(s, k));
    }
    for (long i = 0; i < *m; i++) {
      (*X)[i * d + k] = t->v[i * t->ncols + c];
    }
  }
  return KV_OK;
}

static int predict_root(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *output = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--input") == 0 || strcmp(argv[i], "--output") == 0) {
      if (i + 1 >= argc) {
        return KV_ERROR(KV_ERR_USAGE, "predict: %s expects a file", argv[i]);
      }
      if (argv[i][2] == 'i') {
        input = argv[++i];
      } else {
        output = argv[++i];
      }
    } else if (argv[i][0] == '-') {
      return KV_ERROR(KV_ERR_USAGE, "predict: unknown option '%s' (see kelvin predict --help)",
                      argv[i]);
    } else if (!strchr(argv[i], '=') && !model) {
      model = argv[i];
    }
  }
  if (!model) {
    return KV_ERROR(KV_ERR_USAGE, "predict: missing MODEL.h5 (see kelvin predict --help)");
  }
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_load(model, &s));
  const kv_surrogate_type *type = kv_surrogate_type_get(s);
  const kv_field_layout *L = kv_surrogate_layout(s);
  int d = kv_surrogate_ninputs(s), rc = KV_OK;
  long m = 1;
  double *X = NULL, *mean = NULL, *var = NULL;
  kv_table t = {0};
  if (!type->predict) {
    rc = KV_ERROR(KV_ERR_USAGE,
                  "predict: %s is a %s model (%s): it does not predict from "
                  "inputs",
                  model, type->name, type->summary);
    goto cleanup;
  }
  if (type->data & KV_DATA_SCENARIOS) {
    rc = predict_scenario(s, argc, argv, output);
    goto cleanup;
  }
  if (input) {
    if (L || !output) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: --input goes with a scalar model and --output "
                                  "FILE.csv");
      goto cleanup;
    }
    KV_TRY(inputs_from_csv(s, input, &t, &X, &m));
  } else {
    X = malloc(((size_t)d + 1) * sizeof *X);
    if (!X) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      goto cleanup;
    }
    KV_TRY(inputs_from_args(s, model, argc, argv, output, X));
  }
  long no = kv_surrogate_noutputs(s);
  mean = malloc(((size_t)m * (size_t)no + 1) * sizeof *mean);
  var = malloc(((size_t)m * (size_t)no + 1) * sizeof *var);
  if (!mean || !var) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  double t0 = MPI_Wtime();
  KV_TRY(kv_surrogate_predict(s, m, X, mean, var));
  kv_info("predicted %ld point%s with their std in %.4f s", m, m == 1 ? "" : "s", MPI_Wtime() - t0);
  if (L) {
    if (!output) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: a %s model predicts a field: give --output FIELD.h5",
                    type->name);
      goto cleanup;
    }
    KV_TRY(kv_layout_write_field(L, 1, NULL, mean, var, output, kv_surrogate_config(s)));
    printf("wrote %s (%s and %s_std, %ld points)\n", output, L->var, L->var, no);
  } else if (output) {
    KV_TRY(write_csv(s, output, m, X, mean, var));
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
