/* kelvin — `kelvin fit`: the [surrogate] section, its training data read into a kv_dataset (a CSV
 * table, a sweep's cases, a scenario ensemble with its forcing, or a model's snapshots through
 * the ROM hooks), fitted by the kind's function table and written as a model file.
 */
#ifndef KV_FIT_H
#define KV_FIT_H

#include "io/config.h"
#include "io/dataset.h"
#include "surrogates/surrogate.h"

/* Validate cfg for fitting: [surrogate] (the common, data and its kind's keys), [validate], plus
 * [run], the model's section and [sweep] when present (recording defaults). Not collective. */
int kv_fit_validate(kv_config *cfg);

/* The training data's location: surrogate.data, else the [sweep] section's directory. */
int kv_fit_data_path(const kv_config *cfg, char *data, size_t n);

/* The model file: surrogate.model, else <data dir>/model_<kind>.h5 (data a directory). */
int kv_fit_model_path(const kv_config *cfg, const kv_surrogate_type *t, const char *data,
                      char *path, size_t n);

/* The training data of kind t as cfg describes them. max_members > 0 keeps only the first
 * members of each scenario (scenario kinds: the internal-variability study). *ds is the
 * caller's (kv_dataset_free). Not collective. */
int kv_fit_dataset(const kv_config *cfg, const kv_surrogate_type *t, int max_members,
                   kv_dataset *ds);

/* The global forcing of scenario for years year0 .. year0 + n - 1 of cfg's model (n x
 * KV_FORCING_COLS, row-major), through its global_forcing hook. Not collective. */
int kv_fit_scenario_forcing(const kv_config *cfg, const char *scenario, int year0, int n,
                            double *forcing);

/* Read the training data, fit, cross-validate (surrogate.cv_folds; the folds over comm's ranks)
 * and save to the model file (rank 0). A kind with fit_parallel (auto) fits on every rank; the
 * others on rank 0. *out (may be NULL) receives the model on the ranks that fitted it (NULL on
 * the others) and path its file name. Collective. */
int kv_fit(MPI_Comm comm, const kv_config *cfg, kv_surrogate **out, char *path, size_t n);

#endif
