/* kelvin — predictions that need more than a model file: a scenario surrogate's field for every
 * year of a scenario, its inputs being the scenario's forcing from the emulated model. */
#ifndef KV_PREDICT_H
#define KV_PREDICT_H

#include "surrogates/surrogate.h"

/* The years the scenario surrogate s was trained on (run.year_start .. run.year_end of its
 * configuration). */
int kv_predict_scenario_years(const kv_surrogate *s, long *y0, long *y1);

/* Predict scenario (a name or a CSV path, as the model's scenario key takes) for years y0..y1
 * and write the fields (anomalies) as a field file at output, one record per year stamped on the
 * training runs' time axis. Not collective. */
int kv_predict_scenario(const kv_surrogate *s, const char *scenario, long y0, long y1,
                        const char *output);

/* Whether scenario surrogate s was fitted on a set of files (surrogate.data = files): 1 with the
 * set's directory (surrogate.files) in dir, else 0. */
int kv_predict_set_dir(const kv_surrogate *s, char *dir, size_t n);

/* Predict scenario `scenario` of the ClimateBench-style set in dir (its inputs file's forcing,
 * continued from historical as at the fit) for all its years, and write the anomalies as a field
 * file at output, one record per year (mid-year stamps in the set's time units). Not
 * collective. */
int kv_predict_scenario_set(const kv_surrogate *s, const char *dir, const char *scenario,
                            const char *output);

#endif
