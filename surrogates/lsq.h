/* kelvin — penalised linear least squares with closed-form leave-one-out, the solver behind the
 * response-surface kinds (poly, spline, the tails of rbf) and the saddle-point systems of
 * interpolation with a trend (rbf, universal kriging).
 *
 * Penalised least squares: b = argmin ||y - Phi b||^2 + lambda ||R b||^2, solved by the QR
 * factorisation of the stacked matrix A = [Phi; sqrt(lambda) R] (LAPACKE dgeqrf/dorgqr: never the
 * normal equations). The hat matrix H = Phi (A^T A)^-1 Phi^T has diagonal h_i = ||Q_i||^2 over the
 * first n rows of Q, so the leave-one-out residuals are e_i = r_i / (1 - h_i) exactly (the PRESS
 * identity) and cost nothing beyond the fit. The noise variance is s2 = RSS / (n - tr H) and the
 * predictive variance of an observation at phi is s2 (1 + phi^T (A^T A)^-1 phi) (the Bayesian
 * posterior of b under the Gaussian prior the penalty is).
 *
 * Saddle systems: [[K, F], [F^T, 0]] [c; d] = [y; 0] with K symmetric (a kernel matrix with its
 * smoothing or noise on the diagonal) and F the trend basis; with A its matrix, the leave-one-out
 * residual of point i is c_i / (A^-1)_ii and 1 / (A^-1)_ii its variance in K's units (Dubrule
 * 1983; Rippa 1999 for radial basis functions).
 *
 * Not collective; allocation happens in the fit, none in prediction beyond small work arrays.
 */
#ifndef KV_LSQ_H
#define KV_LSQ_H

#include "io/config.h"
#include "io/h5.h"

typedef struct kv_lsq kv_lsq;

/* Fit b for the n x p design Phi (row-major) and y, with the q x p penalty root R (row-major;
 * NULL or q = 0: no penalty) scaled by lambda >= 0. KV_ERR_INVALID when the stacked matrix has
 * fewer rows than columns; KV_ERR_NUMERIC when it is rank deficient (say a degree too high for the
 * points without a penalty). *out owned by the caller. */
int kv_lsq_fit(long n, int p, const double *Phi, const double *y, int q, const double *R,
               double lambda, kv_lsq **out);

/* As kv_lsq_fit with lambda chosen by leave-one-out (the smallest PRESS) among 0 (when the
 * design allows it) and 10^-8 .. 10^2 times the mean squared column norm of Phi, or the given
 * lambda when lambda >= 0. *chosen gets it. */
int kv_lsq_fit_cv(long n, int p, const double *Phi, const double *y, int q, const double *R,
                  double lambda, kv_lsq **out, double *chosen);

/* A penalty key of a validated configuration: "cv" (*out = -1: chosen by cross-validation) or
 * a number >= 0; anything else is a configuration error naming the key. Not collective. */
int kv_lsq_penalty_from_config(const kv_config *cfg, const char *key, double *out);

/* Free; NULL is a no-op. */
void kv_lsq_free(kv_lsq *l);

/* The training points whose leave-one-out values it holds (0 after a load). */
long kv_lsq_size(const kv_lsq *l);

/* Columns p, the coefficients b (p, borrowed), the noise variance s2, the effective degrees of
 * freedom tr H, and the leave-one-out mean squared residual. */
int kv_lsq_ncoef(const kv_lsq *l);
const double *kv_lsq_coef(const kv_lsq *l);
double kv_lsq_sigma2(const kv_lsq *l);
double kv_lsq_dof(const kv_lsq *l);
double kv_lsq_loo_mse(const kv_lsq *l);

/* The leave-one-out prediction of every training point (n; the training y minus e_i) and its
 * variance (n, may be NULL). */
void kv_lsq_loo(const kv_lsq *l, double *mean, double *var);

/* Predict m rows of a design (m x p, row-major): mean and the variance of an observation (var may
 * be NULL). */
int kv_lsq_predict(const kv_lsq *l, long m, const double *Phi, double *mean, double *var);

/* Save under group grp (coef, the triangular factor, s2, dof, loo_mse) / load back (predicts
 * bit-identically; LOO values are not kept). path names the file in messages. */
int kv_lsq_save(const kv_lsq *l, kv_h5_store *h, const char *grp);
int kv_lsq_load(kv_h5_store *h, const char *path, const char *grp, kv_lsq **out);

/* Solve the saddle system above: K (N x N, column-major, full), F (N x m, column-major; m may be
 * 0), y (N). c gets N + m values ([c; d]); loo_res and loo_var (N each, may be NULL) the
 * leave-one-out residuals and variances. KV_ERR_NUMERIC when the system is singular. */
int kv_lsq_saddle(long N, int m, const double *K, const double *F, const double *y, double *c,
                  double *loo_res, double *loo_var);

#endif
