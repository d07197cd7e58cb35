/* kelvin — `kelvin fit`: the [surrogate] section, training data from a CSV table or a sweep
 * directory (manifest + case files), and fitting of a GP (scalar QoI) or PCA + GPs (a field).
 */
#ifndef KV_FIT_H
#define KV_FIT_H

#include "io/config.h"
#include "io/h5.h"
#include "surrogates/rom.h"
#include "surrogates/surrogate.h"

/* The [surrogate] keys. */
extern const kv_config_key kv_surrogate_keys[];

/* Validate cfg for fitting ([surrogate], plus [run], the model's section and [sweep] when
 * present). Not collective. */
int kv_fit_validate(kv_config *cfg);

/* Read the training data, fit, save to surrogate.model; *out (may be NULL) receives the model
 * and *path its file name. Not collective (one process fits; BLAS threads do the rest). */
int kv_fit(const kv_config *cfg, kv_surrogate **out, char *path, size_t n);

/* surrogate.kind = pod: the ROM basis of a run's output file or of a sweep's done cases
 * (surrogate.data), written to surrogate.model (default <dir>/model_pod.h5). Not collective. */
int kv_fit_pod(const kv_config *cfg, char *path, size_t n, kv_rom_fit_info *info);

/* The layout of field var in a case file (axes, coordinates, units, final time). */
int kv_fit_field_layout(const char *file, const char *var, kv_field_layout *L);

/* A scalar QoI of a case file (a time series' final value, or VAR_max/_min/_mean of a field at
 * the final record). */
int kv_fit_case_qoi(const char *file, const char *qoi, double *out);

/* The final record of a (time, ...) field: *a holds the whole dataset, *npts the points of one
 * record (the last is at a->data + a->count - *npts). */
int kv_fit_last_record(const char *file, const char *var, kv_h5_array *a, long *npts);

#endif
