/* kelvin — acquisition functions for surrogate-based optimisation, and their maximisation over
 * the unit cube with NLopt (a global search, DIRECT-L or CRS2, then a bounded L-BFGS polish on
 * central-difference gradients). Works on any kind that predicts a mean and a variance (the
 * surrogate interface); the caller maps the unit cube to its inputs.
 *
 * For minimisation of f with the best feasible value f* so far, at a point with predictive mean
 * mu and standard deviation s (z = (f* - mu) / s):
 *   log EI  = log s + log(z Phi(z) + phi(z))    (Jones et al. 1998; evaluated in log form, with
 *             the asymptotic series for z < -6, so it keeps a gradient where EI underflows);
 *   LCB     = -(mu - kappa s)                    (maximised; Srinivas et al. 2010);
 *   pessimistic = -(mu + kappa s)            (offline optimisation on fixed data: the surrogate's
 *             upper bound, so the answer avoids where it is guessing);
 *   log PoF = sum_c log Phi((limit_c - mu_c) / s_c) for constraints c <= limit_c (Schonlau 1998),
 *             added to either; with no feasible point yet, log PoF alone.
 */
#ifndef KV_ACQUISITION_H
#define KV_ACQUISITION_H

#include "surrogates/surrogate.h"

enum { KV_ACQ_EI = 0, KV_ACQ_LCB = 1, KV_ACQ_PESSIMISTIC = 2 };
enum { KV_ACQ_DIRECT = 0, KV_ACQ_CRS = 1 };

/* Most constraint surrogates. */
#define KV_ACQ_MAXCON 8

typedef struct {
  const kv_surrogate *objective;          /* inputs: the unit cube of dimension d      */
  int ncon;                               /* constraints                               */
  const kv_surrogate *con[KV_ACQ_MAXCON]; /* their surrogates (same inputs)            */
  double limit[KV_ACQ_MAXCON];            /* feasible: sign * value <= sign * limit    */
  int sign[KV_ACQ_MAXCON];                /* +1 for <=, -1 for >=                      */
  int kind;                               /* KV_ACQ_EI or KV_ACQ_LCB                   */
  double best;                            /* f*: best feasible value (NaN: none yet)  */
  double kappa;                           /* LCB's (pessimistic's) weight on s         */
  int negate;                             /* 1: the surrogates predict -f (maximising) */
  /* Optional: the surrogates' inputs are the unit point mapped to [lo, hi] (uniform in log
   * where islog; NULL: the unit cube itself). */
  const double *lo, *hi;
  const int *islog;
  /* Optional trust region: points farther than `trust` (unit-cube distance) from every one of
   * the ndata points data (unit cube, ndata x d) lose penalty * (excess / trust)^2. */
  double trust, penalty;
  const double *data;
  long ndata;
} kv_acq;

/* The unit-cube distance from u (d values) to the nearest of the n points P (n x d), and its
 * index in *which (may be NULL). */
double kv_acq_nearest(int d, const double *u, long n, const double *P, long *which);

/* log EI of a N(mu, s^2) prediction below best (s > 0); -inf only when s = 0 and mu >= best. */
double kv_acq_log_ei(double mu, double s, double best);

/* The acquisition at unit point u (d values) and, when not NULL, log EI (or NaN for LCB) and
 * log PoF there. Not collective. */
int kv_acq_eval(const kv_acq *a, const double *u, double *value, double *log_ei, double *log_pof);

/* Maximise the acquisition over [0, 1]^d: the global algorithm (KV_ACQ_DIRECT or KV_ACQ_CRS)
 * with max_evals evaluations (seeded for CRS), then L-BFGS from its best point (and from
 * `starts` extra points, n_starts x d, may be NULL). u gets the maximiser, *value its
 * acquisition. KV_ERR_NUMERIC when no finite value was found. Not collective. */
int kv_acq_maximize(const kv_acq *a, int d, int global, long max_evals, unsigned long seed,
                    const double *starts, int n_starts, double *u, double *value);

#endif
