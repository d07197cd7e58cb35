/* kelvin — exact Gaussian-process regression.
 *
 * Kernel k(x, x') = s2 * f(r) + n2 * [x == x'] with r^2 = sum_k (x_k - x'_k)^2 / l_k^2 (ARD),
 * f one of squared-exponential exp(-r^2/2), Matern 3/2 (1 + sqrt3 r) exp(-sqrt3 r) and Matern 5/2
 * (1 + sqrt5 r + 5 r^2/3) exp(-sqrt5 r). Hyperparameters are optimised in log space:
 * theta = (log l_1 .. log l_d, log s2, log n2). A fixed `alpha` (1e-10 by default, scikit-learn's
 * default) is added to the training diagonal only, as scikit-learn does.
 *
 * With normalize, inputs are mapped to the unit box (per column min/max) and the outputs
 * standardised; length scales and variances then live in those units. Without it the data are
 * used raw, which reproduces scikit-learn's GaussianProcessRegressor(normalize_y=False) with
 * ConstantKernel * RBF/Matern + WhiteKernel exactly. The log marginal likelihood is reported in
 * the units of the data either way (the standardisation's Jacobian is added back), so values
 * compare across settings and with other tools.
 *
 * Linear algebra: LAPACKE dpotrf/dpotrs/dpotri and CBLAS (OpenBLAS). Not collective: a GP lives
 * on one process.
 */
#ifndef KV_GP_H
#define KV_GP_H

#include <stdio.h>

#include "io/config.h"
#include "io/h5.h"

typedef enum { KV_KERNEL_SE = 0, KV_KERNEL_MATERN32 = 1, KV_KERNEL_MATERN52 = 2 } kv_kernel;

/* Kernel name ("se", "matern32", "matern52") and back (-1 when unknown). */
const char *kv_kernel_name(kv_kernel k);
int kv_kernel_from_name(const char *name);

typedef struct {
  kv_kernel kernel;
  int normalize; /* unit-box inputs, standardised outputs (default 1)               */
  double alpha;  /* added to the training diagonal (default 1e-10)                   */
  int fit_noise; /* 1: optimise the noise variance; 0: keep `noise`                  */
  double noise;  /* fixed noise variance (normalised units when normalize)           */
  double length_lo, length_hi, signal_lo, signal_hi, noise_lo, noise_hi; /* bounds (values) */
  int restarts; /* extra optimiser starts from random points in the bounds         */
  unsigned long seed;
  int max_iter; /* per start                                                       */
  int nlopt;    /* 1: NLopt's L-BFGS instead of kelvin's (bench/gp_optimizer.sh)   */
  /* Universal kriging: the mean is a polynomial of this degree + 1 in the (scaled) inputs
   * (0: none, the standardised output has mean zero; 1 constant; 2 linear; 3 quadratic), its
   * coefficients estimated by generalised least squares at every theta (profile likelihood). */
  int trend;
  /* MAP instead of ML-II: lognormal priors on each length scale (median prior_length, log-sd
   * prior_length_sd, in the units of the scaled inputs) and on the noise variance (median
   * prior_noise, log-sd prior_noise_sd, in standardised output units), so that neither can
   * collapse on a few noisy points. */
  int prior;
  double prior_length, prior_length_sd, prior_noise, prior_noise_sd;
  /* Inputs that enter as log(x) (inputs spanning decades): 1 per input, the first 64. */
  unsigned char log_input[64];
  char log_names[512]; /* surrogate.log_inputs as given (names), resolved by kv_gp_log_inputs */
  /* A warm start: the first start from these hyperparameters (log values, d + 2 of them) instead
   * of the default point (cross-validation refits start where the fit on all data ended). */
  int has_start;
  double start[66];
} kv_gp_options;

/* Resolve o->log_names against the d input names into o->log_input. An unknown name is a
 * configuration error of surrogate.log_inputs naming it and the inputs. */
int kv_gp_log_inputs(kv_gp_options *o, int d, char *const *names);

/* The defaults above: matern52, normalize, alpha 1e-10, noise fitted, bounds length
 * [1e-3, 1e3], signal [1e-5, 1e5], noise [1e-10, 10], 2 restarts, seed 1, 200 iterations; no
 * trend, no prior (its parameters 0.5, 1 and 1e-2, 2), no log inputs. */
void kv_gp_options_default(kv_gp_options *o);

typedef struct kv_gp kv_gp;

/* Make a GP on n points in d dimensions (X row-major n x d, y n; copied). Checks the data
 * (finite, no constant input column under normalize, n > d). Not yet fitted: call
 * kv_gp_set_theta or kv_gp_fit. *out owned by the caller. */
int kv_gp_create(long n, int d, const double *X, const double *y, const kv_gp_options *o,
                 kv_gp **out);

/* Free; NULL is a no-op. */
void kv_gp_free(kv_gp *g);

