/* Unit tests of the two registries (solvers/model.c, surrogates/registry.c): the choices the key
 * tables offer are exactly the registered names (so a new model or kind cannot drift from its
 * enum), every entry fills the operations its interface requires, lookups round-trip, and the
 * configuration errors for an unknown model or kind name the key and list the choices. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "io/config.h"
#include "solvers/model.h"
#include "surrogates/surrogate.h"
#include "tests/unit/check.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  char names[512] = "", reducible[512] = "";
  int nmodels = 0, complete = 1;
  for (int i = 0; kv_model_type_at(i); i++, nmodels++) {
    const kv_model_type *t = kv_model_type_at(i);
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "|" : "", t->name);
    if (t->residual && t->stencil && t->residual_at && t->set_state && !t->wraps_key) {
      snprintf(reducible + strlen(reducible), sizeof reducible - strlen(reducible), "%s%s",
               reducible[0] ? "|" : "", t->name);
    }
    complete &= t->keys && t->create && t->step && t->state && t->outputs && t->info && t->free;
    complete &= kv_model_type_find(t->name) == t;
    /* A linear model is reduced exactly only with its linear part. */
    complete &= !t->linear_part || t->residual;
  }
  CHECK(strcmp(names, kv_model_choices) == 0,
        "run.model choices '%s' = the registered models "
        "'%s'",
        kv_model_choices, names);
  CHECK(strcmp(reducible, kv_model_reducible_choices) == 0,
        "rom.model choices '%s' = the models "
        "with ROM hooks '%s'",
        kv_model_reducible_choices, reducible);
  CHECK(nmodels >= 3 && complete,
        "%d models, each with keys and the required operations, found "
        "by name",
        nmodels);
  CHECK(kv_model_type_find(kv_model_default_name) != NULL && kv_model_type_find("nope") == NULL &&
            kv_model_type_at(-1) == NULL && kv_model_type_at(nmodels) == NULL,
        "the default model is registered; unknown names and indices give NULL");

  names[0] = '\0';
  int nkinds = 0;
  complete = 1;
  for (int i = 0; kv_surrogate_type_at(i); i++, nkinds++) {
    const kv_surrogate_type *t = kv_surrogate_type_at(i);
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "|" : "", t->name);
    complete &= t->summary && t->data && t->fit && t->save && t->load && t->describe && t->free;
    complete &= kv_surrogate_type_find(t->name) == t;
    complete &= !t->params_free || t->params_create;
  }
  CHECK(strcmp(names, kv_surrogate_choices) == 0,
        "surrogate.kind choices '%s' = the registered "
        "kinds '%s'",
        kv_surrogate_choices, names);
  CHECK(nkinds >= 4 && complete,
        "%d surrogate kinds, each with a summary, its data kind and the "
        "required operations",
        nkinds);

  /* Unknown names in a configuration: the key, its line and the choices. */
  kv_config *cfg = NULL;
  const kv_model_type *mt = NULL;
  int rc = kv_config_parse_string("[run]\nmodel = heta\n", "reg.ini", &cfg);
  if (rc == KV_OK) {
    rc = kv_model_type_of(cfg, &mt);
  }
  CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), "reg.ini:2") &&
            strstr(kv_error_message(), "run.model") && strstr(kv_error_message(), kv_model_choices),
        "an unknown run.model names file:line, key and the models (%s)", kv_error_message());
  kv_config_free(cfg);
  const kv_surrogate_type *st = NULL;
  rc = kv_config_parse_string("[surrogate]\nkind = krig\n", "reg.ini", &cfg);
  if (rc == KV_OK) {
    rc = kv_surrogate_type_of(cfg, &st);
  }
  CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), "surrogate.kind") &&
            strstr(kv_error_message(), kv_surrogate_choices),
        "an unknown surrogate.kind names the key and the kinds (%s)", kv_error_message());
  kv_config_free(cfg);
  MPI_Finalize();
  return kv_test_failed;
}
