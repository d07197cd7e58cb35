/* kelvin — `kelvin sensitivity`: which inputs matter. Sobol indices (first-order and total) of a
 * fitted surrogate's output over the inputs' ranges, by the pick-freeze design of
 * surrogates/sensitivity.h evaluated on the surrogate (cheap, so N is large) with bootstrap
 * intervals; for field surrogates per grid point (maps) and aggregated over the field
 * (variance-weighted). Morris elementary effects screen many inputs with r (d + 1) points.
 * sensitivity.direct runs a (smaller) pick-freeze design through the full solver's task farm to
 * check the surrogate's indices. Results: a table printed and written as CSV, an HDF5 file
 * (netCDF-readable: the indices over an `input` dimension, maps, the design and its outputs) and
 * a bar chart PNG with the intervals.
 */
#ifndef KV_SENSITIVITY_DRIVER_H
#define KV_SENSITIVITY_DRIVER_H

#include <mpi.h>
#include <stdio.h>

#include "drivers/evaluate.h"
#include "io/config.h"

/* The [sensitivity] keys. */
extern const kv_config_key kv_sensitivity_keys[];

typedef struct {
  int method;          /* 0 sobol, 1 morris                                    */
  long samples;        /* Sobol base size N on the surrogate (N (d + 2) points) */
  int estimator;       /* KV_SOBOL_SALTELLI or KV_SOBOL_JANSEN                  */
  int qmc;             /* 1: A and B from a scrambled Sobol sequence            */
  long bootstrap;      /* resamples for the intervals (0: none)                 */
  double level;        /* their level                                           */
  unsigned long seed;  /* of the designs and the bootstrap                      */
  long trajectories;   /* Morris r                                              */
  long levels;         /* Morris grid levels p                                  */
  int direct;          /* also by the full solver                               */
  long draws;          /* posterior draws (kinds with draws: gp; 0: none)        */
  long draw_samples;   /* base size of the design the draws are made on          */
  long direct_samples; /* its base size                                        */
  char dir[4096];      /* where the results go ("": beside the model file)     */
} kv_sensitivity_params;

/* Read [sensitivity] from a validated configuration (defaults where unset). Not collective. */
int kv_sensitivity_params_from_config(const kv_config *cfg, kv_sensitivity_params *p);

typedef struct {
  int method;
  kv_eval_space sp; /* the inputs and their ranges                               */
  char output[256]; /* the response                                              */
  long m;           /* outputs (1: a scalar; a field's points)                      */
  long evals;       /* surrogate evaluations                                        */
  double mean, var; /* of the (aggregated) output over the design                   */
  /* Sobol, d each (fields: aggregated over the points); intervals NaN without bootstrap. */
  double S1[KV_EVAL_MAXD], ST[KV_EVAL_MAXD], S1lo[KV_EVAL_MAXD], S1hi[KV_EVAL_MAXD],
      STlo[KV_EVAL_MAXD], SThi[KV_EVAL_MAXD];
  /* The same by the full solver (direct; NaN otherwise) and its number of runs. */
  long dcases;
  double dS1[KV_EVAL_MAXD], dST[KV_EVAL_MAXD], dS1lo[KV_EVAL_MAXD], dS1hi[KV_EVAL_MAXD],
      dSTlo[KV_EVAL_MAXD], dSThi[KV_EVAL_MAXD];
  /* The spread over the surrogate's posterior draws (gp): the central `level` interval of each
   * index over ndraws draws, each a whole function on a smaller design. */
  long ndraws;
  double gS1lo[KV_EVAL_MAXD], gS1hi[KV_EVAL_MAXD], gSTlo[KV_EVAL_MAXD], gSThi[KV_EVAL_MAXD];
  /* Closed-form indices of the kind over its training box (poly), when it has them. */
  int analytic;
  double aS1[KV_EVAL_MAXD], aST[KV_EVAL_MAXD];
  /* Morris: per input, in output units per range of the input. */
  double mu[KV_EVAL_MAXD], mustar[KV_EVAL_MAXD], sigma[KV_EVAL_MAXD];
  char dir[4096]; /* where the files went */
  char csv[4200]; /* the table            */
} kv_sensitivity_result;

/* The sensitivity analysis of the surrogate in model_path (cfg: the configuration with its
 * [sensitivity] keys, whose [sweep] ranges are the inputs' when it has them, else the model's
 * training box; direct needs cfg's model). csv (may be NULL) overrides the table's path. Writes
 * sensitivity.csv, .h5 and .png (and maps for fields) to the result's dir. Collective (rank 0
 * computes; every rank runs the direct cases). */
int kv_sensitivity_run(MPI_Comm comm, const kv_config *cfg, const char *model_path, const char *csv,
                       kv_sensitivity_result *out);

/* Print the table (rank 0's result). */
void kv_sensitivity_print(const kv_sensitivity_result *r, FILE *f);

#endif
