/* kelvin — the model interface: every solver is a function table over an opaque instance, so
 * the run driver, sweeps and reduced-order models treat them alike (DESIGN.md section 3).
 */
#ifndef KV_MODEL_H
#define KV_MODEL_H

#include <mpi.h>

#include "core/field.h"
#include "core/grid.h"
#include "io/config.h"
#include "io/h5.h"

typedef struct kv_model kv_model;

/* What the driver needs to know about a created model. Borrowed pointers live as long as the
 * model. */
typedef struct {
  const kv_grid *grid;
  long step0;            /* index of the current step: 0, or where a restart resumed */
  double t0;             /* current time, step0 x dt                             */
  double dt;             /* time step actually used                              */
  long nsteps;           /* index of the last step (t = nsteps dt is the end time) */
  double cfl;            /* dt / stability limit (0 when unconditionally stable) */
  const char *title;     /* root "title" attribute                              */
  const char *coord_units;
  const char *time_units;
  const kv_h5_axis *axes;  /* named coordinate axes (x first), or NULL for x, y, z          */
  const char *calendar;    /* CF calendar of time, or NULL                               */
  long record_every;       /* > 0: records every this many steps, whatever run.output_every */
  int skip_initial;        /* 1: no record of the initial state (e.g. records are means)   */
} kv_model_info;

typedef struct kv_model_type {
  const char *name;                    /* "heat", ...                                   */
  const char *seed_key;                /* key of the random seed ("ebm.noise_seed"), or NULL:
                                          what an ensemble varies                          */
  const char *scenario_key;            /* key of the forcing scenario, or NULL             */
  const kv_config_key *keys;           /* the keys of its config section                */
  /* Create from a validated config on comm (collective; the model duplicates what it keeps). */
  int (*create)(MPI_Comm comm, const kv_config *cfg, kv_model **out);
  /* Advance one step; *t receives the new time. Collective. Returns KV_ERR_NUMERIC when the
   * state became non-finite (agreed across ranks). */
  int (*step)(kv_model *m, double *t);
  /* The prognostic state (borrowed, distributed, valid until the next step or free). */
  int (*state)(const kv_model *m, const kv_field **out);
  /* What goes to the output file at an output step. Collective (may reduce). */
  int (*outputs)(kv_model *m, kv_output_list *out);
  /* Driver information. Not collective. */
  int (*info)(const kv_model *m, kv_model_info *out);
  /* Continue from the last record of an output or checkpoint file of the same model: state and
   * time; the time must lie on this run's time grid. Collective. NULL: restart unsupported. */
  int (*restart)(kv_model *m, const char *path);
  /* What a checkpoint holds, when it is not what outputs() gives (e.g. the instantaneous state
   * and accumulators of a model that outputs means). NULL: outputs(). Collective. */
  int (*checkpoint)(kv_model *m, kv_output_list *out);
  /* Intrusive ROM hooks; NULL until a model provides them. */
  int (*residual)(kv_model *m, const double *u_new, const double *u_old, double *r);
  int (*residual_at)(kv_model *m, const long *idx, int n, const double *u_new,
                     const double *u_old, double *r);
  void (*free)(kv_model *m);
} kv_model_type;

/* Every implementation's instance starts with this header. */
struct kv_model {
  const kv_model_type *type;
};

/* The model type called name ("heat"), or NULL. */
const kv_model_type *kv_model_type_find(const char *name);

/* "heat|..." — the names of all model types, for messages and the run.model enum. */
const char *kv_model_names(void);

/* Convenience wrappers over the function table. */
int kv_model_create(const kv_model_type *type, MPI_Comm comm, const kv_config *cfg,
                    kv_model **out);
int kv_model_step(kv_model *m, double *t);
int kv_model_outputs(kv_model *m, kv_output_list *out);
int kv_model_checkpoint(kv_model *m, kv_output_list *out);
int kv_model_info_get(const kv_model *m, kv_model_info *out);
int kv_model_restart(kv_model *m, const char *path);
/* Free; NULL is a no-op. Collective. */
void kv_model_free(kv_model *m);

#endif
