/* kelvin — linear pattern scaling (surrogate.kind = pattern) of climate-model fields.
 *
 * Per grid point, y(x, t) = a(x) + b(x) g(t) [+ c(x) p(t) ...] by least squares over the years
 * of the training scenarios' ensemble means, where y is the anomaly from the control climate (the
 * 1850-1900 mean) and g its cos(lat)-weighted global mean; optional extra predictors are the
 * global CO2 and aerosol forcings. For a scenario the solver has not run, g comes from a
 * two-timescale impulse response to the scenario's global forcing, fitted by least squares to the
 * training global means (surrogate.global = response), or from the full solver's ensemble mean
 * smoothed by a 10-year running mean (true_smoothed, ClimateBench's baseline).
 *
 * The maps live in kv_surrogate: mean = control climate, modes = the coefficient maps (a, b, ...),
 * inputs = the predictor names; the response parameters in kv_surrogate.pattern.
 */
#ifndef KV_PATTERN_H
#define KV_PATTERN_H

#include "io/config.h"
#include "surrogates/surrogate.h"

/* Index of a predictor name (0 tas_global, 1 co2_forcing, 2 aerosol_forcing) or -1. */
int kv_pattern_predictor_id(const char *name);

/* Fit s (kind pattern, inputs = predictors) on the scenario ensemble in dir. Not collective. */
int kv_pattern_fit(const kv_config *cfg, const char *dir, kv_surrogate *s);

/* The same on the ensemble means of the first maxm members of each scenario (0: all); the
 * internal-variability study of kelvin validate. */
int kv_pattern_fit_members(const kv_config *cfg, const char *dir, kv_surrogate *s, int maxm);

/* The predictor values (n years from year0, n x ninputs) for scenario: the global mean from the
 * response model, or, for true_smoothed, from g_true (n full-solver global-mean anomalies). */
int kv_pattern_predictors(const kv_surrogate *s, const char *scenario, int year0, int n,
                          const double *g_true, double *X);

/* g for forcing anomalies F (n years). */
void kv_pattern_response(const kv_pattern_info *p, const double *F, int n, double *g);

/* Ensemble mean of var over files (nt x np each). *out malloc'd. */
int kv_pattern_ensemble_mean(char *const *files, int n, const char *var, long *nt, long *np,
                             double **out);

/* cos(lat) area weights of the model's field points (1 on a box grid). */
void kv_pattern_weights(const kv_surrogate *s, double *w);

#endif
