/* kelvin validate: validation.md, the PNG maps, and the common parts of validation.h5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "drivers/validate_impl.h"
#include "io/plot.h"
#include "io/textfile.h"

static int lower_bound(int m) {
  return m == KV_M_R2 || m == KV_M_COVERAGE95 || m == KV_M_SPEEDUP;
}

void kv_validation_print(const kv_validation *v, void *stream) {
  FILE *f = stream;
  fprintf(f, "| metric | value | tolerance |\n|---|---|---|\n");
  for (int m = 0; m < KV_M_COUNT; m++) {
    if (!v->have[m]) {
      continue;
    }
    char t[64] = "-";
    if (v->has_tol[m]) {
      snprintf(t, sizeof t, "%s %.4g: %s", lower_bound(m) ? ">=" : "<=", v->tol[m],
               v->failed[m] ? "**FAILED**" : "ok");
    }
    fprintf(f, "| %s | %.6g | %s |\n", kv_metric_names[m], v->value[m], t);
  }
}

int kv_validate_write_report(const kv_validation *v, const char *what, const char *maps) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/validation.md", v->dir);
  FILE *f =
      kv_textfile_begin(path, "# kelvin validation", "the validation report", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fprintf(f, "# kelvin validation\n\n%s\n\n%ld held-out case%s. ", what, v->ncases,
          v->ncases == 1 ? "" : "s");
  if (v->have[KV_M_SPEEDUP]) {
    fprintf(f, "The surrogate is %.3g times faster than the full solver per case.",
            v->value[KV_M_SPEEDUP]);
  }
  fprintf(f, "\n\n");
  kv_validation_print(v, f);
  fprintf(f, "\n%s\n", v->nfailed ? "**Some tolerances are exceeded.**" : "Every tolerance holds.");
  if (v->have[KV_M_COVERAGE95]) {
    /* How honest the uncertainty is: with a handful of cases a few points either way are noise,
     * but a 95 % interval that holds the truth far less (or always) says the variance is off. */
    double c = v->value[KV_M_COVERAGE95];
    fprintf(f, "\nUncertainty: the 95 %% intervals hold %.1f %% of the held-out truths; %s\n",
            100.0 * c,
            c < 0.8     ? "**the surrogate is overconfident** (its variances are too small: do not "
                          "trust its error bars; more training cases or another kind may help)."
            : c > 0.995 ? "the intervals are wider than they need to be (conservative)."
                        : "the reported uncertainty is about right.");
  }
  if (maps && maps[0]) {
    fprintf(f, "\n%s", maps);
  }
  fprintf(f, "\nData: `validation.h5`, a CF netCDF-4 file (`xarray.open_dataset`): `<var>_truth`, "
             "`<var>_prediction`, `<var>_std` over (case, ...), the inputs as coordinates of "
             "`case`, each metric a variable with units.\n");
  return kv_textfile_commit(f, tmp, path);
}

/* Maps of truth, prediction and error (nx x ny each). */
int kv_validate_write_maps(const kv_validation *v, const kv_field_layout *L, const double *truth,
                           const double *pred, long np, const char *label, char *md, size_t mdn) {
  if (L->ndims < 2) {
    md[0] = '\0';
    return KV_OK;
  }
  long nx = L->n[0], ny = L->n[1];
  double *err = malloc((size_t)np * sizeof *err);
  if (!err) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (long p = 0; p < np; p++) {
    err[p] = pred[p] - truth[p];
  }
  const char *names[3] = {"truth", "prediction", "error"};
  const double *data[3] = {truth, pred, err};
  int rc = KV_OK;
  size_t len = 0;
  md[0] = '\0';
  for (int k = 0; k < 3 && rc == KV_OK; k++) {
    char path[4200], title[256];
    snprintf(path, sizeof path, "%s/validation_%s.png", v->dir, names[k]);
    snprintf(title, sizeof title, "%s: %s", names[k], label);
    kv_plot_opts o = {
        800,   480, title, L->units, L->axis_long[0][0] ? L->axis_name[0] : "x", L->axis_name[1],
        k == 2};
    rc = kv_plot_map(data[k], nx, ny, L->coord[0], L->coord[1], &o, path);
    len += (size_t)snprintf(md + len, mdn - len, "![%s](validation_%s.png)\n", names[k], names[k]);
  }
  free(err);
  return rc;
}

