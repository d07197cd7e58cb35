/* kelvin — `kelvin adapt`: sequential design to a target accuracy. A small Latin hypercube, a
 * fit, then batches of q points (q = the farm's rank groups) where the surrogate is least
 * trustworthy, run by the full solver through the task farm, a refit, until the error (the
 * surrogate's cross-validation, or a held-out set run once) is below adapt.tolerance or
 * adapt.budget runs are used. Criteria, each over a cloud of random candidates in the box:
 *   variance: the largest predictive variance (summed over a field's points);
 *   imse:     the largest integrated variance reduction over reference points (kinds with a
 *             posterior covariance: gp), the batch by conditioning on each choice;
 *   loo:      the largest leave-one-out error of the nearest run times the distance to it (the
 *             error spread over the region it speaks for; scalar kinds with closed-form LOO,
 *             others fall back to variance);
 * the rest of a batch by local penalisation: each point chosen scales the scores near it by
 * 1 - exp(-(r / h)^2), h the design's typical spacing (n^(-1/d) in the unit cube).
 * Works for any kind the [surrogate] section names (gp, auto, pcagp fields, ...). Runs are the
 * cases of a list sweep in adapt.dir (resumable with --resume); the learning curve (error vs
 * runs) goes to adapt.csv and adapt.png, the final model to adapt.dir/model_<kind>.h5 (or
 * surrogate.model), which `kelvin validate` checks.
 */
#ifndef KV_ADAPT_H
#define KV_ADAPT_H

#include <mpi.h>
#include <stdio.h>

#include "drivers/evaluate.h"
#include "io/config.h"

/* The [adapt] keys. */
extern const kv_config_key kv_adapt_keys[];

typedef struct {
  long initial, budget, batch; /* 0: max(6, 3 d), -, rank groups                      */
  double tolerance;            /* the error to reach                                  */
  int criterion;               /* 0 variance, 1 loo                                   */
  long candidates;             /* random candidates per choice (0: 1000 d)            */
  long holdout;                /* held-out runs for the error (0: cross-validation)   */
  unsigned long seed;
  char dir[4096]; /* "": <sweep dir>/adapt                              */
} kv_adapt_params;

/* Read [adapt] from a validated configuration. Not collective. */
int kv_adapt_params_from_config(const kv_config *cfg, kv_adapt_params *p);

/* One step of the learning curve. */
typedef struct {
  long runs;
  double error; /* relative RMSE: CV or held-out, as adapt.holdout says */
} kv_adapt_point;

#define KV_ADAPT_MAXCURVE 4096

typedef struct {
  kv_eval_space sp;
  long runs, failed, ncurve;
  kv_adapt_point curve[KV_ADAPT_MAXCURVE];
  int reached;       /* the tolerance was met                  */
  char error_of[32]; /* "cross-validation" or "held-out"       */
  char model[4200];  /* the final model file                   */
  char dir[4096];
} kv_adapt_result;

/* Run the sequential design of cfg (its [sweep] ranges, [surrogate] kind and [adapt] keys);
 * resume continues an earlier run in adapt.dir. Collective. */
int kv_adapt_run(MPI_Comm comm, const kv_config *cfg, int resume, kv_adapt_result *out);

/* Print the learning curve and the outcome (rank 0's result). */
void kv_adapt_print(const kv_adapt_result *r, double tolerance, FILE *f);

#endif
