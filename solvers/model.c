/* The model registry: the one place that lists the models (and so the one place outside a
 * model's own folder that names them). */
#include "solvers/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "solvers/ebm/ebm.h"
#include "solvers/external/external.h"
#include "solvers/heat/heat.h"
#include "solvers/rom/rom.h"

static const kv_model_type *const g_types[] = {&kv_heat_type, &kv_ebm_type, &kv_rom_type,
                                               &kv_external_type, NULL};

const char kv_model_default_name[] = "heat";
const char kv_model_choices[] = "heat|ebm|rom|external";
const char kv_model_reducible_choices[] = "heat|ebm";

const kv_config_key kv_model_run_keys[] = {
    {"run.model", KV_CFG_ENUM, kv_model_default_name, kv_model_choices, KV_CFG_NORANGE,
     "which solver (rom: the reduced-order model of [rom]; external: your own simulator, "
     "[external])"},
    {"run.output", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "output HDF5 file (directories are created)"},
    {"run.t_end", KV_CFG_DOUBLE, NULL, NULL, 0.0, INFINITY, "heat: end time (s)"},
    {"run.year_start", KV_CFG_INT, "1850", NULL, -1000000, 1000000,
     "ebm: first simulated calendar year (starts on 1 January)"},
    {"run.year_end", KV_CFG_INT, NULL, NULL, -1000000, 1000000,
     "ebm: last simulated calendar year (included)"},
    {"run.steps_per_year", KV_CFG_INT, "20", NULL, 1, 100000, "ebm: time steps per 365-day year"},
    {"run.dt", KV_CFG_DOUBLE, NULL, NULL, 0.0, INFINITY,
     "time step; unset: run.cfl times the stability limit; steps are equalised to end on t_end"},
    {"run.cfl", KV_CFG_DOUBLE, "0.9", NULL, 0.0, 1.0, "fraction of the explicit stability limit"},
    {"run.output_every", KV_CFG_INT, "100", NULL, 1, INFINITY,
     "write a record every this many steps (plus the initial and the final state)"},
    {"run.overwrite", KV_CFG_BOOL, "false", NULL, KV_CFG_NORANGE,
     "replace an existing output file"},
    {"run.checkpoint_every", KV_CFG_INT, "0", NULL, 0, INFINITY,
     "write the state to <output stem>.checkpoint.h5 every this many steps (0: never)"},
    {"run.compress", KV_CFG_INT, "0", NULL, 0, 9,
     "deflate level of the output's fields and series, with the shuffle filter (0: none)"},
    {"run.precision", KV_CFG_ENUM, "float64", "float64|float32", KV_CFG_NORANGE,
     "storage of the output's fields and series (computed in float64 either way)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

const kv_model_type *kv_model_type_find(const char *name) {
  for (int i = 0; name && g_types[i]; i++) {
    if (strcmp(g_types[i]->name, name) == 0) {
      return g_types[i];
    }
  }
  return NULL;
}

const kv_model_type *kv_model_type_at(int i) {
  int n = (int)(sizeof g_types / sizeof g_types[0]) - 1;
  return i >= 0 && i < n ? g_types[i] : NULL;
}

const char *kv_model_names(void) {
  return kv_model_choices;
}

int kv_model_type_of(const kv_config *cfg, const kv_model_type **out) {
  const char *name = kv_config_value(cfg, "run.model");
  *out = kv_model_type_find(name ? name : kv_model_default_name);
  if (!*out) {
    return kv_config_errorf(cfg, "run.model", "expected one of %s", kv_model_choices);
  }
  return KV_OK;
}

int kv_model_key_tables(const kv_model_type *t, const kv_config *cfg,
                        const kv_config_key **tables) {
  tables[0] = t->keys;
  tables[1] = tables[2] = NULL;
  if (!t->wraps_key) {
    return KV_OK;
  }
  const char *inner = kv_config_value(cfg, t->wraps_key);
  if (!inner) {
    const kv_config_key *k =
        kv_config_key_find((const kv_config_key *const[]){t->keys, NULL}, t->wraps_key);
    inner = k && k->def ? k->def : "";
  }
  const kv_model_type *it = kv_model_type_find(inner);
  if (!it || it->wraps_key) {
    return kv_config_errorf(cfg, t->wraps_key, "expected the name of a full model");
  }
  tables[1] = it->keys;
  return KV_OK;
}

int kv_model_config_validate(kv_config *cfg) {
  const kv_model_type *type;
  KV_CHECK(kv_model_type_of(cfg, &type));
  const kv_config_key *tables[4] = {kv_model_run_keys, NULL, NULL, NULL};
  KV_CHECK(kv_model_key_tables(type, cfg, tables + 1));
  KV_CHECK(kv_config_validate(cfg, tables));
  return type->check ? type->check(cfg) : KV_OK;
}

void kv_model_checkpoint_path(const char *output, char *buf, size_t n) {
  size_t len = strlen(output);
  int has_ext = len > 3 && strcmp(output + len - 3, ".h5") == 0;
  snprintf(buf, n, "%.*s.checkpoint.h5", (int)(has_ext ? len - 3 : len), output);
}

int kv_model_create(const kv_model_type *type, MPI_Comm comm, const kv_config *cfg,
                    kv_model **out) {
  *out = NULL;
  int rc = type->create(comm, cfg, out);
  if (rc == KV_ERR_NOMEM && type->size_keys) {
    /* The allocation that failed knows no key; the user needs the one to change. */
    rc = KV_ERROR(KV_ERR_NOMEM,
                  "%s: out of memory setting up the %s model (%s): use a smaller %s "
                  "or more ranks",
                  type->size_keys, type->name, kv_error_message(), type->size_keys);
  }
  return rc;
}

int kv_model_prepare(kv_model *m) {
  return m->type->prepare ? m->type->prepare(m) : KV_OK;
}

int kv_model_step(kv_model *m, double *t) {
  return m->type->step(m, t);
}

int kv_model_outputs(kv_model *m, kv_output_list *out) {
  out->nfields = out->nscalars = out->nvectors = out->has_time = 0;
  return m->type->outputs(m, out);
}

int kv_model_checkpoint(kv_model *m, kv_output_list *out) {
  if (!m->type->checkpoint) {
    return kv_model_outputs(m, out);
  }
  out->nfields = out->nscalars = out->nvectors = out->has_time = 0;
  return m->type->checkpoint(m, out);
}

int kv_model_info_get(const kv_model *m, kv_model_info *out) {
  memset(out, 0, sizeof *out);
  return m->type->info(m, out);
}

int kv_model_restart(kv_model *m, const char *path) {
  if (!m->type->restart) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "model %s cannot restart", m->type->name);
  }
  return m->type->restart(m, path);
}

void kv_model_free(kv_model *m) {
  if (m) {
    m->type->free(m);
  }
}
