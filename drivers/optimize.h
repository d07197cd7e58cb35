/* kelvin — `kelvin optimize`: efficient global optimisation (EGO) of a model's response over the
 * [sweep] ranges, optionally under constraints on other responses. An initial Latin hypercube,
 * then batches of q points (q = the farm's rank groups), each chosen by maximising an
 * acquisition (log expected improvement or a lower confidence bound, times the probability of
 * feasibility) on surrogates refitted to every evaluation so far (the [surrogate] kind, gp by
 * default), the batch filled by the constant liar. Every evaluation is a case of a list sweep in
 * optimize.dir (drivers/evaluate.h): written atomically, recorded in a manifest, resumed with
 * --resume after a kill or a time limit without running a finished case again. Stops on the
 * budget, the wall time or an expected improvement below tolerance. The reported optimum is a
 * point the full solver ran.
 */
#ifndef KV_OPTIMIZE_H
#define KV_OPTIMIZE_H

#include <mpi.h>
#include <stdio.h>

#include "drivers/evaluate.h"
#include "io/config.h"
#include "surrogates/acquisition.h"

/* The [optimize] keys. */
extern const kv_config_key kv_optimize_keys[];

typedef struct {
  char response[256];
  int maximize;
  long initial, budget, batch; /* 0: default (max(6, 3d)), budget, rank groups */
  int acquisition;             /* KV_ACQ_EI or KV_ACQ_LCB                        */
  int log;                     /* model log(response)                            */
  double kappa, tolerance, wall;
  int ntarget; /* calibration: the objective is sum ((r_k - t_k) / |t_k|)^2 ("misfit") */
  char target_name[KV_ACQ_MAXCON][256];
  double target_value[KV_ACQ_MAXCON];
  int ncon;
  char con_name[KV_ACQ_MAXCON][256];
  double con_limit[KV_ACQ_MAXCON];
  int con_sign[KV_ACQ_MAXCON];
  unsigned long seed;
  int global;     /* KV_ACQ_DIRECT or KV_ACQ_CRS     */
  long acq_evals; /* per global search (0: 1000 d)   */
  char dir[4096]; /* "": <sweep dir>/optimize        */
  int offline;    /* on the surrogate of fixed data only                        */
  double trust;   /* offline: largest unit-cube distance to the data (0: none)   */
  double penalty; /* offline: minimise mean + penalty x sd                       */
} kv_optimize_params;

/* Read [optimize] from a validated configuration. Not collective. */
int kv_optimize_params_from_config(const kv_config *cfg, kv_optimize_params *p);

typedef struct {
  kv_eval_space sp;
  long evals, failed, iterations;
  char stop[128];                /* why it stopped                                   */
  int found;                     /* a feasible point was evaluated                   */
  long best_eval;                /* its evaluation number (0-based)                  */
  double x[KV_EVAL_MAXD], value; /* the best evaluated point and its response        */
  double con[KV_ACQ_MAXCON];     /* the constraints' values there                    */
  double target[KV_ACQ_MAXCON];  /* calibration: the targeted responses there          */
  double pred_mean, pred_sd;     /* the surrogate's prediction there (all data)      */
  double last_ei;                /* the last batch's largest expected improvement    */
  int offline;                   /* the optimum is the surrogate's, not a run        */
  double nearest;                /* offline: unit-cube distance to the nearest datum */
  long nearest_index;            /* its row in the data                              */
  double nearest_value;          /* its response                                     */
  double data_best;              /* the best response in the data                    */
  char dir[4096];
} kv_optimize_result;

/* Optimise cfg's model; resume: continue the evaluations in optimize.dir (without it an
 * existing history is KV_ERR_EXISTS naming --resume). Writes optimize.csv (every evaluation,
 * the best so far) and optimize.png (convergence) in the directory. Collective. */
int kv_optimize_run(MPI_Comm comm, const kv_config *cfg, int resume, kv_optimize_result *out);

/* optimize.offline: optimise the surrogate of cfg's [surrogate] data (a table or a sweep, fitted
 * here) without running the model, minimising mean + optimize.penalty x sd, held within
 * optimize.trust of the data; the result says how far the optimum is from the nearest datum
 * and how uncertain the surrogate is there. Collective (rank 0 works). */
int kv_optimize_offline(MPI_Comm comm, const kv_config *cfg, const kv_optimize_params *p,
                        kv_optimize_result *out);

/* Print the report (rank 0's result). */
void kv_optimize_print(const kv_optimize_result *r, const kv_optimize_params *p, FILE *f);

#endif
