/* kelvin — the run driver: one model solve from a configuration to an HDF5 file.
 *
 * It creates the model named by run.model, writes the initial state, steps to run.t_end, appends
 * a record every run.output_every steps and at the end, and publishes the file atomically. A
 * non-finite state stops the run with the step number; the records written so far are kept in
 * "<stem>.failed.h5".
 */
#ifndef KV_RUN_H
#define KV_RUN_H

#include <mpi.h>

#include "io/config.h"

/* What a finished run reports. */
typedef struct {
  long steps;
  long records;
  double dt;
  double wall_steps; /* seconds spent stepping (excluding output)   */
  double wall_total;
  double cell_updates; /* steps x global cells                        */
  char output[4096];   /* the file written                            */
} kv_run_result;

/* Validate cfg against [run] and the model's keys (recording defaults; kv_model_config_validate).
 * Not collective. */
int kv_run_validate(kv_config *cfg);

/* Options that are not part of the configuration. */
/* A sweep case: its number and varied keys, stored in its output as scalar variables (a numeric
 * value) or root attributes (a text value, e.g. a scenario name), so that xarray can concatenate
 * the case files along "case" without the manifest. */
#define KV_RUN_CASE_VARS 64
typedef struct {
  long id;
  int n;
  const char *key[KV_RUN_CASE_VARS], *value[KV_RUN_CASE_VARS];
} kv_run_case;

typedef struct {
  const char *restart; /* continue from the last record of this file (NULL: start afresh) */
  int quiet;           /* no progress bar and no info lines (a sweep reports per case)   */
  const char *again;   /* the command line that started the run, for the "continue with"
                          hint of an interrupted run (NULL: kelvin run CONFIG)            */
  const kv_run_case *sweep_case; /* the sweep case this run is (NULL: none)                */
} kv_run_options;

/* Run one solve. Collective over comm. opts and res may be NULL. With run.checkpoint_every = K,
 * every K-th step's state is also written (atomically, replacing the previous one) to
 * "<stem>.checkpoint.h5", a one-record file in the output layout that --restart accepts. */
int kv_run(MPI_Comm comm, const kv_config *cfg, const kv_run_options *opts, kv_run_result *res);

#endif
