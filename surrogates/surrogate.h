/* kelvin — the surrogate interface: every kind of surrogate (gp, pcagp, pattern, pod, ...) is a
 * function table over an opaque handle, as kv_model_type is for solvers (DESIGN.md section 3), so
 * that fitting, prediction, model files, validation and everything built on them are written once
 * against the table, never per kind. A kind is one file behind kv_surrogate_type plus one line in
 * surrogates/registry.c.
 *
 * Model file (HDF5, written atomically): root attributes title ("kelvin surrogate model"),
 * kelvin_version, kind, inputs (comma-separated), output, config (the configuration that fitted
 * it), then whatever the kind saves (see each kind's file).
 */
#ifndef KV_SURROGATE_H
#define KV_SURROGATE_H

#include <mpi.h>
#include <stdio.h>

#include "io/config.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "io/layout.h"

typedef struct kv_surrogate kv_surrogate;

/* One kind of surrogate. Operations marked optional may be NULL. */
typedef struct kv_surrogate_type {
  const char *name;             /* surrogate.kind and the model file's kind             */
  const char *summary;          /* one line: what it is (help texts, key docs)           */
  int data;                     /* the kv_data_kind it trains on                         */
  const kv_config_key *keys[3]; /* its own [surrogate] keys (tables, NULL after the last),
                                   beyond kv_surrogate_keys and kv_dataset_keys          */
  /* Optional: read its keys from a validated configuration into a params object of its own
   * (malloc'd; freed by params_free, or by free() when that is NULL). NULL: the kind has no
   * parameters. Not collective. */
  int (*params_create)(const kv_config *cfg, void **params);
  void (*params_free)(void *params);
  /* Fit on ds (of kind `data`); *out is a new surrogate with the kind's header filled
   * (kv_surrogate_header_init). Not collective (one process; BLAS threads do the rest). */
  int (*fit)(const kv_dataset *ds, const void *params, kv_surrogate **out);
  /* Optional: predict n points X (n x ninputs, row-major; scenario kinds: n years x
   * KV_SCENARIO_COLS): mean and var (var may be NULL), each n x noutputs. Variances are those
   * of an observation where the kind models noise. NULL: the kind does not predict from
   * inputs (pod: a basis for run.model = rom). No allocation visible to the caller. */
  int (*predict)(const kv_surrogate *s, const double *X, long n, double *mean, double *var);
  /* Write the kind's part of a model file / read it back (the common root attributes are done
   * by kv_surrogate_save/load; header inputs/output/config are set after load returns). */
  int (*save)(const kv_surrogate *s, kv_h5_store *h);
  int (*load)(kv_h5_store *h, const char *path, kv_surrogate **out);
  /* What was fitted, for people (kelvin fit prints it). */
  int (*describe)(const kv_surrogate *s, FILE *f);
  void (*free)(kv_surrogate *s);
  /* Optional: outputs per point (NULL: 1; field kinds: the field's points). */
  long (*noutputs)(const kv_surrogate *s);
  /* Optional: the layout of the predicted field (field and scenario kinds). */
  const kv_field_layout *(*layout)(const kv_surrogate *s);
  /* Optional: the field predictions are anomalies from this state (noutputs values). */
  const double *(*reference)(const kv_surrogate *s);
  /* Optional: the training outputs (scalar kinds), for scores against the data's own spread. */
  int (*training_y)(const kv_surrogate *s, const double **y, long *n);
  /* Optional: the leave-one-out predictions of the n training points in closed form (scalar
   * kinds: mean and the variance of an observation, n each; var may be NULL), with the
   * hyperparameters of the fit held fixed. */
  int (*loo)(const kv_surrogate *s, double *mean, double *var);
  /* Optional: the central interval of probability level (0.95) of an observation at n points
   * (n x noutputs each), where it is not mean -+ z sd (an output transform). */
  int (*interval)(const kv_surrogate *s, const double *X, long n, double level, double *lo,
                  double *hi);
  /* Optional: a collective fit that shares its work over comm's ranks (candidates, folds,
   * modes) and gives every rank the same surrogate as a fit on one rank would. */
  int (*fit_parallel)(MPI_Comm comm, const kv_dataset *ds, const void *params, kv_surrogate **out);
  /* Optional: warm starts for refits on subsets of the same data (cross-validation folds): a
   * few numbers of the fitted s (at most KV_WARM_MAX into state, *n of them; GP: its
   * hyperparameters, rbf: its kernel), and the parameters of such refits made from params and
   * them (malloc'd like params_create's; freed by params_free). Not collective. */
  int (*warm_state)(const kv_surrogate *s, double *state, int *n);
  int (*warm_params)(const void *params, const double *state, int n, void **out);
  /* Optional: first-order and total Sobol indices (ninputs each) in closed form, for inputs
   * independent and uniform over the training box (poly: from its Legendre coefficients). */
  int (*sobol)(const kv_surrogate *s, double *S1, double *ST);
  /* Optional: ndraws joint draws of the (latent) posterior at the m points X of a scalar kind,
   * from the caller's standard normals z (ndraws x m): out, ndraws x m. */
  int (*draw)(const kv_surrogate *s, long m, const double *X, int ndraws, const double *z,
              double *out);
  /* Optional: the posterior mean (m) and covariance (m x m, column-major) of the latent
   * function of a scalar kind at m points (in the kind's modelling units: after its output
   * transform). */
  int (*covariance)(const kv_surrogate *s, long m, const double *X, double *mean, double *C);
  /* 1: the kind selects among the others (auto): its keys are theirs too. */
  int selects;
} kv_surrogate_type;

