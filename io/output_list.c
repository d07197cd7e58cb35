/* kelvin — what a model hands the writer at an output step (see h5.h: kv_output_list). */
#include <string.h>

#include "core/status.h"
#include "io/h5.h"

/* ---------------------------------------------------------------- output lists */

int kv_output_add_vector(kv_output_list *l, const char *name, const char *units,
                         const char *long_name, const char *dim, int n, const double *v) {
  if (l->nvectors == KV_OUTPUT_VECTORS) {
    return KV_ERROR(KV_ERR_INVALID, "output list full (%d vectors)", KV_OUTPUT_VECTORS);
  }
  l->vectors[l->nvectors++] = (kv_output_vector){name, units, long_name, dim, n, v};
  return KV_OK;
}

int kv_output_describe(kv_output_list *l, const char *name, const char *standard_name,
                       const char *cell_methods) {
  for (int i = 0; i < l->nfields; i++) {
    if (!strcmp(l->fields[i].name, name)) {
      l->fields[i].standard_name = standard_name;
      l->fields[i].cell_methods = cell_methods;
      return KV_OK;
    }
  }
  for (int i = 0; i < l->nscalars; i++) {
    if (!strcmp(l->scalars[i].name, name)) {
      l->scalars[i].standard_name = standard_name;
      l->scalars[i].cell_methods = cell_methods;
      return KV_OK;
    }
  }
  return KV_ERROR(KV_ERR_INVALID, "output list: no variable %s", name);
}

int kv_output_add_field(kv_output_list *l, const char *name, const char *units,
                        const char *long_name, const kv_field *f) {
  if (l->nfields == KV_OUTPUT_MAX) {
    return KV_ERROR(KV_ERR_INVALID, "output list full (%d fields)", KV_OUTPUT_MAX);
  }
  l->fields[l->nfields++] = (kv_output_field){name, units, long_name, f, NULL, NULL};
  return KV_OK;
}

int kv_output_add_scalar(kv_output_list *l, const char *name, const char *units,
                         const char *long_name, double value) {
  if (l->nscalars == KV_OUTPUT_MAX) {
    return KV_ERROR(KV_ERR_INVALID, "output list full (%d scalars)", KV_OUTPUT_MAX);
  }
  l->scalars[l->nscalars++] = (kv_output_scalar){name, units, long_name, value, 0, NULL, NULL};
  return KV_OK;
}
