#include "drivers/fit.h"
#include "core/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "drivers/adapt.h"
#include "drivers/optimize.h"
#include "drivers/sensitivity.h"
#include "drivers/sweep.h"
#include "drivers/validate.h"
#include "io/h5.h"
#include "io/manifest.h"
#include "solvers/model.h"
#include "solvers/rom/rom.h"
#include "surrogates/cv.h"

int kv_fit_validate(kv_config *cfg) {
  const kv_config_key *tables[32];
  int t = 0;
  KV_CHECK(kv_surrogate_check_kind_keys(cfg));
  KV_CHECK(kv_surrogate_key_tables(cfg, tables));
  while (tables[t]) {
    t++;
  }
  tables[t++] = kv_validate_keys;
  tables[t++] = kv_sensitivity_keys;
  tables[t++] = kv_optimize_keys;
  tables[t++] = kv_adapt_keys;
  /* The sweep's configuration may carry the surrogate too: then its sections are checked. */
  if (kv_config_has(cfg, "run.model") || kv_config_has(cfg, "sweep.method")) {
    const kv_model_type *type;
    KV_CHECK(kv_model_type_of(cfg, &type));
    tables[t++] = kv_model_run_keys;
    KV_CHECK(kv_model_key_tables(type, cfg, tables + t));
    t += tables[t + 1] ? 2 : 1;
    tables[t++] = kv_sweep_keys;
  }
  tables[t] = NULL;
  KV_CHECK(kv_config_validate(cfg, tables));
  if (!kv_config_has(cfg, "surrogate.kind")) {
    return kv_config_errorf(cfg, "surrogate.kind", "kelvin fit needs [surrogate] kind = %s",
                            kv_surrogate_choices);
  }
  return KV_OK;
}

int kv_fit_data_path(const kv_config *cfg, char *data, size_t n) {
  const char *v = kv_config_value(cfg, "surrogate.data");
  if (v) {
    snprintf(data, n, "%s", v);
  } else if (kv_config_has(cfg, "sweep.method")) {
    kv_sweep *sw = NULL;
    KV_CHECK(kv_sweep_create(cfg, &sw));
    snprintf(data, n, "%s", kv_sweep_dir(sw));
    kv_sweep_free(sw);
  } else {
    return kv_config_errorf(cfg, "surrogate.data",
                            "expected the training data: a CSV file, a "
                            "sweep directory or a run's output file");
  }
  return KV_OK;
}

int kv_fit_model_path(const kv_config *cfg, const kv_surrogate_type *t, const char *data,
                      char *path, size_t n) {
  const char *v = kv_config_value(cfg, "surrogate.model");
  if (v) {
    snprintf(path, n, "%s", v);
  } else if (!strcmp(data, "files")) {
    return kv_config_errorf(cfg, "surrogate.model",
                            "expected the model file to write (surrogate.data = files)");
  } else if (!kv_dataset_is_csv(data) && !kv_dataset_is_h5(data)) {
    snprintf(path, n, "%s/model_%s.h5", data, t->name);
  } else {
    return kv_config_errorf(cfg, "surrogate.model", "expected the model file to write");
  }
  return KV_OK;
}

/* The data layer names the key an error is about ("surrogate.inputs: ..."): such an error becomes
 * a configuration error naming the file and line of the key. Others pass unchanged. */
static int keyed(const kv_config *cfg, const char *key, int rc) {
  size_t kl = strlen(key);
  const char *msg = kv_error_message();
  if (rc != KV_ERR_CONFIG || strncmp(msg, key, kl) != 0 || strncmp(msg + kl, ": ", 2) != 0) {
    return rc;
  }
  char why[1024];
  snprintf(why, sizeof why, "%s", msg + kl + 2);
  return kv_config_errorf(cfg, key, "%s", why);
}

/* The field a surrogate learns when surrogate.field is not given: the state variable of the model
 * that wrote the case file (its root attribute "model"). */
static int default_field(const char *file, char *var, size_t n) {
  char model[64];
  KV_CHECK(kv_h5_read_root_text(file, "model", model, sizeof model));
  const kv_model_type *t = kv_model_type_find(model);
  if (!t || !t->state_var) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "surrogate.field: '%s' is an output of model '%s', whose state "
                    "variable kelvin does not know: name the field",
                    file, model);
  }
  snprintf(var, n, "%s", t->state_var);
  return KV_OK;
}

