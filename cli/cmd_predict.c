/* kelvin predict MODEL.h5 [name=value ...] [--input points.csv] [--output FILE] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/comm.h"
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
    "       kelvin predict MODEL.h5 --stdin    (for outer loops: optimisers, Dakota, scripts)\n"
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
    "         anomaly of every year of a scenario; a pattern fitted on a set of files\n"
    "         (surrogate.data = files): scenario=NAME [files=DIR] --output FIELD.h5, the\n"
    "         forcing from inputs_NAME.nc of the set\n"
    "  --stdin  a scalar model reads one point per line from standard input (the inputs' values\n"
    "         in the model's order, separated by spaces or commas, or as name=value pairs;\n"
    "         blank lines and # comments skipped) and writes one 'mean std' line per point,\n"
    "         flushed at once, until end of input\n"
    "Each kind predicts as the data it learnt from: scalar kinds like gp, field kinds like\n"
    "pcagp, scenario kinds like pattern (kelvin fit --help lists the kinds).\n";

/* mean, std, the central 95 % interval of every point (the kind's own: back-transformed for
 * transformed outputs) and whether the point lies outside the training box. */
static int write_csv(const kv_surrogate *s, const char *path, long m, const double *X,
                     const double *mean, const double *var) {
  double *lo = malloc((2 * (size_t)m + 1) * sizeof *lo);
  char *out = malloc((size_t)m + 1);
  if (!lo || !out) {
    free(lo);
    free(out);
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  kv_surrogate_outside(s, m, X, out);
  int rc = kv_surrogate_interval(s, m, X, 0.95, lo, lo + m);
  char tmp[4200];
  FILE *f = rc == KV_OK
                ? kv_textfile_begin(path, "mean,std", "the predictions file", tmp, sizeof tmp)
                : NULL;
  if (f) {
    fputs("mean,std,lo95,hi95,outside\n", f);
    for (long i = 0; i < m; i++) {
      fprintf(f, "%.17g,%.17g,%.17g,%.17g,%d\n", mean[i], sqrt(var[i]), lo[i], lo[m + i], out[i]);
    }
    rc = kv_textfile_commit(f, tmp, path);
  } else if (rc == KV_OK) {
    rc = KV_ERR_IO;
  }
  free(lo);
  free(out);
  return rc;
}

/* A scenario surrogate: SCENARIO_KEY=NAME [run.year_start=Y0 run.year_end=Y1] --output FILE,
 * the anomaly of every year, its inputs the scenario's forcing from the emulated model. */
static int predict_scenario(const kv_surrogate *s, int argc, char **argv, const char *output) {
  const char *scen = NULL, *key = NULL;
  long y0, y1;
  char dir[4096];
  if (kv_predict_set_dir(s, dir, sizeof dir)) {
    /* Fitted on a set of files: scenario=NAME of the set (files=DIR: another set). */
    for (int a = 1; a < argc; a++) {
      if (!strncmp(argv[a], "scenario=", 9)) {
        scen = argv[a] + 9;
      } else if (!strncmp(argv[a], "files=", 6)) {
        snprintf(dir, sizeof dir, "%s", argv[a] + 6);
      }
    }
    if (!scen || !output) {
      return KV_ERROR(KV_ERR_USAGE,
                      "predict: this %s model was fitted on the set of files %s: give "
                      "scenario=NAME (inputs_NAME.nc there) [files=DIR] --output FIELD.h5",
                      kv_surrogate_kind(s), dir);
    }
    KV_CHECK(kv_predict_scenario_set(s, dir, scen, output));
    printf("wrote %s (%s anomaly from the control climate, scenario %s of %s)\n", output,
           kv_surrogate_layout(s)->var, scen, dir);
    return KV_OK;
  }
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
      char hint[128];
      return KV_ERROR(KV_ERR_FORMAT, "%s: no column '%s'%s (the model's inputs are given by name)",
                      input, kv_surrogate_input(s, k),
                      kv_table_suggest(t, kv_surrogate_input(s, k), hint, sizeof hint));
    }
    for (long i = 0; i < *m; i++) {
      (*X)[i * d + k] = t->v[i * t->ncols + c];
    }
  }
  return KV_OK;
}