#define KV_WARM_MAX 72

/* Cross-validation scores of a fitted surrogate (surrogates/cv.h computes them). */
typedef struct {
  char method[16]; /* "loo", "kfold"                                                 */
  int folds;       /* k (LOO: n)                                                     */
  long n;          /* points scored                                                   */
  double mae, rmse, q2, max_abs, coverage95;
} kv_cv_scores;

/* ------------------------------------------------------------------ registry (registry.c) */

/* The surrogate.kind choices ("gp|pcagp|..."), for the key table; tests check them against the
 * registry. */
extern const char kv_surrogate_choices[];

/* The kind called name, or NULL; the i-th registered kind (NULL past the last). */
const kv_surrogate_type *kv_surrogate_type_find(const char *name);
const kv_surrogate_type *kv_surrogate_type_at(int i);

/* ------------------------------------------------------------------ keys */

/* The [surrogate] keys every kind shares: kind, model. */
extern const kv_config_key kv_surrogate_keys[];

/* The kind surrogate.kind names in cfg (an unknown or missing kind is a configuration error
 * naming the key and the choices). Not collective. */
int kv_surrogate_type_of(const kv_config *cfg, const kv_surrogate_type **out);

/* The key tables of a configuration's [surrogate]: the common keys, the data keys, those of
 * cross-validation and those of its kind (cfg's surrogate.kind; a selecting kind: and of the kinds
 * it selects from). tables gets up to KV_SURROGATE_MAX_TABLES entries and a NULL. Not
 * collective. */
#define KV_SURROGATE_MAX_TABLES 15
int kv_surrogate_key_tables(const kv_config *cfg, const kv_config_key **tables);

/* A key of another kind in cfg's [surrogate] (say surrogate.energy with kind = gp) is a
 * configuration error naming the key, its line, this kind and the kinds the key belongs to. Not
 * collective. */
int kv_surrogate_check_kind_keys(const kv_config *cfg);

/* ------------------------------------------------------------------ fit, files */

/* The kind's parameters from a validated configuration (*params NULL for a kind without). */
int kv_surrogate_params_create(const kv_surrogate_type *t, const kv_config *cfg, void **params);
void kv_surrogate_params_free(const kv_surrogate_type *t, void *params);

/* Fit a surrogate of kind t on ds; config (may be NULL) is the configuration text stored with
 * it. *out owned by the caller. Not collective. */
int kv_surrogate_fit(const kv_surrogate_type *t, const kv_dataset *ds, const void *params,
                     const char *config, kv_surrogate **out);

/* The same, collective over comm: kinds with fit_parallel share the work over the ranks, others
 * fit on every rank alike. Every rank gets the same surrogate. */
int kv_surrogate_fit_comm(MPI_Comm comm, const kv_surrogate_type *t, const kv_dataset *ds,
                          const void *params, const char *config, kv_surrogate **out);

