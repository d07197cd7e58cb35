#include "solvers/model.h"

#include <string.h>

#include "core/status.h"
#include "solvers/ebm/ebm.h"
#include "solvers/heat/heat.h"
#include "surrogates/rom.h"

static const kv_model_type *const g_types[] = {&kv_heat_type, &kv_ebm_type, &kv_rom_type, NULL};

const kv_model_type *kv_model_type_find(const char *name) {
  for (int i = 0; g_types[i]; i++) {
    if (strcmp(g_types[i]->name, name) == 0) {
      return g_types[i];
    }
  }
  return NULL;
}

const char *kv_model_names(void) { return "heat|ebm|rom"; }

int kv_model_key_tables(const kv_model_type *t, const kv_config *cfg,
                        const kv_config_key **tables) {
  tables[0] = t->keys;
  tables[1] = tables[2] = NULL;
  if (!t->wraps_key) return KV_OK;
  const char *inner = kv_config_value(cfg, t->wraps_key);
  if (!inner) {
    const kv_config_key *k = kv_config_key_find((const kv_config_key *const[]){t->keys, NULL},
                                                t->wraps_key);
    inner = k && k->def ? k->def : "";
  }
  const kv_model_type *it = kv_model_type_find(inner);
  if (!it || it->wraps_key) {
    return kv_config_errorf(cfg, t->wraps_key, "expected the name of a full model");
  }
  tables[1] = it->keys;
  return KV_OK;
}

int kv_model_create(const kv_model_type *type, MPI_Comm comm, const kv_config *cfg,
                    kv_model **out) {
  *out = NULL;
  return type->create(comm, cfg, out);
}

int kv_model_step(kv_model *m, double *t) { return m->type->step(m, t); }

int kv_model_outputs(kv_model *m, kv_output_list *out) {
  out->nfields = out->nscalars = out->has_time = 0;
  return m->type->outputs(m, out);
}

int kv_model_checkpoint(kv_model *m, kv_output_list *out) {
  if (!m->type->checkpoint) {
    return kv_model_outputs(m, out);
  }
  out->nfields = out->nscalars = out->has_time = 0;
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