/* The QoI of a scalar fit on a sweep without surrogate.qoi: the sweep's one response (the
 * manifest's columns between output and error), else an error listing them. */
static int default_qoi(const kv_config *cfg, const kv_surrogate_type *t, const char *dir, char *qoi,
                       size_t n) {
  char path[4200], list[1024] = "";
  kv_manifest_table mt;
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  int count = 0;
  if (kv_manifest_load(path, &mt) == KV_OK) {
    for (int c = mt.ioutput + 1; c < mt.ierror; c++) {
      size_t l = strlen(list);
      snprintf(list + l, sizeof list - l, "%s%s", count++ ? ", " : "", mt.cols[c]);
      snprintf(qoi, n, "%s", mt.cols[c]);
    }
    kv_manifest_table_free(&mt);
  }
  if (count == 1) {
    return KV_OK;
  }
  qoi[0] = '\0';
  return kv_config_errorf(
      cfg, "surrogate.qoi", "a %s on sweep data needs the quantity of interest: %s%s", t->name,
      count ? "one of the sweep's responses " : "e.g. T_mean, T_max", count ? list : "");
}

int kv_fit_scenario_forcing(const kv_config *cfg, const char *scenario, int year0, int n,
                            double *forcing) {
  const kv_model_type *type;
  KV_CHECK(kv_model_type_of(cfg, &type));
  if (!type->global_forcing || !type->scenario_key) {
    return kv_config_errorf(cfg, "run.model",
                            "a scenario surrogate emulates a model with "
                            "scenario forcing (model %s has none)",
                            type->name);
  }
  double *f = malloc((3 * (size_t)n + 1) * sizeof *f);
  if (!f) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = type->global_forcing(cfg, scenario, year0, n, f, f + n, f + 2 * n);
  for (int t = 0; rc == KV_OK && t < n; t++) {
    forcing[(size_t)t * KV_FORCING_COLS + KV_FORCING_TOTAL] = f[t];
    forcing[(size_t)t * KV_FORCING_COLS + KV_FORCING_CO2] = f[n + t];
    forcing[(size_t)t * KV_FORCING_COLS + KV_FORCING_AEROSOL] = f[2 * n + t];
  }
  free(f);
  return rc;
}

static int scenario_data(const kv_config *cfg, const kv_dataset_params *p, int max_members,
                         kv_dataset *ds) {
  const kv_model_type *type;
  KV_CHECK(kv_model_type_of(cfg, &type));
  if (!type->scenario_key || !type->global_forcing) {
    return kv_config_errorf(cfg, "surrogate.kind",
                            "a scenario surrogate emulates a model with "
                            "scenario forcing from a scenario ensemble (run.model = %s has none)",
                            type->name);
  }
  if (!p->scenarios[0]) {
    return kv_config_errorf(cfg, "surrogate.train_scenarios",
                            "expected the scenarios to train "
                            "on (e.g. ssp126, ssp370, ssp585)");
  }
  long year0;
  KV_CHECK(kv_config_get_int(cfg, "run.year_start", -1000000, 1000000, &year0));
  KV_CHECK(kv_dataset_read_scenarios(p->data, type->scenario_key, p->scenarios, max_members,
                                     p->field[0] ? p->field : type->state_var, (int)year0, ds));
  for (int s = 0; s < ds->ngroups; s++) {
    KV_CHECK(kv_fit_scenario_forcing(cfg, ds->groups[s], (int)year0, (int)ds->nt,
                                     ds->forcing + (size_t)s * ds->nt * KV_FORCING_COLS));
  }
  return KV_OK;
}

/* A ROM basis: the snapshots of a run file or of a sweep's done cases, through the model's ROM
 * hooks (solvers/rom). */