/* Save to path (atomically) / load (the kind from the file's kind attribute). A file that is not
 * a kelvin surrogate model, or of an unknown kind, is KV_ERR_FORMAT naming it. Not collective. */
int kv_surrogate_save(const kv_surrogate *s, const char *path);
int kv_surrogate_load(const char *path, kv_surrogate **out);

/* Free; NULL is a no-op. */
void kv_surrogate_free(kv_surrogate *s);

/* A surrogate as one part (group grp, e.g. "/expert_0") of another's model file, and back: for
 * kinds made of others (moe). The part holds the kind, inputs and output as attributes of grp.
 * Not collective. */
int kv_surrogate_save_part(const kv_surrogate *s, kv_h5_store *h, const char *grp);
int kv_surrogate_load_part(kv_h5_store *h, const char *path, const char *grp, kv_surrogate **out);

/* ------------------------------------------------------------------ use */

/* Predict m points (m x ninputs, row-major): mean and var (may be NULL), each m x noutputs.
 * KV_ERR_UNSUPPORTED for a kind without predict. Not collective. */
int kv_surrogate_predict(const kv_surrogate *s, long m, const double *X, double *mean, double *var);

/* Print what was fitted (kind-specific). */
int kv_surrogate_describe(const kv_surrogate *s, FILE *f);

/* Accessors (borrowed, valid until free). */
const kv_surrogate_type *kv_surrogate_type_get(const kv_surrogate *s);
const char *kv_surrogate_kind(const kv_surrogate *s);
int kv_surrogate_ninputs(const kv_surrogate *s);
const char *kv_surrogate_input(const kv_surrogate *s, int i);
/* The index of input name, or -1. */
int kv_surrogate_input_index(const kv_surrogate *s, const char *name);
const char *kv_surrogate_output(const kv_surrogate *s);
const char *kv_surrogate_config(const kv_surrogate *s);
long kv_surrogate_noutputs(const kv_surrogate *s);
/* NULL unless the kind predicts fields / anomalies / has training outputs. */
const kv_field_layout *kv_surrogate_layout(const kv_surrogate *s);
const double *kv_surrogate_reference(const kv_surrogate *s);
int kv_surrogate_training_y(const kv_surrogate *s, const double **y, long *n);

/* Cross-validation scores kept with the model (NULL when none were computed), and set them
 * (copied). The leaderboard of a selection (auto): text, NULL when none; set copies it. */
const kv_cv_scores *kv_surrogate_cv(const kv_surrogate *s);
void kv_surrogate_set_cv(kv_surrogate *s, const kv_cv_scores *cv);
const char *kv_surrogate_leaderboard(const kv_surrogate *s);
int kv_surrogate_set_leaderboard(kv_surrogate *s, const char *text);

/* The central interval of level (e.g. 0.95) of an observation at m points (m x noutputs each):
 * the kind's own where it has one (transformed outputs), else mean -+ z sd. Not collective. */
int kv_surrogate_interval(const kv_surrogate *s, long m, const double *X, double level, double *lo,
                          double *hi);

/* How many of the m points X (m x ninputs) lie outside the training box (each input's range in
 * the training data); flags (m, may be NULL) gets 1 for those. 0 for models without a box
 * (files of older versions, kinds without inputs). Not collective. */
int kv_surrogate_outside(const kv_surrogate *s, long m, const double *X, char *flags);

/* The kind's closed-form Sobol indices over the training box (ninputs each);
 * KV_ERR_UNSUPPORTED for kinds without them. Not collective. */
int kv_surrogate_sobol(const kv_surrogate *s, double *S1, double *ST);

/* The kind's posterior covariance (KV_ERR_UNSUPPORTED without one). Not collective. */
int kv_surrogate_covariance(const kv_surrogate *s, long m, const double *X, double *mean,
                            double *C);

/* Joint posterior draws (the kind's draw; KV_ERR_UNSUPPORTED without one). Not collective. */
int kv_surrogate_draw(const kv_surrogate *s, long m, const double *X, int ndraws, const double *z,
                      double *out);

/* The training box, 2 x ninputs (minima then maxima), or NULL. Borrowed. */
const double *kv_surrogate_box(const kv_surrogate *s);

/* The inputs as "a, b" for messages (at most n bytes). */
void kv_surrogate_input_list(const kv_surrogate *s, char *buf, size_t n);

#endif
