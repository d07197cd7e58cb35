/* The external model's parts: the run of the simulator (ext_run.c) and the model (external.c). */
#ifndef KV_EXTERNAL_IMPL_H
#define KV_EXTERNAL_IMPL_H

#include "io/ncvar.h"
#include "solvers/external/external.h"

/* What one successful run of the simulator gave. */
typedef struct {
  double resp[KV_EXT_MAX_RESPONSES];
  kv_nc_var var[KV_EXT_MAX_FIELDS];
  double wall; /* seconds the simulator ran (the last attempt) */
  int attempts;
} kv_ext_outcome;

/* Run the simulator for p (with its retries) and read its results into *o (the caller frees the
 * fields with kv_ext_outcome_free). Rank 0 of the run only. Returns KV_ERR_INTERRUPTED when a
 * signal stopped it, KV_ERR_NUMERIC with the reason (exit status and the tail of its standard
 * error, the timeout, the bad results) when every attempt failed. */
int kv_ext_evaluate(const kv_external_params *p, kv_ext_outcome *o);

/* Free the fields of an outcome (the struct is the caller's); NULL is a no-op. */
void kv_ext_outcome_free(kv_ext_outcome *o);

#endif
