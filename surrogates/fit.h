/* kelvin — `kelvin fit`: the [surrogate] section, training data from a CSV table or a sweep
 * directory (manifest + case files), and fitting of a GP (scalar QoI) or PCA + GPs (a field).
 */
#ifndef KV_FIT_H
#define KV_FIT_H

#include "io/config.h"
#include "surrogates/surrogate.h"

/* The [surrogate] keys. */
extern const kv_config_key kv_surrogate_keys[];

/* Validate cfg for fitting ([surrogate], plus [run], the model's section and [sweep] when
 * present). Not collective. */
int kv_fit_validate(kv_config *cfg);

/* Read the training data, fit, save to surrogate.model; *out (may be NULL) receives the model
 * and *path its file name. Not collective (one process fits; BLAS threads do the rest). */
int kv_fit(const kv_config *cfg, kv_surrogate **out, char *path, size_t n);

/* The layout of field var in a case file (axes, coordinates, units, final time). */
int kv_fit_field_layout(const char *file, const char *var, kv_field_layout *L);

#endif