/* One point of a --stdin line: d numbers in the model's input order (spaces or commas), or
 * name=value pairs naming every input. Returns KV_OK, or KV_ERR_USAGE naming the line. */
static int parse_point(const kv_surrogate *s, char *line, long lineno, double *x, char *given) {
  int d = kv_surrogate_ninputs(s), n = 0;
  memset(given, 0, (size_t)d);
  for (char *tok = strtok(line, " \t,\r\n"); tok; tok = strtok(NULL, " \t,\r\n")) {
    char *eq = strchr(tok, '='), *end;
    int k = n;
    if (eq) {
      *eq = 0;
      k = kv_surrogate_input_index(s, tok);
      if (k < 0) {
        char list[1024];
        kv_surrogate_input_list(s, list, sizeof list);
        return KV_ERROR(KV_ERR_USAGE,
                        "predict --stdin: line %ld: '%s' is not an input (the "
                        "model's inputs: %s)",
                        lineno, tok, list);
      }
      tok = eq + 1;
    } else if (n >= d) {
      return KV_ERROR(KV_ERR_USAGE, "predict --stdin: line %ld: more than %d values", lineno, d);
    }
    double v = strtod(tok, &end);
    if (*end || end == tok || !isfinite(v)) {
      return KV_ERROR(KV_ERR_USAGE, "predict --stdin: line %ld: '%s' is not a number", lineno, tok);
    }
    x[k] = v;
    given[k] = 1;
    n++;
  }
  for (int k = 0; k < d; k++) {
    if (!given[k]) {
      return KV_ERROR(KV_ERR_USAGE,
                      "predict --stdin: line %ld: no value for %s (%d inputs per "
                      "line, in the order of kelvin info)",
                      lineno, kv_surrogate_input(s, k), d);
    }
  }
  return KV_OK;
}

/* --stdin: one point per line in, one 'mean std' line out, flushed so that a caller waiting on
 * the answer (an optimiser through a pipe) gets it at once. */
static int predict_stream(const kv_surrogate *s, FILE *in) {
  int d = kv_surrogate_ninputs(s), rc = KV_OK;
  double *x = malloc(((size_t)d + 1) * sizeof *x);
  char *given = malloc((size_t)d + 1), *line = NULL;
  size_t cap = 0;
  long lineno = 0, points = 0, outside = 0;
  if (!x || !given) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  while (rc == KV_OK && getline(&line, &cap, in) >= 0) {
    lineno++;
    char *p = line + strspn(line, " \t\r\n");
    if (!*p || *p == '#') {
      continue;
    }
    double mean, var;
    rc = parse_point(s, p, lineno, x, given);
    if (rc == KV_OK) {
      rc = kv_surrogate_predict(s, 1, x, &mean, &var);
    }
    if (rc == KV_OK) {
      int out = kv_surrogate_outside(s, 1, x, NULL);
      outside += out > 0;
      printf(out > 0 ? "%.10g %.10g outside\n" : "%.10g %.10g\n", mean, sqrt(var));
      fflush(stdout);
      points++;
    }
  }
  if (outside) {
    kv_warn("predict --stdin: %ld of %ld points lie outside the training box (marked 'outside'): "
            "the surrogate extrapolates there",
            outside, points);
  }
  free(line);
  free(x);
  free(given);
  return rc;
}

/* A warning naming how many points (and which input, for the first) lie outside the training
 * box: the surrogate extrapolates there and its error is not what validation measured. */
static void warn_outside(const kv_surrogate *s, const char *model, long m, const double *X) {
  int n = kv_surrogate_outside(s, m, X, NULL), d = kv_surrogate_ninputs(s);
  const double *box = kv_surrogate_box(s);
  for (long i = 0; n && i < m; i++) {
    for (int k = 0; k < d && kv_surrogate_outside(s, 1, X + i * d, NULL); k++) {
      double v = X[i * d + k];
      if (v < box[k] || v > box[d + k]) {
        kv_warn("predict: %d of %ld point%s outside the training box of %s (first: %s = %g, "
                "trained on %g..%g): the surrogate extrapolates; flagged 'outside' in the output",
                n, m, m == 1 ? "" : "s", model, kv_surrogate_input(s, k), v, box[k], box[d + k]);
        return;
      }
    }
  }
}

