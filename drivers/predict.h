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

#endif
