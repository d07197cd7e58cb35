/* kelvin — `kelvin pipeline`: the sweep (resuming what an earlier pipeline finished), the fit and
 * the validation of one configuration. */
#ifndef KV_PIPELINE_H
#define KV_PIPELINE_H

#include <mpi.h>

#include "drivers/validate.h"
#include "io/config.h"

typedef struct {
  long ncases;              /* cases of the training sweep                              */
  char dir[4096];           /* its directory                                            */
  char model[4096];         /* the model file fitted                                    */
  char fitted[16384];       /* rank 0: the leaderboard (auto) and cross-validation line  */
  kv_validation validation; /* the validation's metrics (validation.nfailed > 0: a
                               tolerance is exceeded)                                   */
} kv_pipeline_result;

/* Sweep, fit, validate. Collective over comm (kv_fit: the folds and auto's candidates over the
 * ranks). A failed sweep case is an error. */
int kv_pipeline(MPI_Comm comm, const kv_config *cfg, kv_pipeline_result *res);

#endif
