/* kelvin — `kelvin validate`: how wrong is the surrogate, asked of the full solver.
 *
 * Held-out cases are built from the configuration and the kind of data the surrogate learns
 * (kv_surrogate_type.data): new LHS points over the sweep's ranges for scalar and field kinds,
 * held-out scenarios x new members for scenario kinds, a grid or LHS points run by the full
 * solver and by the ROM for a ROM basis. They run through the sweep machinery (MPI task farm,
 * resumable; in <validate.dir>/holdout), are predicted by the fitted surrogate, and scored
 * (surrogates/metrics). Results: validation.h5 (truth, prediction, std, inputs, metrics),
 * validation.md (table, speed-up, PNG maps of truth, prediction and error).
 */
#ifndef KV_VALIDATE_H
#define KV_VALIDATE_H

#include <mpi.h>

#include "io/config.h"

extern const kv_config_key kv_validate_keys[];

enum {
  KV_M_RMSE,
  KV_M_MAE,
  KV_M_MAX_ABS,
  KV_M_REL_L2,
  KV_M_R2,
  KV_M_NRMSE_SPATIAL,
  KV_M_NRMSE_GLOBAL,
  KV_M_NRMSE_TOTAL,
  KV_M_COVERAGE95,
  KV_M_MSLL,
  KV_M_SPEEDUP,
  KV_M_COUNT
};

/* Metric names as in validation.h5 and validate.tolerance.<name>. */
extern const char *const kv_metric_names[KV_M_COUNT];

typedef struct {
  double value[KV_M_COUNT];
  int have[KV_M_COUNT];   /* the metric applies to this surrogate                  */
  int failed[KV_M_COUNT]; /* over its tolerance (r2, coverage95: under)            */
  int has_tol[KV_M_COUNT];
  double tol[KV_M_COUNT];
  int nfailed;
  long ncases;
  char dir[4096]; /* where validation.h5 / .md went                         */
} kv_validation;

/* What [validate] asks for (plain, caller-owned). */
typedef struct {
  long samples;         /* validate.samples (0: not given)                           */
  unsigned long seed;   /* validate.seed                                             */
  char scenarios[1024]; /* validate.scenarios                                         */
  long members;         /* validate.members                                          */
  int nstudy;           /* validate.members_study                                     */
  long study[64];
  char vary[2048];           /* validate.vary ("": LHS points)                             */
  double rom_tolerance;      /* validate.rom_tolerance                                     */
  int rom_adaptive;          /* validate.rom_adaptive                                      */
  char dir[4096];            /* validate.dir ("": the sweep directory)                     */
  int year_first, year_last; /* validate.years                                             */
  char files[4096];          /* validate.files: held-out field files (surrogate.data = files) */
  char inputs_table[4096];   /* validate.inputs_table: their inputs                          */
  char set_dir[4096];        /* scenario kinds on files: the set's directory (surrogate.files) */
  int has_tol[KV_M_COUNT];   /* validate.tolerance.<metric>                                */
  double tol[KV_M_COUNT];
} kv_validate_params;

/* Fill p from a validated configuration; errors name the file, line and key. Not collective. */
int kv_validate_params_from_config(const kv_config *cfg, kv_validate_params *p);

/* Run the validation of cfg's surrogate. Collective over comm (the held-out solves use every
 * rank; scoring runs on rank 0). KV_OK with out->nfailed > 0 when a tolerance is exceeded. */
int kv_validate(MPI_Comm comm, const kv_config *cfg, kv_validation *out);

/* Print the metrics table (markdown) to a stream. */
void kv_validation_print(const kv_validation *v, void *stream);

#endif
