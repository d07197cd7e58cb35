#include "drivers/predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "drivers/fit.h"
#include "io/dataset.h"
#include "io/layout.h"

static int stored_config(const kv_surrogate *s, kv_config **cfg) {
  const char *text = kv_surrogate_config(s);
  return kv_config_parse_string(text ? text : "", "model file", cfg);
}

int kv_predict_scenario_years(const kv_surrogate *s, long *y0, long *y1) {
  kv_config *cfg = NULL;
  KV_CHECK(stored_config(s, &cfg));
  int rc = kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, y0);
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "run.year_end", -1000000, 1000000, y1);
  }
  kv_config_free(cfg);
  return rc;
}

int kv_predict_scenario(const kv_surrogate *s, const char *scenario, long y0, long y1,
                        const char *output) {
  const kv_field_layout *L = kv_surrogate_layout(s);
  long t0, t1, n = y1 - y0 + 1, np = kv_surrogate_noutputs(s);
  if (!L || n < 1) {
    return KV_ERROR(KV_ERR_USAGE, "predict: a scenario surrogate and a year range are needed");
  }
  KV_CHECK(kv_predict_scenario_years(s, &t0, &t1));
  kv_config *cfg = NULL;
  KV_CHECK(stored_config(s, &cfg));
  double *f = malloc(((size_t)n * KV_FORCING_COLS + 1) * sizeof *f);
  double *X = malloc(((size_t)n * KV_SCENARIO_COLS + 1) * sizeof *X);
  double *mean = malloc(((size_t)n * (size_t)np + 1) * sizeof *mean);
  double *times = malloc(((size_t)n + 1) * sizeof *times);
  int rc = f && X && mean && times ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    rc = kv_fit_scenario_forcing(cfg, scenario, (int)y0, (int)n, f);
  }
  for (long t = 0; rc == KV_OK && t < n; t++) {
    for (int c = 0; c < KV_FORCING_COLS; c++) {
      X[t * KV_SCENARIO_COLS + c] = f[t * KV_FORCING_COLS + c];
    }
    X[t * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE] = NAN;
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_predict(s, n, X, mean, NULL);
  }
  /* Mid-year stamps on the training runs' noleap axis (365 days a year). */
  for (long t = 0; rc == KV_OK && t < n; t++) {
    times[t] = L->time + 365.0 * (double)(y0 + t - t1);
  }
  /* What is predicted is an anomaly, not a temperature: say so, and from what. */
  char lname[400], ref[64], at[1200];
  snprintf(lname, sizeof lname, "%s anomaly from the control climate (%d-%d mean)", L->long_name,
           KV_CONTROL_YEAR_FIRST, KV_CONTROL_YEAR_LAST);
  snprintf(ref, sizeof ref, "%d-%d", KV_CONTROL_YEAR_FIRST, KV_CONTROL_YEAR_LAST);
  snprintf(at, sizeof at, "scenario %s, years %ld-%ld", scenario, y0, y1);
  kv_layout_meta meta = {
      lname, 3, {"reference_period", "predicted_at", "quantity"}, {ref, at, "anomaly"}};
  if (rc == KV_OK) {
    rc = kv_layout_write_field(L, n, times, mean, NULL, output, kv_surrogate_config(s), &meta);
  }
  free(f);
  free(X);
  free(mean);
  free(times);
  kv_config_free(cfg);
  return rc;
}

int kv_predict_set_dir(const kv_surrogate *s, char *dir, size_t n) {
  kv_config *cfg = NULL;
  dir[0] = '\0';
  if (stored_config(s, &cfg) != KV_OK) {
    kv_error_clear();
    return 0;
  }
  const char *d = kv_config_value(cfg, "surrogate.data"),
             *f = kv_config_value(cfg, "surrogate.files");
  int set = d && f && !strcmp(d, "files");
  if (set) {
    snprintf(dir, n, "%s", f);
  }
  kv_config_free(cfg);
  return set;
}

int kv_predict_scenario_set(const kv_surrogate *s, const char *dir, const char *scenario,
                            const char *output) {
  const kv_field_layout *L = kv_surrogate_layout(s);
  if (!L) {
    return KV_ERROR(KV_ERR_USAGE, "predict: %s is not a scenario surrogate", kv_surrogate_kind(s));
  }
  kv_dataset ds;
  KV_CHECK(kv_dataset_read_climatebench(dir, scenario, 0, L->var, &ds));
  long n = ds.nt, np = kv_surrogate_noutputs(s);
  double *X = malloc(((size_t)n * KV_SCENARIO_COLS + 1) * sizeof *X);
  double *mean = malloc(((size_t)n * (size_t)np + 1) * sizeof *mean);
  double *times = malloc(((size_t)n + 1) * sizeof *times);
  int rc = X && mean && times ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK && ds.npts != np) {
    rc =
        KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld points, the model %ld", dir, L->var, ds.npts, np);
  }
  for (long t = 0; rc == KV_OK && t < n; t++) {
    for (int c = 0; c < KV_FORCING_COLS; c++) {
      X[t * KV_SCENARIO_COLS + c] = ds.forcing[(size_t)t * KV_FORCING_COLS + (size_t)c];
    }
    X[t * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE] = NAN;
  }
  if (rc == KV_OK) {
    rc = kv_surrogate_predict(s, n, X, mean, NULL);
  }
  /* Mid-year stamps: "days since Y-..." on a 365-day calendar, else the year itself. */
  int ref = 0, days = sscanf(L->time_units, "days since %d", &ref) == 1;
  for (long t = 0; rc == KV_OK && t < n; t++) {
    long year = ds.year0 + t;
    times[t] = days ? 365.0 * (double)(year - ref) + 182.5 : (double)year;
  }
  char lname[400], at[1400];
  snprintf(lname, sizeof lname, "%s anomaly from the control climate (%d-%d mean)", L->long_name,
           KV_CONTROL_YEAR_FIRST, KV_CONTROL_YEAR_LAST);
  snprintf(at, sizeof at, "scenario %s of %s, years %d-%ld", scenario, dir, ds.year0,
           ds.year0 + n - 1);
  kv_layout_meta meta = {lname, 2, {"predicted_at", "quantity"}, {at, "anomaly"}};
  if (rc == KV_OK) {
    rc = kv_layout_write_field(L, n, times, mean, NULL, output, kv_surrogate_config(s), &meta);
  }
  free(X);
  free(mean);
  free(times);
  kv_dataset_free(&ds);
  return rc;
}