int kv_validate_store_coords(kv_h5_store *h, const kv_field_layout *L, long ncases,
                             const char *case_long_name) {
  KV_CHECK(kv_h5_store_coord(h, "/case", ncases, NULL, NULL, NULL, case_long_name));
  for (int k = 0; L && k < L->ndims; k++) {
    char name[64];
    snprintf(name, sizeof name, "/%s", L->axis_name[k]);
    KV_CHECK(kv_h5_store_coord(h, name, L->n[k], L->coord[k], L->axis_units[k], L->axis_std[k],
                               L->axis_long[k]));
    if (L->axis_letter[k][0]) {
      KV_CHECK(kv_h5_store_put_text(h, name, "axis", L->axis_letter[k]));
    }
  }
  return KV_OK;
}

int kv_validate_store_var(kv_h5_store *h, const char *name, long ncases, const kv_field_layout *L,
                          const char *lead, long nlead, const double *v, const char *units,
                          const char *long_name, const char *coordinates) {
  long dims[5] = {ncases};
  const char *names[5] = {"case"};
  int r = 1;
  if (lead) {
    names[r] = lead;
    dims[r++] = nlead;
  }
  for (int k = L ? L->ndims - 1 : -1; k >= 0; k--) { /* row-major: the last axis is x / lon */
    names[r] = L->axis_name[k];
    dims[r++] = L->n[k];
  }
  KV_CHECK(kv_h5_store_put_dims(h, name, r, dims, v, names));
  if (units && *units) {
    KV_CHECK(kv_h5_store_put_text(h, name, "units", units));
  }
  if (long_name && *long_name) {
    KV_CHECK(kv_h5_store_put_text(h, name, "long_name", long_name));
  }
  if (coordinates && *coordinates) {
    KV_CHECK(kv_h5_store_put_text(h, name, "coordinates", coordinates));
  }
  return KV_OK;
}

int kv_validate_store_metrics(kv_h5_store *h, const kv_validation *v, const char *units) {
  /* The relative metrics are numbers; the others are in the output's units; speed-up a ratio. */
  static const char *const what[KV_M_COUNT] = {
      [KV_M_RMSE] = "root-mean-square error",
      [KV_M_MAE] = "mean absolute error",
      [KV_M_MAX_ABS] = "largest absolute error",
      [KV_M_REL_L2] = "relative L2 error",
      [KV_M_R2] = "coefficient of determination",
      [KV_M_NRMSE_SPATIAL] = "ClimateBench spatial NRMSE",
      [KV_M_NRMSE_GLOBAL] = "ClimateBench global NRMSE",
      [KV_M_NRMSE_TOTAL] = "ClimateBench total NRMSE",
      [KV_M_COVERAGE95] = "fraction of held-out values inside the 95 % interval",
      [KV_M_MSLL] = "mean standardised log loss",
      [KV_M_SPEEDUP] = "surrogate speed-up over the full solver",
  };
  double one = 0.0;
  long n1 = 1;
  KV_CHECK(kv_h5_store_put(h, "/metrics", 0, &n1, &one));
  KV_CHECK(kv_h5_store_put_text(h, "/metrics", "long_name",
                                "validation metrics (one attribute each; mean over cases; also "
                                "root variables with units)"));
  for (int m = 0; m < KV_M_COUNT; m++) {
    if (!v->have[m]) {
      continue;
    }
    char name[64];
    int absolute = m == KV_M_RMSE || m == KV_M_MAE || m == KV_M_MAX_ABS;
    snprintf(name, sizeof name, "/%s", kv_metric_names[m]);
    KV_CHECK(kv_h5_store_put_number(h, "/metrics", kv_metric_names[m], v->value[m]));
    KV_CHECK(kv_h5_store_put_dims(h, name, 0, NULL, &v->value[m], NULL));
    KV_CHECK(kv_h5_store_put_text(h, name, "units", absolute && units && *units ? units : "1"));
    KV_CHECK(kv_h5_store_put_text(h, name, "long_name", what[m] ? what[m] : kv_metric_names[m]));
  }
  return KV_OK;
}

int kv_validate_append_maps(const kv_validation *v, const kv_field_layout *L, const double *truth,
                            const double *pred, long np, const char *label, char *what,
                            size_t whn) {
  char md[1024];
  KV_CHECK(kv_validate_write_maps(v, L, truth, pred, np, label, md, sizeof md));
  strncat(what, "\n\n", whn - strlen(what) - 1);
  strncat(what, md, whn - strlen(what) - 1);
  return KV_OK;
}