/* Input dimension d, training points n, hyperparameters d + 2, and the options (borrowed). */
int kv_gp_dim(const kv_gp *g);
long kv_gp_size(const kv_gp *g);
int kv_gp_ntheta(const kv_gp *g);
const kv_gp_options *kv_gp_opts(const kv_gp *g);

/* Log marginal likelihood (in the units of the internal data, i.e. normalised when normalize)
 * at theta, and its gradient with respect to theta when grad is not NULL. Factorises the
 * kernel matrix (with jitter escalation when needed). */
int kv_gp_lml(kv_gp *g, const double *theta, double *lml, double *grad);

/* Fix the hyperparameters (log values, length d + 2) and factorise: the GP is then ready to
 * predict. */
int kv_gp_set_theta(kv_gp *g, const double *theta);

/* Maximise the log marginal likelihood over theta within the bounds by projected L-BFGS
 * (bounded quasi-Newton), from the centre-ish default start and `restarts` random starts;
 * keep the best; leave the GP factorised there. */
int kv_gp_fit(kv_gp *g);

/* The current hyperparameters (log values), and the LML at them: internal units and data units
 * (internal minus n log(y_std) when outputs are standardised). */
const double *kv_gp_theta(const kv_gp *g);
double kv_gp_lml_value(const kv_gp *g);
double kv_gp_lml_data(const kv_gp *g);
/* Evaluations of the LML used by the last fit. */
long kv_gp_evals(const kv_gp *g);

/* Predict at m points (row-major m x d, raw units): mean, and the predictive variance of an
 * observation (latent variance plus the noise variance, as scikit-learn's return_std) when var is
 * not NULL; latent-only when with_noise is 0. Batched. */
int kv_gp_predict(const kv_gp *g, long m, const double *Xs, double *mean, double *var,
                  int with_noise);

/* The leave-one-out predictions of the n training points (data units: mean, and the variance of
 * an observation, var may be NULL) at the current hyperparameters, in closed form (Dubrule 1983;
 * Rasmussen & Williams 5.4.2), trend coefficients re-estimated without the point as a refit
 * would. Allocates an n x n work matrix. */
int kv_gp_loo(const kv_gp *g, double *mean, double *var);

/* The mean (m) and the posterior covariance C (m x m, column-major, symmetric) of the latent
 * function at the m points Xs (m x d, raw units), in data units, given the trend's
 * coefficients. O(m^2 n + m n^2). Not collective. */
int kv_gp_covariance(const kv_gp *g, long m, const double *Xs, double *mean, double *C);

/* ndraws joint draws of the latent function at the m points Xs (m x d, raw units) from the
 * posterior (given the trend's coefficients; a jitter keeps the covariance factorable), made from
 * the caller's standard normal numbers z (ndraws x m): out gets ndraws x m values in data units.
 * O(m^3): for a few thousand points at most. Not collective. */
int kv_gp_draw(const kv_gp *g, long m, const double *Xs, int ndraws, const double *z, double *out);

/* The trend coefficients (NULL without a trend; kv_gp_ntrend of them). */
int kv_gp_ntrend(const kv_gp *g);
const double *kv_gp_beta(const kv_gp *g);

/* The hyperparameters in the units of the data: length scales (d, input units), signal and noise
 * variances (output units squared). */
void kv_gp_hyper_data(const kv_gp *g, double *length, double *signal, double *noise);

/* The training data as given (raw units; n x d and n), borrowed: what a model file stores. */
const double *kv_gp_x_raw(const kv_gp *g);
const double *kv_gp_y_raw(const kv_gp *g);

/* ------------------------------------------------------------------ gp_store.c */

/* The [surrogate] keys of a GP (kernel, normalize, noise, alpha, bounds, restarts, seed,
 * max_iter), shared by every kind built on GPs. */
extern const kv_config_key kv_gp_keys[];

/* Options from a validated configuration (the keys above; defaults where absent). Errors name
 * the file, line and key. Not collective. */
int kv_gp_options_from_config(const kv_config *cfg, kv_gp_options *o);

/* Create and fit a GP on (X, y), logging the time; *out NULL on failure. Not collective. */
int kv_gp_train(long n, int d, const double *X, const double *y, const kv_gp_options *o,
                kv_gp **out);

/* Save a fitted GP as group grp of a model store (datasets X, y, theta; attributes kernel,
 * normalize, alpha, fit_noise, noise, lml, lml_data, evals), and load it back, refactorised so it
 * predicts bit-identically. path names the file in messages. Not collective. */
int kv_gp_save(const kv_gp *g, kv_h5_store *h, const char *grp);
int kv_gp_load(kv_h5_store *h, const char *path, const char *grp, kv_gp **out);

/* Print a GP's kernel, size, LML and hyperparameters in data units, the length scales named by
 * names (d of them), under the heading what. */
void kv_gp_describe(const kv_gp *g, char *const *names, const char *what, FILE *f);

#endif
