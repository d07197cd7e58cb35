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
  long step0;        /* index of the current step: 0, or where a restart resumed */
  double t0;         /* current time, step0 x dt                             */
  double dt;         /* time step actually used                              */
  long nsteps;       /* index of the last step (t = nsteps dt is the end time) */
  double cfl;        /* dt / stability limit (0 when unconditionally stable) */
  const char *title; /* root "title" attribute                              */
  const char *coord_units;
  const char *time_units;
  const kv_h5_axis *axes; /* named coordinate axes (x first), or NULL for x, y, z          */
  const char *calendar;   /* CF calendar of time, or NULL                               */
  long record_every;      /* > 0: records every this many steps, whatever run.output_every */
  int skip_initial;       /* 1: no record of the initial state (e.g. records are means)   */
  double theta;           /* ROMs: the time scheme integrates du/dt = F(u) as
                             u1 - u0 = dt (theta F(u1) + (1 - theta) F(u0))                 */
  int linear_implicit;    /* ROMs: instead, the step is u1 = G (u0 + dt N_k(u0)) with G a
                             linear solve whose inverse is local (see the hooks)             */
  int record_means;       /* records are means over the steps since the previous record    */
  int linear;             /* ROMs: F is affine in u, F(u) = A u + F(0), and the model has the
                             linear_part hook: a ROM projects it exactly, no DEIM            */
  const char *summary;    /* what the log says of the run instead of its grid and steps (a
                             model whose steps replay records), or NULL                   */
} kv_model_info;

/* Most cells a stencil of the ROM hooks may have (a 3 x 3 block in 2D). */
#define KV_STENCIL_MAX 9

typedef struct kv_model_type {
  const char *name;          /* "heat", ...                                   */
  const char *seed_key;      /* key of the random seed ("ebm.noise_seed"), or NULL:
                                what an ensemble varies                          */
  const char *scenario_key;  /* key of the forcing scenario, or NULL             */
  const char *state_var;     /* the output variable of the prognostic state (or of
                                its record means), or NULL                       */
  const kv_config_key *keys; /* the keys of its config section                */
  const char *size_keys;     /* the keys that set its size, for messages ("heat.n") */
  const char *ranks_key;     /* the key of the ranks one run takes (a sweep's default
                                ranks_per_case), or NULL                         */
  const char *wraps_key;     /* a model built on another (the ROM): the key naming
                                it, whose section is then allowed too; else NULL */
  /* Create from a validated config on comm (collective; the model duplicates what it keeps). */
  int (*create)(MPI_Comm comm, const kv_config *cfg, kv_model **out);
  /* Optional. Everything create refuses that needs no allocation (parameters, required keys,
   * the number of steps), so that a sweep refuses a bad case before any case runs. Not
   * collective; errors name file, line and key. */
  int (*check)(const kv_config *cfg);
  /* Optional (NULL: create). The same model for its ROM hooks only (residual, linear_part,
   * stencil, ...), never stepped: it may skip what only stepping needs (linear solvers, plans).
   * Collective. */
  int (*create_hooks)(MPI_Comm comm, const kv_config *cfg, kv_model **out);
  /* Optional (NULL: nothing to do). Set up what stepping needs and creation deferred (solver
   * plans), so that the driver's step timing excludes it; a model steps correctly without it
   * (it prepares on its first step), and one created only to be lifted into never pays it.
   * Collective. */
  int (*prepare)(kv_model *m);
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
  /* Intrusive ROM hooks (NULL: the model cannot be reduced). The model's semi-discrete system
   * is du/dt = F_k(u), integrated by the theta scheme of kv_model_info.theta, F_k holding the
   * forcing of step k (from step x dt to (step + 1) x dt) fixed over the step. A model with
   * kv_model_info.linear_implicit steps as u1 = G (u0 + dt N_k(u0)) instead: the hooks' F is
   * then its explicit part N, `solve` applies G and `implicit_at` its (local) inverse.
   * residual: f = F_k(u) on the whole grid (fields of the model's grid). Collective.
   * stencil: the global cells (row-major, x fastest) F at `cell` depends on, the cell first, -1
   *   where a neighbour lies beyond a boundary; returns the count (<= KV_STENCIL_MAX). Not
   *   collective.
   * residual_at: F_k at n cells from the values of u on their stencils (u[i * KV_STENCIL_MAX + s]
   *   for stencil entry s of cell i; entries of -1 neighbours are ignored), the same on every
   *   rank. Its cost is independent of the grid size. Collective.
   * set_state: replace the prognostic state by u (a field of the model's grid) and the step
   *   index by step (the time is step x dt); a model whose records are means takes u as the
   *   mean of the record period too. Collective.
   * solve (linear_implicit only): out = G rhs. Collective.
   * implicit_at (linear_implicit only): (G^-1 u) at n cells from the values of u on their
   *   stencils, as residual_at. Collective. */
  int (*residual)(kv_model *m, long step, const kv_field *u, kv_field *f);
  int (*stencil)(const kv_model *m, long cell, long *nbr);
  int (*residual_at)(kv_model *m, long step, const long *cells, int n, const double *u, double *f);
  int (*set_state)(kv_model *m, const kv_field *u, long step);
  int (*solve)(kv_model *m, const kv_field *rhs, kv_field *out);
  int (*implicit_at)(kv_model *m, const long *cells, int n, const double *u, double *f);
  /* Optional, with kv_model_info.linear. out = A u, the linear part of F(u) = A u + F(0) at this
   * run's parameters (a field of the model's grid; ghosts of out not set). Collective. */
  int (*linear_part)(kv_model *m, const kv_field *u, kv_field *out);
  /* Optional, models with scenario forcing: the global-mean radiative forcing (W m-2) of years
   * year0 .. year0 + n - 1 under scenario (NULL: the configuration's), split into its CO2 part
   * (co2) and aerosol part (aer), either may be NULL. What emulators use as their input, computed
   * from a validated configuration of this model. Not collective. */
  int (*global_forcing)(const kv_config *cfg, const char *scenario, int year0, int n, double *total,
                        double *co2, double *aer);
  /* Optional (NULL: none). The scalar responses of a run of this configuration, comma-separated
   * into buf: each a QoI of the run's output (a series' final value, or VAR_max/_min/_mean of a
   * field at the final record; kv_dataset_case_qoi) that sweeps record as manifest columns. Not
   * collective. */
  int (*responses)(const kv_config *cfg, char *buf, size_t n);
  void (*free)(kv_model *m);
} kv_model_type;

