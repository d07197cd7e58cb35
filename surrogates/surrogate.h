/* kelvin — surrogate models as `kelvin fit` makes them and `kelvin predict` uses them: a GP on a
 * scalar (kind gp), or PCA + one GP per retained mode on a whole field (kind pcagp), with the
 * names of their inputs, saved to and loaded from an HDF5 model file.
 *
 * Model file: root attributes title, kelvin_version, kind, inputs (comma-separated), output,
 * config (the configuration that fitted it); one group per GP ("/gp", or "/mode_0000"...) with
 * datasets X, y, theta and attributes kernel, normalize, alpha, fit_noise, noise, lml, lml_data;
 * for pcagp "/pca" with mean, modes (k x points), eigenvalues, and "/field" with the layout of the
 * training fields (variable, units, axes and their coordinates, time stamp) so that predictions
 * are written as field files in the solver's layout.
 */
#ifndef KV_SURROGATE_H
#define KV_SURROGATE_H

#include "surrogates/gp.h"

enum { KV_SURROGATE_GP = 0, KV_SURROGATE_PCAGP = 1, KV_SURROGATE_PATTERN = 2 };
enum { KV_PATTERN_RESPONSE = 0, KV_PATTERN_TRUE_SMOOTHED = 1 };

/* Pattern scaling's global-mean model (surrogates/pattern.h). */
typedef struct {
  double q[2], d[2], c;     /* two-box impulse response: amplitudes (K per W m-2), time scales
                               (years), offset (K)                                      */
  double F_ref;             /* global forcing of the control period (W m-2)              */
  double response_rmse;     /* misfit of the response to the training global means (K)   */
  int global_mode;          /* KV_PATTERN_RESPONSE or KV_PATTERN_TRUE_SMOOTHED           */
  int year0, nyears;        /* the training runs' years                                  */
  int spinup;               /* years at the start left out of the fits                   */
} kv_pattern_info;

/* Where a field lives: enough to write a prediction as the solver would. */
typedef struct {
  char var[64], units[64], long_name[256];
  int ndims;                /* space dimensions (1-3)                                 */
  long n[3];                /* cells per axis, x (fastest) first                      */
  char axis_name[3][32], axis_units[3][64], axis_std[3][64], axis_long[3][128], axis_letter[3][4];
  double *coord[3];         /* coordinate values per axis (owned)                      */
  double time;              /* the time stamp of the training fields (final record)    */
  char time_units[128], calendar[32];
} kv_field_layout;

typedef struct {
  int kind;
  int ninputs;
  char **inputs;            /* names (config keys or CSV columns)                     */
  char output[256];         /* the QoI / CSV column, or the field variable            */
  char *config;             /* configuration text that made it (may be NULL)          */
  int ngp;
  kv_gp **gp;
  /* pcagp (and pattern: mean = control climate, modes = coefficient maps a, b, ...) */
  long npts;
  int nmodes;
  double *mean, *modes, *eig;   /* npts; nmodes x npts; nmodes                         */
  double energy;                /* fraction of the variance the modes keep             */
  kv_field_layout layout;
  kv_pattern_info pattern;
} kv_surrogate;

/* An empty model of the given kind (free with kv_surrogate_free). */
int kv_surrogate_new(int kind, int ninputs, char *const *inputs, const char *output,
                     kv_surrogate **out);
void kv_surrogate_free(kv_surrogate *s);

/* Save to path (atomically) / load. Not collective. */
int kv_surrogate_save(const kv_surrogate *s, const char *path);
int kv_surrogate_load(const char *path, kv_surrogate **out);

/* Outputs per point: 1 for gp, npts for pcagp. */
long kv_surrogate_noutputs(const kv_surrogate *s);

/* Predict at m points (m x ninputs, row-major): mean and variance, each m x noutputs. The
 * pcagp variance is sum_k phi_k(x)^2 sigma_k^2 (the modes' GP variances, latent). */
int kv_surrogate_predict(const kv_surrogate *s, long m, const double *X, double *mean, double *var);

/* Write nrec field predictions (nrec x npts mean and variance; var may be NULL) as a field file
 * in the training layout: variable <var> (mean) and, with var, <var>_std, with the coordinates
 * and one time record per prediction at times[] (NULL: the training fields' time stamp). */
int kv_surrogate_write_field(const kv_surrogate *s, long nrec, const double *times,
                             const double *mean, const double *var, const char *path,
                             const char *config);

/* Map input names (e.g. "heat.kappa") to their column in a table header; -1 entries missing. */
int kv_surrogate_input_index(const kv_surrogate *s, const char *name);

#endif
