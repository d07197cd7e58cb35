/* kelvin — cross-validation of any surrogate kind, written once against kv_surrogate_type (as
 * DESIGN.md asks): k-fold with seeded folds, or leave-one-out (in closed form where the kind has
 * the `loo` operation, else by n refits). Scores of the held-out predictions: MAE, RMSE, Q2 (the
 * predictivity 1 - PRESS / sum (y - mean y)^2, per point for fields), the largest error and the
 * fraction of held-out truths inside the 95 % interval (kv_surrogate_interval: the kind's own
 * where its outputs are transformed).
 *
 * Folds are fitted on the ranks of a communicator, fold f on rank f mod size; the held-out
 * predictions are summed over the ranks (each written by one rank), so the scores are the same
 * on any number of ranks, bit for bit.
 */
#ifndef KV_CV_H
#define KV_CV_H

#include <mpi.h>

#include "io/config.h"
#include "io/dataset.h"
#include "surrogates/surrogate.h"

typedef struct {
  int folds;          /* k >= 2; 0: no cross-validation; KV_CV_LOO: leave-one-out       */
  unsigned long seed; /* the shuffle of the rows into folds                             */
} kv_cv_params;

#define KV_CV_LOO (-1)

/* The [surrogate] keys of cross-validation: cv_folds (k, loo or 0), cv_seed. */
extern const kv_config_key kv_cv_keys[];

/* Defaults (5 folds, seed 1), and from a validated configuration. Not collective. */
void kv_cv_params_default(kv_cv_params *p);
int kv_cv_params_from_config(const kv_config *cfg, kv_cv_params *p);

/* The fold of each of n rows (fold[n]): a seeded shuffle dealt round-robin into k folds (LOO:
 * row i is fold i). Returns the number of folds, or -1 when k > n. */
int kv_cv_assign(long n, const kv_cv_params *p, int *fold);

/* Fit kind t (params) on the rows outside fold f and predict the rows inside it: mean, lo and hi
 * (the 95 % interval) of those rows are written (n x P arrays, P the outputs per point), the
 * others left alone. Not collective. */
int kv_cv_fold(const kv_surrogate_type *t, const void *params, const kv_dataset *ds,
               const int *fold, int f, double *mean, double *lo, double *hi);

/* The scores of held-out predictions of ds (n x P each) against its y or fields. */
void kv_cv_score(const kv_dataset *ds, const double *mean, const double *lo, const double *hi,
                 kv_cv_scores *out);

/* Parameters for refits of kind t on folds: warm-started from fitted, which lives on rank root
 * of comm (NULL elsewhere), through the kind's warm_state/warm_params; *wp NULL when the kind
 * has none (use params). Free with kv_surrogate_params_free. Collective. */
int kv_cv_warm_params(MPI_Comm comm, int root, const kv_surrogate_type *t, const void *params,
                      const kv_surrogate *fitted, void **wp);

/* Cross-validate kind t with params on ds: the folds over comm's ranks (warm-started from fitted
 * when rank 0 has it), or the closed form of fitted for leave-one-out. out is the same on every
 * rank. Collective. */
int kv_cv_run(MPI_Comm comm, const kv_surrogate_type *t, const void *params, const kv_dataset *ds,
              const kv_cv_params *p, const kv_surrogate *fitted, kv_cv_scores *out);

/* Print the scores on one line (with a heading word). */
void kv_cv_print(const kv_cv_scores *c, const char *what, FILE *f);

#endif