static int snapshot_data(const kv_dataset_params *p, kv_dataset *ds) {
  kv_dataset cases = {0};
  char *one = (char *)p->data;
  char *const *files = &one;
  long nfiles = 1;
  if (!kv_dataset_is_h5(p->data)) {
    KV_CHECK(kv_dataset_read_sweep(p, p->data, 0, &cases));
    files = cases.files;
    nfiles = cases.n;
  }
  kv_rom_snapshots sn;
  int rc = kv_rom_snapshots_collect(files, nfiles, p->snapshot_every, &sn);
  kv_dataset_free(&cases);
  KV_CHECK(rc);
  memset(ds, 0, sizeof *ds);
  ds->kind = KV_DATA_SNAPSHOTS;
  snprintf(ds->source, sizeof ds->source, "%s", p->data);
  snprintf(ds->model, sizeof ds->model, "%s", sn.model);
  ds->ndims = sn.ndims;
  memcpy(ds->gn, sn.n, sizeof ds->gn);
  ds->N = sn.N;
  ds->m = sn.m;
  ds->mf = sn.mf;
  ds->runs = sn.runs;
  ds->linear = sn.linear;
  /* The arrays change hands. */
  ds->S = sn.S;
  ds->F = sn.F;
  ds->uref = sn.uref;
  return KV_OK;
}

/* Fields of files kelvin did not write, with their inputs from a table (field kinds), or a
 * ClimateBench-style scenario set (scenario kinds). */
static int files_data(const kv_config *cfg, const kv_surrogate_type *t, const kv_dataset_params *p,
                      int max_members, kv_dataset *ds) {
  if (!p->files[0]) {
    return kv_config_errorf(cfg, "surrogate.files",
                            "surrogate.data = files needs the files (glob patterns, or for a "
                            "scenario kind the directory of the set)");
  }
  if (!p->field[0]) {
    return kv_config_errorf(cfg, "surrogate.field", "expected the variable to learn (e.g. tas)");
  }
  if (t->data & KV_DATA_SCENARIOS) {
    return keyed(cfg, "surrogate.files",
                 kv_dataset_read_climatebench(p->files, p->scenarios, max_members, p->field, ds));
  }
  if (!(t->data & KV_DATA_FIELD)) {
    return kv_config_errorf(cfg, "surrogate.data",
                            "files hold fields: %s learns scalars (give a table)", t->name);
  }
  if (!p->inputs_table[0]) {
    return kv_config_errorf(cfg, "surrogate.inputs_table",
                            "expected the table of the files' inputs (one row per file)");
  }
  return keyed(cfg, "surrogate.inputs",
               keyed(cfg, "surrogate.files",
                     kv_dataset_read_files(p->files, p->inputs_table,
                                           p->inputs[0] ? p->inputs : NULL, p->field, ds)));
}

int kv_fit_dataset(const kv_config *cfg, const kv_surrogate_type *t, int max_members,
                   kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  kv_dataset_params p;
  KV_CHECK(kv_dataset_params_from_config(cfg, &p));
  if (!p.data[0]) {
    KV_CHECK(kv_fit_data_path(cfg, p.data, sizeof p.data));
  }
  int csv = kv_dataset_is_csv(p.data), rc = KV_OK;
  if (t->data & KV_DATA_SNAPSHOTS) {
    return keyed(cfg, "surrogate.data", snapshot_data(&p, ds));
  }
  if (!strcmp(p.data, "files")) {
    return files_data(cfg, t, &p, max_members, ds);
  }
  if (t->data & KV_DATA_SCENARIOS) {
    return keyed(cfg, "surrogate.data", scenario_data(cfg, &p, max_members, ds));
  }
  if (csv) {
    if (!(t->data & KV_DATA_SCALAR)) {
      return kv_config_errorf(cfg, "surrogate.data",
                              "%s trains on fields: give a sweep "
                              "directory",
                              t->name);
    }
    if (!p.inputs[0]) {
      return kv_config_errorf(cfg, "surrogate.inputs", "CSV data needs the input column names");
    }
    if (!p.output[0]) {
      return kv_config_errorf(cfg, "surrogate.output", "CSV data needs the output column name");
    }
    return keyed(cfg, "surrogate.inputs", kv_dataset_read_csv(&p, ds));
  }
  rc = kv_dataset_read_sweep(&p, p.data, 1, ds);
  if (rc != KV_OK) {
    return keyed(cfg, "surrogate.data", keyed(cfg, "surrogate.inputs", rc));
  }
  if (t->data & KV_DATA_SCALAR) {
    if (!p.qoi[0]) {
      KV_CHECK(default_qoi(cfg, t, p.data, p.qoi, sizeof p.qoi));
    }
    return kv_dataset_read_qoi(ds, p.qoi);
  }
  if (!p.field[0]) {
    rc = default_field(ds->files[0], p.field, sizeof p.field);
    if (rc != KV_OK) {
      return keyed(cfg, "surrogate.field", rc);
    }
  }
  return kv_dataset_read_fields(ds, p.field);
}