/* A field prediction that says what it is: the model's configuration with the inputs set to the
 * values predicted at (so that someone finding the file later reads those, not the training base
 * case), and root attributes naming the inputs, the model file and the training box. */
static int write_field(const kv_surrogate *s, const char *model, const kv_field_layout *L,
                       const double *X, const double *mean, const double *var, const char *output) {
  kv_config *cfg = NULL;
  char *text = NULL, at[2048] = "", box[8] = "no";
  const char *stored = kv_surrogate_config(s);
  int d = kv_surrogate_ninputs(s), rc = kv_config_parse_string(stored ? stored : "", model, &cfg);
  for (int k = 0; rc == KV_OK && k < d; k++) {
    char v[64];
    snprintf(v, sizeof v, "%.17g", X[k]);
    size_t len = strlen(at);
    snprintf(at + len, sizeof at - len, "%s%s = %s", k ? ", " : "", kv_surrogate_input(s, k), v);
    /* Inputs that are configuration keys (a sweep's varied keys) replace the base case's. */
    if (strchr(kv_surrogate_input(s, k), '.')) {
      rc = kv_config_set(cfg, kv_surrogate_input(s, k), v);
    }
  }
  if (rc == KV_OK) {
    rc = kv_config_to_text(cfg, &text);
  }
  if (kv_surrogate_outside(s, 1, X, NULL)) {
    snprintf(box, sizeof box, "yes");
  }
  kv_layout_meta meta = {
      NULL, 3, {"predicted_at", "source_model", "outside_training_box"}, {at, model, box}};
  if (rc == KV_OK) {
    rc = kv_layout_write_field(L, 1, NULL, mean, var, output, text, &meta);
  }
  free(text);
  kv_config_free(cfg);
  return rc;
}

static int predict_root(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *output = NULL;
  int stream = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--stdin") == 0) {
      stream = 1;
    } else if (strcmp(argv[i], "--input") == 0 || strcmp(argv[i], "--output") == 0) {
      if (i + 1 >= argc) {
        return KV_ERROR(KV_ERR_USAGE, "predict: %s expects a file", argv[i]);
      }
      if (argv[i][2] == 'i') {
        input = argv[++i];
      } else {
        output = argv[++i];
      }
    } else if (argv[i][0] == '-') {
      static const char *const known[] = {"--input", "--output", "--stdin", "--help", NULL};
      return kv_cli_unknown_option("predict", argv[i], known);
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
  if (stream) {
    if (L || input || output || (type->data & KV_DATA_SCENARIOS)) {
      rc = KV_ERROR(KV_ERR_USAGE,
                    "predict: --stdin goes with a scalar model, without --input "
                    "or --output (%s is a %s model)",
                    model, type->name);
    } else {
      rc = predict_stream(s, stdin);
    }
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
  double t0 = kv_comm_wtime();
  KV_TRY(kv_surrogate_predict(s, m, X, mean, var));
  kv_info("predicted %ld point%s with their std in %.4f s", m, m == 1 ? "" : "s",
          kv_comm_wtime() - t0);
  if (L) {
    if (!output) {
      rc = KV_ERROR(KV_ERR_USAGE, "predict: a %s model predicts a field: give --output FIELD.h5",
                    type->name);
      goto cleanup;
    }
    KV_TRY(write_field(s, model, L, X, mean, var, output));
    printf("wrote %s (%s and %s_std, %ld points)\n", output, L->var, L->var, no);
  } else if (output) {
    KV_TRY(write_csv(s, output, m, X, mean, var));
    printf("wrote %s (%ld predictions)\n", output, m);
  } else {
    printf(kv_surrogate_outside(s, 1, X, NULL) ? "%.10g %.10g outside\n" : "%.10g %.10g\n", mean[0],
           sqrt(var[0]));
  }
  warn_outside(s, model, m, X);
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
