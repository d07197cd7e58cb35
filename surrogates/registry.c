/* The surrogate registry: the one place that lists the kinds. Adding a kind: its file, its
 * table's extern below, one entry in g_kinds and its name in kv_surrogate_choices (the unit test
 * test_registry checks the two agree). */
#include <string.h>

#include "surrogates/surrogate.h"

extern const kv_surrogate_type kv_surrogate_gp;
extern const kv_surrogate_type kv_surrogate_pcagp;
extern const kv_surrogate_type kv_surrogate_pattern;
extern const kv_surrogate_type kv_surrogate_pod;
extern const kv_surrogate_type kv_surrogate_poly;
extern const kv_surrogate_type kv_surrogate_rbf;
extern const kv_surrogate_type kv_surrogate_spline;
extern const kv_surrogate_type kv_surrogate_moe;
extern const kv_surrogate_type kv_surrogate_auto;

static const kv_surrogate_type *const g_kinds[] = {&kv_surrogate_gp,      &kv_surrogate_pcagp,
                                                   &kv_surrogate_pattern, &kv_surrogate_pod,
                                                   &kv_surrogate_poly,    &kv_surrogate_rbf,
                                                   &kv_surrogate_spline,  &kv_surrogate_moe,
                                                   &kv_surrogate_auto,    NULL};

const char kv_surrogate_choices[] = "gp|pcagp|pattern|pod|poly|rbf|spline|moe|auto";

const kv_surrogate_type *kv_surrogate_type_find(const char *name) {
  for (int i = 0; name && g_kinds[i]; i++) {
    if (strcmp(g_kinds[i]->name, name) == 0) {
      return g_kinds[i];
    }
  }
  return NULL;
}

const kv_surrogate_type *kv_surrogate_type_at(int i) {
  int n = (int)(sizeof g_kinds / sizeof g_kinds[0]) - 1;
  return i >= 0 && i < n ? g_kinds[i] : NULL;
}