/* Cross-validate the fitted s (kinds that predict from inputs, on scalar or field data) and keep
 * the scores with it; a selection (auto) brings its winner's scores. Collective. */
static int cross_validate(MPI_Comm comm, const kv_config *cfg, const kv_surrogate_type *t,
                          const void *params, const kv_dataset *ds, kv_surrogate *s, int have) {
  kv_cv_params cp;
  KV_CHECK(kv_cv_params_from_config(cfg, &cp));
  int flags = have ? (kv_surrogate_cv(s) != NULL) : 0;
  kv_comm_bcast(&flags, 1, MPI_INT, 0, comm);
  if (cp.folds == 0 || flags || !t->predict || !(ds->kind & (KV_DATA_SCALAR | KV_DATA_FIELD))) {
    return KV_OK;
  }
  if (cp.folds > ds->n) {
    return kv_config_errorf(cfg, "surrogate.cv_folds",
                            "%d folds of %ld points: at most one fold "
                            "per point (or loo)",
                            cp.folds, ds->n);
  }
  kv_info("cross-validating %s (%s)", t->name, cp.folds == KV_CV_LOO ? "leave-one-out" : "k-fold");
  kv_cv_scores sc;
  int rc = kv_cv_run(comm, t, params, ds, &cp, have ? s : NULL, &sc);
  if (rc == KV_OK && have) {
    kv_surrogate_set_cv(s, &sc);
  }
  return rc;
}

/* A kind's refusal of its own setting ("surrogate.degree: ...") as a configuration error naming
 * the file and line of the key. */
static int keyed_any(const kv_config *cfg, int rc) {
  const char *msg = kv_error_message();
  char key[128];
  int len = 0;
  if (rc == KV_ERR_CONFIG && sscanf(msg, "%127[a-z_.]%n", key, &len) == 1 &&
      strncmp(msg + len, ": ", 2) == 0 && strncmp(key, "surrogate.", 10) == 0 &&
      kv_config_has(cfg, key)) {
    return keyed(cfg, key, rc);
  }
  return rc;
}

int kv_fit(MPI_Comm comm, const kv_config *cfg, kv_surrogate **out, char *model_path, size_t mpn) {
  if (out) {
    *out = NULL;
  }
  int rank;
  rank = kv_comm_rank(comm);
  const kv_surrogate_type *t;
  KV_CHECK(kv_surrogate_type_of(cfg, &t));
  char data[4096];
  KV_CHECK(kv_fit_data_path(cfg, data, sizeof data));
  KV_CHECK(kv_fit_model_path(cfg, t, data, model_path, mpn));
  void *params = NULL;
  KV_CHECK(kv_surrogate_params_create(t, cfg, &params));
  kv_dataset ds;
  kv_surrogate *s = NULL;
  char *text = NULL;
  int rc = kv_fit_dataset(cfg, t, 0, &ds);
  if (rc == KV_OK) {
    rc = kv_config_to_text(cfg, &text);
  }
  /* A kind that shares its work fits on every rank; the others on rank 0 while the rest wait. */
  int have = t->fit_parallel || rank == 0;
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && t->fit_parallel) {
    rc = kv_surrogate_fit_comm(comm, t, &ds, params, text, &s);
  } else if (rc == KV_OK && have) {
    rc = kv_surrogate_fit(t, &ds, params, text, &s);
  }
  rc = keyed_any(cfg, rc);
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    rc = cross_validate(comm, cfg, t, params, &ds, s, have);
  }
  if (rc == KV_OK && rank == 0) {
    rc = kv_surrogate_save(s, model_path);
  }
  rc = kv_status_agree(comm, rc);
  free(text);
  kv_dataset_free(&ds);
  kv_surrogate_params_free(t, params);
  if (rc != KV_OK || !out) {
    kv_surrogate_free(s);
  } else {
    *out = s;
  }
  return rc;
}