/* Every implementation's instance starts with this header. */
struct kv_model {
  const kv_model_type *type;
};

/* The name of the model a configuration without run.model runs. */
extern const char kv_model_default_name[];

/* The run.model choices ("a|b|c": every registered model) and the rom.model choices (the models
 * with reduced-order hooks), for the key tables; tests/unit/test_registry checks them against the
 * registry. */
extern const char kv_model_choices[];
extern const char kv_model_reducible_choices[];

/* The [run] keys: the output, the time span and step every model reads. */
extern const kv_config_key kv_model_run_keys[];

/* The model type called name ("heat"), or NULL. */
const kv_model_type *kv_model_type_find(const char *name);

/* The i-th registered model type (0, 1, ...), NULL past the last. */
const kv_model_type *kv_model_type_at(int i);

/* The model type a configuration runs (run.model, else the default). An unknown name is a
 * configuration error naming run.model. */
int kv_model_type_of(const kv_config *cfg, const kv_model_type **out);

/* Validate cfg against the [run] keys and its model's (and a wrapped model's) keys, recording
 * defaults. Not collective (every rank holds the same text and reaches the same verdict). */
int kv_model_config_validate(kv_config *cfg);

/* The checkpoint file name of an output path: "<stem>.checkpoint.h5". */
void kv_model_checkpoint_path(const char *output, char *buf, size_t n);

/* The key tables of a configuration for model type t: t's keys and, for a wrapping model, the
 * wrapped model's (named by t->wraps_key in cfg, else its default). tables gets up to 2 entries
 * and a NULL; returns KV_OK or a config error naming the key. */
int kv_model_key_tables(const kv_model_type *t, const kv_config *cfg, const kv_config_key **tables);

/* "heat|..." — the names of all model types, for messages. */
const char *kv_model_names(void);

/* Convenience wrappers over the function table. */
int kv_model_create(const kv_model_type *type, MPI_Comm comm, const kv_config *cfg, kv_model **out);
int kv_model_prepare(kv_model *m); /* the prepare op, or nothing without one */
int kv_model_step(kv_model *m, double *t);
int kv_model_outputs(kv_model *m, kv_output_list *out);
int kv_model_checkpoint(kv_model *m, kv_output_list *out);
int kv_model_info_get(const kv_model *m, kv_model_info *out);
int kv_model_restart(kv_model *m, const char *path);
/* Free; NULL is a no-op. Collective. */
void kv_model_free(kv_model *m);

#endif
